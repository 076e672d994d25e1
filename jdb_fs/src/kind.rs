//! Whether a path is something jdb may do I/O on: a regular file on a filesystem that stores
//! data. Directories, devices, FIFOs, sockets and the files of pseudo-filesystems (procfs,
//! sysfs, ...) are [`Error::NotRegularFile`], found before anything is written to them.

use std::{
    fs::{FileType, Metadata},
    io,
    mem::MaybeUninit,
    os::{fd::AsRawFd, unix::fs::FileTypeExt},
    path::Path,
};

use crate::{Error, Result};

/// Pseudo-filesystems by their `statfs` magic (`linux/magic.h`): their files stat as regular
/// files, but reading or writing them talks to the kernel (`/proc/sys/...`, `/sys/...`), or they
/// hold no data at all.
const PSEUDO_FILESYSTEMS: &[(u32, &str)] = &[
    (0x0000_9fa0, "a file on procfs"),
    (0x6265_6572, "a file on sysfs"),
    (0x6462_6720, "a file on debugfs"),
    (0x7472_6163, "a file on tracefs"),
    (0x7363_6673, "a file on securityfs"),
    (0x0027_e0eb, "a file on cgroupfs"),
    (0x6367_7270, "a file on cgroup2"),
    (0x0000_1cd1, "a file on devpts"),
    (0x6265_6570, "a file on configfs"),
    (0xcafe_4a11, "a file on bpffs"),
    (0xde5e_81e4, "a file on efivarfs"),
    (0x6165_676c, "a file on pstore"),
    (0xf97c_ff8c, "a file on selinuxfs"),
    (0x4341_5d53, "a file on smackfs"),
    (0x6573_5543, "a file on fusectl"),
    (0x4249_4e4d, "a file on binfmt_misc"),
    (0x1980_0202, "a file on mqueue"),
    (0x6e73_6673, "a file on nsfs"),
    (0x0765_5821, "a file on resctrl"),
    (0x9584_58f6, "a file on hugetlbfs"),
];

/// What a file of this type is, when it is not a regular file.
fn not_regular(file_type: FileType) -> Option<&'static str> {
    if file_type.is_file() {
        None
    } else if file_type.is_dir() {
        Some("a directory")
    } else if file_type.is_block_device() {
        Some("a block device")
    } else if file_type.is_char_device() {
        Some("a character device")
    } else if file_type.is_fifo() {
        Some("a FIFO")
    } else if file_type.is_socket() {
        Some("a socket")
    } else if file_type.is_symlink() {
        Some("a symbolic link")
    } else {
        Some("not a regular file")
    }
}

/// `Err(NotRegularFile)` unless `meta` is a regular file's.
pub(crate) fn check_type(path: &Path, meta: &Metadata) -> Result<()> {
    match not_regular(meta.file_type()) {
        None => Ok(()),
        Some(kind) => Err(Error::NotRegularFile {
            path: path.to_path_buf(),
            kind,
        }),
    }
}

/// `Err(NotRegularFile)` when the open `file` lies on a pseudo-filesystem (`fstatfs`).
pub(crate) fn check_filesystem(path: &Path, file: &std::fs::File) -> Result<()> {
    let mut st = MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `file` owns an open descriptor for the whole call, and `st` points to writable
    // memory of the type `fstatfs` fills.
    let rc = unsafe { libc::fstatfs(file.as_raw_fd(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(Error::io(path, "fstatfs", io::Error::last_os_error()));
    }
    // SAFETY: `fstatfs` returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    // `f_type` is a signed long of varying width; the magics are 32-bit patterns.
    let magic = st.f_type as u32;
    match PSEUDO_FILESYSTEMS.iter().find(|&&(m, _)| m == magic) {
        None => Ok(()),
        Some(&(_, kind)) => Err(Error::NotRegularFile {
            path: path.to_path_buf(),
            kind,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_file_is_named() {
        let dir = std::fs::metadata("/").unwrap();
        assert_eq!(not_regular(dir.file_type()), Some("a directory"));
        let null = std::fs::metadata("/dev/null").unwrap();
        assert_eq!(not_regular(null.file_type()), Some("a character device"));
        let this = std::fs::metadata(concat!(env!("CARGO_MANIFEST_DIR"), "/src/kind.rs"));
        assert_eq!(not_regular(this.unwrap().file_type()), None);
    }

    #[test]
    fn procfs_is_a_pseudo_filesystem() {
        let file = std::fs::File::open("/proc/self/status").unwrap();
        let err = check_filesystem(Path::new("/proc/self/status"), &file).unwrap_err();
        assert!(
            matches!(
                err,
                Error::NotRegularFile {
                    kind: "a file on procfs",
                    ..
                }
            ),
            "{err:?}"
        );
        let this = std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/src/kind.rs"));
        check_filesystem(Path::new("kind.rs"), &this.unwrap()).unwrap();
    }
}
