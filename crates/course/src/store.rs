//! The course chain on disk, crash-safe like the native chain: the native store's file
//! (`votechain_chain::store`: length, CRC-32, kind, payload; one `write` and one `sync_data` per
//! append; a torn tail cut on open; an exclusive `flock`), holding only foreign records, each one
//! block as its flat ANNOUNCE datagram (the [`crate::wire`] encoding).
//!
//! Records are replayed in order: a block at height `h` replaces every block at heights `>= h`,
//! so switching to a fork is appending its blocks from the fork point. A record that does not
//! decode, skips a height, or does not verify after the block below it is skipped and reported;
//! later records still apply (they were appended on top of the chain replay rebuilds, since the
//! caller appends to the chain it got from [`CourseStore::open`]). The file only grows; a fork
//! switch costs the new branch's blocks.

use crate::block::CourseBlock;
use crate::chain::CourseChain;
use crate::wire::{decode, encode, CourseMessage};
use std::io;
use std::path::Path;
use votechain_chain::store::{Entry, Store};

/// An open course store, holding its file's lock.
#[derive(Debug)]
pub struct CourseStore {
    /// The native store that frames, checks and syncs the records.
    store: Store,
}

impl CourseStore {
    /// Opens (or creates) the store at `path` and replays it into a chain of `difficulty`.
    /// Returns the store, the chain, and what was cut or skipped as a sentence (`None` for a
    /// clean open). Fails with `WouldBlock` (carrying `votechain_chain::StoreLocked`) while
    /// another open store holds the file, and with `InvalidData` for a file that is not a store
    /// or holds native blocks or votes.
    pub fn open(
        path: &Path,
        difficulty: u32,
    ) -> io::Result<(CourseStore, CourseChain, Option<String>)> {
        let (store, recovered) = Store::open(path)?;
        if !recovered.blocks.is_empty() || !recovered.votes.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} is a native votechain store, not a course chain store",
                    path.display()
                ),
            ));
        }
        let mut chain = CourseChain::new(difficulty);
        let mut skipped = Vec::new();
        for (index, record) in recovered.raw.iter().enumerate() {
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
            (!report.is_empty()).then(|| format!("the course store {}", report.join(", and ")));
        Ok((CourseStore { store }, chain, report))
    }

    /// Appends `blocks` durably, with one write and one sync: when this returns `Ok` they are on
    /// disk. A block at height `h` replaces everything at heights `>= h` on replay, so a fork
    /// switch is appending the new branch from its fork point.
    pub fn append(&mut self, blocks: &[CourseBlock]) -> io::Result<()> {
        let payloads: Vec<Vec<u8>> = blocks
            .iter()
            .map(|b| encode(&CourseMessage::Announce(b.clone())))
            .collect();
        let entries: Vec<Entry<'_>> = payloads.iter().map(|p| Entry::Raw(p)).collect();
        self.store.append_all(&entries)
    }
}

/// Applies one record to `chain`: its block replaces the chain from its height, if it verifies
/// after the block below it. On error the chain is unchanged.
fn replay(chain: &mut CourseChain, record: &[u8]) -> Result<(), String> {
    let block = match decode(record) {
        Ok(CourseMessage::Announce(block)) => block,
        Ok(other) => return Err(format!("a {} message, not a block", other.type_name())),
        Err(e) => return Err(e.to_string()),
    };
    if block.height > chain.len() {
        return Err(format!(
            "a block at height {} above a chain of {}",
            block.height,
            chain.len()
        ));
    }
    let below = block.height.checked_sub(1).and_then(|h| chain.get(h));
    block
        .verify_after(below, chain.difficulty())
        .map_err(|e| e.to_string())?;
    chain.truncate(block.height);
    chain.push(block).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
