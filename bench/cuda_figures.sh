#!/bin/bash
# Issue 8's figures and GPU tests in one run on the GPU machine (DEVELOPERS.md): the GPU tests,
# the copy bandwidth, then tg128/pp512 of the 8b synth models at depth 0 and, for Q4_K_M, every
# pair of {f16, q8_0, q4_0} at depth 8192. Everything it prints goes to OUT_DIR.
#   bench/cuda_figures.sh BUNDLE_DIR OUT_DIR [MODEL_DIR]
# BUNDLE_DIR: the unpacked scripts/bundle-gpu folder (strata, backend_cuda_test, ...); models
# are made with `strata synth` in MODEL_DIR (default /tmp) when missing (about 15 s for the three on
# the H100 machine).
set -u
B=$1
OUT=$2
M=${3:-/tmp}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
for t in backend_cuda_test engine_cuda_test; do
  [ -x "$B/$t" ] && timeout 300 "$B/$t" > "$OUT/$t.txt" 2>&1
  echo "$t: $(grep -E '^\[  (PASSED|FAILED) ' "$OUT/$t.txt" 2>/dev/null | tr '\n' ' ')" >> "$OUT/summary.txt"
done
[ -x "$B/bench_cuda_backend" ] && "$B/bench_cuda_backend" --benchmark_filter=BM_Copy > "$OUT/copy.txt" 2>&1
summarize='import json,sys
try:
    rows = json.load(sys.stdin)
except ValueError:
    sys.exit(print(sys.argv[1], "no result (errors.txt says why)"))
for x in rows:
    print("%s %s/%s d%d %s %.1f ± %.1f" % (sys.argv[1], x["type_k"], x["type_v"], x["n_depth"],
          "pp%d" % x["n_prompt"] if x["n_prompt"] else "tg%d" % x["n_gen"], x["avg_ts"], x["stddev_ts"]))'
for q in q4_K_M q8_0 q4_0; do
  f=$M/8b-$q.gguf
  [ -f "$f" ] || "$B/strata" synth --preset 8b --type "$q" -o "$f" -t "$(nproc)" >> "$OUT/synth.txt" 2>&1
  timeout 300 "$B/strata" bench -m "$f" -ngl 99 -fa 1 -p 512 -n 128 -r 2 -o json 2>> "$OUT/errors.txt" |
    python3 -c "$summarize" "$q" >> "$OUT/summary.txt"
done
timeout 400 "$B/strata" bench -m "$M/8b-q4_K_M.gguf" -ngl 99 -fa 1 -p 0 -n 128 -d 8192 -r 1 \
  -ctk f16,q8_0,q4_0 -ctv f16,q8_0,q4_0 -o json 2>> "$OUT/errors.txt" |
  python3 -c "$summarize" q4_K_M >> "$OUT/summary.txt"
cat "$OUT/summary.txt"
