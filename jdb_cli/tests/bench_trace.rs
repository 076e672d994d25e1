//! `jdb bench --trace`: the repository's traces replayed through the pool give exactly
//! libCacheSim's miss counts (`bench/traces/expected.json`) under every policy, and bad traces are
//! one-line errors.

mod common;

use std::path::{Path, PathBuf};

use common::{assert_one_line_error, jdb, scratch, stderr, stdout};
use jdb_page::PolicyKind;

fn traces() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/traces")
}

/// Where the data file lives: /dev/shm when there is one (reads at memory speed, so replaying
/// 480,000 requests stays fast), else the target's directory.
fn data_dir() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| scratch())
}

/// Replays `trace` with `--compare` at every size in `caps` and checks each policy's misses.
fn replay_matches_libcachesim(trace: &str, pages: u32) {
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(traces().join("expected.json")).unwrap()).unwrap();
    let dir = data_dir();
    let file = dir.path().join("trace.jdb");
    let trace_path = traces().join(trace);
    for cap in ["64", "256"] {
        let args = [
            "bench",
            "--trace",
            trace_path.to_str().unwrap(),
            "--pages",
            &pages.to_string(),
            "--cap",
            cap,
            "--file",
            file.to_str().unwrap(),
            "--compare",
            "--json",
        ];
        let out = jdb(&args, dir.path());
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let policies = report["policies"].as_array().unwrap();
        assert_eq!(policies.len(), PolicyKind::ALL.len());
        for (run, kind) in policies.iter().zip(PolicyKind::ALL) {
            let want = &expected["traces"][trace][kind.name()][cap];
            assert!(want.is_u64(), "expected.json has {trace} {kind} {cap}");
            assert_eq!(run["policy"], kind.name());
            assert_eq!(
                run["misses"], *want,
                "{trace}, {kind}, cap {cap}: jdb's misses vs libCacheSim's"
            );
            assert_eq!(run["shared_reads"], 0, "one task");
            let (hits, misses) = (
                run["hits"].as_u64().unwrap(),
                run["misses"].as_u64().unwrap(),
            );
            assert_eq!(hits + misses, run["ops"].as_u64().unwrap());
        }
        // The usual report is the --policy one (lru by default).
        assert_eq!(report["jdb"]["misses"], policies[0]["misses"]);
        assert_eq!(report["baselines"].as_array().unwrap().len(), 0);
        assert_eq!(report["config"]["workload"], "trace");
        assert_eq!(report["config"]["tasks"], 1);
        for run in policies {
            assert_eq!(run["tasks"], 1, "in order, so the misses are exact: {run}");
        }
    }
}

#[test]
fn zipf_trace_misses_match_libcachesim() {
    replay_matches_libcachesim("zipf.trace", 3000);
}

#[test]
fn uniform_trace_misses_match_libcachesim() {
    replay_matches_libcachesim("uniform.trace", 3000);
}

#[test]
fn zipf_scan_trace_misses_match_libcachesim() {
    // Its scans read ids from 3000 up, to 6999.
    replay_matches_libcachesim("zipf_scan.trace", 7000);
}

#[test]
fn a_trace_report_says_misses_and_hit_ratio() {
    let dir = scratch();
    let trace = dir.path().join("t.trace");
    std::fs::write(&trace, "# two pages, twice\n0\n1\n\n0  # hit\n1\n").unwrap();
    let args = [
        "bench",
        "--trace",
        trace.to_str().unwrap(),
        "--pages",
        "8",
        "--cap",
        "2",
    ];
    let out = jdb(&args, dir.path());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for part in [
        "4 page ids, replayed once",
        "50.00 %",
        "lru eviction",
        "1 task × 1 thread (a trace replays with one task, in order, so that its misses are \
         exact)",
    ] {
        assert!(text.contains(part), "{text} lacks {part}");
    }
    let misses = text.lines().find(|l| l.starts_with("misses")).unwrap();
    assert_eq!(
        misses.split_whitespace().collect::<Vec<_>>(),
        ["misses", "2"]
    );
    let args = [&args[..], &["--policy", "sieve", "--compare"]].concat();
    let text = stdout(&jdb(&args, dir.path()));
    assert!(text.contains("sieve eviction"), "{text}");
    for policy in ["lru ", "clock ", "sieve ", "s3fifo "] {
        assert!(
            text.lines().any(|l| l.starts_with(policy)),
            "{text} lacks {policy}"
        );
    }
}

#[test]
fn bad_traces_are_one_line_errors_naming_the_line() {
    let dir = scratch();
    let path = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let bad_line = path("bad.trace", "# ok\n1\n2\nthree\n");
    let past_end = path("past.trace", "1\n\n99\n100\n");
    let empty = path("empty.trace", "# nothing\n\n");
    let missing = dir
        .path()
        .join("missing.trace")
        .to_str()
        .unwrap()
        .to_string();
    for (trace, says) in [
        (&bad_line, "bad.trace:4: `three` is not a page id"),
        (
            &past_end,
            "past.trace:4: page 100 is past the end of the data file (100 pages",
        ),
        (&empty, "empty.trace: the trace has no page ids"),
        (&missing, "missing.trace: No such file or directory"),
    ] {
        let out = jdb(&["bench", "--trace", trace, "--pages", "100"], dir.path());
        assert_one_line_error(&out, 1, says);
    }
    let out = jdb(&["bench", "--trace", &past_end, "--tasks", "4"], dir.path());
    assert_one_line_error(&out, 1, "--tasks 4 does not apply");
    let out = jdb(
        &["bench", "--trace", &past_end, "--threads", "2"],
        dir.path(),
    );
    assert_one_line_error(&out, 1, "--threads 2 does not apply");
    let out = jdb(
        &["bench", "--trace", &past_end, "--workload", "scan"],
        dir.path(),
    );
    assert_one_line_error(&out, 2, "cannot be used with");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().ends_with(".trace"))
        .collect();
    assert!(
        left.is_empty(),
        "refused before any data file is made: {left:?}"
    );
}
