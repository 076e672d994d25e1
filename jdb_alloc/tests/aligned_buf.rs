//! Behaviour of `AlignedBuf`: alignment, rounding, zeroing, overflow, clone, raw parts.

use compio_buf::{IoBuf, IoBufMut, SetBufInit};
use jdb_alloc::{ALIGNMENT, AlignedBuf, Error, PAGE_SIZE};

fn is_aligned(p: *const u8) -> bool {
    (p as usize).is_multiple_of(ALIGNMENT)
}

/// Sizes from 1 byte to 64 MiB: every power of two, and its neighbours.
fn sizes() -> Vec<usize> {
    let mut v = vec![
        0, 1, 2, 3, 511, 512, 4095, 4096, 4097, 8191, 8192, 12_288, 100_000,
    ];
    for shift in 0..=26 {
        let p = 1usize << shift;
        v.extend([p.saturating_sub(1), p, p + 1]);
    }
    v.retain(|&n| n <= 64 << 20);
    v
}

fn rounded(n: usize) -> usize {
    n.max(1).div_ceil(PAGE_SIZE) * PAGE_SIZE
}

#[test]
fn every_allocation_is_aligned_and_rounded_up_to_pages() {
    for n in sizes() {
        let b = AlignedBuf::with_cap(n).unwrap();
        assert!(is_aligned(b.as_ptr()), "with_cap({n}) at {:p}", b.as_ptr());
        assert_eq!(b.cap(), rounded(n), "with_cap({n})");
        assert_eq!(b.len(), 0);
        assert!(b.is_empty());

        let z = AlignedBuf::zeroed(n).unwrap();
        assert!(is_aligned(z.as_ptr()), "zeroed({n})");
        assert_eq!((z.len(), z.cap()), (n, rounded(n)));
    }
}

#[test]
fn with_cap_zero_is_one_page() {
    assert_eq!(AlignedBuf::with_cap(0).unwrap().cap(), PAGE_SIZE);
    let z = AlignedBuf::zeroed(0).unwrap();
    assert_eq!((z.len(), z.cap()), (0, PAGE_SIZE));
}

#[test]
fn page_is_one_zeroed_page() {
    let p = AlignedBuf::page().unwrap();
    assert_eq!((p.len(), p.cap()), (PAGE_SIZE, PAGE_SIZE));
    assert!(p.iter().all(|&b| b == 0));
    assert!(is_aligned(p.as_ptr()));
}

#[test]
fn zeroed_contents_are_zero_even_after_reuse_of_memory() {
    // Dirty the allocator's free lists first, so a non-zeroing path would show garbage.
    for n in [PAGE_SIZE, 3 * PAGE_SIZE, 1 << 20] {
        let mut dirty = AlignedBuf::zeroed(n).unwrap();
        dirty.fill(0xAB);
        drop(dirty);
        let z = AlignedBuf::zeroed(n).unwrap();
        assert!(z.iter().all(|&b| b == 0), "zeroed({n}) had non-zero bytes");
    }
    let big = AlignedBuf::zeroed(64 << 20).unwrap();
    assert!(big.iter().step_by(4093).all(|&b| b == 0));
}

#[test]
fn impossible_sizes_are_errors_not_panics() {
    assert!(matches!(
        AlignedBuf::with_cap(usize::MAX),
        Err(Error::InvalidLayout(_))
    ));
    assert!(matches!(
        AlignedBuf::zeroed(usize::MAX),
        Err(Error::InvalidLayout(_))
    ));
    assert!(matches!(
        AlignedBuf::with_cap(usize::MAX - PAGE_SIZE),
        Err(Error::InvalidLayout(_))
    ));
    // Layout-valid but far beyond any machine: the allocator says no.
    assert!(matches!(
        AlignedBuf::with_cap(isize::MAX as usize / 2),
        Err(Error::AllocFailed)
    ));
    assert!(matches!(
        AlignedBuf::zeroed(1 << 62),
        Err(Error::AllocFailed)
    ));
}

#[test]
fn extend_appends_and_overflow_leaves_buffer_unchanged() {
    let mut b = AlignedBuf::with_cap(10).unwrap();
    b.extend(b"abc").unwrap();
    b.extend(b"").unwrap();
    b.extend(&[7u8; 4090]).unwrap();
    assert_eq!(b.len(), 4093);
    assert_eq!(&b[..3], b"abc");

    let before = b.to_vec();
    match b.extend(b"wxyz") {
        Err(Error::Overflow(needed, cap)) => assert_eq!((needed, cap), (4097, 4096)),
        other => panic!("expected Overflow, got {other:?}"),
    }
    assert_eq!(b.to_vec(), before);
    b.extend(b"xyz").unwrap();
    assert_eq!(b.len(), PAGE_SIZE);
    assert!(matches!(b.extend(b"!"), Err(Error::Overflow(4097, 4096))));
    let msg = b.extend(b"!").unwrap_err().to_string();
    assert_eq!(msg, "overflow: 4097/4096");
}

#[test]
fn clear_truncate_set_len() {
    let mut b = AlignedBuf::zeroed(100).unwrap();
    b.truncate(200);
    assert_eq!(b.len(), 100, "truncate to a larger length does nothing");
    b.truncate(10);
    assert_eq!(b.len(), 10);
    b.clear();
    assert!(b.is_empty());
    assert_eq!(b.cap(), PAGE_SIZE);
    // SAFETY: the buffer came from `zeroed`, so its first 100 bytes are initialised.
    unsafe { b.set_len(100) };
    assert_eq!(b.len(), 100);
    assert!(b.iter().all(|&x| x == 0));
}

#[test]
fn try_clone_and_clone_copy_len_bytes_into_new_aligned_memory() {
    let mut b = AlignedBuf::with_cap(3 * PAGE_SIZE).unwrap();
    b.extend(&(0..5000u32).map(|i| i as u8).collect::<Vec<_>>())
        .unwrap();
    for c in [b.try_clone().unwrap(), b.clone()] {
        assert_ne!(c.as_ptr(), b.as_ptr());
        assert!(is_aligned(c.as_ptr()));
        assert_eq!(&c[..], &b[..]);
        assert_eq!(
            c.cap(),
            2 * PAGE_SIZE,
            "capacity of the copy is len rounded up"
        );
    }
    let empty = AlignedBuf::with_cap(0).unwrap().try_clone().unwrap();
    assert_eq!((empty.len(), empty.cap()), (0, PAGE_SIZE));
}

#[test]
fn deref_as_ref_as_mut_and_debug() {
    let mut b = AlignedBuf::zeroed(8).unwrap();
    b[0] = 1;
    b.as_mut()[1] = 2;
    assert_eq!(&b.as_ref()[..3], &[1, 2, 0]);
    let p = b.as_mut_ptr();
    assert_eq!(p as *const u8, b.as_ptr());
    let dbg = format!("{b:?}");
    assert!(dbg.contains("len: 8") && dbg.contains("cap: 4096"), "{dbg}");
}

#[test]
fn raw_parts_round_trip_without_leak_or_double_free() {
    let mut b = AlignedBuf::with_cap(2 * PAGE_SIZE).unwrap();
    b.extend(b"round trip").unwrap();
    let (ptr, len, cap) = b.into_raw_parts();
    assert_eq!((len, cap), (10, 2 * PAGE_SIZE));
    // SAFETY: the parts come from `into_raw_parts` just above and are used once.
    let back = unsafe { AlignedBuf::from_raw_parts(ptr, len, cap) };
    assert_eq!(&back[..], b"round trip");
    assert_eq!(back.as_ptr(), ptr.as_ptr());
    // `back` is dropped here and frees the memory once; valgrind checks there is no leak.
}

#[test]
fn io_buf_traits_report_len_and_capacity() {
    let mut b = AlignedBuf::with_cap(5000).unwrap();
    b.extend(b"xy").unwrap();
    assert_eq!(b.buf_len(), 2);
    assert_eq!(b.buf_capacity(), 2 * PAGE_SIZE);
    assert_eq!(b.as_buf_ptr(), b.as_ptr());
    assert_eq!(b.as_buf_mut_ptr() as *const u8, b.as_ptr());
    assert_eq!(IoBuf::as_slice(&b), b"xy");
    // SAFETY: bytes 2..10 are written first, so they are initialised.
    unsafe {
        std::ptr::write_bytes(b.as_mut_ptr().add(2), 9, 8);
        b.set_buf_init(10);
    }
    assert_eq!(b.len(), 10);
    // SAFETY: 4 <= len; a smaller length must change nothing.
    unsafe { b.set_buf_init(4) };
    assert_eq!(b.len(), 10);
}

#[test]
fn send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<AlignedBuf>();
    check::<jdb_alloc::RawIoBuf>();
    let b = AlignedBuf::page().unwrap();
    let handle = std::thread::spawn(move || b.len());
    assert_eq!(handle.join().unwrap(), PAGE_SIZE);
}
