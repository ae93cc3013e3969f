#!/usr/bin/env bash
# The seed report's experiment (../shared/seed/000_b0157855bd9359d5.txt, section 7): the first
# 1,000 flows (5-tuples) of UGR'16 with examples/ugr16.cfg's chunks and fields, each given model in
# place of the configuration's, scored
#   1. in sample (against the training trace, as the seed and NetShare report), with the seed's
#      published numbers (docs/seed_reference.csv) beside ours, and
#   2. out of sample (--holdout: trained on split half A, scored against B), with ratios to the
#      split floor eval(A, B).
# Prints the two markdown tables (DIR/in_sample/compare.md, DIR/holdout/compare.md); every run
# directory, compare.json and compare.html stay in DIR. Rerunning reuses finished runs.
#
#   tools/seed_compare.sh VKFLOW OUTDIR MODEL.cfg[,MODEL.cfg...] [ITERATIONS] [TRACE]
#   e.g. tools/seed_compare.sh build/vkflow /tmp/seed models/doppelganger_small.cfg 2000
# ITERATIONS: chunk 0's (run.iterations; the others get the warm-start share); default the
# configuration's. TRACE: default ../shared/data/flows_ugr16_netflow_2016-04-11_13hosts.csv.
set -euo pipefail
[ $# -ge 3 ] || { sed -n '2,16p' "$0" >&2; exit 2; }
V=$(realpath "$1"); d=$2; models=$3; it=${4:-}; root=$(cd "$(dirname "$0")/.." && pwd)
trace=${5:-$root/../shared/data/flows_ugr16_netflow_2016-04-11_13hosts.csv}
[ -r "$trace" ] || { echo "seed_compare.sh: $trace: not readable (the shared UGR'16 trace)" >&2; exit 1; }
mkdir -p "$d"
# ugr16.cfg with the trace given here (its own data path is relative to examples/); cpu unless
# VKFLOW_SEED_BACKEND says otherwise
sed "s|path = \"[^\"]*\";|path = \"$(realpath "$trace")\";|; s|backend = \"[a-z]*\";|backend = \"${VKFLOW_SEED_BACKEND:-cpu}\";|" \
    "$root/examples/ugr16.cfg" > "$d/ugr16_seed.cfg"
common=(--models "$models" --flows 1000 --reference "$root/docs/seed_reference.csv")
[ -n "$it" ] && common+=(--iterations "$it")
status=0
"$V" compare "$d/ugr16_seed.cfg" "${common[@]}" --out "$d/in_sample" > "$d/in_sample.txt" || status=$?
"$V" compare "$d/ugr16_seed.cfg" "${common[@]}" --out "$d/holdout" --holdout > "$d/holdout.txt" || status=$?
for part in in_sample holdout; do
    echo
    echo "### ${part/_/ }: the first 1,000 flows of $(basename "$trace")"
    echo
    cat "$d/$part/compare.md" 2>/dev/null || echo "(no table: see $d/$part.txt)"
done
exit $status
