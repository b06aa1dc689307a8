//! MP_REACH_NLRI and MP_UNREACH_NLRI (RFC 4760 section 3 and 4) for IPv4 and IPv6 unicast,
//! with IPv6 next hops for IPv4 routes (RFC 8950).
//!
//! ```text
//! MP_REACH:   AFI(2) SAFI(1) nh_len(1) next_hop reserved(1) NLRI...
//! MP_UNREACH: AFI(2) SAFI(1) withdrawn NLRI...
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, BytesMut};

use crate::error::Reason;
use crate::family::Family;
use crate::nlri::{decode_prefixes, Nlri};

/// A next hop as carried in MP_REACH_NLRI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NextHop {
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 global address and, when the peer is on a shared link, its link-local
    /// address (RFC 2545 section 3).
    V6 {
        /// Global address.
        global: Ipv6Addr,
        /// Link-local address, if sent.
        link_local: Option<Ipv6Addr>,
    },
}

impl From<IpAddr> for NextHop {
    /// An IPv4 next hop, or an IPv6 global one without link-local address.
    fn from(a: IpAddr) -> Self {
        match a {
            IpAddr::V4(a) => NextHop::V4(a),
            IpAddr::V6(global) => NextHop::V6 {
                global,
                link_local: None,
            },
        }
    }
}

impl NextHop {
    /// The address to resolve: the IPv4 address or the IPv6 global address.
    pub fn addr(&self) -> IpAddr {
        match self {
            NextHop::V4(a) => IpAddr::V4(*a),
            NextHop::V6 { global, .. } => IpAddr::V6(*global),
        }
    }

    fn encoded_len(&self) -> usize {
        match self {
            NextHop::V4(_) => 4,
            NextHop::V6 {
                link_local: None, ..
            } => 16,
            NextHop::V6 { .. } => 32,
        }
    }

    fn encode(&self, out: &mut BytesMut) {
        match self {
            NextHop::V4(a) => out.put_slice(&a.octets()),
            NextHop::V6 { global, link_local } => {
                out.put_slice(&global.octets());
                if let Some(ll) = link_local {
                    out.put_slice(&ll.octets());
                }
            }
        }
    }

    fn decode(family: Family, v: &[u8]) -> Result<Self, Reason> {
        let v6 = |b: &[u8]| -> Ipv6Addr {
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            Ipv6Addr::from(a)
        };
        match (family, v.len()) {
            (Family::Ipv4Unicast, 4) => Ok(NextHop::V4(Ipv4Addr::new(v[0], v[1], v[2], v[3]))),
            // IPv6 next hop: for IPv6 routes, and for IPv4 routes with RFC 8950.
            (_, 16) => Ok(NextHop::V6 {
                global: v6(v),
                link_local: None,
            }),
            (_, 32) => Ok(NextHop::V6 {
                global: v6(&v[..16]),
                link_local: Some(v6(&v[16..])),
            }),
            _ => Err(Reason::OptionalAttribute {
                type_code: super::code::MP_REACH_NLRI,
                what: "next hop length does not match the address family",
            }),
        }
    }
}

/// MP_REACH_NLRI: reachable routes of one family with their next hop.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MpReach {
    /// IPv4 or IPv6 unicast.
    pub family: Family,
    /// The next hop for every route in `nlri`.
    pub next_hop: NextHop,
    /// The routes.
    pub nlri: Vec<Nlri>,
}

/// MP_UNREACH_NLRI: withdrawn routes of one family. Empty `nlri` is that family's
/// End-of-RIB marker (RFC 4724 section 2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MpUnreach {
    /// IPv4 or IPv6 unicast.
    pub family: Family,
    /// The withdrawn routes.
    pub nlri: Vec<Nlri>,
}

/// The family of an MP attribute, if it is one this crate decodes routes for.
pub(crate) fn peek_family(v: &[u8]) -> Option<Family> {
    let [a, b, safi, ..] = v else { return None };
    match Family::from_afi_safi(u16::from_be_bytes([*a, *b]), *safi) {
        Family::Other { .. } => None,
        f => Some(f),
    }
}

impl MpReach {
    /// Decodes the value; `family` comes from [`peek_family`].
    pub(crate) fn decode(family: Family, v: &[u8], add_path: bool) -> Result<Self, Reason> {
        let bad = |what| Reason::OptionalAttribute {
            type_code: super::code::MP_REACH_NLRI,
            what,
        };
        let nh_len = usize::from(*v.get(3).ok_or(bad("truncated"))?);
        let next_hop = v.get(4..4 + nh_len).ok_or(bad("next hop overruns"))?;
        let next_hop = NextHop::decode(family, next_hop)?;
        // One reserved octet (formerly the SNPA count) follows the next hop.
        let nlri_at = 4 + nh_len + 1;
        let nlri_bytes = v.get(nlri_at..).ok_or(bad("truncated after next hop"))?;
        let mut nlri = Vec::with_capacity(nlri_bytes.len() / 4);
        decode_prefixes(nlri_bytes, family, add_path, &mut nlri)?;
        Ok(Self {
            family,
            next_hop,
            nlri,
        })
    }

    pub(crate) fn encoded_len(&self, add_path: bool) -> usize {
        5 + self.next_hop.encoded_len()
            + self
                .nlri
                .iter()
                .map(|n| n.encoded_len(add_path))
                .sum::<usize>()
    }

    pub(crate) fn encode(&self, add_path: bool, out: &mut BytesMut) {
        self.encode_header(out);
        for n in &self.nlri {
            n.encode(add_path, out);
        }
    }

    /// Writes everything up to the NLRI: used by the packer, which appends NLRI itself.
    pub(crate) fn encode_header(&self, out: &mut BytesMut) {
        out.put_u16(self.family.afi());
        out.put_u8(self.family.safi());
        // At most 32, from `NextHop::encoded_len`.
        out.put_u8(u8::try_from(self.next_hop.encoded_len()).unwrap_or(32));
        self.next_hop.encode(out);
        out.put_u8(0);
    }
}

impl MpUnreach {
    pub(crate) fn decode(family: Family, v: &[u8], add_path: bool) -> Result<Self, Reason> {
        let mut nlri = Vec::new();
        decode_prefixes(v.get(3..).unwrap_or_default(), family, add_path, &mut nlri)?;
        Ok(Self { family, nlri })
    }

    pub(crate) fn encoded_len(&self, add_path: bool) -> usize {
        3 + self
            .nlri
            .iter()
            .map(|n| n.encoded_len(add_path))
            .sum::<usize>()
    }

    pub(crate) fn encode(&self, add_path: bool, out: &mut BytesMut) {
        out.put_u16(self.family.afi());
        out.put_u8(self.family.safi());
        for n in &self.nlri {
            n.encode(add_path, out);
        }
    }
}
