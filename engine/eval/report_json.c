/* vf_eval_write_json: every number of a comparison, full precision (%.17g),
 * NAN and metrics that do not apply as null, conventions spelled out. */
#include "eval/eval.h"
#include "eval/eval_internal.h"
#include "util.h"

#include <math.h>



/* "key": {"name": "...", "records": ..., ...} */
static void side(FILE *f, const char *key, const char *name, const vf_eval_side *s) {
    fprintf(f, "  \"%s\": {\"name\": ", key);
    vf_json_str(f, name);
    fprintf(f, ", \"records\": %zu, \"five_tuples\": %zu, \"src_addrs\": %zu, \"dst_addrs\": %zu",
            s->records, s->five_tuples, s->src_addrs, s->dst_addrs);
    fprintf(f, ", \"src_ports\": %zu, \"dst_ports\": %zu, \"records_per_5tuple\": {\"mean\": ", s->src_ports,
            s->dst_ports);
    vf_json_num(f, s->recs_per_5tuple_mean);
    fputs(", \"median\": ", f);
    vf_json_num(f, s->recs_per_5tuple_median);
    fprintf(f, ", \"max\": %llu}", (unsigned long long)s->recs_per_5tuple_max);
    fprintf(f, ", \"corr_log1p_pkt_byt\": ");
    vf_json_num(f, s->corr_log_pkt_byt);
    for (int d = 0; d < 2; d++) {
        const vf_eval_topval *t = d ? s->top_dport : s->top_sport;
        int n = d ? s->n_top_dport : s->n_top_sport;
        fprintf(f, ", \"top_%s\": [", d ? "dstport" : "srcport");
        for (int i = 0; i < n; i++)
            fprintf(f, "%s{\"port\": %u, \"records\": %llu, \"share\": %.17g}", i ? ", " : "",
                    t[i].value, (unsigned long long)t[i].count, t[i].share);
        fputc(']', f);
    }
    fputs("}", f);
}

/* "verdicts": the scale and the verdict per metric row (null when not computed). */
static void verdicts(FILE *f, const vf_eval_result *r) {
    const vf_eval_scale *sc = &r->scale;
    fputs("  \"verdicts\": ", f);
    if (!sc->valid) {
        fputs("null,\n", f);
        return;
    }
    fprintf(f, "{\"seed\": %llu, \"split_records\": [%zu, %zu], \"seconds\": ", (unsigned long long)sc->seed,
            sc->split_a, sc->split_b);
    vf_json_num(f, sc->seconds);
    fputs(", \"basis\": \"floor: the metric between the halves of the real trace split by 5-tuple; marginals: "
          "fields drawn independently from the training data's marginals, scored as the synthetic trace is; "
          "verdict: 'near the floor' when value <= 2 x floor, else 'better than marginals' when value < "
          "marginals, else 'worse than marginals'\",\n    \"metrics\": {", f);
    int first = 1;
    for (int k = 0; k < sc->n_rows; k++) {
        const vf_eval_row *x = &sc->rows[k];
        if (!vf_eval_row_judged(x)) continue;
        double v = vf_eval_row_value(x, r);
        fprintf(f, "%s\n      \"%s\": {\"unit\": ", first ? "" : ",", x->key);
        first = 0;
        vf_json_str(f, x->unit);
        fputs(", \"value\": ", f);
        vf_json_num(f, v);
        fputs(", \"floor\": ", f);
        vf_json_num(f, sc->floor[k]);
        fputs(", \"marginals\": ", f);
        vf_json_num(f, sc->marginals[k]);
        fputs(", \"ratio_to_floor\": ", f);
        vf_json_num(f, vf_eval_ratio(v, sc->floor[k]));
        fputs(", \"verdict\": ", f);
        vf_json_str(f, vf_verdict_text(vf_eval_row_verdict(r, k)));
        fputc('}', f);
    }
    fputs("\n    }},\n", f);
}

/* "dcr": {...} inside "privacy" (null when not computed). */
static void dcr(FILE *f, const vf_eval_dcr *d) {
    fputs(", \"dcr\": ", f);
    if (!d->valid) {
        fputs("null", f);
        return;
    }
    fprintf(f, "{\"training_records\": %zu, \"synthetic_sampled\": %zu, \"synthetic_median\": ", d->n_train, d->n_syn);
    vf_json_num(f, d->syn_median);
    fputs(", \"synthetic_p5\": ", f);
    vf_json_num(f, d->syn_p5);
    fprintf(f, ", \"synthetic_at_zero\": %zu, \"held_out\": %s, \"held_out_sampled\": %zu, \"held_out_median\": ",
            d->syn_zero, d->have_holdout ? "true" : "false", d->n_hold);
    vf_json_num(f, d->hold_median);
    fputs(", \"held_out_p5\": ", f);
    vf_json_num(f, d->hold_p5);
    fputs(", \"share_synthetic_below_held_out_p5\": ", f);
    vf_json_num(f, d->share_below_hold_p5);
    fputs(", \"closer_than_unseen\": ", f);
    fputs(d->have_holdout ? (d->closer ? "true" : "false") : "null", f);
    fputs(", \"seconds\": ", f);
    vf_json_num(f, d->seconds);
    fputs(", \"basis\": \"distance to the nearest training record: mean of per-field terms in [0, 1] (addresses: "
          "differing bits / 32; ports, protocol: 0 equal, 1 not; time since start and log1p of the size fields: "
          "difference / training range, capped at 1); closer_than_unseen: more than 10% of the synthetic sample "
          "below the held-out sample's 5th percentile\"}", f);
}

vf_status vf_eval_write_json(const char *path, const vf_eval_result *r) {
    vf_atomic_file o;
    vf_status st = vf_atomic_open(&o, path);
    if (st != VF_OK) return st;
    FILE *f = o.f;
    bool flows = r->kind == VF_TRACE_FLOWS;
    fprintf(f, "{\n  \"format\": \"vkflow-eval-1\",\n  \"kind\": \"%s\",\n",
            flows ? "flows" : "packets");
    fputs("  \"conventions\": {\"jsd\": ", f);
    vf_json_str(f, VF_EVAL_JSD_CONVENTION);
    fputs(", \"emd\": ", f);
    vf_json_str(f, VF_EVAL_EMD_CONVENTION);
    fputs(", \"times\": \"ts/time/iat_within_flow in microseconds, td in seconds\"},\n", f);

    fprintf(f, "  \"scored\": \"%s\", \"holdout_fraction\": ",
            r->scoring == VF_SCORED_HELD_OUT ? "held_out" : r->scoring == VF_SCORED_IN_SAMPLE ? "in_sample" : "unknown");
    vf_json_num(f, r->scoring == VF_SCORED_HELD_OUT ? r->holdout : 0);
    fputs(",\n", f);
    verdicts(f, r);
    side(f, "real", r->real_name, &r->real);
    fputs(",\n", f);
    side(f, "synthetic", r->syn_name, &r->syn);
    fputs(",\n", f);

    fputs("  \"jsd\": {", f);
    int first = 1;
    for (int j = 0; j < VF_JSD_COUNT; j++) {
        if (j == VF_JSD_TYPE && !flows) continue;
        const vf_eval_jsd *e = &r->jsd[j];
        fprintf(f, "%s\n    \"%s\": {\"nats\": ", first ? "" : ",", vf_eval_jsd_name(j));
        first = 0;
        vf_json_num(f, e->valid ? e->v.nats : NAN);
        fputs(", \"bits\": ", f);
        vf_json_num(f, e->valid ? e->v.bits : NAN);
        fprintf(f, ", \"support_real\": %zu, \"support_synthetic\": %zu, \"basis\": ",
                e->support_real, e->support_syn);
        vf_json_str(f, vf_eval_jsd_basis[j]);
        fputc('}', f);
    }
    fputs("\n  },\n  \"emd\": {", f);
    first = 1;
    for (int j = 0; j < VF_EMD_COUNT; j++) {
        bool mine = flows ? j <= VF_EMD_RECORDS_PER_5TUPLE : j >= VF_EMD_PKT_LEN;
        if (!mine) continue;
        const vf_eval_emd *e = &r->emd[j];
        fprintf(f, "%s\n    \"%s\": {\"unit\": \"%s\", \"emd\": ", first ? "" : ",",
                vf_eval_emd_name(j), vf_eval_emd_unit(j));
        first = 0;
        vf_json_num(f, e->valid ? e->emd : NAN);
        fputs(", \"norm\": ", f);
        vf_json_num(f, e->valid ? e->norm : NAN);
        fputs(", \"p1_real\": ", f);
        vf_json_num(f, e->p1);
        fputs(", \"p99_real\": ", f);
        vf_json_num(f, e->p99);
        fputs(", \"median_real\": ", f);
        vf_json_num(f, e->median_real);
        fputs(", \"median_synthetic\": ", f);
        vf_json_num(f, e->median_syn);
        fprintf(f, ", \"n_real\": %zu, \"n_synthetic\": %zu, \"basis\": ", e->n_real, e->n_syn);
        vf_json_str(f, vf_eval_emd_basis[j]);
        fputc('}', f);
    }
    fputs("\n  },\n", f);
    if (flows)
        fputs("  \"tables\": {\"single_attribute\": [\"srcip\", \"dstip\", \"srcport\", \"dstport\", "
              "\"proto\"], \"single_feature\": [\"td\", \"pkt\", \"byt\", \"type\", \"ts\"], "
              "\"extra\": [\"records_per_5tuple\"]},\n", f);
    else
        fputs("  \"tables\": {\"single_attribute\": [\"srcip\", \"dstip\", \"srcport\", \"dstport\", "
              "\"proto\"], \"single_feature\": [\"pkt_len\", \"time\", \"flow_size\"], "
              "\"extra\": [\"iat_within_flow\"]},\n", f);
    fputs("  \"proto_mix\": [", f);
    for (int i = 0; i < r->n_proto; i++) {
        const char *nm = vf_proto_name(r->proto[i].proto);
        fprintf(f, "%s{\"proto\": %u, \"name\": ", i ? ", " : "", (unsigned)r->proto[i].proto);
        if (nm) vf_json_str(f, nm);
        else fputs("null", f);
        fprintf(f, ", \"real\": %.17g, \"synthetic\": %.17g}", r->proto[i].real, r->proto[i].syn);
    }
    const vf_eval_privacy *p = &r->privacy;
    fprintf(f, "],\n  \"privacy\": {\"synthetic_5tuples\": %zu, \"synthetic_5tuples_in_real\": %zu, "
               "\"share_5tuples_in_real\": ",
            p->syn_5tuples, p->syn_5tuples_in_real);
    vf_json_num(f, p->syn_5tuples ? (double)p->syn_5tuples_in_real / (double)p->syn_5tuples : NAN);
    fprintf(f, ", \"synthetic_pairs\": %zu, \"synthetic_pairs_in_real\": %zu, \"share_pairs_in_real\": ",
            p->syn_pairs, p->syn_pairs_in_real);
    vf_json_num(f, p->syn_pairs ? (double)p->syn_pairs_in_real / (double)p->syn_pairs : NAN);
    fprintf(f, ", \"synthetic_records\": %zu, \"records_5tuple_in_real\": %zu, "
               "\"records_pair_in_real\": %zu, \"basis\": \"distinct synthetic keys (and records) "
               "whose directional 5-tuple / (src IP, dst IP) occurs verbatim in the real trace\"",
            p->syn_records, p->syn_records_5tuple_in_real, p->syn_records_pair_in_real);
    dcr(f, &p->dcr);
    fputs("},\n", f);
    if (p->dp.on) {
        fputs("  \"epsilon_spent\": ", f);
        vf_json_num(f, p->dp.epsilon);
        fputs(",\n  \"dp\": {\"epsilon\": ", f);
        vf_json_num(f, p->dp.epsilon);
        fputs(", \"epsilon_target\": ", f);
        vf_json_num(f, p->dp.target > 0 ? p->dp.target : NAN);
        fputs(", \"delta\": ", f);
        vf_json_num(f, p->dp.delta);
        fputs(", \"noise_multiplier\": ", f);
        vf_json_num(f, p->dp.sigma);
        fputs(", \"clip\": ", f);
        vf_json_num(f, p->dp.clip);
        fputs(", \"unit\": ", f);
        vf_json_str(f, p->dp.unit);
        fputs("},\n", f);
    }
    fputs("  \"seconds\": ", f);
    vf_json_num(f, r->seconds);
    fputs("\n}\n", f);
    return vf_atomic_commit(&o);
}
