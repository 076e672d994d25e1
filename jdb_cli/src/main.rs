//! `jdb`: benchmark the buffer pool, verify and inspect jdb page files.
//!
//! ```text
//! jdb bench [--compare] [--json] [--workload mixed|zipf|uniform|scan|randread|prefetch|seqwrite]
//!           [--tasks N] [--threads N] [--policy lru|clock|sieve|s3fifo] [--trace FILE] ...
//! jdb mrc [--trace FILE | --workload zipf|uniform|mixed|scan|randread] [--policy lru,sieve]
//!         [--sizes N,N,...] [--sample RATE] [--json] [--svg FILE] [--png FILE] [--mark SIZE]
//! jdb verify FILE [--json] exit 0 clean, 1 bad pages, 2 unreadable, in use or not a jdb file
//! jdb inspect FILE [--page ID] [--json]
//! ```
//!
//! Errors are printed as one line on stderr, usage errors (a bad option or value, exit code 2)
//! too; nothing here panics on bad input.

mod bench;
mod input;
mod inspect;
mod logger;
mod mrc;
mod output;
mod plot;
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
    /// Miss-ratio curves: the misses of each eviction policy at each pool size, for a trace or
    /// a seeded workload (exact LRU from stack distances, the others simulated), as a table,
    /// JSON or a picture. Reads no data file.
    Mrc(mrc::MrcArgs),
    /// Check every page of a file (magic, checksum, page id, slot directory). Exit code 0 when
    /// clean, 1 when a page is bad, 2 when the file cannot be read, a writer holds it, or it is
    /// not a jdb file. Never writes.
    Verify {
        /// The jdb file.
        file: PathBuf,
        /// Print one JSON object instead of the report (docs/json.md); same exit codes.
        #[arg(long)]
        json: bool,
    },
    /// Summarise a file (page types, fill factor, the atomic write unit its device reports), or
    /// show one page in detail. Never writes.
    Inspect {
        /// The jdb file.
        file: PathBuf,
        /// Show this page: header, checksum, slot directory and rows.
        #[arg(long, value_name = "ID")]
        page: Option<u32>,
        /// Print one JSON object instead of the report (docs/json.md).
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    logger::init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    // Exit code for an error: `verify` promises 2 for "cannot read"; the others use 1.
    let error_code = match &cli.command {
        Command::Verify { .. } => 2,
        _ => 1,
    };
    // `mrc` does no I/O but reading its trace: no io_uring runtime needed.
    let command = match cli.command {
        Command::Mrc(args) => return finish(mrc::run(args), 1),
        other => other,
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
        match command {
            Command::Bench(args) => bench::run(args).await,
            // Run above, without a runtime; kept here so the match stays exhaustive.
            Command::Mrc(args) => mrc::run(args),
            Command::Verify { file, json } => verify::run(&file, json).await,
            Command::Inspect { file, page, json } => inspect::run(&file, page, json).await,
        }
    });
    finish(result, error_code)
}

/// The exit code of a command's `result`; an error is printed (`error_code`), a closed pipe is
/// not an error.
fn finish(result: anyhow::Result<ExitCode>, error_code: u8) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => fail(&e, error_code),
    }
}

/// Prints help or the version as clap does; any other parse error as one line on stderr, exit
/// code 2: clap's message without its usage and help lines.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    let rendered = e.render().to_string();
    output::print_error(&anyhow::anyhow!("{}", one_line(&rendered)));
    ExitCode::from(2)
}

/// clap's error text up to its usage line, on one line, without the `error: ` prefix.
fn one_line(rendered: &str) -> String {
    let parts: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect();
    let line = parts.join("; ").replace(":;", ":");
    line.strip_prefix("error: ").unwrap_or(&line).to_string()
}

/// Prints `e` as one line on stderr and returns `code`.
fn fail(e: &anyhow::Error, code: u8) -> ExitCode {
    output::print_error(e);
    ExitCode::from(code)
}
