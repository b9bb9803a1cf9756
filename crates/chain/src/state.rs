//! The chain state of one election: every valid block in a tree keyed by hash and rooted at
//! genesis, the best chain chosen by cumulative work, the pending pool, orphans waiting for their
//! parent, the running tally and the receipts.
//!
//! Invariants, which make the rest simple:
//! - Every block in the tree is fully valid on its own branch: it is validated when it arrives
//!   (with the voters of its branch, not of the best chain), so switching branches never fails
//!   half-way and never needs to re-validate.
//! - The best tip has the most cumulative work; on a tie the block seen first stays best.
//! - The pool holds only votes valid on top of the best tip: no voter in the pool has a vote in the
//!   best chain, and no two pool votes share a voter. A reorganisation puts the votes of the blocks
//!   that left back in front of the pool unless the new branch holds them, so no vote is lost.
//! - Every table is capped by [`ChainConfig`] except the best chain itself, which is the data.
//!   The pending pool's cap refuses new votes and never evicts one: votes a reorganisation returns
//!   or a restart restores were acknowledged, so they may take it past the cap until blocks drain
//!   it. Side blocks are capped by count and by bytes.
//!
//! This file holds the tree and the fork choice. Submodules: `branch.rs` validates a block
//! against its own branch and caps side branches; `votes.rs` keeps the vote-level bookkeeping of
//! the best chain (indexes, tally, pool admission, receipts); `queries.rs` is the read side.

use crate::ballot::{Ballot, BallotError};
use crate::block::Block;
use crate::hash::{Hash, PublicKey};
use crate::header::work;
use crate::limits::MAX_SIDE_BYTES;
use crate::orphans::Orphans;
use crate::pool::Pool;
use crate::receipt::Rejections;
use crate::tally::Counts;
use crate::validate::{check_header, check_timestamp, check_work, ValidationError, VerifiedBlock};
use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};

mod branch;
mod queries;
mod votes;

use branch::BranchVoters;

pub use votes::{SubmitOutcome, VoteRejected};

/// Caps of every table the chain state keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainConfig {
    /// Most new votes the pending pool admits; a full pool refuses new votes ("the pending pool
    /// is full (N votes); try again later") and never evicts an accepted one. Votes returned by a
    /// reorganisation or restored at restart are admitted past it. Default 100,000: about 30 MB,
    /// and more than any ballot roll ([`crate::limits::MAX_VOTERS`]) needs.
    pub max_pending_votes: usize,
    /// Most blocks waiting for their parent; the oldest is evicted. Default 4,096: a sync window
    /// of blocks arriving out of order fits with room to spare.
    pub max_orphans: usize,
    /// Most blocks off the best chain; the side-branch tip with the least work (the newest on a
    /// tie) is evicted. Default 10,000: deep honest forks fit, while a flood of cheap forks off an
    /// old block cannot grow memory without bound.
    pub max_side_blocks: usize,
    /// Most bytes (as [`side_block_bytes`] estimates them) held in blocks off the best chain,
    /// evicted like `max_side_blocks`: a count alone lets full 128-vote blocks take ~60 KB each.
    /// Default [`crate::limits::MAX_SIDE_BYTES`].
    pub max_side_bytes: usize,
    /// How many recent rejections receipts remember. Default 10,000.
    pub max_rejections: usize,
}

impl Default for ChainConfig {
    fn default() -> ChainConfig {
        ChainConfig {
            max_pending_votes: 100_000,
            max_orphans: 4_096,
            max_side_blocks: 10_000,
            max_side_bytes: MAX_SIDE_BYTES,
            max_rejections: 10_000,
        }
    }
}

/// A block in the tree with what the state derives from it.
#[derive(Debug, Clone)]
struct Node {
    block: Block,
    /// Vote ids in block order, computed once: indexes, receipts and reorganisations need them.
    ids: Vec<Hash>,
    /// Work from genesis to this block.
    cum_work: u128,
    /// Arrival order, the fork-choice tie-breaker.
    seq: u64,
    /// Children in the tree; a side block with none is a side tip, the only kind evicted.
    children: u32,
    /// [`side_block_bytes`] of the block, computed once for the side-branch byte cap.
    bytes: usize,
}

/// The memory a block takes in the tree, estimated from what it holds: the node itself, and per
/// vote the vote, its id and its choice string, plus the miner name. It counts against
/// [`ChainConfig::max_side_bytes`] while the block is off the best chain. Deterministic, so every
/// peer evicts the same side blocks.
pub fn side_block_bytes(block: &Block) -> usize {
    let per_vote = std::mem::size_of::<crate::vote::Vote>() + std::mem::size_of::<Hash>();
    let choices: usize = block.votes().iter().map(|v| v.choice.len()).sum();
    std::mem::size_of::<Node>()
        .saturating_add(block.miner().len())
        .saturating_add(block.votes().len().saturating_mul(per_vote))
        .saturating_add(choices)
}

impl Node {
    fn leaf_key(&self) -> (u128, Reverse<u64>, Hash) {
        (self.cum_work, Reverse(self.seq), self.block.hash())
    }
}

/// What [`ChainState::add_block`] did with a block that is not invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddOutcome {
    /// The block is in the tree, possibly with orphans that were waiting for it.
    Added(Connected),
    /// The parent is unknown: the block waits in the orphan pool.
    Orphan {
        /// The block to fetch so this one can connect (its first ancestor not held anywhere).
        missing: Hash,
        /// An older orphan evicted to make room.
        evicted: Option<Hash>,
    },
    /// Already known: in the tree, or waiting as an orphan when `orphan` is true.
    Duplicate {
        /// True when the known copy is an orphan.
        orphan: bool,
    },
}

/// The effects of adding one block and the orphans it let connect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connected {
    /// Blocks added to the tree: the block itself first, then orphans in connection order.
    pub added: Vec<Hash>,
    /// How the best chain changed, if it did.
    pub tip_change: Option<TipChange>,
    /// Waiting orphans that turned out invalid when their parent arrived (or descend from one).
    pub rejected_orphans: Vec<(Hash, ValidationError)>,
    /// Side blocks evicted because side branches were full (possibly one just added).
    pub evicted: Vec<Hash>,
}

/// A change of the best chain: a simple extension has an empty `left`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TipChange {
    /// Blocks that left the best chain, old tip first.
    pub left: Vec<Hash>,
    /// Blocks that joined it, lowest first; the last is the new tip.
    pub joined: Vec<Hash>,
    /// Votes of the blocks that left which went back to the pending pool.
    pub returned_votes: usize,
}

/// Counters for logs and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainStats {
    /// Blocks in the tree, genesis included.
    pub blocks: usize,
    /// Blocks in the tree that are not on the best chain.
    pub side_blocks: usize,
    /// Side blocks evicted so far.
    pub side_evicted: u64,
    /// Bytes held in side blocks, as [`side_block_bytes`] estimates them.
    pub side_bytes: usize,
    /// Orphans waiting.
    pub orphans: usize,
    /// Orphans evicted so far.
    pub orphans_evicted: u64,
    /// Votes pending.
    pub pending: usize,
    /// New votes refused so far because the pending pool was full.
    pub pending_refused: u64,
    /// Rejections remembered for receipts.
    pub rejections: usize,
}

/// The block tree, best chain, pool, orphans and tally of one election. See the module docs.
#[derive(Debug, Clone)]
pub struct ChainState {
    config: ChainConfig,
    ballot: Ballot,
    election: Hash,
    nodes: HashMap<Hash, Node>,
    /// The best chain by height: `chain[0]` is genesis, the last is the tip.
    chain: Vec<Hash>,
    /// Vote id → (height, index) for every vote on the best chain.
    chain_votes: HashMap<Hash, (u64, usize)>,
    /// Voter → vote id for every vote on the best chain.
    chain_voters: HashMap<PublicKey, Hash>,
    counts: Counts,
    pool: Pool,
    rejections: Rejections,
    orphans: Orphans,
    /// Side tips ordered by eviction priority: least work first, newest first on a tie.
    side_leaves: BTreeSet<(u128, Reverse<u64>, Hash)>,
    n_side: usize,
    /// Sum of [`Node::bytes`] over the side blocks.
    side_bytes: usize,
    side_evicted: u64,
    /// The branch voters of the last side block added: syncing a competing branch adds its
    /// blocks in order, and each then costs O(votes) instead of a walk back to the fork.
    side_cache: Option<(Hash, BranchVoters)>,
    next_seq: u64,
}

impl ChainState {
    /// A chain holding only the genesis block of `ballot`.
    pub fn new(ballot: &Ballot, config: ChainConfig) -> Result<ChainState, BallotError> {
        let genesis = Block::genesis(ballot)?;
        let election = genesis.hash();
        let node = Node {
            block: genesis,
            ids: Vec::new(),
            cum_work: 0,
            seq: 0,
            children: 0,
            bytes: 0,
        };
        Ok(ChainState {
            counts: Counts::new(ballot),
            pool: Pool::new(config.max_pending_votes),
            rejections: Rejections::new(config.max_rejections),
            orphans: Orphans::new(config.max_orphans),
            config,
            ballot: ballot.clone(),
            election,
            nodes: HashMap::from([(election, node)]),
            chain: vec![election],
            chain_votes: HashMap::new(),
            chain_voters: HashMap::new(),
            side_leaves: BTreeSet::new(),
            n_side: 0,
            side_bytes: 0,
            side_evicted: 0,
            side_cache: None,
            next_seq: 1,
        })
    }

    /// Validates `block` against its branch (signatures included, except for votes already
    /// verified in the pending pool) and adds it, then connects any orphans waiting for it.
    /// `now_ms` is the local clock, for the future-timestamp rule.
    pub fn add_block(&mut self, block: Block, now_ms: u64) -> Result<AddOutcome, ValidationError> {
        self.add(block, false, now_ms)
    }

    /// [`ChainState::add_block`] for a block whose signatures [`crate::validate::verify_blocks`]
    /// already checked (sync verifies many blocks' signatures in one batch).
    pub fn add_verified(
        &mut self,
        block: VerifiedBlock,
        now_ms: u64,
    ) -> Result<AddOutcome, ValidationError> {
        self.add(block.into_block(), true, now_ms)
    }

    fn add(
        &mut self,
        block: Block,
        verified: bool,
        now_ms: u64,
    ) -> Result<AddOutcome, ValidationError> {
        let hash = block.hash();
        if self.nodes.contains_key(&hash) {
            return Ok(AddOutcome::Duplicate { orphan: false });
        }
        if self.orphans.contains(&hash) {
            return Ok(AddOutcome::Duplicate { orphan: true });
        }
        if block.height() == 0 {
            return Err(ValidationError::ForeignGenesis(hash));
        }
        // The cheap parent-free rules guard the orphan pool against junk.
        check_work(block.header(), &hash, self.ballot.difficulty)?;
        check_timestamp(block.header(), now_ms)?;
        if !self.nodes.contains_key(&block.prev()) {
            let evicted = self.orphans.insert(block, verified);
            return Ok(AddOutcome::Orphan {
                missing: self.orphans.missing_ancestor(&hash),
                evicted,
            });
        }
        let mut report = Connected::default();
        self.connect(block, verified, now_ms, &mut report)?;
        // Orphans waiting for a block just added can now connect, and theirs after them. The
        // descendants of an orphan found invalid are invalid too. A parent evicted as a side tip
        // since it connected is simply not there: its children go back to waiting.
        let mut ready = vec![(hash, true)];
        while let Some((parent, parent_valid)) = ready.pop() {
            if parent_valid && !self.nodes.contains_key(&parent) {
                continue;
            }
            for (child, verified) in self.orphans.take_children(&parent) {
                let child_hash = child.hash();
                let result = if parent_valid {
                    self.connect(child, verified, now_ms, &mut report)
                } else {
                    Err(ValidationError::InvalidParent(parent))
                };
                if let Err(e) = &result {
                    report.rejected_orphans.push((child_hash, e.clone()));
                }
                ready.push((child_hash, result.is_ok()));
            }
        }
        Ok(AddOutcome::Added(report))
    }

    /// Validates `block` (whose parent is in the tree) on its branch, inserts it and moves the
    /// best tip if it now has the most work.
    fn connect(
        &mut self,
        block: Block,
        verified: bool,
        now_ms: u64,
        report: &mut Connected,
    ) -> Result<(), ValidationError> {
        let hash = block.hash();
        let parent_hash = block.prev();
        let parent = self
            .nodes
            .get(&parent_hash)
            .ok_or(ValidationError::UnknownParent(parent_hash))?;
        let difficulty = self.ballot.difficulty;
        check_header(
            block.header(),
            &hash,
            parent.block.header(),
            &parent_hash,
            difficulty,
            now_ms,
        )?;
        let cum_work = parent.cum_work.saturating_add(work(difficulty));
        let mut branch = self.branch_voters(&parent_hash);
        let ids = match self.check_votes(&block, &branch, verified) {
            Ok(ids) => ids,
            Err(e) => {
                // Keep a side branch's walk for the next sibling.
                if !branch.side.is_empty() {
                    self.side_cache = Some((parent_hash, branch));
                }
                return Err(e);
            }
        };
        // First seen wins a tie: only strictly more work moves the tip.
        let becomes_best = cum_work > self.nodes[self.tip_hash_ref()].cum_work;
        if !becomes_best {
            for (vote, id) in block.votes().iter().zip(&ids) {
                branch.side.insert(vote.voter, *id);
            }
        }
        let node = Node {
            bytes: side_block_bytes(&block),
            block,
            ids,
            cum_work,
            seq: self.next_seq,
            children: 0,
        };
        self.next_seq = self.next_seq.saturating_add(1);
        // The new block starts as a side tip; the fork choice below may bring it onto the chain.
        if let Some(parent) = self.nodes.get_mut(&parent_hash) {
            parent.children += 1;
            if parent.children == 1 {
                self.side_leaves.remove(&parent.leaf_key());
            }
        }
        self.side_leaves.insert(node.leaf_key());
        self.n_side += 1;
        self.side_bytes = self.side_bytes.saturating_add(node.bytes);
        self.nodes.insert(hash, node);
        report.added.push(hash);
        if becomes_best {
            self.switch_to(hash, report);
        } else {
            self.side_cache = Some((hash, branch));
            self.evict_side(report);
        }
        Ok(())
    }

    /// Makes `new_tip` (in the tree, with more work than the tip) the best tip.
    fn switch_to(&mut self, new_tip: Hash, report: &mut Connected) {
        let mut joined = Vec::new();
        let mut at = new_tip;
        while self.chain.get(self.nodes[&at].block.height() as usize) != Some(&at) {
            joined.push(at);
            at = self.nodes[&at].block.prev();
        }
        joined.reverse();
        let fork_height = self.nodes[&at].block.height();
        let mut left = Vec::new();
        let mut left_votes = Vec::new();
        while self.chain.len() as u64 > fork_height + 1 {
            let Some(hash) = self.chain.pop() else { break };
            left_votes.push(self.disconnect_best(&hash));
            left.push(hash);
        }
        for hash in &joined {
            self.connect_best(*hash);
        }
        if !left.is_empty() {
            // Side branches now fork at different places; the cached walk is stale.
            self.side_cache = None;
        }
        // Back to the front of the pool, keeping chain order: push the last vote first.
        let mut returned = 0;
        for votes in left_votes {
            for (id, vote) in votes.into_iter().rev() {
                returned += usize::from(self.return_vote(id, vote));
            }
        }
        self.close_if_over();
        report.merge(left, joined, returned);
    }

    fn tip_hash_ref(&self) -> &Hash {
        // The chain always holds genesis.
        self.chain
            .last()
            .expect("the best chain holds at least genesis")
    }
}

impl Connected {
    /// Folds one step of tip movement into the net change since the call began: a block that
    /// joins and then leaves again (or the reverse) cancels out.
    fn merge(&mut self, left: Vec<Hash>, joined: Vec<Hash>, returned: usize) {
        let change = self.tip_change.get_or_insert_with(TipChange::default);
        change.returned_votes += returned;
        for hash in left {
            if change.joined.last() == Some(&hash) {
                change.joined.pop();
            } else {
                change.left.push(hash);
            }
        }
        for hash in joined {
            if change.left.last() == Some(&hash) {
                change.left.pop();
            } else {
                change.joined.push(hash);
            }
        }
    }
}
