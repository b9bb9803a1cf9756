//! What the console prints, as pure functions of the node's state, so the formats are tested
//! and the shell only writes strings.

use crate::node::{Node, SubmitReply};
use crate::tracker_client::TrackerStatus;
use votechain_proto::ReceiptStatus;

/// Text shown while the node does not know the election yet.
pub const NO_ELECTION: &str = "the election is not known yet (waiting for the ballot)";

/// `tally`: one line per option, `<option> <count>`, in ballot order.
pub fn tally(node: &Node) -> String {
    let Some(chain) = node.chain() else {
        return NO_ELECTION.into();
    };
    let tally = chain.tally();
    tally
        .lines
        .iter()
        .map(|l| format!("{} {}", l.option, l.votes))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The answer to `vote`.
pub fn submit(reply: &SubmitReply) -> String {
    match reply {
        SubmitReply::Pending(id) => format!("vote {id} pending"),
        SubmitReply::Duplicate(id) => format!("vote {id} already known"),
        SubmitReply::Rejected(id, reason) => format!("vote {id} rejected: {reason}"),
        SubmitReply::NoElection => NO_ELECTION.into(),
    }
}

/// `receipt <id>`.
pub fn receipt(status: &ReceiptStatus) -> String {
    match status {
        ReceiptStatus::Pending => "pending".into(),
        ReceiptStatus::Unknown => "unknown".into(),
        ReceiptStatus::Rejected { reason } => format!("rejected: {reason}"),
        ReceiptStatus::Confirmed {
            height,
            block,
            confirmations,
            ..
        } => {
            let plural = if *confirmations == 1 { "" } else { "s" };
            format!("in block {height} ({block}) with {confirmations} confirmation{plural}")
        }
    }
}

/// `chain [n] [top]`: `n` blocks newest first, from height `top` (the tip when `None`) down,
/// and how to see the next page when older blocks remain.
pub fn chain(node: &Node, n: usize, top: Option<u64>) -> String {
    let Some(chain) = node.chain() else {
        return NO_ELECTION.into();
    };
    let top = top.unwrap_or(u64::MAX).min(chain.height());
    let shown = u64::try_from(n.max(1)).unwrap_or(u64::MAX);
    let mut lines: Vec<String> = (0..=top)
        .rev()
        .take(n.max(1))
        .filter_map(|h| chain.block_at(h))
        .map(|b| {
            format!(
                "{:>6} {} votes={} miner={}",
                b.height(),
                b.hash(),
                b.votes().len(),
                if b.height() == 0 {
                    "(genesis)"
                } else {
                    b.miner()
                }
            )
        })
        .collect();
    if let Some(next) = top.checked_sub(shown) {
        let older = next + 1;
        let blocks = if older == 1 { "block" } else { "blocks" };
        lines.push(format!("… {older} older {blocks}: chain {n} {next}"));
    }
    lines.join("\n")
}

/// `block <height>`: the block as indented JSON, exactly as on the wire.
pub fn block(node: &Node, height: u64) -> String {
    let Some(chain) = node.chain() else {
        return NO_ELECTION.into();
    };
    match chain.block_at(height) {
        Some(b) => serde_json::to_string_pretty(b).unwrap_or_else(|e| e.to_string()),
        None => format!(
            "no block at height {height} (the tip is at {})",
            chain.height()
        ),
    }
}

/// `peers`: the known peers as a table under a header row (address first, so scripts can
/// match it): name, how we learned of it, when it was last heard, the chain length it last
/// reported ("-" when unknown) and its state (ok, banned, or of another election).
pub fn peers(node: &Node, now_ms: u64) -> String {
    let mut rows: Vec<[String; 6]> = node
        .peers()
        .iter()
        .map(|(addr, p)| {
            let source = p.source.name();
            let heard = match p.last_heard_ms {
                0 => "never".to_owned(),
                t => format!("{:.1} s ago", now_ms.saturating_sub(t) as f64 / 1000.0),
            };
            let height = p
                .reported
                .map_or_else(|| "-".to_owned(), |(blocks, _)| blocks.to_string());
            let state = match (p.banned_until_ms > now_ms, p.other_election) {
                (true, _) => "banned".to_owned(),
                (false, Some(e)) => format!("other election {}", e.short()),
                (false, None) => "ok".to_owned(),
            };
            [
                addr.to_string(),
                p.name.clone().unwrap_or_else(|| "-".into()),
                source.to_owned(),
                heard,
                height,
                state,
            ]
        })
        .collect();
    if rows.is_empty() {
        return "no peers known".into();
    }
    rows.sort();
    table(
        ["address", "name", "source", "last heard", "blocks", "state"],
        &rows,
    )
}

/// Where registration with the tracker stands, and the election, in words.
fn tracker_and_election(node: &Node, now_ms: u64) -> String {
    let tracker = node
        .config()
        .tracker
        .map_or_else(String::new, |t| format!(" {t}"));
    let status = match node.tracker_status(now_ms) {
        TrackerStatus::NoTracker => "no tracker (seeds and gossip only)".to_owned(),
        TrackerStatus::Registered => format!("tracker{tracker} registered"),
        TrackerStatus::Registering { unanswered_ms: 0 } => format!("tracker{tracker} registering"),
        TrackerStatus::Registering { unanswered_ms } => format!(
            "tracker{tracker} registering: no answer for {} s",
            unanswered_ms / 1000
        ),
        TrackerStatus::Refused { election, title } => format!(
            "tracker{tracker} refused us: it serves election \"{title}\" ({})",
            election.short()
        ),
    };
    let election = match node.chain() {
        None => "election not known yet".to_owned(),
        Some(c) => {
            let ballot = c.ballot();
            let who = match &ballot.voters {
                None => "open: anyone may vote".to_owned(),
                Some(roll) => format!("closed: a roll of {} voters", roll.len()),
            };
            let closing = match ballot.closing_height {
                Some(h) if c.height() > h => format!(", voting ended at block {h}"),
                Some(h) => format!(", voting ends after block {h}"),
                None => String::new(),
            };
            format!(
                "election \"{}\" ({}) {who}{closing}",
                ballot.title,
                c.election().short()
            )
        }
    };
    format!("{status}\n{election}")
}

/// Rows under a header, each column as wide as its widest cell, two spaces apart.
fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let header = header.map(str::to_owned);
    let widths: Vec<usize> = (0..N)
        .map(|c| {
            std::iter::once(&header)
                .chain(rows)
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    std::iter::once(&header)
        .chain(rows)
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            cells.join("  ").trim_end().to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `stats`: the chain summary (as STATS_REPLY reports it), the node's counters, the tracker's
/// status and the election.
pub fn stats(node: &Node, now_ms: u64) -> String {
    let s = node.stats();
    let mut out = match node.chain() {
        Some(c) => {
            let cs = c.stats();
            format!(
                "height {} (blocks {}) tip {}\npending votes {} orphans {} side blocks {}",
                c.height(),
                c.height() + 1,
                c.tip_hash(),
                cs.pending,
                cs.orphans,
                cs.side_blocks
            )
        }
        None => NO_ELECTION.into(),
    };
    // Mined blocks that stayed on the best chain, told apart from those a fork orphaned.
    let name = node.config().name.as_str();
    let on_best = node.chain().map_or(0, |c| {
        (1..=c.height())
            .filter_map(|h| c.block_at(h))
            .filter(|b| b.miner() == name)
            .count()
    });
    out.push_str(&format!(
        "\npeers {} syncing {} mined {} ({on_best} on the best chain)\ndatagrams in {} out {} proven {} rate-limited {} from-banned {} ignored {} invalid-blocks {} challenges {} votes-refused {}",
        node.peers().len(),
        node.syncing(),
        s.mined,
        s.datagrams_in,
        s.datagrams_out,
        s.proven,
        s.rate_limited,
        s.from_banned,
        s.ignored,
        s.invalid_blocks,
        s.challenges_sent,
        s.votes_refused
    ));
    if !s.decode_errors.is_empty() {
        let errors: Vec<String> = s
            .decode_errors
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        out.push_str(&format!("\nundecodable {}", errors.join(" ")));
    }
    out.push('\n');
    out.push_str(&tracker_and_election(node, now_ms));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NodeConfig;
    use crate::peers::Source;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::net::SocketAddr;
    use votechain_chain::{Ballot, BlockTemplate, ChainConfig, ChainState, Hash};

    fn check(actual: String, expect: &str) {
        assert_eq!(actual, expect);
    }

    fn node(blocks: u64) -> Node {
        node_named(blocks, None)
    }

    /// A node holding `blocks` blocks mined by "m", itself named `name` (its default if `None`).
    fn node_named(blocks: u64, name: Option<&str>) -> Node {
        let ballot = Ballot::open("View", &["Adam", "Bob"], 0);
        let mut chain = ChainState::new(&ballot, ChainConfig::default()).unwrap();
        for i in 0..blocks {
            let t = BlockTemplate::new(chain.tip_hash(), chain.height(), 0, 1_000 + i, "m", vec![])
                .unwrap();
            chain.add_block(t.seal(0), 2_000).unwrap();
        }
        let me: SocketAddr = "127.0.0.1:6001".parse().unwrap();
        let mut cfg = NodeConfig::new(me);
        if let Some(name) = name {
            cfg.name = name.to_owned();
        }
        Node::new(cfg, ChaCha8Rng::seed_from_u64(1), Some(chain))
    }

    #[test]
    fn answers_to_votes_and_receipts() {
        let id = Hash([0xab; 32]);
        let hex = id.to_string();
        check(
            submit(&SubmitReply::Pending(id)),
            &format!("vote {hex} pending"),
        );
        check(
            submit(&SubmitReply::Duplicate(id)),
            &format!("vote {hex} already known"),
        );
        check(
            submit(&SubmitReply::Rejected(
                id,
                "the pending pool is full".into(),
            )),
            &format!("vote {hex} rejected: the pending pool is full"),
        );
        check(submit(&SubmitReply::NoElection), NO_ELECTION);
        check(receipt(&ReceiptStatus::Pending), "pending");
        check(receipt(&ReceiptStatus::Unknown), "unknown");
        check(
            receipt(&ReceiptStatus::Rejected {
                reason: "not on the ballot".into(),
            }),
            "rejected: not on the ballot",
        );
        let confirmed = ReceiptStatus::Confirmed {
            height: 3,
            block: id,
            confirmations: 2,
            index: 0,
            vote_count: 1,
            proof: vec![],
        };
        check(
            receipt(&confirmed),
            &format!("in block 3 ({hex}) with 2 confirmations"),
        );
        let once = ReceiptStatus::Confirmed {
            height: 3,
            block: id,
            confirmations: 1,
            index: 0,
            vote_count: 1,
            proof: vec![],
        };
        check(
            receipt(&once),
            &format!("in block 3 ({hex}) with 1 confirmation"),
        );
    }

    #[test]
    fn stats_tells_mined_blocks_on_the_best_chain_apart() {
        let line = |n: &Node| stats(n, 0).lines().nth(2).unwrap_or_default().to_owned();
        check(
            line(&node_named(2, Some("m"))),
            "peers 0 syncing false mined 0 (2 on the best chain)",
        );
        check(
            line(&node(2)),
            "peers 0 syncing false mined 0 (0 on the best chain)",
        );
    }

    #[test]
    fn stats_says_where_the_tracker_and_the_election_stand() {
        let text = stats(&node(1), 0);
        let tail: Vec<&str> = text.lines().rev().take(2).collect();
        assert_eq!(
            tail[0],
            format!(
                "election \"View\" ({}) open: anyone may vote",
                node(1).chain().unwrap().election().short()
            )
        );
        assert_eq!(tail[1], "no tracker (seeds and gossip only)");
        let me: SocketAddr = "127.0.0.1:6001".parse().unwrap();
        let mut cfg = NodeConfig::new(me);
        cfg.tracker = Some("127.0.0.1:5000".parse().unwrap());
        let mut waiting = Node::new(cfg, ChaCha8Rng::seed_from_u64(1), None);
        waiting.handle_timeout(1_000);
        let text = stats(&waiting, 5_000);
        let tail: Vec<&str> = text.lines().rev().take(2).collect();
        assert_eq!(tail[0], "election not known yet");
        assert_eq!(
            tail[1],
            "tracker 127.0.0.1:5000 registering: no answer for 4 s"
        );
    }

    #[test]
    fn the_peers_table_shows_height_and_state() {
        let mut n = node(1);
        let (a, b): (SocketAddr, SocketAddr) = (
            "127.0.0.1:6002".parse().unwrap(),
            "127.0.0.1:6003".parse().unwrap(),
        );
        n.peers_mut_for_tests().add(a, Source::Tracker, 0);
        n.peers_mut_for_tests().add(b, Source::Gossip, 0);
        n.peers_mut_for_tests().get_mut(&a).unwrap().reported = Some((7, Hash([1; 32])));
        n.peers_mut_for_tests().set_aside(&b, Hash([2; 32]));
        check(
            peers(&n, 0),
            "address         name  source   last heard  blocks  state\n\
             127.0.0.1:6002  -     tracker  never       7       ok\n\
             127.0.0.1:6003  -     gossip   never       -       other election 020202020202…",
        );
    }

    #[test]
    fn tables_align_their_columns_under_a_header() {
        let rows = [
            ["127.0.0.1:6002", "tracker", "peer-6002", "0.3 s ago", "ok"].map(str::to_owned),
            ["10.0.0.9:7", "gossip", "-", "never", "BANNED"].map(str::to_owned),
        ];
        check(
            table(["address", "source", "name", "last heard", "state"], &rows),
            "address         source   name       last heard  state\n\
             127.0.0.1:6002  tracker  peer-6002  0.3 s ago   ok\n\
             10.0.0.9:7      gossip   -          never       BANNED",
        );
    }

    #[test]
    fn tally_chain_and_empty_tables() {
        let n = node(2);
        check(tally(&n), "Adam 0\nBob 0");
        let lines: Vec<String> = chain(&n, 2, None).lines().map(str::to_owned).collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("     2 ") && lines[0].ends_with(" votes=0 miner=m"));
        assert!(lines[1].starts_with("     1 "));
        // The next page, and the last one: no further pointer.
        check(lines[2].clone(), "… 1 older block: chain 2 0");
        let last: Vec<String> = chain(&n, 2, Some(1)).lines().map(str::to_owned).collect();
        assert_eq!(last.len(), 2);
        assert!(last[0].starts_with("     1 ") && last[1].starts_with("     0 "));
        assert!(last[1].ends_with("miner=(genesis)"));
        // A top above the tip starts at the tip.
        assert_eq!(
            chain(&n, 1, Some(99)).lines().next(),
            lines.first().map(String::as_str)
        );
        check(block(&n, 9), "no block at height 9 (the tip is at 2)");
        check(peers(&n, 0), "no peers known");
        let me: SocketAddr = "127.0.0.1:6001".parse().unwrap();
        let empty = Node::new(NodeConfig::new(me), ChaCha8Rng::seed_from_u64(1), None);
        check(tally(&empty), NO_ELECTION);
        check(chain(&empty, 5, None), NO_ELECTION);
    }
}
