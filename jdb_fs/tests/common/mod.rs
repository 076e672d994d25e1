//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::{ffi::CString, os::fd::AsRawFd, os::unix::ffi::OsStrExt, path::Path};

use jdb_fs::{AlignedBuf, File, PAGE_SIZE};
use tempfile::TempDir;

/// A temp dir on a disk filesystem where `O_DIRECT` works: Cargo's target tmp dir, or the crate
/// directory if the target dir happens to be on tmpfs (whatever `/tmp` is).
pub fn disk_tempdir() -> TempDir {
    let target_tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let base = if is_tmpfs(target_tmp) {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    } else {
        target_tmp
    };
    tempfile::tempdir_in(base).expect("temp dir")
}

/// Whether `dir` is on tmpfs (`statfs`).
pub fn is_tmpfs(dir: &Path) -> bool {
    let c_path = CString::new(dir.as_os_str().as_bytes()).expect("path without NUL");
    let mut st = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `c_path` is a valid NUL-terminated string and `st` points to writable memory of
    // the right type, both alive for the call.
    let rc = unsafe { libc::statfs(c_path.as_ptr(), st.as_mut_ptr()) };
    assert_eq!(
        rc,
        0,
        "statfs {}: {}",
        dir.display(),
        std::io::Error::last_os_error()
    );
    // SAFETY: `statfs` returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)] // both are i64 here, but their types differ by target
    let (f_type, tmpfs) = (st.f_type as i64, libc::TMPFS_MAGIC as i64);
    f_type == tmpfs
}

/// Whether the descriptor really has `O_DIRECT` set, per `fcntl(F_GETFL)`.
pub fn has_o_direct(file: &File) -> bool {
    // SAFETY: `F_GETFL` takes no pointer argument, and the fd stays open while `file` is borrowed.
    let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
    assert!(flags >= 0, "fcntl: {}", std::io::Error::last_os_error());
    flags & libc::O_DIRECT != 0
}

/// The byte at `i` of page `page` in the test pattern: differs between pages and within one.
pub fn pattern_byte(page: u32, i: usize) -> u8 {
    (page as usize)
        .wrapping_mul(131)
        .wrapping_add(i.wrapping_mul(7))
        .wrapping_add(i >> 8) as u8
}

/// One page filled with the pattern of `page`.
pub fn pattern_page(page: u32) -> AlignedBuf {
    let mut buf = AlignedBuf::zeroed(PAGE_SIZE).expect("alloc");
    fill_pattern(&mut buf, page);
    buf
}

/// Fills `bytes` (a whole number of pages) with the pattern of the pages from `first`.
pub fn fill_pattern(bytes: &mut [u8], first: u32) {
    for (n, chunk) in bytes.chunks_mut(PAGE_SIZE).enumerate() {
        for (i, b) in chunk.iter_mut().enumerate() {
            *b = pattern_byte(first + n as u32, i);
        }
    }
}

/// Asserts `bytes` (a whole number of pages) hold the pattern of the pages from `first`.
pub fn assert_pattern(bytes: &[u8], first: u32) {
    assert_eq!(
        bytes.len() % PAGE_SIZE,
        0,
        "not whole pages: {}",
        bytes.len()
    );
    for (n, chunk) in bytes.chunks(PAGE_SIZE).enumerate() {
        let page = first + n as u32;
        for (i, &b) in chunk.iter().enumerate() {
            assert_eq!(b, pattern_byte(page, i), "page {page} byte {i}");
        }
    }
}

/// Writes pages `0..n` with the pattern, one page at a time.
pub async fn write_pattern_pages(file: &File, n: u32) {
    for id in 0..n {
        let (res, _) = file.write_page(id, pattern_page(id)).await;
        res.expect("write_page");
    }
}
