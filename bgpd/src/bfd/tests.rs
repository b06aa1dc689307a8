//! The BFD session against RFC 5880's rules, one test per transition and timer rule, on a
//! clock of its own; a property test that no packet sequence panics or breaks an invariant;
//! and the I/O task: two tasks over loopback come up, and one going silent is detected.

use std::time::{Duration, Instant};

use config::Bfd;
use proptest::prelude::*;

use super::machine::{Session, Transition, SLOW_TX};
use super::packet::{ControlPacket, Diag, State};

const MS: Duration = Duration::from_millis(1);

fn settings(rx: u64, tx: u64, mult: u8) -> Bfd {
    Bfd {
        min_rx: Duration::from_millis(rx),
        min_tx: Duration::from_millis(tx),
        multiplier: mult,
        auth: None,
    }
}

/// A packet from the neighbor (discriminator 77) in `state`.
fn from_peer(state: State, your: u32) -> ControlPacket {
    ControlPacket {
        diag: Diag::NONE,
        state,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: 77,
        your_discriminator: your,
        desired_min_tx_us: 300_000,
        required_min_rx_us: 300_000,
        required_min_echo_rx_us: 0,
        auth: None,
    }
}

/// Every packet `s` sends at `now`.
fn drain(s: &mut Session, now: Instant) -> Vec<ControlPacket> {
    std::iter::from_fn(|| s.poll(now)).take(8).collect()
}

fn changes(s: &mut Session) -> Vec<Transition> {
    std::iter::from_fn(|| s.next_change()).collect()
}

/// A session brought Up by the neighbor's Down then Up, at `t0`.
fn up_session(t0: Instant) -> Session {
    let mut s = Session::new(settings(300, 300, 3), 5, t0);
    drain(&mut s, t0);
    s.receive(t0, &from_peer(State::Down, 0));
    s.receive(t0, &from_peer(State::Up, 5));
    assert_eq!(s.state(), State::Up);
    drain(&mut s, t0);
    changes(&mut s);
    s
}

#[test]
fn starts_down_sending_at_once_at_the_slow_rate() {
    let t0 = Instant::now();
    let mut s = Session::new(settings(300, 300, 3), 5, t0);
    let sent = drain(&mut s, t0);
    assert_eq!(sent.len(), 1);
    let p = &sent[0];
    assert_eq!(
        (p.state, p.your_discriminator, p.my_discriminator),
        (State::Down, 0, 5)
    );
    // Section 6.8.3: at least one second while not Up; the RX we want is the configured one.
    assert_eq!(p.desired_min_tx_us, 1_000_000);
    assert_eq!(p.required_min_rx_us, 300_000);
    assert_eq!(p.detect_mult, 3);
    assert!(!p.poll && !p.final_);
    // Nothing more until the jittered interval: 75 % to 100 % of a second.
    assert!(drain(&mut s, t0 + 749 * MS).is_empty());
    let next = s.next_deadline().unwrap_or(t0);
    assert!(next >= t0 + 750 * MS && next <= t0 + SLOW_TX, "{next:?}");
    assert_eq!(drain(&mut s, next).len(), 1);
}

#[test]
fn down_hearing_down_goes_init() {
    let t0 = Instant::now();
    let mut s = Session::new(settings(300, 300, 3), 5, t0);
    drain(&mut s, t0);
    s.receive(t0, &from_peer(State::Down, 0));
    assert_eq!(s.state(), State::Init);
    let c = changes(&mut s);
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].from, c[0].to, c[0].path_failed),
        (State::Down, State::Init, false)
    );
    // A change of state is sent at once (section 6.8.7), with the neighbor's discriminator.
    let sent = drain(&mut s, t0);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].state, sent[0].your_discriminator),
        (State::Init, 77)
    );
}

#[test]
fn down_hearing_init_goes_up_and_init_hearing_init_or_up_goes_up() {
    let t0 = Instant::now();
    let mut s = Session::new(settings(300, 300, 3), 5, t0);
    s.receive(t0, &from_peer(State::Init, 5));
    assert_eq!(s.state(), State::Up);
    for peer in [State::Init, State::Up] {
        let mut s = Session::new(settings(300, 300, 3), 5, t0);
        s.receive(t0, &from_peer(State::Down, 0));
        assert_eq!(s.state(), State::Init);
        s.receive(t0, &from_peer(peer, 5));
        assert_eq!(s.state(), State::Up, "Init hearing {peer}");
    }
}

#[test]
fn down_ignores_up_and_init_ignores_down() {
    let t0 = Instant::now();
    let mut s = Session::new(settings(300, 300, 3), 5, t0);
    s.receive(t0, &from_peer(State::Up, 5));
    assert_eq!(s.state(), State::Down);
    s.receive(t0, &from_peer(State::Down, 0));
    assert_eq!(s.state(), State::Init);
    s.receive(t0, &from_peer(State::Down, 0));
    assert_eq!(s.state(), State::Init);
}

#[test]
fn up_hearing_down_is_a_path_failure() {
    let t0 = Instant::now();
    let mut s = up_session(t0);
    s.receive(t0 + MS, &from_peer(State::Down, 5));
    assert_eq!(s.state(), State::Down);
    let c = changes(&mut s);
    assert_eq!(c.len(), 1);
    assert_eq!((c[0].diag, c[0].path_failed), (Diag::NEIGHBOR_DOWN, true));
    assert_eq!(s.status().flaps, 1);
    // Back to the slow rate, no Poll Sequence while not Up.
    let sent = drain(&mut s, t0 + MS);
    assert_eq!(sent[0].desired_min_tx_us, 1_000_000);
    assert_eq!(sent[0].diag, Diag::NEIGHBOR_DOWN);
    assert!(!sent[0].poll);
}

#[test]
fn neighbor_admin_down_is_not_a_failure() {
    // RFC 5882 section 3.2: AdminDown from the neighbor must not take the client down.
    let t0 = Instant::now();
    let mut s = up_session(t0);
    s.receive(t0 + MS, &from_peer(State::AdminDown, 5));
    assert_eq!(s.state(), State::Down);
    let c = changes(&mut s);
    assert_eq!((c[0].diag, c[0].path_failed), (Diag::NEIGHBOR_DOWN, false));
    // In Down, AdminDown changes nothing.
    s.receive(t0 + 2 * MS, &from_peer(State::AdminDown, 5));
    assert!(changes(&mut s).is_empty());
}

#[test]
fn detection_time_expiry_takes_up_down_at_its_deadline() {
    let t0 = Instant::now();
    let mut s = up_session(t0);
    // The neighbor sends every 300 ms and asks for 300: detection 3 × 300 ms after the last.
    let last = t0 + 100 * MS;
    s.receive(last, &from_peer(State::Up, 5));
    assert_eq!(s.status().detect_time, Some(900 * MS));
    drain(&mut s, last + 899 * MS);
    assert_eq!(s.state(), State::Up);
    let sent = drain(&mut s, last + 900 * MS);
    assert_eq!(s.state(), State::Down);
    let c = changes(&mut s);
    assert_eq!(
        (c[0].from, c[0].diag, c[0].path_failed),
        (State::Up, Diag::DETECTION_TIME_EXPIRED, true)
    );
    // Section 6.8.1: the remote discriminator is forgotten.
    assert_eq!(s.status().remote_discriminator, 0);
    assert_eq!(
        (sent[0].state, sent[0].your_discriminator),
        (State::Down, 0)
    );
}

#[test]
fn detection_in_init_too() {
    let t0 = Instant::now();
    let mut s = Session::new(settings(300, 300, 3), 5, t0);
    s.receive(t0, &from_peer(State::Down, 0));
    assert_eq!(s.state(), State::Init);
    drain(&mut s, t0 + 900 * MS);
    assert_eq!(s.state(), State::Down);
    let c = changes(&mut s);
    assert_eq!(
        (c[1].diag, c[1].path_failed),
        (Diag::DETECTION_TIME_EXPIRED, false)
    );
}

#[test]
fn detection_time_uses_the_larger_of_our_rx_and_their_tx() {
    // Section 6.8.4: remote Detect Mult × max(bfd.RequiredMinRxInterval, remote Desired Min TX).
    let t0 = Instant::now();
    let mut s = Session::new(settings(100, 300, 3), 5, t0);
    let mut p = from_peer(State::Down, 0);
    p.detect_mult = 5;
    p.desired_min_tx_us = 1_000_000;
    s.receive(t0, &p);
    assert_eq!(s.status().detect_time, Some(5 * SLOW_TX));
    p.desired_min_tx_us = 50_000;
    s.receive(t0, &p);
    assert_eq!(s.status().detect_time, Some(500 * MS));
}

#[test]
fn transmit_interval_is_the_larger_of_ours_and_their_rx_jittered() {
    let t0 = Instant::now();
    let mut s = up_session(t0);
    // Up at 300 ms; the neighbor wants no more than one per 500 ms.
    let mut p = from_peer(State::Up, 5);
    p.required_min_rx_us = 500_000;
    s.receive(t0, &p);
    assert_eq!(s.status().tx_interval, 500 * MS);
    // The packet already scheduled at the old rate goes first.
    let mut now = s.next_deadline().unwrap_or(t0);
    drain(&mut s, now);
    for _ in 0..200 {
        let next = s.next_deadline().unwrap_or(now);
        let gap = next - now;
        assert!(gap >= 375 * MS && gap <= 500 * MS, "{gap:?}");
        now = next;
        s.receive(now, &p);
        assert_eq!(drain(&mut s, now).len(), 1);
    }
}

#[test]
fn jitter_with_multiplier_one_stays_under_90_percent() {
    let t0 = Instant::now();
    let mut s = Session::new(settings(300, 300, 1), 5, t0);
    let mut now = t0;
    drain(&mut s, now);
    for _ in 0..200 {
        let next = s.next_deadline().unwrap_or(now);
        let gap = next - now;
        assert!(gap >= 750 * MS && gap <= 900 * MS, "{gap:?}");
        now = next;
        drain(&mut s, now);
    }
}

#[test]
fn no_periodic_packets_when_the_neighbor_asks_for_none() {
    let t0 = Instant::now();
    let mut s = up_session(t0);
    let mut p = from_peer(State::Up, 5);
    p.required_min_rx_us = 0;
    s.receive(t0, &p);
    drain(&mut s, t0);
    // Only the detection deadline is left.
    assert_eq!(s.next_deadline(), Some(t0 + 900 * MS));
    assert!(drain(&mut s, t0 + 800 * MS).is_empty());
}

#[test]
fn going_up_polls_for_the_fast_rate_until_final() {
    let t0 = Instant::now();
    let mut s = Session::new(settings(300, 300, 3), 5, t0);
    drain(&mut s, t0);
    s.receive(t0, &from_peer(State::Init, 5));
    assert_eq!(s.state(), State::Up);
    // The faster TX applies at once (a decrease), announced with P until a Final arrives.
    assert_eq!(s.status().tx_interval, 300 * MS);
    let sent = drain(&mut s, t0);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].poll);
    assert_eq!(sent[0].desired_min_tx_us, 300_000);
    let next = s.next_deadline().unwrap_or(t0);
    assert!(next <= t0 + 300 * MS);
    assert!(drain(&mut s, next)[0].poll);
    let mut fin = from_peer(State::Up, 5);
    fin.final_ = true;
    s.receive(next, &fin);
    let after = s.next_deadline().unwrap_or(next);
    assert!(!drain(&mut s, after)[0].poll);
}

#[test]
fn a_poll_is_answered_at_once_with_final_never_with_poll() {
    let t0 = Instant::now();
    let mut s = up_session(t0);
    s.configure(t0, settings(300, 200, 3)); // our own Poll Sequence starts
    let mut p = from_peer(State::Up, 5);
    p.poll = true;
    s.receive(t0 + MS, &p);
    let sent = drain(&mut s, t0 + MS);
    assert!(sent[0].final_ && !sent[0].poll, "{sent:?}");
    assert!(sent.iter().all(|p| !(p.poll && p.final_)));
}

#[test]
fn slower_tx_and_faster_rx_wait_for_the_final() {
    let t0 = Instant::now();
    let mut s = up_session(t0);
    let mut fin = from_peer(State::Up, 5);
    fin.final_ = true;
    s.receive(t0, &fin); // end the Poll Sequence of going Up
    assert_eq!(s.status().detect_time, Some(900 * MS));
    // Section 6.8.3: a larger TX and a smaller RX apply only after the Final.
    s.configure(t0, settings(100, 1000, 3));
    assert_eq!(s.status().tx_interval, 300 * MS);
    assert_eq!(s.status().rx_interval, 300 * MS);
    let sent = drain(&mut s, t0);
    assert!(sent[0].poll);
    assert_eq!(
        (sent[0].desired_min_tx_us, sent[0].required_min_rx_us),
        (1_000_000, 100_000)
    );
    s.receive(t0 + MS, &fin);
    assert_eq!(s.status().tx_interval, 1000 * MS);
    assert_eq!(s.status().rx_interval, 100 * MS);
    // Their TX is 300 ms, larger than our new RX: detection 3 × 300 ms.
    assert_eq!(s.status().detect_time, Some(900 * MS));
    // And no state change for any of it.
    assert!(changes(&mut s).is_empty());
}

#[test]
fn faster_tx_and_slower_rx_apply_at_once() {
    let t0 = Instant::now();
    let mut s = up_session(t0);
    s.configure(t0, settings(1000, 100, 3));
    let mut p = from_peer(State::Up, 5);
    p.required_min_rx_us = 100_000;
    s.receive(t0, &p);
    assert_eq!(s.status().tx_interval, 100 * MS);
    assert_eq!(s.status().rx_interval, 1000 * MS);
    assert_eq!(s.status().detect_time, Some(3000 * MS));
}

#[test]
fn admin_down_is_sent_and_the_session_ignores_packets() {
    let t0 = Instant::now();
    let mut s = up_session(t0);
    s.set_admin_down(t0, true);
    let c = changes(&mut s);
    assert_eq!(
        (c[0].to, c[0].diag, c[0].path_failed),
        (State::AdminDown, Diag::ADMIN_DOWN, false)
    );
    let sent = drain(&mut s, t0);
    assert_eq!(
        (sent[0].state, sent[0].diag),
        (State::AdminDown, Diag::ADMIN_DOWN)
    );
    s.receive(t0 + MS, &from_peer(State::Down, 0));
    assert_eq!(s.state(), State::AdminDown);
    // Detection never runs in AdminDown.
    drain(&mut s, t0 + 10 * SLOW_TX);
    assert_eq!(s.state(), State::AdminDown);
    s.set_admin_down(t0 + 10 * SLOW_TX, false);
    assert_eq!(s.state(), State::Down);
}

#[test]
fn flaps_and_state_changes_are_counted() {
    let t0 = Instant::now();
    let mut s = up_session(t0);
    for i in 1..=3u32 {
        let t = t0 + i * SLOW_TX;
        s.receive(t, &from_peer(State::Down, 5));
        s.receive(t, &from_peer(State::Init, 5));
        assert_eq!(s.state(), State::Up);
    }
    let st = s.status();
    assert_eq!((st.flaps, st.state_changes), (3, 2 + 6));
    assert!(st.up_since.is_some());
}

/// Two sessions wired back to back over a lossless, instant link.
fn exchange(a: &mut Session, b: &mut Session, now: Instant) {
    for _ in 0..8 {
        let pa = drain(a, now);
        let pb = drain(b, now);
        if pa.is_empty() && pb.is_empty() {
            return;
        }
        for p in pa {
            b.receive(now, &p);
        }
        for p in pb {
            a.receive(now, &p);
        }
    }
}

#[test]
fn two_sessions_come_up_and_detect_silence() {
    let t0 = Instant::now();
    let mut a = Session::new(settings(300, 300, 3), 1, t0);
    let mut b = Session::new(settings(300, 300, 3), 2, t0);
    exchange(&mut a, &mut b, t0);
    assert_eq!((a.state(), b.state()), (State::Up, State::Up));
    // Run a few seconds on each side's own deadlines.
    let mut now = t0;
    while now < t0 + 5 * SLOW_TX {
        now = [a.next_deadline(), b.next_deadline()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now + MS);
        exchange(&mut a, &mut b, now);
        assert_eq!((a.state(), b.state()), (State::Up, State::Up));
    }
    // Both settled on 300 ms, no Poll left over.
    assert_eq!(a.status().tx_interval, 300 * MS);
    assert_eq!(b.status().detect_time, Some(900 * MS));
    // b goes silent: a notices within its detection time.
    let silent_from = now;
    while a.state() == State::Up {
        now = a.next_deadline().unwrap_or(now + MS);
        drain(&mut a, now);
    }
    assert!(now - silent_from <= 900 * MS, "{:?}", now - silent_from);
    assert!(changes(&mut a).iter().any(|t| t.path_failed));
}

fn any_state() -> impl Strategy<Value = State> {
    prop_oneof![
        Just(State::AdminDown),
        Just(State::Down),
        Just(State::Init),
        Just(State::Up)
    ]
}

fn any_packet() -> impl Strategy<Value = ControlPacket> {
    (
        any_state(),
        any::<(bool, bool)>(),
        1u8..=255,
        prop_oneof![Just(0u32), Just(5u32), any::<u32>()],
        prop_oneof![Just(0u32), Just(1), Just(300_000), any::<u32>()],
        prop_oneof![Just(0u32), Just(300_000), any::<u32>()],
    )
        .prop_map(
            |(state, (poll, final_), mult, your, tx, rx)| ControlPacket {
                diag: Diag::NONE,
                state,
                poll,
                final_,
                control_plane_independent: false,
                demand: false,
                detect_mult: mult,
                my_discriminator: 77,
                your_discriminator: your,
                desired_min_tx_us: tx,
                required_min_rx_us: rx,
                required_min_echo_rx_us: 0,
                auth: None,
            },
        )
}

#[derive(Debug, Clone)]
enum Step {
    Packet(ControlPacket),
    Wait(u64),
    Configure(u64, u64, u8),
    Admin(bool),
}

fn any_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => any_packet().prop_map(Step::Packet),
        2 => (0u64..3000).prop_map(Step::Wait),
        1 => (10u64..2000, 10u64..2000, 1u8..10).prop_map(|(r, t, m)| Step::Configure(r, t, m)),
        1 => any::<bool>().prop_map(Step::Admin),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever arrives, in whatever order and timing: no panic, never P and F together,
    /// only leaving Up counts as a path failure, and the next deadline is always ahead.
    #[test]
    fn random_sequences_keep_the_rules(steps in prop::collection::vec(any_step(), 1..80)) {
        let t0 = Instant::now();
        let mut now = t0;
        let mut s = Session::new(settings(300, 300, 3), 5, t0);
        for step in steps {
            match step {
                Step::Packet(p) => s.receive(now, &p),
                Step::Wait(ms) => now += Duration::from_millis(ms),
                Step::Configure(r, t, m) => s.configure(now, settings(r, t, m)),
                Step::Admin(down) => s.set_admin_down(now, down),
            }
            for p in drain(&mut s, now) {
                prop_assert!(!(p.poll && p.final_));
                prop_assert_eq!(p.my_discriminator, 5);
                prop_assert!(ControlPacket::decode(&p.encode()).is_ok());
                if p.state != State::Up {
                    prop_assert!(p.desired_min_tx_us >= 1_000_000);
                }
            }
            for t in changes(&mut s) {
                prop_assert!(t.from != t.to);
                prop_assert!(!t.path_failed || t.from == State::Up);
            }
            // After draining, nothing is due now or earlier: the task would spin.
            if let Some(d) = s.next_deadline() {
                prop_assert!(d > now, "deadline {:?} not after now", d - t0);
            }
        }
    }
}

#[test]
fn stretched_then_resumed_by_the_next_run() {
    let t0 = Instant::now();
    let mut s = up_session(t0);
    let mut fin = from_peer(State::Up, 5);
    fin.final_ = true;
    s.receive(t0, &fin);
    // Before a restart: ask the neighbor to wait 10 x 1 s, through a Poll Sequence.
    s.stretch(t0, SLOW_TX, 10);
    let sent = drain(&mut s, t0);
    assert!(sent[0].poll);
    assert_eq!(
        (sent[0].desired_min_tx_us, sent[0].detect_mult),
        (1_000_000, 10)
    );
    assert!(s.polling());
    s.receive(t0 + MS, &fin);
    assert!(!s.polling());
    let addr = std::net::IpAddr::from([203, 0, 113, 2]);
    let suspended = s.suspended(addr, false).unwrap_or_else(|| panic!("Up"));
    assert_eq!(suspended.neighbor_detection_time(), 10 * SLOW_TX);
    assert_eq!(
        (
            suspended.local_discriminator,
            suspended.remote_discriminator
        ),
        (5, 77)
    );
    // The next run: Up at once, same discriminators, back to 300 ms with a Poll.
    let t1 = t0 + 2 * SLOW_TX;
    let mut next = Session::resumed(settings(300, 300, 3), &suspended, t1);
    assert_eq!(next.state(), State::Up);
    let sent = drain(&mut next, t1);
    assert_eq!(sent.len(), 1);
    let p = &sent[0];
    assert_eq!(
        (p.state, p.my_discriminator, p.your_discriminator),
        (State::Up, 5, 77)
    );
    assert!(p.poll);
    assert_eq!((p.desired_min_tx_us, p.detect_mult), (300_000, 3));
    assert!(changes(&mut next).is_empty(), "no state change to report");
    // A session not Up has nothing to hand over.
    let down = Session::new(settings(300, 300, 3), 6, t0);
    assert!(down.suspended(addr, false).is_none());
}
