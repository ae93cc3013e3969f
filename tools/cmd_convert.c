/* vkflow convert IN OUT: by OUT's extension.
 *   pcap -> .csv   packets aggregated into flow records (NetShare layout)
 *   pcap -> .pcap  through vkflow's records and pcap writer (the round trip)
 *   csv  -> .csv   to NetShare's layout (--layout picks another built-in, or
 *                  "source" keeps the input's layout) */
#include "commands.h"
#include "trace/trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char usage_text[] =
    "usage: vkflow convert [--strict] [--layout NAME|source] [--idle SECONDS] IN OUT\n"
    "  OUT's extension decides: .csv (flow records) or .pcap (packets); a further .gz, .xz,\n"
    "  .zst or .bz2 compresses it (IN may be compressed in any of these: read by its magic)\n"
    "  pcap -> csv aggregates packets into flows by 5-tuple (--idle: split a flow after\n"
    "  a gap longer than SECONDS; default none)\n"
    "  --layout: CSV layout of OUT: netshare (default), ugr16, zeek, netshare_pcap, nfdump,\n"
    "  argus, binetflow, zeek_conn, or\n"
    "  source (the input's own layout)\n";

/* s ends with suf, before an optional compression suffix (.gz .xz .zst .bz2) */
static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    static const char *const zs[] = {".gz", ".xz", ".zst", ".bz2"};
    for (size_t i = 0; i < sizeof zs / sizeof zs[0]; i++) {
        size_t z = strlen(zs[i]);
        if (a > z && !strcasecmp(s + a - z, zs[i])) { a -= z; break; }
    }
    return a >= b && !strncasecmp(s + a - b, suf, b);
}

int cmd_convert(int argc, char **argv) {
    vf_read_options opt = {0};
    const char *in = NULL, *out = NULL, *layout = NULL;
    double idle = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--strict")) opt.strict = true;
        else if (!strcmp(argv[i], "--layout") && i + 1 < argc) layout = argv[++i];
        else if (!strcmp(argv[i], "--idle") && i + 1 < argc) {
            char *e;
            idle = strtod(argv[++i], &e);
            if (*e || idle < 0) { fprintf(stderr, "vkflow convert: --idle: '%s' is not seconds >= 0\n", argv[i]); return 2; }
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(usage_text, stdout); return 0; }
        else if (!in) in = argv[i];
        else if (!out) out = argv[i];
        else { fprintf(stderr, "vkflow convert: unexpected argument '%s'\n%s", argv[i], usage_text); return 2; }
    }
    if (!in || !out) { fputs(usage_text, stderr); return 2; }
    bool to_pcap = ends_with(out, ".pcap"), to_csv = ends_with(out, ".csv");
    if (!to_pcap && !to_csv) {
        fprintf(stderr, "vkflow convert: %s: output extension must be .pcap or .csv (then optionally .gz/.xz/.zst/.bz2)\n", out);
        return 2;
    }
    vf_trace t;
    if (vf_trace_read(in, &opt, &t)) { fprintf(stderr, "vkflow convert: %s\n", vf_last_error()); return 1; }
    vf_status st = VF_OK;
    if (to_pcap) {
        if (t.kind != VF_TRACE_PACKETS) {
            fprintf(stderr, "vkflow convert: %s holds flow records; a pcap needs packets\n", in);
            vf_trace_free(&t);
            return 1;
        }
        st = vf_trace_write_pcap(out, &t);
    } else {
        vf_trace w = t, agg;
        bool aggregated = false;
        if (t.kind == VF_TRACE_PACKETS && t.linktype >= 0) {
            if ((st = vf_trace_aggregate(&t, (int64_t)(idle * 1e9), &agg))) goto done;
            w = agg;
            aggregated = true;
        }
        vf_csv_layout L;
        const vf_csv_layout *lp = NULL;
        if (layout && !strcmp(layout, "source")) {
            lp = w.layout.n_cols ? &w.layout : NULL;
        } else {
            if ((st = vf_csv_layout_builtin(layout ? layout : "netshare", &L))) {
                if (aggregated) vf_trace_free(&agg);
                goto done;
            }
            lp = &L;
        }
        st = vf_trace_write_csv(out, &w, lp);
        if (!st)
            fprintf(stderr, "vkflow convert: %s: %zu %s -> %s: %zu records\n", in, t.n,
                    t.kind == VF_TRACE_PACKETS ? "packets" : "flows", out, w.n);
        if (aggregated) vf_trace_free(&agg);
    }
done:
    if (st) fprintf(stderr, "vkflow convert: %s\n", vf_last_error());
    uint64_t sk = vf_trace_skipped_total(&t);
    if (!st && sk)
        fprintf(stderr, "vkflow convert: %s: skipped %llu records (first: %s)\n", in,
                (unsigned long long)sk, t.first_skip);
    vf_trace_free(&t);
    return st ? 1 : 0;
}
