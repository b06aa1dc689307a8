//! The routing task: sole owner of the tables. Peers send it what they imported; it runs
//! the decision, originates the configured aggregates, and exports every change once per
//! export group, the same bytes to every member.
//!
//! ```text
//! peer tasks ─► RoutingInput ─► Rib (decision) ─► dirty prefixes ─► export per group
//!                                   ▲                                  │ UpdatePacker
//!                      originate ───┘                                  ▼
//!                                                  members' writer queues (never waited on)
//! ```

mod calico;
mod dirty;
pub mod export;
mod fib_feed;
mod groups;
mod mrt;
mod originate;
mod peers;
mod query;
mod reflect;
mod restart;
mod task;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp_wire::{Family, RefreshSubtype};
use config::{Policy, PrefixLimit};
use rib::{PeerId, PeerInfo, Rib};
use tokio::sync::oneshot;
use tracing::info;

use crate::exchange::{ExportSettings, Imported, PeerKey};
use crate::session::Negotiated;
pub use calico::{NodeRoutes, Owner};
use dirty::Dirty;
use export::{Local, PeerKind};
use fib_feed::{FibFeed, FibResolver};
use groups::Groups;
pub use mrt::MrtDump;
use originate::Originator;
pub use query::{RestartStats, RibPath, RibView, RoutingQuery, RoutingReply, SessionCounts, Stats};
use restart::Deferral;
pub use restart::RestartPlan;

/// A session came up: everything the routing task needs to know to export to it.
#[derive(Debug, Clone)]
pub struct PeerUp {
    /// The peer's key.
    pub key: PeerKey,
    /// The neighbor's configured name.
    pub name: String,
    /// The peer's address.
    pub address: IpAddr,
    /// Our address on the session.
    pub local_address: Option<IpAddr>,
    /// Our link-local address on the session's link, sent beside an IPv6 next hop of ours
    /// (RFC 2545 section 3): set for a directly connected eBGP peer.
    pub link_local: Option<std::net::Ipv6Addr>,
    /// What the OPEN exchange settled.
    pub negotiated: Negotiated,
    /// How routes are exported to it.
    pub export: ExportSettings,
    /// The peer's update queue.
    pub updates: crate::exchange::updates::UpdateSender,
    /// Commands back to the peer task.
    pub commands: crate::exchange::commands::CommandSender,
    /// A Calico node's pools (its range has `calico`): its blocks are checked for
    /// conflicts with other nodes'.
    pub calico: Option<std::sync::Arc<config::Calico>>,
}

/// What peers and the daemon tell the routing task.
#[derive(Debug)]
pub enum RoutingInput {
    /// A session reached Established.
    PeerUp(Box<PeerUp>),
    /// A session left Established; with a non-zero `stale_for` (graceful restart) its
    /// routes are kept as stale that long.
    PeerDown {
        /// The peer.
        key: PeerKey,
        /// How long to keep the routes.
        stale_for: Duration,
        /// After that, how long to keep them as long-lived stale (RFC 9494); zero: none.
        llgr_for: Duration,
    },
    /// Routes from one UPDATE.
    Update {
        /// The peer.
        key: PeerKey,
        /// What the import produced.
        imported: Imported,
    },
    /// The peer asked for our routes again (RFC 2918, RFC 7313).
    RefreshRequest {
        /// The peer.
        key: PeerKey,
        /// The family.
        family: Family,
        /// Request, or an enhanced route refresh marker.
        subtype: RefreshSubtype,
    },
    /// A question from `bgpctl`.
    Query(RoutingQuery, oneshot::Sender<RoutingReply>),
    /// A reload changed how we export to this peer: move it to the right group, sending it
    /// what changes.
    Regroup {
        /// The peer.
        key: PeerKey,
        /// The new export settings.
        export: ExportSettings,
    },
    /// A reload changed a Calico node's pools (or added or removed `calico`).
    CalicoPools {
        /// The node's session.
        key: PeerKey,
        /// The new pools.
        pools: Option<std::sync::Arc<config::Calico>>,
    },
    /// A graceful stop (SIGTERM): let go of the kernel FIB, leaving its routes for the next
    /// run to adopt (RFC 4724: forwarding continues across the restart); the sessions
    /// closing afterwards must not remove them.
    DetachKernel(oneshot::Sender<()>),
    /// The FIB task saw links or routes change: next hops may have become (un)reachable.
    NextHopsChanged,
    /// A reload changed global routing settings.
    Globals {
        /// The new cluster ID.
        cluster_id: Ipv4Addr,
        /// The new `[[originate]]` entries.
        originate: Vec<config::Originate>,
    },
}

/// Global settings the routing task needs.
#[derive(Debug, Clone)]
pub struct RoutingConfig {
    /// Our AS.
    pub asn: u32,
    /// Our router ID.
    pub router_id: Ipv4Addr,
    /// Our cluster ID.
    pub cluster_id: Ipv4Addr,
    /// The `[[originate]]` entries.
    pub originate: Vec<config::Originate>,
    /// The kernel FIB and its export policy, when `[kernel]` is configured.
    pub kernel: Option<(crate::fib::Fib, Option<Arc<Policy>>)>,
    /// After a restart: whose End-of-RIB to wait for before selecting and sending routes.
    pub restart: Option<RestartPlan>,
    /// Set while the restart's deferral runs (cleared by the routing task at its end).
    pub deferring: Arc<std::sync::atomic::AtomicBool>,
}

/// A peer whose session is up, or down with stale routes.
#[derive(Debug)]
struct Peer {
    id: PeerId,
    name: String,
    /// The session's address (`show rib` names dynamic sessions by it).
    address: IpAddr,
    /// A Calico node's pools.
    calico: Option<std::sync::Arc<config::Calico>>,
    kind: PeerKind,
    bgp_id: Ipv4Addr,
    /// The group it receives from, while up.
    group: Option<usize>,
    max_prefixes: Option<PrefixLimit>,
    warned_max: bool,
    commands: Option<crate::exchange::commands::CommandSender>,
    /// Graceful restart: stale routes are swept at this time.
    stale_until: Option<Instant>,
    /// Long-lived graceful restart still to come after `stale_until` (RFC 9494).
    llgr_for: Duration,
    /// How the session came up, kept for regrouping on reload. Boxed: it is most of a
    /// peer's size, and the map holds every peer (and its slack) inline.
    up: Option<Box<PeerUp>>,
}

/// The routing task's state.
pub struct Routing {
    rib: Rib,
    local: Local,
    router_id: Ipv4Addr,
    peers: HashMap<PeerKey, Peer>,
    by_id: HashMap<PeerId, PeerKey>,
    groups: Groups,
    originator: Originator,
    /// Prefixes whose selection changed since the last export.
    dirty: Dirty,
    /// Calico blocks announced by more than one node.
    conflicts: calico::Conflicts,
    /// The kernel FIB, when configured.
    fib: Option<FibFeed>,
    /// Time to apply and export each batch, collected for the metrics (bounded).
    batch_times: Vec<Duration>,
    /// After a restart, until the expected peers' End-of-RIB (or the timer): nothing is
    /// originated, exported or sent to the kernel (RFC 4724 section 4.1).
    deferral: Option<Deferral>,
    /// How the last deferral went, for the metrics.
    restart_stats: RestartStats,
    /// Shared with the daemon: set while `deferral` runs.
    deferring: Arc<std::sync::atomic::AtomicBool>,
    /// The time of the last `handle` or `poll`: the core reads no clock of its own.
    now: Instant,
    /// When the last export ran (`None`: not yet, the first poll exports).
    last_export: Option<Instant>,
    /// An export held back by the export interval is due then.
    export_due: Option<Instant>,
}

impl std::fmt::Debug for Routing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routing")
            .field("peers", &self.peers.len())
            .field("dirty", &self.dirty.len())
            .finish()
    }
}

/// Exports are at least this far apart while inputs keep coming. A burst (hundreds of
/// Calico nodes coming up at once, a full table) then leaves in a few large UPDATEs per
/// group instead of one small UPDATE per input queued to every member, which is both
/// less work and far less memory in the members' queues; a lone change waits at most
/// this long.
const EXPORT_INTERVAL: Duration = Duration::from_millis(10);

/// While a member lags behind, how often its queue is checked for room to catch up.
const LAGGING_CHECK: Duration = Duration::from_millis(100);

impl Routing {
    /// A routing task with empty tables, started at `now`.
    pub fn new(config: &RoutingConfig, now: Instant) -> Self {
        // Multipath sets feed ECMP routes in the kernel; BGP still advertises one best path
        // (or every path, with ADD-PATH).
        let mut rib = Rib::new(rib::Options {
            max_paths: 8,
            ..rib::Options::default()
        });
        // The first peer id of an empty table is always free: our own routes.
        let local_id = rib
            .add_peer(PeerInfo::ibgp(
                IpAddr::V4(config.router_id),
                config.router_id,
                config.asn,
            ))
            .unwrap_or(PeerId(0));
        let originator = Originator::new(config.originate.clone(), local_id);
        let fib = config
            .kernel
            .clone()
            .map(|(fib, export)| FibFeed::new(fib, export, local_id, config.asn));
        Self {
            rib,
            local: Local {
                asn: config.asn,
                cluster_id: config.cluster_id,
            },
            router_id: config.router_id,
            peers: HashMap::new(),
            by_id: HashMap::new(),
            groups: Groups::default(),
            originator,
            dirty: Dirty::default(),
            conflicts: calico::Conflicts::default(),
            fib,
            batch_times: Vec::new(),
            deferral: config.restart.as_ref().map(|plan| {
                info!(
                    expected = plan.expected.len(),
                    deferral_s = plan.deferral.as_secs(),
                    "restarting: deferring route selection until the expected peers' End-of-RIB"
                );
                Deferral::new(plan, now)
            }),
            restart_stats: RestartStats {
                deferring: config.restart.is_some(),
                ..RestartStats::default()
            },
            deferring: config.deferring.clone(),
            now,
            last_export: None,
            export_due: None,
        }
    }

    /// Does what is due at `now`: expired graceful-restart timers, the end of a restart's
    /// deferral, the aggregates, an export (after a batch of inputs, unless one ran less
    /// than the export interval ago: then it is scheduled; at a deadline, always), lagging
    /// members' catch-up, and the end of the kernel's initial sync. Called after each batch
    /// of inputs and at [`Routing::next_deadline`].
    pub fn poll(&mut self, now: Instant) {
        let deadline_passed = self.next_deadline().is_some_and(|d| d <= now);
        self.now = now;
        self.sweep_expired(now);
        // Known conflicts may have ended (a withdraw, a session down, stale routes swept).
        self.calico_check(&[]);
        self.check_deferral(now);
        self.originate();
        let interval_over = self.last_export.is_none_or(|t| now >= t + EXPORT_INTERVAL);
        if deadline_passed || interval_over {
            self.export();
            self.last_export = Some(now);
            self.export_due = None;
        } else if !self.dirty.is_empty() || self.groups.any_policy_changed() {
            self.export_due = self.last_export.map(|t| t + EXPORT_INTERVAL);
        }
        self.catch_up();
        // Only once the kernel has every change: ending the initial sync deletes the
        // adopted routes not replaced yet (RFC 4724 4.1: forwarding must not lapse).
        if self.dirty.is_empty() {
            self.check_kernel_sync();
        }
    }

    /// When [`Routing::poll`] next has work to do without a new input: a graceful-restart
    /// timer, the deferral's timer, a held-back export, a lagging member's next check.
    pub fn next_deadline(&self) -> Option<Instant> {
        let stale = self.peers.values().filter_map(|p| p.stale_until).min();
        let deferral = self.deferral.as_ref().map(Deferral::deadline);
        let lagging = self.groups.any_lagging().then(|| self.now + LAGGING_CHECK);
        [stale, deferral, self.export_due, lagging]
            .into_iter()
            .flatten()
            .min()
    }

    /// Keeps how long a batch of inputs took to apply and export, for the metrics.
    pub fn record_batch(&mut self, took: Duration) {
        if self.batch_times.len() < 4096 {
            self.batch_times.push(took);
        }
    }

    /// The kernel's links or routes changed: next hops may have become (un)reachable.
    fn next_hops_changed(&mut self) {
        let r = FibResolver::of(&self.fib);
        let changes = self.rib.recompute(&r);
        if !changes.is_empty() {
            info!(changed = changes.len(), "next-hop reachability changed");
        }
        self.dirty.extend(changes.into_iter().map(|c| c.prefix));
    }

    /// Ends the kernel's initial sync once the deferral is over and the kernel has every
    /// selection: only then may routes a previous run left be removed (RFC 4724 section
    /// 4.1: forwarding must not lapse).
    fn check_kernel_sync(&mut self) {
        if self.deferral.is_some() {
            return;
        }
        if let Some(k) = self.fib.as_mut() {
            k.finish_initial_sync();
        }
    }

    /// Applies one input received at `now`. What it changes reaches peers and the kernel
    /// at the next [`Routing::poll`].
    pub fn handle(&mut self, now: Instant, input: RoutingInput) {
        self.now = now;
        match input {
            RoutingInput::PeerUp(up) => self.peer_up(up),
            RoutingInput::PeerDown {
                key,
                stale_for,
                llgr_for,
            } => self.peer_down(now, key, stale_for, llgr_for),
            RoutingInput::Update { key, imported } => {
                let blocks = self.calico_blocks(key, &imported);
                self.update(key, imported);
                self.calico_check(&blocks);
            }
            RoutingInput::RefreshRequest {
                key,
                family,
                subtype,
            } => self.refresh(key, family, subtype),
            RoutingInput::Query(q, reply) => {
                let _ = reply.send(self.query(q));
            }
            RoutingInput::Regroup { key, export } => self.regroup(key, export),
            RoutingInput::CalicoPools { key, pools } => self.calico_pools(key, pools),
            RoutingInput::NextHopsChanged => {
                self.next_hops_changed();
                // The kernel's view changed: export at the next poll, not paced.
                self.export_due = Some(now);
            }
            RoutingInput::DetachKernel(done) => {
                // Changes held back by the export interval reach the kernel first.
                self.export();
                if self.fib.take().is_some() {
                    info!("kernel routes left in place for the next run");
                }
                let _ = done.send(());
            }
            RoutingInput::Globals {
                cluster_id,
                originate,
            } => {
                self.local.cluster_id = cluster_id;
                let r = FibResolver::of(&self.fib);
                let changes = self.originator.reconfigure(&mut self.rib, originate, &r);
                self.dirty.extend(changes);
            }
        }
    }

    fn originate(&mut self) {
        // Conditional aggregates are decided on the whole table, after the deferral: an
        // aggregate decided on a partial one would be missing from our End-of-RIB.
        if self.deferral.is_some() {
            return;
        }
        let r = FibResolver::of(&self.fib);
        let changes = self.originator.run(&mut self.rib, &self.dirty, &r);
        self.dirty.extend(changes);
    }

    /// Exports every dirty prefix to every group (and the kernel).
    fn export(&mut self) {
        if self.deferral.is_some() {
            return;
        }
        if self.dirty.is_empty() && !self.groups.any_policy_changed() {
            self.rib.recycle_dest_ids();
            return;
        }
        let dirty = self.dirty.take();
        if let Some(k) = &self.fib {
            let names = |id: PeerId| {
                self.by_id
                    .get(&id)
                    .and_then(|key| self.peers.get(key))
                    .map(|p| p.name.clone())
            };
            k.sync(&self.rib, &dirty, &names);
        }
        let peers = self.peers_view();
        let ctx = groups::ExportCtx {
            local: &self.local,
            peers: &peers,
        };
        let resync = self.groups.export(&mut self.rib, &ctx, dirty.targets());
        // The dest ids of `dirty` are used up: removed dests' ids may be reused now.
        drop(dirty);
        self.rib.recycle_dest_ids();
        self.resync(resync);
        self.catch_up();
    }
}

/// With ADD-PATH groups every path counts, not only best ones: marks every prefix the peer
/// has a path for (the RIB reports selection changes only).
fn touch_all_paths_of(groups: &Groups, rib: &Rib, dirty: &mut Dirty, id: PeerId) {
    if !groups.any_add_path() {
        return;
    }
    for family in [Family::Ipv4Unicast, Family::Ipv6Unicast] {
        dirty.extend(rib.routes_of(id, family).map(|(p, _)| p));
    }
}

#[cfg(test)]
mod tests;
