//! The lab: the seed's hybrid network rebuilt on one machine with Linux network namespaces,
//! veth pairs and bridges, with real third-party BGP daemons (BIRD 1.6 as Calico nodes, FRR as
//! the VBR, BIRD 2, GoBGP, OpenBGPD and ExaBGP as further peers) and `bgpd` as the edge route
//! reflector.
//!
//! [`Lab`] owns everything it creates: namespaces (`lab-<pid>-<n>-<role>`, unique per test so
//! tests can run in parallel), processes (started inside namespaces with `ip netns exec`) and a
//! scratch directory for configuration files, sockets and logs. Dropping it (also while a test
//! panics) stops every process and deletes every namespace. Traffic only ever flows between
//! namespaces a lab created.
//!
//! Every wait is bounded ([`wait_until`]); every external command runs with a time limit
//! ([`Lab::run`]).
//!
//! The harness by job: [`Lab`] and its namespaces, links and processes (`lab`), commands run
//! with a time limit (`command`), bounded polling (`wait`), the third-party programs a test
//! needs (`tools`) and our own binaries (`bins`); the daemons' adapters ([`daemons`]), the
//! hybrid topology ([`hybrid`]), the two-circuit BFD topology ([`circuits`]), watching the
//! network across an event ([`watch`]) and a misbehaving peer ([`raw`]).

use std::io;

mod bins;
mod command;
mod lab;
mod tools;
mod wait;

pub mod circuits;
pub mod daemons;
pub mod hybrid;
pub mod raw;
pub mod watch;

pub use bins::our_bin;
pub use command::{run_with_limit, Output};
pub use lab::{tail, teardown_by_id, Lab, Proc, ProcId};
pub use tools::{is_root, missing, skip, Tool, BIRD16_DIR, FRR_BGPD, OPENBGPCTL, OPENBGPD};
pub use wait::wait_until;

/// An error with context, as `io::Error` (the harness returns these; tests unwrap them).
pub fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}
