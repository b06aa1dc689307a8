//! Communities (RFC 1997), extended communities (RFC 4360) and large communities (RFC 8092).

use std::fmt;

/// A standard community: two 16-bit halves, conventionally `ASN:value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

impl Community {
    /// GRACEFUL_SHUTDOWN (RFC 8326).
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xFFFF_0000);
    /// LLGR_STALE (RFC 9494).
    pub const LLGR_STALE: Community = Community(0xFFFF_0006);
    /// NO_LLGR (RFC 9494).
    pub const NO_LLGR: Community = Community(0xFFFF_0007);
    /// NO_EXPORT (RFC 1997).
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    /// NO_ADVERTISE (RFC 1997).
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);
    /// NO_EXPORT_SUBCONFED (RFC 1997).
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xFFFF_FF03);

    /// From the two halves.
    pub fn new(high: u16, low: u16) -> Self {
        Community(u32::from(high) << 16 | u32::from(low))
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0 >> 16, self.0 & 0xffff)
    }
}

/// An extended community: 8 octets, type first (RFC 4360 section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtCommunity(pub [u8; 8]);

impl fmt::Display for ExtCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        match b[0] & 0x3f {
            // Two-octet AS specific: type, subtype, AS(2), value(4).
            0x00 => write!(
                f,
                "{}:{}:{}",
                kind(b[1]),
                u16::from_be_bytes([b[2], b[3]]),
                u32::from_be_bytes([b[4], b[5], b[6], b[7]])
            ),
            // IPv4 address specific: type, subtype, address(4), value(2).
            0x01 => write!(
                f,
                "{}:{}.{}.{}.{}:{}",
                kind(b[1]),
                b[2],
                b[3],
                b[4],
                b[5],
                u16::from_be_bytes([b[6], b[7]])
            ),
            // Four-octet AS specific (RFC 5668): type, subtype, AS(4), value(2).
            0x02 => write!(
                f,
                "{}:{}:{}",
                kind(b[1]),
                u32::from_be_bytes([b[2], b[3], b[4], b[5]]),
                u16::from_be_bytes([b[6], b[7]])
            ),
            _ => write!(
                f,
                "0x{}",
                self.0
                    .iter()
                    .map(|x| format!("{x:02x}"))
                    .collect::<String>()
            ),
        }
    }
}

fn kind(subtype: u8) -> &'static str {
    match subtype {
        0x02 => "rt",
        0x03 => "ro",
        _ => "ext",
    }
}

/// A large community: three 32-bit values, `global:local1:local2` (RFC 8092).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    /// Global administrator (an ASN).
    pub global: u32,
    /// First local data part.
    pub local1: u32,
    /// Second local data part.
    pub local2: u32,
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.global, self.local1, self.local2)
    }
}
