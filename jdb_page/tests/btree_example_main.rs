//! `examples/btree.rs` as a program: run with no arguments it passes its model check, exits with
//! 0 and prints its one success line; when the check finds a mismatch (`--inject-mismatch`) it
//! exits with 1 and one line on stderr.
//!
//! `cargo test --test NAME` does not build the examples, so a binary found under
//! `target/.../examples` may be missing or older than the source. Instead this test (no libtest
//! harness: `harness = false` in Cargo.toml) compiles the example in as a module and runs itself
//! as a child process with `JDB_BTREE_EXAMPLE_CHILD` set, in which it calls the example's own
//! `main` with the child's arguments: the program, argument parsing and exit code included.

#[path = "../examples/btree.rs"]
mod btree;

use std::{
    process::{Command, ExitCode, Output, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

/// Set in the child: run the example's `main`.
const CHILD: &str = "JDB_BTREE_EXAMPLE_CHILD";

/// Runs the example's `main` in a child process with `args`, in a fresh directory (where it puts
/// its file); fails if it runs longer than `limit`.
fn run_example(args: &[&str], limit: Duration) -> (Output, Duration) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let start = Instant::now();
    let child = Command::new(std::env::current_exe().unwrap())
        .args(args)
        .env(CHILD, "1")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => (out.unwrap(), start.elapsed()),
        Err(_) => {
            // SAFETY: `kill` takes no pointer; `pid` is our child, not reaped while we wait.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("btree {args:?} still running after {limit:?}");
        }
    }
}

fn with_no_arguments_it_passes_and_prints_its_success_line() {
    let (out, took) = run_example(&[], Duration::from_secs(300));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");
    assert!(stderr.is_empty(), "{stderr}");
    // "btree: 32 tasks, I inserts and L lookups checked against a BTreeMap; ...; reopened and
    // checked again": every one of the 32 x 1,000 operations was done and checked.
    let line = stdout.trim_end();
    let numbers: Vec<u64> = line
        .split([' ', ','])
        .filter_map(|word| word.parse().ok())
        .collect();
    assert!(line.starts_with("btree: 32 tasks, "), "{line}");
    assert!(line.ends_with("reopened and checked again"), "{line}");
    assert_eq!(
        numbers.get(1).zip(numbers.get(2)).map(|(i, l)| i + l),
        Some(32_000),
        "{line}"
    );
    eprintln!("btree with no arguments ({took:.1?}): {line}");
}

fn a_mismatch_exits_with_1_and_one_line() {
    let args = [
        "--tasks",
        "4",
        "--ops",
        "300",
        "--keys",
        "500",
        "--inject-mismatch",
    ];
    let (out, _) = run_example(&args, Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("btree: failed: scan: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn main() -> ExitCode {
    if std::env::var_os(CHILD).is_some() {
        return btree::main();
    }
    with_no_arguments_it_passes_and_prints_its_success_line();
    a_mismatch_exits_with_1_and_one_line();
    println!("btree example: 2 tests passed");
    ExitCode::SUCCESS
}
