//! A damaged page 0 does not lock the user out of the file: `open` accepts a file that is
//! otherwise jdb's, `get(0)` reports the page as corrupt, the other pages read as they were, and
//! `init_page(0)` rebuilds page 0. A foreign file (random bytes, another format) is still refused,
//! and nothing is written either way.

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
