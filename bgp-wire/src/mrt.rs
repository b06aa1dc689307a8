//! MRT routing table dumps (RFC 6396, TABLE_DUMP_V2), sans-IO: records into a buffer.
//!
//! A dump is one [`encode_peer_index_table`] record naming the peers, then one
//! [`encode_rib`] record per prefix whose entries point into that table by index:
//!
//! ```text
//! header: timestamp u32 | type u16 (13) | subtype u16 | length u32
//! PEER_INDEX_TABLE (1): collector BGP ID | view name len u16, name | peer count u16 |
//!                       per peer: type u8 (bit 0 IPv6, bit 1 4-byte AS) | BGP ID | address | AS
//! RIB_IPV4_UNICAST (2) / RIB_IPV6_UNICAST (4): sequence u32 | prefix len u8, prefix bytes |
//!                       entry count u16 | per entry: peer index u16 | originated u32 |
//!                       attribute len u16 | attributes (4-byte AS_PATH)
//! ```
//!
//! Attributes are written with 4-byte AS numbers (section 4.3.4). The next hop of an IPv4
//! route with an IPv4 next hop is a NEXT_HOP attribute; any other next hop is an
//! MP_REACH_NLRI attribute holding only the next hop's length and the next hop (section
//! 4.3.4: AFI, SAFI and NLRI are left out). Plain subtypes only, not the ADD-PATH ones of
//! RFC 8050: several paths of one peer for a prefix are several entries with one peer index.

use std::net::{IpAddr, Ipv4Addr};

use bytes::{BufMut, BytesMut};
use ipnet::IpNet;

use crate::attr::{NextHop, PathAttributes};
use crate::context::Context;
use crate::error::{checked_len, EncodeError};

/// MRT type TABLE_DUMP_V2 (RFC 6396 section 4.3).
pub const TABLE_DUMP_V2: u16 = 13;
/// Subtype PEER_INDEX_TABLE.
pub const PEER_INDEX_TABLE: u16 = 1;
/// Subtype RIB_IPV4_UNICAST.
pub const RIB_IPV4_UNICAST: u16 = 2;
/// Subtype RIB_IPV6_UNICAST.
pub const RIB_IPV6_UNICAST: u16 = 4;

/// Peer type bit: the address is IPv6.
const PEER_IPV6: u8 = 1;
/// Peer type bit: the AS is 4 bytes.
const PEER_AS4: u8 = 2;
/// MP_REACH_NLRI's type code and flags (optional, non-transitive).
const MP_REACH_NLRI: u8 = 14;
const OPTIONAL: u8 = 0x80;

/// One peer of the PEER_INDEX_TABLE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// Its BGP identifier.
    pub bgp_id: Ipv4Addr,
    /// Its address.
    pub address: IpAddr,
    /// Its AS (always written as 4 bytes).
    pub asn: u32,
}

/// One RIB entry: a path to the record's prefix.
#[derive(Debug, Clone, Copy)]
pub struct RibEntry<'a> {
    /// Index of its peer in the PEER_INDEX_TABLE.
    pub peer_index: u16,
    /// When the path was received (seconds since the Unix epoch).
    pub originated: u32,
    /// Its attributes; NEXT_HOP and MP_REACH_NLRI in them are ignored for `next_hop`.
    pub attrs: &'a PathAttributes,
    /// Its next hop.
    pub next_hop: NextHop,
}

/// Writes the common header and `body`.
fn record(
    timestamp: u32,
    subtype: u16,
    body: &[u8],
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    out.reserve(12 + body.len());
    out.put_u32(timestamp);
    out.put_u16(TABLE_DUMP_V2);
    out.put_u16(subtype);
    out.put_u32(checked_len("MRT record", body.len(), u32::MAX as usize)?);
    out.put_slice(body);
    Ok(())
}

/// Appends a PEER_INDEX_TABLE record (RFC 6396 section 4.3.1).
pub fn encode_peer_index_table(
    timestamp: u32,
    collector: Ipv4Addr,
    view_name: &str,
    peers: &[Peer],
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let mut body = BytesMut::with_capacity(8 + view_name.len() + peers.len() * 25);
    body.put_slice(&collector.octets());
    body.put_u16(checked_len("MRT view name", view_name.len(), 0xffff)?);
    body.put_slice(view_name.as_bytes());
    body.put_u16(checked_len("MRT peer count", peers.len(), 0xffff)?);
    for p in peers {
        match p.address {
            IpAddr::V4(a) => {
                body.put_u8(PEER_AS4);
                body.put_slice(&p.bgp_id.octets());
                body.put_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                body.put_u8(PEER_AS4 | PEER_IPV6);
                body.put_slice(&p.bgp_id.octets());
                body.put_slice(&a.octets());
            }
        }
        body.put_u32(p.asn);
    }
    record(timestamp, PEER_INDEX_TABLE, &body, out)
}

/// Appends a RIB_IPV4_UNICAST or RIB_IPV6_UNICAST record (RFC 6396 section 4.3.2) for
/// `prefix` with `entries`.
pub fn encode_rib(
    timestamp: u32,
    sequence: u32,
    prefix: IpNet,
    entries: &[RibEntry<'_>],
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let (subtype, octets): (u16, Vec<u8>) = match prefix {
        IpNet::V4(p) => (RIB_IPV4_UNICAST, p.network().octets().to_vec()),
        IpNet::V6(p) => (RIB_IPV6_UNICAST, p.network().octets().to_vec()),
    };
    let len = prefix.prefix_len();
    let mut body = BytesMut::with_capacity(64 * entries.len().max(1));
    body.put_u32(sequence);
    body.put_u8(len);
    body.put_slice(&octets[..usize::from(len).div_ceil(8)]);
    body.put_u16(checked_len("MRT RIB entry count", entries.len(), 0xffff)?);
    let ctx = Context::four_octet();
    let mut attrs = BytesMut::new();
    for e in entries {
        attrs.clear();
        match (prefix, e.next_hop) {
            (IpNet::V4(_), NextHop::V4(nh)) => {
                e.attrs.encode_with_next_hop(&ctx, nh, &mut attrs)?
            }
            (_, nh) => {
                e.attrs.encode_without_next_hop(&ctx, &mut attrs)?;
                put_mp_reach_next_hop(nh, &mut attrs)?;
            }
        }
        body.put_u16(e.peer_index);
        body.put_u32(e.originated);
        body.put_u16(checked_len(
            "MRT RIB entry attributes",
            attrs.len(),
            0xffff,
        )?);
        body.put_slice(&attrs);
    }
    record(timestamp, subtype, &body, out)
}

/// MP_REACH_NLRI in the abbreviated form of RFC 6396 section 4.3.4: next hop length and
/// next hop only.
fn put_mp_reach_next_hop(next_hop: NextHop, out: &mut BytesMut) -> Result<(), EncodeError> {
    let mut nh = Vec::with_capacity(32);
    match next_hop {
        NextHop::V4(a) => nh.extend_from_slice(&a.octets()),
        NextHop::V6 { global, link_local } => {
            nh.extend_from_slice(&global.octets());
            if let Some(ll) = link_local {
                nh.extend_from_slice(&ll.octets());
            }
        }
    }
    let len: u8 = checked_len("MRT next hop", nh.len(), 32)?;
    out.put_slice(&[OPTIONAL, MP_REACH_NLRI, len + 1, len]);
    out.put_slice(&nh);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
mod tests {
    use super::*;
    use crate::attr::{AsPath, AttrValue, Origin};
    use std::net::Ipv6Addr;

    fn attrs() -> PathAttributes {
        let mut a = PathAttributes::default();
        a.set(AttrValue::Origin(Origin::Igp));
        a.set(AttrValue::AsPath(AsPath::sequence(&[65001, 4_200_000_000])));
        a.set(AttrValue::Med(7));
        a
    }

    #[test]
    fn peer_index_table() {
        let mut out = BytesMut::new();
        let peers = [
            Peer {
                bgp_id: Ipv4Addr::new(1, 1, 1, 1),
                address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                asn: 65001,
            },
            Peer {
                bgp_id: Ipv4Addr::new(2, 2, 2, 2),
                address: IpAddr::V6(Ipv6Addr::LOCALHOST),
                asn: 4_200_000_000,
            },
        ];
        encode_peer_index_table(100, Ipv4Addr::new(9, 9, 9, 9), "", &peers, &mut out).unwrap();
        let mut want = vec![0, 0, 0, 100, 0, 13, 0, 1, 0, 0, 0, 46];
        want.extend_from_slice(&[9, 9, 9, 9, 0, 0, 0, 2]);
        want.extend_from_slice(&[2, 1, 1, 1, 1, 10, 0, 0, 1, 0, 0, 0xfd, 0xe9]);
        want.extend_from_slice(&[3, 2, 2, 2, 2]);
        want.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        want.extend_from_slice(&4_200_000_000u32.to_be_bytes());
        assert_eq!(&out[..], &want[..]);
    }

    #[test]
    fn ipv4_rib_record_has_next_hop_in_order() {
        let a = attrs();
        let entries = [
            RibEntry {
                peer_index: 0,
                originated: 5,
                attrs: &a,
                next_hop: NextHop::V4(Ipv4Addr::new(10, 0, 0, 1)),
            },
            RibEntry {
                peer_index: 0,
                originated: 6,
                attrs: &a,
                next_hop: NextHop::V4(Ipv4Addr::new(10, 0, 0, 2)),
            },
        ];
        let mut out = BytesMut::new();
        let prefix: IpNet = "10.100.128.0/17".parse().unwrap();
        encode_rib(100, 3, prefix, &entries, &mut out).unwrap();
        let attr_bytes: Vec<u8> = [
            &[0x40, 1, 1, 0][..],                                           // ORIGIN IGP
            &[0x40, 2, 10, 2, 2, 0, 0, 0xfd, 0xe9, 0xfa, 0x56, 0xea, 0x00], // AS_PATH
            &[0x40, 3, 4, 10, 0, 0, 1],                                     // NEXT_HOP
            &[0x80, 4, 4, 0, 0, 0, 7],                                      // MED
        ]
        .concat();
        let mut body = vec![0, 0, 0, 3, 17, 10, 100, 128, 0, 2];
        body.extend_from_slice(&[0, 0, 0, 0, 0, 5, 0, attr_bytes.len() as u8]);
        body.extend_from_slice(&attr_bytes);
        assert_eq!(&out[..8], &[0, 0, 0, 100, 0, 13, 0, 2]);
        assert_eq!(&out[8..12], &(out.len() as u32 - 12).to_be_bytes());
        assert_eq!(&out[12..12 + body.len()], &body[..]);
        assert_eq!(out.len(), 12 + 10 + 2 * (8 + attr_bytes.len()));
        // The second entry differs only in time and next hop.
        let second = &out[12 + body.len()..];
        assert_eq!(&second[..6], &[0, 0, 0, 0, 0, 6]);
        assert_eq!(&second[8 + 17..8 + 24], &[0x40, 3, 4, 10, 0, 0, 2]);
    }

    #[test]
    fn ipv6_rib_record_has_abbreviated_mp_reach() {
        let mut a = attrs();
        // A stored MP_REACH_NLRI or NEXT_HOP is replaced, not repeated.
        a.set(AttrValue::NextHop(Ipv4Addr::new(1, 2, 3, 4)));
        let global: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let link_local: Ipv6Addr = "fe80::1".parse().unwrap();
        let entries = [RibEntry {
            peer_index: 1,
            originated: 0,
            attrs: &a,
            next_hop: NextHop::V6 {
                global,
                link_local: Some(link_local),
            },
        }];
        let mut out = BytesMut::new();
        encode_rib(1, 0, "2001:db8::/33".parse().unwrap(), &entries, &mut out).unwrap();
        assert_eq!(&out[4..8], &[0, 13, 0, 4]);
        assert_eq!(&out[12..22], &[0, 0, 0, 0, 33, 0x20, 0x01, 0x0d, 0xb8, 0]);
        assert_eq!(&out[22..26], &[0, 1, 0, 1], "one entry, peer 1");
        let attr_len = usize::from(u16::from_be_bytes([out[30], out[31]]));
        let attrs = &out[32..];
        assert_eq!(attrs.len(), attr_len);
        let mut mp = vec![0x80, 14, 33, 32];
        mp.extend_from_slice(&global.octets());
        mp.extend_from_slice(&link_local.octets());
        assert!(attrs.ends_with(&mp));
        assert!(!attrs.windows(3).any(|w| w == [0x40, 3, 4]), "no NEXT_HOP");
        assert_eq!(attr_len, 4 + 13 + 7 + mp.len());
    }

    #[test]
    fn default_route_and_too_many_entries() {
        let a = attrs();
        let mut out = BytesMut::new();
        encode_rib(0, 0, "0.0.0.0/0".parse().unwrap(), &[], &mut out).unwrap();
        assert_eq!(&out[12..], &[0, 0, 0, 0, 0, 0, 0]);
        let e = RibEntry {
            peer_index: 0,
            originated: 0,
            attrs: &a,
            next_hop: NextHop::V4(Ipv4Addr::LOCALHOST),
        };
        let many = vec![e; 70_000];
        assert!(encode_rib(0, 0, "10.0.0.0/8".parse().unwrap(), &many, &mut out).is_err());
    }
}
