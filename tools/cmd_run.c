/* vkflow run CONFIG [--out DIR] [--resume]: the main job (ingest, train,
 * generate, evaluate) into a run directory (engine/train/pipeline.h). */
#include "commands.h"
#include "run_ui.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: vkflow run CONFIG [--out DIR] [--resume]\n"
               "  CONFIG: a run configuration (docs/RUNNING.md; examples/*.cfg)\n"
               "  --out DIR: the run directory (default runs/<config name>); it gets the config copy,\n"
               "             encoder, per-chunk checkpoints, run.log, the synthetic trace, report.html\n"
               "             and metrics.json\n"
               "  --resume: continue an interrupted run in DIR from its last checkpoints\n"
               "  Ctrl-C checkpoints the current chunk and stops; --resume continues it.\n");
}

/* runs/<basename of CONFIG without .cfg> */
void run_default_dir(const char *config, char *out, size_t cap) {
    const char *b = strrchr(config, '/');
    b = b ? b + 1 : config;
    size_t n = strlen(b);
    if (n > 4 && !strcmp(b + n - 4, ".cfg")) n -= 4;
    snprintf(out, cap, "runs/%.*s", (int)n, b);
}

int cmd_run(int argc, char **argv) {
    const char *config = NULL, *out = NULL;
    bool resume = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--resume")) resume = true;
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "vkflow run: unknown or incomplete option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (!config) config = argv[i];
        else { fprintf(stderr, "vkflow run: unexpected argument '%s'\n", argv[i]); return 2; }
    }
    if (!config) { usage(stderr); return 2; }
    char dir[4096];
    if (out) snprintf(dir, sizeof dir, "%s", out);
    else run_default_dir(config, dir, sizeof dir);
    vf_run_config *rc = malloc(sizeof *rc);
    if (!rc) { fprintf(stderr, "vkflow run: out of memory\n"); return 1; }
    if (vf_run_config_load(config, rc) != VF_OK) {
        fprintf(stderr, "vkflow run: %s\n", vf_last_error());
        free(rc);
        return 1;
    }
    run_ui ui;
    run_ui_init(&ui, "vkflow run");
    vf_pipeline_opts o = {0};
    o.run_dir = dir;
    o.resume = resume;
    o.stop = run_ui_stop_flag();
    o.on_event = run_ui_event;
    o.user = &ui;
    bool stopped = false;
    char report[4096] = "";
    vf_status st = vf_pipeline_run(rc, &o, &stopped, report);
    run_ui_newline(&ui);
    free(rc);
    if (st) {
        fprintf(stderr, "vkflow run: %s\n(the log is %s/run.log)\n", vf_last_error(), dir);
        return 1;
    }
    if (stopped) {
        fprintf(stderr, "vkflow run: stopped; the checkpoints are in %s. Continue with:\n  vkflow run %s --out %s "
                        "--resume\n", dir, config, dir);
        return 130;
    }
    if (report[0]) printf("report: %s\n", report);
    printf("run directory: %s (synthetic trace, metrics.json, run.log)\n", dir);
    return 0;
}
