//! BFD interop: bgpd against FRR's bfdd and against BIRD 2's BFD, single-hop on one /30.
//! The session comes up (both CLIs agree, discriminators crossed, 300 ms x 3 in use), then
//! the peer's interface drops every packet (nftables): both sides must say Down within 2 s
//! and bgpd must have closed the BGP session; then everything comes back.
//!
//! ```text
//!   ns edge (bgpd, up0 203.0.113.1/30) ── ns peer (FRR zebra+bfdd+bgpd or BIRD 2, eth0 203.0.113.2/30)
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::{Duration, Instant};

use lab_tests::{run_with_limit, skip, wait_until, Tool};

#[path = "common/bfd_pair.rs"]
mod bfd_pair;

use bfd_pair::{with_bird, with_frr, with_frr_extra, Pair, Peer, EDGE, PEER};

/// tcpdump on the edge's interface for `secs`: bgpd's BFD packets, verbose.
fn capture(p: &Pair, secs: u32) -> String {
    let o = p
        .lab
        .run(
            &p.edge_ns,
            "timeout",
            &[
                &secs.to_string(),
                "tcpdump",
                "-l",
                "-n",
                "-v",
                "-i",
                "up0",
                "udp dst port 3784 and src host 203.0.113.1",
            ],
        )
        .unwrap();
    o.stdout
}

/// BFD packets in `tcpdump -v` output: (source address, State Up, flags, Desired Min TX ms).
fn bfd_packets(cap: &str) -> Vec<(String, bool, String, Option<u32>)> {
    let mut out: Vec<(String, bool, String, Option<u32>)> = Vec::new();
    for l in cap.lines() {
        if let Some((src, _)) = l.trim().split_once(" > ") {
            let addr = src.rsplit_once('.').map_or(src, |(a, _)| a);
            out.push((addr.to_owned(), false, String::new(), None));
        } else if let Some(last) = out.last_mut() {
            if l.contains("State ") {
                last.1 = l.contains("State Up");
                last.2 = l
                    .split_once("Flags: [")
                    .and_then(|(_, r)| r.split_once(']'))
                    .map(|(f, _)| f.to_owned())
                    .unwrap_or_default();
            } else if l.contains("Desired min Tx Interval") {
                last.3 = l
                    .split_whitespace()
                    .rev()
                    .nth(1)
                    .and_then(|v| v.parse().ok());
            }
        }
    }
    out
}

/// The failure and the recovery, same for every peer.
fn fail_and_recover(p: &mut Pair, check_slow_timers: bool) {
    p.wait_up("BFD and BGP up on both sides");
    let b = p.bgpd.bfd_session("peer").unwrap().unwrap();
    assert_eq!(
        (b.tx_interval_ms, b.detect_time_ms, b.flaps),
        (300, 900, 0),
        "{b:?}"
    );
    assert!(b.uptime_secs.is_some(), "{b:?}");
    match &p.peer {
        Peer::Frr(f) => {
            let fp = f.bfd_peer(EDGE).unwrap().unwrap();
            // Single-hop unless FRR made it multi-hop (GTSM), and bgpd agrees.
            assert_eq!(
                b.raw["multihop"],
                serde_json::Value::Bool(fp.multihop),
                "{b:?} / {fp:?}"
            );
            assert_eq!(b.remote_discriminator, fp.id, "{b:?} / {fp:?}");
            assert_eq!(fp.remote_id, b.local_discriminator, "{b:?} / {fp:?}");
            assert_eq!(
                (fp.remote_rx_ms, fp.remote_tx_ms, fp.remote_multiplier),
                (300, 300, 3),
                "what FRR hears from bgpd: {fp:?}"
            );
        }
        Peer::Bird(bird) => {
            let s = bird.bfd_sessions().unwrap();
            let s = s.iter().find(|s| s.address == EDGE).unwrap();
            assert!(
                (s.interval - 0.3).abs() < 1e-6 && (s.timeout - 0.9).abs() < 1e-6,
                "BIRD's timers with bgpd: {s:?}"
            );
            assert_ne!(b.remote_discriminator, 0, "{b:?}");
        }
    }

    // Graceful restart is negotiated and the peer's route is in: a failed path must still
    // take it away at once (RFC 5882 4.3.2: not kept stale).
    let caps = p.bgpd.ctl(&["show", "neighbor", PEER]).unwrap();
    let caps = if caps.is_array() {
        caps[0].clone()
    } else {
        caps
    };
    assert!(
        caps["capabilities"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c
                .as_str()
                .is_some_and(|c| c.starts_with("graceful-restart")))),
        "graceful restart not negotiated: {caps}"
    );
    p.wait_route(true);

    // The peer's interface drops everything: both sides must notice within 2 s.
    let t0 = Instant::now();
    p.lab.blackhole_link(&p.peer_ns, "eth0").unwrap();
    let (mut ours, mut theirs) = (None, None);
    while t0.elapsed() < Duration::from_secs(3) && (ours.is_none() || theirs.is_none()) {
        if ours.is_none() && p.bgpd_state().unwrap().0 == "down" {
            ours = Some(t0.elapsed());
        }
        if theirs.is_none() && p.peer.state().unwrap().0 == "down" {
            theirs = Some(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("bfd-interop: bgpd down after {ours:?}, the peer after {theirs:?}");
    let limit = Duration::from_secs(2);
    assert!(
        ours.is_some_and(|d| d < limit),
        "bgpd: {ours:?}{}",
        p.state()
    );
    assert!(
        theirs.is_some_and(|d| d < limit),
        "peer: {theirs:?}{}",
        p.state()
    );
    // The BGP session went with it (hold time 9 s: only BFD can have closed it).
    std::thread::sleep(Duration::from_millis(300));
    let (bfd, established) = p.bgpd_state().unwrap();
    assert!(!established, "bgpd kept BGP up with BFD {bfd}{}", p.state());
    let (_, peer_established) = p.peer.state().unwrap();
    assert!(!peer_established, "the peer kept BGP up{}", p.state());
    let rib = p.bgpd.rib(&[]).unwrap();
    assert!(
        rib.iter().all(|r| r.source != "peer"),
        "routes from the peer kept after BFD down: {rib:?}"
    );
    let b = p.bgpd.bfd_session("peer").unwrap().unwrap();
    assert_eq!(b.flaps, 1, "{b:?}");
    assert!(b.uptime_secs.is_none(), "{b:?}");
    eprintln!("bfd-interop: bgpd's diagnostic: {:?}", b.diagnostic);

    // RFC 5880 6.8.3: while not Up, at most one packet a second; TTL 255, source port
    // 49152-65535 (RFC 5881).
    if check_slow_timers {
        let cap = capture(p, 4);
        let packets: Vec<&str> = cap.lines().filter(|l| l.contains("ttl")).collect();
        assert!(
            (2..=6).contains(&packets.len()),
            "{} BFD packets from bgpd in 4 s while down:\n{cap}",
            packets.len()
        );
        for l in &packets {
            assert!(l.contains("ttl 255"), "{l}\n{cap}");
        }
        for l in cap.lines().filter(|l| l.contains(" > 203.0.113.2.3784")) {
            let port: u32 = l
                .split_whitespace()
                .find_map(|w| w.strip_prefix("203.0.113.1."))
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            assert!((49152..=65535).contains(&port), "source port: {l}");
        }
        let tx: Vec<u32> = cap
            .lines()
            .filter(|l| l.contains("Desired min Tx Interval"))
            .filter_map(|l| l.split_whitespace().rev().nth(1)?.parse().ok())
            .collect();
        assert!(
            !tx.is_empty() && tx.iter().all(|t| *t >= 1000),
            "Desired Min TX while down: {tx:?}\n{cap}"
        );
    }

    // The way back up is recorded both ways: bgpd must leave the slow timers with a Poll
    // sequence (RFC 5880 6.8.3), answered by the peer's Final.
    let edge_ns = p.edge_ns.clone();
    let dump = p
        .lab
        .spawn(
            "tcpdump-up",
            &edge_ns,
            "tcpdump",
            &[
                "-l",
                "-n",
                "-v",
                "-i",
                "up0",
                "udp port 3784 or udp port 4784",
            ],
            &[],
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    p.lab.restore_link(&p.peer_ns).unwrap();
    let t1 = Instant::now();
    p.wait_up("BFD and BGP back on both sides");
    eprintln!(
        "bfd-interop: everything back {:.1?} after the repair",
        t1.elapsed()
    );
    std::thread::sleep(Duration::from_millis(500));
    p.lab.signal(dump, "INT").unwrap();
    let cap = std::fs::read_to_string(p.lab.path("tcpdump-up.log")).unwrap();
    let packets = bfd_packets(&cap);
    let poll = packets.iter().position(|(from, up, flags, tx)| {
        from == EDGE && *up && flags.contains("Poll") && *tx == Some(300)
    });
    assert!(
        poll.is_some(),
        "no Poll from bgpd with 300 ms once Up:\n{cap}"
    );
    // tcpdump 4.99 does not decode FRR's multi-hop packets (the GTSM case): there only
    // bgpd's side of the exchange can be read.
    let multihop = p.bgpd.bfd_session("peer").unwrap().unwrap().raw["multihop"]
        == serde_json::Value::Bool(true);
    let peer_decoded = packets
        .iter()
        .any(|(from, _, flags, tx)| from == PEER && (!flags.is_empty() || tx.is_some()));
    assert!(
        (multihop && !peer_decoded)
            || packets[poll.unwrap_or(0)..]
                .iter()
                .any(|(from, _, flags, _)| from == PEER && flags.contains("Final")),
        "no Final from the peer after bgpd's Poll:\n{cap}"
    );
    // And bgpd answers the peer's own Poll (FRR and BIRD poll too) with a Final.
    if let Some(theirs) = packets
        .iter()
        .position(|(from, _, flags, _)| from == PEER && flags.contains("Poll"))
    {
        assert!(
            packets[theirs..]
                .iter()
                .any(|(from, _, flags, _)| from == EDGE && flags.contains("Final")),
            "bgpd did not answer the peer's Poll with a Final:\n{cap}"
        );
    }
    let b = p.bgpd.bfd_session("peer").unwrap().unwrap();
    assert_eq!((b.flaps, b.tx_interval_ms), (1, 300), "{b:?}");
    p.wait_route(true);
}

#[test]
fn bgpd_and_frr_bfdd_detect_a_dead_link_together() {
    if skip("bfd_interop_frr", &[Tool::FrrBfd, Tool::Nft]) {
        return;
    }
    let mut p = with_frr("bfd = true");
    fail_and_recover(&mut p, true);
    peer_admin_down(&mut p);
}

/// FRR registers the BFD session of a neighbor with `ttl-security` as multi-hop (RFC 5883,
/// UDP 4784) although it is directly connected, as the seed's VBR is configured (TCP-MD5
/// and GTSM): bgpd answers on 4784 and the session still fails over.
#[test]
fn bgpd_answers_frr_multihop_bfd_on_a_gtsm_neighbor() {
    if skip("bfd_interop_frr_gtsm", &[Tool::FrrBfd, Tool::Nft]) {
        return;
    }
    let mut p = with_frr_extra(
        "bfd = true\nttl_security = 1",
        &format!(" neighbor {EDGE} ttl-security hops 1\n"),
    );
    p.wait_up("BFD and BGP up with GTSM (FRR multi-hop BFD)");
    let Peer::Frr(f) = &p.peer else {
        unreachable!()
    };
    let frr_view = f.vtysh("show bfd peers").unwrap_or_default();
    assert!(
        frr_view.contains("multihop"),
        "FRR runs multi-hop here:\n{frr_view}"
    );
    let b = p.bgpd.bfd_session("peer").unwrap().unwrap();
    assert_eq!(b.raw["multihop"], serde_json::Value::Bool(true), "{b:?}");
    fail_and_recover(&mut p, false);
}

/// RFC 5882 3.2: a peer that takes its BFD session administratively down (FRR's profile
/// `shutdown`) is not a failed path: bgpd's BFD session leaves Up, its BGP session stays.
fn peer_admin_down(p: &mut Pair) {
    let Peer::Frr(f) = &p.peer else { return };
    let conf = |cmds: &[&str]| {
        let mut c = Command::new("vtysh");
        c.arg("--vty_socket").arg(&f.vty);
        for cmd in cmds {
            c.args(["-c", cmd]);
        }
        let o = run_with_limit(c, Duration::from_secs(10)).unwrap();
        assert!(o.ok(), "vtysh {cmds:?}: {}{}", o.stdout, o.stderr);
    };
    conf(&["configure terminal", "bfd", "profile edge", "shutdown"]);
    let res = wait_until(Duration::from_secs(3), "bgpd to see AdminDown", || {
        Ok(p.bgpd_state()?.0 != "up")
    });
    if let Err(e) = res {
        panic!("{e}{}", p.state());
    }
    let seen = p.bgpd.bfd_session("peer").unwrap().unwrap();
    eprintln!(
        "bfd-interop: peer AdminDown: bgpd says {:?}, diagnostic {:?}",
        seen.state, seen.diagnostic
    );
    // Twice the detection time and more: BGP must still be up, the route still there.
    std::thread::sleep(Duration::from_secs(2));
    let (bfd, established) = p.bgpd_state().unwrap();
    assert!(
        established,
        "bgpd closed BGP on the peer's AdminDown (BFD {bfd}){}",
        p.state()
    );
    p.wait_route(true);
    conf(&["configure terminal", "bfd", "profile edge", "no shutdown"]);
    p.wait_up("BFD up again after the peer's AdminDown");
}

#[test]
fn bgpd_and_bird2_bfd_detect_a_dead_link_together() {
    if skip("bfd_interop_bird2", &[Tool::Bird2, Tool::Nft]) {
        return;
    }
    let mut p = with_bird("bfd = { min_rx = 300, min_tx = 300, multiplier = 3 }", None);
    fail_and_recover(&mut p, false);
}

/// Keyed SHA1 (RFC 5880 6.7.4) with BIRD 2: up, a dead link detected on both sides, back up.
#[test]
fn bgpd_and_bird2_bfd_with_keyed_sha1() {
    if skip("bfd_interop_bird2_sha1", &[Tool::Bird2, Tool::Nft]) {
        return;
    }
    let mut p = with_bird(
        "bfd = { min_rx = 300, min_tx = 300, multiplier = 3, auth = \"keyed-sha1\", key_id = 1, \
         password = \"lab-bfd-key\" }",
        Some("lab-bfd-key"),
    );
    fail_and_recover(&mut p, false);
}
