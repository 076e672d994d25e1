//! `jdb bench --bgwriter` and `--doublewrite`: the report says what the background writer did,
//! how many misses waited for a write-back, and how long the operations that missed took; the
//! doublewrite area is `PATH.dw`, kept with `--file` and removed with the temporary directory.

mod common;

use common::{jdb, scratch, stderr, stdout};
use serde_json::Value;

fn bench_json(args: &str, cwd: &std::path::Path) -> Value {
    let args: Vec<&str> = ["bench", "--json"]
        .into_iter()
        .chain(args.split_whitespace())
        .collect();
    let out = jdb(&args, cwd);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

const WRITES: &str =
    "--pages 2000 --cap 200 --workload uniform --write-ratio 0.5 --ops 6000 --tasks 4";

#[test]
fn the_report_says_what_the_writer_did_and_how_long_misses_took() {
    let dir = scratch();
    let file = dir.path().join("w.jdb");
    let file = file.to_str().unwrap();
    let without = bench_json(&format!("{WRITES} --file {file}"), dir.path());
    let with = bench_json(&format!("{WRITES} --file {file} --bgwriter"), dir.path());
    assert_eq!(without["config"]["bgwriter"], false);
    assert_eq!(with["config"]["bgwriter"], true);
    for report in [&without, &with] {
        let run = &report["jdb"];
        let (ops, misses) = (
            run["ops"].as_u64().unwrap(),
            run["misses"].as_u64().unwrap(),
        );
        let missed = run["missed_ops"].as_u64().unwrap();
        assert!(missed > 0 && missed <= ops, "{run}");
        // One page per operation: an operation missed when its page was not in memory as it
        // began. The pool counts a few of those as hits (a page whose eviction was under way
        // when asked for, kept), so the two counts agree within a percent.
        assert!(missed.abs_diff(misses) <= misses / 100 + 1, "{run}");
        let latency = &run["miss_latency_us"];
        for p in ["p50", "p99", "p999"] {
            assert!(latency[p].as_f64().unwrap() > 0.0, "{latency}");
        }
        assert!(
            latency["p99"].as_f64() >= run["latency_us"]["p50"].as_f64(),
            "{run}"
        );
        let waits = run["writeback_waits"].as_u64().unwrap();
        let share = run["writeback_wait_share"].as_f64().unwrap();
        assert!(
            (share - waits as f64 / misses as f64).abs() < 1e-12,
            "{run}"
        );
    }
    assert_eq!(without["jdb"]["bg_pages_written"], 0);
    assert!(
        without["jdb"]["writeback_waits"].as_u64().unwrap() > 0,
        "half the operations write, a tenth of the pages fit: misses wait for write-backs"
    );
    assert!(
        with["jdb"]["bg_pages_written"].as_u64().unwrap() > 0,
        "{}",
        with["jdb"]
    );
    assert!(with["jdb"]["bg_rounds"].as_u64().unwrap() > 0);
    let args = format!("{WRITES} --file {file} --bgwriter");
    let mut argv = vec!["bench"];
    argv.extend(args.split_whitespace());
    let text = stdout(&jdb(&argv, dir.path()));
    for row in [
        "miss latency p99",
        "waited for a write-back",
        "% of misses",
        "bg writer pages",
    ] {
        assert!(text.contains(row), "{text} lacks {row}");
    }
}

#[test]
fn the_doublewrite_area_sits_next_to_the_data_file() {
    let dir = scratch();
    let file = dir.path().join("d.jdb");
    let args = format!("{WRITES} --doublewrite --file {}", file.to_str().unwrap());
    let report = bench_json(&args, dir.path());
    assert_eq!(report["config"]["doublewrite"], true);
    assert!(report["jdb"]["pages_written"].as_u64().unwrap() > 0);
    let notes = report["notes"].as_array().unwrap();
    let note = notes
        .iter()
        .filter_map(|n| n.as_str())
        .find(|n| n.starts_with("--doublewrite: "))
        .unwrap_or_else(|| panic!("no --doublewrite note: {notes:?}"));
    assert!(note.contains("d.jdb.dw"), "{note}");
    let unit = note
        .split_once("the atomic write unit of ")
        .and_then(|(_, rest)| rest.split_once(": "))
        .map(|(_, unit)| unit)
        .unwrap_or_else(|| panic!("{note}"));
    assert!(
        unit.starts_with("none reported (") || unit.contains(" bytes (a 4 KiB page"),
        "{note}"
    );
    let area = dir.path().join("d.jdb.dw");
    assert!(area.is_file(), "kept with --file");
    assert!(
        std::fs::metadata(&area).unwrap().len() > 0,
        "the area was written"
    );
    let out = jdb(&["verify", file.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // Reused as it is, with the area.
    bench_json(&args, dir.path());
    // A temporary data file's area goes with its directory.
    let temp = scratch();
    let report = bench_json(&format!("{WRITES} --doublewrite --seed 3"), temp.path());
    assert_eq!(report["config"]["temporary"], true);
    let left: Vec<_> = std::fs::read_dir(temp.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}
