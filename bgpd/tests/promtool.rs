//! The alert rules and the Grafana dashboard in `deploy/` against Prometheus' own tool and a
//! live bgpd: `promtool check rules` and the rules' unit tests (`promtool test rules`);
//! `promtool check metrics` on a real scrape; and every metric the rules and the dashboard
//! name is in that scrape (a renamed metric breaks the build, not the operator's alerts).
//!
//! `promtool` comes with Debian's `prometheus` package (`scripts/install-deps`). Without it
//! the tests say so and pass, except under CI (`CI` set), where they fail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Bgpd;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// Whether promtool runs here; panics under CI when it does not.
fn have_promtool() -> bool {
    let ok = Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is missing (Debian package prometheus)"
        );
        eprintln!("skipped: promtool is missing (Debian package prometheus)");
    }
    ok
}

fn promtool(args: &[&str], dir: &Path, stdin: Option<&str>) -> String {
    let mut child = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

/// The `bgp_...` metric names in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("bgp_") {
        let start = i + at;
        let before = start.checked_sub(1).map(|b| bytes[b]);
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        if !before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
            names.insert(text[start..end].to_owned());
        }
        i = end;
    }
    names
}

fn scrape(port: u16) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

#[test]
fn alert_rules_pass_promtool_and_their_unit_tests() {
    if !have_promtool() {
        return;
    }
    let dir = deploy().join("prometheus");
    let checked = promtool(&["check", "rules", "bgpd-alerts.yml"], &dir, None);
    assert!(checked.contains("SUCCESS"), "{checked}");
    promtool(&["test", "rules", "bgpd-alerts.test.yml"], &dir, None);
}

#[test]
fn a_live_scrape_passes_promtool_and_has_every_metric_deploy_uses() {
    if !have_promtool() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // One neighbor with every limit and BFD, and a BMP collector, so that every series
    // exists; neither the peer nor the collector answers, which is fine for the names.
    let config = format!(
        r#"
[global]
asn = 64512
router_id = "192.0.2.61"
listen = ["127.0.0.61:179"]
state_dir = "{{dir}}"
[control]
socket = "{{socket}}"
[metrics]
listen = "127.0.0.1:{port}"
[[bmp]]
address = "127.0.0.61:11019"

[[neighbor]]
name = "vbr"
address = "127.0.0.62"
local_address = "127.0.0.61"
remote_as = 45104
import = "all"
export = "all"
max_prefixes = 100
max_prefixes_out = 110
bfd = true

[policy.all]
default = "accept"
"#
    );
    let d = Bgpd::start("promtool", &config);
    // The registry is refreshed every 2 s.
    let mut body = String::new();
    for _ in 0..50 {
        body = scrape(port);
        if body.contains("bgp_bfd_session_up{")
            && body.contains("bgp_prefixes_received_limit{")
            && body.contains("bgp_bmp_resyncs_total{")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let lint = promtool(&["check", "metrics"], &deploy(), Some(&body));
    assert!(!lint.contains("error"), "{lint}");
    let scraped = metric_names(&body);
    let mut used = metric_names(
        &std::fs::read_to_string(deploy().join("prometheus/bgpd-alerts.yml")).unwrap(),
    );
    used.extend(metric_names(
        &std::fs::read_to_string(deploy().join("grafana/bgpd-dashboard.json")).unwrap(),
    ));
    let missing: Vec<&String> = used.iter().filter(|n| !scraped.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "deploy/ names metrics a live bgpd does not export: {missing:?}\n{body}\n{}",
        d.log()
    );
    // And the dashboard is a Grafana dashboard: JSON with panels that all have a query.
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(deploy().join("grafana/bgpd-dashboard.json")).unwrap(),
    )
    .unwrap();
    let panels = dash["panels"].as_array().unwrap();
    assert!(panels.len() >= 10);
    for p in panels {
        assert!(
            p["targets"].as_array().is_some_and(|t| !t.is_empty()),
            "{p}"
        );
    }
}
