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
//! Not modelled: the restarting speaker's deferral and LLGR (their own tests are in
//! `restart.rs` and `tests/mod.rs`), lagging members (queues here never fill).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use super::{Edge, Rng, NARROW, WIDE};

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

#[derive(Debug)]
struct Model {
    nodes: Vec<Node>,
    wide: bool,
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

    /// RFC 4724 section 4.2: a restart time ran out.
    fn expire(&mut self, now: Instant) {
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
        6 => {
            let secs = rng.below(90);
            edge.advance(Duration::from_secs(secs));
            format!("{secs} s pass")
        }
        _ => "nothing".to_owned(),
    }
}

fn check(edge: &Edge, model: &Model, history: &[String]) {
    let last = || history[history.len().saturating_sub(8)..].join("\n  ");
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

#[test]
fn every_peer_holds_what_the_model_says_after_every_event() {
    for seed in 1..=12u64 {
        let mut edge = Edge::new();
        let mut model = Model {
            nodes: vec![Node::default(); 3],
            wide: false,
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
}
