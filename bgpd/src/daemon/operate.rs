//! The daemon's answers to `bgpctl`: status from the peer tasks, tables from the routing
//! task, and admin commands to the peers.

use std::collections::HashMap;
use std::time::Instant;

use bgp_wire::notification::cease;
use bgp_wire::Notification;
use config::AddressFamily;
use tokio::sync::oneshot;

use crate::control::protocol::{
    FamilyCounts, NeighborDetail, NeighborSummary, OutLimit, Request, Response, RibEntry, RibView,
};
use crate::daemon::Daemon;
use crate::exchange::{PeerCommand, PeerKey};
use crate::peer::PeerStatus;
use crate::routing::{self, RibPath, RoutingInput, RoutingQuery, RoutingReply, SessionCounts};

/// Per peer: its route counts.
type Counts = HashMap<PeerKey, SessionCounts>;

impl Daemon {
    /// Answers one control request.
    pub async fn control(&mut self, request: Request) -> Response {
        match request {
            Request::ShowSummary => {
                let counts = self.counts().await;
                Response::Summary(
                    self.statuses()
                        .iter()
                        .map(|(k, s)| self.summary(*k, s, &counts))
                        .collect(),
                )
            }
            Request::ShowNeighbor { neighbor } => {
                let counts = self.counts().await;
                let rows: Vec<NeighborDetail> = self
                    .statuses()
                    .iter()
                    .filter(|(_, s)| neighbor.as_ref().is_none_or(|n| matches(s, n)))
                    .map(|(k, s)| self.detail(*k, s, &counts))
                    .collect();
                if rows.is_empty() {
                    if let Some(n) = neighbor {
                        return Response::error(format!("no neighbor {n}"));
                    }
                }
                Response::Neighbors(rows)
            }
            Request::ShowRib {
                prefix,
                longer,
                neighbor,
                view,
            } => {
                let keys = neighbor.as_deref().map(|n| self.find(n));
                if let (Some(n), Some([])) = (&neighbor, keys.as_deref()) {
                    return Response::error(format!("no neighbor {n}"));
                }
                // A dynamic neighbor's name covers its sessions: the Loc-RIB is filtered
                // by that name below; the Adj-RIBs take one session (its address).
                let by_name = view == RibView::LocRib && keys.as_ref().is_some_and(|k| k.len() > 1);
                let peer = keys
                    .as_deref()
                    .and_then(|k| k.first().copied())
                    .filter(|_| !by_name);
                let view = match (view, peer) {
                    (RibView::LocRib, _) => routing::RibView::LocRib,
                    (_, None) => return Response::error("--in and --out need --neighbor"),
                    (RibView::AdjIn, _) => routing::RibView::AdjIn,
                    (RibView::AdjOut, _) => routing::RibView::AdjOut,
                };
                let q = RoutingQuery::Rib {
                    prefix,
                    longer,
                    peer,
                    view,
                };
                match self.ask(q).await {
                    Some(RoutingReply::Rib(rows)) => Response::Rib(
                        rows.into_iter()
                            .filter(|r| !by_name || Some(&r.neighbor) == neighbor.as_ref())
                            .map(rib_entry)
                            .collect(),
                    ),
                    _ => Response::error("the routing task did not answer"),
                }
            }
            Request::NeighborDown { neighbor, message } => {
                let notification = Notification::cease_with_message(
                    cease::ADMIN_SHUTDOWN,
                    message.as_deref().unwrap_or("administratively down"),
                );
                self.command(&neighbor, || PeerCommand::Stop {
                    graceful: false,
                    notification: Some(Box::new(notification.clone())),
                })
                .await
            }
            Request::NeighborUp { neighbor } => {
                // Back from maintenance: no longer drained (unless everything is).
                if !self.drained_names().is_empty() {
                    let _ = self.drain(Some(neighbor.clone()), true).await;
                }
                self.command(&neighbor, || PeerCommand::Start).await
            }
            Request::Drain { neighbor, undo } => self.drain(neighbor, undo).await,
            Request::DrainStatus { neighbor } => self.drain_status(neighbor).await,
            Request::NeighborClear { neighbor } => {
                self.command(&neighbor, || PeerCommand::Clear).await
            }
            Request::NeighborRefresh { neighbor } => {
                self.command(&neighbor, || PeerCommand::Refresh).await
            }
            Request::Reload { dry_run } => self.reload(dry_run).await,
            Request::ShowBfd => self.show_bfd().await,
            Request::ShowNodes => self.show_nodes().await,
            Request::ShowCalicoConflicts => self.show_calico_conflicts().await,
            Request::DumpRib { file, neighbor } => self.dump_rib(file, neighbor).await,
            Request::Shutdown { message } => {
                let message = message.unwrap_or_else(|| "shutdown".to_owned());
                self.stop(false, Some(message)).await;
                self.shutting_down = true;
                Response::done("sent Cease to every peer; exiting")
            }
        }
    }

    fn statuses(&self) -> Vec<(PeerKey, PeerStatus)> {
        let mut v: Vec<(PeerKey, PeerStatus)> = self
            .peers
            .iter()
            .filter_map(|(k, h)| h.status.lock().ok().map(|s| (*k, s.clone())))
            .collect();
        v.sort_by(|a, b| (&a.1.name, a.1.address).cmp(&(&b.1.name, b.1.address)));
        v
    }

    /// Keys of the peers named `name` (a neighbor name, or an address).
    pub(super) fn find(&self, name: &str) -> Vec<PeerKey> {
        self.statuses()
            .into_iter()
            .filter(|(_, s)| matches(s, name))
            .map(|(k, _)| k)
            .collect()
    }

    async fn command(&mut self, name: &str, cmd: impl Fn() -> PeerCommand) -> Response {
        let keys = self.find(name);
        if keys.is_empty() {
            return Response::error(format!("no neighbor {name}"));
        }
        for k in &keys {
            if let Some(h) = self.peers.get(k) {
                let _ = h.commands.send(cmd()).await;
            }
        }
        Response::done(format!("{} session(s) of {name}: done", keys.len()))
    }

    pub(super) async fn ask(&self, q: RoutingQuery) -> Option<RoutingReply> {
        let (tx, rx) = oneshot::channel();
        self.routing.send(RoutingInput::Query(q, tx)).await.ok()?;
        rx.await.ok()
    }

    async fn counts(&self) -> Counts {
        match self.ask(RoutingQuery::Counts).await {
            Some(RoutingReply::Counts(v)) => v.into_iter().collect(),
            _ => HashMap::new(),
        }
    }

    fn summary(&self, key: PeerKey, s: &PeerStatus, counts: &Counts) -> NeighborSummary {
        let c = counts.get(&key).copied().unwrap_or_default();
        let (accepted, advertised) = (c.accepted.total(), c.advertised.total());
        let neighbor = self.config.neighbor(&s.name);
        NeighborSummary {
            name: s.name.clone(),
            address: s.address.to_string(),
            remote_as: s
                .negotiated
                .as_ref()
                .map(|n| n.peer_as)
                .or(neighbor.map(|n| n.remote_as.get()))
                .unwrap_or(0),
            state: s.state.into(),
            uptime_seconds: s
                .established_at
                .map(|t| Instant::now().saturating_duration_since(t).as_secs()),
            prefixes_received: s.received,
            prefixes_accepted: accepted,
            prefixes_advertised: advertised,
            dynamic_group: neighbor.filter(|n| n.is_dynamic()).map(|n| n.name.clone()),
            families: self.family_counts(s, &c),
        }
    }

    /// Per family: each the neighbor is configured for (stable across flaps), and any
    /// other it has routes in.
    fn family_counts(&self, s: &PeerStatus, c: &SessionCounts) -> Vec<FamilyCounts> {
        let configured = self.config.neighbor(&s.name).map(|n| n.families.as_slice());
        let received_v4 = s.received.saturating_sub(s.received_ipv6);
        [
            (
                AddressFamily::Ipv4Unicast,
                received_v4,
                c.accepted.ipv4,
                c.advertised.ipv4,
            ),
            (
                AddressFamily::Ipv6Unicast,
                s.received_ipv6,
                c.accepted.ipv6,
                c.advertised.ipv6,
            ),
        ]
        .into_iter()
        .filter(|(family, rx, acc, adv)| {
            configured.is_some_and(|f| f.contains(family)) || rx + acc + adv > 0
        })
        .map(|(family, received, accepted, advertised)| FamilyCounts {
            family: family.as_str().to_owned(),
            received,
            accepted,
            advertised,
        })
        .collect()
    }

    fn detail(&self, key: PeerKey, s: &PeerStatus, counts: &Counts) -> NeighborDetail {
        let neighbor = self.config.neighbor(&s.name);
        let n = s.negotiated.as_ref();
        let c = counts.get(&key).copied().unwrap_or_default();
        let (advertised, held) = (c.advertised.total(), c.held_back);
        let mut capabilities = Vec::new();
        if let Some(n) = n {
            if n.four_octet_as {
                capabilities.push("4-octet-as".to_owned());
            }
            if n.route_refresh {
                capabilities.push("route-refresh".to_owned());
            }
            if n.enhanced_route_refresh {
                capabilities.push("enhanced-route-refresh".to_owned());
            }
            if n.extended_message {
                capabilities.push("extended-message".to_owned());
            }
            if n.extended_next_hop {
                capabilities.push("extended-next-hop ipv4-unicast".to_owned());
            }
            if let Some(gr) = &n.peer_graceful_restart {
                capabilities.push(format!("graceful-restart({}s)", gr.restart_time));
            }
            for f in &n.families {
                let send = n.add_path_send.contains(*f);
                let recv = n.add_path_receive.contains(*f);
                if send || recv {
                    let dir = match (send, recv) {
                        (true, true) => "send/receive",
                        (true, false) => "send",
                        _ => "receive",
                    };
                    capabilities.push(format!("add-path {f} {dir}"));
                }
            }
        }
        let by_name = |m: &crate::session::MessageCounts| {
            m.by_name()
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect()
        };
        // The summary's per-family counts move to `family_counts`: in the flattened JSON
        // object `families` is the list of negotiated families.
        let mut summary = self.summary(key, s, counts);
        let family_counts = std::mem::take(&mut summary.families);
        NeighborDetail {
            summary,
            family_counts,
            description: neighbor.and_then(|n| n.description.clone()),
            local_address: s.local_address.map(|a| a.to_string()),
            router_id: n.map(|n| n.peer_id),
            hold_time: n.map_or(0, |n| n.hold_time),
            keepalive: n.map_or(0, |n| n.keepalive),
            capabilities,
            families: n
                .map(|n| n.families.iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
            messages_in: by_name(&s.counters.messages_in),
            messages_out: by_name(&s.counters.messages_out),
            flaps: s.counters.flaps,
            last_error: s.last_error.clone(),
            max_prefixes_out: neighbor.and_then(|n| n.max_prefixes_out).map(|l| OutLimit {
                limit: u64::from(l.limit),
                advertised,
                suppressed: held as u64,
            }),
        }
    }
}

fn matches(s: &PeerStatus, name: &str) -> bool {
    s.name == name || s.address.to_string() == name
}

impl Daemon {
    /// Copies peer status and table counts into the Prometheus registry.
    pub async fn update_metrics(&self, m: &crate::metrics::Metrics) {
        if let Some(RoutingReply::Stats(stats)) = self.ask(RoutingQuery::Stats).await {
            for (family, prefixes, paths) in &stats.families {
                m.set_rib(&family.to_string(), *prefixes, *paths);
            }
            m.set_interned_attribute_sets(stats.attribute_sets);
            let names: Vec<String> = (0..stats.groups.len()).map(|i| i.to_string()).collect();
            m.set_export_groups(
                names
                    .iter()
                    .map(String::as_str)
                    .zip(stats.groups.iter().copied()),
            );
            for t in stats.batch_times {
                m.observe_update_processing(t);
            }
            let r = stats.restart;
            m.set_restart(r.deferring, r.last_deferral, r.timer_expired);
            if let Some(f) = stats.fib {
                m.set_fib(f.wanted as u64, f.installs, f.removes, f.errors, f.resyncs);
            }
            m.set_calico_conflicts(stats.calico_conflicts);
        }
        let counts = self.counts().await;
        let now = Instant::now();
        for (key, s) in self.statuses() {
            let summary = self.summary(key, &s, &counts);
            let labels = crate::metrics::NeighborLabels::new(
                s.name.clone(),
                s.address.to_string(),
                summary.remote_as,
            );
            m.set_session(&labels, s.state.into(), s.counters.uptime(now));
            m.set_flaps(&labels, s.counters.flaps);
            let c = counts.get(&key).copied().unwrap_or_default();
            for f in &summary.families {
                m.set_prefixes(&labels, &f.family, f.received, f.accepted, f.advertised);
            }
            m.set_advertised_limit(
                &labels,
                self.config
                    .neighbor(&s.name)
                    .and_then(|n| n.max_prefixes_out)
                    .map(|l| u64::from(l.limit)),
            );
            let config = self.config.neighbor(&s.name);
            m.set_limits(
                &labels,
                config
                    .and_then(|n| n.max_prefixes)
                    .map(|l| u64::from(l.limit)),
                c.held_back as u64,
            );
            m.set_messages(
                &labels,
                s.counters.messages_in.by_name(),
                s.counters.messages_out.by_name(),
            );
            m.set_last_error(&labels, s.last_error.as_deref());
            if config.is_some_and(|n| n.calico.is_some()) {
                m.set_calico_refused(&labels, s.pool_refused.len());
            }
        }
    }
}

/// A path of the table as the control protocol shows it.
fn rib_entry(path: RibPath) -> RibEntry {
    let RibPath {
        prefix,
        path_id,
        attrs,
        next_hop,
        neighbor,
        address,
        best,
        multipath,
        stale,
        reason,
    } = path;
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
    RibEntry {
        prefix,
        path_id,
        best,
        multipath,
        stale,
        neighbor,
        neighbor_address: address,
        next_hop: Some(next_hop.addr()).filter(|a| !a.is_unspecified()),
        next_hop_link_local: match next_hop {
            bgp_wire::attr::NextHop::V6 { link_local, .. } => link_local,
            bgp_wire::attr::NextHop::V4(_) => None,
        },
        as_path,
        origin: match attrs.origin() {
            Some(bgp_wire::attr::Origin::Igp) => "igp",
            Some(bgp_wire::attr::Origin::Egp) => "egp",
            Some(bgp_wire::attr::Origin::Incomplete) | None => "incomplete",
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
