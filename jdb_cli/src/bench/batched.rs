//! The batched workloads, run on jdb's pool alone: each operation is many pages handled by one
//! call, the way a storage engine reads ahead or checkpoints, and only that call is timed.
//!
//! - prefetch: [`BufferPool::prefetch`] of `batch` distinct random pages, none of them in the
//!   pool, so every one is read (coalesced into runs, many reads in flight). Choosing them is
//!   untimed; evicting the clean pages they replace is part of the call and timed.
//! - seqwrite: the next `window` contiguous pages (wrapping around the file) are brought in and
//!   dirtied, untimed; [`BufferPool::flush_all`] then writes them in runs of 16 pages, timed. A
//!   page's change is its write counter (payload bytes), and the pool re-seals each page as it
//!   writes it, so the file stays a valid bench file.
//!
//! Throughput is `pages_per_sec`; latency is per operation (one whole batch).

use std::{collections::HashSet, time::Instant};

use jdb_layout::PageId;
use jdb_page::{BufferPool, Stats};
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::{
    args::WorkloadKind,
    load::bump_counter,
    progress_bar,
    report::Counters,
    run::{Counts, Limits, ShardRun, new_histogram},
    threads::StartLine,
    workload::WorkloadSpec,
};

/// Runs the batched workload `spec.kind` on `pool` until `limits` (counting timed time only),
/// then syncs the pool (timed separately, as for the traces). One task: each operation keeps many
/// reads or writes in flight by itself. With `start`, begins when every thread is ready.
pub async fn run_batched(
    pool: &BufferPool,
    spec: WorkloadSpec,
    limits: Limits,
    start: Option<&StartLine>,
) -> anyhow::Result<ShardRun> {
    let mut histogram = new_histogram()?;
    if let Some(start) = start {
        start.wait()?;
    }
    let bar = match (limits.duration, limits.ops) {
        (Some(d), _) => progress_bar("jdb", d.as_millis().try_into().unwrap_or(u64::MAX)),
        (None, Some(ops)) => progress_bar("jdb", ops),
        (None, None) => progress_bar("jdb", 0),
    };
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let mut timed = Stats::default();
    let (mut ops, mut page_requests, mut nanos) = (0u64, 0u64, 0u128);
    let mut seqwrite_cursor: PageId = 0;
    while ops < limits.ops.unwrap_or(u64::MAX)
        && limits.duration.is_none_or(|d| nanos < d.as_nanos())
    {
        let ids = match spec.kind {
            WorkloadKind::Prefetch => random_uncached(pool, spec.batch, &mut rng),
            WorkloadKind::Seqwrite => {
                let ids = window(spec.pages, seqwrite_cursor, spec.window);
                seqwrite_cursor = ((u64::from(seqwrite_cursor) + u64::from(spec.window))
                    % u64::from(spec.pages)) as PageId;
                pool.prefetch(&ids).await?;
                for &id in &ids {
                    bump_counter(pool.get(id).await?.data_mut());
                }
                ids
            }
            other => anyhow::bail!("{other:?} is not a batched workload"),
        };
        let before = pool.stats();
        let began = Instant::now();
        if spec.kind == WorkloadKind::Prefetch {
            pool.prefetch(&ids).await?;
        } else {
            pool.flush_all().await?;
        }
        let took = began.elapsed().as_nanos();
        add_difference(&mut timed, before, pool.stats());
        histogram.saturating_record(took.try_into().unwrap_or(u64::MAX));
        nanos += took;
        ops += 1;
        page_requests += ids.len() as u64;
        bar.set_position(match limits.duration {
            Some(_) => (nanos / 1_000_000) as u64,
            None => ops,
        });
    }
    let secs = nanos as f64 / 1e9;
    let mut run = Counters::from(timed);
    if spec.kind == WorkloadKind::Seqwrite {
        // Its timed part asks for no pages: it only writes.
        (run.hits, run.misses) = (None, None);
    }
    bar.set_message("flush + sync");
    let before = pool.stats();
    let flush_start = Instant::now();
    pool.sync().await?;
    let flush_secs = flush_start.elapsed().as_secs_f64();
    add_difference(&mut timed, before, pool.stats());
    bar.finish_and_clear();
    Ok(ShardRun {
        counts: Counts {
            ops,
            page_requests,
            ..Counts::default()
        },
        secs,
        histogram,
        miss_histogram: None,
        during_run: run,
        after_flush: Counters::from(timed),
        flush_secs,
    })
}

/// `n` distinct random pages that are not in `pool` (the caller makes sure there are enough:
/// `n <= page_count - cap`).
fn random_uncached(pool: &BufferPool, n: u32, rng: &mut StdRng) -> Vec<PageId> {
    let pages = pool.page_count();
    let mut chosen = HashSet::with_capacity(n as usize);
    let mut ids = Vec::with_capacity(n as usize);
    while ids.len() < n as usize {
        let id = rng.random_range(0..pages);
        if !pool.is_cached(id) && chosen.insert(id) {
            ids.push(id);
        }
    }
    ids
}

/// `n` contiguous page ids from `first`, wrapping at `pages`.
fn window(pages: u32, first: PageId, n: u32) -> Vec<PageId> {
    (0..u64::from(n))
        .map(|k| ((u64::from(first) + k) % u64::from(pages)) as PageId)
        .collect()
}

/// Adds `after - before` to `total`, counter by counter.
fn add_difference(total: &mut Stats, before: Stats, after: Stats) {
    let pairs = [
        (&mut total.hits, before.hits, after.hits),
        (&mut total.misses, before.misses, after.misses),
        (
            &mut total.shared_reads,
            before.shared_reads,
            after.shared_reads,
        ),
        (&mut total.pages_read, before.pages_read, after.pages_read),
        (
            &mut total.pages_written,
            before.pages_written,
            after.pages_written,
        ),
        (&mut total.read_ios, before.read_ios, after.read_ios),
        (&mut total.write_ios, before.write_ios, after.write_ios),
        (&mut total.evictions, before.evictions, after.evictions),
        (
            &mut total.dirty_writebacks,
            before.dirty_writebacks,
            after.dirty_writebacks,
        ),
        (
            &mut total.checksum_failures,
            before.checksum_failures,
            after.checksum_failures,
        ),
        (&mut total.io_errors, before.io_errors, after.io_errors),
        (
            &mut total.writeback_waits,
            before.writeback_waits,
            after.writeback_waits,
        ),
        (
            &mut total.bg_pages_written,
            before.bg_pages_written,
            after.bg_pages_written,
        ),
        (&mut total.bg_rounds, before.bg_rounds, after.bg_rounds),
        (&mut total.syncs, before.syncs, after.syncs),
    ];
    for (sum, b, a) in pairs {
        *sum += a.saturating_sub(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_wrap_around_the_file() {
        assert_eq!(window(10, 8, 4), [8, 9, 0, 1]);
        assert_eq!(window(10, 0, 3), [0, 1, 2]);
        assert_eq!(window(3, 1, 3), [1, 2, 0]);
    }
}
