/* vkflow bench: performance measurements printed as tables.
 *
 *   vkflow bench ops [--backend cpu|vk|all] [--quick] [--full] [--filter TEXT] [--reps N]
 *
 * Each op case is timed on each backend: the op is repeated `reps` times in
 * one captured program (so the vk time is dominated by the device, not by
 * submission), the program is run `runs` times, and the median per-op time is
 * reported with its GFLOP/s (GEMM) or GB/s (memory-bound ops) and its speed
 * relative to the cpu backend. GEMM also gets a row for a direct cblas_sgemm
 * call, the peer the cpu backend must keep up with. */
#include "commands.h"
#include "util.h"
#include "vkflow.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef enum {
    C_MATMUL, C_MATMUL_TN, C_MATMUL_NT, C_MATMUL_BATCHED, C_BIAS_ADD, C_ADD, C_RELU, C_TANH,
    C_SOFTMAX, C_SUM_ROWS, C_SUM_COLS, C_LSTM, C_LSTM_BWD, C_BATCHNORM, C_LAYERNORM,
    C_EMBEDDING, C_ADAM, C_RNG_NORMAL
} case_kind;

typedef struct bench_case {
    case_kind kind;
    const char *name;
    int64_t a, b, c;    /* shape parameters, meaning per kind */
    int big;            /* 1: skipped by --quick; 2: only with --full or on a GPU */
} bench_case;

static const bench_case cases[] = {
    {C_MATMUL, "matmul", 128, 128, 128, 0},
    {C_MATMUL, "matmul", 512, 512, 512, 1},
    {C_MATMUL, "matmul", 1024, 1024, 1024, 2},
    {C_MATMUL, "matmul", 4096, 4096, 4096, 3},
    {C_MATMUL_TN, "matmul_tn", 512, 512, 512, 1},
    {C_MATMUL_NT, "matmul_nt", 512, 512, 512, 1},
    {C_MATMUL, "matmul", 100, 512, 512, 0},          /* DoppelGANger layer, batch 100 */
    {C_MATMUL_BATCHED, "matmul_batched", 16, 64, 64, 0},
    {C_BIAS_ADD, "bias_add", 1000, 512, 0, 0},
    {C_ADD, "add", 1 << 20, 0, 0, 0},
    {C_RELU, "relu", 1 << 20, 0, 0, 0},
    {C_TANH, "tanh", 1 << 20, 0, 0, 0},
    {C_SOFTMAX, "softmax", 1000, 512, 0, 0},
    {C_SUM_ROWS, "sum_rows", 1000, 512, 0, 0},
    {C_SUM_COLS, "sum_cols", 1000, 512, 0, 0},
    {C_LSTM, "lstm_cell", 100, 100, 0, 0},
    {C_LSTM_BWD, "lstm_cell_backward", 100, 100, 0, 0},
    {C_BATCHNORM, "batchnorm_train", 100, 512, 0, 0},
    {C_LAYERNORM, "layernorm", 1000, 512, 0, 0},
    {C_EMBEDDING, "embedding", 10000, 65536, 16, 0},
    {C_ADAM, "adam", 1 << 20, 0, 0, 0},
    {C_RNG_NORMAL, "rng_normal", 1 << 20, 0, 0, 0},
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

/* Tensors of one case on one backend. */
typedef struct bench_data {
    vf_arena *arena;
    vf_tensor t[8];
    double flops, bytes;   /* per op */
    char shape[64];
} bench_data;

static vf_status alloc2(bench_data *d, int i, int64_t r, int64_t c, float lo, float hi, unsigned seed) {
    vf_status s = vf_tensor_alloc2(d->arena, r, c, &d->t[i]);
    if (s) return s;
    size_t n = (size_t)(r * c);
    float *x = malloc(n * sizeof *x);
    if (!x) return vf_fail(VF_ERR_OOM, "bench: out of host memory");
    uint64_t st = 0x9E3779B97F4A7C15ull * (seed + 1);
    for (size_t k = 0; k < n; k++) {
        st ^= st << 13; st ^= st >> 7; st ^= st << 17;
        x[k] = lo + (hi - lo) * (float)((st >> 40) * (1.0 / 16777216.0));
    }
    s = vf_tensor_write(&d->t[i], x, n * sizeof *x);
    free(x);
    return s;
}


static vf_status setup(const bench_case *c, vf_backend *be, bench_data *d) {
    memset(d, 0, sizeof *d);
    int64_t a = c->a, b = c->b, k = c->c;
    size_t bytes = 0;
    switch (c->kind) {
    case C_MATMUL: case C_MATMUL_TN: case C_MATMUL_NT: bytes = (size_t)(a * k + k * b + a * b) * 4; break;
    case C_MATMUL_BATCHED: bytes = (size_t)(3 * a * b * k) * 4; break;
    case C_EMBEDDING: bytes = (size_t)(a + b * k + a * k) * 4; break;
    case C_ADAM: bytes = (size_t)(4 * a + 2) * 4; break;
    case C_LSTM: case C_LSTM_BWD: bytes = (size_t)(a * b * 16) * 4; break;
    default: bytes = (size_t)(a * (b ? b : 1) * 3 + 4 * (b ? b : 1) + 4 * a) * 4; break;
    }
    VF_TRY(vf_arena_create(be, bytes + 64 * 1024, &d->arena));
    switch (c->kind) {
    case C_MATMUL: case C_MATMUL_TN: case C_MATMUL_NT: {
        /* C [a, b] = op(A) [a, k] op(B) [k, b] */
        bool ta = c->kind == C_MATMUL_TN, tb = c->kind == C_MATMUL_NT;
        VF_TRY(alloc2(d, 0, ta ? k : a, ta ? a : k, -1, 1, 1));
        VF_TRY(alloc2(d, 1, tb ? b : k, tb ? k : b, -1, 1, 2));
        VF_TRY(alloc2(d, 2, a, b, 0, 1, 3));
        d->flops = 2.0 * (double)a * (double)b * (double)k;
        snprintf(d->shape, sizeof d->shape, "%lldx%lldx%lld", (long long)a, (long long)b, (long long)k);
        break;
    }
    case C_MATMUL_BATCHED: {
        int64_t s3[3] = {a, b, k};
        for (int i = 0; i < 3; i++) {
            VF_TRY(vf_tensor_alloc(d->arena, VF_F32, 3, s3, &d->t[i]));
            VF_TRY(vf_fill(&d->t[i], 0.5f));
        }
        d->flops = 2.0 * (double)a * (double)b * (double)b * (double)k;
        snprintf(d->shape, sizeof d->shape, "%lldx[%lldx%lld]", (long long)a, (long long)b, (long long)k);
        break;
    }
    case C_BIAS_ADD: case C_SOFTMAX: case C_SUM_ROWS: case C_SUM_COLS: case C_LAYERNORM:
    case C_BATCHNORM:
        VF_TRY(alloc2(d, 0, a, b, -2, 2, 1));
        VF_TRY(alloc2(d, 1, a, b, 0, 1, 2));
        VF_TRY(alloc2(d, 2, 1, b, 0.5f, 1.5f, 3));  /* bias / gamma */
        VF_TRY(alloc2(d, 3, 1, b, -0.5f, 0.5f, 4)); /* beta */
        VF_TRY(alloc2(d, 4, 1, a > b ? a : b, 0, 1, 5)); /* per-row / per-col outputs */
        VF_TRY(alloc2(d, 5, 1, a > b ? a : b, 0, 1, 6));
        d->bytes = 2.0 * (double)(a * b) * 4;
        snprintf(d->shape, sizeof d->shape, "%lldx%lld", (long long)a, (long long)b);
        break;
    case C_ADD: case C_RELU: case C_TANH: case C_RNG_NORMAL:
        VF_TRY(alloc2(d, 0, 1, a, -2, 2, 1));
        VF_TRY(alloc2(d, 1, 1, a, -2, 2, 2));
        VF_TRY(alloc2(d, 2, 1, a, 0, 1, 3));
        VF_TRY(vf_tensor_alloc(d->arena, VF_I32, 1, (int64_t[]){2}, &d->t[3]));
        VF_TRY(vf_fill(&d->t[3], 0));
        d->bytes = (c->kind == C_ADD ? 3.0 : c->kind == C_RNG_NORMAL ? 1.0 : 2.0) * (double)a * 4;
        snprintf(d->shape, sizeof d->shape, "%lld", (long long)a);
        break;
    case C_LSTM: case C_LSTM_BWD:
        VF_TRY(alloc2(d, 0, a, 4 * b, -2, 2, 1)); /* gates */
        for (int i = 1; i <= 6; i++) VF_TRY(alloc2(d, i, a, b, -1, 1, (unsigned)i + 1));
        VF_TRY(alloc2(d, 7, a, 4 * b, 0, 1, 9));  /* dgates */
        d->bytes = (c->kind == C_LSTM ? 8.0 : 16.0) * (double)(a * b) * 4;
        snprintf(d->shape, sizeof d->shape, "B%lld H%lld", (long long)a, (long long)b);
        break;
    case C_EMBEDDING: {
        VF_TRY(vf_tensor_alloc(d->arena, VF_I32, 1, &a, &d->t[0]));
        int32_t *idx = malloc((size_t)a * sizeof *idx);
        if (!idx) return vf_fail(VF_ERR_OOM, "bench: out of host memory");
        for (int64_t i = 0; i < a; i++) idx[i] = (int32_t)((i * 2654435761u) % (uint64_t)b);
        vf_status s = vf_tensor_write(&d->t[0], idx, (size_t)a * sizeof *idx);
        free(idx);
        VF_TRY(s);
        VF_TRY(alloc2(d, 1, b, k, -1, 1, 2));
        VF_TRY(alloc2(d, 2, a, k, 0, 1, 3));
        d->bytes = 2.0 * (double)(a * k) * 4;
        snprintf(d->shape, sizeof d->shape, "%lld of %lldx%lld", (long long)a, (long long)b, (long long)k);
        break;
    }
    case C_ADAM:
        for (int i = 0; i < 4; i++) VF_TRY(alloc2(d, i, 1, a, 0, 1, (unsigned)i + 1));
        VF_TRY(vf_tensor_alloc1(d->arena, 2, &d->t[4]));
        VF_TRY(vf_tensor_write(&d->t[4], (float[]){1e-3f, 1.0f}, 8));
        d->bytes = 7.0 * (double)a * 4;
        snprintf(d->shape, sizeof d->shape, "%lld", (long long)a);
        break;
    }
    return VF_OK;
}

static vf_status run_case(const bench_case *c, bench_data *d) {
    vf_tensor *t = d->t;
    vf_tensor row_c, row_r;
    switch (c->kind) {
    case C_MATMUL: return vf_matmul(&t[0], false, &t[1], false, &t[2], 1, 0);
    case C_MATMUL_TN: return vf_matmul(&t[0], true, &t[1], false, &t[2], 1, 0);
    case C_MATMUL_NT: return vf_matmul(&t[0], false, &t[1], true, &t[2], 1, 0);
    case C_MATMUL_BATCHED: return vf_matmul(&t[0], false, &t[1], false, &t[2], 1, 0);
    case C_BIAS_ADD: return vf_bias_add_forward(&t[0], &t[2], &t[1]);
    case C_ADD: return vf_binary_forward(VF_ADD, &t[0], &t[1], &t[2]);
    case C_RELU: return vf_unary_forward(VF_RELU, 0, &t[0], &t[2]);
    case C_TANH: return vf_unary_forward(VF_TANH, 0, &t[0], &t[2]);
    case C_SOFTMAX: return vf_softmax_forward(&t[0], &t[1]);
    case C_SUM_ROWS:
        row_r = t[4]; /* view the first a elements */
        row_r.ndim = 1; row_r.shape[0] = c->a; row_r.numel = c->a;
        return vf_sum_forward(VF_REDUCE_ROWS, false, &t[0], &row_r);
    case C_SUM_COLS:
        row_c = t[4];
        row_c.ndim = 1; row_c.shape[0] = c->b; row_c.numel = c->b;
        return vf_sum_forward(VF_REDUCE_COLS, false, &t[0], &row_c);
    case C_LAYERNORM:
        row_r = t[4]; row_r.ndim = 1; row_r.shape[0] = c->a; row_r.numel = c->a;
        row_c = t[5]; row_c.ndim = 1; row_c.shape[0] = c->a; row_c.numel = c->a;
        return vf_layernorm_forward(&t[0], &t[2], &t[3], 1e-5f, &t[1], &row_r, &row_c);
    case C_BATCHNORM:
        row_r = t[4]; row_r.ndim = 1; row_r.shape[0] = c->b; row_r.numel = c->b;
        row_c = t[5]; row_c.ndim = 1; row_c.shape[0] = c->b; row_c.numel = c->b;
        return vf_batchnorm_train_forward(&t[0], &t[2], &t[3], 1e-5f, 0.1f, &t[1], &row_r, &row_c,
                                          NULL, NULL);
    case C_LSTM: return vf_lstm_cell_forward(&t[0], &t[1], &t[2], &t[3]);
    case C_LSTM_BWD: return vf_lstm_cell_backward(&t[0], &t[1], &t[3], &t[4], &t[5], &t[7], &t[6]);
    case C_EMBEDDING: return vf_embedding_forward(&t[0], &t[1], &t[2]);
    case C_ADAM: {
        vf_adam_config cfg = {0.9f, 0.999f, 1e-8f, 0.0f};
        return vf_adam_update(&t[0], &t[1], &t[2], &t[3], &t[4], &cfg);
    }
    case C_RNG_NORMAL: return vf_rng_normal(42, 0, &t[3], &t[2]);
    }
    return vf_fail(VF_ERR_ARG, "bench: unknown case");
}

/* Median seconds per op: `reps` ops per captured program, `runs` runs. */
static vf_status time_case(const bench_case *c, vf_backend *be, bench_data *d, int reps, int runs,
                           double *sec) {
    vf_program *p = NULL;
    VF_TRY(run_case(c, d)); /* warm-up: pipelines, caches */
    VF_TRY(vf_backend_sync(be));
    VF_TRY(vf_capture_begin(be));
    vf_status s = VF_OK;
    for (int r = 0; r < reps && s == VF_OK; r++) s = run_case(c, d);
    vf_program *tmp = NULL;
    vf_status e = vf_capture_end(be, &tmp);
    p = tmp;
    if (s || e) {
        vf_program_destroy(p);
        return s ? s : e;
    }
    double *t = calloc((size_t)runs, sizeof *t);
    if (!t) {
        vf_program_destroy(p);
        return vf_fail(VF_ERR_OOM, "bench: out of host memory");
    }
    for (int r = 0; r < runs && s == VF_OK; r++) {
        double t0 = vf_now_s();
        s = vf_program_run(p);
        t[r] = (vf_now_s() - t0) / reps;
    }
    *sec = median(t, runs);
    free(t);
    vf_program_destroy(p);
    return s;
}

/* The cpu backend's GEMM against a direct cblas_sgemm on the same shape,
 * timed alternately (backend, direct, backend, ...) so that load from other
 * processes hits both alike. Medians in seconds. */
static vf_status compare_with_cblas(const bench_case *c, bench_data *d, int runs, double *backend_sec,
                                    double *direct_sec) {
    const int64_t m = c->a, n = c->b, k = c->c;
    float *a = calloc((size_t)(m * k), 4), *b = calloc((size_t)(k * n), 4), *cm = calloc((size_t)(m * n), 4);
    double *tb = calloc((size_t)runs, sizeof *tb), *td = calloc((size_t)runs, sizeof *td);
    vf_program *p = NULL;
    vf_status s = (a && b && cm && tb && td) ? VF_OK : vf_fail(VF_ERR_OOM, "bench: out of host memory");
    if (s == VF_OK) s = vf_capture_begin(vf_arena_backend(d->arena));
    if (s == VF_OK) {
        vf_status s1 = run_case(c, d);
        vf_status s2 = vf_capture_end(vf_arena_backend(d->arena), &p);
        s = s1 ? s1 : s2;
    }
    for (int64_t i = 0; s == VF_OK && i < m * k; i++) a[i] = (float)(i % 7) * 0.1f;
    for (int64_t i = 0; s == VF_OK && i < k * n; i++) b[i] = (float)(i % 5) * 0.1f;
    for (int r = -1; s == VF_OK && r < runs; r++) { /* r = -1: warm-up */
        double t0 = vf_now_s();
        s = vf_program_run(p);
        double t1 = vf_now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1, a, (int)k, b,
                    (int)n, 0, cm, (int)n);
        double t2 = vf_now_s();
        if (r >= 0) {
            tb[r] = t1 - t0;
            td[r] = t2 - t1;
        }
    }
    if (s == VF_OK) {
        *backend_sec = median(tb, runs);
        *direct_sec = median(td, runs);
    }
    vf_program_destroy(p);
    free(a); free(b); free(cm); free(tb); free(td);
    return s;
}

static void print_rate(double sec, const bench_data *d) {
    if (d->flops > 0) printf("  %9.2f GFLOP/s", d->flops / sec * 1e-9);
    else printf("  %9.2f GB/s   ", d->bytes / sec * 1e-9);
}

static int bench_ops(int argc, char **argv) {
    const char *which = "all", *filter = NULL;
    int quick = 0, full = 0, reps_override = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < argc) which = argv[++i];
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--full")) full = 1;
        else if (!strcmp(argv[i], "--filter") && i + 1 < argc) filter = argv[++i];
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps_override = atoi(argv[++i]);
        else {
            bool help = !strcmp(argv[i], "-h") || !strcmp(argv[i], "--help");
            fprintf(help ? stdout : stderr, "usage: vkflow bench ops [--backend cpu|vk|all] [--quick] [--full] "
                            "[--filter TEXT] [--reps N]\n");
            return help ? 0 : 2;
        }
    }
    bool want_cpu = strcmp(which, "vk") != 0, want_vk = strcmp(which, "cpu") != 0;
    if (strcmp(which, "cpu") && strcmp(which, "vk") && strcmp(which, "all")) {
        fprintf(stderr, "vkflow bench ops: --backend must be cpu, vk or all\n");
        return 2;
    }
    vf_backend *cpu = NULL, *vk = NULL;
    if (vf_cpu_create(&cpu)) {
        fprintf(stderr, "vkflow bench: %s\n", vf_last_error());
        return 1;
    }
    if (want_vk && vf_vk_create(&vk) != VF_OK) {
        fprintf(stderr, "vkflow bench: no Vulkan backend (%s); cpu only\n", vf_last_error());
        vk = NULL;
    }
    /* lavapipe runs GEMM at ~1 GFLOP/s: the big shapes only on real GPUs */
    bool slow_vk = vk && strstr(vf_backend_name(vk), "llvmpipe") != NULL;
    printf("vkflow bench ops: cpu backend (OpenBLAS, %s)%s%s\n",
           getenv("OPENBLAS_NUM_THREADS") ? getenv("OPENBLAS_NUM_THREADS") : "default threads",
           vk ? "; vk backend on " : "", vk ? vf_backend_name(vk) : "");
    printf("time = median per op over repeated runs of a captured program\n\n");
    printf("%-20s %-18s %-8s %12s  %-16s %10s\n", "op", "shape", "backend", "median", "rate",
           "vs cpu");
    int status = 0;
    for (int ci = 0; ci < N_CASES; ci++) {
        const bench_case *c = &cases[ci];
        if (filter && !strstr(c->name, filter)) continue;
        if (quick && c->big >= 1) continue;
        bool run_cpu = want_cpu && (c->big < 3 || full);
        bool run_vk = vk && (c->big < 2 || full || !slow_vk) && (c->big < 3 || !slow_vk);
        double cpu_sec = NAN;
        for (int bi = 0; bi < 2; bi++) {
            vf_backend *be = bi ? vk : cpu;
            if (!be || !(bi ? run_vk : run_cpu)) continue;
            bench_data d;
            vf_status s = setup(c, be, &d);
            double sec = NAN;
            int reps = reps_override ? reps_override : (d.flops > 1e9 ? 3 : d.flops > 1e8 ? 10 : 20);
            int runs = d.flops > 1e10 ? 3 : 5;
            if (s == VF_OK) s = time_case(c, be, &d, reps, runs, &sec);
            if (s != VF_OK) {
                printf("%-20s %-18s %-8s  failed: %s\n", c->name, d.shape, bi ? "vk" : "cpu", vf_last_error());
                status = 1;
            } else {
                printf("%-20s %-18s %-8s %9.1f us", c->name, d.shape, bi ? "vk" : "cpu", sec * 1e6);
                print_rate(sec, &d);
                if (bi == 0) cpu_sec = sec;
                if (bi && !isnan(cpu_sec)) printf(" %9.2fx", cpu_sec / sec);
                printf("\n");
            }
            vf_arena_destroy(d.arena);
            if (bi == 0 && s == VF_OK && c->kind == C_MATMUL && c->a == c->b && c->b == c->c) {
                double tb = NAN, td = NAN;
                int pairs = d.flops > 1e10 ? 5 : 15;
                if (setup(c, be, &d) == VF_OK && compare_with_cblas(c, &d, pairs, &tb, &td) == VF_OK)
                    printf("%-20s %-18s %-8s %9.1f us  %9.2f GFLOP/s   (cpu backend %.1f us when "
                           "alternated: %.0f%% of direct)\n",
                           "  cblas_sgemm direct", d.shape, "peer", td * 1e6, d.flops / td * 1e-9, tb * 1e6,
                           100.0 * td / tb);
                vf_arena_destroy(d.arena);
            }
        }
        fflush(stdout);
    }
    vf_backend_destroy(vk);
    vf_backend_destroy(cpu);
    return status;
}

/* Further `vkflow bench` subjects register here. */
static const struct { const char *name; int (*fn)(int, char **); } subjects[] = {
    {"ops", bench_ops},
    {"eval", cmd_bench_eval},
    {"ingest", cmd_bench_ingest},
    {"graph", cmd_bench_graph},
    {"gan", cmd_bench_gan},
    {"train", cmd_bench_gan}, /* issue 6's name: vkflow bench train MODEL */
};

int cmd_bench(int argc, char **argv) {
    if (argc >= 2)
        for (size_t i = 0; i < sizeof subjects / sizeof subjects[0]; i++)
            if (!strcmp(argv[1], subjects[i].name)) return subjects[i].fn(argc - 1, argv + 1);
    bool help = argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"));
    FILE *f = help ? stdout : stderr;
    fprintf(f, "usage: vkflow bench SUBJECT [ARGS]   (subjects:");
    for (size_t i = 0; i < sizeof subjects / sizeof subjects[0]; i++) fprintf(f, " %s", subjects[i].name);
    fprintf(f, ")\n  vkflow bench SUBJECT --help: a subject's options (docs/BENCHMARKS.md)\n");
    return help ? 0 : 2;
}
