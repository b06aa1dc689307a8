//! One task per neighbor session: the sans-IO [`Session`](crate::session::Session) driven
//! with real sockets and time, reading and importing in parallel with every other peer.
//!
//! ```text
//! commands (daemon, bgpctl) ─┐                       ┌─► writer task ─► socket
//! socket bytes ──────────────┼─► driver ─► Session ──┤
//! timers (next_deadline) ────┘                       └─► routing task: PeerUp / Update / PeerDown
//! ```

pub mod commands;
mod driver;
pub mod import;
pub mod writer;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bgp_wire::Notification;
use tokio::net::TcpStream;

pub use driver::{spawn, PeerSpec};

use crate::session::{Counters, Negotiated, State};

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
    /// A connection the listener accepted from this peer's address.
    Incoming(Box<TcpStream>),
    /// A reload changed settings that apply without a reset.
    Reconfigure(Box<Reconfigure>),
}

/// Settings a reload changes in place (see `config::NeighborChange`).
#[derive(Debug, Clone)]
pub struct Reconfigure {
    /// The new import policy.
    pub import_policy: Option<std::sync::Arc<config::Policy>>,
    /// Export settings.
    pub export: crate::routing::ExportSettings,
    /// The import policy changed: ask the peer for its routes again (RFC 2918).
    pub reimport: bool,
    /// Export changed: regroup in the routing task.
    pub reexport: bool,
}

/// What `bgpctl show neighbor` and the metrics read about a peer; the peer task keeps it
/// current.
#[derive(Debug, Clone)]
pub struct PeerStatus {
    /// The neighbor's configured name.
    pub name: String,
    /// The peer's address.
    pub address: IpAddr,
    /// The session state.
    pub state: State,
    /// When the session became Established.
    pub established_at: Option<Instant>,
    /// What the OPEN exchange settled.
    pub negotiated: Option<Negotiated>,
    /// Messages, flaps and the last error.
    pub counters: Counters,
    /// The last reason the session went down, for `show neighbor`.
    pub last_error: Option<String>,
    /// Routes received in UPDATEs since the session came up.
    pub received: u64,
    /// The local address of the current connection.
    pub local_address: Option<IpAddr>,
}

/// A handle on a running peer task.
#[derive(Debug, Clone)]
pub struct PeerHandle {
    /// The key.
    pub key: PeerKey,
    /// Commands to the task.
    pub commands: commands::CommandSender,
    /// The task's current status.
    pub status: Arc<Mutex<PeerStatus>>,
}
