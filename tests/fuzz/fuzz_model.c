/* libFuzzer harness: the model description language (dsl/). The input is
 * written to a file and loaded with vf_model_load_env with placeholder output
 * heads (what `vkflow check` does without data): the libconfig parser, dims
 * expressions, networks, tensors, losses, programs, settings and the graph
 * builder with autodiff. Any input must load or fail with a message; neither
 * may crash, leak or trip a sanitizer. Build and run: tests/fuzz/run.sh */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz_model_%d.cfg", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    vf_model_env env = {.placeholder_heads = true};
    vf_model *m = NULL;
    if (vf_model_load_env(path, &env, &m) == VF_OK) {
        if (!m) abort();
        vf_model_destroy(m);
    } else if (!vf_last_error()[0]) {
        abort(); /* a failure must say why */
    }
    unlink(path);
    return 0;
}
