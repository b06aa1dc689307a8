//! One test per error class: the exact `FILE:LINE:COLUMN: message` the operator sees.
//! Line 1 to 3 of most inputs is the `[global]` table from `GLOBAL`.

#![allow(clippy::panic, clippy::unwrap_used)] // test code

use config::Config;

const GLOBAL: &str = "[global]\nasn = 64512\nrouter_id = \"192.0.2.1\"\n";

/// Every diagnostic of a rejected input, as displayed.
fn errors(text: &str) -> Vec<String> {
    match Config::from_str(text, "bgpd.toml") {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(diags) => diags.iter().map(ToString::to_string).collect(),
    }
}

/// The warnings of an accepted input, as displayed.
fn warnings(text: &str) -> Vec<String> {
    match Config::from_str(text, "bgpd.toml") {
        Ok((_, w)) => w.iter().map(ToString::to_string).collect(),
        Err(diags) => panic!(
            "rejected:\n{}",
            diags.iter().map(|d| format!("{d}\n")).collect::<String>()
        ),
    }
}

/// `GLOBAL` followed by `rest`.
fn with_global(rest: &str) -> String {
    format!("{GLOBAL}{rest}")
}

#[test]
fn syntax_errors_all_reported() {
    let text = "[global]\nasn = 64512\nrouter_id = \"192.0.2.1\n[[neighbor]]\nname = vbr\n";
    assert_eq!(
        errors(text),
        [
            "bgpd.toml:3:23: invalid basic string, expected `\"`",
            "bgpd.toml:5:8: string values must be quoted, expected literal string",
        ]
    );
}

#[test]
fn duplicate_key() {
    assert_eq!(
        errors(&with_global(
            "[control]\nsocket = \"/a\"\nsocket = \"/b\"\n"
        )),
        ["bgpd.toml:6:1: duplicate key `socket`"]
    );
}

#[test]
fn unknown_table() {
    assert_eq!(
        errors(&with_global("[bfd]\n")),
        [
            "bgpd.toml:4:2: unknown table `bfd`, expected one of `global`, `control`, `metrics`, \
          `kernel`, `originate`, `bmp`, `neighbor`, `policy`"
        ]
    );
}

#[test]
fn unknown_key() {
    assert_eq!(
        errors(&with_global(
            "[metrics]\nlisten = \"127.0.0.1:9179\"\npath = \"/metrics\"\n"
        )),
        ["bgpd.toml:6:1: unknown key `path`, expected `enabled` or `listen`"]
    );
}

#[test]
fn wrong_type() {
    assert_eq!(
        errors("[global]\nasn = \"64512\"\nrouter_id = \"192.0.2.1\"\n"),
        ["bgpd.toml:2:7: `asn`: invalid type: string \"64512\", expected an integer"]
    );
}

#[test]
fn missing_key_and_missing_global() {
    assert_eq!(
        errors("[[neighbor]]\nname = \"a\"\naddress = \"192.0.2.2\"\n"),
        [
            "bgpd.toml:1:1: missing key `remote_as`",
            "bgpd.toml:1:1: missing table `[global]` (it needs `asn` and `router_id`)",
        ]
    );
}

#[test]
fn asn_range_and_as_trans() {
    assert_eq!(
        errors("[global]\nasn = 0\nrouter_id = \"192.0.2.1\"\n"),
        ["bgpd.toml:2:7: `asn` must be an AS number in 1..=4294967295, not 0"]
    );
    assert_eq!(
        errors("[global]\nasn = 4294967296\nrouter_id = \"192.0.2.1\"\n"),
        ["bgpd.toml:2:7: `asn` must be an AS number in 1..=4294967295, not 4294967296"]
    );
    assert_eq!(
        warnings("[global]\nasn = 23456\nrouter_id = \"192.0.2.1\"\n"),
        [
            "bgpd.toml:2:7: warning: `asn` is 23456, AS_TRANS (RFC 6793), which stands in for \
          4-octet AS numbers and belongs to no network"
        ]
    );
}

#[test]
fn router_id_and_cluster_id() {
    assert_eq!(
        errors("[global]\nasn = 64512\nrouter_id = \"0.0.0.0\"\ncluster_id = \"2001:db8::1\"\n"),
        [
            "bgpd.toml:3:13: `router_id` must be an IPv4 address other than 0.0.0.0, not `0.0.0.0`",
            "bgpd.toml:4:14: `cluster_id` must be an IPv4 address other than 0.0.0.0, not \
             `2001:db8::1`",
        ]
    );
}

#[test]
fn listen_addresses() {
    let text = "[global]\nasn = 64512\nrouter_id = \"192.0.2.1\"\n\
                listen = [\"192.0.2.1\", \"192.0.2.1:179\", \"localhost:179\"]\n";
    assert_eq!(
        errors(text),
        [
            "bgpd.toml:4:24: `192.0.2.1:179` is listed twice in `listen`",
            "bgpd.toml:4:41: `listen` entries must be ADDRESS:PORT or ADDRESS, not `localhost:179`",
        ]
    );
}

#[test]
fn timers() {
    let text = with_global(
        "[[neighbor]]\nname = \"a\"\naddress = \"192.0.2.2\"\nremote_as = 64512\n\
         hold_time = 2\n\
         [[neighbor]]\nname = \"b\"\naddress = \"192.0.2.3\"\nremote_as = 64512\n\
         hold_time = 9\nkeepalive = 9\n\
         [[neighbor]]\nname = \"c\"\naddress = \"192.0.2.4\"\nremote_as = 64512\n\
         hold_time = 0\nkeepalive = 30\nconnect_retry = 0\n",
    );
    assert_eq!(
        errors(&text),
        [
            "bgpd.toml:8:13: `hold_time` must be 0 or 3..=65535 seconds, not 2",
            "bgpd.toml:14:13: `keepalive` must be in 1..=8, not 9",
            "bgpd.toml:20:13: `keepalive` must be 0 when `hold_time` is 0, not 30",
            "bgpd.toml:21:17: `connect_retry` must be in 1..=65535, not 0",
        ]
    );
}

#[test]
fn address_xor_range() {
    let text = with_global(
        "[[neighbor]]\nname = \"both\"\naddress = \"192.0.2.2\"\nrange = \"192.0.2.0/24\"\n\
         remote_as = 64512\n\
         [[neighbor]]\nname = \"neither\"\nremote_as = 64512\n",
    );
    assert_eq!(
        errors(&text),
        [
            "bgpd.toml:7:9: a neighbor has `address` or `range`, not both",
            "bgpd.toml:9:1: neighbor `neither` needs `address` or `range`",
        ]
    );
}

#[test]
fn malformed_address_and_range() {
    let text = with_global(
        "[[neighbor]]\nname = \"a\"\naddress = \"192.0.2.0/24\"\nremote_as = 64512\n\
         [[neighbor]]\nname = \"b\"\nrange = \"192.0.2.1/24\"\nremote_as = 64512\n",
    );
    assert_eq!(
        errors(&text),
        [
            "bgpd.toml:6:11: `address` must be an IP address, not `192.0.2.0/24`; for a prefix \
             of dynamic neighbors use `range`",
            "bgpd.toml:10:9: prefix `192.0.2.1/24` has host bits set; did you mean `192.0.2.0/24`?",
        ]
    );
}

#[test]
fn duplicate_neighbor_name_and_address() {
    let text = with_global(
        "[[neighbor]]\nname = \"a\"\naddress = \"192.0.2.2\"\nremote_as = 64512\n\
         [[neighbor]]\nname = \"a\"\naddress = \"192.0.2.3\"\nremote_as = 64512\n\
         [[neighbor]]\nname = \"c\"\naddress = \"192.0.2.2\"\nremote_as = 64512\n",
    );
    assert_eq!(
        errors(&text),
        [
            "bgpd.toml:9:8: neighbor `a` is already defined at line 5",
            "bgpd.toml:14:11: address 192.0.2.2 is already used by neighbor `a` (line 6)",
        ]
    );
}

#[test]
fn overlapping_ranges_and_address_inside_range() {
    let text = with_global(
        "[[neighbor]]\nname = \"nodes\"\nrange = \"192.0.2.0/24\"\nremote_as = 64512\n\
         [[neighbor]]\nname = \"half\"\nrange = \"192.0.2.128/25\"\nremote_as = 64512\n",
    );
    assert_eq!(
        errors(&text),
        [
            "bgpd.toml:10:9: range 192.0.2.128/25 overlaps range 192.0.2.0/24 of neighbor `nodes` \
          (line 6)"
        ]
    );
    let text = with_global(
        "[[neighbor]]\nname = \"nodes\"\nrange = \"192.0.2.0/24\"\nremote_as = 64512\n\
         [[neighbor]]\nname = \"rr2\"\naddress = \"192.0.2.11\"\nremote_as = 64512\n",
    );
    assert_eq!(
        warnings(&text),
        [
            "bgpd.toml:10:11: warning: address 192.0.2.11 of neighbor `rr2` is inside range \
          192.0.2.0/24 of neighbor `nodes`; the fixed neighbor takes precedence for that address"
        ]
    );
}

#[test]
fn unknown_policy() {
    let text = with_global(
        "[[neighbor]]\nname = \"a\"\naddress = \"192.0.2.2\"\nremote_as = 64512\n\
         import = \"from-nodes\"\n\
         [policy.to-nodes]\ndefault = \"accept\"\n\
         [kernel]\nexport = \"to-kernel\"\n",
    );
    assert_eq!(
        errors(&text),
        [
            "bgpd.toml:8:10: unknown policy `from-nodes` (defined policies: `to-nodes`)",
            "bgpd.toml:9:9: warning: policy `to-nodes` is not used by any neighbor or by `[kernel]`",
            "bgpd.toml:12:10: unknown policy `to-kernel` (defined policies: `to-nodes`)",
        ]
    );
}

#[test]
fn malformed_prefix_patterns() {
    let text = with_global(
        "[[neighbor]]\nname = \"a\"\naddress = \"192.0.2.2\"\nremote_as = 64512\n\
         import = \"p\"\n\
         [policy.p]\n[[policy.p.term]]\n\
         prefixes = [\"10.0.0.0/8{24,8}\", \"10.1.0.0/8+\", \"10.0.0.0\", \"10.0.0.0/8{8,33}\"]\n\
         action = \"accept\"\n",
    );
    assert_eq!(
        errors(&text),
        [
            "bgpd.toml:11:13: length range `{24,8}` is invalid: expected {LOW,HIGH} with \
             LOW <= HIGH <= 32",
            "bgpd.toml:11:33: prefix `10.1.0.0/8` has host bits set; did you mean `10.0.0.0/8`?",
            "bgpd.toml:11:48: `10.0.0.0` is not a prefix (expected ADDRESS/LENGTH, e.g. 10.0.0.0/8)",
            "bgpd.toml:11:60: length range `{8,33}` is invalid: expected {LOW,HIGH} with \
             LOW <= HIGH <= 32",
        ]
    );
}

#[test]
fn policy_values() {
    let text = with_global(
        "[[neighbor]]\nname = \"a\"\naddress = \"192.0.2.2\"\nremote_as = 64512\n\
         import = \"p\"\n\
         [policy.p]\ndefault = \"drop\"\n[[policy.p.term]]\n\
         communities = [\"65536:1\"]\n\
         large_communities = [\"1:2\"]\n\
         neighbor = [\"ghost\"]\n\
         as_path = { min_length = 5, max_length = 2 }\n\
         action = \"deny\"\n\
         set = { med = -1, as_path_prepend = { count = 17 } }\n\
         [[policy.p.term]]\nprefixes = []\naction = \"accept\"\n",
    );
    assert_eq!(
        errors(&text),
        [
            "bgpd.toml:10:11: `default` must be `accept` or `reject`, not `drop`",
            "bgpd.toml:12:16: `65536:1` is not a community: expected ASN:VALUE with both parts in \
             0..=65535, or a well-known name such as `no-export`",
            "bgpd.toml:13:22: `1:2` is not a large community: expected GLOBAL:LOCAL1:LOCAL2 with \
             each part in 0..=4294967295",
            "bgpd.toml:14:13: unknown neighbor `ghost`",
            "bgpd.toml:15:42: `max_length` 2 is less than `min_length` 5",
            "bgpd.toml:16:10: `action` must be `accept`, `reject` or `next`, not `deny`",
            "bgpd.toml:17:15: `med` must be in 0..=4294967295, not -1",
            "bgpd.toml:17:47: `count` must be in 1..=16, not 17",
            "bgpd.toml:18:1: `prefixes` must not be empty; leave it out for no condition",
        ]
    );
}

#[test]
fn policy_warnings() {
    let text = with_global(
        "[[neighbor]]\nname = \"a\"\naddress = \"192.0.2.2\"\nremote_as = 64512\n\
         export = \"p\"\n\
         [policy.p]\n\
         [[policy.p.term]]\naction = \"reject\"\nset = { local_pref = 1 }\n\
         [[policy.p.term]]\nprefixes = [\"10.0.0.0/8\"]\naction = \"accept\"\n",
    );
    assert_eq!(
        warnings(&text),
        [
            "bgpd.toml:12:7: warning: `set` has no effect in a term whose action is `reject`",
            "bgpd.toml:13:1: warning: this term is never reached: the term at line 10 applies to \
             every route and ends evaluation",
        ]
    );
}

#[test]
fn password_and_password_file_exclusive() {
    let text = with_global(
        "[[neighbor]]\nname = \"a\"\naddress = \"192.0.2.2\"\nremote_as = 64512\n\
         password = \"x\"\npassword_file = \"a.key\"\n",
    );
    assert_eq!(
        errors(&text),
        ["bgpd.toml:9:17: `password` and `password_file` are mutually exclusive"]
    );
}

#[test]
fn password_too_long() {
    let text = with_global(&format!(
        "[[neighbor]]\nname = \"a\"\naddress = \"192.0.2.2\"\nremote_as = 64512\n\
         password = \"{}\"\n",
        "k".repeat(81)
    ));
    assert_eq!(
        errors(&text),
        ["bgpd.toml:8:12: `password` must be 1..=80 bytes long (TCP-MD5 key), not 81"]
    );
}

#[test]
fn unreadable_password_file() {
    let text = with_global(
        "[[neighbor]]\nname = \"a\"\naddress = \"192.0.2.2\"\nremote_as = 64512\n\
         password_file = \"/nonexistent/bgpd/a.key\"\n",
    );
    assert_eq!(
        errors(&text),
        [
            "bgpd.toml:8:17: cannot read password file `/nonexistent/bgpd/a.key`: No such file or \
          directory (os error 2)"
        ]
    );
}

#[cfg(unix)]
#[test]
fn world_readable_password_file_warns_and_key_is_read() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("bgpd-config-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("a.key");
    std::fs::write(&key, "s3cret\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let text = with_global(
        "[[neighbor]]\nname = \"a\"\naddress = \"192.0.2.2\"\nremote_as = 64512\n\
         password_file = \"a.key\"\n",
    );
    let file = dir.join("bgpd.toml");
    let file = file.to_str().unwrap();
    let result = Config::from_str(&text, file);
    std::fs::remove_dir_all(&dir).unwrap();
    let (config, warnings) = result.unwrap();
    let shown: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [format!(
            "{file}:8:17: warning: password file `{}` is readable by everyone (mode 0644); run \
             `chmod o-r` on it",
            key.display()
        )]
    );
    let secret = config.neighbor("a").unwrap().password.as_ref().unwrap();
    assert_eq!(
        secret.expose(),
        b"s3cret",
        "one trailing newline is stripped"
    );
    assert!(!format!("{config:?}").contains("s3cret"));
}

#[test]
fn ebgp_without_policy_warns_rfc8212() {
    let text =
        with_global("[[neighbor]]\nname = \"vbr\"\naddress = \"203.0.113.2\"\nremote_as = 45104\n");
    assert_eq!(
        warnings(&text),
        [
            "bgpd.toml:5:8: warning: eBGP neighbor `vbr` has no `import` policy, so it will \
             accept no routes (RFC 8212)",
            "bgpd.toml:5:8: warning: eBGP neighbor `vbr` has no `export` policy, so it will send \
             no routes (RFC 8212)",
        ]
    );
}

#[test]
fn originate_prefixes() {
    let text = with_global(
        "[[originate]]\nprefix = \"10.100.0.0/16\"\n\
         [[originate]]\nprefix = \"10.100.0.0/16\"\n\
         [[originate]]\nprefix = \"10.100.1.0/16\"\n",
    );
    assert_eq!(
        errors(&text),
        [
            "bgpd.toml:7:10: prefix `10.100.0.0/16` is already originated at line 5",
            "bgpd.toml:9:10: prefix `10.100.1.0/16` has host bits set; did you mean `10.100.0.0/16`?",
        ]
    );
}

#[test]
fn route_reflector_client_needs_ibgp_and_range_is_passive() {
    let text = with_global(
        "[[neighbor]]\nname = \"vbr\"\naddress = \"203.0.113.2\"\nremote_as = 45104\n\
         route_reflector_client = true\nimport = \"p\"\nexport = \"p\"\n\
         [[neighbor]]\nname = \"nodes\"\nrange = \"192.0.2.0/24\"\nremote_as = 64512\n\
         passive = false\n\
         [policy.p]\n",
    );
    assert_eq!(
        errors(&text),
        [
            "bgpd.toml:8:26: `route_reflector_client` needs an iBGP neighbor (remote_as = the \
             global asn 64512), not AS 45104",
            "bgpd.toml:15:11: a `range` neighbor only accepts connections; remove `passive = false`",
        ]
    );
}

#[test]
fn transport_options() {
    let text = with_global(
        "[[neighbor]]\nname = \"a\"\naddress = \"192.0.2.2\"\nremote_as = 64512\n\
         ttl_security = 255\nlocal_address = \"2001:db8::1\"\n\
         families = [\"ipv4-unicast\", \"ipv4-unicast\", \"l2vpn-evpn\"]\n\
         add_path = { ipv6-unicast = \"both\", ipv4-unicast = \"all\" }\n\
         graceful_restart = { restart_time = 4096 }\n",
    );
    assert_eq!(
        errors(&text),
        [
            "bgpd.toml:8:16: `ttl_security` must be in 1..=254, not 255",
            "bgpd.toml:9:17: `local_address` 2001:db8::1 is not of the neighbor's address family",
            "bgpd.toml:10:29: `ipv4-unicast` is listed twice in `families`",
            "bgpd.toml:10:45: unknown address family `l2vpn-evpn`, expected `ipv4-unicast` or \
             `ipv6-unicast`",
            "bgpd.toml:11:52: `add_path` must be `send`, `receive` or `both`, not `all`",
            "bgpd.toml:12:37: `restart_time` must be in 0..=4095, not 4096",
        ]
    );
}

#[test]
fn add_path_family_not_negotiated() {
    let text = with_global(
        "[[neighbor]]\nname = \"a\"\naddress = \"192.0.2.2\"\nremote_as = 64512\n\
         add_path = { ipv6-unicast = \"both\" }\n",
    );
    assert_eq!(
        errors(&text),
        ["bgpd.toml:8:14: ADD-PATH for `ipv6-unicast`, which is not in the neighbor's `families`"]
    );
}

#[test]
fn prefix_limits() {
    let text = with_global(
        "[[neighbor]]\nname = \"a\"\naddress = \"192.0.2.2\"\nremote_as = 64512\n\
         max_prefixes_warning = 80\nmax_prefixes_restart = 30\n\
         max_prefixes_out = 0\nmax_prefixes_out_warning = 101\n",
    );
    assert_eq!(
        errors(&text),
        [
            "bgpd.toml:8:24: `max_prefixes_warning` needs `max_prefixes`",
            "bgpd.toml:9:24: `max_prefixes_restart` needs `max_prefixes`",
            "bgpd.toml:10:20: `max_prefixes_out` must be in 1..=4294967295, not 0",
            "bgpd.toml:11:28: `max_prefixes_out_warning` must be in 1..=100, not 101",
        ]
    );
}

#[test]
fn kernel_table() {
    assert_eq!(
        errors(&with_global("[kernel]\ntable = 255\n")),
        ["bgpd.toml:5:9: `table` 255 is the kernel's local table; bgpd must not write to it"]
    );
    assert_eq!(
        errors(&with_global("[kernel]\ntable = 0\n")),
        ["bgpd.toml:5:9: `table` must be in 1..=4294967295, not 0"]
    );
}

#[test]
fn names() {
    let text = with_global(
        "[[neighbor]]\nname = \"192.0.2.2\"\naddress = \"192.0.2.2\"\nremote_as = 64512\n\
         [[neighbor]]\nname = \"the vbr\"\naddress = \"192.0.2.3\"\nremote_as = 64512\n",
    );
    assert_eq!(
        errors(&text),
        [
            "bgpd.toml:5:8: neighbor name `192.0.2.2` must not be an IP address",
            "bgpd.toml:9:8: neighbor name `the vbr` must be 1..=64 characters of letters, digits, \
             `-`, `_` and `.`",
        ]
    );
}

#[test]
fn every_error_at_once_across_and_within_pieces() {
    let text = with_global(
        "[[neighbor]]\nname = \"a\"\naddress = \"192.0.2.2\"\nremote_as = 0\nhostname = \"x\"\n\
         hold_time = 1\n\
         [[neighbor]]\nname = \"b\"\naddress = \"192.0.2.3\"\nremote_as = 64512\nttl = 1\n",
    );
    assert_eq!(
        errors(&text),
        [
            "bgpd.toml:7:13: `remote_as` must be an AS number in 1..=4294967295, not 0",
            "bgpd.toml:8:1: unknown key `hostname`, expected one of `name`, `description`, \
             `enabled`, `address`, `range`, `remote_as`, `local_address`, `passive`, \
             `route_reflector_client`, `next_hop_self`, `link_local_next_hop`, `hold_time`, \
             `keepalive`, `connect_retry`, `password`, `password_file`, `ttl_security`, `import`, \
             `export`, `max_prefixes`, `max_prefixes_warning`, `max_prefixes_restart`, \
             `max_prefixes_out`, `max_prefixes_out_warning`, `families`, `add_path`, \
             `graceful_restart`, `bfd`, `calico`",
            "bgpd.toml:9:13: `hold_time` must be 0 or 3..=65535 seconds, not 1",
            "bgpd.toml:14:1: unknown key `ttl`, expected one of `name`, `description`, \
             `enabled`, `address`, `range`, `remote_as`, `local_address`, `passive`, \
             `route_reflector_client`, `next_hop_self`, `link_local_next_hop`, `hold_time`, \
             `keepalive`, `connect_retry`, `password`, `password_file`, `ttl_security`, `import`, \
             `export`, `max_prefixes`, `max_prefixes_warning`, `max_prefixes_restart`, \
             `max_prefixes_out`, `max_prefixes_out_warning`, `families`, `add_path`, \
             `graceful_restart`, `bfd`, `calico`",
        ]
    );
}

#[test]
fn load_reports_unreadable_and_non_utf8_files() {
    let missing = Config::load("/nonexistent/bgpd.toml").unwrap_err();
    assert_eq!(
        missing[0].to_string(),
        "/nonexistent/bgpd.toml:1:1: cannot read configuration: No such file or directory (os \
         error 2)"
    );
    let path = std::env::temp_dir().join(format!("bgpd-config-utf8-{}.toml", std::process::id()));
    std::fs::write(&path, b"[global]\nasn = 1 # \xff\n").unwrap();
    let result = Config::load(&path);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        result.unwrap_err()[0].to_string(),
        format!("{}:2:11: the file is not valid UTF-8", path.display())
    );
}

#[test]
fn each_term_is_read_on_its_own() {
    let text = with_global(
        "[policy.p]\ndefault = \"accept\"\n\
         [[policy.p.term]]\nprefix = [\"10.0.0.0/8\"]\naction = \"accept\"\n\
         [[policy.p.term]]\naction = \"accept\"\nset = { localpref = 1 }\n\
         [[policy.p.term]]\nprefixes = [\"10.0.0.0/8\"]\n",
    );
    assert_eq!(
        errors(&text),
        [
            "bgpd.toml:4:9: warning: policy `p` is not used by any neighbor or by `[kernel]`",
            "bgpd.toml:7:1: unknown key `prefix`, expected one of `name`, `prefixes`, \
             `communities`, `large_communities`, `as_path`, `neighbor`, `action`, `set`",
            "bgpd.toml:11:9: unknown key `localpref`, expected one of `local_pref`, `med`, \
             `communities_add`, `communities_remove`, `large_communities_add`, \
             `large_communities_remove`, `as_path_prepend`, `next_hop_self`",
            "bgpd.toml:12:1: missing key `action`",
        ]
    );
    assert_eq!(
        errors(&with_global("[policy.p]\nterm = 1\ndefaults = \"accept\"\n")),
        [
            "bgpd.toml:4:9: warning: policy `p` is not used by any neighbor or by `[kernel]`",
            "bgpd.toml:5:8: `term` must be an array of tables (`[[policy.p.term]]`), not an integer",
            "bgpd.toml:6:1: unknown key `defaults`, expected `default` or `term`",
        ]
    );
}

#[test]
fn passive_neighbors_without_listen_warn() {
    let text = "[global]\nasn = 64512\nrouter_id = \"192.0.2.1\"\nlisten = []\n\
                [[neighbor]]\nname = \"nodes\"\nrange = \"192.0.2.0/24\"\nremote_as = 64512\n";
    assert_eq!(
        warnings(text),
        [
            "bgpd.toml:7:9: warning: neighbor `nodes` only accepts connections, but `[global] \
          listen` is empty"
        ]
    );
}

#[test]
fn a_dropped_key_is_not_reported_as_missing_policy() {
    let text = with_global(
        "[[neighbor]]\nname = \"vbr\"\naddress = \"203.0.113.2\"\nremote_as = 45104\n\
         imports = \"p\"\nexport = \"p\"\n[policy.p]\n",
    );
    let errors = errors(&text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("bgpd.toml:8:1: unknown key `imports`, expected one of `name`,"),
        "{errors:?}"
    );
}

#[test]
fn bfd_settings() {
    let text = with_global(
        "[[neighbor]]\nname = \"a\"\naddress = \"192.0.2.2\"\nremote_as = 64512\n\
         bfd = { min_rx = 5, min_tx = 60001, multiplier = 0 }\n\
         [[neighbor]]\nname = \"b\"\nrange = \"192.0.2.128/25\"\nremote_as = 64512\n\
         bfd = true\n\
         [[neighbor]]\nname = \"c\"\naddress = \"192.0.2.3\"\nremote_as = 64512\n\
         bfd = 300\n\
         [[neighbor]]\nname = \"d\"\naddress = \"192.0.2.4\"\nremote_as = 64512\n\
         bfd = { echo = 1 }\n",
    );
    assert_eq!(
        errors(&text),
        [
            "bgpd.toml:8:18: `min_rx` must be in 10..=60000, not 5",
            "bgpd.toml:8:30: `min_tx` must be in 10..=60000, not 60001",
            "bgpd.toml:8:50: `multiplier` must be in 1..=255, not 0",
            "bgpd.toml:13:7: `bfd` needs a fixed `address`: a range's peers are not known \
             before they connect",
            "bgpd.toml:18:7: `bfd`: invalid type: integer `300`, expected `true`, `false` or a \
             table `{ min_rx, min_tx, multiplier, ... }`",
            "bgpd.toml:23:9: unknown key `echo`, expected one of `min_rx`, `min_tx`, `multiplier`, \
             `auth`, `key_id`, `password`",
        ]
    );
}

#[test]
fn bfd_authentication() {
    let neighbor = |n: u8, bfd: &str| {
        format!(
            "[[neighbor]]\nname = \"n{n}\"\naddress = \"192.0.2.{n}\"\nremote_as = 64512\nbfd = {bfd}\n"
        )
    };
    let text = with_global(
        &[
            neighbor(1, "{ auth = \"keyed-md5\", password = \"k\" }"),
            neighbor(2, "{ auth = \"keyed-sha1\" }"),
            neighbor(3, "{ password = \"k\" }"),
            neighbor(
                4,
                "{ auth = \"keyed-sha1\", password = \"123456789012345678901\" }",
            ),
            neighbor(
                5,
                "{ auth = \"keyed-sha1\", password = \"k\", key_id = 256 }",
            ),
            neighbor(
                6,
                "{ auth = \"meticulous-keyed-sha1\", password = \"k\", key_id = 7 }",
            ),
        ]
        .concat(),
    );
    assert_eq!(
        errors(&text),
        [
            "bgpd.toml:8:16: `auth` must be `keyed-sha1` or `meticulous-keyed-sha1`, not \
             `keyed-md5`",
            "bgpd.toml:13:16: `auth` needs a `password`",
            "bgpd.toml:18:20: `password` needs `auth = \"keyed-sha1\"` (or \
             `\"meticulous-keyed-sha1\"`)",
            "bgpd.toml:23:41: a BFD `password` is 1..=20 bytes",
            "bgpd.toml:28:55: `key_id` must be in 0..=255, not 256",
        ]
    );
}
