//! What keeps a course peer safe without address proof. Course peers never prove their address
//! (no cookies, no CHALLENGE), so every reply goes to an address that may be forged. Three rules
//! bound what a stranger can make us do, all keyed by IP address rather than ip:port, because one
//! course implementation sends every request from a fresh port:
//! - a token bucket of datagrams per IP, checked before anything is decoded;
//! - a byte budget of replies per IP, so a forged source turns into at most
//!   [`REPLY_BYTES_PER_S`] bytes a second toward its victim, whatever it asks;
//! - a back-off for a peer that asks for the same height again and again (one course peer
//!   retried `GET_BLOCK 0` 256,000 times in 21 s): after [`REASK_FREE`] answers to one IP for
//!   one height within [`REASK_WINDOW_MS`], further asks are dropped until the window passes.
//!
//! Every table is capped; a full table refuses newcomers rather than evict the current ones.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use votechain_sansio::ratelimit::{Rate, SourceLimiter, Verdict};

/// Datagrams per second one IP address may send us (burst the same). Generous: a course peer
/// syncing from us sends one GET_BLOCK per block, and a machine may host several peers.
pub const DATAGRAMS_PER_IP: Rate = Rate {
    per_s: 20_000,
    burst: 20_000,
};

/// Reply bytes per second toward one IP address (burst the same).
pub const REPLY_BYTES_PER_S: u64 = 1 << 20;

/// Answers to one IP for one height within [`REASK_WINDOW_MS`] before it is backed off.
pub const REASK_FREE: u32 = 8;

/// The re-ask window.
pub const REASK_WINDOW_MS: u64 = 2_000;

/// The largest reply a course peer sends, in bytes: a GET_BLOCK_REPLY whose every field is at
/// its limit in the costliest JSON form (a unit test builds it).
pub const MAX_REPLY_BYTES: usize = 3_200;

/// The smallest request that gets a reply: `{"type":"GET_BLOCK","height":0}`. The largest reply
/// is therefore at most [`MAX_REPLY_BYTES`] / this ≈ 103 times the request; a real course block
/// is far smaller (the Fall 2024 genesis block's reply is 232 bytes, 7.5 times).
pub const SMALLEST_REQUEST_BYTES: usize = 31;

/// Most IP addresses tracked by each table.
pub const MAX_TRACKED_IPS: usize = 4_096;

/// What the guard says of a datagram or a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardVerdict {
    /// Go ahead.
    Allowed,
    /// Over the IP's datagram rate (or the table of IPs is full).
    Flooding,
    /// Over the IP's reply budget.
    OverBudget,
    /// The same height asked too often.
    BackedOff,
}

/// One IP's reply budget, in bytes.
#[derive(Debug, Clone, Copy)]
struct ByteBucket {
    bytes: u64,
    updated_ms: u64,
}

/// One IP's asks for one height.
#[derive(Debug, Clone, Copy)]
struct Reask {
    height: u64,
    count: u32,
    since_ms: u64,
}

/// The per-IP limits.
#[derive(Debug)]
pub struct Guard {
    datagrams: SourceLimiter,
    replies: HashMap<IpAddr, ByteBucket>,
    reasks: HashMap<IpAddr, Reask>,
}

impl Default for Guard {
    fn default() -> Guard {
        Guard::new()
    }
}

/// The key of an IP address in a table of socket addresses.
fn ip_key(ip: IpAddr) -> SocketAddr {
    SocketAddr::new(ip, 0)
}

impl Guard {
    /// Empty tables.
    pub fn new() -> Guard {
        Guard {
            datagrams: SourceLimiter::new(DATAGRAMS_PER_IP, MAX_TRACKED_IPS),
            replies: HashMap::new(),
            reasks: HashMap::new(),
        }
    }

    /// Charges one received datagram to its source's IP.
    pub fn datagram(&mut self, from: SocketAddr, now_ms: u64) -> GuardVerdict {
        match self.datagrams.check(ip_key(from.ip()), now_ms) {
            Verdict::Allowed => GuardVerdict::Allowed,
            _ => GuardVerdict::Flooding,
        }
    }

    /// Charges a reply of `len` bytes to `to`'s IP; refused when over its budget.
    pub fn reply(&mut self, to: SocketAddr, len: usize, now_ms: u64) -> GuardVerdict {
        let len = len as u64;
        if !self.replies.contains_key(&to.ip()) && self.replies.len() >= MAX_TRACKED_IPS {
            self.replies.retain(|_, b| {
                b.bytes + now_ms.saturating_sub(b.updated_ms) * REPLY_BYTES_PER_S / 1_000
                    < REPLY_BYTES_PER_S
            });
            if self.replies.len() >= MAX_TRACKED_IPS {
                return GuardVerdict::OverBudget;
            }
        }
        let bucket = self.replies.entry(to.ip()).or_insert(ByteBucket {
            bytes: REPLY_BYTES_PER_S,
            updated_ms: now_ms,
        });
        let refill = now_ms.saturating_sub(bucket.updated_ms) * REPLY_BYTES_PER_S / 1_000;
        if refill > 0 {
            bucket.bytes = (bucket.bytes + refill).min(REPLY_BYTES_PER_S);
            bucket.updated_ms = now_ms;
        }
        if bucket.bytes < len {
            return GuardVerdict::OverBudget;
        }
        bucket.bytes -= len;
        GuardVerdict::Allowed
    }

    /// Records an ask for `height` from `from`'s IP; [`GuardVerdict::BackedOff`] once it asked
    /// for that height [`REASK_FREE`] times within the window. An ask for another height starts
    /// afresh: a peer walking the chain is never backed off.
    pub fn ask(&mut self, from: SocketAddr, height: u64, now_ms: u64) -> GuardVerdict {
        let ip = from.ip();
        if !self.reasks.contains_key(&ip) && self.reasks.len() >= MAX_TRACKED_IPS {
            self.reasks
                .retain(|_, r| now_ms < r.since_ms.saturating_add(REASK_WINDOW_MS));
            if self.reasks.len() >= MAX_TRACKED_IPS {
                return GuardVerdict::BackedOff;
            }
        }
        let entry = self.reasks.entry(ip).or_insert(Reask {
            height,
            count: 0,
            since_ms: now_ms,
        });
        if entry.height != height || now_ms >= entry.since_ms.saturating_add(REASK_WINDOW_MS) {
            *entry = Reask {
                height,
                count: 0,
                since_ms: now_ms,
            };
        }
        entry.count = entry.count.saturating_add(1);
        if entry.count > REASK_FREE {
            GuardVerdict::BackedOff
        } else {
            GuardVerdict::Allowed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 9], port))
    }

    #[test]
    fn fresh_ports_share_their_ip_s_limits() {
        let mut guard = Guard::new();
        let mut allowed = 0;
        for i in 0..30_000u32 {
            if guard.datagram(addr(1_000 + (i % 60_000) as u16), 0) == GuardVerdict::Allowed {
                allowed += 1;
            }
        }
        assert_eq!(allowed, DATAGRAMS_PER_IP.burst);
    }

    #[test]
    fn replies_to_one_ip_are_held_to_its_byte_budget() {
        let mut guard = Guard::new();
        let mut sent = 0u64;
        for i in 0..10_000u16 {
            if guard.reply(addr(i), 1_000, 0) == GuardVerdict::Allowed {
                sent += 1_000;
            }
        }
        assert!(sent <= REPLY_BYTES_PER_S && sent > REPLY_BYTES_PER_S - 1_000);
        // A second later the budget is back.
        assert_eq!(guard.reply(addr(1), 1_000, 1_000), GuardVerdict::Allowed);
        // Another IP was never charged.
        let other = SocketAddr::from(([127, 0, 0, 10], 5));
        assert_eq!(guard.reply(other, 1_000, 0), GuardVerdict::Allowed);
    }

    #[test]
    fn the_same_height_asked_over_and_over_is_backed_off_but_a_walk_is_not() {
        let mut guard = Guard::new();
        let answered = (0..1_000u16)
            .filter(|&i| guard.ask(addr(i), 0, 0) == GuardVerdict::Allowed)
            .count();
        assert_eq!(answered, REASK_FREE as usize);
        // After the window it is answered again.
        assert_eq!(
            guard.ask(addr(1), 0, REASK_WINDOW_MS),
            GuardVerdict::Allowed
        );
        // A peer walking heights is never backed off.
        let mut walker = Guard::new();
        assert!((0..10_000).all(|h| walker.ask(addr(1), h, 0) == GuardVerdict::Allowed));
    }
}
