/* Data description, chunking, flow tags and encodings: decode(encode(x)) == x
 * for lossless encodings (IP bits, word2vec by nearest neighbour, one-hot,
 * integer min-max with enough float precision), within the float32
 * quantisation bound for the others (log1p + min-max counts, durations,
 * times); on subsets of the real files so the suite stays fast. */
#include <criterion/criterion.h>
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace/encode.h"

#define PATHSPIDER tu_shared_data("pcap_enterprise_pathspider_real_2012-11-23.pcap")
#define CAIDA tu_shared_data("pcap_caida_equinix-nyc_2018-03-15_10k.pcapng")
#define UGR tu_shared_data("flows_ugr16_netflow_2016-04-11_13hosts.csv")
#define ZEEK tu_shared_data("flows_iot23_zeekconn_ctu-malware-capture-34-1.csv")

static void read_n(const char *path, size_t n, vf_trace *t) {
    vf_read_options o = {0};
    o.max_records = n;
    cr_assert_eq(vf_trace_read(path, &o, t), VF_OK, "%s", vf_last_error());
}

/* The order vf_decode emits records in: chunk by chunk, flows in order of
 * first appearance, steps in time order (ties by file order). */
static const vf_trace *g_t;
static int by_time(const void *a, const void *b) {
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int64_t x = g_t->recs[i].ts_ns, y = g_t->recs[j].ts_ns;
    if (x != y) return x < y ? -1 : 1;
    return i < j ? -1 : i > j;
}
static int chunk_of(const vf_encoder *e, int64_t ts) {
    int c = 0;
    while (c + 1 < e->n_chunks && e->chunk_begin[c + 1] <= ts) c++;
    return c;
}
static size_t *expected_order(const vf_encoder *e, const vf_trace *t, size_t *n_out, int **steps) {
    vf_flow_index fi;
    cr_assert_eq(vf_flow_index_build(t, &fi), VF_OK);
    g_t = t;
    for (size_t f = 0; f < fi.n_flows; f++)
        qsort(fi.order + fi.start[f], fi.start[f + 1] - fi.start[f], sizeof(size_t), by_time);
    size_t *out = malloc(t->n * sizeof *out);
    *steps = malloc(t->n * sizeof **steps);
    size_t k = 0;
    for (int c = 0; c < e->n_chunks; c++)
        for (size_t f = 0; f < fi.n_flows; f++) {
            int s = 0;
            for (size_t j = fi.start[f]; j < fi.start[f + 1]; j++)
                if (chunk_of(e, t->recs[fi.order[j]].ts_ns) == c) {
                    if (s < e->max_len) { (*steps)[k] = s; out[k++] = fi.order[j]; }
                    s++;
                }
        }
    vf_flow_index_free(&fi);
    *n_out = k;
    return out;
}

static double span_bound(const vf_encoder *e, vf_field f, double x) {
    /* float32 of a [0,1] value is within 2^-24; doubled for the arithmetic */
    double d = e->hi[f] - e->lo[f];
    for (int i = 0; i < e->n_fields; i++)
        if (e->fields[i].field == f && e->fields[i].enc == VF_ENC_LOG_MINMAX) return (1 + x) * d * 0x1p-23;
    return d * 0x1p-23;
}

static bool time_log(const vf_encoder *e) {
    for (int i = 0; i < e->n_fields; i++)
        if (e->fields[i].field == VF_F_TIME) return e->fields[i].enc == VF_ENC_INTERARRIVAL_LOG;
    return false;
}

/* Bound on the decoded error of one within-flow gap of gap_ns in chunk c:
 * linear, iat_hi * 2^-23 (+1 ns rounding); log, d expm1(u L) = (1 + g_us) L du
 * with L = log1p(iat_hi_us), du = 2^-23, in ns (+1 ns). */
static double gap_bound(const vf_encoder *e, int c, double gap_ns) {
    if (!time_log(e)) return (double)e->iat_hi[c] * 0x1p-23 + 1;
    double L = log1p((double)e->iat_hi[c] * 1e-3);
    return (1e3 + gap_ns) * L * 0x1p-23 + 1;
}

static void check_round_trip(const vf_encoder *e, const vf_trace *t, const vf_trace *d) {
    size_t n;
    int *steps;
    size_t *ord = expected_order(e, t, &n, &steps);
    cr_assert_eq(d->n, n, "decoded %zu records, expected %zu", d->n, n);
    double tb = 0;
    for (size_t k = 0; k < n; k++) {
        const vf_record *x = &t->recs[ord[k]], *y = &d->recs[k];
        cr_assert(!memcmp(&x->src, &y->src, 16) && !memcmp(&x->dst, &y->dst, 16), "record %zu: addresses", k);
        cr_assert_eq(x->sport, y->sport, "record %zu: sport", k);
        cr_assert_eq(x->dport, y->dport, "record %zu: dport", k);
        cr_assert_eq(x->proto, y->proto, "record %zu: proto", k);
        int c = chunk_of(e, x->ts_ns);
        /* start within span 2^-23 (+1 ns), then each step's gap error adds up */
        if (steps[k] == 0)
            tb = (double)(e->start_hi[c] - e->start_lo[c]) * 0x1p-23 + 1;
        else
            tb += gap_bound(e, c, (double)(x->ts_ns - t->recs[ord[k - 1]].ts_ns));
        cr_assert_leq(fabs((double)(y->ts_ns - x->ts_ns)), tb, "record %zu: ts %lld vs %lld (bound %g)", k,
                      (long long)y->ts_ns, (long long)x->ts_ns, tb);
        if (t->kind == VF_TRACE_FLOWS) {
            double td = (double)x->dur_ns * 1e-9;
            cr_assert_leq(fabs((double)(y->dur_ns - x->dur_ns)) * 1e-9, span_bound(e, VF_F_TD, td) + 1e-9,
                          "record %zu: td", k);
            cr_assert_leq(fabs((double)y->pkts - (double)x->pkts), 0.5 + span_bound(e, VF_F_PKT, (double)x->pkts),
                          "record %zu: pkt %llu vs %llu", k, (unsigned long long)y->pkts, (unsigned long long)x->pkts);
            cr_assert_leq(fabs((double)y->bytes - (double)x->bytes), 0.5 + span_bound(e, VF_F_BYT, (double)x->bytes),
                          "record %zu: byt", k);
            if (t->n_labels) cr_assert_str_eq(t->labels[x->label], d->labels[y->label], "record %zu: label", k);
        } else {
            /* integer fields whose range * 2^-23 < 0.5: exact */
            cr_assert_eq(x->length, y->length, "record %zu: length", k);
            cr_assert_eq(x->tos, y->tos, "record %zu: tos", k);
            cr_assert_eq(x->ttl, y->ttl, "record %zu: ttl", k);
            cr_assert_eq(x->ip_id, y->ip_id, "record %zu: ip id", k);
            cr_assert_eq(x->frag_flags, y->frag_flags, "record %zu: frag flags", k);
            cr_assert_eq(x->frag_off, y->frag_off, "record %zu: frag off", k);
            cr_assert_eq(x->tcp_flags, y->tcp_flags, "record %zu: tcp flags", k);
        }
    }
    free(ord);
    free(steps);
}

static void set_time_encoding(vf_data_desc *dd, vf_encoding enc) {
    for (int i = 0; i < dd->n_fields; i++)
        if (dd->fields[i].field == VF_F_TIME) { dd->fields[i].enc = enc; return; }
    cr_assert_fail("no time field");
}

static bool g_port_bits;   /* round_trip_enc: ports and protocol as bits (fixed domains) */

static void round_trip_enc(const char *path, size_t n, int n_chunks, vf_chunking ch, vf_encoding time_enc) {
    vf_trace t, d;
    read_n(path, n, &t);
    vf_data_desc dd;
    vf_data_desc_default(t.kind, &dd);
    dd.n_chunks = n_chunks;
    dd.chunking = ch;
    dd.w2v_epochs = 1;
    set_time_encoding(&dd, time_enc);
    for (int i = 0; g_port_bits && i < dd.n_fields; i++)
        if (dd.fields[i].enc == VF_ENC_WORD2VEC) dd.fields[i].enc = VF_ENC_BITS;
    vf_encoder e;
    cr_assert_eq(vf_encoder_fit(&dd, &t, &e), VF_OK, "%s", vf_last_error());
    vf_encoded *chunks;
    cr_assert_eq(vf_encode(&e, &t, &chunks), VF_OK, "%s", vf_last_error());
    /* shapes and flow tags */
    vf_flow_index fi;
    cr_assert_eq(vf_flow_index_build(&t, &fi), VF_OK);
    size_t starts = 0, rows = 0, steps = 0;
    int tags = e.attr_dim - 2 * (e.n_chunks + 1);
    for (int c = 0; c < e.n_chunks; c++) {
        vf_encoded *E = &chunks[c];
        cr_assert_eq(E->attr_dim, e.attr_dim);
        cr_assert_eq(E->n_truncated, 0);
        for (int r = 0; r < E->n_flows; r++) {
            const float *A = E->attr + (size_t)r * (size_t)e.attr_dim;
            cr_assert_eq(A[tags] + A[tags + 1], 1.0f);
            starts += A[tags + 1] == 1.0f;
            cr_assert_eq(A[tags + 2 + 2 * c + 1], 1.0f, "flow present in its own chunk");
            for (int s = 0; s < E->max_len; s++) steps += E->gen_flag[(size_t)r * (size_t)E->max_len + (size_t)s] == 1.0f;
            for (int j = 0; j < e.attr_dim; j++) cr_assert(A[j] >= -1.0f && A[j] <= 1.0f);
        }
        rows += (size_t)E->n_flows;
    }
    cr_assert_eq(starts, fi.n_flows, "one start flag per flow");
    cr_assert_geq(rows, fi.n_flows);
    cr_assert_eq(steps, t.n);
    vf_flow_index_free(&fi);
    memset(&d, 0, sizeof d);
    cr_assert_eq(vf_decode(&e, chunks, e.n_chunks, &d), VF_OK, "%s", vf_last_error());
    check_round_trip(&e, &t, &d);
    /* the saved encoder decodes the same */
    char path_enc[128];
    snprintf(path_enc, sizeof path_enc, "/tmp/vkflow_enc_%d.txt", (int)getpid());
    cr_assert_eq(vf_encoder_save(&e, path_enc), VF_OK, "%s", vf_last_error());
    vf_encoder e2;
    cr_assert_eq(vf_encoder_load(path_enc, &e2), VF_OK, "%s", vf_last_error());
    cr_assert_eq(e2.attr_dim, e.attr_dim);
    cr_assert_eq(e2.feat_dim, e.feat_dim);
    cr_assert_eq(time_log(&e2), time_enc == VF_ENC_INTERARRIVAL_LOG);
    vf_trace d2;
    memset(&d2, 0, sizeof d2);
    cr_assert_eq(vf_decode(&e2, chunks, e.n_chunks, &d2), VF_OK, "%s", vf_last_error());
    cr_assert_eq(d2.n, d.n);
    for (size_t i = 0; i < d.n; i++) cr_assert(!memcmp(&d.recs[i], &d2.recs[i], sizeof d.recs[i]), "record %zu", i);
    unlink(path_enc);
    vf_encoder_free(&e2);
    vf_trace_free(&d2);
    vf_encoded_free(chunks, e.n_chunks);
    vf_encoder_free(&e);
    vf_trace_free(&t);
    vf_trace_free(&d);
}

static void round_trip(const char *path, size_t n, int n_chunks, vf_chunking ch) {
    round_trip_enc(path, n, n_chunks, ch, VF_ENC_INTERARRIVAL);
}

Test(trace_encode, round_trip_ugr16) { round_trip(UGR, 3000, 10, VF_CHUNK_FIXED_TIME); }
Test(trace_encode, round_trip_zeek_fixed_size) { round_trip(ZEEK, 3000, 4, VF_CHUNK_FIXED_SIZE); }
Test(trace_encode, round_trip_pathspider) { round_trip(PATHSPIDER, 5000, 5, VF_CHUNK_FIXED_TIME); }
Test(trace_encode, round_trip_caida) { round_trip(CAIDA, 10000, 1, VF_CHUNK_FIXED_TIME); }

/* ports and protocol as 16 and 8 bits: exact, and nothing fitted (privacy runs) */
Test(trace_encode, round_trip_ports_as_bits) {
    g_port_bits = true;
    round_trip(PATHSPIDER, 5000, 5, VF_CHUNK_FIXED_TIME);
    round_trip(UGR, 3000, 10, VF_CHUNK_FIXED_TIME);
    g_port_bits = false;
}

Test(trace_encode, round_trip_pathspider_interarrival_log) {
    round_trip_enc(PATHSPIDER, 5000, 5, VF_CHUNK_FIXED_TIME, VF_ENC_INTERARRIVAL_LOG);
}
Test(trace_encode, round_trip_ugr16_interarrival_log) {
    round_trip_enc(UGR, 3000, 10, VF_CHUNK_FIXED_TIME, VF_ENC_INTERARRIVAL_LOG);
}

/* Decoded gaps of the flow whose source port is sport (records in decode order). */
static int flow_gaps(const vf_trace *d, uint16_t sport, int64_t *gap, int max) {
    int n = 0;
    int64_t prev = 0;
    bool seen = false;
    for (size_t i = 0; i < d->n; i++) {
        if (d->recs[i].sport != sport) continue;
        if (seen && n < max) gap[n++] = d->recs[i].ts_ns - prev;
        prev = d->recs[i].ts_ns;
        seen = true;
    }
    return n;
}

/* Encodes pathspider's first 500 packets plus a flow with gaps of 100 us and
 * 100 s (one chunk, so the chunk's largest gap is >= 100 s), decodes, and
 * returns that flow's two decoded gaps; with nudge != 0 every encoded
 * inter-arrival is moved by nudge first (a generator's output error). */
static void gaps_100us_100s(vf_encoding time_enc, float nudge, int64_t out[2]) {
    vf_trace t, d;
    read_n(PATHSPIDER, 500, &t);
    vf_record r = t.recs[0];
    r.sport = 1; /* a 5-tuple of its own: no packet of the sample has source port 1 */
    for (size_t i = 0; i < t.n; i++) cr_assert_neq(t.recs[i].sport, 1);
    int64_t t0 = t.recs[0].ts_ns;
    const int64_t ts[3] = {t0, t0 + 100000, t0 + 100000 + 100000000000LL};
    for (int k = 0; k < 3; k++) {
        r.ts_ns = ts[k];
        cr_assert_eq(vf_trace_append(&t, &r), VF_OK);
    }
    vf_data_desc dd;
    vf_data_desc_default(t.kind, &dd);
    dd.n_chunks = 1;
    dd.w2v_epochs = 1;
    set_time_encoding(&dd, time_enc);
    vf_encoder e;
    cr_assert_eq(vf_encoder_fit(&dd, &t, &e), VF_OK, "%s", vf_last_error());
    cr_assert_geq(e.iat_hi[0], 100000000000LL);
    vf_encoded *ch;
    cr_assert_eq(vf_encode(&e, &t, &ch), VF_OK, "%s", vf_last_error());
    int toff = -1;
    for (int s = 0; s < e.n_feat_segs; s++)
        if (e.feat_segs[s].field == VF_F_TIME) toff = e.feat_segs[s].offset;
    cr_assert_geq(toff, 0);
    for (size_t i = 0; nudge != 0 && i < (size_t)ch[0].n_flows * (size_t)ch[0].max_len; i++)
        ch[0].feat[i * (size_t)e.feat_dim + (size_t)toff] += nudge;
    memset(&d, 0, sizeof d);
    cr_assert_eq(vf_decode(&e, ch, 1, &d), VF_OK, "%s", vf_last_error());
    cr_assert_eq(flow_gaps(&d, 1, out, 2), 2);
    vf_encoded_free(ch, 1);
    vf_encoder_free(&e);
    vf_trace_free(&t);
    vf_trace_free(&d);
}

Test(trace_encode, interarrival_log_keeps_100us_and_100s) {
    int64_t g[2];
    gaps_100us_100s(VF_ENC_INTERARRIVAL_LOG, 0, g);
    cr_assert_leq(fabs((double)g[0] - 1e5) / 1e5, 1e-5, "100 us decoded as %lld ns", (long long)g[0]);
    cr_assert_leq(fabs((double)g[1] - 1e11) / 1e11, 1e-5, "100 s decoded as %lld ns", (long long)g[1]);
    /* an output error of 1e-3 moves the 100 us gap by a few percent under
     * log1p (L = log1p(1e8) ~ 18.4: factor e^0.0184), by 100 ms (1000x) under
     * NetShare's linear scaling: what makes sub-ms gaps learnable */
    gaps_100us_100s(VF_ENC_INTERARRIVAL_LOG, 1e-3f, g);
    cr_assert_leq(fabs((double)g[0] - 1e5) / 1e5, 0.03, "log, nudged: 100 us -> %lld ns", (long long)g[0]);
    cr_assert_leq(fabs((double)g[1] - 1e11) / 1e11, 0.03, "log, nudged: 100 s -> %lld ns", (long long)g[1]);
    gaps_100us_100s(VF_ENC_INTERARRIVAL, 0, g);
    cr_assert_leq(fabs((double)g[0] - 1e5) / 1e5, 1e-3, "linear: 100 us -> %lld ns", (long long)g[0]);
    gaps_100us_100s(VF_ENC_INTERARRIVAL, 1e-3f, g);
    cr_assert_geq((double)g[0] / 1e5, 100, "linear, nudged: 100 us -> %lld ns", (long long)g[0]);
}

Test(trace_encode, netshare_attribute_width) {
    /* REFERENCE 1.2: at 10 chunks 128 + 30 + 2 + 20 + 1 = 181 */
    vf_trace t;
    read_n(UGR, 500, &t);
    vf_data_desc dd;
    vf_data_desc_default(VF_TRACE_FLOWS, &dd);
    dd.w2v_epochs = 1;
    vf_encoder e;
    cr_assert_eq(vf_encoder_fit(&dd, &t, &e), VF_OK, "%s", vf_last_error());
    cr_assert_eq(e.attr_dim, 181);
    /* features: inter-arrival, td, pkt, byt, label one-hot (2 labels seen? 1 in 500 rows) */
    cr_assert_eq(e.feat_dim, 4 + e.n_vocab[VF_F_LABEL]);
    vf_encoder_free(&e);
    vf_trace_free(&t);
}

Test(trace_encode, max_flow_len_truncates_and_counts) {
    vf_trace t;
    read_n(PATHSPIDER, 3000, &t);
    vf_data_desc dd;
    vf_data_desc_default(t.kind, &dd);
    dd.n_chunks = 2;
    dd.max_flow_len = 2;
    dd.w2v_epochs = 1;
    vf_encoder e;
    cr_assert_eq(vf_encoder_fit(&dd, &t, &e), VF_OK);
    cr_assert_eq(e.max_len, 2);
    vf_encoded *ch;
    cr_assert_eq(vf_encode(&e, &t, &ch), VF_OK);
    /* expected: (chunk, flow) series longer than 2 */
    size_t n;
    int *steps;
    size_t *ord = expected_order(&e, &t, &n, &steps);
    vf_flow_index fi;
    cr_assert_eq(vf_flow_index_build(&t, &fi), VF_OK);
    int64_t want = 0;
    for (int c = 0; c < 2; c++)
        for (size_t f = 0; f < fi.n_flows; f++) {
            int s = 0;
            for (size_t j = fi.start[f]; j < fi.start[f + 1]; j++) s += chunk_of(&e, t.recs[fi.order[j]].ts_ns) == c;
            want += s > 2;
        }
    cr_assert_gt(want, 0);
    cr_assert_eq(ch[0].n_truncated + ch[1].n_truncated, want);
    vf_trace d;
    memset(&d, 0, sizeof d);
    cr_assert_eq(vf_decode(&e, ch, 2, &d), VF_OK);
    cr_assert_eq(d.n, n);
    vf_trace_free(&d);
    free(ord);
    free(steps);
    vf_flow_index_free(&fi);
    vf_encoded_free(ch, 2);
    vf_encoder_free(&e);
    vf_trace_free(&t);
}

Test(trace_encode, word2vec_deterministic_and_nearest_is_self) {
    vf_trace t;
    read_n(CAIDA, 4000, &t);
    vf_w2v_table p1, q1, p2, q2, p3, q3;
    cr_assert_eq(vf_w2v_train(&t, 10, 5, 5, 2, 7, &p1, &q1), VF_OK);
    cr_assert_eq(vf_w2v_train(&t, 10, 5, 5, 2, 7, &p2, &q2), VF_OK);
    cr_assert_eq(vf_w2v_train(&t, 10, 5, 5, 2, 8, &p3, &q3), VF_OK);
    cr_assert_eq(p1.n, p2.n);
    cr_assert(!memcmp(p1.vec, p2.vec, (size_t)p1.n * 10 * sizeof(float)), "same seed, same vectors");
    cr_assert(memcmp(p1.vec, p3.vec, (size_t)p1.n * 10 * sizeof(float)), "another seed, other vectors");
    cr_assert_eq(q1.n, 2); /* TCP and UDP */
    for (int i = 0; i < p1.n; i++) {
        const float *v = p1.vec + (size_t)i * 10;
        double s = 0;
        for (int k = 0; k < 10; k++) s += (double)v[k] * v[k];
        cr_assert(fabs(s - 1) < 1e-5, "unit length");
        cr_assert_eq(vf_w2v_nearest(&p1, v), p1.value[i]);
    }
    /* an unseen port maps to the numerically nearest one */
    uint32_t below = p1.value[0];
    cr_assert_eq(vf_w2v_vector(&p1, below ? below - 1 : 0), p1.vec);
    /* save, load (the pre-trained text format) */
    char path[128];
    snprintf(path, sizeof path, "/tmp/vkflow_w2v_%d.txt", (int)getpid());
    cr_assert_eq(vf_w2v_save(path, &p1, &q1), VF_OK);
    vf_w2v_table lp, lq;
    cr_assert_eq(vf_w2v_load(path, &lp, &lq), VF_OK, "%s", vf_last_error());
    cr_assert_eq(lp.n, p1.n);
    cr_assert_eq(lq.n, q1.n);
    for (size_t i = 0; i < (size_t)p1.n * 10; i++) cr_assert(fabsf(lp.vec[i] - p1.vec[i]) < 1e-6f);
    unlink(path);
    vf_w2v_free(&p1); vf_w2v_free(&q1); vf_w2v_free(&p2); vf_w2v_free(&q2);
    vf_w2v_free(&p3); vf_w2v_free(&q3); vf_w2v_free(&lp); vf_w2v_free(&lq);
    vf_trace_free(&t);
}

Test(trace_encode, pretrained_embedding_bad_lines) {
    char path[128];
    snprintf(path, sizeof path, "/tmp/vkflow_w2vbad_%d.txt", (int)getpid());
    FILE *f = fopen(path, "w");
    fprintf(f, "80 0.1 0.2 0.3\nproto:TCP 1 0 0\n443 0.5 x 0.1\n");
    fclose(f);
    vf_w2v_table p, q;
    cr_assert_eq(vf_w2v_load(path, &p, &q), VF_ERR_FORMAT);
    cr_assert(strstr(vf_last_error(), ":3: not a number"), "%s", vf_last_error());
    f = fopen(path, "w");
    fprintf(f, "80 0.1 0.2 0.3\n70000 1 0 0\n");
    fclose(f);
    cr_assert_eq(vf_w2v_load(path, &p, &q), VF_ERR_FORMAT);
    cr_assert(strstr(vf_last_error(), ":2: '70000' is not a port"), "%s", vf_last_error());
    f = fopen(path, "w");
    fprintf(f, "80 0.1 0.2 0.3\n81 1 0\n");
    fclose(f);
    cr_assert_eq(vf_w2v_load(path, &p, &q), VF_ERR_FORMAT);
    cr_assert(strstr(vf_last_error(), ":2: 2 numbers, expected 3"), "%s", vf_last_error());
    unlink(path);
}

/* ----------------------------------------------------- data description */

Test(trace_encode, data_desc_full) {
    char cfg[2048];
    snprintf(cfg, sizeof cfg,
        "data = {\n"
        "  path = \"%s\";\n"
        "  format = \"csv\";\n"
        "  columns = { srcip = \"sa\"; dstip = \"da\"; srcport = \"sp\"; dstport = \"dp\"; proto = \"pr\";\n"
        "              te = \"te\"; td = \"td\"; pkt = \"pkt\"; byt = \"byt\"; label = \"type\"; };\n"
        "  time_unit = \"datetime\";\n"
        "  n_chunks = 3; chunking = \"fixed_size\"; max_flow_len = 0; seed = 5;\n"
        "  word2vec = { dim = 6; epochs = 1; };\n"
        "  fields = ( { name = \"srcip\"; encoding = \"bits\"; },\n"
        "             { name = \"dstip\"; encoding = \"bits\"; },\n"
        "             { name = \"dstport\"; encoding = \"word2vec\"; dim = 6; },\n"
        "             { name = \"proto\"; encoding = \"onehot\"; },\n"
        "             { name = \"time\"; encoding = \"interarrival_log\"; },\n"
        "             { name = \"pkt\"; encoding = \"log_minmax\"; range = [0, 1000000]; },\n"
        "             { name = \"label\"; encoding = \"onehot\"; } );\n"
        "};\n", UGR);
    vf_data_desc dd;
    cr_assert_eq(vf_data_desc_parse_string("test.cfg", cfg, &dd), VF_OK, "%s", vf_last_error());
    cr_assert_eq(dd.n_chunks, 3);
    cr_assert_eq(dd.chunking, VF_CHUNK_FIXED_SIZE);
    cr_assert_eq(dd.n_fields, 7);
    cr_assert_eq(dd.fields[4].enc, VF_ENC_INTERARRIVAL_LOG);
    cr_assert_eq(dd.fields[5].enc, VF_ENC_LOG_MINMAX);
    cr_assert(dd.fields[5].fixed_range);
    cr_assert_eq(dd.layout.n_cols, 10);
    vf_data_desc small = dd;
    vf_trace t;
    vf_read_options o = {0};
    o.layout = &small.layout;
    o.max_records = 2000;
    cr_assert_eq(vf_trace_read(dd.path, &o, &t), VF_OK, "%s", vf_last_error());
    cr_assert_str_eq(t.layout.name, "custom");
    cr_assert_eq(t.n, 2000);
    vf_encoder e;
    cr_assert_eq(vf_encoder_fit(&dd, &t, &e), VF_OK, "%s", vf_last_error());
    /* 2x64 bits + 6 (w2v) + 1 (start) + 2 + 3x2 flags */
    cr_assert_eq(e.attr_dim, 128 + 6 + e.n_vocab[VF_F_PROTO] + 1 + 2 + 6);
    cr_assert_eq(e.feat_dim, 1 + 1 + e.n_vocab[VF_F_LABEL]);
    cr_assert_eq(e.lo[VF_F_PKT], 0);
    cr_assert(fabs(e.hi[VF_F_PKT] - log1p(1e6)) < 1e-12);
    vf_encoded *ch;
    cr_assert_eq(vf_encode(&e, &t, &ch), VF_OK);
    vf_trace d;
    memset(&d, 0, sizeof d);
    cr_assert_eq(vf_decode(&e, ch, e.n_chunks, &d), VF_OK);
    cr_assert_eq(d.n, t.n);
    vf_encoded_free(ch, e.n_chunks);
    vf_encoder_free(&e);
    vf_trace_free(&t);
    vf_trace_free(&d);
}

static void desc_error(const char *cfg, const char *needle) {
    vf_data_desc dd;
    vf_status st = vf_data_desc_parse_string("bad.cfg", cfg, &dd);
    cr_assert_eq(st, VF_ERR_FORMAT, "accepted: %s", cfg);
    cr_assert(strstr(vf_last_error(), needle), "message '%s' lacks '%s'", vf_last_error(), needle);
}

Test(trace_encode, data_desc_errors) {
    desc_error("data = { path = \"x.csv\";\n  n_chunk = 3; };", "bad.cfg:2: unknown key 'n_chunk' in data");
    desc_error("data = { n_chunks = 3; };", "'path' (the trace file) is required");
    desc_error("data = { path = \"x\";\n\n fields = ( { name = \"td\"; encoding = \"bits\"; } ); };",
               "bad.cfg:3: fields: 'td': bits is for srcip, dstip, srcport, dstport and proto");
    desc_error("data = { path = \"x\";\n fields = ( { name = \"srcip\"; encoding = \"onehot\"; } ); };",
               "bad.cfg:2: fields: 'srcip': encoding 'onehot' does not apply");
    desc_error("data = { path = \"x\";\n fields = ( { name = \"td\"; encoding = \"log\"; } ); };",
               "bad.cfg:2: fields: 'td': unknown encoding 'log'");
    desc_error("data = { path = \"x\"; n_chunks = 0; };", "'n_chunks' = 0 is outside 1..1000");
    desc_error("data = { path = \"x\"; time_unit = \"hours\"; };", "time_unit 'hours'");
    desc_error("data = { path = \"x\";\n n_chunks = ; };", "bad.cfg:2: syntax error");
    desc_error("data = { path = \"x\"; columns = { source = \"sa\"; }; };", "columns: unknown role 'source'");
    desc_error("data = { path = \"x\";\n fields = ( { name = \"pkt\"; encoding = \"minmax\"; range = [5, 1]; } ); };",
               "bad.cfg:2: fields: 'pkt': range needs lo < hi");
    desc_error("data = { path = \"x\";\n fields = ( { name = \"td\"; encoding = \"interarrival_log\"; } ); };",
               "bad.cfg:2: fields: 'time' takes encoding interarrival or interarrival_log");
    desc_error("other = 1;", "no 'data' group");
}

Test(trace_encode, data_desc_format_mismatch) {
    char path[128];
    snprintf(path, sizeof path, "/tmp/vkflow_dd_%d.cfg", (int)getpid());
    FILE *f = fopen(path, "w");
    fprintf(f, "data = { path = \"%s\"; format = \"pcap\"; };\n", UGR);
    fclose(f);
    vf_data_desc dd;
    cr_assert_eq(vf_data_desc_load(path, &dd), VF_OK, "%s", vf_last_error());
    vf_trace t;
    cr_assert_eq(vf_data_desc_read_trace(&dd, &t), VF_ERR_FORMAT);
    cr_assert(strstr(vf_last_error(), "says format \"pcap\" but the file is CSV"), "%s", vf_last_error());
    unlink(path);
}
