//! The store's crash guarantee, tested with real `kill -9`s: a writer child process appends blocks
//! and votes to one store file and acknowledges each append on stdout once it has returned; the
//! parent kills the child with SIGKILL at random moments, reopens the store and checks that every
//! acknowledged record is there, in order, and that after its repair the store opens clean. Each
//! round continues the same file, so repairs accumulate as they would in a real peer's life.
//!
//! A SIGKILL cannot stop a process inside a small `write`, so a kill alone almost never tears a
//! record (a power cut can). To exercise the repair path in the same life of the file, some
//! rounds also append a random prefix of the next record after the kill, as a power cut during
//! that append would leave it, and check it is cut and that writing continues after the cut.
//!
//! The writer is this test binary itself, re-executed to run only [`crash_writer`] with an
//! environment variable telling it which file to write; run normally, that test does nothing.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use votechain_chain::{sha256, Ballot, Block, BlockTemplate, Store, Vote, VoterKey};

/// Set (to the store path) only in the writer child.
const CHILD_ENV: &str = "VOTECHAIN_STORE_CRASH_CHILD";
/// Overrides the seed of the kill schedule.
const SEED_ENV: &str = "VOTECHAIN_STORE_CRASH_SEED";
/// Kill-and-reopen rounds.
const ROUNDS: usize = 60;
/// A writer stops by itself after this many appends, so an orphaned one cannot fill the disk.
const MAX_APPENDS_PER_CHILD: usize = 2_000;
/// How long the parent waits for an acknowledgement before declaring the writer stuck.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// One record of the deterministic sequence the writer appends.
#[derive(Debug, Clone, PartialEq)]
enum Record {
    Block(Block),
    Vote(Vote),
}

/// Record `i` of the sequence: the genesis block first, then blocks carrying 0 to 3 votes (so
/// records differ in size and kills land at varied offsets) with every third record a lone vote.
fn record(i: usize) -> Record {
    let genesis = Block::genesis(&Ballot::open("Crash test", &["Yes", "No"], 0)).unwrap();
    let vote = |j: usize| {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&(i as u64).to_be_bytes());
        seed[8] = j as u8;
        Vote::sign(
            VoterKey::from_seed(seed).signing_key(),
            genesis.hash(),
            "Yes",
        )
    };
    match i {
        0 => Record::Block(genesis),
        _ if i % 3 == 1 => Record::Vote(vote(0)),
        _ => {
            let votes = (1..=i % 4).map(vote).collect();
            let parent = sha256(&[&(i as u64).to_be_bytes()]);
            let template =
                BlockTemplate::new(parent, i as u64, 0, i as u64, "crash", votes).unwrap();
            Record::Block(template.seal(i as u64))
        }
    }
}

/// The record as [`Store`] frames it (see the `store` module docs): length, CRC-32 of kind and
/// payload, kind, JSON payload.
fn encode(r: &Record) -> Vec<u8> {
    let (kind, payload) = match r {
        Record::Block(b) => (1u8, serde_json::to_vec(b).unwrap()),
        Record::Vote(v) => (2u8, serde_json::to_vec(v).unwrap()),
    };
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[kind]);
    crc.update(&payload);
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&crc.finalize().to_be_bytes());
    out.push(kind);
    out.extend_from_slice(&payload);
    out
}

/// Appends a random proper prefix of `record` to the file, as a torn append would leave it;
/// returns its length.
fn tear(path: &Path, record: &Record, rng: &mut ChaCha8Rng) -> u64 {
    let bytes = encode(record);
    let len = rng.gen_range(1..bytes.len());
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(&bytes[..len]).unwrap();
    len as u64
}

/// The writer: continues the sequence where the store ends and acknowledges each append.
#[test]
fn crash_writer() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let (mut store, recovered) = Store::open(Path::new(&path)).unwrap();
    let mut n = recovered.blocks.len() + recovered.votes.len();
    let mut stdout = std::io::stdout();
    for _ in 0..MAX_APPENDS_PER_CHILD {
        match record(n) {
            Record::Block(b) => store.append_block(&b).unwrap(),
            Record::Vote(v) => store.append_vote(&v).unwrap(),
        }
        n += 1;
        // A closed pipe means the parent is gone: stop quietly.
        if writeln!(stdout, "ACK {n}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return;
        }
    }
}

/// The records of the sequence, computed once each (signing is the slow part).
struct Expected(Vec<Record>);

impl Expected {
    /// The first `n` records, split as [`Store::open`] reports them.
    fn split(&mut self, n: usize) -> (Vec<Block>, Vec<Vote>) {
        while self.0.len() < n {
            self.0.push(record(self.0.len()));
        }
        let (mut blocks, mut votes) = (Vec::new(), Vec::new());
        for r in &self.0[..n] {
            match r {
                Record::Block(b) => blocks.push(b.clone()),
                Record::Vote(v) => votes.push(v.clone()),
            }
        }
        (blocks, votes)
    }
}

/// Starts a writer on `path`; its acknowledged counts arrive on the returned channel, which
/// disconnects when the writer's stdout closes.
fn spawn_writer(path: &Path) -> (std::process::Child, mpsc::Receiver<usize>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_writer", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // Lines other than ACKs are the test harness's own output.
            if let Some(n) = line.strip_prefix("ACK ").and_then(|n| n.parse().ok()) {
                if tx.send(n).is_err() {
                    break;
                }
            }
        }
    });
    (child, rx)
}

#[test]
fn acknowledged_records_survive_sigkill() {
    let seed = std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_u64);
    println!("store crash test: seed {seed} (set {SEED_ENV} to change)");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("store-crash-{}.store", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut expected = Expected(Vec::new());
    let (mut acked, mut cut_rounds, mut torn_rounds, mut unacked_kept) = (0, 0, 0, 0);

    for round in 0..ROUNDS {
        let ctx = format!("round {round}, seed {seed}");
        let (mut child, acks) = spawn_writer(&path);
        // Let the writer get `wanted` appends further, then kill it a random moment later,
        // usually while it is inside its next append.
        let wanted = acked + rng.gen_range(1..=20);
        while acked < wanted {
            match acks.recv_timeout(ACK_TIMEOUT) {
                Ok(n) => acked = acked.max(n),
                Err(e) => panic!(
                    "{ctx}: writer stopped acknowledging ({e}): {:?}",
                    child.try_wait()
                ),
            }
        }
        std::thread::sleep(Duration::from_micros(rng.gen_range(0..2_000)));
        child.kill().unwrap();
        child.wait().unwrap();
        // Acknowledgements still in the pipe were made before the kill: they count too.
        acked = acks.iter().fold(acked, usize::max);
        let (_, recovered) = Store::open(&path).unwrap();
        let n = recovered.blocks.len() + recovered.votes.len();
        assert!(
            n >= acked,
            "{ctx}: {acked} records acknowledged, {n} in the store"
        );
        let (blocks, votes) = expected.split(n);
        assert!(
            recovered.blocks == blocks && recovered.votes == votes,
            "{ctx}: records differ"
        );
        cut_rounds += usize::from(recovered.cut_bytes > 0);
        unacked_kept += n - acked;

        if rng.gen_bool(0.3) {
            let torn = tear(&path, &record(n), &mut rng);
            let (_, repaired) = Store::open(&path).unwrap();
            assert_eq!(repaired.cut_bytes, torn, "{ctx}: {:?}", repaired.cut_reason);
            assert_eq!(repaired.blocks.len() + repaired.votes.len(), n, "{ctx}");
            torn_rounds += 1;
        }

        let (_, again) = Store::open(&path).unwrap();
        assert_eq!(
            (again.cut_bytes, &again.cut_reason),
            (0, &None),
            "{ctx}: reopen not clean"
        );
        assert_eq!(again.blocks.len() + again.votes.len(), n, "{ctx}");
        acked = n;
    }
    println!(
        "store crash test: {ROUNDS} kills, {acked} records, {cut_rounds} tails torn by a kill, \
         {torn_rounds} test-made tears cut, {unacked_kept} unacknowledged records kept whole"
    );
    std::fs::remove_file(&path).unwrap();
}
