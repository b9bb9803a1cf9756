//! The full log of a process, kept in a file that is rotated by size: when the next line would
//! take `peer.log` past its limit, `peer.log.2` becomes `peer.log.3` (the oldest kept), `.1`
//! becomes `.2`, `peer.log` becomes `peer.log.1`, and a fresh `peer.log` is started. So a
//! long-running peer keeps at most `(keep + 1) × limit` bytes of log.
//!
//! A [`LogFile`] exists before its path is known (a peer's data directory is named after the
//! port it was given, known only once bound): lines logged before [`LogFile::open`] wait in
//! memory, up to [`EARLY_LINES_CAP`] bytes, and are written first once it opens. A line that
//! cannot be written is dropped: logging is never a reason to stop.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use tracing_subscriber::fmt::MakeWriter;

/// Size at which the log file is rotated when the caller does not say.
pub const DEFAULT_LOG_LIMIT: u64 = 10 << 20;

/// Rotated files kept (`peer.log.1` … `peer.log.N`) when the caller does not say.
pub const DEFAULT_LOG_KEEP: usize = 3;

/// Bytes of log held in memory before the file is opened; later early lines are dropped.
pub const EARLY_LINES_CAP: usize = 256 << 10;

/// A rotating log file shared by every log line of the process (clones share it).
#[derive(Debug, Clone)]
pub struct LogFile {
    state: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    /// The open file, once [`LogFile::open`] succeeded.
    file: Option<File>,
    /// Its path, for rotation.
    path: PathBuf,
    /// Bytes in the current file.
    written: u64,
    /// Rotate before a line would take the file past this.
    limit: u64,
    /// Rotated files kept.
    keep: usize,
    /// Lines logged before the file was opened.
    early: Vec<u8>,
}

impl Default for LogFile {
    fn default() -> LogFile {
        LogFile::new(DEFAULT_LOG_LIMIT, DEFAULT_LOG_KEEP)
    }
}

impl LogFile {
    /// A log file, not yet open, rotated at `limit` bytes with `keep` old files kept.
    pub fn new(limit: u64, keep: usize) -> LogFile {
        LogFile {
            state: Arc::new(Mutex::new(State {
                file: None,
                path: PathBuf::new(),
                written: 0,
                limit: limit.max(1),
                keep,
                early: Vec::new(),
            })),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while logging leaves nothing half-done worth refusing to log over.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens (appending to) the file at `path`, creating its directory, and writes the lines
    /// logged so far.
    pub fn open(&self, path: &Path) -> io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let written = file.metadata()?.len();
        let mut state = self.state();
        state.file = Some(file);
        state.path = path.to_owned();
        state.written = written;
        let early = std::mem::take(&mut state.early);
        state.write(&early);
        Ok(())
    }

    /// The path given to [`LogFile::open`], once open.
    pub fn path(&self) -> Option<PathBuf> {
        let state = self.state();
        state.file.as_ref().map(|_| state.path.clone())
    }

    /// Writes one or more whole lines.
    pub fn write_lines(&self, bytes: &[u8]) {
        self.state().write(bytes);
    }
}

impl State {
    fn write(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.file.is_none() {
            if self.early.len() + bytes.len() <= EARLY_LINES_CAP {
                self.early.extend_from_slice(bytes);
            }
            return;
        }
        if self.written > 0 && self.written + bytes.len() as u64 > self.limit {
            self.rotate();
        }
        if let Some(file) = &mut self.file {
            if file.write_all(bytes).is_ok() {
                self.written += bytes.len() as u64;
            }
        }
    }

    /// Shifts the old files up by one (dropping the oldest) and starts a fresh file. When the
    /// fresh file cannot be opened, logging goes on in the old handle rather than stopping.
    fn rotate(&mut self) {
        let numbered = |n: usize| {
            let mut name = self.path.clone().into_os_string();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        if self.keep == 0 {
            let _ = std::fs::remove_file(&self.path);
        } else {
            for n in (1..self.keep).rev() {
                let _ = std::fs::rename(numbered(n), numbered(n + 1));
            }
            let _ = std::fs::rename(&self.path, numbered(1));
        }
        match OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
        {
            Ok(file) => {
                self.file = Some(file);
                self.written = 0;
            }
            // Keep writing to the renamed file: a log too long beats no log.
            Err(_) => self.written = 0,
        }
    }
}

/// One log line on its way to a [`LogFile`]: collected, then written whole when dropped, so
/// rotation never splits a line.
#[derive(Debug)]
pub struct LogFileLine {
    file: LogFile,
    line: Vec<u8>,
}

impl Write for LogFileLine {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.line.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LogFileLine {
    fn drop(&mut self) {
        self.file.write_lines(&self.line);
    }
}

impl<'a> MakeWriter<'a> for LogFile {
    type Writer = LogFileLine;

    fn make_writer(&'a self) -> LogFileLine {
        LogFileLine {
            file: self.clone(),
            line: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("votechain-logfile-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    #[test]
    fn lines_before_open_are_written_first() {
        let dir = temp_dir("early");
        let log = LogFile::new(1 << 20, 2);
        log.write_lines(b"one\n");
        assert_eq!(log.path(), None);
        let path = dir.join("sub").join("peer.log");
        log.open(&path).unwrap();
        log.write_lines(b"two\n");
        assert_eq!(read(&path), "one\ntwo\n");
        assert_eq!(log.path(), Some(path));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_full_file_is_rotated_keeping_a_few_old_ones() {
        let dir = temp_dir("rotate");
        let path = dir.join("peer.log");
        // Ten bytes a file: every two 5-byte lines start a new file.
        let log = LogFile::new(10, 2);
        log.open(&path).unwrap();
        for line in [
            "aaaa\n", "bbbb\n", "cccc\n", "dddd\n", "eeee\n", "ffff\n", "gggg\n",
        ] {
            log.write_lines(line.as_bytes());
        }
        assert_eq!(read(&path), "gggg\n");
        assert_eq!(read(&dir.join("peer.log.1")), "eeee\nffff\n");
        assert_eq!(read(&dir.join("peer.log.2")), "cccc\ndddd\n");
        // Only two old files are kept: the first two lines are gone.
        assert!(!dir.join("peer.log.3").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn reopening_appends_and_counts_what_is_there() {
        let dir = temp_dir("append");
        let path = dir.join("peer.log");
        let first = LogFile::new(10, 1);
        first.open(&path).unwrap();
        first.write_lines(b"old\n");
        let second = LogFile::new(10, 1);
        second.open(&path).unwrap();
        second.write_lines(b"new\n");
        assert_eq!(read(&path), "old\nnew\n");
        second.write_lines(b"next\n");
        assert_eq!(read(&path), "next\n");
        assert_eq!(read(&dir.join("peer.log.1")), "old\nnew\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
