/* libFuzzer harness: the run configuration parser (engine/train/run_config.c,
 * vf_run_config_parse_with): the data group, model, run group, model setting
 * groups and --set overrides. Input: the configuration text, optionally
 * followed by a line "--" and one --set KEY=VALUE per line. Nothing is read
 * from disk (resolve is not called). Build and run: tests/fuzz/run.sh */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    vf_run_config *rc = malloc(sizeof *rc);
    if (!text || !rc) { free(text); free(rc); return 0; }
    memcpy(text, data, size);
    text[size] = 0;
    const char *sets[VF_RUN_MAX_SETTINGS];
    int n_sets = 0;
    char *sep = strstr(text, "\n--\n");
    if (sep) {
        *sep = 0;
        for (char *save = NULL, *l = strtok_r(sep + 4, "\n", &save); l && n_sets < VF_RUN_MAX_SETTINGS;
             l = strtok_r(NULL, "\n", &save))
            sets[n_sets++] = l;
    }
    if (vf_run_config_parse_with("/tmp/fuzz_run.cfg", text, sets, n_sets, rc) != VF_OK && !vf_last_error()[0])
        abort(); /* a failure must say why */
    free(rc);
    free(text);
    return 0;
}
