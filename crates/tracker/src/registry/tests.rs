//! Registry tests on a fake clock: every protocol rule of the module docs, driven through
//! `handle_*` and observed through `poll_*` only, with a seeded RNG.

use super::*;
use rand::{Rng, SeedableRng};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use votechain_proto::limits::unverified_reply_budget;
use votechain_proto::{decode, encode};
use votechain_proto::{
    with_envelope, Envelope, LeavePeer, NewBlock, PokeAck, RegisterPeer, RequestBallot, Verify,
};

const HEARTBEAT: u64 = 1_000;

fn addr(n: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, (n >> 8) as u8, n as u8], 7000 + n))
}

fn wire(message: impl Into<Message>) -> Vec<u8> {
    encode(&message.into()).expect("test messages encode")
}

/// The cookie member `from` hands the registry (any fixed value per address will do).
fn member_cookie(from: SocketAddr) -> Cookie {
    let mut bytes = [0u8; 16];
    bytes[..2].copy_from_slice(&from.port().to_be_bytes());
    Cookie(bytes)
}

fn config() -> Config {
    Config::demo()
}

/// A registry, a fake clock, and everything it sent, decoded.
struct Harness {
    reg: Registry<StdRng>,
    now: u64,
    /// Every datagram sent since the last `take`, decoded, with its size.
    sent: Vec<(SocketAddr, Message, usize)>,
    events: Vec<Event>,
}

impl Harness {
    fn new(config: Config) -> Harness {
        Harness {
            reg: Registry::new(config, StdRng::seed_from_u64(4)).expect("valid config"),
            now: 0,
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    fn drain(&mut self) -> Vec<(SocketAddr, Message, usize)> {
        let mut out = Vec::new();
        while let Some(output) = self.reg.poll_output() {
            match output {
                Output::Send(t) => {
                    let message = decode(&t.bytes).expect("the registry sends valid datagrams");
                    out.push((t.to, message, t.bytes.len()));
                }
                Output::Event(e) => self.events.push(e),
                Output::Persist(never) | Output::Mine(Some(never)) => match never {},
                Output::Mine(None) => panic!("the tracker does not mine"),
            }
        }
        self.sent.extend(out.iter().cloned());
        out
    }

    /// Delivers `bytes` from `from` now; returns what the registry sent in answer.
    fn recv_raw(&mut self, from: SocketAddr, bytes: &[u8]) -> Vec<(SocketAddr, Message, usize)> {
        self.reg.handle_datagram(self.now, from, bytes);
        self.drain()
    }

    fn recv(
        &mut self,
        from: SocketAddr,
        message: impl Into<Message>,
    ) -> Vec<(SocketAddr, Message, usize)> {
        self.recv_raw(from, &wire(message))
    }

    /// Runs every timer up to and including `t`.
    fn advance_to(&mut self, t: u64) {
        while let Some(due) = self.reg.poll_timeout() {
            if due > t {
                break;
            }
            self.now = self.now.max(due);
            self.reg.handle_timeout(self.now);
            self.drain();
        }
        self.now = t;
    }

    /// `message` from `from`, echoing the registry's cookie for it: it proves its origin.
    fn recv_proven(
        &mut self,
        from: SocketAddr,
        message: impl Into<Message>,
    ) -> Vec<(SocketAddr, Message, usize)> {
        let envelope = Envelope {
            cookie: Some(member_cookie(from)),
            echo: Some(self.reg.minter.cookie(&from, self.now)),
        };
        self.recv_raw(from, &with_envelope(&wire(message), &envelope))
    }

    /// The REGISTER_PEER → CHALLENGE → REGISTER_PEER echoing its token dance; returns the
    /// REGISTER_ACK's list.
    fn register(&mut self, from: SocketAddr) -> Vec<SocketAddr> {
        let reply = self.recv(from, RegisterPeer::default());
        let [(to, Message::Challenge(c), _)] = reply.as_slice() else {
            panic!("expected one CHALLENGE, got {reply:?}");
        };
        assert_eq!(*to, from);
        let envelope = Envelope {
            cookie: Some(member_cookie(from)),
            echo: Cookie::parse(&c.token),
        };
        let answer = with_envelope(&wire(RegisterPeer::default()), &envelope);
        let reply = self.recv_raw(from, &answer);
        let ack = reply.iter().find_map(|(to, m, _)| match m {
            Message::RegisterAck(a) if *to == from => Some(a.peer_list.clone()),
            _ => None,
        });
        ack.unwrap_or_else(|| panic!("expected REGISTER_ACK, got {reply:?}"))
    }

    /// Nonces of POKEs sent to `to` so far, oldest first.
    fn pokes_to(&self, to: SocketAddr) -> Vec<u64> {
        self.sent
            .iter()
            .filter_map(|(a, m, _)| match m {
                Message::Poke(p) if *a == to => p.nonce,
                _ => None,
            })
            .collect()
    }

    /// UPDATE_PEERS lists sent to `to` so far, oldest first.
    fn updates_to(&self, to: SocketAddr) -> Vec<Vec<SocketAddr>> {
        self.sent
            .iter()
            .filter_map(|(a, m, _)| match m {
                Message::UpdatePeers(u) if *a == to => Some(u.peer_list.clone()),
                _ => None,
            })
            .collect()
    }

    /// Answers the latest POKE to `from` correctly.
    fn ack_latest(&mut self, from: SocketAddr) {
        let nonce = *self.pokes_to(from).last().expect("a POKE to answer");
        self.recv(from, PokeAck { nonce: Some(nonce) });
    }

    /// Runs heartbeats up to `t`, with `alive` answering every POKE as it arrives.
    fn run_with_alive(&mut self, t: u64, alive: &[SocketAddr]) {
        while let Some(due) = self.reg.poll_timeout() {
            if due > t {
                break;
            }
            self.now = self.now.max(due);
            self.reg.handle_timeout(self.now);
            for (to, m, _) in self.drain() {
                if let Message::Poke(p) = m {
                    if alive.contains(&to) {
                        self.recv(to, PokeAck { nonce: p.nonce });
                    }
                }
            }
        }
        self.now = t;
    }

    fn evicted(&self) -> Vec<SocketAddr> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Evicted { addr, .. } => Some(*addr),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn registration_takes_a_verified_address() {
    let mut h = Harness::new(config());
    let a = addr(1);
    let list = h.register(a);
    assert_eq!(list, vec![a], "the new peer is in its own list");
    assert!(h.reg.is_registered(&a));
    assert_eq!(h.reg.n_peers(), 1);
    assert!(matches!(&h.events[..], [Event::Joined { addr, n_peers: 1, .. }] if *addr == a));
    // A repeated REGISTER_PEER (lost ACK) gets the list again and registers nothing new; a
    // forged one (no echo of our cookie) gets only a CHALLENGE, within the budget (attack 12).
    let reply = h.recv_proven(a, RegisterPeer::default());
    assert!(matches!(&reply[..], [(to, Message::RegisterAck(_), _)] if *to == a));
    let forged = wire(RegisterPeer::default());
    let reply = h.recv_raw(a, &forged);
    assert!(
        matches!(&reply[..], [(_, Message::Challenge(_), len)] if *len <= unverified_reply_budget(forged.len()))
    );
    assert_eq!(h.reg.stats().joined, 1);
}

#[test]
fn the_ack_tells_a_peer_the_address_it_is_listed_under() {
    let mut h = Harness::new(config());
    let a = addr(1);
    h.register(a);
    let reply = h.recv_proven(a, RegisterPeer::default());
    assert!(
        matches!(&reply[..], [(_, Message::RegisterAck(ack), _)] if ack.observed == Some(a)),
        "{reply:?}"
    );
}

#[test]
fn a_peer_of_another_election_is_refused_with_the_reason() {
    let mut h = Harness::new(config());
    let ours = h.reg.election();
    let theirs = Hash([7; 32]);
    let (a, b) = (addr(1), addr(2));
    let named = |election| RegisterPeer {
        name: Some("p".into()),
        election: Some(election),
    };
    // Unproven: a CHALLENGE, as for anyone; proven: refused, not registered, told why.
    let reply = h.recv(a, named(theirs));
    assert!(
        matches!(&reply[..], [(_, Message::Challenge(_), _)]),
        "{reply:?}"
    );
    let reply = h.recv_proven(a, named(theirs));
    let [(to, Message::RegisterRefused(r), _)] = &reply[..] else {
        panic!("expected REGISTER_REFUSED, got {reply:?}");
    };
    assert_eq!(
        (*to, r.election, r.title.as_str()),
        (a, ours, "Demo election")
    );
    assert!(
        r.reason.contains("not the election 070707070707"),
        "{}",
        r.reason
    );
    assert!(!h.reg.is_registered(&a));
    assert!(
        matches!(&h.events[..], [Event::OtherElection { addr, theirs: t, .. }] if *addr == a && *t == theirs)
    );
    // A peer naming our election registers; a member that comes back naming another is removed.
    let reply = h.recv_proven(b, named(ours));
    assert!(
        matches!(&reply[..], [(_, Message::RegisterAck(_), _), ..]),
        "{reply:?}"
    );
    assert!(h.reg.is_registered(&b));
    h.recv_proven(b, named(theirs));
    assert!(!h.reg.is_registered(&b));
    assert_eq!(h.reg.stats().refused_election, 2);
}

#[test]
fn spoofed_registration_never_completes() {
    let mut h = Harness::new(config());
    let victim = addr(1);
    let attacker = addr(2);
    // The attacker sends from the victim's address but sees nothing sent to it. It can get a
    // token for its own address and try it, or guess.
    let own = h.recv(attacker, RegisterPeer::default());
    let [(_, Message::Challenge(own_token), _)] = own.as_slice() else {
        panic!("attacker's own CHALLENGE: {own:?}");
    };
    let own_token = own_token.token.clone();
    for attempt in 0..20u32 {
        h.now += 100;
        h.recv(victim, RegisterPeer::default());
        let guess = match attempt {
            0 => own_token.clone(),
            n => format!("{n:032x}"),
        };
        h.recv(victim, Verify { token: guess });
        h.recv(victim, RegisterPeer::default());
        h.recv(victim, RequestBallot {});
    }
    assert!(!h.reg.is_registered(&victim));
    assert_eq!(h.reg.n_peers(), 0);
    assert_eq!(h.reg.stats().bad_tokens, 20);
    let to_victim: Vec<_> = h.sent.iter().filter(|(a, _, _)| *a == victim).collect();
    assert!(!to_victim.is_empty());
    assert!(
        to_victim
            .iter()
            .all(|(_, m, _)| matches!(m, Message::Challenge(_))),
        "the spoofed address only ever got CHALLENGEs: {to_victim:?}"
    );
    assert!(h.events.is_empty());
}

#[test]
fn evicted_exactly_after_three_missed_heartbeats() {
    let mut h = Harness::new(config());
    let (dead, alive) = (addr(1), addr(2));
    h.register(dead);
    h.register(alive);
    h.advance_to(1);
    // POKEs at 1000, 2000 and 3000 go unanswered by `dead`.
    h.run_with_alive(3 * HEARTBEAT + 999, &[alive]);
    assert_eq!(h.pokes_to(dead).len(), 3);
    assert!(
        h.reg.is_registered(&dead),
        "two misses counted so far, the third at 4000"
    );
    assert!(h.evicted().is_empty());
    h.run_with_alive(4 * HEARTBEAT, &[alive]);
    assert!(!h.reg.is_registered(&dead));
    assert_eq!(h.evicted(), vec![dead]);
    assert!(matches!(
        h.events.last(),
        Some(Event::Evicted {
            missed: 3,
            n_peers: 1,
            ..
        })
    ));
    assert_eq!(
        h.pokes_to(dead).len(),
        3,
        "no fourth POKE to an evicted peer"
    );
    // The eviction is announced to the survivor.
    assert_eq!(h.updates_to(alive).last(), Some(&vec![alive]));
    assert!(h.reg.is_registered(&alive));
}

#[test]
fn echoed_nonce_resets_the_count_and_a_wrong_or_absent_one_does_not() {
    let mut h = Harness::new(config());
    let (good, wrong, absent, elsewhere) = (addr(1), addr(2), addr(3), addr(4));
    for a in [good, wrong, absent] {
        h.register(a);
    }
    // POKEs at 1000, 2000, 3000: two misses counted, the third POKE outstanding. Now `good`
    // echoes its latest nonce, `wrong` sends another number, `absent` sends seed A's
    // nonce-less POKE-ACK, and a third party echoes `absent`'s nonce from its own address.
    h.advance_to(3 * HEARTBEAT);
    h.ack_latest(good);
    let latest = *h.pokes_to(wrong).last().unwrap();
    h.recv(
        wrong,
        PokeAck {
            nonce: Some(latest.wrapping_add(1)),
        },
    );
    h.recv_raw(absent, br#"{"type": "POKE-ACK"}"#);
    let absent_nonce = *h.pokes_to(absent).last().unwrap();
    h.recv(
        elsewhere,
        PokeAck {
            nonce: Some(absent_nonce),
        },
    );
    h.advance_to(4 * HEARTBEAT - 1);
    assert!(h.evicted().is_empty());
    h.advance_to(4 * HEARTBEAT);
    let mut evicted = h.evicted();
    evicted.sort();
    assert_eq!(
        evicted,
        vec![wrong, absent],
        "evicted at the third miss regardless"
    );
    assert!(
        h.reg.is_registered(&good),
        "the streak was broken by the echo"
    );
    let s = h.reg.stats();
    assert_eq!((s.poke_acks_ok, s.poke_acks_wrong_nonce), (1, 1));
    assert_eq!((s.poke_acks_no_nonce, s.poke_acks_unknown), (1, 1));
    // From its echo on, `good` again needs three misses (POKEs at 4000, 5000, 6000).
    h.advance_to(7 * HEARTBEAT - 1);
    assert!(h.reg.is_registered(&good));
    h.advance_to(7 * HEARTBEAT);
    assert!(!h.reg.is_registered(&good));
}

#[test]
fn a_late_answer_to_the_previous_poke_breaks_the_streak() {
    let mut h = Harness::new(config());
    let slow = addr(1);
    h.register(slow);
    // Every answer arrives just after the next POKE went out, echoing the previous nonce.
    for tick in 1..=10u64 {
        h.advance_to(tick * HEARTBEAT + 10);
        let pokes = h.pokes_to(slow);
        if pokes.len() >= 2 {
            let previous = pokes[pokes.len() - 2];
            h.recv(
                slow,
                PokeAck {
                    nonce: Some(previous),
                },
            );
        }
    }
    assert!(
        h.reg.is_registered(&slow),
        "RTT over one interval is slow, not dead"
    );
}

#[test]
fn leave_peer_counts_only_from_the_registered_address() {
    let mut h = Harness::new(config());
    let (a, b, stranger) = (addr(1), addr(2), addr(3));
    h.register(a);
    h.register(b);
    h.run_with_alive(HEARTBEAT + 1, &[a, b]);
    let updates_to_a = h.updates_to(a).len();
    assert!(h.recv_proven(stranger, LeavePeer {}).is_empty());
    assert_eq!(h.reg.stats().leave_ignored, 1);
    // Attack 12: a LEAVE_PEER forged "from" a member (no echo of our cookie) removes nobody.
    assert!(h.recv(a, LeavePeer {}).is_empty());
    assert_eq!(h.reg.stats().leave_ignored, 2);
    assert_eq!(h.reg.n_peers(), 2);
    h.recv_proven(a, LeavePeer {});
    assert!(!h.reg.is_registered(&a));
    assert!(matches!(
        h.events.last(),
        Some(Event::Left { n_peers: 1, .. })
    ));
    // Announced in the next round (the previous one was at 1000, so at 2000 at the latest).
    h.run_with_alive(2 * HEARTBEAT, &[b]);
    assert_eq!(h.updates_to(b).last(), Some(&vec![b]));
    assert_eq!(
        h.updates_to(a).len(),
        updates_to_a,
        "no announcement to a peer that left"
    );
}

#[test]
fn update_peers_is_coalesced_to_one_round_per_interval() {
    let mut h = Harness::new(config());
    let peers: Vec<_> = (1..=4).map(addr).collect();
    h.register(peers[0]);
    assert_eq!(
        h.reg.stats().update_rounds,
        1,
        "the first change is announced at once"
    );
    for (i, &p) in peers[1..].iter().enumerate() {
        h.advance_to(100 * (i as u64 + 1));
        h.register(p);
    }
    assert_eq!(
        h.reg.stats().update_rounds,
        1,
        "later changes wait for the interval"
    );
    h.run_with_alive(HEARTBEAT, &peers);
    assert_eq!(h.reg.stats().update_rounds, 2);
    let mut everyone = peers.clone();
    everyone.sort();
    for &p in &peers {
        let updates = h.updates_to(p);
        let mut last = updates.last().cloned().unwrap_or_default();
        last.sort();
        assert_eq!(last, everyone, "{p} sees every member");
        assert!(updates.len() <= 2);
    }
    // No change, no round.
    h.run_with_alive(5 * HEARTBEAT, &peers);
    assert_eq!(h.reg.stats().update_rounds, 2);
}

#[test]
fn registrations_beyond_the_cap_are_refused() {
    let mut c = config();
    c.max_peers = 2;
    let mut h = Harness::new(c);
    h.register(addr(1));
    h.register(addr(2));
    let third = addr(3);
    let challenge = h.recv(third, RegisterPeer::default());
    let [(_, Message::Challenge(ch), _)] = challenge.as_slice() else {
        panic!("{challenge:?}");
    };
    let answer = with_envelope(
        &wire(RegisterPeer::default()),
        &Envelope::echoing(&ch.token),
    );
    assert!(h.recv_raw(third, &answer).is_empty());
    assert!(!h.reg.is_registered(&third));
    assert_eq!(h.reg.stats().refused_full, 1);
    assert!(matches!(
        h.events.last(),
        Some(Event::Refused { max_peers: 2, .. })
    ));
    h.recv_proven(addr(1), LeavePeer {});
    let reply = h.recv_raw(third, &answer);
    assert!(
        matches!(&reply[0], (_, Message::RegisterAck(_), _)),
        "{reply:?}"
    );
}

#[test]
fn a_flooding_source_is_rate_limited_and_others_are_not() {
    let mut h = Harness::new(config());
    let flooder = addr(1);
    let replies: usize = (0..100)
        .map(|_| h.recv(flooder, RegisterPeer::default()).len())
        .sum();
    let burst = config().rate_burst as usize;
    assert_eq!(replies, burst);
    assert_eq!(h.reg.stats().rate_limited, (100 - burst) as u64);
    assert_eq!(h.recv(addr(2), RegisterPeer::default()).len(), 1);
    // Refill: `rate_per_s` per second.
    h.now += 1_000;
    let replies: usize = (0..100)
        .map(|_| h.recv(flooder, RegisterPeer::default()).len())
        .sum();
    assert_eq!(replies, config().rate_per_s as usize);
}

#[test]
fn a_flood_spoofing_a_member_cannot_get_it_evicted() {
    let mut h = Harness::new(config());
    let member = addr(1);
    h.register(member);
    for tick in 1..=10u64 {
        h.advance_to(tick * HEARTBEAT + 10);
        // A spoofer floods from the member's address, draining its bucket…
        for _ in 0..200 {
            h.recv(member, RegisterPeer::default());
            h.recv(member, PokeAck { nonce: Some(tick) });
        }
        // …yet the member's own echo still counts.
        h.ack_latest(member);
    }
    assert!(h.reg.is_registered(&member));
    assert!(h.reg.stats().rate_limited > 1_000);
}

#[test]
fn the_source_table_is_capped() {
    let mut c = config();
    c.max_sources = 4;
    let mut h = Harness::new(c);
    for n in 1..=4 {
        assert_eq!(h.recv(addr(n), RegisterPeer::default()).len(), 1);
    }
    assert!(h.recv(addr(5), RegisterPeer::default()).is_empty());
    assert_eq!(h.reg.stats().source_table_full, 1);
    // Once the early sources are idle long enough to be forgotten, new ones get in.
    h.now += 1_000;
    assert_eq!(h.recv(addr(5), RegisterPeer::default()).len(), 1);
}

/// Datagrams a hostile or broken sender may send: one per decoding failure of
/// seed-protocols.md and then some.
fn hostile_datagrams() -> Vec<(&'static str, Vec<u8>)> {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    vec![
        ("empty", vec![]),
        ("too_large", vec![b' '; 65_508]),
        ("oversized", {
            let name = "x".repeat(2_000);
            format!(r#"{{"type":"REGISTER_PEER","pad":"{name}"}}"#).into_bytes()
        }),
        ("not_utf8", vec![b'{', 0xff, 0xfe, b'}']),
        ("too_deep", deep.into_bytes()),
        ("not_json", b"{\"type\":".to_vec()),
        ("not_json", br#"{"type":"POKE_ACK","nonce":1e400}"#.to_vec()),
        (
            "out_of_range",
            br#"{"type":"POKE_ACK","nonce":99999999999999999999999}"#.to_vec(),
        ),
        (
            "out_of_range",
            br#"{"type":"POKE_ACK","nonce":-1}"#.to_vec(),
        ),
        ("not_object", b"[1,2,3]".to_vec()),
        ("missing_type", br#"{"nonce":1}"#.to_vec()),
        ("type_not_string", br#"{"type":7}"#.to_vec()),
        ("unknown_type", br#"{"type":"HELLO"}"#.to_vec()),
        ("missing_field", br#"{"type":"GET_BLOCK"}"#.to_vec()),
        (
            "missing_field",
            br#"{"type":"GOSSIP","host":"1.2.3.4","port":1,"name":"x"}"#.to_vec(),
        ),
        ("missing_field", br#"{"type":"VERIFY"}"#.to_vec()),
        ("wrong_type", br#"{"type":"POKE_ACK","nonce":"x"}"#.to_vec()),
        (
            "out_of_range",
            format!(r#"{{"type":"REGISTER_PEER","name":"{}"}}"#, "n".repeat(65)).into_bytes(),
        ),
        (
            "out_of_range",
            br#"{"type":"VERIFY","token":"short"}"#.to_vec(),
        ),
    ]
}

#[test]
fn undecodable_and_unhandled_datagrams_are_counted_and_dropped() {
    let mut h = Harness::new(config());
    let member = addr(9);
    h.register(member);
    let before = h.sent.len();
    let mut expected: HashMap<&str, u64> = HashMap::new();
    for (i, (kind, bytes)) in hostile_datagrams().into_iter().enumerate() {
        assert!(
            h.recv_raw(addr(100 + i as u16), &bytes).is_empty(),
            "{kind} got a reply"
        );
        *expected.entry(kind).or_default() += 1;
    }
    let counted: HashMap<&str, u64> = h
        .reg
        .stats()
        .decode_errors
        .iter()
        .map(|(k, v)| (*k, *v))
        .collect();
    assert_eq!(counted, expected);
    // Valid messages the tracker has no use for.
    let genesis = Block::genesis(h.reg.ballot()).unwrap();
    h.recv(member, NewBlock { block: genesis });
    h.recv_raw(member, br#"{"type":"STATS"}"#);
    h.recv_raw(member, br#"{"type":"POKE","nonce":5}"#);
    let unhandled = &h.reg.stats().unhandled;
    assert_eq!(unhandled.get("NEW_BLOCK"), Some(&1));
    assert_eq!(unhandled.get("STATS"), Some(&1));
    assert_eq!(unhandled.get("POKE"), Some(&1));
    assert_eq!(h.sent.len(), before, "nothing was answered");
    assert!(h.reg.is_registered(&member));
}

#[test]
fn bad_sources_are_dropped() {
    let mut h = Harness::new(config());
    for from in [
        SocketAddr::from(([127, 0, 0, 1], 0)),
        SocketAddr::from(([0, 0, 0, 0], 5)),
        SocketAddr::from(([255, 255, 255, 255], 5)),
        SocketAddr::from(([224, 0, 0, 1], 5)),
    ] {
        assert!(h.recv(from, RegisterPeer::default()).is_empty());
    }
    assert_eq!(h.reg.stats().bad_source, 4);
}

#[test]
fn no_unverified_address_gets_more_than_one_reply_within_budget() {
    let mut h = Harness::new(config());
    let members: Vec<_> = (1..=20).map(addr).collect();
    for &m in &members {
        h.register(m);
    }
    let mut rng = StdRng::seed_from_u64(11);
    let mut datagrams: Vec<Vec<u8>> = hostile_datagrams().into_iter().map(|(_, d)| d).collect();
    datagrams.extend([
        wire(RegisterPeer::default()),
        wire(RegisterPeer {
            name: Some("n".repeat(64)),
            election: None,
        }),
        wire(RequestBallot {}),
        wire(LeavePeer {}),
        wire(PokeAck { nonce: Some(1) }),
        wire(Verify {
            token: "0".repeat(32),
        }),
        br#"{"type":"REQUEST_BALLOT"}"#.to_vec(),
        br#"{"type":"REGISTER_PEER"}"#.to_vec(),
        b"{}".to_vec(),
    ]);
    let mut verified: HashSet<SocketAddr> = members.iter().copied().collect();
    for step in 0..5_000u32 {
        h.now += rng.gen_range(0..50);
        // Unverified sources: some fresh, some repeating; a few members mixed in.
        let from = match rng.gen_range(0..10) {
            0 => members[rng.gen_range(0..members.len())],
            1..=4 => addr(1_000 + rng.gen_range(0..20)),
            _ => addr(2_000 + (step % 30_000) as u16),
        };
        let request = datagrams[rng.gen_range(0..datagrams.len())].clone();
        let was_verified = verified.contains(&from) || h.reg.is_registered(&from);
        let out = h.recv_raw(from, &request);
        if !was_verified {
            let to_sender: Vec<_> = out.iter().filter(|(a, _, _)| *a == from).collect();
            assert!(
                to_sender.len() <= 1,
                "step {step}: {} replies to {from}",
                to_sender.len()
            );
            for (_, m, len) in to_sender {
                assert!(
                    *len <= unverified_reply_budget(request.len()),
                    "step {step}: {} of {len} bytes for a {}-byte request",
                    m.type_name(),
                    request.len()
                );
            }
            if rng.gen_bool(0.05) {
                // Sometimes the source does receive and answers the CHALLENGE.
                if let Some((_, Message::Challenge(c), _)) = out.first() {
                    let token = c.token.clone();
                    h.recv(from, Verify { token });
                    verified.insert(from);
                }
            }
        }
        if step % 97 == 0 {
            let t = h.now;
            h.run_with_alive(t, &members);
        }
    }
    // Everything ever sent to an address that never verified was a CHALLENGE.
    for (to, m, _) in &h.sent {
        if !verified.contains(to) {
            assert!(
                matches!(m, Message::Challenge(_)),
                "{} to unverified {to}",
                m.type_name()
            );
        }
    }
    assert_eq!(h.reg.stats().over_budget, 0);
}

#[test]
fn request_ballot_is_answered_only_once_verified() {
    let mut h = Harness::new(config());
    let a = addr(1);
    let reply = h.recv(a, RequestBallot {});
    let [(_, Message::Challenge(c), _)] = reply.as_slice() else {
        panic!("{reply:?}");
    };
    let token = c.token.clone();
    h.recv(a, Verify { token });
    // Attack 3: VERIFY alone no longer makes later requests "from" the address trusted: a
    // forged one gets another CHALLENGE, however often the real address proved itself.
    let reply = h.recv(a, RequestBallot {});
    assert!(
        matches!(reply[..], [(_, Message::Challenge(_), _)]),
        "{reply:?}"
    );
    let reply = h.recv_proven(a, RequestBallot {});
    let [(_, Message::BallotOptions(b), _)] = reply.as_slice() else {
        panic!("{reply:?}");
    };
    assert_eq!(b.voting_options, ["Adam", "Bob", "Catherine"]);
    let genesis = Block::genesis(&b.ballot()).unwrap();
    assert_eq!(genesis.hash(), b.election);
    assert_eq!(b.election, h.reg.election());
}

#[test]
fn peer_lists_are_samples_that_fit_1200_bytes() {
    let mut c = config();
    c.rate_burst = 1_000;
    let mut h = Harness::new(c);
    // Long IPv6 addresses make the byte limit bite before `max_list`.
    let v6 = |n: u16| {
        let ip = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, n);
        SocketAddr::new(IpAddr::V6(ip), 60_000 + n)
    };
    let members: Vec<_> = (1..=300).map(v6).collect();
    for &m in &members {
        let list = h.register(m);
        assert_eq!(list[0], m, "the newcomer leads its own list");
    }
    let acks: Vec<usize> = h
        .sent
        .iter()
        .filter(|(_, m, _)| matches!(m, Message::RegisterAck(_)))
        .map(|(_, _, len)| *len)
        .collect();
    assert!(acks.iter().all(|&len| len <= MAX_SMALL));
    assert!(
        acks.iter().any(|&len| len > MAX_SMALL - 60),
        "lists fill the datagram"
    );
    h.run_with_alive(HEARTBEAT, &members);
    let mut distinct = HashSet::new();
    for &m in &members {
        let list = h.updates_to(m).pop().expect("an UPDATE_PEERS");
        assert!(!list.is_empty() && list.len() < members.len());
        distinct.insert(list);
    }
    assert!(distinct.len() > 1, "members get different samples");
    assert!(h
        .sent
        .iter()
        .all(|(_, m, len)| matches!(m, Message::BallotOptions(_)) || *len <= MAX_SMALL));
}

#[test]
fn ipv4_mapped_members_are_advertised_as_ipv4() {
    let mut h = Harness::new(config());
    let mapped = SocketAddr::new(
        IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped()),
        5000,
    );
    let list = h.register(mapped);
    assert_eq!(list, vec![SocketAddr::from(([192, 0, 2, 7], 5000))]);
    assert!(
        h.reg.is_registered(&mapped),
        "replies still go to the address as received"
    );
}

#[test]
fn an_idle_registry_schedules_nothing() {
    let mut h = Harness::new(config());
    assert_eq!(h.reg.poll_timeout(), None);
    let a = addr(1);
    h.register(a);
    assert_eq!(h.reg.poll_timeout(), Some(HEARTBEAT));
    h.recv(a, LeavePeer {});
    h.advance_to(10 * HEARTBEAT);
    assert_eq!(
        h.reg.poll_timeout(),
        None,
        "stale schedule entries are discarded"
    );
}

#[test]
fn heartbeats_of_many_peers_are_spread_over_the_interval() {
    let mut h = Harness::new(config());
    let members: Vec<_> = (1..=100).map(addr).collect();
    for (i, &m) in members.iter().enumerate() {
        h.now = i as u64 * 10;
        h.register(m);
    }
    let mut wakeups = 0;
    let start = h.now;
    while let Some(due) = h.reg.poll_timeout() {
        if due > start + HEARTBEAT * 3 {
            break;
        }
        wakeups += 1;
        h.run_with_alive(due, &members);
    }
    assert!(
        wakeups >= 100,
        "one wake-up per 10 ms slot, not one burst: {wakeups}"
    );
    assert!(h.evicted().is_empty());
    for &m in &members {
        assert!(h.pokes_to(m).len() >= 2);
    }
}
