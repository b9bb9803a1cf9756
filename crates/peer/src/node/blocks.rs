//! Blocks as news: learning the election (the tracker's ballot or a seed's genesis), accepting
//! a new or mined block, remembering which blocks were seen, persisting what joined the tree
//! and relaying it once per hash. Fetching chains is [`super::catchup`]'s, serving them
//! [`super::serve`]'s.
//!
//! `Seen` holds only blocks in the tree or invalid forever, so a block refused for a reason
//! that can change (too far in the future, unknown parent) is reconsidered whenever it arrives
//! again, by any path.

use super::{Event, Inbound, Node, Output, Record};
use crate::peers::printable;
use rand::RngCore;
use std::net::SocketAddr;
use votechain_chain::validate::ValidationError;
use votechain_chain::{AddOutcome, Ballot, Block, Connected, Hash};
use votechain_proto::{BallotOptions, NewBlock, RegisterRefused};
use votechain_sansio::DedupCache;

/// Blocks and votes already handled, so each is validated and relayed once and floods die out.
#[derive(Debug)]
pub(super) struct Seen {
    /// Blocks in the tree or invalid forever.
    pub(super) blocks: DedupCache<Hash>,
    /// Votes accepted, or refused for a reason that does not change.
    pub(super) votes: DedupCache<Hash>,
}

impl Seen {
    /// Remembers up to `cap` of each.
    pub(super) fn new(cap: usize) -> Seen {
        Seen {
            blocks: DedupCache::new(cap),
            votes: DedupCache::new(cap),
        }
    }
}

/// How a block that joined the tree is relayed: to every peer but the one it came from.
#[derive(Debug, Clone, Copy)]
pub(super) struct Relay {
    /// The peer the block came from.
    except: Option<SocketAddr>,
}

impl<R: RngCore> Node<R> {
    /// BALLOT_OPTIONS from the tracker: check it against its election id, then start the chain.
    pub(super) fn on_ballot(&mut self, now_ms: u64, m: &BallotOptions) {
        let ballot = m.ballot();
        let genesis = match Block::genesis(&ballot) {
            Ok(g) if g.hash() == m.election => g,
            Ok(g) => {
                tracing::warn!(
                    "the tracker's ballot hashes to election {}, not to the {} it claims: ignored",
                    g.hash(),
                    m.election
                );
                return;
            }
            Err(e) => {
                tracing::warn!("the tracker sent a ballot that breaks a rule ({e}): ignored");
                return;
            }
        };
        self.tracker.ballot_known();
        match &self.chain {
            Some(c) if c.election() == m.election => {}
            Some(c) => {
                self.out.push_back(Output::Event(Event::ElectionMismatch {
                    ours: (c.election(), c.ballot().title.clone()),
                    tracker: (m.election, ballot.title.clone()),
                    reason: None,
                }));
            }
            None => self.init_chain(now_ms, &ballot, genesis),
        }
    }

    /// REGISTER_REFUSED from the tracker (proven): it serves another election than the one we
    /// hold. Said once per election, naming both and what to do; registration goes on, so a
    /// tracker that comes back with our election takes us.
    pub(super) fn on_refused(&mut self, m: &RegisterRefused) {
        let Some(ours) = self
            .chain
            .as_ref()
            .map(|c| (c.election(), c.ballot().title.clone()))
        else {
            return;
        };
        if self.tracker.on_refused(m.election, &m.title) {
            self.out.push_back(Output::Event(Event::ElectionMismatch {
                ours,
                tracker: (m.election, printable(&m.title)),
                reason: Some(printable(&m.reason)),
            }));
        }
    }

    pub(super) fn init_chain(&mut self, now_ms: u64, ballot: &Ballot, genesis: Block) {
        let chain = match self.cfg.profile.new_chain(ballot) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("the ballot was refused: {e}");
                return;
            }
        };
        let election = chain.election();
        self.tracker.holds(election);
        self.chain = Some(chain);
        self.out.push_back(Output::Persist(Record::Block(genesis)));
        self.out.push_back(Output::Event(Event::ElectionKnown {
            election,
            title: ballot.title.clone(),
            roll: ballot.roll_summary(),
        }));
        self.rounds.hurry(now_ms);
        self.mining.touch();
    }

    /// NEW_BLOCK: validated unless seen, relayed when it joins the tree.
    pub(super) fn on_new_block(&mut self, now_ms: u64, input: Inbound, block: Block) {
        if self.chain.is_none() || self.seen.blocks.contains(&block.hash()) {
            return;
        }
        if self.other_election(input, &block) {
            return;
        }
        self.add_block(now_ms, Some(input), block, true);
    }

    /// True when `block` shows it belongs to another election: a genesis block not ours, or a
    /// block 1 whose parent is not our genesis. Its sender, if it proves its origin, is set
    /// aside (said once), not struck: an honest peer of another election is no liar, and is
    /// simply of no use to us. The block is dropped without further work either way.
    pub(super) fn other_election(&mut self, input: Inbound, block: &Block) -> bool {
        let Some(ours) = self.chain.as_ref().map(|c| c.election()) else {
            return false;
        };
        let theirs = match block.height() {
            0 => block.hash(),
            1 => block.prev(),
            _ => return false,
        };
        if theirs == ours {
            return false;
        }
        if input.proven && self.peers.set_aside(&input.from, theirs) {
            self.catchup.downloader.forget_peer(&input.from);
            self.mining.touch();
            self.out.push_back(Output::Event(Event::OtherElection {
                peer: input.from,
                election: theirs,
            }));
        }
        true
    }

    /// A block this node mined.
    pub fn handle_mined(&mut self, now_ms: u64, block: Block) {
        if self.chain.is_none() || self.seen.blocks.contains(&block.hash()) {
            return;
        }
        let (height, hash) = (block.height(), block.hash());
        self.mining.job_done(now_ms);
        if self.add_block(now_ms, None, block, true) {
            self.stats.mined += 1;
            self.out
                .push_back(Output::Event(Event::Mined { height, hash }));
        }
        self.after_input(now_ms);
        self.update_mining(now_ms);
    }

    /// Validates and adds one block that arrived as news (`from`, or mined here when `None`);
    /// true when it joined the tree.
    pub(super) fn add_block(
        &mut self,
        now_ms: u64,
        from: Option<Inbound>,
        block: Block,
        relay: bool,
    ) -> bool {
        let Some(chain) = self.chain.as_mut() else {
            return false;
        };
        let (height, hash) = (block.height(), block.hash());
        self.stats.blocks_validated += 1;
        let received = u64::from(from.is_some());
        match chain.add_block(block, now_ms) {
            Ok(AddOutcome::Added(c)) => {
                self.stats.blocks_accepted += received;
                let relay = relay.then_some(Relay {
                    except: from.map(|i| i.from),
                });
                self.on_connected(now_ms, c, relay);
                true
            }
            Ok(AddOutcome::Orphan { missing, .. }) => {
                self.stats.blocks_orphaned += received;
                if let Some(input) = from {
                    self.fetch_missing(now_ms, input, (height, hash), missing);
                }
                false
            }
            Ok(AddOutcome::Duplicate { orphan }) => {
                self.stats.blocks_duplicate += received;
                if !orphan {
                    self.seen.blocks.insert(hash);
                }
                false
            }
            Err(e) => {
                let proven_sender = from.filter(|i| i.proven).map(|i| i.from);
                self.invalid_block(now_ms, proven_sender, hash, &e);
                false
            }
        }
    }

    /// A block failed validation. Only a block invalid forever is remembered as seen (so it is
    /// not validated again), and only such a block from a proven sender costs that sender: a
    /// block from the future is merely early, and an honest peer may relay it.
    pub(super) fn invalid_block(
        &mut self,
        now_ms: u64,
        proven_sender: Option<SocketAddr>,
        hash: Hash,
        error: &ValidationError,
    ) {
        self.stats.invalid_blocks += 1;
        let permanent = error.is_permanent();
        self.warn_limited(
            now_ms,
            "invalid block",
            format_args!("block {hash} refused: {error}"),
        );
        if !permanent {
            return;
        }
        self.seen.blocks.insert(hash);
        if let Some(peer) = proven_sender {
            let limit = self.cfg.strike_limit;
            self.strike(peer, limit, now_ms, "sent an invalid block");
        }
    }

    /// Persists what joined the tree (in connection order, so a restart replays it), relays it
    /// when it arrived as news (`relay`) and could become the best chain soon (its work within
    /// two blocks of the tip's: cheap side blocks off old ancestors stop here), and reports a
    /// tip change.
    pub(super) fn on_connected(&mut self, now_ms: u64, c: Connected, relay: Option<Relay>) {
        let Some(chain) = self.chain.as_ref() else {
            return;
        };
        let blocks: Vec<(Block, bool)> = c
            .added
            .iter()
            .filter_map(|h| Some((chain.block(h)?.clone(), chain.within_relay_distance(h))))
            .collect();
        for (hash, e) in &c.rejected_orphans {
            self.stats.invalid_blocks += 1;
            self.warn_limited(
                now_ms,
                "invalid block",
                format_args!("waiting block {hash} refused: {e}"),
            );
        }
        // A new side block can tie with the tip (see `update_mining`), not only a tip change.
        if !blocks.is_empty() {
            self.mining.touch();
        }
        for (block, relayable) in blocks {
            self.seen.blocks.insert(block.hash());
            // Stored first: the shell syncs it before sending the relay that follows.
            self.out
                .push_back(Output::Persist(Record::Block(block.clone())));
            if let (Some(r), true) = (relay, relayable) {
                self.broadcast(now_ms, &NewBlock { block }.into(), r.except);
            }
        }
        if let Some(change) = c.tip_change {
            self.stats.reorgs += u64::from(!change.left.is_empty());
            let chain = self.chain.as_ref().expect("checked above");
            let tip = chain.tip();
            self.out.push_back(Output::Event(Event::TipChanged {
                height: chain.height(),
                hash: chain.tip_hash(),
                reorg_depth: change.left.len(),
                returned_votes: change.returned_votes,
                miner: tip.miner().to_owned(),
                votes: tip.votes().len(),
            }));
            self.mining.touch();
        }
    }
}
