//! Valid messages built from fuzz input. Random bytes almost never decode, so the node and
//! registry targets would only ever test the decoder's error paths; a [`World`] instead builds
//! well-formed messages whose fields come from the input — edge-value heights, blocks that
//! extend blocks seen so far, votes signed by a few fixed keys — and envelopes that echo the
//! cookies the target under test handed out, as a real peer would.

use crate::cursor::Cursor;
use std::collections::HashMap;
use std::net::SocketAddr;
use votechain_chain::limits::MAX_OPTION_BYTES;
use votechain_chain::{Ballot, Block, BlockTemplate, Hash, PublicKey, Signature, Vote, VoterKey};
use votechain_proto::limits::{MAX_GOSSIP_ID, MAX_HOST, MAX_NAME, MAX_PROOF, MAX_REASON};
use votechain_proto::{
    decode_envelope, encode_with, BallotOptions, ChainBlock, Challenge, Consensus, Cookie,
    Envelope, GetBlock, GetBlockReply, GetReceipt, Gossip, GossipReply, LeavePeer, Message,
    NewBlock, NewVote, Poke, PokeAck, Receipt, ReceiptStatus, RegisterAck, RegisterPeer,
    RegisterRefused, RequestBallot, RequestChain, Stats, StatsReply, SubmitVote, UpdatePeers,
    Verify, MESSAGE_TYPES,
};

/// Most entries kept in each remembered list: enough to build on, small enough to stay cheap.
const REMEMBERED: usize = 32;

/// What the harness knows about the network it simulates: the election, the blocks and votes
/// that exist, and what the target under test has sent to each address.
#[derive(Debug)]
pub struct World {
    /// The election's ballot.
    pub ballot: Ballot,
    /// Its genesis hash.
    pub election: Hash,
    /// The current time, which built blocks are stamped near.
    pub now_ms: u64,
    /// Addresses peer lists and gossip draw from.
    pub addresses: Vec<SocketAddr>,
    /// Blocks known to exist, as (hash, height): new blocks extend one of them.
    blocks: Vec<(Hash, u64)>,
    /// Ids of votes built so far, for GET_RECEIPT.
    vote_ids: Vec<Hash>,
    /// Voters' keys; fixed, so signatures are valid and votes repeat.
    keys: Vec<VoterKey>,
    /// Every distinct cookie the target sent to each address, oldest first.
    cookies: HashMap<SocketAddr, Vec<Cookie>>,
    /// POKE nonces the target sent to each address, oldest first.
    nonces: HashMap<SocketAddr, Vec<u64>>,
}

impl World {
    /// A world for `ballot`, whose chain so far is `blocks` (hash, height), at `now_ms`.
    pub fn new(
        ballot: Ballot,
        blocks: Vec<(Hash, u64)>,
        addresses: Vec<SocketAddr>,
        now_ms: u64,
    ) -> World {
        // The demo ballots here are valid by construction.
        let election = Block::genesis(&ballot).expect("valid ballot").hash();
        World {
            ballot,
            election,
            now_ms,
            addresses,
            blocks,
            vote_ids: Vec::new(),
            keys: (1..=3u8).map(|i| VoterKey::from_seed([i; 32])).collect(),
            cookies: HashMap::new(),
            nonces: HashMap::new(),
        }
    }

    /// Records a datagram the target sent to `to` and returns it decoded, or `None` when it
    /// does not decode (the caller decides whether that breaks an invariant).
    pub fn observe(&mut self, to: SocketAddr, bytes: &[u8]) -> Option<(Message, Envelope)> {
        let (message, envelope) = decode_envelope(bytes).ok()?;
        if let Some(cookie) = envelope.cookie {
            self.remember_cookie(to, cookie);
        }
        match &message {
            Message::Challenge(c) => {
                if let Some(cookie) = Cookie::parse(&c.token) {
                    self.remember_cookie(to, cookie);
                }
            }
            Message::Poke(Poke { nonce: Some(n) }) => {
                push_bounded(self.nonces.entry(to).or_default(), *n)
            }
            Message::NewBlock(NewBlock { block })
            | Message::ChainBlock(ChainBlock { block, .. })
            | Message::GetBlockReply(GetBlockReply {
                block: Some(block), ..
            }) => self.remember_block(block),
            _ => {}
        }
        Some((message, envelope))
    }

    fn remember_cookie(&mut self, to: SocketAddr, cookie: Cookie) {
        let list = self.cookies.entry(to).or_default();
        if list.last() != Some(&cookie) {
            list.retain(|c| *c != cookie);
            push_bounded(list, cookie);
        }
    }

    fn remember_block(&mut self, block: &Block) {
        let entry = (block.hash(), block.height());
        if !self.blocks.contains(&entry) {
            push_bounded(&mut self.blocks, entry);
        }
    }

    /// True when the target ever sent `cookie` to `to`: a datagram from `to` echoing it may
    /// prove its origin.
    pub fn was_given(&self, to: &SocketAddr, cookie: &Cookie) -> bool {
        self.cookies.get(to).is_some_and(|l| l.contains(cookie))
    }

    /// False when `bytes` from `from` certainly does not prove its origin: it echoes no cookie
    /// the core under test ever gave `from`, neither in its envelope nor as a VERIFY token.
    pub fn may_prove(&self, from: SocketAddr, bytes: &[u8]) -> bool {
        let Ok((message, envelope)) = votechain_proto::decode_envelope(bytes) else {
            return false;
        };
        let token = match &message {
            Message::Verify(v) => Cookie::parse(&v.token),
            _ => None,
        };
        [envelope.echo, token]
            .iter()
            .flatten()
            .any(|cookie| self.was_given(&from, cookie))
    }

    /// The last cookie the target sent to `to`.
    pub fn last_cookie(&self, to: &SocketAddr) -> Option<Cookie> {
        self.cookies.get(to).and_then(|l| l.last().copied())
    }

    /// A datagram from `from`: a message and an envelope built from the input, encoded. `None`
    /// when the encoder refuses it (a field the input made too large).
    pub fn datagram(&mut self, c: &mut Cursor, from: SocketAddr) -> Option<Vec<u8>> {
        let message = self.message(c, from);
        let envelope = self.envelope(c, from);
        encode_with(&message, &envelope).ok()
    }

    /// An envelope from `from`: often echoing the cookie the target last gave `from`.
    pub fn envelope(&mut self, c: &mut Cursor, from: SocketAddr) -> Envelope {
        let flags = c.byte();
        let cookie = (flags & 1 == 1).then(|| Cookie(c.array()));
        let echo = match (flags >> 1) & 3 {
            0 => None,
            1 => Some(Cookie(c.array())),
            _ => self.last_cookie(&from),
        };
        Envelope { cookie, echo }
    }

    /// Any message, its kind and fields chosen by the input: one arm per entry of
    /// [`MESSAGE_TYPES`] (a test checks that each kind is reachable).
    pub fn message(&mut self, c: &mut Cursor, from: SocketAddr) -> Message {
        match c.below(MESSAGE_TYPES.len()) {
            0 => RegisterPeer {
                name: c.flag().then(|| c.string(MAX_NAME)),
                election: c.flag().then(|| self.vote_id(c)),
            }
            .into(),
            1 => RegisterAck {
                peer_list: self.peer_list(c),
                observed: c
                    .flag()
                    .then(|| self.peer_list(c).first().copied())
                    .flatten(),
            }
            .into(),
            2 => UpdatePeers {
                peer_list: self.peer_list(c),
            }
            .into(),
            3 => RequestBallot {}.into(),
            4 => self.ballot_options(c).into(),
            5 => Poke {
                nonce: c.flag().then(|| c.u64()),
            }
            .into(),
            6 => PokeAck {
                nonce: self.nonce(c, from),
            }
            .into(),
            7 => LeavePeer {}.into(),
            8 => Challenge {
                token: self.token(c, from),
            }
            .into(),
            9 => Verify {
                token: self.token(c, from),
            }
            .into(),
            10 => Gossip {
                host: self.host(c),
                port: self.port(c),
                id: match c.flag() {
                    true => hex_of(&c.array::<16>()),
                    false => c.string(MAX_GOSSIP_ID),
                },
                name: c.string(MAX_NAME),
            }
            .into(),
            11 => GossipReply {
                host: self.host(c),
                port: self.port(c),
                name: c.string(MAX_NAME),
            }
            .into(),
            12 => NewBlock {
                block: self.block(c),
            }
            .into(),
            13 => RequestChain {
                start: c.interesting_u64(self.tip_height()),
                count: 1 + u32::from(c.byte() % 64),
            }
            .into(),
            14 => {
                let block = self.block(c);
                ChainBlock {
                    index: match c.flag() {
                        true => block.height(),
                        false => c.interesting_u64(block.height()),
                    },
                    total_blocks: c.interesting_u64(block.height().saturating_add(1)),
                    block,
                }
                .into()
            }
            15 => GetBlock {
                height: c.interesting_u64(self.tip_height()),
                hash: c.flag().then(|| self.hash(c)),
            }
            .into(),
            16 => {
                let block = c.flag().then(|| self.block(c));
                GetBlockReply {
                    height: match &block {
                        Some(b) if c.flag() => b.height(),
                        _ => c.interesting_u64(self.tip_height()),
                    },
                    block,
                }
                .into()
            }
            17 => Stats {}.into(),
            18 => StatsReply {
                height: c.interesting_u64(self.tip_height().saturating_add(1)),
                hash: self.hash(c),
            }
            .into(),
            19 => Consensus {}.into(),
            20 => SubmitVote { vote: self.vote(c) }.into(),
            21 => NewVote { vote: self.vote(c) }.into(),
            22 => GetReceipt {
                vote_id: self.vote_id(c),
            }
            .into(),
            23 => self.receipt(c).into(),
            _ => RegisterRefused {
                election: self.vote_id(c),
                title: c.string(votechain_chain::limits::MAX_TITLE_BYTES),
                reason: c.string(votechain_proto::limits::MAX_REASON),
            }
            .into(),
        }
    }

    /// A message a peer sends the tracker: REGISTER_PEER, POKE_ACK (often with the nonce of
    /// the last POKE to `from`), LEAVE_PEER, REQUEST_BALLOT or VERIFY.
    pub fn tracker_message(&mut self, c: &mut Cursor, from: SocketAddr) -> Message {
        match c.below(5) {
            0 => RegisterPeer {
                name: c.flag().then(|| c.string(MAX_NAME)),
                election: c.flag().then(|| self.vote_id(c)),
            }
            .into(),
            1 => PokeAck {
                nonce: self.nonce(c, from),
            }
            .into(),
            2 => LeavePeer {}.into(),
            3 => RequestBallot {}.into(),
            _ => Verify {
                token: self.token(c, from),
            }
            .into(),
        }
    }

    fn tip_height(&self) -> u64 {
        self.blocks.iter().map(|(_, h)| *h).max().unwrap_or(0)
    }

    /// A hash: of a known block, or any 32 bytes.
    fn hash(&self, c: &mut Cursor) -> Hash {
        match c.flag() {
            true if !self.blocks.is_empty() => self.blocks[c.below(self.blocks.len())].0,
            _ => Hash(c.array()),
        }
    }

    fn vote_id(&self, c: &mut Cursor) -> Hash {
        match c.flag() {
            true if !self.vote_ids.is_empty() => self.vote_ids[c.below(self.vote_ids.len())],
            _ => self.hash(c),
        }
    }

    /// A token: the target's last cookie for `from` (what a real peer echoes), or any.
    fn token(&self, c: &mut Cursor, from: SocketAddr) -> String {
        match (c.below(3), self.last_cookie(&from)) {
            (0, _) => c.string(40),
            (1, Some(cookie)) => cookie.to_hex(),
            _ => hex_of(&c.array::<16>()),
        }
    }

    fn nonce(&self, c: &mut Cursor, from: SocketAddr) -> Option<u64> {
        let sent = self
            .nonces
            .get(&from)
            .map(Vec::as_slice)
            .unwrap_or_default();
        match c.below(4) {
            0 => None,
            1 => Some(c.u64()),
            _ if sent.is_empty() => Some(c.u64()),
            // The last nonce, or one before it (a late answer).
            _ => Some(sent[sent.len() - 1 - c.below(sent.len().min(3))]),
        }
    }

    fn address(&self, c: &mut Cursor) -> SocketAddr {
        match c.below(4) {
            0 => SocketAddr::from((c.array::<4>(), c.u16())),
            _ if !self.addresses.is_empty() => self.addresses[c.below(self.addresses.len())],
            _ => SocketAddr::from(([127, 0, 0, 1], c.u16())),
        }
    }

    fn peer_list(&self, c: &mut Cursor) -> Vec<SocketAddr> {
        (0..c.below(48)).map(|_| self.address(c)).collect()
    }

    fn host(&self, c: &mut Cursor) -> String {
        match c.below(5) {
            0 => c.string(MAX_HOST),
            1 => "localhost".to_owned(),
            2 => "::1".to_owned(),
            _ => self.address(c).ip().to_string(),
        }
    }

    fn port(&self, c: &mut Cursor) -> u16 {
        match c.flag() {
            true => self.address(c).port(),
            false => c.u16(),
        }
    }

    fn ballot_options(&self, c: &mut Cursor) -> BallotOptions {
        let mut m = BallotOptions::new(&self.ballot, self.election);
        let changes = c.byte();
        if changes & 1 != 0 {
            m.title = c.string(64);
        }
        if changes & 2 != 0 {
            m.difficulty = c.u32() % 300;
        }
        if changes & 4 != 0 {
            m.voting_options = (0..c.below(5)).map(|_| c.string(32)).collect();
        }
        if changes & 8 != 0 {
            m.election = Hash(c.array());
        }
        if changes & 16 != 0 {
            m.closing_height = Some(c.interesting_u64(self.tip_height()));
        }
        if changes & 32 != 0 {
            m.voters = Some(self.keys.iter().map(|k| k.public()).collect());
        }
        m
    }

    /// A vote by one of the fixed keys, for a valid or any choice, in this or another
    /// election, with a valid or a broken signature.
    fn vote(&mut self, c: &mut Cursor) -> Vote {
        let key = &self.keys[c.below(self.keys.len())];
        let flags = c.byte();
        let election = match flags & 1 {
            0 => self.election,
            _ => Hash(c.array()),
        };
        let choice = match (flags >> 1) & 3 {
            0 => c.string(MAX_OPTION_BYTES),
            _ => {
                let options = &self.ballot.options;
                options[c.below(options.len())].clone()
            }
        };
        let mut vote = Vote::sign(key.signing_key(), election, &choice);
        if flags & 8 != 0 {
            vote.signature = Signature([c.byte(); 64]);
        }
        if flags & 16 != 0 {
            vote.voter = PublicKey(c.array());
        }
        let id = vote.id();
        if !self.vote_ids.contains(&id) {
            push_bounded(&mut self.vote_ids, id);
        }
        vote
    }

    /// A block sealed with nonce 0 (enough at difficulty 0), usually extending a known block,
    /// with input-chosen height, timestamp, miner and votes. Remembered, so later blocks can
    /// extend it.
    fn block(&mut self, c: &mut Cursor) -> Block {
        let (parent, parent_height) = match c.below(4) {
            0 => (Hash(c.array()), c.interesting_u64(self.tip_height())),
            _ if !self.blocks.is_empty() => {
                // Most often the newest: the harness then grows one chain.
                let i = match c.flag() {
                    true => self.blocks.len() - 1,
                    false => c.below(self.blocks.len()),
                };
                self.blocks[i]
            }
            _ => (Hash(c.array()), 0),
        };
        // The template adds one to the parent's height.
        let parent_height = parent_height.min(u64::MAX - 1);
        let timestamp_ms = match c.below(4) {
            0 => c.interesting_u64(self.now_ms),
            _ => self.now_ms,
        };
        let difficulty = match c.below(8) {
            0 => u32::from(c.byte()),
            _ => self.ballot.difficulty,
        };
        let votes: Vec<Vote> = (0..c.below(4)).map(|_| self.vote(c)).collect();
        let miner = match c.flag() {
            true => c.string(64),
            false => "fuzz".to_owned(),
        };
        let template = BlockTemplate::new(
            parent,
            parent_height,
            difficulty,
            timestamp_ms,
            &miner,
            votes,
        )
        .or_else(|_| {
            BlockTemplate::new(
                parent,
                parent_height,
                difficulty,
                timestamp_ms,
                "fuzz",
                vec![],
            )
        })
        .expect("an empty block with a plain miner name is well-formed");
        let block = template.seal(0);
        self.remember_block(&block);
        block
    }

    fn receipt(&self, c: &mut Cursor) -> Receipt {
        let status = match c.below(4) {
            0 => ReceiptStatus::Pending,
            1 => ReceiptStatus::Unknown,
            2 => ReceiptStatus::Rejected {
                reason: c.string(MAX_REASON),
            },
            _ => ReceiptStatus::Confirmed {
                height: c.interesting_u64(self.tip_height()),
                block: self.hash(c),
                confirmations: c.interesting_u64(1),
                index: c.u32(),
                vote_count: c.u32(),
                proof: (0..c.below(MAX_PROOF + 1)).map(|_| self.hash(c)).collect(),
            },
        };
        Receipt {
            vote_id: self.vote_id(c),
            status,
        }
    }
}

fn push_bounded<T>(list: &mut Vec<T>, item: T) {
    if list.len() >= REMEMBERED {
        list.remove(0);
    }
    list.push(item);
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// A message type added to the codec's table but not here would never be fuzzed: each
    /// first byte picks a different kind, and together they cover the table.
    #[test]
    fn every_message_type_is_generated() {
        let addr = SocketAddr::from(([127, 0, 0, 1], 6001));
        let mut world = World::new(Ballot::open("t", &["A", "B"], 1), Vec::new(), vec![addr], 0);
        let kinds: BTreeSet<&str> = (0..MESSAGE_TYPES.len())
            .map(|i| {
                let input = [i as u8; 64];
                world.message(&mut Cursor::new(&input), addr).type_name()
            })
            .collect();
        let all: BTreeSet<&str> = MESSAGE_TYPES.iter().copied().collect();
        assert_eq!(kinds, all);
    }
}
