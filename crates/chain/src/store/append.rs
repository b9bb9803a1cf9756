//! Writing: every append is one `write` of whole records followed by `sync_data`, with no
//! buffering, so once an append returns `Ok` its records survive a `kill -9` or a power cut. A
//! batch ([`Store::append_all`]) is a group commit: one write and one sync for all of it. A
//! failed write is cut back off; a failed sync or rollback leaves the file's contents unknown,
//! and the store then refuses further appends.

use super::record;
use super::Store;
use crate::block::Block;
use crate::vote::Vote;
use std::io::{self, Seek, SeekFrom, Write};

/// One record for [`Store::append_all`].
#[derive(Debug, Clone, Copy)]
pub enum Entry<'a> {
    /// A block.
    Block(&'a Block),
    /// A vote.
    Vote(&'a Vote),
    /// A foreign record: bytes stored as given and returned in [`Recovered::raw`], for a chain
    /// format other than this crate's (see the [store](super) docs).
    ///
    /// [`Recovered::raw`]: super::Recovered::raw
    Raw(&'a [u8]),
}

impl Store {
    /// Appends `block` durably: when this returns `Ok`, the block is on disk.
    pub fn append_block(&mut self, block: &Block) -> io::Result<()> {
        self.append_all(&[Entry::Block(block)])
    }

    /// Appends `vote` durably: when this returns `Ok`, the vote is on disk.
    pub fn append_vote(&mut self, vote: &Vote) -> io::Result<()> {
        self.append_all(&[Entry::Vote(vote)])
    }

    /// Appends `entries` in order with one `write` and one `sync_data` (group commit): when this
    /// returns `Ok` all of them are on disk. A crash during the call keeps an intact prefix of
    /// them, which is safe because nothing in the batch was acknowledged yet.
    pub fn append_all(&mut self, entries: &[Entry<'_>]) -> io::Result<()> {
        if self.broken {
            return Err(io::Error::other(
                "an earlier append failed; reopen the store",
            ));
        }
        if entries.is_empty() {
            return Ok(());
        }
        let mut records = Vec::new();
        for entry in entries {
            record::encode(entry, &mut records)?;
        }
        // One write for the whole batch: a crash tears at most its last record.
        if let Err(e) = self.file.write_all(&records) {
            // Cut the partial batch back off, or the next append would land after it and be
            // cut with it on the next open.
            let rollback = self
                .file
                .set_len(self.len)
                .and_then(|()| self.file.seek(SeekFrom::Start(self.len)));
            self.broken = rollback.is_err();
            return Err(e);
        }
        if let Err(e) = self.file.sync_data() {
            // After a failed sync the kernel may have dropped the dirty pages: what is on disk is
            // unknown, and retrying cannot make the earlier data durable.
            self.broken = true;
            return Err(e);
        }
        self.len += records.len() as u64;
        Ok(())
    }
}
