//! Joining: what an address gets before and as it becomes a member. REGISTER_PEER registers a
//! proven address (REGISTER_ACK with a peer list) and REQUEST_BALLOT gets BALLOT_OPTIONS; an
//! unproven request that may not have the full answer gets one small CHALLENGE carrying our
//! cookie, within the anti-amplification budget, so only the real owner of an address can join.
//! In a dialect without cookies, `confirm.rs` takes the CHALLENGE's place.

use super::{Event, Output, Registry};
use rand::RngCore;
use std::net::SocketAddr;
use votechain_chain::Hash;
use votechain_proto::limits::{unverified_reply_budget, ENVELOPE_RESERVE};
use votechain_proto::{Challenge, Cookie, RegisterPeer, RegisterRefused};

impl<R: RngCore> Registry<R> {
    /// REGISTER_PEER: a proven address joins (a member already in gets its list again); an
    /// unproven one gets a CHALLENGE; a full registry refuses, and so does a registry of
    /// another election than the one the peer holds (REGISTER_REFUSED says which, and why).
    pub(super) fn on_register(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        request_len: usize,
        proven: bool,
        m: RegisterPeer,
        cookie: Option<Cookie>,
    ) {
        if !proven {
            match self.config.dialect.address_cookies() {
                true => self.challenge(now_ms, from, request_len),
                false => self.register_unproven(now_ms, from),
            }
            return;
        }
        if let Some(theirs) = m.election.filter(|e| *e != self.election) {
            self.refuse_other_election(now_ms, from, m.name, theirs);
            return;
        }
        if self.peers.contains(&from) {
            // A repeat (the first REGISTER_ACK was lost). The heartbeat state is left alone:
            // POKE_ACKs, not registrations, prove liveness.
            self.send_peer_list_ack(now_ms, from);
            return;
        }
        self.admit(now_ms, from, m.name);
        if let Some(peer) = self.peers.get_mut(&from) {
            peer.cookie = cookie;
        }
    }

    /// A proven peer holding election `theirs`, not ours: it is told so (and, if it was a
    /// member, for instance restarted on another data directory, it is one no longer), so our
    /// members are never pointed at a chain they cannot use.
    fn refuse_other_election(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        name: Option<String>,
        theirs: Hash,
    ) {
        self.stats.refused_election += 1;
        if self.peers.remove(&from).is_some() {
            self.announce_pending = true;
        }
        self.out.push_back(Output::Event(Event::OtherElection {
            addr: from,
            name,
            theirs,
        }));
        // Two short hashes: well within the reason's 200 bytes; the title has its own field.
        let reason = format!(
            "this tracker serves election {}, not the election {} your peer holds",
            self.election.short(),
            theirs.short()
        );
        let refusal = RegisterRefused {
            election: self.election,
            title: self.config.ballot.title.clone(),
            reason,
        };
        self.send_message(now_ms, from, &refusal.into());
    }

    /// REQUEST_BALLOT: the ballot goes to a proven request, or to any request when it fits
    /// the anti-amplification budget (a ballot without a voter roll usually does not; one with
    /// a roll never does). Without address cookies nothing is proven: members get it (each at
    /// its own rate), others only within the budget.
    pub(super) fn on_request_ballot(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        request_len: usize,
        proven: bool,
    ) {
        let fits =
            self.ballot_datagram.len() + ENVELOPE_RESERVE <= unverified_reply_budget(request_len);
        let cookies = self.config.dialect.address_cookies();
        if proven || fits || (!cookies && self.peers.contains(&from)) {
            let payload = self.ballot_datagram.clone();
            self.stats.ballots_sent += 1;
            self.send(now_ms, from, "BALLOT_OPTIONS", payload);
        } else if cookies {
            self.challenge(now_ms, from, request_len);
        } else {
            self.stats.over_budget += 1;
        }
    }

    /// Answers a request of `request_len` bytes from an unverified address: one small
    /// CHALLENGE, within the anti-amplification budget.
    fn challenge(&mut self, now_ms: u64, to: SocketAddr, request_len: usize) {
        let token = self.minter.token(&to, now_ms);
        // A token minted by our minter always has the shape CHALLENGE requires.
        let Ok(payload) = self.config.dialect.encode(&Challenge { token }.into()) else {
            return;
        };
        if payload.len() + ENVELOPE_RESERVE > unverified_reply_budget(request_len) {
            self.stats.over_budget += 1;
            return;
        }
        self.stats.challenges_sent += 1;
        self.send(now_ms, to, "CHALLENGE", payload);
    }
}
