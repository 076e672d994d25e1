//! A file a writer holds (here a `jdb_fs::File` of this test process) is not read by `verify`
//! or `inspect`, nor used by `bench`: each says so in one line; once it is closed they work.

mod common;

use common::{assert_one_line_error, jdb, scratch, stdout};
use jdb_fs::File;
use jdb_page::BufferPool;

#[test]
fn verify_inspect_and_bench_say_when_a_writer_holds_the_file() {
    let dir = scratch();
    let path = dir.path().join("held.jdb");
    let arg = path.to_str().unwrap();
    let rt = compio::runtime::Runtime::new().unwrap();
    let pool = rt.block_on(async {
        let pool = BufferPool::open(File::create(&path).await.unwrap(), 4)
            .await
            .unwrap();
        for _ in 0..3 {
            pool.alloc()
                .await
                .unwrap()
                .rows_mut()
                .unwrap()
                .insert(b"row")
                .unwrap();
        }
        pool.sync().await.unwrap();
        pool
    });

    let in_use = "is in use by a writer (another jdb process or pool holds its lock)";
    assert_one_line_error(&jdb(&["verify", arg], dir.path()), 2, in_use);
    assert_one_line_error(&jdb(&["inspect", arg], dir.path()), 1, in_use);
    assert_one_line_error(
        &jdb(&["inspect", arg, "--page", "0"], dir.path()),
        1,
        in_use,
    );
    let bench = ["bench", "--file", arg, "--pages", "3", "--ops", "10"];
    assert_one_line_error(
        &jdb(&bench, dir.path()),
        1,
        "in use by another jdb process or pool",
    );

    rt.block_on(pool.close()).unwrap();
    let out = jdb(&["verify", arg], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("3 pages"), "{}", stdout(&out));
}
