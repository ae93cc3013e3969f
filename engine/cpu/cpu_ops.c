/* CPU kernels: the numerical reference for every op, and the fast path on
 * machines without a GPU. GEMM goes to OpenBLAS; everything else is plain C
 * loops with the op kind decided outside the loop. Reductions accumulate in
 * double so the reference is more accurate than the kernels it checks. */
#include "../backend.h"
#include "cpu_math.h"
#include "../philox.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ARG_F(i) ((float *)vf_cpu_ptr(op->args[i]))
#define ARG_I(i) ((int32_t *)vf_cpu_ptr(op->args[i]))

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

/* Below this many multiply-adds per GEMM, GEMMs run single-threaded. On the
 * 2-core Xeon VM the project was first measured on, OpenBLAS's threads cost
 * more in wake-ups than they gained for DoppelGANger's [100, 512] x [512, 512]
 * layers (26 M: 10% faster single-threaded) while 512^3 (134 M) gained; on a
 * 2-core EPYC VM, threading those layers is 20-35% faster (docs/BENCHMARKS.md).
 * The default keeps the first machine's choice; VKFLOW_GEMM_THREADED_MIN_MACS
 * overrides it. OpenBLAS's sums depend on its thread count (measured: 1 and 2
 * threads give different bits), so a cpu run is bit-reproducible only with
 * the same OPENBLAS_NUM_THREADS and the same threshold. */
#define MM_THREADED_MIN_MACS_DEFAULT (64.0 * 1024 * 1024)

static double threaded_min_macs(void) {
    static double v = -1; /* read once; the same for every GEMM of a process */
    if (v < 0) {
        const char *e = getenv("VKFLOW_GEMM_THREADED_MIN_MACS");
        char *end = NULL;
        double x = e ? strtod(e, &end) : -1;
        v = e && end && end != e && !*end && x >= 0 ? x : MM_THREADED_MIN_MACS_DEFAULT;
    }
    return v;
}

static void k_matmul(const vf_op *op) {
    const uint32_t M = op->u[0], N = op->u[1], K = op->u[2], batch = op->u[3];
    const bool ta = op->u[4], tb = op->u[5];
    const float *A = ARG_F(0), *B = ARG_F(1);
    float *C = ARG_F(2);
    const int lda = ta ? (int)M : (int)K, ldb = tb ? (int)K : (int)N;
    const int threads = openblas_get_num_threads();
    const bool single = threads > 1 && (double)M * N * K < threaded_min_macs();
    if (single) openblas_set_num_threads(1);
    for (uint32_t b = 0; b < batch; b++)
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    (int)M, (int)N, (int)K, op->f[0], A + (size_t)b * op->u[6], lda,
                    B + (size_t)b * op->u[7], ldb, op->f[1], C + (size_t)b * op->u[8], (int)N);
    if (single) openblas_set_num_threads(threads);
}

static void k_unary(const vf_op *op) {
    const uint32_t n = op->u[0];
    const float *x = ARG_F(0), a = op->f[0];
    float *y = ARG_F(1);
    switch ((vf_unary_kind)op->u[1]) {
    case VF_RELU: for (uint32_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0.0f; break;
    case VF_LEAKY_RELU: for (uint32_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : a * x[i]; break;
    case VF_TANH: for (uint32_t i = 0; i < n; i++) y[i] = vf_fast_tanhf(x[i]); break;
    case VF_SIGMOID: for (uint32_t i = 0; i < n; i++) y[i] = sigmoidf(x[i]); break;
    case VF_SOFTPLUS:
        for (uint32_t i = 0; i < n; i++) y[i] = fmaxf(x[i], 0.0f) + log1pf(expf(-fabsf(x[i])));
        break;
    case VF_SIN: for (uint32_t i = 0; i < n; i++) y[i] = sinf(x[i]); break;
    case VF_COS: for (uint32_t i = 0; i < n; i++) y[i] = cosf(x[i]); break;
    default: break;
    }
}

static void k_unary_backward(const vf_op *op) {
    const uint32_t n = op->u[0];
    const float *x = ARG_F(0), *y = ARG_F(1), *dy = ARG_F(2), a = op->f[0];
    float *dx = ARG_F(3);
    switch ((vf_unary_kind)op->u[1]) {
    case VF_RELU: for (uint32_t i = 0; i < n; i++) dx[i] = x[i] > 0 ? dy[i] : 0.0f; break;
    case VF_LEAKY_RELU: for (uint32_t i = 0; i < n; i++) dx[i] = x[i] > 0 ? dy[i] : a * dy[i]; break;
    case VF_TANH: for (uint32_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]); break;
    case VF_SIGMOID: for (uint32_t i = 0; i < n; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]); break;
    case VF_SOFTPLUS: for (uint32_t i = 0; i < n; i++) dx[i] = dy[i] * sigmoidf(x[i]); break;
    case VF_SIN: for (uint32_t i = 0; i < n; i++) dx[i] = dy[i] * cosf(x[i]); break;
    case VF_COS: for (uint32_t i = 0; i < n; i++) dx[i] = -dy[i] * sinf(x[i]); break;
    default: break;
    }
}

static void k_binary(const vf_op *op) {
    const uint32_t n = op->u[0];
    const float *a = ARG_F(0), *b = ARG_F(1);
    float *y = ARG_F(2);
    switch ((vf_binary_kind)op->u[1]) {
    case VF_ADD: for (uint32_t i = 0; i < n; i++) y[i] = a[i] + b[i]; break;
    case VF_SUB: for (uint32_t i = 0; i < n; i++) y[i] = a[i] - b[i]; break;
    case VF_MUL: for (uint32_t i = 0; i < n; i++) y[i] = a[i] * b[i]; break;
    }
}

/* softmax / log_softmax of the w values x[0..w) into y (one row or one
 * segment of a row) */
static void softmax_span(const float *x, float *y, uint32_t w, bool lg) {
    float mx = x[0];
    for (uint32_t c = 1; c < w; c++) mx = fmaxf(mx, x[c]);
    double s = 0;
    for (uint32_t c = 0; c < w; c++) s += exp((double)x[c] - mx);
    if (lg) {
        float ls = (float)log(s);
        for (uint32_t c = 0; c < w; c++) y[c] = x[c] - mx - ls;
    } else {
        float inv = (float)(1.0 / s);
        for (uint32_t c = 0; c < w; c++) y[c] = expf(x[c] - mx) * inv;
    }
}

static void softmax_span_backward(const float *y, const float *dy, float *dx, uint32_t w, bool lg) {
    double s = 0;
    if (lg) {
        for (uint32_t c = 0; c < w; c++) s += dy[c];
        for (uint32_t c = 0; c < w; c++) dx[c] = dy[c] - expf(y[c]) * (float)s;
    } else {
        for (uint32_t c = 0; c < w; c++) s += (double)dy[c] * y[c];
        for (uint32_t c = 0; c < w; c++) dx[c] = y[c] * (dy[c] - (float)s);
    }
}

static void k_softmax(const vf_op *op) {
    const uint32_t R = op->u[0], C = op->u[1];
    for (uint32_t r = 0; r < R; r++)
        softmax_span(ARG_F(0) + (size_t)r * C, ARG_F(1) + (size_t)r * C, C, op->u[2]);
}

static void k_softmax_backward(const vf_op *op) {
    const uint32_t R = op->u[0], C = op->u[1];
    for (uint32_t r = 0; r < R; r++)
        softmax_span_backward(ARG_F(0) + (size_t)r * C, ARG_F(1) + (size_t)r * C,
                              ARG_F(2) + (size_t)r * C, C, op->u[2]);
}

static void k_reduce(const vf_op *op) {
    const uint32_t R = op->u[0], C = op->u[1];
    const bool sq = op->u[3];
    const float *x = ARG_F(0), scale = op->f[0];
    float *y = ARG_F(1);
    switch ((vf_reduce_axis)op->u[2]) {
    case VF_REDUCE_ROWS:
        for (uint32_t r = 0; r < R; r++) {
            const float *xr = x + (size_t)r * C;
            double s = 0;
            if (sq) for (uint32_t c = 0; c < C; c++) s += (double)xr[c] * xr[c];
            else for (uint32_t c = 0; c < C; c++) s += xr[c];
            y[r] = (float)(s * scale);
        }
        break;
    case VF_REDUCE_COLS: {
        /* row-major sweep keeps memory access sequential; double partials */
        double acc[256];
        for (uint32_t c0 = 0; c0 < C; c0 += 256) {
            uint32_t w = C - c0 < 256 ? C - c0 : 256;
            memset(acc, 0, sizeof acc);
            for (uint32_t r = 0; r < R; r++) {
                const float *xr = x + (size_t)r * C + c0;
                if (sq) for (uint32_t c = 0; c < w; c++) acc[c] += (double)xr[c] * xr[c];
                else for (uint32_t c = 0; c < w; c++) acc[c] += xr[c];
            }
            for (uint32_t c = 0; c < w; c++) y[c0 + c] = (float)(acc[c] * scale);
        }
        break;
    }
    case VF_REDUCE_ALL: {
        double s = 0;
        size_t n = (size_t)R * C;
        if (sq) for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
        else for (size_t i = 0; i < n; i++) s += x[i];
        y[0] = (float)(s * scale);
        break;
    }
    }
}

static void k_broadcast(const vf_op *op) {
    const uint32_t R = op->u[0], C = op->u[1];
    const float *dy = ARG_F(0), s = op->f[0];
    float *dx = ARG_F(1);
    for (uint32_t r = 0; r < R; r++) {
        float *row = dx + (size_t)r * C;
        switch ((vf_reduce_axis)op->u[2]) {
        case VF_REDUCE_ROWS: { float v = s * dy[r]; for (uint32_t c = 0; c < C; c++) row[c] = v; break; }
        case VF_REDUCE_COLS: for (uint32_t c = 0; c < C; c++) row[c] = s * dy[c]; break;
        case VF_REDUCE_ALL: { float v = s * dy[0]; for (uint32_t c = 0; c < C; c++) row[c] = v; break; }
        }
    }
}

static void k_lstm_cell(const vf_op *op) {
    const uint32_t B = op->u[0], H = op->u[1];
    for (uint32_t b = 0; b < B; b++) {
        const float *g = ARG_F(0) + (size_t)b * 4 * H, *cp = ARG_F(1) + (size_t)b * H;
        float *h = ARG_F(2) + (size_t)b * H, *c = ARG_F(3) + (size_t)b * H;
        for (uint32_t j = 0; j < H; j++) {
            float ig = sigmoidf(g[j]), fg = sigmoidf(g[H + j]);
            float gg = vf_fast_tanhf(g[2 * H + j]), og = sigmoidf(g[3 * H + j]);
            float cn = fg * cp[j] + ig * gg;
            c[j] = cn;
            h[j] = og * vf_fast_tanhf(cn);
        }
    }
}

static void k_lstm_cell_backward(const vf_op *op) {
    const uint32_t B = op->u[0], H = op->u[1];
    const bool has_dc = op->u[2];
    for (uint32_t b = 0; b < B; b++) {
        const float *g = ARG_F(0) + (size_t)b * 4 * H, *cp = ARG_F(1) + (size_t)b * H;
        const float *c = ARG_F(2) + (size_t)b * H, *dh = ARG_F(3) + (size_t)b * H;
        const float *dc = has_dc ? ARG_F(4) + (size_t)b * H : NULL;
        float *dg = ARG_F(5) + (size_t)b * 4 * H, *dcp = ARG_F(6) + (size_t)b * H;
        for (uint32_t j = 0; j < H; j++) {
            float ig = sigmoidf(g[j]), fg = sigmoidf(g[H + j]);
            float gg = vf_fast_tanhf(g[2 * H + j]), og = sigmoidf(g[3 * H + j]);
            float tc = vf_fast_tanhf(c[j]);
            float dct = dh[j] * og * (1.0f - tc * tc) + (dc ? dc[j] : 0.0f);
            dg[j] = dct * gg * ig * (1.0f - ig);
            dg[H + j] = dct * cp[j] * fg * (1.0f - fg);
            dg[2 * H + j] = dct * ig * (1.0f - gg * gg);
            dg[3 * H + j] = dh[j] * tc * og * (1.0f - og);
            dcp[j] = dct * fg;
        }
    }
}

/* Batch norm sweeps x row by row (sequential memory) with per-column
 * double accumulators in blocks of BN_BLOCK columns: a column-at-a-time loop
 * strides by C floats and runs ~5x slower at [100, 512]. */
#define BN_BLOCK 256

static void k_batchnorm_train(const vf_op *op) {
    const uint32_t R = op->u[0], C = op->u[1];
    const bool run = op->u[2];
    const float *x = ARG_F(0), *gm = ARG_F(1), *bt = ARG_F(2), eps = op->f[0], mom = op->f[1];
    float *y = ARG_F(3), *mean = ARG_F(4), *rstd = ARG_F(5);
    double mu[BN_BLOCK], ss[BN_BLOCK];
    for (uint32_t c0 = 0; c0 < C; c0 += BN_BLOCK) {
        const uint32_t w = C - c0 < BN_BLOCK ? C - c0 : BN_BLOCK;
        for (uint32_t c = 0; c < w; c++) mu[c] = ss[c] = 0;
        for (uint32_t r = 0; r < R; r++) {
            const float *xr = x + (size_t)r * C + c0;
            for (uint32_t c = 0; c < w; c++) mu[c] += xr[c];
        }
        for (uint32_t c = 0; c < w; c++) mu[c] /= R;
        for (uint32_t r = 0; r < R; r++) { /* two-pass variance: no cancellation */
            const float *xr = x + (size_t)r * C + c0;
            for (uint32_t c = 0; c < w; c++) {
                double d = xr[c] - mu[c];
                ss[c] += d * d;
            }
        }
        for (uint32_t c = 0; c < w; c++) {
            mean[c0 + c] = (float)mu[c];
            rstd[c0 + c] = (float)(1.0 / sqrt(ss[c] / R + eps));
        }
        for (uint32_t r = 0; r < R; r++) {
            const float *xr = x + (size_t)r * C + c0;
            float *yr = y + (size_t)r * C + c0;
            for (uint32_t c = 0; c < w; c++)
                yr[c] = gm[c0 + c] * ((xr[c] - mean[c0 + c]) * rstd[c0 + c]) + bt[c0 + c];
        }
        if (run) {
            float *rm = ARG_F(6), *rv = ARG_F(7);
            for (uint32_t c = 0; c < w; c++) {
                rm[c0 + c] = (1.0f - mom) * rm[c0 + c] + mom * (float)mu[c];
                rv[c0 + c] = (1.0f - mom) * rv[c0 + c] + mom * (float)(ss[c] / (R - 1));
            }
        }
    }
}

static void k_batchnorm_infer(const vf_op *op) {
    const uint32_t R = op->u[0], C = op->u[1];
    const float *x = ARG_F(0), *gm = ARG_F(1), *bt = ARG_F(2), *rm = ARG_F(3), *rv = ARG_F(4), eps = op->f[0];
    float *y = ARG_F(5);
    for (uint32_t r = 0; r < R; r++)
        for (uint32_t c = 0; c < C; c++) {
            size_t i = (size_t)r * C + c;
            y[i] = gm[c] * (x[i] - rm[c]) / sqrtf(rv[c] + eps) + bt[c];
        }
}

static void k_batchnorm_backward(const vf_op *op) {
    const uint32_t R = op->u[0], C = op->u[1];
    const float *x = ARG_F(0), *gm = ARG_F(1), *mean = ARG_F(2), *rstd = ARG_F(3), *dy = ARG_F(4);
    float *dx = ARG_F(5), *dgm = ARG_F(6), *dbt = ARG_F(7);
    double sdy[BN_BLOCK], sdyx[BN_BLOCK];
    for (uint32_t c0 = 0; c0 < C; c0 += BN_BLOCK) {
        const uint32_t w = C - c0 < BN_BLOCK ? C - c0 : BN_BLOCK;
        const float *mu = mean + c0, *rs = rstd + c0;
        for (uint32_t c = 0; c < w; c++) sdy[c] = sdyx[c] = 0;
        for (uint32_t r = 0; r < R; r++) {
            const float *xr = x + (size_t)r * C + c0, *dyr = dy + (size_t)r * C + c0;
            for (uint32_t c = 0; c < w; c++) {
                sdy[c] += dyr[c];
                sdyx[c] += (double)dyr[c] * ((xr[c] - mu[c]) * rs[c]);
            }
        }
        for (uint32_t c = 0; c < w; c++) {
            dbt[c0 + c] = (float)sdy[c];
            dgm[c0 + c] = (float)sdyx[c];
        }
        for (uint32_t r = 0; r < R; r++) {
            const float *xr = x + (size_t)r * C + c0, *dyr = dy + (size_t)r * C + c0;
            float *dxr = dx + (size_t)r * C + c0;
            for (uint32_t c = 0; c < w; c++) {
                float xh = (xr[c] - mu[c]) * rs[c];
                float k = gm[c0 + c] * rs[c] / (float)R;
                dxr[c] = k * ((float)R * dyr[c] - (float)sdy[c] - xh * (float)sdyx[c]);
            }
        }
    }
}

static void k_layernorm(const vf_op *op) {
    const uint32_t R = op->u[0], C = op->u[1];
    const float *gm = ARG_F(1), *bt = ARG_F(2), eps = op->f[0];
    for (uint32_t r = 0; r < R; r++) {
        const float *x = ARG_F(0) + (size_t)r * C;
        float *y = ARG_F(3) + (size_t)r * C;
        double s = 0, ss = 0;
        for (uint32_t c = 0; c < C; c++) s += x[c];
        double mu = s / C;
        for (uint32_t c = 0; c < C; c++) ss += (x[c] - mu) * (x[c] - mu);
        float rs = (float)(1.0 / sqrt(ss / C + eps));
        ARG_F(4)[r] = (float)mu;
        ARG_F(5)[r] = rs;
        for (uint32_t c = 0; c < C; c++) y[c] = gm[c] * ((x[c] - (float)mu) * rs) + bt[c];
    }
}

static void k_layernorm_backward(const vf_op *op) {
    const uint32_t R = op->u[0], C = op->u[1];
    const float *gm = ARG_F(1);
    float *dgm = ARG_F(6), *dbt = ARG_F(7);
    memset(dgm, 0, C * sizeof(float));
    memset(dbt, 0, C * sizeof(float));
    for (uint32_t r = 0; r < R; r++) {
        const float *x = ARG_F(0) + (size_t)r * C, *dy = ARG_F(4) + (size_t)r * C;
        float *dx = ARG_F(5) + (size_t)r * C;
        const float mu = ARG_F(2)[r], rs = ARG_F(3)[r];
        double s1 = 0, s2 = 0; /* sum dxhat, sum dxhat * xhat */
        for (uint32_t c = 0; c < C; c++) {
            float xh = (x[c] - mu) * rs, dxh = dy[c] * gm[c];
            s1 += dxh;
            s2 += (double)dxh * xh;
            dgm[c] += dy[c] * xh;
            dbt[c] += dy[c];
        }
        for (uint32_t c = 0; c < C; c++) {
            float xh = (x[c] - mu) * rs, dxh = dy[c] * gm[c];
            dx[c] = rs / (float)C * ((float)C * dxh - (float)s1 - xh * (float)s2);
        }
    }
}

/* Counts out-of-range indices on the op's backend (vf_backend_bad_indices). */
static void count_bad(const vf_op *op, int64_t n) {
    if (n) op->args[0]->arena->be->bad_indices += n;
}

static void k_embedding(const vf_op *op) {
    const uint32_t N = op->u[0], V = op->u[1], D = op->u[2];
    const int32_t *idx = ARG_I(0);
    int64_t bad = 0;
    for (uint32_t n = 0; n < N; n++) {
        float *y = ARG_F(2) + (size_t)n * D;
        int32_t v = idx[n];
        if (v >= 0 && (uint32_t)v < V) {
            memcpy(y, ARG_F(1) + (size_t)v * D, D * sizeof(float));
        } else {
            memset(y, 0, D * sizeof(float));
            bad++;
        }
    }
    count_bad(op, bad);
}

static void k_embedding_backward(const vf_op *op) {
    const uint32_t N = op->u[0], V = op->u[1], D = op->u[2];
    const int32_t *idx = ARG_I(0);
    float *dt = ARG_F(2);
    memset(dt, 0, (size_t)V * D * sizeof(float));
    int64_t bad = 0;
    for (uint32_t n = 0; n < N; n++) {
        int32_t v = idx[n];
        if (v < 0 || (uint32_t)v >= V) {
            bad++;
            continue;
        }
        const float *dy = ARG_F(1) + (size_t)n * D;
        float *row = dt + (size_t)v * D;
        for (uint32_t d = 0; d < D; d++) row[d] += dy[d];
    }
    count_bad(op, bad);
}

static void k_adam(const vf_op *op) {
    const uint32_t n = op->u[0];
    float *p = ARG_F(0), *m = ARG_F(2), *v = ARG_F(3);
    const float *g = ARG_F(1), *sched = ARG_F(4);
    const float b1 = op->f[0], b2 = op->f[1], eps = op->f[2], wd = op->f[3];
    const float lr = sched[0], t = sched[1];
    const float bc1 = 1.0f - powf(b1, t), bc2 = 1.0f - powf(b2, t);
    for (uint32_t i = 0; i < n; i++) {
        float mi = b1 * m[i] + (1.0f - b1) * g[i];
        float vi = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        m[i] = mi;
        v[i] = vi;
        p[i] -= lr * ((mi / bc1) / (sqrtf(vi / bc2) + eps) + wd * p[i]);
    }
}

static void k_rng(const vf_op *op) {
    const uint32_t n = op->u[0];
    const uint64_t seed = op->u[1] | ((uint64_t)op->u[2] << 32);
    const int32_t *ctr = ARG_I(0);
    const uint64_t base = (uint32_t)ctr[0] | ((uint64_t)(uint32_t)ctr[1] << 32);
    float *out = ARG_F(1), blk[4];
    for (uint32_t i = 0; i < n; i += 4) {
        vf_philox_block(seed, op->u[3], base + i / 4, (int)op->u[4], blk);
        for (uint32_t j = 0; j < 4 && i + j < n; j++) out[i + j] = blk[j];
    }
}

/* Segment s of a table argument (int32 [S, 2] {offset, width}), or the whole
 * row [0, C) when the op has no table. */
static void segment(const vf_op *op, int arg, bool has_seg, uint32_t s, uint32_t C, uint32_t *off,
                    uint32_t *w) {
    *off = has_seg ? (uint32_t)ARG_I(arg)[2 * s] : 0;
    *w = has_seg ? (uint32_t)ARG_I(arg)[2 * s + 1] : C;
}

static void k_softmax_seg(const vf_op *op) {
    const uint32_t R = op->u[0], C = op->u[1], S = op->u[2];
    for (uint32_t r = 0; r < R; r++)
        for (uint32_t s = 0; s < S; s++) {
            uint32_t off, w;
            segment(op, 1, op->u[4], s, C, &off, &w);
            size_t at = (size_t)r * C + off;
            softmax_span(ARG_F(0) + at, ARG_F(2) + at, w, op->u[3]);
        }
}

static void k_softmax_seg_backward(const vf_op *op) {
    const uint32_t R = op->u[0], C = op->u[1], S = op->u[2];
    for (uint32_t r = 0; r < R; r++)
        for (uint32_t s = 0; s < S; s++) {
            uint32_t off, w;
            segment(op, 2, op->u[4], s, C, &off, &w);
            size_t at = (size_t)r * C + off;
            softmax_span_backward(ARG_F(0) + at, ARG_F(1) + at, ARG_F(3) + at, w, op->u[3]);
        }
}

static void k_gather(const vf_op *op) {
    const uint32_t R = op->u[0], C = op->u[1], K = op->u[2];
    int64_t bad = 0;
    for (uint32_t r = 0; r < R; r++) {
        const float *x = ARG_F(0) + (size_t)r * C;
        const int32_t *idx = ARG_I(1) + (size_t)r * K;
        float *y = ARG_F(2) + (size_t)r * K;
        for (uint32_t k = 0; k < K; k++) {
            int32_t v = idx[k];
            y[k] = v >= 0 && (uint32_t)v < C ? x[v] : 0.0f;
            bad += !(v >= 0 && (uint32_t)v < C);
        }
    }
    count_bad(op, bad);
}

static void k_gather_backward(const vf_op *op) {
    const uint32_t R = op->u[0], C = op->u[1], K = op->u[2];
    int64_t bad = 0;
    for (uint32_t r = 0; r < R; r++) {
        const int32_t *idx = ARG_I(0) + (size_t)r * K;
        const float *dy = ARG_F(1) + (size_t)r * K;
        float *dx = ARG_F(2) + (size_t)r * C;
        memset(dx, 0, C * sizeof(float));
        for (uint32_t k = 0; k < K; k++) {
            int32_t v = idx[k];
            if (v >= 0 && (uint32_t)v < C) dx[v] += dy[k];
            else bad++;
        }
    }
    count_bad(op, bad);
}

/* Argmax within each segment, of x or (gumbel) of x - log(-log u) with the
 * Philox uniforms of vf_rng_uniform over [R, C]. Ties: the lowest index; NaN
 * never wins (strict > from -inf). */
static void k_argmax_seg(const vf_op *op) {
    const uint32_t R = op->u[0], C = op->u[1], S = op->u[2], flags = op->u[3];
    const bool gumbel = flags & 2, oh = flags & 4;
    const uint64_t seed = op->u[4] | ((uint64_t)op->u[5] << 32);
    uint64_t base = 0, cached = UINT64_MAX;
    if (gumbel) base = (uint32_t)ARG_I(2)[0] | ((uint64_t)(uint32_t)ARG_I(2)[1] << 32);
    float blk[4] = {0};
    for (uint32_t r = 0; r < R; r++)
        for (uint32_t s = 0; s < S; s++) {
            uint32_t off, w;
            segment(op, 1, flags & 1, s, C, &off, &w);
            const size_t at = (size_t)r * C + off;
            const float *x = ARG_F(0) + at;
            float best = -INFINITY;
            uint32_t bi = 0;
            for (uint32_t c = 0; c < w; c++) {
                float v = x[c];
                if (gumbel) {
                    const uint64_t i = at + c;
                    if (i / 4 != cached) vf_philox_block(seed, op->u[6], base + i / 4, 0, blk);
                    cached = i / 4;
                    v -= logf(-logf(blk[i % 4]));
                }
                if (v > best) {
                    best = v;
                    bi = c;
                }
            }
            ARG_I(3)[(size_t)r * S + s] = (int32_t)bi;
            if (oh)
                for (uint32_t c = 0; c < w; c++) ARG_F(4)[at + c] = c == bi ? 1.0f : 0.0f;
        }
}

/* Per-example squared gradient norms, in double: the Gram form over pairs of
 * steps (s <= t, off-diagonal pairs twice), or the bias norm (no x). */
static void k_per_example_sqnorm(const vf_op *op) {
    const uint32_t B = op->u[0], T = op->u[1], ni = op->u[2], no = op->u[3]; /* per step */
    const bool bias = op->args[0] == NULL;
    for (uint32_t b = 0; b < B; b++) {
        const float *dy = ARG_F(1) + (size_t)b * T * no;
        double acc = 0;
        if (bias) {
            for (uint32_t o = 0; o < no; o++) {
                double s = 0;
                for (uint32_t t = 0; t < T; t++) s += dy[(size_t)t * no + o];
                acc += s * s;
            }
        } else {
            const float *x = ARG_F(0) + (size_t)b * T * ni;
            for (uint32_t t = 0; t < T; t++)
                for (uint32_t s = 0; s <= t; s++) {
                    double xx = 0, gg = 0;
                    for (uint32_t i = 0; i < ni; i++) xx += (double)x[(size_t)t * ni + i] * x[(size_t)s * ni + i];
                    for (uint32_t o = 0; o < no; o++) gg += (double)dy[(size_t)t * no + o] * dy[(size_t)s * no + o];
                    acc += (s == t ? 1.0 : 2.0) * xx * gg;
                }
        }
        ARG_F(2)[b] = (float)acc;
    }
}

vf_status vf_cpu_run_op(const vf_op *op) {
    const uint32_t n = op->u[0];
    switch (op->kind) {
    case VF_OP_FILL: {
        float *t = ARG_F(0);
        for (uint32_t i = 0; i < n; i++) t[i] = op->f[0]; /* int32 fills copy the bits */
        break;
    }
    case VF_OP_COPY: memmove(ARG_F(1), ARG_F(0), (size_t)n * 4); break;
    case VF_OP_MATMUL: k_matmul(op); break;
    case VF_OP_BIAS_ADD: {
        const uint32_t R = op->u[0], C = op->u[1];
        const float *x = ARG_F(0), *b = ARG_F(1);
        float *y = ARG_F(2);
        for (uint32_t r = 0; r < R; r++)
            for (uint32_t c = 0; c < C; c++) y[(size_t)r * C + c] = x[(size_t)r * C + c] + b[c];
        break;
    }
    case VF_OP_BINARY: k_binary(op); break;
    case VF_OP_SCALE: {
        const float *x = ARG_F(0), a = op->f[0], b = op->f[1];
        float *y = ARG_F(1);
        if (b == 0.0f) for (uint32_t i = 0; i < n; i++) y[i] = a * x[i];
        else for (uint32_t i = 0; i < n; i++) y[i] = a * x[i] + b * y[i];
        break;
    }
    case VF_OP_UNARY: k_unary(op); break;
    case VF_OP_UNARY_BACKWARD: k_unary_backward(op); break;
    case VF_OP_SOFTMAX: k_softmax(op); break;
    case VF_OP_SOFTMAX_BACKWARD: k_softmax_backward(op); break;
    case VF_OP_COPY_COLS: {
        const uint32_t R = op->u[0], xc = op->u[1], xs = op->u[2], yc = op->u[3], ys = op->u[4],
                       w = op->u[5];
        for (uint32_t r = 0; r < R; r++)
            memcpy(ARG_F(1) + (size_t)r * yc + ys, ARG_F(0) + (size_t)r * xc + xs, w * sizeof(float));
        break;
    }
    case VF_OP_REDUCE: k_reduce(op); break;
    case VF_OP_BROADCAST: k_broadcast(op); break;
    case VF_OP_SQNORM_BACKWARD: {
        const uint32_t R = op->u[0], C = op->u[1];
        const float *x = ARG_F(0), *dy = ARG_F(1);
        float *dx = ARG_F(2);
        for (uint32_t r = 0; r < R; r++)
            for (uint32_t c = 0; c < C; c++)
                dx[(size_t)r * C + c] = 2.0f * x[(size_t)r * C + c] * dy[r];
        break;
    }
    case VF_OP_MSE: {
        const float *a = ARG_F(0), *b = ARG_F(1);
        double s = 0;
        for (uint32_t i = 0; i < n; i++) s += (double)(a[i] - b[i]) * (a[i] - b[i]);
        ARG_F(2)[0] = (float)(s / n);
        break;
    }
    case VF_OP_MSE_BACKWARD: {
        const float *a = ARG_F(0), *b = ARG_F(1);
        const float k = op->f[0] * 2.0f * ARG_F(2)[0] / (float)n;
        float *d = ARG_F(3);
        for (uint32_t i = 0; i < n; i++) d[i] = k * (a[i] - b[i]);
        break;
    }
    case VF_OP_BCE: {
        const float *x = ARG_F(0), *t = ARG_F(1);
        double s = 0;
        for (uint32_t i = 0; i < n; i++)
            s += fmaxf(x[i], 0.0f) - x[i] * t[i] + log1pf(expf(-fabsf(x[i])));
        ARG_F(2)[0] = (float)(s / n);
        break;
    }
    case VF_OP_BCE_BACKWARD: {
        const float *x = ARG_F(0), *t = ARG_F(1);
        const float k = ARG_F(2)[0] / (float)n;
        float *dx = ARG_F(3);
        for (uint32_t i = 0; i < n; i++) dx[i] = k * (sigmoidf(x[i]) - t[i]);
        break;
    }
    case VF_OP_LSTM_CELL: k_lstm_cell(op); break;
    case VF_OP_LSTM_CELL_BACKWARD: k_lstm_cell_backward(op); break;
    case VF_OP_BATCHNORM_TRAIN: k_batchnorm_train(op); break;
    case VF_OP_BATCHNORM_INFER: k_batchnorm_infer(op); break;
    case VF_OP_BATCHNORM_BACKWARD: k_batchnorm_backward(op); break;
    case VF_OP_LAYERNORM: k_layernorm(op); break;
    case VF_OP_LAYERNORM_BACKWARD: k_layernorm_backward(op); break;
    case VF_OP_EMBEDDING: k_embedding(op); break;
    case VF_OP_EMBEDDING_BACKWARD: k_embedding_backward(op); break;
    case VF_OP_ADAM: k_adam(op); break;
    case VF_OP_RNG: k_rng(op); break;
    case VF_OP_ELEMENTWISE: return vf_cpu_elementwise(op);
    case VF_OP_SOFTMAX_SEG: k_softmax_seg(op); break;
    case VF_OP_SOFTMAX_SEG_BACKWARD: k_softmax_seg_backward(op); break;
    case VF_OP_GATHER: k_gather(op); break;
    case VF_OP_GATHER_BACKWARD: k_gather_backward(op); break;
    case VF_OP_ARGMAX_SEG: k_argmax_seg(op); break;
    case VF_OP_PER_EXAMPLE_SQNORM: k_per_example_sqnorm(op); break;
    default: return vf_fail(VF_ERR_UNSUPPORTED, "cpu: op %s not implemented", vf_op_name(op->kind));
    }
    return VF_OK;
}
