/* Fused elementwise programs: the cpu interpreter against a direct C
 * evaluation, vk against cpu for every opcode and broadcast mode, aliasing,
 * capture/replay, the on-disk SPIR-V cache, and bad programs. */
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One instruction appended to p; returns its register. */
static int emit(vf_ew_program *p, vf_ew_op op, int a, int b, int c, float imm) {
    vf_ew_instr *in = &p->code[p->n_code];
    in->op = (uint8_t)op;
    in->a = (uint8_t)a;
    in->b = (uint8_t)b;
    in->c = (uint8_t)c;
    in->imm = imm;
    return p->n_code++;
}

/* A program that uses every opcode on inputs x (FULL), bias (ROW), per-row s
 * (COL) and scalar k, with 3 outputs. Inputs are kept in ranges where every
 * op is defined (log/sqrt of positive values). */
static void every_op_program(vf_ew_program *p) {
    memset(p, 0, sizeof *p);
    p->n_in = 4;
    p->in_bcast[0] = VF_BC_FULL;
    p->in_bcast[1] = VF_BC_ROW;
    p->in_bcast[2] = VF_BC_COL;
    p->in_bcast[3] = VF_BC_SCALAR;
    int x = emit(p, VF_EW_LOAD, 0, 0, 0, 0), b = emit(p, VF_EW_LOAD, 1, 0, 0, 0);
    int s = emit(p, VF_EW_LOAD, 2, 0, 0, 0), k = emit(p, VF_EW_LOAD, 3, 0, 0, 0);
    int half = emit(p, VF_EW_CONST, 0, 0, 0, 0.5f);
    int t = emit(p, VF_EW_ADD, x, b, 0, 0);              /* x + bias */
    t = emit(p, VF_EW_MUL, t, s, 0, 0);                  /* * row scale */
    t = emit(p, VF_EW_SUB, t, k, 0, 0);                  /* - scalar */
    int pos = emit(p, VF_EW_ABS, t, 0, 0, 0);
    pos = emit(p, VF_EW_ADD, pos, half, 0, 0);           /* > 0 */
    int acc = emit(p, VF_EW_LOG, pos, 0, 0, 0);
    acc = emit(p, VF_EW_ADD, acc, emit(p, VF_EW_SQRT, pos, 0, 0, 0), 0, 0);
    acc = emit(p, VF_EW_ADD, acc, emit(p, VF_EW_RSQRT, pos, 0, 0, 0), 0, 0);
    acc = emit(p, VF_EW_SUB, acc, emit(p, VF_EW_DIV, t, pos, 0, 0), 0, 0);
    acc = emit(p, VF_EW_ADD, acc, emit(p, VF_EW_TANH, t, 0, 0, 0), 0, 0);
    acc = emit(p, VF_EW_ADD, acc, emit(p, VF_EW_SIGMOID, t, 0, 0, 0), 0, 0);
    acc = emit(p, VF_EW_ADD, acc, emit(p, VF_EW_SOFTPLUS, t, 0, 0, 0), 0, 0);
    acc = emit(p, VF_EW_ADD, acc, emit(p, VF_EW_RELU, t, 0, 0, 0), 0, 0);
    acc = emit(p, VF_EW_ADD, acc, emit(p, VF_EW_LEAKY_RELU, t, 0, 0, 0.2f), 0, 0);
    acc = emit(p, VF_EW_ADD, acc, emit(p, VF_EW_EXP, emit(p, VF_EW_NEG, pos, 0, 0, 0), 0, 0, 0), 0, 0);
    acc = emit(p, VF_EW_ADD, acc, emit(p, VF_EW_LOG1P, emit(p, VF_EW_SQUARE, t, 0, 0, 0), 0, 0, 0), 0, 0);
    int mx = emit(p, VF_EW_MAX, t, half, 0, 0), mn = emit(p, VF_EW_MIN, t, half, 0, 0);
    int sel = emit(p, VF_EW_SELECT, t, mx, mn, 0);
    int st = emit(p, VF_EW_STEP, t, 0, 0, 0);
    p->n_out = 3;
    p->out_reg[0] = (uint8_t)acc;
    p->out_reg[1] = (uint8_t)sel;
    p->out_reg[2] = (uint8_t)st;
}

/* Direct C evaluation of every_op_program at one element. */
static void every_op_ref(float x, float b, float s, float k, float out[3]) {
    float t = (x + b) * s - k, pos = fabsf(t) + 0.5f;
    float acc = logf(pos) + sqrtf(pos) + 1.0f / sqrtf(pos) - t / pos + tanhf(t) + 1.0f / (1.0f + expf(-t)) +
                (fmaxf(t, 0) + log1pf(expf(-fabsf(t)))) + (t > 0 ? t : 0) + (t > 0 ? t : 0.2f * t) +
                expf(-pos) + log1pf(t * t);
    out[0] = acc;
    out[1] = t > 0 ? fmaxf(t, 0.5f) : fminf(t, 0.5f);
    out[2] = t > 0 ? 1.0f : 0.0f;
}

typedef struct ew_case { int64_t R, C; } ew_case;

/* Runs the every-op program on be; returns the 3 outputs (malloc'd, [3][R*C]). */
static float *run_every_op(vf_backend *be, int64_t R, int64_t C, const float *x, const float *b,
                           const float *s, float k) {
    vf_arena *a = tu_arena(be, (size_t)(4 * R * C + C + R + 64) * 4 + 4096);
    vf_tensor tx = tu_tensor2(a, R, C, x), tb = tu_tensor1(a, C, b), ts = tu_tensor1(a, R, s);
    vf_tensor tk = tu_tensor1(a, 1, &k);
    vf_tensor o[3];
    for (int i = 0; i < 3; i++) o[i] = tu_tensor2(a, R, C, NULL);
    vf_ew_program p;
    every_op_program(&p);
    const vf_tensor *in[4] = {&tx, &tb, &ts, &tk}, *out[3] = {&o[0], &o[1], &o[2]};
    TU_OK(vf_elementwise(&p, in, out));
    float *res = malloc((size_t)(3 * R * C) * sizeof *res);
    cr_assert_not_null(res);
    for (int i = 0; i < 3; i++) {
        float *y = tu_read(&o[i]);
        memcpy(res + (size_t)i * (size_t)(R * C), y, (size_t)(R * C) * sizeof *y);
        free(y);
    }
    vf_arena_destroy(a);
    return res;
}

Test(elementwise, every_op_cpu_vs_reference_and_vk) {
    const ew_case cases[] = {{1, 1}, {7, 13}, {3, 300}, {31, 97}};
    tu_rng r = tu_rng_make(11);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int64_t R = cases[ci].R, C = cases[ci].C, n = R * C;
        float *x = malloc((size_t)n * 4), *b = malloc((size_t)C * 4), *s = malloc((size_t)R * 4);
        tu_fill_uniform(&r, x, (size_t)n, -3, 3);
        tu_fill_uniform(&r, b, (size_t)C, -1, 1);
        tu_fill_uniform(&r, s, (size_t)R, 0.5f, 1.5f);
        const float k = tu_uniform(&r, -1, 1);
        float *cpu = run_every_op(tu_cpu(), R, C, x, b, s, k);
        float *ref = malloc((size_t)(3 * n) * 4);
        for (int64_t e = 0; e < n; e++) {
            float o[3];
            every_op_ref(x[e], b[e % C], s[e / C], k, o);
            for (int i = 0; i < 3; i++) ref[i * n + e] = o[i];
        }
        cr_expect_leq(tu_max_rel(cpu, ref, (size_t)(3 * n), 1e-5, 1e-5), 1.0,
                      "cpu interpreter vs direct C, shape %lldx%lld", (long long)R, (long long)C);
        if (tu_vk()) {
            float *vk = run_every_op(tu_vk(), R, C, x, b, s, k);
            /* GPU transcendentals are not correctly rounded: a few ulp */
            cr_expect_leq(tu_max_rel(vk, cpu, (size_t)(3 * n), 1e-4, 1e-4), 1.0,
                          "vk vs cpu, shape %lldx%lld", (long long)R, (long long)C);
            free(vk);
        }
        free(x); free(b); free(s); free(cpu); free(ref);
    }
    tu_check_validation();
}

/* y = x * x + x written over x itself, inside a captured program replayed
 * twice: aliasing a FULL input is allowed and replays see new inputs. */
static void alias_and_replay(vf_backend *be) {
    vf_ew_program p = {0};
    p.n_in = 1;
    int x = emit(&p, VF_EW_LOAD, 0, 0, 0, 0);
    int y = emit(&p, VF_EW_ADD, emit(&p, VF_EW_SQUARE, x, 0, 0, 0), x, 0, 0);
    p.n_out = 1;
    p.out_reg[0] = (uint8_t)y;
    vf_arena *a = tu_arena(be, 1 << 16);
    float h[1031];
    for (int i = 0; i < 1031; i++) h[i] = (float)(i % 17) * 0.25f - 2.0f;
    vf_tensor t = tu_tensor1(a, 1031, h);
    const vf_tensor *in[1] = {&t}, *out[1] = {&t};
    vf_program *prog = NULL;
    TU_OK(vf_capture_begin(be));
    TU_OK(vf_elementwise(&p, in, out));
    TU_OK(vf_capture_end(be, &prog));
    for (int run = 0; run < 2; run++) {
        for (int i = 0; i < 1031; i++) h[i] = (float)((i + run) % 13) * 0.5f - 3.0f;
        TU_OK(vf_tensor_write(&t, h, sizeof h));
        TU_OK(vf_program_run(prog));
        float *got = tu_read(&t);
        for (int i = 0; i < 1031; i++) cr_assert_eq(got[i], h[i] * h[i] + h[i], "element %d run %d", i, run);
        free(got);
    }
    vf_program_destroy(prog);
    vf_arena_destroy(a);
}

Test(elementwise, alias_and_replay_cpu) { alias_and_replay(tu_cpu()); }

Test(elementwise, alias_and_replay_vk) {
    if (!tu_vk()) cr_skip_test("no Vulkan device");
    alias_and_replay(tu_vk());
    tu_check_validation();
}

/* A kernel compiled once lands in the SPIR-V cache; a new backend with the
 * same cache directory loads it instead of compiling. */
Test(elementwise, spirv_disk_cache) {
    char dir[] = "/tmp/vkflow-cache-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    setenv("XDG_CACHE_HOME", dir, 1);
    vf_backend *be = NULL;
    if (vf_vk_create(&be) != VF_OK) cr_skip_test("no Vulkan device");
    vf_ew_program p = {0};
    p.n_in = 1;
    int x = emit(&p, VF_EW_LOAD, 0, 0, 0, 0);
    p.n_out = 1;
    p.out_reg[0] = (uint8_t)emit(&p, VF_EW_MUL, x, emit(&p, VF_EW_CONST, 0, 0, 0, 3.0f), 0, 0);
    for (int round = 0; round < 2; round++) {
        if (round == 1) cr_assert_eq(vf_vk_create(&be), VF_OK);
        vf_arena *a = tu_arena(be, 4096);
        float h[5] = {1, 2, 3, 4, 5};
        vf_tensor t = tu_tensor1(a, 5, h), o = tu_tensor1(a, 5, NULL);
        const vf_tensor *in[1] = {&t}, *out[1] = {&o};
        TU_OK(vf_elementwise(&p, in, out));
        float *got = tu_read(&o);
        for (int i = 0; i < 5; i++) cr_expect_eq(got[i], 3.0f * h[i]);
        free(got);
        vf_arena_destroy(a);
        cr_expect_eq(vf_backend_validation_errors(be), 0);
        vf_backend_destroy(be);
        be = NULL;
        /* after the first round: one .spv file and a pipeline cache exist */
        char sub[600];
        snprintf(sub, sizeof sub, "%s/vkflow/spirv", dir);
        DIR *d = opendir(sub);
        cr_assert_not_null(d, "no SPIR-V cache directory %s", sub);
        int files = 0;
        for (struct dirent *e; (e = readdir(d));)
            if (strstr(e->d_name, ".spv")) files++;
        closedir(d);
        cr_expect_eq(files, 1, "round %d: %d cached kernels", round, files);
    }
    unsetenv("XDG_CACHE_HOME");
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
}

Test(elementwise, bad_programs_rejected) {
    vf_backend *be = tu_cpu();
    vf_arena *a = tu_arena(be, 4096);
    vf_tensor x = tu_tensor2(a, 3, 4, NULL), y = tu_tensor2(a, 3, 4, NULL), v = tu_tensor1(a, 5, NULL);
    const vf_tensor *in[1] = {&x}, *out[1] = {&y};
    vf_ew_program p = {0};
    p.n_in = 1;
    p.n_out = 1;
    emit(&p, VF_EW_LOAD, 0, 0, 0, 0);
    emit(&p, VF_EW_ADD, 0, 1, 0, 0); /* reads itself */
    cr_expect_eq(vf_elementwise(&p, in, out), VF_ERR_ARG);
    cr_expect(strstr(vf_last_error(), "not yet written"), "%s", vf_last_error());
    p.code[1].b = 0;
    p.code[0].a = 3; /* input 3 of 1 */
    cr_expect_eq(vf_elementwise(&p, in, out), VF_ERR_ARG);
    cr_expect(strstr(vf_last_error(), "loads input 3"), "%s", vf_last_error());
    p.code[0].a = 0;
    p.code[1].op = 200;
    cr_expect_eq(vf_elementwise(&p, in, out), VF_ERR_ARG);
    p.code[1].op = VF_EW_ADD;
    p.in_bcast[0] = VF_BC_ROW; /* x has 12 elements, a row input needs 4 */
    cr_expect_eq(vf_elementwise(&p, in, out), VF_ERR_ARG);
    cr_expect(strstr(vf_last_error(), "one per column"), "%s", vf_last_error());
    p.in_bcast[0] = VF_BC_FULL;
    const vf_tensor *bad_out[1] = {&v};
    const vf_tensor *bad_in[1] = {&v};
    cr_expect_eq(vf_elementwise(&p, bad_in, out), VF_ERR_ARG); /* 5 elements vs [3,4] */
    (void)bad_out;
    p.out_reg[0] = 9;
    cr_expect_eq(vf_elementwise(&p, in, out), VF_ERR_ARG);
    p.out_reg[0] = 1;
    TU_OK(vf_elementwise(&p, in, out));
    vf_arena_destroy(a);
}

/* Column windows: y[r, c] = x[r, c + 3] (a slice of a wider tensor) +
 * z[r, c - 2] zero-padded (a narrower one), against direct C, on cpu and vk. */
static void windows(vf_backend *be, const float *x, const float *z, float *y, int64_t R) {
    const int64_t C = 9, XC = 17, ZC = 4; /* x [R, 17] window 3..11; z [R, 4] at 2..5 */
    vf_ew_program p = {0};
    p.n_in = 2;
    p.in_cols[0] = (uint32_t)XC;
    p.in_col_off[0] = 3;
    p.in_cols[1] = (uint32_t)ZC;
    p.in_col_off[1] = -2;
    int a = emit(&p, VF_EW_LOAD, 0, 0, 0, 0), b = emit(&p, VF_EW_LOAD, 1, 0, 0, 0);
    p.n_out = 1;
    p.out_reg[0] = (uint8_t)emit(&p, VF_EW_ADD, a, b, 0, 0);
    vf_arena *ar = tu_arena(be, 1 << 20);
    vf_tensor tx = tu_tensor2(ar, R, XC, x), tz = tu_tensor2(ar, R, ZC, z), ty = tu_tensor2(ar, R, C, NULL);
    const vf_tensor *in[2] = {&tx, &tz}, *out[1] = {&ty};
    TU_OK(vf_elementwise(&p, in, out));
    float *got = tu_read(&ty);
    memcpy(y, got, (size_t)(R * C) * sizeof *y);
    free(got);
    /* a window that does not match the tensor is refused */
    p.in_cols[1] = 5;
    cr_expect_eq(vf_elementwise(&p, in, out), VF_ERR_ARG);
    vf_arena_destroy(ar);
}

Test(elementwise, column_windows) {
    const int64_t R = 37, C = 9;
    float x[37 * 17], z[37 * 4], ref[37 * 9], y[37 * 9];
    tu_rng r = tu_rng_make(5);
    tu_fill_uniform(&r, x, 37 * 17, -1, 1);
    tu_fill_uniform(&r, z, 37 * 4, -1, 1);
    for (int64_t i = 0; i < R; i++)
        for (int64_t c = 0; c < C; c++)
            ref[i * C + c] = x[i * 17 + c + 3] + (c >= 2 && c < 6 ? z[i * 4 + c - 2] : 0.0f);
    windows(tu_cpu(), x, z, y, R);
    for (int i = 0; i < 37 * 9; i++) cr_assert_eq(y[i], ref[i], "cpu element %d", i);
    if (!tu_vk()) return;
    windows(tu_vk(), x, z, y, R);
    for (int i = 0; i < 37 * 9; i++) cr_assert_eq(y[i], ref[i], "vk element %d", i);
    tu_check_validation();
}

/* sin and cos (appended after the every-op program so its cached kernels keep
 * their hashes): sin(x), cos(x) and sin(x + bias) * cos(s) over several
 * periods, cpu against libm and vk against cpu. */
static float *run_trig(vf_backend *be, int64_t R, int64_t C, const float *x, const float *b,
                       const float *s) {
    vf_ew_program p = {0};
    p.n_in = 3;
    p.in_bcast[1] = VF_BC_ROW;
    p.in_bcast[2] = VF_BC_COL;
    int xr = emit(&p, VF_EW_LOAD, 0, 0, 0, 0), br = emit(&p, VF_EW_LOAD, 1, 0, 0, 0);
    int sr = emit(&p, VF_EW_LOAD, 2, 0, 0, 0);
    int sn = emit(&p, VF_EW_SIN, xr, 0, 0, 0), cs = emit(&p, VF_EW_COS, xr, 0, 0, 0);
    int mix = emit(&p, VF_EW_MUL, emit(&p, VF_EW_SIN, emit(&p, VF_EW_ADD, xr, br, 0, 0), 0, 0, 0),
                   emit(&p, VF_EW_COS, sr, 0, 0, 0), 0, 0);
    p.n_out = 3;
    p.out_reg[0] = (uint8_t)sn;
    p.out_reg[1] = (uint8_t)cs;
    p.out_reg[2] = (uint8_t)mix;
    vf_arena *a = tu_arena(be, (size_t)(4 * R * C + C + R) * 4 + 4096);
    vf_tensor tx = tu_tensor2(a, R, C, x), tb = tu_tensor1(a, C, b), ts = tu_tensor1(a, R, s);
    vf_tensor o[3];
    for (int i = 0; i < 3; i++) o[i] = tu_tensor2(a, R, C, NULL);
    const vf_tensor *in[3] = {&tx, &tb, &ts}, *out[3] = {&o[0], &o[1], &o[2]};
    TU_OK(vf_elementwise(&p, in, out));
    float *res = malloc((size_t)(3 * R * C) * sizeof *res);
    cr_assert_not_null(res);
    for (int i = 0; i < 3; i++) {
        float *y = tu_read(&o[i]);
        memcpy(res + (size_t)i * (size_t)(R * C), y, (size_t)(R * C) * sizeof *y);
        free(y);
    }
    vf_arena_destroy(a);
    return res;
}

Test(elementwise, sin_cos) {
    const ew_case cases[] = {{1, 1}, {7, 13}, {31, 97}};
    tu_rng r = tu_rng_make(12);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int64_t R = cases[ci].R, C = cases[ci].C, n = R * C;
        float *x = malloc((size_t)n * 4), *b = malloc((size_t)C * 4), *s = malloc((size_t)R * 4);
        tu_fill_uniform(&r, x, (size_t)n, -10, 10);
        tu_fill_uniform(&r, b, (size_t)C, -1, 1);
        tu_fill_uniform(&r, s, (size_t)R, -4, 4);
        float *cpu = run_trig(tu_cpu(), R, C, x, b, s), *ref = malloc((size_t)(3 * n) * 4);
        for (int64_t e = 0; e < n; e++) {
            ref[e] = sinf(x[e]);
            ref[n + e] = cosf(x[e]);
            ref[2 * n + e] = sinf(x[e] + b[e % C]) * cosf(s[e / C]);
        }
        cr_expect_leq(tu_max_rel(cpu, ref, (size_t)(3 * n), 1e-7, 1e-6), 1.0,
                      "cpu interpreter vs libm, shape %lldx%lld", (long long)R, (long long)C);
        if (tu_vk()) {
            float *vk = run_trig(tu_vk(), R, C, x, b, s);
            /* |x| <= 11: device sin/cos after range reduction, a few ulp of 1 */
            cr_expect_leq(tu_max_rel(vk, cpu, (size_t)(3 * n), 1e-5, 1e-5), 1.0,
                          "vk vs cpu, shape %lldx%lld", (long long)R, (long long)C);
            free(vk);
        }
        free(x); free(b); free(s); free(cpu); free(ref);
    }
    tu_check_validation();
}
