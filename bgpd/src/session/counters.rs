//! Per-session counters for `bgpctl show neighbor` and Prometheus: messages in and out by
//! type, establishments and flaps, the last error, uptime.

use std::time::{Duration, Instant};

use bgp_wire::kind;

use super::event::DownReason;

/// Messages of each type (RFC 4271 section 4.1 types, RFC 2918 ROUTE-REFRESH).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageCounts {
    /// OPEN.
    pub open: u64,
    /// UPDATE.
    pub update: u64,
    /// NOTIFICATION.
    pub notification: u64,
    /// KEEPALIVE.
    pub keepalive: u64,
    /// ROUTE-REFRESH.
    pub route_refresh: u64,
}

impl MessageCounts {
    /// Counts `n` messages of a type code; unknown codes are not counted.
    pub fn add(&mut self, kind: u8, n: u64) {
        let slot = match kind {
            kind::OPEN => &mut self.open,
            kind::UPDATE => &mut self.update,
            kind::NOTIFICATION => &mut self.notification,
            kind::KEEPALIVE => &mut self.keepalive,
            kind::ROUTE_REFRESH => &mut self.route_refresh,
            _ => return,
        };
        *slot = slot.saturating_add(n);
    }

    /// All messages.
    pub fn total(&self) -> u64 {
        self.open
            .saturating_add(self.update)
            .saturating_add(self.notification)
            .saturating_add(self.keepalive)
            .saturating_add(self.route_refresh)
    }

    /// Each type with its metric label (`bgp_wire::kind_name`).
    pub fn by_name(&self) -> [(&'static str, u64); 5] {
        [
            ("open", self.open),
            ("update", self.update),
            ("notification", self.notification),
            ("keepalive", self.keepalive),
            ("route_refresh", self.route_refresh),
        ]
    }

    fn merge(&mut self, other: &MessageCounts) {
        self.open = self.open.saturating_add(other.open);
        self.update = self.update.saturating_add(other.update);
        self.notification = self.notification.saturating_add(other.notification);
        self.keepalive = self.keepalive.saturating_add(other.keepalive);
        self.route_refresh = self.route_refresh.saturating_add(other.route_refresh);
    }
}

/// What the daemon reads for `bgpctl` and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Messages received, by type.
    pub messages_in: MessageCounts,
    /// Messages sent, by type (including UPDATEs the daemon reports with
    /// `Session::updates_sent`).
    pub messages_out: MessageCounts,
    /// Transitions into Established.
    pub established: u64,
    /// Transitions out of Established (session flaps).
    pub flaps: u64,
    /// Outgoing connection attempts (`Output::Connect`).
    pub connect_attempts: u64,
    /// Since when the session is Established, while it is.
    pub established_since: Option<Instant>,
    /// When the state last changed.
    pub last_state_change: Option<Instant>,
    /// The last reason the session went down, and when.
    pub last_error: Option<(Instant, DownReason)>,
}

impl Counters {
    /// How long the session has been Established, at `now`.
    pub fn uptime(&self, now: Instant) -> Option<Duration> {
        self.established_since
            .map(|since| now.saturating_duration_since(since))
    }

    /// Adds another session's history to this one (the survivor of a collision takes over
    /// the counters of the session it replaces).
    pub fn absorb(&mut self, other: &Counters) {
        self.messages_in.merge(&other.messages_in);
        self.messages_out.merge(&other.messages_out);
        self.established = self.established.saturating_add(other.established);
        self.flaps = self.flaps.saturating_add(other.flaps);
        self.connect_attempts = self.connect_attempts.saturating_add(other.connect_attempts);
        if self.last_error.is_none() {
            self.last_error.clone_from(&other.last_error);
        }
    }
}
