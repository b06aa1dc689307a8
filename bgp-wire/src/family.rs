//! Address families (AFI/SAFI, RFC 4760 section 5) and small sets of them.

use std::fmt;

/// Address Family Identifier values this crate understands (IANA "Address Family Numbers").
pub const AFI_IPV4: u16 = 1;
/// IPv6 AFI.
pub const AFI_IPV6: u16 = 2;
/// Unicast SAFI.
pub const SAFI_UNICAST: u8 = 1;

/// An address family as carried in capabilities, MP_REACH_NLRI and ROUTE-REFRESH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// AFI 1, SAFI 1.
    Ipv4Unicast,
    /// AFI 2, SAFI 1.
    Ipv6Unicast,
    /// Any other pair: carried in capabilities, never decoded as routes.
    Other { afi: u16, safi: u8 },
}

impl Family {
    /// Builds a family from its wire numbers.
    pub fn from_afi_safi(afi: u16, safi: u8) -> Self {
        match (afi, safi) {
            (AFI_IPV4, SAFI_UNICAST) => Family::Ipv4Unicast,
            (AFI_IPV6, SAFI_UNICAST) => Family::Ipv6Unicast,
            (afi, safi) => Family::Other { afi, safi },
        }
    }

    /// The wire AFI.
    pub fn afi(self) -> u16 {
        match self {
            Family::Ipv4Unicast => AFI_IPV4,
            Family::Ipv6Unicast => AFI_IPV6,
            Family::Other { afi, .. } => afi,
        }
    }

    /// The wire SAFI.
    pub fn safi(self) -> u8 {
        match self {
            Family::Ipv4Unicast | Family::Ipv6Unicast => SAFI_UNICAST,
            Family::Other { safi, .. } => safi,
        }
    }

    fn bit(self) -> u8 {
        match self {
            Family::Ipv4Unicast => 1,
            Family::Ipv6Unicast => 2,
            Family::Other { .. } => 0,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Family::Ipv4Unicast => f.write_str("ipv4-unicast"),
            Family::Ipv6Unicast => f.write_str("ipv6-unicast"),
            Family::Other { afi, safi } => write!(f, "afi{afi}-safi{safi}"),
        }
    }
}

/// A set of the route-carrying families (IPv4 and IPv6 unicast), used for per-family
/// session options such as ADD-PATH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FamilySet(u8);

impl FamilySet {
    /// No family.
    pub const EMPTY: FamilySet = FamilySet(0);
    /// IPv4 and IPv6 unicast.
    pub const ALL: FamilySet = FamilySet(3);

    /// Adds a family; other families are not route-carrying here and are ignored.
    pub fn insert(&mut self, family: Family) {
        self.0 |= family.bit();
    }

    /// Whether the family is in the set.
    pub fn contains(self, family: Family) -> bool {
        let bit = family.bit();
        bit != 0 && self.0 & bit != 0
    }

    /// A set with one family.
    pub fn only(family: Family) -> Self {
        let mut set = Self::EMPTY;
        set.insert(family);
        set
    }
}
