//! Data written survives close (or drop) and reopen.

mod common;

use common::{assert_pattern, disk_tempdir, pattern_page, write_pattern_pages};
use jdb_fs::{Direct, File, OpenOptions, PAGE_SIZE};

#[compio::test]
async fn data_survives_close_and_reopen() {
    let dir = disk_tempdir();
    let path = dir.path().join("db");
    let file = File::create(&path).await.unwrap();
    write_pattern_pages(&file, 10).await;
    let (res, _) = file
        .write_pages(10, (10..20).map(pattern_page).collect())
        .await;
    res.unwrap();
    file.sync_all().await.unwrap();
    file.close().await.unwrap();

    let file = File::open(&path).await.unwrap();
    assert_eq!(file.page_count().await.unwrap(), 20);
    for (i, page) in file.read_pages(0, 20).await.unwrap().iter().enumerate() {
        assert_pattern(page, i as u32);
    }
}

#[compio::test]
async fn data_survives_drop_and_buffered_reopen() {
    let dir = disk_tempdir();
    let path = dir.path().join("db");
    {
        let file = File::open_rw(&path).await.unwrap();
        write_pattern_pages(&file, 3).await;
        file.sync_data().await.unwrap();
        // Dropped here: closed without `close`.
    }
    let file = OpenOptions::new()
        .read(true)
        .direct(Direct::Off)
        .open(&path)
        .await
        .unwrap();
    assert!(!file.is_direct());
    assert_eq!(file.size().await.unwrap(), 3 * PAGE_SIZE as u64);
    assert_pattern(&file.read_page(2).await.unwrap(), 2);
}
