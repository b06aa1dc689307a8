//! The observer side of BMP: turns session events into BMP messages, once for every
//! collector, and keeps each connected collector's bounded queue.
//!
//! Called on the peer tasks (see `observe`): it encodes and queues, and never waits for a
//! collector. A queue that would pass its limit is emptied and marked overflowed; its
//! collector task then starts the collector over (Termination, reconnect, full sync).
//! Everything happens under one lock, so a collector that attaches gets the Peer Ups of
//! the sessions up at that moment and then exactly the events after them, in order.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use bgp_wire::bmp::{self, flag, PeerDownReason, PeerHeader};
use bgp_wire::{encode_to_bytes, encode_update, Context, Message};
use bytes::{Bytes, BytesMut};
use tokio::sync::Notify;

use crate::exchange::commands::CommandSender;
use crate::exchange::PeerKey;
use crate::observe::{Observed, Observer};
use crate::session::DownReason;

/// FSM events (RFC 4271 section 8.1) named in a Peer Down without NOTIFICATION.
const EVENT_MANUAL_STOP: u16 = 2;
const EVENT_TCP_CONNECTION_FAILS: u16 = 18;

/// Counters of one collector, read by metrics.
#[derive(Debug, Default)]
pub struct CollectorCounters {
    /// Connected and synchronised.
    pub up: AtomicBool,
    /// Messages written to the collector.
    pub messages: AtomicU64,
    /// Messages dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Times the collector was started over after its queue overflowed.
    pub resyncs: AtomicU64,
    /// Bytes waiting in the queue.
    pub queued_bytes: AtomicU64,
}

/// One session as BMP describes it.
struct PeerInfo {
    /// Address, AS and BGP ID; flags and time are set per message.
    header: PeerHeader,
    /// How the peer's UPDATEs are encoded towards us (4-byte AS, ADD-PATH receive).
    received: Context,
    /// The A flag: its AS_PATHs are 2-byte.
    legacy_as_path: u8,
    /// The Peer Up message, sent again to a collector that attaches later.
    peer_up: Bytes,
    /// For a route refresh when a collector attaches.
    commands: CommandSender,
    route_refresh: bool,
}

/// One collector's queue.
struct Queue {
    id: u64,
    adj_rib_out: bool,
    limit: usize,
    messages: VecDeque<Bytes>,
    bytes: usize,
    overflowed: bool,
    ready: Arc<Notify>,
    counters: Arc<CollectorCounters>,
}

impl Queue {
    fn push(&mut self, message: Bytes) {
        if self.overflowed {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.bytes + message.len() > self.limit {
            // Drop everything: the collector is started over and synchronised again.
            let dropped = self.messages.len() as u64 + 1;
            self.counters.dropped.fetch_add(dropped, Ordering::Relaxed);
            self.messages.clear();
            self.bytes = 0;
            self.overflowed = true;
        } else {
            self.bytes += message.len();
            self.messages.push_back(message);
        }
        self.counters
            .queued_bytes
            .store(self.bytes as u64, Ordering::Relaxed);
        self.ready.notify_one();
    }
}

#[derive(Default)]
struct State {
    peers: HashMap<PeerKey, PeerInfo>,
    queues: Vec<Queue>,
}

/// What a collector task takes from its queue.
pub(super) struct Taken {
    /// The messages, in order.
    pub messages: Vec<Bytes>,
    /// The queue overflowed: start the collector over.
    pub overflowed: bool,
}

/// The BMP observer: subscribed once, feeds every attached collector.
#[derive(Default)]
pub struct Monitor {
    state: Mutex<State>,
    /// Some collector is attached: without one, events cost one atomic load.
    attached: AtomicBool,
}

/// A session's statistics (RFC 7854 section 4.8) for one report.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct PeerStats {
    /// Routes in its Adj-RIB-In (kept after import policy).
    pub adj_rib_in: u64,
    /// Routes in its post-policy Adj-RIB-Out.
    pub adj_rib_out: u64,
}

/// A collector's place in the monitor.
pub(super) struct Attach {
    pub id: u64,
    pub adj_rib_out: bool,
    pub limit: usize,
    pub ready: Arc<Notify>,
    pub counters: Arc<CollectorCounters>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("attached", &self.attached.load(Ordering::Relaxed))
            .finish()
    }
}

impl Monitor {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Attaches a connected collector: queues the Peer Up of every session up now, and
    /// returns the sessions to ask for a route refresh (their pre-policy Adj-RIB-In is not
    /// kept here) and how many cannot be asked (no route refresh capability).
    pub(super) fn attach(&self, a: Attach) -> (Vec<CommandSender>, usize) {
        let mut state = self.lock();
        state.queues.retain(|q| q.id != a.id);
        let mut queue = Queue {
            id: a.id,
            adj_rib_out: a.adj_rib_out,
            limit: a.limit,
            messages: VecDeque::new(),
            bytes: 0,
            overflowed: false,
            ready: a.ready,
            counters: a.counters,
        };
        let mut refresh = Vec::new();
        let mut cannot = 0;
        let mut peers: Vec<_> = state.peers.iter().collect();
        peers.sort_by_key(|(k, _)| **k);
        for (_, p) in peers {
            queue.push(p.peer_up.clone());
            if p.route_refresh {
                refresh.push(p.commands.clone());
            } else {
                cannot += 1;
            }
        }
        state.queues.push(queue);
        self.attached.store(true, Ordering::Release);
        (refresh, cannot)
    }

    /// Detaches a collector: nothing more is queued for it.
    pub(super) fn detach(&self, id: u64) {
        let mut state = self.lock();
        state.queues.retain(|q| q.id != id);
        self.attached
            .store(!state.queues.is_empty(), Ordering::Release);
    }

    /// Takes what is queued for collector `id`.
    pub(super) fn take(&self, id: u64) -> Taken {
        let mut state = self.lock();
        let Some(q) = state.queues.iter_mut().find(|q| q.id == id) else {
            return Taken {
                messages: Vec::new(),
                overflowed: false,
            };
        };
        q.bytes = 0;
        q.counters.queued_bytes.store(0, Ordering::Relaxed);
        Taken {
            messages: q.messages.drain(..).collect(),
            overflowed: q.overflowed,
        }
    }

    /// Queues a Statistics Report per session for collector `id`; `stats` gives each
    /// session's numbers.
    pub(super) fn queue_statistics(&self, id: u64, stats: &HashMap<PeerKey, PeerStats>) {
        let mut state = self.lock();
        let now = SystemTime::now();
        let mut reports = Vec::new();
        let mut peers: Vec<_> = state.peers.iter().collect();
        peers.sort_by_key(|(k, _)| **k);
        for (key, p) in peers {
            let s = stats.get(key).copied().unwrap_or_default();
            let list = [
                bmp::Stat::Gauge(bmp::stat::ADJ_RIB_IN_ROUTES, s.adj_rib_in),
                bmp::Stat::Gauge(bmp::stat::ADJ_RIB_OUT_POST_POLICY_ROUTES, s.adj_rib_out),
            ];
            let mut out = BytesMut::new();
            if bmp::encode_statistics(&p.header.with(0, now), &list, &mut out).is_ok() {
                reports.push(out.freeze());
            }
        }
        if let Some(q) = state.queues.iter_mut().find(|q| q.id == id) {
            for r in reports {
                q.push(r);
            }
        }
    }

    fn peer_up(&self, key: PeerKey, event: &Observed<'_>) {
        let Observed::PeerUp {
            address,
            endpoints,
            opens,
            negotiated,
            commands,
            ..
        } = event
        else {
            return;
        };
        let header = PeerHeader {
            flags: 0,
            address: *address,
            asn: negotiated.peer_as,
            bgp_id: negotiated.peer_id,
            timestamp: SystemTime::now(),
        };
        let (local, remote_port) = match endpoints {
            Some((local, remote)) => ((local.ip(), local.port()), remote.port()),
            None => ((IpAddr::from(Ipv4Addr::UNSPECIFIED), 0), 0),
        };
        let sent = encode_to_bytes(&Message::Open(opens.0.clone()), &Context::BASIC);
        let received = encode_to_bytes(&Message::Open(opens.1.clone()), &Context::BASIC);
        let mut out = BytesMut::new();
        let (Ok(sent), Ok(received)) = (sent, received) else {
            return;
        };
        if bmp::encode_peer_up(&header, local, remote_port, &sent, &received, &mut out).is_err() {
            return;
        }
        let info = PeerInfo {
            header,
            received: Context {
                four_octet_as: negotiated.four_octet_as,
                add_path: negotiated.add_path_receive,
                extended_message: negotiated.extended_message,
                ebgp: negotiated.ebgp,
            },
            legacy_as_path: if negotiated.four_octet_as {
                0
            } else {
                flag::LEGACY_AS_PATH
            },
            peer_up: out.freeze(),
            commands: (*commands).clone(),
            route_refresh: negotiated.route_refresh,
        };
        let mut state = self.lock();
        for q in &mut state.queues {
            q.push(info.peer_up.clone());
        }
        state.peers.insert(key, info);
    }
}

/// The Peer Down reason of RFC 7854 section 4.9, with the NOTIFICATION encoded.
fn peer_down_message(header: &PeerHeader, reason: &DownReason) -> Option<Bytes> {
    let notification = reason
        .notification()
        .and_then(|n| encode_to_bytes(&Message::Notification(n.clone()), &Context::BASIC).ok());
    let reason = match (reason, notification.as_deref()) {
        (DownReason::NotificationSent { .. }, Some(n)) => PeerDownReason::LocalNotification(n),
        (DownReason::NotificationReceived(_), Some(n)) => PeerDownReason::RemoteNotification(n),
        (DownReason::GracefulStop, _) => PeerDownReason::LocalNoNotification(EVENT_MANUAL_STOP),
        // A liveness monitor (BFD) saw the path fail: we closed without a NOTIFICATION.
        (DownReason::PathDown { .. }, _) => {
            PeerDownReason::LocalNoNotification(EVENT_TCP_CONNECTION_FAILS)
        }
        _ => PeerDownReason::RemoteNoNotification,
    };
    let mut out = BytesMut::new();
    bmp::encode_peer_down(&header.with(0, SystemTime::now()), reason, &mut out).ok()?;
    Some(out.freeze())
}

/// Each whole BGP message in `bytes` (as a writer wrote them).
fn messages(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.len() < bgp_wire::HEADER_LEN {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        if len < bgp_wire::HEADER_LEN || len > rest.len() {
            return None;
        }
        let (m, r) = rest.split_at(len);
        rest = r;
        Some(m)
    })
}

impl Observer for Monitor {
    fn observe(&self, event: &Observed<'_>) {
        // Nobody listens: UPDATEs are not encoded (a collector that attaches asks for a
        // route refresh). Peer Up and Down always take the lock: the session table is kept
        // for the next collector, and a Peer Down racing an attach must not be lost after
        // its Peer Up was queued.
        if !self.attached.load(Ordering::Acquire)
            && matches!(event, Observed::Received { .. } | Observed::Sent { .. })
        {
            return;
        }
        match event {
            Observed::PeerUp { key, .. } => self.peer_up(*key, event),
            Observed::PeerDown { key, reason } => {
                let mut state = self.lock();
                let Some(info) = state.peers.remove(key) else {
                    return;
                };
                if let Some(m) = peer_down_message(&info.header, reason) {
                    for q in &mut state.queues {
                        q.push(m.clone());
                    }
                }
            }
            Observed::Received { key, update } => {
                let mut state = self.lock();
                let Some(info) = state.peers.get(key) else {
                    return;
                };
                let mut pdu = BytesMut::new();
                if encode_update(update, &info.received, &mut pdu).is_err() {
                    return;
                }
                // Pre-policy Adj-RIB-In: the L and O flags clear.
                let header = info.header.with(info.legacy_as_path, SystemTime::now());
                let mut out = BytesMut::with_capacity(pdu.len() + 48);
                if bmp::encode_route_monitoring(&header, &pdu, &mut out).is_err() {
                    return;
                }
                let m = out.freeze();
                for q in &mut state.queues {
                    q.push(m.clone());
                }
            }
            Observed::Sent {
                key,
                messages: sent,
            } => {
                let mut state = self.lock();
                if !state.queues.iter().any(|q| q.adj_rib_out) {
                    return;
                }
                let Some(info) = state.peers.get(key) else {
                    return;
                };
                // RFC 8671: what was sent is the post-policy Adj-RIB-Out (O and L set). The
                // A flag follows the session: our UPDATEs to a 2-byte peer are 2-byte too.
                let flags = flag::ADJ_RIB_OUT | flag::POST_POLICY | info.legacy_as_path;
                let header = info.header.with(flags, SystemTime::now());
                let mut out = BytesMut::new();
                for m in messages(sent).filter(|m| m[18] == bgp_wire::kind::UPDATE) {
                    if bmp::encode_route_monitoring(&header, m, &mut out).is_err() {
                        return;
                    }
                }
                if out.is_empty() {
                    return;
                }
                let m = out.freeze();
                for q in state.queues.iter_mut().filter(|q| q.adj_rib_out) {
                    q.push(m.clone());
                }
            }
        }
    }
}
