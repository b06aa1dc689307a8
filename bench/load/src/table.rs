//! A synthetic IPv4 table: `n` distinct prefixes with a length mix close to today's global
//! table, spread over `k` distinct attribute sets (AS paths of 1 to 10 ASNs), all derived
//! from one seed.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use bgp_wire::attr::{AsPath, AttrValue, Community, NextHop, Origin, PathAttributes};
use bgp_wire::{Context, Family, Nlri, UpdatePacker};
use bytes::BytesMut;
use ipnet::{IpNet, Ipv4Net};

use crate::Rng;

/// Prefix lengths and their weights (per mille), roughly the shape of the IPv4 default-free
/// zone: more than half /24, then /22, /23, /21, /20, ...
const LENGTHS: &[(u8, u64)] = &[
    (24, 590),
    (22, 100),
    (23, 90),
    (21, 55),
    (20, 50),
    (19, 35),
    (18, 20),
    (16, 20),
    (17, 15),
    (15, 6),
    (14, 6),
    (13, 5),
    (12, 3),
    (11, 2),
    (10, 1),
    (9, 1),
    (8, 1),
];

/// Addresses the generated prefixes stay away from: the benchmark's own session and next
/// hop addresses (198.18.0.0/15, so that a recursive next hop never resolves over a
/// generated route), loopback, "this network", and multicast and above.
fn allowed(net: Ipv4Net) -> bool {
    let first = net.addr().octets()[0];
    let bench = Ipv4Net::new(Ipv4Addr::new(198, 18, 0, 0), 15).unwrap_or_default();
    (1..=223).contains(&first)
        && first != 127
        && !bench.contains(&net.network())
        && !net.contains(&bench.network())
}

/// The generated table.
#[derive(Debug, Clone)]
pub struct Table {
    /// Distinct prefixes, in generation order.
    pub prefixes: Vec<Ipv4Net>,
    /// For each prefix, the index of its attribute set.
    pub set_of: Vec<u32>,
    /// The distinct attribute sets (no NEXT_HOP: the session adds its own).
    pub sets: Vec<PathAttributes>,
}

impl Table {
    /// Generates `n` prefixes over `k` attribute sets (at least 1) from `seed`.
    pub fn generate(n: usize, k: usize, seed: u64) -> Result<Self, String> {
        let k = k.clamp(1, n.max(1));
        let mut rng = Rng::new(seed);
        let total: u64 = LENGTHS.iter().map(|(_, w)| w).sum();
        let mut seen: HashSet<(u32, u8)> = HashSet::with_capacity(n);
        let mut prefixes = Vec::with_capacity(n);
        let mut attempts = 0usize;
        while prefixes.len() < n {
            attempts += 1;
            if attempts > n.saturating_mul(20).max(1000) {
                return Err(format!(
                    "could only generate {} distinct prefixes",
                    prefixes.len()
                ));
            }
            let mut pick = rng.below(total);
            let mut len = 24;
            for &(l, w) in LENGTHS {
                if pick < w {
                    len = l;
                    break;
                }
                pick -= w;
            }
            let addr = Ipv4Addr::from(u32::try_from(rng.next_u64() >> 32).unwrap_or(0));
            let Ok(net) = Ipv4Net::new(addr, len) else {
                continue;
            };
            let net = net.trunc();
            if !allowed(net) || !seen.insert((u32::from(net.addr()), len)) {
                continue;
            }
            prefixes.push(net);
        }
        let sets = (0..k).map(|j| attribute_set(j, &mut rng)).collect();
        let k64 = u64::try_from(k).unwrap_or(u64::MAX);
        // Every set gets at least one prefix when n >= k; the rest are spread at random.
        let set_of = (0..n)
            .map(|i| {
                let s = if i < k {
                    u64::try_from(i).unwrap_or(0)
                } else {
                    rng.below(k64)
                };
                u32::try_from(s).unwrap_or(0)
            })
            .collect();
        Ok(Self {
            prefixes,
            set_of,
            sets,
        })
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.prefixes.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }

    /// The indices of `m` prefixes to churn: spread over the whole table, deterministic.
    pub fn churn_indices(&self, m: usize) -> Vec<usize> {
        let n = self.len();
        let m = m.min(n);
        if m == 0 {
            return Vec::new();
        }
        (0..m).map(|i| i * n / m).collect()
    }

    /// Appends UPDATEs announcing the prefixes at `indices` (all when `None`), grouped by
    /// attribute set, each set's prefixes packed into as few messages as fit. Returns the
    /// number of messages.
    pub fn encode_announce(
        &self,
        indices: Option<&[usize]>,
        ctx: Context,
        next_hop: Ipv4Addr,
        out: &mut BytesMut,
    ) -> Result<usize, String> {
        let mut buckets: Vec<Vec<Nlri>> = vec![Vec::new(); self.sets.len()];
        let mut add = |i: usize| {
            if let (Some(p), Some(&s)) = (self.prefixes.get(i), self.set_of.get(i)) {
                if let Some(b) = buckets.get_mut(usize::try_from(s).unwrap_or(usize::MAX)) {
                    b.push(Nlri::new(IpNet::V4(*p)));
                }
            }
        };
        match indices {
            Some(list) => list.iter().for_each(|&i| add(i)),
            None => (0..self.len()).for_each(add),
        }
        let packer = UpdatePacker::new(ctx);
        let mut messages = 0;
        for (set, nlri) in self.sets.iter().zip(&buckets) {
            messages += packer
                .announce(set, NextHop::V4(next_hop), nlri, out)
                .map_err(|e| format!("encoding UPDATE: {e}"))?;
        }
        Ok(messages)
    }

    /// Appends UPDATEs withdrawing the prefixes at `indices`.
    pub fn encode_withdraw(
        &self,
        indices: &[usize],
        ctx: Context,
        out: &mut BytesMut,
    ) -> Result<usize, String> {
        let nlri: Vec<Nlri> = indices
            .iter()
            .filter_map(|&i| self.prefixes.get(i))
            .map(|p| Nlri::new(IpNet::V4(*p)))
            .collect();
        UpdatePacker::new(ctx)
            .withdraw(Family::Ipv4Unicast, &nlri, out)
            .map_err(|e| format!("encoding withdrawal: {e}"))
    }
}

/// Attribute set `j`: IGP or incomplete origin, an AS path of 1 to 10 ASNs, LOCAL_PREF 100,
/// MED `j` (which alone makes the sets distinct), communities on about a third of them.
fn attribute_set(j: usize, rng: &mut Rng) -> PathAttributes {
    let hops = 1 + rng.below(10);
    let asns: Vec<u32> = (0..hops)
        .map(|_| {
            // Public 2- and 4-octet ASNs; never 0, AS_TRANS or the benchmark's 64512.
            // (64512 in a path is a loop for the iBGP device: it would drop the route.)
            let a = 1 + u32::try_from(rng.below(399_999)).unwrap_or(0);
            match a {
                23456 => 23457,
                64512..=65535 => a + 1024,
                a => a,
            }
        })
        .collect();
    let origin = if rng.below(10) == 0 {
        Origin::Incomplete
    } else {
        Origin::Igp
    };
    let mut values = vec![
        AttrValue::Origin(origin),
        AttrValue::AsPath(AsPath::sequence(&asns)),
        AttrValue::Med(u32::try_from(j).unwrap_or(u32::MAX)),
        AttrValue::LocalPref(100),
    ];
    if rng.below(3) == 0 {
        let n = 1 + rng.below(4);
        let first = u16::try_from(asns[0] & 0xffff).unwrap_or(1);
        values.push(AttrValue::Communities(
            (0..n)
                .map(|c| Community::new(first, u16::try_from(100 + c).unwrap_or(100)))
                .collect(),
        ));
    }
    PathAttributes::from_values(values)
}

/// `count` /`len` blocks starting at `base`, consecutive: the pod blocks of Calico nodes.
pub fn blocks(base: Ipv4Addr, len: u8, first: usize, count: usize) -> Vec<Ipv4Net> {
    let size = 1u64 << (32 - u32::from(len.min(32)));
    (first..first + count)
        .filter_map(|i| {
            let a = u64::from(u32::from(base)) + u64::try_from(i).ok()? * size;
            Ipv4Net::new(Ipv4Addr::from(u32::try_from(a).ok()?), len).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use bgp_wire::{decode, Framer, Message};

    #[test]
    fn same_seed_same_table_other_seed_other_table() {
        let a = Table::generate(20_000, 6_000, 7).unwrap();
        let b = Table::generate(20_000, 6_000, 7).unwrap();
        let c = Table::generate(20_000, 6_000, 8).unwrap();
        assert_eq!(a.prefixes, b.prefixes);
        assert_eq!(a.set_of, b.set_of);
        assert_eq!(a.sets, b.sets);
        assert_ne!(a.prefixes, c.prefixes);
        let distinct: HashSet<_> = a.prefixes.iter().collect();
        assert_eq!(distinct.len(), 20_000);
        let sets: HashSet<_> = a.sets.iter().collect();
        assert_eq!(sets.len(), 6_000);
        assert!(a.prefixes.iter().all(|p| allowed(*p)));
        assert!(a
            .sets
            .iter()
            .all(|s| !s.as_path().is_some_and(|p| p.contains(64512))));
        let slash24 = a.prefixes.iter().filter(|p| p.prefix_len() == 24).count();
        assert!((10_000..14_000).contains(&slash24), "{slash24}");
    }

    #[test]
    fn encoded_updates_carry_every_prefix_once() {
        let t = Table::generate(5_000, 1_500, 1).unwrap();
        let ctx = Context::four_octet();
        let mut out = BytesMut::new();
        let messages = t
            .encode_announce(None, ctx, Ipv4Addr::new(198, 18, 0, 2), &mut out)
            .unwrap();
        assert!(messages >= 1_500);
        let framer = Framer::new();
        let mut seen = HashSet::new();
        let mut got = 0;
        while let Some(m) = framer.next_message(&mut out).unwrap() {
            let Message::Update(u) = decode(&m, &ctx).unwrap() else {
                panic!("not an UPDATE");
            };
            got += 1;
            assert_eq!(u.attributes.local_pref(), Some(&100));
            for a in u.announced() {
                assert!(seen.insert(a.nlri.prefix));
            }
        }
        assert_eq!(got, messages);
        assert_eq!(seen.len(), 5_000);
    }

    #[test]
    fn churn_indices_are_distinct_and_bounded() {
        let t = Table::generate(1_000, 300, 3).unwrap();
        let c = t.churn_indices(100);
        assert_eq!(c.len(), 100);
        assert!(c.windows(2).all(|w| w[0] < w[1]) && c[99] < 1_000);
        assert_eq!(t.churn_indices(5_000).len(), 1_000);
        let b = blocks(Ipv4Addr::new(10, 64, 0, 0), 26, 4, 2);
        assert_eq!(b[0].to_string(), "10.64.1.0/26");
        assert_eq!(b[1].to_string(), "10.64.1.64/26");
    }
}
