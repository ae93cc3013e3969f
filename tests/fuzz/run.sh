#!/bin/sh
# Builds the libFuzzer harnesses against engine/trace and runs each one.
#   tests/fuzz/run.sh [SECONDS]      (default 180 per harness)
# Needs clang (14 on Debian 12) with libFuzzer. Not part of ctest. Seeds come
# from ../shared/data (the first 64 KiB of each real file) plus tiny
# hand-made inputs; crashes land in tests/fuzz/out/ (git-ignored).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-180}
out="$here/out"
mkdir -p "$out/bin" "$out/corpus_pcap" "$out/corpus_csv"
CC=${CC:-clang}
flags="-std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I$root/engine"
srcs="$root/engine/trace/csv.c $root/engine/trace/trace.c $root/engine/trace/pcap_read.c \
      $root/engine/trace/pcap_write.c $root/engine/trace/flows.c $root/engine/core.c"
for h in pcap csv; do
  $CC $flags "$here/fuzz_$h.c" $srcs -lpcap -lm -o "$out/bin/fuzz_$h"
done
data="$root/../shared/data"
if [ -d "$data" ]; then
  for f in "$data"/*.pcap "$data"/*.pcapng; do head -c 65536 "$f" > "$out/corpus_pcap/seed_$(basename "$f")"; done
  for f in "$data"/*.csv; do head -c 65536 "$f" > "$out/corpus_csv/seed_$(basename "$f")"; done
fi
printf 'srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt,type\n1,2,3,4,TCP,5,0.5,1,40,x\n' > "$out/corpus_csv/seed_netshare.csv"
cd "$out"
for h in pcap csv; do
  echo "== fuzz_$h for ${secs}s"
  "$out/bin/fuzz_$h" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 "$out/corpus_$h" 2>&1 | tail -15
done
