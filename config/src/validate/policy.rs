//! `[policy.NAME]` validation: the default verdict, each term's matches (prefix patterns,
//! communities, AS path, neighbor names), action and `set`, plus warnings for terms that can
//! never be reached and `set`s that can never apply.

use std::ops::Range;

use toml::Spanned;

use super::helpers::Checker;
use crate::community::{Community, LargeCommunity};
use crate::pattern::PrefixPattern;
use crate::policy::{AsPathMatch, Match, Policy, Prepend, Set, Term, TermAction, Verdict};
use crate::schema::{AsPathSchema, Int, PolicySchema, PrependSchema, SetSchema, Str, TermSchema};
use crate::types::Asn;

/// Longest AS_PATH prepend accepted.
const MAX_PREPEND: i64 = 16;

/// One policy.
pub(super) fn policy(ck: &mut Checker<'_, '_>, name: &Str, p: &PolicySchema) -> Option<Policy> {
    let name_ok = ck.name(name, "policy");
    let default = match &p.default {
        None => Some(Verdict::Reject),
        Some(d) => match d.get_ref().as_str() {
            "accept" => Some(Verdict::Accept),
            "reject" => Some(Verdict::Reject),
            other => {
                ck.error(
                    d.span(),
                    format!("`default` must be `accept` or `reject`, not `{other}`"),
                );
                None
            }
        },
    };
    let mut terms = Vec::new();
    let mut ok = true;
    let mut final_term: Option<usize> = None;
    for t in &p.terms {
        if let Some(at) = final_term {
            let line = ck.diags.line_of(at);
            ck.warning(
                t.span(),
                format!(
                    "this term is never reached: the term at line {line} applies to every route \
                     and ends evaluation"
                ),
            );
        }
        match term(ck, t.get_ref(), t.span()) {
            Some(term) => {
                if final_term.is_none()
                    && !ck.diags.is_partial(&t.span())
                    && term.matches == Match::default()
                    && term.action != TermAction::Next
                {
                    final_term = Some(t.span().start);
                }
                terms.push(term);
            }
            None => ok = false,
        }
    }
    if !(name_ok && ok) {
        return None;
    }
    Some(Policy {
        name: name.get_ref().clone(),
        default: default?,
        terms,
    })
}

fn term(ck: &mut Checker<'_, '_>, t: &TermSchema, whole: Range<usize>) -> Option<Term> {
    let action = match t.action.get_ref().as_str() {
        "accept" => Some(TermAction::Accept),
        "reject" => Some(TermAction::Reject),
        "next" => Some(TermAction::Next),
        other => {
            ck.error(
                t.action.span(),
                format!("`action` must be `accept`, `reject` or `next`, not `{other}`"),
            );
            None
        }
    };
    let errors_before = error_marker(ck);
    let prefixes = ck.list::<PrefixPattern>(&t.prefixes, "prefixes", whole.clone());
    let communities = ck.list::<Community>(&t.communities, "communities", whole.clone());
    let large_communities =
        ck.list::<LargeCommunity>(&t.large_communities, "large_communities", whole.clone());
    let as_path = t.as_path.as_ref().map(|a| as_path(ck, a));
    let neighbors = neighbor_refs(ck, &t.neighbor, whole);
    let set = t.set.as_ref().map(|s| set(ck, s));
    if let (Some(TermAction::Reject), Some(s)) = (action, &t.set) {
        ck.warning(
            s.span(),
            "`set` has no effect in a term whose action is `reject`",
        );
    }
    if error_marker(ck) != errors_before {
        return None;
    }
    Some(Term {
        name: t.name.as_ref().map(|n| n.get_ref().clone()),
        matches: Match {
            prefixes,
            communities,
            large_communities,
            as_path: as_path.map_or(Some(None), |a| a.map(Some))?,
            neighbors,
        },
        action: action?,
        set: set.unwrap_or(Some(Set::default()))?,
    })
}

/// How many errors have been recorded, to tell whether list checks added one.
fn error_marker(ck: &Checker<'_, '_>) -> usize {
    ck.diags.error_count()
}

fn neighbor_refs(
    ck: &mut Checker<'_, '_>,
    list: &Option<Vec<Str>>,
    whole: Range<usize>,
) -> Vec<String> {
    let Some(list) = list else {
        return Vec::new();
    };
    if list.is_empty() {
        ck.error(
            whole,
            "`neighbor` must not be empty; leave it out for no condition",
        );
    }
    let mut out = Vec::new();
    for n in list {
        if ck.neighbor_names.contains(n.get_ref()) {
            out.push(n.get_ref().clone());
        } else {
            ck.error(n.span(), format!("unknown neighbor `{}`", n.get_ref()));
        }
    }
    out
}

fn asns(ck: &mut Checker<'_, '_>, list: &Option<Vec<Int>>, key: &str) -> Option<Vec<Asn>> {
    let mut out = Vec::new();
    let mut ok = true;
    for v in list.iter().flatten() {
        match ck.asn(v, key) {
            Some(a) => out.push(a),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn as_path(ck: &mut Checker<'_, '_>, a: &Spanned<AsPathSchema>) -> Option<AsPathMatch> {
    let s = a.get_ref();
    let contains = asns(ck, &s.contains, "contains");
    let origin = asns(ck, &s.origin, "origin");
    let len = |ck: &mut Checker<'_, '_>, v: &Option<Int>, key: &str| match v {
        None => Some(None),
        Some(v) => ck.int_as::<u32>(v, key, 0, i64::from(u32::MAX)).map(Some),
    };
    let min_length = len(ck, &s.min_length, "min_length");
    let max_length = len(ck, &s.max_length, "max_length");
    if let (Some(Some(lo)), Some(Some(hi)), Some(at)) = (min_length, max_length, &s.max_length) {
        if lo > hi {
            ck.error(
                at.span(),
                format!("`max_length` {hi} is less than `min_length` {lo}"),
            );
            return None;
        }
    }
    if s.contains.is_none()
        && s.origin.is_none()
        && s.min_length.is_none()
        && s.max_length.is_none()
    {
        ck.warning(a.span(), "empty `as_path` condition matches every route");
    }
    Some(AsPathMatch {
        contains: contains?,
        origin: origin?,
        min_length: min_length?,
        max_length: max_length?,
    })
}

fn set(ck: &mut Checker<'_, '_>, s: &Spanned<SetSchema>) -> Option<Set> {
    let whole = s.span();
    let s = s.get_ref();
    let errors_before = error_marker(ck);
    let u32_opt = |ck: &mut Checker<'_, '_>, v: &Option<Int>, key: &str| match v {
        None => Some(None),
        Some(v) => ck.int_as::<u32>(v, key, 0, i64::from(u32::MAX)).map(Some),
    };
    let local_pref = u32_opt(ck, &s.local_pref, "local_pref");
    let med = u32_opt(ck, &s.med, "med");
    let communities_add =
        ck.list::<Community>(&s.communities_add, "communities_add", whole.clone());
    let communities_remove =
        ck.list::<Community>(&s.communities_remove, "communities_remove", whole.clone());
    let large_communities_add = ck.list::<LargeCommunity>(
        &s.large_communities_add,
        "large_communities_add",
        whole.clone(),
    );
    let large_communities_remove = ck.list::<LargeCommunity>(
        &s.large_communities_remove,
        "large_communities_remove",
        whole,
    );
    let as_path_prepend = s.as_path_prepend.as_ref().map(|p| prepend(ck, p.get_ref()));
    if error_marker(ck) != errors_before {
        return None;
    }
    Some(Set {
        local_pref: local_pref?,
        med: med?,
        communities_add,
        communities_remove,
        large_communities_add,
        large_communities_remove,
        as_path_prepend: as_path_prepend.map_or(Some(None), |p| p.map(Some))?,
        next_hop_self: s.next_hop_self.as_ref().is_some_and(|b| *b.get_ref()),
    })
}

fn prepend(ck: &mut Checker<'_, '_>, p: &PrependSchema) -> Option<Prepend> {
    let asn = match &p.asn {
        None => Some(None),
        Some(a) => ck.asn(a, "asn").map(Some),
    };
    let count = match &p.count {
        None => Some(1),
        Some(c) => ck.int_as::<u8>(c, "count", 1, MAX_PREPEND),
    };
    Some(Prepend {
        asn: asn?,
        count: count?,
    })
}
