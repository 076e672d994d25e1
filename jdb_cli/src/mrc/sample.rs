//! `--sample RATE`: SHARDS-style spatial sampling (Waldspurger et al., FAST '15). A page is in the
//! sample when a fixed 64-bit hash of its id, mod 2^24, is below `RATE * 2^24`; every request for
//! a sampled page is kept, in order, and none for the others. A cache of `round(S * RATE)` pages
//! then sees about what a cache of `S` pages sees of those pages, so the sample's misses divided
//! by `RATE` estimate the misses at size `S`.
//!
//! Estimate and error bound, for a policy P at size S: each sampled page's misses are counted in
//! the scaled simulation of P (`m_p`) and of LRU (`l_p`, the control). Where the exact LRU curve
//! is at hand (it is one cheap pass, see `curves::EXACT_LRU_LIMIT`), the estimate is
//! `LRU_exact(S) + sum (m_p - l_p) / RATE`: what the sample gets wrong in both policies alike
//! (which hot pages the hash happened to pick, the coarser scaled cache) cancels. Otherwise it is
//! `sum m_p / RATE`. Either is a Horvitz-Thompson sum over the sampled pages (each in the sample
//! with probability RATE), whose variance `(1 - RATE) / RATE * sum x_p^2` over all pages is
//! estimated without bias by `(1 - RATE) / RATE^2 * sum x_p^2` over the sampled ones, `x_p` being
//! `m_p - l_p` or `m_p` (and at least one sampled miss: the sample's resolution).
//!
//! The stated bound is [`SIGMAS`] such standard errors. It covers the sampling of pages; it does
//! not cover how a cache of sampled pages behaves unlike the full one beyond what LRU shares,
//! which is why scaled caches under [`MIN_SAMPLED_CACHE`] pages are not sampled (those points are
//! simulated on the whole trace). Measured on 200,000- and 1,000,000-request zipf, uniform and
//! mixed traces of 8 seeds each at rate 0.01 (jdb_cli/tests/mrc.rs checks zipf, seed 42): the
//! largest error was 0.9 of the bound with 4 standard errors (1.2 with 3, hence 4).

use jdb_layout::PageId;

/// Scaled caches below this many pages are not sampled: those points are simulated on the whole
/// trace (at 40 pages, SIEVE's and S3-FIFO's sampled differences from LRU were off by more than
/// their bound).
pub const MIN_SAMPLED_CACHE: usize = 100;
/// Hash values are taken mod 2^24, as SHARDS does.
const MODULUS: u64 = 1 << 24;
/// Standard errors in a stated error bound.
pub const SIGMAS: f64 = 4.0;

/// Which pages a sampling rate keeps.
#[derive(Debug, Clone, Copy)]
pub struct Sampler {
    /// The rate, `0 < rate <= 1`.
    pub rate: f64,
    threshold: u64,
}

impl Sampler {
    /// A sampler keeping about `rate` of the pages (`0 < rate <= 1`).
    pub fn new(rate: f64) -> Self {
        Self {
            rate,
            threshold: (rate * MODULUS as f64).round() as u64,
        }
    }

    /// Whether page `id` is in the sample.
    pub fn keeps(&self, id: PageId) -> bool {
        hash(id) % MODULUS < self.threshold
    }

    /// The requests of `ids` for sampled pages, in order.
    pub fn filter(&self, ids: &[PageId]) -> Vec<PageId> {
        ids.iter().copied().filter(|&id| self.keeps(id)).collect()
    }

    /// The size of the cache that stands for a cache of `size` pages: `round(size * rate)`.
    pub fn scaled(&self, size: usize) -> usize {
        (size as f64 * self.rate).round() as usize
    }

    /// Misses at full scale, and [`SIGMAS`] standard errors of them, from each sampled page's
    /// misses under the policy and under LRU at the scaled size (`pages`). With `control`, LRU's
    /// exact misses at full size: `control + sum (m - m_lru) / rate`; without, `sum m / rate`
    /// (see the module docs).
    pub fn estimate(&self, pages: &[(u64, u64)], control: Option<u64>) -> (u64, f64) {
        let term = |&(m, lru): &(u64, u64)| match control {
            Some(_) => m as f64 - lru as f64,
            None => m as f64,
        };
        let sum: f64 = pages.iter().map(term).sum();
        // At least one sampled miss: the sample's resolution (a sample where no page differs
        // from LRU does not show the policies equal, only their difference too small to see).
        let squares: f64 = pages
            .iter()
            .map(|p| term(p) * term(p))
            .sum::<f64>()
            .max(1.0);
        let misses = control.unwrap_or(0) as f64 + sum / self.rate;
        let sigma = ((1.0 - self.rate) * squares).sqrt() / self.rate;
        (misses.max(0.0).round() as u64, SIGMAS * sigma)
    }
}

/// splitmix64 of the page id: fixed, so a rate always samples the same pages.
fn hash(id: PageId) -> u64 {
    let mut z = u64::from(id).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_about_the_rate_and_always_the_same_pages() {
        for rate in [0.01, 0.1, 0.5] {
            let sampler = Sampler::new(rate);
            let kept = (0..100_000).filter(|&id| sampler.keeps(id)).count() as f64;
            assert!(
                (kept / 100_000.0 - rate).abs() < rate * 0.1,
                "{rate}: {kept}"
            );
        }
        let all = Sampler::new(1.0);
        assert!((0..10_000).all(|id| all.keeps(id)));
        let a = Sampler::new(0.01).filter(&(0..5000).collect::<Vec<_>>());
        let b = Sampler::new(0.01).filter(&(0..5000).collect::<Vec<_>>());
        assert_eq!(a, b);
        assert!(!a.is_empty());
    }

    #[test]
    fn scales_and_estimates() {
        let sampler = Sampler::new(0.01);
        assert_eq!(sampler.scaled(10_000), 100);
        assert_eq!(sampler.scaled(49), 0);
        // Ten pages of one miss each: 1000 misses at full scale, sum m^2 = 10.
        let (misses, bound) = sampler.estimate(&[(1, 3); 10], None);
        assert_eq!(misses, 1000);
        assert!((bound - 4.0 * (0.99f64 * 10.0).sqrt() / 0.01).abs() < 1e-9);
        // With LRU's exact 5000 misses as the control: 5000 + 10 * (1 - 3) / 0.01.
        let (misses, bound) = sampler.estimate(&[(1, 3); 10], Some(5000));
        assert_eq!(misses, 3000);
        assert!((bound - 4.0 * (0.99f64 * 40.0).sqrt() / 0.01).abs() < 1e-9);
        assert_eq!(Sampler::new(1.0).estimate(&[(7, 7)], None), (7, 0.0));
        assert_eq!(Sampler::new(1.0).estimate(&[(7, 9)], Some(9)), (7, 0.0));
        // No page differs: still one sampled miss of doubt.
        let (misses, bound) = sampler.estimate(&[(2, 2)], Some(50));
        assert_eq!(misses, 50);
        assert!((bound - 4.0 * 0.99f64.sqrt() / 0.01).abs() < 1e-9);
    }
}
