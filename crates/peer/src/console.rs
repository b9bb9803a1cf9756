//! The peer console's language: one command per line on stdin (a terminal or a pipe). Parsing is
//! pure so every command and every error message is unit-tested; the shell reads lines, the node
//! answers. A bad command gets a one-line explanation and the console goes on. The `keys`
//! commands are [`KeysCommand`]s, which the `votechain-keys` binary runs too.

use crate::keys::{valid_voter_name, KeyError, KeysCommand};
use std::path::PathBuf;

/// A parsed console command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `vote <voter> <choice…>`: sign `choice` with the named local voter key (created on first
    /// use) and submit it.
    Vote {
        /// Local name of the voter key (`keys/<voter>.key` in the data dir).
        voter: String,
        /// The option, as written on the ballot (may contain spaces).
        choice: String,
    },
    /// `tally`: one line per option, `<option> <count>`.
    Tally,
    /// `receipt <vote id>`: where a vote stands.
    Receipt(votechain_chain::Hash),
    /// `chain [n] [top]`: `n` blocks of the best chain (default 10, at most [`MAX_CHAIN_LINES`]),
    /// newest first, from height `top` down (default: the tip). Paging down a long chain is
    /// `chain 100 <the height below the last one shown>`.
    Chain {
        /// How many blocks.
        n: usize,
        /// The highest one shown; the tip when `None`.
        top: Option<u64>,
    },
    /// `block <height>`: one block of the best chain in full.
    Block(u64),
    /// `peers`: known peers.
    Peers,
    /// `stats`: height, tip, counters.
    Stats,
    /// `keys`, `keys new <voter>`, `keys export <voter> [file]`, `keys import <file> [voter]`:
    /// the local voter keys.
    Keys(KeysCommand),
    /// `mine on|off`.
    Mine(bool),
    /// `consensus`: catch up with the network now.
    Consensus,
    /// `help`.
    Help,
    /// `quit`: leave the network and stop.
    Quit,
}

/// The text `help` prints.
pub const HELP: &str = "\
commands:
  vote <voter> <choice>   sign and submit a vote as voter (names ignore case; a new voter's key is
                          kept once the vote is accepted; typed before the election is known, the
                          vote waits and is submitted when it is)
  tally                   votes per option on the best chain
  receipt <vote id>       pending / in block h with k confirmations / rejected
  chain [n] [top]         n blocks (default 10, at most 100) from height top (default: the tip) down
  block <height>          one block in full
  peers                   known peers
  stats                   height, tip hash and counters
  keys                    local voter keys (name and public key)
  keys new <voter>        make a voter key without voting
  keys export <voter> [file]
                          copy the voter's key file to file (or say where it is), to vote as that
                          voter from another peer
  keys import <file> [voter]
                          take a voter key file from another peer (named after the file unless
                          voter is given); never replaces a different key
  mine on|off             start or stop mining
  consensus               catch up with the network now
  help                    this text
  quit                    leave the network and stop";

/// Most blocks one `chain` command lists: a long chain is paged, never dumped.
pub const MAX_CHAIN_LINES: usize = 100;

/// `chain [n] [top]`.
fn parse_chain(rest: &str) -> Result<Command, String> {
    let usage = || {
        format!("usage: chain [n] [top]: n blocks (1 to {MAX_CHAIN_LINES}) from height top down")
    };
    let mut words = rest.split_whitespace();
    let n = match words.next() {
        None => 10,
        Some(w) => match w.parse::<usize>() {
            Ok(n) if (1..=MAX_CHAIN_LINES).contains(&n) => n,
            _ => return Err(usage()),
        },
    };
    let top = match words.next() {
        None => None,
        Some(w) => Some(w.parse::<u64>().map_err(|_| usage())?),
    };
    if words.next().is_some() {
        return Err(usage());
    }
    Ok(Command::Chain { n, top })
}

/// `keys …`.
fn parse_keys(rest: &str) -> Result<Command, String> {
    let words: Vec<&str> = rest.split_whitespace().collect();
    let name = |voter: &str| -> Result<String, String> {
        if valid_voter_name(voter) {
            Ok(voter.to_owned())
        } else {
            Err(bad_name(voter))
        }
    };
    let command = match words.as_slice() {
        [] | ["list"] => KeysCommand::List,
        ["new", voter] => KeysCommand::New {
            voter: name(voter)?,
        },
        ["export", voter] => KeysCommand::Export {
            voter: name(voter)?,
            file: None,
        },
        ["export", voter, file] => KeysCommand::Export {
            voter: name(voter)?,
            file: Some(PathBuf::from(file)),
        },
        ["import", file] => KeysCommand::Import {
            file: PathBuf::from(file),
            voter: None,
        },
        ["import", file, voter] => KeysCommand::Import {
            file: PathBuf::from(file),
            voter: Some(name(voter)?),
        },
        _ => {
            return Err(
                "usage: keys | keys new <voter> | keys export <voter> [file] | keys \
                        import <file> [voter]"
                    .into(),
            )
        }
    };
    Ok(Command::Keys(command))
}

fn bad_name(voter: &str) -> String {
    KeyError::BadName(voter.to_owned()).to_string()
}

/// Parses one line. `Ok(None)` for a blank line; `Err` carries the message to print.
pub fn parse(line: &str) -> Result<Option<Command>, String> {
    let line = line.trim();
    let Some(word) = line.split_whitespace().next() else {
        return Ok(None);
    };
    let rest = line[word.len()..].trim();
    let command = match word.to_ascii_lowercase().as_str() {
        "vote" => {
            let mut parts = rest.splitn(2, char::is_whitespace);
            let voter = parts.next().unwrap_or("").to_owned();
            let choice = parts.next().unwrap_or("").trim().to_owned();
            if voter.is_empty() || choice.is_empty() {
                return Err("usage: vote <voter> <choice>".into());
            }
            if !valid_voter_name(&voter) {
                return Err(bad_name(&voter));
            }
            Command::Vote { voter, choice }
        }
        "tally" => no_args(rest, Command::Tally)?,
        "receipt" => {
            let id = votechain_chain::Hash::from_hex(rest)
                .map_err(|e| format!("usage: receipt <vote id> (64 hex characters): {e}"))?;
            Command::Receipt(id)
        }
        "chain" => parse_chain(rest)?,
        "block" => Command::Block(
            rest.parse()
                .map_err(|_| "usage: block <height>".to_owned())?,
        ),
        "peers" => no_args(rest, Command::Peers)?,
        "stats" => no_args(rest, Command::Stats)?,
        "keys" => parse_keys(rest)?,
        "mine" => match rest {
            "on" => Command::Mine(true),
            "off" => Command::Mine(false),
            _ => return Err("usage: mine on|off".into()),
        },
        "consensus" => no_args(rest, Command::Consensus)?,
        "help" | "?" => Command::Help,
        "quit" | "exit" => no_args(rest, Command::Quit)?,
        other => return Err(format!("unknown command {other:?}; type help")),
    };
    Ok(Some(command))
}

fn no_args(rest: &str, command: Command) -> Result<Command, String> {
    if rest.is_empty() {
        Ok(command)
    } else {
        Err(format!("{command:?} takes no arguments").to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(line: &str, expected: Result<Option<Command>, &str>) {
        assert_eq!(parse(line), expected.map_err(str::to_owned), "{line:?}");
    }

    #[test]
    fn parses_every_command() {
        let vote = |v: &str, c: &str| Command::Vote {
            voter: v.into(),
            choice: c.into(),
        };
        check("", Ok(None));
        check("   ", Ok(None));
        check("vote alice Adam", Ok(Some(vote("alice", "Adam"))));
        check("  VOTE bob  Mary Ann  ", Ok(Some(vote("bob", "Mary Ann"))));
        check("tally", Ok(Some(Command::Tally)));
        check(
            &format!("receipt {}", "ab".repeat(32)),
            Ok(Some(Command::Receipt(votechain_chain::Hash([0xab; 32])))),
        );
        let chain = |n, top| Ok(Some(Command::Chain { n, top }));
        check("chain", chain(10, None));
        check("chain 3", chain(3, None));
        check("chain 100 250", chain(100, Some(250)));
        check("block 0", Ok(Some(Command::Block(0))));
        check("peers", Ok(Some(Command::Peers)));
        check("stats", Ok(Some(Command::Stats)));
        let keys = |k| Ok(Some(Command::Keys(k)));
        check("keys", keys(KeysCommand::List));
        check("keys list", keys(KeysCommand::List));
        check(
            "keys new Alice",
            keys(KeysCommand::New {
                voter: "Alice".into(),
            }),
        );
        check(
            "keys export alice",
            keys(KeysCommand::Export {
                voter: "alice".into(),
                file: None,
            }),
        );
        check(
            "keys export alice /tmp/a.key",
            keys(KeysCommand::Export {
                voter: "alice".into(),
                file: Some("/tmp/a.key".into()),
            }),
        );
        check(
            "keys import /tmp/a.key",
            keys(KeysCommand::Import {
                file: "/tmp/a.key".into(),
                voter: None,
            }),
        );
        check(
            "keys import a.key bob",
            keys(KeysCommand::Import {
                file: "a.key".into(),
                voter: Some("bob".into()),
            }),
        );
        check("mine on", Ok(Some(Command::Mine(true))));
        check("mine off", Ok(Some(Command::Mine(false))));
        check("consensus", Ok(Some(Command::Consensus)));
        check("help", Ok(Some(Command::Help)));
        check("quit", Ok(Some(Command::Quit)));
    }

    #[test]
    fn explains_mistakes() {
        check("vote alice", Err("usage: vote <voter> <choice>"));
        check(
            "vote ../x Adam",
            Err("voter name \"../x\" must be 1-32 letters, digits, '_', '-' or '.'"),
        );
        check(
            "receipt 12",
            Err(
                "usage: receipt <vote id> (64 hex characters): expected 64 hex characters, found 2",
            ),
        );
        check("block x", Err("usage: block <height>"));
        let usage = "usage: chain [n] [top]: n blocks (1 to 100) from height top down";
        check("chain 100000", Err(usage));
        check("chain 0", Err(usage));
        check("chain 5 x", Err(usage));
        check("chain 5 6 7", Err(usage));
        check("mine maybe", Err("usage: mine on|off"));
        let keys_usage = "usage: keys | keys new <voter> | keys export <voter> [file] | keys \
                          import <file> [voter]";
        check("keys new", Err(keys_usage));
        check("keys frob x", Err(keys_usage));
        check("keys export a b c", Err(keys_usage));
        check(
            "keys new ../x",
            Err("voter name \"../x\" must be 1-32 letters, digits, '_', '-' or '.'"),
        );
        check("tally now", Err("tally takes no arguments"));
        check(
            "frobnicate",
            Err("unknown command \"frobnicate\"; type help"),
        );
    }
}
