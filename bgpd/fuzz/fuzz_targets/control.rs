//! Any bytes as one control line, decoded as a request (as the daemon does) and as a response
//! (as `bgpctl` does): no panic; what decodes round-trips and renders.
#![no_main]

#[path = "../check.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::control(data));
