//! Read-only queries: exact match, longest-prefix match, more-specifics (`bgpctl show rib
//! --longer`, conditional aggregation), a peer's routes (`show rib neighbor`), and the
//! decision explained path by path (`show rib PREFIX`).

use bgp_wire::Family;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;

use crate::change::Selected;
use crate::decision::Step;
use crate::path::{DestId, Path};
use crate::peer::PeerId;
use crate::table::{Core, Resolver, Rib};

/// One prefix and its paths, as held.
#[derive(Debug, Clone, Copy)]
pub struct DestView<'a> {
    /// The prefix.
    pub prefix: IpNet,
    /// Its paths, in no particular order; flags say which are selected.
    pub paths: &'a [Path],
}

impl DestView<'_> {
    /// The best path.
    pub fn best(&self) -> Option<&Path> {
        self.paths.iter().find(|p| p.is_best())
    }

    /// The selection (best path and multipath set).
    pub fn selected(&self) -> Selected {
        Selected::of(self.paths)
    }
}

/// The view of a trie entry; `None` for a dest without paths (kept only because an export
/// group still has it advertised): queries never show those.
fn view<'a, P: Into<IpNet>>(core: &'a Core, (p, &id): (P, &'a DestId)) -> Option<DestView<'a>> {
    let paths = core.dests[id].paths(&core.spill);
    (!paths.is_empty()).then(|| DestView {
        prefix: p.into(),
        paths,
    })
}

/// The longest match with paths: the trie's own longest match, unless that is path-less.
fn lpm<'a, P: prefix_trie::Prefix + Into<IpNet>>(
    trie: &'a PrefixMap<P, DestId>,
    core: &'a Core,
    p: &P,
) -> Option<DestView<'a>> {
    let found = trie.get_lpm(p)?;
    view(core, found).or_else(|| trie.cover(p).filter_map(|e| view(core, e)).last())
}

/// Either family's iterator.
enum Both<A, B> {
    V4(A),
    V6(B),
    None,
}

impl<T, A: Iterator<Item = T>, B: Iterator<Item = T>> Iterator for Both<A, B> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        match self {
            Both::V4(a) => a.next(),
            Both::V6(b) => b.next(),
            Both::None => None,
        }
    }
}

fn walk<'a, P: prefix_trie::Prefix + Into<IpNet> + 'a>(
    trie: &'a PrefixMap<P, DestId>,
    core: &'a Core,
) -> impl Iterator<Item = DestView<'a>> + 'a {
    trie.iter().filter_map(move |e| view(core, e))
}

impl Rib {
    /// The prefix exactly.
    pub fn get(&self, prefix: IpNet) -> Option<DestView<'_>> {
        let core = &self.core;
        match prefix.trunc() {
            IpNet::V4(p) => view(core, (p, self.v4.get(&p)?)),
            IpNet::V6(p) => view(core, (p, self.v6.get(&p)?)),
        }
    }

    /// The longest prefix that covers `prefix` (a host route for an address lookup).
    pub fn longest_match(&self, prefix: IpNet) -> Option<DestView<'_>> {
        let core = &self.core;
        match prefix.trunc() {
            IpNet::V4(p) => lpm(&self.v4, core, &p),
            IpNet::V6(p) => lpm(&self.v6, core, &p),
        }
    }

    /// The prefixes inside `prefix`, in address order; `prefix` itself only with
    /// `include_self`.
    pub fn more_specifics(
        &self,
        prefix: IpNet,
        include_self: bool,
    ) -> impl Iterator<Item = DestView<'_>> + '_ {
        let core = &self.core;
        let prefix = prefix.trunc();
        let it = match prefix {
            IpNet::V4(p) => Both::V4(self.v4.children(&p).filter_map(move |e| view(core, e))),
            IpNet::V6(p) => Both::V6(self.v6.children(&p).filter_map(move |e| view(core, e))),
        };
        it.filter(move |d| include_self || d.prefix != prefix)
    }

    /// Whether some route exists strictly inside `prefix` (conditional aggregation).
    pub fn has_more_specific(&self, prefix: IpNet) -> bool {
        self.more_specifics(prefix, false).next().is_some()
    }

    /// Every prefix of a family, in address order.
    pub fn iter(&self, family: Family) -> impl Iterator<Item = DestView<'_>> + '_ {
        let core = &self.core;
        match family {
            Family::Ipv4Unicast => Both::V4(walk::<Ipv4Net>(&self.v4, core)),
            Family::Ipv6Unicast => Both::V6(walk::<Ipv6Net>(&self.v6, core)),
            Family::Other { .. } => Both::None,
        }
    }

    /// Every path of `peer` in a family (its Adj-RIB-In, post-policy), in address order.
    /// Walks the whole family: a per-peer index would cost memory on every path.
    pub fn routes_of(
        &self,
        peer: PeerId,
        family: Family,
    ) -> impl Iterator<Item = (IpNet, &Path)> + '_ {
        self.iter(family).flat_map(move |d| {
            d.paths
                .iter()
                .filter(move |p| p.peer() == peer)
                .map(move |p| (d.prefix, p))
        })
    }

    /// The decision for `prefix` explained: each path with the step at which it lost
    /// (`None` for the best path), as `bgpctl show rib PREFIX` prints it. Runs the decision
    /// afresh with `resolver`, without changing the table.
    pub fn explain(
        &self,
        prefix: IpNet,
        resolver: &dyn Resolver,
    ) -> Option<Vec<(Path, Option<Step>)>> {
        let d = self.get(prefix)?;
        let mut decision = crate::decision::Decision::new();
        let cands: Vec<_> = d
            .paths
            .iter()
            .map(|p| self.core.candidate(p, resolver))
            .collect();
        decision.run(&cands, &self.core.options);
        Some(
            d.paths
                .iter()
                .enumerate()
                .map(|(i, p)| (*p, decision.lost(i)))
                .collect(),
        )
    }
}
