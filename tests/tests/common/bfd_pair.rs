//! The BFD interop pair, shared by `bfd_interop.rs` and `bfd_restart.rs`: bgpd on one side of
//! a /30, FRR (zebra + bfdd + bgpd) or BIRD 2 on the other, BGP with graceful restart.
//!
//! ```text
//!   ns edge (bgpd, up0 203.0.113.1/30) ── ns peer (FRR zebra+bfdd+bgpd or BIRD 2, eth0 203.0.113.2/30)
//! ```

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io;
use std::time::Duration;

use lab_tests::daemons::{bird2_bfd_protocol, frr_bfd_profile, Bgpd, Bird, Frr};
use lab_tests::{wait_until, Lab};

pub const EDGE: &str = "203.0.113.1";
pub const PEER: &str = "203.0.113.2";
/// What the peer announces (graceful restart negotiated: BFD down must not keep it stale).
pub const PEER_ROUTE: &str = "198.19.24.0/24";
/// What bgpd announces to the peer (the peer keeps it stale, or not, while bgpd restarts).
pub const EDGE_ROUTE: &str = "198.18.0.0/16";

pub fn edge_config(bfd: &str) -> String {
    format!(
        r#"[global]
asn = 64512
router_id = "{EDGE}"
listen = ["{EDGE}:179"]
[control]
socket = "{{socket}}"

[[originate]]
prefix = "{EDGE_ROUTE}"

[[neighbor]]
name = "peer"
address = "{PEER}"
local_address = "{EDGE}"
remote_as = 45104
hold_time = 9
connect_retry = 2
import = "any"
export = "any"
graceful_restart = {{ restart_time = 120 }}
{bfd}

[policy.any]
default = "accept"
"#
    )
}

pub enum Peer {
    Frr(Frr),
    Bird(Bird),
}

impl Peer {
    /// (BFD state, lower case; BGP established).
    pub fn state(&self) -> io::Result<(String, bool)> {
        match self {
            Peer::Frr(f) => Ok((
                f.bfd_peer(EDGE)?.map(|p| p.status).unwrap_or_default(),
                f.established(EDGE)?,
            )),
            Peer::Bird(b) => Ok((
                b.bfd_sessions()?
                    .into_iter()
                    .find(|s| s.address == EDGE)
                    .map(|s| s.state.to_lowercase())
                    .unwrap_or_default(),
                b.established("edge")?,
            )),
        }
    }

    pub fn show(&self) -> String {
        match self {
            Peer::Frr(f) => format!(
                "{}\n{}",
                f.vtysh("show bfd peers").unwrap_or_default(),
                f.vtysh("show bgp summary").unwrap_or_default()
            ),
            Peer::Bird(b) => format!(
                "{}\n{}",
                b.birdc(&["show", "bfd", "sessions"]).unwrap_or_default(),
                b.birdc(&["show", "protocols"]).unwrap_or_default()
            ),
        }
    }
}

pub struct Pair {
    pub lab: Lab,
    pub edge_ns: String,
    pub peer_ns: String,
    pub bgpd: Bgpd,
    pub peer: Peer,
}

pub fn pair(lab: Lab) -> (Lab, String, String) {
    let mut lab = lab;
    let edge_ns = lab.netns("edge").unwrap();
    let peer_ns = lab.netns("peer").unwrap();
    lab.link(
        (&edge_ns, "up0", &[&format!("{EDGE}/30")]),
        (&peer_ns, "eth0", &[&format!("{PEER}/30")]),
    )
    .unwrap();
    (lab, edge_ns, peer_ns)
}

pub fn with_frr(bfd: &str) -> Pair {
    with_frr_profile(bfd, 300, 300, 3)
}

/// The pair with FRR, its BFD profile `edge` at `rx_ms`/`tx_ms`/`multiplier`.
pub fn with_frr_profile(bfd: &str, rx_ms: u32, tx_ms: u32, multiplier: u32) -> Pair {
    frr_pair(bfd, rx_ms, tx_ms, multiplier, "")
}

/// FRR at 300/300/3 with `extra` neighbor lines (e.g. `ttl-security hops 1`).
pub fn with_frr_extra(bfd: &str, extra: &str) -> Pair {
    frr_pair(bfd, 300, 300, 3, extra)
}

fn frr_pair(bfd: &str, rx_ms: u32, tx_ms: u32, multiplier: u32, extra: &str) -> Pair {
    let (mut lab, edge_ns, peer_ns) = pair(Lab::new().unwrap());
    let conf = format!(
        "frr defaults traditional\nrouter bgp 45104\n bgp router-id {PEER}\n bgp log-neighbor-changes\n bgp graceful-restart\n no bgp ebgp-requires-policy\n no bgp network import-check\n neighbor {EDGE} remote-as 64512\n neighbor {EDGE} timers 3 9\n neighbor {EDGE} timers connect 1\n{extra} neighbor {EDGE} bfd\n neighbor {EDGE} bfd profile edge\n address-family ipv4 unicast\n  network {PEER_ROUTE}\n exit-address-family\n"
    );
    let frr = Frr::start_with_bfd(
        &mut lab,
        "peer",
        &peer_ns,
        &["0.0.0.0"],
        &conf,
        &frr_bfd_profile("edge", rx_ms, tx_ms, multiplier),
    )
    .unwrap();
    let bgpd = Bgpd::start(&mut lab, "edge", &edge_ns, &edge_config(bfd)).unwrap();
    Pair {
        lab,
        edge_ns,
        peer_ns,
        bgpd,
        peer: Peer::Frr(frr),
    }
}

pub fn with_bird(bfd: &str, sha1_key: Option<&str>) -> Pair {
    with_bird_bfd(bfd, sha1_key, "bfd on")
}

/// The pair with BIRD 2, its BGP protocol's BFD line `bird_bfd` (`bfd on`, `bfd graceful`).
pub fn with_bird_bfd(bfd: &str, sha1_key: Option<&str>, bird_bfd: &str) -> Pair {
    let (mut lab, edge_ns, peer_ns) = pair(Lab::new().unwrap());
    let conf = format!(
        "router id {PEER};\nlog stderr all;\nprotocol device {{ scan time 2; }}\nprotocol static {{ ipv4; route {PEER_ROUTE} blackhole; }}\n{}protocol bgp edge {{\n  local {PEER} as 45104;\n  neighbor {EDGE} as 64512;\n  hold time 9;\n  connect delay time 1;\n  connect retry time 2;\n  error wait time 1,5;\n  graceful restart on;\n  {bird_bfd};\n  ipv4 {{ import all; export where net = {PEER_ROUTE}; }};\n}}\n",
        bird2_bfd_protocol("eth0", 300, 300, 3, sha1_key)
    );
    let bird = Bird::start(&mut lab, "peer", &peer_ns, false, &conf).unwrap();
    let bgpd = Bgpd::start(&mut lab, "edge", &edge_ns, &edge_config(bfd)).unwrap();
    Pair {
        lab,
        edge_ns,
        peer_ns,
        bgpd,
        peer: Peer::Bird(bird),
    }
}

impl Pair {
    pub fn state(&self) -> String {
        format!(
            "\n--- bgpd: show bfd\n{}\n--- bgpd: show summary\n{}\n--- peer\n{}",
            self.bgpd.ctl_text(&["show", "bfd"]).unwrap_or_default(),
            self.bgpd.ctl_text(&["show", "summary"]).unwrap_or_default(),
            self.peer.show()
        )
    }

    pub fn bgpd_state(&self) -> io::Result<(String, bool)> {
        let bfd = self.bgpd.bfd_session("peer")?.map(|b| b.state);
        Ok((
            bfd.unwrap_or_default(),
            self.bgpd.established(&["peer"])? == 1,
        ))
    }

    /// Waits (10 s) until bgpd has the peer's route (`present`) or not.
    pub fn wait_route(&self, present: bool) {
        let res = wait_until(Duration::from_secs(10), "the peer's route in bgpd", || {
            let rib = self.bgpd.rib(&[])?;
            Ok(rib
                .iter()
                .any(|r| r.prefix == PEER_ROUTE && r.source == "peer")
                == present)
        });
        if let Err(e) = res {
            panic!("{e}{}", self.state());
        }
    }

    pub fn wait_up(&mut self, what: &str) {
        let res = wait_until(Duration::from_secs(40), what, || {
            self.lab.check_alive()?;
            let (b, be) = self.bgpd_state()?;
            let (p, pe) = self.peer.state()?;
            Ok(b == "up" && be && p == "up" && pe)
        });
        if let Err(e) = res {
            panic!("{e}{}\n{}", self.state(), self.lab.logs());
        }
    }
}
