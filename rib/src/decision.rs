//! The decision process: which path is best for a prefix, which paths are equal enough to
//! share traffic (multipath), and why every other path lost.
//!
//! # How MED is handled
//!
//! MED is only comparable between routes from the same neighboring AS, so "a is better than
//! b" is not transitive (A beats B on MED, B beats C on IGP cost, C beats A on IGP cost) and a
//! pairwise `Ord` would make the winner depend on arrival order. This module therefore never
//! compares two paths in isolation: it runs RFC 4271 section 9.1.2.2 literally, as
//! *elimination over the whole candidate set*. Each step removes the candidates that are
//! worse than the best remaining one by that step; the MED step removes a path only when a
//! remaining path from the same neighboring AS has a lower MED (the RFC's own pseudo-code).
//! The result depends only on the set, never on order: this is what other implementations
//! call "deterministic MED", and it is always on here (no option turns it off, as the
//! order-dependent variant has no use but reproducing a vendor's quirk).
//! [`Options::always_compare_med`] compares MED across all neighboring ASes instead.
//!
//! # Steps, in order
//!
//! | step | rule | source |
//! |---|---|---|
//! | [`Step::Unreachable`] | next hop must resolve | RFC 4271 9.1.2 |
//! | [`Step::LlgrStale`] | paths marked LLGR-stale are least preferred | RFC 9494 4.2 |
//! | [`Step::Stale`] | a path kept across its neighbor's restart loses to a live one | local (below) |
//! | [`Step::LocalPref`] | highest LOCAL_PREF (100 when absent) | RFC 4271 9.1.1 |
//! | [`Step::AsPathLength`] | shortest AS_PATH (AS_SET 1, confederation 0) | 9.1.2.2 a |
//! | [`Step::Origin`] | lowest ORIGIN | 9.1.2.2 b |
//! | [`Step::Med`] | lowest MED within each neighboring AS | 9.1.2.2 c |
//! | [`Step::EbgpOverIbgp`] | eBGP over iBGP | 9.1.2.2 d |
//! | [`Step::IgpCost`] | lowest IGP cost to the next hop | 9.1.2.2 e |
//! | [`Step::RouterId`] | lowest BGP identifier, ORIGINATOR_ID in its place | 9.1.2.2 f, RFC 4456 9 |
//! | [`Step::ClusterListLength`] | shortest CLUSTER_LIST | RFC 4456 9 ("between f and g") |
//! | [`Step::PeerAddress`] | lowest peer address (then lowest peer id) | 9.1.2.2 g |
//! | [`Step::PathId`] | lowest ADD-PATH path id (same peer, RFC 7911) | local |
//!
//! [`Step::Stale`] is not in RFC 4724, which uses stale paths as usual: a path kept while
//! its neighbor restarts, or after a hold timer expired with RFC 8538's N bit, may lead into
//! a dead circuit, so a fresh path to the same prefix (a second circuit) wins. With a single
//! path nothing changes: the stale one is still used.
//!
//! The multipath set is the paths that survive through [`Step::IgpCost`], from the best
//! path's neighboring AS unless [`Options::multipath_relax`], best first, at most
//! [`Options::max_paths`].

use std::cmp::Reverse;
use std::net::IpAddr;

use bgp_wire::attr::Origin;

use crate::peer::PeerId;

/// Decision options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Compare MED between paths from different neighboring ASes.
    pub always_compare_med: bool,
    /// Multipath may mix paths from different neighboring ASes.
    pub multipath_relax: bool,
    /// Largest multipath set (best included); 1 disables multipath.
    pub max_paths: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            always_compare_med: false,
            multipath_relax: false,
            max_paths: 1,
        }
    }
}

/// The step of the decision process at which a path lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// The next hop does not resolve (RFC 4271 section 9.1.2).
    Unreachable,
    /// The path is LLGR-stale and a fresh one exists (RFC 9494 section 4.2).
    LlgrStale,
    /// The path is stale after its neighbor's session went down with graceful restart, and
    /// a fresh one exists.
    Stale,
    /// Lower LOCAL_PREF (RFC 4271 section 9.1.1).
    LocalPref,
    /// Longer AS_PATH (section 9.1.2.2 a).
    AsPathLength,
    /// Higher ORIGIN (section 9.1.2.2 b).
    Origin,
    /// Higher MED than a path from the same neighboring AS (section 9.1.2.2 c).
    Med,
    /// iBGP while an eBGP path exists (section 9.1.2.2 d).
    EbgpOverIbgp,
    /// Higher IGP cost to the next hop (section 9.1.2.2 e).
    IgpCost,
    /// Higher BGP identifier or ORIGINATOR_ID (section 9.1.2.2 f, RFC 4456 section 9).
    RouterId,
    /// Longer CLUSTER_LIST (RFC 4456 section 9).
    ClusterListLength,
    /// Higher peer address (section 9.1.2.2 g).
    PeerAddress,
    /// Higher ADD-PATH path identifier from the same peer.
    PathId,
}

impl Step {
    /// A short phrase for `bgpctl show rib PREFIX`.
    pub fn describe(self) -> &'static str {
        match self {
            Step::Unreachable => "next hop unreachable",
            Step::LlgrStale => "LLGR stale",
            Step::Stale => "stale (neighbor restarting)",
            Step::LocalPref => "lower local-pref",
            Step::AsPathLength => "longer AS path",
            Step::Origin => "worse origin",
            Step::Med => "higher MED",
            Step::EbgpOverIbgp => "iBGP vs eBGP",
            Step::IgpCost => "higher IGP cost",
            Step::RouterId => "higher router ID",
            Step::ClusterListLength => "longer cluster list",
            Step::PeerAddress => "higher peer address",
            Step::PathId => "higher path ID",
        }
    }
}

/// Everything the decision process reads about one path, flattened from the interned
/// attributes, the peer registry and the next-hop oracle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// IGP cost to the next hop; `None` when it does not resolve.
    pub igp_cost: Option<u32>,
    /// LLGR-stale (flagged on the path, or carrying the LLGR_STALE community).
    pub llgr_stale: bool,
    /// Stale: kept while its neighbor restarts (RFC 4724 section 4.2).
    pub stale: bool,
    /// LOCAL_PREF (100 when absent).
    pub local_pref: u32,
    /// AS path length.
    pub as_path_len: u16,
    /// ORIGIN.
    pub origin: Origin,
    /// MED (0 when absent).
    pub med: u32,
    /// Neighboring AS (0 when none).
    pub neighbor_as: u32,
    /// Learned over eBGP.
    pub ebgp: bool,
    /// ORIGINATOR_ID if present, else the peer's BGP identifier.
    pub router_id: u32,
    /// CLUSTER_LIST length.
    pub cluster_list_len: u8,
    /// The peer's address.
    pub peer_address: IpAddr,
    /// The peer.
    pub peer: PeerId,
    /// The ADD-PATH path identifier.
    pub path_id: u32,
}

/// A reusable decision run: after [`Decision::run`], the best path, the multipath set and
/// the step at which each other path lost.
#[derive(Debug, Default, Clone)]
pub struct Decision {
    lost: Vec<Option<Step>>,
    multipath: Vec<usize>,
    best: Option<usize>,
    groups: Vec<(u32, u32)>,
}

impl Decision {
    /// A decision with no result yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs the decision process over `cands`.
    pub fn run(&mut self, cands: &[Candidate], opts: &Options) {
        self.lost.clear();
        self.lost.resize(cands.len(), None);
        self.multipath.clear();
        self.best = None;
        for (i, c) in cands.iter().enumerate() {
            if c.igp_cost.is_none() {
                self.lost[i] = Some(Step::Unreachable);
            }
        }
        self.keep(cands, Step::LlgrStale, |c| c.llgr_stale);
        self.keep(cands, Step::Stale, |c| c.stale);
        self.keep(cands, Step::LocalPref, |c| Reverse(c.local_pref));
        self.keep(cands, Step::AsPathLength, |c| c.as_path_len);
        self.keep(cands, Step::Origin, |c| c.origin);
        if opts.always_compare_med {
            self.keep(cands, Step::Med, |c| c.med);
        } else {
            self.med_per_neighbor_as(cands);
        }
        self.keep(cands, Step::EbgpOverIbgp, |c| !c.ebgp);
        self.keep(cands, Step::IgpCost, |c| c.igp_cost);
        // Survivors so far are the multipath candidates.
        self.multipath
            .extend((0..cands.len()).filter(|&i| self.lost[i].is_none()));
        self.keep(cands, Step::RouterId, |c| c.router_id);
        self.keep(cands, Step::ClusterListLength, |c| c.cluster_list_len);
        self.keep(cands, Step::PeerAddress, |c| (c.peer_address, c.peer));
        self.keep(cands, Step::PathId, |c| c.path_id);
        self.best = self.lost.iter().position(Option::is_none);
        let Some(best) = self.best else {
            return;
        };
        let best_as = cands[best].neighbor_as;
        let relax = opts.multipath_relax;
        self.multipath
            .retain(|&i| i != best && (relax || cands[i].neighbor_as == best_as));
        self.multipath.sort_by_key(|&i| {
            let c = &cands[i];
            (
                c.router_id,
                c.cluster_list_len,
                c.peer_address,
                c.peer,
                c.path_id,
            )
        });
        self.multipath.insert(0, best);
        self.multipath.truncate(opts.max_paths.max(1));
    }

    /// Removes, among the remaining candidates, those whose key is above the smallest.
    fn keep<K: Ord>(&mut self, cands: &[Candidate], step: Step, key: impl Fn(&Candidate) -> K) {
        let alive = || (0..cands.len()).filter(|&i| self.lost[i].is_none());
        let Some(min) = alive().map(|i| key(&cands[i])).min() else {
            return;
        };
        for (i, c) in cands.iter().enumerate() {
            if self.lost[i].is_none() && key(c) > min {
                self.lost[i] = Some(step);
            }
        }
    }

    /// RFC 4271 section 9.1.2.2 c: remove a route when a remaining route from the same
    /// neighboring AS has a lower MED. Computed from the set before any removal, so the
    /// result does not depend on order.
    fn med_per_neighbor_as(&mut self, cands: &[Candidate]) {
        self.groups.clear();
        for (i, c) in cands.iter().enumerate() {
            if self.lost[i].is_none() {
                self.groups.push((c.neighbor_as, c.med));
            }
        }
        self.groups.sort_unstable();
        // After sorting, the first entry of each AS holds its lowest MED.
        self.groups.dedup_by_key(|g| g.0);
        for (i, c) in cands.iter().enumerate() {
            if self.lost[i].is_some() {
                continue;
            }
            if let Ok(g) = self.groups.binary_search_by_key(&c.neighbor_as, |g| g.0) {
                if c.med > self.groups[g].1 {
                    self.lost[i] = Some(Step::Med);
                }
            }
        }
    }

    /// Index of the best path, if any path is usable.
    pub fn best(&self) -> Option<usize> {
        self.best
    }

    /// The multipath set, best first (empty when there is no best).
    pub fn multipath(&self) -> &[usize] {
        &self.multipath
    }

    /// The step at which candidate `i` lost; `None` for the best path.
    pub fn lost(&self, i: usize) -> Option<Step> {
        self.lost.get(i).copied().flatten()
    }
}

/// Which of two paths wins, and the step that decided. `Ok(step)`: `a` wins and `b` lost at
/// `step`; `Err(step)`: `b` wins. Both unreachable: `Err(Step::Unreachable)`.
pub fn compare(a: &Candidate, b: &Candidate, opts: &Options) -> Result<Step, Step> {
    let mut d = Decision::new();
    d.run(&[*a, *b], opts);
    match d.best() {
        Some(0) => Ok(d.lost(1).unwrap_or(Step::PathId)),
        Some(_) => Err(d.lost(0).unwrap_or(Step::PathId)),
        None => Err(Step::Unreachable),
    }
}
