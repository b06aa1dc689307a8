//! Cuts complete BGP messages out of a byte stream (RFC 4271 section 4.1).
//!
//! The header is checked as soon as it is in the buffer, before waiting for the body, so a
//! bad marker or length is answered with its NOTIFICATION at once.

use bytes::{Bytes, BytesMut};

use crate::context::{Context, HEADER_LEN, MAX_MESSAGE_LEN};
use crate::error::{DecodeError, Reason};

const MARKER: [u8; 16] = [0xff; 16];

/// Splits a TCP byte stream into messages. Keeps the negotiated maximum length.
#[derive(Debug, Clone)]
pub struct Framer {
    max_len: usize,
}

impl Default for Framer {
    fn default() -> Self {
        Self {
            max_len: MAX_MESSAGE_LEN,
        }
    }
}

impl Framer {
    /// A framer for a session that has not negotiated extended messages.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies the negotiated context: after RFC 8654 is negotiated, up to 65535 bytes.
    pub fn set_context(&mut self, context: &Context) {
        self.max_len = context.max_message_len();
    }

    /// Takes the next complete message (header included) off the front of `buf`, or
    /// `Ok(None)` when more bytes are needed. A bad header is an error with the
    /// NOTIFICATION it calls for; the stream cannot be resynchronised after one.
    pub fn next_message(&self, buf: &mut BytesMut) -> Result<Option<Bytes>, DecodeError> {
        let Some(header) = buf.get(..HEADER_LEN) else {
            // Check the part of the marker that has arrived: garbage is refused early.
            if buf.iter().any(|&b| b != 0xff) && buf.len() <= MARKER.len() {
                return Err(DecodeError::reset("message header", Reason::BadMarker));
            }
            return Ok(None);
        };
        check_header(header, self.max_len)?;
        let len = usize::from(u16::from_be_bytes([header[16], header[17]]));
        if buf.len() < len {
            buf.reserve(len - buf.len());
            return Ok(None);
        }
        Ok(Some(buf.split_to(len).freeze()))
    }
}

/// Checks marker and length of a 19-byte header.
pub(crate) fn check_header(header: &[u8], max_len: usize) -> Result<(), DecodeError> {
    if header.get(..16) != Some(&MARKER[..]) {
        return Err(DecodeError::reset("message header", Reason::BadMarker));
    }
    let raw = header.get(16..18).unwrap_or(&[0, 0]);
    let len = u16::from_be_bytes([raw[0], raw[1]]);
    if usize::from(len) < HEADER_LEN || usize::from(len) > max_len {
        // RFC 4271 section 6.1: the data is the erroneous Length field.
        return Err(DecodeError::with_data(
            "message header",
            Reason::BadLength(len),
            crate::error::ErrorHandling::SessionReset,
            Bytes::copy_from_slice(raw),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keepalive() -> Vec<u8> {
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&[0, 19, 4]);
        m
    }

    #[test]
    fn cuts_messages_across_reads() {
        let framer = Framer::new();
        let two: Vec<u8> = [keepalive(), keepalive()].concat();
        let mut buf = BytesMut::new();
        let mut got = 0;
        for chunk in two.chunks(7) {
            buf.extend_from_slice(chunk);
            while let Some(m) = framer.next_message(&mut buf).unwrap() {
                assert_eq!(&m[..], &keepalive()[..]);
                got += 1;
            }
        }
        assert_eq!(got, 2);
        assert!(buf.is_empty());
    }

    #[test]
    fn bad_header_gives_notification() {
        let framer = Framer::new();
        let mut m = keepalive();
        m[3] = 0;
        let err = framer
            .next_message(&mut BytesMut::from(&m[..5]))
            .unwrap_err();
        assert_eq!(err.notification().code, 1);
        assert_eq!(err.notification().subcode, 1);

        let mut m = keepalive();
        m[16..18].copy_from_slice(&4097u16.to_be_bytes());
        let err = framer
            .next_message(&mut BytesMut::from(&m[..]))
            .unwrap_err();
        let n = err.notification();
        assert_eq!((n.code, n.subcode, &n.data[..]), (1, 2, &[0x10, 0x01][..]));

        let mut extended = Framer::new();
        extended.set_context(&Context {
            extended_message: true,
            ..Context::BASIC
        });
        assert_eq!(
            extended.next_message(&mut BytesMut::from(&m[..])).unwrap(),
            None
        );
    }
}
