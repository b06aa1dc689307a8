//! Next-hop resolution against the kernel's own routes (RFC 4271 section 9.1.2: a route
//! whose NEXT_HOP does not resolve is not a candidate; 5.1.3 and 9.1.2.2 e: the cost to
//! reach it breaks ties).
//!
//! The FIB task keeps a [`NextHopTable`] up to date from the kernel's links and routes
//! (dump at start, then the `RTNLGRP_LINK`, `RTNLGRP_IPV4_ROUTE` and `RTNLGRP_IPV6_ROUTE`
//! multicast groups); the routing task reads it through a [`NextHops`] handle, which is a
//! [`rib::Resolver`]. No sockets here: the table only takes [`KernelChange`]s, so it is
//! tested without a kernel.
//!
//! ```text
//! kernel ─ RTM_NEWROUTE/DELROUTE, RTM_NEWLINK/DELLINK ─► FIB task ─► NextHopTable (RwLock)
//!                                                                        ▲ igp_cost(ip)
//!                                                         routing task ──┘ (decision)
//! ```
//!
//! Rules (the same as BIRD's `gateway recursive` and FRR's nexthop tracking):
//! - Only routes of the main table (254) and of the table bgpd installs into are used, and
//!   never routes of our own protocol (`bgp`, 186): a BGP route never resolves through a BGP
//!   route, so there is no recursion loop.
//! - Longest match first; among the routes of that prefix the lowest metric whose
//!   interfaces are up. A blackhole/unreachable/prohibit route as longest match means
//!   unreachable, as it does for the kernel's forwarding.
//! - A next hop on a connected network (a route without gateway) resolves to itself on
//!   that interface, cost 0; otherwise to the covering route's gateway(s), cost = that
//!   route's metric + 1 (so a connected next hop always wins the IGP-cost tie-break).
//! - The default route does not resolve next hops unless `resolve_via_default` is set
//!   (FRR's `ip nht resolve-via-default`).
//! - A link is usable when it is administratively up and running (`IFF_UP|IFF_RUNNING`);
//!   links the table has not heard of are taken as usable (the kernel installed the route).

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use bgp_wire::attr::NextHop;
use ipnet::IpNet;

/// The kernel's protocol number for BGP routes (`RTPROT_BGP`, `/etc/iproute2/rt_protos`).
pub const RTPROT_BGP: u8 = 186;

/// The kernel's main routing table (`RT_TABLE_MAIN`).
pub const RT_TABLE_MAIN: u32 = 254;

/// One way out of the box: a gateway address on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gateway {
    /// The neighbor to forward to (on-link on `ifindex`).
    pub addr: IpAddr,
    /// The interface index.
    pub ifindex: u32,
}

/// How a next hop resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// IGP cost: 0 on a connected network, the covering route's metric + 1 otherwise.
    pub cost: u32,
    /// The gateways to install (more than one when the covering route is multipath).
    pub gateways: Vec<Gateway>,
}

/// What kind of kernel route, as far as resolution cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// Forwards (`RTN_UNICAST`).
    Unicast,
    /// Drops (`RTN_BLACKHOLE`, `RTN_UNREACHABLE`, `RTN_PROHIBIT`).
    Reject,
}

/// One next hop of a kernel route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelHop {
    /// `RTA_GATEWAY`, `None` for a connected route.
    pub gateway: Option<IpAddr>,
    /// `RTA_OIF` (or the multipath entry's interface).
    pub ifindex: u32,
}

/// A kernel route as the watcher reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRoute {
    /// Destination.
    pub prefix: IpNet,
    /// Routing table.
    pub table: u32,
    /// `rtm_protocol`.
    pub protocol: u8,
    /// `RTA_PRIORITY` (0 when absent).
    pub metric: u32,
    /// Forwarding or rejecting.
    pub kind: RouteKind,
    /// Next hops (empty for a reject route).
    pub hops: Vec<KernelHop>,
}

/// A change the kernel announced (or a dump entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelChange {
    /// `RTM_NEWROUTE`.
    RouteAdded(KernelRoute),
    /// `RTM_DELROUTE`.
    RouteRemoved(KernelRoute),
    /// `RTM_NEWLINK`: the interface exists; `up` is `IFF_UP && IFF_RUNNING`.
    Link {
        /// Interface index.
        ifindex: u32,
        /// Usable for forwarding.
        up: bool,
    },
    /// `RTM_DELLINK`.
    LinkRemoved {
        /// Interface index.
        ifindex: u32,
    },
}

/// One stored route of a prefix; identity is (table, metric, first interface), which is
/// how IPv4 and IPv6 tell routes of the same prefix apart well enough for our purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    table: u32,
    metric: u32,
    kind: RouteKind,
    hops: Vec<KernelHop>,
}

impl Entry {
    fn key(&self) -> (u32, u32, u32) {
        (
            self.table,
            self.metric,
            self.hops.first().map_or(0, |h| h.ifindex),
        )
    }
}

/// The kernel's non-BGP routes and link states, for resolving BGP next hops.
#[derive(Debug, Default)]
pub struct NextHopTable {
    /// Tables whose routes count (main and ours).
    tables: BTreeSet<u32>,
    /// Our own protocol number: such routes never resolve a next hop.
    own_protocol: u8,
    resolve_via_default: bool,
    routes: HashMap<IpNet, Vec<Entry>>,
    /// How many stored prefixes have each length, per family; lookups try only these.
    lens_v4: BTreeSet<u8>,
    lens_v6: BTreeSet<u8>,
    len_count: HashMap<(bool, u8), usize>,
    /// Link usable, by interface index.
    links: HashMap<u32, bool>,
    /// Bumped on every change that can alter a resolution.
    generation: u64,
}

impl NextHopTable {
    /// A table using routes of `table` and of the main table, except those of
    /// `own_protocol` (normally [`RTPROT_BGP`]).
    pub fn new(table: u32, own_protocol: u8, resolve_via_default: bool) -> NextHopTable {
        NextHopTable {
            tables: [RT_TABLE_MAIN, table].into_iter().collect(),
            own_protocol,
            resolve_via_default,
            ..NextHopTable::default()
        }
    }

    /// Changes that may have altered a resolution so far; compare two readings.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Forget every route and link (before a fresh dump after a lost notification).
    pub fn clear(&mut self) {
        self.routes.clear();
        self.lens_v4.clear();
        self.lens_v6.clear();
        self.len_count.clear();
        self.links.clear();
        self.generation += 1;
    }

    /// Apply one kernel change; true when it can change a resolution.
    pub fn apply(&mut self, change: KernelChange) -> bool {
        let changed = match change {
            KernelChange::RouteAdded(r) => self.add_route(r),
            KernelChange::RouteRemoved(r) => self.remove_route(&r),
            KernelChange::Link { ifindex, up } => self.links.insert(ifindex, up) != Some(up),
            KernelChange::LinkRemoved { ifindex } => self.links.remove(&ifindex).is_some(),
        };
        if changed {
            self.generation += 1;
        }
        changed
    }

    fn relevant(&self, r: &KernelRoute) -> bool {
        r.protocol != self.own_protocol && self.tables.contains(&r.table)
    }

    fn add_route(&mut self, r: KernelRoute) -> bool {
        if !self.relevant(&r) {
            return false;
        }
        let entry = Entry {
            table: r.table,
            metric: r.metric,
            kind: r.kind,
            hops: r.hops,
        };
        let key = entry.key();
        let list = self.routes.entry(r.prefix).or_default();
        if list.is_empty() {
            let v6 = matches!(r.prefix, IpNet::V6(_));
            let len = r.prefix.prefix_len();
            let count = self.len_count.entry((v6, len)).or_insert(0);
            *count += 1;
            if v6 {
                self.lens_v6.insert(len);
            } else {
                self.lens_v4.insert(len);
            }
        }
        match list.iter_mut().find(|e| e.key() == key) {
            Some(e) if *e == entry => false,
            Some(e) => {
                *e = entry;
                true
            }
            None => {
                list.push(entry);
                true
            }
        }
    }

    fn remove_route(&mut self, r: &KernelRoute) -> bool {
        if !self.relevant(r) {
            return false;
        }
        let key = (r.table, r.metric, r.hops.first().map_or(0, |h| h.ifindex));
        let Some(list) = self.routes.get_mut(&r.prefix) else {
            return false;
        };
        let before = list.len();
        list.retain(|e| e.key() != key);
        let removed = list.len() != before;
        if list.is_empty() {
            self.routes.remove(&r.prefix);
            let v6 = matches!(r.prefix, IpNet::V6(_));
            let len = r.prefix.prefix_len();
            if let Some(count) = self.len_count.get_mut(&(v6, len)) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.len_count.remove(&(v6, len));
                    if v6 {
                        self.lens_v6.remove(&len);
                    } else {
                        self.lens_v4.remove(&len);
                    }
                }
            }
        }
        removed
    }

    fn link_up(&self, ifindex: u32) -> bool {
        self.links.get(&ifindex).copied().unwrap_or(true)
    }

    /// Resolve `nh` to gateways and a cost; `None` when unreachable.
    pub fn resolve(&self, nh: IpAddr) -> Option<Resolved> {
        let lens = match nh {
            IpAddr::V4(_) => &self.lens_v4,
            IpAddr::V6(_) => &self.lens_v6,
        };
        for &len in lens.iter().rev() {
            if len == 0 && !self.resolve_via_default {
                break;
            }
            let Ok(net) = IpNet::new(nh, len) else {
                continue;
            };
            let Some(list) = self.routes.get(&net.trunc()) else {
                continue;
            };
            let best = list
                .iter()
                .filter(|e| {
                    e.kind == RouteKind::Reject || e.hops.iter().any(|h| self.link_up(h.ifindex))
                })
                .min_by_key(|e| e.metric);
            let Some(best) = best else {
                // Every route of this prefix is down: a shorter one may still cover it.
                continue;
            };
            if best.kind == RouteKind::Reject {
                return None;
            }
            let mut gateways: Vec<Gateway> = Vec::with_capacity(best.hops.len());
            let mut connected = true;
            for h in best.hops.iter().filter(|h| self.link_up(h.ifindex)) {
                connected &= h.gateway.is_none();
                let g = Gateway {
                    addr: h.gateway.unwrap_or(nh),
                    ifindex: h.ifindex,
                };
                if !gateways.contains(&g) {
                    gateways.push(g);
                }
            }
            let cost = if connected {
                0
            } else {
                best.metric.saturating_add(1)
            };
            return Some(Resolved { cost, gateways });
        }
        None
    }

    /// The IGP cost of reaching `nh`, `None` when it does not resolve.
    pub fn igp_cost(&self, nh: IpAddr) -> Option<u32> {
        self.resolve(nh).map(|r| r.cost)
    }
}

impl rib::Resolver for NextHopTable {
    fn igp_cost(&self, next_hop: &NextHop) -> Option<u32> {
        NextHopTable::igp_cost(self, next_hop.addr())
    }
}

/// A shared, read-only view of the FIB task's [`NextHopTable`]: what the routing task
/// hands the decision process. Cheap to clone.
#[derive(Debug, Clone)]
pub struct NextHops(pub(crate) Arc<RwLock<NextHopTable>>);

impl NextHops {
    /// A standalone view over `table` (tests, or a daemon without `[kernel]`).
    pub fn new(table: NextHopTable) -> NextHops {
        NextHops(Arc::new(RwLock::new(table)))
    }

    /// Read the table once for many lookups (a whole decision batch).
    pub fn read(&self) -> RwLockReadGuard<'_, NextHopTable> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    /// See [`NextHopTable::resolve`].
    pub fn resolve(&self, nh: IpAddr) -> Option<Resolved> {
        self.read().resolve(nh)
    }

    /// See [`NextHopTable::igp_cost`].
    pub fn igp_cost(&self, nh: IpAddr) -> Option<u32> {
        self.read().igp_cost(nh)
    }

    pub(crate) fn write(&self) -> std::sync::RwLockWriteGuard<'_, NextHopTable> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl rib::Resolver for NextHops {
    fn igp_cost(&self, next_hop: &NextHop) -> Option<u32> {
        NextHops::igp_cost(self, next_hop.addr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn route(
        prefix: &str,
        table: u32,
        protocol: u8,
        metric: u32,
        hops: &[(Option<&str>, u32)],
    ) -> KernelRoute {
        KernelRoute {
            prefix: prefix.parse().unwrap(),
            table,
            protocol,
            metric,
            kind: RouteKind::Unicast,
            hops: hops
                .iter()
                .map(|(g, i)| KernelHop {
                    gateway: g.map(ip),
                    ifindex: *i,
                })
                .collect(),
        }
    }

    fn table() -> NextHopTable {
        let mut t = NextHopTable::new(100, RTPROT_BGP, false);
        t.apply(KernelChange::Link {
            ifindex: 2,
            up: true,
        });
        t.apply(KernelChange::Link {
            ifindex: 3,
            up: true,
        });
        // Connected 192.0.2.0/24 on 2, 2001:db8:1::/64 on 3.
        t.apply(KernelChange::RouteAdded(route(
            "192.0.2.0/24",
            254,
            2,
            0,
            &[(None, 2)],
        )));
        t.apply(KernelChange::RouteAdded(route(
            "2001:db8:1::/64",
            254,
            2,
            256,
            &[(None, 3)],
        )));
        // Static 198.51.100.0/24 via 192.0.2.2.
        t.apply(KernelChange::RouteAdded(route(
            "198.51.100.0/24",
            254,
            4,
            10,
            &[(Some("192.0.2.2"), 2)],
        )));
        t
    }

    fn gw(addr: &str, ifindex: u32) -> Gateway {
        Gateway {
            addr: ip(addr),
            ifindex,
        }
    }

    #[test]
    fn connected_next_hop_resolves_to_itself_at_cost_zero() {
        let t = table();
        let r = t.resolve(ip("192.0.2.9")).unwrap();
        assert_eq!(
            r,
            Resolved {
                cost: 0,
                gateways: vec![gw("192.0.2.9", 2)]
            }
        );
        let r6 = t.resolve(ip("2001:db8:1::7")).unwrap();
        assert_eq!(
            r6,
            Resolved {
                cost: 0,
                gateways: vec![gw("2001:db8:1::7", 3)]
            }
        );
    }

    #[test]
    fn recursive_next_hop_resolves_to_the_covering_gateway() {
        let t = table();
        let r = t.resolve(ip("198.51.100.7")).unwrap();
        assert_eq!(
            r,
            Resolved {
                cost: 11,
                gateways: vec![gw("192.0.2.2", 2)]
            }
        );
    }

    #[test]
    fn unknown_default_and_bgp_routes_do_not_resolve() {
        let mut t = table();
        assert_eq!(t.resolve(ip("203.0.113.1")), None);
        t.apply(KernelChange::RouteAdded(route(
            "0.0.0.0/0",
            254,
            4,
            0,
            &[(Some("192.0.2.1"), 2)],
        )));
        assert_eq!(
            t.resolve(ip("203.0.113.1")),
            None,
            "no resolution via default"
        );
        // Our own BGP routes and other tables never count.
        assert!(!t.apply(KernelChange::RouteAdded(route(
            "203.0.113.0/24",
            254,
            RTPROT_BGP,
            20,
            &[(Some("192.0.2.2"), 2)]
        ))));
        assert!(!t.apply(KernelChange::RouteAdded(route(
            "203.0.113.0/24",
            7,
            4,
            20,
            &[(Some("192.0.2.2"), 2)]
        ))));
        assert_eq!(t.resolve(ip("203.0.113.1")), None);
        let mut d = NextHopTable::new(100, RTPROT_BGP, true);
        d.apply(KernelChange::RouteAdded(route(
            "0.0.0.0/0",
            254,
            4,
            0,
            &[(Some("192.0.2.1"), 2)],
        )));
        assert_eq!(d.igp_cost(ip("203.0.113.1")), Some(1));
    }

    #[test]
    fn link_down_makes_next_hops_unreachable_and_back() {
        let mut t = table();
        let g0 = t.generation();
        assert!(t.apply(KernelChange::Link {
            ifindex: 2,
            up: false
        }));
        assert!(t.generation() > g0);
        assert_eq!(t.resolve(ip("192.0.2.9")), None);
        assert_eq!(t.resolve(ip("198.51.100.7")), None);
        assert!(
            !t.apply(KernelChange::Link {
                ifindex: 2,
                up: false
            }),
            "no change, no event"
        );
        t.apply(KernelChange::Link {
            ifindex: 2,
            up: true,
        });
        assert_eq!(t.igp_cost(ip("192.0.2.9")), Some(0));
    }

    #[test]
    fn longest_match_and_lowest_metric_win_and_reject_routes_stop() {
        let mut t = table();
        t.apply(KernelChange::RouteAdded(route(
            "198.51.100.0/25",
            100,
            4,
            50,
            &[(Some("192.0.2.3"), 2)],
        )));
        t.apply(KernelChange::RouteAdded(route(
            "198.51.100.0/25",
            254,
            4,
            5,
            &[(Some("192.0.2.4"), 2)],
        )));
        assert_eq!(
            t.resolve(ip("198.51.100.7")).unwrap().gateways,
            vec![gw("192.0.2.4", 2)]
        );
        assert_eq!(
            t.resolve(ip("198.51.100.200")).unwrap().gateways,
            vec![gw("192.0.2.2", 2)]
        );
        // Removing the better one falls back to the next.
        t.apply(KernelChange::RouteRemoved(route(
            "198.51.100.0/25",
            254,
            4,
            5,
            &[(Some("192.0.2.4"), 2)],
        )));
        assert_eq!(
            t.resolve(ip("198.51.100.7")).unwrap().gateways,
            vec![gw("192.0.2.3", 2)]
        );
        let mut bh = route("198.51.100.0/26", 254, 4, 0, &[]);
        bh.kind = RouteKind::Reject;
        t.apply(KernelChange::RouteAdded(bh.clone()));
        assert_eq!(t.resolve(ip("198.51.100.7")), None);
        t.apply(KernelChange::RouteRemoved(bh));
        assert!(t.resolve(ip("198.51.100.7")).is_some());
    }

    #[test]
    fn multipath_covering_route_gives_every_live_gateway() {
        let mut t = table();
        t.apply(KernelChange::RouteAdded(route(
            "203.0.113.0/24",
            254,
            4,
            0,
            &[(Some("192.0.2.2"), 2), (Some("2001:db8:1::2"), 3)],
        )));
        assert_eq!(t.resolve(ip("203.0.113.5")).unwrap().gateways.len(), 2);
        t.apply(KernelChange::Link {
            ifindex: 3,
            up: false,
        });
        assert_eq!(
            t.resolve(ip("203.0.113.5")).unwrap().gateways,
            vec![gw("192.0.2.2", 2)]
        );
    }

    #[test]
    fn clear_forgets_everything_and_resolver_trait_answers() {
        let mut t = table();
        let nh = NextHop::V4("192.0.2.9".parse().unwrap());
        assert_eq!(rib::Resolver::igp_cost(&t, &nh), Some(0));
        t.clear();
        assert_eq!(rib::Resolver::igp_cost(&t, &nh), None);
        let shared = NextHops::new(table());
        assert_eq!(rib::Resolver::igp_cost(&shared, &nh), Some(0));
    }
}
