//! Address verification, the anti-amplification rule's machinery (PROTOCOL.md,
//! "Anti-amplification"). A node answers a request from an address it has not verified with a
//! small CHALLENGE whose token it can recheck without storing anything: the token is a keyed
//! hash of the address and the current time window. Echoed back in VERIFY from the same
//! address, it proves the address receives our datagrams; the address then enters a capped
//! [`VerifiedSet`]. Time and the secret come in as arguments: this is pure logic.

use crate::limits::TOKEN_HEX_LEN;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;

/// How long one token window lasts; a token is accepted in its own window and the next.
pub const TOKEN_WINDOW_MS: u64 = 30_000;

/// Mints and checks stateless tokens for one node.
#[derive(Clone)]
pub struct TokenMinter {
    secret: [u8; 32],
}

impl TokenMinter {
    /// A minter keyed with `secret`, which the shell draws from its RNG at start-up.
    pub fn new(secret: [u8; 32]) -> TokenMinter {
        TokenMinter { secret }
    }

    fn token_for_window(&self, addr: &SocketAddr, window: u64) -> String {
        let mut h = Sha256::new();
        h.update(b"votechain/token/v1\0");
        h.update(self.secret);
        h.update(addr.to_string().as_bytes());
        h.update(window.to_be_bytes());
        hex::encode(&h.finalize()[..TOKEN_HEX_LEN / 2])
    }

    /// The token to send to `addr` at `now_ms`.
    pub fn token(&self, addr: &SocketAddr, now_ms: u64) -> String {
        self.token_for_window(addr, now_ms / TOKEN_WINDOW_MS)
    }

    /// True when `token` is one this minter gave `addr` in the current or the previous window.
    pub fn check(&self, addr: &SocketAddr, token: &str, now_ms: u64) -> bool {
        let window = now_ms / TOKEN_WINDOW_MS;
        let token = token.to_ascii_lowercase();
        token == self.token_for_window(addr, window)
            || (window > 0 && token == self.token_for_window(addr, window - 1))
    }
}

impl std::fmt::Debug for TokenMinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenMinter(..)")
    }
}

/// Addresses that proved they receive our datagrams, each with the time it was last heard from.
/// Capped: when full, the address heard from longest ago is forgotten (it can verify again).
#[derive(Debug, Clone)]
pub struct VerifiedSet {
    last_heard: HashMap<SocketAddr, u64>,
    cap: usize,
    ttl_ms: u64,
}

impl VerifiedSet {
    /// An empty set holding at most `cap` addresses, each forgotten after `ttl_ms` of silence.
    pub fn new(cap: usize, ttl_ms: u64) -> VerifiedSet {
        VerifiedSet {
            last_heard: HashMap::new(),
            cap: cap.max(1),
            ttl_ms,
        }
    }

    /// Marks `addr` verified at `now_ms`.
    pub fn insert(&mut self, addr: SocketAddr, now_ms: u64) {
        if !self.last_heard.contains_key(&addr) && self.last_heard.len() >= self.cap {
            self.expire(now_ms);
            if self.last_heard.len() >= self.cap {
                // O(n) eviction only when full and nothing expired: rare, and bounded by cap.
                // Ties broken by address, so eviction is the same on every run.
                let oldest = self.last_heard.iter().map(|(a, t)| (*t, *a)).min();
                if let Some((_, oldest)) = oldest {
                    self.last_heard.remove(&oldest);
                }
            }
        }
        self.last_heard.insert(addr, now_ms);
    }

    /// True when `addr` is verified and not expired at `now_ms`; refreshes its last-heard time.
    pub fn touch(&mut self, addr: &SocketAddr, now_ms: u64) -> bool {
        match self.last_heard.get_mut(addr) {
            Some(t) if now_ms.saturating_sub(*t) <= self.ttl_ms => {
                *t = now_ms;
                true
            }
            _ => false,
        }
    }

    /// True when `addr` is verified and not expired at `now_ms`.
    pub fn contains(&self, addr: &SocketAddr, now_ms: u64) -> bool {
        self.last_heard
            .get(addr)
            .is_some_and(|t| now_ms.saturating_sub(*t) <= self.ttl_ms)
    }

    /// Forgets `addr`.
    pub fn remove(&mut self, addr: &SocketAddr) {
        self.last_heard.remove(addr);
    }

    /// Drops every address silent for longer than the time-to-live.
    pub fn expire(&mut self, now_ms: u64) {
        let ttl = self.ttl_ms;
        self.last_heard
            .retain(|_, t| now_ms.saturating_sub(*t) <= ttl);
    }

    /// Number of addresses held.
    pub fn len(&self) -> usize {
        self.last_heard.len()
    }

    /// True when no address is held.
    pub fn is_empty(&self) -> bool {
        self.last_heard.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn token_checks_for_its_address_and_two_windows_only() {
        let m = TokenMinter::new([9; 32]);
        let t = m.token(&addr(1), 100_000);
        assert_eq!(t.len(), TOKEN_HEX_LEN);
        assert!(m.check(&addr(1), &t, 100_000));
        assert!(m.check(&addr(1), &t.to_uppercase(), 100_000 + TOKEN_WINDOW_MS));
        assert!(!m.check(&addr(1), &t, 100_000 + 2 * TOKEN_WINDOW_MS));
        assert!(!m.check(&addr(2), &t, 100_000));
        assert!(!TokenMinter::new([8; 32]).check(&addr(1), &t, 100_000));
    }

    #[test]
    fn verified_set_expires_and_caps() {
        let mut s = VerifiedSet::new(2, 1_000);
        s.insert(addr(1), 0);
        s.insert(addr(2), 10);
        assert!(s.touch(&addr(1), 500));
        s.insert(addr(3), 600);
        assert_eq!(s.len(), 2);
        assert!(
            !s.contains(&addr(2), 600),
            "least recently heard is evicted"
        );
        assert!(s.contains(&addr(1), 600) && s.contains(&addr(3), 600));
        assert!(!s.touch(&addr(1), 1_501 + 500));
        s.expire(5_000);
        assert!(s.is_empty());
    }
}
