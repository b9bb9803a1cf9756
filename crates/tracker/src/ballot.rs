//! Building the election's ballot from what an operator types: the comma-separated option list
//! of `--ballot` and the voter-roll file of `--voters`. Text in, values out; reading the file is
//! the binary's job.
//!
//! Voter-roll file format: one voter per line. A line is either a public key as 64 hex
//! characters, or a whole voter key file (`{"public":"…","secret":"…"}`, as the peer writes
//! them) of which only `public` is read — the tracker never needs a secret. Blank lines and
//! lines starting with `#` are ignored; surrounding whitespace is trimmed.

use votechain_chain::{HexError, PublicKey};

/// Splits `--ballot "Adam, Bob,Catherine"` into trimmed options, dropping empty ones, so a
/// trailing comma is harmless. Whether the result is a valid ballot is [`Ballot::check`]'s call.
///
/// [`Ballot::check`]: votechain_chain::Ballot::check
pub fn parse_options(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(str::to_owned)
        .collect()
}

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
/// [`Ballot::check`]: votechain_chain::Ballot::check
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

#[cfg(test)]
mod tests {
    use super::*;
    use votechain_chain::VoterKey;

    #[test]
    fn options_are_trimmed_and_empty_ones_dropped() {
        assert_eq!(
            parse_options(" Adam, Bob ,,Catherine,"),
            ["Adam", "Bob", "Catherine"]
        );
        assert!(parse_options("").is_empty());
    }

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
}
