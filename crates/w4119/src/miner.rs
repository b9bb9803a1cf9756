//! Mining a W4119 block the way the Python peer does: nonces from 0 upwards until the hex hash
//! starts with `difficulty` zeros. The hashed text around the nonce is serialized once
//! ([`BlockTemplate`]); each attempt writes the nonce's digits between and hashes, and only the
//! winning digest is turned into hex.
//!
//! Also [`now_timestamp`], the "YYYY-MM-DD HH:MM:SS" form W4119 puts in blocks and votes, from
//! Unix seconds given by the caller (this crate reads no clock).

use crate::block::{digest_meets_difficulty, hash_input_parts, Transaction, W4119Block};
use crate::limits::MAX_DIFFICULTY;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Attempts between two looks at the cancel flag (and two updates of the hash counter): a few
/// milliseconds of work, so a cancel is noticed quickly and the counter is not contended.
const BATCH: u64 = 4096;

/// What a block will hold, all but its nonce and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockTemplate {
    /// The block's index: the parent's plus one.
    pub index: u64,
    /// What it records.
    pub transactions: Vec<Transaction>,
    /// When it is mined, as [`now_timestamp`] writes it.
    pub timestamp: String,
    /// The parent's hash.
    pub previous_hash: String,
}

impl BlockTemplate {
    /// A template for the block after `parent`.
    pub fn after(parent: &W4119Block, transactions: Vec<Transaction>, timestamp: String) -> Self {
        BlockTemplate {
            index: parent.index.saturating_add(1),
            transactions,
            timestamp,
            previous_hash: parent.hash.clone(),
        }
    }
}

/// Mines `template` at `difficulty`, trying nonces from 0 as the Python peer does, so it finds
/// the nonce Python would. Returns the block, or `None` when `cancel` is set (it is read first and
/// every few thousand attempts), when `difficulty` is above 64, or when every nonce up to
/// 2^64 - 1 fails. Adds the attempts made to `hashes` as it goes.
pub fn mine(
    template: &BlockTemplate,
    difficulty: u32,
    cancel: &AtomicBool,
    hashes: &AtomicU64,
) -> Option<W4119Block> {
    if difficulty > MAX_DIFFICULTY || cancel.load(Ordering::Relaxed) {
        return None;
    }
    let (prefix, suffix) = hash_input_parts(
        template.index,
        &template.transactions,
        &template.timestamp,
        &template.previous_hash,
    );
    let mut text = String::with_capacity(prefix.len() + 20 + suffix.len());
    let mut nonce: u64 = 0;
    let mut unreported: u64 = 0;
    loop {
        if unreported == BATCH {
            hashes.fetch_add(unreported, Ordering::Relaxed);
            unreported = 0;
            if cancel.load(Ordering::Relaxed) {
                return None;
            }
        }
        text.clear();
        text.push_str(&prefix);
        text.push_str(itoa(nonce, &mut [0u8; 20]));
        text.push_str(&suffix);
        let digest: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        unreported += 1;
        if digest_meets_difficulty(&digest, difficulty) {
            hashes.fetch_add(unreported, Ordering::Relaxed);
            return Some(W4119Block {
                index: template.index,
                transactions: template.transactions.clone(),
                timestamp: template.timestamp.clone(),
                previous_hash: template.previous_hash.clone(),
                nonce,
                hash: hex::encode(digest),
            });
        }
        let Some(next) = nonce.checked_add(1) else {
            hashes.fetch_add(unreported, Ordering::Relaxed);
            return None;
        };
        nonce = next;
    }
}

/// `n` in decimal, written into `buf` (20 bytes hold any u64).
fn itoa(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Cannot fail: only ASCII digits were written.
    std::str::from_utf8(&buf[at..]).unwrap_or("0")
}

/// Unix seconds as "YYYY-MM-DD HH:MM:SS" in UTC, the form W4119 writes timestamps in.
pub fn now_timestamp(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`,
/// for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01, so leap days fall at the end of a 400-year era.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests;
