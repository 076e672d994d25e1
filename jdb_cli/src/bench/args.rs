//! The options of `jdb bench` and the parsers of their values (sizes, durations, ratios).

use std::{path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};
use jdb_fs::PAGE_SIZE;
use jdb_page::PolicyKind;

/// Default pool size in pages (64 MiB).
pub const DEFAULT_CAP: usize = 16384;
/// Default pages per prefetch operation.
pub const DEFAULT_BATCH: u64 = 10_000;
/// Default run length when neither `--ops` nor `--duration` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Default tasks per thread for the point workloads.
pub const DEFAULT_TASKS: u32 = 32;
/// Most tasks per thread.
pub const MAX_TASKS: u32 = 4096;
/// Most threads.
pub const MAX_THREADS: u32 = 256;
/// Default fraction of point operations that write.
pub const DEFAULT_WRITE_RATIO: f64 = 0.1;

/// Options of `jdb bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Data file to keep and reuse: reused when it is a bench file of --pages pages, else
    /// (re)created. Default: a temporary file in a directory made in the current directory
    /// (not /tmp, which may be tmpfs without Direct I/O), removed at the end. With --threads N
    /// above 1 the data is N files PATH.0 .. PATH.{N-1} (one writer per file), and PATH itself
    /// is not touched.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// Pages in the data file, 4 KiB each (65536 = 256 MiB).
    #[arg(long, value_name = "N", default_value_t = 65536,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(u32::MAX - 2)))]
    pub pages: u32,

    /// Pool size in pages [default: 16384 = 64 MiB].
    #[arg(long, value_name = "N", conflicts_with = "memory",
          value_parser = clap::value_parser!(u64).range(1..=u64::from(u32::MAX - 1)))]
    pub cap: Option<u64>,

    /// Pool size in bytes instead of pages, e.g. 64MiB, 1GiB, 512K (binary units; KB/MB/GB
    /// are decimal); rounded down to whole pages.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory: Option<u64>,

    /// Access pattern.
    #[arg(long, value_enum, default_value_t = WorkloadKind::Mixed)]
    pub workload: WorkloadKind,

    /// Skew of the zipf distribution (zipf and mixed): 0 is uniform, 0.99 is YCSB's default.
    #[arg(long, default_value_t = 0.99, value_parser = parse_theta)]
    pub theta: f64,

    /// Fraction of point operations that write (0..=1); a write changes 8 bytes of the page.
    /// Used by mixed, zipf and uniform; the other workloads ignore it.
    #[arg(long, value_name = "RATIO", default_value_t = DEFAULT_WRITE_RATIO, value_parser = parse_ratio)]
    pub write_ratio: f64,

    /// Stop each run after this many operations.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub ops: Option<u64>,

    /// Stop each run after this long, e.g. 10s, 500ms, 1m [default: 10s, or no limit with --ops].
    /// The batched workloads count only their timed calls.
    #[arg(long, value_name = "TIME", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Pages per prefetch operation (prefetch workload); at most (--pages minus --cap) / --tasks,
    /// so that every page of every task's batch can be one the pool does not hold.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BATCH,
          value_parser = clap::value_parser!(u64).range(1..=u64::from(u32::MAX)))]
    pub batch: u64,

    /// Seed of the operation trace: the same seed gives the same operations.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// Concurrent tasks per thread (1..=4096), spawned on one runtime and sharing its pool; they
    /// pull operations from one seeded trace, so a seed gives the same operations whatever the
    /// count (only their interleaving differs) [default: 32]. prefetch: each task prefetches
    /// batches of its own (no page in two tasks' batches at once; --batch is at most (--pages -
    /// --cap) / N) and page requests/s is all tasks' pages [default: 1]. seqwrite runs one task
    /// (it times one flush_all, which already keeps several writes in flight), and so does
    /// --trace (a replay in order gives exact miss counts, which concurrency would make vary):
    /// only 1 is accepted with --trace.
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_TASKS)))]
    pub tasks: Option<u32>,

    /// OS threads (1..=256), each a runtime with its own pool of --cap/N frames over its own
    /// file of --pages/N pages, running its own seeded trace (--ops/N operations) with --tasks
    /// tasks. Throughput is their sum, latency their merged histograms.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_THREADS)))]
    pub threads: u32,

    /// Eviction policy of jdb's pool: lru, clock, sieve or s3fifo.
    #[arg(long, value_name = "NAME", default_value = "lru", value_parser = parse_policy)]
    pub policy: PolicyKind,

    /// Replay this trace of page ids (one a line; blank lines and # comments allowed) through
    /// an empty pool with `read`, one task, in order, once: the miss count is exact. Ids must be
    /// below --pages. With --compare, every policy runs it (one pool each, same --cap) instead
    /// of the baselines.
    #[arg(long, value_name = "FILE",
          conflicts_with_all = ["workload", "ops", "duration", "theta", "write_ratio", "batch",
                                "seed"])]
    pub trace: Option<PathBuf>,

    /// Before each timed run, read the first min(--cap, --pages) pages of each thread's file
    /// through the system (with its tasks; neither timed nor counted), so that with --cap at
    /// least --pages every operation of the run is a hit. Point workloads only.
    #[arg(long, conflicts_with = "trace")]
    pub warm: bool,

    /// Run jdb's background writer during the run (`BackgroundWriter::for_cap(cap)` for each
    /// pool): it keeps the cold end of the eviction order clean so that misses rarely wait for
    /// a dirty victim's write-back.
    #[arg(long)]
    pub bgwriter: bool,

    /// Open jdb's pool with a doublewrite area (`BufferPool::open_with_doublewrite`): every run of
    /// pages is written and synced to `PATH.dw` (next to the data file, created if missing;
    /// removed with the temporary directory, kept with --file) before its home write.
    #[arg(long)]
    pub doublewrite: bool,

    /// Open jdb's pool with its frames in ordinary 4 KiB pages (`PoolOptions::huge_pages(false)`)
    /// rather than asking for transparent huge pages, to measure what they change.
    #[arg(long)]
    pub no_huge_pages: bool,

    /// Internal: run the OS baseline alone in this cgroup and print its runs (the child process
    /// of --compare).
    #[arg(long, hide = true, value_name = "CGROUP", requires = "file")]
    pub internal_os_baseline: Option<PathBuf>,

    /// Draw the latency distribution of the run into this SVG file: latency (log scale) against
    /// percentile (50, 90, 99, 99.9, 99.99 %: log scale of 1/(1-p), as HdrHistogram plots do),
    /// one line per system (jdb, and each baseline or policy with --compare).
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,

    /// Print one JSON object on stdout instead of the human-readable report.
    #[arg(long)]
    pub json: bool,

    /// Also run the same trace on two baselines, with the same tasks and threads (the OS page
    /// cache through io_uring buffered reads and writes, and an `lru` crate cache of the same
    /// capacity over O_DIRECT) and print jdb ÷ baseline. The OS baseline gets the pool's memory
    /// (plus 16 MiB for its process) by running in a child cgroup where one can be made (v2's
    /// memory.max, else v1's memory.limit_in_bytes; needs root, or a delegated cgroup);
    /// elsewhere its headline says "unequal memory" (set JDB_NO_CGROUP to skip the cgroup). With
    /// --trace: every eviction policy.
    #[arg(long)]
    pub compare: bool,
}

/// Access patterns of `jdb bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadKind {
    /// Zipf-distributed point reads and writes, with a 16-page sequential scan every 64 ops.
    Mixed,
    /// Zipf-distributed point reads and writes (hot pages scattered over the file).
    Zipf,
    /// Uniformly random point reads and writes.
    Uniform,
    /// Sequential reads of the whole file in groups of 16 pages (`read_group`), wrapping around.
    /// With --cap well below --pages every group is read from the file (the first pass leaves
    /// its first --cap pages in the pool, and later groups evict each other).
    Scan,
    /// Random reads, read only: every page once per pass, in a new seeded random order each
    /// pass. With --cap well below --pages every read is a miss: one 4 KiB read at a time.
    Randread,
    /// Batched random reads: each operation is one `prefetch` of --batch distinct random pages
    /// that are not in the pool (all are read, many reads in flight), by each of --tasks tasks
    /// [default: 1]. Only the prefetch calls are timed; pages_per_sec is the throughput.
    Prefetch,
    /// Sequential writes: each operation dirties the next min(--cap, --pages) contiguous pages
    /// (untimed; pages not in the pool are read first) and times `flush_all`, which writes them
    /// in runs of 16 pages (64 KiB). The file stays a valid bench file.
    Seqwrite,
    /// A replay of --trace (not a --workload value).
    #[value(skip)]
    Trace,
}

impl WorkloadKind {
    /// Whether the workload is a batch of pages per operation, run on jdb's pool alone
    /// (prefetch, seqwrite) rather than a trace of single operations.
    pub fn is_batched(self) -> bool {
        matches!(self, Self::Prefetch | Self::Seqwrite)
    }

    /// Tasks per thread for `--tasks given`: 1 for seqwrite (one `flush_all` at a time, which
    /// keeps several writes in flight by itself) and for a trace (replayed in order, so that its
    /// misses are exact); prefetch takes `given` but defaults to 1 (each operation is already
    /// many reads in flight).
    pub fn tasks(self, given: Option<u32>) -> u32 {
        match self {
            Self::Seqwrite | Self::Trace => 1,
            Self::Prefetch => given.unwrap_or(1),
            _ => given.unwrap_or(DEFAULT_TASKS),
        }
    }

    /// Why the workload runs one task whatever --tasks says, if it does.
    pub fn one_task_reason(self) -> Option<&'static str> {
        match self {
            Self::Seqwrite => Some(
                "seqwrite runs one task: it times one flush_all, which keeps several writes in \
                 flight by itself",
            ),
            Self::Trace => {
                Some("a trace replays with one task, in order, so that its misses are exact")
            }
            _ => None,
        }
    }

    /// The name --workload takes.
    pub fn name(self) -> String {
        self.to_possible_value()
            .map_or_else(|| format!("{self:?}"), |v| v.get_name().to_string())
    }
}

impl BenchArgs {
    /// The workload: --workload, or [`WorkloadKind::Trace`] with --trace.
    pub fn workload(&self) -> WorkloadKind {
        if self.trace.is_some() {
            WorkloadKind::Trace
        } else {
            self.workload
        }
    }

    /// Pool capacity in pages, from --cap or --memory.
    pub fn cap(&self) -> anyhow::Result<usize> {
        let cap = match (self.cap, self.memory) {
            (Some(cap), _) => cap,
            (None, Some(bytes)) => bytes / PAGE_SIZE as u64,
            (None, None) => DEFAULT_CAP as u64,
        };
        anyhow::ensure!(
            cap > 0,
            "--memory must be at least one page ({PAGE_SIZE} bytes)"
        );
        Ok(usize::try_from(cap)?)
    }

    /// The time limit of a run: --duration, else 10 s unless --ops (or --trace) is given.
    pub fn duration_limit(&self) -> Option<Duration> {
        if self.trace.is_some() {
            return None;
        }
        match (self.duration, self.ops) {
            (Some(d), _) => Some(d),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_DURATION),
        }
    }
}

/// Splits `12.5MiB` into `12.5` and `MiB`; `example` completes the error message.
fn number_and_unit<'t>(text: &'t str, example: &str) -> Result<(f64, &'t str), String> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number = number
        .parse()
        .map_err(|_| format!("`{text}` is not {example}"))?;
    Ok((number, unit.trim()))
}

/// `64MiB`, `1.5GiB`, `512K`, `4096`, `100MB` as bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = number_and_unit(text, "a size like 64MiB, 1GiB or 4096")?;
    let scale: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024.0 * 1024.0,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        other => return Err(format!("unknown size unit `{other}` (use KiB, MiB, GiB)")),
    };
    let bytes = number * scale;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("`{text}` is too large"));
    }
    Ok(bytes as u64)
}

/// `10s`, `500ms`, `1.5m`, `2` (seconds) as a duration.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = number_and_unit(text, "a duration like 10s, 500ms or 1m")?;
    let seconds = match unit {
        "" | "s" => number,
        "ms" => number / 1e3,
        "us" | "µs" => number / 1e6,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        other => return Err(format!("unknown time unit `{other}` (use ms, s, m)")),
    };
    let duration = Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())?;
    if duration.is_zero() {
        return Err("the duration must be more than 0".into());
    }
    Ok(duration)
}

/// A policy name, as [`PolicyKind`]'s `FromStr` reads it.
pub fn parse_policy(text: &str) -> Result<PolicyKind, String> {
    text.trim()
        .parse()
        .map_err(|e: jdb_page::UnknownPolicy| e.to_string())
}

/// A fraction in `0..=1`.
pub fn parse_ratio(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("`{text}` is not a number from 0 to 1")),
    }
}

/// A zipf exponent: finite and not negative.
pub fn parse_theta(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(t) if (0.0..=100.0).contains(&t) => Ok(t),
        _ => Err(format!("`{text}` is not a zipf exponent from 0 to 100")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("100MB"), Ok(100_000_000));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn policies() {
        for kind in PolicyKind::ALL {
            assert_eq!(parse_policy(kind.name()), Ok(kind));
        }
        let err = parse_policy("fifo").unwrap_err();
        assert!(err.contains("lru, clock, sieve or s3fifo"), "{err}");
    }

    #[test]
    fn ratios_and_theta() {
        assert_eq!(parse_ratio("0.1"), Ok(0.1));
        assert!(parse_ratio("1.5").is_err());
        assert!(parse_ratio("nan").is_err());
        assert_eq!(parse_theta("0.99"), Ok(0.99));
        assert!(parse_theta("-1").is_err());
        assert!(parse_theta("inf").is_err());
    }
}
