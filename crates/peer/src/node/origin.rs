//! Proof of origin, the node's side (PROTOCOL.md, "Address cookies"): which datagrams prove
//! where they come from, the cookies others gave us (echoed in what we send them), and the
//! requests kept for resending when their receiver CHALLENGEs us. A sub-state machine of
//! [`super::Node`]: no IO, time passed in.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use votechain_proto::{Cookie, Envelope, Message};
use votechain_sansio::TokenMinter;

/// Requests remembered per address so they can be resent right after answering its CHALLENGE.
const RESEND_PER_ADDR: usize = 4;
/// Challenges answered per address since our last new request to it: bounded so that a
/// spoofed CHALLENGE stream cannot keep us resending.
const CHALLENGES_PER_REQUEST: u8 = 3;
/// How long a request stays resendable.
const RESEND_TTL_MS: u64 = 10_000;

/// Requests recently sent to one address, for resending after its CHALLENGE.
#[derive(Debug, Default)]
struct Resend {
    /// When each was sent, and its encoding without envelope (a resend carries fresh cookies).
    requests: VecDeque<(u64, Vec<u8>)>,
    /// CHALLENGEs answered with a resend since the last new request.
    challenges_answered: u8,
}

/// Our address cookies, theirs, and the requests a CHALLENGE makes us resend.
#[derive(Debug)]
pub(super) struct Origin {
    /// Mints and checks our address cookies.
    minter: TokenMinter,
    /// The cookie each address last gave us in a proven datagram: echoed in what we send it.
    their_cookies: HashMap<SocketAddr, Cookie>,
    /// Requests recently sent, per address.
    resend: HashMap<SocketAddr, Resend>,
    /// Most addresses either map holds.
    cap: usize,
}

impl Origin {
    /// Keyed with `secret`; each map holds at most `cap` addresses.
    pub(super) fn new(secret: [u8; 32], cap: usize) -> Origin {
        Origin {
            minter: TokenMinter::new(secret),
            their_cookies: HashMap::new(),
            resend: HashMap::new(),
            cap,
        }
    }

    /// True when a datagram from `from` proves its origin: its envelope echoes our cookie, or
    /// it is a VERIFY whose token is our cookie.
    pub(super) fn proves(
        &self,
        from: &SocketAddr,
        envelope: &Envelope,
        message: &Message,
        now_ms: u64,
    ) -> bool {
        self.minter.proves(from, envelope, now_ms)
            || matches!(message, Message::Verify(v) if self.minter.check(from, &v.token, now_ms))
    }

    /// Keeps the cookie `addr` gave us in a proven datagram, to echo in what we send it. When
    /// the map is full, only addresses for which `keep` holds (our peers, the tracker) stay, and
    /// a new address gets a slot only if that made room.
    pub(super) fn remember_cookie(
        &mut self,
        addr: SocketAddr,
        cookie: Cookie,
        keep: impl Fn(&SocketAddr) -> bool,
    ) {
        if self.their_cookies.len() >= self.cap && !self.their_cookies.contains_key(&addr) {
            self.their_cookies.retain(|a, _| keep(a));
            if self.their_cookies.len() >= self.cap {
                return;
            }
        }
        self.their_cookies.insert(addr, cookie);
    }

    /// The envelope of a datagram to `to`: our cookie for it, and its cookie for us — the one
    /// the datagram being answered carried (`answering`), or else the last one it gave us in a
    /// proven datagram.
    pub(super) fn envelope(
        &self,
        to: &SocketAddr,
        answering: Option<(SocketAddr, Cookie)>,
        now_ms: u64,
    ) -> Envelope {
        let echo = match answering {
            Some((from, cookie)) if from == *to => Some(cookie),
            _ => self.their_cookies.get(to).copied(),
        };
        Envelope {
            cookie: Some(self.minter.cookie(to, now_ms)),
            echo,
        }
    }

    /// The token of a CHALLENGE to `to`: our cookie for it.
    pub(super) fn token(&self, to: &SocketAddr, now_ms: u64) -> String {
        self.minter.token(to, now_ms)
    }

    /// Our cookie for `to` (tests build proven datagrams with it).
    #[cfg(test)]
    pub(super) fn cookie(&self, to: &SocketAddr, now_ms: u64) -> Cookie {
        self.minter.cookie(to, now_ms)
    }

    /// Remembers a request sent to `to` (encoded without envelope), for resending after a
    /// CHALLENGE; a new request renews the challenges `to` may make us answer.
    pub(super) fn sent_request(&mut self, to: SocketAddr, now_ms: u64, body: &[u8]) {
        if self.resend.len() >= self.cap && !self.resend.contains_key(&to) {
            return;
        }
        let r = self.resend.entry(to).or_default();
        if r.requests.len() >= RESEND_PER_ADDR {
            r.requests.pop_front();
        }
        r.requests.push_back((now_ms, body.to_vec()));
        r.challenges_answered = 0;
    }

    /// What to resend to `from`, which CHALLENGEd us: our recent requests to it, unless it has
    /// challenged us too often since the last one.
    pub(super) fn resends(&mut self, from: &SocketAddr) -> Vec<Vec<u8>> {
        match self.resend.get_mut(from) {
            Some(r) if r.challenges_answered < CHALLENGES_PER_REQUEST => {
                r.challenges_answered += 1;
                r.requests.iter().map(|(_, body)| body.clone()).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Forgets requests too old to resend.
    pub(super) fn sweep(&mut self, now_ms: u64) {
        self.resend.retain(|_, r| {
            r.requests
                .retain(|(t, _)| now_ms.saturating_sub(*t) <= RESEND_TTL_MS);
            !r.requests.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use votechain_proto::{Stats, Verify};

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn only_an_echo_of_our_cookie_for_the_source_proves_it() {
        let o = Origin::new([3; 32], 8);
        let stats: Message = Stats {}.into();
        let echo = |c| Envelope {
            cookie: None,
            echo: Some(c),
        };
        let ours = o.cookie(&addr(1), 1_000);
        assert!(o.proves(&addr(1), &echo(ours), &stats, 1_000));
        assert!(!o.proves(&addr(2), &echo(ours), &stats, 1_000));
        assert!(!o.proves(&addr(1), &Envelope::default(), &stats, 1_000));
        let verify: Message = Verify {
            token: o.token(&addr(1), 1_000),
        }
        .into();
        assert!(o.proves(&addr(1), &Envelope::default(), &verify, 1_000));
        assert!(!o.proves(&addr(2), &Envelope::default(), &verify, 1_000));
    }

    #[test]
    fn the_answered_datagrams_cookie_wins_over_the_remembered_one() {
        let mut o = Origin::new([3; 32], 8);
        let (old, new) = (Cookie([1; 16]), Cookie([2; 16]));
        o.remember_cookie(addr(1), old, |_| true);
        assert_eq!(o.envelope(&addr(1), None, 0).echo, Some(old));
        assert_eq!(
            o.envelope(&addr(1), Some((addr(1), new)), 0).echo,
            Some(new)
        );
        // Answering someone else does not leak their cookie to us.
        assert_eq!(
            o.envelope(&addr(1), Some((addr(2), new)), 0).echo,
            Some(old)
        );
        assert_eq!(o.envelope(&addr(3), None, 0).echo, None);
    }

    #[test]
    fn a_full_cookie_map_keeps_only_what_the_caller_vouches_for() {
        let mut o = Origin::new([3; 32], 2);
        o.remember_cookie(addr(1), Cookie([1; 16]), |_| true);
        o.remember_cookie(addr(2), Cookie([2; 16]), |_| true);
        o.remember_cookie(addr(3), Cookie([3; 16]), |a| *a == addr(1));
        assert!(o.their_cookies.contains_key(&addr(1)));
        assert!(!o.their_cookies.contains_key(&addr(2)));
        assert!(o.their_cookies.contains_key(&addr(3)));
        // Full of vouched-for addresses: a newcomer gets no slot.
        o.remember_cookie(addr(4), Cookie([4; 16]), |_| true);
        assert!(!o.their_cookies.contains_key(&addr(4)));
    }

    #[test]
    fn challenges_resend_recent_requests_a_bounded_number_of_times() {
        let mut o = Origin::new([3; 32], 8);
        for i in 0..6u8 {
            o.sent_request(addr(1), 1_000, &[i]);
        }
        let expected: Vec<Vec<u8>> = (2..6u8).map(|i| vec![i]).collect();
        for _ in 0..CHALLENGES_PER_REQUEST {
            assert_eq!(o.resends(&addr(1)), expected);
        }
        assert!(o.resends(&addr(1)).is_empty());
        // A new request renews the allowance.
        o.sent_request(addr(1), 1_000, &[9]);
        assert_eq!(o.resends(&addr(1)).len(), RESEND_PER_ADDR);
        assert!(o.resends(&addr(2)).is_empty());
        o.sweep(1_000 + RESEND_TTL_MS + 1);
        assert!(o.resends(&addr(1)).is_empty());
    }
}
