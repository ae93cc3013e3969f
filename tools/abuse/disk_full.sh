#!/bin/bash
# A full disk and a read-only output folder under `vkflow run` (needs root:
# it mounts small tmpfs file systems under WORKDIR).
#   tools/abuse/disk_full.sh [WORKDIR]        (default /tmp/vkflow_abuse_disk)
# Same small configuration as kill_resume.sh (tools/abuse/common.sh).
#  1. A reference run on an ordinary disk.
#  2. Full disk at a fixed size: the run directory on a tmpfs of SIZE KiB for
#     a range of sizes, so that the space runs out at different writes
#     (encoder.txt, a checkpoint, the synthetic trace, the report). Each must
#     fail with exit status 1 and a message naming the file and "No space
#     left on device", leave every file it kept whole (abuse_check_dir) and no
#     temporary file; then the tmpfs is grown (space is back) and
#     `--resume` must finish with the reference's synthetic.pcap.
#  3. The disk fills during the run: a filler file takes the free space once
#     chunk_00.ckpt, chunk_01.done or chunk_02.done exists;
#     the run must stop at its next write naming the file and the cause, every
#     file kept must be whole (the last good checkpoint included), no
#     temporary file left, and after the filler is removed --resume finishes
#     with the reference's bytes.
#  3b. Only the outputs left: a trained run directory on a tmpfs with a few
#     KiB free, resumed, so that synthetic.pcap, metrics.json or report.html
#     meets the full disk (same checks).
#  4. A read-only output folder: (a) a new run into a read-only tmpfs; (b) a
#     run stopped by SIGTERM, its tmpfs remounted read-only, --resume (must
#     fail naming a file, checkpoints untouched), remounted read-write,
#     --resume finishes with the reference's bytes.
set -u
. "$(dirname "$0")/common.sh"
work=${1:-/tmp/vkflow_abuse_disk}
[ "$(id -u)" = 0 ] || { echo "needs root (mount)" >&2; exit 2; }
for m in $(grep -o "$work/[^ ]*" /proc/mounts | sort -r); do umount "$m" 2>/dev/null; done
rm -rf "$work"
abuse_setup "$work"
cfg="$work/run.cfg"
fails=0
say() { printf '%s\n' "$*"; }
bad() { say "FAIL: $*"; fails=$((fails + 1)); }
temps() { ls -a "$1" 2>/dev/null | grep -c '\.tmp' ; }
run() { "$VKFLOW" run "$cfg" --out "$@" >/dev/null 2>"$work/err"; }
echo "vkflow: $VKFLOW ($(git -C "$root" rev-parse --short HEAD 2>/dev/null)), kernel $(uname -r)"
run "$work/ref" || { cat "$work/err"; exit 1; }
ref="$work/ref/synthetic.pcap"
say "reference: $(du -sk "$work/ref" | cut -f1) KiB in the run directory; files:"
ls -l "$work/ref" | awk 'NR > 1 { printf "  %8d %s\n", $5, $9 }'

# ---- 2. fixed sizes
say ""
say "== full disk at a fixed size"
for kib in ${ABUSE_SIZES:-16 48 96 160 256 384 512 560 608 640 768 800 832 864 896 1024}; do
  mnt="$work/full_$kib"
  mkdir -p "$mnt"
  mount -t tmpfs -o size=${kib}k tmpfs "$mnt" || { bad "mount"; continue; }
  d="$mnt/run"
  run "$d"; rc=$?
  msg=$(grep -v '^\[' "$work/err" | head -1)
  if [ $rc = 0 ]; then
    say "$kib KiB: the run fit (exit 0)"
  else
    ok=yes
    [ $rc = 1 ] || ok="exit $rc"
    echo "$msg" | grep -q "No space left on device" || ok="message without the cause"
    echo "$msg" | grep -q "$mnt/run/" || ok="message names no file"
    chk=$(abuse_check_dir "$d" 2>&1) || ok="damaged: $chk"
    t=$(temps "$d"); [ "$t" = 0 ] || ok="$t temporary files left"
    ckpts=$(ls "$d" 2>/dev/null | grep -c 'ckpt$')
    mount -o remount,size=64m "$mnt"
    run "$d" --resume; rc2=$?
    cmp -s "$ref" "$d/synthetic.pcap" && same=identical || same=DIFFERENT
    [ $rc2 = 0 ] && [ $same = identical ] || ok="resume exit $rc2, synthetic.pcap $same"
    say "$kib KiB: exit $rc, $ckpts checkpoints kept, files whole, message: ${msg#vkflow run: }"
    say "        space back: resume exit $rc2, synthetic.pcap $same to the reference -> $ok"
    [ "$ok" = yes ] || bad "$kib KiB: $ok"
  fi
  umount "$mnt"
done

# ---- 3. the disk fills during the run
# fill_when TRIGGER WHAT: a filler file takes the free space as soon as
# TRIGGER exists in the run directory; the message must name a file and the
# cause, every kept file must be whole, no temporary file left; after the
# filler is removed --resume must finish with the reference's bytes.
fill_when() {
  trigger=$1 what=$2
  mnt="$work/fill_$trigger"; mkdir -p "$mnt"
  mount -t tmpfs -o size=4m tmpfs "$mnt"
  d="$mnt/run"
  "$VKFLOW" run "$cfg" --out "$d" >/dev/null 2>"$work/err" &
  pid=$!
  while kill -0 $pid 2>/dev/null && [ ! -f "$d/$trigger" ]; do sleep 0.002; done
  dd if=/dev/zero of="$mnt/filler" bs=4k 2>/dev/null
  wait $pid; rc=$?
  msg=$(grep -v '^\[' "$work/err" | head -1)
  chk=$(abuse_check_dir "$d" 2>&1); whole=$?
  say "$what (filler written when $trigger appeared): exit $rc; message: ${msg#vkflow run: }"
  say "    kept: $(cd "$d" && ls *.ckpt synthetic.pcap metrics.json report.html 2>/dev/null | tr '\n' ' ')(all whole: $([ $whole = 0 ] && echo yes || echo "NO: $chk")), temporary files: $(temps "$d")"
  [ $rc = 1 ] && [ $whole = 0 ] && [ "$(temps "$d")" = 0 ] && echo "$msg" | grep -q "No space left" \
    && echo "$msg" | grep -q "$d/" || bad "disk filling: $what"
  rm -f "$mnt/filler"
  run "$d" --resume; rc2=$?
  cmp -s "$ref" "$d/synthetic.pcap" && same=identical || same=DIFFERENT
  say "    filler removed: resume exit $rc2, synthetic.pcap $same to the reference"
  [ $rc2 = 0 ] && [ $same = identical ] || bad "resume after the disk filled: $what"
  umount "$mnt"
}
say ""
say "== the disk fills during the run"
fill_when chunk_00.ckpt "in training (chunk 1)"
fill_when chunk_01.done "in training (chunk 3)"
fill_when chunk_02.done "after training"

# ---- 3b. only the outputs left to write: a trained run directory (the
# reference's without synthetic.pcap, metrics.json, report.html) on a tmpfs
# with EXTRA KiB free, resumed: the outputs' writes meet the full disk
say ""
say "== full disk when only the outputs are left"
for extra in ${ABUSE_EXTRA:-24 56 64 72 96}; do
  mnt="$work/out_$extra"; mkdir -p "$mnt"
  used=$(du -sk --exclude=synthetic.pcap --exclude=metrics.json --exclude=report.html "$work/ref" | cut -f1)
  mount -t tmpfs -o size=$((used + extra))k tmpfs "$mnt"
  d="$mnt/run"; mkdir -p "$d"
  (cd "$work/ref" && cp -p $(ls | grep -v -e '^synthetic.pcap$' -e '^metrics.json$' -e '^report.html$') "$d/")
  run "$d" --resume; rc=$?
  msg=$(grep -v '^\[' "$work/err" | head -1)
  chk=$(abuse_check_dir "$d" 2>&1); whole=$?
  say "$extra KiB free: exit $rc; message: ${msg#vkflow run: }"
  say "    kept: $(cd "$d" && ls synthetic.pcap metrics.json report.html 2>/dev/null | tr '\n' ' ')(whole: $([ $whole = 0 ] && echo yes || echo "NO: $chk")), temporary files: $(temps "$d")"
  if [ $rc != 0 ]; then
    [ $rc = 1 ] && [ $whole = 0 ] && [ "$(temps "$d")" = 0 ] && echo "$msg" | grep -q "No space left" \
      && echo "$msg" | grep -q "$d/" || bad "outputs, $extra KiB free"
    mount -o remount,size=64m "$mnt"
    run "$d" --resume; rc2=$?
    cmp -s "$ref" "$d/synthetic.pcap" && same=identical || same=DIFFERENT
    say "    space back: resume exit $rc2, synthetic.pcap $same to the reference"
    [ $rc2 = 0 ] && [ $same = identical ] || bad "resume after outputs, $extra KiB free"
  fi
  umount "$mnt"
done

# ---- 4. read-only
say ""
say "== read-only output folder"
mnt="$work/ro"; mkdir -p "$mnt"
mount -t tmpfs -o size=16m tmpfs "$mnt"
mkdir -p "$mnt/new"
mount -o remount,ro "$mnt"
run "$mnt/new"; rc=$?
msg=$(grep -v '^\[' "$work/err" | head -1)
say "(a) new run into a read-only folder: exit $rc; message: ${msg#vkflow run: }"
[ $rc = 1 ] && echo "$msg" | grep -q "Read-only file system" && echo "$msg" | grep -q "$mnt/new/" || bad "read-only new run"
mount -o remount,rw "$mnt"
d="$mnt/run"
"$VKFLOW" run "$cfg" --out "$d" >/dev/null 2>"$work/err" &
pid=$!
while kill -0 $pid 2>/dev/null && [ ! -f "$d/chunk_01.ckpt" ]; do sleep 0.01; done
kill -TERM $pid; wait $pid; rc=$?
before=$(cd "$d" && sha256sum *.ckpt encoder.txt run.state | sha256sum)
mount -o remount,ro "$mnt"
run "$d" --resume; rc2=$?
msg=$(grep -v '^\[' "$work/err" | head -1)
after=$(cd "$d" && sha256sum *.ckpt encoder.txt run.state | sha256sum)
say "(b) stopped by SIGTERM (exit $rc), folder made read-only, --resume: exit $rc2; message: ${msg#vkflow run: }"
say "    checkpoints, encoder.txt, run.state unchanged: $([ "$before" = "$after" ] && echo yes || echo NO)"
[ $rc2 = 1 ] && [ "$before" = "$after" ] && echo "$msg" | grep -q "Read-only file system" || bad "read-only resume"
mount -o remount,rw "$mnt"
run "$d" --resume; rc3=$?
cmp -s "$ref" "$d/synthetic.pcap" && same=identical || same=DIFFERENT
say "    read-write again: resume exit $rc3, synthetic.pcap $same to the reference"
[ $rc3 = 0 ] && [ $same = identical ] || bad "resume after read-only"
umount "$mnt"
say ""
say "failures: $fails"
exit $((fails > 0))
