//! The MRT dump's walk over the tables (`routing/mrt.rs`): which paths, which peer indexes.

use bgp_wire::attr::{AsPath, AttrValue, NextHop, Origin, PathAttributes};
use bgp_wire::{Family, Nlri};
use ipnet::IpNet;

use super::Edge;
use crate::exchange::{Announce, Imported};

/// A node announces `prefix` with these ADD-PATH path ids.
fn announce(edge: &mut Edge, i: usize, prefix: IpNet, path_ids: &[u32]) {
    let attrs = PathAttributes::from_values([
        AttrValue::Origin(Origin::Igp),
        AttrValue::AsPath(AsPath::default()),
        AttrValue::LocalPref(100),
    ]);
    let imported = Imported {
        announce: path_ids
            .iter()
            .map(|id| Announce {
                attrs: attrs.clone(),
                next_hop: NextHop::V4(Edge::node_addr(i)),
                nlri: vec![Nlri::with_path_id(prefix, *id)],
            })
            .collect(),
        withdraw: Vec::new(),
        end_of_rib: Some(Family::Ipv4Unicast),
        received: path_ids.len(),
        received_ipv6: 0,
        refused: Vec::new(),
        pool_refused: Vec::new(),
    };
    edge.input(super::super::RoutingInput::Update {
        key: edge.nodes[i].key,
        imported,
    });
}

/// Per RIB record: the prefix length and the entries' peer indexes.
type Records = Vec<(u8, Vec<u16>)>;

/// A dump read back: the peers' addresses, and the RIB records.
fn parse(bytes: &[u8]) -> (Vec<[u8; 4]>, Records) {
    let (mut peers, mut ribs) = (Vec::new(), Vec::new());
    let mut rest = bytes;
    let u16_at = |b: &[u8], i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    while !rest.is_empty() {
        assert_eq!(u16_at(rest, 4), 13, "TABLE_DUMP_V2");
        let subtype = u16_at(rest, 6);
        let len = u32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]) as usize;
        let body = &rest[12..12 + len];
        rest = &rest[12 + len..];
        if subtype == 1 {
            assert_eq!(&body[..4], &[192, 0, 2, 1], "collector: our router id");
            assert_eq!(u16_at(body, 4), 0, "no view name");
            let mut at = 8;
            for _ in 0..u16_at(body, 6) {
                assert_eq!(body[at], 2, "IPv4, 4-byte AS");
                peers.push([body[at + 5], body[at + 6], body[at + 7], body[at + 8]]);
                at += 13;
            }
            continue;
        }
        assert_eq!(subtype, 2, "RIB_IPV4_UNICAST");
        let plen = body[4];
        let mut at = 5 + usize::from(plen).div_ceil(8);
        let mut entries = Vec::new();
        for _ in 0..u16_at(body, at) {
            entries.push(u16_at(body, at + 2));
            at += 8 + usize::from(u16_at(body, at + 8));
        }
        assert_eq!(at + 2, body.len());
        ribs.push((plen, entries));
    }
    (peers, ribs)
}

fn dump(edge: &Edge, peer: Option<crate::exchange::PeerKey>) -> super::super::MrtDump {
    edge.routing.mrt_dump(peer, 1_700_000_000).unwrap()
}

#[test]
fn every_path_is_an_entry_and_add_paths_share_their_peer_index() {
    let mut edge = Edge::new();
    edge.node_up(0);
    edge.node_up(1);
    let p: IpNet = "198.18.1.0/26".parse().unwrap();
    announce(&mut edge, 0, p, &[1, 2]);
    announce(&mut edge, 1, p, &[1]);
    edge.tick();

    // The Loc-RIB: the prefix's three paths and the aggregate it makes us originate.
    let all = dump(&edge, None);
    assert_eq!((all.prefixes, all.paths), (2, 4));
    let (peers, ribs) = parse(&all.bytes);
    assert_eq!(peers.len(), 3, "{peers:?}");
    let (_, entries) = ribs.iter().find(|(len, _)| *len == 26).unwrap();
    let index = |addr: [u8; 4]| -> u16 {
        u16::try_from(peers.iter().position(|a| *a == addr).unwrap()).unwrap()
    };
    let (node0, node1) = (index([192, 0, 2, 11]), index([192, 0, 2, 12]));
    let mut got = entries.clone();
    got.sort_unstable();
    let mut want = vec![node0, node0, node1];
    want.sort_unstable();
    assert_eq!(got, want);
    let (_, aggregate) = ribs.iter().find(|(len, _)| *len == 16).unwrap();
    assert_eq!(aggregate, &vec![index([192, 0, 2, 1])]);

    // One neighbor: its paths only, its peer alone in the table.
    let one = dump(&edge, Some(edge.nodes[1].key));
    assert_eq!((one.prefixes, one.paths), (1, 1));
    let (peers, ribs) = parse(&one.bytes);
    assert_eq!(peers, vec![[192, 0, 2, 12]]);
    assert_eq!(ribs, vec![(26, vec![0])]);

    // A neighbor that never came up: an empty table, no RIB records.
    let none = dump(&edge, Some(edge.nodes[2].key));
    assert_eq!((none.prefixes, none.paths), (0, 0));
    assert_eq!(parse(&none.bytes), (Vec::new(), Vec::new()));
}
