//! UPDATE messages (RFC 4271 section 4.3).
//!
//! ```text
//! withdrawn_len(2) withdrawn(IPv4 NLRI) attr_len(2) attributes NLRI(IPv4, to the end)
//! ```

use std::net::IpAddr;

use bytes::{BufMut, BytesMut};

use crate::attr::{decode_attributes, AttrValue, MpUnreach, NextHop, PathAttributes};
use crate::context::Context;
use crate::error::{checked_len, DecodeError, EncodeError, ErrorHandling, Reason};
use crate::family::Family;
use crate::nlri::{decode_prefixes, Nlri};

/// An UPDATE. IPv4 unicast routes may travel in the classic fields (`withdrawn`, `nlri`,
/// with the NEXT_HOP attribute) or, like every other family, in MP_REACH_NLRI /
/// MP_UNREACH_NLRI inside `attributes`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Update {
    /// Withdrawn IPv4 routes.
    pub withdrawn: Vec<Nlri>,
    /// Path attributes, in wire order.
    pub attributes: PathAttributes,
    /// Reachable IPv4 routes.
    pub nlri: Vec<Nlri>,
    /// RFC 7606 outcomes that did not reset the session: treat-as-withdraw and attribute
    /// discard, each with the NOTIFICATION it would otherwise have caused (for logs).
    /// Never encoded.
    pub errors: Vec<DecodeError>,
}

/// A route announced by an UPDATE, flattened from either encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announced<'a> {
    /// The prefix and path identifier.
    pub nlri: &'a Nlri,
    /// The next hop.
    pub next_hop: NextHop,
}

impl Update {
    /// The End-of-RIB marker of a family (RFC 4724 section 2): an empty UPDATE for IPv4
    /// unicast, an empty MP_UNREACH_NLRI otherwise.
    pub fn end_of_rib(family: Family) -> Self {
        match family {
            Family::Ipv4Unicast => Self::default(),
            family => Self {
                attributes: PathAttributes::from_values([AttrValue::MpUnreach(MpUnreach {
                    family,
                    nlri: Vec::new(),
                })]),
                ..Self::default()
            },
        }
    }

    /// The family whose End-of-RIB this is, if it is one.
    pub fn end_of_rib_family(&self) -> Option<Family> {
        if !self.withdrawn.is_empty() || !self.nlri.is_empty() {
            return None;
        }
        match self.attributes.list.as_slice() {
            [] => Some(Family::Ipv4Unicast),
            [a] => match &a.value {
                AttrValue::MpUnreach(m) if m.nlri.is_empty() => Some(m.family),
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether RFC 7606 says to treat every route of this UPDATE as withdrawn.
    pub fn treat_as_withdraw(&self) -> bool {
        self.errors
            .iter()
            .any(|e| e.action == ErrorHandling::TreatAsWithdraw)
    }

    /// Every announced route, classic IPv4 NLRI first, then MP_REACH_NLRI.
    pub fn announced(&self) -> impl Iterator<Item = Announced<'_>> {
        let classic_nh = self.attributes.next_hop().map(|a| NextHop::V4(*a));
        let classic = self
            .nlri
            .iter()
            .filter_map(move |n| classic_nh.map(|next_hop| Announced { nlri: n, next_hop }));
        let mp = self.attributes.mp_reach().into_iter().flat_map(|m| {
            m.nlri.iter().map(move |n| Announced {
                nlri: n,
                next_hop: m.next_hop,
            })
        });
        classic.chain(mp)
    }

    /// Every route this UPDATE tries to announce, classic IPv4 NLRI first, then
    /// MP_REACH_NLRI, whether or not it has a usable next hop (unlike [`Self::announced`],
    /// which leaves out classic NLRI without a NEXT_HOP attribute).
    ///
    /// These are the routes RFC 7606 treat-as-withdraw withdraws: section 2 says all the
    /// routes the UPDATE contains, and section 5.1 locates them from the NLRI field and
    /// MP_REACH_NLRI alone, so a malformed, missing or invalid NEXT_HOP (section 7.3, the
    /// attribute the decoder then leaves out) withdraws them as well. An MP_REACH_NLRI that
    /// cannot itself be parsed never gets here: it resets the session or disables the family
    /// (sections 3 j and 7.11).
    pub fn announced_nlri(&self) -> impl Iterator<Item = &Nlri> {
        let mp = self
            .attributes
            .mp_reach()
            .into_iter()
            .flat_map(|m| m.nlri.iter());
        self.nlri.iter().chain(mp)
    }

    /// Every withdrawn route, classic IPv4 first, then MP_UNREACH_NLRI.
    pub fn withdrawn_routes(&self) -> impl Iterator<Item = &Nlri> {
        let mp = self
            .attributes
            .mp_unreach()
            .into_iter()
            .flat_map(|m| m.nlri.iter());
        self.withdrawn.iter().chain(mp)
    }

    /// The next hop address of the classic NLRI, if any.
    pub fn classic_next_hop(&self) -> Option<IpAddr> {
        self.attributes.next_hop().map(|a| IpAddr::V4(*a))
    }

    pub(crate) fn decode(body: &[u8], ctx: &Context) -> Result<Self, DecodeError> {
        let malformed = |what| DecodeError::reset("UPDATE", Reason::MalformedAttributeList(what));
        let (wlen, rest) = body
            .split_first_chunk::<2>()
            .ok_or(malformed("shorter than 4 octets"))?;
        let wlen = usize::from(u16::from_be_bytes(*wlen));
        let withdrawn_bytes = rest
            .get(..wlen)
            .ok_or(malformed("withdrawn routes overrun"))?;
        let rest = &rest[wlen..];
        let (alen, rest) = rest
            .split_first_chunk::<2>()
            .ok_or(malformed("total attribute length missing"))?;
        let alen = usize::from(u16::from_be_bytes(*alen));
        let attr_bytes = rest
            .get(..alen)
            .ok_or(malformed("path attributes overrun"))?;
        let nlri_bytes = &rest[alen..];

        let add_path = ctx.add_path.contains(Family::Ipv4Unicast);
        let network = |reason| DecodeError::reset("UPDATE", reason);
        let mut withdrawn = Vec::new();
        decode_prefixes(
            withdrawn_bytes,
            Family::Ipv4Unicast,
            add_path,
            &mut withdrawn,
        )
        .map_err(network)?;
        // A /24 takes 4 octets; a third of the field covers tables heavy in /9-/16 as well.
        let mut nlri = Vec::with_capacity(nlri_bytes.len() / 3);
        decode_prefixes(nlri_bytes, Family::Ipv4Unicast, add_path, &mut nlri).map_err(network)?;
        let (attributes, errors) = decode_attributes(attr_bytes, ctx, !nlri.is_empty())?;
        Ok(Self {
            withdrawn,
            attributes,
            nlri,
            errors,
        })
    }

    pub(crate) fn encode_body(&self, ctx: &Context, out: &mut BytesMut) -> Result<(), EncodeError> {
        let add_path = ctx.add_path.contains(Family::Ipv4Unicast);
        let len_at = out.len();
        out.put_u16(0);
        for n in &self.withdrawn {
            n.encode(add_path, out);
        }
        let wlen: u16 = checked_len("withdrawn routes", out.len() - len_at - 2, 0xffff)?;
        out[len_at..len_at + 2].copy_from_slice(&wlen.to_be_bytes());
        let len_at = out.len();
        out.put_u16(0);
        self.attributes.encode(ctx, out)?;
        let alen: u16 = checked_len("path attributes", out.len() - len_at - 2, 0xffff)?;
        out[len_at..len_at + 2].copy_from_slice(&alen.to_be_bytes());
        for n in &self.nlri {
            n.encode(add_path, out);
        }
        Ok(())
    }
}
