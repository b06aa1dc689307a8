//! OpenSent and OpenConfirm (RFC 4271 section 8.2.2): OPEN checks, errors, timers.

use std::net::Ipv4Addr;
use std::time::Duration;

use bgp_wire::capability::Capability;
use bgp_wire::{Family, Message, Notification, Open, OptionalParameter};
use bytes::Bytes;

use super::*;

fn open_error(peer: Open, cfg: SessionConfig) -> (Notification, Vec<Output>) {
    let clock = Clock::new();
    let mut s = open_sent(cfg, &clock);
    s.handle(clock.now, Input::Message(Message::Open(peer)));
    let outs = outputs(&mut s);
    assert_eq!(s.state(), State::Idle);
    assert!(has(&outs, &Output::CloseConnection));
    (notification(&outs), outs)
}

#[test]
fn valid_open_moves_to_open_confirm_with_keepalive() {
    // OpenSent + BGPOpen (event 19): KEEPALIVE sent, timers negotiated, OpenConfirm.
    let clock = Clock::new();
    let mut s = open_sent(config(), &clock);
    s.handle(clock.now, Input::Message(Message::Open(peer_open(30))));
    let outs = outputs(&mut s);
    assert!(matches!(sent(&outs)[..], [Message::Keepalive]));
    assert!(has(
        &outs,
        &Output::StateChange {
            from: State::OpenSent,
            to: State::OpenConfirm
        }
    ));
    assert_eq!(s.timers().hold, Some(clock.now + Duration::from_secs(30)));
    assert_eq!(
        s.timers().keepalive,
        Some(clock.now + Duration::from_secs(10))
    );
    let n = s.negotiated().unwrap();
    assert_eq!((n.hold_time, n.keepalive, n.peer_as), (30, 10, PEER_AS));
    assert!(s.decode_context().four_octet_as && s.decode_context().ebgp);
    assert_eq!(s.remote_open().unwrap().bgp_id, PEER_ID);
}

#[test]
fn bad_peer_as_is_2_2() {
    let peer = Open::new(65099, 90, PEER_ID, vec![Capability::FourOctetAs(65099)]);
    let (n, outs) = open_error(peer, config());
    assert_eq!((n.code, n.subcode), (2, 2));
    let (reason, was_established, _) = down(&outs);
    assert!(!was_established);
    assert!(matches!(reason, DownReason::NotificationSent { .. }));
}

#[test]
fn dynamic_range_accepts_any_as() {
    let clock = Clock::new();
    let mut cfg = config();
    cfg.remote_as = PeerAs::Any;
    let peer = Open::new(
        4_200_000_000,
        90,
        PEER_ID,
        vec![Capability::FourOctetAs(4_200_000_000)],
    );
    let s = open_confirm(cfg, peer, &clock);
    assert_eq!(s.negotiated().unwrap().peer_as, 4_200_000_000);
}

#[test]
fn external_range_refuses_our_own_as() {
    let mut cfg = config();
    cfg.remote_as = PeerAs::External;
    let peer = Open::new(
        LOCAL_AS,
        90,
        PEER_ID,
        vec![Capability::FourOctetAs(LOCAL_AS)],
    );
    let (n, _) = open_error(peer, cfg);
    assert_eq!((n.code, n.subcode), (2, 2));
}

#[test]
fn ibgp_peer_with_our_identifier_is_2_3() {
    let mut cfg = config();
    cfg.remote_as = PeerAs::Fixed(LOCAL_AS);
    let peer = Open::new(
        LOCAL_AS,
        90,
        LOCAL_ID,
        vec![Capability::FourOctetAs(LOCAL_AS)],
    );
    let (n, _) = open_error(peer, cfg);
    assert_eq!((n.code, n.subcode), (2, 3));
}

#[test]
fn ebgp_peer_with_our_identifier_is_accepted() {
    // RFC 6286 section 2.2: only iBGP identifiers must differ.
    let clock = Clock::new();
    let peer = Open::new(
        PEER_AS,
        90,
        LOCAL_ID,
        vec![Capability::FourOctetAs(PEER_AS)],
    );
    open_confirm(config(), peer, &clock);
}

#[test]
fn missing_required_capability_is_2_7_with_the_capability() {
    let mut cfg = config();
    cfg.families = vec![Family::Ipv4Unicast, Family::Ipv6Unicast];
    cfg.required.four_octet_as = true;
    cfg.required.families = vec![Family::Ipv6Unicast];
    let peer = Open::new(PEER_AS, 90, PEER_ID, vec![Capability::RouteRefresh]);
    let (n, outs) = open_error(peer, cfg);
    assert_eq!((n.code, n.subcode), (2, 7));
    // 4-octet AS capability (65, 4, 65001) then multiprotocol (1, 4, AFI 2, 0, SAFI 1).
    let mut want = vec![65, 4];
    want.extend_from_slice(&LOCAL_AS.to_be_bytes());
    want.extend_from_slice(&[1, 4, 0, 2, 0, 1]);
    assert_eq!(&n.data[..], &want[..]);
    let (reason, _, _) = down(&outs);
    assert!(reason.to_string().contains("4-octet AS"), "{reason}");
}

#[test]
fn role_mismatch_is_2_11() {
    let mut cfg = config();
    cfg.role = Some(RoleConfig {
        role: 3, // customer
        strict: false,
    });
    let mut peer = peer_open(90);
    peer.parameters
        .push(OptionalParameter::Capabilities(vec![Capability::Role(3)]));
    let (n, _) = open_error(peer, cfg.clone());
    assert_eq!((n.code, n.subcode), (2, 11));
    // Provider towards our customer is fine; no role is fine unless strict.
    let clock = Clock::new();
    let mut good = peer_open(90);
    good.parameters
        .push(OptionalParameter::Capabilities(vec![Capability::Role(0)]));
    let s = open_confirm(cfg.clone(), good, &clock);
    assert_eq!(s.negotiated().unwrap().peer_role, Some(0));
    open_confirm(cfg.clone(), peer_open(90), &clock);
    cfg.role = Some(RoleConfig {
        role: 3,
        strict: true,
    });
    let (n, _) = open_error(peer_open(90), cfg);
    assert_eq!((n.code, n.subcode), (2, 11));
}

#[test]
fn unknown_optional_parameter_is_2_4() {
    let mut peer = peer_open(90);
    peer.parameters.push(OptionalParameter::Unknown {
        kind: 1,
        value: Bytes::from_static(&[1, 2]),
    });
    let (n, _) = open_error(peer, config());
    assert_eq!((n.code, n.subcode), (2, 4));
}

#[test]
fn hold_time_one_from_the_wire_is_2_6() {
    // The codec refuses it (BGPOpenMsgErr, event 22); the FSM sends its NOTIFICATION.
    let clock = Clock::new();
    let mut s = open_sent(config(), &clock);
    let mut bytes = wire(&Message::Open(peer_open(90)));
    bytes[22..24].copy_from_slice(&1u16.to_be_bytes()); // header 19, version, my AS
    s.feed_bytes(clock.now, &bytes);
    let outs = outputs(&mut s);
    let n = notification(&outs);
    assert_eq!((n.code, n.subcode), (2, 6));
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn bad_marker_is_1_1_and_later_bytes_are_dropped() {
    // BGPHeaderErr (event 21).
    let clock = Clock::new();
    let mut s = open_sent(config(), &clock);
    let mut bytes = wire(&Message::Keepalive);
    bytes[0] = 0;
    bytes.extend(wire(&Message::Open(peer_open(90))));
    s.feed_bytes(clock.now, &bytes);
    let outs = outputs(&mut s);
    let n = notification(&outs);
    assert_eq!((n.code, n.subcode), (1, 1));
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.counters().messages_in.open, 0);
}

#[test]
fn open_split_across_reads_is_reassembled() {
    let clock = Clock::new();
    let mut s = open_sent(config(), &clock);
    let bytes = wire(&Message::Open(peer_open(90)));
    for chunk in bytes.chunks(5) {
        s.feed_bytes(clock.now, chunk);
    }
    assert_eq!(s.state(), State::OpenConfirm);
}

#[test]
fn hold_timer_in_open_sent_is_4_0_after_four_minutes() {
    // OpenSent + HoldTimer_Expires (event 10).
    let mut clock = Clock::new();
    let mut s = open_sent(config(), &clock);
    s.handle_timeout(clock.advance(239));
    assert_eq!(s.state(), State::OpenSent);
    s.handle_timeout(clock.advance(1));
    let outs = outputs(&mut s);
    let n = notification(&outs);
    assert_eq!((n.code, n.subcode), (4, 0));
    assert_eq!(s.state(), State::Idle);
    // The automatic restart follows after the idle hold time.
    let at = s.timers().idle_hold.unwrap();
    s.handle_timeout(at);
    assert_eq!(s.state(), State::Connect);
}

#[test]
fn tcp_failure_in_open_sent_goes_active() {
    // OpenSent + TcpConnectionFails (event 18) -> Active, ConnectRetryTimer restarted.
    let clock = Clock::new();
    let mut s = open_sent(config(), &clock);
    s.handle(clock.now, Input::TcpFailed);
    let outs = outputs(&mut s);
    assert_eq!(down(&outs).0, DownReason::ConnectionLost);
    assert_eq!(s.state(), State::Active);
    assert!(s.timers().connect_retry.is_some());
    assert_eq!(s.timers().hold, None);
}

#[test]
fn notification_in_open_sent_goes_idle() {
    // OpenSent + NotifMsg (event 25).
    let clock = Clock::new();
    let mut s = open_sent(config(), &clock);
    let n = Notification::new(2, 2, Bytes::new());
    s.handle(clock.now, Input::Message(Message::Notification(n.clone())));
    let outs = outputs(&mut s);
    assert!(sent(&outs).is_empty());
    assert_eq!(down(&outs).0, DownReason::NotificationReceived(n));
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.counters().messages_in.notification, 1);
}

#[test]
fn unexpected_messages_in_open_sent_are_5_1() {
    // OpenSent + KeepAliveMsg / UpdateMsg / ROUTE-REFRESH: FSM error (RFC 6608).
    for (msg, kind) in [
        (Message::Keepalive, 4u8),
        (Message::Update(Default::default()), 2),
        (
            Message::RouteRefresh(bgp_wire::RouteRefresh::request(Family::Ipv4Unicast)),
            5,
        ),
    ] {
        let clock = Clock::new();
        let mut s = open_sent(config(), &clock);
        s.handle(clock.now, Input::Message(msg));
        let n = notification(&outputs(&mut s));
        assert_eq!((n.code, n.subcode, &n.data[..]), (5, 1, &[kind][..]));
        assert_eq!(s.state(), State::Idle);
    }
}

#[test]
fn manual_stop_in_open_sent_sends_cease() {
    let clock = Clock::new();
    let mut s = open_sent(config(), &clock);
    s.handle(
        clock.now,
        Input::Stop {
            graceful: true, // nothing negotiated yet: a NOTIFICATION anyway
            notification: None,
        },
    );
    let outs = outputs(&mut s);
    let n = notification(&outs);
    assert_eq!((n.code, n.subcode), (6, 2));
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.next_deadline(), None);
}

#[test]
fn keepalive_in_open_confirm_establishes() {
    // OpenConfirm + KeepAliveMsg (event 26) -> Established.
    let clock = Clock::new();
    let mut s = open_confirm(config(), peer_open(90), &clock);
    s.handle(clock.now, Input::Message(Message::Keepalive));
    let outs = outputs(&mut s);
    assert_eq!(s.state(), State::Established);
    let Some(Output::Established(n)) = outs.last() else {
        panic!("{outs:?}")
    };
    assert_eq!(n.peer_id, PEER_ID);
    assert_eq!(s.counters().established, 1);
    assert_eq!(
        s.counters().uptime(clock.at(5)),
        Some(Duration::from_secs(5))
    );
}

#[test]
fn unexpected_messages_in_open_confirm_are_5_2() {
    for (msg, kind) in [
        (Message::Open(peer_open(90)), 1u8),
        (Message::Update(Default::default()), 2),
    ] {
        let clock = Clock::new();
        let mut s = open_confirm(config(), peer_open(90), &clock);
        s.handle(clock.now, Input::Message(msg));
        let n = notification(&outputs(&mut s));
        assert_eq!((n.code, n.subcode, &n.data[..]), (5, 2, &[kind][..]));
        assert_eq!(s.state(), State::Idle);
    }
}

#[test]
fn open_confirm_sends_keepalives_and_expires_hold() {
    // OpenConfirm + KeepaliveTimer_Expires (event 11), then HoldTimer_Expires (event 10).
    let mut clock = Clock::new();
    let mut s = open_confirm(config(), peer_open(9), &clock);
    s.handle_timeout(clock.advance(3));
    assert!(matches!(sent(&outputs(&mut s))[..], [Message::Keepalive]));
    s.handle_timeout(clock.advance(3));
    assert!(matches!(sent(&outputs(&mut s))[..], [Message::Keepalive]));
    s.handle_timeout(clock.advance(3));
    let outs = outputs(&mut s);
    let n = notification(&outs);
    assert_eq!((n.code, n.subcode), (4, 0));
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn notification_and_tcp_failure_in_open_confirm_go_idle() {
    let clock = Clock::new();
    let mut s = open_confirm(config(), peer_open(90), &clock);
    s.handle(
        clock.now,
        Input::Message(Message::Notification(Notification::new(6, 5, Bytes::new()))),
    );
    assert_eq!(s.state(), State::Idle);
    let mut s = open_confirm(config(), peer_open(90), &clock);
    s.handle(clock.now, Input::TcpFailed);
    let outs = outputs(&mut s);
    assert_eq!(down(&outs).0, DownReason::ConnectionLost);
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn collision_dump_in_open_confirm_is_6_7() {
    // OpenConfirm + OpenCollisionDump (event 23).
    let clock = Clock::new();
    let mut s = open_confirm(config(), peer_open(90), &clock);
    s.handle(clock.now, Input::CollisionDump);
    let n = notification(&outputs(&mut s));
    assert_eq!((n.code, n.subcode), (6, 7));
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn open_with_as_trans_and_no_capability_is_bad_peer_as() {
    let peer = Open {
        my_as: bgp_wire::AS_TRANS,
        hold_time: 90,
        bgp_id: Ipv4Addr::new(10, 0, 0, 9),
        parameters: vec![],
        extended_parameters: false,
    };
    let (n, _) = open_error(peer, config());
    assert_eq!((n.code, n.subcode), (2, 2));
}
