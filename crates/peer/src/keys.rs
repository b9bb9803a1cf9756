//! Voter key files in a peer's data directory (`keys/<voter>.key`, mode 0600, the name in lower
//! case): the console's `vote` loads a voter's key, or makes one whose file is kept only when
//! its first vote is accepted; `keys` lists them, makes one without voting (`keys new`), copies
//! one out (`keys export`) or takes one in from another peer (`keys import`), so one voter can
//! vote from any peer — once. The console and the `votechain-keys` binary both run
//! [`run`]; the node never sees a secret key.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use votechain_chain::{KeyFileError, PublicKey, VoterKey};

/// Why a voter key could not be loaded, created, exported or imported.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file exists but cannot be read.
    #[error("reading {}", .path.display())]
    Read {
        /// The key file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The key file does not hold a valid key.
    #[error("reading {}", .path.display())]
    Parse {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: KeyFileError,
    },
    /// A new key file (or its directory) could not be written.
    #[error("creating {}", .path.display())]
    Create {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// `keys new` for a voter who has a key here already.
    #[error("{name} already has a key here ({})", .path.display())]
    Exists {
        /// The voter's name.
        name: String,
        /// Its key file.
        path: PathBuf,
    },
    /// `keys export` of a voter with no key here.
    #[error("there is no key for {name} here; keys lists them, keys new {name} makes one")]
    Missing {
        /// The voter's name.
        name: String,
    },
    /// An import or export would replace a different key: a secret would be lost.
    #[error(
        "{} already holds another key (or is not a key file); it is left as it is: choose \
         another name or file",
        .path.display()
    )]
    Conflict {
        /// The file that holds another key.
        path: PathBuf,
    },
    /// A voter name that cannot be a file name.
    #[error("voter name {0:?} must be 1-32 letters, digits, '_', '-' or '.'")]
    BadName(String),
}

impl KeyError {
    /// The error with its causes, `outer: inner: …`, as the console shows it.
    pub fn with_causes(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(e) = cause {
            text.push_str(&format!(": {e}"));
            cause = e.source();
        }
        text
    }
}

/// True when `name` is usable as a voter name (it becomes a file name).
pub fn valid_voter_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        && !name.starts_with('.')
}

/// The directory of a data directory's voter keys.
pub fn keys_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("keys")
}

/// Where `voter`'s key file is: names are labels that ignore case.
pub fn key_path(data_dir: &Path, voter: &str) -> PathBuf {
    keys_dir(data_dir).join(format!("{}.key", voter.to_ascii_lowercase()))
}

/// A voter's key: loaded from its file, or new and kept only once its first vote is accepted.
#[derive(Debug)]
pub enum VoterKeyFile {
    /// The voter's key file existed.
    Existing(VoterKey),
    /// A key made for this vote, written to a temporary file beside the real one: [`NewKey::keep`]
    /// moves it into place; dropped without that, it leaves no file behind.
    New(NewKey),
}

impl VoterKeyFile {
    /// The key to sign with.
    pub fn key(&self) -> &VoterKey {
        match self {
            VoterKeyFile::Existing(key) => key,
            VoterKeyFile::New(new) => &new.key,
        }
    }
}

/// A new voter key on disk under a temporary name.
#[derive(Debug)]
pub struct NewKey {
    key: VoterKey,
    /// Where it is written, synced, until kept.
    temp: PathBuf,
    /// Where it goes when kept.
    path: PathBuf,
}

impl NewKey {
    /// Makes the key the voter's: renames its synced temporary file to `keys/<voter>.key`.
    pub fn keep(mut self) -> Result<(), KeyError> {
        // Taken, so `drop` leaves the file alone once it is the voter's; on failure it is
        // removed here, since the secret must not linger under the temporary name.
        let temp = std::mem::take(&mut self.temp);
        if let Err(source) = std::fs::rename(&temp, &self.path) {
            let _ = std::fs::remove_file(&temp);
            return Err(KeyError::Create {
                path: self.path.clone(),
                source,
            });
        }
        tracing::info!(public = %self.key.public(), "new voter key {}", self.path.display());
        Ok(())
    }
}

impl Drop for NewKey {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// The key in `path`, or `None` when there is no such file.
fn load(path: &Path) -> Result<Option<VoterKey>, KeyError> {
    match std::fs::read_to_string(path) {
        Ok(text) => VoterKey::from_file_str(&text)
            .map(Some)
            .map_err(|source| KeyError::Parse {
                path: path.to_owned(),
                source,
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(KeyError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes `key` to a new file at `path`, mode 0600, synced; fails if `path` exists.
fn write_new(path: &Path, key: &VoterKey) -> Result<(), KeyError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(path).and_then(|mut file| {
        file.write_all(key.to_file_string().as_bytes())?;
        file.sync_all()
    });
    written.map_err(|source| {
        if source.kind() != io::ErrorKind::AlreadyExists {
            let _ = std::fs::remove_file(path);
        }
        KeyError::Create {
            path: path.to_owned(),
            source,
        }
    })
}

/// Writes `key` under a temporary name in the keys directory, to be renamed to `path` by
/// [`NewKey::keep`] (so a key file is never seen half-written).
fn write_temp(data_dir: &Path, name: &str, key: VoterKey) -> Result<NewKey, KeyError> {
    let dir = keys_dir(data_dir);
    std::fs::create_dir_all(&dir).map_err(|source| KeyError::Create {
        path: dir.clone(),
        source,
    })?;
    let temp = dir.join(format!(".{name}.key.new"));
    // A temporary file left by a crash holds a key that was never kept.
    let _ = std::fs::remove_file(&temp);
    write_new(&temp, &key)?;
    Ok(NewKey {
        key,
        temp,
        path: key_path(data_dir, name),
    })
}

/// The voter's key: its file (`keys/<voter>.key`, the name in lower case: names are labels that
/// ignore case) when it exists, or a new key written (mode 0600, synced) under a temporary
/// name, to be kept when its vote is accepted. A rejected vote leaves no key file.
pub fn voter_key(data_dir: &Path, voter: &str) -> Result<VoterKeyFile, KeyError> {
    let name = voter.to_ascii_lowercase();
    if let Some(key) = load(&key_path(data_dir, &name))? {
        return Ok(VoterKeyFile::Existing(key));
    }
    let key = VoterKey::generate(&mut rand::rngs::OsRng);
    write_temp(data_dir, &name, key).map(VoterKeyFile::New)
}

/// What the key commands do: `keys` (`list`), `keys new`, `keys export`, `keys import`. The
/// `votechain-keys` binary takes them as its subcommands, with these docs as their help.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum KeysCommand {
    /// The voter keys of the data directory: name and public key.
    List,
    /// Makes a key for a voter without voting.
    New {
        /// The voter's name (letters, digits, '_', '-', '.'; case is ignored).
        voter: String,
    },
    /// Copies a voter's key file to FILE (a directory takes VOTER.key), never over another
    /// file; without FILE, says where the key file is and how to move it.
    Export {
        /// The voter.
        voter: String,
        /// Where to write the copy.
        file: Option<PathBuf>,
    },
    /// Takes a voter key file into the data directory, under VOTER or the file's name; a
    /// different key under that name is never replaced.
    Import {
        /// The key file.
        file: PathBuf,
        /// The name to keep it under [default: the file's name without .key].
        voter: Option<String>,
    },
}

/// Runs a key command on `data_dir`; the text to show, or why it failed.
pub fn run(data_dir: &Path, command: &KeysCommand) -> Result<String, KeyError> {
    match command {
        KeysCommand::List => Ok(list_keys(data_dir)),
        KeysCommand::New { voter } => new_key(data_dir, voter),
        KeysCommand::Export { voter, file } => export_key(data_dir, voter, file.as_deref()),
        KeysCommand::Import { file, voter } => import_key(data_dir, file, voter.as_deref()),
    }
}

fn checked_name(voter: &str) -> Result<String, KeyError> {
    if valid_voter_name(voter) {
        Ok(voter.to_ascii_lowercase())
    } else {
        Err(KeyError::BadName(voter.to_owned()))
    }
}

/// `keys new <voter>`: a new key, refused when the voter has one here.
fn new_key(data_dir: &Path, voter: &str) -> Result<String, KeyError> {
    let name = checked_name(voter)?;
    let path = key_path(data_dir, &name);
    if load(&path)?.is_some() {
        return Err(KeyError::Exists { name, path });
    }
    let new = write_temp(data_dir, &name, VoterKey::generate(&mut rand::rngs::OsRng))?;
    let public = new.key.public();
    new.keep()?;
    Ok(format!(
        "new voter {name}, public key {public}, in {}",
        path.display()
    ))
}

/// `keys export <voter> [file]`.
fn export_key(data_dir: &Path, voter: &str, file: Option<&Path>) -> Result<String, KeyError> {
    let name = checked_name(voter)?;
    let path = key_path(data_dir, &name);
    let key = load(&path)?.ok_or_else(|| KeyError::Missing { name: name.clone() })?;
    let Some(file) = file else {
        return Ok(format!(
            "{name}'s key file is {}; it holds {name}'s secret, so keep copies private. To vote \
             as {name} from another peer, copy it there and run keys import <file> on that \
             peer's console (or votechain-keys import <file> --data-dir <its data dir>); \
             keys export {name} <file> writes a copy here.",
            path.display()
        ));
    };
    let target = if file.is_dir() {
        file.join(format!("{name}.key"))
    } else {
        file.to_owned()
    };
    match load(&target) {
        Ok(Some(there)) if there.public() == key.public() => {
            return Ok(format!("{} already holds {name}'s key", target.display()))
        }
        Ok(None) => {}
        // Anything else there (another key, or not a key at all) is not ours to replace.
        Ok(Some(_)) | Err(_) => return Err(KeyError::Conflict { path: target }),
    }
    write_new(&target, &key)?;
    Ok(format!(
        "{name}'s key written to {} (mode 0600: it holds the secret); on another peer, keys \
         import {} takes it in",
        target.display(),
        target.display()
    ))
}

/// `keys import <file> [voter]`: the key is kept under the voter's name unless another key has
/// that name here already.
fn import_key(data_dir: &Path, file: &Path, voter: Option<&str>) -> Result<String, KeyError> {
    let key = load(file)?.ok_or_else(|| KeyError::Read {
        path: file.to_owned(),
        source: io::Error::new(io::ErrorKind::NotFound, "no such file"),
    })?;
    let stem = file
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.strip_suffix(".key").unwrap_or(n))
        .unwrap_or("");
    let name = checked_name(voter.unwrap_or(stem))?;
    let path = key_path(data_dir, &name);
    match load(&path)? {
        Some(here) if here.public() == key.public() => {
            return Ok(format!("{name}'s key is here already ({})", path.display()))
        }
        Some(_) => return Err(KeyError::Conflict { path }),
        None => {}
    }
    if let Some(other) = name_of(data_dir, &key.public()) {
        return Ok(format!(
            "this key is here already as {other}; vote {other} … uses it"
        ));
    }
    write_temp(data_dir, &name, key.clone())?.keep()?;
    Ok(format!(
        "imported {name} (public key {}) into {}",
        key.public(),
        path.display()
    ))
}

/// Every voter key here as (name, key), sorted by name; unreadable files are skipped.
pub fn all_keys(data_dir: &Path) -> Vec<(String, VoterKey)> {
    let Ok(entries) = std::fs::read_dir(keys_dir(data_dir)) else {
        return Vec::new();
    };
    let mut keys: Vec<(String, VoterKey)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e
                .file_name()
                .to_string_lossy()
                .strip_suffix(".key")?
                .to_owned();
            if name.starts_with('.') {
                return None;
            }
            let key = load(&e.path()).ok()??;
            Some((name, key))
        })
        .collect();
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    keys
}

/// The local name of the voter with this public key, if its key is here.
pub fn name_of(data_dir: &Path, public: &PublicKey) -> Option<String> {
    all_keys(data_dir)
        .into_iter()
        .find(|(_, key)| key.public() == *public)
        .map(|(name, _)| name)
}

/// One line per local voter key, `<name> <public key>`, sorted by name.
pub fn list_keys(data_dir: &Path) -> String {
    let rows: Vec<String> = all_keys(data_dir)
        .iter()
        .map(|(name, key)| format!("{name} {}", key.public()))
        .collect();
    if rows.is_empty() {
        return "no voter keys yet (vote or keys new <name> makes one)".into();
    }
    rows.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory for one test, removed when dropped.
    struct Dir(PathBuf);

    impl Dir {
        fn new(tag: &str) -> Dir {
            let dir =
                std::env::temp_dir().join(format!("votechain-keys-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_new_key_is_kept_only_when_asked_then_loaded_whatever_the_case_and_listed() {
        let d = Dir::new("vote");
        let dir = &d.0;
        assert_eq!(
            list_keys(dir),
            "no voter keys yet (vote or keys new <name> makes one)"
        );
        // A key whose vote was rejected: dropped, no file left, nothing listed.
        let VoterKeyFile::New(rejected) = voter_key(dir, "alice").unwrap() else {
            panic!("no key file yet");
        };
        drop(rejected);
        assert_eq!(std::fs::read_dir(dir.join("keys")).unwrap().count(), 0);
        // A key whose vote was accepted: kept, then loaded as "Alice" too.
        let VoterKeyFile::New(accepted) = voter_key(dir, "alice").unwrap() else {
            panic!("no key file yet");
        };
        let public = accepted.key.public();
        accepted.keep().unwrap();
        let VoterKeyFile::Existing(loaded) = voter_key(dir, "Alice").unwrap() else {
            panic!("alice's key was kept");
        };
        assert_eq!(loaded.public(), public);
        assert_eq!(list_keys(dir), format!("alice {public}"));
        std::fs::write(dir.join("keys/bob.key"), "not a key").unwrap();
        let e = voter_key(dir, "bob").unwrap_err();
        assert!(
            e.with_causes()
                .starts_with(&format!("reading {}: ", dir.join("keys/bob.key").display())),
            "{}",
            e.with_causes()
        );
    }

    #[test]
    fn new_makes_a_private_key_once() {
        let d = Dir::new("new");
        let said = run(
            &d.0,
            &KeysCommand::New {
                voter: "Carol".into(),
            },
        )
        .unwrap();
        assert!(said.starts_with("new voter carol, public key "), "{said}");
        let path = key_path(&d.0, "carol");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "a secret is private");
        }
        let e = run(
            &d.0,
            &KeysCommand::New {
                voter: "carol".into(),
            },
        )
        .unwrap_err();
        assert!(matches!(e, KeyError::Exists { .. }), "{e}");
        assert!(e.to_string().starts_with("carol already has a key here"));
        let e = run(
            &d.0,
            &KeysCommand::New {
                voter: "../x".into(),
            },
        )
        .unwrap_err();
        assert!(matches!(e, KeyError::BadName(_)), "{e}");
    }

    #[test]
    fn export_then_import_moves_a_voter_and_never_overwrites_another_key() {
        let (one, two, out) = (Dir::new("one"), Dir::new("two"), Dir::new("out"));
        run(
            &one.0,
            &KeysCommand::New {
                voter: "alice".into(),
            },
        )
        .unwrap();
        let alice = load(&key_path(&one.0, "alice")).unwrap().unwrap().public();
        // Without a file: where it is and how to move it, nothing written.
        let export = |file: Option<PathBuf>| KeysCommand::Export {
            voter: "ALICE".into(),
            file,
        };
        let said = run(&one.0, &export(None)).unwrap();
        assert!(said.contains(&key_path(&one.0, "alice").display().to_string()));
        assert!(said.contains("keys import"), "{said}");
        // Into a directory: <name>.key there; again: the same key, fine.
        run(&one.0, &export(Some(out.0.clone()))).unwrap();
        let copy = out.0.join("alice.key");
        assert!(run(&one.0, &export(Some(copy.clone())))
            .unwrap()
            .contains("already holds"));
        let e = run(
            &one.0,
            &KeysCommand::Export {
                voter: "bob".into(),
                file: None,
            },
        )
        .unwrap_err();
        assert!(matches!(e, KeyError::Missing { .. }), "{e}");

        // Imported under its file's name, then again: nothing changes.
        let import = |file: &Path, voter: Option<&str>| KeysCommand::Import {
            file: file.to_owned(),
            voter: voter.map(str::to_owned),
        };
        let said = run(&two.0, &import(&copy, None)).unwrap();
        assert!(said.starts_with("imported alice"), "{said}");
        assert_eq!(list_keys(&two.0), format!("alice {alice}"));
        assert!(run(&two.0, &import(&copy, None))
            .unwrap()
            .contains("here already"));
        // The same key under another name is not made a second voter name.
        assert!(run(&two.0, &import(&copy, Some("al")))
            .unwrap()
            .contains("here already as alice"));
        // Another key under the name alice: refused, the first kept.
        run(
            &out.0,
            &KeysCommand::New {
                voter: "other".into(),
            },
        )
        .unwrap();
        let other = key_path(&out.0, "other");
        let e = run(&two.0, &import(&other, Some("alice"))).unwrap_err();
        assert!(matches!(e, KeyError::Conflict { .. }), "{e}");
        assert_eq!(list_keys(&two.0), format!("alice {alice}"));
        // Exporting over another key: refused too.
        let e = run(&one.0, &export(Some(other.clone()))).unwrap_err();
        assert!(matches!(e, KeyError::Conflict { .. }), "{e}");
        // Not a key file: said with its cause.
        std::fs::write(out.0.join("junk.key"), "junk").unwrap();
        let e = run(&two.0, &import(&out.0.join("junk.key"), None)).unwrap_err();
        assert!(e.with_causes().contains("not a voter key file"), "{e:?}");
        let e = run(&two.0, &import(&out.0.join("none.key"), None)).unwrap_err();
        assert!(
            e.with_causes().contains("no such file"),
            "{}",
            e.with_causes()
        );
    }
}
