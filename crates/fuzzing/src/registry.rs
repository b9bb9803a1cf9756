//! The registry target: the tracker's [`Registry`] driven by a sequence of operations read
//! from the input — datagrams (raw bytes, or valid tracker messages from [`World`]) from six
//! sources, one of which no reply can reach, time passing and timer expiries — with its
//! transmits checked after each.
//!
//! Invariants: every transmit decodes, fits its size class and goes to an answerable
//! address; members never exceed `max_peers`; a datagram that cannot have proved its origin
//! gets at most one reply within the anti-amplification budget (POKE and UPDATE_PEERS to
//! members are not replies); and the timer does not stay due after the registry handled it.

use crate::cursor::Cursor;
use crate::messages::World;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::net::SocketAddr;
use votechain_chain::Ballot;
use votechain_proto::limits::unverified_reply_budget;
use votechain_proto::{decode_envelope, Message};
use votechain_tracker::config::Config;
use votechain_tracker::registry::Registry;

/// The time the run starts at, as in the node target.
const START_MS: u64 = 1_800_000_000_000;
/// Cap on members: small, so the fuzzer can fill it.
const MAX_PEERS: usize = 3;
/// Transmits one input may cause at most.
const MAX_TRANSMITS_PER_INPUT: usize = 1_000;

/// Where datagrams come from: IPv4, IPv4-mapped IPv6, IPv6, and the unspecified address.
fn sources() -> Vec<SocketAddr> {
    [
        "127.0.0.1:7001",
        "127.0.0.1:7002",
        "10.1.2.3:7003",
        "[::ffff:127.0.0.1]:7004",
        "[::1]:7005",
        "0.0.0.0:0",
    ]
    .iter()
    .map(|s| s.parse().expect("literal address"))
    .collect()
}

/// Runs the operations encoded in `data` against one registry and checks its transmits.
pub fn registry(data: &[u8]) {
    let mut c = Cursor::new(data);
    let mut config = Config::demo();
    config.max_peers = MAX_PEERS;
    config.max_sources = 4;
    let ballot: Ballot = config.ballot.clone();
    let registry =
        Registry::new(config, StdRng::seed_from_u64(u64::from(c.byte()))).expect("demo config");
    let sources = sources();
    let mut h = Harness {
        world: World::new(ballot, Vec::new(), sources.clone(), START_MS),
        registry,
        now_ms: START_MS,
    };
    while !c.is_empty() {
        match c.below(8) {
            0 => {
                let from = sources[c.below(sources.len())];
                let bytes = c.chunk().to_vec();
                h.datagram(from, &bytes);
            }
            1..=3 => {
                let from = sources[c.below(sources.len())];
                let message = h.world.tracker_message(&mut c, from);
                let envelope = h.world.envelope(&mut c, from);
                if let Ok(bytes) = votechain_proto::encode_with(&message, &envelope) {
                    h.datagram(from, &bytes);
                }
            }
            4 => {
                let from = sources[c.below(sources.len())];
                if let Some(bytes) = h.world.datagram(&mut c, from) {
                    h.datagram(from, &bytes);
                }
            }
            5 => h.advance(&mut c),
            6 => h.timeout(),
            _ => {
                h.advance(&mut c);
                h.timeout();
            }
        }
    }
}

struct Harness {
    registry: Registry,
    world: World,
    now_ms: u64,
}

impl Harness {
    fn datagram(&mut self, from: SocketAddr, bytes: &[u8]) {
        let unproven = !self.world.may_prove(from, bytes);
        self.registry.handle_datagram(self.now_ms, from, bytes);
        self.drain(unproven.then_some((from, bytes.len())));
    }

    fn advance(&mut self, c: &mut Cursor) {
        self.now_ms += c.time_step(600_000, self.registry.poll_timeout(), self.now_ms);
        self.world.now_ms = self.now_ms;
    }

    fn timeout(&mut self) {
        let now_ms = self.now_ms;
        crate::fire_timer(now_ms, || {
            self.registry.handle_timeout(now_ms);
            self.drain(None);
            self.registry.poll_timeout()
        });
    }

    /// Drains and checks the transmits of one input; `request` is the source and length of
    /// a datagram that cannot have proved its origin.
    fn drain(&mut self, request: Option<(SocketAddr, usize)>) {
        let (mut n_transmits, mut replies, mut reply_bytes) = (0, 0, 0);
        while let Some(output) = self.registry.poll_output() {
            let Some(t) = output.into_transmit() else {
                continue;
            };
            n_transmits += 1;
            assert!(
                n_transmits <= MAX_TRANSMITS_PER_INPUT,
                "more than {MAX_TRANSMITS_PER_INPUT} transmits for one input"
            );
            assert!(
                t.to.port() != 0 && !t.to.ip().is_unspecified(),
                "transmit to unanswerable {}",
                t.to
            );
            let message = match self.world.observe(t.to, &t.bytes) {
                Some((message, _)) => message,
                None => panic!(
                    "the registry sent an undecodable datagram to {}: {:?}\n{}",
                    t.to,
                    decode_envelope(&t.bytes).err(),
                    String::from_utf8_lossy(&t.bytes)
                ),
            };
            assert!(t.bytes.len() <= message.size_class().limit());
            let announcement = matches!(message, Message::Poke(_) | Message::UpdatePeers(_))
                && self.registry.is_registered(&t.to);
            if request.is_some_and(|(from, _)| from == t.to) && !announcement {
                replies += 1;
                reply_bytes += t.bytes.len();
            }
        }
        if let Some((from, len)) = request {
            assert!(
                replies <= 1,
                "{replies} replies to {from} for one unproven datagram"
            );
            assert!(
                reply_bytes <= unverified_reply_budget(len),
                "{reply_bytes} bytes sent to {from} in answer to an unproven {len}-byte datagram"
            );
        }
        let n_peers = self.registry.n_peers();
        assert!(n_peers <= MAX_PEERS, "{n_peers} members, over the cap");
        assert_eq!(self.registry.peers().len(), n_peers);
    }
}
