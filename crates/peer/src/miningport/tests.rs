//! The mining port over real TCP on 127.0.0.1: handshakes, shares and found blocks, publish and
//! withdraw, the token, hostile clients (oversized lines, garbage, too many connections,
//! silence, a client that never reads) and shutdown. Every wait is a read or a poll with a
//! generous deadline.

use super::*;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::timeout;
use votechain_chain::hash::sha256;
use votechain_chain::header::BlockHeader;
use votechain_pool::wire::{decode_server_line, nonce_hex, ServerLine};
use votechain_pool::{VardiffConfig, PREFIX_BITS};
use votechain_sansio::ratelimit::Rate;

/// How long any single wait may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(20);

/// Share targets pinned at 4 bits, submits effectively unlimited.
fn config() -> MiningPortConfig {
    MiningPortConfig {
        pool: PoolConfig {
            submit_rate: Rate {
                per_s: 10_000,
                burst: 10_000,
            },
            vardiff: VardiffConfig {
                initial_bits: 4,
                min_bits: 4,
                max_bits: 4,
                goal_per_min: 60,
                window_ms: 3_600_000,
            },
            ..PoolConfig::default()
        },
        ..MiningPortConfig::default()
    }
}

async fn start(config: MiningPortConfig) -> (MiningPort, mpsc::UnboundedReceiver<FoundShare>) {
    MiningPort::bind(config)
        .await
        .expect("the mining port binds")
}

/// A native job of a real header at `block_bits`.
fn job(block_bits: u32, height: u64) -> Job {
    Job::native(&BlockHeader {
        version: 1,
        difficulty: block_bits,
        vote_count: 1,
        height,
        timestamp_ms: 1_700_000_000_000,
        prev: sha256(&[b"prev"]),
        payload_root: sha256(&[b"root"]),
        miner_hash: sha256(&[b"pool"]),
        nonce: 0,
    })
}

/// The first nonce with `prefix`, from `counter` on, whose hash meets `bits` (and, with
/// `miss`, does not meet `miss`): brute force, as a miner does.
fn mine(job: &Job, prefix: u16, bits: u32, miss: Option<u32>, mut counter: u64) -> u64 {
    let shift = job.kind().nonce_bits() - PREFIX_BITS;
    loop {
        let nonce = (u64::from(prefix) << shift) | counter;
        let state = job.state_for(nonce);
        if job.meets(&state, bits) && miss.is_none_or(|m| !job.meets(&state, m)) {
            return nonce;
        }
        counter += 1;
    }
}

/// A line client that remembers its prefix, share target and latest job.
struct Client {
    read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
    prefix: u16,
    share_bits: u32,
    job: Option<(String, Job)>,
    next_id: u64,
}

type Answer = Result<Value, (u32, String)>;

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let stream = timeout(DEADLINE, TcpStream::connect(addr))
            .await
            .expect("connected in time")
            .expect("connected");
        Client::over(stream)
    }

    /// A client whose socket buffers little of what it does not read (no autotuning).
    async fn connect_with_small_window(addr: SocketAddr) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket.set_recv_buffer_size(16 * 1024).expect("buffer size");
        let stream = timeout(DEADLINE, socket.connect(addr))
            .await
            .expect("connected in time")
            .expect("connected");
        Client::over(stream)
    }

    fn over(stream: TcpStream) -> Client {
        let (read, write) = stream.into_split();
        Client {
            read: BufReader::new(read),
            write,
            prefix: 0,
            share_bits: 0,
            job: None,
            next_id: 0,
        }
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.write.write_all(bytes).await.expect("written");
    }

    async fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\n").as_bytes()).await;
    }

    /// The next line, `None` when the server closed the connection.
    async fn line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        match timeout(DEADLINE, self.read.read_until(b'\n', &mut buf)).await {
            Err(_) => panic!("no line from the server within {DEADLINE:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => None,
            Ok(Ok(_)) => Some(String::from_utf8(buf).expect("UTF-8").trim_end().to_owned()),
        }
    }

    /// The next line read back; the target and the job are remembered.
    async fn next(&mut self) -> Option<ServerLine> {
        let line = self.line().await?;
        let parsed = decode_server_line(&line).expect("a pool line");
        match &parsed {
            ServerLine::SetTarget { share_bits } => self.share_bits = *share_bits,
            ServerLine::Notify { job_id, job, .. } => {
                self.job = Some((job_id.clone(), job.clone()))
            }
            ServerLine::Response { .. } => {}
        }
        Some(parsed)
    }

    /// Reads on to the next response.
    async fn response(&mut self) -> Answer {
        loop {
            match self.next().await {
                Some(ServerLine::Response { result, .. }) => return result,
                Some(_) => {}
                None => panic!("the server closed before answering"),
            }
        }
    }

    async fn request(&mut self, method: &str, params: Value) -> Answer {
        self.next_id += 1;
        let line = json!({"id": self.next_id, "method": method, "params": params});
        self.send(&line.to_string()).await;
        self.response().await
    }

    /// Subscribes and authorizes as `name`; the authorize answer.
    async fn join(&mut self, name: &str, token: Option<&str>) -> Answer {
        let sub = self
            .request("mining.subscribe", json!(["test"]))
            .await
            .expect("subscribed");
        self.prefix = u16::from_str_radix(sub[1].as_str().unwrap_or(""), 16).expect("a prefix");
        self.request("mining.authorize", json!([name, token])).await
    }

    async fn submit(&mut self, job_id: &str, nonce: u64) -> Answer {
        let params = json!(["w", job_id, nonce_hex(nonce)]);
        self.request("mining.submit", params).await
    }

    /// Reads on to the next notify: its job id and whether it is clean.
    async fn notify(&mut self) -> (String, bool) {
        loop {
            match self.next().await {
                Some(ServerLine::Notify { job_id, clean, .. }) => return (job_id, clean),
                Some(_) => {}
                None => panic!("the server closed before a notify"),
            }
        }
    }

    /// The lines the server sent before closing the connection, or `None` if it did not close
    /// it within the deadline.
    async fn until_closed(&mut self) -> Option<Vec<String>> {
        let mut lines = Vec::new();
        loop {
            let mut buf = Vec::new();
            match timeout(DEADLINE, self.read.read_until(b'\n', &mut buf)).await {
                Err(_) => return None,
                Ok(Ok(0)) | Ok(Err(_)) => return Some(lines),
                Ok(Ok(_)) => lines.push(String::from_utf8_lossy(&buf).trim_end().to_owned()),
            }
        }
    }
}

/// Polls `port`'s snapshot until `ready` holds; panics after the deadline.
async fn until(port: &MiningPort, ready: impl Fn(&PoolSnapshot) -> bool) -> PoolSnapshot {
    let give_up = tokio::time::Instant::now() + DEADLINE;
    loop {
        let snapshot = port.snapshot();
        if ready(&snapshot) {
            return snapshot;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "condition not met: {snapshot:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn code(answer: Answer) -> Option<u32> {
    answer.err().map(|(code, _)| code)
}

#[tokio::test]
async fn subscribe_and_authorize_get_the_target_and_the_current_job() {
    let (port, _found) = start(config()).await;
    port.publish(1, job(40, 5), true);
    let mut miner = Client::connect(port.local_addr()).await;
    assert_eq!(miner.join("alice", None).await, Ok(json!(true)));
    assert_eq!(
        miner.next().await,
        Some(ServerLine::SetTarget { share_bits: 4 })
    );
    let Some(ServerLine::Notify {
        job: got, clean, ..
    }) = miner.next().await
    else {
        panic!("no notify after authorize");
    };
    assert!(clean);
    assert_eq!(got, job(40, 5));
    let snapshot = port.snapshot();
    assert_eq!(snapshot.connections, 1);
    assert_eq!(snapshot.stats.miners, 1);
    assert_eq!(snapshot.miners[0].name, "alice");
}

#[tokio::test]
async fn shares_are_accepted_and_a_block_comes_out_with_its_tag() {
    let (port, mut found) = start(config()).await;
    let mut miner = Client::connect(port.local_addr()).await;
    assert_eq!(miner.join("alice", None).await, Ok(json!(true)));
    // Two valid jobs under different tags; the block is found in the older one.
    let (block_job, other_job) = (job(12, 5), job(40, 6));
    port.publish(7, block_job.clone(), true);
    port.publish(8, other_job.clone(), false);
    let (block_id, clean) = miner.notify().await;
    assert!(clean);
    let (other_id, clean) = miner.notify().await;
    assert!(!clean);
    assert_eq!(miner.share_bits, 4);
    let prefix = miner.prefix;
    let share = mine(&block_job, prefix, 4, Some(12), 0);
    assert_eq!(miner.submit(&block_id, share).await, Ok(json!(true)));
    assert!(found.try_recv().is_err(), "a share alone is no block");
    let block = mine(&block_job, prefix, 12, None, 0);
    assert_eq!(miner.submit(&block_id, block).await, Ok(json!(true)));
    let got = timeout(DEADLINE, found.recv())
        .await
        .expect("found in time");
    assert_eq!(
        got,
        Some(FoundShare {
            tag: 7,
            nonce: block,
            miner: "alice".into()
        })
    );
    let share = mine(&other_job, prefix, 4, None, 0);
    assert_eq!(miner.submit(&other_id, share).await, Ok(json!(true)));
    assert!(found.try_recv().is_err());
    let snapshot = port.snapshot();
    assert_eq!(snapshot.stats.shares.accepted, 3);
    assert_eq!(snapshot.stats.blocks_found, 1);
    assert_eq!(snapshot.miners[0].accepted, 3);
    assert!(snapshot.hashrate() > 0.0);
}

#[tokio::test]
async fn a_clean_publish_reaches_every_miner() {
    let (port, _found) = start(config()).await;
    let mut miners = Vec::new();
    for i in 0..5 {
        let mut miner = Client::connect(port.local_addr()).await;
        assert_eq!(miner.join(&format!("m{i}"), None).await, Ok(json!(true)));
        miners.push(miner);
    }
    port.publish(1, job(40, 5), true);
    port.publish(2, job(40, 6), true);
    let mut ids = Vec::new();
    for miner in &mut miners {
        miner.notify().await;
        let (id, clean) = miner.notify().await;
        assert!(clean);
        assert_eq!(miner.job.as_ref().map(|(_, j)| j.height()), Some(6));
        ids.push(id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every miner got the same job");
}

#[tokio::test]
async fn withdraw_makes_shares_stale_and_keeps_the_miners() {
    let (port, _found) = start(config()).await;
    port.publish(1, job(40, 5), true);
    let mut miner = Client::connect(port.local_addr()).await;
    assert_eq!(miner.join("alice", None).await, Ok(json!(true)));
    let (job_id, _) = miner.notify().await;
    port.withdraw();
    let share = mine(&job(40, 5), miner.prefix, 4, None, 0);
    assert_eq!(code(miner.submit(&job_id, share).await), Some(21));
    assert_eq!(port.snapshot().stats.shares.stale, 1);
    // Still connected and authorized: the next job reaches it and its shares count.
    port.publish(2, job(40, 6), true);
    let (job_id, _) = miner.notify().await;
    let share = mine(&job(40, 6), miner.prefix, 4, None, 0);
    assert_eq!(miner.submit(&job_id, share).await, Ok(json!(true)));
}

#[tokio::test]
async fn a_configured_token_is_required() {
    let mut config = config();
    config.pool.token = Some("secret".into());
    let (port, _found) = start(config).await;
    let mut miner = Client::connect(port.local_addr()).await;
    assert_eq!(code(miner.join("alice", None).await), Some(24));
    assert_eq!(code(miner.join("alice", Some("guess")).await), Some(24));
    assert_eq!(port.snapshot().stats.miners, 0);
    assert_eq!(miner.join("alice", Some("secret")).await, Ok(json!(true)));
    assert_eq!(port.snapshot().stats.miners, 1);
}

#[tokio::test]
async fn an_oversized_line_gets_one_error_then_the_connection_closes() {
    let (port, _found) = start(config()).await;
    let mut finished = Client::connect(port.local_addr()).await;
    let mut long = vec![b'x'; wire::MAX_LINE + 1];
    long.push(b'\n');
    finished.send_raw(&long).await;
    // And one that never ends, longer than a read.
    let mut endless = Client::connect(port.local_addr()).await;
    endless.send_raw(&[b'{'; 3 * wire::MAX_LINE]).await;
    for client in [&mut finished, &mut endless] {
        let lines = client.until_closed().await.expect("closed");
        assert_eq!(lines.len(), 1, "{lines:?}");
        let Ok(ServerLine::Response { id, result }) = decode_server_line(&lines[0]) else {
            panic!("not a response: {lines:?}");
        };
        assert_eq!((id, result.err().map(|e| e.0)), (None, Some(20)));
    }
    let snapshot = until(&port, |s| s.connections == 0).await;
    assert_eq!(snapshot.oversized_lines, 2);
    // A line exactly at the cap is read (and, not being JSON, answered with code 20).
    let mut at_cap = Client::connect(port.local_addr()).await;
    at_cap.send(&"y".repeat(wire::MAX_LINE)).await;
    assert_eq!(code(at_cap.response().await), Some(20));
    assert_eq!(port.snapshot().oversized_lines, 2);
}

#[tokio::test]
async fn garbage_lines_are_each_answered_and_the_connection_stays() {
    let (port, _found) = start(config()).await;
    let mut client = Client::connect(port.local_addr()).await;
    let garbage: [&[u8]; 5] = [
        b"\x00\xff\xfe\x01 binary",
        b"\xc3\x28 not UTF-8",
        b"\x1b[31m not JSON",
        b"{\"id\":1,\"method\":\"mining.subscribe\"",
        b"",
    ];
    for line in garbage {
        client.send_raw(&[line, b"\n"].concat()).await;
    }
    for _ in garbage {
        assert_eq!(code(client.response().await), Some(20));
    }
    // A CR-LF line is read without its CR.
    client
        .send_raw(b"{\"id\":3,\"method\":\"mining.subscribe\"}\r\n")
        .await;
    assert!(client.response().await.is_ok());
    let snapshot = port.snapshot();
    assert_eq!(snapshot.connections, 1);
    assert_eq!(snapshot.stats.malformed_lines, 5);
}

#[tokio::test]
async fn connections_over_the_cap_are_refused_and_counted() {
    let (port, _found) = start(MiningPortConfig {
        max_connections: 3,
        ..config()
    })
    .await;
    let mut open = Vec::new();
    for i in 0..3 {
        let mut miner = Client::connect(port.local_addr()).await;
        assert_eq!(miner.join(&format!("m{i}"), None).await, Ok(json!(true)));
        open.push(miner);
    }
    let mut refused = Client::connect(port.local_addr()).await;
    let lines = refused.until_closed().await.expect("closed");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("[20,"), "{lines:?}");
    let snapshot = port.snapshot();
    assert_eq!((snapshot.connections, snapshot.refused_connections), (3, 1));
    // A slot freed is a slot to use.
    drop(open.pop());
    until(&port, |s| s.connections == 2).await;
    let mut next = Client::connect(port.local_addr()).await;
    assert_eq!(next.join("next", None).await, Ok(json!(true)));
    assert_eq!(port.snapshot().refused_connections, 1);
}

#[tokio::test]
async fn silent_and_trickling_clients_are_closed_by_their_timeouts() {
    let (port, _found) = start(MiningPortConfig {
        handshake_timeout: Duration::from_millis(200),
        line_timeout: Duration::from_millis(200),
        ..config()
    })
    .await;
    let mut miner = Client::connect(port.local_addr()).await;
    assert_eq!(miner.join("alice", None).await, Ok(json!(true)));
    let mut silent = Client::connect(port.local_addr()).await;
    let mut trickling = Client::connect(port.local_addr()).await;
    assert_eq!(trickling.join("slowloris", None).await, Ok(json!(true)));
    trickling.send_raw(b"{\"id\":9,").await;
    assert_eq!(silent.until_closed().await, Some(vec![]));
    assert!(trickling.until_closed().await.is_some());
    let snapshot = until(&port, |s| s.connections == 1).await;
    assert_eq!(snapshot.timed_out, 2);
    // The miner that finished its handshake in time is still served.
    let share = mine(&job(40, 5), miner.prefix, 4, None, 0);
    assert_eq!(code(miner.submit("1", share).await), Some(21));
}

#[tokio::test]
async fn a_miner_without_work_may_be_silent_and_one_with_work_may_not() {
    let (port, _found) = start(MiningPortConfig {
        idle_timeout: Duration::from_millis(200),
        ..config()
    })
    .await;
    let mut quiet = Client::connect(port.local_addr()).await;
    assert_eq!(quiet.join("quiet", None).await, Ok(json!(true)));
    let mut talker = Client::connect(port.local_addr()).await;
    assert_eq!(talker.join("talker", None).await, Ok(json!(true)));
    // Several idle timeouts pass with no job: nobody is closed.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(code(talker.submit("1", 0).await), Some(21), "no job yet");
    }
    assert_eq!(
        port.snapshot().connections,
        2,
        "silence without work is fine"
    );
    // With work, silence closes the connection.
    port.publish(1, job(40, 5), true);
    assert!(quiet.until_closed().await.is_some());
    until(&port, |s| s.timed_out >= 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_closed_when_its_queue_fills() {
    // Writes may stall for an hour: only the full queue can close the slow reader.
    let config = MiningPortConfig {
        write_queue: 32,
        line_timeout: Duration::from_secs(3_600),
        ..config()
    };
    never_reading_client_is_closed(config, u64::MAX).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_closed_when_its_writes_stall() {
    // 40,000 notifies (about 15 MB) are far more than the socket buffers hold, and fewer than
    // the queue does: only the stalled writes can close the slow reader.
    let config = MiningPortConfig {
        write_queue: 100_000,
        line_timeout: Duration::from_millis(300),
        ..config()
    };
    never_reading_client_is_closed(config, 40_000).await;
}

/// A miner that never reads while up to `jobs` jobs are published is closed and counted as a
/// slow reader, and a miner that reads along is served throughout.
async fn never_reading_client_is_closed(config: MiningPortConfig, jobs: u64) {
    let (port, _found) = start(config).await;
    let mut slow = Client::connect_with_small_window(port.local_addr()).await;
    assert_eq!(slow.join("slow", None).await, Ok(json!(true)));
    let mut good = Client::connect(port.local_addr()).await;
    assert_eq!(good.join("good", None).await, Ok(json!(true)));
    // The good miner reads everything in its own task and reports the heights it sees, until
    // the final job at height 0.
    let (seen_tx, mut seen) = tokio::sync::watch::channel(0u64);
    let reader = tokio::spawn(async move {
        loop {
            good.notify().await;
            let height = good.job.as_ref().map_or(0, |(_, j)| j.height());
            if height == 0 {
                return good;
            }
            let _ = seen_tx.send(height);
        }
    });
    // Publish in small batches, each read by the good miner before the next, so only the
    // miner that never reads can fall behind.
    let mut height = 0;
    let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
    while port.snapshot().dropped_slow == 0 && height < jobs {
        assert!(tokio::time::Instant::now() < give_up, "never dropped");
        for _ in 0..8 {
            height += 1;
            port.publish(height, job(40, height), false);
        }
        timeout(DEADLINE, seen.wait_for(|&h| h >= height))
            .await
            .expect("the good miner keeps up")
            .expect("the good miner's task runs");
    }
    until(&port, |s| s.dropped_slow > 0).await;
    port.publish(0, job(40, 0), true);
    let mut good = timeout(DEADLINE, reader)
        .await
        .expect("the good miner got the last job")
        .expect("the good miner's task ended well");
    assert!(
        slow.until_closed().await.is_some(),
        "the slow reader is closed"
    );
    let snapshot = until(&port, |s| s.connections == 1).await;
    assert_eq!(snapshot.dropped_slow, 1);
    assert_eq!(snapshot.stats.miners, 1);
    // The server still answers, and the good miner still mines.
    let (job_id, last) = good.job.clone().expect("a job");
    let share = mine(&last, good.prefix, 4, None, 0);
    assert_eq!(good.submit(&job_id, share).await, Ok(json!(true)));
}

#[tokio::test]
async fn shutdown_closes_every_connection() {
    let (port, _found) = start(config()).await;
    let addr = port.local_addr();
    let mut clients = Vec::new();
    for i in 0..3 {
        let mut miner = Client::connect(addr).await;
        if i > 0 {
            assert_eq!(miner.join("m", None).await, Ok(json!(true)));
        }
        clients.push(miner);
    }
    until(&port, |s| s.connections == 3).await;
    timeout(DEADLINE, port.shutdown())
        .await
        .expect("shut down in time");
    for client in &mut clients {
        assert!(client.until_closed().await.is_some(), "closed by shutdown");
    }
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}
