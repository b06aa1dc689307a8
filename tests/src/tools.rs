//! The third-party programs the lab runs, where they are, and whether a test can run here
//! (root, `ip`, the daemons it needs) or must be skipped.

use std::path::{Path, PathBuf};

/// Where BIRD 1.6 (what Calico runs) is unpacked by `scripts/install-deps`.
pub const BIRD16_DIR: &str = "/opt/bird1.6/usr/sbin";
/// FRR's BGP daemon.
pub const FRR_BGPD: &str = "/usr/lib/frr/bgpd";
/// OpenBGPD's daemon (not ours: same name, different directory).
pub const OPENBGPD: &str = "/usr/sbin/bgpd";
/// OpenBGPD's control tool.
pub const OPENBGPCTL: &str = "/usr/sbin/bgpctl";

/// Whether we run as root (namespaces need it).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// A third-party program the lab may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// BIRD 1.6 (`/opt/bird1.6`).
    Bird16,
    /// BIRD 1.6's IPv6 daemon (`bird6`, `birdc6` in `/opt/bird1.6`), for dual stack.
    Bird16v6,
    /// BIRD 2 (`bird`, `birdc`).
    Bird2,
    /// FRR's bgpd and vtysh.
    Frr,
    /// GoBGP (`gobgpd`, `gobgp`).
    GoBgp,
    /// OpenBGPD (`/usr/sbin/bgpd`, `/usr/sbin/bgpctl`).
    OpenBgpd,
    /// ExaBGP.
    ExaBgp,
    /// `ping` (iputils).
    Ping,
    /// FRR's zebra and bfdd beside bgpd (BFD).
    FrrBfd,
    /// FRR's zebra beside bgpd (its routes in the kernel).
    FrrZebra,
    /// `nft` (nftables: dropping a circuit's packets).
    Nft,
    /// `tcpdump` (what went on the wire).
    Tcpdump,
    /// pmacct's BMP collector `pmbmpd`.
    Pmbmpd,
}

impl Tool {
    fn paths(self) -> Vec<PathBuf> {
        let p = |s: &str| PathBuf::from(s);
        match self {
            Tool::Bird16 => vec![
                Path::new(BIRD16_DIR).join("bird"),
                Path::new(BIRD16_DIR).join("birdc"),
            ],
            Tool::Bird16v6 => vec![
                Path::new(BIRD16_DIR).join("bird6"),
                Path::new(BIRD16_DIR).join("birdc6"),
            ],
            Tool::Bird2 => vec![p("/usr/sbin/bird"), p("/usr/sbin/birdc")],
            Tool::Frr => vec![p(FRR_BGPD), p("/usr/bin/vtysh")],
            Tool::GoBgp => vec![p("/usr/bin/gobgpd"), p("/usr/bin/gobgp")],
            Tool::OpenBgpd => vec![p(OPENBGPD), p(OPENBGPCTL)],
            Tool::ExaBgp => vec![p("/usr/sbin/exabgp")],
            Tool::Ping => vec![p("/usr/bin/ping")],
            Tool::FrrBfd => vec![
                p(FRR_BGPD),
                p("/usr/bin/vtysh"),
                p("/usr/lib/frr/zebra"),
                p("/usr/lib/frr/bfdd"),
            ],
            Tool::FrrZebra => vec![p(FRR_BGPD), p("/usr/bin/vtysh"), p("/usr/lib/frr/zebra")],
            Tool::Nft => vec![p("/usr/sbin/nft")],
            Tool::Tcpdump => vec![p("/usr/bin/tcpdump")],
            Tool::Pmbmpd => vec![p("/usr/sbin/pmbmpd")],
        }
    }
}

/// Why a lab test cannot run here (not root, or a daemon is missing), or `None`.
pub fn missing(tools: &[Tool]) -> Option<String> {
    if !is_root() {
        return Some("not root (network namespaces need CAP_SYS_ADMIN)".into());
    }
    if !Path::new("/usr/sbin/ip").exists() && !Path::new("/usr/bin/ip").exists() {
        return Some("iproute2 (`ip`) is not installed".into());
    }
    for t in tools {
        for p in t.paths() {
            if !p.exists() {
                return Some(format!(
                    "{} is not installed (scripts/install-deps installs it)",
                    p.display()
                ));
            }
        }
    }
    None
}

/// Prints why a test is skipped and returns true when it must be; use as
/// `if lab_tests::skip("name", &[Tool::Frr]) { return; }`. Under CI (`CI` set) nothing is
/// skipped: a missing tool fails the test, so a broken install cannot pass silently.
#[allow(clippy::panic)] // the failure is the point
pub fn skip(test: &str, tools: &[Tool]) -> bool {
    match missing(tools) {
        Some(why) if std::env::var_os("CI").is_some() => {
            panic!("{test}: {why}, and CI is set: scripts/install-deps must provide it")
        }
        Some(why) => {
            eprintln!("SKIPPED {test}: {why}");
            true
        }
        None => false,
    }
}
