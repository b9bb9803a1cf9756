//! Simulated networks of `comp3010` (COMP 3010 course) peers, each scenario over several seeds
//! (`SIM_SEEDS=n` for more, `SIM_SEED=n` to replay one, `SIM_TRACE=1` to print every datagram):
//!
//! - `course_lossy_words`: 8 peers that all know one well-known seed host, 20 % loss and 5 %
//!   duplication, words sent as NEW_WORD datagrams to random peers, 3 of them mining: after
//!   10 virtual minutes one tip everywhere, every chain valid, every word a miner got or mined
//!   in it exactly once.
//! - `course_partition_heals_and_keeps_every_word`: two halves mine apart for two minutes,
//!   then heal; the words of the losing branch are mined again, each once.
//! - `course_equal_length_fork_resolves`: two equal branches held by four peers each settle on
//!   one.
//! - `course_duplicated_word_is_mined_once`: a NEW_WORD that arrives twice is mined once.
//! - `course_liar_*`: the same with a peer that claims a far taller chain and serves bogus
//!   blocks (or nothing): the honest peers converge on the honest chain, and what they send the
//!   liar is bounded per consensus round.
//! - `course_late_joiner`: a peer with an empty chain joins a network holding 200 blocks and
//!   syncs to the common tip under loss while mining goes on.
//! - `course_long_sync_does_not_spin`, `course_sync_over_a_jittery_link`: a joiner syncs
//!   thousands of blocks over slow links, without its node asking its shell to spin.
//! - `course_same_seed_same_run`: a seed fixes the whole run.

use rand::Rng;
use std::net::SocketAddr;
use votechain_peer::course::node::CONSENSUS_MIN_GAP_MS;
use votechain_peer::course::sync::{EARLY_ROUNDS, MAX_FAILURES};
use votechain_peer::course::{CourseCommand, CourseEvent};
use votechain_sim::course::liar::BlockLie;
use votechain_sim::course::premine::{mine_on, premine};
use votechain_sim::course::{CourseLiar, CourseSim, CourseSimConfig, CourseSummary, PeerId};
use votechain_sim::harness::run_seeds;
use votechain_sim::LinkConfig;

/// Seeds per scenario in CI.
const CI_SEEDS: u64 = 4;
/// Peers in each network.
const N_PEERS: usize = 8;
/// The peers that mine (peer 0 is the well-known seed host).
const MINERS: [PeerId; 3] = [1, 4, 6];
/// Length of a run, in virtual milliseconds.
const RUN_MS: u64 = 600_000;
/// Words are sent during the first part of the run only; the rest lets the network settle.
const WORDS_UNTIL_MS: u64 = 240_000;

fn run(test: &str, scenario: fn(u64) -> Result<String, String>) {
    run_seeds("comp3010", test, CI_SEEDS, scenario);
}

/// `n` course peers on 20 % loss and 5 % duplication, every peer but 0 seeded with peer 0,
/// the [`MINERS`] mining, all starting from `chain`.
fn network(seed: u64, chain: Option<votechain_course::CourseChain>) -> CourseSim {
    let mut cfg = CourseSimConfig::new(seed);
    cfg.link = LinkConfig::lossy(0.20, 0.05);
    let mut sim = CourseSim::new(cfg);
    let chain = chain.unwrap_or_else(|| sim.empty_chain());
    let seed_host = CourseSim::addr_of(0);
    for id in 0..N_PEERS {
        sim.add_peer(chain.clone(), |c| {
            if id != 0 {
                c.seeds = vec![seed_host];
            }
            c.mine = MINERS.contains(&id);
        });
    }
    sim
}

/// Sends `n` distinct words a random 0.5–4 s apart, until `until_ms` at the latest: three in
/// four as NEW_WORD datagrams to a random peer, the fourth as the console's `word` command at
/// a random miner. Returns how many were sent.
fn send_words(sim: &mut CourseSim, n: usize, until_ms: u64, prefix: &str) -> usize {
    let mut sent = 0;
    for i in 0..n {
        if sim.now() >= until_ms {
            break;
        }
        let word = format!("{prefix}{i}");
        if i % 4 == 3 {
            let miner = MINERS[sim.rng().gen_range(0..MINERS.len())];
            // Mining is on at a miner, so the command only queues the word.
            if let Err(e) = sim.command(miner, CourseCommand::Word(word.clone())) {
                panic!("the word {word:?} was refused at miner {miner}: {e}");
            }
        } else {
            let n_peers = sim.n_peers();
            let peer = sim.rng().gen_range(0..n_peers);
            sim.send_word(peer, &word);
        }
        sent += 1;
        let gap = sim.rng().gen_range(500..4_000);
        sim.run_for(gap);
    }
    sent
}

fn summary(sim: &CourseSim, s: &CourseSummary, sent: usize) -> String {
    format!(
        "{} peers on {} blocks ({}…) at {} ms: {} of {sent} words sent reached a miner or were \
         mined, all once; {} datagrams ({} lost, {} duplicated)",
        s.peers,
        s.blocks,
        &s.tip.to_hex()[..12],
        s.at_ms,
        s.tracked_words,
        sim.net().stats.sent,
        sim.net().stats.lost,
        sim.net().stats.duplicated
    )
}

fn all_peers(sim: &CourseSim) -> Vec<PeerId> {
    (0..sim.n_peers()).collect()
}

/// The words, then the run to [`RUN_MS`], then the checks.
fn lossy_words(seed: u64) -> Result<String, String> {
    let mut sim = network(seed, None);
    sim.run_for(5_000);
    let sent = send_words(&mut sim, 120, WORDS_UNTIL_MS, "w");
    sim.run_until(RUN_MS);
    let s = sim.check(&all_peers(&sim))?;
    if sim.mined_words().len() < 10 {
        return Err(format!(
            "only {} words were mined: the scenario tests nothing",
            sim.mined_words().len()
        ));
    }
    Ok(summary(&sim, &s, sent))
}

#[test]
fn course_lossy_words() {
    run("course_lossy_words", lossy_words);
}

/// The lossy network split in two halves for two minutes, words mined on both sides, then
/// healed with words still coming: the losing side's miners mine their dropped words again, so
/// at the end every word any miner mined is in the one chain exactly once.
fn partition(seed: u64) -> Result<String, String> {
    let mut sim = network(seed, None);
    sim.run_for(5_000);
    // A common stem first, so the branches fork above the genesis block.
    let mut sent = send_words(&mut sim, 8, 30_000, "stem");
    sim.run_for(20_000);
    let side_a: Vec<SocketAddr> = (0..4).map(CourseSim::addr_of).collect();
    let side_b: Vec<SocketAddr> = (4..N_PEERS).map(CourseSim::addr_of).collect();
    sim.net_mut().partition(&side_a, &side_b, true);
    for i in 0..60 {
        // Words go to the miners of both sides in turn.
        let miner = MINERS[i % MINERS.len()];
        sim.send_word(miner, &format!("split{i}"));
        sent += 1;
        sim.run_for(2_000);
    }
    sim.net_mut().heal();
    let until = sim.now() + 100_000;
    sent += send_words(&mut sim, 40, until, "healed");
    sim.run_until(RUN_MS);
    let s = sim.check(&all_peers(&sim))?;
    let reorgs: usize = (0..N_PEERS)
        .map(|id| {
            sim.events_of(id)
                .iter()
                .filter(|(_, e)| matches!(e, CourseEvent::Reorganised { .. }))
                .count()
        })
        .sum();
    if reorgs == 0 {
        return Err("no peer switched branches: the partition tested nothing".into());
    }
    Ok(format!(
        "{reorgs} branch switches; {}",
        summary(&sim, &s, sent)
    ))
}

#[test]
fn course_partition_heals_and_keeps_every_word() {
    run("course_partition_heals_and_keeps_every_word", partition);
}

/// Two equal branches on a quiet LAN: peers 0–3 hold a common stem plus block A, peers 4–7 the
/// stem plus block B, nobody mines. An equal-length fork that never resolves is one of the
/// seed implementations' failures; the network must settle on one branch.
fn equal_fork(seed: u64) -> Result<String, String> {
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
    let stem = premine(2, 5, 1, "founder", &mut rng);
    let epoch_s = votechain_sim::EPOCH_MS / 1_000;
    let mut a = stem.clone();
    mine_on(
        &mut a,
        vec!["branch a".into()],
        "miner a",
        epoch_s,
        &mut rng,
    );
    let mut b = stem;
    mine_on(
        &mut b,
        vec!["branch b".into()],
        "miner b",
        epoch_s,
        &mut rng,
    );
    let mut sim = CourseSim::new(CourseSimConfig::new(seed));
    for id in 0..N_PEERS {
        let chain = if id < N_PEERS / 2 {
            a.clone()
        } else {
            b.clone()
        };
        sim.add_peer(chain, |c| {
            if id != 0 {
                c.seeds = vec![CourseSim::addr_of(0)];
            }
        });
    }
    let ids = all_peers(&sim);
    match sim.converge(&ids, RUN_MS) {
        Some(ms) => {
            let s = sim.check(&ids)?;
            Ok(format!(
                "one branch ({}…) after {ms} ms",
                &s.tip.to_hex()[..12]
            ))
        }
        None => Err(format!(
            "the equal branches never resolved in {RUN_MS} ms\n{}",
            sim.describe(&ids)
        )),
    }
}

#[test]
fn course_equal_length_fork_resolves() {
    run("course_equal_length_fork_resolves", equal_fork);
}

/// Every NEW_WORD from the client to a fast miner arrives twice, the copy up to a few hundred
/// milliseconds later, often after the word was mined: it must not be mined again (the course
/// has no word id, so a duplicated datagram is the only way a word comes twice in this run).
fn duplicated_words(seed: u64) -> Result<String, String> {
    let mut cfg = CourseSimConfig::new(seed);
    cfg.mean_mine_ms = 50;
    let mut sim = CourseSim::new(cfg);
    sim.add_peer(sim.empty_chain(), |_| {});
    let miner = sim.add_peer(sim.empty_chain(), |c| {
        c.seeds = vec![CourseSim::addr_of(0)];
        c.mine = true;
    });
    let echoing = LinkConfig {
        min_latency_ms: 5,
        jitter_ms: 100,
        loss: 0.0,
        duplicate: 1.0,
    };
    let miner_addr = sim.peer_addr(miner);
    sim.net_mut()
        .set_link(votechain_sim::course::CLIENT_ADDR, miner_addr, echoing);
    sim.run_for(2_000);
    for i in 0..20 {
        sim.send_word(miner, &format!("twice{i}"));
        sim.run_for(1_000);
    }
    sim.run_for(60_000);
    let s = sim.check(&all_peers(&sim))?;
    Ok(format!(
        "{} words in {} blocks, each once",
        s.words, s.blocks
    ))
}

#[test]
fn course_duplicated_word_is_mined_once() {
    run("course_duplicated_word_is_mined_once", duplicated_words);
}

/// Consensus rounds peer `id` finished (each asks every peer for STATS once).
fn rounds_of(sim: &CourseSim, id: PeerId) -> u64 {
    sim.events_of(id)
        .iter()
        .filter(|(_, e)| {
            matches!(
                e,
                CourseEvent::ConsensusChose { .. } | CourseEvent::ConsensusKept { .. }
            )
        })
        .count() as u64
}

/// Where the liar lives.
fn liar_addr() -> SocketAddr {
    SocketAddr::from(([10, 6, 6, 6], 8999))
}

/// GET_BLOCKs one consensus round may send the liar when peer `id`'s chain holds `blocks`
/// blocks: the downloader's requests in flight to one peer, sent again after each stall until
/// [`MAX_FAILURES`] strikes drop the liar; one request per invalid block until the failures
/// drop it; and the step-back below our tip when the first bogus block "does not link" (it
/// looks like work), which doubles down to height 0: under 2 × `blocks`. Nothing depends on
/// the height the liar claims.
fn get_blocks_per_round(sim: &CourseSim, id: PeerId, blocks: u64) -> u64 {
    let per_peer = sim.node(id).config().download.per_peer as u64;
    let failures = u64::from(MAX_FAILURES);
    (failures + 1) * per_peer + failures + 2 * blocks
}

/// The lossy-words scenario with a liar that answers as `lie` (and ANNOUNCEs when `announce`).
fn with_liar(seed: u64, lie: BlockLie, announce: bool) -> Result<String, String> {
    let mut sim = network(seed, None);
    let mut liar = CourseLiar::new(liar_addr(), vec![CourseSim::addr_of(0)], 1_000_000, 2, lie);
    if announce {
        liar = liar.announcing(15_000);
    }
    sim.add_adversary(Box::new(liar));
    sim.run_for(5_000);
    let sent = send_words(&mut sim, 120, WORDS_UNTIL_MS, "w");
    sim.run_until(RUN_MS);
    let ids = all_peers(&sim);
    let s = sim.check(&ids)?;
    if s.blocks >= 1_000_000 || sim.mined_words().len() < 10 {
        return Err(format!(
            "the honest chain did not win or mined nothing: {} blocks, {} words mined",
            s.blocks,
            sim.mined_words().len()
        ));
    }
    // The liar's cost to each honest peer: one STATS per consensus round, rounds no more often
    // than the node's minimum gap allows (plus its early rounds), and per round a number of
    // GET_BLOCKs that does not grow with the height the liar claims.
    let most_rounds = RUN_MS / CONSENSUS_MIN_GAP_MS + u64::from(EARLY_ROUNDS) + 1;
    let mut worst = (0, 0, 0);
    for &id in &ids {
        let rounds = rounds_of(&sim, id);
        let stats = sim.sent_by_to(id, liar_addr(), Some("STATS"));
        let get_blocks = sim.sent_by_to(id, liar_addr(), Some("GET_BLOCK"));
        if rounds > most_rounds {
            return Err(format!(
                "peer {id} ran {rounds} consensus rounds in {RUN_MS} ms (at most {most_rounds})"
            ));
        }
        // A round still waiting for replies has asked but not finished: one more.
        if stats > rounds + 1 {
            return Err(format!(
                "peer {id} asked the liar for STATS {stats} times in {rounds} rounds"
            ));
        }
        let per_round = get_blocks_per_round(&sim, id, s.blocks);
        if get_blocks > stats * per_round {
            return Err(format!(
                "peer {id} sent the liar {get_blocks} GET_BLOCKs in {stats} rounds that asked it \
                 (bound {per_round} a round)\n{}",
                sim.describe(&ids)
            ));
        }
        worst = worst.max((get_blocks, stats, rounds));
    }
    let total = sim.sent_to(liar_addr(), None);
    Ok(format!(
        "{}; the liar got {total} datagrams, at most {} GET_BLOCK and {} STATS from one peer \
         ({} rounds)",
        summary(&sim, &s, sent),
        worst.0,
        worst.1,
        worst.2
    ))
}

#[test]
fn course_liar_bogus_blocks() {
    run("course_liar_bogus_blocks", |seed| {
        with_liar(seed, BlockLie::Bogus, false)
    });
}

#[test]
fn course_liar_silent_and_announcing() {
    run("course_liar_silent_and_announcing", |seed| {
        with_liar(seed, BlockLie::Silent, true)
    });
}

/// Blocks the network holds before the late joiner comes.
const PREMINED: u64 = 200;

/// How long a joiner may take to hold the network's chain: its first consensus round comes at
/// once and two more follow 10 s apart, and 200 blocks are a few seconds of GET_BLOCKs.
const JOIN_SYNC_MS: u64 = 40_000;

/// When peer `id` first reported a sync to at least `blocks` blocks, if ever.
fn synced_at(sim: &CourseSim, id: PeerId, blocks: u64) -> Option<u64> {
    sim.events_of(id)
        .iter()
        .find(|(_, e)| matches!(e, CourseEvent::Synced { blocks: b } if *b >= blocks))
        .map(|(t, _)| *t)
}

/// A network that starts from 200 blocks and mines on; a peer with an empty chain joins and
/// must reach the common tip under loss, within [`JOIN_SYNC_MS`].
fn late_joiner(seed: u64) -> Result<String, String> {
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
    let chain = premine(2, PREMINED, 3, "founder", &mut rng);
    let mut sim = network(seed, Some(chain));
    sim.run_for(5_000);
    let sent = send_words(&mut sim, 10, 60_000, "early");
    let joiner = sim.add_peer(sim.empty_chain(), |c| c.seeds = vec![CourseSim::addr_of(0)]);
    let started = sim.now();
    let sent = sent + send_words(&mut sim, 30, started + 90_000, "late");
    sim.run_until(started + 300_000);
    let ids = all_peers(&sim);
    let s = sim.check(&ids)?;
    if s.blocks <= PREMINED {
        return Err(format!(
            "no block was mined after the premine: {} blocks",
            s.blocks
        ));
    }
    let took = synced_at(&sim, joiner, PREMINED).map(|t| t - started);
    let failed = sim
        .events_of(joiner)
        .iter()
        .filter(|(_, e)| matches!(e, CourseEvent::CandidateFailed { .. }))
        .count();
    match took {
        Some(ms) if ms <= JOIN_SYNC_MS => Ok(format!(
            "joiner synced {PREMINED}+ blocks in {ms} ms; {}",
            summary(&sim, &s, sent)
        )),
        _ => Err(format!(
            "the joiner took {took:?} ms to sync {PREMINED} blocks (at most {JOIN_SYNC_MS}); \
             {failed} honest chains \"could not be fetched\" on the way:\n{}",
            sim.events_of(joiner)
                .iter()
                .filter(|(_, e)| matches!(
                    e,
                    CourseEvent::ConsensusChose { .. }
                        | CourseEvent::ConsensusKept { .. }
                        | CourseEvent::CandidateFailed { .. }
                        | CourseEvent::Synced { .. }
                ))
                .take(12)
                .map(|(t, e)| format!("  t={t} {e}\n"))
                .collect::<String>()
        )),
    }
}

#[test]
fn course_late_joiner() {
    run("course_late_joiner", late_joiner);
}

/// A link that loses and duplicates nothing: `min_ms` plus a mean `jitter_ms` each way.
fn lossless(min_ms: u64, jitter_ms: u64) -> LinkConfig {
    LinkConfig {
        min_latency_ms: min_ms,
        jitter_ms,
        loss: 0.0,
        duplicate: 0.0,
    }
}

/// Three peers holding `blocks` premined blocks on `link`, and a joiner with an empty chain
/// that must hold them within `within_ms` of joining; [`CourseSim::check`] also demands that
/// no node asked its shell to wake it again at the instant it was woken.
fn sync_over(seed: u64, link: LinkConfig, blocks: u64, within_ms: u64) -> Result<String, String> {
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
    let chain = premine(2, blocks, 1, "founder", &mut rng);
    let mut cfg = CourseSimConfig::new(seed);
    cfg.link = link;
    let mut sim = CourseSim::new(cfg);
    for id in 0..3 {
        sim.add_peer(chain.clone(), |c| {
            if id != 0 {
                c.seeds = vec![CourseSim::addr_of(0)];
            }
        });
    }
    sim.run_for(5_000);
    let joiner = sim.add_peer(sim.empty_chain(), |c| c.seeds = vec![CourseSim::addr_of(0)]);
    let started = sim.now();
    sim.run_until(started + 120_000);
    let s = sim.check(&all_peers(&sim))?;
    let took = synced_at(&sim, joiner, blocks).map(|t| t - started);
    match took {
        Some(ms) if ms <= within_ms => Ok(format!(
            "joiner synced {} blocks in {ms} ms over {} events",
            s.blocks,
            sim.stats().events
        )),
        _ => Err(format!(
            "the joiner took {took:?} ms to sync {blocks} blocks (at most {within_ms})"
        )),
    }
}

/// A lossless 100 ms link and 9,000 blocks: the fetch outlasts the joiner's first early
/// round, which falls due while it runs; the node must neither spin nor lose the sync.
#[test]
fn course_long_sync_does_not_spin() {
    run("course_long_sync_does_not_spin", |seed| {
        sync_over(seed, lossless(100, 0), 9_000, 30_000)
    });
}

/// A lossless but slow and jittery WAN (150 ms plus 100 ms mean jitter each way, so some
/// replies come after the downloader's first 500 ms deadline): 2,000 blocks still sync in one
/// go, late replies being no evidence of a lying peer.
#[test]
fn course_sync_over_a_jittery_link() {
    run("course_sync_over_a_jittery_link", |seed| {
        sync_over(seed, lossless(150, 100), 2_000, 30_000)
    });
}

/// Runs the liar scenario twice per seed and compares digests.
#[test]
fn course_same_seed_same_run() {
    run("course_same_seed_same_run", |seed| {
        let once = |seed| {
            let mut sim = network(seed, None);
            sim.add_adversary(Box::new(CourseLiar::new(
                liar_addr(),
                vec![CourseSim::addr_of(0)],
                1_000_000,
                2,
                BlockLie::Bogus,
            )));
            sim.run_for(5_000);
            send_words(&mut sim, 30, 60_000, "w");
            sim.run_until(120_000);
            (sim.digest(), sim.stats().events)
        };
        let (a, b) = (once(seed), once(seed));
        if a != b {
            return Err(format!("two runs of one seed differ: {a:?} vs {b:?}"));
        }
        Ok(format!("digest {:016x} over {} events", a.0, a.1))
    });
}
