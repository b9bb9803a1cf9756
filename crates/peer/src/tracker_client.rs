//! The node's side of the tracker protocol: register (answering the tracker's address
//! challenge), fetch the ballot, answer heartbeats, and register again when the tracker goes
//! quiet — it restarted, or evicted us while we were unreachable. Retries back off
//! exponentially up to a cap, so a dead tracker costs a datagram every few seconds. A tracker
//! that has not answered for [`FIRST_WARNING_MS`] is reported ([`TrackerClient::unanswered`]),
//! then again at doubling intervals: a user whose tracker is not running learns it in seconds.

/// How long registration may go unanswered before the first warning.
pub const FIRST_WARNING_MS: u64 = 3_000;
/// Longest gap between two warnings about an unanswered tracker.
const WARNING_CAP_MS: u64 = 60_000;

use crate::config::NodeConfig;
use std::net::SocketAddr;
use votechain_chain::Hash;
use votechain_proto::{Message, PokeAck, RegisterPeer, RequestBallot};

/// Where registration stands, as the console's `stats` tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackerStatus {
    /// No tracker configured.
    NoTracker,
    /// Registered; the tracker pokes us.
    Registered,
    /// Registering; unanswered for this long (0 before the first attempt).
    Registering {
        /// How long the current attempt has gone unanswered.
        unanswered_ms: u64,
    },
    /// The tracker refused us: it serves another election (its id and title).
    Refused {
        /// The tracker's election.
        election: Hash,
        /// Its title, as the tracker sent it.
        title: String,
    },
}

/// Where registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No tracker configured: the node lives on gossip alone.
    NoTracker,
    /// Sending REGISTER_PEER until REGISTER_ACK arrives.
    Registering,
    /// Registered; the tracker pokes us.
    Registered,
}

/// The tracker client.
#[derive(Debug)]
pub struct TrackerClient {
    tracker: Option<SocketAddr>,
    name: String,
    phase: Phase,
    /// Consecutive unanswered attempts, for the backoff.
    attempts: u32,
    /// When to send the next REGISTER_PEER or REQUEST_BALLOT.
    next_try_ms: u64,
    /// Last time the tracker poked us (or acknowledged us).
    last_heard_ms: u64,
    /// True once the ballot arrived (from the tracker or from a stored or gossiped genesis).
    have_ballot: bool,
    /// The election we hold, named in REGISTER_PEER so a tracker of another one refuses us.
    election: Option<Hash>,
    /// The tracker's last refusal (its election and title), until it registers us.
    refused: Option<(Hash, String)>,
    /// When the current registration attempt started (first REGISTER_PEER unanswered since).
    registering_since_ms: Option<u64>,
    /// When the next warning about an unanswered tracker is due, and the gap after it.
    next_warning: (u64, u64),
    base_ms: u64,
    cap_ms: u64,
    silence_ms: u64,
}

impl TrackerClient {
    /// A client for `cfg.tracker`, ready to register at once.
    pub fn new(cfg: &NodeConfig) -> TrackerClient {
        TrackerClient {
            tracker: cfg.tracker,
            name: cfg.name.clone(),
            phase: if cfg.tracker.is_some() {
                Phase::Registering
            } else {
                Phase::NoTracker
            },
            attempts: 0,
            next_try_ms: 0,
            last_heard_ms: 0,
            have_ballot: false,
            election: None,
            refused: None,
            registering_since_ms: None,
            next_warning: (0, FIRST_WARNING_MS),
            base_ms: cfg.retry_base_ms,
            cap_ms: cfg.retry_cap_ms,
            silence_ms: cfg.tracker_silence_ms,
        }
    }

    /// The tracker's address.
    pub fn tracker(&self) -> Option<SocketAddr> {
        self.tracker
    }

    /// True when `addr` is the tracker.
    pub fn is_tracker(&self, addr: &SocketAddr) -> bool {
        self.tracker.as_ref() == Some(addr)
    }

    /// Where registration stands.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Records that the ballot is known, so it is not requested again.
    pub fn ballot_known(&mut self) {
        self.have_ballot = true;
    }

    /// Records the election we hold: REGISTER_PEER names it from now on.
    pub fn holds(&mut self, election: Hash) {
        self.have_ballot = true;
        self.election = Some(election);
    }

    /// REGISTER_REFUSED from the tracker (proven): it serves `election`, not ours. We keep
    /// registering with backoff (the tracker may come back with our election, and a refusal
    /// must not stop us for good); true the first time this election is refused, so it is said
    /// once.
    pub fn on_refused(&mut self, election: Hash, title: &str) -> bool {
        if self.phase != Phase::Registering {
            return false;
        }
        let first = self.refused.as_ref().is_none_or(|(e, _)| *e != election);
        self.refused = Some((election, crate::peers::printable(title)));
        first
    }

    /// Where registration stands at `now_ms`.
    pub fn status(&self, now_ms: u64) -> TrackerStatus {
        match (self.phase, &self.refused) {
            (Phase::NoTracker, _) => TrackerStatus::NoTracker,
            (Phase::Registered, _) => TrackerStatus::Registered,
            (Phase::Registering, Some((election, title))) => TrackerStatus::Refused {
                election: *election,
                title: title.clone(),
            },
            (Phase::Registering, None) => TrackerStatus::Registering {
                unanswered_ms: self
                    .registering_since_ms
                    .map_or(0, |t| now_ms.saturating_sub(t)),
            },
        }
    }

    fn backoff(&mut self, now_ms: u64) {
        let delay = self
            .base_ms
            .saturating_mul(1 << self.attempts.min(16))
            .min(self.cap_ms);
        self.attempts += 1;
        self.next_try_ms = now_ms + delay;
    }

    /// Timer: what to send the tracker now, if anything.
    pub fn on_timeout(&mut self, now_ms: u64) -> Vec<Message> {
        let mut out = Vec::new();
        if self.phase == Phase::Registered
            && now_ms.saturating_sub(self.last_heard_ms) > self.silence_ms
        {
            tracing::info!(
                "tracker silent for {} ms: registering again",
                self.silence_ms
            );
            self.phase = Phase::Registering;
            self.attempts = 0;
            self.next_try_ms = now_ms;
        }
        if now_ms < self.next_try_ms {
            return out;
        }
        match self.phase {
            Phase::NoTracker => return out,
            Phase::Registering => {
                if self.registering_since_ms.is_none() {
                    self.registering_since_ms = Some(now_ms);
                    self.next_warning = (now_ms + FIRST_WARNING_MS, FIRST_WARNING_MS);
                }
                out.push(self.register_message())
            }
            Phase::Registered if !self.have_ballot => out.push(RequestBallot {}.into()),
            Phase::Registered => return out,
        }
        self.backoff(now_ms);
        out
    }

    /// The REGISTER_PEER we send.
    pub fn register_message(&self) -> Message {
        RegisterPeer {
            name: Some(self.name.clone()),
            election: self.election,
        }
        .into()
    }

    /// REGISTER_ACK arrived; returns what to send next: the ballot request. A node that holds
    /// its election already asks once per registration too, to check that the tracker still
    /// serves that election (a tracker restarted with another ballot, or a data directory from
    /// another election, is then said in so many words); without the ballot it asks until it
    /// comes.
    pub fn on_register_ack(&mut self, now_ms: u64) -> Vec<Message> {
        if self.phase == Phase::NoTracker {
            return Vec::new();
        }
        let newly = self.phase != Phase::Registered;
        self.phase = Phase::Registered;
        self.refused = None;
        self.last_heard_ms = now_ms;
        self.attempts = 0;
        self.registering_since_ms = None;
        if self.have_ballot {
            match newly {
                true => vec![RequestBallot {}.into()],
                false => Vec::new(),
            }
        } else {
            self.next_try_ms = now_ms;
            self.on_timeout(now_ms)
        }
    }

    /// Any datagram from the tracker shows it still knows us (POKE, UPDATE_PEERS).
    pub fn on_tracker_heard(&mut self, now_ms: u64) {
        if self.phase == Phase::Registered {
            self.last_heard_ms = now_ms;
        }
    }

    /// POKE arrived: the answer echoes its nonce.
    pub fn on_poke(&mut self, now_ms: u64, nonce: Option<u64>) -> Message {
        self.on_tracker_heard(now_ms);
        PokeAck { nonce }.into()
    }

    /// How long registration has gone unanswered, when a warning about it is due now (the
    /// first after [`FIRST_WARNING_MS`], then at doubling intervals up to a minute); `None`
    /// otherwise. Each warning is returned once.
    pub fn unanswered(&mut self, now_ms: u64) -> Option<u64> {
        let since = self.registering_since_ms?;
        let (due, gap) = self.next_warning;
        // A refusal is an answer, said on its own.
        if self.phase != Phase::Registering || now_ms < due || self.refused.is_some() {
            return None;
        }
        let next_gap = (gap * 2).min(WARNING_CAP_MS);
        self.next_warning = (now_ms + next_gap, next_gap);
        Some(now_ms - since)
    }

    /// When [`TrackerClient::on_timeout`] (or a warning) next has work.
    pub fn next_deadline(&self) -> Option<u64> {
        match self.phase {
            Phase::NoTracker => None,
            Phase::Registering if self.registering_since_ms.is_some() => {
                Some(self.next_try_ms.min(self.next_warning.0))
            }
            Phase::Registering => Some(self.next_try_ms),
            Phase::Registered if !self.have_ballot => Some(self.next_try_ms),
            Phase::Registered => Some(self.last_heard_ms + self.silence_ms + 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> NodeConfig {
        let mut c = NodeConfig::new(SocketAddr::from(([127, 0, 0, 1], 6001)));
        c.tracker = Some(SocketAddr::from(([127, 0, 0, 1], 5000)));
        c
    }

    fn types(msgs: &[Message]) -> Vec<&'static str> {
        msgs.iter().map(Message::type_name).collect()
    }

    #[test]
    fn registers_with_backoff_then_asks_for_the_ballot() {
        let mut j = TrackerClient::new(&cfg());
        assert_eq!(types(&j.on_timeout(0)), ["REGISTER_PEER"]);
        assert!(j.on_timeout(100).is_empty(), "backs off");
        assert_eq!(types(&j.on_timeout(250)), ["REGISTER_PEER"]);
        assert!(j.on_timeout(600).is_empty(), "second delay is doubled");
        assert_eq!(types(&j.on_timeout(750)), ["REGISTER_PEER"]);
        assert_eq!(types(&j.on_register_ack(800)), ["REQUEST_BALLOT"]);
        j.ballot_known();
        assert!(j.on_timeout(5_000).is_empty());
    }

    #[test]
    fn a_node_that_knows_its_election_checks_it_once_per_registration() {
        let mut j = TrackerClient::new(&cfg());
        j.ballot_known();
        assert_eq!(types(&j.on_timeout(0)), ["REGISTER_PEER"]);
        assert_eq!(types(&j.on_register_ack(10)), ["REQUEST_BALLOT"]);
        assert!(
            j.on_register_ack(20).is_empty(),
            "a repeated ack asks nothing"
        );
        assert!(j.on_timeout(1_000).is_empty(), "and no retries");
    }

    #[test]
    fn silent_tracker_triggers_reregistration() {
        let mut j = TrackerClient::new(&cfg());
        j.ballot_known();
        j.on_register_ack(0);
        j.on_poke(1_000, Some(7));
        assert!(j.on_timeout(5_999).is_empty());
        assert_eq!(types(&j.on_timeout(6_001)), ["REGISTER_PEER"]);
        assert_eq!(j.phase(), Phase::Registering);
    }

    #[test]
    fn an_unanswered_tracker_is_reported_after_3_s_then_at_doubling_intervals() {
        let mut j = TrackerClient::new(&cfg());
        j.on_timeout(1_000);
        assert_eq!(j.unanswered(3_999), None);
        assert!(j.next_deadline().is_some_and(|d| d <= 4_000));
        assert_eq!(j.unanswered(4_000), Some(3_000));
        assert_eq!(j.unanswered(4_001), None, "once per due time");
        assert_eq!(j.unanswered(9_999), None);
        assert_eq!(j.unanswered(10_000), Some(9_000), "6 s later");
        assert_eq!(j.unanswered(22_000), Some(21_000), "12 s later");
        // Registered: no more warnings, and a later silence starts the count afresh.
        j.on_register_ack(23_000);
        assert_eq!(j.unanswered(100_000), None);
        j.on_timeout(200_000);
        assert_eq!(j.phase(), Phase::Registering);
        assert_eq!(j.unanswered(202_999), None);
        assert_eq!(j.unanswered(203_000), Some(3_000));
    }

    #[test]
    fn a_refusal_is_said_once_per_election_and_registration_goes_on() {
        let mut j = TrackerClient::new(&cfg());
        let (ours, theirs) = (Hash([1; 32]), Hash([2; 32]));
        j.holds(ours);
        let sent = j.on_timeout(0);
        assert!(
            matches!(&sent[..], [Message::RegisterPeer(r)] if r.election == Some(ours)),
            "REGISTER_PEER names the election we hold: {sent:?}"
        );
        assert!(j.on_refused(theirs, "Dinner"));
        assert!(!j.on_refused(theirs, "Dinner"), "said once");
        assert_eq!(
            j.status(10),
            TrackerStatus::Refused {
                election: theirs,
                title: "Dinner".into()
            }
        );
        assert_eq!(j.unanswered(60_000), None, "a refusal is an answer");
        assert_eq!(
            types(&j.on_timeout(60_000)),
            ["REGISTER_PEER"],
            "still trying"
        );
        j.on_register_ack(61_000);
        assert_eq!(j.status(61_000), TrackerStatus::Registered);
        assert!(
            !j.on_refused(theirs, "Dinner"),
            "registered: nothing to refuse"
        );
    }

    #[test]
    fn poke_is_answered_with_its_nonce() {
        let mut j = TrackerClient::new(&cfg());
        assert_eq!(j.on_poke(0, Some(42)), PokeAck { nonce: Some(42) }.into());
    }
}
