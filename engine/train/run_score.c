/* How vkflow run scores its synthetic trace: the held-out split of
 * run.holdout and the evaluation step (rundir.h; docs/RUNNING.md "Scoring:
 * in sample or held out"). Kept out of pipeline.c: the pipeline calls
 * vf_run_holdout after ingest and vf_run_evaluate after generation. */
#include "train/rundir.h"
#include "eval/eval.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The split the run uses; 0 = none. Its seed is run.seed. */
static int holdout_text(const vf_run_config *rc, size_t n_train, size_t n_held, char *buf, size_t cap) {
    return snprintf(buf, cap, "fraction %.17g\nseed %llu\ntraining_records %zu\nheld_out_records %zu\n", rc->holdout,
                    (unsigned long long)rc->seed, n_train, n_held);
}

vf_status vf_run_holdout(const vf_run_config *rc, const char *dir, bool resume, vf_run_log *L, vf_trace *real,
                         vf_trace *held) {
    memset(held, 0, sizeof *held);
    char p[4200];
    vf_run_path(p, sizeof p, dir, "holdout.txt");
    size_t n = 0;
    char *old = resume ? vf_read_file(p, &n) : NULL;
    if (rc->holdout <= 0) {
        free(old);
        if (old) return vf_fail(VF_ERR_ARG, "%s: this run was started with a held-out split; a resumed run must keep "
                                "it (run.holdout)", p);
        return VF_OK;
    }
    vf_trace train;
    vf_status st = vf_baseline_split_fraction(real, rc->seed, rc->holdout, &train, held);
    if (st) { free(old); return st; }
    if (train.n == 0 || held->n == 0) {
        free(old);
        vf_status e = vf_fail(VF_ERR_ARG, "%s: run.holdout = %g leaves %zu records to train on and %zu held out: the "
                              "trace has too few 5-tuples to hold some out", rc->path, rc->holdout, train.n, held->n);
        vf_trace_free(&train);
        vf_trace_free(held);
        return e;
    }
    char text[512];
    int len = holdout_text(rc, train.n, held->n, text, sizeof text);
    if (old && (n != (size_t)len || memcmp(old, text, n))) {
        vf_status e = vf_fail(VF_ERR_ARG, "%s: the held-out split differs from the one this run started with (now: "
                              "%.*s); a resumed run must use the same data, run.holdout and run.seed", p, len, text);
        free(old);
        vf_trace_free(&train);
        vf_trace_free(held);
        return e;
    }
    free(old);
    if ((st = vf_run_write_text(p, text, (size_t)len))) {
        vf_trace_free(&train);
        vf_trace_free(held);
        return st;
    }
    vf_run_say(L, VF_PHASE_INGEST, -1, "holdout %g: training on %zu records, %zu records of the other 5-tuples held "
               "out for scoring (split seed %llu, %s)", rc->holdout, train.n, held->n, (unsigned long long)rc->seed, p);
    vf_trace_free(real);
    *real = train;
    return VF_OK;
}

/* One line for run.log: how many metrics got which verdict. */
static void say_verdicts(vf_run_log *L, const vf_eval_result *r) {
    int n[4], judged = vf_eval_count_verdicts(r, n);
    const vf_eval_scale *sc = &r->scale;
    vf_run_say(L, VF_PHASE_EVAL, -1, "%s: %d of %d metrics near the floor, %d better than marginals, %d worse than "
               "marginals (floor and marginals in %.2f s)", r->scoring == VF_SCORED_HELD_OUT ? "held out" : "in sample",
               n[VF_VERDICT_NEAR_FLOOR], judged, n[VF_VERDICT_BETTER_THAN_MARGINALS],
               n[VF_VERDICT_WORSE_THAN_MARGINALS], sc->seconds);
}

static void say_dcr(vf_run_log *L, const vf_eval_dcr *d) {
    if (d->have_holdout)
        vf_run_say(L, VF_PHASE_EVAL, -1, "distance to closest training record: synthetic median %.4g, held-out median "
                   "%.4g; %.1f%% of synthetic records closer than the held-out 5th percentile (5%% expected): %s "
                   "(%zu + %zu sampled against %zu, %.2f s)", d->syn_median, d->hold_median,
                   100 * d->share_below_hold_p5, d->closer ? "CLOSER than unseen real records" : "no closer than "
                   "unseen real records", d->n_syn, d->n_hold, d->n_train, d->seconds);
    else
        vf_run_say(L, VF_PHASE_EVAL, -1, "distance to closest training record: synthetic median %.4g, %zu of %zu at "
                   "0 (comparing with unseen records needs run.holdout; %zu sampled against %zu, %.2f s)",
                   d->syn_median, d->syn_zero, d->n_syn, d->n_syn, d->n_train, d->seconds);
}

vf_status vf_run_evaluate(const vf_run_config *rc, vf_run_log *L, const char *dir, const vf_trace *train,
                          const vf_trace *held, const vf_trace *syn, const char *data_name, const char *syn_name,
                          const vf_eval_dp *dp, char *report_path) {
    double t0 = vf_now_s();
    vf_eval_result *r = malloc(sizeof *r);
    if (!r) return vf_fail(VF_ERR_OOM, "eval: out of memory");
    vf_status st = vf_eval_compare(held ? held : train, syn, r);
    if (st) { free(r); return st; }
    if (held) snprintf(r->real_name, sizeof r->real_name, "%.200s (the %g held out)", data_name, rc->holdout);
    else vf_copy_str(r->real_name, sizeof r->real_name, data_name);
    vf_copy_str(r->syn_name, sizeof r->syn_name, syn_name);
    r->scoring = held ? VF_SCORED_HELD_OUT : VF_SCORED_IN_SAMPLE;
    if (dp) r->privacy.dp = *dp;
    r->holdout = held ? rc->holdout : 0;
    if (rc->baselines) {
        /* a scale that cannot be computed (a trace of one 5-tuple) costs the
         * report its verdicts, not the run its results */
        if (vf_eval_add_scale(train, held, 0, r) == VF_OK) say_verdicts(L, r);
        else vf_run_say(L, VF_PHASE_EVAL, -1, "floor and marginals not computed: %s", vf_last_error());
        if (vf_eval_dcr_compute(train, syn, held, VF_DCR_SAMPLES, 0, &r->privacy.dcr) == VF_OK)
            say_dcr(L, &r->privacy.dcr);
        else vf_run_say(L, VF_PHASE_EVAL, -1, "distance to closest record not computed: %s", vf_last_error());
    }
    char js[4200], html[4200];
    vf_run_path(js, sizeof js, dir, "metrics.json");
    vf_run_path(html, sizeof html, dir, "report.html");
    if (!(st = vf_eval_write_json(js, r))) st = vf_eval_write_html(html, r);
    free(r);
    if (st) return st;
    if (report_path) vf_copy_str(report_path, 4096, html);
    vf_run_say(L, VF_PHASE_EVAL, -1, "wrote %s and %s (%.1f s)", html, js, vf_now_s() - t0);
    return VF_OK;
}
