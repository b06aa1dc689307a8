//! Replays the fuzz corpus (`config/fuzz/corpus/config`) through the fuzz target's checks
//! (`config/fuzz/check.rs`): a bounded smoke run that needs no libFuzzer. The examples, which
//! seeded the corpus but were minimised out of it, go through the same checks.

use std::fs;
use std::path::Path;

#[path = "../fuzz/check.rs"]
mod check;

/// The name the fuzz target loads its inputs under (relative to this crate, not the fuzz one).
const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/fuzz.toml");

fn replay(dir: &str) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut n = 0;
    for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
        if let Ok(data) = fs::read(entry.path()) {
            // Shown if the check fails: the input that failed is the last one named.
            println!("{}", entry.path().display());
            check::config(&data, FILE);
            n += 1;
        }
    }
    n
}

#[test]
fn config_corpus() {
    assert!(
        replay("fuzz/corpus/config") > 0,
        "the config corpus is empty"
    );
}

#[test]
fn examples() {
    assert!(replay("../examples") > 0, "no examples");
}
