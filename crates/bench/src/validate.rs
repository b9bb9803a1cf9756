//! `bench validate`: how fast a peer re-validates a chain from its store, signatures included.
//!
//! It builds two chains of `--blocks` blocks at a low difficulty, one signed vote per block and
//! ten per block (every vote from a distinct voter), writes each to a store file in a fresh temp
//! directory through the store API (one durable append per block, as a peer does), then times
//! re-reading the store and fully validating every block into a fresh `ChainState`. Each chain is
//! validated twice in the same run: "window" verifies the signatures of `--window` blocks in
//! batches (as sync does) before adding them; "per-block" lets `add_block` verify each block's
//! signatures itself (one by one for a one-vote block, as one batch for ten votes), so the gain of
//! batching across blocks is a ratio measured on the same machine. The RESULT line reports the
//! window figures.

use anyhow::{ensure, Context};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use votechain_chain::validate::verify_blocks;
use votechain_chain::{
    AddOutcome, Ballot, Block, BlockTemplate, ChainConfig, ChainState, Store, Vote, VoterKey,
};

/// Options of `bench validate`.
#[derive(clap::Args)]
pub struct Args {
    /// Blocks in each chain.
    #[arg(long, default_value_t = 10_000)]
    blocks: usize,
    /// Proof of work per block, in leading zero bits (low, so building is quick; validation
    /// checks one hash per block whatever the difficulty).
    #[arg(long, default_value_t = 2)]
    difficulty: u32,
    /// Blocks whose signatures are verified in one go, like a sync window.
    #[arg(long, default_value_t = 512)]
    window: usize,
}

/// Timestamp of the first block; the chain's clock then advances 1 ms per block.
const START_MS: u64 = 1_700_000_000_000;

/// Timings of one validation pass.
struct Pass {
    /// Opening the store: reading, checksumming and decoding every record.
    read: Duration,
    /// Everything from opening the store to the last block connected.
    total: Duration,
}

/// Runs the benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    ensure!(
        args.blocks > 0 && args.window > 0,
        "--blocks and --window must be positive"
    );
    let ballot = Ballot::open("bench validate", &["yes", "no", "abstain"], args.difficulty);
    let dir = temp_dir()?;
    let result = measure(&args, &ballot, &dir);
    // Best effort: a leftover temp dir is not worth failing a finished measurement for.
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn measure(args: &Args, ballot: &Ballot, dir: &Path) -> anyhow::Result<()> {
    let genesis = Block::genesis(ballot).context("bench ballot")?;
    let paths = [dir.join("one-vote.store"), dir.join("ten-votes.store")];
    let per_block = [1usize, 10];
    // Each append waits for the disk, so the two stores are written side by side.
    let written: Vec<anyhow::Result<Duration>> = std::thread::scope(|scope| {
        let handles: Vec<_> = per_block
            .iter()
            .zip(&paths)
            .map(|(&k, path)| {
                let genesis = &genesis;
                scope.spawn(move || build_store(genesis, args.blocks, k, path))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("builder thread panicked"))
            .collect()
    });

    println!(
        "bench validate: {} blocks per chain, difficulty {} bits, window {} blocks, 1 thread",
        args.blocks, args.difficulty, args.window
    );
    println!(
        "{:<12} {:>7} {:>10} {:>10} {:>12} {:>12} {:>12}",
        "chain", "votes", "mode", "read ms", "total ms", "blocks/s", "votes/s"
    );
    let mut batched_rates = Vec::new();
    for ((&k, path), written) in per_block.iter().zip(&paths).zip(written) {
        let write = written?;
        let name = format!("{k} vote{}", if k == 1 { "" } else { "s" });
        let n_votes = args.blocks * k;
        let mut rates = Vec::new();
        for batched in [true, false] {
            let pass = validate_store(path, args, n_votes, batched)?;
            let blocks_per_s = args.blocks as f64 / pass.total.as_secs_f64();
            println!(
                "{:<12} {:>7} {:>10} {:>10.1} {:>12.1} {:>12.0} {:>12.0}",
                name,
                n_votes,
                if batched { "window" } else { "per-block" },
                ms(pass.read),
                ms(pass.total),
                blocks_per_s,
                blocks_per_s * k as f64
            );
            rates.push(blocks_per_s);
        }
        println!(
            "{:<12} window / per-block = {:.2}; store written at {:.0} blocks/s (a sync each)",
            name,
            rates[0] / rates[1],
            args.blocks as f64 / write.as_secs_f64()
        );
        batched_rates.push((rates[0], rates[0] * k as f64));
    }
    println!("target: >= 20000 one-vote blocks/s");
    println!(
        "RESULT validate blocks_per_s={:.0} votes_per_s={:.0}",
        batched_rates[0].0, batched_rates[1].1
    );
    Ok(())
}

/// Builds a chain of `n` blocks with `k` votes each on `genesis` and appends it, genesis first,
/// to a new store at `path`. Returns the time the appends took.
fn build_store(genesis: &Block, n: usize, k: usize, path: &Path) -> anyhow::Result<Duration> {
    let ballot = genesis.ballot().context("genesis carries the ballot")?;
    let difficulty = ballot.difficulty;
    let mut blocks = Vec::with_capacity(n);
    let mut parent = genesis.clone();
    for height in 1..=n {
        let votes: Vec<Vote> = (0..k)
            .map(|j| {
                let voter = ((height - 1) * k + j) as u64;
                let mut seed = [0u8; 32];
                seed[..8].copy_from_slice(&voter.to_be_bytes());
                let choice = &ballot.options[voter as usize % ballot.options.len()];
                Vote::sign(
                    VoterKey::from_seed(seed).signing_key(),
                    genesis.hash(),
                    choice,
                )
            })
            .collect();
        let ts = START_MS + height as u64;
        let t = BlockTemplate::new(
            parent.hash(),
            parent.height(),
            difficulty,
            ts,
            "bench",
            votes,
        )?;
        let block = (0u64..)
            .map(|nonce| t.seal(nonce))
            .find(|b| b.hash().leading_zero_bits() >= difficulty)
            .context("nonce space exhausted")?;
        parent = block.clone();
        blocks.push(block);
    }
    let (mut store, recovered) =
        Store::open(path).with_context(|| format!("creating {}", path.display()))?;
    ensure!(
        recovered.blocks.is_empty(),
        "{} is not a fresh store",
        path.display()
    );
    let start = Instant::now();
    for block in std::iter::once(genesis).chain(&blocks) {
        store
            .append_block(block)
            .with_context(|| format!("appending to {}", path.display()))?;
    }
    Ok(start.elapsed())
}

/// Reopens the store at `path` and validates every block into a fresh chain state, with batched
/// or one-by-one signature checks. Checks the outcome: every block on the best chain and
/// `n_votes` votes in the tally.
fn validate_store(path: &Path, args: &Args, n_votes: usize, batched: bool) -> anyhow::Result<Pass> {
    let start = Instant::now();
    let (_store, recovered) =
        Store::open(path).with_context(|| format!("opening {}", path.display()))?;
    let read = start.elapsed();
    ensure!(
        recovered.cut_bytes == 0,
        "store was cut: {:?}",
        recovered.cut_reason
    );
    let mut blocks = recovered.blocks.into_iter();
    let genesis = blocks.next().context("empty store")?;
    let ballot = genesis
        .ballot()
        .context("first block is not a genesis block")?;
    let mut state = ChainState::new(ballot, ChainConfig::default())?;
    ensure!(
        state.tip_hash() == genesis.hash(),
        "genesis does not match its ballot"
    );
    // The chain's last timestamp is the validator's clock, as for a peer that just mined it.
    let now_ms = START_MS + args.blocks as u64;
    let blocks: Vec<Block> = blocks.collect();
    let check = |outcome: Result<AddOutcome, _>| -> anyhow::Result<()> {
        match outcome.context("a benchmark block failed validation")? {
            AddOutcome::Added(_) => Ok(()),
            other => anyhow::bail!("block not added: {other:?}"),
        }
    };
    if batched {
        for window in blocks.chunks(args.window) {
            for verified in verify_blocks(window.to_vec(), ballot.difficulty) {
                let verified =
                    verified.map_err(|(b, e)| anyhow::anyhow!("block {}: {e}", b.hash()))?;
                check(state.add_verified(verified, now_ms))?;
            }
        }
    } else {
        for block in blocks {
            check(state.add_block(block, now_ms))?;
        }
    }
    let total = start.elapsed();
    ensure!(
        state.height() == args.blocks as u64,
        "chain height {}",
        state.height()
    );
    ensure!(
        state.tally().total() == n_votes as u64,
        "tally counts {}",
        state.tally().total()
    );
    Ok(Pass { read, total })
}

/// A fresh directory under the system temp dir, named by process id and clock so concurrent
/// runs do not collide.
fn temp_dir() -> anyhow::Result<PathBuf> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "votechain-bench-validate-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
