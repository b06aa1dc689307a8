//! The negotiated session parameters that change how messages are read and written.

use crate::family::FamilySet;

/// Largest message before extended messages are negotiated (RFC 4271 section 4.1).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Largest message once extended messages are negotiated (RFC 8654 section 4).
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;
/// The fixed header: marker, length, type (RFC 4271 section 4.1).
pub const HEADER_LEN: usize = 19;

/// One direction of a session as negotiated in the OPEN exchange. A daemon keeps one for
/// decoding what the peer sends and one for encoding what it sends to the peer; they differ
/// only in ADD-PATH (RFC 7911 section 4: send and receive are negotiated separately).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Context {
    /// Both sides advertised the 4-octet AS capability (RFC 6793): AS_PATH and AGGREGATOR
    /// carry 4-octet AS numbers.
    pub four_octet_as: bool,
    /// Families whose NLRI carry a path identifier in this direction (RFC 7911 section 3).
    pub add_path: FamilySet,
    /// Both sides advertised extended messages (RFC 8654): messages up to 65535 bytes.
    pub extended_message: bool,
    /// The session is external: RFC 7606 discards LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST
    /// received over eBGP (sections 7.5, 7.9, 7.10).
    pub ebgp: bool,
}

impl Context {
    /// The context before or without any capability: 2-octet AS, no ADD-PATH, 4096 bytes.
    pub const BASIC: Context = Context {
        four_octet_as: false,
        add_path: FamilySet::EMPTY,
        extended_message: false,
        ebgp: false,
    };

    /// A modern session: 4-octet AS, no ADD-PATH, standard message size.
    pub fn four_octet() -> Self {
        Context {
            four_octet_as: true,
            ..Self::BASIC
        }
    }

    /// The largest message this session may carry.
    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            MAX_EXTENDED_MESSAGE_LEN
        } else {
            MAX_MESSAGE_LEN
        }
    }
}
