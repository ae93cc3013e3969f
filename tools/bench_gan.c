/* vkflow bench gan [--backend cpu|vk|all] [--iters N] [--model FILE] [--set KEY=VALUE]...
 * vkflow bench train [MODEL] [--backend ...] [--iters N] [--set KEY=VALUE]...   (the same; MODEL positional)
 *
 * Training iterations per second (d_steps D steps + one G step, real batches
 * written each D step, losses read back) of a DoppelGANger model on
 * UGR16-like shapes: attr_dim 181 (64 IP-bit 2-way softmaxes, 30 word2vec
 * tanh columns, flow start, 11 2-way flow-tag softmaxes), feat_dim 9 (4 unit
 * columns, a 5-way label softmax), max_len 34. Default model:
 * models/doppelganger.cfg (NetShare's sizes: batch 100, 5 D rounds). Also the
 * generation rate (flows/s). Data are random flows of those shapes: the time
 * per iteration does not depend on the values. Reported: the median time of
 * one iteration (from the training loop's per-iteration progress callback)
 * and the mean rate over all timed iterations. The peer, the same model in
 * PyTorch, is tools/bench/doppelganger_torch.py (models/ddgan_small.cfg's:
 * tools/bench/ddgan_torch.py). --set overrides a model setting as in `vkflow
 * check` (e.g. --set training.sample_steps=1000 for a ddpm model's sampling).
 *
 * --profile (cpu backend): where a step's time goes, per training program:
 * each program run alone (with a fresh real batch when it reads one), and
 * the host time per op kind: GEMM (time and calls per run) against
 * everything else, with the GEMM rate from the program's matmul FLOPs. */
#include "commands.h"
#include "settings.h"
#include "util.h"
#include "train/flowmodel.h"
#include "graph/exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#define N_FLOWS 1000
#define MAX_LEN 34

static int n_attr, n_feat;
static vf_segment attr_segs[128], feat_segs[8];

static void shapes(void) {
    int off = 0;
    for (int i = 0; i < 64; i++, off += 2) attr_segs[n_attr++] = (vf_segment){off, 2, VF_SEG_SOFTMAX, VF_F_SRCIP};
    attr_segs[n_attr++] = (vf_segment){off, 30, VF_SEG_TANH, VF_F_SRCPORT};
    off += 30;
    attr_segs[n_attr++] = (vf_segment){off, 1, VF_SEG_UNIT, VF_F_TIME};
    off += 1;
    for (int i = 0; i < 11; i++, off += 2) attr_segs[n_attr++] = (vf_segment){off, 2, VF_SEG_SOFTMAX, -1};
    feat_segs[n_feat++] = (vf_segment){0, 4, VF_SEG_UNIT, VF_F_TD};
    feat_segs[n_feat++] = (vf_segment){4, 5, VF_SEG_SOFTMAX, VF_F_LABEL};
}

static uint64_t rs = 88172645463325252ull;
static float rnd(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (float)(rs >> 40) / 16777216.0f;
}

/* Per-iteration end times from the progress callback. */
typedef struct iter_clock { double *t; int n, cap; } iter_clock;

static void on_progress(const vf_train_progress *p, void *user) {
    iter_clock *c = user;
    if (c->n < c->cap) c->t[c->n++] = p->seconds;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* 2 M N K of every live matmul of program p. */
static double program_flops(vf_exec *x, vf_model *m, int p) {
    const vf_graph *G = vf_model_graph(m);
    const bool *live = vf_exec_live(x, p);
    double f = 0;
    for (int i = 0; i < G->n; i++) {
        const vf_gnode *N = &G->nodes[i];
        if (!live[i] || N->op != VF_G_MATMUL) continue;
        const vf_gnode *A = &G->nodes[N->in[0]];
        double k = (double)(N->ta ? vf_gnode_rows(A) : vf_gnode_cols(A));
        f += 2.0 * (double)vf_gnode_rows(N) * (double)vf_gnode_cols(N) * k;
    }
    return f;
}

/* Per training program: runs alone, op-kind time split, GEMM rate. */
static vf_status profile_programs(vf_flowmodel *g, vf_backend *be, int runs) {
    vf_trainer *t = vf_flowmodel_trainer(g);
    vf_exec *x = vf_trainer_exec(t);
    vf_model *m = vf_trainer_model(t);
    printf("\nprofile (cpu backend, %d runs per program; host time per op kind):\n", runs);
    printf("%-10s %9s %9s %6s %7s %10s %9s  %s\n", "program", "ms/run", "gemm ms", "gemms", "gemm %", "GFLOP/run",
           "GFLOP/s", "largest other op kinds (ms/run)");
    for (int p = 0; p < vf_exec_n_programs(x); p++) {
        if (!vf_exec_n_updates(x, p)) continue;
        VF_TRY(vf_profile_enable(be, true));
        vf_profile_reset(be);
        double t0 = vf_now_s();
        for (int r = 0; r < runs; r++) {
            VF_TRY(vf_trainer_next_batch(t));
            VF_TRY(vf_exec_run(x, p));
        }
        double total = (vf_now_s() - t0) / runs;
        VF_TRY(vf_profile_enable(be, false));
        vf_op_time ot[64];
        int n = vf_profile_op_times(be, ot, 64);
        double gemm = 0, ops = 0;
        int64_t gemm_calls = 0;
        for (int k = 0; k < n; k++) {
            ops += ot[k].seconds;
            if (!strcmp(ot[k].op, "matmul")) {
                gemm = ot[k].seconds;
                gemm_calls = ot[k].calls;
            }
        }
        gemm /= runs;
        double fl = program_flops(x, m, p) / 1e9;
        char other[256] = "";
        size_t o = 0;
        for (int shown = 0; shown < 4; shown++) { /* the four largest non-GEMM kinds */
            int best = -1;
            for (int k = 0; k < n; k++)
                if (strcmp(ot[k].op, "matmul") && ot[k].seconds >= 0 && (best < 0 || ot[k].seconds > ot[best].seconds))
                    best = k;
            if (best < 0) break;
            o += (size_t)snprintf(other + o, sizeof other - o, "%s%s %.1f", shown ? ", " : "", ot[best].op,
                                  1000 * ot[best].seconds / runs);
            ot[best].seconds = -1;
        }
        printf("%-10s %9.1f %9.1f %6.0f %6.0f%% %10.2f %9.1f  %s; host outside ops %.1f\n", vf_exec_program_name(x, p),
               1000 * total, 1000 * gemm, (double)gemm_calls / runs, 100 * gemm / total, fl, gemm > 0 ? fl / gemm : 0, other,
               1000 * (total - ops / runs));
    }
    return VF_OK;
}

static bool g_profile;
enum { MAX_SET = 32 };
static vf_setting g_sets[MAX_SET];
static char g_set_text[MAX_SET][2][256], g_set_origin[MAX_SET][300];
static int g_n_set;
/* --privacy SIGMA: DP-SGD on the model's private programs (clip --clip C) */
static vf_privacy_opts g_privacy;

static int run_one(const char *name, vf_backend *be, const char *model, int iters) {
    vf_flow_dims d = {.attr_dim = 181, .feat_dim = 9, .max_len = MAX_LEN, .n_attr_segs = n_attr,
                     .n_feat_segs = n_feat, .attr_segs = attr_segs, .feat_segs = feat_segs};
    vf_encoded e = {.n_flows = N_FLOWS, .max_len = MAX_LEN, .attr_dim = 181, .feat_dim = 9};
    e.attr = malloc((size_t)N_FLOWS * 181 * sizeof(float));
    e.feat = malloc((size_t)N_FLOWS * MAX_LEN * 9 * sizeof(float));
    e.gen_flag = calloc((size_t)N_FLOWS * MAX_LEN, sizeof(float));
    if (!e.attr || !e.feat || !e.gen_flag) { fprintf(stderr, "out of memory\n"); return 1; }
    for (int i = 0; i < N_FLOWS * 181; i++) e.attr[i] = rnd();
    for (int i = 0; i < N_FLOWS * MAX_LEN * 9; i++) e.feat[i] = rnd();
    for (int i = 0; i < N_FLOWS; i++) {
        int len = 1 + (int)(rnd() * MAX_LEN);
        for (int t = 0; t < len && t < MAX_LEN; t++) e.gen_flag[i * MAX_LEN + t] = 1;
    }
    vf_flowmodel *g = NULL;
    double t0 = vf_now_s();
    vf_status st = vf_flowmodel_open_private(model, &d, g_sets, g_n_set, be, 1, g_privacy.enabled ? &g_privacy : NULL, &g);
    double t_open = vf_now_s() - t0;
    vf_train_opts o = {.iterations = 2};
    if (!st) st = vf_flowmodel_bind(g, &e);
    if (!st) st = vf_trainer_train(vf_flowmodel_trainer(g), &o, NULL); /* warm-up: first replays, caches */
    double t_train = 0, t_median = 0;
    iter_clock clk = {calloc((size_t)iters + 1, sizeof(double)), 0, iters + 1};
    if (!st && !clk.t) st = vf_fail(VF_ERR_OOM, "bench gan: out of memory");
    if (!st) {
        o.iterations = iters;
        o.progress = on_progress;
        o.progress_user = &clk;
        o.progress_every = 1;
        t0 = vf_now_s();
        st = vf_trainer_train(vf_flowmodel_trainer(g), &o, NULL);
        t_train = vf_now_s() - t0;
    }
    if (!st && clk.n > 0) {
        /* per-iteration durations from the cumulative end times */
        for (int i = clk.n - 1; i > 0; i--) clk.t[i] -= clk.t[i - 1];
        qsort(clk.t, (size_t)clk.n, sizeof(double), cmp_double);
        t_median = clk.t[clk.n / 2];
    }
    free(clk.t);
    vf_encoded out = {0};
    double t_gen = 0;
    if (!st) {
        t0 = vf_now_s();
        st = vf_flowmodel_generate(g, 1000, 1, &out);
        t_gen = vf_now_s() - t0;
    }
    if (st) {
        fprintf(stderr, "bench gan (%s): %s\n", name, vf_last_error());
    } else {
        printf("%-6s %10.3f %12.1f %12.1f %10.1f %12.0f\n", name, iters / t_train, 1000 * t_train / iters,
               1000 * t_median, t_open, 1000 / t_gen);
        if (g_profile && vf_backend_kind_of(be) == VF_BACKEND_CPU) {
            st = profile_programs(g, be, iters);
            if (st) fprintf(stderr, "bench gan (%s): profile: %s\n", name, vf_last_error());
        }
    }
    free(out.attr); free(out.feat); free(out.gen_flag);
    vf_flowmodel_close(g);
    free(e.attr); free(e.feat); free(e.gen_flag);
    return st ? 1 : 0;
}

int cmd_bench_gan(int argc, char **argv) {
    const char *backend = "all", *model = NULL;
    int iters = 10;
    const bool positional_model = !strcmp(argv[0], "train"); /* vkflow bench train MODEL */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < argc) backend = argv[++i];
        else if (!strcmp(argv[i], "--iters") && i + 1 < argc) iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--profile")) g_profile = true;
        else if (!strcmp(argv[i], "--privacy") && i + 1 < argc) {
            g_privacy.enabled = true;
            g_privacy.sigma = atof(argv[++i]);
            if (!(g_privacy.clip > 0)) g_privacy.clip = 1.0;
        } else if (!strcmp(argv[i], "--clip") && i + 1 < argc) g_privacy.clip = atof(argv[++i]);
        else if (!strcmp(argv[i], "--set") && i + 1 < argc && g_n_set < MAX_SET) {
            i++;
            if (!vf_setting_split(argv[i], g_set_text[g_n_set][0], 256, g_set_text[g_n_set][1], 256)) {
                fprintf(stderr, "--set %s: expected KEY=VALUE, e.g. --set training.sample_steps=1000\n", argv[i]);
                return 2;
            }
            snprintf(g_set_origin[g_n_set], sizeof g_set_origin[g_n_set], "--set %.280s", argv[i]);
            g_sets[g_n_set] = (vf_setting){g_set_text[g_n_set][0], g_set_text[g_n_set][1], g_set_origin[g_n_set]};
            g_n_set++;
        }
        else if (positional_model && argv[i][0] != '-' && !model) model = argv[i];
        else {
            bool help = !strcmp(argv[i], "-h") || !strcmp(argv[i], "--help");
            fprintf(help ? stdout : stderr,
                    "usage: vkflow bench gan [--backend cpu|vk|all] [--iters N] [--model FILE] [--profile]\n"
                    "                        [--set KEY=VALUE]... [--privacy SIGMA [--clip C]]\n"
                    "       vkflow bench train [MODEL] [--backend cpu|vk|all] [--iters N] [--profile]\n"
                    "                          [--set KEY=VALUE]... [--privacy SIGMA [--clip C]]\n"
                    "  --set KEY=VALUE: override a model setting, as in vkflow check (e.g. --set\n"
                    "  training.sample_steps=1000: the reverse chain that gen flows/s times)\n"
                    "  --privacy SIGMA: train with DP-SGD (docs/PRIVACY.md) at noise multiplier SIGMA,\n"
                    "  clip C (default 1), Poisson batches of the default expected size\n");
            return help ? 0 : 2;
        }
    }
    if (iters < 1) iters = 1;
    static char def[4200];
    if (!model) {
        /* models/ next to the binary's source tree, or the working directory's */
        snprintf(def, sizeof def, "%s", "models/doppelganger.cfg");
        model = def;
    }
    shapes();
    printf("gan: %s, attr 181, feat 9, max_len %d, %d flows; OPENBLAS_NUM_THREADS=%s; %d timed iterations\n", model,
           MAX_LEN, N_FLOWS, getenv("OPENBLAS_NUM_THREADS") ? getenv("OPENBLAS_NUM_THREADS") : "unset", iters);
    for (int k = 0; k < g_n_set; k++) printf("%s%s=%s%s", k ? ", " : "settings: ", g_sets[k].key, g_sets[k].value,
                                             k + 1 == g_n_set ? "\n" : "");
    if (g_privacy.enabled)
        printf("privacy: DP-SGD on the private programs, noise multiplier %g, clip %g, Poisson batches\n",
               g_privacy.sigma, g_privacy.clip);
    printf("%-6s %10s %12s %12s %10s %12s\n", "device", "it/s", "mean ms/it", "median ms/it", "open s",
           "gen flows/s");
    int rc = 0;
    if (!strcmp(backend, "cpu") || !strcmp(backend, "all")) {
        vf_backend *be;
        if (vf_cpu_create(&be)) { fprintf(stderr, "%s\n", vf_last_error()); return 1; }
        rc |= run_one("cpu", be, model, iters);
        vf_backend_destroy(be);
    }
    if (!strcmp(backend, "vk") || !strcmp(backend, "all")) {
        vf_backend *be;
        if (vf_vk_create(&be)) {
            fprintf(stderr, "vk: %s\n", vf_last_error());
            return !strcmp(backend, "vk") ? 1 : rc;
        }
        printf("(vk device: %s)\n", vf_backend_name(be));
        rc |= run_one("vk", be, model, iters);
        vf_backend_destroy(be);
    }
    return rc;
}
