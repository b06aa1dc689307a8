//! The prefixes whose selection changed since the last export, with the RIB's dest id
//! where the change came with one (export then finds the prefix without a trie lookup:
//! `Rib::locate_hinted`).
//!
//! A session going down reports every prefix of its table at once, so this is kept
//! compact: plain lists (an IPv4 prefix packed into 8 bytes), sorted and deduplicated
//! only when taken. A `BTreeSet<IpNet>` filled in prefix order cost about 38 bytes per
//! prefix (half-full nodes), a 200,000-prefix flap 7.7 MB at once.

use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use rib::{Change, ChangeSink, DestId};

/// An entry without a dest id.
const NO_ID: u32 = u32::MAX;

/// Changed prefixes, in arrival order, repeats allowed.
#[derive(Debug, Default)]
pub struct Dirty {
    /// IPv4 prefixes as `address << 8 | length` (sorts like [`Ipv4Net`]), reported
    /// without a dest id: a session's whole table when it goes down, 8 bytes each.
    v4: Vec<u64>,
    /// IPv4 prefixes with the dest id their change came with.
    v4_at: Vec<(u64, u32)>,
    /// IPv6 prefixes, with a dest id or [`NO_ID`].
    v6: Vec<(Ipv6Net, u32)>,
}

impl Dirty {
    /// Marks a prefix changed.
    pub fn insert(&mut self, prefix: IpNet) {
        match prefix {
            IpNet::V4(p) => self.v4.push(pack(p)),
            IpNet::V6(p) => self.v6.push((p, NO_ID)),
        }
    }

    fn insert_at(&mut self, prefix: IpNet, id: u32) {
        match prefix {
            IpNet::V4(p) => self.v4_at.push((pack(p), id)),
            IpNet::V6(p) => self.v6.push((p, id)),
        }
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v4_at.is_empty() && self.v6.is_empty()
    }

    /// Entries held, repeats included.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v4_at.len() + self.v6.len()
    }

    /// Every changed prefix, unordered, possibly repeated.
    pub fn iter(&self) -> impl Iterator<Item = IpNet> + Clone + '_ {
        let v4 = self.v4.iter().chain(self.v4_at.iter().map(|(k, _)| k));
        let v4 = v4.map(|k| IpNet::V4(unpack(*k)));
        v4.chain(self.v6.iter().map(|(p, _)| IpNet::V6(*p)))
    }

    /// Takes the changes sorted (IPv4 first, as `IpNet` orders), leaving this empty with
    /// no memory held. Read them with [`Dirty::targets`].
    pub fn take(&mut self) -> Dirty {
        let mut taken = std::mem::take(self);
        taken.v4.sort_unstable();
        taken.v4.dedup();
        taken.v4_at.sort_unstable();
        taken.v4_at.dedup();
        taken.v6.sort_unstable();
        taken.v6.dedup();
        taken
    }

    /// Of taken changes: each prefix once, in order, with its dest id when every change to
    /// it came with the same one (else it must be looked up).
    pub fn targets(&self) -> Targets<'_> {
        Targets {
            v4: &self.v4,
            v4_at: &self.v4_at,
            v6: &self.v6,
        }
    }
}

/// Iterator of [`Dirty::targets`]: merges the two sorted IPv4 lists, then IPv6.
#[derive(Debug, Clone)]
pub struct Targets<'a> {
    v4: &'a [u64],
    v4_at: &'a [(u64, u32)],
    v6: &'a [(Ipv6Net, u32)],
}

impl Iterator for Targets<'_> {
    type Item = (IpNet, Option<DestId>);

    fn next(&mut self) -> Option<Self::Item> {
        let key = match (self.v4.first(), self.v4_at.first()) {
            (Some(&a), Some(&(b, _))) => a.min(b),
            (Some(&a), None) => a,
            (None, Some(&(b, _))) => b,
            (None, None) => {
                let n = self.v6.first().map(|(p, _)| *p)?;
                let (run, rest) = self
                    .v6
                    .split_at(self.v6.iter().take_while(|e| e.0 == n).count());
                self.v6 = rest;
                return Some((IpNet::V6(n), common_id(run)));
            }
        };
        let plain = self.v4.iter().take_while(|k| **k == key).count();
        self.v4 = self.v4.split_at(plain).1;
        let (run, rest) = self
            .v4_at
            .split_at(self.v4_at.iter().take_while(|e| e.0 == key).count());
        self.v4_at = rest;
        let id = if plain == 0 { common_id(run) } else { None };
        Some((IpNet::V4(unpack(key)), id))
    }
}

/// The dest id of a run of one prefix's entries (deduplicated), when it is the only one.
fn common_id<K>(run: &[(K, u32)]) -> Option<DestId> {
    match run {
        [(_, id)] if *id != NO_ID => Some(DestId::from_raw(*id)),
        _ => None,
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

    fn change_at(&mut self, change: Change, dest: DestId) {
        self.insert_at(change.prefix, dest.raw());
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
    fn targets_are_ordered_and_deduplicated_like_a_set() {
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
        let got: Vec<IpNet> = taken.targets().map(|(p, _)| p).collect();
        assert_eq!(got, want);
        assert!(taken.targets().all(|(_, id)| id.is_none()));
    }

    proptest::proptest! {
        /// Against a map of each prefix's entries: every prefix once, in order, with the
        /// id only when all its entries carry that one id.
        #[test]
        fn targets_match_a_model(entries in proptest::collection::vec((0usize..6, proptest::option::of(0u32..3)), 0..40)) {
            const PREFIXES: [&str; 6] =
                ["10.0.0.0/8", "10.0.0.0/16", "10.1.0.0/16", "192.0.2.0/24", "2001:db8::/32", "2001:db8::/48"];
            let mut dirty = Dirty::default();
            let mut model: std::collections::BTreeMap<IpNet, BTreeSet<Option<u32>>> = Default::default();
            for (i, id) in entries {
                let p: IpNet = PREFIXES[i].parse().unwrap();
                match id {
                    Some(id) => dirty.insert_at(p, id),
                    None => dirty.insert(p),
                }
                model.entry(p).or_default().insert(id);
            }
            let want: Vec<(IpNet, Option<u32>)> = model
                .into_iter()
                .map(|(p, ids)| match ids.iter().collect::<Vec<_>>()[..] {
                    [Some(id)] => (p, Some(*id)),
                    _ => (p, None),
                })
                .collect();
            let got: Vec<(IpNet, Option<u32>)> =
                dirty.take().targets().map(|(p, id)| (p, id.map(DestId::raw))).collect();
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn a_dest_id_is_kept_only_when_it_is_the_only_one() {
        let p = |s: &str| s.parse::<IpNet>().unwrap();
        let mut dirty = Dirty::default();
        // One id, twice: kept.
        dirty.insert_at(p("10.0.0.0/8"), 7);
        dirty.insert_at(p("10.0.0.0/8"), 7);
        // Two ids: the prefix moved dests; look it up.
        dirty.insert_at(p("10.1.0.0/16"), 7);
        dirty.insert_at(p("10.1.0.0/16"), 9);
        // An id and a change without one: look it up.
        dirty.insert_at(p("10.2.0.0/16"), 3);
        dirty.insert(p("10.2.0.0/16"));
        dirty.insert_at(p("2001:db8::/32"), 3);
        dirty.insert(p("2001:db8::/32"));
        dirty.insert_at(p("2001:db8::/48"), 4);
        let got: Vec<(IpNet, Option<u32>)> = dirty
            .take()
            .targets()
            .map(|(p, id)| (p, id.map(DestId::raw)))
            .collect();
        assert_eq!(
            got,
            vec![
                (p("10.0.0.0/8"), Some(7)),
                (p("10.1.0.0/16"), None),
                (p("10.2.0.0/16"), None),
                (p("2001:db8::/32"), None),
                (p("2001:db8::/48"), Some(4)),
            ]
        );
    }
}
