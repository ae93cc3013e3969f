#!/bin/bash
# Truncated and bit-flipped run-directory files under the vkflow command line:
# each of chunk_NN.ckpt, encoder.txt and run.state, cut in half or with one
# bit flipped, in a copy of a finished run; `vkflow run --resume` and
# `vkflow generate` must fail (exit 1) with a message naming the file.
#   tools/abuse/damaged_files.sh [WORKDIR]     (default /tmp/vkflow_abuse_damaged)
set -u
. "$(dirname "$0")/common.sh"
work=${1:-/tmp/vkflow_abuse_damaged}
rm -rf "$work"
abuse_setup "$work"
cfg="$work/run.cfg"
"$VKFLOW" run "$cfg" --out "$work/ref" >/dev/null 2>&1 || { echo "reference run failed"; exit 1; }
fails=0
for f in chunk_01.ckpt encoder.txt run.state; do
  for how in cut flip; do
    d="$work/${f}_$how"
    cp -r "$work/ref" "$d"
    n=$(stat -c %s "$d/$f")
    if [ $how = cut ]; then
      truncate -s $((n / 2)) "$d/$f"
    else
      python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[len(b)//3]^=4; open(p,'wb').write(b)" "$d/$f"
    fi
    for cmd in resume generate; do
      if [ $cmd = resume ]; then
        "$VKFLOW" run "$cfg" --out "$d" --resume >/dev/null 2>"$work/err"; rc=$?
      else
        "$VKFLOW" generate "$d" --out "$work/g.pcap" >/dev/null 2>"$work/err"; rc=$?
      fi
      msg=$(grep -v '^\[' "$work/err" | grep -v '^(the log' | head -1)
      ok=yes
      [ $rc = 1 ] || ok="exit $rc"
      echo "$msg" | grep -q "$d/$f" || ok="the message does not name $f"
      [ "$ok" = yes ] || fails=$((fails + 1))
      printf '%-14s %-4s %-8s exit %d  %s  [%s]\n' "$f" "$how" "$cmd" "$rc" "${msg/$work/WORK}" "$ok"
    done
  done
done
echo "failures: $fails"
exit $((fails > 0))
