//! Console input that never holds up a shutdown. Stdin is read on a plain thread of its own,
//! not on tokio's blocking pool: a blocking read there keeps the runtime from shutting down,
//! so a peer that was told to stop (Ctrl-C, SIGTERM, `quit`) would wait for the next Enter. A
//! detached thread ends with the process instead.

use std::io::{BufRead, IsTerminal};
use tokio::sync::mpsc;

/// Lines that may wait for the shell before the reading thread waits too.
const QUEUE: usize = 64;

/// Console lines from stdin, and what the end of input means.
#[derive(Debug)]
pub struct StdinLines {
    /// Each line as typed, without its line ending (invalid UTF-8 replaced). The channel closes
    /// at the end of input.
    pub lines: mpsc::Receiver<String>,
    /// Stdin is a terminal: its end (Ctrl-D) means "quit". The end of a pipe or of /dev/null
    /// only ends the console, so a script can start a peer and leave it running.
    pub terminal: bool,
}

/// Starts reading stdin line by line on a detached thread.
pub fn stdin_lines() -> StdinLines {
    let terminal = std::io::stdin().is_terminal();
    let (tx, lines) = mpsc::channel(QUEUE);
    let reader = std::thread::Builder::new()
        .name("console".into())
        .spawn(move || {
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
        });
    if let Err(e) = reader {
        // Without the thread the channel is already closed: the console has ended.
        tracing::warn!("cannot read the console: {e}");
    }
    StdinLines { lines, terminal }
}
