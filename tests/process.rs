//! One spawned binary: its stderr collected into a log the test can wait on, its stdout read by a
//! background thread into a channel (so a console answer is read with a deadline, never a
//! blocking read), its stdin kept open for console lines, and the process killed and reaped when
//! the handle is dropped — also while a failed test unwinds, so no process outlives its test.
//! When a test panics, every process it owned prints the tail of its log, which is usually all
//! the diagnosis a failure needs. A process may run inside a network namespace (`ip netns exec`,
//! see [`crate::netns`]); everything else about it is the same.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Lines of stderr printed per process when a test fails (all of them with
/// `VOTECHAIN_TEST_LOGS=all`; `VOTECHAIN_TEST_LOGS=always` prints all of them even when the
/// test passes).
const LOG_TAIL: usize = 40;

/// How long a console command may take to answer.
const CONSOLE_DEADLINE: Duration = Duration::from_secs(30);

/// Pause between two looks at whether a process has exited.
const EXIT_POLL: Duration = Duration::from_millis(20);

/// A process's stderr, line by line, with ANSI colour codes removed.
#[derive(Default)]
pub struct Log {
    state: Mutex<LogState>,
    /// Notified on every new line and when the log is complete.
    grew: Condvar,
}

/// What [`Log`] guards.
#[derive(Default)]
struct LogState {
    lines: Vec<String>,
    /// True once stderr reached its end: no line will follow, so a process that has exited
    /// has logged everything it ever will.
    complete: bool,
}

impl Log {
    fn state(&self) -> std::sync::MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, line: String) {
        self.state().lines.push(line);
        self.grew.notify_all();
    }

    fn close(&self) {
        self.state().complete = true;
        self.grew.notify_all();
    }

    /// Waits until stderr has reached its end, or the deadline.
    fn wait_complete(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut state = self.state();
        while !state.complete {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return;
            };
            state = self
                .grew
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// A copy of every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.state().lines.clone()
    }

    /// Waits until some line from index `from` on satisfies `pred`; returns its index and text,
    /// or `None` at the deadline.
    pub fn wait_for(
        &self,
        from: usize,
        timeout: Duration,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Option<(usize, String)> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state();
        let mut next = from;
        loop {
            while next < state.lines.len() {
                if pred(&state.lines[next]) {
                    return Some((next, state.lines[next].clone()));
                }
                next += 1;
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            state = self
                .grew
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Number of lines so far.
    pub fn len(&self) -> usize {
        self.state().lines.len()
    }

    /// True before the first line.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Removes ANSI escape sequences (`ESC [ … letter`): the peer colours its log lines.
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A running binary. Dropping it kills it (SIGKILL) and reaps it.
pub struct Process {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Receiver<String>,
    log: Arc<Log>,
    next_marker: u64,
}

impl Process {
    /// Starts `program` with `args` and the environment variables `env` added, inside the
    /// network namespace `netns` when one is given (this machine's network otherwise); `name`
    /// labels its log when a test fails.
    pub fn spawn(
        name: &str,
        netns: Option<&str>,
        program: &Path,
        args: &[String],
        env: &[(&str, String)],
    ) -> Process {
        Process::start(name, netns, program, args, env, true)
    }

    /// Starts `program` like [`Process::spawn`], but with its stderr a pipe whose reading end
    /// is closed at once, as when its output goes through `| head -2`: every write to stderr
    /// fails with a broken pipe. Its log stays empty.
    pub fn spawn_stderr_closed(name: &str, program: &Path, args: &[String]) -> Process {
        Process::start(name, None, program, args, &[], false)
    }

    fn start(
        name: &str,
        netns: Option<&str>,
        program: &Path,
        args: &[String],
        env: &[(&str, String)],
        read_stderr: bool,
    ) -> Process {
        let mut command = match netns {
            Some(netns) => crate::netns::exec(netns, program),
            None => Command::new(program),
        };
        let mut child = command
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot start {}: {e}", program.display()));
        let log = Arc::new(Log::default());
        // Both pipes exist: they were just requested as piped.
        let stderr = child.stderr.take().expect("piped stderr");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr_log = Arc::clone(&log);
        if read_stderr {
            std::thread::spawn(move || {
                for line in lines_lossy(stderr) {
                    stderr_log.push(strip_ansi(&line));
                }
                stderr_log.close();
            });
        } else {
            drop(stderr);
            stderr_log.close();
        }
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in lines_lossy(stdout) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Process {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            stdout: rx,
            log,
            next_marker: 0,
        }
    }

    /// The process's stderr.
    pub fn log(&self) -> &Log {
        &self.log
    }

    /// The OS process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a stderr line satisfying `pred`; panics with the log at the deadline or if the
    /// process exits first.
    pub fn wait_log(&mut self, what: &str, timeout: Duration, pred: impl FnMut(&str) -> bool) {
        self.wait_log_from(0, what, timeout, pred);
    }

    /// As [`Process::wait_log`], looking only at lines from index `from` on; returns the line.
    pub fn wait_log_from(
        &mut self,
        from: usize,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            // Wake up now and then to notice an early exit.
            let slice = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(200));
            if let Some((_, line)) = self.log.wait_for(from, slice, &mut pred) {
                return line;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Its last lines may still be in the pipe: read them all before giving up.
                self.log
                    .wait_complete(deadline.saturating_duration_since(Instant::now()));
                if let Some((_, line)) = self.log.wait_for(from, Duration::ZERO, &mut pred) {
                    return line;
                }
                panic!("{}: exited ({status}) before {what}", self.name);
            }
            if Instant::now() >= deadline {
                panic!("{}: no {what} within {timeout:?}", self.name);
            }
        }
    }

    /// Sends one console line and returns what the console printed in answer, up to the next
    /// command. The end of an answer is found by sending an unknown command after it, a marker
    /// the console answers with an error line naming it; since the console handles lines in
    /// order, everything before that line belongs to `line`.
    pub fn console(&mut self, line: &str) -> Vec<String> {
        self.next_marker += 1;
        let marker = format!("end-of-answer-{}", self.next_marker);
        self.write_console(line, &format!("{line}\n{marker}\n"));
        let deadline = Instant::now() + CONSOLE_DEADLINE;
        let mut answer = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(out) if out.contains(&marker) => return answer,
                Ok(out) => answer.push(out),
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "{}: no answer to {line:?} within {CONSOLE_DEADLINE:?} (got {answer:?})",
                        self.name
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "{}: stdout closed while answering {line:?} (got {answer:?})",
                        self.name
                    )
                }
            }
        }
    }

    /// Sends SIGTERM, the polite stop a service manager sends; see [`Process::wait_exit`].
    pub fn terminate(&self) {
        self.signal("-TERM");
    }

    /// Sends SIGINT, what Ctrl-C in a terminal sends; see [`Process::wait_exit`].
    pub fn interrupt(&self) {
        self.signal("-INT");
    }

    fn signal(&self, which: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args([which, &pid])
            .status()
            .unwrap_or_else(|e| panic!("{}: cannot run kill: {e}", self.name));
        assert!(
            status.success(),
            "{}: kill {which} {pid}: {status}",
            self.name
        );
    }

    /// Types one line into the console without waiting for an answer (for `quit`, which has
    /// none); stdin stays open.
    pub fn type_line(&mut self, line: &str) {
        self.write_console(line, &format!("{line}\n"));
    }

    /// Writes `text` (which types `line`) to the console's stdin and flushes it.
    fn write_console(&mut self, line: &str, text: &str) {
        let stdin = self
            .stdin
            .as_mut()
            .unwrap_or_else(|| panic!("{}: stdin closed", self.name));
        if let Err(e) = stdin
            .write_all(text.as_bytes())
            .and_then(|()| stdin.flush())
        {
            panic!("{}: cannot write {line:?} to the console: {e}", self.name);
        }
    }

    /// Waits until the process prints a line on stdout that satisfies `pred`, and returns it;
    /// panics naming `what` at the deadline. Lines before it are consumed.
    pub fn wait_stdout(
        &mut self,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) if pred(&line) => return line,
                Ok(_) => {}
                Err(_) => panic!("{}: no {what} on stdout within {timeout:?}", self.name),
            }
        }
    }

    /// Closes its stdin: the end of input, as when a script's pipe ends.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits until the process exits and its log is complete; returns how it exited. Panics
    /// when it still runs at the deadline.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.log
                        .wait_complete(deadline.saturating_duration_since(Instant::now()));
                    return status;
                }
                Ok(None) if Instant::now() < deadline => std::thread::sleep(EXIT_POLL),
                Ok(None) => panic!("{}: still running after {timeout:?}", self.name),
                Err(e) => panic!("{}: cannot wait for it: {e}", self.name),
            }
        }
    }

    /// Kills the process with SIGKILL (no chance to clean up) and reaps it.
    pub fn kill(&mut self) {
        // An error means it has already exited, which is what we want.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn dump_log(&self) {
        let lines = self.log.lines();
        let all = std::env::var("VOTECHAIN_TEST_LOGS").is_ok_and(|v| v == "all" || v == "always");
        let skip = if all {
            0
        } else {
            lines.len().saturating_sub(LOG_TAIL)
        };
        eprintln!(
            "---- {} (pid {}): last {} of {} log lines ----",
            self.name,
            self.child.id(),
            lines.len() - skip,
            lines.len()
        );
        for line in &lines[skip..] {
            eprintln!("{}: {line}", self.name);
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
        let always = std::env::var("VOTECHAIN_TEST_LOGS").is_ok_and(|v| v == "always");
        if std::thread::panicking() || always {
            self.dump_log();
        }
    }
}

/// Lines of `reader`, invalid UTF-8 replaced; stops at end of input or a read error.
fn lines_lossy(reader: impl Read) -> impl Iterator<Item = String> {
    let mut reader = BufReader::new(reader);
    std::iter::from_fn(move || {
        let mut buf = Vec::new();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => None,
            Ok(_) => {
                while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    buf.pop();
                }
                Some(String::from_utf8_lossy(&buf).into_owned())
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::strip_ansi;

    #[test]
    fn strips_colour_codes() {
        assert_eq!(
            strip_ansi("\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m peer"),
            "2026  INFO peer"
        );
        assert_eq!(strip_ansi("plain"), "plain");
    }
}
