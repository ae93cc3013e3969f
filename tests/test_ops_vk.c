/* Every op, forward and backward, on the vk backend against the cpu backend
 * (ggml's MODE_TEST idea, REFERENCE.md 6.8): the same fresh random inputs go
 * to both, and each output is compared with the normalised squared error
 * NMSE = sum (vk - cpu)^2 / sum cpu^2 (tu_nmse).
 *
 * Bounds: 1e-10 for ops without rounding differences (copies, gathers,
 * elementwise arithmetic in the same order as the cpu: any error there is a
 * bug, not rounding); 1e-9 for matmul (fp32 accumulation in another order than
 * OpenBLAS: NMSE ~1e-14 expected); 1e-7 for transcendental functions
 * (driver exp/log/tanh within a few ulp) and fp32 reductions (the cpu sums in
 * double); a few ops state their own.
 *
 * Shapes include 1, primes (7, 13, 31, 97) and rows longer than a workgroup
 * (300, 1031) so that guards, partial tiles and the strided loops of the row
 * reductions are all exercised. Output tensors are pre-filled with NaN where
 * the op must not read them (matmul with beta = 0, scale with beta = 0), and
 * every output is checked to be fully written (NaN fails the NMSE).
 *
 * lavapipe costs ~66 us per dispatch and ~10-50 ms per pipeline, so shapes
 * stay small; every test ends with tu_check_validation(). */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXACT 1e-10
#define MATMUL 1e-9
#define TRANSC 1e-7

/* ------------------------------------------------------------ harness */

/* Side 0 is cpu (the reference), side 1 is vk. */
#define CPU 0
#define VK 1
#define MAXKEEP 256

typedef struct pair {
    vf_arena *a[2];
    tu_rng rng;
    void *keep[MAXKEEP]; /* host buffers freed by pair_free */
    int nkeep;
} pair;

static void pair_init(pair *p, uint64_t seed) {
    memset(p, 0, sizeof *p);
    vf_backend *vk = tu_vk();
    if (!vk) cr_skip_test("no Vulkan device");
    p->a[CPU] = tu_arena(tu_cpu(), 8u << 20);
    p->a[VK] = tu_arena(vk, 8u << 20);
    p->rng = tu_rng_make(seed);
}

static void pair_free(pair *p) {
    for (int i = 0; i < p->nkeep; i++) free(p->keep[i]);
    vf_arena_destroy(p->a[CPU]);
    vf_arena_destroy(p->a[VK]);
    tu_check_validation();
}

/* Drops every tensor and host buffer (between cases of one test). */
static void pair_reset(pair *p) {
    for (int i = 0; i < p->nkeep; i++) free(p->keep[i]);
    p->nkeep = 0;
    vf_arena_reset(p->a[CPU], 0);
    vf_arena_reset(p->a[VK], 0);
}

static void *keep(pair *p, void *x) {
    cr_assert_not_null(x);
    cr_assert_lt(p->nkeep, MAXKEEP);
    p->keep[p->nkeep++] = x;
    return x;
}

/* n random floats uniform in [lo, hi) (kept until reset). */
static float *rnd(pair *p, size_t n, float lo, float hi) {
    float *x = keep(p, malloc(n * sizeof(float) + 1));
    tu_fill_uniform(&p->rng, x, n, lo, hi);
    return x;
}

/* The same float tensor [shape] on both sides, filled with data (or NaN when
 * data is NULL, so an unwritten output element shows up). */
static void mk(pair *p, vf_tensor t[2], int ndim, const int64_t *shape, const float *data) {
    for (int s = 0; s < 2; s++) {
        t[s] = tu_tensor(p->a[s], ndim, shape, data);
        if (!data) TU_OK(vf_fill(&t[s], NAN));
    }
}
static void mk2(pair *p, vf_tensor t[2], int64_t r, int64_t c, const float *data) {
    int64_t sh[2] = {r, c};
    mk(p, t, 2, sh, data);
}
static void mk1(pair *p, vf_tensor t[2], int64_t n, const float *data) { mk(p, t, 1, &n, data); }
/* A random float tensor [r, c] in [lo, hi) on both sides. */
static void mkr(pair *p, vf_tensor t[2], int64_t r, int64_t c, float lo, float hi) {
    mk2(p, t, r, c, rnd(p, (size_t)(r * c), lo, hi));
}

static void mki(pair *p, vf_tensor t[2], int64_t n, const int32_t *data) {
    for (int s = 0; s < 2; s++) {
        TU_OK(vf_tensor_alloc(p->a[s], VF_I32, 1, &n, &t[s]));
        TU_OK(vf_tensor_write(&t[s], data, (size_t)n * 4));
    }
}

/* Asserts NMSE(vk, cpu) <= bound for tensor pair t, where the reference's
 * energy counts as at least n floor^2: for outputs that cancel to ~0 (batch
 * norm's dx over 2 rows is exactly 0 in real arithmetic) the error is judged
 * against the scale of the terms that cancelled, not against the noise. */
static double check_floor(const vf_tensor t[2], double bound, double floor, const char *what) {
    float *ref = tu_read(&t[CPU]), *got = tu_read(&t[VK]);
    size_t n = (size_t)t[CPU].numel;
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    den = fmax(den, (double)n * floor * floor);
    double e = isnan(num) ? INFINITY : den > 0 ? num / den : num == 0 ? 0 : INFINITY;
    size_t worst = 0;
    double wd = -1;
    for (size_t i = 0; i < n; i++) {
        double d = isnan(got[i]) || isnan(ref[i]) ? INFINITY : fabs((double)got[i] - ref[i]);
        if (d > wd) wd = d, worst = i;
    }
    cr_log_info("%s: nmse %.3g (bound %.0e)", what, e, bound);
    cr_expect(e <= bound, "%s: nmse %.3g > %.0e (element %zu: vk %.9g, cpu %.9g)", what, e, bound,
              worst, (double)got[worst], (double)ref[worst]);
    free(ref);
    free(got);
    return e;
}

/* Asserts NMSE(vk, cpu) <= bound; returns the NMSE. */
static double check(const vf_tensor t[2], double bound, const char *what) {
    return check_floor(t, bound, 0, what);
}

/* Runs `call` once on each side (s = CPU, VK), failing on an error. */
#define BOTH(call)                                                                           \
    do {                                                                                     \
        for (int s = 0; s < 2; s++) TU_OK(call);                                             \
    } while (0)

/* ------------------------------------------------------------ fill, copy */

Test(ops_vk, fill_and_copy) {
    pair p;
    pair_init(&p, 1);
    const int64_t ns[] = {1, 7, 1031};
    for (int i = 0; i < 3; i++) {
        vf_tensor t[2], y[2];
        mk1(&p, t, ns[i], rnd(&p, (size_t)ns[i], -1, 1));
        BOTH(vf_fill(&t[s], -2.5f));
        check(t, 0, "fill f32");
        mk1(&p, y, ns[i], NULL);
        mk1(&p, t, ns[i], rnd(&p, (size_t)ns[i], -1, 1));
        BOTH(vf_copy(&t[s], &y[s]));
        check(y, 0, "copy f32");
        pair_reset(&p);
    }
    /* int32: the bits of the int go through f[0] unchanged (small ints are
     * float denormals, -1 is a quiet NaN pattern, -8388607 = 0xff800001 a
     * signalling NaN that any float arithmetic would quiet); all are exact
     * as floats, which vf_fill's value parameter needs */
    const int32_t vals[] = {-1, 3, 16777216, -16777215, -8388607};
    for (int i = 0; i < 5; i++) {
        int64_t n = 13;
        vf_tensor t[2], y[2];
        for (int s = 0; s < 2; s++) {
            TU_OK(vf_tensor_alloc(p.a[s], VF_I32, 1, &n, &t[s]));
            TU_OK(vf_tensor_alloc(p.a[s], VF_I32, 1, &n, &y[s]));
            TU_OK(vf_fill(&t[s], (float)vals[i]));
            TU_OK(vf_copy(&t[s], &y[s]));
            int32_t got[13];
            TU_OK(vf_tensor_read(&y[s], got, sizeof got));
            for (int j = 0; j < 13; j++)
                cr_expect_eq(got[j], vals[i], "int32 fill+copy on %s: [%d] = %d, want %d",
                             s ? "vk" : "cpu", j, got[j], vals[i]);
        }
        pair_reset(&p);
    }
    pair_free(&p);
}

/* ----------------------------------------------------------------- matmul */

typedef struct mm_case {
    int64_t M, N, K, batch; /* batch 0: plain 2-D */
    bool a3, b3;            /* A / B 3-D (else shared 2-D) when batch > 0 */
    float alpha, beta;
} mm_case;

static void mm_run(pair *p, const mm_case *c, bool ta, bool tb) {
    int64_t sa[3], sb[3], sc[3];
    int na = 2, nb = 2, nc = 2;
    int64_t ar = ta ? c->K : c->M, ac = ta ? c->M : c->K;
    int64_t br = tb ? c->N : c->K, bc = tb ? c->K : c->N;
    if (c->batch) {
        nc = 3, sc[0] = c->batch, sc[1] = c->M, sc[2] = c->N;
        if (c->a3) na = 3, sa[0] = c->batch, sa[1] = ar, sa[2] = ac;
        else sa[0] = ar, sa[1] = ac;
        if (c->b3) nb = 3, sb[0] = c->batch, sb[1] = br, sb[2] = bc;
        else sb[0] = br, sb[1] = bc;
    } else {
        sa[0] = ar, sa[1] = ac, sb[0] = br, sb[1] = bc, sc[0] = c->M, sc[1] = c->N;
    }
    int64_t numa = 1, numb = 1, numc = 1;
    for (int i = 0; i < na; i++) numa *= sa[i];
    for (int i = 0; i < nb; i++) numb *= sb[i];
    for (int i = 0; i < nc; i++) numc *= sc[i];
    vf_tensor A[2], B[2], C[2];
    mk(p, A, na, sa, rnd(p, (size_t)numa, -1, 1));
    mk(p, B, nb, sb, rnd(p, (size_t)numb, -1, 1));
    /* beta == 0: C starts as NaN and must not be read */
    mk(p, C, nc, sc, c->beta != 0 ? rnd(p, (size_t)numc, -1, 1) : NULL);
    BOTH(vf_matmul(&A[s], ta, &B[s], tb, &C[s], c->alpha, c->beta));
    char what[160];
    snprintf(what, sizeof what, "matmul M%lld N%lld K%lld batch %lld%s%s ta %d tb %d a %g b %g",
             (long long)c->M, (long long)c->N, (long long)c->K, (long long)c->batch,
             c->batch && !c->a3 ? " shared A" : "", c->batch && !c->b3 ? " shared B" : "", ta,
             tb, c->alpha, c->beta);
    check(C, MATMUL, what);
}

Test(ops_vk, matmul_2d_all_transposes) {
    pair p;
    pair_init(&p, 2);
    const mm_case cases[] = {
        {1, 1, 1, 0, 0, 0, 1, 0},        {7, 13, 31, 0, 0, 0, 1, 0},
        {33, 65, 17, 0, 0, 0, 0.5f, 0},  /* partial tiles in both directions */
        {13, 97, 40, 0, 0, 0, -1.25f, 0.75f}, {70, 45, 129, 0, 0, 0, 1, 1},
        {1, 300, 5, 0, 0, 0, 1, 0},      {97, 1, 13, 0, 0, 0, 2, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int t = 0; t < 4; t++) {
            mm_run(&p, &cases[i], t & 1, t >> 1);
            pair_reset(&p);
        }
    pair_free(&p);
}

Test(ops_vk, matmul_batched_and_shared) {
    pair p;
    pair_init(&p, 3);
    const mm_case cases[] = {
        {7, 13, 31, 3, 1, 1, 1, 0},  {33, 40, 9, 2, 1, 0, 1, 0}, /* shared B (weights) */
        {13, 7, 65, 4, 0, 1, 0.5f, 0.25f},                       /* shared A */
        {1, 1, 1, 5, 1, 1, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int t = 0; t < 4; t++) {
            mm_run(&p, &cases[i], t & 1, t >> 1);
            pair_reset(&p);
        }
    pair_free(&p);
}

Test(ops_vk, matmul_backward) {
    pair p;
    pair_init(&p, 4);
    const int64_t dims[][4] = {{7, 13, 31, 0}, {33, 9, 40, 0}, {5, 7, 11, 3}}; /* M N K batch */
    for (int i = 0; i < 3; i++)
        for (int t = 0; t < 4; t++)
            for (int acc = 0; acc < 2; acc++) {
                bool ta = t & 1, tb = t >> 1;
                int64_t M = dims[i][0], N = dims[i][1], K = dims[i][2], bt = dims[i][3];
                int nd = bt ? 3 : 2;
                int64_t sa[3] = {bt, ta ? K : M, ta ? M : K}, sb[3] = {bt, tb ? N : K, tb ? K : N};
                int64_t sc[3] = {bt, M, N};
                const int64_t *pa = bt ? sa : sa + 1, *pb = bt ? sb : sb + 1, *pc = bt ? sc : sc + 1;
                size_t na = (size_t)(M * K * (bt ? bt : 1)), nb = (size_t)(K * N * (bt ? bt : 1));
                size_t nc = (size_t)(M * N * (bt ? bt : 1));
                vf_tensor A[2], B[2], dC[2], dA[2], dB[2];
                mk(&p, A, nd, pa, rnd(&p, na, -1, 1));
                mk(&p, B, nd, pb, rnd(&p, nb, -1, 1));
                mk(&p, dC, nd, pc, rnd(&p, nc, -1, 1));
                mk(&p, dA, nd, pa, acc ? rnd(&p, na, -1, 1) : NULL);
                mk(&p, dB, nd, pb, acc ? rnd(&p, nb, -1, 1) : NULL);
                BOTH(vf_matmul_backward(&A[s], ta, &B[s], tb, &dC[s], &dA[s], &dB[s], acc));
                char what[96];
                snprintf(what, sizeof what, "matmul_backward M%lld N%lld K%lld batch %lld ta %d tb %d acc %d",
                         (long long)M, (long long)N, (long long)K, (long long)bt, ta, tb, acc);
                check(dA, MATMUL, what);
                check(dB, MATMUL, what);
                pair_reset(&p);
            }
    pair_free(&p);
}

/* ------------------------------------------------------------ elementwise */

static const int64_t shapes[][2] = {{1, 1}, {7, 13}, {97, 31}, {3, 1031}};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

Test(ops_vk, bias_add) {
    pair p;
    pair_init(&p, 5);
    for (size_t i = 0; i < NSHAPES; i++) {
        int64_t R = shapes[i][0], C = shapes[i][1];
        vf_tensor x[2], b[2], y[2], dy[2], db[2];
        mkr(&p, x, R, C, -2, 2);
        mk1(&p, b, C, rnd(&p, (size_t)C, -1, 1));
        mk2(&p, y, R, C, NULL);
        BOTH(vf_bias_add_forward(&x[s], &b[s], &y[s]));
        check(y, EXACT, "bias_add");
        mkr(&p, dy, R, C, -1, 1);
        mk1(&p, db, C, NULL);
        BOTH(vf_bias_add_backward(&dy[s], &db[s]));
        check(db, TRANSC, "bias_add_backward");
        pair_reset(&p);
    }
    pair_free(&p);
}

Test(ops_vk, binary_and_scale) {
    pair p;
    pair_init(&p, 6);
    for (size_t i = 0; i < NSHAPES; i++)
        for (int k = VF_ADD; k <= VF_MUL; k++) {
            int64_t R = shapes[i][0], C = shapes[i][1];
            vf_tensor a[2], b[2], y[2], dy[2], da[2], db[2];
            mkr(&p, a, R, C, -2, 2);
            mkr(&p, b, R, C, -2, 2);
            mk2(&p, y, R, C, NULL);
            BOTH(vf_binary_forward(k, &a[s], &b[s], &y[s]));
            check(y, EXACT, "binary");
            mkr(&p, dy, R, C, -1, 1);
            mk2(&p, da, R, C, NULL);
            mk2(&p, db, R, C, NULL);
            BOTH(vf_binary_backward(k, &a[s], &b[s], &dy[s], &da[s], &db[s]));
            check(da, EXACT, "binary_backward da");
            check(db, EXACT, "binary_backward db");
            BOTH(vf_binary_forward(k, &a[s], &b[s], &a[s])); /* y aliases a */
            check(a, EXACT, "binary in place");
            pair_reset(&p);
        }
    for (size_t i = 0; i < NSHAPES; i++) {
        int64_t R = shapes[i][0], C = shapes[i][1];
        vf_tensor x[2], y[2];
        mkr(&p, x, R, C, -2, 2);
        mk2(&p, y, R, C, NULL);
        BOTH(vf_scale(&x[s], &y[s], 1.5f, 0.0f)); /* y is NaN: must not be read */
        check(y, EXACT, "scale beta 0");
        BOTH(vf_scale(&x[s], &y[s], -0.5f, 0.25f));
        check(y, EXACT, "scale beta 0.25");
        BOTH(vf_scale(&x[s], &x[s], 3.0f, 0.0f));
        check(x, EXACT, "scale in place");
        pair_reset(&p);
    }
    pair_free(&p);
}

Test(ops_vk, unary_all_kinds) {
    pair p;
    pair_init(&p, 7);
    /* the second range reaches where naive tanh / sigmoid / softplus overflow */
    const float range[2] = {3.0f, 60.0f};
    for (int k = 0; k < VF_UNARY_COUNT; k++)
        for (size_t i = 0; i < NSHAPES; i++)
            for (int r = 0; r < 2; r++) {
                int64_t R = shapes[i][0], C = shapes[i][1];
                bool exact = k == VF_RELU || k == VF_LEAKY_RELU;
                double bound = exact ? EXACT : TRANSC;
                vf_tensor x[2], y[2], dy[2], dx[2];
                mkr(&p, x, R, C, -range[r], range[r]);
                mk2(&p, y, R, C, NULL);
                BOTH(vf_unary_forward(k, 0.1f, &x[s], &y[s]));
                char what[64];
                snprintf(what, sizeof what, "%s [%lld, %lld] |x| < %g", vf_unary_name(k),
                         (long long)R, (long long)C, range[r]);
                check(y, bound, what);
                /* backward from the cpu's forward output on both sides, so
                 * only the backward kernel is compared */
                float *yc = keep(&p, tu_read(&y[CPU]));
                TU_OK(vf_tensor_write(&y[VK], yc, vf_tensor_bytes(&y[VK])));
                mkr(&p, dy, R, C, -1, 1);
                mk2(&p, dx, R, C, NULL);
                BOTH(vf_unary_backward(k, 0.1f, &x[s], &y[s], &dy[s], &dx[s]));
                strcat(what, " backward");
                check(dx, bound, what);
                BOTH(vf_unary_backward(k, 0.1f, &x[s], &y[s], &dy[s], &dy[s])); /* dx = dy */
                check(dy, bound, what);
                pair_reset(&p);
            }
    pair_free(&p);
}

/* ---------------------------------------------------------------- softmax */

static const int64_t row_shapes[][2] = {{1, 1}, {7, 13}, {5, 300}, {3, 1031}, {97, 2}};
#define NROWS (sizeof row_shapes / sizeof row_shapes[0])

Test(ops_vk, softmax_and_log_softmax) {
    pair p;
    pair_init(&p, 8);
    for (int lg = 0; lg < 2; lg++)
        for (size_t i = 0; i < NROWS; i++) {
            int64_t R = row_shapes[i][0], C = row_shapes[i][1];
            vf_tensor x[2], y[2], dy[2], dx[2];
            mkr(&p, x, R, C, -20, 20); /* wide: exp() would overflow without the max */
            mk2(&p, y, R, C, NULL);
            BOTH((lg ? vf_log_softmax_forward : vf_softmax_forward)(&x[s], &y[s]));
            check(y, TRANSC, lg ? "log_softmax" : "softmax");
            float *yc = keep(&p, tu_read(&y[CPU]));
            TU_OK(vf_tensor_write(&y[VK], yc, vf_tensor_bytes(&y[VK])));
            mkr(&p, dy, R, C, -1, 1);
            mk2(&p, dx, R, C, NULL);
            BOTH((lg ? vf_log_softmax_backward : vf_softmax_backward)(&y[s], &dy[s], &dx[s]));
            check(dx, TRANSC, lg ? "log_softmax_backward" : "softmax_backward");
            pair_reset(&p);
        }
    pair_free(&p);
}

/* ---------------------------------------------------------- concat, slice */

Test(ops_vk, concat_and_slice) {
    pair p;
    pair_init(&p, 9);
    const int64_t rows[] = {1, 7, 97};
    for (int i = 0; i < 3; i++) {
        int64_t R = rows[i], w[3] = {5, 1, 31};
        vf_tensor x0[2], x1[2], x2[2], y[2], d0[2], d1[2], d2[2];
        mkr(&p, x0, R, w[0], -1, 1);
        mkr(&p, x1, R, w[1], -1, 1);
        mkr(&p, x2, R, w[2], -1, 1);
        mk2(&p, y, R, 37, NULL);
        for (int s = 0; s < 2; s++) {
            const vf_tensor *xs[3] = {&x0[s], &x1[s], &x2[s]};
            TU_OK(vf_concat_forward(3, xs, &y[s]));
        }
        check(y, EXACT, "concat of 3");
        mk2(&p, d0, R, w[0], NULL);
        mk2(&p, d1, R, w[1], NULL);
        mk2(&p, d2, R, w[2], NULL);
        for (int s = 0; s < 2; s++) {
            const vf_tensor *ds[3] = {&d0[s], &d1[s], &d2[s]};
            TU_OK(vf_concat_backward(3, &y[s], ds));
        }
        check(d0, EXACT, "concat_backward 0");
        check(d1, EXACT, "concat_backward 1");
        check(d2, EXACT, "concat_backward 2");
        /* slice [:, 6:19] of y and back into a zeroed [R, 37] */
        vf_tensor sl[2], dx[2];
        mk2(&p, sl, R, 13, NULL);
        BOTH(vf_slice_forward(&y[s], 6, &sl[s]));
        check(sl, EXACT, "slice");
        mk2(&p, dx, R, 37, NULL);
        BOTH(vf_slice_backward(&sl[s], 6, &dx[s]));
        check(dx, EXACT, "slice_backward");
        pair_reset(&p);
    }
    pair_free(&p);
}

/* ------------------------------------------------------------- reductions */

Test(ops_vk, sum_mean_all_axes) {
    pair p;
    pair_init(&p, 10);
    /* [300, 5] takes the thread-per-row path of the row reduction, [13, 1031]
     * the workgroup-per-row path with several strides per thread */
    const int64_t sh[][2] = {{1, 1}, {7, 13}, {13, 1031}, {300, 5}, {97, 33}};
    static const char *const axn[] = {"rows", "cols", "all"};
    for (size_t i = 0; i < sizeof sh / sizeof sh[0]; i++)
        for (int ax = 0; ax < 3; ax++)
            for (int mean = 0; mean < 2; mean++) {
                int64_t R = sh[i][0], C = sh[i][1];
                int64_t ny = ax == VF_REDUCE_ROWS ? R : ax == VF_REDUCE_COLS ? C : 1;
                vf_tensor x[2], y[2], dy[2], dx[2];
                mkr(&p, x, R, C, -1, 1);
                mk1(&p, y, ny, NULL);
                BOTH(vf_sum_forward(ax, mean, &x[s], &y[s]));
                char what[96];
                snprintf(what, sizeof what, "%s over %s of [%lld, %lld]", mean ? "mean" : "sum",
                         axn[ax], (long long)R, (long long)C);
                check(y, TRANSC, what);
                mk1(&p, dy, ny, rnd(&p, (size_t)ny, -1, 1));
                mk2(&p, dx, R, C, NULL);
                BOTH(vf_sum_backward(ax, mean, &dy[s], &dx[s]));
                strcat(what, " backward");
                check(dx, EXACT, what);
                pair_reset(&p);
            }
    pair_free(&p);
}

Test(ops_vk, sqnorm_rows) {
    pair p;
    pair_init(&p, 11);
    for (size_t i = 0; i < NROWS; i++) {
        int64_t R = row_shapes[i][0], C = row_shapes[i][1];
        vf_tensor x[2], y[2], dy[2], dx[2];
        mkr(&p, x, R, C, -2, 2);
        mk1(&p, y, R, NULL);
        BOTH(vf_sqnorm_rows_forward(&x[s], &y[s]));
        check(y, TRANSC, "sqnorm_rows");
        mk1(&p, dy, R, rnd(&p, (size_t)R, -1, 1));
        mk2(&p, dx, R, C, NULL);
        BOTH(vf_sqnorm_rows_backward(&x[s], &dy[s], &dx[s]));
        check(dx, EXACT, "sqnorm_rows_backward");
        pair_reset(&p);
    }
    pair_free(&p);
}

/* ----------------------------------------------------------------- losses */

Test(ops_vk, mse_and_bce) {
    pair p;
    pair_init(&p, 12);
    const int64_t ns[] = {1, 97, 3093};
    for (int i = 0; i < 3; i++) {
        int64_t n = ns[i];
        vf_tensor a[2], b[2], l[2], dl[2], da[2], db[2];
        mkr(&p, a, n, 1, -2, 2);
        mkr(&p, b, n, 1, -2, 2);
        mk1(&p, l, 1, NULL);
        BOTH(vf_mse_forward(&a[s], &b[s], &l[s]));
        check(l, TRANSC, "mse");
        float g = 0.7f;
        mk1(&p, dl, 1, &g);
        mkr(&p, da, n, 1, -1, 1);
        mkr(&p, db, n, 1, -1, 1);
        BOTH(vf_mse_backward(&a[s], &b[s], &dl[s], &da[s], &db[s]));
        check(da, EXACT, "mse_backward da");
        check(db, EXACT, "mse_backward db");
        /* bce: logits up to +-30 (log1p(exp(-|x|)) must not lose the tail),
         * targets in [0, 1] */
        vf_tensor x[2], t[2], dx[2];
        mkr(&p, x, n, 1, -30, 30);
        mkr(&p, t, n, 1, 0, 1);
        BOTH(vf_bce_logits_forward(&x[s], &t[s], &l[s]));
        check(l, TRANSC, "bce_logits");
        mk2(&p, dx, n, 1, NULL);
        BOTH(vf_bce_logits_backward(&x[s], &t[s], &dl[s], &dx[s]));
        check(dx, TRANSC, "bce_logits_backward");
        pair_reset(&p);
    }
    pair_free(&p);
}

/* ------------------------------------------------------------------- LSTM */

Test(ops_vk, lstm_cell) {
    pair p;
    pair_init(&p, 13);
    const int64_t bh[][2] = {{1, 1}, {7, 13}, {7, 97}}; /* 679 units > a workgroup */
    for (int i = 0; i < 3; i++)
        for (int with_dc = 0; with_dc < 2; with_dc++) {
            int64_t B = bh[i][0], H = bh[i][1];
            vf_tensor g[2], cp[2], h[2], c[2], dh[2], dc[2], dg[2], dcp[2];
            mkr(&p, g, B, 4 * H, -4, 4);
            mkr(&p, cp, B, H, -2, 2);
            mk2(&p, h, B, H, NULL);
            mk2(&p, c, B, H, NULL);
            BOTH(vf_lstm_cell_forward(&g[s], &cp[s], &h[s], &c[s]));
            check(h, TRANSC, "lstm_cell h");
            check(c, TRANSC, "lstm_cell c");
            float *cc = keep(&p, tu_read(&c[CPU]));
            TU_OK(vf_tensor_write(&c[VK], cc, vf_tensor_bytes(&c[VK])));
            mkr(&p, dh, B, H, -1, 1);
            mkr(&p, dc, B, H, -1, 1);
            mk2(&p, dg, B, 4 * H, NULL);
            mk2(&p, dcp, B, H, NULL);
            BOTH(vf_lstm_cell_backward(&g[s], &cp[s], &c[s], &dh[s], with_dc ? &dc[s] : NULL,
                                       &dg[s], &dcp[s]));
            check(dg, TRANSC, with_dc ? "lstm_cell_backward dgates (dc)" : "lstm_cell_backward dgates");
            check(dcp, TRANSC, with_dc ? "lstm_cell_backward dc_prev (dc)" : "lstm_cell_backward dc_prev");
            pair_reset(&p);
        }
    pair_free(&p);
}

/* ------------------------------------------------------------- batch norm */

Test(ops_vk, batchnorm) {
    pair p;
    pair_init(&p, 14);
    const int64_t sh[][2] = {{2, 1}, {97, 13}, {300, 31}, {3, 1031}}; /* 1031 > a workgroup of columns */
    for (int i = 0; i < 4; i++)
        for (int run = 0; run < 2; run++) {
            int64_t R = sh[i][0], C = sh[i][1];
            vf_tensor x[2], gm[2], bt[2], y[2], mu[2], rs[2], rm[2], rv[2];
            mkr(&p, x, R, C, -3, 5);
            mk1(&p, gm, C, rnd(&p, (size_t)C, 0.5f, 1.5f));
            mk1(&p, bt, C, rnd(&p, (size_t)C, -1, 1));
            mk2(&p, y, R, C, NULL);
            mk1(&p, mu, C, NULL);
            mk1(&p, rs, C, NULL);
            mk1(&p, rm, C, rnd(&p, (size_t)C, -1, 1));
            mk1(&p, rv, C, rnd(&p, (size_t)C, 0.5f, 2));
            BOTH(vf_batchnorm_train_forward(&x[s], &gm[s], &bt[s], 1e-5f, 0.1f, &y[s], &mu[s],
                                            &rs[s], run ? &rm[s] : NULL, run ? &rv[s] : NULL));
            check(y, TRANSC, "batchnorm_train y");
            check(mu, TRANSC, "batchnorm_train mean");
            check(rs, TRANSC, "batchnorm_train rstd");
            if (run) {
                check(rm, TRANSC, "batchnorm_train running_mean");
                check(rv, TRANSC, "batchnorm_train running_var");
            }
            vf_tensor yi[2];
            mk2(&p, yi, R, C, NULL);
            BOTH(vf_batchnorm_infer_forward(&x[s], &gm[s], &bt[s], &rm[s], &rv[s], 1e-3f, &yi[s]));
            check(yi, TRANSC, "batchnorm_infer");
            /* backward from the cpu's statistics on both sides */
            float *m = keep(&p, tu_read(&mu[CPU])), *r = keep(&p, tu_read(&rs[CPU]));
            TU_OK(vf_tensor_write(&mu[VK], m, vf_tensor_bytes(&mu[VK])));
            TU_OK(vf_tensor_write(&rs[VK], r, vf_tensor_bytes(&rs[VK])));
            vf_tensor dy[2], dx[2], dg[2], db[2];
            mkr(&p, dy, R, C, -1, 1);
            mk2(&p, dx, R, C, NULL);
            mk1(&p, dg, C, NULL);
            mk1(&p, db, C, NULL);
            BOTH(vf_batchnorm_backward(&x[s], &gm[s], &mu[s], &rs[s], &dy[s], &dx[s], &dg[s], &db[s]));
            /* dx = k (R dy - sum dy - xh sum dy xh) cancels: its rounding is
             * relative to gamma rstd |dy| ~ 0.1..1, not to dx (0 for R = 2) */
            check_floor(dx, TRANSC, 1e-2, "batchnorm_backward dx");
            check(dg, TRANSC, "batchnorm_backward dgamma");
            check(db, TRANSC, "batchnorm_backward dbeta");
            pair_reset(&p);
        }
    pair_free(&p);
}

/* ------------------------------------------------------------- layer norm */

Test(ops_vk, layernorm) {
    pair p;
    pair_init(&p, 15);
    const int64_t sh[][2] = {{1, 2}, {7, 13}, {5, 1031}, {300, 31}};
    for (int i = 0; i < 4; i++) {
        int64_t R = sh[i][0], C = sh[i][1];
        vf_tensor x[2], gm[2], bt[2], y[2], mu[2], rs[2];
        mkr(&p, x, R, C, -3, 5);
        mk1(&p, gm, C, rnd(&p, (size_t)C, 0.5f, 1.5f));
        mk1(&p, bt, C, rnd(&p, (size_t)C, -1, 1));
        mk2(&p, y, R, C, NULL);
        mk1(&p, mu, R, NULL);
        mk1(&p, rs, R, NULL);
        BOTH(vf_layernorm_forward(&x[s], &gm[s], &bt[s], 1e-5f, &y[s], &mu[s], &rs[s]));
        check(y, TRANSC, "layernorm y");
        check(mu, TRANSC, "layernorm mean");
        check(rs, TRANSC, "layernorm rstd");
        float *m = keep(&p, tu_read(&mu[CPU])), *r = keep(&p, tu_read(&rs[CPU]));
        TU_OK(vf_tensor_write(&mu[VK], m, vf_tensor_bytes(&mu[VK])));
        TU_OK(vf_tensor_write(&rs[VK], r, vf_tensor_bytes(&rs[VK])));
        vf_tensor dy[2], dx[2], dg[2], db[2];
        mkr(&p, dy, R, C, -1, 1);
        mk2(&p, dx, R, C, NULL);
        mk1(&p, dg, C, NULL);
        mk1(&p, db, C, NULL);
        BOTH(vf_layernorm_backward(&x[s], &gm[s], &mu[s], &rs[s], &dy[s], &dx[s], &dg[s], &db[s]));
        check(dx, 1e-5, "layernorm_backward dx"); /* cancellation as in batch norm */
        check(dg, TRANSC, "layernorm_backward dgamma");
        check(db, TRANSC, "layernorm_backward dbeta");
        pair_reset(&p);
    }
    pair_free(&p);
}

/* -------------------------------------------------------------- embedding */

Test(ops_vk, embedding) {
    pair p;
    pair_init(&p, 16);
    const int64_t nvd[][3] = {{1, 1, 1}, {13, 7, 31}, {97, 5, 300}, {31, 3, 1031}}; /* N V D */
    for (int i = 0; i < 4; i++) {
        int64_t N = nvd[i][0], V = nvd[i][1], D = nvd[i][2];
        int32_t *idx = keep(&p, malloc((size_t)N * 4));
        for (int64_t n = 0; n < N; n++) /* repeats, and -1 / V out of range */
            idx[n] = (int32_t)(tu_uniform(&p.rng, 0, 1) * (float)(V + 2)) - 1;
        if (N > 2) idx[0] = -1, idx[1] = (int32_t)V; /* surely both out of range */
        vf_tensor ix[2], tb[2], y[2], dy[2], dt[2];
        mki(&p, ix, N, idx);
        mkr(&p, tb, V, D, -1, 1);
        mk2(&p, y, N, D, NULL);
        BOTH(vf_embedding_forward(&ix[s], &tb[s], &y[s]));
        check(y, EXACT, "embedding");
        mkr(&p, dy, N, D, -1, 1);
        mk2(&p, dt, V, D, NULL);
        BOTH(vf_embedding_backward(&ix[s], &dy[s], &dt[s]));
        check(dt, EXACT, "embedding_backward"); /* same summation order as the cpu */
        pair_reset(&p);
    }
    pair_free(&p);
}

/* ------------------------------------------------------------------- Adam */

Test(ops_vk, adam_three_steps) {
    pair p;
    pair_init(&p, 17);
    const int64_t ns[] = {1, 1031};
    const vf_adam_config cfgs[2] = {{0.9f, 0.999f, 1e-8f, 0.0f}, {0.5f, 0.99f, 1e-6f, 0.01f}};
    for (int i = 0; i < 2; i++) {
        int64_t n = ns[i];
        vf_tensor pr[2], g[2], m[2], v[2], sc[2];
        mkr(&p, pr, n, 1, -1, 1);
        mkr(&p, m, n, 1, -0.1f, 0.1f);
        mkr(&p, v, n, 1, 0, 0.01f);
        mk1(&p, sc, 2, NULL);
        mk2(&p, g, n, 1, NULL);
        for (int step = 1; step <= 3; step++) {
            float sched[2] = {1e-2f / (float)step, (float)step};
            float *gr = rnd(&p, (size_t)n, -1, 1);
            for (int s = 0; s < 2; s++) {
                TU_OK(vf_tensor_write(&sc[s], sched, sizeof sched));
                TU_OK(vf_tensor_write(&g[s], gr, vf_tensor_bytes(&g[s])));
                TU_OK(vf_adam_update(&pr[s], &g[s], &m[s], &v[s], &sc[s], &cfgs[i]));
            }
        }
        check(pr, TRANSC, "adam param after 3 steps");
        check(m, EXACT, "adam m after 3 steps");
        check(v, EXACT, "adam v after 3 steps");
        pair_reset(&p);
    }
    pair_free(&p);
}

/* -------------------------------------------------------------------- RNG */

Test(ops_vk, rng_uniform_bits_and_normal) {
    pair p;
    pair_init(&p, 18);
    /* counter bases: 0, and one whose low word carries into the high word
     * inside the fill (blocks 0xfffffffe, 0xffffffff, 0x1_00000000, ...) */
    const uint32_t bases[][2] = {{0, 0}, {0xfffffffeu, 7}};
    const int64_t ns[] = {1, 7, 1031, 4099}; /* 1025 Philox blocks > a workgroup */
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < 4; i++) {
            int64_t n = ns[i];
            vf_tensor ctr[2], u[2], z[2];
            mki(&p, ctr, 2, (const int32_t *)bases[b]);
            mk1(&p, u, n, NULL);
            mk1(&p, z, n, NULL);
            BOTH(vf_rng_uniform(0x123456789abcdef0ull, 3, &ctr[s], &u[s]));
            BOTH(vf_rng_normal(42, 0, &ctr[s], &z[s]));
            float *uc = keep(&p, tu_read(&u[CPU])), *uv = keep(&p, tu_read(&u[VK]));
            cr_expect(memcmp(uc, uv, (size_t)n * 4) == 0,
                      "rng uniform n %lld base %08x%08x: vk bits differ from cpu", (long long)n,
                      bases[b][1], bases[b][0]);
            float *zc = keep(&p, tu_read(&z[CPU])), *zv = keep(&p, tu_read(&z[VK]));
            double e = tu_max_rel(zv, zc, (size_t)n, 1e-5, 1e-4);
            cr_expect(e <= 1, "rng normal n %lld: max rel error %.3g", (long long)n, e);
            pair_reset(&p);
        }
    pair_free(&p);
}

/* ------------------------------------------------ grids and determinism */

/* 70001 rows: one workgroup per row is more groups than lavapipe's
 * maxComputeWorkGroupCount[0] (65535), so the runtime folds the grid into y
 * and the shaders must index with vf_linear_group() and guard the tail. */
Test(ops_vk, row_ops_on_a_folded_grid) {
    pair p;
    pair_init(&p, 19);
    const int64_t R = 70001, C = 3;
    vf_tensor x[2], y[2], mu[2], rs[2], gm[2], bt[2];
    mkr(&p, x, R, C, -3, 3);
    mk2(&p, y, R, C, NULL);
    BOTH(vf_softmax_forward(&x[s], &y[s]));
    check(y, TRANSC, "softmax [70001, 3]");
    mk1(&p, gm, C, rnd(&p, (size_t)C, 0.5f, 1.5f));
    mk1(&p, bt, C, rnd(&p, (size_t)C, -1, 1));
    mk1(&p, mu, R, NULL);
    mk1(&p, rs, R, NULL);
    BOTH(vf_layernorm_forward(&x[s], &gm[s], &bt[s], 1e-5f, &y[s], &mu[s], &rs[s]));
    check(y, TRANSC, "layernorm [70001, 3]");
    check(rs, TRANSC, "layernorm rstd [70001]");
    pair_free(&p);
}

/* Reductions and GEMM run twice on the same inputs give the same bits: no
 * atomics, fixed summation order. */
Test(ops_vk, reductions_are_bit_identical_run_to_run) {
    vf_backend *vk = tu_vk();
    if (!vk) cr_skip_test("no Vulkan device");
    vf_arena *a = tu_arena(vk, 4u << 20);
    tu_rng r = tu_rng_make(20);
    const int64_t R = 37, C = 1031;
    float *xd = malloc((size_t)(R * C) * sizeof(float)), *wd = malloc(1031 * 64 * sizeof(float));
    cr_assert(xd && wd);
    tu_fill_uniform(&r, xd, (size_t)(R * C), -1, 1);
    tu_fill_uniform(&r, wd, 1031 * 64, -1, 1);
    vf_tensor x = tu_tensor2(a, R, C, xd), w = tu_tensor2(a, C, 64, wd);
    vf_tensor out[2][6];
    int64_t one = 1;
    for (int run = 0; run < 2; run++) {
        out[run][0] = tu_tensor(a, 1, &one, NULL);
        out[run][1] = tu_tensor1(a, R, NULL);
        out[run][2] = tu_tensor1(a, C, NULL);
        out[run][3] = tu_tensor2(a, R, C, NULL);
        out[run][4] = tu_tensor2(a, R, 64, NULL);
        out[run][5] = tu_tensor1(a, 1, NULL);
        TU_OK(vf_sum_forward(VF_REDUCE_ALL, false, &x, &out[run][0]));
        TU_OK(vf_sum_forward(VF_REDUCE_ROWS, true, &x, &out[run][1]));
        TU_OK(vf_sum_forward(VF_REDUCE_COLS, false, &x, &out[run][2]));
        TU_OK(vf_log_softmax_forward(&x, &out[run][3]));
        TU_OK(vf_matmul(&x, false, &w, false, &out[run][4], 1.0f, 0.0f));
        TU_OK(vf_mse_forward(&out[run][3], &x, &out[run][5]));
    }
    for (int i = 0; i < 6; i++) {
        float *a0 = tu_read(&out[0][i]), *a1 = tu_read(&out[1][i]);
        cr_expect(memcmp(a0, a1, vf_tensor_bytes(&out[0][i])) == 0, "output %d differs between runs", i);
        free(a0);
        free(a1);
    }
    free(xd);
    free(wd);
    vf_arena_destroy(a);
    tu_check_validation();
}

/* ----------------------------------------------------- capture and replay */

/* y = tanh(x W + b); l = mean over rows of y; an Adam step on W from a fixed
 * gradient; a random fill. Captured once, replayed after new inputs are
 * written, and compared with running the same ops one by one. */
typedef struct prog_t {
    vf_tensor x, w, b, h, y, l, g, m, v, sc, ctr, r;
} prog_t;

static void prog_alloc(vf_arena *a, prog_t *t) {
    t->x = tu_tensor2(a, 13, 31, NULL);
    t->w = tu_tensor2(a, 31, 7, NULL);
    t->b = tu_tensor1(a, 7, NULL);
    t->h = tu_tensor2(a, 13, 7, NULL);
    t->y = tu_tensor2(a, 13, 7, NULL);
    t->l = tu_tensor1(a, 13, NULL);
    t->g = tu_tensor2(a, 31, 7, NULL);
    t->m = tu_tensor2(a, 31, 7, NULL);
    t->v = tu_tensor2(a, 31, 7, NULL);
    t->sc = tu_tensor1(a, 2, NULL);
    int64_t two = 2;
    TU_OK(vf_tensor_alloc(a, VF_I32, 1, &two, &t->ctr));
    t->r = tu_tensor1(a, 101, NULL);
}

static void prog_ops(prog_t *t) {
    static const vf_adam_config cfg = {0.9f, 0.999f, 1e-8f, 0.0f};
    TU_OK(vf_matmul(&t->x, false, &t->w, false, &t->h, 1.0f, 0.0f));
    TU_OK(vf_bias_add_forward(&t->h, &t->b, &t->h));
    TU_OK(vf_unary_forward(VF_TANH, 0, &t->h, &t->y));
    TU_OK(vf_sum_forward(VF_REDUCE_ROWS, true, &t->y, &t->l));
    TU_OK(vf_adam_update(&t->w, &t->g, &t->m, &t->v, &t->sc, &cfg));
    TU_OK(vf_rng_uniform(7, 1, &t->ctr, &t->r));
}

/* Writes the inputs of round k (fresh random data each round). */
static void prog_inputs(prog_t *t, tu_rng *rng, int k) {
    float x[13 * 31], w[31 * 7], b[7], g[31 * 7], z[31 * 7] = {0};
    tu_fill_uniform(rng, x, 13 * 31, -1, 1);
    tu_fill_uniform(rng, w, 31 * 7, -1, 1);
    tu_fill_uniform(rng, b, 7, -1, 1);
    tu_fill_uniform(rng, g, 31 * 7, -1, 1);
    float sc[2] = {0.01f, (float)k};
    int32_t ctr[2] = {100 * k, 0};
    TU_OK(vf_tensor_write(&t->x, x, sizeof x));
    TU_OK(vf_tensor_write(&t->w, w, sizeof w));
    TU_OK(vf_tensor_write(&t->b, b, sizeof b));
    TU_OK(vf_tensor_write(&t->g, g, sizeof g));
    TU_OK(vf_tensor_write(&t->m, z, sizeof z));
    TU_OK(vf_tensor_write(&t->v, z, sizeof z));
    TU_OK(vf_tensor_write(&t->sc, sc, sizeof sc));
    TU_OK(vf_tensor_write(&t->ctr, ctr, sizeof ctr));
}

static void prog_compare(const prog_t *got, const prog_t *ref, double bound, const char *what) {
    const vf_tensor *gs[] = {&got->h, &got->y, &got->l, &got->w, &got->m, &got->v, &got->r};
    const vf_tensor *rs[] = {&ref->h, &ref->y, &ref->l, &ref->w, &ref->m, &ref->v, &ref->r};
    static const char *const nm[] = {"h", "y", "l", "w", "m", "v", "r"};
    for (int i = 0; i < 7; i++) {
        float *a = tu_read(gs[i]), *b = tu_read(rs[i]);
        double e = tu_nmse(a, b, (size_t)gs[i]->numel);
        cr_expect(e <= bound, "%s: %s nmse %.3g > %.0e", what, nm[i], e, bound);
        free(a);
        free(b);
    }
}

Test(ops_vk, capture_and_replay) {
    vf_backend *be[2] = {tu_cpu(), tu_vk()};
    if (!be[VK]) cr_skip_test("no Vulkan device");
    vf_arena *a[2] = {tu_arena(be[CPU], 1 << 20), tu_arena(be[VK], 1 << 20)};
    prog_t prog[2], eager[2];
    vf_program *pg[2];
    for (int s = 0; s < 2; s++) {
        prog_alloc(a[s], &prog[s]);
        prog_alloc(a[s], &eager[s]);
        TU_OK(vf_capture_begin(be[s]));
        prog_ops(&prog[s]);
        TU_OK(vf_capture_end(be[s], &pg[s]));
        cr_expect_eq(vf_program_op_count(pg[s]), 6, "captured %d ops, expected 6",
                     vf_program_op_count(pg[s]));
    }
    for (int k = 1; k <= 2; k++) {
        for (int s = 0; s < 2; s++) {
            tu_rng r1 = tu_rng_make(100 + (uint64_t)k), r2 = r1;
            prog_inputs(&prog[s], &r1, k);
            prog_inputs(&eager[s], &r2, k);
            TU_OK(vf_program_run(pg[s]));
            prog_ops(&eager[s]);
        }
        /* replay == op by op on the same backend (same kernels: identical) */
        prog_compare(&prog[VK], &eager[VK], 0, "vk replay vs vk op by op");
        prog_compare(&prog[CPU], &eager[CPU], 0, "cpu replay vs cpu op by op");
        prog_compare(&prog[VK], &prog[CPU], TRANSC, "vk replay vs cpu replay");
    }
    for (int s = 0; s < 2; s++) {
        vf_program_destroy(pg[s]);
        vf_arena_destroy(a[s]);
    }
    tu_check_validation();
}

/* ------------------------------------------------------- segment tables */

/* The same segment table on both sides. */
static void mkseg(pair *p, vf_segments seg[2], int n, const int64_t *widths) {
    for (int s = 0; s < 2; s++) TU_OK(vf_segments_create(p->a[s], n, widths, &seg[s]));
}

/* Segment tables used by the segment ops: 1-wide segments, a segment wider
 * than a workgroup (300, 1031), primes, and a single segment. */
typedef struct seg_case { int64_t R; int n; int64_t w[6]; } seg_case;
static const seg_case seg_cases[] = {
    {1, 1, {1}}, {7, 3, {3, 1, 9}}, {5, 3, {300, 2, 31}}, {3, 1, {1031}}, {97, 5, {2, 2, 13, 1, 5}},
};
#define NSEG (sizeof seg_cases / sizeof seg_cases[0])
static int64_t seg_cols(const seg_case *c) {
    int64_t C = 0;
    for (int i = 0; i < c->n; i++) C += c->w[i];
    return C;
}

Test(ops_vk, softmax_seg_and_log_softmax_seg) {
    pair p;
    pair_init(&p, 21);
    for (int lg = 0; lg < 2; lg++)
        for (size_t i = 0; i < NSEG; i++) {
            const seg_case *c = &seg_cases[i];
            int64_t R = c->R, C = seg_cols(c);
            vf_segments sg[2];
            mkseg(&p, sg, c->n, c->w);
            vf_tensor x[2], y[2], dy[2], dx[2];
            mkr(&p, x, R, C, -20, 20);
            mk2(&p, y, R, C, NULL);
            BOTH((lg ? vf_log_softmax_seg_forward : vf_softmax_seg_forward)(&x[s], &sg[s], &y[s]));
            char what[96];
            snprintf(what, sizeof what, "%s [%lld, %lld] %d segments", lg ? "log_softmax_seg" : "softmax_seg",
                     (long long)R, (long long)C, c->n);
            check(y, TRANSC, what);
            float *yc = keep(&p, tu_read(&y[CPU]));
            TU_OK(vf_tensor_write(&y[VK], yc, vf_tensor_bytes(&y[VK])));
            mkr(&p, dy, R, C, -1, 1);
            mk2(&p, dx, R, C, NULL);
            BOTH((lg ? vf_log_softmax_seg_backward : vf_softmax_seg_backward)(&y[s], &sg[s], &dy[s], &dx[s]));
            strcat(what, " backward");
            check(dx, TRANSC, what);
            pair_reset(&p);
        }
    pair_free(&p);
}

/* One segment covering the row (a table, or NULL) is the row-wise op: the
 * same bits as vf_softmax_forward / vf_log_softmax_forward on each backend. */
Test(ops_vk, softmax_seg_one_segment_is_softmax) {
    pair p;
    pair_init(&p, 22);
    const int64_t sh[][2] = {{1, 1}, {7, 13}, {5, 1031}};
    for (int lg = 0; lg < 2; lg++)
        for (int i = 0; i < 3; i++) {
            int64_t R = sh[i][0], C = sh[i][1];
            vf_segments sg[2];
            mkseg(&p, sg, 1, &C);
            vf_tensor x[2], y0[2], y1[2], y2[2], dy[2], d0[2], d1[2];
            mkr(&p, x, R, C, -20, 20);
            mkr(&p, dy, R, C, -1, 1);
            mk2(&p, y0, R, C, NULL);
            mk2(&p, y1, R, C, NULL);
            mk2(&p, y2, R, C, NULL);
            mk2(&p, d0, R, C, NULL);
            mk2(&p, d1, R, C, NULL);
            for (int s = 0; s < 2; s++) {
                TU_OK((lg ? vf_log_softmax_forward : vf_softmax_forward)(&x[s], &y0[s]));
                TU_OK((lg ? vf_log_softmax_seg_forward : vf_softmax_seg_forward)(&x[s], &sg[s], &y1[s]));
                TU_OK((lg ? vf_log_softmax_seg_forward : vf_softmax_seg_forward)(&x[s], NULL, &y2[s]));
                TU_OK((lg ? vf_log_softmax_backward : vf_softmax_backward)(&y0[s], &dy[s], &d0[s]));
                TU_OK((lg ? vf_log_softmax_seg_backward : vf_softmax_seg_backward)(&y0[s], &sg[s], &dy[s],
                                                                                   &d1[s]));
                float *a = keep(&p, tu_read(&y0[s])), *b = keep(&p, tu_read(&y1[s]));
                float *c = keep(&p, tu_read(&y2[s]));
                float *da = keep(&p, tu_read(&d0[s])), *db = keep(&p, tu_read(&d1[s]));
                size_t bytes = (size_t)(R * C) * 4;
                cr_expect(memcmp(a, b, bytes) == 0 && memcmp(a, c, bytes) == 0,
                          "%s: %s [%lld, %lld] with one segment differs from the row-wise op", s ? "vk" : "cpu",
                          lg ? "log_softmax_seg" : "softmax_seg", (long long)R, (long long)C);
                cr_expect(memcmp(da, db, bytes) == 0, "%s: backward with one segment differs",
                          s ? "vk" : "cpu");
            }
            pair_reset(&p);
        }
    pair_free(&p);
}

/* ----------------------------------------------------------------- gather */

/* An int32 [r, c] on both sides. */
static void mki2(pair *p, vf_tensor t[2], int64_t r, int64_t c, const int32_t *data) {
    int64_t sh[2] = {r, c};
    for (int s = 0; s < 2; s++) {
        TU_OK(vf_tensor_alloc(p->a[s], VF_I32, 2, sh, &t[s]));
        TU_OK(vf_tensor_write(&t[s], data, (size_t)(r * c) * 4));
    }
}

Test(ops_vk, gather) {
    pair p;
    pair_init(&p, 23);
    /* R C K: K > C (repeats), rows longer than a workgroup, more rows than a
     * workgroup (the backward's thread-per-row pass) */
    const int64_t rck[][3] = {{1, 1, 1}, {7, 13, 31}, {97, 5, 300}, {3, 1031, 7}, {1031, 3, 2}};
    for (int i = 0; i < 5; i++) {
        int64_t R = rck[i][0], C = rck[i][1], K = rck[i][2];
        int32_t *idx = keep(&p, malloc((size_t)(R * K) * 4));
        for (int64_t e = 0; e < R * K; e++) /* -1 and C are out of range */
            idx[e] = (int32_t)(tu_uniform(&p.rng, 0, 1) * (float)(C + 2)) - 1;
        if (R * K > 2) idx[0] = -1, idx[1] = (int32_t)C;
        vf_tensor x[2], ix[2], y[2], dy[2], dx[2];
        mkr(&p, x, R, C, -1, 1);
        mki2(&p, ix, R, K, idx);
        mk2(&p, y, R, K, NULL);
        BOTH(vf_gather_forward(&x[s], &ix[s], &y[s]));
        check(y, EXACT, "gather");
        mkr(&p, dy, R, K, -1, 1);
        mk2(&p, dx, R, C, NULL);
        BOTH(vf_gather_backward(&ix[s], &dy[s], &dx[s]));
        check(dx, EXACT, "gather_backward"); /* same summation order as the cpu */
        pair_reset(&p);
    }
    pair_free(&p);
}

/* ----------------------------------------------- argmax, categorical sampling */

/* Host argmax within [off, off + w) of z: strict > from -inf (ties: lowest
 * index, NaN never wins). */
static int32_t host_argmax(const float *z, int64_t w) {
    float best = -INFINITY;
    int32_t bi = 0;
    for (int64_t c = 0; c < w; c++)
        if (z[c] > best) best = z[c], bi = (int32_t)c;
    return bi;
}

static int32_t *read_i32(pair *p, const vf_tensor *t) {
    int32_t *x = keep(p, malloc(vf_tensor_bytes(t)));
    TU_OK(vf_tensor_read(t, x, vf_tensor_bytes(t)));
    return x;
}

Test(ops_vk, argmax_seg) {
    pair p;
    pair_init(&p, 24);
    for (size_t i = 0; i < NSEG; i++)
        for (int null_seg = 0; null_seg < 2; null_seg++) {
            const seg_case *c = &seg_cases[i];
            int64_t R = c->R, C = seg_cols(c), S = null_seg ? 1 : c->n;
            /* values on a coarse grid (many ties), some NaN and -inf, and the
             * last row all -inf */
            float *xd = rnd(&p, (size_t)(R * C), -2, 2);
            for (int64_t e = 0; e < R * C; e++) {
                xd[e] = roundf(xd[e] * 2) / 2;
                if (e % 17 == 3) xd[e] = NAN;
                if (e % 23 == 5 || e >= (R - 1) * C) xd[e] = -INFINITY;
            }
            vf_segments sg[2];
            mkseg(&p, sg, c->n, c->w);
            vf_tensor x[2], ix[2], oh[2];
            mk2(&p, x, R, C, xd);
            for (int s = 0; s < 2; s++) {
                int64_t sh[2] = {R, S};
                TU_OK(vf_tensor_alloc(p.a[s], VF_I32, 2, sh, &ix[s]));
            }
            mk2(&p, oh, R, C, NULL);
            BOTH(vf_argmax(&x[s], null_seg ? NULL : &sg[s], &ix[s], &oh[s]));
            int32_t *want = keep(&p, malloc((size_t)(R * S) * 4));
            for (int64_t r = 0; r < R; r++) {
                int64_t off = 0;
                for (int64_t k = 0; k < S; k++) {
                    int64_t w = null_seg ? C : c->w[k];
                    want[r * S + k] = host_argmax(xd + r * C + off, w);
                    off += w;
                }
            }
            for (int s = 0; s < 2; s++) {
                int32_t *got = read_i32(&p, &ix[s]);
                for (int64_t e = 0; e < R * S; e++)
                    cr_expect_eq(got[e], want[e], "%s argmax [%lld, %lld] %lld segments: idx[%lld] = %d, want %d",
                                 s ? "vk" : "cpu", (long long)R, (long long)C, (long long)S, (long long)e,
                                 got[e], want[e]);
            }
            check(oh, 0, "argmax onehot");
            pair_reset(&p);
        }
    pair_free(&p);
}

/* Categorical samples: cpu is exactly the argmax of logits - log(-log u) with
 * u from vf_rng_uniform; vk agrees on >= 99.9% of the samples (the device's
 * log may break near-ties the other way); and the same call twice gives the
 * same samples, another counter others. */
Test(ops_vk, sample_categorical_cpu_vs_vk) {
    pair p;
    pair_init(&p, 25);
    const int64_t widths[5] = {1, 3, 7, 40, 300}, R = 1500, C = 351, S = 5;
    const uint64_t seed = 0xfeedbeefcafe1234ull;
    const uint32_t stream = 9, base[2] = {0xfffffff0u, 3}; /* the block carries into hi */
    vf_segments sg[2];
    mkseg(&p, sg, 5, widths);
    vf_tensor x[2], ctr[2], ix[2], oh[2], u[2], ix2[2];
    mkr(&p, x, R, C, -3, 3);
    mki(&p, ctr, 2, (const int32_t *)base);
    mk2(&p, oh, R, C, NULL);
    mk2(&p, u, R, C, NULL);
    for (int s = 0; s < 2; s++) {
        int64_t sh[2] = {R, S};
        TU_OK(vf_tensor_alloc(p.a[s], VF_I32, 2, sh, &ix[s]));
        TU_OK(vf_tensor_alloc(p.a[s], VF_I32, 2, sh, &ix2[s]));
    }
    BOTH(vf_sample_categorical(&x[s], &sg[s], seed, stream, &ctr[s], &ix[s], &oh[s]));
    BOTH(vf_rng_uniform(seed, stream, &ctr[CPU], &u[CPU])); /* the uniforms it used */
    float *xd = keep(&p, tu_read(&x[CPU])), *ud = keep(&p, tu_read(&u[CPU]));
    int32_t *ic = read_i32(&p, &ix[CPU]), *iv = read_i32(&p, &ix[VK]);
    float *ohc = keep(&p, tu_read(&oh[CPU])), *ohv = keep(&p, tu_read(&oh[VK]));
    float *z = keep(&p, malloc((size_t)C * 4));
    int64_t same = 0;
    for (int64_t r = 0; r < R; r++) {
        for (int64_t c = 0; c < C; c++) z[c] = xd[r * C + c] - logf(-logf(ud[r * C + c]));
        int64_t off = 0;
        for (int64_t k = 0; k < S; k++) {
            int32_t want = host_argmax(z + off, widths[k]);
            cr_expect_eq(ic[r * S + k], want, "cpu sample [%lld, %lld] = %d, Gumbel-max says %d", (long long)r,
                         (long long)k, ic[r * S + k], want);
            same += iv[r * S + k] == ic[r * S + k];
            for (int64_t j = 0; j < widths[k]; j++) {
                int64_t e = r * C + off + j;
                cr_expect(ohc[e] == (j == ic[r * S + k]) && ohv[e] == (j == iv[r * S + k]),
                          "onehot [%lld, %lld] does not match idx", (long long)r, (long long)(off + j));
            }
            off += widths[k];
        }
    }
    double frac = (double)same / (double)(R * S);
    cr_log_info("sample_categorical: vk == cpu for %.5f of %lld samples", frac, (long long)(R * S));
    cr_expect(frac >= 0.999, "vk and cpu samples agree on only %.5f", frac);
    /* determinism, and a new counter gives new samples */
    for (int s = 0; s < 2; s++) {
        TU_OK(vf_sample_categorical(&x[s], &sg[s], seed, stream, &ctr[s], &ix2[s], NULL));
        int32_t *a = read_i32(&p, &ix[s]), *b = read_i32(&p, &ix2[s]);
        cr_expect(memcmp(a, b, (size_t)(R * S) * 4) == 0, "%s: the same draw twice differs", s ? "vk" : "cpu");
        int32_t next[2] = {(int32_t)(base[0] + (R * C + 3) / 4), 4};
        TU_OK(vf_tensor_write(&ctr[s], next, sizeof next));
        TU_OK(vf_sample_categorical(&x[s], &sg[s], seed, stream, &ctr[s], &ix2[s], NULL));
        b = read_i32(&p, &ix2[s]);
        int64_t differ = 0;
        for (int64_t e = 0; e < R * S; e++) differ += a[e] != b[e];
        cr_expect(differ > R, "%s: a new counter changed only %lld samples", s ? "vk" : "cpu", (long long)differ);
    }
    pair_free(&p);
}

/* The sampled frequencies follow softmax(logits) within each segment:
 * Pearson's chi-square over N identical rows against the 0.1% critical
 * value, on each backend (fixed seeds: the outcome is deterministic). A -inf
 * logit is never drawn. */
Test(ops_vk, sample_categorical_distribution) {
    pair p;
    pair_init(&p, 26);
    const int64_t N = 20000, C = 9, S = 3, widths[3] = {5, 2, 2};
    const float logit[9] = {0.5f, -1.0f, 2.0f, 0.0f, 1.0f, 0.0f, -0.7f, 3.0f, -INFINITY};
    const double crit[3] = {18.47, 10.83, 0}; /* chi-square 0.999 quantiles, df 4 and 1 */
    float *xd = keep(&p, malloc((size_t)(N * C) * 4));
    for (int64_t r = 0; r < N; r++) memcpy(xd + r * C, logit, sizeof logit);
    vf_segments sg[2];
    mkseg(&p, sg, 3, widths);
    vf_tensor x[2], ctr[2], ix[2];
    mk2(&p, x, N, C, xd);
    mki(&p, ctr, 2, (const int32_t[]){12345, 0});
    for (int s = 0; s < 2; s++) {
        int64_t sh[2] = {N, S};
        TU_OK(vf_tensor_alloc(p.a[s], VF_I32, 2, sh, &ix[s]));
    }
    BOTH(vf_sample_categorical(&x[s], &sg[s], 77, 1, &ctr[s], &ix[s], NULL));
    for (int s = 0; s < 2; s++) {
        int32_t *id = read_i32(&p, &ix[s]);
        int64_t off = 0;
        for (int k = 0; k < 3; k++) {
            int64_t w = widths[k], cnt[5] = {0};
            for (int64_t r = 0; r < N; r++) {
                int32_t v = id[r * S + k];
                cr_assert(v >= 0 && v < w, "sample %d outside segment %d", v, k);
                cnt[v]++;
            }
            if (k == 2) { /* the -inf column is never drawn */
                cr_expect_eq(cnt[1], 0, "%s: a -inf logit was drawn %lld times", s ? "vk" : "cpu",
                             (long long)cnt[1]);
                off += w;
                continue;
            }
            double mx = -INFINITY, z = 0, chi2 = 0;
            for (int64_t j = 0; j < w; j++) mx = fmax(mx, logit[off + j]);
            for (int64_t j = 0; j < w; j++) z += exp(logit[off + j] - mx);
            for (int64_t j = 0; j < w; j++) {
                double e = (double)N * exp(logit[off + j] - mx) / z;
                chi2 += (cnt[j] - e) * (cnt[j] - e) / e;
            }
            cr_log_info("%s segment %d: chi-square %.2f (df %lld, 0.1%% critical %.2f)", s ? "vk" : "cpu", k,
                        chi2, (long long)(w - 1), crit[k]);
            cr_expect(chi2 < crit[k], "%s segment %d: chi-square %.2f >= %.2f: not softmax-distributed",
                      s ? "vk" : "cpu", k, chi2, crit[k]);
            off += w;
        }
    }
    pair_free(&p);
}

/* 23339 rows x 3 segments = 70017 workgroups, more than lavapipe's
 * maxComputeWorkGroupCount[0]: the grid is folded into y. */
Test(ops_vk, segment_ops_on_a_folded_grid) {
    pair p;
    pair_init(&p, 27);
    const int64_t R = 23339, C = 4, widths[3] = {1, 2, 1};
    vf_segments sg[2];
    mkseg(&p, sg, 3, widths);
    vf_tensor x[2], y[2], ix[2], ctr[2];
    mkr(&p, x, R, C, -3, 3);
    mk2(&p, y, R, C, NULL);
    mki(&p, ctr, 2, (const int32_t[]){5, 0});
    BOTH(vf_log_softmax_seg_forward(&x[s], &sg[s], &y[s]));
    check(y, TRANSC, "log_softmax_seg [23339, 4] 3 segments");
    for (int g = 0; g < 2; g++) {
        for (int s = 0; s < 2; s++) {
            int64_t sh[2] = {R, 3};
            TU_OK(vf_tensor_alloc(p.a[s], VF_I32, 2, sh, &ix[s]));
            if (g) TU_OK(vf_sample_categorical(&x[s], &sg[s], 3, 0, &ctr[s], &ix[s], &y[s]));
            else TU_OK(vf_argmax(&x[s], &sg[s], &ix[s], &y[s]));
        }
        int32_t *a = read_i32(&p, &ix[CPU]), *b = read_i32(&p, &ix[VK]);
        int64_t same = 0;
        for (int64_t e = 0; e < R * 3; e++) same += a[e] == b[e];
        cr_expect(g ? same >= R * 3 * 999 / 1000 : same == R * 3, "%s [23339, 4]: %lld of %lld equal",
                  g ? "sample_categorical" : "argmax", (long long)same, (long long)(R * 3));
    }
    pair_free(&p);
}

/* ----------------------------------------------------- per-example norms */

/* The per-example gradients written out on the host, in double:
 * G_b = sum_t x_bt^T dy_bt [I, O] and g_b = sum_t dy_bt [O]; returns
 * ||G_b||^2 in w[b] and ||g_b||^2 in wb[b]. */
static void host_per_example(const float *x, const float *dy, int64_t B, int64_t T, int64_t I, int64_t O,
                             float *w, float *wb) {
    double *G = malloc((size_t)(I * O) * sizeof *G), *g = malloc((size_t)O * sizeof *g);
    cr_assert(G && g);
    for (int64_t b = 0; b < B; b++) {
        memset(G, 0, (size_t)(I * O) * sizeof *G);
        memset(g, 0, (size_t)O * sizeof *g);
        for (int64_t t = 0; t < T; t++)
            for (int64_t o = 0; o < O; o++) {
                double d = dy[b * T * O + t * O + o];
                g[o] += d;
                for (int64_t i = 0; i < I; i++) G[i * O + o] += (double)x[b * T * I + t * I + i] * d;
            }
        double s = 0, sb = 0;
        for (int64_t e = 0; e < I * O; e++) s += G[e] * G[e];
        for (int64_t o = 0; o < O; o++) sb += g[o] * g[o];
        w[b] = (float)s;
        wb[b] = (float)sb;
    }
    free(G);
    free(g);
}

Test(ops_vk, per_example_sqnorm_vs_explicit_gradients) {
    pair p;
    pair_init(&p, 28);
    /* B T I O: dense layers (T = 1), one example, primes, an LSTM-like
     * [B, T*F] x [F, 4H] weight, more pairs than a workgroup (T = 13), long
     * rows (I = 1031), more examples than a workgroup */
    const int64_t cases[][4] = {{1, 1, 1, 1},  {7, 1, 13, 31}, {1, 5, 3, 7},   {5, 3, 2, 28},
                                {3, 13, 5, 17}, {2, 1, 1031, 3}, {97, 2, 3, 5}, {4, 7, 1, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int64_t B = cases[k][0], T = cases[k][1], I = cases[k][2], O = cases[k][3];
        vf_tensor x[2], dy[2], w[2], wb[2];
        mkr(&p, x, B, T * I, -1, 1);
        mkr(&p, dy, B, T * O, -1, 1);
        mk1(&p, w, B, NULL);
        mk1(&p, wb, B, NULL);
        BOTH(vf_per_example_sqnorm(&x[s], &dy[s], T, &w[s]));
        BOTH(vf_per_example_sqnorm_bias(&dy[s], T, &wb[s]));
        float *xd = keep(&p, tu_read(&x[CPU])), *dd = keep(&p, tu_read(&dy[CPU]));
        float *ew = keep(&p, malloc((size_t)B * 4)), *ewb = keep(&p, malloc((size_t)B * 4));
        host_per_example(xd, dd, B, T, I, O, ew, ewb);
        char what[96];
        snprintf(what, sizeof what, "per_example_sqnorm B %lld T %lld I %lld O %lld", (long long)B, (long long)T,
                 (long long)I, (long long)O);
        for (int s = 0; s < 2; s++) {
            float *gw = keep(&p, tu_read(&w[s])), *gb = keep(&p, tu_read(&wb[s]));
            /* the Gram form sums T^2 products of fp32 dot products (vk) in
             * another order than the explicit gradient: a few 1e-6 */
            double e = tu_max_rel(gw, ew, (size_t)B, 1e-6, 1e-4), eb = tu_max_rel(gb, ewb, (size_t)B, 1e-6, 1e-4);
            cr_expect(e <= 1 && eb <= 1, "%s on %s: weight %.3g, bias %.3g of tolerance", what, s ? "vk" : "cpu", e, eb);
        }
        check(w, TRANSC, what);
        check(wb, TRANSC, what);
        pair_reset(&p);
    }
    pair_free(&p);
}

/* ------------------------------------------------------- batched matmul */

/* vf_matmul / vf_matmul_backward with 3-D operands [G, ., .] are the batched
 * GEMM (VF_OP_MATMUL's batch): G = 1 and G = 7, every transpose, partial
 * tiles, forward and backward, vk against cpu. */
Test(ops_vk, matmul_batched_g1_g7) {
    pair p;
    pair_init(&p, 29);
    const mm_case cases[] = {
        {5, 7, 3, 1, 1, 1, 1, 0}, {13, 31, 17, 7, 1, 1, 1, 0}, {33, 65, 9, 7, 1, 1, 0.5f, 0.25f},
        {1, 1, 1, 7, 1, 1, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int t = 0; t < 4; t++) {
            mm_run(&p, &cases[i], t & 1, t >> 1);
            pair_reset(&p);
        }
    const int64_t dims[][4] = {{7, 13, 31, 1}, {5, 3, 11, 7}}; /* M N K G */
    for (int i = 0; i < 2; i++)
        for (int t = 0; t < 4; t++) {
            bool ta = t & 1, tb = t >> 1;
            int64_t M = dims[i][0], N = dims[i][1], K = dims[i][2], G = dims[i][3];
            int64_t sa[3] = {G, ta ? K : M, ta ? M : K}, sb[3] = {G, tb ? N : K, tb ? K : N}, sc[3] = {G, M, N};
            vf_tensor A[2], B[2], dC[2], dA[2], dB[2];
            mk(&p, A, 3, sa, rnd(&p, (size_t)(G * M * K), -1, 1));
            mk(&p, B, 3, sb, rnd(&p, (size_t)(G * K * N), -1, 1));
            mk(&p, dC, 3, sc, rnd(&p, (size_t)(G * M * N), -1, 1));
            mk(&p, dA, 3, sa, NULL);
            mk(&p, dB, 3, sb, NULL);
            BOTH(vf_matmul_backward(&A[s], ta, &B[s], tb, &dC[s], &dA[s], &dB[s], false));
            char what[96];
            snprintf(what, sizeof what, "matmul_backward G %lld M%lld N%lld K%lld ta %d tb %d", (long long)G,
                     (long long)M, (long long)N, (long long)K, ta, tb);
            check(dA, MATMUL, what);
            check(dB, MATMUL, what);
            pair_reset(&p);
        }
    pair_free(&p);
}

/* A captured sampling op reads the counter at replay: each run with a new
 * counter gives what an op-by-op call with that counter gives. */
Test(ops_vk, sample_categorical_replay_reads_counter) {
    pair p;
    pair_init(&p, 30);
    const int64_t R = 37, C = 11, widths[2] = {4, 7};
    vf_backend *be[2] = {tu_cpu(), tu_vk()};
    vf_segments sg[2];
    mkseg(&p, sg, 2, widths);
    vf_tensor x[2], ctr[2], a[2], b[2];
    mkr(&p, x, R, C, -2, 2);
    mki(&p, ctr, 2, (const int32_t[]){0, 0});
    for (int s = 0; s < 2; s++) {
        int64_t sh[2] = {R, 2};
        TU_OK(vf_tensor_alloc(p.a[s], VF_I32, 2, sh, &a[s]));
        TU_OK(vf_tensor_alloc(p.a[s], VF_I32, 2, sh, &b[s]));
        vf_program *prog = NULL;
        TU_OK(vf_capture_begin(be[s]));
        TU_OK(vf_sample_categorical(&x[s], &sg[s], 5, 2, &ctr[s], &a[s], NULL));
        TU_OK(vf_capture_end(be[s], &prog));
        for (int k = 1; k <= 3; k++) {
            int32_t c[2] = {k * 1000, 0};
            TU_OK(vf_tensor_write(&ctr[s], c, sizeof c));
            TU_OK(vf_program_run(prog));
            TU_OK(vf_sample_categorical(&x[s], &sg[s], 5, 2, &ctr[s], &b[s], NULL));
            int32_t *ga = read_i32(&p, &a[s]), *gb = read_i32(&p, &b[s]);
            cr_expect(memcmp(ga, gb, (size_t)(R * 2) * 4) == 0, "%s: replay %d differs from the op",
                      s ? "vk" : "cpu", k);
        }
        vf_program_destroy(prog);
    }
    pair_free(&p);
}
