//! The checks of the `control` fuzz target, shared with the corpus replay test
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

/// The line without its newline, if `encoded` is exactly one newline-terminated line.
fn one_line(encoded: &str) -> Option<&str> {
    encoded
        .strip_suffix('\n')
        .filter(|line| !line.contains(['\n', '\r']))
}
