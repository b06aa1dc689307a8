//! The kernel FIB against a real kernel, inside network namespaces this test creates and
//! always deletes (also when it fails): routes appear in `ip route show table N proto bgp`
//! with the right next hops (single, ECMP, recursive, IPv6, blackhole), are replaced and
//! removed, follow link state, survive a restart, and are adopted and reconciled after it.
//!
//! The FIB task runs inside the namespace: a dedicated thread enters it with `setns` and
//! builds a current-thread tokio runtime there, so every netlink socket is the namespace's.
//! Needs root (skipped with a message otherwise). No packets are sent: routes only.
//!
//! The 1,000,000-route install benchmark is `#[ignore]`d:
//! `cargo test --release -p bgpd --test fib -- --ignored --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::File;
use std::net::IpAddr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bgpd::fib::{Fib, FibConfig, FibRoute, NextHopEvent};
use ipnet::IpNet;
use nix::sched::CloneFlags;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A network namespace this test made, deleted on drop.
struct Netns(Ns);

impl std::ops::Deref for Netns {
    type Target = Ns;
    fn deref(&self) -> &Ns {
        &self.0
    }
}

/// A namespace by name (a view: dropping it deletes nothing).
#[derive(Clone)]
struct Ns {
    name: String,
}

impl Netns {
    /// `None` (with the reason printed) when namespaces cannot be made here.
    fn new(tag: &str) -> Option<Netns> {
        let uid = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_owned())
            });
        if uid.as_deref() != Some("0") {
            eprintln!("skipped: the FIB tests need root to create network namespaces");
            return None;
        }
        let name = format!(
            "bgpdfib-{}-{}-{tag}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        match Command::new("ip").args(["netns", "add", &name]).status() {
            Ok(s) if s.success() => Some(Netns(Ns { name })),
            other => {
                eprintln!("skipped: `ip netns add` failed: {other:?}");
                None
            }
        }
    }
}

impl Ns {
    /// `ip -n NS ARGS`: its stdout, or its stderr as the error.
    fn try_ip(&self, args: &str) -> Result<String, String> {
        let out = Command::new("ip")
            .args(["-n", &self.name])
            .args(args.split_whitespace())
            .output()
            .unwrap();
        if out.status.success() {
            Ok(String::from_utf8(out.stdout).unwrap())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// `ip -n NS ARGS`, which must succeed; its stdout.
    fn ip(&self, args: &str) -> String {
        let out = Command::new("ip")
            .args(["-n", &self.name])
            .args(args.split_whitespace())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ip -n {} {args}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// A veth pair, both ends up in this namespace: 192.0.2.1/24 and 2001:db8:1::1/64
    /// on veth0; 198.51.100.0/24 reachable via 192.0.2.2 (a static route, for recursion).
    fn lab(&self) {
        self.ip("link set lo up");
        self.ip("link add veth0 type veth peer name veth1");
        self.ip("link set veth0 up");
        self.ip("link set veth1 up");
        self.ip("addr add 192.0.2.1/24 dev veth0");
        self.ip("-6 addr add 2001:db8:1::1/64 dev veth0 nodad");
        self.ip("route add 198.51.100.0/24 via 192.0.2.2");
    }

    /// Our routes in `table`, one line each: `PREFIX via GW[,GW]`, `PREFIX blackhole`.
    fn routes(&self, table: u32) -> Vec<String> {
        let mut out = Vec::new();
        for fam in ["-4", "-6"] {
            let text = match self.try_ip(&format!("-j {fam} route show table {table} proto bgp")) {
                Ok(text) => text,
                // A table without any route of a family does not exist for it.
                Err(e) if e.contains("does not exist") => String::new(),
                Err(e) => panic!("ip route show: {e}"),
            };
            let rows: Vec<serde_json::Value> =
                serde_json::from_str(if text.trim().is_empty() { "[]" } else { &text }).unwrap();
            for r in rows {
                let dst = r["dst"].as_str().unwrap().to_owned();
                let metric = r["metric"].as_u64().unwrap_or(0);
                assert_eq!(metric, 20, "our metric on {r}");
                let line = if r["type"].as_str() == Some("blackhole") {
                    format!("{dst} blackhole")
                } else if let Some(hops) = r["nexthops"].as_array() {
                    let gws: Vec<&str> = hops
                        .iter()
                        .map(|h| h["gateway"].as_str().unwrap())
                        .collect();
                    format!("{dst} via {}", gws.join(","))
                } else {
                    format!("{dst} via {}", r["gateway"].as_str().unwrap())
                };
                out.push(line);
            }
        }
        out.sort();
        out
    }

    /// Run `f` on a thread inside this namespace, on a current-thread tokio runtime.
    fn run<T: Send + 'static>(&self, f: impl AsyncFnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let ns = File::open(&path).unwrap();
            nix::sched::setns(&ns, CloneFlags::CLONE_NEWNET).unwrap();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(f())
        })
        .join()
        .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn unicast(prefix: &str, hops: &[&str]) -> FibRoute {
    FibRoute::Unicast {
        prefix: net(prefix),
        next_hops: hops.iter().map(|h| ip(h).into()).collect(),
    }
}

fn config() -> FibConfig {
    let mut c = FibConfig::new(1000);
    c.blackhole_local = true;
    c
}

fn lines(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

/// Poll `cond` every 50 ms for at most 5 s.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn routes_next_hops_link_state_restart_and_adoption() {
    let Some(ns) = Netns::new("main") else { return };
    ns.lab();
    let view = ns.0.clone();
    let after_first_run = ns.run(async move || {
        let (fib, mut events) = Fib::start(config()).await.unwrap();
        assert_eq!(fib.stats().adopted_at_start, 0);
        let nh = fib.next_hops();
        assert_eq!(nh.igp_cost(ip("192.0.2.2")), Some(0), "connected");
        assert_eq!(
            nh.igp_cost(ip("198.51.100.7")),
            Some(1),
            "via the static route, metric 0 + 1"
        );
        assert_eq!(nh.igp_cost(ip("203.0.113.9")), None, "unreachable");
        assert_eq!(nh.igp_cost(ip("2001:db8:1::2")), Some(0));

        fib.replace(unicast("198.18.0.0/26", &["192.0.2.2"]));
        fib.replace(unicast("198.18.0.64/26", &["192.0.2.2", "192.0.2.3"]));
        fib.replace(unicast("198.18.1.0/26", &["198.51.100.7"]));
        fib.replace(unicast("198.18.2.0/26", &["203.0.113.9"]));
        fib.replace(unicast(
            "2001:db8:100::/48",
            &["2001:db8:1::2", "2001:db8:1::3"],
        ));
        fib.replace(unicast("2001:db8:200::/48", &["2001:db8:1::2"]));
        fib.replace(FibRoute::Blackhole {
            prefix: net("198.18.0.0/16"),
        });
        let s = fib.flush().await.unwrap();
        assert_eq!(
            (s.wanted, s.installed, s.unresolved, s.errors),
            (7, 6, 1, 0),
            "{s:?}"
        );
        assert_eq!(
            view.routes(1000),
            lines(&[
                "198.18.0.0/16 blackhole",
                "198.18.0.0/26 via 192.0.2.2",
                "198.18.0.64/26 via 192.0.2.2,192.0.2.3",
                "198.18.1.0/26 via 192.0.2.2",
                "2001:db8:100::/48 via 2001:db8:1::2,2001:db8:1::3",
                "2001:db8:200::/48 via 2001:db8:1::2",
            ])
        );

        // Replace and delete; a replace to the same next hop is not sent again.
        let before = fib.stats().installs;
        fib.replace(unicast("198.18.0.0/26", &["192.0.2.3"]));
        fib.replace(unicast("198.18.1.0/26", &["198.51.100.7"]));
        fib.delete(net("198.18.0.64/26"));
        fib.delete(net("2001:db8:200::/48"));
        let s = fib.flush().await.unwrap();
        assert_eq!(s.installs - before, 1);
        assert_eq!(
            view.routes(1000),
            lines(&[
                "198.18.0.0/16 blackhole",
                "198.18.0.0/26 via 192.0.2.3",
                "198.18.1.0/26 via 192.0.2.2",
                "2001:db8:100::/48 via 2001:db8:1::2,2001:db8:1::3",
            ])
        );

        // The static route moves: the recursive route follows without being asked.
        view.ip("route replace 198.51.100.0/24 via 192.0.2.4");
        tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap();
        eventually("recursive route re-resolved", || {
            view.routes(1000)
                .contains(&"198.18.1.0/26 via 192.0.2.4".to_owned())
        })
        .await;

        // Carrier lost on veth0: every next hop there is unreachable, routes go.
        view.ip("link set veth1 down");
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(5), events.recv())
                .await
                .unwrap(),
            Some(NextHopEvent::Changed)
        );
        eventually("routes via veth0 removed", || {
            view.routes(1000) == lines(&["198.18.0.0/16 blackhole"])
        })
        .await;
        assert_eq!(nh.igp_cost(ip("192.0.2.2")), None);
        assert_eq!(nh.igp_cost(ip("2001:db8:1::2")), None);
        // And back.
        view.ip("link set veth1 up");
        eventually("routes via veth0 back", || view.routes(1000).len() == 4).await;
        assert_eq!(nh.igp_cost(ip("192.0.2.2")), Some(0));
        let s = fib.flush().await.unwrap();
        assert_eq!((s.installed, s.errors), (4, 0), "{s:?}");
        drop(fib);
        tokio::time::sleep(Duration::from_millis(100)).await;
        view.routes(1000)
    });
    // The task ended; forwarding state stays in the kernel.
    assert_eq!(after_first_run.len(), 4);
    assert_eq!(ns.routes(1000), after_first_run);

    // Restart: adopt, re-learn part of the table, sweep the rest at initial sync.
    let view = ns.0.clone();
    ns.run(async move || {
        let (fib, _events) = Fib::start(config()).await.unwrap();
        assert_eq!(fib.stats().adopted_at_start, 4);
        fib.replace(unicast("198.18.0.0/26", &["192.0.2.3"]));
        fib.replace(FibRoute::Blackhole {
            prefix: net("198.18.0.0/16"),
        });
        fib.replace(unicast("198.18.3.0/26", &["192.0.2.2"]));
        let s = fib.flush().await.unwrap();
        assert_eq!((s.adopted, s.synced), (2, false), "{s:?}");
        // Until the initial sync, the unclaimed adopted routes keep forwarding.
        assert_eq!(view.routes(1000).len(), 5);
        fib.initial_sync_done();
        let s = fib.flush().await.unwrap();
        assert_eq!(
            (s.adopted, s.synced, s.installed, s.errors),
            (0, true, 3, 0),
            "{s:?}"
        );
        assert_eq!(
            view.routes(1000),
            lines(&[
                "198.18.0.0/16 blackhole",
                "198.18.0.0/26 via 192.0.2.3",
                "198.18.3.0/26 via 192.0.2.2"
            ])
        );
    });
    // Nothing else was touched: the main table has no route of ours.
    assert!(ns.routes(254).is_empty());
}

#[test]
fn adopted_route_under_another_metric_is_not_duplicated() {
    let Some(ns) = Netns::new("metric") else {
        return;
    };
    ns.lab();
    // A previous run that used metric 32.
    ns.ip("route add 198.18.5.0/24 via 192.0.2.2 table 1000 proto bgp metric 32");
    let view = ns.0.clone();
    ns.run(async move || {
        let (fib, _events) = Fib::start(config()).await.unwrap();
        assert_eq!(fib.stats().adopted_at_start, 1);
        fib.replace(unicast("198.18.5.0/24", &["192.0.2.3"]));
        fib.flush().await.unwrap();
        assert_eq!(view.routes(1000), lines(&["198.18.5.0/24 via 192.0.2.3"]));
    });
}

/// Install 1,000,000 IPv4 /24s with one next hop into table 1000 of a throwaway
/// namespace; prints the time. `cargo test --release -p bgpd --test fib -- --ignored --nocapture`
#[test]
#[ignore]
fn bench_install_one_million_routes() {
    let Some(ns) = Netns::new("bench") else {
        return;
    };
    ns.lab();
    let n: u32 = std::env::var("FIB_BENCH_ROUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let (install, remove, stats) = ns.run(async move || {
        let (fib, _events) = Fib::start(config()).await.unwrap();
        let started = Instant::now();
        for i in 0..n {
            // 16.0.0.0/4 holds 2^20 /24s; no packet is ever sent to them.
            let a = std::net::Ipv4Addr::from(0x1000_0000u32 + (i << 8));
            fib.replace(FibRoute::Unicast {
                prefix: IpNet::V4(ipnet::Ipv4Net::new(a, 24).unwrap()),
                next_hops: vec![ip("192.0.2.2").into()],
            });
        }
        let stats = fib.flush().await.unwrap();
        let install = started.elapsed();
        let started = Instant::now();
        for i in 0..n {
            let a = std::net::Ipv4Addr::from(0x1000_0000u32 + (i << 8));
            fib.delete(IpNet::V4(ipnet::Ipv4Net::new(a, 24).unwrap()));
        }
        fib.flush().await.unwrap();
        (install, started.elapsed(), stats)
    });
    assert_eq!(stats.installed, n as usize);
    assert_eq!(stats.errors, 0);
    println!(
        "bgpd FIB: {n} IPv4 routes installed in {:.2} s ({:.0} routes/s), removed in {:.2} s",
        install.as_secs_f64(),
        f64::from(n) / install.as_secs_f64(),
        remove.as_secs_f64()
    );
}

/// Leaves (prefixes) of `table` in the namespace, from `/proc/net/fib_triestat` (cheap,
/// unlike listing a million routes).
fn fib_leaves(ns: &Ns, table: u32) -> u64 {
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.name, "cat", "/proc/net/fib_triestat"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text
        .lines()
        .skip_while(|l| l.trim() != format!("Id {table}:"));
    lines
        .find_map(|l| {
            l.trim()
                .strip_prefix("Leaves:")
                .map(|n| n.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

/// A child process killed on drop.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// BIRD 2's time for the same table on the same machine: 1,000,000 static /24s via
/// 192.0.2.2 exported by its kernel protocol into table 1000 of a throwaway namespace.
/// `cargo test --release -p bgpd --test fib bird -- --ignored --nocapture`
#[test]
#[ignore]
fn bench_bird2_install_one_million_routes() {
    if Command::new("bird").arg("--version").output().is_err() {
        eprintln!("skipped: BIRD 2 (`bird`) is not installed");
        return;
    }
    let Some(ns) = Netns::new("bird") else { return };
    ns.lab();
    let n: u32 = std::env::var("FIB_BENCH_ROUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(&ns.name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut cfg = String::from(
        "router id 192.0.2.1;\nprotocol device { scan time 600; }\n\
         protocol kernel { ipv4 { export all; import none; }; kernel table 1000; metric 20; learn off; scan time 600; }\n\
         protocol static { ipv4;\n",
    );
    for i in 0..n {
        let a = std::net::Ipv4Addr::from(0x1000_0000u32 + (i << 8));
        cfg.push_str(&format!("  route {a}/24 via 192.0.2.2;\n"));
    }
    cfg.push_str("}\n");
    let conf = dir.join("bird.conf");
    std::fs::write(&conf, cfg).unwrap();
    let started = Instant::now();
    let _bird = Child(
        Command::new("ip")
            .args(["netns", "exec", &ns.name, "bird", "-f", "-c"])
            .arg(&conf)
            .arg("-s")
            .arg(dir.join("bird.ctl"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = started + Duration::from_secs(900);
    let mut first = None;
    loop {
        let leaves = fib_leaves(&ns, 1000);
        if leaves > 0 && first.is_none() {
            first = Some(started.elapsed());
        }
        if leaves >= u64::from(n) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "BIRD installed only {leaves} of {n} in 900 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let total = started.elapsed();
    let first = first.unwrap_or(total);
    println!(
        "BIRD 2 kernel protocol: {n} IPv4 routes in {:.2} s from start ({:.2} s from its first route, {:.0} routes/s)",
        total.as_secs_f64(),
        (total - first).as_secs_f64(),
        f64::from(n) / (total - first).as_secs_f64().max(1e-6)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
