//! What a collector holds: the set of IPv4 prefixes announced and not withdrawn since, so
//! that a re-announcement (implicit withdrawal) is not counted twice.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use bgp_wire::Update;
use ipnet::{IpNet, Ipv4Net};

/// A multiplicative hasher for the packed prefix keys (SipHash would dominate the
/// collectors' CPU time at a million prefixes each).
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        // A full avalanche (SplitMix64's finalizer): the table indexes by the low bits, and
        // the low bits of a prefix key (length, last octet) hardly ever vary.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = self.0.rotate_left(5) ^ n;
    }
}

type KeySet = HashSet<u64, BuildHasherDefault<KeyHasher>>;

/// A prefix as one number: address in the high bits, length in the low byte.
pub fn key(net: &Ipv4Net) -> u64 {
    u64::from(u32::from(net.network())) << 8 | u64::from(net.prefix_len())
}

/// The IPv4 prefixes a session currently holds, minus the ones it ignores (its own
/// announcements, when a route reflector sends them back).
#[derive(Debug, Default, Clone)]
pub struct Held {
    held: KeySet,
    ignore: KeySet,
}

impl Held {
    /// An empty set that never counts `ignore`.
    pub fn new(ignore: &[Ipv4Net]) -> Self {
        Self {
            held: KeySet::default(),
            ignore: ignore.iter().map(key).collect(),
        }
    }

    /// Applies an UPDATE: withdrawals first, then announcements (RFC 4271 section 4.3).
    pub fn apply(&mut self, update: &Update) {
        for n in update.withdrawn_routes() {
            if let IpNet::V4(p) = n.prefix {
                self.held.remove(&key(&p));
            }
        }
        // RFC 7606 treat-as-withdraw: the announced routes are withdrawn instead, all of
        // them, also when the broken attribute is NEXT_HOP (then they have no next hop).
        if update.treat_as_withdraw() {
            for n in update.announced_nlri() {
                if let IpNet::V4(p) = n.prefix {
                    self.held.remove(&key(&p));
                }
            }
            return;
        }
        for a in update.announced() {
            if let IpNet::V4(p) = a.nlri.prefix {
                let k = key(&p);
                if !self.ignore.contains(&k) {
                    self.held.insert(k);
                }
            }
        }
    }

    /// Prefixes held.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Forgets everything (the session went down).
    pub fn clear(&mut self) {
        self.held.clear();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use bgp_wire::attr::{AttrValue, Origin, PathAttributes};
    use bgp_wire::Nlri;
    use std::net::Ipv4Addr;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn nlri(s: &str) -> Nlri {
        Nlri::new(IpNet::V4(net(s)))
    }

    fn announce(list: &[&str]) -> Update {
        Update {
            attributes: PathAttributes::from_values([
                AttrValue::Origin(Origin::Igp),
                AttrValue::NextHop(Ipv4Addr::new(198, 18, 0, 2)),
            ]),
            nlri: list.iter().map(|s| nlri(s)).collect(),
            ..Update::default()
        }
    }

    #[test]
    fn counts_announcements_minus_withdrawals_once_each() {
        let mut h = Held::new(&[net("10.64.0.0/26")]);
        h.apply(&announce(&["192.0.2.0/24", "192.0.2.0/25", "10.64.0.0/26"]));
        assert_eq!(h.len(), 2, "own block ignored, /24 and /25 distinct");
        h.apply(&announce(&["192.0.2.0/24"]));
        assert_eq!(h.len(), 2, "re-announcement replaces");
        h.apply(&Update {
            withdrawn: vec![nlri("192.0.2.0/24"), nlri("203.0.113.0/24")],
            ..Update::default()
        });
        assert_eq!(
            h.len(),
            1,
            "withdrawal of an unknown prefix changes nothing"
        );
        h.clear();
        assert!(h.is_empty());
    }

    #[test]
    fn treat_as_withdraw_without_next_hop_withdraws() {
        let mut h = Held::new(&[]);
        h.apply(&announce(&["192.0.2.0/24", "192.0.2.0/25"]));
        // The NEXT_HOP was malformed (RFC 7606 section 7.3): the decoder left it out.
        let mut u = announce(&["192.0.2.0/24"]);
        u.attributes = PathAttributes::from_values([AttrValue::Origin(Origin::Igp)]);
        u.errors.push(bgp_wire::DecodeError {
            reason: bgp_wire::Reason::MissingWellKnown(3),
            context: "UPDATE path attributes",
            action: bgp_wire::ErrorHandling::TreatAsWithdraw,
            data: bytes::Bytes::new(),
        });
        h.apply(&u);
        assert_eq!(h.len(), 1, "the /24 is withdrawn, the /25 stays");
    }

    #[test]
    fn key_separates_lengths() {
        assert_ne!(key(&net("10.0.0.0/8")), key(&net("10.0.0.0/9")));
        assert_eq!(key(&net("10.0.0.0/8")), 0x0A_0000_0008);
    }
}
