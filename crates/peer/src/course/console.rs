//! The course peer's console language: `word`, `chain`, `block`, `peers`, `stats`,
//! `consensus`, `mine on|off`, `help`, `quit`. Parsing is pure and unit-tested; the answers are
//! built from the node by the functions below. What blocks carry comes from anyone, so it is
//! printed with control characters replaced (`crate::peers::printable`).

use super::node::CourseNode;
use crate::peers::printable;
use std::fmt::Write as _;

/// The help text.
pub const HELP: &str = "\
commands (profile comp3010):
  word <text>       mine <text> (1-20 characters) into a block and announce it
  chain [n]         the top n blocks (default 10)
  block <height>    one block in full
  peers             known peers
  stats             height, top hash, counters
  consensus         ask every peer for STATS now and fetch the best chain
  mine on|off       mine queued words, or stop
  help              this text
  quit              leave the network and stop";

/// A console command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CourseLine {
    /// `word <text>`.
    Word(String),
    /// `chain [n]`.
    Chain(usize),
    /// `block <height>`.
    Block(u64),
    /// `peers`.
    Peers,
    /// `stats`.
    Stats,
    /// `consensus`.
    Consensus,
    /// `mine on|off`.
    Mine(bool),
    /// `help`.
    Help,
    /// `quit`.
    Quit,
}

/// Parses one line; `Ok(None)` for a blank one, `Err` with a sentence for a bad one.
pub fn parse(line: &str) -> Result<Option<CourseLine>, String> {
    let line = line.trim();
    let (head, rest) = line
        .split_once(char::is_whitespace)
        .map_or((line, ""), |(h, r)| (h, r.trim()));
    let command = match head {
        "" => return Ok(None),
        "word" if rest.is_empty() => return Err("usage: word <text>".to_owned()),
        "word" => CourseLine::Word(rest.to_owned()),
        "chain" if rest.is_empty() => CourseLine::Chain(10),
        "chain" => CourseLine::Chain(
            rest.parse()
                .map_err(|_| format!("chain takes a number of blocks, not {rest:?}"))?,
        ),
        "block" => CourseLine::Block(
            rest.parse()
                .map_err(|_| "usage: block <height>".to_owned())?,
        ),
        "peers" => CourseLine::Peers,
        "stats" => CourseLine::Stats,
        "consensus" => CourseLine::Consensus,
        "mine" => match rest {
            "on" => CourseLine::Mine(true),
            "off" => CourseLine::Mine(false),
            _ => return Err("usage: mine on|off".to_owned()),
        },
        "help" | "?" => CourseLine::Help,
        "quit" | "exit" => CourseLine::Quit,
        other => {
            return Err(format!(
                "unknown command {other:?}; type help for the commands"
            ))
        }
    };
    Ok(Some(command))
}

/// The top `n` blocks, newest first, one line each.
pub fn chain(node: &CourseNode, n: usize) -> String {
    let blocks = node.chain().blocks();
    if blocks.is_empty() {
        return "no blocks yet".to_owned();
    }
    let mut out = String::new();
    for b in blocks.iter().rev().take(n.clamp(1, 1_000)) {
        let _ = writeln!(
            out,
            "{:>6}  {}…  {:<16}  {}",
            b.height,
            &b.hash.to_hex()[..16],
            printable(&b.mined_by),
            printable(&b.messages.join(" | "))
        );
    }
    out.pop();
    out
}

/// One block in full.
pub fn block(node: &CourseNode, height: u64) -> String {
    match node.chain().get(height) {
        None => format!(
            "no block at height {height} (the chain has {})",
            node.chain().len()
        ),
        Some(b) => format!(
            "height    {}\nhash      {}\nminedBy   {}\nmessages  {}\ntimestamp {}\nnonce     {}",
            b.height,
            b.hash.to_hex(),
            printable(&b.mined_by),
            printable(&b.messages.join(" | ")),
            b.timestamp,
            printable(&b.nonce)
        ),
    }
}

/// The peer table.
pub fn peers(node: &CourseNode, now_ms: u64) -> String {
    let entries = node.peers().entries();
    if entries.is_empty() {
        return "no peers yet".to_owned();
    }
    let mut out = String::new();
    for (addr, p) in entries {
        let heard = now_ms.saturating_sub(p.last_heard_ms) / 1_000;
        let kind = if p.seed {
            "seed"
        } else if p.direct_ms.is_some() {
            "talked"
        } else {
            "claimed"
        };
        let _ = writeln!(
            out,
            "{addr:<22} {kind:<8} heard {heard:>3} s ago  {}",
            p.name
        );
    }
    out.pop();
    out
}

/// Height, tip and counters.
pub fn stats(node: &CourseNode) -> String {
    let c = node.counters();
    let tip = node
        .chain()
        .tip()
        .map_or("none".to_owned(), |t| t.hash.to_hex());
    let sync = match node.sync_progress() {
        Some((have, want)) => format!("fetching {have} of {want}"),
        None => "idle".to_owned(),
    };
    format!(
        "blocks {}  top {tip}\ndifficulty {}  mining {}  words waiting {}\npeers {}  sync {sync}\n\
         received {}  malformed {}  flooded {}  over budget {}  backed off {}  invalid blocks {}  \
         unsolicited {}  served {}",
        node.chain().len(),
        node.config().difficulty,
        if node.mining() { "on" } else { "off" },
        node.words().count(),
        node.peers().len(),
        c.received,
        c.malformed,
        c.flooded,
        c.over_budget,
        c.backed_off,
        c.invalid_blocks,
        c.unsolicited,
        c.served
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_or_explain() {
        assert_eq!(parse("  "), Ok(None));
        assert_eq!(
            parse("word hello world"),
            Ok(Some(CourseLine::Word("hello world".into())))
        );
        assert_eq!(parse("chain"), Ok(Some(CourseLine::Chain(10))));
        assert_eq!(parse("chain 3"), Ok(Some(CourseLine::Chain(3))));
        assert_eq!(parse("mine off"), Ok(Some(CourseLine::Mine(false))));
        assert!(parse("word").unwrap_err().contains("usage"));
        assert!(parse("vote a b").unwrap_err().contains("unknown command"));
        assert!(parse("block x").is_err());
    }
}
