//! BIRD-style prefix patterns, as written in policy terms: `10.0.0.0/8` (exactly that prefix),
//! `10.0.0.0/8+` (it and every longer prefix inside it), `10.0.0.0/8-` (it and every shorter
//! prefix covering it) and `10.0.0.0/8{16,24}` (prefixes inside it of length 16 to 24).
//!
//! A pattern `P/n{lo,hi}` matches a prefix `N/m` when `lo <= m <= hi` and the first `min(n, m)`
//! bits of `N` and `P` agree (the rule of BIRD's `net_in_netX`/`trie_match_net`). IPv4 patterns
//! never match IPv6 prefixes and vice versa.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// Why a prefix pattern did not parse. `Display` gives the sentence used in diagnostics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// The part before the length operator is not `ADDRESS/LENGTH`.
    #[error("`{0}` is not a prefix (expected ADDRESS/LENGTH, e.g. 10.0.0.0/8)")]
    NotAPrefix(String),
    /// The prefix has bits set after its length.
    #[error("prefix `{given}` has host bits set; did you mean `{network}`?")]
    HostBits {
        /// As written.
        given: String,
        /// With the host bits cleared.
        network: IpNet,
    },
    /// `{lo,hi}` is malformed or out of order or longer than the family allows.
    #[error("length range `{range}` is invalid: expected {{LOW,HIGH}} with LOW <= HIGH <= {max}")]
    BadRange {
        /// The range as written, with braces.
        range: String,
        /// 32 or 128.
        max: u8,
    },
}

/// A prefix pattern: a prefix plus the range of lengths it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PrefixPattern {
    net: IpNet,
    min_len: u8,
    max_len: u8,
}

impl PrefixPattern {
    /// A pattern for exactly `net` (host bits are cleared).
    pub fn exact(net: IpNet) -> PrefixPattern {
        let net = net.trunc();
        PrefixPattern {
            net,
            min_len: net.prefix_len(),
            max_len: net.prefix_len(),
        }
    }

    /// A pattern for prefixes of length `min_len..=max_len` agreeing with `net` (host bits are
    /// cleared); `None` if `min_len > max_len` or `max_len` is longer than the family allows.
    pub fn with_range(net: IpNet, min_len: u8, max_len: u8) -> Option<PrefixPattern> {
        if min_len > max_len || max_len > net.max_prefix_len() {
            return None;
        }
        Some(PrefixPattern {
            net: net.trunc(),
            min_len,
            max_len,
        })
    }

    /// The prefix part of the pattern.
    pub fn net(&self) -> IpNet {
        self.net
    }

    /// Shortest matching prefix length.
    pub fn min_len(&self) -> u8 {
        self.min_len
    }

    /// Longest matching prefix length.
    pub fn max_len(&self) -> u8 {
        self.max_len
    }

    /// Whether `prefix` matches (see the module documentation for the rule).
    pub fn matches(&self, prefix: &IpNet) -> bool {
        let len = prefix.prefix_len();
        if len < self.min_len || len > self.max_len {
            return false;
        }
        let common = len.min(self.net.prefix_len());
        match (self.net.addr(), prefix.addr()) {
            (IpAddr::V4(p), IpAddr::V4(n)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(common)).unwrap_or(0);
                (u32::from(p) ^ u32::from(n)) & mask == 0
            }
            (IpAddr::V6(p), IpAddr::V6(n)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(common)).unwrap_or(0);
                (u128::from(p) ^ u128::from(n)) & mask == 0
            }
            _ => false,
        }
    }
}

impl FromStr for PrefixPattern {
    type Err = PatternError;

    fn from_str(s: &str) -> Result<Self, PatternError> {
        let s = s.trim();
        let (prefix, op) = match s.find(['+', '-', '{']) {
            Some(i) => s.split_at(i),
            None => (s, ""),
        };
        let net: IpNet = prefix
            .parse()
            .map_err(|_| PatternError::NotAPrefix(prefix.to_owned()))?;
        if net.trunc() != net {
            return Err(PatternError::HostBits {
                given: prefix.to_owned(),
                network: net.trunc(),
            });
        }
        let len = net.prefix_len();
        let max = net.max_prefix_len();
        let (lo, hi) = match op {
            "" => (len, len),
            "+" => (len, max),
            "-" => (0, len),
            range => parse_range(range, max)?,
        };
        PrefixPattern::with_range(net, lo, hi).ok_or_else(|| PatternError::BadRange {
            range: op.to_owned(),
            max,
        })
    }
}

/// Parses `{LOW,HIGH}`.
fn parse_range(range: &str, max: u8) -> Result<(u8, u8), PatternError> {
    let bad = || PatternError::BadRange {
        range: range.to_owned(),
        max,
    };
    let inner = range
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .ok_or_else(bad)?;
    let (lo, hi) = inner.split_once(',').ok_or_else(bad)?;
    let lo: u8 = lo.trim().parse().map_err(|_| bad())?;
    let hi: u8 = hi.trim().parse().map_err(|_| bad())?;
    if lo > hi || hi > max {
        return Err(bad());
    }
    Ok((lo, hi))
}

impl fmt::Display for PrefixPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.net.prefix_len();
        write!(f, "{}", self.net)?;
        match (self.min_len, self.max_len) {
            (lo, hi) if lo == len && hi == len => Ok(()),
            (lo, hi) if lo == len && hi == self.net.max_prefix_len() => f.write_str("+"),
            (0, hi) if hi == len => f.write_str("-"),
            (lo, hi) => write!(f, "{{{lo},{hi}}}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PrefixPattern {
        s.parse().unwrap()
    }

    fn n(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn exact() {
        let pat = p("10.100.0.0/16");
        assert!(pat.matches(&n("10.100.0.0/16")));
        assert!(!pat.matches(&n("10.100.0.0/17")));
        assert!(!pat.matches(&n("10.0.0.0/8")));
        assert!(!pat.matches(&n("10.101.0.0/16")));
    }

    #[test]
    fn plus_matches_longer_inside() {
        let pat = p("10.100.0.0/16+");
        assert!(pat.matches(&n("10.100.0.0/16")));
        assert!(pat.matches(&n("10.100.3.64/26")));
        assert!(pat.matches(&n("10.100.255.255/32")));
        assert!(!pat.matches(&n("10.101.0.0/26")));
        assert!(!pat.matches(&n("10.0.0.0/8")));
    }

    #[test]
    fn minus_matches_shorter_covering() {
        let pat = p("10.100.0.0/16-");
        assert!(pat.matches(&n("10.100.0.0/16")));
        assert!(pat.matches(&n("10.0.0.0/8")));
        assert!(pat.matches(&n("0.0.0.0/0")));
        assert!(!pat.matches(&n("11.0.0.0/8")));
        assert!(!pat.matches(&n("10.100.0.0/24")));
    }

    #[test]
    fn range() {
        let pat = p("10.0.0.0/8{8,24}");
        assert!(pat.matches(&n("10.0.0.0/8")));
        assert!(pat.matches(&n("10.10.24.0/24")));
        assert!(!pat.matches(&n("10.10.24.0/25")));
        assert!(!pat.matches(&n("192.168.0.0/24")));
        let pat = p("10.0.0.0/8{16,16}");
        assert!(!pat.matches(&n("10.0.0.0/8")));
        assert!(pat.matches(&n("10.100.0.0/16")));
    }

    #[test]
    fn ipv6_and_family_mismatch() {
        let pat = p("2001:db8::/32{48,64}");
        assert!(pat.matches(&n("2001:db8:1::/48")));
        assert!(pat.matches(&n("2001:db8:1:2::/64")));
        assert!(!pat.matches(&n("2001:db9::/48")));
        assert!(!pat.matches(&n("2001:db8::/122")));
        assert!(!p("0.0.0.0/0+").matches(&n("::/0")));
        assert!(p("::/0+").matches(&n("2001:db8::/122")));
        assert!(p("0.0.0.0/0+").matches(&n("192.0.2.1/32")));
    }

    #[test]
    fn errors() {
        assert_eq!(
            "10.1.0.0/8+"
                .parse::<PrefixPattern>()
                .unwrap_err()
                .to_string(),
            "prefix `10.1.0.0/8` has host bits set; did you mean `10.0.0.0/8`?"
        );
        assert!(matches!(
            "10.0.0.0".parse::<PrefixPattern>(),
            Err(PatternError::NotAPrefix(_))
        ));
        assert!(matches!(
            "10.0.0.0/33".parse::<PrefixPattern>(),
            Err(PatternError::NotAPrefix(_))
        ));
        for bad in [
            "10.0.0.0/8{24,8}",
            "10.0.0.0/8{8,33}",
            "10.0.0.0/8{8}",
            "10.0.0.0/8++",
        ] {
            assert!(
                matches!(
                    bad.parse::<PrefixPattern>(),
                    Err(PatternError::BadRange { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn display_is_canonical() {
        for s in [
            "10.0.0.0/8",
            "10.0.0.0/8+",
            "10.0.0.0/8-",
            "10.0.0.0/8{16,24}",
            "2001:db8::/32+",
        ] {
            assert_eq!(p(s).to_string(), s);
        }
        assert_eq!(p("10.0.0.0/8{8,32}").to_string(), "10.0.0.0/8+");
    }
}
