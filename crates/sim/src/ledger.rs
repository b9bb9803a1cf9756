//! Who paid for which bytes, and what the honest peers did about it: the record the security
//! promises (SECURITY.md, [`crate::promises`]) are checked against.
//!
//! For each *watched* address the ledger counts the bytes delivered to it, the bytes attacks
//! forged in its name (sent with it as the source address, or naming it, as a GOSSIP can), the
//! bytes it genuinely sent, and the bytes sent to it in direct answer to datagrams forged as it.
//! Only watched addresses are counted, from the moment they are watched, so a scenario chooses
//! the window ("after the victim went silent"). Datagrams to addresses where nothing lives (the
//! victim sink) are counted per address whether watched or not. The ledger also keeps every ban
//! an honest peer pronounced, which peer acknowledged which vote, and the largest burst of
//! datagrams one sender sent a watched address within one virtual millisecond.
//!
//! Everything is in ordered maps, so nothing here depends on hashing order.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use votechain_chain::Hash;
use votechain_proto::limits::{AMPLIFICATION_FACTOR, AMPLIFICATION_FLOOR};

/// What one watched address received and what was sent in its name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exposure {
    /// Bytes delivered to it.
    pub delivered_bytes: u64,
    /// Datagrams delivered to it.
    pub delivered_datagrams: u64,
    /// Bytes of forged datagrams in its name (as their source, or named in them).
    pub forged_bytes: u64,
    /// Forged datagrams in its name.
    pub forged_datagrams: u64,
    /// Bytes it genuinely sent.
    pub sent_bytes: u64,
    /// Bytes sent to it by a node while that node handled a datagram forged as it.
    pub answer_bytes: u64,
}

impl Exposure {
    /// Bytes it received without asking: everything delivered if it sent nothing itself, else
    /// only the direct answers to datagrams forged in its name.
    pub fn unasked_bytes(&self) -> u64 {
        if self.sent_bytes == 0 {
            self.delivered_bytes
        } else {
            self.answer_bytes
        }
    }

    /// The most the anti-amplification promise allows it to receive unasked: 3 × the bytes
    /// forged in its name, plus the protocol's floor (256 bytes) per forged datagram, as
    /// `votechain_proto::limits::unverified_reply_budget` allows one reply per request.
    pub fn allowed_bytes(&self) -> u64 {
        AMPLIFICATION_FACTOR as u64 * self.forged_bytes
            + AMPLIFICATION_FLOOR as u64 * self.forged_datagrams
    }
}

/// An honest peer banned an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    /// Virtual time.
    pub at_ms: u64,
    /// The peer that banned (index in the simulation).
    pub by: usize,
    /// The address banned.
    pub banned: SocketAddr,
    /// The reason the peer gave.
    pub reason: String,
}

/// Datagrams and bytes one sender sent one address within one virtual millisecond.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Burst {
    /// Datagrams.
    pub datagrams: u64,
    /// Bytes.
    pub bytes: u64,
}

/// The ledger. See the module docs.
#[derive(Debug, Default)]
pub struct Ledger {
    watched: BTreeMap<SocketAddr, Exposure>,
    /// Datagrams and bytes delivered to addresses where nothing lives.
    sink: BTreeMap<SocketAddr, (u64, u64)>,
    bans: Vec<Ban>,
    acked_by: BTreeMap<Hash, usize>,
    /// The instant the current bursts belong to, and per (sender, watched destination) what was
    /// sent in it.
    instant: u64,
    current: BTreeMap<(SocketAddr, SocketAddr), Burst>,
    /// Per watched destination, the largest burst any one sender sent it.
    max_burst: BTreeMap<SocketAddr, Burst>,
    /// Virtual time of the last datagram an attack sent (forged or not).
    last_attack_ms: Option<u64>,
}

impl Ledger {
    /// Starts (or restarts, from zero) counting for `addr`.
    pub fn watch(&mut self, addr: SocketAddr) {
        self.watched.insert(addr, Exposure::default());
        self.max_burst.insert(addr, Burst::default());
    }

    /// What `addr` went through since it was watched (`None` when it is not watched).
    pub fn exposure(&self, addr: &SocketAddr) -> Option<Exposure> {
        self.watched.get(addr).copied()
    }

    /// Every watched address with its exposure, in address order.
    pub fn exposures(&self) -> impl Iterator<Item = (&SocketAddr, &Exposure)> {
        self.watched.iter()
    }

    /// Datagrams and bytes delivered to `addr` while nothing lived there.
    pub fn sink(&self, addr: &SocketAddr) -> (u64, u64) {
        self.sink.get(addr).copied().unwrap_or_default()
    }

    /// Every ban honest peers pronounced, in order.
    pub fn bans(&self) -> &[Ban] {
        &self.bans
    }

    /// The peer that acknowledged vote `id` to its voter.
    pub fn acked_at(&self, id: &Hash) -> Option<usize> {
        self.acked_by.get(id).copied()
    }

    /// Every acknowledged vote with the peer that acknowledged it.
    pub fn acked(&self) -> impl Iterator<Item = (&Hash, &usize)> {
        self.acked_by.iter()
    }

    /// The largest burst one sender sent the watched address `addr` within one millisecond.
    pub fn max_burst(&self, addr: &SocketAddr) -> Burst {
        self.max_burst.get(addr).copied().unwrap_or_default()
    }

    /// Virtual time of the last datagram an attack sent.
    pub fn last_attack_ms(&self) -> Option<u64> {
        self.last_attack_ms
    }

    pub(crate) fn acked_by(&mut self, id: Hash, peer: usize) {
        self.acked_by.entry(id).or_insert(peer);
    }

    pub(crate) fn on_deliver(&mut self, to: SocketAddr, len: usize) {
        if let Some(e) = self.watched.get_mut(&to) {
            e.delivered_bytes += len as u64;
            e.delivered_datagrams += 1;
        }
    }

    pub(crate) fn on_sink(&mut self, to: SocketAddr, len: usize) {
        let s = self.sink.entry(to).or_default();
        s.0 += 1;
        s.1 += len as u64;
    }

    /// A genuine datagram; `answer` when it answers a datagram forged as `to`.
    pub(crate) fn on_send(
        &mut self,
        now: u64,
        from: SocketAddr,
        to: SocketAddr,
        len: usize,
        answer: bool,
    ) {
        if let Some(e) = self.watched.get_mut(&from) {
            e.sent_bytes += len as u64;
        }
        let Some(e) = self.watched.get_mut(&to) else {
            return;
        };
        if answer {
            e.answer_bytes += len as u64;
        }
        if now != self.instant {
            self.instant = now;
            self.current.clear();
        }
        let b = self.current.entry((from, to)).or_default();
        b.datagrams += 1;
        b.bytes += len as u64;
        let b = *b;
        let max = self.max_burst.entry(to).or_default();
        if (b.datagrams, b.bytes) > (max.datagrams, max.bytes) {
            *max = b;
        }
    }

    /// A forged datagram in the name of `names` (its source address, and whoever it names).
    pub(crate) fn on_forged(&mut self, now: u64, names: &[SocketAddr], len: usize) {
        self.last_attack_ms = Some(now);
        for name in names {
            if let Some(e) = self.watched.get_mut(name) {
                e.forged_bytes += len as u64;
                e.forged_datagrams += 1;
            }
        }
    }

    /// An attack sent a datagram from one of its own addresses.
    pub(crate) fn on_attack_send(&mut self, now: u64) {
        self.last_attack_ms = Some(now);
    }

    pub(crate) fn on_ban(&mut self, now: u64, by: usize, banned: SocketAddr, reason: &str) {
        self.bans.push(Ban {
            at_ms: now,
            by,
            banned,
            reason: reason.to_owned(),
        });
    }
}
