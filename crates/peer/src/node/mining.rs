//! The mining plan: whether the miner should run and on which template. [`MiningPlan`] is the
//! sub-state machine: the mode the user chose, the job handed to the miner, the mining stagger
//! (`mining/stagger.rs`: which pending votes this peer is due to mine), and breaking ties with
//! equal-work side branches. It is re-planned when something it depends on changed (the tip,
//! the pool, a sync starting or ending), at the end of a burst, on the timer and after a local
//! command — not after every datagram: re-planning during a burst of votes would hand the miner
//! a new template per vote, and at low difficulty it would finish many of them, each a sibling
//! block.
//!
//! At the default mode ([`MiningMode::WhenPending`]) a peer mines only the votes it is due to
//! mine — at once those submitted to it, after a grace period those it learned otherwise — and
//! never an empty block after them: so one peer mines each vote, no competing block follows,
//! and no empty block is needed to break a tie. An empty block is mined only to break a tie
//! that arose anyway (two peers mined the same votes: a vote submitted to both, or a submitter
//! slower than the grace), once the tie has lasted a random delay; the tie-breaker then takes
//! every pending vote, due or not, so it is empty only when nothing is pending.

mod stagger;

use super::{Node, Output};
use crate::config::MiningMode;
use rand::{Rng, RngCore};
use stagger::Stagger;
use votechain_chain::{BlockTemplate, ChainState, Hash};

/// Where breaking a tie with an equal-work side branch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TieBreak {
    /// No tie.
    None,
    /// Tied; mining for the tie waits until then (the timer wakes us).
    Waiting { until_ms: u64 },
    /// Tied and the wait is over: mine even with nothing pending. No deadline any more, so the
    /// timer is not armed in the past (the shell would spin).
    Due,
}

/// What the miner should be doing.
#[derive(Debug)]
pub(super) struct MiningPlan {
    /// The user's choice (`--mine`, the console's `mine on|off`).
    mode: MiningMode,
    /// The mode configured at start, which `mine on` returns to.
    configured: MiningMode,
    /// Something the plan depends on changed since it was last made.
    dirty: bool,
    /// Breaking a tie with an equal-work side branch: mining waits a random delay (so tied
    /// peers do not all break the tie at once and tie again, which at low difficulty would go
    /// on indefinitely), then is due until the tie is gone.
    tie_break: TieBreak,
    /// The template being mined as (parent, payload root), which commit to its votes, so an
    /// unchanged template is not re-sent.
    job: Option<(Hash, Hash)>,
    /// Which pending votes this peer is due to mine, and the block time measured here.
    stagger: Stagger,
    /// When the next pending vote becomes due (the timer wakes us then).
    next_due_ms: Option<u64>,
}

/// What the plan depends on besides its own state.
pub(super) struct Situation<'a> {
    /// The chain, once the election is known.
    pub chain: Option<&'a ChainState>,
    /// A sync is fetching blocks: mining on our tip would be wasted.
    pub syncing: bool,
    /// The name written into mined blocks.
    pub name: &'a str,
    /// Longest random wait before mining to break a tie.
    pub tie_break_delay_ms: u64,
    /// The shortest grace before mining a vote not submitted here (0: mine every vote at once).
    pub relay_grace_ms: u64,
}

impl MiningPlan {
    /// A plan in `mode` that needs making.
    pub(super) fn new(mode: MiningMode) -> MiningPlan {
        MiningPlan {
            mode,
            configured: mode,
            dirty: true,
            tie_break: TieBreak::None,
            job: None,
            stagger: Stagger::default(),
            next_due_ms: None,
        }
    }

    /// The vote `id` was submitted at this peer (its console or a client) and is pending: it is
    /// mined at once.
    pub(super) fn own_vote(&mut self, id: Hash) {
        self.stagger.own_vote(id);
        self.dirty = true;
    }

    /// The votes submitted here that `pool` still holds, at most `max`.
    pub(super) fn own_pending(&mut self, pool: &votechain_chain::Pool, max: usize) -> Vec<Hash> {
        self.stagger.own_pending(pool).take(max).copied().collect()
    }

    /// Something the plan depends on changed: make it again at the next chance.
    pub(super) fn touch(&mut self) {
        self.dirty = true;
    }

    /// True unless mining is off: this peer mines the votes submitted to it.
    pub(super) fn is_on(&self) -> bool {
        self.mode != MiningMode::Off
    }

    /// Mining on (back to the configured mode, or always when it was off) or off.
    pub(super) fn set_on(&mut self, on: bool) {
        self.dirty = true;
        self.mode = match (on, self.configured) {
            (false, _) => MiningMode::Off,
            (true, MiningMode::Off) => MiningMode::Always,
            (true, mode) => mode,
        };
    }

    /// The miner finished its job (a block was mined at `now_ms`): the next plan hands out a
    /// new one.
    pub(super) fn job_done(&mut self, now_ms: u64) {
        self.job = None;
        self.stagger.mined(now_ms);
    }

    /// When the timer must wake us: a tie's random moment, or a pending vote becoming due.
    pub(super) fn deadline(&self) -> Option<u64> {
        let tie = match self.tie_break {
            TieBreak::Waiting { until_ms } => Some(until_ms),
            TieBreak::None | TieBreak::Due => None,
        };
        tie.into_iter().chain(self.next_due_ms).min()
    }

    /// Makes the plan again if needed; returns the miner's new job (`Some(None)`: stop), or
    /// `None` when the miner should carry on as it is.
    pub(super) fn update(
        &mut self,
        now_ms: u64,
        rng: &mut impl Rng,
        s: Situation,
    ) -> Option<Option<BlockTemplate>> {
        // A tie's random moment may have come, or a vote become due (the timer wakes us).
        if let TieBreak::Waiting { until_ms } = self.tie_break {
            if now_ms >= until_ms {
                self.tie_break = TieBreak::Due;
                self.dirty = true;
            }
        }
        if self.next_due_ms.is_some_and(|due| now_ms >= due) {
            self.next_due_ms = None;
            self.dirty = true;
        }
        if !self.dirty {
            return None;
        }
        self.dirty = false;
        let contested = s.chain.is_some_and(ChainState::contested);
        if !contested {
            self.tie_break = TieBreak::None;
        } else if self.tie_break == TieBreak::None {
            let delay = rng.gen_range(0..=s.tie_break_delay_ms);
            self.tie_break = match delay {
                0 => TieBreak::Due,
                _ => TieBreak::Waiting {
                    until_ms: now_ms + delay,
                },
            };
        }
        // Which pending votes are due here; only the default mode staggers.
        let review = match (s.chain, self.mode) {
            (Some(c), MiningMode::WhenPending) => {
                Some(self.stagger.review(now_ms, rng, c.pool(), s.relay_grace_ms))
            }
            _ => None,
        };
        self.next_due_ms = review.and_then(|r| r.next_due_ms);
        // With nothing due a peer still mines once a tie with a side branch has lasted its
        // random delay: otherwise two equal forks would stand forever. It then takes every
        // pending vote, so the tie-breaker is empty only when nothing is pending.
        let tie_break_due = self.tie_break == TieBreak::Due;
        let any_due = review.is_some_and(|r| r.any_due);
        let stagger = &self.stagger;
        let template = match (s.chain, self.mode) {
            (None, _) | (_, MiningMode::Off) => None,
            _ if s.syncing => None,
            (Some(c), MiningMode::Always) => c.template(now_ms, s.name).ok(),
            (Some(c), MiningMode::WhenPending) if tie_break_due => c.template(now_ms, s.name).ok(),
            (Some(c), MiningMode::WhenPending) if any_due => c
                .template_with(now_ms, s.name, |id| stagger.is_due(id, now_ms))
                .ok(),
            (Some(_), MiningMode::WhenPending) => None,
        };
        match template {
            None => {
                self.stagger.job_stopped();
                self.job.take().map(|_| None)
            }
            Some(t) => {
                let key = (t.header().prev, t.header().payload_root);
                if self.job == Some(key) {
                    return None;
                }
                self.job = Some(key);
                self.stagger.job_started(now_ms);
                Some(Some(t))
            }
        }
    }
}

impl<R: RngCore> Node<R> {
    /// Keeps the miner on a template for the current tip and pool, or stops it.
    pub(super) fn update_mining(&mut self, now_ms: u64) {
        let situation = Situation {
            chain: self.chain.as_ref(),
            syncing: self.catchup.downloader.is_active(),
            name: &self.cfg.name,
            tie_break_delay_ms: self.cfg.tie_break_delay_ms,
            relay_grace_ms: self.cfg.relay_grace_ms,
        };
        if let Some(job) = self.mining.update(now_ms, &mut self.rng, situation) {
            self.out.push_back(Output::Mine(job));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use votechain_chain::{Ballot, ChainConfig, Vote, VoterKey};

    fn chain() -> ChainState {
        let ballot = Ballot::open("t", &["A", "B"], 1);
        ChainState::new(&ballot, ChainConfig::default()).unwrap()
    }

    fn situation(chain: &ChainState, syncing: bool) -> Situation<'_> {
        Situation {
            chain: Some(chain),
            syncing,
            name: "me",
            tie_break_delay_ms: 1_000,
            relay_grace_ms: 1_000,
        }
    }

    #[test]
    fn mines_always_once_per_template_and_stops_while_syncing() {
        let (c, mut rng) = (chain(), ChaCha8Rng::seed_from_u64(1));
        let mut plan = MiningPlan::new(MiningMode::Always);
        assert!(matches!(
            plan.update(1, &mut rng, situation(&c, false)),
            Some(Some(_))
        ));
        // Nothing changed: no new job.
        assert_eq!(plan.update(2, &mut rng, situation(&c, false)), None);
        plan.touch();
        assert_eq!(
            plan.update(3, &mut rng, situation(&c, false)),
            None,
            "same template"
        );
        plan.touch();
        assert_eq!(plan.update(4, &mut rng, situation(&c, true)), Some(None));
        plan.touch();
        assert_eq!(
            plan.update(5, &mut rng, situation(&c, true)),
            None,
            "already stopped"
        );
    }

    #[test]
    fn when_pending_waits_for_votes_and_off_is_off() {
        let (c, mut rng) = (chain(), ChaCha8Rng::seed_from_u64(1));
        let mut plan = MiningPlan::new(MiningMode::WhenPending);
        assert_eq!(plan.update(1, &mut rng, situation(&c, false)), None);
        plan.set_on(true);
        assert_eq!(
            plan.mode,
            MiningMode::WhenPending,
            "mine on returns to the configured mode"
        );
        plan.set_on(false);
        assert_eq!(plan.mode, MiningMode::Off);
        let mut off = MiningPlan::new(MiningMode::Off);
        off.set_on(true);
        assert_eq!(off.mode, MiningMode::Always);
    }

    #[test]
    fn a_ties_deadline_is_never_in_the_past() {
        let mut plan = MiningPlan::new(MiningMode::WhenPending);
        plan.tie_break = TieBreak::Waiting { until_ms: 50 };
        assert_eq!(plan.deadline(), Some(50));
        let (c, mut rng) = (chain(), ChaCha8Rng::seed_from_u64(1));
        plan.update(50, &mut rng, situation(&c, false));
        // The chain is not contested: the tie is over, and no deadline is left behind.
        assert_eq!(plan.deadline(), None);
    }

    /// Voter `i`'s vote for "A", pending in `c`.
    fn pending_vote(c: &mut ChainState, i: u8) -> Hash {
        let vote = Vote::sign(
            VoterKey::from_seed([i; 32]).signing_key(),
            c.election(),
            "A",
        );
        let id = vote.id();
        c.submit_vote(vote).unwrap();
        id
    }

    fn ids(job: Option<Option<BlockTemplate>>) -> Vec<Hash> {
        let Some(Some(t)) = job else {
            panic!("expected a new job, got {job:?}");
        };
        t.votes().iter().map(Vote::id).collect()
    }

    #[test]
    fn a_relayed_vote_waits_its_grace_then_is_mined() {
        let (mut c, mut rng) = (chain(), ChaCha8Rng::seed_from_u64(1));
        let relayed = pending_vote(&mut c, 1);
        let mut plan = MiningPlan::new(MiningMode::WhenPending);
        assert_eq!(plan.update(0, &mut rng, situation(&c, false)), None);
        let due = plan
            .deadline()
            .expect("the timer wakes us when the vote is due");
        assert!((1_000..=2_000).contains(&due), "{due}");
        assert_eq!(plan.update(due - 1, &mut rng, situation(&c, false)), None);
        assert_eq!(
            ids(plan.update(due, &mut rng, situation(&c, false))),
            [relayed]
        );
        assert_eq!(plan.deadline(), None);
    }

    #[test]
    fn an_own_vote_is_mined_at_once_without_the_relayed_ones() {
        let (mut c, mut rng) = (chain(), ChaCha8Rng::seed_from_u64(1));
        let relayed = pending_vote(&mut c, 1);
        let own = pending_vote(&mut c, 2);
        let mut plan = MiningPlan::new(MiningMode::WhenPending);
        plan.own_vote(own);
        assert_eq!(ids(plan.update(0, &mut rng, situation(&c, false))), [own]);
        // The relayed vote joins the template once it is due.
        let due = plan.deadline().expect("the relayed vote is not due yet");
        assert_eq!(
            ids(plan.update(due, &mut rng, situation(&c, false))),
            [relayed, own]
        );
    }

    #[test]
    fn without_a_grace_every_vote_is_mined_at_once_and_always_takes_all() {
        let (mut c, mut rng) = (chain(), ChaCha8Rng::seed_from_u64(1));
        let relayed = pending_vote(&mut c, 1);
        let mut plan = MiningPlan::new(MiningMode::WhenPending);
        let mut s = situation(&c, false);
        s.relay_grace_ms = 0;
        assert_eq!(ids(plan.update(0, &mut rng, s)), [relayed]);
        let mut always = MiningPlan::new(MiningMode::Always);
        assert_eq!(
            ids(always.update(0, &mut rng, situation(&c, false))),
            [relayed]
        );
        assert_eq!(always.deadline(), None, "only the default mode staggers");
    }
}
