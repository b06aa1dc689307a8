//! What to ask the kernel, decided without a kernel: coalescing of the routing task's
//! requests, the wanted state per prefix, adoption of routes left by a previous run, and
//! re-resolution when next hops change. Everything here is sans-IO; the FIB task turns
//! the [`RouteOp`]s into netlink requests (`netlink.rs`).
//!
//! ```text
//! replace/delete ─► Coalescer (latest per prefix) ─► Reconciler::apply ─► RouteOp ─► netlink
//! start: dump proto bgp ─► adopt ┐        next hops changed ─► Reconciler::next_hops_changed
//!          initial_sync_done ─► sweep adopted routes nobody re-installed (graceful restart)
//! ```
//!
//! ECMP sets are interned: a full table has few distinct next-hop sets, so each is resolved
//! once and a route stores a 4-byte set id, not its own vector.

use std::collections::HashMap;
use std::net::IpAddr;

use bgp_wire::attr::NextHop;

use ipnet::IpNet;

use super::nexthop::{Gateway, Resolved};
use super::FibRoute;

/// One request from the routing task, as stored until the FIB task takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    /// Install or change.
    Replace(FibRoute),
    /// Remove.
    Delete,
}

/// The routing task's requests since the FIB task last looked: only the latest per prefix.
#[derive(Debug, Default)]
pub(crate) struct Coalescer {
    ops: HashMap<IpNet, Op>,
    /// Requests received, coalesced ones included.
    pub(crate) received: u64,
}

impl Coalescer {
    /// Record a replace; a later request for the same prefix overrides it.
    pub(crate) fn replace(&mut self, route: FibRoute) {
        self.received += 1;
        self.ops.insert(route.prefix(), Op::Replace(route));
    }

    /// Record a delete; a later request for the same prefix overrides it.
    pub(crate) fn delete(&mut self, prefix: IpNet) {
        self.received += 1;
        self.ops.insert(prefix.trunc(), Op::Delete);
    }

    /// Take everything pending.
    pub(crate) fn take(&mut self) -> Vec<(IpNet, Op)> {
        std::mem::take(&mut self.ops).into_iter().collect()
    }
}

/// What the kernel route should look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Install {
    /// Forward via these gateways (one: `RTA_GATEWAY`, more: `RTA_MULTIPATH`).
    Via(Vec<Gateway>),
    /// Drop (`RTN_BLACKHOLE`).
    Blackhole,
}

/// One netlink request to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RouteOp {
    /// `RTM_NEWROUTE` with `NLM_F_CREATE | NLM_F_REPLACE`, our metric.
    Install {
        /// Destination.
        prefix: IpNet,
        /// Kind and next hops.
        route: Install,
    },
    /// `RTM_DELROUTE` of our protocol with this metric.
    Remove {
        /// Destination.
        prefix: IpNet,
        /// `RTA_PRIORITY` of the route to remove.
        metric: u32,
    },
}

/// Whether the kernel has our route for a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InKernel {
    /// No.
    Absent,
    /// Yes, as last computed.
    Installed,
    /// A request failed: maybe an older version; remove it on delete, reinstall on replace.
    Unsure,
}

/// The wanted state of one prefix.
#[derive(Debug, Clone, Copy)]
enum Want {
    Unicast { set: u32, state: InKernel },
    Blackhole { state: InKernel },
}

impl Want {
    fn state(&self) -> InKernel {
        match self {
            Want::Unicast { state, .. } | Want::Blackhole { state } => *state,
        }
    }
}

#[derive(Debug)]
struct SetSlot {
    hops: Box<[NextHop]>,
    refs: u32,
    gateways: Vec<Gateway>,
}

/// Interned next-hop sets with their current resolution.
#[derive(Debug, Default)]
struct Sets {
    slots: Vec<SetSlot>,
    index: HashMap<Box<[NextHop]>, u32>,
    free: Vec<u32>,
}

/// The gateways of a set: every resolvable next hop's gateways, in the set's order,
/// without duplicates.
///
/// An IPv6 next hop with a link-local address (RFC 2545 section 3) on a connected network
/// is forwarded to over that link-local address on the interface the global one resolves
/// to, as BIRD and FRR do: the peer sent it because we share that link.
fn resolve_set(hops: &[NextHop], resolve: &dyn Fn(IpAddr) -> Option<Resolved>) -> Vec<Gateway> {
    let mut out: Vec<Gateway> = Vec::with_capacity(hops.len());
    for nh in hops {
        let global = nh.addr();
        for mut g in resolve(global).map(|r| r.gateways).unwrap_or_default() {
            if let NextHop::V6 {
                link_local: Some(ll),
                ..
            } = nh
            {
                if g.addr == global {
                    g.addr = IpAddr::V6(*ll);
                }
            }
            if !out.contains(&g) {
                out.push(g);
            }
        }
    }
    out
}

impl Sets {
    fn intern(&mut self, hops: Vec<NextHop>, resolve: &dyn Fn(IpAddr) -> Option<Resolved>) -> u32 {
        let hops = hops.into_boxed_slice();
        if let Some(&id) = self.index.get(&hops) {
            if let Some(slot) = self.slots.get_mut(id as usize) {
                slot.refs += 1;
            }
            return id;
        }
        let slot = SetSlot {
            gateways: resolve_set(&hops, resolve),
            hops: hops.clone(),
            refs: 1,
        };
        let id = match self.free.pop() {
            Some(id) => {
                if let Some(s) = self.slots.get_mut(id as usize) {
                    *s = slot;
                }
                id
            }
            None => {
                self.slots.push(slot);
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.index.insert(hops, id);
        id
    }

    fn release(&mut self, id: u32) {
        let Some(slot) = self.slots.get_mut(id as usize) else {
            return;
        };
        slot.refs = slot.refs.saturating_sub(1);
        if slot.refs == 0 {
            self.index.remove(&slot.hops);
            slot.hops = Box::new([]);
            slot.gateways = Vec::new();
            self.free.push(id);
        }
    }

    fn gateways(&self, id: u32) -> &[Gateway] {
        self.slots.get(id as usize).map_or(&[], |s| &s.gateways)
    }

    fn live(&self) -> usize {
        self.index.len()
    }
}

/// Counts for the operator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Prefixes wanted (installed or not).
    pub(crate) wanted: usize,
    /// Prefixes installed as last computed.
    pub(crate) installed: usize,
    /// Wanted prefixes not installed because no next hop resolves.
    pub(crate) unresolved: usize,
    /// Adopted routes not yet claimed or swept.
    pub(crate) adopted: usize,
    /// Distinct next-hop sets.
    pub(crate) next_hop_sets: usize,
}

/// The wanted kernel state and how to get there.
#[derive(Debug)]
pub(crate) struct Reconciler {
    metric: u32,
    blackhole_local: bool,
    routes: HashMap<IpNet, Want>,
    sets: Sets,
    /// Our routes found in the kernel at start, by prefix: their metrics.
    adopted: HashMap<IpNet, Vec<u32>>,
    synced: bool,
}

impl Reconciler {
    /// Routes go in with `metric`; blackholes only when `blackhole_local`.
    pub(crate) fn new(metric: u32, blackhole_local: bool) -> Reconciler {
        Reconciler {
            metric,
            blackhole_local,
            routes: HashMap::new(),
            sets: Sets::default(),
            adopted: HashMap::new(),
            synced: false,
        }
    }

    /// A route of ours found in the kernel at start: keep it forwarding until the first
    /// full table is known ([`Reconciler::sync_done`]).
    pub(crate) fn adopt(&mut self, prefix: IpNet, metric: u32) {
        let metrics = self.adopted.entry(prefix.trunc()).or_default();
        if !metrics.contains(&metric) {
            metrics.push(metric);
        }
    }

    /// Whether [`Reconciler::sync_done`] ran.
    pub(crate) fn synced(&self) -> bool {
        self.synced
    }

    /// Decide what one coalesced request needs.
    pub(crate) fn apply(
        &mut self,
        prefix: IpNet,
        op: Op,
        resolve: &dyn Fn(IpAddr) -> Option<Resolved>,
        out: &mut Vec<RouteOp>,
    ) {
        let old = self.routes.remove(&prefix);
        let adopted = self.adopted.remove(&prefix).unwrap_or_default();
        // A previous run's route under another metric would be a duplicate: remove it.
        for &m in adopted.iter().filter(|&&m| m != self.metric) {
            out.push(RouteOp::Remove { prefix, metric: m });
        }
        let kernel_has =
            old.is_some_and(|w| w.state() != InKernel::Absent) || adopted.contains(&self.metric);
        let fresh = adopted.is_empty();
        let op = match op {
            Op::Replace(FibRoute::Blackhole { .. }) if !self.blackhole_local => Op::Delete,
            op => op,
        };
        let want = match op {
            Op::Replace(FibRoute::Unicast { next_hops, .. }) => {
                let mut hops = next_hops;
                let mut seen = Vec::with_capacity(hops.len());
                hops.retain(|h| {
                    let new = !seen.contains(h);
                    seen.push(*h);
                    new
                });
                let set = self.sets.intern(hops, resolve);
                let unchanged = fresh
                    && matches!(old, Some(Want::Unicast { set: s, state: InKernel::Installed }) if s == set);
                if let Some(Want::Unicast { set: s, .. }) = old {
                    self.sets.release(s);
                }
                let gateways = self.sets.gateways(set);
                let state = if gateways.is_empty() {
                    if kernel_has {
                        out.push(RouteOp::Remove {
                            prefix,
                            metric: self.metric,
                        });
                    }
                    InKernel::Absent
                } else {
                    if !unchanged {
                        out.push(RouteOp::Install {
                            prefix,
                            route: Install::Via(gateways.to_vec()),
                        });
                    }
                    InKernel::Installed
                };
                Some(Want::Unicast { set, state })
            }
            Op::Replace(FibRoute::Blackhole { .. }) => {
                if let Some(Want::Unicast { set, .. }) = old {
                    self.sets.release(set);
                }
                let unchanged = fresh
                    && matches!(
                        old,
                        Some(Want::Blackhole {
                            state: InKernel::Installed
                        })
                    );
                if !unchanged {
                    out.push(RouteOp::Install {
                        prefix,
                        route: Install::Blackhole,
                    });
                }
                Some(Want::Blackhole {
                    state: InKernel::Installed,
                })
            }
            Op::Delete => {
                if let Some(Want::Unicast { set, .. }) = old {
                    self.sets.release(set);
                }
                if kernel_has {
                    out.push(RouteOp::Remove {
                        prefix,
                        metric: self.metric,
                    });
                }
                None
            }
        };
        if let Some(w) = want {
            self.routes.insert(prefix, w);
        }
    }

    /// A request failed: the kernel's state for this prefix is not known any more.
    pub(crate) fn failed(&mut self, action: &RouteOp) {
        let prefix = match action {
            RouteOp::Install { prefix, .. } | RouteOp::Remove { prefix, .. } => prefix,
        };
        if let Some(w) = self.routes.get_mut(prefix) {
            match w {
                Want::Unicast { state, .. } | Want::Blackhole { state } => {
                    *state = InKernel::Unsure
                }
            }
        }
    }

    /// The first full table is known: remove every adopted route nobody re-installed.
    pub(crate) fn sync_done(&mut self, out: &mut Vec<RouteOp>) {
        self.synced = true;
        for (prefix, metrics) in self.adopted.drain() {
            for metric in metrics {
                out.push(RouteOp::Remove { prefix, metric });
            }
        }
    }

    /// The kernel's routes or links changed: re-resolve every set, reinstall or remove the
    /// routes whose gateways changed.
    pub(crate) fn next_hops_changed(
        &mut self,
        resolve: &dyn Fn(IpAddr) -> Option<Resolved>,
        out: &mut Vec<RouteOp>,
    ) {
        let mut changed = vec![false; self.sets.slots.len()];
        let mut any = false;
        for (id, slot) in self.sets.slots.iter_mut().enumerate() {
            if slot.refs == 0 {
                continue;
            }
            let now = resolve_set(&slot.hops, resolve);
            if now != slot.gateways {
                slot.gateways = now;
                if let Some(c) = changed.get_mut(id) {
                    *c = true;
                }
                any = true;
            }
        }
        if !any {
            return;
        }
        for (prefix, want) in &mut self.routes {
            let Want::Unicast { set, state } = want else {
                continue;
            };
            if !changed.get(*set as usize).copied().unwrap_or(false) {
                continue;
            }
            let gateways = self.sets.gateways(*set);
            if gateways.is_empty() {
                if *state != InKernel::Absent {
                    out.push(RouteOp::Remove {
                        prefix: *prefix,
                        metric: self.metric,
                    });
                }
                *state = InKernel::Absent;
            } else {
                out.push(RouteOp::Install {
                    prefix: *prefix,
                    route: Install::Via(gateways.to_vec()),
                });
                *state = InKernel::Installed;
            }
        }
    }

    /// Counts for stats and metrics (walks the table: call it rarely).
    pub(crate) fn counts(&self) -> Counts {
        let mut c = Counts {
            wanted: self.routes.len(),
            adopted: self.adopted.values().map(Vec::len).sum(),
            next_hop_sets: self.sets.live(),
            ..Counts::default()
        };
        for w in self.routes.values() {
            match w.state() {
                InKernel::Installed => c.installed += 1,
                InKernel::Absent => c.unresolved += 1,
                InKernel::Unsure => {}
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn gw(s: &str) -> Gateway {
        Gateway {
            addr: ip(s),
            ifindex: 2,
        }
    }

    /// Connected 192.0.2.0/24 and 2001:db8:113::/126 on ifindex 2; 198.51.100.0/24 via
    /// 192.0.2.2, 2001:db8:5::/48 via 2001:db8:113::2.
    fn resolver(nh: IpAddr) -> Option<Resolved> {
        let s = nh.to_string();
        if s.starts_with("2001:db8:5:") {
            return Some(Resolved {
                cost: 11,
                gateways: vec![gw("2001:db8:113::2")],
            });
        }
        if s.starts_with("192.0.2.") || s.starts_with("2001:db8:113::") {
            Some(Resolved {
                cost: 0,
                gateways: vec![Gateway {
                    addr: nh,
                    ifindex: 2,
                }],
            })
        } else if s.starts_with("198.51.100.") {
            Some(Resolved {
                cost: 11,
                gateways: vec![gw("192.0.2.2")],
            })
        } else {
            None
        }
    }

    fn unicast(prefix: &str, hops: &[&str]) -> Op {
        Op::Replace(FibRoute::Unicast {
            prefix: net(prefix),
            next_hops: hops.iter().map(|h| ip(h).into()).collect(),
        })
    }

    fn run(r: &mut Reconciler, prefix: &str, op: Op) -> Vec<RouteOp> {
        let mut out = Vec::new();
        r.apply(net(prefix), op, &resolver, &mut out);
        out
    }

    fn install(prefix: &str, gws: &[&str]) -> RouteOp {
        RouteOp::Install {
            prefix: net(prefix),
            route: Install::Via(gws.iter().map(|g| gw(g)).collect()),
        }
    }

    fn remove(prefix: &str, metric: u32) -> RouteOp {
        RouteOp::Remove {
            prefix: net(prefix),
            metric,
        }
    }

    #[test]
    fn coalescer_keeps_the_latest_request_per_prefix() {
        let mut c = Coalescer::default();
        c.replace(FibRoute::Unicast {
            prefix: net("198.18.0.0/26"),
            next_hops: vec![ip("192.0.2.2").into()],
        });
        c.delete(net("198.18.0.0/26"));
        c.replace(FibRoute::Unicast {
            prefix: net("198.18.0.64/26"),
            next_hops: vec![ip("192.0.2.2").into()],
        });
        c.replace(FibRoute::Unicast {
            prefix: net("198.18.0.64/26"),
            next_hops: vec![ip("192.0.2.3").into()],
        });
        // Host bits are dropped: the same prefix.
        c.delete(net("198.18.0.129/25"));
        c.replace(FibRoute::Blackhole {
            prefix: net("198.18.0.128/25"),
        });
        assert_eq!(c.received, 6);
        let mut ops = c.take();
        ops.sort_by_key(|(p, _)| *p);
        assert_eq!(
            ops,
            vec![
                (net("198.18.0.0/26"), Op::Delete),
                (
                    net("198.18.0.64/26"),
                    unicast("198.18.0.64/26", &["192.0.2.3"])
                ),
                (
                    net("198.18.0.128/25"),
                    Op::Replace(FibRoute::Blackhole {
                        prefix: net("198.18.0.128/25")
                    })
                ),
            ]
        );
        assert!(c.take().is_empty());
    }

    #[test]
    fn install_replace_unchanged_and_delete() {
        let mut r = Reconciler::new(20, false);
        assert_eq!(
            run(
                &mut r,
                "198.18.0.0/26",
                unicast("198.18.0.0/26", &["192.0.2.2"])
            ),
            vec![install("198.18.0.0/26", &["192.0.2.2"])]
        );
        // The same again: nothing to do.
        assert_eq!(
            run(
                &mut r,
                "198.18.0.0/26",
                unicast("198.18.0.0/26", &["192.0.2.2"])
            ),
            vec![]
        );
        // A change: replace.
        assert_eq!(
            run(
                &mut r,
                "198.18.0.0/26",
                unicast("198.18.0.0/26", &["192.0.2.3"])
            ),
            vec![install("198.18.0.0/26", &["192.0.2.3"])]
        );
        assert_eq!(
            run(&mut r, "198.18.0.0/26", Op::Delete),
            vec![remove("198.18.0.0/26", 20)]
        );
        // Deleting what is not there asks nothing of the kernel.
        assert_eq!(run(&mut r, "198.18.0.0/26", Op::Delete), vec![]);
        assert_eq!(r.counts(), Counts::default());
    }

    #[test]
    fn ecmp_sets_resolve_each_next_hop_and_drop_duplicates() {
        let mut r = Reconciler::new(20, false);
        // Two connected next hops, a repeat, an unresolvable one, a recursive one.
        let out = run(
            &mut r,
            "198.18.1.0/26",
            unicast(
                "198.18.1.0/26",
                &[
                    "192.0.2.2",
                    "192.0.2.3",
                    "192.0.2.2",
                    "203.0.113.9",
                    "198.51.100.7",
                ],
            ),
        );
        // 198.51.100.7 resolves to 192.0.2.2, already present.
        assert_eq!(
            out,
            vec![install("198.18.1.0/26", &["192.0.2.2", "192.0.2.3"])]
        );
        assert_eq!(r.counts().next_hop_sets, 1);
    }

    #[test]
    fn a_link_local_next_hop_on_a_connected_network_is_the_gateway() {
        // RFC 2545: the VBR sends its global address and its link-local one; the route goes
        // via the link-local address on the global's interface. A global that resolves
        // recursively keeps its gateway (the link-local is not valid off its link).
        let with_ll = |global: &str| NextHop::V6 {
            global: global.parse().unwrap(),
            link_local: Some("fe80::2".parse().unwrap()),
        };
        let mut r = Reconciler::new(20, false);
        let out = run(
            &mut r,
            "2001:db8:19::/48",
            Op::Replace(FibRoute::Unicast {
                prefix: net("2001:db8:19::/48"),
                next_hops: vec![with_ll("2001:db8:113::2")],
            }),
        );
        assert_eq!(out, vec![install("2001:db8:19::/48", &["fe80::2"])]);
        let out = run(
            &mut r,
            "2001:db8:20::/48",
            Op::Replace(FibRoute::Unicast {
                prefix: net("2001:db8:20::/48"),
                next_hops: vec![with_ll("2001:db8:5::9")],
            }),
        );
        assert_eq!(out, vec![install("2001:db8:20::/48", &["2001:db8:113::2"])]);
        // An IPv4 route with that next hop (RFC 8950) goes via the link-local too.
        let out = run(
            &mut r,
            "198.19.0.0/16",
            Op::Replace(FibRoute::Unicast {
                prefix: net("198.19.0.0/16"),
                next_hops: vec![with_ll("2001:db8:113::2")],
            }),
        );
        assert_eq!(out, vec![install("198.19.0.0/16", &["fe80::2"])]);
    }

    #[test]
    fn unresolvable_next_hops_are_not_installed_and_remove_an_old_route() {
        let mut r = Reconciler::new(20, false);
        assert_eq!(
            run(
                &mut r,
                "198.18.2.0/26",
                unicast("198.18.2.0/26", &["203.0.113.9"])
            ),
            vec![]
        );
        assert_eq!(r.counts().unresolved, 1);
        run(
            &mut r,
            "198.18.2.0/26",
            unicast("198.18.2.0/26", &["192.0.2.2"]),
        );
        assert_eq!(
            run(
                &mut r,
                "198.18.2.0/26",
                unicast("198.18.2.0/26", &["203.0.113.9"])
            ),
            vec![remove("198.18.2.0/26", 20)]
        );
    }

    #[test]
    fn blackholes_only_when_configured() {
        let bh = || {
            Op::Replace(FibRoute::Blackhole {
                prefix: net("198.18.0.0/16"),
            })
        };
        let mut off = Reconciler::new(20, false);
        assert_eq!(run(&mut off, "198.18.0.0/16", bh()), vec![]);
        let mut on = Reconciler::new(20, true);
        let want = vec![RouteOp::Install {
            prefix: net("198.18.0.0/16"),
            route: Install::Blackhole,
        }];
        assert_eq!(run(&mut on, "198.18.0.0/16", bh()), want);
        assert_eq!(run(&mut on, "198.18.0.0/16", bh()), vec![]);
        // Turning a blackhole into a forwarding route replaces it.
        assert_eq!(
            run(
                &mut on,
                "198.18.0.0/16",
                unicast("198.18.0.0/16", &["192.0.2.2"])
            ),
            vec![install("198.18.0.0/16", &["192.0.2.2"])]
        );
    }

    #[test]
    fn adopted_routes_stay_until_sync_then_unclaimed_ones_go() {
        let mut r = Reconciler::new(20, false);
        r.adopt(net("198.18.0.0/26"), 20);
        r.adopt(net("198.18.0.64/26"), 20);
        r.adopt(net("198.18.0.128/26"), 32); // an older run with another metric
        r.adopt(net("198.18.0.192/26"), 20);
        assert_eq!(r.counts().adopted, 4);
        // Re-learned with the same next hop: still replaced (the old gateways are unknown).
        assert_eq!(
            run(
                &mut r,
                "198.18.0.0/26",
                unicast("198.18.0.0/26", &["192.0.2.2"])
            ),
            vec![install("198.18.0.0/26", &["192.0.2.2"])]
        );
        // Re-learned, old metric: install ours, remove theirs (never a duplicate).
        let mut out = run(
            &mut r,
            "198.18.0.128/26",
            unicast("198.18.0.128/26", &["192.0.2.2"]),
        );
        out.sort_by_key(|a| matches!(a, RouteOp::Install { .. }));
        assert_eq!(
            out,
            vec![
                remove("198.18.0.128/26", 32),
                install("198.18.0.128/26", &["192.0.2.2"])
            ]
        );
        // Re-learned but unresolvable now: removed at once.
        assert_eq!(
            run(
                &mut r,
                "198.18.0.192/26",
                unicast("198.18.0.192/26", &["203.0.113.1"])
            ),
            vec![remove("198.18.0.192/26", 20)]
        );
        assert!(!r.synced());
        let mut out = Vec::new();
        r.sync_done(&mut out);
        assert_eq!(out, vec![remove("198.18.0.64/26", 20)]);
        assert!(r.synced());
        assert_eq!(r.counts().adopted, 0);
        assert_eq!(r.counts().installed, 2);
    }

    #[test]
    fn delete_of_an_adopted_route_removes_it() {
        let mut r = Reconciler::new(20, false);
        r.adopt(net("198.18.0.0/26"), 20);
        assert_eq!(
            run(&mut r, "198.18.0.0/26", Op::Delete),
            vec![remove("198.18.0.0/26", 20)]
        );
        let mut out = Vec::new();
        r.sync_done(&mut out);
        assert_eq!(out, vec![]);
    }

    #[test]
    fn next_hop_changes_reinstall_only_affected_routes() {
        let mut r = Reconciler::new(20, false);
        run(
            &mut r,
            "198.18.0.0/26",
            unicast("198.18.0.0/26", &["192.0.2.2"]),
        );
        run(
            &mut r,
            "198.18.0.64/26",
            unicast("198.18.0.64/26", &["198.51.100.7"]),
        );
        run(
            &mut r,
            "198.18.0.128/26",
            unicast("198.18.0.128/26", &["198.51.100.7"]),
        );
        // Nothing changed: nothing to do.
        let mut out = Vec::new();
        r.next_hops_changed(&resolver, &mut out);
        assert_eq!(out, vec![]);
        // 198.51.100.0/24 now via 192.0.2.3.
        let moved = |nh: IpAddr| {
            if nh.to_string().starts_with("198.51.100.") {
                Some(Resolved {
                    cost: 11,
                    gateways: vec![gw("192.0.2.3")],
                })
            } else {
                resolver(nh)
            }
        };
        r.next_hops_changed(&moved, &mut out);
        out.sort_by_key(|a| match a {
            RouteOp::Install { prefix, .. } | RouteOp::Remove { prefix, .. } => *prefix,
        });
        assert_eq!(
            out,
            vec![
                install("198.18.0.64/26", &["192.0.2.3"]),
                install("198.18.0.128/26", &["192.0.2.3"])
            ]
        );
        // Then unreachable: removed; then back: installed.
        out.clear();
        r.next_hops_changed(
            &|nh| {
                if nh.to_string().starts_with("198.51.100.") {
                    None
                } else {
                    resolver(nh)
                }
            },
            &mut out,
        );
        assert_eq!(out.len(), 2);
        assert!(out
            .iter()
            .all(|a| matches!(a, RouteOp::Remove { metric: 20, .. })));
        assert_eq!(r.counts().unresolved, 2);
        out.clear();
        r.next_hops_changed(&resolver, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(r.counts().installed, 3);
    }

    #[test]
    fn failed_requests_are_retried_on_the_next_replace() {
        let mut r = Reconciler::new(20, false);
        let out = run(
            &mut r,
            "198.18.0.0/26",
            unicast("198.18.0.0/26", &["192.0.2.2"]),
        );
        r.failed(&out[0]);
        assert_eq!(
            run(
                &mut r,
                "198.18.0.0/26",
                unicast("198.18.0.0/26", &["192.0.2.2"])
            ),
            out
        );
        r.failed(&out[0]);
        // Delete still removes it, in case the kernel has it.
        assert_eq!(
            run(&mut r, "198.18.0.0/26", Op::Delete),
            vec![remove("198.18.0.0/26", 20)]
        );
    }

    #[test]
    fn sets_are_shared_and_freed() {
        let mut r = Reconciler::new(20, false);
        for i in 0..100u32 {
            let p = format!("198.18.{}.0/24", i);
            run(&mut r, &p, unicast(&p, &["192.0.2.2", "192.0.2.3"]));
        }
        assert_eq!(r.counts().next_hop_sets, 1);
        for i in 0..100u32 {
            let p = format!("198.18.{}.0/24", i);
            run(&mut r, &p, Op::Delete);
        }
        assert_eq!(r.counts().next_hop_sets, 0);
        run(
            &mut r,
            "198.18.0.0/24",
            unicast("198.18.0.0/24", &["192.0.2.4"]),
        );
        assert_eq!(r.sets.slots.len(), 1, "a freed slot is reused");
    }
}
