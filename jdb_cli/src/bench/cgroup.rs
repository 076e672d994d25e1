//! A cgroup v2 child with a memory limit, for the OS page cache baseline of `--compare`: so that
//! the OS caches no more of the file than jdb's pool holds. The baseline runs in a child process
//! (`jdb bench --internal-os-baseline DIR ...`) that moves itself into the cgroup before it opens
//! anything; the page cache it fills is charged to the cgroup and reclaimed at `memory.max`.
//!
//! Made only where it can be: a cgroup v2 hierarchy is mounted, this process's cgroup offers the
//! `memory` controller, and its children get it (already, or by writing `+memory` to its
//! `cgroup.subtree_control`, which the kernel refuses for a non-root cgroup that has processes of
//! its own). Otherwise [`Cgroup::create`] says why, and the comparison is flagged as unequal.
//! The cgroup is removed when dropped, and `subtree_control` restored if it was changed.

use std::{
    fs,
    path::{Path, PathBuf},
};

/// A child cgroup with `memory.max` set, removed on drop.
#[derive(Debug)]
pub struct Cgroup {
    dir: PathBuf,
    /// The parent's `cgroup.subtree_control`, when `+memory` was written to it here.
    enabled_in: Option<PathBuf>,
    /// Its `memory.max`, bytes.
    pub limit: u64,
}

impl Cgroup {
    /// Makes a cgroup limited to `limit` bytes, or says why it cannot be made here.
    pub fn create(limit: u64) -> Result<Self, String> {
        if std::env::var_os("JDB_NO_CGROUP").is_some() {
            return Err("JDB_NO_CGROUP is set".to_string());
        }
        let mount = v2_mount().ok_or("no cgroup v2 hierarchy is mounted")?;
        let own = fs::read_to_string("/proc/self/cgroup")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("0::").map(str::to_string))
            })
            .ok_or("this process is in no cgroup v2 (/proc/self/cgroup)")?;
        let parent = mount.join(own.trim_start_matches('/'));
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
        let dir = parent.join(format!("jdb-bench-{}", std::process::id()));
        let mut cgroup = Self {
            dir: dir.clone(),
            enabled_in,
            limit,
        };
        if let Err(e) = fs::create_dir(&dir) {
            cgroup.dir = PathBuf::new();
            return Err(format!("cannot create {}: {e}", dir.display()));
        }
        fs::write(dir.join("memory.max"), limit.to_string())
            .map_err(|e| format!("cannot set {}/memory.max: {e}", dir.display()))?;
        // No swap here: the limit is on memory, not on what can be pushed out of it.
        let _ = fs::write(dir.join("memory.swap.max"), "0");
        Ok(cgroup)
    }

    /// Its directory (what the child process joins).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The most memory it used, where the kernel says (`memory.peak`, Linux 5.19+).
    pub fn peak(&self) -> Option<u64> {
        fs::read_to_string(self.dir.join("memory.peak"))
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

/// Moves this process into the cgroup at `dir` (the child process, first thing).
pub fn join(dir: &Path) -> anyhow::Result<()> {
    let procs = dir.join("cgroup.procs");
    fs::write(&procs, std::process::id().to_string())
        .map_err(|e| anyhow::anyhow!("joining the cgroup {}: {e}", dir.display()))
}

/// Where the cgroup v2 hierarchy is mounted (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on
/// hybrid systems), from `/proc/self/mountinfo`.
fn v2_mount() -> Option<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let fstype = right.split_whitespace().next()?;
        let mount_point = left.split_whitespace().nth(4)?;
        (fstype == "cgroup2").then(|| PathBuf::from(mount_point))
    })
}
