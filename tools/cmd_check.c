/* vkflow check FILE: validates a model description and prints a one-screen
 * summary: programs, parameter count, activation memory planned vs
 * unplanned, kernels after fusion. Exit 0 when valid, 1 otherwise. */
#include "commands.h"
#include "model.h"
#include "settings.h"
#include "train/trainer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Activation offsets are planned with 256-byte alignment (Vulkan's largest
 * common minStorageBufferOffsetAlignment); the cpu backend needs less. */
#define CHECK_ALIGN 256

int cmd_check(int argc, char **argv) {
    enum { MAX_SET = 64 };
    vf_setting sets[MAX_SET];
    char text[MAX_SET][2][256], origin[MAX_SET][300];
    int n_set = 0;
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: vkflow check FILE [--set KEY=VALUE]...\n"
                   "  FILE: a model description (man 5 vkflow-model); prints its programs with their\n"
                   "  optimizers, transforms and EMAs, parameter count, activation memory and kernels\n"
                   "  after fusion; exit 0 when the model and its driver's settings are valid\n"
                   "  --set KEY=VALUE: override a model setting first, e.g. --set optimizer.lr=2e-4\n");
            return 0;
        } else if (!strcmp(argv[i], "--set") && i + 1 < argc && n_set < MAX_SET) {
            i++;
            if (!vf_setting_split(argv[i], text[n_set][0], 256, text[n_set][1], 256)) {
                fprintf(stderr, "--set %s: expected KEY=VALUE, e.g. --set optimizer.lr=2e-4\n", argv[i]);
                return 2;
            }
            snprintf(origin[n_set], sizeof origin[n_set], "--set %.280s", argv[i]);
            sets[n_set] = (vf_setting){text[n_set][0], text[n_set][1], origin[n_set]};
            n_set++;
        } else if (argv[i][0] != '-' && !file) {
            file = argv[i];
        } else {
            file = NULL;
            break;
        }
    }
    if (!file) {
        fprintf(stderr, "usage: vkflow check FILE [--set KEY=VALUE]...\n");
        return 2;
    }
    argv[1] = (char *)file;
    vf_model *m;
    /* `heads` layers take their segment tables from the data's encoder; without
     * data each becomes one sigmoid head of the same width */
    vf_model_env env = {.placeholder_heads = true, .settings = sets, .n_settings = n_set};
    if (vf_model_load_env(file, &env, &m)) {
        fprintf(stderr, "%s\n", vf_last_error());
        return 1;
    }
    /* the driver reads its settings; a training key nobody reads is an error */
    if (strcmp(vf_model_algorithm(m), "none") && vf_driver_check(m)) {
        fprintf(stderr, "%s\n", vf_last_error());
        vf_model_destroy(m);
        return 1;
    }
    vf_graph *g = vf_model_graph(m);
    int np;
    const vf_prog_desc *progs = vf_model_programs(m, &np);
    vf_prog_stats *fused = calloc((size_t)np + 1, sizeof *fused), *plain = calloc((size_t)np + 1, sizeof *plain);
    if (!fused || !plain || vf_exec_analyze(g, np, progs, true, CHECK_ALIGN, fused) ||
        vf_exec_analyze(g, np, progs, false, CHECK_ALIGN, plain)) {
        fprintf(stderr, "%s: %s\n", argv[1], vf_last_error());
        free(fused);
        free(plain);
        vf_model_destroy(m);
        return 1;
    }
    int64_t params = 0;
    int nparam = 0;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == VF_G_PARAM) {
            params += vf_gnode_numel(&g->nodes[i]);
            nparam++;
        }
    const char *alg = vf_model_algorithm(m);
    printf("%s: ok\n", argv[1]);
    bool steps_set;
    int64_t steps = vf_model_steps(m, &steps_set);
    printf("algorithm   %s", alg);
    if (steps_set) printf(", %lld iterations (training.steps; a run's run.iterations wins)", (long long)steps);
    printf("\n");
    for (int i = 0; i < np; i++) {
        const vf_prog_desc *d = &progs[i];
        if (!d->n_upd) {
            printf("  %-12s forward only, %d outputs%s\n", d->name, d->n_out, d->ema_weights ? ", EMA weights" : "");
            continue;
        }
        const vf_optimizer_config *o = &d->opt;
        int n_ema = 0;
        for (int u = 0; u < d->n_upd; u++) n_ema += d->upd_ema[u] > 0;
        printf("  %-12s minimises %s over %d tensors: %s lr %g", d->name, g->nodes[d->outs[0]].name, d->n_upd,
               vf_opt_kind_name(o->kind), (double)o->lr);
        if (o->kind != VF_OPT_SGD) printf(" betas %g %g", (double)o->beta1, (double)o->beta2);
        else printf(" momentum %g", (double)o->momentum);
        if (o->weight_decay > 0) printf(" weight_decay %g", (double)o->weight_decay);
        if (o->warmup_steps || o->schedule != VF_LR_CONSTANT)
            printf(", %s schedule (warm-up %lld, decay %lld)", vf_lr_schedule_name(o->schedule), (long long)o->warmup_steps,
                   (long long)o->decay_steps);
        for (int k = 0; k < d->n_transforms; k++)
            printf(", %s %g", vf_grad_transform_name(d->transforms[k].kind), (double)d->transforms[k].max_norm);
        if (n_ema) printf(", EMA on %d tensors", n_ema);
        printf("\n");
    }
    printf("\nparameters  %lld in %d tensors (%.1f KiB)\n", (long long)params, nparam, (double)params * 4 / 1024);
    printf("graph       %d nodes (forward, backward and second-order together)\n\n", g->n);
    printf("%-12s %6s %6s %8s %8s %7s %12s %12s\n", "program", "nodes", "ew", "kernels", "unfused", "groups",
           "act planned", "unplanned");
    for (int i = 0; i < np; i++)
        printf("%-12s %6d %6d %8d %8d %7d %9.1f KiB %8.1f KiB\n", progs[i].name, fused[i].nodes, fused[i].ew_nodes,
               fused[i].kernels, plain[i].kernels, fused[i].fused_groups, (double)fused[i].planned_bytes / 1024,
               (double)plain[i].unplanned_bytes / 1024);
    printf("\nkernels: engine calls per run after fusion; unfused: one per node; groups: fused elementwise\n"
           "kernels with more than one node; planned: liveness plan, unplanned: one buffer per value, unfused\n");
    free(fused);
    free(plain);
    vf_model_destroy(m);
    return 0;
}
