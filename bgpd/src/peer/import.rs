//! From a received UPDATE to what the routing task stores: RFC 7606 outcomes, the AS4
//! merge, loop checks, and the import policy.

use std::net::Ipv4Addr;
use std::sync::Arc;

use bgp_wire::attr::{code, AttrValue, Community, NextHop, PathAttributes};
use bgp_wire::{Nlri, Update};
use config::{Policy, PoolRoute};

use crate::exchange::{Announce, Imported};
use crate::policy::{evaluate, Outcome};

/// Who we are and who the peer is, for the checks.
#[derive(Debug, Clone)]
pub struct ImportContext {
    /// The neighbor's configured name, for policy `neighbor` matches.
    pub neighbor: String,
    /// Our AS.
    pub local_as: u32,
    /// Our router ID (ORIGINATOR_ID loop check, RFC 4456 section 8).
    pub router_id: Ipv4Addr,
    /// Our cluster ID (CLUSTER_LIST loop check, RFC 4456 section 8).
    pub cluster_id: Ipv4Addr,
    /// The peer's AS.
    pub peer_as: u32,
    /// External session.
    pub ebgp: bool,
    /// The session carries 4-octet AS numbers; if not, AS4_PATH is merged (RFC 6793).
    pub four_octet_as: bool,
    /// The import policy; `None` accepts everything on iBGP and nothing on eBGP (RFC 8212).
    pub policy: Option<Arc<Policy>>,
    /// A Calico node range's pools: only blocks and borrowed addresses inside them pass.
    pub calico: Option<Arc<config::Calico>>,
    /// The session is drained (RFC 8326): its routes get LOCAL_PREF 0.
    pub drained: bool,
}

/// Applies the checks and the import policy to one UPDATE.
pub fn import(update: Update, ctx: &ImportContext) -> Imported {
    let mut out = Imported {
        end_of_rib: update.end_of_rib_family(),
        ..Imported::default()
    };
    out.withdraw.extend(update.withdrawn_routes().copied());
    // RFC 7606 section 2: treat-as-withdraw. Checked before the next hops are read: when
    // the broken attribute is NEXT_HOP itself (section 7.3), the decoder has left it out and
    // the classic NLRI have no next hop, but they are withdrawn all the same.
    if update.treat_as_withdraw() {
        let before = out.withdraw.len();
        out.withdraw.extend(update.announced_nlri().copied());
        out.received = out.withdraw.len() - before;
        out.received_ipv6 = out.withdraw[before..]
            .iter()
            .filter(|n| n.prefix.addr().is_ipv6())
            .count();
        if out.received > 0 {
            out.refused
                .push("malformed attribute (RFC 7606 treat-as-withdraw)");
        }
        return out;
    }
    let mut announced: Vec<(Nlri, NextHop)> = update
        .announced()
        .map(|a| (*a.nlri, usable_link_local(a.next_hop)))
        .collect();
    out.received = announced.len();
    out.received_ipv6 = announced
        .iter()
        .filter(|(n, _)| n.prefix.addr().is_ipv6())
        .count();
    if let Some(pools) = &ctx.calico {
        calico_guard(pools, &mut announced, &mut out);
    }
    if announced.is_empty() {
        return out;
    }
    let refuse = |out: &mut Imported, why: &'static str| {
        out.refused.push(why);
        out.withdraw.extend(announced.iter().map(|(n, _)| *n));
    };
    let mut attrs = update.attributes;
    for t in [code::NEXT_HOP, code::MP_REACH_NLRI, code::MP_UNREACH_NLRI] {
        attrs.remove(t);
    }
    if !ctx.four_octet_as {
        attrs.merge_as4();
    }
    if let Some(why) = loop_check(&attrs, ctx) {
        refuse(&mut out, why);
        return out;
    }
    // RFC 8326: a route its sender is draining (section 4.2), or learned over a session
    // we drain (4.1), loses to any other path (the import policy may still say otherwise).
    if ctx.drained
        || attrs
            .communities()
            .is_some_and(|c| c.contains(&Community::GRACEFUL_SHUTDOWN))
    {
        attrs.set(AttrValue::LocalPref(0));
    }
    let Some(policy) = &ctx.policy else {
        if ctx.ebgp {
            refuse(&mut out, "no import policy on an eBGP session (RFC 8212)");
        } else {
            group(&mut out.announce, attrs, &announced);
        }
        return out;
    };
    for (nlri, next_hop) in &announced {
        let mut a = attrs.clone();
        match evaluate(
            policy,
            &nlri.prefix,
            Some(&ctx.neighbor),
            &mut a,
            ctx.local_as,
        ) {
            Outcome::Accept { .. } => push(&mut out.announce, a, *next_hop, *nlri),
            Outcome::Reject => out.withdraw.push(*nlri),
        }
    }
    out
}

/// The Calico guard: a node may announce a block of a pool or a borrowed address inside
/// one; anything else (a default route, the node subnet, the VPC range, a route shorter
/// than a block) is refused, per route, like a policy reject.
fn calico_guard(pools: &config::Calico, announced: &mut Vec<(Nlri, NextHop)>, out: &mut Imported) {
    announced.retain(|(n, _)| {
        let why = match pools.classify(&n.prefix) {
            PoolRoute::Block | PoolRoute::Borrowed => return true,
            PoolRoute::TooShort => "shorter than a Calico block",
            PoolRoute::Partial => "neither a Calico block nor a host route",
            PoolRoute::Outside => "outside the Calico pools",
        };
        out.withdraw.push(*n);
        out.pool_refused.push((n.prefix, why));
        false
    });
    if !out.pool_refused.is_empty() {
        out.refused
            .push("outside the Calico pools or shorter than a block");
    }
}

/// Routes of one UPDATE without an import policy: they all have the same set, so a new
/// group starts only where the next hop changes (no copy or comparison of the set per
/// route).
fn group(announce: &mut Vec<Announce>, attrs: PathAttributes, routes: &[(Nlri, NextHop)]) {
    let mut attrs = Some(attrs);
    for (i, (nlri, next_hop)) in routes.iter().enumerate() {
        match announce.last_mut() {
            Some(last) if last.next_hop == *next_hop => last.nlri.push(*nlri),
            last => {
                let attrs = match attrs.take() {
                    Some(a) => a,
                    None => last.map(|l| l.attrs.clone()).unwrap_or_default(),
                };
                let mut nlri_list = Vec::with_capacity(routes.len() - i);
                nlri_list.push(*nlri);
                announce.push(Announce {
                    attrs,
                    next_hop: *next_hop,
                    nlri: nlri_list,
                });
            }
        }
    }
}

/// Appends to the last group when attributes and next hop match (the common case: one
/// UPDATE, one attribute set), else opens a new group.
/// RFC 2545 section 3: the second address of a 32-byte IPv6 next hop is the peer's
/// link-local one. Anything else there (`::`, a multicast or a global address) is dropped
/// and the global address alone is used, as BIRD and FRR do: installed as a gateway it
/// would fail in the kernel or send traffic elsewhere on the link.
fn usable_link_local(next_hop: NextHop) -> NextHop {
    match next_hop {
        NextHop::V6 {
            global,
            link_local: Some(ll),
        } if !crate::interfaces::is_link_local(&ll) => NextHop::V6 {
            global,
            link_local: None,
        },
        other => other,
    }
}

fn push(announce: &mut Vec<Announce>, attrs: PathAttributes, next_hop: NextHop, nlri: Nlri) {
    if let Some(last) = announce.last_mut() {
        if last.next_hop == next_hop && last.attrs == attrs {
            last.nlri.push(nlri);
            return;
        }
    }
    announce.push(Announce {
        attrs,
        next_hop,
        nlri: vec![nlri],
    });
}

/// RFC 4271 section 9.1.2 (own AS in the path), RFC 4456 section 8 (our router ID as
/// ORIGINATOR_ID, our cluster ID in CLUSTER_LIST), RFC 7606 section 7.2 / RFC 4271 section
/// 6.3 (an eBGP path must start with the peer's AS).
fn loop_check(attrs: &PathAttributes, ctx: &ImportContext) -> Option<&'static str> {
    let path = attrs.as_path();
    // RFC 4271 section 9.1.2: a path with our AS in it is a loop, whichever session
    // brought it.
    if path.is_some_and(|p| p.contains(ctx.local_as)) {
        return Some("own AS in AS_PATH");
    }
    if ctx.ebgp {
        if path.and_then(|p| p.neighbor_as()) != Some(ctx.peer_as) {
            return Some("AS_PATH does not start with the peer's AS");
        }
    } else {
        if attrs.originator_id() == Some(&ctx.router_id) {
            return Some("our router ID as ORIGINATOR_ID");
        }
        if attrs
            .cluster_list()
            .is_some_and(|c| c.contains(&ctx.cluster_id))
        {
            return Some("our cluster ID in CLUSTER_LIST");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp_wire::attr::{AsPath, Origin};
    use ipnet::IpNet;

    fn ctx(ebgp: bool) -> ImportContext {
        ImportContext {
            neighbor: "n".into(),
            local_as: 64512,
            router_id: Ipv4Addr::new(192, 0, 2, 1),
            cluster_id: Ipv4Addr::new(192, 0, 2, 1),
            peer_as: if ebgp { 45104 } else { 64512 },
            ebgp,
            four_octet_as: true,
            policy: None,
            calico: None,
            drained: false,
        }
    }

    fn update(path: &[u32], extra: Vec<AttrValue>) -> Update {
        let mut values = vec![
            AttrValue::Origin(Origin::Igp),
            AttrValue::AsPath(AsPath::sequence(path)),
            AttrValue::NextHop(Ipv4Addr::new(192, 0, 2, 9)),
        ];
        values.extend(extra);
        Update {
            attributes: PathAttributes::from_values(values),
            nlri: vec![Nlri::new("198.18.0.0/26".parse::<IpNet>().unwrap())],
            ..Update::default()
        }
    }

    #[test]
    fn ibgp_without_policy_accepts() {
        let got = import(update(&[], vec![]), &ctx(false));
        assert_eq!(got.announce.len(), 1);
        assert_eq!(
            got.announce[0].attrs.next_hop(),
            None,
            "next hop kept apart"
        );
        assert!(got.withdraw.is_empty());
    }

    #[test]
    fn only_a_link_local_address_is_kept_beside_the_global_one() {
        let v6 = |s: &str| Nlri::new(s.parse::<IpNet>().unwrap());
        let with = |ll: &str| {
            let mut u = update(&[], vec![]);
            u.nlri.clear();
            u.attributes
                .set(AttrValue::MpReach(bgp_wire::attr::MpReach {
                    family: bgp_wire::Family::Ipv6Unicast,
                    next_hop: NextHop::V6 {
                        global: "2001:db8::9".parse().unwrap(),
                        link_local: Some(ll.parse().unwrap()),
                    },
                    nlri: vec![v6("2001:db8:1::/48")],
                }));
            import(u, &ctx(false)).announce[0].next_hop
        };
        let ll = |n: NextHop| match n {
            NextHop::V6 { link_local, .. } => link_local,
            NextHop::V4(_) => None,
        };
        assert_eq!(ll(with("fe80::9")), Some("fe80::9".parse().unwrap()));
        for bad in ["::", "ff02::1", "2001:db8::10"] {
            assert_eq!(ll(with(bad)), None, "{bad}");
        }
    }

    #[test]
    fn routes_are_grouped_by_next_hop_with_one_set() {
        // Two IPv4 routes with NEXT_HOP, two IPv6 routes in MP_REACH_NLRI: two groups.
        let v6 = |s: &str| Nlri::new(s.parse::<IpNet>().unwrap());
        let mut u = update(&[], vec![]);
        u.nlri
            .push(Nlri::new("198.18.1.0/26".parse::<IpNet>().unwrap()));
        u.attributes
            .set(AttrValue::MpReach(bgp_wire::attr::MpReach {
                family: bgp_wire::Family::Ipv6Unicast,
                next_hop: NextHop::V6 {
                    global: "2001:db8::9".parse().unwrap(),
                    link_local: None,
                },
                nlri: vec![v6("2001:db8:1::/48"), v6("2001:db8:2::/48")],
            }));
        let got = import(u, &ctx(false));
        assert_eq!(got.received, 4);
        assert_eq!(got.received_ipv6, 2);
        assert_eq!(got.announce.len(), 2);
        assert!(got.announce.iter().all(|a| a.nlri.len() == 2));
        assert_eq!(got.announce[0].attrs, got.announce[1].attrs);
        assert_ne!(got.announce[0].next_hop, got.announce[1].next_hop);
        assert_eq!(got.announce[0].attrs.next_hop(), None);
    }

    #[test]
    fn the_calico_guard_passes_blocks_and_borrowed_addresses_only() {
        let mut c = ctx(false);
        c.calico = Some(Arc::new(config::Calico {
            pools: vec!["198.18.0.0/16".parse().unwrap()],
            block_size: 26,
            block_size_v6: 122,
        }));
        let mut u = update(&[], vec![]);
        for p in [
            "198.18.1.0/26",
            "198.18.1.7/32",
            "0.0.0.0/0",
            "198.18.0.0/16",
            "10.0.0.0/26",
            "198.18.1.0/28",
        ] {
            u.nlri.push(Nlri::new(p.parse::<IpNet>().unwrap()));
        }
        let got = import(u, &c);
        let kept: Vec<String> = got.announce[0]
            .nlri
            .iter()
            .map(|n| n.prefix.to_string())
            .collect();
        // update() brings 198.18.0.0/26, a block too.
        assert_eq!(kept, ["198.18.0.0/26", "198.18.1.0/26", "198.18.1.7/32"]);
        let refused: Vec<(String, &str)> = got
            .pool_refused
            .iter()
            .map(|(p, w)| (p.to_string(), *w))
            .collect();
        assert_eq!(
            refused,
            [
                ("0.0.0.0/0".to_owned(), "outside the Calico pools"),
                ("198.18.0.0/16".to_owned(), "shorter than a Calico block"),
                ("10.0.0.0/26".to_owned(), "outside the Calico pools"),
                (
                    "198.18.1.0/28".to_owned(),
                    "neither a Calico block nor a host route"
                ),
            ]
        );
        assert_eq!(
            got.withdraw.len(),
            4,
            "refused routes replace earlier accepted ones"
        );
        assert_eq!(got.received, 7);
    }

    #[test]
    fn a_drained_route_gets_local_pref_zero() {
        // RFC 8326 section 4.2, from iBGP (LOCAL_PREF 100 replaced) and from eBGP.
        let gshut = AttrValue::Communities(vec![Community::GRACEFUL_SHUTDOWN]);
        let got = import(
            update(&[], vec![gshut.clone(), AttrValue::LocalPref(100)]),
            &ctx(false),
        );
        assert_eq!(got.announce[0].attrs.local_pref(), Some(&0));
        let mut ebgp = ctx(true);
        ebgp.policy = Some(Arc::new(Policy {
            name: "all".into(),
            default: config::Verdict::Accept,
            terms: vec![],
        }));
        let got = import(update(&[45104], vec![gshut]), &ebgp);
        assert_eq!(got.announce[0].attrs.local_pref(), Some(&0));
        let plain = import(update(&[45104], vec![]), &ebgp);
        assert_eq!(plain.announce[0].attrs.local_pref(), None);
    }

    #[test]
    fn ebgp_without_policy_refuses() {
        let got = import(update(&[45104], vec![]), &ctx(true));
        assert!(got.announce.is_empty());
        assert_eq!(got.withdraw.len(), 1);
    }

    /// An UPDATE with an RFC 7606 treat-as-withdraw outcome `reason`.
    fn malformed(mut u: Update, reason: bgp_wire::Reason) -> Update {
        u.errors.push(bgp_wire::DecodeError {
            reason,
            context: "UPDATE path attributes",
            action: bgp_wire::ErrorHandling::TreatAsWithdraw,
            data: bytes::Bytes::new(),
        });
        u
    }

    #[test]
    fn treat_as_withdraw_withdraws_the_routes() {
        let u = malformed(update(&[], vec![]), bgp_wire::Reason::InvalidOrigin(7));
        let nlri = u.nlri.clone();
        let got = import(u, &ctx(false));
        assert!(got.announce.is_empty());
        assert_eq!(got.withdraw, nlri);
        assert_eq!(got.received, 1);
        assert_eq!(got.refused.len(), 1);
    }

    #[test]
    fn treat_as_withdraw_without_next_hop_still_withdraws() {
        // RFC 7606 section 7.3: a NEXT_HOP of length 5 (or missing, or multicast) is
        // treat-as-withdraw; the decoder leaves it out, so the classic NLRI have no next hop.
        let v6 = Nlri::new("2001:db8:1::/48".parse::<IpNet>().unwrap());
        let mut u = update(&[], vec![]);
        assert!(u.attributes.remove(code::NEXT_HOP).is_some());
        u.attributes
            .set(AttrValue::MpReach(bgp_wire::attr::MpReach {
                family: bgp_wire::Family::Ipv6Unicast,
                next_hop: NextHop::V6 {
                    global: "2001:db8::9".parse().unwrap(),
                    link_local: None,
                },
                nlri: vec![v6],
            }));
        u.withdrawn
            .push(Nlri::new("198.18.9.0/26".parse::<IpNet>().unwrap()));
        let u = malformed(
            u,
            bgp_wire::Reason::AttributeLength {
                type_code: code::NEXT_HOP,
                length: 5,
            },
        );
        let mut want = u.withdrawn.clone();
        want.extend(u.nlri.iter().copied());
        want.push(v6);
        let got = import(u, &ctx(false));
        assert!(got.announce.is_empty());
        assert_eq!(
            got.withdraw, want,
            "withdrawn, then classic NLRI, then MP NLRI"
        );
        assert_eq!(got.received, 2);
        assert_eq!(
            got.refused,
            vec!["malformed attribute (RFC 7606 treat-as-withdraw)"]
        );
    }

    #[test]
    fn treat_as_withdraw_with_only_classic_nlri_and_no_next_hop() {
        let mut u = update(&[], vec![]);
        assert!(u.attributes.remove(code::NEXT_HOP).is_some());
        let u = malformed(u, bgp_wire::Reason::MissingWellKnown(code::NEXT_HOP));
        let nlri = u.nlri.clone();
        let got = import(u, &ctx(false));
        assert!(got.announce.is_empty());
        assert_eq!(got.withdraw, nlri);
    }

    #[test]
    fn loops_are_refused() {
        let mut c = ctx(true);
        c.policy = Some(Arc::new(Policy {
            name: "all".into(),
            default: config::Verdict::Accept,
            terms: vec![],
        }));
        assert!(import(update(&[45104, 64512], vec![]), &c)
            .announce
            .is_empty());
        assert!(import(update(&[65001], vec![]), &c).announce.is_empty());
        assert_eq!(import(update(&[45104], vec![]), &c).announce.len(), 1);
        let i = ctx(false);
        assert!(import(update(&[65001, 64512], vec![]), &i)
            .announce
            .is_empty());
        let own = AttrValue::OriginatorId(Ipv4Addr::new(192, 0, 2, 1));
        assert!(import(update(&[], vec![own]), &i).announce.is_empty());
        let cl = AttrValue::ClusterList(vec![Ipv4Addr::new(192, 0, 2, 1)]);
        assert!(import(update(&[], vec![cl]), &i).announce.is_empty());
    }
}
