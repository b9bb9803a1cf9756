//! One process at a time: the exclusive `flock` a store holds for as long as it is open, and the
//! error a second open gets. The lock belongs to the open file, so it also ends when the process
//! dies; on systems without `flock` there is no lock.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Another open store holds the lock on this file: another process (or another [`Store`] in this
/// one) is using the data directory. [`Store::open`] returns it inside an [`io::Error`] of kind
/// `WouldBlock`; `error.get_ref()` and `downcast_ref::<StoreLocked>()` recover it.
///
/// [`Store`]: super::Store
/// [`Store::open`]: super::Store::open
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the data directory {} is locked: another process is using its store {} (stop it, or use \
     another data directory)",
    dir.display(),
    path.display()
)]
pub struct StoreLocked {
    /// The directory holding the store.
    pub dir: PathBuf,
    /// The store file whose lock is held.
    pub path: PathBuf,
}

/// Takes the exclusive advisory lock on the open `file` without waiting.
#[cfg(unix)]
pub(super) fn lock_exclusive(file: &File, path: &Path) -> io::Result<()> {
    use rustix::fs::{flock, FlockOperation};
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let locked = StoreLocked {
                dir,
                path: path.to_path_buf(),
            };
            Err(io::Error::new(io::ErrorKind::WouldBlock, locked))
        }
        Err(e) => Err(e.into()),
    }
}

/// No `flock` here; peers run on unix, where the lock is enforced.
#[cfg(not(unix))]
pub(super) fn lock_exclusive(_file: &File, _path: &Path) -> io::Result<()> {
    Ok(())
}
