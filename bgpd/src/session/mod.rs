//! BGP sessions: the sans-IO finite state machine of RFC 4271 section 8 and the OPEN
//! negotiation around it.
//!
//! ```text
//!  config::Neighbor ─► SessionConfig ─► Session::new ─┐
//!                                                     │  handle(now, Input)     ┌► Output::Send(bytes)
//!   driver (tokio task): socket bytes ─► feed_bytes ──┼─ handle_timeout(now) ──►├► Output::Connect / CloseConnection
//!                       timer at next_deadline() ─────┘                         ├► Output::Established / Down
//!                                                                               └► Output::Update / RouteRefresh
//! ```
//!
//! - `fsm.rs`: the [`Session`] type, its public API and shared helpers.
//! - `transitions.rs`: what every event does in every state (RFC 4271 section 8.2.2).
//! - `negotiate.rs`: OPEN checks and capability negotiation into [`Negotiated`].
//! - `config.rs`: what a session offers and expects, and our OPEN.
//! - `event.rs`: [`Input`], [`Output`], [`State`].
//! - `timers.rs`: timers as deadlines, backoff jitter.
//! - `collision.rs`: connection collision resolution (RFC 4271 section 6.8).
//! - `counters.rs`: messages by type, flaps, last error, uptime.
//!
//! # Standards
//!
//! RFC 4271 (sections 6.8, 8, 10), RFC 5492 capabilities, RFC 6286 identifiers, RFC 6608
//! FSM error subcodes, RFC 6793 4-octet AS, RFC 7911 ADD-PATH, RFC 8654 extended messages,
//! RFC 2918 / RFC 7313 route refresh, RFC 4724 graceful restart, RFC 8538 notification
//! (Hard Reset), RFC 9494 LLGR (carried, not acted on), RFC 9234 roles, RFC 9003 shutdown
//! communication.

pub mod collision;
mod config;
mod counters;
mod event;
mod fsm;
mod negotiate;
mod timers;
mod transitions;

#[cfg(test)]
mod tests;

pub use collision::Rival;
pub use config::{Backoff, GracefulRestartConfig, PeerAs, Required, RoleConfig, SessionConfig};
pub use counters::{Counters, MessageCounts};
pub use event::{ConnectionRole, DownReason, Input, Output, State};
pub use fsm::{hard_reset, SendError, Session, SessionError};
pub use negotiate::{
    encode_capabilities, keepalive_for, negotiate, Negotiated, OpenRejected, PeerGracefulRestart,
};
pub use timers::{Jitter, Timer, Timers};
