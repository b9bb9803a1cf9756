//! Registry tests in the `w4119` dialect, without address cookies (`confirm.rs`): W4119 peers
//! join by answering a POKE, stay alive with nonce-less POKE-ACKs, and a forged REGISTER_PEER
//! or LEAVE_PEER gets no more than the documented bound (SECURITY.md, "Profile w4119"). The
//! datagrams are checked byte for byte as W4119's Python writes them.

use super::*;
use rand::SeedableRng;
use std::sync::Arc;
use votechain_proto::dialect::W4119;

const HEARTBEAT: u64 = 1_000;
const REGISTER: &[u8] = br#"{"type": "REGISTER_PEER"}"#;
const POKE: &str = r#"{"type": "POKE"}"#;
const POKE_ACK: &[u8] = br#"{"type": "POKE-ACK"}"#;
const LEAVE: &[u8] = br#"{"type": "LEAVE_PEER"}"#;

fn addr(n: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, (n >> 8) as u8, n as u8], 7000 + n))
}

fn list(addrs: &[SocketAddr]) -> String {
    let items: Vec<String> = addrs.iter().map(|a| format!("\"{a}\"")).collect();
    items.join(", ")
}

/// A w4119 registry on a fake clock; what it sends is kept as text.
struct Harness {
    reg: Registry<StdRng>,
    now: u64,
    events: Vec<Event>,
}

impl Harness {
    fn new() -> Harness {
        let mut config = Config::demo();
        config.dialect = Arc::new(W4119);
        Harness {
            reg: Registry::new(config, StdRng::seed_from_u64(9)).expect("valid config"),
            now: 0,
            events: Vec::new(),
        }
    }

    fn drain(&mut self) -> Vec<(SocketAddr, String)> {
        let mut out = Vec::new();
        while let Some(output) = self.reg.poll_output() {
            match output {
                Output::Send(t) => {
                    out.push((t.to, String::from_utf8(t.bytes).expect("JSON is UTF-8")))
                }
                Output::Event(e) => self.events.push(e),
                Output::Persist(never) | Output::Mine(Some(never)) => match never {},
                Output::Mine(None) => panic!("the tracker does not mine"),
            }
        }
        out
    }

    fn recv(&mut self, from: SocketAddr, bytes: &[u8]) -> Vec<(SocketAddr, String)> {
        self.reg.handle_datagram(self.now, from, bytes);
        self.drain()
    }

    /// Runs every timer up to `t`; returns what was sent meanwhile.
    fn advance_to(&mut self, t: u64) -> Vec<(SocketAddr, String)> {
        let mut sent = Vec::new();
        while let Some(due) = self.reg.poll_timeout() {
            if due > t {
                break;
            }
            self.now = self.now.max(due);
            self.reg.handle_timeout(self.now);
            sent.extend(self.drain());
        }
        self.now = t;
        sent
    }

    /// The W4119 join: REGISTER_PEER, the POKE it draws, the POKE-ACK; returns the answer to
    /// the POKE-ACK.
    fn join(&mut self, from: SocketAddr) -> Vec<(SocketAddr, String)> {
        let reply = self.recv(from, REGISTER);
        assert_eq!(reply, [(from, POKE.to_owned())]);
        self.recv(from, POKE_ACK)
    }
}

#[test]
fn a_peer_joins_by_answering_a_poke_and_hears_of_the_next() {
    let mut h = Harness::new();
    let (a, b) = (addr(1), addr(2));
    // Like W4119's tracker, ours answers with REGISTER_ACK and tells every member (here only
    // the newcomer) in UPDATE_PEERS.
    let reply = h.join(a);
    assert_eq!(
        reply,
        [
            (
                a,
                format!(
                    r#"{{"type": "REGISTER_ACK", "peer_list": [{}]}}"#,
                    list(&[a])
                )
            ),
            (
                a,
                format!(
                    r#"{{"type": "UPDATE_PEERS", "peer_list": [{}]}}"#,
                    list(&[a])
                )
            )
        ]
    );
    assert!(h.reg.is_registered(&a));
    assert!(matches!(h.events[..], [Event::Joined { n_peers: 1, .. }]));
    let ballot = h.recv(a, br#"{"type": "REQUEST_BALLOT"}"#);
    assert_eq!(
        ballot,
        [(
            a,
            r#"{"type": "BALLOT_OPTIONS", "voting_options": ["Adam", "Bob", "Catherine"]}"#
                .to_owned()
        )]
    );
    h.now = 300;
    let reply = h.join(b);
    let ack = &reply[0];
    assert_eq!(ack.0, b);
    assert!(ack
        .1
        .starts_with(r#"{"type": "REGISTER_ACK", "peer_list": ["#));
    assert!(ack.1.contains(&format!("\"{a}\"")) && ack.1.contains(&format!("\"{b}\"")));
    // The UPDATE_PEERS round reaches both members within a heartbeat interval.
    let sent = h.advance_to(1_300);
    for member in [a, b] {
        assert!(
            sent.iter().any(|(to, text)| *to == member
                && text.starts_with(r#"{"type": "UPDATE_PEERS", "peer_list": ["#)
                && text.contains(&format!("\"{a}\""))
                && text.contains(&format!("\"{b}\""))),
            "{member} got no UPDATE_PEERS listing both: {sent:?}"
        );
    }
}

#[test]
fn nonce_less_poke_acks_keep_a_member_and_silence_evicts_it() {
    let mut h = Harness::new();
    let (a, b) = (addr(1), addr(2));
    h.join(a);
    h.join(b);
    // Ten seconds of heartbeats, each answered by both as W4119 peers answer.
    for second in 1..=10 {
        let sent = h.advance_to(second * HEARTBEAT + 10);
        for member in [a, b] {
            if sent.iter().any(|(to, text)| *to == member && text == POKE) {
                h.recv(member, POKE_ACK);
            }
        }
    }
    assert_eq!(
        h.reg.n_peers(),
        2,
        "both answered every POKE: {:?}",
        h.events
    );
    assert!(!h.events.iter().any(|e| matches!(e, Event::Evicted { .. })));
    // Now only `a` answers: `b` goes after three POKEs, and `a` is told.
    let mut told = false;
    for second in 11..=15 {
        let sent = h.advance_to(second * HEARTBEAT + 10);
        if sent.iter().any(|(to, text)| *to == a && text == POKE) {
            h.recv(a, POKE_ACK);
        }
        told |= sent.iter().any(|(to, text)| {
            *to == a && *text == format!(r#"{{"type": "UPDATE_PEERS", "peer_list": ["{a}"]}}"#)
        });
    }
    assert!(h.reg.is_registered(&a) && !h.reg.is_registered(&b));
    assert!(h
        .events
        .iter()
        .any(|e| matches!(e, Event::Evicted { addr, missed: 3, .. } if *addr == b)));
    assert!(told, "the survivor was not sent the new list");
}

#[test]
fn forged_registrations_draw_one_small_poke_each_and_advertise_nobody() {
    let mut h = Harness::new();
    let member = addr(1);
    h.join(member);
    h.drain();
    let mut bytes_in = 0usize;
    let mut bytes_out = 0usize;
    let mut to_member = 0usize;
    // 10,000 forged REGISTER_PEERs naming 10,000 victims, none of which answers.
    for n in 0..10_000u32 {
        let victim = SocketAddr::from(([192, 0, (n >> 8) as u8, n as u8], 9000));
        bytes_in += REGISTER.len();
        for (to, text) in h.recv(victim, REGISTER) {
            assert_eq!(
                (to, text.as_str()),
                (victim, POKE),
                "a victim got more than a POKE"
            );
            bytes_out += text.len();
        }
        if n % 1_000 == 0 {
            h.now += 100;
        }
    }
    let start = h.now;
    for second in 1..=5 {
        for (to, text) in h.advance_to(start + second * HEARTBEAT) {
            bytes_out += text.len();
            if text.contains("PEERS") {
                to_member += 1;
            }
            assert_eq!(
                (to, text.as_str()),
                (member, POKE),
                "only the member is poked"
            );
            h.recv(member, POKE_ACK);
        }
    }
    assert_eq!(h.reg.n_peers(), 1);
    assert_eq!(to_member, 0, "no membership change was announced");
    assert!(
        bytes_out <= bytes_in,
        "{bytes_out} bytes out for {bytes_in} in"
    );
    let stats = h.reg.stats();
    assert!(stats.pending_full > 0, "the candidate table is bounded");
    assert!(h.reg.pending.len() <= h.reg.config().max_pending);
    // A stray POKE-ACK from an address that never asked admits nobody; nor does a late one.
    h.recv(addr(50), POKE_ACK);
    h.recv(addr(51), REGISTER);
    h.now += 3 * HEARTBEAT;
    h.recv(addr(51), POKE_ACK);
    assert_eq!(h.reg.n_peers(), 1);
}

#[test]
fn a_forged_leave_is_contradicted_and_a_real_one_takes_a_heartbeat() {
    let mut h = Harness::new();
    let (a, b) = (addr(1), addr(2));
    h.join(a);
    h.join(b);
    h.advance_to(HEARTBEAT / 2);
    // A forged LEAVE_PEER naming `a`: it draws one POKE, which the real `a` answers.
    let reply = h.recv(a, LEAVE);
    assert_eq!(reply, [(a, POKE.to_owned())]);
    h.recv(a, POKE_ACK);
    // `b` really leaves: it answers nothing more.
    assert_eq!(h.recv(b, LEAVE), [(b, POKE.to_owned())]);
    for second in 1..=4 {
        let sent = h.advance_to(second * HEARTBEAT + 10);
        if sent.iter().any(|(to, text)| *to == a && text == POKE) {
            h.recv(a, POKE_ACK);
        }
    }
    assert!(
        h.reg.is_registered(&a),
        "a forged LEAVE_PEER removed a live peer"
    );
    assert!(!h.reg.is_registered(&b));
    assert!(h
        .events
        .iter()
        .any(|e| matches!(e, Event::Left { addr, .. } if *addr == b)));
    assert_eq!(h.reg.stats().leaves_contradicted, 1);
}

#[test]
fn a_members_repeated_registration_gets_one_list_per_heartbeat() {
    let mut h = Harness::new();
    let a = addr(1);
    h.join(a);
    let mut lists = 0;
    for i in 0..100 {
        h.now = 100 + i * 10;
        lists += h
            .recv(a, REGISTER)
            .iter()
            .filter(|(_, t)| t.contains("REGISTER_ACK"))
            .count();
    }
    // Joined at 0 with a list; the repeats span 100..1,090 ms: one more list, at 1,000.
    assert_eq!(lists, 1);
    let stats = h.reg.stats();
    assert_eq!(stats.lists_withheld + stats.rate_limited, 99);
}

#[test]
fn with_a_refresh_interval_the_list_is_repeated_without_a_change() {
    let mut h = Harness::new();
    h.reg.config.list_refresh_ms = Some(10_000);
    let a = addr(1);
    h.join(a);
    let mut lists = 0;
    for second in 1..=25 {
        for (to, text) in h.advance_to(second * HEARTBEAT) {
            if text == POKE {
                h.recv(to, POKE_ACK);
            }
            lists += usize::from(text.starts_with(r#"{"type": "UPDATE_PEERS""#));
        }
    }
    // Joined at 0 (one round then), repeated at 10 s and 20 s.
    assert_eq!(lists, 2);
}
