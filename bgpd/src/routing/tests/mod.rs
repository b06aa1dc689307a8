//! The routing task driven input by input, as the run loop would, with the edge's shape:
//! Calico nodes (iBGP clients, ADD-PATH) and the cloud gateway (eBGP, an export policy and
//! an advertised-route limit). What a peer holds is read back from its update queue.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp_wire::attr::{AsPath, AttrValue, NextHop, Origin, PathAttributes};
use bgp_wire::capability::AddPathMode;
use bgp_wire::{decode, Context, Family, Framer, Message, Nlri, RefreshSubtype};
use bytes::BytesMut;
use config::{Config, Policy, PrefixLimit};
use ipnet::IpNet;

use super::{ExportSettings, PeerUp, Routing, RoutingConfig, RoutingInput};
use crate::exchange::updates::UpdateSender;
use crate::exchange::PeerKey;
use crate::exchange::{Announce, Imported};
use crate::session::{negotiate, GracefulRestartConfig, PeerAs, SessionConfig};

const EDGE: &str = r#"
[global]
asn = 64512
router_id = "192.0.2.1"
cluster_id = "192.0.2.254"

[[originate]]
prefix = "198.18.0.0/16"
require_more_specific = true

[[neighbor]]
name = "vbr"
address = "203.0.113.2"
remote_as = 45104
export = "to-cloud"
max_prefixes_out = 100

[[neighbor]]
name = "calico"
range = "192.0.2.0/24"
remote_as = 64512
route_reflector_client = true

[policy.to-cloud]
default = "reject"
[[policy.to-cloud.term]]
prefixes = ["TO_CLOUD"]
action = "accept"
"#;

const NARROW: &str = "198.18.0.0/16";
const WIDE: &str = "198.18.0.0/16{16,32}";

fn to_cloud(pattern: &str) -> Arc<Policy> {
    let text = EDGE.replace("TO_CLOUD", pattern);
    let (config, _) = Config::from_str(&text, "edge.toml").unwrap();
    Arc::new(config.policy("to-cloud").unwrap().clone())
}

/// How the edge exports to a cloud gateway: the `to-cloud` policy with `pattern`, and the
/// advertised-route limit.
fn to_cloud_export(pattern: &str) -> ExportSettings {
    ExportSettings {
        export_policy: Some(to_cloud(pattern)),
        rr_client: false,
        next_hop_self: false,
        link_local_next_hop: true,
        max_prefixes: None,
        max_prefixes_out: limit(),
        graceful_shutdown: false,
    }
}

fn limit() -> Option<PrefixLimit> {
    Some(PrefixLimit {
        limit: 100,
        warning_percent: 80,
    })
}

/// A peer as the routing task sees it, and what it has been told so far.
struct Remote {
    key: PeerKey,
    queue: UpdateSender,
    decode: Context,
    /// Routes it holds (prefix, path id); stale ones between BoRR and EoRR.
    holds: BTreeSet<(IpNet, u32)>,
    stale: BTreeSet<(IpNet, u32)>,
}

impl Remote {
    /// Applies everything queued to it.
    fn read(&mut self) {
        while let Some(bytes) = self.queue.try_recv() {
            let mut buf = BytesMut::from(&bytes[..]);
            while let Some(m) = Framer::new().next_message(&mut buf).unwrap() {
                match decode(&m, &self.decode).unwrap() {
                    Message::Update(u) => {
                        for n in u.withdrawn_routes() {
                            self.holds.remove(&(n.prefix, n.path_id));
                        }
                        for n in u.announced_nlri() {
                            self.stale.remove(&(n.prefix, n.path_id));
                            self.holds.insert((n.prefix, n.path_id));
                        }
                    }
                    Message::RouteRefresh(r) => match r.subtype {
                        RefreshSubtype::Begin => self.stale = self.holds.clone(),
                        RefreshSubtype::End => {
                            for s in std::mem::take(&mut self.stale) {
                                self.holds.remove(&s);
                            }
                        }
                        _ => {}
                    },
                    _ => {}
                }
            }
        }
    }

    fn prefixes(&self) -> BTreeSet<IpNet> {
        self.holds.iter().map(|(p, _)| *p).collect()
    }
}

fn session(local_as: u32, id: &str, remote_as: u32, add_path: bool) -> SessionConfig {
    let mut s = SessionConfig::new(local_as, id.parse().unwrap(), PeerAs::Fixed(remote_as));
    if add_path {
        s.add_path = vec![(Family::Ipv4Unicast, AddPathMode::Both)];
    }
    s.graceful_restart = Some(GracefulRestartConfig {
        restart_time: 120,
        restarting: false,
        notification: false,
        families: vec![(Family::Ipv4Unicast, false)],
    });
    s
}

/// The edge's routing core with the peers it exports to, driven by inputs and a clock of
/// its own: time passes only when a test says so.
struct Edge {
    routing: Routing,
    clock: Instant,
    vbr: Remote,
    nodes: Vec<Remote>,
}

impl Edge {
    fn new() -> Self {
        Self::restarting(None)
    }

    /// After a restart of ours: route selection deferred until the `plan`'s End-of-RIBs.
    fn restarting(plan: Option<super::RestartPlan>) -> Self {
        let (config, _) = Config::from_str(&EDGE.replace("TO_CLOUD", NARROW), "edge.toml").unwrap();
        let g = &config.global;
        let clock = Instant::now();
        let routing = Routing::new(
            &RoutingConfig {
                asn: g.asn.get(),
                router_id: g.router_id.get(),
                cluster_id: g.cluster_id.get(),
                originate: config.originate.clone(),
                kernel: None,
                deferring: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(plan.is_some())),
                restart: plan,
            },
            clock,
        );
        let mut edge = Edge {
            routing,
            clock,
            vbr: Remote {
                key: 1,
                queue: UpdateSender::unattached(1 << 20),
                decode: Context::four_octet(),
                holds: BTreeSet::new(),
                stale: BTreeSet::new(),
            },
            nodes: Vec::new(),
        };
        edge.vbr_up();
        for i in 0..3u8 {
            edge.nodes.push(Remote {
                key: 10 + PeerKey::from(i),
                queue: UpdateSender::unattached(1 << 20),
                decode: Context::four_octet(),
                holds: BTreeSet::new(),
                stale: BTreeSet::new(),
            });
        }
        edge
    }

    fn vbr_up(&mut self) {
        self.vbr_up_with(NARROW, 1 << 20);
    }

    fn vbr_up_with(&mut self, pattern: &str, cap: usize) {
        let mine = session(64512, "192.0.2.1", 45104, false);
        let theirs = session(45104, "203.0.113.2", 64512, false);
        let negotiated = negotiate(&mine, &mine.build_open(), &theirs.build_open()).unwrap();
        self.vbr.decode = negotiated.encode;
        self.vbr.queue = UpdateSender::unattached(cap);
        self.vbr.holds.clear();
        self.vbr.stale.clear();
        let (commands, _) = crate::exchange::commands::channel();
        self.input(RoutingInput::PeerUp(Box::new(PeerUp {
            key: self.vbr.key,
            name: "vbr".into(),
            address: "203.0.113.2".parse().unwrap(),
            local_address: Some("203.0.113.1".parse().unwrap()),
            link_local: None,
            negotiated,
            export: to_cloud_export(pattern),
            updates: self.vbr.queue.clone(),
            commands,
            calico: None,
        })));
    }

    fn node_addr(i: usize) -> Ipv4Addr {
        Ipv4Addr::new(192, 0, 2, 11 + u8::try_from(i).unwrap())
    }

    fn node_up(&mut self, i: usize) {
        let addr = Self::node_addr(i);
        let mine = session(64512, "192.0.2.1", 64512, true);
        let theirs = session(64512, &addr.to_string(), 64512, true);
        let negotiated = negotiate(&mine, &mine.build_open(), &theirs.build_open()).unwrap();
        let node = &mut self.nodes[i];
        node.decode = negotiated.encode;
        node.queue = UpdateSender::unattached(1 << 20);
        node.holds.clear();
        let (key, updates) = (node.key, node.queue.clone());
        let (commands, _) = crate::exchange::commands::channel();
        self.input(RoutingInput::PeerUp(Box::new(PeerUp {
            key,
            name: "calico".into(),
            address: IpAddr::V4(addr),
            local_address: Some("192.0.2.1".parse().unwrap()),
            link_local: None,
            negotiated,
            export: ExportSettings {
                export_policy: None,
                rr_client: true,
                next_hop_self: true,
                link_local_next_hop: true,
                max_prefixes: None,
                max_prefixes_out: None,
                graceful_shutdown: false,
            },
            updates,
            commands,
            // Every node is a Calico node of the pool 198.18.0.0/16 (blocks /26).
            calico: Some(std::sync::Arc::new(config::Calico {
                pools: vec!["198.18.0.0/16".parse().unwrap()],
                block_size: 26,
                block_size_v6: 122,
            })),
        })));
    }

    /// A node's routes: its block and pod /32, and for node 0 the extra blocks.
    fn node_routes(i: usize) -> Vec<IpNet> {
        let n = i + 1;
        let mut v: Vec<IpNet> = vec![
            format!("198.18.{n}.0/26").parse().unwrap(),
            format!("198.18.{n}.1/32").parse().unwrap(),
        ];
        if i == 0 {
            for k in 0..480 {
                v.push(
                    format!("198.18.{}.{}/26", 100 + k / 4, (k % 4) * 64)
                        .parse()
                        .unwrap(),
                );
            }
        }
        v
    }

    fn node_update(&mut self, i: usize, announce: &[IpNet], withdraw: &[IpNet], eor: bool) {
        let attrs = PathAttributes::from_values([
            AttrValue::Origin(Origin::Igp),
            AttrValue::AsPath(AsPath::default()),
            AttrValue::LocalPref(100),
        ]);
        let imported = Imported {
            announce: if announce.is_empty() {
                Vec::new()
            } else {
                vec![Announce {
                    attrs,
                    next_hop: NextHop::V4(Self::node_addr(i)),
                    nlri: announce.iter().map(|p| Nlri::with_path_id(*p, 1)).collect(),
                }]
            },
            withdraw: withdraw.iter().map(|p| Nlri::with_path_id(*p, 1)).collect(),
            end_of_rib: eor.then_some(Family::Ipv4Unicast),
            received: announce.len(),
            received_ipv6: 0,
            refused: Vec::new(),
            pool_refused: Vec::new(),
        };
        self.input(RoutingInput::Update {
            key: self.nodes[i].key,
            imported,
        });
    }

    fn node_down(&mut self, i: usize, graceful: bool) {
        self.input(RoutingInput::PeerDown {
            key: self.nodes[i].key,
            stale_for: if graceful {
                Duration::from_secs(120)
            } else {
                Duration::ZERO
            },
            llgr_for: Duration::ZERO,
        });
    }

    fn reload(&mut self, pattern: &str) {
        self.input(RoutingInput::Regroup {
            key: self.vbr.key,
            export: to_cloud_export(pattern),
        });
    }

    fn vbr_group(&self) -> Option<usize> {
        self.routing.peers.get(&self.vbr.key).and_then(|p| p.group)
    }

    /// One input, at the edge's time.
    fn input(&mut self, input: RoutingInput) {
        self.routing.handle(self.clock, input);
    }

    /// Time passes: the core does what is due, the peers' writers drain their queues.
    fn advance(&mut self, by: Duration) {
        self.clock += by;
        self.routing.poll(self.clock);
        self.read();
    }

    /// What the run loop does after a batch of inputs once the export interval has passed,
    /// and again when lagging members are checked.
    fn tick(&mut self) {
        self.advance(super::EXPORT_INTERVAL);
        self.advance(super::LAGGING_CHECK);
    }

    fn read(&mut self) {
        self.vbr.read();
        for n in &mut self.nodes {
            n.read();
        }
    }
}

/// xorshift: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn narrowing_the_cloud_policy_leaves_the_aggregate_alone_whatever_the_nodes_do() {
    let aggregate: IpNet = NARROW.parse().unwrap();
    for seed in 1..150u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut edge = Edge::new();
        let mut up = [false; 3];
        let mut wide = false;
        let mut log: Vec<String> = Vec::new();
        for step in 0..60 {
            let op = rng.below(10);
            let i = usize::try_from(rng.below(3)).unwrap();
            match op {
                0 | 1 if !up[i] => {
                    edge.node_up(i);
                    up[i] = true;
                    let routes = Edge::node_routes(i);
                    // The table in one or two UPDATEs, End-of-RIB maybe later.
                    let cut = usize::try_from(rng.below(routes.len() as u64)).unwrap();
                    edge.node_update(i, &routes[..cut], &[], false);
                    let eor = rng.below(2) == 0;
                    edge.node_update(i, &routes[cut..], &[], eor);
                    log.push(format!("{step}: node {i} up (eor {eor})"));
                }
                0 | 1 => {
                    let graceful = rng.below(2) == 0;
                    edge.node_down(i, graceful);
                    up[i] = false;
                    log.push(format!("{step}: node {i} down (graceful {graceful})"));
                }
                2 if up[i] => {
                    let routes = Edge::node_routes(i);
                    let k = usize::try_from(rng.below(routes.len() as u64)).unwrap();
                    edge.node_update(i, &[], &routes[k..=k], false);
                    log.push(format!("{step}: node {i} withdraws {}", routes[k]));
                }
                3 if up[i] => {
                    let routes = Edge::node_routes(i);
                    edge.node_update(i, &routes, &[], true);
                    log.push(format!("{step}: node {i} sends its table again"));
                }
                7 if rng.below(3) == 0 => {
                    // The VBR session flaps; it comes back with the spec of the last reload.
                    edge.input(RoutingInput::PeerDown {
                        key: edge.vbr.key,
                        stale_for: Duration::ZERO,
                        llgr_for: Duration::ZERO,
                    });
                    let cap = if rng.below(2) == 0 { 2 } else { 1 << 20 };
                    let now = if wide { WIDE } else { NARROW };
                    if rng.below(2) == 0 {
                        edge.vbr_up_with(now, cap);
                        log.push(format!("{step}: vbr flaps (queue {cap})"));
                    } else {
                        // Up with the settings of before the reload, which follow.
                        edge.vbr_up_with(if wide { NARROW } else { WIDE }, cap);
                        edge.reload(now);
                        log.push(format!("{step}: vbr flaps (queue {cap}), old settings"));
                    }
                }
                8 if rng.below(3) == 0 => {
                    let sub = match rng.below(3) {
                        0 => RefreshSubtype::Request,
                        1 => RefreshSubtype::Begin,
                        _ => RefreshSubtype::End,
                    };
                    edge.input(RoutingInput::RefreshRequest {
                        key: edge.vbr.key,
                        family: Family::Ipv4Unicast,
                        subtype: sub,
                    });
                    log.push(format!("{step}: vbr refresh {sub:?}"));
                }
                4 | 5 => {
                    wide = !wide;
                    edge.reload(if wide { WIDE } else { NARROW });
                    log.push(format!(
                        "{step}: reload {}",
                        if wide { "wide" } else { "narrow" }
                    ));
                }
                _ => {
                    edge.tick();
                    log.push(format!("{step}: export"));
                    // It holds what the routing task believes it told it.
                    let told: BTreeSet<(IpNet, u32)> = edge
                        .vbr_group()
                        .map(|g| {
                            edge.routing
                                .groups
                                .advertised_prefixes(&edge.routing.rib, g)
                        })
                        .unwrap_or_default()
                        .into_iter()
                        .map(|n| (n.prefix, n.path_id))
                        .collect();
                    assert_eq!(edge.vbr.holds, told, "seed {seed}\n{}", log.join("\n"));
                    let held = edge.vbr.prefixes();
                    assert!(
                        held.len() <= 100,
                        "seed {seed}: {} routes\n{}",
                        held.len(),
                        log.join("\n")
                    );
                    if !wide {
                        assert!(
                            held.iter().all(|p| *p == aggregate),
                            "seed {seed}: the VBR holds {} routes after narrowing: {:?}\n{}",
                            held.len(),
                            held.iter().take(5).collect::<Vec<_>>(),
                            log.join("\n")
                        );
                    }
                }
            }
        }
    }
}

/// A second session to the cloud with the same settings (a redundant gateway on the same
/// link): it shares the first one's export group.
fn second_vbr(edge: &mut Edge) -> Remote {
    let mine = session(64512, "192.0.2.1", 45104, false);
    let theirs = session(45104, "203.0.113.3", 64512, false);
    let negotiated = negotiate(&mine, &mine.build_open(), &theirs.build_open()).unwrap();
    let remote = Remote {
        key: 2,
        queue: UpdateSender::unattached(1 << 20),
        decode: negotiated.encode,
        holds: BTreeSet::new(),
        stale: BTreeSet::new(),
    };
    let (commands, _) = crate::exchange::commands::channel();
    edge.input(RoutingInput::PeerUp(Box::new(PeerUp {
        key: remote.key,
        name: "vbr2".into(),
        address: "203.0.113.3".parse().unwrap(),
        local_address: Some("203.0.113.1".parse().unwrap()),
        link_local: None,
        negotiated,
        export: to_cloud_export(NARROW),
        updates: remote.queue.clone(),
        commands,
        calico: None,
    })));
    remote
}

#[test]
fn a_reload_reexports_a_shared_group_at_once_not_at_the_next_input() {
    let mut edge = Edge::new();
    edge.node_up(0);
    edge.node_update(0, &Edge::node_routes(0), &[], true);
    edge.tick();
    let mut vbr2 = second_vbr(&mut edge);
    edge.tick();
    vbr2.read();
    assert_eq!(edge.vbr.prefixes().len(), 1);
    assert_eq!(vbr2.prefixes().len(), 1);
    // The first session's reload changes the policy the group shares: both get the wide
    // routes now, with no input (and so no export) following.
    edge.reload(WIDE);
    edge.read();
    vbr2.read();
    assert_eq!(edge.vbr.prefixes().len(), 100);
    assert_eq!(vbr2.prefixes().len(), 100);
    // And back.
    edge.reload(NARROW);
    edge.read();
    vbr2.read();
    let aggregate: IpNet = NARROW.parse().unwrap();
    assert_eq!(edge.vbr.prefixes(), [aggregate].into());
    assert_eq!(vbr2.prefixes(), [aggregate].into());
}

#[test]
fn a_reload_while_deferring_after_a_restart_sends_nothing_until_the_end_of_rib() {
    let plan = super::RestartPlan {
        expected: [IpAddr::V4(Edge::node_addr(0))].into(),
        deferral: Duration::from_secs(120),
        until_timer: false,
    };
    let mut edge = Edge::restarting(Some(plan));
    edge.node_up(0);
    edge.node_update(0, &Edge::node_routes(0), &[], false);
    edge.tick();
    edge.reload(WIDE);
    edge.tick();
    assert!(edge.vbr.holds.is_empty(), "{:?}", edge.vbr.holds);
    edge.reload(NARROW);
    edge.reload(WIDE);
    edge.tick();
    assert!(edge.vbr.holds.is_empty(), "{:?}", edge.vbr.holds);
    // The End-of-RIBs (the node's, and the gateway's: it came up with graceful restart
    // during the deferral) end it: the table goes out under the last settings.
    edge.node_update(0, &[], &[], true);
    edge.tick();
    assert!(edge.vbr.holds.is_empty(), "{:?}", edge.vbr.holds);
    edge.input(RoutingInput::Update {
        key: edge.vbr.key,
        imported: Imported {
            end_of_rib: Some(Family::Ipv4Unicast),
            ..Imported::default()
        },
    });
    edge.tick();
    assert_eq!(edge.vbr.prefixes().len(), 100);
    assert!(edge.vbr.prefixes().contains(&NARROW.parse().unwrap()));
}

#[test]
fn a_member_that_fell_behind_is_resynchronised_when_a_reload_moves_it() {
    let mut edge = Edge::new();
    edge.node_up(0);
    let routes = Edge::node_routes(0);
    edge.node_update(0, &routes, &[], true);
    edge.tick();
    // The gateway's queue holds two buffers.
    edge.input(RoutingInput::PeerDown {
        key: edge.vbr.key,
        stale_for: Duration::ZERO,
        llgr_for: Duration::ZERO,
    });
    edge.vbr_up_with(NARROW, 2);
    edge.tick();
    edge.reload(WIDE);
    edge.read();
    assert_eq!(edge.vbr.prefixes().len(), 100);
    // Three leaked routes withdrawn before the writer drains: the third does not fit.
    for gone in &routes[2..5] {
        edge.node_update(0, &[], std::slice::from_ref(gone), false);
        edge.routing.export();
    }
    assert!(edge.routing.groups.any_lagging());
    edge.read();
    assert!(edge.vbr.prefixes().contains(&routes[4]));
    // Narrowed before it caught up: what its old group withdrew while it lagged must go too.
    edge.reload(NARROW);
    edge.tick();
    let aggregate: IpNet = NARROW.parse().unwrap();
    assert_eq!(edge.vbr.prefixes(), [aggregate].into());
}

/// The paths of the Loc-RIB for `prefix`: (neighbor, stale).
fn loc_rib(edge: &mut Edge, prefix: IpNet) -> Vec<(String, bool)> {
    let q = super::RoutingQuery::Rib {
        prefix: Some(prefix),
        longer: false,
        peer: None,
        view: super::RibView::LocRib,
    };
    match edge.routing.query(q) {
        super::RoutingReply::Rib(rows) => rows
            .into_iter()
            .filter(|r| r.prefix == prefix)
            .map(|r| (r.neighbor, r.stale))
            .collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_node_that_restarts_keeps_its_routes_for_the_restart_time_then_long_lived_then_not() {
    // RFC 4724 section 4.2 and RFC 9494 section 4.2, on the edge's clock: no sleeps.
    let mut edge = Edge::new();
    let routes = Edge::node_routes(0);
    edge.node_up(0);
    edge.node_update(0, &routes, &[], true);
    edge.node_up(1);
    edge.tick();
    assert!(edge.nodes[1].prefixes().contains(&routes[0]));
    let down_at = edge.clock;
    edge.input(RoutingInput::PeerDown {
        key: edge.nodes[0].key,
        stale_for: Duration::from_secs(120),
        llgr_for: Duration::from_secs(3600),
    });
    edge.tick();
    assert_eq!(loc_rib(&mut edge, routes[0]), [("calico".into(), true)]);
    assert!(edge.nodes[1].prefixes().contains(&routes[0]));
    assert_eq!(
        edge.routing.next_deadline(),
        Some(down_at + Duration::from_secs(120))
    );
    // A moment before the restart time: kept.
    let before = down_at + Duration::from_secs(120) - Duration::from_millis(1) - edge.clock;
    edge.advance(before);
    assert!(edge.nodes[1].prefixes().contains(&routes[0]));
    // The restart time is over: long-lived stale, until its own deadline (the export of
    // the change waits out the export interval).
    edge.advance(Duration::from_millis(1));
    edge.tick();
    assert_eq!(loc_rib(&mut edge, routes[0]), [("calico".into(), true)]);
    assert_eq!(
        edge.routing.next_deadline(),
        Some(down_at + Duration::from_secs(120 + 3600))
    );
    edge.advance(Duration::from_secs(3600));
    assert_eq!(loc_rib(&mut edge, routes[0]), []);
    assert!(!edge.nodes[1].prefixes().contains(&routes[0]));
    assert_eq!(edge.routing.next_deadline(), None);
}

#[test]
fn a_deferral_waiting_for_a_node_that_never_comes_ends_with_its_timer() {
    // RFC 4724 section 4.1: the Selection_Deferral_Timer bounds the wait.
    let plan = super::RestartPlan {
        expected: [Edge::node_addr(0), Edge::node_addr(2)]
            .map(IpAddr::V4)
            .into(),
        deferral: Duration::from_secs(15),
        until_timer: false,
    };
    let mut edge = Edge::restarting(Some(plan));
    edge.node_up(0);
    edge.node_update(0, &Edge::node_routes(0), &[], true);
    edge.tick();
    assert!(edge.vbr.holds.is_empty());
    let timer_at = edge
        .routing
        .next_deadline()
        .expect("the deferral's deadline");
    edge.advance(timer_at - edge.clock - Duration::from_millis(1));
    assert!(edge.vbr.holds.is_empty(), "{:?}", edge.vbr.holds);
    assert!(edge.routing.restart_stats.deferring);
    edge.advance(Duration::from_millis(1));
    assert_eq!(edge.vbr.prefixes(), [NARROW.parse().unwrap()].into());
    assert!(!edge.routing.restart_stats.deferring);
    assert_eq!(edge.routing.restart_stats.timer_expired, 1);
}

mod calico;
mod model;
mod mrt;
