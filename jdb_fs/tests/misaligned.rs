//! Misaligned offsets, lengths and buffer addresses are `Misaligned` with the numbers, checked
//! before anything is submitted, on the direct and the buffered path alike.

mod common;

use common::{disk_tempdir, pattern_page, write_pattern_pages};
use jdb_fs::{ALIGN, AlignedBuf, Direct, Error, File, IOV_MAX, OpenOptions, PAGE_SIZE, RawIoBuf};

async fn open(dir: &tempfile::TempDir, direct: Direct) -> File {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .direct(direct)
        .open(dir.path().join(format!("{direct:?}")))
        .await
        .unwrap();
    write_pattern_pages(&file, 4).await;
    file
}

/// Asserts `res` is `Misaligned` with these numbers and the file's path.
fn assert_misaligned<T: std::fmt::Debug>(
    file: &File,
    res: jdb_fs::Result<T>,
    offset: u64,
    len: usize,
    addr: usize,
) {
    match res {
        Err(Error::Misaligned {
            path,
            offset: o,
            len: l,
            addr: a,
            align,
        }) => {
            assert_eq!((o, l, a, align), (offset, len, addr, ALIGN));
            assert_eq!(path, file.path());
        }
        other => panic!("expected Misaligned, got {other:?}"),
    }
}

async fn misaligned_requests_are_rejected_before_submission(direct: Direct) {
    let dir = disk_tempdir();
    let file = open(&dir, direct).await;
    let before = file.stats();

    // Offset.
    let buf = AlignedBuf::with_cap(PAGE_SIZE).unwrap();
    let addr = buf.as_ptr() as usize;
    let (res, _) = file.read_at(buf, 512).await;
    assert_misaligned(&file, res, 512, PAGE_SIZE, addr);
    let (res, _) = file.write_at(pattern_page(0), 4097).await;
    assert!(
        matches!(
            res,
            Err(Error::Misaligned {
                offset: 4097,
                len: 4096,
                ..
            })
        ),
        "{res:?}"
    );

    // Length: a write of 100 bytes; a read into a 100-byte view of an aligned buffer.
    let mut short = pattern_page(0);
    short.truncate(100);
    let addr_short = short.as_ptr() as usize;
    let (res, _) = file.write_at(short, 0).await;
    assert_misaligned(&file, res, 0, 100, addr_short);
    let mut arena = AlignedBuf::zeroed(2 * PAGE_SIZE).unwrap();
    // SAFETY: `arena` outlives the views, which are only used by the calls below.
    let small = unsafe { RawIoBuf::new(arena.as_mut_ptr(), 100) };
    let (res, _) = file.read_at(small, 0).await;
    assert_misaligned(&file, res, 0, 100, arena.as_ptr() as usize);

    // Address: a page-sized view one byte into an aligned buffer.
    // SAFETY: `arena` has 2 pages, so 1 + 4096 bytes are in bounds; used only by these calls.
    let plus_one = unsafe { RawIoBuf::new(arena.as_mut_ptr().add(1), PAGE_SIZE) };
    let (res, _) = file.read_at(plus_one, 0).await;
    assert_misaligned(&file, res, 0, PAGE_SIZE, arena.as_ptr() as usize + 1);
    let (res, _) = file.write_at(plus_one.with_len(PAGE_SIZE), 4096).await;
    assert_misaligned(&file, res, 4096, PAGE_SIZE, arena.as_ptr() as usize + 1);
    let (res, _) = file.read_page_into(1, plus_one).await;
    assert_misaligned(&file, res, 4096, PAGE_SIZE, arena.as_ptr() as usize + 1);

    // A plain Vec is usually not page-aligned; only assert when it really is not.
    let vec = vec![7u8; PAGE_SIZE];
    let vec_addr = vec.as_ptr() as usize;
    let (res, _) = file.write_at(vec, 0).await;
    // The one request allowed to reach the kernel: a Vec that happens to be aligned.
    let aligned_vec_writes = u64::from(vec_addr.is_multiple_of(ALIGN));
    if aligned_vec_writes == 0 {
        assert_misaligned(&file, res, 0, PAGE_SIZE, vec_addr);
    } else {
        res.expect("an aligned Vec is a valid buffer");
    }

    // Vectored: the error names the first bad buffer with its own file offset.
    let good = AlignedBuf::with_cap(PAGE_SIZE).unwrap();
    let (res, _) = file
        .read_pages_into(1, vec![good_view(&good), plus_one])
        .await;
    assert_misaligned(&file, res, 2 * 4096, PAGE_SIZE, arena.as_ptr() as usize + 1);
    let (res, _) = file
        .write_pages(
            0,
            vec![pattern_page(0), {
                let mut b = pattern_page(1);
                b.truncate(512);
                b
            }],
        )
        .await;
    assert!(
        matches!(
            res,
            Err(Error::Misaligned {
                offset: 4096,
                len: 512,
                ..
            })
        ),
        "{res:?}"
    );

    // Nothing reached the kernel (but the aligned Vec's write, if it was aligned).
    let after = file.stats();
    assert_eq!(
        (after.read_ops, after.write_ops),
        (before.read_ops, before.write_ops + aligned_vec_writes)
    );
}

/// A read view of a whole aligned page buffer.
fn good_view(buf: &AlignedBuf) -> RawIoBuf {
    // SAFETY: `buf` outlives the view, which the test uses only while `buf` is alive; nothing
    // else accesses `buf` meanwhile.
    unsafe { buf.as_raw_view() }
}

#[compio::test]
async fn misaligned_requests_are_rejected_under_direct_io() {
    misaligned_requests_are_rejected_before_submission(Direct::Require).await;
}

#[compio::test]
async fn misaligned_requests_are_rejected_on_the_buffered_path() {
    misaligned_requests_are_rejected_before_submission(Direct::Off).await;
}

#[compio::test]
async fn page_calls_want_exactly_one_page() {
    let dir = disk_tempdir();
    let file = open(&dir, Direct::Auto).await;
    let two = AlignedBuf::zeroed(2 * PAGE_SIZE).unwrap();
    let (res, two) = file.write_page(3, two).await;
    assert!(
        matches!(
            res,
            Err(Error::NotAPage {
                page: 3,
                len: 8192,
                ..
            })
        ),
        "{res:?}"
    );
    let (res, _) = file.read_page_into(2, two).await;
    assert!(
        matches!(
            res,
            Err(Error::NotAPage {
                page: 2,
                len: 8192,
                ..
            })
        ),
        "{res:?}"
    );
    assert_eq!(file.stats().write_ops, 4, "only the setup wrote");
}

#[compio::test]
async fn more_than_iov_max_buffers_is_an_error() {
    let dir = disk_tempdir();
    let file = open(&dir, Direct::Auto).await;
    let res = file.read_pages(0, IOV_MAX + 1).await;
    assert!(
        matches!(
            res,
            Err(Error::TooManyBuffers {
                count: 1025,
                max: 1024,
                ..
            })
        ),
        "{res:?}"
    );
    let arena = AlignedBuf::zeroed((IOV_MAX + 1) * PAGE_SIZE).unwrap();
    // SAFETY: `arena` outlives the frames; they are only read (by the rejected write).
    let frames: Vec<RawIoBuf> = unsafe { arena.slice_into_raws(PAGE_SIZE) }.collect();
    let (res, _) = file.write_pages(0, frames).await;
    assert!(
        matches!(res, Err(Error::TooManyBuffers { count: 1025, .. })),
        "{res:?}"
    );
    assert_eq!(file.size().await.unwrap(), 4 * PAGE_SIZE as u64);
}
