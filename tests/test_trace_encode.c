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
#include "trace/encode_internal.h"
#include "util.h"

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

static bool is_quantile(const vf_encoder *e, vf_field f) {
    for (int i = 0; i < e->n_fields; i++)
        if (e->fields[i].field == f) return e->fields[i].enc == VF_ENC_QUANTILE;
    return false;
}

/* The offset of field f's first segment among segs[0..n), or -1. */
static int seg_offset(const vf_segment *segs, int n, vf_field f) {
    const vf_segment *g = vf_enc_first_seg(segs, n, f);
    return g ? g->offset : -1;
}

/* Encoding quantile: bound on the decoded error of value x, as gap_bound's
 * (the steepest knot interval, its width in log1p over its width in rank
 * fraction, times the position's error 2^-22, doubled). */
static double valq_bound(const vf_encoder *e, vf_field f, double x) {
    const double *v = e->valq[f], *p = e->valq_p[f];
    double slope = 0;
    for (int k = 0; k + 1 < e->n_valq[f]; k++) {
        double D = p ? p[k + 1] - p[k] : 1.0 / (e->n_valq[f] - 1);
        slope = fmax(slope, (log1p(v[k + 1]) - log1p(v[k])) / D);
    }
    return (1 + x) * slope * 0x1p-21;
}
static double val_bound(const vf_encoder *e, vf_field f, double x) {
    return is_quantile(e, f) ? valq_bound(e, f, x) : span_bound(e, f, x);
}

static bool time_log(const vf_encoder *e) {
    for (int i = 0; i < e->n_fields; i++)
        if (e->fields[i].field == VF_F_TIME) return e->fields[i].enc == VF_ENC_INTERARRIVAL_LOG;
    return false;
}

/* Bound on the decoded error of one within-flow gap of gap_ns in chunk c:
 * linear, iat_hi * 2^-23 (+1 ns rounding); log, d expm1(u L) = (1 + g_us) L du
 * with L = log1p(iat_hi_us), du = 2^-23, in ns (+1 ns); quantile and bins,
 * the same with L the widest knot interval in log1p(us) and the position's
 * error K 2^-22 (float, or the snap to a knot), doubled. */
static double gap_bound(const vf_encoder *e, int c, double gap_ns) {
    if (vf_enc_time_quantile(vf_enc_time_enc(e))) {
        double W = 0;
        for (int k = 0; k + 1 < e->n_gapq; k++)
            W = fmax(W, log1p((double)e->gapq[k + 1] * 1e-3) - log1p((double)e->gapq[k] * 1e-3));
        return (1e3 + gap_ns) * W * (e->n_gapq - 1) * 0x1p-21 + 1;
    }
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
            cr_assert_leq(fabs((double)(y->dur_ns - x->dur_ns)) * 1e-9, val_bound(e, VF_F_TD, td) + 1e-9,
                          "record %zu: td", k);
            cr_assert_leq(fabs((double)y->pkts - (double)x->pkts), 0.5 + val_bound(e, VF_F_PKT, (double)x->pkts),
                          "record %zu: pkt %llu vs %llu", k, (unsigned long long)y->pkts, (unsigned long long)x->pkts);
            cr_assert_leq(fabs((double)y->bytes - (double)x->bytes), 0.5 + val_bound(e, VF_F_BYT, (double)x->bytes),
                          "record %zu: byt", k);
            if (t->n_labels) cr_assert_str_eq(t->labels[x->label], d->labels[y->label], "record %zu: label", k);
        } else {
            /* integer fields whose range * 2^-23 < 0.5: exact (quantile: within its bound) */
            cr_assert_leq(fabs((double)x->length - y->length),
                          is_quantile(e, VF_F_LEN) ? 0.5 + valq_bound(e, VF_F_LEN, x->length) : 0,
                          "record %zu: length %u vs %u", k, y->length, x->length);
            cr_assert_eq(x->tos, y->tos, "record %zu: tos", k);
            cr_assert_leq(fabs((double)x->ttl - y->ttl), is_quantile(e, VF_F_TTL) ? 0.5 + valq_bound(e, VF_F_TTL, x->ttl) : 0,
                          "record %zu: ttl %u vs %u", k, y->ttl, x->ttl);
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
static bool g_value_quantile; /* round_trip_enc: td, pkt, byt, len and ttl as quantile */

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
    for (int i = 0; g_value_quantile && i < dd.n_fields; i++)
        if (vf_enc_quantile_field(dd.fields[i].field) && dd.fields[i].field != VF_F_TOS &&
            dd.fields[i].field != VF_F_IPID && dd.fields[i].field != VF_F_FRAGOFF) {
            dd.fields[i].enc = VF_ENC_QUANTILE;
            dd.fields[i].bins = 256;
        }
    vf_encoder e;
    cr_assert_eq(vf_encoder_fit(&dd, &t, &e), VF_OK, "%s", vf_last_error());
    for (int f = 0; f < VF_F_COUNT; f++)
        cr_assert(is_quantile(&e, (vf_field)f) ? e.n_valq[f] >= 257 && e.n_valq[f] <= 257 + 2 * VF_VALQ_TAIL_MAX
                                                : e.n_valq[f] == 0,
                  "%s: %d knots", vf_field_name(f), e.n_valq[f]);
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
    cr_assert_eq(vf_enc_time_enc(&e2), time_enc);
    cr_assert_eq(e2.n_gapq, e.n_gapq);
    cr_assert_eq(e.n_gapq, vf_enc_time_quantile(time_enc) ? (time_enc == VF_ENC_INTERARRIVAL_BINS ? 17 : 4097) : 0);
    for (int k = 0; k < e.n_gapq; k++) cr_assert_eq(e2.gapq[k], e.gapq[k], "gap quantile %d", k);
    for (int f = 0; f < VF_F_COUNT; f++) {
        cr_assert_eq(e2.n_valq[f], e.n_valq[f]);
        for (int k = 0; k < e.n_valq[f]; k++) {
            cr_assert_eq(e2.valq[f][k], e.valq[f][k], "%s quantile %d", vf_field_name(f), k);
            cr_assert_eq(e2.valq_p[f][k], e.valq_p[f][k], "%s quantile %d's rank", vf_field_name(f), k);
        }
    }
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

/* the quantile table's encodings: UGR'16's whole seconds are point masses */
Test(trace_encode, round_trip_interarrival_quantile) {
    round_trip_enc(PATHSPIDER, 5000, 5, VF_CHUNK_FIXED_TIME, VF_ENC_INTERARRIVAL_QUANTILE);
    round_trip_enc(UGR, 3000, 10, VF_CHUNK_FIXED_TIME, VF_ENC_INTERARRIVAL_QUANTILE);
    round_trip_enc(ZEEK, 3000, 4, VF_CHUNK_FIXED_SIZE, VF_ENC_INTERARRIVAL_QUANTILE);
}
/* volumes by their quantile tables: packet lengths (40, 1500...) and
 * UGR'16's one-packet flows are point masses */
Test(trace_encode, round_trip_value_quantile) {
    g_value_quantile = true;
    round_trip(PATHSPIDER, 5000, 5, VF_CHUNK_FIXED_TIME);
    round_trip(UGR, 3000, 10, VF_CHUNK_FIXED_TIME);
    round_trip_enc(UGR, 3000, 10, VF_CHUNK_FIXED_TIME, VF_ENC_INTERARRIVAL_QUANTILE);
    g_value_quantile = false;
}
Test(trace_encode, round_trip_interarrival_bins) {
    round_trip_enc(PATHSPIDER, 5000, 5, VF_CHUNK_FIXED_TIME, VF_ENC_INTERARRIVAL_BINS);
    round_trip_enc(UGR, 3000, 10, VF_CHUNK_FIXED_TIME, VF_ENC_INTERARRIVAL_BINS);
}

/* A packet of flow `flow` (its own source port) at ts_ns. */
static vf_record toy_pkt(int flow, int64_t ts_ns) {
    vf_record r;
    memset(&r, 0, sizeof r);
    r.ts_ns = ts_ns;
    vf_addr_from_v4(&r.src, 0x0a000002);
    vf_addr_from_v4(&r.dst, 0x0a000001);
    r.sport = (uint16_t)(1024 + flow);
    r.dport = 443;
    r.proto = 6;
    r.ip_version = 4;
    r.ttl = 64;
    r.length = 100;
    r.pkts = 1;
    r.bytes = 100;
    r.label = -1;
    return r;
}

static uint64_t g_lcg = 1;
static double toy_uniform(void) { /* (0, 1), deterministic */
    g_lcg = g_lcg * 6364136223846793005ull + 1442695040888963407ull;
    return ((double)(g_lcg >> 11) + 0.5) * 0x1p-53;
}

/* n_flows flows of `len` packets, heavy-tailed gaps: Pareto (alpha 1.1) from
 * 50 us, a quarter of them 0 (same-timestamp bursts); flows start 1 ms apart.
 * Ports and protocol as bits (nothing to train), one chunk. */
static void heavy_tail_toy(vf_trace *t, vf_data_desc *dd, vf_encoding te, int n_flows, int len) {
    memset(t, 0, sizeof *t);
    t->kind = VF_TRACE_PACKETS;
    t->linktype = 101;
    g_lcg = 7;
    for (int f = 0; f < n_flows; f++) {
        int64_t ts = 1000000000000ll + (int64_t)f * 1000000;
        for (int k = 0; k < len; k++) {
            if (k) {
                double u = toy_uniform();
                ts += u < 0.25 ? 0 : (int64_t)llround(50e3 * pow(toy_uniform(), -1 / 1.1));
            }
            vf_record r = toy_pkt(f, ts);
            cr_assert_eq(vf_trace_append(t, &r), VF_OK);
        }
    }
    vf_data_desc_default(t->kind, dd);
    dd->n_chunks = 1;
    for (int i = 0; i < dd->n_fields; i++)
        if (dd->fields[i].enc == VF_ENC_WORD2VEC) dd->fields[i].enc = VF_ENC_BITS;
    set_time_encoding(dd, te);
}

/* Every within-flow gap of t (flows by source port, records in time order
 * within a flow: the toy's and vf_decode's), sorted. */
static int cmp_i64t(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}
static size_t toy_gaps(const vf_trace *t, int64_t *out) {
    size_t n = 0;
    for (size_t i = 1; i < t->n; i++)
        if (t->recs[i].sport == t->recs[i - 1].sport) out[n++] = t->recs[i].ts_ns - t->recs[i - 1].ts_ns;
    qsort(out, n, sizeof *out, cmp_i64t);
    return n;
}

/* Knots decode to themselves, encoding is monotone in the gap, decoding
 * monotone in the output and inside [smallest, largest] training gap. */
static void quantile_exact_and_monotone(vf_encoding te) {
    vf_trace t;
    vf_data_desc dd;
    heavy_tail_toy(&t, &dd, te, 200, 6);
    for (int i = 0; i < dd.n_fields; i++)
        if (dd.fields[i].field == VF_F_TIME) dd.fields[i].bins = 12;
    vf_encoder e;
    cr_assert_eq(vf_encoder_fit(&dd, &t, &e), VF_OK, "%s", vf_last_error());
    int K = e.n_gapq - 1;
    cr_assert_eq(K, 12);
    cr_assert_eq(e.gapq[0], 0, "a quarter of the gaps are 0");
    cr_assert_eq(e.gapq[1], 0);
    cr_assert_gt(e.gapq[K], e.gapq[K - 1]);
    float buf[32];
    for (int k = 0; k <= K; k++) {
        vf_enc_gap(&e, te, 0, e.gapq[k], buf);
        cr_assert_eq(vf_enc_ungap(&e, te, 0, buf), e.gapq[k], "knot %d: %lld", k, (long long)e.gapq[k]);
    }
    /* position of a gap: the unit (quantile) or bin + place in it (bins) */
    double prev = -1;
    for (double x = 0; x < 4.0 * (double)e.gapq[K]; x = x * 1.01 + 1) {
        vf_enc_gap(&e, te, 0, (int64_t)x, buf);
        double pos = buf[0];
        if (te == VF_ENC_INTERARRIVAL_BINS) {
            int hot = -1;
            for (int k = 0; k < K; k++) {
                cr_assert(buf[k] == 0.0f || buf[k] == 1.0f);
                if (buf[k] == 1.0f) { cr_assert_eq(hot, -1, "one bin"); hot = k; }
            }
            cr_assert_geq(hot, 0);
            cr_assert(buf[K] >= 0 && buf[K] <= 1);
            pos = (hot + buf[K]) / K;
        }
        cr_assert(pos >= 0 && pos <= 1);
        cr_assert_geq(pos, prev, "gap %g: position %g after %g", x, pos, prev);
        prev = pos;
    }
    int64_t last = -1;
    for (int i = 0; i <= 100000; i++) {
        double u = i / 100000.0;
        if (te == VF_ENC_INTERARRIVAL_BINS) {
            int k = (int)(u * K);
            if (k >= K) k = K - 1;
            memset(buf, 0, sizeof buf);
            buf[k] = 1;
            buf[K] = (float)(u * K - k);
        } else {
            buf[0] = (float)u;
        }
        int64_t g = vf_enc_ungap(&e, te, 0, buf);
        cr_assert_geq(g, last, "output %g: %lld after %lld", u, (long long)g, (long long)last);
        cr_assert(g >= e.gapq[0] && g <= e.gapq[K]);
        last = g;
    }
    /* out-of-range outputs clamp (a generator's overshoot) */
    buf[0] = 1.5f;
    if (te == VF_ENC_INTERARRIVAL_QUANTILE) cr_assert_eq(vf_enc_ungap(&e, te, 0, buf), e.gapq[K]);
    vf_encoder_free(&e);
    vf_trace_free(&t);
}
Test(trace_encode, interarrival_quantile_exact_on_knots_and_monotone) {
    quantile_exact_and_monotone(VF_ENC_INTERARRIVAL_QUANTILE);
}
Test(trace_encode, interarrival_bins_exact_on_knots_and_monotone) {
    quantile_exact_and_monotone(VF_ENC_INTERARRIVAL_BINS);
}

/* Heavy-tailed gaps, every encoded gap moved by a generator-like error
 * (shrunk towards 1/2 by the factor shrink, as a sigmoid head that does not
 * spread enough; then uniform in +-noise, clamped to [0, 1]; bins: the place
 * in the bin), then decoded with gdec: the median and p99 of the decoded
 * gaps against the real ones. */
static void heavy_tail_decoded(vf_encoding te, vf_quantile_decode gdec, float shrink, float noise, double *med_ratio,
                               double *p99_ratio) {
    vf_trace t, d;
    vf_data_desc dd;
    heavy_tail_toy(&t, &dd, te, 2000, 8);
    for (int i = 0; i < dd.n_fields; i++)
        if (dd.fields[i].field == VF_F_TIME) dd.fields[i].qdecode = gdec;
    vf_encoder e;
    cr_assert_eq(vf_encoder_fit(&dd, &t, &e), VF_OK, "%s", vf_last_error());
    vf_encoded *ch;
    cr_assert_eq(vf_encode(&e, &t, &ch), VF_OK, "%s", vf_last_error());
    int toff = -1;
    for (int s = 0; s < e.n_feat_segs; s++)
        if (e.feat_segs[s].field == VF_F_TIME) toff = e.feat_segs[s].offset + e.feat_segs[s].width - 1;
    g_lcg = 11;
    for (size_t i = 0; i < (size_t)ch[0].n_flows * (size_t)ch[0].max_len; i++) {
        float *x = &ch[0].feat[i * (size_t)e.feat_dim + (size_t)toff];
        *x = fminf(1, fmaxf(0, 0.5f + (*x - 0.5f) * shrink + noise * (float)(2 * toy_uniform() - 1)));
    }
    memset(&d, 0, sizeof d);
    cr_assert_eq(vf_decode(&e, ch, 1, &d), VF_OK, "%s", vf_last_error());
    cr_assert_eq(d.n, t.n);
    int64_t *gr = malloc(t.n * sizeof *gr), *gd = malloc(t.n * sizeof *gd);
    size_t nr = toy_gaps(&t, gr), nd = toy_gaps(&d, gd);
    cr_assert_eq(nr, nd);
    *med_ratio = (double)gd[nd / 2] / (double)gr[nr / 2];
    *p99_ratio = (double)gd[nd * 99 / 100] / (double)gr[nr * 99 / 100];
    free(gr);
    free(gd);
    vf_encoded_free(ch, 1);
    vf_encoder_free(&e);
    vf_trace_free(&t);
    vf_trace_free(&d);
}
static void heavy_tail_quantiles(vf_encoding te, float noise, double *med_ratio, double *p99_ratio) {
    heavy_tail_decoded(te, VF_QDEC_VALUE, 1, noise, med_ratio, p99_ratio);
}

/* decode = "rank": outputs squeezed into the middle fifth of [0, 1] lose
 * the tail decoded by value, not by rank (the order is all that counts) */
Test(trace_encode, interarrival_quantile_rank_decode_keeps_median_and_p99) {
    double m, p;
    heavy_tail_decoded(VF_ENC_INTERARRIVAL_QUANTILE, VF_QDEC_VALUE, 0.2f, 0, &m, &p);
    cr_assert_lt(p, 0.2, "value, squeezed: p99 x%g", p);
    heavy_tail_decoded(VF_ENC_INTERARRIVAL_QUANTILE, VF_QDEC_RANK, 0.2f, 0, &m, &p);
    cr_assert(fabs(m - 1) < 0.02 && fabs(p - 1) < 0.02, "rank, squeezed: median x%g, p99 x%g", m, p);
    heavy_tail_decoded(VF_ENC_INTERARRIVAL_QUANTILE, VF_QDEC_RANK, 0.2f, 0.05f, &m, &p);
    cr_assert(fabs(m - 1) < 0.02 && fabs(p - 1) < 0.02, "rank, squeezed and noisy: median x%g, p99 x%g", m, p);
}

Test(trace_encode, interarrival_quantile_keeps_heavy_tail_median_and_p99) {
    double m, p;
    /* exact round trip, then an output error of +-0.01 (1% of the ranks) */
    heavy_tail_quantiles(VF_ENC_INTERARRIVAL_QUANTILE, 0, &m, &p);
    cr_assert(fabs(m - 1) < 1e-3 && fabs(p - 1) < 1e-3, "quantile, exact: median x%g, p99 x%g", m, p);
    heavy_tail_quantiles(VF_ENC_INTERARRIVAL_QUANTILE, 0.01f, &m, &p);
    cr_assert(fabs(m - 1) < 0.1 && fabs(p - 1) < 0.25, "quantile, +-0.01: median x%g, p99 x%g", m, p);
    heavy_tail_quantiles(VF_ENC_INTERARRIVAL_BINS, 0.1f, &m, &p);
    cr_assert(fabs(m - 1) < 0.1 && fabs(p - 1) < 0.25, "bins, +-0.1 in the bin: median x%g, p99 x%g", m, p);
    /* the same output error under NetShare's linear scaling by the largest
     * gap (a fraction of a second here) moves every sub-ms gap by up to
     * milliseconds: the median comes out ~1.8x (half of the small gaps clamp
     * to 0, the other half grow) */
    heavy_tail_quantiles(VF_ENC_INTERARRIVAL, 0.01f, &m, &p);
    cr_assert_gt(m, 1.3, "linear, +-0.01: median x%g p99 x%g", m, p);
}

/* Packet lengths as a real capture has them: 30% of 40 bytes, 30% of
 * 1500, the rest spread between (more small than large); the toy's flows
 * otherwise. len is encoded quantile (bins 64) decoded by qdec. */
static void length_toy(vf_trace *t, vf_data_desc *dd, vf_quantile_decode qdec) {
    heavy_tail_toy(t, dd, VF_ENC_INTERARRIVAL_QUANTILE, 500, 6);
    g_lcg = 5;
    for (size_t i = 0; i < t->n; i++) {
        double u = toy_uniform();
        t->recs[i].length = u < 0.3 ? 40 : u < 0.6 ? 1500 : 40 + (uint32_t)(1460 * pow(toy_uniform(), 3));
    }
    for (int i = 0; i < dd->n_fields; i++)
        if (dd->fields[i].field == VF_F_LEN) {
            dd->fields[i].enc = VF_ENC_QUANTILE;
            dd->fields[i].bins = 64;
            dd->fields[i].qdecode = qdec;
        }
}
static int cmp_f64t(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static int cmp_u32t(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}
/* The lengths of t, sorted, and their share of 40 and of 1500. */
static uint32_t *sorted_lengths(const vf_trace *t, double *share40, double *share1500) {
    uint32_t *v = malloc(t->n * sizeof *v);
    size_t n40 = 0, n1500 = 0;
    for (size_t i = 0; i < t->n; i++) {
        v[i] = t->recs[i].length;
        n40 += v[i] == 40;
        n1500 += v[i] == 1500;
    }
    qsort(v, t->n, sizeof *v, cmp_u32t);
    *share40 = (double)n40 / (double)t->n;
    *share1500 = (double)n1500 / (double)t->n;
    return v;
}

/* Knots are the sorted values' k/K points; the point masses sit on runs of
 * knots; encoding is monotone in the value and in [0, 1]; decoding is
 * monotone in the output, inside [smallest, largest], and the round trip
 * is exact for these integers. */
Test(trace_encode, value_quantile_knots_monotone_and_exact) {
    vf_trace t, d;
    vf_data_desc dd;
    length_toy(&t, &dd, VF_QDEC_VALUE);
    vf_encoder e;
    TU_OK(vf_encoder_fit(&dd, &t, &e));
    int N = e.n_valq[VF_F_LEN], K = 64;
    const double *v = e.valq[VF_F_LEN], *p = e.valq_p[VF_F_LEN];
    cr_assert(p && N > K + 1 && N <= K + 1 + 2 * VF_VALQ_TAIL_MAX, "%d knots", N);
    double s40, s1500;
    uint32_t *len = sorted_lengths(&t, &s40, &s1500);
    int even = 0; /* knots at the K + 1 evenly spaced sample indices */
    for (int i = 0; i < N; i++) {
        double idx = p[i] * (double)t.n - 0.5; /* the sample the knot is, by its rank fraction */
        cr_assert(fabs(idx - round(idx)) < 1e-6 && (!i || p[i] > p[i - 1]), "knot %d at rank %g", i, p[i]);
        cr_assert_eq(v[i], len[(size_t)round(idx)], "knot %d", i);
        even += (size_t)round(idx) == ((size_t)even * (t.n - 1) + K / 2) / K;
        if (p[i] < 0.3 * 0.9) cr_assert_eq(v[i], 40, "knot %d in the 30%% of 40s", i);
    }
    cr_assert_eq(even, K + 1);
    cr_assert(p[0] == 0.5 / (double)t.n && p[N - 1] == 1 - 0.5 / (double)t.n, "the extremes are knots");
    cr_assert_eq(v[0], 40);
    cr_assert_eq(v[N - 1], 1500);
    free(len);
    const vf_field_spec *spec = NULL;
    for (int i = 0; i < e.n_fields; i++)
        if (e.fields[i].field == VF_F_LEN) spec = &e.fields[i];
    vf_record r = t.recs[0];
    float prev = -1, out;
    for (uint32_t x = 0; x <= 2000; x++) {
        r.length = x;
        vf_enc_field(&e, spec, &r, &out);
        cr_assert(out >= 0 && out <= 1);
        cr_assert_geq(out, prev, "length %u: %g after %g", x, out, prev);
        prev = out;
    }
    /* exact: decode(encode(x)) for every record */
    vf_encoded *ch;
    TU_OK(vf_encode(&e, &t, &ch));
    memset(&d, 0, sizeof d);
    TU_OK(vf_decode(&e, ch, 1, &d));
    cr_assert_eq(d.n, t.n);
    double d40, d1500;
    uint32_t *a = sorted_lengths(&t, &s40, &s1500), *b = sorted_lengths(&d, &d40, &d1500);
    for (size_t i = 0; i < t.n; i++) cr_assert_eq(a[i], b[i], "sorted length %zu: %u decoded as %u", i, a[i], b[i]);
    free(a);
    free(b);
    vf_trace_free(&d);
    /* monotone: the outputs rising in decode order give rising lengths */
    int off = seg_offset(e.feat_segs, e.n_feat_segs, VF_F_LEN);
    size_t cells = (size_t)ch[0].n_flows * (size_t)ch[0].max_len;
    for (size_t i = 0; i < cells; i++) ch[0].feat[i * (size_t)e.feat_dim + (size_t)off] = (float)i / (float)cells * 1.2f - 0.1f;
    memset(&d, 0, sizeof d);
    TU_OK(vf_decode(&e, ch, 1, &d));
    for (size_t i = 0; i < d.n; i++) {
        cr_assert(d.recs[i].length >= 40 && d.recs[i].length <= 1500);
        if (i) cr_assert_geq(d.recs[i].length, d.recs[i - 1].length, "record %zu", i);
    }
    cr_assert_eq(d.recs[0].length, 40, "below 0 clamps to the smallest");
    cr_assert_eq(d.recs[d.n - 1].length, 1500, "above 1 clamps to the largest");
    vf_encoded_free(ch, 1);
    vf_encoder_free(&e);
    vf_trace_free(&t);
    vf_trace_free(&d);
}

/* decode = "rank" for a value: outputs squeezed into the middle fifth of
 * [0, 1] (and noisy) keep the point masses' shares and the median by rank;
 * by value the squeeze loses both point masses. */
static void squeezed_lengths(vf_quantile_decode qdec, double *share40, double *share1500, double *med_ratio) {
    vf_trace t, d;
    vf_data_desc dd;
    length_toy(&t, &dd, qdec);
    vf_encoder e;
    TU_OK(vf_encoder_fit(&dd, &t, &e));
    vf_encoded *ch;
    TU_OK(vf_encode(&e, &t, &ch));
    int off = seg_offset(e.feat_segs, e.n_feat_segs, VF_F_LEN);
    g_lcg = 13;
    for (size_t i = 0; i < (size_t)ch[0].n_flows * (size_t)ch[0].max_len; i++) {
        float *x = &ch[0].feat[i * (size_t)e.feat_dim + (size_t)off];
        *x = fminf(1, fmaxf(0, 0.5f + (*x - 0.5f) * 0.2f + 0.02f * (float)(2 * toy_uniform() - 1)));
    }
    memset(&d, 0, sizeof d);
    TU_OK(vf_decode(&e, ch, 1, &d));
    cr_assert_eq(d.n, t.n);
    double r40, r1500;
    uint32_t *a = sorted_lengths(&t, &r40, &r1500), *b = sorted_lengths(&d, share40, share1500);
    *share40 -= r40;
    *share1500 -= r1500;
    *med_ratio = (double)b[d.n / 2] / (double)a[t.n / 2];
    free(a);
    free(b);
    vf_encoded_free(ch, 1);
    vf_encoder_free(&e);
    vf_trace_free(&t);
    vf_trace_free(&d);
}
Test(trace_encode, value_quantile_rank_decode_keeps_point_masses) {
    double d40, d1500, m;
    squeezed_lengths(VF_QDEC_VALUE, &d40, &d1500, &m);
    cr_assert(d40 < -0.25 && d1500 < -0.25, "value, squeezed: shares of 40 and 1500 off by %g and %g", d40, d1500);
    squeezed_lengths(VF_QDEC_RANK, &d40, &d1500, &m);
    cr_assert(fabs(d40) < 0.02 && fabs(d1500) < 0.02 && fabs(m - 1) < 0.02,
              "rank, squeezed: shares of 40 and 1500 off by %g and %g, median x%g", d40, d1500, m);
}

/* A heavy tail: lengths 40-1500 but for 12 records of 9,000-65,000, fewer
 * than the records between two evenly spaced knots (bins 64, about 47). A
 * rank decode of the training's own outputs gives back the largest, the
 * second and the fourth largest exactly (the tail knots halve the distance
 * to the end: samples n-1, n-2, n-4, n-7, ...). With only the 65 evenly
 * spaced knots at ranks k / 64 (a table of an encoder file before version
 * 11, which must still decode as it did, saved and reloaded or read as
 * version 10) the largest comes out below 65,000 and the sorted lengths'
 * mean error is more than 4 times as large. */
static double tail_error(vf_encoder *e, const vf_trace *t, uint32_t top[4]) {
    vf_encoded *ch;
    TU_OK(vf_encode(e, t, &ch));
    vf_trace d;
    memset(&d, 0, sizeof d);
    TU_OK(vf_decode(e, ch, 1, &d));
    cr_assert_eq(d.n, t->n);
    double x, y;
    uint32_t *a = sorted_lengths(t, &x, &y), *b = sorted_lengths(&d, &x, &y);
    double err = 0;
    for (size_t i = 0; i < t->n; i++) err += fabs((double)a[i] - (double)b[i]) / (double)t->n;
    for (int k = 0; k < 4; k++) top[k] = b[d.n - 1 - (size_t)k];
    free(a);
    free(b);
    vf_encoded_free(ch, 1);
    vf_trace_free(&d);
    return err;
}
Test(trace_encode, value_table_tail_knots_keep_a_heavy_tail) {
    vf_trace t;
    vf_data_desc dd;
    length_toy(&t, &dd, VF_QDEC_RANK);
    static const uint32_t tail[12] = {9000, 9500, 10000, 11000, 12000, 14000, 17000, 21000, 26000, 33000, 47000, 65000};
    for (int k = 0; k < 12; k++) t.recs[(size_t)k * 97 % t.n].length = tail[k];
    vf_encoder e;
    TU_OK(vf_encoder_fit(&dd, &t, &e));
    uint32_t top[4];
    double err = tail_error(&e, &t, top);
    cr_assert(top[0] == 65000 && top[1] == 47000 && top[3] == 26000, "tail knots: largest %u, %u, %u, %u", top[0], top[1],
              top[2], top[3]);
    /* the same table's 65 evenly spaced knots, as a version 10 file has them */
    const int K = 64;
    double even[65];
    for (int k = 0; k <= K; k++) {
        size_t want = ((size_t)k * (t.n - 1) + K / 2) / K;
        for (int i = 0; i < e.n_valq[VF_F_LEN]; i++)
            if ((size_t)llround(e.valq_p[VF_F_LEN][i] * (double)t.n - 0.5) == want) even[k] = e.valq[VF_F_LEN][i];
    }
    memcpy(e.valq[VF_F_LEN], even, sizeof even);
    free(e.valq_p[VF_F_LEN]);
    e.valq_p[VF_F_LEN] = NULL;
    e.n_valq[VF_F_LEN] = K + 1;
    double err_even = tail_error(&e, &t, top);
    cr_assert(top[0] < 65000 && err < err_even / 4, "even knots only: largest %u, mean error %g against %g with tail knots",
              top[0], err_even, err);
    /* saved (version 11, ranks k / 64) and loaded, it decodes the same */
    char path[128];
    snprintf(path, sizeof path, "/tmp/vkflow_even_enc_%d.txt", (int)getpid());
    TU_OK(vf_encoder_save(&e, path));
    vf_encoder e2;
    TU_OK(vf_encoder_load(path, &e2));
    unlink(path);
    cr_assert(e2.n_valq[VF_F_LEN] == K + 1 && e2.valq_p[VF_F_LEN][0] == 0 && e2.valq_p[VF_F_LEN][K] == 1);
    uint32_t top2[4];
    double err2 = tail_error(&e2, &t, top2);
    cr_assert(!memcmp(top, top2, sizeof top) && fabs(err2 - err_even) < 1e-9 * err_even, "%g after the reload, %g before",
              err2, err_even);
    vf_encoder_free(&e2);
    /* as a version 10 file writes it (`valq 65 v0 ... v64`), the same */
    TU_OK(vf_encoder_save(&e, path));
    size_t len;
    char *text = tu_read_file(path, &len), *old = malloc(len + 1), *w = old;
    cr_assert(text && old && !strncmp(text, "vkflow-encoder 11\n", 18));
    w += sprintf(w, "vkflow-encoder 10\n");
    for (char *line = text + 18, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        int n = 0, at = 0;
        if (sscanf(line, "valq %d%n", &n, &at) == 1 && n) { /* drop each knot's rank */
            w += sprintf(w, "valq %d", n);
            char *q = line + at;
            for (int i = 0; i < n; i++) {
                strtod(q, &q);
                double v = strtod(q, &q);
                w += sprintf(w, " %.17g", v);
            }
            *w++ = '\n';
        } else {
            memcpy(w, line, (size_t)(nl - line) + 1);
            w += nl - line + 1;
        }
    }
    *w = 0;
    tu_write_resummed(path, old);
    TU_OK(vf_encoder_load(path, &e2));
    unlink(path);
    cr_assert(e2.n_valq[VF_F_LEN] == K + 1 && !e2.valq_p[VF_F_LEN], "version 10: ranks k / 64");
    err2 = tail_error(&e2, &t, top2);
    cr_assert(!memcmp(top, top2, sizeof top) && fabs(err2 - err_even) < 1e-9 * err_even, "%g from version 10, %g before",
              err2, err_even);
    vf_encoder_free(&e2);
    free(text);
    free(old);
    vf_encoder_free(&e);
    vf_trace_free(&t);
}

/* The chunks' rank fractions interleave: three chunks of five numbers
 * each take the table at the 15 fractions (j + 1/2) / 15, as one decode of
 * 15 numbers would; a single chunk keeps (r + 1/2) / n. */
Test(trace_encode, chunk_ranks_interleave) {
    vf_encoder e = {0};
    e.n_chunks = 3;
    double got[15];
    for (int c = 0; c < 3; c++)
        for (int r = 0; r < 5; r++) got[c * 5 + r] = (r + vf_enc_chunk_phase(&e, c)) / 5;
    qsort(got, 15, sizeof *got, cmp_f64t);
    for (int j = 0; j < 15; j++) cr_assert(fabs(got[j] - (j + 0.5) / 15) < 1e-15, "fraction %d: %g", j, got[j]);
    e.n_chunks = 1;
    cr_assert_eq(vf_enc_chunk_phase(&e, 0), 0.5);
}

/* 1000 flows of 3 packets 10 us apart in one chunk of about a second: 80%
 * start in its first tenth, the rest anywhere. The time field is
 * interarrival_quantile with start decode sdec. Returns the share of
 * decoded flows (first packets) starting in the first tenth, and the
 * median start's distance from the real one in fractions of the chunk,
 * after the start outputs are squeezed into the middle fifth of [0, 1]. */
static void squeezed_starts(vf_quantile_decode sdec, double *share_early, double *median_off) {
    vf_trace t, d;
    memset(&t, 0, sizeof t);
    t.kind = VF_TRACE_PACKETS;
    t.linktype = 101;
    g_lcg = 17;
    const int64_t t0 = 1000000000000ll, W = 1000000000ll;
    int64_t *start = malloc(1000 * sizeof *start);
    for (int f = 0; f < 1000; f++) {
        double u = toy_uniform();
        start[f] = t0 + (int64_t)((u < 0.8 ? 0.1 : 1.0) * toy_uniform() * (double)W);
        for (int k = 0; k < 3; k++) {
            vf_record r = toy_pkt(f, start[f] + k * 10000);
            cr_assert_eq(vf_trace_append(&t, &r), VF_OK);
        }
    }
    vf_data_desc dd;
    vf_data_desc_default(t.kind, &dd);
    dd.n_chunks = 1;
    for (int i = 0; i < dd.n_fields; i++)
        if (dd.fields[i].enc == VF_ENC_WORD2VEC) dd.fields[i].enc = VF_ENC_BITS;
    set_time_encoding(&dd, VF_ENC_INTERARRIVAL_QUANTILE);
    for (int i = 0; i < dd.n_fields; i++)
        if (dd.fields[i].field == VF_F_TIME) dd.fields[i].start_decode = sdec;
    vf_encoder e;
    TU_OK(vf_encoder_fit(&dd, &t, &e));
    cr_assert_eq(e.n_startq, sdec == VF_QDEC_RANK ? VF_START_BINS + 1 : 0);
    if (sdec == VF_QDEC_RANK) {
        cr_assert_eq(e.startq[0], 0);
        cr_assert_eq(e.startq[VF_START_BINS], 1);
        cr_assert(e.startq[VF_START_BINS * 3 / 4] < 0.1, "three quarters of the starts in the first tenth");
    }
    vf_encoded *ch;
    TU_OK(vf_encode(&e, &t, &ch));
    int col = e.attr_dim - 2 * (e.n_chunks + 1) - 1;
    for (int row = 0; row < ch[0].n_flows; row++) {
        float *x = &ch[0].attr[(size_t)row * (size_t)e.attr_dim + (size_t)col];
        *x = 0.5f + (*x - 0.5f) * 0.2f;
    }
    memset(&d, 0, sizeof d);
    TU_OK(vf_decode(&e, ch, 1, &d));
    cr_assert_eq(d.n, t.n);
    int64_t lo = e.start_lo[0], span = e.start_hi[0] - e.start_lo[0];
    int early = 0, n = 0;
    int64_t *ds = malloc(1000 * sizeof *ds);
    for (size_t i = 0; i < d.n; i += 3) { /* decode order: a flow's three packets together */
        ds[n++] = d.recs[i].ts_ns;
        early += d.recs[i].ts_ns - lo < span / 10;
    }
    cr_assert_eq(n, 1000);
    qsort(ds, 1000, sizeof *ds, cmp_i64t);
    qsort(start, 1000, sizeof *start, cmp_i64t);
    *share_early = early / 1000.0;
    *median_off = fabs((double)(ds[500] - start[500])) / (double)span;
    free(ds);
    free(start);
    vf_encoded_free(ch, 1);
    vf_encoder_free(&e);
    vf_trace_free(&t);
    vf_trace_free(&d);
}
Test(trace_encode, start_decode_rank_keeps_flow_start_profile) {
    double early, off;
    squeezed_starts(VF_QDEC_VALUE, &early, &off);
    cr_assert(early < 0.05, "value, squeezed: %g of the flows start early", early);
    squeezed_starts(VF_QDEC_RANK, &early, &off);
    cr_assert(fabs(early - 0.8) < 0.03 && off < 0.01, "rank, squeezed: %g start early, median off by %g", early, off);
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
        "             { name = \"time\"; encoding = \"interarrival_log\"; start_decode = \"rank\"; },\n"
        "             { name = \"pkt\"; encoding = \"log_minmax\"; range = [0, 1000000]; },\n"
        "             { name = \"byt\"; encoding = \"quantile\"; bins = 32; decode = \"rank\"; },\n"
        "             { name = \"label\"; encoding = \"onehot\"; } );\n"
        "};\n", UGR);
    vf_data_desc dd;
    cr_assert_eq(vf_data_desc_parse_string("test.cfg", cfg, &dd), VF_OK, "%s", vf_last_error());
    cr_assert_eq(dd.n_chunks, 3);
    cr_assert_eq(dd.chunking, VF_CHUNK_FIXED_SIZE);
    cr_assert_eq(dd.n_fields, 8);
    cr_assert_eq(dd.fields[4].enc, VF_ENC_INTERARRIVAL_LOG);
    cr_assert_eq(dd.fields[4].start_decode, VF_QDEC_RANK);
    cr_assert_eq(dd.fields[5].enc, VF_ENC_LOG_MINMAX);
    cr_assert(dd.fields[5].fixed_range);
    cr_assert_eq(dd.fields[6].enc, VF_ENC_QUANTILE);
    cr_assert_eq(dd.fields[6].bins, 32);
    cr_assert_eq(dd.fields[6].qdecode, VF_QDEC_RANK);
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
    cr_assert_eq(e.feat_dim, 1 + 1 + 1 + e.n_vocab[VF_F_LABEL]);
    cr_assert(e.n_valq[VF_F_BYT] > 33 && e.n_valq[VF_F_BYT] <= 33 + 2 * VF_VALQ_TAIL_MAX, "%d", e.n_valq[VF_F_BYT]);
    cr_assert_eq(e.n_startq, VF_START_BINS + 1);
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
               "bad.cfg:2: fields: 'time' takes encoding interarrival, interarrival_log, interarrival_quantile");
    desc_error("data = { path = \"x\";\n fields = ( { name = \"time\"; encoding = \"interarrival_log\";\n bins = 8; } ); };",
               "bad.cfg:3: fields: 'time': bins applies to encodings interarrival_quantile, interarrival_bins and quantile only");
    desc_error("data = { path = \"x\";\n fields = ( { name = \"pkt\"; encoding = \"quantile\"; start_decode = \"rank\"; } ); };",
               "bad.cfg:2: fields: 'pkt': start_decode applies to 'time' only");
    desc_error("data = { path = \"x\";\n fields = ( { name = \"time\"; encoding = \"interarrival\"; start_decode = \"first\"; } ); };",
               "bad.cfg:2: fields: 'time': start_decode 'first': expected value or rank");
    desc_error("data = { path = \"x\";\n fields = ( { name = \"dstport\"; encoding = \"quantile\"; } ); };",
               "bad.cfg:2: fields: 'dstport': quantile is for td, pkt, byt, len, tos, ttl, ipid and fragoff");
    desc_error("data = { path = \"x\";\n fields = ( { name = \"pkt\"; encoding = \"log_minmax\"; decode = \"rank\"; } ); };",
               "bad.cfg:2: fields: 'pkt': decode applies to srcip/dstip and to encoding quantile only");
    desc_error("data = { path = \"x\";\n fields = ( { name = \"byt\"; encoding = \"quantile\"; decode = \"tree\"; } ); };",
               "bad.cfg:2: fields: 'byt': decode 'tree': expected value or rank");
    desc_error("data = { path = \"x\";\n fields = ( { name = \"len\"; encoding = \"quantile\"; bins = 5000; } ); };",
               "bad.cfg:2: 'bins' = 5000 is outside 2..4096");
    desc_error("data = { path = \"x\";\n fields = ( { name = \"time\"; encoding = \"interarrival_quantile\";\n\n bins = 1; } ); };",
               "bad.cfg:4: 'bins' = 1 is outside 2..4096");
    desc_error("data = { path = \"x\";\n fields = ( { name = \"time\"; encoding = \"interarrival_bins\"; bins = \"8\"; } ); };",
               "bad.cfg:2: 'bins' must be an integer");
    desc_error("data = { path = \"x\";\n fields = ( { name = \"time\"; encoding = \"interarrival_quantile\";\n decode = \"mean\"; } ); };",
               "bad.cfg:3: fields: 'time': decode 'mean': expected value or rank");
    desc_error("data = { path = \"x\";\n fields = ( { name = \"time\"; encoding = \"interarrival\"; decode = \"rank\"; } ); };",
               "bad.cfg:2: fields: 'time': decode applies to encoding interarrival_quantile only");
    desc_error("data = { path = \"x\";\n fields = ( { name = \"time\"; encoding = \"interarrival_bins\"; decode = \"rank\"; } ); };",
               "bad.cfg:2: fields: 'time': decode applies to encoding interarrival_quantile only");
    desc_error("data = { path = \"x\";\n fields = ( { name = \"pkt\"; encoding = \"interarrival_quantile\"; } ); };",
               "bad.cfg:2: fields: 'time' takes encoding");
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

/* A privacy run adopts the public run's quantile tables (gaps, values,
 * flow starts) as they are, and refuses a description asking for other
 * bins or another decode. */
Test(trace_encode, adopt_public_keeps_quantile_tables) {
    vf_trace t, priv;
    vf_data_desc dd;
    heavy_tail_toy(&t, &dd, VF_ENC_INTERARRIVAL_QUANTILE, 100, 5);
    heavy_tail_toy(&priv, &dd, VF_ENC_INTERARRIVAL_QUANTILE, 30, 9); /* other gaps */
    for (int i = 0; i < dd.n_fields; i++)
        if (dd.fields[i].field == VF_F_TIME) {
            dd.fields[i].bins = 64;
            dd.fields[i].qdecode = VF_QDEC_RANK;
            dd.fields[i].start_decode = VF_QDEC_RANK;
        } else if (dd.fields[i].field == VF_F_LEN) {
            dd.fields[i].enc = VF_ENC_QUANTILE;
            dd.fields[i].bins = 32;
        }
    for (size_t i = 0; i < t.n; i++) t.recs[i].length = 40 + (uint32_t)(i % 97) * 15; /* the public lengths */
    vf_encoder pub, got;
    cr_assert_eq(vf_encoder_fit(&dd, &t, &pub), VF_OK, "%s", vf_last_error());
    char path[128];
    snprintf(path, sizeof path, "/tmp/vkflow_pub_enc_%d.txt", (int)getpid());
    cr_assert_eq(vf_encoder_save(&pub, path), VF_OK, "%s", vf_last_error());
    cr_assert_eq(vf_encoder_adopt_public(path, &dd, &priv, &got), VF_OK, "%s", vf_last_error());
    cr_assert_eq(got.n_gapq, 65);
    for (int k = 0; k < got.n_gapq; k++) cr_assert_eq(got.gapq[k], pub.gapq[k], "knot %d", k);
    int N = got.n_valq[VF_F_LEN];
    cr_assert_eq(N, pub.n_valq[VF_F_LEN]);
    for (int k = 0; k < N; k++)
        cr_assert(got.valq[VF_F_LEN][k] == pub.valq[VF_F_LEN][k] && got.valq_p[VF_F_LEN][k] == pub.valq_p[VF_F_LEN][k],
                  "length knot %d", k);
    cr_assert_eq(got.valq[VF_F_LEN][N - 1], 40 + 96 * 15, "the public trace's largest length, not the private 100");
    cr_assert_eq(got.n_startq, VF_START_BINS + 1);
    for (int k = 0; k < got.n_startq; k++) cr_assert_eq(got.startq[k], pub.startq[k], "start knot %d", k);
    vf_encoder_free(&got);
    for (int i = 0; i < dd.n_fields; i++)
        if (dd.fields[i].field == VF_F_TIME) dd.fields[i].start_decode = VF_QDEC_VALUE;
    cr_assert_neq(vf_encoder_adopt_public(path, &dd, &priv, &got), VF_OK);
    cr_assert(strstr(vf_last_error(), "has start_decode rank in the public run and value here"), "%s", vf_last_error());
    for (int i = 0; i < dd.n_fields; i++)
        if (dd.fields[i].field == VF_F_TIME) dd.fields[i].start_decode = VF_QDEC_RANK;
    for (int i = 0; i < dd.n_fields; i++)
        if (dd.fields[i].field == VF_F_TIME) dd.fields[i].bins = 32;
    cr_assert_neq(vf_encoder_adopt_public(path, &dd, &priv, &got), VF_OK);
    cr_assert(strstr(vf_last_error(), "64 quantile bins (decode rank) in the public run and 32"), "%s", vf_last_error());
    for (int i = 0; i < dd.n_fields; i++)
        if (dd.fields[i].field == VF_F_TIME) { dd.fields[i].bins = 64; dd.fields[i].qdecode = VF_QDEC_VALUE; }
    cr_assert_neq(vf_encoder_adopt_public(path, &dd, &priv, &got), VF_OK);
    unlink(path);
    vf_encoder_free(&pub);
    vf_trace_free(&t);
    vf_trace_free(&priv);
}

/* class_decode = "quota" on a per-record onehot field (the label): 100
 * two-record flows, 180 records "background", 14 "scan", 6 "blacklist".
 * Generated outputs that favour background everywhere (argmax would make
 * every record background) with each record's own label second: the quota
 * gives the decoded records the training shares exactly, each its own
 * label; records outside their chunk's window are left out. */
static void label_toy(vf_trace *t) {
    memset(t, 0, sizeof *t);
    t->kind = VF_TRACE_FLOWS;
    t->linktype = -1;
    int bg = vf_trace_label(t, "background"), scan = vf_trace_label(t, "scan"), bl = vf_trace_label(t, "blacklist");
    cr_assert(bg >= 0 && scan >= 0 && bl >= 0);
    for (int k = 0; k < 200; k++) {
        vf_record r;
        memset(&r, 0, sizeof r);
        vf_addr_from_v4(&r.src, 0x0A000001u + (uint32_t)(k % 7));
        vf_addr_from_v4(&r.dst, 0x08080808u);
        r.ip_version = 4;
        r.sport = (uint16_t)(3000 + k / 2);
        r.dport = 80;
        r.proto = 6;
        r.pkts = 1 + (uint64_t)k % 5;
        r.bytes = 40 * r.pkts;
        r.dur_ns = 1000;
        int i = (k + 194) % 200; /* the first records "blacklist": the decode names its labels in another order */
        r.label = i < 180 ? bg : i < 194 ? scan : bl;
        r.ts_ns = 1000000000LL * 1500000000LL + (int64_t)k * 1000000;
        cr_assert_eq(vf_trace_append(t, &r), VF_OK);
    }
}

/* Record i's label in d as t's index of the same name. */
static int label_of(const vf_trace *t, const vf_trace *d, size_t i) {
    int l = d->recs[i].label;
    cr_assert(l >= 0 && l < d->n_labels, "record %zu: label %d", i, l);
    for (int k = 0; k < t->n_labels; k++)
        if (!strcmp(t->labels[k], d->labels[l])) return k;
    cr_assert_fail("record %zu: label '%s' is not a training label", i, d->labels[l]);
    return -1;
}

/* The streaming fit of t with dd is refused with a message containing what. */
static void expect_stream_refused(const vf_data_desc *dd, vf_trace *t, const char *what) {
    vf_encoder es;
    cr_expect_eq(vf_encoder_fit_stream(dd, vf_trace_each, t, &es, NULL), VF_ERR_UNSUPPORTED, "%s: fitted", what);
    cr_expect(strstr(vf_last_error(), what), "%s", vf_last_error());
}

/* A flow description of n_chunks chunks (one word2vec epoch) whose field f
 * has class_decode quota; returns f's index among its fields. */
static int quota_desc(vf_data_desc *dd, int n_chunks, vf_field f) {
    vf_data_desc_default(VF_TRACE_FLOWS, dd);
    dd->n_chunks = n_chunks;
    dd->w2v_epochs = 1;
    int fi = -1;
    for (int i = 0; i < dd->n_fields; i++)
        if (dd->fields[i].field == f) fi = i;
    cr_assert(fi >= 0, "%s is not a default field", vf_field_name(f));
    dd->fields[fi].class_decode = VF_CDEC_QUOTA;
    return fi;
}

/* The encoder file at path, rewritten as text (its checksum redone), is
 * refused with a message containing what. */
static void expect_refused(const char *path, const char *text, const char *what) {
    tu_write_resummed(path, text);
    vf_encoder e;
    cr_expect_neq(vf_encoder_load(path, &e), VF_OK, "%s: loaded", what);
    cr_expect(strstr(vf_last_error(), what), "%s", vf_last_error());
}

Test(trace_encode, label_quota_keeps_rare_labels) {
    vf_trace t;
    label_toy(&t);
    vf_data_desc dd;
    int li = quota_desc(&dd, 1, VF_F_LABEL);
    vf_encoder e;
    cr_assert_eq(vf_encoder_fit(&dd, &t, &e), VF_OK, "%s", vf_last_error());
    cr_assert_eq(e.n_vocab[VF_F_LABEL], 3);
    cr_assert(e.vocab_count[VF_F_LABEL]);
    cr_expect_eq(e.vocab_count[VF_F_LABEL][0], 180);
    cr_expect_eq(e.vocab_count[VF_F_LABEL][1], 14);
    cr_expect_eq(e.vocab_count[VF_F_LABEL][2], 6);
    vf_encoded *ch;
    cr_assert_eq(vf_encode(&e, &t, &ch), VF_OK, "%s", vf_last_error());
    int off = seg_offset(e.feat_segs, e.n_feat_segs, VF_F_LABEL);
    cr_assert(off >= 0);
    int64_t M = 0;
    for (int r = 0; r < ch[0].n_flows; r++)
        for (int s = 0, T = vf_encoded_steps(&ch[0], r); s < T; s++, M++) {
            float *p = ch[0].feat + ((size_t)r * (size_t)ch[0].max_len + (size_t)s) * (size_t)e.feat_dim + off;
            int own = p[1] > 0.5f ? 1 : p[2] > 0.5f ? 2 : 0;
            for (int k = 0; k < 3; k++) p[k] = (k == 0 ? 0.6f : 0.15f) + (k == own ? 0.2f : 0.0f);
        }
    cr_assert_eq(M, 200);
    vf_trace d;
    memset(&d, 0, sizeof d);
    TU_OK(vf_decode(&e, ch, 1, &d));
    cr_assert_eq(d.n, 200);
    size_t from[2] = {0, d.n};
    TU_OK(vf_quota_record_classes(&e, ch, 1, &d, from, NULL));
    int got[3] = {0};
    for (size_t i = 0; i < d.n; i++) got[label_of(&t, &d, i)]++;
    cr_expect_eq(got[0], 180);
    cr_expect_eq(got[1], 14);
    cr_expect_eq(got[2], 6);
    /* each record its own label: the decode emits flows in order of first appearance */
    for (size_t i = 0; i < d.n; i++) cr_expect_eq(label_of(&t, &d, i), t.recs[i].label, "record %zu", i);
    /* records outside their chunk's window (dropped later) take no share: the
     * last 100 moved out, the first 100 get 90 / 7 / 3 */
    for (size_t i = 100; i < d.n; i++) d.recs[i].ts_ns = e.chunk_begin[1] + 1;
    TU_OK(vf_quota_record_classes(&e, ch, 1, &d, from, NULL));
    int first[3] = {0};
    for (size_t i = 0; i < 100; i++) first[label_of(&t, &d, i)]++;
    cr_expect_eq(first[0], 90);
    cr_expect_eq(first[1], 7);
    cr_expect_eq(first[2], 3);
    from[1] = d.n - 1;
    cr_expect_eq(vf_quota_record_classes(&e, ch, 1, &d, from, NULL), VF_ERR_ARG, "a record count that does not match the steps");
    /* records that copy others (flow lengths) read the offers of the one they
     * copy, and still take the training shares: all copying record 7 */
    from[1] = d.n;
    int64_t *src = malloc(d.n * sizeof *src);
    cr_assert(src);
    for (size_t i = 0; i < d.n; i++) src[i] = 7;
    TU_OK(vf_quota_record_classes(&e, ch, 1, &d, from, src));
    int copied[3] = {0};
    for (size_t i = 0; i < 100; i++) copied[label_of(&t, &d, i)]++;
    cr_expect(copied[0] == 90 && copied[1] == 7 && copied[2] == 3, "%d %d %d", copied[0], copied[1], copied[2]);
    src[3] = (int64_t)d.n;
    cr_expect_eq(vf_quota_record_classes(&e, ch, 1, &d, from, src), VF_ERR_ARG, "a source past the decoded records");
    free(src);
    vf_trace_free(&d);
    vf_encoded_free(ch, 1);

    /* saved and loaded, the counts come back; a file without them is refused */
    char path[128];
    snprintf(path, sizeof path, "/tmp/vkflow_label_quota_%d.txt", (int)getpid());
    vf_encoder e2;
    char *text = tu_encoder_reload(&e, path, &e2);
    cr_assert(e2.vocab_count[VF_F_LABEL]);
    cr_expect_eq(e2.vocab_count[VF_F_LABEL][2], 6);
    cr_expect_eq(e2.fields[li].class_decode, VF_CDEC_QUOTA);
    vf_encoder_free(&e2);
    char *vc = strstr(text, "\nvcount 3 180 14 6\n");
    cr_assert(vc, "the label's vcount line");
    memcpy(vc + 1, "vcount 0         ", 17); /* same length: the counts gone */
    expect_refused(path, text, "class_decode quota has no vcount line");
    free(text);
    unlink(path);

    /* the streaming fit does not count values: it says so */
    expect_stream_refused(&dd, &t, "class_decode quota");
    vf_encoder_free(&e);
    vf_trace_free(&t);

    /* the description: per-record onehot fields only */
    vf_data_desc dq;
    cr_assert_eq(vf_data_desc_parse_string("ok.cfg", "data = { path = \"x\"; fields = ( { name = \"label\"; encoding = "
                 "\"onehot\"; class_decode = \"quota\"; } ); };", &dq), VF_OK, "%s", vf_last_error());
    cr_expect_eq(dq.fields[0].class_decode, VF_CDEC_QUOTA);
    cr_expect(vf_data_desc_needs_class_counts(&dq));
    cr_expect_eq(vf_data_desc_parse_string("bad.cfg", "data = { path = \"x\";\n fields = ( { name = \"srcport\"; encoding = "
                 "\"onehot\"; class_decode = \"quota\"; } ); };", &dq), VF_ERR_FORMAT);
    cr_expect(strstr(vf_last_error(), "bad.cfg:2: fields: 'srcport': class_decode applies to srcip/dstip/srcport/dstport "
                     "with encoding dict, to proto with word2vec or onehot and to per-record fields with encoding onehot only"), "%s",
              vf_last_error());
}

/* The protocol quota's training trace, 2 chunks (the edge halfway through
 * 0.1 s .. 1.0 s): four TCP flows in chunk 0 only, two UDP flows in both
 * chunks, one ICMP flow in chunk 1 only. Parts by the chunk a flow begins
 * in: chunk 0 TCP 4, UDP 4 (2 flows x 2 chunks); chunk 1 ICMP 1. */
static void proto_toy(vf_trace *t) {
    memset(t, 0, sizeof *t);
    t->kind = VF_TRACE_FLOWS;
    t->linktype = -1;
    const int64_t s = 1000000000LL * 1500000000LL, ms = 1000000;
    struct { uint8_t proto; int64_t at[2]; } flow[7] = {
        {6, {100, 101}}, {6, {110, 111}}, {6, {120, 121}}, {6, {130, 131}},
        {17, {200, 800}}, {17, {210, 810}}, {1, {900, 1000}},
    };
    for (int f = 0; f < 7; f++)
        for (int k = 0; k < 2; k++) {
            vf_record r;
            memset(&r, 0, sizeof r);
            vf_addr_from_v4(&r.src, 0x0A000001u + (uint32_t)f);
            vf_addr_from_v4(&r.dst, 0x08080808u);
            r.ip_version = 4;
            r.sport = flow[f].proto == 1 ? 0 : (uint16_t)(3000 + f);
            r.dport = flow[f].proto == 1 ? 0 : 53;
            r.proto = flow[f].proto;
            r.pkts = 1;
            r.bytes = 40;
            r.dur_ns = 1000;
            r.label = -1;
            r.ts_ns = s + flow[f].at[k] * ms;
            cr_assert_eq(vf_trace_append(t, &r), VF_OK);
        }
}

/* Generated chunks for the protocol quota, attributes only: chunk 0 has 8
 * rows that start a flow, rows 0-3 also present in chunk 1 (two parts
 * each), rows 4-7 in chunk 0 only; chunk 1 has 2 rows that start a flow.
 * Every row's protocol outputs (at off, K of them) come from offer(). */
static vf_encoded *proto_rows(const vf_encoder *e, int off, int K, void (*offer)(const vf_encoder *, float *, int, int)) {
    vf_encoded *g = calloc(2, sizeof *g);
    cr_assert(g);
    const int A = e->attr_dim, tags = A - 2 * 3;
    for (int c = 0; c < 2; c++) {
        g[c].n_flows = c ? 2 : 8;
        g[c].attr_dim = A;
        g[c].chunk = c;
        cr_assert(g[c].attr = calloc((size_t)g[c].n_flows * (size_t)A, sizeof(float)));
        for (int r = 0; r < g[c].n_flows; r++) {
            float *a = g[c].attr + (size_t)r * (size_t)A;
            a[tags + 1] = 1; /* starts a flow */
            for (int j = 0; j < 2; j++) a[tags + 2 + 2 * j + (j == c || (c == 0 && r < 4))] = 1;
            offer(e, a + off, K, r);
        }
    }
    return g;
}

/* onehot: every row rates TCP (vocabulary 1, 6, 17: class 1) likeliest,
 * less so row by row, and UDP the rest. */
static void offer_onehot(const vf_encoder *e, float *p, int K, int r) {
    (void)e;
    cr_assert_eq(K, 3);
    p[0] = 0.0f, p[1] = 0.9f - 0.05f * (float)r, p[2] = 1 - p[1];
}
/* word2vec: every row is TCP's vector. */
static void offer_w2v(const vf_encoder *e, float *p, int K, int r) {
    (void)r;
    cr_assert_eq(K, e->proto.dim);
    for (int k = 0; k < e->proto.n; k++)
        if (e->proto.value[k] == 6) memcpy(p, e->proto.vec + (size_t)k * (size_t)K, (size_t)K * sizeof *p);
}

/* The protocol each generated row got from the quota. */
static uint32_t row_proto(const vf_encoder *e, const float *p, bool w2v) {
    if (w2v) return vf_w2v_nearest(&e->proto, p);
    int best = 0, ones = 0;
    for (int k = 0; k < e->n_vocab[VF_F_PROTO]; k++) {
        if (p[k] > p[best]) best = k;
        ones += p[k] == 1.0f;
        cr_expect(p[k] == 0.0f || p[k] == 1.0f, "the outputs become a one-hot");
    }
    cr_expect_eq(ones, 1);
    return (uint32_t)e->vocab[VF_F_PROTO][best];
}

static void protocol_quota(vf_encoding enc) {
    vf_trace t;
    proto_toy(&t);
    vf_data_desc dd;
    int pi = quota_desc(&dd, 2, VF_F_PROTO);
    dd.chunking = VF_CHUNK_FIXED_TIME;
    dd.fields[pi].enc = enc;
    vf_encoder e;
    cr_assert_eq(vf_encoder_fit(&dd, &t, &e), VF_OK, "%s", vf_last_error());
    cr_assert(e.pparts);
    for (int c = 0; c < 2; c++)
        for (int p = 0; p < 256; p++) {
            int64_t want = c == 0 && p == 6 ? 4 : c == 0 && p == 17 ? 4 : c == 1 && p == 1 ? 1 : 0;
            cr_expect_eq(e.pparts[c * 256 + p], want, "chunk %d protocol %d", c, p);
        }
    const vf_segment *pseg = vf_enc_first_seg(e.attr_segs, e.n_attr_segs, VF_F_PROTO);
    int off = pseg ? pseg->offset : -1, K = pseg ? pseg->width : 0;
    cr_assert(off >= 0);
    const bool w2v = enc == VF_ENC_WORD2VEC;
    vf_encoded *g = proto_rows(&e, off, K, w2v ? offer_w2v : offer_onehot);
    TU_OK(vf_quota_classes(&e, g, 2));
    /* chunk 0: 12 parts, 6 for TCP and 6 for UDP. Offers likeliest first:
     * rows 0, 1, 2 (two parts each) fill TCP; row 3 finds room 0 < 1; then
     * UDP takes rows 3-7 (2 + 4 parts). A quota by flows would give TCP
     * 4/6 of the 8 rows. Chunk 1: only ICMP begins there in training. */
    const uint32_t want[8] = {6, 6, 6, 17, 17, 17, 17, 17};
    for (int r = 0; r < 8; r++)
        cr_expect_eq(row_proto(&e, g[0].attr + (size_t)r * (size_t)e.attr_dim + off, w2v), want[r], "chunk 0 row %d", r);
    for (int r = 0; r < 2; r++)
        cr_expect_eq(row_proto(&e, g[1].attr + (size_t)r * (size_t)e.attr_dim + off, w2v), 1, "chunk 1 row %d", r);
    vf_encoded_free(g, 2);

    /* saved and loaded, the table comes back; a damaged one is refused */
    char path[128];
    snprintf(path, sizeof path, "/tmp/vkflow_proto_quota_%d.txt", (int)getpid());
    vf_encoder e2;
    char *text = tu_encoder_reload(&e, path, &e2);
    cr_assert(e2.pparts);
    cr_expect(!memcmp(e2.pparts, e.pparts, 2 * 256 * sizeof *e.pparts));
    cr_expect_eq(e2.fields[pi].class_decode, VF_CDEC_QUOTA);
    vf_encoder_free(&e2);
    char *line = strstr(text, "\npparts 2\n2 6 4 17 4\n1 1 1\n");
    cr_assert(line, "the pparts lines");
    memcpy(line + 10, "2 6 4 17 0", 10); /* a protocol with no parts */
    expect_refused(path, text, "pparts value (protocols 0-255 ascending, parts >= 1)");
    memcpy(line + 1, "pparts 0\n", 9); /* no table at all */
    memmove(line + 10, line + 27, strlen(line + 27) + 1);
    expect_refused(path, text, "proto with class_decode quota has no pparts table");
    free(text);
    unlink(path);

    /* the streaming fit does not count them: it says so */
    expect_stream_refused(&dd, &t, "class_decode quota on proto");
    vf_encoder_free(&e);
    vf_trace_free(&t);
}

Test(trace_encode, protocol_quota_shares_each_chunks_flow_parts_onehot) { protocol_quota(VF_ENC_ONEHOT); }
Test(trace_encode, protocol_quota_shares_each_chunks_flow_parts_word2vec) { protocol_quota(VF_ENC_WORD2VEC); }

Test(trace_encode, protocol_quota_description) {
    vf_data_desc dq;
    const char *enc[2] = {"word2vec", "onehot"};
    for (int i = 0; i < 2; i++) {
        char cfg[256];
        snprintf(cfg, sizeof cfg, "data = { path = \"x\"; fields = ( { name = \"proto\"; encoding = \"%s\"; "
                 "class_decode = \"quota\"; } ); };", enc[i]);
        cr_assert_eq(vf_data_desc_parse_string("ok.cfg", cfg, &dq), VF_OK, "%s", vf_last_error());
        cr_expect(vf_proto_quota(&dq.fields[0]));
        cr_expect(!vf_record_quota(&dq.fields[0]), "the protocol is a flow's, not a record's");
        cr_expect(!vf_data_desc_needs_class_counts(&dq));
        const char *why = NULL;
        cr_expect(vf_data_desc_needs_memory_fit(&dq, &why));
        cr_expect(why && strstr(why, "class_decode quota on proto"), "%s", why ? why : "(none)");
    }
    cr_expect_eq(vf_data_desc_parse_string("bad.cfg", "data = { path = \"x\";\n fields = ( { name = \"proto\"; encoding = "
                 "\"dict\"; class_decode = \"quota\"; } ); };", &dq), VF_ERR_FORMAT);
    cr_expect(strstr(vf_last_error(), "bad.cfg:2: fields: 'proto': class_decode applies to srcip/dstip/srcport/dstport "
                     "with encoding dict, to proto with word2vec or onehot"), "%s", vf_last_error());
}

/* The port quota's training trace, one chunk, two records per flow, flows
 * f0..f8 starting in that order from 10.0.0.1 + f: TCP to port 80 (f0-f3),
 * 22 (f4) and 40000 (f5); UDP to 53 (f6, f7) and 123 (f8). With top = 3 the
 * dstport classes are 22, 53, 80 (the most records; 22 before 123 and 40000
 * by value), and "other" holds 40000 (TCP) and 123 (UDP). */
static void port_toy(vf_trace *t) {
    memset(t, 0, sizeof *t);
    t->kind = VF_TRACE_FLOWS;
    t->linktype = -1;
    const struct { uint8_t proto; uint16_t dport; } flow[9] = {
        {6, 80}, {6, 80}, {6, 80}, {6, 80}, {6, 22}, {6, 40000}, {17, 53}, {17, 53}, {17, 123},
    };
    for (int f = 0; f < 9; f++)
        for (int k = 0; k < 2; k++) {
            vf_record r;
            memset(&r, 0, sizeof r);
            vf_addr_from_v4(&r.src, 0x0A000001u + (uint32_t)f);
            vf_addr_from_v4(&r.dst, 0x08080808u);
            r.ip_version = 4;
            r.sport = (uint16_t)(3000 + f);
            r.dport = flow[f].dport;
            r.proto = flow[f].proto;
            r.pkts = 1;
            r.bytes = 40;
            r.dur_ns = 1000;
            r.label = -1;
            r.ts_ns = 1000000000LL * 1500000000LL + (int64_t)(10 * f + k) * 1000000;
            cr_assert_eq(vf_trace_append(t, &r), VF_OK);
        }
}

/* writes port v as a dict port's bits (most significant first) at p */
static void port_bits(float *p, uint32_t v) {
    for (int b = 0; b < 16; b++) {
        int bit = (int)(v >> (15 - b) & 1u);
        p[2 * b] = (float)(1 - bit), p[2 * b + 1] = (float)bit;
    }
}

Test(trace_encode, port_quota_gives_each_protocols_flows_its_training_ports) {
    vf_trace t;
    port_toy(&t);
    vf_data_desc dd;
    int di = quota_desc(&dd, 1, VF_F_DSTPORT);
    dd.fields[di].enc = VF_ENC_DICT;
    dd.fields[di].top = 3;
    vf_encoder e;
    TU_OK(vf_encoder_fit(&dd, &t, &e));
    cr_assert_eq(e.n_vocab[VF_F_DSTPORT], 3);
    cr_expect(e.vocab[VF_F_DSTPORT][0] == 22 && e.vocab[VF_F_DSTPORT][1] == 53 && e.vocab[VF_F_DSTPORT][2] == 80);
    cr_assert(e.port_flows[1] && !e.port_flows[0], "a table for dstport only");
    const int K = 4; /* 22, 53, 80, other */
    for (int p = 0; p < 256; p++)
        for (int k = 0; k < K; k++) {
            int64_t want = p == 6 ? (int64_t[]){1, 0, 4, 1}[k] : p == 17 ? (int64_t[]){0, 2, 0, 1}[k] : 0;
            cr_expect_eq(e.port_flows[1][p * K + k], want, "protocol %d class %d", p, k);
        }

    /* The model's offers: every row rates port 80 likeliest (less so row by
     * row), then 53, 22, "other"; the "other" rows' bits spell 80 (f5) and
     * 22 (f8). Argmax would give all nine port 80. */
    vf_encoded *ch;
    TU_OK(vf_encode(&e, &t, &ch));
    cr_assert_eq(ch[0].n_flows, 9);
    int off = seg_offset(e.attr_segs, e.n_attr_segs, VF_F_DSTPORT);
    cr_assert(off >= 0);
    for (int r = 0; r < 9; r++) {
        float *a = ch[0].attr + (size_t)r * (size_t)e.attr_dim + off;
        a[0] = 0.03f, a[1] = 0.05f, a[2] = 0.9f - 0.05f * (float)r, a[3] = 0.02f;
        if (r == 5 || r == 8) port_bits(a + K, r == 5 ? 80 : 22);
    }
    TU_OK(vf_quota_classes(&e, ch, 1));
    vf_trace d;
    memset(&d, 0, sizeof d);
    TU_OK(vf_decode(&e, ch, 1, &d));
    cr_assert_eq(d.n, t.n);
    /* TCP: 80 to the four likeliest rows, 22 and "other" to one each; UDP: 53
     * to two, "other" to one. "Other" bits that spell a classed port move up
     * to the next port without a class. */
    const uint16_t want[9] = {80, 80, 80, 80, 22, 81, 53, 53, 23};
    for (size_t i = 0; i < d.n; i++) {
        int f = (int)(vf_addr_v4(&d.recs[i].src) - 0x0A000001u);
        cr_assert(f >= 0 && f < 9);
        cr_expect_eq(d.recs[i].dport, want[f], "flow %d: port %u", f, d.recs[i].dport);
    }
    vf_trace_free(&d);
    vf_encoded_free(ch, 1);

    /* saved and loaded, the table comes back; a damaged one is refused */
    char path[128];
    snprintf(path, sizeof path, "/tmp/vkflow_port_quota_%d.txt", (int)getpid());
    vf_encoder e2;
    char *text = tu_encoder_reload(&e, path, &e2);
    cr_assert(e2.port_flows[1] && !e2.port_flows[0]);
    cr_expect(!memcmp(e2.port_flows[1], e.port_flows[1], 256 * (size_t)K * sizeof *e.port_flows[1]));
    vf_encoder_free(&e2);
    char *line = strstr(text, "\npflows 0\npflows 5 6 0 1 6 2 4 6 3 1 17 1 2 17 3 1\n");
    cr_assert(line, "the pflows lines");
    memcpy(line + 33, "4", 1); /* "6 3 1" -> "6 4 1": class 4 of 0..3 */
    expect_refused(path, text, "pflows value (protocol 0-255, port class 0-n_vocab");
    memcpy(line + 17, "0\n", 2); /* no table at all */
    memmove(line + 19, line + 51, strlen(line + 51) + 1);
    expect_refused(path, text, "a port with class_decode quota has no pflows table");
    free(text);
    unlink(path);

    /* the streaming fit does not count them: it says so */
    expect_stream_refused(&dd, &t, "class_decode quota on a port");
    vf_encoder_free(&e);
    vf_trace_free(&t);
}

Test(trace_encode, port_quota_description) {
    vf_data_desc dq;
    cr_assert_eq(vf_data_desc_parse_string("ok.cfg", "data = { path = \"x\"; fields = ( { name = \"dstport\"; encoding = "
                 "\"dict\"; class_decode = \"quota\"; } ); };", &dq), VF_OK, "%s", vf_last_error());
    cr_expect(vf_port_quota(&dq.fields[0]));
    cr_expect(!vf_record_quota(&dq.fields[0]) && !vf_proto_quota(&dq.fields[0]));
    const char *why = NULL;
    cr_expect(vf_data_desc_needs_memory_fit(&dq, &why));
    cr_expect(why && strstr(why, "class_decode quota on a port"), "%s", why ? why : "(none)");
    cr_expect_eq(vf_data_desc_parse_string("bad.cfg", "data = { path = \"x\";\n fields = ( { name = \"dstport\"; encoding = "
                 "\"word2vec\"; class_decode = \"quota\"; } ); };", &dq), VF_ERR_FORMAT);
    cr_expect(strstr(vf_last_error(), "bad.cfg:2: fields: 'dstport': class_decode applies to srcip/dstip/srcport/dstport "
                     "with encoding dict"), "%s", vf_last_error());
}
