/* The DSL constructs DoppelGANger needs, each against values computed by
 * hand: symbolic dims (caller overrides, file defaults, expressions),
 * reshape, repeat, cumsum, detach (no gradient), heads from segment tables
 * (softmax / sigmoid / tanh per record), and per-program parameter subsets
 * (d_step leaves G alone, g_step leaves D alone). */
#include "model.h"
#include "test_gan_common.h"

#include <math.h>
#include <stdio.h>
#include <unistd.h>

static vf_model *load_text(const char *text, const vf_model_env *env) {
    char path[256];
    snprintf(path, sizeof path, "/tmp/vkflow_test_gan_dsl_%ld.cfg", (long)getpid());
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
    vf_model *m = NULL;
    vf_status s = vf_model_load_env(path, env, &m);
    remove(path);
    cr_assert_eq(s, VF_OK, "%s", vf_last_error());
    return m;
}

static vf_exec *compile_cpu(vf_model *m) {
    vf_exec_opts o = {.fuse = true, .plan = true, .capture = true, .seed = 1};
    vf_exec *x = NULL;
    TU_OK(vf_model_compile(m, tu_cpu(), &o, &x));
    return x;
}

static void read_node(vf_exec *x, vf_model *m, const char *name, float *dst, size_t n) {
    TU_OK(vf_exec_read(x, vf_exec_program(x, "eval"), vf_model_node(m, name), dst, n * sizeof(float)));
}

Test(gan_dsl, dims_reshape_repeat_cumsum) {
    static const vf_dim dims[1] = {{"cols", 3}};
    vf_model_env env = {.dims = dims, .n_dims = 1};
    vf_model *m = load_text(
        "dims = { rows = 2; cols = 99; twice = \"cols * 2\"; half = \"(rows * cols + 1) / 2\"; };\n"
        "inputs = ( { name = \"x\"; shape = [\"rows\", \"cols\"]; data = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; } );\n"
        "tensors = (\n"
        "  { name = \"r\"; reshape = \"x\"; shape = [\"cols\", \"rows\"]; },\n"
        "  { name = \"flat\"; reshape = \"x\"; shape = [\"rows * cols\"]; },\n"
        "  { name = \"t\"; repeat = \"x\"; times = 2; },\n"
        "  { name = \"cs\"; cumsum = \"x\"; },\n"
        "  { name = \"cx\"; cumsum = \"x\"; exclusive = true; }\n"
        ");\n"
        "programs = ( { name = \"eval\"; outputs = [\"r\", \"t\", \"cs\", \"cx\", \"flat\"]; } );\n",
        &env);
    cr_expect_eq(vf_model_dim(m, "cols", 0), 3, "the caller's value wins over the file's default");
    cr_expect_eq(vf_model_dim(m, "twice", 0), 6);
    cr_expect_eq(vf_model_dim(m, "half", 0), 3, "'/' rounds down: 7 / 2 = 3");
    cr_expect_eq(vf_model_dim(m, "nope", -5), -5);
    vf_exec *x = compile_cpu(m);
    TU_OK(vf_exec_run(x, vf_exec_program(x, "eval")));
    float r[6], t[12], cs[6], cx[6];
    read_node(x, m, "r", r, 6);
    read_node(x, m, "t", t, 12);
    read_node(x, m, "cs", cs, 6);
    read_node(x, m, "cx", cx, 6);
    const vf_gnode *R = &vf_model_graph(m)->nodes[vf_model_node(m, "r")];
    cr_expect(R->shape[0] == 3 && R->shape[1] == 2);
    cr_expect_eq(vf_model_graph(m)->nodes[vf_model_node(m, "flat")].ndim, 1);
    for (int i = 0; i < 6; i++) cr_expect_eq(r[i], (float)(i + 1), "reshape keeps row-major order");
    const float wt[12] = {1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6};
    const float wcs[6] = {1, 3, 6, 4, 9, 15}, wcx[6] = {0, 1, 3, 0, 4, 9};
    for (int i = 0; i < 12; i++) cr_expect_eq(t[i], wt[i], "repeat [%d]", i);
    for (int i = 0; i < 6; i++) {
        cr_expect_eq(cs[i], wcs[i], "cumsum [%d] = %g", i, (double)cs[i]);
        cr_expect_eq(cx[i], wcx[i], "exclusive cumsum [%d] = %g", i, (double)cx[i]);
    }
    vf_exec_destroy(x);
    vf_model_destroy(m);
}

/* d/dw sum(w * reshape(repeat(x))) and the detach: y = sum(detach(w) * w)
 * has gradient w (not 2 w). */
Test(gan_dsl, gradients_through_reshape_repeat_and_detach) {
    vf_graph *g = vf_graph_create();
    int64_t s23[2] = {2, 3};
    int w = vf_g_param(g, "w", 2, s23, VF_INIT_UNIFORM, 1.0f);
    int rep = vf_g_concat(g, 2, (int[]){w, w});                                  /* [2, 6] */
    int re = vf_g_reshape(g, rep, 2, (int64_t[]){4, 3});                         /* [4, 3] */
    int c = vf_g_const(g, 2.0f, 2, (int64_t[]){4, 3});
    int y1 = vf_g_sum(g, vf_g_mul(g, re, c), VF_REDUCE_ALL, false);             /* d/dw = 4 */
    int y2 = vf_g_sum(g, vf_g_mul(g, vf_g_detach(g, w), w), VF_REDUCE_ALL, false); /* d/dw = w */
    int y = vf_g_add(g, y1, y2);
    int gw;
    TU_OK(vf_graph_vjp(g, y, -1, 1, &w, &gw));
    vf_prog_desc p = {.name = "p", .n_out = 2, .outs = (int[]){gw, w}};
    vf_exec_opts o = {.fuse = true, .plan = true, .capture = true, .seed = 3};
    vf_exec *x;
    TU_OK(vf_exec_create(g, tu_cpu(), 1, &p, &o, &x));
    TU_OK(vf_exec_run(x, 0));
    float gv[6], wv[6];
    TU_OK(vf_exec_read(x, 0, gw, gv, sizeof gv));
    TU_OK(vf_exec_read(x, 0, w, wv, sizeof wv));
    for (int i = 0; i < 6; i++)
        cr_expect(fabsf(gv[i] - (4.0f + wv[i])) < 1e-5f, "grad[%d] = %g, want 4 + w = %g", i, (double)gv[i],
                  (double)(4.0f + wv[i]));
    vf_exec_destroy(x);
    vf_graph_destroy(g);
}

/* Records of [softmax 2 | softmax 2 | sigmoid | tanh] (width 6), 2 records
 * per row. */
Test(gan_dsl, heads_per_record) {
    static const vf_head_seg segs[4] = {{0, 2, VF_HEAD_SOFTMAX}, {2, 2, VF_HEAD_SOFTMAX}, {4, 1, VF_HEAD_SIGMOID},
                                        {5, 1, VF_HEAD_TANH}};
    static const vf_head_table tb[1] = {{"rec", 4, segs}};
    vf_model_env env = {.heads = tb, .n_heads = 1};
    vf_model *m = load_text(
        "inputs = ( { name = \"x\"; shape = [2, 12]; data = [0.0, 1.0, 2.0, -1.0, 0.5, 0.5,  3.0, 3.0, -2.0, 1.0, -1.0, 2.0,\n"
        "   1.0, 0.0, 0.0, 0.0, 2.0, -0.3,  -1.0, 1.0, 5.0, 4.0, 0.0, -4.0]; } );\n"
        "networks = ( { name = \"h\"; input = 12; layers = ( { type = \"heads\"; segments = \"rec\"; } ); } );\n"
        "tensors = ( { name = \"y\"; net = \"h\"; input = \"x\"; } );\n"
        "programs = ( { name = \"eval\"; outputs = [\"y\"]; } );\n",
        &env);
    vf_exec *x = compile_cpu(m);
    TU_OK(vf_exec_run(x, vf_exec_program(x, "eval")));
    float in[24] = {0, 1, 2, -1, .5f, .5f, 3, 3, -2, 1, -1, 2, 1, 0, 0, 0, 2, -.3f, -1, 1, 5, 4, 0, -4}, y[24];
    read_node(x, m, "y", y, 24);
    for (int r = 0; r < 4; r++) {
        const float *a = in + r * 6, *b = y + r * 6;
        for (int s = 0; s < 2; s++) {
            double e0 = exp(a[2 * s]), e1 = exp(a[2 * s + 1]);
            cr_expect(fabs(b[2 * s] - e0 / (e0 + e1)) < 1e-6, "record %d softmax %d", r, s);
            cr_expect(fabs(b[2 * s + 1] - e1 / (e0 + e1)) < 1e-6);
        }
        cr_expect(fabs(b[4] - 1 / (1 + exp(-a[4]))) < 1e-6, "record %d sigmoid", r);
        cr_expect(fabs(b[5] - tanh(a[5])) < 1e-6, "record %d tanh", r);
    }
    vf_exec_destroy(x);
    vf_model_destroy(m);
}

/* The tiny DoppelGANger: d_step changes D and D_attr only, g_step G only. */
Test(gan_dsl, programs_update_only_their_networks) {
    static const vf_dim dims[3] = {{"attr_dim", 2}, {"feat_dim", 1}, {"max_len", 4}};
    static const vf_head_seg sa[1] = {{0, 2, VF_HEAD_SOFTMAX}}, sf[1] = {{0, 1, VF_HEAD_SIGMOID}};
    static const vf_head_table tb[2] = {{"attr", 1, sa}, {"feat", 1, sf}};
    vf_model_env env = {.dims = dims, .n_dims = 3, .heads = tb, .n_heads = 2};
    vf_model *m = NULL;
    TU_OK(vf_model_load_env(GAN_TINY, &env, &m));
    vf_exec *x = compile_cpu(m);
    vf_graph *g = vf_model_graph(m);
    int n = 0, ids[64];
    for (int i = 0; i < g->n && n < 64; i++)
        if (g->nodes[i].op == VF_G_PARAM) ids[n++] = i;
    float *before[64];
    for (int k = 0; k < n; k++) {
        size_t c = (size_t)vf_gnode_numel(&g->nodes[ids[k]]);
        before[k] = malloc(c * sizeof(float));
        TU_OK(vf_exec_read(x, -1, ids[k], before[k], c * sizeof(float)));
    }
    const char *progs[2] = {"d_step", "g_step"};
    for (int q = 0; q < 2; q++) {
        TU_OK(vf_exec_run(x, vf_exec_program(x, progs[q])));
        for (int k = 0; k < n; k++) {
            const vf_gnode *P = &g->nodes[ids[k]];
            size_t c = (size_t)vf_gnode_numel(P);
            float *now = malloc(c * sizeof(float));
            TU_OK(vf_exec_read(x, -1, ids[k], now, c * sizeof(float)));
            bool is_d = P->name[0] == 'D';
            bool changed = memcmp(now, before[k], c * sizeof(float)) != 0;
            /* everything of the updated networks moves under Adam's first step,
             * except a critic's output bias: E[D(fake)] - E[D(real)] cancels it
             * and the penalty does not see it (zero gradient, as in WGAN) */
            bool out_bias = is_d && strstr(P->name, "/5/b") != NULL;
            bool should = (q == 0 ? is_d : !is_d) && !out_bias;
            cr_expect_eq(changed, should, "%s: %s %s", progs[q], P->name, changed ? "changed" : "did not change");
            memcpy(before[k], now, c * sizeof(float));
            free(now);
        }
    }
    for (int k = 0; k < n; k++) free(before[k]);
    vf_exec_destroy(x);
    vf_model_destroy(m);
}
