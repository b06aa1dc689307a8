#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The Calico-aware reflector in the hybrid lab (issue 21): the edge's node range carries
//! `calico = { pools = ["198.18.0.0/16"] }` (the pool the nodes' /26 blocks are from), the
//! nodes are BIRD 1.6 configured as Calico's confd configures it.
//!
//! Converged, `bgpctl --json show nodes` lists every node with its block and its pod /32 (the
//! lab's nodes announce the address on their loopback through `protocol direct`, and the
//! guard calls anything more specific than a block inside the pool "borrowed", whichever
//! block it is in), nothing refused, no conflict, `bgp_calico_block_conflicts 0`.
//!
//! Then node 1 misbehaves, through `birdc configure` (no session reset): its BIRD renders
//! Calico's configuration plus (a) node 2's block as a static route of its own, (b) a leak of
//! a default route, the VPC range and the pool aggregate (an operator's edit of the export
//! filter), and (c) two pods with addresses borrowed from node 3's block (on its loopback, as
//! the lab's pods are). bgpd must see the conflict (exactly node 2's block, both nodes), refuse
//! the leaks per route (listed with reasons, counted, logged once each), list the borrowed
//! addresses, keep node 1's session, and keep the leaks from every other node and the VBR
//! (the lab's import policy would refuse them too: the refused list shows the guard did), while
//! both paths of the stolen block are reflected. What BIRD 1.6 then does with them: node 3
//! holds both paths and prefers the thief's (the lower ORIGINATOR_ID wins its tie-break), and
//! its kernel protocol (`merge paths on`, as Calico's) installs one multipath route over both
//! nodes, so node 3's flows to node 2's pods (Calico announces no /32 for a pod in the node's
//! own block) are hashed between the owner, which answers, and the thief, whose blackhole
//! drops them: checked per pod against `ip route get`. Node 1 back to its normal
//! configuration: the conflict and the refusals clear, and node 3 reaches every pod again.
//!
//! `a_pool_added_by_reload`: a pool added by `bgpctl reload` is applied without a reset.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use lab_tests::daemons::find;
use lab_tests::hybrid::{calico_node_config, HybridLab, Options, CALICO_AS, POD_CIDR, VPC_ROUTES};
use lab_tests::{skip, Lab, Tool};

#[path = "common/calico_views.rs"]
mod calico_views;
use calico_views::{conflicts, metric, paths, session, show_nodes};

/// The edge's metrics (a failed scrape fails the test).
fn metrics(seed: &HybridLab) -> String {
    calico_views::metrics(seed).unwrap()
}

/// What node 1 leaks: a default route, the VPC range and the pool aggregate, with the reason
/// the guard must give.
const LEAKS: [(&str, &str); 3] = [
    ("0.0.0.0/0", "outside the Calico pools"),
    ("198.19.0.0/16", "outside the Calico pools"),
    (POD_CIDR, "shorter than a Calico block"),
];

/// Pods on node 1 with addresses borrowed from node 3's block 198.18.3.0/26.
const BORROWED: [&str; 2] = ["198.18.3.40", "198.18.3.41"];

/// Pods on node 2 as Calico wires them: behind a `cali*` interface, which `protocol direct`
/// leaves out, so that only node 2's block covers them (the lab's `.1` pod on the loopback is
/// announced as a /32 besides). Where node 3 sends their traffic is where the block's path
/// takes it.
const OWNER_PODS: [&str; 8] = [
    "198.18.2.10",
    "198.18.2.11",
    "198.18.2.12",
    "198.18.2.13",
    "198.18.2.14",
    "198.18.2.15",
    "198.18.2.16",
    "198.18.2.17",
];

/// Polls `check` every 200 ms until it returns `Ok`, for at most `limit`; on timeout panics
/// with its last complaint and the daemons' logs (the lab is torn down as the panic unwinds).
fn wait_for<T>(
    seed: &mut HybridLab,
    what: &str,
    limit: Duration,
    mut check: impl FnMut(&mut HybridLab) -> Result<T, String>,
) -> T {
    let start = Instant::now();
    loop {
        if let Err(e) = seed.lab.check_alive() {
            panic!("{what}: {e}\n{}", seed.lab.logs());
        }
        match check(seed) {
            Ok(v) => {
                eprintln!("{what}: after {:.1?}", start.elapsed());
                return v;
            }
            Err(why) if start.elapsed() > limit => {
                panic!("{what}: not after {limit:?}: {why}\n{}", seed.lab.logs())
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// From `ns`, source `src`, for each of `targets` (at once): the next hop the kernel picks
/// (`ip route get`, the same hash as the ping's flow) and whether a ping is answered.
fn reach(seed: &HybridLab, ns: &str, src: &str, targets: &[&str]) -> Vec<(String, String, bool)> {
    let mut script = String::new();
    for t in targets {
        script.push_str(&format!(
            "(if ping -c 2 -i 0.2 -W 2 -I {src} {t} >/dev/null 2>&1; then r=ok; else r=lost; fi; \
             echo \"{t} $(ip route get {t} from {src} | grep -o 'via [0-9.]*' | head -1) $r\") &\n"
        ));
    }
    script.push_str("wait\n");
    let o = seed.lab.run(ns, "bash", &["-c", &script]).unwrap();
    let mut v: Vec<(String, String, bool)> = o
        .stdout
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            match w.as_slice() {
                [t, "via", hop, r] => Some(((*t).to_owned(), (*hop).to_owned(), *r == "ok")),
                _ => None,
            }
        })
        .collect();
    v.sort();
    assert_eq!(v.len(), targets.len(), "{}{}", o.stdout, o.stderr);
    v
}

/// Nothing node 1 leaked reached the other nodes or the VBR: no default route anywhere, the
/// VPC routes only from the edge (the nodes) or from the VBR itself, the pool aggregate only
/// as bgpd's own aggregate (VBR) and not at all on the nodes.
fn leaks_contained(seed: &HybridLab) -> Result<(), String> {
    let edge = &seed.rrs[0];
    for n in &seed.nodes[1..] {
        let routes = n.bird.routes().map_err(|e| e.to_string())?;
        if !find(&routes, "0.0.0.0/0").is_empty() || !find(&routes, POD_CIDR).is_empty() {
            return Err(format!("{}: a leak arrived: {routes:?}", n.bird.name));
        }
        for p in VPC_ROUTES {
            let got = paths(&routes, p);
            if got != [(edge.lan.clone(), true)] {
                return Err(format!("{}: {p}: {got:?}", n.bird.name));
            }
        }
    }
    let vbr = seed.vbr.routes("ipv4").map_err(|e| e.to_string())?;
    let from_edge: BTreeSet<&str> = vbr
        .iter()
        .filter(|r| r.next_hop == edge.uplink)
        .map(|r| r.prefix.as_str())
        .collect();
    if from_edge != BTreeSet::from([POD_CIDR]) || !find(&vbr, "0.0.0.0/0").is_empty() {
        return Err(format!("VBR: from the edge {from_edge:?}: {vbr:?}"));
    }
    Ok(())
}

#[test]
fn calico_guard_and_block_conflicts_with_bird16_nodes() {
    if skip("calico_lab", &[Tool::Bird16, Tool::Frr, Tool::Ping]) {
        return;
    }
    let start = Instant::now();
    let opts = Options {
        calico_pools: Some(&[POD_CIDR]),
        ..Options::default()
    };
    let mut seed = HybridLab::up(Lab::new().unwrap(), opts).unwrap();
    if let Err(e) = seed.wait_converged(Duration::from_secs(60)) {
        panic!("{e}\n{}", seed.lab.logs());
    }
    let rr = seed.rrs[0].bgpd.clone();
    let (n1, n2, n3) = (
        seed.nodes[0].clone(),
        seed.nodes[1].clone(),
        seed.nodes[2].clone(),
    );
    let blocks: Vec<String> = seed.nodes.iter().map(|n| n.block.clone()).collect();
    let pods: Vec<String> = seed.nodes.iter().map(|n| format!("{}/32", n.pod)).collect();
    let block_of = |i: usize| blocks[i].clone();
    let pod32 = |i: usize| pods[i].clone();

    // Converged: every node with its block and its pod /32, nothing refused, no conflict.
    let normal: Vec<(String, Vec<String>, Vec<String>)> = seed
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.addr.clone(), vec![block_of(i)], vec![pod32(i)]))
        .collect();
    let rows = wait_for(
        &mut seed,
        "show nodes: every node, its block and pod",
        Duration::from_secs(20),
        |_| {
            let rows = show_nodes(&rr)?;
            let got: Vec<(String, Vec<String>, Vec<String>)> = rows
                .iter()
                .map(|r| (r.address.clone(), r.blocks.clone(), r.borrowed.clone()))
                .collect();
            if got != normal
                || rows
                    .iter()
                    .any(|r| r.state != "established" || !r.refused.is_empty())
            {
                return Err(format!("{rows:#?}"));
            }
            Ok(rows)
        },
    );
    for r in &rows {
        assert_eq!(r.neighbor, "calico", "{r:?}");
        assert_eq!(r.graceful_restart, "none", "{r:?}");
        assert!(r.uptime.is_some(), "{r:?}");
    }
    assert_eq!(conflicts(&rr).unwrap(), []);
    let node_labels = |n: &lab_tests::hybrid::Node| format!("address=\"{}\"", n.addr);
    let asn = format!("remote_as=\"{CALICO_AS}\"");
    wait_for(
        &mut seed,
        "metrics: no conflict, nothing refused",
        Duration::from_secs(10),
        |s| {
            let m = metrics(s);
            let refused: Vec<Option<f64>> = s
                .nodes
                .iter()
                .map(|n| metric(&m, "bgp_calico_refused_prefixes", &[&node_labels(n), &asn]))
                .collect();
            let conflicts = metric(&m, "bgp_calico_block_conflicts", &[]);
            if conflicts == Some(0.0) && refused.iter().all(|r| *r == Some(0.0)) {
                Ok(())
            } else {
                Err(format!("conflicts {conflicts:?}, refused {refused:?}"))
            }
        },
    );
    // Node 2's pods behind a cali interface (a veth, as Calico's; the addresses on it, so
    // no route in the main table for BIRD's kernel protocol to learn); node 3 reaches them
    // all through node 2.
    let lab = &seed.lab;
    lab.ip(&[
        "-n", &n2.ns, "link", "add", "cali0", "type", "veth", "peer", "name", "pod0",
    ])
    .unwrap();
    for dev in ["cali0", "pod0"] {
        lab.ip(&["-n", &n2.ns, "link", "set", dev, "up"]).unwrap();
    }
    for a in OWNER_PODS {
        lab.ip(&[
            "-n",
            &n2.ns,
            "addr",
            "add",
            &format!("{a}/32"),
            "dev",
            "cali0",
        ])
        .unwrap();
    }
    let owner_only: Vec<(String, String, bool)> = OWNER_PODS
        .iter()
        .map(|a| ((*a).to_owned(), n2.addr.clone(), true))
        .collect();
    assert_eq!(reach(&seed, &n3.ns, &n3.pod, &OWNER_PODS), owner_only);

    let (flaps, up_before) = session(&rr, &n1.addr);
    assert_eq!(flaps, 0);
    let up_before = up_before.unwrap();
    let misbehaving_at = Instant::now();
    let proto = format!("Node_{}", seed.rrs[0].lan.replace('.', "_"));
    let bird_since = |s: &HybridLab| -> String {
        let out = s.nodes[0]
            .bird
            .birdc(&["show", "protocols", &proto])
            .unwrap();
        out.lines()
            .find(|l| l.starts_with(&proto))
            .unwrap_or_default()
            .to_owned()
    };
    let bird_before = bird_since(&seed);
    assert!(bird_before.contains("Established"), "{bird_before}");

    // Node 1 misbehaves: Calico's configuration, plus node 2's block as its own (a), and a
    // leak of a default route, the VPC range and the pool aggregate (b)...
    let mut statics = vec![block_of(0), block_of(1)];
    statics.extend(LEAKS.iter().map(|(p, _)| (*p).to_owned()));
    let normal_conf = calico_node_config(&n1.addr, &[block_of(0)], &[&seed.rrs[0].lan]);
    let export = "    accept;\n  }\n  reject;\n";
    assert!(normal_conf.contains(export), "{normal_conf}");
    let bad_conf = calico_node_config(&n1.addr, &statics, &[&seed.rrs[0].lan]).replacen(
        export,
        "    accept;\n  }\n  # An operator's edit: the leak.\n  if ( net = 0.0.0.0/0 || net = 198.19.0.0/16 ) then accept;\n  reject;\n",
        1,
    );
    let conf_path = seed.lab.path("n1.conf");
    std::fs::write(&conf_path, &bad_conf).unwrap();
    let out = n1.bird.birdc(&["configure"]).unwrap();
    assert!(out.contains("Reconfigured"), "birdc configure: {out}");
    // ... and two pods with addresses borrowed from node 3's block (c).
    for a in BORROWED {
        seed.lab
            .ip(&["-n", &n1.ns, "addr", "add", &format!("{a}/32"), "dev", "lo"])
            .unwrap();
    }

    // bgpd: exactly the stolen block in conflict, naming both nodes; node 1 with both blocks,
    // its pod and the borrowed /32s, the leaks refused with their reasons; node 2 unchanged.
    let stolen = block_of(1);
    let want_conflict = vec![(
        stolen.clone(),
        vec![n1.addr.clone(), n2.addr.clone()],
        false,
    )];
    let mut n1_borrowed: Vec<String> = BORROWED.iter().map(|a| format!("{a}/32")).collect();
    n1_borrowed.push(pod32(0));
    n1_borrowed.sort();
    let mut n1_blocks = vec![block_of(0), stolen.clone()];
    n1_blocks.sort();
    let mut want_refused: Vec<(String, String)> = LEAKS
        .iter()
        .map(|(p, why)| ((*p).to_owned(), (*why).to_owned()))
        .collect();
    want_refused.sort();
    wait_for(
        &mut seed,
        "bgpd sees the conflict, the leaks and the borrowed /32s",
        Duration::from_secs(20),
        |_| {
            let c = conflicts(&rr)?;
            let rows = show_nodes(&rr)?;
            let row = |a: &str| rows.iter().find(|r| r.address == a).cloned();
            let (Some(r1), Some(r2), Some(r3)) = (row(&n1.addr), row(&n2.addr), row(&n3.addr))
            else {
                return Err(format!("{rows:#?}"));
            };
            let ok = c == want_conflict
                && r1.blocks == n1_blocks
                && r1.borrowed == n1_borrowed
                && r1.refused == want_refused
                && r2.blocks == [stolen.clone()]
                && r2.borrowed == [pod32(1)]
                && r2.refused.is_empty()
                && r3.blocks == [block_of(2)]
                && r3.refused.is_empty();
            if ok {
                Ok(())
            } else {
                Err(format!("conflicts {c:?}\n{rows:#?}"))
            }
        },
    );
    let n1_label = node_labels(&n1);
    wait_for(
        &mut seed,
        "metrics: one conflict, node 1's leaks",
        Duration::from_secs(10),
        |s| {
            let m = metrics(s);
            let got: Vec<Option<f64>> = s
                .nodes
                .iter()
                .map(|n| metric(&m, "bgp_calico_refused_prefixes", &[&node_labels(n), &asn]))
                .collect();
            let c = metric(&m, "bgp_calico_block_conflicts", &[]);
            let want = vec![Some(LEAKS.len() as f64), Some(0.0), Some(0.0)];
            if c == Some(1.0) && got == want {
                Ok(())
            } else {
                Err(format!("conflicts {c:?}, refused {got:?}"))
            }
        },
    );

    // Both paths of the stolen block are reflected: bgpd holds them, node 3 has both (and node
    // 2 the thief's beside its own static route); the borrowed /32s go to node 1 everywhere.
    let rib = rr.rib(&[&stolen]).unwrap();
    let mut hops: Vec<&str> = rib.iter().map(|r| r.next_hop.as_str()).collect();
    hops.sort_unstable();
    assert_eq!(hops, [n1.addr.as_str(), n2.addr.as_str()], "{rib:?}");
    let (n3_stolen, n2_stolen) = wait_for(
        &mut seed,
        "the nodes get both paths and the borrowed /32s",
        Duration::from_secs(20),
        |s| {
            let r3 = s.nodes[2].bird.routes().map_err(|e| e.to_string())?;
            let r2 = s.nodes[1].bird.routes().map_err(|e| e.to_string())?;
            let s3 = paths(&r3, &stolen);
            let hops3: Vec<&str> = s3.iter().map(|(h, _)| h.as_str()).collect();
            if hops3 != [n1.addr.as_str(), n2.addr.as_str()] {
                return Err(format!("n3: {stolen}: {s3:?}"));
            }
            let s2 = paths(&r2, &stolen);
            if !s2.iter().any(|(h, _)| *h == n1.addr) {
                return Err(format!("n2: {stolen}: {s2:?}"));
            }
            for a in BORROWED {
                let p = format!("{a}/32");
                for (name, r) in [("n2", &r2), ("n3", &r3)] {
                    if paths(r, &p) != [(n1.addr.clone(), true)] {
                        return Err(format!("{name}: {p}: {:?}", paths(r, &p)));
                    }
                }
            }
            Ok((s3, s2))
        },
    );
    eprintln!("BIRD 1.6 on n3, {stolen} (next hop, best): {n3_stolen:?}");
    eprintln!(
        "BIRD 1.6 on n2 (the owner), {stolen}: {n2_stolen:?} (beside its own static blackhole)"
    );
    // BIRD's kernel protocol (`merge paths on`, as Calico's) installs both paths as one
    // multipath route: node 3 hashes its flows to node 2's pods between the owner and the
    // thief, whose blackhole drops them.
    let kernel = wait_for(
        &mut seed,
        "n3's kernel route over both nodes",
        Duration::from_secs(10),
        |s| {
            let o = s
                .lab
                .run(&n3.ns, "ip", &["route", "show", &stolen])
                .map_err(|e| e.to_string())?;
            let hops = [&n1.addr, &n2.addr];
            if hops.iter().all(|h| o.stdout.contains(&format!("via {h} "))) {
                Ok(o.stdout)
            } else {
                Err(o.stdout)
            }
        },
    );
    eprintln!(
        "n3's kernel route for {stolen}: {}",
        kernel.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    let split = reach(&seed, &n3.ns, &n3.pod, &OWNER_PODS);
    for (pod, hop, answered) in &split {
        assert!(hop == &n1.addr || hop == &n2.addr, "{pod} via {hop}");
        assert_eq!(
            *answered,
            *hop == n2.addr,
            "{pod} via {hop}: answered {answered}"
        );
    }
    let lost = split.iter().filter(|(_, _, ok)| !ok).count();
    eprintln!(
        "n3 -> node 2's {} pods (not announced as /32): {lost} hashed to the thief and lost: {split:?}",
        OWNER_PODS.len()
    );

    // The leaks reach no other node and not the VBR.
    wait_for(
        &mut seed,
        "the leaks are contained",
        Duration::from_secs(5),
        |s| leaks_contained(s),
    );
    let vbr: Vec<String> = seed
        .vbr
        .routes("ipv4")
        .unwrap()
        .iter()
        .map(|r| format!("{} via {}", r.prefix, r.next_hop))
        .collect();
    eprintln!("FRR (VBR) show bgp ipv4 unicast: {vbr:?}");
    let adj_in = rr.rib(&["--neighbor", &n1.addr, "--in"]).unwrap();
    for (p, _) in LEAKS {
        assert!(
            find(&adj_in, p).is_empty(),
            "{p} in n1's Adj-RIB-In: {adj_in:?}"
        );
    }

    // Node 2's lab pod (announced as a /32, more specific than either path of the block) and
    // node 1's borrowed pods are reached.
    let ping = |s: &HybridLab, ns: &str, from: &str, to: &str| {
        let o = s
            .lab
            .run(ns, "ping", &["-c", "1", "-W", "2", "-I", from, to])
            .unwrap();
        assert!(o.ok(), "ping {from} -> {to}: {}{}", o.stdout, o.stderr);
    };
    ping(&seed, &n3.ns, &n3.pod, &n2.pod);
    ping(&seed, &n2.ns, &n2.pod, BORROWED[0]);

    // bgpd's log: one WARN per refused prefix, one for the conflict naming both nodes.
    let log = rr.log(&seed.lab);
    for (p, why) in LEAKS {
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| {
                l.contains("WARN")
                    && l.contains("Calico guard: route refused")
                    && l.contains(&format!("prefix={p} "))
            })
            .collect();
        assert_eq!(lines.len(), 1, "{p}: {lines:#?}");
        assert!(
            lines[0].contains(why) && lines[0].contains(&n1.addr),
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
    for x in [&stolen, &n1.addr, &n2.addr] {
        assert!(warned[0].contains(x.as_str()), "{x}: {}", warned[0]);
    }

    // Node 1's session never reset, on either side.
    let (flaps, up) = session(&rr, &n1.addr);
    assert_eq!(flaps, 0, "node 1's session reset");
    let up = up.expect("node 1's session is not Established");
    assert!(
        up + 1 >= up_before + misbehaving_at.elapsed().as_secs(),
        "uptime {up} s, was {up_before} s {:?} ago",
        misbehaving_at.elapsed()
    );
    assert_eq!(bird_since(&seed), bird_before, "BIRD restarted its session");
    let m = metrics(&seed);
    assert_eq!(
        metric(&m, "bgp_session_flaps_total", &[&n1_label]),
        Some(0.0)
    );

    // Node 1 back to normal: the conflict and the refusals clear.
    std::fs::write(&conf_path, &normal_conf).unwrap();
    let out = n1.bird.birdc(&["configure"]).unwrap();
    assert!(out.contains("Reconfigured"), "birdc configure: {out}");
    for a in BORROWED {
        seed.lab
            .ip(&["-n", &n1.ns, "addr", "del", &format!("{a}/32"), "dev", "lo"])
            .unwrap();
    }
    let normal: Vec<(String, Vec<String>, Vec<String>)> = seed
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.addr.clone(), vec![block_of(i)], vec![pod32(i)]))
        .collect();
    wait_for(
        &mut seed,
        "bgpd: the conflict and the refusals clear",
        Duration::from_secs(20),
        |_| {
            let c = conflicts(&rr)?;
            let rows = show_nodes(&rr)?;
            let got: Vec<(String, Vec<String>, Vec<String>)> = rows
                .iter()
                .map(|r| (r.address.clone(), r.blocks.clone(), r.borrowed.clone()))
                .collect();
            if c.is_empty() && got == normal && rows.iter().all(|r| r.refused.is_empty()) {
                Ok(())
            } else {
                Err(format!("conflicts {c:?}\n{rows:#?}"))
            }
        },
    );
    wait_for(
        &mut seed,
        "metrics back to 0",
        Duration::from_secs(10),
        |s| {
            let m = metrics(s);
            let c = metric(&m, "bgp_calico_block_conflicts", &[]);
            let r = metric(&m, "bgp_calico_refused_prefixes", &[&n1_label, &asn]);
            if (c, r) == (Some(0.0), Some(0.0)) {
                Ok(())
            } else {
                Err(format!("conflicts {c:?}, node 1 refused {r:?}"))
            }
        },
    );
    wait_for(
        &mut seed,
        "the nodes back to one path per block",
        Duration::from_secs(20),
        |s| {
            s.unmet().map_err(|e| e.to_string())?.map_or(Ok(()), Err)?;
            let r3 = s.nodes[2].bird.routes().map_err(|e| e.to_string())?;
            let s3 = paths(&r3, &stolen);
            if s3 != [(n2.addr.clone(), true)] {
                return Err(format!("n3: {stolen}: {s3:?}"));
            }
            if BORROWED
                .iter()
                .any(|a| !find(&r3, &format!("{a}/32")).is_empty())
            {
                return Err("n3 still has the borrowed /32s".into());
            }
            let k = s
                .lab
                .run(&n3.ns, "ip", &["route", "show", &stolen])
                .map_err(|e| e.to_string())?;
            if k.stdout.contains(&format!("via {} ", n1.addr)) {
                return Err(format!("n3's kernel: {}", k.stdout));
            }
            Ok(())
        },
    );
    assert_eq!(reach(&seed, &n3.ns, &n3.pod, &OWNER_PODS), owner_only);
    let log = rr.log(&seed.lab);
    assert!(
        log.lines()
            .any(|l| l.contains("Calico block conflict over") && l.contains(&stolen)),
        "no INFO line for the end of the conflict"
    );
    assert_eq!(session(&rr, &n1.addr).0, 0, "node 1's session reset");
    eprintln!("calico_lab: {:.1?}", start.elapsed());
}

/// A block of Calico's second IP pool, which bgpd is told about by reload.
const NEW_POOL_BLOCK: &str = "198.18.200.0/26";

/// Calico gets a second IP pool (198.18.128.0/17) before bgpd does: node 1 and node 2 each
/// announce a block of it (the same block: a conflict), which the guard refuses as outside
/// the pools (bgpd knows 198.18.0.0/17 only). The operator adds the pool to `calico` and runs
/// `bgpctl reload`, which re-imports the range's routes (ROUTE-REFRESH): the block is accepted
/// and reflected, so it must leave the refused lists, appear in both nodes' blocks and be a
/// conflict.
///
/// A pool added by `bgpctl reload`: the refused block is accepted, the routing task
/// classifies the nodes' blocks with the new pools (the conflict is found, `show nodes`
/// lists the block) and the refusals are cleared, without any session reset. (Before the
/// fix the routing task kept the pools of PeerUp and the refusals stayed listed.)
#[test]
fn a_pool_added_by_reload() {
    if skip("calico_lab_reload", &[Tool::Bird16, Tool::Frr]) {
        return;
    }
    let opts = Options {
        calico_pools: Some(&["198.18.0.0/17"]),
        ..Options::default()
    };
    let mut seed = HybridLab::up(Lab::new().unwrap(), opts).unwrap();
    if let Err(e) = seed.wait_converged(Duration::from_secs(60)) {
        panic!("{e}\n{}", seed.lab.logs());
    }
    let rr = seed.rrs[0].bgpd.clone();
    let lan = seed.rrs[0].lan.clone();
    let (n1, n2) = (seed.nodes[0].clone(), seed.nodes[1].clone());
    for n in [&n1, &n2] {
        let blocks = [n.block.clone(), NEW_POOL_BLOCK.to_owned()];
        let conf = calico_node_config(&n.addr, &blocks, &[&lan]);
        std::fs::write(seed.lab.path(&format!("{}.conf", n.bird.name)), conf).unwrap();
        let out = n.bird.birdc(&["configure"]).unwrap();
        assert!(out.contains("Reconfigured"), "birdc configure: {out}");
    }
    let outside = vec![(
        NEW_POOL_BLOCK.to_owned(),
        "outside the Calico pools".to_owned(),
    )];
    wait_for(
        &mut seed,
        "the new pool's block refused",
        Duration::from_secs(20),
        |_| {
            let rows = show_nodes(&rr)?;
            if rows.iter().take(2).all(|r| r.refused == outside) {
                Ok(())
            } else {
                Err(format!("{rows:#?}"))
            }
        },
    );

    let cfg = std::fs::read_to_string(&rr.config).unwrap().replace(
        "calico = { pools = [\"198.18.0.0/17\"] }",
        "calico = { pools = [\"198.18.0.0/17\", \"198.18.128.0/17\"] }",
    );
    assert!(cfg.contains("198.18.128.0/17"), "{cfg}");
    std::fs::write(&rr.config, cfg).unwrap();
    let out = rr.ctl_text(&["reload"]).unwrap();
    assert!(out.contains("configuration reloaded"), "{out}");
    // The re-import happened: bgpd holds both nodes' paths for the block.
    wait_for(
        &mut seed,
        "the block accepted after the reload",
        Duration::from_secs(20),
        |_| {
            let rib = rr.rib(&[NEW_POOL_BLOCK]).map_err(|e| e.to_string())?;
            if rib.len() == 2 {
                Ok(())
            } else {
                Err(format!("{rib:?}"))
            }
        },
    );
    let asn = format!("remote_as=\"{CALICO_AS}\"");
    let start = Instant::now();
    let problems = loop {
        let mut p = Vec::new();
        let rows = show_nodes(&rr).unwrap();
        for (n, r) in [&n1, &n2].iter().zip(&rows) {
            if !r.blocks.contains(&NEW_POOL_BLOCK.to_owned()) {
                p.push(format!(
                    "{}: {NEW_POOL_BLOCK} not in blocks {:?}",
                    n.addr, r.blocks
                ));
            }
            if !r.refused.is_empty() {
                p.push(format!("{}: still refused {:?}", n.addr, r.refused));
            }
        }
        let c = conflicts(&rr).unwrap();
        let want = vec![(
            NEW_POOL_BLOCK.to_owned(),
            vec![n1.addr.clone(), n2.addr.clone()],
            false,
        )];
        if c != want {
            p.push(format!("conflicts {c:?}, not {want:?}"));
        }
        let m = metrics(&seed);
        for n in [&n1, &n2] {
            let label = format!("address=\"{}\"", n.addr);
            let r = metric(&m, "bgp_calico_refused_prefixes", &[&label, &asn]);
            if r != Some(0.0) {
                p.push(format!("{}: bgp_calico_refused_prefixes {r:?}", n.addr));
            }
        }
        if p.is_empty() || start.elapsed() > Duration::from_secs(10) {
            break p;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        problems.is_empty(),
        "after the reload:\n{}",
        problems.join("\n")
    );
}
