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

use std::{io, os::fd::AsRawFd, path::Path};

use crate::{Error, Result};

/// Takes the lock of `file`: exclusive for a writer, shared for a reader.
///
/// # Errors
/// [`Error::Locked`] at once when another open file description holds a conflicting lock.
pub(crate) fn acquire(file: &std::fs::File, path: &Path, write: bool) -> Result<()> {
    if try_lock(file, path, write)? {
        Ok(())
    } else {
        Err(Error::Locked {
            path: path.to_path_buf(),
            write,
        })
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
