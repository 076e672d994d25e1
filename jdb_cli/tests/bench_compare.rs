//! `jdb bench --compare` compares equal things: the OS page cache baseline runs in a cgroup held
//! to the pool's memory where one can be made, and otherwise its headline says "unequal memory".

mod common;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use common::{jdb, jdb_with_env, scratch, stderr, stdout};
use serde_json::Value;

const ARGS: &str = "bench --pages 2000 --workload uniform --ops 2000 --tasks 4 --compare";

fn run(extra: &str, env: &[(&str, &str)]) -> (Value, String) {
    let dir = scratch();
    let args: Vec<&str> = ARGS
        .split_whitespace()
        .chain(extra.split_whitespace())
        .collect();
    let json_args: Vec<&str> = args.iter().copied().chain(["--json"]).collect();
    let limit = Duration::from_secs(60);
    let out = jdb_with_env(&json_args, dir.path(), limit, env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = serde_json::from_slice(&out.stdout).unwrap();
    let out = jdb_with_env(&args, dir.path(), limit, env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (report, stdout(&out))
}

/// The ratio of jdb to `baseline` in `report`.
fn ratio<'a>(report: &'a Value, baseline: &str) -> &'a Value {
    report["ratios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["baseline"] == baseline)
        .unwrap_or_else(|| panic!("no ratio to {baseline}: {report}"))
}

#[test]
fn without_a_cgroup_the_headline_itself_says_unequal_memory() {
    let (report, text) = run("--cap 200", &[("JDB_NO_CGROUP", "1")]);
    let os = ratio(&report, "os");
    let memory = &os["memory"];
    assert_eq!(memory["equal"], false, "{os}");
    assert_eq!(memory["how"], "unequal");
    assert_eq!(memory["jdb_bytes"], 200 * 4096);
    let could = memory["baseline_bytes"].as_u64().unwrap();
    assert!(could > 200 * 4096 && could <= 2000 * 4096, "{memory}");
    assert!(memory["reason"].as_str().unwrap().contains("JDB_NO_CGROUP"));
    let headline = os["headline"].as_str().unwrap();
    assert_eq!(
        headline,
        "jdb ÷ os (os had up to 7.8 MiB of page cache, jdb 800 KiB: unequal memory)"
    );
    let line = text
        .lines()
        .find(|l| l.starts_with("jdb ÷ os"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.starts_with(headline) && line.contains("throughput"),
        "{line}"
    );
    let lru = ratio(&report, "lru");
    assert_eq!(lru["memory"]["equal"], true);
    assert_eq!(lru["memory"]["how"], "same capacity");
    assert_eq!(lru["headline"], "jdb ÷ lru (same capacity, 800 KiB)");
}

#[test]
fn data_that_fits_in_the_pool_is_equal_memory() {
    let (report, text) = run("--cap 2000", &[("JDB_NO_CGROUP", "1")]);
    let os = ratio(&report, "os");
    assert_eq!(os["memory"]["equal"], true, "{os}");
    assert_eq!(os["memory"]["how"], "file fits in the pool");
    assert!(os["headline"].as_str().unwrap().ends_with("equal memory)"));
    assert!(!text.contains("unequal"), "{text}");
}

/// The cgroup hierarchies mounted here: `(filesystem type, super options, root, mount point)`.
fn cgroup_mounts() -> Vec<(String, String, String, PathBuf)> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mut right = right.split_whitespace();
            let (fstype, _, options) = (right.next()?, right.next()?, right.next()?);
            let mut left = left.split_whitespace().skip(3);
            let (root, mount) = (left.next()?, left.next()?);
            fstype
                .starts_with("cgroup")
                .then(|| (fstype.into(), options.into(), root.into(), mount.into()))
        })
        .collect()
}

/// The directory of this process's cgroup `path` (from /proc/self/cgroup) in the hierarchy
/// mounted at `mount` with root `root`.
fn own_cgroup(mount: &Path, root: &str, path: &str) -> PathBuf {
    let path = Path::new(path);
    let relative = path.strip_prefix(root).unwrap_or(path);
    mount.join(relative.strip_prefix("/").unwrap_or(relative))
}

/// Makes a child of `parent`, writes `limit_file` in it, and removes it again.
fn try_child(parent: &Path, limit_file: &str) -> Result<(), String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let probe = parent.join(format!("jdb-test-probe-{}-{nanos}", std::process::id()));
    std::fs::create_dir(&probe).map_err(|e| format!("mkdir {}: {e}", probe.display()))?;
    let set = std::fs::write(probe.join(limit_file), (64u64 << 20).to_string())
        .map_err(|e| format!("{limit_file}: {e}"));
    let _ = std::fs::remove_dir(&probe);
    set
}

/// Whether this process can make a child cgroup with a memory limit, and in which hierarchy (2,
/// else 1), or why not: found out here, apart from jdb's own code, so that where one can be made
/// a jdb that fails to make it fails the test instead of skipping it.
fn cgroup_possible() -> Result<u8, String> {
    if std::env::var_os("JDB_NO_CGROUP").is_some() {
        return Err("JDB_NO_CGROUP is set in the tests' environment".into());
    }
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mounts = cgroup_mounts();
    let mut why = Vec::new();
    let v2 = mounts.iter().find(|m| m.0 == "cgroup2");
    let v2_own = own.lines().find_map(|l| l.strip_prefix("0::"));
    match (v2, v2_own) {
        (Some((_, _, root, mount)), Some(path)) => {
            let dir = own_cgroup(mount, root, path);
            let controllers =
                std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
            let subtree =
                std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
            let has = |list: &str| list.split_whitespace().any(|c| c == "memory");
            if !has(&controllers) {
                why.push(format!("v2: no memory controller in {}", dir.display()));
            } else if has(&subtree) {
                match try_child(&dir, "memory.max") {
                    Ok(()) => return Ok(2),
                    Err(e) => why.push(format!("v2: {e}")),
                }
            } else {
                // jdb would enable it for the children; see whether that can be done, and undo.
                let control = dir.join("cgroup.subtree_control");
                match std::fs::write(&control, "+memory") {
                    Ok(()) => {
                        let made = try_child(&dir, "memory.max");
                        let _ = std::fs::write(&control, "-memory");
                        match made {
                            Ok(()) => return Ok(2),
                            Err(e) => why.push(format!("v2: {e}")),
                        }
                    }
                    Err(e) => why.push(format!("v2: +memory: {e}")),
                }
            }
        }
        _ => why.push("v2: not mounted, or this process is not in it".into()),
    }
    let memory = |list: &str| list.split(',').any(|c| c == "memory");
    let v1 = mounts.iter().find(|m| m.0 == "cgroup" && memory(&m.1));
    let v1_own = own.lines().find_map(|l| {
        let mut fields = l.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        memory(controllers).then_some(path)
    });
    match (v1, v1_own) {
        (Some((_, _, root, mount)), Some(path)) => {
            match try_child(&own_cgroup(mount, root, path), "memory.limit_in_bytes") {
                Ok(()) => return Ok(1),
                Err(e) => why.push(format!("v1: {e}")),
            }
        }
        _ => why.push("v1: no memory hierarchy, or this process is not in it".into()),
    }
    Err(why.join("; "))
}

#[test]
fn where_a_cgroup_can_be_made_the_os_runs_in_it() {
    let version = match cgroup_possible() {
        Ok(version) => version,
        Err(why) => {
            println!("skipped: no memory cgroup can be made on this machine: {why}");
            return;
        }
    };
    let (report, text) = run("--cap 200", &[]);
    let os = ratio(&report, "os");
    let memory = &os["memory"];
    assert_eq!(
        memory["how"], "cgroup",
        "a cgroup v{version} can be made: {os}"
    );
    assert_eq!(memory["equal"], true);
    assert_eq!(memory["cgroup_version"], version);
    let limit = 200 * 4096 + (16 << 20);
    assert_eq!(memory["baseline_bytes"], limit);
    let headline = os["headline"].as_str().unwrap();
    assert_eq!(
        headline,
        "jdb ÷ os (os in a cgroup of 16.8 MiB, jdb 800 KiB: equal memory)"
    );
    let line = text
        .lines()
        .find(|l| l.starts_with("jdb ÷ os"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.starts_with(headline), "{line}");
    let limit_file = if version == 1 {
        "memory.limit_in_bytes"
    } else {
        "memory.max"
    };
    assert!(
        text.contains(&format!(
            "in a cgroup v{version} of {limit_file} = 16.8 MiB"
        )),
        "{text}"
    );
    let baseline = &report["baselines"][1];
    assert_eq!(baseline["system"], "os");
    assert_eq!(baseline["ops"], report["jdb"]["ops"], "the same operations");
    // The child ran inside it: the cgroup was charged for its memory (its heap, and the pages
    // it read through the page cache: about 5 MiB of the 7.8 MiB file), and no more than the
    // limit. (v2 kernels before 5.19 have no memory.peak.)
    match memory["cgroup_peak_bytes"].as_u64() {
        Some(peak) => assert!((1 << 20..=limit).contains(&peak), "{memory}"),
        None if version == 2 => println!("memory.peak not reported: {memory}"),
        None => panic!("cgroup v1 always has memory.max_usage_in_bytes: {memory}"),
    }
}

#[test]
fn every_baseline_runs_with_the_tasks_asked_for() {
    // No JDB_NO_CGROUP: where a cgroup can be made, the os baseline runs in a child process,
    // which reports its own tasks.
    for threads in [1, 2] {
        let (report, text) = run(&format!("--cap 200 --threads {threads}"), &[]);
        assert_eq!(report["config"]["tasks"], 4);
        let baselines = report["baselines"].as_array().unwrap();
        let systems: Vec<&Value> = baselines.iter().map(|b| &b["system"]).collect();
        assert_eq!(systems, ["lru", "os"]);
        for run in std::iter::once(&report["jdb"]).chain(baselines) {
            assert_eq!(run["tasks"], 4, "{run}");
            assert_eq!(run["threads"], threads, "{run}");
            assert_eq!(run["ops"], 2000, "{run}");
        }
        let plural = if threads == 1 { "" } else { "s" };
        assert!(
            text.contains(&format!("4 tasks × {threads} thread{plural}\n")),
            "{text}"
        );
    }
}

#[test]
fn the_os_baseline_child_prints_its_runs() {
    // The parent makes the cgroup; any directory stands for one here (joining it writes our
    // pid to its cgroup.procs).
    let dir = scratch();
    let file = dir.path().join("c.jdb");
    let file = file.to_str().unwrap();
    let made = jdb(
        &[
            "bench",
            "--file",
            file,
            "--pages",
            "500",
            "--threads",
            "2",
            "--ops",
            "10",
        ],
        dir.path(),
    );
    assert_eq!(made.status.code(), Some(0), "{}", stderr(&made));
    let fake = dir.path().join("cgroup");
    std::fs::create_dir(&fake).unwrap();
    let args = [
        "bench",
        "--file",
        file,
        "--pages",
        "500",
        "--cap",
        "50",
        "--ops",
        "300",
        "--threads",
        "2",
        "--internal-os-baseline",
        fake.to_str().unwrap(),
    ];
    let out = jdb(&args, dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2, "one run per thread");
    let ops: u64 = runs
        .iter()
        .map(|r| r["counts"]["ops"].as_u64().unwrap())
        .sum();
    assert_eq!(ops, 300);
    assert!(!runs[0]["histogram"].as_array().unwrap().is_empty());
    let pid = std::fs::read_to_string(fake.join("cgroup.procs")).unwrap();
    assert!(pid.trim().parse::<u32>().is_ok(), "{pid}");
}

/// The polylines of more than two points (the data lines) and the texts of an SVG file.
fn svg_lines_and_texts(path: &std::path::Path) -> (usize, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let lines = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .filter(|n| {
            n.attribute("points")
                .unwrap_or("")
                .split_whitespace()
                .count()
                > 2
        })
        .count();
    let texts = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_string())
        .collect();
    (lines, texts)
}

#[test]
fn the_latency_picture_has_one_line_per_system() {
    let dir = scratch();
    let svg = dir.path().join("latency.svg");
    let (report, _) = run(
        &format!("--cap 200 --svg {}", svg.to_str().unwrap()),
        &[("JDB_NO_CGROUP", "1")],
    );
    assert_eq!(report["baselines"].as_array().unwrap().len(), 2);
    let (lines, texts) = svg_lines_and_texts(&svg);
    assert_eq!(lines, 3, "jdb, lru, os");
    for label in [
        "jdb",
        "lru",
        "os",
        "percentile (log scale of 1/(1-p))",
        "latency (log scale)",
        "50 %",
        "90 %",
        "99 %",
        "99.9 %",
    ] {
        assert!(texts.iter().any(|t| t == label), "{label} not in {texts:?}");
    }
    let alone = dir.path().join("alone.svg");
    let args = [
        "bench",
        "--pages",
        "500",
        "--ops",
        "500",
        "--svg",
        alone.to_str().unwrap(),
    ];
    let out = jdb(&args, dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(svg_lines_and_texts(&alone).0, 1, "jdb alone");
}
