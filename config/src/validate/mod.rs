//! The second layer's gate: schema ([`Document`]) in, [`Config`] out, every problem recorded
//! against the span of the value that causes it.
//!
//! Validation never stops at the first problem: each value is checked, a bad one is recorded
//! and skipped, and cross-field checks (duplicates, overlaps, references) run on whatever was
//! valid. A config comes out only when no error was recorded. This file does the order of work,
//! the small tables and the shared helpers; neighbors and policies have their own files.

mod bfd;
mod bmp;
mod calico;
mod capabilities;
mod helpers;
mod neighbor;
mod policy;
mod secret;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use ipnet::IpNet;

use crate::diagnostic::Diagnostics;
use crate::model::{Config, Control, Global, Kernel, Metrics, Originate};
use crate::schema::{ControlSchema, Document, GlobalSchema, KernelSchema, MetricsSchema};
use crate::types::{Asn, RouterId};
use helpers::Checker;

/// Default BGP port.
const BGP_PORT: u16 = 179;
/// Default metrics port.
const METRICS_PORT: u16 = 9179;
/// Default control socket.
pub(crate) const DEFAULT_SOCKET: &str = "/run/bgpd/bgpd.sock";
/// Default state directory.
pub(crate) const DEFAULT_STATE_DIR: &str = "/var/lib/bgpd";
/// Default selection deferral after a restart, seconds: long enough for Calico's BIRD to
/// reconnect (its first attempt comes 5 s after the close), short enough that a node that
/// does not come back delays nobody for long (Calico issue 7144).
pub(crate) const DEFAULT_SELECTION_DEFERRAL: u16 = 15;

/// Checks `doc`; `base_dir` resolves relative `password_file` paths. `None` when any error was
/// recorded in `diags`.
pub(crate) fn validate(
    doc: Document,
    diags: &mut Diagnostics<'_>,
    base_dir: &Path,
) -> Option<Config> {
    let mut ck = Checker::new(diags, base_dir, &doc);

    let global = match &doc.global {
        Some(g) => global(&mut ck, g.get_ref()),
        None if doc.global_present => None,
        None => {
            ck.error(
                0..0,
                "missing table `[global]` (it needs `asn` and `router_id`)",
            );
            None
        }
    };
    ck.local_as = global.as_ref().map(|g| g.asn);
    let control = doc
        .control
        .as_ref()
        .map_or_else(default_control, |c| control(&mut ck, c));
    let metrics = match &doc.metrics {
        Some(m) => metrics(&mut ck, m),
        None => Some(default_metrics()),
    };
    let kernel = doc
        .kernel
        .as_ref()
        .and_then(|k| kernel(&mut ck, k.get_ref()));
    let originate = originate(&mut ck, &doc);
    let bmp = bmp::collectors(&mut ck, &doc);
    let neighbors = neighbor::neighbors(&mut ck, &doc, global.as_ref());
    let policies: BTreeMap<_, _> = doc
        .policies
        .iter()
        .filter_map(|(name, body)| policy::policy(&mut ck, name, body.get_ref()))
        .map(|p| (p.name.clone(), p))
        .collect();
    ck.warn_unused_policies(&doc);

    if ck.diags.has_errors() {
        return None;
    }
    Some(Config {
        global: global?,
        control,
        metrics,
        kernel,
        originate,
        bmp,
        neighbors,
        policies,
    })
}

fn global(ck: &mut Checker<'_, '_>, g: &GlobalSchema) -> Option<Global> {
    let asn = ck.asn(&g.asn, "asn");
    let router_id = ck.router_id(&g.router_id, "router_id");
    let cluster_id = match &g.cluster_id {
        Some(c) => ck.router_id(c, "cluster_id"),
        None => router_id,
    };
    let listen = match &g.listen {
        None => vec![
            SocketAddr::new(IpAddr::from([0, 0, 0, 0]), BGP_PORT),
            SocketAddr::new(IpAddr::from([0u16; 8]), BGP_PORT),
        ],
        Some(list) => {
            let mut seen = BTreeSet::new();
            let mut out = Vec::new();
            for entry in list.get_ref() {
                let Some(addr) = socket_addr(entry.get_ref(), BGP_PORT) else {
                    ck.error(
                        entry.span(),
                        format!(
                            "`listen` entries must be ADDRESS:PORT or ADDRESS, not `{}`",
                            entry.get_ref()
                        ),
                    );
                    continue;
                };
                if !seen.insert(addr) {
                    ck.error(
                        entry.span(),
                        format!("`{addr}` is listed twice in `listen`"),
                    );
                    continue;
                }
                out.push(addr);
            }
            out
        }
    };
    let state_dir = match &g.state_dir {
        None => Some(PathBuf::from(DEFAULT_STATE_DIR)),
        Some(d) if d.get_ref().is_empty() => {
            ck.error(d.span(), "`state_dir` must not be empty");
            None
        }
        Some(d) => Some(PathBuf::from(d.get_ref())),
    };
    let selection_deferral = match &g.selection_deferral {
        None => Some(DEFAULT_SELECTION_DEFERRAL),
        Some(v) => ck.int_as::<u16>(v, "selection_deferral", 1, 3600),
    };
    Some(Global {
        asn: asn?,
        router_id: router_id?,
        listen,
        cluster_id: cluster_id?,
        state_dir: state_dir?,
        selection_deferral: selection_deferral?,
    })
}

/// `ADDRESS:PORT`, `[V6]:PORT`, or a bare address with `default_port`.
pub(crate) fn socket_addr(s: &str, default_port: u16) -> Option<SocketAddr> {
    s.parse::<SocketAddr>().ok().or_else(|| {
        s.parse::<IpAddr>()
            .ok()
            .map(|a| SocketAddr::new(a, default_port))
    })
}

fn default_control() -> Control {
    Control {
        socket: PathBuf::from(DEFAULT_SOCKET),
    }
}

fn control(ck: &mut Checker<'_, '_>, c: &ControlSchema) -> Control {
    match &c.socket {
        Some(s) if s.get_ref().is_empty() => {
            ck.error(s.span(), "`socket` must not be empty");
            default_control()
        }
        Some(s) => Control {
            socket: PathBuf::from(s.get_ref()),
        },
        None => default_control(),
    }
}

fn default_metrics() -> Metrics {
    Metrics {
        listen: SocketAddr::new(IpAddr::from([127, 0, 0, 1]), METRICS_PORT),
    }
}

fn metrics(ck: &mut Checker<'_, '_>, m: &MetricsSchema) -> Option<Metrics> {
    let listen = match &m.listen {
        None => default_metrics().listen,
        Some(l) => match socket_addr(l.get_ref(), METRICS_PORT) {
            Some(a) => a,
            None => {
                ck.error(
                    l.span(),
                    format!(
                        "`listen` must be ADDRESS:PORT or ADDRESS, not `{}`",
                        l.get_ref()
                    ),
                );
                default_metrics().listen
            }
        },
    };
    let enabled = m.enabled.as_ref().is_none_or(|e| *e.get_ref());
    enabled.then_some(Metrics { listen })
}

fn kernel(ck: &mut Checker<'_, '_>, k: &KernelSchema) -> Option<Kernel> {
    let table = match &k.table {
        None => Some(254),
        Some(t) => match ck.int(t, "table", 1, i64::from(u32::MAX)) {
            Some(255) => {
                ck.error(
                    t.span(),
                    "`table` 255 is the kernel's local table; bgpd must not write to it",
                );
                None
            }
            other => other,
        },
    };
    let export = k.export.as_ref().and_then(|e| ck.policy_ref(e));
    let enabled = k.enabled.as_ref().is_none_or(|e| *e.get_ref());
    let table = u32::try_from(table?).ok()?;
    enabled.then_some(Kernel { table, export })
}

fn originate(ck: &mut Checker<'_, '_>, doc: &Document) -> Vec<Originate> {
    let mut seen: BTreeMap<IpNet, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for o in &doc.originate {
        let o = o.get_ref();
        let Some(prefix) = ck.prefix(&o.prefix, "prefix") else {
            continue;
        };
        if let Some(first) = seen.get(&prefix) {
            let line = ck.diags.line_of(*first);
            ck.error(
                o.prefix.span(),
                format!("prefix `{prefix}` is already originated at line {line}"),
            );
            continue;
        }
        seen.insert(prefix, o.prefix.span().start);
        out.push(Originate {
            prefix,
            require_more_specific: o
                .require_more_specific
                .as_ref()
                .is_some_and(|b| *b.get_ref()),
        });
    }
    out
}

/// The ASN for messages when the global one is known.
pub(crate) fn describe_as(asn: Option<Asn>) -> String {
    asn.map_or_else(
        || "the global asn".to_owned(),
        |a| format!("the global asn {a}"),
    )
}

/// Router ID parse helper shared by the helpers module.
pub(crate) fn parse_router_id(s: &str) -> Option<RouterId> {
    s.parse().ok().and_then(RouterId::new)
}
