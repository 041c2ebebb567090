//! The committed seed inputs of the fuzz targets (`fuzz/corpus/<target>/seed-*`), replayed
//! through the entry functions by the crates' `tests/fuzz_seeds.rs` (which include this file by
//! path), so that CI runs every target's code and invariants without nightly or libFuzzer.

use std::path::{Path, PathBuf};

/// `fuzz/corpus`, from a crate directory (`crates/<name>`, i.e. `CARGO_MANIFEST_DIR`).
pub fn corpus_dir(manifest_dir: &str) -> PathBuf {
    Path::new(manifest_dir).join("../../fuzz/corpus")
}

/// The seed inputs of `target`, in name order. Panics when there are none: a target without
/// seeds would silently test nothing.
pub fn seeds(manifest_dir: &str, target: &str) -> Vec<Vec<u8>> {
    let dir = corpus_dir(manifest_dir).join(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("seed-"))
        })
        .collect();
    paths.sort();
    assert!(
        !paths.is_empty(),
        "no seeds for {target} in {}",
        dir.display()
    );
    paths
        .iter()
        .map(|path| std::fs::read(path).expect("readable seed"))
        .collect()
}

/// Runs `entry` over every seed of `target`.
pub fn replay(manifest_dir: &str, target: &str, entry: impl Fn(&[u8])) {
    for seed in seeds(manifest_dir, target) {
        entry(&seed);
    }
}
