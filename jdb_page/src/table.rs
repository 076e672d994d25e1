//! [`PageTable`]: page id -> frame, as an array (page ids of a file are dense, `0..page_count`).
//!
//! A lookup is an address computation and two loads, no hashing (vmcache's insight). The array is
//! two-level: a directory of chunks of [`CHUNK`] entries, each allocated the first time a page in
//! its range is cached and kept until the pool is dropped. So the table's memory follows the part
//! of the file the pool has touched (4 bytes per page of it, plus 8 bytes of directory per 4096
//! pages of the file), not the pool's size, and it grows with the file without copying.
//!
//! A directory entry with no chunk yet points to one shared, immutable chunk of `NO_FRAME`s
//! ([`EMPTY`]), so a lookup has no null test: an untouched range reads as "not in memory".

use std::ptr::NonNull;

use jdb_layout::PageId;

use crate::FrameId;

/// Entries per chunk (16 KiB of entries, 16 MiB of file).
pub(crate) const CHUNK: usize = 4096;
const SHIFT: u32 = CHUNK.trailing_zeros();

/// The entry of a page not in memory.
pub(crate) const NO_FRAME: FrameId = FrameId::MAX;

type Chunk = [FrameId; CHUNK];

/// The chunk of every directory entry not allocated yet: all `NO_FRAME`, never written.
static EMPTY: Chunk = [NO_FRAME; CHUNK];

/// Page id -> frame of every page in memory (or being read into one).
#[derive(Default)]
pub(crate) struct PageTable {
    /// Each entry is [`EMPTY`] or a chunk this table allocated (`Box::into_raw`) and owns.
    dir: Vec<NonNull<Chunk>>,
    len: usize,
}

fn empty() -> NonNull<Chunk> {
    NonNull::from(&EMPTY)
}

impl PageTable {
    /// The frame of page `id`, if it has one.
    #[inline(always)]
    pub(crate) fn get(&self, id: PageId) -> Option<FrameId> {
        let chunk = self.dir.get((id >> SHIFT) as usize)?;
        // SAFETY: every entry points to `EMPTY` or to a live chunk this table owns (see `dir`),
        // only written through `&mut self`.
        let frame = unsafe { chunk.as_ref() }[id as usize % CHUNK];
        (frame != NO_FRAME).then_some(frame)
    }

    /// The chunk of `id`'s range, allocated if it was `EMPTY`.
    fn chunk_mut(&mut self, id: PageId) -> &mut Chunk {
        let at = (id >> SHIFT) as usize;
        if self.dir.len() <= at {
            self.dir.resize(at + 1, empty());
        }
        let chunk = &mut self.dir[at];
        if *chunk == empty() {
            *chunk = NonNull::from(Box::leak(Box::new([NO_FRAME; CHUNK])));
        }
        // SAFETY: not `EMPTY` (replaced just above), so a chunk this table allocated and owns;
        // `&mut self` makes this the only reference to it.
        unsafe { chunk.as_mut() }
    }

    /// Maps `id` to `frame` (`id` must have no frame).
    pub(crate) fn insert(&mut self, id: PageId, frame: FrameId) {
        debug_assert_ne!(frame, NO_FRAME);
        let entry = &mut self.chunk_mut(id)[id as usize % CHUNK];
        debug_assert_eq!(*entry, NO_FRAME, "page {id} mapped twice");
        *entry = frame;
        self.len += 1;
    }

    /// Unmaps `id` (which must be mapped).
    pub(crate) fn remove(&mut self, id: PageId) {
        let mapped = self.get(id).is_some();
        debug_assert!(mapped, "page {id} not mapped");
        if mapped {
            self.chunk_mut(id)[id as usize % CHUNK] = NO_FRAME;
            self.len -= 1;
        }
    }

    /// Pages mapped.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Heap bytes: the directory and the chunks allocated so far.
    pub(crate) fn heap_bytes(&self) -> usize {
        let chunks = self.dir.iter().filter(|&&c| c != empty()).count();
        self.dir.capacity() * std::mem::size_of::<NonNull<Chunk>>()
            + chunks * std::mem::size_of::<Chunk>()
    }
}

impl Drop for PageTable {
    fn drop(&mut self) {
        for &chunk in &self.dir {
            if chunk != empty() {
                // SAFETY: not `EMPTY`, so made by `Box::leak` in `chunk_mut` and owned by this
                // table; freed once, here.
                drop(unsafe { Box::from_raw(chunk.as_ptr()) });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn maps_across_chunks_and_grows_lazily() {
        let mut t = PageTable::default();
        assert_eq!(t.get(0), None);
        assert_eq!(t.get(u32::MAX - 1), None);
        t.insert(5, 1);
        t.insert(CHUNK as PageId * 3 + 2, 7);
        assert_eq!(
            (t.get(5), t.get(CHUNK as PageId * 3 + 2)),
            (Some(1), Some(7))
        );
        assert_eq!(t.get(6), None);
        assert_eq!(t.len(), 2);
        let two_chunks = t.heap_bytes();
        assert!(
            (2 * CHUNK * 4..3 * CHUNK * 4).contains(&two_chunks),
            "{two_chunks}"
        );
        t.remove(5);
        assert_eq!((t.get(5), t.len()), (None, 1));
    }

    proptest! {
        #[test]
        fn matches_a_hashmap(ops in proptest::collection::vec((0..3u8, 0..20_000u32), 1..400)) {
            let mut t = PageTable::default();
            let mut model: HashMap<PageId, FrameId> = HashMap::new();
            for (i, (op, id)) in ops.into_iter().enumerate() {
                match op {
                    0 if !model.contains_key(&id) => {
                        t.insert(id, i as FrameId);
                        model.insert(id, i as FrameId);
                    }
                    1 if model.contains_key(&id) => {
                        t.remove(id);
                        model.remove(&id);
                    }
                    _ => {}
                }
                prop_assert_eq!(t.get(id), model.get(&id).copied());
                prop_assert_eq!(t.len(), model.len());
            }
        }
    }
}
