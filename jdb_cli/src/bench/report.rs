//! What a bench run measured, and printing it: a table for people, one JSON object for scripts.

use hdrhistogram::Histogram;
use jdb_fs::PAGE_SIZE;
use serde::Serialize;

pub use super::counters::Counters;
use super::{args::WorkloadKind, load::LoadReport};
use crate::output::{mib, micros, thousands};

/// Latency percentiles of single operations, in microseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Slowest operation.
    pub max: f64,
    /// Average.
    pub mean: f64,
}

impl Latency {
    /// From a histogram of nanoseconds.
    pub fn from_nanos(h: &Histogram<u64>) -> Self {
        let us = |ns: u64| ns as f64 / 1000.0;
        Self {
            p50: us(h.value_at_quantile(0.5)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// The final flush and `fdatasync` after a run (not part of its throughput).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FlushReport {
    /// Pages it wrote, where known.
    pub pages: Option<u64>,
    /// How long it took.
    pub secs: f64,
}

/// One system's run of the trace.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// `jdb`, `lru` or `os`.
    pub system: &'static str,
    /// jdb's eviction policy (`None` for the baselines).
    pub policy: Option<&'static str>,
    /// What the system is.
    pub description: String,
    /// Operations done.
    pub ops: u64,
    /// Point reads, point writes, scan groups among them.
    pub reads: u64,
    /// Point writes.
    pub writes: u64,
    /// Scan operations (each reads up to 16 pages).
    pub scans: u64,
    /// Pages asked for (a scan asks for each page of its group).
    pub page_requests: u64,
    /// Length of the run (without the final flush).
    pub secs: f64,
    /// Operations per second.
    pub ops_per_sec: f64,
    /// Page requests per second: the throughput of the batched workloads (prefetch: pages
    /// prefetched; seqwrite: pages written), and of scans in pages.
    pub pages_per_sec: f64,
    /// Page requests served from memory.
    pub hits: Option<u64>,
    /// Page requests that read the file.
    pub misses: Option<u64>,
    /// hits / page requests.
    pub hit_ratio: Option<f64>,
    /// Of the misses, those that waited for another task's read of the same page (jdb).
    pub shared_reads: Option<u64>,
    /// Read requests issued during the run.
    pub read_ios: u64,
    /// Write requests issued during the run.
    pub write_ios: u64,
    /// Pages read from the device during the run.
    pub pages_read: Option<u64>,
    /// Pages written to the device during the run.
    pub pages_written: Option<u64>,
    /// MiB/s read from the device.
    pub read_mib_per_s: Option<f64>,
    /// MiB/s written to the device.
    pub write_mib_per_s: Option<f64>,
    /// Per-operation latency.
    pub latency_us: Latency,
    /// Operations that missed: a page they asked for was not in memory when they began (jdb and
    /// lru; `None` for the OS page cache, which cannot tell).
    pub missed_ops: Option<u64>,
    /// Latency of those operations (`None` when there were none or the system cannot tell).
    pub miss_latency_us: Option<Latency>,
    /// Requests that had to wait for a dirty victim's write-back before their read (jdb).
    pub writeback_waits: Option<u64>,
    /// writeback_waits / misses (jdb).
    pub writeback_wait_share: Option<f64>,
    /// Pages the background writer wrote (jdb; 0 without --bgwriter).
    pub bg_pages_written: Option<u64>,
    /// Rounds of the background writer (jdb).
    pub bg_rounds: Option<u64>,
    /// Pages evicted.
    pub evictions: Option<u64>,
    /// Dirty pages written back on eviction.
    pub dirty_writebacks: Option<u64>,
    /// Pages that failed verification when read.
    pub checksum_failures: u64,
    /// The flush + fdatasync after the run.
    pub flush: FlushReport,
    /// Concurrent tasks per thread that ran the operations.
    pub tasks: u32,
    /// Threads, each with its own cache and file.
    pub threads: u32,
    /// The latency distribution for `--svg`: `(1 / (1 - p), latency µs)` for percentiles p
    /// from 50 % up (not printed).
    #[serde(skip)]
    pub percentiles: Vec<(f64, f64)>,
}

/// Points of the percentile plot of a histogram of nanoseconds: `(1 / (1 - p), µs)` for about
/// 100 percentiles p, log-spaced in `1 / (1 - p)` from the median to the slowest operation
/// (`1 / (1 - p)` up to the number of operations, at most 10^6).
pub fn percentile_curve(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    const POINTS: usize = 100;
    let last = (h.len() as f64).clamp(2.0, 1e6);
    (0..=POINTS)
        .map(|i| {
            let x = 2.0 * (last / 2.0).powf(i as f64 / POINTS as f64);
            let q = 1.0 - 1.0 / x;
            (x, h.value_at_quantile(q) as f64 / 1000.0)
        })
        .collect()
}

impl RunResult {
    /// Derives the rates and ratios from the raw numbers. `counts` is
    /// `[ops, reads, writes, scans, page_requests]`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        system: &'static str,
        policy: Option<&'static str>,
        description: String,
        counts: [u64; 5],
        secs: f64,
        run: Counters,
        after_flush: Counters,
        flush_secs: f64,
        latency_us: Latency,
        misses_latency: Option<(u64, Latency)>,
    ) -> Self {
        let [ops, reads, writes, scans, page_requests] = counts;
        let per_sec = |n: f64| n / secs.max(1e-9);
        let mib_per_s = |pages: Option<u64>| pages.map(|p| per_sec(mib(p * PAGE_SIZE as u64)));
        let hits = run.hits.or_else(|| {
            run.misses
                .map(|misses| page_requests.saturating_sub(misses))
        });
        Self {
            system,
            policy,
            description,
            ops,
            reads,
            writes,
            scans,
            page_requests,
            secs,
            ops_per_sec: per_sec(ops as f64),
            pages_per_sec: per_sec(page_requests as f64),
            hits,
            misses: run.misses,
            hit_ratio: hits.map(|h| h as f64 / page_requests.max(1) as f64),
            shared_reads: run.shared_reads,
            read_ios: run.read_ios,
            write_ios: run.write_ios,
            pages_read: run.pages_read,
            pages_written: run.pages_written,
            read_mib_per_s: mib_per_s(run.pages_read),
            write_mib_per_s: mib_per_s(run.pages_written),
            latency_us,
            missed_ops: misses_latency.map(|(n, _)| n),
            miss_latency_us: misses_latency.filter(|&(n, _)| n > 0).map(|(_, l)| l),
            writeback_waits: run.writeback_waits,
            writeback_wait_share: run
                .writeback_waits
                .zip(run.misses)
                .map(|(w, m)| w as f64 / m.max(1) as f64),
            bg_pages_written: run.bg_pages_written,
            bg_rounds: run.bg_rounds,
            evictions: run.evictions,
            dirty_writebacks: run.dirty_writebacks,
            checksum_failures: after_flush.checksum_failures,
            tasks: 1,
            threads: 1,
            percentiles: Vec::new(),
            flush: FlushReport {
                pages: after_flush
                    .pages_written
                    .zip(run.pages_written)
                    .map(|(after, before)| after.saturating_sub(before)),
                secs: flush_secs,
            },
        }
    }
}

/// The settings of a bench run.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// The data file (`--file`, or the temporary one); with several threads, the base name of
    /// `files`.
    pub file: String,
    /// The data files, one per thread.
    pub files: Vec<String>,
    /// Whether they are temporary files, removed at the end.
    pub temporary: bool,
    /// Pages of data, in all files.
    pub pages: u32,
    /// Pool capacity in pages, of all threads' pools (also the LRU baseline's).
    pub cap: usize,
    /// Tasks per thread.
    pub tasks: u32,
    /// Threads, each a runtime with its own pool over its own file.
    pub threads: u32,
    /// jdb's eviction policy.
    pub policy: &'static str,
    /// The trace file replayed (`--trace`).
    pub trace: Option<String>,
    /// The workload.
    pub workload: WorkloadKind,
    /// The workload in words.
    pub workload_description: String,
    /// Zipf exponent.
    pub theta: f64,
    /// Fraction of point operations that write.
    pub write_ratio: f64,
    /// Pages per operation of the batched workloads (prefetch, seqwrite).
    pub batch: Option<u32>,
    /// Trace seed.
    pub seed: u64,
    /// Time limit per run, seconds.
    pub duration_s: Option<f64>,
    /// Operation limit per run.
    pub ops_limit: Option<u64>,
    /// Whether jdb's file was opened with O_DIRECT.
    pub direct_io: bool,
    /// Whether every system read the pages its cache holds before the timed run (`--warm`).
    pub warm: bool,
    /// Whether jdb's pool ran its background writer (`--bgwriter`).
    pub bgwriter: bool,
    /// Whether jdb's pool wrote through a doublewrite area (`--doublewrite`).
    pub doublewrite: bool,
    /// Whether jdb's pool asked for transparent huge pages for its frames (not
    /// `--no-huge-pages`).
    pub huge_pages: bool,
}

/// Whether a baseline had the memory jdb's pool had (docs/json.md).
#[derive(Debug, Clone, Serialize)]
pub struct MemoryParity {
    /// It had no more than the pool (plus the allowance for its process, in a cgroup).
    pub equal: bool,
    /// `same capacity` (lru), `cgroup`, `file fits in the pool` or `unequal`.
    pub how: &'static str,
    /// The pool, bytes.
    pub jdb_bytes: u64,
    /// The baseline's limit; for `unequal`, the most page cache it could have had (the data, or
    /// the memory available when the run began if less).
    pub baseline_bytes: Option<u64>,
    /// With `how == "cgroup"`: 1 or 2, the cgroup hierarchy it ran in.
    pub cgroup_version: Option<u8>,
    /// The cgroup's peak memory use (`memory.peak` in v2, where the kernel has it;
    /// `memory.max_usage_in_bytes` in v1).
    pub cgroup_peak_bytes: Option<u64>,
    /// Why no cgroup could be made.
    pub reason: Option<String>,
}

impl MemoryParity {
    /// A cache of `cap` pages, as the pool.
    pub fn same_capacity(cap: usize) -> Self {
        let bytes = cap as u64 * PAGE_SIZE as u64;
        Self {
            equal: true,
            how: "same capacity",
            jdb_bytes: bytes,
            baseline_bytes: Some(bytes),
            cgroup_version: None,
            cgroup_peak_bytes: None,
            reason: None,
        }
    }

    /// The headline of jdb ÷ `baseline`: what was compared, flagged when the memory differed.
    fn headline(&self, baseline: &str) -> String {
        let b = |n: Option<u64>| n.map_or("?".to_string(), crate::output::bytes);
        let jdb = crate::output::bytes(self.jdb_bytes);
        let what = match self.how {
            "same capacity" => format!("same capacity, {jdb}"),
            "cgroup" => format!(
                "{baseline} in a cgroup of {}, jdb {jdb}: equal memory",
                b(self.baseline_bytes)
            ),
            "file fits in the pool" => {
                format!(
                    "the data, {}, fits in jdb's {jdb}: equal memory",
                    b(self.baseline_bytes)
                )
            }
            _ => format!(
                "{baseline} had up to {} of page cache, jdb {jdb}: unequal memory",
                b(self.baseline_bytes)
            ),
        };
        format!("jdb ÷ {baseline} ({what})")
    }
}

/// jdb ÷ one baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    /// The baseline's `system`.
    pub baseline: &'static str,
    /// jdb ops/s ÷ baseline ops/s.
    pub throughput: f64,
    /// jdb hit ratio ÷ baseline hit ratio (when both are known and the baseline's is not 0).
    pub hit_ratio: Option<f64>,
    /// Whether the baseline had the pool's memory.
    pub memory: MemoryParity,
    /// The comparison in words, flagged "unequal memory" when it was.
    pub headline: String,
}

/// Everything `jdb bench` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Settings.
    pub config: Config,
    /// How the data file was made.
    pub load: LoadReport,
    /// jdb's run.
    pub jdb: RunResult,
    /// Baseline runs (with `--compare`), in the order they ran after jdb.
    pub baselines: Vec<RunResult>,
    /// jdb ÷ each baseline.
    pub ratios: Vec<Ratio>,
    /// With `--trace --compare`: one run of the trace per eviction policy.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<RunResult>,
    /// What to keep in mind when reading the numbers.
    pub notes: Vec<String>,
}

impl Report {
    /// jdb ÷ each baseline, which had the memory `memory` says (one per baseline).
    pub fn ratios(jdb: &RunResult, baselines: &[RunResult], memory: &[MemoryParity]) -> Vec<Ratio> {
        baselines
            .iter()
            .zip(memory)
            .map(|(b, memory)| Ratio {
                baseline: b.system,
                headline: memory.headline(b.system),
                memory: memory.clone(),
                throughput: jdb.ops_per_sec / b.ops_per_sec.max(1e-9),
                hit_ratio: jdb
                    .hit_ratio
                    .zip(b.hit_ratio)
                    .filter(|&(_, b)| b > 0.0)
                    .map(|(j, b)| j / b),
            })
            .collect()
    }

    /// One JSON object and a newline.
    pub fn to_json(&self) -> anyhow::Result<String> {
        Ok(serde_json::to_string_pretty(self)? + "\n")
    }

    /// Latency against percentile, one line per system (and per policy of a `--trace
    /// --compare`), both axes log scales.
    pub fn latency_chart(&self) -> crate::plot::Chart {
        use crate::plot::{Axis, Chart, Series};
        let runs: Vec<&RunResult> = if self.policies.is_empty() {
            std::iter::once(&self.jdb).chain(&self.baselines).collect()
        } else {
            self.policies.iter().collect()
        };
        let series: Vec<Series> = runs
            .iter()
            .map(|r| Series {
                label: match (r.system, r.policy) {
                    ("jdb", Some(policy)) if !self.policies.is_empty() => format!("jdb {policy}"),
                    (system, _) => system.to_string(),
                },
                points: r
                    .percentiles
                    .iter()
                    .map(|&(x, us)| (x, us.max(0.001)))
                    .collect(),
            })
            .collect();
        let points = || series.iter().flat_map(|s| s.points.iter());
        let x_max = points().map(|p| p.0).fold(2.0, f64::max);
        let y_min = points().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let y_max = points().map(|p| p.1).fold(0.0, f64::max);
        let (y_lo, y_hi) = if y_min.is_finite() {
            (y_min / 1.5, y_max.max(y_min) * 1.5)
        } else {
            (0.1, 10.0)
        };
        let x_ticks: Vec<f64> = [2.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6]
            .into_iter()
            .filter(|&x| x <= x_max * 1.0001)
            .collect();
        Chart {
            title: format!(
                "jdb bench: latency by percentile, {}",
                self.config.workload_description
            ),
            x: Axis {
                label: "percentile (log scale of 1/(1-p))".to_string(),
                range: (1.8, x_max * 1.2),
                log: true,
                ticks: x_ticks,
                tick_label: |x| {
                    let p = 100.0 * (1.0 - 1.0 / x);
                    let text = format!("{p:.4}");
                    let text = text.trim_end_matches('0').trim_end_matches('.');
                    format!("{text} %")
                },
            },
            y: Axis {
                label: "latency (log scale)".to_string(),
                range: (y_lo, y_hi),
                log: true,
                ticks: crate::plot::ticks_125(y_lo, y_hi),
                tick_label: crate::output::micros,
            },
            series,
            mark: None,
            dots: false,
        }
    }

    /// The human-readable report.
    pub fn to_text(&self) -> String {
        let c = &self.config;
        let file_bytes = u64::from(c.pages) * PAGE_SIZE as u64;
        let cap_bytes = c.cap as u64 * PAGE_SIZE as u64;
        let mut out = format!("jdb bench: {}\n", c.workload_description);
        let files = match c.files.as_slice() {
            [one] => one.clone(),
            many => format!(
                "{} .. {}",
                many.first().map_or("", String::as_str),
                many.last().map_or("", String::as_str)
            ),
        };
        out.push_str(&format!(
            "  file  {files}{}: {} pages = {:.1} MiB{}, {}\n",
            if c.temporary { " (temporary)" } else { "" },
            thousands(u64::from(c.pages)),
            mib(file_bytes),
            if c.threads > 1 {
                format!(" in {} files, one per thread", c.threads)
            } else {
                String::new()
            },
            if c.direct_io {
                "O_DIRECT"
            } else {
                "buffered I/O (O_DIRECT refused)"
            }
        ));
        out.push_str(&format!(
            "  pool  {} pages = {:.1} MiB ({:.1} % of the file){}, {} eviction\n",
            thousands(c.cap as u64),
            mib(cap_bytes),
            cap_bytes as f64 * 100.0 / file_bytes as f64,
            if c.threads > 1 {
                format!(" in {} pools, one per thread", c.threads)
            } else {
                String::new()
            },
            c.policy,
        ));
        let load = &self.load;
        out.push_str(&if load.created {
            format!(
                "  load  written in {:.2} s ({:.0} MiB/s)\n",
                load.secs, load.mib_per_s
            )
        } else {
            "  load  reused the existing file\n".to_string()
        });
        if let Some(trace) = &c.trace {
            out.push_str(&format!(
                "  trace {trace}: {} page ids, replayed once\n",
                thousands(self.jdb.ops)
            ));
        }
        let limit = match (c.duration_s, c.ops_limit) {
            (Some(d), Some(n)) => format!("{d} s or {} ops", thousands(n)),
            (Some(d), None) => format!("{d} s"),
            (None, Some(n)) => format!("{} ops", thousands(n)),
            (None, None) => "the whole trace".to_string(),
        };
        let each = if self.baselines.is_empty() && self.policies.is_empty() {
            ""
        } else {
            " per system"
        };
        let plural = |n: u32, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        out.push_str(&format!(
            "  run   {limit}{each}, seed {}, {} × {}{}\n\n",
            c.seed,
            plural(c.tasks, "task"),
            plural(c.threads, "thread"),
            c.workload
                .one_task_reason()
                .map_or(String::new(), |why| format!(" ({why})"))
        ));
        let runs: Vec<&RunResult> = std::iter::once(&self.jdb).chain(&self.baselines).collect();
        out.push_str(&table(&runs));
        if !self.policies.is_empty() {
            out.push_str("\nthe trace under each eviction policy (one pool each, same size):\n");
            out.push_str(&policy_table(&self.policies));
        }
        if !self.ratios.is_empty() {
            out.push('\n');
        }
        for r in &self.ratios {
            let hit = r
                .hit_ratio
                .map_or("n/a".to_string(), |h| format!("{h:.2}x"));
            out.push_str(&format!(
                "{}: throughput {:.2}x, hit ratio {hit}\n",
                r.headline, r.throughput
            ));
        }
        out.push('\n');
        for note in &self.notes {
            out.push_str(&format!("note: {note}\n"));
        }
        out
    }
}

/// One row per policy: misses, hits, hit ratio, throughput.
fn policy_table(runs: &[RunResult]) -> String {
    let count = |v: Option<u64>| v.map_or("n/a".to_string(), thousands);
    let mut cells = vec![
        ["policy", "misses", "hits", "hit ratio", "ops/s"]
            .map(String::from)
            .to_vec(),
    ];
    for r in runs {
        cells.push(vec![
            r.policy.unwrap_or(r.system).to_string(),
            count(r.misses),
            count(r.hits),
            r.hit_ratio
                .map_or("n/a".to_string(), |h| format!("{:.2} %", h * 100.0)),
            thousands(r.ops_per_sec as u64),
        ]);
    }
    aligned(&cells)
}

/// Rows of numbers, one column per system.
fn table(runs: &[&RunResult]) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "n/a".to_string());
    let count = |v: Option<u64>| opt(v.map(thousands));
    let rate = |v: Option<f64>| opt(v.map(|r| format!("{r:.1}")));
    type Row<'a> = (&'a str, Box<dyn Fn(&RunResult) -> String + 'a>);
    let rows: Vec<Row<'_>> = vec![
        ("ops", Box::new(|r| thousands(r.ops))),
        ("seconds", Box::new(|r| format!("{:.2}", r.secs))),
        (
            "throughput, ops/s",
            Box::new(|r| thousands(r.ops_per_sec as u64)),
        ),
        ("page requests", Box::new(|r| thousands(r.page_requests))),
        (
            "page requests/s",
            Box::new(|r| thousands(r.pages_per_sec as u64)),
        ),
        (
            "hit ratio",
            Box::new(move |r| opt(r.hit_ratio.map(|h| format!("{:.2} %", h * 100.0)))),
        ),
        ("misses", Box::new(move |r| count(r.misses))),
        ("shared reads", Box::new(move |r| count(r.shared_reads))),
        ("read I/Os", Box::new(|r| thousands(r.read_ios))),
        ("read MiB/s", Box::new(move |r| rate(r.read_mib_per_s))),
        ("write I/Os", Box::new(|r| thousands(r.write_ios))),
        ("write MiB/s", Box::new(move |r| rate(r.write_mib_per_s))),
        ("latency p50", Box::new(|r| micros(r.latency_us.p50))),
        ("latency p99", Box::new(|r| micros(r.latency_us.p99))),
        ("latency p99.9", Box::new(|r| micros(r.latency_us.p999))),
        ("latency max", Box::new(|r| micros(r.latency_us.max))),
        ("ops that missed", Box::new(move |r| count(r.missed_ops))),
        (
            "miss latency p50",
            Box::new(move |r| opt(r.miss_latency_us.map(|l| micros(l.p50)))),
        ),
        (
            "miss latency p99",
            Box::new(move |r| opt(r.miss_latency_us.map(|l| micros(l.p99)))),
        ),
        (
            "miss latency p99.9",
            Box::new(move |r| opt(r.miss_latency_us.map(|l| micros(l.p999)))),
        ),
        (
            "waited for a write-back",
            Box::new(move |r| {
                opt(r
                    .writeback_waits
                    .zip(r.writeback_wait_share)
                    .map(|(w, share)| {
                        format!("{} ({:.2} % of misses)", thousands(w), share * 100.0)
                    }))
            }),
        ),
        (
            "bg writer pages",
            Box::new(move |r| count(r.bg_pages_written)),
        ),
        ("evictions", Box::new(move |r| count(r.evictions))),
        (
            "dirty write-backs",
            Box::new(move |r| count(r.dirty_writebacks)),
        ),
        (
            "checksum failures",
            Box::new(|r| thousands(r.checksum_failures)),
        ),
        (
            "flush + sync after",
            Box::new(|r| {
                let pages = r
                    .flush
                    .pages
                    .map_or(String::new(), |p| format!("{} pages, ", thousands(p)));
                format!("{pages}{}", micros(r.flush.secs * 1e6))
            }),
        ),
    ];
    let mut cells: Vec<Vec<String>> = vec![
        std::iter::once(String::new())
            .chain(runs.iter().map(|r| r.system.to_string()))
            .collect(),
    ];
    for (label, value) in &rows {
        cells.push(
            std::iter::once(label.to_string())
                .chain(runs.iter().map(|r| value(r)))
                .collect(),
        );
    }
    aligned(&cells)
}

/// `cells` as lines: the first column left-aligned, the others right-aligned, two spaces apart.
fn aligned(cells: &[Vec<String>]) -> String {
    let columns = cells.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            cells
                .iter()
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in cells {
        let mut line = format!("{:<w$}", row[0], w = widths[0]);
        for (cell, &w) in row.iter().zip(&widths).skip(1) {
            line.push_str(&format!("  {cell:>w$}"));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
