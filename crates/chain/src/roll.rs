//! Voter rolls: the text file that `tracker --voters <file>` reads and `votechain-keys roll`
//! writes, listing the public keys that may vote in a closed election.
//!
//! Format: one voter per line. A line is either a public key as 64 hex characters, or a whole
//! voter key file (`{"public":"…","secret":"…"}`, as the peer writes them) of which only
//! `public` is read — a roll never needs a secret. Blank lines and lines starting with `#` are
//! ignored (`votechain-keys` names each voter in a comment above its key); surrounding
//! whitespace is trimmed.

use crate::hash::{HexError, PublicKey};

/// A voter-roll line that is neither a public key nor a key file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("voter roll line {line}: {detail}")]
pub struct RollError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub detail: String,
}

/// Parses a voter-roll file (format in the module docs). Duplicate keys are left for
/// [`Ballot::check`] to report.
///
/// [`Ballot::check`]: crate::Ballot::check
pub fn parse_voter_roll(text: &str) -> Result<Vec<PublicKey>, RollError> {
    let mut roll = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let error = |detail: String| RollError {
            line: i + 1,
            detail,
        };
        let hex = if line.starts_with('{') {
            let value: serde_json::Value =
                serde_json::from_str(line).map_err(|e| error(format!("not a key file: {e}")))?;
            match value.get("public").and_then(|p| p.as_str()) {
                Some(public) => public.trim().to_owned(),
                None => return Err(error("key file has no \"public\" string".into())),
            }
        } else {
            line.to_owned()
        };
        let key = PublicKey::from_hex(&hex).map_err(|e: HexError| error(e.to_string()))?;
        roll.push(key);
    }
    Ok(roll)
}

/// A roll file naming each voter in a comment above its key: what [`parse_voter_roll`] reads
/// back as the keys in the same order.
pub fn format_roll<'a>(voters: impl IntoIterator<Item = (&'a str, &'a PublicKey)>) -> String {
    let mut text = String::from("# voter roll: one public key per line, each named in a comment\n");
    for (name, key) in voters {
        text.push_str(&format!("# {name}\n{key}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VoterKey;

    #[test]
    fn roll_accepts_hex_lines_key_files_and_comments() {
        let a = VoterKey::from_seed([1; 32]);
        let b = VoterKey::from_seed([2; 32]);
        let text = format!(
            "# class of 2026\n\n  {}  \n{}",
            a.public().to_hex().to_uppercase(),
            b.to_file_string()
        );
        assert_eq!(parse_voter_roll(&text), Ok(vec![a.public(), b.public()]));
    }

    #[test]
    fn roll_errors_name_the_line() {
        let err = parse_voter_roll("# ok\nnot-hex\n").unwrap_err();
        assert_eq!(err.line, 2);
        let err = parse_voter_roll("{\"secret\":\"00\"}").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.detail.contains("public"), "{err}");
    }

    #[test]
    fn a_formatted_roll_reads_back() {
        let a = VoterKey::from_seed([1; 32]).public();
        let b = VoterKey::from_seed([2; 32]).public();
        let text = format_roll([("alice", &a), ("bob", &b)]);
        assert!(text.contains("# alice\n"), "{text}");
        assert_eq!(parse_voter_roll(&text), Ok(vec![a, b]));
    }
}
