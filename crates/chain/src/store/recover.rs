//! Opening a store: take the lock, check the magic, read every record in an unbroken run from
//! the start, and cut the file at the first record that is torn, fails its checksum or does not
//! decode, syncing the cut before anything is returned. A new file gets its magic written and
//! synced, with its directory entry, before the first append.

use super::lock::lock_exclusive;
use super::record::{self, Header, Record, RECORD_HEADER_LEN};
use super::{Store, MAX_RECORD_BYTES, STORE_MAGIC};
use crate::block::Block;
use crate::vote::Vote;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// What [`Store::open`] found in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Every block appended, in file order, so the caller can rebuild its block tree (parents
    /// come before children because they were accepted first).
    pub blocks: Vec<Block>,
    /// Every vote appended, in file order, so votes accepted into the pending pool but not yet in
    /// a block are not lost by a restart.
    pub votes: Vec<Vote>,
    /// Every foreign record ([`Entry::Raw`](super::Entry::Raw)) appended, in file order, for the
    /// chain format that wrote them.
    pub raw: Vec<Vec<u8>>,
    /// Bytes removed from the end of the file: a torn last append or corruption. Zero on a clean
    /// open. The caller logs it; the records are gone from the file.
    pub cut_bytes: u64,
    /// Why the cut happened and at which offset, for the log; `None` exactly when nothing was cut.
    pub cut_reason: Option<String>,
}

impl Store {
    /// Opens the store at `path`, creating it if missing. Scans every record, cuts a torn or
    /// corrupt tail (truncating and syncing the file) and returns the intact records.
    ///
    /// Fails with `InvalidData` if the file exists but is not a store, leaving it untouched, and
    /// with `WouldBlock` carrying [`StoreLocked`] if another open store holds its lock: the lock
    /// is taken before anything is read, and kept until the returned [`Store`] is dropped.
    ///
    /// [`StoreLocked`]: super::StoreLocked
    pub fn open(path: &Path) -> io::Result<(Store, Recovered)> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        lock_exclusive(&file, path)?;
        let file_len = file.metadata()?.len();
        let mut recovered = Recovered::default();
        let mut magic = [0u8; STORE_MAGIC.len()];
        let magic_len = read_full(&mut file, &mut magic)?;
        if magic_len == magic.len() && magic == STORE_MAGIC {
            let (len, cut_reason) = scan(&file, file_len, &mut recovered)?;
            if let Some(reason) = cut_reason {
                file.set_len(len)?;
                file.sync_data()?;
                recovered.cut_bytes = file_len - len;
                recovered.cut_reason = Some(reason);
            }
            file.seek(SeekFrom::Start(len))?;
            return Ok((
                Store {
                    file,
                    len,
                    broken: false,
                },
                recovered,
            ));
        }
        // A new file, or one whose creation was interrupted while writing the magic.
        if magic[..magic_len] != STORE_MAGIC[..magic_len] {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not a votechain store (bad magic)", path.display()),
            ));
        }
        if file_len > 0 {
            recovered.cut_bytes = file_len;
            recovered.cut_reason = Some(format!("torn file header ({file_len} of 8 bytes)"));
        }
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&STORE_MAGIC)?;
        file.sync_data()?;
        sync_parent_dir(path)?;
        Ok((
            Store {
                file,
                len: STORE_MAGIC.len() as u64,
                broken: false,
            },
            recovered,
        ))
    }
}

/// Reads records after the magic into `recovered` until the end of the file (`file_len` bytes)
/// or the first bad record. Returns the offset where the intact data ends and, if early, why.
fn scan(
    file: &File,
    file_len: u64,
    recovered: &mut Recovered,
) -> io::Result<(u64, Option<String>)> {
    let mut reader = BufReader::new(file);
    let mut offset = STORE_MAGIC.len() as u64;
    let mut payload = Vec::new();
    loop {
        let mut header = [0u8; RECORD_HEADER_LEN];
        let got = read_full(&mut reader, &mut header)?;
        if got == 0 {
            return Ok((offset, None));
        }
        let bad = |why: String| Ok((offset, Some(format!("record at byte {offset}: {why}"))));
        if got < header.len() {
            return bad(format!("torn header ({got} of {RECORD_HEADER_LEN} bytes)"));
        }
        let Header { len, crc, kind } = Header::parse(&header);
        if len > MAX_RECORD_BYTES {
            return bad(format!("length {len} exceeds {MAX_RECORD_BYTES}"));
        }
        // A length running past the end of the file is a torn payload; saying so before the
        // read also avoids allocating for a garbage length below the maximum.
        let available = file_len.saturating_sub(offset + RECORD_HEADER_LEN as u64);
        if u64::from(len) > available {
            return bad(format!("torn payload ({available} of {len} bytes)"));
        }
        payload.resize(len as usize, 0);
        let got = read_full(&mut reader, &mut payload)?;
        if got < payload.len() {
            return bad(format!("torn payload ({got} of {len} bytes)"));
        }
        if record::checksum(kind, &payload) != crc {
            return bad("checksum mismatch".to_owned());
        }
        // A record that passes its checksum yet does not decode was not torn: it comes from a
        // bug or another format. It is still cut, and the reason says so.
        match record::decode(kind, &payload) {
            Ok(Record::Block(block)) => recovered.blocks.push(block),
            Ok(Record::Vote(vote)) => recovered.votes.push(vote),
            Ok(Record::Raw(bytes)) => recovered.raw.push(bytes),
            Err(why) => return bad(why),
        }
        offset += (RECORD_HEADER_LEN + payload.len()) as u64;
    }
}

/// Fills `buf` as far as the data goes; returns how many bytes were read (short only at EOF).
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Makes a newly created file's directory entry durable, so the file itself survives a power cut.
#[cfg(unix)]
fn sync_parent_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// Directories cannot be opened for syncing here; the file's own sync is what we can do.
#[cfg(not(unix))]
fn sync_parent_dir(_path: &Path) -> io::Result<()> {
    Ok(())
}
