/* vkflow baseline split|marginals: reference traces that give the metrics a
 * scale (engine/eval/eval.h, docs/EVALUATION.md). */
#include "commands.h"
#include "eval/eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: vkflow baseline split [--seed N] REAL OUT_A OUT_B\n"
               "       vkflow baseline marginals [--seed N] REAL OUT\n"
               "  split: each 5-tuple with all its records goes to A or B (p = 1/2, seeded);\n"
               "         `vkflow eval A B` is the noise floor\n"
               "  marginals: as many records as REAL, every field drawn independently from its\n"
               "         real marginal; `vkflow eval REAL OUT` keeps single-field metrics low\n"
               "         and shows what the cross-field metrics look like without correlations\n"
               "  outputs are written by extension (.pcap for packets, .csv for flows); seed 0\n"
               "  by default\n");
}

int cmd_baseline(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *mode = argv[1];
    bool split = !strcmp(mode, "split");
    if (!split && strcmp(mode, "marginals")) {
        fprintf(stderr, "vkflow baseline: unknown baseline '%s' (split or marginals)\n", mode);
        return 2;
    }
    uint64_t seed = 0;
    const char *pos[3] = {NULL, NULL, NULL};
    int np = 0, want = split ? 3 : 2;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            char *end;
            seed = strtoull(argv[++i], &end, 0);
            if (*end || !*argv[i]) {
                fprintf(stderr, "vkflow baseline: --seed '%s' is not a number\n", argv[i]);
                return 2;
            }
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "vkflow baseline: unknown or incomplete option '%s'\n", argv[i]);
            return 2;
        } else if (np < want) pos[np++] = argv[i];
        else { fprintf(stderr, "vkflow baseline: unexpected argument '%s'\n", argv[i]); return 2; }
    }
    if (np != want) { usage(stderr); return 2; }
    vf_trace real, a, b;
    vf_read_options opt = {0};
    if (vf_trace_read(pos[0], &opt, &real) != VF_OK) {
        fprintf(stderr, "vkflow baseline: %s\n", vf_last_error());
        return 1;
    }
    int rc = 0;
    if (split) {
        if (vf_baseline_split(&real, seed, &a, &b) != VF_OK) {
            fprintf(stderr, "vkflow baseline: %s\n", vf_last_error());
            vf_trace_free(&real);
            return 1;
        }
        if (vf_trace_write(pos[1], &a) != VF_OK || vf_trace_write(pos[2], &b) != VF_OK) {
            fprintf(stderr, "vkflow baseline: %s\n", vf_last_error());
            rc = 1;
        } else {
            printf("split (seed %llu): %s: %zu records; %s: %zu records\n",
                   (unsigned long long)seed, pos[1], a.n, pos[2], b.n);
        }
        vf_trace_free(&a);
        vf_trace_free(&b);
    } else {
        if (vf_baseline_marginals(&real, seed, &a) != VF_OK) {
            fprintf(stderr, "vkflow baseline: %s\n", vf_last_error());
            vf_trace_free(&real);
            return 1;
        }
        if (vf_trace_write(pos[1], &a) != VF_OK) {
            fprintf(stderr, "vkflow baseline: %s\n", vf_last_error());
            rc = 1;
        } else {
            printf("marginals (seed %llu): %s: %zu records\n", (unsigned long long)seed, pos[1], a.n);
        }
        vf_trace_free(&a);
    }
    vf_trace_free(&real);
    return rc;
}
