//! Route reflection on the stored encoding of a set: the rewrite [`prepare`] makes when an
//! iBGP-learned route goes to iBGP peers without an export policy (RFC 4456 section 8:
//! ORIGINATOR_ID added when absent, our cluster ID put first in CLUSTER_LIST; LOCAL_PREF
//! and next hop kept), done on bytes. A reflector does this for every set of a full
//! table; decoding each set, editing the list and encoding it again cost a tenth of a
//! full table's load.
//!
//! [`prepare`]: super::export::prepare

use bgp_wire::attr::{
    code, flags, put_raw, raw_attributes, Community, NextHop, PathAttributes, RawAttr,
};
use bytes::BytesMut;
use ipnet::IpNet;

use super::export::{eligible, ExportRules, Local, PeerKind, Source};

/// What [`reflect_encoded`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reflected {
    /// The rewritten set is in the output buffer.
    Written,
    /// The group does not get the route.
    Refused,
}

/// Whether [`prepare`](super::export::prepare) would pass the next hop `nh` of `prefix` on
/// unchanged to this group, as [`reflect_encoded`] does: not when it carries a link-local
/// address (valid only on the link it was learned over) nor for an IPv4 route with an IPv6
/// next hop to a group without RFC 8950. Otherwise the caller uses `prepare`.
pub fn next_hop_unchanged(rules: &ExportRules, prefix: &IpNet, nh: &NextHop) -> bool {
    match nh {
        NextHop::V6 {
            link_local: Some(_),
            ..
        } => false,
        NextHop::V6 { .. } => prefix.addr().is_ipv6() || rules.key.extended_next_hop,
        NextHop::V4(_) => true,
    }
}

/// The set `wire` (a stored encoding: 4-octet AS numbers, no NEXT_HOP or MP attributes) as
/// the group receives it, written to `out`; the next hop is unchanged. `None` when this is
/// not plain reflection (a policy, an eBGP side, a locally originated route) or the set
/// holds an attribute this does not rewrite (unknown ones, AS4_*): the caller then uses
/// [`prepare`](super::export::prepare), which gives the same bytes where both apply.
pub fn reflect_encoded(
    rules: &ExportRules,
    local: &Local,
    source: &Source<'_>,
    wire: &[u8],
    out: &mut BytesMut,
) -> Option<Reflected> {
    let reflecting =
        |k: Option<PeerKind>| matches!(k, Some(PeerKind::IbgpClient | PeerKind::IbgpNonClient));
    // A drained group (RFC 8326) rewrites LOCAL_PREF and COMMUNITIES: `prepare` does.
    if rules.policy.is_some()
        || rules.key.graceful_shutdown
        || !reflecting(Some(rules.key.kind))
        || !reflecting(source.kind)
    {
        return None;
    }
    // RFC 4456 section 6, on the session kinds alone (communities are checked below).
    if !eligible(source.kind, rules.key.kind, &PathAttributes::default()) {
        return Some(Reflected::Refused);
    }
    let (mut local_pref, mut originator, mut cluster_list) = (false, false, false);
    for a in raw_attributes(wire) {
        let a = a.ok()?;
        if !rewritable(a.type_code) {
            return None;
        }
        // An empty list attribute does not survive decoding (RFC 7606 treat-as-withdraw for
        // the peer that gets it): a stored set never has one, but if it did, the general
        // path decides.
        if a.value.is_empty() && refused_empty(a.type_code) {
            return None;
        }
        // RFC 1997: NO_ADVERTISE goes to no peer.
        if a.type_code == code::COMMUNITIES
            && a.value
                .chunks_exact(4)
                .any(|c| c == Community::NO_ADVERTISE.0.to_be_bytes())
        {
            return Some(Reflected::Refused);
        }
        local_pref |= a.type_code == code::LOCAL_PREF;
        originator |= a.type_code == code::ORIGINATOR_ID;
        cluster_list |= a.type_code == code::CLUSTER_LIST;
    }
    // Attributes to add, in type order, each placed before the first attribute of a higher
    // type as `PathAttributes::set` places it.
    let lp = 100u32.to_be_bytes();
    let oid = source.bgp_id.octets();
    let cid = local.cluster_id.octets();
    let mut adds: Vec<RawAttr<'_>> = Vec::with_capacity(3);
    if !local_pref {
        adds.push(raw(flags::TRANSITIVE, code::LOCAL_PREF, &lp));
    }
    if !originator {
        adds.push(raw(flags::OPTIONAL, code::ORIGINATOR_ID, &oid));
    }
    if !cluster_list {
        adds.push(raw(flags::OPTIONAL, code::CLUSTER_LIST, &cid));
    }
    let mut adds = adds.into_iter().peekable();
    out.reserve(wire.len() + 3 * 7 + 4);
    for a in raw_attributes(wire) {
        let a = a.ok()?;
        while let Some(add) = adds.next_if(|add| add.type_code < a.type_code) {
            add.put(out).ok()?;
        }
        if a.type_code == code::CLUSTER_LIST {
            let f = flags::OPTIONAL | (a.flags & flags::EXTENDED_LENGTH);
            put_raw(out, f, code::CLUSTER_LIST, &[&cid, a.value]).ok()?;
        } else {
            a.put(out).ok()?;
        }
    }
    for add in adds {
        add.put(out).ok()?;
    }
    Some(Reflected::Written)
}

fn raw(flags: u8, type_code: u8, value: &[u8]) -> RawAttr<'_> {
    RawAttr {
        flags,
        type_code,
        value,
    }
}

/// List attributes the decoder refuses empty (RFC 7606 sections 7.8, 7.10; RFC 8092
/// section 6): an empty extended community list is kept, as it round-trips.
fn refused_empty(type_code: u8) -> bool {
    use code::*;
    matches!(type_code, COMMUNITIES | CLUSTER_LIST | LARGE_COMMUNITY)
}

/// Attributes copied as stored (or, for CLUSTER_LIST, extended): every known type a stored
/// set can hold, except AS4_PATH and AS4_AGGREGATOR (rare, left to the general path).
fn rewritable(type_code: u8) -> bool {
    use code::*;
    matches!(
        type_code,
        ORIGIN
            | AS_PATH
            | MULTI_EXIT_DISC
            | LOCAL_PREF
            | ATOMIC_AGGREGATE
            | AGGREGATOR
            | COMMUNITIES
            | ORIGINATOR_ID
            | CLUSTER_LIST
            | EXTENDED_COMMUNITIES
            | LARGE_COMMUNITY
            | OTC
    )
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use bgp_wire::attr::{
        Aggregator, AsPath, AttrValue, Attribute, ExtCommunity, LargeCommunity, NextHop, Origin,
    };
    use bgp_wire::Context;
    use ipnet::IpNet;
    use proptest::collection::vec;
    use proptest::prelude::*;
    use rib::AttrStore;

    use super::super::export::{fixtures, prepare};
    use super::*;

    /// A group of `kind`, with an accept-all export policy or none.
    fn rules(kind: PeerKind, policy: bool) -> ExportRules {
        let policy = if policy { fixtures::accept_all() } else { None };
        fixtures::rules(kind, policy)
    }

    fn kind() -> impl Strategy<Value = Option<PeerKind>> {
        prop_oneof![
            4 => Just(Some(PeerKind::IbgpClient)),
            2 => Just(Some(PeerKind::IbgpNonClient)),
            1 => Just(Some(PeerKind::Ebgp(45104))),
            1 => Just(None),
        ]
    }

    fn value() -> impl Strategy<Value = AttrValue> {
        let community = prop_oneof![
            8 => any::<u32>().prop_map(Community),
            1 => Just(Community::NO_ADVERTISE),
            1 => Just(Community::NO_EXPORT),
        ];
        prop_oneof![
            any::<u32>().prop_map(AttrValue::Med),
            any::<u32>().prop_map(AttrValue::LocalPref),
            Just(AttrValue::AtomicAggregate),
            (any::<u32>(), any::<u32>()).prop_map(|(asn, a)| AttrValue::Aggregator(Aggregator {
                asn,
                address: Ipv4Addr::from(a)
            })),
            vec(community, 0..80).prop_map(AttrValue::Communities),
            any::<u32>().prop_map(|a| AttrValue::OriginatorId(Ipv4Addr::from(a))),
            // Up to 70 IDs: the list crosses 255 bytes once ours is added.
            vec(any::<u32>().prop_map(Ipv4Addr::from), 0..70).prop_map(AttrValue::ClusterList),
            vec(any::<[u8; 8]>().prop_map(ExtCommunity), 0..4).prop_map(AttrValue::ExtCommunities),
            vec(
                any::<(u32, u32, u32)>().prop_map(|(global, local1, local2)| LargeCommunity {
                    global,
                    local1,
                    local2
                }),
                0..4
            )
            .prop_map(AttrValue::LargeCommunities),
            any::<u32>().prop_map(AttrValue::Otc),
            (prop_oneof![Just(99u8), Just(200)], vec(any::<u8>(), 0..8)).prop_map(
                |(type_code, v)| AttrValue::Unknown {
                    type_code,
                    value: bytes::Bytes::from(v)
                }
            ),
        ]
    }

    /// A set as a peer may send it: mandatory attributes, some optional ones with random
    /// Partial / Extended Length hints, in any order.
    fn set() -> impl Strategy<Value = PathAttributes> {
        (
            vec(any::<u32>(), 0..6),
            vec((value(), any::<bool>(), any::<bool>()), 0..8),
            any::<u64>(),
        )
            .prop_map(|(path, extra, seed)| {
                let mut list = vec![
                    Attribute::new(AttrValue::Origin(Origin::Igp)),
                    Attribute::new(AttrValue::AsPath(AsPath::sequence(&path))),
                ];
                for (v, partial, ext) in extra {
                    if list.iter().all(|a| a.value.type_code() != v.type_code()) {
                        let mut a = Attribute::new(v);
                        if partial
                            && a.flags & flags::TRANSITIVE != 0
                            && a.flags & flags::OPTIONAL != 0
                        {
                            a.flags |= flags::PARTIAL;
                        }
                        if ext {
                            a.flags |= flags::EXTENDED_LENGTH;
                        }
                        list.push(a);
                    }
                }
                // A deterministic shuffle: sets keep the order they arrived in.
                for i in (1..list.len()).rev() {
                    let bound = u64::try_from(i + 1).unwrap();
                    let j = usize::try_from(seed.rotate_left(u32::try_from(i).unwrap()) % bound)
                        .unwrap();
                    list.swap(i, j);
                }
                PathAttributes { list }
            })
    }

    #[test]
    fn an_empty_list_attribute_takes_the_general_path() {
        let local = Local {
            asn: 64512,
            cluster_id: "192.0.2.1".parse().unwrap(),
        };
        let source = Source {
            kind: Some(PeerKind::IbgpClient),
            neighbor: None,
            bgp_id: "192.0.2.9".parse().unwrap(),
        };
        // ORIGIN IGP, empty AS_PATH, COMMUNITIES with no community.
        let wire = [0x40, 1, 1, 0, 0x40, 2, 0, 0xc0, 8, 0];
        let mut out = BytesMut::new();
        let rules = rules(PeerKind::IbgpClient, false);
        assert_eq!(
            reflect_encoded(&rules, &local, &source, &wire, &mut out),
            None
        );
        // Without it, reflected.
        assert_eq!(
            reflect_encoded(&rules, &local, &source, &wire[..7], &mut out),
            Some(Reflected::Written)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

        /// Wherever the byte rewrite applies, it gives exactly the bytes of decoding the
        /// stored set, `prepare` and storing the result; and it applies to plain
        /// reflection of every set with known attributes.
        #[test]
        fn reflect_encoded_equals_prepare(
            attrs in set(),
            source_kind in kind(),
            group in prop_oneof![Just(PeerKind::IbgpClient), Just(PeerKind::IbgpNonClient), Just(PeerKind::Ebgp(45104))],
            policy in proptest::bool::weighted(0.1),
            drained in proptest::bool::weighted(0.1),
            bgp_id in any::<u32>(),
            hop in 0..3u8,
            v6_prefix in proptest::bool::ANY,
            extended_next_hop in proptest::bool::ANY,
        ) {
            // Stored the way a received set is: decoded from the wire first (which, for
            // one, drops empty LARGE_COMMUNITY attributes).
            let mut store = AttrStore::new();
            let first = store.intern(&attrs).unwrap();
            let attrs = store.attributes(first).unwrap();
            let id = store.intern(&attrs).unwrap();
            let local = Local { asn: 64512, cluster_id: "192.0.2.1".parse().unwrap() };
            let source = Source { kind: source_kind, neighbor: None, bgp_id: Ipv4Addr::from(bgp_id) };
            let mut rules = rules(group, policy);
            rules.key.graceful_shutdown = drained;
            rules.key.extended_next_hop = extended_next_hop;
            // An IPv4, an IPv6 and an IPv6 next hop with a link-local address (RFC 2545);
            // an IPv6 prefix only with IPv6 next hops.
            let v6 = |ll: Option<&str>| NextHop::V6 {
                global: "2001:db8::2".parse().unwrap(),
                link_local: ll.map(|l| l.parse().unwrap()),
            };
            let nh = match hop {
                0 if !v6_prefix => NextHop::V4("198.18.0.2".parse().unwrap()),
                0 | 1 => v6(None),
                _ => v6(Some("fe80::2")),
            };
            let prefix: IpNet = if v6_prefix {
                "2001:db8:18::40/122".parse().unwrap()
            } else {
                "198.18.0.0/26".parse().unwrap()
            };
            let mut fast = BytesMut::new();
            // As `reflect_path` does: the byte rewrite only where the next hop is unchanged.
            let got = if next_hop_unchanged(&rules, &prefix, &nh) {
                reflect_encoded(&rules, &local, &source, store.wire(id), &mut fast)
            } else {
                None
            };
            let slow = prepare(&rules, &local, &prefix, &source, store.attributes(id).unwrap(), nh);
            let reflection = !policy
                && !drained
                && matches!(group, PeerKind::IbgpClient | PeerKind::IbgpNonClient)
                && matches!(source_kind, Some(PeerKind::IbgpClient | PeerKind::IbgpNonClient));
            let known = attrs.list.iter().all(|a| !matches!(a.value, AttrValue::Unknown { .. }));
            let plain_hop = matches!(nh, NextHop::V4(_)) || (matches!(nh, NextHop::V6 { link_local: None, .. }) && (v6_prefix || extended_next_hop));
            if !reflection || !plain_hop {
                prop_assert!(got.is_none());
            } else if known {
                prop_assert!(got.is_some());
            }
            match got {
                None => {}
                Some(Reflected::Refused) => prop_assert!(slow.is_none()),
                Some(Reflected::Written) => {
                    let (want_attrs, want_nh) = slow.unwrap();
                    prop_assert_eq!(want_nh, nh);
                    let mut want = BytesMut::new();
                    want_attrs.encode_without_next_hop(&Context::four_octet(), &mut want).unwrap();
                    prop_assert_eq!(&fast[..], &want[..]);
                }
            }
        }
    }
}
