/* Flow spans (`flow_spans = "training"` in the data group; docs/TRACES.md,
 * "Flow spans"): how many chunks each generated flow is in follows the
 * training flows that begin in the same chunk, given by rank of the
 * model's presence tags.
 *
 * Why a step of its own: a small model's presence tags smear the spans
 * towards the middle. The training halves have a few 5-tuples in all ten
 * chunks (NTP, keep-alives) and the synthetic ones had none, with too many
 * in three to seven chunks instead; those long flows carry a protocol's or
 * a host's records, and records per 5-tuple sees them. The tags decide
 * which rows later chunks carry (NetShare's merge), so this runs on each
 * chunk as soon as its model generated it. */
#include "encode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A row that starts a flow: its index, the chunks the model put it in, and
 * the sum of its later presence margins (present - absent output). */
typedef struct span_row {
    int r, span;
    double margin;
} span_row;

/* Best-ranked first: the most chunks, then the largest margin sum, then row. */
static int by_model_span(const void *a, const void *b) {
    const span_row *x = a, *y = b;
    if (x->span != y->span) return x->span > y->span ? -1 : 1;
    if (x->margin != y->margin) return x->margin > y->margin ? -1 : 1;
    return (x->r > y->r) - (x->r < y->r);
}

/* A later chunk of one row, by its presence margin (largest first, then
 * the earlier chunk). */
typedef struct chunk_margin {
    int j;
    float m;
} chunk_margin;
static int by_margin(const void *a, const void *b) {
    const chunk_margin *x = a, *y = b;
    if (x->m != y->m) return x->m > y->m ? -1 : 1;
    return (x->j > y->j) - (x->j < y->j);
}

vf_status vf_flow_spans(const vf_encoder *e, vf_encoded *g, int c, int64_t *changed, int64_t *rows) {
    if (changed) *changed = 0;
    if (rows) *rows = 0;
    if (!e->fspan || g->n_flows == 0) return VF_OK;
    const int N = e->n_chunks, A = e->attr_dim, tags = A - 2 * (N + 1);
    if (c < 0 || c >= N || tags < 0 || g->attr_dim != A)
        return vf_fail(VF_ERR_ARG, "flow spans: chunk %d of %d, attribute width %d (the encoder %d)", c, N, g->attr_dim, A);
    const int64_t *h = e->fspan + (size_t)c * (size_t)N; /* h[s - 1]: training flows of s chunks */
    int64_t m = 0;
    for (int s = 1; s <= N - c; s++) m += h[s - 1];
    if (m == 0) return VF_OK;
    span_row *v = malloc((size_t)g->n_flows * sizeof *v);
    chunk_margin *later = malloc((size_t)N * sizeof *later);
    if (!v || !later) {
        free(v), free(later);
        return vf_fail(VF_ERR_OOM, "flow spans: out of memory (%d flows)", g->n_flows);
    }
    int M = 0;
    for (int r = 0; r < g->n_flows; r++) {
        const float *a = g->attr + (size_t)r * (size_t)A;
        if (!vf_row_starts_flow(a, tags, c)) continue;
        span_row x = {r, 1, 0};
        for (int j = c + 1; j < N; j++) {
            float mj = a[tags + 3 + 2 * j] - a[tags + 2 + 2 * j];
            x.span += mj > 0;
            x.margin += mj == mj ? mj : 0;
        }
        v[M++] = x;
    }
    qsort(v, (size_t)M, sizeof *v, by_model_span);
    /* rank i (0 best) takes the training count of rank i at quantile (i + 1/2) m / M, counted from the largest */
    int s = N - c;
    int64_t below = m - h[s - 1]; /* training flows with fewer than s chunks */
    for (int i = 0; i < M; i++) {
        double q = ((double)i + 0.5) * (double)m / (double)M; /* from the largest down */
        while (s > 1 && q >= (double)(m - below)) below -= h[--s - 1];
        span_row *x = &v[i];
        float *a = g->attr + (size_t)x->r * (size_t)A;
        int n_later = 0;
        for (int j = c + 1; j < N; j++) {
            float mj = a[tags + 3 + 2 * j] - a[tags + 2 + 2 * j];
            later[n_later++] = (chunk_margin){j, mj == mj ? mj : -INFINITY};
        }
        qsort(later, (size_t)n_later, sizeof *later, by_margin);
        for (int k = 0; k < n_later; k++) {
            int j = later[k].j;
            bool present = k < s - 1;
            a[tags + 2 + 2 * j] = present ? 0.0f : 1.0f;
            a[tags + 3 + 2 * j] = present ? 1.0f : 0.0f;
        }
        if (changed) *changed += x->span != s;
    }
    if (rows) *rows = M;
    free(v), free(later);
    return VF_OK;
}
