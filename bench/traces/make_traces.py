#!/usr/bin/env python3
"""Page-id traces and libCacheSim's miss counts on them, for jdb_page's eviction-policy tests.

Run (Python 3.11, numpy, and the libcachesim package, version 0.3.5):

    pip install numpy libcachesim==0.3.5
    python3 bench/traces/make_traces.py

It writes, next to this script:

- zipf.trace       Zipf (theta 0.99) over 3,000 pages, 20,000 requests
- uniform.trace    uniform over 3,000 pages, 20,000 requests
- zipf_scan.trace  8 rounds of 2,000 Zipf requests (as zipf.trace) followed by a sequential scan of
                   500 pages never asked for otherwise (20,000 requests)
- expected.json    libCacheSim's miss count for LRU, Clock, Sieve and S3FIFO on each trace at each
                   cache size in CACHE_SIZES, objects of size 1 (count-based):
                   {"libcachesim": "0.3.5", "traces": {"zipf.trace": {"lru": {"16": misses, ...}}}}

A trace is one page id per line after `#` comment lines saying how it was made. Everything is
seeded: running the script again writes the same bytes. `jdb_page`'s unit test
`policy::tests::replays_match_libcachesim` replays every trace through jdb's policies and asserts
each count equal.

libCacheSim's S3FIFO needs a small queue of at least one object (it aborts below a cache size of
10), and its small queue admits only objects smaller than the queue, so below a cache size of 20
(small queue = 1) it caches nothing: every request misses. Those counts are recorded as they are;
the Rust test knows that jdb's S3-FIFO, which must keep every page it reads, differs there.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import libcachesim as lcs

SEED = 13
PAGES = 3_000
REQUESTS = 20_000
THETA = 0.99
SCAN_EVERY = 2_000
SCAN_LEN = 500
CACHE_SIZES = [1, 2, 3, 4, 16, 20, 64, 256, 1024]
# libCacheSim 0.3.5 aborts on an S3FIFO smaller than this (small queue of 0 objects).
S3FIFO_MIN_SIZE = 10
POLICIES = {
    "lru": lambda size: lcs.LRU(size),
    "clock": lambda size: lcs.Clock(size),  # init_freq=0, n_bit_counter=1: second chance
    "sieve": lambda size: lcs.Sieve(size),
    # small_size_ratio=0.1, ghost_size_ratio=0.9, move_to_main_threshold=2
    "s3fifo": lambda size: lcs.S3FIFO(size),
}
HERE = Path(__file__).resolve().parent


def zipf_sampler(rng: np.random.Generator):
    """Draws Zipf(THETA) page ids over PAGES pages; rank r has probability ~ 1 / r^THETA. The
    rank-to-page mapping is a seeded permutation, so hot pages are not simply the low ids."""
    ranks = np.arange(1, PAGES + 1, dtype=np.float64)
    p = ranks**-THETA
    p /= p.sum()
    page_of_rank = rng.permutation(PAGES)
    return lambda n: page_of_rank[rng.choice(PAGES, size=n, p=p)]


def make_zipf(rng):
    return zipf_sampler(rng)(REQUESTS)


def make_uniform(rng):
    return rng.integers(0, PAGES, size=REQUESTS)


def make_zipf_scan(rng):
    draw = zipf_sampler(rng)
    parts, next_scan_page = [], PAGES
    for _ in range(REQUESTS // (SCAN_EVERY + SCAN_LEN)):
        parts.append(draw(SCAN_EVERY))
        parts.append(np.arange(next_scan_page, next_scan_page + SCAN_LEN))
        next_scan_page += SCAN_LEN
    return np.concatenate(parts)


TRACES = {
    "zipf.trace": (make_zipf, f"Zipf theta={THETA} over {PAGES} pages, {REQUESTS} requests"),
    "uniform.trace": (make_uniform, f"uniform over {PAGES} pages, {REQUESTS} requests"),
    "zipf_scan.trace": (
        make_zipf_scan,
        f"rounds of {SCAN_EVERY} Zipf theta={THETA} requests over {PAGES} pages, each followed by "
        f"a sequential scan of {SCAN_LEN} new pages (ids from {PAGES} up), {REQUESTS} requests",
    ),
}


def misses(policy: str, size: int, trace: list[int]) -> int:
    cache = POLICIES[policy](size)
    req = lcs.Request()
    req.obj_size = 1
    n = 0
    for page in trace:
        req.obj_id = page
        if not cache.get(req):
            n += 1
    return n


def main() -> None:
    expected = {
        "libcachesim": lcs.__version__,
        "cache_sizes": CACHE_SIZES,
        "note": (
            "misses with objects of size 1; libCacheSim's S3FIFO is not run below a cache size of "
            f"{S3FIFO_MIN_SIZE} (it aborts) and caches nothing below 20 (small queue of 1 object)"
        ),
        "traces": {},
    }
    for i, (name, (make, how)) in enumerate(TRACES.items()):
        rng = np.random.default_rng([SEED, i])
        trace = [int(x) for x in make(rng)]
        assert len(trace) == REQUESTS, (name, len(trace))
        header = [
            f"# {name}: {how}",
            f"# made by bench/traces/make_traces.py (numpy seed [{SEED}, {i}]); one page id a line",
        ]
        (HERE / name).write_text("\n".join(header + [str(x) for x in trace]) + "\n")
        counts = {}
        for policy in POLICIES:
            sizes = [s for s in CACHE_SIZES if policy != "s3fifo" or s >= S3FIFO_MIN_SIZE]
            counts[policy] = {str(s): misses(policy, s, trace) for s in sizes}
        expected["traces"][name] = counts
        print(name, {p: c for p, c in counts.items()})
    (HERE / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")


if __name__ == "__main__":
    main()
