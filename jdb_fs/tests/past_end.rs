//! Reads past the end of the file are `PastEnd { page, pages_in_file }`, found from the short
//! read; the file is `stat`ed only then, never on a successful read.

mod common;

use common::{assert_pattern, disk_tempdir, write_pattern_pages};
use jdb_fs::{AlignedBuf, Direct, Error, File, OpenOptions, PAGE_SIZE};

async fn open(dir: &tempfile::TempDir, direct: Direct) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .direct(direct)
        .open(dir.path().join("f"))
        .await
        .unwrap()
}

fn assert_past_end<T: std::fmt::Debug>(res: jdb_fs::Result<T>, page: u64, pages_in_file: u64) {
    match res {
        Err(Error::PastEnd {
            page: p,
            pages_in_file: n,
            ..
        }) => {
            assert_eq!((p, n), (page, pages_in_file));
        }
        other => panic!(
            "expected PastEnd {{ page: {page}, pages_in_file: {pages_in_file} }}, got {other:?}"
        ),
    }
}

async fn reads_past_the_end_are_past_end(direct: Direct) {
    let dir = disk_tempdir();
    let file = open(&dir, direct).await;
    assert_eq!(file.is_direct(), direct != Direct::Off);

    assert_past_end(file.read_page(0).await, 0, 0);

    write_pattern_pages(&file, 3).await;
    assert_past_end(file.read_page(3).await, 3, 3);
    assert_past_end(file.read_page(7).await, 7, 3);
    assert_past_end(file.read_pages(2, 4).await, 3, 3);

    // The buffers come back holding what was read.
    let bufs = (0..3)
        .map(|_| AlignedBuf::with_cap(PAGE_SIZE).unwrap())
        .collect();
    let (res, bufs) = file.read_pages_into(1, bufs).await;
    assert_past_end(res, 3, 3);
    assert_pattern(&bufs[0], 1);
    assert_pattern(&bufs[1], 2);
    assert!(bufs[2].is_empty());

    // A partial last page: the file ends inside page 3.
    file.set_len(3 * PAGE_SIZE as u64 + 100).await.unwrap();
    assert_eq!(file.page_count().await.unwrap(), 3);
    assert_past_end(file.read_page(3).await, 3, 3);
    assert_past_end(file.read_pages(0, 5).await, 3, 3);
    assert_pattern(&file.read_page(2).await.unwrap(), 2);

    // Byte-level reads report the page too.
    let (res, _) = file
        .read_at(AlignedBuf::with_cap(2 * PAGE_SIZE).unwrap(), 2 * 4096)
        .await;
    assert_past_end(res, 3, 3);
}

#[compio::test]
async fn reads_past_the_end_are_past_end_under_direct_io() {
    reads_past_the_end_are_past_end(Direct::Require).await;
}

#[compio::test]
async fn reads_past_the_end_are_past_end_on_the_buffered_path() {
    reads_past_the_end_are_past_end(Direct::Off).await;
}

#[compio::test]
async fn successful_reads_are_one_op_and_never_stat() {
    let dir = disk_tempdir();
    let file = open(&dir, Direct::Auto).await;
    write_pattern_pages(&file, 8).await;
    let before = file.stats();

    for id in 0..8 {
        assert_pattern(&file.read_page(id).await.unwrap(), id);
    }
    let mut buf = AlignedBuf::with_cap(PAGE_SIZE).unwrap();
    for id in 0..8 {
        let (res, back) = file.read_page_into(id, buf).await;
        res.unwrap();
        assert_pattern(&back, id);
        buf = back;
    }
    let pages = file.read_pages(0, 8).await.unwrap();
    assert_eq!(pages.len(), 8);

    let after = file.stats();
    assert_eq!(after.read_ops - before.read_ops, 17, "one op per call");
    assert_eq!(after.bytes_read - before.bytes_read, 24 * PAGE_SIZE as u64);
    assert_eq!(after.stat_ops, before.stat_ops, "no stat on the read path");

    // Only the end-of-file report stats the file.
    assert!(file.read_page(8).await.is_err());
    let last = file.stats();
    assert_eq!(
        (
            last.read_ops - after.read_ops,
            last.stat_ops - after.stat_ops
        ),
        (1, 1)
    );
}
