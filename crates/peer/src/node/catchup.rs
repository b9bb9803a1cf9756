//! Catching up: everything about sync in one place. [`Catchup`] is the sub-state machine — the
//! [`Downloader`] (which heights to ask whom), the blocks waiting to be verified as one batch,
//! the search for the fork point below our tip, and the idle limit after which a sync is
//! abandoned. The `Node` handlers below feed it what arrives, add the verified blocks to the
//! chain and carry out its requests and strikes.
//!
//! Only a proven peer of our table may become a sync target (a consensus round's choice, or a
//! far-ahead block it sent), so a stranger can neither steer our sync nor stop our miner, and
//! a sync that connects nothing for `sync_idle_limit_ms` is given up.

use super::{Inbound, Node};
use crate::config::NodeConfig;
use crate::downloader::{DownloadAction, DownloadLimits, Downloader, Target};
use rand::RngCore;
use std::net::SocketAddr;
use votechain_chain::{AddOutcome, Block, ChainState, Hash};
use votechain_proto::{GetBlock, RequestChain};

/// Strike points for a sync request that delivered nothing: a peer claiming a chain it does not
/// serve is banned after four such timeouts (about 7.5 s with the default timeouts).
const STALL_POINTS: u32 = 3;
/// A block this far above our tip is fetched by a sync, not parent by parent.
const FAR_AHEAD: u64 = 8;

/// A sync in progress (or none), with what it needs besides the downloader.
#[derive(Debug)]
pub(super) struct Catchup {
    /// Which heights to ask whom, deadlines, stalls.
    pub(super) downloader: Downloader,
    /// Sync blocks waiting to be verified together (signatures in one batch).
    buffer: Vec<(SocketAddr, Block)>,
    /// Blocks per batch: a full buffer is verified at once.
    batch: u64,
    /// Our block count when the current sync started.
    from: u64,
    /// How far below `from` the fork point was looked for so far, when the wanted chain does
    /// not connect.
    back: u64,
    /// When the current sync started or last connected a block.
    progress_ms: u64,
    /// A sync that connects nothing for this long is given up.
    idle_limit_ms: u64,
}

/// What to do when everything asked for arrived but the target does not connect.
#[derive(Debug, PartialEq, Eq)]
enum ForkSearch {
    /// Fetch `count` blocks from `start`, further below our tip.
    Fetch { start: u64, count: u64 },
    /// Searched down to the genesis: the target never connects.
    GiveUp,
}

impl Catchup {
    /// No sync yet, with the limits of `cfg`.
    pub(super) fn new(cfg: &NodeConfig) -> Catchup {
        Catchup {
            downloader: Downloader::new(DownloadLimits {
                batch: u64::from(cfg.sync_batch),
                window: cfg.sync_window,
                per_peer: cfg.sync_per_peer,
                timeout_ms: cfg.sync_timeout_ms,
                timeout_cap_ms: cfg.sync_timeout_cap_ms,
            }),
            buffer: Vec::new(),
            batch: u64::from(cfg.sync_batch),
            from: 0,
            back: 0,
            progress_ms: 0,
            idle_limit_ms: cfg.sync_idle_limit_ms,
        }
    }

    /// True while fetching the chain whose tip is `hash`.
    pub(super) fn is_fetching(&self, hash: &Hash) -> bool {
        self.downloader.target().is_some_and(|t| t.hash == *hash)
    }

    /// When the timer must wake us: a request's deadline or the idle limit.
    pub(super) fn deadline(&self) -> Option<u64> {
        let idle = self
            .downloader
            .is_active()
            .then(|| self.progress_ms + self.idle_limit_ms + 1);
        [self.downloader.next_deadline(), idle]
            .into_iter()
            .flatten()
            .min()
    }

    /// Starts fetching `target`; our chain holds `our_blocks` blocks.
    fn start(&mut self, now_ms: u64, target: Target, our_blocks: u64) {
        self.from = our_blocks;
        self.back = 0;
        self.progress_ms = now_ms;
        self.downloader.start(target, our_blocks);
    }

    /// True when the sync has connected nothing for longer than the idle limit.
    fn idle_too_long(&self, now_ms: u64) -> bool {
        self.downloader.is_active() && now_ms.saturating_sub(self.progress_ms) > self.idle_limit_ms
    }

    /// Buffers a sync block; true when the buffer holds a full batch.
    fn buffer(&mut self, from: SocketAddr, block: Block) -> bool {
        self.buffer.push((from, block));
        self.buffer.len() as u64 >= self.batch
    }

    /// The buffered blocks, lowest first, with their senders.
    fn take_buffer(&mut self) -> (Vec<SocketAddr>, Vec<Block>) {
        let mut buffered = std::mem::take(&mut self.buffer);
        buffered.sort_by_key(|(_, b)| b.height());
        buffered.into_iter().unzip()
    }

    /// The next step down in the search for the fork point: twice as far below our tip as the
    /// last one (at least a batch), down to height 1.
    fn search_further_back(&mut self) -> ForkSearch {
        if self.back >= self.from {
            return ForkSearch::GiveUp;
        }
        let back = (self.back * 2).max(self.batch).min(self.from);
        let start = self.from.saturating_sub(back).max(1);
        let count = self
            .from
            .saturating_sub(self.back)
            .saturating_sub(start)
            .max(1);
        self.back = back;
        ForkSearch::Fetch { start, count }
    }
}

impl<R: RngCore> Node<R> {
    /// A block arrived whose parent we lack: ask its sender for the parent, or sync when far
    /// ahead. Only a proven peer of our table may become a sync target: a far-ahead block from
    /// anyone else makes us ask the peers we know (a consensus round, rate-limited), so a
    /// stranger can neither steer our sync nor stop our miner.
    pub(super) fn fetch_missing(
        &mut self,
        now_ms: u64,
        input: Inbound,
        (height, hash): (u64, Hash),
        missing: Hash,
    ) {
        let peer = input.from;
        let ours = self.chain.as_ref().map_or(0, ChainState::height);
        if height > ours.saturating_add(FAR_AHEAD) {
            let trusted = input.proven && self.peers.get(&peer).is_some();
            if trusted && !self.catchup.downloader.is_active() {
                let target = Target {
                    blocks: height.saturating_add(1),
                    hash,
                    peers: vec![peer],
                };
                self.start_sync(now_ms, target);
            } else if !trusted {
                self.on_consensus(now_ms);
            }
            return;
        }
        let ask = GetBlock {
            height: height.saturating_sub(1),
            hash: Some(missing),
        };
        self.send_request(now_ms, peer, &ask.into());
    }

    /// CHAIN_BLOCK or GET_BLOCK_REPLY: buffered for batch verification. Only answers that prove
    /// their origin (they echo the cookie of our request) are taken: anything else is dropped
    /// before any validation work, and could not be struck anyway.
    pub(super) fn on_sync_block(
        &mut self,
        now_ms: u64,
        input: Inbound,
        (index, total): (u64, Option<u64>),
        block: Block,
    ) {
        let from = input.from;
        if !input.proven {
            return self.ignore(from, "unsolicited or unproven sync block");
        }
        if self.chain.is_none() {
            // Without a tracker the election comes from a seed's genesis block.
            let from_seed = self.cfg.seeds.contains(&from) && self.tracker.tracker().is_none();
            if let (true, 0, Some(ballot)) = (from_seed, block.height(), block.ballot().cloned()) {
                self.init_chain(now_ms, &ballot, block);
            }
            return;
        }
        if self.other_election(input, &block) {
            return;
        }
        self.catchup.downloader.on_block(from, index, total);
        if block.height() != index {
            self.strike(from, 2, now_ms, "sent a block at the wrong height");
            return;
        }
        if self.seen.blocks.contains(&block.hash()) {
            return;
        }
        if self.catchup.buffer(from, block) {
            self.flush_sync_buffer(now_ms);
        }
    }

    /// GET_BLOCK_REPLY with no block: the peer's chain is shorter than we thought.
    pub(super) fn on_short_chain(&mut self, from: SocketAddr, height: u64) {
        self.catchup.downloader.on_short(from, height);
    }

    /// Verifies the buffered sync blocks' signatures in one batch and adds them, lowest first.
    pub(super) fn flush_sync_buffer(&mut self, now_ms: u64) {
        if self.catchup.buffer.is_empty() {
            return;
        }
        let (senders, blocks) = self.catchup.take_buffer();
        let Some(difficulty) = self.chain.as_ref().map(|c| c.ballot().difficulty) else {
            return;
        };
        let verified = self.cfg.profile.verify_blocks(blocks, difficulty);
        for (from, verified) in senders.into_iter().zip(verified) {
            let Some(chain) = self.chain.as_mut() else {
                return;
            };
            self.stats.blocks_validated += 1;
            match verified {
                Ok(vb) => {
                    let hash = vb.block().hash();
                    match chain.add_verified(vb, now_ms) {
                        Ok(AddOutcome::Added(c)) => {
                            self.stats.blocks_accepted += 1;
                            self.catchup.progress_ms = now_ms;
                            self.on_connected(now_ms, c, None)
                        }
                        Ok(AddOutcome::Orphan { .. }) => self.stats.blocks_orphaned += 1,
                        Ok(AddOutcome::Duplicate { .. }) => self.stats.blocks_duplicate += 1,
                        Err(e) => self.invalid_block(now_ms, Some(from), hash, &e),
                    }
                }
                Err((block, e)) => self.invalid_block(now_ms, Some(from), block.hash(), &e),
            }
        }
        self.check_sync_progress(now_ms);
    }

    /// Starts fetching `target`; the miner stops meanwhile.
    pub(super) fn start_sync(&mut self, now_ms: u64, target: Target) {
        let our_blocks = self.chain.as_ref().map_or(1, |c| c.height() + 1);
        self.catchup.start(now_ms, target, our_blocks);
        self.mining.touch();
    }

    /// Gives up a sync that connected no block for `sync_idle_limit_ms`: whatever a remote
    /// claimed, the miner is off for a bounded time only, then mines on our best chain again.
    pub(super) fn abandon_idle_sync(&mut self, now_ms: u64) {
        if self.catchup.idle_too_long(now_ms) {
            tracing::info!(
                "sync connected no block for {} s: back to mining on our best chain",
                self.cfg.sync_idle_limit_ms / 1000
            );
            self.catchup.downloader.stop();
            self.mining.touch();
        }
    }

    /// Ends the sync when the target is in the tree; steps further back when everything asked
    /// for arrived but the target still does not connect (the chains forked below our tip).
    fn check_sync_progress(&mut self, now_ms: u64) {
        let (Some(chain), Some(wanted)) = (
            self.chain.as_ref(),
            self.catchup.downloader.target().map(|t| t.hash),
        ) else {
            return;
        };
        if chain.contains(&wanted) {
            let height = chain.height();
            let received = self.catchup.downloader.received;
            tracing::debug!(height, received, "sync done");
            self.catchup.downloader.stop();
            self.mining.touch();
            self.out
                .push_back(super::Output::Event(super::Event::Synced { height }));
            return;
        }
        // Blocks still waiting for batch verification may be exactly the ones that connect.
        if !self.catchup.downloader.is_drained() || !self.catchup.buffer.is_empty() {
            return;
        }
        match self.catchup.search_further_back() {
            ForkSearch::GiveUp => {
                tracing::warn!("sync target never connected: giving up on it");
                let target = self.catchup.downloader.target();
                let peers = target.map(|t| t.peers.clone()).unwrap_or_default();
                self.catchup.downloader.stop();
                self.mining.touch();
                for p in peers {
                    self.strike(p, 3, now_ms, "served a chain that does not connect");
                }
            }
            ForkSearch::Fetch { start, count } => {
                tracing::debug!(
                    start,
                    "wanted chain forked below our tip: fetching further back"
                );
                self.catchup.downloader.fetch_first(start, count);
            }
        }
    }

    /// Applies the downloader's strikes, then sends its requests to peers still in good standing
    /// (a strike that bans a peer also takes back the requests just assigned to it).
    pub(super) fn drive_sync(&mut self, now_ms: u64) {
        let tip_blocks = self.chain.as_ref().map_or(0, |c| c.height() + 1);
        let actions = self.catchup.downloader.poll(now_ms, tip_blocks);
        for action in &actions {
            if let DownloadAction::Strike(peer) = action {
                let why = "claimed a chain it does not serve";
                self.strike(*peer, STALL_POINTS, now_ms, why);
            }
        }
        for action in actions {
            if let DownloadAction::Request { peer, start, count } = action {
                if !self.peers.is_banned(&peer, now_ms) {
                    self.send_request(now_ms, peer, &RequestChain { start, count }.into());
                }
            }
        }
        self.check_sync_progress(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catchup(from: u64, batch: u32) -> Catchup {
        let mut cfg = NodeConfig::new(SocketAddr::from(([127, 0, 0, 1], 1)));
        cfg.sync_batch = batch;
        let mut c = Catchup::new(&cfg);
        let target = Target {
            blocks: from + 100,
            hash: Hash([1; 32]),
            peers: vec![],
        };
        c.start(0, target, from);
        c
    }

    #[test]
    fn the_fork_search_doubles_down_to_the_genesis_then_gives_up() {
        let mut c = catchup(100, 10);
        let mut steps = Vec::new();
        while let ForkSearch::Fetch { start, count } = c.search_further_back() {
            steps.push((start, count));
        }
        // Each step fetches the range just below the previous one.
        assert_eq!(steps, vec![(90, 10), (80, 10), (60, 20), (20, 40), (1, 19)]);
    }

    #[test]
    fn a_sync_is_idle_after_the_limit_without_progress() {
        let mut c = catchup(10, 10);
        let limit = c.idle_limit_ms;
        assert_eq!(c.deadline(), Some(limit + 1));
        assert!(!c.idle_too_long(limit));
        assert!(c.idle_too_long(limit + 1));
        c.progress_ms = 5;
        assert!(!c.idle_too_long(limit + 1));
        c.downloader.stop();
        assert!(!c.idle_too_long(u64::MAX), "no sync, nothing to abandon");
    }

    #[test]
    fn a_full_batch_is_flushed_and_comes_out_lowest_first() {
        let mut c = catchup(10, 2);
        let ballot = votechain_chain::Ballot::open("t", &["A", "B"], 1);
        let genesis = Block::genesis(&ballot).unwrap();
        let peer = SocketAddr::from(([127, 0, 0, 1], 2));
        assert!(!c.buffer(peer, genesis.clone()));
        assert!(c.buffer(peer, genesis));
        let (senders, blocks) = c.take_buffer();
        assert_eq!((senders.len(), blocks.len()), (2, 2));
        assert!(c.buffer.is_empty());
    }
}
