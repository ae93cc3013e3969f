#!/bin/bash
# kill -9 at random moments during `vkflow run`, each followed by
# `vkflow run ... --resume` until the run finishes; then Ctrl-C and SIGTERM.
#   tools/abuse/kill_resume.sh [KILLS] [WORKDIR]      (default 60, /tmp/vkflow_abuse_kill)
# Needs build/vkflow (or VKFLOW=...), python3, the default dataset.
#
# 1. A reference run, uninterrupted, with every stderr line time-stamped: its
#    phases' durations (start-up, training, generation + writing, evaluation +
#    report) are printed.
# 2. Trials: a fresh run directory, launched and relaunched with --resume.
#    Each launch gets a kill -9 at a time drawn uniformly over the reference
#    run's length (35% of launches); in training, 0..10 ms after the K-th new
#    checkpoint of the launch, K uniform in 1..30 (30%, while a chunk is left
#    to train; else uniform over the run); or as soon as a temporary file of
#    an atomic write appears (a checkpoint being written, 20%; the synthetic
#    trace or the report, 15%; report.html is open from the start of the
#    evaluation, its plots drawn by gnuplot, to its end). A launch that
#    finishes before its kill time is not killed. After every kill the run directory is
#    checked (abuse_check_dir: checksums, whole pcap, JSON); a resume that
#    fails (exit status not 0 and not our kill) is a failure. A trial ends
#    when a launch finishes; its synthetic.pcap must equal the reference's
#    byte for byte. Trials continue until KILLS kills have landed.
#    Where a kill landed is read from the launch's last stderr message and
#    the temporary files left behind.
# 3. Ctrl-C (SIGINT) and SIGTERM in training: exit status 130 / 143, the
#    message naming the signal and the resume command, a whole checkpoint,
#    and a resume that finishes with the reference's bytes.
# Prints a summary; exit status 0 when nothing failed.
set -u
. "$(dirname "$0")/common.sh"
KILLS=${1:-60}
work=${2:-/tmp/vkflow_abuse_kill}
rm -rf "$work"
abuse_setup "$work"
echo "vkflow: $VKFLOW ($(git -C "$root" rev-parse --short HEAD 2>/dev/null))"
echo "slice: $ABUSE_PACKETS packets, run.cfg:"; sed 's/^/  /' "$work/run.cfg"
export ABUSE_WORK=$work ABUSE_KILLS=$KILLS ABUSE_VKFLOW=$VKFLOW ABUSE_COMMON="$(dirname "$0")/common.sh"
python3 - <<'PY'
import os, random, signal, subprocess, sys, time
work, kills_wanted, vk = os.environ['ABUSE_WORK'], int(os.environ['ABUSE_KILLS']), os.environ['ABUSE_VKFLOW']
cfg = os.path.join(work, 'run.cfg')
common = os.environ['ABUSE_COMMON']

def check_dir(d):
    r = subprocess.run(['bash', '-c', '. "$0"; abuse_check_dir "$1"', common, d], capture_output=True, text=True)
    return r.returncode == 0, (r.stdout + r.stderr).strip()

def launch(d, resume):
    args = [vk, 'run', cfg, '--out', d] + (['--resume'] if resume else [])
    err = open(os.path.join(d + '.stderr'), 'ab')
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), err

def pump(p, err, lines, t0, until=None, watch=None):
    """Reads stderr lines (time-stamped) until the process ends, or until the
    time `until` or a temp file matching `watch` appears: returns True then."""
    os.set_blocking(p.stderr.fileno(), False)
    buf = b''
    while True:
        try:
            chunk = p.stderr.read()
        except BlockingIOError:
            chunk = None
        if chunk:
            buf += chunk
            *full, buf = buf.split(b'\n')
            now = time.monotonic() - t0
            for l in full:
                lines.append((now, l.decode(errors='replace')))
                err.write(l + b'\n')
        if p.poll() is not None:
            rest = p.stderr.read() or b''
            for l in (buf + rest).split(b'\n'):
                if l:
                    lines.append((time.monotonic() - t0, l.decode(errors='replace')))
                    err.write(l + b'\n')
            return False
        now = time.monotonic() - t0
        if until is not None and now >= until:
            return True
        if callable(watch):
            if watch():
                return True
            time.sleep(0.0005)
        elif watch is not None:
            try:
                names = os.listdir(watch[0])
            except FileNotFoundError:
                names = []
            if any(any(w in n for w in watch[1]) for n in names):
                return True
            time.sleep(0.0002)
        else:
            time.sleep(0.002)

# ---- 1. reference run
ref = os.path.join(work, 'ref')
t0 = time.monotonic()
p, err = launch(ref, False)
lines = []
pump(p, err, lines, t0)
total = time.monotonic() - t0
if p.returncode != 0:
    print('reference run failed:', '\n'.join(l for _, l in lines)); sys.exit(1)
ok, why = check_dir(ref)
if not ok:
    print('reference run directory damaged:', why); sys.exit(1)
ref_pcap = open(os.path.join(ref, 'synthetic.pcap'), 'rb').read()
def first(prefix):
    return next((t for t, l in lines if l.startswith(prefix)), None)
t_train = first('[train] backend')
t_gen = first('[generate]')
t_write = next((t for t, l in lines if l.startswith('[generate]') and 'after the merge' in l), None)
t_eval = first('[write]')
print('reference run: %.2f s, exit 0, synthetic.pcap %d bytes' % (total, len(ref_pcap)))
print('  phases (time of the first stderr line of each, s): training from %.2f, generation from %.2f, '
      'synthetic write from %.2f, evaluation + report from %.2f, end %.2f' % (t_train, t_gen, t_write, t_eval, total))

# ---- 2. kills
random.seed(int(os.environ.get('ABUSE_SEED', '1')))
phase_of_kill = {}
def classify(d, lines):
    names = os.listdir(d) if os.path.isdir(d) else []
    tmp = [n for n in names if '.tmp' in n]
    if any('.ckpt.tmp' in n for n in tmp): return 'checkpoint write'
    if any(n.startswith('synthetic.') for n in tmp): return 'synthetic trace write'
    if any(n.startswith(('report.html', 'metrics.json')) for n in tmp): return 'evaluation + report write'
    if tmp: return 'other file write (%s)' % ','.join(tmp)
    msgs = [l for _, l in lines if l.startswith('[')]
    last = msgs[-1] if msgs else ''
    if not msgs or last.startswith(('[ingest]', '[encode]')) : return 'start-up (config, ingest, encode)'
    if last.startswith('[train]'):
        return 'training'
    if last.startswith('[generate]'):
        return 'synthetic trace write' if 'after the merge' in last else 'generation'
    if last.startswith('[write]'): return 'evaluation (before report.html is opened)'
    return 'after the last message (%s)' % last[:40]

def checkpoint_counter(d, k, extra):
    """A watch that fires `extra` s after the k-th new checkpoint (a change of
    any chunk_NN.ckpt's inode) since it was made."""
    seen, state = {}, {'n': 0, 'at': None}
    def scan():
        try:
            names = [n for n in os.listdir(d) if n.endswith('.ckpt')]
        except FileNotFoundError:
            return
        for n in names:
            try:
                ino = os.stat(os.path.join(d, n)).st_ino
            except FileNotFoundError:
                continue
            if seen.get(n) != ino:
                state['n'] += 1
                seen[n] = ino
    scan()
    state['n'] = 0      # what existed at the start does not count
    def watch():
        if state['at'] is not None:
            return time.monotonic() >= state['at']
        scan()
        if state['n'] >= k:
            state['at'] = time.monotonic() + extra
        return False
    return watch

kills = launches = trials = failures = 0
by_mode = {}
while kills < kills_wanted:
    trials += 1
    d = os.path.join(work, 'trial%03d' % trials)
    resume = False
    while True:
        launches += 1
        mode = random.random()
        training_left = not os.path.exists(os.path.join(d, 'chunk_02.done'))
        if mode < 0.35:
            kind, until, watch = 'uniform over the run', random.uniform(0, total), None
        elif mode < 0.65 and training_left:
            # in training: after K new checkpoints of this launch (K uniform
            # in 1..30), then 0..10 ms more: between or inside checkpoint writes
            kind, until = 'after K checkpoints', None
            watch = checkpoint_counter(d, random.randint(1, 30), random.uniform(0, 0.01))
        elif mode < 0.65:
            kind, until, watch = 'uniform over the run', random.uniform(0, total), None
        elif mode < 0.85:
            kind, until, watch = 'at a checkpoint write', None, (d, ['.ckpt.tmp'])
        else:
            kind, until, watch = 'at an output write', None, (d, ['synthetic.pcap.tmp', 'report.html.tmp', 'metrics.json.tmp'])
        t0 = time.monotonic()
        p, err = launch(d, resume)
        lines = []
        fire = pump(p, err, lines, t0, until, watch)
        if fire and p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
            kills += 1
            ph = classify(d, lines)
            phase_of_kill[ph] = phase_of_kill.get(ph, 0) + 1
            by_mode[kind] = by_mode.get(kind, 0) + 1
            ok, why = check_dir(d)
            if not ok:
                failures += 1
                print('FAIL trial %d: after a kill (%s) the run directory is damaged: %s' % (trials, ph, why))
            resume = True
            continue
        err.close()
        if p.returncode != 0:
            failures += 1
            print('FAIL trial %d launch %d: exit %d:\n  %s' % (trials, launches, p.returncode,
                  '\n  '.join(l for _, l in lines[-5:])))
            break
        ok, why = check_dir(d)
        out = open(os.path.join(d, 'synthetic.pcap'), 'rb').read()
        if not ok or out != ref_pcap:
            failures += 1
            print('FAIL trial %d: finished but %s' % (trials, why or 'synthetic.pcap differs from the reference'))
        break
    print('trial %d: finished after %d kills so far (launches %d)' % (trials, kills, launches), flush=True)

stale = []
for t in range(1, trials + 1):
    d = os.path.join(work, 'trial%03d' % t)
    stale += [os.path.join(d, n) for n in os.listdir(d) if '.tmp' in n]
print('\nkills: %d in %d trials (%d launches), failures: %d' % (kills, trials, launches, failures))
print('kill trigger: ' + ', '.join('%s %d' % kv for kv in sorted(by_mode.items())))
print('where the kills landed:')
for k, v in sorted(phase_of_kill.items(), key=lambda kv: -kv[1]):
    print('  %-40s %d' % (k, v))
print('temporary files left in finished run directories: %d%s' % (len(stale), (' (' + ', '.join(stale[:5]) + ')') if stale else ''))
print('every finished synthetic.pcap identical to the reference: %s' % ('yes' if failures == 0 else 'NO'))

# ---- 3. Ctrl-C and SIGTERM
for sig, code, name in ((signal.SIGINT, 130, 'Ctrl-C'), (signal.SIGTERM, 143, 'SIGTERM')):
    d = os.path.join(work, 'sig_' + name)
    t0 = time.monotonic()
    p, err = launch(d, False)
    lines = []
    pump(p, err, lines, t0, until=t_train + 0.3 * (t_gen - t_train))
    p.send_signal(sig)
    pump(p, err, lines, t0)
    msg = [l for _, l in lines if 'stopped by' in l]
    ok, why = check_dir(d)
    ckpts = sorted(n for n in os.listdir(d) if n.endswith('.ckpt'))
    good = p.returncode == code and msg and name in msg[0] and ok and ckpts
    print('\n%s in training: exit %d (want %d), message: %s; checkpoints %s; directory %s' %
          (name, p.returncode, code, msg[0] if msg else '(none)', ckpts, 'whole' if ok else why))
    t0 = time.monotonic()
    p, err = launch(d, True)
    lines = []
    pump(p, err, lines, t0)
    same = p.returncode == 0 and open(os.path.join(d, 'synthetic.pcap'), 'rb').read() == ref_pcap
    print('  resume: exit %d, synthetic.pcap %s the reference' % (p.returncode, 'identical to' if same else 'DIFFERENT from'))
    if not (good and same):
        failures += 1
sys.exit(1 if failures else 0)
PY
