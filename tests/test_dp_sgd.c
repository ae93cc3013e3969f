/* DP-SGD (engine/graph/dp.h, vf_model_make_private) against a per-example
 * loop, on cpu and vk:
 *   - per-example gradients by brute force: the non-private program run on
 *     a batch whose every row is example i (a batch mean of B equal losses is
 *     example i's loss), with SGD at lr 1, so the update is -g_i;
 *   - the private program's per-example norms match ||g_i||;
 *   - its update is sum_i mask_i min(1, C / ||g_i||) g_i / L (noise off), and
 *     with one example sampled the update's norm is <= C / L;
 *   - C = infinity, sigma = 0, L = B: bit-identical to the non-private
 *     program on the cpu backend;
 *   - no example sampled, sigma > 0: the update is pure noise of variance
 *     (sigma C / L)^2 (a chi-square test);
 *   - models it cannot privatise are refused by name. */
#include "graph/dp.h"
#include "model.h"
#include "testutil.h"
#include "train/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DP_MODEL VKFLOW_SOURCE_DIR "/tests/train/dp_gp.cfg"
#define B 6
#define NP_MAX 256

typedef struct inst {
    vf_model *m;
    vf_exec *x;
    int n_par, par[32];
    int64_t par_n[32];
    int64_t total;             /* parameter elements */
} inst;

static void inst_open(vf_backend *be, bool private, inst *I) {
    memset(I, 0, sizeof *I);
    TU_OK(vf_model_load(DP_MODEL, &I->m));
    if (private) TU_OK(vf_model_make_private(I->m));
    vf_exec_opts eo = {.fuse = true, .plan = true, .capture = true, .seed = 11};
    TU_OK(vf_model_compile(I->m, be, &eo, &I->x));
    const vf_graph *g = vf_model_graph(I->m);
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == VF_G_PARAM) {
            I->par[I->n_par] = i;
            I->par_n[I->n_par] = vf_gnode_numel(&g->nodes[i]);
            I->total += I->par_n[I->n_par++];
        }
    cr_assert(I->total <= NP_MAX);
}

static void inst_close(inst *I) {
    vf_exec_destroy(I->x);
    vf_model_destroy(I->m);
}

static void read_params(inst *I, float *dst) {
    for (int k = 0; k < I->n_par; k++) {
        TU_OK(vf_exec_read(I->x, -1, I->par[k], dst, (size_t)I->par_n[k] * sizeof(float)));
        dst += I->par_n[k];
    }
}

static void write_params(inst *I, const float *src) {
    for (int k = 0; k < I->n_par; k++) {
        TU_OK(vf_exec_write(I->x, I->par[k], src, (size_t)I->par_n[k] * sizeof(float)));
        src += I->par_n[k];
    }
}

static void write_in(inst *I, const char *name, const float *v, size_t n) {
    int id = vf_graph_find(vf_model_graph(I->m), VF_G_INPUT, name);
    cr_assert(id >= 0, "no input %s", name);
    TU_OK(vf_exec_write(I->x, id, v, n * sizeof(float)));
}

/* The batch: rows of real [B, 3], fake [B, 3], alpha [B], real2 [B, 2]. */
typedef struct batch { float real[B * 3], fake[B * 3], alpha[B], real2[B * 2]; } batch;

static batch make_batch(uint64_t seed) {
    batch b;
    tu_rng r = tu_rng_make(seed);
    tu_fill_uniform(&r, b.real, B * 3, -2, 2);
    tu_fill_uniform(&r, b.fake, B * 3, -2, 2);
    tu_fill_uniform(&r, b.alpha, B, 0, 1);
    tu_fill_uniform(&r, b.real2, B * 2, -2, 2);
    return b;
}

static void write_batch(inst *I, const batch *b) {
    write_in(I, "real", b->real, B * 3);
    write_in(I, "fake", b->fake, B * 3);
    write_in(I, "alpha", b->alpha, B);
    write_in(I, "real2", b->real2, B * 2);
}

/* Every row = row i of b. */
static batch repeat_row(const batch *b, int i) {
    batch r;
    for (int k = 0; k < B; k++) {
        memcpy(r.real + 3 * k, b->real + 3 * i, 3 * sizeof(float));
        memcpy(r.fake + 3 * k, b->fake + 3 * i, 3 * sizeof(float));
        r.alpha[k] = b->alpha[i];
        memcpy(r.real2 + 2 * k, b->real2 + 2 * i, 2 * sizeof(float));
    }
    return r;
}

static void write_dp(inst *I, const float *mask, float clip, float row_scale, float noise_std) {
    write_in(I, "batch_mask", mask, B);
    write_in(I, VF_DP_CLIP_INPUT, &clip, 1);
    write_in(I, VF_DP_ROW_SCALE_INPUT, &row_scale, 1);
    write_in(I, VF_DP_NOISE_STD_INPUT, &noise_std, 1);
}

/* g[i][:] = example i's gradient (the per-example loop). */
static void per_example_grads(vf_backend *be, const batch *b, double g[B][NP_MAX], int64_t *total) {
    inst I;
    inst_open(be, false, &I);
    float p0[NP_MAX], p1[NP_MAX];
    read_params(&I, p0);
    for (int i = 0; i < B; i++) {
        batch r = repeat_row(b, i);
        write_params(&I, p0);
        write_batch(&I, &r);
        TU_OK(vf_exec_run(I.x, 0));
        read_params(&I, p1);
        for (int64_t k = 0; k < I.total; k++) g[i][k] = (double)p0[k] - (double)p1[k];
    }
    *total = I.total;
    inst_close(&I);
}

static double norm_of(const double *v, int64_t n) {
    double s = 0;
    for (int64_t k = 0; k < n; k++) s += v[k] * v[k];
    return sqrt(s);
}

static void check_against_loop(vf_backend *be) {
    batch b = make_batch(3);
    static double g[B][NP_MAX];
    int64_t total;
    per_example_grads(be, &b, g, &total);
    double norms[B];
    for (int i = 0; i < B; i++) norms[i] = norm_of(g[i], total);

    inst I;
    inst_open(be, true, &I);
    int prog = vf_exec_program(I.x, "d_step");
    float p0[NP_MAX], p1[NP_MAX];
    read_params(&I, p0);
    /* C between the smallest and the largest norm, example 4 not sampled */
    double sorted[B];
    memcpy(sorted, norms, sizeof sorted);
    for (int i = 0; i < B; i++)
        for (int j = i + 1; j < B; j++)
            if (sorted[j] < sorted[i]) { double t = sorted[i]; sorted[i] = sorted[j]; sorted[j] = t; }
    float C = (float)(0.5 * (sorted[2] + sorted[3]));
    float mask[B] = {1, 1, 1, 1, 0, 1};
    double L = 4.5;
    write_batch(&I, &b);
    write_dp(&I, mask, C, (float)(B / L), 0.0f);
    TU_OK(vf_exec_run(I.x, prog));
    read_params(&I, p1);
    /* per-example norms */
    float got_norms[B];
    const vf_prog_desc *d = vf_exec_desc(I.x, prog);
    TU_OK(vf_exec_read(I.x, prog, d->outs[d->n_out - 1], got_norms, sizeof got_norms));
    for (int i = 0; i < B; i++)
        cr_expect(fabs(got_norms[i] - norms[i]) <= 1e-4 * (1 + norms[i]), "norm of example %d: %g vs loop %g", i,
                  (double)got_norms[i], norms[i]);
    /* the update */
    double want[NP_MAX] = {0};
    int clipped = 0;
    for (int i = 0; i < B; i++) {
        if (!mask[i]) continue;
        double c = fmin(1.0, C / norms[i]);
        clipped += norms[i] > C;
        for (int64_t k = 0; k < total; k++) want[k] += c * g[i][k] / L;
    }
    cr_assert(clipped >= 1 && clipped < 5, "the test needs clipped and unclipped examples (%d clipped)", clipped);
    float upd[NP_MAX], wantf[NP_MAX];
    for (int64_t k = 0; k < total; k++) {
        upd[k] = p0[k] - p1[k];
        wantf[k] = (float)want[k];
    }
    double e = tu_max_rel(upd, wantf, (size_t)total, 1e-5, 1e-3);
    cr_expect(e <= 1, "clipped update vs the per-example loop: %g of tolerance", e);
    /* the metric: fraction of sampled examples that were clipped */
    float frac;
    TU_OK(vf_exec_read(I.x, prog, d->outs[d->n_out - 2], &frac, sizeof frac));
    int over = 0, sampled = 0;
    for (int i = 0; i < B; i++) { sampled += mask[i] > 0; over += mask[i] > 0 && norms[i] > C; }
    cr_expect(fabs(frac - (double)over / sampled) < 1e-6, "dp_clipped %g, want %g", (double)frac, (double)over / sampled);

    /* one example sampled at a time: the update's norm is min(||g_i||, C) / L */
    for (int i = 0; i < B; i++) {
        float one[B] = {0};
        one[i] = 1;
        write_params(&I, p0);
        write_dp(&I, one, C, (float)(B / L), 0.0f);
        TU_OK(vf_exec_run(I.x, prog));
        read_params(&I, p1);
        double u[NP_MAX];
        for (int64_t k = 0; k < total; k++) u[k] = ((double)p0[k] - (double)p1[k]) * L;
        double n = norm_of(u, total);
        cr_expect(n <= C * (1 + 1e-5), "example %d: clipped norm %g > C = %g", i, n, (double)C);
        cr_expect(fabs(n - fmin(norms[i], C)) <= 1e-4 * (1 + n), "example %d: clipped norm %g, want %g", i, n,
                  fmin(norms[i], C));
    }
    inst_close(&I);
}

Test(dp_sgd, per_example_norms_and_clipping_match_a_loop_cpu) { check_against_loop(tu_cpu()); }

Test(dp_sgd, per_example_norms_and_clipping_match_a_loop_vk) {
    vf_backend *vk = tu_vk();
    if (!vk) cr_skip_test("no Vulkan device");
    check_against_loop(vk);
    tu_check_validation();
}

Test(dp_sgd, no_clip_no_noise_is_the_plain_gradient_bit_for_bit) {
    vf_backend *be = tu_cpu();
    batch b = make_batch(5);
    inst P, Q;
    inst_open(be, false, &P);
    inst_open(be, true, &Q);
    float a[NP_MAX], c[NP_MAX];
    read_params(&P, a);
    read_params(&Q, c);
    cr_assert(!memcmp(a, c, (size_t)P.total * sizeof(float)), "same initial parameters");
    float ones[B] = {1, 1, 1, 1, 1, 1};
    for (int step = 0; step < 3; step++) {
        write_batch(&P, &b);
        write_batch(&Q, &b);
        write_dp(&Q, ones, INFINITY, 1.0f, 0.0f);
        TU_OK(vf_exec_run(P.x, 0));
        TU_OK(vf_exec_run(Q.x, 0));
    }
    read_params(&P, a);
    read_params(&Q, c);
    for (int64_t k = 0; k < P.total; k++) cr_assert(a[k] == c[k], "parameter %lld: %.9g vs %.9g", (long long)k,
                                                    (double)a[k], (double)c[k]);
    inst_close(&P);
    inst_close(&Q);
}

static void check_noise(vf_backend *be) {
    batch b = make_batch(9);
    inst I;
    inst_open(be, true, &I);
    float zero[B] = {0};
    float p0[NP_MAX], p1[NP_MAX];
    double sd = 0.37, ss = 0;
    int64_t n = 0;
    for (int rep = 0; rep < 40; rep++) {
        read_params(&I, p0);
        write_batch(&I, &b);
        write_dp(&I, zero, 1.0f, 1.0f, (float)sd);
        TU_OK(vf_exec_run(I.x, 0));
        read_params(&I, p1);
        for (int64_t k = 0; k < I.total; k++) {
            double u = (double)p0[k] - (double)p1[k];
            ss += u * u;
            n++;
        }
    }
    /* sum of n squared N(0, sd^2) / sd^2 ~ chi-square(n): within 5 standard deviations sqrt(2n) */
    double chi = ss / (sd * sd);
    cr_expect(fabs(chi - (double)n) < 5 * sqrt(2.0 * (double)n), "noise: chi-square %g for %lld draws", chi,
              (long long)n);
    inst_close(&I);
}

Test(dp_sgd, noise_has_the_calibrated_variance_cpu) { check_noise(tu_cpu()); }

Test(dp_sgd, noise_has_the_calibrated_variance_vk) {
    vf_backend *vk = tu_vk();
    if (!vk) cr_skip_test("no Vulkan device");
    check_noise(vk);
    tu_check_validation();
}

/* A model text with a private network of the given layers. */
static vf_status load_text(const char *layers, const char *prog_extra, vf_model **m) {
    char path[] = "/tmp/vkflow_dp_XXXXXX.cfg";
    int fd = mkstemps(path, 4);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "dims = { batch = 4; };\ninputs = ( { name = \"x\"; shape = [\"batch\", \"3\"]; } );\n"
               "networks = ( { name = \"D\"; input = 3; layers = ( %s ); } );\n"
               "tensors = ( { name = \"d\"; net = \"D\"; input = \"x\"; } );\n"
               "losses = ( { name = \"l\"; type = \"mean\"; input = \"d\"; } );\n"
               "programs = ( { name = \"train_step\"; loss = \"l\"; update = [\"D\"]; %s } );\n"
               "training = { algorithm = \"supervised\"; };\n",
            layers, prog_extra);
    fclose(f);
    vf_status st = vf_model_load(path, m);
    unlink(path);
    return st;
}

Test(dp_sgd, refuses_what_it_cannot_privatise) {
    vf_model *m;
    TU_OK(load_text("{ type = \"dense\"; units = 4; }, { type = \"batchnorm\"; }, { type = \"dense\"; units = 1; }",
                    "private = true;", &m));
    cr_expect_neq(vf_model_make_private(m), VF_OK);
    cr_expect(strstr(vf_last_error(), "batchnorm"), "message: %s", vf_last_error());
    vf_model_destroy(m);
    TU_OK(load_text("{ type = \"dense\"; units = 4; }, { type = \"layernorm\"; }, { type = \"dense\"; units = 1; }",
                    "private = true;", &m));
    cr_expect_neq(vf_model_make_private(m), VF_OK);
    cr_expect(strstr(vf_last_error(), "parameter"), "message: %s", vf_last_error());
    vf_model_destroy(m);
    /* nothing declared private */
    TU_OK(load_text("{ type = \"dense\"; units = 1; }", "", &m));
    cr_expect_neq(vf_model_make_private(m), VF_OK);
    cr_expect(strstr(vf_last_error(), "private = true"), "message: %s", vf_last_error());
    vf_model_destroy(m);
}

/* Every shipped model with private programs can be privatised and compiled
 * (the rewrite accepts its private networks). */
Test(dp_sgd, shipped_models_privatise) {
    static const char *const models[] = {"doppelganger_small.cfg", "doppelganger.cfg", "ddgan_small.cfg", "ddgan.cfg",
                                         "ddgan_multinomial_small.cfg", "ddgan_gaussian_small.cfg", "ddpm_small.cfg",
                                         "ddpm.cfg"};
    for (size_t k = 0; k < sizeof models / sizeof *models; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/models/%s", VKFLOW_SOURCE_DIR, models[k]);
        vf_model_env env = {.placeholder_heads = true};
        vf_model *m;
        TU_OK(vf_model_load_env(path, &env, &m));
        vf_status st = vf_model_make_private(m);
        cr_expect_eq(st, VF_OK, "%s: %s", models[k], vf_last_error());
        vf_privacy_plan plan;
        TU_OK(vf_driver_privacy_plan(m, &plan));
        cr_expect(plan.n_reads >= 1 && plan.draws_per_iter >= 1 && plan.runs_per_draw >= 1, "%s", models[k]);
        if (!st && k < 3) {
            vf_exec_opts eo = {.fuse = true, .plan = true, .capture = true, .seed = 1};
            vf_exec *x;
            TU_OK(vf_model_compile(m, tu_cpu(), &eo, &x));
            vf_exec_destroy(x);
        }
        vf_model_destroy(m);
    }
}

static void fill_real(void *user, int64_t example, int field, float *dst) {
    (void)user; (void)field;
    for (int k = 0; k < 3; k++) dst[k] = (float)((example * 7 + k * 3) % 11) / 11.0f - 0.5f;
}

/* The trainer keeps the accountant honest: Poisson batches at q = L / n,
 * and a batch read by more private runs than the algorithm's plan (or a
 * private run before any batch) is refused. */
Test(dp_sgd, trainer_enforces_the_privacy_plan) {
    vf_dim dims[1] = {{"batch", 64}};
    vf_trainer_opts o = {.model = DP_MODEL, .be = tu_cpu(), .seed = 3};
    o.env = (vf_model_env){.dims = dims, .n_dims = 1};
    o.privacy = (vf_privacy_opts){.enabled = true, .clip = 1.0, .sigma = 0.5};
    vf_trainer *t;
    /* a private run before any batch */
    TU_OK(vf_trainer_open(&o, &t));
    int d_step = vf_trainer_program(t, "d_step");
    cr_expect_neq(vf_trainer_run(t, d_step, NULL), VF_OK);
    cr_expect(strstr(vf_last_error(), "before a Poisson batch"), "%s", vf_last_error());
    vf_trainer_close(t);

    TU_OK(vf_trainer_open(&o, &t));
    vf_data_field f = {"real", 3};
    vf_dataset ds = {.n = 200, .n_fields = 1, .fields = &f, .fill = fill_real};
    TU_OK(vf_trainer_bind(t, &ds));
    vf_privacy_spent sp;
    TU_OK(vf_trainer_privacy(t, &sp));
    cr_expect_eq(sp.batch_rows, 64);
    cr_expect(sp.expected_batch > 20 && sp.expected_batch + 7 * sqrt(sp.expected_batch) + 1 <= 64, "L = %g",
              sp.expected_batch);
    cr_expect(fabs(sp.q - sp.expected_batch / 200) < 1e-12, "q = %g", sp.q);
    cr_expect_eq(sp.plan.draws_per_iter, 1);
    cr_expect_eq(sp.plan.runs_per_draw, 1);
    vf_metrics ms;
    for (int i = 0; i < 3; i++) TU_OK(vf_trainer_step(t, &ms));
    cr_expect(vf_metrics_get(&ms, "d_step.dp_clipped", -1) >= 0, "the clip fraction is a metric");
    TU_OK(vf_trainer_privacy(t, &sp));
    cr_expect_eq(sp.steps, 3, "three iterations of one batch each");
    /* a second private run on the same batch: the next draw is refused */
    TU_OK(vf_trainer_run(t, d_step, NULL));
    cr_expect_neq(vf_trainer_next_batch(t), VF_OK);
    cr_expect(strstr(vf_last_error(), "read by 2 private runs"), "%s", vf_last_error());
    vf_trainer_close(t);
}
