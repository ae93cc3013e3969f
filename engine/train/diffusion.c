/* Diffusion schedules, posteriors and embeddings (diffusion.h). */
#include "train/diffusion.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static vf_status alloc_schedule(int T, vf_diffusion_schedule *out) {
    memset(out, 0, sizeof *out);
    out->T = T;
    out->beta = calloc((size_t)T + 1, sizeof(double));
    out->keep = calloc((size_t)T + 1, sizeof(double));
    if (!out->beta || !out->keep) {
        vf_diffusion_schedule_free(out);
        return vf_fail(VF_ERR_OOM, "diffusion schedule: out of memory (T = %d)", T);
    }
    return VF_OK;
}

static void cumulate(vf_diffusion_schedule *s) {
    double k = 1.0;
    for (int t = 0; t <= s->T; t++) s->keep[t] = k *= 1.0 - s->beta[t];
}

vf_status vf_ddgan_schedule(int T, double beta_min, double beta_max, vf_diffusion_schedule *out) {
    if (T < 1 || T > 64) return vf_fail(VF_ERR_ARG, "ddgan schedule: T = %d, expected 1..64", T);
    if (!(beta_min > 0 && beta_max > beta_min))
        return vf_fail(VF_ERR_ARG, "ddgan schedule: need 0 < beta_min < beta_max (got %g, %g)", beta_min, beta_max);
    VF_TRY(alloc_schedule(T, out));
    const double eps = 1e-3;
    double prev = 0;
    for (int i = 0; i <= T; i++) {
        double t = eps + (1.0 - eps) * i / T;
        double abar = exp(-beta_min * t - 0.5 * (beta_max - beta_min) * t * t);
        /* the reference rounds betas to float32 before using them */
        out->beta[i] = i == 0 ? (double)1e-8f : (double)(float)(1.0 - abar / prev);
        prev = abar;
    }
    cumulate(out);
    return VF_OK;
}

vf_status vf_ddpm_schedule(int T, double beta_start, double beta_end, vf_diffusion_schedule *out) {
    if (T < 1 || T > 100000) return vf_fail(VF_ERR_ARG, "ddpm schedule: T = %d, expected 1..100000", T);
    if (!(beta_start > 0 && beta_end >= beta_start && beta_end < 1))
        return vf_fail(VF_ERR_ARG, "ddpm schedule: need 0 < beta_start <= beta_end < 1 (got %g, %g)", beta_start, beta_end);
    VF_TRY(alloc_schedule(T, out));
    for (int t = 1; t <= T; t++) out->beta[t] = T == 1 ? beta_start : beta_start + (beta_end - beta_start) * (t - 1) / (T - 1);
    cumulate(out);
    return VF_OK;
}

void vf_diffusion_schedule_free(vf_diffusion_schedule *s) {
    if (!s) return;
    free(s->beta);
    free(s->keep);
    memset(s, 0, sizeof *s);
}

void vf_ddgan_posterior(const vf_diffusion_schedule *s, int t, double *c1, double *c2, double *var) {
    /* products over beta[1..t+1]: the reference drops the dummy beta[0] here */
    double ab = 1.0, ab_prev = 1.0;
    for (int i = 1; i <= t + 1; i++) {
        ab_prev = ab;
        ab *= 1.0 - s->beta[i];
    }
    double b = s->beta[t + 1];
    *c1 = b * sqrt(ab_prev) / (1.0 - ab);
    *c2 = (1.0 - ab_prev) * sqrt(1.0 - b) / (1.0 - ab);
    double v = b * (1.0 - ab_prev) / (1.0 - ab);
    *var = t == 0 ? 0.0 : (v < 1e-20 ? 1e-20 : v);
}

void vf_ddim_coefs(const vf_diffusion_schedule *s, int t, int to, double eta, double *c_x0, double *c_eps, double *sd) {
    double kt = s->keep[t], ks = s->keep[to];
    double v = to <= 0 ? 0.0 : eta * eta * (1.0 - ks) / (1.0 - kt) * (1.0 - kt / ks);
    if (v < 0) v = 0;
    double rest = 1.0 - ks - v;
    *c_x0 = sqrt(ks);
    *c_eps = rest > 0 ? sqrt(rest) : 0.0;
    *sd = sqrt(v);
}

void vf_multinomial_posterior_f64(int K, const double *x_next, double a, const double *x0, double b, double *out) {
    double sum = 0;
    for (int k = 0; k < K; k++) sum += out[k] = (a * x_next[k] + (1.0 - a) / K) * (b * x0[k] + (1.0 - b) / K);
    for (int k = 0; k < K; k++) out[k] = sum > 0 ? out[k] / sum : 1.0 / K;
}

void vf_multinomial_posterior(int K, const float *x_next, double a, const float *x0, double b, float *out) {
    double sum = 0;
    for (int k = 0; k < K; k++) sum += (a * x_next[k] + (1.0 - a) / K) * (b * x0[k] + (1.0 - b) / K);
    for (int k = 0; k < K; k++) {
        double v = (a * x_next[k] + (1.0 - a) / K) * (b * x0[k] + (1.0 - b) / K);
        out[k] = (float)(sum > 0 ? v / sum : 1.0 / K);
    }
}

double vf_masked_reveal(double keep_s, double keep_t) {
    if (keep_t >= 1.0) return 1.0;
    double r = (keep_s - keep_t) / (1.0 - keep_t);
    return r < 0 ? 0 : r > 1 ? 1 : r;
}

void vf_time_embedding(double t, int E, float *out) {
    int h = E / 2;
    for (int k = 0; k < h; k++) {
        double f = exp(-log(10000.0) * k / (h > 1 ? h : 1));
        out[k] = (float)sin(t * f);
        out[h + k] = (float)cos(t * f);
    }
    if (E % 2) out[E - 1] = 0;
}
