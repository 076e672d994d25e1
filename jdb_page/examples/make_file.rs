//! Makes a valid jdb data file of N pages through the pool (for `bench/limits.sh` and by hand):
//!
//! ```sh
//! cargo run --release -p jdb_page --example make_file -- PATH PAGES
//! ```
//!
//! Every page is an empty data page whose payload starts with its id, sealed (CRC32C). The file
//! is written under `PATH.partial` and renamed when complete.

#[path = "../benches/common/mod.rs"]
mod common;

use std::{path::PathBuf, process::ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(path), Some(pages)) = (args.first(), args.get(1).and_then(|p| p.parse().ok())) else {
        eprintln!("usage: make_file PATH PAGES");
        return ExitCode::from(2);
    };
    let path = PathBuf::from(path);
    let start = std::time::Instant::now();
    match common::block_on(common::make_file(&path, pages)) {
        Ok(()) => {
            eprintln!(
                "{}: {pages} pages in {:.1} s",
                path.display(),
                start.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}
