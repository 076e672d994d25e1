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

/// Takes the lock of `file` (exclusive for a writer), then registers the handle.
///
/// When the lock is refused: if this process has an entry for the inode with no live handle
/// but with I/O in flight (a dropped `File` whose requests are still in the kernel), waits until
/// they are done and tries again, for up to [`DRAIN_WAIT`]; otherwise (a live `File` of this
/// process, or another process) [`Error::Locked`] at once.
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
                return if try_lock(file, path, write)? {
                    Ok(in_flight::register(inode))
                } else {
                    Err(locked(path, write))
                };
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
        // Another process, as far as this one can tell: no entry for the inode.
        let (_dir, path, _holder, inode) = held_file();
        assert_eq!(in_flight::usage(inode), None);
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
}
