//! Unit tests of the W4119 node on a fake clock: the tracker conversation (only from the
//! tracker's address), serving whole chains (only to listed peers, once per gap), reading
//! CHAIN_BLOCK streams (only from peers asked), blocks added and persisted but not relayed
//! (W4119 peers fetch every chain on a duplicate), and our votes checked, mined, and mined again when a switch drops them.

use super::node::{W4119Command, W4119Config, W4119Node, W4119Output, W4119Record};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64};
use votechain_sansio::output::{Output, Transmit};
use votechain_w4119::wire::{self, W4119Message};
use votechain_w4119::{mine, BlockTemplate, Transaction, W4119Block, W4119Chain};

const DIFFICULTY: u32 = 2;

fn addr(last: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, last], 7000 + u16::from(last)))
}

fn tracker() -> SocketAddr {
    addr(1)
}

fn me() -> SocketAddr {
    addr(2)
}

/// A block with one vote on top of `parent`.
fn block_on(parent: &W4119Block, voter: &str, choice: &str) -> W4119Block {
    let stamp = "2026-12-02 10:00:00".to_owned();
    let template = BlockTemplate::after(
        parent,
        vec![Transaction::vote(voter, choice, &stamp)],
        stamp,
    );
    mine(
        &template,
        DIFFICULTY,
        &AtomicBool::new(false),
        &AtomicU64::new(0),
    )
    .expect("difficulty 2 mines")
}

/// A chain of `votes` one-vote blocks.
fn chain_of(votes: &[(&str, &str)]) -> W4119Chain {
    let mut chain = W4119Chain::new(DIFFICULTY);
    for (voter, choice) in votes {
        let block = block_on(chain.tip(), voter, choice);
        chain.try_append(block).expect("mined on the tip");
    }
    chain
}

/// A node, its clock, and what it did.
struct Harness {
    node: W4119Node,
    now: u64,
    out: Vec<W4119Output>,
}

impl Harness {
    fn new() -> Harness {
        let config = W4119Config::new(tracker(), me());
        let mut h = Harness {
            node: W4119Node::new(config, W4119Chain::new(DIFFICULTY), &[]),
            now: 1_000,
            out: Vec::new(),
        };
        h.tick(0);
        h
    }

    fn drain(&mut self) -> Vec<W4119Output> {
        let mut got = Vec::new();
        while let Some(o) = self.node.poll_output() {
            got.push(o);
        }
        self.out.extend(got.iter().cloned());
        got
    }

    fn tick(&mut self, ms: u64) -> Vec<W4119Output> {
        self.now += ms;
        self.node.handle_timeout(self.now);
        self.drain()
    }

    fn recv(&mut self, from: SocketAddr, message: &W4119Message) -> Vec<W4119Output> {
        self.node
            .handle_datagram(self.now, from, &wire::encode(message));
        self.drain()
    }

    /// Registered with the tracker listing `peers`, with the ballot.
    fn joined(peers: &[SocketAddr]) -> Harness {
        let mut h = Harness::new();
        let mut list: Vec<String> = peers.iter().map(ToString::to_string).collect();
        list.push(me().to_string());
        h.recv(tracker(), &W4119Message::RegisterAck { peer_list: list });
        h.recv(
            tracker(),
            &W4119Message::BallotOptions {
                voting_options: vec!["Adam".into(), "Bob".into()],
            },
        );
        h.drain();
        h
    }

    /// Feeds every mining job back as the block it gives, as the shell's miner would.
    fn mine_all(&mut self) {
        self.drain();
        loop {
            let job = self.out.iter().rev().find_map(|o| match o {
                Output::Mine(job) => Some(job.clone()),
                _ => None,
            });
            self.out.clear();
            let Some(Some(template)) = job else {
                return;
            };
            let block = mine(
                &template,
                DIFFICULTY,
                &AtomicBool::new(false),
                &AtomicU64::new(0),
            )
            .expect("mines");
            self.node.handle_mined(block);
            self.drain();
        }
    }
}

/// The datagrams in `out`, decoded, with their receivers.
fn sent(out: &[W4119Output]) -> Vec<(SocketAddr, W4119Message)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(Transmit { to, bytes }) => {
                Some((*to, wire::decode(bytes).expect("we send valid datagrams")))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn registers_every_half_second_until_acked_and_again_when_the_tracker_falls_silent() {
    let mut h = Harness::new();
    let first = sent(&h.out);
    assert_eq!(first, [(tracker(), W4119Message::RegisterPeer)]);
    assert!(sent(&h.tick(499)).is_empty());
    assert_eq!(sent(&h.tick(1)), [(tracker(), W4119Message::RegisterPeer)]);
    let ack = h.recv(
        tracker(),
        &W4119Message::RegisterAck {
            peer_list: vec![me().to_string()],
        },
    );
    assert_eq!(sent(&ack), [(tracker(), W4119Message::RequestBallot)]);
    assert!(h.node.registered());
    // POKE from the tracker is answered exactly; from anyone else it is not.
    let reply = h.recv(tracker(), &W4119Message::Poke);
    assert_eq!(sent(&reply), [(tracker(), W4119Message::PokeAck)]);
    assert_eq!(
        wire::encode(&W4119Message::PokeAck),
        br#"{"type": "POKE-ACK"}"#
    );
    assert!(sent(&h.recv(addr(9), &W4119Message::Poke)).is_empty());
    assert_eq!(h.node.counters().not_from_tracker, 1);
    // Five seconds without a POKE: register again.
    let later = h.tick(5_000);
    assert!(sent(&later).contains(&(tracker(), W4119Message::RegisterPeer)));
    assert!(!h.node.registered());
}

#[test]
fn lists_and_ballots_count_only_from_the_tracker() {
    let mut h = Harness::joined(&[addr(3)]);
    h.recv(
        addr(9),
        &W4119Message::UpdatePeers {
            peer_list: vec![addr(9).to_string()],
        },
    );
    h.recv(
        addr(9),
        &W4119Message::BallotOptions {
            voting_options: vec!["Mallory".into()],
        },
    );
    assert_eq!(h.node.peers(), [addr(3)]);
    assert_eq!(h.node.ballot().unwrap(), ["Adam", "Bob"]);
    assert_eq!(h.node.counters().not_from_tracker, 2);
    // The first ballot stands, even from the tracker's address.
    h.recv(
        tracker(),
        &W4119Message::BallotOptions {
            voting_options: vec!["Mallory".into()],
        },
    );
    assert_eq!(h.node.ballot().unwrap(), ["Adam", "Bob"]);
    assert_eq!(h.node.counters().ballots_ignored, 1);
}

#[test]
fn the_whole_chain_goes_only_to_listed_peers_and_once_per_gap() {
    let mut h = Harness::joined(&[addr(3)]);
    h.node = W4119Node::new(
        W4119Config::new(tracker(), me()),
        chain_of(&[("a", "Adam"), ("b", "Bob")]),
        &[],
    );
    h.recv(
        tracker(),
        &W4119Message::UpdatePeers {
            peer_list: vec![addr(3).to_string()],
        },
    );
    assert!(sent(&h.recv(addr(9), &W4119Message::RequestChain)).is_empty());
    assert_eq!(h.node.counters().chain_requests_refused, 1);
    let chain = sent(&h.recv(addr(3), &W4119Message::RequestChain));
    assert_eq!(chain.len(), 3);
    for (i, (to, m)) in chain.iter().enumerate() {
        assert_eq!(*to, addr(3));
        let W4119Message::ChainBlock {
            index,
            block,
            total_blocks,
        } = m
        else {
            panic!("not a CHAIN_BLOCK: {m:?}");
        };
        assert_eq!(
            (*index, block.index, *total_blocks),
            (i as u64, i as u64, 3)
        );
    }
    assert!(sent(&h.recv(addr(3), &W4119Message::RequestChain)).is_empty());
    h.tick(2_000);
    assert_eq!(sent(&h.recv(addr(3), &W4119Message::RequestChain)).len(), 3);
}

/// Sends `chain` from `from` as a CHAIN_BLOCK stream, in reverse order.
fn stream(h: &mut Harness, from: SocketAddr, chain: &W4119Chain) {
    let total_blocks = chain.len() as u64;
    for block in chain.blocks().iter().rev() {
        h.recv(
            from,
            &W4119Message::ChainBlock {
                index: block.index,
                block: block.clone(),
                total_blocks,
            },
        );
    }
}

#[test]
fn a_longer_chain_is_adopted_only_from_a_peer_we_asked() {
    let mut h = Harness::joined(&[addr(3)]);
    let longer = chain_of(&[("a", "Adam"), ("b", "Bob")]);
    // Joining asked the listed peer for its chain; it did not answer in time.
    h.tick(3_000);
    // Unasked: a stranger, or a listed peer we did not ask, cannot steer us.
    stream(&mut h, addr(9), &longer);
    stream(&mut h, addr(3), &longer);
    assert_eq!(h.node.chain().len(), 1);
    assert_eq!(h.node.counters().unsolicited, 6);
    // A NEW_BLOCK from a stranger that does not link makes us ask nobody.
    let tip = longer.tip().clone();
    assert!(sent(&h.recv(addr(9), &W4119Message::NewBlock { block: tip.clone() })).is_empty());
    // The same from a listed peer makes us ask it, and its stream is read.
    let asked = sent(&h.recv(addr(3), &W4119Message::NewBlock { block: tip }));
    assert_eq!(asked, [(addr(3), W4119Message::RequestChain)]);
    stream(&mut h, addr(3), &longer);
    assert_eq!(h.node.chain().tip().hash, longer.tip().hash);
    assert_eq!(h.node.counters().switches, 1);
    let persisted: Vec<u64> = h
        .out
        .iter()
        .filter_map(|o| match o {
            Output::Persist(W4119Record::Blocks(blocks)) => Some(blocks.iter().map(|b| b.index)),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(persisted, [1, 2]);
}

#[test]
fn a_forged_chain_is_not_adopted() {
    let mut h = Harness::joined(&[addr(3)]);
    h.node
        .handle_command(h.now, W4119Command::Sync)
        .expect("a listed peer");
    let mut forged = chain_of(&[("a", "Adam"), ("b", "Bob")]).blocks().to_vec();
    forged[1].transactions[0] = Transaction::vote("a", "Bob", "2026-12-02 10:00:00");
    let total_blocks = forged.len() as u64;
    for block in forged {
        h.recv(
            addr(3),
            &W4119Message::ChainBlock {
                index: block.index,
                block,
                total_blocks,
            },
        );
    }
    assert_eq!(h.node.chain().len(), 1);
    assert_eq!(h.node.counters().invalid_chains, 1);
}

#[test]
fn a_block_on_the_tip_is_persisted_and_not_relayed() {
    let mut h = Harness::joined(&[addr(3), addr(4)]);
    let block = block_on(h.node.chain().tip(), "a", "Adam");
    let out = h.recv(
        addr(3),
        &W4119Message::NewBlock {
            block: block.clone(),
        },
    );
    assert!(
        matches!(&out[0], Output::Persist(W4119Record::Blocks(b)) if b == std::slice::from_ref(&block))
    );
    // A W4119 peer takes a second copy for an invalid block and fetches every chain.
    assert!(sent(&out).is_empty(), "{:?}", sent(&out));
    // Seen once: a repeat is dropped.
    assert!(h
        .recv(addr(4), &W4119Message::NewBlock { block })
        .is_empty());
    // A block whose hash does not match its contents is refused whoever sends it.
    let mut forged = block_on(h.node.chain().tip(), "b", "Bob");
    forged.transactions[0] = Transaction::vote("b", "Adam", "2026-12-02 10:00:00");
    assert!(sent(&h.recv(addr(3), &W4119Message::NewBlock { block: forged })).is_empty());
    assert_eq!(h.node.counters().invalid_blocks, 1);
}

#[test]
fn votes_are_checked_against_the_ballot_and_the_count() {
    let mut h = Harness::new();
    let vote = |voter: &str, choice: &str| W4119Command::Vote {
        voter: voter.into(),
        choice: choice.into(),
    };
    let early = h.node.handle_command(h.now, vote("a", "Adam"));
    assert!(early.unwrap_err().contains("ballot has not arrived"));
    let mut h = Harness::joined(&[addr(3)]);
    let off = h.node.handle_command(h.now, vote("a", "Zed")).unwrap_err();
    assert!(off.contains("not on the ballot"), "{off}");
    h.node.handle_command(h.now, vote("a", "Adam")).unwrap();
    let pending = h.node.handle_command(h.now, vote("a", "Bob")).unwrap_err();
    assert!(pending.contains("already being mined"), "{pending}");
    h.mine_all();
    assert_eq!(h.node.chain().len(), 2);
    let again = h.node.handle_command(h.now, vote("a", "Bob")).unwrap_err();
    assert!(again.contains("already voted"), "{again}");
}

#[test]
fn our_vote_dropped_by_a_switch_is_mined_again_on_the_new_chain() {
    let mut h = Harness::joined(&[addr(3)]);
    h.node
        .handle_command(
            h.now,
            W4119Command::Vote {
                voter: "ours".into(),
                choice: "Bob".into(),
            },
        )
        .unwrap();
    h.mine_all();
    assert_eq!(h.node.chain().len(), 2);
    // A peer's longer fork without our vote wins.
    let longer = chain_of(&[("x", "Adam"), ("y", "Adam")]);
    h.node.handle_command(h.now, W4119Command::Sync).unwrap();
    stream(&mut h, addr(3), &longer);
    assert_eq!(h.node.chain().len(), 3);
    assert!(h.out.iter().any(|o| matches!(
        o,
        Output::Event(super::W4119Event::ChainSwitched { requeued: 1, .. })
    )));
    h.mine_all();
    let tally = h.node.tally();
    assert_eq!(h.node.chain().len(), 4);
    assert_eq!(
        tally.voted("ours").map(|(i, c)| (i, c.to_owned())),
        Some((3, "Bob".into()))
    );
}

#[test]
fn a_restarted_node_mines_its_unmined_votes_and_still_knows_its_mined_ones() {
    let mut h = Harness::joined(&[addr(3)]);
    let vote = |voter: &str| W4119Command::Vote {
        voter: voter.into(),
        choice: "Adam".into(),
    };
    h.node.handle_command(h.now, vote("mined")).unwrap();
    h.mine_all();
    h.node.handle_command(h.now, vote("waiting")).unwrap();
    h.drain();
    // What a store would hold: every own vote, acknowledged or not yet mined, and the chain.
    let own: Vec<Transaction> = h
        .out
        .iter()
        .filter_map(|o| match o {
            Output::Persist(W4119Record::OwnVote(t)) => Some(t.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        own.len(),
        1,
        "the mined vote's record was drained by mine_all"
    );
    let mined_vote = h.node.chain().tip().transactions[0].clone();
    let votes = [mined_vote, own[0].clone()];
    let chain = h.node.chain().clone();
    let mut again = Harness::joined(&[addr(3)]);
    again.node = W4119Node::new(W4119Config::new(tracker(), me()), chain, &votes);
    again.tick(0);
    assert_eq!(again.node.own_pending().count(), 1);
    again.mine_all();
    let holds = |h: &Harness, t: &Transaction| {
        h.node
            .chain()
            .blocks()
            .iter()
            .any(|b| b.transactions.contains(t))
    };
    assert!(holds(&again, &votes[1]));
    // A longer fork without either: both are still known as ours and mined again.
    let longer = chain_of(&[("x", "Bob"), ("y", "Bob"), ("z", "Bob"), ("w", "Bob")]);
    let peer_list = vec![addr(3).to_string()];
    again.recv(tracker(), &W4119Message::RegisterAck { peer_list });
    again
        .node
        .handle_command(again.now, W4119Command::Sync)
        .unwrap();
    stream(&mut again, addr(3), &longer);
    assert_eq!(again.node.counters().switches, 1);
    again.mine_all();
    assert!(holds(&again, &votes[0]) && holds(&again, &votes[1]));
}
