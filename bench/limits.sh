#!/usr/bin/env bash
# Benchmarks against the limits: fio and `jdb bench` on the same jdb file (made by `jdb bench`), run
# side by side in interleaved rounds (fio, jdb, file layer, then the reverse order, ...) so machine
# noise hits all, then one table: workload | metric | fio | jdb | jdb ÷ fio (ratio of medians)
# | per-round ratios | target | file layer | jdb ÷ file layer (where a file-layer-only run exists)
#
#   bash bench/limits.sh                 # 3 rounds of 5 s per workload and side (~4 min)
#   ROUNDS=5 SECS=10 bash bench/limits.sh
#   ROWS="randread_t32 threads" bash bench/limits.sh   # some rows only
#
# Environment: PAGES (file size in pages, default 65536 = 256 MiB), SECS (per run, default 5),
# ROUNDS (default 3), ROWS (default all), JDB_BENCH_DIR (where the files live; default
# target/bench-data, which must be on a real disk, not tmpfs: both sides use O_DIRECT).
#
# The `threads` row is jdb against itself: `--threads 2` ÷ `--threads 1` on a hit-only run (a
# pool as large as the data, `--warm` reads every page before the timed part, no writes), in a
# table of its own. So are `bgwriter` (zipf, half the operations write, a pool of 10 % of the
# data: the share of misses that waited for a write-back with and without `--bgwriter`, and the
# p99 miss latency with it ÷ the same workload read-only), `doublewrite` (`seqwrite` pages/s with
# `--doublewrite` ÷ without) and `mrc` (seconds of `jdb mrc` on a 1,000,000-request trace, with
# `--sample 0.01` and exact). Every other row is jdb against fio on the same file; fio is
# installed only when such a row is asked for.
set -euo pipefail
cd "$(dirname "$0")/.."

PAGES=${PAGES:-65536}
SECS=${SECS:-5}
ROUNDS=${ROUNDS:-3}
DIR=${JDB_BENCH_DIR:-$PWD/target/bench-data}
FILE=$DIR/limits.jdb             # the data file both sides read
HITS_PAGES=16384                 # the hit-only runs: 64 MiB of data, all of it in the pools
HITS1=$DIR/limits-hits.jdb       # --threads 1's file
HITS2=$DIR/limits-hits2.jdb      # --threads 2's files: limits-hits2.jdb.0 and .1
FIO_WFILE=$DIR/limits-fio-w.jdb  # a copy fio overwrites (garbage afterwards)
JDB_WFILE=$DIR/limits-jdb-w.jdb  # a copy jdb overwrites (stays a valid jdb file)
MRC_TRACE=$DIR/limits-mrc.trace  # 1,000,000 page ids for the mrc row
OUT=$(mktemp -d "$DIR/limits-run.XXXXXX" 2>/dev/null || { mkdir -p "$DIR" && mktemp -d "$DIR/limits-run.XXXXXX"; })
trap 'rm -rf "$OUT"' EXIT

read -r -a ROWS <<<"${ROWS:-randread_qd1 randread_qd32 randread_t32 seqread seqwrite threads bgwriter doublewrite mrc}"
wants() { local r; for r in "${ROWS[@]}"; do for w in "$@"; do [ "$r" = "$w" ] && return 0; done; done; return 1; }
if wants randread_qd1 randread_qd32 randread_t32 seqread seqwrite && ! command -v fio >/dev/null 2>&1; then
    echo "installing fio" >&2
    apt-get update -qq && apt-get install -y -qq fio >/dev/null
fi

echo "building the jdb side (release)" >&2
cargo build -q --release -p jdb_cli
wants randread_qd1 randread_t32 seqread && cargo build -q --release -p jdb_page --example limits
TARGET=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
JDB=$TARGET/release/jdb
EX=$TARGET/release/examples

# The data file: a `jdb bench` file of PAGES pages, made (or reused) by a load-only bench run. A
# file of that name that is not a bench file (an older script's) is replaced.
make_data_file() {
    "$JDB" bench --file "$1" --pages "$2" --workload scan --ops 1 --json >/dev/null 2>&1 ||
        { rm -f "$1" && "$JDB" bench --file "$1" --pages "$2" --workload scan --ops 1 --json >/dev/null; }
}

mkdir -p "$DIR"
echo "making (or reusing) $FILE ($PAGES pages)" >&2
make_data_file "$FILE" "$PAGES"
if wants threads; then
    echo "making (or reusing) $HITS1 and $HITS2.{0,1} ($HITS_PAGES pages in all)" >&2
    make_data_file "$HITS1" "$HITS_PAGES"
    "$JDB" bench --file "$HITS2" --pages "$HITS_PAGES" --threads 2 --workload scan --ops 2 --json >/dev/null
fi
cp "$FILE" "$FIO_WFILE"
cp "$FILE" "$JDB_WFILE"
rm -f "$JDB_WFILE.dw"
if wants mrc; then
    echo "making $MRC_TRACE (1,000,000 zipf requests over $PAGES pages)" >&2
    python3 - "$MRC_TRACE" "$PAGES" <<'PY'
import bisect, itertools, random, sys
path, pages = sys.argv[1], int(sys.argv[2])
weights = [1 / (k + 1) ** 0.99 for k in range(pages)]
cdf = list(itertools.accumulate(weights))
rng = random.Random(15)
with open(path, "w") as f:
    f.write(f"# 1,000,000 zipf(0.99) requests over {pages} pages (bench/limits.sh)\n")
    for _ in range(1_000_000):
        rank = bisect.bisect_left(cdf, rng.random() * cdf[-1])
        f.write(f"{rank * 2654435761 % pages}\n")
PY
fi
sync

# --- the rows: name | metric | fio job options | the jdb command (one line each) ---------------
FIO_COMMON=(--ioengine=io_uring --direct=1 --runtime="$SECS" --time_based --output-format=json)
fio_randread_qd1()  { fio --name=randread-qd1 --filename="$FILE" --readonly --rw=randread --bs=4k --iodepth=1 "${FIO_COMMON[@]}"; }
fio_randread_qd32() { fio --name=randread-qd32 --filename="$FILE" --readonly --rw=randread --bs=4k --iodepth=32 "${FIO_COMMON[@]}"; }
fio_randread_t32()  { fio_randread_qd32; }
fio_seqread()       { fio --name=seqread --filename="$FILE" --readonly --rw=read --bs=64k --iodepth=1 "${FIO_COMMON[@]}"; }
fio_seqwrite()      { fio --name=seqwrite --filename="$FIO_WFILE" --rw=write --bs=64k --iodepth=1 "${FIO_COMMON[@]}"; }
JDB_COMMON=(--pages "$PAGES" --duration "${SECS}s" --json)
jdb_randread_qd1()  { "$JDB" bench --file "$FILE" --workload randread --cap 64 --tasks 1 --seed "$1" "${JDB_COMMON[@]}"; }
jdb_randread_qd32() { "$JDB" bench --file "$FILE" --workload prefetch --batch 10000 --cap "$((PAGES / 4))" --seed "$1" "${JDB_COMMON[@]}"; }
jdb_randread_t32()  { "$JDB" bench --file "$FILE" --workload randread --cap 256 --tasks 32 --seed "$1" "${JDB_COMMON[@]}"; }
jdb_seqread()       { "$JDB" bench --file "$FILE" --workload scan --cap 16 --tasks 1 "${JDB_COMMON[@]}"; }
jdb_seqwrite()      { "$JDB" bench --file "$JDB_WFILE" --workload seqwrite --cap "$PAGES" "${JDB_COMMON[@]}"; }
# The same requests through jdb_fs::File alone (no pool), where there is one: pool ÷ file layer
# (jdb_page's limits example; `jdb bench` has no file-layer-only mode).
file_randread_qd1() { "$EX/limits" "$FILE" file-randread-qd1 --secs "$SECS" --seed "$1"; }
file_seqread()      { "$EX/limits" "$FILE" file-seqread --secs "$SECS"; }
file_randread_t32() { "$EX/limits" "$FILE" file-randread-t32 --secs "$SECS" --seed "$1"; }
# The hit-only runs, --threads 1 (side t1) and 2 (side t2): every operation a hit.
HITS_COMMON=(--pages "$HITS_PAGES" --cap "$HITS_PAGES" --workload uniform --write-ratio 0 --warm
             --duration "${SECS}s" --json)
# CPU time of each (user, system, wall seconds), to see whether both cores were free: on a shared
# machine another process on one core halves --threads 2 and not --threads 1.
cpu_time() {
    local into=$1; shift
    if [ -x /usr/bin/time ]; then /usr/bin/time -o "$into" -f "%U %S %e" "$@"; else "$@"; fi
}
t1_threads() { cpu_time "$OUT/threads.t1.$1.cpu" "$JDB" bench --file "$HITS1" --threads 1 --seed "$1" "${HITS_COMMON[@]}"; }
t2_threads() { cpu_time "$OUT/threads.t2.$1.cpu" "$JDB" bench --file "$HITS2" --threads 2 --seed "$1" "${HITS_COMMON[@]}"; }
# The background writer (#14): zipf, half the operations write, a pool of 10 % of the data;
# without --bgwriter (side wr), with it (bg), and the same workload read only (ro).
BG_COMMON=(--file "$JDB_WFILE" --pages "$PAGES" --cap "$((PAGES / 10))" --workload zipf
           --duration "${SECS}s" --json)
wr_bgwriter() { "$JDB" bench "${BG_COMMON[@]}" --write-ratio 0.5 --seed "$1"; }
bg_bgwriter() { "$JDB" bench "${BG_COMMON[@]}" --write-ratio 0.5 --bgwriter --seed "$1"; }
ro_bgwriter() { "$JDB" bench "${BG_COMMON[@]}" --write-ratio 0 --seed "$1"; }
# The doublewrite area (#14): seqwrite (flush_all of the whole file) with and without it.
plain_doublewrite() { "$JDB" bench --file "$JDB_WFILE" --workload seqwrite --cap "$PAGES" "${JDB_COMMON[@]}"; }
dw_doublewrite()    { "$JDB" bench --file "$JDB_WFILE" --workload seqwrite --cap "$PAGES" --doublewrite "${JDB_COMMON[@]}"; }
# jdb mrc (#15) on the 1,000,000-request trace: every policy, default sizes.
exact_mrc()   { "$JDB" mrc --trace "$MRC_TRACE" --json; }
sampled_mrc() { "$JDB" mrc --trace "$MRC_TRACE" --sample 0.01 --json; }
# ------------------------------------------------------------------------------------------------

echo "load before: $(uptime)" >&2
for round in $(seq 1 "$ROUNDS"); do
    for row in "${ROWS[@]}"; do
        if [ $((round % 2)) = 1 ]; then order="fio jdb file t1 t2 wr bg ro plain dw exact sampled"
        else order="sampled exact dw plain ro bg wr t2 t1 file jdb fio"; fi
        for side in $order; do
            declare -F "${side}_${row}" >/dev/null || continue
            echo "round $round/$ROUNDS: $side $row" >&2
            "${side}_${row}" "$round" >"$OUT/$row.$side.$round.json"
        done
    done
done
echo "load after: $(uptime)" >&2

python3 - "$OUT" "$ROUNDS" "${ROWS[@]}" <<'EOF'
import json, os, statistics, sys
out, rounds, rows = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
metric = {"randread_qd1": "iops", "randread_qd32": "iops", "randread_t32": "iops",
          "seqread": "mib_s", "seqwrite": "mib_s"}
# The field of `jdb bench --json`'s "jdb" run that matches fio's number.
jdb_field = {"randread_qd1": "ops_per_sec", "randread_qd32": "pages_per_sec",
             "randread_t32": "ops_per_sec", "seqread": "read_mib_per_s",
             "seqwrite": "write_mib_per_s"}
target = {"randread_qd1": 0.9, "randread_qd32": 0.7, "randread_t32": 0.9, "seqread": 0.8,
          "seqwrite": 0.8, "threads": 1.8}
fio_job = {
    "randread_qd1": "4 KiB randread QD1",
    "randread_qd32": "4 KiB randread QD32",
    "randread_t32": "4 KiB randread QD32",
    "seqread": "64 KiB seq read QD1",
    "seqwrite": "64 KiB seq write QD1",
}
jdb_job = {
    "randread_qd1": "`randread --cap 64 --tasks 1` (read, misses)",
    "randread_qd32": "`prefetch --batch 10000 --cap PAGES/4` (cold)",
    "randread_t32": "`randread --cap 256 --tasks 32` (read, misses)",
    "seqread": "`scan --cap 16 --tasks 1` (read_group(·, 16), cold)",
    "seqwrite": "`seqwrite --cap PAGES` (flush_all, runs of 16)",
}

def fio_value(path, m):
    job = json.load(open(path))["jobs"][0]
    side = job["write"] if job["write"]["io_bytes"] > 0 else job["read"]
    return side["iops"] if m == "iops" else side["bw"] / 1024.0

def jdb_run(path):
    return json.load(open(path))["jdb"]

def file_value(path, m):
    return json.loads(open(path).read().strip().splitlines()[-1])[m]

own_tables = ("threads", "bgwriter", "doublewrite", "mrc")
if any(row not in own_tables for row in rows):
    print("| workload (fio / jdb) | metric | fio | jdb | jdb ÷ fio | per-round ratios | target "
          "| file layer | jdb ÷ file layer |")
    print("|---|---|---:|---:|---:|---|---:|---:|---:|")
notes = []
hit_notes = []
for row in rows:
    if row in own_tables:
        continue
    m = metric[row]
    f = [fio_value(f"{out}/{row}.fio.{r}.json", m) for r in range(1, rounds + 1)]
    runs = [jdb_run(f"{out}/{row}.jdb.{r}.json") for r in range(1, rounds + 1)]
    j = [run[jdb_field[row]] for run in runs]
    ratio = statistics.median(j) / statistics.median(f)
    per = ", ".join(f"{b / a:.2f}" for a, b in zip(f, j))
    ok = "met" if ratio >= target[row] else "NOT met"
    unit = "IOPS" if m == "iops" else "MiB/s"
    file_cols = "— | —"
    if os.path.exists(f"{out}/{row}.file.1.json"):
        fl = [file_value(f"{out}/{row}.file.{r}.json", m) for r in range(1, rounds + 1)]
        file_cols = (f"{statistics.median(fl):,.0f} | "
                     f"**{statistics.median(j) / statistics.median(fl):.2f}**")
    print(f"| {fio_job[row]} / {jdb_job[row]} | {unit} | {statistics.median(f):,.0f} | "
          f"{statistics.median(j):,.0f} | **{ratio:.2f}** | {per} | ≥ {target[row]} ({ok}) | "
          f"{file_cols} |")
    hits = [run["hit_ratio"] for run in runs if run["hit_ratio"] is not None]
    if hits:
        hit_notes.append(f"{row} {max(hits) * 100:.2f} %")
    if row == "randread_qd32":
        ios = statistics.median(run["read_ios"] / run["secs"] for run in runs)
        notes.append(f"prefetch coalesces adjacent ids: {ios:,.0f} read requests/s "
                     f"({ios / statistics.median(f):.2f} × fio's IOPS) for the pages/s above")
    if row == "randread_t32":
        shared = max(run["shared_reads"] for run in runs)
        notes.append(f"randread --tasks 32: at most {shared:,} of the misses shared another "
                     "task's read; read I/Os = misses - shared reads")
if any(row not in own_tables for row in rows):
    print()
    print(f"Medians of {rounds} interleaved rounds per side; jdb ÷ fio is the ratio of the "
          "medians. The file layer is the same requests through jdb_fs::File without the pool.")
    notes.append("jdb's highest hit ratio over the rounds (0 = every page read from the file): "
                 + ", ".join(hit_notes))
    for n in notes:
        print(f"Note: {n}.")

def sides(row, side):
    return [jdb_run(f"{out}/{row}.{side}.{r}.json") for r in range(1, rounds + 1)]

if "bgwriter" in rows:
    wr, bg, ro = sides("bgwriter", "wr"), sides("bgwriter", "bg"), sides("bgwriter", "ro")
    share = lambda runs: [r["writeback_wait_share"] * 100 for r in runs]
    p99 = lambda runs: [r["miss_latency_us"]["p99"] for r in runs]
    ratio = [b / r for b, r in zip(p99(bg), p99(ro))]
    med = statistics.median
    ok_share = "met" if med(share(bg)) < 1.0 else "NOT met"
    ok_p99 = "met" if med(p99(bg)) / med(p99(ro)) <= 1.5 else "NOT met"
    print()
    print("| `zipf --write-ratio 0.5 --pages PAGES --cap PAGES/10` | without --bgwriter | "
          "--bgwriter | read only (--write-ratio 0) | ratio | per-round | target |")
    print("|---|---:|---:|---:|---:|---|---:|")
    print(f"| misses that waited for a write-back, % | {med(share(wr)):.2f} | "
          f"{med(share(bg)):.2f} | {med(share(ro)):.2f} | — | "
          f"{', '.join(f'{v:.2f}' for v in share(bg))} | < 1 % with --bgwriter ({ok_share}) |")
    print(f"| p99 miss latency, µs | {med(p99(wr)):,.0f} | {med(p99(bg)):,.0f} | "
          f"{med(p99(ro)):,.0f} | **{med(p99(bg)) / med(p99(ro)):.2f}** (bgwriter ÷ read only) | "
          f"{', '.join(f'{v:.2f}' for v in ratio)} | ≤ 1.5 ({ok_p99}) |")
    print(f"| ops/s | {med([r['ops_per_sec'] for r in wr]):,.0f} | "
          f"{med([r['ops_per_sec'] for r in bg]):,.0f} | {med([r['ops_per_sec'] for r in ro]):,.0f} "
          f"| — | — | — |")
    print(f"| bg writer pages | {med([r['bg_pages_written'] for r in wr]):,.0f} | "
          f"{med([r['bg_pages_written'] for r in bg]):,.0f} | "
          f"{med([r['bg_pages_written'] for r in ro]):,.0f} | — | — | — |")
    print(f"| hit ratio, % | {med([r['hit_ratio'] * 100 for r in wr]):.1f} | "
          f"{med([r['hit_ratio'] * 100 for r in bg]):.1f} | "
          f"{med([r['hit_ratio'] * 100 for r in ro]):.1f} | — | — | — |")
    print()
    print(f"Medians of {rounds} interleaved rounds; a miss is an operation whose page was not in "
          "the pool as it began.")

if "doublewrite" in rows:
    plain, dw = sides("doublewrite", "plain"), sides("doublewrite", "dw")
    a = [r["pages_per_sec"] for r in plain]
    b = [r["pages_per_sec"] for r in dw]
    ratio = statistics.median(b) / statistics.median(a)
    ok = "met" if ratio >= 0.45 else "NOT met"
    print()
    print("| workload | metric | without | --doublewrite | dw ÷ without | per-round | target |")
    print("|---|---|---:|---:|---:|---|---:|")
    print(f"| `seqwrite --cap PAGES` (flush_all, runs of 16) | pages/s | "
          f"{statistics.median(a):,.0f} | {statistics.median(b):,.0f} | **{ratio:.2f}** | "
          f"{', '.join(f'{y / x:.2f}' for x, y in zip(a, b))} | ≥ 0.45 ({ok}) |")

if "mrc" in rows:
    def secs(side):
        return [json.load(open(f"{out}/mrc.{side}.{r}.json"))["secs"] for r in range(1, rounds + 1)]
    exact, sampled = secs("exact"), secs("sampled")
    ok = "met" if max(sampled) < 10 else "NOT met"
    print()
    print("| `jdb mrc --trace` of 1,000,000 requests, 4 policies, 12 sizes | exact | "
          "--sample 0.01 | target |")
    print("|---|---:|---:|---:|")
    print(f"| seconds (median; slowest) | {statistics.median(exact):.2f}; {max(exact):.2f} | "
          f"{statistics.median(sampled):.2f}; {max(sampled):.2f} | sampled < 10 s ({ok}) |")

if "threads" in rows:
    t1 = [jdb_run(f"{out}/threads.t1.{r}.json") for r in range(1, rounds + 1)]
    t2 = [jdb_run(f"{out}/threads.t2.{r}.json") for r in range(1, rounds + 1)]
    a = [run["ops_per_sec"] for run in t1]
    b = [run["ops_per_sec"] for run in t2]
    ratio = statistics.median(b) / statistics.median(a)
    per = ", ".join(f"{y / x:.2f}" for x, y in zip(a, b))
    ok = "met" if ratio >= target["threads"] else "NOT met"
    hits = min(run["hit_ratio"] for run in t1 + t2)
    print()
    print("| workload | metric | --threads 1 | --threads 2 | 2 ÷ 1 | per-round ratios | target |")
    print("|---|---|---:|---:|---:|---|---:|")
    print(f"| `uniform --write-ratio 0 --pages 16384 --cap 16384 --warm` (hits) | ops/s | "
          f"{statistics.median(a):,.0f} | {statistics.median(b):,.0f} | **{ratio:.2f}** | {per} | "
          f"≥ {target['threads']} ({ok}) |")
    print()
    print(f"Note: lowest hit ratio of these runs: {hits * 100:.3f} % (--warm reads every page "
          "first; the pools hold the whole data).")
    def cores(side):
        used = []
        for r in range(1, rounds + 1):
            path = f"{out}/threads.{side}.{r}.cpu"
            if os.path.exists(path):
                user, system, wall = map(float, open(path).read().split()[-3:])
                used.append(f"{(user + system) / wall:.2f}")
        return ", ".join(used) or "n/a"
    print(f"Note: cores busy per round, whole process incl. load and warm-up ((user + sys) / "
          f"wall): --threads 1 {cores('t1')}; --threads 2 {cores('t2')} (below ~1.8: another "
          "process held a core).")
    print("Note: each of the 2 threads has half the data and half the pool (8,192 pages), so its "
          "page table and frames are half as large as the one thread's: a hit can be cheaper.")
EOF
