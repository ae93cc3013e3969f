/* vkflow train CONFIG [--out DIR] [--resume]: ingest, encode and train every
 * chunk into a run directory, without generating (vkflow generate does that). */
#include "commands.h"
#include "run_ui.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>



static void usage(FILE *f) {
    fprintf(f, "usage: vkflow train CONFIG [--out DIR] [--resume]\n"
               "  trains the run configuration's model on every chunk into DIR (default\n"
               "  runs/<config name>); vkflow generate DIR then samples from it.\n"
               "  --resume: continue an interrupted training from its last checkpoints\n");
}

int cmd_train(int argc, char **argv) {
    const char *config = NULL, *out = NULL;
    bool resume = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--resume")) resume = true;
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "vkflow train: unknown or incomplete option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (!config) config = argv[i];
        else { fprintf(stderr, "vkflow train: unexpected argument '%s'\n", argv[i]); return 2; }
    }
    if (!config) { usage(stderr); return 2; }
    char dir[4096];
    if (out) snprintf(dir, sizeof dir, "%s", out);
    else run_default_dir(config, dir, sizeof dir);
    vf_run_config *rc = malloc(sizeof *rc);
    if (!rc) { fprintf(stderr, "vkflow train: out of memory\n"); return 1; }
    if (vf_run_config_load(config, rc) != VF_OK) {
        fprintf(stderr, "vkflow train: %s\n", vf_last_error());
        free(rc);
        return 1;
    }
    run_ui ui;
    run_ui_init(&ui, "vkflow train");
    vf_pipeline_opts o = {0};
    o.run_dir = dir;
    o.resume = resume;
    o.stop = run_ui_stop_flag();
    o.on_event = run_ui_event;
    o.user = &ui;
    bool stopped = false;
    vf_status st = vf_pipeline_train(rc, &o, &stopped);
    run_ui_newline(&ui);
    free(rc);
    if (st) {
        fprintf(stderr, "vkflow train: %s\n(the log is %s/run.log)\n", vf_last_error(), dir);
        return 1;
    }
    if (stopped) {
        fprintf(stderr, "vkflow train: stopped; the checkpoints are in %s. Continue with:\n  vkflow train %s --out %s "
                        "--resume\n", dir, config, dir);
        return 130;
    }
    printf("trained: %s (generate with: vkflow generate %s --out FILE)\n", dir, dir);
    return 0;
}
