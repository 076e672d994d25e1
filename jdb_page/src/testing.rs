//! Test support: storages that fail, tear writes and crash, to test what the pool promises when
//! the disk misbehaves. Compiled for this crate's tests and with the `testing` feature.
//!
//! - [`MemDisk`] is an in-memory device holding one file as two images: *live* (what reads
//!   see) and *durable* (what survives a crash: the live image as of the last completed sync).
//!   [`MemDisk::storage`] opens a [`MemStorage`] on it for a pool; the test keeps the `MemDisk`,
//!   drops the pool, [`MemDisk::crash`]es the disk and opens a new pool on what survived.
//! - [`FaultyStorage`] wraps any [`Storage`](crate::Storage), e.g. a real [`jdb_fs::File`], and
//!   injects the same faults into it.
//! - A [`FaultController`] (shared by handle, so the test keeps one while the pool owns the
//!   storage) arms faults: fail the Nth read, write or sync, once ([`FaultController::fail_nth`])
//!   or until cleared ([`FaultController::fail_always`]), with `EIO`, `ENOSPC`, or a torn write.
//! - The eviction policies alone (`LruPolicy`, `ClockPolicy`, `SievePolicy`, `S3FifoPolicy`,
//!   hidden), for the `policy_ops` benchmark, and (debug builds) `policy_steps`, the list steps
//!   they took, for tests that show their operations stay O(1).
//!
//! ```
//! use jdb_page::{
//!     BufferPool, Error,
//!     testing::{Crash, Fault, IoKind, MemDisk},
//! };
//!
//! compio::runtime::Runtime::new().unwrap().block_on(async {
//!     let disk = MemDisk::new();
//!     let mut pool = BufferPool::open(disk.storage(), 8).await?;
//!     pool.alloc().await?.data_mut()[0] = 1;
//!     pool.sync().await?;
//!
//!     pool.get(0).await?.data_mut()[0] = 2;
//!     disk.faults().fail_nth(IoKind::Write, 1, Fault::Eio);
//!     assert!(matches!(pool.flush_page(0).await, Err(Error::Storage(_))));
//!     assert!(pool.get(0).await?.is_dirty(), "a failed write keeps the page dirty");
//!
//!     drop(pool); // power loss: the change since the last sync is gone
//!     disk.crash(Crash::LoseUnsynced);
//!     let mut pool = BufferPool::open(disk.storage(), 8).await?;
//!     assert_eq!(pool.get(0).await?.data()[0], 1);
//!     Ok::<(), Error>(())
//! })
//! .unwrap();
//! ```

mod faults;
mod faulty;
mod mem;
mod policies;

pub use faults::{EIO, ENOSPC, Fault, FaultController, IoKind};
pub use faulty::FaultyStorage;
pub use mem::{Crash, MemDisk, MemStorage, Rng};
#[doc(hidden)]
pub use policies::{ClockPolicy, EvictionPolicy, LruPolicy, S3FifoPolicy, SievePolicy};

/// List steps every eviction policy (of every pool) took on this thread so far: frames an
/// eviction search examined or a walk passed, and frames linked, unlinked or moved. Each policy
/// operation costs at most a constant times its steps. Counted in debug builds only, so that
/// release builds pay nothing on the hit path.
#[doc(hidden)]
#[cfg(debug_assertions)]
pub fn policy_steps() -> u64 {
    crate::policy::list_steps()
}
