/* vkflow bench graph: one training step of a 5x512 MLP GAN pair through the
 * model compiler (batch 100; a D step with the WGAN-GP penalty at
 * interpolates, lambda 10, then a G step), timed
 *   (a) replay of recorded programs with fused elementwise kernels and the
 *       liveness memory plan, and
 *   (b) op-by-op submission, one kernel per graph node, no memory plan;
 * plus planned vs unplanned activation memory, and the host's share of a
 * replayed step (vk: wall time minus the device's timestamped time).
 *
 *   vkflow bench graph [--backend cpu|vk|all] [--steps N] [--width W]
 */
#include "commands.h"
#include "util.h"
#include "graph/exec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


enum { B = 100, ZD = 64, XD = 64, LAYERS = 5 };

typedef struct gan {
    vf_graph *g;
    int nd, ng, dp[2 * LAYERS + 2], gp[2 * LAYERS + 2];
    int real, d_loss, g_loss, dgr[2 * LAYERS + 2], ggr[2 * LAYERS + 2];
} gan;

static int mlp(vf_graph *g, int x, const int *p, int n_hidden, bool leaky) {
    int h = x;
    for (int l = 0; l <= n_hidden; l++) {
        h = vf_g_dense(g, h, p[2 * l], p[2 * l + 1]);
        if (l < n_hidden) h = leaky ? vf_g_leaky_relu(g, h, 0.2f) : vf_g_un(g, VF_EW_RELU, h);
    }
    return h;
}

static void params(vf_graph *g, const char *net, int in, int width, int out, int *p, int *n) {
    *n = 0;
    for (int l = 0; l <= LAYERS; l++) {
        int64_t r = l ? width : in, c = l == LAYERS ? out : width;
        char name[32];
        snprintf(name, sizeof name, "%s/%d/w", net, l);
        p[(*n)++] = vf_g_param(g, name, 2, (int64_t[]){r, c}, VF_INIT_HE, 1.0f);
        snprintf(name, sizeof name, "%s/%d/b", net, l);
        p[(*n)++] = vf_g_param(g, name, 1, &c, VF_INIT_ZEROS, 0);
    }
}

/* G: z [B, 64] -> 5 x width relu -> [B, 64];  D: x [B, 64] -> 5 x width leaky -> [B, 1]
 * d_loss = mean D(fake) - mean D(real) + 10 gp(alpha real + (1-alpha) fake)
 * g_loss = -mean D(G(z')) */
static vf_status build(gan *m, int width) {
    memset(m, 0, sizeof *m);
    vf_graph *g = m->g = vf_graph_create();
    if (!g) return vf_fail(VF_ERR_OOM, "bench graph: out of memory");
    params(g, "G", ZD, width, XD, m->gp, &m->ng);
    params(g, "D", XD, width, 1, m->dp, &m->nd);
    m->real = vf_g_input(g, "real", VF_F32, 2, (int64_t[]){B, XD});
    int z1 = vf_g_noise(g, "z_d", false, 1, 2, (int64_t[]){B, ZD});
    int z2 = vf_g_noise(g, "z_g", false, 2, 2, (int64_t[]){B, ZD});
    int alpha = vf_g_noise(g, "alpha", true, 3, 1, (int64_t[]){B});
    int fake = mlp(g, z1, m->gp, LAYERS, false);
    int xhat = vf_g_add(g, vf_g_mul(g, alpha, m->real), vf_g_mul(g, vf_g_sub(g, vf_g_scalar(g, 1), alpha), fake));
    int w = vf_g_sub(g, vf_g_sum(g, mlp(g, fake, m->dp, LAYERS, true), VF_REDUCE_ALL, true),
                     vf_g_sum(g, mlp(g, m->real, m->dp, LAYERS, true), VF_REDUCE_ALL, true));
    m->d_loss = vf_g_add(g, w, vf_g_scale(g, vf_g_wgan_gp(g, mlp(g, xhat, m->dp, LAYERS, true), xhat), 10.0f));
    m->g_loss = vf_g_un(g, VF_EW_NEG, vf_g_sum(g, mlp(g, mlp(g, z2, m->gp, LAYERS, false), m->dp, LAYERS, true),
                                               VF_REDUCE_ALL, true));
    vf_status s = vf_graph_status(g);
    /* D's step treats the fake batch as data: gradients only w.r.t. D */
    if (!s) s = vf_graph_vjp(g, m->d_loss, -1, m->nd, m->dp, m->dgr);
    if (!s) s = vf_graph_vjp(g, m->g_loss, -1, m->ng, m->gp, m->ggr);
    return s;
}

/* Adam 1e-4, beta1 0.5, beta2 0.9 (WGAN-GP's setting) */
#define ADAM {.kind = VF_OPT_ADAM, .lr = 1e-4f, .beta1 = 0.5f, .beta2 = 0.9f, .eps = 1e-8f}

typedef struct result { double step_s, host_share; vf_prog_stats d, gs; int ok; } result;

static vf_status run_mode(gan *m, vf_backend *be, bool compiled, int steps, result *r) {
    vf_prog_desc pd[2] = {
        {.name = "d_step", .n_out = 1, .outs = &m->d_loss, .n_upd = m->nd, .upd_param = m->dp, .upd_grad = m->dgr,
         .opt = ADAM},
        {.name = "g_step", .n_out = 1, .outs = &m->g_loss, .n_upd = m->ng, .upd_param = m->gp, .upd_grad = m->ggr,
         .opt = ADAM},
    };
    vf_exec_opts o = {.fuse = compiled, .plan = compiled, .capture = compiled, .seed = 1};
    vf_exec *x;
    vf_status s = vf_exec_create(m->g, be, 2, pd, &o, &x);
    if (s) return s;
    float *real = malloc(B * XD * sizeof(float));
    for (int i = 0; i < B * XD; i++) real[i] = sinf(0.37f * (float)i);
    s = vf_exec_write(x, m->real, real, B * XD * sizeof(float));
    free(real);
    /* one warm-up step (pipelines compile, caches fill), then the timed ones */
    double best = INFINITY;
    for (int k = 0; k <= steps && !s; k++) {
        double t0 = vf_now_s();
        s = vf_exec_run(x, 0);
        if (!s) s = vf_exec_run(x, 1);
        double t = vf_now_s() - t0;
        if (k && t < best) best = t;
    }
    if (!s) {
        r->step_s = best;
        r->d = *vf_exec_stats(x, 0);
        r->gs = *vf_exec_stats(x, 1);
        r->ok = 1;
    }
    vf_exec_destroy(x);
    return s;
}

/* Host share of a replayed step: 1 - device time / wall time, with
 * timestamps on (vk only). */
static vf_status host_share(gan *m, vf_backend *be, int steps, double *share) {
    *share = NAN;
    if (vf_backend_kind_of(be) != VF_BACKEND_VK) return VF_OK;
    vf_status s = vf_profile_enable(be, true);
    if (s) return s;
    vf_prog_desc pd = {.name = "d_step", .n_out = 1, .outs = &m->d_loss, .n_upd = m->nd, .upd_param = m->dp,
                       .upd_grad = m->dgr, .opt = ADAM};
    vf_exec_opts o = {.fuse = true, .plan = true, .capture = true, .seed = 1};
    vf_exec *x;
    s = vf_exec_create(m->g, be, 1, &pd, &o, &x);
    double best = INFINITY;
    for (int k = 0; k <= steps && !s; k++) {
        s = vf_exec_run(x, 0);
        double sc, tot;
        vf_exec_last_times(x, 0, &sc, &tot);
        double dev = vf_program_last_gpu_seconds(vf_exec_captured(x, 0));
        if (k && !s && dev > 0 && 1 - dev / tot < best) best = 1 - dev / tot;
    }
    if (!s) *share = best;
    if (!s) vf_exec_destroy(x);
    vf_profile_enable(be, false);
    return s;
}

int cmd_bench_graph(int argc, char **argv) {
    const char *which = "all";
    int steps = 0, width = 512;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < argc) which = argv[++i];
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--width") && i + 1 < argc) width = atoi(argv[++i]);
        else {
            bool help = !strcmp(argv[i], "-h") || !strcmp(argv[i], "--help");
            fprintf(help ? stdout : stderr, "usage: vkflow bench graph [--backend cpu|vk|all] [--steps N] [--width W]\n");
            return help ? 0 : 2;
        }
    }
    if (width < 1 || steps < 0) {
        fprintf(stderr, "vkflow bench graph: --width must be >= 1 and --steps >= 0\n");
        return 2;
    }
    gan m;
    if (build(&m, width)) {
        fprintf(stderr, "vkflow bench graph: %s\n", vf_last_error());
        vf_graph_destroy(m.g);
        return 1;
    }
    printf("vkflow bench graph: 5x%d MLP GAN pair, batch %d, one step = d_step (WGAN-GP, lambda 10) + g_step\n",
           width, B);
    printf("graph: %d nodes; OPENBLAS_NUM_THREADS=%s\n\n", m.g->n,
           getenv("OPENBLAS_NUM_THREADS") ? getenv("OPENBLAS_NUM_THREADS") : "unset");
    printf("%-34s %-14s %10s %8s %8s %12s %12s %8s\n", "device", "mode", "step ms", "kernels", "groups",
           "act planned", "unplanned", "host %");
    int status = 0;
    for (int bi = 0; bi < 2; bi++) {
        if (bi == 0 && !strcmp(which, "vk")) continue;
        if (bi == 1 && !strcmp(which, "cpu")) continue;
        vf_backend *be = NULL;
        if (bi ? vf_vk_create(&be) : vf_cpu_create(&be)) {
            printf("%-34s unavailable: %s\n", bi ? "vk" : "cpu", vf_last_error());
            continue;
        }
        bool slow = bi && strstr(vf_backend_name(be), "llvmpipe");
        int n = steps ? steps : slow ? 1 : 5;
        char dev[64];
        snprintf(dev, sizeof dev, "%s %.28s", bi ? "vk" : "cpu", bi ? vf_backend_name(be) : "OpenBLAS");
        result r[2];
        memset(r, 0, sizeof r);
        double share = NAN;
        for (int mode = 0; mode < 2; mode++) {
            if (run_mode(&m, be, mode == 0, n, &r[mode])) {
                printf("%-34s %-14s failed: %s\n", dev, mode ? "op-by-op" : "replay+fused", vf_last_error());
                status = 1;
                continue;
            }
            if (mode == 0 && host_share(&m, be, n, &share)) {
                printf("%-34s host share failed: %s\n", dev, vf_last_error());
                status = 1;
            }
            const result *q = &r[mode];
            char hs[16];
            if (mode == 0 && !isnan(share)) snprintf(hs, sizeof hs, "%.1f", 100 * share);
            else snprintf(hs, sizeof hs, "-");
            printf("%-34s %-14s %10.2f %8d %8d %9.1f MiB %8.1f MiB %8s\n", dev, mode ? "op-by-op" : "replay+fused",
                   q->step_s * 1e3, q->d.kernels + q->gs.kernels, q->d.fused_groups + q->gs.fused_groups,
                   (double)(q->d.planned_bytes > q->gs.planned_bytes ? q->d.planned_bytes : q->gs.planned_bytes) / 1048576,
                   (double)(q->d.unplanned_bytes > q->gs.unplanned_bytes ? q->d.unplanned_bytes : q->gs.unplanned_bytes) / 1048576,
                   hs);
            fflush(stdout);
        }
        if (r[0].ok && r[1].ok) printf("%-34s replay+fused is %.2fx op-by-op\n", dev, r[1].step_s / r[0].step_s);
        vf_backend_destroy(be);
    }
    printf("\nact planned / unplanned: the larger program's activation arena with the liveness plan / with one\n"
           "buffer per value. host %%: share of a replayed d_step not covered by device timestamps (vk only).\n");
    vf_graph_destroy(m.g);
    return status;
}
