#!/usr/bin/env bash
# Same-run comparison of DoppelGANger training speed (docs/BENCHMARKS.md,
# "GAN training"): two vkflow binaries (e.g. before and after a change) and
# the PyTorch peer in both of its 2-core thread settings, alternated ROUNDS
# times so that load drifts hit all of them alike. Prints every measurement
# with the 1-minute load average, then the median it/s of each.
#
#   tools/bench/compare_train.sh OLD_VKFLOW NEW_VKFLOW [ROUNDS] [ITERS] [MODEL]
#
# OLD_VKFLOW and NEW_VKFLOW are TREE/BUILD/vkflow; MODEL (default
# models/doppelganger.cfg) is read relative to each binary's TREE.
#
# vkflow runs with OPENBLAS_NUM_THREADS=2 (it keeps GEMMs under 64 M
# multiply-adds single-threaded itself). PyTorch runs OMP 2 / BLAS 1 and
# OMP 1 / BLAS 2: both pools at 2 threads fight on 2 cores (DEVELOPERS.md).
set -euo pipefail
old=${1:?old vkflow binary}; new=${2:?new vkflow binary}
rounds=${3:-3}; iters=${4:-10}; model=${5:-models/doppelganger.cfg}
py=/usr/bin/python3
peer="$(dirname "$0")/doppelganger_torch.py"
out=$(mktemp)
load() { cut -d' ' -f1 /proc/loadavg; }
# each binary reads MODEL relative to its own source tree (BIN is TREE/build*/vkflow), so a binary
# built before a model-format change reads the model file of its own time
vk() { (cd "$(dirname "$1")/.." && OPENBLAS_NUM_THREADS=2 "$1" bench train "$model" --backend cpu --iters "$iters") | awk '$1 == "cpu" { print $2 }'; }
torch() { OMP_NUM_THREADS=$1 OPENBLAS_NUM_THREADS=$2 $py "$peer" --iters "$iters" --threads "$1" | sed -n 's/.*: \([0-9.]*\) it\/s.*/\1/p'; }
for r in $(seq 1 "$rounds"); do
  for who in old new torch_omp2_blas1 torch_omp1_blas2; do
    l=$(load)
    case $who in
      old) v=$(vk "$old") ;;
      new) v=$(vk "$new") ;;
      torch_omp2_blas1) v=$(torch 2 1) ;;
      torch_omp1_blas2) v=$(torch 1 2) ;;
    esac
    echo "round $r  $who  $v it/s  (load $l)" | tee -a "$out"
  done
done
echo "medians over $rounds rounds of $iters iterations:"
for who in old new torch_omp2_blas1 torch_omp1_blas2; do
  awk -v w="$who" '$3 == w { print $4 }' "$out" | sort -g | awk -v w="$who" '{ a[NR] = $1 } END { printf "  %-18s %.3f it/s\n", w, (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
done
rm -f "$out"
