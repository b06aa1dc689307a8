//! Answers to `bgpctl` about the tables.

use bgp_wire::attr::Origin;
use bgp_wire::Family;
use ipnet::IpNet;

use super::Routing;
use crate::peer::PeerKey;

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
}

/// One route as `bgpctl show rib` prints it: the control protocol's row.
pub use crate::control::protocol::RibEntry as RibRow;

/// An answer.
#[derive(Debug, Clone)]
pub enum RoutingReply {
    /// Per peer key: (accepted, advertised, held back by the limit).
    Counts(Vec<(PeerKey, u64, u64, usize)>),
    /// Routes.
    Rib(Vec<RibRow>),
    /// Table sizes.
    Stats(Stats),
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
            RoutingQuery::Counts => RoutingReply::Counts(
                self.peers
                    .iter()
                    .map(|(key, p)| {
                        let c = self.rib.peers().counts(p.id);
                        let (adv, held) = p
                            .group
                            .map(|g| self.groups.advertised(&self.rib, g))
                            .unwrap_or((0, 0));
                        (*key, c.ipv4 + c.ipv6, adv, held)
                    })
                    .collect(),
            ),
            RoutingQuery::Stats => RoutingReply::Stats(Stats {
                families: [Family::Ipv4Unicast, Family::Ipv6Unicast]
                    .into_iter()
                    .map(|f| (f, self.rib.prefix_count(f) as u64, self.rib.path_count(f)))
                    .collect(),
                attribute_sets: self.rib.attrs().len() as u64,
                groups: self.groups.member_counts(),
                batch_times: std::mem::take(&mut self.batch_times),
                restart: self.restart_stats,
            }),
            RoutingQuery::Rib {
                prefix,
                longer,
                peer,
                view,
            } => RoutingReply::Rib(self.rib_rows(prefix, longer, peer, view)),
        }
    }

    fn rib_rows(
        &self,
        prefix: Option<IpNet>,
        longer: bool,
        peer: Option<PeerKey>,
        view: RibView,
    ) -> Vec<RibRow> {
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
                    let nh = self.rib.next_hops().get(sent.next_hop);
                    rows.push(row(
                        prefix,
                        sent.path_id,
                        &attrs,
                        nh,
                        "",
                        false,
                        false,
                        false,
                        None,
                    ));
                }
            }
            return rows;
        }
        for prefix in prefixes {
            let r = super::KernelResolver(self.kernel.as_ref().map(super::Kernel::next_hops));
            let explained = self.rib.explain(prefix, &r).unwrap_or_default();
            for (path, lost) in explained {
                if view == RibView::AdjIn && Some(path.peer()) != peer_id {
                    continue;
                }
                let Ok(attrs) = self.rib.attrs().attributes(path.attrs()) else {
                    continue;
                };
                let nh = self.rib.next_hops().get(path.next_hop());
                let neighbor = self
                    .by_id
                    .get(&path.peer())
                    .and_then(|k| self.peers.get(k))
                    .map_or_else(|| "local".to_owned(), |p| p.name.clone());
                rows.push(row(
                    prefix,
                    path.path_id(),
                    &attrs,
                    nh,
                    &neighbor,
                    path.is_best(),
                    path.is_multipath(),
                    path.is_stale(),
                    lost.map(|s| s.describe().to_owned()),
                ));
            }
        }
        rows
    }
}

#[allow(clippy::too_many_arguments)]
fn row(
    prefix: IpNet,
    path_id: u32,
    attrs: &bgp_wire::attr::PathAttributes,
    nh: &bgp_wire::attr::NextHop,
    neighbor: &str,
    best: bool,
    multipath: bool,
    stale: bool,
    reason: Option<String>,
) -> RibRow {
    let as_path = attrs
        .as_path()
        .map(|p| {
            p.segments
                .iter()
                .map(|s| {
                    let asns: Vec<String> = s.asns.iter().map(u32::to_string).collect();
                    match s.kind {
                        bgp_wire::attr::SegmentType::Sequence => asns.join(" "),
                        bgp_wire::attr::SegmentType::Set => format!("{{{}}}", asns.join(",")),
                        _ => format!("({})", asns.join(" ")),
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    RibRow {
        prefix,
        path_id,
        best,
        multipath,
        stale,
        neighbor: neighbor.to_owned(),
        next_hop: Some(nh.addr()).filter(|a| !a.is_unspecified()),
        as_path,
        origin: match attrs.origin() {
            Some(Origin::Igp) => "igp",
            Some(Origin::Egp) => "egp",
            Some(Origin::Incomplete) | None => "incomplete",
        }
        .to_owned(),
        local_pref: attrs.local_pref().copied(),
        med: attrs.med().copied(),
        communities: attrs
            .communities()
            .map(|c| c.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
        large_communities: attrs
            .large_communities()
            .map(|c| c.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
        originator_id: attrs.originator_id().copied(),
        cluster_list: attrs.cluster_list().cloned().unwrap_or_default(),
        reason,
    }
}
