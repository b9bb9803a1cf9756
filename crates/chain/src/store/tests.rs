//! Store tests on real files under the system temp dir: round trips, a torn tail cut at every
//! offset, corruption anywhere in a record, garbage headers, the lock and a foreign file.

use super::record::{checksum, RECORD_HEADER_LEN};
use super::*;
use crate::{Ballot, Block, BlockTemplate, Vote, VoterKey};
use std::io;
use std::path::{Path, PathBuf};
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
                let info_path = format!("/proc/self/fdinfo/{}", fd.file_name().to_string_lossy());
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

#[test]
fn foreign_records_round_trip_in_order_beside_native_ones() {
    let path = TempPath::new("raw");
    let (mut store, _) = Store::open(&path.0).unwrap();
    store
        .append_all(&[Entry::Raw(b"first"), Entry::Vote(&vote(1)), Entry::Raw(b"")])
        .unwrap();
    let last_start = store.len_bytes();
    store.append_all(&[Entry::Raw(b"third")]).unwrap();
    drop(store);
    let (_, recovered) = Store::open(&path.0).unwrap();
    assert_eq!(
        recovered.raw,
        vec![b"first".to_vec(), vec![], b"third".to_vec()]
    );
    assert_eq!(recovered.votes, vec![vote(1)]);
    // A torn foreign record is cut like any other.
    let full = std::fs::read(&path.0).unwrap();
    std::fs::write(&path.0, &full[..full.len() - 2]).unwrap();
    let (_, recovered) = Store::open(&path.0).unwrap();
    assert_eq!(recovered.raw, vec![b"first".to_vec(), vec![]]);
    assert_eq!(recovered.cut_bytes, full.len() as u64 - 2 - last_start);
}
