//! The eviction policies of `src/policy/` on their own, for the `policy_ops` benchmark: each
//! wrapper forwards to the struct the pool holds (one direct call, no dispatch), through the
//! [`EvictionPolicy`] trait so a benchmark can be generic over them. Not part of the API.

use jdb_layout::PageId;

use crate::policy::{self, Policy};

/// A policy over the frames `0..cap` of a pool, as the pool drives it (see `src/policy/mod.rs`
/// for what each call means).
#[doc(hidden)]
pub trait EvictionPolicy {
    /// The policy's name ([`crate::PolicyKind::name`]).
    const NAME: &'static str;
    /// An empty policy for frames `0..cap` (1 <= cap < u32::MAX).
    fn new(cap: usize) -> Self;
    /// `frame` (not in the policy) now holds page `page`; `cold`: a scan or prefetch brought it.
    fn insert(&mut self, frame: u32, page: PageId, cold: bool);
    /// The page in `frame` was asked for again.
    fn hit(&mut self, frame: u32);
    /// The frame became busy (latched, waited for or pinned).
    fn pin(&mut self, frame: u32);
    /// The frame is no longer busy.
    fn unpin(&mut self, frame: u32);
    /// The victim, removed from the policy; `None` when every frame is pinned or none is in.
    fn evict(&mut self) -> Option<u32>;
    /// Removes `frame` without evicting it.
    fn remove(&mut self, frame: u32);
    /// Heap bytes of bookkeeping.
    fn heap_bytes(&self) -> usize;
}

macro_rules! wrap {
    ($(#[$doc:meta])* $name:ident, $inner:ty, $label:literal) => {
        $(#[$doc])*
        #[doc(hidden)]
        #[derive(Debug, Clone)]
        pub struct $name($inner);

        impl EvictionPolicy for $name {
            const NAME: &'static str = $label;

            fn new(cap: usize) -> Self {
                Self(<$inner as Policy>::new(cap))
            }

            #[inline]
            fn insert(&mut self, frame: u32, page: PageId, cold: bool) {
                self.0.insert(frame, page, cold);
            }

            #[inline]
            fn hit(&mut self, frame: u32) {
                self.0.hit(frame);
            }

            #[inline]
            fn pin(&mut self, frame: u32) {
                self.0.pin(frame);
            }

            #[inline]
            fn unpin(&mut self, frame: u32) {
                self.0.unpin(frame);
            }

            #[inline]
            fn evict(&mut self) -> Option<u32> {
                self.0.evict(&mut |_| false)
            }

            #[inline]
            fn remove(&mut self, frame: u32) {
                self.0.remove(frame);
            }

            fn heap_bytes(&self) -> usize {
                self.0.heap_bytes()
            }
        }
    };
}

wrap!(
    /// Exact LRU (`src/policy/lru.rs`).
    LruPolicy,
    policy::Lru,
    "lru"
);
wrap!(
    /// Clock (`src/policy/clock.rs`).
    ClockPolicy,
    policy::Clock,
    "clock"
);
wrap!(
    /// SIEVE (`src/policy/sieve.rs`).
    SievePolicy,
    policy::Sieve,
    "sieve"
);
wrap!(
    /// S3-FIFO (`src/policy/s3fifo.rs`).
    S3FifoPolicy,
    policy::S3Fifo,
    "s3fifo"
);
