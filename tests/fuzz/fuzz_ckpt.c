/* libFuzzer harness: the checkpoint loader (engine/train/checkpoint.c,
 * vf_trainer_load) into a trainer opened once on tests/models/dg_tiny.cfg with
 * its widths shrunk (placeholder heads), on the cpu backend. The loader checks
 * an FNV-1a checksum over the file first, which random bytes never pass, so
 * an input whose first byte is even gets its last 8 bytes replaced by the
 * right checksum: the record parser behind the check is fuzzed too. After a
 * successful load the trainer is saved and loaded again (must succeed).
 * Build and run: tests/fuzz/run.sh (needs VKFLOW_SOURCE_DIR). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/trainer.h"

static vf_trainer *g_t;
static char g_path[64], g_path2[64];

static uint64_t fnv1a64(const void *p, size_t n) {
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    const char *src = getenv("VKFLOW_SOURCE_DIR");
    char model[4096];
    snprintf(model, sizeof model, "%s/tests/models/dg_tiny.cfg", src ? src : ".");
    static const vf_dim dims[] = {{"attr_dim", 3}, {"feat_dim", 2}, {"units", 2}, {"lstm_units", 2}, {"batch", 2}};
    vf_backend *be = NULL;
    if (vf_cpu_create(&be) != VF_OK) { fprintf(stderr, "cpu backend: %s\n", vf_last_error()); abort(); }
    vf_trainer_opts o = {.model = model, .be = be, .seed = 1};
    o.env.dims = dims;
    o.env.n_dims = 5;
    o.env.placeholder_heads = true;
    if (vf_trainer_open(&o, &g_t) != VF_OK) { fprintf(stderr, "trainer: %s\n", vf_last_error()); abort(); }
    snprintf(g_path, sizeof g_path, "/tmp/fuzz_ckpt_%d.ckpt", (int)getpid());
    snprintf(g_path2, sizeof g_path2, "/tmp/fuzz_ckpt_%d_b.ckpt", (int)getpid());
    /* VKFLOW_FUZZ_SEED=FILE: write a valid checkpoint of this trainer (a corpus seed) and exit */
    const char *seed = getenv("VKFLOW_FUZZ_SEED");
    if (seed) {
        if (vf_trainer_save(g_t, seed) != VF_OK) { fprintf(stderr, "%s\n", vf_last_error()); abort(); }
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *b = malloc(size ? size : 1);
    if (!b) return 0;
    memcpy(b, data, size);
    if (size >= 24 && !(b[0] & 1)) {
        uint64_t h = fnv1a64(b, size - 8);
        memcpy(b + size - 8, &h, 8);
    }
    FILE *f = fopen(g_path, "wb");
    if (!f) { free(b); return 0; }
    fwrite(b, 1, size, f);
    fclose(f);
    free(b);
    if (vf_trainer_load(g_t, g_path) == VF_OK) {
        if (vf_trainer_save(g_t, g_path2) != VF_OK || vf_trainer_load(g_t, g_path2) != VF_OK) {
            fprintf(stderr, "save + reload of a loaded checkpoint failed: %s\n", vf_last_error());
            abort();
        }
        unlink(g_path2);
    } else if (!strstr(vf_last_error(), g_path)) {
        fprintf(stderr, "a refused checkpoint must be named: %s\n", vf_last_error());
        abort();
    }
    unlink(g_path);
    return 0;
}
