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
