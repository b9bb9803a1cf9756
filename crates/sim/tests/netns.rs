//! Real binaries on real addresses: the tracker and each peer in a network namespace of its own,
//! with its own address on a private bridge (10.77.x.0/24, created and removed by this test, with
//! no route off the bridge, so nothing leaves the machine), 20 % of incoming UDP datagrams dropped
//! at random by nftables in every namespace. Each peer casts a vote on its console; the test
//! waits until every peer reports the same tally with every vote counted.
//!
//! It needs root, `ip` with netns support and `nft`. Where one is missing it prints why and
//! returns (a pass, not an `#[ignore]`): `.ci/run` installs nftables when it runs as root.
//! Namespaces, bridge and processes are removed by a drop guard, so also on a panic.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

const N_PEERS: usize = 4;
const TRACKER_PORT: u16 = 7100;
const PEER_PORT: u16 = 7200;
const OPTIONS: [&str; 3] = ["Adam", "Bob", "Catherine"];

/// Why this machine cannot run the test, if it cannot.
fn unsupported() -> Option<String> {
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

/// Everything the test created, removed on drop (also while unwinding from a panic).
struct Lab {
    bridge: String,
    namespaces: Vec<String>,
    children: Vec<Child>,
    data: PathBuf,
}

impl Lab {
    fn new(tag: &str) -> Lab {
        let bridge = format!("vcb{tag}");
        let data = std::env::temp_dir().join(format!("votechain-netns-{tag}"));
        let lab = Lab {
            bridge,
            namespaces: Vec::new(),
            children: Vec::new(),
            data,
        };
        sh("ip", &["link", "add", &lab.bridge, "type", "bridge"]);
        sh("ip", &["link", "set", &lab.bridge, "up"]);
        lab
    }

    /// A namespace `vc<tag>-<i>` holding `ip`/24 on a veth pair into the bridge, dropping 20 %
    /// of incoming UDP.
    fn add_namespace(&mut self, tag: &str, i: usize, ip: &str) -> String {
        let ns = format!("vc{tag}-{i}");
        sh("ip", &["netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        let host = format!("vch{tag}{i}");
        let inner = format!("vci{tag}{i}");
        sh(
            "ip",
            &["link", "add", &host, "type", "veth", "peer", "name", &inner],
        );
        sh("ip", &["link", "set", &inner, "netns", &ns]);
        sh("ip", &["link", "set", &host, "master", &self.bridge]);
        sh("ip", &["link", "set", &host, "up"]);
        let cidr = format!("{ip}/24");
        sh("ip", &["-n", &ns, "addr", "add", &cidr, "dev", &inner]);
        sh("ip", &["-n", &ns, "link", "set", &inner, "up"]);
        sh("ip", &["-n", &ns, "link", "set", "lo", "up"]);
        let rules = "table inet vcloss {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    meta l4proto udp numgen random mod 100 < 20 drop\n  }\n}\n";
        let mut nft = Command::new("ip")
            .args(["netns", "exec", &ns, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("nft runs");
        nft.stdin
            .take()
            .expect("piped")
            .write_all(rules.as_bytes())
            .expect("nft reads its rules");
        assert!(nft.wait().is_ok_and(|s| s.success()), "nft rules refused");
        ns
    }

    /// Starts `program args` inside `ns`, stdin and stdout piped; stdout lines go to the receiver.
    fn spawn(
        &mut self,
        ns: &str,
        program: &Path,
        args: &[String],
    ) -> (ChildStdin, Receiver<String>) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        self.children.push(child);
        (stdin, rx)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in &self.namespaces {
            let _ = runs("ip", &["netns", "del", ns]);
        }
        let _ = runs("ip", &["link", "del", &self.bridge]);
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// `<target>/<profile>` of this test executable, with `tracker` and `peer` built in it.
fn binaries() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .ancestors()
        .find(|d| d.file_name().is_some_and(|n| n == "deps"))
        .and_then(Path::parent)
        .expect("test executables live in <target>/<profile>/deps")
        .to_path_buf();
    let missing = ["tracker", "peer"].iter().any(|b| !dir.join(b).is_file());
    if missing {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--bins",
                "-p",
                "votechain-tracker",
                "-p",
                "votechain-peer",
            ])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building tracker and peer failed");
    }
    dir
}

#[test]
fn namespaces_with_nftables_loss_converge() {
    if let Some(reason) = unsupported() {
        eprintln!("netns test skipped: {reason}");
        return;
    }
    let bin = binaries();
    let tag = format!("{}", std::process::id() % 100_000);
    let subnet = std::process::id() % 250;
    let ip = |i: usize| format!("10.77.{subnet}.{}", i + 1);
    let mut lab = Lab::new(&tag);
    std::fs::create_dir_all(&lab.data).expect("temp dir");

    let tracker_ns = lab.add_namespace(&tag, 0, &ip(0));
    let tracker_args: Vec<String> = vec![
        TRACKER_PORT.to_string(),
        "--bind".into(),
        ip(0),
        "--difficulty".into(),
        "10".into(),
    ];
    lab.spawn(&tracker_ns, &bin.join("tracker"), &tracker_args);

    let mut consoles = Vec::new();
    for i in 1..=N_PEERS {
        let ns = lab.add_namespace(&tag, i, &ip(i));
        let data_dir = lab.data.join(format!("peer{i}"));
        let args: Vec<String> = vec![
            TRACKER_PORT.to_string(),
            PEER_PORT.to_string(),
            "--tracker-host".into(),
            ip(0),
            "--bind".into(),
            ip(i),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--consensus-interval".into(),
            "2".into(),
            "--gossip-interval".into(),
            "5".into(),
        ];
        consoles.push(lab.spawn(&ns, &bin.join("peer"), &args));
    }

    // Every peer votes once it knows the election (20 % loss: registration retries).
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut voted = vec![false; N_PEERS];
    let mut tallies: Vec<Vec<u64>> = vec![vec![0; OPTIONS.len()]; N_PEERS];
    let expected: Vec<u64> = (0..OPTIONS.len())
        .map(|o| (0..N_PEERS).filter(|i| i % OPTIONS.len() == o).count() as u64)
        .collect();
    loop {
        for (i, (stdin, lines)) in consoles.iter_mut().enumerate() {
            if !voted[i] {
                let _ = writeln!(stdin, "vote voter{i} {}", OPTIONS[i % OPTIONS.len()]);
            }
            let _ = writeln!(stdin, "tally");
            while let Ok(line) = lines.try_recv() {
                if line.contains(" pending") || line.contains("already known") {
                    voted[i] = true;
                }
                let mut words = line.split_whitespace();
                if let (Some(option), Some(n), None) = (words.next(), words.next(), words.next()) {
                    if let (Some(o), Ok(n)) = (OPTIONS.iter().position(|x| *x == option), n.parse())
                    {
                        tallies[i][o] = n;
                    }
                }
            }
        }
        if voted.iter().all(|v| *v) && tallies.iter().all(|t| *t == expected) {
            eprintln!("netns: {N_PEERS} peers in namespaces agree on the tally {expected:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no convergence in 90 s: voted {voted:?}, tallies {tallies:?}, expected {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
