//! A run of 16 contiguous pages is written and read back byte-exact, each with one vectored
//! operation (counted by `File::stats`).

mod common;

use common::{assert_pattern, disk_tempdir, fill_pattern, pattern_page};
use jdb_fs::{AlignedBuf, Direct, File, OpenOptions, PAGE_SIZE, RawIoBuf};

const FIRST: u32 = 5;
const RUN: usize = 16;

async fn open(dir: &tempfile::TempDir, direct: Direct) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .direct(direct)
        .open(dir.path().join("run"))
        .await
        .unwrap()
}

async fn sixteen_pages_round_trip_with_one_op_each(direct: Direct) {
    let dir = disk_tempdir();
    let file = open(&dir, direct).await;
    let bufs: Vec<AlignedBuf> = (0..RUN as u32).map(|i| pattern_page(FIRST + i)).collect();

    let s0 = file.stats();
    let (res, bufs) = file.write_pages(FIRST, bufs).await;
    res.unwrap();
    let s1 = file.stats();
    assert_eq!(s1.write_ops - s0.write_ops, 1, "one pwritev");
    assert_eq!(
        s1.bytes_written - s0.bytes_written,
        (RUN * PAGE_SIZE) as u64
    );
    assert_eq!(bufs.len(), RUN);

    let fresh = (0..RUN)
        .map(|_| AlignedBuf::with_cap(PAGE_SIZE).unwrap())
        .collect();
    let (res, back) = file.read_pages_into(FIRST, fresh).await;
    res.unwrap();
    let s2 = file.stats();
    assert_eq!(s2.read_ops - s1.read_ops, 1, "one preadv");
    assert_eq!(s2.bytes_read - s1.bytes_read, (RUN * PAGE_SIZE) as u64);
    assert_eq!(s2.stat_ops, s0.stat_ops);
    for (i, (page, written)) in back.iter().zip(&bufs).enumerate() {
        assert_eq!(&page[..], &written[..], "page {}", FIRST as usize + i);
    }

    let pages = file.read_pages(FIRST, RUN).await.unwrap();
    assert_eq!(file.stats().read_ops - s2.read_ops, 1);
    for (i, page) in pages.iter().enumerate() {
        assert_pattern(page, FIRST + i as u32);
    }

    // What is on disk, seen through std: a hole of zeros, then the run.
    file.sync_data().await.unwrap();
    let bytes = std::fs::read(file.path()).unwrap();
    assert_eq!(bytes.len(), (FIRST as usize + RUN) * PAGE_SIZE);
    assert!(bytes[..FIRST as usize * PAGE_SIZE].iter().all(|&b| b == 0));
    assert_pattern(&bytes[FIRST as usize * PAGE_SIZE..], FIRST);
}

#[compio::test]
async fn sixteen_pages_round_trip_with_one_op_each_under_direct_io() {
    sixteen_pages_round_trip_with_one_op_each(Direct::Require).await;
}

#[compio::test]
async fn sixteen_pages_round_trip_with_one_op_each_on_the_buffered_path() {
    sixteen_pages_round_trip_with_one_op_each(Direct::Off).await;
}

#[compio::test]
async fn runs_use_arena_frames_and_multi_page_buffers() {
    let dir = disk_tempdir();
    let file = open(&dir, Direct::Auto).await;

    // Write: one 4-page buffer followed by 12 one-page buffers, as one run.
    let mut big = AlignedBuf::zeroed(4 * PAGE_SIZE).unwrap();
    fill_pattern(&mut big, 0);
    let mut bufs = vec![big];
    bufs.extend((4..RUN as u32).map(pattern_page));
    let before = file.stats();
    let (res, _) = file.write_pages(0, bufs).await;
    res.unwrap();
    assert_eq!(file.stats().write_ops - before.write_ops, 1);

    // Read into frames of a buffer-pool-like arena, as one run.
    let mut arena = AlignedBuf::with_cap(RUN * PAGE_SIZE).unwrap();
    // SAFETY: `arena` outlives the frames; only the read below writes through them and nothing
    // reads `arena` until it has returned.
    let frames: Vec<RawIoBuf> = unsafe { arena.slice_into_raws(PAGE_SIZE) }.collect();
    let before = file.stats();
    let (res, frames) = file.read_pages_into(0, frames).await;
    res.unwrap();
    assert_eq!(file.stats().read_ops - before.read_ops, 1);
    assert!(frames.iter().all(|f| f.len() == PAGE_SIZE));
    // SAFETY: the read filled all `RUN` pages of the arena (every frame is full).
    unsafe { arena.set_len(RUN * PAGE_SIZE) };
    assert_pattern(&arena, 0);

    // A run may also be one multi-page buffer.
    let (res, whole) = file
        .read_pages_into(8, vec![AlignedBuf::with_cap(8 * PAGE_SIZE).unwrap()])
        .await;
    res.unwrap();
    assert_pattern(&whole[0], 8);
    // And an empty run does nothing.
    let (res, none) = file.read_pages_into(0, Vec::<AlignedBuf>::new()).await;
    res.unwrap();
    assert!(none.is_empty());
    assert!(file.read_pages(3, 0).await.unwrap().is_empty());
}
