//! The RIB's operations end to end: batches and their reported changes, peer down,
//! graceful restart, queries, counts, Adj-RIB-Out and reference counting.
#![allow(clippy::unwrap_used)] // test code

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bgp_wire::attr::{AsPath, AttrValue, Community, NextHop, Origin, PathAttributes};
use bgp_wire::{Family, Nlri};
use ipnet::IpNet;
use rib::{Advertise, AllReachable, Change, Options, PeerId, PeerInfo, Rib, Step};

fn attrs(lp: u32, path: &[u32]) -> PathAttributes {
    PathAttributes::from_values([
        AttrValue::Origin(Origin::Igp),
        AttrValue::AsPath(AsPath::sequence(path)),
        AttrValue::LocalPref(lp),
    ])
}

fn nh(last: u8) -> NextHop {
    NextHop::V4(Ipv4Addr::new(192, 0, 2, last))
}

fn n(s: &str) -> Nlri {
    Nlri::new(s.parse::<IpNet>().unwrap())
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn peer(rib: &mut Rib, last: u8) -> PeerId {
    rib.add_peer(PeerInfo::ibgp(
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
        Ipv4Addr::new(10, 0, 0, last),
        65000,
    ))
    .unwrap()
}

#[test]
fn batch_reports_best_changes_only() {
    let mut rib = Rib::new(Options::default());
    let p1 = peer(&mut rib, 1);
    let p2 = peer(&mut rib, 2);
    let mut b = rib.batch(p1);
    b.announce(
        &attrs(100, &[65001]),
        nh(1),
        &[n("10.0.0.0/24"), n("10.0.1.0/24")],
    )
    .unwrap();
    let ch = b.commit(&AllReachable);
    assert_eq!(ch.len(), 2);
    assert!(ch.iter().all(|c| c.old.best.is_none()));
    assert_eq!(ch[0].new.best.unwrap().peer, p1);

    // A worse path from p2 changes nothing; a better one changes one prefix.
    let mut b = rib.batch(p2);
    b.announce(&attrs(50, &[65002]), nh(2), &[n("10.0.0.0/24")])
        .unwrap();
    b.announce(&attrs(200, &[65002]), nh(2), &[n("10.0.1.0/24")])
        .unwrap();
    let ch = b.commit(&AllReachable);
    assert_eq!(ch.len(), 1);
    assert_eq!(ch[0].prefix, net("10.0.1.0/24"));
    assert_eq!(ch[0].old.best.unwrap().peer, p1);
    assert_eq!(ch[0].new.best.unwrap().peer, p2);

    // Announce then withdraw in one batch: no net change, nothing reported.
    let mut b = rib.batch(p2);
    b.announce(&attrs(300, &[65002]), nh(2), &[n("10.0.0.0/24")])
        .unwrap();
    b.withdraw(&[n("10.0.0.0/24")]);
    b.withdraw(&[n("10.9.9.0/24")]); // never announced: ignored
    let ch = b.commit(&AllReachable);
    assert!(ch.is_empty(), "{ch:?}");
    assert_eq!(rib.get(net("10.0.0.0/24")).unwrap().paths.len(), 1);

    // Implicit withdraw with new attributes from the best peer is a change.
    let mut b = rib.batch(p2);
    b.announce(&attrs(201, &[65002]), nh(2), &[n("10.0.1.0/24")])
        .unwrap();
    let ch = b.commit(&AllReachable);
    assert_eq!(ch.len(), 1);
    assert_ne!(ch[0].old.best.unwrap().attrs, ch[0].new.best.unwrap().attrs);
    assert_eq!(rib.path_count(Family::Ipv4Unicast), 3);
    assert_eq!(rib.peers().counts(p2).ipv4, 1);
}

#[test]
fn unreachable_next_hop_is_not_selected() {
    let mut rib = Rib::new(Options::default());
    let p1 = peer(&mut rib, 1);
    let only_1 = |h: &NextHop| (*h == nh(1)).then_some(0);
    let mut b = rib.batch(p1);
    b.announce(&attrs(100, &[1]), nh(9), &[n("10.0.0.0/24")])
        .unwrap();
    assert!(b.commit(&only_1).is_empty());
    let d = rib.get(net("10.0.0.0/24")).unwrap();
    assert!(d.best().is_none());
    let why = rib.explain(net("10.0.0.0/24"), &only_1).unwrap();
    assert_eq!(why[0].1, Some(Step::Unreachable));
    // Reachability changes: recompute selects it.
    let ch = rib.recompute(&AllReachable);
    assert_eq!(ch.len(), 1);
}

#[test]
fn peer_down_and_graceful_restart() {
    let mut rib = Rib::new(Options::default());
    let p1 = peer(&mut rib, 1);
    let p2 = peer(&mut rib, 2);
    let prefixes = [n("10.0.0.0/24"), n("10.0.1.0/24"), n("2001:db8::/32")];
    for (p, lp) in [(p1, 200), (p2, 100)] {
        let mut b = rib.batch(p);
        b.announce(&attrs(lp, &[1]), nh(u8::try_from(p.0).unwrap()), &prefixes)
            .unwrap();
        b.commit(&AllReachable);
    }
    // GR: stale, so the live path of p2 wins although its LOCAL_PREF is lower (a stale path
    // may lead into a dead circuit: `Step::Stale`).
    let mut ch = Vec::<Change>::new();
    rib.mark_stale_into(p1, None, false, &AllReachable, &mut ch);
    assert_eq!(ch.len(), 3);
    assert!(ch.iter().all(|c| c.new.best.unwrap().peer == p2));
    let why = rib.explain(net("10.0.1.0/24"), &AllReachable).unwrap();
    assert!(
        why.iter().any(|(_, lost)| *lost == Some(Step::Stale)),
        "{why:?}"
    );
    // p1 re-announces one prefix: it is fresh again; the sweep removes the other two.
    let mut b = rib.batch(p1);
    b.announce(&attrs(200, &[1]), nh(1), &[n("10.0.0.0/24")])
        .unwrap();
    b.commit(&AllReachable);
    assert_eq!(
        rib.get(net("10.0.0.0/24")).unwrap().best().unwrap().peer(),
        p1
    );
    // The sweep removes paths that were not selected any more: nothing changes.
    let mut ch = Vec::<Change>::new();
    rib.sweep_stale_into(p1, None, &AllReachable, &mut ch);
    assert!(ch.is_empty());
    assert_eq!(rib.peers().counts(p1).ipv4, 1);
    assert_eq!(rib.peers().counts(p1).ipv6, 0);

    // LLGR: the stale path becomes least preferred at once.
    let mut ch = Vec::<Change>::new();
    rib.mark_stale_into(p1, Some(Family::Ipv4Unicast), true, &AllReachable, &mut ch);
    assert_eq!(ch.len(), 1);
    assert_eq!(ch[0].new.best.unwrap().peer, p2);
    let why = rib.explain(net("10.0.0.0/24"), &AllReachable).unwrap();
    let lost = why.iter().find(|(p, _)| p.peer() == p1).map(|w| w.1);
    assert_eq!(lost, Some(Some(Step::LlgrStale)));

    // Session down: everything of p2 goes; prefixes with no path left disappear.
    let mut ch = Vec::<Change>::new();
    rib.remove_peer_into(p2, &AllReachable, &mut ch);
    assert_eq!(ch.len(), 3);
    assert_eq!(rib.prefix_count(Family::Ipv4Unicast), 1);
    assert_eq!(rib.prefix_count(Family::Ipv6Unicast), 0);
    let ch = rib.clear_peer(p1, None, &AllReachable);
    assert_eq!(ch.len(), 1);
    assert_eq!(rib.path_count(Family::Ipv4Unicast), 0);
    // Every attribute set and next hop was released.
    rib.recompute(&AllReachable);
    assert_eq!(rib.attrs().len(), 0);
    assert_eq!(rib.next_hops().len(), 0);
}

#[test]
fn no_llgr_routes_are_removed_on_llgr() {
    let mut rib = Rib::new(Options::default());
    let p1 = peer(&mut rib, 1);
    let mut a = attrs(100, &[1]);
    a.set(AttrValue::Communities(vec![Community::NO_LLGR]));
    let mut b = rib.batch(p1);
    b.announce(&a, nh(1), &[n("10.0.0.0/24")]).unwrap();
    b.announce(&attrs(100, &[1]), nh(1), &[n("10.0.1.0/24")])
        .unwrap();
    b.commit(&AllReachable);
    let mut ch = Vec::<Change>::new();
    rib.mark_stale_into(p1, None, true, &AllReachable, &mut ch);
    assert_eq!(ch.len(), 2);
    assert!(rib.get(net("10.0.0.0/24")).is_none());
    assert!(rib.get(net("10.0.1.0/24")).unwrap().paths[0].is_llgr_stale());
}

#[test]
fn queries() {
    let mut rib = Rib::new(Options::default());
    let p1 = peer(&mut rib, 1);
    let mut b = rib.batch(p1);
    let list = [
        n("10.0.0.0/8"),
        n("10.100.0.0/16"),
        n("10.100.4.0/22"),
        n("10.100.5.0/24"),
        n("10.200.0.0/16"),
        n("2001:db8::/32"),
        n("2001:db8:1::/48"),
    ];
    b.announce(&attrs(100, &[1]), nh(1), &list).unwrap();
    b.commit(&AllReachable);
    assert_eq!(
        rib.longest_match(net("10.100.5.7/32")).unwrap().prefix,
        net("10.100.5.0/24")
    );
    assert_eq!(
        rib.longest_match(net("10.100.6.1/32")).unwrap().prefix,
        net("10.100.4.0/22")
    );
    assert_eq!(
        rib.longest_match(net("10.1.1.1/32")).unwrap().prefix,
        net("10.0.0.0/8")
    );
    assert!(rib.longest_match(net("11.0.0.1/32")).is_none());
    let inside: Vec<IpNet> = rib
        .more_specifics(net("10.100.0.0/16"), false)
        .map(|d| d.prefix)
        .collect();
    assert_eq!(inside, [net("10.100.4.0/22"), net("10.100.5.0/24")]);
    assert_eq!(rib.more_specifics(net("10.100.0.0/16"), true).count(), 3);
    assert!(rib.has_more_specific(net("10.100.0.0/16")));
    assert!(!rib.has_more_specific(net("10.200.0.0/16")));
    assert!(rib.has_more_specific(net("2001:db8::/32")));
    assert_eq!(rib.routes_of(p1, Family::Ipv4Unicast).count(), 5);
    assert_eq!(rib.routes_of(p1, Family::Ipv6Unicast).count(), 2);
    assert_eq!(rib.iter(Family::Ipv6Unicast).count(), 2);
    assert!(
        rib.get(net("10.100.5.9/24")).is_some(),
        "host bits are ignored"
    );
    let v6 = rib.get(net("2001:db8:1::/48")).unwrap();
    assert_eq!(v6.best().unwrap().peer(), p1);
    let _ = Ipv6Addr::LOCALHOST;
}

#[test]
fn multipath_changes_are_reported() {
    let mut rib = Rib::new(Options {
        max_paths: 4,
        ..Options::default()
    });
    let p1 = peer(&mut rib, 1);
    let p2 = peer(&mut rib, 2);
    let mut b = rib.batch(p1);
    b.announce(&attrs(100, &[1]), nh(1), &[n("10.0.0.0/24")])
        .unwrap();
    b.commit(&AllReachable);
    // An equal path from p2 does not take over (p1 has the lower router id) but joins
    // the multipath set: that is a change.
    let mut b = rib.batch(p2);
    b.announce(&attrs(100, &[1]), nh(2), &[n("10.0.0.0/24")])
        .unwrap();
    let ch = b.commit(&AllReachable);
    assert_eq!(ch.len(), 1);
    assert_eq!(ch[0].old.best, ch[0].new.best);
    assert_eq!(ch[0].new.multipath.len(), 1);
    assert_eq!(ch[0].new.all().count(), 2);
    // Both share one attribute set: next hops are kept per path.
    assert_eq!(rib.attrs().len(), 1);
}

#[test]
fn add_path_ids_are_separate_paths() {
    let mut rib = Rib::new(Options::default());
    let p1 = peer(&mut rib, 1);
    let mut b = rib.batch(p1);
    let pfx = net("10.0.0.0/24");
    b.announce(&attrs(100, &[1]), nh(1), &[Nlri::with_path_id(pfx, 1)])
        .unwrap();
    b.announce(&attrs(100, &[1]), nh(3), &[Nlri::with_path_id(pfx, 2)])
        .unwrap();
    b.commit(&AllReachable);
    let d = rib.get(pfx).unwrap();
    assert_eq!(d.paths.len(), 2);
    assert_eq!(d.best().unwrap().path_id(), 1);
    let mut b = rib.batch(p1);
    b.withdraw(&[Nlri::with_path_id(pfx, 1)]);
    let ch = b.commit(&AllReachable);
    assert_eq!(ch[0].new.best.unwrap().path_id, 2);
}

#[test]
fn adj_rib_out_sends_only_differences() {
    let mut rib = Rib::new(Options::default());
    let g = rib.add_group();
    let pfx = net("10.0.0.0/24");
    let a = attrs(100, &[1]);
    assert_eq!(
        rib.advertise(g, pfx, 0, &a, nh(1)).unwrap(),
        Advertise::Send
    );
    assert_eq!(
        rib.advertise(g, pfx, 0, &a, nh(1)).unwrap(),
        Advertise::Unchanged
    );
    assert_eq!(
        rib.advertise(g, pfx, 0, &a, nh(2)).unwrap(),
        Advertise::Send
    );
    assert_eq!(
        rib.advertise(g, pfx, 7, &a, nh(2)).unwrap(),
        Advertise::Send
    );
    assert_eq!(rib.advertised(g, pfx).len(), 2);
    assert_eq!(rib.advertised_count(g), 2);
    assert_eq!(rib.attrs().len(), 1);
    assert!(rib.withdraw_advertised(g, pfx, 0));
    assert!(!rib.withdraw_advertised(g, pfx, 0));
    assert!(!rib.withdraw_advertised(g, net("10.1.0.0/24"), 0));
    let other = rib.add_group();
    assert!(!rib.withdraw_advertised(other, pfx, 7));
    rib.clear_group(g);
    assert_eq!(rib.advertised_count(g), 0);
    assert!(rib.advertised(g, pfx).is_empty());
    assert_eq!(rib.attrs().len(), 0);
}
