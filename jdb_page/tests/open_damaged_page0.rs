//! A damaged page 0 does not lock the user out of the file: `open` accepts a file that is
//! otherwise jdb's, `get(0)` reports the page as corrupt, the other pages read as they were, and
//! `init_page(0)` rebuilds page 0. A foreign file (random bytes, another format) is still refused,
//! and nothing is written either way.
//!
//! "Torn" is meant as the fault harness tears a write: the first `k` bytes of the new page reached
//! the disk, the rest is the old page (zeros for a page written for the first time). Each way of
//! accepting a file with a damaged page 0 (`is_jdb_file` in `src/pool.rs`) has a test whose file
//! passes that way only: a first write torn inside the magic (`torn_in_header`), a flipped magic
//! bit in a one-page file (`magic_damaged`), page 0 broken twice over in a file whose other pages
//! carry the magic (the other pages).

mod common;

use common::{block_on, create_pool, db_path, pattern, reopen_pool, tempdir};
use jdb_fs::{File, PAGE_SIZE};
use jdb_page::{BufferPool, Error};

/// Writes a synced file of `n` pages, page `id` holding `pattern(id, 1)`; returns its bytes.
async fn make_file(path: &std::path::Path, n: u32) -> Vec<u8> {
    let pool = create_pool(path, 4).await;
    for _ in 0..n {
        let mut page = pool.alloc().await.unwrap();
        let id = page.id();
        page.data_mut()[..64].copy_from_slice(&pattern(id, 1));
    }
    pool.close().await.unwrap();
    std::fs::read(path).unwrap()
}

/// The three ways page 0 gets damaged that the issue reproduced, and one more.
fn damage(kind: &str, image: &mut [u8]) {
    let page0 = &mut image[..PAGE_SIZE];
    match kind {
        // A flipped bit in the magic (bytes 20..24).
        "flipped magic bit" => page0[21] ^= 0x10,
        // The first sector zeroed (a torn sector write, a bad block remapped).
        "zeroed first 512 bytes" => page0[..512].fill(0),
        // The whole page overwritten with garbage.
        "garbage page" => {
            for (i, b) in page0.iter_mut().enumerate() {
                *b = (i as u32).wrapping_mul(2_654_435_761).rotate_right(13) as u8;
            }
        }
        // The whole page zeroed (never written, or zeroed by a tool).
        "zeroed page" => page0.fill(0),
        other => unreachable!("{other}"),
    }
}

#[test]
fn a_damaged_page_0_opens_reports_corrupt_and_is_rebuilt_by_init_page() {
    for kind in [
        "flipped magic bit",
        "zeroed first 512 bytes",
        "garbage page",
        "zeroed page",
    ] {
        block_on(async {
            let dir = tempdir();
            let path = db_path(dir.path());
            let mut image = make_file(&path, 8).await;
            damage(kind, &mut image);
            std::fs::write(&path, &image).unwrap();

            let pool = BufferPool::open(File::open_rw(&path).await.unwrap(), 4)
                .await
                .unwrap_or_else(|e| panic!("{kind}: open refused the file: {e}"));
            assert_eq!(pool.page_count(), 8, "{kind}");
            match pool.get(0).await.map(|_| ()) {
                Err(Error::Corrupt { page: 0, .. }) => {}
                other => panic!("{kind}: get(0) gave {other:?}"),
            }
            for id in 1..8 {
                let page = pool.get(id).await.unwrap();
                assert_eq!(page.data()[..64], pattern(id, 1)[..], "{kind}: page {id}");
            }
            drop(pool);
            assert_eq!(std::fs::read(&path).unwrap(), image, "{kind}: open wrote");

            // Rebuild page 0 (as redo recovery would), then everything verifies.
            let pool = reopen_pool(&path, 4).await;
            let mut page = pool.init_page(0).await.unwrap();
            page.data_mut()[..64].copy_from_slice(&pattern(0, 2));
            drop(page);
            pool.close().await.unwrap();
            let pool = reopen_pool(&path, 4).await;
            assert_eq!(pool.get(0).await.unwrap().data()[..64], pattern(0, 2)[..]);
            for id in 1..8 {
                assert_eq!(pool.get(id).await.unwrap().data()[..64], pattern(id, 1)[..]);
            }
        });
    }
}

#[test]
fn a_one_page_file_with_a_flipped_magic_bit_still_opens() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        let mut image = make_file(&path, 1).await;
        damage("flipped magic bit", &mut image);
        std::fs::write(&path, &image).unwrap();
        let pool = reopen_pool(&path, 4).await;
        assert!(matches!(
            pool.get(0).await.map(|_| ()),
            Err(Error::Corrupt { page: 0, .. })
        ));
    });
}

#[test]
fn foreign_files_are_still_refused_and_left_untouched() {
    block_on(async {
        let dir = tempdir();
        let random: Vec<u8> = (0..8 * PAGE_SIZE as u32)
            .map(|i| (i.wrapping_mul(2_246_822_519).rotate_left(7) >> 3) as u8)
            .collect();
        let mut sqlite_like = b"SQLite format 3\0".to_vec();
        sqlite_like.resize(4 * PAGE_SIZE, 0);
        sqlite_like[100..200].fill(0x5a);
        // A jdb page 0 with a broken magic AND a broken body: nothing says it is jdb's.
        let mut two_faults = make_file(&dir.path().join("src.jdb"), 1).await;
        two_faults[21] ^= 0x10;
        two_faults[300] ^= 1;
        for (name, bytes) in [
            ("random.bin", random),
            ("sqlite.db", sqlite_like),
            ("two-faults.jdb", two_faults),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, &bytes).unwrap();
            match BufferPool::open(File::open_rw(&path).await.unwrap(), 4).await {
                Err(e @ Error::NotJdbFile { .. }) => {
                    assert!(e.to_string().contains(name), "{e}")
                }
                other => panic!("{name}: expected NotJdbFile, got {:?}", other.map(|_| ())),
            }
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name} was changed");
        }
    });
}

/// Page 0 as a write that stopped after `k` bytes leaves it: bytes `0..k` of `new`, the rest of
/// `old` (the fault harness's torn write).
fn torn(new: &[u8], old: &[u8], k: usize) -> Vec<u8> {
    let mut page = old[..PAGE_SIZE].to_vec();
    page[..k].copy_from_slice(&new[..k]);
    page
}

/// Opens the file at `path` (holding `image`, page `id > 0` holding `pattern(id, 1)`), which must
/// be accepted with page 0 corrupt and the other pages intact; checks that opening wrote
/// nothing, then rebuilds page 0 with `init_page`, closes, reopens and checks every page.
/// Returns why `get(0)` said page 0 was corrupt.
async fn assert_accepted_then_rebuilt(
    path: &std::path::Path,
    image: &[u8],
    what: &str,
) -> jdb_layout::Error {
    let n = (image.len() / PAGE_SIZE) as u32;
    let pool = BufferPool::open(File::open_rw(path).await.unwrap(), 4)
        .await
        .unwrap_or_else(|e| panic!("{what}: open refused the file: {e}"));
    assert_eq!(pool.page_count(), n, "{what}");
    let why = match pool.get(0).await.map(|_| ()) {
        Err(Error::Corrupt {
            page: 0, source, ..
        }) => source,
        other => panic!("{what}: get(0) gave {other:?}"),
    };
    for id in 1..n {
        assert_eq!(
            pool.get(id).await.unwrap().data()[..64],
            pattern(id, 1)[..],
            "{what}: page {id}"
        );
    }
    drop(pool);
    assert!(
        std::fs::read(path).unwrap() == image,
        "{what}: open wrote to the file"
    );

    let pool = reopen_pool(path, 4).await;
    let mut page = pool.init_page(0).await.unwrap();
    page.data_mut()[..64].copy_from_slice(&pattern(0, 9));
    drop(page);
    pool.close().await.unwrap();
    let pool = reopen_pool(path, 4).await;
    let page = pool
        .get(0)
        .await
        .unwrap_or_else(|e| panic!("{what}: the rebuilt page 0: {e}"));
    assert_eq!(
        page.data()[..64],
        pattern(0, 9)[..],
        "{what}: the rebuilt page 0"
    );
    drop(page);
    for id in 1..n {
        assert_eq!(
            pool.get(id).await.unwrap().data()[..64],
            pattern(id, 1)[..],
            "{what}: page {id}"
        );
    }
    pool.close().await.unwrap();
    why
}

#[test]
fn a_first_write_of_page_0_torn_inside_the_header_opens_and_is_rebuilt() {
    // A one-page file whose only write stopped after `k` bytes: the rest of the page reads as
    // the zeros the file grew with. Inside the magic (bytes 20..24) and before it, nothing but
    // `torn_in_header` can accept the file: the magic is broken, restoring it does not make the
    // checksum hold (the body was never written), and there is no other page to look at.
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        let new = make_file(&path, 1).await;
        let zeros = vec![0u8; PAGE_SIZE];
        let mut inside_magic = 0;
        for k in 1..=jdb_layout::PAGE_HEADER_SIZE {
            let what = format!("torn after {k} bytes");
            let image = torn(&new, &zeros, k);
            match jdb_layout::verify(&image, 0) {
                Err(jdb_layout::Error::Foreign { magic, .. }) => {
                    assert!(k < 24, "{what}: the magic was written");
                    assert!(!jdb_layout::magic_damaged(&image), "{what}");
                    if k > 20 {
                        assert_eq!(magic[..k - 20], jdb_layout::PAGE_MAGIC[..k - 20], "{what}");
                        inside_magic += 1;
                    }
                }
                Err(jdb_layout::Error::ChecksumMismatch { .. }) => assert!(k >= 24, "{what}"),
                // The first bytes (the checksum) may happen to be zero.
                Err(jdb_layout::Error::NeverWritten { .. }) => assert!(k < 4, "{what}"),
                other => panic!("{what}: verify gave {other:?}"),
            }
            std::fs::write(&path, &image).unwrap();
            assert_accepted_then_rebuilt(&path, &image, &what).await;
        }
        assert_eq!(inside_magic, 3, "tears after 21, 22 and 23 bytes");
    });
}

#[test]
fn a_rewrite_of_page_0_torn_after_its_new_header_opens_and_is_rebuilt() {
    // Page 0 was written and synced, then rewritten; the rewrite reached the disk only up to a
    // point: a new header (or first sectors) over the old body. The magic is whole, the checksum
    // is the new page's: a checksum mismatch, in a file of one page and of eight.
    for n in [1, 8] {
        block_on(async {
            let dir = tempdir();
            let path = db_path(dir.path());
            let old = make_file(&path, n).await;
            let pool = reopen_pool(&path, 4).await;
            let mut page = pool.get(0).await.unwrap();
            page.data_mut()[..64].copy_from_slice(&pattern(0, 2));
            page.data_mut()[3000..3064].copy_from_slice(&pattern(0, 3));
            drop(page);
            pool.close().await.unwrap();
            let new = std::fs::read(&path).unwrap();
            assert_eq!(
                new[PAGE_SIZE..],
                old[PAGE_SIZE..],
                "only page 0 was rewritten"
            );
            for k in [jdb_layout::PAGE_HEADER_SIZE, 512, 2048] {
                let what = format!("{n} pages, page 0 torn after {k} bytes");
                let mut image = new.clone();
                image[..PAGE_SIZE].copy_from_slice(&torn(&new, &old, k));
                std::fs::write(&path, &image).unwrap();
                let why = assert_accepted_then_rebuilt(&path, &image, &what).await;
                assert!(
                    matches!(why, jdb_layout::Error::ChecksumMismatch { page: 0, .. }),
                    "{what}: {why:?}"
                );
            }
        });
    }
}

#[test]
fn a_page_0_broken_twice_over_is_accepted_only_for_the_magic_of_the_other_pages() {
    // A flipped magic bit and a flipped body bit: the magic cannot be put back (the checksum
    // does not hold then either). An eight-page file is still jdb's by its other pages' magic;
    // the same file with those pages never written (zeros) is not recognisable, and refused.
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        let mut image = make_file(&path, 8).await;
        image[21] ^= 0x10;
        image[300] ^= 1;
        assert!(!jdb_layout::magic_damaged(&image[..PAGE_SIZE]));
        std::fs::write(&path, &image).unwrap();
        let why = assert_accepted_then_rebuilt(&path, &image, "page 0 broken twice").await;
        assert!(
            matches!(why, jdb_layout::Error::Foreign { page: 0, .. }),
            "{why:?}"
        );

        image[PAGE_SIZE..].fill(0);
        std::fs::write(&path, &image).unwrap();
        match BufferPool::open(File::open_rw(&path).await.unwrap(), 4).await {
            Err(Error::NotJdbFile { .. }) => {}
            other => panic!("expected NotJdbFile, got {:?}", other.map(|_| ())),
        }
        assert!(
            std::fs::read(&path).unwrap() == image,
            "the refused file was changed"
        );
    });
}

#[test]
fn a_one_page_file_with_its_first_sector_zeroed() {
    block_on(async {
        let dir = tempdir();
        let path = db_path(dir.path());
        // Everything page 0 held lay in its first sector: the page reads as never written.
        let mut image = make_file(&path, 1).await;
        damage("zeroed first 512 bytes", &mut image);
        assert!(jdb_layout::is_all_zero(&image));
        std::fs::write(&path, &image).unwrap();
        let why = assert_accepted_then_rebuilt(&path, &image, "first sector zeroed").await;
        assert!(
            matches!(why, jdb_layout::Error::NeverWritten { page: 0 }),
            "{why:?}"
        );

        // Page 0 also held data after its first sector: no magic, no checksum, no other page,
        // nothing left says the file is jdb's. It is refused (as a foreign file whose first 512
        // bytes are zero would be) and left as it is.
        let pool = reopen_pool(&path, 4).await;
        let mut page = pool.get(0).await.unwrap();
        page.data_mut()[..64].copy_from_slice(&pattern(0, 1));
        page.data_mut()[3000..3064].copy_from_slice(&pattern(0, 3));
        drop(page);
        pool.close().await.unwrap();
        let mut image = std::fs::read(&path).unwrap();
        damage("zeroed first 512 bytes", &mut image);
        std::fs::write(&path, &image).unwrap();
        match BufferPool::open(File::open_rw(&path).await.unwrap(), 4).await {
            Err(Error::NotJdbFile { .. }) => {}
            other => panic!("expected NotJdbFile, got {:?}", other.map(|_| ())),
        }
        assert!(
            std::fs::read(&path).unwrap() == image,
            "the refused file was changed"
        );
    });
}
