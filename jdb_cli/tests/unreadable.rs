//! An unreadable file is a one-line error, also when the tests run as root: the command then runs
//! as `nobody`, for whom a mode-000 file is unreadable.
//!
//! `nobody` may not be able to enter the checkout (under `/root`, say) and so not run
//! `target/.../jdb` where Cargo built it: the test copies the binary, and makes the file, in a
//! fresh world-readable directory under the first of the system temp dir (`TMPDIR`), `/tmp`,
//! `/var/tmp` and `/dev/shm` where the copy really runs (as `nobody` when root). `TMPDIR` may
//! point inside the checkout, `/tmp` may be mounted `noexec`: each is tried by running the copy.
//! With none, the test is skipped, saying why.

use std::{
    os::unix::{fs::PermissionsExt, process::CommandExt},
    path::{Path, PathBuf},
    process::Command,
};

/// The user and group the command runs as when the tests run as root.
const NOBODY: u32 = 65534;

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// A command running `program`, as `nobody` when `as_nobody`, from `/`.
fn command(program: &Path, as_nobody: bool) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir("/");
    if as_nobody {
        cmd.uid(NOBODY).gid(NOBODY);
    }
    cmd
}

/// A fresh world-readable directory under `base` holding a copy of jdb that runs there.
fn runnable_copy_in(base: &Path, as_nobody: bool) -> Result<(tempfile::TempDir, PathBuf), String> {
    let dir = tempfile::tempdir_in(base).map_err(|e| format!("cannot make a directory: {e}"))?;
    // Let `nobody` reach the binary and the file, so the refusal is about the file itself.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("chmod: {e}"))?;
    let jdb = dir.path().join("jdb");
    std::fs::copy(env!("CARGO_BIN_EXE_jdb"), &jdb).map_err(|e| format!("copy: {e}"))?;
    std::fs::set_permissions(&jdb, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("chmod: {e}"))?;
    let out = command(&jdb, as_nobody)
        .arg("--version")
        .output()
        .map_err(|e| format!("the copy cannot be run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the copy does not run: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok((dir, jdb))
}

/// The first candidate directory where a copy of jdb runs, or why none does.
fn runnable_copy(as_nobody: bool) -> Result<(tempfile::TempDir, PathBuf), String> {
    let mut bases = vec![std::env::temp_dir()];
    for base in ["/tmp", "/var/tmp", "/dev/shm"] {
        if !bases.iter().any(|b| b == Path::new(base)) {
            bases.push(PathBuf::from(base));
        }
    }
    let mut why = Vec::new();
    for base in &bases {
        match runnable_copy_in(base, as_nobody) {
            Ok(found) => {
                if !why.is_empty() {
                    eprintln!(
                        "jdb runs from {}; not from {}",
                        base.display(),
                        why.join("; ")
                    );
                }
                return Ok(found);
            }
            Err(e) => why.push(format!("{}: {e}", base.display())),
        }
    }
    Err(why.join("; "))
}

#[test]
fn an_unreadable_file_is_a_one_line_error() {
    let as_nobody = is_root();
    let (dir, jdb) = match runnable_copy(as_nobody) {
        Ok(found) => found,
        Err(why) => {
            let who = if as_nobody { "nobody" } else { "this user" };
            eprintln!("skipped: no directory where {who} can run a copy of jdb ({why})");
            return;
        }
    };
    let path = dir.path().join("secret.jdb");
    std::fs::write(&path, vec![0u8; 8192]).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();

    for (subcommand, code) in [("verify", 2), ("inspect", 1)] {
        let out = command(&jdb, as_nobody)
            .args([subcommand, path.to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{subcommand}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{subcommand}: one line: {err}"
        );
        assert!(err.contains("Permission denied"), "{subcommand}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
            "{err}"
        );
    }
}
