//! What the peer tasks and the routing task hand each other: the key a session is known
//! by, commands to a peer task, a connection's outgoing queues, the routes an UPDATE
//! imported, and the settings a peer is exported with. Both sides depend on this module and
//! neither on the other (peer tasks feed the routing task through the routing module's
//! `RoutingInput`).

pub mod commands;
pub mod updates;

use std::sync::Arc;

use bgp_wire::attr::{NextHop, PathAttributes};
use bgp_wire::{Family, Nlri, Notification};
use config::{Policy, PrefixLimit};
use tokio::net::TcpStream;

/// Identifies one peer session for the routing task and the daemon (a dynamic neighbor's
/// every session gets its own).
pub type PeerKey = u32;

/// What the daemon and `bgpctl` ask of a peer task.
#[derive(Debug)]
pub enum PeerCommand {
    /// Start (or restart after `Stop`).
    Start,
    /// Stop; see [`crate::session::Input::Stop`].
    Stop {
        /// Close without NOTIFICATION where graceful restart allows it.
        graceful: bool,
        /// The NOTIFICATION otherwise (boxed, as the stream below: commands wait in a queue
        /// inline, so the enum is kept small).
        notification: Option<Box<Notification>>,
    },
    /// Reset the session (`bgpctl neighbor X clear`): Cease / Administrative Reset, then
    /// start again.
    Clear,
    /// The routing task found too many prefixes from this peer: Cease / Maximum Number of
    /// Prefixes Reached (RFC 4486), then idle before retrying.
    MaxPrefixExceeded,
    /// The peer could not keep up with updates and has no enhanced route refresh: reset so
    /// that it gets the full table again (Cease / Out of Resources).
    Resync,
    /// Ask the peer to send its routes again (RFC 2918).
    Refresh,
    /// A liveness monitor (BFD, RFC 5882) says the forwarding path to the peer is down:
    /// see [`crate::session::Input::PathDown`]. The entry point for such monitors.
    PathDown {
        /// Who says so (`bfd`), for logs.
        source: &'static str,
    },
    /// The liveness monitor says the path works again: see
    /// [`crate::session::Input::PathUp`].
    PathUp,
    /// A connection the listener accepted from this peer's address.
    Incoming(Box<TcpStream>),
    /// A reload changed settings that apply without a reset.
    Reconfigure(Box<Reconfigure>),
    /// Drain for maintenance (RFC 8326), or stop draining: our routes are advertised again
    /// with (or without) GRACEFUL_SHUTDOWN and, on iBGP, LOCAL_PREF 0.
    Drain(bool),
}

/// Settings a reload changes in place (see `config::NeighborChange`).
#[derive(Debug, Clone)]
pub struct Reconfigure {
    /// The new import policy.
    pub import_policy: Option<std::sync::Arc<config::Policy>>,
    /// Export settings.
    pub export: ExportSettings,
    /// The import policy or the Calico pools changed: ask the peer for its routes again
    /// (RFC 2918).
    pub reimport: bool,
    /// The Calico pools the peer's routes must be in (a node range's `calico`).
    pub calico: Option<Arc<config::Calico>>,
    /// Export changed: regroup in the routing task.
    pub reexport: bool,
}

/// The per-neighbor settings that decide which export group a peer is in.
#[derive(Debug, Clone)]
pub struct ExportSettings {
    /// Export policy.
    pub export_policy: Option<Arc<Policy>>,
    /// RFC 4456 client.
    pub rr_client: bool,
    /// Next hop self.
    pub next_hop_self: bool,
    /// Our link-local address beside our IPv6 next hop on a shared link (RFC 2545).
    pub link_local_next_hop: bool,
    /// Received-route limit.
    pub max_prefixes: Option<PrefixLimit>,
    /// Advertised-route limit.
    pub max_prefixes_out: Option<PrefixLimit>,
    /// Drained for maintenance (RFC 8326): our routes go out with GRACEFUL_SHUTDOWN, and
    /// with LOCAL_PREF 0 on iBGP.
    pub graceful_shutdown: bool,
}

impl ExportSettings {
    /// A neighbor's export settings as configured.
    pub fn of(config: &config::Config, n: &config::Neighbor) -> Self {
        ExportSettings {
            export_policy: policy(config, n.export.as_deref()),
            rr_client: n.route_reflector_client,
            next_hop_self: n.next_hop_self,
            link_local_next_hop: n.link_local_next_hop,
            max_prefixes: n.max_prefixes,
            max_prefixes_out: n.max_prefixes_out,
            graceful_shutdown: false,
        }
    }
}

/// A configured policy by name, shared between the sessions that use it.
pub fn policy(config: &config::Config, name: Option<&str>) -> Option<Arc<Policy>> {
    name.and_then(|p| config.policy(p))
        .map(|p| Arc::new(p.clone()))
}

/// Routes sharing one attribute set and next hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    /// The attributes, without NEXT_HOP, MP_REACH_NLRI and MP_UNREACH_NLRI.
    pub attrs: PathAttributes,
    /// The next hop.
    pub next_hop: NextHop,
    /// The routes.
    pub nlri: Vec<Nlri>,
}

/// What one UPDATE changes in the peer's Adj-RIB-In.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    /// Routes accepted, grouped by resulting attributes.
    pub announce: Vec<Announce>,
    /// Routes withdrawn, or announced but refused (by RFC 7606, a loop check or policy: a
    /// refused route replaces any earlier accepted one, so it is withdrawn).
    pub withdraw: Vec<Nlri>,
    /// The UPDATE was an End-of-RIB marker for this family.
    pub end_of_rib: Option<Family>,
    /// Routes received in this UPDATE (announced, before any check).
    pub received: usize,
    /// Of those, IPv6 routes.
    pub received_ipv6: usize,
    /// Why routes were refused, for the log (one line per reason).
    pub refused: Vec<&'static str>,
    /// Routes the Calico guard refused (outside the pools, or shorter than a block), with
    /// why; they are in `withdraw` too.
    pub pool_refused: Vec<(ipnet::IpNet, &'static str)>,
}
