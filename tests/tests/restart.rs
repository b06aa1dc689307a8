//! Restarting the reflector, as Calico operators need it (Calico issues 9259, bird 57):
//!
//! - SIGTERM (a planned restart, e.g. a systemd restart or upgrade): bgpd closes its sessions
//!   without a NOTIFICATION, so the BIRD 1.6 nodes (graceful restart on) keep every route while
//!   it is away, and FRR (the VBR, a GR helper) keeps the pod aggregate. After the restart the
//!   sessions come back and the routes are refreshed.
//! - `bgpctl shutdown` (a deliberate withdrawal): Cease to everyone, and the nodes drop the
//!   routes they learned from the reflector.
//! - Planned restarts watched the way they fail in production (RFC 4724 section 4.1, the
//!   restarting speaker's deferral): a ping through the data plane, the kernel FIB of the
//!   edge and of every node, and the VBR's own table, continuously across 20 restarts with
//!   varied down times; and a node that does not come back delays the others by the
//!   selection deferral at most.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use lab_tests::daemons::{find, Bgpd};
use lab_tests::hybrid::{
    edge_config, EdgeSpec, HybridLab, Options, POD_CIDR, POD_CIDR_V6, VPC_HOST, VPC_HOST_V6,
    VPC_ROUTES, VPC_ROUTES_V6,
};
use lab_tests::watch::{FibWatch, Ping, Poller};
use lab_tests::{skip, wait_until, Lab, Tool};

#[test]
fn sigterm_is_hitless_and_shutdown_withdraws() {
    if skip("restart", &[Tool::Bird16, Tool::Frr]) {
        return;
    }
    let opts = Options {
        nodes: 2,
        ..Options::default()
    };
    let mut seed = HybridLab::up(Lab::new().unwrap(), opts).unwrap();
    if let Err(e) = seed.wait_converged(Duration::from_secs(60)) {
        panic!("{e}\n{}", seed.lab.logs());
    }
    let edge_ns = seed.lab.ns("edge");
    let config = edge(false);

    // Planned restart.
    let old = seed.rrs[0].bgpd.proc;
    seed.lab.signal(old, "TERM").unwrap();
    let t0 = Instant::now();
    // Every node notices (session down) but keeps every route, for as long as we look.
    wait_until(
        Duration::from_secs(10),
        "nodes to see the reflector go",
        || {
            Ok(seed
                .nodes
                .iter()
                .all(|n| !n.bird.established("Node_192_0_2_1").unwrap_or(true)))
        },
    )
    .unwrap();
    while t0.elapsed() < Duration::from_secs(3) {
        for n in &seed.nodes {
            let r = n.bird.routes().unwrap();
            for p in VPC_ROUTES {
                assert!(
                    !find(&r, p).is_empty(),
                    "{} lost {p} on SIGTERM",
                    n.bird.name
                );
            }
            for o in seed.nodes.iter().filter(|o| o.addr != n.addr) {
                assert!(
                    !find(&r, &o.block).is_empty(),
                    "{} lost {} on SIGTERM",
                    n.bird.name,
                    o.block
                );
            }
        }
        let v = seed.vbr.routes("ipv4").unwrap();
        assert!(
            !find(&v, POD_CIDR).is_empty(),
            "the VBR lost the aggregate on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let notifications = seed.lab.log_tail("n1.log", 200);
    assert!(
        !notifications.contains("Received: Administrative shutdown"),
        "a node got a Cease on SIGTERM:\n{notifications}"
    );

    // Back again: same configuration, new process; sessions and routes come back.
    let again = Bgpd::start(&mut seed.lab, "edge-again", &edge_ns, &config).unwrap();
    seed.rrs[0].bgpd = again;
    let t1 = Instant::now();
    let res = seed.wait_converged(Duration::from_secs(60));
    eprintln!("re-converged after the restart in {:?}", t1.elapsed());
    if let Err(e) = res {
        panic!("after the restart: {e}\n{}", seed.lab.logs());
    }

    // Deliberate withdrawal: the nodes flush what they learned from the reflector.
    // (The daemon exits right after answering; what matters here is what the nodes do.)
    if let Err(e) = seed.rrs[0]
        .bgpd
        .ctl(&["shutdown", "--message", "lab: deliberate withdrawal"])
    {
        eprintln!("note: bgpctl shutdown answered: {e}");
    }
    wait_until(
        Duration::from_secs(15),
        "nodes to flush the VPC routes",
        || {
            Ok(seed.nodes.iter().all(|n| {
                n.bird
                    .routes()
                    .map(|r| VPC_ROUTES.iter().all(|p| find(&r, p).is_empty()))
                    .unwrap_or(false)
            }))
        },
    )
    .unwrap();
    // (And this is how a Cease looks in BIRD 1.6's log, which the SIGTERM check relies on.)
    let log = seed.lab.log_tail("n1.log", 400);
    assert!(
        log.contains("Received: Administrative shutdown"),
        "no Cease seen by node 1:\n{log}"
    );
}

/// A route deleted and added again within this is replaced, not gone: BIRD 1.6's kernel
/// protocol replaces a route that way (microseconds apart).
const FIB_GAP: Duration = Duration::from_millis(20);

/// The edge's configuration in the seed lab.
fn edge(kernel: bool) -> String {
    edge_config(
        "192.0.2.1",
        "192.0.2.1",
        "203.0.113.1",
        "203.0.113.2",
        kernel,
    )
}

/// Reads the VBR's table every 100 ms: a miss whenever the pod aggregate is not in it (in
/// dual stack, either of the two).
fn watch_vbr_aggregate(seed: &HybridLab) -> Poller {
    let vbr = seed.vbr.clone();
    let dual = seed.opts.dual_stack;
    Poller::start(Duration::from_millis(100), move || {
        let r = vbr.routes("ipv4")?;
        if find(&r, POD_CIDR).is_empty() {
            return Ok(Some("the VBR has no pod aggregate".to_owned()));
        }
        if dual && find(&vbr.routes("ipv6")?, POD_CIDR_V6).is_empty() {
            return Ok(Some("the VBR has no IPv6 pod aggregate".to_owned()));
        }
        Ok(None)
    })
}

/// How the restarted bgpd's deferral ended, from its log: how long it took, and the log
/// line when the timer, not the peers' End-of-RIB, ended it.
fn deferral(log: &str) -> Option<(u64, Option<String>)> {
    let line = log.lines().find(|l| {
        l.contains("selection deferral over") || l.contains("selection deferral timer expired")
    })?;
    let took = line
        .split("took_ms=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())?;
    Some((
        took,
        line.contains("timer expired").then(|| line.to_owned()),
    ))
}

/// The edge's metrics, fetched inside its namespace (bash's /dev/tcp: no curl needed).
fn metrics(lab: &Lab, ns: &str) -> String {
    let o = lab
        .run(
            ns,
            "bash",
            &[
                "-c",
                "exec 3<>/dev/tcp/127.0.0.1/9179; printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3",
            ],
        )
        .unwrap();
    o.stdout
}

/// The number after `name ` in the metrics text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// RFC 4724 section 4.1 in the dual-stack seed network with the kernel FIB, 20 times:
/// SIGTERM, a varied pause, start again. Across all of it a pod on node 1 pings a VPC host
/// 20 times a second over IPv4 and over IPv6, `ip monitor route` watches the edge's and
/// every node's FIB (both families), and the VBR's tables are read every 100 ms. Before the
/// deferral existed, the VBR flushed the pod aggregate (End-of-RIB sent before any node was
/// back) and the edge deleted adopted routes of nodes not yet back: 6-10 % of the pings
/// were lost.
#[test]
fn planned_restarts_lose_no_traffic() {
    if skip(
        "planned_restarts",
        &[Tool::Bird16, Tool::Bird16v6, Tool::Frr, Tool::Ping],
    ) {
        return;
    }
    let runs: usize = std::env::var("LAB_RESTART_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let opts = Options {
        kernel: true,
        dual_stack: true,
        ..Options::default()
    };
    let mut seed = HybridLab::up(Lab::new().unwrap(), opts).unwrap();
    if let Err(e) = seed.wait_converged(Duration::from_secs(60)) {
        panic!("{e}\n{}", seed.lab.logs());
    }
    let edge_ns = seed.lab.ns("edge");
    seed.add_vbr_routes_back().unwrap();
    let n1 = seed.nodes[0].clone();
    let n1v6 = n1.v6.clone().unwrap();
    let blocks_v6: Vec<String> = seed
        .nodes
        .iter()
        .filter_map(|n| n.v6.as_ref().map(|v| v.block.clone()))
        .collect();
    wait_until(Duration::from_secs(20), "the edge's FIB", || {
        let o4 = seed.lab.run(&edge_ns, "ip", &["-4", "route"])?;
        let o6 = seed.lab.run(&edge_ns, "ip", &["-6", "route"])?;
        Ok(seed.nodes.iter().all(|n| o4.stdout.contains(&n.block))
            && VPC_ROUTES.iter().all(|p| o4.stdout.contains(p))
            && blocks_v6.iter().all(|b| o6.stdout.contains(b.as_str()))
            && VPC_ROUTES_V6.iter().all(|p| o6.stdout.contains(p)))
    })
    .unwrap();
    let rr0 = &seed.rrs[0];
    let config = EdgeSpec {
        router_id: &rr0.lan,
        lan: &rr0.lan,
        uplink: &rr0.uplink,
        vbr: &rr0.vbr_addr,
        kernel: true,
        leak: false,
        calico_pools: None,
        calico_pools_v6: None,
        v6: rr0.v6.as_ref(),
    }
    .config();
    let mut watched: Vec<String> = seed.nodes.iter().map(|n| n.block.clone()).collect();
    watched.extend(VPC_ROUTES.iter().map(|p| (*p).to_owned()));
    watched.extend(blocks_v6.iter().cloned());
    watched.extend(VPC_ROUTES_V6.iter().map(|p| (*p).to_owned()));
    let watched: Vec<&str> = watched.iter().map(String::as_str).collect();
    let mut namespaces = vec![edge_ns.clone()];
    namespaces.extend(seed.nodes.iter().map(|n| n.ns.clone()));
    let namespaces: Vec<&str> = namespaces.iter().map(String::as_str).collect();
    // Every peer, both families: the restarted edge must wait for all of them.
    let mut peers: Vec<String> = seed.nodes.iter().map(|n| n.addr.clone()).collect();
    peers.extend(
        seed.nodes
            .iter()
            .filter_map(|n| n.v6.as_ref().map(|v| v.addr.clone())),
    );
    peers.push(rr0.vbr_addr.clone());
    peers.extend(rr0.v6.as_ref().map(|v| v.vbr_addr.clone()));
    let expects_everyone = |log: &str| -> bool {
        log.lines()
            .filter_map(|l| l.split("expected=").nth(1))
            .any(|rest| {
                peers
                    .iter()
                    .all(|p| rest.split_whitespace().any(|w| w == p))
            })
    };

    let fib = FibWatch::start(&mut seed.lab, "restarts", &namespaces).unwrap();
    let ping = Ping::start(&mut seed.lab, "ping", &n1.ns, &n1.pod, VPC_HOST, 50).unwrap();
    let ping6 = Ping::start(&mut seed.lab, "ping6", &n1.ns, &n1v6.pod, VPC_HOST_V6, 50).unwrap();
    let vbr_poll = watch_vbr_aggregate(&seed);
    std::thread::sleep(Duration::from_secs(1));

    // Down times varied: a systemd restart (no pause), a slow start, a pause longer than the
    // nodes' connect retry.
    let pauses = [0u64, 300, 1000, 100, 2500];
    let mut deferrals = Vec::new();
    let t0 = Instant::now();
    for run in 0..runs {
        let old = seed.rrs[0].bgpd.proc;
        seed.lab.signal(old, "TERM").unwrap();
        std::thread::sleep(Duration::from_millis(pauses[run % pauses.len()]));
        let again = Bgpd::start(&mut seed.lab, &format!("edge-{run}"), &edge_ns, &config).unwrap();
        seed.rrs[0].bgpd = again;
        if let Err(e) = seed.wait_converged(Duration::from_secs(60)) {
            panic!("run {run}: {e}\n{}", seed.lab.logs());
        }
        let rr = seed.rrs[0].bgpd.clone();
        assert!(
            expects_everyone(&rr.log(&seed.lab)),
            "run {run}: not every peer of {peers:?} expected\n{}",
            rr.log(&seed.lab)
        );
        let mut ended = None;
        wait_until(Duration::from_secs(30), "the deferral to end", || {
            ended = deferral(&rr.log(&seed.lab));
            Ok(ended.is_some())
        })
        .unwrap();
        match ended {
            Some((ms, None)) => deferrals.push(ms),
            other => panic!(
                "run {run}: every peer came back, yet the deferral ended by the timer: {other:?}"
            ),
        }
    }
    let total = t0.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let vbr_misses = vbr_poll.stop();
    let pinged = ping.stop(&mut seed.lab).unwrap();
    let pinged6 = ping6.stop(&mut seed.lab).unwrap();
    let gaps = fib.stop(&mut seed.lab, &watched).unwrap();
    deferrals.sort_unstable();
    eprintln!(
        "{runs} restarts in {total:.1?}: ping {}/{} received ({:.2} % lost), ping6 {}/{} ({:.2} % lost); deferral min {} ms, median {} ms, max {} ms",
        pinged.received,
        pinged.transmitted,
        pinged.loss_percent(),
        pinged6.received,
        pinged6.transmitted,
        pinged6.loss_percent(),
        deferrals.first().unwrap_or(&0),
        deferrals.get(deferrals.len() / 2).unwrap_or(&0),
        deferrals.last().unwrap_or(&0),
    );
    assert!(
        vbr_misses.is_empty(),
        "the VBR lost the pod aggregate: {vbr_misses:?}"
    );
    for g in &gaps {
        let replaced = g.gaps.len() - g.longer_than(FIB_GAP).len();
        if replaced > 0 {
            eprintln!("{}: {replaced} route(s) replaced by delete and add", g.ns);
        }
        assert!(
            g.longer_than(FIB_GAP).is_empty(),
            "FIB gap in {}: {:#?}",
            g.ns,
            g.longer_than(FIB_GAP)
        );
    }
    // Restarted again while the first start still waits for its peers (a crash loop,
    // `systemctl restart` twice): the second start expects the same peers, as the state
    // file is not rewritten during a deferral. Not watched for gaps: FRR flushes the stale
    // aggregate when our session drops again before our End-of-RIB.
    let old = seed.rrs[0].bgpd.proc;
    seed.lab.signal(old, "TERM").unwrap();
    let early = Bgpd::start(&mut seed.lab, "edge-early", &edge_ns, &config).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    seed.lab.signal(early.proc, "TERM").unwrap();
    seed.rrs[0].bgpd = Bgpd::start(&mut seed.lab, "edge-last", &edge_ns, &config).unwrap();
    if let Err(e) = seed.wait_converged(Duration::from_secs(60)) {
        panic!("after a double restart: {e}\n{}", seed.lab.logs());
    }
    let log = seed.rrs[0].bgpd.log(&seed.lab);
    assert!(
        expects_everyone(&log),
        "after a double restart, not every peer of {peers:?} expected\n{log}"
    );
    assert!(
        pinged.transmitted > 0 && pinged.loss_percent() <= 1.0,
        "ping lost {:.2} % ({}/{})",
        pinged.loss_percent(),
        pinged.transmitted - pinged.received,
        pinged.transmitted
    );
    assert!(
        pinged6.transmitted > 0 && pinged6.loss_percent() <= 1.0,
        "ping6 lost {:.2} % ({}/{})",
        pinged6.loss_percent(),
        pinged6.transmitted - pinged6.received,
        pinged6.transmitted
    );
}

/// A node that does not come back after a restart must not hold the others back for the
/// whole restart time (Calico issue 7144): the deferral waits for it at most
/// `selection_deferral` (here 3 s), says so in the log and the metrics, and then everyone
/// gets the table; meanwhile nobody loses a route.
#[test]
fn a_node_that_does_not_come_back_delays_the_others_by_the_deferral_at_most() {
    if skip("deferral_bound", &[Tool::Bird16, Tool::Frr]) {
        return;
    }
    let mut seed = HybridLab::up(Lab::new().unwrap(), Options::default()).unwrap();
    if let Err(e) = seed.wait_converged(Duration::from_secs(60)) {
        panic!("{e}\n{}", seed.lab.logs());
    }
    let edge_ns = seed.lab.ns("edge");
    let config = edge(false).replacen("[global]\n", "[global]\nselection_deferral = 3\n", 1);
    let gone = seed.nodes.pop().unwrap();
    let vbr_poll = watch_vbr_aggregate(&seed);
    let old = seed.rrs[0].bgpd.proc;
    seed.lab.signal(old, "TERM").unwrap();
    seed.lab.signal(gone.bird.proc, "KILL").unwrap();
    let again = Bgpd::start(&mut seed.lab, "edge-again", &edge_ns, &config).unwrap();
    seed.rrs[0].bgpd = again;
    let rr = seed.rrs[0].bgpd.clone();
    let mut ended = None;
    wait_until(Duration::from_secs(10), "the deferral to end", || {
        ended = deferral(&rr.log(&seed.lab));
        Ok(ended.is_some())
    })
    .unwrap();
    let (ms, line) = match ended {
        Some((ms, Some(line))) => (ms, line),
        other => panic!("the deferral should have ended by its timer: {other:?}"),
    };
    assert!(
        (3000..4000).contains(&ms),
        "the deferral took {ms} ms, not the 3 s asked: {line}"
    );
    assert!(line.contains(&gone.addr), "{line}");
    // The others now have the table: the gone node's block is withdrawn (End-of-RIB swept it),
    // everything else is there.
    wait_until(Duration::from_secs(5), "the nodes to get the table", || {
        Ok(seed.nodes.iter().all(|n| {
            n.bird
                .routes()
                .is_ok_and(|r| find(&r, &gone.block).is_empty())
        }))
    })
    .unwrap();
    if let Err(e) = seed.wait_converged(Duration::from_secs(10)) {
        panic!("{e}\n{}", seed.lab.logs());
    }
    // The metrics are refreshed every 2 s.
    let mut m = String::new();
    let res = wait_until(
        Duration::from_secs(5),
        "the deferral in the metrics",
        || {
            m = metrics(&seed.lab, &edge_ns);
            Ok(metric(&m, "bgp_restart_deferral_timer_expired_total") == Some(1.0))
        },
    );
    assert!(res.is_ok(), "{m}");
    assert_eq!(metric(&m, "bgp_restart_deferring"), Some(0.0), "{m}");
    let secs = metric(&m, "bgp_restart_deferral_seconds").unwrap();
    assert!((3.0..4.0).contains(&secs), "{secs}");
    let misses = vbr_poll.stop();
    assert!(
        misses.is_empty(),
        "the VBR lost the pod aggregate: {misses:?}"
    );
}
