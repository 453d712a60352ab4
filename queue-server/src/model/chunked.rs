//! Append-only storage in fixed-size chunks.
//!
//! A queue's line grows to millions of entries during a sale, and it grows
//! while joins hold the queue's write lock. A `Vec` doubles by copying all
//! of it (hundreds of megabytes at the peak) inside that lock, which shows
//! up as joins stalling for tens of milliseconds. Chunks never move: growing
//! is one allocation of a new chunk and a push of its pointer.

const CHUNK: usize = 1 << 14;

#[derive(Debug, Clone)]
pub(super) struct ChunkedVec<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for ChunkedVec<T> {
    fn default() -> Self {
        ChunkedVec {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> ChunkedVec<T> {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn push(&mut self, value: T) {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        // The last chunk exists and has room: it was just pushed or is not full.
        if let Some(last) = self.chunks.last_mut() {
            last.push(value);
            self.len += 1;
        }
    }

    pub(super) fn get(&self, index: usize) -> Option<&T> {
        self.chunks.get(index / CHUNK)?.get(index % CHUNK)
    }

    pub(super) fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        self.chunks.get_mut(index / CHUNK)?.get_mut(index % CHUNK)
    }
}

/// Indexing panics out of bounds, like a `Vec`'s: callers index only
/// sequence numbers the line handed out.
impl<T> std::ops::Index<usize> for ChunkedVec<T> {
    type Output = T;
    fn index(&self, index: usize) -> &T {
        &self.chunks[index / CHUNK][index % CHUNK]
    }
}

impl<T> std::ops::IndexMut<usize> for ChunkedVec<T> {
    fn index_mut(&mut self, index: usize) -> &mut T {
        &mut self.chunks[index / CHUNK][index % CHUNK]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_across_chunk_boundaries() {
        let mut v = ChunkedVec::default();
        for i in 0..(CHUNK * 2 + 5) {
            v.push(i);
        }
        assert_eq!(v.len(), CHUNK * 2 + 5);
        for i in [0, CHUNK - 1, CHUNK, CHUNK * 2, CHUNK * 2 + 4] {
            assert_eq!(v.get(i), Some(&i));
        }
        assert_eq!(v.get(CHUNK * 2 + 5), None);
        *v.get_mut(CHUNK).unwrap() = 7;
        assert_eq!(v.get(CHUNK), Some(&7));
    }
}
