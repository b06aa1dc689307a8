//! Connection collision detection (RFC 4271 section 6.8) between two sessions of one peer.

use std::net::Ipv4Addr;
use std::time::Instant;

use bgp_wire::capability::{Capability, GracefulRestart};
use bgp_wire::{Family, Message, Open};

use super::pair::{Link, Net};
use super::*;
use crate::session::collision::{
    keeps_connection, resolve, surviving_connection, Resolution, Rival,
};

#[test]
fn higher_identifier_keeps_its_own_connection() {
    let low = Ipv4Addr::new(10, 0, 0, 1);
    let high = Ipv4Addr::new(10, 0, 0, 2);
    assert_eq!(
        surviving_connection(high, 1, low, 2),
        ConnectionRole::Outgoing
    );
    assert_eq!(
        surviving_connection(low, 1, high, 2),
        ConnectionRole::Incoming
    );
    // Compared as unsigned integers.
    let big = Ipv4Addr::new(200, 0, 0, 1);
    assert_eq!(
        surviving_connection(big, 1, high, 2),
        ConnectionRole::Outgoing
    );
    // Equal identifiers (eBGP, RFC 6286 section 2.3): the larger AS wins.
    assert_eq!(
        surviving_connection(low, 65002, low, 65001),
        ConnectionRole::Outgoing
    );
    assert_eq!(
        surviving_connection(low, 65001, low, 65002),
        ConnectionRole::Incoming
    );
}

#[test]
fn keeps_connection_rules() {
    let cfg = config(); // 10.0.0.1, lower than the peer's 10.0.0.2
    let open = peer_open(90);
    let rival = |role, state| Rival {
        role,
        state,
        established_since: None,
    };
    use ConnectionRole::{Incoming, Outgoing};
    assert!(keeps_connection(
        &cfg,
        Incoming,
        &open,
        rival(Outgoing, State::OpenConfirm),
        Instant::now()
    ));
    assert!(!keeps_connection(
        &cfg,
        Outgoing,
        &open,
        rival(Incoming, State::OpenSent),
        Instant::now()
    ));
    // Same side twice: the newer connection wins.
    assert!(keeps_connection(
        &cfg,
        Incoming,
        &open,
        rival(Incoming, State::OpenConfirm),
        Instant::now()
    ));
    // Established wins, unless the peer restarted with graceful restart.
    assert!(!keeps_connection(
        &cfg,
        Incoming,
        &open,
        rival(Outgoing, State::Established),
        Instant::now()
    ));
    let mut restarted = peer_open(90);
    restarted
        .parameters
        .push(bgp_wire::OptionalParameter::Capabilities(vec![
            Capability::GracefulRestart(GracefulRestart {
                flags: GracefulRestart::RESTARTING,
                restart_time: 120,
                families: vec![],
            }),
        ]));
    assert!(keeps_connection(
        &cfg,
        Incoming,
        &restarted,
        rival(Outgoing, State::Established),
        Instant::now()
    ));
}

/// An OPEN with graceful restart but without the Restart State bit, on a second connection
/// while the first is Established: within the first seconds it is the other half of a
/// simultaneous open (the peer drops it itself), later a restarted peer.
#[test]
fn young_established_session_survives_a_late_simultaneous_open() {
    let cfg = config();
    let mut open = peer_open(90);
    open.parameters
        .push(bgp_wire::OptionalParameter::Capabilities(vec![
            Capability::GracefulRestart(GracefulRestart {
                flags: 0,
                restart_time: 120,
                families: vec![],
            }),
        ]));
    let now = std::time::Instant::now();
    let rival = |since| Rival {
        role: ConnectionRole::Outgoing,
        state: State::Established,
        established_since: Some(since),
    };
    assert!(!keeps_connection(
        &cfg,
        ConnectionRole::Incoming,
        &open,
        rival(now),
        now
    ));
    let later = now + std::time::Duration::from_secs(5);
    assert!(keeps_connection(
        &cfg,
        ConnectionRole::Incoming,
        &open,
        rival(now),
        later
    ));
}

/// A (10.0.0.1) and B (10.0.0.2) connect to each other at the same moment.
fn simultaneous(local_id: Ipv4Addr) -> Net {
    let clock = Clock::new();
    let mut a = config();
    a.router_id = local_id;
    let b = SessionConfig::new(PEER_AS, PEER_ID, PeerAs::Fixed(LOCAL_AS));
    // 0: A main, 1: B main, 2: A's extra incoming, 3: B's extra incoming.
    let mut net = Net::new(
        vec![
            Session::new(a.clone()).unwrap(),
            Session::new(b.clone()).unwrap(),
            Session::incoming(a, clock.now).unwrap(),
            Session::incoming(b, clock.now).unwrap(),
        ],
        clock.now,
    );
    net.pairs = vec![(0, 2), (1, 3)];
    let now = net.now;
    net.sessions[0].handle(now, Input::Start);
    net.sessions[1].handle(now, Input::Start);
    // conn1: A main (outgoing) -> B extra; conn2: B main (outgoing) -> A extra.
    net.sessions[0].handle(now, Input::TcpConnected(ConnectionRole::Outgoing));
    net.sessions[1].handle(now, Input::TcpConnected(ConnectionRole::Outgoing));
    net.links.push(Link {
        ends: [0, 3],
        open: true,
    });
    net.links.push(Link {
        ends: [1, 2],
        open: true,
    });
    net.pump();
    net
}

fn established_count(log: &[Output]) -> usize {
    log.iter()
        .filter(|o| matches!(o, Output::Established(_)))
        .count()
}

#[test]
fn simultaneous_connections_leave_the_one_from_the_higher_identifier() {
    // A = 10.0.0.1 < B = 10.0.0.2: B's connection (conn2) survives, on both sides, and
    // the losing connection never reaches Established anywhere.
    let mut net = simultaneous(LOCAL_ID);
    // A's extra session was promoted: it now sits at index 2 as main of the pair.
    assert_eq!(net.pairs, vec![(2, 0), (1, 3)]);
    assert_eq!(net.sessions[2].state(), State::Established);
    assert_eq!(net.sessions[1].state(), State::Established);
    assert_eq!(net.sessions[0].state(), State::Idle);
    assert_eq!(net.sessions[3].state(), State::Idle);
    let logs: Vec<Vec<Output>> = (0..4).map(|i| net.take_log(i)).collect();
    assert_eq!(established_count(&logs[0]), 0);
    assert_eq!(established_count(&logs[3]), 0);
    assert_eq!(established_count(&logs[1]), 1);
    assert_eq!(established_count(&logs[2]), 1);
    // The losers sent Cease / Connection Collision Resolution instead of a KEEPALIVE.
    for i in [0, 3] {
        let (reason, was_established, _) = down(&logs[i]);
        assert_eq!(
            reason.notification().map(|n| (n.code, n.subcode)),
            Some((6, 7)),
            "{i}"
        );
        assert!(!was_established);
        assert_eq!(net.sessions[i].counters().messages_out.keepalive, 0);
    }
    assert!(logs[2].contains(&Output::CollisionWon));
    // The promoted session restarts on its own and carries the old counters.
    assert!(net.sessions[2].is_admin_up());
    assert_eq!(net.sessions[2].counters().messages_out.open, 2);
    assert_eq!(net.sessions[2].counters().connect_attempts, 1);
    // The dumped extra session of B never comes back.
    net.run_for(300);
    assert_eq!(net.sessions[3].state(), State::Idle);
    assert_eq!(net.sessions[3].next_deadline(), None);
    assert_eq!(net.sessions[2].state(), State::Established);
    assert_eq!(net.sessions[1].state(), State::Established);
}

#[test]
fn with_the_higher_identifier_our_own_connection_survives() {
    let mut net = simultaneous(Ipv4Addr::new(10, 0, 0, 3));
    assert_eq!(net.pairs, vec![(0, 2), (3, 1)]);
    assert_eq!(net.sessions[0].state(), State::Established);
    assert_eq!(net.sessions[3].state(), State::Established);
    assert_eq!(net.sessions[1].state(), State::Idle);
    assert_eq!(net.sessions[2].state(), State::Idle);
    assert_eq!(established_count(&net.take_log(1)), 0);
}

#[test]
fn new_connection_against_established_is_refused() {
    // RFC 4271 section 6.8: the established session stays.
    let clock = Clock::new();
    let mut main = established(config(), peer_open(90), &clock);
    let mut extra = Session::incoming(config(), clock.now).unwrap();
    outputs(&mut extra);
    extra.set_rival(Rival::of(&main));
    extra.handle(clock.now, Input::Message(Message::Open(peer_open(90))));
    let outs = outputs(&mut extra);
    let n = notification(&outs);
    assert_eq!((n.code, n.subcode), (6, 7));
    assert_eq!(extra.state(), State::Idle);
    assert_eq!(extra.next_deadline(), None);
    assert_eq!(resolve(&main, &extra), Resolution::DumpNew);
    assert_eq!(main.state(), State::Established);
    assert!(outputs(&mut main).is_empty());
}

#[test]
fn restarted_peer_replaces_the_established_session_and_keeps_routes() {
    // RFC 4724 section 4.2: a new OPEN with graceful restart while Established means the
    // peer restarted: the old connection goes, its routes are kept as stale.
    let clock = Clock::new();
    let mut cfg = config();
    cfg.graceful_restart = Some(GracefulRestartConfig {
        restart_time: 120,
        restarting: false,
        notification: false,
        families: vec![(Family::Ipv4Unicast, true)],
    });
    let mut caps: Vec<Capability> = peer_open(90).capabilities().cloned().collect();
    caps.push(Capability::GracefulRestart(GracefulRestart {
        flags: GracefulRestart::RESTARTING,
        restart_time: 120,
        families: vec![],
    }));
    let peer = Open::new(PEER_AS, 90, PEER_ID, caps);
    let mut main = established(cfg.clone(), peer.clone(), &clock);
    let mut extra = Session::incoming(cfg, clock.now).unwrap();
    outputs(&mut extra);
    extra.set_rival(Rival::of(&main));
    extra.handle(clock.now, Input::Message(Message::Open(peer)));
    let outs = outputs(&mut extra);
    assert!(outs.contains(&Output::CollisionWon));
    assert!(matches!(sent(&outs)[..], [Message::Keepalive]));
    assert_eq!(resolve(&main, &extra), Resolution::DumpExisting);
    main.handle(clock.now, Input::CollisionDump);
    let (reason, was_established, retain) = down(&outputs(&mut main));
    assert!(was_established && retain, "{reason}");
    extra.promote(&main);
    extra.handle(clock.now, Input::Message(Message::Keepalive));
    assert_eq!(extra.state(), State::Established);
    assert_eq!(extra.counters().established, 2);
}

#[test]
fn resolve_without_rivals_still_picks_one_connection() {
    // A daemon that does not call `set_rival` still gets a consistent answer from
    // `resolve`, at the cost of a KEEPALIVE on the losing connection.
    let clock = Clock::new();
    let main = open_sent(config(), &clock);
    let extra = Session::incoming(config(), clock.now).unwrap();
    assert_eq!(resolve(&main, &extra), Resolution::Pending);
    let main = open_confirm(config(), peer_open(90), &clock);
    assert_eq!(resolve(&main, &extra), Resolution::DumpExisting);
    let mut cfg = config();
    cfg.router_id = Ipv4Addr::new(10, 0, 0, 3);
    let main = open_confirm(cfg.clone(), peer_open(90), &clock);
    let extra = Session::incoming(cfg, clock.now).unwrap();
    assert_eq!(resolve(&main, &extra), Resolution::DumpNew);
    // A main session without a connection gives way.
    let mut idle = Session::new(config()).unwrap();
    idle.handle(clock.now, Input::Start);
    assert_eq!(resolve(&idle, &extra), Resolution::DumpExisting);
}
