//! Blocks: learning the election (the tracker's ballot or a seed's genesis), accepting and
//! relaying blocks once per hash, serving the chain, consensus rounds (STATS to everyone, pick
//! the most-work chain reported, fetch it with the downloader), and keeping the miner on the
//! current tip. Sync blocks are buffered and their signatures verified in one batch.

use super::{Event, Inbound, Node, Output, Record, Round, TieBreak};
use crate::config::MiningMode;
use crate::downloader::{DownloadAction, Target};
use rand::Rng;
use std::net::SocketAddr;
use votechain_chain::validate::verify_blocks;
use votechain_chain::validate::ValidationError;
use votechain_chain::{AddOutcome, Ballot, Block, ChainConfig, ChainState, Connected, Hash};
use votechain_proto::{
    BallotOptions, ChainBlock, GetBlock, GetBlockReply, NewBlock, RequestChain, Stats, StatsReply,
};

/// Most peers asked for STATS in one round.
const ROUND_FANOUT: usize = 32;
/// Strike points for a sync request that delivered nothing: a peer claiming a chain it does not
/// serve is banned after four such timeouts (about 7.5 s with the default timeouts).
const STALL_POINTS: u32 = 3;
/// A block this far above our tip is fetched by a sync, not parent by parent.
const FAR_AHEAD: u64 = 8;
/// Most blocks served to one source per burst of datagrams: a flood of REQUEST_CHAINs costs a
/// bounded amount of memory and bandwidth per burst. Four full batches: what an honest
/// downloader (`sync_per_peer` = 4 requests in flight to one peer) can ask of us at once, so
/// honest pipelining never loses a request to the cap.
pub(super) const SERVE_PER_BURST: u64 = 4 * votechain_proto::limits::MAX_CHAIN_BATCH as u64;

/// How a block that joined the tree is relayed: to every peer but the one it came from.
#[derive(Debug, Clone, Copy)]
struct Relay {
    except: Option<SocketAddr>,
}

impl Node {
    /// BALLOT_OPTIONS from the tracker: check it against its election id, then start the chain.
    pub(super) fn on_ballot(&mut self, now_ms: u64, m: &BallotOptions) {
        let ballot = m.ballot();
        let genesis = match Block::genesis(&ballot) {
            Ok(g) if g.hash() == m.election => g,
            Ok(g) => {
                tracing::warn!(claimed = %m.election, actual = %g.hash(), "tracker ballot does not hash to its election id");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "tracker sent an invalid ballot");
                return;
            }
        };
        self.tracker.ballot_known();
        match &self.chain {
            Some(c) if c.election() == m.election => {}
            Some(c) => {
                let ours = c.election();
                tracing::error!(%ours, tracker = %m.election, "the tracker runs a different election than our stored chain");
                self.out.push_back(Output::Event(Event::ElectionMismatch {
                    ours,
                    tracker: m.election,
                }));
            }
            None => self.init_chain(now_ms, &ballot, genesis),
        }
    }

    fn init_chain(&mut self, now_ms: u64, ballot: &Ballot, genesis: Block) {
        let chain = match ChainState::new(ballot, ChainConfig::default()) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "ballot refused");
                return;
            }
        };
        let election = chain.election();
        tracing::info!(%election, title = ballot.title, "election known");
        self.tracker.ballot_known();
        self.chain = Some(chain);
        self.out.push_back(Output::Persist(Record::Block(genesis)));
        self.out
            .push_back(Output::Event(Event::ElectionKnown { election }));
        self.next_consensus_ms = now_ms;
        self.mining_dirty = true;
    }

    /// NEW_BLOCK. `seen_blocks` holds only blocks in the tree or invalid forever, so a block
    /// refused for a reason that can change (too far in the future, unknown parent) is
    /// reconsidered whenever it arrives again, by any path.
    pub(super) fn on_new_block(&mut self, now_ms: u64, input: Inbound, block: Block) {
        if self.chain.is_none() || self.seen_blocks.contains(&block.hash()) {
            return;
        }
        self.add_block(now_ms, Some(input), block, true);
    }

    /// A block this node mined.
    pub fn handle_mined(&mut self, now_ms: u64, block: Block) {
        if self.chain.is_none() || self.seen_blocks.contains(&block.hash()) {
            return;
        }
        let (height, hash) = (block.height(), block.hash());
        self.job = None;
        if self.add_block(now_ms, None, block, true) {
            self.stats.mined += 1;
            tracing::info!(height, %hash, "mined a block");
            self.out
                .push_back(Output::Event(Event::Mined { height, hash }));
        }
        self.after_input(now_ms);
        self.update_mining(now_ms);
    }

    /// Validates and adds one block that arrived as news (`from`, or mined here when `None`);
    /// true when it joined the tree.
    fn add_block(&mut self, now_ms: u64, from: Option<Inbound>, block: Block, relay: bool) -> bool {
        let Some(chain) = self.chain.as_mut() else {
            return false;
        };
        let (height, hash) = (block.height(), block.hash());
        match chain.add_block(block, now_ms) {
            Ok(AddOutcome::Added(c)) => {
                let relay = relay.then_some(Relay {
                    except: from.map(|i| i.from),
                });
                self.on_connected(now_ms, c, relay);
                true
            }
            Ok(AddOutcome::Orphan { missing, .. }) => {
                if let Some(input) = from {
                    self.fetch_missing(now_ms, input, height, hash, missing);
                }
                false
            }
            Ok(AddOutcome::Duplicate { orphan }) => {
                if !orphan {
                    self.seen_blocks.insert(hash);
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
    fn invalid_block(
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
        self.seen_blocks.insert(hash);
        if let Some(peer) = proven_sender {
            let limit = self.cfg.strike_limit;
            self.strike(peer, limit, now_ms, "sent an invalid block");
        }
    }

    /// Persists what joined the tree (in connection order, so a restart replays it), relays it
    /// when it arrived as news (`relay`) and could become the best chain soon (its work within
    /// two blocks of the tip's: cheap side blocks off old ancestors stop here), and reports a
    /// tip change.
    fn on_connected(&mut self, now_ms: u64, c: Connected, relay: Option<Relay>) {
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
        self.mining_dirty |= !blocks.is_empty();
        for (block, relayable) in blocks {
            self.seen_blocks.insert(block.hash());
            // Stored first: the shell syncs it before sending the relay that follows.
            self.out
                .push_back(Output::Persist(Record::Block(block.clone())));
            if let (Some(r), true) = (relay, relayable) {
                self.broadcast(now_ms, &NewBlock { block }.into(), r.except);
            }
        }
        if let Some(change) = c.tip_change {
            let chain = self.chain.as_ref().expect("checked above");
            if !change.left.is_empty() {
                tracing::info!(
                    depth = change.left.len(),
                    returned_votes = change.returned_votes,
                    "reorganisation"
                );
            }
            self.out.push_back(Output::Event(Event::TipChanged {
                height: chain.height(),
                hash: chain.tip_hash(),
                reorg_depth: change.left.len(),
            }));
            self.mining_dirty = true;
        }
    }

    /// A block arrived whose parent we lack: ask its sender for the parent, or sync when far
    /// ahead. Only a proven peer of our table may become a sync target: a far-ahead block from
    /// anyone else makes us ask the peers we know (a consensus round, rate-limited), so a
    /// stranger can neither steer our sync nor stop our miner.
    fn fetch_missing(
        &mut self,
        now_ms: u64,
        input: Inbound,
        height: u64,
        hash: Hash,
        missing: Hash,
    ) {
        let peer = input.from;
        let ours = self.chain.as_ref().map_or(0, ChainState::height);
        if height > ours.saturating_add(FAR_AHEAD) {
            let trusted = input.proven && self.peers.get(&peer).is_some();
            if trusted && !self.downloader.is_active() {
                self.start_sync(
                    now_ms,
                    Target {
                        blocks: height.saturating_add(1),
                        hash,
                        peers: vec![peer],
                    },
                );
            } else if !trusted && now_ms >= self.last_round_ms + super::CONSENSUS_MIN_GAP_MS {
                self.start_round(now_ms);
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
        index: u64,
        total: Option<u64>,
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
        self.downloader.on_block(from, index, total);
        if block.height() != index {
            self.strike(from, 2, now_ms, "block at the wrong height");
            return;
        }
        if self.seen_blocks.contains(&block.hash()) {
            return;
        }
        self.sync_buffer.push((from, block));
        if self.sync_buffer.len() >= self.cfg.sync_batch as usize {
            self.flush_sync_buffer(now_ms);
        }
    }

    /// GET_BLOCK_REPLY with no block: the peer's chain is shorter than we thought.
    pub(super) fn on_short_chain(&mut self, from: SocketAddr, height: u64) {
        self.downloader.on_short(from, height);
    }

    /// Verifies the buffered sync blocks' signatures in one batch and adds them, lowest first.
    pub(super) fn flush_sync_buffer(&mut self, now_ms: u64) {
        if self.sync_buffer.is_empty() {
            return;
        }
        let mut buffered = std::mem::take(&mut self.sync_buffer);
        buffered.sort_by_key(|(_, b)| b.height());
        let (senders, blocks): (Vec<SocketAddr>, Vec<Block>) = buffered.into_iter().unzip();
        let Some(difficulty) = self.chain.as_ref().map(|c| c.ballot().difficulty) else {
            return;
        };
        for (from, verified) in senders.into_iter().zip(verify_blocks(blocks, difficulty)) {
            let Some(chain) = self.chain.as_mut() else {
                return;
            };
            match verified {
                Ok(vb) => {
                    let hash = vb.block().hash();
                    match chain.add_verified(vb, now_ms) {
                        Ok(AddOutcome::Added(c)) => {
                            self.sync_progress_ms = now_ms;
                            self.on_connected(now_ms, c, None)
                        }
                        Ok(_) => {}
                        Err(e) => self.invalid_block(now_ms, Some(from), hash, &e),
                    }
                }
                Err((block, e)) => self.invalid_block(now_ms, Some(from), block.hash(), &e),
            }
        }
        self.check_sync_progress();
    }

    fn start_sync(&mut self, now_ms: u64, target: Target) {
        let from = self.chain.as_ref().map_or(1, |c| c.height() + 1);
        self.sync_from = from;
        self.sync_back = 0;
        self.sync_progress_ms = now_ms;
        self.downloader.start(target, from);
        self.mining_dirty = true;
    }

    /// Gives up a sync that connected no block for `sync_idle_limit_ms`: whatever a remote
    /// claimed, the miner is off for a bounded time only, then mines on our best chain again.
    pub(super) fn abandon_idle_sync(&mut self, now_ms: u64) {
        if self.downloader.is_active()
            && now_ms.saturating_sub(self.sync_progress_ms) > self.cfg.sync_idle_limit_ms
        {
            tracing::info!(
                "sync connected no block for {} s: back to mining on our best chain",
                self.cfg.sync_idle_limit_ms / 1000
            );
            self.downloader.stop();
            self.mining_dirty = true;
        }
    }

    /// Ends the sync when the target is in the tree; steps further back when everything asked
    /// for arrived but the target still does not connect (the chains forked below our tip).
    fn check_sync_progress(&mut self) {
        let (Some(chain), Some(target)) = (self.chain.as_ref(), self.downloader.target()) else {
            return;
        };
        if chain.contains(&target.hash) {
            let height = chain.height();
            tracing::info!(height, received = self.downloader.received, "sync done");
            self.downloader.stop();
            self.mining_dirty = true;
            self.out.push_back(Output::Event(Event::Synced { height }));
            return;
        }
        // Blocks still waiting for batch verification may be exactly the ones that connect.
        if !self.downloader.is_drained() || !self.sync_buffer.is_empty() {
            return;
        }
        if self.sync_back >= self.sync_from {
            tracing::warn!("sync target never connected: giving up on it");
            let peers = target.peers.clone();
            self.downloader.stop();
            self.mining_dirty = true;
            for p in peers {
                self.strike(
                    p,
                    3,
                    self.last_now_ms,
                    "served a chain that does not connect",
                );
            }
            return;
        }
        let batch = u64::from(self.cfg.sync_batch);
        let back = (self.sync_back * 2).max(batch).min(self.sync_from);
        let start = self.sync_from.saturating_sub(back).max(1);
        tracing::debug!(
            start,
            "wanted chain forked below our tip: fetching further back"
        );
        self.downloader.fetch_first(
            start,
            self.sync_from
                .saturating_sub(self.sync_back)
                .saturating_sub(start)
                .max(1),
        );
        self.sync_back = back;
    }

    /// Applies the downloader's strikes, then sends its requests to peers still in good standing
    /// (a strike that bans a peer also takes back the requests just assigned to it).
    pub(super) fn drive_sync(&mut self, now_ms: u64) {
        let tip_blocks = self.chain.as_ref().map_or(0, |c| c.height() + 1);
        let actions = self.downloader.poll(now_ms, tip_blocks);
        for action in &actions {
            if let DownloadAction::Strike(peer) = action {
                self.strike(
                    *peer,
                    STALL_POINTS,
                    now_ms,
                    "claimed a chain it does not serve",
                );
            }
        }
        for action in actions {
            if let DownloadAction::Request { peer, start, count } = action {
                if !self.peers.is_banned(&peer, now_ms) {
                    self.send_request(now_ms, peer, &RequestChain { start, count }.into());
                }
            }
        }
        self.check_sync_progress();
    }

    /// REQUEST_CHAIN: the answer is up to a batch of blocks, so it goes only to a request that
    /// proves its origin, and each source gets at most [`SERVE_PER_BURST`] blocks per burst of
    /// datagrams (the rest of a flood is dropped; an honest requester asks again).
    pub(super) fn on_request_chain(&mut self, now_ms: u64, input: Inbound, r: RequestChain) {
        let from = input.from;
        if !input.proven {
            return self.challenge(now_ms, from);
        }
        let Some((total, tip_hash)) = self.chain.as_ref().map(|c| (c.height() + 1, c.tip_hash()))
        else {
            return;
        };
        if r.start >= total {
            let stats = StatsReply {
                height: total,
                hash: tip_hash,
            };
            self.send(from, &stats.into());
            return;
        }
        let count = self.serving_budget(from, u64::from(r.count).min(total - r.start));
        if count == 0 {
            return self.ignore(from, "REQUEST_CHAIN over the per-burst serving budget");
        }
        let Some(chain) = self.chain.as_ref() else {
            return;
        };
        let blocks: Vec<Block> = (r.start..r.start + count)
            .filter_map(|h| chain.block_at(h).cloned())
            .collect();
        for block in blocks {
            let index = block.height();
            self.send(
                from,
                &ChainBlock {
                    index,
                    total_blocks: total,
                    block,
                }
                .into(),
            );
        }
    }

    /// Takes up to `wanted` blocks from `from`'s serving budget for this burst; returns how
    /// many it may be sent.
    fn serving_budget(&mut self, from: SocketAddr, wanted: u64) -> u64 {
        let served = self.served_this_burst.entry(from).or_insert(0);
        let granted = wanted.min(SERVE_PER_BURST.saturating_sub(*served));
        *served += granted;
        granted
    }

    /// GET_BLOCK: one block, to a proven request, within the same per-burst serving budget as
    /// REQUEST_CHAIN.
    pub(super) fn on_get_block(&mut self, now_ms: u64, input: Inbound, g: GetBlock) {
        let from = input.from;
        if !input.proven {
            return self.challenge(now_ms, from);
        }
        if self.serving_budget(from, 1) == 0 {
            return self.ignore(from, "GET_BLOCK over the per-burst serving budget");
        }
        let block = self.chain.as_ref().and_then(|c| match g.hash {
            Some(h) => c.block(&h).cloned(),
            None => c.block_at(g.height).cloned(),
        });
        self.send(
            from,
            &GetBlockReply {
                height: g.height,
                block,
            }
            .into(),
        );
    }

    pub(super) fn on_stats(&mut self, now_ms: u64, input: Inbound) {
        if let Some(chain) = &self.chain {
            let reply = StatsReply {
                height: chain.height() + 1,
                hash: chain.tip_hash(),
            };
            self.reply(now_ms, input, &reply.into());
        }
    }

    /// STATS_REPLY: a claim about a peer's chain, which may make it a sync target, so it counts
    /// only from a peer of our table that proves its origin: a forged claim "from" an honest
    /// peer would otherwise have us strike it for not serving what it never claimed.
    pub(super) fn on_stats_reply(&mut self, now_ms: u64, input: Inbound, height: u64, hash: Hash) {
        let from = input.from;
        if !input.proven {
            return self.ignore(from, "unproven STATS_REPLY");
        }
        let Some(peer) = self.peers.get_mut(&from) else {
            self.stats.ignored += 1;
            return;
        };
        peer.reported = Some((height, hash));
        self.downloader.on_short(from, height);
        if let Some(round) = &mut self.round {
            round.replies.insert(from, (height, hash));
            if round.replies.len() >= round.asked {
                self.finish_round(now_ms);
            }
        }
    }

    /// Asks every peer (up to a fanout) for STATS; the round ends after `stats_wait_ms`.
    pub(super) fn start_round(&mut self, now_ms: u64) {
        self.last_round_ms = now_ms;
        self.next_consensus_ms = now_ms + self.cfg.consensus_interval_ms;
        if self.chain.is_none() {
            if self.tracker.tracker().is_none() {
                for seed in self.cfg.seeds.clone() {
                    self.send_request(
                        now_ms,
                        seed,
                        &GetBlock {
                            height: 0,
                            hash: None,
                        }
                        .into(),
                    );
                }
            }
            return;
        }
        let asked = self.peers.sample(&mut self.rng, ROUND_FANOUT, now_ms, None);
        if asked.is_empty() {
            return;
        }
        self.round = Some(Round {
            deadline_ms: now_ms + self.cfg.stats_wait_ms,
            asked: asked.len(),
            replies: Default::default(),
        });
        for to in asked {
            self.send(to, &Stats {}.into());
        }
    }

    /// Chooses the most-work chain reported (most reporters on a tie) and fetches it if it beats
    /// or ties ours and is not ours. A liar's claim costs a few stalled requests, then a ban.
    pub(super) fn finish_round(&mut self, now_ms: u64) {
        let Some(round) = self.round.take() else {
            return;
        };
        let Some(chain) = self.chain.as_ref() else {
            return;
        };
        let ours = chain.height() + 1;
        let mut best: Option<(u64, usize, Hash)> = None;
        for (height, hash) in round.replies.values() {
            // A chain as long as ours that we do not hold is fetched too: it is an equal-work
            // fork, and only once this node holds both tips does it see the tie (`contested`)
            // and mine to break it. Ignoring it left peers split forever when each tip's
            // NEW_BLOCK was lost on the way to the other side.
            if *height < ours || chain.contains(hash) {
                continue;
            }
            let agree = round
                .replies
                .values()
                .filter(|r| **r == (*height, *hash))
                .count();
            let candidate = (*height, agree, *hash);
            // The full tuple decides, so ties are broken the same way on every run.
            if best.is_none_or(|b| candidate > b) {
                best = Some(candidate);
            }
        }
        let Some((height, _, hash)) = best else {
            return;
        };
        let peers: Vec<SocketAddr> = round
            .replies
            .iter()
            .filter(|(_, r)| **r == (height, hash))
            .map(|(a, _)| *a)
            .collect();
        if self.downloader.target().is_some_and(|t| t.hash == hash) {
            return;
        }
        self.start_sync(
            now_ms,
            Target {
                blocks: height,
                hash,
                peers,
            },
        );
    }

    /// Keeps the miner on a template for the current tip and pool, or stops it.
    pub(super) fn update_mining(&mut self, now_ms: u64) {
        // A tie's random moment may have come (the timer wakes us for it).
        if let TieBreak::Waiting { until_ms } = self.tie_break {
            if now_ms >= until_ms {
                self.tie_break = TieBreak::Due;
                self.mining_dirty = true;
            }
        }
        if !self.mining_dirty {
            return;
        }
        self.mining_dirty = false;
        let contested = self.chain.as_ref().is_some_and(ChainState::contested);
        if !contested {
            self.tie_break = TieBreak::None;
        } else if self.tie_break == TieBreak::None {
            let delay = self.rng.gen_range(0..=self.cfg.tie_break_delay_ms);
            self.tie_break = match delay {
                0 => TieBreak::Due,
                _ => TieBreak::Waiting {
                    until_ms: now_ms + delay,
                },
            };
        }
        // With nothing pending a peer still mines once a tie with a side branch has lasted its
        // random delay: otherwise two equal forks would stand forever.
        let tie_break_due = self.tie_break == TieBreak::Due;
        let template = match (&self.chain, self.mining) {
            (None, _) | (_, MiningMode::Off) => None,
            _ if self.downloader.is_active() => None,
            (Some(c), MiningMode::WhenPending) if c.pool().is_empty() && !tie_break_due => None,
            (Some(c), _) => c.template(now_ms, &self.cfg.name).ok(),
        };
        match template {
            None => {
                if self.job.take().is_some() {
                    self.out.push_back(Output::Mine(None));
                }
            }
            Some(t) => {
                let key = (t.header().prev, t.header().payload_root);
                if self.job.as_ref() != Some(&key) {
                    self.job = Some(key);
                    self.out.push_back(Output::Mine(Some(t)));
                }
            }
        }
    }
}
