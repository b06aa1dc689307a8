//! Interned path attribute sets: each distinct set is stored once, reference counted, and
//! released when the last route (or Adj-RIB-Out entry) lets go.
//!
//! ```text
//! PathAttributes ─strip NEXT_HOP/MP_*─► encode (4-octet AS, RFC 6793) ─► bytes ─hash─► AttrId
//!                                             └──────► Decisive (precomputed decision fields)
//! ```
//!
//! The set is kept in its wire encoding rather than as `PathAttributes`: a typical Internet
//! set is 40 to 70 bytes on the wire but 400+ bytes as Rust values (every `AttrValue` is as
//! large as its largest variant, and each AS path segment is a separate allocation). The
//! encoding is also the canonical key the index hashes and compares. Decoding it back
//! ([`AttrStore::attributes`]) is only for the export path and `bgpctl`; the decision process
//! reads the [`Decisive`] fields computed once at interning.
//!
//! Freeing is deferred: a set whose count drops to zero stays readable (and can be revived
//! by interning the same set again) until [`AttrStore::collect`], which the RIB calls at the
//! start of each mutating operation. So the ids in a reported change stay valid until the
//! next change to the RIB.

use std::fmt;

use bgp_wire::attr::{code, AttrValue, Community, Origin, PathAttributes};
use bgp_wire::{Context, DecodeError, EncodeError, FamilySet, Message, HEADER_LEN};
use bytes::{BufMut, BytesMut};
use hashbrown::{DefaultHashBuilder, HashTable};
use std::hash::BuildHasher;

use crate::chunked::Chunked;

/// Handle of an interned attribute set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttrId(pub(crate) u32);

impl AttrId {
    /// The raw index (for logs and tests).
    pub fn index(self) -> u32 {
        self.0
    }
}

/// The attributes the decision process (RFC 4271 section 9.1, RFC 4456 section 9) reads,
/// computed once when the set is interned so comparisons never walk the attribute list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decisive {
    /// LOCAL_PREF, or 100 when absent (the common default; RFC 4271 leaves it to policy).
    pub local_pref: u32,
    /// MULTI_EXIT_DISC, or 0 when absent (RFC 4271 section 9.1.2.2 c: a missing MED is
    /// the lowest possible value).
    pub med: u32,
    /// The neighboring AS (first AS of the first non-confederation segment, RFC 4271
    /// section 9.1.2.2 c); 0 for an empty path or one starting with an AS_SET.
    pub neighbor_as: u32,
    /// ORIGINATOR_ID as a number (RFC 4456 section 8), if present.
    pub originator_id: Option<u32>,
    /// AS path length, AS_SET counting one and confederation segments zero (RFC 4271
    /// section 9.1.2.2 a, RFC 5065 section 5.3); saturates at 65535.
    pub as_path_len: u16,
    /// CLUSTER_LIST length (RFC 4456 section 9); saturates at 255.
    pub cluster_list_len: u8,
    /// ORIGIN (IGP when absent).
    pub origin: Origin,
    /// Carries the LLGR_STALE community (RFC 9494 section 4.5): least preferred.
    pub llgr_stale: bool,
    /// Carries the NO_LLGR community (RFC 9494 section 4.5): deleted, not kept, on LLGR.
    pub no_llgr: bool,
}

impl Decisive {
    /// Computes the fields from a set.
    pub fn of(attrs: &PathAttributes) -> Self {
        let path = attrs.as_path();
        let communities = attrs.communities().map(Vec::as_slice).unwrap_or(&[]);
        Decisive {
            local_pref: attrs.local_pref().copied().unwrap_or(100),
            med: attrs.med().copied().unwrap_or(0),
            neighbor_as: path.and_then(|p| p.neighbor_as()).unwrap_or(0),
            originator_id: attrs.originator_id().map(|a| u32::from(*a)),
            as_path_len: path.map_or(0, |p| u16::try_from(p.hops()).unwrap_or(u16::MAX)),
            cluster_list_len: attrs
                .cluster_list()
                .map_or(0, |c| u8::try_from(c.len()).unwrap_or(u8::MAX)),
            origin: attrs.origin().copied().unwrap_or(Origin::Igp),
            llgr_stale: communities.contains(&Community::LLGR_STALE),
            no_llgr: communities.contains(&Community::NO_LLGR),
        }
    }
}

/// Why a set could not be interned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InternError {
    /// The set does not encode (an attribute longer than 65535 bytes).
    Encode(EncodeError),
}

impl fmt::Display for InternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InternError::Encode(e) => write!(f, "attribute set does not encode: {e}"),
        }
    }
}

impl std::error::Error for InternError {}

/// Reference count value marking a free slot.
const FREE: u32 = u32::MAX;

#[derive(Debug)]
struct Slot {
    /// Wire encoding (4-octet AS numbers, without NEXT_HOP, MP_REACH_NLRI, MP_UNREACH_NLRI).
    bytes: Box<[u8]>,
    info: Decisive,
    refs: u32,
}

/// The interning table: a slab of sets addressed by [`AttrId`] plus a hash index over their
/// bytes holding only the ids.
pub struct AttrStore {
    slots: Chunked<Slot>,
    free: Vec<u32>,
    /// Sets whose count reached zero since the last [`AttrStore::collect`].
    dying: Vec<u32>,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    scratch: BytesMut,
    live: usize,
}

impl fmt::Debug for AttrStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttrStore")
            .field("live", &self.live)
            .field("slots", &self.slots.len())
            .finish()
    }
}

impl Default for AttrStore {
    fn default() -> Self {
        Self::new()
    }
}

/// The context sets are encoded in: 4-octet AS numbers, any size.
const STORE_CONTEXT: Context = Context {
    four_octet_as: true,
    add_path: FamilySet::EMPTY,
    extended_message: true,
    ebgp: false,
};

fn is_stripped(type_code: u8) -> bool {
    matches!(
        type_code,
        code::NEXT_HOP | code::MP_REACH_NLRI | code::MP_UNREACH_NLRI
    )
}

impl AttrStore {
    /// An empty store.
    pub fn new() -> Self {
        AttrStore {
            slots: Chunked::default(),
            free: Vec::new(),
            dying: Vec::new(),
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            scratch: BytesMut::with_capacity(256),
            live: 0,
        }
    }

    /// Interns a set (NEXT_HOP, MP_REACH_NLRI and MP_UNREACH_NLRI are left out: next hops
    /// are kept per path), returning its id with one reference taken.
    pub fn intern(&mut self, attrs: &PathAttributes) -> Result<AttrId, InternError> {
        self.scratch.clear();
        attrs
            .encode_without_next_hop(&STORE_CONTEXT, &mut self.scratch)
            .map_err(InternError::Encode)?;
        let hash = self.hasher.hash_one(&self.scratch[..]);
        let slots = &self.slots;
        let bytes = &self.scratch[..];
        if let Some(&i) = self
            .index
            .find(hash, |&i| slots[i as usize].bytes[..] == *bytes)
        {
            self.retain(AttrId(i));
            return Ok(AttrId(i));
        }
        let slot = Slot {
            bytes: self.scratch[..].into(),
            info: Decisive::of(attrs),
            refs: 1,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                i
            }
            None => {
                let i = u32::try_from(self.slots.len()).unwrap_or(FREE);
                self.slots.push(slot);
                i
            }
        };
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index
            .insert_unique(hash, i, |&j| hasher.hash_one(&slots[j as usize].bytes[..]));
        self.live += 1;
        Ok(AttrId(i))
    }

    /// Takes one more reference.
    pub fn retain(&mut self, id: AttrId) {
        if let Some(s) = self.slots.get_mut(id.0 as usize) {
            if s.refs == FREE {
                debug_assert!(false, "retain of freed attribute set {}", id.0);
                return;
            }
            if s.refs == 0 {
                self.live += 1;
            }
            s.refs = s.refs.saturating_add(1).min(FREE - 1);
        }
    }

    /// Drops one reference; the set is freed at the next [`AttrStore::collect`] if nothing
    /// takes it again before.
    pub fn release(&mut self, id: AttrId) {
        if let Some(s) = self.slots.get_mut(id.0 as usize) {
            if s.refs == 0 || s.refs == FREE {
                debug_assert!(false, "release of unreferenced attribute set {}", id.0);
                return;
            }
            s.refs -= 1;
            if s.refs == 0 {
                self.live -= 1;
                self.dying.push(id.0);
            }
        }
    }

    /// Frees the sets nobody references any more.
    pub fn collect(&mut self) {
        for i in std::mem::take(&mut self.dying) {
            let Some(slot) = self.slots.get(i as usize) else {
                continue;
            };
            if slot.refs != 0 {
                continue; // revived, or already freed by an earlier entry of the list
            }
            let hash = self.hasher.hash_one(&slot.bytes[..]);
            if let Ok(entry) = self.index.find_entry(hash, |&j| j == i) {
                entry.remove();
            }
            let slot = &mut self.slots[i as usize];
            slot.bytes = Box::default();
            slot.refs = FREE;
            self.free.push(i);
        }
    }

    /// The decision fields of a set.
    pub fn info(&self, id: AttrId) -> &Decisive {
        &self.slots[id.0 as usize].info
    }

    /// The set's wire encoding (4-octet AS numbers, no NEXT_HOP or MP attributes): can be
    /// copied as is into an UPDATE for a 4-octet AS session.
    pub fn wire(&self, id: AttrId) -> &[u8] {
        &self.slots[id.0 as usize].bytes
    }

    /// The set decoded back into attributes (without NEXT_HOP: the path has it).
    pub fn attributes(&self, id: AttrId) -> Result<PathAttributes, DecodeError> {
        decode_set(self.wire(id))
    }

    /// References held on a set (0 when it waits to be freed).
    pub fn refs(&self, id: AttrId) -> u32 {
        self.slots.get(id.0 as usize).map_or(0, |s| s.refs)
    }

    /// Sets with at least one reference.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether no set is referenced.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }
}

/// Decodes an interned encoding by wrapping it in an UPDATE without NLRI: `bgp-wire` exposes
/// the attribute decoder only through whole messages.
fn decode_set(bytes: &[u8]) -> Result<PathAttributes, DecodeError> {
    let total = HEADER_LEN + 4 + bytes.len();
    let mut msg = BytesMut::with_capacity(total);
    msg.put_slice(&[0xff; 16]);
    msg.put_u16(u16::try_from(total).unwrap_or(u16::MAX));
    msg.put_u8(bgp_wire::kind::UPDATE);
    msg.put_u16(0);
    msg.put_u16(u16::try_from(bytes.len()).unwrap_or(u16::MAX));
    msg.put_slice(bytes);
    match bgp_wire::decode(&msg, &STORE_CONTEXT)? {
        Message::Update(u) => Ok(u.attributes),
        _ => Ok(PathAttributes::default()),
    }
}

/// Whether `value` is one the store keeps with the set (not a next hop or MP attribute).
pub fn is_interned_attribute(value: &AttrValue) -> bool {
    !is_stripped(value.type_code())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp_wire::attr::AsPath;
    use std::net::Ipv4Addr;

    fn set(lp: u32, path: &[u32]) -> PathAttributes {
        PathAttributes::from_values([
            AttrValue::Origin(Origin::Igp),
            AttrValue::AsPath(AsPath::sequence(path)),
            AttrValue::NextHop(Ipv4Addr::new(192, 0, 2, 1)),
            AttrValue::LocalPref(lp),
            AttrValue::Communities(vec![Community::new(65000, 1), Community::LLGR_STALE]),
        ])
    }

    #[test]
    fn shares_equal_sets_and_ignores_next_hop() {
        let mut s = AttrStore::new();
        let a = s.intern(&set(200, &[65001, 65002])).unwrap();
        let mut other_nh = set(200, &[65001, 65002]);
        other_nh.set(AttrValue::NextHop(Ipv4Addr::new(192, 0, 2, 99)));
        let b = s.intern(&other_nh).unwrap();
        assert_eq!(a, b);
        assert_eq!(s.refs(a), 2);
        let c = s.intern(&set(100, &[65001])).unwrap();
        assert_ne!(a, c);
        assert_eq!(s.len(), 2);
        let info = s.info(a);
        assert_eq!(info.local_pref, 200);
        assert_eq!(info.as_path_len, 2);
        assert_eq!(info.neighbor_as, 65001);
        assert!(info.llgr_stale && !info.no_llgr);
    }

    #[test]
    fn decodes_back_without_next_hop() {
        let mut s = AttrStore::new();
        let a = s.intern(&set(200, &[65001, 4_200_000_000])).unwrap();
        let mut want = set(200, &[65001, 4_200_000_000]);
        want.remove(code::NEXT_HOP);
        assert_eq!(s.attributes(a).unwrap(), want);
    }

    #[test]
    fn frees_on_collect_and_revives_before() {
        let mut s = AttrStore::new();
        let a = s.intern(&set(1, &[1])).unwrap();
        s.release(a);
        assert_eq!(s.len(), 0);
        // Still readable, and interning the same set again revives it.
        assert_eq!(s.info(a).local_pref, 1);
        assert_eq!(s.intern(&set(1, &[1])).unwrap(), a);
        s.release(a);
        s.collect();
        assert_eq!(s.refs(a), FREE);
        // The slot is reused.
        let b = s.intern(&set(2, &[2])).unwrap();
        assert_eq!(a, b);
        assert_eq!(s.info(b).local_pref, 2);
        assert_eq!(s.intern(&set(1, &[1])).unwrap().0, 1);
    }
}
