//! A key-value map on the pool with a redo log: what a WAL engine built on jdb looks like.
//!
//! ```text
//! wal_kv run DIR     commit random u64 key/value pairs forever (16 tasks), printing
//!                    `committed KEY VALUE` on stdout once each commit is durable; on an
//!                    existing DIR it recovers first
//! wal_kv dump DIR    recover, then print every pair as `KEY VALUE`, one per line, by key
//! ```
//!
//! (`run` also prints `pending LSN KEY VALUE` on stderr when a commit is logged, before it is
//! durable, so that a test killing it knows which commits may have made it, and
//! `checkpoint REDO UPTO` once a checkpoint is durable. It runs until it is killed or fails: an
//! error in any task ends it with one line `wal_kv: ...` on stderr and exit status 1.)
//!
//! # How it works
//!
//! - **Data**: `DIR/data.jdb`, 1024 pages, each a bucket: a slotted page of 16-byte rows (key,
//!   value); a key lives in bucket `key % 1024`. Opened with a doublewrite area (`data.jdb.dw`),
//!   so a page torn by a crash is restored when the pool opens: redo records are logical (a key
//!   and a value) and need an intact page to apply to.
//! - **Log**: `DIR/wal.log`, records of 32 bytes: LSN, key, value (u64 each, little-endian),
//!   CRC32C of those 24 bytes, 4 zero bytes. Commits are grouped: one write and one `fdatasync`
//!   make every record appended so far durable.
//! - **Commit**: latch the bucket (`get`), append the record (its LSN), change the row, set the
//!   page's LSN, release; then wait until the log is durable up to that LSN; then acknowledge.
//!   The pool never writes the page before the log is durable up to its LSN (the log is attached
//!   with [`BufferPool::attach_log`]).
//! - **Checkpoint**, every 2000 commits (or `JDB_WALKV_CHECKPOINT_EVERY`): `pool.checkpoint(log
//!   end)` writes every page dirty since before it and returns the redo point, saved in
//!   `DIR/checkpoint` (written to a temporary file, synced, renamed). One at a time: a turn
//!   that comes while one runs is skipped.
//! - **Recovery**: cut the log after its last intact record; open the pool (restoring torn
//!   pages from the doublewrite area); replay every record from the redo point on whose page is
//!   older (its LSN smaller); take a checkpoint.

use std::{
    cell::{Cell, RefCell},
    io::Write as _,
    path::{Path, PathBuf},
    process::ExitCode,
    rc::Rc,
    task::{Poll, Waker},
};

use compio::io::AsyncWriteAt;
use jdb_fs::File;
use jdb_page::{BufferPool, LogFuture, Page, PoolOptions, WriteAheadLog};

const BUCKETS: u32 = 1024;
const KEYS: u64 = 50_000;
const TASKS: usize = 16;
const CAP: usize = 96;
/// Commits between checkpoints, unless `JDB_WALKV_CHECKPOINT_EVERY` says otherwise.
const CHECKPOINT_EVERY: u64 = 2000;
const RECORD: usize = 32;

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

// ---- the log -----------------------------------------------------------------------------------

/// The redo log with group commit.
struct Log {
    file: compio::fs::File,
    state: RefCell<LogState>,
}

struct LogState {
    /// Records appended but not yet written.
    pending: Vec<u8>,
    /// The LSN the next record gets.
    next_lsn: u64,
    /// Every record up to this LSN is durable.
    durable: u64,
    /// Bytes in the file.
    written: u64,
    /// A flush is running; others wait for it.
    flushing: bool,
    waiters: Vec<Waker>,
    failed: bool,
}

fn encode(lsn: u64, key: u64, value: u64) -> [u8; RECORD] {
    let mut r = [0u8; RECORD];
    r[..8].copy_from_slice(&lsn.to_le_bytes());
    r[8..16].copy_from_slice(&key.to_le_bytes());
    r[16..24].copy_from_slice(&value.to_le_bytes());
    let crc = jdb_layout::checksum(&r[..24]);
    r[24..28].copy_from_slice(&crc.to_le_bytes());
    r
}

/// A record, if `r` is an intact one.
fn decode(r: &[u8]) -> Option<(u64, u64, u64)> {
    let word = |at: usize| u64::from_le_bytes(r[at..at + 8].try_into().unwrap());
    let crc = u32::from_le_bytes(r[24..28].try_into().unwrap());
    (jdb_layout::checksum(&r[..24]) == crc && word(0) > 0).then(|| (word(0), word(8), word(16)))
}

impl Log {
    /// Opens the log, keeps its intact prefix (a torn tail is cut off) and returns its records.
    async fn open(path: &Path) -> Result<(Self, Vec<(u64, u64, u64)>)> {
        let bytes = std::fs::read(path).unwrap_or_default();
        let mut records = Vec::new();
        for chunk in bytes.chunks_exact(RECORD) {
            match decode(chunk) {
                Some(r) if r.0 == records.len() as u64 + 1 => records.push(r),
                _ => break,
            }
        }
        let valid = (records.len() * RECORD) as u64;
        let file = compio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .open(path)
            .await?;
        if valid < bytes.len() as u64 {
            let std_file = std::fs::OpenOptions::new().write(true).open(path)?;
            std_file.set_len(valid)?;
            std_file.sync_all()?;
        }
        let durable = records.len() as u64;
        let log = Self {
            file,
            state: RefCell::new(LogState {
                pending: Vec::new(),
                next_lsn: durable + 1,
                durable,
                written: valid,
                flushing: false,
                waiters: Vec::new(),
                failed: false,
            }),
        };
        Ok((log, records))
    }

    /// Appends a record (in memory); returns its LSN.
    fn append(&self, key: u64, value: u64) -> u64 {
        let mut s = self.state.borrow_mut();
        let lsn = s.next_lsn;
        s.next_lsn += 1;
        s.pending.extend_from_slice(&encode(lsn, key, value));
        lsn
    }

    /// The last LSN appended.
    fn end(&self) -> u64 {
        self.state.borrow().next_lsn - 1
    }

    /// Makes every record up to `lsn` durable: one task writes and syncs everything pending,
    /// the others wait for it (group commit).
    async fn flush(&self, lsn: u64) -> std::io::Result<()> {
        loop {
            let batch = {
                let mut s = self.state.borrow_mut();
                if s.failed {
                    return Err(std::io::Error::other("the log failed earlier"));
                }
                if s.durable >= lsn {
                    return Ok(());
                }
                if s.flushing {
                    None
                } else {
                    s.flushing = true;
                    Some((std::mem::take(&mut s.pending), s.next_lsn - 1, s.written))
                }
            };
            let Some((buf, last, at)) = batch else {
                std::future::poll_fn(|cx| {
                    let mut s = self.state.borrow_mut();
                    if !s.flushing || s.failed {
                        return Poll::Ready(());
                    }
                    s.waiters.push(cx.waker().clone());
                    Poll::Pending
                })
                .await;
                continue;
            };
            let len = buf.len() as u64;
            let compio::BufResult(res, _) = (&self.file).write_at(buf, at).await;
            let res = match res {
                Ok(n) if n as u64 == len => self.file.sync_data().await,
                Ok(_) => Err(std::io::Error::other("short log write")),
                Err(e) => Err(e),
            };
            let mut s = self.state.borrow_mut();
            s.flushing = false;
            match &res {
                Ok(()) => {
                    s.durable = last;
                    s.written = at + len;
                }
                Err(_) => s.failed = true,
            }
            for w in s.waiters.drain(..) {
                w.wake();
            }
            res?;
        }
    }
}

impl WriteAheadLog for Log {
    fn durable_lsn(&self) -> u64 {
        self.state.borrow().durable
    }

    fn flush_to(&self, lsn: u64) -> LogFuture<'_> {
        Box::pin(self.flush(lsn))
    }
}

// ---- the buckets -------------------------------------------------------------------------------

fn bucket(key: u64) -> u32 {
    (key % u64::from(BUCKETS)) as u32
}

fn row(key: u64, value: u64) -> [u8; 16] {
    let mut r = [0u8; 16];
    r[..8].copy_from_slice(&key.to_le_bytes());
    r[8..].copy_from_slice(&value.to_le_bytes());
    r
}

fn rows(page: &Page) -> Result<Vec<(u64, u64)>> {
    let mut out = Vec::new();
    for (_, r) in page.rows()?.iter() {
        out.push((
            u64::from_le_bytes(r[..8].try_into()?),
            u64::from_le_bytes(r[8..16].try_into()?),
        ));
    }
    Ok(out)
}

/// Sets `key` to `value` in its bucket page.
fn upsert(page: &mut Page, key: u64, value: u64) -> Result<()> {
    let slot = page
        .rows()?
        .iter()
        .find_map(|(slot, r)| (r[..8] == key.to_le_bytes()).then_some(slot));
    let mut data = page.rows_mut()?;
    match slot {
        Some(slot) => data.update(slot, &row(key, value))?,
        None => drop(data.insert(&row(key, value))?),
    }
    Ok(())
}

// ---- opening and recovery ----------------------------------------------------------------------

struct Store {
    pool: BufferPool,
    log: Rc<Log>,
    dir: PathBuf,
}

impl Store {
    /// Opens (creating on first use) and recovers the store in `dir`.
    async fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let (data, area, ready) = (
            dir.join("data.jdb"),
            dir.join("data.jdb.dw"),
            dir.join("ready"),
        );
        if !ready.exists() {
            // Nothing was ever committed: (re)create from scratch.
            for f in ["data.jdb", "data.jdb.dw", "wal.log", "checkpoint"] {
                let _ = std::fs::remove_file(dir.join(f));
            }
            let pool = BufferPool::open(File::create(&data).await?, 64).await?;
            for _ in 0..BUCKETS {
                drop(pool.alloc().await?);
            }
            pool.close().await?;
            std::fs::write(&ready, b"ready\n")?;
            sync_dir(dir)?;
        }
        let redo = read_checkpoint(dir)?;
        let (log, records) = Log::open(&dir.join("wal.log")).await?;
        let log = Rc::new(log);
        let pool = BufferPool::open_with_doublewrite(
            open_released(&data).await?,
            open_released(&area).await?,
            PoolOptions::new(CAP),
        )
        .await?;
        pool.attach_log(log.clone())?;
        // Redo from the checkpoint's redo point, where the page is older than the record.
        let mut replayed = 0u64;
        for &(lsn, key, value) in records.iter().filter(|r| r.0 >= redo) {
            let mut page = pool.get(bucket(key)).await?;
            if page.header().lsn < lsn {
                upsert(&mut page, key, value)?;
                page.set_lsn(lsn)?;
                replayed += 1;
            }
        }
        let store = Self {
            pool,
            log,
            dir: dir.to_path_buf(),
        };
        // A checkpoint ends recovery: the next one starts from here, so recovery never replays
        // more than a run logged (with a log that only grows, it would otherwise get slower
        // with every crash that came before a checkpoint).
        let (next_redo, _) = store.checkpoint().await?;
        eprintln!(
            "wal_kv: recovered: {} log records, redo from LSN {redo}, {replayed} replayed, {} torn \
             pages restored, next redo from LSN {next_redo}",
            records.len(),
            store.pool.stats().torn_pages_repaired
        );
        Ok(store)
    }

    /// Commits `key = value`: durable when it returns.
    async fn commit(&self, key: u64, value: u64) -> Result<()> {
        let lsn = {
            let mut page = self.pool.get(bucket(key)).await?;
            let lsn = self.log.append(key, value);
            eprintln!("pending {lsn} {key} {value}");
            upsert(&mut page, key, value)?;
            page.set_lsn(lsn)?;
            lsn
        };
        self.log.flush(lsn).await?;
        Ok(())
    }

    /// Takes a checkpoint and makes its redo point durable; returns it and the log end it
    /// covers.
    async fn checkpoint(&self) -> Result<(u64, u64)> {
        let upto = self.log.end();
        let redo = self.pool.checkpoint(upto).await?;
        let tmp = self.dir.join("checkpoint.tmp");
        let saved = (|| {
            std::fs::write(&tmp, format!("{redo}\n"))?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, self.dir.join("checkpoint"))?;
            sync_dir(&self.dir)
        })();
        saved.map_err(|e| format!("checkpoint: saving {}: {e}", tmp.display()))?;
        Ok((redo, upto))
    }
}

/// Opens `path` read-write, waiting (up to 10 s) while a killed process still holds its lock:
/// the kernel lets go of a dead process's files only once its I/O in flight is done.
async fn open_released(path: &Path) -> Result<File> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match File::open_rw(path).await {
            Err(jdb_fs::Error::Locked { .. }) if std::time::Instant::now() < deadline => {
                compio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            res => return Ok(res?),
        }
    }
}

fn read_checkpoint(dir: &Path) -> Result<u64> {
    match std::fs::read_to_string(dir.join("checkpoint")) {
        Ok(text) => Ok(text.trim().parse()?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e.into()),
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

// ---- the commands ------------------------------------------------------------------------------

/// Commits forever from [`TASKS`] tasks; returns the first error of any of them.
async fn run(dir: &Path) -> Result<()> {
    let every = match std::env::var("JDB_WALKV_CHECKPOINT_EVERY") {
        Ok(text) => match text.parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("JDB_WALKV_CHECKPOINT_EVERY: `{text}` is not a count").into()),
        },
        Err(_) => CHECKPOINT_EVERY,
    };
    let store = Rc::new(Store::open(dir).await?);
    let (commits, checkpointing) = (Rc::new(Cell::new(0u64)), Rc::new(Cell::new(false)));
    let tasks: Vec<_> = (0..TASKS as u64)
        .map(|t| {
            let (store, commits, checkpointing) =
                (store.clone(), commits.clone(), checkpointing.clone());
            compio::runtime::spawn(async move {
                let mut x = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(t, |d| d.as_nanos() as u64)
                    ^ (t + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let mut next = move || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x
                };
                loop {
                    let (key, value) = (next() % KEYS, next());
                    store.commit(key, value).await?;
                    println!("committed {key} {value}");
                    commits.set(commits.get() + 1);
                    // One checkpoint at a time: one that ended earlier must not overwrite a later
                    // one's redo point. (A turn that comes during a checkpoint is skipped.)
                    if commits.get() % every == 0 && !checkpointing.replace(true) {
                        let (redo, upto) = store.checkpoint().await?;
                        eprintln!("checkpoint {redo} {upto}");
                        checkpointing.set(false);
                    }
                }
                #[allow(unreachable_code)]
                Ok::<(), Box<dyn std::error::Error>>(())
            })
        })
        .collect();
    // The tasks never end but by an error: the first one to end ends the run (the others are
    // dropped, which cancels them).
    let (ended, _, _) = futures_util::future::select_all(tasks).await;
    ended.map_err(|_| "a task panicked")??;
    Err("a task stopped committing".into())
}

async fn dump(dir: &Path) -> Result<()> {
    if !dir.join("ready").exists() {
        return Ok(()); // nothing was ever committed
    }
    let store = Store::open(dir).await?;
    let mut pairs = Vec::new();
    for id in 0..BUCKETS {
        pairs.extend(rows(&*store.pool.read(id).await?)?);
    }
    pairs.sort_unstable();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (key, value) in pairs {
        writeln!(out, "{key} {value}")?;
    }
    out.flush()?;
    store.pool.close().await?;
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, dir) = match args.as_slice() {
        [command, dir] if command == "run" || command == "dump" => {
            (command.as_str(), PathBuf::from(dir))
        }
        _ => {
            eprintln!("usage: wal_kv run DIR | wal_kv dump DIR");
            return ExitCode::from(2);
        }
    };
    let runtime = match compio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("wal_kv: {e}");
            return ExitCode::FAILURE;
        }
    };
    let res = runtime.block_on(async {
        match command {
            "run" => run(&dir).await,
            _ => dump(&dir).await,
        }
    });
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wal_kv: {e}");
            ExitCode::FAILURE
        }
    }
}
