//! `create` truncates, `open` is read-only, `open_rw` creates and keeps; errors name the file.

mod common;

use std::io::ErrorKind;

use common::{assert_pattern, disk_tempdir, pattern_page, write_pattern_pages};
use jdb_fs::{Error, File, OpenOptions, PAGE_SIZE};

#[compio::test]
async fn create_truncates_an_existing_file() {
    let dir = disk_tempdir();
    let path = dir.path().join("f");
    let file = File::create(&path).await.unwrap();
    assert_eq!(file.path(), path);
    write_pattern_pages(&file, 3).await;
    assert_eq!(file.size().await.unwrap(), 3 * PAGE_SIZE as u64);
    file.close().await.unwrap();

    let file = File::create(&path).await.unwrap();
    assert_eq!(file.size().await.unwrap(), 0);
    assert_eq!(file.page_count().await.unwrap(), 0);
}

#[compio::test]
async fn open_is_read_only_and_a_write_names_the_file() {
    let dir = disk_tempdir();
    let path = dir.path().join("ro");
    write_pattern_pages(&File::create(&path).await.unwrap(), 2).await;

    let file = File::open(&path).await.unwrap();
    assert_pattern(&file.read_page(1).await.unwrap(), 1);

    let (res, page) = file.write_page(0, pattern_page(9)).await;
    let err = res.expect_err("write on a read-only file");
    assert!(matches!(&err, Error::Io { op: "write", .. }), "{err:?}");
    assert_eq!(err.path(), Some(path.as_path()));
    assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err}");
    assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
    assert_eq!(page.len(), PAGE_SIZE, "the buffer comes back");

    let err = file
        .set_len(0)
        .await
        .expect_err("set_len on a read-only file");
    assert_eq!(err.path(), Some(path.as_path()));
    // Unchanged.
    assert_pattern(&file.read_page(0).await.unwrap(), 0);
}

#[compio::test]
async fn open_rw_creates_a_missing_file_and_keeps_an_existing_one() {
    let dir = disk_tempdir();
    let path = dir.path().join("rw");
    let file = File::open_rw(&path).await.unwrap();
    assert!(path.exists());
    assert_eq!(file.size().await.unwrap(), 0);
    write_pattern_pages(&file, 2).await;
    file.close().await.unwrap();

    let file = File::open_rw(&path).await.unwrap();
    assert_eq!(file.page_count().await.unwrap(), 2);
    assert_pattern(&file.read_page(1).await.unwrap(), 1);
}

#[compio::test]
async fn opening_a_missing_file_names_it() {
    let dir = disk_tempdir();
    let path = dir.path().join("missing");
    let err = File::open(&path).await.expect_err("no such file");
    assert!(matches!(&err, Error::Io { op: "open", .. }), "{err:?}");
    assert_eq!(err.io_kind(), Some(ErrorKind::NotFound));
    assert_eq!(err.path(), Some(path.as_path()));
    assert!(!path.exists());
}

#[compio::test]
async fn nonsense_options_are_rejected() {
    let dir = disk_tempdir();
    let path = dir.path().join("x");
    for opts in [
        OpenOptions::new(),
        OpenOptions::new().read(true).create(true).clone(),
    ] {
        let err = opts.open(&path).await.expect_err("invalid options");
        assert_eq!(err.io_kind(), Some(ErrorKind::InvalidInput), "{err}");
        assert_eq!(err.path(), Some(path.as_path()));
    }
    assert!(!path.exists());
}
