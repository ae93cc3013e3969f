/* vkflow graph FILE [--program NAME] --dot: Graphviz DOT of a compiled
 * program (forward, backward and second-order nodes after dead-code
 * elimination) on stdout. */
#include "commands.h"
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_graph(int argc, char **argv) {
    const char *file = NULL, *prog = NULL;
    bool dot = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: vkflow graph FILE [--program NAME] --dot\n"
                   "  Graphviz DOT of a model's compiled program on stdout (forward, backward and\n"
                   "  second-order nodes after dead-code elimination)\n"
                   "  --program NAME: the program to show (default: the model's first)\n");
            return 0;
        } else if (!strcmp(argv[i], "--dot")) dot = true;
        else if (!strcmp(argv[i], "--program") && i + 1 < argc) prog = argv[++i];
        else if (argv[i][0] != '-' && !file) file = argv[i];
        else {
            fprintf(stderr, "vkflow graph: unexpected argument '%s'\n", argv[i]);
            file = NULL;
            break;
        }
    }
    if (!file || !dot) {
        fprintf(stderr, "usage: vkflow graph FILE [--program NAME] --dot\n");
        return 2;
    }
    vf_model *m;
    /* as vkflow check: without data, one placeholder head per segment table */
    vf_model_env env = {.placeholder_heads = true};
    if (vf_model_load_env(file, &env, &m)) {
        fprintf(stderr, "%s\n", vf_last_error());
        return 1;
    }
    vf_graph *g = vf_model_graph(m);
    int np;
    const vf_prog_desc *progs = vf_model_programs(m, &np);
    int p = np ? 0 : -1;
    if (prog) {
        p = -1;
        for (int i = 0; i < np; i++)
            if (!strcmp(progs[i].name, prog)) p = i;
    }
    if (np == 0) {
        fprintf(stderr, "%s: the model declares no programs (programs = ( { name = \"train_step\"; loss = ...; "
                        "update = [...]; } ); dsl/README.md, \"programs\")\n", file);
        vf_model_destroy(m);
        return 1;
    }
    if (p < 0) {
        fprintf(stderr, "%s: no program '%s'; programs:", file, prog ? prog : "");
        for (int i = 0; i < np; i++) fprintf(stderr, " %s", progs[i].name);
        fprintf(stderr, "\n");
        vf_model_destroy(m);
        return 1;
    }
    /* the program's live nodes: ancestors of its outputs and updates */
    bool *keep = calloc((size_t)g->n + 1, 1);
    if (!keep) {
        vf_model_destroy(m);
        return 1;
    }
    const vf_prog_desc *d = &progs[p];
    for (int k = 0; k < d->n_out; k++) keep[d->outs[k]] = true;
    for (int k = 0; k < d->n_upd; k++) keep[d->upd_param[k]] = keep[d->upd_grad[k]] = true;
    for (int i = g->n - 1; i >= 0; i--)
        if (keep[i])
            for (int k = 0; k < g->nodes[i].n_in; k++) keep[g->nodes[i].in[k]] = true;
    vf_graph_dot(g, keep, d->name, stdout);
    free(keep);
    vf_model_destroy(m);
    return 0;
}
