//! How a [`File`] is opened: access mode and the Direct I/O policy.

use std::{
    io,
    path::Path,
    sync::atomic::{AtomicBool, Ordering},
};

use crate::{Error, File, Result};

/// Whether to open with `O_DIRECT` (bypass the page cache).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direct {
    /// Try `O_DIRECT`; if the filesystem refuses it (`open` fails with `EINVAL`, e.g. tmpfs on
    /// older kernels), open buffered instead and say so once per process with `log::warn!`.
    /// [`File::is_direct`] tells which one you got.
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

    /// Truncate the file to 0 bytes (needs `write`).
    pub fn truncate(&mut self, truncate: bool) -> &mut Self {
        self.truncate = truncate;
        self
    }

    /// The Direct I/O policy, [`Direct::Auto`] by default.
    pub fn direct(&mut self, direct: Direct) -> &mut Self {
        self.direct = direct;
        self
    }

    /// Opens `path` with these options.
    ///
    /// # Errors
    /// [`Error::Io`] with `op == "open"` naming the path (`InvalidInput` for a combination
    /// that makes no sense: neither read nor write, or create/truncate without write).
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
        let mut opts = compio::fs::OpenOptions::new();
        opts.read(self.read)
            .write(self.write)
            .create(self.create)
            .truncate(self.truncate);
        if self.direct == Direct::Off {
            let file = opts
                .open(path)
                .await
                .map_err(|e| Error::io(path, "open", e))?;
            return Ok(File::new(file, path.to_path_buf(), false));
        }

        // On a filesystem that refuses O_DIRECT, Linux creates or truncates the file before the
        // EINVAL; the buffered retry with the same options then finds it in the state asked for.
        let mut direct = opts.clone();
        direct.custom_flags(libc::O_DIRECT);
        match direct.open(path).await {
            Ok(file) => Ok(File::new(file, path.to_path_buf(), true)),
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
                let file = opts
                    .open(path)
                    .await
                    .map_err(|e| Error::io(path, "open", e))?;
                Ok(File::new(file, path.to_path_buf(), false))
            }
            Err(e) if self.direct == Direct::Require => Err(Error::io(path, "open O_DIRECT", e)),
            Err(e) => Err(Error::io(path, "open", e)),
        }
    }
}
