#!/bin/bash
# Instructions per hit of a pool row in criterion's own `hit_path` binary (its loop is compiled
# differently from `examples/hit_profile.rs`'s: BENCHMARKS.md, session 11). Runs the row under
# callgrind for 2 s of criterion's profile mode; the hits are the count of the hit's latch test
# (`cmp $0x10030000`, an exclusive marked hit), the instructions those within 2 KB of it that
# ran at least 0.3 x as often.
#
#   cargo bench -p jdb_page --bench hit_path --no-run
#   bash bench/criterion_callgrind.sh get_sieve      # or get_lru, get_clock, get_s3fifo
#   B=/path/to/other/hit_path-binary bash bench/criterion_callgrind.sh get_sieve
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-$(ls -t "$root"/target/release/deps/hit_path-* | grep -v '\.d$' | head -1)}
cd "$root/jdb_page"
valgrind --tool=callgrind --dump-instr=yes --compress-pos=no --compress-strings=no --callgrind-out-file=/tmp/criterion_callgrind.$1 $B --bench --profile-time 2 "hit_path/$1/zipf\$" >/dev/null 2>&1
case $1 in
hashmap*) key='movabs \$0xf1357aea2e62a9c5' ;;
*) key='cmp    \$0x10030000' ;;
esac
objdump -d --no-show-raw-insn $B | grep "$key" | awk '{print $1}' | tr -d ':' > /tmp/criterion_callgrind.cmp
python3 - /tmp/criterion_callgrind.$1 $1 <<'PY'
import re,sys
cnt={}
for line in open(sys.argv[1]):
    m=re.match(r'^(0x[0-9a-f]+) (\d+) (\d+)',line)
    if m:
        a=int(m.group(1),16); cnt[a]=cnt.get(a,0)+int(m.group(3))
addrs=[int(x,16) for x in open('/tmp/criterion_callgrind.cmp').read().split()]
hits=max(cnt.get(a,0) for a in addrs)
a0=[a for a in addrs if cnt.get(a,0)==hits][0]
near=[c for a,c in cnt.items() if abs(a-a0)<2000 and c>=0.3*hits]
print(sys.argv[2], "hits %d"%hits, "instr/hit %.1f"%(sum(near)/hits))
PY
