//! The course store on real files: round trip, fork replay, a torn tail, garbage, the lock.

use super::*;
use crate::miner::{CourseJob, CourseSearch};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

const DIFFICULTY: u32 = 2;

/// A file path under the system temp dir, unique per test, removed on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(name: &str) -> TempPath {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let file = format!("votechain-course-store-{}-{name}-{n}", std::process::id());
        TempPath(std::env::temp_dir().join(file))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn mine(parent: Option<&CourseBlock>, word: &str) -> CourseBlock {
    let job = CourseJob {
        prev: parent.map(|p| p.hash),
        height: parent.map_or(0, |p| p.height + 1),
        mined_by: "tester".into(),
        messages: vec![word.into()],
        timestamp: 1_730_000_000,
        difficulty: DIFFICULTY,
    };
    CourseSearch::new(&job).search(0, 1 << 24).unwrap()
}

/// Genesis and two blocks on it.
fn three() -> Vec<CourseBlock> {
    let g = mine(None, "genesis");
    let a = mine(Some(&g), "a");
    let b = mine(Some(&a), "b");
    vec![g, a, b]
}

#[test]
fn blocks_survive_a_reopen() {
    let path = TempPath::new("round-trip");
    let blocks = three();
    let (mut store, chain, report) = CourseStore::open(&path.0, DIFFICULTY).unwrap();
    assert!(chain.is_empty() && report.is_none());
    store.append(&blocks[..1]).unwrap();
    store.append(&blocks[1..]).unwrap();
    store.append(&[]).unwrap();
    drop(store);
    let (_, chain, report) = CourseStore::open(&path.0, DIFFICULTY).unwrap();
    assert_eq!((chain.blocks(), report), (&blocks[..], None));
}

#[test]
fn a_fork_switch_replays_as_the_new_branch() {
    let path = TempPath::new("fork");
    let blocks = three();
    let (mut store, _, _) = CourseStore::open(&path.0, DIFFICULTY).unwrap();
    store.append(&blocks).unwrap();
    // A longer branch from height 1.
    let x = mine(Some(&blocks[0]), "x");
    let y = mine(Some(&x), "y");
    let z = mine(Some(&y), "z");
    store.append(&[x.clone(), y.clone(), z.clone()]).unwrap();
    drop(store);
    let (mut store, chain, report) = CourseStore::open(&path.0, DIFFICULTY).unwrap();
    assert_eq!(report, None);
    assert_eq!(chain.blocks(), [blocks[0].clone(), x, y.clone(), z]);
    // And back to a branch that replaces the top only.
    let w = mine(Some(&y), "w");
    store.append(std::slice::from_ref(&w)).unwrap();
    drop(store);
    let (_, chain, _) = CourseStore::open(&path.0, DIFFICULTY).unwrap();
    assert_eq!((chain.len(), chain.tip()), (4, Some(&w)));
}

#[test]
fn a_torn_tail_is_cut_and_reported() {
    let path = TempPath::new("torn");
    let blocks = three();
    let (mut store, _, _) = CourseStore::open(&path.0, DIFFICULTY).unwrap();
    store.append(&blocks).unwrap();
    drop(store);
    let full = std::fs::read(&path.0).unwrap();
    // Garbage after the last record, then a record torn in half.
    std::fs::write(&path.0, [&full[..], b"\x00\x00\x00\x09garbage"].concat()).unwrap();
    let (mut store, chain, report) = CourseStore::open(&path.0, DIFFICULTY).unwrap();
    assert_eq!(chain.blocks(), &blocks[..]);
    let report = report.unwrap();
    assert!(
        report.starts_with("the course store cut 11 bytes"),
        "{report}"
    );
    let d = mine(Some(&blocks[2]), "d");
    store.append(std::slice::from_ref(&d)).unwrap();
    drop(store);
    let with_d = std::fs::read(&path.0).unwrap();
    std::fs::write(&path.0, &with_d[..with_d.len() - 10]).unwrap();
    let (_, chain, report) = CourseStore::open(&path.0, DIFFICULTY).unwrap();
    assert_eq!(chain.blocks(), &blocks[..]);
    assert!(report.unwrap().contains("torn payload"));
}

#[test]
fn records_that_do_not_verify_are_skipped_and_later_ones_apply() {
    let path = TempPath::new("skip");
    let blocks = three();
    let (mut store, _, _) = CourseStore::open(&path.0, DIFFICULTY).unwrap();
    store.append(&blocks[..2]).unwrap();
    let mut forged = blocks[2].clone();
    forged.messages[0] = "forged".into();
    store.append(&[forged]).unwrap();
    // A gap: height 5 over a chain of 2.
    let mut high = blocks[2].clone();
    high.height = 5;
    store.append(&[high]).unwrap();
    store.append(&blocks[2..]).unwrap();
    drop(store);
    let (_, chain, report) = CourseStore::open(&path.0, DIFFICULTY).unwrap();
    assert_eq!(chain.blocks(), &blocks[..]);
    let report = report.unwrap();
    assert!(
        report.contains("skipped 2 records (record 2: the block does not follow"),
        "{report}"
    );
    assert!(
        report.contains("record 3: a block at height 5 above a chain of 2"),
        "{report}"
    );
    // The same file read at a higher difficulty keeps nothing it cannot verify.
    drop(chain);
    let (_, chain, report) = CourseStore::open(&path.0, 64).unwrap();
    assert!(chain.is_empty() && report.is_some());
}

#[cfg(unix)]
#[test]
fn a_second_open_fails_while_locked() {
    let path = TempPath::new("locked");
    let (mut first, _, _) = CourseStore::open(&path.0, DIFFICULTY).unwrap();
    let err = CourseStore::open(&path.0, DIFFICULTY).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    assert!(err
        .get_ref()
        .and_then(|e| e.downcast_ref::<votechain_chain::StoreLocked>())
        .is_some());
    first.append(&three()[..1]).unwrap();
    drop(first);
    assert_eq!(CourseStore::open(&path.0, DIFFICULTY).unwrap().1.len(), 1);
}

#[test]
fn a_native_store_is_refused() {
    let path = TempPath::new("native");
    let ballot = votechain_chain::Ballot::open("Lunch", &["Pizza", "Soup"], 4);
    let genesis = votechain_chain::Block::genesis(&ballot).unwrap();
    let (mut native, _) = Store::open(&path.0).unwrap();
    native.append_block(&genesis).unwrap();
    drop(native);
    let err = CourseStore::open(&path.0, DIFFICULTY).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("native votechain store"));
}
