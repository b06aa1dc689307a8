//! Established (RFC 4271 section 8.2.2): timers, messages, errors, stops, restarts.

use std::time::Duration;

use bgp_wire::capability::{Capability, GracefulRestart};
use bgp_wire::notification::cease;
use bgp_wire::{Family, Message, Notification, Open, RouteRefresh, Update};
use bytes::Bytes;

use super::*;

fn gr_config(notification_bit: bool) -> SessionConfig {
    let mut cfg = config();
    cfg.graceful_restart = Some(GracefulRestartConfig {
        restart_time: 120,
        restarting: false,
        notification: notification_bit,
        families: vec![(Family::Ipv4Unicast, true)],
    });
    cfg
}

fn gr_peer(notification_bit: bool) -> Open {
    let mut caps: Vec<Capability> = peer_open(90).capabilities().cloned().collect();
    caps.push(Capability::GracefulRestart(GracefulRestart {
        flags: if notification_bit {
            GracefulRestart::NOTIFICATION
        } else {
            0
        },
        restart_time: 90,
        families: vec![],
    }));
    Open::new(PEER_AS, 90, PEER_ID, caps)
}

/// An UPDATE for 10.1.2.0/24 whose ORIGIN is invalid (7): RFC 7606 treat-as-withdraw.
fn bad_origin_update() -> Vec<u8> {
    let attrs: &[u8] = &[
        0x40, 1, 1, 7, // ORIGIN 7
        0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xea, // AS_PATH: SEQUENCE of 65002 (4 octets)
        0x40, 3, 4, 10, 0, 0, 2, // NEXT_HOP
    ];
    let mut body = vec![0, 0];
    body.extend_from_slice(&u16::try_from(attrs.len()).unwrap().to_be_bytes());
    body.extend_from_slice(attrs);
    body.extend_from_slice(&[24, 10, 1, 2]);
    let mut msg = vec![0xff; 16];
    msg.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
    msg.push(2);
    msg.extend(body);
    msg
}

#[test]
fn keepalives_are_sent_and_hold_is_reset_by_incoming_messages() {
    // Established + KeepaliveTimer_Expires (event 11); KeepAliveMsg / UpdateMsg restart the
    // HoldTimer (events 26, 27).
    let mut clock = Clock::new();
    let mut s = established(config(), peer_open(9), &clock);
    for _ in 0..10 {
        s.handle_timeout(clock.advance(3));
        assert!(matches!(sent(&outputs(&mut s))[..], [Message::Keepalive]));
        s.handle(clock.now, Input::Message(Message::Keepalive));
    }
    s.handle_timeout(clock.advance(3));
    outputs(&mut s);
    s.handle(
        clock.now,
        Input::Message(Message::Update(Update::default())),
    );
    assert_eq!(s.timers().hold, Some(clock.now + Duration::from_secs(9)));
    assert_eq!(s.state(), State::Established);
    assert_eq!(s.counters().messages_in.keepalive, 11);
    assert_eq!(s.counters().messages_in.update, 1);
}

#[test]
fn hold_timer_expiry_in_established_is_4_0_and_down() {
    // Established + HoldTimer_Expires (event 10).
    let mut clock = Clock::new();
    let mut s = established(config(), peer_open(9), &clock);
    s.handle_timeout(clock.advance(9));
    let outs = outputs(&mut s);
    let n = notification(&outs);
    assert_eq!((n.code, n.subcode), (4, 0));
    let (reason, was_established, retain) = down(&outs);
    assert!(was_established && !retain);
    assert_eq!(reason.notification(), Some(&n));
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.counters().flaps, 1);
    assert_eq!(s.counters().established_since, None);
    assert!(s.counters().last_error.is_some());
    assert!(outs.ends_with(&[Output::StateChange {
        from: State::Established,
        to: State::Idle
    }]));
}

#[test]
fn hold_time_zero_runs_no_timers() {
    let mut clock = Clock::new();
    let mut s = established(config(), peer_open(0), &clock);
    assert_eq!(s.next_deadline(), None);
    s.handle_timeout(clock.advance(100_000));
    assert!(outputs(&mut s).is_empty());
    assert_eq!(s.negotiated().unwrap().keepalive, 0);
}

#[test]
fn updates_reach_the_routing_layer() {
    // Established + UpdateMsg (event 27).
    let clock = Clock::new();
    let mut s = established(config(), peer_open(90), &clock);
    let eor = Update::end_of_rib(Family::Ipv4Unicast);
    s.handle(clock.now, Input::Message(Message::Update(eor.clone())));
    assert_eq!(outputs(&mut s), vec![Output::Update(Box::new(eor))]);
}

#[test]
fn treat_as_withdraw_does_not_reset() {
    // RFC 7606: the error is inside the UPDATE, the session stays up.
    let clock = Clock::new();
    let mut s = established(config(), peer_open(90), &clock);
    s.feed_bytes(clock.now, &bad_origin_update());
    let outs = outputs(&mut s);
    let [Output::Update(u)] = &outs[..] else {
        panic!("{outs:?}")
    };
    assert!(u.treat_as_withdraw());
    assert_eq!(s.state(), State::Established);
}

#[test]
fn malformed_update_resets_with_its_notification() {
    // UpdateMsgErr (event 28): withdrawn length overruns the message.
    let clock = Clock::new();
    let mut s = established(config(), peer_open(90), &clock);
    let mut msg = vec![0xff; 16];
    msg.extend_from_slice(&[0, 23, 2, 0, 9, 0, 0]);
    s.feed_bytes(clock.now, &msg);
    let outs = outputs(&mut s);
    let n = notification(&outs);
    assert_eq!((n.code, n.subcode), (3, 1));
    assert!(down(&outs).1);
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn route_refresh_is_delivered_for_negotiated_families_only() {
    let clock = Clock::new();
    let mut s = established(config(), peer_open(90), &clock);
    let v4 = RouteRefresh::request(Family::Ipv4Unicast);
    s.handle(clock.now, Input::Message(Message::RouteRefresh(v4)));
    s.handle(
        clock.now,
        Input::Message(Message::RouteRefresh(RouteRefresh::request(
            Family::Ipv6Unicast,
        ))),
    );
    assert_eq!(outputs(&mut s), vec![Output::RouteRefresh(v4)]);
    assert_eq!(s.counters().messages_in.route_refresh, 2);
}

#[test]
fn open_in_established_is_5_3() {
    let clock = Clock::new();
    let mut s = established(config(), peer_open(90), &clock);
    s.handle(clock.now, Input::Message(Message::Open(peer_open(90))));
    let n = notification(&outputs(&mut s));
    assert_eq!((n.code, n.subcode, &n.data[..]), (5, 3, &[1][..]));
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn notification_in_established_is_down_received() {
    // Established + NotifMsg (event 25).
    let clock = Clock::new();
    let mut s = established(config(), peer_open(90), &clock);
    let n = Notification::new(3, 1, Bytes::new());
    s.handle(clock.now, Input::Message(Message::Notification(n.clone())));
    let outs = outputs(&mut s);
    assert!(sent(&outs).is_empty());
    assert_eq!(
        down(&outs),
        (DownReason::NotificationReceived(n), true, false)
    );
    assert!(has(&outs, &Output::CloseConnection));
}

#[test]
fn tcp_failure_in_established_keeps_routes_only_with_graceful_restart() {
    // Established + TcpConnectionFails (event 18); RFC 4724 section 4.2.
    let clock = Clock::new();
    let mut s = established(config(), peer_open(90), &clock);
    s.handle(clock.now, Input::TcpFailed);
    assert_eq!(
        down(&outputs(&mut s)),
        (DownReason::ConnectionLost, true, false)
    );
    let mut s = established(gr_config(false), gr_peer(false), &clock);
    s.handle(clock.now, Input::TcpFailed);
    assert_eq!(
        down(&outputs(&mut s)),
        (DownReason::ConnectionLost, true, true)
    );
}

#[test]
fn a_dead_forwarding_path_takes_the_session_down_without_keeping_routes() {
    // RFC 5882 section 4.3.1: with graceful restart negotiated the routes still go, no
    // NOTIFICATION is sent, and the session restarts on its own as after a lost connection.
    let mut clock = Clock::new();
    let mut s = established(gr_config(false), gr_peer(false), &clock);
    s.handle(clock.now, Input::PathDown { source: "bfd" });
    let outs = outputs(&mut s);
    assert_eq!(
        down(&outs),
        (DownReason::PathDown { source: "bfd" }, true, false)
    );
    assert!(
        sent(&outs).is_empty(),
        "nothing sent on a dead path: {outs:?}"
    );
    assert!(has(&outs, &Output::CloseConnection));
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.counters().flaps, 1);
    s.handle_timeout(clock.advance(120));
    assert!(
        has(&outputs(&mut s), &Output::Connect),
        "restarts on its own"
    );
    // Before a connection there is nothing to take down.
    s.handle(clock.now, Input::PathDown { source: "bfd" });
    assert!(!outputs(&mut s)
        .iter()
        .any(|o| matches!(o, Output::Down { .. } | Output::CloseConnection)));
}

#[test]
fn the_path_coming_back_retries_at_once() {
    let mut clock = Clock::new();
    let mut s = established(gr_config(false), gr_peer(false), &clock);
    s.handle(clock.now, Input::PathDown { source: "bfd" });
    outputs(&mut s);
    // Idle, with its automatic restart seconds away.
    assert!(s.next_deadline().is_some_and(|d| d > clock.now));
    clock.advance(0);
    s.handle(clock.now, Input::PathUp);
    s.handle_timeout(clock.now);
    assert!(has(&outputs(&mut s), &Output::Connect), "retries now");
    // While connecting, the ConnectRetryTimer fires now too; Established ignores it.
    let before = s.next_deadline();
    s.handle(clock.now, Input::PathUp);
    assert!(s.next_deadline() <= before);
    let mut up = established(gr_config(false), gr_peer(false), &clock);
    up.handle(clock.now, Input::PathUp);
    assert!(outputs(&mut up).is_empty());
    assert_eq!(up.state(), State::Established);
}

#[test]
fn n_bit_makes_notifications_graceful_except_hard_reset() {
    // RFC 8538 section 4.
    let clock = Clock::new();
    let mut s = established(gr_config(true), gr_peer(true), &clock);
    assert!(s.negotiated().unwrap().graceful_notification);
    s.handle(
        clock.now,
        Input::Message(Message::Notification(Notification::new(4, 0, Bytes::new()))),
    );
    assert!(down(&outputs(&mut s)).2);
    let mut s = established(gr_config(true), gr_peer(true), &clock);
    let hard = hard_reset(&Notification::new(6, 2, Bytes::new()));
    s.handle(clock.now, Input::Message(Message::Notification(hard)));
    assert!(!down(&outputs(&mut s)).2);
}

#[test]
fn graceful_stop_with_graceful_restart_closes_silently() {
    // ManualStop for SIGTERM: no NOTIFICATION (RFC 4724), so BIRD 1.6 keeps our routes.
    let clock = Clock::new();
    let mut s = established(gr_config(false), gr_peer(false), &clock);
    s.handle(
        clock.now,
        Input::Stop {
            graceful: true,
            notification: None,
        },
    );
    let outs = outputs(&mut s);
    assert!(sent(&outs).is_empty());
    assert!(has(&outs, &Output::CloseConnection));
    assert_eq!(down(&outs).0, DownReason::GracefulStop);
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.next_deadline(), None);
}

#[test]
fn graceful_stop_without_graceful_restart_sends_cease() {
    let clock = Clock::new();
    let mut s = established(config(), peer_open(90), &clock);
    let msg = Notification::cease_with_message(cease::ADMIN_SHUTDOWN, "restarting bgpd");
    s.handle(
        clock.now,
        Input::Stop {
            graceful: true,
            notification: Some(msg.clone()),
        },
    );
    let n = notification(&outputs(&mut s));
    assert_eq!(n, msg);
    assert_eq!(n.shutdown_message(), Some("restarting bgpd"));
}

#[test]
fn deliberate_stop_with_n_bit_is_hard_reset() {
    // RFC 8538 section 3: Cease / Hard Reset wrapping the Administrative Shutdown.
    let clock = Clock::new();
    let mut s = established(gr_config(true), gr_peer(true), &clock);
    let msg = Notification::cease_with_message(cease::ADMIN_SHUTDOWN, "maintenance");
    s.handle(
        clock.now,
        Input::Stop {
            graceful: false,
            notification: Some(msg.clone()),
        },
    );
    let n = notification(&outputs(&mut s));
    assert_eq!((n.code, n.subcode), (6, 9));
    assert_eq!(&n.data[..2], &[6, 2]);
    assert_eq!(&n.data[2..], &msg.data[..]);
}

#[test]
fn deliberate_stop_without_n_bit_is_plain_cease_even_with_graceful_restart() {
    let clock = Clock::new();
    let mut s = established(gr_config(false), gr_peer(false), &clock);
    s.handle(
        clock.now,
        Input::Stop {
            graceful: false,
            notification: None,
        },
    );
    let n = notification(&outputs(&mut s));
    assert_eq!((n.code, n.subcode), (6, 2));
    // Stays down: no automatic restart after a manual stop.
    assert_eq!(s.next_deadline(), None);
    assert!(!s.is_admin_up());
}

#[test]
fn max_prefix_automatic_stop_waits_then_restarts() {
    // AutomaticStop (event 8) with Cease / Maximum Number of Prefixes Reached.
    let clock = Clock::new();
    let mut s = established(config(), peer_open(90), &clock);
    s.handle(
        clock.now,
        Input::AutomaticStop {
            notification: Notification::new(6, cease::MAX_PREFIXES, Bytes::new()),
        },
    );
    let outs = outputs(&mut s);
    assert_eq!(notification(&outs).subcode, 1);
    assert_eq!(s.state(), State::Idle);
    let at = s.timers().idle_hold.unwrap();
    assert!(at >= clock.at(60));
    s.handle_timeout(at - Duration::from_millis(1));
    assert_eq!(s.state(), State::Idle);
    s.handle_timeout(at);
    assert_eq!(s.state(), State::Connect);
    assert!(has(&outputs(&mut s), &Output::Connect));
}

#[test]
fn max_prefix_with_n_bit_is_hard_reset() {
    let clock = Clock::new();
    let mut s = established(gr_config(true), gr_peer(true), &clock);
    s.handle(
        clock.now,
        Input::AutomaticStop {
            notification: Notification::new(6, cease::MAX_PREFIXES, Bytes::new()),
        },
    );
    let n = notification(&outputs(&mut s));
    assert_eq!((n.code, n.subcode, &n.data[..]), (6, 9, &[6, 1][..]));
}

#[test]
fn received_admin_shutdown_waits_the_cease_hold() {
    let clock = Clock::new();
    let mut s = established(config(), peer_open(90), &clock);
    let n = Notification::cease_with_message(cease::ADMIN_SHUTDOWN, "bye");
    s.handle(clock.now, Input::Message(Message::Notification(n)));
    assert!(s.timers().idle_hold.unwrap() >= clock.at(60));
}

#[test]
fn repeated_failures_grow_the_idle_hold_and_a_stable_session_resets_it() {
    let mut clock = Clock::new();
    let mut s = established(config(), peer_open(90), &clock);
    let mut holds = Vec::new();
    for _ in 0..4 {
        s.handle(clock.now, Input::TcpFailed);
        let at = s.timers().idle_hold.unwrap();
        holds.push(at - clock.now);
        clock.now = at;
        s.handle_timeout(clock.now);
        s.handle(clock.now, Input::TcpConnected(ConnectionRole::Outgoing));
        s.handle(clock.now, Input::Message(Message::Open(peer_open(90))));
        s.handle(clock.now, Input::Message(Message::Keepalive));
        assert_eq!(s.state(), State::Established);
    }
    assert!(holds[3] > holds[0] * 4, "{holds:?}");
    // Up for longer than the longest backoff: the next failure starts from 1 s again.
    for _ in 0..100 {
        s.handle(clock.advance(29), Input::Message(Message::Keepalive));
        s.handle_timeout(clock.now);
    }
    s.handle(clock.now, Input::TcpFailed);
    assert!(s.timers().idle_hold.unwrap() - clock.now <= Duration::from_secs(1));
    assert_eq!(s.counters().flaps, 5);
    assert_eq!(s.counters().established, 5);
}

#[test]
fn send_message_counts_and_restarts_the_keepalive_timer() {
    let mut clock = Clock::new();
    let mut s = established(config(), peer_open(90), &clock);
    s.handle_timeout(clock.advance(20));
    s.send_message(
        clock.now,
        &Message::Update(Update::end_of_rib(Family::Ipv4Unicast)),
    )
    .unwrap();
    assert_eq!(
        s.timers().keepalive,
        Some(clock.now + Duration::from_secs(30))
    );
    s.updates_sent(clock.advance(10), 3);
    assert_eq!(
        s.timers().keepalive,
        Some(clock.now + Duration::from_secs(30))
    );
    assert_eq!(s.counters().messages_out.update, 4);
    let outs = outputs(&mut s);
    assert!(matches!(sent(&outs)[..], [Message::Update(_)]));
    // Not in other states.
    let mut idle = Session::new(config()).unwrap();
    assert_eq!(
        idle.send_message(clock.now, &Message::Keepalive),
        Err(SendError::NotEstablished(State::Idle))
    );
}

#[test]
fn counters_track_messages_both_ways() {
    let mut clock = Clock::new();
    let mut s = established(config(), peer_open(9), &clock);
    s.handle_timeout(clock.advance(3));
    let c = s.counters();
    assert_eq!(c.messages_out.open, 1);
    assert_eq!(c.messages_out.keepalive, 2);
    assert_eq!(c.messages_in.open, 1);
    assert_eq!(c.messages_in.keepalive, 1);
    assert_eq!(c.messages_in.total(), 2);
    assert_eq!(c.messages_out.by_name()[3], ("keepalive", 2));
}

#[test]
fn malformed_notification_closes_without_answer() {
    // RFC 4271 section 6.4: no NOTIFICATION in reply to a NOTIFICATION.
    let clock = Clock::new();
    let mut s = established(config(), peer_open(90), &clock);
    let mut msg = vec![0xff; 16];
    msg.extend_from_slice(&[0, 20, 3, 6]);
    s.feed_bytes(clock.now, &msg);
    let outs = outputs(&mut s);
    assert!(sent(&outs).is_empty());
    assert_eq!(s.state(), State::Idle);
}
