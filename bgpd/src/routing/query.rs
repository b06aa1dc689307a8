//! Answers to `bgpctl` about the tables.

use std::net::IpAddr;

use bgp_wire::attr::{NextHop, PathAttributes};
use bgp_wire::Family;
use ipnet::IpNet;

use super::Routing;
use crate::exchange::PeerKey;

/// Which table to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RibView {
    /// The Loc-RIB: every path, best marked.
    LocRib,
    /// What one neighbor sent (post-policy).
    AdjIn,
    /// What was advertised to one neighbor.
    AdjOut,
}

/// A question for the routing task.
#[derive(Debug, Clone)]
pub enum RoutingQuery {
    /// Per peer: routes accepted and advertised.
    Counts,
    /// Calico blocks announced by more than one node.
    CalicoConflicts,
    /// Every Calico node session's blocks and borrowed addresses.
    CalicoNodes,
    /// Which of these sessions have not yet been handed their drained routes (RFC 8326):
    /// up, and not yet in a graceful-shutdown group with everything written.
    DrainPending(Vec<PeerKey>),
    /// Table sizes and processing times since the last ask, for metrics.
    Stats,
    /// Routes.
    Rib {
        /// One prefix (with `longer`: and everything inside it).
        prefix: Option<IpNet>,
        /// Include more specifics of `prefix`.
        longer: bool,
        /// Only this peer's routes (by key).
        peer: Option<PeerKey>,
        /// Which table.
        view: RibView,
    },
    /// The Loc-RIB (or one peer's paths) as an MRT TABLE_DUMP_V2 file (`bgpctl dump rib`).
    Mrt {
        /// Only this peer's paths.
        peer: Option<PeerKey>,
        /// The dump's time, seconds since the Unix epoch (the core reads no clock).
        unix_now: u32,
    },
}

/// One path of the table, for `bgpctl show rib` (the daemon turns it into the control
/// protocol's row).
#[derive(Debug, Clone)]
pub struct RibPath {
    /// The prefix.
    pub prefix: IpNet,
    /// ADD-PATH path identifier (RFC 7911); 0 without ADD-PATH.
    pub path_id: u32,
    /// The attributes.
    pub attrs: PathAttributes,
    /// The next hop.
    pub next_hop: NextHop,
    /// The neighbor it came from, `local` if originated; empty in an Adj-RIB-Out.
    pub neighbor: String,
    /// The address of the session it came from (`None`: originated here, or Adj-RIB-Out).
    pub address: Option<IpAddr>,
    /// Selected as best path.
    pub best: bool,
    /// Part of the multipath set.
    pub multipath: bool,
    /// Kept through a graceful restart, not yet refreshed (RFC 4724).
    pub stale: bool,
    /// For a path that is not best: the decision step it lost at.
    pub reason: Option<String>,
}

/// One session's routes, per family.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionCounts {
    /// Paths it sent that import policy accepted (its Adj-RIB-In as kept).
    pub accepted: rib::PeerCounts,
    /// Paths advertised to it (its group's Adj-RIB-Out).
    pub advertised: rib::PeerCounts,
    /// Prefixes `max_prefixes_out` holds back from it.
    pub held_back: usize,
}

/// An answer.
#[derive(Debug, Clone)]
pub enum RoutingReply {
    /// Per peer key: its route counts.
    Counts(Vec<(PeerKey, SessionCounts)>),
    /// The sessions still waiting for their drained routes.
    DrainPending(Vec<PeerKey>),
    /// Blocks in conflict, each with its nodes.
    CalicoConflicts(Vec<(IpNet, Vec<super::Owner>)>),
    /// Per Calico node session, its routes in the pools.
    CalicoNodes(Vec<(PeerKey, super::NodeRoutes)>),
    /// Routes.
    Rib(Vec<RibPath>),
    /// Table sizes (boxed: the largest answer by far, and the rarest).
    Stats(Box<Stats>),
    /// An MRT dump, or why it could not be encoded.
    Mrt(Result<super::MrtDump, String>),
}

/// Sizes and timings for the metrics.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// (family, prefixes, paths).
    pub families: Vec<(Family, u64, u64)>,
    /// Distinct attribute sets stored.
    pub attribute_sets: u64,
    /// Members of each export group.
    pub groups: Vec<u64>,
    /// How long each batch of inputs took to apply and export, since the last ask.
    pub batch_times: Vec<std::time::Duration>,
    /// The restarting speaker's deferral.
    pub restart: RestartStats,
    /// The kernel FIB's counters, when `[kernel]` is configured.
    pub fib: Option<crate::fib::FibStats>,
    /// Calico blocks announced by more than one node.
    pub calico_conflicts: usize,
}

/// The restarting speaker's selection deferral (RFC 4724 section 4.1), for the metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct RestartStats {
    /// Still deferring.
    pub deferring: bool,
    /// How long the last deferral took.
    pub last_deferral: Option<std::time::Duration>,
    /// Deferrals the timer ended, not the peers' End-of-RIB.
    pub timer_expired: u64,
}

impl Routing {
    pub(super) fn query(&mut self, q: RoutingQuery) -> RoutingReply {
        match q {
            RoutingQuery::CalicoConflicts => RoutingReply::CalicoConflicts(self.calico_conflicts()),
            RoutingQuery::CalicoNodes => RoutingReply::CalicoNodes(self.calico_nodes()),
            RoutingQuery::DrainPending(keys) => RoutingReply::DrainPending(
                keys.into_iter()
                    .filter(|k| {
                        self.peers.get(k).is_some_and(|p| {
                            p.up.is_some()
                                && !p.group.is_some_and(|g| self.groups.drain_delivered(g, *k))
                        })
                    })
                    .collect(),
            ),
            RoutingQuery::Counts => RoutingReply::Counts(
                self.peers
                    .iter()
                    .map(|(key, p)| {
                        let (advertised, held_back) = p
                            .group
                            .map(|g| self.groups.advertised(&self.rib, g))
                            .unwrap_or_default();
                        let counts = SessionCounts {
                            accepted: self.rib.peers().counts(p.id),
                            advertised,
                            held_back,
                        };
                        (*key, counts)
                    })
                    .collect(),
            ),
            RoutingQuery::Stats => RoutingReply::Stats(Box::new(Stats {
                families: [Family::Ipv4Unicast, Family::Ipv6Unicast]
                    .into_iter()
                    .map(|f| (f, self.rib.prefix_count(f) as u64, self.rib.path_count(f)))
                    .collect(),
                attribute_sets: self.rib.attrs().len() as u64,
                groups: self.groups.member_counts(),
                batch_times: std::mem::take(&mut self.batch_times),
                restart: self.restart_stats,
                fib: self.fib.as_ref().map(|f| f.stats()),
                calico_conflicts: self.conflicts.blocks.len(),
            })),
            RoutingQuery::Rib {
                prefix,
                longer,
                peer,
                view,
            } => RoutingReply::Rib(self.rib_rows(prefix, longer, peer, view)),
            RoutingQuery::Mrt { peer, unix_now } => {
                RoutingReply::Mrt(self.mrt_dump(peer, unix_now).map_err(|e| e.to_string()))
            }
        }
    }

    fn rib_rows(
        &self,
        prefix: Option<IpNet>,
        longer: bool,
        peer: Option<PeerKey>,
        view: RibView,
    ) -> Vec<RibPath> {
        let prefixes: Vec<IpNet> = match prefix {
            Some(p) if longer => self.rib.more_specifics(p, true).map(|d| d.prefix).collect(),
            Some(p) => self
                .rib
                .longest_match(p)
                .map(|d| d.prefix)
                .into_iter()
                .collect(),
            None => [Family::Ipv4Unicast, Family::Ipv6Unicast]
                .iter()
                .flat_map(|f| self.rib.iter(*f).map(|d| d.prefix).collect::<Vec<_>>())
                .collect(),
        };
        let peer_id = peer.and_then(|k| self.peers.get(&k)).map(|p| p.id);
        let mut rows = Vec::new();
        if view == RibView::AdjOut {
            let Some(p) = peer.and_then(|k| self.peers.get(&k)) else {
                return rows;
            };
            let Some(g) = p.group else { return rows };
            for prefix in prefixes {
                for sent in self.groups.sent(&self.rib, g, prefix) {
                    let Ok(attrs) = self.rib.attrs().attributes(sent.attrs) else {
                        continue;
                    };
                    // A client is not sent its own routes back (see groups.rs, `Encoded`).
                    if attrs.originator_id() == Some(&p.bgp_id) {
                        continue;
                    }
                    rows.push(RibPath {
                        prefix,
                        path_id: sent.path_id,
                        attrs,
                        next_hop: *self.rib.next_hops().get(sent.next_hop),
                        neighbor: String::new(),
                        address: None,
                        best: false,
                        multipath: false,
                        stale: false,
                        reason: None,
                    });
                }
            }
            return rows;
        }
        for prefix in prefixes {
            let r = super::FibResolver::of(&self.fib);
            let explained = self.rib.explain(prefix, &r).unwrap_or_default();
            for (path, lost) in explained {
                // The Loc-RIB with a neighbor: its paths only, as for the Adj-RIB-In.
                if peer.is_some() && Some(path.peer()) != peer_id {
                    continue;
                }
                let Ok(attrs) = self.rib.attrs().attributes(path.attrs()) else {
                    continue;
                };
                let from = self.by_id.get(&path.peer()).and_then(|k| self.peers.get(k));
                rows.push(RibPath {
                    prefix,
                    path_id: path.path_id(),
                    attrs,
                    next_hop: *self.rib.next_hops().get(path.next_hop()),
                    neighbor: from.map_or_else(|| "local".to_owned(), |p| p.name.clone()),
                    address: from.map(|p| p.address),
                    best: path.is_best(),
                    multipath: path.is_multipath(),
                    stale: path.is_stale(),
                    reason: lost.map(|s| s.describe().to_owned()),
                });
            }
        }
        rows
    }
}
