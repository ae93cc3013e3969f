#!/bin/bash
# Builds the libFuzzer harnesses (clang, ASan + UBSan, the whole engine
# instrumented, in build-fuzz/) and runs each one.
#   tests/fuzz/run.sh [SECONDS [TARGET...]]   (default 180 s each; targets:
#                                             pcap csv model runcfg ckpt)
#   FUZZ_PARALLEL=1 nice -n 10 tests/fuzz/run.sh 900   runs the targets at once
#   FUZZ_BUILD=0 ...                          skips the (re)build
#   FUZZ_KEEP_GOING=1 ...                     fork mode: a finding is saved, fuzzing goes on
# Needs clang (14 on Debian 12) with libFuzzer. Not part of ctest. Each target
# starts from its committed corpus tests/fuzz/corpus/<target>/ plus, for pcap
# and csv, the first 64 KiB of each file in ../shared/data when present.
# Crashes (crash-*, leak-*, timeout-*) and the grown corpus go to
# tests/fuzz/out/ (git-ignored); a target's log is out/<target>.log.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-180}
[ $# -gt 0 ] && shift
targets=${*:-pcap csv model runcfg ckpt}
out="$here/out"
bld="$root/build-fuzz"
mkdir -p "$out"
if [ "${FUZZ_BUILD:-1}" != 0 ]; then
  CC=${CC:-clang} CXX=${CXX:-clang++} cmake -S "$root" -B "$bld" -DVKFLOW_FUZZ=ON -DVKFLOW_TESTS=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" >/dev/null
  for h in $targets; do cmake --build "$bld" -j2 --target "fuzz_$h"; done
fi
for h in $targets; do
  mkdir -p "$out/corpus_$h"
  [ -d "$here/corpus/$h" ] && cp -n "$here/corpus/$h"/* "$out/corpus_$h/" 2>/dev/null || true
done
data="$root/../shared/data"
if [ -d "$data" ]; then
  for f in "$data"/*.pcap "$data"/*.pcapng; do
    [ -f "$f" ] && [ -d "$out/corpus_pcap" ] && head -c 65536 "$f" > "$out/corpus_pcap/seed_$(basename "$f")"
  done
  for f in "$data"/*.csv; do
    [ -f "$f" ] && [ -d "$out/corpus_csv" ] && head -c 65536 "$f" > "$out/corpus_csv/seed_$(basename "$f")"
  done
fi
export VKFLOW_SOURCE_DIR="$root" OPENBLAS_NUM_THREADS=1 LSAN_OPTIONS="suppressions=$here/lsan.supp"
# FUZZ_KEEP_GOING=1: libFuzzer's fork mode, which records a crash, leak or
# timeout in artifacts_<target>/ and goes on (for long unattended runs)
keep=""
[ "${FUZZ_KEEP_GOING:-0}" = 1 ] && keep="-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1"
run_one() {
  h=$1
  echo "== fuzz_$h for ${secs}s (log: $out/$h.log)"
  mkdir -p "$out/artifacts_$h"
  # CPU seconds (user + sys) of the fuzzer go to out/<target>.cpu
  TIMEFORMAT="fuzz_$h: wall %R s, cpu %U s user + %S s sys"
  { time (cd "$out" && "$bld/tests/fuzz/fuzz_$h" -max_total_time="$secs" -max_len=65536 -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 $keep -artifact_prefix="$out/artifacts_$h/" "$out/corpus_$h" \
      >"$out/$h.log" 2>&1 || echo "fuzz_$h: stopped with a finding, see $out/$h.log and $out/artifacts_$h/"); } \
      2>"$out/$h.cpu"
  cat "$out/$h.cpu"
  tail -12 "$out/$h.log"
}
if [ "${FUZZ_PARALLEL:-0}" = 1 ]; then
  pids=""
  for h in $targets; do run_one "$h" > "$out/$h.summary" 2>&1 & pids="$pids $!"; done
  for p in $pids; do wait "$p" || true; done
  for h in $targets; do cat "$out/$h.summary"; done
else
  for h in $targets; do run_one "$h"; done
fi
