//! [`MemDisk`] and [`MemStorage`]: an in-memory file with a live and a durable image, faults, and
//! crashes that lose (or tear) what was not synced.

use crate::TrackedBuf;
use std::{
    cell::RefCell,
    future::Future,
    path::{Path, PathBuf},
    pin::Pin,
    rc::Rc,
    task::{Context, Poll},
};

use jdb_alloc::{AlignedBuf, PAGE_SIZE};
use jdb_fs::BufResult;
use jdb_layout::PageId;

use super::faults::{EIO, Fault, FaultController, IoKind, injected_error, io_error};
use crate::Storage;

/// Disk sector: the unit [`Crash::Random`] tears writes at.
const SECTOR: usize = 512;

/// What a crash does to the writes made since the last completed sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crash {
    /// Power loss before any of them reached the platter: every write since the last completed
    /// sync is lost.
    LoseUnsynced,
    /// As [`Crash::LoseUnsynced`], but the last write was in flight and reached the disk torn:
    /// only its first `bytes` bytes (all of them if `bytes` is at least its length). The file
    /// still grows to the end of that write; the rest of a new page reads as zeros.
    TearLast {
        /// Bytes of the last write that reached the disk.
        bytes: usize,
    },
    /// The process died but the operating system wrote everything: the durable image becomes
    /// the live one (what a `SIGKILL` does to a real file).
    KeepUnsynced,
    /// Each write since the last completed sync, independently: lost, kept whole, or torn at a
    /// 512-byte sector boundary, chosen by a generator seeded with `seed` (reproducible).
    Random {
        /// Seed of the choices.
        seed: u64,
    },
}

/// A write since the last completed sync, as it reached the live image.
#[derive(Debug, Clone)]
struct Unsynced {
    /// Byte offset of the request.
    offset: usize,
    /// The bytes that reached the file (all of the request unless it was torn).
    bytes: Vec<u8>,
    /// End of the request: the file grows to here even if the write was torn.
    end: usize,
}

struct Disk {
    live: Vec<u8>,
    durable: Vec<u8>,
    /// Writes since the last completed sync, oldest first.
    unsynced: Vec<Unsynced>,
    /// Bumped by every crash; a storage opened before it fails every call.
    generation: u64,
    yield_io: bool,
    syncs: u64,
}

impl std::fmt::Debug for Disk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Sizes, not the images: a failing assertion should not print megabytes.
        f.debug_struct("Disk")
            .field("live_bytes", &self.live.len())
            .field("durable_bytes", &self.durable.len())
            .field("unsynced_writes", &self.unsynced.len())
            .field("generation", &self.generation)
            .field("syncs", &self.syncs)
            .finish()
    }
}

/// An in-memory device holding one file: the *live* image (what reads see) and the *durable*
/// image (what survives a crash: the live image as of the last completed sync).
///
/// Cloning gives another handle to the same disk. Open a [`MemStorage`] on it with
/// [`MemDisk::storage`] for a pool; keep the `MemDisk` to arm faults ([`MemDisk::faults`]),
/// look at the images, and [`MemDisk::crash`] it.
#[derive(Debug, Clone)]
pub struct MemDisk {
    disk: Rc<RefCell<Disk>>,
    faults: FaultController,
    path: PathBuf,
}

impl Default for MemDisk {
    fn default() -> Self {
        Self::new()
    }
}

impl MemDisk {
    /// An empty file, named `mem.jdb` in error messages.
    pub fn new() -> Self {
        Self::with_image(Vec::new())
    }

    /// A file holding `image`, all of it durable.
    pub fn with_image(image: Vec<u8>) -> Self {
        Self {
            disk: Rc::new(RefCell::new(Disk {
                live: image.clone(),
                durable: image,
                unsynced: Vec::new(),
                generation: 0,
                yield_io: false,
                syncs: 0,
            })),
            faults: FaultController::new(),
            path: PathBuf::from("mem.jdb"),
        }
    }

    /// Opens the file: a storage for a pool. Storages opened before a crash fail every call
    /// after it (with `EIO`), as a file handle does once its device is gone.
    pub fn storage(&self) -> MemStorage {
        MemStorage {
            generation: self.disk.borrow().generation,
            disk: self.clone(),
            path: self.path.clone(),
        }
    }

    /// The fault rules of every storage of this disk.
    pub fn faults(&self) -> &FaultController {
        &self.faults
    }

    /// The file's path (for error messages only).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A copy of the live image: what reads see now.
    pub fn live_image(&self) -> Vec<u8> {
        self.disk.borrow().live.clone()
    }

    /// A copy of the durable image: what a [`Crash::LoseUnsynced`] would leave.
    pub fn durable_image(&self) -> Vec<u8> {
        self.disk.borrow().durable.clone()
    }

    /// Writes made since the last completed sync (failed torn writes included).
    pub fn unsynced_writes(&self) -> usize {
        self.disk.borrow().unsynced.len()
    }

    /// Syncs completed so far.
    pub fn syncs(&self) -> u64 {
        self.disk.borrow().syncs
    }

    /// When on, every read, write and sync returns `Pending` once (waking itself) before it
    /// completes, like a real I/O, so a test can drop a pool future with an I/O in flight. The
    /// effect (data read, bytes written, image synced) happens when the call is first polled.
    pub fn set_yield(&self, on: bool) {
        self.disk.borrow_mut().yield_io = on;
    }

    /// Crashes the disk: the durable image keeps what `crash` says of the writes since the last
    /// completed sync, the live image becomes the durable one, and every storage opened before
    /// fails from now on. Drop the pool first, then open a new one on [`MemDisk::storage`].
    /// Armed faults stay armed.
    pub fn crash(&self, crash: Crash) {
        let mut disk = self.disk.borrow_mut();
        let unsynced = std::mem::take(&mut disk.unsynced);
        let mut rng = Rng::new(match crash {
            Crash::Random { seed } => seed,
            _ => 0,
        });
        let last = unsynced.len().checked_sub(1);
        for (i, write) in unsynced.iter().enumerate() {
            let kept = match crash {
                Crash::LoseUnsynced => 0,
                Crash::TearLast { bytes } if Some(i) == last => bytes,
                Crash::TearLast { .. } => 0,
                Crash::KeepUnsynced => usize::MAX,
                Crash::Random { .. } => match rng.next() % 3 {
                    0 => 0,
                    1 => usize::MAX,
                    _ => sector_tear(write.bytes.len(), &mut rng),
                },
            };
            if kept > 0 {
                let bytes = &write.bytes[..kept.min(write.bytes.len())];
                write_image(&mut disk.durable, write.offset, bytes, write.end);
            }
        }
        disk.live = disk.durable.clone();
        disk.generation += 1;
    }
}

/// Where a write of `len` bytes tears: a sector boundary strictly inside it (all of it when it is
/// one sector or less).
fn sector_tear(len: usize, rng: &mut Rng) -> usize {
    let inner_sectors = len.saturating_sub(1) / SECTOR;
    if inner_sectors == 0 {
        return usize::MAX;
    }
    SECTOR * (1 + (rng.next() % inner_sectors as u64) as usize)
}

/// Puts `bytes` at `offset`, growing the image (with zeros) to at least `end`.
fn write_image(image: &mut Vec<u8>, offset: usize, bytes: &[u8], end: usize) {
    let end = end.max(offset + bytes.len());
    if image.len() < end {
        image.resize(end, 0);
    }
    image[offset..offset + bytes.len()].copy_from_slice(bytes);
}

/// xorshift64*: reproducible choices for [`Crash::Random`] and for seeded tests.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value, zero included).
    pub fn new(seed: u64) -> Self {
        Self((seed ^ 0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A file on a [`MemDisk`], opened with [`MemDisk::storage`]: what a pool runs on in tests.
#[derive(Debug)]
pub struct MemStorage {
    disk: MemDisk,
    /// The disk generation this storage was opened in.
    generation: u64,
    path: PathBuf,
}

impl MemStorage {
    /// The disk this file is on.
    pub fn disk(&self) -> &MemDisk {
        &self.disk
    }

    /// Fails with `EIO` if the disk crashed since this storage was opened; otherwise counts the
    /// call and returns the fault armed for it.
    fn begin(&self, kind: IoKind) -> jdb_fs::Result<Option<Fault>> {
        if self.disk.disk.borrow().generation != self.generation {
            return Err(io_error(&self.path, kind, EIO));
        }
        Ok(self.disk.faults.on_call(kind))
    }

    async fn pause(&self) {
        if self.disk.disk.borrow().yield_io {
            YieldOnce(false).await;
        }
    }

    fn read_now(&self, first: PageId, count: usize, buf: &mut AlignedBuf) -> jdb_fs::Result<()> {
        if let Some(fault) = self.begin(IoKind::Read)? {
            return Err(injected_error(&self.path, IoKind::Read, fault));
        }
        let disk = self.disk.disk.borrow();
        let offset = first as usize * PAGE_SIZE;
        let len = count * PAGE_SIZE;
        let end = (offset + len).min(disk.live.len()).max(offset);
        buf.clear();
        buf.extend(disk.live.get(offset..end).unwrap_or_default())?;
        if end < offset + len {
            return Err(jdb_fs::Error::PastEnd {
                path: self.path.clone(),
                page: (end / PAGE_SIZE) as u64,
                pages_in_file: (disk.live.len() / PAGE_SIZE) as u64,
            });
        }
        Ok(())
    }

    fn write_now(&self, first: PageId, buf: &AlignedBuf) -> jdb_fs::Result<()> {
        let offset = first as usize * PAGE_SIZE;
        if !buf.len().is_multiple_of(PAGE_SIZE) {
            return Err(jdb_fs::Error::Misaligned {
                path: self.path.clone(),
                offset: offset as u64,
                len: buf.len(),
                addr: buf.as_ptr() as usize,
                align: PAGE_SIZE,
            });
        }
        let fault = self.begin(IoKind::Write)?;
        let reached = match fault {
            None => buf.len(),
            Some(Fault::Torn { bytes }) => bytes.min(buf.len()),
            Some(Fault::Eio | Fault::NoSpace) => 0,
        };
        let end = offset + buf.len();
        if reached > 0 || fault.is_none() {
            let mut disk = self.disk.disk.borrow_mut();
            write_image(&mut disk.live, offset, &buf[..reached], end);
            disk.unsynced.push(Unsynced {
                offset,
                bytes: buf[..reached].to_vec(),
                end,
            });
        }
        match fault {
            Some(fault) => Err(injected_error(&self.path, IoKind::Write, fault)),
            None => Ok(()),
        }
    }

    fn sync_now(&self) -> jdb_fs::Result<()> {
        if let Some(fault) = self.begin(IoKind::Sync)? {
            return Err(injected_error(&self.path, IoKind::Sync, fault));
        }
        let mut disk = self.disk.disk.borrow_mut();
        disk.durable = disk.live.clone();
        disk.unsynced.clear();
        disk.syncs += 1;
        Ok(())
    }
}

impl Storage for MemStorage {
    async fn read_pages(
        &self,
        first: PageId,
        count: usize,
        mut buf: AlignedBuf,
    ) -> BufResult<(), AlignedBuf> {
        let res = self.read_now(first, count, &mut buf);
        self.pause().await;
        (res, buf)
    }

    async fn write_pages(&self, first: PageId, buf: TrackedBuf) -> BufResult<(), TrackedBuf> {
        let res = self.write_now(first, &buf);
        self.pause().await;
        (res, buf)
    }

    async fn sync(&self) -> jdb_fs::Result<()> {
        let res = self.sync_now();
        self.pause().await;
        res
    }

    async fn size(&self) -> jdb_fs::Result<u64> {
        let disk = self.disk.disk.borrow();
        if disk.generation != self.generation {
            return Err(jdb_fs::Error::Io {
                path: self.path.clone(),
                op: "stat",
                source: std::io::Error::from_raw_os_error(EIO),
            });
        }
        Ok(disk.live.len() as u64)
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

/// Returns `Pending` once (waking itself), then `Ready`.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(f: F) -> F::Output {
        compio::runtime::Runtime::new().unwrap().block_on(f)
    }

    fn pages(fill: &[u8]) -> AlignedBuf {
        let mut buf = AlignedBuf::with_cap(fill.len() * PAGE_SIZE).unwrap();
        for &b in fill {
            buf.extend(&[b; PAGE_SIZE]).unwrap();
        }
        buf
    }

    #[test]
    fn reads_see_live_crash_keeps_durable() {
        block_on(async {
            let disk = MemDisk::new();
            let file = disk.storage();
            file.write_pages(0, TrackedBuf::new(pages(&[1, 1])))
                .await
                .0
                .unwrap();
            file.sync().await.unwrap();
            file.write_pages(1, TrackedBuf::new(pages(&[2, 2])))
                .await
                .0
                .unwrap();
            assert_eq!(file.size().await.unwrap(), 3 * PAGE_SIZE as u64);
            let buf = AlignedBuf::with_cap(3 * PAGE_SIZE).unwrap();
            let (res, buf) = file.read_pages(0, 3, buf).await;
            res.unwrap();
            assert_eq!((buf[0], buf[PAGE_SIZE], buf[2 * PAGE_SIZE]), (1, 2, 2));
            assert_eq!(disk.unsynced_writes(), 1);

            disk.crash(Crash::LoseUnsynced);
            assert!(file.read_pages(0, 1, buf).await.0.is_err(), "stale handle");
            assert_eq!(disk.live_image(), vec![1; 2 * PAGE_SIZE]);
            let file = disk.storage();
            let (res, _) = file.read_pages(1, 2, pages(&[0, 0])).await;
            assert!(matches!(
                res,
                Err(jdb_fs::Error::PastEnd {
                    page: 2,
                    pages_in_file: 2,
                    ..
                })
            ));
        });
    }

    #[test]
    fn tear_last_keeps_a_prefix_and_grows_the_file() {
        block_on(async {
            let disk = MemDisk::new();
            let file = disk.storage();
            file.write_pages(0, TrackedBuf::new(pages(&[1])))
                .await
                .0
                .unwrap();
            file.write_pages(1, TrackedBuf::new(pages(&[2, 3])))
                .await
                .0
                .unwrap();
            disk.crash(Crash::TearLast {
                bytes: PAGE_SIZE + 100,
            });
            let image = disk.durable_image();
            assert_eq!(image.len(), 3 * PAGE_SIZE);
            assert!(image[..PAGE_SIZE].iter().all(|&b| b == 0), "lost");
            assert!(image[PAGE_SIZE..2 * PAGE_SIZE].iter().all(|&b| b == 2));
            assert!(
                image[2 * PAGE_SIZE..2 * PAGE_SIZE + 100]
                    .iter()
                    .all(|&b| b == 3)
            );
            assert!(image[2 * PAGE_SIZE + 100..].iter().all(|&b| b == 0));
        });
    }

    #[test]
    fn torn_write_fault_reaches_live_and_fails() {
        block_on(async {
            let disk = MemDisk::with_image(vec![7; PAGE_SIZE]);
            let file = disk.storage();
            disk.faults()
                .fail_nth(IoKind::Write, 1, Fault::Torn { bytes: 10 });
            let (res, _) = file.write_pages(0, TrackedBuf::new(pages(&[9]))).await;
            assert_eq!(res.unwrap_err().raw_os_error(), Some(EIO));
            let live = disk.live_image();
            assert_eq!((live[9], live[10]), (9, 7));
            assert_eq!(disk.durable_image(), vec![7; PAGE_SIZE]);
            disk.faults().fail_nth(IoKind::Write, 1, Fault::NoSpace);
            let (res, _) = file.write_pages(0, TrackedBuf::new(pages(&[8]))).await;
            assert_eq!(res.unwrap_err().raw_os_error(), Some(super::super::ENOSPC));
            assert_eq!(disk.live_image(), live, "a failed write changes nothing");
        });
    }

    #[test]
    fn random_crash_is_reproducible() {
        let run = |seed| {
            block_on(async {
                let disk = MemDisk::new();
                let file = disk.storage();
                for i in 0..20u8 {
                    file.write_pages(u32::from(i % 5), TrackedBuf::new(pages(&[i + 1])))
                        .await
                        .0
                        .unwrap();
                }
                disk.crash(Crash::Random { seed });
                disk.durable_image()
            })
        };
        assert_eq!(run(7), run(7));
    }
}
