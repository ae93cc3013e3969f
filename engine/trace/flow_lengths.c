/* Flow lengths (`flow_lengths = "training"` in the data group; docs/TRACES.md,
 * "Flow lengths"): after decoding, each chunk's generated flows have the
 * training flows' record counts in that chunk, given by rank of the model's
 * own lengths.
 *
 * Why a step of its own: the model sees at most max_flow_len records of a
 * flow in a chunk, so the longest flows are cut in training and cannot come
 * out longer; and a small model's lengths drift around the mode (a flow of 4
 * or 6 packets where nearly every real one has 5). Flow size and records per
 * 5-tuple are the metrics that see both. The training counts are kept uncut
 * (the encoder's per-chunk histogram); a flow given more records than the
 * model generated continues by repeating its own generated steps. */
#include "encode.h"
#include "encode_internal.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------- fit */

/* The histogram a segment or row belongs to: chunk c's, of its kind. */
static int hist_of(int c, int kind) { return c * VF_FLEN_KINDS + kind; }

static int by_hist_len(const void *a, const void *b) {
    const vf_chunk_len *x = a, *y = b;
    int hx = hist_of(x->c, x->kind), hy = hist_of(y->c, y->kind);
    if (hx != hy) return hx < hy ? -1 : 1;
    return (x->len > y->len) - (x->len < y->len);
}

vf_status vf_enc_fit_flen(vf_encoder *e, vf_chunk_len *v, size_t n) {
    vf_enc_free_flen(e);
    if (!(e->flen = calloc((size_t)e->n_chunks * VF_FLEN_KINDS, sizeof *e->flen)))
        return vf_fail(VF_ERR_OOM, "encoder: out of memory");
    qsort(v, n, sizeof *v, by_hist_len);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        int distinct = 0;
        while (j < n && v[j].c == v[i].c && v[j].kind == v[i].kind) {
            if (j == i || v[j].len != v[j - 1].len) distinct++;
            j++;
        }
        vf_len_hist *h = &e->flen[hist_of(v[i].c, v[i].kind)];
        h->len = malloc((size_t)distinct * sizeof *h->len);
        h->count = malloc((size_t)distinct * sizeof *h->count);
        if (!h->len || !h->count) return vf_fail(VF_ERR_OOM, "encoder: out of memory");
        for (size_t k = i; k < j; k++) {
            if (k == i || v[k].len != v[k - 1].len) {
                h->len[h->n] = v[k].len;
                h->count[h->n++] = 0;
            }
            h->count[h->n - 1]++;
        }
        i = j;
    }
    return VF_OK;
}

void vf_enc_free_flen(vf_encoder *e) {
    for (int c = 0; e->flen && c < e->n_chunks * VF_FLEN_KINDS; c++) {
        free(e->flen[c].len);
        free(e->flen[c].count);
    }
    free(e->flen);
    e->flen = NULL;
}

/* ---------------------------------------------------------------- decode */

/* A generated row of one chunk: its index, kind, rank score and flow id. */
typedef struct flen_row {
    int r, kind;
    double score;
    int64_t id;
} flen_row;

/* A kind (vf_flen_kind) is part * VF_FLEN_PROTOS + protocol class, the
 * part being whether the flow was carried in and goes on. */
#define VF_FLEN_PROTOS 3
static int part_of(int kind) { return kind / VF_FLEN_PROTOS; }
static int proto_of(int kind) { return kind % VF_FLEN_PROTOS; }

/* By part, then by score (ascending), then by row. */
static int row_by_part_score(const void *a, const void *b) {
    const flen_row *x = a, *y = b;
    if (part_of(x->kind) != part_of(y->kind)) return part_of(x->kind) < part_of(y->kind) ? -1 : 1;
    if (x->score != y->score) return x->score < y->score ? -1 : 1;
    return (x->r > y->r) - (x->r < y->r);
}

/* A merged row's kind in chunk c (its flow tags begin at column tags;
 * vf_row_starts_flow): carried from an earlier chunk (start flag clear),
 * present in a later one, and the protocol its records decoded to. */
static int row_kind(const float *a, int tags, int c, int n_chunks, uint8_t proto) {
    bool carried = !(a[tags + 1] > a[tags]), later = false;
    for (int k = c + 1; k < n_chunks; k++) later |= a[tags + 3 + 2 * k] > a[tags + 2 + 2 * k];
    return vf_flen_kind(carried, later, proto);
}

/* The n lengths len[0..n) (ascending) of a part whose m training flows
 * have R records, moved to add up to R. Why: the quantiles give n rows about n / m of the records, and
 * the model's rows of a part that crosses a chunk edge are not the
 * training's flows in number (UGR'16's chunk 4 had 15 rows for 31 flows,
 * of 535 records, that go on into the next chunk): UGR'16's trace had
 * 49,732 records for the training's 49,916, so its rare label's share was
 * off by more than the two halves' (type 4.9-6.3x the floor), and IoT-23's
 * 19,219 for 18,806 (3 rows took 2 flows' lengths, the longest twice).
 * Each length moves by len (R / sum - 1) rounded toward 0, to at least 1
 * (rounding the scaled lengths down made the enterprise capture's flows of
 * 5 packets 4 wherever a part was 2% off: flow size 1.8x the floor); what
 * is left goes one each to the longest, or is taken one each from the
 * first of the longest run. Every move has the difference's sign, and the
 * order is kept. With more rows than records, every row gets one. */
static void keep_part_records(int64_t *len, int n, int64_t R) {
    int64_t sum = 0;
    for (int e = 0; e < n; e++) sum += len[e];
    if (n == 0 || sum == R) return;
    if (R <= n) {
        for (int e = 0; e < n; e++) len[e] = 1;
        return;
    }
    const double f = (double)R / (double)sum - 1;
    int64_t moved = 0;
    for (int e = 0; e < n; e++) {
        int64_t to = len[e] + (int64_t)((double)len[e] * f); /* the cast rounds toward 0 */
        if (to < 1) to = 1;
        moved += to - len[e];
        len[e] = to;
    }
    sum += moved;
    /* |R - sum| < n: each length lost under one to the rounding */
    for (int e = n - 1; sum < R; e = e > 0 ? e - 1 : n - 1) len[e]++, sum++;
    while (sum > R) { /* the first of the longest run loses one: order kept */
        int e = n - 1;
        while (e > 0 && len[e - 1] == len[e]) e--;
        len[e]--, sum--;
    }
}

/* Rows g[0..n) of one part of a chunk (ascending score), whose training
 * histograms are h[0..VF_FLEN_PROTOS) (m flows and R records in all, m >
 * 0), get their targets. The lengths: the m training flows, all protocols together,
 * sorted by length, taken at quantiles (i + 1/2) m / n, each with its
 * flow's protocol, moved to the training's records (keep_part_records).
 * From the longest down, each goes to the best-scored row left of its
 * protocol, or, when none is left, the best-scored row left of any. So the
 * part's records are the training's whatever protocols the model chose,
 * and a long flow goes to a row of its protocol while there is one.
 * Measured, not adopted: with more rows than flows, the m training lengths
 * as they are and no records for the rows left over; the records were the
 * training's to the record, but the enterprise capture's flows recur in
 * every chunk, and a part dropped split them: flow size 1.3-1.4x and
 * within-flow gaps 1.4-1.6x the floor.
 * len, prot: [n]; queue: [n]. */
static void assign_part(const flen_row *g, int n, const vf_len_hist *const *h, int64_t m, int64_t R,
                        int64_t *target, int64_t *len, int *prot, int *queue) {
    /* the n quantiles of the merged histograms, ascending */
    int at[VF_FLEN_PROTOS] = {0}, e = 0;
    int64_t below = 0;
    while (e < n) {
        int p = -1;
        for (int k = 0; k < VF_FLEN_PROTOS; k++)
            if (at[k] < h[k]->n && (p < 0 || h[k]->len[at[k]] < h[p]->len[at[p]])) p = k;
        if (p < 0) break; /* rounding: the last length takes the rest */
        below += h[p]->count[at[p]];
        while (e < n && ((double)e + 0.5) * (double)m / (double)n < (double)below) len[e] = h[p]->len[at[p]], prot[e++] = p;
        at[p]++;
    }
    for (; e < n; e++) len[e] = len[e - 1], prot[e] = prot[e - 1];
    keep_part_records(len, n, R);
    /* each protocol's rows, best first: queue[start[k] ..] */
    int start[VF_FLEN_PROTOS + 1] = {0}, pos[VF_FLEN_PROTOS];
    for (int i = 0; i < n; i++) start[proto_of(g[i].kind) + 1]++;
    for (int k = 0; k < VF_FLEN_PROTOS; k++) start[k + 1] += start[k], pos[k] = start[k];
    for (int i = n - 1; i >= 0; i--) queue[pos[proto_of(g[i].kind)]++] = i;
    for (int k = 0; k < VF_FLEN_PROTOS; k++) pos[k] = start[k];
    for (e = n - 1; e >= 0; e--) {
        int p = prot[e];
        if (pos[p] == start[p + 1]) { /* none of its protocol left: the best row left */
            p = -1;
            for (int k = 0; k < VF_FLEN_PROTOS; k++)
                if (pos[k] < start[k + 1] && (p < 0 || g[queue[pos[k]]].score > g[queue[pos[p]]].score)) p = k;
        }
        target[g[queue[pos[p]++]].r] = len[e];
    }
}

/* The rewritten records, each with its flow id and the index of the
 * decoded record it is (or copies). */
typedef struct flen_out {
    vf_record *rec;
    int64_t *id, *src;
    size_t n, cap;
} flen_out;

static vf_status push(flen_out *o, const vf_record *r, int64_t id, int64_t src) {
    if (o->n == o->cap) {
        size_t c = o->cap ? 2 * o->cap : 1024;
        vf_record *g = realloc(o->rec, c * sizeof *g);
        if (g) o->rec = g;
        int64_t *gi = g ? realloc(o->id, c * sizeof *gi) : NULL;
        if (gi) o->id = gi;
        int64_t *gs = gi ? realloc(o->src, c * sizeof *gs) : NULL;
        if (gs) o->src = gs;
        if (!gs) return vf_fail(VF_ERR_OOM, "flow lengths: out of memory");
        o->cap = c;
    }
    o->rec[o->n] = *r;
    o->id[o->n] = id;
    o->src[o->n++] = src;
    return VF_OK;
}

/* The gap before record k >= s of a row with s steps R[0..s) and T
 * records: step j's own gap, j = 1 + (k - 1) mod (s - 1); for one step the
 * chunk's next generated gap (*next counts them), or the rest of the window
 * to end in T equal parts when the chunk has none. Never negative. */
static int64_t copy_gap(const vf_record *R, int64_t s, int64_t k, const int64_t *gaps, size_t n_gaps, int64_t *next,
                        int64_t end, int64_t T) {
    int64_t gap;
    if (s >= 2) {
        int64_t j = 1 + (k - 1) % (s - 1);
        gap = R[j].ts_ns - R[j - 1].ts_ns;
    } else if (n_gaps) {
        gap = gaps[(size_t)((*next)++) % n_gaps];
    } else {
        gap = (end - R[0].ts_ns) / T;
    }
    return gap > 0 ? gap : 0;
}

vf_status vf_flow_lengths(const vf_encoder *enc, const vf_encoded *merged, int n_chunks, vf_trace *t, size_t *from,
                          int64_t **rec_id, int64_t **src, vf_flow_lengths_stats *stats) {
    memset(stats, 0, sizeof *stats);
    if (src) *src = NULL;
    if (!enc->flen) return VF_OK;
    if (n_chunks != enc->n_chunks) return vf_fail(VF_ERR_ARG, "flow lengths: %d chunks, the encoder has %d", n_chunks,
                                                  enc->n_chunks);
    /* every chunk's records must be its rows' steps (vf_decode's order);
     * the scratch arrays are sized for the largest chunk */
    size_t most_rows = 1, most_records = 1;
    for (int c = 0; c < n_chunks; c++) {
        const vf_encoded *E = &merged[c];
        size_t steps = 0;
        for (int r = 0; r < E->n_flows; r++) steps += (size_t)vf_encoded_steps(E, r);
        if (steps != from[c + 1] - from[c])
            return vf_fail(VF_ERR_ARG, "flow lengths: chunk %d has %zu decoded records, its rows' steps make %zu", c,
                           from[c + 1] - from[c], steps);
        if (E->attr_dim < 2 * (n_chunks + 1))
            return vf_fail(VF_ERR_ARG, "flow lengths: attribute width %d has no room for the flow tags", E->attr_dim);
        if ((size_t)E->n_flows > most_rows) most_rows = (size_t)E->n_flows;
        if (steps > most_records) most_records = steps;
    }
    stats->applied = true;
    stats->records_before = (int64_t)t->n;
    flen_out o = {0};
    flen_row *rows = malloc(most_rows * sizeof *rows);
    int64_t *target = malloc(most_rows * sizeof *target), *ent_len = malloc(most_rows * sizeof *ent_len);
    int *ent_proto = malloc(most_rows * sizeof *ent_proto), *queue = malloc(most_rows * sizeof *queue);
    int64_t *gaps = malloc(most_records * sizeof *gaps);
    size_t *new_from = malloc(((size_t)n_chunks + 1) * sizeof *new_from);
    int64_t n_ids = 1; /* flow ids are 0.. (vf_merge_flow_tags) */
    for (size_t i = 0; i < t->n; i++) n_ids = (*rec_id)[i] >= n_ids ? (*rec_id)[i] + 1 : n_ids;
    int64_t *last_len = calloc((size_t)n_ids, sizeof *last_len); /* per flow: the target of its last part so far */
    vf_status st = VF_OK;
    if (!rows || !target || !ent_len || !ent_proto || !queue || !gaps || !new_from || !last_len)
        st = vf_fail(VF_ERR_OOM, "flow lengths: out of memory");
    for (int c = 0; c < n_chunks && !st; c++) {
        const vf_encoded *E = &merged[c];
        const int L = E->max_len, tags = E->attr_dim - 2 * (n_chunks + 1);
        new_from[c] = o.n;
        /* rows with records, scored by length, then by how sure the model was
         * of its last step: the flag after it (< 1/2) or, for a row that ran
         * to max_len, its last flag (>= 1/2); a carried row first by the
         * length its flow got in its last chunk, so that a flow long in one
         * chunk stays long in the next, as training's long-lived flows are
         * (without it, UGR'16's 500-800 record 5-tuples came out as many of
         * 100-200); and the chunk's generated gaps */
        size_t rec = from[c], n_gaps = 0;
        int n_rows = 0;
        for (int r = 0; r < E->n_flows; r++) {
            int s = vf_encoded_steps(E, r);
            const float *flag = E->gen_flag + (size_t)r * (size_t)L;
            target[r] = s;
            if (s == 0) continue;
            for (int k = 1; k < s; k++) gaps[n_gaps++] = t->recs[rec + (size_t)k].ts_ns - t->recs[rec + (size_t)k - 1].ts_ns;
            int kind = row_kind(E->attr + (size_t)r * (size_t)E->attr_dim, tags, c, n_chunks, t->recs[rec].proto);
            int64_t id = (*rec_id)[rec];
            double own = s + (double)(s < L ? flag[s] : flag[L - 1]); /* < L + 1 */
            bool carried = part_of(kind) >= 2; /* vf_flen_kind: 2 carried + goes_on */
            rows[n_rows++] = (flen_row){r, kind, carried ? (double)last_len[id] * (L + 1) + own : own, id};
            rec += (size_t)s;
        }
        /* each part's rows get that part's training lengths (assign_part;
         * a part the training chunk lacks keeps the model's) */
        qsort(rows, (size_t)n_rows, sizeof *rows, row_by_part_score);
        for (int i = 0; i < n_rows;) {
            int j = i, part = part_of(rows[i].kind);
            while (j < n_rows && part_of(rows[j].kind) == part) j++;
            const vf_len_hist *h[VF_FLEN_PROTOS];
            int64_t m = 0, R = 0; /* the part's training flows and records */
            for (int k = 0; k < VF_FLEN_PROTOS; k++) {
                h[k] = &enc->flen[hist_of(c, part * VF_FLEN_PROTOS + k)];
                for (int b = 0; b < h[k]->n; b++) m += h[k]->count[b], R += h[k]->count[b] * h[k]->len[b];
            }
            if (m > 0) assign_part(rows + i, j - i, h, m, R, target, ent_len, ent_proto, queue);
            i = j;
        }
        for (int i = 0; i < n_rows; i++) last_len[rows[i].id] = target[rows[i].r];
        /* the chunk's records, row by row: the first ones the target keeps,
         * then copies of the row's steps 1.., each after its own gap (a
         * one-record row: after the chunk's generated gaps in turn, or
         * spread over the rest of the window when it has none). A part of
         * a training flow lies inside its chunk, so a row that would run
         * past the window moves earlier, whole, to end inside it; one
         * longer than the window keeps its first record and all its gaps
         * shrink in proportion to fit. Before, the truncation dropped the
         * records of a row the lengths did not lengthen that ran past its
         * window: CAIDA's trace had 4,115-4,190 records for the training's
         * 4,405. Shrinking those rows as well kept the records but piled
         * them up at the window's end (CAIDA's time 0.89 -> 1.68x the
         * floor, seed 3); moving them, 1.18x, and within-flow gaps 0.99 ->
         * 0.65x. */
        rec = from[c];
        int64_t next_gap = 0;
        const int64_t end = enc->chunk_begin[c + 1] - 1;
        for (int r = 0; r < E->n_flows && !st; r++) {
            int64_t s = vf_encoded_steps(E, r), T = target[r];
            const vf_record *R = t->recs + rec;
            stats->rows += s > 0;
            stats->shortened += T < s;
            stats->lengthened += T > s;
            /* a row that would run past the window: every record of it
             * `shift` earlier, or every gap of it (its own steps' and the
             * copies') times scale */
            double need = 0, scale = 1;
            int64_t shift = 0;
            for (int64_t k = s, g = next_gap; k < T; k++) need += (double)copy_gap(R, s, k, gaps, n_gaps, &g, end, T);
            if (s > 0 && T > 0) {
                int64_t kept = T < s ? T : s;
                double span = (double)(R[kept - 1].ts_ns - R[0].ts_ns) + need, room = (double)(end - R[0].ts_ns);
                double early = (double)(R[0].ts_ns - enc->chunk_begin[c]);
                if (span > room && room > 0) {
                    if (span - room + 1 <= early) shift = (int64_t)(span - room) + 1;
                    else scale = room / span;
                }
            }
            for (int64_t k = 0; k < T && !st; k++) {
                vf_record x;
                int64_t j = k;
                if (k < s) {
                    x = R[k];
                    if (scale != 1) x.ts_ns = R[0].ts_ns + (int64_t)((double)(R[k].ts_ns - R[0].ts_ns) * scale);
                    x.ts_ns -= shift;
                } else {
                    j = s >= 2 ? 1 + (k - 1) % (s - 1) : 0;
                    int64_t gap = copy_gap(R, s, k, gaps, n_gaps, &next_gap, end, T);
                    x = R[j];
                    x.ts_ns = o.rec[o.n - 1].ts_ns + (int64_t)((double)gap * scale);
                }
                st = push(&o, &x, (*rec_id)[rec], (int64_t)rec + j);
            }
            rec += (size_t)s;
        }
    }
    if (!st) {
        new_from[n_chunks] = o.n;
        /* records past the last chunk's (none today) are kept as they are */
        for (size_t i = from[n_chunks]; i < t->n && !st; i++) st = push(&o, &t->recs[i], (*rec_id)[i], (int64_t)i);
    }
    free(rows), free(target), free(gaps), free(ent_len), free(ent_proto), free(queue), free(last_len);
    if (st) {
        free(o.rec), free(o.id), free(o.src), free(new_from);
        return st;
    }
    free(t->recs);
    t->recs = o.rec;
    t->n = o.n;
    t->cap = o.cap;
    free(*rec_id);
    *rec_id = o.id;
    if (src) *src = o.src;
    else free(o.src);
    memcpy(from, new_from, ((size_t)n_chunks + 1) * sizeof *from);
    free(new_from);
    stats->records_after = (int64_t)o.n;
    return VF_OK;
}
