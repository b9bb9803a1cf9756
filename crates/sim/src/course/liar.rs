//! [`CourseLiar`]: a hostile course peer. It gossips like any peer, so honest peers put it in
//! their tables; it answers every STATS claiming a chain far taller than anyone's, with a top
//! hash that looks like work; and it answers every GET_BLOCK either with a bogus block — valid
//! JSON, the right height, a hash ending in enough zeros, but not the hash of its contents — or
//! not at all. Optionally it ANNOUNCEs such a block above everyone's tip now and then, which
//! invites every honest peer to start a consensus round (and ask the liar again).

use crate::adversary::{Adversary, Outbox};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use votechain_course::block::CourseBlock;
use votechain_course::wire::{self, CourseMessage};
use votechain_course::Hash;

/// Between the liar's GOSSIP rounds (the course's 30 s, less, to stay in every table).
pub const LIAR_GOSSIP_MS: u64 = 20_000;

/// Most peers the liar remembers.
const MAX_KNOWN: usize = 256;

/// How the liar answers GET_BLOCK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockLie {
    /// A bogus block at the height asked for (module docs).
    Bogus,
    /// No answer at all.
    Silent,
}

/// A hostile course peer. See the module docs.
#[derive(Debug)]
pub struct CourseLiar {
    addr: SocketAddr,
    /// Peers it gossips to first.
    seeds: Vec<SocketAddr>,
    /// Peers it learned from GOSSIP and from datagrams.
    known: BTreeSet<SocketAddr>,
    claimed_blocks: u64,
    claimed_hash: Hash,
    difficulty: u32,
    blocks: BlockLie,
    /// ANNOUNCE a bogus block this often, if at all.
    announce_every_ms: Option<u64>,
    next_gossip_ms: u64,
    next_announce_ms: u64,
    /// Bogus blocks made so far, so each differs.
    made: u64,
}

impl CourseLiar {
    /// A liar at `addr` that gossips to `seeds`, claims `claimed_blocks` blocks at
    /// `difficulty` and answers GET_BLOCK as `blocks` says.
    pub fn new(
        addr: SocketAddr,
        seeds: Vec<SocketAddr>,
        claimed_blocks: u64,
        difficulty: u32,
        blocks: BlockLie,
    ) -> CourseLiar {
        let mut liar = CourseLiar {
            addr,
            seeds,
            known: BTreeSet::new(),
            claimed_blocks,
            claimed_hash: Hash([0; 32]),
            difficulty,
            blocks,
            announce_every_ms: None,
            next_gossip_ms: 0,
            next_announce_ms: 0,
            made: 0,
        };
        liar.claimed_hash = liar.fake_hash(u64::MAX);
        liar
    }

    /// Also ANNOUNCEs a bogus block above everyone's tip every `every_ms`.
    pub fn announcing(mut self, every_ms: u64) -> CourseLiar {
        self.announce_every_ms = Some(every_ms.max(1));
        self
    }

    /// A hash that looks like work at the liar's difficulty, different for each `salt`.
    fn fake_hash(&self, salt: u64) -> Hash {
        let mut hasher = Sha256::new();
        hasher.update(self.addr.to_string().as_bytes());
        hasher.update(salt.to_be_bytes());
        let mut hash: [u8; 32] = hasher.finalize().into();
        let zero_nibbles = self.difficulty.min(64) as usize;
        for nibble in 0..zero_nibbles {
            let byte = 31 - nibble / 2;
            hash[byte] &= if nibble % 2 == 0 { 0xf0 } else { 0x0f };
        }
        Hash(hash)
    }

    /// A bogus block at `height`: well-formed, enough trailing zeros, wrong hash.
    fn bogus_block(&mut self, height: u64, now_ms: u64) -> CourseBlock {
        self.made += 1;
        CourseBlock {
            height,
            mined_by: "honest miner".to_owned(),
            messages: vec![format!("trust me {}", self.made % 1_000)],
            nonce: format!("{}", 100_000 + self.made),
            timestamp: now_ms / 1_000,
            hash: self.fake_hash(self.made),
        }
    }

    fn learn(&mut self, addr: SocketAddr) {
        if addr != self.addr && self.known.len() < MAX_KNOWN {
            self.known.insert(addr);
        }
    }

    fn push(out: &mut Outbox, to: SocketAddr, message: &CourseMessage) {
        out.0.push((to, wire::encode(message)));
    }
}

impl Adversary for CourseLiar {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn on_datagram(&mut self, now_ms: u64, from: SocketAddr, bytes: &[u8], out: &mut Outbox) {
        let Ok(message) = wire::decode(bytes) else {
            return;
        };
        self.learn(from);
        match message {
            CourseMessage::Stats => {
                let claim = Some((self.claimed_blocks, self.claimed_hash));
                CourseLiar::push(out, from, &CourseMessage::StatsReply(claim));
            }
            CourseMessage::GetBlock { height } if self.blocks == BlockLie::Bogus => {
                let block = self.bogus_block(height, now_ms);
                CourseLiar::push(out, from, &CourseMessage::GetBlockReply(Some(block)));
            }
            CourseMessage::Gossip { host, port, .. } => {
                if let Ok(ip) = host.parse() {
                    let origin = SocketAddr::new(ip, port);
                    self.learn(origin);
                    let reply = CourseMessage::GossipReply {
                        host: self.addr.ip().to_string(),
                        port: self.addr.port(),
                        name: "the tallest chain".to_owned(),
                    };
                    CourseLiar::push(out, origin, &reply);
                }
            }
            _ => {}
        }
    }

    fn on_tick(&mut self, now_ms: u64, rng: &mut ChaCha8Rng, out: &mut Outbox) -> Option<u64> {
        if now_ms >= self.next_gossip_ms {
            self.next_gossip_ms = now_ms + LIAR_GOSSIP_MS;
            let gossip = CourseMessage::Gossip {
                host: self.addr.ip().to_string(),
                port: self.addr.port(),
                id: format!("liar-{:016x}", rng.gen::<u64>()),
                name: "the tallest chain".to_owned(),
            };
            let targets: BTreeSet<SocketAddr> = self
                .seeds
                .iter()
                .chain(self.known.iter())
                .copied()
                .collect();
            for to in targets {
                CourseLiar::push(out, to, &gossip);
            }
        }
        if let Some(every) = self.announce_every_ms {
            if now_ms >= self.next_announce_ms {
                self.next_announce_ms = now_ms + every;
                let block = self.bogus_block(self.claimed_blocks - 1, now_ms);
                let targets: Vec<SocketAddr> = self.known.iter().copied().collect();
                for to in targets {
                    CourseLiar::push(out, to, &CourseMessage::Announce(block.clone()));
                }
            }
        }
        Some(1_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use votechain_course::block::{meets_difficulty, CourseError};

    #[test]
    fn bogus_blocks_look_like_work_but_do_not_hash_to_their_claim() {
        let addr = SocketAddr::from(([10, 6, 6, 6], 8999));
        let mut liar = CourseLiar::new(addr, Vec::new(), 1_000, 3, BlockLie::Bogus);
        let block = liar.bogus_block(7, 1_700_000_000_000);
        assert_eq!(block.height, 7);
        assert!(block.check_format().is_ok());
        assert!(meets_difficulty(&block.hash, 3));
        assert!(matches!(
            block.check_alone(None, 3),
            Err(CourseError::HashMismatch { .. })
        ));
        assert_ne!(liar.bogus_block(7, 0).hash, block.hash);

        let mut out = Outbox::default();
        let from = SocketAddr::from(([10, 1, 0, 1], 8999));
        liar.on_datagram(0, from, &wire::encode(&CourseMessage::Stats), &mut out);
        let claim = wire::decode(&out.0[0].1);
        assert!(
            matches!(claim, Ok(CourseMessage::StatsReply(Some((1_000, h)))) if meets_difficulty(&h, 3))
        );
    }
}
