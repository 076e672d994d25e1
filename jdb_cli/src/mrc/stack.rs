//! Exact LRU for every cache size in one pass: Mattson's stack algorithm. A request's stack
//! distance is the number of distinct pages requested since the last request for its page, its
//! own included; under LRU it hits in a cache of `S` pages exactly when that distance is at most
//! `S` (LRU has the inclusion property), so one histogram of distances gives the misses at every
//! size.
//!
//! The distance is counted with a Fenwick tree over request times: time `t` holds 1 while the
//! request at `t` is the latest one for its page, so the distinct pages requested after time `t'`
//! are the ones marked in `t'+1..t`. Each request is one query and two updates, O(log n).

use jdb_layout::PageId;
use rustc_hash::FxHashMap;

/// The stack distances of a trace: how many requests had each distance, and the first requests
/// (cold misses at every size).
#[derive(Debug, Clone)]
pub struct StackDistances {
    /// `counts[d]`: requests with stack distance `d` (index 0 unused).
    counts: Vec<u64>,
    /// Requests for a page not requested before.
    cold: u64,
}

impl StackDistances {
    /// Computes the distances of every request of `ids`.
    pub fn of(ids: &[PageId]) -> Self {
        let n = ids.len();
        let mut marks = Fenwick::new(n);
        let mut last = LastSeen::for_trace(ids);
        let mut counts = vec![0u64; 2];
        let mut cold = 0;
        for (t, &id) in ids.iter().enumerate() {
            match last.replace(id, t) {
                Some(previous) => {
                    // Distinct pages requested since `previous`, plus this one.
                    let distance = marks.sum(t) - marks.sum(previous + 1) + 1;
                    if distance >= counts.len() {
                        counts.resize(distance + 1, 0);
                    }
                    counts[distance] += 1;
                    marks.add(previous, -1);
                }
                None => cold += 1,
            }
            marks.add(t, 1);
        }
        Self { counts, cold }
    }

    /// Distinct pages of the trace (its working set).
    #[cfg(test)]
    pub fn distinct_pages(&self) -> u64 {
        self.cold
    }

    /// Misses of an LRU cache of `size` pages that starts empty, for each size of `sizes`.
    pub fn misses(&self, sizes: &[usize]) -> Vec<u64> {
        // `beyond[s]`: requests with a distance above `s`.
        let mut beyond = vec![0u64; self.counts.len()];
        let mut above = 0;
        for d in (0..self.counts.len()).rev() {
            beyond[d] = above;
            above += self.counts[d];
        }
        sizes
            .iter()
            .map(|&size| self.cold + beyond.get(size).copied().unwrap_or(0))
            .collect()
    }
}

/// A Fenwick (binary indexed) tree of counts over `0..n`: add at a point, sum of a prefix.
struct Fenwick {
    tree: Vec<i32>,
}

impl Fenwick {
    fn new(n: usize) -> Self {
        Self {
            tree: vec![0; n + 1],
        }
    }

    fn add(&mut self, at: usize, delta: i32) {
        let mut i = at + 1;
        while i < self.tree.len() {
            self.tree[i] += delta;
            i += i & i.wrapping_neg();
        }
    }

    /// The sum over `0..end`.
    fn sum(&self, end: usize) -> usize {
        let mut i = end;
        let mut total = 0i64;
        while i > 0 {
            total += i64::from(self.tree[i]);
            i &= i - 1;
        }
        // Every mark is 0 or 1 and at most one per time is set: never negative.
        total as usize
    }
}

/// The time of each page's latest request: an array when the ids are dense enough, a hash map
/// otherwise.
enum LastSeen {
    Dense(Vec<u32>),
    Sparse(FxHashMap<PageId, u32>),
}

/// In the dense array: never requested.
const NEVER: u32 = u32::MAX;

impl LastSeen {
    fn for_trace(ids: &[PageId]) -> Self {
        let max = ids.iter().copied().max().unwrap_or(0) as usize;
        if max < ids.len().max(1 << 20) * 4 {
            Self::Dense(vec![NEVER; max + 1])
        } else {
            Self::Sparse(FxHashMap::default())
        }
    }

    /// Records a request for `id` at time `t`; returns the time of the one before.
    fn replace(&mut self, id: PageId, t: usize) -> Option<usize> {
        // Traces are read into memory, so their length fits 32 bits long before memory runs out;
        // `Source` refuses longer ones.
        let t = t as u32;
        match self {
            Self::Dense(times) => {
                let previous = std::mem::replace(&mut times[id as usize], t);
                (previous != NEVER).then_some(previous as usize)
            }
            Self::Sparse(times) => times.insert(id, t).map(|p| p as usize),
        }
    }
}

#[cfg(test)]
mod tests {
    use jdb_page::{PolicyKind, Simulator};
    use rand::{Rng, SeedableRng, rngs::StdRng};

    use super::*;

    fn simulated(ids: &[PageId], size: usize) -> u64 {
        let mut lru = Simulator::new(PolicyKind::Lru, size);
        ids.iter().for_each(|&id| {
            lru.access(id);
        });
        lru.misses()
    }

    #[test]
    fn distances_of_a_small_trace() {
        // 1 2 1 3 2: distances -, -, 2, -, 3.
        let stack = StackDistances::of(&[1, 2, 1, 3, 2]);
        assert_eq!(stack.distinct_pages(), 3);
        assert_eq!(stack.misses(&[1, 2, 3, 4]), [5, 4, 3, 3]);
        assert_eq!(StackDistances::of(&[]).misses(&[1]), [0]);
        assert_eq!(StackDistances::of(&[7, 7, 7]).misses(&[1]), [1]);
    }

    #[test]
    fn equals_the_pools_lru_at_every_size() {
        let mut rng = StdRng::seed_from_u64(3);
        for (pages, sparse) in [(50u32, false), (400, false), (300, true)] {
            let ids: Vec<PageId> = (0..5000)
                .map(|_| {
                    let id = rng.random_range(0..pages);
                    if sparse { id * 1_000_003 } else { id }
                })
                .collect();
            let stack = StackDistances::of(&ids);
            let sizes = [1, 2, 3, 10, 49, 50, 51, 200, 400, 1000];
            for (&size, misses) in sizes.iter().zip(stack.misses(&sizes)) {
                assert_eq!(misses, simulated(&ids, size), "{pages} pages, size {size}");
            }
        }
    }
}
