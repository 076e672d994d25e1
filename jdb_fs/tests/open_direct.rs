//! `O_DIRECT` is really set on a disk filesystem, and the buffered fallback (forced, or chosen
//! automatically where the filesystem refuses `O_DIRECT`) behaves the same. (No filesystem here
//! that stores regular files refuses `O_DIRECT`: the automatic fallback itself is tested in
//! `open.rs` on a procfs descriptor.)

mod common;

use std::path::Path;

use common::{assert_pattern, disk_tempdir, has_o_direct, is_tmpfs, pattern_page};
use jdb_fs::{AlignedBuf, Direct, Error, File, OpenOptions, PAGE_SIZE};

/// Writes two pages, reads them back one by one and as a run.
async fn round_trip(file: &File) {
    for id in [0, 1] {
        let (res, _) = file.write_page(id, pattern_page(id)).await;
        res.expect("write_page");
    }
    for id in [0, 1] {
        assert_pattern(&file.read_page(id).await.expect("read_page"), id);
    }
    let pages = file.read_pages(0, 2).await.expect("read_pages");
    assert_pattern(&pages[0], 0);
    assert_pattern(&pages[1], 1);
}

#[compio::test]
async fn direct_io_is_really_on_for_a_disk_file() {
    let dir = disk_tempdir();
    let path = dir.path().join("direct");
    let file = File::create(&path).await.unwrap();
    assert!(file.is_direct());
    assert!(has_o_direct(&file), "F_GETFL lacks O_DIRECT");
    round_trip(&file).await;
    file.close().await.unwrap();

    // One at a time: a writer and a reader cannot have the file at once.
    let reader = File::open(&path).await.unwrap();
    assert!(reader.is_direct() && has_o_direct(&reader));
    drop(reader);
    let writer = File::open_rw(&path).await.unwrap();
    assert!(writer.is_direct() && has_o_direct(&writer));
    drop(writer);

    let required = OpenOptions::new()
        .read(true)
        .direct(Direct::Require)
        .open(&path)
        .await;
    assert!(has_o_direct(&required.unwrap()));
}

#[compio::test]
async fn forced_fallback_is_buffered_and_round_trips() {
    let dir = disk_tempdir();
    let path = dir.path().join("buffered");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .direct(Direct::Off)
        .open(&path)
        .await
        .unwrap();
    assert!(!file.is_direct());
    assert!(
        !has_o_direct(&file),
        "F_GETFL has O_DIRECT after Direct::Off"
    );
    round_trip(&file).await;

    // Alignment is checked on the buffered path too, though the page cache would accept this.
    let mut buf = AlignedBuf::zeroed(PAGE_SIZE).unwrap();
    buf.truncate(100);
    let (res, _) = file.write_at(buf, 0).await;
    assert!(
        matches!(res, Err(Error::Misaligned { len: 100, .. })),
        "{res:?}"
    );
    file.close().await.unwrap();

    // A direct handle on the same file sees the buffered writes, still unsynced in the page
    // cache (the kernel flushes the page cache range before a direct read).
    let direct = File::open(&path).await.unwrap();
    assert!(direct.is_direct());
    assert_pattern(&direct.read_page(1).await.unwrap(), 1);
}

#[compio::test]
async fn tmpfs_falls_back_automatically_or_goes_direct() {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() || !is_tmpfs(shm) {
        eprintln!("no tmpfs at /dev/shm: skipped");
        return;
    }
    let dir = tempfile::tempdir_in(shm).unwrap();
    let path = dir.path().join("on-tmpfs");
    let file = File::create(&path).await.unwrap();
    // tmpfs accepts O_DIRECT since Linux 6.6; older kernels refuse it with EINVAL.
    let direct = file.is_direct();
    assert_eq!(direct, has_o_direct(&file));
    eprintln!("tmpfs O_DIRECT: {direct}");
    round_trip(&file).await;
    file.close().await.unwrap();

    let required = OpenOptions::new()
        .read(true)
        .direct(Direct::Require)
        .open(&path)
        .await;
    match required {
        Ok(f) => assert!(direct && f.is_direct() && has_o_direct(&f)),
        Err(e) => {
            assert!(!direct);
            assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}");
            assert_eq!(e.path(), Some(path.as_path()));
        }
    }
}
