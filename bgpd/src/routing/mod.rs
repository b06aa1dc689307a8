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

mod dirty;
pub mod export;
mod groups;
mod kernel;
mod originate;
mod query;
mod reflect;
mod restart;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp_wire::{Family, RefreshSubtype};
use config::{Policy, PrefixLimit};
use rib::{PeerId, PeerInfo, Rib};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::exchange::{ExportSettings, Imported, PeerCommand, PeerKey};
use crate::session::Negotiated;
use dirty::Dirty;
use export::{Local, PeerKind};
use groups::Groups;
use kernel::{Kernel, KernelResolver};
use originate::Originator;
pub use query::{RestartStats, RibPath, RibView, RoutingQuery, RoutingReply, Stats};
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
    /// What the OPEN exchange settled.
    pub negotiated: Negotiated,
    /// How routes are exported to it.
    pub export: ExportSettings,
    /// The peer's update queue.
    pub updates: crate::exchange::updates::UpdateSender,
    /// Commands back to the peer task.
    pub commands: crate::exchange::commands::CommandSender,
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
    /// A graceful stop (SIGTERM): let go of the kernel FIB, leaving its routes for the next
    /// run to adopt (RFC 4724: forwarding continues across the restart); the sessions
    /// closing afterwards must not remove them.
    DetachKernel(oneshot::Sender<()>),
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
    /// The kernel FIB, when configured.
    kernel: Option<Kernel>,
    /// Time to apply and export each batch, collected for the metrics (bounded).
    batch_times: Vec<Duration>,
    /// After a restart, until the expected peers' End-of-RIB (or the timer): nothing is
    /// originated, exported or sent to the kernel (RFC 4724 section 4.1).
    deferral: Option<Deferral>,
    /// How the last deferral went, for the metrics.
    restart_stats: RestartStats,
    /// Shared with the daemon: set while `deferral` runs.
    deferring: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Routing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routing")
            .field("peers", &self.peers.len())
            .field("dirty", &self.dirty.len())
            .finish()
    }
}

/// How many inputs are applied before exporting: coalesces bursts (a full table arrives
/// as thousands of UPDATEs) into one export pass.
const BATCH: usize = 256;

/// Exports are at least this far apart while inputs keep coming. A burst (hundreds of
/// Calico nodes coming up at once, a full table) then leaves in a few large UPDATEs per
/// group instead of one small UPDATE per input queued to every member, which is both
/// less work and far less memory in the members' queues; a lone change waits at most
/// this long.
const EXPORT_INTERVAL: Duration = Duration::from_millis(10);

impl Routing {
    /// A routing task with empty tables.
    pub fn new(config: &RoutingConfig) -> Self {
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
        let kernel = config
            .kernel
            .clone()
            .map(|(fib, export)| Kernel::new(fib, export, local_id, config.asn));
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
            kernel,
            batch_times: Vec::new(),
            deferral: config.restart.as_ref().map(|plan| {
                info!(
                    expected = plan.expected.len(),
                    deferral_s = plan.deferral.as_secs(),
                    "restarting: deferring route selection until the expected peers' End-of-RIB"
                );
                Deferral::new(plan, Instant::now())
            }),
            restart_stats: RestartStats {
                deferring: config.restart.is_some(),
                ..RestartStats::default()
            },
            deferring: config.deferring.clone(),
        }
    }

    /// Runs until every sender is dropped. `next_hop_events` come from the FIB task.
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<RoutingInput>,
        mut next_hop_events: Option<mpsc::Receiver<crate::fib::NextHopEvent>>,
    ) {
        self.check_deferral(Instant::now());
        self.originate();
        self.export();
        self.check_kernel_sync();
        let mut last_export = Instant::now();
        let mut export_due: Option<Instant> = None;
        loop {
            let mut deadline = self.peers.values().filter_map(|p| p.stale_until).min();
            if let Some(d) = &self.deferral {
                deadline = Some(deadline.map_or(d.deadline(), |x| x.min(d.deadline())));
            }
            if let Some(due) = export_due {
                deadline = Some(deadline.map_or(due, |d| d.min(due)));
            }
            if self.groups.any_lagging() {
                // Check soon whether lagging peers have drained their queues.
                let soon = Instant::now() + Duration::from_millis(100);
                deadline = Some(deadline.map_or(soon, |d| d.min(soon)));
            }
            let events = async {
                match next_hop_events.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            let input = tokio::select! {
                i = rx.recv() => i,
                e = events => {
                    match e {
                        Some(_) => self.next_hops_changed(),
                        None => next_hop_events = None,
                    }
                    self.export();
                    continue;
                }
                () = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d.into()).await,
                        None => std::future::pending().await,
                    }
                } => {
                    let now = Instant::now();
                    self.sweep_expired(now);
                    self.check_deferral(now);
                    self.originate();
                    self.export();
                    last_export = Instant::now();
                    export_due = None;
                    self.catch_up();
                    self.check_kernel_sync();
                    continue;
                }
            };
            let Some(input) = input else { return };
            let started = Instant::now();
            self.handle(input);
            for _ in 1..BATCH {
                match rx.try_recv() {
                    Ok(input) => self.handle(input),
                    Err(_) => break,
                }
            }
            self.check_deferral(Instant::now());
            self.originate();
            let now = Instant::now();
            if now >= last_export + EXPORT_INTERVAL {
                self.export();
                last_export = now;
                export_due = None;
            } else if !self.dirty.is_empty() || self.groups.any_policy_changed() {
                export_due = Some(last_export + EXPORT_INTERVAL);
            }
            // Only once the kernel has every change: ending the initial sync deletes the
            // adopted routes not replaced yet (RFC 4724 4.1: forwarding must not lapse).
            if self.dirty.is_empty() {
                self.check_kernel_sync();
            }
            if self.batch_times.len() < 4096 {
                self.batch_times.push(started.elapsed());
            }
        }
    }

    /// The kernel's links or routes changed: next hops may have become (un)reachable.
    fn next_hops_changed(&mut self) {
        let r = KernelResolver(self.kernel.as_ref().map(Kernel::next_hops));
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
        if let Some(k) = self.kernel.as_mut() {
            k.finish_initial_sync();
        }
    }

    fn handle(&mut self, input: RoutingInput) {
        match input {
            RoutingInput::PeerUp(up) => self.peer_up(up),
            RoutingInput::PeerDown {
                key,
                stale_for,
                llgr_for,
            } => self.peer_down(key, stale_for, llgr_for),
            RoutingInput::Update { key, imported } => self.update(key, imported),
            RoutingInput::RefreshRequest {
                key,
                family,
                subtype,
            } => self.refresh(key, family, subtype),
            RoutingInput::Query(q, reply) => {
                let _ = reply.send(self.query(q));
            }
            RoutingInput::Regroup { key, export } => self.regroup(key, export),
            RoutingInput::DetachKernel(done) => {
                // Changes held back by the export interval reach the kernel first.
                self.export();
                if self.kernel.take().is_some() {
                    info!("kernel routes left in place for the next run");
                }
                let _ = done.send(());
            }
            RoutingInput::Globals {
                cluster_id,
                originate,
            } => {
                self.local.cluster_id = cluster_id;
                let r = KernelResolver(self.kernel.as_ref().map(Kernel::next_hops));
                let changes = self.originator.reconfigure(&mut self.rib, originate, &r);
                self.dirty.extend(changes);
            }
        }
    }

    /// Moves a peer to the group its new settings call for (a reload): it gets the new
    /// group's table, and withdrawals for what its old group had told it and the new one
    /// does not advertise. Logs what changed for it.
    fn regroup(&mut self, key: PeerKey, export: ExportSettings) {
        // The driver sends this only while the session is up, after its PeerUp and before
        // its PeerDown: anything else leaves the peer on its old export settings.
        let Some(peer) = self.peers.get_mut(&key) else {
            warn!(
                peer = key,
                "reload: export settings for an unknown session: not applied"
            );
            return;
        };
        let Some(mut up) = peer.up.clone() else {
            warn!(neighbor = %peer.name, "reload: export settings for a session that is down: not applied");
            return;
        };
        peer.max_prefixes = export.max_prefixes;
        up.export = export;
        if let PeerKind::IbgpClient | PeerKind::IbgpNonClient = peer.kind {
            peer.kind = if up.export.rr_client {
                PeerKind::IbgpClient
            } else {
                PeerKind::IbgpNonClient
            };
        }
        let kind = peer.kind;
        let old = peer.group;
        let name = peer.name.clone();
        peer.up = Some(up.clone());
        // What the old group told it, from its Adj-RIB-Out: also the routes whose withdraw
        // is still waiting for the next export.
        let told = old
            .map(|g| self.groups.advertised_prefixes(&self.rib, g))
            .unwrap_or_default();
        // A member that fell behind holds an unknown subset of that: only a whole table
        // between BoRR and EoRR (RFC 7313) sets it right.
        let lagging = old.is_some_and(|g| self.groups.is_lagging(g, key));
        if let Some(g) = old {
            self.groups.leave(&mut self.rib, g, key);
        }
        let new = self.join_group(&up, kind);
        if let Some(p) = self.peers.get_mut(&key) {
            p.group = Some(new);
        }
        self.resend(key, None);
        let kept = told
            .iter()
            .filter(|n| {
                self.groups
                    .sent(&self.rib, new, n.prefix)
                    .iter()
                    .any(|s| s.path_id == n.path_id)
            })
            .count();
        let (advertised, held_back) = self.groups.advertised(&self.rib, new);
        let withdrawn = told.len() - kept;
        let announced = advertised.saturating_sub(kept as u64);
        if lagging {
            self.groups.set_lagging(new, key);
        } else {
            let resync = self.groups.withdraw_leftovers(&self.rib, new, key, &told);
            self.resync(resync);
        }
        info!(
            neighbor = %name,
            group = new,
            advertised,
            announced,
            withdrawn,
            held_back,
            deferred = self.deferral.is_some(),
            resync = lagging,
            "reload: export settings applied"
        );
    }

    /// Adds a peer to the group for its settings. When that replaces the group's export
    /// policy (a reload, the group shared with other peers), the group is re-exported at
    /// once, not at the next input: an idle table would keep what the new policy refuses.
    fn join_group(&mut self, up: &PeerUp, kind: PeerKind) -> usize {
        let group = self.groups.join(&mut self.rib, up, kind);
        if self.groups.any_policy_changed() {
            self.export();
        }
        group
    }

    fn peer_up(&mut self, up: Box<PeerUp>) {
        let n = &up.negotiated;
        let kind = if n.ebgp {
            PeerKind::Ebgp(n.peer_as)
        } else if up.export.rr_client {
            PeerKind::IbgpClient
        } else {
            PeerKind::IbgpNonClient
        };
        let info = PeerInfo {
            address: up.address,
            bgp_id: n.peer_id,
            asn: n.peer_as,
            ebgp: n.ebgp,
            rr_client: up.export.rr_client,
        };
        // A peer coming back from graceful restart keeps its id and stale routes.
        let id = match self.peers.get(&up.key) {
            Some(p) => {
                self.rib.set_peer(p.id, info);
                p.id
            }
            None => match self.rib.add_peer(info) {
                Some(id) => id,
                None => {
                    warn!(neighbor = %up.name, "too many peers: refusing routes");
                    return;
                }
            },
        };
        let group = self.groups.join(&mut self.rib, &up, kind);
        let policy_changed = self.groups.any_policy_changed();
        let stale_until = self.peers.get(&up.key).and_then(|p| p.stale_until);
        let key = up.key;
        let (up_address, up_negotiated) = (up.address, up.negotiated.clone());
        info!(neighbor = %up.name, address = %up.address, group, "session up: sending the table");
        self.peers.insert(
            key,
            Peer {
                id,
                name: up.name.clone(),
                kind,
                bgp_id: up.negotiated.peer_id,
                group: Some(group),
                max_prefixes: up.export.max_prefixes,
                warned_max: false,
                commands: Some(up.commands.clone()),
                stale_until,
                llgr_for: Duration::ZERO,
                up: Some(up),
            },
        );
        self.by_id.insert(id, key);
        if policy_changed {
            // It came up with a policy other than the group's (a reload while it was
            // down): the group is re-exported at once (see `join_group`).
            self.export();
        }
        if let Some(d) = &mut self.deferral {
            // Its table goes out when the deferral ends.
            let n = &up_negotiated;
            // RFC 4724 4.1 excludes peers with Restart State set from the wait. Not done:
            // FRR 8.4 sets it towards us after our restart and sends its routes only after
            // that; excluded, the VBR's routes came after the deferral and the edge dropped
            // the VPC routes for 0.3-0.6 s each restart. The timer bounds the wait.
            d.peer_up(up_address, n.graceful_restart, &n.families);
            return;
        }
        self.resend(key, None);
    }

    fn update(&mut self, key: PeerKey, imported: Imported) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        let id = peer.id;
        let mut batch = self.rib.batch(id);
        batch.withdraw(&imported.withdraw);
        for a in &imported.announce {
            if let Err(e) = batch.announce(&a.attrs, a.next_hop, &a.nlri) {
                warn!(neighbor = %peer.name, error = %e, "cannot store routes");
            }
        }
        batch.commit_into(
            &KernelResolver(self.kernel.as_ref().map(Kernel::next_hops)),
            &mut self.dirty,
        );
        if self.groups.any_add_path() {
            let touched = imported.announce.iter().flat_map(|a| a.nlri.iter());
            self.dirty
                .extend(touched.chain(&imported.withdraw).map(|n| n.prefix));
        }
        if let Some(family) = imported.end_of_rib {
            self.end_of_rib(key, family);
        }
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        // Maximum prefixes received (RFC 4486): warn at the threshold, Cease above.
        if let Some(limit) = peer.max_prefixes {
            let counts = self.rib.peers().counts(id);
            let total = counts.ipv4 + counts.ipv6;
            if total > u64::from(limit.limit) {
                warn!(neighbor = %peer.name, total, limit = limit.limit, "maximum prefixes exceeded: closing the session");
                if let Some(c) = &peer.commands {
                    let _ = c.try_send(PeerCommand::MaxPrefixExceeded);
                }
            } else if total >= u64::from(limit.warning_threshold()) && !peer.warned_max {
                peer.warned_max = true;
                warn!(neighbor = %peer.name, total, limit = limit.limit, "prefixes received near the limit");
            }
        }
    }

    fn originate(&mut self) {
        // Conditional aggregates are decided on the whole table, after the deferral: an
        // aggregate decided on a partial one would be missing from our End-of-RIB.
        if self.deferral.is_some() {
            return;
        }
        let r = KernelResolver(self.kernel.as_ref().map(Kernel::next_hops));
        let changes = self.originator.run(&mut self.rib, &self.dirty, &r);
        self.dirty.extend(changes);
    }

    /// Exports every dirty prefix to every group.
    fn export(&mut self) {
        if self.deferral.is_some() {
            return;
        }
        if self.dirty.is_empty() && !self.groups.any_policy_changed() {
            self.rib.recycle_dest_ids();
            return;
        }
        let dirty = self.dirty.take();
        if let Some(k) = &self.kernel {
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

    /// ROUTE-REFRESH from a peer (RFC 2918, RFC 7313 section 4): a request gets our table
    /// again; Beginning of Route Refresh marks the peer's routes of the family stale, and
    /// End of Route Refresh removes those it did not send again.
    fn refresh(&mut self, key: PeerKey, family: Family, subtype: RefreshSubtype) {
        let r = KernelResolver(self.kernel.as_ref().map(Kernel::next_hops));
        let Some(id) = self.peers.get(&key).map(|p| p.id) else {
            return;
        };
        match subtype {
            // Deferring: the whole table goes out when the deferral ends.
            RefreshSubtype::Request if self.deferral.is_some() => {}
            RefreshSubtype::Request => self.for_member(key, |groups, rib, ctx, g| {
                groups.refresh_member(rib, ctx, g, key, family)
            }),
            RefreshSubtype::Begin => {
                self.rib
                    .mark_stale_into(id, Some(family), false, &r, &mut self.dirty);
            }
            RefreshSubtype::End => {
                touch_all_paths_of(&self.groups, &self.rib, &mut self.dirty, id);
                self.rib
                    .sweep_stale_into(id, Some(family), &r, &mut self.dirty);
            }
            // RFC 7313 section 5: other subtypes are ignored.
            RefreshSubtype::Other(_) => {}
        }
    }

    /// Lagging members whose queues have room get the whole table again.
    fn catch_up(&mut self) {
        if self.groups.any_lagging() {
            let reset = self.groups.catch_up(&self.rib);
            self.resync(reset);
        }
    }

    /// Sends a peer its group's whole Adj-RIB-Out, then End-of-RIB (after the deferral: it
    /// ends by sending every peer its table).
    fn resend(&mut self, key: PeerKey, family: Option<Family>) {
        if self.deferral.is_some() {
            return;
        }
        self.for_member(key, |groups, rib, ctx, g| {
            groups.send_table(rib, ctx, g, key, family)
        });
    }

    /// Runs a group operation aimed at one member (of group `g`), then resyncs whom it
    /// hands back.
    fn for_member(
        &mut self,
        key: PeerKey,
        op: impl FnOnce(&mut Groups, &mut Rib, &groups::ExportCtx<'_>, usize) -> Vec<PeerKey>,
    ) {
        let Some(g) = self.peers.get(&key).and_then(|p| p.group) else {
            return;
        };
        let peers = self.peers_view();
        let ctx = groups::ExportCtx {
            local: &self.local,
            peers: &peers,
        };
        let resync = op(&mut self.groups, &mut self.rib, &ctx, g);
        self.resync(resync);
    }

    fn resync(&mut self, keys: Vec<PeerKey>) {
        for key in keys {
            if let Some(p) = self.peers.get(&key) {
                warn!(neighbor = %p.name, "peer is not keeping up with updates: resetting it");
                if let Some(c) = &p.commands {
                    let _ = c.try_send(PeerCommand::Resync);
                }
            }
        }
    }

    /// Who each rib peer is, for export decisions.
    fn peers_view(&self) -> HashMap<PeerId, groups::PeerView> {
        let mut view: HashMap<PeerId, groups::PeerView> = self
            .peers
            .values()
            .map(|p| {
                (
                    p.id,
                    groups::PeerView {
                        kind: Some(p.kind),
                        name: p.name.clone(),
                        bgp_id: p.bgp_id,
                    },
                )
            })
            .collect();
        view.insert(
            self.originator.peer(),
            groups::PeerView {
                kind: None,
                name: String::new(),
                bgp_id: self.router_id,
            },
        );
        view
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
