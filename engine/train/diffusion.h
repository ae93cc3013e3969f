/* Diffusion arithmetic shared by the ddgan and ddpm drivers, on the host and
 * in float64 (../shared/REFERENCE.md section 3): noise schedules, the
 * Gaussian posterior coefficients, and the discrete processes for
 * categorical columns (multinomial, TabDDPM; masked/absorbing, MDLM/TabDiff).
 * No backend, no model: tests check it against float64 references.
 *
 * Index conventions follow the reference code of each model:
 *
 *   ddgan  (DDGAN train_ddgan.py) steps t = 0..T-1. beta[0] = 1e-8 is a dummy,
 *          beta[1..T] from the VP grid. A training pair is x_t ~ q(x_t | x_0)
 *          with keep[t] = prod_{s=0..t} (1 - beta[s]) (x_t = sqrt(keep) x_0 +
 *          sqrt(1 - keep) n), then x_{t+1} = sqrt(1 - beta[t+1]) x_t +
 *          sqrt(beta[t+1]) n'. The generator sees (x_{t+1}, t) and the
 *          posterior q(x_t | x_{t+1}, x_0) of index t uses beta[t+1] and the
 *          products over beta[1..] (vf_ddgan_posterior).
 *   ddpm   (Ho et al.) steps t = 1..T, beta[1..T] linear, beta[0] = 0,
 *          keep[t] = prod_{s=1..t} (1 - beta[s]), keep[0] = 1.
 *
 * keep[t] (alpha-bar) is also the categorical processes' "still clean"
 * probability: multinomial q(x_t | x_0) = Cat(keep x_0 + (1 - keep) / K),
 * masked q(x_t | x_0) = keep onehot(x_0) + (1 - keep) onehot(mask). */
#ifndef VKFLOW_TRAIN_DIFFUSION_H
#define VKFLOW_TRAIN_DIFFUSION_H

#include "vkflow.h"

typedef struct vf_diffusion_schedule {
    int T;
    double *beta;   /* [T + 1] */
    double *keep;   /* [T + 1]: cumulative products, see above */
} vf_diffusion_schedule;

/* DDGAN's VP schedule on T steps (1 <= T <= 64): grid t_i = eps + (1 - eps) i / T,
 * eps = 1e-3, alpha-bar(t) = exp(-beta_min t - (beta_max - beta_min) t^2 / 2),
 * beta_i = 1 - alpha-bar(t_i) / alpha-bar(t_{i-1}); defaults 0.1 and 20. */
vf_status vf_ddgan_schedule(int T, double beta_min, double beta_max, vf_diffusion_schedule *out);
/* DDPM's linear schedule: beta from beta_start to beta_end over T steps. */
vf_status vf_ddpm_schedule(int T, double beta_start, double beta_end, vf_diffusion_schedule *out);
void vf_diffusion_schedule_free(vf_diffusion_schedule *s);

/* DDGAN's Gaussian posterior q(x_t | x_{t+1}, x_0) = N(c1 x_0 + c2 x_{t+1}, var)
 * at step t in [0, T): var is the clamped posterior variance (0 at t = 0:
 * the last step adds no noise). */
void vf_ddgan_posterior(const vf_diffusion_schedule *s, int t, double *c1, double *c2, double *var);

/* DDIM's step from t to s < t (ddpm indexing) given x0 and eps estimates:
 * x_s = sqrt(keep_s) x0 + sqrt(1 - keep_s - sd^2) eps + sd z with
 * sd = eta sqrt((1 - keep_s) / (1 - keep_t)) sqrt(1 - keep_t / keep_s).
 * eta = 1 with s = t - 1 is DDPM's ancestral step (sigma^2 = beta-tilde). */
void vf_ddim_coefs(const vf_diffusion_schedule *s, int t, int to, double eta, double *c_x0, double *c_eps,
                   double *sd);

/* Multinomial posterior of one K-class column: out[k] proportional to
 * (a x_next[k] + (1 - a) / K) (b x0[k] + (1 - b) / K), normalised to sum 1,
 * with a the one-step keep of x_next's step and b the cumulative keep of the
 * target step (1 for the clean data). x_next may be one-hot or a probability
 * vector, x0 a probability vector. float64 for the tests; float for drivers. */
void vf_multinomial_posterior_f64(int K, const double *x_next, double a, const double *x0, double b, double *out);
void vf_multinomial_posterior(int K, const float *x_next, double a, const float *x0, double b, float *out);

/* Masked (absorbing) diffusion: the probability that a value masked at step
 * t is revealed at step s < t, (keep_s - keep_t) / (1 - keep_t) (1 when
 * keep_t = 1). */
double vf_masked_reveal(double keep_s, double keep_t);

/* Sinusoidal embedding of step t into E columns (E even; E/2 frequencies
 * 10000^(-k / (E/2)), sines then cosines), as DDPM and DDGAN embed time. */
void vf_time_embedding(double t, int E, float *out);

#endif
