//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the fuzz target
//! bodies on stable Rust, so every input a fuzzing session found interesting — and every
//! crash reproducer kept there — is re-checked by plain `cargo test`.

use std::path::{Path, PathBuf};

/// Files each target's corpus must hold at least, so a moved or emptied corpus directory
/// fails the test instead of passing it vacuously.
const MIN_FILES: usize = 10;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

#[test]
fn every_corpus_input_passes_its_target() {
    for (target, run) in votechain_fuzzing::TARGETS {
        let dir = corpus_dir(target);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        let mut paths: Vec<PathBuf> = entries
            .map(|e| e.expect("directory entry").path())
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        assert!(
            paths.len() >= MIN_FILES,
            "{}: {} files, at least {MIN_FILES} expected",
            dir.display(),
            paths.len()
        );
        for path in &paths {
            let data = std::fs::read(path).expect("corpus file is readable");
            // Name the input before running it, so a panic says which file broke.
            eprintln!("{target}: {}", path.display());
            run(&data);
        }
        println!("{target}: {} inputs replayed", paths.len());
    }
}
