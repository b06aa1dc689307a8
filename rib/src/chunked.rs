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

/// A sparse array of [`CHUNK`]-element chunks, each allocated (filled with a given value) on
/// the first write into it: indexed by dest id, it costs nothing for the ranges of ids never
/// written.
#[derive(Debug)]
pub(crate) struct Sparse<T> {
    chunks: Vec<Option<Box<[T]>>>,
}

impl<T> Default for Sparse<T> {
    fn default() -> Self {
        Sparse { chunks: Vec::new() }
    }
}

impl<T: Copy> Sparse<T> {
    /// The element, `None` when its chunk was never written.
    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        self.chunks.get(i / CHUNK)?.as_ref()?.get(i % CHUNK)
    }

    /// The element, allocating its chunk filled with `fill` first if needed.
    pub(crate) fn get_or_fill(&mut self, i: usize, fill: T) -> &mut T {
        let c = i / CHUNK;
        if self.chunks.len() <= c {
            self.chunks.resize_with(c + 1, || None);
        }
        let chunk = self.chunks[c].get_or_insert_with(|| vec![fill; CHUNK].into_boxed_slice());
        &mut chunk[i % CHUNK]
    }

    /// The element, `None` when its chunk was never written.
    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.chunks.get_mut(i / CHUNK)?.as_mut()?.get_mut(i % CHUNK)
    }

    /// Every element of the allocated chunks, with its index.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &T)> {
        self.chunks.iter().enumerate().flat_map(|(c, chunk)| {
            chunk
                .iter()
                .flat_map(|ch| ch.iter())
                .enumerate()
                .map(move |(j, v)| (c * CHUNK + j, v))
        })
    }
}
