//! The export groups' unit tests: members, own routes, the advertised-route limit, lagging.

use bgp_wire::attr::{AsPath, AttrValue, NextHop, Origin, PathAttributes};
use bgp_wire::{decode, Context, Framer, Message, Nlri, RefreshSubtype};
use bytes::{Bytes, BytesMut};
use rib::PeerInfo;

use super::*;
use crate::exchange::ExportSettings;
use crate::session::{negotiate, PeerAs, SessionConfig};

fn up(key: PeerKey, tx: UpdateSender) -> PeerUp {
    let mine = SessionConfig::new(64512, "192.0.2.1".parse().unwrap(), PeerAs::Fixed(64512));
    let theirs = SessionConfig::new(64512, "192.0.2.2".parse().unwrap(), PeerAs::Fixed(64512));
    let negotiated = negotiate(&mine, &mine.build_open(), &theirs.build_open()).unwrap();
    assert!(negotiated.enhanced_route_refresh);
    let (commands, _) = crate::exchange::commands::channel();
    PeerUp {
        key,
        name: "n".into(),
        address: "192.0.2.2".parse().unwrap(),
        local_address: Some("192.0.2.1".parse().unwrap()),
        link_local: None,
        negotiated,
        export: ExportSettings {
            export_policy: None,
            rr_client: true,
            next_hop_self: false,
            link_local_next_hop: true,
            max_prefixes: None,
            max_prefixes_out: None,
            graceful_shutdown: false,
        },
        updates: tx,
        commands,
        calico: None,
    }
}

fn announce(rib: &mut Rib, peer: PeerId, prefixes: &[&str]) {
    let attrs = PathAttributes::from_values([
        AttrValue::Origin(Origin::Igp),
        AttrValue::AsPath(AsPath::default()),
    ]);
    let nlri: Vec<Nlri> = prefixes
        .iter()
        .map(|p| Nlri::new(p.parse().unwrap()))
        .collect();
    let mut b = rib.batch(peer);
    b.announce(&attrs, NextHop::V4("192.0.2.9".parse().unwrap()), &nlri)
        .unwrap();
    b.commit(&rib::AllReachable);
}

/// A RIB with one iBGP client (`src`) routes come from, as the reflector sees it.
fn reflector() -> (Rib, PeerId, HashMap<PeerId, PeerView>, Local) {
    let mut rib = Rib::new(rib::Options::default());
    let src = rib
        .add_peer(PeerInfo::ibgp(
            "192.0.2.9".parse().unwrap(),
            "192.0.2.9".parse().unwrap(),
            64512,
        ))
        .unwrap();
    let mut peers = HashMap::new();
    peers.insert(
        src,
        PeerView {
            kind: Some(PeerKind::IbgpClient),
            name: "src".into(),
            bgp_id: "192.0.2.9".parse().unwrap(),
        },
    );
    let local = Local {
        asn: 64512,
        cluster_id: "192.0.2.1".parse().unwrap(),
    };
    (rib, src, peers, local)
}

/// Member 7 of a group with `max_prefixes_out = limit`, and its queue.
fn limited_member(limit: u32) -> (PeerUp, UpdateSender) {
    let tx = UpdateSender::unattached(16);
    let rx = tx.clone();
    let mut member = up(7, tx);
    member.export.max_prefixes_out = Some(config::PrefixLimit {
        limit,
        warning_percent: 90,
    });
    (member, rx)
}

/// Adds the RIB peer our own (originated) routes come from.
fn originator_peer(rib: &mut Rib, peers: &mut HashMap<PeerId, PeerView>) -> PeerId {
    let own = rib
        .add_peer(PeerInfo::ibgp(
            "192.0.2.1".parse().unwrap(),
            "192.0.2.1".parse().unwrap(),
            64512,
        ))
        .unwrap();
    peers.insert(
        own,
        PeerView {
            kind: None,
            name: String::new(),
            bgp_id: "192.0.2.1".parse().unwrap(),
        },
    );
    own
}

/// Message types and refresh subtypes in a buffer, with the routes announced.
fn read(bytes: &Bytes) -> (Vec<String>, usize) {
    let mut buf = BytesMut::from(&bytes[..]);
    let (mut kinds, mut routes) = (Vec::new(), 0);
    while let Some(m) = Framer::new().next_message(&mut buf).unwrap() {
        match decode(&m, &Context::four_octet()).unwrap() {
            Message::RouteRefresh(r) => kinds.push(format!("{:?}", r.subtype)),
            Message::Update(u) => {
                routes += u.announced().count();
                kinds.push("update".into());
            }
            other => kinds.push(other.kind_name().into()),
        }
    }
    (kinds, routes)
}

#[test]
fn a_member_that_overflows_catches_up_with_an_enhanced_route_refresh() {
    let (mut rib, src, peers, local) = reflector();
    let ctx = ExportCtx {
        local: &local,
        peers: &peers,
    };
    announce(&mut rib, src, &["198.18.0.0/26", "198.18.0.64/26"]);
    let tx = UpdateSender::unattached(1);
    let rx = tx.clone();
    let mut groups = Groups::default();
    let g = groups.join(&mut rib, &up(7, tx), PeerKind::IbgpClient);
    assert!(groups.send_table(&mut rib, &ctx, g, 7, None).is_empty());
    // The queue (one slot) is full: the next change does not fit.
    announce(&mut rib, src, &["198.18.0.128/26"]);
    let changed: IpNet = "198.18.0.128/26".parse().unwrap();
    assert!(
        groups
            .export(&mut rib, &ctx, [(changed, None)].into_iter())
            .is_empty(),
        "no reset"
    );
    assert!(groups.any_lagging());
    assert!(groups.catch_up(&rib).is_empty());
    assert!(groups.any_lagging(), "still full");
    let (first, routes) = read(&rx.try_recv().unwrap());
    assert_eq!(
        (first.first().map(String::as_str), routes),
        (Some("update"), 2)
    );
    // Drained: the whole table comes again, between BoRR and EoRR.
    assert!(groups.catch_up(&rib).is_empty());
    assert!(!groups.any_lagging());
    let (kinds, routes) = read(&rx.try_recv().unwrap());
    assert_eq!(
        kinds.first().map(String::as_str),
        Some(&*format!("{:?}", RefreshSubtype::Begin))
    );
    assert_eq!(
        kinds.last().map(String::as_str),
        Some(&*format!("{:?}", RefreshSubtype::End))
    );
    assert_eq!(routes, 3);
}

/// Announced and withdrawn prefixes in a buffer.
fn routes_in(parts: &[Bytes]) -> (Vec<String>, Vec<String>) {
    let (mut announced, mut withdrawn) = (Vec::new(), Vec::new());
    for bytes in parts {
        let mut buf = BytesMut::from(&bytes[..]);
        while let Some(m) = Framer::new().next_message(&mut buf).unwrap() {
            if let Message::Update(u) = decode(&m, &Context::four_octet()).unwrap() {
                announced.extend(u.announced().map(|a| a.nlri.prefix.to_string()));
                withdrawn.extend(u.withdrawn_routes().map(|n| n.prefix.to_string()));
            }
        }
    }
    (announced, withdrawn)
}

fn drain(rx: &UpdateSender) -> Vec<Bytes> {
    std::iter::from_fn(|| rx.try_recv()).collect()
}

#[test]
fn a_client_is_not_sent_its_own_routes_but_loses_what_they_replace() {
    let (mut rib, src, mut peers, local) = reflector();
    let other = rib
        .add_peer(PeerInfo::ibgp(
            "192.0.2.10".parse().unwrap(),
            "192.0.2.10".parse().unwrap(),
            64512,
        ))
        .unwrap();
    peers.insert(
        other,
        PeerView {
            kind: Some(PeerKind::IbgpClient),
            name: "other".into(),
            bgp_id: "192.0.2.10".parse().unwrap(),
        },
    );
    let ctx = ExportCtx {
        local: &local,
        peers: &peers,
    };
    announce(&mut rib, src, &["198.18.1.0/26"]);
    announce(&mut rib, other, &["198.18.2.0/26", "198.18.3.0/26"]);
    let (tx7, tx9) = (UpdateSender::unattached(16), UpdateSender::unattached(16));
    let (rx7, rx9) = (tx7.clone(), tx9.clone());
    let mut groups = Groups::default();
    let mut member9 = up(9, tx9);
    // The session of `src` itself: its BGP identifier is its routes' ORIGINATOR_ID.
    member9.negotiated.peer_id = "192.0.2.9".parse().unwrap();
    let g = groups.join(&mut rib, &up(7, tx7), PeerKind::IbgpClient);
    assert_eq!(groups.join(&mut rib, &member9, PeerKind::IbgpClient), g);
    assert!(groups.send_table(&mut rib, &ctx, g, 7, None).is_empty());
    assert!(groups.send_table(&mut rib, &ctx, g, 9, None).is_empty());
    let (a7, _) = routes_in(&drain(&rx7));
    assert_eq!(a7, ["198.18.1.0/26", "198.18.2.0/26", "198.18.3.0/26"]);
    let (a9, w9) = routes_in(&drain(&rx9));
    assert_eq!(a9, ["198.18.2.0/26", "198.18.3.0/26"], "not its own route");
    assert_eq!(w9, ["198.18.1.0/26"], "in its place: a no-op withdrawal");

    // `src` announces 198.18.3.0/26 too and wins (lower router ID): the group now
    // advertises src's path, which src must not get, and it must drop other's path.
    announce(&mut rib, src, &["198.18.3.0/26"]);
    let p: IpNet = "198.18.3.0/26".parse().unwrap();
    assert!(groups
        .export(&mut rib, &ctx, [(p, None)].into_iter())
        .is_empty());
    assert_eq!(routes_in(&drain(&rx7)).0, ["198.18.3.0/26"]);
    let (a9, w9) = routes_in(&drain(&rx9));
    assert!(a9.is_empty(), "{a9:?}");
    assert_eq!(w9, ["198.18.3.0/26"]);
}

#[test]
fn at_the_limit_an_originated_route_takes_a_learned_ones_place() {
    let (mut rib, src, mut peers, local) = reflector();
    let own = originator_peer(&mut rib, &mut peers);
    let ctx = ExportCtx {
        local: &local,
        peers: &peers,
    };
    announce(&mut rib, src, &["198.18.1.0/26", "198.18.2.0/26"]);
    let (limited, rx) = limited_member(2);
    let mut groups = Groups::default();
    let g = groups.join(&mut rib, &limited, PeerKind::IbgpClient);
    assert!(groups.send_table(&mut rib, &ctx, g, 7, None).is_empty());
    assert_eq!(advertised(&groups, &rib, g), (2, 0));
    drain(&rx);
    // The aggregate appears (a block came back after the limit was reached).
    announce(&mut rib, own, &["198.18.0.0/16"]);
    let agg: IpNet = "198.18.0.0/16".parse().unwrap();
    assert!(groups
        .export(&mut rib, &ctx, [(agg, None)].into_iter())
        .is_empty());
    let (announced, withdrawn) = routes_in(&drain(&rx));
    assert_eq!(announced, ["198.18.0.0/16"]);
    assert_eq!(withdrawn.len(), 1, "{withdrawn:?}");
    assert_eq!(
        advertised(&groups, &rib, g),
        (2, 1),
        "the learned one held back"
    );
    // The aggregate goes: the learned route comes back.
    let mut b = rib.batch(own);
    b.withdraw(&[Nlri::new(agg)]);
    b.commit(&rib::AllReachable);
    assert!(groups
        .export(&mut rib, &ctx, [(agg, None)].into_iter())
        .is_empty());
    let (announced, withdrawn) = routes_in(&drain(&rx));
    assert_eq!(withdrawn, ["198.18.0.0/16"]);
    assert_eq!(announced.len(), 1);
    assert_eq!(advertised(&groups, &rib, g), (2, 0));
}

/// Withdrawn NLRI in a buffer of messages.
fn withdrawn_nlri(bytes: &Bytes) -> Vec<IpNet> {
    let mut buf = BytesMut::from(&bytes[..]);
    let mut out = Vec::new();
    while let Some(m) = Framer::new().next_message(&mut buf).unwrap() {
        if let Message::Update(u) = decode(&m, &Context::four_octet()).unwrap() {
            out.extend(u.withdrawn_routes().map(|n| n.prefix));
        }
    }
    out
}

#[test]
fn a_member_moved_to_another_group_hears_the_withdraw_of_a_route_not_exported_yet() {
    let (mut rib, src, peers, local) = reflector();
    let ctx = ExportCtx {
        local: &local,
        peers: &peers,
    };
    announce(&mut rib, src, &["198.18.1.0/26", "198.18.1.1/32"]);
    let tx = UpdateSender::unattached(16);
    let rx = tx.clone();
    let member = up(7, tx);
    let mut groups = Groups::default();
    let old = groups.join(&mut rib, &member, PeerKind::IbgpClient);
    assert!(groups.send_table(&mut rib, &ctx, old, 7, None).is_empty());
    while rx.try_recv().is_some() {}
    // The /32 loses its last path; the export that would withdraw it has not run when
    // a reload moves the member (the export interval, or the same batch of inputs).
    let gone: IpNet = "198.18.1.1/32".parse().unwrap();
    let mut b = rib.batch(src);
    b.withdraw(&[Nlri::new(gone)]);
    b.commit(&rib::AllReachable);
    let told = groups.advertised_prefixes(&rib, old);
    assert!(told.iter().any(|n| n.prefix == gone), "{told:?}");
    groups.leave(&mut rib, old, 7);
    let mut moved = member.clone();
    moved.export.next_hop_self = true;
    let new = groups.join(&mut rib, &moved, PeerKind::IbgpClient);
    assert!(groups.send_table(&mut rib, &ctx, new, 7, None).is_empty());
    assert!(groups.withdraw_leftovers(&rib, new, 7, &told).is_empty());
    let mut withdrawn = Vec::new();
    while let Some(b) = rx.try_recv() {
        withdrawn.extend(withdrawn_nlri(&b));
    }
    assert_eq!(withdrawn, [gone]);
}

#[test]
fn the_route_giving_way_to_an_originated_one_is_not_one_announced_in_the_same_batch() {
    let (mut rib, src, mut peers, local) = reflector();
    let own = originator_peer(&mut rib, &mut peers);
    let ctx = ExportCtx {
        local: &local,
        peers: &peers,
    };
    announce(&mut rib, src, &["10.0.0.0/24"]);
    let (limited, rx) = limited_member(2);
    let mut groups = Groups::default();
    let g = groups.join(&mut rib, &limited, PeerKind::IbgpClient);
    assert!(groups.send_table(&mut rib, &ctx, g, 7, None).is_empty());
    drain(&rx);
    // One export: a learned prefix that sorts last, then the aggregate, at the limit.
    announce(&mut rib, src, &["203.0.113.0/24"]);
    announce(&mut rib, own, &["198.18.0.0/16"]);
    let changed: Vec<(IpNet, Option<DestId>)> = ["203.0.113.0/24", "198.18.0.0/16"]
        .iter()
        .map(|p| (p.parse().unwrap(), None))
        .collect();
    assert!(groups
        .export(&mut rib, &ctx, changed.into_iter())
        .is_empty());
    let (announced, withdrawn) = routes_in(&drain(&rx));
    assert_eq!(withdrawn, ["10.0.0.0/24"], "announced: {announced:?}");
    assert_eq!(announced, ["203.0.113.0/24", "198.18.0.0/16"]);
}

#[test]
fn a_held_back_prefix_that_is_withdrawn_is_no_longer_held_back() {
    let (mut rib, src, peers, local) = reflector();
    let ctx = ExportCtx {
        local: &local,
        peers: &peers,
    };
    announce(&mut rib, src, &["198.18.0.0/26", "198.18.0.64/26"]);
    let (limited, _rx) = limited_member(1);
    let mut groups = Groups::default();
    let g = groups.join(&mut rib, &limited, PeerKind::IbgpClient);
    assert!(groups.send_table(&mut rib, &ctx, g, 7, None).is_empty());
    assert_eq!(
        advertised(&groups, &rib, g),
        (1, 1),
        "one sent, one held back"
    );
    // The held-back prefix loses its only path: it leaves the table and the list.
    let gone: IpNet = "198.18.0.64/26".parse().unwrap();
    let mut b = rib.batch(src);
    b.withdraw(&[Nlri::new(gone)]);
    b.commit(&rib::AllReachable);
    assert!(rib.locate(gone).is_none());
    assert!(groups
        .export(&mut rib, &ctx, [(gone, None)].into_iter())
        .is_empty());
    assert_eq!(advertised(&groups, &rib, g), (1, 0));
}

/// Advertised paths (both families) and prefixes held back.
fn advertised(groups: &Groups, rib: &Rib, g: usize) -> (u64, usize) {
    let (c, held) = groups.advertised(rib, g);
    (c.total(), held)
}
