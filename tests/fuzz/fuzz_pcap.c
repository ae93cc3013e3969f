/* libFuzzer harness: the pcap/pcapng reader (through libpcap, from memory)
 * and, on the same bytes, the frame parser for every supported link type;
 * then writes what was read back to pcap and re-reads it (the writer must
 * accept every record the reader produces). Build and run: tests/fuzz/run.sh */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace/trace_internal.h"

static const int linktypes[] = {0, 1, 12, 101, 108, 113, 228, 229, 276};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* 1. whole-file reader: libpcap on an in-memory stream, lenient and strict */
    for (int strict = 0; strict < 2; strict++) {
        FILE *f = fmemopen((void *)data, size, "rb");
        if (!f) return 0;
        vf_read_options o = {0};
        o.strict = strict;
        vf_trace t;
        if (vf_pcap_read_fp(f, "fuzz.pcap", &o, &t) == VF_OK) {
            if (!strict && t.n) {
                char path[64];
                snprintf(path, sizeof path, "/tmp/fuzz_pcap_%d.pcap", (int)getpid());
                if (vf_trace_write_pcap(path, &t) == VF_OK) {
                    vf_trace u;
                    if (vf_trace_read(path, NULL, &u) == VF_OK) {
                        if (u.n != t.n) abort(); /* every written packet must read back */
                        vf_trace_free(&u);
                    }
                    unlink(path);
                }
            }
            vf_trace_free(&t);
        }
    }
    /* 2. frame parser directly (no libpcap framing in the way) */
    if (size > 0) {
        int lt = linktypes[data[0] % (sizeof linktypes / sizeof linktypes[0])];
        /* copy so ASan sees the exact caplen bound */
        uint8_t *buf = malloc(size - 1 ? size - 1 : 1);
        if (!buf) return 0;
        memcpy(buf, data + 1, size - 1);
        vf_record r;
        memset(&r, 0, sizeof r);
        const char *why = NULL;
        int rc = vf_parse_frame(lt, buf, (uint32_t)(size - 1), &r, &why);
        if (rc >= 0 && (rc >= VF_SKIP_COUNT || !why)) abort();
        free(buf);
    }
    return 0;
}
