//! An `AlignedBuf` written with O_DIRECT through compio 0.17, then read back into `RawIoBuf`
//! frames sliced from an arena.

use std::os::fd::AsRawFd;

use compio::{
    fs::OpenOptions,
    io::{AsyncReadAtExt, AsyncWriteAtExt},
};
use jdb_alloc::{AlignedBuf, PAGE_SIZE, RawIoBuf};

const PAGES: usize = 16;

#[compio::test]
async fn write_aligned_buf_then_read_into_arena_frames() {
    // The crate directory is on the work disk (ext4 here), where O_DIRECT is honoured.
    let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
    let path = dir.path().join("roundtrip.dat");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .custom_flags(libc::O_DIRECT)
        .open(&path)
        .await
        .unwrap();
    // SAFETY: F_GETFL on an open descriptor only reads its flags.
    let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
    assert_ne!(flags & libc::O_DIRECT, 0, "O_DIRECT must really be set");

    let mut data = AlignedBuf::with_cap(PAGES * PAGE_SIZE).unwrap();
    let pattern: Vec<u8> = (0..PAGES * PAGE_SIZE)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    data.extend(&pattern).unwrap();
    let (res, data) = file.write_all_at(data, 0).await.into();
    res.unwrap();
    file.sync_data().await.unwrap();

    let arena = AlignedBuf::zeroed(PAGES * PAGE_SIZE).unwrap();
    // Start every frame empty (`slice`), so the read fills it.
    // SAFETY: `arena` outlives every frame (it is dropped at the end of the test, after all
    // reads completed), and each frame is read into by one operation at a time.
    let frames: Vec<RawIoBuf> = unsafe { arena.slice_into_raws(PAGE_SIZE) }
        // SAFETY: (0, PAGE_SIZE) is within every frame.
        .map(|f| unsafe { f.slice(0, PAGE_SIZE) })
        .collect();
    // Read back in reverse order, one frame per page.
    for (i, frame) in frames.into_iter().enumerate().rev() {
        let (res, frame) = file
            .read_exact_at(frame, (i * PAGE_SIZE) as u64)
            .await
            .into();
        res.unwrap();
        assert_eq!(frame.len(), PAGE_SIZE);
        assert_eq!(
            frame.as_slice(),
            &pattern[i * PAGE_SIZE..(i + 1) * PAGE_SIZE]
        );
    }
    assert_eq!(
        &arena[..],
        &data[..],
        "the arena holds the file, byte for byte"
    );
    file.close().await.unwrap();
}
