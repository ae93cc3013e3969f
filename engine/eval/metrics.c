/* vf_eval_compare: every metric of one real/synthetic comparison.
 *
 * Plan: each trace is summarised on its own (one thread per side, they share
 * nothing): hash maps of addresses, address pairs and 5-tuples, port and
 * protocol histograms, and the sorted values of every EMD field. The two
 * summaries are then combined: JSDs on the histograms/rank vectors, EMDs by
 * merging sorted arrays, privacy by looking synthetic keys up in the real
 * maps. Cost: O(n) hashing plus radix sorts. */
#include "eval/eval.h"
#include "util.h"
#include "eval/eval_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const vf_eval_jsd_basis[VF_JSD_COUNT] = {
    "popularity rank: per-address record counts sorted decreasing, shorter side zero-padded",
    "popularity rank: per-address record counts sorted decreasing, shorter side zero-padded",
    "exact value 0..65535",
    "exact value 0..65535",
    "IP protocol number 0..255",
    "flow label text (the type/label column); records without one count as '(none)'",
};

const char *const vf_eval_emd_basis[VF_EMD_COUNT] = {
    "flow start time relative to the trace's earliest record",
    "flow duration",
    "packets per flow record",
    "bytes per flow record",
    "records per directional 5-tuple (not a NetShare metric)",
    "IP total length",
    "packet time relative to the trace's first packet",
    "packets per directional 5-tuple",
    "gaps between time-sorted packets of one 5-tuple, pooled (not a NetShare paper metric)",
};

static const char *const jsd_names[VF_JSD_COUNT] = {"srcip", "dstip", "srcport", "dstport",
                                                    "proto", "type"};
static const char *const emd_names[VF_EMD_COUNT] = {
    "ts", "td", "pkt", "byt", "records_per_5tuple", "pkt_len", "time", "flow_size",
    "iat_within_flow"};
static const char *const emd_units[VF_EMD_COUNT] = {"us", "s", "packets", "bytes", "records",
                                                    "bytes", "us", "packets", "us"};

const char *vf_eval_jsd_name(vf_eval_jsd_field f) {
    return (unsigned)f < VF_JSD_COUNT ? jsd_names[f] : "?";
}
const char *vf_eval_emd_name(vf_eval_emd_field f) {
    return (unsigned)f < VF_EMD_COUNT ? emd_names[f] : "?";
}
const char *vf_eval_emd_unit(vf_eval_emd_field f) {
    return (unsigned)f < VF_EMD_COUNT ? emd_units[f] : "?";
}

/* Which EMD fields a kind has. */
static bool emd_field_of(vf_trace_kind k, int f) {
    if (k == VF_TRACE_FLOWS) return f <= VF_EMD_RECORDS_PER_5TUPLE;
    return f >= VF_EMD_PKT_LEN;
}

/* ------------------------------------------------------------ one side */

typedef struct side {
    const vf_trace *t;
    vf_hmap src, dst, pair, tuple;
    double *sport, *dport;   /* [65536] record counts */
    double proto[256];
    double *vals[VF_EMD_COUNT]; /* sorted values of each field of this kind */
    size_t nvals[VF_EMD_COUNT];
    double corr;
    vf_status st;
    char err[512];
} side;

static void side_free(side *s) {
    vf_hmap_free(&s->src);
    vf_hmap_free(&s->dst);
    vf_hmap_free(&s->pair);
    vf_hmap_free(&s->tuple);
    free(s->sport);
    free(s->dport);
    for (int f = 0; f < VF_EMD_COUNT; f++) free(s->vals[f]);
}

/* Pearson correlation of log1p(x), log1p(y), two passes in double. */
static double pearson_log(const double *x, const double *y, size_t n) {
    if (n < 2) return NAN;
    double mx = 0, my = 0;
    for (size_t i = 0; i < n; i++) {
        mx += log1p(x[i]);
        my += log1p(y[i]);
    }
    mx /= (double)n;
    my /= (double)n;
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < n; i++) {
        double a = log1p(x[i]) - mx, b = log1p(y[i]) - my;
        sxy += a * b;
        sxx += a * a;
        syy += b * b;
    }
    if (!(sxx > 0) || !(syy > 0)) return NAN;
    return sxy / sqrt(sxx * syy);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

#define TRY(e) do { if ((st = (e)) != VF_OK) goto fail; } while (0)
#define NEED(p) do { if (!(p)) { st = vf_fail(VF_ERR_OOM, "eval: out of memory"); goto fail; } } while (0)

static vf_status side_build(side *s) {
    const vf_trace *t = s->t;
    const vf_record *R = t->recs;
    size_t n = t->n;
    vf_status st = VF_OK;
    uint32_t *flow_of = NULL;
    double *fx = NULL, *fy = NULL;
    int64_t *grouped = NULL;
    size_t *pos = NULL;

    TRY(vf_hmap_init(&s->src, VF_KEY_ADDR, 1024));
    TRY(vf_hmap_init(&s->dst, VF_KEY_ADDR, 1024));
    TRY(vf_hmap_init(&s->pair, VF_KEY_PAIR, 1024));
    TRY(vf_hmap_init(&s->tuple, VF_KEY_TUPLE, 1024));
    NEED(s->sport = calloc(65536, sizeof(double)));
    NEED(s->dport = calloc(65536, sizeof(double)));
    NEED(flow_of = malloc((n ? n : 1) * sizeof *flow_of));

    int64_t t0 = n ? R[0].ts_ns : 0;
    for (size_t i = 0; i < n; i++) {
        const vf_record *r = &R[i];
        uint8_t key[VF_KEY_TUPLE];
        if (vf_hmap_put(&s->src, r->src.b) < 0 || vf_hmap_put(&s->dst, r->dst.b) < 0) {
            st = VF_ERR_OOM;
            goto fail;
        }
        vf_key_pair(r, key);
        if (vf_hmap_put(&s->pair, key) < 0) { st = VF_ERR_OOM; goto fail; }
        vf_key_tuple(r, key);
        int64_t fi = vf_hmap_put(&s->tuple, key);
        if (fi < 0) { st = VF_ERR_OOM; goto fail; }
        flow_of[i] = (uint32_t)fi;
        s->sport[r->sport] += 1;
        s->dport[r->dport] += 1;
        s->proto[r->proto] += 1;
        if (r->ts_ns < t0) t0 = r->ts_ns;
    }
    size_t nf = s->tuple.n;

    /* EMD value arrays. */
    vf_trace_kind k = t->kind;
    for (int f = 0; f < VF_EMD_COUNT; f++) {
        if (!emd_field_of(k, f)) continue;
        size_t m = (f == VF_EMD_RECORDS_PER_5TUPLE || f == VF_EMD_FLOW_SIZE) ? nf : n;
        NEED(s->vals[f] = malloc((m ? m : 1) * sizeof(double)));
        double *v = s->vals[f];
        switch (f) {
        case VF_EMD_TS:
        case VF_EMD_TIME:
            /* ns -> us; the difference is exact in int64, one rounding. */
            for (size_t i = 0; i < n; i++) v[i] = (double)(R[i].ts_ns - t0) / 1000.0;
            break;
        case VF_EMD_TD:
            for (size_t i = 0; i < n; i++) v[i] = (double)R[i].dur_ns / 1e9;
            break;
        case VF_EMD_PKT:
            for (size_t i = 0; i < n; i++) v[i] = (double)R[i].pkts;
            break;
        case VF_EMD_BYT:
            for (size_t i = 0; i < n; i++) v[i] = (double)R[i].bytes;
            break;
        case VF_EMD_PKT_LEN:
            for (size_t i = 0; i < n; i++) v[i] = (double)R[i].length;
            break;
        case VF_EMD_RECORDS_PER_5TUPLE:
        case VF_EMD_FLOW_SIZE:
            for (size_t j = 0; j < nf; j++) v[j] = (double)s->tuple.count[j];
            break;
        case VF_EMD_IAT_WITHIN_FLOW: {
            /* Counting sort of the times by flow (stable), then per flow sort
             * if out of order (rare: captures are in time order) and take
             * consecutive gaps: n - nf values. */
            NEED(grouped = malloc((n ? n : 1) * sizeof *grouped));
            NEED(pos = malloc((nf + 1) * sizeof *pos));
            size_t acc = 0;
            for (size_t j = 0; j < nf; j++) {
                pos[j] = acc;
                acc += s->tuple.count[j];
            }
            pos[nf] = acc;
            for (size_t i = 0; i < n; i++) grouped[pos[flow_of[i]]++] = R[i].ts_ns;
            m = 0;
            size_t start = 0;
            for (size_t j = 0; j < nf; j++) {
                size_t end = start + s->tuple.count[j];
                bool sorted = true;
                for (size_t i = start + 1; i < end && sorted; i++)
                    sorted = grouped[i] >= grouped[i - 1];
                if (!sorted) qsort(grouped + start, end - start, sizeof *grouped, cmp_i64);
                for (size_t i = start + 1; i < end; i++)
                    v[m++] = (double)(grouped[i] - grouped[i - 1]) / 1000.0;
                start = end;
            }
            break;
        }
        default:
            break;
        }
        s->nvals[f] = m;
    }

    /* pkt/byt correlation: per record for flows, per 5-tuple for packets. */
    if (k == VF_TRACE_FLOWS) {
        NEED(fx = malloc((n ? n : 1) * sizeof *fx));
        NEED(fy = malloc((n ? n : 1) * sizeof *fy));
        for (size_t i = 0; i < n; i++) {
            fx[i] = (double)R[i].pkts;
            fy[i] = (double)R[i].bytes;
        }
        s->corr = pearson_log(fx, fy, n);
    } else {
        NEED(fx = calloc(nf ? nf : 1, sizeof *fx));
        NEED(fy = calloc(nf ? nf : 1, sizeof *fy));
        for (size_t i = 0; i < n; i++) {
            fx[flow_of[i]] += (double)R[i].pkts;
            fy[flow_of[i]] += (double)R[i].bytes;
        }
        s->corr = pearson_log(fx, fy, nf);
    }

    for (int f = 0; f < VF_EMD_COUNT; f++)
        if (s->vals[f]) TRY(vf_sort_f64(s->vals[f], s->nvals[f]));

fail:
    free(flow_of);
    free(fx);
    free(fy);
    free(grouped);
    free(pos);
    return st;
}

static void *side_thread(void *arg) {
    side *s = arg;
    s->st = side_build(s);
    if (s->st != VF_OK) snprintf(s->err, sizeof s->err, "%s", vf_last_error());
    return NULL;
}

/* ------------------------------------------------------------ combining */

/* Record counts per address, sorted decreasing, as doubles padded to len. */
static vf_status rank_vector(const vf_hmap *m, size_t len, double **out) {
    uint64_t *c = malloc((m->n ? m->n : 1) * sizeof *c);
    double *v = calloc(len ? len : 1, sizeof *v);
    if (!c || !v) {
        free(c);
        free(v);
        return vf_fail(VF_ERR_OOM, "eval: rank vector of %zu: out of memory", len);
    }
    memcpy(c, m->count, m->n * sizeof *c);
    vf_status st = vf_radix_sort_u64(c, m->n);
    for (size_t i = 0; i < m->n; i++) v[i] = (double)c[m->n - 1 - i];
    free(c);
    *out = v;
    return st;
}

static void top_values(const double *cnt, size_t n_vals, double total, vf_eval_topval *top,
                       int *n_top) {
    int k = 0;
    for (size_t v = 0; v < n_vals; v++) {
        if (cnt[v] <= 0) continue;
        /* insertion into the descending top list; ties keep the lower value */
        int j = k < VF_EVAL_TOPK ? k++ : VF_EVAL_TOPK;
        while (j > 0 && (double)top[j - 1].count < cnt[v]) {
            if (j < VF_EVAL_TOPK) top[j] = top[j - 1];
            j--;
        }
        if (j < VF_EVAL_TOPK) {
            top[j].value = (uint32_t)v;
            top[j].count = (uint64_t)cnt[v];
        }
    }
    for (int i = 0; i < k; i++) top[i].share = (double)top[i].count / total;
    *n_top = k;
}

static void make_cdf(const double *v, size_t n, vf_eval_cdf *c) {
    c->n = 0;
    if (n == 0) return;
    size_t K = n < VF_EVAL_CDF_POINTS ? n : VF_EVAL_CDF_POINTS;
    for (size_t i = 0; i < K; i++) {
        size_t idx = K == 1 ? n - 1 : (size_t)llround((double)i * (double)(n - 1) / (double)(K - 1));
        /* F counts every value equal to x: advance to the last tie. */
        size_t lo = idx, hi = n - 1;
        while (lo < hi) {
            size_t mid = lo + (hi - lo + 1) / 2;
            if (v[mid] <= v[idx]) lo = mid;
            else hi = mid - 1;
        }
        c->x[c->n] = v[idx];
        c->F[c->n] = (double)(lo + 1) / (double)n;
        c->n++;
    }
}

static size_t nonzero(const double *c, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += c[i] > 0;
    return k;
}

static void side_summary(const side *s, vf_eval_side *o) {
    o->records = s->t->n;
    o->five_tuples = s->tuple.n;
    o->src_addrs = s->src.n;
    o->dst_addrs = s->dst.n;
    double total = (double)(s->t->n ? s->t->n : 1);
    top_values(s->sport, 65536, total, o->top_sport, &o->n_top_sport);
    top_values(s->dport, 65536, total, o->top_dport, &o->n_top_dport);
    o->corr_log_pkt_byt = s->corr;
    o->src_ports = nonzero(s->sport, 65536);
    o->dst_ports = nonzero(s->dport, 65536);
    /* records per 5-tuple: the sorted counts of either kind's field */
    int f = s->t->kind == VF_TRACE_FLOWS ? VF_EMD_RECORDS_PER_5TUPLE : VF_EMD_FLOW_SIZE;
    size_t nf = s->nvals[f];
    o->recs_per_5tuple_mean = nf ? (double)s->t->n / (double)nf : NAN;
    o->recs_per_5tuple_median = vf_percentile_sorted(s->vals[f], nf, 50);
    o->recs_per_5tuple_max = nf ? (uint64_t)s->vals[f][nf - 1] : 0;
}

/* Label of record r as text ("(none)" when it has none). */
static const char *label_of(const vf_trace *t, int32_t l) {
    if (l < 0 || l >= t->n_labels || !t->labels || !t->labels[l]) return "(none)";
    return t->labels[l];
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* JSD over label texts: union of both sides' texts, sorted by strcmp. */
static vf_status type_jsd(const vf_trace *a, const vf_trace *b, vf_eval_jsd *o) {
    memset(o, 0, sizeof *o);
    bool any = false;
    for (size_t i = 0; i < a->n && !any; i++) any = a->recs[i].label >= 0;
    for (size_t i = 0; i < b->n && !any; i++) any = b->recs[i].label >= 0;
    if (!any) return VF_OK; /* neither trace is labelled: n/a */
    size_t cap = (size_t)(a->n_labels > 0 ? a->n_labels : 0) +
                 (size_t)(b->n_labels > 0 ? b->n_labels : 0) + 1;
    const char **names = malloc(cap * sizeof *names);
    double *pa = calloc(cap, sizeof *pa), *pb = calloc(cap, sizeof *pb);
    int *map_a = malloc(((size_t)(a->n_labels > 0 ? a->n_labels : 0) + 1) * sizeof *map_a);
    int *map_b = malloc(((size_t)(b->n_labels > 0 ? b->n_labels : 0) + 1) * sizeof *map_b);
    vf_status st = VF_OK;
    if (!names || !pa || !pb || !map_a || !map_b) {
        st = vf_fail(VF_ERR_OOM, "eval: label JSD: out of memory");
        goto done;
    }
    size_t nn = 0;
    names[nn++] = "(none)";
    for (int i = 0; i < a->n_labels; i++) names[nn++] = label_of(a, i);
    for (int i = 0; i < b->n_labels; i++) names[nn++] = label_of(b, i);
    qsort(names, nn, sizeof *names, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < nn; i++)
        if (u == 0 || strcmp(names[u - 1], names[i])) names[u++] = names[i];
    nn = u;
    /* map index -> position in the sorted union (slot 0 of map_* = none) */
    for (int side_i = 0; side_i < 2; side_i++) {
        const vf_trace *t = side_i ? b : a;
        int *map = side_i ? map_b : map_a;
        double *cnt = side_i ? pb : pa;
        for (int l = -1; l < t->n_labels; l++) {
            const char *s = label_of(t, l);
            const char **hit = bsearch(&s, names, nn, sizeof *names, cmp_str);
            map[l + 1] = (int)(hit - names);
        }
        for (size_t i = 0; i < t->n; i++) {
            int32_t l = t->recs[i].label;
            if (l < -1 || l >= t->n_labels) l = -1;
            cnt[map[l + 1]] += 1;
        }
        size_t sup = 0;
        for (size_t i = 0; i < nn; i++) sup += cnt[i] > 0;
        if (side_i) o->support_syn = sup;
        else o->support_real = sup;
    }
    o->v = vf_jsd_counts(pa, pb, nn);
    o->valid = true;
done:
    free(names);
    free(pa);
    free(pb);
    free(map_a);
    free(map_b);
    return st;
}



vf_status vf_eval_compare(const vf_trace *real, const vf_trace *syn, vf_eval_result *out) {
    if (!real || !syn || !out) return vf_fail(VF_ERR_ARG, "eval: NULL argument");
    if (real->kind != syn->kind)
        return vf_fail(VF_ERR_ARG, "eval: real trace holds %s but synthetic holds %s: "
                                   "compare traces of the same kind",
                       real->kind == VF_TRACE_FLOWS ? "flows" : "packets",
                       syn->kind == VF_TRACE_FLOWS ? "flows" : "packets");
    if (real->n == 0) return vf_fail(VF_ERR_ARG, "eval: the real trace has no records");
    if (syn->n == 0) return vf_fail(VF_ERR_ARG, "eval: the synthetic trace has no records");
    if (real->n >= UINT32_MAX || syn->n >= UINT32_MAX)
        return vf_fail(VF_ERR_ARG, "eval: traces of 2^32 records or more are not supported");
    double t_start = vf_now_s();
    memset(out, 0, sizeof *out);
    out->kind = real->kind;

    side *S = calloc(2, sizeof *S);
    if (!S) return vf_fail(VF_ERR_OOM, "eval: out of memory");
    S[0].t = real;
    S[1].t = syn;
    /* The two sides are independent: build the synthetic one on a second
     * thread (2 cores), fall back to sequential if the thread fails. */
    pthread_t th;
    bool threaded = pthread_create(&th, NULL, side_thread, &S[1]) == 0;
    side_thread(&S[0]);
    if (threaded) pthread_join(th, NULL);
    else side_thread(&S[1]);
    vf_status st = VF_OK;
    double *pa = NULL, *pb = NULL;
    for (int i = 0; i < 2; i++)
        if (S[i].st != VF_OK) {
            st = vf_fail(S[i].st, "%s (%s trace)", S[i].err, i ? "synthetic" : "real");
            goto done;
        }
    side_summary(&S[0], &out->real);
    side_summary(&S[1], &out->syn);

    /* Top ports side by side: real's top, then synthetic's others. */
    for (int d = 0; d < 2; d++) {
        const vf_eval_topval *tl[2] = {d ? out->real.top_dport : out->real.top_sport,
                                       d ? out->syn.top_dport : out->syn.top_sport};
        int nl[2] = {d ? out->real.n_top_dport : out->real.n_top_sport,
                     d ? out->syn.n_top_dport : out->syn.n_top_sport};
        const double *hr = d ? S[0].dport : S[0].sport, *hs = d ? S[1].dport : S[1].sport;
        int k = 0;
        for (int l = 0; l < 2; l++)
            for (int i = 0; i < nl[l]; i++) {
                uint16_t port = (uint16_t)tl[l][i].value;
                bool seen = false;
                for (int j = 0; j < k && !seen; j++) seen = out->port_cmp[d][j].port == port;
                if (seen) continue;
                out->port_cmp[d][k++] = (vf_eval_port_cmp){port, hr[port] / (double)real->n,
                                                           hs[port] / (double)syn->n};
            }
        out->n_port_cmp[d] = k;
    }

    /* IP popularity ranks. */
    for (int f = VF_JSD_SRCIP; f <= VF_JSD_DSTIP; f++) {
        const vf_hmap *ma = f == VF_JSD_SRCIP ? &S[0].src : &S[0].dst;
        const vf_hmap *mb = f == VF_JSD_SRCIP ? &S[1].src : &S[1].dst;
        size_t len = ma->n > mb->n ? ma->n : mb->n;
        if ((st = rank_vector(ma, len, &pa)) != VF_OK) goto done;
        if ((st = rank_vector(mb, len, &pb)) != VF_OK) goto done;
        out->jsd[f].v = vf_jsd_counts(pa, pb, len);
        out->jsd[f].valid = true;
        out->jsd[f].support_real = ma->n;
        out->jsd[f].support_syn = mb->n;
        free(pa);
        free(pb);
        pa = pb = NULL;
    }
    /* Ports and protocol: exact values. */
    out->jsd[VF_JSD_SRCPORT].v = vf_jsd_counts(S[0].sport, S[1].sport, 65536);
    out->jsd[VF_JSD_DSTPORT].v = vf_jsd_counts(S[0].dport, S[1].dport, 65536);
    out->jsd[VF_JSD_PROTO].v = vf_jsd_counts(S[0].proto, S[1].proto, 256);
    out->jsd[VF_JSD_SRCPORT].support_real = nonzero(S[0].sport, 65536);
    out->jsd[VF_JSD_SRCPORT].support_syn = nonzero(S[1].sport, 65536);
    out->jsd[VF_JSD_DSTPORT].support_real = nonzero(S[0].dport, 65536);
    out->jsd[VF_JSD_DSTPORT].support_syn = nonzero(S[1].dport, 65536);
    out->jsd[VF_JSD_PROTO].support_real = nonzero(S[0].proto, 256);
    out->jsd[VF_JSD_PROTO].support_syn = nonzero(S[1].proto, 256);
    for (int f = VF_JSD_SRCPORT; f <= VF_JSD_PROTO; f++) out->jsd[f].valid = true;
    if (real->kind == VF_TRACE_FLOWS && (st = type_jsd(real, syn, &out->jsd[VF_JSD_TYPE])) != VF_OK)
        goto done;

    /* EMDs. */
    for (int f = 0; f < VF_EMD_COUNT; f++) {
        if (!emd_field_of(real->kind, f)) continue;
        vf_eval_emd *e = &out->emd[f];
        const double *u = S[0].vals[f], *v = S[1].vals[f];
        size_t nu = S[0].nvals[f], nv = S[1].nvals[f];
        e->n_real = nu;
        e->n_syn = nv;
        e->p1 = vf_percentile_sorted(u, nu, 1);
        e->p99 = vf_percentile_sorted(u, nu, 99);
        e->median_real = vf_percentile_sorted(u, nu, 50);
        e->median_syn = vf_percentile_sorted(v, nv, 50);
        make_cdf(u, nu, &e->cdf_real);
        make_cdf(v, nv, &e->cdf_syn);
        if (nu == 0 || nv == 0) continue; /* e.g. no flow with 2 packets */
        e->valid = true;
        e->emd = vf_emd_sorted(u, nu, v, nv);
        e->norm = e->p99 > e->p1 ? e->emd / (e->p99 - e->p1) : NAN;
        /* Heavy tail (plots use log x): among the real positive values,
         * p99 > 20 x median or max > 1000 x median. */
        size_t z = 0;
        while (z < nu && u[z] <= 0) z++;
        if (z < nu) {
            double m50 = vf_percentile_sorted(u + z, nu - z, 50);
            double m99 = vf_percentile_sorted(u + z, nu - z, 99);
            e->heavy_tailed = m50 > 0 && (m99 / m50 > 20 || u[nu - 1] / m50 > 1000);
        }
    }

    /* Protocol mix, descending by real share, then synthetic share. */
    for (int p = 0; p < 256; p++) {
        if (S[0].proto[p] <= 0 && S[1].proto[p] <= 0) continue;
        vf_eval_proto_share ps = {(uint8_t)p, S[0].proto[p] / (double)real->n,
                                  S[1].proto[p] / (double)syn->n};
        int j = out->n_proto++;
        while (j > 0 && (out->proto[j - 1].real < ps.real ||
                         (out->proto[j - 1].real == ps.real && out->proto[j - 1].syn < ps.syn))) {
            out->proto[j] = out->proto[j - 1];
            j--;
        }
        out->proto[j] = ps;
    }

    /* Privacy: synthetic keys found verbatim in the real maps. */
    vf_eval_privacy *pv = &out->privacy;
    pv->syn_records = syn->n;
    pv->syn_5tuples = S[1].tuple.n;
    pv->syn_pairs = S[1].pair.n;
    for (size_t j = 0; j < S[1].tuple.n; j++)
        if (vf_hmap_get(&S[0].tuple, S[1].tuple.keys + j * VF_KEY_TUPLE) >= 0) {
            pv->syn_5tuples_in_real++;
            pv->syn_records_5tuple_in_real += S[1].tuple.count[j];
        }
    for (size_t j = 0; j < S[1].pair.n; j++)
        if (vf_hmap_get(&S[0].pair, S[1].pair.keys + j * VF_KEY_PAIR) >= 0) {
            pv->syn_pairs_in_real++;
            pv->syn_records_pair_in_real += S[1].pair.count[j];
        }
    out->seconds = vf_now_s() - t_start;

done:
    free(pa);
    free(pb);
    side_free(&S[0]);
    side_free(&S[1]);
    free(S);
    return st;
}
