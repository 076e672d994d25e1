#!/usr/bin/env python3
"""Per-instruction counts of a callgrind run, in address order, with their source lines:

    valgrind --tool=callgrind --dump-instr=yes --compress-pos=no --compress-strings=no \
        --callgrind-out-file=OUT --toggle-collect="*row_hits*" target/release/examples/hit_profile get_sieve zipf
    python3 bench/hotasm.py OUT target/release/examples/hit_profile 900000   # instructions run >= 0.9 M times
"""
import re,subprocess,sys
out,binary,thr=sys.argv[1],sys.argv[2],int(sys.argv[3])
cnt={}
for line in open(out):
    m=re.match(r'^(0x[0-9a-f]+) (\d+) (\d+)',line)
    if m:
        a=int(m.group(1),16); c=int(m.group(3))
        cnt[a]=cnt.get(a,0)+c
hot=sorted(a for a,c in cnt.items() if c>=thr)
print(len(hot), "hot instrs", sum(cnt[a] for a in hot)/1e6)
lo,hi=min(hot),max(hot)
dis=subprocess.run(['objdump','-d','-l','--no-show-raw-insn','-C',binary,f'--start-address={lo}',f'--stop-address={hi+16}'],capture_output=True,text=True).stdout
src=''
for l in dis.splitlines():
    if l.startswith('/'): src=l.split('/')[-1]; continue
    m=re.match(r'^\s+([0-9a-f]+):\s+(.*)',l)
    if m:
        a=int(m.group(1),16)
        if cnt.get(a,0)>=thr: print(f"{cnt[a]//1000:6d}k {a:x} {m.group(2):50s} {src}")
