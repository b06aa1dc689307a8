//! Any bytes as a configuration file: no panic, every diagnostic inside the input.
#![no_main]

#[path = "../check.rs"]
mod check;

/// A file in `examples/`, so that `password_file = "vbr.key"` resolves as in the examples.
const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/fuzz.toml");

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::config(data, FILE));
