//! Runs the built `jdb` binary: verify, inspect, bench, and the error messages.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use jdb_fs::File;
use jdb_page::BufferPool;

const PAGE: usize = 4096;

fn jdb(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jdb"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run jdb")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A directory on the target's filesystem (not /tmp, which may be tmpfs without O_DIRECT).
fn scratch() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("scratch dir")
}

/// Makes a jdb file of `pages` pages through the buffer pool; page `id`'s first row is
/// `hello jdb <id>`, and page 0 also holds `hello jdb`.
fn make_file(dir: &Path, pages: u32) -> PathBuf {
    let path = dir.join("data.jdb");
    let rt = compio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let pool = BufferPool::open(File::create(&path).await?, 8).await?;
        for id in 0..pages {
            let mut page = pool.alloc().await?;
            assert_eq!(page.id(), id);
            let mut rows = page.rows_mut()?;
            rows.insert(b"hello jdb").unwrap();
            rows.insert(format!("hello jdb {id}").as_bytes()).unwrap();
        }
        pool.close().await
    })
    .expect("make the file");
    path
}

/// Asserts a failure with one line on stderr, `jdb: ...`, and no panic.
fn assert_one_line_error(out: &Output, code: i32, must_contain: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(err.starts_with("jdb: "), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(must_contain), "{err} lacks {must_contain}");
    assert!(!err.contains("panicked"), "{err}");
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

#[test]
fn verify_clean_file_exits_0() {
    let dir = scratch();
    let path = make_file(dir.path(), 20);
    let out = jdb(&["verify", path.to_str().unwrap()], dir.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(
        text.contains("20 pages") && text.contains("all verify"),
        "{text}"
    );
    assert!(text.contains("data 20"), "{text}");
}

#[test]
fn verify_names_the_page_with_a_flipped_byte_and_exits_1() {
    let dir = scratch();
    let path = make_file(dir.path(), 20);
    let mut bytes = std::fs::read(&path).unwrap();
    let k = 13;
    bytes[k * PAGE + 1000] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let out = jdb(&["verify", path.to_str().unwrap()], dir.path());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert!(text.contains("1 bad page"), "{text}");
    assert!(text.contains("page 13: checksum mismatch"), "{text}");
    let listed = text
        .lines()
        .filter(|l| l.trim_start().starts_with("page "))
        .count();
    assert_eq!(listed, 1, "only page 13 is bad: {text}");
}

#[test]
fn verify_refuses_files_that_are_not_jdb_files_with_exit_2() {
    let dir = scratch();
    let text_file = dir.path().join("notes.txt");
    std::fs::write(&text_file, "just some text\n".repeat(1000)).unwrap();
    let out = jdb(&["verify", text_file.to_str().unwrap()], dir.path());
    assert_one_line_error(&out, 2, "not a jdb file");

    let pages_of_text = dir.path().join("pages.txt");
    std::fs::write(&pages_of_text, vec![b'x'; 3 * PAGE]).unwrap();
    let out = jdb(&["verify", pages_of_text.to_str().unwrap()], dir.path());
    assert_one_line_error(&out, 2, "lack the jdb magic");

    let zeros = dir.path().join("zeros");
    std::fs::write(&zeros, vec![0u8; 2 * PAGE]).unwrap();
    let out = jdb(&["verify", zeros.to_str().unwrap()], dir.path());
    assert_one_line_error(&out, 2, "not a jdb file");
}

#[test]
fn a_damaged_first_page_is_a_bad_page_not_a_foreign_file() {
    let dir = scratch();
    let path = make_file(dir.path(), 10);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[20] = b'X'; // the magic of page 0
    std::fs::write(&path, &bytes).unwrap();
    let out = jdb(&["verify", path.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("page 0: not a jdb page"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn inspect_page_shows_a_row_inserted_through_the_pool() {
    let dir = scratch();
    let path = make_file(dir.path(), 3);
    let out = jdb(
        &["inspect", path.to_str().unwrap(), "--page", "2"],
        dir.path(),
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for part in [
        "page 2 of",
        "verify     ok",
        "(match)",
        "type       data (2)",
        "lsn        0",
        "2 slots (2 live, 0 free)",
        "\"hello jdb\"",
        "\"hello jdb 2\"",
    ] {
        assert!(text.contains(part), "{text} lacks {part}");
    }
}

#[test]
fn inspect_summarises_types_and_fill() {
    let dir = scratch();
    let path = make_file(dir.path(), 5);
    let out = jdb(&["inspect", path.to_str().unwrap()], dir.path());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(text.contains("5 pages of 4096 bytes"), "{text}");
    assert!(
        text.contains("page types: data 5, meta 0, free 0, other 0"),
        "{text}"
    );
    assert!(text.contains("10 live rows; fill min"), "{text}");
    let unit = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("atomic write unit: "))
        .unwrap_or_else(|| panic!("no atomic write unit line: {text}"));
    match unit.split_once(" bytes (") {
        // `MIN..MAX bytes (...)`: what statx reports.
        Some((range, why)) => {
            let (min, max) = range.split_once("..").unwrap_or_else(|| panic!("{unit}"));
            let (min, max): (u32, u32) = (min.parse().unwrap(), max.parse().unwrap());
            assert!(0 < min && min <= max, "{unit}");
            assert!(why.contains("doublewrite area is still advised"), "{unit}");
        }
        None => assert!(
            unit.starts_with("none reported (") && unit.ends_with("doublewrite area is advised)"),
            "{unit}"
        ),
    }

    let out = jdb(
        &["inspect", path.to_str().unwrap(), "--page", "5"],
        dir.path(),
    );
    assert_one_line_error(&out, 1, "page 5 is past the end");
}

#[test]
fn unreadable_inputs_are_one_line_errors() {
    let dir = scratch();
    let missing = dir.path().join("missing.jdb");
    let out = jdb(&["verify", missing.to_str().unwrap()], dir.path());
    assert_one_line_error(&out, 2, "No such file");
    let out = jdb(&["inspect", missing.to_str().unwrap()], dir.path());
    assert_one_line_error(&out, 1, "No such file");

    let out = jdb(&["verify", dir.path().to_str().unwrap()], dir.path());
    assert_one_line_error(&out, 2, "is a directory");
    let out = jdb(&["inspect", dir.path().to_str().unwrap()], dir.path());
    assert_one_line_error(&out, 1, "is a directory");

    if !is_root() {
        use std::os::unix::fs::PermissionsExt;
        let path = make_file(dir.path(), 2);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        let out = jdb(&["verify", path.to_str().unwrap()], dir.path());
        assert_one_line_error(&out, 2, "Permission denied");
    }
}

#[test]
fn bad_options_are_one_line_usage_errors_with_exit_2() {
    let dir = scratch();
    for (args, says) in [
        (
            &["bench", "--pages", "lots"][..],
            "invalid value 'lots' for '--pages <N>'",
        ),
        (&["bench", "--pages", "0"], "--pages"),
        (&["bench", "--memory", "5 parsecs"], "unknown size unit"),
        (
            &["bench", "--cap", "10", "--memory", "1MiB"],
            "cannot be used with",
        ),
        (
            &["bench", "--write-ratio", "1.5"],
            "not a number from 0 to 1",
        ),
        (&["bench", "--duration", "soon"], "not a duration"),
        (&["bench", "--workload", "random"], "possible values"),
        (&["bench", "--tasks", "0"], "--tasks"),
        (&["bench", "--tasks", "4097"], "--tasks"),
        (&["bench", "--threads", "0"], "--threads"),
        (&["inspect", "f", "--page", "-1"], "'-1'"),
        (&["frobnicate"], "unrecognized subcommand 'frobnicate'"),
        (&["verify"], "<FILE>"),
    ] {
        let out = jdb(args, dir.path());
        assert_one_line_error(&out, 2, says);
    }
}

#[test]
fn an_unknown_policy_is_one_line_listing_the_policies() {
    let dir = scratch();
    let out = jdb(&["bench", "--policy", "fifo"], dir.path());
    assert_one_line_error(
        &out,
        2,
        "unknown eviction policy \"fifo\" (expected lru, clock, sieve or s3fifo)",
    );
    assert!(stdout(&out).is_empty());
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "nothing made: {left:?}");
}

/// The fields every run in the JSON report has.
fn assert_run_fields(run: &serde_json::Value) {
    for field in [
        "ops_per_sec",
        "hit_ratio",
        "read_ios",
        "write_ios",
        "read_mib_per_s",
        "write_mib_per_s",
        "dirty_writebacks",
        "checksum_failures",
    ] {
        assert!(run.get(field).is_some(), "{field} missing in {run}");
    }
    for p in ["p50", "p99", "p999", "max"] {
        assert!(run["latency_us"][p].is_number(), "latency {p} in {run}");
    }
    assert!(run["ops"].as_u64().unwrap() > 0, "{run}");
    assert!(run["tasks"].as_u64().unwrap() >= 1, "{run}");
    assert!(run["threads"].as_u64().unwrap() >= 1, "{run}");
    assert!(run["ops_per_sec"].as_f64().unwrap() > 0.0, "{run}");
    assert_eq!(run["checksum_failures"], 0, "{run}");
}

fn bench_json(args: &[&str], cwd: &Path) -> serde_json::Value {
    let out = jdb(args, cwd);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON object")
}

#[test]
fn bench_json_has_the_fields_and_removes_its_file() {
    let dir = scratch();
    // The default 32 tasks, each with room for a scan group (see bench_concurrency.rs's
    // `concurrent_scans_in_a_small_pool_do_not_fail`).
    let args = [
        "bench",
        "--pages",
        "1024",
        "--cap",
        "512",
        "--duration",
        "1s",
        "--json",
    ];
    let report = bench_json(&args, dir.path());
    assert_run_fields(&report["jdb"]);
    assert!(report["jdb"]["hit_ratio"].as_f64().unwrap() > 0.0);
    assert_eq!(report["config"]["pages"], 1024);
    assert_eq!(report["config"]["cap"], 512);
    assert_eq!(report["config"]["workload"], "mixed");
    assert_eq!(report["config"]["tasks"], 32, "the default");
    assert_eq!(report["config"]["threads"], 1);
    assert_eq!(report["config"]["policy"], "lru");
    assert_eq!(report["config"]["huge_pages"], true, "the default");
    assert_eq!(report["jdb"]["policy"], "lru");
    assert_eq!(report["load"]["created"], true);
    assert_eq!(report["baselines"].as_array().unwrap().len(), 0);
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

/// `--no-huge-pages` opens the pool in ordinary pages: the same run, said so in the report.
#[test]
fn bench_without_huge_pages_runs_and_says_so() {
    let dir = scratch();
    let args = [
        "bench",
        "--pages",
        "1024",
        "--cap",
        "768",
        "--duration",
        "300ms",
        "--no-huge-pages",
        "--json",
    ];
    let report = bench_json(&args, dir.path());
    assert_run_fields(&report["jdb"]);
    assert_eq!(report["config"]["huge_pages"], false);
    assert!(report["jdb"]["ops"].as_u64().unwrap() > 0);
}

#[test]
fn bench_compare_json_has_both_baselines_and_ratios() {
    let dir = scratch();
    let args = [
        "bench",
        "--pages",
        "512",
        "--cap",
        "64",
        "--duration",
        "300ms",
        "--tasks",
        "4",
        "--compare",
        "--json",
    ];
    let report = bench_json(&args, dir.path());
    assert_run_fields(&report["jdb"]);
    let baselines = report["baselines"].as_array().unwrap();
    let systems: Vec<_> = baselines
        .iter()
        .map(|b| b["system"].as_str().unwrap())
        .collect();
    assert_eq!(systems, ["lru", "os"]);
    for b in baselines {
        assert_run_fields(b);
    }
    let ratios = report["ratios"].as_array().unwrap();
    assert_eq!(ratios.len(), 2);
    for r in ratios {
        assert!(r["throughput"].as_f64().unwrap() > 0.0, "{r}");
    }
}

#[test]
fn bench_reuses_its_file_and_runs_every_workload() {
    let dir = scratch();
    let file = dir.path().join("keep.jdb");
    let file = file.to_str().unwrap();
    let base = [
        "bench", "--file", file, "--pages", "300", "--cap", "32", "--ops", "3000", "--tasks", "2",
        "--json",
    ];
    for (i, workload) in ["zipf", "uniform", "scan", "mixed"].into_iter().enumerate() {
        let args: Vec<&str> = base
            .iter()
            .copied()
            .chain(["--workload", workload])
            .collect();
        let report = bench_json(&args, dir.path());
        assert_eq!(report["load"]["created"], i == 0, "{workload}");
        assert_eq!(report["jdb"]["ops"], 3000, "{workload}");
        if workload == "scan" {
            assert_eq!(report["jdb"]["scans"], 3000);
            assert_eq!(report["jdb"]["writes"], 0);
        }
    }
    // Everything the bench wrote back is intact.
    let out = jdb(&["verify", file], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // Another size recreates it; a file that is not a bench file is never overwritten.
    let args = [
        "bench", "--file", file, "--pages", "200", "--ops", "10", "--json",
    ];
    assert_eq!(bench_json(&args, dir.path())["load"]["created"], true);
    let other = dir.path().join("precious.txt");
    std::fs::write(&other, "do not delete").unwrap();
    let out = jdb(
        &["bench", "--file", other.to_str().unwrap(), "--ops", "10"],
        dir.path(),
    );
    assert_one_line_error(&out, 1, "refusing to overwrite");
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "do not delete");
}

#[test]
fn bench_prints_a_readable_report() {
    let dir = scratch();
    let args = [
        "bench",
        "--pages",
        "1024",
        "--cap",
        "512",
        "--ops",
        "2000",
        "--compare",
    ];
    // Without a cgroup, whether or not one could be made here: the os baseline's note then says
    // it is not limited (bench_compare.rs tests the cgroup).
    let out = Command::new(env!("CARGO_BIN_EXE_jdb"))
        .args(args)
        .env("JDB_NO_CGROUP", "1")
        .current_dir(dir.path())
        .output()
        .expect("run jdb");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for part in [
        "32 tasks × 1 thread",
        "lru eviction",
        "throughput, ops/s",
        "hit ratio",
        "misses",
        "shared reads",
        "latency p99.9",
        "dirty write-backs",
        "jdb ÷ lru",
        "jdb ÷ os",
        "NOT limited to the pool size",
    ] {
        assert!(text.contains(part), "{text} lacks {part}");
    }
}

/// Runs `jdb bench --workload <workload>` on a kept 512-page file with a 64-page pool for 1 s.
fn bench_small(dir: &Path, workload: &str) -> serde_json::Value {
    let file = dir.join("small.jdb");
    let args = [
        "bench",
        "--file",
        file.to_str().unwrap(),
        "--pages",
        "512",
        "--cap",
        "64",
        "--duration",
        "1s",
        "--workload",
        workload,
        "--tasks",
        "4",
        "--json",
    ];
    let report = bench_json(&args, dir);
    assert_eq!(report["config"]["workload"], workload);
    assert_run_fields(&report["jdb"]);
    assert!(report["jdb"]["pages_per_sec"].as_f64().unwrap() > 0.0);
    report
}

#[test]
fn bench_randread_reads_each_page_from_the_file() {
    let dir = scratch();
    let run = &bench_small(dir.path(), "randread")["jdb"];
    assert_eq!(run["writes"], 0);
    assert_eq!(run["reads"], run["ops"]);
    // Only pages read near the end of one pass and again early in the next can hit.
    assert!(run["hit_ratio"].as_f64().unwrap() < 0.15, "{run}");
    let (read_ios, shared) = (run["read_ios"].as_u64(), run["shared_reads"].as_u64());
    assert_eq!(
        read_ios.zip(shared).map(|(r, s)| r + s),
        run["misses"].as_u64(),
        "one read per miss, or one shared by several tasks: {run}"
    );
    assert!(run["read_mib_per_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn bench_prefetch_reads_every_page_of_each_batch() {
    let dir = scratch();
    let report = bench_small(dir.path(), "prefetch");
    // 512 pages, 64 in the pool, 4 tasks: a batch is at most a quarter of the 448 others, so
    // that the four tasks' batches never share a page.
    assert_eq!(report["config"]["tasks"], 4);
    assert_eq!(report["config"]["batch"], 112);
    let run = &report["jdb"];
    assert_eq!(run["tasks"], 4, "{run}");
    assert_eq!(run["threads"], 1, "{run}");
    assert_eq!(run["hit_ratio"], 0.0, "cold: {run}");
    let ops = run["ops"].as_u64().unwrap();
    assert!(ops >= 4, "each task prefetched: {run}");
    assert_eq!(run["page_requests"], ops * 112);
    // Every page of every batch was read, by its own task: none found in the pool, none
    // waiting for another task's read.
    assert_eq!(run["pages_read"], run["page_requests"], "{run}");
    assert_eq!(run["misses"], run["page_requests"], "{run}");
    assert_eq!(run["shared_reads"], 0, "{run}");
    assert!(
        run["read_ios"].as_u64().unwrap() < ops * 112,
        "runs coalesce"
    );
    let notes = report["notes"].to_string();
    assert!(notes.contains("prefetch: 4 tasks per thread"), "{notes}");
    // One task by default: the whole 448.
    let file = dir.path().join("small.jdb");
    let args = [
        "bench",
        "--file",
        file.to_str().unwrap(),
        "--pages",
        "512",
        "--cap",
        "64",
        "--ops",
        "3",
        "--workload",
        "prefetch",
        "--json",
    ];
    let alone = bench_json(&args, dir.path());
    assert_eq!(alone["config"]["tasks"], 1);
    assert_eq!(alone["config"]["batch"], 448);
    assert_eq!(alone["jdb"]["pages_read"], 3 * 448, "{alone}");
    // More tasks than pages the pool does not hold: refused before any file is made.
    let out = jdb(
        &[
            "bench",
            "--workload",
            "prefetch",
            "--pages",
            "70",
            "--cap",
            "64",
            "--tasks",
            "8",
        ],
        dir.path(),
    );
    assert_one_line_error(&out, 1, "a page the pool does not hold per task");
    // Bigger than the pool: refused before any file is made.
    let out = jdb(
        &[
            "bench",
            "--workload",
            "prefetch",
            "--pages",
            "64",
            "--cap",
            "64",
        ],
        dir.path(),
    );
    assert_one_line_error(&out, 1, "larger than the pool");
    let out = jdb(
        &["bench", "--workload", "prefetch", "--compare"],
        dir.path(),
    );
    assert_one_line_error(&out, 1, "--compare does not apply");
}

#[test]
fn bench_seqwrite_writes_runs_and_keeps_the_file_valid() {
    let dir = scratch();
    let report = bench_small(dir.path(), "seqwrite");
    assert_eq!(report["config"]["batch"], 64);
    assert_eq!(report["config"]["tasks"], 1, "one flush_all at a time");
    let run = &report["jdb"];
    assert_eq!(run["tasks"], 1, "{run}");
    assert!(
        report["notes"]
            .to_string()
            .contains("--tasks 4 does not apply"),
        "{report}"
    );
    let ops = run["ops"].as_u64().unwrap();
    assert_eq!(run["pages_written"], ops * 64, "{run}");
    assert_eq!(run["write_ios"], ops * 4, "runs of 16 pages: {run}");
    assert_eq!(run["read_ios"], 0, "reads are untimed: {run}");
    assert!(run["write_mib_per_s"].as_f64().unwrap() > 0.0);
    let file = dir.path().join("small.jdb");
    let out = jdb(&["verify", file.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // Still a bench file of the same size: reused, not recreated.
    assert_eq!(bench_small(dir.path(), "scan")["load"]["created"], false);
}

#[test]
fn verify_fails_a_data_page_whose_slot_directory_is_broken() {
    let dir = scratch();
    let path = make_file(dir.path(), 10);
    let mut bytes = std::fs::read(&path).unwrap();
    // Page 4: a slot count that disagrees with free_start, under a valid checksum.
    let page = &mut bytes[4 * PAGE..5 * PAGE];
    page[32..34].copy_from_slice(&999u16.to_le_bytes());
    jdb_layout::seal(page).unwrap();
    jdb_layout::verify(page, 4).expect("the checksum is valid");
    std::fs::write(&path, &bytes).unwrap();
    let arg = path.to_str().unwrap();

    let out = jdb(&["verify", arg], dir.path());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert!(text.contains("1 bad page"), "{text}");
    assert!(
        text.contains("page 4: checksum ok, but the slot directory is invalid"),
        "{text}"
    );
    assert!(text.contains("data 9"), "the other nine are good: {text}");

    let out = jdb(&["inspect", arg], dir.path());
    assert!(
        stdout(&out).contains("data pages whose slot layout is invalid: 1"),
        "{}",
        stdout(&out)
    );
    let out = jdb(&["inspect", arg, "--page", "4"], dir.path());
    let text = stdout(&out);
    assert!(text.contains("verify     FAILED: checksum ok"), "{text}");
    assert!(text.contains("invalid slot layout"), "{text}");
}

#[test]
fn verify_and_inspect_refuse_a_procfs_file() {
    let dir = scratch();
    let out = jdb(&["verify", "/proc/cpuinfo"], dir.path());
    assert_one_line_error(&out, 2, "/proc/cpuinfo is a file on procfs");
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    let out = jdb(&["inspect", "/proc/cpuinfo"], dir.path());
    assert_one_line_error(&out, 1, "/proc/cpuinfo is a file on procfs");
}

#[test]
fn bench_clamps_a_pool_larger_than_the_file() {
    let dir = scratch();
    let args = [
        "bench", "--memory", "1TiB", "--pages", "64", "--ops", "200", "--tasks", "4", "--json",
    ];
    let report = bench_json(&args, dir.path());
    assert_eq!(report["config"]["cap"], 64);
    let notes = report["notes"].as_array().unwrap();
    assert!(
        notes.iter().any(|n| {
            let n = n.as_str().unwrap();
            n.contains("clamped to the file's 64 pages") && n.contains("--memory")
        }),
        "{notes:?}"
    );

    let args = [
        "bench", "--cap", "100000", "--pages", "64", "--ops", "200", "--tasks", "4",
    ];
    let out = jdb(&args, dir.path());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(text.contains("pool  64 pages"), "{text}");
    assert!(
        text.contains("pool clamped to the file's 64 pages (0.2 MiB): --cap asked for 100000"),
        "{text}"
    );
}
