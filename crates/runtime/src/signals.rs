//! Ctrl-C and SIGTERM as one shutdown token. A binary calls [`shutdown_on_signals`] before it
//! prints its readiness line, so a signal sent the moment that line appears is already a clean
//! shutdown, never the default action that kills the process. A second signal, while the clean
//! shutdown is under way, exits at once with [`FORCED_EXIT`], as users expect of a second
//! Ctrl-C. Ctrl-C typed at the console's prompt, which arrives as a key while the terminal is in
//! raw mode, is handed to [`interrupt`] and counts as the same first or second interrupt.

use crate::logging::USER;
use std::io::Write as _;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// Ctrl-C typed at the console's prompt: a permit is stored when no one waits yet.
static CONSOLE_INTERRUPT: Notify = Notify::const_new();

/// Does what SIGINT does: the first starts the clean shutdown, the next exits at once. For
/// Ctrl-C read as a key by the console's prompt.
pub fn interrupt() {
    CONSOLE_INTERRUPT.notify_one();
}

/// A signal this soon after the first is the same stop delivered twice, not a second Ctrl-C:
/// `timeout` (without `--foreground`) signals its child and then the child's whole process
/// group, so one expiry arrives as two SIGTERMs microseconds apart. No one presses Ctrl-C twice
/// this fast on purpose, and pressing it again later still forces the exit.
pub const REPEAT_WINDOW: std::time::Duration = std::time::Duration::from_millis(250);

/// The exit status after a second Ctrl-C or SIGTERM: 128 + SIGINT, as shells report an
/// interrupted program.
pub const FORCED_EXIT: i32 = 130;

/// Ends the process at once: the second signal of a shutdown.
fn exit_now() -> ! {
    crate::terminal::restore();
    // Written, not `eprintln!`ed, which panics when stderr is closed.
    let _ = writeln!(std::io::stderr(), "second interrupt: exiting at once");
    std::process::exit(FORCED_EXIT)
}

/// Installs handlers for Ctrl-C (SIGINT) and SIGTERM now and returns a token cancelled when
/// either arrives; pass `token.cancelled_owned()` as a shell's shutdown future, or child tokens
/// to several shells. The listening task ends on a signal or when the token is cancelled
/// otherwise. Must be called inside a tokio runtime.
pub fn shutdown_on_signals() -> std::io::Result<CancellationToken> {
    let token = CancellationToken::new();
    let cancelled = token.clone();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        // `signal` registers the handler when it returns, not when first polled.
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        tokio::spawn(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = CONSOLE_INTERRUPT.notified() => {}
                _ = terminate.recv() => {
                    let first = tokio::time::Instant::now();
                    crate::terminal::restore();
                    info!(target: USER, "terminated: shutting down");
                    cancelled.cancel();
                    return second(first, interrupt, terminate).await;
                }
                _ = cancelled.cancelled() => return,
            }
            let first = tokio::time::Instant::now();
            crate::terminal::restore();
            info!(target: USER, "interrupted: shutting down (Ctrl-C again to exit at once)");
            cancelled.cancel();
            second(first, interrupt, terminate).await
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = CONSOLE_INTERRUPT.notified() => {}
            _ = cancelled.cancelled() => return,
        }
        crate::terminal::restore();
        info!(target: USER, "interrupted: shutting down (Ctrl-C again to exit at once)");
        cancelled.cancel();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => exit_now(),
            _ = CONSOLE_INTERRUPT.notified() => exit_now(),
        }
    });
    Ok(token)
}

/// Waits for the second signal of a shutdown that began at `first` and exits at once; a repeat
/// within [`REPEAT_WINDOW`] of the first is the same stop delivered twice and is ignored.
#[cfg(unix)]
async fn second(
    first: tokio::time::Instant,
    mut interrupt: tokio::signal::unix::Signal,
    mut terminate: tokio::signal::unix::Signal,
) {
    loop {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = CONSOLE_INTERRUPT.notified() => {}
            _ = terminate.recv() => {}
        }
        if first.elapsed() >= REPEAT_WINDOW {
            exit_now();
        }
        tracing::debug!("a repeat of the stop signal within {REPEAT_WINDOW:?}: ignored");
    }
}
