//! The baselines `jdb bench --compare` runs the same trace on, so the numbers mean something:
//!
//! - [`OsCache`]: no cache of our own; every operation `pread`s the page through the OS page
//!   cache (buffered I/O), verifies its checksum, and a write re-seals it and `pwrite`s it. The
//!   OS cache is not limited to `--cap`: it can use all free memory. It starts cold (the file's
//!   cached pages are dropped with `posix_fadvise(DONTNEED)`); its hits and device traffic are
//!   estimated from `/proc/self/io` (`read_bytes`, `write_bytes`).
//! - [`LruBaseline`]: the cache a user would write with the `lru` crate: an
//!   `LruCache<PageId, frame>` of `--cap` pages over Direct I/O reads and writes
//!   (`jdb_fs::File`), one request per page, a dirty victim written back before its frame is
//!   reused.

use std::{
    num::NonZeroUsize,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
};

use anyhow::{Context, anyhow};
use jdb_fs::{AlignedBuf, File, PAGE_SIZE};
use jdb_layout::PageId;

use super::{
    load::{bump_counter, counter},
    report::Counters,
    run::PageCache,
};

/// The OS page cache baseline: buffered `pread`/`pwrite` of whole pages.
pub struct OsCache {
    file: std::fs::File,
    path: PathBuf,
    buf: Vec<u8>,
    io_at_start: Option<ProcIo>,
    preads: u64,
    pwrites: u64,
    checksum_failures: u64,
}

impl OsCache {
    /// Opens `path` buffered, read-write, and drops its pages from the OS cache.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .with_context(|| format!("open {}", path.display()))?;
        // Best effort: a cold start like the other systems. Only clean pages are dropped; the
        // file was synced by whoever wrote it last.
        let _ = rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed);
        Ok(Self {
            file,
            path: path.to_path_buf(),
            buf: vec![0; jdb_page::MAX_RUN * PAGE_SIZE],
            io_at_start: ProcIo::read(),
            preads: 0,
            pwrites: 0,
            checksum_failures: 0,
        })
    }

    /// Reads and verifies `n` pages from `first` into `self.buf` with one `pread`.
    fn read_pages(&mut self, first: PageId, n: u32) -> anyhow::Result<()> {
        let len = n as usize * PAGE_SIZE;
        let buf = self.buf.get_mut(..len).context("scan group too large")?;
        self.preads += 1;
        self.file
            .read_exact_at(buf, jdb_fs::page_offset(first))
            .with_context(|| format!("read {}", self.path.display()))?;
        for (i, page) in buf.chunks_exact(PAGE_SIZE).enumerate() {
            let id = first + i as PageId;
            if let Err(e) = jdb_layout::verify(page, id) {
                self.checksum_failures += 1;
                return Err(anyhow!(
                    "{}: page {id} is corrupt: {e}",
                    self.path.display()
                ));
            }
        }
        Ok(())
    }
}

impl PageCache for OsCache {
    async fn read(&mut self, id: PageId) -> anyhow::Result<u64> {
        self.read_pages(id, 1)?;
        Ok(counter(&self.buf[..PAGE_SIZE]))
    }

    async fn write(&mut self, id: PageId) -> anyhow::Result<()> {
        self.read_pages(id, 1)?;
        let page = &mut self.buf[..PAGE_SIZE];
        bump_counter(page);
        jdb_layout::seal(page)?;
        self.pwrites += 1;
        self.file
            .write_all_at(page, jdb_fs::page_offset(id))
            .with_context(|| format!("write {}", self.path.display()))
    }

    async fn scan(&mut self, first: PageId, n: u32) -> anyhow::Result<u64> {
        self.read_pages(first, n)?;
        let pages = self.buf[..n as usize * PAGE_SIZE].chunks_exact(PAGE_SIZE);
        Ok(pages.map(counter).fold(0, u64::wrapping_add))
    }

    async fn finish(&mut self) -> anyhow::Result<()> {
        self.file
            .sync_data()
            .with_context(|| format!("fdatasync {}", self.path.display()))
    }

    fn counters(&self) -> Counters {
        let io = self
            .io_at_start
            .zip(ProcIo::read())
            .map(|(start, now)| ProcIo {
                read_bytes: now.read_bytes.saturating_sub(start.read_bytes),
                write_bytes: now.write_bytes.saturating_sub(start.write_bytes),
            });
        let pages_read = io.map(|io| io.read_bytes.div_ceil(PAGE_SIZE as u64));
        Counters {
            hits: None,
            // Pages the device delivered; readahead can make this more than the misses.
            misses: pages_read,
            read_ios: self.preads,
            write_ios: self.pwrites,
            pages_read,
            pages_written: io.map(|io| io.write_bytes.div_ceil(PAGE_SIZE as u64)),
            evictions: None,
            dirty_writebacks: None,
            checksum_failures: self.checksum_failures,
        }
    }
}

/// This process's storage traffic from `/proc/self/io` (needs task I/O accounting).
#[derive(Debug, Clone, Copy)]
struct ProcIo {
    read_bytes: u64,
    write_bytes: u64,
}

impl ProcIo {
    fn read() -> Option<Self> {
        let text = std::fs::read_to_string("/proc/self/io").ok()?;
        let field = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.trim().parse::<u64>().ok())
        };
        Some(Self {
            read_bytes: field("read_bytes:")?,
            write_bytes: field("write_bytes:")?,
        })
    }
}

/// One cached page of the LRU baseline.
struct Frame {
    buf: AlignedBuf,
    dirty: bool,
}

/// The `lru` crate baseline: `LruCache<PageId, Frame>` over Direct I/O.
pub struct LruBaseline {
    file: File,
    cache: lru::LruCache<PageId, Frame>,
    counters: Counters,
}

impl LruBaseline {
    /// Opens `path` (Direct I/O where allowed) with room for `cap` pages.
    pub async fn open(path: &Path, cap: usize) -> anyhow::Result<Self> {
        let file = super::open_existing(path).await?;
        let cap = NonZeroUsize::new(cap).context("the cache needs at least one page")?;
        Ok(Self {
            file,
            cache: lru::LruCache::new(cap),
            counters: Counters {
                hits: Some(0),
                misses: Some(0),
                pages_read: Some(0),
                pages_written: Some(0),
                evictions: Some(0),
                dirty_writebacks: Some(0),
                ..Counters::default()
            },
        })
    }

    /// The cached page `id`, read (and verified) on a miss.
    async fn fetch(&mut self, id: PageId) -> anyhow::Result<&mut Frame> {
        if self.cache.contains(&id) {
            add(&mut self.counters.hits, 1);
        } else {
            add(&mut self.counters.misses, 1);
            let buf = if self.cache.len() == self.cache.cap().get() {
                self.evict_one().await?
            } else {
                AlignedBuf::with_cap(PAGE_SIZE)?
            };
            let (res, buf) = self.file.read_page_into(id, buf).await;
            self.counters.read_ios += 1;
            add(&mut self.counters.pages_read, 1);
            res?;
            if let Err(e) = jdb_layout::verify(&buf, id) {
                self.counters.checksum_failures += 1;
                let path = self.file.path().display();
                return Err(anyhow!("{path}: page {id} is corrupt: {e}"));
            }
            self.cache.put(id, Frame { buf, dirty: false });
        }
        self.cache
            .get_mut(&id)
            .ok_or_else(|| anyhow!("page {id} vanished from the LRU cache"))
    }

    /// Drops the least recently used page, writing it first if dirty; returns its buffer.
    async fn evict_one(&mut self) -> anyhow::Result<AlignedBuf> {
        let (victim, frame) = self
            .cache
            .pop_lru()
            .ok_or_else(|| anyhow!("LRU cache full but empty"))?;
        add(&mut self.counters.evictions, 1);
        if frame.dirty {
            let buf = self.write_back(victim, frame.buf).await?;
            add(&mut self.counters.dirty_writebacks, 1);
            return Ok(buf);
        }
        Ok(frame.buf)
    }

    async fn write_back(&mut self, id: PageId, mut buf: AlignedBuf) -> anyhow::Result<AlignedBuf> {
        jdb_layout::seal(&mut buf)?;
        let (res, buf) = self.file.write_page(id, buf).await;
        self.counters.write_ios += 1;
        add(&mut self.counters.pages_written, 1);
        res?;
        Ok(buf)
    }
}

fn add(counter: &mut Option<u64>, n: u64) {
    *counter = Some(counter.unwrap_or(0) + n);
}

impl PageCache for LruBaseline {
    async fn read(&mut self, id: PageId) -> anyhow::Result<u64> {
        Ok(counter(&self.fetch(id).await?.buf))
    }

    async fn write(&mut self, id: PageId) -> anyhow::Result<()> {
        let frame = self.fetch(id).await?;
        bump_counter(&mut frame.buf);
        frame.dirty = true;
        Ok(())
    }

    async fn scan(&mut self, first: PageId, n: u32) -> anyhow::Result<u64> {
        let mut sum = 0u64;
        for id in first..first + n {
            sum = sum.wrapping_add(counter(&self.fetch(id).await?.buf));
        }
        Ok(sum)
    }

    async fn finish(&mut self) -> anyhow::Result<()> {
        let mut dirty: Vec<PageId> = self
            .cache
            .iter()
            .filter(|(_, frame)| frame.dirty)
            .map(|(&id, _)| id)
            .collect();
        dirty.sort_unstable();
        for id in dirty {
            if let Some(frame) = self.cache.pop(&id) {
                let buf = self.write_back(id, frame.buf).await?;
                self.cache.put(id, Frame { buf, dirty: false });
            }
        }
        Ok(self.file.sync_data().await?)
    }

    fn counters(&self) -> Counters {
        self.counters
    }
}
