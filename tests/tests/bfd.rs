//! Failover between two Express Connect circuits (the two-circuit lab, `lab_tests::circuits`):
//! pods on a Calico node ping a VPC host at 50 per second while the primary circuit dies
//! (every packet dropped with nftables on the VBR's side, the link left up, nothing closed).
//! With BFD (300 ms x 3) the edge must move to the backup circuit in about a second; with the
//! hold timer alone it takes the hold time. Both losses are printed, one line per cycle
//! (`bfd-lab: ...`, see `--nocapture` and `bench/failover`).
//!
//! `BFD_CYCLES` (default 5) sets how many failures the BFD test runs in one lab.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use lab_tests::circuits::{next_hop, CircuitOptions, CircuitsLab, VPC_NET};
use lab_tests::hybrid::{POD_CIDR, VPC_HOST};
use lab_tests::watch::{Ping, SeqLoss};
use lab_tests::{skip, Lab, Tool};

/// One echo request every 20 ms.
const INTERVAL_MS: u64 = 20;
/// With BFD, a failover must cost less than 2 s of traffic (detection 0.9 s + FIB update)...
const BFD_MAX_LOST_MS: u64 = 2000;
/// ... and fewer than 100 echo requests.
const BFD_MAX_LOST: u64 = BFD_MAX_LOST_MS / INTERVAL_MS;

const TOOLS: [Tool; 4] = [Tool::Bird16, Tool::FrrBfd, Tool::Ping, Tool::Nft];

fn converged(opts: CircuitOptions) -> CircuitsLab {
    let mut c = CircuitsLab::up(Lab::new().unwrap(), opts).unwrap();
    if let Err(e) = c.wait_converged(Duration::from_secs(60)) {
        panic!("{e}\n{}\n{}", c.state(), c.lab.logs());
    }
    c
}

fn ping(c: &mut CircuitsLab, name: &str) -> Ping {
    let (ns, pod) = (c.node_ns.clone(), c.pod.clone());
    #[allow(clippy::cast_possible_truncation)]
    Ping::start(&mut c.lab, name, &ns, &pod, VPC_HOST, INTERVAL_MS as u32).unwrap()
}

/// Stops a ping and checks that it measured something: replies from the start and until the
/// end (so no loss hides before the first or after the last reply).
fn stop(c: &mut CircuitsLab, p: Ping, what: &str) -> SeqLoss {
    let l = p.stop_seqs(&mut c.lab).unwrap();
    assert!(
        l.first <= 5 && l.transmitted.saturating_sub(l.last) <= 5,
        "{what}: the ping did not get replies from its start to its end: {l:?}{}",
        c.state()
    );
    l
}

/// Kills the primary circuit under a running ping; returns the loss and when the edge's FIB
/// moved to vbr2. The circuit stays dead.
fn fail_primary(c: &mut CircuitsLab, tag: &str, fib_limit: Duration) -> (SeqLoss, Duration) {
    let p = ping(c, &format!("ping-{tag}-fail"));
    std::thread::sleep(Duration::from_secs(1));
    c.lab
        .blackhole_link(&c.vbrs[0].ns, &c.vbrs[0].vbr_dev)
        .unwrap();
    let backup = c.vbrs[1].vbr_addr.clone();
    let fib = match c.wait_next_hop(VPC_NET, &backup, fib_limit) {
        Ok(d) => d,
        Err(e) => panic!("{tag}: {e}{}", c.state()),
    };
    // Long enough for the way back (the VBRs') to have moved as well.
    std::thread::sleep(Duration::from_secs(2));
    let lost = stop(c, p, &format!("{tag}: failover"));
    (lost, fib)
}

/// Brings the primary circuit back under a running ping; returns the loss and when the
/// edge's FIB was back on vbr1.
fn restore_primary(c: &mut CircuitsLab, tag: &str) -> (SeqLoss, Duration) {
    let p = ping(c, &format!("ping-{tag}-back"));
    std::thread::sleep(Duration::from_millis(500));
    c.lab.restore_link(&c.vbrs[0].ns).unwrap();
    let primary = c.vbrs[0].vbr_addr.clone();
    let back = match c.wait_next_hop(VPC_NET, &primary, Duration::from_secs(30)) {
        Ok(d) => d,
        Err(e) => panic!("{tag}: {e}{}", c.state()),
    };
    std::thread::sleep(Duration::from_millis(1500));
    let lost = stop(c, p, &format!("{tag}: failback"));
    (lost, back)
}

/// The edge's view while the primary is dead: its BGP session down and none of its routes
/// left (not kept stale).
fn check_primary_gone(c: &CircuitsLab, tag: &str) {
    let s = c.edge.sessions().unwrap();
    assert!(
        s.iter()
            .any(|x| x.name == "vbr1" && x.state != "established"),
        "{tag}: BGP session to vbr1 still up: {s:?}"
    );
    let rib = c.edge.rib(&[]).unwrap();
    assert!(
        rib.iter().all(|r| r.source != "vbr1"),
        "{tag}: routes from vbr1 kept: {rib:?}"
    );
    // The way back: vbr1 sends the pods' traffic to vbr2 over the CEN.
    let nh = next_hop(&c.lab, &c.vbrs[0].ns, POD_CIDR).unwrap();
    assert_eq!(nh, "198.51.100.2", "{tag}: vbr1's way back{}", c.state());
}

/// `METRIC{neighbor="NAME",...}` from the edge's metrics endpoint.
fn metric(c: &CircuitsLab, metric: &str, name: &str) -> Option<f64> {
    let o = c
        .lab
        .run(
            &c.edge_ns,
            "curl",
            &["-s", "--max-time", "5", "http://127.0.0.1:9179/metrics"],
        )
        .ok()?;
    o.stdout
        .lines()
        .find(|l| {
            l.starts_with(&format!("{metric}{{")) && l.contains(&format!("neighbor=\"{name}\""))
        })
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
}

fn median(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

#[test]
fn bfd_moves_traffic_to_the_backup_circuit_in_about_a_second() {
    if skip("bfd_failover", &TOOLS) {
        return;
    }
    let cycles: usize = std::env::var("BFD_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let mut c = converged(CircuitOptions::default());
    let start = Instant::now();
    let mut lost_ms = Vec::new();
    for k in 1..=cycles {
        let tag = format!("c{k}");
        let (lost, fib) = fail_primary(&mut c, &tag, Duration::from_secs(5));

        // Both ends of the dead circuit say Down; the other circuit is untouched.
        let b = c.edge.bfd_session("vbr1").unwrap();
        let b = b.unwrap_or_else(|| panic!("{tag}: no BFD session vbr1{}", c.state()));
        assert_eq!(b.state, "down", "{tag}: {b:?}");
        assert!(b.flaps >= k as u64, "{tag}: flaps: {b:?}");
        assert!(b.uptime_secs.is_none(), "{tag}: uptime while down: {b:?}");
        let diag = b.diagnostic.clone();
        let far = c.vbrs[0].frr.bfd_peer(&c.vbrs[0].edge_addr).unwrap();
        assert_eq!(
            far.as_ref().map(|p| p.status.as_str()),
            Some("down"),
            "{tag}: FRR's view: {far:?}"
        );
        let other = c.edge.bfd_session("vbr2").unwrap();
        assert_eq!(
            other.as_ref().map(|s| s.state.as_str()),
            Some("up"),
            "{tag}: {other:?}"
        );
        check_primary_gone(&c, &tag);
        if k == 1 {
            let m = |name: &str, n: &str| metric(&c, name, n);
            assert_eq!(m("bgp_bfd_session_up", "vbr1"), Some(0.0));
            assert_eq!(m("bgp_bfd_session_up", "vbr2"), Some(1.0));
            let changes = m("bgp_bfd_state_changes_total", "vbr1");
            assert!(changes.is_some_and(|v| v >= 2.0), "{changes:?}");
            assert_eq!(m("bgp_bfd_detect_time_seconds", "vbr2"), Some(0.9));
            let table = c.edge.ctl_text(&["show", "bfd"]).unwrap();
            assert!(
                table
                    .lines()
                    .any(|l| l.starts_with("vbr1") && l.contains("down")),
                "{table}"
            );
        }

        let (back_lost, back) = restore_primary(&mut c, &tag);
        // Everything is back as before, BFD with the configured timers.
        if let Err(e) = c.wait_converged(Duration::from_secs(30)) {
            panic!("{tag}: {e}{}", c.state());
        }
        let b = c.edge.bfd_session("vbr1").unwrap().unwrap();
        let p = c.vbrs[0]
            .frr
            .bfd_peer(&c.vbrs[0].edge_addr)
            .unwrap()
            .unwrap();
        assert_eq!(b.remote_discriminator, p.id, "{tag}: {b:?} / {p:?}");
        assert_eq!(p.remote_id, b.local_discriminator, "{tag}: {b:?} / {p:?}");
        assert_eq!(
            (b.tx_interval_ms, b.detect_time_ms),
            (300, 900),
            "{tag}: {b:?}"
        );
        assert_eq!(
            (p.remote_rx_ms, p.remote_tx_ms, p.remote_multiplier),
            (300, 300, 3),
            "{tag}: what FRR hears from bgpd: {p:?}"
        );
        eprintln!(
            "bfd-lab: bfd=on cycle={k} lost={} lost_ms={} gap={} fib_ms={} back_lost={} back_ms={} diag={:?}",
            lost.missing,
            lost.lost_ms(INTERVAL_MS),
            lost.longest_gap,
            fib.as_millis(),
            back_lost.missing,
            back.as_millis(),
            diag
        );
        assert!(
            lost.missing < BFD_MAX_LOST && lost.lost_ms(INTERVAL_MS) < BFD_MAX_LOST_MS,
            "{tag}: {} echo requests lost ({} ms) with BFD: {lost:?}",
            lost.missing,
            lost.lost_ms(INTERVAL_MS)
        );
        lost_ms.push(lost.lost_ms(INTERVAL_MS));
    }
    eprintln!(
        "bfd-lab: bfd=on cycles={cycles} median_lost_ms={} max_lost_ms={} in {:.0?}",
        median(&mut lost_ms.clone()),
        lost_ms.iter().max().copied().unwrap_or(0),
        start.elapsed()
    );
}

/// The comparison: the same failure with the hold timer alone (6 s, keepalive 2 s) costs at
/// least the hold time minus one keepalive interval and some slack.
#[test]
fn without_bfd_the_hold_timer_decides() {
    if skip("hold_timer_failover", &TOOLS) {
        return;
    }
    let hold = 6;
    let mut c = converged(CircuitOptions {
        bfd: false,
        hold_time: hold,
        ..CircuitOptions::default()
    });
    assert!(c.edge.bfd().map(|b| b.is_empty()).unwrap_or(true));
    let (lost, fib) = fail_primary(&mut c, "hold", Duration::from_secs(u64::from(hold) + 3));
    check_primary_gone(&c, "hold");
    let (back_lost, back) = restore_primary(&mut c, "hold");
    if let Err(e) = c.wait_converged(Duration::from_secs(30)) {
        panic!("hold: {e}{}", c.state());
    }
    eprintln!(
        "bfd-lab: bfd=off hold={hold} lost={} lost_ms={} gap={} fib_ms={} back_lost={} back_ms={}",
        lost.missing,
        lost.lost_ms(INTERVAL_MS),
        lost.longest_gap,
        fib.as_millis(),
        back_lost.missing,
        back.as_millis()
    );
    let floor_ms = (u64::from(hold) - 3) * 1000;
    assert!(
        lost.lost_ms(INTERVAL_MS) >= floor_ms,
        "only {} ms lost with a {hold} s hold timer: {lost:?}",
        lost.lost_ms(INTERVAL_MS)
    );
    assert!(lost.lost_ms(INTERVAL_MS) >= BFD_MAX_LOST_MS, "{lost:?}");
}

/// The lab itself: a ping from the pod reaches the VPC host through either circuit (so a
/// failover test measures the edge, not a broken backup path).
#[test]
fn both_circuits_carry_traffic() {
    if skip("two_circuits", &TOOLS) {
        return;
    }
    let c = converged(CircuitOptions {
        bfd: false,
        hold_time: 9,
        ..CircuitOptions::default()
    });
    let (ns, pod) = (c.node_ns.clone(), c.pod.clone());
    let ping_ok = |c: &CircuitsLab| {
        let o = c
            .lab
            .run(
                &ns,
                "ping",
                &["-c", "3", "-i", "0.2", "-W", "2", "-I", &pod, VPC_HOST],
            )
            .unwrap();
        assert!(o.ok(), "{}{}{}", o.stdout, o.stderr, c.state());
    };
    ping_ok(&c);
    // Forced through vbr2 by hand both ways (the edge's way there, the VPC's way back), it
    // works as well.
    let vbr2 = c.vbrs[1].vbr_addr.clone();
    let (edge, vpc) = (c.edge_ns.clone(), c.vpc_ns.clone());
    c.lab
        .ip(&["-n", &edge, "route", "add", "198.19.24.10/32", "via", &vbr2])
        .unwrap();
    c.lab
        .ip(&[
            "-n",
            &vpc,
            "route",
            "add",
            "198.18.1.1/32",
            "via",
            "198.51.100.2",
        ])
        .unwrap();
    ping_ok(&c);
}

/// The price of FRR's `neighbor X bfd check-control-plane-failure` (which makes bgpd's
/// restarts hitless, `bfd_restart.rs`): bgpd's C bit is always clear, so FRR also ignores
/// the BFD down of a really dead circuit. The edge still moves to vbr2 at once (its own BFD),
/// but vbr1 keeps its BGP session and keeps sending the pods' traffic into the dead circuit
/// until its hold timer (9 s) expires.
#[test]
fn with_check_control_plane_failure_the_vbr_waits_for_its_hold_timer() {
    if skip("bfd_cbit_failover", &TOOLS) {
        return;
    }
    let mut c = converged(CircuitOptions {
        check_control_plane: true,
        ..CircuitOptions::default()
    });
    let p = ping(&mut c, "ping-cbit");
    std::thread::sleep(Duration::from_secs(1));
    c.lab
        .blackhole_link(&c.vbrs[0].ns, &c.vbrs[0].vbr_dev)
        .unwrap();
    let t0 = Instant::now();
    let backup = c.vbrs[1].vbr_addr.clone();
    let fib = match c.wait_next_hop(VPC_NET, &backup, Duration::from_secs(5)) {
        Ok(d) => d,
        Err(e) => panic!("cbit: {e}{}", c.state()),
    };
    let (vbr1, edge_addr) = (c.vbrs[0].frr.clone(), c.vbrs[0].edge_addr.clone());
    let (mut kept_at_2s, mut bgp_down, mut moved) = (None, None, None);
    while t0.elapsed() < Duration::from_secs(40) {
        if kept_at_2s.is_none() && t0.elapsed() > Duration::from_secs(2) {
            let bfd = vbr1.bfd_peer(&edge_addr).unwrap().map(|p| p.status);
            kept_at_2s = Some((bfd, vbr1.established(&edge_addr).unwrap()));
        }
        if bgp_down.is_none() && !vbr1.established(&edge_addr).unwrap() {
            bgp_down = Some(t0.elapsed());
        }
        if next_hop(&c.lab, &c.vbrs[0].ns, POD_CIDR).unwrap() == "198.51.100.2" {
            moved = Some(t0.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    let log = c.lab.log_tail("vbr1.frr.log", 10);
    eprintln!(
        "bfd-lab: check-control-plane-failure: edge FIB moved after {fib:.2?}; vbr1 at 2 s: {kept_at_2s:?}; vbr1's BGP down after {bgp_down:.2?}, its way back moved after {moved:.2?}\n{log}"
    );
    assert!(
        moved.is_some(),
        "vbr1 kept sending the pods into the dead circuit for 40 s{}",
        c.state()
    );
    let lost = stop(&mut c, p, "cbit");
    eprintln!(
        "bfd-lab: check-control-plane-failure: lost={} lost_ms={} gap={}",
        lost.missing,
        lost.lost_ms(INTERVAL_MS),
        lost.longest_gap
    );
    // Pinned: FRR saw BFD down and kept BGP (it ignores our BFD), and the way back waited for
    // the hold timer: far more lost than with BFD honoured.
    assert_eq!(
        kept_at_2s,
        Some((Some("down".to_owned()), true)),
        "FRR's view 2 s after the drop"
    );
    assert!(lost.lost_ms(INTERVAL_MS) >= 5000, "{lost:?}");
}
