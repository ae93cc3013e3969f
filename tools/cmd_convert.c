/* vkflow convert IN OUT: by OUT's extension.
 *   pcap -> .csv   packets aggregated into flow records while reading (NetShare
 *                  layout; idle/active timeouts; memory = the live flows)
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
    "usage: vkflow convert [--strict] [--layout NAME|source] [--idle SECONDS] [--active SECONDS]\n"
    "                      [--biflow] IN OUT\n"
    "  OUT's extension decides: .csv (flow records) or .pcap (packets); a further .gz, .xz,\n"
    "  .zst or .bz2 compresses it (IN may be compressed in any of these: read by its magic)\n"
    "  pcap -> csv aggregates packets into flows by 5-tuple while reading, as flow exporters\n"
    "  do: a flow is written when idle longer than --idle (default 60 s), when a packet comes\n"
    "  --active or more after its first (default 300 s; nfpcapd's -e 300,60), or at the end;\n"
    "  0 turns a timeout off. Flows are written in the order they close. --biflow: the\n"
    "  reverse direction joins the flow (Argus's bidirectional flows)\n"
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

static vf_status put_flow(void *ctx, const vf_record *r) {
    vf_csv_writer_put(ctx, r);
    return VF_OK;
}

/* pcap -> flow CSV without holding packets or closed flows */
static int convert_stream(const char *in, const char *out, const char *layout,
                          const vf_read_options *opt, const vf_flow_timeouts *to) {
    vf_csv_layout L;
    if (layout && !strcmp(layout, "source")) layout = NULL; /* a capture has no CSV layout */
    if (vf_csv_layout_builtin(layout ? layout : "netshare", &L)) {
        fprintf(stderr, "vkflow convert: %s\n", vf_last_error());
        return 1;
    }
    vf_csv_writer *w;
    if (vf_csv_writer_open(&w, out, &L, VF_TRACE_FLOWS, NULL)) {
        fprintf(stderr, "vkflow convert: %s\n", vf_last_error());
        return 1;
    }
    vf_flow_stream *s;
    if (vf_flow_stream_new(to, put_flow, w, &s)) {
        fprintf(stderr, "vkflow convert: %s\n", vf_last_error());
        vf_csv_writer_abort(w);
        return 1;
    }
    vf_trace stats;
    vf_status st = vf_pcap_stream_flows(in, opt, s, &stats);
    if (st) vf_csv_writer_abort(w);
    else st = vf_csv_writer_commit(w);
    if (st) {
        fprintf(stderr, "vkflow convert: %s\n", vf_last_error());
    } else {
        const vf_flow_stream_stats *fs = vf_flow_stream_stats_of(s);
        fprintf(stderr,
                "vkflow convert: %s: %llu packets -> %s: %llu flows (closed: %llu idle, %llu active, "
                "%llu at end; at most %zu live)\n",
                in, (unsigned long long)fs->packets, out, (unsigned long long)fs->flows,
                (unsigned long long)fs->by_idle, (unsigned long long)fs->by_active,
                (unsigned long long)fs->at_end, fs->peak_live);
        uint64_t sk = vf_trace_skipped_total(&stats);
        if (sk)
            fprintf(stderr, "vkflow convert: %s: skipped %llu records (first: %s)\n", in,
                    (unsigned long long)sk, stats.first_skip);
    }
    vf_flow_stream_free(s);
    vf_trace_free(&stats);
    return st ? 1 : 0;
}

int cmd_convert(int argc, char **argv) {
    vf_read_options opt = {0};
    const char *in = NULL, *out = NULL, *layout = NULL;
    double idle = 60, active = 300;
    bool biflow = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--strict")) opt.strict = true;
        else if (!strcmp(argv[i], "--layout") && i + 1 < argc) layout = argv[++i];
        else if (!strcmp(argv[i], "--idle") && i + 1 < argc) {
            char *e;
            idle = strtod(argv[++i], &e);
            if (*e || !(idle >= 0 && idle < 9e9)) { fprintf(stderr, "vkflow convert: --idle: '%s' is not seconds >= 0\n", argv[i]); return 2; }
        } else if (!strcmp(argv[i], "--active") && i + 1 < argc) {
            char *e;
            active = strtod(argv[++i], &e);
            if (*e || !(active >= 0 && active < 9e9)) { fprintf(stderr, "vkflow convert: --active: '%s' is not seconds >= 0\n", argv[i]); return 2; }
        } else if (!strcmp(argv[i], "--biflow")) biflow = true; else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(usage_text, stdout); return 0; }
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
    bool is_pcap = false;
    if (to_csv && vf_trace_is_capture(in, &is_pcap)) { fprintf(stderr, "vkflow convert: %s\n", vf_last_error()); return 1; }
    if (to_csv && is_pcap) {
        vf_flow_timeouts to = {(int64_t)(idle * 1e9), (int64_t)(active * 1e9), biflow};
        return convert_stream(in, out, layout, &opt, &to);
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
        vf_csv_layout L;
        const vf_csv_layout *lp = NULL;
        if (layout && !strcmp(layout, "source")) {
            lp = t.layout.n_cols ? &t.layout : NULL;
        } else {
            if ((st = vf_csv_layout_builtin(layout ? layout : "netshare", &L))) goto done;
            lp = &L;
        }
        st = vf_trace_write_csv(out, &t, lp);
        if (!st)
            fprintf(stderr, "vkflow convert: %s: %zu %s -> %s: %zu records\n", in, t.n,
                    t.kind == VF_TRACE_PACKETS ? "packets" : "flows", out, t.n);
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
