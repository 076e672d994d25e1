//! The hit path in isolation, for profilers: `N` = 1 Mi lookups on the same seeded Zipf (θ = 0.99)
//! trace over 16 384 resident pages, each reading 8 bytes of the page, one variant per run, each
//! in its own `#[inline(never)]` function so a profiler can count it alone:
//!
//! - `pool`: `BufferPool::get` (pages allocated in memory with `alloc`: no I/O, runs under
//!   valgrind);
//! - `bare`, `aligned`: a `HashMap<u32, Box<[u8; 4096]>>` (4096-aligned boxes for `aligned`);
//! - `lru`, `schnellru`: `lru::LruCache::get`, `schnellru::LruMap::get`;
//! - `steps00` .. `steps11`: the pool's structures rebuilt step by step (id -> frame map, then
//!   `steps1x` adds the 32-byte page records, `stepsx1` the `LruList` touch);
//! - `colocated`: like `steps11` but with the LRU links inside the 32-byte page record;
//! - `both` (default): all of them, printing ns/op (noisy; see the callgrind counts instead).
//!
//! A second argument `uniform` uses a uniform trace instead of the Zipf one.
//!
//! ```sh
//! cargo build --release -p jdb_page --example hit_profile
//! valgrind --tool=callgrind --cache-sim=yes --D1=32768,8,64 --LL=524288,8,64 \
//!     --toggle-collect='*pool_hits*' target/release/examples/hit_profile pool
//! ```
//!
//! Per op = the collected `Ir` (instructions), `D1mr`/`DLmr` (simulated L1/L2 read misses) ÷ `N`;
//! the `--toggle-collect` pattern is `*{variant}_hits*` (`*steps_hits*` for the steps).

#[path = "../benches/common/mod.rs"]
mod common;

use std::{collections::HashMap, hint::black_box, time::Instant};

use jdb_fs::File;
use jdb_page::BufferPool;
use rustc_hash::FxBuildHasher;

const CAP: u32 = 16_384;
const N: usize = 1 << 20;

#[inline(never)]
fn pool_hits(rt: &compio::runtime::Runtime, pool: &mut BufferPool, trace: &[u32]) -> u64 {
    rt.block_on(async {
        let mut sum = 0u64;
        for &id in trace {
            let page = pool.get(id).await.expect("hit");
            sum = sum.wrapping_add(u64::from_le_bytes(
                page.data()[..8].try_into().expect("8 bytes"),
            ));
        }
        sum
    })
}

#[inline(never)]
fn bare_hits(map: &HashMap<u32, Box<[u8; 4096]>, FxBuildHasher>, trace: &[u32]) -> u64 {
    let mut sum = 0u64;
    for id in trace {
        let frame = map.get(id).expect("resident");
        sum = sum.wrapping_add(u64::from_le_bytes(
            frame[32..40].try_into().expect("8 bytes"),
        ));
    }
    sum
}

/// A page-aligned 4 KiB frame, as Direct I/O needs (the pool's arena frames are aligned too).
#[repr(C, align(4096))]
struct AlignedFrame([u8; 4096]);

#[inline(never)]
fn aligned_hits(map: &HashMap<u32, Box<AlignedFrame>, FxBuildHasher>, trace: &[u32]) -> u64 {
    let mut sum = 0u64;
    for id in trace {
        let frame = map.get(id).expect("resident");
        sum = sum.wrapping_add(u64::from_le_bytes(
            frame.0[32..40].try_into().expect("8 bytes"),
        ));
    }
    sum
}

/// The pool's structures rebuilt step by step: id -> frame map, optional 32-byte page records
/// holding the frame pointer, optional LRU touch, then 8 bytes at offset 32 of the frame.
struct Steps {
    table: HashMap<u32, u32, FxBuildHasher>,
    records: Vec<[usize; 4]>,
    lru: jdb_page::LruList,
    arena: jdb_fs::AlignedBuf,
}

#[inline(never)]
fn steps_hits(s: &mut Steps, trace: &[u32], records: bool, lru: bool) -> u64 {
    let mut sum = 0u64;
    let base = s.arena.as_ptr() as usize;
    for id in trace {
        let frame = *s.table.get(id).expect("resident");
        let addr = if records {
            s.records[frame as usize][0]
        } else {
            base + frame as usize * 4096
        };
        if lru {
            s.lru.touch(frame);
        }
        let offset = addr - base + 32;
        sum = sum.wrapping_add(u64::from_le_bytes(
            s.arena[offset..offset + 8].try_into().expect("8 bytes"),
        ));
    }
    sum
}

type Frame = Box<[u8; 4096]>;

/// A 32-byte page record that also holds the frame's LRU links (the layout a pool could use so a
/// hit touches one record line instead of a record line plus a link line).
#[derive(Clone, Copy)]
struct Record {
    ptr: usize,
    id: u32,
    pin: u32,
    prev: u32,
    next: u32,
    state: u8,
}

const NIL: u32 = u32::MAX;

/// Records with in-record links, plus the list's head and tail: `touch` as `LruList::touch`.
struct Colocated {
    table: HashMap<u32, u32, FxBuildHasher>,
    records: Vec<Record>,
    head: u32,
    tail: u32,
    arena: jdb_fs::AlignedBuf,
}

impl Colocated {
    #[inline]
    fn touch(&mut self, frame: u32) {
        let head = self.head;
        if head == frame {
            return;
        }
        let Record { prev, next, .. } = self.records[frame as usize];
        if prev != NIL {
            self.records[prev as usize].next = next;
            if next != NIL {
                self.records[next as usize].prev = prev;
            } else {
                self.tail = prev;
            }
        }
        let rec = &mut self.records[frame as usize];
        rec.prev = NIL;
        rec.next = head;
        if head != NIL {
            self.records[head as usize].prev = frame;
        } else {
            self.tail = frame;
        }
        self.head = frame;
    }
}

#[inline(never)]
fn colocated_hits(c: &mut Colocated, trace: &[u32]) -> u64 {
    let mut sum = 0u64;
    let base = c.arena.as_ptr() as usize;
    for id in trace {
        let frame = *c.table.get(id).expect("resident");
        c.touch(frame);
        let rec = &c.records[frame as usize];
        let offset = rec.ptr - base + 32;
        sum = sum.wrapping_add(u64::from_le_bytes(
            c.arena[offset..offset + 8].try_into().expect("8 bytes"),
        ));
    }
    sum
}

#[inline(never)]
fn lru_hits(cache: &mut lru::LruCache<u32, Frame, FxBuildHasher>, trace: &[u32]) -> u64 {
    let mut sum = 0u64;
    for id in trace {
        let frame = cache.get(id).expect("resident");
        sum = sum.wrapping_add(u64::from_le_bytes(
            frame[32..40].try_into().expect("8 bytes"),
        ));
    }
    sum
}

#[inline(never)]
fn schnellru_hits(
    map: &mut schnellru::LruMap<u32, Frame, schnellru::ByLength, FxBuildHasher>,
    trace: &[u32],
) -> u64 {
    let mut sum = 0u64;
    for id in trace {
        let frame = map.get(id).expect("resident");
        sum = sum.wrapping_add(u64::from_le_bytes(
            frame[32..40].try_into().expect("8 bytes"),
        ));
    }
    sum
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "both".into());
    let trace = match std::env::args().nth(2).as_deref() {
        Some("uniform") => common::uniform_trace(CAP, N, 2),
        _ => common::zipf_trace(CAP, N, 0.99, 1),
    };
    let path = common::data_dir().join("hit_profile.jdb");
    let rt = compio::runtime::Runtime::new().expect("runtime");
    if which == "pool" || which == "both" {
        let pool = rt.block_on(async {
            let mut pool =
                BufferPool::open(File::create(&path).await.expect("create"), CAP as usize)
                    .await
                    .expect("pool");
            for _ in 0..CAP {
                pool.alloc().await.expect("alloc");
            }
            pool
        });
        let start = Instant::now();
        let sum = black_box(pool_hits(&rt, &mut pool, &trace));
        let ns = start.elapsed().as_nanos() as f64 / N as f64;
        println!("pool: {N} hits, {ns:.1} ns/op (sum {sum})");
        // In-memory pages only: nothing to write.
        std::mem::forget(pool);
    }
    if which == "bare" || which == "both" {
        let map: HashMap<u32, Box<[u8; 4096]>, FxBuildHasher> = (0..CAP)
            .map(|id| (id, Box::new([id as u8; 4096])))
            .collect();
        let start = Instant::now();
        let sum = black_box(bare_hits(&map, &trace));
        let ns = start.elapsed().as_nanos() as f64 / N as f64;
        println!("bare: {N} lookups, {ns:.1} ns/op (sum {sum})");
    }
    if which == "aligned" || which == "both" {
        let map: HashMap<u32, Box<AlignedFrame>, FxBuildHasher> = (0..CAP)
            .map(|id| (id, Box::new(AlignedFrame([id as u8; 4096]))))
            .collect();
        let start = Instant::now();
        let sum = black_box(aligned_hits(&map, &trace));
        let ns = start.elapsed().as_nanos() as f64 / N as f64;
        println!("aligned: {N} lookups, {ns:.1} ns/op (sum {sum})");
    }
    if which.starts_with("steps") || which == "both" {
        let mut arena = jdb_fs::AlignedBuf::zeroed(CAP as usize * 4096).expect("arena");
        // Touch every frame, as the pool's `alloc` does: untouched zeroed memory would all map to
        // the kernel's one zero page and always hit the cache.
        for (i, b) in arena.iter_mut().enumerate() {
            *b = (i / 4096) as u8;
        }
        let base = arena.as_ptr() as usize;
        let mut steps = Steps {
            table: (0..CAP).map(|id| (id, id)).collect(),
            records: (0..CAP as usize)
                .map(|f| [base + f * 4096, 0, 0, 0])
                .collect(),
            lru: jdb_page::LruList::new(CAP as usize),
            arena,
        };
        for f in 0..CAP {
            steps.lru.push_front(f);
        }
        for (records, lru) in [(false, false), (true, false), (false, true), (true, true)] {
            let name = format!("steps{}{}", u8::from(records), u8::from(lru));
            if which != "both" && which != "steps" && which != name {
                continue;
            }
            let start = Instant::now();
            let sum = black_box(steps_hits(&mut steps, &trace, records, lru));
            let ns = start.elapsed().as_nanos() as f64 / N as f64;
            println!("steps records={records} lru={lru}: {ns:.1} ns/op (sum {sum})");
        }
    }
    if which == "lru" || which == "both" {
        let cap = std::num::NonZeroUsize::new(CAP as usize).expect("cap");
        let mut cache = lru::LruCache::with_hasher(cap, FxBuildHasher);
        for id in 0..CAP {
            cache.put(id, Box::new([id as u8; 4096]));
        }
        let start = Instant::now();
        let sum = black_box(lru_hits(&mut cache, &trace));
        let ns = start.elapsed().as_nanos() as f64 / N as f64;
        println!("lru: {N} gets, {ns:.1} ns/op (sum {sum})");
    }
    if which == "schnellru" || which == "both" {
        let mut map = schnellru::LruMap::with_hasher(schnellru::ByLength::new(CAP), FxBuildHasher);
        for id in 0..CAP {
            map.insert(id, Box::new([id as u8; 4096]));
        }
        let start = Instant::now();
        let sum = black_box(schnellru_hits(&mut map, &trace));
        let ns = start.elapsed().as_nanos() as f64 / N as f64;
        println!("schnellru: {N} gets, {ns:.1} ns/op (sum {sum})");
    }
    if which == "colocated" || which == "both" {
        let mut arena = jdb_fs::AlignedBuf::zeroed(CAP as usize * 4096).expect("arena");
        for (i, b) in arena.iter_mut().enumerate() {
            *b = (i / 4096) as u8;
        }
        let base = arena.as_ptr() as usize;
        let mut c = Colocated {
            table: (0..CAP).map(|id| (id, id)).collect(),
            records: (0..CAP)
                .map(|f| Record {
                    ptr: base + f as usize * 4096,
                    id: f,
                    pin: 0,
                    prev: if f + 1 < CAP { f + 1 } else { NIL },
                    next: if f > 0 { f - 1 } else { NIL },
                    state: 0,
                })
                .collect(),
            head: CAP - 1,
            tail: 0,
            arena,
        };
        black_box((c.records[0].id, c.records[0].pin, c.records[0].state));
        let start = Instant::now();
        let sum = black_box(colocated_hits(&mut c, &trace));
        let ns = start.elapsed().as_nanos() as f64 / N as f64;
        println!("colocated: {ns:.1} ns/op (sum {sum})");
    }
    let _ = std::fs::remove_file(&path);
}
