//! The monitor without I/O: what a collector's queue gets, in which order, and what an
//! overflow does.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bgp_wire::bmp::{self, flag, kind};
use bgp_wire::{Nlri, Update};
use tokio::sync::Notify;

use super::monitor::{Attach, CollectorCounters, Monitor};
use crate::exchange::commands::{self, CommandReceiver, CommandSender};
use crate::observe::{Observed, Observer};
use crate::session::{negotiate, DownReason, Negotiated, PeerAs, SessionConfig};

struct Peer {
    negotiated: Negotiated,
    opens: (bgp_wire::Open, bgp_wire::Open),
    commands: CommandSender,
    _rx: CommandReceiver,
}

fn peer(remote_as: u32) -> Peer {
    let ours = SessionConfig::new(64512, Ipv4Addr::new(192, 0, 2, 1), PeerAs::Fixed(remote_as));
    let theirs = SessionConfig::new(remote_as, Ipv4Addr::new(192, 0, 2, 9), PeerAs::Fixed(64512));
    let (local, remote) = (ours.build_open(), theirs.build_open());
    let negotiated = negotiate(&ours, &local, &remote).unwrap();
    let (commands, rx) = commands::channel();
    Peer {
        negotiated,
        opens: (local, remote),
        commands,
        _rx: rx,
    }
}

fn up(m: &Monitor, key: u32, p: &Peer) {
    let local: SocketAddr = "192.0.2.1:179".parse().unwrap();
    let remote: SocketAddr = "192.0.2.9:40000".parse().unwrap();
    m.observe(&Observed::PeerUp {
        key,
        name: "vbr",
        address: remote.ip(),
        local_address: Some(local.ip()),
        endpoints: Some((local, remote)),
        opens: (&p.opens.0, &p.opens.1),
        negotiated: &p.negotiated,
        commands: &p.commands,
    });
}

fn update(prefix: &str) -> Update {
    let mut u = Update::default();
    u.withdrawn.push(Nlri::new(prefix.parse().unwrap()));
    u
}

fn attach(m: &Monitor, id: u64, limit: usize) -> (Arc<CollectorCounters>, usize) {
    let counters = Arc::new(CollectorCounters::default());
    let (refresh, _) = m.attach(Attach {
        id,
        adj_rib_out: false,
        limit,
        ready: Arc::new(Notify::new()),
        counters: counters.clone(),
    });
    (counters, refresh.len())
}

/// The types of the messages taken for collector `id`, with the peer flags.
fn taken(m: &Monitor, id: u64) -> (Vec<(u8, u8)>, bool) {
    let t = m.take(id);
    let mut kinds = Vec::new();
    for b in &t.messages {
        let mut rest = &b[..];
        while let Some((msg, used)) = bmp::split(rest).unwrap() {
            kinds.push((msg.kind, msg.peer.map_or(0, |p| p.0)));
            rest = &rest[used..];
        }
        assert!(rest.is_empty());
    }
    (kinds, t.overflowed)
}

#[test]
fn a_late_collector_gets_the_peer_ups_then_the_events_in_order() {
    let m = Monitor::default();
    let (a, b) = (peer(65093), peer(65094));
    up(&m, 1, &a);
    up(&m, 2, &b);
    // Nobody attached: the UPDATE is not encoded for anyone.
    m.observe(&Observed::Received {
        key: 1,
        update: &update("198.51.100.0/24"),
    });
    let (_, refresh) = attach(&m, 7, 1 << 20);
    assert_eq!(refresh, 2, "both sessions are asked for their routes again");
    m.observe(&Observed::Received {
        key: 2,
        update: &update("203.0.113.0/24"),
    });
    m.observe(&Observed::PeerDown {
        key: 1,
        reason: &DownReason::ConnectionLost,
    });
    // After its Peer Down a session's late events are not reported.
    m.observe(&Observed::Received {
        key: 1,
        update: &update("198.51.100.0/24"),
    });
    let (kinds, overflowed) = taken(&m, 7);
    assert!(!overflowed);
    assert_eq!(
        kinds,
        [
            (kind::PEER_UP, 0),
            (kind::PEER_UP, 0),
            (kind::ROUTE_MONITORING, 0),
            (kind::PEER_DOWN, 0)
        ]
    );
    m.detach(7);
    assert!(m.take(7).messages.is_empty());
}

#[test]
fn a_full_queue_is_dropped_counted_and_marked_for_a_resync() {
    let m = Monitor::default();
    let a = peer(65093);
    up(&m, 1, &a);
    let (counters, _) = attach(&m, 1, 400);
    for i in 0..20 {
        m.observe(&Observed::Received {
            key: 1,
            update: &update(&format!("198.51.{i}.0/24")),
        });
    }
    let (kinds, overflowed) = taken(&m, 1);
    assert!(overflowed);
    assert!(kinds.is_empty(), "what was queued is dropped: {kinds:?}");
    // The Peer Up and the UPDATEs that fitted, and every one after the overflow.
    assert_eq!(counters.dropped.load(Ordering::Relaxed), 21);
    // Another collector is not disturbed.
    let (_, _) = attach(&m, 2, 1 << 20);
    m.observe(&Observed::Received {
        key: 1,
        update: &update("198.51.200.0/24"),
    });
    let (kinds, overflowed) = taken(&m, 2);
    assert!(!overflowed);
    assert_eq!(kinds.len(), 2);
}

#[test]
fn a_two_byte_as_peer_sets_the_a_flag_and_statistics_name_every_peer() {
    let m = Monitor::default();
    let mut a = peer(65093);
    a.negotiated.four_octet_as = false;
    up(&m, 1, &a);
    attach(&m, 3, 1 << 20);
    m.observe(&Observed::Received {
        key: 1,
        update: &update("198.51.100.0/24"),
    });
    let stats = std::collections::HashMap::from([(1, super::monitor::PeerStats::default())]);
    m.queue_statistics(3, &stats);
    let (kinds, _) = taken(&m, 3);
    assert_eq!(
        kinds,
        [
            (kind::PEER_UP, 0),
            (kind::ROUTE_MONITORING, flag::LEGACY_AS_PATH),
            (kind::STATISTICS_REPORT, 0)
        ]
    );
}

#[test]
fn what_was_sent_is_reported_only_to_adj_rib_out_collectors() {
    let m = Monitor::default();
    let a = peer(65093);
    up(&m, 1, &a);
    attach(&m, 1, 1 << 20);
    let counters = Arc::new(CollectorCounters::default());
    m.attach(Attach {
        id: 2,
        adj_rib_out: true,
        limit: 1 << 20,
        ready: Arc::new(Notify::new()),
        counters,
    });
    let ctx = bgp_wire::Context::four_octet();
    let mut sent = bytes::BytesMut::new();
    bgp_wire::encode_update(&update("198.51.100.0/24"), &ctx, &mut sent).unwrap();
    bgp_wire::encode(&bgp_wire::Message::Keepalive, &ctx, &mut sent).unwrap();
    bgp_wire::encode_update(&update("198.51.101.0/24"), &ctx, &mut sent).unwrap();
    m.observe(&Observed::Sent {
        key: 1,
        messages: &sent,
    });
    assert_eq!(taken(&m, 1).0, [(kind::PEER_UP, 0)]);
    let out = flag::ADJ_RIB_OUT | flag::POST_POLICY;
    assert_eq!(
        taken(&m, 2).0,
        [
            (kind::PEER_UP, 0),
            (kind::ROUTE_MONITORING, out),
            (kind::ROUTE_MONITORING, out)
        ]
    );
}

/// A session that goes down while a collector attaches: the collector must never get a
/// second Peer Up for it without a Peer Down in between (its Peer Down lost).
#[test]
fn a_peer_down_during_attach_is_not_lost() {
    let m = Arc::new(Monitor::default());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flapper = {
        let (m, stop) = (m.clone(), stop.clone());
        std::thread::spawn(move || {
            let a = peer(65093);
            let mut flaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                up(&m, 1, &a);
                m.observe(&Observed::PeerDown {
                    key: 1,
                    reason: &DownReason::ConnectionLost,
                });
                flaps += 1;
            }
            flaps
        })
    };
    let start = std::time::Instant::now();
    let mut broken = None;
    let mut id = 100;
    // Broken, it failed within 2-18 ms; a second of attaching keeps the suite fast.
    while start.elapsed() < std::time::Duration::from_secs(1) && broken.is_none() {
        id += 1;
        let _ = attach(&m, id, 1 << 30);
        for _ in 0..2000 {
            std::hint::spin_loop();
        }
        let (kinds, _) = taken(&m, id);
        m.detach(id);
        let seq: Vec<u8> = kinds
            .iter()
            .map(|k| k.0)
            .filter(|k| *k == kind::PEER_UP || *k == kind::PEER_DOWN)
            .collect();
        if seq.windows(2).any(|w| w[0] == w[1]) {
            broken = Some((id - 100, seq));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let flaps = flapper.join().unwrap();
    assert!(
        broken.is_none(),
        "after {:?} ({flaps} flaps), attach #{:?}: Peer Up/Down sequence {:?} (3 = Up, 2 = Down)",
        start.elapsed(),
        broken.as_ref().map(|b| b.0),
        broken.as_ref().map(|b| &b.1[..b.1.len().min(12)])
    );
}
