//! One message in, decoded in every session context; what decodes must round-trip.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bgp_wire::fuzzing::decoder(data));
