//! Graceful shutdown for maintenance (RFC 8326) end to end: bgpd 127.0.0.94 (AS 64512)
//! originates a prefix to an iBGP neighbor 127.0.0.95 and an eBGP neighbor 127.0.0.96
//! (AS 65096), both bgpd. `bgpctl neighbor X drain` re-advertises it with
//! GRACEFUL_SHUTDOWN (and LOCAL_PREF 0 on iBGP), `undrain` takes it back, and `bgpctl
//! drain` drains everything, waits for the routes to be written, and shuts the daemon
//! down. The eBGP receiver honours the community (LOCAL_PREF 0). Needs root (port 179).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{daemon, Bgpd, Route};

const PREFIX: &str = "198.51.100.0/24";
const GSHUT: &str = "65535:0";

fn drained_config() -> String {
    daemon(
        94,
        r#"
[[originate]]
prefix = "198.51.100.0/24"
[[neighbor]]
name = "ibgp"
address = "127.0.0.95"
local_address = "127.0.0.94"
remote_as = 64512
[[neighbor]]
name = "ebgp"
address = "127.0.0.96"
local_address = "127.0.0.94"
remote_as = 65096
import = "all"
export = "all"
[policy.all]
default = "accept"
"#,
    )
}

fn receiver(n: u8, asn: u32, remote_as: u32) -> String {
    daemon(
        n,
        &format!(
            r#"
[[originate]]
prefix = "203.0.113.{n}/32"
[[neighbor]]
name = "drained"
address = "127.0.0.94"
local_address = "127.0.0.{n}"
remote_as = {remote_as}
import = "all"
export = "all"
[policy.all]
default = "accept"
"#
        ),
    )
    .replace("asn = 64512", &format!("asn = {asn}"))
}

fn route(d: &Bgpd) -> Option<Route> {
    d.rib().into_iter().find(|r| r.prefix == PREFIX)
}

fn drained(r: &Route) -> bool {
    r.communities.iter().any(|c| c == GSHUT)
}

fn bgpctl(d: &Bgpd, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bgpctl"))
        .arg("--socket")
        .arg(&d.socket)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn drain_moves_the_peers_away_then_shuts_down() {
    let t = Duration::from_secs(30);
    let mut a = Bgpd::start("drain-a", &drained_config());
    let mut ibgp = Bgpd::start("drain-ibgp", &receiver(95, 64512, 64512));
    let mut ebgp = Bgpd::start("drain-ebgp", &receiver(96, 65096, 64512));
    a.wait_for(t, "both sessions", |d| d.established(&["ibgp", "ebgp"]));
    ibgp.wait_for(t, "the route over iBGP", |d| {
        route(d).is_some_and(|r| r.local_pref == Some(100) && !drained(&r))
    });
    ebgp.wait_for(t, "the route over eBGP", |d| {
        route(d).is_some_and(|r| !drained(&r))
    });

    // One neighbor at a time, staying up: only it sees the community, with LOCAL_PREF 0
    // on iBGP; the eBGP receiver sets LOCAL_PREF 0 itself (RFC 8326 section 4.2).
    let (code, out, err) = bgpctl(
        &a,
        &[
            "neighbor",
            "ibgp",
            "drain",
            "--no-shutdown",
            "--settle",
            "0",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("drained: ibgp 127.0.0.95"), "{out}");
    assert!(out.contains("still up"), "{out}");
    ibgp.wait_for(t, "the drained route", |d| {
        route(d).is_some_and(|r| r.local_pref == Some(0) && drained(&r))
    });
    assert!(route(&ebgp).is_some_and(|r| !drained(&r)));
    let (code, out, err) = bgpctl(
        &a,
        &[
            "neighbor",
            "ebgp",
            "drain",
            "--no-shutdown",
            "--settle",
            "0",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    ebgp.wait_for(t, "the drained route, honoured", |d| {
        route(d).is_some_and(|r| r.local_pref == Some(0) && drained(&r))
    });
    // Section 4.1: what we learn over the drained session loses LOCAL_PREF as well (asked
    // for again with a route refresh).
    let from_ebgp = |d: &Bgpd| d.rib().into_iter().find(|r| r.prefix == "203.0.113.96/32");
    a.wait_for(t, "the drained session's route at LOCAL_PREF 0", |d| {
        from_ebgp(d).is_some_and(|r| r.local_pref == Some(0))
    });
    assert!(a.established(&["ibgp", "ebgp"]));

    // Undrained: advertised normally again.
    for n in ["ibgp", "ebgp"] {
        let (code, out, err) = bgpctl(&a, &["neighbor", n, "undrain"]);
        assert_eq!(code, 0, "{out}{err}");
    }
    ibgp.wait_for(t, "the route back to normal", |d| {
        route(d).is_some_and(|r| r.local_pref == Some(100) && !drained(&r))
    });
    ebgp.wait_for(t, "the route back to normal", |d| {
        route(d).is_some_and(|r| r.local_pref != Some(0) && !drained(&r))
    });
    a.wait_for(t, "the learned route back to normal", |d| {
        from_ebgp(d).is_some_and(|r| r.local_pref != Some(0))
    });

    // The whole router: every session is drained, then bgpd shuts down.
    let (code, out, err) = bgpctl(&a, &["--json", "drain", "--settle", "1"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["timed_out"], false, "{out}");
    assert_eq!(v["shut_down"], true, "{out}");
    let delivered: Vec<&str> = v["delivered"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert_eq!(delivered, ["ebgp 127.0.0.96", "ibgp 127.0.0.95"], "{out}");
    assert!(err.contains("letting the peers settle"), "{err}");
    ebgp.wait_for(t, "the route withdrawn", |d| route(d).is_none());
    ibgp.wait_for(t, "the route withdrawn", |d| route(d).is_none());
    drop((ibgp, ebgp));
}
