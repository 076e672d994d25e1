//! Shared setup of the pool benchmarks: data files on the work disk, seeded traces, criterion
//! settings. Included by each bench (`mod common;`) and by the examples (`#[path]`).
#![allow(dead_code)]

pub mod hits;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use jdb_fs::File;
use jdb_page::BufferPool;
use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};
use rand_distr::{Distribution, Zipf};

/// Pages written per `flush_all` while a data file is made (the making pool's capacity).
const MAKE_BATCH: u32 = 4096;

/// Where the benchmarks keep their data files: `$JDB_BENCH_DIR`, else `target/bench-data` of the
/// workspace (the ext4 work disk, so `O_DIRECT` really bypasses the page cache; not /tmp or
/// /dev/shm). Files there are reused across runs.
pub fn data_dir() -> PathBuf {
    let dir = std::env::var_os("JDB_BENCH_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).expect("create the bench data dir");
    dir
}

/// Writes a valid jdb file of `pages` pages at `path` through the pool (each page an empty data
/// page whose payload starts with its id), made under a temporary name and renamed when done, so
/// an interrupted run never leaves a short file under the real name.
pub async fn make_file(path: &Path, pages: u32) -> Result<(), Box<dyn std::error::Error>> {
    let partial = path.with_extension("partial");
    let pool = BufferPool::open(File::create(&partial).await?, MAKE_BATCH as usize).await?;
    let mut next = 0;
    while next < pages {
        let n = (pages - next).min(jdb_page::MAX_RUN as u32);
        let first = pool.alloc_group(n as usize).await?;
        for id in first..first + n {
            pool.get(id).await?.data_mut()[..4].copy_from_slice(&id.to_le_bytes());
        }
        next += n;
        if next % MAKE_BATCH == 0 {
            pool.flush_all().await?;
        }
    }
    pool.close().await?;
    std::fs::rename(&partial, path)?;
    Ok(())
}

/// The data file `name` of `pages` pages in [`data_dir`], made if missing or of another size.
pub fn ensure_file(name: &str, pages: u32) -> PathBuf {
    let path = data_dir().join(name);
    let want = u64::from(pages) * jdb_fs::PAGE_SIZE as u64;
    if std::fs::metadata(&path).map(|m| m.len()).ok() != Some(want) {
        eprintln!("making {} ({pages} pages)", path.display());
        block_on(make_file(&path, pages)).expect("make the bench data file");
    }
    path
}

/// Runs `f` on a fresh compio (io_uring) runtime.
pub fn block_on<F: Future>(f: F) -> F::Output {
    compio::runtime::Runtime::new()
        .expect("compio runtime")
        .block_on(f)
}

/// `len` page ids uniform over `0..n`, seeded.
pub fn uniform_trace(n: u32, len: usize, seed: u64) -> Vec<u32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len).map(|_| rng.random_range(0..n)).collect()
}

/// `len` page ids over `0..n` with Zipf popularity of exponent `theta` (YCSB's "scrambled"
/// Zipfian: rank `r` is mapped to a fixed random id, so hot pages are not neighbours), seeded.
pub fn zipf_trace(n: u32, len: usize, theta: f64, seed: u64) -> Vec<u32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut rank_to_id: Vec<u32> = (0..n).collect();
    rank_to_id.shuffle(&mut rng);
    let zipf = Zipf::new(f64::from(n), theta).expect("zipf parameters");
    (0..len)
        .map(|_| rank_to_id[zipf.sample(&mut rng) as usize - 1])
        .collect()
}

/// `count` distinct page ids drawn uniformly from `0..n`, in random order, seeded.
pub fn distinct_random(n: u32, count: usize, seed: u64) -> Vec<u32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ids: Vec<u32> = (0..n).collect();
    ids.shuffle(&mut rng);
    ids.truncate(count);
    ids
}

/// Criterion settings that keep `cargo bench -p jdb_page` to a few minutes: 1 s warm-up, 3 s of
/// measurement, 20 samples.
pub fn criterion() -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .configure_from_args()
}
