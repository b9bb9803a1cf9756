//! Fuzz target `course`: the body is `votechain_fuzzing::course`, which `cargo test -p
//! votechain-fuzzing` also runs over the committed corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| votechain_fuzzing::course(data));
