//! `votechain-keys`: voter keys outside a running peer. The same `list`, `new`, `export` and
//! `import` as the peer console's `keys` commands (both run `votechain_peer::keys::run`) on a
//! peer's data directory, and `roll`, which writes the voter-roll file `tracker --voters` reads
//! from key files (or from every key of a data directory). It parses its arguments and prints;
//! the exit code follows the policy shared by every binary (0 success, 1 runtime error, 2 usage
//! error).

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use votechain_chain::{roll, Ballot, PublicKey};
use votechain_peer::keys::{self, KeyError, KeysCommand};
use votechain_runtime::{exit_code, EXIT_STATUS_HELP};

/// Voter keys for votechain: make, list, move between peers, and turn into a voter roll.
///
/// A voter key file (`<data dir>/keys/<voter>.key`, mode 0600) holds the voter's secret: whoever
/// has it can vote as that voter, once. Give a tracker a roll (`tracker --voters roll.txt`) to
/// close the election to the voters on it.
#[derive(Parser, Debug)]
#[command(name = "votechain-keys", version, after_help = EXIT_STATUS_HELP)]
struct Cli {
    /// The peer's data directory, whose keys/ these commands work on.
    #[arg(long, global = true, conflicts_with = "port")]
    data_dir: Option<PathBuf>,
    /// The local port of a peer started without --data-dir: its data directory is
    /// ./votechain-data/PORT, the peer's default.
    #[arg(long, global = true)]
    port: Option<u16>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    #[command(flatten)]
    Keys(KeysCommand),
    /// Writes a voter roll for `tracker --voters`: the public keys of the given key files (or
    /// roll files, or files holding a public key), and of every key in --data-dir/--port when
    /// given. Each voter is named in a comment.
    Roll {
        /// Key files.
        files: Vec<PathBuf>,
        /// Where to write the roll [default: stdout].
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

/// A failure with the exit status it deserves.
type Failure = votechain_runtime::Failure<anyhow::Error>;

fn main() -> ExitCode {
    let outcome = Cli::try_parse().map_err(Failure::Cli).and_then(run);
    exit_code("votechain-keys", outcome)
}

fn run(cli: Cli) -> Result<(), Failure> {
    let data_dir = cli.data_dir.clone().or_else(|| {
        cli.port
            .map(|port| PathBuf::from("votechain-data").join(port.to_string()))
    });
    let command = match cli.command {
        Cmd::Roll { files, out } => return write_roll(data_dir, &files, out),
        Cmd::Keys(command) => command,
    };
    let data_dir = data_dir.ok_or_else(|| {
        Failure::Usage(anyhow::anyhow!(
            "which peer's keys? Give --data-dir <dir> or --port <the peer's local port>"
        ))
    })?;
    match keys::run(&data_dir, &command) {
        Ok(text) => {
            say(&text);
            Ok(())
        }
        Err(e @ KeyError::BadName(_)) => Err(Failure::Usage(anyhow::anyhow!(e.with_causes()))),
        Err(e) => Err(Failure::Runtime(anyhow::anyhow!(e.with_causes()))),
    }
}

/// `roll`: every key of `files` and of `data_dir`, named, checked as a ballot's roll would be.
fn write_roll(
    data_dir: Option<PathBuf>,
    files: &[PathBuf],
    out: Option<PathBuf>,
) -> Result<(), Failure> {
    let mut voters: Vec<(String, PublicKey)> = Vec::new();
    if let Some(dir) = &data_dir {
        let here = keys::all_keys(dir);
        if here.is_empty() && files.is_empty() {
            return Err(Failure::Runtime(anyhow::anyhow!(
                "{} has no voter keys (votechain-keys new <voter> makes one)",
                keys::keys_dir(dir).display()
            )));
        }
        voters.extend(here.into_iter().map(|(name, key)| (name, key.public())));
    }
    for file in files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading {}", file.display()))
            .map_err(Failure::Runtime)?;
        let found = roll::parse_voter_roll(&text)
            .with_context(|| format!("reading {}", file.display()))
            .map_err(Failure::Runtime)?;
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy())
            .map(|n| n.strip_suffix(".key").unwrap_or(&n).to_owned())
            .unwrap_or_default();
        voters.extend(found.into_iter().map(|key| (name.clone(), key)));
    }
    if voters.is_empty() {
        return Err(Failure::Usage(anyhow::anyhow!(
            "no voters: name key files, or give --data-dir/--port to take every key there"
        )));
    }
    // The roll's own rules (no key twice, not too many), said as the tracker would say them.
    let mut ballot = Ballot::open("roll", &["yes", "no"], 0);
    ballot.voters = Some(voters.iter().map(|(_, key)| *key).collect());
    ballot
        .check()
        .context("this roll would not be accepted")
        .map_err(Failure::Runtime)?;
    let text = roll::format_roll(voters.iter().map(|(name, key)| (name.as_str(), key)));
    let n = voters.len();
    match out {
        None => say(text.trim_end()),
        Some(path) => {
            std::fs::write(&path, text)
                .with_context(|| format!("writing {}", path.display()))
                .map_err(Failure::Runtime)?;
            let voters = if n == 1 { "voter" } else { "voters" };
            say(&format!(
                "roll of {n} {voters} written to {}; start the tracker with --voters {}",
                path.display(),
                path.display()
            ));
        }
    }
    Ok(())
}

/// Prints one answer; a closed stdout is not an error worth dying of.
fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
}
