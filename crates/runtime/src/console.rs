//! Console input that never holds up a shutdown, with a prompt when a person is typing.
//!
//! Stdin is read on a plain thread of its own, not on tokio's blocking pool: a blocking read
//! there keeps the runtime from shutting down, so a peer that was told to stop (Ctrl-C,
//! SIGTERM, `quit`) would wait for the next Enter. A detached thread ends with the process
//! instead.
//!
//! When stdin and stdout are both a terminal, the thread shows a prompt with line editing and
//! history (rustyline), and every line printed meanwhile goes above it ([`crate::terminal`]).
//! After a line it waits until the caller has handled it ([`Handled::done`]) before
//! showing the prompt again, so the answer comes before the next prompt and a `quit` never
//! finds the terminal in raw mode. Ctrl-C at the prompt is a key, not a signal, in raw mode: it
//! is handed to [`crate::signals::interrupt`], which does what SIGINT does; Ctrl-D on an empty
//! line ends the input. Otherwise (a pipe, /dev/null, a file) lines are read plainly.

use crate::terminal;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use tokio::sync::mpsc;

/// Lines that may wait for the shell before the reading thread waits too.
const QUEUE: usize = 64;

/// Entries kept in the prompt's history (and its file).
const HISTORY_LEN: usize = 1000;

/// How the console reads.
#[derive(Debug, Clone, Default)]
pub struct ConsoleOptions {
    /// The prompt shown at a terminal, e.g. `"peer> "`.
    pub prompt: String,
    /// Where the prompt's history is kept between runs; in memory only when `None`.
    pub history: Option<PathBuf>,
}

/// Console lines from stdin, and what the end of input means.
#[derive(Debug)]
pub struct StdinLines {
    /// Each line as typed, without its line ending (invalid UTF-8 replaced). The channel closes
    /// at the end of input.
    pub lines: mpsc::Receiver<String>,
    /// Stdin is a terminal: its end (Ctrl-D) means "quit". The end of a pipe or of /dev/null
    /// only ends the console, so a script can start a peer and leave it running.
    pub terminal: bool,
    /// Tell it when a line has been handled, so the prompt comes back.
    pub handled: Handled,
}

/// Tells the prompt that the last line has been handled (its answer printed), so it comes
/// back. Not telling it after `quit` keeps the prompt away while the process stops. Does
/// nothing without a prompt (the default).
#[derive(Debug, Clone, Default)]
pub struct Handled(Option<std::sync::mpsc::SyncSender<()>>);

impl Handled {
    /// The last line has been handled: show the prompt again.
    pub fn done(&self) {
        if let Some(tx) = &self.0 {
            let _ = tx.try_send(());
        }
    }

    /// True when a person types at a prompt with line editing.
    pub fn has_prompt(&self) -> bool {
        self.0.is_some()
    }
}

/// Starts reading stdin line by line on a detached thread: with a prompt when stdin and stdout
/// are a terminal, plainly otherwise.
pub fn stdin_lines(options: ConsoleOptions) -> StdinLines {
    let terminal = std::io::stdin().is_terminal();
    let (tx, lines) = mpsc::channel(QUEUE);
    let (handled_tx, handled_rx) = std::sync::mpsc::sync_channel(1);
    let prompt = terminal && std::io::stdout().is_terminal();
    let reader = std::thread::Builder::new()
        .name("console".into())
        .spawn(move || {
            if prompt {
                read_with_prompt(&options, &tx, &handled_rx);
            } else {
                read_plain(&tx);
            }
        });
    if let Err(e) = reader {
        // Without the thread the channel is already closed: the console has ended.
        tracing::warn!("cannot read the console: {e}");
    }
    StdinLines {
        lines,
        terminal,
        handled: Handled(prompt.then_some(handled_tx)),
    }
}

fn read_plain(tx: &mpsc::Sender<String>) {
    let mut stdin = std::io::stdin().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        match stdin.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']).to_owned();
        if tx.blocking_send(text).is_err() {
            break;
        }
    }
}

fn read_with_prompt(
    options: &ConsoleOptions,
    tx: &mpsc::Sender<String>,
    handled: &std::sync::mpsc::Receiver<()>,
) {
    use rustyline::error::ReadlineError;
    use rustyline::{Config, DefaultEditor, ExternalPrinter as _};
    let config = Config::builder()
        .auto_add_history(true)
        .max_history_size(HISTORY_LEN)
        .and_then(|b| b.history_ignore_dups(true))
        .map(|b| b.build())
        .unwrap_or_default();
    let mut editor = match DefaultEditor::with_config(config) {
        Ok(editor) => editor,
        Err(e) => {
            tracing::warn!("no line editing ({e}); reading the console plainly");
            return read_plain(tx);
        }
    };
    if let Some(path) = &options.history {
        // A first run has no history yet.
        let _ = editor.load_history(path);
    }
    terminal::save();
    if let Ok(mut printer) = editor.create_external_printer() {
        terminal::set_printer(Some(Box::new(move |text| printer.print(text).is_ok())));
    }
    loop {
        match editor.readline(&options.prompt) {
            Ok(line) => {
                if let Some(path) = &options.history {
                    if let Err(e) = editor.append_history(path) {
                        tracing::debug!("cannot save the console history: {e}");
                    }
                }
                if tx.blocking_send(line).is_err() || handled.recv().is_err() {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => {
                // Shut down as SIGINT does, and only that way: closing the channel here would
                // also read as the end of input and race the signal's shutdown. The thread
                // waits for the process to end, holding the channel open.
                terminal::set_printer(None);
                crate::signals::interrupt();
                loop {
                    std::thread::park();
                }
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                tracing::warn!("the console cannot read the terminal: {e}");
                break;
            }
        }
    }
    // Raw mode is off between prompts: output may go straight to the terminal again.
    terminal::set_printer(None);
}
