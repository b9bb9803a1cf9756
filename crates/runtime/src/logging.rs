//! The log subscriber of every votechain binary, with two destinations:
//!
//! - the **log file** (a peer's `<data-dir>/peer.log`, the election's `<data-dir>/election.log`;
//!   see [`LogFile`]) gets everything at the chosen level: `-v` (debug), `-vv` (trace), else
//!   `RUST_LOG`, else the binary's default (info);
//! - the **terminal** is calm when there is a log file: warnings, errors and the lines meant for
//!   people (logged with `target: USER`, such as "block 12 by peer-6002 · 1 vote · tip 0003a1…"),
//!   nothing else; `-q` leaves only warnings and errors, `-v` shows there what the file gets.
//!   Without a log file (the tracker), the terminal gets everything at the chosen level.
//!
//! Text lines carry the local time; `--log-format json` writes one JSON object per line
//! instead, to both destinations. Stdout stays free for console answers and benchmark tables.

use crate::logfile::LogFile;
use crate::terminal::TerminalLog;
use std::fmt::Write as _;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{ChronoLocal, FormatTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer, Registry};

/// The target of log lines meant for people: they reach the terminal at info level, where
/// everything else at info goes to the log file only. Use it as `info!(target: USER, "…")`.
pub const USER: &str = "votechain::user";

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Sentences with the local time.
    #[default]
    Text,
    /// One JSON object per line, for machines.
    Json,
}

/// The logging flags every binary takes (`#[command(flatten)]`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LogArgs {
    /// More log output: -v debug, -vv trace, in the log file and on the terminal (without -v,
    /// RUST_LOG sets the level of the full log).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only warnings and errors on the terminal (the log file is unchanged).
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// How log lines are written: text, or json (one object per line) for machines.
    #[arg(long, value_enum, default_value_t, value_name = "FORMAT")]
    pub log_format: LogFormat,
}

/// Installs the subscriber: everything at the chosen level into `file` when one is given, and
/// on the terminal what the module documentation says. `default_level` applies without `-v`
/// and `RUST_LOG`. A second call keeps the first subscriber (a benchmark starts several runs).
pub fn init_logging(args: &LogArgs, default_level: &str, file: Option<&LogFile>) {
    let level = |args: &LogArgs| match args.verbose {
        0 => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        1 => EnvFilter::new("debug"),
        _ => EnvFilter::new("trace"),
    };
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = Vec::new();
    if let Some(file) = file {
        layers.push(
            destination(args.log_format, file.clone(), false)
                .with_filter(level(args))
                .boxed(),
        );
    }
    let terminal = destination(args.log_format, TerminalLog, true);
    let terminal = if args.quiet {
        terminal
            .with_filter(filter_fn(|meta| *meta.level() <= Level::WARN))
            .boxed()
    } else if file.is_some() && args.verbose == 0 {
        terminal
            .with_filter(filter_fn(|meta| {
                *meta.level() <= Level::WARN
                    || (meta.target() == USER && *meta.level() <= Level::INFO)
            }))
            .boxed()
    } else {
        terminal.with_filter(level(args)).boxed()
    };
    layers.push(terminal);
    let _ = tracing_subscriber::registry().with(layers).try_init();
}

/// One destination's formatting layer. A log line that cannot be written is dropped: the
/// subscriber's own complaint about it would go to a closed stderr with `eprintln!`, which
/// panics (`peer … 2>&1 | head -2`).
fn destination<W>(
    format: LogFormat,
    writer: W,
    terminal: bool,
) -> Box<dyn Layer<Registry> + Send + Sync>
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false)
        .log_internal_errors(false);
    match (format, terminal) {
        (LogFormat::Json, _) => layer.json().with_timer(ChronoLocal::rfc_3339()).boxed(),
        (LogFormat::Text, true) => layer.event_format(Calm).boxed(),
        (LogFormat::Text, false) => layer.with_timer(ChronoLocal::rfc_3339()).boxed(),
    }
}

/// The terminal's text lines: `HH:MM:SS message (field: value, …)`, with `warning:`,
/// `error:`, `debug:` or `trace:` before the message when it is not at info level.
struct Calm;

impl<S, N> FormatEvent<S, N> for Calm
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        ChronoLocal::new("%H:%M:%S".to_owned()).format_time(&mut writer)?;
        let level = *event.metadata().level();
        let label = match level {
            Level::ERROR => "error: ",
            Level::WARN => "warning: ",
            Level::INFO => "",
            Level::DEBUG => "debug: ",
            Level::TRACE => "trace: ",
        };
        let mut fields = Sentence::default();
        event.record(&mut fields);
        write!(writer, " {label}{}", fields.message)?;
        if !fields.rest.is_empty() {
            write!(writer, " ({})", fields.rest)?;
        }
        writeln!(writer)
    }
}

/// An event's fields as a sentence: the message, then the others as `name: value`.
#[derive(Default)]
struct Sentence {
    message: String,
    rest: String,
}

impl Visit for Sentence {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else if !field.name().starts_with("log.") {
            if !self.rest.is_empty() {
                self.rest.push_str(", ");
            }
            let _ = write!(self.rest, "{}: {value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Collects what a subscriber writes.
    #[derive(Clone, Default)]
    struct Collected(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Collected {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_terminal_reads_sentences_with_local_time() {
        let out = Collected::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .event_format(Calm)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: USER, peer = %"127.0.0.1:5001", blocks = 12, "sync started");
            tracing::warn!(error = %"no route", "cannot send");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        // `HH:MM:SS ` first, then the sentence; strings unquoted, no Debug structs.
        for line in &lines {
            let (time, _) = line.split_once(' ').unwrap();
            assert_eq!(time.len(), 8, "{line}");
            assert_eq!(time.matches(':').count(), 2, "{line}");
        }
        assert!(
            lines[0].ends_with(" sync started (peer: 127.0.0.1:5001, blocks: 12)"),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].ends_with(" warning: cannot send (error: no route)"),
            "{}",
            lines[1]
        );
    }
}
