//! Capability negotiation (negotiate.rs): hold time, keepalive, 4-octet AS, families,
//! ADD-PATH directions, extended messages, route refresh, graceful restart, LLGR, contexts.

use bgp_wire::capability::{
    AddPathMode, Capability, GracefulRestart, GracefulRestartFamily, LlgrFamily,
};
use bgp_wire::{Family, FamilySet, Open};

use super::*;

fn peer(hold: u16, caps: Vec<Capability>) -> Open {
    Open::new(PEER_AS, hold, PEER_ID, caps)
}

fn run(cfg: &SessionConfig, remote: &Open) -> Negotiated {
    negotiate(cfg, &cfg.build_open(), remote).unwrap()
}

#[test]
fn hold_time_is_the_smaller_and_keepalive_a_third() {
    let cfg = config();
    let n = run(&cfg, &peer(30, vec![]));
    assert_eq!((n.hold_time, n.keepalive, n.peer_hold_time), (30, 10, 30));
    let n = run(&cfg, &peer(240, vec![]));
    assert_eq!((n.hold_time, n.keepalive), (90, 30));
    let n = run(&cfg, &peer(0, vec![]));
    assert_eq!((n.hold_time, n.keepalive), (0, 0));
    let n = run(&cfg, &peer(3, vec![]));
    assert_eq!((n.hold_time, n.keepalive), (3, 1));
}

#[test]
fn configured_keepalive_is_capped_at_a_third() {
    assert_eq!(keepalive_for(90, Some(10)), 10);
    assert_eq!(keepalive_for(90, Some(60)), 30);
    assert_eq!(keepalive_for(90, Some(0)), 1);
    assert_eq!(keepalive_for(0, Some(10)), 0);
    assert_eq!(keepalive_for(4, None), 1);
}

#[test]
fn four_octet_as_needs_both_sides() {
    let cfg = config();
    let n = run(&cfg, &peer(90, vec![Capability::FourOctetAs(PEER_AS)]));
    assert!(n.four_octet_as && n.decode.four_octet_as && n.encode.four_octet_as);
    let n = run(&cfg, &peer(90, vec![]));
    assert!(!n.four_octet_as && !n.decode.four_octet_as);
    let mut ours = config();
    ours.four_octet_as = false;
    let n = run(&ours, &peer(90, vec![Capability::FourOctetAs(PEER_AS)]));
    assert!(!n.four_octet_as);
}

#[test]
fn large_local_as_goes_out_as_as_trans() {
    let cfg = SessionConfig::new(4_200_000_001, LOCAL_ID, PeerAs::Any);
    let open = cfg.build_open();
    assert_eq!(open.my_as, bgp_wire::AS_TRANS);
    assert_eq!(open.asn(), 4_200_000_001);
}

#[test]
fn families_are_the_intersection_with_ipv4_implied() {
    let mut cfg = config();
    cfg.families = vec![Family::Ipv4Unicast, Family::Ipv6Unicast];
    // No multiprotocol capability at all: IPv4 unicast only (RFC 4760 section 8).
    let n = run(&cfg, &peer(90, vec![Capability::RouteRefresh]));
    assert_eq!(n.families, vec![Family::Ipv4Unicast]);
    let n = run(
        &cfg,
        &peer(90, vec![Capability::Multiprotocol(Family::Ipv6Unicast)]),
    );
    assert_eq!(n.families, vec![Family::Ipv6Unicast]);
    let n = run(
        &cfg,
        &peer(
            90,
            vec![
                Capability::Multiprotocol(Family::Ipv6Unicast),
                Capability::Multiprotocol(Family::Ipv4Unicast),
            ],
        ),
    );
    assert_eq!(n.families, vec![Family::Ipv4Unicast, Family::Ipv6Unicast]);
}

#[test]
fn add_path_is_negotiated_per_family_and_direction() {
    // RFC 7911 section 4: we receive where we said receive and they said send; we send
    // where we said send and they said receive.
    let mut cfg = config();
    cfg.families = vec![Family::Ipv4Unicast, Family::Ipv6Unicast];
    cfg.add_path = vec![
        (Family::Ipv4Unicast, AddPathMode::Both),
        (Family::Ipv6Unicast, AddPathMode::Send),
    ];
    let remote = peer(
        90,
        vec![
            Capability::Multiprotocol(Family::Ipv4Unicast),
            Capability::Multiprotocol(Family::Ipv6Unicast),
            Capability::AddPath(vec![
                (Family::Ipv4Unicast, AddPathMode::Send),
                (Family::Ipv6Unicast, AddPathMode::Both),
            ]),
        ],
    );
    let n = run(&cfg, &remote);
    assert_eq!(n.add_path_receive, FamilySet::only(Family::Ipv4Unicast));
    assert_eq!(n.add_path_send, FamilySet::only(Family::Ipv6Unicast));
    assert_eq!(n.decode.add_path, n.add_path_receive);
    assert_eq!(n.encode.add_path, n.add_path_send);
    // Without the peer's capability: nothing either way.
    let n = run(&cfg, &peer(90, vec![]));
    assert_eq!(
        (n.add_path_receive, n.add_path_send),
        (FamilySet::EMPTY, FamilySet::EMPTY)
    );
}

#[test]
fn extended_message_and_route_refresh() {
    let mut cfg = config();
    cfg.extended_message = true;
    let n = run(
        &cfg,
        &peer(
            90,
            vec![
                Capability::ExtendedMessage,
                Capability::RouteRefresh,
                Capability::EnhancedRouteRefresh,
            ],
        ),
    );
    assert!(n.extended_message && n.decode.extended_message && n.encode.extended_message);
    assert!(n.route_refresh && n.enhanced_route_refresh);
    let n = run(&cfg, &peer(90, vec![]));
    assert!(!n.extended_message && !n.route_refresh && !n.enhanced_route_refresh);
    cfg.enhanced_route_refresh = false;
    let n = run(&cfg, &peer(90, vec![Capability::EnhancedRouteRefresh]));
    assert!(!n.enhanced_route_refresh);
}

#[test]
fn extended_next_hop_needs_both_sides_and_ipv4_unicast() {
    // RFC 8950 section 3: (IPv4 unicast, next hop AFI 2) in both OPENs.
    let enh = Capability::ExtendedNextHop(vec![(Family::Ipv4Unicast, bgp_wire::AFI_IPV6)]);
    let mut cfg = config();
    cfg.extended_next_hop = true;
    assert!(cfg.capabilities().contains(&enh));
    assert!(run(&cfg, &peer(90, vec![enh.clone()])).extended_next_hop);
    assert!(!run(&cfg, &peer(90, vec![])).extended_next_hop);
    // Another next-hop AFI or family is not this one.
    let other = Capability::ExtendedNextHop(vec![(Family::Ipv6Unicast, bgp_wire::AFI_IPV4)]);
    assert!(!run(&cfg, &peer(90, vec![other])).extended_next_hop);
    // Not offered without IPv4 unicast, nor when not configured.
    cfg.families = vec![Family::Ipv6Unicast];
    assert!(!cfg.capabilities().contains(&enh));
    let mut off = config();
    off.extended_next_hop = false;
    assert!(!run(&off, &peer(90, vec![enh])).extended_next_hop);
}

#[test]
fn ebgp_and_ibgp_set_the_decode_context() {
    let n = run(&config(), &peer(90, vec![]));
    assert!(n.ebgp && n.decode.ebgp);
    let mut cfg = config();
    cfg.remote_as = PeerAs::Fixed(LOCAL_AS);
    let remote = Open::new(LOCAL_AS, 90, PEER_ID, vec![]);
    let n = run(&cfg, &remote);
    assert!(!n.ebgp && !n.decode.ebgp);
}

#[test]
fn graceful_restart_and_llgr_of_the_peer() {
    let mut cfg = config();
    cfg.graceful_restart = Some(GracefulRestartConfig {
        restart_time: 120,
        restarting: true,
        notification: true,
        families: vec![(Family::Ipv4Unicast, true)],
    });
    let llgr = LlgrFamily {
        family: Family::Ipv4Unicast,
        flags: 0x80,
        stale_time: 3600,
    };
    cfg.llgr = vec![llgr];
    let open = cfg.build_open();
    let ours = open
        .capabilities()
        .find_map(|c| match c {
            Capability::GracefulRestart(g) => Some(g.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        ours.flags,
        GracefulRestart::RESTARTING | GracefulRestart::NOTIFICATION
    );
    assert_eq!(ours.families[0].flags, 0x80);

    let remote = peer(
        90,
        vec![
            Capability::GracefulRestart(GracefulRestart {
                flags: GracefulRestart::NOTIFICATION,
                restart_time: 300,
                families: vec![GracefulRestartFamily {
                    family: Family::Ipv4Unicast,
                    flags: 0x80,
                }],
            }),
            Capability::LongLivedGracefulRestart(vec![llgr]),
            Capability::Fqdn {
                hostname: "node1".into(),
                domain: "cluster.local".into(),
            },
        ],
    );
    let n = run(&cfg, &remote);
    assert!(n.graceful_restart && n.graceful_notification);
    let gr = n.peer_graceful_restart.unwrap();
    assert_eq!(gr.restart_time, 300);
    assert!(gr.notification && !gr.restarting);
    assert_eq!(gr.families, vec![(Family::Ipv4Unicast, true)]);
    assert_eq!(n.peer_llgr, vec![llgr]);
    assert_eq!(
        n.peer_hostname,
        Some(("node1".to_owned(), "cluster.local".to_owned()))
    );
    assert_eq!(n.peer_capabilities.len(), 3);

    // We did not offer graceful restart: not negotiated, though the peer's is shown.
    let n = run(&config(), &remote);
    assert!(!n.graceful_restart && !n.graceful_notification);
    assert!(n.peer_graceful_restart.is_some());
    assert!(n.peer_llgr.is_empty());
}

#[test]
fn our_open_carries_the_configured_capabilities() {
    let mut cfg = config();
    cfg.families = vec![Family::Ipv4Unicast, Family::Ipv6Unicast];
    cfg.extended_message = true;
    cfg.hostname = Some(("edge1".into(), "example.net".into()));
    cfg.add_path = vec![(Family::Ipv4Unicast, AddPathMode::Send)];
    let open = cfg.build_open();
    let codes: Vec<u8> = open.capabilities().map(Capability::code).collect();
    assert_eq!(codes, vec![1, 1, 2, 70, 65, 69, 6, 73]);
    assert_eq!(open.hold_time, 90);
}

#[test]
fn a_bad_graceful_restart_time_is_a_config_error() {
    let mut cfg = config();
    cfg.graceful_restart = Some(GracefulRestartConfig {
        restart_time: 5000,
        restarting: false,
        notification: false,
        families: vec![],
    });
    assert!(matches!(Session::new(cfg), Err(SessionError::Open(_))));
}

#[test]
fn capabilities_encode_for_notification_data() {
    let data = encode_capabilities(vec![Capability::RouteRefresh, Capability::FourOctetAs(7)]);
    assert_eq!(&data[..], &[2, 0, 65, 4, 0, 0, 0, 7]);
}
