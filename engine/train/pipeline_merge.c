/* Generation's bookkeeping after sampling: NetShare's merge by flow tags,
 * per-chunk time-window truncation and the final sort by time. Free of any
 * model code so it can be tested on hand-built chunks. */
#include "train/pipeline.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ merge, window */

static bool hot(const float *pair) { return pair[1] > pair[0]; }

static bool has_time_field(const vf_encoder *enc) {
    for (int i = 0; i < enc->n_fields; i++)
        if (enc->fields[i].field == VF_F_TIME) return true;
    return false;
}

vf_status vf_merge_flow_tags(const vf_encoder *enc, const vf_encoded *gen, int N, vf_encoded **out) {
    *out = NULL;
    if (N < 1 || N != enc->n_chunks)
        return vf_fail(VF_ERR_ARG, "merge: %d chunks, the encoder has %d", N, enc->n_chunks);
    if (enc->attr_dim < 1 || enc->max_len < 1 || enc->feat_dim < 0)
        return vf_fail(VF_ERR_ARG, "merge: encoder shapes attr %d, len %d, feat %d", enc->attr_dim, enc->max_len,
                       enc->feat_dim);
    int A = enc->attr_dim, T = enc->max_len, F = enc->feat_dim;
    int tags = A - 2 * (N + 1); /* start flag, then presence per chunk (engine/trace/encode.c) */
    if (tags < 0) return vf_fail(VF_ERR_ARG, "merge: attribute width %d has no room for %d chunks' flow tags", A, N);
    int time_col = has_time_field(enc) ? tags - 1 : -1;
    for (int c = 0; c < N; c++)
        if (gen[c].n_flows < 0 || (gen[c].n_flows && (gen[c].attr_dim != A || gen[c].max_len != T ||
                                                      gen[c].feat_dim != F || !gen[c].attr || !gen[c].feat ||
                                                      !gen[c].gen_flag)))
            return vf_fail(VF_ERR_ARG, "merge: generated chunk %d does not match the encoder (attr %d/%d, len %d/%d, "
                           "feat %d/%d)", c, gen[c].attr_dim, A, gen[c].max_len, T, gen[c].feat_dim, F);
    vf_encoded *m = calloc((size_t)N, sizeof *m);
    int64_t *count = calloc((size_t)N, sizeof *count);
    vf_status st = VF_OK;
    if (!m || !count) { st = vf_fail(VF_ERR_OOM, "merge: out of memory"); goto fail; }
    /* sizes: kept rows, plus rows carried in from earlier chunks */
    for (int i = 0; i < N; i++)
        for (int r = 0; r < gen[i].n_flows; r++) {
            const float *a = gen[i].attr + (size_t)r * (size_t)A;
            if (!hot(a + tags) || !hot(a + tags + 2 + 2 * i)) continue;
            count[i]++;
            for (int j = i + 1; j < N; j++)
                if (hot(a + tags + 2 + 2 * j) && gen[j].n_flows > 0) count[j]++;
        }
    for (int j = 0; j < N; j++) {
        m[j].chunk = j;
        m[j].attr_dim = A;
        m[j].max_len = T;
        m[j].feat_dim = F;
        if (count[j] < 0 || count[j] > INT_MAX) { st = vf_fail(VF_ERR_ARG, "merge: chunk %d gets too many flows", j); goto fail; }
        size_t n = count[j] ? (size_t)count[j] : 1;
        m[j].attr = calloc(n * (size_t)A, sizeof(float));
        m[j].feat = calloc(n * (size_t)T * (size_t)(F ? F : 1), sizeof(float));
        m[j].gen_flag = calloc(n * (size_t)T, sizeof(float));
        if (!m[j].attr || !m[j].feat || !m[j].gen_flag) { st = vf_fail(VF_ERR_OOM, "merge: out of memory"); goto fail; }
    }
    /* kept rows, verbatim */
    for (int i = 0; i < N; i++)
        for (int r = 0; r < gen[i].n_flows; r++) {
            const float *a = gen[i].attr + (size_t)r * (size_t)A;
            if (!hot(a + tags) || !hot(a + tags + 2 + 2 * i)) continue;
            size_t w = (size_t)m[i].n_flows++;
            memcpy(m[i].attr + w * (size_t)A, a, (size_t)A * sizeof(float));
            memcpy(m[i].feat + w * (size_t)T * (size_t)F, gen[i].feat + (size_t)r * (size_t)T * (size_t)F,
                   (size_t)T * (size_t)F * sizeof(float));
            memcpy(m[i].gen_flag + w * (size_t)T, gen[i].gen_flag + (size_t)r * (size_t)T, (size_t)T * sizeof(float));
        }
    /* carried rows: the earlier chunk's 5-tuple and tags, this chunk's continuation */
    for (int j = 1; j < N; j++) {
        if (gen[j].n_flows == 0) continue;
        int next_donor = 0, cyclic = 0;
        for (int i = 0; i < j; i++)
            for (int r = 0; r < gen[i].n_flows; r++) {
                const float *a = gen[i].attr + (size_t)r * (size_t)A;
                if (!hot(a + tags) || !hot(a + tags + 2 + 2 * i) || !hot(a + tags + 2 + 2 * j)) continue;
                int d = -1;
                while (next_donor < gen[j].n_flows) {
                    int k = next_donor++;
                    if (!hot(gen[j].attr + (size_t)k * (size_t)A + tags)) { d = k; break; }
                }
                if (d < 0) d = cyclic++ % gen[j].n_flows;
                size_t w = (size_t)m[j].n_flows++;
                float *dst = m[j].attr + w * (size_t)A;
                const float *don = gen[j].attr + (size_t)d * (size_t)A;
                memcpy(dst, a, (size_t)A * sizeof(float));
                dst[tags] = 1;       /* start flag cleared: the flow began earlier */
                dst[tags + 1] = 0;
                if (time_col >= 0) dst[time_col] = don[time_col];
                memcpy(m[j].feat + w * (size_t)T * (size_t)F, gen[j].feat + (size_t)d * (size_t)T * (size_t)F,
                       (size_t)T * (size_t)F * sizeof(float));
                memcpy(m[j].gen_flag + w * (size_t)T, gen[j].gen_flag + (size_t)d * (size_t)T,
                       (size_t)T * sizeof(float));
            }
    }
    free(count);
    *out = m;
    return VF_OK;
fail:
    free(count);
    vf_encoded_free(m, m ? N : 0);
    return st;
}

size_t vf_truncate_window(vf_trace *t, size_t from, int64_t begin, int64_t end) {
    size_t w = from;
    for (size_t i = from; i < t->n; i++)
        if (t->recs[i].ts_ns >= begin && t->recs[i].ts_ns < end) t->recs[w++] = t->recs[i];
    size_t removed = t->n - w;
    t->n = w;
    return removed;
}

typedef struct ts_idx { int64_t ts; size_t i; } ts_idx;
static int cmp_ts_idx(const void *a, const void *b) {
    const ts_idx *x = a, *y = b;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

vf_status vf_trace_sort_time(vf_trace *t) {
    if (t->n < 2) return VF_OK;
    ts_idx *k = malloc(t->n * sizeof *k);
    vf_record *r = malloc(t->n * sizeof *r);
    if (!k || !r) { free(k); free(r); return vf_fail(VF_ERR_OOM, "sort: out of memory (%zu records)", t->n); }
    for (size_t i = 0; i < t->n; i++) k[i] = (ts_idx){t->recs[i].ts_ns, i};
    qsort(k, t->n, sizeof *k, cmp_ts_idx); /* ties broken by index: stable */
    for (size_t i = 0; i < t->n; i++) r[i] = t->recs[k[i].i];
    memcpy(t->recs, r, t->n * sizeof *r);
    free(k);
    free(r);
    return VF_OK;
}

