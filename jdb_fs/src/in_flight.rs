//! The process-wide registry of open files and their I/O still in the kernel, per inode, and of
//! the files it let go of a moment ago.
//!
//! A [`File`](crate::File) holds a [`Handle`]; every read and write it submits wraps its buffer
//! in a [`Tracked`] that counts as "in flight" until compio hands the buffer back or, for an
//! operation whose future was dropped, drops it after the kernel has completed the request
//! (compio keeps a cancelled operation's buffer until then). Both hold an `Arc` of the inode's
//! [`Entry`], so the entry lives exactly as long as something of this process may still use the
//! file. [`crate::lock`] reads it when the file's lock is refused, to tell "a dropped handle of
//! ours is draining, wait" from "somebody else has it open, fail now".
//!
//! When an entry goes (this process no longer uses the file: its descriptors are closed), the
//! instant is remembered for [`FORK_WAIT`], so that the lock can tell "we let go of it a moment
//! ago, a child between fork and exec may still hold a copy" from "somebody else has it". Older
//! instants are forgotten at the next release, so the memory is bounded by the files released
//! within the last [`FORK_WAIT`].

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex, PoisonError, Weak,
        atomic::{AtomicUsize, Ordering::SeqCst},
    },
    time::Instant,
};

use compio_buf::{IoBuf, IoBufMut, IoBuffer, IoVectoredBuf, IoVectoredBufMut, SetBufInit};

use crate::lock::FORK_WAIT;

/// A file's identity: `(st_dev, st_ino)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Inode {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
}

/// What this process has on one inode.
#[derive(Debug)]
struct Entry {
    /// The inode, to remember its release when the entry goes.
    inode: Inode,
    /// Live [`File`](crate::File) handles.
    handles: AtomicUsize,
    /// Reads and writes submitted and not yet handed back or dropped by compio.
    io: AtomicUsize,
}

/// Entries by inode. An entry is removed (its `Weak` dies) when the last handle and the last
/// in-flight buffer are gone; dead ones are pruned on the next registration.
static REGISTRY: Mutex<BTreeMap<Inode, Weak<Entry>>> = Mutex::new(BTreeMap::new());

fn registry() -> std::sync::MutexGuard<'static, BTreeMap<Inode, Weak<Entry>>> {
    // The map is consistent after any panic (one insert or retain at a time).
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// When this process last stopped using each inode (its entry went), for the last
/// [`FORK_WAIT`] or so. A separate lock from [`REGISTRY`]: an entry may be dropped by a thread
/// that has just let go of the registry, never by one that holds this map.
static RELEASED: Mutex<BTreeMap<Inode, Instant>> = Mutex::new(BTreeMap::new());

fn released() -> std::sync::MutexGuard<'static, BTreeMap<Inode, Instant>> {
    // The map is consistent after any panic (one insert or retain at a time).
    RELEASED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Remembers that this process stopped using `inode` at `at`, and forgets the releases older
/// than [`FORK_WAIT`] (nothing waits on those any more).
pub(crate) fn record_release(inode: Inode, at: Instant) {
    let mut map = released();
    map.retain(|_, then| at.saturating_duration_since(*then) < FORK_WAIT);
    map.insert(inode, at);
}

/// When this process last stopped using `inode`, if it still remembers (see [`RELEASED`]).
pub(crate) fn released_at(inode: Inode) -> Option<Instant> {
    released().get(&inode).copied()
}

/// What this process has on an inode, for the lock's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Live `File` handles.
    pub(crate) handles: usize,
    /// Reads and writes still in flight.
    pub(crate) io: usize,
}

/// This process's use of `inode`, `None` when it has no handle and no I/O on it.
pub(crate) fn usage(inode: Inode) -> Option<Usage> {
    let entry = registry().get(&inode).and_then(Weak::upgrade)?;
    Some(Usage {
        handles: entry.handles.load(SeqCst),
        io: entry.io.load(SeqCst),
    })
}

/// Registers a new live handle on `inode` (called once its lock is held).
pub(crate) fn register(inode: Inode) -> Handle {
    let mut map = registry();
    let entry = match map.get(&inode).and_then(Weak::upgrade) {
        Some(entry) => entry,
        None => {
            map.retain(|_, entry| entry.strong_count() > 0);
            let entry = Arc::new(Entry {
                inode,
                handles: AtomicUsize::new(0),
                io: AtomicUsize::new(0),
            });
            map.insert(inode, Arc::downgrade(&entry));
            entry
        }
    };
    entry.handles.fetch_add(1, SeqCst);
    Handle { entry }
}

impl Drop for Entry {
    /// The last handle and the last request of this process on the file are gone, and with them
    /// its descriptors (a `File` closes its descriptor before dropping its handle; compio drops
    /// an operation's descriptor before its buffer): the lock is released, unless a child
    /// between fork and exec holds a copy.
    fn drop(&mut self) {
        record_release(self.inode, Instant::now());
    }
}

/// A live `File`'s place in the registry; dropping it ends the handle (in-flight I/O it started
/// keeps the entry alive on its own).
#[derive(Debug)]
pub(crate) struct Handle {
    entry: Arc<Entry>,
}

impl Handle {
    /// Wraps `buf` so that it counts as in flight until it is dropped or unwrapped.
    pub(crate) fn track<B>(&self, buf: B) -> Tracked<B> {
        Tracked {
            buf,
            _in_flight: self.in_flight(),
        }
    }

    /// A token counted as in-flight I/O while it lives.
    pub(crate) fn in_flight(&self) -> InFlight {
        self.entry.io.fetch_add(1, SeqCst);
        InFlight {
            entry: self.entry.clone(),
        }
    }

    /// Reads and writes of this process on the file still in flight (of any handle).
    #[cfg(test)]
    pub(crate) fn io_in_flight(&self) -> usize {
        self.entry.io.load(SeqCst)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.entry.handles.fetch_sub(1, SeqCst);
    }
}

/// One operation in flight on an inode; see the module docs.
#[derive(Debug)]
pub(crate) struct InFlight {
    entry: Arc<Entry>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.entry.io.fetch_sub(1, SeqCst);
    }
}

/// A buffer submitted to the kernel, counted in flight while compio holds it. Every buffer
/// trait is forwarded to the wrapped buffer; the token does not touch its memory.
#[derive(Debug)]
pub(crate) struct Tracked<B> {
    buf: B,
    _in_flight: InFlight,
}

impl<B> Tracked<B> {
    /// The buffer; the operation is no longer counted.
    pub(crate) fn into_inner(self) -> B {
        self.buf
    }
}

// SAFETY: every method forwards to `B`, whose `IoBuf` implementation guarantees that pointer,
// length and capacity describe valid memory; `Tracked` owns `B`, so that memory lives as long.
unsafe impl<B: IoBuf> IoBuf for Tracked<B> {
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

impl<B: SetBufInit> SetBufInit for Tracked<B> {
    unsafe fn set_buf_init(&mut self, len: usize) {
        // SAFETY: the caller upholds `set_buf_init`'s contract for this buffer, which is `B`'s.
        unsafe { self.buf.set_buf_init(len) }
    }
}

// SAFETY: forwards to `B`'s `IoBufMut`, which guarantees a pointer valid for writes of
// `buf_capacity()` bytes; `Tracked` owns `B`.
unsafe impl<B: IoBufMut> IoBufMut for Tracked<B> {
    fn as_buf_mut_ptr(&mut self) -> *mut u8 {
        self.buf.as_buf_mut_ptr()
    }
}

impl<V: IoVectoredBuf> IoVectoredBuf for Tracked<V> {
    unsafe fn iter_io_buffer(&self) -> impl Iterator<Item = IoBuffer> {
        // SAFETY: the caller keeps the buffers from outliving `self`, which owns `V`, as
        // `V::iter_io_buffer` requires.
        unsafe { self.buf.iter_io_buffer() }
    }
}

impl<V: IoVectoredBufMut> IoVectoredBufMut for Tracked<V> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn inode(ino: u64) -> Inode {
        // A device number no real filesystem has, so the tests never meet a real file's entry.
        Inode { dev: u64::MAX, ino }
    }

    #[test]
    fn an_entry_lives_while_a_handle_or_a_buffer_does() {
        let ino = inode(1);
        assert_eq!(usage(ino), None);
        let handle = register(ino);
        assert_eq!(usage(ino), Some(Usage { handles: 1, io: 0 }));
        let tracked = handle.track(vec![1u8, 2, 3]);
        assert_eq!(tracked.buf_len(), 3);
        assert_eq!(usage(ino), Some(Usage { handles: 1, io: 1 }));
        drop(handle);
        assert_eq!(usage(ino), Some(Usage { handles: 0, io: 1 }), "draining");
        assert_eq!(tracked.into_inner(), vec![1, 2, 3]);
        assert_eq!(usage(ino), None, "gone with the last buffer");
    }

    #[test]
    fn handles_of_one_inode_share_an_entry() {
        let ino = inode(2);
        let a = register(ino);
        let b = register(ino);
        let token = a.in_flight();
        assert_eq!(b.io_in_flight(), 1);
        assert_eq!(usage(ino), Some(Usage { handles: 2, io: 1 }));
        drop((a, token));
        assert_eq!(usage(ino), Some(Usage { handles: 1, io: 0 }));
        drop(b);
        assert_eq!(usage(ino), None);
        assert_eq!(usage(inode(3)), None, "other inodes are separate");
    }

    #[test]
    fn the_release_of_an_entry_is_remembered_until_the_fork_wait_is_over() {
        let (ino, other) = (inode(5), inode(6));
        let before = Instant::now();
        let handle = register(ino);
        let token = handle.in_flight();
        drop(handle);
        assert_eq!(released_at(ino), None, "a request is still in flight");
        drop(token);
        let at = released_at(ino).expect("the release is remembered");
        assert!(at >= before && at <= Instant::now());

        // A release older than the wait is forgotten at the next one.
        let long_ago = before
            .checked_sub(2 * FORK_WAIT)
            .expect("monotonic clock too young");
        record_release(ino, long_ago);
        assert_eq!(released_at(ino), Some(long_ago));
        drop(register(other));
        assert_eq!(released_at(ino), None);
        assert!(released_at(other).is_some());
    }

    #[test]
    fn a_tracked_vector_forwards_its_buffers() {
        let handle = register(inode(4));
        let bufs = handle.track(vec![vec![7u8; 8], vec![0u8; 4]]);
        assert_eq!(bufs.total_len(), 12);
        assert_eq!(bufs.iter_slice().next(), Some(&[7u8; 8][..]));
        assert_eq!(handle.io_in_flight(), 1);
        drop(bufs);
        assert_eq!(handle.io_in_flight(), 0);
    }
}
