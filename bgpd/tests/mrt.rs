//! `bgpctl dump rib` end to end: two daemons on loopback (127.0.0.90, iBGP AS 64512, and
//! 127.0.0.91, eBGP AS 65091), the dump read back by the real reader, Debian's `bgpdump -m`,
//! and compared path for path with `bgpctl --json show rib`. Needs root (port 179) and
//! `bgpdump` (scripts/install-deps); without bgpdump the test is skipped, except under CI.
//!
//! IPv6: loopback has one IPv6 address, so the session is IPv4; the IPv6 record comes from
//! an IPv6 prefix the dumping daemon originates itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{daemon, Bgpd};

/// One path as both sides describe it: prefix, peer address, AS path, next hop, origin.
type Row = (String, String, String, String, String);

fn a_config() -> String {
    daemon(
        90,
        r#"
[[originate]]
prefix = "198.51.100.0/24"
[[originate]]
prefix = "198.51.101.0/24"
[[originate]]
prefix = "2001:db8:90::/48"
[[neighbor]]
name = "b"
address = "127.0.0.91"
local_address = "127.0.0.90"
remote_as = 65091
import = "all"
export = "all"
[policy.all]
default = "accept"
"#,
    )
}

fn b_config() -> String {
    daemon(
        91,
        r#"
[[originate]]
prefix = "198.51.100.0/24"
[[originate]]
prefix = "203.0.113.0/25"
[[originate]]
prefix = "203.0.113.128/25"
[[originate]]
prefix = "10.91.0.0/16"
[[neighbor]]
name = "a"
address = "127.0.0.90"
local_address = "127.0.0.91"
remote_as = 64512
import = "all"
export = "all"
[policy.all]
default = "accept"
"#,
    )
    .replace("asn = 64512", "asn = 65091")
}

/// Whether bgpdump can run; under CI its absence fails the test.
fn have_bgpdump() -> bool {
    let found = Command::new("bgpdump").arg("-h").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "bgpdump is missing (scripts/install-deps installs it)"
        );
        eprintln!("SKIPPED: bgpdump is not installed (scripts/install-deps installs it)");
    }
    found
}

/// `bgpctl ARGS` run in `cwd`: (exit status, stdout, stderr).
fn bgpctl(d: &Bgpd, cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bgpctl"))
        .current_dir(cwd)
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

/// `bgpdump -m FILE`: every RIB entry as a row, sorted, and the raw text.
fn bgpdump(file: &Path) -> (Vec<Row>, String) {
    let out = Command::new("bgpdump")
        .arg("-m")
        .arg(file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "bgpdump failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rows: Vec<Row> = text
        .lines()
        .map(|line| {
            // TABLE_DUMP2|time|B|peer|peer_as|prefix|as_path|origin|next_hop|lp|med|...
            let f: Vec<&str> = line.split('|').collect();
            assert!(
                f.len() > 8 && f[0] == "TABLE_DUMP2" && f[2] == "B",
                "{line}"
            );
            (
                f[5].to_owned(),
                f[3].to_owned(),
                f[6].to_owned(),
                f[8].to_owned(),
                f[7].to_lowercase(),
            )
        })
        .collect();
    rows.sort();
    (rows, text)
}

/// `bgpctl --json show rib ARGS` as rows; `peers` maps neighbor names to addresses.
fn show_rib(d: &Bgpd, args: &[&str], peers: &BTreeMap<&str, &str>) -> Vec<Row> {
    let mut all = vec!["show", "rib"];
    all.extend_from_slice(args);
    let v = d.ctl(&all);
    let mut rows: Vec<Row> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let prefix = r["prefix"].as_str().unwrap().to_owned();
            let unspecified = if prefix.contains(':') {
                "::"
            } else {
                "0.0.0.0"
            };
            let neighbor = r["neighbor"].as_str().unwrap();
            (
                prefix,
                peers[neighbor].to_owned(),
                r["as_path"].as_str().unwrap().to_owned(),
                r["next_hop"].as_str().unwrap_or(unspecified).to_owned(),
                r["origin"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn dump_rib_reads_back_with_bgpdump() {
    if !have_bgpdump() {
        return;
    }
    let mut a = Bgpd::start("mrt-a", &a_config());
    let mut b = Bgpd::start("mrt-b", &b_config());
    a.wait_for(Duration::from_secs(30), "session a-b", |d| {
        d.established(&["b"])
    });
    b.wait_for(Duration::from_secs(30), "session b-a", |d| {
        d.established(&["a"])
    });
    a.wait_for(Duration::from_secs(30), "b's four prefixes", |d| {
        d.rib().iter().filter(|r| r.neighbor == "b").count() == 4
    });
    let peers = BTreeMap::from([("local", "192.0.2.90"), ("b", "127.0.0.91")]);

    // The Loc-RIB, FILE relative to bgpctl's working directory.
    let (code, out, err) = bgpctl(&a, &a.dir, &["dump", "rib", "rib.mrt"]);
    assert_eq!(code, 0, "{out}{err}");
    let file = a.dir.join("rib.mrt");
    assert!(
        out.contains(&format!("wrote 6 prefixes, 7 paths to {}", file.display())),
        "{out}"
    );
    let (dumped, text) = bgpdump(&file);
    println!("bgpdump -m rib.mrt:\n{text}");
    let shown = show_rib(&a, &[], &peers);
    assert_eq!(shown.len(), 7, "{shown:?}");
    assert_eq!(dumped, shown);
    assert!(dumped.iter().any(|r| r.0 == "2001:db8:90::/48"), "{text}");
    assert!(dumped.iter().any(|r| r.2 == "65091"), "{text}");

    // One neighbor's routes.
    let (code, out, err) = bgpctl(&a, &a.dir, &["dump", "rib", "b.mrt", "--neighbor", "b"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("wrote 4 prefixes, 4 paths"), "{out}");
    let (dumped, text) = bgpdump(&a.dir.join("b.mrt"));
    println!("bgpdump -m b.mrt:\n{text}");
    let shown = show_rib(&a, &["--neighbor", "b", "--in"], &peers);
    assert_eq!(shown.len(), 4, "{shown:?}");
    assert_eq!(dumped, shown);
    assert!(dumped.iter().all(|r| r.1 == "127.0.0.91"), "{text}");

    // Errors: an unknown neighbor, a directory that does not exist.
    let (code, _, err) = bgpctl(
        &a,
        &a.dir,
        &["dump", "rib", "x.mrt", "--neighbor", "nobody"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("no neighbor nobody"), "{err}");
    let (code, _, err) = bgpctl(&a, &a.dir, &["dump", "rib", "/nonexistent/dir/x.mrt"]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot write /nonexistent/dir/x.mrt"), "{err}");
    assert!(!a.dir.join("x.mrt").exists());
    // Not over the daemon's own files.
    for own in ["restart.json", "bfd.json", "bgpd.sock"] {
        let (code, _, err) = bgpctl(&a, &a.dir, &["dump", "rib", own]);
        assert_eq!(code, 1, "{own}");
        assert!(err.contains("one of bgpd's own files"), "{own}: {err}");
    }
}
