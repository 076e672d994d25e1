//! Only regular files on a filesystem that stores data are opened: a FIFO, a device, a
//! directory, a socket or a file on procfs/sysfs is `NotRegularFile` naming what it is, for every
//! way to open, without a hang and without a byte written or truncated.

mod common;

use std::{
    ffi::CString,
    os::unix::{ffi::OsStrExt, fs::FileTypeExt, net::UnixListener},
    path::{Path, PathBuf},
    process::Command,
    sync::mpsc,
    time::Duration,
};

use common::{block_on_serialized, disk_tempdir, fork_window_guard};
use jdb_fs::{Direct, Error, OpenOptions};

/// Every way to open a file, writers first.
fn all_openers() -> Vec<(&'static str, OpenOptions)> {
    let rw = OpenOptions::new().read(true).write(true).clone();
    vec![
        ("create", rw.clone().create(true).truncate(true).clone()),
        ("open_rw", rw.clone().create(true).clone()),
        ("write-only", OpenOptions::new().write(true).clone()),
        ("buffered rw", rw.clone().direct(Direct::Off).clone()),
        ("read-only", OpenOptions::new().read(true).clone()),
    ]
}

/// Opens `path` every way on a runtime in another thread, failing if that takes more than 10 s
/// (a FIFO opened without `O_NONBLOCK` would block forever), and asserts each is
/// `NotRegularFile { kind }`.
fn assert_refused(path: &Path, kind: &'static str, openers: Vec<(&'static str, OpenOptions)>) {
    let (tx, rx) = mpsc::channel();
    let path_buf = path.to_path_buf();
    std::thread::spawn(move || {
        let rt = compio::runtime::Runtime::new().unwrap();
        let results: Vec<_> = openers
            .into_iter()
            .map(|(name, opts)| (name, rt.block_on(opts.open(&path_buf)).map(|_| ())))
            .collect();
        let _ = tx.send(results);
    });
    let results = rx
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("opening {} hung", path.display()));
    for (name, res) in results {
        match res {
            Err(err @ Error::NotRegularFile { .. }) => {
                let Error::NotRegularFile { path: p, kind: k } = &err else {
                    unreachable!()
                };
                assert_eq!((p.as_path(), *k), (path, kind), "{name}");
                let text = err.to_string();
                assert!(
                    text.contains(&*path.to_string_lossy()) && text.contains(kind),
                    "{text}"
                );
            }
            other => panic!(
                "{name} {}: expected NotRegularFile ({kind}), got {other:?}",
                path.display()
            ),
        }
    }
}

fn mkfifo(path: &Path) {
    let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c_path` is a valid NUL-terminated string alive for the call.
    let rc = unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) };
    assert_eq!(rc, 0, "mkfifo: {}", std::io::Error::last_os_error());
}

#[test]
fn a_fifo_is_refused_without_a_hang() {
    let dir = disk_tempdir();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    assert_refused(&fifo, "a FIFO", all_openers());
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn character_devices_are_refused() {
    for dev in ["/dev/null", "/dev/zero", "/dev/full"] {
        assert_refused(Path::new(dev), "a character device", all_openers());
    }
}

#[test]
fn a_directory_is_refused_and_left_empty() {
    let dir = disk_tempdir();
    assert_refused(dir.path(), "a directory", all_openers());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_unix_socket_is_refused() {
    let dir = disk_tempdir();
    let path = dir.path().join("sock");
    let _listener = UnixListener::bind(&path).unwrap();
    assert_refused(&path, "a socket", all_openers());
}

#[test]
fn procfs_files_are_refused_and_unchanged() {
    let comm = Path::new("/proc/self/comm");
    let before = std::fs::read(comm).unwrap();
    assert_refused(comm, "a file on procfs", all_openers());
    assert_eq!(
        std::fs::read(comm).unwrap(),
        before,
        "/proc/self/comm changed"
    );
    let read_only = vec![("read-only", OpenOptions::new().read(true).clone())];
    assert_refused(Path::new("/proc/cpuinfo"), "a file on procfs", read_only);
}

#[test]
fn sysfs_files_are_refused() {
    let path = Path::new("/sys/kernel/uevent_seqnum");
    if !path.is_file() {
        eprintln!("{} is missing (no sysfs here?): skipped", path.display());
        return;
    }
    let read_only = vec![("read-only", OpenOptions::new().read(true).clone())];
    assert_refused(path, "a file on sysfs", read_only);
}

/// A loop device attached to an image file, detached on drop.
struct LoopDevice {
    device: PathBuf,
}

impl LoopDevice {
    /// Attaches `image`, or says why it cannot be done here.
    fn attach(image: &Path) -> Result<Self, String> {
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

#[test]
fn a_block_device_is_refused_untouched() {
    // Runs losetup (attach, and detach in `LoopDevice::drop`): not while another test reopens a
    // file it just dropped, whose lock the forked child would hold until its exec.
    let _serial = fork_window_guard();
    let dir = disk_tempdir();
    let image = dir.path().join("disk.img");
    let content: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    std::fs::write(&image, &content).unwrap();
    let device = match LoopDevice::attach(&image) {
        Ok(device) => device,
        Err(why) => {
            eprintln!("no loop device can be made here ({why}): the block device case is skipped");
            return;
        }
    };
    assert_eq!(
        std::fs::read(&device.device).unwrap(),
        content,
        "the loop device shows the image"
    );
    assert_refused(&device.device, "a block device", all_openers());
    assert_eq!(
        std::fs::read(&device.device).unwrap(),
        content,
        "device changed"
    );
    drop(device);
    assert_eq!(std::fs::read(&image).unwrap(), content, "image changed");
}

#[test]
fn a_regular_file_is_still_opened_every_way() {
    // Each opener drops its file and the next reopens it at once: not while another test spawns
    // a child (losetup), which would hold the dropped file's lock until its exec.
    block_on_serialized(async {
        let dir = disk_tempdir();
        let path = dir.path().join("regular");
        for (name, opts) in all_openers() {
            let file = opts
                .open(&path)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(file.path(), path);
        }
    });
}
