/* The report's scale and privacy checks (engine/eval/scale.c, dcr.c): the
 * verdict rule on hand-picked values; the record distance by hand; the
 * distance to closest record flags a synthetic trace that copies training
 * records and does not flag one drawn from held-out real flows; the split
 * by fraction; the floor and marginals rows equal the evals they stand for;
 * and, on the shared traces, DCR stays fast (timings printed). */
#include <criterion/criterion.h>

#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"

#define OK(expr)                                                                      \
    do {                                                                              \
        vf_status s_ = (expr);                                                        \
        cr_assert_eq(s_, VF_OK, "%s failed: %s", #expr, vf_last_error());             \
    } while (0)

Test(eval_verdicts, the_rule) {
    /* near the floor: <= 2x, whatever the marginals */
    cr_assert_eq(vf_eval_verdict(0.2, 0.1, 0.05), VF_VERDICT_NEAR_FLOOR);
    cr_assert_eq(vf_eval_verdict(0.05, 0.1, NAN), VF_VERDICT_NEAR_FLOOR);
    cr_assert_eq(vf_eval_verdict(0, 0, 1), VF_VERDICT_NEAR_FLOOR);
    /* above 2x: against the marginals */
    cr_assert_eq(vf_eval_verdict(0.21, 0.1, 0.5), VF_VERDICT_BETTER_THAN_MARGINALS);
    cr_assert_eq(vf_eval_verdict(0.5, 0.1, 0.5), VF_VERDICT_WORSE_THAN_MARGINALS, "a tie is not better");
    cr_assert_eq(vf_eval_verdict(0.9, 0.1, 0.5), VF_VERDICT_WORSE_THAN_MARGINALS);
    cr_assert_eq(vf_eval_verdict(1e-9, 0, 1), VF_VERDICT_BETTER_THAN_MARGINALS, "a zero floor: nothing above 0 is near it");
    cr_assert_eq(vf_eval_verdict(0.9, NAN, 0.5), VF_VERDICT_WORSE_THAN_MARGINALS);
    /* nothing to judge by */
    cr_assert_eq(vf_eval_verdict(NAN, 0.1, 0.5), VF_VERDICT_NA);
    cr_assert_eq(vf_eval_verdict(0.9, 0.1, NAN), VF_VERDICT_NA);
    cr_assert_str_eq(vf_verdict_text(VF_VERDICT_NEAR_FLOOR), "near the floor");
    cr_assert_str_eq(vf_verdict_text(VF_VERDICT_BETTER_THAN_MARGINALS), "better than marginals");
    cr_assert_str_eq(vf_verdict_text(VF_VERDICT_WORSE_THAN_MARGINALS), "worse than marginals");
    cr_assert_str_eq(vf_verdict_text(VF_VERDICT_NA), "n/a");
    cr_assert(isnan(vf_eval_ratio(1, 0)));
    cr_assert_float_eq(vf_eval_ratio(3, 2), 1.5, 1e-15);
}

/* A flow record: client 10.0.<c/256>.<c%256>:port -> server 192.168.0.<s>:dport. */
static vf_record flow(uint32_t c, uint32_t s, uint16_t sport, uint16_t dport, uint8_t proto, int64_t t_s,
                      uint64_t pkts) {
    vf_record r;
    memset(&r, 0, sizeof r);
    vf_addr_from_v4(&r.src, 0x0A000000u + c);
    vf_addr_from_v4(&r.dst, 0xC0A80000u + s);
    r.ip_version = 4;
    r.sport = sport;
    r.dport = dport;
    r.proto = proto;
    r.ts_ns = t_s * 1000000000LL;
    r.dur_ns = (int64_t)pkts * 1000000;
    r.pkts = pkts;
    r.bytes = pkts * 500;
    r.label = -1;
    return r;
}

static void empty_flows(vf_trace *t) {
    memset(t, 0, sizeof *t);
    t->kind = VF_TRACE_FLOWS;
    t->linktype = -1;
}

Test(eval_verdicts, record_distance_by_hand) {
    vf_trace tr;
    empty_flows(&tr);
    /* training ranges: time 0..100 s, log1p of duration/packets/bytes span something */
    vf_record a = flow(1, 1, 40000, 443, 6, 0, 1), b = flow(2, 2, 40001, 80, 17, 100, 1000);
    OK(vf_trace_append(&tr, &a));
    OK(vf_trace_append(&tr, &b));
    const double F = 9; /* flows: 5 discrete + 4 continuous fields */
    cr_assert_float_eq(vf_eval_record_distance(&tr, &a, &a), 0, 1e-12);
    vf_record c = a;
    c.dport = 80;
    cr_assert_float_eq(vf_eval_record_distance(&tr, &a, &c), 1 / F, 1e-12, "one port");
    c = a;
    vf_addr_from_v4(&c.src, 0x0A000000u + 1 + 2); /* ...01 -> ...11: one bit */
    cr_assert_float_eq(vf_eval_record_distance(&tr, &a, &c), (1 / 32.0) / F, 1e-12, "one address bit");
    c = a;
    c.ts_ns = 50 * 1000000000LL;
    cr_assert_float_eq(vf_eval_record_distance(&tr, &a, &c), 0.5 / F, 1e-6, "half the time range");
    /* the opposite ends of every continuous range, all discrete fields apart */
    double d = vf_eval_record_distance(&tr, &a, &b);
    cr_assert_float_eq(d, (3 + 2 * (2 / 32.0) + 4) / F, 1e-6, "%g", d);
    vf_trace_free(&tr);
}

/* A small network: 40 clients, 6 servers on 3 services, 1200 flows of a few
 * records each over an hour, ephemeral client ports. */
static void network(vf_trace *t) {
    empty_flows(t);
    static const uint16_t svc[] = {443, 80, 53};
    for (uint32_t i = 0; i < 1200; i++) {
        uint32_t h = i * 2654435761u;
        uint32_t c = (h >> 8) % 40, s = (h >> 16) % 6;
        uint16_t sport = (uint16_t)(32768 + (h >> 3) % 28000);
        uint16_t dport = svc[s % 3];
        uint8_t proto = dport == 53 ? 17 : 6;
        int n = 1 + (int)((h >> 24) % 3);
        for (int k = 0; k < n; k++) {
            vf_record r = flow(c, s, sport, dport, proto, (int64_t)(i * 3 + (uint32_t)k), 1 + (h >> 12) % 200);
            OK(vf_trace_append(t, &r));
        }
    }
}

Test(eval_verdicts, dcr_flags_copies_not_unseen_flows) {
    vf_trace real, train, held, h1, h2;
    network(&real);
    OK(vf_baseline_split_fraction(&real, 5, 0.5, &train, &held));
    OK(vf_baseline_split(&held, 9, &h1, &h2));
    cr_assert(train.n > 500 && h1.n > 200 && h2.n > 200, "%zu %zu %zu", train.n, h1.n, h2.n);

    /* a model that copies: synthetic = training records */
    vf_eval_dcr d;
    OK(vf_eval_dcr_compute(&train, &train, &h2, 300, 0, &d));
    cr_assert(d.valid && d.have_holdout);
    cr_assert_eq(d.n_syn, 300);
    cr_assert_eq(d.n_hold, 300);
    cr_assert_eq(d.syn_zero, 300, "every copied record is at distance 0");
    cr_assert_float_eq(d.syn_median, 0, 1e-15);
    cr_assert_gt(d.hold_p5, 0, "held-out 5-tuples never equal a training one");
    cr_assert_float_eq(d.share_below_hold_p5, 1, 1e-15);
    cr_assert(d.closer, "copies must be flagged");

    /* a model as good as fresh traffic: synthetic = other held-out flows */
    OK(vf_eval_dcr_compute(&train, &h1, &h2, 300, 0, &d));
    cr_assert(!d.closer, "unseen real flows flagged: %.3f below the held-out p5", d.share_below_hold_p5);
    cr_assert_lt(d.share_below_hold_p5, VF_DCR_CLOSER_SHARE);
    cr_assert_eq(d.syn_zero, 0);

    /* without held-out records: the synthetic side alone, no verdict */
    OK(vf_eval_dcr_compute(&train, &h1, NULL, 0, 0, &d));
    cr_assert(d.valid && !d.have_holdout && !d.closer);
    cr_assert(isnan(d.hold_median) && isnan(d.share_below_hold_p5));
    cr_assert_eq(d.n_syn, h1.n < VF_DCR_SAMPLES ? h1.n : VF_DCR_SAMPLES);

    /* the exact search agrees with brute force on a few queries */
    for (size_t q = 0; q < 20; q++) {
        const vf_record *x = &h1.recs[q * 7 % h1.n];
        double best = INFINITY;
        for (size_t i = 0; i < train.n; i++) {
            double e = vf_eval_record_distance(&train, x, &train.recs[i]);
            if (e < best) best = e;
        }
        vf_trace one;
        empty_flows(&one);
        OK(vf_trace_append(&one, x));
        OK(vf_eval_dcr_compute(&train, &one, NULL, 1, 0, &d));
        cr_assert_float_eq(d.syn_median, best, 1e-12, "query %zu: %g vs brute force %g", q, d.syn_median, best);
        vf_trace_free(&one);
    }
    /* the same seed, the same sample */
    vf_eval_dcr d1, d2;
    OK(vf_eval_dcr_compute(&train, &h1, &h2, 50, 3, &d1));
    OK(vf_eval_dcr_compute(&train, &h1, &h2, 50, 3, &d2));
    cr_assert(d1.syn_median == d2.syn_median && d1.hold_p5 == d2.hold_p5);

    vf_trace empty;
    empty_flows(&empty);
    cr_assert_eq(vf_eval_dcr_compute(&empty, &h1, NULL, 0, 0, &d), VF_ERR_ARG);
    vf_trace_free(&real);
    vf_trace_free(&train);
    vf_trace_free(&held);
    vf_trace_free(&h1);
    vf_trace_free(&h2);
}

Test(eval_verdicts, split_by_fraction) {
    vf_trace real, a, b, a2, b2;
    network(&real);
    OK(vf_baseline_split(&real, 4, &a, &b));
    OK(vf_baseline_split_fraction(&real, 4, 0.5, &a2, &b2));
    cr_assert(a.n == a2.n && b.n == b2.n && !memcmp(a.recs, a2.recs, a.n * sizeof *a.recs),
              "fraction 0.5 is vf_baseline_split");
    vf_trace_free(&a2);
    vf_trace_free(&b2);
    OK(vf_baseline_split_fraction(&real, 4, 0, &a2, &b2));
    cr_assert(a2.n == real.n && b2.n == 0);
    vf_trace_free(&a2);
    vf_trace_free(&b2);
    OK(vf_baseline_split_fraction(&real, 4, 0.2, &a2, &b2));
    double share = (double)b2.n / (double)real.n;
    cr_assert(share > 0.14 && share < 0.26, "0.2 held out: %.3f of the records", share);
    cr_assert_eq(vf_baseline_split_fraction(&real, 4, 1.5, &a2, &b2), VF_ERR_ARG);
    vf_trace_free(&a);
    vf_trace_free(&b);
    vf_trace_free(&real);
}

Test(eval_verdicts, scale_rows_are_the_baseline_evals) {
    vf_trace real, train, held, a, b, a1, b1, m, syn;
    network(&real);
    OK(vf_baseline_split_fraction(&real, 2, 0.5, &train, &held));
    OK(vf_baseline_marginals(&train, 11, &syn));
    vf_eval_result *r = malloc(sizeof *r), *fl = malloc(sizeof *fl), *mr = malloc(sizeof *mr);
    cr_assert(r && fl && mr);
    OK(vf_eval_compare(&held, &syn, r));
    OK(vf_eval_add_scale(&train, &held, 0, r));
    cr_assert(r->scale.valid);
    /* the floor: the seed-0 split of the whole trace */
    OK(vf_baseline_split(&real, 0, &a, &b));
    OK(vf_eval_compare(&a, &b, fl));
    cr_assert_eq(r->scale.split_a, a.n);
    cr_assert_eq(r->scale.split_b, b.n);
    /* the marginals: of the training part, against the held-out part */
    OK(vf_baseline_marginals(&train, 0, &m));
    OK(vf_eval_compare(&held, &m, mr));
    int judged = 0, normalised = 0, other_range = 0;
    for (int k = 0; k < r->scale.n_rows; k++) {
        const vf_eval_row *x = &r->scale.rows[k];
        double f = vf_eval_row_value(x, fl), g = vf_eval_row_value(x, mr);
        if (x->m == VF_M_EMD_NORM) {
            /* the floor's EMD over the held-out part's range, as the synthetic row */
            const vf_eval_emd *ref = &r->emd[x->field];
            f = fl->emd[x->field].valid && ref->p99 > ref->p1 ? fl->emd[x->field].emd / (ref->p99 - ref->p1) : NAN;
            if (isfinite(f)) normalised++;
            if (isfinite(f) && fabs(f - fl->emd[x->field].norm) > 1e-6 * f) other_range++;
        }
        /* record order differs (parts appended), sums may round differently */
        if (isnan(f)) cr_assert(isnan(r->scale.floor[k]), "%s", x->key);
        else cr_assert_float_eq(r->scale.floor[k], f, 1e-9 * (1 + fabs(f)), "%s: %g vs %g", x->key, r->scale.floor[k], f);
        if (isnan(g)) cr_assert(isnan(r->scale.marginals[k]), "%s", x->key);
        else cr_assert_float_eq(r->scale.marginals[k], g, 1e-12 * (1 + fabs(g)), "%s", x->key);
        judged += vf_eval_row_judged(x);
    }
    cr_assert_eq(judged, r->scale.n_rows - 2, "every row but the two privacy shares");
    cr_assert_geq(normalised, 3, "normalised EMD rows with a floor: %d", normalised);
    cr_assert_geq(other_range, 1, "a row whose halves' range differs from the held-out part's");
    /* distinct counts: records per 5-tuple of the held-out part */
    cr_assert_float_eq(r->real.recs_per_5tuple_mean, (double)held.n / (double)r->real.five_tuples, 1e-12);
    cr_assert_geq(r->real.recs_per_5tuple_max, 1);
    cr_assert_leq(r->real.recs_per_5tuple_max, 3);
    cr_assert_eq(r->real.dst_ports, 3);
    (void)a1, (void)b1;
    free(r), free(fl), free(mr);
    vf_trace_free(&real), vf_trace_free(&train), vf_trace_free(&held), vf_trace_free(&a), vf_trace_free(&b);
    vf_trace_free(&m), vf_trace_free(&syn);
}

/* On the shared traces: half of each trace trains, a quarter is "synthetic"
 * (unseen flows), a quarter held out; and marginals of the training half.
 * DCR must not flag the unseen flows, must take under 10 s; timings printed. */
static void shared_dcr(const char *file) {
    const char *path = tu_shared_data(file);
    vf_trace t, train, rest, s, h, m;
    vf_read_options opt = {0};
    OK(vf_trace_read(path, &opt, &t));
    OK(vf_baseline_split_fraction(&t, 1, 0.5, &train, &rest));
    OK(vf_baseline_split(&rest, 2, &s, &h));
    OK(vf_baseline_marginals(&train, 0, &m));
    vf_eval_dcr d, dm;
    OK(vf_eval_dcr_compute(&train, &s, &h, VF_DCR_SAMPLES, 0, &d));
    OK(vf_eval_dcr_compute(&train, &m, &h, VF_DCR_SAMPLES, 0, &dm));
    fprintf(stderr, "%s: %zu training records; unseen flows: median %.4g vs held-out %.4g, %.1f%% below p5, %.2f s; "
            "marginals: median %.4g, %.1f%% below p5, %.2f s\n", file, train.n, d.syn_median, d.hold_median,
            100 * d.share_below_hold_p5, d.seconds, dm.syn_median, 100 * dm.share_below_hold_p5, dm.seconds);
    cr_assert(!d.closer, "%s: unseen real flows flagged (%.3f)", file, d.share_below_hold_p5);
    cr_assert_lt(d.seconds, 10);
    cr_assert_lt(dm.seconds, 10);
    vf_trace_free(&t), vf_trace_free(&train), vf_trace_free(&rest), vf_trace_free(&s), vf_trace_free(&h);
    vf_trace_free(&m);
}

Test(eval_verdicts, dcr_on_ugr16, .timeout = 120) { shared_dcr("flows_ugr16_netflow_2016-04-11_13hosts.csv"); }
Test(eval_verdicts, dcr_on_enterprise, .timeout = 120) { shared_dcr("pcap_enterprise_pathspider_real_2012-11-23.pcap"); }
Test(eval_verdicts, dcr_on_caida, .timeout = 120) { shared_dcr("pcap_caida_equinix-nyc_2018-03-15_10k.pcapng"); }
