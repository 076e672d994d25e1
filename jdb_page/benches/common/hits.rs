//! The rows of the hit-path comparison (issue #13), shared by `benches/hit_path.rs` (criterion)
//! and `examples/hit_profile.rs` (callgrind, interleaved timing), so both run the same code.
//!
//! Every row replays one of the repo traces (`bench/traces/zipf.trace`, `uniform.trace`: 20 000
//! ids below [`PAGES`]) over a structure holding all [`PAGES`] pages, and for each id reads the
//! byte at offset [`BYTE`] of its page (the pool's first payload byte, `data()[0]`) into a sum
//! returned at the end, so no lookup can be optimised away; the loop, the read and the sum are
//! the same in every row.
//!
//! - `get_<policy>` / `read_<policy>`: `BufferPool::get` / `read` of a resident page and the
//!   guard's drop, one pool per policy ([`PolicyKind::ALL`]), every page asked for once before
//!   (so none is in the cold queue). The pool runs on `testing::MemDisk`: a hit does no I/O and
//!   its code does not depend on the storage.
//! - `hashmap`: a bare `HashMap<u32, Box<[u8; 4096]>>` lookup (no recency: the limit);
//! - `hashmap_aligned`: the same with 4096-aligned boxes, as the pool's frames were before session 8
//!   (the byte read is then at the same offset of every 4 KiB block, which maps all of them to a
//!   few cache sets; malloc's 4 KiB boxes are 4 112 bytes apart and do not alias);
//! - `hashmap_huge`: the same map, its values pointing into one `jdb_alloc::MappedRegion` (the
//!   pool's arena memory: 2 MiB-aligned, transparent huge pages), its pages as far apart as
//!   malloc's boxes are in `hashmap` (4 112 bytes; the pool's are 4 104, also not aliasing), so
//!   that it differs from `hashmap` by its pages' memory only and has the pool's TLB advantage;
//! - `lru_crate`: `lru::LruCache::get` (moves the entry to the front);
//! - `schnellru`: `schnellru::LruMap::get` with a `ByLength` limiter (moves it too).
//!
//! The four maps use the same hasher, `rustc_hash::FxBuildHasher`, so they differ by structure
//! only. The pool does not hash: its page table is an array indexed by page id.

use std::{collections::HashMap, hint::black_box, num::NonZeroUsize, path::Path};

use jdb_page::{
    BufferPool, PolicyKind, PoolOptions, Storage,
    testing::{MemDisk, MemStorage},
};
use rustc_hash::FxBuildHasher;

/// Pages of the traces (every id is below this), pages in every structure, frames in the pool.
pub const PAGES: u32 = 3000;
/// The byte each lookup reads: the pool's `data()[0]` (after the 32-byte header).
pub const BYTE: usize = 32;

/// The traces, by name.
pub const TRACES: [&str; 2] = ["zipf", "uniform"];

/// `bench/traces/{name}.trace`: one page id a line, `#` comments.
pub fn read_trace(name: &str) -> Vec<u32> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../bench/traces/{name}.trace"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let ids: Vec<u32> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            l.trim()
                .parse()
                .unwrap_or_else(|e| panic!("{path:?}: {l:?}: {e}"))
        })
        .collect();
    assert!(ids.iter().all(|&id| id < PAGES), "{name}: an id >= {PAGES}");
    ids
}

/// An in-memory jdb file of `pages` valid, synced pages.
pub async fn make_disk(pages: u32) -> MemDisk {
    let disk = MemDisk::new();
    let pool = BufferPool::open(disk.storage(), jdb_page::MAX_RUN)
        .await
        .expect("pool");
    let mut made = 0;
    while made < pages {
        let n = (pages - made).min(jdb_page::MAX_RUN as u32);
        pool.alloc_group(n as usize).await.expect("alloc");
        made += n;
        pool.flush_all().await.expect("flush");
    }
    pool.close().await.expect("close");
    disk
}

/// A pool of `PAGES` frames with policy `kind` over `disk`, every page read (a miss, inserted
/// hot) and then asked for once more (a hit), the counters reset: all resident, none cold.
pub async fn resident_pool(disk: &MemDisk, kind: PolicyKind) -> BufferPool<MemStorage> {
    let options = PoolOptions::new(PAGES as usize).policy(kind);
    let pool = BufferPool::open_with(disk.storage(), options)
        .await
        .expect("pool");
    for _ in 0..2 {
        for id in 0..PAGES {
            black_box(pool.get(id).await.expect("get").data()[0]);
        }
    }
    assert_eq!(pool.len(), PAGES as usize, "{kind}: every page resident");
    pool.reset_stats();
    pool
}

/// One pass of `get` + guard drop over `trace`.
#[inline]
pub async fn pool_get_pass<S: Storage>(pool: &BufferPool<S>, trace: &[u32]) -> u64 {
    let mut sum = 0u64;
    for &id in trace {
        let page = pool.get(id).await.expect("hit");
        sum = sum.wrapping_add(u64::from(page.data()[0]));
    }
    sum
}

/// One pass of `try_get` + guard drop over `trace`: the hit without a future.
#[inline]
pub fn pool_try_get_pass<S: Storage>(pool: &BufferPool<S>, trace: &[u32]) -> u64 {
    let mut sum = 0u64;
    for &id in trace {
        let page = pool.try_get(id).expect("hit");
        sum = sum.wrapping_add(u64::from(page.data()[0]));
    }
    sum
}

/// One pass of `read` + guard drop over `trace`.
#[inline]
pub async fn pool_read_pass<S: Storage>(pool: &BufferPool<S>, trace: &[u32]) -> u64 {
    let mut sum = 0u64;
    for &id in trace {
        let page = pool.read(id).await.expect("hit");
        sum = sum.wrapping_add(u64::from(page.data()[0]));
    }
    sum
}

/// A 4 KiB frame.
pub type Frame = Box<[u8; 4096]>;

/// A 4096-aligned 4 KiB frame (the pool's frames were 4096 bytes apart until session 8).
#[repr(C, align(4096))]
pub struct AlignedFrame(pub [u8; 4096]);

/// The baselines, each holding pages `0..PAGES` (page `id` filled with `id as u8`).
pub struct Baselines {
    pub hashmap: HashMap<u32, Frame, FxBuildHasher>,
    pub huge: HugeFrames,
    pub aligned: HashMap<u32, Box<AlignedFrame>, FxBuildHasher>,
    pub lru: lru::LruCache<u32, Frame, FxBuildHasher>,
    pub schnellru: schnellru::LruMap<u32, Frame, schnellru::ByLength, FxBuildHasher>,
}

impl Baselines {
    pub fn new() -> Self {
        let frame = |id: u32| Box::new([id as u8; 4096]);
        let cap = NonZeroUsize::new(PAGES as usize).expect("pages > 0");
        let mut b = Self {
            hashmap: HashMap::with_capacity_and_hasher(PAGES as usize, FxBuildHasher),
            huge: HugeFrames::new(),
            aligned: HashMap::with_capacity_and_hasher(PAGES as usize, FxBuildHasher),
            lru: lru::LruCache::with_hasher(cap, FxBuildHasher),
            schnellru: schnellru::LruMap::with_hasher(
                schnellru::ByLength::new(PAGES),
                FxBuildHasher,
            ),
        };
        // Each structure's pages allocated together, in id order (as the pool's frames are).
        for id in 0..PAGES {
            b.hashmap.insert(id, frame(id));
        }
        for id in 0..PAGES {
            b.aligned
                .insert(id, Box::new(AlignedFrame([id as u8; 4096])));
        }
        for id in 0..PAGES {
            b.lru.put(id, frame(id));
        }
        for id in 0..PAGES {
            b.schnellru.insert(id, frame(id));
        }
        b
    }
}

/// One pass of bare `HashMap::get` over `trace`.
#[inline]
pub fn hashmap_pass(map: &HashMap<u32, Frame, FxBuildHasher>, trace: &[u32]) -> u64 {
    let mut sum = 0u64;
    for id in trace {
        let frame = map.get(id).expect("resident");
        sum = sum.wrapping_add(u64::from(frame[BYTE]));
    }
    sum
}

/// One pass of `HashMap::get` over `trace`, each lookup awaited as a ready future.
#[inline]
pub async fn hashmap_await_pass(map: &HashMap<u32, Frame, FxBuildHasher>, trace: &[u32]) -> u64 {
    let mut sum = 0u64;
    for id in trace {
        let frame = std::future::ready(map.get(id)).await.expect("resident");
        sum = sum.wrapping_add(u64::from(frame[BYTE]));
    }
    sum
}

/// Pages `0..PAGES` in one huge-page region, 4112 bytes apart (as malloc's 4 KiB boxes are in
/// `hashmap`), and a map from id to each page's address.
pub struct HugeFrames {
    pub map: HashMap<u32, HugePage, FxBuildHasher>,
    /// Owns the memory the map's values point into.
    _region: jdb_alloc::MappedRegion,
}

/// A page's address in [`HugeFrames`]' region.
#[derive(Clone, Copy)]
pub struct HugePage(std::ptr::NonNull<u8>);

/// Bytes between the pages of [`HugeFrames`] (malloc's spacing of `hashmap`'s boxes).
const HUGE_STRIDE: usize = 4112;

impl HugeFrames {
    fn new() -> Self {
        let region =
            jdb_alloc::MappedRegion::zeroed(PAGES as usize * HUGE_STRIDE, true).expect("region");
        let mut map = HashMap::with_capacity_and_hasher(PAGES as usize, FxBuildHasher);
        for id in 0..PAGES {
            // SAFETY: `id × HUGE_STRIDE + 4096 <= PAGES × HUGE_STRIDE <= len`: inside the region,
            // which the struct keeps alive; only this loop writes it.
            let page = unsafe { region.as_ptr().add(id as usize * HUGE_STRIDE) };
            // SAFETY: as above: 4096 bytes of the region from `page`, written by nothing else.
            unsafe { std::ptr::write_bytes(page.as_ptr(), id as u8, 4096) };
            map.insert(id, HugePage(page));
        }
        Self {
            map,
            _region: region,
        }
    }
}

/// One pass of `HashMap::get` of pages in a huge-page region over `trace`.
#[inline]
pub fn huge_pass(frames: &HugeFrames, trace: &[u32]) -> u64 {
    let mut sum = 0u64;
    for id in trace {
        let page = frames.map.get(id).expect("resident");
        // SAFETY: `page` points at 4096 initialised bytes of the region `frames` owns.
        let byte = unsafe { page.0.as_ptr().add(BYTE).read() };
        sum = sum.wrapping_add(u64::from(byte));
    }
    sum
}

/// One pass of `HashMap::get` of 4096-aligned frames over `trace`.
#[inline]
pub fn aligned_pass(map: &HashMap<u32, Box<AlignedFrame>, FxBuildHasher>, trace: &[u32]) -> u64 {
    let mut sum = 0u64;
    for id in trace {
        let frame = map.get(id).expect("resident");
        sum = sum.wrapping_add(u64::from(frame.0[BYTE]));
    }
    sum
}

/// One pass of `lru::LruCache::get` over `trace`.
#[inline]
pub fn lru_pass(cache: &mut lru::LruCache<u32, Frame, FxBuildHasher>, trace: &[u32]) -> u64 {
    let mut sum = 0u64;
    for id in trace {
        let frame = cache.get(id).expect("resident");
        sum = sum.wrapping_add(u64::from(frame[BYTE]));
    }
    sum
}

/// One pass of `schnellru::LruMap::get` over `trace`.
#[inline]
pub fn schnellru_pass(
    map: &mut schnellru::LruMap<u32, Frame, schnellru::ByLength, FxBuildHasher>,
    trace: &[u32],
) -> u64 {
    let mut sum = 0u64;
    for id in trace {
        let frame = map.get(id).expect("resident");
        sum = sum.wrapping_add(u64::from(frame[BYTE]));
    }
    sum
}
