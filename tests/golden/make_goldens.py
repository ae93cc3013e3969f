#!/usr/bin/python3
"""Goldens for the evaluator (tests/test_eval_golden.c), computed with scipy.

Run by hand, not in CI, with Debian's python (apt-get install python3-scipy):
    /usr/bin/python3 tests/golden/make_goldens.py [SHARED_DATA_DIR]
Writes, next to this script:
  eval_small.csv          JSD / EMD / percentile / sum on small fixed inputs.
                          Inputs are formulas that the C test rebuilds
                          exactly (integer arithmetic, one correctly rounded
                          division), so only names and expected values are
                          stored.
  eval_ugr16_parity.csv   every flow metric between the even-indexed and the
  eval_iot23_parity.csv   odd-indexed data rows of the shared UGR16 / IoT-23
                          CSVs (A = rows 0, 2, 4, ... as REAL; B = rows 1, 3,
                          5, ... as SYNTHETIC), parsed here independently.
Conventions (docs/EVALUATION.md): JSD = jensenshannon(p, q)**2 (nats) and
jensenshannon(p, q, base=2)**2 (bits); EMD = wasserstein_distance on raw
values; percentiles = numpy.percentile (linear).
"""
import calendar
import csv
import os
import sys
from collections import Counter
from decimal import Decimal

import numpy as np
import scipy
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

HERE = os.path.dirname(os.path.abspath(__file__))


def jsd(p, q):
    return jensenshannon(p, q) ** 2, jensenshannon(p, q, base=2) ** 2


# --------------------------------------------------------------- inputs
# Each generator must match tests/test_eval_golden.c exactly.
def jsd_case(name):
    if name == "doc_1":
        return [1.0, 0.0], [0.5, 0.5]
    if name == "doc_2":
        return [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]
    if name == "probs3":
        return [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]
    if name == "identical":
        v = [3, 1, 4, 1, 5, 9, 2, 6]
        return v, list(v)
    if name.startswith("mod_"):
        n = int(name[4:])
        return ([(i * 7919) % 101 for i in range(n)],
                [(i * 104729 + 13) % 97 for i in range(n)])
    if name == "near_20000":
        return [1000 + i % 7 for i in range(20000)], [1000 + i % 5 for i in range(20000)]
    if name == "disjoint_1000":
        return ([i % 13 + 1 if i < 500 else 0 for i in range(1000)],
                [i % 11 + 1 if i >= 500 else 0 for i in range(1000)])
    if name == "zipf_5000":
        return ([100000 // (i + 1) for i in range(5000)],
                [80000 // ((i + 1) * (i + 1)) + 1 for i in range(5000)])
    raise KeyError(name)


JSD_CASES = ["doc_1", "doc_2", "probs3", "identical", "mod_100", "mod_8193", "mod_65536",
             "near_20000", "disjoint_1000", "zipf_5000"]


def emd_case(name):
    if name == "doc":
        return [0.0, 1.0, 3.0], [5.0, 6.0, 8.0]
    if name == "ties":
        return [0.0, 0.0, 1.0, 1.0, 2.0], [1.0, 1.0, 1.0, 3.0]
    if name == "cube":
        return ([float(((i * 7919) % 1000) ** 3) / 13.0 for i in range(10000)],
                [float(((i * 104729) % 997) ** 3) / 11.0 for i in range(7001)])
    if name == "neg":
        return ([(i % 37) - 18.5 for i in range(3000)],
                [(i % 41) * 0.5 - 10.0 for i in range(2000)])
    if name == "identical":
        v = [float(((i * 7919) % 1000) ** 3) / 13.0 for i in range(10000)]
        return v, list(v)
    raise KeyError(name)


EMD_CASES = ["doc", "ties", "cube", "neg", "identical"]
PCT_Q = [0.0, 1.0, 37.5, 50.0, 99.0, 100.0]


def sum_case():
    return [float(((i * 7919) % 1000) ** 3) / 13.0 * (-1.0 if i % 2 else 1.0)
            for i in range(100003)]


def write_small():
    rows = []
    for c in JSD_CASES:
        p, q = jsd_case(c)
        nats, bits = jsd(np.array(p), np.array(q))
        rows.append(("jsd", c, repr(float(nats)), repr(float(bits))))
    for c in EMD_CASES:
        u, v = emd_case(c)
        rows.append(("emd", c, repr(float(wasserstein_distance(u, v))), ""))
    for c in ["cube", "doc"]:
        u, _ = emd_case(c)
        for q in PCT_Q:
            rows.append(("pct", c, repr(q), repr(float(np.percentile(np.array(u), q)))))
    rows.append(("sum", "alt_cube_100003", repr(float(np.sum(np.array(sum_case())))), ""))
    with open(os.path.join(HERE, "eval_small.csv"), "w") as f:
        f.write("# made by tests/golden/make_goldens.py with scipy %s, numpy %s\n"
                % (scipy.__version__, np.__version__))
        f.write("kind,case,a,b\n")
        for r in rows:
            f.write(",".join(r) + "\n")


# ---------------------------------------------------------- shared files
PROTO = {"TCP": 6, "UDP": 17, "ICMP": 1, "GRE": 47, "ESP": 50, "IPIP": 4, "IPV6": 41}


def dec_ns(s):
    """Decimal seconds text -> integer ns (empty -> 0, as the reader does)."""
    return int(Decimal(s) * 10 ** 9) if s.strip() else 0


def read_ugr16(path):
    recs = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            te = calendar.timegm((int(row["te"][0:4]), int(row["te"][5:7]), int(row["te"][8:10]),
                                  int(row["te"][11:13]), int(row["te"][14:16]),
                                  int(row["te"][17:19]), 0, 0, 0)) * 10 ** 9
            td = dec_ns(row["td"])
            recs.append(dict(ts=te - td, td=td, src=row["sa"], dst=row["da"], sp=int(row["sp"]),
                             dp=int(row["dp"]), pr=PROTO[row["pr"].upper()], pkt=int(row["pkt"]),
                             byt=int(row["byt"]), label=row["type"]))
    return recs


def read_zeek(path):
    recs = []
    num = lambda s: int(s) if s.strip() else 0
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            recs.append(dict(ts=dec_ns(row["ts"]), td=dec_ns(row["duration"]),
                             src=row["id.orig_h"], dst=row["id.resp_h"], sp=int(row["id.orig_p"]),
                             dp=int(row["id.resp_p"]), pr=PROTO[row["proto"].upper()],
                             pkt=num(row["orig_pkts"]) + num(row["resp_pkts"]),
                             byt=num(row["orig_ip_bytes"]) + num(row["resp_ip_bytes"]),
                             label=row["label"]))
    return recs


def rank(recs, key):
    return sorted(Counter(r[key] for r in recs).values(), reverse=True)


def pad(a, b):
    n = max(len(a), len(b))
    return a + [0] * (n - len(a)), b + [0] * (n - len(b))


def hist(recs, key, size):
    h = [0] * size
    for r in recs:
        h[r[key]] += 1
    return h


def flow_metrics(A, B):
    out = []
    for f in ("src", "dst"):
        p, q = pad(rank(A, f), rank(B, f))
        out.append(("jsd", f + "ip") + jsd(np.array(p), np.array(q)))
    out.append(("jsd", "srcport") + jsd(np.array(hist(A, "sp", 65536)), np.array(hist(B, "sp", 65536))))
    out.append(("jsd", "dstport") + jsd(np.array(hist(A, "dp", 65536)), np.array(hist(B, "dp", 65536))))
    out.append(("jsd", "proto") + jsd(np.array(hist(A, "pr", 256)), np.array(hist(B, "pr", 256))))
    labels = sorted(set(r["label"] for r in A) | set(r["label"] for r in B) | {"(none)"})
    la, lb = Counter(r["label"] for r in A), Counter(r["label"] for r in B)
    out.append(("jsd", "type") + jsd(np.array([la[l] for l in labels]),
                                     np.array([lb[l] for l in labels])))
    t0a, t0b = min(r["ts"] for r in A), min(r["ts"] for r in B)
    fields = {
        "ts": (lambda R, t0: [(r["ts"] - t0) / 1000 for r in R]),
        "td": (lambda R, t0: [r["td"] / 10 ** 9 for r in R]),
        "pkt": (lambda R, t0: [float(r["pkt"]) for r in R]),
        "byt": (lambda R, t0: [float(r["byt"]) for r in R]),
        "records_per_5tuple": (lambda R, t0: [float(c) for c in Counter(
            (r["src"], r["dst"], r["sp"], r["dp"], r["pr"]) for r in R).values()]),
    }
    for name, fn in fields.items():
        u, v = np.array(fn(A, t0a)), np.array(fn(B, t0b))
        p1, p99 = np.percentile(u, [1, 99])
        out.append(("emd", name, float(wasserstein_distance(u, v)), float(p1), float(p99)))
    return out


def write_parity(path, reader, outname):
    recs = reader(path)
    A, B = recs[0::2], recs[1::2]
    with open(os.path.join(HERE, outname), "w") as f:
        f.write("# made by tests/golden/make_goldens.py with scipy %s, numpy %s from %s\n"
                "# (A = even data rows as REAL, B = odd data rows as SYNTHETIC; %d + %d records)\n"
                % (scipy.__version__, np.__version__, os.path.basename(path), len(A), len(B)))
        f.write("kind,field,a,b,c\n")
        for r in flow_metrics(A, B):
            f.write(",".join([r[0], r[1]] + [repr(float(x)) for x in r[2:]] +
                             ([""] if r[0] == "jsd" else [])) + "\n")


if __name__ == "__main__":
    write_small()
    shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../../../shared/data")
    write_parity(os.path.join(shared, "flows_ugr16_netflow_2016-04-11_13hosts.csv"), read_ugr16,
                 "eval_ugr16_parity.csv")
    write_parity(os.path.join(shared, "flows_iot23_zeekconn_ctu-malware-capture-34-1.csv"),
                 read_zeek, "eval_iot23_parity.csv")
