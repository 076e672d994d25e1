//! `examples/btree.rs` (a B+tree with latch coupling over the shared pool) passes its model check
//! with 32 tasks, on a pool small enough that nodes are evicted and written back, and after a
//! close and reopen.

#[path = "../examples/btree.rs"]
mod btree;

mod common;

#[test]
fn the_btree_example_passes_its_model_check_with_32_tasks() {
    let config = btree::Config {
        tasks: 32,
        ops: 250,
        keys: 4000,
        cap: 64,
        fanout: 12,
        ..btree::Config::default()
    };
    let dir = common::tempdir();
    let config = btree::Config {
        dir: Some(dir.path().to_path_buf()),
        ..config
    };
    let outcome = match common::block_on(btree::run(&config)) {
        Ok(outcome) => outcome,
        Err(btree::Failure(what)) => panic!("btree example failed: {what}"),
    };
    eprintln!("{outcome:?}");
    assert!(
        outcome.inserts > 4000 && outcome.lookups > 2000,
        "{outcome:?}"
    );
    assert!(outcome.height >= 3 && outcome.splits > 100, "{outcome:?}");
    assert!(outcome.pages > 64, "the tree outgrew the pool: {outcome:?}");
}
