//! `--trace FILE`: a trace of page ids replayed through an empty pool, read only, one task, in
//! the trace's order, so that the misses are exact and the same on every run: the number to
//! compare with a cache simulator's (libCacheSim's counts for `bench/traces/` are in
//! `bench/traces/expected.json`).
//!
//! The file holds one page id a line; blank lines and `#` comments (whole lines or after an id)
//! are skipped. A line that is not a page id, or an id at or past the end of the data file, is an
//! error naming the line.

use std::{path::Path, rc::Rc, sync::Arc};

use anyhow::{Context, bail};
use jdb_layout::PageId;
use jdb_page::{PolicyKind, PoolOptions};

use super::{
    report::RunResult,
    run::{JdbCache, JdbSetup, Limits, TaskRun, run_tasks},
    threads::merge,
    workload::Ops,
};

/// The page ids of the trace at `path`, each below `pages` (any 32-bit page id for `None`: no
/// data file to fit, as for `jdb mrc`).
pub fn read_trace(path: &Path, pages: Option<u32>) -> anyhow::Result<Arc<[PageId]>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the trace {}", path.display()))?;
    let ids = parse_trace(&text, pages).map_err(|e| anyhow::anyhow!("{}:{e}", path.display()))?;
    if ids.is_empty() {
        bail!("{}: the trace has no page ids", path.display());
    }
    Ok(ids)
}

/// The page ids of trace `text`; an error starts with the line number.
fn parse_trace(text: &str, pages: Option<u32>) -> anyhow::Result<Arc<[PageId]>> {
    let mut ids = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let id = line.split('#').next().unwrap_or_default().trim();
        if id.is_empty() {
            continue;
        }
        let Ok(id) = id.parse::<u64>() else {
            bail!("{number}: `{id}` is not a page id (one number a line; # starts a comment)");
        };
        match pages {
            Some(pages) if id >= u64::from(pages) => bail!(
                "{number}: page {id} is past the end of the data file ({pages} pages: raise \
                 --pages)"
            ),
            None if id > u64::from(PageId::MAX) => {
                bail!("{number}: page {id} is not a page id (more than 32 bits)")
            }
            // `id < pages <= u32::MAX`, or `id <= u32::MAX`.
            _ => ids.push(id as PageId),
        }
    }
    Ok(ids.into())
}

/// Replays `ids` on the data file at `path` through an empty pool of `cap` frames for each of
/// `policies`, one after the other.
pub async fn replay(
    path: &Path,
    cap: usize,
    ids: &Arc<[PageId]>,
    policies: &[PolicyKind],
    setup: JdbSetup,
) -> anyhow::Result<(Vec<RunResult>, bool)> {
    let mut results = Vec::with_capacity(policies.len());
    let mut direct_io = true;
    for &policy in policies {
        let (jdb, direct) =
            JdbCache::open(path, PoolOptions::new(cap).policy(policy), setup).await?;
        direct_io &= direct;
        let jdb = Rc::new(jdb);
        let ops = Ops::Replay {
            ids: Arc::clone(ids),
            next: 0,
        };
        let run = TaskRun {
            system: "jdb",
            limits: Limits {
                ops: None,
                duration: None,
            },
            tasks: 1,
            warm: 0,
            start: None,
        };
        let run = run_tasks(Rc::clone(&jdb), ops, run).await?;
        jdb.close().await?;
        let description =
            format!("jdb BufferPool of {cap} pages, {policy} eviction, replaying the trace");
        results.push(merge("jdb", Some(policy.name()), description, vec![run])?);
    }
    Ok((results, direct_io))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_comments_and_blank_lines() {
        let ids = parse_trace("# a trace\n3\n\n  7  \n1 # hot\n#\n0\n", Some(8)).unwrap();
        assert_eq!(&ids[..], [3, 7, 1, 0]);
    }

    #[test]
    fn bad_lines_name_their_number() {
        let err = parse_trace("1\n2\nseven\n", Some(8))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("3: `seven` is not a page id"), "{err}");
        let err = parse_trace("1\n-2\n", Some(8)).unwrap_err().to_string();
        assert!(err.starts_with("2: `-2` is not a page id"), "{err}");
        let err = parse_trace("# c\n1\n8\n", Some(8)).unwrap_err().to_string();
        assert!(err.starts_with("3: page 8 is past the end"), "{err}");
        let err = parse_trace("99999999999\n", Some(8))
            .unwrap_err()
            .to_string();
        assert!(err.contains("page 99999999999 is past the end"), "{err}");
        assert!(parse_trace("# nothing\n\n", Some(8)).unwrap().is_empty());
        assert_eq!(&parse_trace("4294967295\n", None).unwrap()[..], [u32::MAX]);
        let err = parse_trace("1\n4294967296\n", None)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("2: page 4294967296 is not a page id"),
            "{err}"
        );
    }
}
