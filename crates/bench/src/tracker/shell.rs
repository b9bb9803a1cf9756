//! The real tracker shell on a thread of its own, with a current-thread runtime like the
//! binary, and the CPU time that thread has used: from `/proc/self/task/<tid>/schedstat`
//! (nanoseconds), falling back to `stat` (clock ticks), so the load generators' own cost is not
//! counted. Measurements 2 and 3 run against it.

use anyhow::{bail, Context as _};
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::thread::JoinHandle;
use votechain_tracker::{Config, Stats};

/// The tracker shell on a thread of its own, with a current-thread runtime like the binary.
pub(super) struct TrackerThread {
    /// The tracker's loopback address.
    pub(super) addr: SocketAddr,
    tid: u32,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<Stats>>>,
}

impl TrackerThread {
    /// Starts the shell with `config` on a loopback port; fails without Linux's `/proc`.
    pub(super) fn spawn(config: Config) -> anyhow::Result<TrackerThread> {
        let socket = StdUdpSocket::bind("127.0.0.1:0").context("binding the tracker")?;
        socket.set_nonblocking(true)?;
        let addr = socket.local_addr()?;
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = std::thread::Builder::new().name("tracker".into()).spawn(
            move || -> anyhow::Result<Stats> {
                let _ = tid_tx.send(thread_id());
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(async move {
                    let socket = tokio::net::UdpSocket::from_std(socket)?;
                    let shutdown = async move {
                        let _ = stopped.await;
                    };
                    Ok(votechain_tracker::run(socket, config, shutdown).await?)
                })
            },
        )?;
        let tid = tid_rx
            .recv()
            .context("tracker thread died")?
            .context("no /proc/thread-self: CPU time needs Linux")?;
        Ok(TrackerThread {
            addr,
            tid,
            stop: Some(stop),
            handle: Some(handle),
        })
    }

    /// CPU time the tracker thread has used, in nanoseconds.
    pub(super) fn cpu_ns(&self) -> anyhow::Result<u64> {
        let dir = format!("/proc/self/task/{}", self.tid);
        if let Ok(s) = std::fs::read_to_string(format!("{dir}/schedstat")) {
            if let Some(ns) = s.split_whitespace().next().and_then(|f| f.parse().ok()) {
                return Ok(ns);
            }
        }
        let stat = std::fs::read_to_string(format!("{dir}/stat"))?;
        let rest = &stat[stat.rfind(')').context("stat format")? + 2..];
        let f: Vec<u64> = rest
            .split_whitespace()
            .skip(11)
            .take(2)
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        // /proc reports in USER_HZ, 100 on Linux.
        Ok(f.iter().sum::<u64>() * 10_000_000)
    }

    /// Stops the shell and returns its counters.
    pub(super) fn stop(mut self) -> anyhow::Result<Stats> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            _ => bail!("tracker thread panicked"),
        }
    }
}

impl Drop for TrackerThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// This thread's kernel id, from the `/proc/thread-self` link (`<pid>/task/<tid>`).
fn thread_id() -> Option<u32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}
