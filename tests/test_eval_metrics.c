/* vf_eval_compare on records built here: identical traces score 0,
 * disjoint supports score the maximum JSD, hand-checked extras (privacy,
 * within-flow gaps, flow sizes, top ports), errors, the JSON writer and the
 * two baselines' invariants. */
#include <criterion/criterion.h>

#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/eval.h"

#define OK(expr)                                                                      \
    do {                                                                              \
        vf_status s_ = (expr);                                                        \
        cr_assert_eq(s_, VF_OK, "%s failed: %s", #expr, vf_last_error());             \
    } while (0)

/* A varied trace of n records: `shift` moves every port and protocol and
 * label to a disjoint range. */
static void make(vf_trace *t, vf_trace_kind kind, size_t n, int shift) {
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->linktype = -1;
    if (kind == VF_TRACE_FLOWS) {
        vf_trace_label(t, shift ? "attack" : "background");
        vf_trace_label(t, shift ? "scan" : "blacklist");
    }
    for (size_t i = 0; i < n; i++) {
        vf_record r = tu_record(0x0A000000u + (uint32_t)(i * 7 % 13), 0xC0A80000u + (uint32_t)(i % 5),
                          (uint16_t)(shift * 30000 + 1000 + i % 7), (uint16_t)(shift * 30000 + 80 + i % 3),
                          (uint8_t)(shift ? 17 : 6), (int64_t)(i * i % 1000) * 1000000);
        r.length = (uint32_t)(60 + (i * 37) % 1400);
        r.bytes = r.length;
        if (kind == VF_TRACE_FLOWS) {
            r.dur_ns = (int64_t)(i % 11) * 250000000;
            r.pkts = 1 + i % 9;
            r.bytes = r.pkts * (40 + i % 500);
            r.length = 0;
            r.label = (int32_t)(i % 4 == 0);
        }
        OK(vf_trace_append(t, &r));
    }
}

static vf_eval_result *compare(const vf_trace *a, const vf_trace *b) {
    vf_eval_result *r = malloc(sizeof *r);
    cr_assert(r);
    OK(vf_eval_compare(a, b, r));
    return r;
}

Test(eval_metrics, identical_traces_score_zero) {
    for (int k = 0; k < 2; k++) {
        vf_trace a, b;
        make(&a, k ? VF_TRACE_FLOWS : VF_TRACE_PACKETS, 3000, 0);
        make(&b, k ? VF_TRACE_FLOWS : VF_TRACE_PACKETS, 3000, 0);
        vf_eval_result *r = compare(&a, &b);
        int nj = 0, ne = 0;
        for (int j = 0; j < VF_JSD_COUNT; j++)
            if (r->jsd[j].valid) {
                cr_assert(r->jsd[j].v.nats == 0 && r->jsd[j].v.bits == 0, "%s: %g",
                          vf_eval_jsd_name(j), r->jsd[j].v.nats);
                nj++;
            }
        for (int j = 0; j < VF_EMD_COUNT; j++)
            if (r->emd[j].valid) {
                cr_assert(r->emd[j].emd == 0, "%s: %g", vf_eval_emd_name(j), r->emd[j].emd);
                ne++;
            }
        cr_assert_eq(nj, k ? 6 : 5, "JSD fields: %d", nj);
        cr_assert_eq(ne, k ? 5 : 4, "EMD fields: %d", ne);
        cr_assert(r->privacy.syn_5tuples_in_real == r->privacy.syn_5tuples);
        cr_assert_float_eq(r->real.corr_log_pkt_byt, r->syn.corr_log_pkt_byt, 0);
        free(r);
        vf_trace_free(&a);
        vf_trace_free(&b);
    }
}

Test(eval_metrics, disjoint_supports_give_max_jsd) {
    vf_trace a, b;
    make(&a, VF_TRACE_FLOWS, 2000, 0);
    make(&b, VF_TRACE_FLOWS, 1500, 1);
    vf_eval_result *r = compare(&a, &b);
    const int f[4] = {VF_JSD_SRCPORT, VF_JSD_DSTPORT, VF_JSD_PROTO, VF_JSD_TYPE};
    for (int i = 0; i < 4; i++) {
        const vf_eval_jsd *e = &r->jsd[f[i]];
        cr_assert(e->valid);
        cr_assert(fabs(e->v.nats - log(2.0)) < 1e-15, "%s: %.17g nats, want ln 2",
                  vf_eval_jsd_name(f[i]), e->v.nats);
        cr_assert(fabs(e->v.bits - 1.0) < 1e-15, "%s: %.17g bits", vf_eval_jsd_name(f[i]), e->v.bits);
    }
    cr_assert_eq(r->privacy.syn_5tuples_in_real, 0);
    free(r);
    vf_trace_free(&a);
    vf_trace_free(&b);
}

/* 4 real 5-tuples; the synthetic trace reuses 2 of them (3 records) and adds
 * 2 new ones (one with a known address pair). */
Test(eval_metrics, privacy_counts_verbatim_keys) {
    vf_trace a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.kind = b.kind = VF_TRACE_FLOWS;
    vf_record R[4] = {tu_record(1, 2, 10, 80, 6, 0), tu_record(1, 2, 11, 80, 6, 1), tu_record(3, 4, 10, 53, 17, 2),
                      tu_record(5, 6, 0, 2048, 1, 3)};
    for (int i = 0; i < 4; i++) OK(vf_trace_append(&a, &R[i]));
    vf_record S[5] = {R[0], R[0], R[2], tu_record(1, 2, 12, 80, 6, 4), tu_record(7, 8, 10, 80, 6, 5)};
    for (int i = 0; i < 5; i++) OK(vf_trace_append(&b, &S[i]));
    vf_eval_result *r = compare(&a, &b);
    const vf_eval_privacy *p = &r->privacy;
    cr_assert_eq(p->syn_5tuples, 4);
    cr_assert_eq(p->syn_5tuples_in_real, 2);
    cr_assert_eq(p->syn_records_5tuple_in_real, 3);
    cr_assert_eq(p->syn_pairs, 3);        /* (1,2) (3,4) (7,8) */
    cr_assert_eq(p->syn_pairs_in_real, 2);
    cr_assert_eq(p->syn_records_pair_in_real, 4);
    cr_assert_eq(p->syn_records, 5);
    /* records per 5-tuple: real {1,1,1,1}, synthetic {2,1,1,1}: EMD = 1/4 */
    cr_assert_float_eq(r->emd[VF_EMD_RECORDS_PER_5TUPLE].emd, 0.25, 1e-15);
    free(r);
    vf_trace_free(&a);
    vf_trace_free(&b);
}

/* Within-flow gaps: flow X at 0, 30, 10 us (out of file order) gives gaps
 * 10 and 20; flow Y at 5, 105 us gives 100; a single-packet flow gives
 * none. Flow sizes {3, 2, 1}. */
Test(eval_metrics, packet_fields_by_hand) {
    vf_trace a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.kind = b.kind = VF_TRACE_PACKETS;
    vf_record P[6] = {tu_record(1, 2, 1000, 80, 6, 0),      tu_record(1, 2, 1000, 80, 6, 30000),
                      tu_record(3, 4, 53, 53, 17, 5000),     tu_record(1, 2, 1000, 80, 6, 10000),
                      tu_record(3, 4, 53, 53, 17, 105000),   tu_record(9, 9, 0, 0, 1, 200000)};
    for (int i = 0; i < 6; i++) OK(vf_trace_append(&a, &P[i]));
    /* synthetic: one flow of 6 packets 1 us apart */
    for (int i = 0; i < 6; i++) {
        vf_record s = tu_record(1, 2, 1000, 80, 6, i * 1000);
        OK(vf_trace_append(&b, &s));
    }
    vf_eval_result *r = compare(&a, &b);
    const vf_eval_emd *iat = &r->emd[VF_EMD_IAT_WITHIN_FLOW];
    cr_assert_eq(iat->n_real, 3);
    cr_assert_eq(iat->n_syn, 5);
    /* real {10, 20, 100} vs synthetic {1 x5}: W1 = mean of |sorted diffs|
     * after CDF alignment = (9 + 19 + 99) / 3 = 42.333.. */
    cr_assert(fabs(iat->emd - 127.0 / 3.0) < 1e-12, "iat EMD %.17g", iat->emd);
    cr_assert_float_eq(iat->median_real, 20.0, 0);
    const vf_eval_emd *fs = &r->emd[VF_EMD_FLOW_SIZE];
    cr_assert_eq(fs->n_real, 3);
    cr_assert_eq(fs->n_syn, 1);
    cr_assert(fabs(fs->emd - 4.0) < 1e-12, "flow size EMD %.17g", fs->emd); /* {1,2,3} vs {6} */
    const vf_eval_emd *tm = &r->emd[VF_EMD_TIME];
    cr_assert_float_eq(tm->p99, 200.0 - 0.05 * (200.0 - 105.0), 1e-9); /* numpy linear */
    cr_assert_eq(r->real.top_sport[0].value, 1000);
    cr_assert_eq(r->real.top_sport[0].count, 3);
    cr_assert_eq(r->n_proto, 3);
    cr_assert_eq(r->proto[0].proto, 6); /* TCP first: 50% real, 100% synthetic */
    free(r);
    vf_trace_free(&a);
    vf_trace_free(&b);
}

Test(eval_metrics, errors_name_the_problem) {
    vf_trace a, b, e;
    make(&a, VF_TRACE_FLOWS, 10, 0);
    make(&b, VF_TRACE_PACKETS, 10, 0);
    memset(&e, 0, sizeof e);
    e.kind = VF_TRACE_FLOWS;
    vf_eval_result *r = malloc(sizeof *r);
    cr_assert(r);
    cr_assert_eq(vf_eval_compare(&a, &b, r), VF_ERR_ARG);
    cr_assert(strstr(vf_last_error(), "same kind"), "%s", vf_last_error());
    cr_assert_eq(vf_eval_compare(&a, &e, r), VF_ERR_ARG);
    cr_assert(strstr(vf_last_error(), "synthetic trace has no records"), "%s", vf_last_error());
    cr_assert_eq(vf_eval_write_json("/nonexistent-dir/x.json", r), VF_ERR_IO);
    cr_assert(strstr(vf_last_error(), "/nonexistent-dir/x.json"), "%s", vf_last_error());
    double nanv[2] = {1, NAN};
    cr_assert_eq(vf_sort_f64(nanv, 2), VF_ERR_ARG);
    free(r);
    vf_trace_free(&a);
    vf_trace_free(&b);
}

static char *slurp(const char *path) {
    char *s = tu_read_file(path, NULL);
    cr_assert(s, "cannot open %s", path);
    return s;
}

Test(eval_metrics, json_carries_the_same_numbers) {
    vf_trace a, b;
    make(&a, VF_TRACE_FLOWS, 500, 0);
    make(&b, VF_TRACE_FLOWS, 400, 0);
    b.recs[3].sport = 4444;
    vf_eval_result *r = compare(&a, &b);
    char path[] = "/tmp/vkflow-eval-json-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    OK(vf_eval_write_json(path, r));
    char *s = slurp(path);
    char want[128];
    snprintf(want, sizeof want, "\"srcport\": {\"nats\": %.17g, \"bits\": %.17g",
             r->jsd[VF_JSD_SRCPORT].v.nats, r->jsd[VF_JSD_SRCPORT].v.bits);
    cr_assert(strstr(s, want), "JSON lacks %s", want);
    snprintf(want, sizeof want, "\"byt\": {\"unit\": \"bytes\", \"emd\": %.17g",
             r->emd[VF_EMD_BYT].emd);
    cr_assert(strstr(s, want), "JSON lacks %s", want);
    cr_assert(strstr(s, "\"single_feature\": [\"td\", \"pkt\", \"byt\", \"type\", \"ts\"]"));
    cr_assert(!strstr(s, "nan") && !strstr(s, "inf"), "JSON has a non-number");
    int depth = 0;
    for (const char *c = s; *c; c++) {
        depth += (*c == '{' || *c == '[') - (*c == '}' || *c == ']');
        cr_assert(depth >= 0);
    }
    cr_assert_eq(depth, 0, "unbalanced JSON");
    free(s);
    unlink(path);
    free(r);
    vf_trace_free(&a);
    vf_trace_free(&b);
}

/* Split: a partition of the records by 5-tuple, reproducible by seed. */
Test(eval_metrics, split_partitions_by_flow) {
    vf_trace t, a, b, a2, b2, a3, b3;
    make(&t, VF_TRACE_FLOWS, 5000, 0);
    OK(vf_baseline_split(&t, 0, &a, &b));
    cr_assert_eq(a.n + b.n, t.n);
    cr_assert(a.n > t.n / 4 && b.n > t.n / 4, "unbalanced: %zu / %zu", a.n, b.n);
    cr_assert_eq(a.n_labels, t.n_labels);
    vf_eval_result *r = compare(&a, &b);
    cr_assert_eq(r->privacy.syn_5tuples_in_real, 0, "halves share a 5-tuple");
    free(r);
    OK(vf_baseline_split(&t, 0, &a2, &b2));
    cr_assert_eq(a2.n, a.n);
    cr_assert(!memcmp(a2.recs, a.recs, a.n * sizeof *a.recs), "same seed, different split");
    OK(vf_baseline_split(&t, 1, &a3, &b3));
    cr_assert(a3.n != a.n || memcmp(a3.recs, a.recs, a.n * sizeof *a.recs),
              "seed 1 gives the split of seed 0");
    vf_trace_free(&t);
    vf_trace_free(&a);
    vf_trace_free(&b);
    vf_trace_free(&a2);
    vf_trace_free(&b2);
    vf_trace_free(&a3);
    vf_trace_free(&b3);
}

/* Marginals: same size, every field value taken from the real trace,
 * sorted by time, packets consistent (bytes = length). */
Test(eval_metrics, marginals_draw_from_real_values) {
    vf_trace t, m;
    make(&t, VF_TRACE_PACKETS, 4000, 0);
    OK(vf_baseline_marginals(&t, 7, &m));
    cr_assert_eq(m.n, t.n);
    cr_assert_eq(m.kind, VF_TRACE_PACKETS);
    for (size_t i = 0; i < m.n; i++) {
        const vf_record *r = &m.recs[i];
        if (i) cr_assert(r->ts_ns >= m.recs[i - 1].ts_ns, "not time-sorted at %zu", i);
        cr_assert(r->bytes == r->length && r->pkts == 1);
        bool sp = false, len = false, ts = false;
        for (size_t j = 0; j < t.n && !(sp && len && ts); j++) {
            sp |= t.recs[j].sport == r->sport;
            len |= t.recs[j].length == r->length;
            ts |= t.recs[j].ts_ns == r->ts_ns;
        }
        cr_assert(sp && len && ts, "record %zu holds a value not in the real trace", i);
    }
    vf_eval_result *r = compare(&t, &m);
    cr_assert(r->jsd[VF_JSD_SRCPORT].v.nats < 0.01, "srcport %g", r->jsd[VF_JSD_SRCPORT].v.nats);
    cr_assert(r->jsd[VF_JSD_PROTO].v.nats == 0);
    free(r);
    vf_trace_free(&t);
    vf_trace_free(&m);
}
