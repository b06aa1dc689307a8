//! The routing core against a reference model on random event sequences.
//!
//! The model is what RFC 4271/4456, RFC 4724 (helper side), the `require_more_specific`
//! aggregate, the export policy and `max_prefixes_out` say each peer of the edge must hold,
//! written as plainly as possible: a node's routes are in the table while it is up, or down
//! within its restart time; a reflector client gets every other node's routes and the
//! aggregate; the cloud gets what the policy lets through, at most the limit, the aggregate
//! first. After every event (node up, down with or without graceful restart, UPDATEs,
//! End-of-RIB, a reload that widens or narrows the cloud policy, time passing) each peer's
//! Adj-RIB-Out, as it decoded the UPDATEs it was sent, is compared with the model.
//!
//! A second run starts the edge as a restarting speaker (RFC 4724 section 4.1): nothing is
//! sent to anyone until every expected peer, and every peer that came up with graceful
//! restart since, has sent End-of-RIB, or the selection deferral timer runs out; from then
//! on the same model holds.
//!
//! Not modelled: LLGR (its own tests are in `tests/mod.rs` and `bgpd/tests/sessions.rs`),
//! lagging members (queues here never fill).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use bgp_wire::Family;

use super::{Edge, Rng, NARROW, WIDE};
use crate::exchange::Imported;
use crate::routing::RoutingInput;

const RESTART_TIME: Duration = Duration::from_secs(120);
const LIMIT: usize = 100;

#[derive(Debug, Default, Clone)]
struct Node {
    up: bool,
    /// In the table from this node.
    routes: BTreeSet<IpNet>,
    /// Kept from before a graceful restart, not sent again yet.
    stale: BTreeSet<IpNet>,
    /// When the stale ones go.
    deadline: Option<Instant>,
}

/// Who a restart's deferral waits for: the nodes by index, the cloud as `CLOUD`.
const CLOUD: usize = usize::MAX;
const DEFERRAL: Duration = Duration::from_secs(15);

#[derive(Debug)]
struct Deferral {
    awaited: BTreeSet<usize>,
    deadline: Instant,
}

#[derive(Debug)]
struct Model {
    nodes: Vec<Node>,
    wide: bool,
    /// While a restart's deferral runs.
    deferral: Option<Deferral>,
}

impl Model {
    fn aggregate() -> IpNet {
        NARROW.parse().unwrap_or_default()
    }

    fn table(&self) -> BTreeSet<IpNet> {
        self.nodes
            .iter()
            .flat_map(|n| n.routes.iter().copied())
            .collect()
    }

    /// `require_more_specific`: the aggregate exists while a route inside it does (every
    /// node route is).
    fn with_aggregate(&self, mut set: BTreeSet<IpNet>) -> BTreeSet<IpNet> {
        if !self.table().is_empty() {
            set.insert(Self::aggregate());
        }
        set
    }

    /// A reflector client gets every other node's routes (RFC 4456 section 6; its own are
    /// not sent back) and the aggregate.
    fn to_node(&self, j: usize) -> BTreeSet<IpNet> {
        let others = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != j)
            .flat_map(|(_, n)| n.routes.iter().copied())
            .collect();
        self.with_aggregate(others)
    }

    /// What the cloud policy lets through, before the limit.
    fn to_cloud(&self) -> BTreeSet<IpNet> {
        if self.wide {
            self.with_aggregate(self.table())
        } else {
            self.with_aggregate(BTreeSet::new())
        }
    }

    /// A peer with graceful restart came up (all of them here): awaited while deferring.
    fn peer_up(&mut self, who: usize) {
        if let Some(d) = &mut self.deferral {
            d.awaited.insert(who);
        }
    }

    fn end_of_rib(&mut self, who: usize) {
        if let Some(d) = &mut self.deferral {
            d.awaited.remove(&who);
        }
    }

    /// RFC 4724 section 4.2: a restart time ran out; section 4.1: the deferral ended.
    fn expire(&mut self, now: Instant) {
        if self
            .deferral
            .as_ref()
            .is_some_and(|d| d.awaited.is_empty() || now >= d.deadline)
        {
            self.deferral = None;
        }
        for n in &mut self.nodes {
            if n.deadline.is_some_and(|d| d <= now) {
                if n.up {
                    for s in std::mem::take(&mut n.stale) {
                        n.routes.remove(&s);
                    }
                } else {
                    n.routes.clear();
                    n.stale.clear();
                }
                n.deadline = None;
            }
        }
    }
}

/// One random event, applied to the edge and the model.
fn step(edge: &mut Edge, model: &mut Model, rng: &mut Rng) -> String {
    let i = usize::try_from(rng.below(3)).unwrap_or(0);
    let all = Edge::node_routes(i);
    let node = &mut model.nodes[i];
    let pick = |rng: &mut Rng| -> Vec<IpNet> {
        all.iter().copied().filter(|_| rng.below(3) == 0).collect()
    };
    match rng.below(10) {
        0 | 1 if !node.up => {
            edge.node_up(i);
            node.up = true;
            model.peer_up(i);
            format!("node {i} up")
        }
        0 | 1 => {
            let graceful = rng.below(2) == 0;
            edge.node_down(i, graceful);
            node.up = false;
            if graceful {
                node.stale = node.routes.clone();
                let d = edge.clock + RESTART_TIME;
                node.deadline = Some(node.deadline.map_or(d, |old| old.min(d)));
            } else {
                *node = Node::default();
            }
            format!("node {i} down, graceful {graceful}")
        }
        2..=4 if node.up => {
            let (announce, withdraw) = (pick(rng), pick(rng));
            let withdraw: Vec<IpNet> = withdraw
                .into_iter()
                .filter(|p| !announce.contains(p))
                .collect();
            let eor = rng.below(3) == 0;
            edge.node_update(i, &announce, &withdraw, eor);
            for p in &withdraw {
                node.routes.remove(p);
                node.stale.remove(p);
            }
            for p in &announce {
                node.routes.insert(*p);
                node.stale.remove(p);
            }
            if eor && node.deadline.is_some() {
                for s in std::mem::take(&mut node.stale) {
                    node.routes.remove(&s);
                }
                node.deadline = None;
            }
            if eor {
                model.end_of_rib(i);
            }
            format!(
                "node {i}: +{} -{} eor {eor}",
                announce.len(),
                withdraw.len()
            )
        }
        5 => {
            model.wide = !model.wide;
            edge.reload(if model.wide { WIDE } else { NARROW });
            format!("reload, wide {}", model.wide)
        }
        7 => {
            // The cloud's End-of-RIB (it sends no routes of its own here).
            edge.input(RoutingInput::Update {
                key: edge.vbr.key,
                imported: Imported {
                    end_of_rib: Some(Family::Ipv4Unicast),
                    ..Imported::default()
                },
            });
            model.end_of_rib(CLOUD);
            "cloud End-of-RIB".to_owned()
        }
        6 => {
            let secs = rng.below(if model.deferral.is_some() { 6 } else { 90 });
            edge.advance(Duration::from_secs(secs));
            format!("{secs} s pass")
        }
        _ => "nothing".to_owned(),
    }
}

fn check(edge: &Edge, model: &Model, history: &[String]) {
    let last = || history[history.len().saturating_sub(8)..].join("\n  ");
    if model.deferral.is_some() {
        // Deferring: nothing has been sent to anyone.
        let sent: usize =
            edge.nodes.iter().map(|n| n.holds.len()).sum::<usize>() + edge.vbr.holds.len();
        assert_eq!(sent, 0, "sent while deferring; last:\n  {}", last());
        return;
    }
    for (j, n) in model.nodes.iter().enumerate() {
        if n.up {
            let want = model.to_node(j);
            let have = edge.nodes[j].prefixes();
            assert_eq!(
                have,
                want,
                "node {j} after {} events; last:\n  {}",
                history.len(),
                last()
            );
        }
    }
    let want = model.to_cloud();
    let have = edge.vbr.prefixes();
    let ctx = || format!("cloud after {} events; last:\n  {}", history.len(), last());
    assert!(
        have.is_subset(&want),
        "{}: extra {:?}",
        ctx(),
        &have - &want
    );
    assert_eq!(have.len(), want.len().min(LIMIT), "{}", ctx());
    if want.contains(&Model::aggregate()) {
        assert!(
            have.contains(&Model::aggregate()),
            "{}: no aggregate",
            ctx()
        );
    }
}

fn run(seed: u64, restarting: bool) {
    let mut edge = if restarting {
        let mut expected: BTreeSet<IpAddr> =
            (0..3).map(|i| IpAddr::V4(Edge::node_addr(i))).collect();
        expected.insert("203.0.113.2".parse().unwrap());
        Edge::restarting(Some(crate::routing::RestartPlan {
            expected,
            deferral: DEFERRAL,
            until_timer: false,
        }))
    } else {
        Edge::new()
    };
    let mut model = Model {
        nodes: vec![Node::default(); 3],
        wide: false,
        deferral: restarting.then(|| Deferral {
            awaited: [0, 1, 2, CLOUD].into(),
            deadline: edge.clock + DEFERRAL,
        }),
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let mut history = Vec::new();
    for _ in 0..250 {
        history.push(step(&mut edge, &mut model, &mut rng));
        edge.tick();
        model.expire(edge.clock);
        check(&edge, &model, &history);
    }
}

#[test]
fn every_peer_holds_what_the_model_says_after_every_event() {
    for seed in 1..=12u64 {
        run(seed, false);
    }
}

#[test]
fn after_a_restart_nothing_is_sent_until_the_deferral_ends_then_the_model_holds() {
    for seed in 1..=12u64 {
        run(seed, true);
    }
}
