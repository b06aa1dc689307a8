//! Path attributes (RFC 4271 section 4.3 and 5, and the RFCs named on each variant).
//!
//! An UPDATE's attributes are kept in wire order with their flags, so a decoded message
//! re-encodes byte for byte; typed accessors find each attribute.
//!
//! ```text
//! attribute: flags(1) type(1) length(1, or 2 with the Extended Length flag) value
//! ```

mod as_path;
mod community;
mod decode;
mod encode;
mod mp;
mod raw;

use std::net::Ipv4Addr;

use bytes::Bytes;

pub use as_path::{AsPath, Segment, SegmentType};
pub use community::{Community, ExtCommunity, LargeCommunity};
pub(crate) use decode::decode_attributes;
pub(crate) use encode::put_next_hop;
pub use mp::{MpReach, MpUnreach, NextHop};
pub use raw::{put_raw, raw_attributes, RawAttr, RawAttrs, Truncated};

/// Attribute type codes (IANA "BGP Path Attributes").
pub mod code {
    /// ORIGIN (RFC 4271).
    pub const ORIGIN: u8 = 1;
    /// AS_PATH (RFC 4271).
    pub const AS_PATH: u8 = 2;
    /// NEXT_HOP (RFC 4271).
    pub const NEXT_HOP: u8 = 3;
    /// MULTI_EXIT_DISC (RFC 4271).
    pub const MULTI_EXIT_DISC: u8 = 4;
    /// LOCAL_PREF (RFC 4271).
    pub const LOCAL_PREF: u8 = 5;
    /// ATOMIC_AGGREGATE (RFC 4271).
    pub const ATOMIC_AGGREGATE: u8 = 6;
    /// AGGREGATOR (RFC 4271).
    pub const AGGREGATOR: u8 = 7;
    /// COMMUNITIES (RFC 1997).
    pub const COMMUNITIES: u8 = 8;
    /// ORIGINATOR_ID (RFC 4456).
    pub const ORIGINATOR_ID: u8 = 9;
    /// CLUSTER_LIST (RFC 4456).
    pub const CLUSTER_LIST: u8 = 10;
    /// MP_REACH_NLRI (RFC 4760).
    pub const MP_REACH_NLRI: u8 = 14;
    /// MP_UNREACH_NLRI (RFC 4760).
    pub const MP_UNREACH_NLRI: u8 = 15;
    /// EXTENDED COMMUNITIES (RFC 4360).
    pub const EXTENDED_COMMUNITIES: u8 = 16;
    /// AS4_PATH (RFC 6793).
    pub const AS4_PATH: u8 = 17;
    /// AS4_AGGREGATOR (RFC 6793).
    pub const AS4_AGGREGATOR: u8 = 18;
    /// LARGE_COMMUNITY (RFC 8092).
    pub const LARGE_COMMUNITY: u8 = 32;
    /// Only to Customer (RFC 9234).
    pub const OTC: u8 = 35;
}

/// Attribute flag bits (RFC 4271 section 4.3).
pub mod flags {
    /// Optional (vs. well-known).
    pub const OPTIONAL: u8 = 0x80;
    /// Transitive.
    pub const TRANSITIVE: u8 = 0x40;
    /// Partial: an optional transitive attribute some speaker on the path did not know.
    pub const PARTIAL: u8 = 0x20;
    /// The length field is two octets.
    pub const EXTENDED_LENGTH: u8 = 0x10;
}

/// ORIGIN values (RFC 4271 section 5.1.1); lower is preferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// Learned from an interior protocol.
    Igp,
    /// Learned from EGP.
    Egp,
    /// Learned some other way.
    Incomplete,
}

/// AGGREGATOR and AS4_AGGREGATOR value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Aggregator {
    /// The AS that aggregated (AS_TRANS in a 2-octet AGGREGATOR for a 4-octet AS).
    pub asn: u32,
    /// The aggregating speaker's address.
    pub address: Ipv4Addr,
}

/// A path attribute's value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttrValue {
    /// ORIGIN.
    Origin(Origin),
    /// AS_PATH.
    AsPath(AsPath),
    /// NEXT_HOP (IPv4 routes outside MP_REACH_NLRI).
    NextHop(Ipv4Addr),
    /// MULTI_EXIT_DISC.
    Med(u32),
    /// LOCAL_PREF.
    LocalPref(u32),
    /// ATOMIC_AGGREGATE.
    AtomicAggregate,
    /// AGGREGATOR.
    Aggregator(Aggregator),
    /// COMMUNITIES.
    Communities(Vec<Community>),
    /// ORIGINATOR_ID.
    OriginatorId(Ipv4Addr),
    /// CLUSTER_LIST, nearest cluster first.
    ClusterList(Vec<Ipv4Addr>),
    /// MP_REACH_NLRI for IPv4 or IPv6 unicast.
    MpReach(MpReach),
    /// MP_UNREACH_NLRI for IPv4 or IPv6 unicast.
    MpUnreach(MpUnreach),
    /// EXTENDED COMMUNITIES.
    ExtCommunities(Vec<ExtCommunity>),
    /// AS4_PATH (only between 2-octet and 4-octet speakers).
    As4Path(AsPath),
    /// AS4_AGGREGATOR.
    As4Aggregator(Aggregator),
    /// LARGE_COMMUNITY.
    LargeCommunities(Vec<LargeCommunity>),
    /// Only to Customer: the AS that set it.
    Otc(u32),
    /// Any attribute this crate does not interpret (including MP attributes of other
    /// families), kept as bytes to pass on.
    Unknown {
        /// Type code.
        type_code: u8,
        /// The value.
        value: Bytes,
    },
}

impl AttrValue {
    /// The type code.
    #[inline]
    pub fn type_code(&self) -> u8 {
        use self::code::*;
        match self {
            AttrValue::Origin(_) => ORIGIN,
            AttrValue::AsPath(_) => AS_PATH,
            AttrValue::NextHop(_) => NEXT_HOP,
            AttrValue::Med(_) => MULTI_EXIT_DISC,
            AttrValue::LocalPref(_) => LOCAL_PREF,
            AttrValue::AtomicAggregate => ATOMIC_AGGREGATE,
            AttrValue::Aggregator(_) => AGGREGATOR,
            AttrValue::Communities(_) => COMMUNITIES,
            AttrValue::OriginatorId(_) => ORIGINATOR_ID,
            AttrValue::ClusterList(_) => CLUSTER_LIST,
            AttrValue::MpReach(_) => MP_REACH_NLRI,
            AttrValue::MpUnreach(_) => MP_UNREACH_NLRI,
            AttrValue::ExtCommunities(_) => EXTENDED_COMMUNITIES,
            AttrValue::As4Path(_) => AS4_PATH,
            AttrValue::As4Aggregator(_) => AS4_AGGREGATOR,
            AttrValue::LargeCommunities(_) => LARGE_COMMUNITY,
            AttrValue::Otc(_) => OTC,
            AttrValue::Unknown { type_code, .. } => *type_code,
        }
    }
}

/// The Optional and Transitive bits a known attribute must carry; `None` for unknown types.
#[inline]
pub fn expected_flags(type_code: u8) -> Option<u8> {
    use self::code::*;
    use self::flags::*;
    match type_code {
        ORIGIN | AS_PATH | NEXT_HOP | LOCAL_PREF | ATOMIC_AGGREGATE => Some(TRANSITIVE),
        MULTI_EXIT_DISC | ORIGINATOR_ID | CLUSTER_LIST | MP_REACH_NLRI | MP_UNREACH_NLRI => {
            Some(OPTIONAL)
        }
        AGGREGATOR | COMMUNITIES | EXTENDED_COMMUNITIES | AS4_PATH | AS4_AGGREGATOR
        | LARGE_COMMUNITY | OTC => Some(OPTIONAL | TRANSITIVE),
        _ => None,
    }
}

/// NEXT_HOP, MP_REACH_NLRI or MP_UNREACH_NLRI: the attributes that carry a route's next hop
/// or NLRI rather than describe its path. Sets written or stored apart from their routes
/// leave them out; the UPDATE packer writes its own for each family.
#[inline]
pub(crate) fn is_next_hop_or_nlri(type_code: u8) -> bool {
    use self::code::*;
    matches!(type_code, NEXT_HOP | MP_REACH_NLRI | MP_UNREACH_NLRI)
}

/// One attribute with its flags. For known attributes only the Partial and Extended Length
/// bits of `flags` are taken from it when encoding (the others follow the type); for unknown
/// ones all four high bits are kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attribute {
    /// Flags as received, or as built by [`Attribute::new`].
    pub flags: u8,
    /// The value.
    pub value: AttrValue,
}

impl Attribute {
    /// An attribute with the flags its type calls for (unknown types: optional transitive).
    pub fn new(value: AttrValue) -> Self {
        let flags =
            expected_flags(value.type_code()).unwrap_or(flags::OPTIONAL | flags::TRANSITIVE);
        Self { flags, value }
    }
}

/// An UPDATE's path attributes in wire order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PathAttributes {
    /// The attributes; at most one of each type code.
    pub list: Vec<Attribute>,
}

macro_rules! accessor {
    ($(#[$doc:meta])* $name:ident, $variant:ident, $ty:ty) => {
        $(#[$doc])*
        pub fn $name(&self) -> Option<&$ty> {
            self.list.iter().find_map(|a| match &a.value {
                AttrValue::$variant(v) => Some(v),
                _ => None,
            })
        }
    };
}

impl PathAttributes {
    /// Attributes built from values, each with its standard flags, in the given order.
    pub fn from_values(values: impl IntoIterator<Item = AttrValue>) -> Self {
        Self {
            list: values.into_iter().map(Attribute::new).collect(),
        }
    }

    /// The attribute with this type code.
    pub fn get(&self, type_code: u8) -> Option<&AttrValue> {
        self.list
            .iter()
            .map(|a| &a.value)
            .find(|v| v.type_code() == type_code)
    }

    /// Sets an attribute, replacing one of the same type (keeping its place and flags'
    /// Partial bit) or inserting it: MP_REACH_NLRI and MP_UNREACH_NLRI first (RFC 7606
    /// section 5.1), the others in type-code order.
    pub fn set(&mut self, value: AttrValue) {
        let t = value.type_code();
        if let Some(a) = self.list.iter_mut().find(|a| a.value.type_code() == t) {
            a.value = value;
            return;
        }
        let rank = |t: u8| match t {
            code::MP_REACH_NLRI | code::MP_UNREACH_NLRI => 0u16,
            t => 1 + u16::from(t),
        };
        let at = self
            .list
            .iter()
            .position(|a| rank(a.value.type_code()) > rank(t))
            .unwrap_or(self.list.len());
        self.list.insert(at, Attribute::new(value));
    }

    /// Removes the attribute with this type code, returning it.
    pub fn remove(&mut self, type_code: u8) -> Option<AttrValue> {
        let at = self
            .list
            .iter()
            .position(|a| a.value.type_code() == type_code)?;
        Some(self.list.remove(at).value)
    }

    accessor!(
        /// ORIGIN.
        origin, Origin, Origin);
    accessor!(
        /// AS_PATH.
        as_path, AsPath, AsPath);
    accessor!(
        /// NEXT_HOP.
        next_hop, NextHop, Ipv4Addr);
    accessor!(
        /// MULTI_EXIT_DISC.
        med, Med, u32);
    accessor!(
        /// LOCAL_PREF.
        local_pref, LocalPref, u32);
    accessor!(
        /// AGGREGATOR.
        aggregator, Aggregator, Aggregator);
    accessor!(
        /// COMMUNITIES.
        communities, Communities, Vec<Community>);
    accessor!(
        /// ORIGINATOR_ID.
        originator_id, OriginatorId, Ipv4Addr);
    accessor!(
        /// CLUSTER_LIST.
        cluster_list, ClusterList, Vec<Ipv4Addr>);
    accessor!(
        /// MP_REACH_NLRI.
        mp_reach, MpReach, MpReach);
    accessor!(
        /// MP_UNREACH_NLRI.
        mp_unreach, MpUnreach, MpUnreach);
    accessor!(
        /// EXTENDED COMMUNITIES.
        ext_communities, ExtCommunities, Vec<ExtCommunity>);
    accessor!(
        /// AS4_PATH.
        as4_path, As4Path, AsPath);
    accessor!(
        /// AS4_AGGREGATOR.
        as4_aggregator, As4Aggregator, Aggregator);
    accessor!(
        /// LARGE_COMMUNITY.
        large_communities, LargeCommunities, Vec<LargeCommunity>);
    accessor!(
        /// Only to Customer.
        otc, Otc, u32);

    /// Whether ATOMIC_AGGREGATE is present.
    pub fn atomic_aggregate(&self) -> bool {
        self.get(code::ATOMIC_AGGREGATE).is_some()
    }

    /// RFC 6793 section 4.2.3, for routes from a 2-octet speaker: replaces AS_PATH (and
    /// AGGREGATOR) by the merge with AS4_PATH (and AS4_AGGREGATOR), and removes the AS4
    /// attributes. When AGGREGATOR names a real 2-octet AS, the AS4 attributes are stale
    /// and are dropped unused.
    pub fn merge_as4(&mut self) {
        let as4_path = self.remove(code::AS4_PATH);
        let as4_aggregator = self.remove(code::AS4_AGGREGATOR);
        if let Some(agg) = self.aggregator() {
            if agg.asn != u32::from(crate::open::AS_TRANS) {
                return;
            }
            if let Some(AttrValue::As4Aggregator(a4)) = as4_aggregator {
                self.set(AttrValue::Aggregator(a4));
            }
        }
        if let (Some(AttrValue::As4Path(as4)), Some(path)) = (as4_path, self.as_path()) {
            let merged = path.merge_as4(&as4);
            self.set(AttrValue::AsPath(merged));
        }
    }
}
