//! The W4119 peer's console language: `vote`, `tally`, `chain`, `peers`, `status`, `sync`,
//! `help`, `quit`. Parsing is pure and unit-tested; the answers are built from the node by the
//! functions below. What blocks carry comes from anyone, so it is printed with control
//! characters replaced (`crate::peers::printable`).

use super::node::W4119Node;
use crate::peers::{plural, printable};
use std::fmt::Write as _;
use votechain_w4119::Tally;

/// The help text.
pub const HELP: &str = "\
commands (profile w4119):
  vote <voter> <choice>  vote: checked against the ballot and the voter's counted vote, then
                         mined into a block and sent to every peer
  tally                  the count per option, and every vote not counted with the reason
  chain [n]              the top n blocks (default 10)
  peers                  the peers the tracker lists
  status                 registration, ballot, chain and counters
  sync                   ask every peer for its chain now
  help                   this text
  quit                   leave the tracker and stop";

/// A console command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum W4119Line {
    /// `vote <voter> <choice>`.
    Vote {
        /// The voter.
        voter: String,
        /// The choice (the rest of the line, so it may hold spaces).
        choice: String,
    },
    /// `tally`.
    Tally,
    /// `chain [n]`.
    Chain(usize),
    /// `peers`.
    Peers,
    /// `status`.
    Status,
    /// `sync`.
    Sync,
    /// `help`.
    Help,
    /// `quit`.
    Quit,
}

/// Parses one line; `Ok(None)` for a blank one, `Err` with a sentence for a bad one.
pub fn parse(line: &str) -> Result<Option<W4119Line>, String> {
    let line = line.trim();
    let (head, rest) = line
        .split_once(char::is_whitespace)
        .map_or((line, ""), |(h, r)| (h, r.trim()));
    let command = match head {
        "" => return Ok(None),
        "vote" => match rest.split_once(char::is_whitespace) {
            Some((voter, choice)) if !choice.trim().is_empty() => W4119Line::Vote {
                voter: voter.to_owned(),
                choice: choice.trim().to_owned(),
            },
            _ => return Err("usage: vote <voter> <choice>".to_owned()),
        },
        "tally" => W4119Line::Tally,
        "chain" if rest.is_empty() => W4119Line::Chain(10),
        "chain" => W4119Line::Chain(
            rest.parse()
                .map_err(|_| format!("chain takes a number of blocks, not {rest:?}"))?,
        ),
        "peers" => W4119Line::Peers,
        "status" | "stats" => W4119Line::Status,
        "sync" => W4119Line::Sync,
        "help" | "?" => W4119Line::Help,
        "quit" | "exit" => W4119Line::Quit,
        other => {
            return Err(format!(
                "unknown command {other:?}; type help for the commands"
            ))
        }
    };
    Ok(Some(command))
}

/// The tally as text: one line per option, then every vote not counted and why.
pub fn tally(node: &W4119Node) -> String {
    if node.ballot().is_none() {
        return "the ballot has not arrived from the tracker yet".to_owned();
    }
    tally_text(&node.tally())
}

/// `tally` as the console and the log print it.
pub fn tally_text(tally: &Tally) -> String {
    let mut out = String::new();
    for (option, n) in tally.counts() {
        let _ = writeln!(out, "{:<20} {n}", printable(option));
    }
    let _ = write!(out, "{} counted", plural(tally.total() as usize, "vote"));
    let uncounted = tally.uncounted();
    if !uncounted.is_empty() {
        let _ = write!(out, "\n{} not counted:", plural(uncounted.len(), "vote"));
        for u in uncounted {
            let _ = write!(
                out,
                "\n  block {}: {} for {}: {}",
                u.index,
                u.voter.as_deref().map_or("(no voter)".into(), printable),
                u.choice.as_deref().map_or("(no choice)".into(), printable),
                u.reason
            );
        }
    }
    out
}

/// The top `n` blocks, newest first, one line each.
pub fn chain(node: &W4119Node, n: usize) -> String {
    let mut out = String::new();
    for b in node.chain().blocks().iter().rev().take(n.clamp(1, 1_000)) {
        let votes: Vec<String> = b
            .transactions
            .iter()
            .map(|t| {
                format!(
                    "{} → {}",
                    printable(t.voter_id().unwrap_or("?")),
                    printable(t.candidate_id().unwrap_or("?"))
                )
            })
            .collect();
        let short = b.hash.get(..16).unwrap_or(&b.hash);
        let _ = writeln!(
            out,
            "{:>6}  {}…  {}  {}",
            b.index,
            printable(short),
            printable(&b.timestamp),
            if votes.is_empty() {
                "(genesis)".to_owned()
            } else {
                votes.join(", ")
            }
        );
    }
    out.pop();
    out
}

/// The peers the tracker lists.
pub fn peers(node: &W4119Node) -> String {
    if node.peers().is_empty() {
        return "the tracker lists no other peer".to_owned();
    }
    let list: Vec<String> = node.peers().iter().map(ToString::to_string).collect();
    format!("{}: {}", plural(list.len(), "peer"), list.join(", "))
}

/// Registration, ballot, chain and counters.
pub fn status(node: &W4119Node) -> String {
    let c = node.counters();
    let ballot = node.ballot().map_or("not yet received".to_owned(), |b| {
        b.iter()
            .map(|o| printable(o))
            .collect::<Vec<_>>()
            .join(", ")
    });
    format!(
        "tracker {} ({})\nballot  {ballot}\nchain   {} blocks, tip {}\npeers   {}\nvotes   {} of ours waiting to be mined\n\
         seen    {} datagrams, {} malformed, {} invalid blocks, {} invalid chains, {} switches\n\
         served  {} whole chains; refused {} requests from unlisted addresses, {} too soon",
        node.config().tracker,
        if node.registered() { "registered" } else { "registering" },
        node.chain().len(),
        printable(&node.chain().tip().hash),
        node.peers().len(),
        node.own_pending().count(),
        c.received,
        c.malformed,
        c.invalid_blocks,
        c.invalid_chains,
        c.switches,
        c.chains_served,
        c.chain_requests_refused,
        c.chain_requests_too_soon,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_command_and_explains_mistakes() {
        assert_eq!(
            parse("vote alice Catherine the Great"),
            Ok(Some(W4119Line::Vote {
                voter: "alice".into(),
                choice: "Catherine the Great".into()
            }))
        );
        assert!(parse("vote alice").unwrap_err().starts_with("usage"));
        assert_eq!(parse("chain 3"), Ok(Some(W4119Line::Chain(3))));
        assert!(parse("chain x").is_err());
        assert_eq!(parse("  "), Ok(None));
        assert_eq!(parse("tally"), Ok(Some(W4119Line::Tally)));
        assert_eq!(parse("quit"), Ok(Some(W4119Line::Quit)));
        assert!(parse("frobnicate").unwrap_err().contains("help"));
    }
}
