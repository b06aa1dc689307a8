#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The IPv6 twin of `calico_lab.rs` (issues 19 and 21): the dual-stack hybrid lab with
//! Calico's pools on both node ranges, `calico = { pools = ["198.18.0.0/16"] }` on `calico`
//! and `calico = { pools = ["2001:db8:18::/48"] }` on `calico6` (`block_size_v6` left at its
//! default, 122: the nodes' `bird6` blocks are /122).
//!
//! Converged, `bgpctl --json show nodes` lists every node twice: its IPv4 session (`calico`)
//! with its /26 block and its pod /32, and its IPv6 session (`calico6`) with its /122 block and
//! its pod /128 (on the loopback, announced by `bird6`'s `protocol direct`: "borrowed", as the
//! IPv4 lab's /32); nothing refused, no conflict, the metrics at 0.
//!
//! Then node 1's `bird6` misbehaves, through `birdc6 configure` (no session reset): Calico's
//! configuration plus node 2's /122 as a static route of its own (a conflict) and a leak of
//! `::/0`, the IPv6 VPC range and the IPv6 pool aggregate. bgpd must list exactly that block
//! with both nodes' IPv6 addresses, refuse the leaks per route with their reasons (counted,
//! logged once each), reflect both paths of the block (node 3's `bird6` holds them), keep the
//! leaks from every other `bird6` and the VBR, never reset node 1's IPv6 session, and leave the
//! IPv4 side as it was. Node 1's `bird6` back to its normal configuration: all of it clears.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use lab_tests::daemons::{find, Route};
use lab_tests::hybrid::{
    calico_node_config6, HybridLab, Node, Options, CALICO_AS, POD_CIDR, POD_CIDR_V6, VPC_ROUTES_V6,
};
use lab_tests::{skip, wait_until, Lab, Tool};

#[path = "common/calico_views.rs"]
mod calico_views;
use calico_views::{conflicts, metric, metrics, paths, session, show_nodes, NodeRow, Want};

/// What node 1's `bird6` leaks: a default route, the VPC range and the pool aggregate, with
/// the reason the guard must give.
const LEAKS: [(&str, &str); 3] = [
    ("::/0", "outside the Calico pools"),
    ("2001:db8:19::/48", "outside the Calico pools"),
    (POD_CIDR_V6, "shorter than a Calico block"),
];

/// Polls `check` every 200 ms until it returns `Ok`, for at most `limit`; on timeout panics
/// with its last complaint (the caller prints the lab's logs).
fn wait_for<T>(
    seed: &mut HybridLab,
    what: &str,
    limit: Duration,
    mut check: impl FnMut(&HybridLab) -> Result<T, String>,
) -> T {
    let start = Instant::now();
    let mut last = String::new();
    let mut got = None;
    let res = wait_until(limit, what, || {
        seed.lab.check_alive()?;
        match check(seed) {
            Ok(v) => {
                got = Some(v);
                Ok(true)
            }
            Err(why) => {
                last = why;
                Ok(false)
            }
        }
    });
    match (res, got) {
        (Ok(()), Some(v)) => {
            eprintln!("{what}: after {:.1?}", start.elapsed());
            v
        }
        (res, _) => panic!("{what}: {res:?}: {last}"),
    }
}

/// A node's IPv6 address, block and pod /128.
fn v6(n: &Node) -> (String, String, String) {
    let v = n.v6.as_ref().expect("dual stack");
    (v.addr.clone(), v.block.clone(), format!("{}/128", v.pod))
}

/// The rows `show nodes` has for a lab at rest: per node its IPv4 session with its /26 and
/// pod /32, its IPv6 session with its /122 and pod /128, nothing refused.
fn normal_rows(seed: &HybridLab) -> Vec<Want> {
    let mut want: Vec<Want> = Vec::new();
    for n in &seed.nodes {
        want.push((
            n.addr.clone(),
            "calico".into(),
            vec![n.block.clone()],
            vec![format!("{}/32", n.pod)],
            vec![],
        ));
        let (addr, block, pod) = v6(n);
        want.push((addr, "calico6".into(), vec![block], vec![pod], vec![]));
    }
    want.sort();
    want
}

/// Nothing node 1 leaked reached the other nodes' `bird6` or the VBR: no `::/0` and no pool
/// aggregate on the nodes, the IPv6 VPC routes there only from the edge; on the VBR nothing
/// from the edge but the aggregate bgpd originates, and no `::/0`.
fn leaks_contained(seed: &HybridLab) -> Result<(), String> {
    let edge = seed.rrs[0].v6.as_ref().expect("dual stack");
    for n in &seed.nodes[1..] {
        let b6 = &n.v6.as_ref().expect("dual stack").bird;
        let routes = b6.routes().map_err(|e| e.to_string())?;
        if !find(&routes, "::/0").is_empty() || !find(&routes, POD_CIDR_V6).is_empty() {
            return Err(format!("{}: a leak arrived: {routes:?}", b6.name));
        }
        for p in VPC_ROUTES_V6 {
            let got = paths(&routes, p);
            if got != [(edge.lan.clone(), true)] {
                return Err(format!("{}: {p}: {got:?}", b6.name));
            }
        }
    }
    let vbr = seed.vbr.routes("ipv6").map_err(|e| e.to_string())?;
    let from_edge: BTreeSet<&str> = vbr
        .iter()
        .filter(|r| !VPC_ROUTES_V6.contains(&r.prefix.as_str()))
        .map(|r| r.prefix.as_str())
        .collect();
    let vpc_own = VPC_ROUTES_V6.iter().all(|p| find(&vbr, p).len() == 1);
    if from_edge != BTreeSet::from([POD_CIDR_V6]) || !vpc_own {
        return Err(format!("VBR ipv6: from the edge {from_edge:?}: {vbr:?}"));
    }
    Ok(())
}

#[test]
fn calico_guard_and_block_conflicts_with_bird6_nodes() {
    if skip("calico_lab_v6", &[Tool::Bird16, Tool::Bird16v6, Tool::Frr]) {
        return;
    }
    let start = Instant::now();
    let opts = Options {
        dual_stack: true,
        calico_pools: Some(&[POD_CIDR]),
        calico_pools_v6: Some(&[POD_CIDR_V6]),
        ..Options::default()
    };
    let mut seed = HybridLab::up(Lab::new().unwrap(), opts).unwrap();
    if let Err(e) = seed.wait_converged(Duration::from_secs(60)) {
        panic!("{e}\n{}", seed.lab.logs());
    }
    // Any failed check prints every daemon's log before the test fails.
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| check(&mut seed))) {
        eprintln!("{}", seed.lab.logs());
        resume_unwind(p);
    }
    eprintln!("calico_lab_v6: passed in {:.1?}", start.elapsed());
}

fn check(seed: &mut HybridLab) {
    let rr = seed.rrs[0].bgpd.clone();
    let edge6 = seed.rrs[0].v6.clone().expect("dual stack");
    let n1 = seed.nodes[0].clone();
    let ((a1, b1, _), (a2, b2, p2)) = (v6(&n1), v6(&seed.nodes[1]));
    let asn = format!("remote_as=\"{CALICO_AS}\"");
    let label = |a: &str| format!("address=\"{a}\"");

    // Converged: every node's two sessions, each with its block and pod, nothing refused.
    let normal = normal_rows(seed);
    let rows = wait_for(
        seed,
        "show nodes: every node's sessions, blocks and pods",
        Duration::from_secs(20),
        |_| {
            let rows = show_nodes(&rr)?;
            let got: Vec<Want> = rows.iter().map(NodeRow::view).collect();
            if got != normal || rows.iter().any(|r| r.state != "established") {
                return Err(format!("{rows:#?}"));
            }
            Ok(rows)
        },
    );
    for r in &rows {
        assert_eq!(r.graceful_restart, "none", "{r:?}");
        assert!(r.uptime.is_some(), "{r:?}");
    }
    assert_eq!(conflicts(&rr).unwrap(), []);
    let all_addrs: Vec<String> = normal.iter().map(|w| w.0.clone()).collect();
    wait_for(
        seed,
        "metrics: no conflict, nothing refused",
        Duration::from_secs(10),
        |s| {
            let m = metrics(s)?;
            let refused: Vec<Option<f64>> = all_addrs
                .iter()
                .map(|a| metric(&m, "bgp_calico_refused_prefixes", &[&label(a), &asn]))
                .collect();
            let c = metric(&m, "bgp_calico_block_conflicts", &[]);
            if c == Some(0.0) && refused.iter().all(|r| *r == Some(0.0)) {
                Ok(())
            } else {
                Err(format!("conflicts {c:?}, refused {refused:?}"))
            }
        },
    );

    let (flaps6, up6_before) = session(&rr, &a1);
    assert_eq!(flaps6, 0);
    let up6_before = up6_before.expect("node 1's IPv6 session is not Established");
    let (flaps4, _) = session(&rr, &n1.addr);
    assert_eq!(flaps4, 0);
    let misbehaving_at = Instant::now();
    let bird6 = n1.v6.clone().expect("dual stack").bird;
    let proto = format!("Node_{}", edge6.lan.replace([':', '.'], "_"));
    let bird_since = || -> String {
        let out = bird6.birdc(&["show", "protocols", &proto]).unwrap();
        out.lines()
            .find(|l| l.starts_with(&proto))
            .unwrap_or_default()
            .to_owned()
    };
    let bird_before = bird_since();
    assert!(bird_before.contains("Established"), "{bird_before}");

    // Node 1's bird6 misbehaves: Calico's configuration, plus node 2's /122 as its own, and a
    // leak of ::/0, the VPC range and the pool aggregate (an operator's edit of the filter).
    let mut statics = vec![b1.clone(), b2.clone()];
    statics.extend(LEAKS.iter().map(|(p, _)| (*p).to_owned()));
    let normal_conf = calico_node_config6(&n1.addr, &a1, std::slice::from_ref(&b1), &[&edge6.lan]);
    let export = "    accept;\n  }\n  reject;\n";
    assert!(normal_conf.contains(export), "{normal_conf}");
    let bad_conf = calico_node_config6(&n1.addr, &a1, &statics, &[&edge6.lan]).replacen(
        export,
        "    accept;\n  }\n  # An operator's edit: the leak.\n  if ( net = ::/0 || net = 2001:db8:19::/48 ) then accept;\n  reject;\n",
        1,
    );
    let conf_path = seed.lab.path(&format!("{}.conf", bird6.name));
    assert_eq!(std::fs::read_to_string(&conf_path).unwrap(), normal_conf);
    std::fs::write(&conf_path, &bad_conf).unwrap();
    let out = bird6.birdc(&["configure"]).unwrap();
    assert!(out.contains("Reconfigured"), "birdc6 configure: {out}");

    // bgpd: exactly the stolen /122 in conflict, naming both nodes' IPv6 addresses; node 1's
    // IPv6 row with both blocks and the three refusals; every other row as it was.
    let want_conflict = vec![(b2.clone(), vec![a1.clone(), a2.clone()], false)];
    let mut want_refused: Vec<(String, String)> = LEAKS
        .iter()
        .map(|(p, why)| ((*p).to_owned(), (*why).to_owned()))
        .collect();
    want_refused.sort();
    let mut bad: Vec<Want> = normal.clone();
    for w in &mut bad {
        if w.0 == a1 {
            w.2 = vec![b1.clone(), b2.clone()];
            w.2.sort();
            w.4 = want_refused.clone();
        }
    }
    wait_for(
        seed,
        "bgpd sees the conflict and the leaks",
        Duration::from_secs(20),
        |_| {
            let c = conflicts(&rr)?;
            let rows = show_nodes(&rr)?;
            let got: Vec<Want> = rows.iter().map(NodeRow::view).collect();
            if c == want_conflict && got == bad {
                Ok(())
            } else {
                Err(format!("conflicts {c:?}\n{rows:#?}"))
            }
        },
    );
    wait_for(
        seed,
        "metrics: one conflict, node 1's IPv6 leaks",
        Duration::from_secs(10),
        |s| {
            let m = metrics(s)?;
            let got: Vec<(String, Option<f64>)> = all_addrs
                .iter()
                .map(|a| {
                    let v = metric(&m, "bgp_calico_refused_prefixes", &[&label(a), &asn]);
                    (a.clone(), v)
                })
                .collect();
            let want: Vec<(String, Option<f64>)> = all_addrs
                .iter()
                .map(|a| {
                    let n = if *a == a1 { LEAKS.len() as f64 } else { 0.0 };
                    (a.clone(), Some(n))
                })
                .collect();
            let c = metric(&m, "bgp_calico_block_conflicts", &[]);
            if c == Some(1.0) && got == want {
                Ok(())
            } else {
                Err(format!("conflicts {c:?}, refused {got:?}"))
            }
        },
    );

    // Both paths of the stolen block are reflected: bgpd holds them, node 3's bird6 has both
    // (ADD-PATH), node 2's bird6 the thief's beside its own static route.
    let rib = rr.rib(&[&b2]).unwrap();
    let mut hops: Vec<&str> = rib.iter().map(|r| r.next_hop.as_str()).collect();
    hops.sort_unstable();
    assert_eq!(hops, [a1.as_str(), a2.as_str()], "{rib:?}");
    let n3_stolen = wait_for(
        seed,
        "node 3's bird6 gets both paths",
        Duration::from_secs(20),
        |s| {
            let r3 = s.nodes[2].v6.as_ref().unwrap().bird.routes();
            let r3 = r3.map_err(|e| e.to_string())?;
            let r2 = s.nodes[1].v6.as_ref().unwrap().bird.routes();
            let r2 = r2.map_err(|e| e.to_string())?;
            let s3 = paths(&r3, &b2);
            let hops3: Vec<&str> = s3.iter().map(|(h, _)| h.as_str()).collect();
            if hops3 != [a1.as_str(), a2.as_str()] {
                return Err(format!("n3: {b2}: {s3:?}"));
            }
            let s2 = paths(&r2, &b2);
            if !s2.iter().any(|(h, _)| *h == a1) {
                return Err(format!("n2: {b2}: {s2:?}"));
            }
            // Node 2's pod /128, more specific than either path, still goes to node 2.
            if paths(&r3, &p2) != [(a2.clone(), true)] {
                return Err(format!("n3: {p2}: {:?}", paths(&r3, &p2)));
            }
            Ok(s3)
        },
    );
    eprintln!("BIRD 1.6 bird6 on n3, {b2} (next hop, best): {n3_stolen:?}");

    // The leaks reach no other node and not the VBR; not even node 1's Adj-RIB-In holds them.
    wait_for(
        seed,
        "the leaks are contained",
        Duration::from_secs(5),
        leaks_contained,
    );
    let vbr: Vec<String> = seed
        .vbr
        .routes("ipv6")
        .unwrap()
        .iter()
        .map(|r| format!("{} via {}", r.prefix, r.next_hop))
        .collect();
    eprintln!("FRR (VBR) show bgp ipv6 unicast: {vbr:?}");
    let adj_in = rr.rib(&["--neighbor", &a1, "--in"]).unwrap();
    for (p, _) in LEAKS {
        assert!(
            find(&adj_in, p).is_empty(),
            "{p} in n1's Adj-RIB-In: {adj_in:?}"
        );
    }
    // In the Loc-RIB the VPC range is the VBR's and the aggregate bgpd's own, never node 1's.
    let loc = rr.rib(&[]).unwrap();
    for (p, _) in LEAKS {
        let from_n1: Vec<&Route> = find(&loc, p)
            .into_iter()
            .filter(|r| r.next_hop == a1)
            .collect();
        assert!(
            from_n1.is_empty(),
            "{p} from node 1 in the Loc-RIB: {from_n1:?}"
        );
    }
    assert!(
        find(&loc, "::/0").is_empty(),
        "::/0 in the Loc-RIB: {loc:?}"
    );

    // bgpd's log: one WARN per refused prefix, one for the conflict naming both nodes, and
    // no refusal or conflict on the IPv4 side.
    let log = rr.log(&seed.lab);
    let refusals: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("Calico guard: route refused"))
        .collect();
    assert_eq!(refusals.len(), LEAKS.len(), "{refusals:#?}");
    for (p, why) in LEAKS {
        let lines: Vec<&&str> = refusals
            .iter()
            .filter(|l| l.contains(&format!("prefix={p} ")))
            .collect();
        assert_eq!(lines.len(), 1, "{p}: {refusals:#?}");
        assert!(
            lines[0].contains(why) && lines[0].contains(&a1),
            "{}",
            lines[0]
        );
    }
    let warned: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains("WARN") && l.contains("Calico block announced by more than one node")
        })
        .collect();
    assert_eq!(warned.len(), 1, "{warned:#?}");
    for x in [&b2, &a1, &a2] {
        assert!(warned[0].contains(x.as_str()), "{x}: {}", warned[0]);
    }

    // Node 1's IPv6 session never reset, on either side; its IPv4 session neither.
    let (flaps, up) = session(&rr, &a1);
    assert_eq!(flaps, 0, "node 1's IPv6 session reset");
    let up = up.expect("node 1's IPv6 session is not Established");
    assert!(
        up + 1 >= up6_before + misbehaving_at.elapsed().as_secs(),
        "uptime {up} s, was {up6_before} s {:?} ago",
        misbehaving_at.elapsed()
    );
    assert_eq!(bird_since(), bird_before, "bird6 restarted its session");
    assert_eq!(session(&rr, &n1.addr).0, 0, "node 1's IPv4 session reset");
    let m = metrics(seed).unwrap();
    for a in [&a1, &n1.addr] {
        assert_eq!(
            metric(&m, "bgp_session_flaps_total", &[&label(a)]),
            Some(0.0),
            "{a}"
        );
    }

    // Node 1's bird6 back to normal: the conflict and the refusals clear.
    std::fs::write(&conf_path, &normal_conf).unwrap();
    let out = bird6.birdc(&["configure"]).unwrap();
    assert!(out.contains("Reconfigured"), "birdc6 configure: {out}");
    wait_for(
        seed,
        "bgpd: the conflict and the refusals clear",
        Duration::from_secs(20),
        |_| {
            let c = conflicts(&rr)?;
            let rows = show_nodes(&rr)?;
            let got: Vec<Want> = rows.iter().map(NodeRow::view).collect();
            if c.is_empty() && got == normal {
                Ok(())
            } else {
                Err(format!("conflicts {c:?}\n{rows:#?}"))
            }
        },
    );
    wait_for(seed, "metrics back to 0", Duration::from_secs(10), |s| {
        let m = metrics(s)?;
        let c = metric(&m, "bgp_calico_block_conflicts", &[]);
        let r = metric(&m, "bgp_calico_refused_prefixes", &[&label(&a1), &asn]);
        if (c, r) == (Some(0.0), Some(0.0)) {
            Ok(())
        } else {
            Err(format!("conflicts {c:?}, node 1 refused {r:?}"))
        }
    });
    wait_for(
        seed,
        "node 3's bird6 back to one path per block",
        Duration::from_secs(20),
        |s| {
            let r3 = s.nodes[2].v6.as_ref().unwrap().bird.routes();
            let r3 = r3.map_err(|e| e.to_string())?;
            let s3 = paths(&r3, &b2);
            if s3 != [(a2.clone(), true)] {
                return Err(format!("n3: {b2}: {s3:?}"));
            }
            leaks_contained(s)
        },
    );
    let log = rr.log(&seed.lab);
    assert!(
        log.lines()
            .any(|l| l.contains("Calico block conflict over") && l.contains(&b2)),
        "no INFO line for the end of the conflict"
    );
    assert_eq!(session(&rr, &a1).0, 0, "node 1's IPv6 session reset");
    assert_eq!(session(&rr, &n1.addr).0, 0, "node 1's IPv4 session reset");
}
