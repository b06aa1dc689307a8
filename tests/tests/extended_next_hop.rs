//! RFC 8950 (Extended Next Hop) interop with FRR and BIRD 2, both directions: IPv4 routes
//! over one eBGP session over IPv6, with IPv6 next hops, on a link that has no IPv4 address.
//!
//! Two namespaces joined by a veth pair with only IPv6 addresses (2001:db8:5100::/64):
//! bgpd `::1`, the peer `::2`. Each has one IPv4 /32 on its loopback, inside the IPv4 prefix
//! it originates (bgpd 198.18.0.1 in 198.18.0.0/24, the peer 198.19.24.1 in 198.19.24.0/24),
//! and each originates an IPv6 prefix too. bgpd's neighbor has
//! `families = ["ipv4-unicast", "ipv6-unicast"]` and `[kernel]`; FRR runs with zebra, BIRD 2
//! with a kernel protocol, so that both ends install the other's IPv4 prefix via an IPv6
//! gateway and a ping from loopback to loopback crosses the IPv6-only link.
//!
//! Checked through each side's own CLI: the capability negotiated (`bgpctl show neighbor`),
//! our IPv4 route at the peer with our IPv6 next hop (`show bgp ipv4 unicast P json`,
//! `show route for P all`), the peer's IPv4 route in bgpd's RIB with its IPv6 next hop
//! (`bgpctl --json show rib P`), bgpd's kernel route `via inet6` (`ip -4 route show proto
//! bgp`), the ping, no session reset and no ERROR in bgpd's log. The negative cases: the peer
//! does not announce the capability, so bgpd must send it no IPv4 route at all (RFC 8950
//! allows an IPv6 next hop only towards a peer that announced it, and bgpd has no IPv4
//! address on the link) while IPv4 unicast itself is negotiated, and keep the session.
//! Without it, FRR 8.4 still sends its IPv4 route, with its router ID as NEXT_HOP (bgpd
//! keeps it as "next hop unreachable"), and BIRD 2 withdraws its own ("Missing next hop
//! address").

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use lab_tests::daemons::{Bgpd, Bird, Frr};
use lab_tests::{skip, wait_until, Lab, Tool};
use serde_json::Value;

const OUR_AS: u32 = 4_200_000_001;
const PEER_AS: u32 = 65002;
const OUR_ADDR: &str = "2001:db8:5100::1";
const PEER_ADDR: &str = "2001:db8:5100::2";
const OUR_V4: &str = "198.18.0.0/24";
const OUR_HOST: &str = "198.18.0.1";
const OUR_V6: &str = "2001:db8:1800::/48";
const PEER_V4: &str = "198.19.24.0/24";
const PEER_HOST: &str = "198.19.24.1";
const PEER_V6: &str = "2001:db8:1900::/48";
/// The capability as `bgpctl show neighbor` lists it once both sides announced it.
const ENH: &str = "extended-next-hop ipv4-unicast";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Frr,
    Bird2,
}

#[derive(Debug, Clone, Copy)]
struct Case {
    kind: Kind,
    /// The peer announces the Extended Next Hop capability for IPv4 unicast.
    enh: bool,
}

impl Case {
    fn name(self) -> String {
        format!(
            "extended next hop {:?}{}",
            self.kind,
            if self.enh {
                ""
            } else {
                " without the capability"
            }
        )
    }

    fn tools(self) -> Vec<Tool> {
        match self.kind {
            Kind::Frr => vec![Tool::FrrZebra, Tool::Ping],
            Kind::Bird2 => vec![Tool::Bird2, Tool::Ping],
        }
    }
}

fn bgpd_config() -> String {
    format!(
        r#"[global]
asn = {OUR_AS}
router_id = "192.0.2.1"
[control]
socket = "{{socket}}"
[metrics]
listen = "127.0.0.1:9179"
[kernel]
table = 254
export = "to-kernel"
[[originate]]
prefix = "{OUR_V4}"
[[originate]]
prefix = "{OUR_V6}"

[[neighbor]]
name = "peer"
address = "{PEER_ADDR}"
remote_as = {PEER_AS}
families = ["ipv4-unicast", "ipv6-unicast"]
connect_retry = 2
import = "in"
export = "out"

[policy.in]
[[policy.in.term]]
prefixes = ["{PEER_V4}", "{PEER_V6}"]
action = "accept"

[policy.out]
[[policy.out.term]]
prefixes = ["{OUR_V4}", "{OUR_V6}"]
action = "accept"

[policy.to-kernel]
[[policy.to-kernel.term]]
prefixes = ["{PEER_V4}", "{PEER_V6}"]
action = "accept"
"#
    )
}

/// FRR's bgpd (run with zebra): IPv4 and IPv6 unicast on the one session over IPv6, the
/// capability with `capability extended-nexthop` (left out for the negative case).
fn frr_config(enh: bool) -> String {
    let cap = if enh {
        format!(" neighbor {OUR_ADDR} capability extended-nexthop\n")
    } else {
        String::new()
    };
    format!(
        r#"frr defaults traditional
hostname peer
router bgp {PEER_AS}
 bgp router-id 192.0.2.2
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor {OUR_ADDR} remote-as {OUR_AS}
 neighbor {OUR_ADDR} timers connect 1
{cap} address-family ipv4 unicast
  network {PEER_V4}
  neighbor {OUR_ADDR} activate
 exit-address-family
 address-family ipv6 unicast
  network {PEER_V6}
  neighbor {OUR_ADDR} activate
 exit-address-family
"#
    )
}

/// BIRD 2: an `ipv4` channel with `extended next hop on` (off for the negative case) beside
/// the `ipv6` one on the session over IPv6, and a kernel protocol installing what it learned
/// from bgpd over IPv4 (via an IPv6 gateway).
fn bird2_config(enh: bool) -> String {
    let ext = if enh { "extended next hop on; " } else { "" };
    format!(
        r#"router id 192.0.2.2;
log stderr all;
protocol device {{ }}
protocol static st4 {{ ipv4; route {PEER_V4} blackhole; }}
protocol static st6 {{ ipv6; route {PEER_V6} blackhole; }}
protocol kernel k4 {{ ipv4 {{ import none; export where proto = "bgpd"; }}; }}
protocol bgp bgpd {{
  local {PEER_ADDR} as {PEER_AS};
  neighbor {OUR_ADDR} as {OUR_AS};
  connect delay time 1;
  connect retry time 2;
  error wait time 1, 5;
  ipv4 {{ {ext}import all; export where proto = "st4"; }};
  ipv6 {{ import all; export where proto = "st6"; }};
}}
"#
    )
}

enum Peer {
    Frr(Frr),
    Bird(Bird),
}

impl Peer {
    fn start(lab: &mut Lab, ns: &str, c: Case) -> Peer {
        match c.kind {
            // With zebra: it installs our IPv4 route into the namespace's kernel, and without
            // it FRR's bgpd knows no interfaces and drops a link-local next hop.
            Kind::Frr => Peer::Frr(
                Frr::start_with_zebra(lab, "peer", ns, &[PEER_ADDR], &frr_config(c.enh)).unwrap(),
            ),
            Kind::Bird2 => {
                Peer::Bird(Bird::start(lab, "peer", ns, false, &bird2_config(c.enh)).unwrap())
            }
        }
    }

    /// The peer's own view of the session, for failure messages.
    fn describe(&self) -> String {
        match self {
            Peer::Frr(f) => f
                .vtysh(&format!("show bgp neighbors {OUR_ADDR}"))
                .unwrap_or_else(|e| e.to_string()),
            Peer::Bird(b) => b
                .birdc(&["show", "protocols", "all", "bgpd"])
                .unwrap_or_else(|e| e.to_string()),
        }
    }

    fn established(&self) -> std::io::Result<bool> {
        match self {
            Peer::Frr(f) => f.established(OUR_ADDR),
            Peer::Bird(b) => b.established("bgpd"),
        }
    }

    /// The next hops the peer holds for `prefix` learned from bgpd (empty: no such route),
    /// and its CLI's text for failure messages.
    fn next_hops(&self, prefix: &str) -> std::io::Result<(Vec<NextHop>, String)> {
        match self {
            Peer::Frr(f) => {
                let afi = if prefix.contains(':') { "ipv6" } else { "ipv4" };
                let out = f.vtysh(&format!("show bgp {afi} unicast {prefix} json"))?;
                Ok((frr_next_hops(&out), out))
            }
            Peer::Bird(b) => {
                // birdc fails with "Network not found" when BIRD has no route for it.
                match b.birdc(&["show", "route", "for", prefix, "all"]) {
                    Ok(out) => Ok((bird_next_hops(&out, prefix), out)),
                    Err(e) if e.to_string().contains("Network not found") => {
                        Ok((Vec::new(), e.to_string()))
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }
}

/// A BGP next hop as a peer's CLI shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct NextHop {
    global: String,
    link_local: Option<String>,
}

/// The next hops of the paths learned from bgpd in FRR's `show bgp AFI unicast P json`:
/// per path, its `nexthops` entries (`scope` `global` / `link-local`).
fn frr_next_hops(json: &str) -> Vec<NextHop> {
    let v: Value = serde_json::from_str(json).unwrap_or_default();
    v["paths"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["peer"]["peerId"] == OUR_ADDR)
        .map(|p| {
            let hops: Vec<&Value> = p["nexthops"].as_array().into_iter().flatten().collect();
            let find = |scope: &str| {
                hops.iter()
                    .find(|h| h["scope"] == scope)
                    .and_then(|h| h["ip"].as_str())
                    .map(str::to_owned)
            };
            NextHop {
                global: find("global")
                    .or_else(|| {
                        hops.first()
                            .and_then(|h| h["ip"].as_str().map(str::to_owned))
                    })
                    .unwrap_or_default(),
                link_local: find("link-local"),
            }
        })
        .collect()
}

/// The `BGP.next_hop:` lines (global, then link-local if any) of the routes from protocol
/// `bgpd` in BIRD 2's `show route for P all`.
fn bird_next_hops(text: &str, prefix: &str) -> Vec<NextHop> {
    let mut out = Vec::new();
    let mut ours = false;
    for line in text.lines() {
        if !line.starts_with('\t') {
            // A route's first line: `P  unicast [bgpd 12:00:00.000] * (100) [AS...i]`, or an
            // alternative's, indented with spaces.
            ours = (line.starts_with(prefix) || line.starts_with(' ')) && line.contains("[bgpd ");
            continue;
        }
        if let Some(v) = line.trim().strip_prefix("BGP.next_hop:") {
            if ours {
                let mut w = v.split_whitespace();
                out.push(NextHop {
                    global: w.next().unwrap_or_default().to_owned(),
                    link_local: w.next().map(str::to_owned),
                });
            }
        }
    }
    out
}

/// The kernel's IPv4 route for `prefix` in `ns` (`ip -4 route show PREFIX [proto bgp]`), one
/// line, or empty.
fn kernel_route(lab: &Lab, ns: &str, prefix: &str, bgp_only: bool) -> std::io::Result<String> {
    let mut args = vec!["-4", "route", "show", prefix];
    if bgp_only {
        args.extend_from_slice(&["proto", "bgp"]);
    }
    let out = lab.run(ns, "ip", &args)?;
    Ok(out.stdout.trim().to_owned())
}

fn neighbor(rr: &Bgpd) -> Value {
    let v = rr.ctl(&["show", "neighbor", "peer"]).unwrap();
    if v.is_array() {
        v[0].clone()
    } else {
        v
    }
}

fn capabilities(rr: &Bgpd) -> Vec<String> {
    neighbor(rr)["capabilities"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect()
}

/// The per-family counts of the session in `bgpctl --json show summary` (`received`,
/// `accepted`, `advertised`) for `family`. (`show neighbor`'s JSON has a `families` key of
/// its own, the negotiated family names, and no counts.)
fn family_counts(rr: &Bgpd, family: &str) -> Value {
    let v = rr.ctl(&["show", "summary"]).unwrap();
    v.as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["name"] == "peer")
        .flat_map(|n| n["families"].as_array().cloned().unwrap_or_default())
        .find(|f| f["family"] == family)
        .unwrap_or_default()
}

/// bgpd's paths for `prefix` from the peer (`bgpctl --json show rib P`).
fn rib_rows(rr: &Bgpd, prefix: &str) -> Vec<Value> {
    rr.ctl(&["show", "rib", prefix])
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r["prefix"] == prefix && r["neighbor"] == "peer")
        .collect()
}

struct Setup {
    name: String,
    lab: Lab,
    peer: Peer,
    rr: Bgpd,
    started: Instant,
}

impl Setup {
    /// Panics with everything a reader needs: `what`, both sides' view of the session and
    /// every daemon's log.
    fn fail(&self, what: &str) -> ! {
        panic!(
            "{}: {what}\n--- bgpctl show neighbor peer ---\n{}\n--- the peer ---\n{}\n{}",
            self.name,
            self.rr
                .ctl_text(&["show", "neighbor", "peer"])
                .unwrap_or_default(),
            self.peer.describe(),
            self.lab.logs()
        )
    }

    /// Polls `cond` for at most `limit` seconds; `cond` puts what it saw into its argument,
    /// which a failure shows.
    fn wait(
        &self,
        limit: u64,
        what: &str,
        mut cond: impl FnMut(&mut String) -> std::io::Result<bool>,
    ) -> String {
        let mut seen = String::new();
        let res = wait_until(Duration::from_secs(limit), what, || cond(&mut seen));
        if let Err(e) = res {
            self.fail(&format!("{e}; last seen: {seen}"));
        }
        seen
    }

    /// No session reset (flaps) and no ERROR in bgpd's log.
    fn check_no_resets(&self) {
        let n = neighbor(&self.rr);
        if n["state"] != "established" || n["flaps"] != 0 {
            self.fail(&format!(
                "the session reset or is down: state {}, flaps {}, last error {}",
                n["state"], n["flaps"], n["last_error"]
            ));
        }
        let log = self.rr.log(&self.lab);
        if let Some(l) = log.lines().find(|l| l.contains(" ERROR ")) {
            self.fail(&format!("bgpd logged an error: {l}"));
        }
    }
}

/// Builds the two namespaces, starts the peer and bgpd, waits for the session on both sides;
/// `None` when the test must be skipped.
fn setup(c: Case) -> Option<Setup> {
    let name = c.name();
    if skip(&name, &c.tools()) {
        return None;
    }
    let started = Instant::now();
    let mut lab = Lab::new().unwrap();
    let rr_ns = lab.netns("rr").unwrap();
    let peer_ns = lab.netns("peer").unwrap();
    let ours = format!("{OUR_ADDR}/64");
    let theirs = format!("{PEER_ADDR}/64");
    lab.link((&rr_ns, "eth0", &[&ours]), (&peer_ns, "eth0", &[&theirs]))
        .unwrap();
    lab.addr(&rr_ns, "lo", &format!("{OUR_HOST}/32")).unwrap();
    lab.addr(&peer_ns, "lo", &format!("{PEER_HOST}/32"))
        .unwrap();
    // A veth's link-local address comes with its carrier, which the kernel reports late
    // (linkwatch, up to a second). A BIRD that starts its session before it knows that
    // address sends no link-local next hop for the whole session ("Missing link-local
    // address"): wait for both addresses first.
    for ns in [&rr_ns, &peer_ns] {
        wait_until(Duration::from_secs(5), "link-local addresses", || {
            let o = lab.run(
                ns,
                "ip",
                &["-6", "-o", "addr", "show", "dev", "eth0", "scope", "link"],
            )?;
            Ok(o.stdout.contains("fe80:") && !o.stdout.contains("tentative"))
        })
        .unwrap();
    }

    let peer = Peer::start(&mut lab, &peer_ns, c);
    let rr = Bgpd::start(&mut lab, "rr", &rr_ns, &bgpd_config()).unwrap();
    let s = Setup {
        name,
        lab,
        peer,
        rr,
        started,
    };
    s.wait(15, "the session established on both sides", |seen| {
        *seen = format!("{:?}", s.rr.sessions()?);
        Ok(s.rr.established(&["peer"])? == 1 && s.peer.established()?)
    });
    Some(s)
}

fn run(c: Case) {
    let Some(mut s) = setup(c) else {
        return;
    };
    s.lab
        .check_alive()
        .unwrap_or_else(|e| s.fail(&e.to_string()));
    let rr_ns = s.lab.ns("rr");
    let peer_ns = s.lab.ns("peer");
    let our_ll = s.lab.link_local(&rr_ns, "eth0").unwrap();
    let peer_ll = s.lab.link_local(&peer_ns, "eth0").unwrap();

    // Negotiated: listed by bgpd exactly when the peer announced it too.
    let caps = capabilities(&s.rr);
    if c.enh != caps.iter().any(|x| x == ENH) {
        s.fail(&format!(
            "capabilities {caps:?}: `{ENH}` expected {}",
            if c.enh { "present" } else { "absent" }
        ));
    }

    // Our IPv6 route arrives in every case: export to the session works.
    s.wait(10, "our IPv6 route at the peer", |seen| {
        let (hops, text) = s.peer.next_hops(OUR_V6)?;
        *seen = text;
        Ok(!hops.is_empty())
    });

    // IPv4 unicast is negotiated either way (the peer announced it as a multiprotocol
    // family): without the capability, the only thing missing is a next hop we may send.
    let families = neighbor(&s.rr)["families"].clone();
    if !families
        .as_array()
        .is_some_and(|f| f.iter().any(|x| x == "ipv4-unicast"))
    {
        s.fail(&format!("ipv4-unicast not negotiated: families {families}"));
    }

    if !c.enh {
        check_not_sent(&s);
        eprintln!("{}: passed in {:.1?}", s.name, s.started.elapsed());
        return;
    }

    // Our IPv4 route at the peer, with our IPv6 global address alone as next hop (16
    // octets, as FRR sends for IPv4 routes: some speakers refuse 32; our IPv6 routes carry
    // the link-local address too), through the peer's own CLI.
    s.wait(10, "our IPv4 route at the peer", |seen| {
        let (hops, text) = s.peer.next_hops(OUR_V4)?;
        *seen = text;
        Ok(!hops.is_empty())
    });
    let (hops, text) = s.peer.next_hops(OUR_V4).unwrap();
    let want = NextHop {
        global: OUR_ADDR.to_owned(),
        link_local: None,
    };
    if hops != vec![want.clone()] {
        s.fail(&format!(
            "the peer holds {OUR_V4} with next hops {hops:?}, want {want:?}:\n{text}"
        ));
    }
    // Our IPv6 route on the same session: global and link-local (RFC 2545).
    s.wait(10, "our IPv6 route at the peer", |seen| {
        let (hops, text) = s.peer.next_hops(OUR_V6)?;
        *seen = text;
        Ok(!hops.is_empty())
    });
    let (hops, text) = s.peer.next_hops(OUR_V6).unwrap();
    let want6 = NextHop {
        global: OUR_ADDR.to_owned(),
        link_local: Some(our_ll.clone()),
    };
    if hops != vec![want6.clone()] {
        s.fail(&format!(
            "the peer holds {OUR_V6} with next hops {hops:?}, want {want6:?}:\n{text}"
        ));
    }

    // The peer's IPv4 route in bgpd's RIB, with the peer's IPv6 next hops.
    s.wait(10, "the peer's routes in bgpd's RIB", |seen| {
        let (v4, v6) = (rib_rows(&s.rr, PEER_V4), rib_rows(&s.rr, PEER_V6));
        *seen = format!("{v4:?} {v6:?}");
        Ok(!v4.is_empty() && !v6.is_empty())
    });
    let rows = rib_rows(&s.rr, PEER_V4);
    let row = &rows[0];
    if rows.len() != 1
        || row["next_hop"] != PEER_ADDR
        || row["next_hop_link_local"] != peer_ll.as_str()
        || row["best"] != true
    {
        s.fail(&format!(
            "bgpd holds {PEER_V4} as {rows:#?}, want next hop {PEER_ADDR} and link-local {peer_ll}, best"
        ));
    }

    // Counted per family: one IPv4 route each way.
    s.wait(5, "bgpd's IPv4 unicast counts", |seen| {
        let counts = family_counts(&s.rr, "ipv4-unicast");
        *seen = counts.to_string();
        Ok(counts["advertised"] == 1 && counts["accepted"] == 1)
    });

    // bgpd installs it via the IPv6 gateway: the link-local one, on eth0.
    let last = s.wait(10, "bgpd's kernel route via inet6", |seen| {
        *seen = kernel_route(&s.lab, &rr_ns, PEER_V4, true)?;
        Ok(seen.contains("via inet6") && seen.contains("dev eth0"))
    });
    if !last.contains(&format!("via inet6 {peer_ll} dev eth0")) {
        s.fail(&format!(
            "bgpd's kernel route for {PEER_V4}: {last:?}, want via inet6 {peer_ll} dev eth0"
        ));
    }
    eprintln!("{}: bgpd's kernel route: {last}", s.name);

    // The peer installs ours via IPv6 too (via our global address); then a ping from loopback to loopback crosses the
    // IPv6-only link both ways.
    let theirs = s.wait(10, "the peer's kernel route for our IPv4 prefix", |seen| {
        *seen = kernel_route(&s.lab, &peer_ns, OUR_V4, false)?;
        Ok(seen.contains("via inet6") && seen.contains("dev eth0"))
    });
    eprintln!("{}: the peer's kernel route: {theirs}", s.name);
    let mut ping = String::new();
    let res = wait_until(Duration::from_secs(5), "a ping across", || {
        let o = s.lab.run(
            &rr_ns,
            "ping",
            &["-n", "-c", "1", "-W", "1", "-I", OUR_HOST, PEER_HOST],
        )?;
        ping = format!("{}{}", o.stdout, o.stderr);
        Ok(o.ok())
    });
    if let Err(e) = res {
        let neigh = s
            .lab
            .run(&rr_ns, "ip", &["neigh", "show"])
            .map(|o| o.stdout)
            .unwrap_or_default();
        s.fail(&format!(
            "{e}\n{ping}\nbgpd's side: {last}\nthe peer's side: {theirs}\nneighbours: {neigh}"
        ));
    }

    s.check_no_resets();
    eprintln!("{}: passed in {:.1?}", s.name, s.started.elapsed());
}

/// The peer did not announce the capability: bgpd sends it no IPv4 route (neither in its
/// Adj-RIB-Out nor at the peer, for a while after the IPv6 one arrived) and keeps the
/// session.
fn check_not_sent(s: &Setup) {
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        let (hops, text) = s.peer.next_hops(OUR_V4).unwrap();
        if !hops.is_empty() {
            s.fail(&format!(
                "bgpd sent {OUR_V4} without the capability: {hops:?}\n{text}"
            ));
        }
        let counts = family_counts(&s.rr, "ipv4-unicast");
        if counts["advertised"] != 0 {
            s.fail(&format!(
                "bgpd counts IPv4 routes advertised without the capability: {counts}"
            ));
        }
        let out = s.rr.rib(&["--neighbor", "peer", "--out"]).unwrap();
        if let Some(r) = out.iter().find(|r| !r.prefix.contains(':')) {
            s.fail(&format!(
                "IPv4 route in bgpd's Adj-RIB-Out without the capability: {r:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    // What bgpd made of the peer's IPv4 route, if it sent one (for the report).
    eprintln!(
        "{}: bgpd's RIB for the peer's {PEER_V4}: {:?}",
        s.name,
        rib_rows(&s.rr, PEER_V4)
    );
    s.check_no_resets();
}

#[test]
fn frr() {
    run(Case {
        kind: Kind::Frr,
        enh: true,
    });
}

#[test]
fn frr_without_capability() {
    run(Case {
        kind: Kind::Frr,
        enh: false,
    });
}

#[test]
fn bird2() {
    run(Case {
        kind: Kind::Bird2,
        enh: true,
    });
}

#[test]
fn bird2_without_capability() {
    run(Case {
        kind: Kind::Bird2,
        enh: false,
    });
}

#[cfg(test)]
mod parsers {
    use super::*;

    #[test]
    fn bird2_next_hops() {
        let t = "BIRD 2.0.12 ready.\nTable master4:\n198.18.0.0/24        unicast [bgpd 10:00:00.000] * (100) [AS4200000001i]\n\tvia fe80::1 on eth0\n\tType: BGP univ\n\tBGP.origin: IGP\n\tBGP.as_path: 4200000001\n\tBGP.next_hop: 2001:db8:5100::1 fe80::1\n\tBGP.local_pref: 100\n";
        assert_eq!(
            bird_next_hops(t, "198.18.0.0/24"),
            vec![NextHop {
                global: "2001:db8:5100::1".into(),
                link_local: Some("fe80::1".into()),
            }]
        );
        assert!(bird_next_hops("BIRD 2.0.12 ready.\n", "198.18.0.0/24").is_empty());
    }

    #[test]
    fn frr_next_hops_by_scope() {
        let j = r#"{"prefix":"198.18.0.0/24","paths":[{"nexthops":[{"ip":"2001:db8:5100::1","afi":"ipv6","scope":"global","used":true},{"ip":"fe80::1","afi":"ipv6","scope":"link-local"}],"peer":{"peerId":"2001:db8:5100::1"}}]}"#;
        assert_eq!(
            frr_next_hops(j),
            vec![NextHop {
                global: "2001:db8:5100::1".into(),
                link_local: Some("fe80::1".into()),
            }]
        );
        assert!(frr_next_hops("{}").is_empty());
    }
}
