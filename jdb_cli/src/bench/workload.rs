//! The operation trace: a seeded, deterministic sequence of reads, writes and scans, so every
//! system in a comparison runs exactly the same operations in the same order.

use std::sync::Arc;

use jdb_layout::PageId;
use rand::{Rng, SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, Zipf};

use super::args::WorkloadKind;

/// Pages per scan operation: one group, the pool's largest run (64 KiB).
pub const SCAN_GROUP: u32 = jdb_page::MAX_RUN as u32;
/// In the mixed workload, every `SCAN_EVERY`-th operation is a scan of one group.
pub const SCAN_EVERY: u64 = 64;

/// Two primes below 2^32; `rank * prime % pages` scatters zipf ranks over the file so the hot
/// pages are not all neighbours. For a given page count at least one is coprime with it (their
/// product exceeds any page count), which makes the scattering a bijection.
const SCATTER_PRIMES: [u64; 2] = [2_654_435_761, 2_246_822_519];

/// One benchmark operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Read a page (a few bytes of it are used).
    Read(PageId),
    /// Read a page and change 8 bytes of it.
    Write(PageId),
    /// Read `n` contiguous pages starting at `first`.
    Scan {
        /// First page of the group.
        first: PageId,
        /// Pages in the group, 1..=SCAN_GROUP.
        n: u32,
    },
}

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct WorkloadSpec {
    /// The access pattern.
    pub kind: WorkloadKind,
    /// Pages in the file.
    pub pages: u32,
    /// Zipf exponent (zipf, mixed).
    pub theta: f64,
    /// Fraction of point operations that write.
    pub write_ratio: f64,
    /// Seed of the random number generator.
    pub seed: u64,
    /// Pages per prefetch operation (prefetch).
    pub batch: u32,
    /// Pages the seqwrite workload dirties and flushes per operation.
    pub window: u32,
}

impl WorkloadSpec {
    /// One line describing the workload, for the report.
    pub fn describe(&self) -> String {
        let writes = format!("{:.0} % writes", self.write_ratio * 100.0);
        match self.kind {
            WorkloadKind::Mixed => format!(
                "mixed: zipf (theta {}) reads and writes ({writes}), a {SCAN_GROUP}-page scan \
                 every {SCAN_EVERY} ops",
                self.theta
            ),
            WorkloadKind::Zipf => format!("zipf (theta {}), {writes}", self.theta),
            WorkloadKind::Uniform => format!("uniform, {writes}"),
            WorkloadKind::Scan => format!("scan: sequential {SCAN_GROUP}-page groups, read only"),
            WorkloadKind::Randread => {
                "randread: every page once per pass in a random order, read only".to_string()
            }
            WorkloadKind::Prefetch => format!(
                "prefetch: batches of {} distinct random pages not in the pool, read only",
                self.batch
            ),
            WorkloadKind::Seqwrite => format!(
                "seqwrite: {} contiguous pages dirtied, then flush_all (runs of {SCAN_GROUP})",
                self.window
            ),
            WorkloadKind::Trace => "trace replay: reads in trace order, one task".to_string(),
        }
    }

    /// The spec of thread `index`'s part of the data: `pages` pages of its own and a seed of
    /// its own (thread 0 keeps `self.seed`, so one thread runs exactly the one-thread trace).
    pub fn shard(&self, index: u32, pages: u32, batch: u32, window: u32) -> Self {
        Self {
            pages,
            seed: self
                .seed
                .wrapping_add(u64::from(index).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            batch,
            window,
            ..*self
        }
    }
}

/// Where the tasks of a run take their operations from: a seeded [`Trace`] (endless) or the
/// page ids of a `--trace` file, each read once in order.
#[derive(Debug, Clone)]
pub enum Ops {
    /// Generated operations.
    Generated(Box<Trace>),
    /// Reads of these pages, in order.
    Replay {
        /// The page ids.
        ids: Arc<[PageId]>,
        /// The next one to hand out.
        next: usize,
    },
}

impl Ops {
    /// The next operation, `None` when a replay is over.
    pub fn next_op(&mut self) -> Option<Op> {
        match self {
            Self::Generated(trace) => Some(trace.next_op()),
            Self::Replay { ids, next } => {
                let id = *ids.get(*next)?;
                *next += 1;
                Some(Op::Read(id))
            }
        }
    }
}

/// An endless, deterministic stream of operations.
#[derive(Debug, Clone)]
pub struct Trace {
    spec: WorkloadSpec,
    rng: StdRng,
    zipf: Option<Zipf<f64>>,
    scatter: u64,
    scan_cursor: u32,
    /// randread: the order of the current pass and the position in it.
    permutation: Option<Permutation>,
    pass_position: u64,
    step: u64,
}

impl Trace {
    /// A trace for `spec`; the same spec always gives the same operations.
    pub fn new(spec: WorkloadSpec) -> anyhow::Result<Self> {
        anyhow::ensure!(spec.pages > 0, "the workload needs at least one page");
        anyhow::ensure!(
            !spec.kind.is_batched() && spec.kind != WorkloadKind::Trace,
            "{:?} is not a generated workload",
            spec.kind
        );
        let zipf = match spec.kind {
            WorkloadKind::Mixed | WorkloadKind::Zipf => Some(
                Zipf::new(f64::from(spec.pages), spec.theta)
                    .map_err(|e| anyhow::anyhow!("zipf with theta {}: {e}", spec.theta))?,
            ),
            _ => None,
        };
        let mut rng = StdRng::seed_from_u64(spec.seed);
        let permutation = (spec.kind == WorkloadKind::Randread)
            .then(|| Permutation::new(u64::from(spec.pages), &mut rng));
        let pages = u64::from(spec.pages);
        let scatter = SCATTER_PRIMES
            .into_iter()
            .find(|&p| gcd(p % pages, pages) == 1)
            .unwrap_or(1);
        Ok(Self {
            spec,
            rng,
            zipf,
            scatter,
            scan_cursor: 0,
            permutation,
            pass_position: 0,
            step: 0,
        })
    }

    /// The next operation.
    pub fn next_op(&mut self) -> Op {
        self.step += 1;
        match self.spec.kind {
            WorkloadKind::Scan => self.next_scan(),
            WorkloadKind::Mixed if self.step.is_multiple_of(SCAN_EVERY) => self.next_scan(),
            WorkloadKind::Randread => Op::Read(self.next_in_pass()),
            // `Trace::new` refuses them.
            WorkloadKind::Prefetch | WorkloadKind::Seqwrite | WorkloadKind::Trace => Op::Read(0),
            WorkloadKind::Mixed | WorkloadKind::Zipf | WorkloadKind::Uniform => {
                let id = self.next_page();
                if self.rng.random_bool(self.spec.write_ratio) {
                    Op::Write(id)
                } else {
                    Op::Read(id)
                }
            }
        }
    }

    fn next_page(&mut self) -> PageId {
        let pages = u64::from(self.spec.pages);
        let id = match &self.zipf {
            Some(zipf) => {
                // Ranks are 1..=pages; rank 1 is the hottest.
                let rank = (zipf.sample(&mut self.rng) as u64).clamp(1, pages) - 1;
                rank * self.scatter % pages
            }
            None => self.rng.random_range(0..pages),
        };
        // `id < pages <= u32::MAX`.
        id as PageId
    }

    /// randread: the next page of the current pass; a new random order starts each pass.
    fn next_in_pass(&mut self) -> PageId {
        let pages = u64::from(self.spec.pages);
        if self.pass_position == pages || self.permutation.is_none() {
            self.permutation = Some(Permutation::new(pages, &mut self.rng));
            self.pass_position = 0;
        }
        let id = self.permutation.map_or(0, |p| p.at(self.pass_position));
        self.pass_position += 1;
        // `id < pages <= u32::MAX`.
        id as PageId
    }

    fn next_scan(&mut self) -> Op {
        let first = self.scan_cursor;
        let n = SCAN_GROUP.min(self.spec.pages - first);
        self.scan_cursor = if first + n >= self.spec.pages {
            0
        } else {
            first + n
        };
        Op::Scan { first, n }
    }
}

/// A seeded random permutation of `0..n` in O(1) memory: a 4-round Feistel network on the
/// smallest even number of bits that holds `n - 1`, applied again while the value is `>= n`
/// (cycle walking; fewer than 4 steps on average, as the domain is under `4 n`).
#[derive(Debug, Clone, Copy)]
struct Permutation {
    n: u64,
    half_bits: u32,
    keys: [u64; 4],
}

impl Permutation {
    fn new(n: u64, rng: &mut StdRng) -> Self {
        let bits = 64 - n.saturating_sub(1).leading_zeros();
        Self {
            n,
            half_bits: bits.div_ceil(2).max(1),
            keys: rng.random(),
        }
    }

    /// The `i`-th value, `i < n`.
    fn at(&self, i: u64) -> u64 {
        let half = self.half_bits;
        let mask = (1u64 << half) - 1;
        let mut x = i;
        loop {
            let (mut left, mut right) = (x >> half, x & mask);
            for key in self.keys {
                (left, right) = (right, left ^ (mix(right ^ key) & mask));
            }
            x = (left << half) | right;
            if x < self.n {
                return x;
            }
        }
    }
}

/// splitmix64's finaliser: a cheap, well-mixed 64-bit hash.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: WorkloadKind, pages: u32) -> WorkloadSpec {
        WorkloadSpec {
            kind,
            pages,
            theta: 0.99,
            write_ratio: 0.1,
            seed: 7,
            batch: 100,
            window: 64,
        }
    }

    fn ops(spec: WorkloadSpec, n: usize) -> Vec<Op> {
        let mut trace = Trace::new(spec).unwrap();
        (0..n).map(|_| trace.next_op()).collect()
    }

    #[test]
    fn same_seed_same_ops() {
        for kind in [
            WorkloadKind::Mixed,
            WorkloadKind::Zipf,
            WorkloadKind::Uniform,
            WorkloadKind::Randread,
        ] {
            assert_eq!(ops(spec(kind, 1000), 500), ops(spec(kind, 1000), 500));
            let other = WorkloadSpec {
                seed: 8,
                ..spec(kind, 1000)
            };
            assert_ne!(ops(spec(kind, 1000), 500), ops(other, 500));
        }
    }

    #[test]
    fn ops_stay_in_the_file() {
        for kind in [
            WorkloadKind::Mixed,
            WorkloadKind::Zipf,
            WorkloadKind::Uniform,
            WorkloadKind::Randread,
        ] {
            for pages in [1, 2, 17, 1000] {
                for op in ops(spec(kind, pages), 2000) {
                    match op {
                        Op::Read(id) | Op::Write(id) => assert!(id < pages),
                        Op::Scan { first, n } => assert!(n >= 1 && first + n <= pages),
                    }
                }
            }
        }
    }

    #[test]
    fn scans_wrap_and_cover_the_file() {
        let scans = ops(spec(WorkloadKind::Scan, 40), 4);
        let expected =
            [(0, 16), (16, 16), (32, 8), (0, 16)].map(|(first, n)| Op::Scan { first, n });
        assert_eq!(scans, expected);
        let mixed = ops(spec(WorkloadKind::Mixed, 1000), 128);
        assert!(matches!(mixed[63], Op::Scan { first: 0, n: 16 }));
        assert!(matches!(mixed[127], Op::Scan { first: 16, n: 16 }));
    }

    #[test]
    fn randread_reads_every_page_once_per_pass_in_new_orders() {
        for pages in [1, 2, 3, 5, 17, 1000, 4096] {
            let ops = ops(spec(WorkloadKind::Randread, pages), 2 * pages as usize);
            let ids: Vec<PageId> = ops
                .iter()
                .map(|op| match *op {
                    Op::Read(id) => id,
                    other => panic!("randread only reads: {other:?}"),
                })
                .collect();
            let (first, second) = ids.split_at(pages as usize);
            for pass in [first, second] {
                let mut sorted = pass.to_vec();
                sorted.sort_unstable();
                assert_eq!(sorted, (0..pages).collect::<Vec<_>>(), "{pages} pages");
            }
            if pages >= 17 {
                assert_ne!(first, second, "a new order each pass");
                assert_ne!(first, (0..pages).collect::<Vec<_>>(), "not in file order");
            }
        }
    }

    #[test]
    fn zipf_is_skewed_and_writes_match_the_ratio() {
        let ops = ops(spec(WorkloadKind::Zipf, 10_000), 20_000);
        let mut counts = std::collections::HashMap::new();
        let mut writes = 0;
        for op in &ops {
            match *op {
                Op::Read(id) => *counts.entry(id).or_insert(0) += 1,
                Op::Write(id) => {
                    writes += 1;
                    *counts.entry(id).or_insert(0) += 1;
                }
                Op::Scan { .. } => unreachable!("no scans in zipf"),
            }
        }
        let hottest = counts.values().copied().max().unwrap();
        assert!(
            hottest > 500,
            "rank 1 gets about 1/10 of the ops: {hottest}"
        );
        assert!((1500..2500).contains(&writes), "{writes}");
    }
}
