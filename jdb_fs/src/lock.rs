//! One writer per file: the advisory lock every [`File`](crate::File) holds while it is open.
//!
//! A writer takes `flock(LOCK_EX | LOCK_NB)` on the file's own descriptor, a reader
//! `flock(LOCK_SH | LOCK_NB)`. flock locks belong to the open file description, so two opens in
//! one process conflict exactly like two processes do, and the lock goes away only when the last
//! descriptor of that description is closed.
//!
//! Why the lock sits on the data descriptor and not on a side file: the lock must outlive every
//! write the kernel still holds. compio's operations each hold a clone of the file's `SharedFd`,
//! so the descriptor is not closed while one is in flight, even after the `File` is dropped
//! (compio keeps a dropped operation until its completion arrives); and the kernel itself holds a
//! reference to the `struct file` while an io_uring request runs. So the lock is released only
//! once the last write of a dropped handle has completed, and the next opener cannot write under
//! it. A side lock file would be released at drop, while those writes may still land.
//!
//! A lock on the descriptor also lingers in this process's children: a child being spawned
//! (`std::process::Command`, `posix_spawn`, `system`, any fork) holds a copy of every descriptor
//! from its fork to its exec, where the `O_CLOEXEC` ones close. A `File` dropped in that moment
//! keeps its lock in the child for it, so an immediate reopen would be refused by nobody at all.
//! A refusal for a file this process has released within [`FORK_WAIT`] is therefore tried again
//! until then; any other refusal is [`Error::Locked`] at once.

use std::{
    io,
    os::fd::AsRawFd,
    path::Path,
    time::{Duration, Instant},
};

use crate::{
    Error, Result,
    in_flight::{self, Handle, Inode, Usage},
};

/// How long an open waits for a dropped handle of this process to finish its I/O.
const DRAIN_WAIT: Duration = Duration::from_secs(10);
/// How often it looks again meanwhile.
const POLL: Duration = Duration::from_millis(1);

/// How long after this process released a file's lock (closed its last descriptor of it) a
/// refusal is taken for a child between fork and exec, and the lock is tried again.
///
/// A child spawned by any thread of this process (`Command`, `posix_spawn`, `system`, `fork`)
/// holds a copy of every descriptor, and so every `flock` of them, from its fork until its exec
/// closes the `O_CLOEXEC` ones: microseconds with `posix_spawn`'s vfork, a few milliseconds
/// for a `fork` that copies a large process's page tables or runs `pre_exec` code, tens of
/// milliseconds when the child is not scheduled on a loaded machine. A child forked after the
/// release has no copy, so only the children already past their fork then can hold the lock,
/// and only until their exec. 250 ms covers a descheduled child with a wide margin (the
/// slowest reopen measured with a spawning thread: 67 ms, 28 ms with the CPUs oversubscribed
/// twice) and still keeps a genuine conflict with a file just released here (another process
/// took it since) a prompt error; a file released earlier, or never held here, is refused at
/// once. With a thread spawning `true` in a loop,
/// 8–44% of immediate reopens were refused before this wait (`lock_survives_fork_window`).
pub(crate) const FORK_WAIT: Duration = Duration::from_millis(250);

/// The first pause before trying again in the fork window; each next one doubles, up to [`POLL`].
/// Most children exec within it.
const FIRST_RETRY: Duration = Duration::from_micros(50);

/// Takes the lock of `file` (exclusive for a writer), then registers the handle.
///
/// When the lock is refused:
/// - this process has an entry for the inode with no live handle but with I/O in flight (a
///   dropped `File` whose requests are still in the kernel): waits until they are done and tries
///   again, for up to [`DRAIN_WAIT`];
/// - this process has a live `File` on it: [`Error::Locked`] at once;
/// - this process released the file less than [`FORK_WAIT`] ago: tries again with growing
///   pauses until [`FORK_WAIT`] after the release (a child between fork and exec may hold a copy
///   of the descriptor), then [`Error::Locked`];
/// - otherwise (another process): [`Error::Locked`] at once.
pub(crate) async fn acquire(
    file: &std::fs::File,
    path: &Path,
    write: bool,
    inode: Inode,
) -> Result<Handle> {
    acquire_within(file, path, write, inode, DRAIN_WAIT).await
}

/// [`acquire`], waiting at most `drain_wait` for a dropped handle.
async fn acquire_within(
    file: &std::fs::File,
    path: &Path,
    write: bool,
    inode: Inode,
    drain_wait: Duration,
) -> Result<Handle> {
    let start = Instant::now();
    // Set at the first refusal taken for a fork window: until when, and the next pause.
    let mut fork_retry: Option<(Instant, Duration)> = None;
    loop {
        if try_lock(file, path, write)? {
            return Ok(in_flight::register(inode));
        }
        match in_flight::usage(inode) {
            Some(Usage { handles: 0, io }) if io > 0 => {
                if start.elapsed() >= drain_wait {
                    return Err(locked(path, write));
                }
                compio::time::sleep(POLL).await;
            }
            Some(Usage { handles, .. }) if handles > 0 => return Err(locked(path, write)),
            _ => {
                // No entry, or one with nothing left in flight. The draining handle may have
                // finished between the refusal and the look-up: an operation's descriptor is
                // released before its buffer (compio drops the fd field first), so an entry
                // that is done means its descriptor is closed. One more try tells that apart
                // from another process holding the lock.
                if try_lock(file, path, write)? {
                    return Ok(in_flight::register(inode));
                }
                // A child between fork and exec may hold our last descriptor's lock: wait until
                // FORK_WAIT after the release, measured once so that the wait stays bounded.
                let (until, pause) = match fork_retry {
                    Some(retry) => retry,
                    None => match in_flight::released_at(inode) {
                        Some(at) => (at + FORK_WAIT, FIRST_RETRY),
                        None => return Err(locked(path, write)),
                    },
                };
                let now = Instant::now();
                if now >= until {
                    return Err(locked(path, write));
                }
                compio::time::sleep(pause.min(until - now)).await;
                fork_retry = Some((until, (pause * 2).min(POLL)));
            }
        }
    }
}

fn locked(path: &Path, write: bool) -> Error {
    Error::Locked {
        path: path.to_path_buf(),
        write,
    }
}

/// One non-blocking `flock`: `Ok(false)` when another open file description holds a
/// conflicting lock.
fn try_lock(file: &std::fs::File, path: &Path, write: bool) -> Result<bool> {
    let mode = if write { libc::LOCK_EX } else { libc::LOCK_SH };
    loop {
        // SAFETY: `flock` takes no pointers; `file` owns an open descriptor for the whole call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), mode | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(true);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(Error::io(path, "flock", err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{os::unix::fs::MetadataExt, path::PathBuf};

    use super::*;

    /// A file, a descriptor that holds its exclusive lock (as a dropped handle's in-flight
    /// request would), and its inode.
    fn held_file() -> (tempfile::TempDir, PathBuf, std::fs::File, Inode) {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let path = dir.path().join("f");
        let holder = std::fs::File::create(&path).unwrap();
        assert!(try_lock(&holder, &path, true).unwrap());
        let meta = holder.metadata().unwrap();
        let inode = Inode {
            dev: meta.dev(),
            ino: meta.ino(),
        };
        (dir, path, holder, inode)
    }

    fn contender(path: &Path) -> std::fs::File {
        std::fs::File::open(path).unwrap()
    }

    /// An inode no real file has (`in_flight`'s own tests use `dev == u64::MAX`), for the
    /// registry's side of a test: a real file's inode number may be reused from a file another
    /// test has just released, and so come with a recent release.
    fn unused_inode(ino: u64) -> Inode {
        Inode {
            dev: u64::MAX - 1,
            ino,
        }
    }

    /// Whether `err` is the `Locked` error of `path` for a writer.
    fn is_locked_writer(err: &Error, path: &Path) -> bool {
        matches!(err, Error::Locked { path: p, write: true } if p == path)
    }

    #[compio::test]
    async fn a_dropped_handle_with_io_in_flight_is_waited_for() {
        let (_dir, path, holder, inode) = held_file();
        let handle = in_flight::register(inode);
        let in_flight = handle.in_flight();
        drop(handle);
        // The request "completes" on another thread after 30 ms: descriptor first, then the
        // buffer, as compio drops an operation. The lock must not be granted before that: the
        // flag is set just before the last drop, so it is set when `acquire` returns.
        let released = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let completes = std::thread::spawn({
            let released = std::sync::Arc::clone(&released);
            move || {
                std::thread::sleep(Duration::from_millis(30));
                drop(holder);
                released.store(true, std::sync::atomic::Ordering::SeqCst);
                drop(in_flight);
            }
        });
        let handle = acquire(&contender(&path), &path, false, inode)
            .await
            .unwrap();
        assert!(
            released.load(std::sync::atomic::Ordering::SeqCst),
            "the lock was granted while a dropped handle's request was still in flight"
        );
        assert_eq!(in_flight::usage(inode).unwrap().handles, 1);
        drop(handle);
        completes.join().unwrap();
    }

    #[compio::test]
    async fn a_live_handle_of_this_process_is_locked_at_once() {
        let (_dir, path, _holder, inode) = held_file();
        let _live = in_flight::register(inode);
        let start = Instant::now();
        let err = acquire(&contender(&path), &path, true, inode)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Locked { write: true, .. }), "{err:?}");
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
    }

    #[compio::test]
    async fn a_lock_held_outside_the_registry_is_locked_at_once() {
        // Another process, as far as this one can tell: no entry for the inode, no release.
        let (_dir, path, _holder, _) = held_file();
        let inode = unused_inode(1);
        assert_eq!(in_flight::usage(inode), None);
        assert_eq!(in_flight::released_at(inode), None);
        let start = Instant::now();
        let err = acquire(&contender(&path), &path, false, inode)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Locked { write: false, .. }), "{err:?}");
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
    }

    #[compio::test]
    async fn the_wait_for_a_dropped_handle_is_bounded() {
        let (_dir, path, _holder, inode) = held_file();
        let handle = in_flight::register(inode);
        let _never_completes = handle.in_flight();
        drop(handle);
        let wait = Duration::from_millis(50);
        let start = Instant::now();
        let err = acquire_within(&contender(&path), &path, true, inode, wait)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err:?}");
        assert!(start.elapsed() >= wait, "{:?}", start.elapsed());
    }

    #[compio::test]
    async fn a_lock_released_here_a_moment_ago_is_tried_again_until_free() {
        // `holder` plays a child between fork and exec: it holds a copy of the description
        // whose last handle this process has just dropped.
        let (_dir, path, holder, _) = held_file();
        let inode = unused_inode(2);
        drop(in_flight::register(inode));
        assert!(in_flight::released_at(inode).is_some());
        let execed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let child = std::thread::spawn({
            let execed = std::sync::Arc::clone(&execed);
            move || {
                std::thread::sleep(Duration::from_millis(20));
                execed.store(true, std::sync::atomic::Ordering::SeqCst);
                drop(holder);
            }
        });
        let handle = acquire(&contender(&path), &path, true, inode)
            .await
            .expect("the lock is taken once the copy is closed");
        assert!(execed.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(in_flight::usage(inode).unwrap().handles, 1);
        drop(handle);
        child.join().unwrap();
    }

    #[compio::test]
    async fn the_wait_for_a_fork_window_is_bounded_and_ends_locked() {
        let (_dir, path, _holder, _) = held_file();
        let inode = unused_inode(3);
        drop(in_flight::register(inode));
        let released = in_flight::released_at(inode).unwrap();
        let err = acquire(&contender(&path), &path, true, inode)
            .await
            .unwrap_err();
        assert!(is_locked_writer(&err, &path), "{err:?}");
        let waited = released.elapsed();
        assert!(
            waited >= FORK_WAIT && waited < FORK_WAIT + Duration::from_secs(5),
            "{waited:?}"
        );
    }

    #[compio::test]
    async fn a_lock_released_here_long_ago_is_locked_at_once() {
        let (_dir, path, _holder, _) = held_file();
        let inode = unused_inode(4);
        let long_ago = Instant::now().checked_sub(2 * FORK_WAIT).unwrap();
        in_flight::record_release(inode, long_ago);
        let start = Instant::now();
        let err = acquire(&contender(&path), &path, true, inode)
            .await
            .unwrap_err();
        assert!(is_locked_writer(&err, &path), "{err:?}");
        assert!(start.elapsed() < FORK_WAIT, "{:?}", start.elapsed());
    }
}
