//! Building the election's ballot from what an operator types: the comma-separated option list
//! of `--ballot` and the voter-roll file of `--voters`. Text in, values out; reading the file is
//! the binary's job. The roll file's format is `votechain_chain::roll`'s (shared with
//! `votechain-keys roll`, which writes it).

pub use votechain_chain::roll::{parse_voter_roll, RollError};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_trimmed_and_empty_ones_dropped() {
        assert_eq!(
            parse_options(" Adam, Bob ,,Catherine,"),
            ["Adam", "Bob", "Catherine"]
        );
        assert!(parse_options("").is_empty());
    }
}
