//! Voter key files in a peer's data directory (`keys/<voter>.key`, mode 0600, the name in lower
//! case): the console's `vote` loads a voter's key, or makes one whose file is kept only when
//! its first vote is accepted, and `keys` lists them. The shell calls
//! these; the node never sees a secret key.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use votechain_chain::{KeyFileError, VoterKey};

/// Why a voter key could not be loaded or created.
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

fn keys_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("keys")
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

/// The voter's key: its file (`keys/<voter>.key`, the name in lower case: names are labels that
/// ignore case) when it exists, or a new key written (mode 0600, synced) under a temporary
/// name, to be kept when its vote is accepted. A rejected vote leaves no key file.
pub fn voter_key(data_dir: &Path, voter: &str) -> Result<VoterKeyFile, KeyError> {
    let dir = keys_dir(data_dir);
    let name = voter.to_ascii_lowercase();
    let path = dir.join(format!("{name}.key"));
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            return VoterKey::from_file_str(&text)
                .map(VoterKeyFile::Existing)
                .map_err(|source| KeyError::Parse { path, source })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => return Err(KeyError::Read { path, source }),
    }
    std::fs::create_dir_all(&dir).map_err(|source| KeyError::Create {
        path: dir.clone(),
        source,
    })?;
    let key = VoterKey::generate(&mut rand::rngs::OsRng);
    let temp = dir.join(format!(".{name}.key.new"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temp).and_then(|mut file| {
        file.write_all(key.to_file_string().as_bytes())?;
        file.sync_all()
    });
    if let Err(source) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(KeyError::Create { path: temp, source });
    }
    Ok(VoterKeyFile::New(NewKey { key, temp, path }))
}

/// One line per local voter key, `<name> <public key>`, sorted by name.
pub fn list_keys(data_dir: &Path) -> String {
    let Ok(entries) = std::fs::read_dir(keys_dir(data_dir)) else {
        return "no voter keys yet (vote creates one)".into();
    };
    let mut rows: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e
                .file_name()
                .to_string_lossy()
                .strip_suffix(".key")?
                .to_owned();
            let text = std::fs::read_to_string(e.path()).ok()?;
            let key = VoterKey::from_file_str(&text).ok()?;
            Some(format!("{name} {}", key.public()))
        })
        .collect();
    rows.sort();
    if rows.is_empty() {
        return "no voter keys yet (vote creates one)".into();
    }
    rows.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_is_kept_only_when_asked_then_loaded_whatever_the_case_and_listed() {
        let dir = std::env::temp_dir().join(format!("votechain-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(list_keys(&dir), "no voter keys yet (vote creates one)");
        // A key whose vote was rejected: dropped, no file left, nothing listed.
        let VoterKeyFile::New(rejected) = voter_key(&dir, "alice").unwrap() else {
            panic!("no key file yet");
        };
        drop(rejected);
        assert_eq!(std::fs::read_dir(dir.join("keys")).unwrap().count(), 0);
        // A key whose vote was accepted: kept, then loaded as "Alice" too.
        let VoterKeyFile::New(accepted) = voter_key(&dir, "alice").unwrap() else {
            panic!("no key file yet");
        };
        let public = accepted.key.public();
        accepted.keep().unwrap();
        let VoterKeyFile::Existing(loaded) = voter_key(&dir, "Alice").unwrap() else {
            panic!("alice's key was kept");
        };
        assert_eq!(loaded.public(), public);
        assert_eq!(list_keys(&dir), format!("alice {public}"));
        std::fs::write(dir.join("keys/bob.key"), "not a key").unwrap();
        let e = voter_key(&dir, "bob").unwrap_err();
        assert!(
            e.with_causes()
                .starts_with(&format!("reading {}: ", dir.join("keys/bob.key").display())),
            "{}",
            e.with_causes()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
