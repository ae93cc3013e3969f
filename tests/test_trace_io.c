/* Trace readers and writers on the real files in ../shared/data: counts
 * against the data README (which were taken with capinfos/tshark), round
 * trips pcap -> records -> pcap -> records and CSV -> records -> CSV, and
 * (when installed) tshark/tcpdump reading the written pcaps without
 * complaint and agreeing on counts. */
#include <criterion/criterion.h>
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace/trace.h"

#define PATHSPIDER tu_shared_data("pcap_enterprise_pathspider_real_2012-11-23.pcap")
#define CAIDA tu_shared_data("pcap_caida_equinix-nyc_2018-03-15_10k.pcapng")
#define UGR tu_shared_data("flows_ugr16_netflow_2016-04-11_13hosts.csv")
#define ZEEK tu_shared_data("flows_iot23_zeekconn_ctu-malware-capture-34-1.csv")

static void read_ok(const char *path, vf_trace *t) {
    vf_status st = vf_trace_read(path, NULL, t);
    cr_assert_eq(st, VF_OK, "%s", vf_last_error());
}

static size_t n_proto(const vf_trace *t, int p) {
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) n += t->recs[i].proto == p;
    return n;
}

static size_t n_tuples(const vf_trace *t) {
    vf_flow_index fi;
    cr_assert_eq(vf_flow_index_build(t, &fi), VF_OK);
    size_t n = fi.n_flows;
    vf_flow_index_free(&fi);
    return n;
}

static void tmpname(char *buf, size_t len, const char *suffix) {
    snprintf(buf, len, "/tmp/vkflow_test_%d_%s", (int)getpid(), suffix);
}

/* every field the pcap writer models */
static void assert_same_packets(const vf_trace *a, const vf_trace *b) {
    cr_assert_eq(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const vf_record *x = &a->recs[i], *y = &b->recs[i];
        cr_assert_eq(x->ts_ns, y->ts_ns, "packet %zu: ts", i);
        cr_assert(!memcmp(&x->src, &y->src, 16) && !memcmp(&x->dst, &y->dst, 16), "packet %zu: addresses", i);
        cr_assert(x->sport == y->sport && x->dport == y->dport && x->proto == y->proto, "packet %zu: ports/proto", i);
        cr_assert(x->length == y->length && x->ttl == y->ttl && x->tos == y->tos, "packet %zu: len/ttl/tos", i);
        cr_assert(x->ip_id == y->ip_id && x->frag_flags == y->frag_flags && x->frag_off == y->frag_off,
                  "packet %zu: id/frag", i);
        cr_assert_eq(x->tcp_flags, y->tcp_flags, "packet %zu: tcp flags", i);
        cr_assert_eq(x->ip_version, y->ip_version, "packet %zu: version", i);
    }
}

static void assert_same_flows(const vf_trace *a, const vf_trace *b, bool flags_tos) {
    cr_assert_eq(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const vf_record *x = &a->recs[i], *y = &b->recs[i];
        cr_assert_eq(x->ts_ns, y->ts_ns, "flow %zu: ts", i);
        cr_assert_eq(x->dur_ns, y->dur_ns, "flow %zu: td", i);
        cr_assert(!memcmp(&x->src, &y->src, 16) && !memcmp(&x->dst, &y->dst, 16), "flow %zu: addresses", i);
        cr_assert(x->sport == y->sport && x->dport == y->dport && x->proto == y->proto, "flow %zu: 5-tuple", i);
        cr_assert(x->pkts == y->pkts && x->bytes == y->bytes, "flow %zu: pkt/byt", i);
        if (flags_tos) cr_assert(x->tcp_flags == y->tcp_flags && x->tos == y->tos, "flow %zu: flags/tos", i);
        cr_assert_str_eq(x->label >= 0 ? a->labels[x->label] : "", y->label >= 0 ? b->labels[y->label] : "");
    }
}

Test(trace_io, pathspider_counts) {
    vf_trace t;
    read_ok(PATHSPIDER, &t);
    /* data README: 62,781 frames, 62,038 IPv4 (60,873 TCP, 1,031 UDP, 105 ICMP, 29 IGMP), 743 non-IP */
    cr_assert_eq(t.n_input, 62781);
    cr_assert_eq(t.n, 62038);
    cr_assert_eq(t.skipped[VF_SKIP_NOT_IP], 743);
    cr_assert_eq(vf_trace_skipped_total(&t), 743);
    cr_assert_eq(n_proto(&t, 6), 60873);
    cr_assert_eq(n_proto(&t, 17), 1031);
    cr_assert_eq(n_proto(&t, 1), 105);
    cr_assert_eq(n_proto(&t, 2), 29);
    cr_assert_eq(t.linktype, 1);
    vf_trace_free(&t);
}

Test(trace_io, caida_counts) {
    vf_trace t;
    read_ok(CAIDA, &t);
    cr_assert_eq(t.n, 10000);
    cr_assert_eq(n_proto(&t, 6), 8098);
    cr_assert_eq(n_proto(&t, 17), 1902);
    cr_assert_eq(n_tuples(&t), 3149);
    /* 2018-03-15 12:59:33.289502 to .313709 UTC */
    cr_assert_eq(t.recs[0].ts_ns / 1000, 1521118773289502ll);
    cr_assert_eq(t.recs[t.n - 1].ts_ns / 1000, 1521118773313709ll);
    vf_trace_free(&t);
}

Test(trace_io, ugr16_counts) {
    vf_trace t;
    read_ok(UGR, &t);
    cr_assert_str_eq(t.layout.name, "ugr16");
    cr_assert_eq(t.n, 103899);
    cr_assert_eq(n_proto(&t, 6), 89850);
    cr_assert_eq(n_proto(&t, 17), 7186);
    cr_assert_eq(n_proto(&t, 1), 6863);
    cr_assert_eq(n_tuples(&t), 75750);
    cr_assert_eq(t.n_labels, 2);
    size_t bl = 0;
    for (size_t i = 0; i < t.n; i++) bl += !strcmp(t.labels[t.recs[i].label], "blacklist");
    cr_assert_eq(bl, 135);
    /* first row: te 2016-04-11 00:01:39, td 22.052 -> start = te - td */
    cr_assert_eq(t.recs[0].ts_ns, 1460332899000000000ll - 22052000000ll);
    cr_assert_eq(t.recs[0].tcp_flags, 0x1a); /* .AP.S. */
    cr_assert_eq(t.recs[0].pkts, 35);
    cr_assert_eq(t.recs[0].bytes, 3928);
    vf_trace_free(&t);
}

Test(trace_io, zeek_counts) {
    vf_trace t;
    read_ok(ZEEK, &t);
    cr_assert_str_eq(t.layout.name, "zeek");
    cr_assert_eq(t.n, 23145);
    cr_assert_eq(n_proto(&t, 6), 21331);
    cr_assert_eq(n_proto(&t, 17), 1814);
    cr_assert_eq(n_tuples(&t), 4662);
    /* first row: orig_pkts 3 + resp_pkts 0, orig_ip_bytes 180 + resp_ip_bytes 0, duration 3.139211 */
    cr_assert_eq(t.recs[0].pkts, 3);
    cr_assert_eq(t.recs[0].bytes, 180);
    cr_assert_eq(t.recs[0].dur_ns, 3139211000ll);
    cr_assert_eq(t.recs[0].ts_ns, 1545403816962094000ll);
    vf_trace_free(&t);
}

static void pcap_round_trip(const char *path) {
    vf_trace a, b, c;
    read_ok(path, &a);
    char out[256], out2[256];
    tmpname(out, sizeof out, "rt.pcap");
    tmpname(out2, sizeof out2, "rt2.pcap");
    cr_assert_eq(vf_trace_write(out, &a), VF_OK, "%s", vf_last_error());
    read_ok(out, &b);
    cr_assert_eq(vf_trace_skipped_total(&b), 0, "%s", b.first_skip);
    assert_same_packets(&a, &b);
    /* and once more: the written file is a fixed point */
    cr_assert_eq(vf_trace_write(out2, &b), VF_OK);
    read_ok(out2, &c);
    assert_same_packets(&b, &c);
    unlink(out);
    unlink(out2);
    vf_trace_free(&a);
    vf_trace_free(&b);
    vf_trace_free(&c);
}

Test(trace_io, pcap_round_trip_pathspider) { pcap_round_trip(PATHSPIDER); }
Test(trace_io, pcap_round_trip_caida) { pcap_round_trip(CAIDA); }

Test(trace_io, ipv6_and_fragments_round_trip) {
    vf_trace t;
    memset(&t, 0, sizeof t);
    t.kind = VF_TRACE_PACKETS;
    static const char *const addrs[] = {"2001:db8::1", "fe80::2", "10.0.0.1", "10.0.0.2"};
    static const uint8_t protos[] = {6, 17, 58, 1, 47};
    for (int i = 0; i < 40; i++) {
        vf_record r;
        memset(&r, 0, sizeof r);
        bool v6 = i % 2 == 0;
        vf_addr_parse(addrs[v6 ? 0 : 2], &r.src);
        vf_addr_parse(addrs[v6 ? 1 : 3], &r.dst);
        r.ip_version = v6 ? 6 : 4;
        r.proto = protos[i % 5];
        if (v6 && r.proto == 1) r.proto = 58;
        if (!v6 && r.proto == 58) r.proto = 1;
        if (r.proto == 6 || r.proto == 17) { r.sport = (uint16_t)(1000 + i); r.dport = 443; }
        if (r.proto == 1 || r.proto == 58) r.dport = (uint16_t)(8 << 8);
        if (r.proto == 6) r.tcp_flags = 0x12;
        r.ts_ns = 1500000000123456789ll + i * 1000;
        r.length = (uint32_t)(100 + i);
        r.ttl = 64;
        r.tos = (uint8_t)(i * 4);
        if (i % 7 == 3) { r.frag_off = 185; r.frag_flags = v6 ? 0 : 1; r.ip_id = (uint16_t)(777 + i); r.sport = r.dport = 0; r.tcp_flags = 0; }
        if (!v6 && i % 7 != 3) r.ip_id = (uint16_t)i;
        r.pkts = 1;
        r.bytes = r.length;
        r.label = -1;
        cr_assert_eq(vf_trace_append(&t, &r), VF_OK);
    }
    char out[256];
    tmpname(out, sizeof out, "v6.pcap");
    cr_assert_eq(vf_trace_write(out, &t), VF_OK, "%s", vf_last_error());
    vf_trace b;
    read_ok(out, &b);
    cr_assert_eq(vf_trace_skipped_total(&b), 0, "%s", b.first_skip);
    assert_same_packets(&t, &b);
    unlink(out);
    vf_trace_free(&t);
    vf_trace_free(&b);
}

Test(trace_io, csv_round_trip_ugr16) {
    vf_trace a, b, c;
    read_ok(UGR, &a);
    char out[256], ns[256];
    tmpname(out, sizeof out, "ugr.csv");
    tmpname(ns, sizeof ns, "ugr_ns.csv");
    /* in the layout it was read from: every field back */
    cr_assert_eq(vf_trace_write(out, &a), VF_OK, "%s", vf_last_error());
    read_ok(out, &b);
    assert_same_flows(&a, &b, true);
    /* through NetShare's layout (no flags/tos columns) */
    vf_csv_layout L;
    cr_assert_eq(vf_csv_layout_builtin("netshare", &L), VF_OK);
    cr_assert_eq(vf_trace_write_csv(ns, &a, &L), VF_OK);
    read_ok(ns, &c);
    cr_assert_str_eq(c.layout.name, "netshare");
    assert_same_flows(&a, &c, false);
    /* text: identical to the source apart from its CRLF line ends */
    FILE *f1 = fopen(UGR, "rb"), *f2 = fopen(out, "rb");
    cr_assert(f1 && f2);
    int x, y;
    size_t pos = 0;
    do {
        do x = fgetc(f1); while (x == '\r');
        y = fgetc(f2);
        cr_assert_eq(x, y, "byte %zu differs", pos);
        pos++;
    } while (x != EOF);
    fclose(f1);
    fclose(f2);
    unlink(out);
    unlink(ns);
    vf_trace_free(&a);
    vf_trace_free(&b);
    vf_trace_free(&c);
}

Test(trace_io, csv_round_trip_zeek) {
    vf_trace a, b;
    read_ok(ZEEK, &a);
    char out[256];
    tmpname(out, sizeof out, "zeek.csv");
    cr_assert_eq(vf_trace_write(out, &a), VF_OK, "%s", vf_last_error());
    read_ok(out, &b);
    cr_assert_str_eq(b.layout.name, "zeek");
    assert_same_flows(&a, &b, true);
    unlink(out);
    vf_trace_free(&a);
    vf_trace_free(&b);
}

Test(trace_io, aggregate_pathspider) {
    vf_trace p, f;
    read_ok(PATHSPIDER, &p);
    cr_assert_eq(vf_trace_aggregate(&p, 0, &f), VF_OK);
    cr_assert_eq(f.kind, VF_TRACE_FLOWS);
    cr_assert_eq(f.n, n_tuples(&p));
    uint64_t pk = 0, by = 0, pby = 0;
    for (size_t i = 0; i < f.n; i++) { pk += f.recs[i].pkts; by += f.recs[i].bytes; }
    for (size_t i = 0; i < p.n; i++) pby += p.recs[i].length;
    cr_assert_eq(pk, p.n);
    cr_assert_eq(by, pby);
    /* the first flow starts at the first packet; durations never negative */
    cr_assert_eq(f.recs[0].ts_ns, p.recs[0].ts_ns);
    for (size_t i = 0; i < f.n; i++) cr_assert_geq(f.recs[i].dur_ns, 0);
    /* an inactive timeout only splits flows */
    vf_trace g;
    cr_assert_eq(vf_trace_aggregate(&p, 60 * 1000000000ll, &g), VF_OK);
    cr_assert_geq(g.n, f.n);
    /* and the CSV written from it reads back the same */
    char out[256];
    tmpname(out, sizeof out, "agg.csv");
    cr_assert_eq(vf_trace_write(out, &f), VF_OK);
    vf_trace h;
    read_ok(out, &h);
    assert_same_flows(&f, &h, false);
    unlink(out);
    vf_trace_free(&p);
    vf_trace_free(&f);
    vf_trace_free(&g);
    vf_trace_free(&h);
}

Test(trace_io, flow_table_many_keys) {
    vf_flow_table ft;
    cr_assert_eq(vf_flow_table_init(&ft, 0), VF_OK);
    for (uint32_t i = 0; i < 300000; i++) {
        vf_record r;
        memset(&r, 0, sizeof r);
        vf_addr_from_v4(&r.src, i);
        vf_addr_from_v4(&r.dst, i * 7u);
        r.sport = (uint16_t)i;
        r.proto = 6;
        vf_flow_key k;
        vf_flow_key_of(&r, &k);
        bool is_new;
        cr_assert_eq(vf_flow_table_put(&ft, &k, &is_new), (int64_t)i);
        cr_assert(is_new);
    }
    for (uint32_t i = 0; i < 300000; i += 997) {
        vf_record r;
        memset(&r, 0, sizeof r);
        vf_addr_from_v4(&r.src, i);
        vf_addr_from_v4(&r.dst, i * 7u);
        r.sport = (uint16_t)i;
        r.proto = 6;
        vf_flow_key k;
        vf_flow_key_of(&r, &k);
        cr_assert_eq(vf_flow_table_get(&ft, &k), (int64_t)i);
        r.proto = 17;
        vf_flow_key_of(&r, &k);
        cr_assert_eq(vf_flow_table_get(&ft, &k), -1);
    }
    vf_flow_table_free(&ft);
}

/* ---------------------------------------------------- independent tools */

static bool have(const char *tool) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
    return system(cmd) == 0;
}

/* Runs cmd; returns its stdout+stderr (malloc'd) and exit status. */
static char *run(const char *cmd, int *status) {
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (n + 1 == cap) buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    *status = pclose(p);
    return buf;
}

Test(trace_io, tshark_tcpdump_read_written_pcaps) {
    if (!have("tshark") || !have("tcpdump")) cr_skip_test("tshark/tcpdump not installed");
    vf_trace a;
    read_ok(PATHSPIDER, &a);
    char out[256];
    tmpname(out, sizeof out, "tools.pcap");
    cr_assert_eq(vf_trace_write(out, &a), VF_OK);
    char cmd[1024];
    int st;
    snprintf(cmd, sizeof cmd, "tcpdump -nn -r %s 2>&1 >/dev/null", out);
    char *o = run(cmd, &st);
    cr_assert_eq(st, 0, "tcpdump: %s", o);
    /* tcpdump prints only "reading from file ..." on stderr */
    cr_assert(!strstr(o, "truncated") && !strstr(o, "bad") && !strstr(o, "invalid"), "tcpdump: %s", o);
    free(o);
    /* tshark with checksum validation on: no bad checksums, no malformed packets */
    snprintf(cmd, sizeof cmd,
             "tshark -n -r %s -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE "
             "-Y 'ip.checksum.status==0 || tcp.checksum.status==0 || udp.checksum.status==0 || "
             "icmp.checksum.status==0 || _ws.malformed || _ws.expert.severity>=error' 2>/dev/null | wc -l", out);
    o = run(cmd, &st);
    cr_assert_eq(atoi(o), 0, "tshark flagged packets: %s", o);
    free(o);
    /* nothing on stderr (but tshark's note about running as root) */
    snprintf(cmd, sizeof cmd, "tshark -n -r %s 2>&1 >/dev/null | grep -v '^Running as user' | wc -l", out);
    o = run(cmd, &st);
    cr_assert_eq(atoi(o), 0, "tshark wrote warnings: %s", o);
    free(o);
    snprintf(cmd, sizeof cmd, "tshark -n -r %s -T fields -e frame.number 2>/dev/null | wc -l", out);
    o = run(cmd, &st);
    cr_assert_eq((size_t)atol(o), a.n, "tshark frame count %s", o);
    free(o);
    unlink(out);
    vf_trace_free(&a);
}

/* distinct directional 5-tuples as tshark sees them (first IP header and
 * first TCP/UDP/ICMP header of each packet; ICMP as type*256+code) */
static size_t tshark_tuples(const char *path, size_t *n_packets) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "tshark -n -r %s -Y ip -T fields -E occurrence=f -e ip.src -e ip.dst -e ip.proto "
             "-e tcp.srcport -e tcp.dstport -e udp.srcport -e udp.dstport -e icmp.type -e icmp.code "
             "-e ip.frag_offset 2>/dev/null "
             /* ICMP errors quote a datagram: tshark then reports its inner
              * UDP/TCP ports; the packet's own key has none */
             "| awk -F'\\t' 'BEGIN{OFS=\"\\t\"} $3==1{$4=$5=$6=$7=\"\"} {print}' | sort -u | wc -l", path);
    int st;
    char *o = run(cmd, &st);
    size_t n = (size_t)atol(o);
    free(o);
    snprintf(cmd, sizeof cmd, "tshark -n -r %s -Y ip -T fields -e frame.number 2>/dev/null | wc -l", path);
    o = run(cmd, &st);
    *n_packets = (size_t)atol(o);
    free(o);
    return n;
}

Test(trace_io, counts_match_tshark) {
    if (!have("tshark")) cr_skip_test("tshark not installed");
    const char *files[] = {PATHSPIDER, CAIDA};
    for (int k = 0; k < 2; k++) {
        vf_trace t;
        read_ok(files[k], &t);
        size_t np = 0;
        size_t nt_sh = tshark_tuples(files[k], &np);
        cr_assert_eq(np, t.n, "%s: tshark sees %zu IP packets, vkflow %zu", files[k], np, t.n);
        /* same key as tshark's line: 5-tuple plus fragment offset (non-first
         * fragments have no L4 header there either) */
        vf_flow_table ft;
        cr_assert_eq(vf_flow_table_init(&ft, 0), VF_OK);
        for (size_t i = 0; i < t.n; i++) {
            vf_flow_key key;
            vf_flow_key_of(&t.recs[i], &key);
            key.sport ^= (uint16_t)(t.recs[i].frag_off ? 0x8000u | t.recs[i].frag_off : 0); /* keep fragments apart */
            vf_flow_table_put(&ft, &key, NULL);
        }
        cr_assert_eq(ft.n, nt_sh, "%s: tshark %zu distinct (5-tuple, frag offset), vkflow %zu", files[k], nt_sh, ft.n);
        vf_flow_table_free(&ft);
        vf_trace_free(&t);
    }
}
