//! The checks of the `control` and `bfd` fuzz targets, shared with the corpus replay test
//! (`bgpd/tests/fuzz_corpus.rs`), which includes this file by path.
//!
//! The input is one line of the control protocol (the socket code has already cut it at the
//! newline and bounded its length; the bytes here may hold anything, newlines included). Whatever
//! the bytes, nothing panics, and:
//!
//! - as the daemon reads it (`decode_request`): a request that decodes encodes to one line that
//!   decodes to the same request; a line that does not decode gets an error response that
//!   encodes;
//! - as `bgpctl` reads it (`decode_response`): a response that decodes encodes to one line that
//!   decodes to the same response, and prints both as text and as `--json`.

use bgpd::control::format;
use bgpd::control::protocol::{
    decode_request, decode_response, encode_request, encode_response, Response,
};

/// Decodes `data` (if it is UTF-8, as the server requires) both ways and checks the results.
pub fn control(data: &[u8]) {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    match decode_request(line) {
        Ok(request) => {
            let encoded = encode_request(&request);
            let encoded = encoded.as_deref().map(one_line);
            let back = encoded.map(|l| l.and_then(|l| decode_request(l).ok()));
            assert!(
                matches!(&back, Ok(Some(r)) if *r == request),
                "request does not round-trip: {request:?} -> {back:?}"
            );
        }
        Err(e) => {
            // What the server answers.
            let answer = encode_response(&Response::error(e.to_string()));
            assert!(
                answer.as_deref().map(one_line).is_ok_and(|l| l.is_some()),
                "error response does not encode as one line: {e}: {answer:?}"
            );
        }
    }
    if let Ok(response) = decode_response(line) {
        let encoded = encode_response(&response);
        let encoded = encoded.as_deref().map(one_line);
        let back = encoded.map(|l| l.and_then(|l| decode_response(l).ok()));
        assert!(
            matches!(&back, Ok(Some(r)) if *r == response),
            "response does not round-trip: {response:?} -> {back:?}"
        );
        let _ = format::human(&response);
        assert!(
            format::json(&response).is_ok(),
            "`--json` fails for {response:?}"
        );
    }
}

/// Any bytes as one BFD datagram (`bfd` target): the decoder never panics; a packet that
/// decodes encodes to bytes that decode to the same packet; and a session fed it (as the
/// neighbor's packet, addressed to it or not) and run on for a while never panics nor sends a
/// packet with both Poll and Final set or one that does not decode.
pub fn bfd(data: &[u8]) {
    use bgpd::bfd::machine::Session;
    use bgpd::bfd::packet::ControlPacket;
    use std::time::{Duration, Instant};

    let Ok(packet) = ControlPacket::decode(data) else {
        return;
    };
    let again = ControlPacket::decode(&packet.encode());
    assert!(
        again.as_ref() == Ok(&packet),
        "BFD packet does not round-trip: {packet:?} -> {again:?}"
    );
    let t0 = Instant::now();
    let settings = config::Bfd::default();
    let mut s = Session::new(settings, packet.your_discriminator.max(1), t0);
    let mut now = t0;
    for step in 0..64u32 {
        if step % 8 == 0 {
            s.receive(now, &packet);
        }
        while let Some(out) = s.poll(now) {
            assert!(
                !(out.poll && out.final_),
                "Poll and Final together: {out:?}"
            );
            assert!(ControlPacket::decode(&out.encode()).is_ok(), "{out:?}");
        }
        while s.next_change().is_some() {}
        now = s
            .next_deadline()
            .unwrap_or(now)
            .max(now + Duration::from_millis(1));
    }
}

/// The line without its newline, if `encoded` is exactly one newline-terminated line.
fn one_line(encoded: &str) -> Option<&str> {
    encoded
        .strip_suffix('\n')
        .filter(|line| !line.contains(['\n', '\r']))
}
