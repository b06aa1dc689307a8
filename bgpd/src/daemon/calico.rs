//! `bgpctl show nodes` and `bgpctl show calico conflicts`: the Calico view, from the
//! routing task's tables and the node sessions' status (see docs/calico.md).

use std::collections::HashMap;
use std::time::Instant;

use crate::control::calico::{CalicoConflict, ConflictNode, NodeRow, Refused};
use crate::control::protocol::{Response, SessionState};
use crate::routing::{RoutingQuery, RoutingReply};

use super::Daemon;

impl Daemon {
    /// One row per session of a range neighbor with `calico`, sorted by address.
    pub(super) async fn show_nodes(&self) -> Response {
        let Some(RoutingReply::CalicoNodes(routes)) = self.ask(RoutingQuery::CalicoNodes).await
        else {
            return Response::error("the routing task did not answer");
        };
        let routes: HashMap<_, _> = routes.into_iter().collect();
        let now = Instant::now();
        let mut rows = Vec::new();
        for (key, h) in &self.peers {
            let Some(s) = h.status.lock().ok().map(|s| s.clone()) else {
                continue;
            };
            if self
                .config
                .neighbor(&s.name)
                .is_none_or(|n| n.calico.is_none())
            {
                continue;
            }
            let r = routes.get(key).cloned().unwrap_or_default();
            let state: SessionState = s.state.into();
            // Routes kept while the node is away, or stale ones it has not refreshed yet.
            let gr = if r.stale > 0 { "stale" } else { "none" };
            rows.push(NodeRow {
                address: s.address,
                neighbor: s.name.clone(),
                state,
                uptime_seconds: s
                    .established_at
                    .map(|t| now.saturating_duration_since(t).as_secs()),
                graceful_restart: gr.to_owned(),
                blocks: r.blocks,
                borrowed: r.borrowed,
                refused: s
                    .pool_refused
                    .iter()
                    .map(|(p, why)| Refused {
                        prefix: *p,
                        reason: (*why).to_owned(),
                    })
                    .collect(),
            });
        }
        rows.sort_by_key(|r| r.address);
        Response::Nodes(rows)
    }

    /// Blocks announced by more than one node.
    pub(super) async fn show_calico_conflicts(&self) -> Response {
        match self.ask(RoutingQuery::CalicoConflicts).await {
            Some(RoutingReply::CalicoConflicts(v)) => Response::CalicoConflicts(
                v.into_iter()
                    .map(|(block, owners)| CalicoConflict {
                        block,
                        nodes: owners
                            .into_iter()
                            .map(|o| ConflictNode {
                                address: o.address,
                                stale: o.stale,
                            })
                            .collect(),
                    })
                    .collect(),
            ),
            _ => Response::error("the routing task did not answer"),
        }
    }
}
