/* Streaming packet -> flow aggregation (flow_stream.c): idle and active
 * timeouts, biflows, the live-flow bound, agreement with vf_trace_aggregate,
 * and flow counts against nfpcapd/nfdump and Argus on the shared pcaps
 * (docs/TRACES.md "Streaming flows" says which differences are expected). */
#include <criterion/criterion.h>
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace/trace.h"

#define PATHSPIDER tu_shared_data("pcap_enterprise_pathspider_real_2012-11-23.pcap")
#define CAIDA tu_shared_data("pcap_caida_equinix-nyc_2018-03-15_10k.pcapng")
#define S 1000000000ll

static vf_status collect(void *ctx, const vf_record *r) { return vf_trace_append(ctx, r); }

static vf_record pkt(int64_t ts_s, uint32_t src, uint32_t dst, uint16_t sp, uint16_t dp, uint8_t proto) {
    return tu_record(src, dst, sp, dp, proto, ts_s * S);
}

Test(stream, idle_active_end) {
    vf_flow_timeouts to = {10 * S, 100 * S, false};
    vf_trace out = {.kind = VF_TRACE_FLOWS};
    vf_flow_stream *s;
    cr_assert_eq(vf_flow_stream_new(&to, collect, &out, &s), VF_OK);
    /* flow A: packets at 0, 5, 9 then a gap of 11 s (idle) and one at 20 */
    int64_t ta[] = {0, 5, 9, 20};
    for (int i = 0; i < 4; i++) {
        vf_record r = pkt(ta[i], 1, 2, 1000, 80, 6);
        cr_assert_eq(vf_flow_stream_add(s, &r), VF_OK);
    }
    cr_assert_eq(out.n, 1, "idle closed the first A record when the packet at 20 came");
    cr_assert_eq(out.recs[0].pkts, 3);
    cr_assert_eq(out.recs[0].dur_ns, 9 * S);
    cr_assert_eq(out.recs[0].bytes, 300);
    /* flow B: a packet every 5 s for 205 s: active 100 s cuts it at 100 and 200 */
    for (int64_t t = 21; t <= 226; t += 5) {
        vf_record r = pkt(t, 3, 4, 53, 53, 17);
        cr_assert_eq(vf_flow_stream_add(s, &r), VF_OK);
        vf_record a = pkt(t, 1, 2, 1000, 80, 6); /* keeps A alive too */
        cr_assert_eq(vf_flow_stream_add(s, &a), VF_OK);
    }
    const vf_flow_stream_stats *st = vf_flow_stream_stats_of(s);
    cr_assert_eq(st->by_idle, 1);
    cr_assert_eq(st->by_active, 4, "A and B each cut twice (%llu)", (unsigned long long)st->by_active);
    cr_assert_eq(vf_flow_stream_live(s), 2);
    cr_assert_eq(st->peak_live, 2);
    cr_assert_eq(vf_flow_stream_finish(s), VF_OK);
    cr_assert_eq(st->at_end, 2);
    cr_assert_eq(vf_flow_stream_live(s), 0);
    uint64_t pk = 0;
    for (size_t i = 0; i < out.n; i++) {
        pk += out.recs[i].pkts;
        cr_assert_lt(out.recs[i].dur_ns, 100 * S, "no record is longer than the active timeout");
    }
    cr_assert_eq(pk, 4 + 2 * 42);
    cr_assert_eq(out.n, 7);
    vf_flow_stream_free(s);
    vf_trace_free(&out);
}

Test(stream, biflow_and_table_reuse) {
    vf_flow_timeouts to = {10 * S, 0, true};
    vf_trace out = {.kind = VF_TRACE_FLOWS};
    vf_flow_stream *s;
    cr_assert_eq(vf_flow_stream_new(&to, collect, &out, &s), VF_OK);
    /* 5000 request/response pairs, each 20 s after the previous: only one
     * flow is ever live, and every record has both directions' packets */
    for (int i = 0; i < 5000; i++) {
        vf_record q = pkt(20 * i, 10, (uint32_t)(1000 + i), (uint16_t)(40000 + i % 1000), 53, 17);
        vf_record a = pkt(20 * i + 1, (uint32_t)(1000 + i), 10, 53, (uint16_t)(40000 + i % 1000), 17);
        cr_assert_eq(vf_flow_stream_add(s, &q), VF_OK);
        cr_assert_eq(vf_flow_stream_add(s, &a), VF_OK);
    }
    cr_assert_eq(vf_flow_stream_finish(s), VF_OK);
    cr_assert_eq(out.n, 5000);
    cr_assert_eq(vf_flow_stream_stats_of(s)->peak_live, 1);
    for (size_t i = 0; i < out.n; i++) {
        cr_assert_eq(out.recs[i].pkts, 2);
        cr_assert_eq(out.recs[i].dport, 53, "the record keeps the first packet's direction");
    }
    vf_flow_stream_free(s);
    vf_trace_free(&out);
}

/* many live flows at once, removed in an order unlike insertion: exercises
 * the hash table's backward-shift deletion */
Test(stream, many_live_flows) {
    vf_flow_timeouts to = {1000 * S, 0, false};
    vf_flow_stream *s;
    cr_assert_eq(vf_flow_stream_new(&to, NULL, NULL, &s), VF_OK);
    for (int round = 0; round < 3; round++)
        for (uint32_t i = 0; i < 20000; i++) {
            /* flows with odd i stop after round 0, so they expire mid-stream */
            if (round && (i & 1)) continue;
            vf_record r = pkt(round * 600 + i / 100, i * 2654435761u, 7, (uint16_t)i, 443, 6);
            cr_assert_eq(vf_flow_stream_add(s, &r), VF_OK);
        }
    const vf_flow_stream_stats *st = vf_flow_stream_stats_of(s);
    cr_assert_eq(st->peak_live, 20000);
    cr_assert_eq(st->by_idle, 10000, "odd flows idle out (%llu)", (unsigned long long)st->by_idle);
    cr_assert_eq(vf_flow_stream_live(s), 10000);
    cr_assert_eq(vf_flow_stream_finish(s), VF_OK);
    cr_assert_eq(st->flows, 20000);
    cr_assert_eq(st->packets, 40000);
    vf_flow_stream_free(s);
}

static void stream_file(const char *pcap, const vf_flow_timeouts *to, vf_trace *flows) {
    memset(flows, 0, sizeof *flows);
    flows->kind = VF_TRACE_FLOWS;
    vf_flow_stream *s;
    cr_assert_eq(vf_flow_stream_new(to, collect, flows, &s), VF_OK);
    vf_trace stats;
    cr_assert_eq(vf_pcap_stream_flows(pcap, NULL, s, &stats), VF_OK, "%s", vf_last_error());
    cr_assert_eq(stats.n, 0, "no packet records are kept");
    vf_flow_stream_free(s);
    vf_trace_free(&stats);
}

/* Same flows as the in-memory aggregation with the same idle timeout (the
 * two differ only in the order records come out). */
Test(stream, same_as_aggregate) {
    const char *pcap = PATHSPIDER;
    vf_trace p, agg, st;
    cr_assert_eq(vf_trace_read(pcap, NULL, &p), VF_OK, "%s", vf_last_error());
    cr_assert_eq(vf_trace_aggregate(&p, 60 * S, &agg), VF_OK);
    vf_flow_timeouts to = {60 * S, 0, false};
    stream_file(pcap, &to, &st);
    cr_assert_eq(st.n, agg.n, "stream %zu flows, aggregate %zu", st.n, agg.n);
    uint64_t a[3] = {0}, b[3] = {0};
    for (size_t i = 0; i < agg.n; i++) {
        a[0] += agg.recs[i].pkts, a[1] += agg.recs[i].bytes, a[2] += (uint64_t)agg.recs[i].dur_ns;
        b[0] += st.recs[i].pkts, b[1] += st.recs[i].bytes, b[2] += (uint64_t)st.recs[i].dur_ns;
    }
    cr_assert(a[0] == b[0] && a[1] == b[1] && a[2] == b[2]);
    cr_assert_eq(a[0], p.n);
    vf_trace_free(&p);
    vf_trace_free(&agg);
    vf_trace_free(&st);
}

/* vkflow convert pcap -> csv(.gz): the streamed flows, written as they close */
Test(stream, convert_cli, .timeout = 120) {
    const char *pcap = PATHSPIDER;
    char dir[256], cmd[1024], path[512];
    snprintf(dir, sizeof dir, "/tmp/vkflow_stream_%d_cli", (int)getpid());
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
    cr_assert_eq(system(cmd), 0);
    vf_trace p;
    cr_assert_eq(vf_trace_read(pcap, NULL, &p), VF_OK, "%s", vf_last_error());
    const char *args[] = {"", "--idle 0 --active 0", "--idle 30 --active 120 --biflow"};
    for (int v = 0; v < 3; v++) {
        snprintf(cmd, sizeof cmd, "'%s' convert %s '%s' %s/f%d.csv.gz 2>/dev/null", VKFLOW_CLI, args[v], pcap, dir, v);
        cr_assert_eq(system(cmd), 0, "%s", cmd);
        snprintf(path, sizeof path, "%s/f%d.csv.gz", dir, v);
        vf_trace f;
        cr_assert_eq(vf_trace_read(path, NULL, &f), VF_OK, "%s", vf_last_error());
        cr_assert_eq(vf_trace_skipped_total(&f), 0);
        uint64_t pk = 0;
        for (size_t i = 0; i < f.n; i++) pk += f.recs[i].pkts;
        cr_assert_eq(pk, p.n, "%s: every IP packet in some flow", args[v]);
        if (v == 0) cr_assert_eq(f.n, 12394, "defaults: %zu flows", f.n);
        if (v == 1) cr_assert_eq(f.n, 11978, "one flow per 5-tuple: %zu", f.n);
        vf_trace_free(&f);
    }
    vf_trace_free(&p);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* ------------------------------------------------ against the flow tools */

static void sh(const char *cmd) {
    int rc = system(cmd);
    cr_assert_eq(rc, 0, "command failed (%d): %s", rc, cmd);
}

typedef struct counts {
    size_t tcp, udp, dns, icmp, other; /* flows; udp excludes DNS */
    uint64_t dns_pkts, icmp_pkts;
} counts;

static void count(const vf_trace *t, counts *c) {
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < t->n; i++) {
        const vf_record *r = &t->recs[i];
        if (r->proto == 6) c->tcp++;
        else if (r->proto == 17 && (r->sport == 53 || r->dport == 53)) c->dns++, c->dns_pkts += r->pkts;
        else if (r->proto == 17 && !(r->sport == 0 && r->dport == 0)) c->udp++; /* not later fragments */
        else if (r->proto == 1) c->icmp++, c->icmp_pkts += r->pkts;
        else if (r->proto != 17) c->other++;
    }
}

static void near(size_t ours, size_t theirs, double tol, const char *what, const char *pcap) {
    double d = (double)ours - (double)theirs;
    if (d < 0) d = -d;
    cr_assert(d <= tol * (double)theirs + 0.5, "%s: %s: vkflow %zu, tool %zu (tolerance %.0f%%)", pcap, what, ours,
              theirs, tol * 100);
}

static void nfdump_counts(const char *pcap) {
    tu_need_tool("nfpcapd", "nfdump");
    tu_need_tool("nfdump", "nfdump");
    char dir[256], cmd[2048], path[512];
    snprintf(dir, sizeof dir, "/tmp/vkflow_stream_%d_nf", (int)getpid());
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s/nf && nfpcapd -r '%s' -w %s/nf >/dev/null 2>&1 && "
             "TZ=UTC nfdump -R %s/nf -o csv > %s/nf.csv", dir, dir, pcap, dir, dir, dir);
    sh(cmd);
    snprintf(path, sizeof path, "%s/nf.csv", dir);
    vf_trace nf, ours;
    cr_assert_eq(vf_trace_read(path, NULL, &nf), VF_OK, "%s", vf_last_error());
    stream_file(pcap, NULL, &ours); /* defaults = nfpcapd's -e 300,60 */
    counts a, b;
    count(&ours, &a);
    count(&nf, &b);
    cr_log_info("%s: vkflow tcp %zu udp %zu dns %zu icmp %zu other %zu; nfdump %zu %zu %zu %zu %zu", pcap, a.tcp,
                a.udp, a.dns, a.icmp, a.other, b.tcp, b.udp, b.dns, b.icmp, b.other);
    near(a.tcp, b.tcp, 0.01, "TCP flows", pcap);
    near(a.udp, b.udp, 0.03, "UDP flows (not DNS)", pcap);
    near(a.other, b.other, 0.01, "other protocols' flows", pcap);
    /* nfpcapd writes every ICMP and every DNS packet as a record of its own */
    cr_assert_eq(b.icmp, b.icmp_pkts, "nfdump: one ICMP packet per record");
    cr_assert_eq(a.icmp_pkts, b.icmp, "%s: ICMP packets %llu, nfdump ICMP records %zu", pcap,
                 (unsigned long long)a.icmp_pkts, b.icmp);
    cr_assert_eq(a.dns_pkts, b.dns, "%s: DNS packets %llu, nfdump DNS records %zu", pcap,
                 (unsigned long long)a.dns_pkts, b.dns);
    vf_trace_free(&nf);
    vf_trace_free(&ours);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    sh(cmd);
}

Test(stream, nfdump_enterprise, .timeout = 300) { nfdump_counts(PATHSPIDER); }
Test(stream, nfdump_caida, .timeout = 300) { nfdump_counts(CAIDA); }

static void argus_counts(const char *pcap) {
    tu_need_tool("argus", "argus-server");
    tu_need_tool("ra", "argus-client");
    char dir[256], cmd[2048], path[512];
    snprintf(dir, sizeof dir, "/tmp/vkflow_stream_%d_argus", (int)getpid());
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s && argus -r '%s' -w %s/x.argus 2>/dev/null && "
             "ra -r %s/x.argus -c , -n -u - ip > %s/ra.csv", dir, dir, pcap, dir, dir, dir);
    sh(cmd);
    snprintf(path, sizeof path, "%s/ra.csv", dir);
    vf_trace ra, ours;
    cr_assert_eq(vf_trace_read(path, NULL, &ra), VF_OK, "%s", vf_last_error());
    vf_flow_timeouts to;
    vf_flow_timeouts_default(&to);
    to.biflow = true; /* Argus's flows are bidirectional */
    stream_file(pcap, &to, &ours);
    counts a, b;
    count(&ours, &a);
    count(&ra, &b);
    cr_log_info("%s: vkflow --biflow tcp %zu udp %zu dns %zu icmp %zu; argus %zu %zu %zu %zu", pcap, a.tcp, a.udp,
                a.dns, a.icmp, b.tcp, b.udp, b.dns, b.icmp);
    /* TCP only: Argus splits UDP and ICMP flows by its own rules (DNS by
     * transaction, ICMP by type and id); see docs/TRACES.md */
    near(a.tcp, b.tcp, 0.01, "TCP biflows", pcap);
    vf_trace_free(&ra);
    vf_trace_free(&ours);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    sh(cmd);
}

Test(stream, argus_enterprise, .timeout = 300) { argus_counts(PATHSPIDER); }
Test(stream, argus_caida, .timeout = 300) { argus_counts(CAIDA); }
