/* Baselines that give the metrics a scale: the split noise floor and the
 * independent-marginals generator (see eval.h and docs/EVALUATION.md). */
#include "eval/eval.h"
#include "eval/eval_internal.h"
#include "philox.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Philox stream ids: one per baseline field, so the draws of one field do
 * not depend on which other fields exist. */
enum {
    S_SPLIT = 0x5011, S_TS = 0, S_DUR, S_SRC, S_DST, S_SPORT, S_DPORT, S_PROTO, S_TTL, S_TOS,
    S_FLAGS, S_FRAG, S_IPID, S_LEN, S_PKTS, S_BYTES, S_LABEL
};

/* An empty trace with real's kind, labels (same indices), link type and
 * CSV layout, so it is written back in the same form. */
static vf_status like(const vf_trace *real, vf_trace *t) {
    memset(t, 0, sizeof *t);
    t->kind = real->kind;
    t->linktype = real->linktype;
    t->layout = real->layout;
    for (int i = 0; i < real->n_labels; i++)
        if (vf_trace_label(t, real->labels[i]) != i)
            return vf_fail(VF_ERR_OOM, "baseline: copying label '%s': out of memory", real->labels[i]);
    return VF_OK;
}

vf_status vf_baseline_split(const vf_trace *real, uint64_t seed, vf_trace *a, vf_trace *b) {
    return vf_baseline_split_fraction(real, seed, 0.5, a, b);
}

vf_status vf_baseline_split_fraction(const vf_trace *real, uint64_t seed, double fraction_b, vf_trace *a,
                                     vf_trace *b) {
    if (!real || !a || !b) return vf_fail(VF_ERR_ARG, "baseline split: NULL argument");
    if (!(fraction_b >= 0 && fraction_b <= 1))
        return vf_fail(VF_ERR_ARG, "baseline split: fraction %g is outside [0, 1]", fraction_b);
    /* to b when w >= cut: fraction 0.5 gives cut 2^31, the top bit (as before) */
    uint64_t cut = (uint64_t)llround((1.0 - fraction_b) * 4294967296.0);
    vf_status st = like(real, a);
    if (st == VF_OK) st = like(real, b);
    for (size_t i = 0; i < real->n && st == VF_OK; i++) {
        uint8_t key[VF_KEY_TUPLE];
        vf_key_tuple(&real->recs[i], key);
        uint64_t h = vf_eval_hash(key, VF_KEY_TUPLE);
        uint32_t ctr[4] = {(uint32_t)h, (uint32_t)(h >> 32), S_SPLIT, 0}, w[4];
        vf_philox4x32_10(ctr, (uint32_t)seed, (uint32_t)(seed >> 32), w);
        st = vf_trace_append((uint64_t)w[0] >= cut ? b : a, &real->recs[i]);
    }
    if (st != VF_OK) {
        vf_trace_free(a);
        vf_trace_free(b);
    }
    return st;
}

/* Index in [0, n) for draw i of field f (try t): 64 random bits mod n, bias
 * below n / 2^64. */
static size_t pick(uint64_t seed, size_t i, uint32_t f, uint32_t t, size_t n) {
    uint32_t ctr[4] = {(uint32_t)i, (uint32_t)((uint64_t)i >> 32), f, t}, w[4];
    vf_philox4x32_10(ctr, (uint32_t)seed, (uint32_t)(seed >> 32), w);
    return (size_t)((((uint64_t)w[0] << 32) | w[1]) % n);
}

static int cmp_rec(const void *x, const void *y) {
    const vf_record *a = x, *b = y;
    if (a->ts_ns != b->ts_ns) return a->ts_ns < b->ts_ns ? -1 : 1;
    /* Ties: any fixed order keeps the output reproducible (records are
     * zero-initialised, so padding compares equal). */
    return memcmp(a, b, sizeof *a);
}

vf_status vf_baseline_marginals(const vf_trace *real, uint64_t seed, vf_trace *out) {
    if (!real || !out) return vf_fail(VF_ERR_ARG, "baseline marginals: NULL argument");
    if (real->n == 0) return vf_fail(VF_ERR_ARG, "baseline marginals: the real trace has no records");
    vf_status st = like(real, out);
    const vf_record *R = real->recs;
    size_t n = real->n;
    bool packets = real->kind == VF_TRACE_PACKETS;
    for (size_t i = 0; i < n && st == VF_OK; i++) {
        vf_record r;
        memset(&r, 0, sizeof r);
        r.ts_ns = R[pick(seed, i, S_TS, 0, n)].ts_ns;
        r.dur_ns = R[pick(seed, i, S_DUR, 0, n)].dur_ns;
        const vf_record *s = &R[pick(seed, i, S_SRC, 0, n)];
        r.src = s->src;
        r.ip_version = s->ip_version;
        /* The destination must be of the source's family (a packet has one
         * IP version); retry, then fall back to the source record's own. */
        bool v4 = vf_addr_is_v4(&s->src);
        const vf_record *d = NULL;
        for (uint32_t t = 0; t < 64 && !d; t++) {
            const vf_record *c = &R[pick(seed, i, S_DST, t, n)];
            if (vf_addr_is_v4(&c->dst) == v4) d = c;
        }
        r.dst = d ? d->dst : s->dst;
        r.sport = R[pick(seed, i, S_SPORT, 0, n)].sport;
        r.dport = R[pick(seed, i, S_DPORT, 0, n)].dport;
        r.proto = R[pick(seed, i, S_PROTO, 0, n)].proto;
        r.ttl = R[pick(seed, i, S_TTL, 0, n)].ttl;
        r.tos = R[pick(seed, i, S_TOS, 0, n)].tos;
        r.tcp_flags = R[pick(seed, i, S_FLAGS, 0, n)].tcp_flags;
        const vf_record *fr = &R[pick(seed, i, S_FRAG, 0, n)];
        r.frag_flags = fr->frag_flags; /* flags and offset describe one fragment */
        r.frag_off = fr->frag_off;
        r.ip_id = R[pick(seed, i, S_IPID, 0, n)].ip_id;
        r.label = R[pick(seed, i, S_LABEL, 0, n)].label;
        if (packets) {
            r.length = R[pick(seed, i, S_LEN, 0, n)].length;
            r.pkts = 1;
            r.bytes = r.length;
        } else {
            r.pkts = R[pick(seed, i, S_PKTS, 0, n)].pkts;
            r.bytes = R[pick(seed, i, S_BYTES, 0, n)].bytes;
        }
        st = vf_trace_append(out, &r);
    }
    if (st != VF_OK) {
        vf_trace_free(out);
        return st;
    }
    qsort(out->recs, out->n, sizeof *out->recs, cmp_rec);
    return VF_OK;
}

/* ------------------------------------------------------ DP marginals */

/* Philox stream ids of the DP marginals: noise of release r uses stream
 * S_DP_NOISE + r, draws of output field f stream S_DP_DRAW + f. */
enum { S_DP_NOISE = 0x0D90, S_DP_DRAW = 0x0DA0 };

/* Releases, in this order (their index is the noise stream). */
enum {
    R_COUNT = 0, R_TS, R_SRC /* 4 levels */, R_DST = R_SRC + 4, R_SPORT = R_DST + 4 /* 2 levels */,
    R_DPORT = R_SPORT + 2, R_PROTO = R_DPORT + 2, R_DUR, R_PKTS, R_BYTES, R_LEN, R_LABEL
};

int vf_baseline_marginals_dp_releases(vf_trace_kind kind, int n_labels) {
    /* count, ts, src x4, dst x4, sport x2, dport x2, proto = 15; flows: dur,
     * pkts, bytes (+ label); packets: length */
    return 15 + (kind == VF_TRACE_PACKETS ? 1 : 3 + (n_labels > 0));
}

int vf_dp_loglin_bin(uint64_t v) {
    if (v < 32) return (int)v;
    if (v >> 49) v = ((uint64_t)1 << 49) - 1;
    int e = 63 - __builtin_clzll(v);   /* 5..48 */
    return 32 + (e - 5) * 16 + (int)((v >> (e - 4)) & 15);
}

void vf_dp_loglin_range(int bin, uint64_t *lo, uint64_t *hi) {
    if (bin < 32) {
        *lo = *hi = (uint64_t)bin;
        return;
    }
    int e = 5 + (bin - 32) / 16, m = (bin - 32) % 16;
    *lo = (uint64_t)(16 + m) << (e - 4);
    *hi = *lo + ((uint64_t)1 << (e - 4)) - 1;
}

/* N(0, 1) for (release, index): Box-Muller on one Philox block. */
static double dp_gauss(uint64_t seed, uint32_t release, uint64_t index) {
    uint32_t ctr[4] = {(uint32_t)index, (uint32_t)(index >> 32), S_DP_NOISE + release, 0}, w[4];
    vf_philox4x32_10(ctr, (uint32_t)seed ^ 0x9E3779B9u, (uint32_t)(seed >> 32), w);
    double u1 = ((((uint64_t)w[0] << 21) ^ w[1]) & ((1ull << 53) - 1)) * 0x1p-53;
    double u2 = ((((uint64_t)w[2] << 21) ^ w[3]) & ((1ull << 53) - 1)) * 0x1p-53;
    return sqrt(-2 * log1p(-u1)) * cos(2 * M_PI * u2);
}

/* Uniform in [0, 1) for output record i, field f, try t. */
static double dp_unif(uint64_t seed, size_t i, uint32_t f, uint32_t t) {
    uint32_t ctr[4] = {(uint32_t)i, (uint32_t)((uint64_t)i >> 32), S_DP_DRAW + f, t}, w[4];
    vf_philox4x32_10(ctr, (uint32_t)seed, (uint32_t)(seed >> 32), w);
    return ((((uint64_t)w[0] << 21) ^ w[1]) & ((1ull << 53) - 1)) * 0x1p-53;
}

static uint64_t dp_bits(uint64_t seed, size_t i, uint32_t f, uint32_t t) {
    uint32_t ctr[4] = {(uint32_t)i, (uint32_t)((uint64_t)i >> 32), S_DP_DRAW + f, t | 0x80000000u}, w[4];
    vf_philox4x32_10(ctr, (uint32_t)seed, (uint32_t)(seed >> 32), w);
    return ((uint64_t)w[0] << 32) | w[1];
}

typedef struct dp_ctx {
    uint64_t seed;
    double std, thr;   /* noise std per count; counts below thr become 0 */
} dp_ctx;

/* counts[0..n) += noise of (release, base + b), then threshold; turned into
 * a cumulative array cum[0..n) (cum[n-1] = total kept). */
static void dp_release(const dp_ctx *c, uint32_t release, uint64_t base, double *cnt, int n) {
    double run = 0;
    for (int b = 0; b < n; b++) {
        double v = cnt[b] + c->std * dp_gauss(c->seed, release, base + (uint64_t)b);
        if (!(v >= c->thr) || v <= 0) v = 0;
        run += v;
        cnt[b] = run;
    }
}

/* Index drawn from a cumulative array with weight; -1 when all zero. */
static int dp_pick(const double *cum, int n, double u) {
    if (!(cum[n - 1] > 0)) return -1;
    double x = u * cum[n - 1];
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (cum[mid] > x) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

/* A top-down histogram of a bits-wide value by octets (addresses: 32 bits, 4
 * levels; ports: 16 bits, 2 levels). Level 0 has 256 bins (+ `extra` bins
 * counted elsewhere: IPv6); level l > 0 has one node of 256 bins for each
 * prefix of 8l bits whose bin survived at level l - 1. */
typedef struct dp_node {
    uint32_t prefix;     /* the top 8l bits */
    double cum[256];
} dp_node;

typedef struct dp_tree {
    int levels, bits;
    double root[257];    /* cumulative; [256]: the extra bin when present */
    int root_bins;
    dp_node *lvl[4];     /* lvl[l], l >= 1, sorted by prefix */
    size_t n[4];
} dp_tree;

static void dp_tree_free(dp_tree *t) {
    for (int l = 0; l < 4; l++) free(t->lvl[l]);
    memset(t, 0, sizeof *t);
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* v[0..nv) sorted; extra: the count of the extra root bin (-1: none). */
static vf_status dp_tree_build(const dp_ctx *c, uint32_t release, int bits, const uint32_t *v, size_t nv,
                               double extra, dp_tree *t) {
    memset(t, 0, sizeof *t);
    t->bits = bits;
    t->levels = bits / 8;
    t->root_bins = extra >= 0 ? 257 : 256;
    memset(t->root, 0, sizeof t->root);
    for (size_t i = 0; i < nv; i++) t->root[v[i] >> (bits - 8)] += 1;
    if (extra >= 0) t->root[256] = extra;
    dp_release(c, release, 0, t->root, t->root_bins);
    for (int l = 1; l < t->levels; l++) {
        /* the surviving bins of level l - 1, in prefix order */
        size_t cap = 0, n = 0;
        dp_node *nodes = NULL;
        size_t np = l == 1 ? 1 : t->n[l - 1];
        for (size_t p = 0; p < np; p++) {
            const double *pc = l == 1 ? t->root : t->lvl[l - 1][p].cum;
            uint32_t pprefix = l == 1 ? 0 : t->lvl[l - 1][p].prefix;
            for (int b = 0; b < 256; b++) {
                if (!(pc[b] > (b ? pc[b - 1] : 0))) continue;
                if (n == cap) {
                    cap = cap ? 2 * cap : 64;
                    dp_node *g = realloc(nodes, cap * sizeof *nodes);
                    if (!g) {
                        free(nodes);
                        dp_tree_free(t);
                        return vf_fail(VF_ERR_OOM, "baseline marginals --epsilon: out of memory");
                    }
                    nodes = g;
                }
                dp_node *nd = &nodes[n++];
                nd->prefix = (pprefix << 8) | (uint32_t)b;
                memset(nd->cum, 0, sizeof nd->cum);
                /* the values under this prefix: a range of the sorted v */
                int shift = bits - 8 * l;
                uint32_t lo_v = nd->prefix << shift;
                size_t lo = 0, hi = nv;
                while (lo < hi) {
                    size_t mid = (lo + hi) / 2;
                    if (v[mid] < lo_v) lo = mid + 1;
                    else hi = mid;
                }
                for (size_t i = lo; i < nv && (v[i] >> shift) == nd->prefix; i++)
                    nd->cum[(v[i] >> (shift - 8)) & 255] += 1;
                dp_release(c, release + (uint32_t)l, (uint64_t)nd->prefix << 8, nd->cum, 256);
            }
        }
        t->lvl[l] = nodes;
        t->n[l] = n;
    }
    return VF_OK;
}

static const dp_node *dp_find(const dp_tree *t, int l, uint32_t prefix) {
    size_t lo = 0, hi = t->n[l];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t->lvl[l][mid].prefix < prefix) lo = mid + 1;
        else hi = mid;
    }
    return lo < t->n[l] && t->lvl[l][lo].prefix == prefix ? &t->lvl[l][lo] : NULL;
}

/* A value drawn top-down from root bin b0: at each level the child by its
 * noisy counts, and uniform bits below the last level that has any. */
static uint32_t dp_tree_draw(const dp_tree *t, int b0, uint64_t seed, size_t i, uint32_t f) {
    uint32_t prefix = (uint32_t)b0;
    int l = 1;
    for (; l < t->levels; l++) {
        const dp_node *nd = dp_find(t, l, prefix);
        int b = nd ? dp_pick(nd->cum, 256, dp_unif(seed, i, f, (uint32_t)l)) : -1;
        if (b < 0) break;
        prefix = (prefix << 8) | (uint32_t)b;
    }
    int rest = t->bits - 8 * l;
    if (rest <= 0) return prefix;
    uint32_t low = (uint32_t)dp_bits(seed, i, f, 0) & (uint32_t)((1ull << rest) - 1);
    return (prefix << rest) | low;
}

/* The log-linear and equal-width histograms (one level). */
typedef struct dp_hist {
    double cum[VF_DP_LOGLIN_BINS > 257 ? VF_DP_LOGLIN_BINS : 257];
    int n;
} dp_hist;

static uint64_t dp_loglin_draw(const dp_hist *h, uint64_t seed, size_t i, uint32_t f) {
    int b = dp_pick(h->cum, h->n, dp_unif(seed, i, f, 0));
    if (b < 0) return 0;
    uint64_t lo, hi;
    vf_dp_loglin_range(b, &lo, &hi);
    return lo + dp_bits(seed, i, f, 1) % (hi - lo + 1);
}

/* Hash of the 5-tuple and record index, for the per-flow bound. */
typedef struct dp_key { uint64_t h; size_t i; } dp_key;

static int cmp_dp_key(const void *a, const void *b) {
    const dp_key *x = a, *y = b;
    if (x->h != y->h) return x->h < y->h ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

#define DP_TS_BINS 256

vf_status vf_baseline_marginals_dp(const vf_trace *real, const vf_dp_marginals_opts *opt, uint64_t seed,
                                   vf_trace *out, vf_dp_marginals_info *info) {
    if (!real || !opt || !out) return vf_fail(VF_ERR_ARG, "baseline marginals --epsilon: NULL argument");
    if (!(opt->sigma > 0) || isinf(opt->sigma))
        return vf_fail(VF_ERR_ARG, "baseline marginals --epsilon: noise multiplier must be > 0, not %g", opt->sigma);
    if (opt->max_records_per_unit < 0)
        return vf_fail(VF_ERR_ARG, "baseline marginals --epsilon: records per flow must be >= 1, not %d",
                       opt->max_records_per_unit);
    if (!(opt->threshold >= 0))
        return vf_fail(VF_ERR_ARG, "baseline marginals --epsilon: threshold must be >= 0, not %g", opt->threshold);
    if (real->n == 0) return vf_fail(VF_ERR_ARG, "baseline marginals --epsilon: the real trace has no records");
    bool packets = real->kind == VF_TRACE_PACKETS;
    int n_lab = packets || !opt->labels ? 0 : opt->n_labels;
    int M = opt->max_records_per_unit ? opt->max_records_per_unit : 1;
    dp_ctx c = {seed, M * opt->sigma, opt->threshold * M * opt->sigma};

    /* The records used: all (unit = record), or the first M of each 5-tuple
     * in file order (unit = flow; two 5-tuples whose 64-bit hashes collide
     * share one bound, which only drops records). */
    size_t n = real->n, nu = 0;
    size_t *use = malloc(n * sizeof *use);
    dp_key *keys = opt->max_records_per_unit ? malloc(n * sizeof *keys) : NULL;
    uint32_t *sa = malloc(n * sizeof *sa), *da = malloc(n * sizeof *da);
    uint32_t *sp = malloc(n * sizeof *sp), *dpo = malloc(n * sizeof *dpo);
    dp_hist *h = calloc(6, sizeof *h); /* ts, proto, dur, pkts, bytes|len, label */
    dp_tree ts_src = {0}, ts_dst = {0}, ts_sp = {0}, ts_dp = {0};
    vf_status st = VF_OK;
    if (!use || (opt->max_records_per_unit && !keys) || !sa || !da || !sp || !dpo || !h) {
        st = vf_fail(VF_ERR_OOM, "baseline marginals --epsilon: out of memory (%zu records)", n);
        goto done;
    }
    if (keys) {
        for (size_t i = 0; i < n; i++) {
            uint8_t key[VF_KEY_TUPLE];
            vf_key_tuple(&real->recs[i], key);
            keys[i] = (dp_key){vf_eval_hash(key, VF_KEY_TUPLE), i};
        }
        qsort(keys, n, sizeof *keys, cmp_dp_key);
        int run = 0;
        for (size_t i = 0; i < n; i++) {
            run = i && keys[i].h == keys[i - 1].h ? run + 1 : 0;
            if (run < M) use[nu++] = keys[i].i;
        }
    } else {
        for (size_t i = 0; i < n; i++) use[nu++] = i;
    }

    /* public time window */
    int64_t t0 = opt->t_start_ns, t1 = opt->t_end_ns;
    if (t1 <= t0) {
        t0 = t1 = real->recs[0].ts_ns;
        for (size_t i = 0; i < n; i++) {
            if (real->recs[i].ts_ns < t0) t0 = real->recs[i].ts_ns;
            if (real->recs[i].ts_ns > t1) t1 = real->recs[i].ts_ns;
        }
        if (t1 == t0) t1 = t0 + 1;
    }
    double span = (double)(t1 - t0);

    /* counts */
    size_t ns = 0, nd = 0;
    double src6 = 0, dst6 = 0;
    h[0].n = DP_TS_BINS;
    h[1].n = 256;
    h[2].n = h[3].n = h[4].n = VF_DP_LOGLIN_BINS;
    h[5].n = n_lab + 1;
    for (size_t k = 0; k < nu; k++) {
        const vf_record *r = &real->recs[use[k]];
        if (vf_addr_is_v4(&r->src)) sa[ns++] = vf_addr_v4(&r->src);
        else src6 += 1;
        if (vf_addr_is_v4(&r->dst)) da[nd++] = vf_addr_v4(&r->dst);
        else dst6 += 1;
        sp[k] = r->sport;
        dpo[k] = r->dport;
        double x = ((double)(r->ts_ns - t0)) / span * DP_TS_BINS;
        int tb = x < 0 ? 0 : x >= DP_TS_BINS ? DP_TS_BINS - 1 : (int)x;
        h[0].cum[tb] += 1;
        h[1].cum[r->proto] += 1;
        if (packets) {
            h[4].cum[vf_dp_loglin_bin(r->length)] += 1;
        } else {
            h[2].cum[vf_dp_loglin_bin(r->dur_ns < 0 ? 0 : (uint64_t)r->dur_ns)] += 1;
            h[3].cum[vf_dp_loglin_bin(r->pkts)] += 1;
            h[4].cum[vf_dp_loglin_bin(r->bytes)] += 1;
            if (n_lab) {
                int lb = n_lab; /* not a listed label */
                if (r->label >= 0 && r->label < real->n_labels)
                    for (int j = 0; j < n_lab; j++)
                        if (!strcmp(real->labels[r->label], opt->labels[j])) lb = j;
                h[5].cum[lb] += 1;
            }
        }
    }
    qsort(sa, ns, sizeof *sa, cmp_u32);
    qsort(da, nd, sizeof *da, cmp_u32);
    qsort(sp, nu, sizeof *sp, cmp_u32);
    qsort(dpo, nu, sizeof *dpo, cmp_u32);

    /* releases */
    double noisy_n = (double)nu + c.std * dp_gauss(seed, R_COUNT, 0);
    dp_release(&c, R_TS, 0, h[0].cum, h[0].n);
    dp_release(&c, R_PROTO, 0, h[1].cum, h[1].n);
    if (packets) {
        dp_release(&c, R_LEN, 0, h[4].cum, h[4].n);
    } else {
        dp_release(&c, R_DUR, 0, h[2].cum, h[2].n);
        dp_release(&c, R_PKTS, 0, h[3].cum, h[3].n);
        dp_release(&c, R_BYTES, 0, h[4].cum, h[4].n);
        if (n_lab) dp_release(&c, R_LABEL, 0, h[5].cum, h[5].n);
    }
    if ((st = dp_tree_build(&c, R_SRC, 32, sa, ns, src6, &ts_src)) != VF_OK ||
        (st = dp_tree_build(&c, R_DST, 32, da, nd, dst6, &ts_dst)) != VF_OK ||
        (st = dp_tree_build(&c, R_SPORT, 16, sp, nu, -1, &ts_sp)) != VF_OK ||
        (st = dp_tree_build(&c, R_DPORT, 16, dpo, nu, -1, &ts_dp)) != VF_OK)
        goto done;
    if (info) {
        info->releases = vf_baseline_marginals_dp_releases(real->kind, n_lab);
        info->noise_std = c.std;
        info->records_used = nu;
        info->noisy_count = noisy_n;
        info->t_start_ns = t0;
        info->t_end_ns = t1;
    }

    /* sampling: from here on only the noisy counts are read */
    st = like(real, out);
    if (st != VF_OK) goto done;
    /* labels of the output: the public vocabulary only, in its order */
    for (int i = 0; i < out->n_labels; i++) free(out->labels[i]);
    free(out->labels);
    out->labels = NULL;
    out->n_labels = 0;
    for (int j = 0; j < n_lab && st == VF_OK; j++)
        if (vf_trace_label(out, opt->labels[j]) < 0)
            st = vf_fail(VF_ERR_OOM, "baseline marginals --epsilon: out of memory");
    size_t n_out = noisy_n >= 0.5 ? (size_t)llround(noisy_n) : 0;
    for (size_t i = 0; i < n_out && st == VF_OK; i++) {
        vf_record r;
        memset(&r, 0, sizeof r);
        r.label = -1;
        int tb = dp_pick(h[0].cum, h[0].n, dp_unif(seed, i, S_TS, 0));
        double tx = tb < 0 ? dp_unif(seed, i, S_TS, 1) * DP_TS_BINS : tb + dp_unif(seed, i, S_TS, 1);
        r.ts_ns = t0 + (int64_t)(tx / DP_TS_BINS * span);
        /* source: its family decides the destination's */
        int sb = dp_pick(ts_src.root, 257, dp_unif(seed, i, S_SRC, 0));
        if (sb < 0) sb = (int)(dp_unif(seed, i, S_SRC, 9) * 256);
        bool v6 = sb == 256;
        int db;
        if (v6) {
            db = 256;
        } else {
            db = dp_pick(ts_dst.root, 256, dp_unif(seed, i, S_DST, 0));
            if (db < 0) db = (int)(dp_unif(seed, i, S_DST, 9) * 256);
        }
        if (v6) {
            /* documentation prefix 2001:db8::/32, random low 96 bits */
            for (int a = 0; a < 2; a++) {
                vf_addr *ad = a ? &r.dst : &r.src;
                uint64_t x = dp_bits(seed, i, a ? S_DST : S_SRC, 2), y = dp_bits(seed, i, a ? S_DST : S_SRC, 3);
                ad->b[0] = 0x20; ad->b[1] = 0x01; ad->b[2] = 0x0d; ad->b[3] = 0xb8;
                for (int k = 0; k < 4; k++) ad->b[4 + k] = (uint8_t)(x >> (8 * k));
                for (int k = 0; k < 8; k++) ad->b[8 + k] = (uint8_t)(y >> (8 * k));
            }
            r.ip_version = 6;
        } else {
            vf_addr_from_v4(&r.src, dp_tree_draw(&ts_src, sb, seed, i, S_SRC));
            vf_addr_from_v4(&r.dst, dp_tree_draw(&ts_dst, db, seed, i, S_DST));
            r.ip_version = 4;
        }
        int pb = dp_pick(ts_sp.root, 256, dp_unif(seed, i, S_SPORT, 0));
        r.sport = (uint16_t)dp_tree_draw(&ts_sp, pb < 0 ? (int)(dp_unif(seed, i, S_SPORT, 9) * 256) : pb, seed, i,
                                         S_SPORT);
        pb = dp_pick(ts_dp.root, 256, dp_unif(seed, i, S_DPORT, 0));
        r.dport = (uint16_t)dp_tree_draw(&ts_dp, pb < 0 ? (int)(dp_unif(seed, i, S_DPORT, 9) * 256) : pb, seed, i,
                                         S_DPORT);
        int prb = dp_pick(h[1].cum, 256, dp_unif(seed, i, S_PROTO, 0));
        r.proto = (uint8_t)(prb < 0 ? 6 : prb);
        r.ttl = 64;
        if (packets) {
            r.length = (uint32_t)dp_loglin_draw(&h[4], seed, i, S_LEN);
            if (r.length > 65535) r.length = 65535;
            r.pkts = 1;
            r.bytes = r.length;
        } else {
            uint64_t d = dp_loglin_draw(&h[2], seed, i, S_DUR);
            r.dur_ns = d > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)d;
            r.pkts = dp_loglin_draw(&h[3], seed, i, S_PKTS);
            r.bytes = dp_loglin_draw(&h[4], seed, i, S_BYTES);
            if (n_lab) {
                int lb = dp_pick(h[5].cum, h[5].n, dp_unif(seed, i, S_LABEL, 0));
                r.label = lb >= 0 && lb < n_lab ? lb : -1;
            }
        }
        st = vf_trace_append(out, &r);
    }
    if (st != VF_OK) vf_trace_free(out);
    else qsort(out->recs, out->n, sizeof *out->recs, cmp_rec);
done:
    dp_tree_free(&ts_src);
    dp_tree_free(&ts_dst);
    dp_tree_free(&ts_sp);
    dp_tree_free(&ts_dp);
    free(use);
    free(keys);
    free(sa);
    free(da);
    free(sp);
    free(dpo);
    free(h);
    return st;
}
