//! Network Layer Reachability Information: prefixes as (length, significant octets), with
//! the ADD-PATH path identifier in front where negotiated (RFC 4271 section 4.3, RFC 4760
//! section 5, RFC 7911 section 3).
//!
//! ```text
//! [path_id(4)] length(1) prefix(ceil(length / 8))
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, BytesMut};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::error::Reason;
use crate::family::Family;

/// One prefix as carried in an UPDATE, with its ADD-PATH path identifier (0 where ADD-PATH
/// is not negotiated for the family: presence is a property of the session, not the route).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nlri {
    /// The prefix, host bits cleared.
    pub prefix: IpNet,
    /// The path identifier (RFC 7911).
    pub path_id: u32,
}

impl Nlri {
    /// A prefix without a path identifier.
    pub fn new(prefix: IpNet) -> Self {
        Self {
            prefix: prefix.trunc(),
            path_id: 0,
        }
    }

    /// A prefix with a path identifier.
    pub fn with_path_id(prefix: IpNet, path_id: u32) -> Self {
        Self {
            prefix: prefix.trunc(),
            path_id,
        }
    }

    /// The family the prefix belongs to.
    #[inline]
    pub fn family(&self) -> Family {
        match self.prefix {
            IpNet::V4(_) => Family::Ipv4Unicast,
            IpNet::V6(_) => Family::Ipv6Unicast,
        }
    }

    /// Bytes this NLRI takes on the wire.
    #[inline]
    pub fn encoded_len(&self, add_path: bool) -> usize {
        let bits = usize::from(self.prefix.prefix_len());
        1 + bits.div_ceil(8) + if add_path { 4 } else { 0 }
    }

    /// Writes the NLRI.
    #[inline]
    pub fn encode(&self, add_path: bool, out: &mut BytesMut) {
        if add_path {
            out.put_u32(self.path_id);
        }
        let len = self.prefix.prefix_len();
        let octets = usize::from(len).div_ceil(8);
        out.put_u8(len);
        match self.prefix {
            IpNet::V4(p) => out.put_slice(&p.addr().octets()[..octets]),
            IpNet::V6(p) => out.put_slice(&p.addr().octets()[..octets]),
        }
    }
}

/// Decodes a run of prefixes of one family, appending to `out`. An error means the field
/// cannot be parsed: RFC 7606 section 5.3 calls for a session reset (or AFI/SAFI disable).
pub(crate) fn decode_prefixes(
    mut input: &[u8],
    family: Family,
    add_path: bool,
    out: &mut Vec<Nlri>,
) -> Result<(), Reason> {
    let max_bits: u8 = match family {
        Family::Ipv4Unicast => 32,
        Family::Ipv6Unicast => 128,
        Family::Other { .. } => return Err(Reason::InvalidNetwork("unsupported family")),
    };
    while !input.is_empty() {
        let mut path_id = 0;
        if add_path {
            let Some((id, rest)) = input.split_first_chunk::<4>() else {
                return Err(Reason::InvalidNetwork("truncated path identifier"));
            };
            path_id = u32::from_be_bytes(*id);
            input = rest;
        }
        let Some((&len, rest)) = input.split_first() else {
            return Err(Reason::InvalidNetwork("missing prefix length"));
        };
        if len > max_bits {
            return Err(Reason::InvalidNetwork("prefix length too long"));
        }
        let octets = usize::from(len).div_ceil(8);
        let Some(bytes) = rest.get(..octets) else {
            return Err(Reason::InvalidNetwork("truncated prefix"));
        };
        input = &rest[octets..];
        let prefix = match family {
            Family::Ipv4Unicast => {
                // Assembled by length rather than copied: a variable-length copy is a call
                // to memcpy for every prefix.
                let addr = match *bytes {
                    [] => 0,
                    [a] => u32::from(a) << 24,
                    [a, b] => u32::from_be_bytes([a, b, 0, 0]),
                    [a, b, c] => u32::from_be_bytes([a, b, c, 0]),
                    [a, b, c, d, ..] => u32::from_be_bytes([a, b, c, d]),
                } & mask32(len);
                IpNet::V4(
                    Ipv4Net::new(Ipv4Addr::from(addr), len)
                        .map_err(|_| Reason::InvalidNetwork("prefix length too long"))?,
                )
            }
            _ => {
                let mut a = [0u8; 16];
                a[..octets].copy_from_slice(bytes);
                let addr = u128::from_be_bytes(a) & mask128(len);
                IpNet::V6(
                    Ipv6Net::new(Ipv6Addr::from(addr), len)
                        .map_err(|_| Reason::InvalidNetwork("prefix length too long"))?,
                )
            }
        };
        out.push(Nlri { prefix, path_id });
    }
    Ok(())
}

#[inline]
fn mask32(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask128(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_clears_host_bits() {
        let mut out = Vec::new();
        // 10.0.0.0/8, 192.0.2.128/25 with a stray host bit, 0.0.0.0/0
        decode_prefixes(
            &[8, 10, 25, 192, 0, 2, 0x81, 0],
            Family::Ipv4Unicast,
            false,
            &mut out,
        )
        .unwrap();
        let got: Vec<String> = out.iter().map(|n| n.prefix.to_string()).collect();
        assert_eq!(got, ["10.0.0.0/8", "192.0.2.128/25", "0.0.0.0/0"]);
    }

    #[test]
    fn rejects_bad_lengths() {
        let mut out = Vec::new();
        assert!(
            decode_prefixes(&[33, 1, 2, 3, 4, 5], Family::Ipv4Unicast, false, &mut out).is_err()
        );
        assert!(decode_prefixes(&[24, 1, 2], Family::Ipv4Unicast, false, &mut out).is_err());
        assert!(decode_prefixes(&[0, 0, 0], Family::Ipv4Unicast, true, &mut out).is_err());
        assert!(decode_prefixes(&[129], Family::Ipv6Unicast, false, &mut out).is_err());
    }
}
