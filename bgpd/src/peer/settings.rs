//! What changes a running session's settings without a reset: a reload (new import
//! policy or pools, export settings) and a drain for maintenance (RFC 8326).

use std::time::Instant;

use bgp_wire::{Message, RouteRefresh};
use tracing::{debug, info, warn};

use super::driver::Driver;
use crate::exchange::Reconfigure;
use crate::routing::RoutingInput;

impl Driver {
    /// Asks the peer for its routes again (RFC 2918), to import them under new settings.
    fn reimport(&mut self, now: Instant) {
        let families = self
            .main
            .session
            .negotiated()
            .filter(|n| n.route_refresh)
            .map(|n| n.families.clone());
        match families {
            Some(families) => {
                for family in families {
                    let msg = Message::RouteRefresh(RouteRefresh::request(family));
                    if let Err(e) = self.main.session.send_message(now, &msg) {
                        warn!(neighbor = %self.spec.name, error = %e, "cannot send ROUTE-REFRESH");
                    }
                }
            }
            None => warn!(
                neighbor = %self.spec.name,
                "the peer does not support route refresh: new import settings apply to routes it sends from now on; `bgpctl neighbor X clear` re-imports everything"
            ),
        }
    }

    /// A reload changed this neighbor's settings. The new export settings reach the
    /// routing task with the next PeerUp, or now (Regroup) if the session is up; the
    /// routing task must get them, so this waits for room in its queue like an UPDATE.
    pub(super) async fn reconfigure(&mut self, r: Reconfigure) {
        let now = Instant::now();
        self.import.policy = r.import_policy.clone();
        self.spec.import.policy = r.import_policy;
        let pools_changed = self.import.calico != r.calico;
        self.import.calico = r.calico.clone();
        self.spec.import.calico = r.calico.clone();
        // Draining is this task's state, set by `Drain` only: a reload keeps it.
        let draining = self.spec.export.graceful_shutdown;
        self.spec.export = r.export.clone();
        self.spec.export.graceful_shutdown = draining;
        if !self.up {
            debug!(neighbor = %self.spec.name, "reload: not established; the new settings apply when the session comes up");
            return;
        }
        if pools_changed {
            // The routing task classifies the node's blocks with them (conflicts, show
            // nodes); what the new pools refuse or accept comes with the re-import.
            let input = RoutingInput::CalicoPools {
                key: self.spec.key,
                pools: r.calico,
            };
            if self.routing.send(input).await.is_err() {
                warn!(neighbor = %self.spec.name, "the routing task is gone: new pools not applied");
            }
        }
        if r.reimport {
            self.reimport(now);
        }
        if r.reexport {
            // Sent after this session's PeerUp and before its PeerDown (one queue, one
            // sender): the routing task has the session when it arrives.
            let regroup = RoutingInput::Regroup {
                key: self.spec.key,
                export: self.spec.export.clone(),
            };
            if self.routing.send(regroup).await.is_err() {
                warn!(neighbor = %self.spec.name, "reload: the routing task is gone: new export settings not applied");
            }
        }
    }

    /// Starts or stops draining (RFC 8326): the routing task moves the session to an
    /// export group whose routes carry GRACEFUL_SHUTDOWN and sends them again. A session
    /// that is down gets the setting with its next PeerUp.
    pub(super) async fn drain(&mut self, on: bool) {
        if self.spec.export.graceful_shutdown == on {
            return;
        }
        self.spec.export.graceful_shutdown = on;
        // RFC 8326 section 4.1: the paths learned over the session lose LOCAL_PREF too, so
        // that our own traffic leaves it before it goes down.
        self.import.drained = on;
        self.spec.import.drained = on;
        info!(neighbor = %self.spec.name, draining = on, "graceful shutdown (RFC 8326)");
        if !self.up {
            return;
        }
        self.reimport(Instant::now());
        let regroup = RoutingInput::Regroup {
            key: self.spec.key,
            export: self.spec.export.clone(),
        };
        if self.routing.send(regroup).await.is_err() {
            warn!(neighbor = %self.spec.name, "the routing task is gone: drain not applied");
        }
    }
}
