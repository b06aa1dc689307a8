//! Graceful shutdown for maintenance (RFC 8326): `bgpctl drain` and `bgpctl neighbor X
//! drain`. The daemon remembers what is drained (so that sessions that come up later, a
//! Calico node that reconnects, are drained too) and tells the peer tasks; the routing
//! task says when each drained session has been handed its routes. `bgpctl` waits for
//! that, lets the peers settle, then shuts down (the daemon or the session).

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::control::protocol::Response;
use crate::exchange::{PeerCommand, PeerKey};
use crate::routing::{RoutingQuery, RoutingReply};

use super::Daemon;

/// What is drained: everything, or these names and addresses.
#[derive(Debug, Default)]
pub(crate) struct Drained {
    all: bool,
    named: BTreeSet<String>,
}

impl Drained {
    /// Whether a session of neighbor `name` at `address` is drained.
    pub(crate) fn covers(&self, name: &str, address: IpAddr) -> bool {
        self.all || self.named.contains(name) || self.named.contains(&address.to_string())
    }
}

impl Daemon {
    /// Starts (or with `undo` stops) draining one neighbor's sessions or all of them.
    pub(super) async fn drain(&mut self, neighbor: Option<String>, undo: bool) -> Response {
        let keys = match &neighbor {
            Some(n) => {
                let keys = self.find(n);
                if keys.is_empty() {
                    return Response::error(format!("no neighbor {n}"));
                }
                if undo {
                    // By whichever of its names it was drained: the neighbor's name, or
                    // a session's address.
                    self.drained.named.remove(n);
                    for k in &keys {
                        if let Some((name, address)) = self.identity(*k) {
                            self.drained.named.remove(&name);
                            self.drained.named.remove(&address.to_string());
                        }
                    }
                } else {
                    self.drained.named.insert(n.clone());
                }
                keys
            }
            None => {
                self.drained.all = !undo;
                if undo {
                    self.drained.named.clear();
                }
                self.peers.keys().copied().collect()
            }
        };
        for k in &keys {
            // A session also covered otherwise (all, its name, its address) stays drained.
            let on = !undo || self.covered(*k);
            if let Some(h) = self.peers.get(k) {
                let _ = h.commands.send(PeerCommand::Drain(on)).await;
            }
        }
        let what = neighbor.as_deref().unwrap_or("every neighbor");
        if undo && self.drained.all {
            return Response::done(format!(
                "{what} stays drained: every neighbor is (`bgpctl undrain` ends that)"
            ));
        }
        let verb = if undo { "stopped draining" } else { "draining" };
        Response::done(format!("{verb} {what}: {} session(s)", keys.len()))
    }

    /// A session's neighbor name and address.
    fn identity(&self, key: PeerKey) -> Option<(String, IpAddr)> {
        let h = self.peers.get(&key)?;
        let s = h.status.lock().ok()?;
        Some((s.name.clone(), s.address))
    }

    /// The neighbors drained by name or address.
    pub(super) fn drained_names(&self) -> &BTreeSet<String> {
        &self.drained.named
    }

    /// Whether session `key` is drained by what is remembered.
    fn covered(&self, key: PeerKey) -> bool {
        self.identity(key)
            .is_some_and(|(name, address)| self.drained.covers(&name, address))
    }

    /// Which drained sessions (of `neighbor`, or all) have been handed their routes.
    pub(super) async fn drain_status(&self, neighbor: Option<String>) -> Response {
        let keys: Vec<PeerKey> = match &neighbor {
            Some(n) => self.find(n),
            None => self.peers.keys().copied().collect(),
        };
        let keys: Vec<PeerKey> = keys.into_iter().filter(|k| self.covered(*k)).collect();
        let waiting = match self.ask(RoutingQuery::DrainPending(keys.clone())).await {
            Some(RoutingReply::DrainPending(w)) => w,
            _ => return Response::error("the routing task did not answer"),
        };
        let mut delivered = Vec::new();
        let mut pending = Vec::new();
        for k in keys {
            let Some(label) = self.label(k) else { continue };
            if waiting.contains(&k) {
                pending.push(label);
            } else if self.established(k) {
                delivered.push(label);
            }
        }
        delivered.sort();
        pending.sort();
        Response::Drain {
            delivered,
            waiting: pending,
        }
    }

    fn label(&self, key: PeerKey) -> Option<String> {
        let h = self.peers.get(&key)?;
        let s = h.status.lock().ok()?;
        Some(format!("{} {}", s.name, s.address))
    }

    fn established(&self, key: PeerKey) -> bool {
        self.peers.get(&key).is_some_and(|h| {
            h.status
                .lock()
                .is_ok_and(|s| s.state == crate::session::State::Established)
        })
    }
}
