/* Second-order autodiff: gradients of the WGAN-GP and R1 penalties (which are
 * built from grad_x D) with respect to D's parameters, against central finite
 * differences of the penalty itself, for an MLP (leaky_relu, tanh, softplus)
 * and an LSTM discriminator, on cpu and vk; and vk against cpu. */
#include "test_graph_common.h"

#include <math.h>
#include <stdio.h>

/* Checks up to `per` entries of every parameter gradient by central
 * differences of the penalty (float32: eps 2e-3). */
static void check_fd(dmodel *m, vf_backend *be, int per) {
    vf_exec *x = tg_exec(m, be, true, true);
    TU_OK(vf_exec_run(x, 0));
    double worst = 0;
    int checked = 0;
    for (int pi = 0; pi < m->n_params; pi++) {
        int p = m->params[pi];
        size_t n = tg_numel(x, p);
        float *val = tg_read(x, p), *an = tg_read(x, m->grads[pi]);
        for (int k = 0; k < per && (size_t)k < n; k++) {
            size_t i = (size_t)k * n / (size_t)per;
            if (k && i == (size_t)(k - 1) * n / (size_t)per) continue;
            const float eps = 2e-3f;
            float v = val[i], lp, lm;
            val[i] = v + eps;
            TU_OK(vf_exec_write(x, p, val, n * sizeof *val));
            TU_OK(vf_exec_run(x, 0));
            TU_OK(vf_exec_read(x, 0, m->loss, &lp, sizeof lp));
            val[i] = v - eps;
            TU_OK(vf_exec_write(x, p, val, n * sizeof *val));
            TU_OK(vf_exec_run(x, 0));
            TU_OK(vf_exec_read(x, 0, m->loss, &lm, sizeof lm));
            val[i] = v;
            TU_OK(vf_exec_write(x, p, val, n * sizeof *val));
            double fd = ((double)lp - (double)lm) / (2.0 * eps);
            double err = fabs(fd - an[i]) / (3e-3 + 3e-2 * fabs(fd));
            if (err > worst) worst = err;
            cr_expect(err <= 1.0, "param %s[%zu]: analytic %.6g, finite difference %.6g",
                      m->g->nodes[p].name, i, (double)an[i], fd);
            checked++;
        }
        free(val);
        free(an);
    }
    cr_assert_geq(checked, m->n_params);
    vf_exec_destroy(x);
    vf_graph_destroy(m->g);
}

static vf_backend *vk_or_skip(void) {
    vf_backend *be = tu_vk();
    if (!be) cr_skip_test("no Vulkan device");
    return be;
}

Test(graph_grad, wgan_gp_mlp_cpu) { dmodel m; tg_mlp_d(&m, 6, 3, 5); tg_penalty(&m, false); check_fd(&m, tu_cpu(), 6); }
Test(graph_grad, r1_mlp_cpu) { dmodel m; tg_mlp_d(&m, 6, 3, 5); tg_penalty(&m, true); check_fd(&m, tu_cpu(), 6); }
Test(graph_grad, wgan_gp_lstm_cpu) { dmodel m; tg_lstm_d(&m, 5, 3, 2, 4); tg_penalty(&m, false); check_fd(&m, tu_cpu(), 6); }
Test(graph_grad, r1_lstm_cpu) { dmodel m; tg_lstm_d(&m, 5, 3, 2, 4); tg_penalty(&m, true); check_fd(&m, tu_cpu(), 6); }

Test(graph_grad, wgan_gp_mlp_vk) {
    vf_backend *be = vk_or_skip();
    dmodel m; tg_mlp_d(&m, 6, 3, 5); tg_penalty(&m, false); check_fd(&m, be, 3);
    tu_check_validation();
}
Test(graph_grad, r1_lstm_vk) {
    vf_backend *be = vk_or_skip();
    dmodel m; tg_lstm_d(&m, 5, 3, 2, 4); tg_penalty(&m, true); check_fd(&m, be, 2);
    tu_check_validation();
}

/* The same compiled penalty gradients on vk and cpu. */
static void vk_vs_cpu(dmodel *m) {
    vf_backend *vk = vk_or_skip();
    vf_exec *a = tg_exec(m, tu_cpu(), true, true), *b = tg_exec(m, vk, true, true);
    TU_OK(vf_exec_run(a, 0));
    TU_OK(vf_exec_run(b, 0));
    for (int i = 0; i <= m->n_params; i++) {
        int node = i ? m->grads[i - 1] : m->loss;
        size_t n = tg_numel(a, node);
        float *x = tg_read(a, node), *y = tg_read(b, node);
        double e = tu_max_rel(y, x, n, 1e-5, 1e-3);
        cr_expect(e <= 1.0, "node %d: vk vs cpu max relative error %.3g", node, e);
        free(x);
        free(y);
    }
    vf_exec_destroy(a);
    vf_exec_destroy(b);
    vf_graph_destroy(m->g);
    tu_check_validation();
}

Test(graph_grad, wgan_gp_mlp_vk_vs_cpu) { dmodel m; tg_mlp_d(&m, 6, 3, 5); tg_penalty(&m, false); vk_vs_cpu(&m); }
Test(graph_grad, wgan_gp_lstm_vk_vs_cpu) { dmodel m; tg_lstm_d(&m, 5, 3, 2, 4); tg_penalty(&m, false); vk_vs_cpu(&m); }

/* Differentiating a fused backward op again fails with a clear message. */
Test(graph_grad, second_order_softmax_refused) {
    vf_graph *g = vf_graph_create();
    int64_t s[2] = {3, 4};
    int x = vf_g_input(g, "x", VF_F32, 2, s);
    int y = vf_g_sum(g, vf_g_un(g, VF_EW_SQUARE, vf_g_softmax(g, x, false)), VF_REDUCE_ALL, false);
    int gx;
    TU_OK(vf_graph_vjp(g, y, -1, 1, &x, &gx));
    int n2 = vf_g_sum(g, vf_g_un(g, VF_EW_SQUARE, gx), VF_REDUCE_ALL, false);
    int ggx;
    vf_status st = vf_graph_vjp(g, n2, -1, 1, &x, &ggx);
    cr_assert_eq(st, VF_ERR_UNSUPPORTED);
    cr_assert(strstr(vf_last_error(), "second-order gradient of softmax not supported"), "%s", vf_last_error());
    vf_graph_destroy(g);
}

/* MLP D with sin and cos activations: the penalties' parameter gradients go
 * through their second derivatives (-sin, -cos). */
static void trig_d(dmodel *m, int64_t B, int64_t F, int64_t H) {
    memset(m, 0, sizeof *m);
    m->g = vf_graph_create();
    tg_inputs(m, B, F);
    vf_graph *g = m->g;
    int w1 = tg_param(m, "w1", F, H, VF_INIT_XAVIER, 1.5f), b1 = tg_param(m, "b1", H, 0, VF_INIT_UNIFORM, 0.3f);
    int w2 = tg_param(m, "w2", H, H, VF_INIT_XAVIER, 1.5f), b2 = tg_param(m, "b2", H, 0, VF_INIT_UNIFORM, 0.3f);
    int w3 = tg_param(m, "w3", H, 1, VF_INIT_XAVIER, 1.5f), b3 = tg_param(m, "b3", 1, 0, VF_INIT_UNIFORM, 0.3f);
    int h = vf_g_un(g, VF_EW_SIN, vf_g_dense(g, m->xhat, w1, b1));
    h = vf_g_un(g, VF_EW_COS, vf_g_dense(g, h, w2, b2));
    m->out = vf_g_dense(g, h, w3, b3);
}

Test(graph_grad, wgan_gp_sin_cos_cpu) { dmodel m; trig_d(&m, 6, 3, 5); tg_penalty(&m, false); check_fd(&m, tu_cpu(), 6); }
Test(graph_grad, r1_sin_cos_cpu) { dmodel m; trig_d(&m, 6, 3, 5); tg_penalty(&m, true); check_fd(&m, tu_cpu(), 6); }
Test(graph_grad, wgan_gp_sin_cos_vk_vs_cpu) { dmodel m; trig_d(&m, 6, 3, 5); tg_penalty(&m, false); vk_vs_cpu(&m); }
