//! An independent implementation of a COMP 3010 course peer, written from the course's
//! specification (`shared/reference/seed-protocols.md`, "Seed B") for tests and benchmarks. It
//! deliberately shares no code with votechain, so that agreeing with it means agreeing with the
//! specification, not with ourselves.
