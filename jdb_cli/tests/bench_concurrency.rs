//! `jdb bench --tasks`, `--threads` and `--policy`: the same operations whatever the
//! concurrency, every change on disk afterwards (no system loses a write), one file per thread.

mod common;

use std::path::Path;

use common::{assert_one_line_error, jdb, scratch, stderr, stdout};

const PAGE: usize = 4096;

/// Runs `jdb bench` with the options in `args` (separated by spaces) and `--json`.
fn bench_json(args: &str, cwd: &Path) -> serde_json::Value {
    let args: Vec<&str> = ["bench"]
        .into_iter()
        .chain(args.split_whitespace())
        .chain(["--json"])
        .collect();
    let out = jdb(&args, cwd);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON object")
}

/// The sum of the write counters (the last 8 bytes of each page) of a bench file.
fn counter_sum(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    bytes
        .chunks_exact(PAGE)
        .map(|page| u64::from_le_bytes(page[PAGE - 8..].try_into().unwrap()))
        .sum()
}

fn runs(report: &serde_json::Value) -> Vec<&serde_json::Value> {
    let baselines = report["baselines"].as_array().unwrap();
    std::iter::once(&report["jdb"]).chain(baselines).collect()
}

fn verify(file: &Path) {
    let out = jdb(&["verify", file.to_str().unwrap()], file.parent().unwrap());
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn tasks_run_the_seeds_operations_and_lose_no_write() {
    let dir = scratch();
    let mut kinds = Vec::new();
    for tasks in [1, 16] {
        let file = dir.path().join(format!("t{tasks}.jdb"));
        // At least 16 frames (a scan group) per task: see
        // `concurrent_scans_in_a_small_pool_do_not_fail` below.
        let args = format!(
            "--file {} --pages 1000 --cap 256 --workload mixed --theta 0.5 --write-ratio 0.5 \
             --ops 3000 --tasks {tasks} --compare",
            file.display()
        );
        let report = bench_json(&args, dir.path());
        assert_eq!(report["config"]["tasks"], tasks);
        let mut writes = 0;
        for run in runs(&report) {
            assert_eq!(run["ops"], 3000, "{run}");
            assert_eq!(run["checksum_failures"], 0, "{run}");
            writes += run["writes"].as_u64().unwrap();
            kinds.push([&run["reads"], &run["writes"], &run["scans"]].map(|v| v.as_u64()));
        }
        // Each system started from the file the one before it left: every write of every
        // system is there, none lost to a race between tasks.
        assert_eq!(counter_sum(&file), writes, "{tasks} tasks");
        verify(&file);
    }
    // Same seed, same operations: the same reads, writes and scans for 1 and 16 tasks.
    assert!(kinds.iter().all(|k| *k == kinds[0]), "{kinds:?}");
}

/// Regression: `read_group` reserved the frames of a run one at a time and held them while it
/// waited for the next; reserved frames were neither free, nor victims, nor counted as room to
/// come, so once concurrent group reads had reserved every frame between them the next request
/// failed with `PoolFull { pinned: 0 }` although no guard held a page. Now a group gives its
/// reservations back and waits when it cannot have them all, and reserved frames count as
/// room to come.
#[test]
fn concurrent_scans_in_a_small_pool_do_not_fail() {
    let dir = scratch();
    let args = "--pages 2000 --cap 40 --workload mixed --tasks 32 --duration 2s";
    bench_json(args, dir.path());
}

#[test]
fn threads_get_a_file_a_pool_and_a_share_of_the_work_each() {
    let dir = scratch();
    let base = dir.path().join("split.jdb");
    let args = format!(
        "--file {} --pages 301 --cap 65 --workload uniform --write-ratio 0.5 --ops 2001 \
         --threads 2 --tasks 4 --compare",
        base.display()
    );
    let report = bench_json(&args, dir.path());
    let config = &report["config"];
    assert_eq!(config["threads"], 2);
    assert_eq!(config["tasks"], 4);
    assert_eq!(config["pages"], 301);
    assert_eq!(config["cap"], 65);
    assert_eq!(config["files"].as_array().unwrap().len(), 2, "{config}");
    assert!(!base.exists(), "PATH itself is not used with --threads");
    let (file0, file1) = (base.with_extension("jdb.0"), base.with_extension("jdb.1"));
    assert_eq!(std::fs::metadata(&file0).unwrap().len(), 151 * PAGE as u64);
    assert_eq!(std::fs::metadata(&file1).unwrap().len(), 150 * PAGE as u64);
    let mut writes = 0;
    for run in runs(&report) {
        assert_eq!(run["ops"], 2001, "the threads' shares add up: {run}");
        assert_eq!(run["checksum_failures"], 0, "{run}");
        writes += run["writes"].as_u64().unwrap();
    }
    assert_eq!(counter_sum(&file0) + counter_sum(&file1), writes);
    let description = report["jdb"]["description"].as_str().unwrap();
    assert!(
        description.contains("2 pools of 33 pages, one per thread"),
        "{description}"
    );
    verify(&file0);
    verify(&file1);
    // The files are reused by the next run with the same split.
    assert_eq!(bench_json(&args, dir.path())["load"]["created"], false);
}

#[test]
fn warm_runs_only_hit() {
    let dir = scratch();
    let args = "--pages 300 --cap 300 --workload uniform --write-ratio 0 --ops 3000 --warm \
                --threads 2 --compare";
    let report = bench_json(args, dir.path());
    assert_eq!(report["config"]["warm"], true);
    for run in &runs(&report)[..2] {
        assert_eq!(run["misses"], 0, "{run}");
        assert_eq!(run["hit_ratio"], 1.0, "{run}");
        assert_eq!(run["read_ios"], 0, "the warm-up is not counted: {run}");
    }
    let os = &report["baselines"][1];
    assert_eq!(os["read_ios"], 3000, "one read a page request: {os}");
    let args = ["bench", "--workload", "prefetch", "--warm"];
    assert_one_line_error(&jdb(&args, dir.path()), 1, "--warm does not apply");
}

#[test]
fn every_policy_runs_every_workload_kind() {
    let dir = scratch();
    let file = dir.path().join("p.jdb");
    for (policy, workload) in [
        ("clock", "mixed"),
        ("sieve", "scan"),
        ("s3fifo", "zipf"),
        ("sieve", "prefetch"),
        ("s3fifo", "seqwrite"),
    ] {
        let args = format!(
            "--file {} --pages 400 --cap 128 --ops 300 --policy {policy} --workload {workload} \
             --tasks 8",
            file.display()
        );
        let report = bench_json(&args, dir.path());
        assert_eq!(report["config"]["policy"], policy);
        assert_eq!(report["jdb"]["policy"], policy);
        let description = report["jdb"]["description"].as_str().unwrap();
        assert!(description.contains(policy), "{description}");
        // seqwrite times one flush_all at a time; every other workload takes --tasks.
        let tasks = if workload == "seqwrite" { 1 } else { 8 };
        assert_eq!(report["config"]["tasks"], tasks, "{workload}");
        assert_eq!(report["jdb"]["tasks"], tasks, "{workload}");
        if workload == "seqwrite" {
            let notes = report["notes"].to_string();
            assert!(notes.contains("--tasks 8 does not apply"), "{notes}");
        }
    }
    verify(&file);
}

#[test]
fn concurrency_that_cannot_be_split_is_refused() {
    let dir = scratch();
    for (args, says) in [
        (
            &["bench", "--pages", "3", "--threads", "4"][..],
            "a page per thread",
        ),
        (
            &["bench", "--cap", "2", "--threads", "3"],
            "a frame per thread",
        ),
        (
            &["bench", "--ops", "2", "--threads", "3"],
            "an operation per thread",
        ),
    ] {
        assert_one_line_error(&jdb(args, dir.path()), 1, says);
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "refused before any file is made: {left:?}");
}
