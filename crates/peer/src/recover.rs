//! Rebuilding the chain from what the store recovered: the genesis block first (it carries the
//! ballot), then every block in the order it was accepted, signatures verified in batches, then
//! the accepted votes back into the pending pool. Pure: the shell opens the store.

use votechain_chain::validate::verify_blocks;
use votechain_chain::{AddOutcome, BallotError, Block, ChainConfig, ChainState, Vote};

/// Why a store cannot be rebuilt into a chain: its genesis is broken, so nothing after it can
/// be trusted either. (A later record that no longer validates is skipped, not an error.)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoverError {
    /// The first stored block carries no ballot.
    #[error("the store's first block is not a genesis block")]
    NotGenesis,
    /// The stored ballot breaks a ballot rule.
    #[error("the stored ballot is invalid")]
    Ballot(#[source] BallotError),
    /// The genesis block's hash is not the one its ballot gives.
    #[error("the store's genesis block does not match its ballot")]
    GenesisMismatch,
}

/// What a rebuild found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    /// Blocks that joined the tree.
    pub blocks: usize,
    /// Votes back in the pending pool.
    pub pending: usize,
    /// Records that no longer validate (e.g. a rule tightened between versions); skipped.
    pub skipped: usize,
}

/// Rebuilds the chain from stored blocks and votes. `None` when the store holds no genesis.
pub fn rebuild(
    blocks: Vec<Block>,
    votes: Vec<Vote>,
    config: ChainConfig,
    now_ms: u64,
) -> Result<Option<(ChainState, RebuildReport)>, RecoverError> {
    let mut blocks = blocks.into_iter();
    let Some(genesis) = blocks.next() else {
        return Ok(None);
    };
    let Some(ballot) = genesis.ballot() else {
        return Err(RecoverError::NotGenesis);
    };
    let mut chain = ChainState::new(ballot, config).map_err(RecoverError::Ballot)?;
    if chain.election() != genesis.hash() {
        return Err(RecoverError::GenesisMismatch);
    }
    let mut report = RebuildReport {
        blocks: 1,
        ..Default::default()
    };
    let rest: Vec<Block> = blocks.collect();
    for batch in rest.chunks(1024) {
        for verified in verify_blocks(batch.to_vec(), ballot.difficulty) {
            let outcome = match verified {
                Ok(vb) => chain.add_verified(vb, now_ms),
                Err((_, e)) => Err(e),
            };
            match outcome {
                Ok(AddOutcome::Added(c)) => report.blocks += c.added.len(),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!("a stored block no longer validates and is skipped: {e}");
                    report.skipped += 1;
                }
            }
        }
    }
    // Restored, not submitted: these votes were acknowledged before the restart, so they go back
    // into the pool even past its cap (which only refuses new votes).
    for vote in votes {
        if let Ok(votechain_chain::SubmitOutcome::Accepted { .. }) = chain.restore_vote(vote) {
            report.pending += 1;
        }
    }
    Ok(Some((chain, report)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use votechain_chain::{Ballot, BlockTemplate, VoterKey};

    fn mine(parent: &Block, votes: Vec<Vote>) -> Block {
        let t = BlockTemplate::new(parent.hash(), parent.height(), 0, 1_000, "m", votes).unwrap();
        t.seal(0)
    }

    #[test]
    fn rebuilds_blocks_and_pending_votes() {
        let ballot = Ballot::open("T", &["A", "B"], 0);
        let g = Block::genesis(&ballot).unwrap();
        let key = |i: u8| VoterKey::from_seed([i; 32]);
        let v1 = Vote::sign(key(1).signing_key(), g.hash(), "A");
        let v2 = Vote::sign(key(2).signing_key(), g.hash(), "B");
        let b1 = mine(&g, vec![v1.clone()]);
        let (chain, report) = rebuild(
            vec![g, b1.clone()],
            vec![v1, v2],
            ChainConfig::default(),
            2_000,
        )
        .unwrap()
        .unwrap();
        assert_eq!(chain.tip_hash(), b1.hash());
        assert_eq!(
            report,
            RebuildReport {
                blocks: 2,
                pending: 1,
                skipped: 0
            }
        );
        assert!(rebuild(vec![], vec![], ChainConfig::default(), 0)
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_store_must_start_with_its_genesis() {
        let ballot = Ballot::open("T", &["A", "B"], 0);
        let g = Block::genesis(&ballot).unwrap();
        let b1 = mine(&g, vec![]);
        let outcome = rebuild(vec![b1], vec![], ChainConfig::default(), 0);
        assert!(
            matches!(outcome, Err(RecoverError::NotGenesis)),
            "{:?}",
            outcome.err()
        );
    }
}
