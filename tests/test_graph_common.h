/* Small discriminators and penalty graphs shared by the test_graph_* suites. */
#ifndef TEST_GRAPH_COMMON_H
#define TEST_GRAPH_COMMON_H

#include "graph/exec.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

typedef struct dmodel {
    vf_graph *g;
    int real, fake, alpha;    /* inputs [B, F], [B, F], [B] */
    int xhat, out;            /* interpolates and D(xhat) [B, 1] */
    int n_params, params[16];
    int loss;                 /* the penalty [1] */
    int grads[16];            /* d loss / d params */
    int64_t B, F;
} dmodel;

static inline int tg_param(dmodel *m, const char *name, int64_t r, int64_t c, vf_ginit init, float scale) {
    int64_t s[2] = {r, c};
    int id = c ? vf_g_param(m->g, name, 2, s, init, scale) : vf_g_param(m->g, name, 1, s, init, scale);
    m->params[m->n_params++] = id;
    return id;
}

static inline void tg_inputs(dmodel *m, int64_t B, int64_t F) {
    m->B = B;
    m->F = F;
    int64_t s[2] = {B, F};
    m->real = vf_g_input(m->g, "real", VF_F32, 2, s);
    m->fake = vf_g_input(m->g, "fake", VF_F32, 2, s);
    m->alpha = vf_g_input(m->g, "alpha", VF_F32, 1, s);
    /* x_hat = alpha real + (1 - alpha) fake, alpha [B] broadcast per row */
    int one = vf_g_scalar(m->g, 1.0f);
    m->xhat = vf_g_add(m->g, vf_g_mul(m->g, m->alpha, m->real),
                       vf_g_mul(m->g, vf_g_sub(m->g, one, m->alpha), m->fake));
}

/* MLP D: leaky_relu -> tanh -> softplus -> linear */
static inline void tg_mlp_d(dmodel *m, int64_t B, int64_t F, int64_t H) {
    memset(m, 0, sizeof *m);
    m->g = vf_graph_create();
    tg_inputs(m, B, F);
    vf_graph *g = m->g;
    int w1 = tg_param(m, "w1", F, H, VF_INIT_XAVIER, 1.5f), b1 = tg_param(m, "b1", H, 0, VF_INIT_UNIFORM, 0.3f);
    int w2 = tg_param(m, "w2", H, H, VF_INIT_XAVIER, 1.5f), b2 = tg_param(m, "b2", H, 0, VF_INIT_UNIFORM, 0.3f);
    int w3 = tg_param(m, "w3", H, H, VF_INIT_XAVIER, 1.5f), b3 = tg_param(m, "b3", H, 0, VF_INIT_UNIFORM, 0.3f);
    int w4 = tg_param(m, "w4", H, 1, VF_INIT_XAVIER, 1.5f), b4 = tg_param(m, "b4", 1, 0, VF_INIT_UNIFORM, 0.3f);
    int h = vf_g_leaky_relu(g, vf_g_dense(g, m->xhat, w1, b1), 0.2f);
    h = vf_g_un(g, VF_EW_TANH, vf_g_dense(g, h, w2, b2));
    h = vf_g_un(g, VF_EW_SOFTPLUS, vf_g_dense(g, h, w3, b3));
    m->out = vf_g_dense(g, h, w4, b4);
}

/* LSTM D over T steps of F features: last h -> linear */
static inline void tg_lstm_d(dmodel *m, int64_t B, int64_t T, int64_t F, int64_t H) {
    memset(m, 0, sizeof *m);
    m->g = vf_graph_create();
    tg_inputs(m, B, T * F);
    vf_graph *g = m->g;
    int wx = tg_param(m, "wx", F, 4 * H, VF_INIT_XAVIER, 1.0f);
    int wh = tg_param(m, "wh", H, 4 * H, VF_INIT_XAVIER, 1.0f);
    int b = tg_param(m, "b", 4 * H, 0, VF_INIT_UNIFORM, 0.3f);
    int wo = tg_param(m, "wo", H, 1, VF_INIT_XAVIER, 1.5f), bo = tg_param(m, "bo", 1, 0, VF_INIT_UNIFORM, 0.3f);
    int h = vf_g_lstm(g, m->xhat, T, wx, wh, b, NULL);
    m->out = vf_g_dense(g, h, wo, bo);
}

/* loss = penalty (wgan_gp or r1) and its gradients w.r.t. D's params */
static inline void tg_penalty(dmodel *m, bool r1) {
    m->loss = r1 ? vf_g_r1(m->g, m->out, m->xhat) : vf_g_wgan_gp(m->g, m->out, m->xhat);
    TU_OK(vf_graph_status(m->g));
    TU_OK(vf_graph_vjp(m->g, m->loss, -1, m->n_params, m->params, m->grads));
}

static inline vf_exec *tg_exec(dmodel *m, vf_backend *be, bool fuse, bool capture) {
    int outs[17];
    outs[0] = m->loss;
    for (int i = 0; i < m->n_params; i++) outs[1 + i] = m->grads[i];
    vf_prog_desc d = {.name = "penalty", .n_out = 1 + m->n_params, .outs = outs};
    vf_exec_opts o = {.fuse = fuse, .plan = true, .capture = capture, .seed = 7};
    vf_exec *x = NULL;
    TU_OK(vf_exec_create(m->g, be, 1, &d, &o, &x));
    tu_rng r = tu_rng_make(11);
    size_t n = (size_t)(m->B * m->F);
    float *buf = malloc(n * sizeof *buf);
    tu_fill_uniform(&r, buf, n, -1, 1);
    TU_OK(vf_exec_write(x, m->real, buf, n * sizeof *buf));
    tu_fill_uniform(&r, buf, n, -1, 1);
    TU_OK(vf_exec_write(x, m->fake, buf, n * sizeof *buf));
    tu_fill_uniform(&r, buf, (size_t)m->B, 0, 1);
    TU_OK(vf_exec_write(x, m->alpha, buf, (size_t)m->B * sizeof *buf));
    free(buf);
    return x;
}

static inline float *tg_read(vf_exec *x, int node) {
    vf_tensor t;
    TU_OK(vf_exec_tensor(x, 0, node, &t));
    float *h = malloc(vf_tensor_bytes(&t));
    TU_OK(vf_tensor_read(&t, h, vf_tensor_bytes(&t)));
    return h;
}

static inline size_t tg_numel(vf_exec *x, int node) {
    vf_tensor t;
    TU_OK(vf_exec_tensor(x, 0, node, &t));
    return (size_t)t.numel;
}

#endif
