//! [`PageTable`]: page id -> frame, as an array (page ids of a file are dense, `0..page_count`).
//!
//! A lookup is an address computation and two loads, no hashing (vmcache's insight). The array is
//! two-level: a directory of chunks of [`CHUNK`] entries, each allocated the first time a page in
//! its range is cached and kept until the pool is dropped. So the table's memory follows the part
//! of the file the pool has touched (4 bytes per page of it, plus 8 bytes of directory per 4096
//! pages of the file), not the pool's size, and it grows with the file without copying.

use jdb_layout::PageId;

use crate::FrameId;

/// Entries per chunk (16 KiB of entries, 16 MiB of file).
pub(crate) const CHUNK: usize = 4096;
const SHIFT: u32 = CHUNK.trailing_zeros();

/// The entry of a page not in memory.
pub(crate) const NO_FRAME: FrameId = FrameId::MAX;

/// Page id -> frame of every page in memory (or being read into one).
#[derive(Default)]
pub(crate) struct PageTable {
    dir: Vec<Option<Box<[FrameId; CHUNK]>>>,
    len: usize,
}

impl PageTable {
    /// The frame of page `id`, if it has one.
    #[inline(always)]
    pub(crate) fn get(&self, id: PageId) -> Option<FrameId> {
        let chunk = self.dir.get((id >> SHIFT) as usize)?.as_deref()?;
        let frame = chunk[id as usize % CHUNK];
        (frame != NO_FRAME).then_some(frame)
    }

    /// Maps `id` to `frame` (`id` must have no frame).
    pub(crate) fn insert(&mut self, id: PageId, frame: FrameId) {
        debug_assert_ne!(frame, NO_FRAME);
        let at = (id >> SHIFT) as usize;
        if self.dir.len() <= at {
            self.dir.resize_with(at + 1, || None);
        }
        let chunk = self.dir[at].get_or_insert_with(|| Box::new([NO_FRAME; CHUNK]));
        let entry = &mut chunk[id as usize % CHUNK];
        debug_assert_eq!(*entry, NO_FRAME, "page {id} mapped twice");
        *entry = frame;
        self.len += 1;
    }

    /// Unmaps `id` (which must be mapped).
    pub(crate) fn remove(&mut self, id: PageId) {
        let entry = self
            .dir
            .get_mut((id >> SHIFT) as usize)
            .and_then(|c| c.as_deref_mut())
            .map(|chunk| &mut chunk[id as usize % CHUNK]);
        debug_assert!(entry.as_ref().is_some_and(|e| **e != NO_FRAME));
        if let Some(entry) = entry
            && *entry != NO_FRAME
        {
            *entry = NO_FRAME;
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
        let chunks = self.dir.iter().filter(|c| c.is_some()).count();
        self.dir.capacity() * std::mem::size_of::<Option<Box<[FrameId; CHUNK]>>>()
            + chunks * CHUNK * std::mem::size_of::<FrameId>()
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
