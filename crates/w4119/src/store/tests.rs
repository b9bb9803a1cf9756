//! The W4119 store on real files: round trip, fork replay, a torn tail, records that do not
//! verify, the lock, and a native or course store refused.

use super::*;
use crate::block::genesis;
use crate::block::tests::{mined, DIFFICULTY};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A file path under the system temp dir, unique per test, removed on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(name: &str) -> TempPath {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let file = format!("votechain-w4119-store-{}-{name}-{n}", std::process::id());
        TempPath(std::env::temp_dir().join(file))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Three blocks after the genesis block.
fn three() -> Vec<W4119Block> {
    let a = mined(&genesis(), &[("alice", "Adam")]);
    let b = mined(&a, &[("bob", "Bob")]);
    let c = mined(&b, &[("carol", "Catherine")]);
    vec![a, b, c]
}

fn with_genesis(blocks: &[W4119Block]) -> Vec<W4119Block> {
    [&[genesis()][..], blocks].concat()
}

#[test]
fn blocks_survive_a_reopen() {
    let path = TempPath::new("round-trip");
    let blocks = three();
    let (mut store, chain, report) = W4119Store::open(&path.0, DIFFICULTY).unwrap();
    assert_eq!((chain.len(), report), (1, None));
    store.append(&blocks[..1]).unwrap();
    store.append(&blocks[1..]).unwrap();
    store.append(&[]).unwrap();
    drop(store);
    let (_, chain, report) = W4119Store::open(&path.0, DIFFICULTY).unwrap();
    assert_eq!((chain.blocks(), report), (&with_genesis(&blocks)[..], None));
}

#[test]
fn own_votes_survive_a_reopen_among_the_blocks() {
    let path = TempPath::new("own");
    let blocks = three();
    let votes = [
        Transaction::vote("alice", "Adam", "2025-01-01 12:00:00"),
        Transaction::vote("Jos\u{e9}", "Bob", "2025-01-01 12:00:01"),
    ];
    let (mut store, _, _) = W4119Store::open(&path.0, DIFFICULTY).unwrap();
    assert!(store.own_votes().is_empty());
    store.append_own(&votes[..1]).unwrap();
    store.append(&blocks).unwrap();
    store.append_own(&votes[1..]).unwrap();
    drop(store);
    let (store, chain, report) = W4119Store::open(&path.0, DIFFICULTY).unwrap();
    assert_eq!(store.own_votes(), &votes[..]);
    assert_eq!((chain.blocks(), report), (&with_genesis(&blocks)[..], None));
}

#[test]
fn records_are_the_blocks_wire_json() {
    let path = TempPath::new("wire");
    let blocks = three();
    let (mut store, _, _) = W4119Store::open(&path.0, DIFFICULTY).unwrap();
    store.append(&blocks[..1]).unwrap();
    drop(store);
    let (_, recovered) = Store::open(&path.0).unwrap();
    assert_eq!(recovered.raw, [blocks[0].to_json_string().into_bytes()]);
}

#[test]
fn a_fork_switch_replays_as_the_new_branch() {
    let path = TempPath::new("fork");
    let blocks = three();
    let (mut store, _, _) = W4119Store::open(&path.0, DIFFICULTY).unwrap();
    store.append(&blocks).unwrap();
    // A longer branch from index 2.
    let x = mined(&blocks[0], &[("xavier", "Bob")]);
    let y = mined(&x, &[("yves", "Bob")]);
    let z = mined(&y, &[("zoe", "Bob")]);
    store.append(&[x.clone(), y.clone(), z.clone()]).unwrap();
    drop(store);
    let (mut store, chain, report) = W4119Store::open(&path.0, DIFFICULTY).unwrap();
    assert_eq!(report, None);
    assert_eq!(
        chain.blocks(),
        with_genesis(&[blocks[0].clone(), x, y.clone(), z])
    );
    // And a branch that replaces the top only.
    let w = mined(&y, &[("walt", "Adam")]);
    store.append(std::slice::from_ref(&w)).unwrap();
    drop(store);
    let (mut store, chain, _) = W4119Store::open(&path.0, DIFFICULTY).unwrap();
    assert_eq!((chain.len(), chain.tip()), (5, &w));
    // A genesis record brings the chain back to the genesis block alone.
    store.append(&[genesis()]).unwrap();
    drop(store);
    let (_, chain, report) = W4119Store::open(&path.0, DIFFICULTY).unwrap();
    assert_eq!((chain.len(), report), (1, None));
}

#[test]
fn a_torn_tail_is_cut_and_reported() {
    let path = TempPath::new("torn");
    let blocks = three();
    let (mut store, _, _) = W4119Store::open(&path.0, DIFFICULTY).unwrap();
    store.append(&blocks).unwrap();
    drop(store);
    let full = std::fs::read(&path.0).unwrap();
    std::fs::write(&path.0, [&full[..], b"\x00\x00\x00\x09garbage"].concat()).unwrap();
    let (mut store, chain, report) = W4119Store::open(&path.0, DIFFICULTY).unwrap();
    assert_eq!(chain.blocks(), with_genesis(&blocks));
    let report = report.unwrap();
    assert!(
        report.starts_with("the W4119 store cut 11 bytes"),
        "{report}"
    );
    let d = mined(&blocks[2], &[("dave", "Adam")]);
    store.append(std::slice::from_ref(&d)).unwrap();
    drop(store);
    let with_d = std::fs::read(&path.0).unwrap();
    std::fs::write(&path.0, &with_d[..with_d.len() - 10]).unwrap();
    let (_, chain, report) = W4119Store::open(&path.0, DIFFICULTY).unwrap();
    assert_eq!(chain.blocks(), with_genesis(&blocks));
    assert!(report.unwrap().contains("torn payload"));
}

#[test]
fn records_that_do_not_verify_are_skipped_and_later_ones_apply() {
    let path = TempPath::new("skip");
    let blocks = three();
    let (mut store, _, _) = W4119Store::open(&path.0, DIFFICULTY).unwrap();
    store.append(&blocks[..2]).unwrap();
    let mut forged = blocks[2].clone();
    forged.transactions.clear();
    store.append(&[forged]).unwrap();
    let mut high = blocks[2].clone();
    high.index = 9;
    store.append(&[high]).unwrap();
    let mut fake_genesis = genesis();
    fake_genesis.nonce = 1;
    store.append(&[fake_genesis]).unwrap();
    store.append(&blocks[2..]).unwrap();
    drop(store);
    let (_, chain, report) = W4119Store::open(&path.0, DIFFICULTY).unwrap();
    assert_eq!(chain.blocks(), with_genesis(&blocks));
    let report = report.unwrap();
    assert!(
        report.contains("skipped 3 records (record 2: the block claims hash"),
        "{report}"
    );
    assert!(
        report.contains("record 3: a block at index 9 above a chain of 3 blocks"),
        "{report}"
    );
    assert!(
        report.contains("record 4: the first block is not the W4119 genesis block"),
        "{report}"
    );
    // The same file read at a higher difficulty keeps nothing it cannot verify.
    let (_, chain, report) = W4119Store::open(&path.0, 64).unwrap();
    assert_eq!(chain.len(), 1);
    assert!(report.unwrap().contains("; and "));
}

#[cfg(unix)]
#[test]
fn a_second_open_fails_while_locked() {
    let path = TempPath::new("locked");
    let (mut first, _, _) = W4119Store::open(&path.0, DIFFICULTY).unwrap();
    let err = W4119Store::open(&path.0, DIFFICULTY).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    assert!(err
        .get_ref()
        .and_then(|e| e.downcast_ref::<votechain_chain::StoreLocked>())
        .is_some());
    first.append(&three()[..1]).unwrap();
    drop(first);
    assert_eq!(W4119Store::open(&path.0, DIFFICULTY).unwrap().1.len(), 2);
}

#[test]
fn a_native_store_is_refused() {
    let path = TempPath::new("native");
    let ballot = votechain_chain::Ballot::open("Lunch", &["Pizza", "Soup"], 4);
    let block = votechain_chain::Block::genesis(&ballot).unwrap();
    let (mut native, _) = Store::open(&path.0).unwrap();
    native.append_block(&block).unwrap();
    drop(native);
    let err = W4119Store::open(&path.0, DIFFICULTY).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(
        err.to_string()
            .ends_with("is a native votechain store, not a W4119 chain store"),
        "{err}"
    );
}

#[test]
fn a_course_store_is_refused() {
    let path = TempPath::new("course");
    let (mut course, _, _) = votechain_course::CourseStore::open(&path.0, 0).unwrap();
    let block = votechain_course::CourseBlock {
        height: 0,
        mined_by: "m".into(),
        messages: vec!["hello".into()],
        nonce: "0".into(),
        timestamp: 1,
        hash: votechain_course::course_hash(None, "m", &["hello".into()], 1, "0"),
    };
    course.append(&[block]).unwrap();
    drop(course);
    let err = W4119Store::open(&path.0, DIFFICULTY).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("is a course chain store"), "{err}");
}
