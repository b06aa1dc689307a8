//! Graceful shutdown for maintenance (RFC 8326, issue 18) in the redundant lab: two bgpd
//! reflectors, each peering with every Calico node (BIRD 1.6) and with the VBR (FRR 8.4,
//! with zebra here, so that the way back from the VPC follows its BGP choice). Both edges
//! forward: the nodes spread the VPC routes over both reflectors (Calico's BIRD has `merge
//! paths on`), and the VBR the pod aggregate over both edges (FRR's eBGP multipath).
//!
//! A pod on node 1 pings a VPC host whose traffic crosses one edge in both directions (a
//! VPC address is picked for which node 1's and the VBR's ECMP hashes choose that edge,
//! and the edge's interface counters confirm it); `bgpctl drain` on that edge's bgpd
//! re-advertises everything with GRACEFUL_SHUTDOWN, and while it lets the peers settle,
//! their own CLIs show the drained paths de-preferred and the traffic moves to the other
//! edge; then bgpd shuts down, the ping goes on through the survivor, and not one echo
//! request is lost. Three runs, each edge drained in turn (the drained one restarted after
//! each). For contrast, the same ping while an edge is stopped without draining (`bgpctl
//! shutdown`), three times too: measured and printed, not asserted.
//!
//! The VBR needs no configuration for this: FRR honours GRACEFUL_SHUTDOWN on paths from
//! eBGP peers by itself (FRR 8.4's `bgp_update` sets LOCAL_PREF 0 on them; `bgp
//! graceful-shutdown` is for FRR draining itself). The check below of its `show bgp`
//! output (`locPrf` 0, not best) would tell if that changed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io;
use std::time::{Duration, Instant};

use lab_tests::daemons::{find, Bgpd};
use lab_tests::hybrid::{edge_config, HybridLab, Options, Reflector, POD_CIDR, VPC_ROUTES};
use lab_tests::watch::{Ping, SeqLoss};
use lab_tests::{err, our_bin, skip, wait_until, Lab, Tool};

/// Ping interval: 50 echo requests a second.
const INTERVAL_MS: u32 = 20;
/// Drains (each edge in turn).
const RUNS: usize = 3;
/// How long the ping goes on through the survivor after the drained bgpd exited.
const AFTER: Duration = Duration::from_secs(3);
/// Extra VPC host addresses on the VBR's loopback (198.19.24.10 is `VPC_HOST`): the
/// candidates for a flow that crosses a given edge both ways.
const VPC_HOSTS: std::ops::RangeInclusive<u8> = 10..=49;
/// The VPC route the nodes forward the pings on.
const VPC_NET: &str = "198.19.24.0/24";

/// BIRD's protocol towards reflector `rr`.
fn proto(rr: &Reflector) -> String {
    format!("Node_{}", rr.lan.replace('.', "_"))
}

/// The namespace role of reflector `i` (as `HybridLab::up` names them).
fn role(i: usize) -> String {
    if i == 0 {
        "edge".to_owned()
    } else {
        format!("edge{}", i + 1)
    }
}

/// The prefixes a node learns from the reflectors: the VPC routes, the other nodes' blocks.
fn learned(seed: &HybridLab, me: &str) -> Vec<String> {
    let mut w: Vec<String> = VPC_ROUTES.iter().map(|p| (*p).to_owned()).collect();
    w.extend(
        seed.nodes
            .iter()
            .filter(|o| o.addr != me)
            .map(|o| o.block.clone()),
    );
    w
}

/// `ip ARGS` in `ns`, its output.
fn ip(seed: &HybridLab, ns: &str, args: &[&str]) -> io::Result<String> {
    let o = seed.lab.run(ns, "ip", args)?;
    if o.ok() {
        Ok(o.stdout)
    } else {
        Err(err(format!("ip {}: {}", args.join(" "), o.stderr.trim())))
    }
}

/// Both edges forward both ways: every node's VPC routes and the VBR's pod aggregate are
/// multipath over both, and each edge's FIB has the VPC via its VBR link and every block.
fn both_edges_forward(seed: &HybridLab) -> io::Result<bool> {
    let via = |out: &str, addr: &str| out.contains(&format!("via {addr} "));
    for n in &seed.nodes {
        let r = ip(seed, &n.ns, &["route", "show", VPC_NET])?;
        if !seed.rrs.iter().all(|rr| via(&r, &rr.lan)) {
            return Ok(false);
        }
    }
    let r = ip(seed, &seed.vbr_ns, &["route", "show", POD_CIDR])?;
    if !seed.rrs.iter().all(|rr| via(&r, &rr.uplink)) {
        return Ok(false);
    }
    for rr in &seed.rrs {
        let fib = ip(seed, &rr.bgpd.ns, &["route"])?;
        let vpc = fib
            .lines()
            .any(|l| l.starts_with(VPC_NET) && via(l, &rr.vbr_addr));
        let blocks = seed.nodes.iter().all(|n| {
            fib.lines()
                .any(|l| l.starts_with(&n.block) && via(l, &n.addr))
        });
        if !(vpc && blocks) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A VPC host address whose traffic with node 1's pod crosses reflector `i` both ways:
/// node 1's ECMP choice towards it, and the VBR's back from it, are that edge.
fn flow_through(seed: &HybridLab, i: usize) -> io::Result<String> {
    let (n1, rr) = (&seed.nodes[0], &seed.rrs[i]);
    for k in VPC_HOSTS {
        let host = format!("198.19.24.{k}");
        let there = ip(seed, &n1.ns, &["route", "get", &host, "from", &n1.pod])?;
        let back = ip(
            seed,
            &seed.vbr_ns,
            &["route", "get", &n1.pod, "from", &host],
        )?;
        if there.contains(&format!("via {} ", rr.lan))
            && back.contains(&format!("via {} ", rr.uplink))
        {
            return Ok(host);
        }
    }
    Err(err(format!(
        "no VPC host in 198.19.24.{VPC_HOSTS:?} whose traffic crosses {} both ways",
        role(i)
    )))
}

/// Packets sent and received on reflector `i`'s link to the VBR: (towards the VPC, back).
fn uplink_packets(seed: &HybridLab, i: usize) -> io::Result<(u64, u64)> {
    let out = ip(
        seed,
        &seed.rrs[i].bgpd.ns,
        &["-j", "-s", "link", "show", "dev", "up0"],
    )?;
    let v: serde_json::Value =
        serde_json::from_str(&out).map_err(|e| err(format!("ip -j: {e}: {out}")))?;
    let n = |dir: &str| v[0]["stats64"][dir]["packets"].as_u64();
    match (n("tx"), n("rx")) {
        (Some(tx), Some(rx)) => Ok((tx, rx)),
        _ => Err(err(format!("no packet counters in {out}"))),
    }
}

/// What each edge's link to the VBR carried during `window`: (towards the VPC, back).
fn carried(seed: &HybridLab, window: Duration) -> io::Result<Vec<(u64, u64)>> {
    let before: Vec<(u64, u64)> = (0..seed.rrs.len())
        .map(|i| uplink_packets(seed, i))
        .collect::<io::Result<_>>()?;
    std::thread::sleep(window);
    (0..seed.rrs.len())
        .map(|i| {
            let (tx, rx) = uplink_packets(seed, i)?;
            Ok((
                tx.saturating_sub(before[i].0),
                rx.saturating_sub(before[i].1),
            ))
        })
        .collect()
}

/// `None` when the peers' own CLIs show reflector `d` drained and `s` preferred: FRR's
/// `show bgp ipv4 unicast POD_CIDR json` has `d`'s path with the graceful-shutdown
/// community, LOCAL_PREF 0 and not best, `s`'s best; every node's `birdc show route all`
/// has, for every route it learns from the reflectors, `d`'s path with LOCAL_PREF 0 and
/// (65535,0), not best, and `s`'s path best. Otherwise what is not so yet.
fn drained_view(seed: &HybridLab, d: &Reflector, s: &Reflector) -> io::Result<Option<String>> {
    let paths = seed.vbr.route_detail("ipv4", POD_CIDR)?;
    let from = |rr: &Reflector| paths.iter().find(|p| p.source == rr.uplink);
    let vbr_ok = match (from(d), from(s)) {
        (Some(pd), Some(ps)) => {
            pd.communities.iter().any(|c| c == "graceful-shutdown")
                && pd.local_pref == Some(0)
                && !pd.best
                && ps.best
                && !ps.communities.iter().any(|c| c == "graceful-shutdown")
        }
        _ => false,
    };
    if !vbr_ok {
        return Ok(Some(format!("VBR {POD_CIDR}: {paths:#?}")));
    }
    for n in &seed.nodes {
        let routes = n.bird.routes()?;
        for p in learned(seed, &n.addr) {
            let rs = find(&routes, &p);
            let via = |rr: &Reflector| rs.iter().find(|r| r.source == proto(rr)).copied();
            let ok = match (via(d), via(s)) {
                (Some(rd), Some(rs)) => {
                    rd.local_pref == Some(0)
                        && rd.communities.iter().any(|c| c == "65535:0")
                        && !rd.best
                        && rs.best
                        && rs.local_pref.is_some_and(|lp| lp > 0)
                }
                _ => false,
            };
            if !ok {
                return Ok(Some(format!("{} {p}: {rs:#?}", n.bird.name)));
            }
        }
    }
    Ok(None)
}

/// The traffic no longer uses reflector `d`: node 1's VPC route and the VBR's pod
/// aggregate (the kernel's, what forwards) point at `s` only.
fn moved_off(seed: &HybridLab, d: &Reflector, s: &Reflector) -> io::Result<bool> {
    let via = |out: &str, addr: &str| out.contains(&format!("via {addr} "));
    let n1 = ip(seed, &seed.nodes[0].ns, &["route", "show", VPC_NET])?;
    let vbr = ip(seed, &seed.vbr_ns, &["route", "show", POD_CIDR])?;
    Ok(!via(&n1, &d.lan) && via(&n1, &s.lan) && !via(&vbr, &d.uplink) && via(&vbr, &s.uplink))
}

/// Starts reflector `i` again (its namespace, its configuration) and waits until both
/// edges forward again.
fn bring_back(seed: &mut HybridLab, i: usize, tag: &str) {
    let rr = &seed.rrs[i];
    let config = edge_config(&rr.lan, &rr.lan, &rr.uplink, &rr.vbr_addr, true);
    let ns = rr.bgpd.ns.clone();
    let t = Instant::now();
    seed.rrs[i].bgpd = Bgpd::start(&mut seed.lab, &format!("{}-{tag}", role(i)), &ns, &config)
        .unwrap_or_else(|e| panic!("starting {} again: {e}", role(i)));
    if let Err(e) = seed.wait_converged(Duration::from_secs(60)) {
        panic!("{} back: {e}\n{}", role(i), seed.lab.logs());
    }
    if let Err(e) = wait_until(Duration::from_secs(20), "both edges to forward", || {
        both_edges_forward(seed)
    }) {
        panic!("{} back: {e}\n{}", role(i), seed.lab.logs());
    }
    eprintln!("{} back and forwarding after {:.1?}", role(i), t.elapsed());
}

/// Starts a ping from node 1's pod through reflector `i` both ways, and checks with the
/// edges' counters that it does cross `i`, and only `i`.
fn ping_through(seed: &mut HybridLab, i: usize, name: &str) -> Ping {
    let host = flow_through(seed, i).unwrap();
    let (ns, pod) = (seed.nodes[0].ns.clone(), seed.nodes[0].pod.clone());
    let ping = Ping::start(&mut seed.lab, name, &ns, &pod, &host, INTERVAL_MS).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let c = carried(seed, Duration::from_secs(1)).unwrap();
    eprintln!("{name}: {pod} -> {host}; packets on the edges' VBR links in 1 s (out, back): {c:?}");
    // 50 a second each way through `i`; the other link carries only BGP keepalives.
    assert!(
        c[i].0 >= 25 && c[i].1 >= 25,
        "{name}: the ping does not cross {}: {c:?}",
        role(i)
    );
    assert!(
        c[1 - i].0 < 10 && c[1 - i].1 < 10,
        "{name}: the ping also crosses {}: {c:?}",
        role(1 - i)
    );
    ping
}

/// One drain of reflector `i`, the ping crossing it: what the ping lost.
fn drain_once(seed: &mut HybridLab, run: usize, i: usize) -> SeqLoss {
    let (d, s) = (seed.rrs[i].clone(), seed.rrs[1 - i].clone());
    let ping = ping_through(seed, i, &format!("ping-drain{run}"));

    // What an operator types on the edge before maintenance (default --settle 5).
    let bgpctl = our_bin("bgpctl").unwrap();
    let sock = d.bgpd.socket.display().to_string();
    let name = format!("drain{run}");
    let ctl = seed
        .lab
        .spawn(
            &name,
            &d.bgpd.ns,
            &bgpctl,
            &["--socket", &sock, "--json", "drain"],
            &[],
        )
        .unwrap();
    let t0 = Instant::now();

    // While bgpd lets the peers settle, their own CLIs show the drained paths
    // de-preferred, and their kernels move the traffic to the survivor.
    let mut why = None;
    let seen = wait_until(
        Duration::from_secs(4),
        "the peers to show the drain",
        || {
            why = drained_view(seed, &d, &s)?;
            Ok(why.is_none())
        },
    );
    if let Err(e) = seen {
        panic!(
            "run {run}: {e}: {}\n{}",
            why.unwrap_or_default(),
            seed.lab.logs()
        );
    }
    let shown = t0.elapsed();
    wait_until(Duration::from_secs(4), "the traffic to move", || {
        moved_off(seed, &d, &s)
    })
    .unwrap_or_else(|e| panic!("run {run}: {e}\n{}", seed.lab.logs()));
    let moved = t0.elapsed();
    // Still settling: the ping has left the drained edge already.
    let settling = carried(seed, Duration::from_secs(1)).unwrap();
    assert!(
        seed.lab.proc(d.bgpd.proc).unwrap().running(),
        "run {run}: {} shut down before the traffic had moved ({:?})",
        role(i),
        t0.elapsed()
    );
    assert!(
        settling[i].0 < 10 && settling[i].1 < 10 && settling[1 - i].0 >= 25,
        "run {run}: while settling, the ping still crosses {}: {settling:?}",
        role(i)
    );

    // Then bgpctl shuts bgpd down.
    let status = seed
        .lab
        .wait_exit(ctl, Duration::from_secs(45))
        .unwrap_or_else(|e| panic!("run {run}: bgpctl drain: {e}"));
    let out = std::fs::read_to_string(seed.lab.path(&format!("{name}.log"))).unwrap();
    assert!(status.success(), "run {run}: bgpctl drain {status}:\n{out}");
    let json: String = out
        .lines()
        .filter(|l| !l.starts_with("bgpctl:"))
        .collect::<Vec<_>>()
        .join("\n");
    let v: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("run {run}: {e}:\n{out}"));
    assert_eq!(v["timed_out"], false, "run {run}: {out}");
    assert_eq!(v["shut_down"], true, "run {run}: {out}");
    // Every session: the three nodes and the VBR.
    assert_eq!(
        v["delivered"].as_array().map(Vec::len),
        Some(seed.nodes.len() + 1),
        "run {run}: {out}"
    );
    seed.lab
        .wait_exit(d.bgpd.proc, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("run {run}: {} after the drain: {e}", role(i)));
    let exited = t0.elapsed();

    // The survivor carries it all, and nothing is lost.
    let c = carried(seed, AFTER).unwrap();
    let loss = ping.stop_seqs(&mut seed.lab).unwrap();
    if run == 0 {
        eprintln!("bgpctl --json drain said:\n{out}");
    }
    eprintln!(
        "drain run {run} ({}): peers showed it after {shown:.1?}, traffic moved after \
         {moved:.1?} (the next second, VBR links (out, back): {settling:?}), bgpd exited \
         after {exited:.1?}; then {AFTER:?} through {}: {:?}; ping: {} sent, {} answered, \
         {} missing, longest gap {}",
        role(i),
        role(1 - i),
        c[1 - i],
        loss.transmitted,
        loss.received,
        loss.missing,
        loss.longest_gap,
    );
    assert!(
        c[1 - i].0 >= 100 && c[1 - i].1 >= 100,
        "run {run}: the survivor does not carry the ping: {c:?}"
    );
    loss
}

/// The same ping while reflector `i` is stopped without draining (`bgpctl shutdown`).
fn shutdown_once(seed: &mut HybridLab, run: usize, i: usize) -> SeqLoss {
    let ping = ping_through(seed, i, &format!("ping-plain{run}"));
    let d = seed.rrs[i].bgpd.clone();
    // The daemon exits right after answering; the answer may be lost with it.
    if let Err(e) = d.ctl(&["shutdown", "--message", "lab: no drain"]) {
        eprintln!("note: bgpctl shutdown answered: {e}");
    }
    seed.lab
        .wait_exit(d.proc, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{} after bgpctl shutdown: {e}", role(i)));
    std::thread::sleep(AFTER);
    ping.stop_seqs(&mut seed.lab).unwrap()
}

#[test]
fn drain_one_reflector_and_the_ping_through_it_loses_nothing() {
    if skip(
        "drain_lab",
        &[Tool::Bird16, Tool::Frr, Tool::FrrZebra, Tool::Ping],
    ) {
        return;
    }
    let start = Instant::now();
    let opts = Options {
        reflectors: 2,
        kernel: true,
        vbr_fib: true,
        ..Options::default()
    };
    let mut seed = HybridLab::up(Lab::new().unwrap(), opts).unwrap();
    if let Err(e) = seed.wait_converged(Duration::from_secs(60)) {
        panic!("{e}\n{}", seed.lab.logs());
    }
    for k in VPC_HOSTS.skip(1) {
        seed.lab
            .addr(&seed.vbr_ns, "lo", &format!("198.19.24.{k}/32"))
            .unwrap();
    }
    if let Err(e) = wait_until(Duration::from_secs(20), "both edges to forward", || {
        both_edges_forward(&seed)
    }) {
        panic!("{e}\n{}", seed.lab.logs());
    }

    let mut losses = Vec::new();
    for run in 0..RUNS {
        let i = run % 2;
        losses.push((role(i), drain_once(&mut seed, run, i)));
        bring_back(&mut seed, i, &format!("run{run}"));
    }
    let drained = start.elapsed();

    // For contrast, measured only: the same, stopped without draining. (Where that loses,
    // as watched with `ip monitor route` when this was written: the stopping edge deletes
    // its kernel routes within some 10 ms of its Cease, about when the node moves, but the
    // VBR moves its way back only some 70 ms after: the replies in between die at the
    // edge.)
    let mut plain = Vec::new();
    for run in 0..RUNS {
        let i = run % 2;
        plain.push((role(i), shutdown_once(&mut seed, run, i)));
        if run + 1 < RUNS {
            bring_back(&mut seed, i, &format!("plain{run}"));
        }
    }
    let figures = |ls: &[(String, SeqLoss)]| -> String {
        ls.iter()
            .map(|(r, l)| {
                format!(
                    "{r}: {}/{} lost (longest gap {}, {} ms of traffic, {} unanswered at the end)",
                    l.missing,
                    l.transmitted,
                    l.longest_gap,
                    l.lost_ms(u64::from(INTERVAL_MS)),
                    l.transmitted.saturating_sub(l.last)
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    eprintln!(
        "drained, then stopped ({RUNS} runs, {drained:.1?}): {}\n\
         stopped without draining (bgpctl shutdown): {}\ntotal {:.1?}",
        figures(&losses),
        figures(&plain),
        start.elapsed()
    );
    // Not one echo request lost in a drain: none missing between the first and the last
    // reply, and at most the one in flight when the ping was stopped unanswered after it.
    for (r, l) in &losses {
        assert!(
            l.missing == 0 && l.transmitted.saturating_sub(l.last) <= 1,
            "draining {r} lost pings: {l:?}"
        );
    }
}
