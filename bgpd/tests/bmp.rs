//! BMP end to end against a real collector, pmacct's `pmbmpd`, which logs every message it
//! receives as JSON: bgpd 127.0.0.92 (AS 64512) streams to it (with its Adj-RIB-Out); its neighbor 127.0.0.93
//! (AS 65093) sends four prefixes (IPv4: loopback has one IPv6 address, so the session is
//! IPv4 and carries no IPv6 routes). The collector must see bgpd's Initiation,
//! the Peer Up, every prefix, a withdrawal, Statistics Reports, the Peer Down and the
//! Termination; and a collector that connects late (or again) must get every prefix too.
//! Needs root (port 179) and `pmbmpd` (scripts/install-deps); without it the test is
//! skipped, except under CI.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{daemon, eventually, Bgpd};

const PREFIXES: [&str; 4] = [
    "198.51.100.0/24",
    "198.51.101.0/24",
    "203.0.113.0/25",
    "203.0.113.128/25",
];

/// A pmbmpd on 127.0.0.1:`port`, logging to `log`; killed on drop.
struct Collector {
    child: Child,
    log: PathBuf,
}

impl Collector {
    fn start(port: u16, log: &Path) -> Collector {
        let _ = std::fs::remove_file(log);
        let child = Command::new("pmbmpd")
            .args(["-L", "127.0.0.1", "-l", &port.to_string(), "-o"])
            .arg(log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pmbmpd");
        Collector {
            child,
            log: log.to_owned(),
        }
    }

    /// Every JSON line logged so far.
    fn events(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn has(&self, what: impl Fn(&serde_json::Value) -> bool) -> bool {
        self.events().iter().any(what)
    }

    /// Prefixes whose last Route Monitoring from 127.0.0.93 announced them.
    fn announced(&self) -> Vec<String> {
        let mut last = std::collections::BTreeMap::new();
        for e in self.events() {
            if e["bmp_msg_type"] == "route_monitor" && e["peer_ip"] == "127.0.0.93" && is_in(&e) {
                if let Some(p) = e["ip_prefix"].as_str() {
                    last.insert(p.to_owned(), e["log_type"] == "update");
                }
            }
        }
        last.into_iter()
            .filter(|(_, a)| *a)
            .map(|(p, _)| p)
            .collect()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Route Monitoring of the Adj-RIB-In (RFC 8671's O flag clear).
fn is_in(e: &serde_json::Value) -> bool {
    e["is_out"].as_i64().unwrap_or(0) == 0
}

fn have_pmbmpd() -> bool {
    let found = Command::new("pmbmpd").arg("-V").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "pmbmpd is missing (scripts/install-deps installs pmacct)"
        );
        eprintln!("SKIPPED: pmbmpd is not installed (scripts/install-deps installs pmacct)");
    }
    found
}

fn monitored(port: u16) -> String {
    daemon(
        92,
        &format!(
            r#"
[[bmp]]
address = "127.0.0.1:{port}"
statistics_interval = 1
adj_rib_out = true
[[originate]]
prefix = "198.18.0.0/15"
[[neighbor]]
name = "b"
address = "127.0.0.93"
local_address = "127.0.0.92"
remote_as = 65093
import = "all"
export = "all"
[policy.all]
default = "accept"
"#
        ),
    )
}

fn neighbor(originate: &[&str]) -> String {
    let mut extra = String::new();
    for p in originate {
        extra += &format!("[[originate]]\nprefix = \"{p}\"\n");
    }
    extra += r#"
[[neighbor]]
name = "a"
address = "127.0.0.92"
local_address = "127.0.0.93"
remote_as = 64512
import = "none"
export = "all"
[policy.all]
default = "accept"
[policy.none]
default = "reject"
"#;
    daemon(93, &extra).replace("asn = 64512", "asn = 65093")
}

fn wait(what: &str, cond: impl Fn() -> bool) {
    assert!(
        eventually(Duration::from_secs(30), cond),
        "timed out: {what}"
    );
}

#[test]
fn a_real_collector_sees_every_peer_and_prefix() {
    if !have_pmbmpd() {
        return;
    }
    let port = 11790 + (std::process::id() % 1000) as u16;
    // The collector first: the Adj-RIB-Out is streamed as it is sent, never replayed.
    let logs = tempdir();
    let collector = Collector::start(port, &logs.join("bmp-1.json"));
    wait("pmbmpd listening", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let mut a = Bgpd::start("bmp-a", &monitored(port));
    let b = Bgpd::start("bmp-b", &neighbor(&PREFIXES));
    a.wait_for(Duration::from_secs(30), "session a-b", |d| {
        d.established(&["b"])
    });

    // Initiation with sysDescr, and the Peer Up with the neighbor's AS and BGP ID.
    wait("Initiation", || {
        collector.has(|e| {
            e["bmp_msg_type"] == "init"
                && e["bmp_init_info_sysdescr"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("bgpd ") && d.contains("AS 64512"))
        })
    });
    wait("Peer Up", || {
        collector.has(|e| {
            e["bmp_msg_type"] == "peer_up"
                && e["peer_ip"] == "127.0.0.93"
                && e["peer_asn"] == 65093
                && e["bgp_id"] == "192.0.2.93"
                && e["local_ip"] == "127.0.0.92"
        })
    });
    wait("every prefix, pre-policy", || {
        collector.announced() == sorted(&PREFIXES)
    });
    let pre_policy = collector
        .events()
        .into_iter()
        .filter(|e| e["bmp_msg_type"] == "route_monitor" && is_in(e))
        .all(|e| e["is_post"] == 0);
    assert!(pre_policy, "{:?}", collector.events());
    // What bgpd sent b, as RFC 8671's post-policy Adj-RIB-Out (`adj_rib_out = true`).
    wait("the Adj-RIB-Out", || {
        collector.has(|e| {
            e["bmp_msg_type"] == "route_monitor"
                && e["is_out"] == 1
                && e["is_post"] == 1
                && e["ip_prefix"] == "198.18.0.0/15"
                && e["peer_ip"] == "127.0.0.93"
        })
    });
    wait("a Statistics Report", || {
        collector.has(|e| e["bmp_msg_type"] == "stats" && e["peer_ip"] == "127.0.0.93")
    });

    // A withdrawal: b stops originating one prefix.
    b.write_config(&neighbor(&PREFIXES[1..]));
    b.signal("HUP");
    wait("the withdrawal", || {
        collector.announced() == sorted(&PREFIXES[1..])
    });

    // A collector that comes back later gets the Peer Up and every prefix again (bgpd asks
    // the neighbor for a route refresh: the pre-policy table is not kept).
    drop(collector);
    let again = Collector::start(port, &logs.join("bmp-2.json"));
    wait("the second collector's Peer Up", || {
        again.has(|e| e["bmp_msg_type"] == "peer_up" && e["peer_ip"] == "127.0.0.93")
    });
    wait("every prefix, to the second collector", || {
        again.announced() == sorted(&PREFIXES[1..])
    });

    // A stop: the Peer Down, then Termination.
    a.terminate();
    wait("Peer Down", || {
        again.has(|e| e["bmp_msg_type"] == "peer_down" && e["peer_ip"] == "127.0.0.93")
    });
    wait("Termination", || {
        again.has(|e| {
            e["bmp_msg_type"] == "term"
                && e["bmp_term_info_reason"] == "Session administratively closed"
        })
    });
    let log = a.log();
    assert!(log.contains("BMP collector connected"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    drop(b);
    let _ = std::fs::remove_dir_all(&logs);
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("bgpd-test-bmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sorted(p: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = p.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}
