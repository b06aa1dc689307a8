//! Two peer tasks in session over loopback, with the routing task's channel read by the
//! test: the liveness entry point (a fake BFD) and the observers (counted).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bgp_wire::Family;
use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::import::ImportContext;
use super::{spawn, PeerHandle, PeerSpec};
use crate::exchange::{ExportSettings, PeerCommand, PeerKey};
use crate::observe::{Observed, Observer, Observers};
use crate::routing::{PeerUp, RoutingInput};
use crate::session::{Backoff, GracefulRestartConfig, PeerAs, SessionConfig, State};
use crate::transport::SocketOptions;

const ASN: u32 = 64512;
const RESTART_TIME: u16 = 120;

/// Counts events per (kind, session).
#[derive(Default)]
struct Count(Mutex<HashMap<(&'static str, PeerKey), usize>>);

impl Count {
    fn of(&self, kind: &'static str, key: PeerKey) -> usize {
        let counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(&(kind, key)).copied().unwrap_or(0)
    }
}

impl Observer for Count {
    fn observe(&self, event: &Observed<'_>) {
        let (kind, key) = match event {
            Observed::PeerUp { key, .. } => ("up", *key),
            Observed::PeerDown { key, .. } => ("down", *key),
            Observed::Received { key, .. } => ("received", *key),
            Observed::Sent { key, .. } => ("sent", *key),
        };
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry((kind, key)).or_default() += 1;
    }
}

fn spec(
    key: PeerKey,
    id: &str,
    remote: SocketAddr,
    passive: bool,
    observers: &Observers,
) -> PeerSpec {
    let router_id: Ipv4Addr = id.parse().unwrap();
    let mut session = SessionConfig::new(ASN, router_id, PeerAs::Fixed(ASN));
    session.passive = passive;
    // Long enough that only a command restarts a session that went down.
    session.idle_hold = Backoff {
        initial: Duration::from_secs(60),
        max: Duration::from_secs(120),
    };
    session.graceful_restart = Some(GracefulRestartConfig {
        restart_time: RESTART_TIME,
        restarting: false,
        notification: false,
        families: vec![(Family::Ipv4Unicast, true)],
    });
    PeerSpec {
        key,
        name: format!("peer{key}"),
        remote,
        session,
        socket: SocketOptions::default(),
        import: ImportContext {
            neighbor: format!("peer{key}"),
            local_as: ASN,
            router_id,
            cluster_id: router_id,
            peer_as: ASN,
            ebgp: false,
            four_octet_as: true,
            policy: None,
            calico: None,
            drained: false,
        },
        export: ExportSettings {
            export_policy: None,
            rr_client: false,
            next_hop_self: false,
            link_local_next_hop: true,
            max_prefixes: None,
            max_prefixes_out: None,
            graceful_shutdown: false,
        },
        observers: observers.clone(),
        start: true,
    }
}

async fn next(rx: &mut mpsc::Receiver<RoutingInput>) -> RoutingInput {
    match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
        Ok(Some(input)) => input,
        other => panic!("no input for the routing task: {other:?}"),
    }
}

async fn peer_up(rx: &mut mpsc::Receiver<RoutingInput>) -> Box<PeerUp> {
    match next(rx).await {
        RoutingInput::PeerUp(up) => up,
        other => panic!("expected PeerUp, got {other:?}"),
    }
}

async fn peer_down(rx: &mut mpsc::Receiver<RoutingInput>) -> Duration {
    loop {
        match next(rx).await {
            RoutingInput::PeerDown { stale_for, .. } => return stale_for,
            RoutingInput::Update { .. } => {}
            other => panic!("expected PeerDown, got {other:?}"),
        }
    }
}

/// `a` connects to `b` (passive) through a listener the test owns.
async fn pair(observers: &Observers) -> [(PeerHandle, mpsc::Receiver<RoutingInput>); 2] {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b_addr = listener.local_addr().unwrap();
    // `b` never connects out; its remote's port is only a label.
    let a_addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9);
    let (a_tx, a_rx) = mpsc::channel(64);
    let (b_tx, b_rx) = mpsc::channel(64);
    let b = spawn(spec(2, "192.0.2.2", a_addr, true, observers), b_tx).unwrap();
    let a = spawn(spec(1, "192.0.2.1", b_addr, false, observers), a_tx).unwrap();
    let (stream, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .unwrap()
        .unwrap();
    b.commands
        .send(PeerCommand::Incoming(Box::new(stream)))
        .await
        .unwrap();
    [(a, a_rx), (b, b_rx)]
}

#[tokio::test]
async fn a_dead_path_drops_the_routes_where_a_lost_connection_keeps_them() {
    let observers = Observers::default();
    let count = Arc::new(Count::default());
    observers.subscribe(count.clone());
    let [(a, mut a_rx), (b, mut b_rx)] = pair(&observers).await;
    let a_up = peer_up(&mut a_rx).await;
    peer_up(&mut b_rx).await;
    assert!(a_up.negotiated.graceful_restart);

    // The routing task sends `b` an End-of-RIB through `a`'s queue.
    let end_of_rib = [&[0xff; 16][..], &[0, 23, 2, 0, 0, 0, 0]].concat();
    a_up.updates.try_send(Bytes::from(end_of_rib)).unwrap();
    match next(&mut b_rx).await {
        RoutingInput::Update { imported, .. } => {
            assert_eq!(imported.end_of_rib, Some(Family::Ipv4Unicast));
        }
        other => panic!("expected the End-of-RIB, got {other:?}"),
    }
    // And a route: 198.51.100.0/24 with ORIGIN, an empty AS_PATH, NEXT_HOP, LOCAL_PREF.
    let body: &[u8] = &[
        0, 0, 0, 21, // no withdrawals; 21 bytes of attributes
        0x40, 1, 1, 0, // ORIGIN IGP
        0x40, 2, 0, // AS_PATH
        0x40, 3, 4, 192, 0, 2, 1, // NEXT_HOP
        0x40, 5, 4, 0, 0, 0, 100, // LOCAL_PREF
        24, 198, 51, 100, // NLRI
    ];
    let length = u8::try_from(19 + body.len()).unwrap();
    let update = [&[0xff; 16][..], &[0, length, 2], body].concat();
    a_up.updates.try_send(Bytes::from(update)).unwrap();
    match next(&mut b_rx).await {
        RoutingInput::Update { imported, .. } => {
            assert_eq!(imported.announce.len(), 1, "{imported:?}")
        }
        other => panic!("expected the route, got {other:?}"),
    }
    assert_eq!(b.status.lock().unwrap().received, 1);

    // A fake BFD says the path from `b` is down: `b` drops `a`'s routes at once although
    // graceful restart was negotiated; `a` sees the connection close without NOTIFICATION
    // and keeps `b`'s routes for the restart time (it has no liveness monitor).
    b.commands
        .send(PeerCommand::PathDown { source: "test" })
        .await
        .unwrap();
    assert_eq!(peer_down(&mut b_rx).await, Duration::ZERO);
    assert_eq!(
        peer_down(&mut a_rx).await,
        Duration::from_secs(u64::from(RESTART_TIME))
    );
    let status = b.status.lock().unwrap().clone();
    assert_eq!(
        status.last_error.as_deref(),
        Some("forwarding path down (test)")
    );
    // What `show summary` and `bgp_prefixes_received` read: nothing from a peer that is down.
    assert_eq!(status.received, 0);

    for key in [1, 2] {
        assert_eq!(count.of("up", key), 1, "up of {key}");
        assert_eq!(count.of("down", key), 1, "down of {key}");
    }
    assert_eq!(count.of("sent", 1), 2);
    assert_eq!(count.of("received", 2), 2);
    assert_eq!(count.of("sent", 2) + count.of("received", 1), 0);

    // `b` waits out its idle hold; the operator's clear starts it at once (passive: Active).
    assert_eq!(b.status.lock().unwrap().state, State::Idle);
    b.commands.send(PeerCommand::Clear).await.unwrap();
    let started = tokio::time::timeout(Duration::from_secs(5), async {
        while b.status.lock().unwrap().state == State::Idle {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(started.is_ok(), "a clear left the idle session stopped");
    drop(a);
}
