//! What goes into the session FSM ([`Input`], the events of RFC 4271 section 8.1) and what
//! comes out ([`Output`], the actions the driver performs), with the states of section 8.2.2.

use std::fmt;

use bgp_wire::{DecodeError, Message, Notification, RouteRefresh, Update};
use bytes::Bytes;

use super::negotiate::Negotiated;

/// The session states (RFC 4271 section 8.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Refuses connections; waits for a start (manual, or automatic after IdleHoldTimer).
    Idle,
    /// An outgoing connection attempt is in progress.
    Connect,
    /// Waiting for the peer to connect (or for ConnectRetryTimer to try again).
    Active,
    /// Our OPEN is sent; waiting for the peer's.
    OpenSent,
    /// OPENs exchanged; waiting for the peer's KEEPALIVE.
    OpenConfirm,
    /// UPDATEs may flow.
    Established,
}

impl State {
    /// Lower-case name for logs, `bgpctl --json` and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Connect => "connect",
            State::Active => "active",
            State::OpenSent => "opensent",
            State::OpenConfirm => "openconfirm",
            State::Established => "established",
        }
    }

    /// Whether a TCP connection exists in this state (OpenSent and later).
    pub fn has_connection(self) -> bool {
        matches!(
            self,
            State::OpenSent | State::OpenConfirm | State::Established
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Who opened the TCP connection a session runs on (RFC 4271 section 6.8 needs it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionRole {
    /// We connected to the peer (after `Output::Connect`).
    Outgoing,
    /// The peer connected to us (accepted on the listening socket).
    Incoming,
}

/// An event for the FSM (RFC 4271 section 8.1). Timer events (9 to 13) are not inputs: call
/// `Session::handle_timeout` at `Session::next_deadline`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Event 1 ManualStart, or event 4 ManualStart_with_PassiveTcpEstablishment when the
    /// configuration is passive (section 8.1.2). `bgpctl neighbor X up`, start-up, reload.
    /// Automatic restarts (events 3 and 5) happen inside the FSM when IdleHoldTimer
    /// expires.
    Start,
    /// Event 2 ManualStop (section 8.1.2): `bgpctl neighbor X down`, SIGTERM, shutdown.
    ///
    /// `graceful` (SIGTERM): when graceful restart was negotiated, close the connection
    /// without a NOTIFICATION so that the peer keeps our routes (RFC 4724 section 4).
    /// Otherwise send `notification` (default Cease / Administrative Shutdown, build it with
    /// `Notification::cease_with_message` for an RFC 9003 message), wrapped in Cease / Hard
    /// Reset when the N bit was negotiated (RFC 8538 section 3), so the peer flushes.
    /// The session stays Idle until the next `Start`.
    Stop {
        /// Close silently if graceful restart allows it.
        graceful: bool,
        /// The NOTIFICATION for a non-graceful stop.
        notification: Option<Notification>,
    },
    /// Event 8 AutomaticStop: the daemon ends the session on its own (max-prefix exceeded:
    /// Cease / Maximum Number of Prefixes Reached, RFC 4486). The NOTIFICATION is sent
    /// (Hard Reset-wrapped where RFC 8538 section 5 says so) and the session restarts after
    /// `SessionConfig::idle_hold_after_cease`.
    AutomaticStop {
        /// The NOTIFICATION to send.
        notification: Notification,
    },
    /// Event 16 Tcp_CR_Acked (`Outgoing`: our connection attempt succeeded) or event 17
    /// TcpConnectionConfirmed (`Incoming`: the peer connected to us). Handing an incoming
    /// connection to a session in Connect makes the driver abandon its own attempt. A
    /// session refuses connections in Idle (it answers `CloseConnection`); one that already
    /// has a connection ignores this: a second connection is a collision and gets its own
    /// `Session::incoming` (see `collision.rs`).
    TcpConnected(ConnectionRole),
    /// Event 18 TcpConnectionFails: the connection attempt failed or the connection closed
    /// (read returned 0, reset, write error).
    TcpFailed,
    /// A decoded message: event 19 BGPOpen (OPEN), 24/25 NotifMsgVerErr/NotifMsg
    /// (NOTIFICATION), 26 KeepAliveMsg (KEEPALIVE), 27 UpdateMsg (UPDATE, including one
    /// with RFC 7606 treat-as-withdraw or attribute-discard outcomes in `Update::errors`),
    /// and ROUTE-REFRESH (RFC 2918, not an RFC 4271 event). `Session::feed_bytes` produces
    /// these from the byte stream.
    Message(Message),
    /// Event 21 BGPHeaderErr, 22 BGPOpenMsgErr or 28 UpdateMsgErr: a message that failed
    /// to frame or decode. The NOTIFICATION it carries is sent and the session resets
    /// (RFC 4271 section 6, RFC 7606 section 2 "session reset").
    DecodeError(DecodeError),
    /// Event 23 OpenCollisionDump: this connection lost collision resolution (section
    /// 6.8): the other session emitted `Output::CollisionWon` (or `collision::resolve`
    /// said so). Cease / Connection
    /// Collision Resolution, then Idle. An Established session dumped because the peer
    /// restarted keeps the peer's routes if graceful restart was negotiated (RFC 4724
    /// section 4.2).
    CollisionDump,
    /// A liveness monitor of the forwarding path (BFD, RFC 5882 section 4.3) says the path
    /// to the peer is down; `source` names it for logs. A session past Connect goes down at
    /// once, without NOTIFICATION (it would not arrive), and an Established session's routes
    /// are withdrawn, not retained for graceful restart: they point into a dead path (RFC
    /// 5882 section 4.3.1). The session goes Idle and restarts after the idle hold backoff.
    PathDown {
        /// Who said so (`bfd`).
        source: &'static str,
    },
    /// The liveness monitor says the path works again: a session waiting to retry (Idle
    /// after an error, or Connect/Active before its ConnectRetryTimer) tries now instead of
    /// after its backoff, so that BGP follows BFD back up within a round trip.
    PathUp,
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// We sent this NOTIFICATION; `detail` says why, for logs.
    NotificationSent {
        /// The NOTIFICATION.
        notification: Notification,
        /// Why it was sent.
        detail: String,
    },
    /// The peer sent this NOTIFICATION.
    NotificationReceived(Notification),
    /// The TCP connection closed or failed without a NOTIFICATION.
    ConnectionLost,
    /// We stopped and closed without a NOTIFICATION for graceful restart (RFC 4724).
    GracefulStop,
    /// A liveness monitor (`source`, e.g. BFD) said the forwarding path is down.
    PathDown {
        /// The monitor.
        source: &'static str,
    },
}

impl DownReason {
    /// The NOTIFICATION involved, sent or received.
    pub fn notification(&self) -> Option<&Notification> {
        match self {
            DownReason::NotificationSent { notification, .. }
            | DownReason::NotificationReceived(notification) => Some(notification),
            DownReason::ConnectionLost | DownReason::GracefulStop | DownReason::PathDown { .. } => {
                None
            }
        }
    }
}

impl fmt::Display for DownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownReason::NotificationSent {
                notification,
                detail,
            } => write!(f, "sent {notification} ({detail})"),
            DownReason::NotificationReceived(n) => write!(f, "received {n}"),
            DownReason::ConnectionLost => f.write_str("connection lost"),
            DownReason::GracefulStop => f.write_str("stopped for graceful restart"),
            DownReason::PathDown { source } => write!(f, "forwarding path down ({source})"),
        }
    }
}

/// An action for the driver, in order (drain with `Session::poll_output` after every call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Start an outgoing TCP connection to the peer, abandoning any attempt in progress;
    /// report `Input::TcpConnected(Outgoing)` or `Input::TcpFailed`.
    Connect,
    /// Write these bytes (one encoded message) to the connection.
    Send(Bytes),
    /// Close the connection (after writing what was sent before), or abandon the
    /// connection attempt.
    CloseConnection,
    /// The session entered Established with these parameters: start sending the table.
    Established(Box<Negotiated>),
    /// A connection that had reached OpenSent or later went away.
    Down {
        /// Why.
        reason: DownReason,
        /// The session was Established: the routing layer withdraws (or marks stale) the
        /// peer's routes.
        was_established: bool,
        /// Graceful restart applies (RFC 4724 section 4.2, RFC 8538 section 4): keep the
        /// peer's routes as stale for its restart time instead of withdrawing them.
        retain_routes: bool,
    },
    /// An UPDATE for the routing layer (Established only).
    Update(Box<Update>),
    /// A ROUTE-REFRESH for the routing layer (Established, negotiated family only).
    RouteRefresh(RouteRefresh),
    /// This connection won a collision (RFC 4271 section 6.8) on receipt of the peer's
    /// OPEN, against the rival given with `Session::set_rival`: send
    /// `Input::CollisionDump` to the peer's other session; if this session was created
    /// with `Session::incoming`, promote it to be the peer's session.
    CollisionWon,
    /// The state changed.
    StateChange {
        /// The old state.
        from: State,
        /// The new state.
        to: State,
    },
}
