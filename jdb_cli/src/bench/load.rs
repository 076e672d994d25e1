//! The bench data file: what its pages hold, and creating it (or deciding to reuse it).
//!
//! Page `id` is a sealed data page whose row 0 is `jdb bench page <id, 10 digits> writes:`
//! followed by an 8-byte little-endian write counter. Row 0 is inserted first, so it sits at the
//! end of the page and the counter is always bytes 4088..4096: a write operation changes just
//! those bytes and the page stays a valid data page. A varying number of 64-byte filler rows
//! gives the file a spread of fill factors for `jdb inspect`.

use std::{path::Path, time::Instant};

use anyhow::bail;
use compio::buf::{IntoInner, IoBuf};
use jdb_fs::{AlignedBuf, File, PAGE_SIZE};
use jdb_layout::{DataPage, PageHeader, PageId, PageType};

use super::progress_bar;

/// Pages written per request while loading (1 MiB).
const LOAD_CHUNK_PAGES: usize = 256;
/// Filler rows per page are 0..MAX_FILLER_ROWS.
const MAX_FILLER_ROWS: u32 = 48;
const FILLER_ROW_LEN: usize = 64;

/// How the data file came to be.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadReport {
    /// True when the file was written now, false when an existing one was reused.
    pub created: bool,
    /// Seconds spent writing and syncing it (0 when reused).
    pub secs: f64,
    /// Write speed while loading, MiB/s (0 when reused).
    pub mib_per_s: f64,
}

impl LoadReport {
    /// The loads of several files (of `pages` pages each) as one.
    pub fn total(loads: &[LoadReport], pages: &[u32]) -> Self {
        let secs: f64 = loads.iter().map(|l| l.secs).sum();
        let written: u64 = loads
            .iter()
            .zip(pages)
            .filter(|(load, _)| load.created)
            .map(|(_, &p)| u64::from(p) * PAGE_SIZE as u64)
            .sum();
        Self {
            created: loads.iter().any(|l| l.created),
            secs,
            mib_per_s: if secs > 0.0 {
                crate::output::mib(written) / secs
            } else {
                0.0
            },
        }
    }
}

/// The bytes of bench page `id`, sealed, written into `page` (4096 bytes).
pub fn format_page(id: PageId, page: &mut [u8]) -> anyhow::Result<()> {
    page.fill(0);
    PageHeader::new(id, PageType::Data).encode(page)?;
    let mut rows = DataPage::init(&mut *page)?;
    let mut row0 = format!("jdb bench page {id:010} writes:").into_bytes();
    row0.extend_from_slice(&0u64.to_le_bytes());
    rows.insert(&row0)?;
    let fillers = (id.wrapping_mul(2_654_435_761) >> 16) % MAX_FILLER_ROWS;
    for k in 0..fillers {
        let mut row = format!("filler row {k:02} of page {id:010} ").into_bytes();
        row.resize(FILLER_ROW_LEN, b'.');
        rows.insert(&row)?;
    }
    jdb_layout::seal(page)?;
    Ok(())
}

/// Whether `page` is bench page `id` (intact, with its row 0).
fn is_bench_page(id: PageId, page: &[u8]) -> bool {
    let prefix = format!("jdb bench page {id:010} ");
    jdb_layout::verify(page, id).is_ok()
        && DataPage::open(page)
            .ok()
            .and_then(|rows| {
                rows.get(0)
                    .ok()
                    .map(|row| row.starts_with(prefix.as_bytes()))
            })
            .unwrap_or(false)
}

/// Makes `path` a bench file of `pages` pages: reuses it if it already is one (first and last
/// page checked), else writes it. Refuses to overwrite a non-empty file that is not a bench
/// file, so a typo in `--file` cannot destroy data.
///
/// The file is opened (created if missing) through `jdb_fs` before anything is decided: that
/// refuses devices, FIFOs, sockets and procfs/sysfs files untouched (a block device would
/// otherwise stat as an empty file) and a file another jdb process holds, and keeps the file
/// locked while it is checked and written.
pub async fn prepare(path: &Path, pages: u32) -> anyhow::Result<LoadReport> {
    let file = File::open_rw(path).await?;
    let size = file.size().await?;
    if size > 0 {
        let first = file.read_page(0).await.ok();
        if !first.as_deref().is_some_and(|p| is_bench_page(0, p)) {
            bail!(
                "refusing to overwrite {}: it is not a jdb bench file (remove it or pick \
                 another --file)",
                path.display()
            );
        }
        if size == u64::from(pages) * PAGE_SIZE as u64 {
            let last = file.read_page(pages - 1).await.ok();
            if last.as_deref().is_some_and(|p| is_bench_page(pages - 1, p)) {
                file.close().await?;
                return Ok(LoadReport {
                    created: false,
                    secs: 0.0,
                    mib_per_s: 0.0,
                });
            }
        }
        // A bench file of another size (or damaged): written anew.
        file.set_len(0).await?;
    }
    write(file, pages).await
}

/// Writes `pages` bench pages to the empty `file` in 1 MiB requests, then `fdatasync`s and
/// closes it.
async fn write(file: File, pages: u32) -> anyhow::Result<LoadReport> {
    let start = Instant::now();
    let bar = progress_bar("loading", u64::from(pages));
    let mut buf = AlignedBuf::zeroed(LOAD_CHUNK_PAGES * PAGE_SIZE)?;
    let mut first: PageId = 0;
    while first < pages {
        let count = (pages - first).min(LOAD_CHUNK_PAGES as u32);
        let len = count as usize * PAGE_SIZE;
        for (i, page) in buf[..len].chunks_exact_mut(PAGE_SIZE).enumerate() {
            format_page(first + i as PageId, page)?;
        }
        let (res, slice) = file
            .write_at(buf.slice(..len), jdb_fs::page_offset(first))
            .await;
        buf = slice.into_inner();
        res?;
        first += count;
        bar.set_position(u64::from(first));
    }
    file.sync_data().await?;
    file.close().await?;
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    Ok(LoadReport {
        created: true,
        secs,
        mib_per_s: crate::output::mib(u64::from(pages) * PAGE_SIZE as u64) / secs.max(1e-9),
    })
}

/// The write counter of a bench page: the last 8 bytes of `page`, which may be the whole page
/// or its payload (both end where the page ends).
pub fn counter(page: &[u8]) -> u64 {
    page.last_chunk::<8>().map_or(0, |b| u64::from_le_bytes(*b))
}

/// Adds one to the write counter of a bench page (the last 8 bytes of `page`, as [`counter`]).
pub fn bump_counter(page: &mut [u8]) {
    let next = counter(page).wrapping_add(1);
    if let Some(bytes) = page.last_chunk_mut::<8>() {
        *bytes = next.to_le_bytes();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_pages_verify_and_keep_the_counter_in_row_0() {
        for id in [0, 1, 77, 65535] {
            let mut page = vec![0u8; PAGE_SIZE];
            format_page(id, &mut page).unwrap();
            assert!(is_bench_page(id, &page));
            assert!(!is_bench_page(id + 1, &page), "misdirected");
            bump_counter(&mut page);
            bump_counter(&mut page);
            assert_eq!(counter(&page), 2);
            assert_eq!(
                counter(&page[32..]),
                2,
                "the payload ends with the counter too"
            );
            let rows = DataPage::open(&page[..]).unwrap();
            let row0 = rows.get(0).unwrap();
            assert_eq!(&row0[row0.len() - 8..], &2u64.to_le_bytes());
            jdb_layout::seal(&mut page).unwrap();
            jdb_layout::verify(&page, id).unwrap();
        }
    }
}
