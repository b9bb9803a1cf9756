//! Blocks that arrive out of order are fetched and connected, and the honest peer that sent
//! them is not punished for it. (Found while writing test (e): during a burst of blocks a
//! late joiner banned the only peer it knew, mined alone, and its vote never reached anyone.)
//!
//! The test plays the honest peer itself, so the order is certain: it builds a valid chain of
//! eight blocks on the election's genesis, becomes a known peer of a fresh node (GOSSIP after
//! proving its address), announces blocks 3 to 8 without 1 and 2 — as a node that missed two
//! NEW_BLOCKs sees them — and then answers the node's requests the way a real peer does.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use votechain_chain::{Block, BlockTemplate};
use votechain_proto::{ChainBlock, GetBlockReply, Gossip, Message, NewBlock, StatsReply, Verify};
use votechain_tests::{Mining, Peer, PeerConfig, Probe, Tracker, TrackerConfig, DEADLINE};

/// A chain held by the test, served over a probe socket like a peer serves its own.
struct HonestPeer {
    probe: Probe,
    chain: Vec<Block>,
}

impl HonestPeer {
    fn summary(&self) -> StatsReply {
        let tip = self.chain.last().expect("the chain has genesis");
        StatsReply {
            height: self.chain.len() as u64,
            hash: tip.hash(),
        }
    }

    /// Answers what `node` asks for a while: blocks by height or hash (echoing the asked
    /// height, as `peer` does), chain batches, STATS, challenges.
    fn serve(&self, node: SocketAddr, for_how_long: Duration) {
        let deadline = Instant::now() + for_how_long;
        while let Some(r) = self
            .probe
            .recv(deadline.saturating_duration_since(Instant::now()))
        {
            if r.from != node {
                continue;
            }
            let reply: Vec<Message> = match r.message() {
                Some(Message::GetBlock(g)) => {
                    let block = match g.hash {
                        Some(h) => self.chain.iter().find(|b| b.hash() == h),
                        None => self.chain.get(g.height as usize),
                    };
                    vec![GetBlockReply {
                        height: g.height,
                        block: block.cloned(),
                    }
                    .into()]
                }
                Some(Message::RequestChain(rc)) => self
                    .chain
                    .iter()
                    .skip(rc.start as usize)
                    .take(rc.count as usize)
                    .map(|b| {
                        ChainBlock {
                            index: b.height(),
                            total_blocks: self.chain.len() as u64,
                            block: b.clone(),
                        }
                        .into()
                    })
                    .collect(),
                Some(Message::Stats(_)) => vec![self.summary().into()],
                Some(Message::Challenge(c)) => vec![Verify { token: c.token }.into()],
                _ => vec![],
            };
            for m in reply {
                self.probe.send(node, &m);
            }
        }
    }
}

/// Blocks 1..=n on `genesis`, empty, mined at the election's difficulty.
fn build_chain(genesis: Block, n: u64, difficulty: u32) -> Vec<Block> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut chain = vec![genesis];
    for i in 0..n {
        let parent = chain.last().expect("genesis first");
        let template = BlockTemplate::new(
            parent.hash(),
            parent.height(),
            difficulty,
            now + i,
            "honest",
            vec![],
        )
        .expect("an empty block with a short miner name is well-formed");
        let block = (0..)
            .map(|nonce| template.seal(nonce))
            .find(|b| b.header().meets_difficulty())
            .expect("a low difficulty is met");
        chain.push(block);
    }
    chain
}

#[test]
fn blocks_out_of_order_connect_and_their_sender_is_not_banned() {
    let tracker = Tracker::start(TrackerConfig::default());
    let ballot = tracker.ballot();
    let mut node = Peer::start(
        "ooo-node",
        PeerConfig::with_tracker(tracker.port()).mining(Mining::Off),
    );
    node.wait_ready();
    let honest = HonestPeer {
        probe: Probe::new(),
        chain: build_chain(Block::genesis(&ballot).unwrap(), 8, ballot.difficulty),
    };

    // Become a peer of the node: GOSSIP, answer its CHALLENGE, GOSSIP again.
    let me = honest.probe.addr();
    let gossip: Message = Gossip {
        host: me.ip().to_string(),
        port: me.port(),
        id: "honest-1".into(),
        name: "honest".into(),
    }
    .into();
    honest.probe.send(node.addr, &gossip);
    honest.serve(node.addr, Duration::from_millis(300));
    honest.probe.send(node.addr, &gossip);
    honest.serve(node.addr, Duration::from_millis(300));
    let me_text = me.to_string();
    assert!(
        node.peers().iter().any(|l| l.starts_with(&me_text)),
        "the node took the honest peer on: {:?}",
        node.peers()
    );

    // Blocks 3..=8 before 1 and 2.
    for block in &honest.chain[3..] {
        honest.probe.send(
            node.addr,
            &NewBlock {
                block: block.clone(),
            }
            .into(),
        );
    }
    let target = honest.summary();
    let deadline = Instant::now() + DEADLINE;
    loop {
        honest.serve(node.addr, Duration::from_millis(200));
        let stats = node.stats();
        if stats.is_some_and(|s| (s.blocks, s.tip) == (target.height, target.hash)) {
            break;
        }
        if Instant::now() >= deadline {
            panic!(
                "the node did not take the honest chain of {} blocks within {DEADLINE:?}: it \
                 is at {stats:?}; its peers: {:?}",
                target.height,
                node.peers()
            );
        }
    }
    let peers = node.peers();
    let line = peers.iter().find(|l| l.starts_with(&me_text));
    assert!(
        line.is_some_and(|l| !l.contains("BANNED")),
        "the honest peer is banned: {line:?}"
    );
}
