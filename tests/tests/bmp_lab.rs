//! BMP in the hybrid lab (issue 18): the edge's bgpd streams to a real collector, pmacct's
//! `pmbmpd` (which logs every BMP message it receives as one JSON line), run on the loopback
//! of the edge's namespace. The collector must see a Peer Up for every session bgpd has
//! Established (the three BIRD 1.6 Calico nodes, which negotiate ADD-PATH with the reflector,
//! and the FRR VBR) and, from each, every route bgpd accepted from it (the post-policy
//! Adj-RIB-In, `show rib --neighbor X --in`, with its ADD-PATH identifier) among the pre-policy
//! routes it was sent; nothing about a peer that is not up; Statistics Reports that agree with
//! bgpd. Then it must follow events: a node's BIRD stops (its Peer Down), a collector that
//! starts later gets every session and route again (bgpd asks each session for a
//! ROUTE-REFRESH), and the node coming back is streamed live.
//!
//! Needs root, BIRD 1.6, FRR and `pmbmpd` (scripts/install-deps); without them the test is
//! skipped, except under CI, where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use lab_tests::daemons::{Bgpd, Bird};
use lab_tests::hybrid::{calico_node_config, HybridLab, Options, CALICO_AS, VBR_AS, VPC_ROUTES};
use lab_tests::{err, skip, tail, wait_until, Lab, ProcId, Tool};
use serde_json::Value;

/// Where the collector listens: the edge namespace's own loopback.
const COLLECTOR_IP: &str = "127.0.0.1";
const COLLECTOR_PORT: &str = "1790";

/// The VBR's address, as the edge sees it.
const VBR: &str = "203.0.113.2";

/// A route as BMP and bgpctl both name it: prefix and ADD-PATH identifier (0 without).
type Path = (String, u64);

/// A `pmbmpd` inside the edge's namespace, started through the lab: the lab's teardown
/// stops it with the daemons, also when the test panics.
struct Collector {
    proc: ProcId,
    /// Its JSON log.
    json: PathBuf,
    /// Its own log (stdout and stderr).
    log: PathBuf,
}

impl Collector {
    fn start(lab: &mut Lab, ns: &str, n: u32) -> Collector {
        let name = format!("pmbmpd-{n}");
        let json = lab.path(&format!("{name}.json"));
        let out = json.display().to_string();
        let proc = lab
            .spawn(
                &name,
                ns,
                "pmbmpd",
                &["-L", COLLECTOR_IP, "-l", COLLECTOR_PORT, "-o", &out],
                &[],
            )
            .unwrap();
        let log = lab.path(&format!("{name}.log"));
        let c = Collector { proc, json, log };
        wait_until(Duration::from_secs(10), "pmbmpd listening", || {
            lab.check_alive()?;
            Ok(std::fs::read_to_string(&c.log)?.contains("waiting for BMP data"))
        })
        .unwrap();
        c
    }

    /// SIGINT: pmbmpd blocks SIGTERM (the lab's teardown would wait 3 s, then kill it).
    fn stop(&self, lab: &mut Lab) {
        lab.signal(self.proc, "INT").unwrap();
    }

    /// What the collector has seen so far.
    fn seen(&self) -> Seen {
        let text = std::fs::read_to_string(&self.json).unwrap_or_default();
        let mut s = Seen::default();
        // A line still being written does not parse yet: it is read on the next poll.
        for e in text.lines().filter_map(|l| serde_json::from_str(l).ok()) {
            s.add(&e);
        }
        s
    }

    /// The last lines of its JSON log and its own log, for failure messages.
    fn tail(&self) -> String {
        format!(
            "----- {} (last 40) -----\n{}\n----- {} -----\n{}",
            self.json.display(),
            tail(&self.json, 40),
            self.log.display(),
            tail(&self.log, 20)
        )
    }
}

/// The collector's view, rebuilt from its log as a collector would: Peer Up starts a peer's
/// table afresh, Route Monitoring updates it, Peer Down drops it.
#[derive(Debug, Default)]
struct Seen {
    /// Initiation messages (one per connection from bgpd).
    inits: usize,
    /// Peers whose last Peer Up/Down was a Peer Up.
    up: BTreeSet<String>,
    /// Every Peer Up, in order.
    ups: Vec<String>,
    /// Each peer's last Peer Up.
    peer_up: BTreeMap<String, Value>,
    /// Every Peer Down, in order: (peer, the message).
    downs: Vec<(String, Value)>,
    /// Every peer named by any message.
    mentioned: BTreeSet<String>,
    /// Each up peer's routes, pre-policy, as last announced.
    routes: BTreeMap<String, BTreeSet<Path>>,
    /// Each up peer's last Statistics Report of routes in its Adj-RIB-In (type 7).
    adj_rib_in: BTreeMap<String, u64>,
    /// What the collector should never have got: messages about a peer that is not up, a
    /// second Peer Up without a Peer Down, flags that were not configured, a Termination.
    strays: Vec<String>,
}

impl Seen {
    fn add(&mut self, e: &Value) {
        let kind = e["bmp_msg_type"].as_str().unwrap_or_default();
        let peer = e["peer_ip"].as_str().unwrap_or_default().to_owned();
        if !peer.is_empty() {
            self.mentioned.insert(peer.clone());
        }
        let is_up = self.up.contains(&peer);
        match kind {
            "init" => self.inits += 1,
            "peer_up" => {
                if !self.up.insert(peer.clone()) {
                    self.strays
                        .push(format!("a second Peer Up for {peer}: {e}"));
                }
                self.ups.push(peer.clone());
                self.peer_up.insert(peer.clone(), e.clone());
                self.routes.insert(peer, BTreeSet::new());
            }
            "peer_down" => {
                if !self.up.remove(&peer) {
                    self.strays
                        .push(format!("Peer Down for {peer}, not up: {e}"));
                }
                self.routes.remove(&peer);
                self.adj_rib_in.remove(&peer);
                self.downs.push((peer, e.clone()));
            }
            "route_monitor" => {
                if !is_up {
                    self.strays
                        .push(format!("Route Monitoring from {peer}, not up: {e}"));
                    return;
                }
                // Only the pre-policy Adj-RIB-In is configured (no `adj_rib_out`).
                if e["is_post"].as_i64() != Some(0) || e["is_out"].as_i64().unwrap_or(0) != 0 {
                    self.strays
                        .push(format!("Route Monitoring with post/out flags: {e}"));
                    return;
                }
                let Some(prefix) = e["ip_prefix"].as_str() else {
                    self.strays
                        .push(format!("Route Monitoring without prefix: {e}"));
                    return;
                };
                let path = (prefix.to_owned(), e["as_path_id"].as_u64().unwrap_or(0));
                let table = self.routes.entry(peer).or_default();
                match e["log_type"].as_str() {
                    Some("update") => {
                        table.insert(path);
                    }
                    Some("withdraw") => {
                        table.remove(&path);
                    }
                    _ => self.strays.push(format!("Route Monitoring of what? {e}")),
                }
            }
            "stats" => {
                if !is_up {
                    self.strays
                        .push(format!("Statistics Report for {peer}, not up: {e}"));
                } else if e["counter_type"] == 7 {
                    if let Some(v) = e["counter_value"].as_u64() {
                        self.adj_rib_in.insert(peer, v);
                    }
                }
            }
            "term" => self.strays.push(format!("Termination: {e}")),
            _ => {}
        }
    }
}

/// What the edge's bgpd says: each Established session (address -> name) and what it
/// accepted from it (the post-policy Adj-RIB-In).
#[derive(Debug, Default)]
struct Edge {
    up: BTreeMap<String, String>,
    routes: BTreeMap<String, BTreeSet<Path>>,
}

fn edge(rr: &Bgpd) -> io::Result<Edge> {
    let mut v = Edge::default();
    for s in rr.sessions()? {
        if s.state != "established" {
            continue;
        }
        // By address: the Calico nodes are dynamic sessions that share the name `calico`.
        let rows = rr.ctl(&["show", "rib", "--neighbor", &s.address, "--in"])?;
        let rows = rows
            .as_array()
            .ok_or_else(|| err(format!("show rib: {rows}")))?;
        let paths = rows
            .iter()
            .map(|r| {
                (
                    r["prefix"].as_str().unwrap_or_default().to_owned(),
                    r["path_id"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        v.routes.insert(s.address.clone(), paths);
        v.up.insert(s.address, s.name);
    }
    Ok(v)
}

/// What the collector lacks (or has too much of) compared with bgpd.
fn unmet(edge: &Edge, seen: &Seen) -> Vec<String> {
    let mut u = Vec::new();
    if seen.inits != 1 {
        u.push(format!("{} Initiation messages, not one", seen.inits));
    }
    for (addr, name) in &edge.up {
        if !seen.up.contains(addr) {
            u.push(format!("no Peer Up for {name} {addr}"));
            continue;
        }
        let got = &seen.routes[addr];
        for p in &edge.routes[addr] {
            if !got.contains(p) {
                u.push(format!(
                    "{addr}: {} (path id {}) accepted by bgpd, not seen by the collector",
                    p.0, p.1
                ));
            }
        }
    }
    for addr in &seen.up {
        if !edge.up.contains_key(addr) {
            u.push(format!(
                "the collector has {addr} up, bgpd has no such session"
            ));
        }
    }
    u
}

/// Waits (at most `limit`) until the collector agrees with bgpd and `also` has nothing to
/// add; fails at once on a stray message.
fn wait_synced(
    seed: &HybridLab,
    c: &Collector,
    what: &str,
    limit: Duration,
    also: impl Fn(&Edge, &Seen) -> Vec<String>,
) -> (Edge, Seen) {
    let start = Instant::now();
    loop {
        let seen = c.seen();
        assert!(
            seen.strays.is_empty(),
            "{what}: the collector got what it should not have: {:#?}\n{}",
            seen.strays,
            c.tail()
        );
        let problems = match edge(&seed.rrs[0].bgpd) {
            Ok(e) => {
                let mut p = unmet(&e, &seen);
                p.extend(also(&e, &seen));
                if p.is_empty() {
                    eprintln!("{what}: after {:.1?}", start.elapsed());
                    return (e, seen);
                }
                p
            }
            Err(e) => vec![format!("bgpctl: {e}")],
        };
        if start.elapsed() > limit {
            panic!(
                "{what}: not after {limit:?}: {problems:#?}\n{}\n{}",
                c.tail(),
                seed.lab.logs()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_collector_sees_every_session_and_route_of_the_lab() {
    if skip("bmp_lab", &[Tool::Bird16, Tool::Frr, Tool::Pmbmpd]) {
        return;
    }
    let start = Instant::now();
    let opts = Options {
        bmp: Some(format!("{COLLECTOR_IP}:{COLLECTOR_PORT}").parse().unwrap()),
        ..Options::default()
    };
    let mut seed = HybridLab::up(Lab::new().unwrap(), opts).unwrap();
    let edge_ns = seed.lab.ns("edge");
    // bgpd is up already and retries the collector (1 s, then doubling): whether it attaches
    // before or after the sessions come up, it must end up with everything.
    let first = Collector::start(&mut seed.lab, &edge_ns, 1);
    if let Err(e) = seed.wait_converged(Duration::from_secs(60)) {
        panic!("{e}\n{}", seed.lab.logs());
    }

    // Every session and route, and Statistics Reports that agree with bgpd (sent every 5 s).
    let (e, seen) = wait_synced(
        &seed,
        &first,
        "the collector has every session and route",
        Duration::from_secs(20),
        |e, s| {
            e.routes
                .iter()
                .filter(|(a, r)| s.adj_rib_in.get(*a) != Some(&(r.len() as u64)))
                .map(|(a, r)| {
                    format!(
                        "{a}: last Statistics Report says {:?} routes in the Adj-RIB-In, bgpd {}",
                        s.adj_rib_in.get(a),
                        r.len()
                    )
                })
                .collect()
        },
    );
    // Not an empty comparison: four sessions, each node's block (with the ADD-PATH id BIRD
    // gave it: pmbmpd decoded the node's UPDATEs as ADD-PATH, as both OPENs in the Peer Up
    // say) and the VPC routes.
    assert_eq!(e.up.len(), 4, "{e:?}");
    for n in &seed.nodes {
        let mine: Vec<&Path> = e.routes[&n.addr]
            .iter()
            .filter(|(p, _)| *p == n.block)
            .collect();
        assert_eq!(mine.len(), 1, "{}: {e:?}", n.addr);
        assert_ne!(mine[0].1, 0, "{}: no ADD-PATH id: {e:?}", n.addr);
        assert!(
            seen.routes[&n.addr].iter().all(|(_, id)| *id != 0),
            "{}: the collector decoded routes without ADD-PATH id: {:?}",
            n.addr,
            seen.routes[&n.addr]
        );
    }
    for p in VPC_ROUTES {
        assert!(e.routes[VBR].contains(&(p.to_owned(), 0)), "{e:?}");
    }
    // The Peer Ups name each peer as bgpd sees it: AS, BGP ID, our address on its network.
    let rr = &seed.rrs[0];
    let mut peers: Vec<(&str, u32, &str)> = seed
        .nodes
        .iter()
        .map(|n| (n.addr.as_str(), CALICO_AS, rr.lan.as_str()))
        .collect();
    peers.push((VBR, VBR_AS, rr.uplink.as_str()));
    for (addr, asn, local) in peers {
        let up = &seen.peer_up[addr];
        assert_eq!(up["peer_asn"], asn, "{up}");
        assert_eq!(up["bgp_id"], addr, "{up}");
        assert_eq!(up["local_ip"], local, "{up}");
    }
    let pre_only: Vec<&Path> = seen.routes[VBR].difference(&e.routes[VBR]).collect();
    eprintln!("pre-policy only (rejected by import policy), from the VBR: {pre_only:?}");
    let pmbmpd = std::fs::read_to_string(&first.log).unwrap();
    assert!(!pmbmpd.contains("discarded"), "{pmbmpd}");

    // A node's BIRD stops (SIGTERM: it closes its sessions with a Cease): its Peer Down, and
    // nothing from it after.
    let n3 = seed.nodes[2].clone();
    seed.lab.signal(n3.bird.proc, "TERM").unwrap();
    let (e, seen) = wait_synced(
        &seed,
        &first,
        "the stopped node's Peer Down",
        Duration::from_secs(20),
        |e, s| {
            let mut p = Vec::new();
            if e.up.contains_key(&n3.addr) {
                p.push(format!("bgpd still has {} up", n3.addr));
            }
            if !s.downs.iter().any(|(a, _)| *a == n3.addr) {
                p.push(format!("no Peer Down for {}", n3.addr));
            }
            p
        },
    );
    assert_eq!(e.up.len(), 3, "{e:?}");
    assert_eq!(seen.downs.len(), 1, "only n3 went down: {:?}", seen.downs);
    // Reason 3: the remote system closed the session with a NOTIFICATION (BIRD's Cease).
    assert_eq!(seen.downs[0].1["reason_type"], 3, "{}", seen.downs[0].1);

    // A collector that starts later: the Peer Ups of the three sessions up, every route again
    // (the ROUTE-REFRESH bgpd sends each session on attach), and nothing about n3.
    first.stop(&mut seed.lab);
    let late = Collector::start(&mut seed.lab, &edge_ns, 2);
    let (_, seen) = wait_synced(
        &seed,
        &late,
        "the late collector has every session and route",
        Duration::from_secs(30),
        |_, _| Vec::new(),
    );
    assert!(
        !seen.mentioned.contains(&n3.addr),
        "the late collector heard of the stopped node: {}",
        late.tail()
    );
    assert_eq!(seen.ups.len(), 3, "{seen:?}");

    // The node comes back: its Peer Up and routes reach the collector as they happen.
    let config = calico_node_config(
        &n3.addr,
        std::slice::from_ref(&n3.block),
        &[&seed.rrs[0].lan],
    );
    seed.nodes[2].bird = Bird::start(&mut seed.lab, "n3", &n3.ns, true, &config).unwrap();
    let (e, seen) = wait_synced(
        &seed,
        &late,
        "the node back, live",
        Duration::from_secs(30),
        |e, s| {
            let block = |r: &BTreeSet<Path>| r.iter().any(|(p, _)| *p == n3.block);
            if e.routes.get(&n3.addr).is_some_and(block)
                && s.routes.get(&n3.addr).is_some_and(block)
            {
                Vec::new()
            } else {
                vec![format!("{} not back with its block", n3.addr)]
            }
        },
    );
    assert_eq!(e.up.len(), 4, "{e:?}");
    assert_eq!(seen.ups.len(), 4, "{seen:?}");
    let pmbmpd = std::fs::read_to_string(&late.log).unwrap();
    assert!(!pmbmpd.contains("discarded"), "{pmbmpd}");
    late.stop(&mut seed.lab);
    eprintln!("bmp_lab: {:.1?}", start.elapsed());
}
