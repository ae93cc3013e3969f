/* vkflow inspect TRACE: summary of a packet capture or flow CSV. */
#include "commands.h"
#include "trace/trace.h"

#include <stdio.h>
#include <string.h>

int cmd_inspect(int argc, char **argv) {
    vf_read_options opt = {0};
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--strict")) opt.strict = true;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: vkflow inspect [--strict] TRACE\n"
                   "  TRACE: .pcap/.pcapng (by magic) or a flow log (layout from the header: nfdump,\n"
                   "  Argus ra/binetflow, Zeek conn.log CSV/TSV/JSON, CICFlowMeter, UGR'16, NetShare),\n"
                   "  plain or compressed (gzip, xz, zstd, bzip2: by magic)\n"
                   "  --strict: stop at the first bad record instead of skipping and counting it\n");
            return 0;
        } else if (!path) path = argv[i];
        else { fprintf(stderr, "vkflow inspect: unexpected argument '%s'\n", argv[i]); return 2; }
    }
    if (!path) { fprintf(stderr, "usage: vkflow inspect [--strict] TRACE\n"); return 2; }
    vf_trace t;
    if (vf_trace_read(path, &opt, &t)) {
        fprintf(stderr, "vkflow inspect: %s\n", vf_last_error());
        return 1;
    }
    vf_status st = vf_trace_summary(&t, path, stdout);
    vf_trace_free(&t);
    if (st) { fprintf(stderr, "vkflow inspect: %s\n", vf_last_error()); return 1; }
    return 0;
}
