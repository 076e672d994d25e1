//! Writes the kernel may still be doing.
//!
//! A write's future can be dropped after the request was submitted (a `select!`, a timeout, a
//! task cancelled). compio then keeps the request's buffer until the kernel completes it, and the
//! write still lands, possibly after a newer write of the same page submitted later: io_uring does
//! not order independent requests. So every write buffer carries a guard that counts it in flight
//! until it is either handed back (the normal path) or dropped by the runtime after the kernel is
//! done (the cancelled path), and the pool waits for the count to reach zero before it submits
//! another write or an `fdatasync`.

use std::{
    cell::Cell,
    future::poll_fn,
    ops::Deref,
    rc::Rc,
    task::{Poll, Waker},
};

use compio::buf::IoBuf;
use jdb_alloc::AlignedBuf;

/// Counts the pool's writes in flight.
#[derive(Default)]
pub(crate) struct WriteTracker(Rc<State>);

#[derive(Default)]
struct State {
    in_flight: Cell<usize>,
    waiter: Cell<Option<Waker>>,
}

impl WriteTracker {
    /// Wraps `buf` for a write; counted in flight until the returned buffer is unwrapped with
    /// [`TrackedBuf::into_inner`] or dropped.
    pub(crate) fn track(&self, buf: AlignedBuf) -> TrackedBuf {
        self.0.in_flight.set(self.0.in_flight.get() + 1);
        TrackedBuf {
            buf,
            _guard: Some(Guard(Rc::clone(&self.0))),
        }
    }

    /// Writes submitted whose buffer has not come back or been dropped.
    pub(crate) fn in_flight(&self) -> usize {
        self.0.in_flight.get()
    }

    /// Waits until no write is in flight (at once when none is).
    pub(crate) async fn drained(&self) {
        poll_fn(|cx| {
            if self.0.in_flight.get() == 0 {
                Poll::Ready(())
            } else {
                self.0.waiter.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await;
    }
}

/// Decrements the count when the buffer it travels with is unwrapped or dropped.
struct Guard(Rc<State>);

impl Drop for Guard {
    fn drop(&mut self) {
        let left = self.0.in_flight.get() - 1;
        self.0.in_flight.set(left);
        if left == 0
            && let Some(waker) = self.0.waiter.take()
        {
            waker.wake();
        }
    }
}

/// A write buffer the pool tracks until the kernel is done with it: an [`AlignedBuf`] (reachable
/// through `Deref`) and a guard. [`crate::Storage`] implementations write its bytes and hand it
/// back.
pub struct TrackedBuf {
    buf: AlignedBuf,
    _guard: Option<Guard>,
}

impl TrackedBuf {
    /// A buffer no pool counts: for storages that wrap others and write buffers of their own.
    pub fn new(buf: AlignedBuf) -> Self {
        Self { buf, _guard: None }
    }

    /// The buffer, no longer counted in flight.
    pub fn into_inner(self) -> AlignedBuf {
        self.buf
    }
}

impl Deref for TrackedBuf {
    type Target = AlignedBuf;

    fn deref(&self) -> &AlignedBuf {
        &self.buf
    }
}

// SAFETY: every method forwards to the inner `AlignedBuf`, whose heap memory (valid for
// `buf_capacity()` bytes, `buf_len()` of them initialised) does not move when the `TrackedBuf`
// moves, and is freed only when the `TrackedBuf` is dropped.
unsafe impl IoBuf for TrackedBuf {
    fn as_buf_ptr(&self) -> *const u8 {
        self.buf.as_buf_ptr()
    }

    fn buf_len(&self) -> usize {
        self.buf.buf_len()
    }

    fn buf_capacity(&self) -> usize {
        self.buf.buf_capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_until_unwrapped_or_dropped() {
        let writes = WriteTracker::default();
        let a = writes.track(AlignedBuf::page().unwrap());
        let b = writes.track(AlignedBuf::page().unwrap());
        assert_eq!(writes.in_flight(), 2);
        let page = a.into_inner();
        assert_eq!((page.len(), writes.in_flight()), (4096, 1));
        drop(b);
        assert_eq!(writes.in_flight(), 0);
    }
}
