//! The I/O task for real: two tasks over loopback (each receiving on its own port and
//! sending to the other's) bring a session up, see an administrative down as no failure,
//! and detect the other going silent as one.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::timeout;

use super::api::{start_on, start_resuming, BfdEvent, BfdHandle, BfdPeer, Ports};
use super::machine::Transition;
use super::packet::{Diag, State};

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or(47_000)
}

/// Receiving on `listen`, sending to `peer`, no multi-hop.
fn ports(listen: u16, peer: u16) -> Ports {
    Ports {
        listen,
        peer,
        multihop_listen: None,
        multihop_peer: 0,
    }
}

fn peer() -> BfdPeer {
    BfdPeer {
        neighbor: "other".into(),
        address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        local: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        settings: config::Bfd {
            min_rx: Duration::from_millis(50),
            min_tx: Duration::from_millis(50),
            multiplier: 3,
            auth: None,
        },
        enabled: true,
    }
}

type Events = mpsc::UnboundedReceiver<BfdEvent>;

/// Two tasks and the ports they listen on (a handle dropped ends its task: bind both).
struct Two {
    p: u16,
    q: u16,
    a: BfdHandle,
    a_events: Events,
    b: BfdHandle,
}

/// Two tasks on fresh ports (`a` on `p`, `b` on `q`), each with `peer` (the other), both Up.
async fn two_up(peer: BfdPeer) -> Two {
    let (p, q) = (free_port(), free_port());
    let (a_tx, mut a_events) = mpsc::unbounded_channel();
    let (b_tx, mut b_events) = mpsc::unbounded_channel();
    let a = start_on(ports(p, q), a_tx);
    let b = start_on(ports(q, p), b_tx);
    a.configure(vec![peer.clone()]).await;
    b.configure(vec![peer]).await;
    until(&mut a_events, State::Up, Duration::from_secs(5)).await;
    until(&mut b_events, State::Up, Duration::from_secs(5)).await;
    Two {
        p,
        q,
        a,
        a_events,
        b,
    }
}

/// The next transition to `to`, skipping others; fails after `limit`.
async fn until(
    events: &mut mpsc::UnboundedReceiver<BfdEvent>,
    to: State,
    limit: Duration,
) -> Transition {
    let wait = async {
        while let Some(e) = events.recv().await {
            if e.transition.to == to {
                return Some(e.transition);
            }
        }
        None
    };
    match timeout(limit, wait).await {
        Ok(Some(t)) => t,
        other => panic!("no transition to {to} within {limit:?}: {other:?}"),
    }
}

#[tokio::test]
async fn two_tasks_come_up_and_detect_silence() {
    // Up within the slow start (packets once a second until Up).
    let Two {
        a, mut a_events, b, ..
    } = two_up(peer()).await;
    let rows = a.show().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status.state, State::Up);
    assert_ne!(rows[0].status.remote_discriminator, 0);

    // b stops its session: it says AdminDown, which is no failure of the path.
    b.configure(Vec::new()).await;
    let t = until(&mut a_events, State::Down, Duration::from_secs(2)).await;
    assert_eq!((t.diag, t.path_failed), (Diag::NEIGHBOR_DOWN, false));
    // And keeps saying so for a's detection time (RFC 5880 6.8.16), not just once.
    let heard = a.show().await[0].status.packets_in;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let later = a.show().await[0].status.packets_in;
    assert!(later >= heard + 2, "AdminDown repeated: {heard} -> {later}");

    b.configure(vec![peer()]).await;
    until(&mut a_events, State::Up, Duration::from_secs(5)).await;
    // Let the Poll Sequences settle on 50 ms, then b disappears without a word.
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(b);
    let started = std::time::Instant::now();
    let t = until(&mut a_events, State::Down, Duration::from_secs(2)).await;
    let took = started.elapsed();
    assert_eq!(
        (t.diag, t.path_failed),
        (Diag::DETECTION_TIME_EXPIRED, true)
    );
    // Detection time 3 × 50 ms, plus the task's scheduling.
    assert!(took < Duration::from_millis(400), "{took:?}");
    let rows = a.show().await;
    assert_eq!(
        (rows[0].status.state, rows[0].status.flaps),
        (State::Down, 2)
    );
}

#[tokio::test]
async fn authenticated_sessions_come_up_and_a_wrong_key_is_refused() {
    let keyed = |key: &[u8]| {
        let mut p = peer();
        p.settings.auth = config::BfdAuth::new(true, 3, key);
        p
    };
    // Up within the slow start (packets once a second until Up).
    let Two {
        a, mut a_events, b, ..
    } = two_up(keyed(b"bfd-secret")).await;
    // b changes its key: a drops b's packets and detects the silence.
    b.configure(vec![keyed(b"other-key")]).await;
    let t = until(&mut a_events, State::Down, Duration::from_secs(2)).await;
    assert_eq!(
        (t.diag, t.path_failed),
        (Diag::DETECTION_TIME_EXPIRED, true)
    );
    // Without authentication on b, a still refuses it: not one of b's packets is taken.
    b.configure(vec![peer()]).await;
    let before = a.show().await[0].status.clone();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let after = a.show().await[0].status.clone();
    assert_eq!(after.packets_in, before.packets_in, "{after:?}");
    assert_eq!((after.state, after.remote_discriminator), (State::Down, 0));
    a.configure(vec![peer()]).await;
    until(&mut a_events, State::Up, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_stopping_daemon_says_admin_down_which_is_no_failure() {
    // Up within the slow start (packets once a second until Up).
    let Two {
        a: _a,
        mut a_events,
        b,
        ..
    } = two_up(peer()).await;
    b.shutdown().await;
    let t = until(&mut a_events, State::Down, Duration::from_secs(2)).await;
    assert_eq!((t.diag, t.path_failed), (Diag::NEIGHBOR_DOWN, false));
}

#[tokio::test]
async fn a_neighbor_speaking_multihop_is_answered_on_its_port() {
    // b plays FRR with `ttl-security`: it sends to a's multi-hop port and listens where a's
    // multi-hop answers go.
    let (p, pm, q) = (free_port(), free_port(), free_port());
    let (a_tx, mut a_events) = mpsc::unbounded_channel();
    let (b_tx, mut b_events) = mpsc::unbounded_channel();
    let a = start_on(
        Ports {
            listen: p,
            peer: free_port(),
            multihop_listen: Some(pm),
            multihop_peer: q,
        },
        a_tx,
    );
    let b = start_on(ports(q, pm), b_tx);
    a.configure(vec![peer()]).await;
    b.configure(vec![peer()]).await;
    until(&mut a_events, State::Up, Duration::from_secs(5)).await;
    until(&mut b_events, State::Up, Duration::from_secs(5)).await;
    assert!(a.show().await[0].multihop);
    assert!(!b.show().await[0].multihop);
}

#[tokio::test]
async fn ipv6_sessions_come_up_with_hop_limit_255() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("skipped: no IPv6 loopback");
        return;
    }
    let six = || {
        let mut p = peer();
        p.address = IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
        p.local = Some(p.address);
        p
    };
    // Up within the slow start (packets once a second until Up).
    let Two {
        a: _a,
        mut a_events,
        b,
        ..
    } = two_up(six()).await;
    drop(b);
    let t = until(&mut a_events, State::Down, Duration::from_secs(2)).await;
    assert!(t.path_failed);
}

#[tokio::test]
async fn a_restart_hands_the_session_over_without_the_neighbor_noticing() {
    let dir = std::env::temp_dir().join(format!("bfd-handover-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Up within the slow start (packets once a second until Up).
    let Two {
        p,
        q,
        a,
        mut a_events,
        b,
        ..
    } = two_up(peer()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b_disc = a.show().await[0].status.remote_discriminator;
    // b "restarts": it asks a for a long detection time, writes its session, goes silent
    // for longer than a's normal detection time (3 x 50 ms), then a new run takes over.
    b.suspend(&dir).await;
    drop(b);
    let stretched = a.show().await[0].status.detect_time.unwrap_or_default();
    assert!(stretched >= Duration::from_secs(10), "{stretched:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (resumable, _) = super::resume::take(&dir);
    assert_eq!(resumable.len(), 1);
    let (b2_tx, mut b2_events) = mpsc::unbounded_channel();
    let b2 = start_resuming(ports(q, p), b2_tx, resumable);
    b2.configure(vec![peer()]).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    // a never left Up, and is back on the fast timers; b2 is Up with b's discriminator.
    assert!(a_events.try_recv().is_err(), "a saw a state change");
    let row = a.show().await[0].status.clone();
    assert_eq!(
        (row.state, row.flaps, row.remote_discriminator),
        (State::Up, 0, b_disc)
    );
    assert_eq!(row.detect_time, Some(Duration::from_millis(150)), "{row:?}");
    let row = b2.show().await[0].status.clone();
    assert_eq!((row.state, row.local_discriminator), (State::Up, b_disc));
    assert!(b2_events.try_recv().is_err(), "b2 saw a state change");
    let _ = std::fs::remove_dir_all(&dir);
}
