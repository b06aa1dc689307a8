//! Reload without collateral damage: a policy change reaches the peer as UPDATEs without a
//! reset, a session-level change resets only that session, a broken file is refused and
//! the running configuration kept, and `--dry-run` changes nothing. Needs root (port 179).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{daemon, eventually, neighbor, Bgpd};

fn hub(c_export: &str, c_hold: u16) -> String {
    format!(
        r#"
[global]
asn = 64512
router_id = "192.0.2.51"
listen = ["127.0.0.51:179"]
[control]
socket = "{{socket}}"
[metrics]
enabled = false
[[neighbor]]
name = "b"
address = "127.0.0.52"
local_address = "127.0.0.51"
remote_as = 64512
route_reflector_client = true
[[neighbor]]
name = "c"
address = "127.0.0.53"
local_address = "127.0.0.51"
remote_as = 64512
route_reflector_client = true
hold_time = {c_hold}
{c_export}
[policy.nothing]
default = "reject"
"#
    )
}

fn spoke(n: u8, block: &str) -> String {
    daemon(
        n,
        &(format!("[[originate]]\nprefix = \"{block}\"\n") + &neighbor("hub", 51, n, "")),
    )
}

fn flaps(d: &Bgpd, name: &str) -> u64 {
    d.ctl(&["show", "neighbor", name])[0]["flaps"]
        .as_u64()
        .unwrap_or(99)
}

fn reload(d: &Bgpd, args: &[&str]) -> (bool, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_bgpctl"))
        .arg("--socket")
        .arg(&d.socket)
        .arg("--json")
        .arg("reload")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        serde_json::from_slice(&out.stdout).unwrap_or_default(),
    )
}

#[test]
fn reload_resets_only_what_it_must() {
    let hub_d = Bgpd::start("reload-hub", &hub("", 90));
    let b = Bgpd::start("reload-b", &spoke(52, "198.18.52.0/24"));
    let c = Bgpd::start("reload-c", &spoke(53, "198.18.53.0/24"));
    let t = Duration::from_secs(15);
    let has = |d: &Bgpd, p: &str| d.rib().iter().any(|r| r.prefix == p);
    assert!(
        eventually(t, || has(&c, "198.18.52.0/24") && has(&b, "198.18.53.0/24")),
        "{}",
        hub_d.log()
    );

    let write = |text: String| hub_d.write_config(&text);

    // Dry run: the diff is reported, nothing changes.
    write(hub("export = \"nothing\"", 90));
    let (ok, v) = reload(&hub_d, &["--dry-run"]);
    assert!(ok, "{v}");
    assert_eq!(v["applied"], false);
    assert!(v["diff"].as_str().unwrap_or_default().contains('c'), "{v}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(has(&c, "198.18.52.0/24"));

    // A policy change: c loses b's block by UPDATE; neither session resets.
    let (ok, v) = reload(&hub_d, &[]);
    assert!(ok, "{v}");
    assert_eq!(v["applied"], true, "{v}");
    assert!(
        eventually(t, || !has(&c, "198.18.52.0/24")),
        "{}",
        hub_d.log()
    );
    assert!(has(&b, "198.18.53.0/24"), "b still gets c's block");
    assert_eq!((flaps(&hub_d, "b"), flaps(&hub_d, "c")), (0, 0));
    assert!(hub_d.established(&["b", "c"]));

    // A broken file is refused and the running configuration kept.
    write("[global]\nasn = \"x\"\n".to_owned());
    let (ok, v) = reload(&hub_d, &[]);
    assert!(!ok);
    assert_eq!(v["applied"], false);
    assert!(
        v["errors"][0].as_str().unwrap_or_default().contains(":2:"),
        "{v}"
    );
    assert!(hub_d.established(&["b", "c"]));

    // A session setting (hold time) resets c only; b's session stays up throughout.
    write(hub("export = \"nothing\"", 30));
    let (ok, v) = reload(&hub_d, &[]);
    assert!(ok, "{v}");
    assert!(
        eventually(t, || hub_d.established(&["c"])
            && hub_d.ctl(&["show", "neighbor", "c"])[0]["hold_time"] == 30),
        "{}",
        hub_d.log()
    );
    assert_eq!(flaps(&hub_d, "b"), 0);
    assert!(hub_d.established(&["b"]));
}
