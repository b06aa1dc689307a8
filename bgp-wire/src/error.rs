//! Decode and encode errors.
//!
//! Every decode error says two things the daemon acts on without parsing again: the
//! NOTIFICATION that RFC 4271 section 6 prescribes (code, subcode, data), and the RFC 7606
//! action (session reset, AFI/SAFI disable, treat-as-withdraw, attribute discard).

use bytes::Bytes;

use crate::family::Family;
use crate::notification::Notification;

/// The error handling RFC 7606 section 2 prescribes for a malformed UPDATE or attribute: what
/// the receiver does about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorHandling {
    /// Send the NOTIFICATION and close the session (RFC 4271 section 6).
    SessionReset,
    /// Stop using this address family on the session (RFC 4760 section 7); a daemon that does
    /// not implement it resets the session instead.
    AfiSafiDisable(Family),
    /// Treat every prefix in the UPDATE as withdrawn (RFC 7606 section 2).
    TreatAsWithdraw,
    /// Drop the attribute and process the rest of the UPDATE (RFC 7606 section 2).
    AttributeDiscard,
}

/// Why a message, or part of it, was rejected. Each variant maps to exactly one
/// NOTIFICATION code and subcode (see [`Reason::code_subcode`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    // Message header errors (code 1).
    #[error("marker is not all ones")]
    BadMarker,
    #[error("message length {0} is out of range")]
    BadLength(u16),
    #[error("unknown message type {0}")]
    BadType(u8),

    // OPEN message errors (code 2).
    #[error("unsupported BGP version {0}")]
    UnsupportedVersion(u8),
    #[error("bad peer AS {0}")]
    BadPeerAs(u32),
    #[error("bad BGP identifier {0}")]
    BadBgpIdentifier(std::net::Ipv4Addr),
    #[error("unsupported optional parameter type {0}")]
    UnsupportedOptionalParameter(u8),
    #[error("unacceptable hold time {0}")]
    UnacceptableHoldTime(u16),
    #[error("malformed OPEN: {0}")]
    MalformedOpen(&'static str),

    // UPDATE message errors (code 3).
    #[error("malformed attribute list: {0}")]
    MalformedAttributeList(&'static str),
    #[error("unrecognized well-known attribute {0}")]
    UnrecognizedWellKnown(u8),
    #[error("missing well-known attribute {0}")]
    MissingWellKnown(u8),
    #[error("attribute {type_code}: flags {flags:#04x} conflict with the attribute type")]
    AttributeFlags { type_code: u8, flags: u8 },
    #[error("attribute {type_code}: bad length {length}")]
    AttributeLength { type_code: u8, length: usize },
    #[error("invalid ORIGIN value {0}")]
    InvalidOrigin(u8),
    #[error("invalid NEXT_HOP: {0}")]
    InvalidNextHop(&'static str),
    #[error("attribute {type_code}: {what}")]
    OptionalAttribute { type_code: u8, what: &'static str },
    #[error("invalid network field: {0}")]
    InvalidNetwork(&'static str),
    #[error("malformed AS_PATH: {0}")]
    MalformedAsPath(&'static str),
    #[error("attribute {0} appears more than once")]
    DuplicateAttribute(u8),

    // NOTIFICATION and ROUTE-REFRESH.
    #[error("malformed NOTIFICATION")]
    MalformedNotification,
    #[error("ROUTE-REFRESH has invalid length {0}")]
    RouteRefreshLength(u16),
}

impl Reason {
    /// The NOTIFICATION error code and subcode (RFC 4271 section 4.5, RFC 7313 section 5).
    pub fn code_subcode(&self) -> (u8, u8) {
        use Reason::*;
        match self {
            BadMarker => (1, 1),
            BadLength(_) => (1, 2),
            BadType(_) => (1, 3),
            UnsupportedVersion(_) => (2, 1),
            BadPeerAs(_) => (2, 2),
            BadBgpIdentifier(_) => (2, 3),
            UnsupportedOptionalParameter(_) => (2, 4),
            UnacceptableHoldTime(_) => (2, 6),
            MalformedOpen(_) => (2, 0),
            MalformedAttributeList(_) | DuplicateAttribute(_) => (3, 1),
            UnrecognizedWellKnown(_) => (3, 2),
            MissingWellKnown(_) => (3, 3),
            AttributeFlags { .. } => (3, 4),
            AttributeLength { .. } => (3, 5),
            InvalidOrigin(_) => (3, 6),
            InvalidNextHop(_) => (3, 8),
            OptionalAttribute { .. } => (3, 9),
            InvalidNetwork(_) => (3, 10),
            MalformedAsPath(_) => (3, 11),
            // RFC 4271 has no code for a NOTIFICATION about a NOTIFICATION: the session just
            // closes. Header error is the closest honest answer if one must be sent.
            MalformedNotification => (1, 2),
            RouteRefreshLength(_) => (7, 1),
        }
    }
}

/// A message (or part of one) that could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{context}: {reason}")]
pub struct DecodeError {
    /// What was wrong.
    pub reason: Reason,
    /// Where it was: the message or attribute being decoded.
    pub context: &'static str,
    /// What RFC 7606 (or RFC 4271 for non-UPDATE messages) says to do.
    pub action: ErrorHandling,
    /// The data field of the NOTIFICATION (RFC 4271 section 6 says what goes there).
    pub data: Bytes,
}

impl DecodeError {
    pub(crate) fn reset(context: &'static str, reason: Reason) -> Self {
        Self::with_data(context, reason, ErrorHandling::SessionReset, Bytes::new())
    }

    pub(crate) fn with_data(
        context: &'static str,
        reason: Reason,
        action: ErrorHandling,
        data: Bytes,
    ) -> Self {
        Self {
            reason,
            context,
            action,
            data,
        }
    }

    /// The NOTIFICATION this error calls for.
    pub fn notification(&self) -> Notification {
        let (code, subcode) = self.reason.code_subcode();
        Notification::new(code, subcode, self.data.clone())
    }
}

/// A message that cannot be encoded within the negotiated limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("{what} is {len} bytes, more than the {max} that fit")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{0}")]
    Invalid(&'static str),
}

/// Checks that `len` fits in `max` and converts it to the wire width `T`; encoders never
/// truncate silently.
pub(crate) fn checked_len<T: TryFrom<usize>>(
    what: &'static str,
    len: usize,
    max: usize,
) -> Result<T, EncodeError> {
    if len > max {
        return Err(EncodeError::TooLong { what, len, max });
    }
    T::try_from(len).map_err(|_| EncodeError::TooLong { what, len, max })
}
