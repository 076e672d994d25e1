//! Ctrl-C (SIGINT) and SIGTERM during `jdb bench` remove the hidden temporary directory it made
//! (and the data file in it), then end the process with the shell's code for the signal: 130 for
//! SIGINT, 143 for SIGTERM. Without this the default action kills the process and the
//! `.jdb-bench-*` directory, often hundreds of MiB, stays behind.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
};

use anyhow::Context;
use signal_hook::{
    consts::{SIGINT, SIGTERM},
    iterator::Signals,
};

/// The directory to remove when a signal comes; `None` until it exists. It stays registered
/// after the bench removed it itself: removing it again fails quietly.
#[derive(Default)]
pub struct RemoveOnSignal {
    dir: Arc<Mutex<Option<PathBuf>>>,
}

impl RemoveOnSignal {
    /// Installs the handlers (a thread waits for the signals) before anything is created.
    pub fn install() -> anyhow::Result<Self> {
        let this = Self::default();
        let mut signals =
            Signals::new([SIGINT, SIGTERM]).context("installing the SIGINT/SIGTERM handlers")?;
        let dir = this.dir.clone();
        std::thread::Builder::new()
            .name("jdb-signals".into())
            .spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    // Waits for `create` to finish registering a directory it is making.
                    let dir = dir.lock().unwrap_or_else(PoisonError::into_inner).take();
                    if let Some(dir) = dir {
                        let _ = std::fs::remove_dir_all(&dir);
                    }
                    std::process::exit(128 + signal);
                }
            })
            .context("starting the signal thread")?;
        Ok(this)
    }

    /// Runs `create` (which makes the directory and gives its path) so that a signal cannot
    /// come between the directory's creation and its registration here.
    pub fn create<T>(
        &self,
        create: impl FnOnce() -> anyhow::Result<T>,
        path: impl Fn(&T) -> &Path,
    ) -> anyhow::Result<T> {
        let mut dir = self.dir.lock().unwrap_or_else(PoisonError::into_inner);
        let made = create()?;
        *dir = Some(path(&made).to_path_buf());
        Ok(made)
    }
}
