//! [`FaultController`]: which storage calls fail, and how.

use std::{cell::RefCell, io, path::Path, rc::Rc};

/// Linux `EIO` (the same number on every Linux architecture).
pub const EIO: i32 = 5;
/// Linux `ENOSPC` (the same number on every Linux architecture).
pub const ENOSPC: i32 = 28;

/// The storage calls a fault can be armed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IoKind {
    /// `Storage::read_pages`.
    Read,
    /// `Storage::write_pages`.
    Write,
    /// `Storage::sync`.
    Sync,
}

impl IoKind {
    /// The `op` an injected [`jdb_fs::Error::Io`] names, as `jdb_fs::File` would.
    pub fn op(self) -> &'static str {
        match self {
            IoKind::Read => "read",
            IoKind::Write => "write",
            IoKind::Sync => "fdatasync",
        }
    }

    fn index(self) -> usize {
        match self {
            IoKind::Read => 0,
            IoKind::Write => 1,
            IoKind::Sync => 2,
        }
    }
}

/// What an injected fault does to the call it hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The call fails with `EIO` and has no effect.
    Eio,
    /// The call fails with `ENOSPC` and has no effect.
    NoSpace,
    /// A write stores only the first `bytes` bytes of its request (the page holding byte
    /// `bytes` is torn, later pages keep their old bytes), then fails with `EIO`. On a read or a
    /// sync it acts as [`Fault::Eio`].
    Torn {
        /// Bytes of the request that reach the file.
        bytes: usize,
    },
}

impl Fault {
    /// The OS error number the failed call reports.
    pub fn errno(self) -> i32 {
        match self {
            Fault::Eio | Fault::Torn { .. } => EIO,
            Fault::NoSpace => ENOSPC,
        }
    }
}

/// An armed fault: fires on the `countdown`-th next call of `kind`, or on every one.
#[derive(Debug, Clone, Copy)]
struct Rule {
    kind: IoKind,
    /// Calls of `kind` still to let through before firing; `None` fires on every call.
    countdown: Option<u64>,
    fault: Fault,
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<Rule>,
    calls: [u64; 3],
    injected: u64,
}

/// Arms faults for the storages that share it. Cloning gives another handle to the same rules,
/// so a test keeps one while the pool owns the storage. Single-threaded (`Rc`), like the pool.
#[derive(Debug, Clone, Default)]
pub struct FaultController {
    state: Rc<RefCell<State>>,
}

impl FaultController {
    /// A controller with no fault armed.
    pub fn new() -> Self {
        Self::default()
    }

    /// One-shot: the `n`-th call of `kind` from now (1 = the next one) fails with `fault`.
    /// Several one-shot faults can be armed at once; `n == 0` counts as 1.
    pub fn fail_nth(&self, kind: IoKind, n: u64, fault: Fault) {
        self.state.borrow_mut().rules.push(Rule {
            kind,
            countdown: Some(n.max(1)),
            fault,
        });
    }

    /// Persistent: every call of `kind` fails with `fault` until [`FaultController::clear`]
    /// (e.g. a full disk: "fail all writes with `ENOSPC`").
    pub fn fail_always(&self, kind: IoKind, fault: Fault) {
        self.state.borrow_mut().rules.push(Rule {
            kind,
            countdown: None,
            fault,
        });
    }

    /// Disarms every fault, one-shot and persistent: the disk has recovered.
    pub fn clear(&self) {
        self.state.borrow_mut().rules.clear();
    }

    /// Whether any fault is still armed.
    pub fn is_armed(&self) -> bool {
        !self.state.borrow().rules.is_empty()
    }

    /// Calls of `kind` seen so far (failed ones included).
    pub fn calls(&self, kind: IoKind) -> u64 {
        self.state.borrow().calls[kind.index()]
    }

    /// Faults injected so far (calls that failed because of an armed fault).
    pub fn injected(&self) -> u64 {
        self.state.borrow().injected
    }

    /// Counts a call of `kind` and returns the fault it must suffer, if any: what a storage
    /// calls first thing in every read, write and sync.
    ///
    /// Every armed one-shot fault of `kind` counts the call; the first (in arming order) that
    /// reaches its turn fires, and every one-shot fault that reached its turn is used up. A
    /// persistent fault fires when no one-shot fault does.
    pub fn on_call(&self, kind: IoKind) -> Option<Fault> {
        let mut state = self.state.borrow_mut();
        state.calls[kind.index()] += 1;
        let mut fired = None;
        state.rules.retain_mut(|rule| {
            if rule.kind != kind {
                return true;
            }
            match &mut rule.countdown {
                Some(n) => {
                    *n -= 1;
                    if *n == 0 {
                        fired = fired.or(Some(rule.fault));
                        return false;
                    }
                    true
                }
                None => true,
            }
        });
        let fired = fired.or_else(|| {
            state
                .rules
                .iter()
                .find(|r| r.kind == kind && r.countdown.is_none())
                .map(|r| r.fault)
        });
        if fired.is_some() {
            state.injected += 1;
        }
        fired
    }
}

/// The error an injected fault returns, as `jdb_fs::File` would report it.
pub(crate) fn injected_error(path: &Path, kind: IoKind, fault: Fault) -> jdb_fs::Error {
    io_error(path, kind, fault.errno())
}

/// An [`jdb_fs::Error::Io`] for `kind` on `path` with OS error `errno`.
pub(crate) fn io_error(path: &Path, kind: IoKind, errno: i32) -> jdb_fs::Error {
    jdb_fs::Error::Io {
        path: path.to_path_buf(),
        op: kind.op(),
        source: io::Error::from_raw_os_error(errno),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_values_are_linux_ones() {
        assert_eq!(EIO, libc::EIO);
        assert_eq!(ENOSPC, libc::ENOSPC);
    }

    #[test]
    fn nth_fault_fires_once_on_its_turn() {
        let faults = FaultController::new();
        faults.fail_nth(IoKind::Write, 3, Fault::Eio);
        assert_eq!(faults.on_call(IoKind::Read), None, "reads do not count");
        assert_eq!(faults.on_call(IoKind::Write), None);
        assert_eq!(faults.on_call(IoKind::Write), None);
        assert_eq!(faults.on_call(IoKind::Write), Some(Fault::Eio));
        assert_eq!(faults.on_call(IoKind::Write), None);
        assert!(!faults.is_armed());
        assert_eq!((faults.calls(IoKind::Write), faults.injected()), (4, 1));
    }

    #[test]
    fn persistent_fault_fires_until_cleared_and_one_shot_wins() {
        let faults = FaultController::new();
        faults.fail_always(IoKind::Sync, Fault::NoSpace);
        faults.fail_nth(IoKind::Sync, 2, Fault::Eio);
        assert_eq!(faults.on_call(IoKind::Sync), Some(Fault::NoSpace));
        assert_eq!(faults.on_call(IoKind::Sync), Some(Fault::Eio));
        assert_eq!(faults.on_call(IoKind::Sync), Some(Fault::NoSpace));
        faults.clear();
        assert_eq!(faults.on_call(IoKind::Sync), None);
        assert_eq!(faults.injected(), 3);
    }

    #[test]
    fn injected_error_names_file_op_and_errno() {
        let err = injected_error(Path::new("/x"), IoKind::Write, Fault::NoSpace);
        assert_eq!(err.raw_os_error(), Some(ENOSPC));
        assert!(matches!(err, jdb_fs::Error::Io { op: "write", .. }));
        assert_eq!(err.path(), Some(Path::new("/x")));
    }
}
