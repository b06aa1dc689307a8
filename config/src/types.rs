//! Bounded newtypes of the validated model: a value of one of these types is always in range,
//! so the daemon never re-checks what the loader already refused.
//!
//! Each type has a `new` that returns `None` out of range (the validator turns that into a
//! positioned error) and a `get` for the raw value.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

/// An autonomous system number, 4-octet (RFC 6793), never 0 (RFC 7607).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Asn(u32);

impl Asn {
    /// AS_TRANS (RFC 6793): stands in for a 4-octet ASN in 2-octet fields; never a real peer AS.
    pub const AS_TRANS: Asn = Asn(23456);

    /// `None` for 0, which RFC 7607 reserves.
    pub const fn new(asn: u32) -> Option<Asn> {
        if asn == 0 {
            None
        } else {
            Some(Asn(asn))
        }
    }

    /// The number.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// True for the private-use ranges of RFC 6996 (64512..=65534, 4200000000..=4294967294).
    pub const fn is_private(self) -> bool {
        matches!(self.0, 64512..=65534 | 4_200_000_000..=4_294_967_294)
    }
}

impl fmt::Display for Asn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A BGP identifier (RFC 4271 section 4.2, RFC 6286): four octets, not 0.0.0.0.
/// Also used for the route reflector cluster ID (RFC 4456 section 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouterId(Ipv4Addr);

impl RouterId {
    /// `None` for 0.0.0.0.
    pub fn new(id: Ipv4Addr) -> Option<RouterId> {
        if id.is_unspecified() {
            None
        } else {
            Some(RouterId(id))
        }
    }

    /// The identifier as an address.
    pub const fn get(self) -> Ipv4Addr {
        self.0
    }

    /// The identifier as the 32-bit number that goes on the wire.
    pub fn to_u32(self) -> u32 {
        u32::from(self.0)
    }
}

impl fmt::Display for RouterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A hold time in seconds (RFC 4271 section 4.2): 0 (no keepalives, no hold timer) or 3..=65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HoldTime(u16);

impl HoldTime {
    /// The default: 90 seconds, as in most implementations.
    pub const DEFAULT: HoldTime = HoldTime(90);

    /// `None` for 1 and 2, which RFC 4271 forbids.
    pub const fn new(seconds: u16) -> Option<HoldTime> {
        if seconds == 1 || seconds == 2 {
            None
        } else {
            Some(HoldTime(seconds))
        }
    }

    /// Seconds, as in the OPEN message.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// As a duration.
    pub fn duration(self) -> Duration {
        Duration::from_secs(u64::from(self.0))
    }

    /// The default keepalive interval for this hold time: a third of it, at least 1 s
    /// (0 when the hold time is 0).
    pub const fn default_keepalive(self) -> u16 {
        if self.0 == 0 {
            0
        } else {
            self.0 / 3
        }
    }
}

impl fmt::Display for HoldTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0)
    }
}

/// GTSM (RFC 5082) hop count: 1 (directly connected, TTL 255 expected) ..= 254.
/// The daemon sends with TTL 255 and accepts only TTL >= 256 - hops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GtsmHops(u8);

impl GtsmHops {
    /// `None` outside 1..=254.
    pub const fn new(hops: u8) -> Option<GtsmHops> {
        if hops == 0 || hops == 255 {
            None
        } else {
            Some(GtsmHops(hops))
        }
    }

    /// The hop count.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// The lowest TTL a packet from the neighbor may arrive with.
    pub const fn min_ttl(self) -> u8 {
        255 - (self.0 - 1)
    }
}

/// Graceful restart time (RFC 4724 section 3): 12 bits, 0..=4095 seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RestartTime(u16);

impl RestartTime {
    /// The default, 120 s, which is also what Calico's BIRD uses.
    pub const DEFAULT: RestartTime = RestartTime(120);

    /// `None` above 4095.
    pub const fn new(seconds: u16) -> Option<RestartTime> {
        if seconds > 4095 {
            None
        } else {
            Some(RestartTime(seconds))
        }
    }

    /// Seconds, as in the capability.
    pub const fn get(self) -> u16 {
        self.0
    }
}

/// Long-lived graceful restart stale time (RFC 9494 section 3): 24 bits, 0..=16777215 seconds.
/// 0 disables LLGR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StaleTime(u32);

impl StaleTime {
    /// Largest value the 24-bit field holds.
    pub const MAX: u32 = 0x00ff_ffff;
    /// 0: long-lived graceful restart off.
    pub const OFF: StaleTime = StaleTime(0);

    /// `None` above [`StaleTime::MAX`].
    pub const fn new(seconds: u32) -> Option<StaleTime> {
        if seconds > Self::MAX {
            None
        } else {
            Some(StaleTime(seconds))
        }
    }

    /// Seconds, as in the capability.
    pub const fn get(self) -> u32 {
        self.0
    }
}

/// A TCP-MD5 key (RFC 2385), 1..=80 bytes (Linux `TCP_MD5SIG_MAXKEYLEN`).
///
/// `Debug` never shows the key; there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Longest key Linux accepts.
    pub const MAX_LEN: usize = 80;

    /// `None` when empty or longer than [`Secret::MAX_LEN`] bytes.
    pub fn new(key: String) -> Option<Secret> {
        if key.is_empty() || key.len() > Self::MAX_LEN {
            None
        } else {
            Some(Secret(key))
        }
    }

    /// The key bytes, for the socket option. Do not log them.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// An address family and subsequent address family this daemon speaks (RFC 4760).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AddressFamily {
    /// AFI 1, SAFI 1; written `ipv4-unicast`.
    Ipv4Unicast,
    /// AFI 2, SAFI 1; written `ipv6-unicast`.
    Ipv6Unicast,
}

impl AddressFamily {
    /// Every family, in the order they are written.
    pub const ALL: [AddressFamily; 2] = [AddressFamily::Ipv4Unicast, AddressFamily::Ipv6Unicast];

    /// The configuration spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            AddressFamily::Ipv4Unicast => "ipv4-unicast",
            AddressFamily::Ipv6Unicast => "ipv6-unicast",
        }
    }
}

impl FromStr for AddressFamily {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        AddressFamily::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or(())
    }
}

impl fmt::Display for AddressFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which ADD-PATH directions (RFC 7911) to offer for one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AddPathMode {
    /// We accept several paths per prefix from the neighbor.
    Receive,
    /// We send several paths per prefix to the neighbor.
    Send,
    /// Both directions.
    Both,
}

impl AddPathMode {
    /// The configuration spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            AddPathMode::Receive => "receive",
            AddPathMode::Send => "send",
            AddPathMode::Both => "both",
        }
    }

    /// True for `send` and `both`.
    pub const fn sends(self) -> bool {
        matches!(self, AddPathMode::Send | AddPathMode::Both)
    }

    /// True for `receive` and `both`.
    pub const fn receives(self) -> bool {
        matches!(self, AddPathMode::Receive | AddPathMode::Both)
    }
}

impl FromStr for AddPathMode {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "receive" => Ok(AddPathMode::Receive),
            "send" => Ok(AddPathMode::Send),
            "both" => Ok(AddPathMode::Both),
            _ => Err(()),
        }
    }
}

impl fmt::Display for AddPathMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert!(Asn::new(0).is_none());
        assert_eq!(Asn::new(u32::MAX).map(Asn::get), Some(u32::MAX));
        assert!(Asn::new(64512).is_some_and(Asn::is_private));
        assert!(RouterId::new(Ipv4Addr::UNSPECIFIED).is_none());
        assert!(HoldTime::new(1).is_none() && HoldTime::new(2).is_none());
        assert_eq!(HoldTime::new(0).map(HoldTime::default_keepalive), Some(0));
        assert_eq!(HoldTime::new(9).map(HoldTime::default_keepalive), Some(3));
        assert!(GtsmHops::new(0).is_none() && GtsmHops::new(255).is_none());
        assert_eq!(GtsmHops::new(1).map(GtsmHops::min_ttl), Some(255));
        assert_eq!(GtsmHops::new(254).map(GtsmHops::min_ttl), Some(2));
        assert!(RestartTime::new(4096).is_none());
        assert!(StaleTime::new(StaleTime::MAX + 1).is_none());
        assert!(Secret::new(String::new()).is_none());
        assert!(Secret::new("x".repeat(81)).is_none());
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = Secret::new("hunter2".into());
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn family_and_add_path_spellings_round_trip() {
        for f in AddressFamily::ALL {
            assert_eq!(f.as_str().parse::<AddressFamily>(), Ok(f));
        }
        for m in [AddPathMode::Receive, AddPathMode::Send, AddPathMode::Both] {
            assert_eq!(m.as_str().parse::<AddPathMode>(), Ok(m));
        }
    }
}
