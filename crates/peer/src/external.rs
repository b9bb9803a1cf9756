//! The shell's side of the mining port ([`crate::miningport`]): every template the node hands
//! its miner is also published to the external miners, under a tag; a share that meets the
//! block target names its tag, and the template it was for becomes the block, which the node
//! then validates, persists and announces like one of its own threads' blocks. Shared by the
//! native and the course shells, whose templates differ ([`PortTemplate`]).
//!
//! A job is published `clean` when its parent differs from the previous job's (the tip moved:
//! older work is worthless); a job with the same parent and more votes is not clean, and shares
//! for the previous one stay good. A block found ends every job (they all build on the parent
//! that now has it) until the node's next template: the node sends none when nothing is left to
//! mine, and the miners would otherwise mine sibling blocks on. A block found for a parent that
//! is no longer the tip is dropped, not announced: it would only compete with our own chain.

use crate::miningport::{FoundShare, MiningPort, PoolSnapshot};
use std::collections::VecDeque;
use tokio::sync::mpsc;
use votechain_chain::{Block, BlockTemplate, Hash};
use votechain_course::miner::{CourseJob, CourseSearch};
use votechain_course::CourseBlock;
use votechain_pool::Job;

/// Templates kept for found shares: the pool keeps as many jobs valid.
const KEPT: usize = 8;

/// How often the port's numbers are read for the page and `/metrics`.
const SNAPSHOT_EVERY_MS: u64 = 500;

/// A template the mining port can hand out: the job it makes and the block a nonce completes.
pub trait PortTemplate: Clone {
    /// What the node's chain holds.
    type Block;
    /// The mining port's job for it.
    fn job(&self) -> Job;
    /// The parent it builds on (`None`: a genesis block).
    fn parent(&self) -> Option<Hash>;
    /// The block with `nonce`.
    fn seal(&self, nonce: u64) -> Self::Block;
}

impl PortTemplate for BlockTemplate {
    type Block = Block;

    fn job(&self) -> Job {
        Job::native(self.header())
    }

    fn parent(&self) -> Option<Hash> {
        Some(self.header().prev)
    }

    fn seal(&self, nonce: u64) -> Block {
        BlockTemplate::seal(self, nonce)
    }
}

impl PortTemplate for CourseJob {
    type Block = CourseBlock;

    fn job(&self) -> Job {
        Job::comp3010(self)
    }

    fn parent(&self) -> Option<Hash> {
        self.prev
    }

    fn seal(&self, nonce: u64) -> CourseBlock {
        CourseSearch::new(self).block_for(nonce)
    }
}

/// The templates published to the port by tag, newest last: the bookkeeping of
/// [`ExternalMiners`], apart from the server so it can be tested alone.
#[derive(Debug)]
struct Published<T> {
    /// The tag of the next published job.
    next_tag: u64,
    /// Published templates by tag, oldest first, at most [`KEPT`].
    templates: VecDeque<(u64, T)>,
}

impl<T: PortTemplate> Published<T> {
    fn new() -> Published<T> {
        Published {
            next_tag: 1,
            templates: VecDeque::new(),
        }
    }

    /// Records `template`; returns its tag and whether it is clean (a new parent: every
    /// older template is forgotten).
    fn publish(&mut self, template: &T) -> (u64, bool) {
        let clean = self
            .templates
            .back()
            .is_none_or(|(_, last)| last.parent() != template.parent());
        if clean {
            self.templates.clear();
        }
        let tag = self.next_tag;
        self.next_tag += 1;
        self.templates.push_back((tag, template.clone()));
        while self.templates.len() > KEPT {
            self.templates.pop_front();
        }
        (tag, clean)
    }

    /// Forgets every template.
    fn withdraw(&mut self) {
        self.templates.clear();
    }

    /// The template of `tag`, taken out so a second share for it cannot make a sibling
    /// block, if it is still kept.
    fn take(&mut self, tag: u64) -> Option<T> {
        let at = self.templates.iter().position(|(t, _)| *t == tag)?;
        self.templates.remove(at).map(|(_, template)| template)
    }
}

/// The mining port as a shell drives it.
pub struct ExternalMiners<T> {
    /// The server.
    port: MiningPort,
    /// Its block-worthy shares.
    found: mpsc::UnboundedReceiver<FoundShare>,
    /// What was published.
    published: Published<T>,
    /// The last snapshot and when it was taken.
    snapshot: (Option<u64>, PoolSnapshot),
}

impl<T: PortTemplate> ExternalMiners<T> {
    /// Drives `port`, whose found shares come on `found` (as [`MiningPort::bind`] returned
    /// them).
    pub fn new(port: MiningPort, found: mpsc::UnboundedReceiver<FoundShare>) -> ExternalMiners<T> {
        ExternalMiners {
            port,
            found,
            published: Published::new(),
            snapshot: (None, PoolSnapshot::default()),
        }
    }

    /// The node's new mining instruction: publish `template`, or withdraw every job (`None`).
    pub fn start(&mut self, template: Option<&T>) {
        match template {
            Some(template) => {
                let (tag, clean) = self.published.publish(template);
                self.port.publish(tag, template.job(), clean);
            }
            None => {
                self.published.withdraw();
                self.port.withdraw();
            }
        }
    }

    /// The next block-worthy share (pending forever once the server is gone).
    pub async fn next_found(&mut self) -> FoundShare {
        match self.found.recv().await {
            Some(share) => share,
            None => std::future::pending().await,
        }
    }

    /// The block `share` completes, if its job is still published and builds on `tip`.
    pub fn block(&mut self, share: &FoundShare, tip: Option<Hash>) -> Option<T::Block> {
        let Some(template) = self.published.take(share.tag) else {
            tracing::debug!(
                miner = %share.miner,
                "a block from an external miner is for a job already replaced; dropped"
            );
            return None;
        };
        // Every job published builds on the same parent, which now has this block: the miners
        // stop until the node's next template. The node sends none when nothing is left to
        // mine, so without this they would mine sibling blocks on.
        self.published.withdraw();
        self.port.withdraw();
        if template.parent() != tip {
            // The tip moved while it was mined: it would only compete with our chain.
            tracing::debug!(
                miner = %share.miner,
                "a block from an external miner builds on an old tip; dropped"
            );
            return None;
        }
        tracing::info!(
            target: votechain_runtime::USER,
            "external miner {} found a block",
            share.miner
        );
        Some(template.seal(share.nonce))
    }

    /// The port's numbers when half a second has passed since they were last read
    /// (`None` otherwise): the shell copies them into the status and the metrics then.
    pub fn refresh(&mut self, now_ms: u64) -> Option<&PoolSnapshot> {
        let due = self
            .snapshot
            .0
            .is_none_or(|at| now_ms < at || now_ms - at >= SNAPSHOT_EVERY_MS);
        if !due {
            return None;
        }
        self.snapshot = (Some(now_ms), self.port.snapshot());
        Some(&self.snapshot.1)
    }

    /// When [`ExternalMiners::refresh`] has fresh numbers to give: the shell's loop wakes then,
    /// so the status and the metrics move while the network is quiet too.
    pub fn refresh_at(&self) -> u64 {
        self.snapshot
            .0
            .map_or(0, |at| at.saturating_add(SNAPSHOT_EVERY_MS))
    }

    /// The port's numbers, read now (the console's `stats`, the course page's snapshot).
    pub fn snapshot(&mut self) -> &PoolSnapshot {
        self.snapshot = (self.snapshot.0, self.port.snapshot());
        &self.snapshot.1
    }

    /// Where miners connect.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.port.local_addr()
    }

    /// Stops the server and closes every miner's connection.
    pub async fn shutdown(self) {
        self.port.shutdown().await;
    }
}

impl<T> std::fmt::Debug for ExternalMiners<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalMiners")
            .field("listening", &self.port.local_addr())
            .field("templates", &self.published.templates.len())
            .finish()
    }
}

/// The next found share of `port`, or never without one: a `select!` arm.
pub async fn next_found<T: PortTemplate>(port: &mut Option<ExternalMiners<T>>) -> FoundShare {
    match port {
        Some(port) => port.next_found().await,
        None => std::future::pending().await,
    }
}

/// The port's numbers as the status and the page show them (API.md, `pool` in the status).
pub fn pool_json(s: &PoolSnapshot) -> serde_json::Value {
    let shares: serde_json::Map<String, serde_json::Value> = s
        .stats
        .shares
        .by_result()
        .into_iter()
        .map(|(result, n)| (result.to_owned(), n.into()))
        .collect();
    let miners: Vec<serde_json::Value> = s
        .miners
        .iter()
        .map(|m| {
            serde_json::json!({
                "name": m.name,
                "hash_rate": m.hashrate.round() as u64,
                "accepted": m.accepted,
                "share_bits": m.share_bits,
            })
        })
        .collect();
    serde_json::json!({
        "connections": s.connections,
        "hash_rate": s.hashrate().round() as u64,
        "blocks_found": s.stats.blocks_found,
        "shares": shares,
        "malformed_lines": s.stats.malformed_lines,
        "closed": {
            "oversized_lines": s.oversized_lines,
            "slow_readers": s.dropped_slow,
            "timed_out": s.timed_out,
            "refused": s.refused_connections,
        },
        "miners": miners,
    })
}

/// The port's numbers as the console's `stats` shows them: one line, then a line per miner.
pub fn pool_lines(s: &PoolSnapshot) -> String {
    let c = &s.stats.shares;
    let rejected =
        c.duplicate + c.low + c.bad_prefix + c.unauthorized + c.not_subscribed + c.rate_limited;
    let mut out = format!(
        "mining port: {} miners ({} connections) {} blocks found shares {} accepted {} stale {} \
         rejected\nmining port refusals: {} malformed lines {} oversized lines {} slow readers \
         dropped {} timed out {} connections refused",
        s.miners.len(),
        s.connections,
        s.stats.blocks_found,
        c.accepted,
        c.stale,
        rejected,
        s.stats.malformed_lines,
        s.oversized_lines,
        s.dropped_slow,
        s.timed_out,
        s.refused_connections,
    );
    for m in &s.miners {
        out.push_str(&format!(
            "\n  miner {}: {} shares, {}, share target {} bits",
            m.name,
            m.accepted,
            hash_rate(m.hashrate),
            m.share_bits
        ));
    }
    out
}

/// A hash rate with its unit, as people read it: `12.34 MH/s`.
pub fn hash_rate(per_s: f64) -> String {
    let units = ["H/s", "kH/s", "MH/s", "GH/s", "TH/s"];
    let mut value = per_s.max(0.0);
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.2} {}", units[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(prev: u8, votes_at: u64) -> BlockTemplate {
        BlockTemplate::new(Hash([prev; 32]), 5, 8, votes_at, "pool", vec![]).expect("a template")
    }

    #[test]
    fn a_new_parent_is_clean_and_more_votes_on_the_same_parent_are_not() {
        let mut p = Published::new();
        assert_eq!(
            p.publish(&template(1, 1)),
            (1, true),
            "the first job is clean"
        );
        assert_eq!(p.publish(&template(1, 2)), (2, false), "same parent");
        assert_eq!(p.publish(&template(2, 3)), (3, true), "the tip moved");
        assert_eq!(p.templates.len(), 1, "older templates forgotten");
        for i in 0..20 {
            p.publish(&template(2, 10 + i));
        }
        assert_eq!(p.templates.len(), KEPT, "bounded");
    }

    #[test]
    fn a_share_takes_its_template_once() {
        let mut p = Published::new();
        let (old, _) = p.publish(&template(1, 1));
        let (tag, _) = p.publish(&template(1, 2));
        let t = p.take(tag).expect("published");
        assert_eq!(t.seal(7).header().nonce, 7);
        assert!(p.take(tag).is_none(), "never twice");
        assert!(
            p.take(old).is_some(),
            "an older job of the same parent is still kept"
        );
        let (tag, _) = p.publish(&template(2, 3));
        p.withdraw();
        assert!(p.take(tag).is_none(), "withdrawn");
    }

    #[test]
    fn a_course_job_seals_the_block_its_job_hashes() {
        let job = CourseJob {
            prev: Some(Hash([3; 32])),
            height: 4,
            mined_by: "pool".into(),
            messages: vec!["hello".into()],
            timestamp: 1_700_000_000,
            difficulty: 1,
        };
        let block = PortTemplate::seal(&job, 42);
        assert_eq!(block.hash, job.job().hash(42));
        assert_eq!(block.nonce, CourseSearch::new(&job).nonce_for(42));
        assert_eq!(job.parent(), Some(Hash([3; 32])));
    }

    #[test]
    fn hash_rates_read_as_people_read_them() {
        assert_eq!(hash_rate(12.0), "12.00 H/s");
        assert_eq!(hash_rate(12_345_678.0), "12.35 MH/s");
        assert_eq!(hash_rate(-1.0), "0.00 H/s");
    }
}
