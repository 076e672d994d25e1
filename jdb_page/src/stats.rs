//! Counters a user can log.

/// What the pool has done since it was opened (or since [`crate::BufferPool::reset_stats`]).
///
/// Pages and I/O operations are counted separately: a run of 16 contiguous pages read with one
/// request is 16 `pages_read` and 1 `read_ios`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests (`get`, `read`, `get_group`, ...) answered from memory.
    pub hits: u64,
    /// Requests that had to read the page from the file (or wait for another task's read of it).
    pub misses: u64,
    /// Of the misses, those that waited for a read another task had begun of the same page
    /// (one read served them all).
    pub shared_reads: u64,
    /// Pages read from the file.
    pub pages_read: u64,
    /// Pages written to the file.
    pub pages_written: u64,
    /// Read requests submitted (one per run of contiguous pages), also those of calls dropped
    /// before they completed.
    pub read_ios: u64,
    /// Write requests submitted (one per run of contiguous pages), also those of calls dropped
    /// before they completed.
    pub write_ios: u64,
    /// Pages dropped from memory to make room.
    pub evictions: u64,
    /// Dirty pages written back because they were evicted (or written along with a victim).
    pub dirty_writebacks: u64,
    /// Requests that had to wait for a dirty victim's write-back before their read: their own,
    /// or one already in flight (what the background writer is there to avoid).
    pub writeback_waits: u64,
    /// Rounds of the background writer.
    pub bg_rounds: u64,
    /// Pages the background writer wrote.
    pub bg_pages_written: u64,
    /// Pages read from the file that failed verification (checksum, page id or format).
    pub checksum_failures: u64,
    /// Read or write requests that the file refused (I/O errors).
    pub io_errors: u64,
    /// Torn pages restored from the doublewrite area when the pool was opened.
    pub torn_pages_repaired: u64,
    /// `fdatasync` calls completed.
    pub syncs: u64,
}

impl Stats {
    /// Hits divided by requests (0 when there were none).
    pub fn hit_ratio(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0.0
        } else {
            self.hits as f64 / total as f64
        }
    }
}
