//! A tap on the sessions for monitors (BMP, RFC 7854; an MRT update log): peers coming up
//! and going down, UPDATEs as received (before import policy) and as sent. The peer tasks
//! report here; a monitor subscribes an [`Observer`].
//!
//! Observers are called on the peer tasks, in line with routing: they must not block or do
//! real work there (a BMP exporter copies what it needs into its own bounded queue and
//! drops and resynchronises when it is full), and must not subscribe from inside
//! `observe` (the list is locked for reading then). With no observer subscribed, reporting
//! is one atomic load.
//!
//! Known limits: a subscriber learns of sessions that come up after it subscribed, not of
//! those already up (the daemon subscribes BMP before any session starts); and `Sent`
//! comes from the connection's writer task, so a write that ends as the session goes down
//! may be reported just after its `PeerDown`; once the connection's queue is closed
//! nothing more is reported.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use bgp_wire::{Open, Update};

use crate::exchange::commands::CommandSender;
use crate::exchange::PeerKey;
use crate::session::{DownReason, Negotiated};

/// What happened on a session.
#[derive(Debug)]
pub enum Observed<'a> {
    /// The session reached Established.
    PeerUp {
        /// The session.
        key: PeerKey,
        /// The neighbor's configured name.
        name: &'a str,
        /// The peer's address.
        address: IpAddr,
        /// Our address on the connection.
        local_address: Option<IpAddr>,
        /// Both ends of the connection (ours, the peer's), when the socket still knew them.
        endpoints: Option<(SocketAddr, SocketAddr)>,
        /// The OPEN we sent and the OPEN we received.
        opens: (&'a Open, &'a Open),
        /// What the OPEN exchange settled.
        negotiated: &'a Negotiated,
        /// The peer task's commands (a monitor asks for a route refresh with them).
        commands: &'a CommandSender,
    },
    /// An Established session went down.
    PeerDown {
        /// The session.
        key: PeerKey,
        /// Why.
        reason: &'a DownReason,
    },
    /// An UPDATE from the peer, decoded, before import checks and policy (the pre-policy
    /// Adj-RIB-In of RFC 7854).
    Received {
        /// The session.
        key: PeerKey,
        /// The message.
        update: &'a Update,
    },
    /// Whole UPDATE messages (and End-of-RIB markers) as written to the peer (its
    /// Adj-RIB-Out, RFC 8671).
    Sent {
        /// The session.
        key: PeerKey,
        /// One or more encoded messages.
        messages: &'a [u8],
    },
}

/// A monitor of the sessions.
pub trait Observer: Send + Sync {
    /// Called for every event, on the reporting task: return at once.
    fn observe(&self, event: &Observed<'_>);
}

/// The subscribed observers; cloned into every peer task.
#[derive(Clone, Default)]
pub struct Observers {
    list: Arc<RwLock<Vec<Arc<dyn Observer>>>>,
    any: Arc<AtomicBool>,
}

impl std::fmt::Debug for Observers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observers")
            .field("any", &self.is_watched())
            .finish()
    }
}

impl Observers {
    /// Adds a monitor; it sees events from now on.
    pub fn subscribe(&self, observer: Arc<dyn Observer>) {
        let mut list = self.list.write().unwrap_or_else(|e| e.into_inner());
        list.push(observer);
        self.any.store(true, Ordering::Release);
    }

    /// Whether anyone listens: callers skip building an event otherwise.
    #[inline]
    pub fn is_watched(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    /// Reports an event to every observer.
    #[inline]
    pub fn report(&self, event: &Observed<'_>) {
        if !self.is_watched() {
            return;
        }
        let list = self.list.read().unwrap_or_else(|e| e.into_inner());
        for o in list.iter() {
            o.observe(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Observer for Count {
        fn observe(&self, _: &Observed<'_>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn every_subscriber_sees_every_event_after_it_subscribed() {
        let observers = Observers::default();
        let sent = Observed::Sent {
            key: 1,
            messages: &[],
        };
        observers.report(&sent);
        assert!(!observers.is_watched());
        let (a, b) = (Arc::new(Count::default()), Arc::new(Count::default()));
        observers.subscribe(a.clone());
        observers.clone().report(&sent);
        observers.subscribe(b.clone());
        observers.report(&sent);
        assert_eq!(a.0.load(Ordering::Relaxed), 2);
        assert_eq!(b.0.load(Ordering::Relaxed), 1);
    }
}
