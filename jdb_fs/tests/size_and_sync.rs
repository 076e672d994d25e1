//! Size, page count, `set_len`, `preallocate`, the syncs, and OS errors (ENOSPC) surfacing with
//! their errno.

mod common;

use std::{io::ErrorKind, path::Path};

use common::{assert_pattern, disk_tempdir, is_tmpfs, pattern_page, write_pattern_pages};
use jdb_fs::{Direct, Error, File, OpenOptions, PAGE_SIZE};

const PAGE: u64 = PAGE_SIZE as u64;

#[compio::test]
async fn size_and_page_count_follow_writes_and_set_len() {
    let dir = disk_tempdir();
    let file = File::create(dir.path().join("f")).await.unwrap();
    assert_eq!(
        (file.size().await.unwrap(), file.page_count().await.unwrap()),
        (0, 0)
    );
    write_pattern_pages(&file, 3).await;
    assert_eq!(
        (file.size().await.unwrap(), file.page_count().await.unwrap()),
        (3 * PAGE, 3)
    );

    file.set_len(10 * PAGE).await.unwrap();
    assert_eq!(file.page_count().await.unwrap(), 10);
    assert!(file.read_page(9).await.unwrap().iter().all(|&b| b == 0));
    file.set_len(PAGE + 1).await.unwrap();
    assert_eq!(
        (file.size().await.unwrap(), file.page_count().await.unwrap()),
        (PAGE + 1, 1)
    );
    assert_pattern(&file.read_page(0).await.unwrap(), 0);
}

#[compio::test]
async fn preallocate_grows_the_size_and_never_shrinks_it() {
    let dir = disk_tempdir();
    for direct in [Direct::Auto, Direct::Off] {
        let path = dir.path().join(format!("{direct:?}"));
        let opts = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .direct(direct)
            .clone();
        let file = opts.open(&path).await.unwrap();
        let before = file.stats().blocking_ops;
        file.preallocate(64 * PAGE).await.unwrap();
        assert_eq!(file.stats().blocking_ops - before, 1);
        assert_eq!(file.size().await.unwrap(), 64 * PAGE);
        assert_eq!(file.page_count().await.unwrap(), 64);
        // Blocks are really allocated (not a hole).
        let meta = std::fs::metadata(&path).unwrap();
        assert!(std::os::unix::fs::MetadataExt::blocks(&meta) * 512 >= 64 * PAGE);
        // Preallocated pages read as zeros and can be written.
        assert!(file.read_page(63).await.unwrap().iter().all(|&b| b == 0));
        let (res, _) = file.write_page(63, pattern_page(63)).await;
        res.unwrap();

        file.preallocate(PAGE).await.unwrap();
        assert_eq!(
            file.size().await.unwrap(),
            64 * PAGE,
            "a smaller preallocate keeps the size"
        );

        let err = file.preallocate(0).await.expect_err("zero length");
        assert_eq!(err.io_kind(), Some(ErrorKind::InvalidInput));
        assert!(
            matches!(
                &err,
                Error::Io {
                    op: "fallocate",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

#[compio::test]
async fn syncs_succeed() {
    let dir = disk_tempdir();
    let file = File::create(dir.path().join("f")).await.unwrap();
    write_pattern_pages(&file, 2).await;
    file.sync_data().await.unwrap();
    file.sync_all().await.unwrap();
    assert_eq!(file.stats().sync_ops, 2);
    let path = file.path().to_owned();
    file.close().await.unwrap();
    let ro = File::open(&path).await.unwrap();
    ro.sync_all().await.unwrap();
    ro.close().await.unwrap();
}

#[compio::test]
async fn enospc_surfaces_with_its_errno() {
    // tmpfs refuses up front a fallocate larger than the whole filesystem, with ENOSPC and
    // without allocating anything. (/dev/full, the usual ENOSPC source, is a device: refused.)
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() || !is_tmpfs(shm) {
        eprintln!("no tmpfs at /dev/shm: skipped (ENOSPC needs a size-limited tmpfs here)");
        return;
    }
    let dir = tempfile::tempdir_in(shm).unwrap();
    let path = dir.path().join("full");
    let file = File::create(&path).await.unwrap();
    let err = file
        .preallocate(1 << 50)
        .await
        .expect_err("tmpfs accepted a 1 PiB fallocate");
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
    assert_eq!(err.io_kind(), Some(ErrorKind::StorageFull));
    assert_eq!(err.path(), Some(path.as_path()));
    assert!(
        matches!(
            &err,
            Error::Io {
                op: "fallocate",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(file.size().await.unwrap(), 0, "nothing was allocated");
}
