//! An unreadable file is a one-line error, also when the tests run as root: the command then runs
//! as `nobody`, for whom a mode-000 file is unreadable.
//!
//! `nobody` may not be able to enter the checkout (under `/root`, say) and so not run
//! `target/.../jdb` where Cargo built it: the test copies the binary, and makes the file, in a
//! fresh world-readable directory under the system temp dir.

use std::{
    os::unix::{fs::PermissionsExt, process::CommandExt},
    process::Command,
};

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

#[test]
fn an_unreadable_file_is_a_one_line_error() {
    let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    // Let `nobody` reach the binary and the file, so the refusal is about the file itself.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let jdb = dir.path().join("jdb");
    std::fs::copy(env!("CARGO_BIN_EXE_jdb"), &jdb).unwrap();
    std::fs::set_permissions(&jdb, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("secret.jdb");
    std::fs::write(&path, vec![0u8; 8192]).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();

    for (command, code) in [("verify", 2), ("inspect", 1)] {
        let mut cmd = Command::new(&jdb);
        cmd.args([command, path.to_str().unwrap()]).current_dir("/");
        if is_root() {
            cmd.uid(65534).gid(65534);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{command}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{command}: one line: {err}"
        );
        assert!(err.contains("Permission denied"), "{command}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
            "{err}"
        );
    }
}
