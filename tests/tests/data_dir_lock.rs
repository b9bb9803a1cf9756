//! Two processes on one data directory (attack 11 of issue 9: both appended to one store and
//! acknowledged votes were lost): the second `peer` must refuse to start, say which directory
//! is in use, and exit with status 1, while the first keeps running.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use votechain_tests::binaries::bin;
use votechain_tests::{Peer, PeerConfig, Tracker, TrackerConfig};

#[test]
fn a_second_peer_on_the_same_data_directory_exits_1_and_says_why() {
    let tracker = Tracker::start(TrackerConfig::default());
    let mut first = Peer::start("lock-first", PeerConfig::with_tracker(tracker.port()));
    first.wait_ready();
    let dir = first.data_dir().to_owned();
    let mut second = Command::new(bin("peer"))
        .arg(tracker.port().to_string())
        .arg("0")
        .arg("--data-dir")
        .arg(&dir)
        .arg("--no-console")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn a second peer");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = second.try_wait().expect("poll the second peer") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            panic!("the second peer on a locked data directory did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("locked") && stderr.contains(&dir.display().to_string()),
        "the message names the locked directory: {stderr}"
    );
    assert!(first.process().is_running(), "the first peer is unharmed");
    assert!(first.stats().is_some(), "and still answers");
}
