//! What votechain's tokio shells and binaries share, written once: the `tracker` and `peer`
//! shells, and the `tracker`, `peer`, `election` and `bench` binaries, start, log, stop and exit
//! the same way.
//!
//! - [`exit`]: the one exit-code policy (0 success, 1 runtime error, 2 usage error) and the
//!   `--help` footer that documents it.
//! - [`logging`]: the log subscriber: everything into a rotating log file ([`logfile`]), only
//!   warnings and lines meant for people on the terminal; `-v`, `-q`, `--log-format`.
//! - [`terminal`]: output above the console's prompt, and the terminal restored on every exit.
//! - [`signals`]: one shutdown token for Ctrl-C and SIGTERM, installed before a readiness line;
//!   a second signal exits at once.
//! - [`console`]: stdin lines read on a thread of their own, so they never delay a shutdown;
//!   a prompt with line editing and history when a person types at a terminal.
//! - [`net`]: binding a UDP socket with enlarged kernel buffers, and reading datagrams in bursts.
//! - [`http`]: serving an axum router with limits on connections, header size and time, so no
//!   HTTP client can hold a server's resources for long.
//! - [`mod@listen`]: signals, then the socket: what a server does before its readiness line.
//!
//! Architecture invariant: nothing here knows about votechain's protocol or cores; this crate is
//! plumbing between tokio, the operating system and a `main`.

pub mod console;
pub mod exit;
pub mod http;
pub mod listen;
pub mod logfile;
pub mod logging;
pub mod net;
pub mod signals;
pub mod terminal;

pub use console::{stdin_lines, ConsoleOptions, Handled, StdinLines};
pub use exit::{exit_code, Exit, Failure, AFTER_HELP, EXIT_STATUS_HELP};
pub use http::HttpLimits;
pub use listen::{listen, ListenError, Listening};
pub use logfile::LogFile;
pub use logging::{init_logging, LogArgs, LogFormat, USER};
pub use net::{bind_udp, enlarge_buffers, BindError, BurstReader};
pub use signals::{interrupt, shutdown_on_signals, FORCED_EXIT, REPEAT_WINDOW};
pub use terminal::print_answer;

/// Which tokio runtime a binary runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// One thread: the tracker, whose work is one loop.
    CurrentThread,
    /// A worker per core: peers, whose console, shell and timers run side by side.
    MultiThread,
}

/// Builds the tokio runtime a binary's `main` runs its future on, with IO and time enabled.
pub fn tokio_runtime(flavor: Flavor) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match flavor {
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        Flavor::MultiThread => tokio::runtime::Builder::new_multi_thread(),
    };
    builder.enable_all().build()
}
