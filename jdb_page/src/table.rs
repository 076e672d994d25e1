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
//!
//! Every method takes `&self` (the pool's hit path looks pages up without borrowing the rest of
//! the pool's bookkeeping): the directory is in an `UnsafeCell`, and entries are read and
//! written through raw pointers. That is sound because the table is `!Sync` (one thread), and
//! no method calls out, re-enters the table or returns a reference into it, so no two accesses
//! to the directory or to an entry overlap.

use std::{
    cell::{Cell, UnsafeCell},
    ptr::NonNull,
};

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
    /// Each entry is [`EMPTY`] or a chunk this table allocated (`Box::leak`) and owns.
    dir: UnsafeCell<Vec<NonNull<Chunk>>>,
    len: Cell<usize>,
}

fn empty() -> NonNull<Chunk> {
    NonNull::from(&EMPTY)
}

impl PageTable {
    /// The frame of page `id`, if it has one.
    #[inline(always)]
    pub(crate) fn get(&self, id: PageId) -> Option<FrameId> {
        // SAFETY: no `&mut` of the directory exists outside `entry_ptr`, which does not overlap
        // this (see the module docs); the reference ends within this call.
        let dir = unsafe { &*self.dir.get() };
        let chunk = *dir.get((id >> SHIFT) as usize)?;
        // SAFETY: every directory entry points to `EMPTY` or to a live chunk this table owns,
        // and the index is `< CHUNK`; entries are read and written only through raw pointers,
        // never while a reference to one lives.
        let frame = unsafe {
            chunk
                .as_ptr()
                .cast::<FrameId>()
                .add(id as usize % CHUNK)
                .read()
        };
        (frame != NO_FRAME).then_some(frame)
    }

    /// A pointer to `id`'s entry, in a chunk allocated if it was `EMPTY`: writable.
    fn entry_ptr(&self, id: PageId) -> *mut FrameId {
        // SAFETY: the only reference to the directory while it lives (see the module docs).
        let dir = unsafe { &mut *self.dir.get() };
        let at = (id >> SHIFT) as usize;
        if dir.len() <= at {
            dir.resize(at + 1, empty());
        }
        let chunk = &mut dir[at];
        if *chunk == empty() {
            *chunk = NonNull::from(Box::leak(Box::new([NO_FRAME; CHUNK])));
        }
        // In bounds: the index is `< CHUNK`. Not `EMPTY` (replaced just above), so a chunk this
        // table allocated (`Box::leak`, writable) and owns.
        chunk
            .as_ptr()
            .cast::<FrameId>()
            .wrapping_add(id as usize % CHUNK)
    }

    /// Maps `id` to `frame` (`id` must have no frame).
    pub(crate) fn insert(&self, id: PageId, frame: FrameId) {
        debug_assert_ne!(frame, NO_FRAME);
        debug_assert_eq!(self.get(id), None, "page {id} mapped twice");
        // SAFETY: a valid entry of a chunk this table owns (`entry_ptr`); no reference to it lives.
        unsafe { self.entry_ptr(id).write(frame) };
        self.len.set(self.len.get() + 1);
    }

    /// Unmaps `id` (which must be mapped).
    pub(crate) fn remove(&self, id: PageId) {
        let mapped = self.get(id).is_some();
        debug_assert!(mapped, "page {id} not mapped");
        if mapped {
            // SAFETY: as in `insert`.
            unsafe { self.entry_ptr(id).write(NO_FRAME) };
            self.len.set(self.len.get() - 1);
        }
    }

    /// Pages mapped.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len.get()
    }

    /// Heap bytes: the directory and the chunks allocated so far.
    pub(crate) fn heap_bytes(&self) -> usize {
        // SAFETY: a shared reference for the length of this call (see the module docs).
        let dir = unsafe { &*self.dir.get() };
        let chunks = dir.iter().filter(|&&c| c != empty()).count();
        dir.capacity() * std::mem::size_of::<NonNull<Chunk>>()
            + chunks * std::mem::size_of::<Chunk>()
    }
}

impl Drop for PageTable {
    fn drop(&mut self) {
        for &chunk in self.dir.get_mut().iter() {
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
        let t = PageTable::default();
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
            let t = PageTable::default();
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
