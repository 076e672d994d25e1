//! Computing the curves: exact LRU from stack distances (one pass for every size), the other
//! policies with [`Simulator`] at each size, one job per (policy, size), spread over the cores.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    thread,
};

use jdb_layout::PageId;
use jdb_page::{PolicyKind, Simulator};
use rustc_hash::FxHashMap;
use serde::Serialize;

use super::{
    sample::{MIN_SAMPLED_CACHE, Sampler},
    stack::StackDistances,
};

/// Up to this many requests, a sampled run also computes exact LRU (one O(n log n) pass, about
/// 2 s in release), which then serves as the control of every sampled point (see `sample`).
pub const EXACT_LRU_LIMIT: usize = 16 << 20;

/// One point of a curve.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// Pool size in pages.
    pub size: usize,
    /// Misses of a pool of that size that starts empty (estimated for a sampled point).
    pub misses: u64,
    /// misses / requests.
    pub miss_ratio: f64,
    /// With --sample: whether this point comes from the sample (false: exact, because it is LRU
    /// with its exact curve at hand, or because the scaled cache would be below
    /// `MIN_SAMPLED_CACHE` pages and it was simulated on the whole trace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampled: Option<bool>,
    /// The scaled cache the sample was simulated with, `round(size * rate)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampled_size: Option<usize>,
    /// ± this much miss ratio: `sample::SIGMAS` standard errors of the sampling (0 for an exact point).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_bound: Option<f64>,
}

/// The curves of one trace.
#[derive(Debug, Clone)]
pub struct Curves {
    /// Requests in the trace.
    pub requests: u64,
    /// Requests in the sample (with --sample).
    pub sampled_requests: Option<u64>,
    /// With --sample: whether exact LRU was computed and used as the control of the sampled
    /// points (traces up to `EXACT_LRU_LIMIT` requests).
    pub controlled: bool,
    /// One curve per policy, in the order asked for, each over the sizes in increasing order.
    pub curves: Vec<(PolicyKind, Vec<Point>)>,
}

/// What one job computes.
#[derive(Debug, Clone, Copy)]
enum Job {
    /// Stack distances of the whole trace: exact LRU at every size.
    Stack,
    /// `kind` at `size` on the whole trace.
    Exact { kind: PolicyKind, size: usize },
    /// `kind` at `scaled` pages on the sample.
    Sampled { kind: PolicyKind, scaled: usize },
}

/// What a job found.
enum Outcome {
    Stack(StackDistances),
    Misses(u64),
    /// Each sampled page's misses under the policy and under LRU at the same scaled size.
    Sampled(Vec<(u64, u64)>),
}

/// The miss-ratio curves of `ids` under each of `policies` at each of `sizes` (increasing),
/// sampled with `sampler` if given.
pub fn compute(
    ids: &[PageId],
    policies: &[PolicyKind],
    sizes: &[usize],
    sampler: Option<Sampler>,
) -> Curves {
    let sample = sampler.map(|s| s.filter(ids));
    let sampled = |size: usize| sampler.filter(|s| s.scaled(size) >= MIN_SAMPLED_CACHE);
    let wants_lru = policies.contains(&PolicyKind::Lru);
    let stack_wanted = match sampler {
        None => wants_lru,
        // Exact LRU: the control of every sampled point where it is cheap, and the LRU points
        // too small to sample.
        Some(_) => {
            ids.len() <= EXACT_LRU_LIMIT
                || (wants_lru && sizes.iter().any(|&s| sampled(s).is_none()))
        }
    };
    let mut jobs = Vec::new();
    if stack_wanted {
        jobs.push(Job::Stack);
    }
    for &kind in policies {
        for &size in sizes {
            match sampled(size) {
                _ if kind == PolicyKind::Lru && stack_wanted => {}
                Some(s) => jobs.push(Job::Sampled {
                    kind,
                    scaled: s.scaled(size),
                }),
                None => jobs.push(Job::Exact { kind, size }),
            }
        }
    }
    let outcomes = parallel(&jobs, |job| match *job {
        Job::Stack => Outcome::Stack(StackDistances::of(ids)),
        Job::Exact { kind, size } => {
            let mut sim = Simulator::new(kind, size);
            ids.iter().for_each(|&id| {
                sim.access(id);
            });
            Outcome::Misses(sim.misses())
        }
        Job::Sampled { kind, scaled } => {
            // The policy and, as a control, LRU at the same scaled size: per page, the misses of
            // each (see `sample`).
            let mut sim = Simulator::new(kind, scaled);
            let mut lru = Simulator::new(PolicyKind::Lru, scaled);
            let mut per_page: FxHashMap<PageId, (u64, u64)> = FxHashMap::default();
            for &id in sample.as_deref().unwrap_or_default() {
                let (missed, lru_missed) = (!sim.access(id), !lru.access(id));
                if missed || lru_missed {
                    let page = per_page.entry(id).or_default();
                    page.0 += u64::from(missed);
                    page.1 += u64::from(lru_missed);
                }
            }
            Outcome::Sampled(per_page.into_values().collect())
        }
    });
    let requests = ids.len() as u64;
    let ratio = |misses: u64| misses as f64 / requests.max(1) as f64;
    let mut results = jobs.iter().zip(outcomes);
    let lru_exact: Option<Vec<u64>> = match stack_wanted {
        true => match results.next() {
            Some((_, Outcome::Stack(stack))) => Some(stack.misses(sizes)),
            _ => unreachable!("the stack job comes first"),
        },
        false => None,
    };
    let mut curves = Vec::with_capacity(policies.len());
    for &kind in policies {
        let mut points = Vec::with_capacity(sizes.len());
        for (i, &size) in sizes.iter().enumerate() {
            let exact_lru = lru_exact.as_ref().map(|m| m[i]);
            let sampled_with = match sampled(size) {
                Some(_) if kind == PolicyKind::Lru && exact_lru.is_some() => None,
                other => other,
            };
            let point = match sampled_with {
                None => {
                    let misses = match exact_lru.filter(|_| kind == PolicyKind::Lru) {
                        Some(misses) => misses,
                        None => match results.next() {
                            Some((_, Outcome::Misses(m))) => m,
                            _ => unreachable!("jobs and results are in the same order"),
                        },
                    };
                    Point {
                        size,
                        misses,
                        miss_ratio: ratio(misses),
                        sampled: sampler.map(|_| false),
                        sampled_size: None,
                        error_bound: sampler.map(|_| 0.0),
                    }
                }
                Some(s) => {
                    let pages = match results.next() {
                        Some((_, Outcome::Sampled(pages))) => pages,
                        _ => unreachable!("jobs and results are in the same order"),
                    };
                    let (misses, bound) = s.estimate(&pages, exact_lru);
                    Point {
                        size,
                        misses,
                        miss_ratio: ratio(misses),
                        sampled: Some(true),
                        sampled_size: Some(s.scaled(size)),
                        error_bound: Some(bound / requests.max(1) as f64),
                    }
                }
            };
            points.push(point);
        }
        curves.push((kind, points));
    }
    Curves {
        requests,
        sampled_requests: sample.as_ref().map(|s| s.len() as u64),
        controlled: sampler.is_some() && stack_wanted && ids.len() <= EXACT_LRU_LIMIT,
        curves,
    }
}

/// `work` applied to every job, on as many threads as there are cores (jobs taken in order, so
/// put the long ones first); the results in the jobs' order.
fn parallel<J: Sync, T: Send>(jobs: &[J], work: impl Fn(&J) -> T + Sync) -> Vec<T> {
    let threads = thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len());
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, T)> = thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(job) = jobs.get(i) else { break };
                        done.push((i, work(job)));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    results.sort_by_key(|&(i, _)| i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Distinct pages of `ids`.
pub fn distinct_pages(ids: &[PageId]) -> u64 {
    let max = ids.iter().copied().max().unwrap_or(0) as usize;
    if max < ids.len().max(1 << 20) * 8 {
        let mut seen = vec![false; max + 1];
        ids.iter()
            .filter(|&&id| !std::mem::replace(&mut seen[id as usize], true))
            .count() as u64
    } else {
        let set: rustc_hash::FxHashSet<PageId> = ids.iter().copied().collect();
        set.len() as u64
    }
}

/// About `count` sizes from `smallest` to `largest`, evenly spaced on a log scale, rounded to
/// whole pages (duplicates dropped).
pub fn log_spaced(smallest: usize, largest: usize, count: usize) -> Vec<usize> {
    let (lo, hi) = (smallest.max(1) as f64, largest.max(smallest).max(1) as f64);
    let mut sizes: Vec<usize> = (0..count)
        .map(|i| {
            let t = if count > 1 {
                i as f64 / (count - 1) as f64
            } else {
                1.0
            };
            (lo * (hi / lo).powf(t)).round() as usize
        })
        .collect();
    sizes.dedup();
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_log_spaced_and_end_at_the_working_set() {
        let sizes = log_spaced(3, 3000, 12);
        assert_eq!(sizes.first(), Some(&3));
        assert_eq!(sizes.last(), Some(&3000));
        assert_eq!(sizes.len(), 12);
        assert!(sizes.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(log_spaced(1, 3, 12), [1, 2, 3]);
        assert_eq!(log_spaced(5, 5, 12), [5]);
    }

    #[test]
    fn exact_curves_equal_the_simulator_and_sampling_at_rate_1_is_exact() {
        let ids: Vec<PageId> = (0..3000u32).map(|i| (i * i + 7 * i) % 500).collect();
        let sizes = [1, 10, 100, 499];
        let exact = compute(&ids, &PolicyKind::ALL, &sizes, None);
        assert_eq!(exact.requests, 3000);
        for (kind, points) in &exact.curves {
            for point in points {
                let mut sim = Simulator::new(*kind, point.size);
                ids.iter().for_each(|&id| {
                    sim.access(id);
                });
                assert_eq!(point.misses, sim.misses(), "{kind} at {}", point.size);
                assert!(point.sampled.is_none());
            }
        }
        let all = compute(&ids, &PolicyKind::ALL, &sizes, Some(Sampler::new(1.0)));
        for ((_, a), (_, b)) in exact.curves.iter().zip(&all.curves) {
            for (a, b) in a.iter().zip(b) {
                assert_eq!(a.misses, b.misses);
                assert_eq!(b.error_bound, Some(0.0));
            }
        }
        let set: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct_pages(&ids), set.len() as u64);
        assert_eq!(distinct_pages(&[4_000_000_000, 1, 4_000_000_000]), 2);
    }
}
