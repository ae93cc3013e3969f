/* Privacy runs of the pipeline (docs/PRIVACY.md): the budget plan before
 * training (noise calibrated to the target epsilon over every chunk, or the
 * epsilon a given noise spends), the record of sigma in the run directory
 * so that a resumed run uses the same noise, and what was spent. */
#include "train/pipeline_privacy.h"
#include "train/flowmodel.h"
#include "train/privacy.h"
#include "train/rundir.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Epsilon at delta when chunk c has run done_frac[c] of its steps[c]
 * SGM(q[c], sigma_eff) batches. A flow is an example of at most k chunk
 * models (vf_trace_bound_chunks), so at every order its RDP is at most the
 * sum of the k largest chunk curves there. */
static double epsilon_of(const vf_dp_budget *b, double sigma, const double *done_frac) {
    vf_rdp sum, one;
    vf_rdp_init_opacus(&sum);
    double se = sigma / sqrt((double)b->plan.runs_per_draw);
    double top[VF_RDP_MAX_ORDERS][8];   /* per order: the k largest chunk values so far, descending */
    int k = b->chunks_per_flow < 8 ? b->chunks_per_flow : 8;
    for (int a = 0; a < sum.n; a++)
        for (int j = 0; j < k; j++) top[a][j] = 0;
    for (int c = 0; c < b->n_chunks; c++) {
        double steps = (double)b->steps[c] * (done_frac ? done_frac[c] : 1.0);
        if (!(b->q[c] > 0 && steps > 0)) continue;
        vf_rdp_init_opacus(&one);
        vf_rdp_add_sgm(&one, b->q[c], se, steps);
        for (int a = 0; a < one.n; a++) {
            double v = one.rdp[a];
            for (int j = 0; j < k; j++)
                if (v > top[a][j]) { double t = top[a][j]; top[a][j] = v; v = t; }
        }
    }
    for (int a = 0; a < sum.n; a++) {
        sum.rdp[a] = 0;
        for (int j = 0; j < k; j++) sum.rdp[a] += top[a][j];
    }
    return vf_rdp_epsilon(&sum, b->delta, NULL);
}

double vf_dp_budget_epsilon(const vf_dp_budget *b, const double *done_frac) {
    return epsilon_of(b, b->sigma, done_frac);
}

void vf_dp_budget_free(vf_dp_budget *b) {
    free(b->q);
    free(b->steps);
    memset(b, 0, sizeof *b);
}

vf_status vf_dp_budget_plan(const vf_run_config *rc, const vf_encoder *enc, const int64_t *real_flows, vf_backend *be,
                            const char *run_dir, vf_run_log *L, vf_dp_budget *b) {
    const vf_run_privacy *P = &rc->privacy;
    memset(b, 0, sizeof *b);
    b->delta = P->delta;
    b->clip = P->clip;
    b->target = P->epsilon;
    b->chunks_per_flow = P->chunks_per_flow;
    int N = b->n_chunks = enc->n_chunks;
    b->q = calloc((size_t)N, sizeof *b->q);
    b->steps = calloc((size_t)N, sizeof *b->steps);
    if (!b->q || !b->steps) return vf_fail(VF_ERR_OOM, "out of memory");
    /* the model as it will train: its driver's plan, its batch, and a check
     * that every private network can be privatised */
    vf_flow_dims dims;
    vf_flow_dims_from_encoder(enc, &dims);
    vf_privacy_opts po = {.enabled = true, .clip = P->clip, .sigma = 0, .expected_batch = P->expected_batch};
    vf_flowmodel *f = NULL;
    VF_TRY(vf_flowmodel_open_private(rc->model, &dims, rc->settings, rc->n_settings, be, 1, &po, &f));
    vf_privacy_spent sp;
    vf_status st = vf_trainer_privacy(vf_flowmodel_trainer(f), &sp);
    vf_flowmodel_close(f);
    if (st) return st;
    b->plan = sp.plan;
    b->expected_batch = sp.expected_batch;
    b->batch_rows = sp.batch_rows;
    for (int c = 0; c < N; c++) {
        if (real_flows[c] == 0) continue;
        if ((double)real_flows[c] < b->expected_batch)
            return vf_fail(VF_ERR_ARG, "privacy: chunk %d has %lld flows, fewer than the expected batch %g: use fewer "
                           "chunks, or a smaller privacy.expected_batch", c + 1, (long long)real_flows[c],
                           b->expected_batch);
        b->q[c] = b->expected_batch / (double)real_flows[c];
        b->steps[c] = vf_run_chunk_iterations(rc, c) * b->plan.draws_per_iter;
    }
    /* sigma: recorded by an earlier start of this run, given, or calibrated */
    char path[4200];
    vf_run_path(path, sizeof path, run_dir, "privacy.txt");
    FILE *fp = fopen(path, "r");
    double recorded = 0;
    if (fp) {
        if (fscanf(fp, "sigma %lf", &recorded) != 1 || !(recorded > 0)) recorded = 0;
        fclose(fp);
    }
    if (recorded > 0) {
        b->sigma = recorded;
    } else if (P->sigma > 0) {
        b->sigma = P->sigma;
    } else {
        double lo = 1e-2, hi = 1e4;
        if (epsilon_of(b, hi, NULL) > P->epsilon)
            return vf_fail(VF_ERR_ARG, "privacy: epsilon %g at delta %g cannot be met: even noise multiplier %g spends "
                           "%g over %lld Poisson batches per chunk (q up to %g); train fewer iterations or use a "
                           "smaller expected batch", P->epsilon, P->delta, hi, epsilon_of(b, hi, NULL),
                           (long long)b->steps[0], b->q[0]);
        if (epsilon_of(b, lo, NULL) <= P->epsilon) hi = lo;
        for (int it = 0; it < 100 && hi / lo > 1 + 1e-9; it++) {
            double mid = sqrt(lo * hi);
            if (epsilon_of(b, mid, NULL) <= P->epsilon) hi = mid;
            else lo = mid;
        }
        b->sigma = hi;
    }
    b->planned = epsilon_of(b, b->sigma, NULL);
    if (P->epsilon > 0 && b->planned > P->epsilon * (1 + 1e-9))
        return vf_fail(VF_ERR_ARG, "privacy: this run would spend epsilon %.4g > the target %g with the noise it started "
                       "with (sigma %.6g, privacy.txt): it asks for more iterations than the budget was planned for",
                       b->planned, P->epsilon, b->sigma);
    if (!(recorded > 0)) {
        char txt[128];
        int n = snprintf(txt, sizeof txt, "sigma %.17g\n", b->sigma);
        VF_TRY(vf_run_write_text(path, txt, (size_t)n));
    }
    double qmax = 0;
    int64_t total = 0;
    for (int c = 0; c < N; c++) {
        if (b->q[c] > qmax) qmax = b->q[c];
        total += b->steps[c];
    }
    vf_run_say(L, VF_PHASE_TRAIN, -1, "privacy: unit %s (in at most %d chunk%s), delta %g, clip %g, Poisson batches of expected size %g in %lld "
               "rows (q up to %.4g), %lld batches in all, %d private update%s per batch (%s); noise multiplier %.4g "
               "(%s) -> epsilon %.4g", P->unit, b->chunks_per_flow, b->chunks_per_flow == 1 ? "" : "s", P->delta, P->clip, b->expected_batch, (long long)b->batch_rows, qmax,
               (long long)total, b->plan.runs_per_draw, b->plan.runs_per_draw == 1 ? "" : "s", b->plan.why, b->sigma,
               recorded > 0 ? "as recorded in privacy.txt" : P->sigma > 0 ? "given" : "calibrated", b->planned);
    return VF_OK;
}
