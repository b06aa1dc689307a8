//! Evaluation of the configured import and export policies on one route.
//!
//! Terms are tried in order; a term applies when all its conditions hold; its `set` changes
//! the route, then `accept`/`reject` end evaluation and `next` goes on; when no term ends it,
//! the policy's default decides (see `config::policy`).

use bgp_wire::attr::{AsPath, AttrValue, Community, LargeCommunity, PathAttributes};
use config::{Policy, Set, TermAction, Verdict};
use ipnet::IpNet;

/// What a policy decided about a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The route passes, possibly changed; `next_hop_self` asks the exporter to put our own
    /// address as next hop.
    Accept {
        /// A term said `next_hop_self`.
        next_hop_self: bool,
    },
    /// The route is dropped.
    Reject,
}

/// Evaluates `policy` for `prefix` learned from the neighbor named `from` (`None`: originated
/// here), changing `attrs` as the applying terms say. `local_as` is prepended when a
/// prepend names no AS.
pub fn evaluate(
    policy: &Policy,
    prefix: &IpNet,
    from: Option<&str>,
    attrs: &mut PathAttributes,
    local_as: u32,
) -> Outcome {
    let mut next_hop_self = false;
    for term in &policy.terms {
        if !applies(&term.matches, prefix, from, attrs) {
            continue;
        }
        match term.action {
            TermAction::Reject => return Outcome::Reject,
            TermAction::Accept => {
                next_hop_self |= apply(&term.set, attrs, local_as);
                return Outcome::Accept { next_hop_self };
            }
            TermAction::Next => next_hop_self |= apply(&term.set, attrs, local_as),
        }
    }
    match policy.default {
        Verdict::Accept => Outcome::Accept { next_hop_self },
        Verdict::Reject => Outcome::Reject,
    }
}

fn applies(m: &config::Match, prefix: &IpNet, from: Option<&str>, attrs: &PathAttributes) -> bool {
    if !m.matches_prefix(prefix) || !m.matches_neighbor(from) {
        return false;
    }
    if !m.communities.is_empty() {
        let have: Vec<config::Community> = attrs
            .communities()
            .map(|cs| cs.iter().map(|c| config::Community(c.0)).collect())
            .unwrap_or_default();
        if !m.matches_communities(&have) {
            return false;
        }
    }
    if !m.large_communities.is_empty() {
        let have: Vec<config::LargeCommunity> = attrs
            .large_communities()
            .map(|cs| {
                cs.iter()
                    .map(|c| config::LargeCommunity {
                        global: c.global,
                        local1: c.local1,
                        local2: c.local2,
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !m.matches_large_communities(&have) {
            return false;
        }
    }
    if let Some(path_match) = &m.as_path {
        let empty = AsPath::default();
        let path = attrs.as_path().unwrap_or(&empty);
        let asns: Vec<u32> = path
            .segments
            .iter()
            .flat_map(|s| s.asns.iter().copied())
            .collect();
        let hops = u32::try_from(path.hops()).unwrap_or(u32::MAX);
        if !path_match.matches(&asns, hops) {
            return false;
        }
    }
    true
}

/// Applies a term's changes; returns whether it asked for next-hop-self.
fn apply(set: &Set, attrs: &mut PathAttributes, local_as: u32) -> bool {
    if let Some(lp) = set.local_pref {
        attrs.set(AttrValue::LocalPref(lp));
    }
    if let Some(med) = set.med {
        attrs.set(AttrValue::Med(med));
    }
    if !set.communities_add.is_empty() || !set.communities_remove.is_empty() {
        let mut cs: Vec<Community> = attrs.communities().cloned().unwrap_or_default();
        cs.retain(|c| !set.communities_remove.iter().any(|r| r.0 == c.0));
        for add in &set.communities_add {
            if !cs.iter().any(|c| c.0 == add.0) {
                cs.push(Community(add.0));
            }
        }
        set_or_remove(
            attrs,
            cs,
            AttrValue::Communities,
            bgp_wire::attr::code::COMMUNITIES,
        );
    }
    if !set.large_communities_add.is_empty() || !set.large_communities_remove.is_empty() {
        let mut cs: Vec<LargeCommunity> = attrs.large_communities().cloned().unwrap_or_default();
        let same = |a: &LargeCommunity, b: &config::LargeCommunity| {
            a.global == b.global && a.local1 == b.local1 && a.local2 == b.local2
        };
        cs.retain(|c| !set.large_communities_remove.iter().any(|r| same(c, r)));
        for add in &set.large_communities_add {
            if !cs.iter().any(|c| same(c, add)) {
                cs.push(LargeCommunity {
                    global: add.global,
                    local1: add.local1,
                    local2: add.local2,
                });
            }
        }
        set_or_remove(
            attrs,
            cs,
            AttrValue::LargeCommunities,
            bgp_wire::attr::code::LARGE_COMMUNITY,
        );
    }
    if let Some(prepend) = set.as_path_prepend {
        let asn = prepend.asn.map_or(local_as, |a| a.get());
        let mut path = attrs.as_path().cloned().unwrap_or_default();
        path.prepend(asn, usize::from(prepend.count));
        attrs.set(AttrValue::AsPath(path));
    }
    set.next_hop_self
}

/// An empty community list is not a valid attribute (RFC 7606 section 7.8): remove it.
fn set_or_remove<T>(
    attrs: &mut PathAttributes,
    list: Vec<T>,
    wrap: fn(Vec<T>) -> AttrValue,
    code: u8,
) {
    if list.is_empty() {
        attrs.remove(code);
    } else {
        attrs.set(wrap(list));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp_wire::attr::Origin;

    fn load(policy_toml: &str) -> Policy {
        let text = format!("[global]\nasn = 64512\nrouter_id = \"192.0.2.1\"\n{policy_toml}");
        let (cfg, _) = config::Config::from_str(&text, "test.toml").unwrap();
        cfg.policies.into_values().next().unwrap()
    }

    fn attrs() -> PathAttributes {
        PathAttributes::from_values([
            AttrValue::Origin(Origin::Igp),
            AttrValue::AsPath(AsPath::sequence(&[45104, 65001])),
            AttrValue::Communities(vec![Community::new(65000, 1)]),
        ])
    }

    #[test]
    fn first_applying_term_decides_and_sets() {
        let p = load(
            r#"
[policy.p]
default = "reject"
[[policy.p.term]]
prefixes = ["10.0.0.0/8{8,24}"]
action = "accept"
set = { local_pref = 200, communities_add = ["64512:7"], communities_remove = ["65000:1"] }
[[policy.p.term]]
action = "accept"
"#,
        );
        let mut a = attrs();
        let out = evaluate(
            &p,
            &"10.10.24.0/24".parse().unwrap(),
            Some("vbr"),
            &mut a,
            64512,
        );
        assert_eq!(
            out,
            Outcome::Accept {
                next_hop_self: false
            }
        );
        assert_eq!(a.local_pref(), Some(&200));
        assert_eq!(a.communities(), Some(&vec![Community::new(64512, 7)]));
        // The second term accepts everything else, unchanged.
        let mut b = attrs();
        let out = evaluate(&p, &"10.0.0.0/25".parse().unwrap(), None, &mut b, 64512);
        assert_eq!(
            out,
            Outcome::Accept {
                next_hop_self: false
            }
        );
        assert_eq!(b, attrs());
    }

    #[test]
    fn default_reject_and_next() {
        let p = load(
            r#"
[policy.p]
[[policy.p.term]]
action = "next"
set = { med = 5, as_path_prepend = { count = 2 } }
[[policy.p.term]]
as_path = { origin = [65001] }
action = "reject"
"#,
        );
        let mut a = attrs();
        assert_eq!(
            evaluate(&p, &"198.18.0.0/16".parse().unwrap(), None, &mut a, 64512),
            Outcome::Reject
        );
        let mut a = PathAttributes::from_values([AttrValue::AsPath(AsPath::sequence(&[65002]))]);
        assert_eq!(
            evaluate(&p, &"198.18.0.0/16".parse().unwrap(), None, &mut a, 64512),
            Outcome::Reject,
            "default is reject"
        );
        assert_eq!(a.med(), Some(&5));
        assert_eq!(a.as_path().map(|p| p.hops()), Some(3));
    }
}
