/* The diffusion drivers (engine/train/driver_diffusion.c) and their
 * arithmetic (engine/train/diffusion.c):
 *   - DDGAN's VP schedule and posterior against ../shared/REFERENCE.md's T = 4
 *     vector and against a direct float64 computation for other T;
 *   - the multinomial posterior sums to 1 and matches float64; DDIM's eta = 1
 *     step is DDPM's posterior variance;
 *   - R1 restricted to a part of D's input (`wrt`) splits the full R1 exactly;
 *   - toy problems a trained model solves and an untrained one does not: a
 *     2-D mixture (continuous columns) and a 3-class categorical (masked and
 *     multinomial processes), for ddgan and ddpm, on cpu; the first
 *     iterations agree on cpu and vk; a resumed run is bit-identical. */
#include "train/diffusion.h"
#include "train/trainer.h"
#include "testutil.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOY_DDGAN VKFLOW_SOURCE_DIR "/tests/diffusion/toy_ddgan.cfg"
#define TOY_DDPM VKFLOW_SOURCE_DIR "/tests/diffusion/toy_ddpm.cfg"

/* ------------------------------------------------------------ arithmetic */

Test(diffusion, ddgan_schedule_and_posterior_match_the_reference_vector) {
    vf_diffusion_schedule s;
    TU_OK(vf_ddgan_schedule(4, 0.1, 20, &s));
    /* REFERENCE 3.1: beta_1..4 = [0.4783, 0.8492, 0.9564, 0.9874], alpha-bar_T ~ 4.32e-5 */
    const double beta[4] = {0.4783, 0.8492, 0.9564, 0.9874};
    for (int i = 0; i < 4; i++) cr_expect_lt(fabs(s.beta[i + 1] - beta[i]), 1e-4, "beta_%d = %.6f", i + 1, s.beta[i + 1]);
    cr_expect_lt(fabs(s.keep[4] / 4.32e-5 - 1), 0.01, "alpha-bar_T = %.4g", s.keep[4]);
    /* REFERENCE 3.2: (c1, c2, beta-tilde) by code index */
    const double ref[4][3] = {{1, 0, 0}, {0.6658, 0.2016, 0.4408}, {0.2692, 0.1930, 0.8842}, {0.0578, 0.1119, 0.9841}};
    for (int t = 0; t < 4; t++) {
        double c1, c2, var;
        vf_ddgan_posterior(&s, t, &c1, &c2, &var);
        cr_expect_lt(fabs(c1 - ref[t][0]), 1e-4, "t = %d: c1 %.6f", t, c1);
        cr_expect_lt(fabs(c2 - ref[t][1]), 1e-4, "t = %d: c2 %.6f", t, c2);
        cr_expect_lt(fabs(var - ref[t][2]), 1e-4, "t = %d: var %.6f", t, var);
    }
    vf_diffusion_schedule_free(&s);
}

/* The posterior straight from its definition in float64 for other T: the
 * mean coefficients are those of the Gaussian product q(x_{t+1} | x_t) q(x_t | x_0)
 * (Bishop 2.116), computed here without the closed form. */
Test(diffusion, ddgan_posterior_matches_float64_for_other_T) {
    for (int T = 1; T <= 8; T++) {
        vf_diffusion_schedule s;
        TU_OK(vf_ddgan_schedule(T, 0.1, 20, &s));
        for (int t = 0; t < T; t++) {
            double ab_prev = 1, ab;
            for (int i = 1; i <= t; i++) ab_prev *= 1 - s.beta[i];
            ab = ab_prev * (1 - s.beta[t + 1]);
            /* x_t ~ N(sqrt(ab_prev) x0, 1 - ab_prev); x_{t+1} | x_t ~ N(sqrt(a) x_t, beta) */
            double a = 1 - s.beta[t + 1], v0 = 1 - ab_prev, vb = s.beta[t + 1];
            double prec = 1 / v0 + a / vb, var = 1 / prec;
            double c1 = var * sqrt(ab_prev) / v0, c2 = var * sqrt(a) / vb;
            if (t == 0) { c1 = 1; c2 = 0; var = 0; }   /* x_0 itself (v0 = 0) */
            (void)ab;
            double e1, e2, ev;
            vf_ddgan_posterior(&s, t, &e1, &e2, &ev);
            cr_expect_lt(fabs(e1 - c1), 1e-9, "T %d t %d: c1 %.12f vs %.12f", T, t, e1, c1);
            cr_expect_lt(fabs(e2 - c2), 1e-9, "T %d t %d: c2 %.12f vs %.12f", T, t, e2, c2);
            cr_expect_lt(fabs(ev - var), 1e-9, "T %d t %d: var %.12f vs %.12f", T, t, ev, var);
        }
        vf_diffusion_schedule_free(&s);
    }
}

Test(diffusion, multinomial_posterior_sums_to_one_and_matches_float64) {
    tu_rng g = tu_rng_make(7);
    for (int trial = 0; trial < 200; trial++) {
        int K = 1 + trial % 40;
        float xn[40], x0[40], out[40];
        double xn64[40], x064[40], ref[40];
        double s0 = 0;
        int hot = (int)(tu_uniform(&g, 0, 1) * K) % K;
        for (int k = 0; k < K; k++) {
            xn[k] = k == hot ? 1.0f : 0.0f;   /* x_{t+1} is a draw */
            x0[k] = tu_uniform(&g, 0.001f, 1);
            s0 += x0[k];
        }
        for (int k = 0; k < K; k++) {
            x0[k] = (float)(x0[k] / s0);
            xn64[k] = xn[k];
            x064[k] = x0[k];
        }
        double a = tu_uniform(&g, 0, 1), b = tu_uniform(&g, 0, 1);
        vf_multinomial_posterior(K, xn, a, x0, b, out);
        vf_multinomial_posterior_f64(K, xn64, a, x064, b, ref);
        double sum = 0;
        for (int k = 0; k < K; k++) {
            sum += out[k];
            /* the definition, term by term */
            double num = (a * xn64[k] + (1 - a) / K) * (b * x064[k] + (1 - b) / K), den = 0;
            for (int j = 0; j < K; j++) den += (a * xn64[j] + (1 - a) / K) * (b * x064[j] + (1 - b) / K);
            cr_expect_lt(fabs(ref[k] - num / den), 1e-12);
            cr_expect_lt(fabs(out[k] - ref[k]), 1e-6, "K %d class %d: %.8f vs %.8f", K, k, out[k], ref[k]);
        }
        cr_expect_lt(fabs(sum - 1), 1e-5, "K %d: sums to %.8f", K, sum);
    }
    /* no step noise (a = 1): the posterior is x_{t+1} itself */
    float xn[3] = {0, 1, 0}, x0[3] = {0.2f, 0.3f, 0.5f}, out[3];
    vf_multinomial_posterior(3, xn, 1.0, x0, 0.7, out);
    cr_expect(out[0] == 0 && fabs(out[1] - 1) < 1e-7 && out[2] == 0);
}

Test(diffusion, ddim_with_eta_one_is_the_ddpm_posterior) {
    vf_diffusion_schedule s;
    TU_OK(vf_ddpm_schedule(1000, 1e-4, 0.02, &s));
    cr_expect_lt(fabs(s.keep[1000] / 4.04e-5 - 1), 0.02, "alpha-bar_T %.4g", s.keep[1000]);
    for (int t = 2; t <= 1000; t += 97) {
        double cx, ce, sd;
        vf_ddim_coefs(&s, t, t - 1, 1.0, &cx, &ce, &sd);
        double tilde = s.beta[t] * (1 - s.keep[t - 1]) / (1 - s.keep[t]);
        cr_expect_lt(fabs(sd * sd - tilde), 1e-12, "t %d: sd^2 %.10g, beta-tilde %.10g", t, sd * sd, tilde);
        /* the same step's mean: the posterior's c1 x0 + c2 x_t with eps = (x_t - sqrt(kt) x0) / sqrt(1 - kt) */
        double kt = s.keep[t], c1 = s.beta[t] * sqrt(s.keep[t - 1]) / (1 - kt);
        double c2 = (1 - s.keep[t - 1]) * sqrt(1 - s.beta[t]) / (1 - kt);
        double m_x0 = cx - ce * sqrt(kt) / sqrt(1 - kt), m_xt = ce / sqrt(1 - kt);
        cr_expect_lt(fabs(m_x0 - c1), 1e-9, "t %d", t);
        cr_expect_lt(fabs(m_xt - c2), 1e-9, "t %d", t);
    }
    double cx, ce, sd;
    vf_ddim_coefs(&s, 500, 0, 1.0, &cx, &ce, &sd);   /* the last step lands on x0 */
    cr_expect(fabs(cx - 1) < 1e-12 && ce == 0 && sd == 0);
    cr_expect_eq(vf_masked_reveal(0.5, 1.0), 1.0);
    cr_expect_lt(fabs(vf_masked_reveal(0.9, 0.3) - 6.0 / 7.0), 1e-12);
    vf_diffusion_schedule_free(&s);
}

/* ------------------------------------------------------------------ toys */

#define N_DATA 4096
typedef struct toy { int width; float x[N_DATA * 3]; } toy;

static void toy_fill(void *user, int64_t i, int field, float *dst) {
    (void)field;
    const toy *d = user;
    memcpy(dst, d->x + i * d->width, (size_t)d->width * sizeof(float));
}
static const vf_data_field f2[1] = {{"real_attr", 2}}, f3[1] = {{"real_attr", 3}};

/* 4 Gaussians of std 0.05 at (+-0.5, +-0.5) in one tanh segment. */
#define STD 0.05
#define NEAR 0.2
static toy *mixture(void) {
    toy *d = calloc(1, sizeof *d);
    d->width = 2;
    tu_rng g = tu_rng_make(3);
    for (int i = 0; i < N_DATA; i++) {
        int k = (int)(tu_uniform(&g, 0, 1) * 4) % 4;
        double u1 = tu_uniform(&g, 0, 1) + 1e-7, u2 = tu_uniform(&g, 0, 1);
        double r = STD * sqrt(-2 * log(u1)), th = 2 * M_PI * u2;
        d->x[2 * i] = (float)((k & 1 ? 0.5 : -0.5) + r * cos(th));
        d->x[2 * i + 1] = (float)((k & 2 ? 0.5 : -0.5) + r * sin(th));
    }
    return d;
}

/* One 3-class column with probabilities 0.6, 0.3, 0.1. */
static const double CLASS_P[3] = {0.6, 0.3, 0.1};
static toy *categorical(void) {
    toy *d = calloc(1, sizeof *d);
    d->width = 3;
    tu_rng g = tu_rng_make(4);
    for (int i = 0; i < N_DATA; i++) {
        float u = tu_uniform(&g, 0, 1);
        int k = u < CLASS_P[0] ? 0 : u < CLASS_P[0] + CLASS_P[1] ? 1 : 2;
        d->x[3 * i + k] = 1;
    }
    return d;
}

static vf_trainer *open_toy(const char *model, vf_backend *be, toy *d, vf_dataset *ds, const char *cat, uint64_t seed) {
    vf_head_seg seg = d->width == 2 ? (vf_head_seg){0, 2, VF_HEAD_TANH} : (vf_head_seg){0, 3, VF_HEAD_SOFTMAX};
    vf_head_table tb = {"attr", 1, &seg};
    vf_dim dim = {"attr_dim", d->width};
    vf_setting set[1] = {{"training.categorical", cat, "test"}};
    vf_trainer_opts o = {.model = model, .be = be, .seed = seed};
    o.env = (vf_model_env){.dims = &dim, .n_dims = 1, .heads = &tb, .n_heads = 1, .settings = set, .n_settings = cat ? 1 : 0};
    vf_trainer *t = NULL;
    TU_OK(vf_trainer_open(&o, &t));
    *ds = (vf_dataset){N_DATA, 1, d->width == 2 ? f2 : f3, toy_fill, d};
    TU_OK(vf_trainer_bind(t, ds));
    return t;
}

/* n samples [n, width] from the reverse chain (caller frees). */
static float *draw_samples(vf_trainer *t, int width, int n) {
    int p = vf_trainer_program(t, "sample");
    cr_assert_geq(p, 0);
    int64_t B = vf_model_dim(vf_trainer_model(t), "batch", 0), runs = (n + B - 1) / B;
    const char *out = !strcmp(vf_trainer_algorithm(t), "ddpm") ? "h" : "x0hat";
    float *x = malloc((size_t)(runs * B * width) * sizeof(float));
    TU_OK(vf_trainer_sample_begin(t, 11));
    for (int64_t r = 0; r < runs; r++) {
        TU_OK(vf_trainer_sample(t, p));
        TU_OK(vf_trainer_read(t, p, out, x + r * B * width, (size_t)(B * width) * sizeof(float)));
    }
    vf_trainer_sample_end(t);
    return x;
}

typedef struct mix_q { double near, min_share; } mix_q;
static mix_q mixture_quality(const float *x, int n) {
    int hits[4] = {0};
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 4; k++) {
            double dx = x[2 * i] - (k & 1 ? 0.5 : -0.5), dy = x[2 * i + 1] - (k & 2 ? 0.5 : -0.5);
            if (dx * dx + dy * dy < NEAR * NEAR) hits[k]++;
        }
    mix_q q = {0, 1};
    for (int k = 0; k < 4; k++) {
        q.near += (double)hits[k] / n;
        q.min_share = fmin(q.min_share, (double)hits[k] / n);
    }
    return q;
}

/* total variation between the sampled class frequencies and CLASS_P; every
 * sample must be one-hot */
static double class_tv(const float *x, int n) {
    double c[3] = {0};
    for (int i = 0; i < n; i++) {
        int on = 0, k = 0;
        for (int j = 0; j < 3; j++)
            if (x[3 * i + j] == 1.0f) { on++; k = j; }
            else cr_assert_eq(x[3 * i + j], 0.0f, "sample %d is not one-hot", i);
        cr_assert_eq(on, 1, "sample %d is not one-hot", i);
        c[k] += 1.0 / n;
    }
    return 0.5 * (fabs(c[0] - CLASS_P[0]) + fabs(c[1] - CLASS_P[1]) + fabs(c[2] - CLASS_P[2]));
}

static void train(vf_trainer *t, int iters) {
    vf_metrics ms;
    double t0 = vf_now_s();
    for (int i = 0; i < iters; i++) TU_OK(vf_trainer_step(t, &ms));
    char buf[256];
    cr_log_info("%s: %d iterations in %.1f s, last: %s", vf_trainer_algorithm(t), iters, vf_now_s() - t0,
                vf_metrics_format(&ms, buf, sizeof buf));
}

/* The mixture. Bounds from the runs logged below (cpu, seed 1): untrained
 * near < 0.2; trained (ddgan 1500 iterations, ddpm 1500) near >= 0.6 with
 * every mode holding at least 10% of the samples. */
static void learns_mixture(const char *model, int iters) {
    toy *d = mixture();
    vf_dataset ds;
    vf_trainer *t = open_toy(model, tu_cpu(), d, &ds, NULL, 1);
    float *x = draw_samples(t, 2, 2048);
    mix_q q0 = mixture_quality(x, 2048);
    free(x);
    train(t, iters);
    x = draw_samples(t, 2, 2048);
    mix_q q = mixture_quality(x, 2048);
    free(x);
    cr_log_info("%s mixture: untrained near %.3f min share %.3f; trained near %.3f min share %.3f", model, q0.near,
                q0.min_share, q.near, q.min_share);
    cr_expect_lt(q0.near, 0.3, "untrained: near %.3f", q0.near);
    cr_expect_geq(q.near, 0.6, "trained: near %.3f", q.near);
    cr_expect_geq(q.min_share, 0.10, "trained: least-visited mode %.3f", q.min_share);
    vf_trainer_close(t);
    free(d);
}

Test(diffusion, ddgan_learns_a_2d_mixture, .timeout = 240) { learns_mixture(TOY_DDGAN, 5000); }
Test(diffusion, ddpm_learns_a_2d_mixture, .timeout = 240) { learns_mixture(TOY_DDPM, 1500); }

/* The 3-class column: trained TV <= 0.05 (sampling error of 2048 draws is
 * ~0.01); untrained models sample far from 0.6 / 0.3 / 0.1 (TV >= 0.1 for
 * these seeds, logged). */
static void learns_classes(const char *model, const char *cat, int iters) {
    toy *d = categorical();
    vf_dataset ds;
    vf_trainer *t = open_toy(model, tu_cpu(), d, &ds, cat, 2);
    float *x = draw_samples(t, 3, 2048);
    double tv0 = class_tv(x, 2048);
    free(x);
    train(t, iters);
    x = draw_samples(t, 3, 2048);
    double tv = class_tv(x, 2048);
    free(x);
    cr_log_info("%s %s: class TV untrained %.3f, trained %.3f", model, cat, tv0, tv);
    cr_expect_geq(tv0, 0.1, "untrained TV %.3f", tv0);
    cr_expect_leq(tv, 0.05, "trained TV %.3f", tv);
    vf_trainer_close(t);
    free(d);
}

Test(diffusion, ddgan_masked_learns_a_categorical, .timeout = 240) { learns_classes(TOY_DDGAN, "masked", 600); }
Test(diffusion, ddgan_multinomial_learns_a_categorical, .timeout = 240) { learns_classes(TOY_DDGAN, "multinomial", 600); }
Test(diffusion, ddpm_masked_learns_a_categorical, .timeout = 240) { learns_classes(TOY_DDPM, "masked", 600); }

/* ------------------------------------------------------- cpu, vk, resume */

Test(diffusion, first_iterations_agree_on_cpu_and_vk) {
    vf_backend *vk = tu_vk();
    if (!vk) cr_skip_test("no Vulkan device");
    const char *models[2] = {TOY_DDGAN, TOY_DDPM};
    for (int m = 0; m < 2; m++) {
        toy *d = mixture();
        vf_dataset da, db;
        vf_trainer *a = open_toy(models[m], tu_cpu(), d, &da, NULL, 3), *b = open_toy(models[m], vk, d, &db, NULL, 3);
        for (int it = 0; it < 3; it++) {
            vf_metrics ma, mb;
            TU_OK(vf_trainer_step(a, &ma));
            TU_OK(vf_trainer_step(b, &mb));
            cr_assert_eq(ma.n, mb.n);
            for (int k = 0; k < ma.n; k++) {
                double x = ma.m[k].value, y = vf_metrics_get(&mb, ma.m[k].name, NAN);
                cr_expect_leq(fabs(x - y), 1e-3 * fmax(fabs(x), 1e-3), "%s it %d: %s %.8g (cpu) vs %.8g (vk)",
                              models[m], it, ma.m[k].name, x, y);
            }
        }
        /* and the reverse chains (host arithmetic on the networks' outputs) */
        float *xa = draw_samples(a, 2, 256), *xb = draw_samples(b, 2, 256);
        double worst = 0;
        for (int i = 0; i < 512; i++) worst = fmax(worst, fabs(xa[i] - xb[i]));
        cr_log_info("%s: cpu vs vk samples differ by at most %.3g", models[m], worst);
        cr_expect_leq(worst, 1e-2, "%s: samples differ by %.3g", models[m], worst);
        free(xa);
        free(xb);
        vf_trainer_close(a);
        vf_trainer_close(b);
        free(d);
    }
    tu_check_validation();
}

Test(diffusion, a_resumed_run_is_bit_identical) {
    const char *models[2] = {TOY_DDGAN, TOY_DDPM};
    for (int m = 0; m < 2; m++) {
        toy *d = categorical();
        char pa[64], pb[64];
        snprintf(pa, sizeof pa, "/tmp/vf_diff_a_%d_%d.ckpt", (int)getpid(), m);
        snprintf(pb, sizeof pb, "/tmp/vf_diff_b_%d_%d.ckpt", (int)getpid(), m);
        vf_dataset da, db;
        vf_trainer *a = open_toy(models[m], tu_cpu(), d, &da, "masked", 5);
        vf_metrics ms;
        for (int i = 0; i < 12; i++) TU_OK(vf_trainer_step(a, &ms));   /* crosses lazy R1 steps */
        TU_OK(vf_trainer_save(a, pa));
        vf_trainer_close(a);
        vf_trainer *b = open_toy(models[m], tu_cpu(), d, &db, "masked", 5);
        for (int i = 0; i < 5; i++) TU_OK(vf_trainer_step(b, &ms));
        TU_OK(vf_trainer_save(b, pb));
        vf_trainer_close(b);
        b = open_toy(models[m], tu_cpu(), d, &db, "masked", 5);
        TU_OK(vf_trainer_load(b, pb));
        for (int i = 0; i < 7; i++) TU_OK(vf_trainer_step(b, &ms));
        TU_OK(vf_trainer_save(b, pb));
        vf_trainer_close(b);
        tu_expect_same_checkpoint(pa, pb);
        unlink(pa);
        unlink(pb);
        free(d);
    }
}

/* ------------------------------------------------------------- R1 wrt */

/* R1 w.r.t. a part of D's input: ||grad_x D||^2 + ||grad_y D||^2 is
 * ||grad_(x,y) D||^2, for every row, so the three losses of
 * tests/diffusion/r1_wrt.cfg satisfy r1_x + r1_y = r1_xy. */
Test(diffusion, r1_wrt_a_part_of_the_input_splits_the_full_r1) {
    vf_model *m;
    TU_OK(vf_model_load(VKFLOW_SOURCE_DIR "/tests/diffusion/r1_wrt.cfg", &m));
    vf_backend *bes[2] = {tu_cpu(), tu_vk()};
    for (int b = 0; b < 2; b++) {
        if (!bes[b]) continue;
        vf_exec *x;
        vf_exec_opts o = {.fuse = true, .plan = true, .capture = true, .seed = 9};
        TU_OK(vf_model_compile(m, bes[b], &o, &x));
        int p = vf_exec_program(x, "penalties");
        float xs[64 * 3], ys[64 * 2];
        tu_rng g = tu_rng_make(21);
        tu_fill_uniform(&g, xs, 64 * 3, -1, 1);
        tu_fill_uniform(&g, ys, 64 * 2, -1, 1);
        TU_OK(vf_exec_write(x, vf_model_node(m, "x"), xs, sizeof xs));
        TU_OK(vf_exec_write(x, vf_model_node(m, "y"), ys, sizeof ys));
        TU_OK(vf_exec_run(x, p));
        float r_xy, r_x, r_y;
        TU_OK(vf_exec_read(x, p, vf_model_node(m, "r1_xy"), &r_xy, sizeof r_xy));
        TU_OK(vf_exec_read(x, p, vf_model_node(m, "r1_x"), &r_x, sizeof r_x));
        TU_OK(vf_exec_read(x, p, vf_model_node(m, "r1_y"), &r_y, sizeof r_y));
        cr_log_info("%s: r1 x %.6g + y %.6g = %.6g, full %.6g", b ? "vk" : "cpu", r_x, r_y, r_x + r_y, r_xy);
        cr_expect(r_x > 0 && r_y > 0);
        cr_expect_lt(fabs(r_x + r_y - r_xy), 1e-5 * r_xy + 1e-7);
        vf_exec_destroy(x);
    }
    vf_model_destroy(m);
    if (bes[1]) tu_check_validation();
}
