//! [`MappedRegion`]: zeroed anonymous memory for a buffer pool's frames, in huge pages when the
//! kernel gives them.

use std::{io, ptr::NonNull};

use crate::{Error, PAGE_SIZE, Result};

/// Size and alignment of an x86-64 (and aarch64 4 KiB-granule) PMD huge page: 2 MiB.
pub const HUGE_PAGE_SIZE: usize = 2 << 20;

/// Zeroed, private, anonymous memory (`mmap`), unmapped on drop. For a buffer pool's arena of
/// frames.
///
/// **Huge pages.** A region of at least [`HUGE_PAGE_SIZE`] starts on a 2 MiB boundary and is
/// marked `MADV_HUGEPAGE`. With transparent huge pages set to `madvise` or `always`
/// (`/sys/kernel/mm/transparent_hugepage/enabled`), the kernel backs it with 2 MiB pages. The
/// last, partial 2 MiB is the exception: it stays in 4 KiB pages rather than waste up to 2 MiB.
///
/// The reason is the TLB. A buffer pool touches a different 4 KiB page on nearly every hit, and
/// with 4 KiB pages each one needs its own TLB entry. A pool of more pages than the TLB holds
/// (1,500–3,000 entries, 6–12 MiB) walks the page table on most hits; with 2 MiB pages, 12 MiB is
/// six entries (`BENCHMARKS.md`, sessions 8–9). With huge pages off, or none free, the region is
/// ordinary 4 KiB memory: the advice is a request, and its failure is not an error. Smaller
/// regions are page-aligned and get no huge-page advice.
///
/// **Committed at once.** The memory is zero and is committed when the region is made
/// (`MADV_POPULATE_WRITE`), as a zeroing allocation's would be: the pool's arena was an
/// `alloc_zeroed`, which writes every byte. Finding and clearing huge pages, and any compaction
/// the kernel does for them, happens here, not on the first miss that lands in each 2 MiB.
///
/// - If the kernel reports that it cannot commit the memory (`ENOMEM`), that is this call's
///   error.
/// - Under a cgroup memory limit, the OOM killer acts instead, here, as it did on the zeroing
///   allocation.
/// - Kernels before 5.14 refuse the advice; the region is then committed as it is touched.
pub struct MappedRegion {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the region is owned exclusively (like a `Box<[u8]>`); nothing in it is tied to a thread.
unsafe impl Send for MappedRegion {}
// SAFETY: `&MappedRegion` hands out only the address and the length.
unsafe impl Sync for MappedRegion {}

impl MappedRegion {
    /// A region of at least `bytes` zeroed bytes (rounded up to whole 4 KiB pages; at least one
    /// page), committed. With `huge_pages` and `bytes >= HUGE_PAGE_SIZE`, 2 MiB-aligned and
    /// advised `MADV_HUGEPAGE` (see the type's docs); otherwise in ordinary pages.
    ///
    /// # Errors
    /// [`Error::Overflow`] when the rounded size does not fit in `isize`, [`Error::Io`] with the
    /// kernel's error (`ENOMEM`) when it maps nothing or cannot commit the memory now.
    pub fn zeroed(bytes: usize, huge_pages: bool) -> Result<Self> {
        let huge = huge_pages && bytes >= HUGE_PAGE_SIZE;
        let len = bytes
            .max(1)
            .checked_next_multiple_of(PAGE_SIZE)
            .filter(|&len| len <= isize::MAX as usize - HUGE_PAGE_SIZE)
            .ok_or(Error::Overflow(bytes, isize::MAX as usize - HUGE_PAGE_SIZE))?;
        // A huge region maps one huge page more than it needs, to find a 2 MiB boundary inside,
        // and gives back what lies outside `[start, start + len)`.
        let mapped = if huge { len + HUGE_PAGE_SIZE } else { len };
        // SAFETY: a fresh private anonymous mapping at an address of the kernel's choice: no
        // existing memory is affected.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                mapped,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return Err(Error::Io(io::Error::last_os_error()));
        }
        let raw = raw as usize;
        let start = if huge {
            raw.next_multiple_of(HUGE_PAGE_SIZE)
        } else {
            raw
        };
        let (head, tail) = (start - raw, raw + mapped - (start + len));
        // SAFETY: `[raw, start)` and `[start + len, raw + mapped)` are page-aligned parts of the
        // mapping just made (`raw`, `start` and `len` are multiples of 4 KiB), which nothing has
        // seen; unmapping them leaves exactly `[start, start + len)`. A failure leaves them mapped
        // (a leak of less than 2 MiB, not unsoundness), so the results are not checked.
        unsafe {
            if head > 0 {
                libc::munmap(raw as *mut libc::c_void, head);
            }
            if tail > 0 {
                libc::munmap((start + len) as *mut libc::c_void, tail);
            }
        }
        if huge {
            // SAFETY: advice on the region just mapped; `MADV_HUGEPAGE` changes how it is backed,
            // never its contents. An error (a kernel without transparent huge pages: `EINVAL`)
            // leaves ordinary pages, which is what the caller gets anyway.
            unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_HUGEPAGE) };
        }
        let region = Self {
            // `mmap` never returns address 0 for a mapping it chose (`MAP_FAILED` is checked).
            ptr: NonNull::new(start as *mut u8).ok_or(Error::AllocFailed)?,
            len,
        };
        // SAFETY: advice on the region just mapped; `MADV_POPULATE_WRITE` faults its pages in
        // (zeroed, as they would be on first touch) and changes no byte.
        if unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_POPULATE_WRITE) } != 0
        {
            let err = io::Error::last_os_error();
            // No memory to commit it now: an error here (the region unmapped on drop), not a
            // region that fails on some later touch. Any other failure (`EINVAL` from a kernel
            // before 5.14) leaves the pages to be faulted in as they are touched.
            if err.raw_os_error() == Some(libc::ENOMEM) {
                return Err(Error::Io(err));
            }
        }
        Ok(region)
    }

    /// The region's first byte (4 KiB-aligned; 2 MiB-aligned when `len() >= HUGE_PAGE_SIZE`).
    pub fn as_ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    /// The region's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always `false`: a region is at least one page.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Drop for MappedRegion {
    fn drop(&mut self) {
        // SAFETY: `[ptr, ptr + len)` is exactly what `zeroed` left mapped, owned by `self` alone,
        // unmapped once, here. Whoever borrowed the bytes (through `as_ptr`) promised not to
        // outlive the region.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

impl std::fmt::Debug for MappedRegion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedRegion")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_region_is_page_aligned_zeroed_and_writable() {
        let region = MappedRegion::zeroed(5000, true).unwrap();
        assert_eq!(region.len(), 2 * PAGE_SIZE);
        assert_eq!(region.as_ptr().as_ptr() as usize % PAGE_SIZE, 0);
        // SAFETY: the region's bytes, borrowed while it lives.
        let bytes =
            unsafe { std::slice::from_raw_parts_mut(region.as_ptr().as_ptr(), region.len()) };
        assert!(bytes.iter().all(|&b| b == 0));
        bytes[8191] = 7;
        assert_eq!(bytes[8191], 7);
    }

    /// A large region is page-rounded, zeroed and writable end to end; with huge pages asked
    /// for it starts on a 2 MiB boundary, without them on a page.
    #[test]
    fn large_region_is_page_rounded_and_aligned_as_asked() {
        for (huge_pages, align) in [(true, HUGE_PAGE_SIZE), (false, PAGE_SIZE)] {
            let region = MappedRegion::zeroed(HUGE_PAGE_SIZE + 1, huge_pages).unwrap();
            assert_eq!(region.len(), HUGE_PAGE_SIZE + PAGE_SIZE, "{huge_pages}");
            assert_eq!(region.as_ptr().as_ptr() as usize % align, 0, "{huge_pages}");
            // SAFETY: the region's bytes, borrowed while it lives.
            let bytes =
                unsafe { std::slice::from_raw_parts_mut(region.as_ptr().as_ptr(), region.len()) };
            assert!(bytes.iter().step_by(4096).all(|&b| b == 0));
            bytes[0] = 1;
            bytes[region.len() - 1] = 2;
            assert_eq!((bytes[0], bytes[region.len() - 1]), (1, 2));
        }
    }

    #[test]
    fn zero_bytes_is_one_page_and_absurd_sizes_are_errors() {
        assert_eq!(MappedRegion::zeroed(0, true).unwrap().len(), PAGE_SIZE);
        assert!(matches!(
            MappedRegion::zeroed(usize::MAX, true),
            Err(Error::Overflow(..))
        ));
        // Fits in `isize` but not in any machine's address space: the kernel's ENOMEM.
        assert!(matches!(
            MappedRegion::zeroed(1 << 62, false),
            Err(Error::Io(_))
        ));
    }
}
