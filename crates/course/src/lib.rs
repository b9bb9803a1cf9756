//! The COMP 3010 course network's chain and wire format (PROTOCOL.md, "Profile comp3010"):
//! blocks and the course hash rule, proof of work by trailing zeros, a midstate miner, whole-chain
//! validation, the flat JSON codec of the course's messages and a crash-safe chain store. Pure
//! apart from the store: the `comp3010` profile of `votechain-peer` drives it.
