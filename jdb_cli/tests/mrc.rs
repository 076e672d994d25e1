//! `jdb mrc`: its curves equal what `jdb bench --trace` measures on a real pool, it prints a
//! table and draws valid SVG and PNG pictures, and a sampled curve stays within its stated error
//! bound.

mod common;

use std::path::{Path, PathBuf};

use common::{assert_one_line_error, jdb, scratch, stderr, stdout};
use jdb_page::PolicyKind;
use serde_json::Value;

fn traces() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/traces")
}

fn json_of(args: &[&str], cwd: &Path) -> Value {
    let out = jdb(args, cwd);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

/// The curve of `policy` in a `jdb mrc --json` report.
fn curve<'a>(report: &'a Value, policy: &str) -> &'a Vec<Value> {
    report["curves"][policy]
        .as_array()
        .unwrap_or_else(|| panic!("no {policy} curve in {report}"))
}

#[test]
fn curves_equal_the_pools_misses_under_jdb_bench_trace() {
    let dir = tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| scratch());
    let trace = traces().join("zipf.trace");
    let trace = trace.to_str().unwrap();
    let sizes = ["20", "256", "1000"];
    let report = json_of(
        &[
            "mrc",
            "--trace",
            trace,
            "--sizes",
            &sizes.join(","),
            "--json",
        ],
        dir.path(),
    );
    assert_eq!(report["requests"], 20_000);
    let file = dir.path().join("trace.jdb");
    for (i, size) in sizes.iter().enumerate() {
        let bench = json_of(
            &[
                "bench",
                "--trace",
                trace,
                "--pages",
                "3000",
                "--cap",
                size,
                "--file",
                file.to_str().unwrap(),
                "--compare",
                "--json",
            ],
            dir.path(),
        );
        // The default --policy is lru: `jdb.misses` is LRU's.
        let lru = &curve(&report, "lru")[i];
        assert_eq!(lru["size"].as_u64().unwrap().to_string(), *size);
        assert_eq!(lru["misses"], bench["jdb"]["misses"], "lru at {size}");
        let runs = bench["policies"].as_array().unwrap();
        for kind in PolicyKind::ALL {
            let run = runs.iter().find(|r| r["policy"] == kind.name()).unwrap();
            let point = &curve(&report, kind.name())[i];
            assert_eq!(point["misses"], run["misses"], "{kind} at {size}");
            let ratio = point["misses"].as_f64().unwrap() / 20_000.0;
            assert!((point["miss_ratio"].as_f64().unwrap() - ratio).abs() < 1e-12);
        }
    }
}

/// Checks that `svg` is an SVG document with one data line per policy (a polyline of more than
/// two points), a legend entry per policy and both axis labels.
fn check_svg(svg: &Path, policies: &[&str], points: usize) {
    let text = std::fs::read_to_string(svg).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{svg:?}: {e}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let lines: Vec<usize> = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .map(|n| {
            n.attribute("points")
                .unwrap_or("")
                .split_whitespace()
                .count()
        })
        .filter(|&n| n > 2)
        .collect();
    assert_eq!(lines, vec![points; policies.len()], "one line per policy");
    let texts: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    for label in policies
        .iter()
        .copied()
        .chain(["pool size, pages (log scale)", "miss ratio"])
    {
        assert!(texts.contains(&label), "{label} not in {texts:?}");
    }
    assert!(
        texts.iter().any(|t| t.contains("pages (")),
        "the mark: {texts:?}"
    );
}

/// Checks that `png` is a PNG picture of the chart's size.
fn check_png(png: &Path) {
    let bytes = std::fs::read(png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "signature");
    assert!(
        bytes.len() > 10_000,
        "{} bytes: nothing drawn?",
        bytes.len()
    );
    let decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
    let reader = decoder.read_info().unwrap();
    let info = reader.info();
    assert_eq!((info.width, info.height), (960, 600));
}

#[test]
fn repo_traces_and_a_workload_give_a_table_and_a_picture() {
    let dir = scratch();
    let all = ["lru", "clock", "sieve", "s3fifo"];
    for trace in ["zipf.trace", "uniform.trace", "zipf_scan.trace"] {
        let svg = dir.path().join(format!("{trace}.svg"));
        let path = traces().join(trace);
        let out = jdb(
            &[
                "mrc",
                "--trace",
                path.to_str().unwrap(),
                "--svg",
                svg.to_str().unwrap(),
            ],
            dir.path(),
        );
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(text.contains("20,000 requests"), "{text}");
        assert!(text.contains("miss ratio by pool size"), "{text}");
        let rows = text
            .lines()
            .filter(|l| {
                l.trim_start()
                    .starts_with(|c: char| c.is_ascii_digit() || c == '>')
            })
            .filter(|l| l.contains('%') && !l.contains("marked size"))
            .count();
        assert_eq!(rows, 12, "12 sizes by default: {text}");
        assert!(text.contains("> marked size"), "{text}");
        check_svg(&svg, &all, 12);
    }
    let png = dir.path().join("zipf.png");
    let svg = dir.path().join("zipf.svg");
    let out = jdb(
        &[
            "mrc",
            "--workload",
            "zipf",
            "--pages",
            "4096",
            "--ops",
            "30000",
            "--policy",
            "sieve,lru",
            "--sizes",
            "16,256,1024",
            "--mark",
            "64",
            "--png",
            png.to_str().unwrap(),
            "--svg",
            svg.to_str().unwrap(),
        ],
        dir.path(),
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        text.contains("--workload zipf (theta 0.99) over 4096 pages, seed 42"),
        "{text}"
    );
    assert!(text.contains("> 64"), "{text}");
    check_png(&png);
    check_svg(&svg, &["sieve", "lru"], 4);
}

#[test]
fn json_has_the_documented_fields() {
    let dir = scratch();
    let trace = dir.path().join("t.trace");
    std::fs::write(&trace, "# 1 2 1 3 2\n1\n2\n1\n3\n2\n").unwrap();
    let report = json_of(
        &[
            "mrc",
            "--trace",
            trace.to_str().unwrap(),
            "--policy",
            "lru,sieve,lru",
            "--sizes",
            "3,1,2",
            "--json",
        ],
        dir.path(),
    );
    assert_eq!(report["requests"], 5);
    assert_eq!(report["working_set"], 3);
    let curves = report["curves"].as_object().unwrap();
    assert_eq!(curves.len(), 2, "lru once, and sieve: {report}");
    let lru: Vec<(u64, u64)> = curve(&report, "lru")
        .iter()
        .map(|p| (p["size"].as_u64().unwrap(), p["misses"].as_u64().unwrap()))
        .collect();
    assert_eq!(lru, [(1, 5), (2, 4), (3, 3)]);
    assert_eq!(curve(&report, "lru")[1]["miss_ratio"], 0.8);
    assert_eq!(report["mark"], 2, "the median size");
    assert!(report["sample"].is_null());
}

#[test]
fn bad_options_are_one_line_errors() {
    let dir = scratch();
    let bad = dir.path().join("bad.trace");
    std::fs::write(&bad, "1\n2\nx\n").unwrap();
    let out = jdb(&["mrc", "--trace", bad.to_str().unwrap()], dir.path());
    assert_one_line_error(&out, 1, "bad.trace:3: `x` is not a page id");
    let out = jdb(&["mrc", "--sample", "0"], dir.path());
    assert_one_line_error(&out, 2, "not a sampling rate");
    let out = jdb(&["mrc", "--sample", "1.5"], dir.path());
    assert_one_line_error(&out, 2, "not a sampling rate");
    let out = jdb(&["mrc", "--policy", "fifo"], dir.path());
    assert_one_line_error(&out, 2, "unknown eviction policy");
    let out = jdb(&["mrc", "--trace", "x", "--workload", "scan"], dir.path());
    assert_one_line_error(&out, 2, "cannot be used with");
    let out = jdb(&["mrc", "--workload", "prefetch"], dir.path());
    assert_one_line_error(&out, 2, "invalid value 'prefetch'");
}

/// The points of `sampled` against those of `exact` (same sizes): every sampled point within its
/// stated bound of the exact miss ratio (half a miss of rounding allowed).
fn assert_within_bound(sampled: &Value, exact: &Value, policy: &str) {
    let requests = exact["requests"].as_f64().unwrap();
    for (s, e) in curve(sampled, policy).iter().zip(curve(exact, policy)) {
        assert_eq!(s["size"], e["size"]);
        if s["sampled"] == false {
            assert_eq!(s["misses"], e["misses"], "an exact point is exact");
            continue;
        }
        let bound = s["error_bound"].as_f64().unwrap();
        let error = (s["miss_ratio"].as_f64().unwrap() - e["miss_ratio"].as_f64().unwrap()).abs();
        assert!(
            error <= bound + 0.5 / requests,
            "{policy} at {}: sampled {} vs exact {}: error {error} > bound {bound}",
            s["size"],
            s["miss_ratio"],
            e["miss_ratio"]
        );
        assert!(bound < 0.05, "a useful bound: {bound}");
    }
}

/// A sampled curve of a 1,000,000-request zipf trace at rate 0.01: LRU is exact, the other
/// policies' sampled points are within their stated bounds of the exact 1,000,000-request run at
/// every size. (The time limit,
/// under 10 s in release, is a row of bench/limits.sh: tests run in debug.)
#[test]
fn sampled_curves_stay_within_their_stated_error_bound() {
    let dir = scratch();
    let workload = ["mrc", "--workload", "zipf", "--pages", "65536", "--json"];
    let sizes = ["--sizes", "5000,10000,20000,40000"];
    let sample = ["--sample", "0.01"];
    let big = json_of(
        &[&workload[..], &["--ops", "1000000"], &sizes, &sample].concat(),
        dir.path(),
    );
    assert_eq!(big["requests"], 1_000_000);
    let requests = big["sample"]["requests"].as_u64().unwrap();
    assert!(
        (3_000..20_000).contains(&requests),
        "about 1 % of the pages: {requests}"
    );
    assert_eq!(big["sample"]["controlled"], true);
    assert!(
        big["sample"]["error"]
            .as_str()
            .unwrap()
            .contains("4 standard errors")
    );
    for point in curve(&big, "lru") {
        assert_eq!(point["sampled"], false, "lru is exact: {point}");
        assert_eq!(point["error_bound"], 0.0);
    }
    let sieve = curve(&big, "sieve");
    assert_eq!(
        sieve[0]["sampled"], false,
        "a scaled cache of 50 pages: exact"
    );
    assert_eq!(sieve[1]["sampled_size"], 100);
    let exact_at_one_size = json_of(
        &[
            &workload[..],
            &["--ops", "1000000", "--sizes", "20000", "--policy", "sieve"],
        ]
        .concat(),
        dir.path(),
    );
    let (s, e) = (&sieve[2], &curve(&exact_at_one_size, "sieve")[0]);
    let error = (s["miss_ratio"].as_f64().unwrap() - e["miss_ratio"].as_f64().unwrap()).abs();
    assert!(
        error <= s["error_bound"].as_f64().unwrap() + 5e-7,
        "{s} vs {e}"
    );
    // Every policy at every size of the 1,000,000-request run: the sampled curve is within its
    // stated bound of the exact one.
    let exact = json_of(
        &[&workload[..], &["--ops", "1000000"], &sizes].concat(),
        dir.path(),
    );
    let sampled = &big;
    for kind in PolicyKind::ALL {
        assert_within_bound(sampled, &exact, kind.name());
    }
}
