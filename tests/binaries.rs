//! Finding the `tracker`, `peer`, `election`, `votechain-keys` and `miner` executables the process tests spawn, built from
//! the sources in this workspace.
//!
//! `env!("CARGO_BIN_EXE_<name>")` exists only in the package that owns a binary, and a
//! dev-dependency on a package does not build its binaries, so this crate builds them itself:
//! the first test that needs them runs `cargo build --bins -p votechain-tracker -p
//! votechain-peer -p votechain-election -p votechain-miner` once per test process (guarded by a `OnceLock`), with the profile the tests
//! were built with, into the target directory the test executable lives in. When the binaries
//! are fresh this is a no-op taking a fraction of a second; when a source changed it rebuilds
//! them, so a test never runs against stale binaries (comparing file times instead would miss a
//! `crates/peer` change made after the test executable was built).
//!
//! Two environment variables change this: `VOTECHAIN_BIN_DIR=<dir>` uses the binaries in `dir`
//! as they are (for example, prebuilt release binaries), and `VOTECHAIN_TEST_NO_BUILD=1` skips
//! the build and uses whatever is in the target directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The binaries the process tests spawn.
const BINARIES: [&str; 5] = ["tracker", "peer", "election", "votechain-keys", "miner"];

/// The directory holding `tracker`, `peer` and `election`, built and up to date; panics with
/// cargo's own output when they cannot be built.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match DIR.get_or_init(locate_and_build) {
        Ok(dir) => dir,
        Err(e) => panic!("cannot provide the tracker, peer and election binaries: {e}"),
    }
}

/// The path of one binary (`"tracker"`, `"peer"`, `"election"`, `"votechain-keys"` or `"miner"`).
pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

fn locate_and_build() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("VOTECHAIN_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let profile_dir = profile_dir()?;
    if std::env::var_os("VOTECHAIN_TEST_NO_BUILD").is_none() {
        build(&profile_dir)?;
    }
    for name in BINARIES {
        let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        if !path.is_file() {
            return Err(format!("{} does not exist", path.display()));
        }
    }
    Ok(profile_dir)
}

/// `<target>/<profile>`: the test executable is `<target>/<profile>/deps/<test>-<hash>`.
fn profile_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    exe.ancestors()
        .find(|dir| dir.file_name().is_some_and(|n| n == "deps"))
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("{} is not under <target>/<profile>/deps", exe.display()))
}

fn build(profile_dir: &Path) -> Result<(), String> {
    let target_dir = profile_dir
        .parent()
        .ok_or("the profile directory has no parent")?;
    // Cargo names the dev profile's directory "debug"; every other profile uses its own name.
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("the tests crate has no parent directory")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .arg("build")
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .args(["--bins", "-p", "votechain-tracker", "-p", "votechain-peer"])
        .args(["-p", "votechain-election", "-p", "votechain-miner"])
        .args(["--profile", profile])
        .arg("--target-dir")
        .arg(target_dir)
        .output()
        .map_err(|e| format!("running cargo: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "cargo build failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
