//! The prefixes whose selection changed since the last export.
//!
//! A session going down reports every prefix of its table at once, so this is kept
//! compact: plain lists (an IPv4 prefix packed into 8 bytes), sorted and deduplicated
//! only when taken. A `BTreeSet<IpNet>` filled in prefix order cost about 38 bytes per
//! prefix (half-full nodes), a 200,000-prefix flap 7.7 MB at once.

use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use rib::{Change, ChangeSink};

/// Changed prefixes, in arrival order, repeats allowed.
#[derive(Debug, Default)]
pub struct Dirty {
    /// IPv4 prefixes as `address << 8 | length`: sorts like [`Ipv4Net`].
    v4: Vec<u64>,
    v6: Vec<Ipv6Net>,
}

impl Dirty {
    /// Marks a prefix changed.
    pub fn insert(&mut self, prefix: IpNet) {
        match prefix {
            IpNet::V4(p) => self.v4.push(pack(p)),
            IpNet::V6(p) => self.v6.push(p),
        }
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Entries held, repeats included.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Every changed prefix, unordered, possibly repeated.
    pub fn iter(&self) -> impl Iterator<Item = IpNet> + Clone + '_ {
        let v4 = self.v4.iter().map(|k| IpNet::V4(unpack(*k)));
        v4.chain(self.v6.iter().map(|p| IpNet::V6(*p)))
    }

    /// Takes the changes, each prefix once and in prefix order (IPv4 first, as
    /// `IpNet` orders), leaving this empty with no memory held.
    pub fn take(&mut self) -> Dirty {
        let mut taken = std::mem::take(self);
        taken.v4.sort_unstable();
        taken.v4.dedup();
        taken.v6.sort_unstable();
        taken.v6.dedup();
        taken
    }
}

impl Extend<IpNet> for Dirty {
    fn extend<I: IntoIterator<Item = IpNet>>(&mut self, prefixes: I) {
        for p in prefixes {
            self.insert(p);
        }
    }
}

impl ChangeSink for Dirty {
    fn change(&mut self, change: Change) {
        self.insert(change.prefix);
    }
}

fn pack(p: Ipv4Net) -> u64 {
    u64::from(u32::from(p.addr())) << 8 | u64::from(p.prefix_len())
}

fn unpack(k: u64) -> Ipv4Net {
    let addr = Ipv4Addr::from(u32::try_from(k >> 8).unwrap_or(0));
    // Lengths come from valid prefixes; the fallback is never taken.
    Ipv4Net::new(addr, (k & 0xff) as u8).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn take_orders_and_deduplicates_like_a_set() {
        let input = [
            "10.0.0.0/8",
            "2001:db8::/32",
            "10.0.0.0/16",
            "10.0.0.0/8",
            "9.255.0.0/16",
            "2001:db8::/48",
            "2001:db8::/32",
            "255.255.255.255/32",
            "0.0.0.0/0",
        ];
        let prefixes: Vec<IpNet> = input.iter().map(|s| s.parse().unwrap()).collect();
        let mut dirty = Dirty::default();
        dirty.extend(prefixes.iter().copied());
        assert_eq!(dirty.len(), input.len());
        let want: Vec<IpNet> = prefixes
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let taken = dirty.take();
        assert!(dirty.is_empty());
        assert_eq!(taken.iter().collect::<Vec<_>>(), want);
    }
}
