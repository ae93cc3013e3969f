/* vkflow bench eval [--n N] [--kind flows|packets] [--reps R]: times
 * vf_eval_compare on two synthetic-looking traces of N records each, built
 * in memory from Philox draws (so the benchmark needs no files):
 * Zipf-like addresses over 50k hosts, a mix of well-known and ephemeral
 * ports, 85% TCP / 12% UDP / 3% ICMP, log-normal packets and bytes, times
 * spread over a day. The two traces use different seeds. */
#include "commands.h"
#include "util.h"
#include "eval/eval.h"
#include "philox.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


static vf_status make_trace(vf_trace_kind kind, size_t n, uint64_t seed, vf_trace *t) {
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->linktype = -1;
    t->recs = calloc(n, sizeof *t->recs);
    if (!t->recs) return vf_fail(VF_ERR_OOM, "bench eval: %zu records: out of memory", n);
    t->n = t->cap = n;
    static const uint16_t wk[] = {80, 443, 53, 22, 25, 123, 8080, 3389, 445, 993};
    int64_t t0 = 1460332800000000000LL; /* 2016-04-11 */
    for (size_t i = 0; i < n; i++) {
        float u[4], v[4];
        vf_philox_block(seed, 0, i, 0, u);
        vf_philox_block(seed, 1, i, 1, v);
        vf_record *r = &t->recs[i];
        /* Zipf-like: host = 50000^u^2 concentrates on low ids */
        uint32_t s = (uint32_t)pow(50000.0, (double)u[0] * u[0]);
        uint32_t d = (uint32_t)pow(50000.0, (double)u[1] * u[1]);
        vf_addr_from_v4(&r->src, 0x2ADB0000u + s);
        vf_addr_from_v4(&r->dst, 0x0A000000u + d);
        r->ip_version = 4;
        uint32_t w = (uint32_t)(u[2] * 16777216.0f);
        r->proto = (w % 100) < 85 ? 6 : (w % 100) < 97 ? 17 : 1;
        r->sport = (w >> 8) % 4 ? (uint16_t)(32768 + (w >> 10) % 28000) : wk[(w >> 10) % 10];
        r->dport = (w >> 9) % 4 ? wk[(w >> 12) % 10] : (uint16_t)(1024 + (w >> 12) % 60000);
        if (r->proto == 1) { r->sport = 0; r->dport = 2048; }
        r->ts_ns = t0 + (int64_t)((double)i / (double)n * 86400e9);
        if (kind == VF_TRACE_FLOWS) {
            r->pkts = 1 + (uint64_t)exp(1.5 * fabs((double)v[0]));
            r->bytes = r->pkts * (40 + (uint64_t)(u[3] * 1400.0f));
            r->dur_ns = (int64_t)(fabs((double)v[1]) * 5e9);
            r->label = -1;
        } else {
            r->length = 40 + (uint32_t)(u[3] * 1460.0f);
            r->pkts = 1;
            r->bytes = r->length;
            r->label = -1;
        }
    }
    return VF_OK;
}

int cmd_bench_eval(int argc, char **argv) {
    size_t n = 1000000;
    int reps = 3;
    vf_trace_kind kind = VF_TRACE_FLOWS;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--n") && i + 1 < argc) n = (size_t)strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--kind") && i + 1 < argc) {
            const char *k = argv[++i];
            if (!strcmp(k, "flows")) kind = VF_TRACE_FLOWS;
            else if (!strcmp(k, "packets")) kind = VF_TRACE_PACKETS;
            else { fprintf(stderr, "bench eval: --kind flows|packets\n"); return 2; }
        } else {
            bool help = !strcmp(argv[i], "-h") || !strcmp(argv[i], "--help");
            fprintf(help ? stdout : stderr, "usage: vkflow bench eval [--n N] [--kind flows|packets] [--reps R]\n");
            return help ? 0 : 2;
        }
    }
    if (n < 1 || reps < 1) { fprintf(stderr, "bench eval: --n and --reps must be >= 1\n"); return 2; }
    vf_trace a, b;
    if (make_trace(kind, n, 1, &a) != VF_OK || make_trace(kind, n, 2, &b) != VF_OK) {
        fprintf(stderr, "bench eval: %s\n", vf_last_error());
        return 1;
    }
    vf_eval_result *r = malloc(sizeof *r);
    int rc = 0;
    double best = INFINITY;
    for (int k = 0; k < reps && r; k++) {
        double t = vf_now_s();
        if (vf_eval_compare(&a, &b, r) != VF_OK) {
            fprintf(stderr, "bench eval: %s\n", vf_last_error());
            rc = 1;
            break;
        }
        t = vf_now_s() - t;
        if (t < best) best = t;
        printf("eval %s %zu vs %zu records: %.3f s\n", kind == VF_TRACE_FLOWS ? "flows" : "packets",
               n, n, t);
    }
    if (!rc && r)
        printf("best of %d: %.3f s (%.2f M records/s; srcport JSD %.4g nats, check value)\n", reps,
               best, 2e-6 * (double)n / best, r->jsd[VF_JSD_SRCPORT].v.nats);
    free(r);
    vf_trace_free(&a);
    vf_trace_free(&b);
    return rc;
}
