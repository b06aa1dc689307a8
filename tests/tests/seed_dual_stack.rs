//! The seed scenario in dual stack (issue 19): the same lab as `seed.rs`, with IPv6 beside
//! IPv4 on every link. Each Calico node also runs BIRD 1.6's `bird6` (as Calico's confd
//! configures it) announcing its /122 block from the IPv6 pool; bgpd reflects both families,
//! advertises each pod aggregate to FRR playing the VBR over a session of its family (TCP-MD5
//! and GTSM on both), imports the VPC's routes of both families and installs both in the
//! edge's kernel. Every IPv4 check of `seed.rs` is made again, and its IPv6 twin, in one run;
//! then a pod pings a VPC host over IPv4 and over IPv6, both ways, through the edge.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use serde_json::Value;

use lab_tests::daemons::{find, Bgpd, Bird, Route};
use lab_tests::hybrid::{
    HybridLab, Options, CLUSTER_ID, POD_CIDR, POD_CIDR_V6, VPC_HOST, VPC_HOST_V6, VPC_ROUTES,
    VPC_ROUTES_V6,
};
use lab_tests::{skip, wait_until, Lab, Tool};

/// One family's view of the lab, so that every check is written once and made for both.
struct Family<'a> {
    /// `ipv4` / `ipv6` (FRR's AFI, `ip -4` / `ip -6`).
    afi: &'static str,
    /// bgpd's name for it.
    family: &'static str,
    aggregate: &'static str,
    vpc: &'static [&'static str; 3],
    vpc_host: &'static str,
    /// The bgpd neighbor that is the VBR's session of this family.
    vbr_neighbor: &'static str,
    /// The edge's address on the node network and on its uplink, the VBR's on the uplink.
    edge_lan: &'a str,
    edge_uplink: &'a str,
    vbr_addr: &'a str,
    /// Per node: (namespace, address, block, pod address, its BIRD for this family).
    nodes: Vec<(&'a str, &'a str, &'a str, &'a str, &'a Bird)>,
}

fn families(seed: &HybridLab) -> [Family<'_>; 2] {
    let rr = &seed.rrs[0];
    let rr6 = rr.v6.as_ref().expect("dual stack");
    [
        Family {
            afi: "ipv4",
            family: "ipv4-unicast",
            aggregate: POD_CIDR,
            vpc: &VPC_ROUTES,
            vpc_host: VPC_HOST,
            vbr_neighbor: "vbr",
            edge_lan: &rr.lan,
            edge_uplink: &rr.uplink,
            vbr_addr: &rr.vbr_addr,
            nodes: seed
                .nodes
                .iter()
                .map(|n| {
                    (
                        n.ns.as_str(),
                        n.addr.as_str(),
                        n.block.as_str(),
                        n.pod.as_str(),
                        &n.bird,
                    )
                })
                .collect(),
        },
        Family {
            afi: "ipv6",
            family: "ipv6-unicast",
            aggregate: POD_CIDR_V6,
            vpc: &VPC_ROUTES_V6,
            vpc_host: VPC_HOST_V6,
            vbr_neighbor: "vbr6",
            edge_lan: &rr6.lan,
            edge_uplink: &rr6.uplink,
            vbr_addr: &rr6.vbr_addr,
            nodes: seed
                .nodes
                .iter()
                .map(|n| {
                    let v6 = n.v6.as_ref().expect("dual stack");
                    (
                        n.ns.as_str(),
                        v6.addr.as_str(),
                        v6.block.as_str(),
                        v6.pod.as_str(),
                        &v6.bird,
                    )
                })
                .collect(),
        },
    ]
}

#[test]
fn seed_dual_stack() {
    if skip(
        "seed_dual_stack",
        &[Tool::Bird16, Tool::Bird16v6, Tool::Frr, Tool::Ping],
    ) {
        return;
    }
    let start = Instant::now();
    let opts = Options {
        kernel: true,
        dual_stack: true,
        ..Options::default()
    };
    let mut seed = HybridLab::up(Lab::new().unwrap(), opts).unwrap();
    if let Err(e) = seed.wait_converged(Duration::from_secs(60)) {
        panic!("{e}\n{}", seed.lab.logs());
    }
    // `unmet` waits for the blocks; the pods' addresses (BIRD's direct protocol) may follow
    // a moment later: wait for every node's full table before checking it exactly.
    if let Err(e) = wait_until(
        Duration::from_secs(20),
        "every pod address reflected",
        || {
            Ok(families(&seed).iter().all(|f| {
                f.nodes.iter().all(|n| {
                    n.4.routes()
                        .is_ok_and(|r| from_reflector(&r).len() == expected(f))
                })
            }))
        },
    ) {
        panic!("{e}\n{}", seed.lab.logs());
    }
    eprintln!("dual-stack seed lab converged in {:.1?}", start.elapsed());
    // Any failed check prints every daemon's log before the test fails.
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| check(&seed))) {
        eprintln!("{}", seed.lab.logs());
        resume_unwind(p);
    }
    eprintln!(
        "{}",
        seed.rrs[0].bgpd.ctl_text(&["show", "summary"]).unwrap()
    );
    eprintln!("seed_dual_stack: passed in {:.1?}", start.elapsed());
}

fn check(seed: &HybridLab) {
    let rr = &seed.rrs[0].bgpd;
    let summary = rr.ctl(&["show", "summary"]).unwrap();
    let loc_rib = rr.rib(&[]).unwrap();
    for f in &families(seed) {
        vbr_view(seed, f);
        nodes_view(f);
        bgpd_view(rr, &summary, &loc_rib, f);
        kernel_view(seed, f);
    }
    // The data plane last, once both families are in every FIB on the way.
    seed.add_vbr_routes_back().unwrap();
    for f in &families(seed) {
        data_plane(seed, f);
    }
}

/// The VBR learns exactly the pod aggregate of the family from us, with our AS path and the
/// edge's address on the link as next hop (for IPv6 with the edge's link-local address
/// beside it, RFC 2545), and no block.
fn vbr_view(seed: &HybridLab, f: &Family<'_>) {
    let vr = seed.vbr.routes(f.afi).unwrap();
    let ours: Vec<&Route> = vr
        .iter()
        .filter(|r| !f.vpc.contains(&r.prefix.as_str()))
        .collect();
    assert_eq!(ours.len(), 1, "{}: VBR: {vr:?}", f.afi);
    assert_eq!(ours[0].prefix, f.aggregate);
    assert_eq!(ours[0].as_path, "64512", "{}: {:?}", f.afi, ours[0]);
    assert_eq!(ours[0].next_hop, f.edge_uplink, "{}: {:?}", f.afi, ours[0]);
    if f.afi == "ipv6" {
        let ll = seed.lab.link_local(&seed.lab.ns("edge"), "up0").unwrap();
        let detail = seed
            .vbr
            .vtysh(&format!("show bgp ipv6 unicast {} json", f.aggregate))
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&detail).unwrap();
        let has_ll = v["paths"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| p["nexthops"].as_array().into_iter().flatten())
            .any(|h| h["scope"] == "link-local" && h["ip"] == ll.as_str());
        assert!(has_ll, "VBR: no link-local next hop {ll}: {detail}");
    }
    for p in f.vpc {
        assert_eq!(
            find(&vr, p).len(),
            1,
            "{}: VBR lost its own {p}: {vr:?}",
            f.afi
        );
    }
}

/// Every node's BIRD of the family: the VPC routes via the edge (`next_hop_self` for
/// eBGP-learned routes), AS path 45104 and the import policy's LOCAL_PREF 200; every other
/// node's block via that node (reflected: next hop untouched, ORIGINATOR_ID the node's router
/// id, its IPv4 address in both families, CLUSTER_LIST the cluster id); and nothing else
/// from the reflector but those nodes' pod addresses inside their blocks (the pods on their
/// loopbacks): no aggregate, nothing outside the pool and the VPC.
fn nodes_view(f: &Family<'_>) {
    for (i, &(_, addr, _, _, bird)) in f.nodes.iter().enumerate() {
        let routes = bird.routes().unwrap();
        let name = &bird.name;
        for p in f.vpc {
            let r = find(&routes, p);
            assert_eq!(r.len(), 1, "{name}: {p}: {r:?}");
            assert_eq!(r[0].next_hop, f.edge_lan, "{name}: {p}");
            assert_eq!(r[0].as_path, "45104", "{name}: {p}");
            assert_eq!(r[0].local_pref, Some(200), "{name}: {p}");
        }
        for (j, &(_, o_addr, o_block, o_pod, _)) in f.nodes.iter().enumerate() {
            if j == i {
                continue;
            }
            let router_id = format!("192.0.2.{}", 11 + j);
            for p in [o_block.to_owned(), format!("{o_pod}/{}", host_len(f))] {
                let r = find(&routes, &p);
                assert_eq!(r.len(), 1, "{name}: {p}: {r:?}");
                assert_eq!(r[0].next_hop, o_addr, "{name}: {p}");
                assert_eq!(r[0].as_path, "", "{name}: {p}");
                assert_eq!(
                    r[0].originator_id.as_deref(),
                    Some(router_id.as_str()),
                    "{name}: {p}"
                );
                assert_eq!(
                    r[0].cluster_list,
                    vec![CLUSTER_ID.to_owned()],
                    "{name}: {p}"
                );
            }
        }
        let from_rr = from_reflector(&routes);
        assert_eq!(
            from_rr.len(),
            expected(f),
            "{name} ({addr}): exactly the VPC routes and the other nodes' blocks and pods: {from_rr:#?}"
        );
        assert!(find(&routes, f.aggregate).is_empty(), "{name}: {routes:?}");
    }
}

/// The routes a node's BIRD learned from the reflector (its protocol `Node_<address>`).
fn from_reflector(routes: &[Route]) -> Vec<&Route> {
    routes
        .iter()
        .filter(|r| r.source.starts_with("Node_"))
        .collect()
}

/// How many routes each node gets from the reflector: the VPC routes, and every other
/// node's block and pod address.
fn expected(f: &Family<'_>) -> usize {
    f.vpc.len() + 2 * (f.nodes.len() - 1)
}

fn host_len(f: &Family<'_>) -> u8 {
    if f.afi == "ipv6" {
        128
    } else {
        32
    }
}

/// bgpd's own view: the node sessions negotiated what Calico's BIRD offers, in their family
/// only; the VBR gets exactly the aggregate; what bgpd shows as sent to each node is what that
/// node's BIRD counts; the Loc-RIB holds the family's routes; `show summary` counts per family.
fn bgpd_view(rr: &Bgpd, summary: &Value, loc_rib: &[Route], f: &Family<'_>) {
    for &(_, addr, _, _, bird) in &f.nodes {
        let v = rr.ctl(&["show", "neighbor", addr]).unwrap();
        let v = if v.is_array() { v[0].clone() } else { v };
        let caps: Vec<&str> = v["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c.as_str())
            .collect();
        let add_path = format!("add-path {}", f.family);
        for want in [
            "4-octet-as",
            "route-refresh",
            "graceful-restart",
            add_path.as_str(),
        ] {
            assert!(
                caps.iter().any(|c| c.starts_with(want)),
                "{addr}: {want} not in {caps:?}"
            );
        }
        assert_eq!(v["families"], serde_json::json!([f.family]), "{addr}: {v}");

        // `show rib --out` for a node: none of its own routes, every other node's block, and
        // exactly what the node's BIRD received and imported from us.
        let out = rr.rib(&["--neighbor", addr, "--out"]).unwrap();
        assert!(
            out.iter().all(|r| r.next_hop != addr),
            "{addr}: its own routes sent back: {out:?}"
        );
        for &(_, o_addr, o_block, _, _) in &f.nodes {
            if o_addr != addr {
                assert!(!find(&out, o_block).is_empty(), "{addr}: {out:?}");
            }
        }
        let proto = format!("Node_{}", f.edge_lan.replace(['.', ':'], "_"));
        let stats = bird.birdc(&["show", "protocols", "all", &proto]).unwrap();
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
            "{addr}: what bgpd shows as sent is what BIRD has\n{stats}"
        );
    }
    let out = rr.rib(&["--neighbor", f.vbr_neighbor, "--out"]).unwrap();
    assert_eq!(out.len(), 1, "{}: {out:?}", f.vbr_neighbor);
    assert_eq!(out[0].prefix, f.aggregate);

    // The Loc-RIB: the aggregate (ours), the VPC routes and every node's block.
    for p in f
        .vpc
        .iter()
        .copied()
        .chain([f.aggregate])
        .chain(f.nodes.iter().map(|n| n.2))
    {
        assert!(!find(loc_rib, p).is_empty(), "Loc-RIB: no {p}: {loc_rib:?}");
    }

    // `show summary --json`: per-family counts of the family's sessions, nothing in the
    // other family. `received` counts a route announced again (FRR does re-send some right
    // after the session comes up) so it is only bounded below.
    let rows = summary.as_array().unwrap();
    let counts = |address: &str| -> Vec<(String, u64, u64, u64)> {
        let row = rows
            .iter()
            .find(|r| r["address"] == address)
            .unwrap_or_else(|| panic!("show summary: no {address}: {summary}"));
        row["families"]
            .as_array()
            .unwrap_or_else(|| panic!("show summary: {address} has no families: {row}"))
            .iter()
            .map(|c| {
                (
                    c["family"].as_str().unwrap_or_default().to_owned(),
                    c["received"].as_u64().unwrap_or(0),
                    c["accepted"].as_u64().unwrap_or(0),
                    c["advertised"].as_u64().unwrap_or(0),
                )
            })
            .filter(|c| c.0 == f.family || c.1 + c.2 + c.3 > 0)
            .collect()
    };
    let check_counts = |address: &str, accepted: u64, advertised: &[u64]| {
        let c = counts(address);
        assert!(
            c.len() == 1
                && c[0].0 == f.family
                && c[0].1 >= accepted
                && c[0].2 == accepted
                && advertised.contains(&c[0].3),
            "{address}: {} (received >= {accepted}, accepted {accepted}, advertised one of \
             {advertised:?}) expected, not {c:?}: {summary}",
            f.family
        );
    };
    check_counts(f.vbr_addr, 3, &[1]);
    for &(_, addr, _, _, _) in &f.nodes {
        // Each node announces its block and its pod address, and is sent the rest. As the
        // contract says, `advertised` counts the update group's Adj-RIB-Out, which holds the
        // node's own two routes although they are never sent back to it.
        let sent = rr.rib(&["--neighbor", addr, "--out"]).unwrap().len() as u64;
        check_counts(addr, 2, &[sent + 2]);
    }
}

/// The kernels: the edge's (bgpd's routes, `proto bgp`) has every node's block via that node
/// and the VPC routes towards the VBR; each node's (BIRD's) has the other nodes' blocks via
/// them and the VPC routes via the edge. Polled: a FIB follows the RIB a moment later.
fn kernel_view(seed: &HybridLab, f: &Family<'_>) {
    let lab = &seed.lab;
    let edge = lab.ns("edge");
    let fam = if f.afi == "ipv6" { "-6" } else { "-4" };
    let has = |text: &str, prefix: &str, via: &str| {
        text.lines()
            .any(|l| l.starts_with(&format!("{prefix} ")) && l.contains(via))
    };
    let mut last = String::new();
    let res = wait_until(Duration::from_secs(20), "the edge's FIB", || {
        let o = lab.run(&edge, "ip", &[fam, "route", "show", "proto", "bgp"])?;
        last = o.stdout;
        Ok(f.nodes
            .iter()
            .all(|n| has(&last, n.2, &format!("via {} dev lan0", n.1)))
            && f.vpc.iter().all(|p| has(&last, p, "dev up0")))
    });
    if let Err(e) = res {
        panic!(
            "{}: {e}: edge `ip {fam} route show proto bgp`:\n{last}",
            f.afi
        );
    }
    // The VPC routes' next hop: the VBR's address on the uplink; for IPv6 the link-local
    // one FRR sends beside its global address on this direct link (RFC 2545 section 3).
    let gateway = if f.afi == "ipv6" {
        seed.lab.link_local(&seed.vbr_ns, "eth0").unwrap()
    } else {
        f.vbr_addr.to_owned()
    };
    for p in f.vpc {
        let line = last
            .lines()
            .find(|l| l.starts_with(&format!("{p} ")))
            .unwrap();
        assert!(
            line.contains(&format!("via {gateway} dev up0")),
            "{}: edge: {line}, want via {gateway}",
            f.afi
        );
    }
    for (i, &(ns, _, _, _, _)) in f.nodes.iter().enumerate() {
        let res = wait_until(Duration::from_secs(20), "a node's FIB", || {
            let o = lab.run(ns, "ip", &[fam, "route", "show"])?;
            last = o.stdout;
            Ok(f.nodes
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .all(|(_, o)| has(&last, o.2, &format!("via {} ", o.1)))
                && f.vpc
                    .iter()
                    .all(|p| has(&last, p, &format!("via {} ", f.edge_lan))))
        });
        if let Err(e) = res {
            panic!("{}: {e}: `ip {fam} route` in {ns}:\n{last}", f.afi);
        }
    }
}

/// A pod on every node reaches the VPC host through the edge, and the VPC host the pod.
fn data_plane(seed: &HybridLab, f: &Family<'_>) {
    let lab = &seed.lab;
    let ping = |ns: &str, from: &str, to: &str| {
        let o = lab
            .run(
                ns,
                "ping",
                &[
                    if f.afi == "ipv6" { "-6" } else { "-4" },
                    "-c",
                    "2",
                    "-i",
                    "0.2",
                    "-W",
                    "2",
                    "-I",
                    from,
                    to,
                ],
            )
            .unwrap();
        assert!(
            o.ok(),
            "{}: ping {from} -> {to}: {}{}",
            f.afi,
            o.stdout,
            o.stderr
        );
    };
    for &(ns, _, _, pod, _) in &f.nodes {
        ping(ns, pod, f.vpc_host);
        ping(&seed.vbr_ns, f.vpc_host, pod);
    }
}
