//! The kernel FIB: installs the routes the decision process selected into a Linux routing
//! table over netlink, and tells the decision process which next hops the kernel can reach.
//!
//! ```text
//! routing task ─ Fib::replace/delete/initial_sync_done ─► mailbox (latest per prefix)
//!                                                             │ doorbell
//!   NextHops::igp_cost ◄── NextHopTable ◄── watch ◄── kernel  ▼
//!   NextHopEvent::Changed ◄─────────────── FIB task ── Reconciler ── RTM_NEWROUTE/DELROUTE ─► kernel
//! ```
//!
//! - [`Fib::start`] dumps the kernel's links and routes, adopts the routes of our protocol
//!   (`bgp`, 186) left in the table by a previous run, and spawns the task. Adopted routes
//!   keep forwarding (graceful restart, RFC 4724 section 4.1: forwarding state is kept
//!   across the restart) until [`Fib::initial_sync_done`], which removes the ones not
//!   installed again. Replace semantics (`NLM_F_REPLACE`) and removal of adopted routes
//!   under another metric mean a prefix never has two of our routes.
//! - Requests are coalesced in a mailbox (only the latest per prefix is kept, so memory is
//!   bounded by the number of prefixes, and the routing task never waits), then sent in
//!   batches of up to [`netlink::BATCH_MESSAGES`] requests per `sendmsg`.
//! - Next hops are resolved against the kernel's non-BGP routes ([`nexthop`]): a BGP next hop
//!   on a connected network goes in as `via NH dev IF`, one reachable through another route
//!   (an iBGP loopback) as that route's gateway; an ECMP set as one `RTA_MULTIPATH` route;
//!   a route none of whose next hops resolves is not installed. When links or routes change,
//!   installed routes are re-resolved and [`NextHopEvent::Changed`] asks the routing task to
//!   re-run the decision with [`Fib::next_hops`] as its [`rib::Resolver`].
//! - Locally originated aggregates go in as blackholes when `blackhole_local` is set (what
//!   Calico does for its own blocks); otherwise [`FibRoute::Blackhole`] is not installed.
//! - When every [`Fib`] handle is dropped the task ends and leaves the routes in the kernel
//!   for the next run to adopt.

mod netlink;
pub mod nexthop;
mod reconcile;

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::channel::mpsc::UnboundedReceiver;
use futures::StreamExt;
use ipnet::IpNet;
use rtnetlink::packet_core::NetlinkMessage;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::sys::SocketAddr;
use rtnetlink::Handle;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

pub use nexthop::{Gateway, NextHopTable, NextHops, Resolved, RTPROT_BGP, RT_TABLE_MAIN};
use reconcile::{Coalescer, Reconciler, RouteOp};

/// Routes decided and sent per step; between steps the watch socket is drained.
const CHUNK: usize = 4096;

/// Kernel errors logged one by one per batch; the rest are only counted.
const LOGGED_ERRORS: usize = 10;

/// How the FIB programs the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FibConfig {
    /// Routing table (`[kernel] table`), 254 = main.
    pub table: u32,
    /// `rtm_protocol` of our routes: [`RTPROT_BGP`] (186). Routes of this protocol in
    /// `table` are ours: adopted at start, never used to resolve next hops.
    pub protocol: u8,
    /// `RTA_PRIORITY` of our routes. Not 0: a kernel `replace` matches on (prefix, tos,
    /// metric) whatever the protocol, and connected and static routes have metric 0, so a
    /// BGP route for the same prefix must not share it. 20, as FRR's BGP routes.
    pub metric: u32,
    /// Install [`FibRoute::Blackhole`] routes (locally originated aggregates).
    pub blackhole_local: bool,
    /// Let the default route resolve next hops (off, as FRR's `resolve-via-default`).
    pub resolve_via_default: bool,
}

impl FibConfig {
    /// Defaults for `table`: protocol 186, metric 20, no blackholes, no default route.
    pub fn new(table: u32) -> FibConfig {
        FibConfig {
            table,
            protocol: RTPROT_BGP,
            metric: 20,
            blackhole_local: false,
            resolve_via_default: false,
        }
    }
}

/// A route for the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FibRoute {
    /// Forward to the selected paths' BGP next hops: the ECMP set, best first.
    Unicast {
        /// Destination (host bits are ignored).
        prefix: IpNet,
        /// BGP next hops; each is resolved to gateway(s) on connected networks (an IPv6
        /// one with a link-local address is forwarded to over that address).
        next_hops: Vec<bgp_wire::attr::NextHop>,
    },
    /// Drop: a locally originated aggregate (only with [`FibConfig::blackhole_local`]).
    Blackhole {
        /// Destination (host bits are ignored).
        prefix: IpNet,
    },
}

impl FibRoute {
    /// The destination, host bits cleared.
    pub fn prefix(&self) -> IpNet {
        match self {
            FibRoute::Unicast { prefix, .. } | FibRoute::Blackhole { prefix } => prefix.trunc(),
        }
    }
}

/// What the FIB tells the routing task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextHopEvent {
    /// A link or a kernel route changed: next-hop reachability or cost may differ; re-run
    /// the decision (RFC 4271 section 9.1.2) with [`Fib::next_hops`].
    Changed,
}

/// Counters and sizes, for `bgpctl` and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FibStats {
    /// `replace`/`delete` calls received (coalesced ones included).
    pub requests: u64,
    /// Routes installed or replaced in the kernel.
    pub installs: u64,
    /// Routes removed from the kernel.
    pub removes: u64,
    /// Netlink requests the kernel refused.
    pub errors: u64,
    /// Mailbox batches processed.
    pub batches: u64,
    /// Routes adopted from a previous run at start.
    pub adopted_at_start: u64,
    /// Full re-reads of the kernel's links and routes after a lost notification.
    pub resyncs: u64,
    /// Kernel requests of the last batch and how long it took (throughput).
    pub last_batch_requests: u64,
    /// See `last_batch_requests`.
    pub last_batch_micros: u64,
    /// Prefixes wanted (set by [`Fib::flush`]).
    pub wanted: usize,
    /// Prefixes installed (set by [`Fib::flush`]).
    pub installed: usize,
    /// Prefixes not installed because no next hop resolves (set by [`Fib::flush`]).
    pub unresolved: usize,
    /// Adopted routes still waiting for `initial_sync_done` (set by [`Fib::flush`]).
    pub adopted: usize,
    /// Distinct ECMP next-hop sets (set by [`Fib::flush`]).
    pub next_hop_sets: usize,
    /// `initial_sync_done` has been processed.
    pub synced: bool,
}

#[derive(Debug, Default)]
struct Mailbox {
    ops: Coalescer,
    sync_done: bool,
    waiters: Vec<oneshot::Sender<FibStats>>,
}

#[derive(Debug, Default)]
struct Shared {
    mailbox: Mutex<Mailbox>,
    stats: Mutex<FibStats>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The handle to the FIB task. Cheap to clone; every call returns at once.
#[derive(Debug, Clone)]
pub struct Fib {
    shared: Arc<Shared>,
    doorbell: mpsc::Sender<()>,
    next_hops: NextHops,
}

impl Fib {
    /// Read the kernel's links and routes, adopt our routes left in `config.table`, and
    /// spawn the FIB task (on the current tokio runtime, in the caller's network
    /// namespace). The receiver gets [`NextHopEvent`]s.
    pub async fn start(config: FibConfig) -> io::Result<(Fib, mpsc::Receiver<NextHopEvent>)> {
        let handle = netlink::connect()?;
        // Subscribe before dumping, so no change falls between the two.
        let watch = netlink::watch()?;
        let next_hops = NextHops::new(NextHopTable::new(
            config.table,
            config.protocol,
            config.resolve_via_default,
        ));
        let mut rec = Reconciler::new(config.metric, config.blackhole_local);
        let adopted = load(&handle, &config, &next_hops, Some(&mut rec)).await?;
        let shared = Arc::new(Shared::default());
        lock(&shared.stats).adopted_at_start = adopted;
        let (doorbell, bell) = mpsc::channel(1);
        let (events, events_rx) = mpsc::channel(1);
        info!(
            table = config.table,
            adopted, "fib: started, {adopted} route(s) of a previous run adopted"
        );
        let task = Task {
            target: netlink::Target {
                table: config.table,
                protocol: config.protocol,
                metric: config.metric,
            },
            config,
            handle,
            requests: netlink::Requests::new()?,
            watch,
            next_hops: next_hops.clone(),
            rec,
            shared: shared.clone(),
            bell,
            events,
            resync: false,
            nh_dirty: false,
        };
        tokio::spawn(task.run());
        Ok((
            Fib {
                shared,
                doorbell,
                next_hops,
            },
            events_rx,
        ))
    }

    fn post(&self, f: impl FnOnce(&mut Mailbox)) {
        f(&mut lock(&self.shared.mailbox));
        // Full: the task has a wake-up pending already. Closed: the task is gone.
        let _ = self.doorbell.try_send(());
    }

    /// Install `route`, or change the installed one (`NLM_F_REPLACE`). Never blocks.
    pub fn replace(&self, route: FibRoute) {
        self.post(|m| m.ops.replace(route));
    }

    /// Remove the route for `prefix`. Never blocks.
    pub fn delete(&self, prefix: IpNet) {
        self.post(|m| m.ops.delete(prefix));
    }

    /// The first full table is known (End-of-RIB from every peer, or a timer): adopted
    /// routes not installed again by now are removed. Later calls do nothing.
    pub fn initial_sync_done(&self) {
        self.post(|m| m.sync_done = true);
    }

    /// Wait until everything asked before is in the kernel; the stats after it.
    /// `None` when the task has ended.
    pub async fn flush(&self) -> Option<FibStats> {
        let (tx, rx) = oneshot::channel();
        self.post(|m| m.waiters.push(tx));
        rx.await.ok()
    }

    /// The counters as of the last batch (the sizes as of the last [`Fib::flush`]).
    pub fn stats(&self) -> FibStats {
        *lock(&self.shared.stats)
    }

    /// Next-hop reachability from the kernel, for the decision process.
    pub fn next_hops(&self) -> NextHops {
        self.next_hops.clone()
    }
}

/// Read links and routes into the next-hop table; with a reconciler, adopt our routes.
/// Returns how many were adopted.
async fn load(
    handle: &Handle,
    config: &FibConfig,
    next_hops: &NextHops,
    mut rec: Option<&mut Reconciler>,
) -> io::Result<u64> {
    let links = netlink::dump_links(handle).await?;
    let mut adopted = 0;
    let mut changes = Vec::new();
    netlink::dump_routes(handle, |m| {
        let Some(r) = netlink::parse_route(&m) else {
            return;
        };
        if r.table == config.table && r.protocol == config.protocol {
            if let Some(rec) = rec.as_deref_mut() {
                rec.adopt(r.prefix, r.metric);
                adopted += 1;
            }
        } else {
            changes.push(nexthop::KernelChange::RouteAdded(r));
        }
    })
    .await?;
    let mut table = next_hops.write();
    table.clear();
    for l in &links {
        table.apply(netlink::parse_link(l));
    }
    for c in changes {
        table.apply(c);
    }
    Ok(adopted)
}

struct Task {
    config: FibConfig,
    target: netlink::Target,
    handle: Handle,
    requests: netlink::Requests,
    watch: UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>,
    next_hops: NextHops,
    rec: Reconciler,
    shared: Arc<Shared>,
    bell: mpsc::Receiver<()>,
    events: mpsc::Sender<NextHopEvent>,
    /// A notification was lost: read everything again.
    resync: bool,
    /// The next-hop table changed since installed routes were last re-resolved.
    nh_dirty: bool,
}

impl Task {
    async fn run(mut self) {
        let mut closing = false;
        loop {
            tokio::select! {
                msg = self.watch.next() => match msg {
                    Some((m, _)) => self.watched(m),
                    None => self.rewatch(),
                },
                bell = self.bell.recv() => closing = bell.is_none(),
            }
            self.drain_watch();
            self.settle().await;
            self.process_mailbox().await;
            if closing {
                debug!("fib: every handle dropped, task ends; routes stay in the kernel");
                return;
            }
        }
    }

    /// The watch socket closed: open a new one and read everything again.
    fn rewatch(&mut self) {
        match netlink::watch() {
            Ok(w) => {
                warn!("fib: kernel watch socket closed, reopened");
                self.watch = w;
                self.resync = true;
            }
            Err(e) => warn!("fib: kernel watch socket closed and cannot be reopened: {e}"),
        }
    }

    fn watched(&mut self, m: NetlinkMessage<RouteNetlinkMessage>) {
        match netlink::watched(m) {
            netlink::Watched::Change(c) => {
                if self.next_hops.write().apply(c) {
                    self.nh_dirty = true;
                }
            }
            netlink::Watched::Overrun => self.resync = true,
            netlink::Watched::Ignore => {}
        }
    }

    /// Apply every queued kernel notification without waiting.
    fn drain_watch(&mut self) {
        while let Ok((m, _)) = self.watch.try_recv() {
            self.watched(m);
        }
    }

    /// Bring the next-hop table up to date and re-resolve installed routes.
    async fn settle(&mut self) {
        if self.resync {
            self.resync = false;
            lock(&self.shared.stats).resyncs += 1;
            warn!("fib: kernel notifications were lost, reading links and routes again");
            if let Err(e) = load(&self.handle, &self.config, &self.next_hops, None).await {
                warn!("fib: re-reading the kernel failed: {e}");
            }
            self.nh_dirty = true;
        }
        if !self.nh_dirty {
            return;
        }
        self.nh_dirty = false;
        // Full: an event is pending already. Closed: nobody listens.
        let _ = self.events.try_send(NextHopEvent::Changed);
        let mut actions = Vec::new();
        {
            let table = self.next_hops.read();
            self.rec
                .next_hops_changed(&|nh| table.resolve(nh), &mut actions);
        }
        if !actions.is_empty() {
            debug!("fib: next hops changed, {} route(s) updated", actions.len());
            self.execute(actions).await;
        }
    }

    async fn process_mailbox(&mut self) {
        loop {
            let (ops, sync_done, waiters, received) = {
                let mut m = lock(&self.shared.mailbox);
                let received = std::mem::take(&mut m.ops.received);
                (
                    m.ops.take(),
                    std::mem::take(&mut m.sync_done),
                    std::mem::take(&mut m.waiters),
                    received,
                )
            };
            if ops.is_empty() && !sync_done && waiters.is_empty() {
                return;
            }
            let started = Instant::now();
            let mut sent = 0u64;
            let prefixes = ops.len();
            let mut ops = ops.into_iter();
            loop {
                let mut actions = Vec::new();
                {
                    let table = self.next_hops.read();
                    let resolve = |nh| table.resolve(nh);
                    for (prefix, op) in ops.by_ref().take(CHUNK) {
                        self.rec.apply(prefix, op, &resolve, &mut actions);
                    }
                }
                if actions.is_empty() && ops.len() == 0 {
                    break;
                }
                sent += actions.len() as u64;
                self.execute(actions).await;
                // Keep up with the kernel's notifications (our own routes among them).
                self.drain_watch();
            }
            if sync_done && !self.rec.synced() {
                let mut actions = Vec::new();
                self.rec.sync_done(&mut actions);
                info!(
                    "fib: initial sync done, removing {} stale adopted route(s)",
                    actions.len()
                );
                sent += actions.len() as u64;
                self.execute(actions).await;
            }
            let elapsed = started.elapsed();
            self.batch_done(received, sent, elapsed, prefixes);
            if !waiters.is_empty() {
                let c = self.rec.counts();
                let stats = {
                    let mut s = lock(&self.shared.stats);
                    s.wanted = c.wanted;
                    s.installed = c.installed;
                    s.unresolved = c.unresolved;
                    s.adopted = c.adopted;
                    s.next_hop_sets = c.next_hop_sets;
                    *s
                };
                for w in waiters {
                    let _ = w.send(stats);
                }
            }
            // Changes seen while sending are handled before the next batch.
            self.settle().await;
        }
    }

    fn batch_done(&mut self, received: u64, sent: u64, elapsed: Duration, prefixes: usize) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let mut s = lock(&self.shared.stats);
        s.requests += received;
        s.batches += 1;
        s.synced = self.rec.synced();
        if sent > 0 {
            s.last_batch_requests = sent;
            s.last_batch_micros = micros;
        }
        if sent >= 10_000 {
            let rate = sent as f64 / elapsed.as_secs_f64().max(1e-6);
            info!(
                prefixes,
                requests = sent,
                ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
                "fib: batch of {sent} kernel request(s) in {:.3} s ({rate:.0}/s)",
                elapsed.as_secs_f64()
            );
        }
    }

    /// Send `actions` in batches; count the results and note failures.
    async fn execute(&mut self, actions: Vec<RouteOp>) {
        let target = self.target;
        let msgs = actions
            .iter()
            .map(|a| netlink::request_for(a, &target))
            .collect();
        let results = self.requests.send_all(msgs).await;
        let (mut installs, mut removes, mut errors) = (0u64, 0u64, 0u64);
        for (a, r) in actions.into_iter().zip(results) {
            match (r, &a) {
                (Ok(()), RouteOp::Install { .. }) => installs += 1,
                (Ok(()), RouteOp::Remove { .. }) => removes += 1,
                // Already gone: what we wanted.
                (Err(e), RouteOp::Remove { .. }) if e.raw_os_error() == Some(libc::ESRCH) => {
                    removes += 1
                }
                (Err(e), _) => {
                    errors += 1;
                    if errors <= LOGGED_ERRORS as u64 {
                        warn!("fib: kernel refused {a:?}: {e}");
                    }
                    self.rec.failed(&a);
                }
            }
        }
        if errors > LOGGED_ERRORS as u64 {
            warn!("fib: {errors} kernel request(s) refused in this batch");
        }
        let mut s = lock(&self.shared.stats);
        s.installs += installs;
        s.removes += removes;
        s.errors += errors;
    }
}
