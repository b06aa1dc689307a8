//! Every file in `examples/` validates. Warnings are allowed only where the test says so.

#![allow(clippy::panic, clippy::unwrap_used)] // test code

use std::path::{Path, PathBuf};

use config::{Config, Diagnostic};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn load(name: &str) -> (Config, Vec<Diagnostic>) {
    let path = examples_dir().join(name);
    match Config::load(&path) {
        Ok(loaded) => loaded,
        Err(diags) => panic!(
            "{name} does not validate:\n{}",
            diags.iter().map(|d| format!("{d}\n")).collect::<String>()
        ),
    }
}

/// Git does not keep a file's group/other bits beyond 644, so a fresh checkout of
/// `examples/vbr.key` may be world-readable; that warning (and no other) is acceptable.
fn only_key_file_warnings(name: &str, warnings: &[Diagnostic]) {
    for w in warnings {
        assert!(
            w.message.contains("vbr.key` is readable by everyone"),
            "{name}: unexpected warning: {w}"
        );
    }
}

#[test]
fn every_example_is_tested() {
    let mut names: Vec<String> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "alibaba-hybrid.toml",
            "calico-route-reflector.toml",
            "lab.toml"
        ]
    );
}

#[test]
fn alibaba_hybrid() {
    let (c, warnings) = load("alibaba-hybrid.toml");
    only_key_file_warnings("alibaba-hybrid.toml", &warnings);
    assert_eq!(c.global.asn.get(), 64512);
    assert_eq!(c.global.cluster_id, c.global.router_id);
    let vbr = c.neighbor("vbr").unwrap();
    assert_eq!(vbr.remote_as.get(), 45104);
    assert!(vbr.password.is_some());
    assert_eq!(vbr.keepalive, 3);
    assert_eq!(vbr.max_prefixes_out.unwrap().warning_threshold(), 80);
    let calico = c.neighbor("calico").unwrap();
    assert!(calico.passive && calico.route_reflector_client);
    assert_eq!(calico.peer.to_string(), "192.168.0.0/24");
    assert_eq!(c.originate[0].prefix.to_string(), "10.100.0.0/16");
    // The seed's VPC and vSwitch routes pass `from-cloud`'s VPC term, the pod CIDR does not.
    let from_cloud = c.policy("from-cloud").unwrap();
    for vpc in ["10.0.0.0/8", "10.10.24.0/24", "10.10.25.0/24"] {
        let net = vpc.parse().unwrap();
        let first = from_cloud
            .terms
            .iter()
            .find(|t| t.matches.matches_prefix(&net))
            .unwrap();
        assert_eq!(first.name.as_deref(), Some("vpc"), "{vpc}");
    }
    let pods = "10.100.0.0/16".parse().unwrap();
    assert!(
        from_cloud.terms[0].matches.matches_prefix(&pods),
        "own pod CIDR is rejected first"
    );
    // Debug output never shows the key.
    assert!(!format!("{c:?}").contains("example-md5-key"));
}

#[test]
fn alibaba_hybrid_with_private_key_file_has_no_warnings() {
    let dir = std::env::temp_dir().join(format!("bgpd-config-examples-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["alibaba-hybrid.toml", "vbr.key"] {
        std::fs::copy(examples_dir().join(f), dir.join(f)).unwrap();
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("vbr.key"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
    }
    let result = Config::load(dir.join("alibaba-hybrid.toml"));
    std::fs::remove_dir_all(&dir).unwrap();
    let (_, warnings) = result.unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn calico_route_reflector() {
    let (c, warnings) = load("calico-route-reflector.toml");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.global.cluster_id.to_string(), "192.168.0.250");
    assert!(c.kernel.is_none());
    assert_eq!(c.neighbors.len(), 1);
}

#[test]
fn lab() {
    let (c, warnings) = load("lab.toml");
    assert!(warnings.is_empty(), "{warnings:?}");
    let vbr = c.neighbor("vbr").unwrap();
    assert_eq!(vbr.peer.to_string(), "203.0.113.2");
    assert_eq!(
        c.neighbor_for_address("192.0.2.77".parse().unwrap())
            .unwrap()
            .name,
        "calico"
    );
    assert_eq!(
        c.neighbor_for_address("203.0.113.2".parse().unwrap())
            .unwrap()
            .name,
        "vbr"
    );
    assert!(c
        .neighbor_for_address("198.51.100.1".parse().unwrap())
        .is_none());
}

#[test]
fn example_in_docs_config_md_validates() {
    let doc = std::fs::read_to_string(examples_dir().join("../docs/config.md")).unwrap();
    let start = doc.find("## Example\n\n```toml\n").unwrap() + "## Example\n\n```toml\n".len();
    let len = doc[start..].find("```").unwrap();
    // Named as if it sat in examples/, where `vbr.key` is.
    let file = examples_dir().join("docs-example.toml");
    let (c, warnings) = Config::from_str(&doc[start..start + len], file.to_str().unwrap()).unwrap();
    only_key_file_warnings("docs/config.md", &warnings);
    assert_eq!(c.neighbors.len(), 1);
}
