//! Address verification, the anti-amplification rule's machinery (PROTOCOL.md,
//! "Anti-amplification and address cookies"). Every node mints, for every address it talks to,
//! a *cookie*: a keyed hash of the address and the current time window, which it can recheck
//! without storing anything. It hands the cookie out in the envelope of every datagram it sends
//! to that address (and as the token of a CHALLENGE). A datagram that echoes our cookie for its
//! source address proves that its sender receives what we send to that address *now*: only such
//! datagrams may earn large replies, strikes, membership changes or a say in sync. A verified
//! address alone proves nothing, since datagrams "from" it can be forged; the proof travels in
//! each datagram. Time and the secret come in as arguments: this is pure logic.

use crate::limits::TOKEN_HEX_LEN;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;

/// How long one cookie window lasts; a cookie is accepted in its own window and the next, so
/// for 5 to 10 minutes: long enough that peers exchanging a datagram every few minutes never
/// see their cookies lapse, short enough that a leaked one soon stops working.
pub const TOKEN_WINDOW_MS: u64 = 300_000;

/// One address cookie: 16 bytes, written as 32 lowercase hex characters on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cookie(pub [u8; 16]);

impl Cookie {
    /// Parses 32 hex characters (either case); `None` for anything else.
    pub fn parse(hex_text: &str) -> Option<Cookie> {
        if hex_text.len() != TOKEN_HEX_LEN {
            return None;
        }
        let mut bytes = [0u8; 16];
        hex::decode_to_slice(hex_text, &mut bytes).ok()?;
        Some(Cookie(bytes))
    }

    /// The wire form: 32 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Display for Cookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Envelope {
    /// The envelope of a request answering a CHALLENGE: it echoes the CHALLENGE's token (the
    /// challenger's cookie for us). A token of the wrong shape gives an empty envelope.
    pub fn echoing(token: &str) -> Envelope {
        Envelope {
            cookie: None,
            echo: Cookie::parse(token),
        }
    }
}

/// The address cookies a datagram carries beside its message (PROTOCOL.md, "Address
/// cookies"): top-level keys of the JSON object, ignored by decoders that do not know them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Envelope {
    /// The sender's cookie for the receiver's address. The receiver echoes it in its answers
    /// and later datagrams, which proves to the sender where they come from.
    pub cookie: Option<Cookie>,
    /// The receiver's cookie for the sender's address, as the sender last received it: proof
    /// that the sender receives datagrams at the address it sends from.
    pub echo: Option<Cookie>,
}

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

    fn cookie_for_window(&self, addr: &SocketAddr, window: u64) -> Cookie {
        let mut h = Sha256::new();
        h.update(b"votechain/token/v1\0");
        h.update(self.secret);
        h.update(addr.to_string().as_bytes());
        h.update(window.to_be_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&h.finalize()[..16]);
        Cookie(out)
    }

    /// Our cookie for `addr` at `now_ms`.
    pub fn cookie(&self, addr: &SocketAddr, now_ms: u64) -> Cookie {
        self.cookie_for_window(addr, now_ms / TOKEN_WINDOW_MS)
    }

    /// True when `cookie` is one this minter gave `addr` in the current or the previous window.
    pub fn check_cookie(&self, addr: &SocketAddr, cookie: &Cookie, now_ms: u64) -> bool {
        let window = now_ms / TOKEN_WINDOW_MS;
        *cookie == self.cookie_for_window(addr, window)
            || (window > 0 && *cookie == self.cookie_for_window(addr, window - 1))
    }

    /// True when `envelope` echoes our cookie for `from`: the datagram's sender receives what we
    /// send to `from`.
    pub fn proves(&self, from: &SocketAddr, envelope: &Envelope, now_ms: u64) -> bool {
        envelope
            .echo
            .is_some_and(|echo| self.check_cookie(from, &echo, now_ms))
    }

    /// The token to send to `addr` at `now_ms` in a CHALLENGE: our cookie, as hex.
    pub fn token(&self, addr: &SocketAddr, now_ms: u64) -> String {
        self.cookie(addr, now_ms).to_hex()
    }

    /// True when `token` is one this minter gave `addr` in the current or the previous window.
    pub fn check(&self, addr: &SocketAddr, token: &str, now_ms: u64) -> bool {
        Cookie::parse(token).is_some_and(|c| self.check_cookie(addr, &c, now_ms))
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
