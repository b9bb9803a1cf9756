//! The end-of-run properties of a W4119 simulation, over both implementations' chains through
//! one [`ChainView`]: one tip everywhere, every vote our peers acknowledged in the common chain, every
//! peer a member of the tracker; and the host votes a fork cost. Each returns `Err` with a sentence naming what broke.

use super::{AckedVote, Core, PeerId, W4119Sim};

/// What a peer's chain amounts to, whichever implementation holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainView {
    /// The tip's hash.
    pub tip_hash: String,
    /// The tip's index (0: only the genesis block).
    pub height: u64,
    /// Every transaction's `(voter_id, candidate_id)`, in chain order (non-strings as JSON).
    pub votes: Vec<(String, String)>,
}

impl ChainView {
    /// Whether the chain holds a vote of `voter` for `choice`.
    pub fn holds(&self, voter: &str, choice: &str) -> bool {
        self.votes.iter().any(|(v, c)| v == voter && c == choice)
    }

    /// How many transactions are votes of `voter` for `choice`.
    pub fn count(&self, voter: &str, choice: &str) -> usize {
        self.votes
            .iter()
            .filter(|(v, c)| v == voter && c == choice)
            .count()
    }
}

impl W4119Sim {
    /// Peer `id`'s chain, or `None` while it is crashed.
    pub fn view(&self, id: PeerId) -> Option<ChainView> {
        match self.peers[id].core.as_ref()? {
            Core::Ours(node) => {
                let blocks = node.chain().blocks();
                let tip = node.chain().tip();
                Some(ChainView {
                    tip_hash: tip.hash.clone(),
                    height: tip.index,
                    votes: blocks
                        .iter()
                        .flat_map(|b| &b.transactions)
                        .map(|t| {
                            (
                                t.voter_id().unwrap_or_default().to_owned(),
                                t.candidate_id().unwrap_or_default().to_owned(),
                            )
                        })
                        .collect(),
                })
            }
            Core::Host(node) => {
                let chain = node.chain();
                let tip = chain.last()?;
                let text = |v: &serde_json::Value| match v.as_str() {
                    Some(s) => s.to_owned(),
                    None => v.to_string(),
                };
                Some(ChainView {
                    tip_hash: tip.hash.clone(),
                    height: tip.index,
                    votes: chain
                        .iter()
                        .flat_map(|b| &b.transactions)
                        .map(|t| (text(&t.voter_id), text(&t.candidate_id)))
                        .collect(),
                })
            }
        }
    }

    /// How many other peers peer `id` knows from the tracker (0 while crashed).
    pub fn listed_by(&self, id: PeerId) -> usize {
        match self.peers[id].core.as_ref() {
            Some(Core::Ours(node)) => node.peers().len(),
            Some(Core::Host(node)) => node.peer_list().len(),
            None => 0,
        }
    }

    /// `Ok` with the common chain when every running peer holds the same tip (the message
    /// names each peer's height, tip and how many peers it lists).
    pub fn check_one_tip(&self) -> Result<ChainView, String> {
        let views: Vec<(PeerId, ChainView)> = (0..self.peers.len())
            .filter_map(|id| Some((id, self.view(id)?)))
            .collect();
        let Some((_, first)) = views.first() else {
            return Err("no peer is running".to_owned());
        };
        if views.iter().any(|(_, v)| v.tip_hash != first.tip_hash) {
            let tips: Vec<String> = views
                .iter()
                .map(|(id, v)| {
                    format!(
                        "peer {id} at height {} ({:.8}, lists {} peers)",
                        v.height,
                        v.tip_hash,
                        self.listed_by(*id)
                    )
                })
                .collect();
            return Err(format!(
                "the peers hold different tips at t={} ms: {}",
                self.now,
                tips.join(", ")
            ));
        }
        Ok(first.clone())
    }

    /// `Ok` when every vote one of our peers acknowledged is in `chain`. A host's votes are not
    /// demanded: a W4119 peer mines a vote once, on whatever tip it holds, and forgets it when
    /// that block loses a fork (see [`W4119Sim::lost_host_votes`]).
    pub fn check_acked_in(&self, chain: &ChainView) -> Result<(), String> {
        let missing: Vec<String> = self
            .acked
            .iter()
            .filter(|a| self.peers[a.peer].ours && !chain.holds(&a.voter, &a.choice))
            .map(|a| format!("{} for {} (at peer {})", a.voter, a.choice, a.peer))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "votes our peers acknowledged are missing from the common chain: {}",
                missing.join(", ")
            ))
        }
    }

    /// The votes a host acknowledged that `chain` lacks.
    pub fn lost_host_votes(&self, chain: &ChainView) -> Vec<AckedVote> {
        self.acked
            .iter()
            .filter(|a| !self.peers[a.peer].ours && !chain.holds(&a.voter, &a.choice))
            .cloned()
            .collect()
    }

    /// `Ok` when the tracker lists exactly the running peers and each of them holds the
    /// tracker's acknowledgement.
    pub fn check_members(&self) -> Result<(), String> {
        let mut listed = self.tracker.peers().to_vec();
        listed.sort();
        let mut running: Vec<_> = (0..self.peers.len())
            .filter(|id| self.peers[*id].core.is_some())
            .map(|id| self.peers[id].addr)
            .collect();
        running.sort();
        if listed != running {
            return Err(format!(
                "the tracker lists {listed:?}, but the running peers are {running:?}"
            ));
        }
        for (id, peer) in self.peers.iter().enumerate() {
            let registered = match peer.core.as_ref() {
                Some(Core::Ours(node)) => node.registered(),
                Some(Core::Host(node)) => node.registered(),
                None => true,
            };
            if !registered {
                return Err(format!("peer {id} never got a REGISTER_ACK"));
            }
        }
        Ok(())
    }
}
