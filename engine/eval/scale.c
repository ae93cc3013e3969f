/* The scale of every metric and the verdict per row: the metric rows (the
 * list vkflow compare and the reports share), the real-vs-real floor and
 * the marginals baseline of one result (eval.h, docs/EVALUATION.md). */
#include "eval/eval.h"
#include "eval/eval_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- rows */

static void add_jsd(vf_eval_row *r, int *n, int f, const char *group) {
    vf_eval_row *x = &r[(*n)++];
    snprintf(x->key, sizeof x->key, "%s.jsd", vf_eval_jsd_name(f));
    snprintf(x->unit, sizeof x->unit, "JSD nats");
    x->group = group, x->m = VF_M_JSD, x->field = f;
}

static void add_emd(vf_eval_row *r, int *n, int f, const char *group) {
    vf_eval_row *x = &r[(*n)++];
    snprintf(x->key, sizeof x->key, "%s.emd", vf_eval_emd_name(f));
    snprintf(x->unit, sizeof x->unit, "EMD %s", vf_eval_emd_unit(f));
    x->group = group, x->m = VF_M_EMD, x->field = f;
    x = &r[(*n)++];
    snprintf(x->key, sizeof x->key, "%s.emd_norm", vf_eval_emd_name(f));
    snprintf(x->unit, sizeof x->unit, "EMD norm");
    x->group = group, x->m = VF_M_EMD_NORM, x->field = f;
}

static void add_extra(vf_eval_row *r, int *n, const char *key, const char *unit, vf_eval_measure m) {
    vf_eval_row *x = &r[(*n)++];
    snprintf(x->key, sizeof x->key, "%s", key);
    snprintf(x->unit, sizeof x->unit, "%s", unit);
    x->group = "extra", x->m = m, x->field = -1;
}

int vf_eval_rows(vf_trace_kind kind, vf_eval_row *r) {
    int n = 0;
    const char *A = "single attribute", *F = "single feature";
    for (int f = VF_JSD_SRCIP; f <= VF_JSD_PROTO; f++) add_jsd(r, &n, f, A);
    if (kind == VF_TRACE_FLOWS) {
        add_emd(r, &n, VF_EMD_TD, F);
        add_emd(r, &n, VF_EMD_PKT, F);
        add_emd(r, &n, VF_EMD_BYT, F);
        add_jsd(r, &n, VF_JSD_TYPE, F);
        add_emd(r, &n, VF_EMD_TS, F);
        add_emd(r, &n, VF_EMD_RECORDS_PER_5TUPLE, "extra");
    } else {
        add_emd(r, &n, VF_EMD_PKT_LEN, F);
        add_emd(r, &n, VF_EMD_TIME, F);
        add_emd(r, &n, VF_EMD_FLOW_SIZE, F);
        add_emd(r, &n, VF_EMD_IAT_WITHIN_FLOW, "extra");
    }
    add_extra(r, &n, "corr_log_pkt_byt.abs_diff", "abs diff", VF_M_CORR);
    add_extra(r, &n, "privacy.5tuples_in_real", "share", VF_M_PRIV_5TUPLE);
    add_extra(r, &n, "privacy.pairs_in_real", "share", VF_M_PRIV_PAIR);
    return n;
}

double vf_eval_row_value(const vf_eval_row *x, const vf_eval_result *r) {
    if (!r) return NAN;
    const vf_eval_privacy *p = &r->privacy;
    switch (x->m) {
    case VF_M_JSD: return r->jsd[x->field].valid ? r->jsd[x->field].v.nats : NAN;
    case VF_M_EMD: return r->emd[x->field].valid ? r->emd[x->field].emd : NAN;
    case VF_M_EMD_NORM: return r->emd[x->field].valid ? r->emd[x->field].norm : NAN;
    case VF_M_CORR: return fabs(r->syn.corr_log_pkt_byt - r->real.corr_log_pkt_byt);
    case VF_M_PRIV_5TUPLE: return p->syn_5tuples ? (double)p->syn_5tuples_in_real / (double)p->syn_5tuples : NAN;
    case VF_M_PRIV_PAIR: return p->syn_pairs ? (double)p->syn_pairs_in_real / (double)p->syn_pairs : NAN;
    }
    return NAN;
}

bool vf_eval_row_judged(const vf_eval_row *x) { return x->m != VF_M_PRIV_5TUPLE && x->m != VF_M_PRIV_PAIR; }

double vf_eval_ratio(double v, double floor) { return isfinite(v) && isfinite(floor) && floor > 0 ? v / floor : NAN; }

/* ------------------------------------------------------------ verdicts */

vf_verdict vf_eval_verdict(double value, double floor, double marginals) {
    if (!isfinite(value)) return VF_VERDICT_NA;
    if (isfinite(floor) && value <= 2 * floor) return VF_VERDICT_NEAR_FLOOR;
    if (!isfinite(marginals)) return VF_VERDICT_NA;
    return value < marginals ? VF_VERDICT_BETTER_THAN_MARGINALS : VF_VERDICT_WORSE_THAN_MARGINALS;
}

const char *vf_verdict_text(vf_verdict v) {
    switch (v) {
    case VF_VERDICT_NEAR_FLOOR: return "near the floor";
    case VF_VERDICT_BETTER_THAN_MARGINALS: return "better than marginals";
    case VF_VERDICT_WORSE_THAN_MARGINALS: return "worse than marginals";
    case VF_VERDICT_NA: break;
    }
    return "n/a";
}

vf_verdict vf_eval_row_verdict(const vf_eval_result *r, int k) {
    const vf_eval_scale *sc = &r->scale;
    return vf_eval_verdict(vf_eval_row_value(&sc->rows[k], r), sc->floor[k], sc->marginals[k]);
}

int vf_eval_count_verdicts(const vf_eval_result *r, int counts[4]) {
    int judged = 0;
    for (int v = 0; v < 4; v++) counts[v] = 0;
    for (int k = 0; r->scale.valid && k < r->scale.n_rows; k++) {
        if (!vf_eval_row_judged(&r->scale.rows[k])) continue;
        counts[vf_eval_row_verdict(r, k)]++;
        judged++;
    }
    return judged;
}

/* --------------------------------------------------------------- scale */

/* Appends every record of src to dst. */
static vf_status append_all(vf_trace *dst, const vf_trace *src) {
    for (size_t i = 0; i < src->n; i++) VF_TRY(vf_trace_append(dst, &src->recs[i]));
    return VF_OK;
}

/* The floor's EMD of field f over the p1-p99 range of the real side of
 * ref_eval (an eval whose real side is the reference; its synthetic side
 * may lack the field's values); NAN where either is missing. */
static double floor_norm(const vf_eval_result *floor, const vf_eval_result *ref_eval, int f) {
    const vf_eval_emd *e = &floor->emd[f], *ref = &ref_eval->emd[f];
    if (!e->valid || ref->n_real == 0 || !(ref->p99 > ref->p1)) return NAN;
    return e->emd / (ref->p99 - ref->p1);
}

vf_status vf_eval_add_scale(const vf_trace *train, const vf_trace *held, uint64_t seed, vf_eval_result *r) {
    if (!train || !r) return vf_fail(VF_ERR_ARG, "eval scale: NULL argument");
    double t0 = vf_now_s();
    const vf_trace *ref = held ? held : train;
    vf_trace a, b, a2, b2, m;
    memset(&a, 0, sizeof a), memset(&b, 0, sizeof b), memset(&a2, 0, sizeof a2), memset(&b2, 0, sizeof b2);
    memset(&m, 0, sizeof m);
    vf_eval_result *fl = malloc(sizeof *fl), *mr = malloc(sizeof *mr);
    vf_status st = fl && mr ? VF_OK : vf_fail(VF_ERR_OOM, "eval scale: out of memory");
    /* the floor: the split of train plus held, part by part */
    if (!st) st = vf_baseline_split(train, seed, &a, &b);
    if (!st && held) {
        if (!(st = vf_baseline_split(held, seed, &a2, &b2)) && !(st = append_all(&a, &a2))) st = append_all(&b, &b2);
    }
    if (!st && (a.n == 0 || b.n == 0))
        st = vf_fail(VF_ERR_ARG, "eval scale: the real trace has a single 5-tuple on one side of the split (%zu and "
                     "%zu records): no floor", a.n, b.n);
    if (!st) st = vf_eval_compare(&a, &b, fl);
    /* the marginals of the training data, scored as the synthetic trace is */
    if (!st) st = vf_baseline_marginals(train, seed, &m);
    if (!st) st = vf_eval_compare(ref, &m, mr);
    if (!st) {
        vf_eval_scale *s = &r->scale;
        memset(s, 0, sizeof *s);
        s->seed = seed;
        s->split_a = a.n;
        s->split_b = b.n;
        s->n_rows = vf_eval_rows(r->kind, s->rows);
        for (int k = 0; k < s->n_rows; k++) {
            s->floor[k] = vf_eval_row_value(&s->rows[k], fl);
            s->marginals[k] = vf_eval_row_value(&s->rows[k], mr);
            /* A normalised EMD is the EMD over the p1-p99 range of the real
             * side. The synthetic and marginals rows are scored against ref,
             * so the floor's EMD is divided by ref's range too: a ratio of
             * two rows divided by different ranges would compare ranges, not
             * distances (the halves' ranges differ by up to 1.5x on the
             * shared traces). */
            if (s->rows[k].m == VF_M_EMD_NORM) s->floor[k] = floor_norm(fl, mr, s->rows[k].field);
        }
        s->valid = true;
        s->seconds = vf_now_s() - t0;
    }
    vf_trace_free(&a);
    vf_trace_free(&b);
    vf_trace_free(&a2);
    vf_trace_free(&b2);
    vf_trace_free(&m);
    free(fl);
    free(mr);
    return st;
}
