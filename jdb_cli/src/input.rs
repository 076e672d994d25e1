//! Opening a file to read (with clear errors for the usual mistakes) and reading all its pages
//! in large sequential chunks.

use std::path::Path;

use anyhow::{Context, bail};
use compio::buf::{IntoInner, IoBuf};
use jdb_fs::{AlignedBuf, File, PAGE_SIZE};
use jdb_layout::PageId;

/// Pages per read when walking a whole file: 1 MiB per request.
pub const CHUNK_PAGES: usize = 256;

/// A file opened read-only (Direct I/O where the filesystem allows it).
pub struct Input {
    /// The open file.
    pub file: File,
    /// Its size in bytes.
    pub size: u64,
}

impl Input {
    /// Whole pages in the file (a partial last page is not counted).
    pub fn pages(&self) -> u64 {
        self.size / PAGE_SIZE as u64
    }

    /// Bytes after the last whole page.
    pub fn tail_bytes(&self) -> u64 {
        self.size % PAGE_SIZE as u64
    }
}

/// Opens `path` read-only, with the shared lock (so a writer cannot change it under us). A
/// missing path, a directory, a device, a procfs file or anything but a regular file, and a
/// file a writer holds, are one-line errors naming the path (jdb_fs tells them apart).
pub async fn open(path: &Path) -> anyhow::Result<Input> {
    let file = match File::open(path).await {
        Ok(file) => file,
        Err(jdb_fs::Error::Locked { .. }) => bail!(
            "{} is in use by a writer (another jdb process or pool holds its lock); try again \
             when it is closed",
            path.display()
        ),
        Err(e) => return Err(e.into()),
    };
    let size = file.size().await?;
    if size / PAGE_SIZE as u64 >= u64::from(u32::MAX) {
        bail!(
            "{}: {size} bytes is more pages than a page id can name",
            path.display()
        );
    }
    Ok(Input { file, size })
}

/// Calls `visit(id, bytes)` for every whole page of the file, in order, reading
/// [`CHUNK_PAGES`] pages per request.
pub async fn for_each_page(
    input: &Input,
    mut visit: impl FnMut(PageId, &[u8]),
) -> anyhow::Result<()> {
    let pages = input.pages();
    let mut buf = AlignedBuf::with_cap(CHUNK_PAGES * PAGE_SIZE)?;
    let mut first: u64 = 0;
    while first < pages {
        let count = (pages - first).min(CHUNK_PAGES as u64) as usize;
        let first_id = PageId::try_from(first)?;
        let len = count * PAGE_SIZE;
        let (res, slice) = input
            .file
            .read_at(buf.slice(..len), jdb_fs::page_offset(first_id))
            .await;
        buf = slice.into_inner();
        res?;
        let bytes = buf.get(..len).context("short read")?;
        for (i, page) in bytes.chunks_exact(PAGE_SIZE).enumerate() {
            visit(first_id + i as PageId, page);
        }
        first += count as u64;
    }
    Ok(())
}

/// Reads page `id` (which must be below `input.pages()`).
pub async fn read_page(input: &Input, id: PageId) -> anyhow::Result<AlignedBuf> {
    if u64::from(id) >= input.pages() {
        bail!(
            "{}: page {id} is past the end of the file ({} whole pages)",
            input.file.path().display(),
            input.pages()
        );
    }
    Ok(input.file.read_page(id).await?)
}
