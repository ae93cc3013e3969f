/* Every backward function against central finite differences, on the cpu
 * backend (ggml's MODE_GRAD idea, REFERENCE.md 6.8).
 *
 * For an op with inputs x_j and outputs y_k the scalar loss is
 *   L = sum_k sum_i w_k[i] * y_k[i]
 * with fixed random weights w_k, so every output element matters and the
 * upstream gradient handed to the backward function is simply dy_k = w_k.
 * The numerical gradient of element i of x_j is
 *   (L(x + h e_i) - L(x - h e_i)) / (x_i+ - x_i-)
 * where x_i+- are the float32 values actually stored (x_i +- h rounded), and L
 * is summed in double from the float32 outputs. Only the outputs that depend
 * on x_i change between the two evaluations, so the rounding noise in L is
 * that of a few outputs, not of the whole sum.
 *
 * The error of an input's gradient is max_i |analytic_i - numeric_i| divided
 * by max_i |numeric_i| (the gradient's scale), so tiny entries of a large
 * gradient are not held to an impossible relative bound. Each test states its
 * bound; the measured errors are logged (cr_log_info, run with --verbose).
 * Gradient tensors are pre-filled with NaN so an element the backward pass
 * forgets to write fails the test. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAXT 8

typedef struct gcase gcase;
typedef void (*gfn)(gcase *g);

struct gcase {
    const char *name;
    vf_arena *arena;
    tu_rng rng;
    int nin;
    vf_tensor in[MAXT];
    const char *in_name[MAXT];
    bool has_grad[MAXT];
    vf_tensor grad[MAXT];     /* analytic gradient of in[j] (if has_grad) */
    float *grad_init[MAXT];   /* accumulate tests: grad's contents before backward */
    int nout;
    vf_tensor out[MAXT], dout[MAXT]; /* L = sum_k <w_k, out_k>; dout_k = w_k */
    vf_tensor aux[MAXT];      /* op-specific extras: stats, indices, hidden outputs */
    gfn fwd, bwd;
    bool ta, tb, acc, flag;   /* op parameters */
    int ip[4];
    float fp[4];
    const vf_segments *seg;   /* segment ops: the table (NULL: whole rows) */
};

static void gc_init(gcase *g, const char *name, uint64_t seed) {
    memset(g, 0, sizeof *g);
    g->name = name;
    g->arena = tu_arena(tu_cpu(), 1 << 20);
    g->rng = tu_rng_make(seed);
}

static void gc_free(gcase *g) {
    for (int j = 0; j < g->nin; j++) free(g->grad_init[j]);
    vf_arena_destroy(g->arena);
}

/* Random values with magnitude in [lo, hi] and a random sign: never zero, and
 * (for lo > h) never within a step of a kink at 0. */
static void fill_away(tu_rng *r, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) {
        float m = tu_uniform(r, lo, hi);
        x[i] = tu_uniform(r, 0.0f, 1.0f) < 0.5f ? -m : m;
    }
}

static int64_t numel_of(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

/* Adds an input with random data (|x| in [lo, hi], random sign, or plain
 * uniform [lo, hi) when `signed_` is false) and, if wanted, its gradient. */
static int gc_input(gcase *g, const char *name, int ndim, const int64_t *shape, float lo,
                    float hi, bool signed_, bool want_grad) {
    int j = g->nin++;
    cr_assert(j < MAXT);
    int64_t n = numel_of(ndim, shape);
    float *x = malloc((size_t)n * sizeof *x);
    if (signed_) fill_away(&g->rng, x, (size_t)n, lo, hi);
    else tu_fill_uniform(&g->rng, x, (size_t)n, lo, hi);
    g->in[j] = tu_tensor(g->arena, ndim, shape, x);
    free(x);
    g->in_name[j] = name;
    g->has_grad[j] = want_grad;
    if (want_grad) g->grad[j] = tu_tensor(g->arena, ndim, shape, NULL);
    return j;
}

static int gc_input2(gcase *g, const char *name, int64_t r, int64_t c, bool want_grad) {
    int64_t s[2] = {r, c};
    return gc_input(g, name, 2, s, 0.1f, 1.5f, true, want_grad);
}

static int gc_output(gcase *g, int ndim, const int64_t *shape) {
    int k = g->nout++;
    cr_assert(k < MAXT);
    g->out[k] = tu_tensor(g->arena, ndim, shape, NULL);
    g->dout[k] = tu_tensor(g->arena, ndim, shape, NULL);
    return k;
}

static int gc_output2(gcase *g, int64_t r, int64_t c) {
    int64_t s[2] = {r, c};
    return gc_output(g, 2, s);
}

static int gc_output1(gcase *g, int64_t n) { return gc_output(g, 1, &n); }

/* Accumulate tests: grad j holds random values before the backward call; the
 * check subtracts them afterwards. */
static void gc_accumulate_into(gcase *g, int j) {
    size_t n = (size_t)g->in[j].numel;
    g->grad_init[j] = malloc(n * sizeof(float));
    fill_away(&g->rng, g->grad_init[j], n, 0.1f, 1.5f);
}

static double gc_loss(gcase *g, float **w) {
    g->fwd(g);
    double L = 0;
    for (int k = 0; k < g->nout; k++) {
        float *y = tu_read(&g->out[k]);
        for (int64_t i = 0; i < g->out[k].numel; i++) L += (double)w[k][i] * y[i];
        free(y);
    }
    return L;
}

/* Runs forward + backward once, then the finite differences; asserts the
 * error of every input's gradient is <= tol. Returns the worst error. */
static double gc_check(gcase *g, double h, double tol) {
    float *w[MAXT];
    for (int k = 0; k < g->nout; k++) {
        size_t n = (size_t)g->out[k].numel;
        w[k] = malloc(n * sizeof(float));
        fill_away(&g->rng, w[k], n, 0.2f, 1.0f);
        TU_OK(vf_tensor_write(&g->dout[k], w[k], n * sizeof(float)));
    }
    for (int j = 0; j < g->nin; j++) {
        if (!g->has_grad[j]) continue;
        if (g->grad_init[j])
            TU_OK(vf_tensor_write(&g->grad[j], g->grad_init[j], vf_tensor_bytes(&g->grad[j])));
        else
            TU_OK(vf_fill(&g->grad[j], NAN));
    }
    g->fwd(g);
    g->bwd(g);
    double worst = 0;
    for (int j = 0; j < g->nin; j++) {
        if (!g->has_grad[j]) continue;
        size_t n = (size_t)g->in[j].numel, bytes = n * sizeof(float);
        float *ga = tu_read(&g->grad[j]);
        if (g->grad_init[j])
            for (size_t i = 0; i < n; i++) ga[i] -= g->grad_init[j][i];
        float *x = tu_read(&g->in[j]);
        double *gn = malloc(n * sizeof *gn);
        for (size_t i = 0; i < n; i++) {
            float x0 = x[i], xp = (float)(x0 + h), xm = (float)(x0 - h);
            x[i] = xp;
            TU_OK(vf_tensor_write(&g->in[j], x, bytes));
            double lp = gc_loss(g, w);
            x[i] = xm;
            TU_OK(vf_tensor_write(&g->in[j], x, bytes));
            double lm = gc_loss(g, w);
            x[i] = x0;
            gn[i] = (lp - lm) / ((double)xp - (double)xm);
        }
        TU_OK(vf_tensor_write(&g->in[j], x, bytes));
        double scale = 0, diff = 0;
        size_t at = 0;
        for (size_t i = 0; i < n; i++) {
            scale = fmax(scale, fabs(gn[i]));
            double d = fabs((double)ga[i] - gn[i]);
            if (isnan(d)) d = INFINITY;
            if (d > diff) {
                diff = d;
                at = i;
            }
        }
        /* a zero numerical gradient would make the comparison vacuous */
        cr_assert(scale > 1e-4, "%s: d/d%s is ~0 everywhere (scale %g): test is vacuous",
                  g->name, g->in_name[j], scale);
        double err = diff / scale;
        cr_log_info("%s: d/d%s (%zu elements): max error %.3g of scale %.3g -> %.3g (bound %.3g)",
                    g->name, g->in_name[j], n, diff, scale, err, tol);
        cr_expect(err <= tol,
                  "%s: d/d%s: relative error %.3g > %.3g (element %zu: analytic %.7g, numeric %.7g)",
                  g->name, g->in_name[j], err, tol, at, (double)ga[at], gn[at]);
        if (err > worst) worst = err;
        free(gn);
        free(x);
        free(ga);
    }
    for (int k = 0; k < g->nout; k++) free(w[k]);
    return worst;
}

/* ------------------------------------------------------------- harness self-test */

/* Wrong on purpose: y = 2x but the backward claims dx = 2.04 dy. The harness
 * must see a 2% error, so a real 2% bug in an op would not slip through. */
static void f_scale2(gcase *g) { TU_OK(vf_scale(&g->in[0], &g->out[0], 2.0f, 0.0f)); }
static void b_scale2_wrong(gcase *g) { TU_OK(vf_scale(&g->dout[0], &g->grad[0], 2.04f, 0.0f)); }

Test(grad, harness_detects_a_2_percent_error) {
    gcase g;
    gc_init(&g, "harness", 1);
    gc_input2(&g, "x", 3, 5, true);
    gc_output2(&g, 3, 5);
    g.fwd = f_scale2;
    g.bwd = b_scale2_wrong;
    /* cr_expect inside gc_check would mark the test failed, so compute the
     * error with an impossible-to-fail bound and compare here */
    double err = gc_check(&g, 1e-2, INFINITY);
    cr_assert(err > 0.015 && err < 0.025, "harness measured %g for a 2%% error", err);
    gc_free(&g);
}

/* ------------------------------------------------------------------ matmul */

static void f_matmul(gcase *g) {
    TU_OK(vf_matmul(&g->in[0], g->ta, &g->in[1], g->tb, &g->out[0], 1.0f, 0.0f));
}
static void b_matmul(gcase *g) {
    TU_OK(vf_matmul_backward(&g->in[0], g->ta, &g->in[1], g->tb, &g->dout[0],
                             g->has_grad[0] ? &g->grad[0] : NULL,
                             g->has_grad[1] ? &g->grad[1] : NULL, g->acc));
}

/* batch 0 = plain 2-D; else 3-D A and B (batch_a/batch_b = 1 means a shared
 * 2-D operand). */
static void matmul_case(int64_t batch, bool a3, bool b3, int64_t M, int64_t K, int64_t N,
                        bool ta, bool tb, bool acc, bool grad_a, bool grad_b, uint64_t seed) {
    gcase g;
    gc_init(&g, "matmul", seed);
    g.ta = ta;
    g.tb = tb;
    g.acc = acc;
    int64_t sa[3], sb[3], sc[3];
    int na = 0, nb = 0, nc = 0;
    if (a3) sa[na++] = batch;
    sa[na++] = ta ? K : M;
    sa[na++] = ta ? M : K;
    if (b3) sb[nb++] = batch;
    sb[nb++] = tb ? N : K;
    sb[nb++] = tb ? K : N;
    if (a3 || b3) sc[nc++] = batch;
    sc[nc++] = M;
    sc[nc++] = N;
    gc_input(&g, "A", na, sa, 0.1f, 1.5f, true, grad_a);
    gc_input(&g, "B", nb, sb, 0.1f, 1.5f, true, grad_b);
    gc_output(&g, nc, sc);
    if (acc) {
        if (grad_a) gc_accumulate_into(&g, 0);
        if (grad_b) gc_accumulate_into(&g, 1);
    }
    g.fwd = f_matmul;
    g.bwd = b_matmul;
    cr_log_info("matmul batch %lld%s%s M %lld K %lld N %lld ta %d tb %d acc %d", (long long)batch,
                a3 ? " A3" : "", b3 ? " B3" : "", (long long)M, (long long)K, (long long)N, ta,
                tb, acc);
    /* linear in each operand: no truncation error, only float rounding of
     * the K-term dot products (measured <= ~1e-5) */
    gc_check(&g, 1e-2, 1e-3);
    gc_free(&g);
}

Test(grad, matmul_all_transposes) {
    for (int t = 0; t < 4; t++) {
        matmul_case(0, false, false, 5, 7, 3, t & 1, t & 2, false, true, true, 10 + (uint64_t)t);
        matmul_case(0, false, false, 1, 11, 2, t & 1, t & 2, false, true, true, 20 + (uint64_t)t);
    }
}

Test(grad, matmul_accumulate) {
    for (int t = 0; t < 4; t++)
        matmul_case(0, false, false, 3, 5, 2, t & 1, t & 2, true, true, true, 30 + (uint64_t)t);
}

Test(grad, matmul_batched) {
    for (int t = 0; t < 4; t++) {
        matmul_case(3, true, true, 2, 5, 3, t & 1, t & 2, false, true, true, 40 + (uint64_t)t);
        matmul_case(2, true, true, 3, 2, 1, t & 1, t & 2, true, true, true, 50 + (uint64_t)t);
        /* a 2-D operand shared by every batch entry: gradient of the 3-D one;
         * the shared B's own gradient (a sum over the batch) where A is not
         * transposed, with and without accumulate */
        matmul_case(3, true, false, 2, 5, 3, t & 1, t & 2, false, true, !(t & 1),
                    60 + (uint64_t)t);
        matmul_case(2, true, false, 3, 4, 2, t & 1, t & 2, true, true, !(t & 1), 80 + (uint64_t)t);
        matmul_case(3, false, true, 2, 5, 3, t & 1, t & 2, false, false, true, 70 + (uint64_t)t);
    }
}

/* The shared-operand gradients that are not implemented say so instead of
 * returning wrong numbers. */
Test(grad, matmul_shared_operand_unsupported_cases_fail_cleanly) {
    vf_arena *a = tu_arena(tu_cpu(), 1 << 16);
    int64_t s3[3] = {2, 3, 4}, s3c[3] = {2, 3, 5};
    vf_tensor a3 = tu_tensor(a, 3, s3, NULL), b2 = tu_tensor2(a, 4, 5, NULL),
              c3 = tu_tensor(a, 3, s3c, NULL), db = tu_tensor2(a, 4, 5, NULL),
              a2 = tu_tensor2(a, 3, 4, NULL), da = tu_tensor2(a, 3, 4, NULL);
    int64_t s3b[3] = {2, 4, 5};
    vf_tensor b3 = tu_tensor(a, 3, s3b, NULL);
    TU_OK(vf_fill(&a3, 1.0f));
    TU_OK(vf_fill(&b2, 1.0f));
    TU_OK(vf_fill(&c3, 1.0f));
    cr_expect_eq(vf_matmul_backward(&a2, false, &b3, false, &c3, &da, NULL, false),
                 VF_ERR_UNSUPPORTED, "shared A: %s", vf_last_error());
    int64_t s3t[3] = {2, 4, 3};
    vf_tensor a3t = tu_tensor(a, 3, s3t, NULL);
    cr_expect_eq(vf_matmul_backward(&a3t, true, &b2, false, &c3, NULL, &db, false),
                 VF_ERR_UNSUPPORTED, "shared B, transposed A: %s", vf_last_error());
    vf_arena_destroy(a);
}

/* ------------------------------------------------------------ elementwise */

static void f_bias(gcase *g) { TU_OK(vf_bias_add_forward(&g->in[0], &g->in[1], &g->out[0])); }
static void b_bias(gcase *g) {
    /* vkflow.h: dx = dy is the caller's job (it may alias); dbias is the op's */
    TU_OK(vf_copy(&g->dout[0], &g->grad[0]));
    TU_OK(vf_bias_add_backward(&g->dout[0], &g->grad[1]));
}

Test(grad, bias_add) {
    const int64_t shapes[][4] = {{2, 7, 5}, {2, 1, 3}, {3, 2, 3, 5}}; /* ndim, dims */
    for (int s = 0; s < 3; s++) {
        gcase g;
        gc_init(&g, "bias_add", 100 + (uint64_t)s);
        int nd = (int)shapes[s][0];
        const int64_t *shape = &shapes[s][1];
        int64_t C = shape[nd - 1];
        gc_input(&g, "x", nd, shape, 0.1f, 1.5f, true, true);
        gc_input(&g, "bias", 1, &C, 0.1f, 1.5f, true, true);
        gc_output(&g, nd, shape);
        g.fwd = f_bias;
        g.bwd = b_bias;
        gc_check(&g, 1e-2, 1e-3); /* linear: rounding only */
        gc_free(&g);
    }
}

static void f_binary(gcase *g) {
    TU_OK(vf_binary_forward((vf_binary_kind)g->ip[0], &g->in[0], &g->in[1], &g->out[0]));
}
static void b_binary(gcase *g) {
    TU_OK(vf_binary_backward((vf_binary_kind)g->ip[0], &g->in[0], &g->in[1], &g->dout[0],
                             &g->grad[0], &g->grad[1]));
}

Test(grad, binary_add_sub_mul) {
    const char *names[] = {"add", "sub", "mul"};
    for (int k = VF_ADD; k <= VF_MUL; k++) {
        gcase g;
        gc_init(&g, names[k], 200 + (uint64_t)k);
        g.ip[0] = k;
        gc_input2(&g, "a", 3, 7, true);
        gc_input2(&g, "b", 3, 7, true);
        gc_output2(&g, 3, 7);
        g.fwd = f_binary;
        g.bwd = b_binary;
        gc_check(&g, 1e-2, 1e-3); /* (bi)linear: rounding only */
        gc_free(&g);
    }
}

/* y = alpha x + beta y0: the gradients are alpha dy and beta dy, which the
 * caller computes with vf_scale itself (there is no scale_backward). */
static void f_scale(gcase *g) {
    TU_OK(vf_copy(&g->in[1], &g->out[0]));
    TU_OK(vf_scale(&g->in[0], &g->out[0], g->fp[0], g->fp[1]));
}
static void b_scale(gcase *g) {
    TU_OK(vf_scale(&g->dout[0], &g->grad[0], g->fp[0], 0.0f));
    TU_OK(vf_scale(&g->dout[0], &g->grad[1], g->fp[1], 0.0f));
}

Test(grad, scale) {
    gcase g;
    gc_init(&g, "scale", 300);
    g.fp[0] = -1.7f;
    g.fp[1] = 0.6f;
    gc_input2(&g, "x", 1, 13, true);
    gc_input2(&g, "y0", 1, 13, true);
    gc_output2(&g, 1, 13);
    g.fwd = f_scale;
    g.bwd = b_scale;
    gc_check(&g, 1e-2, 1e-3);
    gc_free(&g);
}

static void f_unary(gcase *g) {
    TU_OK(vf_unary_forward((vf_unary_kind)g->ip[0], g->fp[0], &g->in[0], &g->out[0]));
}
static void b_unary(gcase *g) {
    TU_OK(vf_unary_backward((vf_unary_kind)g->ip[0], g->fp[0], &g->in[0], &g->out[0],
                            &g->dout[0], &g->grad[0]));
}

Test(grad, unary_each_kind) {
    for (int k = 0; k < VF_UNARY_COUNT; k++) {
        gcase g;
        gc_init(&g, vf_unary_name((vf_unary_kind)k), 400 + (uint64_t)k);
        g.ip[0] = k;
        g.fp[0] = 0.2f; /* leaky_relu's slope; ignored by the others */
        int64_t s[3] = {2, 3, 7};
        /* |x| >= 0.05 > h keeps relu/leaky_relu away from the kink at 0;
         * up to 4 reaches tanh/sigmoid's flat tails */
        gc_input(&g, "x", 3, s, 0.05f, 4.0f, true, true);
        gc_output(&g, 3, s);
        g.fwd = f_unary;
        g.bwd = b_unary;
        /* truncation h^2 f'''/6 ~ 2e-5 for the smooth ones at h = 1e-2 */
        gc_check(&g, 1e-2, 2e-3);
        gc_free(&g);
    }
}

/* ---------------------------------------------------------------- softmax */

static void f_softmax(gcase *g) {
    if (g->flag) TU_OK(vf_log_softmax_forward(&g->in[0], &g->out[0]));
    else TU_OK(vf_softmax_forward(&g->in[0], &g->out[0]));
}
static void b_softmax(gcase *g) {
    if (g->flag) TU_OK(vf_log_softmax_backward(&g->out[0], &g->dout[0], &g->grad[0]));
    else TU_OK(vf_softmax_backward(&g->out[0], &g->dout[0], &g->grad[0]));
}

Test(grad, softmax_and_log_softmax) {
    int64_t shapes[][2] = {{4, 7}, {1, 13}, {3, 1}};
    for (int lg = 0; lg < 2; lg++)
        for (int s = 0; s < 3; s++) {
            gcase g;
            gc_init(&g, lg ? "log_softmax" : "softmax", 500 + (uint64_t)(lg * 10 + s));
            g.flag = lg;
            int64_t s3[3] = {1, shapes[s][0], shapes[s][1]};
            /* 3-D on one of the shapes checks the [rows, cols] view */
            gc_input(&g, "x", s == 0 ? 3 : 2, s == 0 ? s3 : shapes[s], 0.1f, 3.0f, true, true);
            gc_output(&g, s == 0 ? 3 : 2, s == 0 ? s3 : shapes[s]);
            g.fwd = f_softmax;
            g.bwd = b_softmax;
            if (shapes[s][1] == 1) {
                /* one column: softmax is constant 1 and log_softmax 0, the
                 * gradient is exactly 0 and the harness would call it vacuous;
                 * check the analytic one is 0 directly */
                float w = 0.7f;
                TU_OK(vf_tensor_write(&g.dout[0], (float[]){w, w, w}, 3 * sizeof(float)));
                g.fwd(&g);
                g.bwd(&g);
                float *d = tu_read(&g.grad[0]);
                for (int i = 0; i < 3; i++) cr_expect(fabsf(d[i]) < 1e-6f, "dx[%d] = %g", i, d[i]);
                free(d);
            } else {
                gc_check(&g, 1e-2, 2e-3);
            }
            gc_free(&g);
        }
}

/* ---------------------------------------------------------- concat, slice */

static void f_concat(gcase *g) {
    const vf_tensor *xs[3] = {&g->in[0], &g->in[1], &g->in[2]};
    TU_OK(vf_concat_forward(3, xs, &g->out[0]));
}
static void b_concat(gcase *g) {
    const vf_tensor *dxs[3] = {&g->grad[0], &g->grad[1], &g->grad[2]};
    TU_OK(vf_concat_backward(3, &g->dout[0], dxs));
}

Test(grad, concat) {
    gcase g;
    gc_init(&g, "concat", 600);
    gc_input2(&g, "x0", 5, 1, true);
    gc_input2(&g, "x1", 5, 3, true);
    gc_input2(&g, "x2", 5, 2, true);
    gc_output2(&g, 5, 6);
    g.fwd = f_concat;
    g.bwd = b_concat;
    gc_check(&g, 1e-2, 1e-4); /* a copy: the gradient is w itself up to rounding */
    gc_free(&g);
}

static void f_slice(gcase *g) { TU_OK(vf_slice_forward(&g->in[0], g->ip[0], &g->out[0])); }
static void b_slice(gcase *g) { TU_OK(vf_slice_backward(&g->dout[0], g->ip[0], &g->grad[0])); }

Test(grad, slice) {
    int64_t cases[][4] = {{3, 7, 2, 3}, {1, 5, 0, 5}, {4, 6, 5, 1}}; /* R, C, start, width */
    for (int s = 0; s < 3; s++) {
        gcase g;
        gc_init(&g, "slice", 700 + (uint64_t)s);
        g.ip[0] = (int)cases[s][2];
        gc_input2(&g, "x", cases[s][0], cases[s][1], true);
        gc_output2(&g, cases[s][0], cases[s][3]);
        g.fwd = f_slice;
        g.bwd = b_slice;
        gc_check(&g, 1e-2, 1e-4); /* columns outside the slice must be exactly 0 */
        gc_free(&g);
    }
}

/* ------------------------------------------------------------- reductions */

static void f_sum(gcase *g) {
    TU_OK(vf_sum_forward((vf_reduce_axis)g->ip[0], g->flag, &g->in[0], &g->out[0]));
}
static void b_sum(gcase *g) {
    TU_OK(vf_sum_backward((vf_reduce_axis)g->ip[0], g->flag, &g->dout[0], &g->grad[0]));
}

Test(grad, sum_and_mean_each_axis) {
    for (int mean = 0; mean < 2; mean++)
        for (int ax = 0; ax < 3; ax++) {
            gcase g;
            gc_init(&g, mean ? "mean" : "sum", 800 + (uint64_t)(mean * 10 + ax));
            g.flag = mean;
            g.ip[0] = ax;
            int64_t s[3] = {2, 3, 5}; /* [6, 5] in the row/column view */
            gc_input(&g, "x", 3, s, 0.1f, 1.5f, true, true);
            gc_output1(&g, ax == VF_REDUCE_ROWS ? 6 : ax == VF_REDUCE_COLS ? 5 : 1);
            g.fwd = f_sum;
            g.bwd = b_sum;
            gc_check(&g, 1e-2, 1e-3);
            gc_free(&g);
        }
}

static void f_sqnorm(gcase *g) { TU_OK(vf_sqnorm_rows_forward(&g->in[0], &g->out[0])); }
static void b_sqnorm(gcase *g) {
    TU_OK(vf_sqnorm_rows_backward(&g->in[0], &g->dout[0], &g->grad[0]));
}

Test(grad, sqnorm_rows) {
    int64_t shapes[][2] = {{4, 7}, {1, 3}, {5, 1}};
    for (int s = 0; s < 3; s++) {
        gcase g;
        gc_init(&g, "sqnorm_rows", 900 + (uint64_t)s);
        gc_input2(&g, "x", shapes[s][0], shapes[s][1], true);
        gc_output1(&g, shapes[s][0]);
        g.fwd = f_sqnorm;
        g.bwd = b_sqnorm;
        gc_check(&g, 1e-2, 1e-3); /* quadratic: central differences are exact */
        gc_free(&g);
    }
}

/* ----------------------------------------------------------------- losses */

static void f_mse(gcase *g) { TU_OK(vf_mse_forward(&g->in[0], &g->in[1], &g->out[0])); }
static void b_mse(gcase *g) {
    TU_OK(vf_mse_backward(&g->in[0], &g->in[1], &g->dout[0], &g->grad[0], &g->grad[1]));
}

Test(grad, mse) {
    gcase g;
    gc_init(&g, "mse", 1000);
    gc_input2(&g, "a", 3, 7, true);
    gc_input2(&g, "b", 3, 7, true);
    gc_output1(&g, 1);
    g.fwd = f_mse;
    g.bwd = b_mse;
    /* quadratic, but the loss is one float: its rounding (6e-8 |L|) over 2h
     * is ~1e-5 of a gradient entry of size ~2|a-b|/21 */
    gc_check(&g, 1e-2, 1e-3);
    gc_free(&g);
}

static void f_bce(gcase *g) { TU_OK(vf_bce_logits_forward(&g->in[0], &g->in[1], &g->out[0])); }
static void b_bce(gcase *g) {
    TU_OK(vf_bce_logits_backward(&g->in[0], &g->in[1], &g->dout[0], &g->grad[0]));
}

Test(grad, bce_logits) {
    gcase g;
    gc_init(&g, "bce_logits", 1100);
    int64_t s[2] = {4, 5};
    gc_input(&g, "x", 2, s, 0.05f, 6.0f, true, true); /* large |x| checks the stable form */
    gc_input(&g, "t", 2, s, 0.0f, 1.0f, false, false);  /* targets: soft labels in [0, 1) */
    gc_output1(&g, 1);
    g.fwd = f_bce;
    g.bwd = b_bce;
    /* the scalar loss rounds to 6e-8 |L|; with 20 elements the gradient
     * entries are ~|sigmoid - t|/20, so h = 3e-2 keeps the rounding part
     * ~1e-4 of the scale while truncation stays ~1e-4 too */
    gc_check(&g, 3e-2, 3e-3);
    gc_free(&g);
}

/* ------------------------------------------------------------------- LSTM */

/* in: gates, c_prev; flag: dc given (outputs h, c) or not (output h only,
 * c lives in aux[0]) */
static void f_lstm(gcase *g) {
    const vf_tensor *c = g->flag ? &g->out[1] : &g->aux[0];
    TU_OK(vf_lstm_cell_forward(&g->in[0], &g->in[1], &g->out[0], c));
}
static void b_lstm(gcase *g) {
    const vf_tensor *c = g->flag ? &g->out[1] : &g->aux[0];
    TU_OK(vf_lstm_cell_backward(&g->in[0], &g->in[1], c, &g->dout[0],
                                g->flag ? &g->dout[1] : NULL, &g->grad[0], &g->grad[1]));
}

Test(grad, lstm_cell) {
    int64_t dims[][2] = {{3, 5}, {1, 1}}; /* B, H */
    for (int with_dc = 0; with_dc < 2; with_dc++)
        for (int s = 0; s < 2; s++) {
            gcase g;
            gc_init(&g, with_dc ? "lstm_cell(dc)" : "lstm_cell(no dc)",
                    1200 + (uint64_t)(with_dc * 10 + s));
            g.flag = with_dc;
            int64_t B = dims[s][0], H = dims[s][1];
            int64_t sg[2] = {B, 4 * H};
            gc_input(&g, "gates", 2, sg, 0.1f, 2.5f, true, true);
            gc_input2(&g, "c_prev", B, H, true);
            gc_output2(&g, B, H);
            if (with_dc) gc_output2(&g, B, H);
            else g.aux[0] = tu_tensor2(g.arena, B, H, NULL);
            g.fwd = f_lstm;
            g.bwd = b_lstm;
            gc_check(&g, 1e-2, 2e-3);
            gc_free(&g);
        }
}

/* ------------------------------------------------------------- batch norm */

/* in: x, gamma, beta; aux: mean, rstd, running mean, running var */
static void f_bn(gcase *g) {
    TU_OK(vf_batchnorm_train_forward(&g->in[0], &g->in[1], &g->in[2], g->fp[0], 0.1f,
                                     &g->out[0], &g->aux[0], &g->aux[1], &g->aux[2],
                                     &g->aux[3]));
}
static void b_bn(gcase *g) {
    TU_OK(vf_batchnorm_backward(&g->in[0], &g->in[1], &g->aux[0], &g->aux[1], &g->dout[0],
                                &g->grad[0], &g->grad[1], &g->grad[2]));
}

Test(grad, batchnorm_train) {
    int64_t shapes[][2] = {{7, 5}, {3, 2}, {13, 1}};
    for (int s = 0; s < 3; s++) {
        gcase g;
        gc_init(&g, "batchnorm", 1300 + (uint64_t)s);
        g.fp[0] = 1e-5f;
        int64_t R = shapes[s][0], C = shapes[s][1];
        gc_input2(&g, "x", R, C, true);
        gc_input(&g, "gamma", 1, &C, 0.3f, 1.5f, true, true);
        gc_input(&g, "beta", 1, &C, 0.1f, 1.5f, true, true);
        gc_output2(&g, R, C);
        for (int i = 0; i < 4; i++) g.aux[i] = tu_tensor1(g.arena, C, NULL);
        TU_OK(vf_fill(&g.aux[2], 0.0f));
        TU_OK(vf_fill(&g.aux[3], 1.0f));
        g.fwd = f_bn;
        g.bwd = b_bn;
        /* x's gradient sums to 0 per column: entries are differences of
         * O(1) terms, and with 2 rows each one is tiny; measured <= ~1e-3 */
        gc_check(&g, 1e-2, 5e-3);
        gc_free(&g);
    }
}

/* Inference mode is not differentiated through its statistics; check it
 * against its formula y = gamma (x - rm) / sqrt(rv + eps) + beta in double. */
Test(grad, batchnorm_infer_formula) {
    vf_arena *a = tu_arena(tu_cpu(), 1 << 16);
    tu_rng r = tu_rng_make(1350);
    const int64_t R = 6, C = 7;
    float x[42], gm[7], bt[7], rm[7], rv[7];
    fill_away(&r, x, 42, 0.1f, 3.0f);
    fill_away(&r, gm, 7, 0.3f, 1.5f);
    fill_away(&r, bt, 7, 0.1f, 1.5f);
    fill_away(&r, rm, 7, 0.1f, 1.0f);
    tu_fill_uniform(&r, rv, 7, 0.05f, 2.0f);
    const float eps = 1e-3f;
    vf_tensor tx = tu_tensor2(a, R, C, x), tg = tu_tensor1(a, C, gm), tb = tu_tensor1(a, C, bt);
    vf_tensor trm = tu_tensor1(a, C, rm), trv = tu_tensor1(a, C, rv), ty = tu_tensor2(a, R, C, NULL);
    TU_OK(vf_batchnorm_infer_forward(&tx, &tg, &tb, &trm, &trv, eps, &ty));
    float *y = tu_read(&ty), ref[42];
    for (int i = 0; i < R; i++)
        for (int c = 0; c < C; c++)
            ref[i * C + c] = (float)((double)gm[c] * ((double)x[i * C + c] - rm[c]) /
                                         sqrt((double)rv[c] + eps) + bt[c]);
    double e = tu_max_rel(y, ref, 42, 1e-6, 1e-5); /* a few float ulps */
    cr_log_info("batchnorm_infer: max rel error %.3g of (1e-6 + 1e-5|y|)", e);
    cr_expect(e <= 1.0, "batchnorm_infer differs from its formula: %g", e);
    free(y);
    vf_arena_destroy(a);
}

/* Running statistics of the training forward: mean and unbiased variance
 * blended with momentum (PyTorch's convention, vkflow.h). */
Test(grad, batchnorm_running_stats) {
    vf_arena *a = tu_arena(tu_cpu(), 1 << 16);
    tu_rng r = tu_rng_make(1360);
    const int R = 5, C = 3;
    float x[15], gm[3] = {1, 1, 1}, bt[3] = {0, 0, 0}, rm0[3], rv0[3];
    fill_away(&r, x, 15, 0.1f, 3.0f);
    fill_away(&r, rm0, 3, 0.1f, 1.0f);
    tu_fill_uniform(&r, rv0, 3, 0.5f, 2.0f);
    const float mom = 0.3f;
    vf_tensor tx = tu_tensor2(a, R, C, x), tg = tu_tensor1(a, C, gm), tb = tu_tensor1(a, C, bt);
    vf_tensor ty = tu_tensor2(a, R, C, NULL), tm = tu_tensor1(a, C, NULL),
              ts = tu_tensor1(a, C, NULL);
    vf_tensor trm = tu_tensor1(a, C, rm0), trv = tu_tensor1(a, C, rv0);
    TU_OK(vf_batchnorm_train_forward(&tx, &tg, &tb, 1e-5f, mom, &ty, &tm, &ts, &trm, &trv));
    float *m = tu_read(&tm), *rs = tu_read(&ts), *rm = tu_read(&trm), *rv = tu_read(&trv);
    float em[3], ers[3], erm[3], erv[3];
    for (int c = 0; c < C; c++) {
        double s = 0, ss = 0;
        for (int i = 0; i < R; i++) s += x[i * C + c];
        double mu = s / R;
        for (int i = 0; i < R; i++) ss += (x[i * C + c] - mu) * (x[i * C + c] - mu);
        em[c] = (float)mu;
        ers[c] = (float)(1.0 / sqrt(ss / R + 1e-5));
        erm[c] = (float)((1 - mom) * rm0[c] + mom * mu);
        erv[c] = (float)((1 - mom) * rv0[c] + mom * ss / (R - 1));
    }
    cr_expect(tu_max_rel(m, em, 3, 1e-6, 1e-5) <= 1, "batch mean");
    cr_expect(tu_max_rel(rs, ers, 3, 1e-6, 1e-5) <= 1, "batch rstd");
    cr_expect(tu_max_rel(rm, erm, 3, 1e-6, 1e-5) <= 1, "running mean");
    cr_expect(tu_max_rel(rv, erv, 3, 1e-6, 1e-5) <= 1, "running var (unbiased)");
    free(m);
    free(rs);
    free(rm);
    free(rv);
    vf_arena_destroy(a);
}

/* ------------------------------------------------------------- layer norm */

static void f_ln(gcase *g) {
    TU_OK(vf_layernorm_forward(&g->in[0], &g->in[1], &g->in[2], g->fp[0], &g->out[0],
                               &g->aux[0], &g->aux[1]));
}
static void b_ln(gcase *g) {
    TU_OK(vf_layernorm_backward(&g->in[0], &g->in[1], &g->aux[0], &g->aux[1], &g->dout[0],
                                &g->grad[0], &g->grad[1], &g->grad[2]));
}

Test(grad, layernorm) {
    int64_t shapes[][2] = {{5, 7}, {1, 11}, {2, 3}};
    for (int s = 0; s < 3; s++) {
        gcase g;
        gc_init(&g, "layernorm", 1400 + (uint64_t)s);
        g.fp[0] = 1e-5f;
        int64_t R = shapes[s][0], C = shapes[s][1];
        gc_input2(&g, "x", R, C, true);
        gc_input(&g, "gamma", 1, &C, 0.3f, 1.5f, true, true);
        gc_input(&g, "beta", 1, &C, 0.1f, 1.5f, true, true);
        gc_output2(&g, R, C);
        g.aux[0] = tu_tensor1(g.arena, R, NULL);
        g.aux[1] = tu_tensor1(g.arena, R, NULL);
        g.fwd = f_ln;
        g.bwd = b_ln;
        gc_check(&g, 1e-2, 5e-3); /* as batch norm, transposed */
        gc_free(&g);
    }
}

/* -------------------------------------------------------------- embedding */

static void f_emb(gcase *g) { TU_OK(vf_embedding_forward(&g->aux[0], &g->in[0], &g->out[0])); }
static void b_emb(gcase *g) { TU_OK(vf_embedding_backward(&g->aux[0], &g->dout[0], &g->grad[0])); }

Test(grad, embedding) {
    gcase g;
    gc_init(&g, "embedding", 1500);
    const int64_t V = 5, D = 3, N = 7;
    /* 3 appears three times (scatter-add must accumulate), 1 twice, row 4
     * never (its gradient must be 0, not left over), and -1 / 5 are out of
     * range (zero rows in, nothing scattered back) */
    const int32_t idx[7] = {3, 0, 3, 1, -1, 3, 5};
    int64_t ni = N;
    TU_OK(vf_tensor_alloc(g.arena, VF_I32, 1, &ni, &g.aux[0]));
    TU_OK(vf_tensor_write(&g.aux[0], idx, sizeof idx));
    gc_input2(&g, "table", V, D, true);
    gc_output2(&g, N, D);
    g.fwd = f_emb;
    g.bwd = b_emb;
    gc_check(&g, 1e-2, 1e-4);
    /* the out-of-range rows of y are zero */
    g.fwd(&g);
    float *y = tu_read(&g.out[0]);
    for (int d = 0; d < D; d++)
        cr_expect(y[4 * D + d] == 0.0f && y[6 * D + d] == 0.0f, "out-of-range index gave %g, %g",
                  y[4 * D + d], y[6 * D + d]);
    free(y);
    gc_free(&g);
}

/* ------------------------------------------------------------------- Adam */

Test(grad, adam_three_steps_vs_double_reference) {
    vf_arena *a = tu_arena(tu_cpu(), 1 << 16);
    tu_rng r = tu_rng_make(1600);
    enum { n = 37 };
    const vf_adam_config cfg = {.beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-6f, .weight_decay = 0.05f};
    float p0[n];
    fill_away(&r, p0, n, 0.1f, 1.5f);
    double p[n], m[n], v[n];
    for (int i = 0; i < n; i++) {
        p[i] = p0[i];
        m[i] = v[i] = 0;
    }
    vf_tensor tp = tu_tensor1(a, n, p0), tg = tu_tensor1(a, n, NULL), tm = tu_tensor1(a, n, NULL),
              tv = tu_tensor1(a, n, NULL), ts = tu_tensor1(a, 2, NULL);
    TU_OK(vf_fill(&tm, 0.0f));
    TU_OK(vf_fill(&tv, 0.0f));
    const double lrs[3] = {1e-2, 5e-3, 2e-2};
    for (int step = 1; step <= 3; step++) {
        float g[n];
        fill_away(&r, g, n, 0.01f, 2.0f);
        TU_OK(vf_tensor_write(&tg, g, sizeof g));
        float sched[2] = {(float)lrs[step - 1], (float)step};
        TU_OK(vf_tensor_write(&ts, sched, sizeof sched));
        TU_OK(vf_adam_update(&tp, &tg, &tm, &tv, &ts, &cfg));
        /* the reference uses the same float hyper-parameters, in double */
        const double b1 = cfg.beta1, b2 = cfg.beta2, eps = cfg.eps, wd = cfg.weight_decay;
        const double lr = sched[0];
        for (int i = 0; i < n; i++) {
            m[i] = b1 * m[i] + (1 - b1) * g[i];
            v[i] = b2 * v[i] + (1 - b2) * (double)g[i] * g[i];
            double mh = m[i] / (1 - pow(b1, step)), vh = v[i] / (1 - pow(b2, step));
            p[i] -= lr * (mh / (sqrt(vh) + eps)) + lr * wd * p[i];
        }
        float *gp = tu_read(&tp), *gm = tu_read(&tm), *gv = tu_read(&tv), ep[n], em[n], ev[n];
        for (int i = 0; i < n; i++) {
            ep[i] = (float)p[i];
            em[i] = (float)m[i];
            ev[i] = (float)v[i];
        }
        /* the update is ~lr per step: an error of 1e-6 absolute is 1e-4 of
         * a step; m and v are a few float roundings off */
        double e_p = tu_max_rel(gp, ep, n, 1e-6, 1e-6), e_m = tu_max_rel(gm, em, n, 1e-7, 1e-5),
               e_v = tu_max_rel(gv, ev, n, 1e-7, 1e-5);
        cr_log_info("adam step %d: param %.3g, m %.3g, v %.3g (of tolerance)", step, e_p, e_m, e_v);
        cr_expect(e_p <= 1, "adam step %d: param off by %g of tolerance", step, e_p);
        cr_expect(e_m <= 1, "adam step %d: m off by %g of tolerance", step, e_m);
        cr_expect(e_v <= 1, "adam step %d: v off by %g of tolerance", step, e_v);
        free(gp);
        free(gm);
        free(gv);
    }
    vf_arena_destroy(a);
}

/* ------------------------------------------------------- segment softmax */

static void f_softmax_seg(gcase *g) {
    if (g->flag) TU_OK(vf_log_softmax_seg_forward(&g->in[0], g->seg, &g->out[0]));
    else TU_OK(vf_softmax_seg_forward(&g->in[0], g->seg, &g->out[0]));
}
static void b_softmax_seg(gcase *g) {
    if (g->flag) TU_OK(vf_log_softmax_seg_backward(&g->out[0], g->seg, &g->dout[0], &g->grad[0]));
    else TU_OK(vf_softmax_seg_backward(&g->out[0], g->seg, &g->dout[0], &g->grad[0]));
}

Test(grad, softmax_seg_and_log_softmax_seg) {
    /* R, then the widths (0-terminated; none: seg NULL, the whole row) */
    const int64_t cases[][5] = {{4, 3, 1, 4, 0}, {1, 2, 5, 0, 0}, {3, 0, 0, 0, 0}};
    for (int lg = 0; lg < 2; lg++)
        for (int k = 0; k < 3; k++) {
            gcase g;
            gc_init(&g, lg ? "log_softmax_seg" : "softmax_seg", 1700 + (uint64_t)(lg * 10 + k));
            g.flag = lg;
            int n = 0;
            int64_t C = 0;
            while (n < 4 && cases[k][1 + n]) C += cases[k][1 + n++];
            if (!n) C = 6;
            vf_segments sg;
            if (n) {
                TU_OK(vf_segments_create(g.arena, n, &cases[k][1], &sg));
                g.seg = &sg;
            }
            gc_input2(&g, "x", cases[k][0], C, true);
            gc_output2(&g, cases[k][0], C);
            g.fwd = f_softmax_seg;
            g.bwd = b_softmax_seg;
            gc_check(&g, 1e-2, 2e-3); /* as the row-wise softmax */
            gc_free(&g);
        }
}

/* ----------------------------------------------------------------- gather */

static void f_gather(gcase *g) { TU_OK(vf_gather_forward(&g->in[0], &g->aux[0], &g->out[0])); }
static void b_gather(gcase *g) { TU_OK(vf_gather_backward(&g->aux[0], &g->dout[0], &g->grad[0])); }

Test(grad, gather) {
    gcase g;
    gc_init(&g, "gather", 1800);
    const int64_t R = 3, C = 4, K = 5;
    /* row 0 takes column 2 three times (the scatter-add must accumulate) and
     * never column 3 (its gradient must be 0); -1 and 4 are out of range */
    const int32_t idx[15] = {2, 0, 2, 2, 1, 3, -1, 0, 4, 3, 1, 1, 1, 1, 0};
    int64_t si[2] = {R, K};
    TU_OK(vf_tensor_alloc(g.arena, VF_I32, 2, si, &g.aux[0]));
    TU_OK(vf_tensor_write(&g.aux[0], idx, sizeof idx));
    gc_input2(&g, "x", R, C, true);
    gc_output2(&g, R, K);
    g.fwd = f_gather;
    g.bwd = b_gather;
    gc_check(&g, 1e-2, 1e-4);
    /* out-of-range entries of y are zero, and counted */
    int64_t bad0 = vf_backend_bad_indices(tu_cpu());
    g.fwd(&g);
    cr_expect_eq(vf_backend_bad_indices(tu_cpu()) - bad0, 2, "bad indices counted: %lld",
                 (long long)(vf_backend_bad_indices(tu_cpu()) - bad0));
    float *y = tu_read(&g.out[0]);
    cr_expect(y[6] == 0.0f && y[8] == 0.0f, "out-of-range index gave %g, %g", y[6], y[8]);
    free(y);
    gc_free(&g);
}

/* embedding counts its out-of-range indices on cpu too, forward and backward */
Test(grad, embedding_counts_bad_indices) {
    vf_arena *a = tu_arena(tu_cpu(), 1 << 16);
    const int32_t idx[5] = {0, -3, 2, 9, 1};
    vf_tensor ti, tt = tu_tensor2(a, 3, 2, NULL), ty = tu_tensor2(a, 5, 2, NULL);
    int64_t n = 5;
    TU_OK(vf_tensor_alloc(a, VF_I32, 1, &n, &ti));
    TU_OK(vf_tensor_write(&ti, idx, sizeof idx));
    TU_OK(vf_fill(&tt, 1.0f));
    int64_t bad0 = vf_backend_bad_indices(tu_cpu());
    TU_OK(vf_embedding_forward(&ti, &tt, &ty));
    TU_OK(vf_embedding_backward(&ti, &ty, &tt));
    cr_expect_eq(vf_backend_bad_indices(tu_cpu()) - bad0, 4);
    vf_arena_destroy(a);
}

/* ------------------------------------------------------- batched matmul */

/* 3-D operands [G, ., .]: G = 1 and G = 7, every transpose. */
Test(grad, matmul_batched_g1_g7) {
    for (int t = 0; t < 4; t++) {
        matmul_case(1, true, true, 3, 4, 2, t & 1, t & 2, false, true, true, 1900 + (uint64_t)t);
        matmul_case(7, true, true, 2, 3, 2, t & 1, t & 2, false, true, true, 1910 + (uint64_t)t);
    }
}
