#!/usr/bin/env python3
"""Cross-checks `jdb bench --trace --compare` against libCacheSim on fresh random traces: the
check of `replays_match_libcachesim` (which uses the repo's three traces), on traces nobody chose.

Run (the same Python packages as make_traces.py; a release `jdb`):

    pip install numpy libcachesim==0.3.5
    cargo build --release -p jdb_cli
    python3 bench/traces/crosscheck.py --jdb target/release/jdb --traces 200

Each trace is seeded (numpy seed [CROSSCHECK_SEED, i]) and one of five shapes: uniform, Zipf
(theta drawn in 0.4..1.5, hot pages a random permutation), a loop a little longer than some
cache sizes with 20 % noise, bursts of one id, and a hot set broken by one-off scans. Each is
replayed at cache sizes around its distinct-page count and a few fixed ones, through every policy
(`--compare`: one pool each, empty at the start), and each miss count is compared with
libCacheSim's for the same policy and size. S3-FIFO is compared from a cache size of 20 up (below
that libCacheSim's small queue holds nothing, see make_traces.py).

Prints one line per mismatch and a summary; exits 1 if any count differs or a run fails. A trace
that mismatched is kept in --keep (default target/crosscheck/) to reproduce with `jdb bench
--trace FILE --pages N --cap SIZE --policy P`. Every data file goes in --dir (default
target/crosscheck/): it must accept O_DIRECT, as `jdb bench --file` needs.

Session 7 (December 2026): `--traces 40`, 1,720 (trace, policy, size) cases, no mismatch; a
helper's run of the same comparison on 59 hand-shaped traces and 300 small random ones, 20,040
cases, no mismatch.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_traces import misses  # noqa: E402  (libCacheSim's count, as the repo's expected.json)

CROSSCHECK_SEED = 77
FIXED_SIZES = [1, 2, 3, 5, 10, 20, 21, 37, 100]
S3FIFO_MIN_SIZE = 20


def make_trace(rng: np.random.Generator, shape: int) -> tuple[list[int], int]:
    """A trace of the given shape (0..5) and the page count it draws from."""
    pages = int(rng.integers(3, 3000))
    n = int(rng.integers(1, 5000))
    if shape == 0:
        ids = rng.integers(0, pages, size=n)
    elif shape == 1:
        theta = float(rng.uniform(0.4, 1.5))
        p = np.arange(1, pages + 1, dtype=np.float64) ** -theta
        p /= p.sum()
        ids = rng.permutation(pages)[rng.choice(pages, size=n, p=p)]
    elif shape == 2:
        length = int(rng.integers(1, pages + 1))
        loop = np.tile(np.arange(length), n // length + 1)[:n]
        ids = np.where(rng.random(n) < 0.2, rng.integers(0, pages, size=n), loop)
    elif shape == 3:
        out: list[int] = []
        while len(out) < n:
            out += [int(rng.integers(0, pages))] * int(rng.integers(1, 9))
        ids = np.array(out[:n])
    else:
        hot = max(1, pages // 10)
        out = []
        next_scan = hot
        while len(out) < n:
            out += [int(x) for x in rng.integers(0, hot, size=int(rng.integers(10, 200)))]
            scan = int(rng.integers(1, 100))
            out += [hot + (next_scan - hot + k) % (pages - hot or 1) for k in range(scan)]
            next_scan += scan
        ids = np.array(out[:n])
    return [int(x) for x in ids], pages


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jdb", default="target/release/jdb", help="the jdb binary")
    ap.add_argument("--traces", type=int, default=100, help="random traces to make")
    ap.add_argument("--dir", default="target/crosscheck", help="data files (O_DIRECT)")
    ap.add_argument("--keep", default="target/crosscheck", help="traces that mismatched")
    args = ap.parse_args()
    work, keep = Path(args.dir), Path(args.keep)
    work.mkdir(parents=True, exist_ok=True)
    keep.mkdir(parents=True, exist_ok=True)

    cases = bad = 0
    for i in range(args.traces):
        rng = np.random.default_rng([CROSSCHECK_SEED, i])
        shape = i % 5
        trace, pages = make_trace(rng, shape)
        distinct = len(set(trace))
        path = work / "trace.txt"
        header = f"# crosscheck.py seed [{CROSSCHECK_SEED}, {i}] shape {shape} pages {pages}"
        path.write_text(header + "\n" + "\n".join(map(str, trace)) + "\n")
        sizes = sorted({*FIXED_SIZES, max(1, distinct - 1), distinct, distinct + 1})
        for size in sizes:
            run = subprocess.run(
                [args.jdb, "bench", "--trace", str(path), "--pages", str(pages),
                 "--cap", str(size), "--compare", "--json",
                 "--file", str(work / f"data-{pages}.jdb")],
                capture_output=True, text=True,
            )
            if run.returncode != 0:
                print(f"FAILED seed [{CROSSCHECK_SEED}, {i}] size {size}: {run.stderr.strip()}")
                bad += 1
                continue
            for row in json.loads(run.stdout)["policies"]:
                policy = row["policy"]
                if policy == "s3fifo" and size < S3FIFO_MIN_SIZE:
                    continue
                want = misses(policy, size, trace)
                cases += 1
                if row["misses"] != want:
                    bad += 1
                    kept = keep / f"mismatch-{i}.trace"
                    kept.write_text(path.read_text())
                    print(f"MISMATCH {kept} --pages {pages} --cap {size} --policy {policy}: "
                          f"jdb {row['misses']}, libCacheSim {want}")
        print(f"trace {i + 1}/{args.traces}: {len(trace)} requests, {distinct} pages", flush=True)
    print(f"{cases} (trace, policy, size) cases compared, {bad} mismatches or failures")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
