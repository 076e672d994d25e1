//! `jdb bench`: makes (or reuses) a data file, runs a seeded workload on jdb's buffer pool and,
//! with `--compare`, on two baselines, then prints a report. The batched workloads (prefetch,
//! seqwrite) run on jdb's pool alone.
//!
//! Order with `--compare`: jdb, then the `lru` baseline, then the OS page cache. Each starts
//! cold. Running jdb first gives any warming of caches below the OS (a VM host's cache, the
//! device's) to the baselines, not to jdb.

mod args;
mod baseline;
mod batched;
mod interrupt;
mod load;
mod report;
mod run;
mod workload;

use std::{io::IsTerminal, path::PathBuf, process::ExitCode};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use jdb_fs::PAGE_SIZE;

pub use args::BenchArgs;

use self::{
    args::WorkloadKind,
    baseline::{LruBaseline, OsCache},
    batched::run_batched,
    interrupt::RemoveOnSignal,
    report::{Config, Report, RunResult},
    run::{JdbCache, Limits, run_trace},
    workload::{Trace, WorkloadSpec},
};
use crate::output;

/// Runs `jdb bench`.
pub async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let asked = args.cap()?;
    // A pool larger than the file would only allocate memory no page can use.
    let cap = asked.min(args.pages as usize);
    let spec = WorkloadSpec {
        kind: args.workload,
        pages: args.pages,
        theta: args.theta,
        write_ratio: args.write_ratio,
        seed: args.seed,
        batch: batch_size(&args, cap)?,
        window: u32::try_from(cap).unwrap_or(u32::MAX).min(args.pages),
    };
    // Bad parameters fail here, before any file is made.
    if args.workload.is_batched() {
        anyhow::ensure!(
            !args.compare,
            "--compare does not apply to --workload {}: the baselines have no batched I/O",
            spec.kind.name()
        );
    } else {
        Trace::new(spec)?;
    }
    let limits = Limits {
        ops: args.ops,
        duration: args.duration_limit(),
    };

    let (temp_dir, path) = match &args.file {
        Some(path) => (None, path.clone()),
        None => {
            let on_signal = RemoveOnSignal::install()?;
            let make = || {
                tempfile::Builder::new()
                    .prefix(".jdb-bench-")
                    .tempdir_in(".")
                    .context("creating a temporary directory in the current directory")
            };
            let dir = on_signal.create(make, |dir| dir.path())?;
            let path = dir.path().join("bench.jdb");
            (Some(dir), path)
        }
    };
    let load = load::prepare(&path, args.pages).await?;

    let (mut jdb, direct_io) = JdbCache::open(&path, cap).await?;
    let description = format!("jdb BufferPool of {cap} pages");
    let jdb_result = if args.workload.is_batched() {
        run_batched(jdb.pool(), description, spec, limits).await?
    } else {
        run_trace(&mut jdb, "jdb", description, spec, limits).await?
    };
    jdb.close().await?;

    let mut baselines = Vec::new();
    if args.compare {
        baselines.push(run_lru(&path, cap, spec, limits).await?);
        baselines.push(run_os(&path, spec, limits).await?);
    }

    let report = Report {
        config: Config {
            file: display_path(&path),
            temporary: temp_dir.is_some(),
            pages: args.pages,
            cap,
            workload: args.workload,
            workload_description: spec.describe(),
            theta: args.theta,
            write_ratio: args.write_ratio,
            batch: match args.workload {
                WorkloadKind::Prefetch => Some(spec.batch),
                WorkloadKind::Seqwrite => Some(spec.window),
                _ => None,
            },
            seed: args.seed,
            duration_s: limits.duration.map(|d| d.as_secs_f64()),
            ops_limit: limits.ops,
            direct_io,
        },
        load,
        ratios: Report::ratios(&jdb_result, &baselines),
        notes: notes(&args, asked, cap, direct_io),
        jdb: jdb_result,
        baselines,
    };
    if let Some(dir) = temp_dir {
        dir.close()
            .context("removing the temporary bench directory")?;
    }
    output::print(&if args.json {
        report.to_json()?
    } else {
        report.to_text()
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn run_lru(
    path: &std::path::Path,
    cap: usize,
    spec: WorkloadSpec,
    limits: Limits,
) -> anyhow::Result<RunResult> {
    let mut lru = LruBaseline::open(path, cap).await?;
    let description = format!("lru::LruCache of {cap} pages over O_DIRECT, one I/O per page");
    run_trace(&mut lru, "lru", description, spec, limits).await
}

async fn run_os(
    path: &std::path::Path,
    spec: WorkloadSpec,
    limits: Limits,
) -> anyhow::Result<RunResult> {
    let mut os = OsCache::open(path)?;
    let description =
        "OS page cache: buffered pread/pwrite of 4 KiB pages, every read verified".to_string();
    let mut result = run_trace(&mut os, "os", description, spec, limits).await?;
    // The kernel writes the dirty pages during fdatasync; /proc/self/io does not see that.
    result.flush.pages = None;
    Ok(result)
}

/// Pages per prefetch operation: --batch, at most --pages minus --cap so that every page of a
/// batch can be one the pool does not hold.
fn batch_size(args: &BenchArgs, cap: usize) -> anyhow::Result<u32> {
    if args.workload != WorkloadKind::Prefetch {
        return Ok(u32::try_from(args.batch).unwrap_or(u32::MAX));
    }
    let uncached = u64::from(args.pages).saturating_sub(cap as u64);
    anyhow::ensure!(
        uncached > 0,
        "--workload prefetch needs a file larger than the pool (--pages {} is not more than \
         --cap {cap}): each batch reads pages the pool does not hold",
        args.pages
    );
    Ok(u32::try_from(args.batch.min(uncached)).unwrap_or(u32::MAX))
}

/// What a reader of the numbers should know; `asked` is the pool size --cap or --memory asked
/// for, `cap` the one used.
fn notes(args: &BenchArgs, asked: usize, cap: usize, direct_io: bool) -> Vec<String> {
    let mut notes = vec![
        "throughput and latency exclude the final flush + fdatasync, timed separately; latency \
         is per operation (a scan operation reads a whole group, a prefetch or seqwrite \
         operation a whole batch)"
            .to_string(),
    ];
    if cap < asked {
        let option = match (args.cap, args.memory) {
            (Some(_), _) => "--cap",
            (None, Some(_)) => "--memory",
            (None, None) => "the default pool size",
        };
        notes.push(format!(
            "pool clamped to the file's {cap} pages ({:.1} MiB): {option} asked for {asked} pages \
             ({:.1} MiB), more than the file has",
            output::mib(cap as u64 * PAGE_SIZE as u64),
            output::mib(asked as u64 * PAGE_SIZE as u64),
        ));
    }
    match args.workload {
        WorkloadKind::Prefetch => notes.push(
            "prefetch: only the prefetch calls are timed (choosing pages not in the pool is \
             not); every page of a batch is read, adjacent ids in one request; page requests/s \
             is pages prefetched per second"
                .to_string(),
        ),
        WorkloadKind::Seqwrite => notes.push(
            "seqwrite: only flush_all is timed (bringing the window in and dirtying it is \
             not); page requests/s is pages written per second; nothing is synced until the \
             final flush + fdatasync"
                .to_string(),
        ),
        _ => {}
    }
    if !direct_io {
        notes.push(
            "the filesystem refused O_DIRECT: jdb (and the lru baseline) ran on buffered I/O, \
             so the OS page cache served some of their misses"
                .to_string(),
        );
    }
    if args.compare {
        notes.push(
            "order: jdb, lru, os, each started cold and ran the same seeded operations; later \
             runs may gain from caches below the OS (VM host, device)"
                .to_string(),
        );
        let available = available_memory_mib()
            .map_or(String::new(), |m| format!(" ({m:.0} MiB available now)"));
        notes.push(format!(
            "os = the OS page cache, NOT limited to the pool size: it may cache the whole file in \
             free memory{available}; its hit ratio and MiB/s are estimated from /proc/self/io \
             (device bytes), its I/Os are pread/pwrite calls, and dirty pages are written by \
             the kernel"
        ));
    }
    notes
}

/// `MemAvailable` from `/proc/meminfo`, in MiB.
fn available_memory_mib() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib as f64 / 1024.0)
}

/// `path` without `.` components and, when it is inside the current directory, relative to it.
fn display_path(path: &std::path::Path) -> String {
    let path: PathBuf = path.components().collect();
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(PathBuf::from));
    relative.unwrap_or(path).display().to_string()
}

/// A progress bar on stderr, or a hidden one when stderr is not a terminal.
pub fn progress_bar(prefix: &'static str, len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("{prefix:>8} [{bar:40}] {percent:>3}% {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    ProgressBar::new(len).with_style(style).with_prefix(prefix)
}

/// Opens an existing data file read-write, with Direct I/O where the filesystem allows it (never
/// creates one: the load step does that).
async fn open_existing(path: &std::path::Path) -> jdb_fs::Result<jdb_fs::File> {
    jdb_fs::File::options()
        .read(true)
        .write(true)
        .direct(jdb_fs::Direct::Auto)
        .open(path)
        .await
}
