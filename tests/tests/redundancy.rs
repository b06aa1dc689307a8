//! Two bgpd reflectors with one cluster id, in dual stack; every Calico node (BIRD 1.6's
//! `bird` and `bird6`) peers with both and both peer with the VBR over IPv4 and IPv6.
//! Killing one reflector (SIGKILL: no NOTIFICATION, no graceful anything from our side) must
//! not cost any node any route of either family, and the surviving reflector must carry all
//! of them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use lab_tests::daemons::{find, Bird, Route};
use lab_tests::hybrid::{HybridLab, Options, POD_CIDR, POD_CIDR_V6, VPC_ROUTES, VPC_ROUTES_V6};
use lab_tests::{skip, wait_until, Lab, Tool};

/// One of a node's BIRD daemons with every route it must have: (prefix, next hop), and the
/// names of its protocols towards the first and the second reflector.
struct Daemon {
    bird: Bird,
    want: Vec<(String, Option<String>)>,
    to_rr: [String; 2],
}

/// Every node's `bird` and `bird6`.
fn daemons(seed: &HybridLab) -> Vec<Daemon> {
    let proto = |a: &str| format!("Node_{}", a.replace(['.', ':'], "_"));
    let mut out = Vec::new();
    for n in &seed.nodes {
        let mut want: Vec<(String, Option<String>)> =
            VPC_ROUTES.iter().map(|p| (p.to_string(), None)).collect();
        for o in seed.nodes.iter().filter(|o| o.addr != n.addr) {
            want.push((o.block.clone(), Some(o.addr.clone())));
        }
        out.push(Daemon {
            bird: n.bird.clone(),
            want,
            to_rr: [proto(&seed.rrs[0].lan), proto(&seed.rrs[1].lan)],
        });
        let v6 = n.v6.as_ref().unwrap();
        let mut want: Vec<(String, Option<String>)> = VPC_ROUTES_V6
            .iter()
            .map(|p| (p.to_string(), None))
            .collect();
        for o in seed.nodes.iter().filter(|o| o.addr != n.addr) {
            let o6 = o.v6.as_ref().unwrap();
            want.push((o6.block.clone(), Some(o6.addr.clone())));
        }
        let rr6 = |i: usize| proto(&seed.rrs[i].v6.as_ref().unwrap().lan);
        out.push(Daemon {
            bird: v6.bird.clone(),
            want,
            to_rr: [rr6(0), rr6(1)],
        });
    }
    out
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
    if skip("redundancy", &[Tool::Bird16, Tool::Bird16v6, Tool::Frr]) {
        return;
    }
    let opts = Options {
        reflectors: 2,
        dual_stack: true,
        ..Options::default()
    };
    let mut seed = HybridLab::up(Lab::new().unwrap(), opts).unwrap();
    if let Err(e) = seed.wait_converged(Duration::from_secs(60)) {
        panic!("{e}\n{}", seed.lab.logs());
    }
    let daemons = daemons(&seed);
    // Before: each node has every route of both families from both reflectors.
    for d in &daemons {
        let routes = d.bird.routes().unwrap();
        for via in &d.to_rr {
            let m = missing(&routes, &d.want, Some(via));
            assert!(
                m.is_empty(),
                "{}: missing via {via}: {m:?}\n{routes:?}",
                d.bird.name
            );
        }
    }

    let killed = seed.rrs[0].bgpd.proc;
    seed.lab.signal(killed, "KILL").unwrap();
    let t0 = Instant::now();

    // Until every node has noticed (its sessions to the dead reflector are down) and for a
    // while after, every route stays, and the survivor carries all of them.
    let mut noticed = false;
    while t0.elapsed() < Duration::from_secs(20) {
        for d in &daemons {
            let routes = d.bird.routes().unwrap();
            let m = missing(&routes, &d.want, None);
            assert!(
                m.is_empty(),
                "{} lost {m:?} {:?} after the kill",
                d.bird.name,
                t0.elapsed()
            );
        }
        if !noticed {
            noticed = daemons
                .iter()
                .all(|d| !d.bird.established(&d.to_rr[0]).unwrap());
            if noticed {
                eprintln!("every node saw the reflector go after {:?}", t0.elapsed());
            }
        } else if t0.elapsed() > Duration::from_secs(3) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(noticed, "the nodes never noticed the dead reflector");
    for d in &daemons {
        let routes = d.bird.routes().unwrap();
        let m = missing(&routes, &d.want, Some(&d.to_rr[1]));
        assert!(m.is_empty(), "{}: not via the survivor: {m:?}", d.bird.name);
    }
    // The cloud still has both aggregates from the survivor. (FRR keeps the dead
    // reflector's copies as stale for a while: bgpd negotiated graceful restart and FRR is a
    // GR helper.)
    let vbr = &seed.vbr;
    let up2 = seed.rrs[1].uplink.clone();
    let up2_v6 = seed.rrs[1].v6.as_ref().unwrap().uplink.clone();
    let up1 = seed.rrs[0].uplink.clone();
    let up1_v6 = seed.rrs[0].v6.as_ref().unwrap().uplink.clone();
    wait_until(
        Duration::from_secs(15),
        "VBR: edge gone, both aggregates via edge2",
        || {
            let r = vbr.routes("ipv4")?;
            let r6 = vbr.routes("ipv6")?;
            let via2 = find(&r, POD_CIDR).iter().any(|r| r.next_hop == up2);
            let via2_v6 = find(&r6, POD_CIDR_V6).iter().any(|r| r.next_hop == up2_v6);
            Ok(via2 && via2_v6 && !vbr.established(&up1)? && !vbr.established(&up1_v6)?)
        },
    )
    .unwrap();
}
