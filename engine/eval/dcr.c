/* Distance to closest record (DCR): how close synthetic records sit to the
 * training records, against how close unseen (held-out) real records sit
 * to them. A model that copies its training data puts synthetic records at
 * distance 0 or closer than real records of other flows ever are.
 *
 * The distance (eval.h vf_eval_dcr) is a sum of F per-field terms in
 * [0, 1], divided by F: 5 discrete ones (two addresses, two ports, the
 * protocol) and the continuous ones (flows: time, duration, packets, bytes;
 * packets: time, length). The search is exact: for a query, first the
 * training records with the same (sport, dport), then those with the same
 * (dport, proto) or (sport, proto), then all; a record outside the first
 * group differs in a port (>= 1 in the sum), outside all three in two of
 * the three discrete fields (>= 2), so a search stops as soon as the best
 * sum is below that bound. Within a scan a candidate is dropped as soon as
 * its partial sum reaches the best. Cost: the size of those buckets per
 * query; a seeded sample of at most max_samples queries per side. */
#include "eval/eval.h"
#include "eval/eval_internal.h"
#include "philox.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CONT 4
#define S_SAMPLE 0xDC5 /* Philox stream of the samples */

/* A record prepared for the distance. */
typedef struct pt {
    uint64_t src[2], dst[2];   /* the 16 address bytes as two words */
    uint16_t sport, dport;
    uint8_t proto;
    bool src4, dst4;           /* IPv4 (v4-mapped) */
    float c[MAX_CONT];         /* continuous fields, scaled by the training range */
} pt;

/* The training side: prepared records, the scaling and three indexes
 * (key << 32 | record index, sorted). */
typedef struct dcr_index {
    vf_trace_kind kind;
    int nc, F;                 /* continuous fields, all fields */
    double lo[MAX_CONT], inv[MAX_CONT];
    int64_t t0;
    pt *p;
    size_t n;
    uint64_t *by_ports, *by_dport_proto, *by_sport_proto;
} index_t;

/* Raw continuous values of a record: time since t0 (s), then log1p of the
 * size fields (duration in us, packets, bytes; or the IP length). */
static int raw_cont(vf_trace_kind kind, const vf_record *r, int64_t t0, double *x) {
    x[0] = (double)(r->ts_ns - t0) / 1e9;
    if (kind == VF_TRACE_PACKETS) {
        x[1] = log1p((double)r->length);
        return 2;
    }
    x[1] = log1p((double)(r->dur_ns > 0 ? r->dur_ns : 0) / 1000.0);
    x[2] = log1p((double)r->pkts);
    x[3] = log1p((double)r->bytes);
    return 4;
}

static void prep(const index_t *ix, const vf_record *r, pt *o) {
    memset(o, 0, sizeof *o);
    memcpy(o->src, r->src.b, 16);
    memcpy(o->dst, r->dst.b, 16);
    o->src4 = vf_addr_is_v4(&r->src);
    o->dst4 = vf_addr_is_v4(&r->dst);
    o->sport = r->sport;
    o->dport = r->dport;
    o->proto = r->proto;
    double x[MAX_CONT];
    raw_cont(ix->kind, r, ix->t0, x);
    for (int k = 0; k < ix->nc; k++) o->c[k] = (float)((x[k] - ix->lo[k]) * ix->inv[k]);
}

/* Differing bits / 32 (IPv4: the v4-mapped prefix is equal on both sides,
 * so only the address bits differ) or / 128; 1 across families. */
static double addr_term(const uint64_t *a, bool a4, const uint64_t *b, bool b4) {
    if (a4 != b4) return 1;
    int bits = __builtin_popcountll(a[0] ^ b[0]) + __builtin_popcountll(a[1] ^ b[1]);
    return a4 ? bits / 32.0 : bits / 128.0;
}

/* The sum of the terms; stops early (returning >= bound) once it reaches bound. */
static double dsum(const pt *a, const pt *b, int nc, double bound) {
    double d = (a->sport != b->sport) + (a->dport != b->dport) + (a->proto != b->proto);
    d += addr_term(a->src, a->src4, b->src, b->src4) + addr_term(a->dst, a->dst4, b->dst, b->dst4);
    if (d >= bound) return d;
    for (int k = 0; k < nc; k++) {
        double t = fabs((double)a->c[k] - (double)b->c[k]);
        d += t < 1 ? t : 1;
    }
    return d;
}

static void index_free(index_t *ix) {
    free(ix->p);
    free(ix->by_ports);
    free(ix->by_dport_proto);
    free(ix->by_sport_proto);
}

/* The scaling of train (ranges of the continuous fields). */
static void index_scale(index_t *ix, const vf_trace *train) {
    ix->kind = train->kind;
    ix->t0 = train->recs[0].ts_ns;
    for (size_t i = 1; i < train->n; i++)
        if (train->recs[i].ts_ns < ix->t0) ix->t0 = train->recs[i].ts_ns;
    double lo[MAX_CONT], hi[MAX_CONT], x[MAX_CONT];
    ix->nc = raw_cont(ix->kind, &train->recs[0], ix->t0, lo);
    memcpy(hi, lo, sizeof hi);
    for (size_t i = 1; i < train->n; i++) {
        raw_cont(ix->kind, &train->recs[i], ix->t0, x);
        for (int k = 0; k < ix->nc; k++) {
            if (x[k] < lo[k]) lo[k] = x[k];
            if (x[k] > hi[k]) hi[k] = x[k];
        }
    }
    /* a constant field: differences count at face value (capped at 1) */
    for (int k = 0; k < ix->nc; k++) {
        ix->lo[k] = lo[k];
        ix->inv[k] = hi[k] > lo[k] ? 1.0 / (hi[k] - lo[k]) : 1.0;
    }
    ix->F = 5 + ix->nc;
}

static vf_status index_build(index_t *ix, const vf_trace *train) {
    memset(ix, 0, sizeof *ix);
    index_scale(ix, train);
    size_t n = train->n;
    ix->n = n;
    ix->p = malloc(n * sizeof *ix->p);
    ix->by_ports = malloc(n * sizeof(uint64_t));
    ix->by_dport_proto = malloc(n * sizeof(uint64_t));
    ix->by_sport_proto = malloc(n * sizeof(uint64_t));
    if (!ix->p || !ix->by_ports || !ix->by_dport_proto || !ix->by_sport_proto) {
        index_free(ix);
        return vf_fail(VF_ERR_OOM, "eval DCR: index of %zu records: out of memory", n);
    }
    for (size_t i = 0; i < n; i++) {
        pt *q = &ix->p[i];
        prep(ix, &train->recs[i], q);
        ix->by_ports[i] = ((uint64_t)q->sport << 16 | q->dport) << 32 | i;
        ix->by_dport_proto[i] = ((uint64_t)q->dport << 8 | q->proto) << 32 | i;
        ix->by_sport_proto[i] = ((uint64_t)q->sport << 8 | q->proto) << 32 | i;
    }
    vf_status st = vf_radix_sort_u64(ix->by_ports, n);
    if (!st) st = vf_radix_sort_u64(ix->by_dport_proto, n);
    if (!st) st = vf_radix_sort_u64(ix->by_sport_proto, n);
    if (st) index_free(ix);
    return st;
}

/* Best sum over the bucket `key` of a sorted index. */
static double scan_bucket(const index_t *ix, const uint64_t *a, uint64_t key, const pt *q, double best) {
    size_t lo = 0, hi = ix->n;
    uint64_t want = key << 32;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < want) lo = mid + 1;
        else hi = mid;
    }
    for (size_t i = lo; i < ix->n && a[i] >> 32 == key && best > 0; i++) {
        double d = dsum(q, &ix->p[(uint32_t)a[i]], ix->nc, best);
        if (d < best) best = d;
    }
    return best;
}

/* The DCR of one record (the sum divided by F). */
static double nearest(const index_t *ix, const pt *q) {
    double best = scan_bucket(ix, ix->by_ports, (uint64_t)q->sport << 16 | q->dport, q, INFINITY);
    if (best >= 1) {
        best = scan_bucket(ix, ix->by_dport_proto, (uint64_t)q->dport << 8 | q->proto, q, best);
        best = scan_bucket(ix, ix->by_sport_proto, (uint64_t)q->sport << 8 | q->proto, q, best);
    }
    for (size_t i = 0; best >= 2 && i < ix->n; i++) {
        double d = dsum(q, &ix->p[i], ix->nc, best);
        if (d < best) best = d;
    }
    return best / ix->F;
}

/* A seeded sample of at most k indices of n, ascending (Knuth's selection
 * sampling: index i is taken with probability (still wanted) / (left)). */
static size_t sample(size_t n, size_t k, uint64_t seed, uint32_t stream, size_t *out) {
    if (k >= n) {
        for (size_t i = 0; i < n; i++) out[i] = i;
        return n;
    }
    size_t got = 0;
    for (size_t i = 0; i < n && got < k; i++) {
        uint32_t ctr[4] = {(uint32_t)i, (uint32_t)((uint64_t)i >> 32), S_SAMPLE, stream}, w[4];
        vf_philox4x32_10(ctr, (uint32_t)seed, (uint32_t)(seed >> 32), w);
        double u = (double)(((uint64_t)w[0] << 21) ^ (w[1] >> 11)) / 9007199254740992.0; /* [0, 1), 53 bits */
        if ((double)(n - i) * u < (double)(k - got)) out[got++] = i;
    }
    return got;
}

/* One side's queries (a thread each). */
typedef struct side_job {
    const index_t *ix;
    const vf_trace *t;
    size_t max_samples;
    uint64_t seed;
    uint32_t stream;
    double *d;       /* sorted DCRs */
    size_t n;
    vf_status st;
} side_job;

static void *side_run(void *arg) {
    side_job *j = arg;
    size_t cap = j->t->n < j->max_samples ? j->t->n : j->max_samples;
    size_t *idx = malloc((cap ? cap : 1) * sizeof *idx);
    j->d = malloc((cap ? cap : 1) * sizeof *j->d);
    if (!idx || !j->d) {
        free(idx);
        j->st = VF_ERR_OOM;
        return NULL;
    }
    j->n = sample(j->t->n, cap, j->seed, j->stream, idx);
    for (size_t i = 0; i < j->n; i++) {
        pt q;
        prep(j->ix, &j->t->recs[idx[i]], &q);
        j->d[i] = nearest(j->ix, &q);
    }
    free(idx);
    j->st = vf_sort_f64(j->d, j->n) ? VF_ERR_OOM : VF_OK;
    return NULL;
}

vf_status vf_eval_dcr_compute(const vf_trace *train, const vf_trace *syn, const vf_trace *held, size_t max_samples,
                              uint64_t seed, vf_eval_dcr *out) {
    if (!train || !syn || !out) return vf_fail(VF_ERR_ARG, "eval DCR: NULL argument");
    if (train->n == 0 || syn->n == 0)
        return vf_fail(VF_ERR_ARG, "eval DCR: the %s trace has no records", train->n ? "synthetic" : "training");
    if (syn->kind != train->kind || (held && held->kind != train->kind))
        return vf_fail(VF_ERR_ARG, "eval DCR: the traces are of different kinds");
    if (train->n >= UINT32_MAX) return vf_fail(VF_ERR_ARG, "eval DCR: 2^32 training records or more");
    if (max_samples == 0) max_samples = VF_DCR_SAMPLES;
    double t0 = vf_now_s();
    memset(out, 0, sizeof *out);
    index_t ix;
    VF_TRY(index_build(&ix, train));
    side_job js = {.ix = &ix, .t = syn, .max_samples = max_samples, .seed = seed, .stream = 0};
    side_job jh = {.ix = &ix, .t = held, .max_samples = max_samples, .seed = seed, .stream = 1};
    /* the two samples are independent: the held-out one on a second thread */
    pthread_t th;
    bool threaded = held && held->n && pthread_create(&th, NULL, side_run, &jh) == 0;
    side_run(&js);
    if (threaded) pthread_join(th, NULL);
    else if (held && held->n) side_run(&jh);
    vf_status st = js.st ? js.st : jh.st;
    if (st) {
        st = vf_fail(st, "eval DCR: out of memory");
    } else {
        out->n_train = train->n;
        out->n_syn = js.n;
        out->syn_median = vf_percentile_sorted(js.d, js.n, 50);
        out->syn_p5 = vf_percentile_sorted(js.d, js.n, 5);
        for (size_t i = 0; i < js.n; i++) out->syn_zero += js.d[i] == 0;
        out->hold_median = out->hold_p5 = out->share_below_hold_p5 = NAN;
        if (jh.n) {
            out->have_holdout = true;
            out->n_hold = jh.n;
            out->hold_median = vf_percentile_sorted(jh.d, jh.n, 50);
            out->hold_p5 = vf_percentile_sorted(jh.d, jh.n, 5);
            size_t below = 0;
            for (size_t i = 0; i < js.n; i++) below += js.d[i] < out->hold_p5;
            out->share_below_hold_p5 = (double)below / (double)js.n;
            out->closer = out->share_below_hold_p5 > VF_DCR_CLOSER_SHARE;
        }
        out->valid = true;
        out->seconds = vf_now_s() - t0;
    }
    free(js.d);
    free(jh.d);
    index_free(&ix);
    return st;
}

double vf_eval_record_distance(const vf_trace *train, const vf_record *a, const vf_record *b) {
    if (!train || train->n == 0 || !a || !b) return NAN;
    index_t ix;
    memset(&ix, 0, sizeof ix);
    index_scale(&ix, train);
    pt pa, pb;
    prep(&ix, a, &pa);
    prep(&ix, b, &pb);
    return dsum(&pa, &pb, ix.nc, INFINITY) / ix.F;
}
