//! Honest peer hosts: adding peers (and founders), crashing and restarting them, and the console
//! commands a scenario gives them. A peer's slot outlives its core: what the core persisted is
//! its store, which a restart rebuilds it from with `recover::rebuild` and a fresh seed.

use super::clock::{Clock, Timer};
use super::delivery::Endpoint;
use super::{sim_node_config, PeerId, Sim, TRACKER_ADDR};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::net::SocketAddr;
use votechain_chain::{Block, BlockTemplate, Vote};
use votechain_peer::config::NodeConfig;
use votechain_peer::node::{Command, Node, Reply, SubmitReply};
use votechain_peer::recover;

/// One simulated peer: its core while it runs, and what outlives a crash.
pub(super) struct PeerSlot {
    /// Its address, 10.1.x.y:6000.
    pub(super) addr: SocketAddr,
    /// What every boot starts its core with.
    cfg: NodeConfig,
    /// The core, while it runs.
    pub(super) node: Option<Node>,
    /// Blocks persisted, in order: the store a restart rebuilds from.
    pub(super) store_blocks: Vec<Block>,
    /// Votes persisted.
    pub(super) store_votes: Vec<Vote>,
    /// Its clock, skewed.
    pub(super) clock: Clock,
    /// Its core's one timer.
    pub(super) timer: Timer,
    /// Bumped on every new mining job and on a crash: only the current job's "found" counts.
    pub(super) mine_generation: u64,
    /// The template its miner works on, if mining.
    pub(super) job: Option<BlockTemplate>,
    /// Left the election for good (churn).
    gone: bool,
    /// Datagrams delivered to it, over all its lives.
    pub(super) datagrams_in: u64,
    /// Datagrams it sent, over all its lives.
    pub(super) datagrams_out: u64,
    /// Times it was restarted after a crash.
    restarts: u32,
}

impl Sim {
    /// The address of the `i`-th peer: 10.1.x.y:6000.
    pub fn peer_addr_of(i: usize) -> SocketAddr {
        let ip = std::net::Ipv4Addr::new(10, 1, (i / 250) as u8, (i % 250 + 1) as u8);
        SocketAddr::new(ip.into(), 6000)
    }

    /// Adds a peer with [`sim_node_config`] (registered with the tracker if there is one),
    /// adjusted by `tweak`; it starts within 200 ms.
    pub fn add_peer(&mut self, tweak: impl FnOnce(&mut NodeConfig)) -> PeerId {
        let id = self.peers.len();
        let addr = Self::peer_addr_of(id);
        let tracker = self.tracker.as_ref().map(|_| TRACKER_ADDR);
        let mut cfg = sim_node_config(addr, tracker);
        tweak(&mut cfg);
        let clock = self.draw_clock();
        self.peers.push(PeerSlot {
            addr,
            cfg,
            node: None,
            store_blocks: Vec::new(),
            store_votes: Vec::new(),
            clock,
            timer: Timer::default(),
            mine_generation: 0,
            job: None,
            gone: false,
            datagrams_in: 0,
            datagrams_out: 0,
            restarts: 0,
        });
        self.endpoints.insert(addr, Endpoint::Peer(id));
        self.boot_peer(id);
        id
    }

    /// Adds a peer whose store already holds the genesis block, as if it had run before: the
    /// founder of an election without a tracker, whom the others fetch the election from.
    pub fn add_founder(&mut self, tweak: impl FnOnce(&mut NodeConfig)) -> PeerId {
        let genesis = Block::genesis(&self.ballot).expect("simulations use a valid ballot");
        let id = self.add_peer(tweak);
        self.crash_peer(id);
        self.peers[id].store_blocks.push(genesis);
        self.boot_peer(id);
        id
    }

    /// Number of peers ever added.
    pub fn n_peers(&self) -> usize {
        self.peers.len()
    }

    /// The address of peer `id`.
    pub fn peer_addr(&self, id: PeerId) -> SocketAddr {
        self.peers[id].addr
    }

    /// Peer `id`'s core, while it runs.
    pub fn node(&self, id: PeerId) -> Option<&Node> {
        self.peers[id].node.as_ref()
    }

    /// Peers currently running, in id order.
    pub fn running(&self) -> Vec<PeerId> {
        (0..self.peers.len())
            .filter(|i| self.peers[*i].node.is_some())
            .collect()
    }

    /// True when peer `id` left for good.
    pub fn is_gone(&self, id: PeerId) -> bool {
        self.peers[id].gone
    }

    /// Datagrams peer `id` received and sent over all its lives.
    pub fn peer_traffic(&self, id: PeerId) -> (u64, u64) {
        (self.peers[id].datagrams_in, self.peers[id].datagrams_out)
    }

    /// Turns peer `id`'s miner on or off, as its console's `mine` command does.
    pub fn set_mining(&mut self, id: PeerId, on: bool) {
        let local = self.peer_clock_ms(id);
        if let Some(node) = self.peers[id].node.as_mut() {
            node.handle_command(local, Command::SetMining(on));
            self.drain_peer(id, false);
        }
    }

    /// Crashes peer `id`: its core is dropped with its timers and mining job; its store stays.
    pub fn crash_peer(&mut self, id: PeerId) {
        let slot = &mut self.peers[id];
        if slot.node.take().is_none() {
            return;
        }
        slot.timer.cancel();
        slot.mine_generation += 1;
        slot.job = None;
        self.burst.remove(&id);
        self.print(id, || "crashed".into());
        self.trace("crash", id, &[]);
    }

    /// Restarts a crashed peer from its own store, with a fresh seed.
    pub fn restart_peer(&mut self, id: PeerId) {
        if self.peers[id].node.is_some() || self.peers[id].gone {
            return;
        }
        self.peers[id].restarts += 1;
        self.boot_peer(id);
    }

    /// Builds peer `id`'s core from its store, with a fresh seed; its first timer fires within
    /// 200 ms.
    fn boot_peer(&mut self, id: PeerId) {
        let seed: u64 = self.rng.gen();
        let local = self.peer_clock_ms(id);
        let slot = &mut self.peers[id];
        let chain = match recover::rebuild(
            slot.store_blocks.clone(),
            slot.store_votes.clone(),
            self.cfg.chain.clone(),
            local,
        ) {
            Ok(Some((chain, _report))) => Some(chain),
            Ok(None) => None,
            Err(e) => panic!("peer {id} cannot rebuild from its own store: {e}"),
        };
        slot.node = Some(Node::new(
            slot.cfg.clone(),
            ChaCha8Rng::seed_from_u64(seed),
            chain,
        ));
        let start = self.now + self.rng.gen_range(0..200);
        self.trace("boot", id, &seed.to_be_bytes());
        self.arm_peer_at(id, start);
    }

    /// Peer `id` leaves the election for good (LEAVE_PEER to the tracker, then gone).
    pub fn leave_peer(&mut self, id: PeerId) {
        let local = self.peer_clock_ms(id);
        if let Some(node) = self.peers[id].node.as_mut() {
            node.handle_command(local, Command::Leave);
            self.drain_peer(id, false);
        }
        self.crash_peer(id);
        self.peers[id].gone = true;
    }

    /// Submits `vote` at peer `id` as its console would; an acknowledged vote (`Pending`) is
    /// remembered for the final check.
    pub fn submit_vote(&mut self, id: PeerId, vote: Vote) -> SubmitReply {
        let local = self.peer_clock_ms(id);
        let Some(node) = self.peers[id].node.as_mut() else {
            return SubmitReply::NoElection;
        };
        let Reply::Vote(reply) = node.handle_command(local, Command::SubmitVote(vote.clone()))
        else {
            unreachable!("a vote is answered with a SubmitReply");
        };
        self.print(id, || format!("vote {reply:?}"));
        if let SubmitReply::Pending(vote_id) = &reply {
            self.acked.insert(*vote_id, vote);
            self.ledger.acked_by(*vote_id, id);
        }
        self.trace("vote", id, format!("{reply:?}").as_bytes());
        self.drain_peer(id, false);
        reply
    }
}
