//! Two bgpd reflectors with one cluster id; every Calico node (BIRD 1.6) peers with both and
//! both peer with the VBR. Killing one reflector (SIGKILL: no NOTIFICATION, no graceful
//! anything from our side) must not cost any node any route, and the surviving reflector must
//! carry all of them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use lab_tests::daemons::{find, Route};
use lab_tests::hybrid::{HybridLab, Options, POD_CIDR, VPC_ROUTES};
use lab_tests::{skip, wait_until, Lab, Tool};

/// Every route a node must have: (prefix, next hop).
fn wanted(seed: &HybridLab, me: &str) -> Vec<(String, Option<String>)> {
    let mut w: Vec<(String, Option<String>)> =
        VPC_ROUTES.iter().map(|p| (p.to_string(), None)).collect();
    for o in seed.nodes.iter().filter(|o| o.addr != me) {
        w.push((o.block.clone(), Some(o.addr.clone())));
    }
    w
}

fn missing(routes: &[Route], want: &[(String, Option<String>)], via: Option<&str>) -> Vec<String> {
    want.iter()
        .filter(|(p, nh)| {
            !find(routes, p).iter().any(|r| {
                nh.as_ref().is_none_or(|nh| &r.next_hop == nh) && via.is_none_or(|v| r.source == v)
            })
        })
        .map(|(p, _)| p.clone())
        .collect()
}

#[test]
fn a_node_loses_no_route_when_one_of_two_reflectors_dies() {
    if skip("redundancy", &[Tool::Bird16, Tool::Frr]) {
        return;
    }
    let opts = Options {
        reflectors: 2,
        ..Options::default()
    };
    let mut seed = HybridLab::up(Lab::new().unwrap(), opts).unwrap();
    if let Err(e) = seed.wait_converged(Duration::from_secs(60)) {
        panic!("{e}\n{}", seed.lab.logs());
    }
    // Before: each node has every route from both reflectors.
    for n in &seed.nodes {
        let routes = n.bird.routes().unwrap();
        let want = wanted(&seed, &n.addr);
        for via in ["Node_192_0_2_1", "Node_192_0_2_2"] {
            let m = missing(&routes, &want, Some(via));
            assert!(
                m.is_empty(),
                "{}: missing via {via}: {m:?}\n{routes:?}",
                n.bird.name
            );
        }
    }

    let killed = seed.rrs[0].bgpd.proc;
    seed.lab.signal(killed, "KILL").unwrap();
    let t0 = Instant::now();

    // Until every node has noticed (its session to the dead reflector is down) and for a
    // while after, every route stays, and the survivor carries all of them.
    let mut noticed = false;
    while t0.elapsed() < Duration::from_secs(20) {
        for n in &seed.nodes {
            let routes = n.bird.routes().unwrap();
            let m = missing(&routes, &wanted(&seed, &n.addr), None);
            assert!(
                m.is_empty(),
                "{} lost {m:?} {:?} after the kill",
                n.bird.name,
                t0.elapsed()
            );
        }
        if !noticed {
            noticed = seed
                .nodes
                .iter()
                .all(|n| !n.bird.established("Node_192_0_2_1").unwrap());
            if noticed {
                eprintln!("every node saw the reflector go after {:?}", t0.elapsed());
            }
        } else if t0.elapsed() > Duration::from_secs(3) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(noticed, "the nodes never noticed the dead reflector");
    for n in &seed.nodes {
        let routes = n.bird.routes().unwrap();
        let m = missing(&routes, &wanted(&seed, &n.addr), Some("Node_192_0_2_2"));
        assert!(m.is_empty(), "{}: not via the survivor: {m:?}", n.bird.name);
    }
    // The cloud still has the aggregate from the survivor. (FRR keeps the dead reflector's
    // copy as stale for a while: bgpd negotiated graceful restart and FRR is a GR helper.)
    let vbr = &seed.vbr;
    wait_until(
        Duration::from_secs(15),
        "VBR: edge gone, aggregate via edge2",
        || {
            let r = vbr.routes("ipv4")?;
            let agg = find(&r, POD_CIDR);
            let via2 = agg.iter().any(|r| r.next_hop == "203.0.113.5");
            Ok(via2 && !vbr.established("203.0.113.1")?)
        },
    )
    .unwrap();
}
