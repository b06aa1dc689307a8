//! Calico block conflicts in the routing core: the same block from two nodes is flagged,
//! stays flagged while a restarting node's stale path lasts, and ends when one node's path
//! goes, however it goes.

use std::time::Duration;

use ipnet::IpNet;

use super::Edge;

fn conflicts(edge: &Edge) -> Vec<(IpNet, Vec<(std::net::IpAddr, bool)>)> {
    edge.routing
        .calico_conflicts()
        .into_iter()
        .map(|(b, o)| (b, o.into_iter().map(|o| (o.address, o.stale)).collect()))
        .collect()
}

#[test]
fn the_same_block_from_two_nodes_is_a_conflict_until_one_lets_go() {
    let mut edge = Edge::new();
    edge.vbr_up();
    edge.node_up(0);
    edge.node_up(1);
    let block: IpNet = "198.18.1.0/26".parse().unwrap();
    let borrowed: IpNet = "198.18.1.9/32".parse().unwrap();
    edge.node_update(0, &[block, "198.18.1.1/32".parse().unwrap()], &[], true);
    // A borrowed /32 inside another node's block is normal.
    edge.node_update(1, &["198.18.2.0/26".parse().unwrap(), borrowed], &[], true);
    edge.tick();
    assert!(conflicts(&edge).is_empty());

    // Node 1 announces node 0's block too (a re-created node's IPAM affinity).
    edge.node_update(1, &[block], &[], false);
    edge.tick();
    let (n0, n1) = ("192.0.2.11".parse().unwrap(), "192.0.2.12".parse().unwrap());
    assert_eq!(conflicts(&edge), [(block, vec![(n0, false), (n1, false)])]);
    let stats = match edge.routing.query(super::super::RoutingQuery::Stats) {
        super::super::RoutingReply::Stats(s) => s,
        _ => panic!("no stats"),
    };
    assert_eq!(stats.calico_conflicts, 1);

    // Node 0 restarts: its path is stale, the conflict stays, now naming it stale.
    edge.node_down(0, true);
    edge.tick();
    assert_eq!(conflicts(&edge), [(block, vec![(n0, true), (n1, false)])]);

    // Its restart time runs out: its path goes, and so does the conflict.
    edge.advance(Duration::from_secs(121));
    assert!(conflicts(&edge).is_empty());

    // Again with a withdraw: node 0 back, announcing it; node 1 withdraws it.
    edge.node_up(0);
    edge.node_update(0, &[block], &[], true);
    edge.tick();
    assert_eq!(conflicts(&edge).len(), 1);
    edge.node_update(1, &[], &[block], false);
    edge.tick();
    assert!(conflicts(&edge).is_empty());

    // The nodes' view: blocks and borrowed addresses, by session.
    let nodes = edge.routing.calico_nodes();
    let n1_routes = &nodes
        .iter()
        .find(|(k, _)| *k == edge.nodes[1].key)
        .unwrap()
        .1;
    assert_eq!(
        n1_routes.blocks,
        ["198.18.2.0/26".parse::<IpNet>().unwrap()]
    );
    assert_eq!(n1_routes.borrowed, [borrowed]);
}

#[test]
fn a_reload_that_changes_the_pools_reclassifies_the_blocks() {
    let mut edge = Edge::new();
    edge.node_up(0);
    edge.node_up(1);
    let block: IpNet = "198.18.1.0/26".parse().unwrap();
    edge.node_update(0, &[block], &[], true);
    edge.node_update(1, &[block], &[], true);
    edge.tick();
    assert_eq!(conflicts(&edge).len(), 1);
    // `calico` removed from the range: no Calico nodes, no conflict.
    for i in 0..2 {
        let key = edge.nodes[i].key;
        edge.input(super::super::RoutingInput::CalicoPools { key, pools: None });
    }
    edge.tick();
    assert!(conflicts(&edge).is_empty());
    assert!(edge.routing.calico_nodes().is_empty());
    // Added again: the conflict is found without any new UPDATE.
    let pools = std::sync::Arc::new(config::Calico {
        pools: vec!["198.18.0.0/16".parse().unwrap()],
        block_size: 26,
        block_size_v6: 122,
    });
    for i in 0..2 {
        let key = edge.nodes[i].key;
        edge.input(super::super::RoutingInput::CalicoPools {
            key,
            pools: Some(pools.clone()),
        });
    }
    assert_eq!(conflicts(&edge).len(), 1);
}
