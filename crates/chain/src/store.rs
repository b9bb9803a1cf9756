//! The crash-safe store: one append-only file holding every block and vote a peer has accepted,
//! so it restarts with its chain and pending votes. This is the only module of the crate that
//! touches files.
//!
//! The file is an 8-byte magic, [`STORE_MAGIC`], then records:
//!
//! | size | field |
//! |---|---|
//! | 4 | payload length, big-endian u32, at most [`MAX_RECORD_BYTES`] |
//! | 4 | CRC-32 (IEEE) of the kind byte followed by the payload, big-endian |
//! | 1 | kind: 1 block, 2 vote |
//! | n | payload: the block or vote as compact JSON, exactly as on the wire |
//!
//! Each append is one `write` of the whole record (or batch of records, [`Store::append_all`])
//! followed by `sync_data`, with no buffering, so once an append returns `Ok` its records survive
//! a `kill -9` or a power cut. A crash in the middle of an append leaves at most one torn record
//! at the end; [`Store::open`]
//! scans the file, stops at the first record that is torn or fails its checksum, cuts the file
//! there and reports what it cut. Anything after a corrupt record is cut with it: records are only
//! trusted in an unbroken run from the start, and the network can supply the lost blocks again.
//!
//! One process at a time: two processes appending to one store interleave and cut each other's
//! records, silently losing acknowledged votes. [`Store::open`] takes an exclusive OS advisory
//! lock (`flock`) on the file, held as long as the [`Store`] lives (the lock goes with the open
//! file, so it also ends if the process dies), and a second open fails with [`StoreLocked`]. The
//! file is opened in append mode (`O_APPEND`) so that no write can land anywhere but the end.

use crate::block::Block;
use crate::vote::Vote;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Another open store holds the lock on this file: another process (or another [`Store`] in this
/// one) is using the data directory. [`Store::open`] returns it inside an [`io::Error`] of kind
/// `WouldBlock`; `error.get_ref()` and `downcast_ref::<StoreLocked>()` recover it.
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

/// One record for [`Store::append_all`].
#[derive(Debug, Clone, Copy)]
pub enum Entry<'a> {
    /// A block.
    Block(&'a Block),
    /// A vote.
    Vote(&'a Vote),
}

/// First bytes of every store file. It makes opening the wrong file an error instead of a cut.
pub const STORE_MAGIC: [u8; 8] = *b"VCSTORE1";
/// Largest payload a record may declare. Real records are below one datagram (64 KiB); a larger
/// length can only be corruption, and is treated as such before anything is allocated for it.
pub const MAX_RECORD_BYTES: u32 = 1 << 20;
/// Length, checksum and kind.
const RECORD_HEADER_LEN: usize = 9;
const KIND_BLOCK: u8 = 1;
const KIND_VOTE: u8 = 2;

/// An open store, positioned to append.
#[derive(Debug)]
pub struct Store {
    file: File,
    /// Bytes of intact records (and magic) in the file: where the next record goes, and where a
    /// failed append is cut back to.
    len: u64,
    /// Set when an append failed in a way that leaves the file's contents unknown (a failed
    /// `sync_data` or a failed rollback). Later appends are refused rather than written after
    /// a record that reopening would cut, taking them with it.
    broken: bool,
}

/// What [`Store::open`] found in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Every block appended, in file order, so the caller can rebuild its block tree (parents
    /// come before children because they were accepted first).
    pub blocks: Vec<Block>,
    /// Every vote appended, in file order, so votes accepted into the pending pool but not yet in
    /// a block are not lost by a restart.
    pub votes: Vec<Vote>,
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

    /// Appends `block` durably: when this returns `Ok`, the block is on disk.
    pub fn append_block(&mut self, block: &Block) -> io::Result<()> {
        self.append_all(&[Entry::Block(block)])
    }

    /// Appends `vote` durably: when this returns `Ok`, the vote is on disk.
    pub fn append_vote(&mut self, vote: &Vote) -> io::Result<()> {
        self.append_all(&[Entry::Vote(vote)])
    }

    /// Appends `entries` in order with one `write` and one `sync_data` (group commit): when this
    /// returns `Ok` all of them are on disk. A crash during the call keeps an intact prefix of
    /// them, which is safe because nothing in the batch was acknowledged yet.
    pub fn append_all(&mut self, entries: &[Entry<'_>]) -> io::Result<()> {
        if self.broken {
            return Err(io::Error::other(
                "an earlier append failed; reopen the store",
            ));
        }
        if entries.is_empty() {
            return Ok(());
        }
        let mut records = Vec::new();
        for entry in entries {
            let (kind, payload) = match entry {
                Entry::Block(b) => (KIND_BLOCK, serde_json::to_vec(b)?),
                Entry::Vote(v) => (KIND_VOTE, serde_json::to_vec(v)?),
            };
            let payload_len = u32::try_from(payload.len())
                .ok()
                .filter(|&n| n <= MAX_RECORD_BYTES)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "record too large"))?;
            records.extend_from_slice(&payload_len.to_be_bytes());
            records.extend_from_slice(&checksum(kind, &payload).to_be_bytes());
            records.push(kind);
            records.extend_from_slice(&payload);
        }
        // One write for the whole batch: a crash tears at most its last record.
        if let Err(e) = self.file.write_all(&records) {
            // Cut the partial batch back off, or the next append would land after it and be
            // cut with it on the next open.
            let rollback = self
                .file
                .set_len(self.len)
                .and_then(|()| self.file.seek(SeekFrom::Start(self.len)));
            self.broken = rollback.is_err();
            return Err(e);
        }
        if let Err(e) = self.file.sync_data() {
            // After a failed sync the kernel may have dropped the dirty pages: what is on disk is
            // unknown, and retrying cannot make the earlier data durable.
            self.broken = true;
            return Err(e);
        }
        self.len += records.len() as u64;
        Ok(())
    }

    /// Bytes of intact data in the file, magic included.
    pub fn len_bytes(&self) -> u64 {
        self.len
    }
}

/// Takes the exclusive advisory lock on the open `file` without waiting.
#[cfg(unix)]
fn lock_exclusive(file: &File, path: &Path) -> io::Result<()> {
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
fn lock_exclusive(_file: &File, _path: &Path) -> io::Result<()> {
    Ok(())
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
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        let kind = header[8];
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
        if checksum(kind, &payload) != crc {
            return bad("checksum mismatch".to_owned());
        }
        // A record that passes its checksum yet does not decode was not torn: it comes from a
        // bug or another format. It is still cut, and the reason says so.
        match kind {
            KIND_BLOCK => match serde_json::from_slice(&payload) {
                Ok(block) => recovered.blocks.push(block),
                Err(e) => return bad(format!("undecodable block: {e}")),
            },
            KIND_VOTE => match serde_json::from_slice(&payload) {
                Ok(vote) => recovered.votes.push(vote),
                Err(e) => return bad(format!("undecodable vote: {e}")),
            },
            other => return bad(format!("unknown record kind {other}")),
        }
        offset += (RECORD_HEADER_LEN + payload.len()) as u64;
    }
}

fn checksum(kind: u8, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&[kind]);
    h.update(payload);
    h.finalize()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Ballot, BlockTemplate, VoterKey};
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A file path under the system temp dir, unique per test, removed on drop.
    struct TempPath(PathBuf);

    impl TempPath {
        fn new(name: &str) -> TempPath {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let file = format!("votechain-store-{}-{name}-{n}", std::process::id());
            TempPath(std::env::temp_dir().join(file))
        }
    }

    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn genesis() -> Block {
        Block::genesis(&Ballot::open("Lunch", &["Pizza", "Soup"], 4)).unwrap()
    }

    fn vote(seed: u8) -> Vote {
        Vote::sign(
            VoterKey::from_seed([seed; 32]).signing_key(),
            genesis().hash(),
            "Soup",
        )
    }

    fn block(parent: &Block, votes: Vec<Vote>) -> Block {
        BlockTemplate::new(
            parent.hash(),
            parent.height(),
            4,
            1_700_000_000_000,
            "m",
            votes,
        )
        .unwrap()
        .seal(7)
    }

    /// Writes genesis, a vote, and a block carrying two votes; returns them and the file
    /// offset where the last record (the block) starts.
    fn three_records(path: &Path) -> (Vec<Block>, Vec<Vote>, u64) {
        let (mut store, recovered) = Store::open(path).unwrap();
        assert_eq!(recovered, Recovered::default());
        let g = genesis();
        let b = block(&g, vec![vote(2), vote(3)]);
        store.append_block(&g).unwrap();
        store.append_vote(&vote(1)).unwrap();
        let last_start = store.len_bytes();
        store.append_block(&b).unwrap();
        (vec![g, b], vec![vote(1)], last_start)
    }

    #[test]
    fn records_round_trip_across_reopens() {
        let path = TempPath::new("round-trip");
        let (mut blocks, mut votes, _) = three_records(&path.0);
        let (mut store, recovered) = Store::open(&path.0).unwrap();
        assert_eq!((&recovered.blocks, &recovered.votes), (&blocks, &votes));
        assert_eq!((recovered.cut_bytes, recovered.cut_reason), (0, None));
        let next = block(&blocks[1], vec![]);
        // A batch lands as its records, in order, like separate appends.
        store
            .append_all(&[Entry::Block(&next), Entry::Vote(&vote(9))])
            .unwrap();
        store.append_all(&[]).unwrap();
        drop(store);
        blocks.push(next);
        votes.push(vote(9));
        let (_, recovered) = Store::open(&path.0).unwrap();
        assert_eq!(
            recovered,
            Recovered {
                blocks,
                votes,
                ..Recovered::default()
            }
        );
    }

    #[test]
    fn torn_last_record_is_cut_at_every_offset() {
        let path = TempPath::new("torn");
        let (blocks, votes, last_start) = three_records(&path.0);
        let full = std::fs::read(&path.0).unwrap();
        for end in last_start as usize..full.len() {
            std::fs::write(&path.0, &full[..end]).unwrap();
            let (_, recovered) = Store::open(&path.0).unwrap();
            assert_eq!(recovered.blocks, blocks[..1], "torn at {end}");
            assert_eq!(recovered.votes, votes);
            assert_eq!(recovered.cut_bytes, end as u64 - last_start);
            assert_eq!(recovered.cut_reason.is_some(), end as u64 > last_start);
            // The cut is durable and the next open is clean; appending again works.
            let (mut store, again) = Store::open(&path.0).unwrap();
            assert_eq!((again.cut_bytes, again.cut_reason), (0, None));
            store.append_block(&blocks[1]).unwrap();
            drop(store);
            assert_eq!(std::fs::read(&path.0).unwrap(), full);
        }
    }

    #[test]
    fn a_flipped_byte_cuts_from_its_record() {
        let path = TempPath::new("flip");
        let (blocks, _, _) = three_records(&path.0);
        let full = std::fs::read(&path.0).unwrap();
        // The vote record sits between the genesis record and the last block's.
        let vote_start =
            STORE_MAGIC.len() + RECORD_HEADER_LEN + serde_json::to_vec(&blocks[0]).unwrap().len();
        let vote_len = RECORD_HEADER_LEN + serde_json::to_vec(&vote(1)).unwrap().len();
        for at in vote_start..vote_start + vote_len {
            let mut bytes = full.clone();
            bytes[at] ^= 0x20;
            std::fs::write(&path.0, &bytes).unwrap();
            let (_, recovered) = Store::open(&path.0).unwrap();
            assert_eq!(recovered.blocks, blocks[..1], "flipped byte {at}");
            assert!(recovered.votes.is_empty());
            assert_eq!(recovered.cut_bytes, (full.len() - vote_start) as u64);
            assert!(recovered
                .cut_reason
                .unwrap()
                .contains(&format!("byte {vote_start}")));
        }
    }

    #[test]
    fn garbage_length_and_unknown_kind_are_cut_without_allocating() {
        let path = TempPath::new("garbage");
        let (blocks, votes, _) = three_records(&path.0);
        let full = std::fs::read(&path.0).unwrap();
        let payload = b"{}";
        let mut unknown_kind = Vec::new();
        unknown_kind.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        unknown_kind.extend_from_slice(&checksum(7, payload).to_be_bytes());
        unknown_kind.push(7);
        unknown_kind.extend_from_slice(payload);
        let cases: [(&[u8], &str); 3] = [
            (&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, b'x'], "exceeds"),
            (&unknown_kind, "unknown record kind 7"),
            (
                &[0, 0, 0, 5, 0, 0, 0, 0, 1, b'{'],
                "torn payload (1 of 5 bytes)",
            ),
        ];
        for (tail, reason) in cases {
            std::fs::write(&path.0, [&full[..], tail].concat()).unwrap();
            let (_, recovered) = Store::open(&path.0).unwrap();
            assert_eq!((&recovered.blocks, &recovered.votes), (&blocks, &votes));
            assert_eq!(recovered.cut_bytes, tail.len() as u64);
            let why = recovered.cut_reason.unwrap();
            assert!(why.contains(reason), "{why}");
        }
    }

    /// True when some descriptor of this process open on `path` has `O_APPEND` (octal 02000 in
    /// the `flags` line of `/proc/self/fdinfo`).
    #[cfg(target_os = "linux")]
    fn opened_append_only(path: &Path) -> bool {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .flatten()
            .any(|fd| {
                std::fs::read_link(fd.path()).is_ok_and(|target| target == path) && {
                    let info_path =
                        format!("/proc/self/fdinfo/{}", fd.file_name().to_string_lossy());
                    let info = std::fs::read_to_string(info_path).unwrap_or_default();
                    info.lines()
                        .find_map(|l| l.strip_prefix("flags:"))
                        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
                        .is_some_and(|flags| flags & 0o2000 != 0)
                }
            })
    }

    #[cfg(unix)]
    #[test]
    fn a_second_open_of_a_locked_store_fails_until_the_first_is_dropped() {
        let path = TempPath::new("locked");
        let (mut first, _) = Store::open(&path.0).unwrap();
        first.append_vote(&vote(1)).unwrap();
        #[cfg(target_os = "linux")]
        assert!(
            opened_append_only(&path.0),
            "the store is opened with O_APPEND"
        );
        // flock belongs to the open file description, so a second open in this same process
        // conflicts just as another process would.
        let err = Store::open(&path.0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        let locked = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<StoreLocked>())
            .expect("a StoreLocked error");
        assert_eq!(locked.path, path.0);
        assert_eq!(locked.dir, std::env::temp_dir());
        let message = err.to_string();
        assert!(
            message.contains(&format!("{} is locked", std::env::temp_dir().display()))
                && message.contains("another process is using"),
            "{message}"
        );
        // The failed open touched nothing; the first store keeps appending.
        first.append_vote(&vote(2)).unwrap();
        drop(first);
        let (_, recovered) = Store::open(&path.0).unwrap();
        assert_eq!(recovered.votes, vec![vote(1), vote(2)]);
    }

    #[test]
    fn a_foreign_file_is_refused_untouched_and_a_torn_magic_is_redone() {
        let path = TempPath::new("foreign");
        std::fs::write(&path.0, b"my precious notes").unwrap();
        let err = Store::open(&path.0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(std::fs::read(&path.0).unwrap(), b"my precious notes");

        std::fs::write(&path.0, &STORE_MAGIC[..3]).unwrap();
        let (mut store, recovered) = Store::open(&path.0).unwrap();
        assert_eq!(recovered.cut_bytes, 3);
        store.append_vote(&vote(1)).unwrap();
        drop(store);
        let (_, recovered) = Store::open(&path.0).unwrap();
        assert_eq!((recovered.votes, recovered.cut_bytes), (vec![vote(1)], 0));
    }
}
