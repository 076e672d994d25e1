//! `jdb verify --json` and `jdb inspect --json` (with and without `--page`): one JSON object
//! with the fields docs/json.md lists, and the same exit codes as the text reports.

mod common;

use std::path::{Path, PathBuf};

use common::{assert_one_line_error, jdb, scratch, stderr, stdout};
use jdb_fs::File;
use jdb_page::BufferPool;
use serde_json::Value;

const PAGE: usize = 4096;

/// A jdb file of `pages` data pages, each with the rows `hello jdb` and `hello jdb <id>`.
fn make_file(dir: &Path, pages: u32) -> PathBuf {
    let path = dir.join("data.jdb");
    compio::runtime::Runtime::new()
        .unwrap()
        .block_on(async {
            let pool = BufferPool::open(File::create(&path).await?, 8).await?;
            for id in 0..pages {
                let mut page = pool.alloc().await?;
                let mut rows = page.rows_mut()?;
                rows.insert(b"hello jdb").unwrap();
                rows.insert(format!("hello jdb {id}").as_bytes()).unwrap();
            }
            pool.close().await
        })
        .unwrap();
    path
}

fn json(args: &[&str], cwd: &Path, code: i32) -> Value {
    let out = jdb(args, cwd);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

#[test]
fn verify_json_lists_bad_pages_and_keeps_the_exit_codes() {
    let dir = scratch();
    let path = make_file(dir.path(), 20);
    let file = path.to_str().unwrap();
    let clean = json(&["verify", file, "--json"], dir.path(), 0);
    assert_eq!(clean["clean"], true);
    assert_eq!(clean["pages"], 20);
    assert_eq!(clean["bytes"], 20 * PAGE);
    assert_eq!(clean["bad_count"], 0);
    assert_eq!(clean["good_by_type"]["data"], 20);
    assert_eq!(clean["bad_pages"].as_array().unwrap().len(), 0);
    assert_eq!(clean["file"], file);

    let mut bytes = std::fs::read(&path).unwrap();
    bytes[13 * PAGE + 1000] ^= 0x40;
    bytes[15 * PAGE..16 * PAGE].fill(0);
    std::fs::write(&path, &bytes).unwrap();
    let bad = json(&["verify", file, "--json"], dir.path(), 1);
    assert_eq!(bad["clean"], false);
    assert_eq!(bad["bad_count"], 2);
    assert_eq!(bad["never_written"], 1);
    assert_eq!(bad["good_by_type"]["data"], 18);
    assert_eq!(bad["bad_pages_truncated"], false);
    let pages = bad["bad_pages"].as_array().unwrap();
    assert_eq!(pages[0]["page"], 13);
    assert_eq!(pages[0]["kind"], "checksum_mismatch");
    assert!(pages[0]["problem"].as_str().unwrap().contains("stored 0x"));
    assert_eq!(pages[1]["page"], 15);
    assert_eq!(pages[1]["kind"], "never_written");

    // Exit code 2 still prints no JSON, only the one-line error.
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "just some text\n".repeat(1000)).unwrap();
    let out = jdb(&["verify", text.to_str().unwrap(), "--json"], dir.path());
    assert_one_line_error(&out, 2, "not a jdb file");
    assert!(out.stdout.is_empty());
}

#[test]
fn inspect_json_summarises_the_file_and_shows_a_page() {
    let dir = scratch();
    let path = make_file(dir.path(), 12);
    let file = path.to_str().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[3 * PAGE + 2000] ^= 1;
    bytes.extend_from_slice(&[7; 100]);
    std::fs::write(&path, &bytes).unwrap();

    let summary = json(&["inspect", file, "--json"], dir.path(), 0);
    assert_eq!(summary["pages"], 12);
    assert_eq!(summary["bytes"], 12 * PAGE + 100);
    assert_eq!(summary["tail_bytes"], 100);
    assert_eq!(summary["by_type"]["data"], 11);
    assert_eq!(summary["bad"], 1);
    assert_eq!(summary["first_bad"], 3);
    let data = &summary["data"];
    assert_eq!(data["pages"], 11);
    assert_eq!(data["live_rows"], 22);
    let fill = data["fill_avg"].as_f64().unwrap();
    assert!(
        data["fill_min"].as_f64().unwrap() <= fill && fill <= data["fill_max"].as_f64().unwrap()
    );
    let buckets = data["fill_histogram"].as_array().unwrap();
    assert_eq!(buckets.len(), 10);
    assert_eq!(buckets[0]["from"], 0);
    assert_eq!(buckets[9]["to"], 100);
    let in_buckets: u64 = buckets.iter().map(|b| b["pages"].as_u64().unwrap()).sum();
    assert_eq!(in_buckets, 11);
    // Null (none reported: neither the disk nor tmpfs here does) or {min, max} in bytes.
    let unit = summary
        .get("atomic_write_unit")
        .unwrap_or_else(|| panic!("no atomic_write_unit: {summary}"));
    if !unit.is_null() {
        let mut fields: Vec<&String> = unit.as_object().unwrap().keys().collect();
        fields.sort();
        assert_eq!(fields, ["max", "min"], "{unit}");
        let (min, max) = (unit["min"].as_u64().unwrap(), unit["max"].as_u64().unwrap());
        assert!(
            0 < min && min <= max && max <= u64::from(u32::MAX),
            "{unit}"
        );
    }

    let page = json(&["inspect", file, "--page", "5", "--json"], dir.path(), 0);
    assert_eq!(page["page"], 5);
    assert_eq!(page["ok"], true);
    assert!(page["problem"].is_null());
    assert_eq!(page["checksum"]["matches"], true);
    assert_eq!(page["magic"], "\"JDBP\"");
    assert_eq!(page["header"]["page_id"], 5);
    assert_eq!(page["header"]["page_type"], "data");
    let rows = page["data"]["rows"].as_array().unwrap();
    assert_eq!(page["data"]["live"], 2);
    assert_eq!(rows[0]["preview"], "\"hello jdb\"");
    assert_eq!(rows[1]["preview"], "\"hello jdb 5\"");
    assert_eq!(rows[0]["len"], 9);
    assert_eq!(rows[0]["offset"], PAGE - 9);

    let damaged = json(&["inspect", file, "--page", "3", "--json"], dir.path(), 0);
    assert_eq!(damaged["ok"], false);
    assert_eq!(damaged["problem"]["kind"], "checksum_mismatch");
    assert_eq!(damaged["checksum"]["matches"], false);
    assert_eq!(
        damaged["data"]["live"], 2,
        "the rows of a damaged data page are still shown"
    );

    let out = jdb(&["inspect", file, "--page", "99", "--json"], dir.path());
    assert_one_line_error(&out, 1, "past the end of the file");
}
