//! Page-granular I/O: page `id` lives at byte `id * 4096`; a run of contiguous pages is one
//! vectored `preadv`/`pwritev`.

use compio_buf::{IoBuf, IoBufMut};
use jdb_alloc::AlignedBuf;

use crate::{BufResult, Error, File, IOV_MAX, PAGE_SIZE, Result};

/// The byte offset of page `id`.
pub const fn page_offset(id: u32) -> u64 {
    id as u64 * PAGE_SIZE as u64
}

impl File {
    /// Reads page `id` into a new [`AlignedBuf`] of one page (one read).
    ///
    /// # Errors
    /// [`Error::PastEnd`] if the page is not wholly in the file, [`Error::Io`], [`Error::Alloc`].
    pub async fn read_page(&self, id: u32) -> Result<AlignedBuf> {
        let buf = AlignedBuf::with_cap(PAGE_SIZE)?;
        let (res, buf) = self.read_at(buf, page_offset(id)).await;
        res.map(|()| buf)
    }

    /// Reads page `id` into `buf`, whose capacity must be exactly one page, e.g. a recycled
    /// [`AlignedBuf`] or a pool frame (a [`RawIoBuf`](jdb_alloc::RawIoBuf)). `buf` comes back
    /// either way.
    ///
    /// # Errors
    /// [`Error::NotAPage`] for another capacity, [`Error::Misaligned`] for a misaligned address,
    /// and as [`File::read_page`].
    pub async fn read_page_into<B: IoBufMut>(&self, id: u32, buf: B) -> BufResult<(), B> {
        if buf.buf_capacity() != PAGE_SIZE {
            return (Err(self.not_a_page(id, buf.buf_capacity())), buf);
        }
        self.read_at(buf, page_offset(id)).await
    }

    /// Writes `buf` (its length must be exactly one page) as page `id`. The file grows if `id`
    /// is past its end; pages skipped over read back as zeros.
    ///
    /// # Errors
    /// [`Error::NotAPage`] for another length, [`Error::Misaligned`] for a misaligned address,
    /// and as [`File::write_at`].
    pub async fn write_page<B: IoBuf>(&self, id: u32, buf: B) -> BufResult<(), B> {
        if buf.buf_len() != PAGE_SIZE {
            return (Err(self.not_a_page(id, buf.buf_len())), buf);
        }
        self.write_at(buf, page_offset(id)).await
    }

    /// Reads the `n` pages `first_id..first_id + n` into `n` new one-page buffers with one
    /// `preadv`. `n == 0` gives an empty vector and does no I/O.
    ///
    /// # Errors
    /// [`Error::TooManyBuffers`] if `n > IOV_MAX`, [`Error::PastEnd`] naming the first page not
    /// wholly in the file, [`Error::Io`], [`Error::Alloc`].
    pub async fn read_pages(&self, first_id: u32, n: usize) -> Result<Vec<AlignedBuf>> {
        if n > IOV_MAX {
            return Err(Error::TooManyBuffers {
                path: self.path.clone(),
                count: n,
                max: IOV_MAX,
            });
        }
        let bufs = (0..n)
            .map(|_| AlignedBuf::with_cap(PAGE_SIZE))
            .collect::<Result<_, _>>()?;
        let (res, bufs) = self.read_pages_into(first_id, bufs).await;
        res.map(|()| bufs)
    }

    /// Reads the run of pages starting at `first_id` into `bufs` with one `preadv`. Each
    /// buffer's capacity must be a multiple of 4096 (a buffer may hold several pages); the run is
    /// their concatenation, and each buffer is filled to its capacity. `bufs` comes back either
    /// way; after [`Error::PastEnd`] the buffers hold what was read.
    ///
    /// # Errors
    /// [`Error::TooManyBuffers`] for more than [`IOV_MAX`] buffers, [`Error::Misaligned`] naming
    /// the first bad buffer (its file offset, capacity and address), and as [`File::read_page`].
    pub async fn read_pages_into<B: IoBufMut>(
        &self,
        first_id: u32,
        bufs: Vec<B>,
    ) -> BufResult<(), Vec<B>> {
        self.read_run(bufs, page_offset(first_id)).await
    }

    /// Writes the concatenation of `bufs` (their lengths, each a multiple of 4096) as the run of
    /// pages starting at `first_id`, with one `pwritev`.
    ///
    /// # Errors
    /// [`Error::TooManyBuffers`] for more than [`IOV_MAX`] buffers, [`Error::Misaligned`] naming
    /// the first bad buffer, and as [`File::write_at`].
    pub async fn write_pages<B: IoBuf>(
        &self,
        first_id: u32,
        bufs: Vec<B>,
    ) -> BufResult<(), Vec<B>> {
        self.write_run(bufs, page_offset(first_id)).await
    }

    fn not_a_page(&self, page: u32, len: usize) -> Error {
        Error::NotAPage {
            path: self.path.clone(),
            page,
            len,
        }
    }
}
