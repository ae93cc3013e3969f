/* Streaming fit and encode (encode_stream.c) against the in-memory
 * vf_encoder_fit + vf_encode: the same encoder file bytes and the same
 * chunk arrays, float for float, on the default pcap, flow CSVs, gzip
 * copies, records out of time order across chunk edges, and max_len cuts;
 * the block-by-block CSV reader against the whole-file one. */
#include <criterion/criterion.h>
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace/encode.h"
#include "trace/trace_internal.h"
#include "train/pipeline.h"

#define ENTERPRISE tu_shared_data("pcap_enterprise_pathspider_real_2012-11-23.pcap")
#define UGR16 tu_shared_data("flows_ugr16_netflow_2016-04-11_13hosts.csv")
#define S 1000000000ll

static char *tmp_path(const char *tag) {
    static char p[4][256];
    static int k;
    char *r = p[k++ % 4];
    snprintf(r, sizeof p[0], "/tmp/vkflow_encstream_%d_%s", (int)getpid(), tag);
    return r;
}

static void expect_same_chunks(const vf_encoded *a, const vf_encoded *b, int n) {
    for (int c = 0; c < n; c++) {
        cr_assert_eq(a[c].n_flows, b[c].n_flows, "chunk %d: %d flows in memory, %d streamed", c, a[c].n_flows,
                     b[c].n_flows);
        cr_assert_eq(a[c].max_len, b[c].max_len);
        cr_assert_eq(a[c].attr_dim, b[c].attr_dim);
        cr_assert_eq(a[c].feat_dim, b[c].feat_dim);
        cr_assert_eq(a[c].n_truncated, b[c].n_truncated, "chunk %d: truncated %lld vs %lld", c,
                     (long long)a[c].n_truncated, (long long)b[c].n_truncated);
        size_t nf = (size_t)a[c].n_flows;
        cr_assert(!memcmp(a[c].attr, b[c].attr, nf * (size_t)a[c].attr_dim * sizeof(float)), "chunk %d: attributes", c);
        cr_assert(!memcmp(a[c].feat, b[c].feat, nf * (size_t)a[c].max_len * (size_t)a[c].feat_dim * sizeof(float)),
                  "chunk %d: features", c);
        cr_assert(!memcmp(a[c].gen_flag, b[c].gen_flag, nf * (size_t)a[c].max_len * sizeof(float)),
                  "chunk %d: generation flags", c);
    }
}

/* In memory (t) and streamed (rd, src) fit + save + load + encode agree. */
static void expect_same(const vf_data_desc *dd, const vf_trace *t, vf_record_reader rd, void *src,
                        vf_stream_stats *ss_out) {
    vf_encoder fa, fb, ea, eb;
    TU_OK(vf_encoder_fit(dd, t, &fa));
    vf_stream_stats ss;
    TU_OK(vf_encoder_fit_stream(dd, rd, src, &fb, &ss));
    char *pa = tmp_path("a.txt"), *pb = tmp_path("b.txt");
    TU_OK(vf_encoder_save(&fa, pa));
    TU_OK(vf_encoder_save(&fb, pb));
    size_t na, nb;
    char *ta = tu_read_file(pa, &na), *tb = tu_read_file(pb, &nb);
    cr_assert(ta && tb);
    cr_assert(na == nb && !memcmp(ta, tb, na), "encoder files differ (%zu and %zu bytes)", na, nb);
    free(ta);
    free(tb);
    TU_OK(vf_encoder_load(pa, &ea));
    TU_OK(vf_encoder_load(pb, &eb));
    vf_encoded *ca, *cb;
    TU_OK(vf_encode(&ea, t, &ca));
    vf_stream_stats se;
    TU_OK(vf_encode_stream(&eb, rd, src, &cb, &se));
    expect_same_chunks(ca, cb, ea.n_chunks);
    cr_assert_eq(ss.passes, ss.sorted_per_flow ? 3 : 2);
    cr_assert_eq(se.passes, 2);
    cr_assert_eq(se.records, t->n);
    if (ss_out) *ss_out = ss;
    vf_encoded_free(ca, ea.n_chunks);
    vf_encoded_free(cb, eb.n_chunks);
    vf_encoder_free(&fa);
    vf_encoder_free(&fb);
    vf_encoder_free(&ea);
    vf_encoder_free(&eb);
    unlink(pa);
    unlink(pb);
}

static void desc_for(vf_data_desc *dd, const char *path) {
    TU_OK(vf_data_desc_parse_string("test.cfg", "data = { path = \"/dev/null\"; };", dd));
    snprintf(dd->path, sizeof dd->path, "%s", path);
}

static void file_same(vf_data_desc *dd, vf_stream_stats *ss) {
    vf_trace t;
    TU_OK(vf_data_desc_read_trace(dd, &t));
    expect_same(dd, &t, vf_data_desc_each, dd, ss);
    vf_trace_free(&t);
}

Test(encode_stream, default_pcap) {
    vf_data_desc dd;
    desc_for(&dd, ENTERPRISE);
    vf_stream_stats ss;
    file_same(&dd, &ss);
    cr_assert(ss.w2v_records > 0 && ss.w2v_records == ss.records, "word2vec on every record below the sample size");
}

Test(encode_stream, default_pcap_gzip) {
    const char *src = ENTERPRISE;
    char *gz = tmp_path("real.pcap.gz");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "gzip -c '%s' > '%s'", src, gz);
    cr_assert_eq(system(cmd), 0);
    vf_data_desc dd;
    desc_for(&dd, gz);
    dd.n_chunks = 3;
    file_same(&dd, NULL);
    unlink(gz);
}

Test(encode_stream, flow_csv_fixture) {
    vf_data_desc dd;
    desc_for(&dd, VKFLOW_SOURCE_DIR "/tests/data/flows_nfdump_mixed.csv");
    dd.n_chunks = 2;
    file_same(&dd, NULL);
    desc_for(&dd, VKFLOW_SOURCE_DIR "/tests/data/conn_mixed.log");
    dd.n_chunks = 3;
    file_same(&dd, NULL);
}

Test(encode_stream, flow_csv_gzip_small_blocks) {
    const char *src = UGR16;
    char *gz = tmp_path("ugr16.csv.gz");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "gzip -c '%s' > '%s'", src, gz);
    cr_assert_eq(system(cmd), 0);
    vf_data_desc dd;
    desc_for(&dd, gz);
    dd.n_chunks = 4;
    vf_csv_block = 4096;
    file_same(&dd, NULL);
    vf_csv_block = 4 << 20;
    unlink(gz);
}

Test(encode_stream, ugr16_csv_small_blocks) {
    const char *path = UGR16;
    vf_data_desc dd;
    desc_for(&dd, path);
    vf_csv_block = 777; /* rows across block ends */
    file_same(&dd, NULL);
    vf_csv_block = 4 << 20;
}

static vf_status collect(void *ctx, const vf_record *r) { return vf_trace_append(ctx, r); }

Test(encode_stream, csv_blocks_read_as_whole_file) {
    const char *files[] = {VKFLOW_SOURCE_DIR "/tests/data/flows_nfdump_mixed.csv",
                           VKFLOW_SOURCE_DIR "/tests/data/conn_mixed.log",
                           VKFLOW_SOURCE_DIR "/tests/data/conn_mixed.json",
                           VKFLOW_SOURCE_DIR "/tests/data/cicflowmeter_mixed.csv",
                           VKFLOW_SOURCE_DIR "/tests/data/flows_ctu13_mixed.binetflow"};
    size_t blocks[] = {5, 64, 4 << 20};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        for (size_t b = 0; b < 3; b++) {
            vf_trace whole, rec;
            TU_OK(vf_trace_read(files[i], NULL, &whole));
            memset(&rec, 0, sizeof rec);
            vf_trace stats;
            vf_csv_block = blocks[b];
            TU_OK(vf_csv_each(files[i], NULL, &stats, collect, &rec));
            vf_csv_block = 4 << 20;
            cr_assert_eq(rec.n, whole.n, "%s, block %zu: %zu records, whole file %zu", files[i], blocks[b], rec.n,
                         whole.n);
            cr_assert(!memcmp(rec.recs, whole.recs, whole.n * sizeof *whole.recs), "%s: records differ", files[i]);
            cr_assert_eq(stats.n_input, whole.n_input);
            cr_assert_eq(stats.n_labels, whole.n_labels);
            cr_assert_eq(vf_trace_skipped_total(&stats), vf_trace_skipped_total(&whole));
            cr_assert_str_eq(stats.first_skip, whole.first_skip);
            vf_trace_free(&whole);
            vf_trace_free(&rec);
            vf_trace_free(&stats);
        }
}

/* A last row without a newline, the only row: read as the whole-file reader reads it. */
Test(encode_stream, csv_last_row_without_newline) {
    char *path = tmp_path("one.csv");
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs("srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt\n10.0.0.1,10.0.0.2,1234,80,TCP,1500000000.5,0.25,3,180", f);
    fclose(f);
    size_t blocks[] = {4, 4 << 20};
    for (int b = 0; b < 2; b++) {
        vf_trace whole, rec, stats;
        TU_OK(vf_trace_read(path, NULL, &whole));
        memset(&rec, 0, sizeof rec);
        vf_csv_block = blocks[b];
        TU_OK(vf_csv_each(path, NULL, &stats, collect, &rec));
        vf_csv_block = 4 << 20;
        cr_assert_eq(whole.n, 1);
        cr_assert_eq(rec.n, 1, "block %zu: %zu records", blocks[b], rec.n);
        cr_assert(!memcmp(rec.recs, whole.recs, sizeof *whole.recs));
        vf_trace_free(&whole);
        vf_trace_free(&rec);
        vf_trace_free(&stats);
    }
    unlink(path);
}

static vf_record pkt(int64_t ts_ms, uint32_t src, uint16_t sp, uint32_t len) {
    vf_record r;
    memset(&r, 0, sizeof r);
    r.ts_ns = ts_ms * 1000000;
    vf_addr_from_v4(&r.src, src);
    vf_addr_from_v4(&r.dst, 0x0a000001);
    r.sport = sp;
    r.dport = 443;
    r.proto = 6;
    r.ip_version = 4;
    r.ttl = 64;
    r.length = len;
    r.pkts = 1;
    r.bytes = len;
    r.label = -1;
    return r;
}

/* Flows across chunk edges with records out of time order (ties too), so
 * the streamed series are reordered and rows placed by first appearance. */
static void synthetic(vf_trace *t) {
    memset(t, 0, sizeof *t);
    t->kind = VF_TRACE_PACKETS;
    t->linktype = 101;
    static const int64_t ts[] = {500, 10, 990, 10, 1000, 999, 250, 251, 0, 1499, 700, 700, 1200, 5, 1001, 3000, 2999, 2000};
    for (int i = 0; i < (int)(sizeof ts / sizeof ts[0]); i++) {
        vf_record r = pkt(ts[i], 0xc0a80001 + (uint32_t)(i % 4), (uint16_t)(1000 + i % 4), (uint32_t)(40 + 13 * i));
        vf_trace_append(t, &r);
    }
}

Test(encode_stream, chunk_edges_out_of_order) {
    vf_trace t;
    synthetic(&t);
    vf_data_desc dd;
    desc_for(&dd, "synthetic");
    dd.n_chunks = 3;
    vf_stream_stats ss;
    expect_same(&dd, &t, vf_trace_each, &t, &ss);
    cr_assert(!ss.sorted && ss.reordered && !ss.sorted_per_flow);
    /* the same records in time order */
    vf_trace s;
    synthetic(&s);
    TU_OK(vf_trace_sort_time(&s));
    expect_same(&dd, &s, vf_trace_each, &s, &ss);
    cr_assert(ss.sorted);
    vf_trace_free(&t);
    vf_trace_free(&s);
}

/* Disorder beyond the reorder window: the fit reads again keeping every
 * timestamp, with the same result. */
Test(encode_stream, far_out_of_order) {
    vf_trace t;
    memset(&t, 0, sizeof t);
    t.kind = VF_TRACE_PACKETS;
    for (int i = 0; i < 70000; i++) {
        vf_record r = pkt(1000 + i, 0xc0a80000 + (uint32_t)(i % 700), (uint16_t)(2000 + i % 3), (uint32_t)(40 + i % 900));
        vf_trace_append(&t, &r);
    }
    vf_record late = pkt(1, 0xc0a80005, 2002, 60); /* older than 70,000 records before it */
    vf_trace_append(&t, &late);
    vf_data_desc dd;
    desc_for(&dd, "synthetic");
    dd.n_chunks = 4;
    dd.max_flow_len = 50;
    vf_stream_stats ss;
    expect_same(&dd, &t, vf_trace_each, &t, &ss);
    cr_assert(ss.sorted_per_flow && !ss.reordered && !ss.sorted);
    vf_trace_free(&t);
}

Test(encode_stream, max_len_cut) {
    vf_trace t;
    synthetic(&t);
    vf_data_desc dd;
    desc_for(&dd, "synthetic");
    dd.n_chunks = 2;
    dd.max_flow_len = 2;
    expect_same(&dd, &t, vf_trace_each, &t, NULL);
    vf_trace_free(&t);
    vf_data_desc de;
    desc_for(&de, ENTERPRISE);
    de.max_flow_len = 5;
    de.n_chunks = 4;
    file_same(&de, NULL);
}

Test(encode_stream, w2v_sample_smaller_than_trace) {
    vf_data_desc dd;
    desc_for(&dd, ENTERPRISE);
    dd.w2v_sample = 1000;
    vf_encoder e;
    vf_stream_stats ss;
    TU_OK(vf_encoder_fit_stream(&dd, vf_data_desc_each, &dd, &e, &ss));
    cr_assert_eq(ss.w2v_records, 1000);
    cr_assert(ss.records > 1000);
    cr_assert(e.port.n > 0 && e.proto.n > 0);
    vf_encoder_free(&e);
}

Test(encode_stream, fixed_size_refused) {
    vf_data_desc dd;
    desc_for(&dd, VKFLOW_SOURCE_DIR "/tests/data/flows_nfdump_mixed.csv");
    dd.chunking = VF_CHUNK_FIXED_SIZE;
    vf_encoder e;
    cr_assert_eq(vf_encoder_fit_stream(&dd, vf_data_desc_each, &dd, &e, NULL), VF_ERR_UNSUPPORTED);
    cr_assert(strstr(vf_last_error(), "fixed_time"), "%s", vf_last_error());
}

/* A description with the kind's default fields written out and the time
 * field encoded as te (the quantile table is fitted from every gap). */
static void desc_time(vf_data_desc *dd, const char *path, vf_trace_kind kind, vf_encoding te) {
    desc_for(dd, path);
    vf_data_desc def;
    vf_data_desc_default(kind, &def);
    dd->n_fields = def.n_fields;
    memcpy(dd->fields, def.fields, sizeof dd->fields);
    for (int i = 0; i < dd->n_fields; i++)
        if (dd->fields[i].field == VF_F_TIME) {
            dd->fields[i].enc = te;
            dd->fields[i].bins = te == VF_ENC_INTERARRIVAL_BINS ? 16 : VF_QUANTILE_BINS_DEFAULT;
        }
}

/* encoding quantile: the same value tables and chunks streamed (packet
 * lengths and TTLs; UGR'16's durations, packets and bytes, with the flow
 * start tables of start_decode = "rank") */
Test(encode_stream, value_quantile) {
    vf_data_desc dd;
    desc_time(&dd, ENTERPRISE, VF_TRACE_PACKETS, VF_ENC_INTERARRIVAL_QUANTILE);
    for (int i = 0; i < dd.n_fields; i++)
        if (dd.fields[i].field == VF_F_LEN || dd.fields[i].field == VF_F_TTL) {
            dd.fields[i].enc = VF_ENC_QUANTILE;
            dd.fields[i].bins = 256;
        }
    dd.n_chunks = 4;
    file_same(&dd, NULL);
    desc_time(&dd, UGR16, VF_TRACE_FLOWS, VF_ENC_INTERARRIVAL_QUANTILE);
    for (int i = 0; i < dd.n_fields; i++)
        if (dd.fields[i].field == VF_F_TD || dd.fields[i].field == VF_F_PKT || dd.fields[i].field == VF_F_BYT) {
            dd.fields[i].enc = VF_ENC_QUANTILE;
            dd.fields[i].bins = 100;
            dd.fields[i].qdecode = VF_QDEC_RANK;
        } else if (dd.fields[i].field == VF_F_TIME) {
            dd.fields[i].start_decode = VF_QDEC_RANK;
        }
    dd.n_chunks = 3;
    file_same(&dd, NULL);
}

/* interarrival_quantile and _bins: the same gap quantile table and chunks
 * streamed, also out of order and when the fit reads a third time */
Test(encode_stream, interarrival_quantile_and_bins) {
    vf_data_desc dd;
    desc_time(&dd, ENTERPRISE, VF_TRACE_PACKETS, VF_ENC_INTERARRIVAL_QUANTILE);
    dd.n_chunks = 4;
    file_same(&dd, NULL);
    desc_time(&dd, UGR16, VF_TRACE_FLOWS, VF_ENC_INTERARRIVAL_BINS);
    dd.n_chunks = 3;
    file_same(&dd, NULL);
    for (int k = 0; k < 2; k++) {
        vf_trace t;
        synthetic(&t);
        desc_time(&dd, "synthetic", VF_TRACE_PACKETS, k ? VF_ENC_INTERARRIVAL_BINS : VF_ENC_INTERARRIVAL_QUANTILE);
        dd.n_chunks = 3;
        vf_stream_stats ss;
        expect_same(&dd, &t, vf_trace_each, &t, &ss);
        cr_assert(ss.reordered);
        vf_trace_free(&t);
    }
    vf_trace t;
    memset(&t, 0, sizeof t);
    t.kind = VF_TRACE_PACKETS;
    for (int i = 0; i < 70000; i++) {
        vf_record r = pkt(1000 + i * (1 + i % 7), 0xc0a80000 + (uint32_t)(i % 700), (uint16_t)(2000 + i % 3), 60);
        vf_trace_append(&t, &r);
    }
    vf_record late = pkt(1, 0xc0a80005, 2002, 60);
    vf_trace_append(&t, &late);
    desc_time(&dd, "synthetic", VF_TRACE_PACKETS, VF_ENC_INTERARRIVAL_QUANTILE);
    dd.n_chunks = 4;
    dd.max_flow_len = 50;
    vf_stream_stats ss;
    expect_same(&dd, &t, vf_trace_each, &t, &ss);
    cr_assert(ss.sorted_per_flow);
    vf_trace_free(&t);
}
