//! Export groups: peers that receive identical UPDATEs share one group, so each change is
//! filtered, rewritten and encoded once and the same bytes go to every member. Each group's
//! Adj-RIB-Out lives in the RIB (`rib::adj_out`).
//!
//! A member whose queue is full is not waited on (that would let one slow peer stall
//! everyone): it is handed back for a resync.

mod delivery;
mod limit;
mod outgoing;
mod prefix;

use std::collections::BTreeSet;
use std::collections::HashMap;
use std::net::Ipv4Addr;

use bgp_wire::Family;
use bgp_wire::UpdatePacker;
use ipnet::IpNet;
use rib::DestId;
use rib::GroupId;
use rib::PeerId;
use rib::Rib;

use crate::exchange::updates::UpdateSender;
use crate::exchange::PeerKey;
use crate::routing::export::ExportRules;
use crate::routing::export::GroupKey;
use crate::routing::export::Local;
use crate::routing::export::PeerKind;
use crate::routing::export::Source;
use crate::routing::PeerUp;
use delivery::refresh_table;
use delivery::send;
use limit::release_suppressed;
use outgoing::Pending;
use prefix::export_chunked;
use prefix::flush;
use prefix::loc_rib_prefixes;

/// Who a RIB peer is, for export.
#[derive(Debug, Clone)]
pub struct PeerView {
    /// Session kind; `None` for routes originated here.
    pub kind: Option<PeerKind>,
    /// The neighbor's name.
    pub name: String,
    /// Its BGP identifier.
    pub bgp_id: Ipv4Addr,
}

impl PeerView {
    /// The peer as a route's source, for export.
    fn source(&self) -> Source<'_> {
        Source {
            kind: self.kind,
            neighbor: (!self.name.is_empty()).then_some(self.name.as_str()),
            bgp_id: self.bgp_id,
        }
    }
}

/// What export reads besides the RIB.
#[derive(Debug)]
pub struct ExportCtx<'a> {
    /// Our AS and cluster ID.
    pub local: &'a Local,
    /// Every RIB peer.
    pub peers: &'a HashMap<PeerId, PeerView>,
}

#[derive(Debug)]
struct Group {
    rules: ExportRules,
    gid: GroupId,
    members: Vec<Member>,
    packer: UpdatePacker,
    /// The group's Adj-RIB-Out reflects the whole Loc-RIB.
    primed: bool,
    /// Prefixes held back by the advertised-route limit.
    suppressed: BTreeSet<IpNet>,
    warned_limit: bool,
    /// The export policy was replaced: everything must be exported again.
    policy_changed: bool,
    /// The export batch, kept between exports for its allocations.
    scratch: Pending,
}

/// A peer receiving a group's updates.
#[derive(Debug)]
struct Member {
    key: PeerKey,
    /// Its BGP identifier: routes whose ORIGINATOR_ID it is are not sent back to it.
    bgp_id: Ipv4Addr,
    tx: UpdateSender,
    /// The peer negotiated enhanced route refresh (RFC 7313): it can be resynchronised
    /// without a reset.
    enhanced_refresh: bool,
    /// Its queue overflowed: it gets nothing until it catches up with a whole table.
    lagging: bool,
}

/// Every export group.
#[derive(Debug, Default)]
pub struct Groups {
    groups: Vec<Option<Group>>,
    by_key: HashMap<GroupKey, usize>,
}

impl Group {
    /// The members' BGP identifiers, sorted; none for eBGP, where routes carry no
    /// ORIGINATOR_ID (RFC 4456 section 8: it is not sent outside the AS).
    fn member_ids(&self) -> Vec<Ipv4Addr> {
        if let PeerKind::Ebgp(_) = self.rules.key.kind {
            return Vec::new();
        }
        let mut ids: Vec<Ipv4Addr> = self.members.iter().map(|m| m.bgp_id).collect();
        ids.sort_unstable();
        ids
    }
}

impl Groups {
    /// Adds a peer to the group for its settings, creating it when needed.
    pub fn join(&mut self, rib: &mut Rib, up: &PeerUp, kind: PeerKind) -> usize {
        let key = GroupKey {
            kind,
            policy_name: up.export.export_policy.as_ref().map(|p| p.name.clone()),
            encode: up.negotiated.encode,
            families: up.negotiated.families.clone(),
            // A session over an IPv4-mapped address is an IPv4 session.
            local_address: up.local_address.map(|a| a.to_canonical()),
            link_local: up.link_local,
            extended_next_hop: up.negotiated.extended_next_hop,
            next_hop_self: up.export.next_hop_self,
            limit: up
                .export
                .max_prefixes_out
                .map(|l| (l.limit, l.warning_percent)),
            llgr: !up.negotiated.peer_llgr.is_empty(),
            graceful_shutdown: up.export.graceful_shutdown,
        };
        let member = Member {
            key: up.key,
            bgp_id: up.negotiated.peer_id,
            tx: up.updates.clone(),
            enhanced_refresh: up.negotiated.enhanced_route_refresh,
            lagging: false,
        };
        if let Some(&i) = self.by_key.get(&key) {
            if let Some(Some(g)) = self.groups.get_mut(i) {
                g.members.retain(|m| m.key != up.key);
                g.members.push(member);
                // A reload may have changed the policy behind the same name: the group
                // takes the new one (the caller re-exports).
                if g.rules.policy != up.export.export_policy {
                    g.rules.policy = up.export.export_policy.clone();
                    g.rules.limit = up.export.max_prefixes_out;
                    g.policy_changed = true;
                }
                return i;
            }
        }
        let group = Group {
            rules: ExportRules {
                key: key.clone(),
                policy: up.export.export_policy.clone(),
                limit: up.export.max_prefixes_out,
            },
            gid: rib.add_group(),
            members: vec![member],
            packer: UpdatePacker::new(key.encode),
            primed: false,
            suppressed: BTreeSet::new(),
            warned_limit: false,
            policy_changed: false,
            scratch: Pending::default(),
        };
        let i = match self.groups.iter().position(Option::is_none) {
            Some(i) => {
                self.groups[i] = Some(group);
                i
            }
            None => {
                self.groups.push(Some(group));
                self.groups.len() - 1
            }
        };
        self.by_key.insert(key, i);
        i
    }

    /// Removes a peer from its group, dropping the group when it was the last member.
    pub fn leave(&mut self, rib: &mut Rib, index: usize, key: PeerKey) {
        let Some(slot) = self.groups.get_mut(index) else {
            return;
        };
        let Some(g) = slot.as_mut() else { return };
        g.members.retain(|m| m.key != key);
        if g.members.is_empty() {
            rib.remove_group(g.gid);
            self.by_key.remove(&g.rules.key);
            *slot = None;
        }
    }

    /// Members of each group.
    pub fn member_counts(&self) -> Vec<u64> {
        self.groups
            .iter()
            .flatten()
            .map(|g| g.members.len() as u64)
            .collect()
    }

    /// Whether some group sends every path (ADD-PATH): then a change to any path matters,
    /// not only a change of the best one.
    pub fn any_add_path(&self) -> bool {
        self.groups
            .iter()
            .flatten()
            .any(|g| g.rules.key.encode.add_path != bgp_wire::FamilySet::EMPTY)
    }

    /// Advertised paths of the group a peer is in, per family, and the prefixes held back.
    pub fn advertised(&self, rib: &Rib, index: usize) -> (rib::PeerCounts, usize) {
        match self.groups.get(index) {
            Some(Some(g)) => (rib.advertised_counts(g.gid), g.suppressed.len()),
            _ => (rib::PeerCounts::default(), 0),
        }
    }

    /// What a group advertised for `prefix`.
    pub fn sent<'r>(&self, rib: &'r Rib, index: usize, prefix: IpNet) -> &'r [rib::Sent] {
        match self.groups.get(index) {
            Some(Some(g)) => rib.advertised(g.gid, prefix),
            _ => &[],
        }
    }

    /// Exports `prefixes` to every primed group; returns the members to resync.
    pub fn export(
        &mut self,
        rib: &mut Rib,
        ctx: &ExportCtx<'_>,
        prefixes: impl Iterator<Item = (IpNet, Option<DestId>)> + Clone,
    ) -> Vec<PeerKey> {
        let mut resync = Vec::new();
        let mut all: Option<Vec<IpNet>> = None;
        for g in self.groups.iter_mut().flatten() {
            if !g.primed {
                continue;
            }
            let mut pending = std::mem::take(&mut g.scratch);
            pending.start(&g.rules);
            if std::mem::take(&mut g.policy_changed) {
                let all = all.get_or_insert_with(|| loc_rib_prefixes(rib, None));
                let all = all.iter().map(|p| (*p, None));
                export_chunked(rib, ctx, g, all, None, &mut pending, &mut resync);
            }
            // The changed prefixes (after a policy change too: those that just lost their
            // last path are not in the Loc-RIB but may still need a withdraw; a repeat is a
            // no-op).
            let changed = prefixes.clone();
            export_chunked(rib, ctx, g, changed, None, &mut pending, &mut resync);
            release_suppressed(rib, ctx, g, &mut pending);
            flush(g, rib, &mut pending, None, &mut resync);
            g.scratch = pending;
        }
        resync
    }

    /// Answers a member's ROUTE-REFRESH request for `family`: with enhanced route refresh,
    /// the table between BoRR and EoRR (RFC 7313 section 4), else the table and End-of-RIB.
    pub fn refresh_member(
        &mut self,
        rib: &mut Rib,
        ctx: &ExportCtx<'_>,
        index: usize,
        member: PeerKey,
        family: Family,
    ) -> Vec<PeerKey> {
        let mut resync = Vec::new();
        let Some(Some(g)) = self.groups.get_mut(index) else {
            return resync;
        };
        let enhanced = g
            .members
            .iter()
            .any(|m| m.key == member && m.enhanced_refresh);
        if !enhanced || !g.primed || !g.rules.key.families.contains(&family) {
            return self.send_table(rib, ctx, index, member, Some(family));
        }
        let table = refresh_table(rib, g, &[family]);
        send(g, &table, Some(member), &mut resync);
        resync
    }

    /// Whether a group's export policy was replaced and its table awaits re-export.
    pub fn any_policy_changed(&self) -> bool {
        self.groups
            .iter()
            .flatten()
            .any(|g| g.primed && g.policy_changed)
    }
}

#[cfg(test)]
mod tests;
