//! Per-page shared/exclusive locks for the baselines' tasks, the few lines a user of a plain cache
//! or of the OS page cache needs once several tasks share it: a reader must not see a page half
//! written, and two read-modify-writes of one page must not lose one of the changes.
//!
//! Single-threaded (`RefCell`, wakers), not fair: a shared lock is granted while no task holds the
//! page exclusively, an exclusive one while nobody holds it. Every release wakes all the page's
//! waiters, which try again. A waiter whose future is dropped leaves only a stale waker behind.

use std::{
    cell::RefCell,
    collections::HashMap,
    future::poll_fn,
    task::{Poll, Waker},
};

use jdb_layout::PageId;

/// The locks of one file's pages; a page with no holder and no waiter has no entry.
#[derive(Default)]
pub struct PageLocks {
    pages: RefCell<HashMap<PageId, Entry>>,
}

#[derive(Default)]
struct Entry {
    readers: u32,
    writer: bool,
    waiters: Vec<Waker>,
}

/// A held lock, released on drop.
#[must_use = "the lock is released when this guard is dropped"]
pub struct PageLock<'a> {
    locks: &'a PageLocks,
    id: PageId,
    exclusive: bool,
}

impl PageLocks {
    /// Waits until no task holds page `id` exclusively, then holds it shared.
    pub async fn shared(&self, id: PageId) -> PageLock<'_> {
        self.lock(id, false).await
    }

    /// Waits until no task holds page `id`, then holds it exclusively.
    pub async fn exclusive(&self, id: PageId) -> PageLock<'_> {
        self.lock(id, true).await
    }

    async fn lock(&self, id: PageId, exclusive: bool) -> PageLock<'_> {
        poll_fn(|cx| {
            let mut pages = self.pages.borrow_mut();
            let entry = pages.entry(id).or_default();
            let free = !entry.writer && (!exclusive || entry.readers == 0);
            if free {
                if exclusive {
                    entry.writer = true;
                } else {
                    entry.readers += 1;
                }
                Poll::Ready(())
            } else {
                entry.waiters.push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
        PageLock {
            locks: self,
            id,
            exclusive,
        }
    }

    /// Pages with an entry (held or waited for); 0 once every task let go.
    #[cfg(test)]
    fn entries(&self) -> usize {
        self.pages.borrow().len()
    }
}

impl Drop for PageLock<'_> {
    fn drop(&mut self) {
        let mut pages = self.locks.pages.borrow_mut();
        let Some(entry) = pages.get_mut(&self.id) else {
            return;
        };
        if self.exclusive {
            entry.writer = false;
        } else {
            entry.readers -= 1;
        }
        let waiters = std::mem::take(&mut entry.waiters);
        if entry.readers == 0 && !entry.writer {
            pages.remove(&self.id);
        }
        drop(pages);
        for waker in waiters {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{cell::Cell, rc::Rc};

    use super::*;

    #[test]
    fn readers_share_a_writer_waits_and_everyone_gets_in() {
        compio::runtime::Runtime::new().unwrap().block_on(async {
            let locks = Rc::new(PageLocks::default());
            let order = Rc::new(RefCell::new(Vec::new()));
            let a = locks.shared(7).await;
            let b = locks.shared(7).await;
            let writer = compio::runtime::spawn({
                let (locks, order) = (Rc::clone(&locks), Rc::clone(&order));
                async move {
                    let _w = locks.exclusive(7).await;
                    order.borrow_mut().push("writer");
                }
            });
            let other_page = locks.exclusive(8).await;
            compio::runtime::time::sleep(std::time::Duration::from_millis(5)).await;
            assert!(
                order.borrow().is_empty(),
                "the writer waits for both readers"
            );
            drop(a);
            compio::runtime::time::sleep(std::time::Duration::from_millis(5)).await;
            assert!(order.borrow().is_empty(), "and for the second");
            order.borrow_mut().push("reader done");
            drop(b);
            writer.await.unwrap();
            assert_eq!(*order.borrow(), ["reader done", "writer"]);
            drop(other_page);
            assert_eq!(locks.entries(), 0, "no entry left behind");
        });
    }

    #[test]
    fn a_dropped_waiter_leaves_the_lock_usable() {
        compio::runtime::Runtime::new().unwrap().block_on(async {
            let locks = Rc::new(PageLocks::default());
            let held = locks.exclusive(1).await;
            let got = Rc::new(Cell::new(false));
            let waiter = compio::runtime::spawn({
                let (locks, got) = (Rc::clone(&locks), Rc::clone(&got));
                async move {
                    let _l = locks.shared(1).await;
                    got.set(true);
                }
            });
            compio::runtime::time::sleep(std::time::Duration::from_millis(2)).await;
            drop(waiter); // cancels the task while it waits
            drop(held);
            assert!(!got.get());
            let _again = locks.exclusive(1).await;
            assert_eq!(locks.entries(), 1);
        });
    }
}
