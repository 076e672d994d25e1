//! Model test: random operations on a small pool (1–8 frames, so eviction never stops) against a
//! `HashMap<u32, Vec<u8>>` of page payloads, checked after every step, with close-and-reopen and
//! futures dropped mid-flight.

mod common;

use std::collections::HashMap;

use common::*;
use jdb_page::{Page, PolicyKind};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Alloc,
    Read(u32),
    Write {
        page: u32,
        offset: u16,
        len: u8,
        byte: u8,
    },
    Pin(u32),
    Unpin(u32),
    GetMany(u32, u32),
    FlushPage(u32),
    FlushAll,
    Sync,
    Reopen,
    /// Poll a `get` of a (probably) cold page `polls` times, then drop it.
    CancelGet {
        page: u32,
        polls: u8,
    },
    /// Poll a `flush_all` `polls` times, then drop it.
    CancelFlush {
        polls: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Alloc),
        8 => any::<u32>().prop_map(Op::Read),
        8 => (any::<u32>(), 0..4064u16, 1..=255u8, any::<u8>())
            .prop_map(|(page, offset, len, byte)| Op::Write { page, offset, len, byte }),
        2 => any::<u32>().prop_map(Op::Pin),
        2 => any::<u32>().prop_map(Op::Unpin),
        2 => (any::<u32>(), any::<u32>()).prop_map(|(a, b)| Op::GetMany(a, b)),
        1 => any::<u32>().prop_map(Op::FlushPage),
        1 => Just(Op::FlushAll),
        1 => Just(Op::Sync),
        1 => Just(Op::Reopen),
        2 => (any::<u32>(), 1..4u8).prop_map(|(page, polls)| Op::CancelGet { page, polls }),
        1 => (1..4u8).prop_map(|polls| Op::CancelFlush { polls }),
    ]
}

struct Model {
    pages: HashMap<u32, Vec<u8>>,
    pins: HashMap<u32, u32>,
}

impl Model {
    fn pick(&self, n: u32) -> Option<u32> {
        let count = self.pages.len() as u32;
        (count > 0).then(|| n % count)
    }
    fn pinned_pages(&self) -> usize {
        self.pins.values().filter(|&&c| c > 0).count()
    }
}

fn check(page: &Page, model: &Model) {
    assert_eq!(
        page.data(),
        &model.pages[&page.id()][..],
        "payload of page {}",
        page.id()
    );
}

/// Runs `ops` on a pool of `cap` frames with eviction policy `policy`; every reopen takes the next
/// policy (the policy is not part of the file).
async fn run(cap: usize, policy: PolicyKind, ops: Vec<Op>) {
    let dir = tempdir();
    let path = db_path(dir.path());
    let mut policies = PolicyKind::ALL
        .into_iter()
        .cycle()
        .skip_while(|&p| p != policy);
    let mut pool = create_pool_with(&path, cap, policies.next().unwrap()).await;
    let fresh_payload = Page::new(0).data().to_vec();
    let mut m = Model {
        pages: HashMap::new(),
        pins: HashMap::new(),
    };

    for op in ops {
        match op {
            Op::Alloc => {
                let page = pool.alloc().await.unwrap();
                assert_eq!(page.id() as usize, m.pages.len());
                assert!(page.is_dirty());
                m.pages.insert(page.id(), fresh_payload.clone());
                check(&page, &m);
            }
            Op::Read(n) => {
                if let Some(id) = m.pick(n) {
                    check(&pool.get(id).await.unwrap(), &m);
                }
            }
            Op::Write {
                page,
                offset,
                len,
                byte,
            } => {
                if let Some(id) = m.pick(page) {
                    let mut p = pool.get(id).await.unwrap();
                    let end = (offset as usize + len as usize).min(4064);
                    p.data_mut()[offset as usize..end].fill(byte);
                    assert!(p.is_dirty());
                    m.pages.get_mut(&id).unwrap()[offset as usize..end].fill(byte);
                    check(&p, &m);
                }
            }
            Op::Pin(n) => {
                // Keep two frames unpinned so every other operation has room.
                if let Some(id) = m.pick(n)
                    && (m.pins.get(&id).copied().unwrap_or(0) > 0 || m.pinned_pages() + 2 <= cap)
                {
                    pool.get(id).await.unwrap().pin();
                    *m.pins.entry(id).or_default() += 1;
                }
            }
            Op::Unpin(n) => {
                if let Some(id) = m.pick(n)
                    && m.pins.get(&id).copied().unwrap_or(0) > 0
                {
                    let mut p = pool.get(id).await.unwrap();
                    assert!(p.is_pinned(), "page {id} must still be pinned");
                    p.unpin();
                    *m.pins.get_mut(&id).unwrap() -= 1;
                }
            }
            Op::GetMany(a, b) => {
                // Two guards at once: two shared ones of one page, or two exclusive ones.
                if let (Some(a), Some(b)) = (m.pick(a), m.pick(b)) {
                    if a == b {
                        let pa = pool.read(a).await.unwrap();
                        let pb = pool.read(b).await.unwrap();
                        check(&pa, &m);
                        check(&pb, &m);
                    } else {
                        let pinned_elsewhere = m
                            .pins
                            .iter()
                            .filter(|&(&id, &c)| c > 0 && id != a && id != b)
                            .count();
                        let pa = pool.get(a).await;
                        let pb = pool.get(b).await;
                        match (pa, pb) {
                            (Ok(pa), Ok(pb)) => {
                                assert!(pinned_elsewhere + 2 <= cap);
                                check(&pa, &m);
                                check(&pb, &m);
                            }
                            (_, Err(jdb_page::Error::PoolFull { cap: c, .. }))
                            | (Err(jdb_page::Error::PoolFull { cap: c, .. }), _) => {
                                assert_eq!(c, cap);
                                assert!(pinned_elsewhere + 2 > cap, "PoolFull with room");
                            }
                            (Err(e), _) | (_, Err(e)) => panic!("two guards: {e}"),
                        }
                    }
                }
            }
            Op::FlushPage(n) => {
                if let Some(id) = m.pick(n) {
                    pool.flush_page(id).await.unwrap();
                    if pool.is_cached(id) {
                        assert!(!pool.get(id).await.unwrap().is_dirty());
                    }
                }
            }
            Op::FlushAll => {
                pool.flush_all().await.unwrap();
                assert_eq!(pool.dirty_count(), 0);
            }
            Op::Sync => {
                pool.sync().await.unwrap();
                assert_eq!(pool.dirty_count(), 0);
            }
            Op::Reopen => {
                pool.close().await.unwrap();
                pool = reopen_pool_with(&path, cap, policies.next().unwrap()).await;
                assert_eq!(pool.page_count() as usize, m.pages.len());
                assert!(pool.is_empty());
                m.pins.clear();
            }
            Op::CancelGet { page, polls } => {
                if let Some(id) = m.pick(page) {
                    poll_then_drop(pool.get(id), polls as usize);
                }
            }
            Op::CancelFlush { polls } => {
                poll_then_drop(pool.flush_all(), polls as usize);
            }
        }
        // Invariants after every step.
        assert!(pool.len() <= pool.cap());
        assert_eq!(pool.page_count() as usize, m.pages.len());
        for (&id, &pins) in &m.pins {
            if pins > 0 {
                assert!(pool.is_cached(id), "pinned page {id} was evicted");
            }
        }
    }

    // Every page reads back, from memory and after a close and reopen.
    for id in 0..m.pages.len() as u32 {
        check(&pool.get(id).await.unwrap(), &m);
    }
    pool.close().await.unwrap();
    let pool = reopen_pool(&path, cap).await;
    for id in 0..m.pages.len() as u32 {
        check(&pool.get(id).await.unwrap(), &m);
    }
    assert_eq!(pool.stats().checksum_failures, 0);
}

fn cases() -> u32 {
    std::env::var("JDB_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// 64 cases × up to 200 operations by default (~6 000 operations); set JDB_MODEL_CASES for more.
    #[test]
    fn pool_matches_hashmap_model(
        cap in 1usize..=8,
        policy in proptest::sample::select(PolicyKind::ALL.to_vec()),
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        block_on(run(cap, policy, ops));
    }
}

/// A fixed long sequence, so CI always runs thousands of operations whatever proptest draws, under
/// every policy.
#[test]
fn long_fixed_sequence_matches_model() {
    let mut ops = Vec::new();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..3000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let n = (x >> 32) as u32;
        ops.push(match x % 20 {
            0 | 1 => Op::Alloc,
            2..=6 => Op::Read(n),
            7..=11 => Op::Write {
                page: n,
                offset: (x % 4000) as u16,
                len: (n % 200) as u8 + 1,
                byte: n as u8,
            },
            12 => Op::Pin(n),
            13 => Op::Unpin(n),
            14 => Op::GetMany(n, n / 3),
            15 => Op::FlushPage(n),
            16 => Op::CancelGet {
                page: n,
                polls: (n % 3) as u8 + 1,
            },
            17 => Op::CancelFlush {
                polls: (n % 3) as u8 + 1,
            },
            18 => Op::Sync,
            _ => {
                if n.is_multiple_of(10) {
                    Op::Reopen
                } else {
                    Op::FlushAll
                }
            }
        });
    }
    for policy in PolicyKind::ALL {
        block_on(run(4, policy, ops.clone()));
    }
}
