//! Decoding of the path attribute field with RFC 7606 error handling: each malformed
//! attribute is classified as session reset, AFI/SAFI disable, treat-as-withdraw or
//! attribute discard, and only a session reset (or AFI/SAFI disable) stops the decode.

use std::net::Ipv4Addr;

use bytes::Bytes;

use super::code::*;
use super::flags::{EXTENDED_LENGTH, OPTIONAL, PARTIAL, TRANSITIVE};
use super::{
    expected_flags, mp, Aggregator, AsPath, AttrValue, Attribute, Community, ExtCommunity,
    LargeCommunity, MpReach, MpUnreach, Origin, PathAttributes,
};
use crate::context::Context;
use crate::error::{DecodeError, ErrorHandling, Reason};

const CONTEXT: &str = "UPDATE path attributes";

/// What went wrong with one attribute's value, and what RFC 7606 says to do about it.
struct Malformed(Reason, ErrorHandling);

fn withdraw(reason: Reason) -> Malformed {
    Malformed(reason, ErrorHandling::TreatAsWithdraw)
}

fn discard(reason: Reason) -> Malformed {
    Malformed(reason, ErrorHandling::AttributeDiscard)
}

fn length(type_code: u8, v: &[u8]) -> Reason {
    Reason::AttributeLength {
        type_code,
        length: v.len(),
    }
}

#[inline]
fn u32_at(v: &[u8]) -> u32 {
    u32::from_be_bytes([v[0], v[1], v[2], v[3]])
}

#[inline]
fn ipv4_at(v: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(v[0], v[1], v[2], v[3])
}

/// Decodes the attributes. `Err` is a session reset or AFI/SAFI disable; the non-fatal
/// outcomes come back in the second element, and the attributes they name are left out.
pub(crate) fn decode_attributes(
    mut input: &[u8],
    ctx: &Context,
    has_ipv4_nlri: bool,
) -> Result<(PathAttributes, Vec<DecodeError>), DecodeError> {
    let mut list = Vec::with_capacity(8);
    let mut issues = Vec::new();
    let mut seen = [0u64; 4];
    while !input.is_empty() {
        // RFC 7606 section 4: an attribute that overruns the field, or a remainder too short
        // for a header, is treat-as-withdraw; the NLRI are located from the lengths.
        let Some((&flag_byte, rest)) = input.split_first() else {
            break;
        };
        let header = if flag_byte & EXTENDED_LENGTH != 0 {
            4
        } else {
            3
        };
        let (type_code, len) = match rest {
            [t, l, ..] if header == 3 => (*t, usize::from(*l)),
            [t, l1, l2, ..] if header == 4 => (*t, usize::from(u16::from_be_bytes([*l1, *l2]))),
            _ => {
                issues.push(issue(
                    Reason::MalformedAttributeList("attribute header overruns the field"),
                    ErrorHandling::TreatAsWithdraw,
                    Bytes::new(),
                ));
                break;
            }
        };
        let Some(raw) = input.get(..header + len) else {
            issues.push(issue(
                Reason::AttributeLength {
                    type_code,
                    length: len,
                },
                ErrorHandling::TreatAsWithdraw,
                Bytes::copy_from_slice(input),
            ));
            break;
        };
        let value = &raw[header..];
        input = &input[header + len..];

        let bit = 1u64 << (type_code % 64);
        let word = usize::from(type_code / 64);
        if seen[word] & bit != 0 {
            // RFC 7606 section 3 g: repeated MP attributes reset the session, any other
            // repeat is discarded.
            if type_code == MP_REACH_NLRI || type_code == MP_UNREACH_NLRI {
                return Err(DecodeError::reset(
                    CONTEXT,
                    Reason::DuplicateAttribute(type_code),
                ));
            }
            issues.push(issue(
                Reason::DuplicateAttribute(type_code),
                ErrorHandling::AttributeDiscard,
                Bytes::copy_from_slice(raw),
            ));
            continue;
        }
        seen[word] |= bit;

        // The low four bits are ignored on receipt (RFC 4271 section 4.3). Extended Length is
        // kept only where it was a choice (the value would fit one octet), so that the
        // re-encoding matches what the peer sent.
        let mut flags = flag_byte & 0xf0;
        if len > 255 {
            flags &= !EXTENDED_LENGTH;
        }
        if let Some(expected) = expected_flags(type_code) {
            let partial_allowed = expected == OPTIONAL | TRANSITIVE;
            if flags & (OPTIONAL | TRANSITIVE) != expected
                || (!partial_allowed && flags & PARTIAL != 0)
            {
                // RFC 7606 section 3 c.
                let action = if type_code == MP_REACH_NLRI || type_code == MP_UNREACH_NLRI {
                    ErrorHandling::SessionReset
                } else {
                    ErrorHandling::TreatAsWithdraw
                };
                let e = issue(
                    Reason::AttributeFlags { type_code, flags },
                    action,
                    Bytes::copy_from_slice(raw),
                );
                if action == ErrorHandling::SessionReset {
                    return Err(e);
                }
                issues.push(e);
                continue;
            }
        } else if flags & OPTIONAL == 0 {
            // RFC 4271 section 6.3: an unrecognized well-known attribute.
            return Err(DecodeError::with_data(
                CONTEXT,
                Reason::UnrecognizedWellKnown(type_code),
                ErrorHandling::SessionReset,
                Bytes::copy_from_slice(raw),
            ));
        }

        match decode_value(type_code, value, ctx) {
            Ok(Some(value)) => list.push(Attribute { flags, value }),
            Ok(None) => {}
            Err(Malformed(reason, action)) => {
                let e = issue(reason, action, Bytes::copy_from_slice(raw));
                match action {
                    ErrorHandling::SessionReset | ErrorHandling::AfiSafiDisable(_) => {
                        return Err(e)
                    }
                    ErrorHandling::TreatAsWithdraw | ErrorHandling::AttributeDiscard => {
                        issues.push(e)
                    }
                }
            }
        }
    }

    let attrs = PathAttributes { list };
    check_mandatory(&attrs, has_ipv4_nlri, &seen, &mut issues);
    Ok((attrs, issues))
}

/// RFC 4271 section 6.3 and RFC 7606 section 3 d: routes without ORIGIN, AS_PATH or (for
/// IPv4 NLRI outside MP_REACH_NLRI) NEXT_HOP are treat-as-withdraw. LOCAL_PREF is not
/// demanded: a missing one means the default, as most implementations read it.
fn check_mandatory(
    attrs: &PathAttributes,
    has_ipv4_nlri: bool,
    seen: &[u64; 4],
    issues: &mut Vec<DecodeError>,
) {
    let has_mp_nlri = attrs.mp_reach().is_some_and(|m| !m.nlri.is_empty());
    if !has_ipv4_nlri && !has_mp_nlri {
        return;
    }
    let required: &[u8] = if has_ipv4_nlri {
        &[ORIGIN, AS_PATH, NEXT_HOP]
    } else {
        &[ORIGIN, AS_PATH]
    };
    for &t in required {
        // An attribute already reported as malformed is not reported missing as well.
        let present = seen[usize::from(t / 64)] & (1 << (t % 64)) != 0;
        if !present {
            issues.push(issue(
                Reason::MissingWellKnown(t),
                ErrorHandling::TreatAsWithdraw,
                Bytes::copy_from_slice(&[t]),
            ));
        }
    }
}

fn issue(reason: Reason, action: ErrorHandling, data: Bytes) -> DecodeError {
    DecodeError::with_data(CONTEXT, reason, action, data)
}

/// Decodes one value. `Ok(None)` means the attribute is disregarded without error (RFC 7606
/// section 7.5, 7.9 and 7.10: LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST from eBGP).
fn decode_value(t: u8, v: &[u8], ctx: &Context) -> Result<Option<AttrValue>, Malformed> {
    let value = match t {
        ORIGIN => match v {
            [0] => AttrValue::Origin(Origin::Igp),
            [1] => AttrValue::Origin(Origin::Egp),
            [2] => AttrValue::Origin(Origin::Incomplete),
            [x] => return Err(withdraw(Reason::InvalidOrigin(*x))),
            _ => return Err(withdraw(length(t, v))),
        },
        AS_PATH => AttrValue::AsPath(AsPath::decode(v, ctx.four_octet_as).map_err(withdraw)?),
        NEXT_HOP => {
            if v.len() != 4 {
                return Err(withdraw(length(t, v)));
            }
            let nh = ipv4_at(v);
            // RFC 7606 section 7.3 refers to RFC 4271 section 6.3: a next hop that is not
            // a usable unicast address.
            if nh.is_unspecified() || nh.is_multicast() || nh.is_broadcast() {
                return Err(withdraw(Reason::InvalidNextHop("not a unicast address")));
            }
            AttrValue::NextHop(nh)
        }
        MULTI_EXIT_DISC if v.len() == 4 => AttrValue::Med(u32_at(v)),
        MULTI_EXIT_DISC => return Err(withdraw(length(t, v))),
        LOCAL_PREF if ctx.ebgp => return Ok(None),
        LOCAL_PREF if v.len() == 4 => AttrValue::LocalPref(u32_at(v)),
        LOCAL_PREF => return Err(withdraw(length(t, v))),
        ATOMIC_AGGREGATE if v.is_empty() => AttrValue::AtomicAggregate,
        ATOMIC_AGGREGATE => return Err(discard(length(t, v))),
        AGGREGATOR => match (ctx.four_octet_as, v.len()) {
            (true, 8) => AttrValue::Aggregator(Aggregator {
                asn: u32_at(v),
                address: ipv4_at(&v[4..]),
            }),
            (false, 6) => AttrValue::Aggregator(Aggregator {
                asn: u32::from(u16::from_be_bytes([v[0], v[1]])),
                address: ipv4_at(&v[2..]),
            }),
            _ => return Err(discard(length(t, v))),
        },
        COMMUNITIES if !v.is_empty() && v.len() % 4 == 0 => {
            AttrValue::Communities(v.chunks_exact(4).map(|c| Community(u32_at(c))).collect())
        }
        COMMUNITIES => return Err(withdraw(length(t, v))),
        ORIGINATOR_ID | CLUSTER_LIST if ctx.ebgp => return Ok(None),
        ORIGINATOR_ID if v.len() == 4 => AttrValue::OriginatorId(ipv4_at(v)),
        ORIGINATOR_ID => return Err(withdraw(length(t, v))),
        CLUSTER_LIST if !v.is_empty() && v.len() % 4 == 0 => {
            AttrValue::ClusterList(v.chunks_exact(4).map(ipv4_at).collect())
        }
        CLUSTER_LIST => return Err(withdraw(length(t, v))),
        MP_REACH_NLRI | MP_UNREACH_NLRI => return decode_mp(t, v, ctx).map(Some),
        EXTENDED_COMMUNITIES if v.len() % 8 == 0 => AttrValue::ExtCommunities(
            v.chunks_exact(8)
                .map(|c| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(c);
                    ExtCommunity(b)
                })
                .collect(),
        ),
        EXTENDED_COMMUNITIES => return Err(withdraw(length(t, v))),
        // RFC 6793 section 6: malformed AS4 attributes are discarded.
        AS4_PATH => match AsPath::decode(v, true) {
            Ok(p) if !p.segments.iter().any(|s| s.kind.is_confed()) => AttrValue::As4Path(p),
            Ok(_) => {
                return Err(discard(Reason::MalformedAsPath(
                    "AS4_PATH with confederation segments",
                )))
            }
            Err(r) => return Err(discard(r)),
        },
        AS4_AGGREGATOR if v.len() == 8 => AttrValue::As4Aggregator(Aggregator {
            asn: u32_at(v),
            address: ipv4_at(&v[4..]),
        }),
        AS4_AGGREGATOR => return Err(discard(length(t, v))),
        // RFC 8092 section 6.
        LARGE_COMMUNITY if !v.is_empty() && v.len() % 12 == 0 => AttrValue::LargeCommunities(
            v.chunks_exact(12)
                .map(|c| LargeCommunity {
                    global: u32_at(c),
                    local1: u32_at(&c[4..]),
                    local2: u32_at(&c[8..]),
                })
                .collect(),
        ),
        LARGE_COMMUNITY => return Err(withdraw(length(t, v))),
        // RFC 9234 section 5.
        OTC if v.len() == 4 => AttrValue::Otc(u32_at(v)),
        OTC => return Err(withdraw(length(t, v))),
        _ => AttrValue::Unknown {
            type_code: t,
            value: Bytes::copy_from_slice(v),
        },
    };
    Ok(Some(value))
}

/// RFC 7606 section 7.11: an MP attribute that cannot be parsed leaves no way to know which
/// routes it carried; the family is disabled (or the session reset).
fn decode_mp(t: u8, v: &[u8], ctx: &Context) -> Result<AttrValue, Malformed> {
    let Some(family) = mp::peek_family(v) else {
        if v.len() < 3 {
            return Err(Malformed(length(t, v), ErrorHandling::SessionReset));
        }
        // A family this crate does not decode: carried as bytes, the daemon ignores it.
        return Ok(AttrValue::Unknown {
            type_code: t,
            value: Bytes::copy_from_slice(v),
        });
    };
    let add_path = ctx.add_path.contains(family);
    let decoded = if t == MP_REACH_NLRI {
        MpReach::decode(family, v, add_path).map(AttrValue::MpReach)
    } else {
        MpUnreach::decode(family, v, add_path).map(AttrValue::MpUnreach)
    };
    // RFC 4760 section 7: any error in an MP attribute is an Optional Attribute Error.
    decoded.map_err(|reason| {
        let reason = match reason {
            Reason::InvalidNetwork(what) => Reason::OptionalAttribute { type_code: t, what },
            other => other,
        };
        Malformed(reason, ErrorHandling::AfiSafiDisable(family))
    })
}
