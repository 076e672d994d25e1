//! `--compare` with the OS page cache held to the pool's memory: the OS baseline runs in a child
//! process, `jdb bench --internal-os-baseline CGROUP <the same options> --file BASE`, which joins
//! the cgroup ([`super::cgroup`]) before it opens anything, runs the baseline on the same files
//! with the same seeds, tasks and threads, and prints its runs (one per thread) as JSON on stdout
//! for the parent to merge as if it had run them itself.

use std::{
    ffi::OsString,
    path::Path,
    process::{Command, Stdio},
};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::{
    counters::Counters,
    run::{Counts, ShardRun, new_histogram},
};

/// A [`ShardRun`] as the child prints it.
#[derive(Serialize, Deserialize)]
struct WireRun {
    counts: Counts,
    secs: f64,
    /// `(value, count)` of every recorded bucket, nanoseconds.
    histogram: Vec<(u64, u64)>,
    miss_histogram: Option<Vec<(u64, u64)>>,
    during_run: Counters,
    after_flush: Counters,
    flush_secs: f64,
    tasks: u32,
}

fn buckets(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    h.iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect()
}

fn histogram(buckets: &[(u64, u64)]) -> anyhow::Result<Histogram<u64>> {
    let mut h = new_histogram()?;
    for &(value, count) in buckets {
        h.saturating_record_n(value, count);
    }
    Ok(h)
}

/// The child's output: its runs, one per thread.
pub fn to_json(runs: &[ShardRun]) -> anyhow::Result<String> {
    let wire: Vec<WireRun> = runs
        .iter()
        .map(|r| WireRun {
            counts: r.counts,
            secs: r.secs,
            histogram: buckets(&r.histogram),
            miss_histogram: r.miss_histogram.as_ref().map(buckets),
            during_run: r.during_run,
            after_flush: r.after_flush,
            flush_secs: r.flush_secs,
            tasks: r.tasks,
        })
        .collect();
    Ok(serde_json::to_string(&wire)? + "\n")
}

fn from_json(bytes: &[u8]) -> anyhow::Result<Vec<ShardRun>> {
    let wire: Vec<WireRun> = serde_json::from_slice(bytes)?;
    wire.into_iter()
        .map(|w| {
            Ok(ShardRun {
                counts: w.counts,
                secs: w.secs,
                histogram: histogram(&w.histogram)?,
                miss_histogram: w.miss_histogram.as_deref().map(histogram).transpose()?,
                during_run: w.during_run,
                after_flush: w.after_flush,
                flush_secs: w.flush_secs,
                tasks: w.tasks,
            })
        })
        .collect()
}

/// Runs the OS baseline in a child process in the cgroup at `cgroup`, with this process's
/// `jdb bench` options, on the data at `base` (given as `--file` when `add_file`: the parent's
/// temporary file).
pub fn run(cgroup: &Path, base: &Path, add_file: bool) -> anyhow::Result<Vec<ShardRun>> {
    let exe = std::env::current_exe().context("finding the jdb binary for the os baseline")?;
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    args.push("--internal-os-baseline".into());
    args.push(cgroup.into());
    if add_file {
        args.push("--file".into());
        args.push(base.into());
    }
    let out = Command::new(&exe)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("starting {} for the os baseline", exe.display()))?;
    if !out.status.success() {
        use std::os::unix::process::ExitStatusExt;
        match out.status.signal() {
            Some(9) => bail!(
                "the os baseline was killed in its cgroup (SIGKILL: out of memory under its \
                 memory.max?)"
            ),
            Some(signal) => bail!("the os baseline died of signal {signal}"),
            None => bail!("the os baseline failed ({})", out.status),
        }
    }
    from_json(&out.stdout).context("reading the os baseline's runs")
}
