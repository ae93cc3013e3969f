/* vkflow bench ingest FILE: trace ingest throughput against the ceiling of a
 * bare libpcap read loop over the same file, in the same run.
 *
 * The input is replicated (--min-packets, default 1,000,000) into a temp
 * pcap: copy k of every packet is shifted in time by k times the capture's
 * span and has k added to the second octet of its IPv4 addresses (third byte
 * of IPv6), so copies form new flows instead of growing the old ones.
 * Stages timed (best of --repeat runs, default 3):
 *   bare       pcap_open_offline + pcap_next_ex over every packet
 *   read       vf_trace_read (libpcap + header parsing into vf_records)
 *   aggregate  vf_trace_aggregate (5-tuple hash table -> flow records)
 *   fit        vf_encoder_fit on the flow records (NetShare NetFlow fields:
 *              IP bits, word2vec ports/proto, log+min-max counts, 10 time
 *              chunks); dominated by training word2vec (5 epochs)
 *   encode     vf_encode: flow records -> per-chunk attribute/feature tensors
 *   stream     vf_pcap_stream_flows: libpcap + parsing + the streaming flow
 *              table (idle 60 s / active 300 s), packets never stored; flows
 *              counted, not kept (what `vkflow convert` does, less the CSV)
 * The headline is read + aggregate + encode against the bare loop; fit is a
 * one-off per trace and is reported beside it. */
#include "commands.h"
#include "trace/encode.h"

#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Offset of the IP header in a frame, or -1 (Ethernet/VLAN, raw, SLL, null). */
static int ip_offset(int lt, const u_char *d, uint32_t n) {
    if (lt == DLT_EN10MB) {
        uint32_t off = 12;
        while (n >= off + 2 && (d[off] == 0x81 || d[off] == 0x88 || d[off] == 0x91) &&
               (d[off + 1] == 0x00 || d[off + 1] == 0xa8))
            off += 4;
        return n >= off + 2 ? (int)off + 2 : -1;
    }
    if (lt == DLT_RAW || lt == 101 || lt == 228 || lt == 229) return 0;
    if (lt == DLT_LINUX_SLL) return 16;
    if (lt == 276) return 20;
    if (lt == DLT_NULL || lt == DLT_LOOP) return 4;
    return -1;
}

static int replicate(const char *in, const char *out, long min_pkts, long *n_out) {
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline_with_tstamp_precision(in, PCAP_TSTAMP_PRECISION_NANO, err);
    if (!p) { fprintf(stderr, "vkflow bench ingest: %s: %s\n", in, err); return -1; }
    int lt = pcap_datalink(p);
    /* load all packets once */
    size_t cap = 1024, n = 0;
    struct pcap_pkthdr *hs = malloc(cap * sizeof *hs);
    u_char **ds = malloc(cap * sizeof *ds);
    struct pcap_pkthdr *h;
    const u_char *d;
    int rc;
    while (hs && ds && (rc = pcap_next_ex(p, &h, &d)) == 1) {
        if (n == cap) {
            cap *= 2;
            hs = realloc(hs, cap * sizeof *hs);
            ds = realloc(ds, cap * sizeof *ds);
            if (!hs || !ds) break;
        }
        hs[n] = *h;
        ds[n] = malloc(h->caplen ? h->caplen : 1);
        if (!ds[n]) break;
        memcpy(ds[n], d, h->caplen);
        n++;
    }
    if (!hs || !ds || n == 0) { fprintf(stderr, "vkflow bench ingest: %s: no packets or out of memory\n", in); pcap_close(p); return -1; }
    int64_t t0 = (int64_t)hs[0].ts.tv_sec * 1000000000 + hs[0].ts.tv_usec;
    int64_t t1 = (int64_t)hs[n - 1].ts.tv_sec * 1000000000 + hs[n - 1].ts.tv_usec;
    int64_t span = t1 - t0 + 1000000;
    pcap_t *dead = pcap_open_dead_with_tstamp_precision(lt, 262144, PCAP_TSTAMP_PRECISION_NANO);
    pcap_dumper_t *dp = pcap_dump_open(dead, out);
    if (!dp) { fprintf(stderr, "vkflow bench ingest: %s: %s\n", out, pcap_geterr(dead)); return -1; }
    long reps = (min_pkts + (long)n - 1) / (long)n;
    if (reps < 1) reps = 1;
    u_char *buf = malloc(262144);
    for (long k = 0; k < reps; k++) {
        for (size_t i = 0; i < n; i++) {
            struct pcap_pkthdr hh = hs[i];
            int64_t ts = (int64_t)hh.ts.tv_sec * 1000000000 + hh.ts.tv_usec + k * span;
            hh.ts.tv_sec = ts / 1000000000;
            hh.ts.tv_usec = ts % 1000000000;
            memcpy(buf, ds[i], hh.caplen);
            int off = ip_offset(lt, buf, hh.caplen);
            if (k && off >= 0 && (uint32_t)off + 40 <= hh.caplen) {
                u_char *ip = buf + off;
                if (ip[0] >> 4 == 4) { ip[13] = (u_char)(ip[13] + k); ip[17] = (u_char)(ip[17] + k); }
                else if (ip[0] >> 4 == 6) { ip[10] = (u_char)(ip[10] + k); ip[26] = (u_char)(ip[26] + k); }
            }
            pcap_dump((u_char *)dp, &hh, buf);
        }
    }
    pcap_dump_close(dp);
    pcap_close(dead);
    pcap_close(p);
    for (size_t i = 0; i < n; i++) free(ds[i]);
    free(ds);
    free(hs);
    free(buf);
    *n_out = reps * (long)n;
    return 0;
}

int cmd_bench_ingest(int argc, char **argv) {
    const char *file = NULL;
    long min_pkts = 1000000;
    int repeat = 3;
    const char *keep = NULL, *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--min-packets") && i + 1 < argc) min_pkts = atol(argv[++i]);
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--keep") && i + 1 < argc) keep = argv[++i];
        else if (!strcmp(argv[i], "--replicate-only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: vkflow bench ingest [--min-packets N] [--repeat R] [--keep REPLICA.pcap] FILE.pcap\n"
                   "       vkflow bench ingest [--min-packets N] --replicate-only REPLICA.pcap FILE.pcap\n"
                   "  (--replicate-only writes the replicated capture and times nothing)\n");
            return 0;
        } else if (!file) file = argv[i];
        else { fprintf(stderr, "vkflow bench ingest: unexpected argument '%s'\n", argv[i]); return 2; }
    }
    if (!file || repeat < 1 || min_pkts < 1) { fprintf(stderr, "usage: vkflow bench ingest [--min-packets N] [--repeat R] FILE.pcap\n"); return 2; }
    if (only) {
        long n = 0;
        if (replicate(file, only, min_pkts, &n)) return 1;
        printf("%s: %ld packets\n", only, n);
        return 0;
    }
    char tmp[] = "/tmp/vkflow-ingest-XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0) { perror("vkflow bench ingest: mkstemp"); return 1; }
    close(fd);
    long npk = 0;
    if (replicate(file, tmp, min_pkts, &npk)) { unlink(tmp); return 1; }
    double best[6] = {1e30, 1e30, 1e30, 1e30, 1e30, 1e30};
    size_t n_rec = 0, n_flows = 0, peak_live = 0;
    uint64_t n_stream = 0;
    int rc = 0;
    for (int r = 0; r < repeat && !rc; r++) {
        /* bare libpcap loop (the ceiling) */
        char err[PCAP_ERRBUF_SIZE];
        double a = now();
        pcap_t *p = pcap_open_offline_with_tstamp_precision(tmp, PCAP_TSTAMP_PRECISION_NANO, err);
        if (!p) { fprintf(stderr, "vkflow bench ingest: %s\n", err); rc = 1; break; }
        struct pcap_pkthdr *h;
        const u_char *d;
        long cnt = 0;
        uint64_t sink = 0;
        while (pcap_next_ex(p, &h, &d) == 1) { cnt++; sink += h->caplen; }
        pcap_close(p);
        double b = now();
        if (b - a < best[0]) best[0] = b - a;
        if (cnt != npk) fprintf(stderr, "note: bare loop saw %ld packets (%llu bytes)\n", cnt, (unsigned long long)sink);
        vf_trace t, fl;
        a = now();
        if (vf_trace_read(tmp, NULL, &t)) { fprintf(stderr, "vkflow bench ingest: %s\n", vf_last_error()); rc = 1; break; }
        b = now();
        if (vf_trace_aggregate(&t, 0, &fl)) { fprintf(stderr, "vkflow bench ingest: %s\n", vf_last_error()); vf_trace_free(&t); rc = 1; break; }
        double c = now();
        vf_data_desc dd;
        vf_data_desc_default(VF_TRACE_FLOWS, &dd);
        vf_encoder enc;
        vf_encoded *ch = NULL;
        double d2 = 0;
        if (vf_encoder_fit(&dd, &fl, &enc)) {
            fprintf(stderr, "vkflow bench ingest: %s\n", vf_last_error());
            rc = 1;
        } else {
            d2 = now();
            if (vf_encode(&enc, &fl, &ch)) {
                fprintf(stderr, "vkflow bench ingest: %s\n", vf_last_error());
                vf_encoder_free(&enc);
                rc = 1;
            }
        }
        double e = now();
        if (!rc) vf_encoded_free(ch, enc.n_chunks), vf_encoder_free(&enc);
        if (b - a < best[1]) best[1] = b - a;
        if (c - b < best[2]) best[2] = c - b;
        if (!rc && d2 - c < best[3]) best[3] = d2 - c;
        if (!rc && e - d2 < best[4]) best[4] = e - d2;
        n_rec = t.n;
        n_flows = fl.n;
        vf_trace_free(&t);
        vf_trace_free(&fl);
        if (rc) break;
        vf_flow_stream *fs;
        if (vf_flow_stream_new(NULL, NULL, NULL, &fs)) { fprintf(stderr, "vkflow bench ingest: %s\n", vf_last_error()); rc = 1; break; }
        vf_trace stats;
        a = now();
        if (vf_pcap_stream_flows(tmp, NULL, fs, &stats)) { fprintf(stderr, "vkflow bench ingest: %s\n", vf_last_error()); rc = 1; }
        b = now();
        if (!rc && b - a < best[5]) best[5] = b - a;
        n_stream = vf_flow_stream_stats_of(fs)->flows;
        peak_live = vf_flow_stream_stats_of(fs)->peak_live;
        vf_flow_stream_free(fs);
        vf_trace_free(&stats);
    }
    if (keep && rename(tmp, keep) != 0) perror("vkflow bench ingest: --keep");
    unlink(tmp);
    if (rc) return rc;
    double total = best[1] + best[2] + best[4];
    printf("ingest %s: %ld packets (replicated), %zu IP packets, %zu flows; best of %d\n", file, npk, n_rec, n_flows, repeat);
    printf("  %-28s %9.3f s  %12.0f packets/s\n", "bare pcap_next_ex loop", best[0], (double)npk / best[0]);
    printf("  %-28s %9.3f s  %12.0f packets/s\n", "read (parse to records)", best[1], (double)npk / best[1]);
    printf("  %-28s %9.3f s  %12.0f packets/s  %10.0f flows/s\n", "aggregate (5-tuple flows)", best[2],
           (double)npk / best[2], (double)n_flows / best[2]);
    printf("  %-28s %9.3f s  %12.0f flows/s\n", "fit (ranges + word2vec)", best[3], (double)n_flows / best[3]);
    printf("  %-28s %9.3f s  %12.0f flows/s\n", "encode (flows -> tensors)", best[4], (double)n_flows / best[4]);
    printf("  %-28s %9.3f s  %12.0f packets/s  %10.0f flows/s  = %.0f%% of the bare loop\n",
           "read + aggregate + encode", total, (double)npk / total, (double)n_flows / total,
           100.0 * best[0] / total);
    printf("  %-28s %9.3f s  %12.0f packets/s\n", "... plus fit", total + best[3], (double)npk / (total + best[3]));
    printf("  %-28s %9.3f s  %12.0f packets/s  %10llu flows, at most %zu live  = %.0f%% of the bare loop\n",
           "stream (read -> flows)", best[5], (double)npk / best[5], (unsigned long long)n_stream, peak_live,
           100.0 * best[0] / best[5]);
    return 0;
}
