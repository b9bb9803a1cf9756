//! Attack 4 of issue 9: a malicious peer that serves a longer chain whose first new block holds
//! a vote crafted with a small-order component in its nonce point `R` (`R = r·B + T8`, `s` chosen
//! for `r·B`). Whether such a vote is valid depends on the equation: the cofactored one accepts
//! it, the cofactorless one refuses it, and a cofactorless *batch* accepted it when the vote's
//! random weight happened to be a multiple of 8. So peers that fetched the block by sync (a
//! batch) and peers that got it by NEW_BLOCK (one by one) disagreed, and banned each other.
//!
//! The server is a real peer at its own address: it answers STATS with its chain and serves it
//! by REQUEST_CHAIN and GET_BLOCK, echoing cookies like anyone who receives its datagrams.

use super::{Adversary, Outbox};
use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::scalar::Scalar;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha512};
use std::net::SocketAddr;
use votechain_chain::{Ballot, Block, BlockTemplate, PublicKey, Signature, Vote, VoterKey};
use votechain_proto::{decode, ChainBlock, GetBlockReply, Message, StatsReply};

/// See the module docs.
#[derive(Debug)]
pub struct MixedOrderServer {
    addr: SocketAddr,
    ballot: Ballot,
    /// Extra blocks mined on the honest tip it is fed: the first holds the crafted vote.
    extra: usize,
    chain: Vec<Block>,
    /// The crafted vote, once made.
    pub crafted: Option<Vote>,
    /// CHAIN_BLOCK and GET_BLOCK_REPLY datagrams served.
    pub served: u64,
}

impl MixedOrderServer {
    /// A server at `addr` for the election of `ballot` that extends the chain it is fed by
    /// `extra` blocks (at least 1).
    pub fn new(addr: SocketAddr, ballot: &Ballot, extra: usize) -> MixedOrderServer {
        MixedOrderServer {
            addr,
            ballot: ballot.clone(),
            extra: extra.max(1),
            chain: Vec::new(),
            crafted: None,
            served: 0,
        }
    }

    /// A vote by a fresh voter whose nonce point carries an order-8 component.
    fn crafted_vote(&self, election: votechain_chain::Hash, seed: [u8; 32]) -> Vote {
        let a = Scalar::from_bytes_mod_order(seed);
        let key = a * ED25519_BASEPOINT_POINT;
        let mut vote = Vote {
            election,
            voter: PublicKey(key.compress().to_bytes()),
            choice: self.ballot.options[0].clone(),
            signature: Signature([0; 64]),
        };
        let r = Scalar::from_bytes_mod_order(votechain_chain::sha256(&[b"r", &seed]).0);
        let nonce = (r * ED25519_BASEPOINT_POINT + EIGHT_TORSION[1])
            .compress()
            .to_bytes();
        let mut h = Sha512::new();
        h.update(nonce);
        h.update(vote.voter.0);
        h.update(vote.signing_bytes());
        let k = Scalar::from_hash(h);
        let s = r + k * a;
        vote.signature.0[..32].copy_from_slice(&nonce);
        vote.signature.0[32..].copy_from_slice(s.as_bytes());
        vote
    }

    fn mine(&self, rng: &mut ChaCha8Rng, parent: &Block, votes: Vec<Vote>) -> Block {
        let t = BlockTemplate::new(
            parent.hash(),
            parent.height(),
            self.ballot.difficulty,
            parent.header().timestamp_ms + 1,
            "mixed-order",
            votes,
        )
        .expect("a small template");
        let mid = t.midstate();
        let mut nonce: u64 = rng.gen();
        while mid.hash(nonce).leading_zero_bits() < self.ballot.difficulty {
            nonce = nonce.wrapping_add(1);
        }
        t.seal(nonce)
    }
}

impl Adversary for MixedOrderServer {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn on_datagram(&mut self, _now_ms: u64, from: SocketAddr, bytes: &[u8], out: &mut Outbox) {
        let Some(tip) = self.chain.last() else {
            return;
        };
        let total = self.chain.len() as u64;
        match decode(bytes) {
            Ok(Message::Stats(_)) => out.push(
                from,
                &StatsReply {
                    height: total,
                    hash: tip.hash(),
                }
                .into(),
            ),
            Ok(Message::RequestChain(r)) => {
                let end = total.min(r.start.saturating_add(u64::from(r.count)));
                for h in r.start..end {
                    self.served += 1;
                    let block = self.chain[h as usize].clone();
                    let reply = ChainBlock {
                        index: h,
                        total_blocks: total,
                        block,
                    };
                    out.push(from, &reply.into());
                }
            }
            Ok(Message::GetBlock(g)) => {
                let block = match g.hash {
                    Some(hash) => self.chain.iter().find(|b| b.hash() == hash).cloned(),
                    None => self.chain.get(g.height as usize).cloned(),
                };
                self.served += 1;
                let reply = GetBlockReply {
                    height: g.height,
                    block,
                };
                out.push(from, &reply.into());
            }
            _ => {}
        }
    }

    fn on_tick(&mut self, _now_ms: u64, _rng: &mut ChaCha8Rng, _out: &mut Outbox) -> Option<u64> {
        None
    }

    fn feed_chain(&mut self, blocks: &[Block]) {
        let Some(tip) = blocks.last() else {
            return;
        };
        // Deterministic per fed chain: the seed comes from the tip it extends.
        let mut rng = <ChaCha8Rng as rand::SeedableRng>::from_seed(tip.hash().0);
        let election = blocks[0].hash();
        let crafted = self.crafted_vote(election, rng.gen());
        // Honest companions, so a batch holds more than the crafted vote.
        let mut votes = vec![crafted.clone()];
        for _ in 0..3 {
            let key = VoterKey::from_seed(rng.gen());
            votes.push(Vote::sign(
                key.signing_key(),
                election,
                &self.ballot.options[0],
            ));
        }
        let mut chain = blocks.to_vec();
        let first = self.mine(&mut rng, tip, votes);
        chain.push(first);
        for _ in 1..self.extra {
            let parent = chain.last().expect("not empty").clone();
            let next = self.mine(&mut rng, &parent, Vec::new());
            chain.push(next);
        }
        self.chain = chain;
        self.crafted = Some(crafted);
    }
}
