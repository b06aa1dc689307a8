//! What the reflector sees that no Calico node does: every node's blocks at once. A block
//! (a prefix of exactly the pool's block size) with paths from two nodes is an IPAM
//! conflict (an affinity left behind by a re-created node, a half-finished migration):
//! logged (WARN, naming the nodes), counted (`bgp_calico_block_conflicts`) and listed
//! (`bgpctl show calico conflicts`). Both paths are still reflected (ADD-PATH): which one
//! is right is the operator's call, and withdrawing either could cut live pods.
//!
//! Checked for the blocks a node's UPDATE announces; conflicts already known are checked
//! again after every batch, which sees them end however the paths went (withdraw, session
//! down, stale routes swept).

use std::collections::BTreeMap;
use std::net::IpAddr;

use config::PoolRoute;
use ipnet::IpNet;
use tracing::{info, warn};

use super::Routing;
use crate::exchange::{Imported, PeerKey};

/// One node's session that has a path for a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// The session.
    pub key: PeerKey,
    /// The node's address.
    pub address: IpAddr,
    /// Its path is stale (kept while the node restarts).
    pub stale: bool,
}

/// One node's routes in the pools.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeRoutes {
    /// Blocks (the pool's block size).
    pub blocks: Vec<IpNet>,
    /// More specific than a block: borrowed addresses.
    pub borrowed: Vec<IpNet>,
    /// Paths kept stale (graceful restart).
    pub stale: usize,
}

/// Blocks announced by more than one node.
#[derive(Debug, Default)]
pub(super) struct Conflicts {
    pub(super) blocks: BTreeMap<IpNet, Vec<Owner>>,
}

impl Routing {
    /// The blocks a Calico node's UPDATE announces (checked after it is stored).
    pub(super) fn calico_blocks(&self, key: PeerKey, imported: &Imported) -> Vec<IpNet> {
        let Some(pools) = self.peers.get(&key).and_then(|p| p.calico.as_ref()) else {
            return Vec::new();
        };
        imported
            .announce
            .iter()
            .flat_map(|a| a.nlri.iter())
            .map(|n| n.prefix)
            .filter(|p| pools.classify(p) == PoolRoute::Block)
            .collect()
    }

    /// A reload changed a node's pools: its blocks are classified and checked again.
    pub(super) fn calico_pools(
        &mut self,
        key: PeerKey,
        pools: Option<std::sync::Arc<config::Calico>>,
    ) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        peer.calico = pools;
        let blocks: Vec<IpNet> = self
            .calico_nodes()
            .into_iter()
            .filter(|(k, _)| *k == key)
            .flat_map(|(_, n)| n.blocks)
            .collect();
        self.calico_check(&blocks);
    }

    /// Checks `blocks`, and every block already in conflict.
    pub(super) fn calico_check(&mut self, blocks: &[IpNet]) {
        if blocks.is_empty() && self.conflicts.blocks.is_empty() {
            return;
        }
        let mut todo: Vec<IpNet> = self.conflicts.blocks.keys().copied().collect();
        todo.extend_from_slice(blocks);
        todo.sort_unstable();
        todo.dedup();
        for block in todo {
            let owners = self.owners(block);
            let known = self.conflicts.blocks.get(&block);
            if owners.len() >= 2 {
                if known.is_none_or(|k| k.iter().map(|o| o.key).ne(owners.iter().map(|o| o.key))) {
                    let nodes: Vec<String> = owners
                        .iter()
                        .map(|o| format!("{}{}", o.address, if o.stale { " (stale)" } else { "" }))
                        .collect();
                    warn!(%block, nodes = %nodes.join(", "), "Calico block announced by more than one node: an IPAM conflict; both paths are reflected");
                }
                self.conflicts.blocks.insert(block, owners);
            } else if self.conflicts.blocks.remove(&block).is_some() {
                info!(%block, "Calico block conflict over: one node announces it");
            }
        }
    }

    /// The Calico nodes with a path for `block`, by session.
    fn owners(&self, block: IpNet) -> Vec<Owner> {
        let Some(dest) = self.rib.get(block) else {
            return Vec::new();
        };
        let mut owners: Vec<Owner> = dest
            .paths
            .iter()
            .filter_map(|path| {
                let key = *self.by_id.get(&path.peer())?;
                let peer = self.peers.get(&key)?;
                peer.calico.as_ref()?;
                Some(Owner {
                    key,
                    address: peer.address,
                    stale: path.is_stale(),
                })
            })
            .collect();
        owners.sort_by_key(|o| o.key);
        owners.dedup_by_key(|o| o.key);
        owners
    }

    /// Blocks in conflict and their nodes.
    pub(super) fn calico_conflicts(&self) -> Vec<(IpNet, Vec<Owner>)> {
        self.conflicts
            .blocks
            .iter()
            .map(|(b, o)| (*b, o.clone()))
            .collect()
    }

    /// Every Calico node session's routes in the pools (one walk of the table).
    pub(super) fn calico_nodes(&self) -> Vec<(PeerKey, NodeRoutes)> {
        let mut nodes: BTreeMap<PeerKey, NodeRoutes> = self
            .peers
            .iter()
            .filter(|(_, p)| p.calico.is_some())
            .map(|(k, _)| (*k, NodeRoutes::default()))
            .collect();
        for family in [bgp_wire::Family::Ipv4Unicast, bgp_wire::Family::Ipv6Unicast] {
            for dest in self.rib.iter(family) {
                for path in dest.paths {
                    let Some(key) = self.by_id.get(&path.peer()) else {
                        continue;
                    };
                    let (Some(n), Some(pools)) = (
                        nodes.get_mut(key),
                        self.peers.get(key).and_then(|p| p.calico.as_ref()),
                    ) else {
                        continue;
                    };
                    match pools.classify(&dest.prefix) {
                        PoolRoute::Block => n.blocks.push(dest.prefix),
                        PoolRoute::Borrowed => n.borrowed.push(dest.prefix),
                        PoolRoute::TooShort | PoolRoute::Partial | PoolRoute::Outside => {}
                    }
                    n.stale += usize::from(path.is_stale());
                }
            }
        }
        for n in nodes.values_mut() {
            n.blocks.dedup();
            n.borrowed.dedup();
        }
        nodes.into_iter().collect()
    }
}
