//! Ctrl-C and SIGTERM as one shutdown token. A binary calls [`shutdown_on_signals`] before it
//! prints its readiness line, so a signal sent the moment that line appears is already a clean
//! shutdown, never the default action that kills the process. A second signal, while the clean
//! shutdown is under way, exits at once with [`FORCED_EXIT`], as users expect of a second
//! Ctrl-C.

use std::io::Write as _;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// The exit status after a second Ctrl-C or SIGTERM: 128 + SIGINT, as shells report an
/// interrupted program.
pub const FORCED_EXIT: i32 = 130;

/// Ends the process at once: the second signal of a shutdown.
fn exit_now() -> ! {
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
                _ = interrupt.recv() => info!("interrupted: shutting down"),
                _ = terminate.recv() => info!("terminated: shutting down"),
                _ = cancelled.cancelled() => return,
            }
            cancelled.cancel();
            tokio::select! {
                _ = interrupt.recv() => exit_now(),
                _ = terminate.recv() => exit_now(),
            }
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => info!("interrupted: shutting down"),
            _ = cancelled.cancelled() => return,
        }
        cancelled.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            exit_now();
        }
    });
    Ok(token)
}
