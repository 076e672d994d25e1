//! The write-ahead contract: a log the engine owns, attached to the pool, is made durable up to a
//! page's LSN before that page is written; each dirty page remembers its recLSN (ARIES's dirty
//! page table); a fuzzy checkpoint writes the pages a redo point needs.
//!
//! The LSN of a page is the one in its header ([`Page::set_lsn`](crate::Page::set_lsn)). The
//! engine's protocol is the usual one: latch the page (a [`PageMut`](crate::PageMut)), change it,
//! append the log record, set the page's LSN to the record's, release the guard.

use std::{cell::Cell, future::Future, io, pin::Pin, rc::Rc};

use jdb_alloc::PAGE_SIZE;
use jdb_layout::PageId;

use crate::{BufferPool, Error, FrameId, Page, Result, Storage, page::FrameFlags};

/// The future [`WriteAheadLog::flush_to`] returns.
pub type LogFuture<'a> = Pin<Box<dyn Future<Output = io::Result<()>> + 'a>>;

/// What the pool needs of the engine's log to keep the write-ahead rule: no page reaches the file
/// before the log records that changed it are durable.
///
/// ```
/// use std::{cell::Cell, io};
///
/// use jdb_page::{LogFuture, WriteAheadLog};
///
/// /// A log whose records are durable once `flush_to` returns (an fsync of the log file).
/// struct MyLog { durable: Cell<u64> }
///
/// impl WriteAheadLog for MyLog {
///     fn durable_lsn(&self) -> u64 {
///         self.durable.get()
///     }
///     fn flush_to(&self, lsn: u64) -> LogFuture<'_> {
///         Box::pin(async move {
///             // ... write and fsync the log up to `lsn` ...
///             self.durable.set(self.durable.get().max(lsn));
///             Ok::<(), io::Error>(())
///         })
///     }
/// }
/// ```
pub trait WriteAheadLog {
    /// Every record with an LSN up to this one is durable.
    fn durable_lsn(&self) -> u64;

    /// Makes every record up to `lsn` durable; resolves once it is. Called only when `lsn` is
    /// above [`WriteAheadLog::durable_lsn`], before a write of a page with that LSN.
    fn flush_to(&self, lsn: u64) -> LogFuture<'_>;
}

/// recLSN of a clean page.
const CLEAN: u64 = u64::MAX;

/// The log and, per frame, the dirty page table.
pub(crate) struct Wal {
    log: Rc<dyn WriteAheadLog>,
    /// recLSN of the page in each frame: the LSN of the first change since it was last written
    /// (`CLEAN` when clean).
    rec: Box<[Cell<u64>]>,
    /// For a frame with a write in flight: the LSN of the first change seen since that write
    /// copied the page, the recLSN it keeps if the write leaves it dirty.
    next: Box<[Cell<u64>]>,
}

impl Wal {
    /// The table for `cap` frames; pages already dirty get recLSN 0 (their first change is not
    /// known: redo must start at the beginning).
    fn new(log: Rc<dyn WriteAheadLog>, cap: usize, dirty: impl Fn(FrameId) -> bool) -> Self {
        Self {
            log,
            rec: (0..cap as FrameId)
                .map(|f| Cell::new(if dirty(f) { 0 } else { CLEAN }))
                .collect(),
            next: (0..cap).map(|_| Cell::new(CLEAN)).collect(),
        }
    }

    /// A guard of `page` (frame `frame`) is released: a dirty page gets its recLSN (the page's
    /// LSN now) if it had none, or, while a write of it is in flight, the recLSN it keeps if
    /// that write leaves it dirty.
    pub(crate) fn released(&self, frame: FrameId, page: &Page, writing: bool) {
        if !page.is_dirty() {
            return;
        }
        let slot = if writing {
            &self.next[frame as usize]
        } else {
            &self.rec[frame as usize]
        };
        if slot.get() == CLEAN {
            slot.set(page.header().lsn);
        }
    }

    /// A write of `frame` completed (`ok`) or failed; `flags` is the frame's flags after it.
    pub(crate) fn written(&self, frame: FrameId, ok: bool, flags: &FrameFlags) {
        let (rec, next) = (&self.rec[frame as usize], &self.next[frame as usize]);
        if ok && !flags.is_dirty() {
            rec.set(CLEAN);
        } else if ok && next.get() != CLEAN {
            // Changed during the write: what the write copied is on disk, the later changes are
            // not.
            rec.set(next.get());
        }
        next.set(CLEAN);
    }

    /// A frame was filled with a page read from disk or freed: clean.
    pub(crate) fn reset(&self, frame: FrameId) {
        self.rec[frame as usize].set(CLEAN);
        self.next[frame as usize].set(CLEAN);
    }

    fn rec_lsn(&self, frame: FrameId) -> Option<u64> {
        let rec = self.rec[frame as usize].get();
        (rec != CLEAN).then_some(rec)
    }

    /// The write-ahead rule for a buffer of pages about to be written: the log is made durable
    /// up to the highest LSN among them first.
    pub(crate) async fn before_write(&self, pages: &[u8], path: &std::path::Path) -> Result<()> {
        let highest = pages
            .chunks_exact(PAGE_SIZE)
            .filter_map(|p| jdb_layout::stored_lsn(p).ok())
            .max()
            .unwrap_or(0);
        if highest > self.log.durable_lsn() {
            self.log
                .flush_to(highest)
                .await
                .map_err(|source| Error::Log {
                    path: path.to_path_buf(),
                    lsn: highest,
                    source,
                })?;
        }
        Ok(())
    }
}

impl<S: Storage> BufferPool<S> {
    /// Attaches the engine's log: from now on no dirty page is written (evicted, flushed,
    /// checkpointed, by the background writer) before the log is durable up to the page's LSN,
    /// and the pool keeps each dirty page's recLSN. Pages dirty already get recLSN 0.
    ///
    /// # Errors
    /// [`Error::LogAttached`] if a log is attached already.
    pub fn attach_log(&self, log: Rc<dyn WriteAheadLog>) -> Result<()> {
        let arena = &self.core.arena;
        let wal = Wal::new(log, self.cap(), |f| arena.flags(f).is_dirty());
        self.core.wal.set(wal).map_err(|_| Error::LogAttached {
            path: self.path.clone(),
        })?;
        self.core.hot.set_log_attached();
        Ok(())
    }

    /// The smallest recLSN of the pages dirty in memory: redo after a crash must start there (or
    /// earlier). `None` when no page is dirty. Pages held by a `PageMut` and changed for the
    /// first time count once they are released. O(cap).
    ///
    /// # Errors
    /// [`Error::NoLog`] without an attached log.
    pub fn min_rec_lsn(&self) -> Result<Option<u64>> {
        Ok(self.dirty_pages()?.into_iter().map(|(_, rec)| rec).min())
    }

    /// The dirty page table: every dirty page in memory with its recLSN, in page order. O(cap).
    ///
    /// # Errors
    /// [`Error::NoLog`] without an attached log.
    pub fn dirty_pages(&self) -> Result<Vec<(PageId, u64)>> {
        let wal = self.wal()?;
        let frames = self.core.frames.borrow();
        let mut out: Vec<(PageId, u64)> = (0..self.cap() as FrameId)
            .filter_map(|f| {
                let page = frames.page_of(f)?;
                let rec = wal.rec_lsn(f)?;
                self.core.arena.flags(f).is_dirty().then_some((page, rec))
            })
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    /// A fuzzy checkpoint: writes every page whose recLSN is at most `upto` (the log's end when
    /// the checkpoint began, typically), makes them durable (`fdatasync`), and returns the redo
    /// point to record with the checkpoint: every change with a smaller LSN is on disk. Other
    /// tasks keep working meanwhile; pages they dirty stay dirty. Waits for guards that hold a
    /// page exclusively (its recLSN is known only once released).
    ///
    /// # Errors
    /// [`Error::NoLog`], and as [`BufferPool::sync`].
    pub async fn checkpoint(&self, upto: u64) -> Result<u64> {
        self.check_open()?;
        self.check_poisoned()?;
        let wal = self.wal()?;
        let targets: Vec<(PageId, FrameId)> = {
            let frames = self.core.frames.borrow();
            (0..self.cap() as FrameId)
                .filter_map(|f| {
                    let page = frames.page_of(f)?;
                    let dirty = self.core.arena.flags(f).is_dirty();
                    let rec = wal.rec_lsn(f);
                    let held = !frames.readable(f, page);
                    let due = match rec {
                        Some(rec) => dirty && rec <= upto,
                        None => dirty && held,
                    };
                    (due || self.core.writes.is_writing(f)).then_some((page, f))
                })
                .collect()
        };
        let mut targets = targets;
        targets.sort_unstable();
        self.flush_pages(targets).await?;
        self.sync_file().await?;
        let remaining = self.min_rec_lsn()?;
        Ok(remaining.map_or(upto.saturating_add(1), |r| r.min(upto.saturating_add(1))))
    }

    fn wal(&self) -> Result<&Wal> {
        self.core.wal.get().ok_or_else(|| Error::NoLog {
            path: self.path.clone(),
        })
    }
}
