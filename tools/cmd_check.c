/* vkflow check FILE: validates a model description and prints a one-screen
 * summary: programs, parameter count, activation memory planned vs
 * unplanned, kernels after fusion. Exit 0 when valid, 1 otherwise. */
#include "commands.h"
#include "dsl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Activation offsets are planned with 256-byte alignment (Vulkan's largest
 * common minStorageBufferOffsetAlignment); the cpu backend needs less. */
#define CHECK_ALIGN 256

int cmd_check(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: vkflow check FILE\n");
        return 2;
    }
    vf_model *m;
    /* `heads` layers take their segment tables from the data's encoder; without
     * data each becomes one sigmoid head of the same width */
    vf_model_env env = {.placeholder_heads = true};
    if (vf_model_load_env(argv[1], &env, &m)) {
        fprintf(stderr, "%s\n", vf_last_error());
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
    bool runs = !strcmp(alg, "supervised") || !strcmp(alg, "wgan_gp") || !strcmp(alg, "none");
    printf("algorithm   %s%s", alg, runs ? "" : " (not implemented yet: supervised and wgan_gp run)");
    if (!strcmp(alg, "supervised")) printf(", %d steps, seed %llu", vf_model_steps(m), (unsigned long long)vf_model_seed(m));
    if (!strcmp(alg, "wgan_gp"))
        printf(", %d d_step + %d g_step per iteration, %d iterations", vf_model_d_steps(m), vf_model_g_steps(m),
               vf_model_steps(m));
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
