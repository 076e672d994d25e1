//! Byte-offset reads and writes: the alignment check and the loops that complete short
//! transfers. One io_uring operation per call unless the kernel returns a short count.

use std::io;

use compio::io::{AsyncReadAt, AsyncWriteAt};
use compio_buf::{IntoInner, IoBuf, IoBufMut, IoVectoredBuf, IoVectoredBufMut};

use crate::{ALIGN, BufResult, Error, File, IOV_MAX, PAGE_SIZE, Result, file::Counters};

impl File {
    /// Reads `buf.buf_capacity()` bytes at `offset` into `buf` (from its start, whatever its
    /// length was) and sets its length to its capacity. Short reads are resumed where they
    /// stopped, so on `Ok` the whole buffer is filled.
    ///
    /// # Errors
    /// - [`Error::Misaligned`] when `offset`, the capacity or the buffer address is not a
    ///   multiple of [`ALIGN`] (a zero-length request only needs an aligned offset and is a no-op);
    /// - [`Error::PastEnd`] when the file ends before the buffer is full (`buf` then holds what
    ///   was read);
    /// - [`Error::Io`] (`op == "read"`) for an OS error.
    pub async fn read_at<B: IoBufMut>(&self, buf: B, offset: u64) -> BufResult<(), B> {
        if let Err(e) = self.check_aligned(offset, buf.buf_capacity(), buf.as_buf_ptr()) {
            return (Err(e), buf);
        }
        self.read_full(buf, offset).await
    }

    /// Writes the `buf.buf_len()` initialised bytes of `buf` at `offset`, resuming short writes.
    ///
    /// # Errors
    /// - [`Error::Misaligned`] when `offset`, the length or the buffer address is not a multiple
    ///   of [`ALIGN`];
    /// - [`Error::ShortWrite`] when the kernel accepted a part that cannot be resumed;
    /// - [`Error::Io`] (`op == "write"`), e.g. `EBADF` on a read-only file, `ENOSPC`, `EIO`.
    pub async fn write_at<B: IoBuf>(&self, buf: B, offset: u64) -> BufResult<(), B> {
        if let Err(e) = self.check_aligned(offset, buf.buf_len(), buf.as_buf_ptr()) {
            return (Err(e), buf);
        }
        self.write_full(buf, offset).await
    }

    /// Reads the concatenation of `bufs` (their capacities) at `offset` with one `preadv`.
    pub(crate) async fn read_run<B: IoBufMut>(
        &self,
        bufs: Vec<B>,
        offset: u64,
    ) -> BufResult<(), Vec<B>> {
        let run = bufs.iter().map(|b| (b.buf_capacity(), b.as_buf_ptr()));
        if let Err(e) = self.check_run(offset, bufs.len(), run) {
            return (Err(e), bufs);
        }
        self.read_run_full(bufs, offset).await
    }

    /// Writes the concatenation of `bufs` (their lengths) at `offset` with one `pwritev`.
    pub(crate) async fn write_run<B: IoBuf>(
        &self,
        bufs: Vec<B>,
        offset: u64,
    ) -> BufResult<(), Vec<B>> {
        let run = bufs.iter().map(|b| (b.buf_len(), b.as_buf_ptr()));
        if let Err(e) = self.check_run(offset, bufs.len(), run) {
            return (Err(e), bufs);
        }
        self.write_run_full(bufs, offset).await
    }

    fn check_aligned(&self, offset: u64, len: usize, addr: *const u8) -> Result<()> {
        let addr = addr as usize;
        let ok = offset.is_multiple_of(ALIGN as u64)
            && len.is_multiple_of(ALIGN)
            && (len == 0 || addr.is_multiple_of(ALIGN));
        if ok {
            Ok(())
        } else {
            Err(Error::Misaligned {
                path: self.path.clone(),
                offset,
                len,
                addr,
                align: ALIGN,
            })
        }
    }

    /// Checks the buffer count and every buffer of a run; the error names the first bad buffer
    /// with its own file offset.
    fn check_run(
        &self,
        offset: u64,
        count: usize,
        run: impl Iterator<Item = (usize, *const u8)>,
    ) -> Result<()> {
        if count > IOV_MAX {
            return Err(Error::TooManyBuffers {
                path: self.path.clone(),
                count,
                max: IOV_MAX,
            });
        }
        let mut at = offset;
        for (len, addr) in run {
            self.check_aligned(at, len, addr)?;
            at += len as u64;
        }
        Ok(())
    }

    // The four loops below submit `Tracked` buffers: each request counts as in flight (see
    // `in_flight`) until compio hands its buffer back, or drops it after the kernel completed a
    // request whose future was dropped.

    async fn read_full<B: IoBufMut>(&self, buf: B, offset: u64) -> BufResult<(), B> {
        let len = buf.buf_capacity();
        let mut buf = self.handle.track(buf);
        let mut done = 0;
        while done < len {
            Counters::add(&self.counters.read_ops, 1);
            let rest = buf.slice(done..);
            let compio_buf::BufResult(res, rest) =
                crate::submit::now(self.inner.read_at(rest, offset + done as u64)).await;
            buf = rest.into_inner();
            match self.after_read(res, &mut done, len) {
                Ok(true) => {}
                Ok(false) => {
                    let buf = buf.into_inner();
                    return (Err(self.past_end(offset + done as u64).await), buf);
                }
                Err(e) => return (Err(e), buf.into_inner()),
            }
        }
        (Ok(()), buf.into_inner())
    }

    async fn read_run_full<B: IoBufMut>(&self, bufs: Vec<B>, offset: u64) -> BufResult<(), Vec<B>> {
        let len = bufs.iter().map(|b| b.buf_capacity()).sum();
        let mut bufs = self.handle.track(bufs);
        let mut done = 0;
        while done < len {
            Counters::add(&self.counters.read_ops, 1);
            let rest = IoVectoredBufMut::slice_mut(bufs, done);
            let fut = self.inner.read_vectored_at(rest, offset + done as u64);
            let compio_buf::BufResult(res, rest) = crate::submit::now(fut).await;
            bufs = rest.into_inner();
            match self.after_read(res, &mut done, len) {
                Ok(true) => {}
                Ok(false) => {
                    let bufs = bufs.into_inner();
                    return (Err(self.past_end(offset + done as u64).await), bufs);
                }
                Err(e) => return (Err(e), bufs.into_inner()),
            }
        }
        (Ok(()), bufs.into_inner())
    }

    async fn write_full<B: IoBuf>(&self, buf: B, offset: u64) -> BufResult<(), B> {
        let len = buf.buf_len();
        let mut buf = self.handle.track(buf);
        let mut done = 0;
        while done < len {
            Counters::add(&self.counters.write_ops, 1);
            let rest = buf.slice(done..);
            let compio_buf::BufResult(res, rest) =
                crate::submit::now((&self.inner).write_at(rest, offset + done as u64)).await;
            buf = rest.into_inner();
            if let Err(e) = self.after_write(res, &mut done, len, offset) {
                return (Err(e), buf.into_inner());
            }
        }
        (Ok(()), buf.into_inner())
    }

    async fn write_run_full<B: IoBuf>(&self, bufs: Vec<B>, offset: u64) -> BufResult<(), Vec<B>> {
        let len = bufs.iter().map(|b| b.buf_len()).sum();
        let mut bufs = self.handle.track(bufs);
        let mut done = 0;
        while done < len {
            Counters::add(&self.counters.write_ops, 1);
            let rest = IoVectoredBuf::slice(bufs, done);
            let mut inner = &self.inner;
            let fut = inner.write_vectored_at(rest, offset + done as u64);
            let compio_buf::BufResult(res, rest) = crate::submit::now(fut).await;
            bufs = rest.into_inner();
            if let Err(e) = self.after_write(res, &mut done, len, offset) {
                return (Err(e), bufs.into_inner());
            }
        }
        (Ok(()), bufs.into_inner())
    }

    /// Accounts one read. `Ok(true)`: go on (or done); `Ok(false)`: the file ended.
    ///
    /// A short read is resumed at the next byte when that keeps Direct I/O aligned (or on the
    /// buffered path); a short read that ends inside a page under `O_DIRECT` can only be the end
    /// of the file (regular files return short counts only there).
    fn after_read(&self, res: io::Result<usize>, done: &mut usize, len: usize) -> Result<bool> {
        match res {
            Ok(0) => Ok(false),
            Ok(n) => {
                Counters::add(&self.counters.bytes_read, n as u64);
                *done += n;
                Ok(*done >= len || self.resumable(*done))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) => Err(self.err("read", e)),
        }
    }

    /// Accounts one write; a write that made no progress, or stopped where `O_DIRECT` cannot
    /// resume, is an [`Error::ShortWrite`].
    fn after_write(
        &self,
        res: io::Result<usize>,
        done: &mut usize,
        len: usize,
        offset: u64,
    ) -> Result<()> {
        match res {
            Ok(n) if n > 0 => {
                Counters::add(&self.counters.bytes_written, n as u64);
                *done += n;
                if *done >= len || self.resumable(*done) {
                    return Ok(());
                }
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(self.err("write", e)),
        }
        Err(Error::ShortWrite {
            path: self.path.clone(),
            offset,
            len,
            written: *done,
        })
    }

    /// Whether a transfer that has moved `done` bytes from an aligned offset can go on.
    fn resumable(&self, done: usize) -> bool {
        !self.direct || done.is_multiple_of(ALIGN)
    }

    /// The error for a read that hit the end of the file at byte `at`: only now is the file
    /// `stat`ed, to report how many whole pages it has. The `stat` future (~900 bytes) is boxed:
    /// inline it would more than quadruple every read's future, for a path taken once per file.
    async fn past_end(&self, at: u64) -> Error {
        match Box::pin(self.size()).await {
            Ok(size) => Error::PastEnd {
                path: self.path.clone(),
                page: at / PAGE_SIZE as u64,
                pages_in_file: size / PAGE_SIZE as u64,
            },
            Err(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file whose `direct` flag the test sets; only the short-transfer logic is exercised.
    async fn file(direct: bool) -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().unwrap();
        let mut file = File::create(dir.path().join("f")).await.unwrap();
        file.direct = direct;
        (dir, file)
    }

    #[compio::test]
    async fn short_reads_resume_only_where_direct_io_allows() {
        let (_dir, direct) = file(true).await;
        let mut done = 0;
        assert!(
            direct.after_read(Ok(4096), &mut done, 3 * 4096).unwrap(),
            "aligned: resume"
        );
        assert!(
            !direct.after_read(Ok(100), &mut done, 3 * 4096).unwrap(),
            "mid-page: EOF"
        );
        assert_eq!(done, 4196);
        assert!(
            !direct.after_read(Ok(0), &mut 0, 4096).unwrap(),
            "0 bytes: EOF"
        );
        let eintr = io::Error::from(io::ErrorKind::Interrupted);
        assert!(
            direct.after_read(Err(eintr), &mut 0, 4096).unwrap(),
            "EINTR: retry"
        );
        let eio = io::Error::from_raw_os_error(libc::EIO);
        let err = direct.after_read(Err(eio), &mut 0, 4096).unwrap_err();
        assert!(
            matches!(err, Error::Io { op: "read", .. }) && err.raw_os_error() == Some(libc::EIO)
        );

        let (_dir, buffered) = file(false).await;
        let mut done = 0;
        assert!(
            buffered.after_read(Ok(100), &mut done, 4096).unwrap(),
            "buffered: resume"
        );
        assert!(
            buffered.after_read(Ok(3996), &mut done, 4096).unwrap(),
            "complete"
        );
        assert_eq!(done, 4096);
    }

    #[compio::test]
    async fn short_writes_resume_or_are_reported() {
        let (_dir, direct) = file(true).await;
        let mut done = 0;
        direct
            .after_write(Ok(4096), &mut done, 3 * 4096, 8192)
            .unwrap();
        let err = direct
            .after_write(Ok(10), &mut done, 3 * 4096, 8192)
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::ShortWrite {
                    offset: 8192,
                    len: 12288,
                    written: 4106,
                    ..
                }
            ),
            "{err:?}"
        );
        let err = direct.after_write(Ok(0), &mut 0, 4096, 0).unwrap_err();
        assert!(
            matches!(err, Error::ShortWrite { written: 0, .. }),
            "{err:?}"
        );
        let enospc = io::Error::from_raw_os_error(libc::ENOSPC);
        let err = direct
            .after_write(Err(enospc), &mut 0, 4096, 0)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));

        let (_dir, buffered) = file(false).await;
        let mut done = 0;
        buffered.after_write(Ok(10), &mut done, 4096, 0).unwrap();
        buffered.after_write(Ok(4086), &mut done, 4096, 0).unwrap();
        assert_eq!(done, 4096);
    }
}
