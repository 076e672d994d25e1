//! The hit path in isolation, for callgrind and for interleaved timing: the rows of
//! `benches/hit_path.rs` (see `benches/common/hits.rs`), each pass a replay of a repo trace
//! (20 000 ids over 3 000 resident pages) reading one byte of every page looked up.
//!
//! ```sh
//! cargo build --release -p jdb_page --example hit_profile
//! # one row, PASSES passes (default 50 = 1 000 000 hits), in its own #[inline(never)] function:
//! valgrind --tool=callgrind --cache-sim=yes --D1=32768,8,64 --LL=524288,8,64 \
//!     --toggle-collect='*row_hits*' target/release/examples/hit_profile get_sieve zipf
//! # every row, ROUNDS interleaved rounds (rotating the order), ratios to `hashmap` per round:
//! target/release/examples/hit_profile interleaved zipf 11
//! # every row, ROUNDS short rounds (a warm-up pass, then 3 timed), 10th percentile and median:
//! target/release/examples/hit_profile fine zipf 300
//! ```
//!
//! Rows: `get_lru`, `get_clock`, `get_sieve`, `get_s3fifo`, `read_<same>`, `hashmap`,
//! `hashmap_huge`, `hashmap_aligned`, `lru_crate`, `schnellru`, and two sketches of a lean hit path (not the
//! pool: what its structures would cost with nothing else on the path), `sketch_sieve` and
//! `sketch_lru` (see [`Sketch`]), and `tryget_sieve`, `tryget_lru`: `BufferPool::try_get` + guard
//! drop, the hit without its future (what the async loop adds). Traces: `zipf` (default),
//! `uniform`.
//! Per hit = callgrind's collected `Ir` (and `D1mr`, `DLmr`) ÷ the hits printed. The
//! collected function also holds the one `block_on` of the pool rows (a few hundred
//! instructions: nothing per hit).

#[path = "../benches/common/mod.rs"]
mod common;

use std::{hint::black_box, process::ExitCode, time::Instant};

use common::hits::{self, Baselines};
use jdb_page::{BufferPool, PolicyKind, testing::MemStorage};

/// Every row, in the order printed.
const ROWS: [&str; 17] = [
    "get_lru",
    "get_clock",
    "get_sieve",
    "get_s3fifo",
    "read_lru",
    "read_clock",
    "read_sieve",
    "read_s3fifo",
    "hashmap",
    "hashmap_huge",
    "hashmap_aligned",
    "lru_crate",
    "schnellru",
    "sketch_sieve",
    "sketch_lru",
    "tryget_sieve",
    "tryget_lru",
];

/// A lean hit path over the pool's own layout, to show what the structures cost by themselves:
/// the page table as an array (id -> frame), an 8-byte frame record (page, latch, state, flags)
/// checked and latched exclusively, the policy's hit (SIEVE: set the frame's visited byte; LRU:
/// move the frame to the head of a list linked through a `[prev, next]` array), the page's byte
/// read from a 4 KiB-aligned arena at `base + frame × 4096` (the pool's layout until session 8;
/// its frames are 4104 bytes apart now, see `page::Arena`), and the latch cleared on release.
/// No `RefCell`, no future, no pin/unpin calls into the policy (eviction would skip latched
/// frames itself), no counters.
struct Sketch {
    table: Box<[u32]>,
    meta: Box<[SketchMeta]>,
    visited: Box<[u8]>,
    links: Box<[[u32; 2]]>,
    head: u32,
    tail: u32,
    arena: jdb_fs::AlignedBuf,
}

#[derive(Clone, Copy)]
struct SketchMeta {
    page: u32,
    latch: u16,
    state: u8,
    flags: u8,
}

const RESIDENT: u8 = 3;
const NIL: u32 = u32::MAX;

impl Sketch {
    fn new() -> Self {
        let n = hits::PAGES as usize;
        let mut arena = jdb_fs::AlignedBuf::zeroed(n * 4096).expect("arena");
        // Touch every frame, as the pool's reads do.
        for (i, b) in arena.iter_mut().enumerate() {
            *b = (i / 4096) as u8;
        }
        Self {
            table: (0..hits::PAGES).collect(),
            meta: (0..hits::PAGES)
                .map(|page| SketchMeta {
                    page,
                    latch: 0,
                    state: RESIDENT,
                    flags: 0,
                })
                .collect(),
            visited: vec![0; n].into(),
            // Frame f: newer f - 1, older f + 1 (0 is the head).
            links: (0..hits::PAGES)
                .map(|f| {
                    [
                        f.checked_sub(1).unwrap_or(NIL),
                        if f + 1 < hits::PAGES { f + 1 } else { NIL },
                    ]
                })
                .collect(),
            head: 0,
            tail: hits::PAGES - 1,
            arena,
        }
    }

    #[inline]
    fn move_to_head(&mut self, f: u32) {
        if self.head == f {
            return;
        }
        let [newer, older] = self.links[f as usize];
        self.links[newer as usize][1] = older;
        if older == NIL {
            self.tail = newer;
        } else {
            self.links[older as usize][0] = newer;
        }
        self.links[f as usize] = [NIL, self.head];
        self.links[self.head as usize][0] = f;
        self.head = f;
    }

    #[inline]
    fn pass(&mut self, trace: &[u32], lru: bool) -> u64 {
        let mut sum = 0u64;
        let base = self.arena.as_ptr();
        for &id in trace {
            let f = self.table[id as usize];
            let m = &mut self.meta[f as usize];
            assert!(
                f != NIL && m.state == RESIDENT && m.flags == 0 && m.latch == 0 && m.page == id,
                "sketch: not a plain hit"
            );
            m.latch = u16::MAX;
            if lru {
                self.move_to_head(f);
            } else {
                self.visited[f as usize] = 1;
            }
            // SAFETY: `f < PAGES`, and the arena holds `PAGES` frames of 4096 initialised bytes.
            let byte = unsafe { *base.add(f as usize * 4096 + hits::BYTE) };
            sum = sum.wrapping_add(u64::from(byte));
            self.meta[f as usize].latch = 0;
        }
        sum
    }
}

/// What a row runs on.
struct Setup {
    rt: compio::runtime::Runtime,
    pools: Vec<(PolicyKind, BufferPool<MemStorage>)>,
    base: Baselines,
    sketch: Sketch,
}

impl Setup {
    fn new() -> Self {
        let rt = compio::runtime::Runtime::new().expect("runtime");
        let disk = rt.block_on(hits::make_disk(hits::PAGES));
        let pools = PolicyKind::ALL
            .into_iter()
            .map(|kind| (kind, rt.block_on(hits::resident_pool(&disk, kind))))
            .collect();
        Self {
            rt,
            pools,
            base: Baselines::new(),
            sketch: Sketch::new(),
        }
    }

    fn pool(&self, name: &str) -> &BufferPool<MemStorage> {
        self.pools
            .iter()
            .find(|(kind, _)| kind.name() == name)
            .map(|(_, pool)| pool)
            .unwrap_or_else(|| panic!("no policy {name}"))
    }

    /// Runs `row` for `passes` passes over `trace`, in the one function callgrind collects.
    #[inline(never)]
    fn row_hits(&mut self, row: &str, trace: &[u32], passes: usize) -> u64 {
        let mut sum = 0u64;
        if let Some(policy) = row.strip_prefix("get_") {
            let pool = self.pool(policy);
            self.rt.block_on(async {
                for _ in 0..passes {
                    sum = sum.wrapping_add(hits::pool_get_pass(pool, trace).await);
                }
            });
        } else if let Some(policy) = row.strip_prefix("tryget_") {
            let pool = self.pool(policy);
            for _ in 0..passes {
                for &id in trace {
                    let page = pool.try_get(id).expect("hit");
                    sum = sum.wrapping_add(u64::from(page.data()[0]));
                }
            }
        } else if let Some(policy) = row.strip_prefix("read_") {
            let pool = self.pool(policy);
            self.rt.block_on(async {
                for _ in 0..passes {
                    sum = sum.wrapping_add(hits::pool_read_pass(pool, trace).await);
                }
            });
        } else {
            let b = &mut self.base;
            for _ in 0..passes {
                sum = sum.wrapping_add(match row {
                    "hashmap" => hits::hashmap_pass(&b.hashmap, trace),
                    "hashmap_huge" => hits::huge_pass(&b.huge, trace),
                    "hashmap_aligned" => hits::aligned_pass(&b.aligned, trace),
                    "lru_crate" => hits::lru_pass(&mut b.lru, trace),
                    "schnellru" => hits::schnellru_pass(&mut b.schnellru, trace),
                    "sketch_sieve" => self.sketch.pass(trace, false),
                    "sketch_lru" => self.sketch.pass(trace, true),
                    other => panic!("unknown row {other}"),
                });
            }
        }
        sum
    }

    /// Nanoseconds per hit of `row` over `passes` passes.
    fn time(&mut self, row: &str, trace: &[u32], passes: usize) -> f64 {
        let start = Instant::now();
        black_box(self.row_hits(row, trace, passes));
        start.elapsed().as_nanos() as f64 / (passes * trace.len()) as f64
    }

    fn check_and_close(self) {
        for (kind, pool) in self.pools {
            let stats = pool.stats();
            assert_eq!(stats.misses, 0, "{kind}: a hit path missed: {stats:?}");
            self.rt.block_on(pool.close()).expect("close");
        }
    }
}

/// `ROUNDS` rounds of every row (`passes` passes each, one untimed pass first), the order
/// rotated each round; per row: median, min and max of ns/hit and of its ratio to `hashmap`
/// in the same round.
fn interleaved(setup: &mut Setup, trace: &[u32], rounds: usize, passes: usize) {
    let mut ns = vec![Vec::new(); ROWS.len()];
    for round in 0..rounds {
        for k in 0..ROWS.len() {
            let i = (k + round) % ROWS.len();
            setup.time(ROWS[i], trace, 1);
            ns[i].push(setup.time(ROWS[i], trace, passes));
        }
    }
    let base = ROWS
        .iter()
        .position(|&r| r == "hashmap")
        .expect("hashmap row");
    println!("| row | ns/hit median | min | max | ÷ hashmap median | min | max |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (i, row) in ROWS.iter().enumerate() {
        let ratios: Vec<f64> = (0..rounds).map(|r| ns[i][r] / ns[base][r]).collect();
        let (t, q) = (summary(&ns[i]), summary(&ratios));
        println!(
            "| {row} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} | {:.2} |",
            t.0, t.1, t.2, q.0, q.1, q.2
        );
    }
}

/// `rounds` rounds of every row (one untimed pass to warm the caches, then 3 timed), the order
/// rotated each round: noise on this shared machine only adds time, so per row the 10th
/// percentile and the median of the timings are printed, and their ratios to `hashmap`'s.
fn fine(setup: &mut Setup, trace: &[u32], rounds: usize) {
    let mut ns = vec![Vec::new(); ROWS.len()];
    for round in 0..rounds {
        for k in 0..ROWS.len() {
            let i = (k + round) % ROWS.len();
            setup.time(ROWS[i], trace, 1);
            ns[i].push(setup.time(ROWS[i], trace, 3));
        }
    }
    let pct = |v: &[f64], p: usize| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        s[(s.len() - 1) * p / 100]
    };
    let base = ROWS
        .iter()
        .position(|&r| r == "hashmap")
        .expect("hashmap row");
    let (b10, b50) = (pct(&ns[base], 10), pct(&ns[base], 50));
    println!("| row | ns/hit p10 | p50 | ÷ hashmap p10 | p50 |");
    println!("|---|---:|---:|---:|---:|");
    for (i, row) in ROWS.iter().enumerate() {
        let (p10, p50) = (pct(&ns[i], 10), pct(&ns[i], 50));
        println!(
            "| {row} | {p10:.1} | {p50:.1} | {:.2} | {:.2} |",
            p10 / b10,
            p50 / b50
        );
    }
}

/// (median, min, max).
fn summary(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    (s[s.len() / 2], s[0], s[s.len() - 1])
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let row = args.first().map_or("interleaved", String::as_str);
    let trace_name = args.get(1).map_or("zipf", String::as_str);
    if !hits::TRACES.contains(&trace_name)
        || (row != "interleaved" && row != "fine" && !ROWS.contains(&row))
    {
        eprintln!("usage: hit_profile interleaved|fine|ROW [zipf|uniform] [ROUNDS|PASSES]");
        eprintln!("rows: {}", ROWS.join(" "));
        return ExitCode::from(2);
    }
    let trace = hits::read_trace(trace_name);
    let mut setup = Setup::new();
    if row == "fine" {
        let rounds = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(500);
        println!(
            "{trace_name}: {rounds} rounds of one pass of {} ids per row",
            trace.len()
        );
        fine(&mut setup, &trace, rounds);
    } else if row == "interleaved" {
        let rounds = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(11);
        println!(
            "{trace_name}: {rounds} rounds, 50 passes of {} ids per row each",
            trace.len()
        );
        interleaved(&mut setup, &trace, rounds, 50);
    } else {
        let passes: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(50);
        let hits = passes * trace.len();
        let start = Instant::now();
        let sum = black_box(setup.row_hits(row, &trace, passes));
        let ns = start.elapsed().as_nanos() as f64 / hits as f64;
        println!("{row} {trace_name}: {hits} hits, {ns:.1} ns/hit (sum {sum})");
    }
    setup.check_and_close();
    ExitCode::SUCCESS
}
