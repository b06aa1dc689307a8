//! The cloud gateway's route limit (an Alibaba VBR accepts 110 routes per peer and silently
//! drops the rest; FRR here is stricter: `maximum-prefix 110` tears the session down). With
//! the /26 blocks deliberately let through to the cloud (123 candidate routes: the aggregate,
//! node 1's 121 blocks, node 2's block), `max_prefixes_out = 100` must hold what bgpd sends
//! to exactly 100, so the VBR session stays up and FRR holds 100 routes from us.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use lab_tests::daemons::Bgpd;
use lab_tests::hybrid::{HybridLab, Options, POD_CIDR, POD_CIDR_V6, VPC_ROUTES, VPC_ROUTES_V6};
use lab_tests::{skip, wait_until, Lab, Tool};

#[test]
fn max_prefixes_out_keeps_the_vbr_session_up() {
    if skip("cloud_limit", &[Tool::Bird16, Tool::Frr]) {
        return;
    }
    let opts = Options {
        nodes: 2,
        extra_blocks: 120,
        leak_blocks: true,
        ..Options::default()
    };
    let mut seed = HybridLab::up(Lab::new().unwrap(), opts).unwrap();
    if let Err(e) = seed.wait_converged(Duration::from_secs(60)) {
        panic!("{e}\n{}", seed.lab.logs());
    }
    let rr = seed.rrs[0].bgpd.clone();
    let vbr = seed.vbr.clone();
    let from_us = || -> std::io::Result<usize> {
        Ok(vbr
            .routes("ipv4")?
            .iter()
            .filter(|r| !VPC_ROUTES.contains(&r.prefix.as_str()))
            .count())
    };
    let res = wait_until(
        Duration::from_secs(30),
        "node 1's blocks at the edge",
        || Ok(rr.rib(&["198.18.0.0/16", "--longer"])?.len() >= 123),
    );
    if let Err(e) = res {
        panic!("{e}\n{}", seed.lab.logs());
    }
    wait_until(Duration::from_secs(30), "100 routes at the VBR", || {
        Ok(from_us()? == 100)
    })
    .unwrap();
    // Stays so: no more arrive, and FRR's limit never trips.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(from_us().unwrap(), 100);
    assert!(vbr.established("203.0.113.1").unwrap());
    let v = rr.ctl(&["show", "neighbor", "vbr"]).unwrap();
    let v = if v.is_array() { v[0].clone() } else { v };
    assert_eq!(v["max_prefixes_out"]["limit"], 100, "{v}");
    assert_eq!(v["max_prefixes_out"]["advertised"], 100, "{v}");
    assert!(
        v["max_prefixes_out"]["suppressed"].as_u64().unwrap() >= 23,
        "{v}"
    );
    assert_eq!(v["flaps"], 0, "{v}");
}

/// Issue 14, part 2: widening `to-cloud` (the nodes' /26 blocks and /32s let through) and
/// narrowing it again, each with a reload, must leave the VBR with the pod aggregate alone.
/// As in production, the nodes' sessions come up afresh before each widening (0.5-5 s
/// before it) and go down and up again around the narrowing (all at once, 0-6 ms before it): a reload
/// racing the nodes' withdrawals left what they withdrew at the VBR for good, the log saying
/// only "configuration reloaded".
#[test]
fn narrowing_the_cloud_policy_again_withdraws_what_the_wide_one_leaked() {
    if skip("cloud_limit", &[Tool::Bird16, Tool::Frr]) {
        return;
    }
    let opts = Options {
        nodes: 3,
        extra_blocks: 480,
        ..Options::default()
    };
    let mut seed = HybridLab::up(Lab::new().unwrap(), opts).unwrap();
    if let Err(e) = seed.wait_converged(Duration::from_secs(60)) {
        panic!("{e}\n{}", seed.lab.logs());
    }
    let rr = seed.rrs[0].bgpd.clone();
    let vbr = seed.vbr.clone();
    let narrow = std::fs::read_to_string(&rr.config).unwrap();
    let term = format!("prefixes = [\"{POD_CIDR}\"]");
    assert_eq!(narrow.matches(&term).count(), 1, "{narrow}");
    let wide = narrow.replace(&term, "prefixes = [\"198.18.0.0/16{16,32}\"]");
    let from_us = || -> std::io::Result<Vec<String>> {
        Ok(vbr
            .routes("ipv4")?
            .into_iter()
            .filter(|r| !VPC_ROUTES.contains(&r.prefix.as_str()))
            .map(|r| r.prefix)
            .collect())
    };
    let nodes: Vec<String> = seed.nodes.iter().map(|n| n.addr.clone()).collect();
    let nodes_up = |rr: &Bgpd| -> std::io::Result<bool> {
        let s = rr.sessions()?;
        Ok(nodes.iter().all(|a| {
            s.iter()
                .any(|x| &x.address == a && x.state == "established")
        }))
    };
    let proto = format!("Node_{}", seed.rrs[0].lan.replace('.', "_"));
    let restart_nodes = |seed: &HybridLab| {
        for n in &seed.nodes {
            n.bird.birdc(&["restart", &proto]).unwrap();
        }
    };
    restart_nodes(&seed);
    let delays_ms = [
        500, 3000, 800, 4500, 1200, 2000, 600, 3500, 1500, 5000, 700, 2500,
    ];
    // The budget starts with the cycles: the lab's first test may have built bgpd first.
    let started = Instant::now();
    let mut cycles = 0;
    for (cycle, delay_ms) in delays_ms.into_iter().enumerate() {
        // Bounded: the whole test stays under about 90 s on a slow machine.
        if started.elapsed() > Duration::from_secs(70) {
            break;
        }
        let res = wait_until(Duration::from_secs(20), "the node sessions back", || {
            nodes_up(&rr)
        });
        if let Err(e) = res {
            panic!("cycle {cycle}: {e}\n{}", seed.lab.logs());
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        std::fs::write(&rr.config, &wide).unwrap();
        seed.lab.signal(rr.proc, "HUP").unwrap();
        let res = wait_until(Duration::from_secs(15), "100 routes at the VBR", || {
            Ok(from_us()?.len() == 100)
        });
        if let Err(e) = res {
            panic!(
                "cycle {cycle}: {e} (it has {:?})\n{}",
                from_us().map(|r| r.len()),
                seed.lab.logs()
            );
        }
        // The nodes' sessions restart (all at once) as the narrowing is reloaded: their
        // withdrawals and the reload meet in the routing task before its next export.
        let offset_ms = [0, 2, 4, 1, 3, 6][cycle % 6];
        std::fs::write(&rr.config, &narrow).unwrap();
        let birds: Vec<_> = seed.nodes.iter().map(|n| n.bird.clone()).collect();
        std::thread::scope(|s| {
            for b in &birds {
                let proto = &proto;
                s.spawn(move || b.birdc(&["restart", proto]).unwrap());
            }
            std::thread::sleep(Duration::from_millis(offset_ms));
            seed.lab.signal(rr.proc, "HUP").unwrap();
        });
        let res = wait_until(Duration::from_secs(5), "the node sessions to drop", || {
            Ok(!nodes_up(&rr)?)
        })
        .and_then(|()| {
            wait_until(Duration::from_secs(20), "the node sessions back", || {
                nodes_up(&rr)
            })
        })
        .and_then(|()| {
            wait_until(
                Duration::from_secs(5),
                "the aggregate alone at the VBR",
                || Ok(from_us()? == [POD_CIDR]),
            )
        });
        if let Err(e) = res {
            let left = from_us().unwrap_or_default();
            panic!(
                "cycle {cycle} (widened {delay_ms} ms after the nodes came up, reloaded narrow {offset_ms} ms into their restart): {e}: the VBR holds {} routes from us: {:?}\n{}",
                left.len(),
                &left[..left.len().min(10)],
                seed.lab.logs()
            );
        }
        cycles += 1;
        eprintln!(
            "cycle {cycle}: widened {delay_ms} ms after the nodes came up, reloaded narrow {offset_ms} ms into their restart: ok ({:.1?})",
            started.elapsed()
        );
    }
    assert!(cycles >= 8, "only {cycles} cycles in the time allowed");
    assert!(vbr.established("203.0.113.1").unwrap());
}

/// The IPv6 twin of the narrowing test, in the dual-stack seed: `to-cloud` widened to let
/// the nodes' blocks and pod addresses through in both families (aggregate, 3 blocks, 3
/// host routes each), then narrowed again while every node's `bird` and `bird6` restart
/// their sessions to the reflector (0-6 ms apart from the reload): the VBR must end with the
/// two aggregates alone, over the `vbr` and the `vbr6` session, every cycle.
#[test]
fn narrowing_the_cloud_policy_withdraws_what_leaked_in_both_families() {
    if skip("cloud_limit_v6", &[Tool::Bird16, Tool::Bird16v6, Tool::Frr]) {
        return;
    }
    let opts = Options {
        dual_stack: true,
        ..Options::default()
    };
    let mut seed = HybridLab::up(Lab::new().unwrap(), opts).unwrap();
    if let Err(e) = seed.wait_converged(Duration::from_secs(60)) {
        panic!("{e}\n{}", seed.lab.logs());
    }
    let rr = seed.rrs[0].bgpd.clone();
    let vbr = seed.vbr.clone();
    let narrow = std::fs::read_to_string(&rr.config).unwrap();
    let term = format!("prefixes = [\"{POD_CIDR}\", \"{POD_CIDR_V6}\"]");
    assert_eq!(narrow.matches(&term).count(), 1, "{narrow}");
    let wide = narrow.replace(
        &term,
        "prefixes = [\"198.18.0.0/16{16,32}\", \"2001:db8:18::/48{48,128}\"]",
    );
    let from_us = |afi: &str, vpc: &[&str]| -> std::io::Result<Vec<String>> {
        let mut p: Vec<String> = vbr
            .routes(afi)?
            .into_iter()
            .filter(|r| !vpc.contains(&r.prefix.as_str()))
            .map(|r| r.prefix)
            .collect();
        p.sort();
        p.dedup();
        Ok(p)
    };
    let both = || -> std::io::Result<(Vec<String>, Vec<String>)> {
        Ok((
            from_us("ipv4", &VPC_ROUTES)?,
            from_us("ipv6", &VPC_ROUTES_V6)?,
        ))
    };
    let mut peers: Vec<String> = seed.nodes.iter().map(|n| n.addr.clone()).collect();
    peers.extend(
        seed.nodes
            .iter()
            .map(|n| n.v6.as_ref().unwrap().addr.clone()),
    );
    let nodes_up = |rr: &Bgpd| -> std::io::Result<bool> {
        let s = rr.sessions()?;
        Ok(peers.iter().all(|a| {
            s.iter()
                .any(|x| &x.address == a && x.state == "established")
        }))
    };
    let proto = |a: &str| format!("Node_{}", a.replace(['.', ':'], "_"));
    let proto4 = proto(&seed.rrs[0].lan);
    let proto6 = proto(&seed.rrs[0].v6.as_ref().unwrap().lan);
    let birds: Vec<(lab_tests::daemons::Bird, String)> = seed
        .nodes
        .iter()
        .flat_map(|n| {
            [
                (n.bird.clone(), proto4.clone()),
                (n.v6.as_ref().unwrap().bird.clone(), proto6.clone()),
            ]
        })
        .collect();
    let started = Instant::now();
    for (cycle, delay_ms) in [300u64, 1500, 600, 2500, 900, 2000].into_iter().enumerate() {
        let res = wait_until(Duration::from_secs(20), "the node sessions back", || {
            nodes_up(&rr)
        });
        if let Err(e) = res {
            panic!("cycle {cycle}: {e}\n{}", seed.lab.logs());
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        std::fs::write(&rr.config, &wide).unwrap();
        seed.lab.signal(rr.proc, "HUP").unwrap();
        let res = wait_until(
            Duration::from_secs(15),
            "7 routes of each family at the VBR",
            || {
                let (v4, v6) = both()?;
                Ok(v4.len() == 7 && v6.len() == 7)
            },
        );
        if let Err(e) = res {
            panic!(
                "cycle {cycle}: {e} (it has {:?})\n{}",
                both(),
                seed.lab.logs()
            );
        }
        let offset_ms = [0, 2, 4, 1, 3, 6][cycle % 6];
        std::fs::write(&rr.config, &narrow).unwrap();
        std::thread::scope(|s| {
            for (b, p) in &birds {
                s.spawn(move || b.birdc(&["restart", p]).unwrap());
            }
            std::thread::sleep(Duration::from_millis(offset_ms));
            seed.lab.signal(rr.proc, "HUP").unwrap();
        });
        let res = wait_until(Duration::from_secs(5), "the node sessions to drop", || {
            Ok(!nodes_up(&rr)?)
        })
        .and_then(|()| {
            wait_until(Duration::from_secs(20), "the node sessions back", || {
                nodes_up(&rr)
            })
        })
        .and_then(|()| {
            wait_until(
                Duration::from_secs(5),
                "the aggregates alone at the VBR",
                || Ok(both()? == (vec![POD_CIDR.to_owned()], vec![POD_CIDR_V6.to_owned()])),
            )
        });
        if let Err(e) = res {
            panic!(
                "cycle {cycle} (reloaded narrow {offset_ms} ms into the nodes' restart): {e}: the VBR holds {:?}\n{}",
                both(),
                seed.lab.logs()
            );
        }
        eprintln!(
            "cycle {cycle}: widened, narrowed {offset_ms} ms into the nodes' restart: ok ({:.1?})",
            started.elapsed()
        );
    }
    assert!(vbr.established(&seed.rrs[0].uplink).unwrap());
    assert!(vbr
        .established(&seed.rrs[0].v6.as_ref().unwrap().uplink)
        .unwrap());
}
