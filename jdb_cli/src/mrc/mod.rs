//! `jdb mrc`: the miss-ratio curve of a workload, for choosing a pool size and a policy. For each
//! policy and pool size, the misses of a pool of that size that starts empty and serves the
//! trace's requests one at a time, in order (what `jdb bench --trace` measures on a real pool).
//!
//! - LRU is exact at every size from one pass over the trace (stack distances, [`stack`]).
//! - The other policies run [`jdb_page::Simulator`] (the pool's own policy code) at each size,
//!   one job per (policy, size) over the cores ([`curves`]).
//! - `--sample RATE` simulates only the requests of a hashed sample of the pages, with caches
//!   scaled by RATE, and states an error bound with each point ([`sample`]).
//!
//! Output: a table, or `--json`; `--svg FILE` / `--png FILE` draw the curves ([`report`]).

mod curves;
mod report;
mod sample;
mod stack;

use std::{path::PathBuf, process::ExitCode, sync::Arc, time::Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use jdb_layout::PageId;
use jdb_page::PolicyKind;

use crate::{
    bench::{
        args::{WorkloadKind, parse_policy, parse_theta},
        replay::read_trace,
        workload::{Op, SCAN_EVERY, SCAN_GROUP, Trace, WorkloadSpec},
    },
    output,
    plot::Picture,
};

use self::{curves::compute, report::Report, sample::Sampler};

/// Default number of sizes of a curve.
const DEFAULT_SIZES: usize = 12;
/// The smallest default size is the working set divided by this (at least 1 page).
const SMALLEST_FRACTION: usize = 1000;
/// Most requests a trace may have (the stack algorithm counts times in 32 bits).
const MAX_REQUESTS: usize = i32::MAX as usize;

/// Options of `jdb mrc`.
#[derive(Debug, Clone, Args)]
pub struct MrcArgs {
    /// The trace: one page id a line, blank lines and # comments allowed (the format of `jdb
    /// bench --trace`). Without it, a seeded workload of `jdb bench` (--workload).
    #[arg(long, value_name = "FILE",
          conflicts_with_all = ["workload", "pages", "theta", "ops", "seed"])]
    pub trace: Option<PathBuf>,

    /// The access pattern, as `jdb bench --workload` generates it with the same --pages, --theta
    /// and --seed (and its default --write-ratio 0.1, which only decides which requests write):
    /// the same page ids in the same order. A scan of 16 pages is 16 requests.
    #[arg(long, value_enum, default_value_t = MrcWorkload::Zipf)]
    pub workload: MrcWorkload,

    /// Pages in the workload's file.
    #[arg(long, value_name = "N", default_value_t = 65536,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(u32::MAX - 2)))]
    pub pages: u32,

    /// Skew of the zipf distribution (zipf and mixed).
    #[arg(long, default_value_t = 0.99, value_parser = parse_theta)]
    pub theta: f64,

    /// Page requests in the workload's trace.
    #[arg(long, value_name = "N", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1..=MAX_REQUESTS as u64))]
    pub ops: u64,

    /// Seed of the workload.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// Eviction policies, comma-separated: lru, clock, sieve, s3fifo [default: all four].
    #[arg(long, value_name = "NAMES", value_delimiter = ',', value_parser = parse_policy)]
    pub policy: Vec<PolicyKind>,

    /// Pool sizes in pages, comma-separated [default: 12 sizes, log-spaced from the working set
    /// / 1000 to the working set (the distinct pages of the trace)].
    #[arg(long, value_name = "N,N,...", value_delimiter = ',',
          value_parser = clap::value_parser!(u64).range(1..=u64::from(u32::MAX - 2)))]
    pub sizes: Vec<u64>,

    /// Simulate a sample of about RATE of the pages (0 < RATE <= 1) with caches of
    /// round(size * RATE) pages, and scale the misses by 1/RATE (SHARDS); each point states an
    /// error bound (4 standard errors of the page sampling). Points whose scaled cache would be under
    /// 100 pages are simulated exactly, and LRU is exact (its curve is the sample's control).
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub sample: Option<f64>,

    /// Print one JSON object instead of the table (schema: docs/json.md).
    #[arg(long)]
    pub json: bool,

    /// Draw the curves (miss ratio against pool size, log scale) into this SVG file.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,

    /// Draw the curves into this PNG file.
    #[arg(long, value_name = "FILE")]
    pub png: Option<PathBuf>,

    /// The pool size to mark on the picture and in the table (added to the sizes) [default: the
    /// median size].
    #[arg(long, value_name = "SIZE",
          value_parser = clap::value_parser!(u64).range(1..=u64::from(u32::MAX - 2)))]
    pub mark: Option<u64>,
}

/// The workloads `jdb mrc` can generate: `jdb bench`'s point and scan workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MrcWorkload {
    /// Zipf-distributed requests (hot pages scattered over the file).
    Zipf,
    /// Uniformly random requests.
    Uniform,
    /// Zipf requests with a 16-page sequential scan every 64 operations.
    Mixed,
    /// Sequential 16-page groups over the whole file, wrapping around.
    Scan,
    /// Every page once per pass, in a new random order each pass.
    Randread,
}

impl MrcWorkload {
    fn kind(self) -> WorkloadKind {
        match self {
            Self::Zipf => WorkloadKind::Zipf,
            Self::Uniform => WorkloadKind::Uniform,
            Self::Mixed => WorkloadKind::Mixed,
            Self::Scan => WorkloadKind::Scan,
            Self::Randread => WorkloadKind::Randread,
        }
    }
}

/// `0 < RATE <= 1`.
fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(r) if r > 0.0 && r <= 1.0 => Ok(r),
        _ => Err(format!(
            "`{text}` is not a sampling rate above 0 and at most 1"
        )),
    }
}

/// Where the requests come from, in words, and the requests.
struct Source {
    description: String,
    ids: Arc<[PageId]>,
}

impl Source {
    fn of(args: &MrcArgs) -> anyhow::Result<Self> {
        if let Some(path) = &args.trace {
            let ids = read_trace(path, None)?;
            if ids.len() > MAX_REQUESTS {
                bail!("{}: more than {MAX_REQUESTS} requests", path.display());
            }
            return Ok(Self {
                description: path.display().to_string(),
                ids,
            });
        }
        let spec = WorkloadSpec {
            kind: args.workload.kind(),
            pages: args.pages,
            theta: args.theta,
            write_ratio: crate::bench::args::DEFAULT_WRITE_RATIO,
            seed: args.seed,
            batch: 0,
            window: 0,
        };
        let mut trace = Trace::new(spec)?;
        let wanted = usize::try_from(args.ops)?;
        let mut ids = Vec::with_capacity(wanted);
        while ids.len() < wanted {
            match trace.next_op() {
                Op::Read(id) | Op::Write(id) => ids.push(id),
                Op::Scan { first, n } => {
                    let room = (wanted - ids.len()).min(n as usize) as u32;
                    ids.extend(first..first + room);
                }
            }
        }
        let description = match spec.kind {
            WorkloadKind::Mixed => format!(
                "--workload mixed (zipf theta {}, a {SCAN_GROUP}-page scan every {SCAN_EVERY} \
                 ops) over {} pages, seed {}",
                args.theta, args.pages, args.seed
            ),
            WorkloadKind::Zipf => format!(
                "--workload zipf (theta {}) over {} pages, seed {}",
                args.theta, args.pages, args.seed
            ),
            _ => format!(
                "--workload {} over {} pages, seed {}",
                spec.kind.name(),
                args.pages,
                args.seed
            ),
        };
        Ok(Self {
            description,
            ids: ids.into(),
        })
    }
}

/// Runs `jdb mrc`.
pub fn run(args: MrcArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let source = Source::of(&args)?;
    let mut policies: Vec<PolicyKind> = Vec::new();
    for kind in if args.policy.is_empty() {
        PolicyKind::ALL.to_vec()
    } else {
        args.policy.clone()
    } {
        if !policies.contains(&kind) {
            policies.push(kind);
        }
    }
    let working_set = curves::distinct_pages(&source.ids);
    let mut sizes: Vec<usize> = if args.sizes.is_empty() {
        let ws = working_set as usize;
        curves::log_spaced((ws / SMALLEST_FRACTION).max(1), ws, DEFAULT_SIZES)
    } else {
        args.sizes.iter().map(|&s| s as usize).collect()
    };
    // The marked size is one of the curve's points.
    sizes.extend(args.mark.map(|m| m as usize));
    sizes.sort_unstable();
    sizes.dedup();
    let mark = match args.mark {
        Some(mark) => mark as usize,
        None => sizes[sizes.len() / 2],
    };
    let sampler = args.sample.map(Sampler::new);
    let curves = compute(&source.ids, &policies, &sizes, sampler);
    let report = Report {
        source: source.description,
        working_set,
        sample_rate: args.sample,
        mark,
        curves,
        secs: started.elapsed().as_secs_f64(),
    };
    for picture in args
        .svg
        .iter()
        .map(|p| Picture::Svg(p.clone()))
        .chain(args.png.iter().map(|p| Picture::Png(p.clone())))
    {
        crate::plot::draw(&report.chart(), &picture).context("drawing the curves")?;
    }
    output::print(&if args.json {
        report.to_json()?
    } else {
        report.to_text()
    })?;
    Ok(ExitCode::SUCCESS)
}
