//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::{
    ffi::CString,
    io::{BufRead, BufReader, Write},
    os::fd::AsRawFd,
    os::unix::ffi::OsStrExt,
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Mutex, MutexGuard, mpsc},
    time::Duration,
};

use jdb_fs::{AlignedBuf, Error, File, PAGE_SIZE};
use tempfile::TempDir;

/// Held by every test of a binary that spawns a child process (`Command`: losetup, a copy of the
/// test binary, ...) and by every test that closes or drops a [`File`] and reopens it expecting
/// the lock to be free, so that the two never run at the same time.
///
/// Why: spawning forks (or `posix_spawn`s) this process, and between the fork and the `exec` the
/// child holds a copy of every descriptor of the parent; they are `O_CLOEXEC`, so they close only
/// at the `exec`. jdb's lock is a `flock` on the open file description, which lives as long as
/// any descriptor of it does: a `File` another test drops inside that window keeps its lock in
/// the child for a moment, and an immediate reopen of the same path got `Locked` ("in use by
/// another jdb process or pool"). Seen as ~3 failures in 100 runs of `open_refuses_non_files`
/// under CPU load (losetup beside `a_regular_file_is_still_opened_every_way`), and as a quarter
/// of reopens failing with a thread spawning `true` in a loop. jdb_fs now tries such a reopen
/// again for up to 250 ms after the release (`lock_survives_fork_window` tests that); the guard
/// stays so that these tests do not depend on a child reaching its exec within that bound.
///
/// Each test binary is its own process and compiles its own copy of this module, so this is one
/// lock per binary: exactly the tests that can race. A test that panics poisons it; the next one
/// takes it anyway, so one failure does not fail the others.
static FORK_WINDOW: Mutex<()> = Mutex::new(());

/// Takes [`FORK_WINDOW`] for as long as the guard lives: bind it first (`let _serial = ...`) so
/// it is dropped last, after a `Drop` that spawns (e.g. `losetup -d`) has run.
pub fn fork_window_guard() -> MutexGuard<'static, ()> {
    FORK_WINDOW.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `test` on a new compio runtime, as `#[compio::test]` does, holding [`FORK_WINDOW`] for
/// the whole run (a sync wrapper, so no `MutexGuard` is held across an `.await`).
pub fn block_on_serialized<F: std::future::Future>(test: F) -> F::Output {
    let _serial = fork_window_guard();
    compio::runtime::Runtime::new()
        .expect("cannot create runtime")
        .block_on(test)
}

/// A temp dir on a disk filesystem where `O_DIRECT` works: Cargo's target tmp dir, or the crate
/// directory if the target dir happens to be on tmpfs (whatever `/tmp` is).
pub fn disk_tempdir() -> TempDir {
    let target_tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let base = if is_tmpfs(target_tmp) {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    } else {
        target_tmp
    };
    tempfile::tempdir_in(base).expect("temp dir")
}

/// Whether `dir` is on tmpfs (`statfs`).
pub fn is_tmpfs(dir: &Path) -> bool {
    let c_path = CString::new(dir.as_os_str().as_bytes()).expect("path without NUL");
    let mut st = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `c_path` is a valid NUL-terminated string and `st` points to writable memory of
    // the right type, both alive for the call.
    let rc = unsafe { libc::statfs(c_path.as_ptr(), st.as_mut_ptr()) };
    assert_eq!(
        rc,
        0,
        "statfs {}: {}",
        dir.display(),
        std::io::Error::last_os_error()
    );
    // SAFETY: `statfs` returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)] // both are i64 here, but their types differ by target
    let (f_type, tmpfs) = (st.f_type as i64, libc::TMPFS_MAGIC as i64);
    f_type == tmpfs
}

/// Whether the descriptor really has `O_DIRECT` set, per `fcntl(F_GETFL)`.
pub fn has_o_direct(file: &File) -> bool {
    // SAFETY: `F_GETFL` takes no pointer argument, and the fd stays open while `file` is borrowed.
    let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
    assert!(flags >= 0, "fcntl: {}", std::io::Error::last_os_error());
    flags & libc::O_DIRECT != 0
}

/// The byte at `i` of page `page` in the test pattern: differs between pages and within one.
pub fn pattern_byte(page: u32, i: usize) -> u8 {
    (page as usize)
        .wrapping_mul(131)
        .wrapping_add(i.wrapping_mul(7))
        .wrapping_add(i >> 8) as u8
}

/// One page filled with the pattern of `page`.
pub fn pattern_page(page: u32) -> AlignedBuf {
    let mut buf = AlignedBuf::zeroed(PAGE_SIZE).expect("alloc");
    fill_pattern(&mut buf, page);
    buf
}

/// Fills `bytes` (a whole number of pages) with the pattern of the pages from `first`.
pub fn fill_pattern(bytes: &mut [u8], first: u32) {
    for (n, chunk) in bytes.chunks_mut(PAGE_SIZE).enumerate() {
        for (i, b) in chunk.iter_mut().enumerate() {
            *b = pattern_byte(first + n as u32, i);
        }
    }
}

/// Asserts `bytes` (a whole number of pages) hold the pattern of the pages from `first`.
pub fn assert_pattern(bytes: &[u8], first: u32) {
    assert_eq!(
        bytes.len() % PAGE_SIZE,
        0,
        "not whole pages: {}",
        bytes.len()
    );
    for (n, chunk) in bytes.chunks(PAGE_SIZE).enumerate() {
        let page = first + n as u32;
        for (i, &b) in chunk.iter().enumerate() {
            assert_eq!(b, pattern_byte(page, i), "page {page} byte {i}");
        }
    }
}

/// Writes pages `0..n` with the pattern, one page at a time.
pub async fn write_pattern_pages(file: &File, n: u32) {
    for id in 0..n {
        let (res, _) = file.write_page(id, pattern_page(id)).await;
        res.expect("write_page");
    }
}

/// Asserts `res` is `Locked` for `path`, asked as a writer (`write`) or a reader, with the
/// one-line message.
pub fn assert_locked<T: std::fmt::Debug>(res: jdb_fs::Result<T>, path: &Path, write: bool) {
    match res {
        Err(err @ Error::Locked { .. }) => {
            let Error::Locked { path: p, write: w } = &err else {
                unreachable!()
            };
            assert_eq!((p.as_path(), *w), (path, write));
            assert_eq!(
                err.to_string(),
                format!(
                    "{} is in use by another jdb process or pool (it holds the file's lock)",
                    path.display()
                )
            );
        }
        other => panic!("expected Locked (write: {write}), got {other:?}"),
    }
}

/// What a child test prints once it holds its file (see [`Holder::spawn`]).
pub const HOLDING: &str = "jdb-child: holding";

/// Another process holding a file: this test binary run again, running only the test `test`
/// with the environment variable `env` set to the file's path. That test's child branch opens
/// the file, prints [`HOLDING`], waits for a line on stdin ([`Holder::release`]) and closes it.
/// Killed and reaped if the parent fails half-way.
pub struct Holder(Child);

impl Holder {
    /// Spawns the child and waits (60 s at most) until it says it holds the file. Take
    /// [`fork_window_guard`] first: the spawn forks this process.
    pub fn spawn(test: &str, env: &str, path: &Path) -> Self {
        let mut child = Self(
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", test, "--nocapture", "--test-threads=1"])
                .env(env, path)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let stdout = child.0.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains(HOLDING) {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(60))
            .expect("the child never said it holds the file");
        child
    }

    /// Tells the child to finish (close the file) and waits for it to exit successfully.
    pub fn release(mut self) {
        self.0.stdin.take().unwrap().write_all(b"go\n").unwrap();
        let status = self.0.wait().unwrap();
        assert!(status.success(), "child: {status}");
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The child side of [`Holder::spawn`]: prints [`HOLDING`] and waits for the parent's line.
pub fn say_holding_and_wait() {
    println!("{HOLDING}");
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
}
