//! [`spawn_blocking`]: compio's blocking pool, with a timer that keeps the event loop polling.
//!
//! compio 0.17 hands a blocking call's result back through a queue and an eventfd whose
//! readiness an io_uring multishot poll reports, and its loop clears the eventfd after it has
//! drained the queue. Reading its driver, a call that finishes between the drain and the clear
//! leaves its result queued with no notification pending, and the loop then waits in
//! `io_uring_enter` with no timeout until some other completion or a signal wakes it. A CI run
//! here showed exactly that once: `one_writer_per_file`'s runtime sat in `io_uring_enter` with
//! no timeout and nothing in flight for 9 minutes, until a debugger's attach interrupted the
//! wait, and the test then passed (60 reruns did not hang again, so the cause is our reading,
//! not a reproduction). The loop drains that queue every time it wakes, so a timer pending
//! while the call runs bounds any such wait to [`WATCH`]. Only the open sequence and
//! `set_len`/`fallocate` use the pool: a timer each costs nothing that matters.

use std::{
    future::{Future, poll_fn},
    pin::pin,
    task::Poll,
    time::Duration,
};

/// Longest the event loop sleeps while a blocking call runs.
const WATCH: Duration = Duration::from_millis(10);

/// Runs `f` on compio's blocking pool; `Err` holds the panic of `f`.
pub(crate) async fn spawn_blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::Result<T> {
    let mut task = pin!(compio::runtime::spawn_blocking(f));
    loop {
        let mut tick = pin!(compio::time::sleep(WATCH));
        let done = poll_fn(|cx| {
            if let Poll::Ready(res) = task.as_mut().poll(cx) {
                return Poll::Ready(Some(res));
            }
            tick.as_mut().poll(cx).map(|()| None)
        })
        .await;
        if let Some(res) = done {
            return res;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[compio::test]
    async fn returns_the_result_and_the_panic() {
        assert_eq!(spawn_blocking(|| 7).await.unwrap(), 7);
        let slow = spawn_blocking(|| {
            std::thread::sleep(3 * WATCH);
            "slow"
        });
        assert_eq!(slow.await.unwrap(), "slow");
        assert!(spawn_blocking(|| panic!("in the pool")).await.is_err());
    }

    #[compio::test]
    async fn many_calls_finishing_together_all_return() {
        for _ in 0..50 {
            let calls: Vec<_> = (0..8u64).map(|i| spawn_blocking(move || i * 2)).collect();
            let mut sum = 0;
            for call in calls {
                sum += call.await.unwrap();
            }
            assert_eq!(sum, 56);
        }
    }
}
