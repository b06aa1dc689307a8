//! Packing many routes into as few UPDATEs as the session's message size allows: the
//! attributes are encoded once per set, then each message takes as many prefixes as fit.

use bytes::{BufMut, BytesMut};

use crate::attr::code::{MP_REACH_NLRI, MP_UNREACH_NLRI, NEXT_HOP};
use crate::attr::{flags, AttrValue, MpReach, MpUnreach, NextHop, PathAttributes};
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
        let Some(first) = nlri.first() else {
            return Ok(0);
        };
        let family = first.family();
        if nlri.iter().any(|n| n.family() != family) {
            return Err(EncodeError::Invalid(
                "routes of mixed families in one UPDATE",
            ));
        }
        let add_path = self.ctx.add_path.contains(family);
        let mut attrs = PathAttributes {
            list: attributes
                .list
                .iter()
                .filter(|a| {
                    !matches!(
                        a.value.type_code(),
                        NEXT_HOP | MP_REACH_NLRI | MP_UNREACH_NLRI
                    )
                })
                .cloned()
                .collect(),
        };
        match (family, next_hop) {
            (Family::Ipv4Unicast, NextHop::V4(nh)) => {
                attrs.set(AttrValue::NextHop(nh));
                let mut attr_buf = BytesMut::new();
                attrs.encode(&self.ctx, &mut attr_buf)?;
                self.pack(nlri, add_path, out, |msg, body| {
                    put_update(msg, &[], &attr_buf, body)
                })
            }
            _ => {
                let mut attr_buf = BytesMut::new();
                attrs.encode(&self.ctx, &mut attr_buf)?;
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
                    mp.put_slice(&attr_buf);
                    put_update(msg, &[], &mp, &[])
                })
            }
        }
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
        let max = self.ctx.max_message_len();
        let room = max
            .checked_sub(UPDATE_OVERHEAD + fixed)
            .filter(|&r| r >= 21)
            .ok_or(EncodeError::TooLong {
                what: "path attributes",
                len: fixed,
                max: max - UPDATE_OVERHEAD,
            })?;
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

/// Writes one attribute from parts, with the Extended Length flag only when needed.
fn put_attribute(out: &mut BytesMut, type_code: u8, parts: &[&[u8]]) -> Result<(), EncodeError> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let base = crate::attr::expected_flags(type_code).unwrap_or(flags::OPTIONAL);
    if len > 255 {
        out.put_u8(base | flags::EXTENDED_LENGTH);
        out.put_u8(type_code);
        out.put_u16(checked_len("path attribute", len, 0xffff)?);
    } else {
        out.put_u8(base);
        out.put_u8(type_code);
        out.put_u8(checked_len("path attribute", len, 255)?);
    }
    for p in parts {
        out.put_slice(p);
    }
    Ok(())
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
