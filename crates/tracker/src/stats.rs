//! Counters of everything the registry did and refused, for logs, tests and the benchmark.
//! Every dropped datagram is counted under exactly one reason.

use std::collections::BTreeMap;

/// What the registry has done since it started. Plain counters; read with
/// [`Registry::stats`](crate::Registry::stats).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams handed to the registry.
    pub datagrams_in: u64,
    /// Their bytes.
    pub bytes_in: u64,
    /// Datagrams that decoded, by wire type (dropped afterwards or not).
    pub messages_in: BTreeMap<&'static str, u64>,
    /// Datagrams queued for sending.
    pub datagrams_out: u64,
    /// Datagrams queued for sending, by wire type.
    pub messages_out: BTreeMap<&'static str, u64>,
    /// Their bytes.
    pub bytes_out: u64,
    /// Dropped: source address that cannot be answered (port 0, unspecified, multicast).
    pub bad_source: u64,
    /// Dropped: the source is over its rate.
    pub rate_limited: u64,
    /// Dropped: a new source while the rate-limit table is full.
    pub source_table_full: u64,
    /// Dropped: failed to decode, by [`DecodeError::kind`](votechain_proto::DecodeError::kind).
    pub decode_errors: BTreeMap<&'static str, u64>,
    /// Dropped: a valid message the tracker does not handle (NEW_BLOCK, GOSSIP, …), by type.
    pub unhandled: BTreeMap<&'static str, u64>,
    /// CHALLENGEs sent in answer to requests that did not prove their origin.
    pub challenges_sent: u64,
    /// VERIFYs whose token checked.
    pub verified: u64,
    /// Datagrams that proved their origin (they echoed our cookie for their source).
    pub proven: u64,
    /// VERIFYs with a token that was not ours, not for that address, or expired.
    pub bad_tokens: u64,
    /// Registrations completed.
    pub joined: u64,
    /// Registrations refused because the table holds `max_peers`.
    pub refused_full: u64,
    /// Registrations refused because the peer holds another election.
    pub refused_election: u64,
    /// REGISTER_ACKs sent (first registration and repeats).
    pub acks_sent: u64,
    /// BALLOT_OPTIONS sent.
    pub ballots_sent: u64,
    /// Peers removed by their LEAVE_PEER.
    pub left: u64,
    /// LEAVE_PEERs that did not prove their origin, or from an address that is not registered.
    pub leave_ignored: u64,
    /// Peers evicted after `max_missed` unanswered POKEs.
    pub evicted: u64,
    /// POKEs sent.
    pub pokes_sent: u64,
    /// POKE_ACKs echoing the current or previous nonce.
    pub poke_acks_ok: u64,
    /// POKE_ACKs from a member with a nonce that is neither.
    pub poke_acks_wrong_nonce: u64,
    /// POKE_ACKs from a member without a nonce (seed A's form), which prove nothing where the
    /// dialect has address cookies (in w4119 they are the answer).
    pub poke_acks_no_nonce: u64,
    /// POKE_ACKs from an address that is not registered.
    pub poke_acks_unknown: u64,
    /// UPDATE_PEERS rounds (one round sends one datagram to every member).
    pub update_rounds: u64,
    /// UPDATE_PEERS datagrams sent.
    pub updates_sent: u64,
    /// Without address cookies (w4119): POKEs sent to an address asking to register, which it
    /// must answer to join.
    pub confirm_pokes_sent: u64,
    /// Without address cookies: registrations refused because `max_pending` addresses are
    /// waiting to confirm.
    pub pending_full: u64,
    /// Without address cookies: repeated REGISTER_PEERs of a member not answered because it got
    /// a peer list less than a heartbeat interval ago.
    pub lists_withheld: u64,
    /// Without address cookies: members that sent LEAVE_PEER and then answered the POKE that
    /// followed, so they stay (the LEAVE_PEER was forged, or they changed their mind).
    pub leaves_contradicted: u64,
    /// Replies to unproven requests withheld because they exceeded the anti-amplification
    /// budget (never expected: CHALLENGE is far below it).
    pub over_budget: u64,
}

impl Stats {
    /// Datagrams that failed to decode, all kinds together.
    pub fn decode_errors_total(&self) -> u64 {
        self.decode_errors.values().sum()
    }

    /// Valid messages dropped because the tracker does not handle their type.
    pub fn unhandled_total(&self) -> u64 {
        self.unhandled.values().sum()
    }
}
