//! One task per neighbor session: the sans-IO [`Session`](crate::session::Session) driven
//! with real sockets and time, reading and importing in parallel with every other peer.
//!
//! ```text
//! commands (daemon, bgpctl) ─┐                       ┌─► writer task ─► socket
//! socket bytes ──────────────┼─► driver ─► Session ──┤
//! timers (next_deadline) ────┘                       └─► routing task: PeerUp / Update / PeerDown
//! ```

mod driver;
pub mod import;
mod outputs;
mod settings;
pub mod writer;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use driver::{spawn, PeerSpec};

use crate::exchange::commands::CommandSender;
use crate::exchange::PeerKey;
use crate::session::{Counters, Negotiated, State};

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
    /// Of those, IPv6 routes.
    pub received_ipv6: u64,
    /// Routes the Calico guard refuses now (announced and not withdrawn since), with why;
    /// at most [`REFUSED_KEPT`].
    pub pool_refused: std::collections::BTreeMap<ipnet::IpNet, &'static str>,
    /// The local address of the current connection.
    pub local_address: Option<IpAddr>,
}

/// How many refused routes a session's status keeps (a node that leaks a full table
/// must not make its status grow without bound).
pub const REFUSED_KEPT: usize = 1000;

/// A handle on a running peer task.
#[derive(Debug, Clone)]
pub struct PeerHandle {
    /// The key.
    pub key: PeerKey,
    /// Commands to the task.
    pub commands: CommandSender,
    /// The task's current status.
    pub status: Arc<Mutex<PeerStatus>>,
}

#[cfg(test)]
mod tests;
