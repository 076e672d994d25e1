//! A file this process has just closed can be reopened at once although a child process is being
//! spawned meanwhile: between its fork and its exec the child holds a copy of every descriptor,
//! and with it the closed file's lock, for a moment. The reopen waits that moment out (bounded)
//! instead of failing `Locked`. A genuine conflict is still `Locked`: promptly for a live handle
//! of this process, and for another process holding the file.

mod common;

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use common::{
    Holder, assert_locked, assert_pattern, block_on_serialized, disk_tempdir, fork_window_guard,
    pattern_page, say_holding_and_wait,
};
use jdb_fs::File;

/// Close-and-reopen rounds against the spawning thread.
const ROUNDS: u32 = 300;

/// A thread that spawns `true` and waits for it, over and over, until stopped: each spawn forks
/// this process, so a child holds copies of all its descriptors until the child's exec.
struct Spawner {
    stop: Arc<AtomicBool>,
    spawned: Arc<AtomicUsize>,
    thread: JoinHandle<()>,
}

impl Spawner {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let spawned = Arc::new(AtomicUsize::new(0));
        let thread = std::thread::spawn({
            let (stop, spawned) = (Arc::clone(&stop), Arc::clone(&spawned));
            move || {
                while !stop.load(SeqCst) {
                    let status = Command::new("true").status().expect("spawn true");
                    assert!(status.success(), "true: {status}");
                    spawned.fetch_add(1, SeqCst);
                }
            }
        });
        Self {
            stop,
            spawned,
            thread,
        }
    }

    /// Stops the thread; gives how many children it spawned.
    fn stop(self) -> usize {
        self.stop.store(true, SeqCst);
        self.thread.join().expect("the spawning thread panicked");
        self.spawned.load(SeqCst)
    }
}

#[test]
fn a_reopen_succeeds_while_another_thread_spawns_children() {
    // Spawns children itself; serialized with the other tests of this binary (`FORK_WINDOW`).
    block_on_serialized(async {
        let dir = disk_tempdir();
        let path = dir.path().join("db");
        let spawner = Spawner::start();
        let mut refused = Vec::new();
        let mut slowest = Duration::ZERO;
        for round in 0..ROUNDS {
            // Each open follows the drop of the previous one: both are reopens.
            let start = Instant::now();
            let created = File::create(&path).await;
            slowest = slowest.max(start.elapsed());
            match created {
                Ok(file) => {
                    let (res, _) = file.write_page(0, pattern_page(round)).await;
                    res.unwrap();
                    drop(file);
                }
                Err(err) => {
                    refused.push((round, "create", err));
                    continue;
                }
            }
            let start = Instant::now();
            let reopened = File::open_rw(&path).await;
            slowest = slowest.max(start.elapsed());
            match reopened {
                Ok(file) => {
                    assert_pattern(&file.read_page(0).await.unwrap(), round);
                    drop(file);
                }
                Err(err) => refused.push((round, "open_rw", err)),
            }
        }
        let spawned = spawner.stop();
        eprintln!("{spawned} children spawned, slowest open {slowest:?}");
        assert!(spawned > 0, "the spawning thread never spawned");
        assert!(
            refused.is_empty(),
            "{} of {} opens refused while {spawned} children were spawned; first: {:?}",
            refused.len(),
            2 * ROUNDS,
            refused.first()
        );
    });
}

#[test]
fn a_live_writer_of_this_process_still_locks_a_second_one_out_at_once() {
    block_on_serialized(async {
        let dir = disk_tempdir();
        let path = dir.path().join("db");
        // Released once by this process, so the refusal below is not a fresh file's: the live
        // handle, not the age of the release, must make it immediate.
        drop(File::create(&path).await.unwrap());
        let holder = File::open_rw(&path).await.unwrap();
        let start = Instant::now();
        let second = File::open_rw(&path).await;
        let took = start.elapsed();
        assert_locked(second, &path, true);
        assert!(took < Duration::from_millis(100), "refused after {took:?}");
        // The holder is untouched and still writes.
        let (res, _) = holder.write_page(1, pattern_page(1)).await;
        res.unwrap();
        holder.close().await.unwrap();
    });
}

/// Set in the re-executed test binary: the path the child holds.
const CHILD_ENV: &str = "JDB_FS_FORK_WINDOW_CHILD_PATH";
const CHILD_TEST: &str = "a_writer_in_another_process_is_still_locked_out";

/// The child: holds `path` open as a writer, says so, waits for a line on stdin, closes.
fn child(path: &Path) {
    compio::runtime::Runtime::new().unwrap().block_on(async {
        let file = File::create(path).await.unwrap();
        let (res, _) = file.write_page(0, pattern_page(0)).await;
        res.unwrap();
        say_holding_and_wait();
        file.close().await.unwrap();
    });
}

#[test]
fn a_writer_in_another_process_is_still_locked_out() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&path));
        return;
    }
    // Spawns a child; serialized with the other tests of this binary (`FORK_WINDOW`).
    let _serial = fork_window_guard();
    let dir = disk_tempdir();
    let path: PathBuf = dir.path().join("shared");
    let child = Holder::spawn(CHILD_TEST, CHILD_ENV, &path);

    let rt = compio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        assert_locked(File::open_rw(&path).await, &path, true);
        assert_locked(File::create(&path).await, &path, true);
    });
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        jdb_fs::PAGE_SIZE as u64,
        "create did not truncate the child's file"
    );

    child.release();
    rt.block_on(async {
        let file = File::open_rw(&path).await.unwrap();
        assert_pattern(&file.read_page(0).await.unwrap(), 0);
    });
}
