//! Interning for export: a caller that rewrites a path's attributes for a group interns the
//! result once and reuses the ids for every prefix sharing the source set, instead of
//! handing [`PathAttributes`] to [`Rib::advertise`] per prefix.

use bgp_wire::attr::{NextHop, PathAttributes};

use crate::intern::{AttrId, InternError};
use crate::nexthop::NextHopId;
use crate::table::Rib;

impl Rib {
    /// Interns an exported set and next hop, taking one reference on each; give them back
    /// with [`Rib::release_export`].
    pub fn intern_export(
        &mut self,
        attrs: &PathAttributes,
        next_hop: NextHop,
    ) -> Result<(AttrId, NextHopId), InternError> {
        // Exported sets are never ranked: no decision fields for them.
        let a = self.core.attrs.intern_unranked(attrs)?;
        Ok((a, self.core.next_hops.intern(next_hop)))
    }

    /// Interns an exported set given as its stored encoding (see
    /// [`AttrStore::intern_wire_unranked`](crate::AttrStore::intern_wire_unranked)) with an
    /// already interned next hop, taking one reference on each; give them back with
    /// [`Rib::release_export`].
    pub fn intern_export_wire(
        &mut self,
        wire: &[u8],
        next_hop: NextHopId,
    ) -> Result<(AttrId, NextHopId), InternError> {
        let a = self.core.attrs.intern_wire_unranked(wire)?;
        self.core.next_hops.retain(next_hop);
        Ok((a, next_hop))
    }

    /// Gives back a reference taken by [`Rib::intern_export`].
    pub fn release_export(&mut self, attrs: AttrId, next_hop: NextHopId) {
        self.core.attrs.release(attrs);
        self.core.next_hops.release(next_hop);
    }
}
