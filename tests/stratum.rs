//! A hand-driven mining-port client for the process tests: plain `TcpStream` lines, requests
//! answered in order, notifications (`mining.set_target`, `mining.notify`) kept as they come,
//! and brute-force share search with `votechain_pool::Job`, so a test can submit exactly the
//! share it wants (accepted, duplicate, low, wrong prefix, stale).

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use votechain_pool::wire::{decode_server_line, nonce_hex, ServerLine};
use votechain_pool::{Job, PREFIX_BITS};

/// A job as notified: its id, the job and whether it was clean.
#[derive(Debug, Clone)]
pub struct Notified {
    /// The wire id, to quote in submits.
    pub job_id: String,
    /// The job.
    pub job: Job,
    /// True when it made every older job stale.
    pub clean: bool,
}

/// One connection to a mining port.
pub struct StratumClient {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    next_id: u64,
    /// The session's nonce prefix, once subscribed.
    pub prefix: u16,
    /// The share target, from the last `mining.set_target`.
    pub share_bits: u32,
    /// Jobs notified, oldest first.
    pub jobs: Vec<Notified>,
}

impl StratumClient {
    /// Connects to `port`.
    pub fn connect(port: SocketAddr) -> StratumClient {
        let stream = TcpStream::connect(port).unwrap_or_else(|e| panic!("connect {port}: {e}"));
        stream.set_nodelay(true).ok();
        let reader = BufReader::new(stream.try_clone().expect("clone the stream"));
        StratumClient {
            writer: stream,
            reader,
            next_id: 1,
            prefix: 0,
            share_bits: 0,
            jobs: Vec::new(),
        }
    }

    /// Writes one raw line (a newline is added).
    pub fn send_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(line)?;
        self.writer.write_all(b"\n")
    }

    /// The next line within `timeout`, or `None` (timeout or closed). Notifications are kept.
    pub fn next_line(&mut self, timeout: Duration) -> Option<String> {
        self.writer
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .ok();
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => {
                let line = line.trim_end().to_owned();
                match decode_server_line(&line) {
                    Ok(ServerLine::SetTarget { share_bits }) => self.share_bits = share_bits,
                    Ok(ServerLine::Notify { job_id, job, clean }) => {
                        self.jobs.push(Notified { job_id, job, clean })
                    }
                    _ => {}
                }
                Some(line)
            }
        }
    }

    /// True once the peer closed the connection (reads end) within `timeout`.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            self.writer
                .set_read_timeout(Some(Duration::from_millis(200)))
                .ok();
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
                Err(_) => return true,
            }
        }
        false
    }

    /// Sends a request and returns its response (`Ok(result)` or `Err(code)`), keeping the
    /// notifications that come before it.
    pub fn request(&mut self, method: &str, params: Value) -> Result<Value, u64> {
        let id = self.next_id;
        self.next_id += 1;
        let line = json!({"id": id, "method": method, "params": params}).to_string();
        self.send_line(line.as_bytes()).expect("write a request");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .next_line(left)
                .unwrap_or_else(|| panic!("no answer to {method} (id {id})"));
            let value: Value = serde_json::from_str(&line).expect("a JSON line");
            if value["id"].as_u64() != Some(id) {
                continue;
            }
            return match value["error"].as_array() {
                Some(error) => Err(error[0].as_u64().unwrap_or(0)),
                None => Ok(value["result"].clone()),
            };
        }
    }

    /// `mining.subscribe` then `mining.authorize` as `name` with `token`.
    pub fn login(&mut self, name: &str, token: Option<&str>) -> Result<(), u64> {
        let result = self.request("mining.subscribe", json!(["votechain-tests"]))?;
        let prefix = result[1].as_str().expect("a prefix");
        self.prefix = u16::from_str_radix(prefix, 16).expect("a hex prefix");
        self.request("mining.authorize", json!([name, token]))?;
        Ok(())
    }

    /// Reads lines until a job satisfying `pred` is notified; returns it.
    pub fn wait_job(&mut self, timeout: Duration, pred: impl Fn(&Notified) -> bool) -> Notified {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(job) = self.jobs.iter().rev().find(|j| pred(j)) {
                return job.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no such job notified; jobs {:?}",
                self.jobs
            );
            self.next_line(left);
        }
    }

    /// `mining.submit` of `nonce` for `job_id`.
    pub fn submit(&mut self, job_id: &str, nonce: u64) -> Result<Value, u64> {
        self.request("mining.submit", json!(["w", job_id, nonce_hex(nonce)]))
    }
}

/// The first nonce with `prefix`, from counter `from` on, whose hash meets `bits` and, when
/// `below` is given, does not meet `below` (a share that is not a block).
pub fn find_nonce(job: &Job, prefix: u16, from: u64, bits: u32, below: Option<u32>) -> u64 {
    let shift = job.kind().nonce_bits() - PREFIX_BITS;
    let base = u64::from(prefix) << shift;
    (from..1 << shift)
        .map(|counter| base | counter)
        .find(|&nonce| {
            let state = job.state_for(nonce);
            job.meets(&state, bits) && below.is_none_or(|b| !job.meets(&state, b))
        })
        .expect("a nonce in the session's space")
}
