//! The packer fills messages up to the session's limit, never beyond, and every message it
//! writes decodes to exactly the routes it was given.

// Tests panic on failure by design; the workspace lints keep panics out of src/ only.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_wire::attr::{AsPath, AttrValue, Community, NextHop, Origin, PathAttributes};
use bgp_wire::{decode, Context, Family, FamilySet, Framer, Message, Nlri, UpdatePacker};
use bytes::BytesMut;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

fn attrs() -> PathAttributes {
    PathAttributes::from_values([
        AttrValue::Origin(Origin::Igp),
        AttrValue::AsPath(AsPath::sequence(&[64512, 4_200_000_001])),
        AttrValue::LocalPref(100),
        AttrValue::Communities((0..100).map(|i| Community::new(64512, i)).collect()),
    ])
}

fn v4(n: u32) -> Vec<Nlri> {
    (0..n)
        .map(|i| {
            let len = [24u8, 22, 32, 16][i as usize % 4];
            Nlri::new(IpNet::V4(
                Ipv4Net::new(Ipv4Addr::from(0xC612_0000 + (i << 8)), len).unwrap(),
            ))
        })
        .collect()
}

fn v6(n: u32) -> Vec<Nlri> {
    (0..n)
        .map(|i| {
            let addr = Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(i) << 64);
            Nlri::with_path_id(IpNet::V6(Ipv6Net::new(addr, 64).unwrap()), i)
        })
        .collect()
}

/// Decodes a stream of messages, checking each against the limit, and collects
/// (announced, withdrawn) with next hops.
fn read_back(mut buf: BytesMut, ctx: &Context) -> (Vec<(Nlri, NextHop)>, Vec<Nlri>, usize) {
    let framer = {
        let mut f = Framer::new();
        f.set_context(ctx);
        f
    };
    let (mut ann, mut wd, mut count) = (Vec::new(), Vec::new(), 0);
    while let Some(m) = framer.next_message(&mut buf).unwrap() {
        assert!(m.len() <= ctx.max_message_len());
        count += 1;
        let Message::Update(u) = decode(&m, ctx).unwrap() else {
            panic!("not an update")
        };
        assert!(u.errors.is_empty(), "{:?}", u.errors);
        ann.extend(u.announced().map(|a| (*a.nlri, a.next_hop)));
        wd.extend(u.withdrawn_routes().copied());
    }
    assert!(buf.is_empty());
    (ann, wd, count)
}

fn message_sizes(buf: &[u8]) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut at = 0;
    while at + 19 <= buf.len() {
        let len = usize::from(u16::from_be_bytes([buf[at + 16], buf[at + 17]]));
        sizes.push(len);
        at += len;
    }
    sizes
}

#[test]
fn ipv4_announcements_fill_messages() {
    let ctx = Context::four_octet();
    let routes = v4(10_000);
    let nh = NextHop::V4(Ipv4Addr::new(192, 0, 2, 1));
    let mut out = BytesMut::new();
    let n = UpdatePacker::new(ctx)
        .announce(&attrs(), nh, &routes, &mut out)
        .unwrap();
    let sizes = message_sizes(&out);
    let (ann, wd, count) = read_back(out, &ctx);
    assert_eq!(count, n);
    assert!(wd.is_empty());
    assert_eq!(ann, routes.iter().map(|r| (*r, nh)).collect::<Vec<_>>());
    // Packed: every message but the last is full to within one prefix (at most 5 bytes).
    assert!(sizes[..n - 1].iter().all(|&s| s > 4096 - 5), "{sizes:?}");
}

#[test]
fn ipv6_with_add_path_and_extended_messages() {
    let ctx = Context {
        add_path: FamilySet::only(Family::Ipv6Unicast),
        extended_message: true,
        ..Context::four_octet()
    };
    let routes = v6(20_000);
    let nh = NextHop::V6 {
        global: "2001:db8::1".parse().unwrap(),
        link_local: Some("fe80::1".parse().unwrap()),
    };
    let packer = UpdatePacker::new(ctx);
    let mut out = BytesMut::new();
    let n = packer.announce(&attrs(), nh, &routes, &mut out).unwrap();
    let m = packer
        .withdraw(Family::Ipv6Unicast, &routes, &mut out)
        .unwrap();
    let (ann, wd, count) = read_back(out, &ctx);
    assert_eq!(count, n + m);
    assert!(
        n < 10,
        "{n} messages for 20,000 routes with 64 KiB messages"
    );
    assert_eq!(ann.len(), routes.len());
    assert!(ann.iter().all(|(_, h)| *h == nh));
    assert_eq!(wd, routes);
}

#[test]
fn ipv4_withdrawals_and_ipv6_next_hop_for_ipv4() {
    let ctx = Context::four_octet();
    let routes = v4(3_000);
    let packer = UpdatePacker::new(ctx);
    let mut out = BytesMut::new();
    packer
        .withdraw(Family::Ipv4Unicast, &routes, &mut out)
        .unwrap();
    // RFC 8950: an IPv4 route with an IPv6 next hop goes in MP_REACH_NLRI.
    let nh = NextHop::V6 {
        global: "2001:db8::2".parse().unwrap(),
        link_local: None,
    };
    packer
        .announce(&attrs(), nh, &routes[..10], &mut out)
        .unwrap();
    let (ann, wd, _) = read_back(out, &ctx);
    assert_eq!(wd, routes);
    assert_eq!(ann.len(), 10);
    assert!(ann.iter().all(|(_, h)| *h == nh));
}

#[test]
fn attributes_too_big_for_a_message_are_refused() {
    let ctx = Context::four_octet();
    let huge = PathAttributes::from_values([
        AttrValue::Origin(Origin::Igp),
        AttrValue::AsPath(AsPath::sequence(&[1; 1100])),
    ]);
    let mut out = BytesMut::new();
    let nh = NextHop::V4(Ipv4Addr::new(192, 0, 2, 1));
    assert!(UpdatePacker::new(ctx)
        .announce(&huge, nh, &v4(1), &mut out)
        .is_err());
    assert!(out.is_empty());
}
