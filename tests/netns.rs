//! Network namespaces for tests that need real, distinct addresses and a lossy network: a
//! [`Lab`] is a private bridge with namespaces attached to it, each with its own address on
//! 10.77.x.0/24 (no route off the bridge, so nothing leaves the machine) and, optionally, an
//! nftables rule in it dropping a share of incoming UDP at random. Processes are started in a
//! namespace with [`crate::process::Process::spawn`] (through `ip netns exec`, which execs the
//! program itself, so killing the process kills the program).
//!
//! It needs root, `ip` with netns support and `nft`; [`unsupported`] says why a machine lacks
//! one, so a test can print it and return. `.ci/run` installs nftables when it runs as root.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Why this machine cannot run namespaces with nftables, if it cannot.
pub fn unsupported() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned));
    if uid.as_deref() != Some("0") {
        return Some("not running as root (network namespaces need CAP_SYS_ADMIN)".into());
    }
    if !runs("nft", &["--version"]) {
        return Some("`nft` is missing (apt-get install nftables)".into());
    }
    if !runs("ip", &["-V"]) {
        return Some("`ip` is missing (apt-get install iproute2)".into());
    }
    let probe = format!("vcprobe{}", std::process::id());
    if !runs("ip", &["netns", "add", &probe]) {
        return Some("cannot create a network namespace here (a container without netns?)".into());
    }
    let _ = runs("ip", &["netns", "del", &probe]);
    None
}

/// `program` to be run inside the namespace `netns`.
pub(crate) fn exec(netns: &str, program: &Path) -> Command {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", netns]).arg(program);
    command
}

/// One namespace of a [`Lab`].
#[derive(Debug, Clone)]
pub struct Namespace {
    /// Its name, for [`crate::TrackerConfig::netns`] and [`crate::PeerConfig::netns`].
    pub name: String,
    /// Its address on the lab's bridge: processes in it bind this.
    pub ip: Ipv4Addr,
}

/// A bridge and the namespaces attached to it, all removed when dropped (also while a failing
/// test unwinds). Drop it after the processes running in it: declare it before them.
pub struct Lab {
    /// Makes this lab's interface and namespace names unique on the machine.
    tag: String,
    bridge: String,
    /// The third byte of every address in this lab.
    subnet: u8,
    namespaces: Vec<String>,
}

impl Lab {
    /// Creates the bridge. Panics when that fails: call [`unsupported`] first.
    pub fn create() -> Lab {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let pid = std::process::id();
        // Interface names have at most 15 bytes: "vch" + tag + "-" + index stays well below.
        let tag = format!(
            "{}{}",
            pid % 100_000,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let lab = Lab {
            bridge: format!("vcb{tag}"),
            tag,
            subnet: u8::try_from(pid % 250).expect("below 250"),
            namespaces: Vec::new(),
        };
        sh("ip", &["link", "add", &lab.bridge, "type", "bridge"]);
        sh("ip", &["link", "set", &lab.bridge, "up"]);
        lab
    }

    /// A new namespace with the next address on a veth pair into the bridge, dropping
    /// `udp_loss_percent` % of incoming UDP datagrams at random.
    pub fn add_namespace(&mut self, udp_loss_percent: u8) -> Namespace {
        let i = self.namespaces.len() + 1;
        let ip = Ipv4Addr::new(10, 77, self.subnet, u8::try_from(i).expect("at most 254"));
        let tag = &self.tag;
        let name = format!("vc{tag}-{i}");
        sh("ip", &["netns", "add", &name]);
        self.namespaces.push(name.clone());
        let host = format!("vch{tag}-{i}");
        let inner = format!("vci{tag}-{i}");
        sh(
            "ip",
            &["link", "add", &host, "type", "veth", "peer", "name", &inner],
        );
        sh("ip", &["link", "set", &inner, "netns", &name]);
        sh("ip", &["link", "set", &host, "master", &self.bridge]);
        sh("ip", &["link", "set", &host, "up"]);
        let cidr = format!("{ip}/24");
        sh("ip", &["-n", &name, "addr", "add", &cidr, "dev", &inner]);
        sh("ip", &["-n", &name, "link", "set", &inner, "up"]);
        sh("ip", &["-n", &name, "link", "set", "lo", "up"]);
        let rules = format!(
            "table inet vcloss {{\n  chain input {{\n    type filter hook input priority 0; policy accept;\n    meta l4proto udp numgen random mod 100 < {udp_loss_percent} drop\n  }}\n}}\n"
        );
        let mut nft = exec(&name, Path::new("nft"))
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("nft runs");
        nft.stdin
            .take()
            .expect("piped")
            .write_all(rules.as_bytes())
            .expect("nft reads its rules");
        assert!(nft.wait().is_ok_and(|s| s.success()), "nft rules refused");
        Namespace { name, ip }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // A namespace outlives its name while a process runs in it; its veth pair goes with it.
        for ns in &self.namespaces {
            let _ = runs("ip", &["netns", "del", ns]);
        }
        let _ = runs("ip", &["link", "del", &self.bridge]);
    }
}

/// True when the command runs and succeeds.
fn runs(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs a command that must succeed.
fn sh(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
