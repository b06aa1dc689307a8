//! What the decision reports: a prefix whose selection (best path or multipath set)
//! changed, with the selection before and after.

use ipnet::IpNet;

use crate::intern::AttrId;
use crate::nexthop::NextHopId;
use crate::path::{flag, Path};
use crate::peer::PeerId;

/// A path as named in a change: whose, which, and what it carries. The ids stay valid
/// until the next mutating call on the RIB (freeing is deferred until then).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteRef {
    /// The peer.
    pub peer: PeerId,
    /// The ADD-PATH path id.
    pub path_id: u32,
    /// The interned attributes.
    pub attrs: AttrId,
    /// The interned next hop.
    pub next_hop: NextHopId,
    /// Long-lived stale (RFC 9494): export must add the LLGR_STALE community, so a path
    /// becoming stale is a change even when it stays selected.
    pub llgr_stale: bool,
}

impl From<&Path> for RouteRef {
    fn from(p: &Path) -> Self {
        RouteRef {
            peer: p.peer(),
            path_id: p.path_id(),
            attrs: p.attrs(),
            next_hop: p.next_hop(),
            llgr_stale: p.is_llgr_stale(),
        }
    }
}

/// The Loc-RIB entry of a prefix: its best path and the other members of its multipath
/// set (sorted by peer and path id; empty unless multipath is on).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selected {
    /// The best path; `None` when no path is usable.
    pub best: Option<RouteRef>,
    /// The multipath set without the best path.
    pub multipath: Vec<RouteRef>,
}

impl Selected {
    /// Reads the selection recorded in the paths' flags.
    pub(crate) fn of(paths: &[Path]) -> Self {
        let best = paths.iter().find(|p| p.is_best()).map(RouteRef::from);
        let mut multipath: Vec<RouteRef> = paths
            .iter()
            .filter(|p| p.flags() & (flag::MULTIPATH | flag::BEST) == flag::MULTIPATH)
            .map(RouteRef::from)
            .collect();
        multipath.sort_unstable();
        Selected { best, multipath }
    }

    /// Every path of the multipath set, best first (for the FIB and ADD-PATH export).
    pub fn all(&self) -> impl Iterator<Item = &RouteRef> {
        self.best.iter().chain(&self.multipath)
    }
}

/// A prefix whose selection changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The prefix.
    pub prefix: IpNet,
    /// The selection before.
    pub old: Selected,
    /// The selection after.
    pub new: Selected,
}

/// Where peer-wide operations report selection changes. A `Vec<Change>` keeps them whole;
/// a caller that only needs the prefixes passes a set of them and saves the 104 bytes a
/// `Change` takes while they pile up (a full table's peer going down is a million).
pub trait ChangeSink {
    /// Takes one change.
    fn change(&mut self, change: Change);

    /// Takes one change with the id of the prefix's dest, valid for
    /// [`Rib::locate_hinted`](crate::Rib::locate_hinted) until the next
    /// [`Rib::recycle_dest_ids`](crate::Rib::recycle_dest_ids). By default the id is
    /// dropped.
    fn change_at(&mut self, change: Change, _dest: crate::DestId) {
        self.change(change);
    }
}

impl ChangeSink for Vec<Change> {
    fn change(&mut self, change: Change) {
        self.push(change);
    }
}

impl ChangeSink for std::collections::BTreeSet<IpNet> {
    fn change(&mut self, change: Change) {
        self.insert(change.prefix);
    }
}
