#!/bin/bash
# The L2 prefetch sweep of docs/benchmarks.md (CUDA, ninth and tenth sessions): tg128 of the 8b
# synth models with STRATA_CUDA_L2_PREFETCH_MB = 0 (off), 4 to 64, sector and bulk prefetches, on
# a side branch of the step graph or in its chain (STRATA_CUDA_L2_PREFETCH_CHAIN=1), two
# interleaved rounds; then depth 8192 with and without. Run on the GPU machine:
#   bench/cuda_l2_prefetch.sh STRATA_BINARY OUT_DIR [MODEL_DIR]
# Models are made with `strata synth` in MODEL_DIR (default /tmp) when missing.
set -u
S=$1
OUT=$2
M=${3:-/tmp}
mkdir -p "$OUT"
bench() {  # MB BULK CHAIN MODEL: one line "MB BULK CHAIN model t/s stdev"
  STRATA_CUDA_L2_PREFETCH_MB=$1 STRATA_CUDA_L2_PREFETCH_BULK=$2 STRATA_CUDA_L2_PREFETCH_CHAIN=$3 timeout 120 "$S" \
    bench -m "$4" -ngl 99 -fa 1 -p 0 -n 128 -r 3 -o json 2>>"$OUT/errors.txt" |
    python3 -c "import json,sys; r=json.load(sys.stdin); print('$1 $2 $3 $(basename "$4")', *('%.1f %.1f' % (x['avg_ts'], x['stddev_ts']) for x in r))" \
      >>"$OUT/l2_prefetch.txt"
}
for q in q4_K_M q4_0 q8_0; do
  f=$M/8b-$q.gguf
  [ -f "$f" ] || "$S" synth --preset 8b --type "$q" -o "$f" -t "$(nproc)" >>"$OUT/synth.txt" 2>&1
  configs=("0 0 0" "1 0 0" "1 0 1" "4 0 1" "8 0 1" "16 0 1" "32 0 1" "8 1 1" "16 1 1")
  [ "$q" = q4_K_M ] || configs=("0 0 0" "16 0 1")
  for round in 1 2; do
    for c in "${configs[@]}"; do bench $c "$f"; done
  done
done
for mb in 0 16; do
  STRATA_CUDA_L2_PREFETCH_MB=$mb STRATA_CUDA_L2_PREFETCH_CHAIN=1 timeout 300 "$S" bench -m "$M/8b-q4_K_M.gguf" -ngl 99 -fa 1 -p 0 -n 128 -d 8192 \
    -ctk f16,q8_0 -ctv f16,q4_0 -r 2 -o json 2>>"$OUT/errors.txt" |
    python3 -c "import json,sys; r=json.load(sys.stdin); print('d8192 $mb', *('%s/%s %.1f' % (x['type_k'], x['type_v'], x['avg_ts']) for x in r))" \
      >>"$OUT/l2_prefetch.txt"
done
