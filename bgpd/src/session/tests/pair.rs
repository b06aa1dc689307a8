//! Sessions driven against each other: the wire bytes one sends are what the other reads.
//! A tiny in-memory "network" stands in for the tokio driver.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bgp_wire::notification::cease;
use bgp_wire::{Family, Message, Notification, Update};

use super::*;

/// One TCP connection between two sessions (by index).
#[derive(Debug)]
pub(super) struct Link {
    pub ends: [usize; 2],
    pub open: bool,
}

/// Sessions, the connections between them, and what each reported (everything but `Send`).
#[derive(Debug)]
pub(super) struct Net {
    pub sessions: Vec<Session>,
    pub links: Vec<Link>,
    pub log: Vec<Vec<Output>>,
    /// Who accepts `Output::Connect` from each session (None: the attempt hangs).
    pub connects_to: Vec<Option<usize>>,
    /// Sessions of the same peer during a collision: (main, extra incoming).
    pub pairs: Vec<(usize, usize)>,
    pub now: Instant,
}

impl Net {
    pub fn new(sessions: Vec<Session>, now: Instant) -> Self {
        let n = sessions.len();
        Self {
            sessions,
            links: Vec::new(),
            log: vec![Vec::new(); n],
            connects_to: vec![None; n],
            pairs: Vec::new(),
            now,
        }
    }

    fn open_link(&mut self, i: usize) -> Option<&mut Link> {
        self.links
            .iter_mut()
            .find(|l| l.open && l.ends.contains(&i))
    }

    fn peer_of(&mut self, i: usize) -> Option<usize> {
        self.open_link(i)
            .map(|l| if l.ends[0] == i { l.ends[1] } else { l.ends[0] })
    }

    /// What the daemon does while a peer has two sessions: keep each told about the other.
    fn refresh_rivals(&mut self) {
        for &(a, b) in &self.pairs {
            let ra = crate::session::collision::Rival::of(&self.sessions[a]);
            let rb = crate::session::collision::Rival::of(&self.sessions[b]);
            self.sessions[a].set_rival(rb);
            self.sessions[b].set_rival(ra);
        }
    }

    /// What the daemon does after every input while a peer has two sessions.
    fn resolve_collisions(&mut self) {
        let now = self.now;
        for pair in &mut self.pairs {
            let (main, extra) = *pair;
            match crate::session::collision::resolve(&self.sessions[main], &self.sessions[extra]) {
                crate::session::collision::Resolution::Pending => {}
                crate::session::collision::Resolution::DumpNew => {
                    self.sessions[extra].handle(now, Input::CollisionDump);
                }
                crate::session::collision::Resolution::DumpExisting => {
                    self.sessions[main].handle(now, Input::CollisionDump);
                    let replaced = std::mem::replace(
                        &mut self.sessions[main],
                        Session::new(config()).unwrap(),
                    );
                    self.sessions[extra].promote(&replaced);
                    self.sessions[main] = replaced;
                    *pair = (extra, main);
                }
            }
        }
    }

    /// Opens a connection from `from` to `to` and tells both.
    pub fn connect(&mut self, from: usize, to: usize) {
        self.links.push(Link {
            ends: [from, to],
            open: true,
        });
        let now = self.now;
        self.sessions[from].handle(now, Input::TcpConnected(ConnectionRole::Outgoing));
        self.sessions[to].handle(now, Input::TcpConnected(ConnectionRole::Incoming));
    }

    /// Performs every output until nothing moves.
    pub fn pump(&mut self) {
        let now = self.now;
        loop {
            let mut moved = false;
            for i in 0..self.sessions.len() {
                let outs: Vec<Output> = self.sessions[i].drain().collect();
                for o in outs {
                    moved = true;
                    match o {
                        Output::Send(bytes) => {
                            self.refresh_rivals();
                            if let Some(peer) = self.peer_of(i) {
                                self.sessions[peer].feed_bytes(now, &bytes);
                            }
                        }
                        Output::CloseConnection => {
                            let peer = self.peer_of(i);
                            if let Some(link) = self.open_link(i) {
                                link.open = false;
                            }
                            if let Some(peer) = peer {
                                self.sessions[peer].handle(now, Input::TcpFailed);
                            }
                            self.log[i].push(Output::CloseConnection);
                        }
                        Output::Connect => {
                            if let Some(to) = self.connects_to[i] {
                                if self.sessions[to].state() == State::Idle {
                                    self.sessions[i].handle(now, Input::TcpFailed);
                                } else {
                                    self.connect(i, to);
                                }
                            }
                            self.log[i].push(Output::Connect);
                        }
                        other => self.log[i].push(other),
                    }
                    // `resolve` agrees with `CollisionWon`; acting on it after every
                    // output covers both.
                    self.resolve_collisions();
                }
            }
            if !moved {
                break;
            }
        }
    }

    /// Advances time second by second, firing timers and pumping.
    pub fn run_for(&mut self, secs: u64) {
        for _ in 0..secs {
            self.now += Duration::from_secs(1);
            let now = self.now;
            for s in &mut self.sessions {
                s.handle_timeout(now);
            }
            self.pump();
        }
    }

    pub fn take_log(&mut self, i: usize) -> Vec<Output> {
        std::mem::take(&mut self.log[i])
    }
}

fn gr() -> GracefulRestartConfig {
    GracefulRestartConfig {
        restart_time: 120,
        restarting: false,
        notification: false,
        families: vec![(Family::Ipv4Unicast, true), (Family::Ipv6Unicast, true)],
    }
}

/// A (65001, 10.0.0.1) actively connects to B (65002, 10.0.0.2), which is passive.
fn pair() -> Net {
    let clock = Clock::new();
    let mut a = config();
    a.hold_time = 30;
    a.families = vec![Family::Ipv4Unicast, Family::Ipv6Unicast];
    a.graceful_restart = Some(gr());
    a.jitter_seed = 1;
    let mut b = SessionConfig::new(PEER_AS, PEER_ID, PeerAs::Fixed(LOCAL_AS));
    b.passive = true;
    b.hold_time = 9;
    b.families = vec![Family::Ipv6Unicast];
    b.graceful_restart = Some(gr());
    b.jitter_seed = 2;
    let mut net = Net::new(
        vec![Session::new(a).unwrap(), Session::new(b).unwrap()],
        clock.now,
    );
    net.connects_to[0] = Some(1);
    net
}

fn established_in(log: &[Output]) -> Option<Negotiated> {
    log.iter().find_map(|o| match o {
        Output::Established(n) => Some((**n).clone()),
        _ => None,
    })
}

fn bring_up(net: &mut Net) {
    let now = net.now;
    net.sessions[1].handle(now, Input::Start);
    net.sessions[0].handle(now, Input::Start);
    net.pump();
    assert_eq!(net.sessions[0].state(), State::Established);
    assert_eq!(net.sessions[1].state(), State::Established);
}

#[test]
fn two_sessions_establish_exchange_keepalives_and_updates() {
    let mut net = pair();
    bring_up(&mut net);
    let a = established_in(&net.take_log(0)).unwrap();
    let b = established_in(&net.take_log(1)).unwrap();
    // Negotiated the same way on both sides, mirrored.
    assert_eq!((a.hold_time, a.keepalive), (9, 3));
    assert_eq!((b.hold_time, b.keepalive), (9, 3));
    assert_eq!(a.families, vec![Family::Ipv6Unicast]);
    assert_eq!(b.families, vec![Family::Ipv6Unicast]);
    assert!(a.ebgp && b.ebgp && a.four_octet_as && a.graceful_restart);
    assert_eq!((a.peer_as, a.peer_id), (PEER_AS, PEER_ID));
    assert_eq!((b.peer_as, b.peer_id), (LOCAL_AS, LOCAL_ID));
    assert_eq!(
        net.sessions[1].connection_role(),
        Some(ConnectionRole::Incoming)
    );

    // Two minutes of keepalives every 3 s keep both hold timers (9 s) from expiring.
    net.run_for(120);
    for i in 0..2 {
        assert_eq!(net.sessions[i].state(), State::Established);
        let c = net.sessions[i].counters();
        assert!(c.messages_out.keepalive >= 40, "{c:?}");
        assert!(c.messages_in.keepalive >= 40, "{c:?}");
    }

    // An UPDATE from A arrives at B's routing layer.
    let eor = Update::end_of_rib(Family::Ipv6Unicast);
    let now = net.now;
    net.sessions[0]
        .send_message(now, &Message::Update(eor.clone()))
        .unwrap();
    net.pump();
    assert!(net.take_log(1).contains(&Output::Update(Box::new(eor))));
}

#[test]
fn graceful_stop_then_restart_then_deliberate_stop() {
    let mut net = pair();
    bring_up(&mut net);
    net.take_log(0);
    net.take_log(1);

    // SIGTERM: A closes without a NOTIFICATION; B keeps A's routes (RFC 4724).
    let now = net.now;
    net.sessions[0].handle(
        now,
        Input::Stop {
            graceful: true,
            notification: None,
        },
    );
    net.pump();
    let (reason, was_established, retain) = down(&net.take_log(1));
    assert_eq!(reason, DownReason::ConnectionLost);
    assert!(was_established && retain);
    assert_eq!(down(&net.take_log(0)).0, DownReason::GracefulStop);
    assert_eq!(net.sessions[1].counters().messages_in.notification, 0);
    assert_eq!(net.sessions[0].state(), State::Idle);
    assert_eq!(net.sessions[1].state(), State::Idle);

    // B goes back to listening after its idle hold; A starts again.
    net.run_for(2);
    assert_eq!(net.sessions[1].state(), State::Active);
    let now = net.now;
    net.sessions[0].handle(now, Input::Start);
    net.pump();
    assert_eq!(net.sessions[0].state(), State::Established);
    assert_eq!(net.sessions[1].state(), State::Established);
    net.take_log(0);
    net.take_log(1);

    // `bgpctl neighbor b down --message maintenance`: Cease with the message; B flushes.
    let msg = Notification::cease_with_message(cease::ADMIN_SHUTDOWN, "maintenance");
    let now = net.now;
    net.sessions[0].handle(
        now,
        Input::Stop {
            graceful: false,
            notification: Some(msg.clone()),
        },
    );
    net.pump();
    let (reason, was_established, retain) = down(&net.take_log(1));
    assert_eq!(reason, DownReason::NotificationReceived(msg));
    assert_eq!(
        reason.notification().unwrap().shutdown_message(),
        Some("maintenance")
    );
    assert!(was_established && !retain);
    // B waits the Cease hold before listening again; A stays down.
    net.run_for(30);
    assert_eq!(net.sessions[1].state(), State::Idle);
    net.run_for(60);
    assert_eq!(net.sessions[1].state(), State::Active);
    assert_eq!(net.sessions[0].state(), State::Idle);
    assert_eq!(net.sessions[0].counters().flaps, 2);
    assert_eq!(net.sessions[1].counters().established, 2);
}

#[test]
fn silent_peer_is_dropped_by_the_hold_timer_and_reconnects() {
    let mut net = pair();
    bring_up(&mut net);
    net.take_log(0);
    // B stops reading and writing: sever the link without telling anyone.
    for l in &mut net.links {
        l.open = false;
    }
    net.run_for(10);
    let log = net.take_log(0);
    let (reason, _, retain) = down(&log);
    assert_eq!(
        reason.notification().map(|n| (n.code, n.subcode)),
        Some((4, 0))
    );
    assert!(!retain);
    // Both restart on their own (idle hold, then connect retry) and meet again.
    net.run_for(60);
    assert_eq!(net.sessions[0].state(), State::Established);
    assert_eq!(net.sessions[1].state(), State::Established);
    assert_eq!(net.sessions[0].counters().established, 2);
}

#[test]
fn peer_identifier_is_shown() {
    let mut net = pair();
    bring_up(&mut net);
    assert_eq!(
        net.sessions[0].remote_open().map(|o| o.bgp_id),
        Some(Ipv4Addr::new(10, 0, 0, 2))
    );
}
