/* The privacy accountant (docs/PRIVACY.md, "The accountant"): Renyi
 * differential privacy (RDP) of the sampled Gaussian mechanism (SGM), its
 * composition, and conversion to (epsilon, delta). Numbers as Opacus
 * computes them (opacus/accountants/analysis/rdp.py, itself TF Privacy's
 * rdp_accountant.py): Mironov, Talwar, Zhang, arXiv 1908.10530 for the RDP
 * of one step; Balle et al. 2020 Thm 21 (arXiv 1905.09982) for the
 * conversion; the classic conversion (Mironov 2017) for information.
 *
 * An RDP curve is a value per order alpha on a fixed grid; independent
 * mechanisms compose by adding their curves order by order (T steps of one
 * mechanism: T times its curve), and epsilon is the minimum over the grid of
 * the conversion. The grid must be the same for everything composed into one
 * curve (vf_rdp_add checks it).
 *
 * Invalid numbers (q outside [0, 1], sigma < 0, alpha <= 1, delta outside
 * (0, 1), NaN anywhere) give NaN from the double-valued functions, with
 * vf_last_error() saying which; nothing here allocates or fails otherwise. */
#ifndef VKFLOW_TRAIN_PRIVACY_H
#define VKFLOW_TRAIN_PRIVACY_H

#include "vkflow.h"

#define VF_RDP_MAX_ORDERS 256
typedef struct vf_rdp {            /* RDP curve over a grid of orders, composed additively */
    int n;
    double alpha[VF_RDP_MAX_ORDERS];
    double rdp[VF_RDP_MAX_ORDERS];
} vf_rdp;

/* Opacus's default orders {1 + x/10 : x = 1..99} U {12..63} (151 orders),
 * every rdp 0. */
void vf_rdp_init_opacus(vf_rdp *r);
/* TF Privacy's compute_dp_sgd_privacy orders {1.25, 1.5, 1.75, 2, 2.25, 2.5,
 * 3, 3.5, 4, 4.5} U {5..63} U {128, 256, 512} (72 orders), every rdp 0. */
void vf_rdp_init_tfp(vf_rdp *r);
/* Opacus's orders and 78 more from 64 up to 1e5 (64 * 1.1^k, rounded to
 * integers; 229 orders): for mechanisms without sampling (the DP marginals
 * baseline), whose best order for a small epsilon lies far above 63 (18
 * Gaussian releases at epsilon 0.1, delta 1e-5: about order 250). */
void vf_rdp_init_wide(vf_rdp *r);
/* The n orders alpha[0..n) (n is clamped to 0..VF_RDP_MAX_ORDERS), rdp 0.
 * Orders must be > 1 (an order <= 1 gives NaN wherever it is used). */
void vf_rdp_init_orders(vf_rdp *r, int n, const double *alpha);

/* RDP at order alpha of one step of the sampled Gaussian mechanism (Poisson
 * rate q, noise multiplier sigma = noise std / L2 sensitivity): integer and
 * fractional alpha (Mironov-Talwar-Zhang; Opacus analysis/rdp.py),
 * q == 0 -> 0, q == 1 -> alpha / (2 sigma^2), sigma == 0 -> +inf (checked in
 * that order, as Opacus does), alpha == +inf -> +inf. */
double vf_rdp_sgm(double q, double sigma, double alpha);
/* Adds `steps` compositions of the SGM(q, sigma) to every order (steps == 0
 * adds nothing, even where one step would be +inf). */
void vf_rdp_add_sgm(vf_rdp *r, double q, double sigma, double steps);
/* The Gaussian mechanism without sampling (q = 1) releasing a vector of L2
 * sensitivity 1 with noise std sigma, composed `count` times:
 * count * alpha / (2 sigma^2). Helper for the DP marginals baseline. */
void vf_rdp_add_gaussian(vf_rdp *r, double sigma, double count);
/* Same grid: per-order sum into r. A different grid sets every rdp of r to
 * NaN (and vf_last_error says so): the curves cannot be composed. */
void vf_rdp_add(vf_rdp *r, const vf_rdp *other);

/* (epsilon, delta): Balle et al. 2020 Thm 21 as Opacus's get_privacy_spent,
 *     eps = min_alpha rdp(alpha) + log((alpha-1)/alpha) - (log delta + log alpha)/(alpha-1),
 * and the classic conversion (Mironov 2017; TF Privacy before 2020, Abadi et
 * al.'s moments accountant)
 *     eps = min_alpha rdp(alpha) + log(1/delta)/(alpha-1).
 * NaN orders are skipped (numpy's nanargmin); the first minimising order
 * wins ties; *best_alpha (may be NULL) gets it. All orders NaN: +inf with
 * best alpha NaN. delta outside (0, 1) or an empty grid: NaN. Not clamped
 * at 0 (Opacus does not clamp either). */
double vf_rdp_epsilon(const vf_rdp *r, double delta, double *best_alpha);
double vf_rdp_epsilon_classic(const vf_rdp *r, double delta, double *best_alpha);

/* Independent samples or one sample: K mechanisms that each draw their OWN
 * Poisson sample compose as K SGM(q, sigma) (mechanisms_per_step = K below).
 * K updates that read the SAME sample (one batch, K gradient releases on it,
 * e.g. a diffusion GAN's D and G steps on one batch) are one SGM with noise
 * multiplier sigma / sqrt(K) (REFERENCE 4.1): that costs more (q 0.01,
 * sigma 1.1, 1e4 steps, delta 1e-5, K = 2: epsilon 11.74 against 8.37), so
 * account that case as vf_rdp_add_sgm(r, q, sigma / sqrt(K), steps), and
 * calibrate it with mechanisms_per_step = 1 and multiply the sigma found by
 * sqrt(K). */

/* Smallest noise multiplier sigma (to 1e-4 relative: the returned sigma
 * meets the target and sigma * (1 - 1e-4) does not) such that `steps`
 * SGM(q, sigma) steps, with `mechanisms_per_step` independent such
 * mechanisms per step, each at rate q, composed, spend at most
 * target_epsilon at delta (Balle conversion) on the Opacus grid. q == 0
 * (nothing is ever read) gives sigma 0 when the conversion's floor meets the
 * target. VF_ERR_ARG with the numbers in the message for invalid arguments
 * or when no sigma <= 1e4 meets the target. */
vf_status vf_rdp_calibrate_sigma(double q, double steps, int mechanisms_per_step, double delta,
                                 double target_epsilon, double *sigma);
/* The same on any grid (grid's orders; its rdp values are ignored), with
 * the Balle conversion or, classic == true, the classic one. */
vf_status vf_rdp_calibrate_sigma_grid(const vf_rdp *grid, bool classic, double q, double steps,
                                      int mechanisms_per_step, double delta, double target_epsilon,
                                      double *sigma);
/* The same for `count` Gaussian mechanisms without sampling (q = 1, L2
 * sensitivity 1, noise std sigma each) on the wide grid (vf_rdp_init_wide),
 * Balle conversion: the noise of the DP marginals baseline. */
vf_status vf_rdp_calibrate_gaussian(double count, double delta, double target_epsilon, double *sigma);

#endif
