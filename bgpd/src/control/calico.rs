//! `bgpctl show nodes` and `bgpctl show calico conflicts`: the reflector's view of a
//! Calico cluster, by node and by block (see docs/calico.md).

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::format::{duration, table, Align};
use super::protocol::SessionState;

/// One Calico node session in `bgpctl show nodes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRow {
    /// The node's address.
    pub address: IpAddr,
    /// The range neighbor it belongs to.
    pub neighbor: String,
    /// Session state.
    pub state: SessionState,
    /// Seconds Established; `None` while not.
    pub uptime_seconds: Option<u64>,
    /// `none`; `stale` while its routes are kept through a graceful restart (some paths
    /// stale, or the session down with routes kept).
    pub graceful_restart: String,
    /// Its blocks (exactly the pool's block size).
    pub blocks: Vec<IpNet>,
    /// Its borrowed addresses (more specific than a block, inside a pool).
    pub borrowed: Vec<IpNet>,
    /// What the pool guard refuses from it now.
    pub refused: Vec<Refused>,
}

/// A route the pool guard refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    /// The prefix.
    pub prefix: IpNet,
    /// Why: `outside the Calico pools` or `shorter than a Calico block`.
    pub reason: String,
}

/// A block announced by more than one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalicoConflict {
    /// The block.
    pub block: IpNet,
    /// The nodes announcing it, by address.
    pub nodes: Vec<ConflictNode>,
}

/// One node of a conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictNode {
    /// The node's address.
    pub address: IpAddr,
    /// Its path is stale (kept while it restarts).
    pub stale: bool,
}

fn list(v: &[IpNet]) -> String {
    if v.is_empty() {
        return "-".to_owned();
    }
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `bgpctl show nodes`.
pub fn nodes(rows: &[NodeRow]) -> String {
    if rows.is_empty() {
        return "no Calico nodes (a range neighbor needs `calico = { pools = [...] }`)\n".into();
    }
    let headers = [
        ("Node", Align::Left),
        ("State", Align::Left),
        ("Up/Down", Align::Right),
        ("GR", Align::Left),
        ("Blocks", Align::Left),
        ("Borrowed", Align::Left),
        ("Refused", Align::Left),
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|n| {
            let refused: Vec<IpNet> = n.refused.iter().map(|r| r.prefix).collect();
            vec![
                n.address.to_string(),
                format!("{:?}", n.state).to_lowercase(),
                duration(n.uptime_seconds),
                n.graceful_restart.clone(),
                list(&n.blocks),
                list(&n.borrowed),
                list(&refused),
            ]
        })
        .collect();
    table(&headers, &cells)
}

/// `bgpctl show calico conflicts`.
pub fn conflicts(rows: &[CalicoConflict]) -> String {
    if rows.is_empty() {
        return "no block is announced by more than one node\n".into();
    }
    let headers = [("Block", Align::Left), ("Nodes", Align::Left)];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|c| {
            let nodes: Vec<String> = c
                .nodes
                .iter()
                .map(|n| format!("{}{}", n.address, if n.stale { " (stale)" } else { "" }))
                .collect();
            vec![c.block.to_string(), nodes.join(", ")]
        })
        .collect();
    table(&headers, &cells)
}
