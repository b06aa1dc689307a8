//! Restarting bgpd with BFD on (SIGTERM, a graceful restart): before it stops, bgpd sets
//! every BFD session AdminDown and tells the neighbor, which must not take that for a failed
//! path (RFC 5882 section 3.2) and must keep our routes under graceful restart while bgpd is
//! away. Checked against FRR 8.4 (zebra + bfdd, the two-circuit lab, traffic watched) and
//! against BIRD 2 (the interop pair).
//!
//! `BFD_RESTARTS` (default 3) sets how many restarts the two-circuit test runs in one lab.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/bfd_pair.rs"]
mod bfd_pair;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use bfd_pair::{edge_config, with_bird_bfd, Peer, EDGE, EDGE_ROUTE};
use lab_tests::circuits::{circuits_edge_config, CircuitOptions, CircuitsLab};
use lab_tests::daemons::{find, Bgpd, Frr};
use lab_tests::hybrid::{POD_CIDR, VPC_HOST};
use lab_tests::watch::{Ping, Poller};
use lab_tests::{skip, wait_until, Lab, Tool};

/// One echo request every 20 ms.
const INTERVAL_MS: u32 = 20;

/// `show bgp neighbors ADDR json`, the neighbor's object.
fn frr_neighbor(f: &Frr, addr: &str) -> Value {
    let out = f.vtysh(&format!("show bgp neighbors {addr} json")).unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    v[addr].clone()
}

/// Polls FRR's table for `prefix` every 100 ms: a miss when no path is there; counts the
/// polls that saw it stale (graceful restart helper at work).
fn watch_frr_route(f: &Frr, prefix: &'static str, stale: Arc<AtomicU64>) -> Poller {
    let f = f.clone();
    Poller::start(Duration::from_millis(100), move || {
        let out = f.vtysh(&format!("show bgp ipv4 unicast {prefix} json"))?;
        let v: Value = serde_json::from_str(&out).unwrap_or_default();
        let paths = v["paths"].as_array().cloned().unwrap_or_default();
        if paths.iter().any(|p| p["stale"].as_bool() == Some(true)) {
            stale.fetch_add(1, Ordering::Relaxed);
        }
        Ok(paths
            .is_empty()
            .then(|| format!("{} has no {prefix}", f.name)))
    })
}

/// Records every change of FRR's BFD session with `peer` (status, diagnostic, remote id):
/// the timeline of a restart as FRR saw it.
fn watch_frr_bfd(f: &Frr, peer: &str) -> Poller {
    let (f, peer) = (f.clone(), peer.to_owned());
    let mut last = String::new();
    Poller::start(Duration::from_millis(50), move || {
        let now = match f.bfd_peer(&peer)? {
            Some(p) => format!("{} ({}) remote-id {}", p.status, p.diagnostic, p.remote_id),
            None => "no session".to_owned(),
        };
        if now == last {
            return Ok(None);
        }
        last.clone_from(&now);
        Ok(Some(now))
    })
}

/// BFD control packets in `tcpdump -v` output sent by `from` with `State AdminDown`.
fn admin_downs(cap: &str, from: &str) -> usize {
    let mut n = 0;
    let mut ours = false;
    for l in cap.lines() {
        if let Some((src, _)) = l.trim().split_once(" > ") {
            ours = src.starts_with(&format!("{from}."));
        } else if ours && l.contains("State AdminDown") {
            n += 1;
            ours = false;
        }
    }
    n
}

/// FRR 8.4.4 closes BGP (NOTIFICATION Cease/BFD Down, 6/10) when our BFD session goes down,
/// even on an AdminDown, and flushes our routes although graceful restart was negotiated.
/// So a restart hands the BFD sessions over instead (`bgpd/src/bfd/resume.rs`): before it
/// stops, bgpd asks FRR for 10 x 1 s of patience (a Poll Sequence), writes the sessions to
/// its state directory and goes silent; the next run continues them Up with the same
/// discriminators. FRR's BFD never leaves Up, its BGP session is closed by the TCP close
/// only (graceful restart keeps the aggregate stale), and no ping is lost, also with bgpd
/// down for 2.5 s, past FRR's normal detection time (0.9 s).
///
/// What happened before the hand-over, with an AdminDown on SIGTERM (tcpdump -vv on up1):
///
/// ```text
/// 15:58:30.309089 203.0.113.1.57100 > 203.0.113.2.3784: BFDv1, length: 24
///   Control, State AdminDown, Flags: [none], Diagnostic: Administratively Down (0x07)
///   My Discriminator: 0x3b509f0c, Your Discriminator: 0xf032026d
/// 15:58:30.309241 203.0.113.2.49153 > 203.0.113.1.3784: BFDv1, length: 24
///   Control, State Down, Flags: [none], Diagnostic: Neighbor Signaled Session Down (0x03)
/// 15:58:30.331509 203.0.113.1.57100 > 203.0.113.2.3784: (the same AdminDown again)
/// ```
///
/// bgpd's log: `session down neighbor=vbr1 reason=received Cease / BFD Down (6/10)` 2 ms
/// after `SIGTERM: closing sessions for graceful restart`. Loss per restart (down 1.5 s, 0 s,
/// 2.5 s): about 3.1 s, 1.6 s, 4.1 s. With the hand-over: none.
#[test]
fn frr_keeps_routes_and_traffic_across_bgpd_restarts_with_bfd() {
    frr_restarts(CircuitOptions::default());
}

/// FRR's `neighbor X bfd check-control-plane-failure` on the VBRs: FRR then ignores a BFD
/// down while graceful restart is negotiated and our C bit is clear (bgpd's BFD shares fate
/// with its BGP, so it is always clear), and the restarts lose nothing. The price is in
/// `bfd.rs`: the VBR ignores a real dead link as well.
#[test]
fn frr_with_check_control_plane_failure_keeps_routes_across_bgpd_restarts() {
    frr_restarts(CircuitOptions {
        check_control_plane: true,
        ..CircuitOptions::default()
    });
}

/// The control: the same restarts in the same lab without BFD lose nothing (FRR keeps the
/// aggregate stale under graceful restart), so what the BFD test loses is BFD's doing.
#[test]
fn frr_keeps_routes_and_traffic_across_bgpd_restarts_without_bfd() {
    frr_restarts(CircuitOptions {
        bfd: false,
        ..CircuitOptions::default()
    });
}

/// Seconds since the epoch (as `ping -D` prints them).
fn epoch() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Echo requests lost in each window (epoch seconds) of a `ping -D` log: every run of
/// missing sequence numbers whose last reply before it falls in the window, with the time it
/// stood for (see `SeqLoss::lost_ms`).
fn losses_in(log: &str, windows: &[(f64, f64)]) -> Vec<(u64, u64)> {
    let mut replies: Vec<(u64, f64)> = log
        .lines()
        .filter(|l| l.contains(" bytes from "))
        .filter_map(|l| {
            let seq = l
                .split_whitespace()
                .find_map(|w| w.strip_prefix("icmp_seq="))?
                .parse()
                .ok()?;
            let t = l.strip_prefix('[')?.split_once(']')?.0.parse().ok()?;
            Some((seq, t))
        })
        .collect();
    replies.sort_by_key(|r| r.0);
    replies.dedup_by_key(|r| r.0);
    let mut out = vec![(0u64, 0.0f64); windows.len()];
    for w in replies.windows(2) {
        let n = w[1].0 - w[0].0 - 1;
        if n == 0 {
            continue;
        }
        if let Some(i) = windows
            .iter()
            .position(|(a, b)| (*a..=*b).contains(&w[0].1))
        {
            out[i].0 += n;
            #[allow(clippy::cast_precision_loss)]
            let part = (w[1].1 - w[0].1).max(0.0) * n as f64 / (n + 1) as f64;
            out[i].1 += part;
        }
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    out.into_iter()
        .map(|(n, s)| (n, (s * 1000.0).round() as u64))
        .collect()
}

fn frr_restarts(opts: CircuitOptions) {
    let bfd = opts.bfd;
    let mut tools = vec![Tool::Bird16, Tool::FrrBfd, Tool::Ping, Tool::Tcpdump];
    if !bfd {
        tools.pop();
    }
    if skip("bfd_restart_frr", &tools) {
        return;
    }
    let restarts: usize = std::env::var("BFD_RESTARTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut c = CircuitsLab::up(Lab::new().unwrap(), opts).unwrap();
    if let Err(e) = c.wait_converged(Duration::from_secs(60)) {
        panic!("{e}\n{}\n{}", c.state(), c.lab.logs());
    }
    let config = circuits_edge_config(opts);
    let (edge_ns, node_ns, pod) = (c.edge_ns.clone(), c.node_ns.clone(), c.pod.clone());
    let vbr1 = c.vbrs[0].clone();
    let dropped0 = frr_neighbor(&vbr1.frr, &vbr1.edge_addr)["connectionsDropped"]
        .as_u64()
        .unwrap_or(0);

    let stale = Arc::new(AtomicU64::new(0));
    let routes: Vec<Poller> = c
        .vbrs
        .iter()
        .map(|v| watch_frr_route(&v.frr, POD_CIDR, stale.clone()))
        .collect();
    let timeline = bfd.then(|| watch_frr_bfd(&vbr1.frr, &vbr1.edge_addr));
    let ping = Ping::start(&mut c.lab, "ping", &node_ns, &pod, VPC_HOST, INTERVAL_MS).unwrap();
    std::thread::sleep(Duration::from_secs(1));

    // Down times: a restart at once, and pauses past FRR's detection time (0.9 s), where
    // only the AdminDown keeps FRR from taking our silence for a dead path.
    let pauses = [1500u64, 0, 2500];
    let t0 = Instant::now();
    let mut took = Vec::new();
    let mut bfd_resets = Vec::new();
    let mut windows = Vec::new();
    for k in 1..=restarts {
        let tag = format!("restart {k}");
        let before = c.edge.bfd_session("vbr1").unwrap();
        let dump = bfd.then(|| {
            c.lab
                .spawn(
                    &format!("tcpdump-{k}"),
                    &edge_ns,
                    "tcpdump",
                    &["-l", "-n", "-vv", "-i", "up1", "udp port 3784"],
                    &[],
                )
                .unwrap()
        });
        std::thread::sleep(Duration::from_millis(300));
        let t1 = Instant::now();
        let w0 = epoch();
        c.lab.signal(c.edge.proc, "TERM").unwrap();
        let stopped = t1.elapsed();
        std::thread::sleep(Duration::from_millis(pauses[(k - 1) % pauses.len()]));
        // FRR's view while bgpd is away.
        let away = vbr1.frr.bfd_peer(&vbr1.edge_addr).unwrap();
        let away_bgp = frr_neighbor(&vbr1.frr, &vbr1.edge_addr);
        c.edge = Bgpd::start(&mut c.lab, &format!("edge-{k}"), &edge_ns, &config).unwrap();
        if let Err(e) = c.wait_converged(Duration::from_secs(30)) {
            panic!("{tag}: {e}{}\n{}", c.state(), c.lab.logs());
        }
        let back = t1.elapsed();
        // The next SIGTERM only once this start's selection deferral is over: a session
        // that drops again before our End-of-RIB makes FRR flush what it kept (RFC 4724,
        // see `restart.rs`), with or without BFD.
        let edge = c.edge.clone();
        let res = wait_until(Duration::from_secs(20), "the deferral to end", || {
            let log = edge.log(&c.lab);
            Ok(log.contains("selection deferral over")
                || log.contains("selection deferral timer expired"))
        });
        if let Err(e) = res {
            panic!("{tag}: {e}\n{}", edge.log(&c.lab));
        }
        std::thread::sleep(Duration::from_millis(300));
        windows.push((w0 - 0.1, epoch()));
        // FRR's BGP session to the edge closed by the TCP close (graceful restart), never by
        // BFD; its BFD session back up with the new bgpd's discriminator.
        let n = frr_neighbor(&vbr1.frr, &vbr1.edge_addr);
        let reset = n["lastResetDueTo"].as_str().unwrap_or_default().to_owned();
        if reset.to_lowercase().contains("bfd") {
            bfd_resets.push(format!("{tag}: {reset}"));
        }
        let mut sent = 0;
        let mut discr = (0, 0);
        if let (Some(dump), Some(before)) = (dump, before) {
            // bgpd did not say AdminDown (FRR would close BGP on it): it handed the session
            // over to the next run, which kept its discriminator.
            c.lab.signal(dump, "INT").unwrap();
            let cap = std::fs::read_to_string(c.lab.path(&format!("tcpdump-{k}.log"))).unwrap();
            sent = admin_downs(&cap, &vbr1.edge_addr);
            assert_eq!(sent, 0, "{tag}: AdminDown from bgpd on up1:\n{cap}");
            let after = c.edge.bfd_session("vbr1").unwrap().unwrap();
            let fp = vbr1.frr.bfd_peer(&vbr1.edge_addr).unwrap().unwrap();
            assert_eq!(
                after.local_discriminator, before.local_discriminator,
                "{tag}: the new bgpd did not take the session over"
            );
            assert_eq!(fp.remote_id, after.local_discriminator, "{tag}: {fp:?}");
            assert_eq!(after.remote_discriminator, fp.id, "{tag}: {after:?}");
            assert_eq!(fp.status, "up", "{tag}: {fp:?}");
            discr = (before.local_discriminator, after.local_discriminator);
        }
        eprintln!(
            "bfd-restart: frr {opts:?} {tag}: pause={}ms stopped_in={stopped:.2?} converged_after={back:.2?} admin_down_sent={sent} frr_bfd_while_away={:?} frr_bgp_while_away={:?} frr_last_reset={reset:?} discr {}->{}",
            pauses[(k - 1) % pauses.len()],
            away.map(|p| format!("{} ({})", p.status, p.diagnostic)),
            away_bgp["bgpState"].as_str().unwrap_or_default(),
            discr.0,
            discr.1
        );
        took.push(back);
    }
    let total = t0.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let lost = ping.stop_seqs(&mut c.lab).unwrap();
    let each = losses_in(
        &std::fs::read_to_string(c.lab.path("ping.log")).unwrap_or_default(),
        &windows,
    );
    let misses: Vec<_> = routes.into_iter().flat_map(Poller::stop).collect();
    let timeline = timeline.map(Poller::stop);
    eprintln!("bfd-restart: frr {opts:?}: converged after {took:.2?}");
    let n = frr_neighbor(&vbr1.frr, &vbr1.edge_addr);
    let dropped = n["connectionsDropped"].as_u64().unwrap_or(0) - dropped0;
    let log = std::fs::read_to_string(c.lab.path("vbr1.frr.log")).unwrap_or_default();
    let bfd_lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("BFD") || l.contains("ADJCHANGE") || l.contains("NOTIFICATION"))
        .collect();
    eprintln!(
        "bfd-restart: frr {opts:?} restarts={restarts} in {total:.1?}: per restart (lost, ms) {each:?}; ping lost={} lost_ms={} gap={} sent={} received={}; vbr polls stale={} misses={}; frr connections dropped={dropped}",
        lost.missing,
        lost.lost_ms(u64::from(INTERVAL_MS)),
        lost.longest_gap,
        lost.transmitted,
        lost.received,
        stale.load(Ordering::Relaxed),
        misses.len()
    );
    eprintln!("bfd-restart: vbr1's BFD timeline: {timeline:?}");
    eprintln!("bfd-restart: vbr1's log:\n{}", bfd_lines.join("\n"));
    assert!(
        misses.is_empty(),
        "a VBR lost the pod aggregate: {misses:?}\n{}",
        bfd_lines.join("\n")
    );
    assert!(
        bfd_resets.is_empty() && !log.to_lowercase().contains("bfd down"),
        "vbr1 closed the session for BFD: {bfd_resets:?}\n{}",
        bfd_lines.join("\n")
    );
    assert_eq!(
        dropped, restarts as u64,
        "vbr1 closed the session more often than bgpd restarted"
    );
    assert!(
        stale.load(Ordering::Relaxed) > 0,
        "vbr1 never kept the aggregate stale: no graceful restart seen"
    );
    assert!(
        lost.first <= 5 && lost.transmitted.saturating_sub(lost.last) <= 5,
        "the ping did not get replies from start to end: {lost:?}"
    );
    assert_eq!(lost.missing, 0, "pings lost across the restarts: {lost:?}");
}

/// BIRD 2 as the BFD peer (`graceful restart on`, `bfd on`): after bgpd's SIGTERM, BIRD must
/// keep the route from bgpd (stale) rather than flush it on BFD down; then bgpd comes back.
///
/// BIRD 2.0.12 took an AdminDown for Down and flushed our route (`Error: BFD session down`,
/// 254 ms after the SIGTERM); with the hand-over (see the FRR test) its BFD session never
/// leaves Up while bgpd is away for 3 s.
#[test]
fn bird2_keeps_routes_across_a_bgpd_restart_with_bfd() {
    bird2_restart("bfd on");
}

/// The same with BIRD's `bfd graceful` (BFD down starts a graceful restart instead of closing
/// the session): BIRD keeps our route stale while bgpd restarts.
#[test]
fn bird2_with_bfd_graceful_keeps_routes_across_a_bgpd_restart() {
    bird2_restart("bfd graceful");
}

fn bird2_restart(bird_bfd: &str) {
    if skip("bfd_restart_bird2", &[Tool::Bird2, Tool::Tcpdump]) {
        return;
    }
    let bfd = "bfd = { min_rx = 300, min_tx = 300, multiplier = 3 }";
    let mut p = with_bird_bfd(bfd, None, bird_bfd);
    p.wait_up("BFD and BGP up on both sides");
    let Peer::Bird(bird) = &p.peer else {
        unreachable!()
    };
    let bird = bird.clone();
    let has_route = |b: &lab_tests::daemons::Bird| {
        b.routes()
            .map(|r| !find(&r, EDGE_ROUTE).is_empty())
            .unwrap_or(false)
    };
    let res = lab_tests::wait_until(
        Duration::from_secs(10),
        "BIRD to learn bgpd's route",
        || Ok(has_route(&bird)),
    );
    if let Err(e) = res {
        panic!("{e}{}", p.state());
    }
    let before = p.bgpd.bfd_session("peer").unwrap().unwrap();
    let edge_ns = p.edge_ns.clone();
    let dump = p
        .lab
        .spawn(
            "tcpdump",
            &edge_ns,
            "tcpdump",
            &["-l", "-n", "-vv", "-i", "up0", "udp port 3784"],
            &[],
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    p.lab.signal(p.bgpd.proc, "TERM").unwrap();
    // Past BIRD's detection time (0.9 s) and then some: the route must stay all along.
    let mut missing = Vec::new();
    let mut states = Vec::new();
    while t0.elapsed() < Duration::from_secs(3) {
        if !has_route(&bird) {
            missing.push(t0.elapsed());
        }
        let s = bird.bfd_sessions().unwrap_or_default();
        let s = s
            .iter()
            .find(|s| s.address == EDGE)
            .map(|s| s.state.clone());
        let proto = bird
            .birdc(&["show", "protocols", "edge"])
            .unwrap_or_default();
        let proto = proto.lines().last().unwrap_or_default().to_owned();
        let now = format!("BFD {s:?}, BGP {proto:?}");
        if states.last().map(|(_, l)| l) != Some(&now) {
            states.push((t0.elapsed(), now));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let route = bird
        .birdc(&["show", "route", "all", "for", EDGE_ROUTE])
        .unwrap_or_default();
    let log = p.lab.log_tail("peer.log", 40);
    eprintln!("bfd-restart: bird2 ({bird_bfd}) while bgpd is away: {states:?}\n{route}");
    p.bgpd = Bgpd::start(&mut p.lab, "edge-again", &edge_ns, &edge_config(bfd)).unwrap();
    p.wait_up("BFD and BGP back after the restart");
    let back = t0.elapsed();
    p.lab.signal(dump, "INT").unwrap();
    let cap = std::fs::read_to_string(p.lab.path("tcpdump.log")).unwrap();
    let after = p.bgpd.bfd_session("peer").unwrap().unwrap();
    eprintln!(
        "bfd-restart: bird2 ({bird_bfd}): back after {back:.2?}, admin_down_sent={}, discr {}->{}",
        admin_downs(&cap, EDGE),
        before.local_discriminator,
        after.local_discriminator
    );
    assert_eq!(
        admin_downs(&cap, EDGE),
        0,
        "AdminDown from bgpd on a restart:\n{cap}"
    );
    assert!(
        missing.is_empty(),
        "BIRD 2 dropped bgpd's route while bgpd restarted (at {missing:?}): {states:?}\n{log}"
    );
    assert_eq!(
        after.local_discriminator, before.local_discriminator,
        "the session was not taken over"
    );
    assert!(
        states.iter().all(|(_, s)| s.contains("Some(\"Up\")")),
        "BIRD's BFD left Up: {states:?}"
    );
    assert!(has_route(&bird), "{}", p.state());
}
