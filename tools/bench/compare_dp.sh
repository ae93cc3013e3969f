#!/usr/bin/env bash
# Same-run cost of DP-SGD (docs/BENCHMARKS.md, "DP-SGD"): one vkflow binary
# training MODEL with and without --privacy (noise multiplier 1, clip 1),
# alternated ROUNDS times on one backend so that load drifts hit both alike.
# Prints every measurement with the 1-minute load average, then the median
# it/s of each and their ratio.
#
#   tools/bench/compare_dp.sh VKFLOW [ROUNDS] [ITERS] [MODEL] [BACKEND]
#
# BACKEND is cpu (default) or vk (lavapipe here; a GPU where there is one).
set -euo pipefail
bin=${1:?vkflow binary}; rounds=${2:-5}; iters=${3:-30}; model=${4:-models/doppelganger_small.cfg}
backend=${5:-cpu}
out=$(mktemp)
load() { cut -d' ' -f1 /proc/loadavg; }
run() { OPENBLAS_NUM_THREADS=2 "$bin" bench train "$model" --backend "$backend" --iters "$iters" "$@" |
        awk -v b="$backend" '$1 == b { print $2 }'; }
for r in $(seq 1 "$rounds"); do
  for who in plain dp; do
    l=$(load)
    if [ "$who" = plain ]; then v=$(run); else v=$(run --privacy 1.0 --clip 1.0); fi
    echo "round $r  $who  $v it/s  (load $l)" | tee -a "$out"
  done
done
med() { grep " $1 " "$out" | awk '{ print $4 }' | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
p=$(med plain); d=$(med dp)
echo "medians over $rounds rounds of $iters iterations ($model, $backend): plain $p it/s, dp $d it/s, dp costs $(awk -v p="$p" -v d="$d" 'BEGIN { printf "%.2f", p / d }')x"
rm -f "$out"
