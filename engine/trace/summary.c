/* `vkflow inspect`: a human-readable summary of a trace. */
#include "trace/trace_internal.h"

#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void put_time(FILE *f, int64_t ns) {
    time_t s = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char b[32];
    strftime(b, sizeof b, "%Y-%m-%d %H:%M:%S", &tm);
    fprintf(f, "%s.%06lld UTC", b, (long long)(ns % 1000000000) / 1000);
}

/* nearest-rank percentile of sorted v[n] */
static uint64_t pct(const uint64_t *v, size_t n, double p) {
    if (!n) return 0;
    size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (k < 1) k = 1;
    if (k > n) k = n;
    return v[k - 1];
}

typedef struct { uint32_t key; uint64_t n; } kv;
static int cmp_kv(const void *a, const void *b) {
    const kv *x = a, *y = b;
    if (x->n != y->n) return x->n > y->n ? -1 : 1;
    return x->key < y->key ? -1 : x->key > y->key;
}

static void print_percentiles(FILE *f, const char *what, uint64_t *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_u64);
    fprintf(f, "  %-18s p50 %llu  p90 %llu  p99 %llu  max %llu\n", what,
            (unsigned long long)pct(v, n, 50), (unsigned long long)pct(v, n, 90),
            (unsigned long long)pct(v, n, 99), (unsigned long long)(n ? v[n - 1] : 0));
}

vf_status vf_trace_summary(const vf_trace *t, const char *path, FILE *f) {
    fprintf(f, "%s\n", path);
    if (t->linktype >= 0) {
        const char *nm = pcap_datalink_val_to_name(t->linktype);
        fprintf(f, "  format             packet capture, link type %d (%s)\n", t->linktype, nm ? nm : "?");
    } else {
        static const char *const syn[] = {"CSV", "Zeek TSV log", "JSON lines"};
        fprintf(f, "  format             %s, layout '%s' (%d columns, time unit %s)\n",
                t->layout.syntax < 3 ? syn[t->layout.syntax] : "?", t->layout.name,
                t->layout.n_cols, vf_time_unit_name(t->layout.time_unit));
    }
    fprintf(f, "  records            %zu %s (of %llu %s in the file)\n", t->n,
            t->kind == VF_TRACE_PACKETS ? "packets" : "flows", (unsigned long long)t->n_input,
            t->linktype >= 0 ? "frames" : "rows");
    uint64_t sk = vf_trace_skipped_total(t);
    fprintf(f, "  skipped            %llu\n", (unsigned long long)sk);
    for (int i = 0; i < VF_SKIP_COUNT; i++)
        if (t->skipped[i]) {
            fprintf(f, "    %-24s %llu\n", vf_skip_reason_name((vf_skip_reason)i),
                    (unsigned long long)t->skipped[i]);
            if (t->first_by_reason[i][0]) fprintf(f, "      first: %s\n", t->first_by_reason[i]);
        }
    if (!t->n) return VF_OK;
    int64_t t0 = INT64_MAX, t1 = INT64_MIN;
    uint64_t v4 = 0, pk = 0, by = 0;
    uint64_t proto[256] = {0};
    for (size_t i = 0; i < t->n; i++) {
        const vf_record *r = &t->recs[i];
        if (r->ts_ns < t0) t0 = r->ts_ns;
        if (r->ts_ns + r->dur_ns > t1) t1 = r->ts_ns + r->dur_ns;
        v4 += vf_addr_is_v4(&r->src);
        proto[r->proto]++;
        pk += r->pkts;
        by += r->bytes;
    }
    fprintf(f, "  time span          ");
    put_time(f, t0);
    fprintf(f, " .. ");
    put_time(f, t1);
    fprintf(f, " (%.6f s)\n", (double)(t1 - t0) * 1e-9);
    fprintf(f, "  IPv4 / IPv6        %llu / %llu\n", (unsigned long long)v4,
            (unsigned long long)(t->n - v4));
    fprintf(f, "  packets / bytes    %llu / %llu\n", (unsigned long long)pk, (unsigned long long)by);
    fprintf(f, "  protocols         ");
    kv pr[256];
    int npr = 0;
    for (int p = 0; p < 256; p++)
        if (proto[p]) pr[npr++] = (kv){(uint32_t)p, proto[p]};
    qsort(pr, (size_t)npr, sizeof *pr, cmp_kv);
    for (int i = 0; i < npr; i++) {
        const char *nm = vf_proto_name((uint8_t)pr[i].key);
        char nb[8];
        if (!nm) { snprintf(nb, sizeof nb, "%u", pr[i].key); nm = nb; }
        fprintf(f, " %s %llu (%.1f%%)", nm, (unsigned long long)pr[i].n, 100.0 * (double)pr[i].n / (double)t->n);
    }
    fputc('\n', f);
    /* top destination / source ports of TCP and UDP records */
    uint64_t *dp = calloc(65536, sizeof *dp), *sp = calloc(65536, sizeof *sp);
    if (!dp || !sp) { free(dp); free(sp); return vf_fail(VF_ERR_OOM, "inspect: out of memory"); }
    for (size_t i = 0; i < t->n; i++)
        if (t->recs[i].proto == 6 || t->recs[i].proto == 17) {
            dp[t->recs[i].dport]++;
            sp[t->recs[i].sport]++;
        }
    for (int side = 0; side < 2; side++) {
        uint64_t *c = side ? sp : dp;
        kv top[10];
        int nt = 0;
        for (uint32_t p = 0; p < 65536; p++) {
            if (!c[p]) continue;
            kv x = {p, c[p]};
            if (nt < 10) top[nt++] = x;
            else if (cmp_kv(&x, &top[9]) < 0) top[9] = x;
            else continue;
            qsort(top, (size_t)nt, sizeof *top, cmp_kv);
        }
        fprintf(f, "  top %s ports    ", side ? "src" : "dst");
        for (int i = 0; i < nt; i++) fprintf(f, " %u:%llu", top[i].key, (unsigned long long)top[i].n);
        fputc('\n', f);
    }
    free(dp);
    free(sp);
    vf_flow_index fi;
    vf_status st = vf_flow_index_build(t, &fi);
    if (st) return st;
    fprintf(f, "  5-tuples           %zu\n", fi.n_flows);
    uint64_t *sz = malloc((fi.n_flows ? fi.n_flows : 1) * sizeof *sz);
    if (!sz) { vf_flow_index_free(&fi); return vf_fail(VF_ERR_OOM, "inspect: out of memory"); }
    fprintf(f, "  flow size (per 5-tuple)\n");
    for (size_t k = 0; k < fi.n_flows; k++) {
        uint64_t s = 0;
        for (size_t j = fi.start[k]; j < fi.start[k + 1]; j++) s += t->recs[fi.order[j]].pkts;
        sz[k] = s;
    }
    print_percentiles(f, "packets", sz, fi.n_flows);
    for (size_t k = 0; k < fi.n_flows; k++) {
        uint64_t s = 0;
        for (size_t j = fi.start[k]; j < fi.start[k + 1]; j++) s += t->recs[fi.order[j]].bytes;
        sz[k] = s;
    }
    print_percentiles(f, "bytes", sz, fi.n_flows);
    if (t->kind == VF_TRACE_FLOWS) {
        for (size_t k = 0; k < fi.n_flows; k++) sz[k] = fi.start[k + 1] - fi.start[k];
        print_percentiles(f, "records", sz, fi.n_flows);
    }
    free(sz);
    vf_flow_index_free(&fi);
    if (t->n_labels) {
        uint64_t *lc = calloc((size_t)t->n_labels, sizeof *lc);
        if (!lc) return vf_fail(VF_ERR_OOM, "inspect: out of memory");
        for (size_t i = 0; i < t->n; i++)
            if (t->recs[i].label >= 0) lc[t->recs[i].label]++;
        fprintf(f, "  labels            ");
        for (int l = 0; l < t->n_labels; l++) fprintf(f, " %s %llu", t->labels[l], (unsigned long long)lc[l]);
        fputc('\n', f);
        free(lc);
    }
    return VF_OK;
}
