#!/usr/bin/env python3
"""Tables with ratios from the last `cargo bench -p jdb_page` run (criterion's estimates.json).

    cargo bench -p jdb_page && python3 bench/criterion_table.py

Each jdb row is divided by its baseline measured in the same group of the same run. The time per
iteration is criterion's point estimate (the slope for linearly sampled groups, else the mean),
the middle number criterion prints.
"""
import json
import os
import subprocess
import sys


def target_dir():
    if os.environ.get("CARGO_TARGET_DIR"):
        return os.environ["CARGO_TARGET_DIR"]
    meta = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(meta)["target_directory"]


ROOT = os.path.join(target_dir(), "criterion")


def ns(group, function, param):
    """Nanoseconds per iteration of one benchmark, or None if it has not run."""
    path = os.path.join(ROOT, group, function, param, "new", "estimates.json")
    try:
        est = json.load(open(path))
    except FileNotFoundError:
        return None
    slope = est.get("slope")
    return (slope or est["mean"])["point_estimate"]


def fmt_time(v):
    if v is None:
        return "—"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if v >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v:.3g} ns"


def ratio(a, b):
    return "—" if a is None or b is None else f"**{a / b:.2f}**"


def main():
    if not os.path.isdir(ROOT):
        sys.exit(f"no criterion results in {ROOT}: run `cargo bench -p jdb_page` first")

    print("### hit_path (ns per `get` of a resident page; 16 384 pages; lower is better)\n")
    print("| trace | jdb `get` | bare HashMap (limit) | jdb ÷ limit | 4 KiB-aligned HashMap | "
          "jdb ÷ aligned | `lru::LruCache::get` | jdb ÷ lru | `schnellru::LruMap::get` | "
          "jdb ÷ schnellru |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for trace in ("zipf", "uniform"):
        j = ns("hit_path", "jdb_get", trace)
        h = ns("hit_path", "hashmap_limit", trace)
        a = ns("hit_path", "hashmap_aligned_limit", trace)
        lru = ns("hit_path", "lru_crate", trace)
        s = ns("hit_path", "schnellru", trace)
        print(f"| {trace} | {fmt_time(j)} | {fmt_time(h)} | {ratio(j, h)} | {fmt_time(a)} | "
              f"{ratio(j, a)} | {fmt_time(lru)} | {ratio(j, lru)} | {fmt_time(s)} | {ratio(j, s)} |")

    print("\n### I/O paths: jdb against the same requests through `jdb_fs::File` "
          "(higher is better)\n")
    print("| workload | jdb | file layer | jdb ÷ file layer |")
    print("|---|---:|---:|---:|")
    io_rows = [
        ("miss_path: `get` of a cold page, QD1", "miss_path", ("jdb_get", "qd1"),
         ("file_read_at", "qd1"), 1, "IOPS"),
        ("flush: `flush_all` of 16 384 dirty contiguous pages", "flush",
         ("jdb_flush_all", "64MiB"), ("file_write_at_64k", "64MiB"), 64 * 2**20, "MiB/s"),
        ("groups: cold scan, `get_group(·, 16)`", "groups", ("cold_scan", "jdb_get_group_16"),
         ("cold_scan", "file_read_at_64k"), 64 * 1024, "MiB/s"),
        ("groups: `prefetch` 10 000 random, fresh pool", "groups",
         ("prefetch_10k", "jdb_prefetch_fresh_pool"), ("prefetch_10k", "file_read_at_qd64"),
         10_000, "pages/s"),
        ("groups: `prefetch` 10 000 random, reused pool", "groups",
         ("prefetch_10k", "jdb_prefetch_reused_pool"), ("prefetch_10k", "file_read_at_qd64"),
         10_000, "pages/s"),
    ]
    for label, group, (jf, jp), (bf, bp), per_iter, unit in io_rows:
        j, b = ns(group, jf, jp), ns(group, bf, bp)

        def rate(v):
            if v is None:
                return "—"
            r = per_iter / (v / 1e9)
            return f"{r / 2**20:,.0f} {unit}" if unit == "MiB/s" else f"{r:,.0f} {unit}"

        print(f"| {label} | {rate(j)} | {rate(b)} | {ratio(b, j)} |")

    print("\n### lru_ops (ns per operation; equal across sizes = O(1))\n")
    print("| operation | 1 Ki frames | 16 Ki frames | 1 Mi frames | 1 Mi ÷ 1 Ki |")
    print("|---|---:|---:|---:|---:|")
    for op in ("touch_random", "victim_cycle"):
        v = [ns("lru_ops", op, size) for size in ("1Ki", "16Ki", "1Mi")]
        print(f"| {op} | {' | '.join(fmt_time(x) for x in v)} | {ratio(v[2], v[0])} |")


main()
