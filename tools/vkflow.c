/* vkflow: the command-line entry point. */
#include "commands.h"
#include "train/par.h"

#include <stdio.h>
#include <string.h>

static const vf_command commands[] = {
    {"run", "CONFIG [--out DIR] [--resume] [--set K=V]..", "the main job: train on a trace, generate, evaluate, report", cmd_run},
    {"train", "CONFIG [--out DIR] [--resume] [--set K=V]..", "train a run configuration's model on every chunk", cmd_train},
    {"generate", "RUN_DIR [--count N] --out FILE", "synthetic trace from a trained run directory", cmd_generate},
    {"compare", "CONFIG --models A,B --out DIR [--holdout] ..", "one run per model file, scored beside floor and marginals", cmd_compare},
    {"devices", "", "list Vulkan devices and the one vkflow would choose", cmd_devices},
    {"bench", "ops|graph|train|gan|eval|ingest [ARGS]", "benchmarks (docs/BENCHMARKS.md)", cmd_bench},
    {"inspect", "[--strict] TRACE", "summary of a pcap/pcapng or flow CSV", cmd_inspect},
    {"convert", "[--strict] [--layout L] IN OUT", "pcap->flow csv, pcap->pcap, csv->csv", cmd_convert},
    {"eval", "REAL SYN [--json F] [--html F]", "fidelity metrics of a synthetic trace vs a real one", cmd_eval},
    {"baseline", "split|marginals|floors [--seed N] REAL ..", "reference traces for eval: noise floor, marginals", cmd_baseline},
    {"privacy", "--q Q --steps N --delta D --sigma|--epsilon X", "DP budget: epsilon for a noise multiplier, or the reverse", cmd_privacy},
    {"check", "FILE [--set K=V]..", "validate a model and its driver's settings; programs, memory, kernels", cmd_check},
    {"graph", "FILE [--program NAME] --dot", "Graphviz DOT of a compiled program", cmd_graph},
};
#define N_COMMANDS (int)(sizeof commands / sizeof commands[0])

#ifndef VKFLOW_VERSION
#define VKFLOW_VERSION "unknown"
#endif
#ifndef VKFLOW_GIT_DESCRIBE
#define VKFLOW_GIT_DESCRIBE ""
#endif

static void usage(FILE *f) {
    fprintf(f, "usage: vkflow COMMAND [ARGS]\n"
               "       vkflow help COMMAND     a command's usage (also: vkflow COMMAND --help)\n"
               "       vkflow --version\n\ncommands:\n");
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-9s %-46s %s\n", commands[i].name, commands[i].args, commands[i].summary);
    fprintf(f, "\nenvironment: VKFLOW_DEVICE=<index|name> picks the Vulkan device, "
               "VKFLOW_VALIDATE=1 turns on the validation layer\n"
               "manual: man vkflow, man 5 vkflow-run, man 5 vkflow-model\n");
}

static const vf_command *find_command(const char *name) {
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(name, commands[i].name)) return &commands[i];
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        (!strcmp(argv[1], "help") && argc == 2)) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        if (VKFLOW_GIT_DESCRIBE[0]) printf("vkflow %s (git %s)\n", VKFLOW_VERSION, VKFLOW_GIT_DESCRIBE);
        else printf("vkflow %s\n", VKFLOW_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "help")) {
        /* vkflow help COMMAND [SUBJECT]: the command's own --help */
        const vf_command *c = find_command(argv[2]);
        if (!c || argc > 4) {
            if (!c) fprintf(stderr, "vkflow help: unknown command '%s'\n\n", argv[2]);
            usage(stderr);
            return 2;
        }
        char help[] = "--help";
        char *sub[4] = {argv[2], argc == 4 ? argv[3] : help, argc == 4 ? help : NULL, NULL};
        return c->fn(argc == 4 ? 3 : 2, sub);
    }
    const vf_command *c = find_command(argv[1]);
    if (c && vf_par_launch_size() > 1 && c->fn != cmd_run && c->fn != cmd_train) {
        /* under mpirun every rank would do the same work into the same files */
        if (vf_par_launch_rank() == 0)
            fprintf(stderr, "vkflow %s: started as one of %d processes (mpirun); only vkflow run and vkflow train "
                    "share their work across MPI ranks: run this one without mpirun\n", c->name, vf_par_launch_size());
        return 2;
    }
    if (c) return c->fn(argc - 1, argv + 1);
    fprintf(stderr, "vkflow: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
