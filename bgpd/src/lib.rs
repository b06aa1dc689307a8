//! The `bgpd` daemon as a library: the parts that need no sockets, so they are tested
//! without any.
//!
//! - [`session`]: the BGP session state machine (RFC 4271 section 8) and OPEN negotiation.
//! - [`peer`]: one task per session: sockets and timers around the state machine, import.
//! - [`exchange`]: what peer tasks and the routing task hand each other (keys, commands,
//!   queues, imported routes, export settings).
//! - [`policy`]: import and export policy evaluation, for peers, groups and the kernel.
//! - [`routing`]: the task that owns the tables, originates, and exports per group.
//! - [`transport`]: listeners and connections with TCP-MD5 and GTSM; [`interfaces`]: our
//!   link-local addresses (RFC 2545 next hops).
//! - [`bfd`]: BFD sessions watching the forwarding path to neighbors (RFC 5880, 5881).
//! - [`daemon`]: start-up, accepting connections, dynamic neighbors, signals, reload, and
//!   the answers to `bgpctl`.
//! - [`control`]: the `bgpctl` protocol, client and socket server.
//! - [`restart_state`]: the file that tells a restarted daemon whom to wait for.
//! - [`observe`]: a tap on the sessions for monitors (BMP): up, down, UPDATEs in and out.
//! - [`metrics`]: the Prometheus registry and endpoint; [`notify`]: systemd readiness.
//! - [`manpage`]: the manual pages of `bgpd` and `bgpctl`, rendered from their clap trees.

pub mod bfd;
pub mod bmp;
pub mod control;
pub mod daemon;
pub mod exchange;
pub mod fib;
pub mod interfaces;
pub mod manpage;
pub mod metrics;
pub mod notify;
pub mod observe;
pub mod peer;
pub mod policy;
pub mod restart_state;
pub mod routing;
pub mod session;
pub mod transport;
