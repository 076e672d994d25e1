//! Helpers shared by the `jdb` binary's integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::mpsc,
    time::Duration,
};

/// A directory on the target's filesystem (not /tmp, which may be tmpfs without O_DIRECT).
pub fn scratch() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("scratch dir")
}

/// Runs `jdb args` in `cwd`, killing it and failing if it takes more than `limit`.
pub fn jdb_within(args: &[&str], cwd: &Path, limit: Duration) -> Output {
    jdb_with_env(args, cwd, limit, &[])
}

/// As [`jdb_within`], with these environment variables set.
pub fn jdb_with_env(args: &[&str], cwd: &Path, limit: Duration, env: &[(&str, &str)]) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_jdb"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run jdb");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("wait for jdb"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("jdb {args:?} still running after {limit:?}: it hangs");
        }
    }
}

/// Runs `jdb args` in `cwd` (at most 60 s).
pub fn jdb(args: &[&str], cwd: &Path) -> Output {
    jdb_within(args, cwd, Duration::from_secs(60))
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a failure with one line on stderr, `jdb: ...`, and no panic.
pub fn assert_one_line_error(out: &Output, code: i32, must_contain: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(err.starts_with("jdb: "), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(must_contain), "{err} lacks {must_contain}");
    assert!(!err.contains("panicked"), "{err}");
}

/// A loop device attached to an image file, detached on drop.
pub struct LoopDevice {
    pub device: PathBuf,
}

impl LoopDevice {
    /// Attaches `image` (needs root and loop support), or says why it cannot be done here.
    pub fn attach(image: &Path) -> Result<Self, String> {
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(image)
            .output()
            .map_err(|e| format!("cannot run losetup: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "losetup failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let device = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok(Self {
            device: PathBuf::from(device),
        })
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.device).status();
    }
}
