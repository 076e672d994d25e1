//! How a [`File`] is opened: access mode and the Direct I/O policy.

use std::{
    io,
    os::{
        fd::{AsRawFd, FromRawFd, IntoRawFd},
        unix::fs::{MetadataExt, OpenOptionsExt},
    },
    path::Path,
    sync::atomic::{AtomicBool, Ordering},
};

use crate::{Error, File, Result, in_flight::Inode, kind, lock};

/// Whether to open with `O_DIRECT` (bypass the page cache).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direct {
    /// Try `O_DIRECT`; if the filesystem refuses it (setting the flag fails with `EINVAL`, e.g.
    /// tmpfs before Linux 6.6), use buffered I/O instead and say so once per process with
    /// `log::warn!`. [`File::is_direct`] tells which one you got.
    #[default]
    Auto,
    /// Buffered I/O through the page cache. Requests are still alignment-checked, so code
    /// behaves the same as under Direct I/O; tests use this to exercise the fallback path.
    Off,
    /// `O_DIRECT` or an error ([`Error::Io`] with `op == "open O_DIRECT"`).
    Require,
}

/// Options to open a [`File`], like `std::fs::OpenOptions` plus a [`Direct`] policy.
///
/// [`File::create`], [`File::open`] and [`File::open_rw`] cover the usual cases; use this to pick
/// another combination or to force buffered I/O:
///
/// ```no_run
/// # async fn f() -> jdb_fs::Result<()> {
/// use jdb_fs::{Direct, OpenOptions};
///
/// let file = OpenOptions::new().read(true).write(true).create(true).direct(Direct::Off)
///     .open("pages.jdb").await?;
/// assert!(!file.is_direct());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    create: bool,
    truncate: bool,
    direct: Direct,
}

/// Set once the buffered fallback has been logged, so it is logged only once per process.
static FALLBACK_LOGGED: AtomicBool = AtomicBool::new(false);

impl OpenOptions {
    /// No access, no creation, [`Direct::Auto`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Open for reading.
    pub fn read(&mut self, read: bool) -> &mut Self {
        self.read = read;
        self
    }

    /// Open for writing.
    pub fn write(&mut self, write: bool) -> &mut Self {
        self.write = write;
        self
    }

    /// Create the file if it is missing (needs `write`).
    pub fn create(&mut self, create: bool) -> &mut Self {
        self.create = create;
        self
    }

    /// Truncate the file to 0 bytes (needs `write`), once its lock is held.
    pub fn truncate(&mut self, truncate: bool) -> &mut Self {
        self.truncate = truncate;
        self
    }

    /// The Direct I/O policy, [`Direct::Auto`] by default.
    pub fn direct(&mut self, direct: Direct) -> &mut Self {
        self.direct = direct;
        self
    }

    /// Opens `path` with these options, taking the file's lock: exclusive with `write`, shared
    /// for read-only access.
    ///
    /// The sequence never changes or hangs on something that is not a jdb file: the path is
    /// `stat`ed first and anything but a regular file is refused unopened (opening a device can
    /// itself act: a watchdog arms, a tape rewinds); the file is then opened without `O_TRUNC`
    /// and without `O_DIRECT` but with `O_NONBLOCK` (a FIFO that appeared meanwhile cannot hang
    /// the open) and checked again on the descriptor (`fstat`, then `fstatfs` against
    /// pseudo-filesystems such as procfs or sysfs). Only then are `O_NONBLOCK` cleared and
    /// `O_DIRECT` set (`fcntl(F_SETFL)`), the lock taken, and, with `truncate`, the file cut to 0
    /// bytes: a file in use by someone else is never truncated.
    ///
    /// # Errors
    /// - [`Error::NotRegularFile`] for a directory, a device, a FIFO, a socket or a file on a
    ///   pseudo-filesystem (nothing is written to it);
    /// - [`Error::Locked`] when another process, or another open [`File`] of this process, holds
    ///   a conflicting lock (see [`File`] for the wait on a dropped handle's writes);
    /// - [`Error::Io`] with `op == "open"` naming the path (`InvalidInput` for a combination
    ///   that makes no sense: neither read nor write, or create/truncate without write), or
    ///   `op == "open O_DIRECT"` under [`Direct::Require`] when the filesystem refuses it.
    pub async fn open(&self, path: impl AsRef<Path>) -> Result<File> {
        let path = path.as_ref();
        let needs_write = self.create || self.truncate;
        if !(self.write || (self.read && !needs_write)) {
            let why = "open options: need read or write, and write for create/truncate";
            return Err(Error::io(
                path,
                "open",
                io::Error::new(io::ErrorKind::InvalidInput, why),
            ));
        }
        let (opts, path_buf) = (self.clone(), path.to_path_buf());
        let (file, direct, inode) = blocking(move || opts.open_checked(&path_buf)).await?;
        let handle = lock::acquire(&file, path, self.write, inode).await?;
        let file = if self.truncate {
            let path_buf = path.to_path_buf();
            blocking(move || {
                file.set_len(0)
                    .map_err(|e| Error::io(&path_buf, "ftruncate", e))?;
                Ok(file)
            })
            .await?
        } else {
            file
        };
        // SAFETY: `into_raw_fd` gives up ownership of an open descriptor, which the compio
        // `File` takes over and closes exactly once. compio on Unix needs no registration of a
        // descriptor with its driver (attaching is a no-op for io_uring and polling), which is
        // all its private `from_std` would add.
        let inner = unsafe { compio::fs::File::from_raw_fd(file.into_raw_fd()) };
        Ok(File::new(inner, path.to_path_buf(), direct, handle))
    }

    /// The blocking part of [`OpenOptions::open`]: stat, open, check, set the flags. Gives the
    /// file, whether it has `O_DIRECT`, and its inode.
    fn open_checked(&self, path: &Path) -> Result<(std::fs::File, bool, Inode)> {
        match std::fs::metadata(path) {
            Ok(meta) => kind::check_type(path, &meta)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound && self.create => {}
            Err(e) => return Err(Error::io(path, "open", e)),
        }
        let file = std::fs::OpenOptions::new()
            .read(self.read)
            .write(self.write)
            .create(self.create)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
            .open(path)
            .map_err(|e| Error::io(path, "open", e))?;
        let meta = file.metadata().map_err(|e| Error::io(path, "stat", e))?;
        kind::check_type(path, &meta)?;
        kind::check_filesystem(path, &file)?;
        let direct = self.set_flags(&file, path)?;
        let inode = Inode {
            dev: meta.dev(),
            ino: meta.ino(),
        };
        Ok((file, direct, inode))
    }

    /// Clears `O_NONBLOCK` (io_uring answers `EAGAIN` on a non-blocking file instead of
    /// waiting) and sets `O_DIRECT` as the policy asks. Gives whether `O_DIRECT` is on.
    fn set_flags(&self, file: &std::fs::File, path: &Path) -> Result<bool> {
        let fd = file.as_raw_fd();
        // SAFETY: `F_GETFL` takes no pointer; `file` owns an open descriptor for the call.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 {
            return Err(Error::io(path, "fcntl", io::Error::last_os_error()));
        }
        let blocking = flags & !(libc::O_NONBLOCK | libc::O_DIRECT);
        let set = |flags: i32| {
            // SAFETY: `F_SETFL` takes an int, no pointer; `file` owns an open descriptor.
            let rc = unsafe { libc::fcntl(fd, libc::F_SETFL, flags) };
            if rc == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        };
        if self.direct == Direct::Off {
            set(blocking).map_err(|e| Error::io(path, "fcntl", e))?;
            return Ok(false);
        }
        match set(blocking | libc::O_DIRECT) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && self.direct == Direct::Auto => {
                if FALLBACK_LOGGED.swap(true, Ordering::Relaxed) {
                    log::debug!("{}: O_DIRECT refused, using buffered I/O", path.display());
                } else {
                    log::warn!(
                        "{}: the filesystem refuses O_DIRECT, falling back to buffered I/O \
                         (logged once per process; File::is_direct() tells per file)",
                        path.display()
                    );
                }
                set(blocking).map_err(|e| Error::io(path, "fcntl", e))?;
                Ok(false)
            }
            Err(e) if self.direct == Direct::Require => Err(Error::io(path, "open O_DIRECT", e)),
            Err(e) => Err(Error::io(path, "fcntl", e)),
        }
    }
}

/// Runs `f` on compio's blocking pool (the open sequence's syscalls, and a truncation that may
/// free many blocks, stay off the event loop).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    match crate::blocking::spawn_blocking(f).await {
        Ok(res) => res,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(file: &std::fs::File) -> i32 {
        // SAFETY: `F_GETFL` takes no pointer; `file` owns an open descriptor for the call.
        unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) }
    }

    /// procfs refuses `O_DIRECT` on every kernel: `open` refuses procfs files before it sets
    /// flags, so the fallback is exercised here on a raw descriptor.
    fn procfs_descriptor() -> std::fs::File {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/proc/version")
            .unwrap()
    }

    #[test]
    fn refused_o_direct_falls_back_to_buffered_under_auto() {
        let file = procfs_descriptor();
        let path = Path::new("/proc/version");
        let direct = OpenOptions::new()
            .read(true)
            .set_flags(&file, path)
            .unwrap();
        assert!(!direct);
        let flags = flags(&file);
        assert_eq!(flags & (libc::O_DIRECT | libc::O_NONBLOCK), 0, "{flags:#x}");
    }

    #[test]
    fn refused_o_direct_is_an_error_under_require() {
        let file = procfs_descriptor();
        let path = Path::new("/proc/version");
        let err = OpenOptions::new()
            .read(true)
            .direct(Direct::Require)
            .set_flags(&file, path)
            .unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Io {
                    op: "open O_DIRECT",
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
    }

    #[test]
    fn flags_clear_o_nonblock_and_set_o_direct_on_a_disk_file() {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(dir.path().join("f"))
            .unwrap();
        let options = OpenOptions::new().read(true).write(true).clone();
        for (direct, want) in [(Direct::Require, true), (Direct::Off, false)] {
            let got = options.clone().direct(direct).set_flags(&file, dir.path());
            assert_eq!(got.unwrap(), want);
            let flags = flags(&file);
            assert_eq!(flags & libc::O_NONBLOCK, 0, "{flags:#x}");
            assert_eq!(flags & libc::O_DIRECT != 0, want, "{flags:#x}");
        }
    }
}
