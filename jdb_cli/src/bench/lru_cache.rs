//! The `lru` crate baseline of `jdb bench --compare`: the cache a user would write with the `lru`
//! crate and compio, shared by the tasks as `Rc<RefCell<LruCache<PageId, Frame>>>` of `--cap`
//! pages over Direct I/O reads and writes (`jdb_fs::File`), one request per page.
//!
//! - A hit uses the page under the `RefCell` borrow, without an `.await`.
//! - A miss lets go of the borrow while its read is in flight, so tasks overlap their reads. Reads
//!   are not shared: two tasks missing one page both read it, and the second to finish uses the
//!   copy the first one put in the cache (that is what such a user gets).
//! - A full cache evicts its least recently used page when a read is put in; a dirty victim is
//!   written back by the task that evicted it, before that task's operation returns, holding the
//!   page's lock ([`PageLocks`]) so that nobody reads the page until the write is done.
//! - A read during which a dirty copy of its page left the cache may have read the old bytes: it
//!   is thrown away and read again (a count of write-backs per page tells).

use std::{cell::RefCell, num::NonZeroUsize, path::Path};

use anyhow::{Context, anyhow};
use jdb_fs::{AlignedBuf, File, PAGE_SIZE};
use jdb_layout::PageId;

use super::{
    load::{bump_counter, counter},
    locks::PageLocks,
    report::Counters,
    run::PageCache,
};

/// One cached page of the LRU baseline.
struct Frame {
    buf: AlignedBuf,
    dirty: bool,
}

/// The `lru` crate baseline: `LruCache<PageId, Frame>` over Direct I/O.
pub struct LruBaseline {
    file: File,
    state: RefCell<State>,
    /// Held exclusively while a page is written back.
    locks: PageLocks,
}

struct State {
    cache: lru::LruCache<PageId, Frame>,
    /// Buffers of evicted pages and of reads that lost the race, for the next misses.
    spares: Vec<AlignedBuf>,
    /// Per page: write-backs of it begun so far.
    write_backs: Vec<u32>,
    counters: Counters,
}

impl LruBaseline {
    /// Opens `path` (Direct I/O where allowed) with room for `cap` pages.
    pub async fn open(path: &Path, cap: usize) -> anyhow::Result<Self> {
        let file = super::open_existing(path).await?;
        let pages = file.page_count().await?;
        let cap = NonZeroUsize::new(cap).context("the cache needs at least one page")?;
        Ok(Self {
            file,
            state: RefCell::new(State {
                cache: lru::LruCache::new(cap),
                spares: Vec::new(),
                write_backs: vec![0; pages as usize],
                counters: Counters {
                    hits: Some(0),
                    misses: Some(0),
                    pages_read: Some(0),
                    pages_written: Some(0),
                    evictions: Some(0),
                    dirty_writebacks: Some(0),
                    ..Counters::default()
                },
            }),
            locks: PageLocks::default(),
        })
    }

    /// Runs `use_page` on page `id`, read (and verified) on a miss.
    async fn with_page<R>(
        &self,
        id: PageId,
        use_page: impl FnOnce(&mut Frame) -> R,
    ) -> anyhow::Result<R> {
        let mut counted = false;
        loop {
            let (buf, write_backs) = {
                let mut state = self.state.borrow_mut();
                if let Some(frame) = state.cache.get_mut(&id) {
                    let r = use_page(frame);
                    add(&mut state.counters.hits, 1);
                    return Ok(r);
                }
                if !counted {
                    add(&mut state.counters.misses, 1);
                    counted = true;
                }
                let buf = match state.spares.pop() {
                    Some(buf) => buf,
                    None => AlignedBuf::with_cap(PAGE_SIZE)?,
                };
                let write_backs = *state
                    .write_backs
                    .get(id as usize)
                    .ok_or_else(|| anyhow!("page {id} is past the end of the file"))?;
                (buf, write_backs)
            };
            // Not while the page is written back: the read could see the old bytes.
            drop(self.locks.shared(id).await);
            let (res, buf) = self.file.read_page_into(id, buf).await;
            let (victim, dirty, r) = {
                let mut state = self.state.borrow_mut();
                state.counters.read_ios += 1;
                add(&mut state.counters.pages_read, 1);
                if let Err(e) = res {
                    state.spares.push(buf);
                    return Err(e.into());
                }
                if let Err(e) = jdb_layout::verify(&buf, id) {
                    state.counters.checksum_failures += 1;
                    let path = self.file.path().display();
                    return Err(anyhow!("{path}: page {id} is corrupt: {e}"));
                }
                if let Some(frame) = state.cache.get_mut(&id) {
                    // Another task's read of the page came first.
                    let r = use_page(frame);
                    state.spares.push(buf);
                    return Ok(r);
                }
                if state.write_backs[id as usize] != write_backs {
                    state.spares.push(buf);
                    continue;
                }
                let mut frame = Frame { buf, dirty: false };
                let r = use_page(&mut frame);
                let Some((victim, frame)) = state.cache.push(id, frame) else {
                    return Ok(r);
                };
                add(&mut state.counters.evictions, 1);
                if !frame.dirty {
                    state.spares.push(frame.buf);
                    return Ok(r);
                }
                state.write_backs[victim as usize] += 1;
                add(&mut state.counters.dirty_writebacks, 1);
                (victim, frame.buf, r)
            };
            let _writing = self.locks.exclusive(victim).await;
            let buf = self.write_back(victim, dirty).await?;
            self.state.borrow_mut().spares.push(buf);
            return Ok(r);
        }
    }

    async fn write_back(&self, id: PageId, mut buf: AlignedBuf) -> anyhow::Result<AlignedBuf> {
        jdb_layout::seal(&mut buf)?;
        let (res, buf) = self.file.write_page(id, buf).await;
        let mut state = self.state.borrow_mut();
        state.counters.write_ios += 1;
        add(&mut state.counters.pages_written, 1);
        res?;
        Ok(buf)
    }
}

fn add(counter: &mut Option<u64>, n: u64) {
    *counter = Some(counter.unwrap_or(0) + n);
}

impl PageCache for LruBaseline {
    async fn read(&self, id: PageId) -> anyhow::Result<u64> {
        self.with_page(id, |frame| counter(&frame.buf)).await
    }

    async fn write(&self, id: PageId) -> anyhow::Result<()> {
        self.with_page(id, |frame| {
            bump_counter(&mut frame.buf);
            frame.dirty = true;
        })
        .await
    }

    async fn scan(&self, first: PageId, n: u32) -> anyhow::Result<u64> {
        let mut sum = 0u64;
        for id in first..first + n {
            sum = sum.wrapping_add(self.with_page(id, |frame| counter(&frame.buf)).await?);
        }
        Ok(sum)
    }

    /// Writes the dirty pages in page order, one at a time (no task runs any more).
    async fn finish(&self) -> anyhow::Result<()> {
        let mut dirty: Vec<PageId> = {
            let state = self.state.borrow();
            let dirty = state.cache.iter().filter(|(_, frame)| frame.dirty);
            dirty.map(|(&id, _)| id).collect()
        };
        dirty.sort_unstable();
        for id in dirty {
            let frame = self.state.borrow_mut().cache.pop(&id);
            if let Some(frame) = frame {
                let buf = self.write_back(id, frame.buf).await?;
                self.state
                    .borrow_mut()
                    .cache
                    .put(id, Frame { buf, dirty: false });
            }
        }
        Ok(self.file.sync_data().await?)
    }

    fn counters(&self) -> Counters {
        self.state.borrow().counters
    }

    fn would_miss(&self, id: PageId) -> Option<bool> {
        Some(!self.state.borrow().cache.contains(&id))
    }
}
