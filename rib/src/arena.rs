//! A byte arena for the interned attribute encodings ([`crate::intern`]): a box per set
//! would cost a 16-byte fat pointer in its slot plus a heap block of its own; here a set is
//! an 8-byte [`Handle`] into large pages.
//!
//! ```text
//! Handle{at, len} ─► pages[at / UNITS_PER_PAGE][(at % UNITS_PER_PAGE) * UNIT ..][..len]
//!                    (or large[at] when len has the LARGE flag)
//! ```
//!
//! Blocks are rounded up to [`UNIT`] bytes and never move. A freed block goes on the free
//! list of its size in units and is reused only by a block of exactly that size: encodings
//! are small and of few sizes, so nothing needs splitting or merging. Encodings above
//! [`MAX_SMALL`] bytes (rare: hundreds of communities) keep a box of their own, so that one
//! page never holds few of them and a free list never holds huge blocks. Pages are kept
//! for reuse while any block is in use, and all given back when none is (a RIB whose peers
//! all went down).

/// Bytes per page.
const PAGE: usize = 64 * 1024;
/// Allocation granularity in bytes. Offsets count units, so a `u32` reaches 16 GiB.
const UNIT: usize = 4;
const UNITS_PER_PAGE: usize = PAGE / UNIT;
/// Largest encoding kept in the pages.
const MAX_SMALL: usize = 4096;
/// Flag in [`Handle::len`]: the bytes are in `large[at]`.
const LARGE: u32 = 1 << 31;
/// Longest encoding the arena takes (no attribute set is anywhere near).
pub(crate) const MAX_LEN: usize = LARGE as usize - 1;

const _: () = assert!(PAGE % UNIT == 0 && MAX_SMALL <= PAGE);

/// Where an encoding is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Handle {
    /// Offset in units into the pages, or index into `large`.
    at: u32,
    /// Length in bytes, with [`LARGE`] set for a boxed encoding.
    len: u32,
}

impl Handle {
    /// The empty encoding: takes no storage.
    pub(crate) const EMPTY: Handle = Handle { at: 0, len: 0 };

    fn is_large(self) -> bool {
        self.len & LARGE != 0
    }

    fn bytes(self) -> usize {
        (self.len & !LARGE) as usize
    }
}

/// The arena. Handles are valid until freed; freeing one twice is a bug of the caller.
#[derive(Debug, Default)]
pub(crate) struct Arena {
    pages: Vec<Box<[u8]>>,
    /// First unused byte of the last page.
    top: usize,
    /// `free[n]`: the free blocks of `n` units (their offsets), grown on the first free.
    free: Vec<Vec<u32>>,
    large: Vec<Box<[u8]>>,
    /// Unused entries of `large`.
    large_free: Vec<u32>,
    /// Blocks in use (small and large).
    used: usize,
}

/// The page and byte offset of a unit offset.
fn split(at: u32) -> (usize, usize) {
    let at = at as usize;
    (at / UNITS_PER_PAGE, (at % UNITS_PER_PAGE) * UNIT)
}

impl Arena {
    /// Stores a copy of `bytes`; `None` only if it is longer than [`MAX_LEN`].
    pub(crate) fn alloc(&mut self, bytes: &[u8]) -> Option<Handle> {
        let len = u32::try_from(bytes.len()).ok().filter(|&l| l < LARGE)?;
        if bytes.is_empty() {
            return Some(Handle::EMPTY);
        }
        if bytes.len() <= MAX_SMALL {
            // `None` once the unit offsets run out (16 GiB): fall back to a box.
            if let Some(at) = self.block(bytes.len().div_ceil(UNIT)) {
                let (p, o) = split(at);
                self.pages[p][o..o + bytes.len()].copy_from_slice(bytes);
                self.used += 1;
                return Some(Handle { at, len });
            }
        }
        let boxed: Box<[u8]> = bytes.into();
        let at = match self.large_free.pop() {
            Some(i) => {
                self.large[i as usize] = boxed;
                i
            }
            None => {
                let i = u32::try_from(self.large.len()).ok()?;
                self.large.push(boxed);
                i
            }
        };
        self.used += 1;
        Some(Handle {
            at,
            len: len | LARGE,
        })
    }

    /// A block of `units` units: a free one of that size, else the next in the last page.
    fn block(&mut self, units: usize) -> Option<u32> {
        if let Some(at) = self.free.get_mut(units).and_then(Vec::pop) {
            return Some(at);
        }
        if self.pages.is_empty() || self.top + units * UNIT > PAGE {
            // Every unit of the new page must have a u32 offset.
            u32::try_from((self.pages.len() + 1) * UNITS_PER_PAGE - 1).ok()?;
            // The rest of the last page becomes a free block of its size.
            let rest = (PAGE - self.top) / UNIT;
            if !self.pages.is_empty() && rest > 0 {
                let at = (self.pages.len() - 1) * UNITS_PER_PAGE + self.top / UNIT;
                self.put(u32::try_from(at).ok()?, rest);
            }
            self.pages.push(vec![0; PAGE].into_boxed_slice());
            self.top = 0;
        }
        let at = (self.pages.len() - 1) * UNITS_PER_PAGE + self.top / UNIT;
        self.top += units * UNIT;
        u32::try_from(at).ok()
    }

    fn put(&mut self, at: u32, units: usize) {
        if self.free.len() <= units {
            self.free.resize_with(units + 1, Vec::new);
        }
        self.free[units].push(at);
    }

    /// Gives a block back for reuse.
    pub(crate) fn free(&mut self, h: Handle) {
        if h.is_large() {
            if let Some(b) = self.large.get_mut(h.at as usize) {
                *b = Box::default();
                self.large_free.push(h.at);
            }
        } else if h.len != 0 {
            self.put(h.at, h.bytes().div_ceil(UNIT));
        } else {
            return;
        }
        self.used = self.used.saturating_sub(1);
        if self.used == 0 {
            // Nothing points into the pages any more.
            *self = Arena::default();
        }
    }

    /// The bytes of a handle.
    pub(crate) fn get(&self, h: Handle) -> &[u8] {
        if h.is_large() {
            return self
                .large
                .get(h.at as usize)
                .map(|b| &b[..])
                .unwrap_or_default();
        }
        if h.len == 0 {
            return &[];
        }
        let (p, o) = split(h.at);
        &self.pages[p][o..o + h.bytes()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bytes(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| seed.wrapping_add(u8::try_from(i % 256).unwrap()))
            .collect()
    }

    #[test]
    fn stores_frees_and_reuses_by_size() {
        let mut a = Arena::default();
        assert_eq!(a.alloc(&[]), Some(Handle::EMPTY));
        assert_eq!(a.get(Handle::EMPTY), &[] as &[u8]);
        let units = |len: usize| u32::try_from(len.div_ceil(UNIT)).unwrap();
        let x = a.alloc(&bytes(41, 1)).unwrap();
        let y = a.alloc(&bytes(17, 2)).unwrap();
        assert_eq!(a.get(x), bytes(41, 1));
        assert_eq!(a.get(y), bytes(17, 2));
        assert_eq!((x.at, y.at), (0, units(41)));
        a.free(x);
        // A block of another size does not take it, one of the same size does.
        let z = a.alloc(&bytes(20, 3)).unwrap();
        assert_eq!(z.at, units(41) + units(17));
        let same = 41usize.div_ceil(UNIT) * UNIT;
        let w = a.alloc(&bytes(same, 4)).unwrap();
        assert_eq!(w.at, 0);
        assert_eq!(a.get(w), bytes(same, 4));
        assert_eq!(a.get(y), bytes(17, 2));
        assert_eq!(a.get(z), bytes(20, 3));
        a.free(Handle::EMPTY); // nothing to give back
        assert_eq!(a.pages.len(), 1);
        for h in [y, z, w] {
            a.free(h);
        }
        // All given back: a fresh arena.
        assert!(a.pages.is_empty() && a.free.is_empty());
        assert_eq!(a.alloc(&bytes(10, 8)).unwrap().at, 0);
    }

    #[test]
    fn large_encodings_have_their_own_box() {
        let mut a = Arena::default();
        let small = a.alloc(&bytes(MAX_SMALL, 5)).unwrap();
        let big = a.alloc(&bytes(MAX_SMALL + 1, 6)).unwrap();
        assert!(!small.is_large() && big.is_large());
        assert_eq!(a.get(small), bytes(MAX_SMALL, 5));
        assert_eq!(a.get(big), bytes(MAX_SMALL + 1, 6));
        a.free(big);
        assert_eq!(a.large.len(), 1);
        assert_eq!(a.pages.len(), 1); // `small` holds them
        assert!(a.large[0].is_empty());
        let again = a.alloc(&bytes(100_000, 7)).unwrap();
        assert_eq!(again.at, big.at);
        assert_eq!(a.get(again), bytes(100_000, 7));
        assert_eq!(a.get(small), bytes(MAX_SMALL, 5));
    }

    #[test]
    fn page_tails_are_reused() {
        let mut a = Arena::default();
        // 15 blocks of 4096 bytes, then 4000 fit in the first page, 4096 more do not.
        let full: Vec<_> = (0..15)
            .map(|i| a.alloc(&bytes(MAX_SMALL, i)).unwrap())
            .collect();
        let part = a.alloc(&bytes(4000, 20)).unwrap();
        let next = a.alloc(&bytes(MAX_SMALL, 21)).unwrap();
        assert_eq!(a.pages.len(), 2);
        assert_eq!(split(next.at), (1, 0));
        // The 96 bytes left at the end of page 0 serve a block of that size.
        let tail = a.alloc(&bytes(96 - UNIT + 1, 22)).unwrap();
        assert_eq!(split(tail.at), (0, PAGE - 96));
        for (i, h) in full.iter().enumerate() {
            assert_eq!(a.get(*h), bytes(MAX_SMALL, u8::try_from(i).unwrap()));
        }
        assert_eq!(a.get(part), bytes(4000, 20));
        assert_eq!(a.get(next), bytes(MAX_SMALL, 21));
        assert_eq!(a.get(tail), bytes(96 - UNIT + 1, 22));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Against a list of byte vectors: every live handle reads back what was stored,
        /// through frees and reuse, over several pages and the large boxes.
        #[test]
        fn matches_a_model(
            ops in proptest::collection::vec(
                (any::<bool>(), prop_oneof![8 => 0usize..130, 1 => 0usize..2 * MAX_SMALL], any::<u8>()),
                1..3000,
            ),
        ) {
            let mut a = Arena::default();
            let mut live: Vec<(Handle, Vec<u8>)> = Vec::new();
            for (free, len, seed) in ops {
                if free && !live.is_empty() {
                    let (h, _) = live.swap_remove(usize::from(seed) % live.len());
                    a.free(h);
                } else {
                    let b = bytes(len, seed);
                    let h = a.alloc(&b).unwrap();
                    live.push((h, b));
                }
                if let Some((h, b)) = live.last() {
                    prop_assert_eq!(a.get(*h), &b[..]);
                }
            }
            for (h, b) in &live {
                prop_assert_eq!(a.get(*h), &b[..]);
            }
            prop_assert_eq!(a.used, live.iter().filter(|(h, _)| h.len != 0).count());
            // No two live blocks overlap.
            let mut spans: Vec<(usize, usize)> = live
                .iter()
                .filter(|(h, _)| !h.is_large() && h.len != 0)
                .map(|(h, _)| {
                    let at = h.at as usize * UNIT;
                    (at, at + h.bytes().div_ceil(UNIT) * UNIT)
                })
                .collect();
            spans.sort_unstable();
            for w in spans.windows(2) {
                prop_assert!(w[0].1 <= w[1].0, "{:?} overlaps {:?}", w[0], w[1]);
            }
        }
    }
}
