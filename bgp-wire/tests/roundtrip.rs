//! Property test: every message the encoder writes decodes back to the same message, in
//! every session context (2- and 4-octet AS, with and without ADD-PATH, extended messages).

// Tests panic on failure by design; the workspace lints keep panics out of src/ only.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_wire::attr::{
    code, flags, Aggregator, AsPath, AttrValue, Attribute, Community, ExtCommunity, LargeCommunity,
    MpReach, MpUnreach, NextHop, Origin, PathAttributes, Segment, SegmentType,
};
use bgp_wire::capability::{
    AddPathMode, Capability, GracefulRestart, GracefulRestartFamily, LlgrFamily,
};
use bgp_wire::{
    decode, encode, Context, Family, FamilySet, Message, Nlri, Notification, Open,
    OptionalParameter, RefreshSubtype, RouteRefresh, Update,
};
use bytes::{Bytes, BytesMut};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::collection::vec;
use proptest::prelude::*;

fn family() -> impl Strategy<Value = Family> {
    prop_oneof![
        Just(Family::Ipv4Unicast),
        Just(Family::Ipv6Unicast),
        (any::<u16>(), any::<u8>()).prop_map(|(a, s)| Family::from_afi_safi(a, s)),
    ]
}

fn capability() -> impl Strategy<Value = Capability> {
    let known = [1u8, 2, 5, 6, 9, 64, 65, 69, 70, 71, 73];
    prop_oneof![
        family().prop_map(Capability::Multiprotocol),
        Just(Capability::RouteRefresh),
        Just(Capability::ExtendedMessage),
        Just(Capability::EnhancedRouteRefresh),
        any::<u8>().prop_map(Capability::Role),
        any::<u32>().prop_map(Capability::FourOctetAs),
        vec(
            (
                family().prop_filter("safi fits", |f| f.safi() == f.safi()),
                0u16..3
            ),
            0..3
        )
        .prop_map(Capability::ExtendedNextHop),
        (0u8..16, 0u16..4096, vec((family(), any::<u8>()), 0..4)).prop_map(|(f, t, fams)| {
            Capability::GracefulRestart(GracefulRestart {
                flags: f,
                restart_time: t,
                families: fams
                    .into_iter()
                    .map(|(family, flags)| GracefulRestartFamily { family, flags })
                    .collect(),
            })
        }),
        vec(
            (
                family(),
                prop_oneof![
                    Just(AddPathMode::Receive),
                    Just(AddPathMode::Send),
                    Just(AddPathMode::Both)
                ]
            ),
            0..3
        )
        .prop_map(Capability::AddPath),
        vec((family(), any::<u8>(), 0u32..0x0100_0000), 0..3).prop_map(|v| {
            Capability::LongLivedGracefulRestart(
                v.into_iter()
                    .map(|(family, flags, stale_time)| LlgrFamily {
                        family,
                        flags,
                        stale_time,
                    })
                    .collect(),
            )
        }),
        ("[a-z0-9.-]{0,40}", "[a-z0-9.-]{0,40}")
            .prop_map(|(hostname, domain)| Capability::Fqdn { hostname, domain }),
        (
            any::<u8>().prop_filter("unknown code", move |c| !known.contains(c)),
            vec(any::<u8>(), 0..20)
        )
            .prop_map(|(code, v)| Capability::Unknown {
                code,
                value: Bytes::from(v),
            }),
    ]
}

fn open() -> impl Strategy<Value = Message> {
    (
        any::<u16>(),
        prop_oneof![Just(0u16), 3u16..],
        1u32..,
        vec(
            prop_oneof![
                vec(capability(), 0..6).prop_map(OptionalParameter::Capabilities),
                (
                    any::<u8>().prop_filter("not caps", |k| *k != 2 && *k != 255),
                    vec(any::<u8>(), 0..8)
                )
                    .prop_map(|(kind, v)| OptionalParameter::Unknown {
                        kind,
                        value: Bytes::from(v)
                    }),
            ],
            0..4,
        ),
        any::<bool>(),
    )
        .prop_map(|(my_as, hold_time, id, parameters, extended)| {
            Message::Open(Open {
                my_as,
                hold_time,
                bgp_id: Ipv4Addr::from(id),
                parameters,
                extended_parameters: extended,
            })
        })
}

fn ipv4_prefix() -> impl Strategy<Value = IpNet> {
    (any::<u32>(), 0u8..=32).prop_map(|(a, l)| {
        IpNet::V4(
            Ipv4Net::new(Ipv4Addr::from(a), l)
                .unwrap_or_default()
                .trunc(),
        )
    })
}

fn ipv6_prefix() -> impl Strategy<Value = IpNet> {
    (any::<u128>(), 0u8..=128).prop_map(|(a, l)| {
        IpNet::V6(
            Ipv6Net::new(Ipv6Addr::from(a), l)
                .unwrap_or_default()
                .trunc(),
        )
    })
}

fn nlri(prefix: impl Strategy<Value = IpNet>, add_path: bool) -> impl Strategy<Value = Nlri> {
    (prefix, any::<u32>())
        .prop_map(move |(p, id)| Nlri::with_path_id(p, if add_path { id } else { 0 }))
}

fn as_path(four_octet: bool, confed: bool) -> impl Strategy<Value = AsPath> {
    let asn = if four_octet {
        any::<u32>().boxed()
    } else {
        (0u32..=65535).boxed()
    };
    let kind = if confed {
        prop_oneof![
            Just(SegmentType::Set),
            Just(SegmentType::Sequence),
            Just(SegmentType::ConfedSequence),
            Just(SegmentType::ConfedSet)
        ]
        .boxed()
    } else {
        prop_oneof![Just(SegmentType::Set), Just(SegmentType::Sequence)].boxed()
    };
    vec((kind, vec(asn, 1..12)), 0..4).prop_map(|segs| AsPath {
        segments: segs
            .into_iter()
            .map(|(kind, asns)| Segment { kind, asns })
            .collect(),
    })
}

fn unicast_v4() -> impl Strategy<Value = Ipv4Addr> {
    (1u32..0xe000_0000).prop_map(Ipv4Addr::from)
}

fn v6_next_hop() -> impl Strategy<Value = NextHop> {
    (any::<u128>(), proptest::option::of(any::<u128>())).prop_map(|(g, ll)| NextHop::V6 {
        global: Ipv6Addr::from(g),
        link_local: ll.map(Ipv6Addr::from),
    })
}

/// Optional attributes beyond the mandatory ones, with random flag hints.
fn optional_attr(ctx: Context) -> impl Strategy<Value = AttrValue> {
    let four = ctx.four_octet_as;
    let asn = if four {
        any::<u32>().boxed()
    } else {
        (0u32..=65535).boxed()
    };
    let known = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17, 18, 32, 35];
    prop_oneof![
        any::<u32>().prop_map(AttrValue::Med),
        any::<u32>().prop_map(AttrValue::LocalPref),
        Just(AttrValue::AtomicAggregate),
        (asn, any::<u32>()).prop_map(|(asn, a)| AttrValue::Aggregator(Aggregator {
            asn,
            address: Ipv4Addr::from(a)
        })),
        vec(any::<u32>().prop_map(Community), 1..20).prop_map(AttrValue::Communities),
        any::<u32>().prop_map(|a| AttrValue::OriginatorId(Ipv4Addr::from(a))),
        vec(any::<u32>().prop_map(Ipv4Addr::from), 1..5).prop_map(AttrValue::ClusterList),
        vec(any::<[u8; 8]>().prop_map(ExtCommunity), 0..10).prop_map(AttrValue::ExtCommunities),
        as_path(true, false).prop_map(AttrValue::As4Path),
        (any::<u32>(), any::<u32>()).prop_map(|(asn, a)| AttrValue::As4Aggregator(Aggregator {
            asn,
            address: Ipv4Addr::from(a)
        })),
        vec(
            any::<(u32, u32, u32)>().prop_map(|(global, local1, local2)| LargeCommunity {
                global,
                local1,
                local2
            }),
            1..10
        )
        .prop_map(AttrValue::LargeCommunities),
        any::<u32>().prop_map(AttrValue::Otc),
        (
            any::<u8>().prop_filter("unknown type", move |t| !known.contains(t)),
            vec(any::<u8>(), 0..300)
        )
            .prop_map(|(type_code, v)| AttrValue::Unknown {
                type_code,
                value: Bytes::from(v)
            }),
    ]
}

fn with_flag_hints(value: AttrValue, partial: bool, ext: bool) -> Attribute {
    let mut a = Attribute::new(value);
    if a.flags & flags::OPTIONAL != 0 && a.flags & flags::TRANSITIVE != 0 && partial {
        a.flags |= flags::PARTIAL;
    }
    if ext {
        a.flags |= flags::EXTENDED_LENGTH;
    }
    a
}

fn update(ctx: Context) -> impl Strategy<Value = Message> {
    let ap4 = ctx.add_path.contains(Family::Ipv4Unicast);
    let ap6 = ctx.add_path.contains(Family::Ipv6Unicast);
    let mp = prop_oneof![
        Just(None),
        (vec(nlri(ipv6_prefix(), ap6), 0..30), v6_next_hop()).prop_map(|(nlri, next_hop)| Some(
            AttrValue::MpReach(MpReach {
                family: Family::Ipv6Unicast,
                next_hop,
                nlri
            })
        )),
        (vec(nlri(ipv4_prefix(), ap4), 0..30), unicast_v4()).prop_map(|(nlri, nh)| Some(
            AttrValue::MpReach(MpReach {
                family: Family::Ipv4Unicast,
                next_hop: NextHop::V4(nh),
                nlri
            })
        )),
        vec(nlri(ipv6_prefix(), ap6), 0..30).prop_map(|nlri| Some(AttrValue::MpUnreach(
            MpUnreach {
                family: Family::Ipv6Unicast,
                nlri
            }
        ))),
    ];
    (
        vec(nlri(ipv4_prefix(), ap4), 0..30),
        vec(nlri(ipv4_prefix(), ap4), 0..30),
        prop_oneof![
            Just(Origin::Igp),
            Just(Origin::Egp),
            Just(Origin::Incomplete)
        ],
        as_path(ctx.four_octet_as, true),
        unicast_v4(),
        mp,
        vec((optional_attr(ctx), any::<bool>(), any::<bool>()), 0..8),
        any::<u64>(),
    )
        .prop_map(
            move |(withdrawn, nlri, origin, path, nh, mp, extra, seed)| {
                let mut list = vec![
                    Attribute::new(AttrValue::Origin(origin)),
                    Attribute::new(AttrValue::AsPath(path)),
                    Attribute::new(AttrValue::NextHop(nh)),
                ];
                list.extend(mp.map(Attribute::new));
                for (v, partial, ext) in extra {
                    if list.iter().all(|a| a.value.type_code() != v.type_code()) {
                        list.push(with_flag_hints(v, partial, ext));
                    }
                }
                // A deterministic shuffle: the decoder must keep any order.
                let n = list.len();
                for i in (1..n).rev() {
                    let j = (seed.rotate_left(i as u32) % (i as u64 + 1)) as usize;
                    list.swap(i, j);
                }
                Message::Update(Update {
                    withdrawn,
                    attributes: PathAttributes { list },
                    nlri,
                    errors: Vec::new(),
                })
            },
        )
}

fn other_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        Just(Message::Keepalive),
        (any::<u8>(), any::<u8>(), vec(any::<u8>(), 0..40)).prop_map(|(c, s, d)| {
            Message::Notification(Notification::new(c, s, Bytes::from(d)))
        }),
        (family(), 0u8..5).prop_map(|(family, st)| {
            let subtype = match st {
                0 => RefreshSubtype::Request,
                1 => RefreshSubtype::Begin,
                2 => RefreshSubtype::End,
                x => RefreshSubtype::Other(x + 10),
            };
            Message::RouteRefresh(RouteRefresh { family, subtype })
        }),
    ]
}

fn context() -> impl Strategy<Value = Context> {
    (any::<bool>(), 0u8..4, any::<bool>()).prop_map(|(four, ap, ext)| {
        let mut add_path = FamilySet::EMPTY;
        if ap & 1 != 0 {
            add_path.insert(Family::Ipv4Unicast);
        }
        if ap & 2 != 0 {
            add_path.insert(Family::Ipv6Unicast);
        }
        Context {
            four_octet_as: four,
            add_path,
            extended_message: ext,
            ebgp: false,
        }
    })
}

fn context_and_message() -> impl Strategy<Value = (Context, Message)> {
    context().prop_flat_map(|ctx| {
        (
            Just(ctx),
            prop_oneof![3 => update(ctx), 1 => open(), 1 => other_message()],
        )
    })
}

/// The canonical form the decoder returns: Extended Length is kept as a flag only where
/// the value would have fit one octet, and parameters too long for one octet of length
/// are read back as RFC 9072 encoded.
fn expect_after_round_trip(msg: &Message, ctx: &Context) -> Message {
    let mut msg = msg.clone();
    if let Message::Update(u) = &mut msg {
        for a in &mut u.attributes.list {
            let mut b = BytesMut::new();
            PathAttributes {
                list: vec![a.clone()],
            }
            .encode(ctx, &mut b)
            .unwrap();
            let len = if b[0] & flags::EXTENDED_LENGTH != 0 {
                usize::from(u16::from_be_bytes([b[2], b[3]]))
            } else {
                usize::from(b[2])
            };
            if len > 255 {
                a.flags &= !flags::EXTENDED_LENGTH;
            }
        }
    }
    if let Message::Open(o) = &mut msg {
        // Parameters that no longer fit one octet of length force RFC 9072 encoding.
        let mut out = BytesMut::new();
        if encode(&Message::Open(o.clone()), ctx, &mut out).is_ok() && out.len() > 28 {
            o.extended_parameters |= out[28] == 255 && out.get(29) == Some(&255);
        }
    }
    msg
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn decode_of_encode_is_identity((ctx, msg) in context_and_message()) {
        let mut out = BytesMut::new();
        // Messages longer than the session allows are refused by the encoder, never cut.
        if let Err(e) = encode(&msg, &ctx, &mut out) {
            prop_assert!(out.is_empty(), "a failed encode left bytes behind: {e}");
            return Ok(());
        }
        prop_assert!(out.len() <= ctx.max_message_len());
        let back = decode(&out, &ctx);
        prop_assert!(back.is_ok(), "decode failed: {:?}", back.err());
        let back = back.unwrap_or(Message::Keepalive);
        if let Message::Update(u) = &back {
            prop_assert!(u.errors.is_empty(), "errors: {:?}", u.errors);
        }
        prop_assert_eq!(&back, &expect_after_round_trip(&msg, &ctx));
        // And the encoding is a fixpoint.
        let mut again = BytesMut::new();
        prop_assert!(encode(&back, &ctx, &mut again).is_ok());
        prop_assert_eq!(&again[..], &out[..]);
    }
}

#[test]
fn end_of_rib_markers() {
    let ctx = Context::four_octet();
    for family in [Family::Ipv4Unicast, Family::Ipv6Unicast] {
        let msg = Message::Update(Update::end_of_rib(family));
        let mut out = BytesMut::new();
        encode(&msg, &ctx, &mut out).unwrap();
        let Message::Update(u) = decode(&out, &ctx).unwrap() else {
            panic!("not an update")
        };
        assert_eq!(u.end_of_rib_family(), Some(family));
    }
    assert_eq!(code::MP_UNREACH_NLRI, 15);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, failure_persistence: None, ..ProptestConfig::default() })]

    /// The route table's form of a set equals encoding the list with the next hop and MP
    /// attributes removed.
    #[test]
    fn encode_without_next_hop_equals_encoding_the_filtered_list((ctx, msg) in context_and_message()) {
        let Message::Update(u) = msg else { return Ok(()) };
        let mut filtered = u.attributes.clone();
        filtered.list.retain(|a| {
            !matches!(a.value.type_code(), code::NEXT_HOP | code::MP_REACH_NLRI | code::MP_UNREACH_NLRI)
        });
        let (mut want, mut got) = (BytesMut::new(), BytesMut::new());
        let want_ok = filtered.encode(&ctx, &mut want).is_ok();
        let got_ok = u.attributes.encode_without_next_hop(&ctx, &mut got).is_ok();
        prop_assert_eq!(want_ok, got_ok);
        if want_ok {
            prop_assert_eq!(&got[..], &want[..]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, failure_persistence: None, ..ProptestConfig::default() })]

    /// Announcing a stored set (its encoding without next hop) writes the same UPDATEs as
    /// announcing the decoded set, for IPv4 with NEXT_HOP and for MP_REACH_NLRI.
    #[test]
    fn announce_encoded_equals_announce(
        (ctx, msg) in context_and_message(),
        v4 in vec(nlri(ipv4_prefix(), false), 1..400),
        v6 in vec(nlri(ipv6_prefix(), false), 1..100),
        nh4 in unicast_v4(),
        nh6 in v6_next_hop(),
    ) {
        let Message::Update(u) = msg else { return Ok(()) };
        let ctx = Context { four_octet_as: true, add_path: FamilySet::EMPTY, ..ctx };
        let mut stored = BytesMut::new();
        if u.attributes.encode_without_next_hop(&ctx, &mut stored).is_err() {
            return Ok(());
        }
        let packer = bgp_wire::UpdatePacker::new(ctx);
        for (nlri, nh) in [(&v4, NextHop::V4(nh4)), (&v6, nh6), (&v4, nh6)] {
            let (mut want, mut got) = (BytesMut::new(), BytesMut::new());
            let a = packer.announce(&u.attributes, nh, nlri, &mut want);
            let b = packer.announce_encoded(&stored, nh, nlri, &mut got);
            prop_assert_eq!(a.is_ok(), b.is_ok());
            prop_assert_eq!(a.ok(), b.ok());
            prop_assert_eq!(&got[..], &want[..]);
        }
        // Not for a 2-octet AS session: the AS numbers would need rewriting.
        let two = bgp_wire::UpdatePacker::new(Context { four_octet_as: false, ..ctx });
        prop_assert!(two.announce_encoded(&stored, NextHop::V4(nh4), &v4, &mut BytesMut::new()).is_err());
    }
}
