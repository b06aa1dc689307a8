//! Interned next hops: a path stores a 4-byte [`NextHopId`] instead of the address (an
//! IPv6 next hop with its link-local address is 33 bytes). Next hops are few (one or two
//! per peer), so a plain map and a reference count per entry suffice.
//!
//! Keeping the next hop out of the interned attribute set lets ten peers that reflect the
//! same route share one set even though each sends its own next hop (RFC 4456 clients,
//! iBGP full mesh), which is what keeps a further peer's path small.
//!
//! Freeing is deferred to [`NextHopStore::collect`] as for attribute sets.

use std::collections::HashMap;

use bgp_wire::attr::NextHop;

/// Handle of an interned next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NextHopId(pub(crate) u32);

impl NextHopId {
    /// The raw index (for logs and tests).
    pub fn index(self) -> u32 {
        self.0
    }
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    next_hop: NextHop,
    /// `None` for a free slot.
    refs: Option<u32>,
}

/// The next hop table.
#[derive(Debug, Default)]
pub struct NextHopStore {
    slots: Vec<Slot>,
    free: Vec<u32>,
    dying: Vec<u32>,
    index: HashMap<NextHop, u32>,
}

impl NextHopStore {
    /// Interns a next hop, taking one reference.
    pub fn intern(&mut self, next_hop: NextHop) -> NextHopId {
        if let Some(&i) = self.index.get(&next_hop) {
            let id = NextHopId(i);
            self.retain(id);
            return id;
        }
        let slot = Slot {
            next_hop,
            refs: Some(1),
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                i
            }
            None => {
                let i = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
                self.slots.push(slot);
                i
            }
        };
        self.index.insert(next_hop, i);
        NextHopId(i)
    }

    /// Takes one more reference.
    pub fn retain(&mut self, id: NextHopId) {
        if let Some(Slot {
            refs: Some(refs), ..
        }) = self.slots.get_mut(id.0 as usize)
        {
            *refs = refs.saturating_add(1);
        }
    }

    /// Drops one reference; freed at the next [`NextHopStore::collect`] unless retaken.
    pub fn release(&mut self, id: NextHopId) {
        if let Some(Slot {
            refs: Some(refs), ..
        }) = self.slots.get_mut(id.0 as usize)
        {
            debug_assert!(*refs > 0, "release of unreferenced next hop {}", id.0);
            *refs = refs.saturating_sub(1);
            if *refs == 0 {
                self.dying.push(id.0);
            }
        }
    }

    /// Frees next hops nobody references any more.
    pub fn collect(&mut self) {
        for i in std::mem::take(&mut self.dying) {
            let Some(slot) = self.slots.get_mut(i as usize) else {
                continue;
            };
            if slot.refs == Some(0) {
                slot.refs = None;
                self.index.remove(&slot.next_hop);
                self.free.push(i);
            }
        }
    }

    /// The address behind an id.
    pub fn get(&self, id: NextHopId) -> &NextHop {
        &self.slots[id.0 as usize].next_hop
    }

    /// Every live next hop with its id (for next-hop tracking: what to resolve).
    pub fn iter(&self) -> impl Iterator<Item = (NextHopId, &NextHop)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            let refs = s.refs?;
            (refs > 0).then(|| (NextHopId(u32::try_from(i).unwrap_or(u32::MAX)), &s.next_hop))
        })
    }

    /// Next hops with at least one reference.
    pub fn len(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.refs.is_some_and(|r| r > 0))
            .count()
    }

    /// Whether no next hop is referenced.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
