//! `jdb`: benchmark the buffer pool, verify and inspect jdb page files.
//!
//! ```text
//! jdb bench [--compare] [--json] [--workload mixed|zipf|uniform|scan|randread|prefetch|seqwrite] ...
//! jdb verify FILE          exit 0 clean, 1 bad pages, 2 unreadable, in use or not a jdb file
//! jdb inspect FILE [--page ID]
//! ```
//!
//! Errors are printed as one line on stderr; nothing here panics on bad input.

mod bench;
mod input;
mod inspect;
mod logger;
mod output;
mod verify;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

/// The jdb command: benchmark the buffer pool, verify and inspect jdb page files.
#[derive(Debug, Parser)]
#[command(name = "jdb", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Benchmark the buffer pool on a seeded workload (optionally against baselines).
    Bench(bench::BenchArgs),
    /// Check every page of a file (magic, checksum, page id, slot directory). Exit code 0 when
    /// clean, 1 when a page is bad, 2 when the file cannot be read, a writer holds it, or it is
    /// not a jdb file. Never writes.
    Verify {
        /// The jdb file.
        file: PathBuf,
    },
    /// Summarise a file (page types, fill factor), or show one page in detail. Never writes.
    Inspect {
        /// The jdb file.
        file: PathBuf,
        /// Show this page: header, checksum, slot directory and rows.
        #[arg(long, value_name = "ID")]
        page: Option<u32>,
    },
}

fn main() -> ExitCode {
    logger::init();
    let cli = Cli::parse();
    // Exit code for an error: `verify` promises 2 for "cannot read"; the others use 1.
    let error_code = match cli.command {
        Command::Verify { .. } => 2,
        _ => 1,
    };
    let runtime = match compio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            return fail(
                &anyhow::Error::new(e).context("starting the io_uring runtime"),
                1,
            );
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Bench(args) => bench::run(args).await,
            Command::Verify { file } => verify::run(&file).await,
            Command::Inspect { file, page } => inspect::run(&file, page).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => fail(&e, error_code),
    }
}

/// Prints `e` as one line on stderr and returns `code`.
fn fail(e: &anyhow::Error, code: u8) -> ExitCode {
    output::print_error(e);
    ExitCode::from(code)
}
