//! A byte stream in, messages cut and decoded in every session context.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bgp_wire::fuzzing::framer(data));
