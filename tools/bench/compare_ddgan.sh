#!/usr/bin/env bash
# Same-run comparison of diffusion-GAN training speed (docs/BENCHMARKS.md,
# "Diffusion GAN training (issue 10)"): vkflow on models/ddgan_small.cfg and
# its PyTorch peer tools/bench/ddgan_torch.py in both of its 2-core thread
# settings, plus one thread for everything, alternated ROUNDS times so that
# load drifts hit all of them alike. Prints every measurement with the
# 1-minute load average, then the median it/s of each and the ratios.
#
#   tools/bench/compare_ddgan.sh [VKFLOW] [ROUNDS] [ITERS]
#
# VKFLOW (default build/vkflow) is TREE/BUILD/vkflow and reads
# models/ddgan_small.cfg from its TREE; ROUNDS 5, ITERS 200 by default.
#
# vkflow runs with OPENBLAS_NUM_THREADS=2 (it keeps GEMMs under 64 M
# multiply-adds single-threaded itself: all of this model's). PyTorch runs
# OMP 2 / BLAS 1 (torch.set_num_threads(2)) and OMP 1 / BLAS 2: both pools at
# 2 threads fight on 2 cores (DEVELOPERS.md). OMP 1 / BLAS 1 is measured too:
# on a busy 2-core machine a second thread can cost more than it gains. The
# ratio printed is against the peer's best setting of the three.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
vkf=${1:-$here/../../build/vkflow}
rounds=${2:-5}; iters=${3:-200}
vkf=$(cd "$(dirname "$vkf")" && pwd)/$(basename "$vkf")
py=/usr/bin/python3
peer="$here/ddgan_torch.py"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
load() { cut -d' ' -f1 /proc/loadavg; }
vk() { (cd "$(dirname "$vkf")/.." && OPENBLAS_NUM_THREADS=2 "$vkf" bench train models/ddgan_small.cfg --backend cpu --iters "$iters") | awk '$1 == "cpu" { print $2 }'; }
torch() { OMP_NUM_THREADS=$1 OPENBLAS_NUM_THREADS=$2 $py "$peer" --iters "$iters" --threads "$1" | sed -n 's/.*: \([0-9.]*\) it\/s.*/\1/p'; }
who_all="vkflow torch_omp2_blas1 torch_omp1_blas2 torch_omp1_blas1"
for r in $(seq 1 "$rounds"); do
  for who in $who_all; do
    l=$(load)
    case $who in
      vkflow) v=$(vk) ;;
      torch_omp2_blas1) v=$(torch 2 1) ;;
      torch_omp1_blas2) v=$(torch 1 2) ;;
      torch_omp1_blas1) v=$(torch 1 1) ;;
    esac
    echo "round $r  $who  $v it/s  (load $l)" | tee -a "$out"
  done
done
echo "medians over $rounds rounds of $iters iterations (load now $(load)):"
med() { awk -v w="$1" '$3 == w { print $4 }' "$out" | sort -g | awk '{ a[NR] = $1 } END { printf "%.3f", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
for who in $who_all; do printf "  %-18s %s it/s\n" "$who" "$(med "$who")"; done
awk -v v="$(med vkflow)" -v a="$(med torch_omp2_blas1)" -v b="$(med torch_omp1_blas2)" -v c="$(med torch_omp1_blas1)" 'BEGIN {
  q = a > b ? a : b; q = q > c ? q : c
  printf "vkflow / peer (best of the three settings, %.3f it/s): %.2fx\n", q, v / q }'
