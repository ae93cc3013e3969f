/* The compiled program gives the same numbers however it runs: fused vs
 * unfused elementwise kernels, recorded replay vs op-by-op submission, vk vs
 * cpu; and fusion / memory planning actually reduce kernels and bytes. */
#include "test_graph_common.h"

#include <math.h>

/* A graph touching every lowering: embedding, concat, layernorm, batchnorm,
 * slice, log_softmax, reductions, and the backward of each, plus an Adam
 * update so replays change the parameters. */
typedef struct sink {
    vf_graph *g;
    int x, idx, onehot, loss, n_p, p[12], gr[12];
} sink;

static void build_sink(sink *s) {
    memset(s, 0, sizeof *s);
    vf_graph *g = s->g = vf_graph_create();
    int64_t B = 6, F = 3, V = 5, E = 2, H = 7, K = 4;
    int64_t sx[2] = {B, F}, si[1] = {B}, so[2] = {B, K};
    s->x = vf_g_input(g, "x", VF_F32, 2, sx);
    s->idx = vf_g_input(g, "idx", VF_I32, 1, si);
    s->onehot = vf_g_input(g, "onehot", VF_F32, 2, so);
    int64_t st[2] = {V, E}, s1[2] = {F + E, H}, s2[2] = {H, K + 1};
    int table = s->p[s->n_p++] = vf_g_param(g, "table", 2, st, VF_INIT_NORMAL, 0.5f);
    int w1 = s->p[s->n_p++] = vf_g_param(g, "w1", 2, s1, VF_INIT_XAVIER, 1);
    int64_t c5 = F + E, ch = H, ck = K + 1;
    int bg = s->p[s->n_p++] = vf_g_param(g, "bn_g", 1, &c5, VF_INIT_UNIFORM, 1);
    int bb = s->p[s->n_p++] = vf_g_param(g, "bn_b", 1, &c5, VF_INIT_UNIFORM, 0.2f);
    int lg = s->p[s->n_p++] = vf_g_param(g, "ln_g", 1, &ch, VF_INIT_ONES, 0);
    int lb = s->p[s->n_p++] = vf_g_param(g, "ln_b", 1, &ch, VF_INIT_ZEROS, 0);
    int w2 = s->p[s->n_p++] = vf_g_param(g, "w2", 2, s2, VF_INIT_XAVIER, 1);
    int b2 = s->p[s->n_p++] = vf_g_param(g, "b2", 1, &ck, VF_INIT_UNIFORM, 0.1f);
    int h = vf_g_concat(g, 2, (int[]){s->x, vf_g_embedding(g, s->idx, table)});
    /* batchnorm first: a layernorm beta feeding a batchnorm would get an
     * exactly-zero gradient, which Adam turns into rounding-noise steps */
    h = vf_g_batchnorm(g, h, bg, bb, 1e-5f);
    h = vf_g_layernorm(g, vf_g_matmul(g, h, false, w1, false), lg, lb, 1e-5f);
    h = vf_g_un(g, VF_EW_TANH, vf_g_leaky_relu(g, h, 0.1f));
    int z = vf_g_dense(g, h, w2, b2);
    int ls = vf_g_softmax(g, vf_g_slice(g, z, 0, K), true);
    int nll = vf_g_scale(g, vf_g_sum(g, vf_g_mul(g, ls, s->onehot), VF_REDUCE_ALL, true), -(float)K);
    int extra = vf_g_mse(g, vf_g_slice(g, z, K, 1), vf_g_scalar(g, 0.5f));
    s->loss = vf_g_add(g, nll, extra);
    TU_OK(vf_graph_vjp(g, s->loss, -1, s->n_p, s->p, s->gr));
}

static vf_exec *sink_exec(sink *s, vf_backend *be, bool fuse, bool plan, bool capture) {
    int outs[1] = {s->loss};
    vf_prog_desc d = {.name = "step", .n_out = 1, .outs = outs, .n_upd = s->n_p, .upd_param = s->p,
                      .upd_grad = s->gr, .opt = {.kind = VF_OPT_ADAM, .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f}};
    vf_exec_opts o = {.fuse = fuse, .plan = plan, .capture = capture, .seed = 3};
    vf_exec *x;
    TU_OK(vf_exec_create(s->g, be, 1, &d, &o, &x));
    float xv[18], oh[24] = {0};
    int32_t idx[6] = {0, 4, 2, 2, 1, 3};
    tu_rng r = tu_rng_make(5);
    tu_fill_uniform(&r, xv, 18, -1, 1);
    for (int i = 0; i < 6; i++) oh[i * 4 + (i * 3) % 4] = 1;
    TU_OK(vf_exec_write(x, s->x, xv, sizeof xv));
    TU_OK(vf_exec_write(x, s->idx, idx, sizeof idx));
    TU_OK(vf_exec_write(x, s->onehot, oh, sizeof oh));
    return x;
}

/* 5 steps; returns the losses and the final parameters (concatenated) */
static void sink_run(sink *s, vf_exec *x, float *loss, float *params, size_t *np) {
    for (int k = 0; k < 5; k++) {
        TU_OK(vf_exec_run(x, 0));
        TU_OK(vf_exec_read(x, 0, s->loss, &loss[k], sizeof(float)));
    }
    size_t o = 0;
    for (int i = 0; i < s->n_p; i++) {
        vf_tensor t;
        TU_OK(vf_exec_tensor(x, 0, s->p[i], &t));
        TU_OK(vf_tensor_read(&t, params + o, vf_tensor_bytes(&t)));
        o += (size_t)t.numel;
    }
    *np = o;
}

static void compare(const float *a, const float *ref, size_t n, double atol, double rtol, const char *what) {
    double e = tu_max_rel(a, ref, n, atol, rtol);
    cr_expect(e <= 1.0, "%s: max relative error %.3g", what, e);
}

Test(graph_exec, fused_unfused_replay_opbyop_cpu) {
    sink s;
    build_sink(&s);
    float l0[5], l1[5], p0[256], p1[256];
    size_t n0, n1;
    vf_exec *ref = sink_exec(&s, tu_cpu(), false, false, false);
    sink_run(&s, ref, l0, p0, &n0);
    cr_assert(isfinite(l0[0]) && l0[4] < l0[0], "loss should fall: %g -> %g", (double)l0[0], (double)l0[4]);
    const bool cfg[3][3] = {{true, true, true}, {true, true, false}, {false, true, true}};
    for (int c = 0; c < 3; c++) {
        vf_exec *x = sink_exec(&s, tu_cpu(), cfg[c][0], cfg[c][1], cfg[c][2]);
        sink_run(&s, x, l1, p1, &n1);
        cr_assert_eq(n0, n1);
        compare(l1, l0, 5, 1e-6, 1e-5, "losses");
        compare(p1, p0, n0, 1e-6, 1e-5, "parameters");
        vf_exec_destroy(x);
    }
    vf_exec_destroy(ref);
    vf_graph_destroy(s.g);
}

Test(graph_exec, vk_vs_cpu) {
    vf_backend *vk = tu_vk();
    if (!vk) cr_skip_test("no Vulkan device");
    sink s;
    build_sink(&s);
    float l0[5], l1[5], p0[256], p1[256];
    size_t n0, n1;
    vf_exec *a = sink_exec(&s, tu_cpu(), true, true, true);
    sink_run(&s, a, l0, p0, &n0);
    for (int c = 0; c < 2; c++) {
        vf_exec *b = sink_exec(&s, vk, true, true, c == 0);
        sink_run(&s, b, l1, p1, &n1);
        compare(l1, l0, 5, 1e-4, 1e-3, "vk losses");
        compare(p1, p0, n0, 1e-4, 1e-3, "vk parameters");
        vf_exec_destroy(b);
    }
    vf_exec_destroy(a);
    vf_graph_destroy(s.g);
    tu_check_validation();
}

/* Fusion reduces the kernel count, the plan the bytes; the penalty graph
 * (second order) too. */
Test(graph_exec, fusion_and_plan_reduce) {
    dmodel m;
    tg_mlp_d(&m, 8, 3, 16);
    tg_penalty(&m, false);
    int outs[17] = {m.loss};
    for (int i = 0; i < m.n_params; i++) outs[1 + i] = m.grads[i];
    vf_prog_desc d = {.name = "p", .n_out = 1 + m.n_params, .outs = outs};
    vf_prog_stats fused, unfused;
    TU_OK(vf_exec_analyze(m.g, 1, &d, true, 64, &fused));
    TU_OK(vf_exec_analyze(m.g, 1, &d, false, 64, &unfused));
    cr_expect_gt(fused.fused_groups, 0);
    cr_expect_lt(fused.kernels, unfused.kernels, "fused %d kernels, unfused %d", fused.kernels, unfused.kernels);
    cr_expect_eq(unfused.ew_kernels, unfused.ew_nodes);
    cr_expect_lt(fused.planned_bytes, fused.unplanned_bytes);
    cr_expect_lt(unfused.planned_bytes * 2, unfused.unplanned_bytes + 1, "planned %zu, unplanned %zu",
                 unfused.planned_bytes, unfused.unplanned_bytes);
    vf_graph_destroy(m.g);
}

/* Noise is fresh on every run and identical for the same seed. */
Test(graph_exec, noise_fresh_and_reproducible) {
    vf_graph *g = vf_graph_create();
    int64_t s[2] = {4, 8};
    int z = vf_g_noise(g, "z", false, 1, 2, s);
    int y = vf_g_un(g, VF_EW_TANH, z);
    vf_prog_desc d = {.name = "sample", .n_out = 1, .outs = &y};
    vf_exec_opts o = {.fuse = true, .plan = true, .capture = true, .seed = 9};
    vf_exec *a, *b;
    TU_OK(vf_exec_create(g, tu_cpu(), 1, &d, &o, &a));
    TU_OK(vf_exec_create(g, tu_cpu(), 1, &d, &o, &b));
    float r1[32], r2[32], r3[32];
    TU_OK(vf_exec_run(a, 0));
    TU_OK(vf_exec_read(a, 0, y, r1, sizeof r1));
    TU_OK(vf_exec_run(a, 0));
    TU_OK(vf_exec_read(a, 0, y, r2, sizeof r2));
    TU_OK(vf_exec_run(b, 0));
    TU_OK(vf_exec_read(b, 0, y, r3, sizeof r3));
    cr_expect(memcmp(r1, r2, sizeof r1) != 0, "a second run must draw new noise");
    cr_expect(memcmp(r1, r3, sizeof r1) == 0, "the same seed must give the same noise");
    vf_exec_destroy(a);
    vf_exec_destroy(b);
    vf_graph_destroy(g);
}

/* onehot_argmax (DoppelGANger's discrete attributes fed to the feature
 * generator): the one-hot of each row's largest entry, ties to the lowest
 * index, on cpu and vk against a loop here; and no gradient through it:
 * d/dw of sum(onehot_argmax(x w) * c) + sum(x w) is that of sum(x w). */
static void onehot_argmax_case(vf_backend *be) {
    enum { R = 7, C = 5, K = 3 };
    vf_graph *g = vf_graph_create();
    int64_t sx[2] = {R, C}, sw[2] = {C, K}, sc[2] = {R, K};
    int x = vf_g_input(g, "x", VF_F32, 2, sx), c = vf_g_input(g, "c", VF_F32, 2, sc);
    int w = vf_g_param(g, "w", 2, sw, VF_INIT_NORMAL, 1.0f);
    int hx = vf_g_onehot_argmax(g, x);
    int xw = vf_g_matmul(g, x, false, w, false);
    int loss = vf_g_add(g, vf_g_sum(g, vf_g_mul(g, vf_g_onehot_argmax(g, xw), c), VF_REDUCE_ALL, false),
                        vf_g_sum(g, xw, VF_REDUCE_ALL, false));
    int dw;
    TU_OK(vf_graph_vjp(g, loss, -1, 1, &w, &dw));
    int outs[3] = {hx, loss, dw};
    vf_prog_desc d = {.name = "p", .n_out = 3, .outs = outs};
    vf_exec_opts o = {.fuse = true, .plan = true, .capture = true, .seed = 1};
    vf_exec *ex;
    TU_OK(vf_exec_create(g, be, 1, &d, &o, &ex));
    float xv[R * C], cv[R * K];
    tu_rng r = tu_rng_make(3);
    tu_fill_uniform(&r, xv, R * C, -1, 1);
    tu_fill_uniform(&r, cv, R * K, -1, 1);
    xv[2 * C + 1] = xv[2 * C + 3] = 2.0f; /* row 2: a tie, column 1 wins */
    TU_OK(vf_exec_write(ex, x, xv, sizeof xv));
    TU_OK(vf_exec_write(ex, c, cv, sizeof cv));
    TU_OK(vf_exec_run(ex, 0));
    float h[R * C], dwv[C * K];
    TU_OK(vf_exec_read(ex, 0, hx, h, sizeof h));
    TU_OK(vf_exec_read(ex, 0, dw, dwv, sizeof dwv));
    for (int i = 0; i < R; i++) {
        int best = 0;
        for (int j = 1; j < C; j++)
            if (xv[i * C + j] > xv[i * C + best]) best = j;
        for (int j = 0; j < C; j++) cr_assert_eq(h[i * C + j], j == best ? 1.0f : 0.0f, "row %d column %d", i, j);
    }
    cr_assert_eq(h[2 * C + 1], 1.0f, "a tie goes to the lowest index");
    for (int i = 0; i < C; i++) /* d sum(x w) / dw[i][k] = sum_r x[r][i] */
        for (int k = 0; k < K; k++) {
            double want = 0;
            for (int rr = 0; rr < R; rr++) want += xv[rr * C + i];
            cr_assert(fabs(dwv[i * K + k] - want) < 1e-5, "dw[%d][%d] = %g, want %g", i, k, (double)dwv[i * K + k], want);
        }
    vf_exec_destroy(ex);
    vf_graph_destroy(g);
}

Test(graph_exec, onehot_argmax_cpu) { onehot_argmax_case(tu_cpu()); }

Test(graph_exec, onehot_argmax_vk) {
    vf_backend *vk = tu_vk();
    if (!vk) cr_skip_test("no Vulkan device");
    onehot_argmax_case(vk);
    tu_check_validation();
}
