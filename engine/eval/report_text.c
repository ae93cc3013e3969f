/* vf_eval_print: the terminal tables (same numbers as the JSON, 4 significant
 * digits). */
#include "eval/eval.h"
#include "eval/eval_internal.h"

#include <math.h>

static const char *kind_name(vf_trace_kind k) { return k == VF_TRACE_FLOWS ? "flows" : "packets"; }

static void num(char *buf, size_t len, double v) {
    if (isnan(v)) snprintf(buf, len, "n/a");
    else snprintf(buf, len, "%.4g", v);
}

static const char *proto_label(uint8_t p, char buf[16]) {
    const char *n = vf_proto_name(p);
    if (n) snprintf(buf, 16, "%s", n);
    else snprintf(buf, 16, "%u", (unsigned)p);
    return buf;
}

static void jsd_row(FILE *f, const vf_eval_result *r, int j) {
    const vf_eval_jsd *e = &r->jsd[j];
    if (!e->valid) {
        fprintf(f, "  %-8s %12s %12s   (not available: no labels in either trace)\n",
                vf_eval_jsd_name(j), "n/a", "n/a");
        return;
    }
    char a[32], b[32];
    num(a, sizeof a, e->v.nats);
    num(b, sizeof b, e->v.bits);
    fprintf(f, "  %-8s %12s %12s   %zu / %zu\n", vf_eval_jsd_name(j), a, b, e->support_real,
            e->support_syn);
}

static void emd_row(FILE *f, const vf_eval_result *r, int j) {
    const vf_eval_emd *e = &r->emd[j];
    char a[32], b[32], c[32], d[32];
    num(a, sizeof a, e->valid ? e->emd : NAN);
    num(b, sizeof b, e->valid ? e->norm : NAN);
    num(c, sizeof c, e->median_real);
    num(d, sizeof d, e->median_syn);
    fprintf(f, "  %-18s %-8s %12s %10s   %11s %11s\n", vf_eval_emd_name(j), vf_eval_emd_unit(j),
            a, b, c, d);
}

static void pct(char *buf, size_t len, size_t k, size_t n) {
    snprintf(buf, len, "%zu / %zu (%.2f%%)", k, n, n ? 100.0 * (double)k / (double)n : 0.0);
}

static void verdict_table(FILE *f, const vf_eval_result *r) {
    const vf_eval_scale *sc = &r->scale;
    if (!sc->valid) return;
    fprintf(f, "\nHow good is it (floor: eval of the 5-tuple split halves of the real trace, seed %llu; marginals: "
               "independent fields; near the floor: <= 2x floor)\n", (unsigned long long)sc->seed);
    fprintf(f, "  %-28s %-12s %11s %11s %11s %8s  %s\n", "metric", "unit", "synthetic", "floor", "marginals", "/floor",
            "verdict");
    for (int k = 0; k < sc->n_rows; k++) {
        const vf_eval_row *x = &sc->rows[k];
        if (!vf_eval_row_judged(x)) continue;
        double v = vf_eval_row_value(x, r), q = vf_eval_ratio(v, sc->floor[k]);
        char a[32], b[32], c[32], d[32];
        num(a, sizeof a, v);
        num(b, sizeof b, sc->floor[k]);
        num(c, sizeof c, sc->marginals[k]);
        if (isfinite(q)) snprintf(d, sizeof d, "%.3gx", q);
        else snprintf(d, sizeof d, "n/a");
        fprintf(f, "  %-28s %-12s %11s %11s %11s %8s  %s\n", x->key, x->unit, a, b, c, d,
                vf_verdict_text(vf_eval_row_verdict(r, k)));
    }
}

static void distinct_table(FILE *f, const vf_eval_result *r) {
    const vf_eval_side *a = &r->real, *b = &r->syn;
    fprintf(f, "\n  distinct counts                %12s %12s\n", "real", "synth");
    fprintf(f, "    source hosts                 %12zu %12zu\n", a->src_addrs, b->src_addrs);
    fprintf(f, "    destination hosts            %12zu %12zu\n", a->dst_addrs, b->dst_addrs);
    fprintf(f, "    source ports                 %12zu %12zu\n", a->src_ports, b->src_ports);
    fprintf(f, "    destination ports            %12zu %12zu\n", a->dst_ports, b->dst_ports);
    fprintf(f, "    5-tuples                     %12zu %12zu\n", a->five_tuples, b->five_tuples);
    fprintf(f, "    records per 5-tuple: mean    %12.4g %12.4g\n", a->recs_per_5tuple_mean, b->recs_per_5tuple_mean);
    fprintf(f, "    records per 5-tuple: median  %12.4g %12.4g\n", a->recs_per_5tuple_median, b->recs_per_5tuple_median);
    fprintf(f, "    records per 5-tuple: max     %12llu %12llu\n", (unsigned long long)a->recs_per_5tuple_max,
            (unsigned long long)b->recs_per_5tuple_max);
}

static void dcr_lines(FILE *f, const vf_eval_dcr *d) {
    if (!d->valid) return;
    fprintf(f, "    distance to closest training record (DCR), synthetic sample of %zu: median %.4g, p5 %.4g, "
               "%zu at 0\n", d->n_syn, d->syn_median, d->syn_p5, d->syn_zero);
    if (!d->have_holdout) {
        fprintf(f, "    (comparing it with unseen real records needs held-out records: vkflow run --holdout F)\n");
        return;
    }
    fprintf(f, "    held-out real sample of %zu: median %.4g, p5 %.4g\n", d->n_hold, d->hold_median, d->hold_p5);
    fprintf(f, "    %.1f%% of synthetic records are closer than the held-out p5 (5%% expected): synthetic records are "
               "%s to the training data than unseen real records are\n", 100 * d->share_below_hold_p5,
            d->closer ? "closer" : "no closer");
}

vf_status vf_eval_print(FILE *f, const vf_eval_result *r) {
    bool flows = r->kind == VF_TRACE_FLOWS;
    fprintf(f, "vkflow eval (%s)\n", kind_name(r->kind));
    fprintf(f, "  real:      %s  %zu records, %zu 5-tuples\n", r->real_name[0] ? r->real_name : "-",
            r->real.records, r->real.five_tuples);
    fprintf(f, "  synthetic: %s  %zu records, %zu 5-tuples\n", r->syn_name[0] ? r->syn_name : "-",
            r->syn.records, r->syn.five_tuples);
    fprintf(f, "  %s.\n  %s.\n", VF_EVAL_JSD_CONVENTION, VF_EVAL_EMD_CONVENTION);
    if (r->scoring == VF_SCORED_HELD_OUT)
        fprintf(f, "  scored OUT OF SAMPLE: against the %.0f%% of 5-tuples held out of training\n", 100 * r->holdout);
    else if (r->scoring == VF_SCORED_IN_SAMPLE)
        fprintf(f, "  scored IN SAMPLE: against the training trace itself (in-sample scores reward copying)\n");
    verdict_table(f, r);
    fputc('\n', f);

    fprintf(f, "Single attribute distributional similarity (JSD; lower is better)\n");
    fprintf(f, "  %-8s %12s %12s   %s\n", "field", "JSD nats", "JSD bits", "support real / syn");
    for (int j = VF_JSD_SRCIP; j <= VF_JSD_PROTO; j++) jsd_row(f, r, j);
    fprintf(f, "  (srcip/dstip: popularity-rank distributions; ports: exact values; proto: numbers)\n\n");

    fprintf(f, "Single feature distributional similarity (lower is better)\n");
    fprintf(f, "  %-18s %-8s %12s %10s   %11s %11s\n", "field", "unit", "EMD", "norm EMD",
            "median real", "median syn");
    if (flows) {
        emd_row(f, r, VF_EMD_TD);
        emd_row(f, r, VF_EMD_PKT);
        emd_row(f, r, VF_EMD_BYT);
        emd_row(f, r, VF_EMD_TS);
        fprintf(f, "  type (JSD over labels):");
        const vf_eval_jsd *e = &r->jsd[VF_JSD_TYPE];
        if (e->valid)
            fprintf(f, " %.4g nats, %.4g bits (labels real / syn: %zu / %zu)\n", e->v.nats,
                    e->v.bits, e->support_real, e->support_syn);
        else
            fprintf(f, " n/a (no labels in either trace)\n");
    } else {
        emd_row(f, r, VF_EMD_PKT_LEN);
        emd_row(f, r, VF_EMD_TIME);
        emd_row(f, r, VF_EMD_FLOW_SIZE);
    }
    fprintf(f, "\nBeyond single fields\n");
    fprintf(f, "  %-18s %-8s %12s %10s   %11s %11s\n", "field", "unit", "EMD", "norm EMD",
            "median real", "median syn");
    if (flows) emd_row(f, r, VF_EMD_RECORDS_PER_5TUPLE);
    else emd_row(f, r, VF_EMD_IAT_WITHIN_FLOW);
    char a[32], b[32];
    num(a, sizeof a, r->real.corr_log_pkt_byt);
    num(b, sizeof b, r->syn.corr_log_pkt_byt);
    fprintf(f, "  pkt/byt correlation (Pearson of log1p, per %s): real %s, synthetic %s\n",
            flows ? "flow record" : "5-tuple", a, b);

    for (int d = 0; d < 2; d++) {
        const vf_eval_topval *tr = d ? r->real.top_dport : r->real.top_sport;
        const vf_eval_topval *ts = d ? r->syn.top_dport : r->syn.top_sport;
        int nr = d ? r->real.n_top_dport : r->real.n_top_sport;
        int ns = d ? r->syn.n_top_dport : r->syn.n_top_sport;
        fprintf(f, "\n  top %d %s ports (share of records)\n", VF_EVAL_TOPK, d ? "destination" : "source");
        fprintf(f, "    %-4s %8s %9s   %8s %9s\n", "#", "real", "share", "synth", "share");
        for (int i = 0; i < VF_EVAL_TOPK && (i < nr || i < ns); i++) {
            fprintf(f, "    %-4d", i + 1);
            if (i < nr) fprintf(f, " %8u %8.2f%%", tr[i].value, 100 * tr[i].share);
            else fprintf(f, " %8s %9s", "", "");
            if (i < ns) fprintf(f, "   %8u %8.2f%%\n", ts[i].value, 100 * ts[i].share);
            else fprintf(f, "\n");
        }
    }
    fprintf(f, "\n  protocol mix (share of records)\n    %-8s %9s %9s\n", "proto", "real", "synth");
    for (int i = 0; i < r->n_proto; i++) {
        char pb[16];
        fprintf(f, "    %-8s %8.3f%% %8.3f%%\n", proto_label(r->proto[i].proto, pb),
                100 * r->proto[i].real, 100 * r->proto[i].syn);
    }
    const vf_eval_privacy *p = &r->privacy;
    char c1[64], c2[64], c3[64], c4[64];
    pct(c1, sizeof c1, p->syn_5tuples_in_real, p->syn_5tuples);
    pct(c2, sizeof c2, p->syn_pairs_in_real, p->syn_pairs);
    pct(c3, sizeof c3, p->syn_records_5tuple_in_real, p->syn_records);
    pct(c4, sizeof c4, p->syn_records_pair_in_real, p->syn_records);
    fprintf(f, "\n  privacy: synthetic keys found verbatim in the real trace\n");
    fprintf(f, "    distinct 5-tuples:         %s\n", c1);
    fprintf(f, "    distinct (src, dst) pairs: %s\n", c2);
    fprintf(f, "    records whose 5-tuple is:  %s\n", c3);
    fprintf(f, "    records whose pair is:     %s\n", c4);
    if (p->dp.on)
        fprintf(f, "  differential privacy: epsilon %.4g at delta %g per %s (noise multiplier %.4g, clip %g)\n",
                p->dp.epsilon, p->dp.delta, p->dp.unit, p->dp.sigma, p->dp.clip);
    dcr_lines(f, &p->dcr);
    distinct_table(f, r);
    if (ferror(f)) return vf_fail(VF_ERR_IO, "eval: writing the table failed");
    return VF_OK;
}
