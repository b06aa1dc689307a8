//! Packing many routes into as few UPDATEs as the session's message size allows: the
//! attributes are encoded once per set, then each message takes as many prefixes as fit.

use std::net::Ipv4Addr;

use bytes::{BufMut, BytesMut};

use crate::attr::code::{MP_REACH_NLRI, MP_UNREACH_NLRI, NEXT_HOP};
use crate::attr::{
    flags, is_next_hop_or_nlri, put_next_hop, put_raw, raw_attributes, MpReach, MpUnreach, NextHop,
    PathAttributes,
};
use crate::context::{Context, HEADER_LEN};
use crate::error::{checked_len, EncodeError};
use crate::family::Family;
use crate::message::kind;
use crate::nlri::Nlri;

/// Writes UPDATEs for one session context (or one export group: the same bytes go to
/// every member).
#[derive(Debug, Clone)]
pub struct UpdatePacker {
    ctx: Context,
}

/// Fixed part of an UPDATE: header, withdrawn length, total attribute length.
const UPDATE_OVERHEAD: usize = HEADER_LEN + 4;

impl UpdatePacker {
    /// A packer for messages in this context.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// The session context the messages are written for.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// Appends UPDATEs announcing `nlri` (all of one family) with `attributes` and
    /// `next_hop`. IPv4 routes with an IPv4 next hop go in the classic fields with NEXT_HOP;
    /// anything else in MP_REACH_NLRI, placed first (RFC 7606 section 5.1). Any NEXT_HOP,
    /// MP_REACH_NLRI or MP_UNREACH_NLRI in `attributes` is ignored. Returns the number of
    /// messages written.
    pub fn announce(
        &self,
        attributes: &PathAttributes,
        next_hop: NextHop,
        nlri: &[Nlri],
        out: &mut BytesMut,
    ) -> Result<usize, EncodeError> {
        let Some(family) = one_family(nlri)? else {
            return Ok(0);
        };
        let add_path = self.ctx.add_path.contains(family);
        if let (Family::Ipv4Unicast, NextHop::V4(nh)) = (family, next_hop) {
            let start = out.len();
            let written = self.announce_classic(
                |out| attributes.encode_with_next_hop(&self.ctx, nh, out),
                nlri,
                add_path,
                out,
            );
            if written.is_err() {
                out.truncate(start);
            }
            return written;
        }
        let mut attr_buf = BytesMut::new();
        attributes.encode_without_next_hop(&self.ctx, &mut attr_buf)?;
        self.announce_mp(&attr_buf, family, next_hop, nlri, add_path, out)
    }

    /// [`UpdatePacker::announce`] for a set already encoded for a 4-octet AS session
    /// (`encoded`, as a route table stores it): the same bytes, without decoding it. Only for
    /// contexts with 4-octet AS numbers (else an error: the AS numbers need rewriting).
    pub fn announce_encoded(
        &self,
        encoded: &[u8],
        next_hop: NextHop,
        nlri: &[Nlri],
        out: &mut BytesMut,
    ) -> Result<usize, EncodeError> {
        if !self.ctx.four_octet_as {
            return Err(EncodeError::Invalid(
                "a stored attribute set needs a 4-octet AS session",
            ));
        }
        let Some(family) = one_family(nlri)? else {
            return Ok(0);
        };
        let add_path = self.ctx.add_path.contains(family);
        let start = out.len();
        let written = match (family, next_hop) {
            (Family::Ipv4Unicast, NextHop::V4(nh)) => self.announce_classic(
                |out| put_encoded(encoded, Some(nh), out),
                nlri,
                add_path,
                out,
            ),
            _ => {
                let mut attr_buf = BytesMut::with_capacity(encoded.len());
                put_encoded(encoded, None, &mut attr_buf)?;
                self.announce_mp(&attr_buf, family, next_hop, nlri, add_path, out)
            }
        };
        if written.is_err() {
            out.truncate(start);
        }
        written
    }

    /// Announcements in MP_REACH_NLRI, placed first, then `attr_buf` (the other attributes).
    fn announce_mp(
        &self,
        attr_buf: &[u8],
        family: Family,
        next_hop: NextHop,
        nlri: &[Nlri],
        add_path: bool,
        out: &mut BytesMut,
    ) -> Result<usize, EncodeError> {
        let mut mp_head = BytesMut::new();
        MpReach {
            family,
            next_hop,
            nlri: Vec::new(),
        }
        .encode_header(&mut mp_head);
        let fixed = attr_buf.len() + 4 + mp_head.len();
        self.pack_with(nlri, add_path, fixed, out, |msg, body| {
            let mut mp = BytesMut::with_capacity(4 + mp_head.len() + body.len());
            put_attribute(&mut mp, MP_REACH_NLRI, &[&mp_head, body])?;
            mp.put_slice(attr_buf);
            put_update(msg, &[], &mp, &[])
        })
    }

    /// IPv4 routes with an IPv4 next hop: the classic fields, written straight into `out`.
    /// The first message is written in place (header, attributes with NEXT_HOP, then as
    /// many prefixes as fit); further messages repeat its header and attributes. On error
    /// `out` may hold a partial message: the caller truncates it.
    fn announce_classic(
        &self,
        write_attributes: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
        nlri: &[Nlri],
        add_path: bool,
        out: &mut BytesMut,
    ) -> Result<usize, EncodeError> {
        let msg_start = out.len();
        out.reserve(UPDATE_OVERHEAD + 64 + nlri.len() * 5);
        out.put_slice(&[0xff; 16]);
        out.put_u16(0); // message length, set when the message is complete
        out.put_u8(kind::UPDATE);
        out.put_u16(0); // no withdrawn routes
        out.put_u16(0); // attribute length, set below
        let attr_start = out.len();
        write_attributes(out)?;
        let fixed = out.len() - attr_start;
        // The same checks, in the same order, as for a message written from parts.
        checked_len::<u16>("UPDATE", UPDATE_OVERHEAD + fixed, 0xffff)?;
        let alen: u16 = checked_len("path attributes", fixed, 0xffff)?;
        out[attr_start - 2..attr_start].copy_from_slice(&alen.to_be_bytes());
        let room = self.room(fixed)?;
        let head_len = out.len() - msg_start;
        // Header and attributes of the first message, for the next ones (copied only when
        // the prefixes need more than one message).
        let mut head: Option<Vec<u8>> = None;
        let mut this_start = msg_start;
        let mut body = 0;
        let mut messages = 1;
        for n in nlri {
            let len = n.encoded_len(add_path);
            if body + len > room {
                set_message_len(out, this_start)?;
                let head =
                    head.get_or_insert_with(|| out[msg_start..msg_start + head_len].to_vec());
                this_start = out.len();
                out.put_slice(head);
                messages += 1;
                body = 0;
            }
            n.encode(add_path, out);
            body += len;
        }
        set_message_len(out, this_start)?;
        Ok(messages)
    }

    /// Octets left for NLRI next to `fixed` octets of attributes.
    fn room(&self, fixed: usize) -> Result<usize, EncodeError> {
        let max = self.ctx.max_message_len();
        max.checked_sub(UPDATE_OVERHEAD + fixed)
            .filter(|&r| r >= 21)
            .ok_or(EncodeError::TooLong {
                what: "path attributes",
                len: fixed,
                max: max - UPDATE_OVERHEAD,
            })
    }

    /// Appends UPDATEs withdrawing `nlri` (all of `family`): the classic withdrawn field
    /// for IPv4, MP_UNREACH_NLRI otherwise. Returns the number of messages written.
    pub fn withdraw(
        &self,
        family: Family,
        nlri: &[Nlri],
        out: &mut BytesMut,
    ) -> Result<usize, EncodeError> {
        if nlri.iter().any(|n| n.family() != family) {
            return Err(EncodeError::Invalid(
                "routes of mixed families in one UPDATE",
            ));
        }
        let add_path = self.ctx.add_path.contains(family);
        if family == Family::Ipv4Unicast {
            return self.pack(nlri, add_path, out, |msg, body| {
                put_update(msg, body, &[], &[])
            });
        }
        let mut head = BytesMut::new();
        MpUnreach {
            family,
            nlri: Vec::new(),
        }
        .encode(add_path, &mut head);
        self.pack_with(nlri, add_path, 4 + head.len(), out, |msg, body| {
            let mut mp = BytesMut::with_capacity(4 + head.len() + body.len());
            put_attribute(&mut mp, MP_UNREACH_NLRI, &[&head, body])?;
            put_update(msg, &[], &mp, &[])
        })
    }

    fn pack(
        &self,
        nlri: &[Nlri],
        add_path: bool,
        out: &mut BytesMut,
        write: impl Fn(&mut BytesMut, &[u8]) -> Result<(), EncodeError>,
    ) -> Result<usize, EncodeError> {
        // `write` gets the NLRI bytes and writes the whole message; measure the fixed part
        // by writing a message with no NLRI.
        let mut probe = BytesMut::new();
        write(&mut probe, &[])?;
        let fixed = probe.len() - UPDATE_OVERHEAD;
        self.pack_with(nlri, add_path, fixed, out, write)
    }

    /// Splits `nlri` into runs whose encoding fits next to `fixed` bytes of attributes, and
    /// calls `write` for each run.
    fn pack_with(
        &self,
        nlri: &[Nlri],
        add_path: bool,
        fixed: usize,
        out: &mut BytesMut,
        write: impl Fn(&mut BytesMut, &[u8]) -> Result<(), EncodeError>,
    ) -> Result<usize, EncodeError> {
        let room = self.room(fixed)?;
        let mut body = BytesMut::with_capacity(room);
        let mut messages = 0;
        for n in nlri {
            if body.len() + n.encoded_len(add_path) > room {
                write(out, &body)?;
                messages += 1;
                body.clear();
            }
            n.encode(add_path, &mut body);
        }
        if !body.is_empty() {
            write(out, &body)?;
            messages += 1;
        }
        Ok(messages)
    }
}

/// The family of routes to announce in one UPDATE (`None`: no routes); an error when they
/// mix families.
fn one_family(nlri: &[Nlri]) -> Result<Option<Family>, EncodeError> {
    let Some(first) = nlri.first() else {
        return Ok(None);
    };
    let family = first.family();
    if nlri.iter().any(|n| n.family() != family) {
        return Err(EncodeError::Invalid(
            "routes of mixed families in one UPDATE",
        ));
    }
    Ok(Some(family))
}

/// Copies an encoded set without NEXT_HOP and MP attributes, and puts `next_hop` as
/// NEXT_HOP where encoding would (before the first higher type code).
fn put_encoded(
    encoded: &[u8],
    next_hop: Option<Ipv4Addr>,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let mut nh = next_hop;
    for a in raw_attributes(encoded) {
        let a = a.map_err(|_| EncodeError::Invalid("stored attribute set is truncated"))?;
        if is_next_hop_or_nlri(a.type_code) {
            continue;
        }
        if a.type_code > NEXT_HOP {
            if let Some(nh) = nh.take() {
                put_next_hop(nh, out);
            }
        }
        a.put(out)?;
    }
    if let Some(nh) = nh {
        put_next_hop(nh, out);
    }
    Ok(())
}

/// Writes one attribute from parts with the flags its type calls for, Extended Length only
/// when needed.
fn put_attribute(out: &mut BytesMut, type_code: u8, parts: &[&[u8]]) -> Result<(), EncodeError> {
    let base = crate::attr::expected_flags(type_code).unwrap_or(flags::OPTIONAL);
    put_raw(out, base, type_code, parts)
}

/// Writes an UPDATE from its three encoded fields.
fn put_update(
    out: &mut BytesMut,
    withdrawn: &[u8],
    attributes: &[u8],
    nlri: &[u8],
) -> Result<(), EncodeError> {
    let len = UPDATE_OVERHEAD + withdrawn.len() + attributes.len() + nlri.len();
    let len: u16 = checked_len("UPDATE", len, 0xffff)?;
    out.put_slice(&[0xff; 16]);
    out.put_u16(len);
    out.put_u8(kind::UPDATE);
    out.put_u16(checked_len("withdrawn routes", withdrawn.len(), 0xffff)?);
    out.put_slice(withdrawn);
    out.put_u16(checked_len("path attributes", attributes.len(), 0xffff)?);
    out.put_slice(attributes);
    out.put_slice(nlri);
    Ok(())
}

/// Writes the length of the message that starts at `start` and ends at the end of `out`.
fn set_message_len(out: &mut BytesMut, start: usize) -> Result<(), EncodeError> {
    let len: u16 = checked_len("UPDATE", out.len() - start, 0xffff)?;
    out[start + 16..start + 18].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use bytes::{Bytes, BytesMut};
    use ipnet::{IpNet, Ipv4Net};

    use super::*;
    use crate::attr::{Aggregator, AsPath, AttrValue, Community, MpUnreach, Origin};
    use crate::family::FamilySet;

    /// The classic path as first written: copy the list without NEXT_HOP and MP attributes,
    /// `set` NEXT_HOP, encode it apart, and split the prefixes over messages.
    fn reference(
        ctx: &Context,
        attributes: &PathAttributes,
        nh: Ipv4Addr,
        nlri: &[Nlri],
    ) -> Result<(usize, Vec<u8>), EncodeError> {
        let add_path = ctx.add_path.contains(Family::Ipv4Unicast);
        let mut attrs = PathAttributes {
            list: attributes
                .list
                .iter()
                .filter(|a| !is_next_hop_or_nlri(a.value.type_code()))
                .cloned()
                .collect(),
        };
        attrs.set(AttrValue::NextHop(nh));
        let mut attr_buf = BytesMut::new();
        attrs.encode(ctx, &mut attr_buf)?;
        let mut probe = BytesMut::new();
        put_update(&mut probe, &[], &attr_buf, &[])?;
        let packer = UpdatePacker::new(*ctx);
        let fixed = probe.len() - UPDATE_OVERHEAD;
        let mut out = BytesMut::new();
        let n = packer.pack_with(nlri, add_path, fixed, &mut out, |msg, body| {
            put_update(msg, &[], &attr_buf, body)
        })?;
        Ok((n, out.to_vec()))
    }

    fn prefixes(n: u32) -> Vec<Nlri> {
        (0..n)
            .map(|i| {
                let len = [24u8, 22, 32, 16, 8, 0, 19][usize::try_from(i % 7).unwrap()];
                let net = Ipv4Net::new(Ipv4Addr::from(0x0A00_0000 + (i << 8)), len).unwrap();
                Nlri::with_path_id(IpNet::V4(net), i)
            })
            .collect()
    }

    #[test]
    fn classic_announcements_match_the_reference() {
        let nh = Ipv4Addr::new(192, 0, 2, 1);
        let lists = [
            vec![],
            vec![AttrValue::Origin(Origin::Igp)],
            vec![
                AttrValue::Origin(Origin::Egp),
                AttrValue::AsPath(AsPath::sequence(&[64512, 4_200_000_001])),
                AttrValue::Med(7),
                AttrValue::Communities((0..300).map(|i| Community::new(1, i)).collect()),
                AttrValue::Aggregator(Aggregator {
                    asn: 4_200_000_002,
                    address: nh,
                }),
            ],
            // A stale NEXT_HOP and an MP attribute to drop, unknown types on both sides.
            vec![
                AttrValue::MpUnreach(MpUnreach {
                    family: Family::Ipv6Unicast,
                    nlri: Vec::new(),
                }),
                AttrValue::Unknown {
                    type_code: 0,
                    value: Bytes::from_static(&[1, 2]),
                },
                AttrValue::NextHop(Ipv4Addr::new(10, 0, 0, 1)),
                AttrValue::AsPath(AsPath::sequence(&[1, 2, 3])),
                AttrValue::Unknown {
                    type_code: 99,
                    value: Bytes::from_static(&[3]),
                },
            ],
            // Only attributes after NEXT_HOP, in a non-sorted order.
            vec![AttrValue::LocalPref(100), AttrValue::Med(1)],
            // Too big for any message.
            vec![AttrValue::AsPath(AsPath::sequence(&[1; 1100]))],
        ];
        let contexts = [
            Context::four_octet(),
            Context::BASIC,
            Context {
                add_path: FamilySet::only(Family::Ipv4Unicast),
                ..Context::four_octet()
            },
            Context {
                extended_message: true,
                ..Context::BASIC
            },
        ];
        for ctx in &contexts {
            for values in &lists {
                let attrs = PathAttributes::from_values(values.clone());
                for n in [0, 1, 5, 900, 3000] {
                    let nlri = prefixes(n);
                    let mut out = BytesMut::from(&b"kept"[..]);
                    let got =
                        UpdatePacker::new(*ctx).announce(&attrs, NextHop::V4(nh), &nlri, &mut out);
                    let want = if n == 0 {
                        Ok((0, Vec::new()))
                    } else {
                        reference(ctx, &attrs, nh, &nlri)
                    };
                    assert_eq!(&out[..4], b"kept");
                    match want {
                        Ok((messages, bytes)) => {
                            assert_eq!(got, Ok(messages));
                            assert_eq!(&out[4..], &bytes[..], "{ctx:?} {values:?} {n}");
                        }
                        Err(e) => {
                            assert_eq!(got, Err(e));
                            assert_eq!(out.len(), 4);
                        }
                    }
                }
            }
        }
    }
}
