//! The background writer (opt-in): a task on the pool's runtime that keeps the frames at the cold
//! end of the eviction order clean, writing coalesced runs of their dirty pages ahead of time, so
//! a miss rarely has to wait for a victim's write-back (PostgreSQL's bgwriter, InnoDB's page
//! cleaner).

use std::{
    cell::{Cell, RefCell},
    future::{Future, poll_fn},
    rc::{Rc, Weak},
    task::{Poll, Waker},
    time::Duration,
};

use jdb_layout::PageId;
use rustc_hash::FxHashSet;

use crate::{BufferPool, FrameId, Storage};

/// How the background writer works.
///
/// Each round it looks at the coldest `clean_target` frames and writes their dirty pages
/// (with the dirty pages around them, one request per run), coldest first. How many writes it
/// keeps in flight follows two things:
///
/// - **its backlog**: the dirty pages among those frames. A quarter of them dirty (or a miss
///   that had to write a victim back) calls for `max_in_flight`; fewer, proportionally fewer,
///   at least one. So it writes about as fast as the tasks dirty pages, in a steady stream
///   rather than in bursts.
/// - **the reads in flight** ([`crate::BufferPool::reads_in_flight`]): beyond what its backlog
///   calls for, it fills only what the reads leave of `io_budget`. A device serves requests
///   roughly in order, so every write queued ahead of a miss's read adds to that miss's wait:
///   while the pool's tasks keep the device busy with reads, the writer yields to them; when
///   it is idle, it writes up to `max_in_flight` at once.
///
/// ```no_run
/// # async fn f(pool: std::rc::Rc<jdb_page::BufferPool>) {
/// use jdb_page::BackgroundWriter;
///
/// let writer = pool.start_background_writer(BackgroundWriter::for_cap(pool.cap()));
/// // ... serve requests: misses find clean victims ...
/// writer.stop().await;
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackgroundWriter {
    /// Frames at the cold end to keep clean (the next victims).
    pub clean_target: usize,
    /// Most pages written per round (the bound on its I/O between two looks at the pool).
    pub max_pages: usize,
    /// Most writes it keeps in flight at once, each one run of at most [`crate::MAX_RUN`]
    /// contiguous pages (so at most `max_in_flight * MAX_RUN` pages, and as many 64 KiB
    /// buffers). With one or two at a time it cleans a page or two per device round trip,
    /// while 32 tasks missing at once dirty victims by the dozen.
    pub max_in_flight: usize,
    /// Reads and writes in flight together that the writer fills up to when its backlog does
    /// not call for more writes (see above): about the queue depth that saturates the device.
    /// `0`: write only as fast as the backlog calls for.
    pub io_budget: usize,
    /// How long it sleeps between rounds when there was nothing to write; a miss that had to
    /// write a victim back wakes it at once.
    pub interval: Duration,
}

impl BackgroundWriter {
    /// For a pool of `cap` frames: keep a quarter of them (at least 32, at most 4096) clean,
    /// write at most 256 pages (1 MiB) a round with up to 32 writes in flight, within an I/O
    /// budget of 32 requests, look every 10 ms. (With an eighth clean, 0.0–1.6 % of a
    /// half-writing workload's misses waited for a write-back, 0.7 % typically; with a quarter,
    /// 0.0–0.5 % at the same p99: BENCHMARKS.md.)
    pub fn for_cap(cap: usize) -> Self {
        Self {
            clean_target: (cap / 4).clamp(32, 4096).min(cap),
            max_pages: 256,
            max_in_flight: 32,
            io_budget: 32,
            interval: Duration::from_millis(10),
        }
    }

    /// Writes to keep in flight: what a backlog of `dirty` pages among the coldest
    /// `clean_target` frames calls for (all of `max_in_flight` when `urgent`: a miss had to
    /// write a victim back), or what `reads` in flight leave of `io_budget`, whichever is more;
    /// between 1 and `max_in_flight`.
    pub(crate) fn depth(&self, dirty: usize, urgent: bool, reads: usize) -> usize {
        let max = self.max_in_flight.max(1);
        let backlog = if urgent {
            max
        } else {
            // A quarter of the window dirty is the whole depth.
            (max * dirty * 4).div_ceil(self.clean_target.max(1))
        };
        backlog
            .max(self.io_budget.saturating_sub(reads))
            .clamp(1, max)
    }
}

/// The running background writer; [`BackgroundWriterHandle::stop`] (or dropping the handle, or
/// dropping the pool) ends it after the round in progress.
pub struct BackgroundWriterHandle {
    stop: Rc<Cell<bool>>,
    /// Wakes a sleeping writer, so that it sees `stop` now rather than after its interval.
    signal: Rc<BgSignal>,
    task: Option<compio::runtime::Task<std::thread::Result<()>>>,
}

impl BackgroundWriterHandle {
    /// Stops the writer and waits for its last round to end (its writes have completed).
    pub async fn stop(mut self) {
        self.stop.set(true);
        self.signal.want();
        if let Some(task) = self.task.take() {
            // A panic in the writer is the writer's bug; it has stopped either way.
            let _ = task.await;
        }
    }
}

impl Drop for BackgroundWriterHandle {
    fn drop(&mut self) {
        self.stop.set(true);
        self.signal.want();
    }
}

impl<S: Storage + 'static> BufferPool<S> {
    /// Starts the background writer on the current runtime (the pool's). It holds the pool
    /// weakly: dropping the pool ends it. Its work shows in [`crate::Stats`]
    /// (`bg_rounds`, `bg_pages_written`); misses that still had to write a victim back are
    /// `writeback_waits`.
    pub fn start_background_writer(
        self: &Rc<Self>,
        config: BackgroundWriter,
    ) -> BackgroundWriterHandle {
        let stop = Rc::new(Cell::new(false));
        let signal = Rc::new(BgSignal::default());
        *self.core.bg.borrow_mut() = Some(Rc::clone(&signal));
        let task = compio::runtime::spawn(run(
            Rc::downgrade(self),
            config,
            Rc::clone(&stop),
            Rc::clone(&signal),
        ));
        BackgroundWriterHandle {
            stop,
            signal,
            task: Some(task),
        }
    }

    /// One round: the dirty pages among the coldest `config.clean_target` frames, coldest
    /// first, each with its dirty neighbours (coalesced into runs of one request each), at most
    /// `config.max_pages`; pages held exclusively or already being written are left for the
    /// next round. Writes as many at once as [`BackgroundWriter::depth`] says, asked again
    /// before each write. Returns the pages written.
    async fn clean_cold_end(&self, config: &BackgroundWriter, urgent: bool) -> usize {
        let (targets, dirty) = self.cold_targets(config);
        // A failed write leaves its pages dirty; the next miss or flush reports it.
        let depth = || config.depth(dirty, urgent, self.core.reads_in_flight.get());
        let (written, _) = self.write_pages_of(targets, false, depth).await;
        let stats = &mut self.core.frames.borrow_mut().stats;
        stats.bg_rounds += 1;
        stats.bg_pages_written += written as u64;
        written
    }

    /// The pages a round writes, coldest first (see [`BufferPool::clean_cold_end`]), and the
    /// dirty frames among the coldest `config.clean_target` (being written included).
    fn cold_targets(&self, config: &BackgroundWriter) -> (Vec<(PageId, FrameId)>, usize) {
        let cold = self.core.frames.borrow().coldest(config.clean_target);
        let mut targets: Vec<(PageId, FrameId)> = Vec::new();
        let mut taken = FxHashSet::default();
        let mut dirty = 0;
        for frame in cold {
            // Most cold frames are clean: a flag, not a run search, tells.
            if !self.core.arena.flags(frame).is_dirty() {
                continue;
            }
            dirty += 1;
            if targets.len() >= config.max_pages || self.core.writes.is_writing(frame) {
                continue;
            }
            for (id, f) in self.core.dirty_run_around(frame) {
                if taken.insert(id) {
                    targets.push((id, f));
                }
            }
        }
        targets.truncate(config.max_pages);
        (targets, dirty)
    }
}

/// What a miss tells the background writer when it had to write a victim back: run now.
#[derive(Default)]
pub(crate) struct BgSignal {
    wanted: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl BgSignal {
    /// Wakes the writer for a round now.
    pub(crate) fn want(&self) {
        self.wanted.set(true);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }
}

async fn run<S: Storage + 'static>(
    pool: Weak<BufferPool<S>>,
    config: BackgroundWriter,
    stop: Rc<Cell<bool>>,
    signal: Rc<BgSignal>,
) {
    while !stop.get() {
        let written = {
            // Held only for the round: dropping the pool ends the writer at its next look.
            let Some(pool) = pool.upgrade() else { return };
            if pool.core.closed.get() || pool.is_poisoned() {
                return;
            }
            // A miss had to write a victim back since the last round: the writer is behind.
            let urgent = signal.wanted.take();
            pool.clean_cold_end(&config, urgent).await
        };
        if written > 0 {
            continue;
        }
        // Sleep, or wake as soon as a miss had to write a victim back.
        let mut sleep = std::pin::pin!(compio::time::sleep(config.interval));
        poll_fn(|cx| {
            if signal.wanted.get() || sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
            *signal.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_follows_the_backlog_and_yields_to_reads() {
        let config = BackgroundWriter::for_cap(4096); // clean_target 1024, 32 in flight, budget 32
        assert_eq!(config.clean_target, 1024);
        // Idle device, nothing to write: it may use the whole depth.
        assert_eq!(config.depth(0, false, 0), 32);
        // Reads fill the budget: only what the backlog calls for, at least one write.
        assert_eq!(config.depth(0, false, 32), 1);
        assert_eq!(config.depth(8, false, 40), 1);
        assert_eq!(config.depth(64, false, 32), 8);
        // A quarter of the window dirty, or a miss that had to write back: the whole depth.
        assert_eq!(config.depth(256, false, 32), 32);
        assert_eq!(config.depth(1024, false, 32), 32);
        assert_eq!(config.depth(0, true, 32), 32);
        // Reads leave part of the budget: the larger of the two.
        assert_eq!(config.depth(64, false, 20), 12);
        assert_eq!(config.depth(64, false, 28), 8);
        // Never above max_in_flight, never 0.
        let mut small = config;
        small.max_in_flight = 4;
        small.io_budget = 0;
        assert_eq!(small.depth(1024, true, 0), 4);
        assert_eq!(small.depth(0, false, 0), 1);
        small.max_in_flight = 0;
        assert_eq!(small.depth(1024, true, 0), 1);
    }
}
