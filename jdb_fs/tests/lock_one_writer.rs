//! One writer per file: a second writer, a reader beside a writer, or a writer beside readers is
//! `Locked` at once, in this process as from another one, and nothing of the holder's data is
//! touched; readers share; the next open succeeds once the holder is closed or dropped.

mod common;

use std::path::{Path, PathBuf};

use common::{
    Holder, assert_locked, assert_pattern, block_on_serialized, disk_tempdir, fork_window_guard,
    is_tmpfs, pattern_page, say_holding_and_wait, write_pattern_pages,
};
use jdb_fs::{Direct, File, OpenOptions, PAGE_SIZE};

const PAGE: u64 = PAGE_SIZE as u64;

/// Every way to open `path` for writing, each expected to be refused.
async fn assert_writers_locked(path: &Path) {
    assert_locked(File::open_rw(path).await, path, true);
    assert_locked(File::create(path).await, path, true);
    let write_only = OpenOptions::new()
        .write(true)
        .direct(Direct::Off)
        .open(path)
        .await;
    assert_locked(write_only, path, true);
}

#[compio::test]
async fn a_second_writer_in_this_process_is_locked_and_the_first_keeps_its_data() {
    let dir = disk_tempdir();
    let path = dir.path().join("db");
    let first = File::create(&path).await.unwrap();
    write_pattern_pages(&first, 4).await;

    assert_writers_locked(&path).await;
    assert_locked(File::open(&path).await, &path, false);

    // `create` did not truncate, and the first writer goes on as before.
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 4 * PAGE);
    let (res, _) = first.write_page(4, pattern_page(4)).await;
    res.unwrap();
    first.sync_data().await.unwrap();
    for id in 0..5 {
        assert_pattern(&first.read_page(id).await.unwrap(), id);
    }
}

#[test]
fn readers_share_the_file_and_exclude_writers() {
    // Closes or drops the holder and reopens at once: serialized against the test that spawns a
    // child, which would hold the closed file's lock until its exec (see `FORK_WINDOW`).
    block_on_serialized(async {
        let dir = disk_tempdir();
        let path = dir.path().join("db");
        let writer = File::create(&path).await.unwrap();
        write_pattern_pages(&writer, 2).await;
        writer.close().await.unwrap();

        let r1 = File::open(&path).await.unwrap();
        let r2 = File::open(&path).await.unwrap();
        assert_pattern(&r2.read_page(1).await.unwrap(), 1);
        assert_writers_locked(&path).await;
        drop(r1);
        assert_writers_locked(&path).await;
        r2.close().await.unwrap();

        let writer = File::open_rw(&path).await.unwrap();
        assert_locked(File::open(&path).await, &path, false);
        drop(writer);
        assert_pattern(
            &File::open(&path).await.unwrap().read_page(0).await.unwrap(),
            0,
        );
    });
}

#[test]
fn the_next_open_succeeds_once_the_holder_is_closed_or_dropped() {
    // Closes or drops the holder and reopens at once: serialized against the test that spawns a
    // child, which would hold the closed file's lock until its exec (see `FORK_WINDOW`).
    block_on_serialized(async {
        let dir = disk_tempdir();
        let path = dir.path().join("db");
        let file = File::create(&path).await.unwrap();
        write_pattern_pages(&file, 3).await;
        file.close().await.unwrap();

        let file = File::open_rw(&path).await.unwrap();
        assert_eq!(file.page_count().await.unwrap(), 3);
        drop(file);

        let file = File::create(&path).await.unwrap();
        assert_eq!(
            file.size().await.unwrap(),
            0,
            "create truncates once it holds the lock"
        );
    });
}

#[test]
fn the_lock_holds_on_tmpfs_too() {
    // Closes or drops the holder and reopens at once: serialized against the test that spawns a
    // child, which would hold the closed file's lock until its exec (see `FORK_WINDOW`).
    block_on_serialized(async {
        let shm = Path::new("/dev/shm");
        if !shm.is_dir() || !is_tmpfs(shm) {
            eprintln!("no tmpfs at /dev/shm: skipped");
            return;
        }
        let dir = tempfile::tempdir_in(shm).unwrap();
        let path = dir.path().join("db");
        let file = File::create(&path).await.unwrap();
        write_pattern_pages(&file, 2).await;
        assert_writers_locked(&path).await;
        assert_locked(File::open(&path).await, &path, false);
        assert_pattern(&file.read_page(1).await.unwrap(), 1);
        file.close().await.unwrap();
        assert_pattern(
            &File::open(&path).await.unwrap().read_page(1).await.unwrap(),
            1,
        );
    });
}

/// Set in the re-executed test binary: the path the child holds.
const CHILD_ENV: &str = "JDB_FS_LOCK_CHILD_PATH";
const CHILD_TEST: &str = "a_writer_in_another_process_locks_this_one_out";
/// Pages the child writes before and after the parent's attempts.
const BEFORE: u32 = 8;
const AFTER: u32 = 8;

/// The child: holds `path` open as a writer, writes, says so, waits for a line on stdin, writes
/// more, closes.
fn child(path: &Path) {
    let rt = compio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let file = File::create(path).await.unwrap();
        write_pattern_pages(&file, BEFORE).await;
        file.sync_data().await.unwrap();
        say_holding_and_wait();
        let pages = (BEFORE..BEFORE + AFTER).map(pattern_page).collect();
        let (res, _) = file.write_pages(BEFORE, pages).await;
        res.unwrap();
        file.sync_data().await.unwrap();
        file.close().await.unwrap();
    });
}

#[test]
fn a_writer_in_another_process_locks_this_one_out() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&path));
        return;
    }
    // Spawns a child: not while another test of this binary drops a file and reopens it, whose
    // lock the child would hold until its exec (see `FORK_WINDOW`).
    let _serial = fork_window_guard();
    let dir = disk_tempdir();
    let path: PathBuf = dir.path().join("shared");
    let child = Holder::spawn(CHILD_TEST, CHILD_ENV, &path);

    let rt = compio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        assert_writers_locked(&path).await;
        assert_locked(File::open(&path).await, &path, false);
    });
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        u64::from(BEFORE) * PAGE,
        "create did not truncate the child's file"
    );

    child.release();

    rt.block_on(async {
        let file = File::open(&path).await.unwrap();
        assert_eq!(file.page_count().await.unwrap(), BEFORE + AFTER);
        for (id, page) in file
            .read_pages(0, (BEFORE + AFTER) as usize)
            .await
            .unwrap()
            .iter()
            .enumerate()
        {
            assert_pattern(page, id as u32);
        }
    });
}
