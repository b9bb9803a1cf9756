//! Attack 9, forged tracker datagrams: in the tracker's name, an UPDATE_PEERS planting
//! addresses where nothing lives to every honest peer, and a BALLOT_OPTIONS of another
//! election to every peer that does not know its election yet (a peer that has just joined).

use super::{Attack, Ctx};
use crate::world::{PeerId, TRACKER_ADDR};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use votechain_chain::{Ballot, Block};
use votechain_proto::{BallotOptions, UpdatePeers};

/// See the module docs.
#[derive(Debug)]
pub struct TrackerForger {
    planted: Vec<SocketAddr>,
    plant_at_ms: u64,
    until_ms: u64,
    planted_done: bool,
    ballot_sent: BTreeSet<PeerId>,
    /// Forged datagrams sent.
    pub forged: u64,
}

impl TrackerForger {
    /// Plants `planted` at `plant_at_ms`; watches for peers without an election (every 2 ms)
    /// until `until_ms`.
    pub fn new(planted: Vec<SocketAddr>, plant_at_ms: u64, until_ms: u64) -> TrackerForger {
        TrackerForger {
            planted,
            plant_at_ms,
            until_ms,
            planted_done: false,
            ballot_sent: BTreeSet::new(),
            forged: 0,
        }
    }

    /// The election the forger offers.
    pub fn forged_ballot(difficulty: u32) -> Ballot {
        Ballot::open("Forged election", &["Mallory", "Trudy"], difficulty)
    }
}

impl Attack for TrackerForger {
    fn name(&self) -> &'static str {
        "tracker-forger"
    }

    fn on_tick(&mut self, ctx: &mut Ctx<'_>) -> Option<u64> {
        let sim = ctx.sim();
        if !self.planted_done && ctx.now() >= self.plant_at_ms {
            self.planted_done = true;
            let update = UpdatePeers {
                peer_list: self.planted.clone(),
            }
            .into();
            for id in sim.running() {
                ctx.forge(TRACKER_ADDR, sim.peer_addr(id), &update);
                self.forged += 1;
            }
        }
        let ballot = Self::forged_ballot(sim.ballot().difficulty);
        let election = Block::genesis(&ballot).expect("a valid ballot").hash();
        let offer = BallotOptions::new(&ballot, election).into();
        for id in sim.running() {
            let unknown = sim.node(id).is_some_and(|n| n.chain().is_none());
            if unknown && self.ballot_sent.insert(id) {
                ctx.forge(TRACKER_ADDR, sim.peer_addr(id), &offer);
                self.forged += 1;
            }
        }
        (ctx.now() < self.until_ms).then_some(2)
    }
}
