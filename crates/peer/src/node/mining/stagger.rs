//! The mining stagger: which pending votes this peer is due to mine now. A vote submitted here
//! (the console, or a client's SUBMIT_VOTE) is mined at once; a vote that came any other way (a
//! peer relayed it, a reorganisation returned it, a restart restored it) is mined only after a
//! random grace period counted from when the plan first saw it. The peer a vote was submitted to
//! has usually mined it, and its block has arrived, long before then, so one peer mines each
//! vote instead of every peer mining it and tying with each other; and if that peer dies, the
//! others mine the vote once their grace is over.
//!
//! The grace is `relay_grace_ms` plus three times the block time measured here (so a slow
//! miner's peers wait for it), at most [`RELAY_GRACE_CAP_MS`], and the wait is drawn uniformly
//! between one and two graces, so peers that waited do not all start at once either. A grace of
//! 0 turns the stagger off: every peer mines every vote at once.

use crate::config::RELAY_GRACE_CAP_MS;
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};
use votechain_chain::{Hash, Pool};

/// How many block times the grace adds: the submitter finds its block within three block times
/// 95 % of the time.
const BLOCK_TIMES_OF_GRACE: u64 = 3;

/// Per pending vote, whether and when this peer mines it. See the module docs.
#[derive(Debug, Default)]
pub(super) struct Stagger {
    /// Pending votes submitted at this peer: mined at once. Pruned to the pool at each review,
    /// and only grows with votes the pool accepted, so the pool's cap bounds it.
    own: BTreeSet<Hash>,
    /// Every other pending vote, with the time from which this peer mines it. Pruned like `own`.
    due: BTreeMap<Hash, u64>,
    /// When the miner started its current job, to measure the block time.
    job_started_ms: Option<u64>,
    /// The block time measured here (a moving average of job start to block found), once a
    /// block was found.
    block_ms: Option<u64>,
}

/// What a review of the pool found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Review {
    /// Some pending vote is due to be mined now.
    pub any_due: bool,
    /// The earliest time a pending vote not yet due becomes due: the plan's timer.
    pub next_due_ms: Option<u64>,
}

impl Stagger {
    /// The vote `id` was submitted at this peer and accepted into the pool.
    /// The votes submitted here that `pool` still holds, in id order; the others are
    /// forgotten (a peer that does not mine never reviews, so they are pruned here too).
    pub(super) fn own_pending(&mut self, pool: &Pool) -> impl Iterator<Item = &Hash> {
        self.own.retain(|id| pool.contains(id));
        self.own.iter()
    }

    pub(super) fn own_vote(&mut self, id: Hash) {
        self.own.insert(id);
    }

    /// The miner started a new job at `now_ms`.
    pub(super) fn job_started(&mut self, now_ms: u64) {
        self.job_started_ms = Some(now_ms);
    }

    /// The miner was stopped: the running job measures nothing.
    pub(super) fn job_stopped(&mut self) {
        self.job_started_ms = None;
    }

    /// The miner found a block at `now_ms`: one sample of the block time. Hashing is
    /// memoryless, so the time since the job's last restart is a fair sample.
    pub(super) fn mined(&mut self, now_ms: u64) {
        let Some(started) = self.job_started_ms.take() else {
            return;
        };
        let sample = now_ms.saturating_sub(started);
        self.block_ms = Some(match self.block_ms {
            None => sample,
            Some(mean) => mean.saturating_mul(3).saturating_add(sample) / 4,
        });
    }

    /// The wait before mining a vote first seen now: between one and two graces.
    fn wait(&self, rng: &mut impl Rng, relay_grace_ms: u64) -> u64 {
        if relay_grace_ms == 0 {
            return 0;
        }
        let measured = self.block_ms.unwrap_or(0);
        let grace = relay_grace_ms
            .saturating_add(measured.saturating_mul(BLOCK_TIMES_OF_GRACE))
            .min(RELAY_GRACE_CAP_MS);
        rng.gen_range(grace..=grace.saturating_mul(2))
    }

    /// Brings the bookkeeping up to date with `pool`: votes first seen get their due time,
    /// votes gone from the pool are forgotten. O(pending votes).
    pub(super) fn review(
        &mut self,
        now_ms: u64,
        rng: &mut impl Rng,
        pool: &Pool,
        relay_grace_ms: u64,
    ) -> Review {
        self.own.retain(|id| pool.contains(id));
        self.due.retain(|id, _| pool.contains(id));
        let mut review = Review {
            any_due: false,
            next_due_ms: None,
        };
        for id in pool.ids() {
            if self.own.contains(id) {
                review.any_due = true;
                continue;
            }
            let due = match self.due.get(id) {
                Some(due) => *due,
                None => {
                    let due = now_ms.saturating_add(self.wait(rng, relay_grace_ms));
                    self.due.insert(*id, due);
                    due
                }
            };
            if due <= now_ms {
                review.any_due = true;
            } else {
                review.next_due_ms = Some(review.next_due_ms.map_or(due, |d| d.min(due)));
            }
        }
        review
    }

    /// True when the pending vote `id` is due to be mined here at `now_ms`.
    pub(super) fn is_due(&self, id: &Hash, now_ms: u64) -> bool {
        self.own.contains(id) || self.due.get(id).is_some_and(|due| *due <= now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn id(n: u8) -> Hash {
        Hash([n; 32])
    }

    #[test]
    fn the_wait_grows_with_the_block_time_up_to_the_cap() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut s = Stagger::default();
        assert_eq!(s.wait(&mut rng, 0), 0, "a grace of 0 turns the stagger off");
        for _ in 0..100 {
            let w = s.wait(&mut rng, 1_000);
            assert!((1_000..=2_000).contains(&w), "{w}");
        }
        s.job_started(0);
        s.mined(400);
        assert_eq!(s.block_ms, Some(400));
        s.job_started(1_000);
        s.mined(1_800);
        assert_eq!(s.block_ms, Some(500), "a moving average");
        for _ in 0..100 {
            let w = s.wait(&mut rng, 1_000);
            assert!((2_500..=5_000).contains(&w), "{w}");
        }
        s.job_started(0);
        s.mined(1_000_000);
        for _ in 0..100 {
            let w = s.wait(&mut rng, 1_000);
            assert!(
                (RELAY_GRACE_CAP_MS..=2 * RELAY_GRACE_CAP_MS).contains(&w),
                "{w}"
            );
        }
        s.job_stopped();
        s.mined(2_000_000);
        assert!(s.block_ms < Some(500_000), "a stopped job is no sample");
    }

    #[test]
    fn is_due_needs_an_own_vote_or_a_past_due_time() {
        let mut s = Stagger::default();
        s.own_vote(id(1));
        s.due.insert(id(2), 100);
        assert!(s.is_due(&id(1), 0));
        assert!(!s.is_due(&id(2), 99));
        assert!(s.is_due(&id(2), 100));
        assert!(!s.is_due(&id(3), 1_000), "a vote not yet reviewed");
    }
}
