/* The privacy accountant (privacy.h): RDP of the sampled Gaussian mechanism
 * and its conversion to (epsilon, delta), computed as Opacus's
 * opacus/accountants/analysis/rdp.py does (same series, same log-space sums,
 * same stopping rule), so that results agree to rounding
 * (tests/test_privacy.c against tests/golden/rdp_opacus*.csv). */
#include "train/privacy.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- grids */

void vf_rdp_init_orders(vf_rdp *r, int n, const double *alpha) {
    if (n < 0) n = 0;
    if (n > VF_RDP_MAX_ORDERS) n = VF_RDP_MAX_ORDERS;
    memset(r, 0, sizeof *r);
    r->n = n;
    for (int i = 0; i < n; i++) r->alpha[i] = alpha[i];
}

void vf_rdp_init_opacus(vf_rdp *r) {
    /* Opacus RDPAccountant.DEFAULT_ALPHAS: [1 + x / 10.0 for x in range(1, 100)]
     * + list(range(12, 64)); 1 + x / 10.0 rounds the same in C as in Python. */
    memset(r, 0, sizeof *r);
    for (int x = 1; x < 100; x++) r->alpha[r->n++] = 1.0 + x / 10.0;
    for (int x = 12; x < 64; x++) r->alpha[r->n++] = x;
}

void vf_rdp_init_wide(vf_rdp *r) {
    vf_rdp_init_opacus(r);
    double a = 64;
    while (a <= 1e5 && r->n < VF_RDP_MAX_ORDERS) {
        r->alpha[r->n++] = round(a);
        a *= 1.1;
    }
}

void vf_rdp_init_tfp(vf_rdp *r) {
    /* TF Privacy compute_dp_sgd_privacy_lib.compute_dp_sgd_privacy */
    static const double lo[] = {1.25, 1.5, 1.75, 2., 2.25, 2.5, 3., 3.5, 4., 4.5};
    memset(r, 0, sizeof *r);
    for (int i = 0; i < 10; i++) r->alpha[r->n++] = lo[i];
    for (int x = 5; x < 64; x++) r->alpha[r->n++] = x;
    r->alpha[r->n++] = 128;
    r->alpha[r->n++] = 256;
    r->alpha[r->n++] = 512;
}

/* ------------------------------------------------------ log-space sums */

/* log(exp(x) + exp(y)) */
static double log_add(double x, double y) {
    double a = x < y ? x : y, b = x < y ? y : x;
    if (a == -INFINITY) return b;
    return log1p(exp(a - b)) + b;
}

/* log(exp(x) - exp(y)), x >= y. Opacus raises when x < y (it never happens
 * for the series below); NaN here, and the order is then skipped by the
 * conversion. log(-expm1(y - x)) + x is Opacus's log(expm1(x - y)) + y
 * without its overflow branch. */
static double log_sub(double x, double y) {
    if (x < y) return NAN;
    if (y == -INFINITY) return x;
    if (x == y) return -INFINITY;
    return log(-expm1(y - x)) + x;
}

/* log(erfc(x)), accurate where erfc(x) underflows. Opacus uses
 * log(2) + scipy.special.log_ndtr(-x * sqrt(2)). glibc's erfc keeps full
 * relative precision down to its subnormal range (x ~ 26.5); past x = 20 the
 * asymptotic series erfc(x) = exp(-x^2)/(x sqrt(pi)) * sum_n (-1)^n
 * (2n-1)!!/(2x^2)^n is used instead (its terms fall below 1e-17 of the sum
 * within 20 terms there). */
static double log_erfc(double x) {
    if (x < 20) return log(erfc(x));
    double t = 1.0 / (2 * x * x), term = 1, sum = 1;
    for (int n = 1; n < 40; n++) {
        term *= -(2 * n - 1) * t;
        sum += term;
        if (fabs(term) < 1e-17 * sum) break;
    }
    return -x * x - log(x) - 0.5 * log(M_PI) + log(sum);
}

/* log |binom(alpha, k)| and its sign, for real alpha > 0 and integer k >= 0
 * (scipy.special.binom's value; lgamma gives log|Gamma| and its sign). */
static double log_abs_binom(double alpha, double k, int *sign) {
    int s1, s2, s3;
    double v = lgamma_r(alpha + 1, &s1) - lgamma_r(k + 1, &s2) - lgamma_r(alpha - k + 1, &s3);
    *sign = s1 * s2 * s3;
    return v;
}

/* ------------------------------------------------------- RDP of the SGM */

/* log(A_alpha) for integer alpha (MTZ section 3.3):
 * A = sum_{i=0}^{alpha} binom(alpha, i) (1-q)^(alpha-i) q^i exp((i^2 - i) / (2 sigma^2)). */
static double log_a_int(double q, double sigma, int alpha) {
    double log_a = -INFINITY;
    for (int i = 0; i <= alpha; i++) {
        int sign;
        double log_coef = log_abs_binom(alpha, i, &sign) + i * log(q) + (alpha - i) * log(1 - q);
        double s = log_coef + ((double)i * i - i) / (2 * (sigma * sigma));
        log_a = log_add(log_a, s);
    }
    return log_a;
}

/* log(A_alpha) for fractional alpha: the two integrals over (-inf, z0] and
 * [z0, inf) as erfc series, z0 = sigma^2 log(1/q - 1) + 1/2, summed until
 * both terms fall below exp(-30) (Opacus's rule). binom(alpha, i) changes
 * sign past i = floor(alpha) + 1: those terms are subtracted. */
static double log_a_frac(double q, double sigma, double alpha) {
    double log_a0 = -INFINITY, log_a1 = -INFINITY;
    double z0 = sigma * sigma * log(1 / q - 1) + 0.5;
    double s2 = sqrt(2) * sigma, two_var = 2 * (sigma * sigma);
    for (double i = 0;; i++) {
        int sign;
        double log_coef = log_abs_binom(alpha, i, &sign);
        double j = alpha - i;
        double log_t0 = log_coef + i * log(q) + j * log(1 - q);
        double log_t1 = log_coef + j * log(q) + i * log(1 - q);
        double log_e0 = log(0.5) + log_erfc((i - z0) / s2);
        double log_e1 = log(0.5) + log_erfc((z0 - j) / s2);
        double log_s0 = log_t0 + (i * i - i) / two_var + log_e0;
        double log_s1 = log_t1 + (j * j - j) / two_var + log_e1;
        if (sign > 0) {
            log_a0 = log_add(log_a0, log_s0);
            log_a1 = log_add(log_a1, log_s1);
        } else {
            log_a0 = log_sub(log_a0, log_s0);
            log_a1 = log_sub(log_a1, log_s1);
        }
        if (isnan(log_a0) || isnan(log_a1)) return NAN;
        /* NaN terms (they do not occur for valid inputs) must not loop */
        if (!(fmax(log_s0, log_s1) >= -30)) break;
    }
    return log_add(log_a0, log_a1);
}

double vf_rdp_sgm(double q, double sigma, double alpha) {
    if (!(q >= 0 && q <= 1) || !(sigma >= 0) || !(alpha > 1)) {
        vf_fail(VF_ERR_ARG, "privacy: RDP of the sampled Gaussian mechanism needs 0 <= q <= 1, sigma >= 0 "
                "and order > 1, not q %g, sigma %g, order %g", q, sigma, alpha);
        return NAN;
    }
    if (q == 0) return 0;
    if (sigma == 0) return INFINITY;
    if (q == 1) return alpha / (2 * (sigma * sigma));
    if (isinf(alpha)) return INFINITY;
    double log_a;
    if (alpha == floor(alpha) && alpha < 2147483647.0) log_a = log_a_int(q, sigma, (int)alpha);
    else log_a = log_a_frac(q, sigma, alpha);
    return log_a / (alpha - 1);
}

void vf_rdp_add_sgm(vf_rdp *r, double q, double sigma, double steps) {
    if (steps == 0) return;
    for (int i = 0; i < r->n; i++) r->rdp[i] += steps * vf_rdp_sgm(q, sigma, r->alpha[i]);
}

void vf_rdp_add_gaussian(vf_rdp *r, double sigma, double count) {
    vf_rdp_add_sgm(r, 1, sigma, count);
}

void vf_rdp_add(vf_rdp *r, const vf_rdp *other) {
    bool same = r->n == other->n;
    for (int i = 0; same && i < r->n; i++) same = r->alpha[i] == other->alpha[i];
    if (!same) {
        vf_fail(VF_ERR_ARG, "privacy: composing RDP curves over different orders (%d and %d orders)",
                r->n, other->n);
        for (int i = 0; i < r->n; i++) r->rdp[i] = NAN;
        return;
    }
    for (int i = 0; i < r->n; i++) r->rdp[i] += other->rdp[i];
}

/* ---------------------------------------------------------- conversion */

static double convert(const vf_rdp *r, double delta, double *best_alpha, bool classic) {
    if (best_alpha) *best_alpha = NAN;
    if (!(delta > 0 && delta < 1)) {
        vf_fail(VF_ERR_ARG, "privacy: delta must be in (0, 1), not %g", delta);
        return NAN;
    }
    if (r->n <= 0) {
        vf_fail(VF_ERR_ARG, "privacy: no RDP orders to convert");
        return NAN;
    }
    double best = NAN, ba = NAN;
    for (int i = 0; i < r->n; i++) {
        double a = r->alpha[i], e;
        if (classic) e = r->rdp[i] - log(delta) / (a - 1);
        else e = r->rdp[i] - (log(delta) + log(a)) / (a - 1) + log((a - 1) / a);
        if (isnan(e)) continue;
        if (isnan(best) || e < best) {
            best = e;
            ba = a;
        }
    }
    if (isnan(best)) return INFINITY;
    if (best_alpha) *best_alpha = ba;
    return best;
}

double vf_rdp_epsilon(const vf_rdp *r, double delta, double *best_alpha) {
    return convert(r, delta, best_alpha, false);
}

double vf_rdp_epsilon_classic(const vf_rdp *r, double delta, double *best_alpha) {
    return convert(r, delta, best_alpha, true);
}

/* ---------------------------------------------------------- calibration */

/* The calibration's question: epsilon of steps * k SGM(q, sigma) steps on
 * the grid's orders. */
typedef struct calib {
    const vf_rdp *grid;
    bool classic;
    double q, steps, delta;
    int k;
} calib;

static double eps_for(const calib *c, double sigma) {
    vf_rdp r;
    vf_rdp_init_orders(&r, c->grid->n, c->grid->alpha);
    vf_rdp_add_sgm(&r, c->q, sigma, c->steps * c->k);
    return c->classic ? vf_rdp_epsilon_classic(&r, c->delta, NULL) : vf_rdp_epsilon(&r, c->delta, NULL);
}

#define SIGMA_MAX 1e4

vf_status vf_rdp_calibrate_sigma_grid(const vf_rdp *grid, bool classic, double q, double steps,
                                      int mechanisms_per_step, double delta, double target_epsilon,
                                      double *sigma) {
    if (!sigma) return vf_fail(VF_ERR_ARG, "privacy calibration: NULL sigma");
    *sigma = NAN;
    if (!(q >= 0 && q <= 1))
        return vf_fail(VF_ERR_ARG, "privacy calibration: sampling rate q must be in [0, 1], not %g", q);
    if (!(steps >= 0) || isinf(steps))
        return vf_fail(VF_ERR_ARG, "privacy calibration: steps must be a finite number >= 0, not %g", steps);
    if (mechanisms_per_step < 1)
        return vf_fail(VF_ERR_ARG, "privacy calibration: mechanisms per step must be >= 1, not %d",
                       mechanisms_per_step);
    if (!(delta > 0 && delta < 1))
        return vf_fail(VF_ERR_ARG, "privacy calibration: delta must be in (0, 1), not %g", delta);
    if (!(target_epsilon > 0) || isinf(target_epsilon))
        return vf_fail(VF_ERR_ARG, "privacy calibration: target epsilon must be a finite number > 0, not %g",
                       target_epsilon);
    if (!grid || grid->n <= 0) return vf_fail(VF_ERR_ARG, "privacy calibration: no RDP orders");
    for (int i = 0; i < grid->n; i++)
        if (!(grid->alpha[i] > 1))
            return vf_fail(VF_ERR_ARG, "privacy calibration: RDP order %g is not > 1", grid->alpha[i]);
    calib c = {grid, classic, q, steps, delta, mechanisms_per_step};
    /* Nothing read, or nothing released: every sigma spends only the
     * conversion's floor (the rdp is 0). */
    if (q == 0 || steps == 0) {
        calib c0 = c;
        c0.q = 0;
        double floor_eps = eps_for(&c0, 1);
        if (floor_eps <= target_epsilon) {
            *sigma = 0;
            return VF_OK;
        }
        return vf_fail(VF_ERR_ARG, "privacy calibration: epsilon %g at delta %g is below %g, the least the "
                       "conversion gives on these orders even with no release", target_epsilon, delta,
                       floor_eps);
    }
    double hi = SIGMA_MAX, e_hi = eps_for(&c, hi);
    if (!(e_hi <= target_epsilon))
        return vf_fail(VF_ERR_ARG, "privacy calibration: no noise multiplier up to %g meets epsilon %g at delta %g "
                       "for q %g, %g steps, %d mechanism(s) per step (sigma %g gives epsilon %g)", SIGMA_MAX,
                       target_epsilon, delta, q, steps, mechanisms_per_step, hi, e_hi);
    /* Bracket: lo fails, hi meets (epsilon falls as sigma grows: the RDP at
     * every order does). Then bisect in log space to 1e-5 relative, tighter
     * than the promised 1e-4. */
    double lo = hi / 2;
    while (eps_for(&c, lo) <= target_epsilon) {
        hi = lo;
        lo /= 2;
        if (lo < 1e-6) {
            *sigma = hi;
            return VF_OK;
        }
    }
    while (hi / lo > 1 + 1e-5) {
        double mid = sqrt(lo * hi);
        if (eps_for(&c, mid) <= target_epsilon) hi = mid;
        else lo = mid;
    }
    *sigma = hi;
    return VF_OK;
}

vf_status vf_rdp_calibrate_sigma(double q, double steps, int mechanisms_per_step, double delta,
                                 double target_epsilon, double *sigma) {
    vf_rdp grid;
    vf_rdp_init_opacus(&grid);
    return vf_rdp_calibrate_sigma_grid(&grid, false, q, steps, mechanisms_per_step, delta, target_epsilon, sigma);
}

vf_status vf_rdp_calibrate_gaussian(double count, double delta, double target_epsilon, double *sigma) {
    vf_rdp grid;
    vf_rdp_init_wide(&grid);
    return vf_rdp_calibrate_sigma_grid(&grid, false, 1, count, 1, delta, target_epsilon, sigma);
}
