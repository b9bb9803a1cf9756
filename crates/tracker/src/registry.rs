//! The tracker's sans-IO core: the registry of one election's peers as a deterministic state
//! machine. Datagrams and timer expiries go in with the time (`handle_datagram`,
//! `handle_timeout`); datagrams to send and membership events come out in order from
//! `poll_output`, and the next wake-up from `poll_timeout`, after every input (the convention of
//! `votechain_sansio::output`, shared with the peer's core). Time is passed down, never stored;
//! randomness (token secret, POKE nonces, peer-list samples) comes from the RNG the caller
//! passes in; datagrams are decoded and encoded in the profile's wire format (`Config::dialect`,
//! the native one by default).
//!
//! The protocol it implements (PROTOCOL.md, "Tracker"). A datagram *proves its origin* when
//! its envelope echoes our address cookie for its source (PROTOCOL.md, "Address cookies"); a
//! forger who cannot read what we send that address cannot produce one.
//! - REGISTER_PEER that does not prove its origin gets a CHALLENGE carrying our cookie; the
//!   peer sends it again echoing the cookie and is registered, with a REGISTER_ACK listing
//!   peers. A repeated REGISTER_PEER from a member gets the list again only when proven too.
//!   A spoofed source never sees the cookie, so it never registers and never gets a list.
//! - REQUEST_BALLOT gets BALLOT_OPTIONS when proven, or when the ballot fits the
//!   anti-amplification budget; a CHALLENGE otherwise.
//! - Each member gets a POKE with a fresh nonce every heartbeat interval; a POKE_ACK echoing
//!   the current or previous nonce from the member's address answers it. After `max_missed`
//!   consecutive unanswered POKEs the member is evicted.
//! - LEAVE_PEER removes a member at once, when proven: nobody else can make it leave.
//! - Any membership change is announced to every member with UPDATE_PEERS, at most one round
//!   per heartbeat interval. Everything sent to a member echoes the cookie it last gave us in
//!   a proven datagram, so the member can tell our datagrams from forged ones.
//! - An address that did not prove its origin never gets more than one datagram per request,
//!   of at most [`unverified_reply_budget`] bytes.
//!
//! A dialect without address cookies (`w4119`) cannot prove anything; there a POKE answered
//! from the address stands in for the proof, as `confirm.rs` describes, and the rest of the
//! protocol above applies to what that admits.
//!
//! This file holds the registry's state, the rate check and proof of origin every datagram
//! passes, and the dispatch on message type. Submodules, by concept: `join.rs` answers
//! REGISTER_PEER and REQUEST_BALLOT (with a CHALLENGE when unproven); `liveness.rs` keeps members
//! alive or lets them go (POKE, POKE_ACK, eviction, LEAVE_PEER); `confirm.rs` joins and leaves
//! without address cookies; `announce.rs` builds peer lists
//! and runs the UPDATE_PEERS rounds; `send.rs` wraps every datagram in its envelope.
//!
//! [`unverified_reply_budget`]: votechain_proto::limits::unverified_reply_budget
//!
//! Architecture invariant: no IO, no clock, no global RNG, no tokio.

use crate::config::{Config, ConfigError};
use crate::peers::PeerTable;
use crate::stats::Stats;
use rand::rngs::StdRng;
use rand::RngCore;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use tracing::debug;
use votechain_chain::{Ballot, Block, Hash};
use votechain_proto::limits::MAX_SMALL;
use votechain_proto::{BallotOptions, Cookie, Message, RegisterAck, UpdatePeers};
use votechain_sansio::ratelimit::{Rate, SourceLimiter, Verdict};
use votechain_sansio::TokenMinter;

mod announce;
mod confirm;
mod join;
mod liveness;
mod send;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_w4119;

/// How often the rate-limit table is swept of idle entries.
const MAINTENANCE_EVERY_MS: u64 = 10_000;

/// Something the shell must do, in order (see [`votechain_sansio::output`]): the tracker only
/// sends datagrams and reports membership [`Event`]s; it stores nothing and mines nothing.
pub type Output = votechain_sansio::Output<Infallible, Infallible, Event>;

/// A membership change, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A verified address registered.
    Joined {
        /// The member's address.
        addr: SocketAddr,
        /// The name it gave, if any.
        name: Option<String>,
        /// Members after the change.
        n_peers: usize,
    },
    /// A member sent LEAVE_PEER.
    Left {
        /// The former member's address.
        addr: SocketAddr,
        /// The name it registered with, if any.
        name: Option<String>,
        /// Members after the change.
        n_peers: usize,
    },
    /// A member missed `missed` consecutive heartbeats.
    Evicted {
        /// The former member's address.
        addr: SocketAddr,
        /// The name it registered with, if any.
        name: Option<String>,
        /// Consecutive POKEs it left unanswered.
        missed: u32,
        /// Members after the change.
        n_peers: usize,
    },
    /// A verified address was refused: it holds another election (its REGISTER_PEER named
    /// that election's id). It was told why with REGISTER_REFUSED.
    OtherElection {
        /// The address refused.
        addr: SocketAddr,
        /// The name it gave, if any.
        name: Option<String>,
        /// The election it holds.
        theirs: Hash,
    },
    /// A verified address could not register: the registry holds `max_peers` members.
    Refused {
        /// The address refused.
        addr: SocketAddr,
        /// The cap that was reached.
        max_peers: usize,
    },
}

/// The registry of one election. See the module docs for the protocol.
pub struct Registry<R = StdRng> {
    config: Config,
    /// Hash of the ballot's genesis block: the election id.
    election: Hash,
    /// BALLOT_OPTIONS, encoded once: every verified asker gets the same bytes.
    ballot_datagram: Vec<u8>,
    /// Bytes a peer list may take inside REGISTER_ACK or UPDATE_PEERS.
    list_budget: usize,
    /// Mints and checks our address cookies.
    minter: TokenMinter,
    /// The datagram being handled, while it is: its source and the cookie it carried, which
    /// our answers to it echo.
    inbound: Option<(SocketAddr, Option<Cookie>)>,
    /// Rate-limit buckets of unregistered sources.
    sources: SourceLimiter,
    peers: PeerTable,
    /// Without address cookies: addresses that asked to register, by when they were sent the
    /// POKE they must answer (`confirm.rs`).
    pending: HashMap<SocketAddr, u64>,
    rng: R,
    /// A membership change not yet announced.
    announce_pending: bool,
    /// When the last UPDATE_PEERS round went out.
    last_announce_ms: Option<u64>,
    next_maintenance_ms: u64,
    /// What the shell must do, in order.
    out: VecDeque<Output>,
    stats: Stats,
}

impl<R: RngCore> Registry<R> {
    /// A registry for `config`, drawing its token secret and every later random choice from
    /// `rng`.
    pub fn new(config: Config, mut rng: R) -> Result<Registry<R>, ConfigError> {
        config.check()?;
        let election = Block::genesis(&config.ballot)?.hash();
        let dialect = &config.dialect;
        let ballot_datagram =
            dialect.encode(&BallotOptions::new(&config.ballot, election).into())?;
        // The longest address a REGISTER_ACK may report as observed.
        let widest = SocketAddr::from(([0xffff; 8], u16::MAX));
        let envelope = dialect
            .encode(&UpdatePeers { peer_list: vec![] }.into())?
            .len()
            .max(
                dialect
                    .encode(
                        &RegisterAck {
                            peer_list: vec![],
                            observed: Some(widest),
                        }
                        .into(),
                    )?
                    .len(),
            );
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let rate = rate_of(&config);
        Ok(Registry {
            election,
            ballot_datagram,
            list_budget: MAX_SMALL - envelope,
            minter: TokenMinter::new(secret),
            inbound: None,
            sources: SourceLimiter::new(rate, config.max_sources),
            peers: PeerTable::default(),
            pending: HashMap::new(),
            rng,
            announce_pending: false,
            last_announce_ms: None,
            next_maintenance_ms: MAINTENANCE_EVERY_MS,
            out: VecDeque::new(),
            stats: Stats::default(),
            config,
        })
    }

    /// The election id: the hash of the ballot's genesis block.
    pub fn election(&self) -> Hash {
        self.election
    }

    /// The election's ballot.
    pub fn ballot(&self) -> &Ballot {
        &self.config.ballot
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters since start.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Number of registered peers.
    pub fn n_peers(&self) -> usize {
        self.peers.len()
    }

    /// True when `addr` is registered.
    pub fn is_registered(&self, addr: &SocketAddr) -> bool {
        self.peers.contains(addr)
    }

    /// Registered peers, in no particular order.
    pub fn peers(&self) -> &[SocketAddr] {
        self.peers.members()
    }

    /// Takes one datagram received from `from` at `now_ms`.
    pub fn handle_datagram(&mut self, now_ms: u64, from: SocketAddr, datagram: &[u8]) {
        self.stats.datagrams_in += 1;
        self.stats.bytes_in += datagram.len() as u64;
        self.maintain(now_ms);
        if !is_answerable(&from) {
            self.stats.bad_source += 1;
            return;
        }
        // The rate check comes before decoding, so a flooding source costs a hash lookup.
        let within_rate = match self.peers.get_mut(&from) {
            Some(peer) => peer.bucket.take(rate_of(&self.config), now_ms),
            None => match self.sources.check(from, now_ms) {
                Verdict::Allowed => true,
                Verdict::Limited => {
                    self.stats.rate_limited += 1;
                    return;
                }
                Verdict::TableFull => {
                    self.stats.source_table_full += 1;
                    return;
                }
            },
        };
        let (message, envelope) = match self.config.dialect.decode(datagram) {
            Ok(decoded) => decoded,
            Err(error) => {
                debug!(%from, len = datagram.len(), %error, "dropped undecodable datagram");
                *self.stats.decode_errors.entry(error.kind()).or_default() += 1;
                return;
            }
        };
        *self
            .stats
            .messages_in
            .entry(message.type_name())
            .or_default() += 1;
        // A member over its rate still has its POKE_ACKs read: otherwise a flood spoofing its
        // address would drain its bucket and get it evicted. They cause no reply.
        if !within_rate && !matches!(message, Message::PokeAck(_)) {
            self.stats.rate_limited += 1;
            return;
        }
        // A VERIFY carries our cookie as its token rather than in its envelope.
        let proven = self.minter.proves(&from, &envelope, now_ms)
            || matches!(&message, Message::Verify(v) if self.minter.check(&from, &v.token, now_ms));
        if proven {
            self.stats.proven += 1;
            if let (Some(peer), Some(cookie)) = (self.peers.get_mut(&from), envelope.cookie) {
                peer.cookie = Some(cookie);
            }
        }
        self.inbound = Some((from, envelope.cookie));
        let len = datagram.len();
        match message {
            Message::RegisterPeer(m) => {
                self.on_register(now_ms, from, len, proven, m, envelope.cookie)
            }
            Message::Verify(_) if proven => self.stats.verified += 1,
            Message::Verify(_) => self.stats.bad_tokens += 1,
            Message::RequestBallot(_) => self.on_request_ballot(now_ms, from, len, proven),
            Message::PokeAck(_) if !self.config.dialect.address_cookies() => {
                self.poke_ack_unproven(now_ms, from)
            }
            Message::PokeAck(m) => self.on_poke_ack(from, m, envelope.cookie),
            Message::LeavePeer(_) if proven => self.on_leave(from),
            Message::LeavePeer(_) if !self.config.dialect.address_cookies() => {
                self.leave_unproven(now_ms, from)
            }
            Message::LeavePeer(_) => self.stats.leave_ignored += 1,
            other @ (Message::RegisterAck(_)
            | Message::UpdatePeers(_)
            | Message::BallotOptions(_)
            | Message::Poke(_)
            | Message::Challenge(_)
            | Message::Gossip(_)
            | Message::GossipReply(_)
            | Message::NewBlock(_)
            | Message::RequestChain(_)
            | Message::ChainBlock(_)
            | Message::GetBlock(_)
            | Message::GetBlockReply(_)
            | Message::Stats(_)
            | Message::StatsReply(_)
            | Message::Consensus(_)
            | Message::SubmitVote(_)
            | Message::NewVote(_)
            | Message::GetReceipt(_)
            | Message::Receipt(_)
            | Message::RegisterRefused(_)) => {
                debug!(%from, msg_type = other.type_name(), "dropped message the tracker does not handle");
                *self.stats.unhandled.entry(other.type_name()).or_default() += 1;
            }
        }
        self.inbound = None;
        self.maybe_announce(now_ms);
    }

    /// Runs every heartbeat and announcement due at `now_ms`. Calling it early is harmless.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.maintain(now_ms);
        while let Some((addr, due_ms)) = self.peers.pop_due(now_ms) {
            self.heartbeat(now_ms, addr, due_ms);
        }
        self.maybe_announce(now_ms);
    }

    /// The next thing to do (a datagram to send or an event to report), if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Registry::handle_timeout`] must next be called; `None` when nothing is scheduled
    /// (no members and nothing to announce): an idle tracker sleeps until a datagram arrives.
    pub fn poll_timeout(&mut self) -> Option<u64> {
        let granularity = self.config.timer_granularity_ms;
        let poke = self
            .peers
            .next_due()
            .map(|due| due.div_ceil(granularity) * granularity);
        let announce = self.announce_pending.then(|| self.next_announce_ms());
        [poke, announce, self.next_refresh_ms()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Sweeps idle entries from the rate-limit table now and then.
    fn maintain(&mut self, now_ms: u64) {
        if now_ms < self.next_maintenance_ms {
            return;
        }
        self.next_maintenance_ms = now_ms + MAINTENANCE_EVERY_MS;
        self.sources.sweep(now_ms);
        self.expire_pending(now_ms);
    }
}

fn rate_of(config: &Config) -> Rate {
    Rate {
        per_s: config.rate_per_s,
        burst: config.rate_burst,
    }
}

/// False for source addresses no reply can reach: port 0, the unspecified address, multicast
/// and broadcast. Datagrams "from" them are forged or broken.
fn is_answerable(addr: &SocketAddr) -> bool {
    let ip = addr.ip();
    let broadcast = match ip {
        std::net::IpAddr::V4(v4) => v4.is_broadcast(),
        std::net::IpAddr::V6(_) => false,
    };
    addr.port() != 0 && !ip.is_unspecified() && !ip.is_multicast() && !broadcast
}
