//! The policy model: named policies of ordered terms, each a conjunction of matches, an action
//! and attribute changes.
//!
//! Evaluation belongs to the daemon: terms are tried in order; a term applies when every match
//! it has applies (within one list, any element may match); an applying term's `set` changes
//! the route, then its action decides: `accept` and `reject` end evaluation, `next` goes on to
//! the following term. When no term ends evaluation, the policy's `default` decides. The match
//! helpers here are pure and tested, so the daemon's evaluator stays a short loop.

use ipnet::IpNet;

use crate::community::{Community, LargeCommunity};
use crate::pattern::PrefixPattern;
use crate::types::Asn;

/// What a policy does with a route no term decided on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The route passes.
    Accept,
    /// The route is dropped.
    Reject,
}

/// What a term does with a route it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TermAction {
    /// Apply `set`, then accept: evaluation ends.
    Accept,
    /// Reject: evaluation ends (`set` has no effect).
    Reject,
    /// Apply `set`, then go on with the next term.
    Next,
}

/// `[policy.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The name (the key in `[policy.NAME]`).
    pub name: String,
    /// Verdict when no term decides; default reject.
    pub default: Verdict,
    /// Terms, in file order.
    pub terms: Vec<Term>,
}

/// One `[[policy.NAME.term]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// Optional label for logs.
    pub name: Option<String>,
    /// Conditions; all must hold. No conditions: the term applies to every route.
    pub matches: Match,
    /// What to do when the term applies.
    pub action: TermAction,
    /// Attribute changes when the term applies (ignored for `reject`).
    pub set: Set,
}

/// The conditions of a term. Each empty list (or `None`) means "no condition".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Match {
    /// The prefix matches any of these patterns.
    pub prefixes: Vec<PrefixPattern>,
    /// The route carries any of these communities.
    pub communities: Vec<Community>,
    /// The route carries any of these large communities.
    pub large_communities: Vec<LargeCommunity>,
    /// AS path conditions.
    pub as_path: Option<AsPathMatch>,
    /// The route was received from one of these neighbors (by name). For export policies,
    /// the neighbor the route was learned from.
    pub neighbors: Vec<String>,
}

impl Match {
    /// Whether the prefix condition holds (true when there is none).
    pub fn matches_prefix(&self, prefix: &IpNet) -> bool {
        self.prefixes.is_empty() || self.prefixes.iter().any(|p| p.matches(prefix))
    }

    /// Whether the community condition holds for a route carrying `communities`.
    pub fn matches_communities(&self, communities: &[Community]) -> bool {
        self.communities.is_empty() || self.communities.iter().any(|c| communities.contains(c))
    }

    /// Whether the large community condition holds for a route carrying `large`.
    pub fn matches_large_communities(&self, large: &[LargeCommunity]) -> bool {
        self.large_communities.is_empty()
            || self.large_communities.iter().any(|c| large.contains(c))
    }

    /// Whether the neighbor condition holds for a route from the neighbor called `from`
    /// (`None`: originated locally, which a neighbor condition never matches).
    pub fn matches_neighbor(&self, from: Option<&str>) -> bool {
        self.neighbors.is_empty() || from.is_some_and(|f| self.neighbors.iter().any(|n| n == f))
    }
}

/// AS path conditions; all given ones must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AsPathMatch {
    /// The path contains any of these ASes.
    pub contains: Vec<Asn>,
    /// The origin AS (the last AS of the path) is one of these.
    pub origin: Vec<Asn>,
    /// The path length (RFC 4271 9.1.2.2: an AS_SET counts as 1) is at least this.
    pub min_length: Option<u32>,
    /// The path length is at most this (0: locally originated routes only).
    pub max_length: Option<u32>,
}

impl AsPathMatch {
    /// Whether the conditions hold for a path whose ASes, flattened in order, are `asns`,
    /// and whose length for the decision process is `length`.
    pub fn matches(&self, asns: &[u32], length: u32) -> bool {
        let contains =
            self.contains.is_empty() || self.contains.iter().any(|a| asns.contains(&a.get()));
        let origin = self.origin.is_empty()
            || asns
                .last()
                .is_some_and(|last| self.origin.iter().any(|a| a.get() == *last));
        let min = self.min_length.is_none_or(|m| length >= m);
        let max = self.max_length.is_none_or(|m| length <= m);
        contains && origin && min && max
    }
}

/// Attribute changes of a term.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Set {
    /// Set LOCAL_PREF.
    pub local_pref: Option<u32>,
    /// Set MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// Add these communities.
    pub communities_add: Vec<Community>,
    /// Remove these communities.
    pub communities_remove: Vec<Community>,
    /// Add these large communities.
    pub large_communities_add: Vec<LargeCommunity>,
    /// Remove these large communities.
    pub large_communities_remove: Vec<LargeCommunity>,
    /// Prepend to the AS path (on export).
    pub as_path_prepend: Option<Prepend>,
    /// Set the next hop to our own address for this session.
    pub next_hop_self: bool,
}

impl Set {
    /// True when the set changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == Set::default()
    }
}

/// `as_path_prepend = { asn = ..., count = ... }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prepend {
    /// The AS to prepend; `None`: our own AS.
    pub asn: Option<Asn>,
    /// How many times, 1..=16; default 1.
    pub count: u8,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asn(n: u32) -> Asn {
        Asn::new(n).unwrap()
    }

    #[test]
    fn empty_match_matches_everything() {
        let m = Match::default();
        assert!(m.matches_prefix(&"10.0.0.0/8".parse().unwrap()));
        assert!(m.matches_communities(&[]));
        assert!(m.matches_large_communities(&[]));
        assert!(m.matches_neighbor(None));
    }

    #[test]
    fn lists_are_any_of() {
        let m = Match {
            prefixes: vec![
                "10.0.0.0/8+".parse().unwrap(),
                "192.0.2.0/24".parse().unwrap(),
            ],
            communities: vec![Community::from_parts(65000, 1), Community::NO_EXPORT],
            neighbors: vec!["vbr".into()],
            ..Match::default()
        };
        assert!(m.matches_prefix(&"10.1.0.0/16".parse().unwrap()));
        assert!(m.matches_prefix(&"192.0.2.0/24".parse().unwrap()));
        assert!(!m.matches_prefix(&"192.0.2.0/25".parse().unwrap()));
        assert!(m.matches_communities(&[Community::NO_EXPORT]));
        assert!(!m.matches_communities(&[Community::from_parts(65000, 2)]));
        assert!(m.matches_neighbor(Some("vbr")));
        assert!(!m.matches_neighbor(Some("calico")));
        assert!(!m.matches_neighbor(None));
    }

    #[test]
    fn as_path() {
        let m = AsPathMatch {
            contains: vec![asn(45104)],
            origin: vec![asn(65001), asn(65002)],
            min_length: Some(2),
            max_length: Some(3),
        };
        assert!(m.matches(&[45104, 65001], 2));
        assert!(!m.matches(&[45104, 65003], 2));
        assert!(!m.matches(&[65000, 65001], 2));
        assert!(!m.matches(&[45104, 1, 2, 65001], 4));
        let local_only = AsPathMatch {
            max_length: Some(0),
            ..AsPathMatch::default()
        };
        assert!(local_only.matches(&[], 0));
        assert!(!local_only.matches(&[1], 1));
        assert!(!AsPathMatch {
            origin: vec![asn(1)],
            ..AsPathMatch::default()
        }
        .matches(&[], 0));
    }
}
