//! Bookkeeping stays O(1) per hit, pin, unpin and eviction however many pages are pinned. With
//! 8,000 of 8,192 frames pinned, under every policy:
//!
//! - the first evictions that meet the pinned frames park each of them once (a few steps per
//!   pinned frame in all, not per eviction);
//! - then an eviction takes a few steps;
//! - with hits on pinned and unpinned pages, pins and unpins mixed in, a hit, pin or unpin takes
//!   a few steps, and an eviction a few on average (amortised: a hit takes a parked frame back
//!   into its queue, and a later search parks it again, once).
//!
//! Shown by counting the policies' list steps (`jdb_page::testing::policy_steps`: frames an
//! eviction search examined or a walk passed, frames linked, unlinked or moved), not by timing.
//! The steps are counted in debug builds only, so this file is empty in release builds.
#![cfg(debug_assertions)]

mod common;

use common::block_on;
use jdb_page::{
    BufferPool, PolicyKind, PoolOptions,
    testing::{
        ClockPolicy, EvictionPolicy, LruPolicy, MemDisk, MemStorage, Rng, S3FifoPolicy,
        SievePolicy, policy_steps,
    },
};

const CAP: usize = 8192;
const PINNED: u32 = 8000;
/// Pages in the file: the pool's worth and as many again for misses.
const PAGES: u32 = 2 * CAP as u32;
/// Operations of the mixed phase, per policy.
const OPS: usize = 20_000;
/// Most steps parking may take per pinned frame: examined, passed (SIEVE's hand), unlinked,
/// linked.
const STEPS_PER_PARKED: u64 = 4;
/// Most steps a hit, pin or unpin may take; one that walked the pinned frames would take
/// thousands.
const MAX_STEPS_PER_HIT: u64 = 8;
/// Most steps an eviction may take once the pinned frames are parked and none is hit.
const MAX_STEPS_PER_EVICTION: u64 = 16;
/// Most steps per eviction on average when pinned frames are hit (and so parked again) too.
const MEAN_STEPS_PER_EVICTION: f64 = 32.0;

/// Steps of some operations: how many, the largest, the total.
#[derive(Debug, Default)]
struct Tally {
    ops: usize,
    max: u64,
    total: u64,
}

impl Tally {
    fn add(&mut self, steps: u64) {
        self.ops += 1;
        self.max = self.max.max(steps);
        self.total += steps;
    }

    fn mean(&self) -> f64 {
        self.total as f64 / self.ops.max(1) as f64
    }
}

/// The tallies of one run, each phase checked by [`Run::check`].
#[derive(Debug, Default)]
struct Run {
    /// Evictions that first meet the pinned frames.
    parking: Tally,
    /// Evictions once they are parked, nothing else in between.
    evictions_alone: Tally,
    /// The mixed phase: hits, pins and unpins (none of which evicts), and evictions.
    hits: Tally,
    evictions: Tally,
}

impl Run {
    fn check(&self, what: &str, pinned: u32) {
        eprintln!("{what}: {self:?}");
        let Run {
            parking,
            evictions_alone,
            hits,
            evictions,
        } = self;
        let bound = STEPS_PER_PARKED * u64::from(pinned) + 8 * parking.ops as u64;
        assert!(
            parking.total <= bound,
            "{what}: parking took {parking:?}, more than {bound}: pinned frames met more than once"
        );
        assert!(
            evictions_alone.ops >= 1000 && evictions_alone.max <= MAX_STEPS_PER_EVICTION,
            "{what}: evictions with the pinned frames parked {evictions_alone:?}"
        );
        assert!(
            hits.ops >= 1000 && hits.max <= MAX_STEPS_PER_HIT,
            "{what}: hits, pins and unpins {hits:?}"
        );
        assert!(
            evictions.ops >= 1000 && evictions.mean() <= MEAN_STEPS_PER_EVICTION,
            "{what}: evictions among hits {evictions:?}, mean {:.2}",
            evictions.mean()
        );
    }
}

/// Steps taken by `op`.
async fn steps_of<T>(op: impl Future<Output = T>) -> (T, u64) {
    let before = policy_steps();
    let out = op.await;
    (out, policy_steps() - before)
}

async fn make_file(disk: &MemDisk) {
    let pool = BufferPool::open(disk.storage(), PAGES as usize)
        .await
        .unwrap();
    for _ in 0..PAGES / 16 {
        pool.alloc_group(16).await.unwrap();
    }
    pool.close().await.unwrap();
}

/// A pool of `CAP` frames with `PINNED` pages pinned by `Page::pin`, driven through each phase.
async fn run_pool(disk: &MemDisk, kind: PolicyKind) -> Run {
    let pool: BufferPool<MemStorage> =
        BufferPool::open_with(disk.storage(), PoolOptions::new(CAP).policy(kind))
            .await
            .unwrap();
    for id in 0..CAP as u32 {
        pool.get(id).await.unwrap();
    }
    let mut pinned: Vec<u32> = (0..PINNED).collect();
    let mut is_pinned = vec![false; PAGES as usize];
    for &id in &pinned {
        pool.get(id).await.unwrap().pin();
        is_pinned[id as usize] = true;
    }
    let mut run = Run::default();
    // Enough misses for every policy's search to reach the pinned frames, then as many again.
    let mut next_miss = CAP as u32;
    for tally in [&mut run.parking, &mut run.evictions_alone] {
        for _ in 0..1024 {
            let (page, steps) = steps_of(pool.get(next_miss)).await;
            assert_eq!(page.unwrap().id(), next_miss);
            tally.add(steps);
            next_miss += 1;
        }
    }
    assert_eq!(pool.len(), CAP);

    let mut rng = Rng::new(kind as u64 + 1);
    let unpinned_page = |rng: &mut Rng, is_pinned: &[bool]| loop {
        let id = rng.below(u64::from(PAGES)) as u32;
        if !is_pinned[id as usize] {
            break id;
        }
    };
    for _ in 0..OPS {
        match rng.below(10) {
            // A hit on a pinned page.
            0..4 => {
                let id = pinned[rng.below(pinned.len() as u64) as usize];
                let (page, steps) = steps_of(pool.get(id)).await;
                assert!(page.unwrap().is_pinned());
                run.hits.add(steps);
            }
            // Any other page: a hit, or a miss that evicts.
            4..8 => {
                let id = unpinned_page(&mut rng, &is_pinned);
                let tally = if pool.is_cached(id) {
                    &mut run.hits
                } else {
                    &mut run.evictions
                };
                let (page, steps) = steps_of(pool.get(id)).await;
                assert_eq!(page.unwrap().id(), id);
                tally.add(steps);
            }
            // Unpin a pinned page, and pin another (read first if it is not in memory).
            _ => {
                let at = rng.below(pinned.len() as u64) as usize;
                let ((), steps) = steps_of(async {
                    pool.get(pinned[at]).await.unwrap().unpin();
                })
                .await;
                run.hits.add(steps);
                let id = unpinned_page(&mut rng, &is_pinned);
                let tally = if pool.is_cached(id) {
                    &mut run.hits
                } else {
                    &mut run.evictions
                };
                let ((), steps) = steps_of(async {
                    pool.get(id).await.unwrap().pin();
                })
                .await;
                tally.add(steps);
                is_pinned[pinned[at] as usize] = false;
                is_pinned[id as usize] = true;
                pinned[at] = id;
            }
        }
    }
    assert_eq!(pool.len(), CAP);
    run
}

#[test]
fn hits_pins_unpins_and_evictions_take_a_few_steps_with_8000_of_8192_pages_pinned() {
    let disk = MemDisk::new();
    block_on(make_file(&disk));
    for kind in PolicyKind::ALL {
        block_on(run_pool(&disk, kind)).check(kind.name(), PINNED);
    }
}

/// The same with a policy alone: 99% of its frames pinned by the policy's own `pin`.
fn policy_alone<P: EvictionPolicy>() -> Run {
    const FRAMES: u32 = CAP as u32;
    const PINNED_FRAMES: u32 = FRAMES - FRAMES / 100;
    let mut p = P::new(FRAMES as usize);
    for f in 0..FRAMES {
        p.insert(f, f, false);
    }
    for f in 0..PINNED_FRAMES {
        p.pin(f);
    }
    let mut run = Run::default();
    let mut next_page = FRAMES;
    let mut evict = |p: &mut P| {
        let before = policy_steps();
        let victim = p.evict().expect("unpinned frames are left");
        assert!(
            victim >= PINNED_FRAMES,
            "{}: evicted pinned {victim}",
            P::NAME
        );
        p.insert(victim, next_page, false);
        next_page += 1;
        policy_steps() - before
    };
    for tally in [&mut run.parking, &mut run.evictions_alone] {
        for _ in 0..1024 {
            tally.add(evict(&mut p));
        }
    }
    let mut rng = Rng::new(7);
    let unpinned = |rng: &mut Rng| PINNED_FRAMES + rng.below(u64::from(FRAMES / 100)) as u32;
    for _ in 0..OPS {
        let before = policy_steps();
        match rng.below(4) {
            0 => p.hit(rng.below(u64::from(FRAMES)) as u32),
            1 => p.hit(unpinned(&mut rng)),
            2 => {
                let f = unpinned(&mut rng);
                p.pin(f);
                p.unpin(f);
            }
            _ => {
                run.evictions.add(evict(&mut p));
                continue;
            }
        }
        run.hits.add(policy_steps() - before);
    }
    run
}

#[test]
fn each_policy_alone_takes_a_few_steps_per_operation_with_99_percent_of_frames_pinned() {
    let pinned = CAP as u32 - CAP as u32 / 100;
    policy_alone::<LruPolicy>().check("lru alone", pinned);
    policy_alone::<ClockPolicy>().check("clock alone", pinned);
    policy_alone::<SievePolicy>().check("sieve alone", pinned);
    policy_alone::<S3FifoPolicy>().check("s3fifo alone", pinned);
}
