//! A buffer pool for Rust storage engines: keeps hot 4 KiB pages of one file in memory, shared by
//! many tasks, reads and writes them with Direct I/O through io_uring (compio), evicts cold ones
//! (exact LRU by default; Clock, SIEVE or S3-FIFO on request), never loses a dirty page, and
//! verifies every page it reads.
//!
//! ```
//! use std::rc::Rc;
//!
//! use jdb_fs::File;
//! use jdb_page::BufferPool;
//!
//! compio::runtime::Runtime::new().unwrap().block_on(async {
//!     let dir = tempfile::tempdir_in(".").unwrap();
//!     let path = dir.path().join("data.jdb");
//!
//!     // One pool, shared by the tasks of this runtime.
//!     let pool = Rc::new(BufferPool::open(File::create(&path).await?, 64).await?);
//!     let mut page = pool.alloc().await?; // a guard: the page is latched and pinned
//!     let (id, slot) = (page.id(), page.rows_mut()?.insert(b"hello")?);
//!     drop(page); // released: other tasks may take it now
//!
//!     let readers: Vec<_> = (0..4)
//!         .map(|_| {
//!             let pool = Rc::clone(&pool);
//!             compio::runtime::spawn(async move {
//!                 let page = pool.read(id).await?; // shared: all four read at once
//!                 Ok::<_, jdb_page::Error>(page.rows()?.get(slot)?.to_vec())
//!             })
//!         })
//!         .collect();
//!     for reader in readers {
//!         assert_eq!(reader.await.unwrap()?, b"hello");
//!     }
//!     pool.close().await?; // sync, then release the file
//!
//!     let pool = BufferPool::open(File::open_rw(&path).await?, 64).await?;
//!     assert_eq!(pool.get(id).await?.rows()?.get(slot)?, b"hello");
//!     Ok::<(), jdb_page::Error>(())
//! })
//! .unwrap();
//! ```
//!
//! # Serving many requests, using many cores
//!
//! Every method takes `&self`: put the pool in an `Rc` and give a clone to each task (request,
//! transaction) of the runtime. Pages come as guards: [`BufferPool::get`] gives a [`PageMut`]
//! (exclusive, what `&mut Page` is to a value), [`BufferPool::read`] a [`PageRef`] (shared, any
//! number at once). A guard latches and pins its page while it lives and lets go on drop, on
//! every path. A task may hold several guards across `.await`s and allocate while holding them
//! (a B-tree split: parent, child, new sibling); a task asking for a page another holds in a
//! conflicting mode waits (fairly: writers are not starved, and a dropped wait leaves no trace).
//! A miss lets go of the pool while its read is in flight, so N tasks keep up to N reads in flight,
//! and tasks missing the same page share one read. `examples/btree.rs` is a B+tree with latch
//! coupling built this way.
//!
//! The pool is thread-per-core (compio, like Seastar): it is `!Send` and uses no atomics or locks
//! across threads. To use several cores, run one runtime per core, each with its own pool over its
//! own file (or its own part of the data).
//!
//! # What the pool promises
//!
//! - **A hit costs an array lookup and a latch**: no hashing, no lock, no I/O, no allocation.
//!   The page table is an array indexed by page id (page ids are dense).
//! - **Eviction follows the policy over unpinned pages** (exact LRU by default, see
//!   [`PoolOptions`]); pages held by guards, waited for, or pinned with [`Page::pin`] are never
//!   victims, and every step is O(1) however many pages are pinned. When every frame is held or
//!   pinned, a request that needs room fails with [`Error::PoolFull`] and nothing is lost; while
//!   frames are only busy with reads or write-backs in flight, it waits for them instead.
//! - **Scans do not push out the hot set**: pages brought in by [`BufferPool::get_group`] or
//!   [`BufferPool::prefetch`] and not asked for since are the first to go, under every policy.
//! - **No dirty page is dropped unwritten.** A dirty victim is written (sealed with its checksum)
//!   before its frame is reused, while other tasks go on. A failed write returns the error and
//!   leaves the page dirty in memory; a later flush writes it once the disk recovers.
//! - **Nothing corrupt is handed out.** Every page read is verified (CRC32C, page id, format);
//!   a bad one is [`Error::Corrupt`] naming the page and what is wrong, counted in
//!   [`Stats::checksum_failures`], and never cached.
//! - **[`BufferPool::sync`] is the durability point.** When it returns `Ok`, every change made
//!   through a guard dropped before `sync` was called is on disk and `fdatasync`ed (changes made
//!   concurrently may be too). After a crash, a page not changed since reads back exactly those
//!   bytes; a page changed since the last `sync` reads back as that synced version, a later one,
//!   or, if the crash tore its write, [`Error::Corrupt`]: never other data. Pages allocated since
//!   the last `sync` may be missing ([`Error::PageNotFound`]) or [`Error::Corrupt`];
//!   [`BufferPool::init_page`] rebuilds such a page. `sync` waits for guards that hold a dirty
//!   page exclusively: do not call it while holding a [`PageMut`] of a dirty page.
//! - **A failed `fdatasync` poisons the pool.** Linux may drop the pages it could not write, so
//!   no later sync could prove them durable: every later write and sync fails with
//!   [`Error::Poisoned`] (naming the first failure) until the file is reopened. A failed page
//!   write does not poison (the page stays dirty and is written again).
//! - **One writer per file.** [`jdb_fs::File::open_rw`] and [`jdb_fs::File::create`] lock the file
//!   exclusively, [`jdb_fs::File::open`] shared, for as long as the file is open, so a second pool
//!   or process opening it for writing gets [`jdb_fs::Error::Locked`] at once.
//! - **Opening never writes.** [`BufferPool::open`] checks the file (whole pages, jdb's magic) and
//!   never truncates, extends or rewrites it. A damaged page 0 (torn, zeroed, a broken magic) in
//!   an otherwise jdb file does not refuse the file: `get(0)` reports it [`Error::Corrupt`] and
//!   `init_page(0)` rebuilds it. A foreign file is [`Error::NotJdbFile`].
//! - **Cancel-safe.** Dropping any pool future at any `.await` leaves the pool consistent: reads
//!   and writes go through owned buffers, the kernel never writes into a frame, and a page is
//!   marked clean only by a completed write that copied it unchanged. A write the kernel still
//!   performs for a dropped call keeps its page from being written, evicted or read again until
//!   it is done, so it can never land after (and overwrite) a newer version of its page.
//! - **Dropping a pool starts no write.** Call [`BufferPool::close`] (or `sync`) first; a pool
//!   dropped with dirty pages logs a warning and those changes are lost, like an uncommitted
//!   transaction. Writes already submitted by calls dropped earlier still complete (the kernel
//!   holds them), and the file's lock is held until they have: a pool opened on the same file
//!   in this process waits for them, another process gets `Locked` until then.
//!
//! # The write-ahead contract
//!
//! An engine with a write-ahead log attaches it with [`BufferPool::attach_log`] (a
//! [`WriteAheadLog`]: `durable_lsn()` and `flush_to(lsn)`). From then on:
//!
//! - **The write-ahead rule.** No dirty page is written (evicted, flushed, checkpointed, by the
//!   background writer, or copied to the doublewrite area) before the log is durable up to the
//!   page's LSN (its header's, [`Page::set_lsn`]): the pool awaits `flush_to(lsn)` first. If that
//!   fails, the page is not written ([`Error::Log`]) and stays dirty. Without a log the pool
//!   writes when it likes, as before.
//! - **The dirty page table.** Each dirty page remembers its recLSN: its LSN when its guard was
//!   released after the first change since it was last written (so the engine's protocol is:
//!   latch, change, log, set the LSN, release). [`BufferPool::dirty_pages`] lists them,
//!   [`BufferPool::min_rec_lsn`] is the smallest: redo after a crash starts there or earlier.
//! - **Fuzzy checkpoints.** [`BufferPool::checkpoint`]`(upto)` writes every page whose recLSN is
//!   at most `upto`, makes them durable, and returns the redo point to record: every change
//!   with a smaller LSN is on disk. Other tasks keep working meanwhile; pages dirtied meanwhile
//!   stay dirty.
//!
//! `examples/wal_kv.rs` is a key-value map built this way (group commit, checkpoints, recovery
//! after a kill).
//!
//! # Torn pages repaired: the doublewrite area
//!
//! A crash during a page write can leave the page torn (half old, half new): it is detected
//! ([`Error::Corrupt`]) but lost. [`BufferPool::open_with_doublewrite`] opens the pool with a
//! doublewrite area in a second file (InnoDB's doublewrite buffer): every run of pages is
//! written there and `fdatasync`ed first (runs staged together share one `fdatasync`), then
//! home; when the pool opens, a home page that fails verification is restored from a valid
//! copy in the area with the same or a newer LSN ([`Stats::torn_pages_repaired`]). The
//! promise: after any crash, no page is left torn, and every page holds its synced version or
//! a later one. The cost: a second write per run, an `fdatasync` of the area per group of runs
//! in flight together ([`DOUBLEWRITE_FLUSH_DEPTH`] for `flush_all`), and one of the file per
//! [`DOUBLEWRITE_SLOTS`] pages, with the writes in flight drained for it (see BENCHMARKS.md).
//! Devices that write 4 KiB untorn ([`jdb_fs::File::atomic_write_unit`] reports it, Linux
//! 6.11+) would not need the area once writes are submitted with `RWF_ATOMIC`, which jdb does
//! not do yet; neither the disk nor tmpfs here reports it.
//!
//! # The background writer
//!
//! [`BufferPool::start_background_writer`] (opt-in, a task on the pool's runtime) keeps the
//! frames at the cold end of the eviction order clean by writing their dirty pages (with their
//! dirty neighbours, one request per run) ahead of eviction, bounded per round, so a miss rarely
//! waits for a victim's write-back ([`Stats::writeback_waits`], `bg_pages_written`). It keeps
//! the write-ahead rule like every other write.
//!
//! # Choosing a policy and a size
//!
//! [`Simulator`] runs a policy alone, exactly as the pool drives it: on the same trace and size
//! its misses equal the pool's. `jdb mrc` draws miss-ratio curves with it, and `jdb bench
//! --trace FILE --policy NAME` replays a trace through a real pool.
//!
//! # Where things are
//!
//! - `pool.rs`: [`BufferPool`], the public API read top-down (hit, make room, read, install).
//! - `guard.rs`: [`PageRef`], [`PageMut`], and the cancel-safe wait for a latch.
//! - `frames.rs`: residency without I/O: frame states, latches and their waiters, free frames.
//! - `hot.rs`: what a hit and a release touch (page table, frame records, the policy's fast hit),
//!   in `Cell`s reachable without borrowing `frames.rs`'s state.
//! - `table.rs`: the page table, an array from page id to frame.
//! - `policy/`: the eviction policies (`lru.rs`, `clock.rs`, `sieve.rs`, `s3fifo.rs`, on the
//!   shared lists of `queues.rs`) and the [`Simulator`].
//! - `read.rs`: misses in flight (one read per page), page groups, prefetch.
//! - `write.rs`: writes in flight, flush, sync, close, victims' write-back, poisoning.
//! - `wal.rs`: the write-ahead rule, the dirty page table, checkpoints.
//! - `doublewrite.rs`: the doublewrite area and the repair of torn pages.
//! - `bgwriter.rs`: the background writer.
//! - `page.rs`: [`Page`] and the arena of frames with their flags.
//! - `storage.rs`: the [`Storage`] trait the pool runs on; `testing/`: fault-injecting storages.
//! - `stats.rs`, `error.rs`.

mod bgwriter;
mod doublewrite;
mod error;
mod frames;
mod guard;
mod hot;
mod page;
mod policy;
mod pool;
mod read;
mod stats;
mod storage;
mod table;
mod wal;
mod write;

pub use bgwriter::{BackgroundWriter, BackgroundWriterHandle};
pub use doublewrite::SLOTS as DOUBLEWRITE_SLOTS;
pub use error::{Error, Result};
pub use guard::{PageMut, PageRef};
pub use page::{Page, PageState};
pub use policy::{PolicyKind, Simulator, UnknownPolicy};
pub use pool::{BufferPool, MAX_CAP, MAX_RUN, PoolOptions};
pub use read::PREFETCH_DEPTH;
pub use stats::Stats;
pub use storage::Storage;
pub use wal::{LogFuture, WriteAheadLog};
pub use write::{DOUBLEWRITE_FLUSH_DEPTH, FLUSH_DEPTH, TrackedBuf};

pub(crate) use frames::FrameId;

pub use jdb_layout::{PageHeader, PageId, PageType};

#[cfg(any(test, feature = "testing"))]
pub mod testing;

/// The README's code blocks, compiled as doc-tests so its snippet cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
