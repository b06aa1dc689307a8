//! BFD (RFC 5880), single hop (RFC 5881), as a liveness monitor of the forwarding path to a
//! BGP neighbor (RFC 5882). `packet.rs` is the codec, `auth.rs` keyed SHA1 authentication,
//! `machine.rs` one session without I/O, `task.rs` the sockets and timers of every session,
//! `socket.rs` the UDP details (TTL 255, source ports), `api.rs` what the daemon sees,
//! `resume.rs` the sessions handed from one run to the next across a graceful restart.
//!
//! The coupling to BGP is one event: when a session leaves Up because the path failed (not
//! because either side took it administratively down), the daemon hands the neighbor's peer
//! task `PeerCommand::PathDown`: the BGP session closes at once and its routes are
//! withdrawn, not kept as graceful-restart stale (RFC 5882 section 4.3.1: the forwarding
//! plane is what failed). BFD never holds a BGP session down by itself: a neighbor that does
//! not run BFD leaves our session in Down and BGP unaffected.

mod api;
pub mod auth;
#[cfg(test)]
mod loopback_tests;
pub mod machine;
pub mod packet;
pub mod resume;
mod socket;
mod task;
#[cfg(test)]
mod tests;

pub use api::{
    start, start_on, start_resuming, BfdCommand, BfdEvent, BfdHandle, BfdPeer, BfdRow, Ports,
    BFD_MULTIHOP_PORT, BFD_PORT,
};
pub use machine::{Status, Transition};
pub use packet::{Diag, State};
