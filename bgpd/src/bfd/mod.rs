//! BFD (RFC 5880), single hop (RFC 5881), as a liveness monitor of the forwarding path to a
//! BGP neighbor (RFC 5882). `packet.rs` is the codec, `auth.rs` keyed SHA1 authentication,
//! `machine.rs` one session without I/O,
//! `task.rs` the sockets and timers of every session; `socket.rs` the UDP details (TTL 255,
//! source ports).
//!
//! The coupling to BGP is one event: when a session leaves Up because the path failed (not
//! because either side took it administratively down), the daemon hands the neighbor's peer
//! task `PeerCommand::PathDown`: the BGP session closes at once and its
//! routes are withdrawn, not kept as graceful-restart stale (RFC 5882 section 4.3.1: the
//! forwarding plane is what failed). BFD never holds a BGP session down by itself: a
//! neighbor that does not run BFD leaves our session in Down and BGP unaffected.

pub mod auth;
#[cfg(test)]
mod loopback_tests;
pub mod machine;
pub mod packet;
mod socket;
mod task;
#[cfg(test)]
mod tests;

pub use machine::{Status, Transition};
pub use packet::{Diag, State};
pub use task::{
    start, start_on, BfdCommand, BfdEvent, BfdHandle, BfdPeer, BfdRow, Ports, BFD_MULTIHOP_PORT,
    BFD_PORT,
};
