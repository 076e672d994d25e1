//! [`now`]: hand a request to the kernel as soon as it is queued, not when the loop next waits.
//!
//! compio 0.17's io_uring driver pushes a request onto the submission ring when its future is
//! first polled, but enters the kernel only when a poll of the loop finds no completions
//! waiting. Under load completions are almost always waiting, so requests queue in user space
//! and reach the device in waves: 32 tasks keep far fewer than 32 reads on the device on
//! average. [`now`] enters the kernel right after the push (`io_uring_enter` with only
//! `to_submit`: no wait, no completions reaped), as fio does at `iodepth_batch_submit=1`.
//!
//! Measured (BENCHMARKS.md, "Session 5: requests submitted at once"): 32 tasks' random 4 KiB
//! misses went from 0.73–0.87 × fio's QD32 IOPS to 0.94–1.00 × in an A/B of 4 rounds, and the p99 miss latency of a half-writing
//! workload with the background writer from ~1.9 × to ~1.4 × the read-only run's. The cost is
//! one `io_uring_enter` per request, which at queue depth 1 is lost in the device's latency.
//! `JDB_FS_SUBMIT=batched` in the environment turns it off (compio's own behaviour), so the two
//! can be compared in one run; it is read once per thread.
//!
//! This is sound alongside compio's own bookkeeping: the ring's submission head lives in memory
//! the kernel shares, and the `io-uring` crate computes how many entries it has to submit from
//! that head each time, so entries we submitted are simply not submitted again.

use std::{
    future::{Future, poll_fn},
    os::fd::AsRawFd,
    pin::pin,
};

/// Polls `fut`; the first time it is pending (its request just went onto the ring), submits.
pub(crate) async fn now<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut first = true;
    poll_fn(move |cx| {
        let poll = fut.as_mut().poll(cx);
        if poll.is_pending() && std::mem::take(&mut first) {
            enter();
        }
        poll
    })
    .await
}

/// Submits every queued entry of the current runtime's ring, without waiting.
fn enter() {
    thread_local!(static BATCHED: bool = std::env::var_os("JDB_FS_SUBMIT").is_some_and(|v| v == "batched"));
    if BATCHED.with(|b| *b) {
        return;
    }
    let Ok(Some(ring)) = compio::runtime::Runtime::try_with_current(|rt| {
        rt.driver_type().is_iouring().then(|| rt.as_raw_fd())
    }) else {
        return;
    };
    // SAFETY: io_uring_enter(2) on the runtime's own ring with no pointers passed (sig = NULL,
    // size 0): it only submits what the ring already holds, up to `to_submit`. A failure
    // (EAGAIN, EBUSY, EINTR) leaves the entries queued, and compio submits them at its next
    // wait, as it would without this call.
    unsafe {
        libc::syscall(
            libc::SYS_io_uring_enter,
            ring,
            u32::MAX >> 1,
            0u32,
            0u32,
            std::ptr::null::<libc::c_void>(),
            0usize,
        );
    }
}

#[cfg(test)]
mod tests {
    use std::task::Poll;

    use super::*;

    #[compio::test]
    async fn hands_back_what_the_future_gives_after_waiting() {
        let mut polls = 0;
        let out = now(poll_fn(|cx| {
            polls += 1;
            if polls < 3 {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(7)
            }
        }))
        .await;
        assert_eq!((out, polls), (7, 3));
    }

    #[test]
    fn enter_outside_a_runtime_does_nothing() {
        enter();
    }
}
