//! Warnings from the libraries (e.g. jdb_fs falling back to buffered I/O, a pool dropped with
//! dirty pages) printed on stderr as `jdb: warning: ...`.

use log::{Level, LevelFilter, Log, Metadata, Record};

struct Stderr;

impl Log for Stderr {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= Level::Warn
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let level = if record.level() == Level::Error {
                "error"
            } else {
                "warning"
            };
            eprintln!("jdb: {level}: {}", record.args());
        }
    }

    fn flush(&self) {}
}

/// Installs the stderr logger (once; a second call changes nothing).
pub fn init() {
    static LOGGER: Stderr = Stderr;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(LevelFilter::Warn);
    }
}
