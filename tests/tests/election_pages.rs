//! Issue 12, the one-command election's web pages: `election` prints each peer's page address
//! before anything else and every peer answers `GET /api/status` there with the election's
//! title; `election --open` where no browser can be opened (`$BROWSER` is `/bin/false`) says so
//! in a sentence and the election runs on; `--no-http` prints no page.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use votechain_tests::binaries::bin;
use votechain_tests::process::Process;
use votechain_tests::{wait_until, DEADLINE};

/// The election's title in these tests.
const TITLE: &str = "Pages test";

/// `GET path`: the status and the JSON body, or why there is none (yet).
fn get(addr: SocketAddr, path: &str) -> Result<(u16, Value), String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(head.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut raw = String::new();
    stream
        .read_to_string(&mut raw)
        .map_err(|e| format!("read: {e}"))?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no HTTP response: {raw:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status in {head:?}"))?;
    let json = serde_json::from_str(body).map_err(|e| format!("{body:?}: {e}"))?;
    Ok((status, json))
}

/// Starts an election of `peers` peers with `extra` arguments and environment `env`.
fn election(peers: u16, extra: &[&str], env: &[(&str, String)]) -> Process {
    let mut args: Vec<String> = ["--peers", &peers.to_string(), "--difficulty", "8"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(["--title".to_owned(), TITLE.to_owned()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    Process::spawn("election", None, &bin("election"), &args, env)
}

/// Reads the page lines the election prints first, one per peer in order (each may be followed
/// by a sentence saying its port was taken), and their addresses.
fn page_addresses(election: &mut Process, peers: u16) -> Vec<SocketAddr> {
    let mut pages = Vec::new();
    while pages.len() < usize::from(peers) {
        let n = pages.len() + 1;
        let line = election.wait_stdout(&format!("peer {n}'s page"), DEADLINE, |_| true);
        let noted = n > 1 && line.starts_with(&format!("peer {}: HTTP port ", n - 1));
        if noted {
            continue;
        }
        let prefix = format!("peer {n}: web page on http://");
        let rest = line
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{line:?} is not peer {n}'s page, which comes first"));
        let addr: SocketAddr = rest
            .trim_end_matches('/')
            .parse()
            .unwrap_or_else(|e| panic!("{line:?} names no address: {e}"));
        pages.push(addr);
    }
    pages
}

/// Waits until the peer at `addr` answers its status with the election's title.
fn wait_title(addr: SocketAddr) {
    wait_until(&format!("{addr} to know the election"), DEADLINE, || {
        let (status, body) = get(addr, "/api/status")?;
        match (status, body["election"]["title"].as_str()) {
            (200, Some(TITLE)) => Ok(()),
            _ => Err(format!("{status} {body}")),
        }
    });
}

#[test]
fn every_peer_of_an_election_serves_its_page_and_the_addresses_come_first() {
    let mut election = election(3, &[], &[]);
    let pages = page_addresses(&mut election, 3);
    let mut distinct = pages.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "one address per peer: {pages:?}");
    for addr in &pages {
        assert!(addr.ip().is_loopback(), "{addr}");
        wait_title(*addr);
    }
    election.interrupt();
    assert!(election.wait_exit(DEADLINE).success());
    for addr in pages {
        assert!(
            TcpStream::connect(addr).is_err(),
            "{addr} stopped serving with the election"
        );
    }
}

#[test]
fn open_without_a_browser_says_so_and_the_election_runs_on() {
    let env = [
        ("BROWSER", "/bin/false".to_owned()),
        ("CI", "false".to_owned()),
    ];
    let mut election = election(1, &["--open"], &env);
    let pages = page_addresses(&mut election, 1);
    let said = election.wait_stdout("the sentence about the browser", DEADLINE, |l| {
        l.starts_with("Cannot open a browser here: ")
    });
    assert!(
        said.contains("/bin/false")
            && said.ends_with(&format!("The web page is at http://{}/.", pages[0])),
        "{said:?}"
    );
    wait_title(pages[0]);
    election.type_line("tally");
    election.wait_stdout("peer 1's tally", DEADLINE, |l| l == "[peer 1] Adam 0");
    election.interrupt();
    assert!(election.wait_exit(DEADLINE).success());
}

#[test]
fn no_http_serves_no_page() {
    let mut election = election(1, &["--no-http"], &[]);
    let first = election.wait_stdout("the first line", DEADLINE, |_| true);
    assert!(
        first.starts_with(&format!("local election \"{TITLE}\"")),
        "{first:?}"
    );
    election.interrupt();
    assert!(election.wait_exit(DEADLINE).success());
}
