# Shared setup of the abuse scripts (tools/abuse/*.sh): the vkflow binary, a
# small fast run configuration on a slice of the default dataset, and checks
# of the run directory's files that do not use vkflow itself.
#   VKFLOW=path/to/vkflow   (default build/vkflow)
#   ABUSE_PACKETS=N         packets in the slice (default 2000)
#   ABUSE_ITERS=N           chunk 0's iterations (default 40)
root=$(cd "$(dirname "$0")/../.." && pwd)
VKFLOW=${VKFLOW:-$root/build/vkflow}
export OPENBLAS_NUM_THREADS=1   # the cpu backend's bits depend on it: keep it fixed
[ -x "$VKFLOW" ] || { echo "no $VKFLOW: build first (cmake --build build)" >&2; exit 2; }
ABUSE_PACKETS=${ABUSE_PACKETS:-2000}
ABUSE_ITERS=${ABUSE_ITERS:-40}

# The default dataset, or the same bytes from ../shared/data.
abuse_dataset() {
  for f in "$root/data/default/real.pcap" "$root/../shared/data/pcap_enterprise_pathspider_real_2012-11-23.pcap"; do
    [ -f "$f" ] && { echo "$f"; return; }
  done
  echo "no dataset: run tools/setup-debian.sh (data/default/real.pcap)" >&2
  exit 2
}

# abuse_setup DIR: DIR/slice.pcap (the first ABUSE_PACKETS packets of the
# dataset) and DIR/run.cfg (tiny model, cpu, 3 chunks, checkpoint every 2).
abuse_setup() {
  d=$1
  mkdir -p "$d"
  python3 - "$(abuse_dataset)" "$d/slice.pcap" "$ABUSE_PACKETS" <<'PY'
import struct, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(src, 'rb') as f:
    b = f.read()
magic = b[:4]
end = '<' if magic in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1') else '>'
at, k = 24, 0
while k < n and at + 16 <= len(b):
    incl = struct.unpack(end + 'I', b[at + 8:at + 12])[0]
    at += 16 + incl
    k += 1
open(dst, 'wb').write(b[:at])
PY
  cat > "$d/run.cfg" <<CFG
data = { path = "slice.pcap"; n_chunks = 3; max_flow_len = 4; };
model = "$root/tests/models/dg_tiny.cfg";
run = { iterations = $ABUSE_ITERS; checkpoint_every = 2; seed = 7; backend = "cpu"; };
CFG
}

# abuse_check_dir DIR: every finished file of the run directory is whole
# (checksums of checkpoints, encoder.txt and run.state recomputed here;
# synthetic.pcap parsed to its last record; metrics.json parsed; report.html
# ends with </html>). Prints one line per problem; status 1 if any.
abuse_check_dir() {
  python3 - "$1" <<'PY'
import json, os, struct, sys
d = sys.argv[1]
bad = []
if not os.path.isdir(d):
    sys.exit(0)   # killed before the run directory was made: nothing to check
def fnv(b):
    h = 0xcbf29ce484222325
    for x in b:
        h = ((h ^ x) * 0x100000001b3) & 0xffffffffffffffff
    return h
def text_sum(p):
    b = open(p, 'rb').read()
    head = b.split(b'\n', 1)[0]
    if head.endswith(b' 1'):
        return b.endswith(b'end\n')
    if len(b) < 26 or not b[-26:].startswith(b'checksum '):
        return False
    return int(b[-17:-1], 16) == fnv(b[:-26])
for name in sorted(os.listdir(d)):
    p = os.path.join(d, name)
    try:
        if name.endswith('.ckpt'):
            b = open(p, 'rb').read()
            if len(b) < 24 or b[:8] != b'VFCKPT\0\0' or struct.unpack('<Q', b[-8:])[0] != fnv(b[:-8]):
                bad.append(name + ': checksum')
        elif name in ('encoder.txt', 'run.state'):
            if not text_sum(p):
                bad.append(name + ': checksum')
        elif name == 'synthetic.pcap':
            b = open(p, 'rb').read()
            at, n = 24, 0
            while at + 16 <= len(b):
                at += 16 + struct.unpack('<I', b[at + 8:at + 12])[0]
                n += 1
            if at != len(b) or n == 0:
                bad.append(name + ': cut at byte %d of %d' % (at, len(b)))
        elif name == 'metrics.json':
            json.load(open(p))
        elif name == 'report.html':
            if not open(p, 'rb').read().rstrip().endswith(b'</html>'):
                bad.append(name + ': cut')
    except Exception as e:
        bad.append('%s: %s' % (name, e))
for x in bad:
    print(x)
sys.exit(1 if bad else 0)
PY
}
