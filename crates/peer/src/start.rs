//! Starting a peer: binding its UDP socket with enlarged buffers and opening its store, rebuilt
//! into a chain. Shared by the `peer` binary, the one-command election and the benchmarks, so
//! every one of them starts a peer the same way.

use crate::config::NodeConfig;
use crate::node::Node;
use crate::recover;
use anyhow::Context;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::net::SocketAddr;
use std::path::Path;
use votechain_chain::{ChainConfig, Store};

/// Receive and send buffer size asked of the kernel: the default receive buffer drops bursts.
pub const SOCKET_BUFFER: usize = 8 << 20;

/// Binds a non-blocking UDP socket at `addr` with enlarged buffers (the kernel may cap them at
/// `net.core.rmem_max`; that is logged, not fatal).
pub fn bind_udp(addr: SocketAddr) -> anyhow::Result<tokio::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    for (what, result) in [
        ("receive", socket.set_recv_buffer_size(SOCKET_BUFFER)),
        ("send", socket.set_send_buffer_size(SOCKET_BUFFER)),
    ] {
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not enlarge the {what} buffer");
        }
    }
    if let Ok(size) = socket.recv_buffer_size() {
        if size < SOCKET_BUFFER {
            tracing::debug!(
                size,
                "kernel capped the receive buffer (raise net.core.rmem_max)"
            );
        }
    }
    socket.set_nonblocking(true)?;
    socket
        .bind(&addr.into())
        .with_context(|| format!("binding {addr}"))?;
    Ok(tokio::net::UdpSocket::from_std(socket.into())?)
}

/// Opens (or creates) the store in `data_dir`, rebuilds the chain it holds, and builds the node.
pub fn open_node(
    cfg: NodeConfig,
    data_dir: &Path,
    seed: u64,
    now_ms: u64,
) -> anyhow::Result<(Node, Store)> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let path = data_dir.join("chain.log");
    let (store, recovered) =
        Store::open(&path).with_context(|| format!("opening {}", path.display()))?;
    if let Some(reason) = &recovered.cut_reason {
        tracing::warn!(
            bytes = recovered.cut_bytes,
            reason,
            "cut a torn tail off the store"
        );
    }
    let rebuilt = recover::rebuild(
        recovered.blocks,
        recovered.votes,
        ChainConfig::default(),
        now_ms,
    )
    .map_err(anyhow::Error::msg)
    .with_context(|| format!("rebuilding the chain from {}", path.display()))?;
    let chain = rebuilt.map(|(chain, report)| {
        tracing::info!(
            height = chain.height(),
            blocks = report.blocks,
            pending = report.pending,
            skipped = report.skipped,
            "resumed from disk"
        );
        chain
    });
    if cfg.tracker.is_none() && cfg.seeds.is_empty() && chain.is_none() {
        anyhow::bail!("no tracker, no seed peer and no stored chain: nothing to join");
    }
    Ok((
        Node::new(cfg, ChaCha8Rng::seed_from_u64(seed), chain),
        store,
    ))
}

/// Logs to stderr at `levels[verbose]` (the last level for anything higher); `RUST_LOG`
/// overrides. A second call is a no-op.
pub fn init_logging(verbose: u8, levels: &[&str]) {
    let default = levels[usize::from(verbose).min(levels.len() - 1)];
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour codes only for a terminal: logs piped to a file or a test stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // A second call (a benchmark starting several runs) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

/// Runs `main` on a fresh tokio runtime and turns the outcome into the exit code: 0 on success,
/// 1 on an error, which is printed once with its whole context, prefixed by `program`.
pub fn run_main<F: std::future::Future<Output = anyhow::Result<()>>>(
    program: &str,
    main: F,
) -> std::process::ExitCode {
    let result = tokio::runtime::Runtime::new()
        .context("starting the tokio runtime")
        .and_then(|runtime| runtime.block_on(main));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
