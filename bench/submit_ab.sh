#!/usr/bin/env bash
# A/B of jdb_fs's submission in one run: requests handed to the kernel at once (the default)
# against compio's own batching (JDB_FS_SUBMIT=batched), interleaved rounds, beside fio QD32.
#
#   JDB_BENCH_DIR=… ROUNDS=5 SECS=4 bash bench/submit_ab.sh
#
# Needs the files `bench/limits.sh` makes (limits.jdb, limits-jdb-w.jdb in JDB_BENCH_DIR): run it
# once first. Prints one line a round: fio QD32 IOPS; `randread --tasks 32` ops/s at once and
# batched; the same 32 tasks on jdb_fs::File alone; and `zipf --write-ratio 0.5 --bgwriter` p99
# miss latency (µs) / % of misses that waited / kops/s, at once and batched, and read only.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${JDB_BENCH_DIR:-$PWD/target/bench-data}
ROUNDS=${ROUNDS:-5}
SECS=${SECS:-4}
F=$DIR/limits.jdb
W=$DIR/limits-jdb-w.jdb
[ -f "$F" ] && [ -f "$W" ] || { echo "run bench/limits.sh first (no $F or $W)" >&2; exit 1; }
cargo build -q --release -p jdb_cli
cargo build -q --release -p jdb_page --example limits
TARGET=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
J=$TARGET/release/jdb
EX=$TARGET/release/examples/limits
ops() { python3 -c 'import json,sys; print(int(json.load(sys.stdin)["jdb"]["ops_per_sec"]))'; }
bg() { python3 -c 'import json,sys; d=json.load(sys.stdin)["jdb"]; print("%d/%.2f%%/%dk" % (d["miss_latency_us"]["p99"], d["writeback_wait_share"] * 100, d["ops_per_sec"] / 1000))'; }
t32() { "$J" bench --file "$F" --pages 65536 --workload randread --cap 256 --tasks 32 --seed "$1" --duration "${SECS}s" --json | ops; }
file() { "$EX" "$F" file-randread-t32 --secs "$SECS" --seed "$1" 2>/dev/null | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["iops"]))'; }
zipf() { "$J" bench --file "$W" --pages 65536 --cap 6553 --workload zipf --duration "${SECS}s" --json --seed "$@" | bg; }
for r in $(seq 1 "$ROUNDS"); do
    fio=$(fio --name=q --filename="$F" --readonly --rw=randread --bs=4k --iodepth=32 --ioengine=io_uring \
        --direct=1 --runtime="$SECS" --time_based --output-format=json |
        python3 -c 'import json,sys; print(int(json.load(sys.stdin)["jobs"][0]["read"]["iops"]))')
    echo "round $r: fio $fio | t32 at once $(t32 "$r") batched $(JDB_FS_SUBMIT=batched t32 "$r")" \
        "| file at once $(file "$r") batched $(JDB_FS_SUBMIT=batched file "$r")" \
        "| bgwriter at once $(zipf "$r" --write-ratio 0.5 --bgwriter)" \
        "batched $(JDB_FS_SUBMIT=batched zipf "$r" --write-ratio 0.5 --bgwriter)" \
        "| read only $(zipf "$r" --write-ratio 0)"
done
