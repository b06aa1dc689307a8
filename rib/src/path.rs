//! The per-path record (16 bytes), the per-prefix destination that holds a prefix's paths
//! (16 bytes), and the arena of dests the tries point into (a 4-byte [`DestId`] per trie
//! cell).
//!
//! ```text
//! Path:   attrs u32 | next_hop u32 | path_id u32 | peer u16 | flags u8 | (niche) u8
//! Dest:   Empty | One(Path) | Many(index into Spill)       -- 16 bytes, niche-packed
//! Dests:  Chunked<Dest> (4096 per chunk) + free list of ids  -- indexed by DestId
//! Spill:  Vec<Box<[Path]>>: exact-size arrays for prefixes with two or more paths
//! ```
//!
//! Most prefixes of a router with one upstream have one path, kept inline in its dest; a
//! prefix with several paths moves them to an exact-size array in the spill slab, so each
//! further peer's path costs its 16 bytes and no growth slack. The arena grows by whole
//! chunks (at most one partly used) and reuses freed ids, and the ids are stable, so export
//! groups index their Adj-RIB-Out by them.

use crate::chunked::Chunked;
use crate::intern::AttrId;
use crate::nexthop::NextHopId;
use crate::peer::PeerId;

/// Per-path flag bits.
pub(crate) mod flag {
    /// Selected as the best path (RFC 4271 section 9.1.2).
    pub const BEST: u8 = 1;
    /// In the multipath set (best included).
    pub const MULTIPATH: u8 = 2;
    /// Kept over a graceful restart, waiting to be refreshed or swept (RFC 4724 4.2).
    pub const STALE: u8 = 4;
    /// Long-lived stale: least preferred (RFC 9494 section 4.2).
    pub const LLGR_STALE: u8 = 8;
}

/// A byte with only one valid value, so that `Dest` can hide its tag in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
enum Niche {
    Zero = 0,
}

/// One path to a prefix: a peer's (ADD-PATH path id's) route, pointing at its interned
/// attribute set and next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Path {
    attrs: AttrId,
    next_hop: NextHopId,
    path_id: u32,
    peer: PeerId,
    flags: u8,
    niche: Niche,
}

impl Path {
    pub(crate) fn new(peer: PeerId, path_id: u32, attrs: AttrId, next_hop: NextHopId) -> Self {
        Path {
            attrs,
            next_hop,
            path_id,
            peer,
            flags: 0,
            niche: Niche::Zero,
        }
    }

    /// The peer it came from.
    pub fn peer(&self) -> PeerId {
        self.peer
    }

    /// Its ADD-PATH path identifier (0 without ADD-PATH).
    pub fn path_id(&self) -> u32 {
        self.path_id
    }

    /// Its interned attribute set.
    pub fn attrs(&self) -> AttrId {
        self.attrs
    }

    /// Its interned next hop.
    pub fn next_hop(&self) -> NextHopId {
        self.next_hop
    }

    /// Whether it is the best path of its prefix.
    pub fn is_best(&self) -> bool {
        self.flags & flag::BEST != 0
    }

    /// Whether it is in the multipath set of its prefix (the best path is).
    pub fn is_multipath(&self) -> bool {
        self.flags & flag::MULTIPATH != 0
    }

    /// Whether it is stale after a graceful restart (RFC 4724).
    pub fn is_stale(&self) -> bool {
        self.flags & flag::STALE != 0
    }

    /// Whether it is long-lived stale (RFC 9494) and so depreferenced.
    pub fn is_llgr_stale(&self) -> bool {
        self.flags & flag::LLGR_STALE != 0
    }

    pub(crate) fn flags(&self) -> u8 {
        self.flags
    }

    pub(crate) fn set_flag(&mut self, bit: u8, on: bool) {
        if on {
            self.flags |= bit;
        } else {
            self.flags &= !bit;
        }
    }

    pub(crate) fn same_key(&self, peer: PeerId, path_id: u32) -> bool {
        self.peer == peer && self.path_id == path_id
    }
}

/// A prefix's paths, as stored in the trie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Dest {
    /// No path: a fresh or freed dest, or one kept only because an export group still has
    /// something advertised for its prefix.
    #[default]
    Empty,
    /// One path, inline.
    One(Path),
    /// Two or more paths, in the spill slab.
    Many(u32),
}

const _: () = assert!(std::mem::size_of::<Path>() == 16);
const _: () = assert!(std::mem::size_of::<Dest>() == 16);

/// Exact-size arrays of paths for prefixes with more than one.
#[derive(Debug, Default)]
pub(crate) struct Spill {
    slots: Vec<Box<[Path]>>,
    free: Vec<u32>,
}

impl Spill {
    fn put(&mut self, paths: Box<[Path]>) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = paths;
                i
            }
            None => {
                self.slots.push(paths);
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        }
    }

    fn take(&mut self, i: u32) -> Box<[Path]> {
        self.free.push(i);
        std::mem::take(&mut self.slots[i as usize])
    }
}

impl Dest {
    /// The paths.
    pub(crate) fn paths<'a>(&'a self, spill: &'a Spill) -> &'a [Path] {
        match self {
            Dest::Empty => &[],
            Dest::One(p) => std::slice::from_ref(p),
            Dest::Many(i) => &spill.slots[*i as usize],
        }
    }

    /// The paths, mutable (flags only: the set is changed through `upsert` and `remove`).
    pub(crate) fn paths_mut<'a>(&'a mut self, spill: &'a mut Spill) -> &'a mut [Path] {
        match self {
            Dest::Empty => &mut [],
            Dest::One(p) => std::slice::from_mut(p),
            Dest::Many(i) => &mut spill.slots[*i as usize],
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, Dest::Empty)
    }

    /// Adds a path, or replaces the one with the same (peer, path id), returning it.
    pub(crate) fn upsert(&mut self, spill: &mut Spill, path: Path) -> Option<Path> {
        if let Some(p) = self
            .paths_mut(spill)
            .iter_mut()
            .find(|p| p.same_key(path.peer, path.path_id))
        {
            return Some(std::mem::replace(p, path));
        }
        *self = match *self {
            Dest::Empty => Dest::One(path),
            Dest::One(first) => Dest::Many(spill.put(Box::new([first, path]))),
            Dest::Many(i) => {
                let old = spill.take(i);
                let mut v = Vec::with_capacity(old.len() + 1);
                v.extend_from_slice(&old);
                v.push(path);
                Dest::Many(spill.put(v.into_boxed_slice()))
            }
        };
        None
    }

    /// Removes the path with this (peer, path id), returning it.
    pub(crate) fn remove(&mut self, spill: &mut Spill, peer: PeerId, path_id: u32) -> Option<Path> {
        let at = self
            .paths(spill)
            .iter()
            .position(|p| p.same_key(peer, path_id))?;
        let mut removed = None;
        self.retain(spill, |i, _| i != at, |p| removed = Some(p));
        removed
    }

    /// Keeps the paths for which `keep(index, path)` holds, handing each other to `gone`.
    pub(crate) fn retain(
        &mut self,
        spill: &mut Spill,
        mut keep: impl FnMut(usize, &Path) -> bool,
        mut gone: impl FnMut(Path),
    ) {
        match *self {
            Dest::Empty => {}
            Dest::One(p) => {
                if !keep(0, &p) {
                    gone(p);
                    *self = Dest::Empty;
                }
            }
            Dest::Many(i) => {
                let paths = &spill.slots[i as usize];
                let mut kept = 0;
                for (j, p) in paths.iter().enumerate() {
                    if keep(j, p) {
                        kept += 1;
                    }
                }
                if kept == paths.len() {
                    return;
                }
                let old = spill.take(i);
                let mut v = Vec::with_capacity(kept);
                // `keep` is called twice per path: it must be pure (it is, at every caller).
                for (j, p) in old.iter().enumerate() {
                    if keep(j, p) {
                        v.push(*p);
                    } else {
                        gone(*p);
                    }
                }
                *self = match v.as_slice() {
                    [] => Dest::Empty,
                    [one] => Dest::One(*one),
                    _ => Dest::Many(spill.put(v.into_boxed_slice())),
                };
            }
        }
    }
}

/// Index of a [`Dest`] in the [`Dests`] arena: the value the tries hold, so a trie cell
/// costs 4 bytes and the trie's growth slack (its cell vector doubles) is paid in 4-byte
/// cells rather than 16-byte dests.
///
/// Handed out with changes ([`ChangeSink::change_at`](crate::ChangeSink::change_at)) so
/// that a caller can come back to the prefix without a trie lookup
/// ([`Rib::locate_hinted`](crate::Rib::locate_hinted)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DestId(pub(crate) u32);

impl DestId {
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }

    /// The id as a number, for compact storage.
    pub fn raw(self) -> u32 {
        self.0
    }

    /// Back from [`DestId::raw`]; only ids the RIB handed out mean anything.
    pub fn from_raw(raw: u32) -> Self {
        DestId(raw)
    }
}

/// Every prefix's [`Dest`], both families, dense and grown in fixed chunks; removed dests'
/// ids wait in a quarantine until [`Dests::recycle`], then go to a free list and are
/// reused: an id handed out with a change stays the same prefix's (or unused) until then.
#[derive(Debug, Default)]
pub(crate) struct Dests {
    slots: Chunked<Dest>,
    free: Vec<u32>,
    quarantine: Vec<u32>,
}

impl Dests {
    /// A new empty dest.
    pub(crate) fn alloc(&mut self) -> DestId {
        if let Some(i) = self.free.pop() {
            return DestId(i);
        }
        // 2^32 dests would take 64 GB: the id space does not run out first.
        let i = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
        self.slots.push(Dest::Empty);
        DestId(i)
    }

    /// Gives back an id (its dest must be empty: the paths are the caller's to release).
    pub(crate) fn free(&mut self, id: DestId) {
        debug_assert!(self[id].is_empty(), "freeing dest {} with paths", id.0);
        self[id] = Dest::Empty;
        self.quarantine.push(id.0);
    }

    /// Makes the ids freed since the last call reusable.
    pub(crate) fn recycle(&mut self) {
        if self.free.is_empty() {
            // A whole table's ids can come back at once (a session down): no copy.
            std::mem::swap(&mut self.free, &mut self.quarantine);
        } else {
            self.free.append(&mut self.quarantine);
        }
    }

    /// Ids ever allocated (live, free or in quarantine).
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Bytes allocated, for metrics.
    pub(crate) fn mem_size(&self) -> usize {
        self.slots.mem_size()
            + (self.free.capacity() + self.quarantine.capacity()) * std::mem::size_of::<u32>()
    }
}

impl std::ops::Index<DestId> for Dests {
    type Output = Dest;
    fn index(&self, id: DestId) -> &Dest {
        &self.slots[id.index()]
    }
}

impl std::ops::IndexMut<DestId> for Dests {
    fn index_mut(&mut self, id: DestId) -> &mut Dest {
        &mut self.slots[id.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(peer: u16, id: u32) -> Path {
        Path::new(PeerId(peer), id, AttrId(peer.into()), NextHopId(0))
    }

    #[test]
    fn grows_spills_and_shrinks_back() {
        let mut s = Spill::default();
        let mut d = Dest::Empty;
        assert_eq!(d.upsert(&mut s, p(1, 0)), None);
        assert!(matches!(d, Dest::One(_)));
        assert_eq!(d.upsert(&mut s, p(2, 0)), None);
        assert_eq!(d.upsert(&mut s, p(3, 0)), None);
        assert_eq!(d.paths(&s).len(), 3);
        let mut newer = p(2, 0);
        newer.attrs = AttrId(99);
        assert_eq!(d.upsert(&mut s, newer), Some(p(2, 0)));
        assert_eq!(d.remove(&mut s, PeerId(1), 0), Some(p(1, 0)));
        assert_eq!(d.remove(&mut s, PeerId(1), 0), None);
        assert_eq!(d.paths(&s), &[newer, p(3, 0)]);
        assert_eq!(d.remove(&mut s, PeerId(3), 0), Some(p(3, 0)));
        assert_eq!(d, Dest::One(newer));
        assert_eq!(d.remove(&mut s, PeerId(2), 0), Some(newer));
        assert!(d.is_empty());
        assert_eq!(s.free.len(), s.slots.len());
    }
}
