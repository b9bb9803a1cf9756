//! Ctrl-C and SIGTERM as one shutdown token. A binary calls [`shutdown_on_signals`] before it
//! prints its readiness line, so a signal sent the moment that line appears is already a clean
//! shutdown, never the default action that kills the process.

use tokio_util::sync::CancellationToken;
use tracing::info;

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
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => info!("interrupted: shutting down"),
            _ = cancelled.cancelled() => return,
        }
        cancelled.cancel();
    });
    Ok(token)
}
