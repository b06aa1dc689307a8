//! Communities (RFC 1997) and large communities (RFC 8092) as written in policies:
//! `65000:1`, the well-known names (`no-export`, ...), and `65000:1:2`.

use std::fmt;
use std::str::FromStr;

/// A standard community (RFC 1997): 32 bits, written `ASN16:VALUE16` or by a well-known name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Community(pub u32);

/// Well-known communities and their configuration names.
const WELL_KNOWN: [(&str, u32); 8] = [
    ("graceful-shutdown", 0xFFFF_0000), // RFC 8326
    ("accept-own", 0xFFFF_0001),        // RFC 7611
    ("llgr-stale", 0xFFFF_0006),        // RFC 9494
    ("no-llgr", 0xFFFF_0007),           // RFC 9494
    ("blackhole", 0xFFFF_029A),         // RFC 7999
    ("no-export", 0xFFFF_FF01),         // RFC 1997
    ("no-advertise", 0xFFFF_FF02),      // RFC 1997
    ("no-peer", 0xFFFF_FF04),           // RFC 3765
];

impl Community {
    /// NO_EXPORT (RFC 1997).
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    /// NO_ADVERTISE (RFC 1997).
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);

    /// From the two 16-bit halves.
    pub const fn from_parts(high: u16, low: u16) -> Community {
        Community(((high as u32) << 16) | low as u32)
    }
}

impl FromStr for Community {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some((_, v)) = WELL_KNOWN.iter().find(|(name, _)| *name == s) {
            return Ok(Community(*v));
        }
        let bad = || {
            format!(
                "`{s}` is not a community: expected ASN:VALUE with both parts in 0..=65535, \
                 or a well-known name such as `no-export`"
            )
        };
        let (high, low) = s.split_once(':').ok_or_else(bad)?;
        let high: u16 = high.parse().map_err(|_| bad())?;
        let low: u16 = low.parse().map_err(|_| bad())?;
        Ok(Community::from_parts(high, low))
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match WELL_KNOWN.iter().find(|(_, v)| *v == self.0) {
            Some((name, _)) => f.write_str(name),
            None => write!(f, "{}:{}", self.0 >> 16, self.0 & 0xFFFF),
        }
    }
}

/// A large community (RFC 8092): three 32-bit numbers, written `GLOBAL:LOCAL1:LOCAL2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LargeCommunity {
    /// Global administrator (an ASN).
    pub global: u32,
    /// First local data part.
    pub local1: u32,
    /// Second local data part.
    pub local2: u32,
}

impl FromStr for LargeCommunity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{s}` is not a large community: expected GLOBAL:LOCAL1:LOCAL2 with each part \
                 in 0..=4294967295"
            )
        };
        let mut parts = s.split(':').map(|p| p.parse::<u32>().map_err(|_| bad()));
        let global = parts.next().ok_or_else(bad)??;
        let local1 = parts.next().ok_or_else(bad)??;
        let local2 = parts.next().ok_or_else(bad)??;
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(LargeCommunity {
            global,
            local1,
            local2,
        })
    }
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.global, self.local1, self.local2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard() {
        assert_eq!("65000:1".parse(), Ok(Community(65000 << 16 | 1)));
        assert_eq!("no-export".parse(), Ok(Community::NO_EXPORT));
        assert_eq!(Community::NO_ADVERTISE.to_string(), "no-advertise");
        assert_eq!(Community(65000 << 16 | 1).to_string(), "65000:1");
        for bad in ["65536:1", "1:65536", "1", "1:2:3", "a:b", "", "no_export"] {
            assert!(bad.parse::<Community>().is_err(), "{bad}");
        }
    }

    #[test]
    fn large() {
        let c: LargeCommunity = "4200000000:1:2".parse().unwrap();
        assert_eq!((c.global, c.local1, c.local2), (4_200_000_000, 1, 2));
        assert_eq!(c.to_string(), "4200000000:1:2");
        for bad in ["1:2", "1:2:3:4", "1:2:x", "4294967296:1:1", ""] {
            assert!(bad.parse::<LargeCommunity>().is_err(), "{bad}");
        }
    }
}
