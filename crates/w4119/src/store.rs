//! The W4119 chain on disk, crash-safe like the native chain: the native store's file
//! (`votechain_chain::store`: length, CRC-32, kind, payload; one `write` and one `sync_data` per
//! append; a torn tail cut on open; an exclusive `flock`), holding only foreign records, each one
//! block in its wire form (`json.dumps(block)`, [`W4119Block::to_json_string`]).
//!
//! Records are replayed in order onto the genesis block: a block at index `h` replaces every
//! block at indices `>= h`, so switching to a fork is appending its blocks from the fork point. A
//! record that does not decode, skips an index, or does not verify after the block below it is
//! skipped and reported; later records still apply. The file only grows; a fork switch costs the
//! new branch's blocks. The genesis block is fixed and need not be stored; a record of it
//! replays as the chain of the genesis block alone.
//!
//! Beside blocks it keeps the peer's own votes, one record each
//! (`{"own_vote": {"voter_id": …, "candidate_id": …, "timestamp": …}}`), written when a vote is
//! accepted, so a restarted peer still knows which votes are its own: one it accepted but had not
//! mined yet, or one a later chain switch drops, is mined again ([`W4119Store::own_votes`]).
//!
//! A native store (blocks or votes) and a course chain store (its records are course datagrams,
//! objects with a `type`; a W4119 block has none) are refused with a sentence saying which they
//! are, rather than replayed into nothing.

use crate::block::{Transaction, W4119Block};
use crate::chain::W4119Chain;
use crate::pyjson::{python_dumps, Loose, PyDict, PyValue};
use std::io;
use std::path::Path;
use votechain_chain::store::{Entry, Store};

/// An open W4119 store, holding its file's lock.
#[derive(Debug)]
pub struct W4119Store {
    /// The native store that frames, checks and syncs the records.
    store: Store,
    /// The own votes the file held when it was opened, in order.
    own: Vec<Transaction>,
}

/// The key of an own-vote record.
const OWN_VOTE: &str = "own_vote";

impl W4119Store {
    /// Opens (or creates) the store at `path` and replays it into a chain of `difficulty`.
    /// Returns the store, the chain, and what was cut or skipped as a sentence (`None` for a
    /// clean open). Fails with `WouldBlock` (carrying `votechain_chain::StoreLocked`) while
    /// another open store holds the file, and with `InvalidData` for a file that is not a store,
    /// holds native blocks or votes, or holds course datagrams.
    pub fn open(
        path: &Path,
        difficulty: u32,
    ) -> io::Result<(W4119Store, W4119Chain, Option<String>)> {
        let (store, recovered) = Store::open(path)?;
        let refuse = |what: &str| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is {what}, not a W4119 chain store", path.display()),
            )
        };
        if !recovered.blocks.is_empty() || !recovered.votes.is_empty() {
            return Err(refuse("a native votechain store"));
        }
        if recovered.raw.iter().any(|record| is_datagram(record)) {
            return Err(refuse("a course chain store (its records are messages)"));
        }
        let mut chain = W4119Chain::new(difficulty);
        let mut own = Vec::new();
        let mut skipped = Vec::new();
        for (index, record) in recovered.raw.iter().enumerate() {
            if let Some(vote) = own_vote(record) {
                own.push(vote);
                continue;
            }
            if let Err(why) = replay(&mut chain, record) {
                skipped.push(format!("record {index}: {why}"));
            }
        }
        let mut report = Vec::new();
        if let Some(cut) = recovered.cut_reason {
            report.push(format!("cut {} bytes ({cut})", recovered.cut_bytes));
        }
        if !skipped.is_empty() {
            // The first few reasons say what is wrong; a long chain's worth would be a wall.
            let shown: Vec<&str> = skipped.iter().take(3).map(String::as_str).collect();
            let more = match skipped.len().saturating_sub(shown.len()) {
                0 => String::new(),
                n => format!("; and {n} more"),
            };
            report.push(format!(
                "skipped {} records ({}{more})",
                skipped.len(),
                shown.join("; ")
            ));
        }
        let report =
            (!report.is_empty()).then(|| format!("the W4119 store {}", report.join(", and ")));
        Ok((W4119Store { store, own }, chain, report))
    }

    /// The own votes the file held when it was opened, oldest first.
    pub fn own_votes(&self) -> &[Transaction] {
        &self.own
    }

    /// Appends `blocks` durably, with one write and one sync: when this returns `Ok` they are on
    /// disk. A block at index `h` replaces everything at indices `>= h` on replay, so a fork
    /// switch is appending the new branch from its fork point.
    pub fn append(&mut self, blocks: &[W4119Block]) -> io::Result<()> {
        let payloads: Vec<Vec<u8>> = blocks
            .iter()
            .map(|b| b.to_json_string().into_bytes())
            .collect();
        let entries: Vec<Entry<'_>> = payloads.iter().map(|p| Entry::Raw(p)).collect();
        self.store.append_all(&entries)
    }

    /// Appends our own `votes` durably (one write, one sync), so they are known as ours after a
    /// restart.
    pub fn append_own(&mut self, votes: &[Transaction]) -> io::Result<()> {
        let payloads: Vec<Vec<u8>> = votes
            .iter()
            .map(|vote| {
                let mut record = PyDict::new();
                record.insert(OWN_VOTE, PyValue::Dict(vote.fields().clone()));
                python_dumps(&PyValue::Dict(record), false).into_bytes()
            })
            .collect();
        let entries: Vec<Entry<'_>> = payloads.iter().map(|p| Entry::Raw(p)).collect();
        self.store.append_all(&entries)
    }
}

/// The vote of an own-vote record, or `None` for any other record.
fn own_vote(record: &[u8]) -> Option<Transaction> {
    match PyValue::parse(record).ok()? {
        PyValue::Dict(dict) => match dict.get(OWN_VOTE)? {
            PyValue::Dict(fields) => Some(Transaction::from_fields(fields.clone())),
            _ => None,
        },
        _ => None,
    }
}

/// True when `record` is a JSON object with a `type` key: a datagram, as the course store
/// keeps, never a W4119 block.
fn is_datagram(record: &[u8]) -> bool {
    Loose::parse(record).is_ok_and(|value| value.get("type").is_some())
}

/// Applies one record to `chain`: its block replaces the chain from its index, if it verifies
/// after the block below it. On error the chain is unchanged.
fn replay(chain: &mut W4119Chain, record: &[u8]) -> Result<(), String> {
    let block = W4119Block::from_json_bytes(record).map_err(|e| e.to_string())?;
    if block.index == 0 {
        // The genesis block replaces everything above it; any other block 0 is foreign.
        if !block.is_genesis() {
            return Err(crate::W4119Error::NotGenesis.to_string());
        }
        chain.truncate(1);
        return Ok(());
    }
    let len = chain.len() as u64;
    if block.index > len {
        return Err(format!(
            "a block at index {} above a chain of {len} blocks",
            block.index
        ));
    }
    let below = chain
        .get(block.index - 1)
        .ok_or_else(|| format!("no block below index {}", block.index))?;
    block
        .verify_after(below, chain.difficulty())
        .map_err(|e| e.to_string())?;
    chain.truncate(block.index);
    chain.try_append(block).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
