#!/usr/bin/env bash
# The privacy-fidelity curve (docs/RESULTS.md, "Privacy"): for each private
# trace and the public trace that stands in for public data, out of sample
# (vkflow run --holdout 0.5):
#   public     the model trained on the public trace (its encoder is reused)
#   non-DP     the same model trained on the private trace without DP (eps = inf)
#   DP eps     DP-SGD at epsilon in EPSILONS, pre-trained on the public run or not
#   DP marg.   vkflow baseline marginals --epsilon at the same epsilon (unit flow)
# and prints one markdown table per trace (NetShare's metrics; lower is better).
#
#   tools/dp_curve.sh OUT [ITERATIONS] [MODEL] [EPSILONS]
#
# ITERATIONS: chunk 0's (default 2000; later chunks a quarter). MODEL default
# models/doppelganger_small.cfg. Needs ../shared/data. Resumable: a finished
# run directory is kept.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?output folder}; iters=${2:-2000}; model=$(realpath "${3:-$here/models/doppelganger_small.cfg}")
epsilons=${4:-"8 4 2 1"}
data=$here/../shared/data
bin=${VKFLOW_BIN:-$here/build/vkflow}   # a frozen copy keeps a long run on one binary
py=/usr/bin/python3
mkdir -p "$out"
out=$(cd "$out" && pwd)
[ -f "$data/pcap_enterprise_pathspider_real_2012-11-23.pcap" ] || { echo "dp_curve: needs ../shared/data" >&2; exit 2; }

# Data descriptions whose encoders carry nothing a private run must not
# learn from its own data (docs/PRIVACY.md): ports and protocol as bits,
# numbers over fixed public ranges. Categorical vocabularies (TCP flags,
# fragment flags, flow labels) and the per-chunk largest gap still come from
# the public run.
pcap_fields='fields = (
    { name = "srcip"; encoding = "bits"; }, { name = "dstip"; encoding = "bits"; },
    { name = "srcport"; encoding = "bits"; }, { name = "dstport"; encoding = "bits"; },
    { name = "proto"; encoding = "bits"; }, { name = "time"; encoding = "interarrival"; },
    { name = "len"; encoding = "minmax"; range = [20, 1500]; }, { name = "tos"; encoding = "minmax"; range = [0, 255]; },
    { name = "ipid"; encoding = "minmax"; range = [0, 65535]; }, { name = "fragflag"; encoding = "onehot"; },
    { name = "fragoff"; encoding = "onehot"; }, { name = "ttl"; encoding = "minmax"; range = [0, 255]; },
    { name = "flags"; encoding = "onehot"; } );'
flow_fields='fields = (
    { name = "srcip"; encoding = "bits"; }, { name = "dstip"; encoding = "bits"; },
    { name = "srcport"; encoding = "bits"; }, { name = "dstport"; encoding = "bits"; },
    { name = "proto"; encoding = "bits"; }, { name = "time"; encoding = "interarrival"; },
    { name = "td"; encoding = "log_minmax"; range = [0, 3600]; },
    { name = "pkt"; encoding = "log_minmax"; range = [1, 1000000]; },
    { name = "byt"; encoding = "log_minmax"; range = [20, 1000000000]; },
    { name = "label"; encoding = "onehot"; } );'

# cfg NAME TRACE MAXLEN FIELDS [PRIVACY]
cfg() {
  cat > "$out/$1.cfg" <<CFG
data = { path = "$2"; n_chunks = 10; max_flow_len = $3; $4 };
model = "$model";
run = { iterations = $iters; warm_start_fraction = 0.25; checkpoint_every = 500; seed = 1; backend = "cpu"; };
${5:-}
CFG
}

run_dir() { # NAME CMD...: runs unless NAME/metrics.json (or chunk done files for train) exists
  local name=$1; shift
  if [ -f "$out/$name/metrics.json" ] || [ -f "$out/$name/chunk_09.done" -a "$1" = train ]; then return; fi
  rm -rf "$out/$name"
  local t0=$(date +%s)
  "$bin" "$@" --out "$out/$name" > "$out/$name.log" 2>&1 || { echo "dp_curve: $name failed (see $out/$name.log)" >&2; return 1; }
  echo "$name: $(( $(date +%s) - t0 )) s (load $(cut -d' ' -f1 /proc/loadavg))" | tee -a "$out/times.txt"
}

pair() { # TAG PRIVATE PUBLIC MAXLEN FIELDS
  local tag=$1 priv=$2 pub=$3 ml=$4 fields=$5
  cfg "$tag.pub" "$pub" "$ml" "$fields"
  cfg "$tag.plain" "$priv" "$ml" "$fields"
  cfg "$tag.dp" "$priv" "$ml" "$fields" "privacy = { epsilon = 4.0; delta = 1e-5; clip = 1.0; public = \"$tag.pub\"; };"
  run_dir "$tag.pub" train "$out/$tag.pub.cfg"
  run_dir "$tag.inf" run "$out/$tag.plain.cfg" --holdout 0.5
  for e in $epsilons; do
    run_dir "$tag.eps$e.pre" run "$out/$tag.dp.cfg" --holdout 0.5 --set privacy.epsilon=$e
    run_dir "$tag.eps$e.nopre" run "$out/$tag.dp.cfg" --holdout 0.5 --set privacy.epsilon=$e --set privacy.pretrained=false
  done
  # DP marginals on a 5-tuple split of the same trace, scored against the other half
  local ext=${priv##*.}; [ "$ext" = pcapng ] && ext=pcap
  [ "$ext" = csv ] || ext=pcap
  "$bin" baseline split --seed 1 "$priv" "$out/$tag.halfA.$ext" "$out/$tag.halfB.$ext" > /dev/null
  for e in $epsilons; do
    if [ ! -f "$out/$tag.marg$e.json" ]; then
      "$bin" baseline marginals --epsilon "$e" --unit flow --flow-records "$ml" --seed 1 "$out/$tag.halfA.$ext" \
        "$out/$tag.marg$e.$ext" > "$out/$tag.marg$e.log" 2>&1
      "$bin" eval "$out/$tag.halfB.$ext" "$out/$tag.marg$e.$ext" --json "$out/$tag.marg$e.json" > /dev/null
    fi
  done
}

pair enterprise "$data/pcap_enterprise_pathspider_real_2012-11-23.pcap" "$data/pcap_caida_equinix-nyc_2018-03-15_10k.pcapng" 10 "$pcap_fields"
pair ugr16 "$data/flows_ugr16_netflow_2016-04-11_13hosts.csv" "$data/flows_iot23_zeekconn_ctu-malware-capture-34-1.csv" 20 "$flow_fields"

"$py" - "$out" "$epsilons" <<'PY'
import json, os, sys
out, eps = sys.argv[1], sys.argv[2].split()
def load(p):
    try: return json.load(open(p))
    except Exception: return None
def row(d):
    if d is None: return None
    r = {k + '.jsd': v['nats'] for k, v in d['jsd'].items() if v.get('nats') is not None}
    r.update({k + '.emd': v['norm'] for k, v in d['emd'].items() if v.get('norm') is not None})
    return r
for tag in ('enterprise', 'ugr16'):
    rows = [('non-DP (eps = inf)', row(load(f'{out}/{tag}.inf/metrics.json')), None)]
    for e in eps:
        m = load(f'{out}/{tag}.eps{e}.pre/metrics.json')
        rows.append((f'DP eps {e}, public pre-training', row(m), m and m.get('epsilon_spent')))
        m = load(f'{out}/{tag}.eps{e}.nopre/metrics.json')
        rows.append((f'DP eps {e}, public encoder only', row(m), m and m.get('epsilon_spent')))
        rows.append((f'DP marginals eps {e}', row(load(f'{out}/{tag}.marg{e}.json')), None))
    keys = [k for k in (rows[0][1] or {}).keys()]
    if not keys: continue
    print(f'\n{tag} (out of sample; JSD nats, EMD normalised; lower is better)\n')
    print('| setting | eps spent | ' + ' | '.join(keys) + ' |')
    print('|---|---|' + '---|' * len(keys))
    for name, r, spent in rows:
        cells = ['' if r is None or r.get(k) is None else f'{r[k]:.4g}' for k in keys]
        print(f'| {name} | {"" if spent is None else f"{spent:.3g}"} | ' + ' | '.join(cells) + ' |')
PY
