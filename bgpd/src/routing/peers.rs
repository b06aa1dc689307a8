//! The sessions as the routing task sees them: a peer comes up and gets its group's table,
//! sends UPDATEs (checked against its received-route limit, RFC 4486), asks for a refresh
//! (RFC 2918, RFC 7313), is moved to another group by a reload, or falls behind and is
//! resynchronised. Going down and graceful restart are in `restart.rs`.

use std::collections::HashMap;
use std::time::Duration;

use bgp_wire::{Family, RefreshSubtype};
use rib::{PeerId, PeerInfo, Rib};
use tracing::{info, warn};

use super::export::PeerKind;
use super::fib_feed::FibResolver;
use super::groups::{self, Groups};
use super::{touch_all_paths_of, Peer, PeerUp, Routing};
use crate::exchange::{ExportSettings, Imported, PeerCommand, PeerKey};

impl Routing {
    /// Moves a peer to the group its new settings call for (a reload): it gets the new
    /// group's table, and withdrawals for what its old group had told it and the new one
    /// does not advertise. Logs what changed for it.
    pub(super) fn regroup(&mut self, key: PeerKey, export: ExportSettings) {
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
        let advertised = advertised.total();
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
    pub(super) fn join_group(&mut self, up: &PeerUp, kind: PeerKind) -> usize {
        let group = self.groups.join(&mut self.rib, up, kind);
        if self.groups.any_policy_changed() {
            self.export();
        }
        group
    }

    pub(super) fn peer_up(&mut self, up: Box<PeerUp>) {
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
                address: up.address,
                calico: up.calico.clone(),
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

    pub(super) fn update(&mut self, key: PeerKey, imported: Imported) {
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
        batch.commit_into(&FibResolver::of(&self.fib), &mut self.dirty);
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

    /// ROUTE-REFRESH from a peer (RFC 2918, RFC 7313 section 4): a request gets our table
    /// again; Beginning of Route Refresh marks the peer's routes of the family stale, and
    /// End of Route Refresh removes those it did not send again.
    pub(super) fn refresh(&mut self, key: PeerKey, family: Family, subtype: RefreshSubtype) {
        let r = FibResolver::of(&self.fib);
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
    pub(super) fn catch_up(&mut self) {
        if self.groups.any_lagging() {
            let reset = self.groups.catch_up(&self.rib);
            self.resync(reset);
        }
    }

    /// Sends a peer its group's whole Adj-RIB-Out, then End-of-RIB (after the deferral: it
    /// ends by sending every peer its table).
    pub(super) fn resend(&mut self, key: PeerKey, family: Option<Family>) {
        if self.deferral.is_some() {
            return;
        }
        self.for_member(key, |groups, rib, ctx, g| {
            groups.send_table(rib, ctx, g, key, family)
        });
    }

    /// Runs a group operation aimed at one member (of group `g`), then resyncs whom it
    /// hands back.
    pub(super) fn for_member(
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

    pub(super) fn resync(&mut self, keys: Vec<PeerKey>) {
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
    pub(super) fn peers_view(&self) -> HashMap<PeerId, groups::PeerView> {
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
