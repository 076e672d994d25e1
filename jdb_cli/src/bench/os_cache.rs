//! The OS page cache baseline of `jdb bench --compare`: no cache of our own. Every operation reads
//! the page through the OS page cache with io_uring (compio's buffered file I/O: the file is
//! opened without `O_DIRECT`), verifies it, and a write re-seals it and writes it back, so the
//! tasks' requests overlap as jdb's do. A read holds the page's lock shared and a write
//! (read-modify-write) exclusively ([`PageLocks`]): without them a task could read a page another
//! is writing, half old and half new, or two writes could lose one change.
//!
//! Nothing here limits the OS cache to `--cap`: that is the cgroup's job ([`super::cgroup`]),
//! where one can be made; without one it can use all free memory. It starts cold (the file's
//! cached pages are dropped with `posix_fadvise(DONTNEED)`); its hits and device traffic are
//! estimated from `/proc/self/io` (`read_bytes`, `write_bytes`: the whole process, so with
//! several threads the window from the first thread's start to the last one's end counts).

use std::{
    cell::{Cell, RefCell},
    path::{Path, PathBuf},
};

use anyhow::{Context, anyhow};
use compio::io::{AsyncReadAtExt, AsyncWriteAtExt};
use jdb_fs::PAGE_SIZE;
use jdb_layout::PageId;

use super::{
    counters::{Counters, DeviceIo, ProcIo},
    load::{bump_counter, counter},
    locks::PageLocks,
    run::PageCache,
};

/// The OS page cache baseline: io_uring buffered reads and writes of whole pages.
pub struct OsCache {
    file: compio::fs::File,
    path: PathBuf,
    locks: PageLocks,
    /// Buffers of `MAX_RUN` pages, one per operation in flight.
    spares: RefCell<Vec<Vec<u8>>>,
    io_at_start: Option<ProcIo>,
    reads: Cell<u64>,
    writes: Cell<u64>,
    checksum_failures: Cell<u64>,
}

impl OsCache {
    /// Opens `path` buffered, read-write, and drops its pages from the OS cache.
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        {
            // Best effort: a cold start like the other systems. Only clean pages are dropped; the
            // file was synced by whoever wrote it last.
            let file =
                std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
            let _ = rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed);
        }
        let file = compio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .await
            .with_context(|| format!("open {}", path.display()))?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            locks: PageLocks::default(),
            spares: RefCell::new(Vec::new()),
            io_at_start: ProcIo::read(),
            reads: Cell::new(0),
            writes: Cell::new(0),
            checksum_failures: Cell::new(0),
        })
    }

    /// Reads and verifies the `n` pages from `first` with one request; returns the buffer
    /// (`n` pages long), to give back with [`OsCache::give_back`].
    async fn read_pages(&self, first: PageId, n: u32) -> anyhow::Result<Vec<u8>> {
        let mut buf = self
            .spares
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(jdb_page::MAX_RUN * PAGE_SIZE));
        buf.clear();
        buf.reserve_exact(n as usize * PAGE_SIZE);
        self.reads.set(self.reads.get() + 1);
        // `read_exact_at` fills the vector up to its capacity: take exactly `n` pages.
        let compio::BufResult(res, slice) = self
            .file
            .read_exact_at(
                compio::buf::IoBuf::slice(buf, ..n as usize * PAGE_SIZE),
                jdb_fs::page_offset(first),
            )
            .await;
        let mut buf = compio::buf::IntoInner::into_inner(slice);
        res.with_context(|| format!("read {}", self.path.display()))?;
        buf.truncate(n as usize * PAGE_SIZE);
        for (i, page) in buf.chunks_exact(PAGE_SIZE).enumerate() {
            let id = first + i as PageId;
            if let Err(e) = jdb_layout::verify(page, id) {
                self.checksum_failures.set(self.checksum_failures.get() + 1);
                return Err(anyhow!(
                    "{}: page {id} is corrupt: {e}",
                    self.path.display()
                ));
            }
        }
        Ok(buf)
    }

    fn give_back(&self, buf: Vec<u8>) {
        self.spares.borrow_mut().push(buf);
    }
}

impl PageCache for OsCache {
    async fn read(&self, id: PageId) -> anyhow::Result<u64> {
        let _lock = self.locks.shared(id).await;
        let buf = self.read_pages(id, 1).await?;
        let value = counter(&buf);
        self.give_back(buf);
        Ok(value)
    }

    async fn write(&self, id: PageId) -> anyhow::Result<()> {
        let _lock = self.locks.exclusive(id).await;
        let mut buf = self.read_pages(id, 1).await?;
        bump_counter(&mut buf);
        jdb_layout::seal(&mut buf)?;
        self.writes.set(self.writes.get() + 1);
        let compio::BufResult(res, buf) = (&self.file)
            .write_all_at(buf, jdb_fs::page_offset(id))
            .await;
        self.give_back(buf);
        res.with_context(|| format!("write {}", self.path.display()))
    }

    async fn scan(&self, first: PageId, n: u32) -> anyhow::Result<u64> {
        // In page order; a write locks one page only, so this cannot deadlock.
        let mut locks = Vec::with_capacity(n as usize);
        for id in first..first + n {
            locks.push(self.locks.shared(id).await);
        }
        let buf = self.read_pages(first, n).await?;
        drop(locks);
        let sum = buf
            .chunks_exact(PAGE_SIZE)
            .map(counter)
            .fold(0, u64::wrapping_add);
        self.give_back(buf);
        Ok(sum)
    }

    async fn finish(&self) -> anyhow::Result<()> {
        self.file
            .sync_data()
            .await
            .with_context(|| format!("fdatasync {}", self.path.display()))
    }

    fn counters(&self) -> Counters {
        let device = self
            .io_at_start
            .zip(ProcIo::read())
            .map(|(start, end)| DeviceIo { start, end });
        let mut counters = Counters {
            read_ios: self.reads.get(),
            write_ios: self.writes.get(),
            checksum_failures: self.checksum_failures.get(),
            device,
            ..Counters::default()
        };
        counters.estimate_from_device();
        counters
    }
}
