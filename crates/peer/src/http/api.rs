//! The answers to [`Query`]s, computed in the shell loop from `&Node` (and, for a vote by name,
//! the console's [`Voting`]): each does bounded work — pages are capped by the server — and
//! turns into JSON here, so the loop hands back a finished body. Also the translation of node
//! events into [`ApiEvent`]s for Server-Sent Events.

use super::{ApiAnswer, ApiEvent, BlockRef, Query, Submission};
use crate::node::{Command as NodeCommand, Event, Node, Reply, SubmitReply};
use crate::tracker_client::TrackerStatus;
use crate::view;
use crate::voting::Voting;
use serde_json::{json, Value};
use votechain_chain::{Block, ChainState, Hash, Vote};

/// Answers one query at `now_ms`.
pub fn answer(node: &mut Node, voting: &Voting, now_ms: u64, query: Query) -> ApiAnswer {
    if let Query::Submit(submission) = query {
        return submit(node, voting, now_ms, submission);
    }
    if let Query::Peers = query {
        return ApiAnswer::ok(peers(node, now_ms));
    }
    if let Query::Receipt(id) = query {
        return ApiAnswer::ok(receipt(node, id));
    }
    let Some(chain) = node.chain() else {
        return ApiAnswer::error(409, no_election());
    };
    match query {
        Query::Tally => ApiAnswer::ok(tally(chain)),
        Query::Blocks { before, limit } => {
            let top = before.map_or(chain.height(), |b| b.saturating_sub(1).min(chain.height()));
            let empty = before == Some(0);
            let blocks: Vec<Value> = (0..=top)
                .rev()
                .take(if empty { 0 } else { limit })
                .filter_map(|h| chain.block_at(h))
                .map(|b| block_json(chain, b, false))
                .collect();
            ApiAnswer::ok(json!({ "height": chain.height(), "blocks": blocks }))
        }
        Query::Block(at) => {
            let found = match at {
                BlockRef::Height(h) => chain.block_at(h),
                BlockRef::Hash(hash) => chain.block(&hash),
            };
            match found {
                Some(b) => ApiAnswer::ok(block_json(chain, b, true)),
                None => ApiAnswer::error(
                    404,
                    format!(
                        "No such block on this peer; the tip is at height {}.",
                        chain.height()
                    ),
                ),
            }
        }
        Query::Pending { limit } => {
            let pool = chain.pool();
            let votes: Vec<Value> = pool
                .ids()
                .take(limit)
                .filter_map(|id| pool.get(id).map(|v| vote_json(id, v)))
                .collect();
            ApiAnswer::ok(json!({ "count": pool.len(), "votes": votes }))
        }
        Query::Ballots { from, limit } => ApiAnswer::ok(ballots(chain, from, limit)),
        // Answered above.
        Query::Peers | Query::Receipt(_) | Query::Submit(_) => {
            ApiAnswer::error(500, "This request was routed wrongly.")
        }
    }
}

fn no_election() -> String {
    "This peer does not know the election yet (it is waiting for the ballot).".to_owned()
}

/// `GET /api/status`, published by the shell as it changes; `hash_rate`: the miner's hashes per
/// second lately (0 when it is not mining); `pool`: the mining port's numbers
/// ([`crate::external::pool_json`], `null` without a port).
pub fn status(node: &Node, now_ms: u64, hash_rate: u64, pool: &Value) -> Value {
    let tracker = match node.tracker_status(now_ms) {
        TrackerStatus::NoTracker => json!({ "state": "none" }),
        TrackerStatus::Registered => json!({ "state": "registered" }),
        TrackerStatus::Registering { unanswered_ms } => {
            json!({ "state": "registering", "unanswered_ms": unanswered_ms })
        }
        TrackerStatus::Refused { election, title } => {
            json!({ "state": "refused", "election": election, "title": title })
        }
    };
    let election = node.chain().map(|c| {
        let ballot = c.ballot();
        json!({
            "id": c.election(),
            "title": ballot.title,
            "options": ballot.options,
            "difficulty": ballot.difficulty,
            "open": ballot.voters.is_none(),
            "roll_size": ballot.voters.as_ref().map(Vec::len),
            "closing_height": ballot.closing_height,
        })
    });
    let chain = node.chain();
    json!({
        "name": node.config().name,
        "election": election,
        "height": chain.map(ChainState::height),
        "tip": chain.map(ChainState::tip_hash),
        "tip_time_ms": chain.map(|c| c.tip().header().timestamp_ms),
        "peers": node.active_peers(now_ms),
        "pending": chain.map_or(0, |c| c.pool().len()),
        "mining": node.mining_on(),
        "hash_rate": hash_rate,
        "blocks_mined": node.stats().mined,
        "tracker": tracker,
        "syncing": node.syncing(),
        "pool": pool,
    })
}

/// `GET /api/tally` and the `tally` event: a look-up per option, however long the chain and
/// however full the pool (both keep their counts as blocks and votes come and go).
pub fn tally(chain: &ChainState) -> Value {
    let tally = chain.tally();
    let pool = chain.pool();
    let options: Vec<Value> = tally
        .lines
        .iter()
        .map(|l| {
            json!({
                "option": l.option,
                "confirmed": l.votes,
                "pending": pool.pending_for(&l.option),
            })
        })
        .collect();
    json!({ "height": tally.height, "tip": tally.tip, "options": options })
}

fn vote_json(id: &Hash, vote: &Vote) -> Value {
    json!({ "id": id, "voter": vote.voter, "choice": vote.choice })
}

/// A block's header fields and vote count; its votes too when `with_votes`. Confirmations are
/// 0 for a block off the best chain.
fn block_json(chain: &ChainState, block: &Block, with_votes: bool) -> Value {
    let header = block.header();
    let confirmations = if chain.on_best_chain(&block.hash()) {
        chain.height().saturating_sub(block.height()) + 1
    } else {
        0
    };
    let mut out = json!({
        "height": block.height(),
        "hash": block.hash(),
        "prev": block.prev(),
        "timestamp_ms": header.timestamp_ms,
        "difficulty": header.difficulty,
        "nonce": header.nonce,
        "payload_root": header.payload_root,
        "miner": block.miner(),
        "vote_count": block.votes().len(),
        "confirmations": confirmations,
    });
    if with_votes {
        let votes: Vec<Value> = block
            .votes()
            .iter()
            .map(|v| vote_json(&v.id(), v))
            .collect();
        out["votes"] = Value::Array(votes);
    }
    out
}

/// Most blocks one page of ballots looks at, so a long run of empty blocks (`--mine`) costs
/// the loop a bounded time too.
const MAX_BLOCKS_SCANNED: u64 = 10_000;

fn ballots(chain: &ChainState, from: u64, limit: usize) -> Value {
    let mut ballots = Vec::new();
    let mut next = None;
    let first = from.max(1);
    for height in first..=chain.height() {
        let Some(block) = chain.block_at(height) else {
            break;
        };
        let full = !ballots.is_empty() && ballots.len() + block.votes().len() > limit;
        if full || height - first >= MAX_BLOCKS_SCANNED {
            next = Some(height);
            break;
        }
        for vote in block.votes() {
            ballots.push(json!({ "vote_id": vote.id(), "height": height, "block": block.hash() }));
        }
    }
    json!({ "height": chain.height(), "ballots": ballots, "next_from": next })
}

/// `GET /api/peers` and the `peers` event: the peer table (at most `max_peers` rows).
pub fn peers(node: &Node, now_ms: u64) -> Value {
    let peers: Vec<Value> = node
        .peers()
        .iter()
        .map(|(addr, p)| {
            let source = p.source.name();
            let state = match (p.banned_until_ms > now_ms, p.other_election) {
                (true, _) => "banned",
                (false, Some(_)) => "other election",
                (false, None) => "ok",
            };
            json!({
                "address": addr.to_string(),
                "name": p.name,
                "source": source,
                "last_heard_ms": (p.last_heard_ms != 0).then_some(p.last_heard_ms),
                "blocks": p.reported.map(|(blocks, _)| blocks),
                "state": state,
            })
        })
        .collect();
    json!({ "peers": peers })
}

fn receipt(node: &Node, id: Hash) -> Value {
    let mut out = serde_json::to_value(node.receipt_status(&id, true)).unwrap_or(Value::Null);
    out["vote_id"] = json!(id);
    out
}

fn submit(node: &mut Node, voting: &Voting, now_ms: u64, submission: Submission) -> ApiAnswer {
    let (id, reply, answer) = match submission {
        Submission::Signed(vote) => {
            let id = vote.id();
            let Reply::Vote(reply) = node.handle_command(now_ms, NodeCommand::SubmitVote(*vote))
            else {
                return ApiAnswer::error(500, "The node gave no answer to the vote.");
            };
            let answer = view::submit(&reply);
            (Some(id), Some(reply), answer)
        }
        Submission::Named { voter, choice } => {
            let named = voting.submit_named(node, now_ms, &voter, &choice);
            let id = match &named.outcome {
                Some(
                    SubmitReply::Pending(id)
                    | SubmitReply::Duplicate(id)
                    | SubmitReply::Rejected(id, _),
                ) => Some(*id),
                _ => None,
            };
            (id, named.outcome, named.answer)
        }
    };
    match (reply, id) {
        (Some(SubmitReply::Pending(_) | SubmitReply::Duplicate(_)), Some(id)) => {
            ApiAnswer::ok(receipt(node, id))
        }
        (Some(SubmitReply::NoElection), _) => ApiAnswer::error(409, no_election()),
        (None, _) if node.chain().is_none() => ApiAnswer::error(409, no_election()),
        (_, id) => {
            let mut refusal = ApiAnswer::error(422, sentence(&answer));
            if let Some(id) = id {
                refusal.body["vote_id"] = json!(id);
            }
            refusal
        }
    }
}

/// The console's answer as a sentence: capitalised, ending with a full stop.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => return "The vote was refused.".into(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// What subscribers hear of a node event (most events are for the log only).
pub fn events_of(event: &Event) -> Vec<ApiEvent> {
    match event {
        Event::TipChanged {
            height,
            hash,
            reorg_depth,
            returned_votes,
            miner,
            votes,
        } => {
            let data = json!({
                "height": height,
                "hash": hash,
                "miner": miner,
                "votes": votes,
                "reorg_depth": reorg_depth,
                "returned_votes": returned_votes,
            });
            let mut out = vec![
                ApiEvent {
                    kind: "tip",
                    data: data.clone(),
                },
                ApiEvent {
                    kind: "block",
                    data: data.clone(),
                },
            ];
            if *reorg_depth > 0 {
                out.push(ApiEvent {
                    kind: "reorg",
                    data,
                });
            }
            out
        }
        Event::ElectionKnown {
            election, title, ..
        } => vec![ApiEvent {
            kind: "election",
            data: json!({ "id": election, "title": title }),
        }],
        Event::Synced { height } => vec![ApiEvent {
            kind: "synced",
            data: json!({ "height": height }),
        }],
        _ => Vec::new(),
    }
}

/// The event for a vote accepted into the pending pool.
pub fn vote_event(vote: &Vote) -> ApiEvent {
    ApiEvent {
        kind: "vote",
        data: json!({ "id": vote.id(), "choice": vote.choice }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NodeConfig;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use votechain_chain::{Ballot, ChainConfig};

    fn node(known: bool) -> Node {
        let ballot = Ballot::open("T", &["Adam", "Bob"], 0);
        let chain = known.then(|| ChainState::new(&ballot, ChainConfig::default()).unwrap());
        let cfg = NodeConfig::new("127.0.0.1:6001".parse().unwrap());
        Node::new(cfg, ChaCha8Rng::seed_from_u64(1), chain)
    }

    #[test]
    fn a_node_without_its_election_refuses_with_a_sentence_and_still_has_a_status() {
        let mut node = node(false);
        let voting = Voting::new(std::env::temp_dir().join("votechain-api-unit-none"));
        let tally = answer(&mut node, &voting, 1, Query::Tally);
        assert_eq!(tally.status, 409);
        assert_eq!(tally.body["error"], no_election());
        let status = status(&node, 1, 0, &Value::Null);
        assert_eq!(status["election"], Value::Null);
    }

    #[test]
    fn signed_votes_are_answered_with_a_receipt_or_a_reason() {
        let mut node = node(true);
        let voting = Voting::new(std::env::temp_dir().join("votechain-api-unit-signed"));
        let election = node.chain().unwrap().election();
        let key = votechain_chain::VoterKey::from_seed([3; 32]);
        let good = Vote::sign(key.signing_key(), election, "Adam");
        let submit = |node: &mut Node, vote: &Vote| {
            let query = Query::Submit(Submission::Signed(Box::new(vote.clone())));
            answer(node, &voting, 1, query)
        };
        let accepted = submit(&mut node, &good);
        assert_eq!(accepted.status, 200, "{}", accepted.body);
        assert_eq!(accepted.body["status"], "pending");
        assert_eq!(accepted.body["vote_id"], json!(good.id()));
        let other = Vote::sign(key.signing_key(), election, "Bob");
        let refused = submit(&mut node, &other);
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert_eq!(refused.body["vote_id"], json!(other.id()));
        let tally = answer(&mut node, &voting, 1, Query::Tally);
        assert_eq!(tally.body["options"][0]["pending"], 1, "{}", tally.body);
        assert_eq!(tally.body["options"][1]["pending"], 0, "{}", tally.body);
    }

    #[test]
    fn block_pages_stay_on_the_chain_and_count_confirmations() {
        let mut node = node(true);
        let voting = Voting::new(std::env::temp_dir().join("votechain-api-unit-pages"));
        let mut chain = node.chain().unwrap().clone();
        for i in 0..3 {
            let t = votechain_chain::BlockTemplate::new(
                chain.tip_hash(),
                chain.height(),
                0,
                1_000 + i,
                "m",
                vec![],
            )
            .unwrap();
            chain.add_block(t.seal(0), 2_000).unwrap();
        }
        let cfg = NodeConfig::new("127.0.0.1:6001".parse().unwrap());
        node = Node::new(cfg, ChaCha8Rng::seed_from_u64(1), Some(chain));
        let heights = |node: &mut Node, before| {
            let query = Query::Blocks { before, limit: 2 };
            let body = answer(node, &voting, 1, query).body;
            let blocks = body["blocks"].as_array().unwrap().clone();
            blocks
                .iter()
                .map(|b| b["height"].as_u64().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(heights(&mut node, None), [3, 2]);
        assert_eq!(
            heights(&mut node, Some(u64::MAX)),
            [3, 2],
            "capped at the tip"
        );
        assert_eq!(heights(&mut node, Some(2)), [1, 0]);
        assert_eq!(heights(&mut node, Some(0)), Vec::<u64>::new());
        let genesis = answer(&mut node, &voting, 1, Query::Block(BlockRef::Height(0)));
        assert_eq!(genesis.body["confirmations"], 4);
        let ballots = answer(&mut node, &voting, 1, Query::Ballots { from: 1, limit: 5 });
        assert_eq!(ballots.body["ballots"], json!([]));
        assert_eq!(ballots.body["next_from"], Value::Null);
    }

    #[test]
    fn a_reorganisation_is_a_tip_a_block_and_a_reorg_event() {
        let event = Event::TipChanged {
            height: 4,
            hash: Hash([1; 32]),
            reorg_depth: 2,
            returned_votes: 1,
            miner: "m".into(),
            votes: 0,
        };
        let kinds: Vec<&str> = events_of(&event).iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["tip", "block", "reorg"]);
        assert_eq!(events_of(&event)[2].data["reorg_depth"], 2);
        assert!(events_of(&Event::Mined {
            height: 1,
            hash: Hash([2; 32])
        })
        .is_empty());
        assert_eq!(sentence("vote x rejected: no"), "Vote x rejected: no.");
    }
}
