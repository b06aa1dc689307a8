//! Connection collision detection (RFC 4271 section 6.8).
//!
//! A peer and we may connect to each other at the same time. The daemon hands the first
//! connection to the peer's main [`Session`]; a connection accepted while that session
//! already has one gets its own [`Session::incoming`]. While both exist, the daemon keeps
//! each informed of the other with [`Session::set_rival`] (`Rival::of(&other)`) before
//! every input. The check runs where the RFC puts it, on receipt of an OPEN, before any
//! KEEPALIVE goes out:
//!
//! ```text
//!   OPEN arrives on connection X while the rival connection Y is OpenSent or later
//!     X loses ─► X sends Cease / Connection Collision Resolution (6/7) at once, goes Idle
//!     X wins  ─► X sends KEEPALIVE as usual and emits Output::CollisionWon:
//!                the daemon sends Input::CollisionDump to Y's session (6/7, Idle), and if
//!                X's session is the extra one, X.promote(&Y) and X becomes the main one.
//! ```
//!
//! [`resolve`] gives the same decision from outside, for a daemon that looks at both
//! sessions after each input instead (it cannot stop the losing side's KEEPALIVE).
//!
//! Both speakers decide with the same rule (the connection opened by the higher BGP
//! identifier survives), so they agree on which connection lives.

use std::net::Ipv4Addr;

use std::time::{Duration, Instant};

use bgp_wire::capability::{code, Capability, GracefulRestart};
use bgp_wire::Open;

use super::config::SessionConfig;
use super::event::{ConnectionRole, State};
use super::fsm::Session;

/// Which connection survives a collision: the one opened by the speaker with the higher BGP
/// identifier (RFC 4271 section 6.8, identifiers compared as 4-octet unsigned integers);
/// with equal identifiers (possible on eBGP), the one opened by the speaker with the larger
/// AS number (RFC 6286 section 2.3).
pub fn surviving_connection(
    local_id: Ipv4Addr,
    local_as: u32,
    remote_id: Ipv4Addr,
    remote_as: u32,
) -> ConnectionRole {
    let local_wins = if local_id == remote_id {
        local_as > remote_as
    } else {
        u32::from(local_id) > u32::from(remote_id)
    };
    if local_wins {
        ConnectionRole::Outgoing
    } else {
        ConnectionRole::Incoming
    }
}

/// How long a session must have been Established before a new OPEN with graceful restart
/// (but without the Restart State bit) is taken for a restarted peer rather than for the
/// other connection of a simultaneous open.
pub const RESTART_EVIDENCE: Duration = Duration::from_secs(3);

/// What a session knows about the other connection of the same peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rival {
    /// Who opened the other connection.
    pub role: ConnectionRole,
    /// The other session's state.
    pub state: State,
    /// Since when the other session is Established, if it is.
    pub established_since: Option<Instant>,
}

impl Rival {
    /// The other session as a rival, if it has a connection (OpenSent or later).
    pub fn of(other: &Session) -> Option<Rival> {
        let role = other.connection_role()?;
        other.state().has_connection().then_some(Rival {
            role,
            state: other.state(),
            established_since: other.counters().established_since,
        })
    }
}

/// Whether the connection of role `mine`, which just received `open`, survives against
/// `rival`:
///
/// - against an Established rival it loses (RFC 4271 section 6.8, last paragraph), unless
///   the OPEN carries the graceful restart capability and the peer has restarted: then the
///   old connection goes (RFC 4724 section 4.2). The peer has restarted when its OPEN sets
///   the Restart State bit, or when the rival has been Established for
///   [`RESTART_EVIDENCE`]: an OPEN that arrives sooner is the other half of a simultaneous
///   open, whose sender is about to drop that connection itself;
/// - against a rival opened from the same side it stays ([`resolve`] keeps the newer);
/// - otherwise [`surviving_connection`] decides.
pub fn keeps_connection(
    config: &SessionConfig,
    mine: ConnectionRole,
    open: &Open,
    rival: Rival,
    now: Instant,
) -> bool {
    if rival.state == State::Established {
        let restarting = open.capabilities().any(|c| {
            matches!(c, Capability::GracefulRestart(g) if g.flags & GracefulRestart::RESTARTING != 0)
        });
        let settled = rival
            .established_since
            .is_none_or(|t| now.saturating_duration_since(t) >= RESTART_EVIDENCE);
        return open.has(code::GRACEFUL_RESTART) && (restarting || settled);
    }
    if rival.role == mine {
        return true;
    }
    surviving_connection(config.router_id, config.local_as, open.bgp_id, open.asn()) == mine
}

/// What to do with two sessions of one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Not decidable yet (no OPEN received on either connection): keep both.
    Pending,
    /// Keep the existing session; send `Input::CollisionDump` to the new one.
    DumpNew,
    /// Keep the new session: send `Input::CollisionDump` to the existing one, then
    /// `new.promote(&existing)` and make it the peer's session.
    DumpExisting,
}

/// Resolves a collision between the peer's `existing` session and a `new` one created with
/// [`Session::incoming`]; call it after every input to either. It decides exactly as
/// [`keeps_connection`] does inside the sessions (so with [`Session::set_rival`] kept
/// current, the losing connection has usually dumped itself already and this only tells
/// the daemon which session to keep):
///
/// - a session without a connection loses to one with a connection;
/// - until an OPEN arrived on either connection: `Pending`;
/// - an Established existing session wins, unless the new connection's OPEN carries
///   graceful restart (the peer restarted, RFC 4724 section 4.2);
/// - connections opened from the same side: the newer wins;
/// - otherwise the connection [`surviving_connection`] names wins.
pub fn resolve(existing: &Session, new: &Session) -> Resolution {
    if !new.state().has_connection() {
        return Resolution::DumpNew;
    }
    if !existing.state().has_connection() {
        return Resolution::DumpExisting;
    }
    let (Some(old_role), Some(new_role)) = (existing.connection_role(), new.connection_role())
    else {
        return Resolution::Pending;
    };
    if existing.state() == State::Established && new.state() != State::Established {
        return match new.remote_open() {
            None => Resolution::Pending,
            Some(open) if open.has(code::GRACEFUL_RESTART) => Resolution::DumpExisting,
            Some(_) => Resolution::DumpNew,
        };
    }
    let Some(open) = new.remote_open().or(existing.remote_open()) else {
        return Resolution::Pending;
    };
    if old_role == new_role {
        return Resolution::DumpExisting;
    }
    let config = existing.config();
    let survivor = surviving_connection(config.router_id, config.local_as, open.bgp_id, open.asn());
    if survivor == new_role {
        Resolution::DumpExisting
    } else {
        Resolution::DumpNew
    }
}
