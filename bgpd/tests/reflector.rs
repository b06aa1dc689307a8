//! End to end on loopback: a route reflector for "Calico nodes" (other bgpd instances in a
//! dynamic range) with an eBGP "VBR", origination of the pod aggregate, import and export
//! policy, next-hop handling, and withdrawal of the aggregate when no block is left.
//! Needs root (port 179).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{daemon, eventually, neighbor, Bgpd};

const RR: &str = r#"
[global]
asn = 64512
router_id = "192.0.2.11"
listen = ["127.0.0.11:179"]
[control]
socket = "{socket}"
[metrics]
listen = "127.0.0.11:9179"
[[originate]]
prefix = "198.18.0.0/16"
require_more_specific = true
[[neighbor]]
name = "calico"
range = "127.0.0.0/28"
remote_as = 64512
route_reflector_client = true
next_hop_self = true
[[neighbor]]
name = "vbr"
address = "127.0.0.20"
local_address = "127.0.0.11"
remote_as = 45104
hold_time = 9
import = "from-cloud"
export = "to-cloud"
max_prefixes_out = 100
[policy.to-cloud]
default = "reject"
[[policy.to-cloud.term]]
prefixes = ["198.18.0.0/16"]
action = "accept"
[policy.from-cloud]
default = "reject"
[[policy.from-cloud.term]]
prefixes = ["198.19.0.0/16{16,24}"]
action = "accept"
set = { local_pref = 200 }
"#;

fn node(n: u8, block: &str) -> String {
    format!(
        r#"
[global]
asn = 64512
router_id = "192.0.2.{n}"
listen = ["127.0.0.{n}:179"]
[control]
socket = "{{socket}}"
[metrics]
listen = "127.0.0.{n}:9179"
[[originate]]
prefix = "{block}"
[[neighbor]]
name = "rr"
address = "127.0.0.11"
local_address = "127.0.0.{n}"
remote_as = 64512
"#
    )
}

const VBR: &str = r#"
[global]
asn = 45104
router_id = "203.0.113.2"
listen = ["127.0.0.20:179"]
[control]
socket = "{socket}"
[metrics]
listen = "127.0.0.20:9179"
[[originate]]
prefix = "198.19.0.0/16"
[[originate]]
prefix = "198.19.24.0/24"
[[originate]]
prefix = "203.0.113.128/25"
[[neighbor]]
name = "edge"
address = "127.0.0.11"
local_address = "127.0.0.20"
remote_as = 64512
hold_time = 9
import = "all"
export = "all"
[policy.all]
default = "accept"
"#;

/// GET /metrics, after the daemon's 2 s refresh has run at least once.
fn scrape(addr: &str) -> String {
    use std::io::{Read, Write};
    std::thread::sleep(Duration::from_millis(2100));
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn has(routes: &[common::Route], prefix: &str) -> Option<common::Route> {
    routes
        .iter()
        .find(|r| r.prefix == prefix && r.best)
        .cloned()
}

#[test]
fn reflects_between_nodes_and_aggregates_towards_the_cloud() {
    let mut rr = Bgpd::start("rr", RR);
    let vbr = Bgpd::start("vbr", VBR);
    let n1 = Bgpd::start("n1", &node(12, "198.18.1.0/26"));
    let n2 = Bgpd::start("n2", &node(13, "198.18.2.0/26"));
    let t = Duration::from_secs(20);
    rr.wait_for(t, "sessions", |d| {
        d.established(&["vbr"])
            && d.states()
                .iter()
                .filter(|(n, s)| n == "calico" && s == "established")
                .count()
                == 2
    });

    // A node learns the other node's block with that node as next hop (reflected, next hop
    // untouched, ORIGINATOR_ID set), and the VPC routes with the edge as next hop.
    assert!(
        eventually(t, || has(&n1.rib(), "198.18.2.0/26").is_some()),
        "{}",
        rr.log()
    );
    let r = has(&n1.rib(), "198.18.2.0/26").unwrap();
    assert_eq!(r.next_hop.as_deref(), Some("127.0.0.13"));
    assert_eq!(r.originator_id.as_deref(), Some("192.0.2.13"));
    assert!(eventually(t, || has(&n1.rib(), "198.19.24.0/24").is_some()));
    let r = has(&n1.rib(), "198.19.24.0/24").unwrap();
    assert_eq!(
        r.next_hop.as_deref(),
        Some("127.0.0.11"),
        "next_hop_self for eBGP routes"
    );
    assert_eq!(r.local_pref, Some(200), "import policy set");
    // The import policy refused what is outside the VPC.
    assert!(has(&rr.rib(), "203.0.113.128/25").is_none());

    // The cloud gets exactly the aggregate, from us, and no /26 block.
    assert!(eventually(t, || has(&vbr.rib(), "198.18.0.0/16").is_some()));
    let vrib = vbr.rib();
    let agg = has(&vrib, "198.18.0.0/16").unwrap();
    assert_eq!(agg.as_path, "64512");
    assert_eq!(agg.next_hop.as_deref(), Some("127.0.0.11"));
    assert!(
        vrib.iter()
            .all(|r| !r.prefix.starts_with("198.18.") || r.prefix == "198.18.0.0/16"),
        "{vrib:?}"
    );
    let out = rr.routes(&["show", "rib", "--neighbor", "vbr", "--out"]);
    assert_eq!(out.len(), 1, "{out:?}");
    // The Loc-RIB of one neighbor: a fixed one, the dynamic range (both nodes, each named
    // by its session's address), one node by address.
    let from = |args: &[&str]| -> Vec<(String, String)> {
        let mut all = vec!["show", "rib"];
        all.extend_from_slice(args);
        let v = rr.ctl(&all);
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let n = r["neighbor"].as_str().unwrap().to_owned();
                (n, r["neighbor_address"].as_str().unwrap_or("").to_owned())
            })
            .collect()
    };
    let vbr_rows = from(&["--neighbor", "vbr"]);
    assert!(!vbr_rows.is_empty());
    assert!(
        vbr_rows
            .iter()
            .all(|r| r == &("vbr".into(), "127.0.0.20".into())),
        "{vbr_rows:?}"
    );
    let nodes = from(&["--neighbor", "calico"]);
    let addresses: std::collections::BTreeSet<&str> = nodes.iter().map(|r| r.1.as_str()).collect();
    assert!(nodes.iter().all(|r| r.0 == "calico"), "{nodes:?}");
    assert_eq!(
        addresses.into_iter().collect::<Vec<_>>(),
        ["127.0.0.12", "127.0.0.13"]
    );
    let one = from(&["--neighbor", "127.0.0.13"]);
    assert!(
        !one.is_empty() && one.iter().all(|r| r.1 == "127.0.0.13"),
        "{one:?}"
    );
    // UPDATEs written by the export group count as sent.
    let sent = || rr.ctl(&["show", "neighbor", "vbr"])[0]["messages_out"]["update"].as_u64();
    assert!(eventually(t, || sent() >= Some(2)), "{:?}", sent());

    // Prometheus sees the same: sessions, table sizes, export groups.
    let metrics = scrape("127.0.0.11:9179");
    assert!(
        metrics.contains(
            "bgp_session_state{address=\"127.0.0.20\",neighbor=\"vbr\",remote_as=\"45104\"} 6"
        ),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("bgp_rib_prefixes{afi_safi=\"ipv4-unicast\"}")),
        "{metrics}"
    );
    // Per family, as the configuration names it: the VBR gets the aggregate (IPv4 only).
    assert!(
        metrics.contains(
            "bgp_prefixes_advertised{address=\"127.0.0.20\",afi_safi=\"ipv4-unicast\",neighbor=\"vbr\",remote_as=\"45104\"} 1"
        ),
        "{metrics}"
    );
    assert!(!metrics.contains("afi_safi=\"all\""), "{metrics}");
    assert!(metrics.contains("bgp_export_groups"), "{metrics}");

    // Deliberate shutdown of both nodes (Cease, routes flushed): no block left, so the
    // aggregate is withdrawn from the cloud.
    n1.ctl(&["shutdown", "--message", "maintenance"]);
    n2.ctl(&["shutdown"]);
    assert!(
        eventually(t, || has(&vbr.rib(), "198.18.0.0/16").is_none()),
        "{}",
        rr.log()
    );
    assert!(has(&rr.rib(), "198.18.1.0/26").is_none());
    rr.terminate();
}

fn addpath_node(n: u8, block: &str) -> String {
    daemon(
        n,
        &(format!("[[originate]]\nprefix = \"{block}\"\n")
            + &neighbor("rr", 60, n, "add_path = { ipv4-unicast = \"both\" }")),
    )
}

#[test]
fn add_path_clients_learn_every_path() {
    let rr = Bgpd::start(
        "ap-rr",
        r#"
[global]
asn = 64512
router_id = "192.0.2.60"
listen = ["127.0.0.60:179"]
[control]
socket = "{socket}"
[metrics]
enabled = false
[[neighbor]]
name = "nodes"
range = "127.0.0.56/29"
remote_as = 64512
route_reflector_client = true
add_path = { ipv4-unicast = "both" }
"#,
    );
    // Two nodes announce the same service prefix (anycast); a third learns both paths.
    let _a = Bgpd::start("ap-a", &addpath_node(57, "198.18.100.0/24"));
    let _b = Bgpd::start("ap-b", &addpath_node(58, "198.18.100.0/24"));
    let c = Bgpd::start("ap-c", &addpath_node(59, "198.18.101.0/24"));
    let t = Duration::from_secs(20);
    let paths = || {
        let mut hops: Vec<String> = c
            .rib()
            .into_iter()
            .filter(|r| r.prefix == "198.18.100.0/24")
            .filter_map(|r| r.next_hop)
            .collect();
        hops.sort();
        hops
    };
    assert!(
        eventually(t, || paths() == ["127.0.0.57", "127.0.0.58"]),
        "{:?}\nrr: {:?}\nout: {:?}\nc: {:?}",
        paths(),
        rr.rib(),
        rr.routes(&["show", "rib", "--neighbor", "127.0.0.59", "--out"]),
        c.rib()
    );
    let v = rr.ctl(&["show", "neighbor", "127.0.0.59"]);
    let caps = v[0]["capabilities"].to_string();
    assert!(
        caps.contains("add-path ipv4-unicast send/receive"),
        "{caps}"
    );
}
