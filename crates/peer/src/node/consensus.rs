//! Consensus rounds: STATS to every peer (up to a fanout), replies collected until a deadline
//! or until all asked have answered, then the most-work chain reported is fetched by the
//! downloader if it beats or ties ours. [`Rounds`] is the sub-state machine (schedule, the round
//! in progress, choosing the best claim); the `Node` handlers below wire it to the network.

use super::{Event, Inbound, Node, Output};
use crate::downloader::Target;
use rand::RngCore;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use votechain_chain::Hash;
use votechain_proto::{GetBlock, Stats, StatsReply};

/// Most peers asked for STATS in one round.
const ROUND_FANOUT: usize = 32;
/// Shortest gap between two consensus rounds started by CONSENSUS messages or strangers' blocks.
const MIN_GAP_MS: u64 = 2_000;

/// A consensus round in progress: STATS sent, replies collected until the deadline.
#[derive(Debug)]
struct Round {
    /// When the round ends, whoever has not replied.
    deadline_ms: u64,
    /// How many peers were asked: the round ends early once all of them replied.
    asked: usize,
    /// Each proven peer's claim: (blocks, tip hash). Ordered, so the choice is the same on
    /// every run.
    replies: BTreeMap<SocketAddr, (u64, Hash)>,
    /// Someone asked for this round (the console's `consensus`) and is told how it ended.
    requested: bool,
}

/// How a round ended.
#[derive(Debug)]
struct Finished {
    /// Peers asked.
    asked: usize,
    /// Peers that answered in time.
    replied: usize,
    /// The round was asked for, so its outcome is reported.
    requested: bool,
    /// The chain to fetch, if one beats or ties ours.
    target: Option<Target>,
}

/// When rounds run, and the one in progress.
#[derive(Debug, Default)]
pub(super) struct Rounds {
    /// The round in progress.
    round: Option<Round>,
    /// When the last round started: rounds asked for from outside keep a minimum gap.
    last_ms: u64,
    /// When the next periodic round is due.
    next_ms: u64,
    /// The next round to start was asked for (the console's `consensus`).
    requested: bool,
}

impl Rounds {
    /// The next time a round needs the timer: its deadline or the next periodic round.
    pub(super) fn deadline(&self) -> Option<u64> {
        Some(match &self.round {
            Some(r) => r.deadline_ms.min(self.next_ms),
            None => self.next_ms,
        })
    }

    /// True when the periodic round is due.
    pub(super) fn due(&self, now_ms: u64) -> bool {
        now_ms >= self.next_ms
    }

    /// True when the round in progress has reached its deadline.
    pub(super) fn expired(&self, now_ms: u64) -> bool {
        self.round.as_ref().is_some_and(|r| now_ms >= r.deadline_ms)
    }

    /// True when a round asked for from outside (a CONSENSUS message, a stranger's far-ahead
    /// block) may start now.
    pub(super) fn may_start_early(&self, now_ms: u64) -> bool {
        now_ms >= self.last_ms + MIN_GAP_MS
    }

    /// Brings the next periodic round forward to `at` at the latest.
    pub(super) fn hurry(&mut self, at_ms: u64) {
        self.next_ms = self.next_ms.min(at_ms);
    }

    /// A round starts now: the next periodic one is due `interval_ms` later.
    fn begin(&mut self, now_ms: u64, interval_ms: u64) {
        self.last_ms = now_ms;
        self.next_ms = now_ms + interval_ms;
    }

    /// `asked` peers were asked: their replies are collected for `wait_ms`.
    fn open(&mut self, now_ms: u64, wait_ms: u64, asked: usize) {
        self.round = Some(Round {
            deadline_ms: now_ms + wait_ms,
            asked,
            replies: BTreeMap::new(),
            requested: std::mem::take(&mut self.requested),
        });
    }

    /// The next round was asked for: its outcome is to be reported.
    pub(super) fn request(&mut self) {
        self.requested = true;
    }

    /// Records `from`'s claim; true when every peer asked has now replied.
    fn record(&mut self, from: SocketAddr, claim: (u64, Hash)) -> bool {
        match &mut self.round {
            Some(round) => {
                round.replies.insert(from, claim);
                round.replies.len() >= round.asked
            }
            None => false,
        }
    }

    /// Ends the round in progress: the most-work chain reported (most reporters on a tie) that
    /// is at least `ours` blocks long and not one `we_hold`, with the peers that reported it.
    fn finish(&mut self, ours: u64, we_hold: impl Fn(&Hash) -> bool) -> Option<Finished> {
        let round = self.round.take()?;
        Some(Finished {
            asked: round.asked,
            replied: round.replies.len(),
            requested: round.requested,
            target: Rounds::choose(&round, ours, we_hold),
        })
    }

    /// The chain a finished round fetches, if any.
    fn choose(round: &Round, ours: u64, we_hold: impl Fn(&Hash) -> bool) -> Option<Target> {
        let mut best: Option<(u64, usize, Hash)> = None;
        for (height, hash) in round.replies.values() {
            // A chain as long as ours that we do not hold is fetched too: it is an equal-work
            // fork, and only once this node holds both tips does it see the tie (`contested`)
            // and mine to break it. Ignoring it left peers split forever when each tip's
            // NEW_BLOCK was lost on the way to the other side.
            if *height < ours || we_hold(hash) {
                continue;
            }
            let agree = round
                .replies
                .values()
                .filter(|r| **r == (*height, *hash))
                .count();
            let candidate = (*height, agree, *hash);
            // The full tuple decides, so ties are broken the same way on every run.
            if best.is_none_or(|b| candidate > b) {
                best = Some(candidate);
            }
        }
        let (blocks, _, hash) = best?;
        let peers = round
            .replies
            .iter()
            .filter(|(_, r)| **r == (blocks, hash))
            .map(|(a, _)| *a)
            .collect();
        Some(Target {
            blocks,
            hash,
            peers,
        })
    }
}

impl<R: RngCore> Node<R> {
    /// STATS: our height and tip, small enough for anyone.
    pub(super) fn on_stats(&mut self, now_ms: u64, input: Inbound) {
        if let Some(chain) = &self.chain {
            let reply = StatsReply {
                height: chain.height() + 1,
                hash: chain.tip_hash(),
            };
            self.reply(now_ms, input, &reply.into());
        }
    }

    /// STATS_REPLY: a claim about a peer's chain, which may make it a sync target, so it counts
    /// only from a peer of our table that proves its origin: a forged claim "from" an honest
    /// peer would otherwise have us strike it for not serving what it never claimed.
    pub(super) fn on_stats_reply(&mut self, now_ms: u64, input: Inbound, height: u64, hash: Hash) {
        let from = input.from;
        if !input.proven {
            return self.ignore(from, "unproven STATS_REPLY");
        }
        let Some(peer) = self
            .peers
            .get_mut(&from)
            .filter(|p| p.other_election.is_none())
        else {
            self.stats.ignored += 1;
            return;
        };
        peer.reported = Some((height, hash));
        self.catchup.downloader.on_short(from, height);
        if self.rounds.record(from, (height, hash)) {
            self.finish_round(now_ms);
        }
    }

    /// CONSENSUS: a round now, unless one started less than the minimum gap ago.
    pub(super) fn on_consensus(&mut self, now_ms: u64) {
        if self.rounds.may_start_early(now_ms) {
            self.start_round(now_ms);
        }
    }

    /// Asks every peer (up to a fanout) for STATS; the round ends after `stats_wait_ms`.
    /// Without an election yet (and no tracker), asks the seeds for their genesis instead.
    pub(super) fn start_round(&mut self, now_ms: u64) {
        self.rounds.begin(now_ms, self.cfg.consensus_interval_ms);
        self.resubmit_own_votes(now_ms);
        if self.chain.is_none() {
            // Nothing to report yet: the console already said the election is not known.
            self.rounds.requested = false;
            if self.tracker.tracker().is_none() {
                self.ask_seeds_for_genesis(now_ms);
            }
            return;
        }
        let asked = self.peers.sample(&mut self.rng, ROUND_FANOUT, now_ms, None);
        if asked.is_empty() {
            if std::mem::take(&mut self.rounds.requested) {
                let ours = self.chain.as_ref().map_or(0, |c| c.height() + 1);
                let done = Event::ConsensusDone {
                    asked: 0,
                    replied: 0,
                    fetching: None,
                    ours,
                };
                self.out.push_back(Output::Event(done));
            }
            return;
        }
        self.rounds
            .open(now_ms, self.cfg.stats_wait_ms, asked.len());
        for to in asked {
            self.send(now_ms, to, &Stats {}.into());
        }
    }

    /// Without a tracker, the election comes from a seed's genesis block.
    pub(super) fn ask_seeds_for_genesis(&mut self, now_ms: u64) {
        for seed in self.cfg.seeds.clone() {
            let ask = GetBlock {
                height: 0,
                hash: None,
            };
            self.send_request(now_ms, seed, &ask.into());
        }
    }

    /// Ends the round: fetches the best chain reported if it is not the one being fetched. A
    /// liar's claim costs a few stalled requests, then a ban.
    pub(super) fn finish_round(&mut self, now_ms: u64) {
        let Some(chain) = self.chain.as_ref() else {
            self.rounds.round = None;
            return;
        };
        let ours = chain.height() + 1;
        let Some(finished) = self.rounds.finish(ours, |h| chain.contains(h)) else {
            return;
        };
        if finished.requested {
            let fetching = finished
                .target
                .as_ref()
                .map(|t| (t.blocks, t.hash, t.peers.len()));
            let done = Event::ConsensusDone {
                asked: finished.asked,
                replied: finished.replied,
                fetching,
                ours,
            };
            self.out.push_back(Output::Event(done));
        }
        let Some(target) = finished.target else {
            return;
        };
        if self.catchup.is_fetching(&target.hash) {
            return;
        }
        self.start_sync(now_ms, target);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn the_longest_claim_wins_then_the_most_reported() {
        let mut r = Rounds::default();
        r.begin(0, 10_000);
        r.open(0, 500, 4);
        let (a, b) = (Hash([1; 32]), Hash([2; 32]));
        assert!(!r.record(addr(1), (5, a)));
        assert!(!r.record(addr(2), (6, b)));
        assert!(!r.record(addr(3), (6, b)));
        assert!(r.record(addr(4), (4, Hash([3; 32]))));
        let t = r
            .finish(5, |_| false)
            .and_then(|f| f.target)
            .expect("a chain to fetch");
        assert_eq!((t.blocks, t.hash, t.peers), (6, b, vec![addr(2), addr(3)]));
        assert!(r.finish(5, |_| false).is_none(), "the round is over");
    }

    #[test]
    fn shorter_chains_and_chains_we_hold_are_not_fetched_but_equal_forks_are() {
        let mut r = Rounds::default();
        let (ours, fork) = (Hash([1; 32]), Hash([2; 32]));
        r.open(0, 500, 3);
        r.record(addr(1), (5, ours));
        r.record(addr(2), (4, Hash([9; 32])));
        assert!(r.finish(5, |h| *h == ours).and_then(|f| f.target).is_none());
        r.open(0, 500, 3);
        r.record(addr(3), (5, fork));
        assert_eq!(
            r.finish(5, |h| *h == ours)
                .and_then(|f| f.target)
                .map(|t| t.hash),
            Some(fork)
        );
    }

    #[test]
    fn rounds_from_outside_keep_their_gap_and_hurry_only_brings_forward() {
        let mut r = Rounds::default();
        r.begin(1_000, 10_000);
        assert!(!r.may_start_early(1_000 + MIN_GAP_MS - 1));
        assert!(r.may_start_early(1_000 + MIN_GAP_MS));
        r.hurry(20_000);
        assert_eq!(r.deadline(), Some(11_000));
        r.hurry(5_000);
        assert_eq!(r.deadline(), Some(5_000));
        assert!(r.due(5_000) && !r.due(4_999));
        r.open(1_000, 500, 1);
        assert_eq!(r.deadline(), Some(1_500));
        assert!(r.expired(1_500) && !r.expired(1_499));
    }
}
