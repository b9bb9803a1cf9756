//! A UDP delay relay for benchmarks: it stands in front of a target and delays every datagram by
//! a fixed one-way delay in each direction (so a round trip costs twice the delay) without
//! limiting throughput. Each client source address gets its own upstream socket, so the target
//! sees one distinct peer per client. Datagrams wait in a timed FIFO queue per direction, drained
//! by one sending thread each; a datagram is never slept on alone.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::host::lock;
use crate::socket::{any_loopback_port, bind_udp, is_timeout, MAX_DATAGRAM, POLL};

/// Datagrams a direction may hold in flight; more are dropped.
const QUEUE_CAPACITY: usize = 100_000;
/// The most clients served at once; datagrams from more are dropped.
const MAX_CLIENTS: usize = 4096;
/// A client's upstream socket is closed after this long without traffic either way.
const CLIENT_IDLE: Duration = Duration::from_secs(10);
/// Stack of an upstream reading thread (it keeps its buffer on the heap).
const UPSTREAM_STACK: usize = 256 * 1024;

/// A FIFO of datagrams, each due a fixed delay after it was queued. Due times are taken under
/// the lock, so they never decrease along the queue.
struct DelayQueue<T> {
    /// Queued items with their due times, earliest first.
    items: Mutex<VecDeque<(Instant, T)>>,
    /// Signalled when the queue goes from empty to non-empty.
    not_empty: Condvar,
    /// Added to the queuing time to give the due time.
    delay: Duration,
}

impl<T> DelayQueue<T> {
    fn new(delay: Duration) -> DelayQueue<T> {
        DelayQueue {
            items: Mutex::new(VecDeque::new()),
            not_empty: Condvar::new(),
            delay,
        }
    }

    /// Queues `item`; false (and dropped) when the queue is full.
    fn push(&self, item: T) -> bool {
        let mut items = lock(&self.items);
        if items.len() >= QUEUE_CAPACITY {
            return false;
        }
        items.push_back((Instant::now() + self.delay, item));
        if items.len() == 1 {
            self.not_empty.notify_one();
        }
        true
    }

    /// Moves every due item into `out`, waiting at most [`POLL`] for one to fall due.
    fn take_due(&self, out: &mut Vec<T>) {
        let mut items = lock(&self.items);
        let wait = match items.front() {
            None => POLL,
            Some((due, _)) => due.saturating_duration_since(Instant::now()).min(POLL),
        };
        if !wait.is_zero() {
            items = self
                .not_empty
                .wait_timeout(items, wait)
                .map_or_else(|poisoned| poisoned.into_inner().0, |(guard, _)| guard);
        }
        let now = Instant::now();
        while items.front().is_some_and(|(due, _)| *due <= now) {
            if let Some((_, item)) = items.pop_front() {
                out.push(item);
            }
        }
    }
}

/// One client's upstream socket, connected to the target.
struct Upstream {
    socket: Arc<UdpSocket>,
    /// Last traffic either way; the reading thread closes the socket when it grows old.
    last_used: Mutex<Instant>,
}

/// What the relay's threads share.
struct RelayShared {
    /// Where clients send; replies to them leave from here.
    listen: UdpSocket,
    /// The relayed address.
    target: SocketAddr,
    /// Client → target datagrams, with the upstream socket to send each from.
    to_target: DelayQueue<(Arc<Upstream>, Vec<u8>)>,
    /// Target → client datagrams, with the client address.
    to_client: DelayQueue<(SocketAddr, Vec<u8>)>,
    /// Upstream sockets by client address.
    upstreams: Mutex<HashMap<SocketAddr, Arc<Upstream>>>,
    /// The upstream reading threads, joined on drop.
    upstream_threads: Mutex<Vec<JoinHandle<()>>>,
    /// Datagrams delivered, both directions.
    relayed: AtomicU64,
    /// Datagrams dropped for a full queue, too many clients or a send error.
    dropped: AtomicU64,
    /// Set when the relay is dropped.
    shutdown: AtomicBool,
}

/// The body of one of the relay's fixed threads.
type RelayJob = fn(&Arc<RelayShared>);

/// A running delay relay. Dropping it stops its threads and waits for them.
pub struct Relay {
    /// The listening address, where clients send.
    addr: SocketAddr,
    shared: Arc<RelayShared>,
    /// The fixed threads (client reader, two senders), joined on drop.
    threads: Vec<JoinHandle<()>>,
}

impl Relay {
    /// Starts a relay on a fresh `127.0.0.1` port in front of `target`, delaying each datagram by
    /// `one_way_delay` in each direction.
    pub fn start(target: SocketAddr, one_way_delay: Duration) -> io::Result<Relay> {
        let listen = bind_udp(any_loopback_port())?;
        let addr = listen.local_addr()?;
        let shared = Arc::new(RelayShared {
            listen,
            target,
            to_target: DelayQueue::new(one_way_delay),
            to_client: DelayQueue::new(one_way_delay),
            upstreams: Mutex::new(HashMap::new()),
            upstream_threads: Mutex::new(Vec::new()),
            relayed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            shutdown: AtomicBool::new(false),
        });
        let mut relay = Relay {
            addr,
            shared: Arc::clone(&shared),
            threads: Vec::new(),
        };
        let jobs: [(&str, RelayJob); 3] = [
            ("relay-from-clients", read_clients),
            ("relay-to-target", send_to_target),
            ("relay-to-clients", send_to_clients),
        ];
        for (name, job) in jobs {
            let shared = Arc::clone(&shared);
            relay.threads.push(
                thread::Builder::new()
                    .name(name.to_owned())
                    .spawn(move || job(&shared))?,
            );
        }
        Ok(relay)
    }

    /// Where clients send to reach the target.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Datagrams delivered so far, both directions together.
    pub fn relayed(&self) -> u64 {
        self.shared.relayed.load(Ordering::Relaxed)
    }

    /// Datagrams dropped so far (full queue, too many clients, send error).
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        // The client reader has stopped, so no upstream thread starts any more.
        let upstream_threads: Vec<JoinHandle<()>> =
            lock(&self.shared.upstream_threads).drain(..).collect();
        for thread in upstream_threads {
            let _ = thread.join();
        }
    }
}

/// Reads clients' datagrams and queues them towards the target.
fn read_clients(shared: &Arc<RelayShared>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    while !shared.shutdown.load(Ordering::SeqCst) {
        let (len, client) = match shared.listen.recv_from(&mut buf) {
            Ok(received) => received,
            Err(error) if is_timeout(&error) => continue,
            Err(_) => continue,
        };
        let queued = match upstream_for(shared, client) {
            Some(upstream) => shared.to_target.push((upstream, buf[..len].to_vec())),
            None => false,
        };
        if !queued {
            shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The upstream socket of `client`, opened (with its reading thread) on first use; `None` when
/// there are too many clients or a socket cannot be opened.
fn upstream_for(shared: &Arc<RelayShared>, client: SocketAddr) -> Option<Arc<Upstream>> {
    let mut upstreams = lock(&shared.upstreams);
    if let Some(upstream) = upstreams.get(&client) {
        *lock(&upstream.last_used) = Instant::now();
        return Some(Arc::clone(upstream));
    }
    if upstreams.len() >= MAX_CLIENTS {
        return None;
    }
    let socket = bind_udp(any_loopback_port()).ok()?;
    socket.connect(shared.target).ok()?;
    let upstream = Arc::new(Upstream {
        socket: Arc::new(socket),
        last_used: Mutex::new(Instant::now()),
    });
    let reader_shared = Arc::clone(shared);
    let reader_upstream = Arc::clone(&upstream);
    let thread = thread::Builder::new()
        .name("relay-upstream".to_owned())
        .stack_size(UPSTREAM_STACK)
        .spawn(move || read_upstream(&reader_shared, client, &reader_upstream))
        .ok()?;
    upstreams.insert(client, Arc::clone(&upstream));
    let mut threads = lock(&shared.upstream_threads);
    threads.retain(|thread| !thread.is_finished());
    threads.push(thread);
    Some(upstream)
}

/// Reads the target's datagrams for `client` and queues them back, until shutdown or until the
/// client has been idle for [`CLIENT_IDLE`].
fn read_upstream(shared: &RelayShared, client: SocketAddr, upstream: &Arc<Upstream>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    while !shared.shutdown.load(Ordering::SeqCst) {
        match upstream.socket.recv(&mut buf) {
            Ok(len) => {
                *lock(&upstream.last_used) = Instant::now();
                if !shared.to_client.push((client, buf[..len].to_vec())) {
                    shared.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(error) if is_timeout(&error) => {
                // Checked under the map lock, which the client reader holds while it renews
                // `last_used`: a socket it has just handed out is never closed.
                let mut upstreams = lock(&shared.upstreams);
                if lock(&upstream.last_used).elapsed() >= CLIENT_IDLE {
                    upstreams.remove(&client);
                    return;
                }
            }
            // A refused send (the target is down) shows up here on a connected socket.
            Err(_) => {}
        }
    }
}

/// Sends due client datagrams to the target, each from its client's upstream socket.
fn send_to_target(shared: &Arc<RelayShared>) {
    let mut due = Vec::new();
    while !shared.shutdown.load(Ordering::SeqCst) {
        shared.to_target.take_due(&mut due);
        for (upstream, bytes) in due.drain(..) {
            count_send(shared, upstream.socket.send(&bytes).is_ok());
        }
    }
}

/// Sends due target datagrams back to their clients from the listening socket.
fn send_to_clients(shared: &Arc<RelayShared>) {
    let mut due = Vec::new();
    while !shared.shutdown.load(Ordering::SeqCst) {
        shared.to_client.take_due(&mut due);
        for (client, bytes) in due.drain(..) {
            count_send(shared, shared.listen.send_to(&bytes, client).is_ok());
        }
    }
}

/// Counts one send attempt as relayed or dropped.
fn count_send(shared: &RelayShared, sent: bool) {
    let counter = if sent {
        &shared.relayed
    } else {
        &shared.dropped
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on a fresh loopback port; stops when `stop` is set.
    fn echo(stop: Arc<AtomicBool>) -> (SocketAddr, JoinHandle<()>) {
        let socket = bind_udp(any_loopback_port()).expect("bind the echo server");
        let addr = socket.local_addr().expect("the echo server's address");
        let thread = thread::spawn(move || {
            let mut buf = vec![0u8; MAX_DATAGRAM];
            while !stop.load(Ordering::SeqCst) {
                if let Ok((len, from)) = socket.recv_from(&mut buf) {
                    let _ = socket.send_to(&buf[..len], from);
                }
            }
        });
        (addr, thread)
    }

    #[test]
    fn a_round_trip_takes_twice_the_delay_and_a_thousand_datagrams_pass() {
        let stop = Arc::new(AtomicBool::new(false));
        let (target, echo_thread) = echo(Arc::clone(&stop));
        let delay = Duration::from_millis(40);
        let relay = Relay::start(target, delay).expect("start the relay");
        let client = bind_udp(any_loopback_port()).expect("bind the client");
        client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("set a read timeout");
        let mut buf = vec![0u8; MAX_DATAGRAM];

        let sent_at = Instant::now();
        client.send_to(b"ping", relay.addr()).expect("send");
        let (len, from) = client.recv_from(&mut buf).expect("the echo comes back");
        let rtt = sent_at.elapsed();
        assert_eq!(&buf[..len], b"ping");
        assert_eq!(from, relay.addr());
        assert!(rtt >= 2 * delay, "round trip {rtt:?} under twice {delay:?}");
        assert!(
            rtt < 2 * delay + Duration::from_secs(1),
            "round trip {rtt:?}"
        );

        // A burst far faster than the delay: all of it is in flight at once.
        let burst_started = Instant::now();
        for i in 0..1000u32 {
            client
                .send_to(&i.to_be_bytes(), relay.addr())
                .expect("send");
        }
        let mut seen = vec![false; 1000];
        for _ in 0..1000 {
            let (len, _) = client
                .recv_from(&mut buf)
                .expect("every datagram comes back");
            let index = u32::from_be_bytes(buf[..len].try_into().expect("4 bytes")) as usize;
            seen[index] = true;
        }
        assert!(seen.iter().all(|seen| *seen));
        // Serialised delays would take 1000 × 80 ms; a timed queue takes about one round trip.
        assert!(
            burst_started.elapsed() < Duration::from_secs(5),
            "{:?}",
            burst_started.elapsed()
        );
        // The sender counts a datagram just after sending it, so the count may trail a little.
        let deadline = Instant::now() + Duration::from_secs(2);
        while relay.relayed() < 2 * 1001 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(relay.relayed(), 2 * 1001);
        assert_eq!(relay.dropped(), 0);

        drop(relay);
        stop.store(true, Ordering::SeqCst);
        echo_thread.join().expect("the echo server stops");
    }

    #[test]
    fn each_client_gets_its_own_upstream_port() {
        let stop = Arc::new(AtomicBool::new(false));
        let (target, echo_thread) = echo(Arc::clone(&stop));
        let relay = Relay::start(target, Duration::from_millis(1)).expect("start the relay");
        let mut sources = Vec::new();
        for _ in 0..2 {
            let client = bind_udp(any_loopback_port()).expect("bind a client");
            client
                .set_read_timeout(Some(Duration::from_secs(2)))
                .expect("set a read timeout");
            client.send_to(b"x", relay.addr()).expect("send");
            let mut buf = [0u8; 16];
            client.recv_from(&mut buf).expect("the echo comes back");
            sources.push(client.local_addr().expect("address"));
        }
        let upstream_ports: Vec<u16> = sources
            .iter()
            .map(|client| {
                lock(&relay.shared.upstreams)
                    .get(client)
                    .and_then(|upstream| upstream.socket.local_addr().ok())
                    .map(|addr| addr.port())
                    .expect("an upstream per client")
            })
            .collect();
        assert_ne!(upstream_ports[0], upstream_ports[1]);
        drop(relay);
        stop.store(true, Ordering::SeqCst);
        echo_thread.join().expect("the echo server stops");
    }
}
