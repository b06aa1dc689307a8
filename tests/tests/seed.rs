//! The seed scenario end to end: bgpd as the edge route reflector for three Calico nodes
//! (BIRD 1.6, configured as Calico's confd does) and eBGP with FRR playing the Alibaba VBR.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use lab_tests::daemons::find;
use lab_tests::hybrid::{HybridLab, Options, POD_CIDR, VPC_ROUTES};
use lab_tests::{skip, Lab, Tool};

#[test]
fn seed_scenario() {
    if skip("seed_scenario", &[Tool::Bird16, Tool::Frr]) {
        return;
    }
    let start = Instant::now();
    let mut seed = HybridLab::up(Lab::new().unwrap(), Options::default()).unwrap();
    if let Err(e) = seed.wait_converged(Duration::from_secs(60)) {
        panic!("{e}\n{}", seed.lab.logs());
    }
    eprintln!("seed lab converged in {:?}", start.elapsed());

    // The VBR learns exactly the pod aggregate from us, with our AS path, and no /26.
    let vr = seed.vbr.routes("ipv4").unwrap();
    let ours: Vec<_> = vr
        .iter()
        .filter(|r| !VPC_ROUTES.contains(&r.prefix.as_str()))
        .collect();
    assert_eq!(ours.len(), 1, "{vr:?}");
    assert_eq!(ours[0].prefix, POD_CIDR);
    assert_eq!(ours[0].as_path, "64512");
    assert_eq!(ours[0].next_hop, "203.0.113.1");
    assert!(vr.iter().all(|r| !r.prefix.ends_with("/26")), "{vr:?}");

    // Every node: the VPC routes via the edge (next_hop_self for eBGP-learned routes), with
    // the import policy's LOCAL_PREF; every other node's block via that node (reflected,
    // next hop untouched, ORIGINATOR_ID and CLUSTER_LIST set).
    for n in &seed.nodes {
        let routes = n.bird.routes().unwrap();
        for p in VPC_ROUTES {
            let r = find(&routes, p);
            assert_eq!(r.len(), 1, "{}: {p}: {r:?}", n.bird.name);
            assert_eq!(r[0].next_hop, "192.0.2.1", "{}: {p}", n.bird.name);
            assert_eq!(r[0].as_path, "45104", "{}: {p}", n.bird.name);
            assert_eq!(r[0].local_pref, Some(200), "{}: {p}", n.bird.name);
        }
        for o in seed.nodes.iter().filter(|o| o.addr != n.addr) {
            let r = find(&routes, &o.block);
            assert_eq!(r.len(), 1, "{}: {}: {r:?}", n.bird.name, o.block);
            assert_eq!(r[0].next_hop, o.addr);
            assert_eq!(r[0].as_path, "");
            assert_eq!(r[0].originator_id.as_deref(), Some(o.addr.as_str()));
            assert_eq!(r[0].cluster_list, vec!["192.0.2.254".to_owned()]);
        }
        // Nothing else from the reflector: no aggregate, nothing outside the pool and VPC.
        assert!(
            find(&routes, POD_CIDR).is_empty(),
            "{}: {routes:?}",
            n.bird.name
        );
    }

    // bgpd's own view agrees, and the node sessions negotiated what Calico's BIRD offers.
    let rr = &seed.rrs[0].bgpd;
    for n in &seed.nodes {
        let v = rr.ctl(&["show", "neighbor", &n.addr]).unwrap();
        let v = if v.is_array() { v[0].clone() } else { v };
        let caps: Vec<&str> = v["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c.as_str())
            .collect();
        for want in [
            "4-octet-as",
            "route-refresh",
            "graceful-restart",
            "add-path ipv4-unicast",
        ] {
            assert!(
                caps.iter().any(|c| c.starts_with(want)),
                "{}: {want} not in {caps:?}",
                n.addr
            );
        }
    }
    let out = rr.rib(&["--neighbor", "vbr", "--out"]).unwrap();
    assert_eq!(out.len(), 1, "{out:?}");

    // `show rib --out` for a node lists no route of its own (it is not sent them: the wire
    // is checked in misbehave.rs, where the raw peer sees every byte), and matches what the
    // node's BIRD counts as received and imported from us.
    for n in &seed.nodes {
        let out = rr.rib(&["--neighbor", &n.addr, "--out"]).unwrap();
        assert!(
            out.iter()
                .all(|r| r.originator_id.as_deref() != Some(n.addr.as_str())),
            "{}: {out:?}",
            n.addr
        );
        for o in seed.nodes.iter().filter(|o| o.addr != n.addr) {
            assert!(!find(&out, &o.block).is_empty(), "{}: {out:?}", n.addr);
        }
        let stats = n
            .bird
            .birdc(&["show", "protocols", "all", "Node_192_0_2_1"])
            .unwrap();
        let imported = stats
            .lines()
            .find(|l| l.trim_start().starts_with("Routes:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<usize>().ok());
        let received = stats
            .lines()
            .find(|l| l.trim_start().starts_with("Import updates:"))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|v| v.parse::<usize>().ok());
        assert_eq!(
            (imported, received),
            (Some(out.len()), Some(out.len())),
            "{}: what bgpd shows as sent is what BIRD has\n{stats}",
            n.addr
        );
    }
    eprintln!("{}", rr.ctl_text(&["show", "summary"]).unwrap());
}

/// The data plane: a packet from a pod address on node 1 reaches a VPC host address behind
/// the VBR and comes back, forwarded by the edge on the routes bgpd installed in its kernel.
/// (The VBR gets its route back to the pods by hand: FRR runs without zebra.)
#[test]
fn data_plane_pod_to_vpc_and_back() {
    if skip("data_plane", &[Tool::Bird16, Tool::Frr, Tool::Ping]) {
        return;
    }
    let opts = Options {
        kernel: true,
        ..Options::default()
    };
    let mut seed = HybridLab::up(Lab::new().unwrap(), opts).unwrap();
    if let Err(e) = seed.wait_converged(Duration::from_secs(60)) {
        panic!("{e}\n{}", seed.lab.logs());
    }
    let lab = &seed.lab;
    let edge = lab.ns("edge");
    lab.ip(&[
        "-n",
        &seed.vbr_ns,
        "route",
        "add",
        "198.18.0.0/16",
        "via",
        "203.0.113.1",
    ])
    .unwrap();
    let n1 = &seed.nodes[0];
    let res = lab_tests::wait_until(Duration::from_secs(20), "routes in the edge's FIB", || {
        let vpc = lab.run(&edge, "ip", &["route", "show", "198.19.24.0/24"])?;
        let pod = lab.run(&edge, "ip", &["route", "show", &n1.block])?;
        Ok(vpc.stdout.contains("via 203.0.113.2") && pod.stdout.contains(&n1.addr))
    });
    if let Err(e) = res {
        let fib = lab.run(&edge, "ip", &["route"]).unwrap();
        panic!("{e}: bgpd did not install its routes\n{}", fib.stdout);
    }
    let ping = |ns: &str, from: &str, to: &str| {
        let o = lab
            .run(
                ns,
                "ping",
                &["-c", "2", "-i", "0.2", "-W", "2", "-I", from, to],
            )
            .unwrap();
        assert!(o.ok(), "ping {from} -> {to}: {}{}", o.stdout, o.stderr);
    };
    ping(&n1.ns, &n1.pod, lab_tests::hybrid::VPC_HOST);
    ping(&seed.vbr_ns, lab_tests::hybrid::VPC_HOST, &n1.pod);
}
