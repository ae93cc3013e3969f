/* Carried gaps (`carried_gaps = "training"` in the data group; docs/TRACES.md,
 * "Carried gaps"): after decoding, the gap between a flow's part in one chunk
 * and its next part in a later chunk is the training's, given by rank of the
 * gap the chunks' models made.
 *
 * Why a step of its own: NetShare's merge gives a flow carried into a later
 * chunk the start time that chunk's model generated for a continuing flow, a
 * time somewhere in that chunk's window. So the gap from the flow's last
 * record before is spread over the chunks in between plus a window, where
 * the training's may be one value: the enterprise capture's 5-tuples recur
 * 2,610-2,630 s later (its measurement rounds), and the synthetic trace had
 * them from 2,000 to 3,200 s. These gaps are the far tail of the within-flow
 * gaps, which is most of that metric's EMD. */
#include "encode.h"
#include "encode_internal.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------- fit */

vf_status vf_enc_fit_xgapq(vf_encoder *e, int64_t *gaps, size_t n) {
    free(e->xgapq);
    e->n_xgapq = VF_XGAP_BINS + 1;
    if (!(e->xgapq = malloc((size_t)e->n_xgapq * sizeof *e->xgapq))) return vf_fail(VF_ERR_OOM, "encoder: out of memory");
    vf_enc_knots_i64(gaps, n, VF_XGAP_BINS, e->xgapq); /* no flow in two chunks: all 0 */
    return VF_OK;
}

/* ---------------------------------------------------------------- decode */

/* The training gap at quantile u in [0, 1]: linear between knots. */
static int64_t xgap_at(const vf_encoder *e, double u) {
    double s = u * VF_XGAP_BINS;
    int j = (int)s;
    if (j >= VF_XGAP_BINS) return (int64_t)e->xgapq[VF_XGAP_BINS];
    double f = s - j;
    return (int64_t)(e->xgapq[j] + f * (e->xgapq[j + 1] - e->xgapq[j]) + 0.5);
}

/* A part of a flow in one chunk: its records t->recs[begin, end). */
typedef struct xg_part {
    size_t begin, end;
    int c;
    int64_t id;
    bool carried;   /* the flow has a part in an earlier chunk */
    int64_t gap;    /* carried: from the flow's last record before (the model's; negative when the
                     * model put the part before it ends) */
    int64_t target; /* carried: the training gap it gets */
} xg_part;

/* The first and last times of records [begin, end). */
static void part_span(const vf_trace *t, size_t begin, size_t end, int64_t *first, int64_t *last) {
    *first = *last = t->recs[begin].ts_ns;
    for (size_t k = begin + 1; k < end; k++) {
        if (t->recs[k].ts_ns < *first) *first = t->recs[k].ts_ns;
        if (t->recs[k].ts_ns > *last) *last = t->recs[k].ts_ns;
    }
}

/* By the model's gap, then flow id, then chunk: the rank order. */
static int part_by_gap(const void *a, const void *b) {
    const xg_part *x = *(const xg_part *const *)a, *y = *(const xg_part *const *)b;
    if (x->gap != y->gap) return x->gap < y->gap ? -1 : 1;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return (x->c > y->c) - (x->c < y->c);
}

vf_status vf_carried_gaps(const vf_encoder *enc, vf_trace *t, const size_t *from, const int64_t *rec_id,
                          vf_carried_gaps_stats *stats) {
    memset(stats, 0, sizeof *stats);
    if (!enc->xgapq) return VF_OK;
    const int N = enc->n_chunks;
    if (from[N] > t->n) return vf_fail(VF_ERR_ARG, "carried gaps: %zu records, chunks end at %zu", t->n, from[N]);
    stats->applied = true;
    /* the parts, chunk by chunk: runs of one flow id (vf_decode and
     * vf_flow_lengths write a row's records together) */
    size_t n_parts = 0;
    int64_t n_ids = 1;
    for (int c = 0; c < N; c++)
        for (size_t i = from[c]; i < from[c + 1]; i++) {
            n_parts += i == from[c] || rec_id[i] != rec_id[i - 1];
            if (rec_id[i] < 0) return vf_fail(VF_ERR_ARG, "carried gaps: record %zu has flow id %lld", i, (long long)rec_id[i]);
            if (rec_id[i] >= n_ids) n_ids = rec_id[i] + 1;
        }
    xg_part *part = malloc((n_parts ? n_parts : 1) * sizeof *part);
    xg_part **carried = malloc((n_parts ? n_parts : 1) * sizeof *carried);
    int64_t *last = malloc((size_t)n_ids * sizeof *last); /* per flow: its last record's time so far */
    bool *seen = calloc((size_t)n_ids, sizeof *seen);     /* per flow: a part so far */
    if (!part || !carried || !last || !seen) {
        free(part), free(carried), free(last), free(seen);
        return vf_fail(VF_ERR_OOM, "carried gaps: out of memory (%zu parts)", n_parts);
    }
    size_t p = 0, n_carried = 0;
    for (int c = 0; c < N; c++)
        for (size_t i = from[c]; i < from[c + 1];) {
            size_t j = i + 1;
            while (j < from[c + 1] && rec_id[j] == rec_id[i]) j++;
            int64_t id = rec_id[i], first, end;
            part_span(t, i, j, &first, &end);
            part[p] = (xg_part){i, j, c, id, seen[id], seen[id] ? first - last[id] : 0, 0};
            if (seen[id]) carried[n_carried++] = &part[p];
            seen[id] = true;
            last[id] = end;
            p++;
            i = j;
        }
    /* the model's gaps ranked onto the training's quantiles */
    qsort(carried, n_carried, sizeof *carried, part_by_gap);
    for (size_t r = 0; r < n_carried; r++) carried[r]->target = xgap_at(enc, ((double)r + 0.5) / (double)n_carried);
    /* chunk by chunk (a flow's part before has moved already): each carried
     * part moves whole so that it begins its target after the flow's last
     * record before, inside its chunk's window */
    for (size_t q = 0; q < n_parts; q++) {
        xg_part *x = &part[q];
        int64_t first, end;
        part_span(t, x->begin, x->end, &first, &end);
        if (x->carried) { /* its flow's part before has moved already (chunk order): last[] is its end */
            /* the window [lo, hi] of shifts; a part wider than its window begins with it */
            int64_t want = last[x->id] + x->target - first, shift = want;
            int64_t lo = enc->chunk_begin[x->c] - first, hi = enc->chunk_begin[x->c + 1] - 1 - end;
            if (shift > hi) shift = hi;
            if (shift < lo) shift = lo;
            stats->clamped += shift != want;
            for (size_t k = x->begin; k < x->end; k++) t->recs[k].ts_ns += shift;
            stats->parts++;
            stats->moved += shift != 0;
            end += shift;
        }
        last[x->id] = end;
    }
    free(part), free(carried), free(last), free(seen);
    return VF_OK;
}
