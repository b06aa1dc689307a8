//! The RIB: one prefix trie per family holding every peer's paths (the Adj-RIBs-In, post
//! policy) with the selection flags that make it the Loc-RIB too (RFC 4271 section 3.2),
//! and the peer-wide operations: session down, graceful-restart stale marking and sweep
//! (RFC 4724, RFC 9494), and re-running the decision when next hops change.
//!
//! ```text
//! Rib ─ v4: PrefixMap<Ipv4Net, DestId> ─┐
//!     ─ v6: PrefixMap<Ipv6Net, DestId> ─┴─► Core.dests[id]: Dest ─► Path{attrs, next_hop,
//!     ─ Core: Dests, Spill, AttrStore, NextHopStore,                   peer, path_id, flags}
//!             Peers, decision scratch, Adj-RIBs-Out (by DestId)
//! ```
//!
//! The tries hold 4-byte ids into one dest arena shared by both families (see `path.rs`);
//! operations copy a dest out (16 bytes), change it, and write it back, so the decision can
//! use the rest of `Core` meanwhile. A trie entry goes when its dest has no path left and no
//! export group still has something advertised for it (see `adj_out.rs`); until then the
//! path-less dest stays, and no query or count shows it.

use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::attr::NextHop;
use bgp_wire::Family;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;

use crate::adj_out::AdjRibsOut;
use crate::change::{Change, ChangeSink, Selected};
use crate::decision::{Candidate, Decision, Options};
use crate::intern::AttrStore;
use crate::nexthop::NextHopStore;
use crate::path::{flag, Dest, DestId, Dests, Path, Spill};
use crate::peer::{PeerId, PeerInfo, Peers};

/// The next-hop oracle the decision consults (RFC 4271 section 9.1.2: a route whose next
/// hop does not resolve is not a candidate; 9.1.2.2 e: the IGP cost breaks ties).
pub trait Resolver {
    /// The IGP cost to reach `next_hop`, or `None` when it does not resolve.
    fn igp_cost(&self, next_hop: &NextHop) -> Option<u32>;
}

impl<F: Fn(&NextHop) -> Option<u32>> Resolver for F {
    fn igp_cost(&self, next_hop: &NextHop) -> Option<u32> {
        self(next_hop)
    }
}

/// A resolver for which every next hop is reachable at cost 0.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllReachable;

impl Resolver for AllReachable {
    fn igp_cost(&self, _: &NextHop) -> Option<u32> {
        Some(0)
    }
}

/// A prefix type a family's trie is keyed by.
pub(crate) trait Key: prefix_trie::Prefix + Copy + Ord + Into<IpNet> {
    const V6: bool;
}

impl Key for Ipv4Net {
    const V6: bool = false;
}

impl Key for Ipv6Net {
    const V6: bool = true;
}

/// Everything but the tries, so a trie can be walked mutably while the rest is used.
#[derive(Debug, Default)]
pub(crate) struct Core {
    /// Every prefix's paths; the tries map prefixes to indexes here.
    pub(crate) dests: Dests,
    pub(crate) spill: Spill,
    pub(crate) attrs: AttrStore,
    pub(crate) next_hops: NextHopStore,
    pub(crate) peers: Peers,
    pub(crate) options: Options,
    pub(crate) decision: Decision,
    pub(crate) cands: Vec<Candidate>,
    /// Paths per family: [IPv4, IPv6].
    pub(crate) paths: [u64; 2],
    /// Prefixes with at least one path per family (the tries also hold path-less dests an
    /// export group still has advertised).
    pub(crate) prefixes: [usize; 2],
    pub(crate) adj_out: AdjRibsOut,
}

/// The route tables of one speaker.
#[derive(Debug, Default)]
pub struct Rib {
    pub(crate) v4: PrefixMap<Ipv4Net, DestId>,
    pub(crate) v6: PrefixMap<Ipv6Net, DestId>,
    pub(crate) core: Core,
}

/// What a peer-wide operation does with each of the peer's paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Touch {
    /// Leave it.
    Keep,
    /// Its flags changed: re-run the decision.
    Changed,
    /// Remove it.
    Remove,
}

impl Core {
    /// Reruns the decision over a dest's paths, records the outcome in their flags, and
    /// returns the new selection.
    pub(crate) fn decide(&mut self, dest: &mut Dest, resolver: &dyn Resolver) -> Selected {
        self.cands.clear();
        for p in dest.paths(&self.spill) {
            let c = self.candidate(p, resolver);
            self.cands.push(c);
        }
        self.decision.run(&self.cands, &self.options);
        let paths = dest.paths_mut(&mut self.spill);
        for p in paths.iter_mut() {
            p.set_flag(flag::BEST | flag::MULTIPATH, false);
        }
        if let Some(b) = self.decision.best() {
            paths[b].set_flag(flag::BEST, true);
        }
        for &m in self.decision.multipath() {
            paths[m].set_flag(flag::MULTIPATH, true);
        }
        Selected::of(paths)
    }

    /// What the decision reads about a path.
    pub(crate) fn candidate(&self, p: &Path, resolver: &dyn Resolver) -> Candidate {
        let a = self.attrs.info(p.attrs());
        let peer = self.peers.get(p.peer());
        let (ebgp, bgp_id, address) = peer
            .map_or((false, 0, IpAddr::V4(Ipv4Addr::UNSPECIFIED)), |i| {
                (i.ebgp, u32::from(i.bgp_id), i.address)
            });
        Candidate {
            igp_cost: resolver.igp_cost(self.next_hops.get(p.next_hop())),
            llgr_stale: p.is_llgr_stale() || a.llgr_stale,
            stale: p.is_stale(),
            local_pref: a.local_pref,
            as_path_len: a.as_path_len,
            origin: a.origin,
            med: a.med,
            neighbor_as: a.neighbor_as,
            ebgp,
            router_id: a.originator_id.unwrap_or(bgp_id),
            cluster_list_len: a.cluster_list_len,
            peer_address: address,
            peer: p.peer(),
            path_id: p.path_id(),
        }
    }

    /// Whether a dest can go: no path, and no group has anything advertised for it.
    pub(crate) fn unused(&self, id: DestId) -> bool {
        self.dests[id].is_empty() && !self.adj_out.hold(id)
    }

    /// Counts a prefix in or out as its dest gains its first path or loses its last.
    pub(crate) fn count_prefix(&mut self, v6: bool, had: bool, has: bool) {
        let n = &mut self.prefixes[usize::from(v6)];
        match (had, has) {
            (false, true) => *n += 1,
            (true, false) => *n = n.saturating_sub(1),
            _ => {}
        }
    }

    /// Counts a path in or out.
    pub(crate) fn count(&mut self, peer: PeerId, v6: bool, delta: i64) {
        let fam = &mut self.paths[usize::from(v6)];
        *fam = fam.saturating_add_signed(delta);
        if let Some(c) = self.peers.count_mut(peer, v6) {
            *c = c.saturating_add_signed(delta);
        }
    }

    /// Lets go of a path that left the table.
    pub(crate) fn release(&mut self, p: &Path) {
        self.attrs.release(p.attrs());
        self.next_hops.release(p.next_hop());
    }

    /// Frees what nothing references since the last call (see [`crate::intern`]).
    pub(crate) fn collect(&mut self) {
        self.attrs.collect();
        self.next_hops.collect();
    }

    /// Applies `f` to every path of `peer` in a trie, reporting selection changes.
    pub(crate) fn touch_peer<P: Key>(
        &mut self,
        trie: &mut PrefixMap<P, DestId>,
        peer: PeerId,
        resolver: &dyn Resolver,
        f: &mut dyn FnMut(&mut Path, &crate::intern::Decisive) -> Touch,
        changes: &mut dyn ChangeSink,
    ) {
        let mut emptied = Vec::new();
        for (prefix, &id) in trie.iter() {
            // A copy, written back below: `decide` needs the rest of `self` mutably.
            let mut dest = self.dests[id];
            if !dest.paths(&self.spill).iter().any(|p| p.peer() == peer) {
                continue;
            }
            let old = Selected::of(dest.paths(&self.spill));
            let mut dirty = false;
            let mut remove = Vec::new();
            for (i, p) in dest.paths_mut(&mut self.spill).iter_mut().enumerate() {
                if p.peer() != peer {
                    continue;
                }
                match f(p, self.attrs.info(p.attrs())) {
                    Touch::Keep => {}
                    Touch::Changed => dirty = true,
                    Touch::Remove => remove.push(i),
                }
            }
            if !remove.is_empty() {
                let mut gone = Vec::with_capacity(remove.len());
                dest.retain(
                    &mut self.spill,
                    |i, _| !remove.contains(&i),
                    |p| gone.push(p),
                );
                for p in &gone {
                    self.release(p);
                    self.count(peer, P::V6, -1);
                }
                dirty = true;
            }
            if !dirty {
                self.dests[id] = dest; // `f` may have set flags (stale) without a change
                continue;
            }
            let new = self.decide(&mut dest, resolver);
            self.dests[id] = dest;
            if dest.is_empty() {
                self.count_prefix(P::V6, true, false);
                // Only dests no group holds go (nothing here changes what groups hold): a
                // reflector's peer going down empties every prefix, all still advertised,
                // and listing them all cost 4 MB per 200,000 for nothing.
                if self.unused(id) {
                    emptied.push((prefix, id));
                }
            }
            if new != old {
                changes.change(Change {
                    prefix: prefix.into(),
                    old,
                    new,
                });
            }
        }
        // Removed after the walk: the trie cannot change under its iterator.
        for (p, id) in emptied {
            trie.remove(&p);
            self.dests.free(id);
        }
    }

    /// Reruns the decision on every prefix of a trie.
    pub(crate) fn recompute<P: Key>(
        &mut self,
        trie: &PrefixMap<P, DestId>,
        resolver: &dyn Resolver,
        changes: &mut Vec<Change>,
    ) {
        for (prefix, &id) in trie.iter() {
            let mut dest = self.dests[id];
            if dest.is_empty() {
                continue; // kept for an export group only
            }
            let old = Selected::of(dest.paths(&self.spill));
            let new = self.decide(&mut dest, resolver);
            self.dests[id] = dest;
            if new != old {
                changes.push(Change {
                    prefix: prefix.into(),
                    old,
                    new,
                });
            }
        }
    }
}

impl Rib {
    /// The dest id of a prefix (with paths or not).
    pub(crate) fn dest_id(&self, prefix: IpNet) -> Option<DestId> {
        match prefix.trunc() {
            IpNet::V4(p) => self.v4.get(&p).copied(),
            IpNet::V6(p) => self.v6.get(&p).copied(),
        }
    }

    /// The dest id of a prefix, adding a path-less dest if it has none.
    pub(crate) fn dest_or_insert(&mut self, prefix: IpNet) -> DestId {
        let dests = &mut self.core.dests;
        match prefix.trunc() {
            IpNet::V4(p) => *self.v4.entry(p).or_insert_with(|| dests.alloc()),
            IpNet::V6(p) => *self.v6.entry(p).or_insert_with(|| dests.alloc()),
        }
    }

    /// Removes a prefix's dest if nothing needs it any more.
    pub(crate) fn drop_if_unused(&mut self, prefix: IpNet, id: DestId) {
        if !self.core.unused(id) {
            return;
        }
        match prefix.trunc() {
            IpNet::V4(p) => self.v4.remove(&p),
            IpNet::V6(p) => self.v6.remove(&p),
        };
        self.core.dests.free(id);
    }
}

fn families(family: Option<Family>) -> (bool, bool) {
    match family {
        None => (true, true),
        Some(Family::Ipv4Unicast) => (true, false),
        Some(Family::Ipv6Unicast) => (false, true),
        Some(Family::Other { .. }) => (false, false),
    }
}

impl Rib {
    /// An empty RIB with these decision options.
    pub fn new(options: Options) -> Self {
        let mut rib = Rib::default();
        rib.core.options = options;
        rib
    }

    /// The decision options.
    pub fn options(&self) -> &Options {
        &self.core.options
    }

    /// Registers a peer. `None` when 65536 peers are registered.
    pub fn add_peer(&mut self, info: PeerInfo) -> Option<PeerId> {
        self.core.peers.add(info)
    }

    /// Updates what is known about a peer (e.g. its BGP identifier after OPEN). Routes
    /// already held are not re-decided: call [`Rib::recompute`] if it matters.
    pub fn set_peer(&mut self, peer: PeerId, info: PeerInfo) -> bool {
        self.core.peers.set(peer, info)
    }

    /// The peer registry.
    pub fn peers(&self) -> &Peers {
        &self.core.peers
    }

    /// Removes every route of a peer and unregisters it; its id may be reused. Reports the
    /// changes to `changes`.
    pub fn remove_peer_into(
        &mut self,
        peer: PeerId,
        resolver: &dyn Resolver,
        changes: &mut dyn ChangeSink,
    ) {
        self.touch_peer(peer, None, resolver, &mut |_, _| Touch::Remove, changes);
        self.core.peers.remove(peer);
    }

    /// Removes a peer's routes of one family (or all), as on session down (RFC 4271
    /// section 8.2.2: routes of a closed session are withdrawn).
    pub fn clear_peer(
        &mut self,
        peer: PeerId,
        family: Option<Family>,
        resolver: &dyn Resolver,
    ) -> Vec<Change> {
        let mut changes = Vec::new();
        self.touch_peer(
            peer,
            family,
            resolver,
            &mut |_, _| Touch::Remove,
            &mut changes,
        );
        changes
    }

    /// Graceful restart, the session went down (RFC 4724 section 4.2): marks the peer's
    /// routes stale and keeps them. With `llgr` (RFC 9494 section 4.2), stale routes also
    /// become least preferred, and routes carrying NO_LLGR are removed instead. Reports the
    /// changes to `changes`.
    pub fn mark_stale_into(
        &mut self,
        peer: PeerId,
        family: Option<Family>,
        llgr: bool,
        resolver: &dyn Resolver,
        changes: &mut dyn ChangeSink,
    ) {
        let mark = &mut |p: &mut Path, attrs: &crate::intern::Decisive| {
            if llgr && attrs.no_llgr {
                return Touch::Remove;
            }
            // Either flag newly set changes the decision (`Step::Stale`, `Step::LlgrStale`).
            let mut changed = !p.is_stale();
            p.set_flag(flag::STALE, true);
            if llgr && !p.is_llgr_stale() {
                p.set_flag(flag::LLGR_STALE, true);
                changed = true;
            }
            if changed {
                Touch::Changed
            } else {
                Touch::Keep
            }
        };
        self.touch_peer(peer, family, resolver, mark, changes);
    }

    /// End-of-RIB or restart timer expiry (RFC 4724 section 4.2): removes the routes of the
    /// peer still stale (those not re-announced since [`Rib::mark_stale_into`]). Reports the
    /// changes to `changes`.
    pub fn sweep_stale_into(
        &mut self,
        peer: PeerId,
        family: Option<Family>,
        resolver: &dyn Resolver,
        changes: &mut dyn ChangeSink,
    ) {
        let sweep = &mut |p: &mut Path, _: &crate::intern::Decisive| {
            if p.is_stale() {
                Touch::Remove
            } else {
                Touch::Keep
            }
        };
        self.touch_peer(peer, family, resolver, sweep, changes);
    }

    fn touch_peer(
        &mut self,
        peer: PeerId,
        family: Option<Family>,
        resolver: &dyn Resolver,
        f: &mut dyn FnMut(&mut Path, &crate::intern::Decisive) -> Touch,
        changes: &mut dyn ChangeSink,
    ) {
        self.core.collect();
        let (v4, v6) = families(family);
        if v4 {
            self.core
                .touch_peer(&mut self.v4, peer, resolver, f, changes);
        }
        if v6 {
            self.core
                .touch_peer(&mut self.v6, peer, resolver, f, changes);
        }
    }

    /// Reruns the decision for every prefix (after next-hop reachability or IGP costs
    /// changed, or the options), reporting what changed.
    pub fn recompute(&mut self, resolver: &dyn Resolver) -> Vec<Change> {
        self.core.collect();
        let mut changes = Vec::new();
        self.core.recompute(&self.v4, resolver, &mut changes);
        self.core.recompute(&self.v6, resolver, &mut changes);
        changes
    }

    /// Changes the decision options; call [`Rib::recompute`] after.
    pub fn set_options(&mut self, options: Options) {
        self.core.options = options;
    }

    /// The interned attribute sets.
    pub fn attrs(&self) -> &AttrStore {
        &self.core.attrs
    }

    /// The interned next hops.
    pub fn next_hops(&self) -> &NextHopStore {
        &self.core.next_hops
    }

    /// Bytes the two tries and the dest arena take (nodes, ids, dests with their inline
    /// paths; not spilled arrays nor attributes), for metrics.
    pub fn trie_bytes(&self) -> usize {
        self.v4.mem_size() + self.v6.mem_size() + self.core.dests.mem_size()
    }

    /// Prefixes with at least one path in a family.
    pub fn prefix_count(&self, family: Family) -> usize {
        match family {
            Family::Ipv4Unicast => self.core.prefixes[0],
            Family::Ipv6Unicast => self.core.prefixes[1],
            Family::Other { .. } => 0,
        }
    }

    /// Paths held in a family (all peers).
    pub fn path_count(&self, family: Family) -> u64 {
        match family {
            Family::Ipv4Unicast => self.core.paths[0],
            Family::Ipv6Unicast => self.core.paths[1],
            Family::Other { .. } => 0,
        }
    }
}
