//! The reload diff: which sessions a change resets, which it only re-filters, and what
//! `bgpd --diff` prints.

#![allow(clippy::unwrap_used)] // test code

use config::{diff, Config};

const BASE: &str = r#"
[global]
asn = 64512
router_id = "192.0.2.1"

[kernel]
table = 254

[[originate]]
prefix = "198.18.0.0/16"
require_more_specific = true

[[neighbor]]
name = "vbr"
address = "203.0.113.2"
remote_as = 45104
password = "old-key"
hold_time = 9
import = "from-cloud"
export = "to-cloud"
max_prefixes = 1000

[[neighbor]]
name = "calico"
range = "192.0.2.0/24"
remote_as = 64512
route_reflector_client = true
hold_time = 240

[policy.to-cloud]
[[policy.to-cloud.term]]
prefixes = ["198.18.0.0/16"]
action = "accept"

[policy.from-cloud]
[[policy.from-cloud.term]]
prefixes = ["198.19.0.0/16{16,24}"]
action = "accept"
"#;

fn load(text: &str) -> Config {
    Config::from_str(text, "bgpd.toml").unwrap().0
}

/// The diff from `BASE` to `BASE` with `from` replaced by `to`.
fn diff_after(from: &str, to: &str) -> config::ConfigDiff {
    assert!(BASE.contains(from), "{from}");
    diff(&load(BASE), &load(&BASE.replacen(from, to, 1)))
}

#[test]
fn identical_configs_change_nothing() {
    let d = diff(&load(BASE), &load(BASE));
    assert!(d.is_empty());
    assert_eq!(d.to_string(), "no changes\n");
}

#[test]
fn password_change_resets_only_that_session() {
    let d = diff_after("old-key", "new-key");
    assert_eq!(d.reset, ["vbr"]);
    assert_eq!(
        d.to_string(),
        "neighbor vbr: session resets (password)\nsessions reset: vbr\n"
    );
    assert!(!format!("{d:?}").contains("new-key"));
}

#[test]
fn capability_and_timer_changes_reset() {
    let d = diff_after(
        "hold_time = 240",
        "hold_time = 90\nadd_path = { ipv4-unicast = \"both\" }",
    );
    assert_eq!(
        d.to_string(),
        "neighbor calico: session resets (hold_time, keepalive, add_path)\nsessions reset: calico\n"
    );
    let d = diff_after("remote_as = 45104", "remote_as = 45105");
    assert_eq!(d.reset, ["vbr"]);
    let d = diff_after("range = \"192.0.2.0/24\"", "range = \"192.0.2.0/25\"");
    assert_eq!(d.neighbor("calico").unwrap().reset, ["range"]);
}

#[test]
fn link_local_next_hop_change_resets_that_session() {
    let d = diff_after(
        "hold_time = 9",
        "hold_time = 9\nlink_local_next_hop = false",
    );
    assert_eq!(
        d.to_string(),
        "neighbor vbr: session resets (link_local_next_hop)\nsessions reset: vbr\n"
    );
    assert!(load(BASE).neighbors.iter().all(|n| n.link_local_next_hop));
}

#[test]
fn policy_contents_re_export_without_reset() {
    let d = diff_after(
        "prefixes = [\"198.18.0.0/16\"]",
        "prefixes = [\"198.18.0.0/15\"]",
    );
    assert!(d.reset.is_empty());
    assert_eq!(
        d.to_string(),
        "policy `to-cloud` changed\n\
         neighbor vbr: re-export (export policy `to-cloud` changed)\n\
         sessions reset: none\n"
    );
    let d = diff_after("{16,24}", "{16,28}");
    assert_eq!(
        d.neighbor("vbr").unwrap().reimport,
        ["import policy `from-cloud` changed"]
    );
}

#[test]
fn policy_name_change_re_imports() {
    let d = diff_after("import = \"from-cloud\"", "import = \"to-cloud\"");
    assert_eq!(
        d.to_string(),
        "neighbor vbr: re-import (import policy `from-cloud` -> `to-cloud`)\n\
         sessions reset: none\n"
    );
}

#[test]
fn soft_neighbor_settings_are_applied_in_place() {
    let d = diff_after(
        "max_prefixes = 1000",
        "max_prefixes = 2000\ndescription = \"the VBR\"\nnext_hop_self = true\nmax_prefixes_out = 100",
    );
    assert_eq!(
        d.to_string(),
        "neighbor vbr: re-export (next_hop_self, max_prefixes_out); applied in place \
         (max_prefixes, description)\nsessions reset: none\n"
    );
}

#[test]
fn route_reflector_client_change_re_exports_everywhere_without_reset() {
    let d = diff_after(
        "route_reflector_client = true",
        "route_reflector_client = false",
    );
    assert!(d.reset.is_empty());
    assert_eq!(
        d.to_string(),
        "re-export to every neighbor: route_reflector_client of `calico` changed\n\
         neighbor calico: re-export (route_reflector_client)\n\
         sessions reset: none\n"
    );
}

#[test]
fn asn_or_router_id_change_resets_everything() {
    let new = BASE.replacen("asn = 64512", "asn = 64513", 1).replacen(
        "remote_as = 64512",
        "remote_as = 64513",
        1,
    );
    let d = diff(&load(BASE), &load(&new));
    assert_eq!(d.reset, ["vbr", "calico"]);
    assert!(d
        .to_string()
        .starts_with("global: asn 64512 -> 64513 (every session resets)\n"));
    assert!(d.to_string().ends_with("sessions reset: vbr, calico\n"));
    let d = diff_after("router_id = \"192.0.2.1\"", "router_id = \"192.0.2.2\"");
    assert_eq!(
        d.to_string(),
        "global: router_id 192.0.2.1 -> 192.0.2.2 (every session resets)\n\
         re-export to every neighbor: cluster_id 192.0.2.1 -> 192.0.2.2\n\
         sessions reset: vbr, calico\n"
    );
}

#[test]
fn neighbors_added_removed_and_disabled() {
    let extra = "\n[[neighbor]]\nname = \"rr2\"\naddress = \"198.51.100.2\"\nremote_as = 64512\n";
    let d = diff(&load(BASE), &load(&format!("{BASE}{extra}")));
    assert_eq!(
        d.to_string(),
        "neighbor rr2: added (session starts)\nsessions reset: none\n"
    );
    let d = diff(&load(&format!("{BASE}{extra}")), &load(BASE));
    assert_eq!(
        d.to_string(),
        "neighbor rr2: removed (session closes)\nsessions reset: none\n"
    );
    let d = diff_after("hold_time = 9", "hold_time = 30\nenabled = false");
    assert!(
        d.reset.is_empty(),
        "a disabled session is stopped, not reset"
    );
    assert_eq!(
        d.to_string(),
        "neighbor vbr: disabled (session stops); session resets (hold_time, keepalive)\n\
         sessions reset: none\n"
    );
}

#[test]
fn global_soft_changes() {
    let d = diff_after("table = 254", "table = 100");
    assert_eq!(
        d.to_string(),
        "global: kernel settings changed\nsessions reset: none\n"
    );
    let d = diff_after("198.18.0.0/16\"\nrequire", "198.18.0.0/15\"\nrequire");
    assert_eq!(
        d.to_string(),
        "global: originate 198.18.0.0/16 removed\nglobal: originate 198.18.0.0/15 added\n\
         sessions reset: none\n"
    );
}

#[test]
fn bfd_change_is_applied_without_reset() {
    let on = diff_after("max_prefixes = 1000", "max_prefixes = 1000\nbfd = true");
    assert_eq!(
        on.to_string(),
        "neighbor vbr: applied in place (bfd)\nsessions reset: none\n"
    );
    let faster = diff(
        &load(&BASE.replacen("max_prefixes = 1000", "bfd = true", 1)),
        &load(&BASE.replacen(
            "max_prefixes = 1000",
            "bfd = { min_rx = 100, min_tx = 100, multiplier = 5 }",
            1,
        )),
    );
    assert_eq!(
        faster.to_string(),
        "neighbor vbr: applied in place (bfd)\nsessions reset: none\n"
    );
    let c = load(&BASE.replacen("max_prefixes = 1000", "bfd = { min_tx = 200 }", 1));
    let bfd = c.neighbor("vbr").unwrap().bfd.unwrap();
    assert_eq!(
        (
            bfd.min_rx.as_millis(),
            bfd.min_tx.as_millis(),
            bfd.multiplier
        ),
        (300, 200, 3)
    );
    let off = load(&BASE.replacen("max_prefixes = 1000", "bfd = false", 1));
    assert_eq!(off.neighbor("vbr").unwrap().bfd, None);
    let auth = load(&BASE.replacen(
        "max_prefixes = 1000",
        "bfd = { auth = \"meticulous-keyed-sha1\", key_id = 7, password = \"bfd-key\" }",
        1,
    ));
    let a = auth.neighbor("vbr").unwrap().bfd.unwrap().auth.unwrap();
    assert_eq!((a.meticulous, a.key_id), (true, 7));
    assert_eq!(&a.padded_key()[..8], b"bfd-key\0");
    assert!(
        !format!("{a:?}").contains("bfd-key"),
        "the key is never shown"
    );
}
