//! The real `tracker` binary on loopback, driven by plain UDP test sockets: registration with
//! the CHALLENGE/VERIFY dance, UPDATE_PEERS, eviction of a silent peer, LEAVE_PEER, a burst of
//! hostile datagrams, signals and exit codes.
//!
//! The tracker is started on port 0 and the test reads the bound address from its readiness
//! line (`tracker listening on <addr> election <hash>`), so tests never race for ports. Every
//! wait polls for a condition until a generous deadline; child processes are killed on drop.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use votechain_proto::{
    decode_envelope, encode, encode_with, Cookie, Envelope, Message, PokeAck, RegisterPeer,
};

const DEADLINE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(20);

/// Polls `check` until it returns `Some` or `deadline` passes.
fn wait_for<T>(deadline: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if start.elapsed() > deadline {
            return None;
        }
        thread::sleep(POLL);
    }
}

/// A running `tracker` process; killed when dropped.
struct Tracker {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Tracker {
    fn start(args: &[&str]) -> Tracker {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tracker"))
            .arg("0")
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tracker");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let pipe = child.stderr.take().expect("stderr is piped");
        let sink = stderr.clone();
        // Drain stderr for the whole run so the child never blocks on a full pipe.
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut tracker = Tracker {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stderr,
        };
        tracker.addr = wait_for(DEADLINE, || {
            tracker.lines().iter().find_map(|l| {
                let rest = l.strip_prefix("tracker listening on ")?;
                rest.split_whitespace().next()?.parse().ok()
            })
        })
        .unwrap_or_else(|| panic!("no readiness line; stderr: {:#?}", tracker.lines()));
        tracker
    }

    fn lines(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until a line containing `needle` has been logged.
    fn logged(&self, needle: &str) -> bool {
        wait_for(DEADLINE, || {
            self.lines()
                .iter()
                .any(|l| l.contains(needle))
                .then_some(())
        })
        .is_some()
    }

    fn still_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test peer: a UDP socket whose background thread records every message it receives and
/// answers POKEs while `alive`. What it sends echoes the tracker's latest address cookie, as a
/// real peer does.
struct TestPeer {
    socket: Arc<UdpSocket>,
    addr: SocketAddr,
    tracker: SocketAddr,
    inbox: Arc<Mutex<Vec<Message>>>,
    /// The tracker's cookie for us, from its latest datagram.
    tracker_cookie: Arc<Mutex<Option<Cookie>>>,
    alive: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestPeer {
    fn new(tracker: SocketAddr) -> TestPeer {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").expect("bind test peer"));
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let inbox = Arc::new(Mutex::new(Vec::new()));
        let tracker_cookie = Arc::new(Mutex::new(None));
        let alive = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (socket, inbox, alive, stop, cookie) = (
                socket.clone(),
                inbox.clone(),
                alive.clone(),
                stop.clone(),
                tracker_cookie.clone(),
            );
            thread::spawn(move || {
                let mut buf = vec![0u8; 65_536];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((len, _)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    let (message, envelope) =
                        decode_envelope(&buf[..len]).expect("the tracker sends valid datagrams");
                    if envelope.cookie.is_some() {
                        *cookie.lock().unwrap() = envelope.cookie;
                    }
                    if let (Message::Poke(p), true) = (&message, alive.load(Ordering::Relaxed)) {
                        let ack = encode(&PokeAck { nonce: p.nonce }.into()).unwrap();
                        let _ = socket.send_to(&ack, tracker);
                    }
                    inbox.lock().unwrap().push(message);
                }
            })
        };
        TestPeer {
            socket,
            addr,
            tracker,
            inbox,
            tracker_cookie,
            alive,
            stop,
            thread: Some(thread),
        }
    }

    fn send(&self, message: impl Into<Message>) {
        let envelope = Envelope {
            cookie: None,
            echo: *self.tracker_cookie.lock().unwrap(),
        };
        self.send_raw(&encode_with(&message.into(), &envelope).unwrap());
    }

    fn send_raw(&self, bytes: &[u8]) {
        self.socket.send_to(bytes, self.tracker).expect("send");
    }

    /// The first message since `from` (an inbox index) matching `pick`.
    fn find<T>(&self, from: usize, pick: impl Fn(&Message) -> Option<T>) -> Option<T> {
        self.inbox.lock().unwrap()[from..].iter().find_map(pick)
    }

    fn inbox_len(&self) -> usize {
        self.inbox.lock().unwrap().len()
    }

    /// Registers with the dance, resending every half second as seed A does.
    fn register(&self) -> Vec<SocketAddr> {
        let start = Instant::now();
        while start.elapsed() < DEADLINE {
            let mark = self.inbox_len();
            self.send(RegisterPeer {
                name: Some("test".into()),
            });
            let reply = wait_for(Duration::from_millis(500), || {
                self.find(mark, |m| match m {
                    Message::Challenge(c) => Some(Err(c.token.clone())),
                    Message::RegisterAck(a) => Some(Ok(a.peer_list.clone())),
                    _ => None,
                })
            });
            match reply {
                Some(Ok(list)) => return list,
                Some(Err(_token)) => {
                    // The CHALLENGE's cookie is now ours to echo (the receive thread kept it).
                    let mark = self.inbox_len();
                    self.send(RegisterPeer {
                        name: Some("test".into()),
                    });
                    let ack = wait_for(Duration::from_millis(500), || {
                        self.find(mark, |m| match m {
                            Message::RegisterAck(a) => Some(a.peer_list.clone()),
                            _ => None,
                        })
                    });
                    if let Some(list) = ack {
                        return list;
                    }
                }
                None => {}
            }
        }
        panic!("{} could not register", self.addr);
    }

    /// The peer list of the latest UPDATE_PEERS received.
    fn latest_update(&self) -> Option<BTreeSet<SocketAddr>> {
        self.inbox
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find_map(|m| match m {
                Message::UpdatePeers(u) => Some(u.peer_list.iter().copied().collect()),
                _ => None,
            })
    }
}

impl Drop for TestPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn set(addrs: &[SocketAddr]) -> BTreeSet<SocketAddr> {
    addrs.iter().copied().collect()
}

#[test]
fn three_peers_register_then_one_is_evicted_and_one_leaves() {
    let tracker = Tracker::start(&[]);
    let peers: Vec<TestPeer> = (0..3).map(|_| TestPeer::new(tracker.addr)).collect();
    for p in &peers {
        let list = p.register();
        assert!(list.contains(&p.addr), "REGISTER_ACK includes the new peer");
    }
    let all = set(&peers.iter().map(|p| p.addr).collect::<Vec<_>>());
    for p in &peers {
        wait_for(DEADLINE, || (p.latest_update()? == all).then_some(())).unwrap_or_else(|| {
            panic!(
                "{} never saw all three; got {:?}",
                p.addr,
                p.latest_update()
            )
        });
    }

    // The third peer stops answering POKEs: evicted after three missed heartbeats (3–4 s at
    // the default 1 s interval), and the others are told.
    let silent = &peers[2];
    silent.alive.store(false, Ordering::Relaxed);
    let stopped = Instant::now();
    let two = set(&[peers[0].addr, peers[1].addr]);
    for p in &peers[..2] {
        wait_for(DEADLINE, || (p.latest_update()? == two).then_some(()))
            .unwrap_or_else(|| panic!("{} was not told of the eviction", p.addr));
    }
    // How many heartbeats it missed is the tracker's own account, not a wall-clock reading.
    eprintln!(
        "eviction observed {:?} after the peer went silent",
        stopped.elapsed()
    );
    assert!(tracker.logged(&format!(
        "peer {} \"test\" evicted after 3 missed heartbeats",
        silent.addr
    )));

    // The second peer leaves; the first is told at once (within an interval).
    peers[1].send(votechain_proto::LeavePeer {});
    let one = set(&[peers[0].addr]);
    wait_for(DEADLINE, || {
        (peers[0].latest_update()? == one).then_some(())
    })
    .expect("the leave was announced");
    assert!(tracker.logged(&format!("peer {} \"test\" left", peers[1].addr)));
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
    let mut tracker = Tracker::start(&[]);
    let member = TestPeer::new(tracker.addr);
    member.register();
    let hostile: Vec<UdpSocket> = (0..3)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    for socket in &hostile {
        for datagram in hostile_datagrams() {
            socket
                .send_to(&datagram, tracker.addr)
                .expect("send hostile datagram");
        }
    }
    // Still alive, still answering a member and a newcomer.
    let mark = member.inbox_len();
    member.send(votechain_proto::RequestBallot {});
    let options = wait_for(DEADLINE, || {
        member.find(mark, |m| match m {
            Message::BallotOptions(b) => Some(b.voting_options.clone()),
            _ => None,
        })
    })
    .expect("BALLOT_OPTIONS after the burst");
    assert_eq!(options, ["Adam", "Bob", "Catherine"]);
    let newcomer = TestPeer::new(tracker.addr);
    assert!(newcomer.register().contains(&newcomer.addr));
    assert!(tracker.still_running());
    // Hostile sockets got nothing back: they never verified, and garbage gets no reply.
    for socket in &hostile {
        socket.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 2_048];
        assert!(socket.recv_from(&mut buf).is_err(), "a reply to garbage");
    }
}

/// SIGTERM stops the tracker cleanly (its idleness is a property of the core:
/// `registry::tests::an_idle_registry_schedules_nothing`, checked without timing).
#[test]
fn exits_zero_on_sigterm() {
    let mut tracker = Tracker::start(&["--title", "Idle test"]);
    let status = Command::new("kill")
        .args(["-TERM", &tracker.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let exit = wait_for(DEADLINE, || tracker.child.try_wait().expect("try_wait"))
        .expect("the tracker exits after SIGTERM");
    assert_eq!(exit.code(), Some(0), "clean shutdown exits 0");
    assert!(tracker.logged("tracker stopped"));
}

#[test]
fn usage_errors_exit_2_and_runtime_errors_exit_1() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tracker"))
            .args(args)
            .output()
            .expect("run tracker");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
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
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    assert_eq!(run(&[&port]).0, Some(1));
}
