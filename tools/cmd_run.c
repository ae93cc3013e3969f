/* vkflow run CONFIG [--out DIR] [--resume]: the main job (ingest, train,
 * generate, evaluate) into a run directory (engine/train/pipeline.h); and
 * run_or_train(), which vkflow train shares. */
#include "commands.h"
#include "run_ui.h"
#include "train/par.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage_run(FILE *f) {
    fprintf(f, "usage: vkflow run CONFIG [--out DIR] [--resume] [--holdout F] [--set KEY=VALUE]...\n"
               "  CONFIG: a run configuration (docs/RUNNING.md; examples/*.cfg)\n"
               "  --out DIR: the run directory (default runs/<config name>); it gets the config copy,\n"
               "             encoder, per-chunk checkpoints, run.log, the synthetic trace, report.html\n"
               "             and metrics.json\n"
               "  --resume: continue an interrupted run in DIR from its last checkpoints\n"
               "  --holdout F: train on a seeded 5-tuple split holding out a fraction F of the flows\n"
               "             (0 < F <= 0.9, seed run.seed) and score against them: the honest,\n"
               "             out-of-sample number (same as --set run.holdout=F). Default: train on\n"
               "             everything and score in sample, which rewards copying\n"
               "  The report gives each metric's real-vs-real floor, the marginals baseline and a\n"
               "  verdict, and the distance to closest record (--set run.baselines=false: off)\n"
               "  --set KEY=VALUE: override a setting, e.g. --set optimizer.lr=2e-4 --set run.iterations=400\n"
               "             --set dims.batch=200 --set programs.d_step.optimizer.lr=1e-4 (docs/RUNNING.md,\n"
               "             \"Settings\": model file < run configuration < --set, the last --set wins)\n"
               "  Ctrl-C or SIGTERM checkpoints the current chunk and stops (exit status 130 or 143);\n"
               "  --resume continues it.\n");
}

static void usage_train(FILE *f) {
    fprintf(f, "usage: vkflow train CONFIG [--out DIR] [--resume] [--holdout F] [--set KEY=VALUE]...\n"
               "  trains the run configuration's model on every chunk into DIR (default\n"
               "  runs/<config name>); vkflow generate DIR then samples from it.\n"
               "  --resume: continue an interrupted training from its last checkpoints\n"
               "  --holdout F: train on the 5-tuple split that keeps a fraction 1-F (see vkflow run --help)\n"
               "  --set KEY=VALUE: override a setting (see vkflow run --help)\n");
}

/* runs/<basename of CONFIG without .cfg> */
void run_default_dir(const char *config, char *out, size_t cap) {
    const char *b = strrchr(config, '/');
    b = b ? b + 1 : config;
    size_t n = strlen(b);
    if (n > 4 && !strcmp(b + n - 4, ".cfg")) n -= 4;
    snprintf(out, cap, "runs/%.*s", (int)n, b);
}

static int run_ranked(const char *name, const char *config, const char *out, bool resume,
                      const char **sets, int n_sets, bool train_only);

/* vkflow run (train_only = false) and vkflow train (true): same arguments,
 * same run directory, the second stops before generation. */
int run_or_train(int argc, char **argv, bool train_only) {
    const char *name = train_only ? "vkflow train" : "vkflow run";
    void (*usage)(FILE *) = train_only ? usage_train : usage_run;
    const char *config = NULL, *out = NULL;
    bool resume = false;
    const char *sets[VF_RUN_MAX_SETTINGS];
    int n_sets = 0;
    char holdout[300];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--resume")) resume = true;
        else if (!strcmp(argv[i], "--set") && i + 1 < argc) {
            if (n_sets == VF_RUN_MAX_SETTINGS) { fprintf(stderr, "%s: too many --set\n", name); return 2; }
            sets[n_sets++] = argv[++i];
        } else if (!strcmp(argv[i], "--holdout") && i + 1 < argc) {
            /* a run setting like any other: kept in overrides.txt, so --resume keeps the split */
            if (n_sets == VF_RUN_MAX_SETTINGS) { fprintf(stderr, "%s: too many --set\n", name); return 2; }
            snprintf(holdout, sizeof holdout, "run.holdout=%.280s", argv[++i]);
            sets[n_sets++] = holdout;
        }
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "%s: unknown or incomplete option '%s'\n", name, argv[i]);
            usage(stderr);
            return 2;
        } else if (!config) config = argv[i];
        else { fprintf(stderr, "%s: unexpected argument '%s'\n", name, argv[i]); return 2; }
    }
    if (!config) { usage(stderr); return 2; }
    /* under mpirun: one of several ranks (engine/train/par.h); rank 0 alone
     * prints, the others' messages reach it through the pipeline */
    if (vf_par_init() != VF_OK) {
        if (vf_par_launch_rank() == 0) fprintf(stderr, "%s: %s\n", name, vf_last_error());
        return 1;
    }
    int st_code = run_ranked(name, config, out, resume, sets, n_sets, train_only);
    vf_par_finalize();
    return st_code;
}

static int run_ranked(const char *name, const char *config, const char *out, bool resume,
                      const char **sets, int n_sets, bool train_only) {
    bool quiet = vf_par_rank() > 0;
    char dir[4096];
    if (out) snprintf(dir, sizeof dir, "%s", out);
    else run_default_dir(config, dir, sizeof dir);
    vf_run_config *rc = malloc(sizeof *rc);
    if (!rc) { fprintf(stderr, "%s: out of memory\n", name); return 1; }
    if (vf_run_config_load_with(config, sets, n_sets, rc) != VF_OK) {
        if (!quiet) fprintf(stderr, "%s: %s\n", name, vf_last_error());
        free(rc);
        return 1;
    }
    run_ui ui;
    run_ui_init(&ui, name);
    vf_pipeline_opts o = {0};
    o.run_dir = dir;
    o.resume = resume;
    o.stop = run_ui_stop_flag();
    o.on_event = run_ui_event;
    o.user = &ui;
    bool stopped = false;
    char report[4096] = "";
    vf_status st = train_only ? vf_pipeline_train(rc, &o, &stopped)
                              : vf_pipeline_run(rc, &o, &stopped, report);
    run_ui_newline(&ui);
    free(rc);
    if (quiet) return st ? 1 : stopped ? run_ui_stop_status() : 0;
    if (st) {
        char log[4200];
        snprintf(log, sizeof log, "%s/run.log", dir);
        fprintf(stderr, "%s: %s\n", name, vf_last_error());
        if (access(log, F_OK) == 0) fprintf(stderr, "(the log is %s)\n", log);
        return 1;
    }
    if (stopped) {
        char launch[64] = "";
        if (vf_par_size() > 1) snprintf(launch, sizeof launch, "mpirun -n %d ", vf_par_size());
        fprintf(stderr, "%s: stopped by %s; the checkpoints are in %s. Continue with:\n  %s%s %s --out %s --resume\n",
                name, run_ui_signal_name(run_ui_stop_signal()), dir, launch, name, config, dir);
        return run_ui_stop_status();
    }
    if (train_only) {
        printf("trained: %s (generate with: vkflow generate %s --out FILE)\n", dir, dir);
        return 0;
    }
    if (report[0]) printf("report: %s\n", report);
    printf("run directory: %s (synthetic trace, metrics.json, run.log)\n", dir);
    return 0;
}

int cmd_run(int argc, char **argv) { return run_or_train(argc, argv, false); }
