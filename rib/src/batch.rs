//! Applying one peer's announcements and withdrawals as a batch (RFC 4271 section 9: Phase
//! 1 updates the Adj-RIB-In, Phase 2 re-runs the decision for the touched prefixes), and
//! reporting the net change of each prefix's selection.
//!
//! Routes are interned as they are added to the batch; at commit they are sorted by prefix
//! (stable, so a peer's later message about a prefix wins), each prefix's old selection is
//! read from the path flags, all its operations are applied, the decision runs once, and a
//! [`Change`] is reported only when the selection differs from before the batch.

use bgp_wire::attr::{NextHop, PathAttributes};
use bgp_wire::Nlri;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;

use crate::change::{Change, ChangeSink, Selected};
use crate::intern::{AttrId, InternError};
use crate::nexthop::NextHopId;
use crate::path::{DestId, Path};
use crate::peer::PeerId;
use crate::table::{Core, Key, Resolver, Rib};

/// One route operation: announce (with its interned attributes and next hop) or withdraw.
#[derive(Debug, Clone, Copy)]
struct Op<P> {
    prefix: P,
    path_id: u32,
    route: Option<(AttrId, NextHopId)>,
}

/// Pending changes from one peer; nothing reaches the tables before [`Batch::commit`].
/// Dropping a batch without committing discards it.
#[derive(Debug)]
pub struct Batch<'r> {
    rib: &'r mut Rib,
    peer: PeerId,
    v4: Vec<Op<Ipv4Net>>,
    v6: Vec<Op<Ipv6Net>>,
}

impl Rib {
    /// Starts a batch of routes from `peer`.
    pub fn batch(&mut self, peer: PeerId) -> Batch<'_> {
        self.core.collect();
        Batch {
            rib: self,
            peer,
            v4: Vec::new(),
            v6: Vec::new(),
        }
    }
}

impl Batch<'_> {
    /// Announces `nlri` with one attribute set and next hop (as one UPDATE carries them).
    /// NEXT_HOP and MP attributes in `attrs` are ignored: `next_hop` is the next hop.
    pub fn announce(
        &mut self,
        attrs: &PathAttributes,
        next_hop: NextHop,
        nlri: &[Nlri],
    ) -> Result<(), InternError> {
        if nlri.is_empty() {
            return Ok(());
        }
        let core = &mut self.rib.core;
        let a = core.attrs.intern(attrs)?;
        let nh = core.next_hops.intern(next_hop);
        self.reserve(nlri);
        for (i, n) in nlri.iter().enumerate() {
            if i > 0 {
                self.rib.core.attrs.retain(a);
                self.rib.core.next_hops.retain(nh);
            }
            self.push(n, Some((a, nh)));
        }
        Ok(())
    }

    /// Announces `nlri` with an already interned set and next hop, taking a reference on
    /// them for each route (for locally originated routes and tests). The set must have been
    /// interned ranked ([`AttrStore::intern`](crate::AttrStore::intern)): one interned for
    /// export only has no decision fields.
    pub fn announce_interned(&mut self, attrs: AttrId, next_hop: NextHopId, nlri: &[Nlri]) {
        debug_assert!(
            self.rib.core.attrs.is_ranked(attrs),
            "an unranked attribute set announced into the Loc-RIB"
        );
        for n in nlri {
            self.rib.core.attrs.retain(attrs);
            self.rib.core.next_hops.retain(next_hop);
            self.push(n, Some((attrs, next_hop)));
        }
    }

    /// Withdraws `nlri` (a prefix the peer does not have is ignored).
    pub fn withdraw(&mut self, nlri: &[Nlri]) {
        self.reserve(nlri);
        for n in nlri {
            self.push(n, None);
        }
    }

    /// Room for `nlri` in the list of its (first route's) family.
    fn reserve(&mut self, nlri: &[Nlri]) {
        match nlri.first().map(|n| n.prefix) {
            Some(IpNet::V4(_)) => self.v4.reserve(nlri.len()),
            Some(IpNet::V6(_)) => self.v6.reserve(nlri.len()),
            None => {}
        }
    }

    fn push(&mut self, n: &Nlri, route: Option<(AttrId, NextHopId)>) {
        match n.prefix {
            IpNet::V4(prefix) => self.v4.push(Op {
                prefix: prefix.trunc(),
                path_id: n.path_id,
                route,
            }),
            IpNet::V6(prefix) => self.v6.push(Op {
                prefix: prefix.trunc(),
                path_id: n.path_id,
                route,
            }),
        }
    }

    /// Applies the batch and returns the prefixes whose best path or multipath set
    /// changed, with the selection before and after.
    pub fn commit(self, resolver: &dyn Resolver) -> Vec<Change> {
        let mut changes = Vec::new();
        self.commit_into(resolver, &mut changes);
        changes
    }

    /// Applies the batch, reporting the changed prefixes to `changes` (no list built).
    pub fn commit_into(mut self, resolver: &dyn Resolver, changes: &mut dyn ChangeSink) {
        let v4 = std::mem::take(&mut self.v4);
        let v6 = std::mem::take(&mut self.v6);
        let rib = &mut *self.rib;
        apply(&mut rib.v4, &mut rib.core, self.peer, v4, resolver, changes);
        apply(&mut rib.v6, &mut rib.core, self.peer, v6, resolver, changes);
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        let core = &mut self.rib.core;
        let routes = self.v4.iter().filter_map(|o| o.route);
        for (a, nh) in routes.chain(self.v6.iter().filter_map(|o| o.route)) {
            core.attrs.release(a);
            core.next_hops.release(nh);
        }
    }
}

fn apply<P: Key>(
    trie: &mut PrefixMap<P, DestId>,
    core: &mut Core,
    peer: PeerId,
    mut ops: Vec<Op<P>>,
    resolver: &dyn Resolver,
    changes: &mut dyn ChangeSink,
) {
    ops.sort_by_key(|o| o.prefix);
    for group in ops.chunk_by(|a, b| a.prefix == b.prefix) {
        let prefix = group[0].prefix;
        let announces = group.iter().any(|o| o.route.is_some());
        let id = if announces {
            *trie.entry(prefix).or_insert_with(|| core.dests.alloc())
        } else {
            match trie.get(&prefix) {
                Some(&id) => id,
                None => continue,
            }
        };
        // A copy, written back after the decision: `decide` needs the rest of `core`.
        let mut dest = core.dests[id];
        let had = !dest.is_empty();
        let old = Selected::of(dest.paths(&core.spill));
        for op in group {
            let gone = match op.route {
                Some((attrs, nh)) => {
                    let path = Path::new(peer, op.path_id, attrs, nh);
                    let old = dest.upsert(&mut core.spill, path);
                    if old.is_none() {
                        core.count(peer, P::V6, 1);
                    }
                    old
                }
                None => {
                    let old = dest.remove(&mut core.spill, peer, op.path_id);
                    if old.is_some() {
                        core.count(peer, P::V6, -1);
                    }
                    old
                }
            };
            if let Some(p) = gone {
                core.release(&p);
            }
        }
        let new = core.decide(&mut dest, resolver);
        core.dests[id] = dest;
        core.count_prefix(P::V6, had, !dest.is_empty());
        if core.unused(id) {
            trie.remove(&prefix);
            core.dests.free(id);
        }
        if new != old {
            changes.change_at(
                Change {
                    prefix: prefix.into(),
                    old,
                    new,
                },
                id,
            );
        }
    }
}
