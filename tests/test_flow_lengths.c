/* flow_lengths = "training" (engine/trace/flow_lengths.c): the encoder's
 * per-chunk, per-kind histograms of training flow lengths (uncut by
 * max_flow_len), their file form, and the decode step that gives them to
 * the generated rows by rank. carried_gaps = "training"
 * (engine/trace/carried_gaps.c): the same for the gaps between a flow's
 * parts in successive chunks; flow_spans = "training"
 * (engine/trace/flow_spans.c) for the number of chunks a flow is in. */
#include <criterion/criterion.h>
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace/encode.h"
#include "trace/encode_internal.h"
#include "util.h"

#define T0 (1000000000LL * 1500000000LL)

static void empty_flows(vf_trace *t) {
    memset(t, 0, sizeof *t);
    t->kind = VF_TRACE_FLOWS;
    t->linktype = -1;
}

/* n records of the flow (protocol proto) with client port sport, from ts every step ns. */
static void add_flow_proto(vf_trace *t, uint8_t proto, uint16_t sport, int n, int64_t ts, int64_t step) {
    for (int k = 0; k < n; k++) {
        vf_record r;
        memset(&r, 0, sizeof r);
        vf_addr_from_v4(&r.src, 0x0A000001u);
        vf_addr_from_v4(&r.dst, 0x08080808u);
        r.ip_version = 4;
        r.sport = sport;
        r.dport = 80;
        r.proto = proto;
        r.pkts = 1 + (uint64_t)k;
        r.bytes = 40 * r.pkts;
        r.dur_ns = 1000;
        r.label = -1;
        r.ts_ns = ts + (int64_t)k * step;
        cr_assert_eq(vf_trace_append(t, &r), VF_OK);
    }
}

static void add_flow(vf_trace *t, uint16_t sport, int n, int64_t ts, int64_t step) {
    add_flow_proto(t, 6, sport, n, ts, step);
}

static void fit(const vf_trace *t, int n_chunks, int max_len, vf_encoder *e) {
    vf_data_desc dd;
    vf_data_desc_default(VF_TRACE_FLOWS, &dd);
    dd.n_chunks = n_chunks;
    dd.max_flow_len = max_len;
    dd.flow_lengths = VF_FLEN_TRAINING;
    dd.w2v_epochs = 1;
    cr_assert_eq(vf_encoder_fit(&dd, t, e), VF_OK, "%s", vf_last_error());
}

/* Histogram h holds exactly the n (length, count) pairs in want. */
static void expect_hist(const vf_len_hist *h, int n, const int64_t (*want)[2], const char *what) {
    cr_assert_eq(h->n, n, "%s: %d lengths, expected %d", what, h->n, n);
    for (int k = 0; k < n; k++) {
        cr_expect_eq(h->len[k], want[k][0], "%s: length %d is %lld", what, k, (long long)h->len[k]);
        cr_expect_eq(h->count[k], want[k][1], "%s: count of %lld is %lld", what, (long long)want[k][0],
                     (long long)h->count[k]);
    }
}

/* Row r of E gets `steps` steps: flags 1 up to it, then `last` (the flag
 * after the last step, < 1/2; or at max_len the last step's, >= 1/2). */
static void set_steps(vf_encoded *E, int r, int steps, float last) {
    float *f = E->gen_flag + (size_t)r * (size_t)E->max_len;
    for (int k = 0; k < E->max_len; k++) f[k] = k < steps ? 1.0f : 0.0f;
    if (steps < E->max_len) f[steps] = last;
    else f[E->max_len - 1] = last;
}

Test(flow_lengths, generated_rows_get_the_training_lengths_by_rank) {
    /* one chunk; training flows of 2 (six), 5 (three) and 25 (one) records,
     * max_flow_len 4 cuts the last four in training */
    vf_trace t;
    empty_flows(&t);
    static const int len[10] = {2, 2, 2, 2, 2, 2, 5, 5, 5, 25};
    for (int k = 0; k < 10; k++) add_flow(&t, (uint16_t)(3000 + k), len[k], T0 + k * 1000, 100000);
    vf_encoder e;
    fit(&t, 1, 4, &e);
    cr_assert(e.flen, "the histograms");
    static const int64_t h0[][2] = {{2, 6}, {5, 3}, {25, 1}};
    const int whole = vf_flen_kind(false, false, 6);
    expect_hist(&e.flen[whole], 3, h0, "chunk 0, whole TCP flows");
    for (int k = 0; k < VF_FLEN_KINDS; k++) cr_expect(k == whole || e.flen[k].n == 0, "kind %d: no flows", k);

    /* the model's rows: steps 1, 2, 2, 3, 2, 2(carried), 4, 3, 4, 4 */
    vf_encoded *ch;
    cr_assert_eq(vf_encode(&e, &t, &ch), VF_OK, "%s", vf_last_error());
    vf_encoded *E = &ch[0];
    cr_assert_eq(E->n_flows, 10);
    static const int steps[10] = {1, 2, 2, 3, 2, 2, 4, 3, 4, 4};
    static const float last[10] = {0.2f, 0.1f, 0.3f, 0.1f, 0.2f, 0.2f, 0.9f, 0.3f, 0.6f, 0.7f};
    for (int r = 0; r < 10; r++) set_steps(E, r, steps[r], last[r]);
    /* row 5 is a flow carried from an earlier chunk: a kind the training
     * chunk lacks, so it keeps its two records */
    int tags = E->attr_dim - 2 * (1 + 1);
    float *a5 = E->attr + 5 * (size_t)E->attr_dim;
    a5[tags] = 1, a5[tags + 1] = 0;
    vf_trace d;
    memset(&d, 0, sizeof d);
    cr_assert_eq(vf_decode(&e, ch, 1, &d), VF_OK, "%s", vf_last_error());
    cr_assert_eq(d.n, 27);
    /* each record's flow id: its row's index; each row's first record */
    int64_t *rec_id = malloc(d.n * sizeof *rec_id);
    cr_assert(rec_id);
    size_t first[10], at = 0;
    for (int r = 0; r < 10; r++) {
        cr_assert_eq(vf_encoded_steps(E, r), steps[r]);
        first[r] = at;
        for (int k = 0; k < steps[r]; k++) rec_id[at++] = r;
    }
    /* row 6's 4 steps, 10 ns apart, end 10 ns before the window does: with
     * 23 copies it needs 260 ns where 40 are left, so it moves 221 ns
     * earlier (the window began long before) */
    for (int k = 0; k < 4; k++) d.recs[first[6] + (size_t)k].ts_ns = e.chunk_begin[1] - 1 - 40 + 10 * k;
    vf_record before[27];
    memcpy(before, d.recs, sizeof before);

    size_t from[2] = {0, d.n};
    vf_flow_lengths_stats ls;
    int64_t *src = NULL;
    cr_assert_eq(vf_flow_lengths(&e, ch, 1, &d, from, &rec_id, &src, &ls), VF_OK, "%s", vf_last_error());
    cr_assert(src);
    /* ranked: row 0 (1 step), rows 1 2 4 (2), rows 3 7 (3; 3's flag after
     * it is lower), rows 8 9 6 (4; by the last flag): nine rows take the
     * ten training flows' lengths at quantiles (i + 1/2) 10 / 9, 2 2 2 2 2
     * 5 5 5 25 = 50 records, moved to the training's 52 (keep_part_records):
     * each by len (52 / 50 - 1) toward 0, 26 for 25, and the one left to the
     * longest */
    static const int want[10] = {2, 2, 2, 2, 2, 2, 27, 5, 5, 5};
    cr_expect(ls.applied);
    cr_expect_eq(ls.rows, 10);
    cr_expect_eq(ls.shortened, 1, "row 3");
    cr_expect_eq(ls.lengthened, 5, "rows 0 6 7 8 9");
    cr_expect_eq(ls.records_before, 27);
    cr_assert_eq(ls.records_after, 2 * 6 + 27 + 3 * 5);
    cr_assert_eq(d.n, (size_t)ls.records_after);
    cr_expect_eq(from[0], 0);
    cr_expect_eq(from[1], d.n);
    /* rows in order, each with its records together; a row that would run
     * past the window moves earlier to end inside it */
    const int64_t end = e.chunk_begin[1] - 1;
    size_t i = 0;
    for (int r = 0; r < 10; r++) {
        const vf_record *R = before + first[r];
        int64_t one_gap = before[first[1] + 1].ts_ns - before[first[1]].ts_ns;
        double need = 0;
        int64_t shift = 0;
        for (int k = steps[r]; k < want[r]; k++) {
            int j = steps[r] >= 2 ? 1 + (k - 1) % (steps[r] - 1) : 0;
            int64_t g = steps[r] >= 2 ? R[j].ts_ns - R[j - 1].ts_ns : one_gap;
            need += (double)(g > 0 ? g : 0);
        }
        int kept = want[r] < steps[r] ? want[r] : steps[r];
        double span = (double)(R[kept - 1].ts_ns - R[0].ts_ns) + need, room = (double)(end - R[0].ts_ns);
        if (span > room) shift = (int64_t)(span - room) + 1;
        cr_expect_eq(shift, r == 6 ? 221 : 0, "row %d moves %lld ns", r, (long long)shift);
        for (int k = 0; k < want[r]; k++, i++) {
            cr_assert_eq(rec_id[i], r, "record %zu belongs to row %d", i, r);
            const vf_record *x = &d.recs[i];
            if (k < steps[r]) {
                cr_expect_eq(src[i], (int64_t)(first[r] + (size_t)k), "record %zu is decoded record %zu", i,
                             first[r] + (size_t)k);
                vf_record y = R[k];
                y.ts_ns -= shift;
                cr_expect(!memcmp(x, &y, sizeof *x), "row %d keeps its record %d", r, k);
                continue;
            }
            /* past its steps: a copy of step j after that step's own gap; a
             * one-step row after the chunk's first generated gap (row 1's) */
            int j = steps[r] >= 2 ? 1 + (k - 1) % (steps[r] - 1) : 0;
            int64_t gap = steps[r] >= 2 ? R[j].ts_ns - R[j - 1].ts_ns : one_gap;
            cr_expect_eq(x->ts_ns - d.recs[i - 1].ts_ns, gap > 0 ? gap : 0, "row %d record %d: the gap", r, k);
            cr_expect_leq(x->ts_ns, end, "row %d record %d inside the window", r, k);
            cr_expect_eq(x->pkts, R[j].pkts, "row %d record %d: step %d's values", r, k, j);
            cr_expect_eq(src[i], (int64_t)(first[r] + (size_t)j), "row %d record %d copies decoded record %zu", r, k,
                         first[r] + (size_t)j);
            cr_expect_eq(x->sport, R[j].sport);
        }
    }
    cr_assert_eq(i, d.n);

    /* a record count that does not match the rows' steps is refused */
    from[1] = d.n - 1;
    free(src);
    cr_expect_eq(vf_flow_lengths(&e, ch, 1, &d, from, &rec_id, NULL, &ls), VF_ERR_ARG);
    free(rec_id);
    vf_trace_free(&d);
    vf_encoded_free(ch, 1);
    vf_encoder_free(&e);
    vf_trace_free(&t);
}

Test(flow_lengths, each_protocol_takes_its_own_lengths) {
    /* training: four TCP flows of 2 records, two UDP flows of 6; the model
     * makes every TCP row 3 steps long and every UDP row 1. Ranked together,
     * the UDP rows would take the 2s; by protocol, TCP rows get 2 and UDP 6. */
    vf_trace t;
    empty_flows(&t);
    for (int k = 0; k < 6; k++) add_flow_proto(&t, k < 4 ? 6 : 17, (uint16_t)(3000 + k), k < 4 ? 2 : 6, T0 + k * 1000, 1000000);
    vf_encoder e;
    fit(&t, 1, 8, &e);
    static const int64_t tcp[][2] = {{2, 4}}, udp[][2] = {{6, 2}};
    expect_hist(&e.flen[vf_flen_kind(false, false, 6)], 1, tcp, "TCP");
    expect_hist(&e.flen[vf_flen_kind(false, false, 17)], 1, udp, "UDP");
    vf_encoded *ch;
    cr_assert_eq(vf_encode(&e, &t, &ch), VF_OK, "%s", vf_last_error());
    vf_encoded *E = &ch[0];
    cr_assert_eq(E->n_flows, 6);
    vf_trace d;
    memset(&d, 0, sizeof d);
    /* the rows' protocols, as they decode */
    cr_assert_eq(vf_decode(&e, ch, 1, &d), VF_OK, "%s", vf_last_error());
    uint8_t proto[6];
    for (int r = 0, at = 0; r < 6; at += vf_encoded_steps(E, r), r++) proto[r] = d.recs[at].proto;
    vf_trace_free(&d);
    memset(&d, 0, sizeof d);
    int n_udp = 0;
    for (int r = 0; r < 6; r++) {
        n_udp += proto[r] == 17;
        set_steps(E, r, proto[r] == 17 ? 1 : 3, 0.2f);
    }
    cr_assert_eq(n_udp, 2, "two rows decode to UDP");
    cr_assert_eq(vf_decode(&e, ch, 1, &d), VF_OK, "%s", vf_last_error());
    cr_assert_eq(d.n, 4 * 3 + 2 * 1);
    int64_t *rec_id = malloc(d.n * sizeof *rec_id);
    cr_assert(rec_id);
    for (int r = 0, at = 0; r < 6; r++)
        for (int k = 0; k < vf_encoded_steps(E, r); k++) rec_id[at++] = r;
    size_t from[2] = {0, d.n};
    vf_flow_lengths_stats ls;
    cr_assert_eq(vf_flow_lengths(&e, ch, 1, &d, from, &rec_id, NULL, &ls), VF_OK, "%s", vf_last_error());
    int got[6] = {0};
    for (size_t i = 0; i < d.n; i++) got[rec_id[i]]++;
    for (int r = 0; r < 6; r++) cr_expect_eq(got[r], proto[r] == 17 ? 6 : 2, "row %d (protocol %d): %d records", r, proto[r], got[r]);
    cr_expect_eq(ls.shortened, 4);
    cr_expect_eq(ls.lengthened, 2);
    free(rec_id);
    vf_trace_free(&d);

    /* the model made no UDP row: the two UDP lengths go to the best-ranked
     * rows left (TCP rows of 3 steps: those with the highest flag after it) */
    memset(&d, 0, sizeof d);
    static const int steps2[6] = {3, 3, 3, 3, 1, 1};
    static const float last2[6] = {0.1f, 0.4f, 0.2f, 0.3f, 0.2f, 0.2f};
    for (int r = 0; r < 6; r++) set_steps(E, r, steps2[r], last2[r]);
    cr_assert_eq(vf_decode(&e, ch, 1, &d), VF_OK, "%s", vf_last_error());
    for (size_t i = 0; i < d.n; i++) d.recs[i].proto = 6;
    rec_id = malloc(d.n * sizeof *rec_id);
    cr_assert(rec_id);
    for (int r = 0, at = 0; r < 6; r++)
        for (int k = 0; k < steps2[r]; k++) rec_id[at++] = r;
    from[1] = d.n;
    cr_assert_eq(vf_flow_lengths(&e, ch, 1, &d, from, &rec_id, NULL, &ls), VF_OK, "%s", vf_last_error());
    int got2[6] = {0};
    for (size_t i = 0; i < d.n; i++) got2[rec_id[i]]++;
    static const int want2[6] = {2, 6, 2, 6, 2, 2};
    for (int r = 0; r < 6; r++) cr_expect_eq(got2[r], want2[r], "row %d: %d records", r, got2[r]);
    cr_expect_eq(d.n, 4 * 2 + 2 * 6, "the training's records, whatever the protocols");
    free(rec_id);
    vf_trace_free(&d);
    vf_encoded_free(ch, 1);
    vf_encoder_free(&e);
    vf_trace_free(&t);
}

/* The model's rows under encoder e: n flows of 4 records 1 us apart (in
 * any training window here), row r cut to steps[r] steps. Their decode in
 * d, each record's flow id (its row) in *rec_id. */
static void rows_of(const vf_encoder *e, int n, const int *steps, vf_trace *d, int64_t **rec_id, vf_encoded **ch) {
    vf_trace rows;
    empty_flows(&rows);
    for (int r = 0; r < n; r++) add_flow(&rows, (uint16_t)(4000 + r), 4, T0 + r * 1000, 1000);
    TU_OK(vf_encode(e, &rows, ch));
    vf_trace_free(&rows);
    cr_assert_eq((*ch)[0].n_flows, n);
    for (int r = 0; r < n; r++) set_steps(&(*ch)[0], r, steps[r], steps[r] < (*ch)[0].max_len ? 0.2f : 0.9f);
    memset(d, 0, sizeof *d);
    TU_OK(vf_decode(e, *ch, 1, d));
    cr_assert(*rec_id = malloc(d->n * sizeof **rec_id));
    for (int r = 0, at = 0; r < n; r++)
        for (int k = 0; k < steps[r]; k++) (*rec_id)[at++] = r;
}

Test(flow_lengths, a_part_keeps_the_training_records_whatever_its_rows) {
    /* one chunk; training flows of the given lengths, 1 ms apart; the rows
     * rank by their steps, then by row (their flags are the same) */
    static const struct {
        int n_train, train[5], n_rows, steps[6], want[6];
    } cases[] = {
        /* more rows than flows: 5 and 140 (145 records) at quantiles 1/3,
         * 1, 5/3 of 2 give 5 140 140 (285, the longest twice); each moves
         * by len (145 / 285 - 1) rounded toward 0, 3 72 72 (147), and the
         * first of the longest run loses one, twice */
        {2, {5, 140}, 3, {1, 2, 3}, {3, 71, 71}},
        /* a part a little off: 5 5 5 5 40 (60) give five 5s and 40 (65);
         * the 5s stay (5 (60 / 65 - 1) rounds to 0), the 40 gives up 3,
         * then the 2 left */
        {5, {5, 5, 5, 5, 40}, 6, {1, 1, 2, 2, 3, 4}, {5, 5, 5, 5, 5, 35}},
        /* more rows than records: one each */
        {1, {3}, 5, {1, 2, 3, 4, 4}, {1, 1, 1, 1, 1}},
        /* fewer rows than flows: 2 2 10 10 (24) at 1, 3 of 4 give 2 10
         * (12), each moved by len (24 / 12 - 1) */
        {4, {2, 2, 10, 10}, 2, {1, 2}, {4, 20}},
        /* 1 4 9 30 (44) at 2/3, 2, 10/3 of 4 give 1 9 30 (40): each moves
         * by len (44 / 40 - 1) rounded toward 0, 1 9 33, and the one left
         * goes to the longest */
        {4, {1, 4, 9, 30}, 3, {3, 1, 2}, {34, 1, 9}},
        /* as many rows as flows: the training's lengths as they are */
        {3, {1, 4, 9}, 3, {3, 1, 2}, {9, 1, 4}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        vf_trace t;
        empty_flows(&t);
        for (int k = 0; k < cases[c].n_train; k++)
            add_flow(&t, (uint16_t)(3000 + k), cases[c].train[k], T0 + k * 1000, 1000000);
        vf_encoder e;
        fit(&t, 1, 4, &e);
        vf_trace d;
        int64_t *rec_id;
        vf_encoded *ch;
        rows_of(&e, cases[c].n_rows, cases[c].steps, &d, &rec_id, &ch);
        size_t from[2] = {0, d.n};
        vf_flow_lengths_stats ls;
        TU_OK(vf_flow_lengths(&e, ch, 1, &d, from, &rec_id, NULL, &ls));
        int got[6] = {0};
        for (size_t i = 0; i < d.n; i++) got[rec_id[i]]++;
        int records = 0;
        for (int k = 0; k < cases[c].n_train; k++) records += cases[c].train[k];
        for (int r = 0; r < cases[c].n_rows; r++)
            cr_expect_eq(got[r], cases[c].want[r], "case %zu row %d: %d records, expected %d", c, r, got[r],
                         cases[c].want[r]);
        if (records < cases[c].n_rows) records = cases[c].n_rows;
        cr_expect_eq(d.n, (size_t)records, "case %zu: the training's records, or one per row", c);
        free(rec_id);
        vf_trace_free(&d);
        vf_encoded_free(ch, 1);
        vf_encoder_free(&e);
        vf_trace_free(&t);
    }
}

Test(flow_lengths, a_row_past_its_window_moves_into_it) {
    /* training: three flows of 3 records, the window W ns long; the model's
     * three rows have 3 steps each (their lengths: no copies). Row 0 fits;
     * row 1 begins at W / 2 with gaps of W / 3, so it moves earlier, whole,
     * to end 1 ns before the window does; row 2's gaps are 2 W / 3, longer
     * than the window, so its first record stays and its gaps shrink to
     * fit. None is left for the truncation to drop. */
    vf_trace t;
    empty_flows(&t);
    for (int k = 0; k < 3; k++) add_flow(&t, (uint16_t)(3000 + k), 3, T0 + k * 1000, 1000000);
    vf_encoder e;
    fit(&t, 1, 4, &e);
    static const int steps[3] = {3, 3, 3};
    vf_trace d;
    int64_t *rec_id;
    vf_encoded *ch;
    rows_of(&e, 3, steps, &d, &rec_id, &ch);
    const int64_t begin = e.chunk_begin[0], end = e.chunk_begin[1] - 1, W = end - begin;
    const int64_t gap[3] = {0, W / 3, 2 * W / 3}, at[3] = {0, W / 2, W / 2};
    for (int r = 1; r < 3; r++)
        for (int k = 0; k < 3; k++) d.recs[3 * r + k].ts_ns = begin + at[r] + k * gap[r];
    vf_record before[9];
    memcpy(before, d.recs, sizeof before);
    size_t from[2] = {0, d.n};
    vf_flow_lengths_stats ls;
    TU_OK(vf_flow_lengths(&e, ch, 1, &d, from, &rec_id, NULL, &ls));
    cr_assert_eq(d.n, 9);
    cr_expect_eq(ls.shortened + ls.lengthened, 0);
    cr_expect(!memcmp(d.recs, before, 3 * sizeof *before), "row 0 fits: unchanged");
    const int64_t shift = 2 * gap[1] - (W - at[1]) + 1;
    const double scale = (double)(W - at[2]) / (double)(2 * gap[2]);
    for (int k = 0; k < 3; k++) {
        cr_expect_eq(d.recs[3 + k].ts_ns, before[3 + k].ts_ns - shift, "row 1 record %d", k);
        cr_expect_eq(d.recs[6 + k].ts_ns, begin + at[2] + (int64_t)((double)(k * gap[2]) * scale), "row 2 record %d", k);
    }
    cr_expect_eq(d.recs[5].ts_ns, end - 1);
    cr_expect_eq(d.recs[8].ts_ns, end);
    for (size_t i = 0; i < d.n; i++) cr_expect(vf_in_window(e.chunk_begin, 0, d.recs[i].ts_ns), "record %zu", i);
    free(rec_id);
    vf_trace_free(&d);
    vf_encoded_free(ch, 1);
    vf_encoder_free(&e);
    vf_trace_free(&t);
}

Test(flow_lengths, parts_of_flows_across_chunks_have_their_own_histograms) {
    /* two chunks of 1 s: flow X 3 records in chunk 0 and 2 in chunk 1, Y 4
     * in chunk 0, Z 1 in chunk 1 and W 2 in chunk 1 */
    vf_trace t;
    empty_flows(&t);
    const int64_t s = 1000000000;
    add_flow(&t, 3000, 5, T0 + s / 2, s / 5);      /* 0.5 0.7 0.9 | 1.1 1.3 */
    add_flow(&t, 3001, 4, T0, s / 10);             /* 0 0.1 0.2 0.3 */
    add_flow(&t, 3002, 1, T0 + 3 * s / 2, 0);      /* 1.5 */
    add_flow(&t, 3003, 2, T0 + 19 * s / 10, s / 20); /* 1.9 1.95 */
    add_flow(&t, 3004, 1, T0 + 2 * s - 1, 0);       /* the window's end */
    vf_encoder e;
    fit(&t, 2, 10, &e);
    cr_assert(e.flen);
    static const int64_t whole0[][2] = {{4, 1}}, goes_on[][2] = {{3, 1}}, carried_ends[][2] = {{2, 1}},
                         whole1[][2] = {{1, 2}, {2, 1}};
    expect_hist(&e.flen[0 * VF_FLEN_KINDS + vf_flen_kind(false, false, 6)], 1, whole0, "chunk 0, whole");
    expect_hist(&e.flen[0 * VF_FLEN_KINDS + vf_flen_kind(false, true, 6)], 1, goes_on, "chunk 0, goes on");
    expect_hist(&e.flen[1 * VF_FLEN_KINDS + vf_flen_kind(true, false, 6)], 1, carried_ends, "chunk 1, carried");
    expect_hist(&e.flen[1 * VF_FLEN_KINDS + vf_flen_kind(false, false, 6)], 2, whole1, "chunk 1, whole");
    cr_expect_eq(e.flen[0 * VF_FLEN_KINDS + vf_flen_kind(true, false, 6)].n, 0);
    cr_expect_eq(e.flen[1 * VF_FLEN_KINDS + vf_flen_kind(false, true, 6)].n, 0);

    /* saved and loaded, the histograms come back; a damaged one is refused */
    char path[128];
    snprintf(path, sizeof path, "/tmp/vkflow_flen_%d.txt", (int)getpid());
    vf_encoder e2;
    char *text = tu_encoder_reload(&e, path, &e2);
    cr_assert(e2.flen);
    expect_hist(&e2.flen[1 * VF_FLEN_KINDS + vf_flen_kind(false, false, 6)], 2, whole1, "loaded: chunk 1, whole");
    expect_hist(&e2.flen[0 * VF_FLEN_KINDS + vf_flen_kind(false, true, 6)], 1, goes_on, "loaded: chunk 0, goes on");
    vf_encoder_free(&e2);
    char *line = strstr(text, "\n2 1 2 2 1\n"); /* chunk 1, whole flows: lengths 1 and 2 */
    cr_assert(line, "chunk 1's line of whole flows");
    line[5] = '0'; /* length 2 -> 0: not >= 1 */
    tu_write_resummed(path, text);
    free(text);
    cr_expect_eq(vf_encoder_load(path, &e2), VF_ERR_FORMAT);
    cr_expect(strstr(vf_last_error(), "flen value"), "%s", vf_last_error());

    /* a privacy run must ask for the same lengths as its public run */
    TU_OK(vf_encoder_save(&e, path));
    vf_data_desc dd;
    vf_data_desc_default(VF_TRACE_FLOWS, &dd);
    dd.n_chunks = 2;
    dd.max_flow_len = 10;
    vf_encoder p;
    cr_expect_eq(vf_encoder_adopt_public(path, &dd, &t, &p), VF_ERR_FORMAT);
    cr_expect(strstr(vf_last_error(), "flow_lengths training"), "%s", vf_last_error());
    dd.flow_lengths = VF_FLEN_TRAINING;
    TU_OK(vf_encoder_adopt_public(path, &dd, &t, &p));
    cr_expect(p.flen);
    vf_encoder_free(&p);
    unlink(path);
    vf_encoder_free(&e);
    vf_trace_free(&t);
}

Test(flow_lengths, a_carried_flow_keeps_its_rank_from_chunk_to_chunk) {
    /* two chunks of 1 s, three flows in both: P 8 records in each, Q and R
     * one in each (R pins the window's ends) */
    vf_trace t;
    empty_flows(&t);
    const int64_t s = 1000000000;
    add_flow(&t, 3000, 8, T0 + s / 10, s / 10);         /* 0.1 .. 0.8 */
    add_flow(&t, 3000, 8, T0 + 11 * s / 10, s / 10);    /* 1.1 .. 1.8 */
    add_flow(&t, 3001, 1, T0 + s / 2, 0);
    add_flow(&t, 3001, 1, T0 + 3 * s / 2, 0);
    add_flow(&t, 3002, 1, T0, 0);
    add_flow(&t, 3002, 1, T0 + 2 * s - 1, 0);
    vf_encoder e;
    fit(&t, 2, 4, &e);
    static const int64_t parts[][2] = {{1, 2}, {8, 1}};
    expect_hist(&e.flen[0 * VF_FLEN_KINDS + vf_flen_kind(false, true, 6)], 2, parts, "chunk 0, goes on");
    expect_hist(&e.flen[1 * VF_FLEN_KINDS + vf_flen_kind(true, false, 6)], 2, parts, "chunk 1, carried");
    vf_encoded *ch;
    cr_assert_eq(vf_encode(&e, &t, &ch), VF_OK, "%s", vf_last_error());
    cr_assert(ch[0].n_flows == 3 && ch[1].n_flows == 3);
    /* the model: P's row is the longest in chunk 0 and the shortest in
     * chunk 1, where Q's is the longest */
    vf_trace d;
    memset(&d, 0, sizeof d);
    size_t from[3];
    for (int c = 0; c < 2; c++) {
        from[c] = d.n;
        vf_trace one;
        memset(&one, 0, sizeof one);
        TU_OK(vf_decode(&e, &ch[c], 1, &one)); /* rows' ports, in row order: which row is which flow */
        for (int r = 0, at = 0; r < 3; r++) {
            uint16_t port = one.recs[at].sport;
            at += vf_encoded_steps(&ch[c], r);
            int steps = port == 3000 ? (c == 0 ? 4 : 1) : port == 3001 ? (c == 0 ? 1 : 4) : 1;
            set_steps(&ch[c], r, steps, steps == 4 ? 0.9f : 0.2f);
        }
        vf_trace_free(&one);
        TU_OK(vf_decode(&e, &ch[c], 1, &d));
    }
    from[2] = d.n;
    cr_assert_eq(d.n, 12);
    int64_t *rec_id = malloc(d.n * sizeof *rec_id);
    cr_assert(rec_id);
    for (size_t i = 0; i < d.n; i++) rec_id[i] = d.recs[i].sport - 3000; /* one id per flow, in both chunks */
    vf_flow_lengths_stats st;
    TU_OK(vf_flow_lengths(&e, ch, 2, &d, from, &rec_id, NULL, &st));
    /* chunk 0 gives P the 8 (its row is the longest); in chunk 1 the carried
     * rows rank first by the length their flow got in chunk 0, so P's
     * shortest row takes the 8 again: P 16, Q 2, R 2 as in training (ranked
     * by the rows' own steps: P 9 and Q 9) */
    int64_t per_flow[3] = {0};
    for (size_t i = 0; i < d.n; i++) {
        cr_assert(rec_id[i] >= 0 && rec_id[i] < 3);
        per_flow[rec_id[i]]++;
    }
    cr_expect_eq(per_flow[0], 16, "P: %lld records", (long long)per_flow[0]);
    cr_expect_eq(per_flow[1], 2, "Q: %lld records", (long long)per_flow[1]);
    cr_expect_eq(per_flow[2], 2, "R: %lld records", (long long)per_flow[2]);
    cr_expect_eq(from[1] - from[0], 10);
    cr_expect_eq(from[2] - from[1], 10);
    free(rec_id);
    vf_trace_free(&d);
    vf_encoded_free(ch, 2);
    vf_encoder_free(&e);
    vf_trace_free(&t);
}

/* The gaps between a flow's parts: training flows P (0.1 0.2 | 1.3 s) and Q
 * (0.5 | 1.2 s) make gaps 1.1 and 0.7 s; R1 and R2 (one record each, at
 * the span's ends) pin the chunk edges at 0, 1 and 2 s. */
Test(flow_lengths, carried_gaps_take_the_training_gaps_by_rank) {
    vf_trace t;
    empty_flows(&t);
    const int64_t s = 1000000000, ms = 1000000;
    add_flow(&t, 3000, 2, T0 + 100 * ms, 100 * ms);
    add_flow(&t, 3000, 1, T0 + 1300 * ms, 0);
    add_flow(&t, 3001, 1, T0 + 500 * ms, 0);
    add_flow(&t, 3001, 1, T0 + 1200 * ms, 0);
    add_flow(&t, 3002, 1, T0, 0);
    add_flow(&t, 3003, 1, T0 + 2 * s - 1, 0);
    vf_data_desc dd;
    vf_data_desc_default(VF_TRACE_FLOWS, &dd);
    dd.n_chunks = 2;
    dd.w2v_epochs = 1;
    dd.carried_gaps = VF_CGAP_TRAINING;
    vf_encoder e;
    cr_assert_eq(vf_encoder_fit(&dd, &t, &e), VF_OK, "%s", vf_last_error());
    cr_assert(e.chunk_begin[0] == T0 && e.chunk_begin[1] == T0 + s && e.chunk_begin[2] == T0 + 2 * s);
    cr_assert_eq(e.n_xgapq, VF_XGAP_BINS + 1);
    /* knot k is the gap of rank round(k / 1024) of the two */
    cr_expect_eq(e.xgapq[0], 700 * ms);
    cr_expect_eq(e.xgapq[511], 700 * ms);
    cr_expect_eq(e.xgapq[512], 1100 * ms);
    cr_expect_eq(e.xgapq[VF_XGAP_BINS], 1100 * ms);

    /* generated records (ms after T0; flow = port - 4000):
     *   chunk 0: f0 100 950, f1 100, f2 100, f4 950
     *   chunk 1: f0 1800 1900, f1 1050 1250, f2 1500, f3 1400, f4 1900
     * the models' gaps: f0 850, f1 950, f4 950, f2 1400: ranks 0-3 (f1
     * before f4 by id) take the quantiles 1/8 3/8 5/8 7/8: 700 700 1100
     * 1100. f0 begins at 950 + 700 = 1650; f1 at 100 + 700 = 800, held at
     * the window's start 1000; f4 at 950 + 1100 = 2050, held so that it
     * ends at the window's last ns; f2 at 100 + 1100 = 1200; f3 was in no
     * chunk before and stays */
    vf_trace d;
    empty_flows(&d);
    static const struct { int flow; int64_t at; } rec[] = {
        {0, 100}, {0, 950}, {1, 100}, {2, 100}, {4, 950},
        {0, 1800}, {0, 1900}, {1, 1050}, {1, 1250}, {2, 1500}, {3, 1400}, {4, 1900},
    };
    int64_t rec_id[12];
    for (int i = 0; i < 12; i++) {
        add_flow(&d, (uint16_t)(4000 + rec[i].flow), 1, T0 + rec[i].at * ms, 0);
        rec_id[i] = rec[i].flow;
    }
    size_t from[3] = {0, 5, 12};
    vf_carried_gaps_stats st;
    TU_OK(vf_carried_gaps(&e, &d, from, rec_id, &st));
    cr_expect(st.applied);
    cr_expect_eq(st.parts, 4);
    cr_expect_eq(st.moved, 4);
    cr_expect_eq(st.clamped, 2);
    static const int64_t want[12] = {100, 950, 100, 100, 950, 1650, 1750, 1000, 1200, 1200, 1400, -1};
    for (int i = 0; i < 12; i++) {
        int64_t w = want[i] < 0 ? 2 * s - 1 : want[i] * ms;
        cr_expect_eq(d.recs[i].ts_ns - T0, w, "record %d (flow %d): %lld ns, expected %lld", i, rec[i].flow,
                     (long long)(d.recs[i].ts_ns - T0), (long long)w);
    }
    rec_id[3] = -1;
    cr_expect_eq(vf_carried_gaps(&e, &d, from, rec_id, &st), VF_ERR_ARG, "a negative flow id");
    vf_trace_free(&d);

    /* a model gap below 0 (the part before ran past its window, 1200 ms, and
     * the carried part begins at 1100) is carried too, and ranks first: g
     * takes 700 (to 1900), h (gap 1400) 1100 (to 1200) */
    empty_flows(&d);
    add_flow(&d, 4000, 1, T0 + 1200 * ms, 0);
    add_flow(&d, 4001, 1, T0 + 100 * ms, 0);
    add_flow(&d, 4000, 1, T0 + 1100 * ms, 0);
    add_flow(&d, 4001, 1, T0 + 1500 * ms, 0);
    int64_t gh[4] = {0, 1, 0, 1};
    size_t from_gh[3] = {0, 2, 4};
    TU_OK(vf_carried_gaps(&e, &d, from_gh, gh, &st));
    cr_expect_eq(st.parts, 2);
    cr_expect_eq(d.recs[2].ts_ns - T0, 1900 * ms, "g: %lld ns", (long long)(d.recs[2].ts_ns - T0));
    cr_expect_eq(d.recs[3].ts_ns - T0, 1200 * ms, "h: %lld ns", (long long)(d.recs[3].ts_ns - T0));
    vf_trace_free(&d);

    /* saved and loaded, the table comes back; a damaged one is refused */
    char path[128];
    snprintf(path, sizeof path, "/tmp/vkflow_xgap_%d.txt", (int)getpid());
    vf_encoder e2;
    char *text = tu_encoder_reload(&e, path, &e2);
    cr_assert_eq(e2.n_xgapq, VF_XGAP_BINS + 1);
    cr_expect(!memcmp(e2.xgapq, e.xgapq, (size_t)e.n_xgapq * sizeof *e.xgapq));
    vf_encoder_free(&e2);
    char *line = strstr(text, "\nxgapq 1025 700000000 ");
    cr_assert(line, "the xgapq line");
    memcpy(line + 12, "900000000", 9); /* 900 ms, then 700: decreasing */
    tu_write_resummed(path, text);
    free(text);
    cr_expect_eq(vf_encoder_load(path, &e2), VF_ERR_FORMAT);
    cr_expect(strstr(vf_last_error(), "xgapq value (>= 0, non-decreasing)"), "%s", vf_last_error());

    /* a privacy run must ask for the same as its public run */
    TU_OK(vf_encoder_save(&e, path));
    vf_encoder p;
    dd.carried_gaps = VF_CGAP_MODEL;
    cr_expect_eq(vf_encoder_adopt_public(path, &dd, &t, &p), VF_ERR_FORMAT);
    cr_expect(strstr(vf_last_error(), "carried_gaps training"), "%s", vf_last_error());
    dd.carried_gaps = VF_CGAP_TRAINING;
    TU_OK(vf_encoder_adopt_public(path, &dd, &t, &p));
    cr_expect_eq(p.n_xgapq, VF_XGAP_BINS + 1);
    vf_encoder_free(&p);
    unlink(path);

    /* without the option nothing moves */
    vf_encoder_free(&e);
    dd.carried_gaps = VF_CGAP_MODEL;
    cr_assert_eq(vf_encoder_fit(&dd, &t, &e), VF_OK, "%s", vf_last_error());
    cr_expect(!e.xgapq && e.n_xgapq == 0);
    empty_flows(&d);
    add_flow(&d, 4000, 1, T0, 0);
    add_flow(&d, 4000, 1, T0 + 1500 * ms, 0);
    int64_t id2[2] = {0, 0};
    size_t from2[3] = {0, 1, 2};
    TU_OK(vf_carried_gaps(&e, &d, from2, id2, &st));
    cr_expect(!st.applied);
    cr_expect_eq(d.recs[1].ts_ns, T0 + 1500 * ms);
    vf_trace_free(&d);
    vf_encoder_free(&e);
    vf_trace_free(&t);
}

/* flow_lengths, carried_gaps and flow_spans in the data group: model by
 * default, training when asked, an error naming the line otherwise, and the
 * streaming fit refuses the training tables. */
Test(flow_lengths, the_data_group_names_their_values) {
    static const char *const key[3] = {"flow_lengths", "carried_gaps", "flow_spans"};
    for (int k = 0; k < 3; k++) {
        vf_data_desc dd;
        char cfg[256];
        snprintf(cfg, sizeof cfg, "data = { path = \"a.csv\"; %s = \"training\"; };", key[k]);
        TU_OK(vf_data_desc_parse_string("/tmp/x.cfg", cfg, &dd));
        cr_expect(k == 2 ? dd.flow_spans == VF_FSPAN_TRAINING
                  : k ? dd.carried_gaps == VF_CGAP_TRAINING : dd.flow_lengths == VF_FLEN_TRAINING, "%s", key[k]);
        const char *why = NULL;
        cr_expect(vf_data_desc_needs_memory_fit(&dd, &why) && why && strstr(why, key[k]), "%s: %s", key[k],
                  why ? why : "");
        TU_OK(vf_data_desc_parse_string("/tmp/x.cfg", "data = { path = \"a.csv\"; };", &dd));
        cr_expect(dd.flow_lengths == VF_FLEN_MODEL && dd.carried_gaps == VF_CGAP_MODEL && dd.flow_spans == VF_FSPAN_MODEL,
                  "model by default");
        snprintf(cfg, sizeof cfg, "data = {\n path = \"a.csv\";\n %s = \"long\"; };", key[k]);
        cr_expect_neq(vf_data_desc_parse_string("/tmp/x.cfg", cfg, &dd), VF_OK);
        char want[128];
        snprintf(want, sizeof want, "%s 'long': expected model or training", key[k]);
        cr_expect(strstr(vf_last_error(), "x.cfg:3") && strstr(vf_last_error(), want), "%s", vf_last_error());
    }
}

/* A generated chunk of n rows with the encoder's attribute width, all 0;
 * set_tags then gives row r its flow tags in chunk c of 3: the start flag
 * (starts), presence in c, and (absent, present) outputs p[j - c - 1] for
 * the later chunks j. */
static vf_encoded span_chunk(const vf_encoder *e, int c, int n) {
    vf_encoded g;
    memset(&g, 0, sizeof g);
    g.chunk = c;
    g.n_flows = n;
    g.attr_dim = e->attr_dim;
    cr_assert(g.attr = calloc((size_t)n * (size_t)e->attr_dim, sizeof *g.attr));
    return g;
}
static void set_tags(const vf_encoder *e, vf_encoded *g, int r, bool starts, const float (*p)[2]) {
    const int N = e->n_chunks, tags = e->attr_dim - 2 * (N + 1), c = g->chunk;
    float *a = g->attr + (size_t)r * (size_t)e->attr_dim;
    a[tags + !starts] = 0, a[tags + starts] = 1;
    a[tags + 3 + 2 * c] = 1;
    for (int j = c + 1; j < N; j++) a[tags + 2 + 2 * j] = p[j - c - 1][0], a[tags + 3 + 2 * j] = p[j - c - 1][1];
}
/* Row r's presence in chunk j: 1, 0, or -1 when its outputs are not exactly one-hot. */
static int present(const vf_encoder *e, const vf_encoded *g, int r, int j) {
    const int tags = e->attr_dim - 2 * (e->n_chunks + 1);
    const float *a = g->attr + (size_t)r * (size_t)e->attr_dim + tags + 2 + 2 * j;
    return a[0] == 0 && a[1] == 1 ? 1 : a[0] == 1 && a[1] == 0 ? 0 : -1;
}

/* Three chunks of 1 s (f2 at 0 and f5 at 3 s - 1 ns pin the edges): f0 is
 * in all three, f1 in chunks 0 and 1, f2 and f3 in chunk 0 only, f4 begins
 * in chunk 1 and goes on in 2, f5 is in chunk 2 only. */
Test(flow_lengths, flow_spans_take_the_training_chunk_counts_by_rank) {
    vf_trace t;
    empty_flows(&t);
    const int64_t s = 1000000000, ms = 1000000;
    add_flow(&t, 3000, 3, T0 + 100 * ms, s);
    add_flow(&t, 3001, 2, T0 + 200 * ms, s);
    add_flow(&t, 3002, 1, T0, 0);
    add_flow(&t, 3003, 1, T0 + 400 * ms, 0);
    add_flow(&t, 3004, 2, T0 + 1500 * ms, s);
    add_flow(&t, 3005, 1, T0 + 3 * s - 1, 0);
    vf_data_desc dd;
    vf_data_desc_default(VF_TRACE_FLOWS, &dd);
    dd.n_chunks = 3;
    dd.w2v_epochs = 1;
    dd.flow_spans = VF_FSPAN_TRAINING;
    vf_encoder e;
    TU_OK(vf_encoder_fit(&dd, &t, &e));
    cr_assert(e.chunk_begin[1] == T0 + s && e.chunk_begin[2] == T0 + 2 * s);
    cr_assert(e.fspan);
    static const int64_t want_h[3][3] = {{2, 1, 1}, {0, 1, 0}, {1, 0, 0}};
    for (int c = 0; c < 3; c++)
        for (int k = 0; k < 3; k++)
            cr_expect_eq(e.fspan[c * 3 + k], want_h[c][k], "chunk %d, %d chunks", c, k + 1);

    /* Chunk 0, four rows that start a flow and one that continues one. The
     * model's counts and margin sums: r0 2 (+0.2), r1 2 (-0.8), r2 1 (-1.4),
     * r3 1 (-0.6); ranked by count first, r0 r1 r3 r2, they take the
     * training's 3 2 1 1. r1 keeps two chunks, the later one being chunk 2,
     * its larger margin. */
    vf_encoded g = span_chunk(&e, 0, 5);
    set_tags(&e, &g, 0, true, (const float[][2]){{0.3f, 0.7f}, {0.6f, 0.4f}});
    set_tags(&e, &g, 1, true, (const float[][2]){{0.95f, 0.05f}, {0.45f, 0.55f}});
    set_tags(&e, &g, 2, true, (const float[][2]){{0.8f, 0.2f}, {0.9f, 0.1f}});
    set_tags(&e, &g, 3, true, (const float[][2]){{0.6f, 0.4f}, {0.7f, 0.3f}});
    set_tags(&e, &g, 4, false, (const float[][2]){{0.3f, 0.7f}, {0.3f, 0.7f}});
    int64_t changed, rows;
    TU_OK(vf_flow_spans(&e, &g, 0, &changed, &rows));
    cr_expect_eq(rows, 4);
    cr_expect_eq(changed, 1, "only r0's count changed (2 -> 3)");
    static const int want[4][2] = {{1, 1}, {0, 1}, {0, 0}, {0, 0}};
    for (int r = 0; r < 4; r++)
        for (int j = 1; j < 3; j++)
            cr_expect_eq(present(&e, &g, r, j), want[r][j - 1], "row %d, chunk %d", r, j);
    cr_expect_eq(present(&e, &g, 4, 1), -1, "a continuing row is left alone");
    free(g.attr);

    /* Eight rows, every presence margin 0 (the model's count 1): by row, the
     * quantiles 1/16, 3/16, .. of 3 2 1 1 give 3 3 2 2 1 1 1 1; a row of
     * two chunks takes the earlier later chunk. */
    g = span_chunk(&e, 0, 8);
    for (int r = 0; r < 8; r++) set_tags(&e, &g, r, true, (const float[][2]){{0.5f, 0.5f}, {0.5f, 0.5f}});
    TU_OK(vf_flow_spans(&e, &g, 0, &changed, &rows));
    cr_expect_eq(changed, 4);
    static const int want8[8][2] = {{1, 1}, {1, 1}, {1, 0}, {1, 0}, {0, 0}, {0, 0}, {0, 0}, {0, 0}};
    for (int r = 0; r < 8; r++)
        for (int j = 1; j < 3; j++)
            cr_expect_eq(present(&e, &g, r, j), want8[r][j - 1], "row %d of 8, chunk %d", r, j);
    free(g.attr);

    /* three rows: the quantiles 1/6, 3/6, 5/6 of 3 2 1 1 give 3 1 1 */
    g = span_chunk(&e, 0, 3);
    for (int r = 0; r < 3; r++) set_tags(&e, &g, r, true, (const float[][2]){{0.5f, 0.5f}, {0.5f, 0.5f}});
    TU_OK(vf_flow_spans(&e, &g, 0, &changed, &rows));
    cr_expect(changed == 1 && present(&e, &g, 0, 1) == 1 && present(&e, &g, 0, 2) == 1);
    cr_expect(present(&e, &g, 1, 1) == 0 && present(&e, &g, 1, 2) == 0, "the middle row takes 1, not 2");
    free(g.attr);

    /* chunk 1: its one training flow is in two chunks, so every row is;
     * with none beginning there, the model's tags stay */
    g = span_chunk(&e, 1, 2);
    set_tags(&e, &g, 0, true, (const float[][2]){{0.9f, 0.1f}});
    set_tags(&e, &g, 1, true, (const float[][2]){{0.7f, 0.3f}});
    TU_OK(vf_flow_spans(&e, &g, 1, &changed, &rows));
    cr_expect(changed == 2 && present(&e, &g, 0, 2) == 1 && present(&e, &g, 1, 2) == 1);
    e.fspan[1 * 3 + 1] = 0;
    set_tags(&e, &g, 0, true, (const float[][2]){{0.9f, 0.1f}});
    TU_OK(vf_flow_spans(&e, &g, 1, &changed, &rows));
    cr_expect(changed == 0 && present(&e, &g, 0, 2) == -1);
    e.fspan[1 * 3 + 1] = 1;
    cr_expect_eq(vf_flow_spans(&e, &g, 3, NULL, NULL), VF_ERR_ARG, "chunk 3 of 3");
    free(g.attr);

    /* saved and loaded, the table comes back; a damaged one is refused */
    char path[128];
    snprintf(path, sizeof path, "/tmp/vkflow_fspan_%d.txt", (int)getpid());
    vf_encoder e2;
    char *text = tu_encoder_reload(&e, path, &e2);
    cr_assert(e2.fspan);
    cr_expect(!memcmp(e2.fspan, e.fspan, 9 * sizeof *e.fspan));
    vf_encoder_free(&e2);
    char *line = strstr(text, "\nfspan 3\n3 1 2 2 1 3 1\n1 2 1\n1 1 1\n");
    cr_assert(line, "the fspan lines");
    memcpy(line + 25, "3", 1); /* chunk 1: a flow in 3 chunks of the 2 left */
    tu_write_resummed(path, text);
    free(text);
    cr_expect_eq(vf_encoder_load(path, &e2), VF_ERR_FORMAT);
    cr_expect(strstr(vf_last_error(), "fspan value (chunk counts 1 to n_chunks - c ascending, flows >= 1)"), "%s",
              vf_last_error());

    /* a privacy run must ask for the same as its public run */
    TU_OK(vf_encoder_save(&e, path));
    vf_encoder p;
    dd.flow_spans = VF_FSPAN_MODEL;
    cr_expect_eq(vf_encoder_adopt_public(path, &dd, &t, &p), VF_ERR_FORMAT);
    cr_expect(strstr(vf_last_error(), "flow_spans training"), "%s", vf_last_error());
    dd.flow_spans = VF_FSPAN_TRAINING;
    TU_OK(vf_encoder_adopt_public(path, &dd, &t, &p));
    cr_expect(p.fspan != NULL);
    vf_encoder_free(&p);
    unlink(path);

    /* without the option nothing changes */
    vf_encoder_free(&e);
    dd.flow_spans = VF_FSPAN_MODEL;
    TU_OK(vf_encoder_fit(&dd, &t, &e));
    cr_expect(!e.fspan);
    g = span_chunk(&e, 0, 1);
    set_tags(&e, &g, 0, true, (const float[][2]){{0.3f, 0.7f}, {0.6f, 0.4f}});
    TU_OK(vf_flow_spans(&e, &g, 0, &changed, &rows));
    cr_expect(changed == 0 && rows == 0 && present(&e, &g, 0, 1) == -1);
    free(g.attr);
    vf_encoder_free(&e);
    vf_trace_free(&t);
}

/* Flows of 1..n records whose k-th record has k + 1 packets (add_flow),
 * packets encoded `quantile` and decoded by rank, one chunk. */
static void fit_pkt_rank(const vf_trace *t, vf_encoder *e) {
    vf_data_desc dd;
    vf_data_desc_default(VF_TRACE_FLOWS, &dd);
    dd.n_chunks = 1;
    dd.w2v_epochs = 1;
    dd.flow_lengths = VF_FLEN_TRAINING;
    for (int i = 0; i < dd.n_fields; i++)
        if (dd.fields[i].field == VF_F_PKT) {
            dd.fields[i].enc = VF_ENC_QUANTILE;
            dd.fields[i].bins = 64;
            dd.fields[i].qdecode = VF_QDEC_RANK;
        }
    TU_OK(vf_encoder_fit(&dd, t, e));
}

/* After flow lengths, the copies take their share of the training
 * quantiles: training is one flow of 6 records (packets 1..6); the model's
 * flow has 4 steps (the positions of packets 1..4) and flow lengths copied
 * its first step twice. The 6 records, ranked by their steps' positions
 * (the copies after their original, by record order), take exactly the 6
 * values a decode of 6 distinct steps gives: the training's quantiles. */
Test(flow_lengths, copied_records_take_their_share_of_the_rank_decode) {
    vf_trace t6, t4;
    empty_flows(&t6);
    empty_flows(&t4);
    add_flow(&t6, 3000, 6, T0, 1000000);
    add_flow(&t4, 3000, 4, T0, 1000000);
    vf_encoder e;
    fit_pkt_rank(&t6, &e);
    /* what 6 distinct steps decode to, ascending */
    vf_encoded *c6, *c4;
    TU_OK(vf_encode(&e, &t6, &c6));
    vf_trace d6;
    memset(&d6, 0, sizeof d6);
    TU_OK(vf_decode(&e, c6, 1, &d6));
    cr_assert_eq(d6.n, 6);
    for (size_t i = 1; i < 6; i++) cr_assert_lt(d6.recs[i - 1].pkts, d6.recs[i].pkts, "distinct, ascending");

    TU_OK(vf_encode(&e, &t4, &c4));
    vf_trace d;
    memset(&d, 0, sizeof d);
    TU_OK(vf_decode(&e, c4, 1, &d));
    cr_assert_eq(d.n, 4);
    vf_record r0 = d.recs[0];
    TU_OK(vf_trace_append(&d, &r0));
    TU_OK(vf_trace_append(&d, &r0));
    cr_expect_eq(d.recs[4].pkts, d.recs[0].pkts, "before: a copy repeats its step's value");
    const int64_t src[6] = {0, 1, 2, 3, 0, 0};
    const size_t from[2] = {0, 6};
    int64_t ranked;
    int fields;
    TU_OK(vf_rank_record_values(&e, c4, 1, &d, from, src, &ranked, &fields));
    cr_expect(ranked == 6 && fields == 1, "%lld records, %d fields", (long long)ranked, fields);
    static const int order[6] = {0, 4, 5, 1, 2, 3}; /* record of rank r */
    for (int r = 0; r < 6; r++)
        cr_expect_eq(d.recs[order[r]].pkts, d6.recs[r].pkts, "rank %d (record %d): %llu packets, expected %llu", r,
                     order[r], (unsigned long long)d.recs[order[r]].pkts, (unsigned long long)d6.recs[r].pkts);
    /* without flow lengths' map nothing changes */
    uint64_t kept = d.recs[4].pkts;
    TU_OK(vf_rank_record_values(&e, c4, 1, &d, from, NULL, &ranked, &fields));
    cr_expect(ranked == 0 && fields == 0 && d.recs[4].pkts == kept);
    vf_trace_free(&d);
    vf_trace_free(&d6);
    vf_encoded_free(c4, 1);
    vf_encoded_free(c6, 1);
    vf_encoder_free(&e);
    vf_trace_free(&t4);
    vf_trace_free(&t6);
}
