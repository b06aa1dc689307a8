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
//! Storage: the encodings live in a byte arena (`arena.rs`), and each distinct
//! [`Decisive`] once in a table of its own, shared by all the sets that have it (sets differ
//! in communities and transit ASes far more than in the decision fields), so a set costs a
//! 16-byte slot, its encoding and its index entry.
//!
//! ```text
//! AttrId ─► Slot{bytes: Handle, info, refs} ─► arena: encoding
//!                                  └─► infos[info]: Decisive, sets sharing it
//! ```
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

use crate::arena::{Arena, Handle, MAX_LEN};
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InternError {
    /// The set does not encode (an attribute longer than 65535 bytes).
    #[error("attribute set does not encode: {0}")]
    Encode(EncodeError),
}

/// The part of an encoding's hash kept per set.
fn short_hash(hasher: &DefaultHashBuilder, bytes: &[u8]) -> u32 {
    u32::try_from(hasher.hash_one(bytes) >> 32).unwrap_or_default()
}

/// The index's hash from the kept part: an odd multiplier spreads the 32 bits over the
/// high bits the table tags entries with and the low bits it places them by.
fn table_hash(short: u32) -> u64 {
    u64::from(short).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Reference count value marking a free slot.
const FREE: u32 = u32::MAX;

/// A slot's `info` when the set was interned unranked (no shared entry).
const UNRANKED: u32 = u32::MAX;

/// What [`AttrStore::info`] reads for an unranked set: the defaults of a bare set.
static UNRANKED_INFO: Decisive = Decisive {
    local_pref: 100,
    med: 0,
    neighbor_as: 0,
    originator_id: None,
    as_path_len: 0,
    cluster_list_len: 0,
    origin: Origin::Igp,
    llgr_stale: false,
    no_llgr: false,
};

#[derive(Debug)]
struct Slot {
    /// Wire encoding (4-octet AS numbers, without NEXT_HOP, MP_REACH_NLRI, MP_UNREACH_NLRI).
    bytes: Handle,
    /// Index of its decision fields in `infos`.
    info: u32,
    refs: u32,
}

/// A distinct [`Decisive`] and how many allocated (live or dying) slots point at it.
#[derive(Debug)]
struct Shared {
    info: Decisive,
    sets: u32,
}

fn hash_info(hasher: &DefaultHashBuilder, d: &Decisive) -> u64 {
    hasher.hash_one(d)
}

/// The interning table: a slab of sets addressed by [`AttrId`] plus a hash index over their
/// bytes holding only the ids.
pub struct AttrStore {
    slots: Chunked<Slot>,
    free: Vec<u32>,
    /// Sets whose count reached zero since the last [`AttrStore::collect`].
    dying: Vec<u32>,
    index: HashTable<u32>,
    /// 32 bits of each set's hash, by id: growing `index` rehashes from these instead of
    /// reading and hashing every encoding again (that was 6 % of loading a full table).
    hashes: Chunked<u32>,
    hasher: DefaultHashBuilder,
    scratch: BytesMut,
    live: usize,
    arena: Arena,
    /// The distinct decision fields, indexed by `Slot::info`.
    infos: Chunked<Shared>,
    infos_free: Vec<u32>,
    infos_index: HashTable<u32>,
}

impl fmt::Debug for AttrStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttrStore")
            .field("live", &self.live)
            .field("slots", &self.slots.len())
            .field("infos", &self.infos.len())
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
            hashes: Chunked::default(),
            hasher: DefaultHashBuilder::default(),
            scratch: BytesMut::with_capacity(256),
            live: 0,
            arena: Arena::default(),
            infos: Chunked::default(),
            infos_free: Vec::new(),
            infos_index: HashTable::new(),
        }
    }

    /// Interns a set (NEXT_HOP, MP_REACH_NLRI and MP_UNREACH_NLRI are left out: next hops
    /// are kept per path), returning its id with one reference taken.
    pub fn intern(&mut self, attrs: &PathAttributes) -> Result<AttrId, InternError> {
        self.intern_as(attrs, true)
    }

    /// Interns a set that no decision will rank (one rewritten for export): its decision
    /// fields are not computed or shared, which for a reflector is one shared entry saved
    /// per exported set. [`AttrStore::info`] reads defaults for it until the same set is
    /// interned with [`AttrStore::intern`].
    pub fn intern_unranked(&mut self, attrs: &PathAttributes) -> Result<AttrId, InternError> {
        self.intern_as(attrs, false)
    }

    /// Interns a set given as its stored encoding (what [`AttrStore::wire`] returns, for
    /// example rewritten for export without decoding it), unranked like
    /// [`AttrStore::intern_unranked`]. `wire` must be such an encoding: 4-octet AS numbers,
    /// no NEXT_HOP or MP attributes, each attribute as [`PathAttributes`] encodes it.
    pub fn intern_wire_unranked(&mut self, wire: &[u8]) -> Result<AttrId, InternError> {
        self.intern_encoded(wire, None)
    }

    fn intern_as(&mut self, attrs: &PathAttributes, ranked: bool) -> Result<AttrId, InternError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let interned = match attrs.encode_without_next_hop(&STORE_CONTEXT, &mut scratch) {
            Ok(()) => self.intern_encoded(&scratch, ranked.then_some(attrs)),
            Err(e) => Err(InternError::Encode(e)),
        };
        self.scratch = scratch;
        interned
    }

    /// Interns an encoding; `ranked` is the decoded set when its decision fields are
    /// wanted.
    fn intern_encoded(
        &mut self,
        bytes: &[u8],
        ranked: Option<&PathAttributes>,
    ) -> Result<AttrId, InternError> {
        let short = short_hash(&self.hasher, bytes);
        let hash = table_hash(short);
        let (slots, arena) = (&self.slots, &self.arena);
        if let Some(&i) = self
            .index
            .find(hash, |&i| arena.get(slots[i as usize].bytes) == bytes)
        {
            self.retain(AttrId(i));
            if let Some(attrs) = ranked {
                if self.slots[i as usize].info == UNRANKED {
                    let info = self.share(Decisive::of(attrs));
                    self.slots[i as usize].info = info;
                }
            }
            return Ok(AttrId(i));
        }
        let too_long = EncodeError::TooLong {
            what: "attribute set",
            len: bytes.len(),
            max: MAX_LEN,
        };
        let stored = self
            .arena
            .alloc(bytes)
            .ok_or(InternError::Encode(too_long))?;
        let slot = Slot {
            bytes: stored,
            info: match ranked {
                Some(attrs) => self.share(Decisive::of(attrs)),
                None => UNRANKED,
            },
            refs: 1,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                self.hashes[i as usize] = short;
                i
            }
            None => {
                let i = u32::try_from(self.slots.len()).unwrap_or(FREE);
                self.slots.push(slot);
                self.hashes.push(short);
                i
            }
        };
        let hashes = &self.hashes;
        self.index
            .insert_unique(hash, i, |&j| table_hash(hashes[j as usize]));
        self.live += 1;
        Ok(AttrId(i))
    }

    /// The index of `info` in the shared table, counting one more set on it.
    fn share(&mut self, info: Decisive) -> u32 {
        let hash = hash_info(&self.hasher, &info);
        let infos = &self.infos;
        if let Some(&j) = self
            .infos_index
            .find(hash, |&j| infos[j as usize].info == info)
        {
            let e = &mut self.infos[j as usize];
            e.sets = e.sets.saturating_add(1);
            return j;
        }
        let e = Shared { info, sets: 1 };
        let j = match self.infos_free.pop() {
            Some(j) => {
                self.infos[j as usize] = e;
                j
            }
            None => {
                let j = u32::try_from(self.infos.len()).unwrap_or(FREE);
                self.infos.push(e);
                j
            }
        };
        let (infos, hasher) = (&self.infos, &self.hasher);
        self.infos_index
            .insert_unique(hash, j, |&k| hash_info(hasher, &infos[k as usize].info));
        j
    }

    /// Counts one set less on a shared entry, freeing it with the last.
    fn unshare(&mut self, j: u32) {
        let Some(e) = self.infos.get_mut(j as usize) else {
            return;
        };
        e.sets = e.sets.saturating_sub(1);
        if e.sets == 0 {
            let hash = hash_info(&self.hasher, &e.info);
            if let Ok(entry) = self.infos_index.find_entry(hash, |&k| k == j) {
                entry.remove();
            }
            self.infos_free.push(j);
        }
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
            let hash = table_hash(self.hashes[i as usize]);
            if let Ok(entry) = self.index.find_entry(hash, |&j| j == i) {
                entry.remove();
            }
            let slot = &mut self.slots[i as usize];
            let (bytes, info) = (slot.bytes, slot.info);
            // A freed slot reads as an empty set, as before the arena; its `info` is stale.
            slot.bytes = Handle::EMPTY;
            slot.refs = FREE;
            self.arena.free(bytes);
            self.unshare(info);
            self.free.push(i);
        }
    }

    /// The decision fields of a set.
    pub fn info(&self, id: AttrId) -> &Decisive {
        match self.slots[id.0 as usize].info {
            UNRANKED => &UNRANKED_INFO,
            j => &self.infos[j as usize].info,
        }
    }

    /// Whether the set has decision fields (was interned with [`AttrStore::intern`]).
    pub fn is_ranked(&self, id: AttrId) -> bool {
        self.slots
            .get(id.0 as usize)
            .is_some_and(|s| s.info != UNRANKED)
    }

    /// The set's wire encoding (4-octet AS numbers, no NEXT_HOP or MP attributes): can be
    /// copied as is into an UPDATE for a 4-octet AS session.
    pub fn wire(&self, id: AttrId) -> &[u8] {
        self.arena.get(self.slots[id.0 as usize].bytes)
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
    fn intern_error_message() {
        let e = InternError::Encode(EncodeError::TooLong {
            what: "attribute",
            len: 70000,
            max: 65535,
        });
        assert_eq!(
            e.to_string(),
            "attribute set does not encode: attribute is 70000 bytes, more than the 65535 that fit"
        );
        // The cause is in the message, not a separate source.
        assert!(std::error::Error::source(&e).is_none());
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

    #[test]
    fn shares_decision_fields_between_sets() {
        let mut s = AttrStore::new();
        // Other transit AS, same decision fields.
        let a = s.intern(&set(200, &[65001, 65002])).unwrap();
        let b = s.intern(&set(200, &[65001, 65003])).unwrap();
        assert_ne!(a, b);
        assert_eq!(s.slots[a.0 as usize].info, s.slots[b.0 as usize].info);
        let c = s.intern(&set(300, &[65001, 65002])).unwrap();
        assert_eq!(s.infos.len(), 2);
        s.release(a);
        s.collect();
        assert_eq!(s.info(b).local_pref, 200);
        assert!(s.infos_free.is_empty());
        s.release(b);
        s.collect();
        assert_eq!(s.infos_free.len(), 1);
        // The freed entry serves the next new fields.
        let d = s.intern(&set(400, &[1])).unwrap();
        assert_eq!(s.infos.len(), 2);
        assert_eq!((s.info(d).local_pref, s.info(c).local_pref), (400, 300));
    }

    #[test]
    fn large_sets_and_freed_ones_read_back() {
        let mut s = AttrStore::new();
        let mut big = set(1, &[1]);
        big.set(AttrValue::Communities(
            (0..3000).map(|i| Community::new(1, i)).collect(),
        ));
        let a = s.intern(&big).unwrap();
        assert!(s.wire(a).len() > 12_000);
        big.remove(code::NEXT_HOP);
        assert_eq!(s.attributes(a).unwrap(), big);
        s.release(a);
        s.collect();
        assert!(s.wire(a).is_empty());
    }

    /// Set `k` of the model: four sizes of AS path, three LOCAL_PREFs (so sets share
    /// decision fields), and from 20 on an encoding too large for the arena's pages.
    fn model_set(k: u8) -> PathAttributes {
        let path: Vec<u32> = (0..=u32::from(k % 4)).map(|i| 65000 + i).collect();
        let mut a = set(u32::from(k % 3), &path);
        let n = if k >= 20 { 1100 } else { u16::from(k) };
        a.set(AttrValue::Communities(
            (0..n).map(|i| Community::new(2, i)).collect(),
        ));
        a
    }

    #[derive(Debug, Clone)]
    enum Op {
        Intern(u8),
        InternUnranked(u8),
        InternWire(u8),
        Release(usize),
        Collect,
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (0u8..24).prop_map(Op::Intern),
            2 => (0u8..24).prop_map(Op::InternUnranked),
            1 => (0u8..24).prop_map(Op::InternWire),
            3 => any::<usize>().prop_map(Op::Release),
            1 => Just(Op::Collect),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Against a list of the references held: ids, counts, bytes and decision fields
        /// stay right through deferred frees, revivals and reuse; a set interned unranked
        /// only reads the defaults, and gets its own fields once interned ranked.
        #[test]
        fn matches_a_model(ops in proptest::collection::vec(op(), 1..300)) {
            use proptest::prop_assert_eq;
            let mut s = AttrStore::new();
            let mut held: Vec<(AttrId, u8)> = Vec::new();
            // Sets interned ranked since their slot was allocated.
            let mut ranked: Vec<u8> = Vec::new();
            for op in ops {
                match op {
                    Op::Intern(k) | Op::InternUnranked(k) | Op::InternWire(k) => {
                        let id = match op {
                            Op::Intern(_) => {
                                if !ranked.contains(&k) {
                                    ranked.push(k);
                                }
                                s.intern(&model_set(k)).unwrap()
                            }
                            Op::InternUnranked(_) => s.intern_unranked(&model_set(k)).unwrap(),
                            _ => {
                                let mut wire = BytesMut::new();
                                model_set(k).encode_without_next_hop(&STORE_CONTEXT, &mut wire).unwrap();
                                s.intern_wire_unranked(&wire).unwrap()
                            }
                        };
                        if let Some(&(same, _)) = held.iter().find(|h| h.1 == k) {
                            prop_assert_eq!(id, same);
                        }
                        held.push((id, k));
                    }
                    Op::Release(i) if !held.is_empty() => {
                        let (id, _) = held.swap_remove(i % held.len());
                        s.release(id);
                    }
                    Op::Release(_) => {}
                    Op::Collect => {
                        s.collect();
                        ranked.retain(|k| held.iter().any(|h| h.1 == *k));
                    }
                }
                let mut distinct: Vec<u8> = held.iter().map(|h| h.1).collect();
                distinct.sort_unstable();
                distinct.dedup();
                prop_assert_eq!(s.len(), distinct.len());
                for &(id, k) in &held {
                    let attrs = model_set(k);
                    let mut want = BytesMut::new();
                    attrs.encode_without_next_hop(&STORE_CONTEXT, &mut want).unwrap();
                    prop_assert_eq!(s.wire(id), &want[..]);
                    let info = if ranked.contains(&k) {
                        Decisive::of(&attrs)
                    } else {
                        UNRANKED_INFO
                    };
                    prop_assert_eq!(*s.info(id), info);
                    let n = held.iter().filter(|h| h.1 == k).count();
                    prop_assert_eq!(s.refs(id) as usize, n);
                }
            }
            s.collect();
            // One shared entry per distinct decision fields of ranked sets still in use.
            let mut unique: Vec<Decisive> = Vec::new();
            for &(id, k) in &held {
                if ranked.contains(&k) && !unique.contains(s.info(id)) {
                    unique.push(*s.info(id));
                }
            }
            prop_assert_eq!(s.infos.len() - s.infos_free.len(), unique.len());
        }
    }
}
