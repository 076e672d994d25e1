//! `jdb bench --file` writes only to regular files it created or that are bench files: a FIFO,
//! a device, a procfs file, a directory or a file that is not a bench file is refused with one
//! line, at once, before anything is written to it.

mod common;

use std::{ffi::CString, os::unix::ffi::OsStrExt, path::Path, time::Duration};

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

#[test]
fn bench_refuses_a_fifo_without_a_hang() {
    let dir = scratch();
    let fifo = dir.path().join("fifo");
    let c_path = CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c_path` is a valid NUL-terminated string alive for the call.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
    assert_bench_refuses(&fifo, "is a FIFO");
}

#[test]
fn bench_refuses_character_devices() {
    for dev in ["/dev/null", "/dev/zero"] {
        assert_bench_refuses(Path::new(dev), "is a character device");
    }
}

#[test]
fn bench_refuses_its_own_proc_self_comm() {
    // `/proc/self/comm` is resolved by the jdb process: its own name, which a write would set.
    assert_bench_refuses(Path::new("/proc/self/comm"), "is a file on procfs");
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
