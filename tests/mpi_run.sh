#!/usr/bin/env bash
# MPI runs (docs/RUNNING.md, "MPI runs"; registered by tests/CMakeLists.txt
# only in a -DVKFLOW_MPI=ON build):
#   same:   `mpirun -n 3 vkflow run` on a 4-chunk slice of the enterprise capture
#           with tests/models/dg_tiny.cfg writes the same encoder, checkpoints,
#           done markers, synthetic trace and metrics, byte for byte, as one
#           process with the same configuration and seed (cpu backend);
#   resume: a longer run of 3 ranks with rank 1 killed (SIGKILL) while it trains
#           chunk 2, then `mpirun -n 3 vkflow run --resume`, gives the same bytes
#           as one uninterrupted process;
#   idle:   5 ranks for 4 chunks (one rank without a chunk) gives the same bytes.
# usage: mpi_run.sh VKFLOW SOURCE_DIR [same|resume|idle]
# Exit 77 (skipped) without the capture, unless VKFLOW_REQUIRE_SHARED_DATA=1.
set -euo pipefail
vkflow=$1
src=$2
what=${3:-same}

# loopback and shared memory only (../shared/DESIGN.md), root allowed (CI)
export OMPI_MCA_btl=self,vader OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_btl_tcp_if_include=lo
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OPENBLAS_NUM_THREADS=1
mpirun=(mpirun --oversubscribe)

pcap=""
for p in "$src/data/default/real.pcap" "$src/../shared/data/pcap_enterprise_pathspider_real_2012-11-23.pcap"; do
  if [ -s "$p" ]; then pcap=$p; break; fi
done
if [ -z "$pcap" ]; then
  echo "mpi_run: no enterprise capture (data/default/real.pcap: tools/setup-debian.sh)"
  [ "${VKFLOW_SKIP_LOG:-}" ] && echo "mpi_run $what: no enterprise capture" >> "$VKFLOW_SKIP_LOG"
  if [ "${VKFLOW_REQUIRE_SHARED_DATA:-0}" = 1 ]; then exit 1; fi
  exit 77
fi

tmp=$(mktemp -d /tmp/vkflow_mpi_XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
tcpdump -r "$pcap" -c 400 -w slice.pcap 2>/dev/null

# cfg NAME ITERATIONS CHECKPOINT_EVERY
cfg() {
  cat > "$1" <<EOF
data = { path = "slice.pcap"; n_chunks = 4; max_flow_len = 4; };
model = "$src/tests/models/dg_tiny.cfg";
run = { iterations = $2; checkpoint_every = $3; seed = 11; backend = "cpu"; warm_start_fraction = 0.5; };
EOF
}

# same A B: every file two runs must agree on
same() {
  local n=0
  for f in "$1"/encoder.txt "$1"/chunk_*.ckpt "$1"/chunk_*.done "$1"/synthetic.pcap; do
    [ -e "$f" ] || continue
    local g="$2/$(basename "$f")"
    if ! cmp "$f" "$g"; then echo "mpi_run: $f and $g differ" >&2; exit 1; fi
    n=$((n + 1))
  done
  for f in "$2"/chunk_*; do [ -e "$1/$(basename "$f")" ] || { echo "mpi_run: $f only in $2" >&2; exit 1; }; done
  [ -s "$1/synthetic.pcap" ] || { echo "mpi_run: no synthetic.pcap in $1" >&2; exit 1; }
  # metrics.json names the run directory and times the evaluation: all else equal
  norm() { sed -e 's#"name": "[a-z]*/synthetic#"name": "synthetic#' -e '/"seconds"/d' "$1"; }
  if ! diff <(norm "$1/metrics.json") <(norm "$2/metrics.json") > /dev/null; then
    echo "mpi_run: $1/metrics.json and $2/metrics.json differ" >&2; exit 1
  fi
  n=$((n + 1))
  echo "mpi_run: $n files identical in $1 and $2"
}

case "$what" in
same|idle)
  cfg run.cfg 8 3
  "$vkflow" run run.cfg --out one > one.out 2>&1 || { cat one.out; exit 1; }
  k=3; [ "$what" = idle ] && k=5
  "${mpirun[@]}" -n $k "$vkflow" run run.cfg --out many > many.out 2>&1 || { cat many.out; exit 1; }
  cat many.out
  ls many | tr "\n" " "; echo
  same one many
  # rank 0 alone writes run.log: the other ranks' lines are in it, tagged
  grep -q "rank 1: chunk 2/4" many/run.log || { echo "mpi_run: rank 1's lines missing from run.log" >&2; cat many/run.log; exit 1; }
  if [ "$what" = idle ]; then grep -q "5 processes" many/run.log; fi
  ;;
resume)
  cfg run.cfg 4000 50
  "$vkflow" run run.cfg --out one > one.out 2>&1 || { cat one.out; exit 1; }
  "${mpirun[@]}" -n 3 "$vkflow" run run.cfg --out many > many.out 2>&1 &
  runner=$!
  # rank 1 trains chunk 2 (chunk_01): kill it once its first checkpoint is there
  victim=""
  for _ in $(seq 1 6000); do
    if [ -e many/chunk_01.ckpt ] && [ ! -e many/chunk_01.done ]; then
      for p in $(pgrep -P "$runner" || true); do   # the ranks: mpirun's children
        if tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1; then victim=$p; fi
      done
      [ -n "$victim" ] && break
    fi
    if ! kill -0 $runner 2>/dev/null; then break; fi
    sleep 0.01
  done
  [ -n "$victim" ] || { cat many.out; echo "mpi_run: rank 1 was never seen training chunk 2" >&2; exit 1; }
  kill -KILL "$victim"
  if wait $runner; then echo "mpi_run: the run survived killing rank 1" >&2; exit 1; fi
  echo "mpi_run: killed rank 1 (pid $victim); mpirun exited non-zero as it should"
  [ ! -e many/chunk_01.done ] || { echo "mpi_run: chunk 2 finished before the kill" >&2; exit 1; }
  [ ! -e many/synthetic.pcap ] || { echo "mpi_run: the killed run wrote its synthetic trace" >&2; exit 1; }
  ls many | tr "\n" " "; echo
  "${mpirun[@]}" -n 3 "$vkflow" run run.cfg --out many --resume > resume.out 2>&1 || { cat resume.out; exit 1; }
  grep -q "resuming from" many/run.log || { echo "mpi_run: nothing resumed" >&2; cat many/run.log; exit 1; }
  same one many
  ;;
*) echo "mpi_run: unknown case $what" >&2; exit 2 ;;
esac
