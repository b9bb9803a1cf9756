//! Fuzz target `w4119`: the body is `votechain_fuzzing::w4119`, which `cargo test -p
//! votechain-fuzzing` also runs over the committed corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| votechain_fuzzing::w4119(data));
