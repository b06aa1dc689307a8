//! The [`Checker`]: the validation state (diagnostics, known names, what is used) and the
//! small checks every section shares (integer ranges, ASNs, router IDs, prefixes, names,
//! policy references), each recording its own positioned message.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::Path;
use std::str::FromStr;

use ipnet::IpNet;

use crate::diagnostic::Diagnostics;
use crate::schema::{Document, Int, Str};
use crate::types::{Asn, RouterId};

/// Longest neighbor or policy name.
const MAX_NAME_LEN: usize = 64;

/// Validation state shared by every section.
#[derive(Debug)]
pub(crate) struct Checker<'a, 'd> {
    /// Where messages go.
    pub diags: &'a mut Diagnostics<'d>,
    /// Directory relative `password_file` paths are resolved against.
    pub base_dir: &'a Path,
    /// The global ASN, once known to be valid.
    pub local_as: Option<Asn>,
    /// Every policy name in the file (also those with errors in their body).
    pub policy_names: BTreeSet<String>,
    /// Every neighbor name in the file (also those with errors).
    pub neighbor_names: BTreeSet<String>,
    /// Policies referenced by a neighbor or `[kernel]`.
    pub used_policies: BTreeSet<String>,
}

impl<'a, 'd> Checker<'a, 'd> {
    /// A checker for `doc`, collecting the names that references may point to.
    pub fn new(diags: &'a mut Diagnostics<'d>, base_dir: &'a Path, doc: &Document) -> Self {
        Checker {
            diags,
            base_dir,
            local_as: None,
            policy_names: doc
                .policies
                .iter()
                .map(|(n, _)| n.get_ref().clone())
                .collect(),
            neighbor_names: doc
                .neighbors
                .iter()
                .map(|n| n.get_ref().name.get_ref().clone())
                .collect(),
            used_policies: BTreeSet::new(),
        }
    }

    /// Records an error.
    pub fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.diags.error(span, message);
    }

    /// Records a warning.
    pub fn warning(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.diags.warning(span, message);
    }

    /// `v` if it is in `min..=max`, else an error naming `key`.
    pub fn int(&mut self, v: &Int, key: &str, min: i64, max: i64) -> Option<i64> {
        let n = *v.get_ref();
        if (min..=max).contains(&n) {
            Some(n)
        } else {
            self.error(
                v.span(),
                format!("`{key}` must be in {min}..={max}, not {n}"),
            );
            None
        }
    }

    /// `v` as a `T` if it is in `min..=max` (which must fit `T`).
    pub fn int_as<T: TryFrom<i64>>(&mut self, v: &Int, key: &str, min: i64, max: i64) -> Option<T> {
        self.int(v, key, min, max).and_then(|n| T::try_from(n).ok())
    }

    /// An AS number; warns on AS_TRANS.
    pub fn asn(&mut self, v: &Int, key: &str) -> Option<Asn> {
        let n = *v.get_ref();
        let Some(asn) = u32::try_from(n).ok().and_then(Asn::new) else {
            self.error(
                v.span(),
                format!("`{key}` must be an AS number in 1..=4294967295, not {n}"),
            );
            return None;
        };
        if asn == Asn::AS_TRANS {
            self.warning(
                v.span(),
                format!(
                    "`{key}` is 23456, AS_TRANS (RFC 6793), which stands in for 4-octet AS \
                     numbers and belongs to no network"
                ),
            );
        }
        Some(asn)
    }

    /// A dotted-quad IPv4 address other than 0.0.0.0.
    pub fn router_id(&mut self, v: &Str, key: &str) -> Option<RouterId> {
        let parsed = super::parse_router_id(v.get_ref());
        if parsed.is_none() {
            self.error(
                v.span(),
                format!(
                    "`{key}` must be an IPv4 address other than 0.0.0.0, not `{}`",
                    v.get_ref()
                ),
            );
        }
        parsed
    }

    /// A prefix without host bits.
    pub fn prefix(&mut self, v: &Str, key: &str) -> Option<IpNet> {
        let Ok(net) = v.get_ref().parse::<IpNet>() else {
            self.error(
                v.span(),
                format!(
                    "`{key}` must be a prefix (ADDRESS/LENGTH), not `{}`",
                    v.get_ref()
                ),
            );
            return None;
        };
        if net.trunc() != net {
            self.error(
                v.span(),
                format!(
                    "prefix `{net}` has host bits set; did you mean `{}`?",
                    net.trunc()
                ),
            );
            return None;
        }
        Some(net)
    }

    /// Each element of `list` parsed with `FromStr`; errors from the parser are the messages.
    /// An empty list is an error (`key` absent means "no condition"; empty would read as
    /// "match nothing" but mean the opposite).
    pub fn list<T: FromStr>(
        &mut self,
        list: &Option<Vec<Str>>,
        key: &str,
        whole: Range<usize>,
    ) -> Vec<T>
    where
        T::Err: std::fmt::Display,
    {
        let Some(list) = list else {
            return Vec::new();
        };
        if list.is_empty() {
            self.error(
                whole,
                format!("`{key}` must not be empty; leave it out for no condition"),
            );
        }
        list.iter()
            .filter_map(|s| match s.get_ref().parse::<T>() {
                Ok(v) => Some(v),
                Err(e) => {
                    self.error(s.span(), e.to_string());
                    None
                }
            })
            .collect()
    }

    /// A neighbor or policy name: 1..=64 of `A-Z a-z 0-9 - _ .`, and not an IP address
    /// (`bgpctl` accepts a name or an address in the same place).
    pub fn name(&mut self, v: &Str, what: &str) -> bool {
        let s = v.get_ref();
        let ok_chars = s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if s.is_empty() || s.len() > MAX_NAME_LEN || !ok_chars {
            self.error(
                v.span(),
                format!(
                    "{what} name `{s}` must be 1..={MAX_NAME_LEN} characters of letters, \
                     digits, `-`, `_` and `.`"
                ),
            );
            return false;
        }
        if s.parse::<std::net::IpAddr>().is_ok() {
            self.error(
                v.span(),
                format!("{what} name `{s}` must not be an IP address"),
            );
            return false;
        }
        true
    }

    /// A reference to a policy; marks it used.
    pub fn policy_ref(&mut self, v: &Str) -> Option<String> {
        let name = v.get_ref();
        if self.policy_names.contains(name) {
            self.used_policies.insert(name.clone());
            return Some(name.clone());
        }
        let known = if self.policy_names.is_empty() {
            "no policies are defined".to_owned()
        } else {
            format!(
                "defined policies: {}",
                self.policy_names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        self.error(v.span(), format!("unknown policy `{name}` ({known})"));
        None
    }

    /// Warns about every policy nothing refers to.
    pub fn warn_unused_policies(&mut self, doc: &Document) {
        for (name, _) in &doc.policies {
            if !self.used_policies.contains(name.get_ref()) {
                self.warning(
                    name.span(),
                    format!(
                        "policy `{}` is not used by any neighbor or by `[kernel]`",
                        name.get_ref()
                    ),
                );
            }
        }
    }
}
