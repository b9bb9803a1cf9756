//! The votechain peer: a full node. Its sans-IO node state machine and tokio shell are issue 5's
//! work; today the crate holds only the binary's command line (`src/main.rs`).
