//! The tracker's sans-IO core: the registry of one election's peers as a deterministic state
//! machine. Datagrams and timer expiries go in with the time (`handle_datagram`,
//! `handle_timeout`); datagrams to send and membership events come out in order from
//! `poll_output`, and the next wake-up from `poll_timeout`, after every input (the convention of
//! `votechain_sansio::output`, shared with the peer's core). Randomness
//! (token secret, POKE nonces, peer-list samples) comes from the RNG the caller passes in.
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
//! Architecture invariant: no IO, no clock, no global RNG, no tokio.

use crate::config::{Config, ConfigError};
use crate::peers::PeerTable;
use crate::stats::Stats;
use rand::rngs::StdRng;
use rand::{Rng, RngCore};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use tracing::debug;
use votechain_chain::{Ballot, Block, Hash};
use votechain_proto::limits::{unverified_reply_budget, ENVELOPE_RESERVE, MAX_SMALL};
use votechain_proto::{
    decode_envelope, encode, with_envelope, BallotOptions, Challenge, Cookie, Envelope, Message,
    Poke, PokeAck, RegisterAck, RegisterPeer, UpdatePeers,
};
use votechain_sansio::ratelimit::{Bucket, Rate, SourceLimiter, Verdict};
use votechain_sansio::{TokenMinter, Transmit};

#[cfg(test)]
mod tests;

/// How many distinct random peer lists one UPDATE_PEERS round draws when the membership does
/// not fit one list; each member gets one of them at random. Bounds the round's cost while
/// still giving different members different neighbours.
const UPDATE_SAMPLES: usize = 32;

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
    /// The time of the input being handled, for the cookies of what it sends.
    now_ms: u64,
    /// Rate-limit buckets of unregistered sources.
    sources: SourceLimiter,
    peers: PeerTable,
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
        let ballot_datagram = encode(&BallotOptions::new(&config.ballot, election).into())?;
        let envelope = encode(&UpdatePeers { peer_list: vec![] }.into())?
            .len()
            .max(encode(&RegisterAck { peer_list: vec![] }.into())?.len());
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let rate = rate_of(&config);
        Ok(Registry {
            election,
            ballot_datagram,
            list_budget: MAX_SMALL - envelope,
            minter: TokenMinter::new(secret),
            inbound: None,
            now_ms: 0,
            sources: SourceLimiter::new(rate, config.max_sources),
            peers: PeerTable::default(),
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
        self.now_ms = now_ms;
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
        let (message, envelope) = match decode_envelope(datagram) {
            Ok(decoded) => decoded,
            Err(error) => {
                debug!(%from, len = datagram.len(), %error, "dropped undecodable datagram");
                *self.stats.decode_errors.entry(error.kind()).or_default() += 1;
                return;
            }
        };
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
            Message::PokeAck(m) => self.on_poke_ack(from, m, envelope.cookie),
            Message::LeavePeer(_) if proven => self.on_leave(from),
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
            | Message::Receipt(_)) => {
                debug!(%from, msg_type = other.type_name(), "dropped message the tracker does not handle");
                *self.stats.unhandled.entry(other.type_name()).or_default() += 1;
            }
        }
        self.inbound = None;
        self.maybe_announce(now_ms);
    }

    /// Runs every heartbeat and announcement due at `now_ms`. Calling it early is harmless.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
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
        match (poke, announce) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn on_register(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        request_len: usize,
        proven: bool,
        m: RegisterPeer,
        cookie: Option<Cookie>,
    ) {
        if !proven {
            self.challenge(now_ms, from, request_len);
            return;
        }
        if self.peers.contains(&from) {
            // A repeat (the first REGISTER_ACK was lost). The heartbeat state is left alone:
            // POKE_ACKs, not registrations, prove liveness.
            self.send_peer_list_ack(from);
            return;
        }
        if self.peers.len() >= self.config.max_peers {
            self.stats.refused_full += 1;
            self.out.push_back(Output::Event(Event::Refused {
                addr: from,
                max_peers: self.config.max_peers,
            }));
            return;
        }
        let bucket = Bucket::full(rate_of(&self.config), now_ms);
        self.peers.insert(
            from,
            m.name.clone(),
            now_ms + self.config.heartbeat_ms,
            bucket,
        );
        if let Some(peer) = self.peers.get_mut(&from) {
            peer.cookie = cookie;
        }
        self.sources.remove(&from);
        self.stats.joined += 1;
        self.out.push_back(Output::Event(Event::Joined {
            addr: from,
            name: m.name,
            n_peers: self.peers.len(),
        }));
        self.send_peer_list_ack(from);
        self.announce_pending = true;
    }

    /// REQUEST_BALLOT: the ballot goes to a proven request, or to any request when it fits
    /// the anti-amplification budget (a ballot without a voter roll usually does not; one with
    /// a roll never does).
    fn on_request_ballot(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        request_len: usize,
        proven: bool,
    ) {
        let fits =
            self.ballot_datagram.len() + ENVELOPE_RESERVE <= unverified_reply_budget(request_len);
        if proven || fits {
            let payload = self.ballot_datagram.clone();
            self.stats.ballots_sent += 1;
            self.send(from, payload);
        } else {
            self.challenge(now_ms, from, request_len);
        }
    }

    /// POKE_ACK: its nonce, which only the member's real address received, proves it alive;
    /// the cookie it carries is then the one our next datagrams to it echo.
    fn on_poke_ack(&mut self, from: SocketAddr, ack: PokeAck, cookie: Option<Cookie>) {
        let Some(peer) = self.peers.get_mut(&from) else {
            self.stats.poke_acks_unknown += 1;
            return;
        };
        let answered = match ack.nonce {
            None => {
                self.stats.poke_acks_no_nonce += 1;
                false
            }
            Some(n) if peer.nonce == Some(n) => {
                peer.acked = true;
                peer.missed = 0;
                true
            }
            Some(n) if peer.prev_nonce == Some(n) => {
                // The answer to the previous POKE, late: the peer was alive then, so the
                // streak of misses is broken; the current POKE is still unanswered.
                peer.prev_nonce = None;
                peer.missed = 0;
                true
            }
            Some(_) => {
                self.stats.poke_acks_wrong_nonce += 1;
                false
            }
        };
        if answered {
            self.stats.poke_acks_ok += 1;
            if cookie.is_some() {
                peer.cookie = cookie;
            }
        }
    }

    fn on_leave(&mut self, from: SocketAddr) {
        if let Some(peer) = self.peers.remove(&from) {
            self.stats.left += 1;
            self.out.push_back(Output::Event(Event::Left {
                addr: from,
                name: peer.name,
                n_peers: self.peers.len(),
            }));
            self.announce_pending = true;
        } else {
            self.stats.leave_ignored += 1;
        }
    }

    /// One member's heartbeat, due at `due_ms`: count the last POKE if unanswered, evict after
    /// `max_missed`, otherwise send a fresh POKE and schedule the next.
    fn heartbeat(&mut self, now_ms: u64, addr: SocketAddr, due_ms: u64) {
        let interval = self.config.heartbeat_ms;
        let max_missed = self.config.max_missed;
        let nonce = self.rng.next_u64();
        let Some(peer) = self.peers.get_mut(&addr) else {
            return;
        };
        if !peer.acked {
            peer.missed += 1;
        }
        if peer.missed >= max_missed {
            let missed = peer.missed;
            let name = self.peers.remove(&addr).and_then(|p| p.name);
            self.stats.evicted += 1;
            self.out.push_back(Output::Event(Event::Evicted {
                addr,
                name,
                missed,
                n_peers: self.peers.len(),
            }));
            self.announce_pending = true;
            return;
        }
        peer.prev_nonce = peer.nonce;
        peer.nonce = Some(nonce);
        peer.acked = false;
        // After a stall (the process was stopped), skip the missed slots rather than poking
        // in a burst to catch up.
        let mut next = due_ms + interval;
        if next <= now_ms {
            next = now_ms + interval;
        }
        self.peers.reschedule(addr, next);
        self.stats.pokes_sent += 1;
        self.send_message(addr, &Poke { nonce: Some(nonce) }.into());
    }

    /// When the next UPDATE_PEERS round may go out.
    fn next_announce_ms(&self) -> u64 {
        self.last_announce_ms
            .map_or(0, |t| t + self.config.heartbeat_ms)
    }

    fn maybe_announce(&mut self, now_ms: u64) {
        if !self.announce_pending || now_ms < self.next_announce_ms() {
            return;
        }
        self.announce_pending = false;
        self.last_announce_ms = Some(now_ms);
        let n = self.peers.len();
        if n == 0 {
            return;
        }
        self.stats.update_rounds += 1;
        let first = self.encode_list(None, false);
        let mut pool = vec![first.0];
        if !first.1 {
            // The membership does not fit one list: draw several samples and hand them out at
            // random, so members learn different neighbours.
            while pool.len() < UPDATE_SAMPLES.min(n) {
                pool.push(self.encode_list(None, false).0);
            }
        }
        for i in 0..n {
            let addr = self.peers.members()[i];
            let payload = pool[self.rng.gen_range(0..pool.len())].clone();
            self.stats.updates_sent += 1;
            self.send(addr, payload);
        }
    }

    /// Encodes a REGISTER_ACK (`ack`) or UPDATE_PEERS with a random sample of members, `first`
    /// leading. Also says whether the sample holds every member.
    fn encode_list(&mut self, first: Option<SocketAddr>, ack: bool) -> (Vec<u8>, bool) {
        let mut list =
            self.peers
                .sample(&mut self.rng, first, self.config.max_list, self.list_budget);
        let complete = list.len() == self.peers.len();
        // A socket bound to `::` sees IPv4 peers as `::ffff:a.b.c.d`; advertise the IPv4 form,
        // which every peer can use (it is never longer, so the sample still fits).
        for addr in &mut list {
            addr.set_ip(addr.ip().to_canonical());
        }
        loop {
            let message: Message = match ack {
                true => RegisterAck {
                    peer_list: list.clone(),
                }
                .into(),
                false => UpdatePeers {
                    peer_list: list.clone(),
                }
                .into(),
            };
            match encode(&message) {
                Ok(bytes) => return (bytes, complete && list.len() == self.peers.len()),
                // The sample is sized to fit, so this only runs if the size arithmetic and
                // the encoder ever disagree; an empty list always fits.
                Err(_) => {
                    list.pop();
                }
            }
        }
    }

    fn send_peer_list_ack(&mut self, to: SocketAddr) {
        let (payload, _) = self.encode_list(Some(to), true);
        self.stats.acks_sent += 1;
        self.send(to, payload);
    }

    /// Answers a request of `request_len` bytes from an unverified address: one small
    /// CHALLENGE, within the anti-amplification budget.
    fn challenge(&mut self, now_ms: u64, to: SocketAddr, request_len: usize) {
        let token = self.minter.token(&to, now_ms);
        // A token minted by our minter always has the shape CHALLENGE requires.
        let Ok(payload) = encode(&Challenge { token }.into()) else {
            return;
        };
        if payload.len() + ENVELOPE_RESERVE > unverified_reply_budget(request_len) {
            self.stats.over_budget += 1;
            return;
        }
        self.stats.challenges_sent += 1;
        self.send(to, payload);
    }

    fn send_message(&mut self, to: SocketAddr, message: &Message) {
        match encode(message) {
            Ok(payload) => self.send(to, payload),
            // Our own messages are built within their bounds; log rather than panic if not.
            Err(error) => debug!(%to, %error, "could not encode {}", message.type_name()),
        }
    }

    /// Queues an encoded message (without envelope) to `to`, adding our cookie for it and its
    /// cookie for us: the one of the datagram being answered, or the one a member last gave us.
    fn send(&mut self, to: SocketAddr, body: Vec<u8>) {
        let echo = match self.inbound {
            Some((from, Some(cookie))) if from == to => Some(cookie),
            _ => self.peers.get_mut(&to).and_then(|p| p.cookie),
        };
        let envelope = Envelope {
            cookie: Some(self.minter.cookie(&to, self.now_ms)),
            echo,
        };
        let bytes = with_envelope(&body, &envelope);
        self.stats.datagrams_out += 1;
        self.stats.bytes_out += bytes.len() as u64;
        self.out.push_back(Output::Send(Transmit { to, bytes }));
    }

    /// Sweeps idle entries from the rate-limit table now and then.
    fn maintain(&mut self, now_ms: u64) {
        if now_ms < self.next_maintenance_ms {
            return;
        }
        self.next_maintenance_ms = now_ms + MAINTENANCE_EVERY_MS;
        self.sources.sweep(now_ms);
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
