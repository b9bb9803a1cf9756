//! The real `tracker` binary on loopback, driven by hand-made members: registration with the
//! CHALLENGE/VERIFY dance, UPDATE_PEERS, eviction of a silent member, LEAVE_PEER, a burst of
//! hostile datagrams, SIGTERM and exit codes.
//!
//! The tracker comes from the shared harness ([`Tracker::start`]: port 0, its address read from
//! its readiness line, killed on drop, the tail of its log printed on failure). Each member is a
//! [`Probe`], which echoes the tracker's latest address cookie as a real peer does; no thread
//! answers for it: while a test waits, it pumps every member, keeping what the tracker sent and
//! answering its POKEs. Every wait polls for a condition until a generous deadline.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use votechain_proto::{LeavePeer, Message, PokeAck, RegisterPeer, RequestBallot};
use votechain_tests::binaries::bin;
use votechain_tests::probe::Received;
use votechain_tests::process::Process;
use votechain_tests::{wait_until, Probe, Tracker, TrackerConfig, DEADLINE};

/// How long one registration step waits for the tracker's answer before it starts over, as a
/// real peer resends its REGISTER_PEER.
const RESEND: Duration = Duration::from_millis(500);

/// A member of the tracker's election played by the test.
struct Member {
    probe: Probe,
    tracker: SocketAddr,
    /// Every message the tracker sent, in order of arrival.
    inbox: RefCell<Vec<Message>>,
    /// Whether it answers POKEs: one that stops is evicted.
    answers_pokes: Cell<bool>,
}

impl Member {
    fn new(tracker: SocketAddr) -> Member {
        Member {
            probe: Probe::new(),
            tracker,
            inbox: RefCell::new(Vec::new()),
            answers_pokes: Cell::new(true),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.probe.addr()
    }

    /// Sends `message` to the tracker, echoing its latest cookie.
    fn send(&self, message: impl Into<Message>) {
        self.probe.send(self.tracker, &message.into());
    }

    /// Keeps a datagram from the tracker, answering it when it is a POKE.
    fn take(&self, got: Received) {
        let message = got.message().expect("the tracker sends valid datagrams");
        if let (Message::Poke(poke), true) = (&message, self.answers_pokes.get()) {
            self.send(PokeAck { nonce: poke.nonce });
        }
        self.inbox.borrow_mut().push(message);
    }

    /// Takes every datagram that has arrived, without waiting.
    fn pump(&self) {
        while let Some(got) = self.probe.try_recv() {
            self.take(got);
        }
    }

    fn inbox_len(&self) -> usize {
        self.inbox.borrow().len()
    }

    /// Receives until a message from inbox index `from` on matches `pick`; `None` after
    /// `timeout`. Other members are not pumped meanwhile: for short waits, or one member.
    fn wait_message<T>(
        &self,
        from: usize,
        timeout: Duration,
        mut pick: impl FnMut(&Message) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = self.inbox.borrow()[from..].iter().find_map(&mut pick) {
                return Some(found);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if let Some(got) = self.probe.recv(left) {
                self.take(got);
            }
        }
    }

    /// Registers with the dance: REGISTER_PEER, and again echoing the CHALLENGE's cookie;
    /// starts over while an answer is missing. Returns the REGISTER_ACK's peer list.
    fn register(&self) -> Vec<SocketAddr> {
        let register = || RegisterPeer {
            name: Some("test".into()),
            election: None,
        };
        wait_until(&format!("{} to register", self.addr()), DEADLINE, || {
            let mark = self.inbox_len();
            self.send(register());
            let reply = self.wait_message(mark, RESEND, |m| match m {
                Message::Challenge(_) => Some(None),
                Message::RegisterAck(a) => Some(Some(a.peer_list.clone())),
                _ => None,
            });
            match reply {
                Some(Some(list)) => Ok(list),
                Some(None) => {
                    // The CHALLENGE's cookie is now the one `send` echoes.
                    let mark = self.inbox_len();
                    self.send(register());
                    self.wait_message(mark, RESEND, |m| match m {
                        Message::RegisterAck(a) => Some(a.peer_list.clone()),
                        _ => None,
                    })
                    .ok_or_else(|| "challenged, then no REGISTER_ACK".to_owned())
                }
                None => Err("no answer to REGISTER_PEER".to_owned()),
            }
        })
    }

    /// The peer list of the latest UPDATE_PEERS received.
    fn latest_update(&self) -> Option<BTreeSet<SocketAddr>> {
        self.inbox.borrow().iter().rev().find_map(|m| match m {
            Message::UpdatePeers(u) => Some(u.peer_list.iter().copied().collect()),
            _ => None,
        })
    }
}

/// Waits until each of `watchers` has last been told that the members are exactly `expected`,
/// pumping every one of `members` meanwhile so that those who answer POKEs stay members.
fn wait_told(
    what: &str,
    members: &[Member],
    watchers: &[&Member],
    expected: &BTreeSet<SocketAddr>,
) {
    wait_until(what, DEADLINE, || {
        members.iter().for_each(Member::pump);
        for watcher in watchers {
            let latest = watcher.latest_update();
            if latest.as_ref() != Some(expected) {
                return Err(format!("{} was last told {latest:?}", watcher.addr()));
            }
        }
        Ok(())
    });
}

fn set(members: &[&Member]) -> BTreeSet<SocketAddr> {
    members.iter().map(|m| m.addr()).collect()
}

#[test]
fn three_peers_register_then_one_is_evicted_and_one_leaves() {
    let mut tracker = Tracker::start(TrackerConfig::default());
    let members: Vec<Member> = (0..3).map(|_| Member::new(tracker.addr)).collect();
    for m in &members {
        let list = m.register();
        assert!(
            list.contains(&m.addr()),
            "REGISTER_ACK includes the new peer"
        );
    }
    let everyone: Vec<&Member> = members.iter().collect();
    wait_told(
        "every member to be told of all three",
        &members,
        &everyone,
        &set(&everyone),
    );

    // The third member stops answering POKEs: evicted after three missed heartbeats (3–4 s at
    // the default 1 s interval), and the others are told. How many heartbeats it missed is the
    // tracker's own account, not a wall-clock reading.
    let silent = &members[2];
    silent.answers_pokes.set(false);
    let two = [&members[0], &members[1]];
    wait_told(
        "the other two to be told of the eviction",
        &members,
        &two,
        &set(&two),
    );
    let evicted = format!(
        "peer {} \"test\" evicted after 3 missed heartbeats",
        silent.addr()
    );
    tracker
        .process()
        .wait_log("the eviction in its log", DEADLINE, |l| {
            l.contains(&evicted)
        });

    // The second member leaves; the first is told at once (within an interval).
    members[1].send(LeavePeer {});
    let one = [&members[0]];
    wait_told("the leave to be announced", &members, &one, &set(&one));
    let left = format!("peer {} \"test\" left", members[1].addr());
    tracker
        .process()
        .wait_log("the leave in its log", DEADLINE, |l| l.contains(&left));
}

/// Datagrams of every decoding failure in seed-protocols.md (missing fields, unknown type,
/// oversized, invalid UTF-8, deep nesting, huge numbers, empty) and a few more. A 70 KB
/// datagram cannot be sent over UDP/IPv4 at all (the payload limit is 65,507 bytes), so the
/// largest one that can is sent instead.
fn hostile_datagrams() -> Vec<Vec<u8>> {
    vec![
        vec![],
        vec![b'x'; 65_507],
        format!(
            r#"{{"type":"REGISTER_PEER","pad":"{}"}}"#,
            "p".repeat(4_000)
        )
        .into_bytes(),
        vec![b'{', 0xff, 0xfe, 0xfd, b'}'],
        format!("{}{}", "[".repeat(20_000), "]".repeat(20_000)).into_bytes(),
        format!(r#"{{"type":"POKE_ACK","nonce":{}}}"#, "9".repeat(400)).into_bytes(),
        br#"{"type":"POKE_ACK","nonce":1e400}"#.to_vec(),
        br#"{"type":"HELLO"}"#.to_vec(),
        br#"{"type":"GET_BLOCK"}"#.to_vec(),
        br#"{"type":"GOSSIP","host":"127.0.0.1","port":1,"name":"x"}"#.to_vec(),
        br#"{"type":"VERIFY"}"#.to_vec(),
        br#"{"type":"POKE_ACK","nonce":"one"}"#.to_vec(),
        br#"{"type":7}"#.to_vec(),
        br#"{"nonce":1}"#.to_vec(),
        b"[]".to_vec(),
        b"null".to_vec(),
        b"{\"type\":\"REGISTER_PEER\"".to_vec(),
        br#"{"type":"NEW_BLOCK","block":{}}"#.to_vec(),
        br#"{"type":"STATS"}"#.to_vec(),
    ]
}

#[test]
fn a_hostile_burst_leaves_the_tracker_answering() {
    let mut tracker = Tracker::start(TrackerConfig::default());
    let member = Member::new(tracker.addr);
    member.register();
    let hostile: Vec<Probe> = (0..3).map(|_| Probe::new()).collect();
    for probe in &hostile {
        for datagram in hostile_datagrams() {
            probe.send_raw(tracker.addr, &datagram);
        }
    }
    // Still alive, still answering a member and a newcomer.
    let mark = member.inbox_len();
    member.send(RequestBallot {});
    let options = member
        .wait_message(mark, DEADLINE, |m| match m {
            Message::BallotOptions(b) => Some(b.voting_options.clone()),
            _ => None,
        })
        .expect("BALLOT_OPTIONS after the burst");
    assert_eq!(options, ["Adam", "Bob", "Catherine"]);
    let newcomer = Member::new(tracker.addr);
    assert!(newcomer.register().contains(&newcomer.addr()));
    assert!(tracker.process().is_running());
    // Hostile sockets got nothing back: they never verified, and garbage gets no reply.
    for probe in &hostile {
        assert!(probe.try_recv().is_none(), "a reply to garbage");
    }
}

/// SIGTERM stops the tracker cleanly (its idleness is a property of the core:
/// `registry::tests::an_idle_registry_schedules_nothing`, checked without timing).
#[test]
fn exits_zero_on_sigterm() {
    let mut tracker = Tracker::start(TrackerConfig {
        title: "Idle test".into(),
        ..TrackerConfig::default()
    });
    let process = tracker.process();
    process.terminate();
    let exit = process.wait_exit(DEADLINE);
    assert_eq!(exit.code(), Some(0), "clean shutdown exits 0");
    process.wait_log("\"tracker stopped\"", DEADLINE, |l| {
        l.contains("tracker stopped")
    });
}

/// Runs the tracker with `args` to its end: its exit code and its stderr.
fn run(args: &[&str]) -> (Option<i32>, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let name = format!("tracker {}", args.join(" "));
    let mut tracker = Process::spawn(&name, None, &bin("tracker"), &args, &[]);
    let status = tracker.wait_exit(DEADLINE);
    (status.code(), tracker.log().lines().join("\n"))
}

#[test]
fn usage_errors_exit_2_and_runtime_errors_exit_1() {
    assert_eq!(run(&[]).0, Some(2), "missing port");
    assert_eq!(run(&["70000"]).0, Some(2), "port out of range");
    let (code, stderr) = run(&["0", "--ballot", "OnlyOne"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("option"), "{stderr}");
    let (code, stderr) = run(&["0", "--voters", "/nonexistent/roll.txt"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("/nonexistent/roll.txt"), "{stderr}");
    let (code, stderr) = run(&["--help"]);
    assert_eq!(code, Some(0));
    assert!(stderr.is_empty());
    // A port already taken is a runtime failure.
    let taken = Probe::new();
    assert_eq!(run(&[&taken.addr().port().to_string()]).0, Some(1));
}
