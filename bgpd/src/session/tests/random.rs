//! The FSM fed random sequences of events: operator commands, connection events, valid and
//! invalid messages, raw bytes (whole messages and garbage, cut anywhere) and time. Nothing
//! may panic, and what it reports must agree with its state after every event.

use std::time::Duration;

use bgp_wire::{Family, Message, Notification, RouteRefresh, Update};
use bytes::Bytes;
use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone)]
enum Step {
    /// Start, connect, the peer's OPEN and KEEPALIVE: Established from Idle.
    Establish {
        hold: u16,
    },
    Start,
    Stop {
        graceful: bool,
    },
    AutomaticStop,
    Connected {
        incoming: bool,
    },
    Failed,
    Open {
        hold: u16,
        wrong_as: bool,
    },
    Keepalive,
    Update,
    Notification {
        code: u8,
        subcode: u8,
    },
    Refresh,
    /// Encoded messages and garbage, fed as one read.
    Bytes(Vec<u8>),
    Collision,
    PathDown,
    PathUp,
    Wait {
        secs: u16,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let open_bytes = (0u16..200).prop_map(|hold| wire(&Message::Open(peer_open(hold))));
    let keepalive = Just(wire(&Message::Keepalive));
    let garbage = proptest::collection::vec(any::<u8>(), 0..64);
    let marker_garbage = proptest::collection::vec(any::<u8>(), 0..48).prop_map(|mut tail| {
        let mut v = vec![0xff; 16];
        v.append(&mut tail);
        v
    });
    let chunk = prop_oneof![open_bytes, keepalive, garbage, marker_garbage];
    let bytes = proptest::collection::vec(chunk, 1..4).prop_map(|parts| parts.concat());
    prop_oneof![
        3 => (0u16..200).prop_map(|hold| Step::Establish { hold }),
        2 => Just(Step::Start),
        1 => any::<bool>().prop_map(|graceful| Step::Stop { graceful }),
        1 => Just(Step::AutomaticStop),
        2 => any::<bool>().prop_map(|incoming| Step::Connected { incoming }),
        1 => Just(Step::Failed),
        3 => ((0u16..200), prop::bool::weighted(0.1))
            .prop_map(|(hold, wrong_as)| Step::Open { hold, wrong_as }),
        3 => Just(Step::Keepalive),
        2 => Just(Step::Update),
        1 => ((1u8..7), (0u8..10)).prop_map(|(code, subcode)| Step::Notification { code, subcode }),
        1 => Just(Step::Refresh),
        2 => bytes.prop_map(Step::Bytes),
        1 => Just(Step::Collision),
        1 => Just(Step::PathDown),
        1 => Just(Step::PathUp),
        3 => (0u16..200).prop_map(|secs| Step::Wait { secs }),
    ]
}

fn apply(s: &mut Session, clock: &mut Clock, step: &Step) {
    let now = clock.now;
    match step {
        Step::Establish { hold } => {
            s.handle(now, Input::Start);
            s.handle(now, Input::TcpConnected(ConnectionRole::Outgoing));
            s.handle(now, Input::Message(Message::Open(peer_open(*hold))));
            s.handle(now, Input::Message(Message::Keepalive));
        }
        Step::Start => s.handle(now, Input::Start),
        Step::Stop { graceful } => s.handle(
            now,
            Input::Stop {
                graceful: *graceful,
                notification: None,
            },
        ),
        Step::AutomaticStop => s.handle(
            now,
            Input::AutomaticStop {
                notification: Notification::new(6, 1, Bytes::new()),
            },
        ),
        Step::Connected { incoming } => s.handle(
            now,
            Input::TcpConnected(if *incoming {
                ConnectionRole::Incoming
            } else {
                ConnectionRole::Outgoing
            }),
        ),
        Step::Failed => s.handle(now, Input::TcpFailed),
        Step::Open { hold, wrong_as } => {
            let mut open = peer_open(*hold);
            if *wrong_as {
                open = Open::new(
                    64999,
                    *hold,
                    PEER_ID,
                    open.capabilities().cloned().collect(),
                );
            }
            s.handle(now, Input::Message(Message::Open(open)));
        }
        Step::Keepalive => s.handle(now, Input::Message(Message::Keepalive)),
        Step::Update => s.handle(now, Input::Message(Message::Update(Update::default()))),
        Step::Notification { code, subcode } => s.handle(
            now,
            Input::Message(Message::Notification(Notification::new(
                *code,
                *subcode,
                Bytes::new(),
            ))),
        ),
        Step::Refresh => s.handle(
            now,
            Input::Message(Message::RouteRefresh(RouteRefresh::request(
                Family::Ipv4Unicast,
            ))),
        ),
        Step::Bytes(b) => s.feed_bytes(now, b),
        Step::Collision => s.handle(now, Input::CollisionDump),
        Step::PathDown => s.handle(now, Input::PathDown { source: "test" }),
        Step::PathUp => s.handle(now, Input::PathUp),
        Step::Wait { secs } => {
            clock.now += Duration::from_secs(u64::from(*secs));
            s.handle_timeout(clock.now);
        }
    }
}

/// What the outputs of one event must agree with.
fn check(before: State, s: &Session, outs: &[Output], flaps_before: u64) -> Result<(), String> {
    let after = s.state();
    let mut established_downs = 0;
    for o in outs {
        match o {
            Output::Down {
                was_established, ..
            } => {
                // There was a connection before, or one made in this same event (it sent
                // our OPEN) went down in it too.
                let connected_now = outs.iter().any(|o| matches!(o, Output::Send(_)));
                if !before.has_connection() && !connected_now {
                    return Err(format!("Down from {before:?} without a connection"));
                }
                if *was_established {
                    established_downs += 1;
                }
            }
            Output::Update(_) | Output::RouteRefresh(_)
                if before != State::Established && after != State::Established =>
            {
                let reached = outs.iter().any(|o| matches!(o, Output::Established(_)));
                if !reached {
                    return Err(format!(
                        "{o:?} outside Established ({before:?} -> {after:?})"
                    ));
                }
            }
            _ => {}
        }
    }
    let flaps = s.counters().flaps;
    if flaps != flaps_before + established_downs {
        return Err(format!(
            "flaps {flaps_before} -> {flaps} with {established_downs} Established downs"
        ));
    }
    let last_up_down = outs.iter().rev().find_map(|o| match o {
        Output::Established(_) => Some(true),
        Output::Down { .. } => Some(false),
        _ => None,
    });
    if last_up_down == Some(true) && after != State::Established {
        return Err(format!("reported Established but is {after:?}"));
    }
    if after == State::Established {
        let Some(n) = s.negotiated() else {
            return Err("Established without negotiated parameters".into());
        };
        if n.hold_time != 0 && s.timers().hold.is_none() {
            return Err("Established with a hold time but no hold timer".into());
        }
    }
    if after.has_connection() && s.next_deadline().is_none() && before != after {
        // Every connected state waits for something with a timer (OpenSent: the large
        // hold timer; OpenConfirm and Established: hold, unless negotiated to zero).
        let zero_hold = s.negotiated().is_some_and(|n| n.hold_time == 0);
        if !zero_hold {
            return Err(format!("{after:?} without any timer"));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn random_event_sequences_never_panic_and_outputs_agree_with_the_state(
        steps in proptest::collection::vec(step(), 1..80),
        passive in any::<bool>(),
    ) {
        let mut cfg = config();
        cfg.passive = passive;
        let mut s = Session::new(cfg).unwrap();
        let mut clock = Clock::new();
        for (i, st) in steps.iter().enumerate() {
            let before = s.state();
            let flaps = s.counters().flaps;
            apply(&mut s, &mut clock, st);
            let outs = outputs(&mut s);
            if let Err(e) = check(before, &s, &outs, flaps) {
                prop_assert!(false, "step {i} {st:?}: {e}\noutputs: {outs:?}\nsteps: {steps:?}");
            }
        }
    }
}
