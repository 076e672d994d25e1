//! A buffer pool for Rust storage engines: keeps hot 4 KiB pages of one file in memory, reads and
//! writes them with Direct I/O through io_uring (compio), evicts cold ones in exact LRU order,
//! never loses a dirty page, and verifies every page it reads.
//!
//! ```
//! use jdb_fs::File;
//! use jdb_page::BufferPool;
//!
//! compio::runtime::Runtime::new().unwrap().block_on(async {
//!     let dir = tempfile::tempdir_in(".").unwrap();
//!     let path = dir.path().join("data.jdb");
//!
//!     let mut pool = BufferPool::open(File::create(&path).await?, 64).await?;
//!     let page = pool.alloc().await?;
//!     let id = page.id();
//!     let slot = page.rows_mut()?.insert(b"hello").unwrap();
//!     pool.close().await.map_err(|(e, _)| e)?;
//!
//!     let mut pool = BufferPool::open(File::open_rw(&path).await?, 64).await?;
//!     assert_eq!(pool.get(id).await?.rows()?.get(slot).unwrap(), b"hello");
//!     Ok::<(), jdb_page::Error>(())
//! })
//! .unwrap();
//! ```
//!
//! # What the pool promises
//!
//! - **A hit costs a hash lookup and an LRU touch**; no lock, no I/O, no allocation.
//! - **Eviction is exact LRU over unpinned pages.** [`Page::pin`] keeps a page in memory until it
//!   is unpinned as often as it was pinned. When every frame is pinned, a request that needs room
//!   fails with [`Error::PoolFull`] and nothing is lost.
//! - **No dirty page is dropped unwritten.** A dirty victim is written (sealed with its checksum)
//!   before its frame is reused. A failed write returns the error and leaves the page dirty in
//!   memory; a later flush writes it once the disk recovers.
//! - **Nothing corrupt is handed out.** Every page read is verified (CRC32C, page id, format);
//!   a bad one is [`Error::Corrupt`] naming the page and what is wrong, counted in
//!   [`Stats::checksum_failures`], and never cached.
//! - **[`BufferPool::sync`] is the durability point.** When it returns `Ok`, every page as it was
//!   at the call is on disk and `fdatasync`ed: after a crash, a page not changed since reads back
//!   exactly those bytes. A page changed since the last `sync` reads back as that synced version,
//!   a later one, or, if the crash tore its write, [`Error::Corrupt`]: never other data. Pages
//!   allocated since the last `sync` may be missing ([`Error::PageNotFound`]) or
//!   [`Error::Corrupt`]; [`BufferPool::init_page`] rebuilds such a page. If `sync` fails, treat
//!   everything since the last successful `sync` as possibly lost, even if a later one succeeds.
//! - **Opening never writes.** [`BufferPool::open`] checks the file (whole pages, jdb's magic) and
//!   never truncates, extends or rewrites it. New pages reach the file when flushed or evicted.
//! - **Cancel-safe.** Dropping any pool future at any `.await` leaves the pool consistent: reads
//!   and writes go through owned buffers, the kernel never writes into a frame, and a page is
//!   marked clean only after its write completed. A write the kernel still performs for a dropped
//!   call is waited for before the pool writes or syncs again, so it can never land after (and
//!   overwrite) a newer version of its page.
//! - **Dropping a pool does not write.** Call [`BufferPool::close`] (or `sync`) first; a pool
//!   dropped with dirty pages logs a warning and those changes are lost, like an uncommitted
//!   transaction.

mod error;
mod evict;
mod flush;
mod group;
mod inflight;
mod lru;
mod page;
mod policy;
mod pool;
mod stats;
mod storage;

pub use error::{Error, Result};
pub use flush::FLUSH_DEPTH;
pub use group::PREFETCH_DEPTH;
pub use inflight::TrackedBuf;
pub use lru::{FrameId, LruLinks, LruList, LruOrder, NIL, VecLinks};
pub use page::{Page, PageState};
pub use policy::{PolicyKind, UnknownPolicy};
pub use pool::{BufferPool, MAX_CAP, MAX_RUN};
pub use stats::Stats;
pub use storage::Storage;

pub use jdb_layout::{PageHeader, PageId, PageType};

#[cfg(any(test, feature = "testing"))]
pub mod testing;

/// The README's code blocks, compiled as doc-tests so its snippet cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
