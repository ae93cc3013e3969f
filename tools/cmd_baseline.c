/* vkflow baseline split|marginals: reference traces that give the metrics a
 * scale (engine/eval/eval.h, docs/EVALUATION.md). */
#include "commands.h"
#include "eval/eval.h"

#include <math.h>
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
               "  by default\n"
               "       vkflow baseline floors [--seeds K] REAL\n"
               "  both baselines in memory for seeds 0..K-1 (default 10), scored as above;\n"
               "  prints a markdown table: seed 0 and min-max over seeds of every metric\n"
               "  (JSD in nats, EMD normalised)\n");
}

/* One row per metric: JSD nats (valid ones) then normalised EMD. */
#define MAXM (VF_JSD_COUNT + VF_EMD_COUNT)
typedef struct stat3 { double first, lo, hi; int n; } stat3;

static void acc(stat3 *s, double v) {
    if (isnan(v)) return;
    if (!s->n) { s->first = s->lo = s->hi = v; }
    if (v < s->lo) s->lo = v;
    if (v > s->hi) s->hi = v;
    s->n++;
}

static void collect(const vf_eval_result *r, stat3 *m) {
    for (int j = 0; j < VF_JSD_COUNT; j++)
        if (r->jsd[j].valid) acc(&m[j], r->jsd[j].v.nats);
    for (int j = 0; j < VF_EMD_COUNT; j++)
        if (r->emd[j].valid) acc(&m[VF_JSD_COUNT + j], r->emd[j].norm);
}

static int floors(const vf_trace *real, int seeds, const char *path) {
    stat3 sp[MAXM], mg[MAXM];
    memset(sp, 0, sizeof sp);
    memset(mg, 0, sizeof mg);
    vf_eval_result *r = malloc(sizeof *r);
    if (!r) { fprintf(stderr, "vkflow baseline: out of memory\n"); return 1; }
    size_t a0 = 0, b0 = 0;
    for (int s = 0; s < seeds; s++) {
        vf_trace a, b, m;
        if (vf_baseline_split(real, (uint64_t)s, &a, &b) != VF_OK ||
            vf_eval_compare(&a, &b, r) != VF_OK) {
            fprintf(stderr, "vkflow baseline: %s\n", vf_last_error());
            free(r);
            return 1;
        }
        if (s == 0) { a0 = a.n; b0 = b.n; }
        collect(r, sp);
        vf_trace_free(&a);
        vf_trace_free(&b);
        if (vf_baseline_marginals(real, (uint64_t)s, &m) != VF_OK ||
            vf_eval_compare(real, &m, r) != VF_OK) {
            fprintf(stderr, "vkflow baseline: %s\n", vf_last_error());
            free(r);
            return 1;
        }
        collect(r, mg);
        vf_trace_free(&m);
    }
    free(r);
    printf("%s: %zu records; split seed 0: A %zu, B %zu records; seeds 0..%d\n\n", path, real->n,
           a0, b0, seeds - 1);
    printf("| metric | split (seed 0) | split min-max | marginals (seed 0) | marginals min-max |\n"
           "|---|---:|---:|---:|---:|\n");
    for (int j = 0; j < MAXM; j++) {
        if (!sp[j].n && !mg[j].n) continue;
        if (j < VF_JSD_COUNT) printf("| %s JSD nats ", vf_eval_jsd_name(j));
        else printf("| %s norm EMD ", vf_eval_emd_name(j - VF_JSD_COUNT));
        printf("| %.4g | %.4g - %.4g | %.4g | %.4g - %.4g |\n", sp[j].first, sp[j].lo, sp[j].hi,
               mg[j].first, mg[j].lo, mg[j].hi);
    }
    return 0;
}

int cmd_baseline(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *mode = argv[1];
    bool split = !strcmp(mode, "split"), fl = !strcmp(mode, "floors");
    if (!split && !fl && strcmp(mode, "marginals")) {
        fprintf(stderr, "vkflow baseline: unknown baseline '%s' (split or marginals)\n", mode);
        return 2;
    }
    uint64_t seed = 0;
    int seeds = 10;
    const char *pos[3] = {NULL, NULL, NULL};
    int np = 0, want = split ? 3 : fl ? 1 : 2;
    for (int i = 2; i < argc; i++) {
        if (fl && !strcmp(argv[i], "--seeds") && i + 1 < argc) {
            seeds = atoi(argv[++i]);
            if (seeds < 1 || seeds > 1000) {
                fprintf(stderr, "vkflow baseline: --seeds wants 1..1000, not '%s'\n", argv[i]);
                return 2;
            }
        } else if (!fl && !strcmp(argv[i], "--seed") && i + 1 < argc) {
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
    if (fl) {
        rc = floors(&real, seeds, pos[0]);
    } else if (split) {
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
