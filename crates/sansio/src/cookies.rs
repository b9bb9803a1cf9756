//! Address cookies, the anti-amplification rule's machinery (PROTOCOL.md,
//! "Anti-amplification and address cookies"). Every node mints, for every address it talks to,
//! a *cookie*: a keyed hash of the address and the current time window, which it can recheck
//! without storing anything. It hands the cookie out in the envelope of every datagram it sends
//! to that address (and as the token of a CHALLENGE). A datagram that echoes our cookie for its
//! source address proves that its sender receives what we send to that address *now*: only such
//! datagrams may earn large replies, strikes, membership changes or a say in sync. A verified
//! address alone proves nothing, since datagrams "from" it can be forged; the proof travels in
//! each datagram. Time and the secret come in as arguments: this is pure logic.

use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use votechain_proto::{Cookie, Envelope};

/// How long one cookie window lasts; a cookie is accepted in its own window and the next, so
/// for 5 to 10 minutes: long enough that peers exchanging a datagram every few minutes never
/// see their cookies lapse, short enough that a leaked one soon stops working.
pub const TOKEN_WINDOW_MS: u64 = 300_000;

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

#[cfg(test)]
mod tests {
    use super::*;
    use votechain_proto::limits::TOKEN_HEX_LEN;

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
}
