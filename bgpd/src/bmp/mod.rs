//! BMP, the BGP Monitoring Protocol (RFC 7854, RFC 8671 Adj-RIB-Out): bgpd connects to
//! every `[[bmp]]` collector and streams Peer Up/Down (with both OPENs), Route Monitoring
//! of each session's pre-policy Adj-RIB-In (and, with `adj_rib_out`, what is sent to it),
//! Statistics Reports, and Termination when it stops.
//!
//! `monitor.rs` is the observer (subscribed on `observe::Observers` before any session
//! starts): it encodes each event once and queues it for every connected collector, in a
//! bounded queue; `collector.rs` is one task per collector. Routing never waits for a
//! collector: a full queue is dropped and that collector is started over.

mod collector;
mod monitor;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::observe::Observers;
use crate::routing::RoutingInput;
use collector::{Collector, Stop};
pub use monitor::{CollectorCounters, Monitor};

/// How many bytes may wait for one collector before it is started over.
pub const QUEUE_LIMIT: usize = 64 << 20;

struct Running {
    config: config::Bmp,
    stop: watch::Sender<Stop>,
    task: JoinHandle<()>,
    counters: Arc<CollectorCounters>,
}

/// A collector's numbers, for metrics.
#[derive(Debug, Clone)]
pub struct CollectorStatus {
    /// Its address.
    pub address: SocketAddr,
    /// Connected.
    pub up: bool,
    /// Messages written.
    pub messages: u64,
    /// Messages dropped because its queue was full.
    pub dropped: u64,
    /// Times it was started over after an overflow.
    pub resyncs: u64,
    /// Bytes waiting.
    pub queued_bytes: u64,
}

/// The BMP collectors.
pub struct Bmp {
    monitor: Arc<Monitor>,
    routing: mpsc::Sender<RoutingInput>,
    sys: Arc<(String, String)>,
    queue_limit: usize,
    next_id: u64,
    running: HashMap<SocketAddr, Running>,
}

impl std::fmt::Debug for Bmp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bmp")
            .field("collectors", &self.running.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Bmp {
    /// Subscribes the monitor; no collector yet. `router` names us in the Initiation.
    pub fn new(
        observers: &Observers,
        routing: mpsc::Sender<RoutingInput>,
        router: &config::Global,
    ) -> Bmp {
        let monitor = Arc::new(Monitor::default());
        observers.subscribe(monitor.clone());
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        let name = if host.is_empty() {
            router.router_id.get().to_string()
        } else {
            host
        };
        let descr = format!(
            "bgpd {} (AS {}, router id {})",
            env!("CARGO_PKG_VERSION"),
            router.asn,
            router.router_id.get()
        );
        Bmp {
            monitor,
            routing,
            sys: Arc::new((descr, name)),
            queue_limit: QUEUE_LIMIT,
            next_id: 1,
            running: HashMap::new(),
        }
    }

    /// Sets the per-collector queue limit for collectors started from now on.
    pub fn set_queue_limit(&mut self, bytes: usize) {
        self.queue_limit = bytes;
    }

    /// Starts the collectors in `wanted` that are not running, stops the others; a
    /// collector whose settings changed is started over.
    pub fn configure(&mut self, wanted: &[config::Bmp]) {
        let gone: Vec<(SocketAddr, Stop)> = self
            .running
            .iter()
            .filter(|(a, r)| !wanted.iter().any(|w| w.address == **a && *w == r.config))
            .map(|(a, _)| {
                let changed = wanted.iter().any(|w| w.address == *a);
                (
                    *a,
                    if changed {
                        Stop::Restart
                    } else {
                        Stop::Removed
                    },
                )
            })
            .collect();
        for (a, why) in gone {
            if let Some(r) = self.running.remove(&a) {
                let _ = r.stop.send(why);
            }
        }
        for w in wanted {
            if self.running.contains_key(&w.address) {
                continue;
            }
            let counters = Arc::new(CollectorCounters::default());
            let (stop, stop_rx) = watch::channel(Stop::Run);
            let c = Collector {
                id: self.next_id,
                config: w.clone(),
                queue_limit: self.queue_limit,
                monitor: self.monitor.clone(),
                routing: self.routing.clone(),
                sys: self.sys.clone(),
                counters: counters.clone(),
            };
            self.next_id += 1;
            let task = tokio::spawn(c.run(stop_rx));
            self.running.insert(
                w.address,
                Running {
                    config: w.clone(),
                    stop,
                    task,
                    counters,
                },
            );
        }
    }

    /// Flushes every collector's queue and says Termination; waits at most a second.
    pub async fn shutdown(&mut self) {
        let running: Vec<Running> = self.running.drain().map(|(_, r)| r).collect();
        for r in &running {
            let _ = r.stop.send(Stop::Shutdown);
        }
        let all = futures_join(running.into_iter().map(|r| r.task));
        let _ = tokio::time::timeout(Duration::from_secs(1), all).await;
    }

    /// Every collector's numbers.
    pub fn status(&self) -> Vec<CollectorStatus> {
        let mut v: Vec<CollectorStatus> = self
            .running
            .iter()
            .map(|(a, r)| CollectorStatus {
                address: *a,
                up: r.counters.up.load(Ordering::Relaxed),
                messages: r.counters.messages.load(Ordering::Relaxed),
                dropped: r.counters.dropped.load(Ordering::Relaxed),
                resyncs: r.counters.resyncs.load(Ordering::Relaxed),
                queued_bytes: r.counters.queued_bytes.load(Ordering::Relaxed),
            })
            .collect();
        v.sort_by_key(|s| s.address);
        v
    }
}

async fn futures_join(tasks: impl Iterator<Item = JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}
