//! `jdb bench --file` writes only to regular files it created or that are bench files: a FIFO,
//! a device, a procfs file, a directory or a file that is not a bench file is refused with one
//! line, at once, before anything is written to it. Each is checked untouched afterwards: the
//! FIFO never opened for writing, jdb's own name (`/proc/self/comm`) unchanged, the files' bytes
//! the same.

mod common;

use std::{
    ffi::CString,
    fs::OpenOptions,
    io::Read,
    os::{
        fd::AsRawFd,
        unix::{
            ffi::OsStrExt,
            fs::{FileTypeExt, OpenOptionsExt, PermissionsExt},
        },
    },
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{LoopDevice, assert_one_line_error, jdb_within, scratch};

/// Runs a short `jdb bench --file <path>` (a hang fails after 30 s) and asserts it is refused
/// with one line containing `why`.
fn assert_bench_refuses(path: &Path, why: &str) {
    let args = [
        "bench",
        "--file",
        path.to_str().unwrap(),
        "--pages",
        "16",
        "--ops",
        "10",
    ];
    let dir = scratch();
    let out = jdb_within(&args, dir.path(), Duration::from_secs(30));
    assert_one_line_error(&out, 1, why);
    assert!(out.stdout.is_empty(), "no report for a refused file");
}

/// The `poll` events of `reader`, a FIFO's read end, right now.
fn fifo_events(reader: &std::fs::File) -> libc::c_short {
    let mut fd = libc::pollfd {
        fd: reader.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `fd` is one valid `pollfd` for the call, on a descriptor `reader` keeps open; a
    // timeout of 0 does not wait.
    let n = unsafe { libc::poll(&mut fd, 1, 0) };
    assert!(n >= 0, "poll: {}", std::io::Error::last_os_error());
    fd.revents
}

#[test]
fn bench_refuses_a_fifo_without_a_hang_and_never_opens_it_for_writing() {
    let dir = scratch();
    let fifo = dir.path().join("fifo");
    let c_path = CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c_path` is a valid NUL-terminated string alive for the call.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
    let mode = std::fs::metadata(&fifo).unwrap().permissions().mode();
    // Our own read end, opened (non-blocking) before jdb runs: Linux reports POLLHUP on it only
    // once a writer has opened the FIFO (for writing or read-write) since, and keeps whatever a
    // writer wrote in the pipe while we hold it.
    let mut reader = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    assert_eq!(fifo_events(&reader), 0, "a fresh FIFO");

    assert_bench_refuses(&fifo, "is a FIFO");

    assert_eq!(
        fifo_events(&reader),
        0,
        "jdb opened the FIFO for writing (POLLHUP) or wrote to it (POLLIN)"
    );
    let mut byte = [0u8; 1];
    assert_eq!(
        reader.read(&mut byte).unwrap(),
        0,
        "no writer, nothing written"
    );
    let meta = std::fs::metadata(&fifo).unwrap();
    assert!(meta.file_type().is_fifo(), "still a FIFO");
    assert_eq!(meta.permissions().mode(), mode, "same mode");

    // The check sees a writer: one that opens the FIFO and goes raises POLLHUP.
    drop(OpenOptions::new().write(true).open(&fifo).unwrap());
    assert_ne!(
        fifo_events(&reader) & libc::POLLHUP,
        0,
        "the check is blind"
    );
}

#[test]
fn bench_refuses_character_devices() {
    for dev in ["/dev/null", "/dev/zero"] {
        assert_bench_refuses(Path::new(dev), "is a character device");
    }
}

#[test]
fn bench_refuses_its_own_proc_self_comm_and_keeps_its_name() {
    // `/proc/self/comm` is resolved by the jdb process: its own name, which a write would set.
    // Once jdb has exited its name is read from `/proc/PID/comm` while it is a zombie (waited for
    // with `WNOWAIT`, not yet reaped: a zombie keeps its name), then it is reaped.
    let dir = scratch();
    let mut child = Command::new(env!("CARGO_BIN_EXE_jdb"))
        .args([
            "bench",
            "--file",
            "/proc/self/comm",
            "--pages",
            "16",
            "--ops",
            "10",
        ])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // SAFETY: `siginfo_t` is plain data; all zeros is a valid value (and `si_pid` 0 tells
        // "not exited yet" after a `WNOHANG` call).
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a writable `siginfo_t` for the call; `pid` is our child, which
        // `WNOWAIT` leaves unreaped (so the pid cannot be reused before `child.wait`).
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid,
                &mut info,
                libc::WEXITED | libc::WNOWAIT | libc::WNOHANG,
            )
        };
        assert_eq!(rc, 0, "waitid: {}", std::io::Error::last_os_error());
        // SAFETY: `waitid` filled `info` (or left it zero): reading the pid field is defined.
        if unsafe { info.si_pid() } != 0 {
            break;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("jdb bench --file /proc/self/comm still running after 30 s: it hangs");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_one_line_error(&out, 1, "is a file on procfs");
    assert!(out.stdout.is_empty(), "no report for a refused file");
    let name = Path::new(env!("CARGO_BIN_EXE_jdb")).file_name().unwrap();
    let name = &name.as_bytes()[..name.len().min(15)];
    assert_eq!(
        comm.trim_end_matches('\n').as_bytes(),
        name,
        "jdb's name changed"
    );
}

#[test]
fn bench_refuses_a_directory() {
    let dir = scratch();
    assert_bench_refuses(dir.path(), "is a directory");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn bench_leaves_a_regular_file_that_is_not_a_bench_file_unchanged() {
    let dir = scratch();
    let path = dir.path().join("data.bin");
    // Whole pages of bytes that are not bench pages.
    let content: Vec<u8> = (0..16 * 4096u32).map(|i| (i * 7 % 253) as u8).collect();
    std::fs::write(&path, &content).unwrap();
    assert_bench_refuses(&path, "refusing to overwrite");
    assert!(std::fs::read(&path).unwrap() == content, "the file changed");
}

#[test]
fn bench_refuses_a_block_device_untouched() {
    let dir = scratch();
    let image = dir.path().join("disk.img");
    let content: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(&image, &content).unwrap();
    let device = match LoopDevice::attach(&image) {
        Ok(device) => device,
        Err(why) => {
            eprintln!("no loop device can be made here ({why}): the block device case is skipped");
            return;
        }
    };
    assert_bench_refuses(&device.device, "is a block device");
    assert!(
        std::fs::read(&device.device).unwrap() == content,
        "the device changed"
    );
    drop(device);
    assert!(
        std::fs::read(&image).unwrap() == content,
        "the image changed"
    );
}
