//! Issue 11, a calm console: the peer's full log goes to `<data-dir>/peer.log`, while its
//! terminal (stderr) shows only warnings and the lines meant for people; `-q` leaves only
//! warnings and errors there; `--log-format json` writes JSON lines to both.

use std::path::Path;
use votechain_tests::{wait_until, Peer, PeerConfig, Tracker, TrackerConfig, DEADLINE};

/// The peer's log file, line by line (empty until it exists).
fn log_file(peer: &Peer) -> Vec<String> {
    let path = peer.data_dir().join("peer.log");
    std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Waits until the log file has a line containing `text`.
fn wait_in_file(peer: &Peer, text: &str) -> String {
    wait_until(&format!("{text:?} in the log file"), DEADLINE, || {
        log_file(peer)
            .into_iter()
            .find(|l| l.contains(text))
            .ok_or_else(|| format!("not in {}", Path::new("peer.log").display()))
    })
}

/// Its stderr after the readiness line and the help hint.
fn terminal(peer: &mut Peer) -> Vec<String> {
    // The start-up lines are printed, not logged: readiness, the help hint, the API's URL.
    peer.process()
        .log()
        .lines()
        .into_iter()
        .skip(2)
        .filter(|l| !l.starts_with("web page and API on http://"))
        .collect()
}

#[test]
fn the_terminal_gets_no_info_noise_while_the_log_file_gets_it_all() {
    let tracker = Tracker::start(TrackerConfig::default());
    let first = Peer::start("calm1", PeerConfig::with_tracker(tracker.port()));
    first.wait_ready();
    let mut second = Peer::start("calm2", PeerConfig::with_tracker(tracker.port()));
    second.wait_ready();
    // The tracker's list names the first peer: an INFO line of the node, for the file only.
    let line = wait_in_file(&second, "peer list from the tracker");
    assert!(line.contains("INFO"), "{line}");
    wait_in_file(&second, "registered with the tracker");

    let hint = second.process().log().lines()[1].clone();
    assert!(
        hint.contains("type help for commands") && hint.contains("peer.log"),
        "second line: {hint}"
    );
    let shown = terminal(&mut second);
    assert!(
        shown
            .iter()
            .any(|l| l.contains("registered with the tracker")),
        "a line meant for people is missing from the terminal: {shown:#?}"
    );
    for line in &shown {
        assert!(
            !line.contains("peer list from the tracker")
                && !line.contains("INFO")
                && !line.contains("votechain_peer::"),
            "log noise on the terminal: {line}"
        );
    }
}

#[test]
fn quiet_leaves_only_warnings_on_the_terminal() {
    let tracker = Tracker::start(TrackerConfig::default());
    let mut config = PeerConfig::with_tracker(tracker.port());
    config.extra = vec!["-q".into()];
    let mut peer = Peer::start("quiet", config);
    peer.wait_ready();
    wait_in_file(&peer, "registered with the tracker");
    peer.vote("alice", "Adam");
    wait_in_file(&peer, "tip");
    let shown = terminal(&mut peer);
    assert!(
        shown
            .iter()
            .all(|l| l.contains("warning:") || l.contains("error:")),
        "-q printed more than warnings: {shown:#?}"
    );
}

#[test]
fn json_log_lines_are_objects_on_the_terminal_and_in_the_file() {
    let tracker = Tracker::start(TrackerConfig::default());
    let mut config = PeerConfig::with_tracker(tracker.port());
    config.extra = vec!["--log-format".into(), "json".into()];
    let mut peer = Peer::start("json", config);
    peer.wait_ready();
    wait_in_file(&peer, "registered with the tracker");
    peer.process()
        .wait_log("the registration line", DEADLINE, |l| {
            l.contains("registered with the tracker")
        });
    let lines: Vec<String> = terminal(&mut peer)
        .into_iter()
        .chain(log_file(&peer))
        .collect();
    for line in &lines {
        let object: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(object["timestamp"].is_string(), "{line}");
        assert!(object["level"].is_string(), "{line}");
        assert!(object["fields"]["message"].is_string(), "{line}");
    }
}
