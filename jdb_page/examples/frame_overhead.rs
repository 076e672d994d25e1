//! The pool's bookkeeping, two ways, for every eviction policy:
//!
//! - **per frame**: resident memory (RSS, from `/proc/self/statm`) before and after opening a pool
//!   of `cap` frames and putting a page in every frame (`alloc` of `cap` pages: every frame
//!   resident, mapped in the page table and in the policy), minus the `cap × 4096` bytes of page
//!   data, divided by `cap`; beside it what the pool says it keeps,
//!   `bookkeeping_bytes() / cap`, and the page table's share of that. Then the same after churn:
//!   the pages written (`flush_all`) and `cap` more allocated, each evicting one, so what evictions
//!   add is resident too (S3-FIFO's ghost of evicted ids; the page table then covers `2 × cap`
//!   pages of file, 8 bytes per frame instead of 4). Each (cap, policy) runs in
//!   a fresh child process (this program re-run with `--one CAP POLICY`), so memory the
//!   allocator kept from a previous pool cannot hide or inflate this one.
//! - **page table per page of file** (`--table`): a 1 024-frame pool over `cold.jdb` (65 536
//!   pages, 256 MiB, in the bench data dir, made if missing) prefetches one page in every
//!   `stride`; `page_table_bytes()` is then divided by the pages of the file and by the pages
//!   touched. The table keeps a chunk (4 096 entries) once any page of its range was cached, so
//!   its size follows the part of the file touched, not the pool's size.
//!
//! ```sh
//! cargo run --release -p jdb_page --example frame_overhead                # 16 Ki, 64 Ki, 256 Ki
//! cargo run --release -p jdb_page --example frame_overhead -- 65536 100000 # other caps
//! cargo run --release -p jdb_page --example frame_overhead -- --table
//! ```

#[path = "../benches/common/mod.rs"]
mod common;

use std::process::{Command, ExitCode};

use jdb_fs::{File, PAGE_SIZE};
use jdb_page::{BufferPool, PolicyKind, PoolOptions};

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

/// Opens a pool of `cap` frames with `policy` over an empty file, fills every frame, prints the
/// measurement as one JSON line.
fn measure(cap: usize, policy: PolicyKind) -> Result<(), Box<dyn std::error::Error>> {
    let path = common::data_dir().join(format!("frame_overhead_{cap}_{policy}.jdb"));
    let rt = compio::runtime::Runtime::new()?;
    let file = rt.block_on(File::create(&path))?;
    let before = rss_bytes();
    let pool = rt.block_on(async {
        let pool = BufferPool::open_with(file, PoolOptions::new(cap).policy(policy)).await?;
        for _ in 0..cap {
            pool.alloc().await?;
        }
        Ok::<_, jdb_page::Error>(pool)
    })?;
    let after = rss_bytes();
    assert_eq!(pool.len(), cap, "every frame holds a page");
    let (book, table) = (pool.bookkeeping_bytes(), pool.page_table_bytes());
    // Churn: write the pages (now clean), then allocate `cap` more, each evicting one: what an
    // eviction adds (S3-FIFO's ghost fills with evicted ids) is then resident too. The page
    // table now covers `2 × cap` pages of file.
    rt.block_on(async {
        pool.flush_all().await?;
        for _ in 0..cap {
            pool.alloc().await?;
        }
        Ok::<_, jdb_page::Error>(())
    })?;
    let churned = rss_bytes();
    assert_eq!(pool.stats().evictions, cap as u64);
    let data = (cap * PAGE_SIZE) as u64;
    let overhead = after.saturating_sub(before).saturating_sub(data);
    let overhead_churned = churned.saturating_sub(before).saturating_sub(data);
    println!(
        "{{\"cap\":{cap},\"policy\":\"{policy}\",\"rss_before\":{before},\"rss_after\":{after},\"page_data\":{data},\"overhead_bytes\":{overhead},\"bookkeeping_bytes\":{book},\"page_table_bytes\":{table},\"overhead_churned\":{overhead_churned},\"bookkeeping_churned\":{},\"page_table_churned\":{}}}",
        pool.bookkeeping_bytes(),
        pool.page_table_bytes(),
    );
    // The pages were never meant to be written: forget them instead of warning on drop (the
    // process ends here anyway).
    std::mem::forget(pool);
    std::fs::remove_file(&path)?;
    Ok(())
}

/// Pages of `cold.jdb`, and the strides at which `--table` touches them.
const TABLE_FILE_PAGES: u32 = 65_536;
const STRIDES: [u32; 5] = [1, 16, 256, 4096, 16_384];

/// The page table's bytes after touching one page in every stride of `cold.jdb`.
fn table(strides: &[u32]) -> Result<(), Box<dyn std::error::Error>> {
    let path = common::ensure_file("cold.jdb", TABLE_FILE_PAGES);
    println!(
        "| stride | pages touched | page_table_bytes | ÷ pages of file ({TABLE_FILE_PAGES}) | ÷ pages touched |"
    );
    println!("|---:|---:|---:|---:|---:|");
    for &stride in strides {
        let ids: Vec<u32> = (0..TABLE_FILE_PAGES).step_by(stride as usize).collect();
        let bytes = common::block_on(async {
            let pool = BufferPool::open(File::open(&path).await?, 1024).await?;
            pool.prefetch(&ids).await?;
            let bytes = pool.page_table_bytes();
            pool.close().await?;
            Ok::<_, jdb_page::Error>(bytes)
        })?;
        println!(
            "| {stride} | {} | {bytes} | {:.3} | {:.1} |",
            ids.len(),
            bytes as f64 / f64::from(TABLE_FILE_PAGES),
            bytes as f64 / ids.len() as f64
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, cap, policy] = args.as_slice()
        && flag == "--one"
    {
        let (Ok(cap), Ok(policy)) = (cap.parse(), policy.parse()) else {
            return ExitCode::from(2);
        };
        return match measure(cap, policy) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("cap {cap} {policy}: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if args.first().map(String::as_str) == Some("--table") {
        return match table(&STRIDES) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("--table: {e}");
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
                eprintln!("usage: frame_overhead [CAP...] | --table");
                return ExitCode::from(2);
            }
        }
    };
    let exe = std::env::current_exe().expect("own path");
    println!(
        "| frames | policy | RSS growth | bytes/frame (RSS) | bookkeeping_bytes()/frame | of which page table | after churn: bytes/frame (RSS) | bookkeeping_bytes()/frame | of which page table |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for cap in caps {
        for policy in PolicyKind::ALL {
            let out = Command::new(&exe)
                .args(["--one", &cap.to_string(), policy.name()])
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
            let per_frame = |b: f64| b / cap as f64;
            println!(
                "| {cap} | {policy} | {:.2} MiB | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
                mib(field("rss_after") - field("rss_before")),
                per_frame(field("overhead_bytes")),
                per_frame(field("bookkeeping_bytes")),
                per_frame(field("page_table_bytes")),
                per_frame(field("overhead_churned")),
                per_frame(field("bookkeeping_churned")),
                per_frame(field("page_table_churned")),
            );
        }
    }
    ExitCode::SUCCESS
}
