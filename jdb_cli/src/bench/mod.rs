//! `jdb bench`: makes (or reuses) a data file, runs a seeded workload on jdb's buffer pool and,
//! with `--compare`, on two baselines, then prints a report. Every point workload runs with
//! `--tasks` concurrent tasks per thread and `--threads` threads (see [`threads`]); the batched
//! workloads run on jdb's pool alone (see [`batched`]), prefetch with `--tasks` tasks, seqwrite
//! with one. `--trace` replays a file of page ids instead, with one task (see [`replay`]).
//!
//! Order with `--compare`: jdb, then the `lru` baseline, then the OS page cache. Each starts
//! cold. Running jdb first gives any warming of caches below the OS (a VM host's cache, the
//! device's) to the baselines, not to jdb.

pub(crate) mod args;
mod batched;
mod cgroup;
mod counters;
mod interrupt;
mod load;
mod locks;
mod lru_cache;
mod os_cache;
mod os_child;
pub(crate) mod replay;
mod report;
mod run;
mod threads;
pub(crate) mod workload;

use std::{
    cell::Cell,
    ffi::OsString,
    io::IsTerminal,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use jdb_fs::PAGE_SIZE;
use jdb_page::PolicyKind;

pub use args::BenchArgs;

use self::{
    args::WorkloadKind,
    interrupt::RemoveOnSignal,
    load::LoadReport,
    report::{Config, MemoryParity, Report, RunResult},
    run::Limits,
    threads::{Shard, System, Work, merge, share},
    workload::{Trace, WorkloadSpec},
};
use crate::output;

/// Room for the OS baseline's process itself (its heap, buffers, io_uring rings) in its cgroup,
/// above the pool's size.
const OS_CGROUP_ALLOWANCE: u64 = 16 << 20;

/// Runs `jdb bench`.
pub async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if let Some(cgroup) = args.internal_os_baseline.clone() {
        return os_baseline_child(&args, &cgroup).await;
    }
    let asked = args.cap()?;
    // A pool larger than the file would only allocate memory no page can use.
    let cap = asked.min(args.pages as usize);
    let kind = args.workload();
    let threads = args.threads;
    let tasks = kind.tasks(args.tasks);
    check_concurrency(&args, kind, cap)?;
    // A bad trace fails here, before any file is made.
    let trace_ids = match &args.trace {
        Some(path) => Some(replay::read_trace(path, Some(args.pages))?),
        None => None,
    };
    let limits = Limits {
        ops: args.ops,
        duration: args.duration_limit(),
    };
    let spec = WorkloadSpec {
        kind,
        pages: args.pages,
        theta: args.theta,
        write_ratio: args.write_ratio,
        seed: args.seed,
        batch: 0,
        window: 0,
    };
    let (temp_dir, base) = match &args.file {
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
    let shards = shards(&args, &base, cap, spec, limits)?;
    let mut loads = Vec::with_capacity(shards.len());
    for shard in &shards {
        loads.push(load::prepare(&shard.path, shard.pages).await?);
    }
    let load = LoadReport::total(&loads, &shards.iter().map(|s| s.pages).collect::<Vec<_>>());

    let policy = args.policy;
    let setup = run::JdbSetup {
        doublewrite: args.doublewrite,
        bgwriter: args.bgwriter,
        no_huge_pages: args.no_huge_pages,
    };
    let mut os_parity: Option<MemoryParity> = None;
    let (jdb, baselines, policies, direct_io) = match &trace_ids {
        Some(ids) => {
            let chosen: Vec<PolicyKind> = if args.compare {
                PolicyKind::ALL.to_vec()
            } else {
                vec![policy]
            };
            let (mut runs, direct_io) =
                replay::replay(&shards[0].path, cap, ids, &chosen, setup).await?;
            let at = chosen.iter().position(|&p| p == policy).unwrap_or(0);
            let jdb = runs[at].clone();
            if !args.compare {
                runs.clear();
            }
            (jdb, Vec::new(), runs, direct_io)
        }
        None => {
            let mut systems = vec![System::Jdb];
            let mut cgroup = None;
            if args.compare {
                systems.push(System::Lru);
                let (parity, made) = os_memory(cap, args.pages);
                os_parity = Some(parity);
                cgroup = made;
                if cgroup.is_none() {
                    systems.push(System::Os);
                }
            }
            let work = Work {
                systems: systems.clone(),
                tasks,
                policy,
                warm: args.warm,
                setup,
            };
            let outcome = threads::run_all(&shards, &work).await?;
            let mut results = Vec::with_capacity(systems.len() + 1);
            for (system, runs) in systems.into_iter().zip(outcome.runs) {
                results.push(merge_system(system, policy, &shards, runs)?);
            }
            if let Some(cgroup) = cgroup {
                let runs = os_child::run(cgroup.dir(), &base, temp_dir.is_some())?;
                results.push(merge_system(System::Os, policy, &shards, runs)?);
                if let Some(parity) = &mut os_parity {
                    parity.cgroup_peak_bytes = cgroup.peak();
                }
            }
            let jdb = results.remove(0);
            (jdb, results, Vec::new(), outcome.direct_io)
        }
    };
    let parity: Vec<MemoryParity> = baselines
        .iter()
        .map(|b| match b.system {
            "os" => os_parity
                .clone()
                .unwrap_or_else(|| MemoryParity::same_capacity(cap)),
            _ => MemoryParity::same_capacity(cap),
        })
        .collect();

    let mut notes = notes(&args, asked, cap, tasks, direct_io, os_parity.as_ref());
    if args.doublewrite {
        notes.push(doublewrite_note(&shards[0].path).await);
    }
    let report = Report {
        config: Config {
            file: display_path(&base),
            files: shards.iter().map(|s| display_path(&s.path)).collect(),
            temporary: temp_dir.is_some(),
            pages: args.pages,
            cap,
            tasks,
            threads,
            policy: policy.name(),
            trace: args.trace.as_deref().map(display_path),
            workload: kind,
            workload_description: shards[0].spec.describe(),
            theta: args.theta,
            write_ratio: args.write_ratio,
            batch: match kind {
                WorkloadKind::Prefetch => Some(shards[0].spec.batch),
                WorkloadKind::Seqwrite => Some(shards[0].spec.window),
                _ => None,
            },
            seed: args.seed,
            duration_s: limits.duration.map(|d| d.as_secs_f64()),
            ops_limit: limits.ops,
            direct_io,
            warm: args.warm,
            bgwriter: args.bgwriter,
            doublewrite: args.doublewrite,
            huge_pages: !args.no_huge_pages,
        },
        load,
        ratios: Report::ratios(&jdb, &baselines, &parity),
        notes,
        jdb,
        baselines,
        policies,
    };
    if let Some(dir) = temp_dir {
        dir.close()
            .context("removing the temporary bench directory")?;
    }
    if let Some(svg) = &args.svg {
        crate::plot::draw(
            &report.latency_chart(),
            &crate::plot::Picture::Svg(svg.clone()),
        )
        .context("drawing the latency distribution")?;
    }
    output::print(&if args.json {
        report.to_json()?
    } else {
        report.to_text()
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Refuses --tasks, --threads and --compare where they do not apply or cannot be split.
fn check_concurrency(args: &BenchArgs, kind: WorkloadKind, cap: usize) -> anyhow::Result<()> {
    let threads = args.threads;
    if kind == WorkloadKind::Trace {
        if let Some(tasks) = args.tasks.filter(|&t| t != 1) {
            anyhow::bail!(
                "--trace replays with one task, in trace order (so the misses are exact): \
                 --tasks {tasks} does not apply"
            );
        }
        anyhow::ensure!(
            threads == 1,
            "--trace replays through one pool: --threads {threads} does not apply"
        );
    }
    if kind.is_batched() {
        anyhow::ensure!(
            !args.warm,
            "--warm does not apply to --workload {}: it needs pages the pool does not hold or \
             brings its own in",
            kind.name()
        );
        anyhow::ensure!(
            !args.compare,
            "--compare does not apply to --workload {}: the baselines have no batched I/O",
            kind.name()
        );
    }
    anyhow::ensure!(
        args.pages >= threads,
        "--threads {threads} needs a page per thread at least (--pages {})",
        args.pages
    );
    anyhow::ensure!(
        cap >= threads as usize,
        "--threads {threads} needs a frame per thread at least (a pool of {cap} pages)"
    );
    if let Some(ops) = args.ops {
        anyhow::ensure!(
            ops >= u64::from(threads),
            "--threads {threads} needs an operation per thread at least (--ops {ops})"
        );
    }
    Ok(())
}

/// Each thread's part of the data: `base` itself for one thread, else `base.0 .. base.{N-1}`,
/// with the pages, frames and operations shared out, and a workload of its own. Bad workload
/// parameters fail here, before any file is made.
fn shards(
    args: &BenchArgs,
    base: &Path,
    cap: usize,
    spec: WorkloadSpec,
    limits: Limits,
) -> anyhow::Result<Vec<Shard>> {
    let threads = args.threads;
    (0..threads)
        .map(|i| {
            let pages = share(u64::from(args.pages), threads, i) as u32;
            let cap = share(cap as u64, threads, i) as usize;
            let path = if threads == 1 {
                base.to_path_buf()
            } else {
                let mut name = OsString::from(base.as_os_str());
                name.push(format!(".{i}"));
                PathBuf::from(name)
            };
            let batch = batch_size(args, pages, cap)?;
            let window = u32::try_from(cap).unwrap_or(u32::MAX).min(pages);
            let spec = spec.shard(i, pages, batch, window);
            if !spec.kind.is_batched() && spec.kind != WorkloadKind::Trace {
                Trace::new(spec)?;
            }
            let limits = Limits {
                ops: limits.ops.map(|ops| share(ops, threads, i)),
                ..limits
            };
            Ok(Shard {
                path,
                pages,
                cap,
                spec,
                limits,
            })
        })
        .collect()
}

/// The threads' runs of `system` as one result, described.
fn merge_system(
    system: System,
    policy: PolicyKind,
    shards: &[Shard],
    runs: Vec<run::ShardRun>,
) -> anyhow::Result<RunResult> {
    let cap = shards.iter().map(|s| s.cap).sum::<usize>();
    let pools = match shards {
        [_] => format!("{cap} pages"),
        _ => format!(
            "{cap} pages ({} pools of {} pages, one per thread)",
            shards.len(),
            shards[0].cap
        ),
    };
    match system {
        System::Jdb => {
            let description = format!("jdb BufferPool of {pools}, {policy} eviction");
            merge("jdb", Some(policy.name()), description, runs)
        }
        System::Lru => {
            let description = format!(
                "lru::LruCache of {pools} in an Rc<RefCell<_>> over O_DIRECT, one I/O per page, \
                 no shared reads"
            );
            merge("lru", None, description, runs)
        }
        System::Os => {
            let description = "OS page cache: io_uring buffered reads/writes of 4 KiB pages, \
                               every read verified"
                .to_string();
            merge("os", None, description, runs)
        }
    }
}

/// Pages per prefetch operation of a thread with `pages` pages and `cap` frames: --batch, at
/// most `(pages - cap) / tasks` so that every page of each task's batch can be one the pool does
/// not hold and no other task's batch has.
fn batch_size(args: &BenchArgs, pages: u32, cap: usize) -> anyhow::Result<u32> {
    if args.workload() != WorkloadKind::Prefetch {
        return Ok(u32::try_from(args.batch).unwrap_or(u32::MAX));
    }
    let uncached = u64::from(pages).saturating_sub(cap as u64);
    let per_thread = if args.threads > 1 { " per thread" } else { "" };
    anyhow::ensure!(
        uncached > 0,
        "--workload prefetch needs a file larger than the pool ({pages} pages{per_thread} is not \
         more than {cap} frames): each batch reads pages the pool does not hold"
    );
    let tasks = u64::from(WorkloadKind::Prefetch.tasks(args.tasks));
    anyhow::ensure!(
        uncached >= tasks,
        "--workload prefetch --tasks {tasks} needs a page the pool does not hold per task \
         ({pages} pages{per_thread}, {cap} frames: {uncached} such pages)"
    );
    Ok(u32::try_from(args.batch.min(uncached / tasks)).unwrap_or(u32::MAX))
}

/// What a reader of the numbers should know; `asked` is the pool size --cap or --memory asked
/// for, `cap` the one used.
fn notes(
    args: &BenchArgs,
    asked: usize,
    cap: usize,
    tasks: u32,
    direct_io: bool,
    os: Option<&MemoryParity>,
) -> Vec<String> {
    let kind = args.workload();
    let mut notes = vec![
        "throughput and latency exclude the final flush + fdatasync, timed separately; latency \
         is per operation (a scan operation reads a whole group, a prefetch or seqwrite \
         operation a whole batch)"
            .to_string(),
    ];
    if kind == WorkloadKind::Seqwrite {
        let ignored = match args.tasks {
            Some(t) if t != 1 => format!(" (--tasks {t} does not apply)"),
            _ => String::new(),
        };
        notes.push(format!(
            "seqwrite: one task per thread{ignored}: it times one flush_all, which keeps up to \
             {} writes of up to {} pages in flight by itself (a second task would only flush \
             the first one's pages)",
            jdb_page::FLUSH_DEPTH,
            jdb_page::MAX_RUN,
        ));
    } else if kind == WorkloadKind::Prefetch {
        notes.push(format!(
            "prefetch: {tasks} task{} per thread, each prefetching batches of its own (no page in \
             two tasks' batches at once; a prefetch keeps up to {} reads in flight by itself)",
            if tasks == 1 { "" } else { "s" },
            jdb_page::PREFETCH_DEPTH,
        ));
    } else if kind != WorkloadKind::Trace {
        notes.push(format!(
            "{tasks} task{} per thread share each system's cache and take the operations of one \
             seeded trace in turn: the same seed gives the same operations, not the same \
             interleaving; a latency includes waiting for a latch or for another task's read",
            if tasks == 1 { "" } else { "s" }
        ));
    }
    if args.threads > 1 {
        notes.push(format!(
            "{n} threads, each a runtime with its own pool (--cap / {n} frames) over its own \
             file (--pages / {n} pages) and its own seeded trace (--ops / {n} operations); their \
             timed runs start together; throughput = all operations / the longest thread's run, \
             latency = the merged histograms",
            n = args.threads
        ));
    }
    if args.warm {
        notes.push(
            "--warm: before each timed run every system read the first min(--cap, --pages) \
             pages of each file (not timed, not counted): with --cap >= --pages every \
             operation hits"
                .to_string(),
        );
    }
    if kind == WorkloadKind::Trace {
        notes.push(
            "trace: every id read once with `read`, in order, one task, through a pool that \
             starts empty: misses are exact (compare them with a cache simulator's; several \
             tasks would make them vary from run to run)"
                .to_string(),
        );
    }
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
             is pages prefetched per second: all tasks' pages ÷ the longest task's timed calls"
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
    if args.compare && kind != WorkloadKind::Trace {
        notes.push(
            "lru = lru::LruCache shared by the tasks in an Rc<RefCell<_>>: a miss releases the \
             borrow while its read is in flight, two tasks missing one page both read it (no \
             shared reads), and a dirty victim is written back by the task that evicted it"
                .to_string(),
        );
        notes.push(
            "order: jdb, lru, os, each started cold and ran the same seeded operations; later \
             runs may gain from caches below the OS (VM host, device)"
                .to_string(),
        );
        let limit = match os {
            Some(p) if p.how == "cgroup" => format!(
                "held to the pool's memory: it ran in a child process in a cgroup v{} of {} = {} \
                 (the pool's {} + {} for the process){}",
                p.cgroup_version.unwrap_or(2),
                match p.cgroup_version {
                    Some(1) => cgroup::Version::V1.limit_file(),
                    _ => cgroup::Version::V2.limit_file(),
                },
                output::bytes(p.baseline_bytes.unwrap_or(0)),
                output::bytes(p.jdb_bytes),
                output::bytes(OS_CGROUP_ALLOWANCE),
                p.cgroup_peak_bytes.map_or(String::new(), |peak| format!(
                    ", peak {}",
                    output::bytes(peak)
                ))
            ),
            Some(p) if p.equal => "no larger than the pool: the whole file fits in it".to_string(),
            Some(p) => format!(
                "NOT limited to the pool size ({}): it may cache the whole file in free memory",
                p.reason.as_deref().unwrap_or("no cgroup")
            ),
            None => "not limited".to_string(),
        };
        notes.push(format!(
            "os = the OS page cache, {limit}; its hit ratio and MiB/s are estimated from \
             /proc/self/io (device bytes), its I/Os are io_uring buffered reads and writes (a \
             read holds a per-page lock shared, a write exclusively, or a read could see a \
             half-written page), and dirty pages are written by the kernel"
        ));
    }
    notes
}

/// The note of `--doublewrite`: what the area costs, and whether the device of the data file at
/// `path` could make it unneeded (its atomic write unit).
async fn doublewrite_note(path: &Path) -> String {
    let unit = match jdb_fs::File::open(path).await {
        Ok(file) => output::atomic_write_unit(file.atomic_write_unit(), file.is_direct()),
        Err(e) => format!("unknown ({e})"),
    };
    format!(
        "--doublewrite: jdb wrote every run of pages to {} and fdatasync'ed it before writing it \
         home, so that a torn page can be repaired on open; the atomic write unit of {}: {unit}",
        display_path(&run::doublewrite_path(path)),
        display_path(path)
    )
}

/// How much memory the OS baseline has against jdb's pool of `cap` pages (over `pages` pages of
/// data): equal when the data fits in the pool, or in a cgroup made for it (returned: the
/// baseline then runs in a child process in it); else flagged, with why.
fn os_memory(cap: usize, pages: u32) -> (MemoryParity, Option<cgroup::Cgroup>) {
    let pool = cap as u64 * PAGE_SIZE as u64;
    let data = u64::from(pages) * PAGE_SIZE as u64;
    let mut parity = MemoryParity {
        equal: true,
        how: "file fits in the pool",
        jdb_bytes: pool,
        baseline_bytes: Some(data),
        cgroup_version: None,
        cgroup_peak_bytes: None,
        reason: None,
    };
    if data <= pool {
        return (parity, None);
    }
    match cgroup::Cgroup::create(pool + OS_CGROUP_ALLOWANCE) {
        Ok(cgroup) => {
            parity.how = "cgroup";
            parity.baseline_bytes = Some(cgroup.limit);
            parity.cgroup_version = Some(cgroup.version.number());
            (parity, Some(cgroup))
        }
        Err(reason) => {
            parity.equal = false;
            parity.how = "unequal";
            parity.baseline_bytes = available_memory().map(|free| free.min(data));
            parity.reason = Some(reason);
            (parity, None)
        }
    }
}

/// The OS baseline alone, in the cgroup at `cgroup`, on the parent's files (`--file`): the child
/// process of [`os_child::run`]. Prints its runs for the parent.
async fn os_baseline_child(args: &BenchArgs, cgroup: &Path) -> anyhow::Result<ExitCode> {
    cgroup::join(cgroup)?;
    let base = args
        .file
        .clone()
        .context("--internal-os-baseline needs the parent's --file")?;
    let cap = args.cap()?.min(args.pages as usize);
    let kind = args.workload();
    let limits = Limits {
        ops: args.ops,
        duration: args.duration_limit(),
    };
    let spec = WorkloadSpec {
        kind,
        pages: args.pages,
        theta: args.theta,
        write_ratio: args.write_ratio,
        seed: args.seed,
        batch: 0,
        window: 0,
    };
    let shards = shards(args, &base, cap, spec, limits)?;
    let work = Work {
        systems: vec![System::Os],
        tasks: kind.tasks(args.tasks),
        policy: args.policy,
        warm: args.warm,
        setup: run::JdbSetup::default(),
    };
    let outcome = threads::run_all(&shards, &work).await?;
    let runs = outcome.runs.into_iter().next().unwrap_or_default();
    output::print(&os_child::to_json(&runs)?)?;
    Ok(ExitCode::SUCCESS)
}

/// `MemAvailable` from `/proc/meminfo`, in bytes.
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// `path` without `.` components and, when it is inside the current directory, relative to it.
fn display_path(path: &std::path::Path) -> String {
    let path: PathBuf = path.components().collect();
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(PathBuf::from));
    relative.unwrap_or(path).display().to_string()
}

thread_local! {
    /// Whether this thread's runs show a progress bar (with --threads, only the first's do).
    static SHOW_PROGRESS: Cell<bool> = const { Cell::new(true) };
}

/// Whether the runs of the calling thread show progress bars.
pub fn show_progress(show: bool) {
    SHOW_PROGRESS.with(|s| s.set(show));
}

/// A progress bar on stderr, or a hidden one when stderr is not a terminal (or this thread
/// shows none).
pub fn progress_bar(prefix: &'static str, len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() || !SHOW_PROGRESS.with(Cell::get) {
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
