//! Voter key files in a peer's data directory (`keys/<voter>.key`, mode 0600): the console's
//! `vote` loads a voter's key or creates it on first use, and `keys` lists them. The shell calls
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

/// Loads the voter's key file, creating it (mode 0600) on first use.
pub fn voter_key(data_dir: &Path, voter: &str) -> Result<VoterKey, KeyError> {
    let dir = keys_dir(data_dir);
    let path = dir.join(format!("{voter}.key"));
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            return VoterKey::from_file_str(&text)
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
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&path).and_then(|mut file| {
        file.write_all(key.to_file_string().as_bytes())?;
        file.sync_all()
    });
    if let Err(source) = written {
        return Err(KeyError::Create { path, source });
    }
    tracing::info!(voter, public = %key.public(), "new voter key");
    Ok(key)
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
    fn a_key_is_created_once_then_loaded_and_listed() {
        let dir = std::env::temp_dir().join(format!("votechain-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(list_keys(&dir), "no voter keys yet (vote creates one)");
        let created = voter_key(&dir, "alice").unwrap();
        let loaded = voter_key(&dir, "alice").unwrap();
        assert_eq!(created.public(), loaded.public());
        assert_eq!(list_keys(&dir), format!("alice {}", created.public()));
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
