//! Idle, Connect and Active (RFC 4271 section 8.2.2), connect retry backoff and jitter.

use std::time::Duration;

use bgp_wire::Message;

use super::*;

#[test]
fn new_session_is_idle_with_no_timers() {
    let s = Session::new(config()).unwrap();
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.next_deadline(), None);
    assert!(!s.is_admin_up());
}

#[test]
fn hold_time_one_or_two_is_refused_at_construction() {
    let mut cfg = config();
    cfg.hold_time = 2;
    assert_eq!(Session::new(cfg).unwrap_err(), SessionError::HoldTime(2));
}

#[test]
fn manual_start_active_connects_and_arms_connect_retry() {
    // Idle + ManualStart (event 1) -> Connect, initiate TCP, start ConnectRetryTimer.
    let clock = Clock::new();
    let mut s = Session::new(config()).unwrap();
    s.handle(clock.now, Input::Start);
    let outs = outputs(&mut s);
    assert_eq!(
        outs,
        vec![
            Output::Connect,
            Output::StateChange {
                from: State::Idle,
                to: State::Connect
            }
        ]
    );
    let deadline = s.timers().connect_retry.unwrap();
    // 5 s with jitter in [0.75, 1].
    assert!(deadline >= clock.now + Duration::from_millis(3750));
    assert!(deadline <= clock.now + Duration::from_secs(5));
    assert_eq!(s.counters().connect_attempts, 1);
}

#[test]
fn manual_start_passive_waits_in_active_without_connecting() {
    // Idle + ManualStart_with_PassiveTcpEstablishment (event 4) -> Active.
    let clock = Clock::new();
    let mut cfg = config();
    cfg.passive = true;
    let mut s = Session::new(cfg).unwrap();
    s.handle(clock.now, Input::Start);
    let outs = outputs(&mut s);
    assert!(!has(&outs, &Output::Connect));
    assert_eq!(s.state(), State::Active);
    assert_eq!(s.next_deadline(), None);
    // Much later: still no connect attempt.
    s.handle_timeout(clock.at(10_000));
    assert!(outputs(&mut s).is_empty());
    // An accepted connection (event 17) -> OpenSent with our OPEN.
    s.handle(clock.now, Input::TcpConnected(ConnectionRole::Incoming));
    let outs = outputs(&mut s);
    assert!(matches!(sent(&outs)[..], [Message::Open(_)]));
    assert_eq!(s.state(), State::OpenSent);
    assert_eq!(s.connection_role(), Some(ConnectionRole::Incoming));
}

#[test]
fn idle_refuses_connections_and_ignores_other_events() {
    let clock = Clock::new();
    let mut s = Session::new(config()).unwrap();
    s.handle(clock.now, Input::TcpConnected(ConnectionRole::Incoming));
    assert_eq!(outputs(&mut s), vec![Output::CloseConnection]);
    s.handle(clock.now, Input::Message(Message::Keepalive));
    s.handle(clock.now, Input::TcpFailed);
    s.handle(clock.now, Input::CollisionDump);
    s.handle(
        clock.now,
        Input::Stop {
            graceful: false,
            notification: None,
        },
    );
    assert!(outputs(&mut s).is_empty());
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn start_is_ignored_outside_idle() {
    let clock = Clock::new();
    let mut s = Session::new(config()).unwrap();
    s.handle(clock.now, Input::Start);
    outputs(&mut s);
    s.handle(clock.now, Input::Start);
    assert!(outputs(&mut s).is_empty());
    assert_eq!(s.counters().connect_attempts, 1);
}

#[test]
fn connect_retry_expiry_in_connect_retries_with_longer_delay() {
    // Connect + ConnectRetryTimer_Expires (event 9): drop the attempt, connect again, stay.
    let mut clock = Clock::new();
    let mut s = Session::new(config()).unwrap();
    s.handle(clock.now, Input::Start);
    outputs(&mut s);
    let first = s.next_deadline().unwrap();
    clock.now = first;
    s.handle_timeout(clock.now);
    assert_eq!(outputs(&mut s), vec![Output::Connect]);
    assert_eq!(s.state(), State::Connect);
    let second = s.next_deadline().unwrap();
    // Second delay: 10 s jittered, so at least 7.5 s.
    assert!(second - first >= Duration::from_millis(7500));
}

#[test]
fn tcp_failure_in_connect_goes_active_then_retries() {
    // Connect + TcpConnectionFails (event 18) -> Active, ConnectRetryTimer restarted;
    // Active + ConnectRetryTimer_Expires (event 9) -> Connect.
    let clock = Clock::new();
    let mut s = Session::new(config()).unwrap();
    s.handle(clock.now, Input::Start);
    outputs(&mut s);
    s.handle(clock.now, Input::TcpFailed);
    let outs = outputs(&mut s);
    assert_eq!(
        outs,
        vec![Output::StateChange {
            from: State::Connect,
            to: State::Active
        }]
    );
    let retry = s.next_deadline().unwrap();
    assert!(retry - clock.now >= Duration::from_millis(7500));
    s.handle_timeout(retry);
    let outs = outputs(&mut s);
    assert!(has(&outs, &Output::Connect));
    assert_eq!(s.state(), State::Connect);
}

#[test]
fn backoff_doubles_up_to_the_cap_with_jitter() {
    let clock = Clock::new();
    let mut cfg = config();
    cfg.jitter_seed = 7;
    let mut s = Session::new(cfg).unwrap();
    s.handle(clock.now, Input::Start);
    let mut now = clock.now;
    let mut delays = Vec::new();
    for _ in 0..10 {
        s.handle(now, Input::TcpFailed); // Connect -> Active
        let at = s.next_deadline().unwrap();
        delays.push(at - now);
        now = at;
        s.handle_timeout(now); // Active -> Connect
        assert_eq!(s.state(), State::Connect);
    }
    for (i, d) in delays.iter().enumerate() {
        let nominal = Duration::from_secs(5 * (1u64 << (i + 1)).min(24));
        let nominal = nominal.min(Duration::from_secs(120));
        assert!(*d <= nominal && *d >= nominal * 3 / 4, "delay {i}: {d:?}");
    }
    assert!(delays.last().unwrap() >= &Duration::from_secs(90));
}

#[test]
fn different_seeds_spread_retries() {
    let clock = Clock::new();
    let deadline = |seed| {
        let mut cfg = config();
        cfg.jitter_seed = seed;
        let mut s = Session::new(cfg).unwrap();
        s.handle(clock.now, Input::Start);
        s.next_deadline().unwrap()
    };
    let all: Vec<_> = (1..6).map(deadline).collect();
    assert!(all.iter().any(|d| *d != all[0]));
}

#[test]
fn connected_in_connect_sends_open_and_arms_large_hold_timer() {
    // Connect + Tcp_CR_Acked (event 16) -> OpenSent: OPEN sent, HoldTimer 4 minutes.
    let clock = Clock::new();
    let mut s = Session::new(config()).unwrap();
    s.handle(clock.now, Input::Start);
    outputs(&mut s);
    s.handle(clock.now, Input::TcpConnected(ConnectionRole::Outgoing));
    let outs = outputs(&mut s);
    let msgs = sent(&outs);
    let [Message::Open(open)] = &msgs[..] else {
        panic!("{msgs:?}")
    };
    assert_eq!(open.asn(), LOCAL_AS);
    assert_eq!(open.bgp_id, LOCAL_ID);
    assert_eq!(open.hold_time, 90);
    assert_eq!(s.state(), State::OpenSent);
    assert_eq!(s.timers().connect_retry, None);
    assert_eq!(s.timers().hold, Some(clock.now + Duration::from_secs(240)));
    assert_eq!(s.counters().messages_out.open, 1);
}

#[test]
fn incoming_connection_in_active_sends_open() {
    // Active + TcpConnectionConfirmed (event 17) -> OpenSent.
    let clock = Clock::new();
    let mut s = Session::new(config()).unwrap();
    s.handle(clock.now, Input::Start);
    s.handle(clock.now, Input::TcpFailed);
    assert_eq!(s.state(), State::Active);
    outputs(&mut s);
    s.handle(clock.now, Input::TcpConnected(ConnectionRole::Incoming));
    assert_eq!(s.state(), State::OpenSent);
    assert!(matches!(sent(&outputs(&mut s))[..], [Message::Open(_)]));
}

#[test]
fn manual_stop_in_connect_abandons_attempt() {
    // Connect + ManualStop (event 2) -> Idle, drop the connection attempt.
    let clock = Clock::new();
    let mut s = Session::new(config()).unwrap();
    s.handle(clock.now, Input::Start);
    outputs(&mut s);
    s.handle(
        clock.now,
        Input::Stop {
            graceful: false,
            notification: None,
        },
    );
    let outs = outputs(&mut s);
    assert!(has(&outs, &Output::CloseConnection));
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.next_deadline(), None);
    assert!(!s.is_admin_up());
}

#[test]
fn manual_stop_in_active_goes_idle() {
    let clock = Clock::new();
    let mut cfg = config();
    cfg.passive = true;
    let mut s = Session::new(cfg).unwrap();
    s.handle(clock.now, Input::Start);
    s.handle(
        clock.now,
        Input::Stop {
            graceful: true,
            notification: None,
        },
    );
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.next_deadline(), None);
    // Restart works.
    s.handle(clock.now, Input::Start);
    assert_eq!(s.state(), State::Active);
}

#[test]
fn message_without_connection_in_connect_goes_idle() {
    // Connect/Active + any other event -> Idle (section 8.2.2).
    let clock = Clock::new();
    let mut s = Session::new(config()).unwrap();
    s.handle(clock.now, Input::Start);
    outputs(&mut s);
    s.handle(clock.now, Input::Message(Message::Keepalive));
    let outs = outputs(&mut s);
    assert!(has(&outs, &Output::CloseConnection));
    assert_eq!(s.state(), State::Idle);
    // Automatic restart after the idle hold time.
    let at = s.timers().idle_hold.unwrap();
    s.handle_timeout(at);
    assert_eq!(s.state(), State::Connect);
}

#[test]
fn automatic_stop_in_active_waits_the_cease_hold() {
    let clock = Clock::new();
    let mut s = Session::new(config()).unwrap();
    s.handle(clock.now, Input::Start);
    s.handle(clock.now, Input::TcpFailed);
    s.handle(
        clock.now,
        Input::AutomaticStop {
            notification: bgp_wire::Notification::new(6, 1, bytes::Bytes::new()),
        },
    );
    assert_eq!(s.state(), State::Idle);
    assert!(s.timers().idle_hold.unwrap() >= clock.now + Duration::from_secs(60));
}
