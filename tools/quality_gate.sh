#!/bin/bash
# Out-of-sample quality gate (docs/RESULTS.md): split REAL by 5-tuples into
# halves A and B, train on A only, generate, and score the synthetic trace
# against B. The floor is eval(A, B); the marginals baseline is
# marginals-of-A scored against B. Prints a markdown table.
#
#   tools/quality_gate.sh VKFLOW EXAMPLE REAL ITERATIONS OUTDIR [MODEL]
#   e.g. tools/quality_gate.sh build/vkflow ugr16 ../shared/data/flows_ugr16_netflow_2016-04-11_13hosts.csv 16000 /tmp/qg/ugr16
#
# EXAMPLE names examples/EXAMPLE.cfg, whose data settings (chunks, max_flow_len,
# fields) are kept; its path becomes A, its model MODEL (default
# models/doppelganger_small.cfg), its iterations ITERATIONS, its backend cpu
# (VKFLOW_QG_BACKEND overrides), its seed the example's (VKFLOW_QG_SEED=N runs
# with run.seed = N: the gate's spread from seed to seed, docs/RESULTS.md).
set -euo pipefail
[ $# -ge 5 ] || { sed -n 2,14p "$0"; exit 2; }
V=$(realpath "$1"); ex=$2; real=$(realpath "$3"); it=$4; d=$5
root=$(cd "$(dirname "$0")/.." && pwd)
model=$(realpath "${6:-$root/models/doppelganger_small.cfg}")
backend=${VKFLOW_QG_BACKEND:-cpu}
case "$real" in *.csv) ext=csv ;; *) ext=pcap ;; esac
mkdir -p "$d"
[ -e "$d/run" ] && { echo "$d/run exists; choose another OUTDIR" >&2; exit 1; }
cd "$d"
"$V" baseline split --seed 0 "$real" A.$ext B.$ext > split.log 2>&1
# B is the real side of every eval that is judged (floor, marginals, synthetic):
# a normalised EMD is divided by the real side's p1-p99 range, and the ratio
# to the floor must compare distances, not the ranges of A and B.
"$V" eval B.$ext A.$ext --json floor.json > floor.txt 2>&1
"$V" baseline marginals --seed 0 A.$ext M.$ext > marg.log 2>&1
"$V" eval B.$ext M.$ext --json marg.json > marg.txt 2>&1
sed "s|path = \"[^\"]*\";|path = \"$PWD/A.$ext\";|; s|model = \"[^\"]*\";|model = \"$model\";|;
     s|iterations = [0-9]*;|iterations = $it;|; s|backend = \"[a-z]*\";|backend = \"$backend\";|;
     s|checkpoint_every = [0-9]*;|checkpoint_every = 2000;|" "$root/examples/$ex.cfg" > cfg.cfg
start=$(date +%s.%N)
seed_args=()
[ -n "${VKFLOW_QG_SEED:-}" ] && seed_args=(--set "run.seed=$VKFLOW_QG_SEED")
"$V" run cfg.cfg --out run "${seed_args[@]}" > run.out 2>&1
end=$(date +%s.%N)
"$V" eval B.$ext run/synthetic.$ext --json oos.json > oos.txt 2>&1
echo "run: $(echo "$end - $start" | bc) s wall, $it iterations for chunk 0, backend $backend, seed ${VKFLOW_QG_SEED:-of the example}, model $model"
python3 - <<'PY'
import json
def load(p): return json.load(open(p))
def val(d, m):
    if m in d['jsd']:
        return d['jsd'][m]['nats'] if d['jsd'][m] else None
    v = d['emd'].get(m)
    return v['norm'] if v else None
def f(x): return "n/a" if x is None else "%.3g" % x
floor, marg, oos, ins = load('floor.json'), load('marg.json'), load('oos.json'), load('run/metrics.json')
print("| metric | kind | floor A vs B | marginals(A) vs B | synthetic vs B | syn / floor | within 2x floor | syn < marginals | synthetic vs A (in-sample) |")
print("|---|---|---:|---:|---:|---:|:-:|:-:|---:|")
for group in ('single_attribute', 'single_feature', 'extra'):
    for m in ins['tables'][group]:
        a, b, c, i = val(floor, m), val(marg, m), val(oos, m), val(ins, m)
        kind = 'JSD nats' if m in ins['jsd'] else 'EMD norm'
        r = c / a if (a and c is not None and a > 0) else None
        w = 'n/a' if r is None else ('yes' if r <= 2 else 'no')
        bm = 'n/a' if (b is None or c is None) else ('yes' if c < b else 'no')
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (m, kind, f(a), f(b), f(c), f(r), w, bm, f(i)))
print()
print("records: A %d, B %d, synthetic %d; 5-tuples: B %d, synthetic %d" % (ins['real']['records'],
      oos['real']['records'], oos['synthetic']['records'], oos['real']['five_tuples'], oos['synthetic']['five_tuples']))
print()
# distinct counts: the training half A (floor.json's second side) beside B and the synthetic trace
print("| distinct | A (training half) | B (held out) | synthetic | synthetic vs B | A vs B |")
print("|---|---:|---:|---:|---:|---:|")
for k, name in (('src_addrs', 'source hosts'), ('dst_addrs', 'destination hosts'), ('src_ports', 'source ports'),
                ('dst_ports', 'destination ports'), ('five_tuples', '5-tuples')):
    a, b, s = floor['synthetic'][k], oos['real'][k], oos['synthetic'][k]
    print("| %s | %d | %d | %d | %+.0f%% | %+.0f%% |" % (name, a, b, s, 100.0 * (s - b) / b, 100.0 * (a - b) / b))
PY
