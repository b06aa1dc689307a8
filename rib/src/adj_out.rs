//! What each export group has advertised (its Adj-RIB-Out, RFC 4271 section 3.2), so that
//! an UPDATE is sent only when it changes what the group was told and a withdraw only for
//! what was advertised.
//!
//! One small trie per group and family, from prefix to the (path id, interned attributes,
//! next hop) triples advertised: 12 bytes per advertised path plus the trie, and the
//! attribute sets are shared with the Adj-RIBs-In whenever export leaves them unchanged
//! (a reflector reflecting to iBGP clients). Groups are few (one per export policy and
//! capability set), so a trie per group costs less than a group list on every prefix of
//! the main table, and dropping or resyncing a group is one walk of its own trie.

use bgp_wire::attr::{NextHop, PathAttributes};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;

use crate::intern::{AttrId, AttrStore, InternError};
use crate::nexthop::{NextHopId, NextHopStore};
use crate::table::Rib;

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

#[derive(Debug, Default)]
struct GroupTable {
    v4: PrefixMap<Ipv4Net, Box<[Sent]>>,
    v6: PrefixMap<Ipv6Net, Box<[Sent]>>,
    paths: u64,
}

/// Every group's Adj-RIB-Out.
#[derive(Debug, Default)]
pub(crate) struct Groups {
    tables: Vec<Option<GroupTable>>,
}

/// What export should do after recording an advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advertise {
    /// The group was told exactly this already: send nothing.
    Unchanged,
    /// New or different: send it.
    Send,
}

fn slot(t: &mut GroupTable, prefix: IpNet) -> (&mut Box<[Sent]>, &mut u64) {
    match prefix.trunc() {
        IpNet::V4(p) => (t.v4.entry(p).or_default(), &mut t.paths),
        IpNet::V6(p) => (t.v6.entry(p).or_default(), &mut t.paths),
    }
}

fn release(attrs: &mut AttrStore, nhs: &mut NextHopStore, s: &Sent) {
    attrs.release(s.attrs);
    nhs.release(s.next_hop);
}

impl Rib {
    /// Creates an export group.
    pub fn add_group(&mut self) -> GroupId {
        let tables = &mut self.core.groups.tables;
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
        if let Some(t) = self.core.groups.tables.get_mut(usize::from(group.0)) {
            *t = None;
        }
    }

    /// Forgets everything a group advertised (its members are being resynced from the
    /// Loc-RIB, or all went down).
    pub fn clear_group(&mut self, group: GroupId) {
        let core = &mut self.core;
        let Some(Some(t)) = core.groups.tables.get_mut(usize::from(group.0)) else {
            return;
        };
        let sent = t.v4.values().chain(t.v6.values()).flat_map(|s| s.iter());
        for s in sent {
            release(&mut core.attrs, &mut core.next_hops, s);
        }
        *t = GroupTable::default();
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
        let a = self.core.attrs.intern(attrs)?;
        let nh = self.core.next_hops.intern(next_hop);
        let out = self.advertise_interned(group, prefix, path_id, a, nh);
        // advertise_interned took its own references.
        self.core.attrs.release(a);
        self.core.next_hops.release(nh);
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
        let core = &mut self.core;
        let Some(Some(t)) = core.groups.tables.get_mut(usize::from(group.0)) else {
            return Advertise::Send;
        };
        let new = Sent {
            path_id,
            attrs,
            next_hop,
        };
        let (sent, count) = slot(t, prefix);
        if let Some(s) = sent.iter_mut().find(|s| s.path_id == path_id) {
            if *s == new {
                return Advertise::Unchanged;
            }
            let old = std::mem::replace(s, new);
            core.attrs.retain(attrs);
            core.next_hops.retain(next_hop);
            release(&mut core.attrs, &mut core.next_hops, &old);
            return Advertise::Send;
        }
        let mut v = Vec::with_capacity(sent.len() + 1);
        v.extend_from_slice(sent);
        v.push(new);
        *sent = v.into_boxed_slice();
        *count += 1;
        core.attrs.retain(attrs);
        core.next_hops.retain(next_hop);
        Advertise::Send
    }

    /// Records a withdraw of `prefix` (`path_id`) from `group`. Returns whether it had been
    /// advertised, i.e. whether a withdraw must be sent.
    pub fn withdraw_advertised(&mut self, group: GroupId, prefix: IpNet, path_id: u32) -> bool {
        let core = &mut self.core;
        let Some(Some(t)) = core.groups.tables.get_mut(usize::from(group.0)) else {
            return false;
        };
        let prefix = prefix.trunc();
        let sent = match prefix {
            IpNet::V4(p) => t.v4.get_mut(&p),
            IpNet::V6(p) => t.v6.get_mut(&p),
        };
        let Some(sent) = sent else {
            return false;
        };
        let Some(at) = sent.iter().position(|s| s.path_id == path_id) else {
            return false;
        };
        let mut v = sent.to_vec();
        let old = v.remove(at);
        release(&mut core.attrs, &mut core.next_hops, &old);
        t.paths -= 1;
        if v.is_empty() {
            match prefix {
                IpNet::V4(p) => {
                    t.v4.remove(&p);
                }
                IpNet::V6(p) => {
                    t.v6.remove(&p);
                }
            }
        } else {
            *sent = v.into_boxed_slice();
        }
        true
    }

    /// What `group` was told about `prefix`.
    pub fn advertised(&self, group: GroupId, prefix: IpNet) -> &[Sent] {
        let Some(Some(t)) = self.core.groups.tables.get(usize::from(group.0)) else {
            return &[];
        };
        let found = match prefix.trunc() {
            IpNet::V4(p) => t.v4.get(&p),
            IpNet::V6(p) => t.v6.get(&p),
        };
        found.map_or(&[], |s| s)
    }

    /// Paths `group` has advertised (all families).
    pub fn advertised_count(&self, group: GroupId) -> u64 {
        match self.core.groups.tables.get(usize::from(group.0)) {
            Some(Some(t)) => t.paths,
            _ => 0,
        }
    }
}
