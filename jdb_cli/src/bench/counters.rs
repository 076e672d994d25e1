//! What a system counted during a run (hits, misses, I/Os), and how threads' counts add up.

use jdb_fs::PAGE_SIZE;

/// Counters of one system, `None` where the system cannot know (the OS page cache).
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct Counters {
    /// Page requests served from memory.
    pub hits: Option<u64>,
    /// Page requests that read from the file.
    pub misses: Option<u64>,
    /// Read requests issued (for the OS baseline: `pread` calls).
    pub read_ios: u64,
    /// Write requests issued (for the OS baseline: `pwrite` calls).
    pub write_ios: u64,
    /// Pages read from the device.
    pub pages_read: Option<u64>,
    /// Pages written to the device.
    pub pages_written: Option<u64>,
    /// Pages dropped from memory to make room.
    pub evictions: Option<u64>,
    /// Dirty pages written back to make room.
    pub dirty_writebacks: Option<u64>,
    /// Pages read that failed verification.
    pub checksum_failures: u64,
    /// Misses that waited for another task's read of the same page (jdb only).
    pub shared_reads: Option<u64>,
    /// Requests that waited for a dirty victim's write-back before their read (jdb only).
    pub writeback_waits: Option<u64>,
    /// Pages the background writer wrote (jdb only).
    pub bg_pages_written: Option<u64>,
    /// Rounds of the background writer (jdb only).
    pub bg_rounds: Option<u64>,
    /// The process's storage traffic over the run (the OS baseline estimates from it).
    pub device: Option<DeviceIo>,
}

impl Counters {
    /// The counters of several threads' runs added up. The device traffic is the process's, so it
    /// is not added: the window from the earliest start to the latest end counts, once.
    pub fn sum(parts: &[Counters]) -> Self {
        let add = |f: fn(&Counters) -> Option<u64>| {
            parts.iter().try_fold(0u64, |total, c| Some(total + f(c)?))
        };
        let mut total = Self {
            hits: add(|c| c.hits),
            misses: add(|c| c.misses),
            read_ios: parts.iter().map(|c| c.read_ios).sum(),
            write_ios: parts.iter().map(|c| c.write_ios).sum(),
            pages_read: add(|c| c.pages_read),
            pages_written: add(|c| c.pages_written),
            evictions: add(|c| c.evictions),
            dirty_writebacks: add(|c| c.dirty_writebacks),
            checksum_failures: parts.iter().map(|c| c.checksum_failures).sum(),
            shared_reads: add(|c| c.shared_reads),
            writeback_waits: add(|c| c.writeback_waits),
            bg_pages_written: add(|c| c.bg_pages_written),
            bg_rounds: add(|c| c.bg_rounds),
            device: None,
        };
        let windows: Option<Vec<DeviceIo>> = parts.iter().map(|c| c.device).collect();
        if let Some(windows) = windows.filter(|w| !w.is_empty()) {
            let min = |f: fn(&ProcIo) -> u64| windows.iter().map(|w| f(&w.start)).min();
            let max = |f: fn(&ProcIo) -> u64| windows.iter().map(|w| f(&w.end)).max();
            total.device = Some(DeviceIo {
                start: ProcIo {
                    read_bytes: min(|io| io.read_bytes).unwrap_or(0),
                    write_bytes: min(|io| io.write_bytes).unwrap_or(0),
                },
                end: ProcIo {
                    read_bytes: max(|io| io.read_bytes).unwrap_or(0),
                    write_bytes: max(|io| io.write_bytes).unwrap_or(0),
                },
            });
            total.estimate_from_device();
        }
        total
    }

    /// What was counted since `before` was taken (everything, for `None`).
    pub fn since(self, before: Option<Counters>) -> Self {
        let Some(b) = before else {
            return self;
        };
        let sub = |now: Option<u64>, then: Option<u64>| match (now, then) {
            (Some(n), Some(t)) => Some(n.saturating_sub(t)),
            (now, _) => now,
        };
        let mut since = Self {
            hits: sub(self.hits, b.hits),
            misses: sub(self.misses, b.misses),
            read_ios: self.read_ios.saturating_sub(b.read_ios),
            write_ios: self.write_ios.saturating_sub(b.write_ios),
            pages_read: sub(self.pages_read, b.pages_read),
            pages_written: sub(self.pages_written, b.pages_written),
            evictions: sub(self.evictions, b.evictions),
            dirty_writebacks: sub(self.dirty_writebacks, b.dirty_writebacks),
            checksum_failures: self.checksum_failures.saturating_sub(b.checksum_failures),
            shared_reads: sub(self.shared_reads, b.shared_reads),
            writeback_waits: sub(self.writeback_waits, b.writeback_waits),
            bg_pages_written: sub(self.bg_pages_written, b.bg_pages_written),
            bg_rounds: sub(self.bg_rounds, b.bg_rounds),
            device: self.device,
        };
        if let (Some(now), Some(then)) = (self.device, b.device) {
            since.device = Some(DeviceIo {
                start: then.end,
                end: now.end,
            });
            since.estimate_from_device();
        }
        since
    }

    /// For a system with no counters of its own (the OS page cache): pages read and written, and
    /// the misses, from the device traffic. Readahead can make the misses more than the page
    /// requests that missed.
    pub fn estimate_from_device(&mut self) {
        if let Some(DeviceIo { start, end }) = self.device {
            let pages = |bytes: u64| bytes.div_ceil(PAGE_SIZE as u64);
            self.pages_read = Some(pages(end.read_bytes.saturating_sub(start.read_bytes)));
            self.pages_written = Some(pages(end.write_bytes.saturating_sub(start.write_bytes)));
            self.misses = self.pages_read;
        }
    }
}

/// This process's storage traffic from `/proc/self/io` (needs task I/O accounting), all threads.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct ProcIo {
    /// Bytes the process caused to be read from storage.
    pub read_bytes: u64,
    /// Bytes the process caused to be written to storage (counted when dirtied).
    pub write_bytes: u64,
}

impl ProcIo {
    /// Now, or `None` where `/proc/self/io` cannot be read.
    pub fn read() -> Option<Self> {
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

/// The process's storage traffic at the start and at the end of a run.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct DeviceIo {
    /// When the system was opened.
    pub start: ProcIo,
    /// When the counters were taken.
    pub end: ProcIo,
}
