/* vkflow baseline split|marginals: reference traces that give the metrics a
 * scale (engine/eval/eval.h, docs/EVALUATION.md). */
#include "commands.h"
#include "eval/eval.h"
#include "train/privacy.h"

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
               "       vkflow baseline marginals --epsilon E [--delta D] [--unit record|flow]\n"
               "                [--flow-records M] [--time-window START,END] [--labels A,B,..]\n"
               "                [--threshold T] [--seed N] REAL OUT\n"
               "  the same, (E, D)-differentially private (docs/PRIVACY.md): every field's\n"
               "         histogram over a fixed public domain released with Gaussian noise\n"
               "         calibrated by the accountant, then sampled; as many records as the\n"
               "         noisy record count. --delta 1e-5 by default. --unit record (default)\n"
               "         protects one record; flow protects a 5-tuple's records, of which the\n"
               "         first M (--flow-records, default 1) are used. --time-window: the\n"
               "         public time span in seconds since the epoch (default: the trace's\n"
               "         first and last timestamps, then assumed public). --labels: the\n"
               "         public label vocabulary (default: no label released). Noisy counts\n"
               "         below T noise stds (default 3) are dropped\n"
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

/* "A,B" as two numbers. */
static bool two_numbers(const char *s, double *a, double *b) {
    char *end;
    *a = strtod(s, &end);
    if (end == s || *end != ',') return false;
    const char *p = end + 1;
    *b = strtod(p, &end);
    return end != p && !*end && isfinite(*a) && isfinite(*b);
}

typedef struct dp_args {
    double epsilon, delta, threshold, t0, t1;
    bool flow, window;
    int flow_records;
    char *labels;    /* comma-separated, NULL: none */
} dp_args;

static int dp_marginals(const vf_trace *real, const dp_args *a, uint64_t seed, const char *out_path) {
    const char *names[256];
    int n_names = 0;
    if (a->labels) {
        for (char *t = strtok(a->labels, ","); t; t = strtok(NULL, ",")) {
            if (n_names == 256) {
                fprintf(stderr, "vkflow baseline: --labels: more than 256 labels\n");
                return 2;
            }
            names[n_names++] = t;
        }
    }
    vf_dp_marginals_opts o = {0};
    o.max_records_per_unit = a->flow ? a->flow_records : 0;
    o.threshold = a->threshold;
    if (a->window) {
        o.t_start_ns = (int64_t)(a->t0 * 1e9);
        o.t_end_ns = (int64_t)(a->t1 * 1e9);
    }
    o.labels = n_names ? names : NULL;
    o.n_labels = n_names;
    int releases = vf_baseline_marginals_dp_releases(real->kind, real->kind == VF_TRACE_FLOWS ? n_names : 0);
    if (vf_rdp_calibrate_gaussian(releases, a->delta, a->epsilon, &o.sigma) != VF_OK) {
        fprintf(stderr, "vkflow baseline: %s\n", vf_last_error());
        return 1;
    }
    /* what the release spends, by the accountant */
    vf_rdp r;
    vf_rdp_init_wide(&r);
    vf_rdp_add_gaussian(&r, o.sigma, releases);
    double order, spent = vf_rdp_epsilon(&r, a->delta, &order);
    vf_trace out;
    vf_dp_marginals_info info;
    if (vf_baseline_marginals_dp(real, &o, seed, &out, &info) != VF_OK) {
        fprintf(stderr, "vkflow baseline: %s\n", vf_last_error());
        return 1;
    }
    int rc = 0;
    if (vf_trace_write(out_path, &out) != VF_OK) {
        fprintf(stderr, "vkflow baseline: %s\n", vf_last_error());
        rc = 1;
    } else {
        printf("DP marginals (seed %llu): %s: %zu records\n", (unsigned long long)seed, out_path, out.n);
        printf("epsilon %.10g at delta %g (accountant: %d Gaussian releases, noise multiplier %.10g, "
               "order %g; target %g)\n", spent, a->delta, releases, o.sigma, order, a->epsilon);
        printf("unit: %s; %zu of %zu records used; noise std per count %.4g; noisy record count %.1f; "
               "time window %.3f..%.3f s\n",
               a->flow ? "flow (5-tuple)" : "record", info.records_used, real->n, info.noise_std,
               info.noisy_count, info.t_start_ns / 1e9, info.t_end_ns / 1e9);
        if (!a->window)
            printf("note: the time window is the trace's own first and last timestamps, assumed public; "
                   "give --time-window to use a public one\n");
    }
    vf_trace_free(&out);
    return rc;
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
    dp_args dp = {NAN, 1e-5, 3, 0, 0, false, false, 1, NULL};
    bool marg = !split && !fl;
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
        } else if (marg && i + 1 < argc &&
                   (!strcmp(argv[i], "--epsilon") || !strcmp(argv[i], "--delta") || !strcmp(argv[i], "--threshold") ||
                    !strcmp(argv[i], "--flow-records"))) {
            const char *o = argv[i];
            char *end;
            double v = strtod(argv[++i], &end);
            if (*end || !*argv[i] || !isfinite(v)) {
                fprintf(stderr, "vkflow baseline: %s '%s' is not a number\n", o, argv[i]);
                return 2;
            }
            if (!strcmp(o, "--epsilon")) dp.epsilon = v;
            else if (!strcmp(o, "--delta")) dp.delta = v;
            else if (!strcmp(o, "--threshold")) dp.threshold = v;
            else if (v < 1 || v > 1e6 || v != floor(v)) {
                fprintf(stderr, "vkflow baseline: --flow-records wants a whole number in 1..1000000, not '%s'\n",
                        argv[i]);
                return 2;
            } else dp.flow_records = (int)v;
        } else if (marg && !strcmp(argv[i], "--unit") && i + 1 < argc) {
            i++;
            if (strcmp(argv[i], "record") && strcmp(argv[i], "flow")) {
                fprintf(stderr, "vkflow baseline: --unit is record or flow, not '%s'\n", argv[i]);
                return 2;
            }
            dp.flow = !strcmp(argv[i], "flow");
        } else if (marg && !strcmp(argv[i], "--time-window") && i + 1 < argc) {
            if (!two_numbers(argv[++i], &dp.t0, &dp.t1) || !(dp.t1 > dp.t0)) {
                fprintf(stderr, "vkflow baseline: --time-window wants START,END in seconds, START < END, not '%s'\n",
                        argv[i]);
                return 2;
            }
            dp.window = true;
        } else if (marg && !strcmp(argv[i], "--labels") && i + 1 < argc) {
            dp.labels = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "vkflow baseline: unknown or incomplete option '%s'\n", argv[i]);
            return 2;
        } else if (np < want) pos[np++] = argv[i];
        else { fprintf(stderr, "vkflow baseline: unexpected argument '%s'\n", argv[i]); return 2; }
    }
    if (np != want) { usage(stderr); return 2; }
    bool dp_opts = dp.delta != 1e-5 || dp.threshold != 3 || dp.flow || dp.window || dp.labels || dp.flow_records != 1;
    if (marg && isnan(dp.epsilon) && dp_opts) {
        fprintf(stderr, "vkflow baseline: --delta, --unit, --flow-records, --time-window, --labels and --threshold "
                "need --epsilon\n");
        return 2;
    }
    if (marg && !isnan(dp.epsilon)) {
        if (!(dp.epsilon > 0)) {
            fprintf(stderr, "vkflow baseline: --epsilon must be > 0, not %g\n", dp.epsilon);
            return 2;
        }
        if (!(dp.delta > 0 && dp.delta < 1)) {
            fprintf(stderr, "vkflow baseline: --delta must be in (0, 1), not %g\n", dp.delta);
            return 2;
        }
        if (!(dp.threshold >= 0)) {
            fprintf(stderr, "vkflow baseline: --threshold must be >= 0, not %g\n", dp.threshold);
            return 2;
        }
        if (dp.flow_records != 1 && !dp.flow) {
            fprintf(stderr, "vkflow baseline: --flow-records needs --unit flow\n");
            return 2;
        }
    }
    vf_trace real, a, b;
    vf_read_options opt = {0};
    if (vf_trace_read(pos[0], &opt, &real) != VF_OK) {
        fprintf(stderr, "vkflow baseline: %s\n", vf_last_error());
        return 1;
    }
    int rc = 0;
    if (marg && !isnan(dp.epsilon)) {
        rc = dp_marginals(&real, &dp, seed, pos[1]);
    } else if (fl) {
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
