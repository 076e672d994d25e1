//! Measures the pool's bookkeeping per frame: resident memory (RSS, from `/proc/self/statm`)
//! before and after opening a pool of `cap` frames and putting a page in every frame (`alloc` of
//! `cap` pages: every frame in use, in the hash map and in the LRU list), minus the `cap × 4096`
//! bytes of page data, divided by `cap`.
//!
//! ```sh
//! cargo run --release -p jdb_page --example frame_overhead            # 16 Ki, 64 Ki, 256 Ki frames
//! cargo run --release -p jdb_page --example frame_overhead -- 100000  # other caps
//! ```
//!
//! Each cap is measured in a fresh child process (this program re-run with `--one CAP`), so memory
//! the allocator kept from a previous pool cannot hide or inflate this one.

#[path = "../benches/common/mod.rs"]
mod common;

use std::process::{Command, ExitCode};

use jdb_fs::{File, PAGE_SIZE};
use jdb_page::BufferPool;

/// Resident bytes of this process (`/proc/self/statm`, field 2, in 4 KiB pages on x86-64/aarch64
/// Linux with 4 KiB pages).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("statm resident field");
    pages * PAGE_SIZE as u64
}

/// Opens a pool of `cap` frames over an empty file, fills every frame, prints the measurement.
fn measure(cap: usize) -> Result<(), Box<dyn std::error::Error>> {
    let path = common::data_dir().join(format!("frame_overhead_{cap}.jdb"));
    let rt = compio::runtime::Runtime::new()?;
    let file = rt.block_on(File::create(&path))?;
    let before = rss_bytes();
    let pool = rt.block_on(async {
        let pool = BufferPool::open(file, cap).await?;
        for _ in 0..cap {
            pool.alloc().await?;
        }
        Ok::<_, jdb_page::Error>(pool)
    })?;
    let after = rss_bytes();
    assert_eq!(pool.len(), cap, "every frame holds a page");
    let data = (cap * PAGE_SIZE) as u64;
    let overhead = after.saturating_sub(before).saturating_sub(data);
    println!(
        "{{\"cap\":{cap},\"rss_before\":{before},\"rss_after\":{after},\"page_data\":{data},\"overhead_bytes\":{overhead},\"bytes_per_frame\":{:.1}}}",
        overhead as f64 / cap as f64
    );
    // The pages were never meant to be written: forget them instead of warning on drop.
    std::mem::forget(pool);
    std::fs::remove_file(&path)?;
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, cap] = args.as_slice()
        && flag == "--one"
    {
        let Ok(cap) = cap.parse() else {
            return ExitCode::from(2);
        };
        return match measure(cap) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("cap {cap}: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let caps: Vec<usize> = if args.is_empty() {
        vec![16 << 10, 64 << 10, 256 << 10]
    } else {
        match args.iter().map(|a| a.parse()).collect() {
            Ok(caps) => caps,
            Err(_) => {
                eprintln!("usage: frame_overhead [CAP...]");
                return ExitCode::from(2);
            }
        }
    };
    let exe = std::env::current_exe().expect("own path");
    println!("| frames | RSS growth | page data | overhead | bytes/frame |");
    println!("|---:|---:|---:|---:|---:|");
    for cap in caps {
        let out = Command::new(&exe)
            .args(["--one", &cap.to_string()])
            .output()
            .expect("run child");
        if !out.status.success() {
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
            return ExitCode::FAILURE;
        }
        let line = String::from_utf8_lossy(&out.stdout);
        let field = |name: &str| -> f64 {
            let key = format!("\"{name}\":");
            line.split(&key)
                .nth(1)
                .and_then(|rest| rest.split([',', '}']).next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN)
        };
        let mib = |b: f64| b / (1024.0 * 1024.0);
        println!(
            "| {cap} | {:.2} MiB | {:.2} MiB | {:.2} MiB | {:.1} |",
            mib(field("rss_after") - field("rss_before")),
            mib(field("page_data")),
            mib(field("overhead_bytes")),
            field("bytes_per_frame")
        );
    }
    ExitCode::SUCCESS
}
