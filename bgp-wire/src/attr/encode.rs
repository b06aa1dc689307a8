//! Encoding of path attributes.

use std::net::Ipv4Addr;

use bytes::{BufMut, BytesMut};

use super::code::NEXT_HOP;
use super::flags::{EXTENDED_LENGTH, OPTIONAL, PARTIAL, TRANSITIVE};
use super::{expected_flags, is_next_hop_or_nlri, AsPath, AttrValue, Attribute, PathAttributes};
use crate::context::Context;
use crate::error::{checked_len, EncodeError};
use crate::open::AS_TRANS;

impl Attribute {
    /// The flag byte to write for a value of `len` bytes.
    fn wire_flags(&self, len: usize) -> u8 {
        let t = self.value.type_code();
        let mut f = match expected_flags(t) {
            Some(expected) if expected == OPTIONAL | TRANSITIVE => {
                expected | (self.flags & PARTIAL)
            }
            Some(expected) => expected,
            None => self.flags & (OPTIONAL | TRANSITIVE | PARTIAL),
        };
        if len > 255 || self.flags & EXTENDED_LENGTH != 0 {
            f |= EXTENDED_LENGTH;
        }
        f
    }

    /// Length of the value on the wire.
    fn value_len(&self, ctx: &Context) -> usize {
        match &self.value {
            AttrValue::Origin(_) => 1,
            AttrValue::AsPath(p) => p.encoded_len(ctx.four_octet_as),
            AttrValue::NextHop(_)
            | AttrValue::Med(_)
            | AttrValue::LocalPref(_)
            | AttrValue::OriginatorId(_)
            | AttrValue::Otc(_) => 4,
            AttrValue::AtomicAggregate => 0,
            AttrValue::Aggregator(_) => {
                if ctx.four_octet_as {
                    8
                } else {
                    6
                }
            }
            AttrValue::As4Aggregator(_) => 8,
            AttrValue::Communities(c) => 4 * c.len(),
            AttrValue::ClusterList(c) => 4 * c.len(),
            AttrValue::ExtCommunities(c) => 8 * c.len(),
            AttrValue::LargeCommunities(c) => 12 * c.len(),
            AttrValue::MpReach(m) => m.encoded_len(ctx.add_path.contains(m.family)),
            AttrValue::MpUnreach(m) => m.encoded_len(ctx.add_path.contains(m.family)),
            AttrValue::As4Path(p) => p.encoded_len(true),
            AttrValue::Unknown { value, .. } => value.len(),
        }
    }

    /// Writes flags, type, length and value.
    pub(crate) fn encode(&self, ctx: &Context, out: &mut BytesMut) -> Result<(), EncodeError> {
        let len = self.value_len(ctx);
        let flags = self.wire_flags(len);
        out.put_u8(flags);
        out.put_u8(self.value.type_code());
        if flags & EXTENDED_LENGTH != 0 {
            out.put_u16(checked_len("path attribute", len, 0xffff)?);
        } else {
            out.put_u8(checked_len("path attribute", len, 255)?);
        }
        let start = out.len();
        match &self.value {
            AttrValue::Origin(o) => out.put_u8(*o as u8),
            AttrValue::AsPath(p) => p.encode(ctx.four_octet_as, out),
            AttrValue::NextHop(a) | AttrValue::OriginatorId(a) => out.put_slice(&a.octets()),
            AttrValue::Med(v) | AttrValue::LocalPref(v) | AttrValue::Otc(v) => out.put_u32(*v),
            AttrValue::AtomicAggregate => {}
            AttrValue::Aggregator(a) => {
                if ctx.four_octet_as {
                    out.put_u32(a.asn);
                } else {
                    out.put_u16(u16::try_from(a.asn).unwrap_or(AS_TRANS));
                }
                out.put_slice(&a.address.octets());
            }
            AttrValue::As4Aggregator(a) => {
                out.put_u32(a.asn);
                out.put_slice(&a.address.octets());
            }
            AttrValue::Communities(c) => c.iter().for_each(|c| out.put_u32(c.0)),
            AttrValue::ClusterList(c) => c.iter().for_each(|a| out.put_slice(&a.octets())),
            AttrValue::ExtCommunities(c) => c.iter().for_each(|c| out.put_slice(&c.0)),
            AttrValue::LargeCommunities(c) => c.iter().for_each(|c| {
                out.put_u32(c.global);
                out.put_u32(c.local1);
                out.put_u32(c.local2);
            }),
            AttrValue::MpReach(m) => m.encode(ctx.add_path.contains(m.family), out),
            AttrValue::MpUnreach(m) => m.encode(ctx.add_path.contains(m.family), out),
            AttrValue::As4Path(p) => p.encode(true, out),
            AttrValue::Unknown { value, .. } => out.put_slice(value),
        }
        debug_assert_eq!(out.len() - start, len);
        Ok(())
    }
}

impl PathAttributes {
    /// Writes every attribute in order. Towards a 2-octet speaker (RFC 6793 section 4.2.2),
    /// AS numbers over 65535 become AS_TRANS, and AS4_PATH / AS4_AGGREGATOR are added when
    /// they are needed and not already present.
    pub fn encode(&self, ctx: &Context, out: &mut BytesMut) -> Result<(), EncodeError> {
        for a in &self.list {
            a.encode(ctx, out)?;
        }
        self.encode_as4(ctx, out)
    }

    /// Writes every attribute but NEXT_HOP, MP_REACH_NLRI and MP_UNREACH_NLRI, as
    /// [`PathAttributes::encode`] would after removing them, without copying the list:
    /// the form a route table keeps a set in, apart from its next hop and NLRI.
    pub fn encode_without_next_hop(
        &self,
        ctx: &Context,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        for a in &self.list {
            if !is_next_hop_or_nlri(a.value.type_code()) {
                a.encode(ctx, out)?;
            }
        }
        self.encode_as4(ctx, out)
    }

    /// Writes the attributes of classic IPv4 announcements: the list without NEXT_HOP,
    /// MP_REACH_NLRI and MP_UNREACH_NLRI, and `next_hop` as NEXT_HOP where
    /// [`PathAttributes::set`] would insert it (before the first higher type code). The same
    /// bytes as filtering, `set` and [`PathAttributes::encode`], without copying the list.
    pub(crate) fn encode_with_next_hop(
        &self,
        ctx: &Context,
        next_hop: Ipv4Addr,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        let mut nh = Some(next_hop);
        for a in &self.list {
            let t = a.value.type_code();
            if is_next_hop_or_nlri(t) {
                continue;
            }
            if t > NEXT_HOP {
                if let Some(nh) = nh.take() {
                    put_next_hop(nh, out);
                }
            }
            a.encode(ctx, out)?;
        }
        if let Some(nh) = nh {
            put_next_hop(nh, out);
        }
        self.encode_as4(ctx, out)
    }

    /// Towards a 2-octet speaker, the AS4_PATH and AS4_AGGREGATOR that
    /// [`PathAttributes::encode`] adds.
    fn encode_as4(&self, ctx: &Context, out: &mut BytesMut) -> Result<(), EncodeError> {
        if !ctx.four_octet_as {
            if let Some(path) = self.as_path() {
                if path.has_four_octet_asn() && self.as4_path().is_none() {
                    let as4 = AsPath {
                        segments: path
                            .segments
                            .iter()
                            .filter(|s| !s.kind.is_confed())
                            .cloned()
                            .collect(),
                    };
                    Attribute::new(AttrValue::As4Path(as4)).encode(ctx, out)?;
                }
            }
            if let Some(agg) = self.aggregator() {
                if agg.asn > u32::from(u16::MAX) && self.as4_aggregator().is_none() {
                    Attribute::new(AttrValue::As4Aggregator(*agg)).encode(ctx, out)?;
                }
            }
        }
        Ok(())
    }

    /// Bytes [`PathAttributes::encode`] writes.
    pub fn encoded_len(&self, ctx: &Context) -> usize {
        // Encoding is cheap and exact; counting separately would duplicate every rule.
        let mut scratch = BytesMut::new();
        match self.encode(ctx, &mut scratch) {
            Ok(()) => scratch.len(),
            Err(_) => usize::MAX,
        }
    }
}

/// NEXT_HOP as [`Attribute::new`] flags it: well-known transitive, 4 octets.
pub(crate) fn put_next_hop(next_hop: Ipv4Addr, out: &mut BytesMut) {
    let o = next_hop.octets();
    out.put_slice(&[TRANSITIVE, NEXT_HOP, 4, o[0], o[1], o[2], o[3]]);
}
