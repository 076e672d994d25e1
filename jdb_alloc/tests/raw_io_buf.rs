//! Behaviour of `RawIoBuf` and of arenas cut with `slice_into_raws`.

use compio_buf::{IoBuf, IoBufMut, SetBufInit};
use jdb_alloc::{ALIGNMENT, AlignedBuf, PAGE_SIZE, RawIoBuf};

#[test]
fn slice_into_raws_yields_consecutive_aligned_frames() {
    let mut arena = AlignedBuf::zeroed(8 * PAGE_SIZE).unwrap();
    // SAFETY: `arena` outlives the frames; each frame is written by one copy at a time.
    let frames: Vec<RawIoBuf> = unsafe { arena.slice_into_raws(PAGE_SIZE) }.collect();
    assert_eq!(frames.len(), 8);
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f.as_ptr() as usize - arena.as_ptr() as usize, i * PAGE_SIZE);
        assert!((f.as_ptr() as usize).is_multiple_of(ALIGNMENT));
        assert_eq!((f.len(), f.cap()), (PAGE_SIZE, PAGE_SIZE));
    }
    for (i, mut f) in frames.into_iter().enumerate() {
        f.as_mut_slice().fill(i as u8);
    }
    for i in 0..8 {
        assert!(
            arena[i * PAGE_SIZE..(i + 1) * PAGE_SIZE]
                .iter()
                .all(|&b| b == i as u8)
        );
    }
    arena[0] = 42;
    assert_eq!(arena[0], 42);
}

#[test]
fn slice_into_raws_other_chunks() {
    let arena = AlignedBuf::zeroed(4 * PAGE_SIZE).unwrap();
    // SAFETY: `arena` outlives the frames, which are only inspected.
    unsafe {
        assert_eq!(arena.slice_into_raws(2 * PAGE_SIZE).count(), 2);
        assert_eq!(
            arena.slice_into_raws(3 * PAGE_SIZE).count(),
            1,
            "short tail is dropped"
        );
        assert_eq!(arena.slice_into_raws(0).count(), 0);
        let small: Vec<_> = arena.slice_into_raws(512).collect();
        assert_eq!(small.len(), 32);
        assert_eq!(small[3].as_ptr() as usize - arena.as_ptr() as usize, 1536);
    }
}

#[test]
fn frames_of_a_partly_initialised_arena_only_expose_initialised_bytes() {
    let mut arena = AlignedBuf::with_cap(3 * PAGE_SIZE).unwrap();
    arena.extend(&[1u8; PAGE_SIZE + 100]).unwrap();
    // SAFETY: `arena` outlives the frames; they are only read.
    let lens: Vec<usize> = unsafe { arena.slice_into_raws(PAGE_SIZE) }
        .map(|f| f.len())
        .collect();
    assert_eq!(lens, vec![PAGE_SIZE, 100, 0]);
}

#[test]
fn as_raw_and_as_raw_view_mirror_the_buffer() {
    let mut b = AlignedBuf::zeroed(100).unwrap();
    // SAFETY: `b` outlives `raw`, and `b` is not used while `raw` writes.
    let mut raw = unsafe { b.as_raw() };
    assert_eq!(
        (raw.len(), raw.cap(), raw.as_ptr()),
        (100, PAGE_SIZE, b.as_ptr())
    );
    raw.as_mut_slice()[5] = 5;
    assert_eq!(b[5], 5);
    // SAFETY: only read while `b` lives.
    let view = unsafe { b.as_raw_view() };
    assert_eq!(view.as_slice()[5], 5);
    assert_eq!(view.as_mut_ptr() as *const u8, b.as_ptr());
}

#[test]
fn slice_and_slice_data_offsets_and_lengths() {
    let mut b = AlignedBuf::zeroed(4 * PAGE_SIZE).unwrap();
    for (i, x) in b.iter_mut().enumerate() {
        *x = (i / PAGE_SIZE) as u8;
    }
    // SAFETY: `b` outlives every view below and is not touched while they are used.
    unsafe {
        let raw = b.as_raw();
        let read_into = raw.slice(PAGE_SIZE, 2 * PAGE_SIZE);
        assert_eq!(read_into.as_ptr() as usize - b.as_ptr() as usize, PAGE_SIZE);
        assert_eq!((read_into.len(), read_into.cap()), (0, 2 * PAGE_SIZE));
        assert!(read_into.is_empty());
        assert_eq!(read_into.as_slice(), &[] as &[u8]);

        let write_from = raw.slice_data(2 * PAGE_SIZE, PAGE_SIZE);
        assert_eq!((write_from.len(), write_from.cap()), (PAGE_SIZE, PAGE_SIZE));
        assert!(write_from.as_slice().iter().all(|&x| x == 2));

        let nested = raw
            .slice_data(PAGE_SIZE, 2 * PAGE_SIZE)
            .slice_data(PAGE_SIZE, 10);
        assert_eq!(nested.as_slice(), &[2u8; 10]);

        let unchecked = raw.slice_unchecked(3 * PAGE_SIZE, PAGE_SIZE).with_len(3);
        assert_eq!(unchecked.as_slice(), &[3, 3, 3]);

        // The whole capacity is a valid range.
        assert_eq!(raw.slice(0, 4 * PAGE_SIZE).cap(), 4 * PAGE_SIZE);
        assert_eq!(raw.slice(4 * PAGE_SIZE, 0).cap(), 0);
    }
}

#[test]
fn slices_are_checked_against_capacity() {
    let mut b = AlignedBuf::zeroed(PAGE_SIZE).unwrap();
    // SAFETY: `b` outlives `raw`; the out-of-range calls panic before creating any view.
    let raw = unsafe { b.as_raw() };
    for (off, len) in [(0, PAGE_SIZE + 1), (PAGE_SIZE, 1), (1, usize::MAX)] {
        // SAFETY: as above.
        let r = std::panic::catch_unwind(|| unsafe { raw.slice(off, len) });
        assert!(r.is_err(), "slice({off}, {len}) must be refused");
        // SAFETY: as above.
        let r = std::panic::catch_unwind(|| unsafe { raw.slice_data(off, len) });
        assert!(r.is_err(), "slice_data({off}, {len}) must be refused");
    }
}

#[test]
fn from_slice_with_len_and_set_len() {
    let mut backing = vec![7u8; 64];
    // SAFETY: `backing` outlives `raw` and is not used while `raw` is.
    let mut raw = unsafe { RawIoBuf::from_slice(&mut backing) };
    assert_eq!((raw.len(), raw.cap()), (64, 64));
    raw.as_mut_slice()[0] = 1;
    let short = raw.with_len(3);
    assert_eq!(short.as_slice(), &[1, 7, 7]);
    assert_eq!(
        raw.with_len(1000).len(),
        64,
        "with_len clamps to the capacity"
    );
    // SAFETY: 10 <= cap and all 64 bytes are initialised.
    unsafe { raw.set_len(10) };
    assert_eq!(raw.len(), 10);
    assert_eq!(backing[0], 1);

    let mut empty: [u8; 0] = [];
    // SAFETY: zero-length view of a live array.
    let e = unsafe { RawIoBuf::from_slice(&mut empty) };
    assert!(e.is_empty());
    assert_eq!(e.as_slice(), &[] as &[u8]);
}

#[test]
fn new_is_empty_and_io_traits_follow_len() {
    let mut b = AlignedBuf::zeroed(PAGE_SIZE).unwrap();
    // SAFETY: `b` outlives `raw`; all bytes are initialised (zeroed).
    let mut raw = unsafe { RawIoBuf::new(b.as_mut_ptr(), PAGE_SIZE) };
    assert_eq!((raw.len(), raw.cap()), (0, PAGE_SIZE));
    assert_eq!(raw.buf_len(), 0);
    assert_eq!(raw.buf_capacity(), PAGE_SIZE);
    assert_eq!(raw.as_buf_ptr(), b.as_ptr());
    assert_eq!(raw.as_buf_mut_ptr() as *const u8, b.as_ptr());
    // SAFETY: the memory is initialised (zeroed) up to the capacity.
    unsafe { raw.set_buf_init(100) };
    assert_eq!(raw.len(), 100);
    // SAFETY: smaller than len: no change.
    unsafe { raw.set_buf_init(50) };
    assert_eq!(raw.len(), 100);
    assert!(format!("{raw:?}").contains("len: 100"));
}
