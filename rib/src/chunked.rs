//! A vector grown in fixed chunks rather than by doubling: the slabs of the RIB (attribute
//! sets, dests) are its largest vectors after the tries, and doubling would leave up to half
//! of each unused. Growth never moves elements either, so a push costs no copy of the whole.

/// Elements per chunk.
pub(crate) const CHUNK: usize = 4096;

/// A push-only vector of chunks of [`CHUNK`] elements; at most one chunk is partly unused.
#[derive(Debug)]
pub(crate) struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Chunked<T> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn push(&mut self, v: T) {
        if self.len % CHUNK == 0 {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        if let Some(c) = self.chunks.last_mut() {
            c.push(v);
            self.len += 1;
        }
    }

    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        self.chunks.get(i / CHUNK)?.get(i % CHUNK)
    }

    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.chunks.get_mut(i / CHUNK)?.get_mut(i % CHUNK)
    }

    /// Bytes allocated (elements and the chunk list).
    pub(crate) fn mem_size(&self) -> usize {
        self.chunks.capacity() * std::mem::size_of::<Vec<T>>()
            + self.chunks.len() * CHUNK * std::mem::size_of::<T>()
    }
}

impl<T> std::ops::Index<usize> for Chunked<T> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        &self.chunks[i / CHUNK][i % CHUNK]
    }
}

impl<T> std::ops::IndexMut<usize> for Chunked<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.chunks[i / CHUNK][i % CHUNK]
    }
}

/// Ids per chunk of a [`Sparse`] array.
pub(crate) const SPARSE_CHUNK: usize = 1024;

/// Elements a chunk keeps as a sorted list before it becomes an array (at 16 bytes an
/// entry, a list of 128 costs a sixth of a 1024-element array of 12-byte elements).
const FEW: usize = 128;

const _: () = assert!(SPARSE_CHUNK <= 1 << 16); // offsets in a chunk fit a u16

#[derive(Debug)]
enum Chunk<T> {
    Nothing,
    /// The non-empty elements with their offsets in the chunk, sorted by offset.
    Few(Vec<(u16, T)>),
    /// Every element, and how many are non-empty.
    Dense(Box<[T; SPARSE_CHUNK]>, u16),
}

/// A sparse array indexed by dest id, in chunks of [`SPARSE_CHUNK`] ids, each nothing, a
/// short sorted list, or a full array depending on how many non-empty elements it holds:
/// a group told a full table pays the elements and little more, a group told a few
/// prefixes scattered over the id space pays about a list entry each.
#[derive(Debug)]
pub(crate) struct Sparse<T> {
    chunks: Vec<Chunk<T>>,
    empty: T,
}

fn offset(j: usize) -> u16 {
    u16::try_from(j).unwrap_or(u16::MAX)
}

impl<T: Copy + PartialEq> Sparse<T> {
    /// An array of `empty` values.
    pub(crate) fn new(empty: T) -> Self {
        Sparse {
            chunks: Vec::new(),
            empty,
        }
    }

    /// The element (the empty value where nothing was stored).
    pub(crate) fn get(&self, i: usize) -> &T {
        let j = i % SPARSE_CHUNK;
        match self.chunks.get(i / SPARSE_CHUNK) {
            Some(Chunk::Few(list)) => match list.binary_search_by_key(&offset(j), |e| e.0) {
                Ok(k) => &list[k].1,
                Err(_) => &self.empty,
            },
            Some(Chunk::Dense(a, _)) => &a[j],
            _ => &self.empty,
        }
    }

    /// Stores an element.
    pub(crate) fn set(&mut self, i: usize, v: T) {
        let (c, j) = (i / SPARSE_CHUNK, i % SPARSE_CHUNK);
        let empty = self.empty;
        if self.chunks.len() <= c {
            if v == empty {
                return;
            }
            self.chunks.resize_with(c + 1, || Chunk::Nothing);
        }
        let chunk = &mut self.chunks[c];
        match chunk {
            Chunk::Nothing => {
                if v != empty {
                    *chunk = Chunk::Few(vec![(offset(j), v)]);
                }
            }
            Chunk::Few(list) => match list.binary_search_by_key(&offset(j), |e| e.0) {
                Ok(k) if v == empty => {
                    list.remove(k);
                    if list.is_empty() {
                        *chunk = Chunk::Nothing;
                    }
                }
                Ok(k) => list[k].1 = v,
                Err(_) if v == empty => {}
                Err(k) if list.len() < FEW => list.insert(k, (offset(j), v)),
                Err(_) => {
                    let mut a = Box::new([empty; SPARSE_CHUNK]);
                    for &(o, x) in list.iter() {
                        a[usize::from(o)] = x;
                    }
                    a[j] = v;
                    let used = u16::try_from(list.len() + 1).unwrap_or(u16::MAX);
                    *chunk = Chunk::Dense(a, used);
                }
            },
            Chunk::Dense(a, used) => {
                let was = std::mem::replace(&mut a[j], v) != empty;
                match (was, v != empty) {
                    (false, true) => *used += 1,
                    (true, false) => {
                        *used -= 1;
                        // Back to a list well below the threshold, so that one prefix
                        // flapping at the boundary does not convert the chunk each time.
                        if usize::from(*used) < FEW / 2 {
                            let list: Vec<(u16, T)> = (0..SPARSE_CHUNK)
                                .filter(|&o| a[o] != empty)
                                .map(|o| (offset(o), a[o]))
                                .collect();
                            *chunk = if list.is_empty() {
                                Chunk::Nothing
                            } else {
                                Chunk::Few(list)
                            };
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// Calls `f` on every non-empty element, with its index.
    pub(crate) fn for_each(&self, mut f: impl FnMut(usize, &T)) {
        for (c, chunk) in self.chunks.iter().enumerate() {
            let base = c * SPARSE_CHUNK;
            match chunk {
                Chunk::Nothing => {}
                Chunk::Few(list) => {
                    for (o, v) in list {
                        f(base + usize::from(*o), v);
                    }
                }
                Chunk::Dense(a, _) => {
                    for (o, v) in a.iter().enumerate() {
                        if *v != self.empty {
                            f(base + o, v);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_lists_then_arrays_then_lists_again() {
        let mut s = Sparse::new(0u32);
        let base = 5 * SPARSE_CHUNK;
        s.set(base + 3, 0);
        assert!(s.chunks.is_empty());
        s.set(base + 3, 7);
        s.set(base + 4, 8);
        s.set(base + 4, 9);
        assert_eq!(*s.get(base + 3), 7);
        assert_eq!(*s.get(base + 5), 0);
        assert_eq!(*s.get(9 * SPARSE_CHUNK), 0);
        assert!(matches!(s.chunks[5], Chunk::Few(ref l) if l.len() == 2));
        // Fill past the list threshold (descending, so the list inserts in front).
        for o in (10..10 + FEW).rev() {
            s.set(base + o, u32::try_from(o).unwrap());
        }
        assert!(matches!(s.chunks[5], Chunk::Dense(_, n) if usize::from(n) == FEW + 2));
        let mut all = Vec::new();
        s.for_each(|i, v| all.push((i, *v)));
        assert_eq!(all.len(), FEW + 2);
        assert_eq!(all[..3], [(base + 3, 7), (base + 4, 9), (base + 10, 10)]);
        for o in 10..10 + FEW {
            assert_eq!(*s.get(base + o), u32::try_from(o).unwrap());
            s.set(base + o, 0);
        }
        assert!(matches!(s.chunks[5], Chunk::Few(ref l) if l.len() == 2));
        assert_eq!((*s.get(base + 3), *s.get(base + 4)), (7, 9));
        s.set(base + 3, 0);
        s.set(base + 4, 0);
        assert!(matches!(s.chunks[5], Chunk::Nothing));
        let mut n = 0;
        s.for_each(|_, _| n += 1);
        assert_eq!(n, 0);
    }

    use proptest::strategy::Strategy;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Against a map, through list/array conversions both ways (values 0 are empty;
        /// the drain empties everything in a random order).
        #[test]
        fn sparse_matches_a_map(
            fill in proptest::collection::vec((0..2 * SPARSE_CHUNK, 0u32..4), 1..2000),
            drain in proptest::strategy::Just((0..2 * SPARSE_CHUNK).collect::<Vec<_>>())
                .prop_shuffle(),
        ) {
            let mut s = Sparse::new(0u32);
            let mut m = std::collections::BTreeMap::new();
            let kind = |s: &Sparse<u32>, c: usize| {
                s.chunks.get(c).map(std::mem::discriminant)
            };
            let phases = [fill, drain.into_iter().map(|i| (i, 0)).collect()];
            for ops in phases {
                for (i, v) in ops {
                    let c = i / SPARSE_CHUNK;
                    let before = kind(&s, c);
                    s.set(i, v);
                    if v == 0 {
                        m.remove(&i);
                    } else {
                        m.insert(i, v);
                    }
                    // A conversion rewrites the whole chunk: check all of it then.
                    let range = if kind(&s, c) == before {
                        i..i + 1
                    } else {
                        c * SPARSE_CHUNK..(c + 1) * SPARSE_CHUNK
                    };
                    for i in range {
                        proptest::prop_assert_eq!(*s.get(i), m.get(&i).copied().unwrap_or(0));
                    }
                }
                for i in 0..3 * SPARSE_CHUNK {
                    proptest::prop_assert_eq!(*s.get(i), m.get(&i).copied().unwrap_or(0));
                }
                let mut all = Vec::new();
                s.for_each(|i, v| all.push((i, *v)));
                proptest::prop_assert_eq!(all, m.iter().map(|(&i, &v)| (i, v)).collect::<Vec<_>>());
            }
        }
    }
}
