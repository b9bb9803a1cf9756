//! Issue 11, voters are people: a voter's name is a label that ignores case (`alice` and
//! `Alice` are one voter, who votes once), and a rejected vote leaves no key file behind; a
//! voter's key moves between peers (`keys export`/`keys import`, `votechain-keys`), so the same
//! voter on two peers votes once and the second vote is refused naming the voter; `election
//! --voters N` gives every peer the same N voters; `votechain-keys roll` makes a roll the
//! tracker accepts; and a vote typed before the election is known waits for it.

use std::path::Path;
use std::process::Command;
use votechain_chain::Hash;
use votechain_tests::binaries::bin;
use votechain_tests::process::Process;
use votechain_tests::{wait_until, Peer, PeerConfig, TempDir, Tracker, TrackerConfig, DEADLINE};

#[test]
fn names_ignore_case_and_a_rejected_vote_creates_no_key() {
    let tracker = Tracker::start(TrackerConfig::default());
    let mut peer = Peer::start("voters", PeerConfig::with_tracker(tracker.port()));
    peer.wait_ready();

    let answer = peer.console("vote bob Nobody").join("\n");
    assert!(
        answer.contains("rejected"),
        "a choice not on the ballot: {answer}"
    );
    let bob = peer.data_dir().join("keys").join("bob.key");
    assert!(!bob.exists(), "the rejected vote left {}", bob.display());

    peer.vote("alice", "Adam");
    assert!(peer.data_dir().join("keys").join("alice.key").exists());
    let again = peer.console("vote Alice Bob").join("\n");
    assert!(
        again.contains("rejected: alice has already voted"),
        "Alice is alice, who voted: {again}"
    );
    let keys = peer.console("keys");
    assert_eq!(keys.len(), 1, "one voter key: {keys:?}");
    assert!(keys[0].starts_with("alice "), "{keys:?}");
}

/// Waits until `peer` knows the vote `id` (pending or in a block).
fn wait_known(peer: &mut Peer, id: &Hash) {
    wait_until(
        &format!("{} to know vote {id}", peer.name()),
        DEADLINE,
        || match peer.receipt(id) {
            r if r == "unknown" => Err(r),
            _ => Ok(()),
        },
    );
}

#[test]
fn a_voter_moved_to_another_peer_votes_once_and_the_second_vote_names_the_voter() {
    let tracker = Tracker::start(TrackerConfig::default());
    let mut one = Peer::start("one", PeerConfig::with_tracker(tracker.port()));
    let mut two = Peer::start("two", PeerConfig::with_tracker(tracker.port()));
    let moved = TempDir::new("moved-key");
    let file = moved.path().join("alice.key");

    let made = one.console("keys new Alice").join("\n");
    assert!(made.starts_with("new voter alice, public key "), "{made}");
    let exported = one
        .console(&format!("keys export alice {}", file.display()))
        .join("\n");
    assert!(
        exported.starts_with("alice's key written to "),
        "{exported}"
    );
    let imported = two
        .console(&format!("keys import {}", file.display()))
        .join("\n");
    assert!(imported.starts_with("imported alice "), "{imported}");
    assert_eq!(one.console("keys"), two.console("keys"), "the same voter");

    let id = one.vote("alice", "Adam");
    wait_known(&mut two, &id);
    let second = two.console("vote ALICE Bob").join("\n");
    assert!(
        second.contains(&format!("rejected: alice has already voted (vote {id}")),
        "{second}"
    );
    // The network counts alice once.
    wait_until("one vote for Adam on both peers", DEADLINE, || {
        let tallies = (one.tally(), two.tally());
        let counted = |t: &std::collections::BTreeMap<String, u64>| {
            t.get("Adam") == Some(&1) && t.get("Bob") == Some(&0)
        };
        if counted(&tallies.0) && counted(&tallies.1) {
            Ok(())
        } else {
            Err(format!("{tallies:?}"))
        }
    });
}

/// The line an election's console prints for peer `n` next.
fn election_answer(election: &mut Process, n: usize) -> String {
    let prefix = format!("[peer {n}] ");
    let line = election.wait_stdout(&format!("an answer of peer {n}"), DEADLINE, |l| {
        l.starts_with(&prefix)
    });
    line[prefix.len()..].to_owned()
}

#[test]
fn election_voters_are_the_same_people_on_every_peer() {
    let data = TempDir::new("election-voters");
    let args: Vec<String> = ["--voters", "3", "--difficulty", "8", "--data-dir"]
        .iter()
        .map(|s| s.to_string())
        .chain([data.path().display().to_string()])
        .collect();
    let mut election = Process::spawn("election", None, &bin("election"), &args, &[]);
    election.wait_stdout("the closed election's line", DEADLINE, |l| {
        l.contains("closed: only the 3 voters on its roll")
    });
    election.wait_stdout("the voters' names", DEADLINE, |l| {
        l.starts_with("voters: alice, bob, carol ")
    });
    let key = |peer: u32, name: &str| -> String {
        let path = data.path().join(format!("peer-{peer}/keys/{name}.key"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    assert_eq!(key(1, "carol"), key(3, "carol"), "one carol on every peer");

    // Peer 1 may not hold the ballot yet (a vote then waits, answered later): ask until it does.
    wait_until("peer 1 to know the election", DEADLINE, || {
        // One line: the genesis block, or that the election is not known yet.
        election.type_line("1 chain 1 0");
        match election_answer(&mut election, 1) {
            r if r.contains("not known yet") => Err(r),
            _ => Ok(()),
        }
    });
    election.type_line("vote alice Adam");
    let answer = election_answer(&mut election, 1);
    let id = match answer.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["vote", id, "pending"] => Hash::from_hex(id).unwrap(),
        _ => panic!("vote alice Adam answered {answer:?}"),
    };
    wait_until("peer 2 to know alice's vote", DEADLINE, || {
        election.type_line(&format!("2 receipt {id}"));
        match election_answer(&mut election, 2) {
            r if r == "unknown" => Err(r),
            _ => Ok(()),
        }
    });
    election.type_line("2 vote Alice Bob");
    let second = election_answer(&mut election, 2);
    assert!(
        second.contains(&format!("rejected: alice has already voted (vote {id}")),
        "{second}"
    );
    election.type_line("3 vote mallory Adam");
    let stranger = election_answer(&mut election, 3);
    assert!(
        stranger.contains("rejected: mallory is not on this closed election's roll of 3"),
        "{stranger}"
    );

    // One terminal for three peers: what the network did is said once, not once per peer. Each
    // peer's events are shown before its answers, so once every peer has answered that alice's
    // vote is in block 1, every peer's news of that block has been shown.
    for peer in 1..=3 {
        wait_until("every peer to hold block 1", DEADLINE, || {
            election.type_line(&format!("{peer} receipt {id}"));
            match election_answer(&mut election, peer) {
                r if r.starts_with("in block 1") => Ok(()),
                r => Err(r),
            }
        });
    }
    let said = |what: &str| {
        let lines = election.log().lines();
        lines.iter().filter(|l| l.contains(what)).count()
    };
    assert_eq!(
        said("block 1 by peer-1"),
        1,
        "{:#?}",
        election.log().lines()
    );
    assert_eq!(said(") known. "), 1, "{:#?}", election.log().lines());
    election.interrupt();
    assert!(election.wait_exit(DEADLINE).success());
}

/// Runs `votechain-keys` with `args`; (status code, stdout, stderr).
fn keys(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin("votechain-keys"))
        .args(args)
        .output()
        .expect("votechain-keys runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

#[test]
fn votechain_keys_makes_moves_and_rolls_keys_that_a_tracker_and_a_peer_accept() {
    let organiser = TempDir::new("organiser");
    let outside = TempDir::new("outside");
    let dir = path(organiser.path());
    for voter in ["alice", "bob"] {
        let (code, out, err) = keys(&["new", voter, "--data-dir", dir]);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.starts_with(&format!("new voter {voter}, public key ")),
            "{out}"
        );
    }
    let (code, _, err) = keys(&["--data-dir", dir, "new", "alice"]);
    assert_eq!(code, 1, "alice has a key already");
    assert!(
        err.starts_with("votechain-keys: alice already has a key here"),
        "{err}"
    );
    let (code, _, err) = keys(&["--data-dir", dir, "new", "../x"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = keys(&["list"]);
    assert_eq!(code, 2, "no data directory: {err}");

    let alice = outside.path().join("alice.key");
    let (code, out, err) = keys(&["--data-dir", dir, "export", "alice", path(&alice)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("alice's key written to "), "{out}");
    let roll = outside.path().join("roll.txt");
    let (code, out, err) = keys(&["roll", "--data-dir", dir, "--out", path(&roll)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("roll of 2 voters written to "), "{out}");

    // The tracker takes the roll (Tracker::start checks the election id is the genesis of the
    // ballot with these keys) and says the election is closed.
    let mut tracker = Tracker::start(TrackerConfig {
        roll: Some(roll.clone()),
        ..TrackerConfig::default()
    });
    tracker
        .process()
        .wait_log("the closed-election line", DEADLINE, |l| {
            l.contains("closed: only the 2 voters on its roll")
        });
    let mut peer = Peer::start("roll", PeerConfig::with_tracker(tracker.port()));
    let peer_dir = peer.data_dir().to_owned();
    let (code, out, err) = keys(&["import", path(&alice), "--data-dir", path(&peer_dir)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("imported alice "), "{out}");
    peer.vote("alice", "Bob");
    let stranger = peer.console("vote carol Bob").join("\n");
    assert!(
        stranger.contains("rejected: carol is not on this closed election's roll of 2"),
        "{stranger}"
    );
    // Another key under alice's name is refused, alice's kept.
    let (_, _, _) = keys(&["--data-dir", path(outside.path()), "new", "other"]);
    let other = outside.path().join("keys/other.key");
    let (code, _, err) = keys(&[
        "import",
        path(&other),
        "alice",
        "--data-dir",
        path(&peer_dir),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("already holds another key"), "{err}");
}

/// A free UDP port on loopback, for a tracker started later.
fn free_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("binding loopback");
    socket
        .local_addr()
        .expect("a bound socket has an address")
        .port()
}

#[test]
fn a_vote_typed_before_the_election_is_known_waits_and_goes_in_when_it_is() {
    let port = free_port();
    let mut peer = Peer::start("early", PeerConfig::with_tracker(port));
    let waiting = peer.console("vote alice Adam").join("\n");
    assert!(
        waiting.contains("alice's vote for Adam waits and will be signed and submitted"),
        "{waiting}"
    );
    assert!(!peer.data_dir().join("keys").exists(), "nothing signed yet");
    let _tracker = Tracker::start(TrackerConfig {
        port,
        ..TrackerConfig::default()
    });
    let submitted = peer
        .process()
        .wait_stdout("the waiting vote's answer", DEADLINE, |l| {
            l.starts_with("the election is known: alice's waiting vote for Adam: ")
        });
    assert!(submitted.ends_with(" pending"), "{submitted}");
    wait_until("the vote to count", DEADLINE, || {
        let tally = peer.tally();
        (tally.get("Adam") == Some(&1))
            .then_some(())
            .ok_or(format!("{tally:?}"))
    });
}

#[test]
fn a_vote_still_waiting_at_quit_is_named_in_a_warning() {
    let mut peer = Peer::start("never", PeerConfig::with_tracker(free_port()));
    peer.console("vote bob Bob");
    peer.process().type_line("quit");
    let warning = peer
        .process()
        .wait_stdout("the warning about bob's vote", DEADLINE, |l| {
            l.starts_with("1 vote typed before the election was known was never submitted")
        });
    assert!(warning.contains("(bob)"), "{warning}");
    assert!(peer.process().wait_exit(DEADLINE).success());
}
