/* libFuzzer harness: the flow CSV reader from memory (header detection, all
 * field parsers, quoting), lenient and strict; what was read is written in
 * its own layout and must read back to the same number of records. Build and
 * run: tests/fuzz/run.sh */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace/trace_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    for (int strict = 0; strict < 2; strict++) {
        vf_read_options o = {0};
        o.strict = strict;
        vf_trace t;
        if (vf_csv_read_mem("fuzz.csv", (const char *)data, size, &o, &t) != VF_OK) continue;
        if (!strict && t.n) {
            char path[64];
            snprintf(path, sizeof path, "/tmp/fuzz_csv_%d.csv", (int)getpid());
            if (vf_trace_write_csv(path, &t, NULL) == VF_OK) {
                vf_trace u;
                if (vf_trace_read(path, NULL, &u) != VF_OK) {
                    fprintf(stderr, "re-read failed: %s\n", vf_last_error());
                    abort();
                }
                if (u.n != t.n) {
                    fprintf(stderr, "re-read %zu of %zu records: %s\n", u.n, t.n, u.first_skip);
                    abort();
                }
                vf_trace_free(&u);
                unlink(path);
            }
        }
        vf_trace_free(&t);
    }
    return 0;
}
