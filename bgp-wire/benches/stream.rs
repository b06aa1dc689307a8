//! A deterministic, full-table-sized UPDATE stream for the codec benchmarks.
//!
//! Shared by `bgp-wire/benches/codec.rs` and `bench/codec-compare` (which includes this file
//! with `#[path]`), so every codec is measured on the same bytes.
//!
//! ```text
//! 1,000,000 distinct IPv4 prefixes (realistic length mix)
//!   -> grouped into UPDATEs of 1-8 prefixes, one fresh attribute set each (~300,000 sets,
//!      ~3.3 prefixes per set, as in a real table)
//!   -> encoded with UpdatePacker (4-octet AS session)
//! ```
//!
//! Attributes are those a full-table eBGP feed carries: ORIGIN, AS_PATH (one 4-octet
//! AS_SEQUENCE of 1-10 ASNs, the peer's AS first), NEXT_HOP (the peer), MULTI_EXIT_DISC on
//! ~30%, COMMUNITIES (1-6) on ~50%, LARGE_COMMUNITY (1-2) on ~5%. A seeded LCG makes it
//! reproducible without `rand`.

// Each includer uses a part: the compare crate converts `plain`, bgp-wire's bench does not.
#![allow(dead_code)]

use std::collections::HashSet;
use std::net::Ipv4Addr;

use bgp_wire::attr::{
    AsPath, AttrValue, Community, LargeCommunity, NextHop, Origin, PathAttributes,
};
use bgp_wire::{Context, Nlri, UpdatePacker};
use bytes::BytesMut;
use ipnet::{IpNet, Ipv4Net};

/// Prefixes in the table.
pub const PREFIXES: usize = 1_000_000;
/// The peer's AS, first on every path.
pub const PEER_AS: u32 = 64_500;
/// The peer's address, the next hop of every route.
pub const NEXT_HOP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// One attribute set and the prefixes announced with it in one UPDATE.
#[derive(Debug, Clone)]
pub struct RouteSet {
    /// ORIGIN, AS_PATH, MED, COMMUNITIES, LARGE_COMMUNITY as present (NEXT_HOP apart).
    pub attributes: PathAttributes,
    /// The same content in plain form, for converting to the other codecs' types.
    pub plain: PlainAttrs,
    /// The prefixes.
    pub nlri: Vec<Nlri>,
}

/// The attribute content of a set in codec-neutral form.
#[derive(Debug, Clone)]
pub struct PlainAttrs {
    /// 0 IGP, 1 EGP, 2 INCOMPLETE.
    pub origin: u8,
    /// One AS_SEQUENCE.
    pub as_path: Vec<u32>,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// COMMUNITIES (empty: absent).
    pub communities: Vec<u32>,
    /// LARGE_COMMUNITY as (global, local1, local2) (empty: absent).
    pub large: Vec<(u32, u32, u32)>,
}

/// The stream: its route sets and their encoding.
#[derive(Debug, Clone)]
pub struct Stream {
    /// What was encoded, one UPDATE per set.
    pub sets: Vec<RouteSet>,
    /// The encoded UPDATE messages, back to back as on a TCP session.
    pub bytes: Vec<u8>,
    /// The number of UPDATE messages.
    pub updates: usize,
    /// The number of prefixes (= [`PREFIXES`]).
    pub prefixes: usize,
}

/// The session the stream is encoded and decoded in: 4-octet AS, eBGP.
pub fn context() -> Context {
    Context {
        ebgp: true,
        ..Context::four_octet()
    }
}

/// Knuth's MMIX LCG; the high bits are used.
struct Lcg(u64);

impl Lcg {
    fn next_u32(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        u32::try_from(self.0 >> 32).unwrap_or(0)
    }

    /// Uniform in `0..n` (n > 0; the bias is irrelevant here).
    fn below(&mut self, n: u32) -> u32 {
        self.next_u32() % n
    }

    /// True with probability `pct` percent.
    fn percent(&mut self, pct: u32) -> bool {
        self.below(100) < pct
    }

    /// An index drawn from `weights`.
    fn weighted(&mut self, weights: &[(u8, u32)]) -> u8 {
        let total: u32 = weights.iter().map(|w| w.1).sum();
        let mut x = self.below(total);
        for &(v, w) in weights {
            if x < w {
                return v;
            }
            x -= w;
        }
        weights[weights.len() - 1].0
    }
}

/// Prefix lengths, per 100,000 (a full table of the mid-2020s): /24 55%, /22 9%, /23 9%,
/// /21 5%, /20 5%, /19 4%, /16-/18 6%, /8-/15 2%, /25-/32 5%.
const LENGTHS: &[(u8, u32)] = &[
    (8, 10),
    (9, 15),
    (10, 40),
    (11, 100),
    (12, 250),
    (13, 400),
    (14, 500),
    (15, 685),
    (16, 3_000),
    (17, 1_500),
    (18, 1_500),
    (19, 4_000),
    (20, 5_000),
    (21, 5_000),
    (22, 9_000),
    (23, 9_000),
    (24, 55_000),
    (25, 1_000),
    (26, 1_000),
    (27, 800),
    (28, 700),
    (29, 600),
    (30, 400),
    (31, 200),
    (32, 300),
];

/// Prefixes per UPDATE (and per attribute set): mean ~3.3.
const PER_UPDATE: &[(u8, u32)] = &[
    (1, 25),
    (2, 20),
    (3, 15),
    (4, 12),
    (5, 10),
    (6, 7),
    (7, 6),
    (8, 5),
];

/// AS_PATH lengths: mean ~4.4.
const PATH_LEN: &[(u8, u32)] = &[
    (1, 3),
    (2, 12),
    (3, 22),
    (4, 24),
    (5, 17),
    (6, 10),
    (7, 6),
    (8, 3),
    (9, 2),
    (10, 1),
];

fn prefixes(rng: &mut Lcg) -> Vec<Ipv4Net> {
    let mut seen = HashSet::with_capacity(PREFIXES);
    let mut out = Vec::with_capacity(PREFIXES);
    while out.len() < PREFIXES {
        let len = rng.weighted(LENGTHS);
        // Unicast space, 1.0.0.0 to 223.255.255.255.
        let addr = (rng.next_u32() % (223 << 24)) + (1 << 24);
        let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
        let Ok(net) = Ipv4Net::new(Ipv4Addr::from(addr & mask), len) else {
            continue;
        };
        if seen.insert(net) {
            out.push(net);
        }
    }
    out
}

fn asn(rng: &mut Lcg) -> u32 {
    // About a fifth of the ASNs in today's paths are 4-octet.
    if rng.percent(20) {
        196_608 + rng.below(210_000)
    } else {
        1 + rng.below(64_000)
    }
}

fn plain_attrs(rng: &mut Lcg) -> PlainAttrs {
    let origin = match rng.below(100) {
        0..=84 => 0,
        85..=86 => 1,
        _ => 2,
    };
    let hops = rng.weighted(PATH_LEN);
    let mut as_path = vec![PEER_AS];
    as_path.extend((1..hops).map(|_| asn(rng)));
    let med = rng.percent(30).then(|| rng.below(1000));
    let communities = if rng.percent(50) {
        let n = 1 + rng.below(6);
        (0..n)
            .map(|_| (PEER_AS << 16) | rng.below(65_536))
            .collect()
    } else {
        Vec::new()
    };
    let large = if rng.percent(5) {
        let n = 1 + rng.below(2);
        (0..n)
            .map(|_| (PEER_AS, rng.below(1000), rng.below(100_000)))
            .collect()
    } else {
        Vec::new()
    };
    PlainAttrs {
        origin,
        as_path,
        med,
        communities,
        large,
    }
}

impl PlainAttrs {
    /// As bgp-wire attributes (NEXT_HOP apart: the packer adds it).
    pub fn to_bgp_wire(&self) -> PathAttributes {
        let origin = match self.origin {
            0 => Origin::Igp,
            1 => Origin::Egp,
            _ => Origin::Incomplete,
        };
        let mut values = vec![
            AttrValue::Origin(origin),
            AttrValue::AsPath(AsPath::sequence(&self.as_path)),
        ];
        if let Some(med) = self.med {
            values.push(AttrValue::Med(med));
        }
        if !self.communities.is_empty() {
            values.push(AttrValue::Communities(
                self.communities.iter().map(|&c| Community(c)).collect(),
            ));
        }
        if !self.large.is_empty() {
            values.push(AttrValue::LargeCommunities(
                self.large
                    .iter()
                    .map(|&(global, local1, local2)| LargeCommunity {
                        global,
                        local1,
                        local2,
                    })
                    .collect(),
            ));
        }
        PathAttributes::from_values(values)
    }
}

/// Builds the stream (deterministic: the same bytes on every run and machine).
pub fn build() -> Stream {
    let mut rng = Lcg(0x5eed_b9b0_0000_0001);
    let all = prefixes(&mut rng);
    let packer = UpdatePacker::new(context());
    let mut sets = Vec::with_capacity(PREFIXES / 3);
    let mut out = BytesMut::with_capacity(PREFIXES * 12);
    let mut updates = 0;
    let mut rest = &all[..];
    while !rest.is_empty() {
        let n = usize::from(rng.weighted(PER_UPDATE)).min(rest.len());
        let (now, later) = rest.split_at(n);
        rest = later;
        let plain = plain_attrs(&mut rng);
        let attributes = plain.to_bgp_wire();
        let nlri: Vec<Nlri> = now.iter().map(|&p| Nlri::new(IpNet::V4(p))).collect();
        let written = packer.announce(&attributes, NextHop::V4(NEXT_HOP), &nlri, &mut out);
        assert_eq!(written.ok(), Some(1), "one UPDATE per set");
        updates += 1;
        sets.push(RouteSet {
            attributes,
            plain,
            nlri,
        });
    }
    Stream {
        sets,
        bytes: out.to_vec(),
        updates,
        prefixes: all.len(),
    }
}
