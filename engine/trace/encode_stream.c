/* Streaming fit and encode: vf_encoder_fit and vf_encode without a record
 * array, for traces larger than memory. The input is read several times
 * through a vf_record_reader:
 *
 *   fit, read 1   (global)     record count, time span, IP family, min/max
 *                              ranges, one-hot vocabularies, labels, and a
 *                              reservoir sample of [sport, dport, proto] for
 *                              word2vec; -> chunk edges
 *   fit, read 2   (flows)      the per-chunk flow statistics vf_encoder_fit
 *                              takes from its time-sorted flow index: each
 *                              chunk's latest flow start, largest in-flow gap
 *                              and longest flow
 *   encode, read 1 (directory) 5-tuple -> flow number (first appearance, as
 *                              vf_flow_index_build numbers them), the chunks
 *                              each flow is in -> its row in each chunk, and
 *                              the last record of each chunk
 *   encode, read 2 (records)   each record straight into its flow's row of
 *                              its chunk's arrays; a (flow, chunk) series is
 *                              finished (gaps, attributes) once the read is
 *                              past its chunk's last record
 *
 * Memory: the arrays of the chunks the read is in (vf_encode_stream_each
 * hands each chunk on when it is complete), per distinct 5-tuple its key,
 * flow number and rows (about 48 + 4 * n_chunks bytes), per open series up
 * to max_len (time, arrival) pairs, the word2vec sample, and nothing per
 * record. Fit read 2 needs each flow's records in time order: records a
 * little out of order are put back in order in a window of 65,536; when
 * that is not enough, a third read keeps every timestamp (8 bytes a record)
 * and sorts them per flow. */
#include "trace/encode.h"
#include "trace/encode_internal.h"
#include "trace/trace_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX

/* ------------------------------------------------------------- readers */

vf_status vf_data_desc_each(void *src, vf_trace *stats, vf_record_sink sink, void *ctx) {
    const vf_data_desc *dd = src;
    vf_read_options o = {0};
    o.strict = dd->strict;
    if (dd->has_columns) o.layout = &dd->layout;
    bool pcap;
    VF_TRY(vf_trace_is_capture(dd->path, &pcap));
    if (dd->format[0] && pcap != !strcmp(dd->format, "pcap"))
        return vf_fail(VF_ERR_FORMAT, "%s: data description says format \"%s\" but the file is %s", dd->path,
                       dd->format, pcap ? "a packet capture" : "CSV");
    vf_status st = pcap ? vf_pcap_each(dd->path, &o, stats, sink, ctx) : vf_csv_each(dd->path, &o, stats, sink, ctx);
    if (!st && pcap) stats->kind = VF_TRACE_PACKETS;
    return st;
}

vf_status vf_trace_each(void *src, vf_trace *stats, vf_record_sink sink, void *ctx) {
    const vf_trace *t = src;
    memset(stats, 0, sizeof *stats);
    stats->kind = t->kind;
    stats->linktype = t->linktype;
    for (int i = 0; i < t->n_labels; i++)
        if (vf_trace_label(stats, t->labels[i]) < 0) return vf_fail(VF_ERR_OOM, "trace: out of memory");
    for (size_t i = 0; i < t->n; i++) VF_TRY(sink(ctx, &t->recs[i]));
    return VF_OK;
}

/* ------------------------------------------------------- fit, read 1 */

typedef struct w2v_tok {
    uint64_t seq;         /* record number (the sample is trained in file order) */
    vf_w2v_sentence s;
} w2v_tok;

typedef struct vocab_set {
    uint64_t *v;
    size_t n, cap;        /* v[0, n): appended; sorted and deduplicated when full */
} vocab_set;

typedef struct global_pass {
    vf_encoder *e;
    uint64_t n;
    int64_t t0, t1, prev_ts;
    bool sorted;
    double lo[VF_F_COUNT], hi[VF_F_COUNT];
    vocab_set vs[VF_F_COUNT];
    uint32_t *value_count[VF_F_COUNT]; /* [65536]: a port's or the protocol's records per value (dict) */
    double *values[VF_F_COUNT];        /* quantile: the field's value in every record (8 bytes a record) */
    size_t n_values[VF_F_COUNT], cap_values[VF_F_COUNT];
    bool want_w2v;
    w2v_tok *res;
    size_t res_n, res_cap;
    uint64_t rng;
} global_pass;

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static size_t dedupe(uint64_t *v, size_t n) {
    if (n == 0) return 0; /* v may be NULL (an empty set) */
    qsort(v, n, sizeof *v, cmp_u64);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || v[i] != v[k - 1]) v[k++] = v[i];
    return k;
}

static bool vocab_add(vocab_set *s, uint64_t x) {
    if (s->n && s->v[s->n - 1] == x) return true; /* runs of one value (flags, labels) */
    if (s->n == s->cap) {
        s->n = dedupe(s->v, s->n);
        if (s->cap == 0 || s->n * 2 > s->cap) {
            size_t nc = s->cap ? s->cap * 2 : 64;
            uint64_t *p = realloc(s->v, nc * sizeof *p);
            if (!p) return false;
            s->v = p;
            s->cap = nc;
        }
    }
    s->v[s->n++] = x;
    return true;
}

/* Room for one more element in the growing array *v of *n (capacity *cap
 * elements of size bytes, doubling from 4096): false when out of memory. */
static bool room_for_one(void **v, size_t n, size_t *cap, size_t size) {
    if (n < *cap) return true;
    size_t nc = *cap ? 2 * *cap : 4096;
    void *p = realloc(*v, nc * size);
    if (!p) return false;
    *v = p;
    *cap = nc;
    return true;
}

static uint64_t sm64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static vf_status global_sink(void *ctx, const vf_record *r) {
    global_pass *g = ctx;
    vf_encoder *e = g->e;
    if (!vf_addr_is_v4(&r->src) || !vf_addr_is_v4(&r->dst)) e->ip_bits = 128;
    if (r->ts_ns < g->t0) g->t0 = r->ts_ns;
    if (r->ts_ns > g->t1) g->t1 = r->ts_ns;
    if (g->n && r->ts_ns < g->prev_ts) g->sorted = false;
    g->prev_ts = r->ts_ns;
    for (int i = 0; i < e->n_fields; i++) {
        const vf_field_spec *s = &e->fields[i];
        vf_field f = s->field;
        if ((s->enc == VF_ENC_MINMAX || s->enc == VF_ENC_LOG_MINMAX) && !s->fixed_range) {
            double x = vf_enc_fval(r, f);
            if (x < g->lo[f]) g->lo[f] = x;
            if (x > g->hi[f]) g->hi[f] = x;
        } else if (s->enc == VF_ENC_ONEHOT) {
            if (!vocab_add(&g->vs[f], (uint64_t)(int64_t)vf_enc_fval(r, f)))
                return vf_fail(VF_ERR_OOM, "encoder: out of memory");
        } else if (g->value_count[f]) {
            g->value_count[f][(uint16_t)vf_enc_fval(r, f)]++;
        } else if (s->enc == VF_ENC_QUANTILE) {
            if (!room_for_one((void **)&g->values[f], g->n_values[f], &g->cap_values[f], sizeof *g->values[f]))
                return vf_fail(VF_ERR_OOM, "encoder: out of memory (%s's values)", vf_field_name(f));
            g->values[f][g->n_values[f]++] = vf_enc_fval(r, f);
        }
    }
    if (g->want_w2v) {
        /* Algorithm R: every record is in the sample with the same chance;
         * all of them while there are no more than res_cap */
        w2v_tok t = {g->n, {r->sport, r->dport, r->proto}};
        if (g->res_n < g->res_cap) g->res[g->res_n++] = t;
        else {
            uint64_t j = sm64(&g->rng) % (g->n + 1);
            if (j < g->res_cap) g->res[j] = t;
        }
    }
    g->n++;
    return VF_OK;
}

static int cmp_tok(const void *a, const void *b) {
    uint64_t x = ((const w2v_tok *)a)->seq, y = ((const w2v_tok *)b)->seq;
    return x < y ? -1 : x > y;
}

/* ----------------------------------------------------- flows (both reads) */

/* One flow's series of the chunk it is in now (records fed in time order). */
typedef struct flow_cur {
    int32_t c;            /* -1: none yet */
    int32_t len;
    int64_t first, prev;
} flow_cur;

/* A record's time for the flow statistics, waiting in the reorder heap. */
typedef struct ts_item {
    int64_t ts;
    uint64_t seq;
    uint32_t f;
} ts_item;

/* Records that come a little out of time order (a capture's timestamps
 * jitter by microseconds) are put back in order by a heap of this many;
 * a record older than one already let out means more disorder: then the
 * read is done again keeping every timestamp. */
#define REORDER_WINDOW 65536

typedef struct flow_pass {
    const vf_encoder *e;
    bool fit;             /* also the per-chunk statistics (fit read 2) */
    bool sorted;          /* reorder window (else every timestamp, sorted per flow) */
    ts_item *heap;        /* [REORDER_WINDOW] min-heap by (ts, seq) */
    size_t n_heap;
    int64_t released;     /* time of the last record let out */
    bool overflow;        /* a record came older than that */
    vf_flow_table ft;
    size_t n_alloc;       /* entries of the per-flow arrays below */
    uint32_t *row;        /* [flows, n_chunks]: row in chunk c, NIL if absent */
    flow_cur *cur;        /* fit: [flows] */
    int64_t **ts;         /* fit, unsorted: [flows] every timestamp */
    size_t *n_ts, *cap_ts;
    int64_t *last_pos;    /* [n_chunks] number of chunk c's last record, -1 */
    int *n_flows;         /* [n_chunks] */
    int64_t *start_lo, *start_hi, *iat_hi; /* fit: per chunk */
    int64_t *gaps;        /* fit, interarrival_quantile / _bins: every within-chunk gap (8 bytes a record) */
    size_t n_gaps, cap_gaps;
    vf_row_start *starts; /* fit, start_decode = "rank": every row's chunk and first time (16 bytes a row) */
    size_t n_starts, cap_starts;
    bool want_gaps, want_starts, oom;
    int max_len;
    uint64_t n;
} flow_pass;

static void flow_pass_free(flow_pass *P) {
    vf_flow_table_free(&P->ft);
    free(P->heap);
    if (P->ts)
        for (size_t f = 0; f < P->n_alloc; f++) free(P->ts[f]);
    free(P->ts);
    free(P->n_ts);
    free(P->cap_ts);
    free(P->row);
    free(P->cur);
    free(P->last_pos);
    free(P->n_flows);
    free(P->start_lo);
    free(P->start_hi);
    free(P->iat_hi);
    free(P->gaps);
    free(P->starts);
    memset(P, 0, sizeof *P);
}

/* Makes room for flow number f in the per-flow arrays. */
static bool flow_room(flow_pass *P, size_t f) {
    if (f < P->n_alloc) return true;
    size_t na = P->n_alloc ? P->n_alloc * 2 : 4096, N = (size_t)P->e->n_chunks;
    while (na <= f) na *= 2;
    uint32_t *row = realloc(P->row, na * N * sizeof *row);
    if (!row) return false;
    P->row = row;
    for (size_t k = P->n_alloc * N; k < na * N; k++) row[k] = NIL;
    if (P->fit) {
        flow_cur *cur = realloc(P->cur, na * sizeof *cur);
        if (!cur) return false;
        P->cur = cur;
        for (size_t k = P->n_alloc; k < na; k++) cur[k] = (flow_cur){-1, 0, 0, 0};
        if (!P->sorted) {
            int64_t **ts = realloc(P->ts, na * sizeof *ts);
            if (ts) P->ts = ts;
            size_t *n = realloc(P->n_ts, na * sizeof *n);
            if (n) P->n_ts = n;
            size_t *c = realloc(P->cap_ts, na * sizeof *c);
            if (c) P->cap_ts = c;
            if (!ts || !n || !c) return false;
            for (size_t k = P->n_alloc; k < na; k++) { ts[k] = NULL; n[k] = c[k] = 0; }
        }
    }
    P->n_alloc = na;
    return true;
}

/* The end of flow cur's series in its chunk. */
static void series_end(flow_pass *P, const flow_cur *k) {
    if (k->c < 0) return;
    if (k->first > P->start_hi[k->c]) P->start_hi[k->c] = k->first;
    if (k->len > P->max_len) P->max_len = k->len;
    if (P->want_starts && !room_for_one((void **)&P->starts, P->n_starts, &P->cap_starts, sizeof *P->starts)) {
        P->oom = true;
        P->want_starts = false;
    }
    if (P->want_starts) P->starts[P->n_starts++] = (vf_row_start){k->c, k->first};
}

/* The next record of a flow in time order (as vf_encoder_fit walks them). */
static void flow_feed(flow_pass *P, flow_cur *k, int64_t ts) {
    int c = vf_encoder_chunk_of(P->e, ts);
    if (c != k->c) {
        series_end(P, k);
        k->c = c;
        k->first = ts;
        k->len = 0;
        if (ts < P->start_lo[c]) P->start_lo[c] = ts;
    } else {
        if (ts - k->prev > P->iat_hi[c]) P->iat_hi[c] = ts - k->prev;
        if (P->want_gaps && !room_for_one((void **)&P->gaps, P->n_gaps, &P->cap_gaps, sizeof *P->gaps)) {
            P->oom = true;
            P->want_gaps = false;
        }
        if (P->want_gaps) P->gaps[P->n_gaps++] = ts - k->prev;
    }
    k->len++;
    k->prev = ts;
}

static bool item_before(const ts_item *a, const ts_item *b) {
    return a->ts < b->ts || (a->ts == b->ts && a->seq < b->seq);
}

static void heap_push(flow_pass *P, ts_item x) {
    size_t i = P->n_heap++;
    while (i > 0 && item_before(&x, &P->heap[(i - 1) / 2])) {
        P->heap[i] = P->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    P->heap[i] = x;
}

/* Lets the earliest waiting record out to its flow. */
static void heap_pop(flow_pass *P) {
    ts_item top = P->heap[0], x = P->heap[--P->n_heap];
    size_t i = 0, n = P->n_heap;
    for (;;) {
        size_t k = 2 * i + 1;
        if (k >= n) break;
        if (k + 1 < n && item_before(&P->heap[k + 1], &P->heap[k])) k++;
        if (!item_before(&P->heap[k], &x)) break;
        P->heap[i] = P->heap[k];
        i = k;
    }
    if (n) P->heap[i] = x;
    P->released = top.ts;
    flow_feed(P, &P->cur[top.f], top.ts);
}

static vf_status flow_sink(void *ctx, const vf_record *r) {
    flow_pass *P = ctx;
    vf_flow_key key;
    vf_flow_key_of(r, &key);
    int64_t f = vf_flow_table_put(&P->ft, &key, NULL);
    if (f < 0 || !flow_room(P, (size_t)f)) return vf_fail(VF_ERR_OOM, "encode: out of memory at %zu flows", P->ft.n);
    int N = P->e->n_chunks, c = vf_encoder_chunk_of(P->e, r->ts_ns);
    if (P->row[(size_t)f * (size_t)N + (size_t)c] == NIL) {
        P->row[(size_t)f * (size_t)N + (size_t)c] = 0; /* numbered at the end */
        P->n_flows[c]++;
    }
    P->last_pos[c] = (int64_t)P->n;
    P->n++;
    if (!P->fit) return VF_OK;
    if (P->sorted) {
        if (P->overflow) return VF_OK;
        if (r->ts_ns < P->released) { P->overflow = true; return VF_OK; }
        if (P->n_heap == REORDER_WINDOW) heap_pop(P);
        heap_push(P, (ts_item){r->ts_ns, P->n, (uint32_t)f});
        return VF_OK;
    }
    if (P->n_ts[f] == P->cap_ts[f]) {
        size_t nc = P->cap_ts[f] ? P->cap_ts[f] * 2 : 4;
        int64_t *p = realloc(P->ts[f], nc * sizeof *p);
        if (!p) return vf_fail(VF_ERR_OOM, "encode: out of memory");
        P->ts[f] = p;
        P->cap_ts[f] = nc;
    }
    P->ts[f][P->n_ts[f]++] = r->ts_ns;
    return VF_OK;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Reads the input once: the flow directory (and with fit, the statistics). */
static vf_status flow_read(flow_pass *P, const vf_encoder *e, bool fit, bool sorted, vf_record_reader rd, void *src) {
    memset(P, 0, sizeof *P);
    P->e = e;
    P->fit = fit;
    P->sorted = sorted;
    P->want_gaps = fit && vf_enc_time_quantile(vf_enc_time_enc(e));
    P->want_starts = fit && vf_enc_start_rank(e);
    int N = e->n_chunks;
    vf_status st = vf_flow_table_init(&P->ft, 4096);
    if (st) return st;
    P->last_pos = malloc((size_t)N * sizeof *P->last_pos);
    P->n_flows = calloc((size_t)N, sizeof *P->n_flows);
    P->start_lo = malloc((size_t)N * sizeof *P->start_lo);
    P->start_hi = malloc((size_t)N * sizeof *P->start_hi);
    P->iat_hi = calloc((size_t)N, sizeof *P->iat_hi);
    if (!P->last_pos || !P->n_flows || !P->start_lo || !P->start_hi || !P->iat_hi) {
        flow_pass_free(P);
        return vf_fail(VF_ERR_OOM, "encode: out of memory");
    }
    for (int c = 0; c < N; c++) {
        P->last_pos[c] = -1;
        P->start_lo[c] = INT64_MAX;
        P->start_hi[c] = INT64_MIN;
    }
    P->released = INT64_MIN;
    if (fit && sorted && !(P->heap = malloc(REORDER_WINDOW * sizeof *P->heap))) {
        flow_pass_free(P);
        return vf_fail(VF_ERR_OOM, "encode: out of memory");
    }
    vf_trace stats;
    st = rd(src, &stats, flow_sink, P);
    vf_trace_free(&stats);
    if (st) { flow_pass_free(P); return st; }
    /* rows: in each chunk, its flows by flow number (vf_encode's order) */
    int *next = calloc((size_t)N, sizeof *next);
    if (!next) { flow_pass_free(P); return vf_fail(VF_ERR_OOM, "encode: out of memory"); }
    for (size_t f = 0; f < P->ft.n; f++)
        for (int c = 0; c < N; c++)
            if (P->row[f * (size_t)N + (size_t)c] != NIL) P->row[f * (size_t)N + (size_t)c] = (uint32_t)next[c]++;
    free(next);
    while (fit && sorted && !P->overflow && P->n_heap) heap_pop(P);
    if (fit) {
        for (size_t f = 0; f < P->ft.n; f++) {
            if (!sorted) {
                /* timestamps only: a stable sort by time is this sort */
                if (P->n_ts[f]) qsort(P->ts[f], P->n_ts[f], sizeof *P->ts[f], cmp_i64);
                for (size_t j = 0; j < P->n_ts[f]; j++) flow_feed(P, &P->cur[f], P->ts[f][j]);
                free(P->ts[f]);
                P->ts[f] = NULL;
            }
            series_end(P, &P->cur[f]);
        }
    }
    if (P->oom) { flow_pass_free(P); return vf_fail(VF_ERR_OOM, "encoder: out of memory (within-flow gaps or flow starts)"); }
    return VF_OK;
}

/* ------------------------------------------------------------------ fit */

vf_status vf_encoder_fit_stream(const vf_data_desc *dd_in, vf_record_reader rd, void *src, vf_encoder *e,
                                vf_stream_stats *ss) {
    memset(e, 0, sizeof *e);
    vf_stream_stats dummy;
    if (!ss) ss = &dummy;
    memset(ss, 0, sizeof *ss);
    global_pass g;
    memset(&g, 0, sizeof g);
    /* the kind (the default fields depend on it) comes with the first read:
     * fields are set up after it, from what it found; min/max and vocabularies
     * are taken for every field the kind could have */
    vf_trace stats;
    memset(&stats, 0, sizeof stats);
    vf_data_desc def;
    const vf_data_desc *dd = dd_in;
    g.e = e;
    g.t0 = INT64_MAX;
    g.t1 = INT64_MIN;
    g.sorted = true;
    for (int f = 0; f < VF_F_COUNT; f++) { g.lo[f] = INFINITY; g.hi[f] = -INFINITY; }
    /* every field as minmax and onehot would be costly; the kind is known
     * before the read by sniffing the file, so read 1 is set up for it */
    vf_trace_kind kind = VF_TRACE_FLOWS;
    if (rd == vf_data_desc_each) {
        bool pcap = false;
        VF_TRY(vf_trace_is_capture(((const vf_data_desc *)src)->path, &pcap));
        if (pcap) kind = VF_TRACE_PACKETS;
        else {
            /* CSV: the kind is the layout's (a `len` column makes packets) */
            vf_trace head;
            vf_read_options ro = {0};
            ro.max_records = 1;
            if (((const vf_data_desc *)src)->has_columns) ro.layout = &((const vf_data_desc *)src)->layout;
            VF_TRY(vf_csv_each(((const vf_data_desc *)src)->path, &ro, &head, NULL, NULL));
            kind = head.kind;
            vf_trace_free(&head);
        }
    } else if (rd == vf_trace_each) {
        kind = ((const vf_trace *)src)->kind;
    }
    dd = vf_enc_setup(dd_in, kind, &def, e);
    vf_status st = vf_enc_alloc_chunks(e);
    if (st) goto fail;
    const char *why = NULL;
    if (vf_data_desc_needs_addr_tables(dd))
        st = vf_fail(VF_ERR_UNSUPPORTED, "%s: streaming ingest does not build the address tables of encoding dict "
                     "or decode tree; set data.streaming = off", dd_in->path[0] ? dd_in->path : "data");
    else if (vf_data_desc_needs_memory_fit(dd, &why))
        st = vf_fail(VF_ERR_UNSUPPORTED, "%s: streaming ingest cannot fit this encoder: %s; set data.streaming = off",
                     dd_in->path[0] ? dd_in->path : "data", why);
    if (st) goto fail;
    if (dd->chunking != VF_CHUNK_FIXED_TIME) {
        st = vf_fail(VF_ERR_UNSUPPORTED, "%s: streaming ingest takes fixed_time chunks only (chunking = fixed_size "
                     "needs every timestamp sorted); set data.streaming = off", dd_in->path[0] ? dd_in->path : "data");
        goto fail;
    }
    for (int i = 0; i < e->n_fields; i++) {
        const vf_field_spec *s = &e->fields[i];
        g.want_w2v |= s->enc == VF_ENC_WORD2VEC;
        bool value_dict = s->enc == VF_ENC_DICT && !vf_enc_addr_field(s->field);
        if (value_dict && !(g.value_count[s->field] = calloc(65536, sizeof(uint32_t)))) {
            st = vf_fail(VF_ERR_OOM, "encoder: out of memory");
            goto fail;
        }
    }
    g.want_w2v &= !dd->w2v_pretrained[0];
    if (g.want_w2v) {
        g.res_cap = (size_t)(dd_in->w2v_sample > 0 ? dd_in->w2v_sample : VF_W2V_SAMPLE_DEFAULT);
        g.res = malloc(g.res_cap * sizeof *g.res);
        if (!g.res) { st = vf_fail(VF_ERR_OOM, "encoder: out of memory (word2vec sample of %zu)", g.res_cap); goto fail; }
        g.rng = dd->seed ^ 0x7265737672ull;
    }
    st = rd(src, &stats, global_sink, &g);
    ss->passes++;
    if (st) goto fail;
    if (stats.kind != kind) {
        st = vf_fail(VF_ERR_FORMAT, "%s: the trace changed while it was read", dd_in->path);
        goto fail;
    }
    if (g.n == 0) { st = vf_fail(VF_ERR_ARG, "encoder: the trace has no records"); goto fail; }
    ss->records = g.n;
    ss->sorted = g.sorted;
    /* chunk windows, as vf_encoder_fit */
    __int128 span = (__int128)g.t1 - g.t0 + 1;
    for (int c = 0; c <= e->n_chunks; c++) e->chunk_begin[c] = g.t0 + (int64_t)(span * c / e->n_chunks);
    for (int i = 0; i < e->n_fields; i++) {
        const vf_field_spec *s = &e->fields[i];
        vf_field f = s->field;
        if (s->enc == VF_ENC_MINMAX || s->enc == VF_ENC_LOG_MINMAX) {
            double lo = g.lo[f], hi = g.hi[f];
            if (s->fixed_range) { lo = s->lo; hi = s->hi; }
            if (s->enc == VF_ENC_LOG_MINMAX) { lo = log1p(lo); hi = log1p(hi); }
            if (!(hi > lo)) hi = lo + 1; /* constant field */
            e->lo[f] = lo;
            e->hi[f] = hi;
        } else if (g.value_count[f]) {
            if ((st = vf_enc_value_dict(e, f, s->top, g.value_count[f]))) goto fail;
        } else if (s->enc == VF_ENC_QUANTILE) {
            if ((st = vf_enc_fit_valq(e, f, s->bins, g.values[f], g.n_values[f]))) goto fail;
        } else if (s->enc == VF_ENC_ONEHOT && !e->vocab[f]) {
            vocab_set *vs = &g.vs[f];
            vs->n = dedupe(vs->v, vs->n);
            e->vocab[f] = vs->v;
            e->n_vocab[f] = (int)vs->n;
            vs->v = NULL;
        }
    }
    e->n_labels = stats.n_labels; /* first appearance, as the reader numbers them */
    e->labels = stats.labels;
    stats.labels = NULL;
    stats.n_labels = 0;
    if (g.want_w2v || dd->w2v_pretrained[0]) {
        vf_w2v_sentence *sent = NULL;
        if (g.want_w2v) {
            if (g.res_n) qsort(g.res, g.res_n, sizeof *g.res, cmp_tok);
            sent = malloc((g.res_n ? g.res_n : 1) * sizeof *sent);
            if (!sent) { st = vf_fail(VF_ERR_OOM, "encoder: out of memory"); goto fail; }
            for (size_t i = 0; i < g.res_n; i++) sent[i] = g.res[i].s;
            ss->w2v_records = g.res_n;
        }
        free(g.res);
        g.res = NULL;
        st = vf_enc_w2v(dd, e, NULL, sent, g.res_n);
        free(sent);
        if (st) goto fail;
    }
    /* read 2: per-chunk flow statistics */
    /* in time order up to a reorder window (most captures), else again
     * keeping every timestamp */
    flow_pass P;
    if ((st = flow_read(&P, e, true, true, rd, src))) goto fail;
    ss->passes++;
    ss->reordered = !g.sorted && !P.overflow;
    if (P.overflow) {
        flow_pass_free(&P);
        if ((st = flow_read(&P, e, true, false, rd, src))) goto fail;
        ss->passes++;
        ss->sorted_per_flow = true;
    }
    ss->flows = P.ft.n;
    memcpy(e->start_lo, P.start_lo, (size_t)e->n_chunks * sizeof *e->start_lo);
    memcpy(e->start_hi, P.start_hi, (size_t)e->n_chunks * sizeof *e->start_hi);
    memcpy(e->iat_hi, P.iat_hi, (size_t)e->n_chunks * sizeof *e->iat_hi);
    /* the gaps are the same multiset as vf_encoder_fit's (sorted there, the
     * same table) */
    if ((vf_enc_time_quantile(vf_enc_time_enc(e)) && (st = vf_enc_fit_gapq(e, P.gaps, P.n_gaps))) ||
        (vf_enc_start_rank(e) && (st = vf_enc_fit_startq(e, P.starts, P.n_starts)))) {
        flow_pass_free(&P);
        goto fail;
    }
    int max_len = P.max_len;
    flow_pass_free(&P);
    vf_enc_finish(dd, e, max_len);
    for (int f = 0; f < VF_F_COUNT; f++) { free(g.vs[f].v); free(g.value_count[f]); free(g.values[f]); }
    vf_trace_free(&stats);
    return VF_OK;
fail:
    for (int f = 0; f < VF_F_COUNT; f++) { free(g.vs[f].v); free(g.value_count[f]); free(g.values[f]); }
    free(g.res);
    vf_trace_free(&stats);
    vf_encoder_free(e);
    return st;
}

/* --------------------------------------------------------------- encode */

/* One open (flow, chunk) series: its row, and up to max_len steps held as
 * (time, arrival) with their features already in the row. */
typedef struct series {
    uint32_t f;
    int32_t c;
    uint32_t row;
    uint32_t next_of_flow;   /* the flow's other open series */
    int kept;                /* steps in the row */
    bool in_order;           /* steps arrived in time order */
    uint64_t count;          /* records (more than kept: cut at max_len) */
    vf_record r0;            /* earliest record: the attributes */
    int64_t *ts;             /* [max_len] */
    uint64_t *seq;           /* [max_len] arrival numbers: ties keep file order */
    int cap;
} series;

typedef struct encode_pass {
    const vf_encoder *e;
    flow_pass *D;
    vf_encoded *ch;          /* [n_chunks]: arrays while a chunk is open */
    vf_chunk_sink sink;      /* a finished chunk's arrays go there */
    void *sink_ctx;
    int held, peak_held;     /* chunks with arrays */
    vf_encoding te;
    bool has_time;
    int tags;
    uint32_t *open_of_flow;  /* [flows] first open series, NIL */
    series *s;               /* pool */
    uint32_t n_s, cap_s, free_s;
    uint32_t **open_in;      /* [n_chunks] open series of chunk c */
    size_t *n_open, *cap_open;
    int *by_end;             /* chunks in order of their last record */
    int next_end;
    size_t live, peak_live;
    uint64_t n;
    float *tmp;              /* one row's features (reordering) */
} encode_pass;

/* The non-time features of r at F (one step). */
static void put_features(const vf_encoder *e, const vf_record *r, float *F) {
    for (int k = 0; k < e->n_feat_segs; k++) {
        const vf_segment *g = &e->feat_segs[k];
        if (g->field == VF_F_TIME) continue;
        for (int i = 0; i < e->n_fields; i++)
            if ((int)e->fields[i].field == g->field) vf_enc_field(e, &e->fields[i], r, F + g->offset);
    }
}

static bool before(int64_t ta, uint64_t sa, int64_t tb, uint64_t sb) { return ta < tb || (ta == tb && sa < sb); }

/* Finishes series x: steps in time order, gaps, flags, attributes. */
static void series_finish(encode_pass *E, series *x) {
    const vf_encoder *e = E->e;
    vf_encoded *C = &E->ch[x->c];
    size_t L = (size_t)e->max_len, fd = (size_t)e->feat_dim;
    float *feat = C->feat + (size_t)x->row * L * fd;
    if (!x->in_order) {
        /* insertion sort of the steps by (time, arrival), rows moving along */
        for (int i = 1; i < x->kept; i++) {
            int64_t t = x->ts[i];
            uint64_t q = x->seq[i];
            if (fd) memcpy(E->tmp, feat + (size_t)i * fd, fd * sizeof(float));
            int j = i;
            for (; j > 0 && before(t, q, x->ts[j - 1], x->seq[j - 1]); j--) {
                x->ts[j] = x->ts[j - 1];
                x->seq[j] = x->seq[j - 1];
                if (fd) memcpy(feat + (size_t)j * fd, feat + (size_t)(j - 1) * fd, fd * sizeof(float));
            }
            x->ts[j] = t;
            x->seq[j] = q;
            if (fd) memcpy(feat + (size_t)j * fd, E->tmp, fd * sizeof(float));
        }
    }
    int toff = -1; /* the time feature's first segment (it writes them all) */
    for (int k = 0; k < e->n_feat_segs && toff < 0; k++)
        if (e->feat_segs[k].field == VF_F_TIME) toff = e->feat_segs[k].offset;
    for (int s = 0; s < x->kept; s++) {
        C->gen_flag[(size_t)x->row * L + (size_t)s] = 1;
        if (toff >= 0) vf_enc_gap(e, E->te, x->c, s ? x->ts[s] - x->ts[s - 1] : 0, feat + (size_t)s * fd + (size_t)toff);
    }
    if (x->count > (uint64_t)e->max_len) C->n_truncated++;
    /* attributes, as vf_encode writes them */
    float *A = C->attr + (size_t)x->row * (size_t)e->attr_dim;
    const vf_record *r0 = &x->r0;
    int seg = 0, N = e->n_chunks;
    for (int i = 0; i < e->n_fields; i++) {
        const vf_field_spec *sp = &e->fields[i];
        if (sp->field > VF_F_PROTO) continue;
        while (seg < e->n_attr_segs && e->attr_segs[seg].field != (int)sp->field) seg++;
        if (seg < e->n_attr_segs) vf_enc_field(e, sp, r0, A + e->attr_segs[seg].offset);
    }
    int tags = E->tags, c = x->c;
    if (E->has_time) {
        double lo = 0, hi = (double)(e->start_hi[c] - e->start_lo[c]), v = (double)(r0->ts_ns - e->start_lo[c]);
        A[tags - 1] = hi > lo ? (float)(v < 0 ? 0 : v > hi ? 1 : v / hi) : 0.0f;
    }
    const uint32_t *rows = E->D->row + (size_t)x->f * (size_t)N;
    int first_chunk = 0;
    while (first_chunk < N && rows[first_chunk] == NIL) first_chunk++;
    A[tags + (first_chunk == c ? 1 : 0)] = 1;
    for (int k = 0; k < N; k++) A[tags + 2 + 2 * k + (rows[k] != NIL)] = 1;
    free(x->ts);
    free(x->seq);
    x->ts = NULL;
    x->seq = NULL;
}

/* Finishes every open series of chunk c. */
static void chunk_close(encode_pass *E, int c) {
    for (size_t k = 0; k < E->n_open[c]; k++) {
        uint32_t i = E->open_in[c][k];
        series *x = &E->s[i];
        series_finish(E, x);
        /* off its flow's list, back to the pool */
        uint32_t *pp = &E->open_of_flow[x->f];
        while (*pp != i) pp = &E->s[*pp].next_of_flow;
        *pp = x->next_of_flow;
        x->next_of_flow = E->free_s;
        E->free_s = i;
        E->live--;
    }
    E->n_open[c] = 0;
}

/* Chunk c's arrays, sized as vf_encode sizes them. */
static vf_status chunk_open(encode_pass *E, int c) {
    const vf_encoder *e = E->e;
    vf_encoded *C = &E->ch[c];
    size_t nf = (size_t)C->n_flows ? (size_t)C->n_flows : 1;
    C->attr = calloc(nf * (size_t)e->attr_dim, sizeof(float));
    C->feat = calloc(nf * (size_t)e->max_len * (size_t)(e->feat_dim ? e->feat_dim : 1), sizeof(float));
    C->gen_flag = calloc(nf * (size_t)e->max_len, sizeof(float));
    if (!C->attr || !C->feat || !C->gen_flag)
        return vf_fail(VF_ERR_OOM, "encode: out of memory for chunk %d (%d flows x %d steps x %d features)", c,
                       C->n_flows, e->max_len, e->feat_dim);
    if (++E->held > E->peak_held) E->peak_held = E->held;
    return VF_OK;
}

/* Hands finished chunk c to the sink (which owns its arrays from here). */
static vf_status chunk_give(encode_pass *E, int c) {
    vf_encoded C = E->ch[c];
    E->ch[c].attr = E->ch[c].feat = E->ch[c].gen_flag = NULL;
    E->held--;
    return E->sink(E->sink_ctx, &C);
}

static vf_status encode_sink(void *ctx, const vf_record *r) {
    encode_pass *E = ctx;
    const vf_encoder *e = E->e;
    int N = e->n_chunks, c = vf_encoder_chunk_of(e, r->ts_ns);
    vf_flow_key key;
    vf_flow_key_of(r, &key);
    int64_t f = vf_flow_table_get(&E->D->ft, &key);
    uint32_t row = f < 0 ? NIL : E->D->row[(size_t)f * (size_t)N + (size_t)c];
    if (row == NIL) return vf_fail(VF_ERR_FORMAT, "encode: the trace changed between reads (record %llu)",
                                   (unsigned long long)E->n);
    if (!E->ch[c].attr) VF_TRY(chunk_open(E, c));
    uint32_t i = E->open_of_flow[f];
    while (i != NIL && E->s[i].c != c) i = E->s[i].next_of_flow;
    if (i == NIL) {
        if (E->free_s == NIL) {
            uint32_t nc = E->cap_s ? E->cap_s * 2 : 1024;
            series *p = realloc(E->s, nc * sizeof *p);
            if (!p) return vf_fail(VF_ERR_OOM, "encode: out of memory at %zu open flows", E->live);
            E->s = p;
            for (uint32_t k = E->cap_s; k < nc; k++) p[k].next_of_flow = k + 1 < nc ? k + 1 : NIL;
            E->free_s = E->cap_s;
            E->cap_s = nc;
        }
        if (E->n_open[c] == E->cap_open[c]) {
            size_t nc = E->cap_open[c] ? E->cap_open[c] * 2 : 256;
            uint32_t *p = realloc(E->open_in[c], nc * sizeof *p);
            if (!p) return vf_fail(VF_ERR_OOM, "encode: out of memory at %zu open flows", E->live);
            E->open_in[c] = p;
            E->cap_open[c] = nc;
        }
        i = E->free_s;
        series *x = &E->s[i];
        E->free_s = x->next_of_flow;
        memset(x, 0, sizeof *x);
        x->f = (uint32_t)f;
        x->c = c;
        x->row = row;
        x->in_order = true;
        x->next_of_flow = E->open_of_flow[f];
        E->open_of_flow[f] = i;
        E->open_in[c][E->n_open[c]++] = i;
        if (++E->live > E->peak_live) E->peak_live = E->live;
    }
    series *x = &E->s[i];
    uint64_t q = x->count++;
    if (q == 0 || r->ts_ns < x->r0.ts_ns) x->r0 = *r;
    size_t L = (size_t)e->max_len, fd = (size_t)e->feat_dim;
    float *feat = E->ch[c].feat + (size_t)x->row * L * fd;
    int slot;
    if (x->kept < e->max_len) {
        if (x->kept == x->cap) {
            int nc = x->cap ? x->cap * 2 : 8;
            if (nc > e->max_len) nc = e->max_len;
            int64_t *t = realloc(x->ts, (size_t)nc * sizeof *t);
            if (t) x->ts = t;
            uint64_t *s = realloc(x->seq, (size_t)nc * sizeof *s);
            if (s) x->seq = s;
            if (!t || !s) return vf_fail(VF_ERR_OOM, "encode: out of memory");
            x->cap = nc;
        }
        if (x->kept && r->ts_ns < x->ts[x->kept - 1]) x->in_order = false;
        slot = x->kept++;
    } else {
        /* full: keep the max_len earliest, as vf_encode's cut after sorting */
        if (x->in_order && r->ts_ns >= x->ts[x->kept - 1]) return VF_OK;
        slot = 0;
        for (int k = 1; k < x->kept; k++)
            if (before(x->ts[slot], x->seq[slot], x->ts[k], x->seq[k])) slot = k;
        if (!before(r->ts_ns, q, x->ts[slot], x->seq[slot])) return VF_OK;
        x->in_order = false;
    }
    x->ts[slot] = r->ts_ns;
    x->seq[slot] = q;
    put_features(e, r, feat + (size_t)slot * fd);
    return VF_OK;
}

static vf_status encode_rec_sink(void *ctx, const vf_record *r) {
    encode_pass *E = ctx;
    VF_TRY(encode_sink(E, r));
    /* chunks whose last record this was: their series are complete */
    while (E->next_end < E->e->n_chunks && E->D->last_pos[E->by_end[E->next_end]] == (int64_t)E->n) {
        int c = E->by_end[E->next_end++];
        chunk_close(E, c);
        VF_TRY(chunk_give(E, c));
    }
    E->n++;
    return VF_OK;
}

static const int64_t *g_last_pos;
static int cmp_end(const void *a, const void *b) {
    int64_t x = g_last_pos[*(const int *)a], y = g_last_pos[*(const int *)b];
    return x < y ? -1 : x > y;
}

vf_status vf_encode_stream_each(const vf_encoder *e, vf_record_reader rd, void *src, vf_chunk_sink sink,
                                void *sink_ctx, vf_stream_stats *ss) {
    vf_stream_stats dummy;
    if (!ss) ss = &dummy;
    memset(ss, 0, sizeof *ss);
    flow_pass D;
    vf_status st = flow_read(&D, e, false, true, rd, src);
    if (st) return st;
    ss->passes++;
    ss->flows = D.ft.n;
    ss->records = D.n;
    int N = e->n_chunks;
    encode_pass E;
    memset(&E, 0, sizeof E);
    E.e = e;
    E.D = &D;
    E.sink = sink;
    E.sink_ctx = sink_ctx;
    E.te = vf_enc_time_enc(e);
    for (int i = 0; i < e->n_fields; i++) E.has_time |= e->fields[i].field == VF_F_TIME;
    E.tags = e->attr_dim - 2 * (N + 1); /* flow tags are the last 2(N+1) columns */
    E.free_s = NIL;
    E.ch = calloc((size_t)N, sizeof *E.ch);
    E.open_of_flow = malloc((D.ft.n ? D.ft.n : 1) * sizeof *E.open_of_flow);
    E.open_in = calloc((size_t)N, sizeof *E.open_in);
    E.n_open = calloc((size_t)N, sizeof *E.n_open);
    E.cap_open = calloc((size_t)N, sizeof *E.cap_open);
    E.by_end = malloc((size_t)N * sizeof *E.by_end);
    E.tmp = malloc(((size_t)e->feat_dim + 1) * sizeof *E.tmp);
    if (!E.ch || !E.open_of_flow || !E.open_in || !E.n_open || !E.cap_open || !E.by_end || !E.tmp) {
        st = vf_fail(VF_ERR_OOM, "encode: out of memory");
        goto done;
    }
    for (size_t f = 0; f < D.ft.n; f++) E.open_of_flow[f] = NIL;
    /* the chunk arrays are allocated at a chunk's first record (chunk_open) */
    for (int c = 0; c < N; c++) {
        vf_encoded *C = &E.ch[c];
        C->chunk = c;
        C->n_flows = D.n_flows[c];
        C->max_len = e->max_len;
        C->attr_dim = e->attr_dim;
        C->feat_dim = e->feat_dim;
    }
    /* chunks without records are never closed: they have no series */
    for (int c = 0; c < N; c++) E.by_end[c] = c;
    g_last_pos = D.last_pos; /* qsort has no context argument; single-threaded use */
    qsort(E.by_end, (size_t)N, sizeof *E.by_end, cmp_end);
    while (E.next_end < N && D.last_pos[E.by_end[E.next_end]] < 0) E.next_end++;
    vf_trace stats;
    st = rd(src, &stats, encode_rec_sink, &E);
    vf_trace_free(&stats);
    ss->passes++;
    if (!st && E.n != D.n) st = vf_fail(VF_ERR_FORMAT, "encode: the trace changed between reads (%llu records, then %llu)",
                                        (unsigned long long)D.n, (unsigned long long)E.n);
    if (!st && E.live) st = vf_fail(VF_ERR_FORMAT, "encode: the trace changed between reads (%zu series left open)", E.live);
    /* chunks without a record: empty, as vf_encode leaves them */
    for (int c = 0; c < N && !st; c++)
        if (D.last_pos[c] < 0 && !(st = chunk_open(&E, c))) st = chunk_give(&E, c);
    ss->peak_live = E.peak_live;
    ss->peak_chunks = E.peak_held;
done:
    if (E.s) {
        for (uint32_t i = 0; i < E.cap_s; i++) {
            /* open series (after an error) still own their arrays */
            bool open = false;
            for (int c = 0; c < N && E.n_open && !open; c++)
                for (size_t k = 0; k < E.n_open[c] && !open; k++) open = E.open_in[c][k] == i;
            if (open) { free(E.s[i].ts); free(E.s[i].seq); }
        }
    }
    free(E.s);
    if (E.open_in)
        for (int c = 0; c < N; c++) free(E.open_in[c]);
    free(E.open_in);
    free(E.n_open);
    free(E.cap_open);
    free(E.by_end);
    free(E.open_of_flow);
    free(E.tmp);
    flow_pass_free(&D);
    vf_encoded_free(E.ch, E.ch ? N : 0); /* arrays of chunks not given (after an error) */
    return st;
}

typedef struct collect_ctx {
    vf_encoded *ch;
} collect_ctx;

static vf_status collect_chunk(void *ctx, vf_encoded *chunk) {
    ((collect_ctx *)ctx)->ch[chunk->chunk] = *chunk;
    return VF_OK;
}

vf_status vf_encode_stream(const vf_encoder *e, vf_record_reader rd, void *src, vf_encoded **out,
                           vf_stream_stats *ss) {
    *out = NULL;
    collect_ctx k = {calloc((size_t)e->n_chunks, sizeof *k.ch)};
    if (!k.ch) return vf_fail(VF_ERR_OOM, "encode: out of memory");
    vf_status st = vf_encode_stream_each(e, rd, src, collect_chunk, &k, ss);
    if (st) { vf_encoded_free(k.ch, e->n_chunks); return st; }
    *out = k.ch;
    return VF_OK;
}
