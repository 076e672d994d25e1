#!/usr/bin/env python3
"""Tables with ratios from `cargo bench -p jdb_page` runs (criterion's estimates.json).

    cargo bench -p jdb_page && python3 bench/criterion_table.py
    # several runs of one bench, each saved under its own name, then mean and spread:
    for r in 1 2 3; do cargo bench -p jdb_page --bench hit_path -- --save-baseline run$r; done
    python3 bench/criterion_table.py run1 run2 run3

Each jdb row is divided by its baseline measured in the same group of the same run. The time per
iteration is criterion's point estimate (the slope for linearly sampled groups, else the mean),
the middle number criterion prints; divided by the benchmark's element count where it has one
(hit_path: one iteration is one pass over a trace). With several runs named, each number is the
mean over the runs, then the min-max across them; a ratio is taken within each run first.
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


RUNS = sys.argv[1:] or ["new"]


def ns_in(run, group, function, param, per_element=False):
    """Nanoseconds per iteration (or per element) of one benchmark in one run, or None."""
    d = os.path.join(ROOT, group, function, param, run)
    try:
        est = json.load(open(os.path.join(d, "estimates.json")))
    except FileNotFoundError:
        return None
    slope = est.get("slope")
    v = (slope or est["mean"])["point_estimate"]
    if per_element:
        bench = json.load(open(os.path.join(d, "benchmark.json")))
        v /= (bench.get("throughput") or {}).get("Elements", 1)
    return v


def ns(group, function, param, per_element=False):
    """Mean over the runs of `ns_in`, or None if a run lacks it."""
    vs = [ns_in(r, group, function, param, per_element) for r in RUNS]
    return None if None in vs else sum(vs) / len(vs)


def spread(values):
    """`mean (min-max)` of a list of numbers, or the one number."""
    if None in values:
        return "—"
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"**{mean:.2f}**"
    return f"**{mean:.2f}** ({min(values):.2f}–{max(values):.2f})"


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

    policies = ("lru", "clock", "sieve", "s3fifo")
    rows = ([f"get_{p}" for p in policies] + [f"read_{p}" for p in policies]
            + [f"tryget_{p}" for p in policies]
            + ["hashmap", "hashmap_await", "hashmap_huge", "hashmap_aligned", "lru_crate",
               "schnellru"])
    print("### hit_path (ns per hit of a resident page; 3 000 pages, repo traces; lower is better)\n")
    print(f"runs: {', '.join(RUNS)}; ratio = row ÷ `hashmap` (or the row named) in the same "
          "run, mean (min–max over runs)\n")
    print("| row | zipf ns/hit | zipf ÷ hashmap | ÷ hashmap_await | ÷ lru_crate | ÷ schnellru "
          "| uniform ns/hit | uniform ÷ hashmap | ÷ hashmap_await | ÷ lru_crate | ÷ schnellru |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        cells = []
        for trace in ("zipf", "uniform"):
            def per_run(other):
                out = []
                for r in RUNS:
                    a = ns_in(r, "hit_path", row, trace, True)
                    b = ns_in(r, "hit_path", other, trace, True)
                    out.append(None if a is None or b is None else a / b)
                return out
            cells += [fmt_time(ns("hit_path", row, trace, True)), spread(per_run("hashmap")),
                      spread(per_run("hashmap_await")), spread(per_run("lru_crate")),
                      spread(per_run("schnellru"))]
        print(f"| {row} | {' | '.join(cells)} |")

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

    print("\n### policy_ops (ns per operation; equal across sizes = O(1))\n")
    print("| policy | operation | 1 Ki frames | 16 Ki frames | 1 Mi frames | 1 Mi ÷ 1 Ki |")
    print("|---|---|---:|---:|---:|---:|")
    for policy in ("lru", "clock", "sieve", "s3fifo"):
        for op in ("hit", "pin_unpin", "evict_insert"):
            v = [ns("policy_ops", op, f"{policy}_{size}") for size in ("1Ki", "16Ki", "1Mi")]
            print(f"| {policy} | {op} | {' | '.join(fmt_time(x) for x in v)} | "
                  f"{ratio(v[2], v[0])} |")


main()
