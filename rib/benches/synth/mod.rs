//! A synthetic Internet-like IPv4 table, deterministic from a seed, shared by the benchmark
//! and `examples/memory.rs` (the example includes it with `#[path]`).
//!
//! - prefix lengths mostly /24, then /22, /23, /20, /21, /19, /16 and a tail of /8../18;
//! - about 300,000 distinct attribute sets per 1,000,000 prefixes (3.3 prefixes per set, as
//!   in real tables): ORIGIN, AS_PATH of 1 to 10 ASNs (mostly 3 to 6), LOCAL_PREF, a MED on
//!   a third of them and 0 to 4 communities on half;
//! - prefixes cluster in address blocks (three in four fall inside a block already used);
//! - the prefixes of one set travel together, as one UPDATE carries them.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use bgp_wire::attr::{AsPath, AttrValue, Community, Origin, PathAttributes};
use bgp_wire::Nlri;
use ipnet::{IpNet, Ipv4Net};

/// splitmix64: small, fast, good enough for test data.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

fn prefix_len(rng: &mut Rng) -> u8 {
    // Percent shares close to a 2024 full table.
    match rng.below(100) {
        0..=57 => 24,
        58..=66 => 22,
        67..=74 => 23,
        75..=79 => 20,
        80..=84 => 21,
        85..=87 => 19,
        88..=89 => 16,
        90..=92 => 18,
        93..=94 => 17,
        _ => 8 + u8::try_from(rng.below(8)).unwrap_or(0),
    }
}

fn path_len(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..=4 => 1,
        5..=19 => 2,
        20..=44 => 3,
        45..=69 => 4,
        70..=84 => 5,
        85..=92 => 6,
        93..=96 => 7,
        97 => 8,
        98 => 9,
        _ => 10,
    }
}

/// One attribute set with the prefixes it carries.
#[derive(Debug)]
pub struct Update {
    pub attrs: PathAttributes,
    pub nlri: Vec<Nlri>,
}

/// `prefixes` distinct IPv4 prefixes over `sets` attribute sets.
pub fn table(seed: u64, prefixes: usize, sets: usize) -> Vec<Update> {
    let mut rng = Rng::new(seed);
    let mut updates: Vec<Update> = (0..sets)
        .map(|_| {
            let len = path_len(&mut rng);
            // A few hundred transit ASes near us, a long tail of origins.
            let mut asns: Vec<u32> = (0..len)
                .map(|i| {
                    let pool = if i + 1 < len { 300 } else { 70_000 };
                    64_512u32.wrapping_sub(u32::try_from(rng.below(pool)).unwrap_or(0)) + 1
                })
                .collect();
            asns[0] = 174 + u32::try_from(rng.below(8)).unwrap_or(0);
            let mut values = vec![
                AttrValue::Origin(if rng.below(10) == 0 {
                    Origin::Incomplete
                } else {
                    Origin::Igp
                }),
                AttrValue::AsPath(AsPath::sequence(&asns)),
                AttrValue::LocalPref(100),
            ];
            if rng.below(3) == 0 {
                values.push(AttrValue::Med(u32::try_from(rng.below(1000)).unwrap_or(0)));
            }
            if rng.below(2) == 0 {
                let n = 1 + rng.below(4);
                values.push(AttrValue::Communities(
                    (0..n)
                        .map(|_| {
                            Community::new(
                                u16::try_from(asns[0]).unwrap_or(0),
                                u16::try_from(rng.below(4000)).unwrap_or(0),
                            )
                        })
                        .collect(),
                ));
            }
            Update {
                attrs: PathAttributes::from_values(values),
                nlri: Vec::new(),
            }
        })
        .collect();
    // Prefixes cluster inside address blocks as real allocations do (an ISP announces its
    // /16 and dozens of /24s inside it): most prefixes fall in a block already seen.
    let mut seen = HashSet::with_capacity(prefixes);
    let mut blocks: Vec<Ipv4Net> = Vec::new();
    while seen.len() < prefixes {
        let len = prefix_len(&mut rng);
        let reuse = !blocks.is_empty() && rng.below(4) != 0;
        let block = match reuse {
            true => blocks[usize::try_from(rng.below(blocks.len() as u64)).unwrap_or(0)],
            false => {
                let blen = len
                    .saturating_sub(u8::try_from(rng.below(9)).unwrap_or(0))
                    .max(8);
                // Unicast space 1.0.0.0 to 223.255.255.255.
                let addr = 0x0100_0000 + u32::try_from(rng.below(0xdf00_0000)).unwrap_or(0);
                let Ok(b) = Ipv4Net::new(Ipv4Addr::from(addr), blen) else {
                    continue;
                };
                blocks.push(b.trunc());
                b.trunc()
            }
        };
        if block.prefix_len() > len {
            continue;
        }
        let host_bits = 32 - u32::from(block.prefix_len());
        let offset = u32::try_from(rng.below(1u64 << host_bits)).unwrap_or(0);
        let addr = u32::from(block.network()) | offset;
        let Ok(net) = Ipv4Net::new(Ipv4Addr::from(addr), len) else {
            continue;
        };
        let net = net.trunc();
        if seen.insert(net) {
            let set = usize::try_from(rng.below(sets as u64)).unwrap_or(0);
            updates[set].nlri.push(Nlri::new(IpNet::V4(net)));
        }
    }
    updates.retain(|u| !u.nlri.is_empty());
    updates
}

#[allow(dead_code)] // used by examples/memory.rs only
/// The same updates as seen from an eBGP peer in `asn`: its AS prepended.
pub fn prepend(updates: &[Update], asn: u32) -> Vec<PathAttributes> {
    updates
        .iter()
        .map(|u| {
            let mut a = u.attrs.clone();
            if let Some(mut p) = a.as_path().cloned() {
                p.prepend(asn, 1);
                a.set(AttrValue::AsPath(p));
            }
            a
        })
        .collect()
}
