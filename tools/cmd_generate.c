/* vkflow generate RUN_DIR [--count N] --out FILE: samples a synthetic trace
 * from a trained run directory (merge by flow tags, decode, truncate, sort). */
#include "commands.h"
#include "run_ui.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: vkflow generate RUN_DIR [--count N] --out FILE\n"
               "  RUN_DIR: a directory vkflow train or vkflow run trained\n"
               "  --count N: flows to generate in all, split over the chunks in proportion to the\n"
               "             real ones (default: as many as each real chunk had)\n"
               "  --out FILE: the synthetic trace, in the run's output format (pcap or flow CSV)\n");
}

int cmd_generate(int argc, char **argv) {
    const char *dir = NULL, *out = NULL;
    long long count = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
            char *end;
            count = strtoll(argv[++i], &end, 10);
            if (*end || count < 1 || count > 100000000) {
                fprintf(stderr, "vkflow generate: --count '%s': expected a number of flows 1..100000000\n", argv[i]);
                return 2;
            }
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "vkflow generate: unknown or incomplete option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (!dir) dir = argv[i];
        else { fprintf(stderr, "vkflow generate: unexpected argument '%s'\n", argv[i]); return 2; }
    }
    if (!dir || !out) { usage(stderr); return 2; }
    run_ui ui;
    run_ui_init(&ui, "vkflow generate");
    vf_pipeline_opts o = {0};
    o.run_dir = dir;
    o.stop = run_ui_stop_flag();
    o.on_event = run_ui_event;
    o.user = &ui;
    bool stopped = false;
    vf_status st = vf_pipeline_generate(dir, count, out, &o, &stopped);
    run_ui_newline(&ui);
    if (st) { fprintf(stderr, "vkflow generate: %s\n", vf_last_error()); return 1; }
    if (stopped) {
        fprintf(stderr, "vkflow generate: stopped by %s; %s was not written\n",
                run_ui_signal_name(run_ui_stop_signal()), out);
        return run_ui_stop_status();
    }
    printf("wrote %s\n", out);
    return 0;
}
