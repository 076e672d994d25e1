//! [`PageTable`]: page id -> frame, as one flat array indexed by page id (page ids of a file are
//! dense, `0..page_count`).
//!
//! A lookup is an address computation and one load, no hashing and no directory (vmcache's
//! translation, without its virtual-memory frames). The array is a private anonymous mapping
//! reserved with `MAP_NORESERVE` for every possible page id (2^32 entries of 4 bytes: 16 GiB of
//! address space, no memory). The kernel backs a 4 KiB page of it (1,024 entries, 4 MiB of file)
//! only when an entry in it is first written, that is, when a page in its range is first
//! cached; reading an untouched part reads zeros (the shared zero page). So the table's memory
//! follows the part of the file the pool has touched, 4 bytes per page of it at most, not the
//! pool's size, and it never moves or copies as the file grows.
//!
//! Where the whole reservation is refused (`vm.overcommit_memory = 2`, an address-space limit,
//! valgrind), the table reserves as many entries as it needs, at least [`MIN_ENTRIES`], and
//! grows by doubling with `mremap` (which may move it: the base is a `Cell` read on each lookup).
//! Its address space, and under strict overcommit its commit charge, is then 4 bytes per page id
//! up to the highest one cached, rounded up to a power of two: 0.1 % of the file's size at most.
//!
//! An entry holds `frame + 1`; 0 (what the kernel's zero pages read as) is "not in memory".
//!
//! Every method takes `&self` (the pool's hit path looks pages up without borrowing the rest of
//! the pool's bookkeeping): entries are read and written through raw pointers, and the few other
//! fields are `Cell`s or an `UnsafeCell` only `insert` touches. That is sound because the table is
//! `!Sync` (one thread), and no method calls out, re-enters the table or returns a reference into
//! it, so no two accesses overlap.

use std::{
    cell::{Cell, UnsafeCell},
    ptr::NonNull,
};

use jdb_layout::PageId;

use crate::FrameId;

/// The entry of a page not in memory, as [`PageTable::get`]'s callers know it.
pub(crate) const NO_FRAME: FrameId = FrameId::MAX;

/// Entries of the whole reservation: one per page id.
const FULL: usize = 1 << 32;
/// Entries reserved at least when the whole reservation is refused (4 MiB of address space).
const MIN_ENTRIES: usize = 1 << 20;
/// Entries per 4 KiB page of the table.
const PER_PAGE: usize = 4096 / std::mem::size_of::<u32>();

/// Page id -> frame of every page in memory (or being read into one).
pub(crate) struct PageTable {
    /// `len` entries, mapped by this table (`mmap`), owned, unmapped on drop.
    base: Cell<NonNull<u32>>,
    len: Cell<usize>,
    /// Entries the hit path looks up ([`PageTable::hit_entry`]): `len`, or 0 once the pool is
    /// closed ([`PageTable::close_hits`]), so that a closed pool's hits fail on the bounds check
    /// a lookup makes anyway.
    hit_len: Cell<usize>,
    /// Pages mapped.
    mapped: Cell<usize>,
    /// One bit per 4 KiB page of the table written so far (what the table costs in memory).
    touched: UnsafeCell<Vec<u64>>,
}

impl Default for PageTable {
    fn default() -> Self {
        Self::reserve(FULL)
    }
}

/// `len` zeroed entries of fresh address space, or `None` when the kernel refuses.
fn map(len: usize) -> Option<NonNull<u32>> {
    // SAFETY: a new private anonymous mapping: no address given, no file, nothing else touched.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len * std::mem::size_of::<u32>(),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        None
    } else {
        NonNull::new(p.cast())
    }
}

/// What the process does when memory runs out, as `Vec`'s growth does.
#[cold]
fn out_of_memory(entries: usize) -> ! {
    std::alloc::handle_alloc_error(
        std::alloc::Layout::array::<u32>(entries).unwrap_or(std::alloc::Layout::new::<u32>()),
    )
}

impl PageTable {
    /// A table of `want` entries if the kernel grants them, else of [`MIN_ENTRIES`], growing.
    pub(crate) fn reserve(want: usize) -> Self {
        let (base, len) = match map(want) {
            Some(base) => (base, want),
            None => (
                map(MIN_ENTRIES).unwrap_or_else(|| out_of_memory(MIN_ENTRIES)),
                MIN_ENTRIES,
            ),
        };
        Self {
            base: Cell::new(base),
            len: Cell::new(len),
            hit_len: Cell::new(len),
            mapped: Cell::new(0),
            touched: UnsafeCell::new(Vec::new()),
        }
    }

    /// The frame of page `id`, if it has one.
    #[inline(always)]
    pub(crate) fn get(&self, id: PageId) -> Option<FrameId> {
        self.lookup(id, self.len.get())
    }

    /// Page `id`'s raw entry for the hit path: its frame + 1, or 0 when it has none or once
    /// [`PageTable::close_hits`] was called (the hit path indexes frame records by the entry,
    /// record 0 being one no hit can latch, so it needs no test for "none").
    #[inline(always)]
    pub(crate) fn hit_entry(&self, id: PageId) -> u32 {
        self.entry(id, self.hit_len.get())
    }

    /// The frame of page `id` if `id < bound`, which is at most `len`.
    #[inline(always)]
    fn lookup(&self, id: PageId, bound: usize) -> Option<FrameId> {
        self.entry(id, bound).checked_sub(1)
    }

    /// The entry of page `id` (frame + 1, or 0) if `id < bound`, which is at most `len`; 0
    /// otherwise.
    #[inline(always)]
    fn entry(&self, id: PageId, bound: usize) -> u32 {
        debug_assert!(bound <= self.len.get());
        if id as usize >= bound {
            return 0;
        }
        // SAFETY: `id < bound <= len`: an entry of the live mapping; entries are only read and
        // written through raw pointers, never while a reference to one lives.
        unsafe { self.base.get().as_ptr().add(id as usize).read() }
    }

    /// From now on [`PageTable::hit_entry`] finds nothing (the pool is closed).
    pub(crate) fn close_hits(&self) {
        self.hit_len.set(0);
    }

    /// A writable pointer to `id`'s entry, which must be below `len` (the pointer is in bounds).
    fn entry_ptr(&self, id: PageId) -> *mut u32 {
        debug_assert!((id as usize) < self.len.get());
        self.base.get().as_ptr().wrapping_add(id as usize)
    }

    /// Makes room for `id`'s entry: grows the table to hold it, and counts its 4 KiB page.
    fn make_room(&self, id: PageId) {
        let at = id as usize;
        if at >= self.len.get() {
            self.grow(at + 1);
        }
        // SAFETY: the only reference to `touched` while it lives (see the module docs).
        let touched = unsafe { &mut *self.touched.get() };
        let (word, bit) = (at / PER_PAGE / 64, at / PER_PAGE % 64);
        if touched.len() <= word {
            touched.resize(word + 1, 0);
        }
        touched[word] |= 1 << bit;
    }

    /// Grows the mapping to at least `need` entries (doubling), moving it if the kernel must.
    #[cold]
    fn grow(&self, need: usize) {
        let old = self.len.get();
        let new = need.next_power_of_two().max(old * 2).min(FULL);
        let size = std::mem::size_of::<u32>();
        // SAFETY: `base` is this table's mapping of `old` entries; MREMAP_MAYMOVE keeps its
        // contents and zero-fills the new part (anonymous memory). No reference into it lives.
        let p = unsafe {
            libc::mremap(
                self.base.get().as_ptr().cast(),
                old * size,
                new * size,
                libc::MREMAP_MAYMOVE,
            )
        };
        match NonNull::new(p.cast::<u32>()) {
            Some(p) if p.as_ptr().cast() != libc::MAP_FAILED => {
                self.base.set(p);
                if self.hit_len.get() == self.len.get() {
                    self.hit_len.set(new);
                }
                self.len.set(new);
            }
            _ => out_of_memory(new),
        }
    }

    /// Maps `id` to `frame` (`id` must have no frame).
    pub(crate) fn insert(&self, id: PageId, frame: FrameId) {
        debug_assert_ne!(frame, NO_FRAME);
        debug_assert_eq!(self.get(id), None, "page {id} mapped twice");
        self.make_room(id);
        // SAFETY: an entry of the live mapping (`id < len` after `make_room`); no reference to
        // it lives. `frame + 1` does not overflow: `frame != NO_FRAME`.
        unsafe { self.entry_ptr(id).write(frame + 1) };
        self.mapped.set(self.mapped.get() + 1);
    }

    /// Unmaps `id` (which must be mapped).
    pub(crate) fn remove(&self, id: PageId) {
        let mapped = self.get(id).is_some();
        debug_assert!(mapped, "page {id} not mapped");
        if mapped {
            // SAFETY: an entry of the live mapping (`id < len`: it is mapped); no reference to
            // it lives.
            unsafe { self.entry_ptr(id).write(0) };
            self.mapped.set(self.mapped.get() - 1);
        }
    }

    /// Pages mapped.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.mapped.get()
    }

    /// Memory the table holds: its 4 KiB pages written so far, and their bitmap.
    pub(crate) fn heap_bytes(&self) -> usize {
        // SAFETY: a shared reference for the length of this call (see the module docs).
        let touched = unsafe { &*self.touched.get() };
        let pages: usize = touched.iter().map(|w| w.count_ones() as usize).sum();
        pages * 4096 + touched.capacity() * std::mem::size_of::<u64>()
    }
}

impl Drop for PageTable {
    fn drop(&mut self) {
        // SAFETY: this table's own mapping of `len` entries, unmapped once, here; nothing
        // points into it any more.
        unsafe {
            libc::munmap(
                self.base.get().as_ptr().cast(),
                self.len.get() * std::mem::size_of::<u32>(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    /// Both shapes: the whole reservation, and a small one that must grow (and may move).
    fn tables() -> [PageTable; 2] {
        [PageTable::default(), PageTable::reserve_small()]
    }

    impl PageTable {
        /// A table as the fallback makes it (the whole reservation refused).
        fn reserve_small() -> Self {
            let t = Self::reserve(MIN_ENTRIES);
            assert_eq!(t.len.get(), MIN_ENTRIES);
            t
        }
    }

    #[test]
    fn maps_far_apart_ids_and_counts_only_touched_pages() {
        for t in tables() {
            // The last page id where the whole reservation was granted; under an address-space
            // limit (or for the small table) one that needs only a few growths.
            let top = if t.len.get() == FULL {
                u32::MAX
            } else {
                MIN_ENTRIES as PageId * 5
            };
            assert_eq!(t.get(0), None);
            assert_eq!(t.get(top), None);
            assert_eq!(t.get(u32::MAX), None);
            assert_eq!(t.heap_bytes(), 0);
            let far = MIN_ENTRIES as PageId * 3 + 2; // past the small table's end: it grows
            t.insert(5, 1);
            t.insert(far, 7);
            t.insert(top, 0);
            assert_eq!(
                (t.get(5), t.get(far), t.get(top)),
                (Some(1), Some(7), Some(0))
            );
            assert_eq!((t.get(6), t.get(far - 1)), (None, None));
            assert_eq!(t.len(), 3);
            // Three 4 KiB pages of entries, and a bitmap of one bit per such page up to the last.
            let bitmap = (top as usize / PER_PAGE / 64 + 1) * 8;
            assert!(
                (3 * 4096 + bitmap..3 * 4096 + 2 * bitmap).contains(&t.heap_bytes()),
                "{}",
                t.heap_bytes()
            );
            t.remove(5);
            assert_eq!((t.get(5), t.len()), (None, 2));
            t.insert(5, 9);
            assert_eq!(t.get(5), Some(9));
        }
    }

    proptest! {
        #[test]
        fn matches_a_hashmap(
            ops in proptest::collection::vec((0..3u8, 0..3_000_000u32), 1..400),
            small in any::<bool>(),
        ) {
            let t = if small { PageTable::reserve_small() } else { PageTable::default() };
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
