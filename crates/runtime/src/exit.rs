//! The exit-code policy of every votechain binary, decided in one place: a `main` turns its
//! outcome into a [`Failure`] (or success) and hands it to [`exit_code`], which prints the
//! failure once and picks the status. [`AFTER_HELP`] documents the statuses in `--help`.

use std::fmt::Display;
use std::io::Write as _;
use std::process::ExitCode;

/// The `--help` footer of a command that runs and exits (`votechain-keys`): no log, no signals
/// to handle, just what the exit statuses mean.
pub const EXIT_STATUS_HELP: &str = "Exit status: 0 success, 1 runtime error, 2 usage error.";

/// The `--help` footer every long-running binary shows (clap's `after_help`): how logging is chosen and what
/// the exit statuses mean.
pub const AFTER_HELP: &str =
    "Logging: RUST_LOG (e.g. RUST_LOG=debug) sets the level of the full log \
                              (the log file; the tracker's terminal) when -v is not given.\n\
                              Exit status: 0 success or clean shutdown, 1 runtime error, \
                              2 usage error; a second Ctrl-C during a shutdown exits at once \
                              with 130.";

/// The exit status of a votechain binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: the work is done, or a clean shutdown (Ctrl-C, SIGTERM, `quit`); also `--help`.
    Success = 0,
    /// 1: something failed at run time: a port taken, a file unreadable, a socket error.
    Runtime = 1,
    /// 2: the command line is wrong: clap's own errors, and settings that cannot work.
    Usage = 2,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// Why a binary stops other than by success, which decides its [`Exit`] status. `E` is the
/// binary's error type (binaries use `anyhow::Error`).
#[derive(Debug)]
pub enum Failure<E> {
    /// The command line did not parse, or asked for `--help` or `--version`: clap prints it,
    /// and the status is [`Exit::Usage`] for an error, [`Exit::Success`] for the others.
    Cli(clap::Error),
    /// The command line parsed but cannot work (a one-option ballot, a bad voter roll).
    Usage(E),
    /// Something failed while starting or running.
    Runtime(E),
}

impl<E> From<clap::Error> for Failure<E> {
    fn from(error: clap::Error) -> Failure<E> {
        Failure::Cli(error)
    }
}

impl<E> Failure<E> {
    /// The exit status this failure deserves.
    pub fn exit(&self) -> Exit {
        match self {
            Failure::Cli(e) if !e.use_stderr() => Exit::Success,
            Failure::Cli(_) | Failure::Usage(_) => Exit::Usage,
            Failure::Runtime(_) => Exit::Runtime,
        }
    }
}

/// The one place a binary's exit status is decided: success is 0; a failure is printed once on
/// stderr as `program: error` with its whole context (`{:#}`, which shows an `anyhow` chain),
/// or as clap's own text, and gets the status of [`Failure::exit`]. A closed stderr is not
/// worth another failure.
pub fn exit_code<E: Display>(program: &str, outcome: Result<(), Failure<E>>) -> ExitCode {
    // However `main` got here, the terminal is given back as the prompt found it.
    crate::terminal::restore();
    let Err(failure) = outcome else {
        return Exit::Success.into();
    };
    match &failure {
        Failure::Cli(e) => {
            let _ = e.print();
        }
        Failure::Usage(e) | Failure::Runtime(e) => {
            let _ = writeln!(std::io::stderr(), "{program}: {e:#}");
        }
    }
    failure.exit().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    #[command(name = "demo", version)]
    struct Cli {
        port: u16,
    }

    fn exit_of(args: &[&str]) -> Exit {
        match Cli::try_parse_from(args) {
            Ok(_) => Exit::Success,
            Err(e) => Failure::<String>::from(e).exit(),
        }
    }

    #[test]
    fn clap_errors_are_usage_errors_but_help_and_version_succeed() {
        assert_eq!(exit_of(&["demo", "5000"]), Exit::Success);
        assert_eq!(exit_of(&["demo"]), Exit::Usage);
        assert_eq!(exit_of(&["demo", "70000"]), Exit::Usage);
        assert_eq!(exit_of(&["demo", "--help"]), Exit::Success);
        assert_eq!(exit_of(&["demo", "--version"]), Exit::Success);
    }

    #[test]
    fn failures_map_to_their_statuses() {
        assert_eq!(Failure::Usage("bad ballot").exit(), Exit::Usage);
        assert_eq!(Failure::Runtime("port taken").exit(), Exit::Runtime);
        assert_eq!(Exit::Success as u8, 0);
        assert_eq!(Exit::Runtime as u8, 1);
        assert_eq!(Exit::Usage as u8, 2);
    }
}
