//! Fuzz target `decode`: the body is `votechain_fuzzing::decode`, which `cargo test -p
//! votechain-fuzzing` also runs over the committed corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| votechain_fuzzing::decode(data));
