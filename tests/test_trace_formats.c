/* Flow logs from the tools people run: Argus (ra -c , and CTU-13's
 * binetflow), nfdump (-o csv of nfpcapd-made NetFlow), Zeek conn.log (TSV and
 * JSON lines), CICFlowMeter. The Argus and nfdump files are written here, at
 * test time, by the real tools from the shared pcaps, and read with no row
 * lost; their flow, packet and byte totals are compared with the tools' own.
 * Small hand-written fixtures (tests/data/) cover what the shared pcaps lack:
 * ICMP type/code in hex "ports", GRE, ESP, SCTP, PIM, IPv6, ICMPv6. */
#include <criterion/criterion.h>
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace/trace.h"

#define PATHSPIDER tu_shared_data("pcap_enterprise_pathspider_real_2012-11-23.pcap")
#define CAIDA tu_shared_data("pcap_caida_equinix-nyc_2018-03-15_10k.pcapng")
#define FIXTURE(f) VKFLOW_SOURCE_DIR "/tests/data/" f

static void tmpdir(char *buf, size_t len, const char *what) {
    snprintf(buf, len, "/tmp/vkflow_fmt_%d_%s", (int)getpid(), what);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", buf, buf);
    cr_assert_eq(system(cmd), 0);
}

static void rmdir_r(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    (void)system(cmd);
}

static void sh(const char *cmd) {
    int rc = system(cmd);
    cr_assert_eq(rc, 0, "command failed (%d): %s", rc, cmd);
}

/* first line of a command's output */
static void sh_out(const char *cmd, char *out, size_t len) {
    FILE *p = popen(cmd, "r");
    cr_assert(p, "popen %s", cmd);
    out[0] = 0;
    if (!fgets(out, (int)len, p)) out[0] = 0;
    cr_assert_eq(pclose(p), 0, "command failed: %s", cmd);
}

static void totals(const vf_trace *t, uint64_t *pk, uint64_t *by) {
    *pk = *by = 0;
    for (size_t i = 0; i < t->n; i++) {
        *pk += t->recs[i].pkts;
        *by += t->recs[i].bytes;
    }
}

static void read_ok(const char *path, vf_trace *t) {
    cr_assert_eq(vf_trace_read(path, NULL, t), VF_OK, "%s", vf_last_error());
}

/* no row lost: only frames that are not IP and the tool's own records are
 * set aside, and those are counted */
static void assert_no_row_lost(const vf_trace *t, const char *what) {
    for (int i = 0; i < VF_SKIP_COUNT; i++) {
        if (i == VF_SKIP_NOT_IP || i == VF_SKIP_TOOL_RECORD) continue;
        cr_assert_eq(t->skipped[i], 0, "%s: %llu rows skipped as '%s' (first: %s)", what,
                     (unsigned long long)t->skipped[i], vf_skip_reason_name((vf_skip_reason)i),
                     t->first_by_reason[i]);
    }
    cr_assert_eq(t->n + t->skipped[VF_SKIP_NOT_IP] + t->skipped[VF_SKIP_TOOL_RECORD], t->n_input, "%s", what);
}

static bool has_dport(const vf_trace *t, int proto, int dport) {
    for (size_t i = 0; i < t->n; i++)
        if (t->recs[i].proto == proto && t->recs[i].dport == dport) return true;
    return false;
}

/* every field a flow log gives, in order */
static void assert_same_flows(const vf_trace *a, const vf_trace *b) {
    cr_assert_eq(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const vf_record *x = &a->recs[i], *y = &b->recs[i];
        cr_assert_eq(x->ts_ns, y->ts_ns, "flow %zu: ts", i);
        cr_assert_eq(x->dur_ns, y->dur_ns, "flow %zu: dur", i);
        cr_assert(!memcmp(&x->src, &y->src, 16) && !memcmp(&x->dst, &y->dst, 16), "flow %zu: addresses", i);
        cr_assert(x->sport == y->sport && x->dport == y->dport, "flow %zu: ports %u/%u vs %u/%u", i, x->sport,
                  x->dport, y->sport, y->dport);
        cr_assert_eq(x->proto, y->proto, "flow %zu: proto", i);
        cr_assert(x->pkts == y->pkts && x->bytes == y->bytes, "flow %zu: pkts/bytes", i);
    }
}

/* written back in the layout it was read in, compressed or not, read again */
static void assert_round_trip(const vf_trace *t, const char *name) {
    char path[256];
    snprintf(path, sizeof path, "/tmp/vkflow_fmt_%d_%s", (int)getpid(), name);
    cr_assert_eq(vf_trace_write_csv(path, t, NULL), VF_OK, "%s", vf_last_error());
    vf_trace u;
    read_ok(path, &u);
    cr_assert_str_eq(u.layout.name, t->layout.name);
    cr_assert_eq(u.layout.syntax, t->layout.syntax);
    cr_assert_eq(vf_trace_skipped_total(&u), 0, "%s", u.first_skip);
    assert_same_flows(t, &u);
    vf_trace_free(&u);
    unlink(path);
}

/* ------------------------------------------------------ hand-written fixtures */

Test(formats, ctu13_binetflow_fixture_loses_nothing) {
    vf_trace t;
    read_ok(FIXTURE("flows_ctu13_mixed.binetflow"), &t);
    cr_assert_str_eq(t.layout.name, "binetflow");
    cr_assert_eq(t.n, 11);
    cr_assert_eq(vf_trace_skipped_total(&t), 0, "%s", t.first_skip);
    /* Argus: ICMP sport = 0xCCTT (code, type), read as dport = type * 256 + code */
    cr_assert_eq(t.recs[0].proto, 1);
    cr_assert(t.recs[0].sport == 0 && t.recs[0].dport == (3 << 8 | 3), "%u", t.recs[0].dport); /* 0x0303 */
    cr_assert_eq(t.recs[1].dport, 8 << 8);                                                      /* 0x0008 echo */
    cr_assert_eq(t.recs[2].dport, 11 << 8 | 1);                                                 /* 0x010b */
    cr_assert(t.recs[3].proto == 47 && t.recs[3].sport == 0 && t.recs[3].dport == 0);           /* GRE */
    cr_assert(t.recs[4].proto == 50 && t.recs[4].sport == 0 && t.recs[4].dport == 0);           /* ESP (SPI) */
    cr_assert(t.recs[5].proto == 17 && t.recs[5].ip_version == 6 && t.recs[5].dport == 53000);
    cr_assert(t.recs[6].proto == 58 && t.recs[6].dport == 135 << 8, "%u", t.recs[6].dport);    /* ND NS */
    cr_assert(t.recs[7].proto == 6 && t.recs[7].ip_version == 6 && t.recs[7].dport == 443);
    cr_assert(t.recs[8].proto == 132 && t.recs[8].sport == 2905);                               /* SCTP */
    cr_assert(t.recs[9].proto == 41 && t.recs[10].proto == 103);                                /* 6in4, PIM */
    cr_assert_eq(t.recs[0].ts_ns, 1312969613047277000ll);
    cr_assert_eq(t.recs[0].dur_ns, 3870000000ll);
    cr_assert_str_eq(t.labels[t.recs[7].label], "flow=From-Botnet-V42");
    assert_round_trip(&t, "ctu.binetflow.csv");
    /* written back in Argus's notation */
    char path[128];
    snprintf(path, sizeof path, "/tmp/vkflow_fmt_%d_ctu.csv", (int)getpid());
    cr_assert_eq(vf_trace_write_csv(path, &t, NULL), VF_OK);
    char *text = tu_read_file(path, NULL);
    cr_assert(text && strstr(text, ",icmp,147.32.84.165,0x0303,") && strstr(text, ",0x010b,") &&
              strstr(text, ",ipv6-icmp,") == NULL, "%s", text);
    free(text);
    unlink(path);
    vf_trace_free(&t);
}

Test(formats, nfdump_fixture_hex_icmp6_gre_esp) {
    vf_trace t;
    read_ok(FIXTURE("flows_nfdump_mixed.csv"), &t);
    cr_assert_str_eq(t.layout.name, "nfdump");
    cr_assert_eq(t.n, 4);
    cr_assert_eq(vf_trace_skipped_total(&t), 0, "%s", t.first_skip);
    cr_assert(t.recs[0].proto == 1 && t.recs[0].dport == 2048);
    cr_assert(t.recs[1].proto == 58 && t.recs[1].dport == 0x8000 && t.recs[1].ip_version == 6);
    cr_assert(t.recs[2].proto == 47 && t.recs[3].proto == 50);
    cr_assert_eq(t.recs[0].ts_ns, 1460332801250000000ll);
    cr_assert_eq(t.recs[1].dur_ns, 1000000000ll);
    assert_round_trip(&t, "nf.csv");
    vf_trace_free(&t);
}

Test(formats, zeek_tsv_log) {
    vf_trace t;
    read_ok(FIXTURE("conn_mixed.log"), &t);
    cr_assert_str_eq(t.layout.name, "zeek_conn");
    cr_assert_eq(t.layout.syntax, VF_SYNTAX_ZEEK_TSV);
    cr_assert_eq(t.n, 5);
    cr_assert_eq(vf_trace_skipped_total(&t), 0, "%s", t.first_skip);
    cr_assert(t.recs[0].proto == 17 && t.recs[0].pkts == 4 && t.recs[0].bytes == 315);
    cr_assert_eq(t.recs[0].ts_ns, 1591367999305988000ll);
    /* Zeek: id.orig_p = ICMP type, id.resp_p = code */
    cr_assert(t.recs[1].proto == 1 && t.recs[1].sport == 0 && t.recs[1].dport == 8 << 8);
    cr_assert(t.recs[2].proto == 58 && t.recs[2].dport == 135 << 8 && t.recs[2].dur_ns == 0);
    cr_assert(t.recs[4].proto == 47 && t.recs[4].sport == 0, "ip_proto names GRE"); /* unknown_transport */
    assert_round_trip(&t, "conn.log");
    vf_trace_free(&t);
}

Test(formats, zeek_json_lines) {
    vf_trace t;
    read_ok(FIXTURE("conn_mixed.json"), &t);
    cr_assert_str_eq(t.layout.name, "zeek_conn");
    cr_assert_eq(t.layout.syntax, VF_SYNTAX_JSONL);
    cr_assert_eq(t.n_input, 5);
    cr_assert_eq(t.n, 4);
    /* unknown_transport without ip_proto: counted, named with file:line */
    cr_assert_eq(t.skipped[VF_SKIP_CSV_FIELD], 1);
    cr_assert(strstr(t.first_by_reason[VF_SKIP_CSV_FIELD], "conn_mixed.json:5: field 'proto': 'unknown_transport'"),
              "%s", t.first_by_reason[VF_SKIP_CSV_FIELD]);
    cr_assert(t.recs[1].proto == 1 && t.recs[1].dport == 8 << 8);
    cr_assert(t.recs[2].proto == 58 && t.recs[2].ip_version == 6);
    /* an ISO 8601 ts (LogAscii::json_timestamps) */
    cr_assert_eq(t.recs[3].ts_ns, 1591368002250000000ll);
    cr_assert(t.recs[3].pkts == 22 && t.recs[3].bytes == 7144);
    assert_round_trip(&t, "conn.json");
    vf_trace_free(&t);
}

Test(formats, cicflowmeter_csv) {
    vf_trace t;
    read_ok(FIXTURE("cicflowmeter_mixed.csv"), &t);
    cr_assert_str_eq(t.layout.name, "cicflowmeter");
    cr_assert_eq(t.n, 4);
    cr_assert_eq(t.skipped[VF_SKIP_TOOL_RECORD], 1, "the repeated header line");
    assert_no_row_lost(&t, "cic");
    /* "16/02/2018 01:24:15 PM", Flow Duration in µs, fwd + bwd */
    cr_assert_eq(t.recs[0].ts_ns, 1518787455000000000ll);
    cr_assert_eq(t.recs[0].dur_ns, 5000123000ll);
    cr_assert(t.recs[0].pkts == 7 && t.recs[0].bytes == 935);
    cr_assert(t.recs[2].proto == 1 && t.recs[3].ip_version == 6);
    cr_assert_eq(t.recs[3].ts_ns, 1518787458500000000ll);
    assert_round_trip(&t, "cic.csv");
    vf_trace_free(&t);
}

/* ------------------------------------------------- files the tools write */

/* argus + ra on a pcap: ra's default columns (-u epoch, -n numbers), CTU-13's
 * binetflow columns, and names instead of numbers (no -n) */
static void argus_on(const char *pcap) {
    tu_need_tool("argus", "argus-server");
    tu_need_tool("ra", "argus-client");
    tu_need_tool("racount", "argus-client");
    char dir[256], cmd[2048], line[512];
    tmpdir(dir, sizeof dir, "argus");
    snprintf(cmd, sizeof cmd, "argus -r '%s' -w %s/x.argus 2>/dev/null", pcap, dir);
    sh(cmd);
    /* what the tool reports: IP flows, their packets and bytes */
    snprintf(cmd, sizeof cmd, "ra -r %s/x.argus -c , -n -u - ip | tail -n +2 | wc -l", dir);
    sh_out(cmd, line, sizeof line);
    unsigned long long flows = strtoull(line, NULL, 10), pkts = 0, bytes = 0;
    snprintf(cmd, sizeof cmd, "racount -r %s/x.argus - ip | awk '$1 == \"sum\" {print $3, $6}'", dir);
    sh_out(cmd, line, sizeof line);
    cr_assert_eq(sscanf(line, "%llu %llu", &pkts, &bytes), 2, "racount: %s", line);
    cr_assert_gt(flows, 0);
    const char *variants[][2] = {
        {"ra.csv", "ra -r %s/x.argus -c , -n -u > %s/ra.csv"},
        {"names.csv", "ra -r %s/x.argus -c , -u > %s/names.csv"},
        {"ctu.binetflow",
         "printf 'RA_TIME_FORMAT=\"%%%%Y/%%%%m/%%%%d %%%%T.%%%%f\"\\n' > %s/rarc && "
         "ra -F %s/rarc -r %s/x.argus -c , -n -s stime dur proto saddr sport dir daddr dport state stos dtos "
         "pkts bytes sbytes | awk 'NR == 1 {print $0 \",Label\"; next} {print $0 \",flow=Background\"}' "
         "> %s/ctu.binetflow"},
    };
    for (int v = 0; v < 3; v++) {
        if (v < 2) snprintf(cmd, sizeof cmd, variants[v][1], dir, dir);
        else snprintf(cmd, sizeof cmd, variants[v][1], dir, dir, dir, dir);
        sh(cmd);
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, variants[v][0]);
        vf_trace t;
        read_ok(path, &t);
        cr_assert_str_eq(t.layout.name, v == 2 ? "binetflow" : "argus");
        assert_no_row_lost(&t, path);
        uint64_t pk, by;
        totals(&t, &pk, &by);
        cr_assert_eq(t.n, flows, "%s: %zu flows, ra printed %llu", path, t.n, flows);
        cr_assert_eq(pk, pkts, "%s: packets %llu vs racount %llu", path, (unsigned long long)pk, pkts);
        cr_assert_eq(by, bytes, "%s: bytes %llu vs racount %llu", path, (unsigned long long)by, bytes);
        if (strstr(pcap, "enterprise")) {
            /* tshark: ICMP 3/3 (port unreachable) and 3/1 (host unreachable) */
            cr_assert(has_dport(&t, 1, 3 << 8 | 3) && has_dport(&t, 1, 3 << 8 | 1), "%s: ICMP type/code", path);
            cr_assert_gt(t.skipped[VF_SKIP_NOT_IP], 0, "ARP flows counted as not IP");
            cr_assert_gt(t.skipped[VF_SKIP_TOOL_RECORD] + (v == 2), 0, "management records counted");
        }
        if (v == 0) assert_round_trip(&t, "ra.csv.gz");
        vf_trace_free(&t);
    }
    rmdir_r(dir);
}

Test(formats, argus_ra_enterprise, .timeout = 300) { argus_on(PATHSPIDER); }
Test(formats, argus_ra_caida, .timeout = 300) { argus_on(CAIDA); }

/* nfpcapd makes NetFlow files from a pcap, nfdump -o csv prints them and its
 * own totals (the "Summary" lines at the end) */
static void nfdump_on(const char *pcap) {
    tu_need_tool("nfpcapd", "nfdump");
    tu_need_tool("nfdump", "nfdump");
    char dir[256], cmd[2048], line[512];
    tmpdir(dir, sizeof dir, "nfdump");
    snprintf(cmd, sizeof cmd, "mkdir -p %s/nf && nfpcapd -r '%s' -w %s/nf >/dev/null 2>&1 && "
                              "TZ=UTC nfdump -R %s/nf -o csv > %s/nf.csv", dir, pcap, dir, dir, dir);
    sh(cmd);
    snprintf(cmd, sizeof cmd, "tail -n 1 %s/nf.csv", dir);
    sh_out(cmd, line, sizeof line);
    unsigned long long flows, bytes, pkts;
    cr_assert_eq(sscanf(line, "%llu,%llu,%llu", &flows, &bytes, &pkts), 3, "nfdump summary: %s", line);
    char path[512];
    snprintf(path, sizeof path, "%s/nf.csv", dir);
    vf_trace t;
    read_ok(path, &t);
    cr_assert_str_eq(t.layout.name, "nfdump");
    assert_no_row_lost(&t, path);
    cr_assert_eq(vf_trace_skipped_total(&t), 0, "%s", t.first_skip);
    uint64_t pk, by;
    totals(&t, &pk, &by);
    cr_assert_eq(t.n, flows, "%zu flows, nfdump says %llu", t.n, flows);
    cr_assert_eq(pk, pkts);
    cr_assert_eq(by, bytes);
    if (strstr(pcap, "enterprise")) {
        cr_assert_eq(pkts, 62038, "every IPv4 packet of the capture");
        cr_assert(has_dport(&t, 1, 3 << 8 | 3) && has_dport(&t, 1, 3 << 8 | 1));
    }
    assert_round_trip(&t, "nf.csv.zst");
    vf_trace_free(&t);
    rmdir_r(dir);
}

Test(formats, nfdump_enterprise, .timeout = 300) { nfdump_on(PATHSPIDER); }
Test(formats, nfdump_caida, .timeout = 300) { nfdump_on(CAIDA); }

/* a row that cannot be read is counted per reason, the first of each named */
Test(formats, reasons_named_per_reason) {
    char path[128];
    snprintf(path, sizeof path, "/tmp/vkflow_fmt_%d_bad.csv", (int)getpid());
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs("StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,TotBytes,SrcBytes,Label\n"
          "2011/08/10 09:46:53.0,1,tcp,10.0.0.1,80,->,10.0.0.2,81,CON,0,0,1,60,60,a\n"
          "2011/08/10 09:46:53.0,1,tcp,10.0.0.1,99999,->,10.0.0.2,81,CON,0,0,1,60,60,a\n"
          "2011/08/10 09:46:53.0,1,tcp,10.0.0.1,80\n"
          "2011/08/10 09:46:53.0,1,arp,10.0.0.1,,who,10.0.0.2,,CON,0,0,1,60,60,a\n"
          "2011/08/10 09:46:53.0,1,tcp,10.0.0.1,http,->,10.0.0.2,0x1F90,CON,0,0,1,60,60,a\n", f);
    fclose(f);
    vf_trace t;
    read_ok(path, &t);
    cr_assert_eq(t.n, 2);
    cr_assert_eq(t.recs[1].dport, 8080);
    cr_assert_eq(t.skipped[VF_SKIP_CSV_FIELD], 1);
    cr_assert_eq(t.skipped[VF_SKIP_CSV_COLUMNS], 1);
    cr_assert_eq(t.skipped[VF_SKIP_NOT_IP], 1);
    cr_assert(strstr(t.first_by_reason[VF_SKIP_CSV_FIELD], "_bad.csv:3: field 'Sport': '99999'"), "%s",
              t.first_by_reason[VF_SKIP_CSV_FIELD]);
    cr_assert(strstr(t.first_by_reason[VF_SKIP_CSV_COLUMNS], "_bad.csv:4: 5 columns"), "%s",
              t.first_by_reason[VF_SKIP_CSV_COLUMNS]);
    cr_assert(strstr(t.first_by_reason[VF_SKIP_NOT_IP], "_bad.csv:5: arp flow (not IP)"), "%s",
              t.first_by_reason[VF_SKIP_NOT_IP]);
    /* vkflow inspect prints each reason with its first */
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    cr_assert_eq(vf_trace_summary(&t, path, m), VF_OK);
    fclose(m);
    cr_assert(strstr(text, "CSV bad field            1") && strstr(text, "first: /tmp/") &&
              strstr(text, "_bad.csv:5: arp flow"), "%s", text);
    free(text);
    vf_trace_free(&t);
    unlink(path);
}

/* ra's default time stamp is a time of day: counted with the fix named */
Test(formats, argus_time_of_day_named) {
    char path[128];
    snprintf(path, sizeof path, "/tmp/vkflow_fmt_%d_tod.csv", (int)getpid());
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs("StartTime,Flgs,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,TotPkts,TotBytes,State\n"
          "17:00:39.425111, e        ,tcp,10.64.88.105,37132,   ->,10.151.119.2,10050,10,702,FIN\n", f);
    fclose(f);
    vf_trace t;
    read_ok(path, &t);
    cr_assert_eq(t.n, 0);
    cr_assert_eq(t.skipped[VF_SKIP_CSV_FIELD], 1);
    cr_assert(strstr(t.first_skip, "_tod.csv:2: field 'StartTime'") && strstr(t.first_skip, "ra with -u"), "%s",
              t.first_skip);
    vf_trace_free(&t);
    unlink(path);
}
