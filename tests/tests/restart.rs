//! Restarting the reflector, as Calico operators need it (Calico issues 9259, bird 57):
//!
//! - SIGTERM (a planned restart, e.g. a systemd restart or upgrade): bgpd closes its sessions
//!   without a NOTIFICATION, so the BIRD 1.6 nodes (graceful restart on) keep every route while
//!   it is away, and FRR (the VBR, a GR helper) keeps the pod aggregate. After the restart the
//!   sessions come back and the routes are refreshed.
//! - `bgpctl shutdown` (a deliberate withdrawal): Cease to everyone, and the nodes drop the
//!   routes they learned from the reflector.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use lab_tests::daemons::{find, Bgpd};
use lab_tests::seed::{edge_config, Options, Seed, POD_CIDR, VPC_ROUTES};
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
    let mut seed = Seed::up(Lab::new().unwrap(), opts).unwrap();
    if let Err(e) = seed.wait_converged(Duration::from_secs(60)) {
        panic!("{e}\n{}", seed.lab.logs());
    }
    let edge_ns = seed.lab.ns("edge");
    let config = edge_config(
        "192.0.2.1",
        "192.0.2.1",
        "203.0.113.1",
        "203.0.113.2",
        false,
    );

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
