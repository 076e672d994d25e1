//! Ctrl-C (SIGINT) or SIGTERM during `jdb bench` removes the hidden `.jdb-bench-*` directory it
//! made, and the command exits with the shell's code for the signal (130, 143).

mod common;

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::scratch;

/// The `.jdb-bench-*` directories in `dir`.
fn bench_dirs(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".jdb-bench-"))
        .collect()
}

/// Starts a 60 s bench in a fresh directory, sends `signal` once its data file exists, and
/// checks the exit code and that nothing is left.
fn interrupt_bench(signal: i32, code: i32) {
    let dir = scratch();
    let mut child = Command::new(env!("CARGO_BIN_EXE_jdb"))
        .args([
            "bench",
            "--duration",
            "60s",
            "--pages",
            "1024",
            "--cap",
            "64",
            "--tasks",
            "4",
        ])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let made = bench_dirs(dir.path());
        if made
            .iter()
            .any(|d| dir.path().join(d).join("bench.jdb").exists())
        {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "jdb bench ended before it made its file"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no .jdb-bench-* directory after 30 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: `kill` takes no pointers; `pid` is our child, not yet waited for, so still ours.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);

    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("jdb bench did not exit within 30 s of signal {signal}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(code), "{status}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(bench_dirs(dir.path()), Vec::<String>::new(), "left behind");
}

#[test]
fn ctrl_c_during_bench_removes_its_temporary_directory() {
    interrupt_bench(libc::SIGINT, 130);
}

#[test]
fn sigterm_during_bench_removes_its_temporary_directory() {
    interrupt_bench(libc::SIGTERM, 143);
}
