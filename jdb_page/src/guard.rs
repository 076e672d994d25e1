//! [`PageRef`] and [`PageMut`]: a latch and a pin on one page, released on drop on every path
//! (`?`, panic unwinding, a dropped future), and [`LatchWait`], the cancel-safe wait for one.

use std::{
    future::Future,
    ops::{Deref, DerefMut},
    pin::Pin,
    task::{Context, Poll},
};

use jdb_layout::{PAGE_HEADER_SIZE, PageId};

use crate::{
    FrameId, Page,
    frames::{Lost, Mode},
    pool::Core,
};

/// Shared access to a page of a [`BufferPool`](crate::BufferPool): any number of `PageRef`s of
/// one page can live at once, and none while a [`PageMut`] of it does. The page stays in memory
/// (pinned) while the guard lives.
///
/// Dropping the guard releases the latch and the pin; so does a `?` or a panic that unwinds past
/// it, and dropping a future that holds it.
pub struct PageRef<'a> {
    /// The pool's core; the release reaches the frame's record through `core.hot`, a fixed
    /// offset (no load).
    core: &'a Core,
    /// Latched by this guard (so a frame of the pool, `< cap`) while it lives.
    frame: FrameId,
}

/// Exclusive access to a page of a [`BufferPool`](crate::BufferPool) (what `&mut Page` is to a
/// value): no other guard of the page lives at the same time. The page stays in memory (pinned)
/// while the guard lives; changes made through it (which mark the page dirty) are covered by a
/// `sync` called after the guard is dropped.
///
/// Dropping the guard releases the latch and the pin; so does a `?` or a panic that unwinds past
/// it, and dropping a future that holds it.
pub struct PageMut<'a> {
    /// The pool's core; the release reaches the frame's record through `core.hot`, a fixed
    /// offset (no load).
    core: &'a Core,
    /// Latched by this guard (so a frame of the pool, `< cap`) while it lives.
    frame: FrameId,
}

/// How a guard type latches its page; lets `get` and `read` share one future.
pub(crate) trait Guard<'a>: Sized {
    /// The latch mode the guard holds.
    const MODE: Mode;
    /// The guard of a frame the caller has just latched in [`Guard::MODE`].
    fn latched(core: &'a Core, frame: FrameId) -> Self;
}

impl<'a> Guard<'a> for PageRef<'a> {
    const MODE: Mode = Mode::Shared;

    #[inline]
    fn latched(core: &'a Core, frame: FrameId) -> Self {
        debug_assert!(core.frames.borrow().is_latched(frame, Mode::Shared));
        Self { core, frame }
    }
}

impl<'a> Guard<'a> for PageMut<'a> {
    const MODE: Mode = Mode::Exclusive;

    #[inline]
    fn latched(core: &'a Core, frame: FrameId) -> Self {
        debug_assert!(core.frames.borrow().is_latched(frame, Mode::Exclusive));
        Self { core, frame }
    }
}

impl<'a> PageRef<'a> {
    /// The guard of a frame the caller has just latched in shared mode.
    #[inline]
    pub(crate) fn new(core: &'a Core, frame: FrameId) -> Self {
        Self::latched(core, frame)
    }
}

impl<'a> PageMut<'a> {
    /// The guard of a frame the caller has just latched in exclusive mode.
    #[inline]
    pub(crate) fn new(core: &'a Core, frame: FrameId) -> Self {
        Self::latched(core, frame)
    }
}

impl PageRef<'_> {
    /// The payload, as [`Page::data`] gives it: bytes 32..4096, after the header. The guard
    /// finds the bytes from its frame number alone (an address computation), without going
    /// through the page record, so this is the quickest way to a page's bytes.
    #[inline(always)]
    pub fn data(&self) -> &[u8] {
        // SAFETY: this guard holds a shared latch on `frame` (a frame of the pool) while it
        // lives: no `PageMut` of it exists and the pool writes no frame a guard latches.
        let bytes = unsafe { self.core.frame_bytes(self.frame) };
        &bytes[PAGE_HEADER_SIZE..]
    }
}

impl PageMut<'_> {
    /// The payload, as [`Page::data`] gives it: bytes 32..4096, after the header, reached from
    /// the guard's frame number alone (see [`PageRef::data`]).
    #[inline(always)]
    pub fn data(&self) -> &[u8] {
        // SAFETY: this guard holds the exclusive latch on `frame`; `&self` excludes
        // `data_mut` and `deref_mut` while the slice lives.
        let bytes = unsafe { self.core.frame_bytes(self.frame) };
        &bytes[PAGE_HEADER_SIZE..]
    }

    /// The payload, writable, as [`Page::data_mut`] gives it (the page is marked dirty),
    /// reached from the guard's frame number alone (see [`PageRef::data`]).
    #[inline(always)]
    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: this guard holds the exclusive latch on `frame`, and `&mut self` makes the
        // slice the only reference to the frame's bytes through the guard while it lives.
        let bytes = unsafe { self.core.frame_bytes_mut(self.frame) };
        &mut bytes[PAGE_HEADER_SIZE..]
    }
}

impl Deref for PageRef<'_> {
    type Target = Page;

    #[inline]
    fn deref(&self) -> &Page {
        // SAFETY: this guard holds a shared latch on `frame` for as long as it lives, and while
        // any shared latch is held no `PageMut` of the frame exists and the pool creates no
        // `&mut Page` of it (see `Core::page_mut`): only shared references coexist.
        unsafe { self.core.page(self.frame) }
    }
}

impl Deref for PageMut<'_> {
    type Target = Page;

    #[inline]
    fn deref(&self) -> &Page {
        // SAFETY: this guard holds the exclusive latch on `frame`: no other guard of it exists,
        // and the pool does not touch a frame latched exclusively (see `Core::page`); the
        // reference lives no longer than `&self`, which excludes `deref_mut` meanwhile.
        unsafe { self.core.page(self.frame) }
    }
}

impl DerefMut for PageMut<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut Page {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference through the guard.
        unsafe { self.core.page_mut(self.frame) }
    }
}

impl Drop for PageRef<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: this guard holds a latch on `frame`, a frame of the pool.
        if unsafe { self.core.hot.release(self.frame, Mode::Shared) } {
            self.core.released_slow(self.frame);
        }
    }
}

impl Drop for PageMut<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: this guard holds the latch on `frame`, a frame of the pool.
        if unsafe { self.core.hot.release(self.frame, Mode::Exclusive) } {
            released_mut_slow(self.core, self.frame);
        }
    }
}

/// What an exclusive release must tell besides the frame's latch (out of line: most releases
/// need nothing, and the hit path keeps its registers): the attached log (the page's recLSN),
/// then waiters, the policy, tasks waiting for room.
#[cold]
#[inline(never)]
fn released_mut_slow(core: &Core, frame: FrameId) {
    if let Some(wal) = core.wal.get() {
        // SAFETY: `frame` is a frame of the pool whose exclusive latch this guard released in
        // this same step: nothing ran since, so no other guard of it exists and no `&mut Page`
        // of it lives.
        let page = unsafe { core.page(frame) };
        wal.released(frame, page, core.writes.is_writing(frame));
    }
    core.released_slow(frame);
}

impl std::fmt::Debug for PageRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PageRef").field(&**self).finish()
    }
}

impl std::fmt::Debug for PageMut<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PageMut").field(&**self).finish()
    }
}

/// Waits until frame `frame` holds page `id` and can be latched in `mode`, then latches it.
/// `Err(Lost)` when the frame stops holding the page meanwhile (its read failed): look again.
///
/// Cancel-safe: dropped while queued, it leaves the queue (waking the next waiter if it was
/// first); it holds nothing else.
pub(crate) struct LatchWait<'a> {
    core: &'a Core,
    frame: FrameId,
    id: PageId,
    mode: Mode,
    touch: bool,
    ticket: Option<u64>,
}

impl<'a> LatchWait<'a> {
    pub(crate) fn new(core: &'a Core, frame: FrameId, id: PageId, mode: Mode, touch: bool) -> Self {
        Self {
            core,
            frame,
            id,
            mode,
            touch,
            ticket: None,
        }
    }
}

impl Future for LatchWait<'_> {
    type Output = Result<(), Lost>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut frames = this.core.frames.borrow_mut();
        frames.poll_latch(
            this.frame,
            this.id,
            this.mode,
            this.touch,
            &mut this.ticket,
            cx.waker(),
        )
    }
}

impl Drop for LatchWait<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.core.frames.borrow_mut().leave(self.frame, ticket);
        }
    }
}
