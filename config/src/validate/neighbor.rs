//! `[[neighbor]]` validation: each neighbor's own values (address or range, AS, timers, key,
//! limits; capabilities are in `capabilities.rs`), then the checks across neighbors (duplicate
//! names and addresses, overlapping ranges, fixed addresses inside ranges) and the RFC 8212
//! warning for eBGP neighbors without policy.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Range;
use std::time::Duration;

use ipnet::IpNet;

use super::bfd::bfd;
use super::calico::calico;
use super::capabilities::{add_path, families, graceful_restart};
use super::helpers::Checker;
use super::{describe_as, secret};
use crate::model::{Global, GracefulRestart, Neighbor, Peer, PrefixLimit};
use crate::schema::{Document, Int, NeighborSchema};
use crate::types::{GtsmHops, HoldTime};

/// Default seconds between connection attempts (RFC 4271 section 10 suggests 120).
const CONNECT_RETRY: u32 = 120;
/// Default warning level of prefix limits, percent.
const WARNING_PERCENT: u8 = 90;
/// Default seconds before reconnecting after `max_prefixes` was exceeded.
const MAX_PREFIXES_RESTART: u64 = 60;

/// Every neighbor, plus the checks across neighbors.
pub(super) fn neighbors(
    ck: &mut Checker<'_, '_>,
    doc: &Document,
    global: Option<&Global>,
) -> Vec<Neighbor> {
    let mut out: Vec<(Neighbor, Range<usize>)> = Vec::new();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for n in &doc.neighbors {
        let schema = n.get_ref();
        let name_ok = ck.name(&schema.name, "neighbor");
        let name = schema.name.get_ref();
        if let Some(first) = names.get(name) {
            let line = ck.diags.line_of(*first);
            ck.error(
                schema.name.span(),
                format!("neighbor `{name}` is already defined at line {line}"),
            );
        } else {
            names.insert(name.clone(), schema.name.span().start);
        }
        let Some(neighbor) = neighbor(ck, schema, n.span()) else {
            continue;
        };
        if !name_ok {
            continue;
        }
        let peer_span = schema
            .address
            .as_ref()
            .or(schema.range.as_ref())
            .map_or(n.span(), |s| s.span());
        cross_check(ck, &out, &neighbor, peer_span.clone());
        // A key dropped for an error (say a mistyped `import`) is not a missing policy.
        if !ck.diags.is_partial(&n.span()) {
            rfc8212(ck, &neighbor, schema, global);
        }
        if neighbor.passive && global.is_some_and(|g| g.listen.is_empty()) {
            ck.warning(
                peer_span.clone(),
                format!(
                    "neighbor `{}` only accepts connections, but `[global] listen` is empty",
                    neighbor.name
                ),
            );
        }
        out.push((neighbor, peer_span));
    }
    out.into_iter().map(|(n, _)| n).collect()
}

/// Checks `new` against the neighbors before it.
fn cross_check(
    ck: &mut Checker<'_, '_>,
    before: &[(Neighbor, Range<usize>)],
    new: &Neighbor,
    span: Range<usize>,
) {
    for (old, old_span) in before {
        let line = ck.diags.line_of(old_span.start);
        match (new.peer, old.peer) {
            (Peer::Address(a), Peer::Address(b)) if a == b => ck.error(
                span.clone(),
                format!(
                    "address {a} is already used by neighbor `{}` (line {line})",
                    old.name
                ),
            ),
            (Peer::Range(a), Peer::Range(b)) if a.contains(&b) || b.contains(&a) => ck.error(
                span.clone(),
                format!(
                    "range {a} overlaps range {b} of neighbor `{}` (line {line})",
                    old.name
                ),
            ),
            (Peer::Address(a), Peer::Range(r)) | (Peer::Range(r), Peer::Address(a))
                if r.contains(&a) =>
            {
                let (fixed, dynamic) = if new.is_dynamic() {
                    (&old.name, &new.name)
                } else {
                    (&new.name, &old.name)
                };
                ck.warning(
                    span.clone(),
                    format!(
                        "address {a} of neighbor `{fixed}` is inside range {r} of neighbor \
                         `{dynamic}`; the fixed neighbor takes precedence for that address"
                    ),
                );
            }
            _ => {}
        }
    }
}

/// RFC 8212: an eBGP neighbor without import (export) policy accepts (sends) nothing.
fn rfc8212(
    ck: &mut Checker<'_, '_>,
    n: &Neighbor,
    schema: &NeighborSchema,
    global: Option<&Global>,
) {
    let Some(global) = global else { return };
    if n.is_ibgp(global.asn) {
        return;
    }
    for (policy, verb) in [(&n.import, "accept"), (&n.export, "send")] {
        if policy.is_none() {
            let key = if verb == "accept" { "import" } else { "export" };
            ck.warning(
                schema.name.span(),
                format!(
                    "eBGP neighbor `{}` has no `{key}` policy, so it will {verb} no routes (RFC 8212)",
                    n.name
                ),
            );
        }
    }
}

/// One neighbor's own values.
fn neighbor(ck: &mut Checker<'_, '_>, s: &NeighborSchema, whole: Range<usize>) -> Option<Neighbor> {
    let peer = peer(ck, s, whole);
    let remote_as = ck.asn(&s.remote_as, "remote_as");
    let local_address =
        s.local_address
            .as_ref()
            .and_then(|l| match l.get_ref().parse::<IpAddr>() {
                Ok(a) if peer.is_some_and(|p| p.is_ipv4() != a.is_ipv4()) => {
                    ck.error(
                        l.span(),
                        format!("`local_address` {a} is not of the neighbor's address family"),
                    );
                    None
                }
                Ok(a) => Some(a),
                Err(_) => {
                    ck.error(
                        l.span(),
                        format!(
                            "`local_address` must be an IP address, not `{}`",
                            l.get_ref()
                        ),
                    );
                    None
                }
            });
    let rr_client = flag(&s.route_reflector_client, false);
    if let (Some(rr), Some(asn), Some(local)) = (&s.route_reflector_client, remote_as, ck.local_as)
    {
        if *rr.get_ref() && asn != local {
            ck.error(
                rr.span(),
                format!(
                    "`route_reflector_client` needs an iBGP neighbor (remote_as = {}), not AS {asn}",
                    describe_as(Some(local))
                ),
            );
        }
    }
    let passive = match (&peer, &s.passive) {
        (Some(Peer::Range(_)), Some(p)) if !*p.get_ref() => {
            ck.error(
                p.span(),
                "a `range` neighbor only accepts connections; remove `passive = false`",
            );
            true
        }
        (Some(Peer::Range(_)), _) => true,
        (_, p) => flag(p, false),
    };
    let (hold_time, keepalive) = timers(ck, s);
    let connect_retry = s.connect_retry.as_ref().map_or(Some(CONNECT_RETRY), |c| {
        ck.int_as(c, "connect_retry", 1, 65535)
    });
    let password = secret::password(ck, s);
    let ttl_security = s.ttl_security.as_ref().map(|t| {
        ck.int_as::<u8>(t, "ttl_security", 1, 254)
            .and_then(GtsmHops::new)
    });
    let import = s.import.as_ref().map(|p| ck.policy_ref(p));
    let export = s.export.as_ref().map(|p| ck.policy_ref(p));
    let (max_prefixes, max_prefixes_restart) = limits_in(ck, s);
    let max_prefixes_out = limit(
        ck,
        &s.max_prefixes_out,
        &s.max_prefixes_out_warning,
        "max_prefixes_out",
    );
    let families = families(ck, s, peer);
    let add_path = add_path(ck, s, &families);
    let graceful_restart = s
        .graceful_restart
        .as_ref()
        .map_or(Some(GracefulRestart::default()), |g| {
            graceful_restart(ck, g.get_ref())
        });
    let bfd = s.bfd.as_ref().map_or(Some(None), |b| bfd(ck, b, peer));
    let calico = s
        .calico
        .as_ref()
        .map_or(Some(None), |c| calico(ck, c, peer));
    Some(Neighbor {
        name: s.name.get_ref().clone(),
        description: s.description.as_ref().map(|d| d.get_ref().clone()),
        enabled: flag(&s.enabled, true),
        peer: peer?,
        remote_as: remote_as?,
        local_address,
        passive,
        route_reflector_client: rr_client,
        next_hop_self: flag(&s.next_hop_self, false),
        link_local_next_hop: flag(&s.link_local_next_hop, true),
        hold_time: hold_time?,
        keepalive: keepalive?,
        connect_retry: connect_retry?,
        password: password?,
        ttl_security: ttl_security.map_or(Some(None), |t| t.map(Some))?,
        import: import.map_or(Some(None), |p| p.map(Some))?,
        export: export.map_or(Some(None), |p| p.map(Some))?,
        max_prefixes: max_prefixes?,
        max_prefixes_restart: max_prefixes_restart?,
        max_prefixes_out: max_prefixes_out?,
        families: families?,
        add_path: add_path?,
        graceful_restart: graceful_restart?,
        bfd: bfd?,
        calico: calico?,
    })
}

/// A boolean key's value, or `default`.
pub(super) fn flag(v: &Option<toml::Spanned<bool>>, default: bool) -> bool {
    v.as_ref().map_or(default, |b| *b.get_ref())
}

/// `address` xor `range`.
fn peer(ck: &mut Checker<'_, '_>, s: &NeighborSchema, whole: Range<usize>) -> Option<Peer> {
    match (&s.address, &s.range) {
        (Some(_), Some(r)) => {
            ck.error(r.span(), "a neighbor has `address` or `range`, not both");
            None
        }
        (None, None) => {
            ck.error(
                whole,
                format!("neighbor `{}` needs `address` or `range`", s.name.get_ref()),
            );
            None
        }
        (Some(a), None) => match a.get_ref().parse::<IpAddr>() {
            Ok(addr) => Some(Peer::Address(addr)),
            Err(_) => {
                let hint = if a.get_ref().parse::<IpNet>().is_ok() {
                    "; for a prefix of dynamic neighbors use `range`"
                } else {
                    ""
                };
                ck.error(
                    a.span(),
                    format!(
                        "`address` must be an IP address, not `{}`{hint}",
                        a.get_ref()
                    ),
                );
                None
            }
        },
        (None, Some(r)) => ck.prefix(r, "range").map(Peer::Range),
    }
}

/// `hold_time` and `keepalive`.
fn timers(ck: &mut Checker<'_, '_>, s: &NeighborSchema) -> (Option<HoldTime>, Option<u16>) {
    let hold = match &s.hold_time {
        None => Some(HoldTime::DEFAULT),
        Some(h) => {
            let v = *h.get_ref();
            let hold = u16::try_from(v).ok().and_then(HoldTime::new);
            if hold.is_none() {
                ck.error(
                    h.span(),
                    format!("`hold_time` must be 0 or 3..=65535 seconds, not {v}"),
                );
            }
            hold
        }
    };
    let keepalive = match (&s.keepalive, hold) {
        (None, Some(h)) => Some(h.default_keepalive()),
        (None, None) => None,
        (Some(k), None) => ck.int_as::<u16>(k, "keepalive", 0, 65535),
        (Some(k), Some(h)) if h.get() == 0 => {
            let v = *k.get_ref();
            if v != 0 {
                ck.error(
                    k.span(),
                    format!("`keepalive` must be 0 when `hold_time` is 0, not {v}"),
                );
                return (Some(h), None);
            }
            Some(0)
        }
        (Some(k), Some(h)) => ck.int_as::<u16>(k, "keepalive", 1, i64::from(h.get()) - 1),
    };
    (hold, keepalive)
}

/// `max_prefixes`, `max_prefixes_warning` and `max_prefixes_restart`.
fn limits_in(
    ck: &mut Checker<'_, '_>,
    s: &NeighborSchema,
) -> (Option<Option<PrefixLimit>>, Option<Option<Duration>>) {
    let limit = limit(ck, &s.max_prefixes, &s.max_prefixes_warning, "max_prefixes");
    let restart = match (&s.max_prefixes_restart, &s.max_prefixes) {
        (Some(r), None) => {
            ck.error(r.span(), "`max_prefixes_restart` needs `max_prefixes`");
            None
        }
        (Some(r), Some(_)) => ck
            .int(r, "max_prefixes_restart", 0, i64::from(u32::MAX))
            .map(|secs| {
                u64::try_from(secs)
                    .ok()
                    .filter(|s| *s > 0)
                    .map(Duration::from_secs)
            }),
        (None, _) => Some(Some(Duration::from_secs(MAX_PREFIXES_RESTART))),
    };
    (limit, restart)
}

/// A prefix limit and its warning percentage.
fn limit(
    ck: &mut Checker<'_, '_>,
    limit: &Option<Int>,
    warning: &Option<Int>,
    key: &str,
) -> Option<Option<PrefixLimit>> {
    let warn_key = format!("{key}_warning");
    match (limit, warning) {
        (None, None) => Some(None),
        (None, Some(w)) => {
            ck.error(w.span(), format!("`{warn_key}` needs `{key}`"));
            None
        }
        (Some(l), w) => {
            let limit = ck.int_as::<u32>(l, key, 1, i64::from(u32::MAX));
            let warning_percent = match w {
                None => Some(WARNING_PERCENT),
                Some(w) => ck.int_as::<u8>(w, &warn_key, 1, 100),
            };
            Some(Some(PrefixLimit {
                limit: limit?,
                warning_percent: warning_percent?,
            }))
        }
    }
}
