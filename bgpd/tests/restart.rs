//! A restart that forwarding does not notice (RFC 4724): bgpd on an "edge" in one network
//! namespace, a peer in another. SIGTERM closes the session without a NOTIFICATION, so the
//! peer keeps the edge's routes (graceful restart helper), and the kernel keeps the edge's
//! forwarding routes; the new process adopts them, re-learns, and never removes them.
//! Needs root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::eventually;

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two namespaces joined by a veth, deleted on drop.
struct Net {
    a: String,
    b: String,
}

impl Net {
    fn new() -> Net {
        let id = std::process::id();
        let net = Net {
            a: format!("gr-a-{id}"),
            b: format!("gr-b-{id}"),
        };
        for n in [&net.a, &net.b] {
            ip(&["netns", "add", n]);
            ip(&["-n", n, "link", "set", "lo", "up"]);
        }
        ip(&[
            "link", "add", "gra", "netns", &net.a, "type", "veth", "peer", "name", "grb", "netns",
            &net.b,
        ]);
        ip(&["-n", &net.a, "addr", "add", "198.51.100.1/24", "dev", "gra"]);
        ip(&["-n", &net.b, "addr", "add", "198.51.100.2/24", "dev", "grb"]);
        ip(&["-n", &net.a, "link", "set", "gra", "up"]);
        ip(&["-n", &net.b, "link", "set", "grb", "up"]);
        net
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        ip(&["netns", "del", &self.a]);
        ip(&["netns", "del", &self.b]);
    }
}

struct Proc(std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(ns: &str, config: &std::path::Path, log: &std::path::Path) -> Proc {
    let log = std::fs::File::create(log).unwrap();
    Proc(
        Command::new("ip")
            .args(["netns", "exec", ns, env!("CARGO_BIN_EXE_bgpd"), "--config"])
            .arg(config)
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

fn bgpctl(ns: &str, socket: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            env!("CARGO_BIN_EXE_bgpctl"),
            "--json",
            "--socket",
        ])
        .arg(socket)
        .args(args)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

#[test]
fn sigterm_restart_keeps_forwarding_and_the_peers_routes() {
    if !Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"))
    {
        eprintln!("skipped: needs root");
        return;
    }
    let net = Net::new();
    let dir = std::env::temp_dir().join(format!("bgpd-gr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (sa, sb) = (dir.join("a.sock"), dir.join("b.sock"));
    let edge = format!(
        r#"
[global]
asn = 64512
router_id = "192.0.2.1"
listen = ["198.51.100.1:179"]
[control]
socket = "{}"
[metrics]
enabled = false
[kernel]
table = 254
[[originate]]
prefix = "198.18.78.0/24"
[[neighbor]]
name = "b"
address = "198.51.100.2"
remote_as = 64512
"#,
        sa.display()
    );
    let peer = format!(
        r#"
[global]
asn = 64512
router_id = "192.0.2.2"
listen = ["198.51.100.2:179"]
[control]
socket = "{}"
[metrics]
enabled = false
[[originate]]
prefix = "198.18.77.0/24"
[[neighbor]]
name = "a"
address = "198.51.100.1"
remote_as = 64512
"#,
        sb.display()
    );
    std::fs::write(dir.join("a.toml"), edge).unwrap();
    std::fs::write(dir.join("b.toml"), peer).unwrap();
    let kernel_route = || {
        ip(&[
            "-n",
            &net.a,
            "route",
            "show",
            "198.18.77.0/24",
            "proto",
            "bgp",
        ])
    };
    // A host behind the peer, reachable from the edge only through the BGP route.
    ip(&["-n", &net.b, "addr", "add", "198.18.77.1/32", "dev", "lo"]);
    let b = start(&net.b, &dir.join("b.toml"), &dir.join("b.log"));
    let mut a = start(&net.a, &dir.join("a.toml"), &dir.join("a.log"));
    let t = Duration::from_secs(20);
    assert!(
        eventually(t, || kernel_route().contains("via 198.51.100.2")),
        "{}",
        std::fs::read_to_string(dir.join("a.log")).unwrap_or_default()
    );
    let b_has_edge_route = || {
        bgpctl(&net.b, &sb, &["show", "rib"])
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["prefix"] == "198.18.78.0/24"))
    };
    assert!(eventually(t, b_has_edge_route));

    // Traffic through the BGP route for the whole restart: 100 pings a second for 8 s.
    let ping = Command::new("ip")
        .args([
            "netns",
            "exec",
            &net.a,
            "ping",
            "-q",
            "-i",
            "0.01",
            "-c",
            "800",
            "-W",
            "2",
            "198.18.77.1",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));

    // SIGTERM: the session closes without a NOTIFICATION.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(a.0.id().to_string())
        .status();
    let _ = a.0.wait();
    let stopped = Instant::now();
    assert!(
        kernel_route().contains("via 198.51.100.2"),
        "forwarding state kept"
    );
    std::thread::sleep(Duration::from_millis(300));
    let rib = bgpctl(&net.b, &sb, &["show", "rib"]);
    let kept = rib
        .as_array()
        .and_then(|r| r.iter().find(|r| r["prefix"] == "198.18.78.0/24").cloned());
    assert_eq!(
        kept.as_ref().map(|r| r["stale"].clone()),
        Some(serde_json::Value::Bool(true)),
        "{rib}"
    );

    // The new process adopts the kernel route, re-learns it, and the peer's stale route is
    // refreshed. The kernel route is watched the whole time: it must never disappear.
    let _a2 = start(&net.a, &dir.join("a.toml"), &dir.join("a2.log"));
    let mut gaps = 0;
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut refreshed = false;
    let mut refreshed_after = Duration::ZERO;
    while Instant::now() < deadline {
        if !kernel_route().contains("via 198.51.100.2") {
            gaps += 1;
        }
        let rib = bgpctl(&net.b, &sb, &["show", "rib"]);
        if rib.as_array().is_some_and(|r| {
            r.iter()
                .any(|r| r["prefix"] == "198.18.78.0/24" && r["stale"] == false)
        }) {
            refreshed = true;
            refreshed_after = stopped.elapsed();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        refreshed,
        "{}",
        std::fs::read_to_string(dir.join("a2.log")).unwrap_or_default()
    );
    assert_eq!(gaps, 0, "the kernel route disappeared during the restart");
    let out = ping.wait_with_output().unwrap();
    let summary = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = summary
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_default()
        .to_owned();
    eprintln!("restart: ping through the BGP route: {line}");
    // The stated bound: at most 1% lost (8 of 800); a reply slower than 2 s on a loaded
    // machine counts as lost. Measured so far: 0%.
    let received: u32 = line
        .split(", ")
        .find_map(|p| p.strip_suffix(" received").and_then(|n| n.parse().ok()))
        .unwrap_or(0);
    assert!(received >= 792, "{summary}");
    eprintln!(
        "restart: peer route refreshed {:?} after SIGTERM",
        refreshed_after
    );
    drop(b);
    let _ = std::fs::remove_dir_all(&dir);
}
