/* Models from models/ compiled and trained through the DSL on both backends:
 * XOR to 100% accuracy, 2-D regression to MSE < 1e-3, the same seed giving
 * bit-identical losses; the DSL's penalty models against finite differences. */
#include "model.h"
#include "test_graph_common.h"
#include "train/trainer.h"

#include <math.h>
#include <stdio.h>

#define MODEL(name) VKFLOW_SOURCE_DIR "/models/" name

static vf_model *load(const char *path) {
    vf_model *m = NULL;
    TU_OK(vf_model_load(path, &m));
    return m;
}

/* A trainer on a model with inline data; *steps gets training.steps. */
static vf_trainer *open_trainer(const char *path, vf_backend *be, int64_t *steps) {
    vf_model *m = load(path);
    uint64_t seed = vf_model_seed(m, NULL);
    *steps = vf_model_steps(m, NULL);
    vf_model_destroy(m);
    vf_trainer_opts o = {.model = path, .be = be, .seed = seed};
    vf_trainer *t = NULL;
    TU_OK(vf_trainer_open(&o, &t));
    return t;
}

/* steps driver iterations; losses[k] gets metric `loss` of step k. */
static void train(vf_trainer *t, int64_t steps, float *losses) {
    for (int64_t k = 0; k < steps; k++) {
        vf_metrics ms;
        TU_OK(vf_trainer_step(t, &ms));
        losses[k] = (float)vf_metrics_get(&ms, "loss", NAN);
    }
}

static void xor_on(vf_backend *be) {
    int64_t n;
    vf_trainer *t = open_trainer(MODEL("xor.cfg"), be, &n);
    float *losses = malloc((size_t)n * sizeof(float));
    train(t, n, losses);
    vf_exec *x = vf_trainer_exec(t);
    int ev = vf_exec_program(x, "eval");
    TU_OK(vf_exec_run(x, ev));
    float p[4];
    TU_OK(vf_trainer_read(t, ev, "p", p, sizeof p));
    const float want[4] = {0, 1, 1, 0};
    int correct = 0;
    for (int i = 0; i < 4; i++) correct += (p[i] > 0.5f) == (want[i] > 0.5f);
    cr_expect_eq(correct, 4, "XOR accuracy %d/4 (p = %g %g %g %g), final loss %g", correct, (double)p[0],
                 (double)p[1], (double)p[2], (double)p[3], (double)losses[n - 1]);
    free(losses);
    vf_trainer_close(t);
}

static void regression_on(vf_backend *be) {
    int64_t n;
    vf_trainer *t = open_trainer(MODEL("regression2d.cfg"), be, &n);
    float *losses = malloc((size_t)n * sizeof(float));
    train(t, n, losses);
    cr_expect_lt(losses[n - 1], 1e-3f, "regression MSE %g after %lld steps", (double)losses[n - 1], (long long)n);
    free(losses);
    vf_trainer_close(t);
}

Test(dsl_models, xor_cpu) { xor_on(tu_cpu()); }
Test(dsl_models, regression2d_cpu) { regression_on(tu_cpu()); }
Test(dsl_models, xor_vk) {
    vf_backend *be = tu_vk();
    if (!be) cr_skip_test("no Vulkan device");
    xor_on(be);
    tu_check_validation();
}
Test(dsl_models, regression2d_vk) {
    vf_backend *be = tu_vk();
    if (!be) cr_skip_test("no Vulkan device");
    regression_on(be);
    tu_check_validation();
}

/* Two trainings from the same seed on one device: identical bits. */
static void repeat_on(vf_backend *be) {
    int64_t n;
    float *a = NULL, *b = NULL;
    for (int r = 0; r < 2; r++) {
        vf_trainer *t = open_trainer(MODEL("xor.cfg"), be, &n);
        if (!a) {
            a = malloc((size_t)n * sizeof(float));
            b = malloc((size_t)n * sizeof(float));
        }
        train(t, n, r ? b : a);
        vf_trainer_close(t);
    }
    cr_expect(memcmp(a, b, (size_t)n * sizeof(float)) == 0, "losses differ between two runs with the same seed");
    free(a);
    free(b);
}
Test(dsl_models, same_seed_bit_identical_cpu) { repeat_on(tu_cpu()); }
Test(dsl_models, same_seed_bit_identical_vk) {
    vf_backend *be = tu_vk();
    if (!be) cr_skip_test("no Vulkan device");
    repeat_on(be);
    tu_check_validation();
}

/* The penalty models written in the DSL: d gp / d params against central
 * differences (the same check as test_graph_grad, on the DSL's graph). */
static void dsl_penalty_fd(const char *path, const char *loss) {
    vf_model *mm = load(path);
    dmodel m;
    memset(&m, 0, sizeof m);
    m.g = vf_model_graph(mm);
    m.real = vf_model_node(mm, "real");
    m.fake = vf_model_node(mm, "fake");
    m.alpha = vf_model_node(mm, "alpha");
    m.loss = vf_model_node(mm, loss);
    m.B = vf_gnode_rows(&m.g->nodes[m.real]);
    m.F = vf_gnode_cols(&m.g->nodes[m.real]);
    for (int i = 0; i < m.g->n && m.n_params < 16; i++)
        if (m.g->nodes[i].op == VF_G_PARAM) m.params[m.n_params++] = i;
    TU_OK(vf_graph_vjp(m.g, m.loss, -1, m.n_params, m.params, m.grads));
    vf_exec *x = tg_exec(&m, tu_cpu(), true, true);
    TU_OK(vf_exec_run(x, 0));
    int checked = 0;
    for (int pi = 0; pi < m.n_params; pi++) {
        int p = m.params[pi];
        size_t n = tg_numel(x, p);
        float *val = tg_read(x, p), *an = tg_read(x, m.grads[pi]);
        for (size_t i = 0; i < n; i += (n + 3) / 4) {
            const float eps = 2e-3f;
            float v = val[i], lp, lm;
            val[i] = v + eps;
            TU_OK(vf_exec_write(x, p, val, n * sizeof *val));
            TU_OK(vf_exec_run(x, 0));
            TU_OK(vf_exec_read(x, 0, m.loss, &lp, sizeof lp));
            val[i] = v - eps;
            TU_OK(vf_exec_write(x, p, val, n * sizeof *val));
            TU_OK(vf_exec_run(x, 0));
            TU_OK(vf_exec_read(x, 0, m.loss, &lm, sizeof lm));
            val[i] = v;
            TU_OK(vf_exec_write(x, p, val, n * sizeof *val));
            double fd = ((double)lp - (double)lm) / (2.0 * eps);
            cr_expect(fabs(fd - an[i]) <= 3e-3 + 3e-2 * fabs(fd), "%s: %s[%zu]: analytic %.6g, fd %.6g", path,
                      m.g->nodes[p].name, i, (double)an[i], fd);
            checked++;
        }
        free(val);
        free(an);
    }
    cr_expect_geq(checked, m.n_params);
    vf_exec_destroy(x);
    vf_model_destroy(mm);
}
Test(dsl_models, mlp_d_wgan_gp_fd) { dsl_penalty_fd(MODEL("mlp_d.cfg"), "gp"); }
Test(dsl_models, lstm_d_r1_fd) { dsl_penalty_fd(MODEL("lstm_d.cfg"), "r1"); }

/* The wgan_gp driver on mlp_d.cfg (d_step minimises mean D(fake) over D,
 * the inputs as written, no g_step): d_loss goes down; `steps` of the file. */
Test(dsl_models, wgan_gp_driver_on_inline_inputs) {
    int64_t n;
    vf_trainer *t = open_trainer(MODEL("mlp_d.cfg"), tu_cpu(), &n);
    cr_expect_str_eq(vf_trainer_algorithm(t), "wgan_gp");
    float fake[18];
    for (int i = 0; i < 18; i++) fake[i] = 0.1f * (float)(i % 7) - 0.3f;
    TU_OK(vf_trainer_write(t, "fake", fake, sizeof fake));
    float *l = malloc((size_t)n * sizeof(float));
    for (int64_t k = 0; k < n; k++) {
        vf_metrics ms;
        TU_OK(vf_trainer_step(t, &ms));
        l[k] = (float)vf_metrics_get(&ms, "w", NAN);
        cr_assert(isfinite(vf_metrics_get(&ms, "gp", NAN)) && isfinite(vf_metrics_get(&ms, "r1", NAN)),
                  "the d_step outputs are metrics");
    }
    cr_expect_eq(vf_trainer_iteration(t), n);
    /* 5 d_step runs per iteration (training.d_steps) */
    cr_expect_eq(vf_exec_prog_runs(vf_trainer_exec(t), vf_trainer_program(t, "d_step")), 5 * n);
    cr_expect_lt(l[n - 1], l[0], "w (mean D(fake)) %g -> %g", (double)l[0], (double)l[n - 1]);
    free(l);
    vf_trainer_close(t);
}

/* Every shipped model loads as `vkflow check` and `vkflow graph` load it
 * (placeholder output heads, no data), has at least one program, and every
 * program compiles (statistics) and prints as DOT. */
Test(dsl_models, every_shipped_model_has_programs_and_dot) {
    static const char *const files[] = {"xor.cfg", "regression2d.cfg", "mlp_d.cfg", "lstm_d.cfg",
                                        "doppelganger.cfg", "doppelganger_small.cfg", "timegan.cfg",
                                        "timegan_small.cfg"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[512];
        snprintf(path, sizeof path, MODEL("%s"), files[f]);
        vf_model *m = NULL;
        vf_model_env env = {.placeholder_heads = true};
        cr_assert_eq(vf_model_load_env(path, &env, &m), VF_OK, "%s: %s", files[f], vf_last_error());
        int np = 0;
        const vf_prog_desc *progs = vf_model_programs(m, &np);
        cr_expect_gt(np, 0, "%s defines no programs", files[f]);
        if (np == 0) {
            vf_model_destroy(m);
            continue;
        }
        vf_prog_stats st[8];
        cr_assert_leq(np, 8);
        cr_expect_eq(vf_exec_analyze(vf_model_graph(m), np, progs, true, 64, st), VF_OK, "%s: %s", files[f],
                     vf_last_error());
        FILE *out = tmpfile();
        cr_assert_not_null(out);
        vf_graph *g = vf_model_graph(m);
        bool *keep = calloc((size_t)g->n + 1, 1);
        for (int i = 0; i < g->n; i++) keep[i] = true;
        vf_graph_dot(g, keep, progs[0].name, out);
        cr_expect_gt(ftell(out), 100, "%s: DOT output is empty", files[f]);
        free(keep);
        fclose(out);
        vf_model_destroy(m);
    }
}
