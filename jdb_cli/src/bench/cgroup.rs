//! A child cgroup with a memory limit, for the OS page cache baseline of `--compare`: so that
//! the OS caches no more of the file than jdb's pool holds. The baseline runs in a child process
//! (`jdb bench --internal-os-baseline DIR ...`) that moves itself into the cgroup before it opens
//! anything; the page cache it fills is charged to the cgroup and reclaimed at the limit.
//!
//! Made only where it can be, trying in turn:
//! - cgroup v2: a v2 hierarchy is mounted, this process's cgroup offers the `memory` controller,
//!   and its children get it (already, or by writing `+memory` to its `cgroup.subtree_control`,
//!   which the kernel refuses for a non-root cgroup that has processes of its own); the limit is
//!   `memory.max`.
//! - cgroup v1: a v1 hierarchy with the `memory` controller is mounted (hybrid systems, where the
//!   v2 hierarchy has no memory controller) and a child of this process's memory cgroup can be
//!   made; the limit is `memory.limit_in_bytes`.
//!
//! Otherwise [`Cgroup::create`] says why, and the comparison is flagged as unequal. The cgroup
//! is removed when dropped, and `subtree_control` restored if it was changed.

use std::{
    fs,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
};

/// Which cgroup hierarchy a [`Cgroup`] is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The unified hierarchy; the limit is `memory.max`.
    V2,
    /// The v1 `memory` hierarchy; the limit is `memory.limit_in_bytes`.
    V1,
}

impl Version {
    /// 1 or 2.
    pub fn number(self) -> u8 {
        match self {
            Self::V1 => 1,
            Self::V2 => 2,
        }
    }

    /// The file that holds the limit.
    pub fn limit_file(self) -> &'static str {
        match self {
            Self::V1 => "memory.limit_in_bytes",
            Self::V2 => "memory.max",
        }
    }

    /// The file that holds the most memory used so far.
    fn peak_file(self) -> &'static str {
        match self {
            Self::V1 => "memory.max_usage_in_bytes",
            Self::V2 => "memory.peak",
        }
    }
}

/// A child cgroup with a memory limit, removed on drop.
#[derive(Debug)]
pub struct Cgroup {
    dir: PathBuf,
    /// The parent's `cgroup.subtree_control`, when `+memory` was written to it here (v2).
    enabled_in: Option<PathBuf>,
    /// Its limit, bytes.
    pub limit: u64,
    /// Its hierarchy.
    pub version: Version,
}

impl Cgroup {
    /// Makes a cgroup limited to `limit` bytes (v2, else v1), or says why neither can be made
    /// here, in one line.
    pub fn create(limit: u64) -> Result<Self, String> {
        if std::env::var_os("JDB_NO_CGROUP").is_some() {
            return Err("JDB_NO_CGROUP is set".to_string());
        }
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
        let own = fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
        Self::create_v2(limit, &mountinfo, &own).or_else(|v2| {
            Self::create_v1(limit, &mountinfo, &own).map_err(|v1| format!("{v2}; {v1}"))
        })
    }

    fn create_v2(limit: u64, mountinfo: &str, own: &str) -> Result<Self, String> {
        let (mount, root) = mount_of(mountinfo, |fstype, _| fstype == "cgroup2")
            .ok_or("no cgroup v2 hierarchy is mounted")?;
        let own = own
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .ok_or("this process is in no cgroup v2 (/proc/self/cgroup)")?;
        let parent = own_dir(&mount, &root, own);
        let controllers = fs::read_to_string(parent.join("cgroup.controllers")).unwrap_or_default();
        if !controllers.split_whitespace().any(|c| c == "memory") {
            return Err(format!(
                "the cgroup v2 memory controller is not available in {} (cgroup.controllers: \
                 \"{}\")",
                parent.display(),
                controllers.trim()
            ));
        }
        let subtree = parent.join("cgroup.subtree_control");
        let enabled = fs::read_to_string(&subtree).unwrap_or_default();
        let mut enabled_in = None;
        if !enabled.split_whitespace().any(|c| c == "memory") {
            fs::write(&subtree, "+memory").map_err(|e| {
                format!(
                    "cannot give {}'s children the memory controller: {e}",
                    parent.display()
                )
            })?;
            enabled_in = Some(subtree);
        }
        let mut cgroup = Self {
            dir: PathBuf::new(),
            enabled_in,
            limit,
            version: Version::V2,
        };
        cgroup.dir = make_child(&parent)?;
        cgroup.set_limit()?;
        // No swap here: the limit is on memory, not on what can be pushed out of it.
        let _ = fs::write(cgroup.dir.join("memory.swap.max"), "0");
        Ok(cgroup)
    }

    fn create_v1(limit: u64, mountinfo: &str, own: &str) -> Result<Self, String> {
        let has_memory = |options: &str| options.split(',').any(|o| o == "memory");
        let (mount, root) = mount_of(mountinfo, |fstype, options| {
            fstype == "cgroup" && has_memory(options)
        })
        .ok_or("no cgroup v1 memory hierarchy is mounted")?;
        let own = own
            .lines()
            .find_map(|l| {
                let mut fields = l.splitn(3, ':');
                let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
                has_memory(controllers).then_some(path)
            })
            .ok_or("this process is in no cgroup v1 memory cgroup (/proc/self/cgroup)")?;
        let parent = own_dir(&mount, &root, own);
        if !parent.join("memory.limit_in_bytes").is_file() {
            return Err(format!(
                "this process's cgroup v1 memory cgroup {} is not there",
                parent.display()
            ));
        }
        let mut cgroup = Self {
            dir: PathBuf::new(),
            enabled_in: None,
            limit,
            version: Version::V1,
        };
        cgroup.dir = make_child(&parent).map_err(|e| format!("cgroup v1: {e}"))?;
        cgroup.set_limit().map_err(|e| format!("cgroup v1: {e}"))?;
        // No swap here either, where the kernel accounts it (memory.memsw.*); it must not be
        // below the memory limit, so it is set after it.
        let _ = fs::write(
            cgroup.dir.join("memory.memsw.limit_in_bytes"),
            limit.to_string(),
        );
        Ok(cgroup)
    }

    fn set_limit(&self) -> Result<(), String> {
        let file = self.dir.join(self.version.limit_file());
        fs::write(&file, self.limit.to_string())
            .map_err(|e| format!("cannot set {}: {e}", file.display()))
    }

    /// Its directory (what the child process joins).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The most memory it used (`memory.peak`, Linux 5.19+, or v1's `memory.max_usage_in_bytes`).
    pub fn peak(&self) -> Option<u64> {
        fs::read_to_string(self.dir.join(self.version.peak_file()))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        if !self.dir.as_os_str().is_empty() {
            // The child has exited, so the cgroup has no process left; its page cache charges go
            // to the parent. A just-exited process may take a moment to leave it.
            for _ in 0..50 {
                if fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        if let Some(subtree) = &self.enabled_in {
            let _ = fs::write(subtree, "-memory");
        }
    }
}

/// Moves this process into the cgroup at `dir` (the child process, first thing). The same file,
/// `cgroup.procs`, in v1 and v2.
pub fn join(dir: &Path) -> anyhow::Result<()> {
    let procs = dir.join("cgroup.procs");
    fs::write(&procs, std::process::id().to_string())
        .map_err(|e| anyhow::anyhow!("joining the cgroup {}: {e}", dir.display()))
}

/// Makes a new child of `parent`, `jdb-bench-PID-N`, with a name no other cgroup there has (one
/// left behind by a process that had this pid is skipped).
fn make_child(parent: &Path) -> Result<PathBuf, String> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let pid = std::process::id();
    let mut last = String::new();
    for _ in 0..16 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = parent.join(format!("jdb-bench-{pid}-{n}"));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                last = format!("{} exists", dir.display());
            }
            Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
        }
    }
    Err(format!("cannot find a free cgroup name ({last})"))
}

/// The mount point and the mounted root (field 4 of `/proc/self/mountinfo`: the part of the
/// hierarchy it shows, `/` unless a container mounted a subtree) of the first mount in
/// `mountinfo` whose filesystem type and super options `wanted` accepts.
fn mount_of(mountinfo: &str, wanted: impl Fn(&str, &str) -> bool) -> Option<(PathBuf, String)> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mut right = right.split_whitespace();
        let (fstype, _source, options) = (right.next()?, right.next()?, right.next()?);
        let mut left = left.split_whitespace().skip(3);
        let (root, mount_point) = (left.next()?, left.next()?);
        wanted(fstype, options).then(|| (PathBuf::from(mount_point), root.to_string()))
    })
}

/// The directory of the cgroup `own` (a path in the hierarchy, from `/proc/self/cgroup`) in the
/// hierarchy mounted at `mount`, whose root is `root`.
fn own_dir(mount: &Path, root: &str, own: &str) -> PathBuf {
    let own = Path::new(own);
    let relative = own.strip_prefix(root).unwrap_or(own);
    mount.join(relative.strip_prefix("/").unwrap_or(relative))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 /outer /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn mounts_are_found_by_type_and_controller() {
        let v2 = mount_of(MOUNTINFO, |t, _| t == "cgroup2");
        assert_eq!(
            v2,
            Some((PathBuf::from("/sys/fs/cgroup/unified"), "/".to_string()))
        );
        let v1 = mount_of(MOUNTINFO, |t, o| {
            t == "cgroup" && o.split(',').any(|c| c == "memory")
        });
        assert_eq!(
            v1,
            Some((PathBuf::from("/sys/fs/cgroup/memory"), "/outer".to_string()))
        );
        assert_eq!(mount_of(MOUNTINFO, |t, _| t == "nfs"), None);
    }

    #[test]
    fn a_cgroup_path_is_found_under_its_mount() {
        let mount = Path::new("/sys/fs/cgroup/memory");
        assert_eq!(
            own_dir(mount, "/", "/a/b"),
            PathBuf::from("/sys/fs/cgroup/memory/a/b")
        );
        assert_eq!(
            own_dir(mount, "/outer", "/outer/a"),
            PathBuf::from("/sys/fs/cgroup/memory/a")
        );
        assert_eq!(own_dir(mount, "/", "/"), PathBuf::from(mount));
    }
}
