//! NOTIFICATION messages (RFC 4271 section 4.5) with every registered code and subcode by
//! name, and the shutdown communication of RFC 9003.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError, Reason};

/// Message Header Error.
pub const MESSAGE_HEADER_ERROR: u8 = 1;
/// OPEN Message Error.
pub const OPEN_MESSAGE_ERROR: u8 = 2;
/// UPDATE Message Error.
pub const UPDATE_MESSAGE_ERROR: u8 = 3;
/// Hold Timer Expired.
pub const HOLD_TIMER_EXPIRED: u8 = 4;
/// Finite State Machine Error (RFC 6608).
pub const FSM_ERROR: u8 = 5;
/// Cease (RFC 4486).
pub const CEASE: u8 = 6;
/// ROUTE-REFRESH Message Error (RFC 7313).
pub const ROUTE_REFRESH_ERROR: u8 = 7;

/// Cease subcodes (RFC 4486, RFC 8538, RFC 9384).
pub mod cease {
    /// Maximum Number of Prefixes Reached.
    pub const MAX_PREFIXES: u8 = 1;
    /// Administrative Shutdown.
    pub const ADMIN_SHUTDOWN: u8 = 2;
    /// Peer De-configured.
    pub const PEER_DECONFIGURED: u8 = 3;
    /// Administrative Reset.
    pub const ADMIN_RESET: u8 = 4;
    /// Connection Rejected.
    pub const CONNECTION_REJECTED: u8 = 5;
    /// Other Configuration Change.
    pub const OTHER_CONFIG_CHANGE: u8 = 6;
    /// Connection Collision Resolution.
    pub const CONNECTION_COLLISION: u8 = 7;
    /// Out of Resources.
    pub const OUT_OF_RESOURCES: u8 = 8;
    /// Hard Reset (RFC 8538).
    pub const HARD_RESET: u8 = 9;
    /// BFD Down (RFC 9384).
    pub const BFD_DOWN: u8 = 10;
}

/// Longest shutdown communication in bytes (RFC 9003 section 2).
pub const MAX_SHUTDOWN_MESSAGE: usize = 255;

/// A NOTIFICATION: error code, subcode and data. Codes are kept as numbers so that unknown
/// ones survive a round trip; [`Notification::code_name`] and friends name them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notification {
    /// Error code.
    pub code: u8,
    /// Error subcode.
    pub subcode: u8,
    /// Data, whose meaning depends on code and subcode.
    pub data: Bytes,
}

impl Notification {
    /// A NOTIFICATION with the given fields.
    pub fn new(code: u8, subcode: u8, data: Bytes) -> Self {
        Self {
            code,
            subcode,
            data,
        }
    }

    /// Cease with a shutdown communication (RFC 9003): `subcode` should be Administrative
    /// Shutdown or Administrative Reset. The message is cut at a character boundary to fit
    /// 255 bytes.
    pub fn cease_with_message(subcode: u8, message: &str) -> Self {
        let mut end = message.len().min(MAX_SHUTDOWN_MESSAGE);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let text = &message.as_bytes()[..end];
        let mut data = BytesMut::with_capacity(1 + text.len());
        // `end` is at most 255, so the length always fits one octet.
        data.put_u8(u8::try_from(end).unwrap_or(u8::MAX));
        data.put_slice(text);
        Self::new(CEASE, subcode, data.freeze())
    }

    /// The shutdown communication of a Cease / Administrative Shutdown or Reset, if the data
    /// holds a well-formed one (RFC 9003 section 2).
    pub fn shutdown_message(&self) -> Option<&str> {
        if self.code != CEASE
            || !(self.subcode == cease::ADMIN_SHUTDOWN || self.subcode == cease::ADMIN_RESET)
        {
            return None;
        }
        let (&len, rest) = self.data.split_first()?;
        let text = rest.get(..usize::from(len))?;
        std::str::from_utf8(text).ok()
    }

    /// The name of the error code.
    pub fn code_name(&self) -> &'static str {
        match self.code {
            MESSAGE_HEADER_ERROR => "Message Header Error",
            OPEN_MESSAGE_ERROR => "OPEN Message Error",
            UPDATE_MESSAGE_ERROR => "UPDATE Message Error",
            HOLD_TIMER_EXPIRED => "Hold Timer Expired",
            FSM_ERROR => "Finite State Machine Error",
            CEASE => "Cease",
            ROUTE_REFRESH_ERROR => "ROUTE-REFRESH Message Error",
            _ => "Unknown error code",
        }
    }

    /// The name of the subcode within its code, or "Unspecific" for 0.
    pub fn subcode_name(&self) -> &'static str {
        if self.subcode == 0 {
            return "Unspecific";
        }
        match (self.code, self.subcode) {
            (MESSAGE_HEADER_ERROR, 1) => "Connection Not Synchronized",
            (MESSAGE_HEADER_ERROR, 2) => "Bad Message Length",
            (MESSAGE_HEADER_ERROR, 3) => "Bad Message Type",
            (OPEN_MESSAGE_ERROR, 1) => "Unsupported Version Number",
            (OPEN_MESSAGE_ERROR, 2) => "Bad Peer AS",
            (OPEN_MESSAGE_ERROR, 3) => "Bad BGP Identifier",
            (OPEN_MESSAGE_ERROR, 4) => "Unsupported Optional Parameter",
            (OPEN_MESSAGE_ERROR, 6) => "Unacceptable Hold Time",
            (OPEN_MESSAGE_ERROR, 7) => "Unsupported Capability",
            (OPEN_MESSAGE_ERROR, 11) => "Role Mismatch",
            (UPDATE_MESSAGE_ERROR, 1) => "Malformed Attribute List",
            (UPDATE_MESSAGE_ERROR, 2) => "Unrecognized Well-known Attribute",
            (UPDATE_MESSAGE_ERROR, 3) => "Missing Well-known Attribute",
            (UPDATE_MESSAGE_ERROR, 4) => "Attribute Flags Error",
            (UPDATE_MESSAGE_ERROR, 5) => "Attribute Length Error",
            (UPDATE_MESSAGE_ERROR, 6) => "Invalid ORIGIN Attribute",
            (UPDATE_MESSAGE_ERROR, 8) => "Invalid NEXT_HOP Attribute",
            (UPDATE_MESSAGE_ERROR, 9) => "Optional Attribute Error",
            (UPDATE_MESSAGE_ERROR, 10) => "Invalid Network Field",
            (UPDATE_MESSAGE_ERROR, 11) => "Malformed AS_PATH",
            (FSM_ERROR, 1) => "Receive Unexpected Message in OpenSent State",
            (FSM_ERROR, 2) => "Receive Unexpected Message in OpenConfirm State",
            (FSM_ERROR, 3) => "Receive Unexpected Message in Established State",
            (CEASE, cease::MAX_PREFIXES) => "Maximum Number of Prefixes Reached",
            (CEASE, cease::ADMIN_SHUTDOWN) => "Administrative Shutdown",
            (CEASE, cease::PEER_DECONFIGURED) => "Peer De-configured",
            (CEASE, cease::ADMIN_RESET) => "Administrative Reset",
            (CEASE, cease::CONNECTION_REJECTED) => "Connection Rejected",
            (CEASE, cease::OTHER_CONFIG_CHANGE) => "Other Configuration Change",
            (CEASE, cease::CONNECTION_COLLISION) => "Connection Collision Resolution",
            (CEASE, cease::OUT_OF_RESOURCES) => "Out of Resources",
            (CEASE, cease::HARD_RESET) => "Hard Reset",
            (CEASE, cease::BFD_DOWN) => "BFD Down",
            (ROUTE_REFRESH_ERROR, 1) => "Invalid Message Length",
            _ => "Unknown subcode",
        }
    }

    pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        match body {
            [code, subcode, data @ ..] => {
                Ok(Self::new(*code, *subcode, Bytes::copy_from_slice(data)))
            }
            _ => Err(DecodeError::reset(
                "NOTIFICATION",
                Reason::MalformedNotification,
            )),
        }
    }

    pub(crate) fn encode_body(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        out.put_u8(self.code);
        out.put_u8(self.subcode);
        out.put_slice(&self.data);
        Ok(())
    }
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} / {} ({}/{})",
            self.code_name(),
            self.subcode_name(),
            self.code,
            self.subcode
        )?;
        if let Some(message) = self.shutdown_message() {
            write!(f, ": \"{}\"", message.escape_debug())?;
        } else if !self.data.is_empty() {
            write!(f, ", data")?;
            for b in self.data.iter().take(32) {
                write!(f, " {b:02x}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_message_round_trip_and_truncation() {
        let n = Notification::cease_with_message(cease::ADMIN_SHUTDOWN, "maintenance");
        assert_eq!(n.shutdown_message(), Some("maintenance"));
        assert_eq!(
            n.to_string(),
            "Cease / Administrative Shutdown (6/2): \"maintenance\""
        );
        let long = "é".repeat(200); // 400 bytes
        let n = Notification::cease_with_message(cease::ADMIN_RESET, &long);
        let text = n.shutdown_message().unwrap_or_default();
        assert_eq!(text.len(), 254); // cut at a character boundary below 255
    }

    #[test]
    fn names() {
        let n = Notification::new(UPDATE_MESSAGE_ERROR, 11, Bytes::new());
        assert_eq!(
            n.to_string(),
            "UPDATE Message Error / Malformed AS_PATH (3/11)"
        );
        let n = Notification::new(9, 9, Bytes::from_static(&[1]));
        assert_eq!(
            n.to_string(),
            "Unknown error code / Unknown subcode (9/9), data 01"
        );
    }
}
