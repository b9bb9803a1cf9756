//! The terminal a person types into, shared by the prompt, the log and the console's answers.
//! While the prompt ([`crate::console`]) is up, every line printed — a log line or an answer —
//! goes through its printer, which writes it above the prompt and redraws what is being typed,
//! so output never cuts into a half-typed command. Without a prompt, answers go to stdout and
//! log lines to stderr as usual.
//!
//! The prompt puts the terminal in raw mode. [`restore`] puts back the settings saved when the
//! prompt started; it is called on every way out — the first signal of a shutdown, a forced
//! exit, and `exit_code` at the end of `main` — so a peer never leaves the shell it ran in
//! without echo or line editing.

use std::io::Write as _;
use std::sync::Mutex;
use tracing_subscriber::fmt::MakeWriter;

/// Prints one message (ending in a newline) above the prompt.
pub(crate) type Printer = Box<dyn FnMut(String) -> bool + Send>;

/// The prompt's printer while the prompt is up.
static PRINTER: Mutex<Option<Printer>> = Mutex::new(None);

/// The terminal's settings from before the prompt changed them.
#[cfg(unix)]
static SAVED: Mutex<Option<nix::sys::termios::Termios>> = Mutex::new(None);

fn printer() -> std::sync::MutexGuard<'static, Option<Printer>> {
    PRINTER.lock().unwrap_or_else(|e| e.into_inner())
}

/// Routes later output through `printer` (`None`: straight to stdout and stderr again).
pub(crate) fn set_printer(new: Option<Printer>) {
    *printer() = new;
}

/// Saves stdin's terminal settings, to be put back by [`restore`].
pub(crate) fn save() {
    #[cfg(unix)]
    if let Ok(settings) = nix::sys::termios::tcgetattr(std::io::stdin()) {
        *SAVED.lock().unwrap_or_else(|e| e.into_inner()) = Some(settings);
    }
}

/// Puts the terminal back as it was before the prompt (echo, line editing, Ctrl-C as a
/// signal) and sends later output straight to stdout and stderr. Does nothing when no prompt
/// was started; safe to call more than once and from any thread.
pub fn restore() {
    set_printer(None);
    #[cfg(unix)]
    if let Some(settings) = SAVED.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        use nix::sys::termios::{tcsetattr, SetArg};
        let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, settings);
    }
}

/// Sends `text` (which ends in a newline) to the prompt's printer; false when there is none.
fn through_printer(text: &str) -> bool {
    match printer().as_mut() {
        Some(print) => print(text.to_owned()),
        None => false,
    }
}

/// Prints one console answer (one or more lines): above the prompt while it is up, on stdout
/// otherwise. A closed stdout is not worth dying of.
pub fn print_answer(text: &str) {
    let text = format!("{text}\n");
    if !through_printer(&text) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

/// The terminal as a log destination: each log line above the prompt while it is up, on
/// stderr otherwise.
#[derive(Debug, Clone, Copy, Default)]
pub struct TerminalLog;

/// One log line on its way to the terminal, written whole when dropped.
#[derive(Debug, Default)]
pub struct TerminalLine {
    line: Vec<u8>,
}

impl std::io::Write for TerminalLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for TerminalLine {
    fn drop(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.line);
        if !through_printer(&text) {
            // Written, not `eprint!`ed, which panics when stderr is closed.
            let _ = std::io::stderr().write_all(&self.line);
        }
    }
}

impl<'a> MakeWriter<'a> for TerminalLog {
    type Writer = TerminalLine;

    fn make_writer(&'a self) -> TerminalLine {
        TerminalLine::default()
    }
}
