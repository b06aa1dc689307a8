//! Starting each daemon inside a lab namespace and asking it, through its own CLI, what it
//! has learned: `bgpctl --json` (ours), `birdc`, `vtysh`, `gobgp`, OpenBGPD's `bgpctl`, and
//! ExaBGP's API output.
//!
//! One file per daemon; this one holds what they share: the normalised [`Route`], helpers to
//! search lists of routes, and running a CLI or waiting for a control socket.

use std::io;
use std::path::Path;
use std::time::Duration;

use crate::{err, wait_until, Lab, Output};

mod bgpd;
mod bird;
mod exabgp;
mod frr;
mod gobgp;
mod openbgpd;

pub use bgpd::{BfdSession, Bgpd, Session};
pub use bird::{bird2_bfd_protocol, parse_bird_bfd, parse_bird_routes, Bird, BirdBfd};
pub use exabgp::ExaBgp;
pub use frr::{frr_bfd_profile, Frr, FrrBfdPeer};
pub use gobgp::GoBgp;
pub use openbgpd::OpenBgpd;

/// A route as a daemon's CLI shows it, normalised across daemons.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// `198.18.0.0/16`, `2001:db8::/32`.
    pub prefix: String,
    /// The BGP next hop (first one, for IPv6 global + link-local).
    pub next_hop: String,
    /// AS numbers separated by single spaces, empty for an iBGP-internal route.
    pub as_path: String,
    /// `igp`, `egp`, `incomplete` (lower case).
    pub origin: String,
    /// LOCAL_PREF if present (or shown).
    pub local_pref: Option<u64>,
    /// MULTI_EXIT_DISC if present.
    pub med: Option<u64>,
    /// Communities as `A:B`.
    pub communities: Vec<String>,
    /// Large communities as `A:B:C`.
    pub large_communities: Vec<String>,
    /// ORIGINATOR_ID.
    pub originator_id: Option<String>,
    /// CLUSTER_LIST.
    pub cluster_list: Vec<String>,
    /// Selected as best by the daemon.
    pub best: bool,
    /// Where the daemon learned it (BIRD: protocol name; bgpd: neighbor), when shown.
    pub source: String,
}

/// The routes for `prefix`.
pub fn find<'a>(routes: &'a [Route], prefix: &str) -> Vec<&'a Route> {
    routes.iter().filter(|r| r.prefix == prefix).collect()
}

/// The prefixes, sorted and deduplicated.
pub fn prefixes(routes: &[Route]) -> Vec<String> {
    let mut v: Vec<String> = routes.iter().map(|r| r.prefix.clone()).collect();
    v.sort();
    v.dedup();
    v
}

fn check(o: Output, what: &str) -> io::Result<String> {
    if o.ok() {
        Ok(o.stdout)
    } else {
        Err(err(format!(
            "{what} failed ({:?}): {}{}",
            o.status,
            o.stdout.trim(),
            o.stderr.trim()
        )))
    }
}

fn wait_socket(lab: &mut Lab, path: &Path, what: &str) -> io::Result<()> {
    wait_until(Duration::from_secs(20), what, || {
        lab.check_alive()?;
        Ok(path.exists())
    })
}
