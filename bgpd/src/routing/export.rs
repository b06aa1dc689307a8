//! Who gets which route, and how it looks when sent: route reflection (RFC 4456 section 6),
//! the eBGP rules (RFC 4271 section 5.1), well-known communities (RFC 1997), RFC 8212 and
//! the export policy. One function decides eligibility, one rewrites attributes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use bgp_wire::attr::{code, flags, AttrValue, Community, NextHop, PathAttributes};
use bgp_wire::{Context, Family};
use config::{Policy, PrefixLimit};
use ipnet::IpNet;

use crate::policy::{evaluate, Outcome};

/// What kind of session a group's members have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerKind {
    /// External, in this AS.
    Ebgp(u32),
    /// Internal, a route reflector client.
    IbgpClient,
    /// Internal, not a client.
    IbgpNonClient,
}

/// Where a route came from, as far as export cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source<'a> {
    /// Learned over eBGP, iBGP from a client, iBGP from a non-client, or originated here
    /// (`None`).
    pub kind: Option<PeerKind>,
    /// The neighbor's configured name (policy `neighbor` matches).
    pub neighbor: Option<&'a str>,
    /// The BGP identifier of the peer it came from (ORIGINATOR_ID when reflecting).
    pub bgp_id: Ipv4Addr,
}

/// Everything that makes two peers receive byte-identical UPDATEs: peers with equal keys
/// share one export group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupKey {
    /// Session kind.
    pub kind: PeerKind,
    /// The export policy's name.
    pub policy_name: Option<String>,
    /// How UPDATEs are encoded for these peers.
    pub encode: Context,
    /// Families negotiated.
    pub families: Vec<Family>,
    /// Our address on these sessions: the next hop when we set ourselves.
    pub local_address: Option<IpAddr>,
    /// Our link-local address on the link to these peers, sent beside an IPv6 next hop of
    /// ours (RFC 2545 section 3).
    pub link_local: Option<Ipv6Addr>,
    /// The peers take IPv4 routes with IPv6 next hops (RFC 8950 negotiated).
    pub extended_next_hop: bool,
    /// `next_hop_self` configured.
    pub next_hop_self: bool,
    /// Limit on advertised routes (kept per group: a limited peer gets its own group).
    pub limit: Option<(u32, u8)>,
    /// The peers announced long-lived graceful restart (RFC 9494): they may get LLGR-stale
    /// routes.
    pub llgr: bool,
    /// The peers are drained (RFC 8326): GRACEFUL_SHUTDOWN on everything, LOCAL_PREF 0 on
    /// iBGP.
    pub graceful_shutdown: bool,
}

/// Settings export needs, from the global configuration.
#[derive(Debug, Clone, Copy)]
pub struct Local {
    /// Our AS.
    pub asn: u32,
    /// Our cluster ID (RFC 4456 section 7).
    pub cluster_id: Ipv4Addr,
}

/// A group's export settings.
#[derive(Debug, Clone)]
pub struct ExportRules {
    /// The group key.
    pub key: GroupKey,
    /// The export policy.
    pub policy: Option<Arc<Policy>>,
    /// The advertised-route limit.
    pub limit: Option<PrefixLimit>,
}

impl ExportRules {
    /// Whether the export policy looks at the prefix itself; without that, two prefixes
    /// whose paths have the same source, set and next hop export alike.
    pub fn per_prefix(&self) -> bool {
        self.policy
            .as_ref()
            .is_some_and(|p| p.terms.iter().any(|t| !t.matches.prefixes.is_empty()))
    }
}

/// RFC 4456 section 6 and RFC 1997: whether a route from `source` may go to `to` at all.
pub fn eligible(source: Option<PeerKind>, to: PeerKind, attrs: &PathAttributes) -> bool {
    if let Some(cs) = attrs.communities() {
        if cs.contains(&Community::NO_ADVERTISE) {
            return false;
        }
        if matches!(to, PeerKind::Ebgp(_))
            && (cs.contains(&Community::NO_EXPORT) || cs.contains(&Community::NO_EXPORT_SUBCONFED))
        {
            return false;
        }
    }
    match (source, to) {
        // Locally originated and eBGP-learned routes go everywhere.
        (None | Some(PeerKind::Ebgp(_)), _) => true,
        (_, PeerKind::Ebgp(_)) => true,
        // From a client: to clients and non-clients. From a non-client: to clients only.
        (Some(PeerKind::IbgpClient), _) => true,
        (Some(PeerKind::IbgpNonClient), PeerKind::IbgpClient) => true,
        (Some(PeerKind::IbgpNonClient), PeerKind::IbgpNonClient) => false,
    }
}

/// Rewrites a Loc-RIB route for a group and applies its export policy. `None`: the group
/// does not get it.
pub fn prepare(
    rules: &ExportRules,
    local: &Local,
    prefix: &IpNet,
    source: &Source<'_>,
    mut attrs: PathAttributes,
    next_hop: NextHop,
) -> Option<(PathAttributes, NextHop)> {
    let key = &rules.key;
    if !eligible(source.kind, key.kind, &attrs) {
        return None;
    }
    // RFC 8212: no export policy, no routes on eBGP.
    if matches!(key.kind, PeerKind::Ebgp(_)) && rules.policy.is_none() {
        return None;
    }
    // Unknown non-transitive attributes stop here; unknown transitive ones go on marked
    // Partial (RFC 4271 section 5).
    attrs.list.retain_mut(|a| match a.value {
        AttrValue::Unknown { .. } if a.flags & flags::TRANSITIVE == 0 => false,
        AttrValue::Unknown { .. } => {
            a.flags |= flags::PARTIAL;
            true
        }
        _ => true,
    });
    let self_hop = self_next_hop(key, prefix);
    let mut next_hop = next_hop;
    match key.kind {
        PeerKind::Ebgp(_) => {
            for t in [code::LOCAL_PREF, code::ORIGINATOR_ID, code::CLUSTER_LIST] {
                attrs.remove(t);
            }
            // MED is not passed from one neighboring AS to another (RFC 4271 section
            // 5.1.4); one set by our export policy below is sent.
            if source.kind.is_some() {
                attrs.remove(code::MULTI_EXIT_DISC);
            }
            let mut path = attrs.as_path().cloned().unwrap_or_default();
            path.prepend(local.asn, 1);
            attrs.set(AttrValue::AsPath(path));
            next_hop = self_hop?;
        }
        PeerKind::IbgpClient | PeerKind::IbgpNonClient => {
            if attrs.local_pref().is_none() {
                attrs.set(AttrValue::LocalPref(100));
            }
            match source.kind {
                Some(PeerKind::IbgpClient | PeerKind::IbgpNonClient) => {
                    // Reflection (RFC 4456 section 8): next hop and LOCAL_PREF untouched.
                    if attrs.originator_id().is_none() {
                        attrs.set(AttrValue::OriginatorId(source.bgp_id));
                    }
                    let mut list = attrs.cluster_list().cloned().unwrap_or_default();
                    list.insert(0, local.cluster_id);
                    attrs.set(AttrValue::ClusterList(list));
                }
                Some(PeerKind::Ebgp(_)) => {
                    if key.next_hop_self {
                        // Without an address of ours for this family on the session
                        // (RFC 8950 not negotiated), the route is not sent: the eBGP next
                        // hop is what next_hop_self is there to hide.
                        next_hop = self_hop?;
                    }
                }
                None => next_hop = self_hop?,
            }
        }
    }
    let outcome = match &rules.policy {
        Some(p) => evaluate(p, prefix, source.neighbor, &mut attrs, local.asn),
        None => Outcome::Accept {
            next_hop_self: false,
        },
    };
    match outcome {
        Outcome::Reject => None,
        Outcome::Accept { next_hop_self } => {
            if next_hop_self {
                next_hop = self_hop?;
            }
            if Some(next_hop) != self_hop {
                next_hop = without_link_local(next_hop);
            }
            // An IPv4 route with an IPv6 next hop (learned under RFC 8950) goes only to
            // peers that negotiated it; to others with our IPv4 address, or not at all.
            if prefix.addr().is_ipv4() && !next_hop.addr().is_ipv4() && !key.extended_next_hop {
                next_hop = self_hop.filter(|h| h.addr().is_ipv4())?;
            }
            if key.graceful_shutdown {
                graceful_shutdown(key.kind, &mut attrs);
            }
            Some((attrs, next_hop))
        }
    }
}

/// RFC 8326 section 4.1: a drained session's routes carry GRACEFUL_SHUTDOWN, after the
/// export policy (which must not strip it); on iBGP LOCAL_PREF 0 as well, so that the
/// peers move to another path even where they do not act on the community.
fn graceful_shutdown(kind: PeerKind, attrs: &mut PathAttributes) {
    let mut cs: Vec<Community> = attrs.communities().cloned().unwrap_or_default();
    if !cs.contains(&Community::GRACEFUL_SHUTDOWN) {
        cs.push(Community::GRACEFUL_SHUTDOWN);
    }
    attrs.set(AttrValue::Communities(cs));
    if !matches!(kind, PeerKind::Ebgp(_)) {
        attrs.set(AttrValue::LocalPref(0));
    }
}

/// Our address as next hop for `prefix`: only when the session's address family matches
/// the prefix's (an IPv6 route over an IPv4 session needs an IPv6 address we do not know),
/// or for an IPv4 route over IPv6 where the peers negotiated RFC 8950. An IPv6 next hop
/// carries our link-local address too where the group has one (RFC 2545 section 3).
fn self_next_hop(key: &GroupKey, prefix: &IpNet) -> Option<NextHop> {
    match (key.local_address?, prefix) {
        (IpAddr::V4(a), IpNet::V4(_)) => Some(NextHop::V4(a)),
        (IpAddr::V6(a), IpNet::V6(_)) => Some(NextHop::V6 {
            global: a,
            link_local: key.link_local,
        }),
        // 16 bytes for IPv4 routes, as FRR sends: some speakers (Junos) refuse 32.
        (IpAddr::V6(a), IpNet::V4(_)) if key.extended_next_hop => Some(NextHop::V6 {
            global: a,
            link_local: None,
        }),
        _ => None,
    }
}

/// A next hop that is not ours, passed on unchanged (reflection, `next_hop_self` off), loses
/// its link-local address: that address is only valid on the link it was learned over, and
/// RFC 2545 section 3 sends one only where the receiver shares that link with the global
/// address's owner, which we cannot know. The global address stays and resolves as usual.
fn without_link_local(next_hop: NextHop) -> NextHop {
    match next_hop {
        NextHop::V6 { global, .. } => NextHop::V6 {
            global,
            link_local: None,
        },
        v4 => v4,
    }
}

/// Fixtures shared by the export tests (here and in `reflect`).
#[cfg(test)]
pub(super) mod fixtures {
    use super::*;

    /// An iBGP or eBGP group over IPv4 with 4-octet AS numbers and `policy`.
    pub fn rules(kind: PeerKind, policy: Option<Arc<Policy>>) -> ExportRules {
        ExportRules {
            key: GroupKey {
                kind,
                policy_name: None,
                encode: Context::four_octet(),
                families: vec![Family::Ipv4Unicast],
                local_address: Some("203.0.113.1".parse().unwrap()),
                link_local: None,
                extended_next_hop: false,
                next_hop_self: false,
                limit: None,
                llgr: false,
                graceful_shutdown: false,
            },
            policy,
            limit: None,
        }
    }

    /// A policy that accepts everything.
    pub fn accept_all() -> Option<Arc<Policy>> {
        Some(Arc::new(Policy {
            name: "all".into(),
            default: config::Verdict::Accept,
            terms: vec![],
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{accept_all, rules};
    use super::*;
    use bgp_wire::attr::{AsPath, Origin};
    use PeerKind::*;

    #[test]
    fn reflection_rules() {
        let a = PathAttributes::default();
        // RFC 4456 section 6.
        assert!(eligible(Some(IbgpClient), IbgpClient, &a));
        assert!(eligible(Some(IbgpClient), IbgpNonClient, &a));
        assert!(eligible(Some(IbgpNonClient), IbgpClient, &a));
        assert!(!eligible(Some(IbgpNonClient), IbgpNonClient, &a));
        assert!(eligible(Some(Ebgp(1)), IbgpNonClient, &a));
        assert!(eligible(None, Ebgp(1), &a));
        let no_export =
            PathAttributes::from_values([AttrValue::Communities(vec![Community::NO_EXPORT])]);
        assert!(!eligible(None, Ebgp(1), &no_export));
        assert!(eligible(None, IbgpClient, &no_export));
    }

    #[test]
    fn link_local_next_hops_are_ours_only() {
        // RFC 2545 section 3: our link-local address goes beside our global one to a group
        // that has one; a link-local learned from another peer is never passed on.
        let local = Local {
            asn: 64512,
            cluster_id: "192.0.2.1".parse().unwrap(),
        };
        let attrs = PathAttributes::from_values([
            AttrValue::Origin(Origin::Igp),
            AttrValue::AsPath(AsPath::default()),
        ]);
        let v6 = |g: &str, ll: Option<&str>| NextHop::V6 {
            global: g.parse().unwrap(),
            link_local: ll.map(|l| l.parse().unwrap()),
        };
        let from_vbr = Source {
            kind: Some(Ebgp(45104)),
            neighbor: Some("vbr6"),
            bgp_id: "203.0.113.2".parse().unwrap(),
        };
        let from_node = Source {
            kind: Some(IbgpClient),
            neighbor: Some("calico6"),
            bgp_id: "192.0.2.11".parse().unwrap(),
        };
        let vpc: IpNet = "2001:db8:19::/48".parse().unwrap();
        let block: IpNet = "2001:db8:18::40/122".parse().unwrap();
        let learned = v6("2001:db8:113::2", Some("fe80::2"));

        let mut ebgp = rules(Ebgp(45104), accept_all());
        ebgp.key.local_address = Some("2001:db8:113::1".parse().unwrap());
        ebgp.key.link_local = Some("fe80::1".parse().unwrap());
        let (_, nh) = prepare(&ebgp, &local, &block, &from_node, attrs.clone(), learned).unwrap();
        assert_eq!(nh, v6("2001:db8:113::1", Some("fe80::1")));

        // Reflected to a client unchanged: the VBR's link-local is dropped.
        let mut clients = rules(IbgpClient, accept_all());
        clients.key.local_address = Some("2001:db8:0:2::1".parse().unwrap());
        let (_, nh) = prepare(&clients, &local, &vpc, &from_vbr, attrs.clone(), learned).unwrap();
        assert_eq!(nh, v6("2001:db8:113::2", None));
        // With next_hop_self: ours, and this group has no link-local.
        clients.key.next_hop_self = true;
        let (_, nh) = prepare(&clients, &local, &vpc, &from_vbr, attrs.clone(), learned).unwrap();
        assert_eq!(nh, v6("2001:db8:0:2::1", None));

        // RFC 8950: an IPv4 route to the IPv6 eBGP group only where it was negotiated.
        let v4: IpNet = "198.18.0.0/16".parse().unwrap();
        let v4_hop = NextHop::V4("192.0.2.11".parse().unwrap());
        assert!(prepare(&ebgp, &local, &v4, &from_node, attrs.clone(), v4_hop).is_none());
        ebgp.key.extended_next_hop = true;
        let (_, nh) = prepare(&ebgp, &local, &v4, &from_node, attrs.clone(), v4_hop).unwrap();
        assert_eq!(nh, v6("2001:db8:113::1", None));

        // Reflected unchanged, an IPv4 route learned with an IPv6 next hop keeps it only
        // towards groups that negotiated RFC 8950; others get our IPv4 address, or nothing.
        let v4_over_v6 = v6("2001:db8:0:2::11", None);
        let mut v4_clients = rules(IbgpClient, accept_all());
        let (_, nh) = prepare(
            &v4_clients,
            &local,
            &v4,
            &from_node,
            attrs.clone(),
            v4_over_v6,
        )
        .unwrap();
        assert_eq!(nh, NextHop::V4("203.0.113.1".parse().unwrap()));
        v4_clients.key.local_address = Some("2001:db8:0:2::1".parse().unwrap());
        assert!(prepare(
            &v4_clients,
            &local,
            &v4,
            &from_node,
            attrs.clone(),
            v4_over_v6
        )
        .is_none());
        v4_clients.key.extended_next_hop = true;
        let (_, nh) = prepare(&v4_clients, &local, &v4, &from_node, attrs, v4_over_v6).unwrap();
        assert_eq!(nh, v4_over_v6);
    }

    #[test]
    fn drained_groups_get_graceful_shutdown_and_ibgp_local_pref_zero() {
        // RFC 8326 section 4.1; the community is added after the export policy.
        let local = Local {
            asn: 64512,
            cluster_id: "192.0.2.1".parse().unwrap(),
        };
        let attrs = PathAttributes::from_values([
            AttrValue::Origin(Origin::Igp),
            AttrValue::AsPath(AsPath::default()),
            AttrValue::LocalPref(150),
            AttrValue::Communities(vec![Community::new(64512, 7)]),
        ]);
        let nh = NextHop::V4("192.0.2.11".parse().unwrap());
        let src = Source {
            kind: Some(Ebgp(65093)),
            neighbor: Some("vbr"),
            bgp_id: "192.0.2.11".parse().unwrap(),
        };
        let prefix: IpNet = "198.18.0.0/26".parse().unwrap();
        for kind in [IbgpClient, Ebgp(65094)] {
            let mut r = rules(kind, accept_all());
            let (plain, _) = prepare(&r, &local, &prefix, &src, attrs.clone(), nh).unwrap();
            assert!(!plain
                .communities()
                .unwrap()
                .contains(&Community::GRACEFUL_SHUTDOWN));
            r.key.graceful_shutdown = true;
            let (out, _) = prepare(&r, &local, &prefix, &src, attrs.clone(), nh).unwrap();
            assert_eq!(
                out.communities(),
                Some(&vec![
                    Community::new(64512, 7),
                    Community::GRACEFUL_SHUTDOWN
                ])
            );
            let lp = if kind == IbgpClient { Some(&0) } else { None };
            assert_eq!(out.local_pref(), lp, "{kind:?}");
        }
    }

    #[test]
    fn reflected_routes_keep_next_hop_and_local_pref() {
        let local = Local {
            asn: 64512,
            cluster_id: "192.0.2.1".parse().unwrap(),
        };
        let attrs = PathAttributes::from_values([
            AttrValue::Origin(Origin::Igp),
            AttrValue::AsPath(AsPath::default()),
            AttrValue::LocalPref(150),
        ]);
        let nh = NextHop::V4("192.0.2.11".parse().unwrap());
        let src = Source {
            kind: Some(IbgpClient),
            neighbor: Some("calico"),
            bgp_id: "192.0.2.11".parse().unwrap(),
        };
        let prefix: IpNet = "198.18.0.0/26".parse().unwrap();
        let (out, hop) = prepare(
            &rules(IbgpClient, None),
            &local,
            &prefix,
            &src,
            attrs.clone(),
            nh,
        )
        .unwrap();
        assert_eq!(hop, nh);
        assert_eq!(out.local_pref(), Some(&150));
        assert_eq!(out.originator_id(), Some(&"192.0.2.11".parse().unwrap()));
        assert_eq!(
            out.cluster_list(),
            Some(&vec!["192.0.2.1".parse().unwrap()])
        );

        // To eBGP: no policy, nothing (RFC 8212); with one: our AS first, us as next hop,
        // no LOCAL_PREF.
        assert!(prepare(
            &rules(Ebgp(45104), None),
            &local,
            &prefix,
            &src,
            attrs.clone(),
            nh
        )
        .is_none());
        let (out, hop) = prepare(
            &rules(Ebgp(45104), accept_all()),
            &local,
            &prefix,
            &src,
            attrs,
            nh,
        )
        .unwrap();
        assert_eq!(hop, NextHop::V4("203.0.113.1".parse().unwrap()));
        assert_eq!(out.local_pref(), None);
        assert_eq!(out.originator_id(), None);
        assert_eq!(out.as_path().and_then(|p| p.neighbor_as()), Some(64512));
    }
}
