//! Any bytes as one BFD Control packet: decoded, round-tripped, and fed to a session run on
//! for a while (`check::bfd`).
#![no_main]

#[path = "../check.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::bfd(data));
