//! What each export group has advertised (its Adj-RIB-Out, RFC 4271 section 3.2), so that
//! an UPDATE is sent only when it changes what the group was told and a withdraw only for
//! what was advertised.
//!
//! No trie of its own: the main tries map a prefix to a dest id (see `path.rs`), and each
//! group keeps a sparse array indexed by that id, so a group lookup is one index after the
//! main lookup and a group told a full table costs 12 bytes per prefix.
//!
//! ```text
//! prefix ─trie─► DestId ─► Dests[id]             (the paths)
//!                       └► group g: slots[id]    Sent{path_id, attrs, next_hop}, 12 bytes
//!                                                 or "nothing", or "many": index into
//!                                                 exact-size arrays (ADD-PATH, 2+ paths)
//! ```
//!
//! The slot array is kept in chunks of 1024 ids, each nothing, a sorted list of up to 128
//! (offset, slot) pairs, or a full 12 KB array, by how many slots it holds; so a group told a
//! full table pays 12 bytes per prefix, and a group told a few prefixes scattered over the
//! id space (ids follow arrival order, not address order) about a list entry each. The attribute sets are shared
//! with the Adj-RIBs-In whenever export leaves them unchanged (a reflector reflecting to
//! iBGP clients).
//!
//! A dest stays in the tries, without paths, while any group still has something
//! advertised for it: export runs after the RIB removed a prefix's last path and must still
//! find what it sent in order to withdraw it. Queries never show such a dest, and it is
//! freed when the last group withdraws it or is cleared.

use bgp_wire::attr::{NextHop, PathAttributes};
use ipnet::IpNet;

use crate::chunked::Sparse;
use crate::intern::{AttrId, AttrStore, InternError};
use crate::nexthop::{NextHopId, NextHopStore};
use crate::path::DestId;
use crate::peer::PeerCounts;
use crate::table::Rib;

/// Where a prefix is in the tables, from [`Rib::locate`]. Valid until the prefix may have
/// left the table: the next batch, peer operation, or withdraw of its last advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located {
    prefix: IpNet,
    id: DestId,
}

impl Located {
    /// The prefix.
    pub fn prefix(&self) -> IpNet {
        self.prefix
    }
}

/// An export group as the tables know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub u16);

/// One advertised path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sent {
    /// The ADD-PATH path id it was advertised with (0 without ADD-PATH).
    pub path_id: u32,
    /// The attributes as exported.
    pub attrs: AttrId,
    /// The next hop as exported.
    pub next_hop: NextHopId,
}

/// Tags kept in a slot's `attrs`: the store hands out ids from 0 up, and 2^32 - 2 sets
/// would take hundreds of gigabytes, so real ids never reach these.
const NOTHING: AttrId = AttrId(u32::MAX);
/// The slot's `path_id` is an index into the group's spill.
const MANY: AttrId = AttrId(u32::MAX - 1);

const EMPTY: Sent = Sent {
    path_id: 0,
    attrs: NOTHING,
    next_hop: NextHopId(0),
};

/// The slot of a dest whose paths are `multi[i]`.
fn many(i: u32) -> Sent {
    Sent {
        path_id: i,
        attrs: MANY,
        next_hop: NextHopId(0),
    }
}

/// Exact-size arrays for the dests a group advertised two or more paths of (ADD-PATH).
#[derive(Debug, Default)]
struct Multi {
    arrays: Vec<Box<[Sent]>>,
    free: Vec<u32>,
}

impl Multi {
    fn get(&self, i: u32) -> &[Sent] {
        self.arrays.get(i as usize).map_or(&[], |v| v)
    }

    fn put(&mut self, v: Box<[Sent]>) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.arrays[i as usize] = v;
                i
            }
            None => {
                self.arrays.push(v);
                u32::try_from(self.arrays.len() - 1).unwrap_or(u32::MAX)
            }
        }
    }

    fn take(&mut self, i: u32) -> Box<[Sent]> {
        self.free.push(i);
        std::mem::take(&mut self.arrays[i as usize])
    }
}

/// One group's Adj-RIB-Out, by dest id.
#[derive(Debug)]
struct GroupTable {
    /// Per dest: [`EMPTY`], the one path advertised, or (tagged [`MANY`]) which array of
    /// `multi` holds the paths.
    slots: Sparse<Sent>,
    multi: Multi,
    /// Paths advertised, per family.
    paths: PeerCounts,
}

impl Default for GroupTable {
    fn default() -> Self {
        GroupTable {
            slots: Sparse::new(EMPTY),
            multi: Multi::default(),
            paths: PeerCounts::default(),
        }
    }
}

impl GroupTable {
    fn sent(&self, id: DestId) -> &[Sent] {
        self.expand(self.slots.get(id.index()))
    }

    fn expand<'a>(&'a self, s: &'a Sent) -> &'a [Sent] {
        match s.attrs {
            NOTHING => &[],
            MANY => self.multi.get(s.path_id),
            _ => std::slice::from_ref(s),
        }
    }

    fn holds(&self, id: DestId) -> bool {
        self.slots.get(id.index()).attrs != NOTHING
    }

    /// Records `new`; `None` when it was advertised exactly so already, else the path it
    /// replaced (`Some(None)` when it adds one).
    fn upsert(&mut self, id: DestId, new: Sent, v6: bool) -> Option<Option<Sent>> {
        let old = *self.slots.get(id.index());
        match old.attrs {
            NOTHING => self.slots.set(id.index(), new),
            MANY => {
                let v = &mut self.multi.arrays[old.path_id as usize];
                if let Some(s) = v.iter_mut().find(|s| s.path_id == new.path_id) {
                    return (*s != new).then(|| Some(std::mem::replace(s, new)));
                }
                let mut grown = Vec::with_capacity(v.len() + 1);
                grown.extend_from_slice(v);
                grown.push(new);
                *v = grown.into_boxed_slice();
            }
            _ if old.path_id == new.path_id => {
                if old == new {
                    return None;
                }
                self.slots.set(id.index(), new);
                return Some(Some(old));
            }
            _ => {
                let i = self.multi.put(Box::new([old, new]));
                self.slots.set(id.index(), many(i));
            }
        }
        *self.count(v6) += 1;
        Some(None)
    }

    /// Removes the path advertised with `path_id`, returning it.
    fn count(&mut self, v6: bool) -> &mut u64 {
        if v6 {
            &mut self.paths.ipv6
        } else {
            &mut self.paths.ipv4
        }
    }

    fn remove(&mut self, id: DestId, path_id: u32, v6: bool) -> Option<Sent> {
        let old = *self.slots.get(id.index());
        let gone = match old.attrs {
            NOTHING => return None,
            MANY => {
                let at = self
                    .multi
                    .get(old.path_id)
                    .iter()
                    .position(|s| s.path_id == path_id)?;
                let mut kept = self.multi.take(old.path_id).into_vec();
                let gone = kept.remove(at);
                let slot = match kept[..] {
                    [one] => one,
                    _ => many(self.multi.put(kept.into_boxed_slice())),
                };
                self.slots.set(id.index(), slot);
                gone
            }
            _ if old.path_id == path_id => {
                self.slots.set(id.index(), EMPTY);
                old
            }
            _ => return None,
        };
        *self.count(v6) -= 1;
        Some(gone)
    }
}

/// Every group's Adj-RIB-Out.
#[derive(Debug, Default)]
pub(crate) struct AdjRibsOut {
    tables: Vec<Option<GroupTable>>,
}

impl AdjRibsOut {
    /// Whether some group has something advertised for the dest (which must then stay, even
    /// without paths, until the group withdraws it).
    pub(crate) fn hold(&self, id: DestId) -> bool {
        self.tables.iter().flatten().any(|t| t.holds(id))
    }
}

/// What export should do after recording an advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advertise {
    /// The group was told exactly this already: send nothing.
    Unchanged,
    /// New or different: send it.
    Send,
}

fn release(attrs: &mut AttrStore, nhs: &mut NextHopStore, s: &Sent) {
    attrs.release(s.attrs);
    nhs.release(s.next_hop);
}

impl Rib {
    /// Creates an export group.
    pub fn add_group(&mut self) -> GroupId {
        let tables = &mut self.core.adj_out.tables;
        let i = match tables.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                tables.push(None);
                tables.len() - 1
            }
        };
        tables[i] = Some(GroupTable::default());
        GroupId(u16::try_from(i).unwrap_or(u16::MAX))
    }

    /// Deletes a group and forgets what it advertised.
    pub fn remove_group(&mut self, group: GroupId) {
        self.clear_group(group);
        if let Some(t) = self.core.adj_out.tables.get_mut(usize::from(group.0)) {
            *t = None;
        }
    }

    /// Forgets everything a group advertised (its members are being resynced from the
    /// Loc-RIB, or all went down).
    pub fn clear_group(&mut self, group: GroupId) {
        let core = &mut self.core;
        let Some(Some(t)) = core.adj_out.tables.get_mut(usize::from(group.0)) else {
            return;
        };
        let old = std::mem::take(t);
        let mut held = Vec::new();
        old.slots.for_each(|i, s| {
            for s in old.expand(s) {
                release(&mut core.attrs, &mut core.next_hops, s);
            }
            held.push(DestId(u32::try_from(i).unwrap_or(u32::MAX)));
        });
        drop(old);
        // Dests kept only for this group go now. Their prefixes are not stored with them,
        // so one walk of the tries finds them (ids ascend: `held` is sorted).
        held.retain(|&id| core.dests[id].is_empty() && !core.adj_out.hold(id));
        if held.is_empty() {
            return;
        }
        self.v4.retain(|_, id| held.binary_search(id).is_err());
        self.v6.retain(|_, id| held.binary_search(id).is_err());
        for id in held {
            self.core.dests.free(id);
        }
    }

    /// Records that `group` is to advertise `prefix` (with `path_id`) carrying `attrs` and
    /// `next_hop`, and says whether that differs from what it was told.
    pub fn advertise(
        &mut self,
        group: GroupId,
        prefix: IpNet,
        path_id: u32,
        attrs: &PathAttributes,
        next_hop: NextHop,
    ) -> Result<Advertise, InternError> {
        let (a, nh) = self.intern_export(attrs, next_hop)?;
        let out = self.advertise_interned(group, prefix, path_id, a, nh);
        // advertise_interned took its own references.
        self.release_export(a, nh);
        Ok(out)
    }

    /// As [`Rib::advertise`] with an already interned set and next hop (export left the
    /// Loc-RIB path's attributes unchanged).
    pub fn advertise_interned(
        &mut self,
        group: GroupId,
        prefix: IpNet,
        path_id: u32,
        attrs: AttrId,
        next_hop: NextHopId,
    ) -> Advertise {
        if !matches!(
            self.core.adj_out.tables.get(usize::from(group.0)),
            Some(Some(_))
        ) {
            return Advertise::Send;
        }
        // Normally the prefix is in the table (export follows the Loc-RIB); if not, a
        // path-less dest records what was sent.
        let id = self.dest_or_insert(prefix);
        self.advertise_at(group, Located { prefix, id }, path_id, attrs, next_hop)
    }

    /// A prefix's place in the tables, looked up once for the operations export runs on
    /// it in a row (read its paths, what a group was told, record the new advertisement).
    pub fn locate(&self, prefix: IpNet) -> Option<Located> {
        let prefix = prefix.trunc();
        self.dest_id(prefix).map(|id| Located { prefix, id })
    }

    /// As [`Rib::locate`], from the dest id a change came with (no trie lookup). `None`
    /// when that dest was removed since: the prefix then has no paths and nothing
    /// advertised, or a later change reported it again. Valid until
    /// [`Rib::recycle_dest_ids`].
    pub fn locate_hinted(&self, prefix: IpNet, id: DestId) -> Option<Located> {
        if id.index() >= self.core.dests.len() || self.core.unused(id) {
            return None;
        }
        let prefix = prefix.trunc();
        debug_assert_eq!(self.dest_id(prefix), Some(id), "dest id of another prefix");
        Some(Located { prefix, id })
    }

    /// Lets the ids of dests removed since the last call be reused. Until then an id handed
    /// out with a change belongs to its prefix or to no prefix: call this once nothing
    /// holds such ids (after exporting the changes).
    pub fn recycle_dest_ids(&mut self) {
        self.core.dests.recycle();
    }

    /// The prefix's paths, as [`Rib::get`] (`None` when it has none).
    pub fn get_at(&self, at: Located) -> Option<crate::DestView<'_>> {
        debug_assert_eq!(self.dest_id(at.prefix), Some(at.id), "stale Located");
        let paths = self.core.dests[at.id].paths(&self.core.spill);
        (!paths.is_empty()).then_some(crate::DestView {
            prefix: at.prefix,
            paths,
        })
    }

    /// As [`Rib::advertised`].
    pub fn advertised_at(&self, group: GroupId, at: Located) -> &[Sent] {
        debug_assert_eq!(self.dest_id(at.prefix), Some(at.id), "stale Located");
        match self.core.adj_out.tables.get(usize::from(group.0)) {
            Some(Some(t)) => t.sent(at.id),
            _ => &[],
        }
    }

    /// As [`Rib::advertise_interned`].
    pub fn advertise_at(
        &mut self,
        group: GroupId,
        at: Located,
        path_id: u32,
        attrs: AttrId,
        next_hop: NextHopId,
    ) -> Advertise {
        debug_assert_eq!(self.dest_id(at.prefix), Some(at.id), "stale Located");
        debug_assert!(attrs != NOTHING && attrs != MANY);
        let id = at.id;
        let core = &mut self.core;
        let Some(Some(t)) = core.adj_out.tables.get_mut(usize::from(group.0)) else {
            return Advertise::Send;
        };
        let new = Sent {
            path_id,
            attrs,
            next_hop,
        };
        match t.upsert(id, new, at.prefix.addr().is_ipv6()) {
            None => Advertise::Unchanged,
            Some(old) => {
                core.attrs.retain(attrs);
                core.next_hops.retain(next_hop);
                if let Some(old) = old {
                    release(&mut core.attrs, &mut core.next_hops, &old);
                }
                Advertise::Send
            }
        }
    }

    /// Records a withdraw of `prefix` (`path_id`) from `group`. Returns whether it had been
    /// advertised, i.e. whether a withdraw must be sent.
    pub fn withdraw_advertised(&mut self, group: GroupId, prefix: IpNet, path_id: u32) -> bool {
        match self.locate(prefix) {
            Some(at) => self.withdraw_advertised_at(group, at, path_id),
            None => false,
        }
    }

    /// As [`Rib::withdraw_advertised`]. A prefix left with no paths and nothing advertised
    /// leaves the table: `at` must not be used after this returns true for such a prefix.
    pub fn withdraw_advertised_at(&mut self, group: GroupId, at: Located, path_id: u32) -> bool {
        debug_assert_eq!(self.dest_id(at.prefix), Some(at.id), "stale Located");
        let (prefix, id) = (at.prefix, at.id);
        let core = &mut self.core;
        let Some(Some(t)) = core.adj_out.tables.get_mut(usize::from(group.0)) else {
            return false;
        };
        let Some(old) = t.remove(id, path_id, prefix.addr().is_ipv6()) else {
            return false;
        };
        release(&mut core.attrs, &mut core.next_hops, &old);
        self.drop_if_unused(prefix, id);
        true
    }

    /// What `group` was told about `prefix`.
    pub fn advertised(&self, group: GroupId, prefix: IpNet) -> &[Sent] {
        let Some(Some(t)) = self.core.adj_out.tables.get(usize::from(group.0)) else {
            return &[];
        };
        self.dest_id(prefix).map_or(&[], |id| t.sent(id))
    }

    /// Everything `group` has advertised, in address order (IPv4 first), prefixes that have
    /// lost their last path since included: export has yet to withdraw those, and a member
    /// leaving the group must hear of them (a reload moving a peer to another group).
    /// Walks the tries: for rare whole-group operations.
    pub fn advertised_routes(&self, group: GroupId) -> Vec<(IpNet, Sent)> {
        let Some(Some(t)) = self.core.adj_out.tables.get(usize::from(group.0)) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(usize::try_from(t.paths.ipv4 + t.paths.ipv6).unwrap_or(0));
        let v4 = self.v4.iter().map(|(p, id)| (IpNet::V4(p), *id));
        let v6 = self.v6.iter().map(|(p, id)| (IpNet::V6(p), *id));
        for (prefix, id) in v4.chain(v6) {
            out.extend(t.sent(id).iter().map(|s| (prefix, *s)));
        }
        out
    }

    /// Paths `group` has advertised (all families).
    pub fn advertised_count(&self, group: GroupId) -> u64 {
        let c = self.advertised_counts(group);
        c.ipv4 + c.ipv6
    }

    /// Paths `group` has advertised, per family.
    pub fn advertised_counts(&self, group: GroupId) -> PeerCounts {
        match self.core.adj_out.tables.get(usize::from(group.0)) {
            Some(Some(t)) => t.paths,
            _ => PeerCounts::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::{IpAddr, Ipv4Addr};

    use bgp_wire::attr::{AsPath, AttrValue, Origin};
    use bgp_wire::{Family, Nlri};
    use proptest::prelude::*;

    use super::*;
    use crate::{AllReachable, Options, PeerId, PeerInfo};

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn set(lp: u32) -> PathAttributes {
        PathAttributes::from_values([
            AttrValue::Origin(Origin::Igp),
            AttrValue::AsPath(AsPath::sequence(&[65001])),
            AttrValue::LocalPref(lp),
        ])
    }

    fn nh(i: u8) -> NextHop {
        NextHop::V4(Ipv4Addr::new(192, 0, 2, i))
    }

    fn rib_with_peer() -> (Rib, PeerId) {
        let mut rib = Rib::new(Options::default());
        let a = Ipv4Addr::new(10, 9, 9, 1);
        let p = rib
            .add_peer(PeerInfo::ibgp(IpAddr::V4(a), a, 65000))
            .unwrap();
        (rib, p)
    }

    fn announce(rib: &mut Rib, peer: PeerId, prefix: &str) {
        let mut b = rib.batch(peer);
        b.announce(&set(100), nh(1), &[Nlri::new(net(prefix))])
            .unwrap();
        b.commit(&AllReachable);
    }

    fn withdraw(rib: &mut Rib, peer: PeerId, prefix: &str) {
        let mut b = rib.batch(peer);
        b.withdraw(&[Nlri::new(net(prefix))]);
        b.commit(&AllReachable);
    }

    /// Dests in the tries (with paths or not) and ids in use in the arena.
    fn held(rib: &Rib) -> usize {
        rib.v4.len() + rib.v6.len()
    }

    #[test]
    fn a_path_less_dest_stays_for_the_group_but_is_no_route() {
        let (mut rib, peer) = rib_with_peer();
        let g = rib.add_group();
        announce(&mut rib, peer, "10.0.0.0/8");
        announce(&mut rib, peer, "10.1.0.0/16");
        let pfx = net("10.1.0.0/16");
        let path = *rib.get(pfx).unwrap().best().unwrap();
        let out = rib.advertise_interned(g, pfx, 0, path.attrs(), path.next_hop());
        assert_eq!(out, Advertise::Send);
        withdraw(&mut rib, peer, "10.1.0.0/16");
        // Export runs after the RIB removed the last path: what was sent is still known.
        assert_eq!(rib.advertised(g, pfx).len(), 1);
        assert_eq!(rib.advertised(g, pfx)[0].attrs, path.attrs());
        assert_eq!(held(&rib), 2);
        // ... but no query shows the prefix.
        assert!(rib.get(pfx).is_none());
        assert_eq!(rib.prefix_count(Family::Ipv4Unicast), 1);
        let all: Vec<IpNet> = rib.iter(Family::Ipv4Unicast).map(|d| d.prefix).collect();
        assert_eq!(all, [net("10.0.0.0/8")]);
        assert_eq!(
            rib.longest_match(net("10.1.2.3/32")).unwrap().prefix,
            net("10.0.0.0/8")
        );
        assert!(!rib.has_more_specific(net("10.0.0.0/8")));
        assert_eq!(rib.more_specifics(pfx, true).count(), 0);
        assert_eq!(rib.routes_of(peer, Family::Ipv4Unicast).count(), 1);
        assert!(rib.explain(pfx, &AllReachable).is_none());
        assert!(rib.recompute(&AllReachable).is_empty());
        // The group's own listing has it (a member moving away must hear its withdraw).
        assert_eq!(rib.advertised_routes(g), [(pfx, rib.advertised(g, pfx)[0])]);
        // The withdraw lets it go, and its id is reused.
        assert!(rib.withdraw_advertised(g, pfx, 0));
        assert_eq!(held(&rib), 1);
        assert_eq!(rib.advertised_count(g), 0);
        assert!(rib.advertised_routes(g).is_empty());
        assert_eq!(rib.attrs().len(), 1);
        announce(&mut rib, peer, "192.0.2.0/24");
        assert!(rib.advertised(g, net("192.0.2.0/24")).is_empty());
    }

    #[test]
    fn a_path_less_dest_goes_with_the_last_group_holding_it() {
        let (mut rib, peer) = rib_with_peer();
        let (g1, g2) = (rib.add_group(), rib.add_group());
        let pfx = net("2001:db8::/32");
        // Advertised before the RIB has it (an originated route, a test).
        assert_eq!(
            rib.advertise(g1, pfx, 0, &set(1), nh(1)).unwrap(),
            Advertise::Send
        );
        assert_eq!(
            rib.advertise(g2, pfx, 0, &set(1), nh(1)).unwrap(),
            Advertise::Send
        );
        assert_eq!(held(&rib), 1);
        assert_eq!(rib.prefix_count(Family::Ipv6Unicast), 0);
        announce(&mut rib, peer, "2001:db8::/32");
        assert_eq!(rib.prefix_count(Family::Ipv6Unicast), 1);
        withdraw(&mut rib, peer, "2001:db8::/32");
        assert_eq!(rib.prefix_count(Family::Ipv6Unicast), 0);
        rib.clear_group(g1);
        assert_eq!(held(&rib), 1);
        assert_eq!(rib.advertised(g2, pfx).len(), 1);
        rib.remove_group(g2);
        assert_eq!(held(&rib), 0);
        assert_eq!(rib.attrs().len(), 0);
        // A dest with paths survives its group's clear.
        let g = rib.add_group();
        announce(&mut rib, peer, "10.0.0.0/8");
        rib.advertise(g, net("10.0.0.0/8"), 0, &set(1), nh(1))
            .unwrap();
        rib.clear_group(g);
        assert_eq!(held(&rib), 1);
        assert!(rib.get(net("10.0.0.0/8")).is_some());
    }

    #[test]
    fn add_path_slots_spill_and_shrink_back() {
        let mut rib = Rib::new(Options::default());
        let g = rib.add_group();
        let pfx = net("10.0.0.0/24");
        for id in 0..4 {
            let out = rib.advertise(g, pfx, id, &set(id), nh(1)).unwrap();
            assert_eq!(out, Advertise::Send);
        }
        assert_eq!(
            rib.advertise(g, pfx, 2, &set(2), nh(1)).unwrap(),
            Advertise::Unchanged
        );
        assert_eq!(
            rib.advertise(g, pfx, 2, &set(2), nh(2)).unwrap(),
            Advertise::Send
        );
        let ids: Vec<u32> = rib.advertised(g, pfx).iter().map(|s| s.path_id).collect();
        assert_eq!(ids, [0, 1, 2, 3]);
        assert_eq!(rib.advertised_count(g), 4);
        for id in [1, 3, 0] {
            assert!(rib.withdraw_advertised(g, pfx, id));
            assert!(!rib.withdraw_advertised(g, pfx, id));
        }
        let left = rib.advertised(g, pfx);
        assert_eq!(left.len(), 1);
        assert_eq!((left[0].path_id, left[0].next_hop), (2, rib.dest_nh(2)));
        assert_eq!(rib.attrs().len(), 1);
        assert!(rib.withdraw_advertised(g, pfx, 2));
        assert_eq!(held(&rib), 0);
        assert_eq!(rib.attrs().len(), 0);
        assert_eq!(rib.advertised_count(g), 0);
    }

    impl Rib {
        /// The id of an interned test next hop.
        fn dest_nh(&mut self, i: u8) -> NextHopId {
            let id = self.core.next_hops.intern(nh(i));
            self.core.next_hops.release(id);
            id
        }
    }

    const PREFIXES: &[&str] = &[
        "10.0.0.0/8",
        "10.1.0.0/16",
        "10.1.2.0/24",
        "2001:db8::/32",
        "2001:db8:1::/48",
    ];

    #[derive(Debug, Clone)]
    enum Op {
        /// Peer announces (Some(set)) or withdraws a prefix.
        Route(usize, Option<u32>),
        ClearPeer,
        Advertise(u16, usize, u32, u32),
        Withdraw(u16, usize, u32),
        ClearGroup(u16),
        RemoveGroup(u16),
        /// The dest ids handed out so far may be reused.
        Recycle,
    }

    /// Dest ids handed out with changes.
    #[derive(Default)]
    struct Hints(Vec<(IpNet, DestId)>);

    impl crate::ChangeSink for Hints {
        fn change(&mut self, _: crate::Change) {}

        fn change_at(&mut self, change: crate::Change, dest: DestId) {
            self.0.push((change.prefix, dest));
        }
    }

    fn op() -> impl Strategy<Value = Op> {
        let p = 0..PREFIXES.len();
        prop_oneof![
            4 => (p.clone(), prop::option::of(0u32..3)).prop_map(|(p, a)| Op::Route(p, a)),
            1 => Just(Op::ClearPeer),
            6 => (0u16..2, p.clone(), 0u32..3, 0u32..3)
                .prop_map(|(g, p, id, a)| Op::Advertise(g, p, id, a)),
            4 => (0u16..2, p, 0u32..3).prop_map(|(g, p, id)| Op::Withdraw(g, p, id)),
            1 => (0u16..2).prop_map(Op::ClearGroup),
            1 => (0u16..2).prop_map(Op::RemoveGroup),
            1 => Just(Op::Recycle),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Against a model: what each group advertised, which prefixes are routes, and that
        /// a dest stays exactly while it has a path or some group holds it.
        #[test]
        fn adj_out_matches_model(ops in prop::collection::vec(op(), 1..60)) {
            let (mut rib, peer) = rib_with_peer();
            let mut groups = [rib.add_group(), rib.add_group()];
            let mut routes: BTreeMap<usize, u32> = BTreeMap::new();
            // (group index, prefix, path id) -> (set, advertised path id)
            let mut out: BTreeMap<(u16, usize, u32), u32> = BTreeMap::new();
            let mut hints = Hints::default();
            for op in ops {
                match op {
                    Op::Route(p, Some(a)) => {
                        let mut b = rib.batch(peer);
                        b.announce(&set(a), nh(1), &[Nlri::new(net(PREFIXES[p]))]).unwrap();
                        b.commit_into(&AllReachable, &mut hints);
                        routes.insert(p, a);
                    }
                    Op::Recycle => {
                        hints.0.clear();
                        rib.recycle_dest_ids();
                    }
                    Op::Route(p, None) => {
                        withdraw(&mut rib, peer, PREFIXES[p]);
                        routes.remove(&p);
                    }
                    Op::ClearPeer => {
                        rib.clear_peer(peer, None, &AllReachable);
                        routes.clear();
                    }
                    Op::Advertise(g, p, id, a) => {
                        let got = rib
                            .advertise(groups[usize::from(g)], net(PREFIXES[p]), id, &set(a), nh(1))
                            .unwrap();
                        let was = out.insert((g, p, id), a);
                        let want = if was == Some(a) { Advertise::Unchanged } else { Advertise::Send };
                        prop_assert_eq!(got, want);
                    }
                    Op::Withdraw(g, p, id) => {
                        let got = rib.withdraw_advertised(groups[usize::from(g)], net(PREFIXES[p]), id);
                        prop_assert_eq!(got, out.remove(&(g, p, id)).is_some());
                    }
                    Op::ClearGroup(g) => {
                        rib.clear_group(groups[usize::from(g)]);
                        out.retain(|k, _| k.0 != g);
                    }
                    Op::RemoveGroup(g) => {
                        rib.remove_group(groups[usize::from(g)]);
                        groups[usize::from(g)] = rib.add_group();
                        out.retain(|k, _| k.0 != g);
                    }
                }
                // A hinted id finds its prefix exactly while the prefix still has that dest:
                // never another prefix's, even after the id was freed.
                for &(prefix, id) in &hints.0 {
                    let want = rib.locate(prefix).filter(|at| at.id == id);
                    prop_assert_eq!(rib.locate_hinted(prefix, id), want);
                }
                for (g, &gid) in groups.iter().enumerate() {
                    let g = u16::try_from(g).unwrap();
                    for (p, s) in PREFIXES.iter().enumerate() {
                        let mut got: Vec<(u32, AttrId)> = rib
                            .advertised(gid, net(s))
                            .iter()
                            .map(|s| (s.path_id, s.attrs))
                            .collect();
                        got.sort_unstable();
                        let want: Vec<u32> = out
                            .range((g, p, 0)..=(g, p, u32::MAX))
                            .map(|(k, _)| k.2)
                            .collect();
                        let got_ids: Vec<u32> = got.iter().map(|x| x.0).collect();
                        prop_assert_eq!(got_ids, want);
                        for (id, a) in got {
                            // Exported sets are unranked: read the set itself.
                            let attrs = rib.attrs().attributes(a).unwrap();
                            prop_assert_eq!(attrs.local_pref().copied(), Some(out[&(g, p, id)]));
                        }
                    }
                    let n = out.keys().filter(|k| k.0 == g).count() as u64;
                    prop_assert_eq!(rib.advertised_count(gid), n);
                    let v6 = out
                        .keys()
                        .filter(|k| k.0 == g && PREFIXES[k.1].contains(':'))
                        .count() as u64;
                    prop_assert_eq!(rib.advertised_counts(gid).ipv6, v6);
                }
                let shown: Vec<IpNet> = rib
                    .iter(Family::Ipv4Unicast)
                    .chain(rib.iter(Family::Ipv6Unicast))
                    .map(|d| d.prefix)
                    .collect();
                let want: Vec<IpNet> = routes.keys().map(|&p| net(PREFIXES[p])).collect();
                prop_assert_eq!(&shown, &want);
                prop_assert_eq!(
                    rib.prefix_count(Family::Ipv4Unicast) + rib.prefix_count(Family::Ipv6Unicast),
                    routes.len()
                );
                for (p, s) in PREFIXES.iter().enumerate() {
                    prop_assert_eq!(rib.get(net(s)).is_some(), routes.contains_key(&p));
                    let lpm = rib.longest_match(net(s)).map(|d| d.prefix);
                    let want = routes
                        .keys()
                        .map(|&q| net(PREFIXES[q]))
                        .filter(|q| q.contains(&net(s)))
                        .max_by_key(|q| q.prefix_len());
                    prop_assert_eq!(lpm, want);
                }
                let kept = (0..PREFIXES.len())
                    .filter(|p| routes.contains_key(p) || out.keys().any(|k| k.1 == *p))
                    .count();
                prop_assert_eq!(held(&rib), kept);
                // Every id in the tries is distinct and in use.
                let mut ids: Vec<DestId> = rib.v4.values().chain(rib.v6.values()).copied().collect();
                ids.sort_unstable();
                ids.dedup();
                prop_assert_eq!(ids.len(), kept);
            }
            rib.clear_peer(peer, None, &AllReachable);
            for g in groups {
                rib.clear_group(g);
            }
            prop_assert_eq!(held(&rib), 0);
            prop_assert_eq!(rib.attrs().len(), 0);
        }
    }
}
