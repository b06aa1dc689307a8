//! Session FSM tests: every RFC 4271 section 8.2.2 transition, with a fixed `Instant` base
//! and time advanced by hand. No sockets, no sleeps.

mod collision;
mod established;
mod idle_connect_active;
mod negotiation;
mod open_states;
mod pair;
mod random;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bgp_wire::capability::Capability;
use bgp_wire::{decode, encode_to_bytes, Context, Message, Notification, Open};

use super::*;

pub(super) const LOCAL_AS: u32 = 65001;
pub(super) const PEER_AS: u32 = 65002;
pub(super) const LOCAL_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub(super) const PEER_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// A hand-driven clock: a fixed base and an offset.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    pub base: Instant,
    pub now: Instant,
}

impl Clock {
    pub fn new() -> Self {
        let base = Instant::now();
        Self { base, now: base }
    }

    pub fn advance(&mut self, secs: u64) -> Instant {
        self.now += Duration::from_secs(secs);
        self.now
    }

    pub fn at(&self, secs: u64) -> Instant {
        self.base + Duration::from_secs(secs)
    }
}

/// Our side: AS 65001, id 10.0.0.1, eBGP to 65002, hold 90.
pub(super) fn config() -> SessionConfig {
    SessionConfig::new(LOCAL_AS, LOCAL_ID, PeerAs::Fixed(PEER_AS))
}

/// The peer's OPEN with 4-octet AS, IPv4 unicast and route refresh.
pub(super) fn peer_open(hold_time: u16) -> Open {
    Open::new(
        PEER_AS,
        hold_time,
        PEER_ID,
        vec![
            Capability::Multiprotocol(bgp_wire::Family::Ipv4Unicast),
            Capability::RouteRefresh,
            Capability::FourOctetAs(PEER_AS),
        ],
    )
}

/// Wire bytes of a message (OPEN, KEEPALIVE and NOTIFICATION do not depend on context).
pub(super) fn wire(msg: &Message) -> Vec<u8> {
    encode_to_bytes(msg, &Context::four_octet())
        .unwrap()
        .to_vec()
}

pub(super) fn outputs(s: &mut Session) -> Vec<Output> {
    s.drain().collect()
}

/// The messages in a batch of outputs.
pub(super) fn sent(outs: &[Output]) -> Vec<Message> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send(b) => Some(decode(b, &Context::four_octet()).unwrap()),
            _ => None,
        })
        .collect()
}

/// The one NOTIFICATION sent in a batch.
pub(super) fn notification(outs: &[Output]) -> Notification {
    let sent = sent(outs);
    let found: Vec<&Notification> = sent
        .iter()
        .filter_map(|m| match m {
            Message::Notification(n) => Some(n),
            _ => None,
        })
        .collect();
    assert_eq!(found.len(), 1, "expected one NOTIFICATION in {outs:?}");
    found[0].clone()
}

pub(super) fn down(outs: &[Output]) -> (DownReason, bool, bool) {
    outs.iter()
        .find_map(|o| match o {
            Output::Down {
                reason,
                was_established,
                retain_routes,
            } => Some((reason.clone(), *was_established, *retain_routes)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Down in {outs:?}"))
}

pub(super) fn has(outs: &[Output], want: &Output) -> bool {
    outs.contains(want)
}

/// Start (active), connect, and stop in OpenSent with our OPEN drained.
pub(super) fn open_sent(cfg: SessionConfig, clock: &Clock) -> Session {
    let mut s = Session::new(cfg).unwrap();
    s.handle(clock.now, Input::Start);
    s.handle(clock.now, Input::TcpConnected(ConnectionRole::Outgoing));
    assert_eq!(s.state(), State::OpenSent);
    outputs(&mut s);
    s
}

/// OpenSent, then the peer's OPEN.
pub(super) fn open_confirm(cfg: SessionConfig, peer: Open, clock: &Clock) -> Session {
    let mut s = open_sent(cfg, clock);
    s.handle(clock.now, Input::Message(Message::Open(peer)));
    assert_eq!(s.state(), State::OpenConfirm, "{:?}", outputs(&mut s));
    outputs(&mut s);
    s
}

/// OpenConfirm, then the peer's KEEPALIVE.
pub(super) fn established(cfg: SessionConfig, peer: Open, clock: &Clock) -> Session {
    let mut s = open_confirm(cfg, peer, clock);
    s.handle(clock.now, Input::Message(Message::Keepalive));
    assert_eq!(s.state(), State::Established);
    outputs(&mut s);
    s
}
