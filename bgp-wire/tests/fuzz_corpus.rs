//! Replays the fuzz corpus (`bgp-wire/fuzz/corpus`) through the fuzz targets' checks: a
//! bounded smoke run that needs no libFuzzer.

use std::fs;
use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
        if let Ok(data) = fs::read(entry.path()) {
            check(&data);
            n += 1;
        }
    }
    n
}

#[test]
fn framer_corpus() {
    let n = replay("framer", bgp_wire::fuzzing::framer);
    assert!(n > 0, "the framer corpus is empty");
}

#[test]
fn decoder_corpus() {
    let n = replay("decoder", bgp_wire::fuzzing::decoder);
    assert!(n > 0, "the decoder corpus is empty");
}
