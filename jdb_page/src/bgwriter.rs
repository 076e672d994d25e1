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

use crate::{BufferPool, FrameId, Storage};

/// How the background writer works.
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
    /// How long it sleeps between rounds when there was nothing to write; a miss that had to
    /// write a victim back wakes it at once.
    pub interval: Duration,
}

impl BackgroundWriter {
    /// For a pool of `cap` frames: keep an eighth of them (at least 32, at most 4096) clean,
    /// write at most 256 pages (1 MiB) a round with up to 32 writes in flight, look every 10 ms.
    pub fn for_cap(cap: usize) -> Self {
        Self {
            clean_target: (cap / 8).clamp(32, 4096).min(cap),
            max_pages: 256,
            max_in_flight: 32,
            interval: Duration::from_millis(10),
        }
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

    /// One round: the dirty pages among the coldest `config.clean_target` frames, with their
    /// dirty neighbours (coalesced into runs of one request each), at most `config.max_pages`;
    /// pages held exclusively or already being written are left for the next round. Returns
    /// the pages written.
    async fn clean_cold_end(&self, config: &BackgroundWriter) -> usize {
        let mut targets: Vec<(PageId, FrameId)> = {
            let cold = self.core.frames.borrow().coldest(config.clean_target);
            let mut targets = Vec::new();
            for frame in cold {
                if targets.len() >= config.max_pages {
                    break;
                }
                targets.extend(self.core.dirty_run_around(frame));
            }
            targets
        };
        targets.sort_unstable();
        targets.dedup();
        targets.truncate(config.max_pages);
        // A failed write leaves its pages dirty; the next miss or flush reports it.
        let depth = config.max_in_flight.max(1);
        let (written, _) = self.write_pages_of(targets, false, depth).await;
        let stats = &mut self.core.frames.borrow_mut().stats;
        stats.bg_rounds += 1;
        stats.bg_pages_written += written as u64;
        written
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
            pool.clean_cold_end(&config).await
        };
        if written > 0 {
            continue;
        }
        // Sleep, or wake as soon as a miss had to write a victim back.
        let mut sleep = std::pin::pin!(compio::time::sleep(config.interval));
        poll_fn(|cx| {
            if signal.wanted.take() || sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
            *signal.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
    }
}
