/* Bad input: every case gets a clear message naming the place (file, packet
 * number or line, field); lenient mode skips and counts, strict stops. */
#include <criterion/criterion.h>
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace/trace.h"
#include "trace/trace_internal.h"

#define PATHSPIDER tu_shared_data("pcap_enterprise_pathspider_real_2012-11-23.pcap")

static char path_buf[256];

static const char *write_file(const char *name, const void *data, size_t len) {
    snprintf(path_buf, sizeof path_buf, "/tmp/vkflow_bad_%d_%s", (int)getpid(), name);
    FILE *f = fopen(path_buf, "wb");
    cr_assert(f);
    if (len) cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
    return path_buf;
}

static const char *write_text(const char *name, const char *s) { return write_file(name, s, strlen(s)); }

static void expect_error(const char *path, bool strict, vf_status want, const char *needle) {
    vf_read_options o = {0};
    o.strict = strict;
    vf_trace t;
    vf_status st = vf_trace_read(path, &o, &t);
    cr_assert_eq(st, want, "status %s, message: %s", vf_status_name(st), vf_last_error());
    cr_assert(strstr(vf_last_error(), needle), "message '%s' lacks '%s'", vf_last_error(), needle);
    unlink(path);
}

/* lenient read: succeeds, skips `skipped` records for `why`, first message has needle */
static void expect_skip(const char *path, vf_skip_reason why, uint64_t skipped, size_t kept, const char *needle) {
    vf_trace t;
    vf_status st = vf_trace_read(path, NULL, &t);
    cr_assert_eq(st, VF_OK, "%s", vf_last_error());
    cr_assert_eq(t.skipped[why], skipped, "skipped %llu", (unsigned long long)t.skipped[why]);
    cr_assert_eq(t.n, kept);
    cr_assert(strstr(t.first_skip, needle), "first skip '%s' lacks '%s'", t.first_skip, needle);
    vf_trace_free(&t);
    unlink(path);
}

/* ------------------------------------------------------------------ pcap */

static void le32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }

/* pcap global header (usec) */
static size_t pcap_header(uint8_t *b, uint32_t linktype, uint32_t snap) {
    memset(b, 0, 24);
    le32(b, 0xa1b2c3d4);
    b[4] = 2; b[6] = 4;
    le32(b + 16, snap);
    le32(b + 20, linktype);
    return 24;
}

static size_t pcap_packet(uint8_t *b, const uint8_t *data, uint32_t caplen, uint32_t len) {
    le32(b, 1500000000);
    le32(b + 4, 1);
    le32(b + 8, caplen);
    le32(b + 12, len);
    memcpy(b + 16, data, caplen);
    return 16 + caplen;
}

/* Ethernet + IPv4 + UDP frame, 42 bytes */
static void udp_frame(uint8_t *f) {
    memset(f, 0, 42);
    f[12] = 0x08; f[13] = 0x00;
    uint8_t *ip = f + 14;
    ip[0] = 0x45; ip[3] = 28; ip[8] = 64; ip[9] = 17;
    ip[12] = 10; ip[15] = 1; ip[16] = 10; ip[19] = 2;
    uint8_t *u = ip + 20;
    u[0] = 0x30; u[1] = 0x39; u[2] = 0; u[3] = 53; u[5] = 8;
}

Test(trace_bad, empty_file) {
    expect_error(write_file("empty.pcap", "", 0), false, VF_ERR_FORMAT, "empty file");
}

Test(trace_bad, folder) {
    expect_error("/tmp", false, VF_ERR_IO, "is a folder");
}

Test(trace_bad, wrong_magic) {
    const uint8_t junk[] = {0x01, 0x02, 0x03, 0x04, 0xff, 0x00, 0x10, 0x20};
    expect_error(write_file("magic.pcap", junk, sizeof junk), false, VF_ERR_FORMAT, "unknown file format");
}

Test(trace_bad, unsupported_link_type) {
    uint8_t b[64];
    size_t n = pcap_header(b, 147, 65535); /* USER0 */
    expect_error(write_file("lt.pcap", b, n), false, VF_ERR_UNSUPPORTED, "link type 147");
}

Test(trace_bad, truncated_pcap_file) {
    /* the real capture cut in the middle of a packet */
    FILE *f = fopen(PATHSPIDER, "rb");
    cr_assert(f);
    static uint8_t buf[100000];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    cr_assert_eq(n, sizeof buf);
    const char *p = write_file("trunc.pcap", buf, n);
    vf_trace t;
    cr_assert_eq(vf_trace_read(p, NULL, &t), VF_OK, "%s", vf_last_error());
    cr_assert_eq(t.skipped[VF_SKIP_TRUNC_FILE], 1);
    cr_assert_gt(t.n, 1000);
    char want[64];
    snprintf(want, sizeof want, "packet %llu: truncated", (unsigned long long)t.n_input + 1);
    vf_trace_free(&t);
    expect_error(write_file("trunc.pcap", buf, n), true, VF_ERR_FORMAT, want);
}

Test(trace_bad, truncated_global_header) {
    uint8_t b[64];
    size_t n = pcap_header(b, 1, 65535);
    expect_error(write_file("hdr.pcap", b, n - 6), false, VF_ERR_FORMAT, "truncated");
}

Test(trace_bad, snaplen_truncated_packets) {
    uint8_t b[512], fr[42];
    size_t n = pcap_header(b, 1, 65535);
    udp_frame(fr);
    n += pcap_packet(b + n, fr, 42, 42);   /* whole */
    n += pcap_packet(b + n, fr, 20, 42);   /* cut in the IPv4 header */
    n += pcap_packet(b + n, fr, 36, 42);   /* cut before the UDP ports */
    n += pcap_packet(b + n, fr, 10, 42);   /* cut in the Ethernet header */
    const char *p = write_file("snap.pcap", b, n);
    vf_trace t;
    cr_assert_eq(vf_trace_read(p, NULL, &t), VF_OK, "%s", vf_last_error());
    cr_assert_eq(t.n, 1);
    cr_assert_eq(t.recs[0].sport, 12345);
    cr_assert_eq(t.recs[0].dport, 53);
    cr_assert_eq(t.skipped[VF_SKIP_TRUNC_IP], 1);
    cr_assert_eq(t.skipped[VF_SKIP_TRUNC_L4], 1);
    cr_assert_eq(t.skipped[VF_SKIP_TRUNC_L2], 1);
    cr_assert(strstr(t.first_skip, "packet 2: IPv4 header needs 20 bytes (20 of 42 bytes captured)"), "%s",
              t.first_skip);
    vf_trace_free(&t);
    expect_error(write_file("snap.pcap", b, n), true, VF_ERR_FORMAT, "packet 2: IPv4 header needs 20 bytes");
}

Test(trace_bad, bad_ip_header) {
    uint8_t b[256], fr[42];
    size_t n = pcap_header(b, 1, 65535);
    udp_frame(fr);
    fr[14] = 0x43; /* IHL 3 */
    n += pcap_packet(b + n, fr, 42, 42);
    expect_error(write_file("ihl.pcap", b, n), true, VF_ERR_FORMAT, "packet 1: IPv4 IHL below 5");
}

Test(trace_bad, non_ip_frames_counted) {
    uint8_t b[256], fr[42];
    size_t n = pcap_header(b, 1, 65535);
    udp_frame(fr);
    fr[12] = 0x08; fr[13] = 0x06; /* ARP */
    n += pcap_packet(b + n, fr, 42, 42);
    expect_skip(write_file("arp.pcap", b, n), VF_SKIP_NOT_IP, 1, 0, "packet 1: ethertype is not IPv4/IPv6");
}

Test(trace_bad, link_layers) {
    /* the same UDP packet behind each supported link layer */
    uint8_t fr[42];
    udp_frame(fr);
    const uint8_t *ip = fr + 14;
    struct { uint32_t lt; uint8_t hdr[24]; size_t hl; } cases[] = {
        {101, {0}, 0},                                                  /* raw IP */
        {228, {0}, 0},                                                  /* IPv4 */
        {0, {2, 0, 0, 0}, 4},                                           /* BSD null, host order */
        {108, {0, 0, 0, 2}, 4},                                         /* OpenBSD loop, network order */
        {113, {0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00}, 16}, /* Linux SLL */
        {276, {0x08, 0x00}, 20},                                        /* Linux SLL2 */
        {1, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81, 0x00, 0, 5, 0x88, 0xa8, 0, 7, 0x08, 0x00}, 22}, /* QinQ */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        uint8_t frame[128], b[256];
        memcpy(frame, cases[k].hdr, cases[k].hl);
        memcpy(frame + cases[k].hl, ip, 28);
        size_t n = pcap_header(b, cases[k].lt, 65535);
        n += pcap_packet(b + n, frame, (uint32_t)(cases[k].hl + 28), (uint32_t)(cases[k].hl + 28));
        const char *p = write_file("lt.pcap", b, n);
        vf_trace t;
        cr_assert_eq(vf_trace_read(p, NULL, &t), VF_OK, "link type %u: %s", cases[k].lt, vf_last_error());
        cr_assert_eq(t.n, 1, "link type %u: %s", cases[k].lt, t.first_skip);
        cr_assert_eq(t.recs[0].dport, 53, "link type %u", cases[k].lt);
        cr_assert_eq(t.recs[0].length, 28);
        vf_trace_free(&t);
        unlink(p);
    }
}

/* ------------------------------------------------------------------- CSV */

#define UGR_HEADER "te,td,sa,da,sp,dp,pr,flg,fwd,stos,pkt,byt,type\n"
#define UGR_ROW "2016-04-11 00:01:39,22.052,45.202.195.102,42.219.156.227,17784,22,TCP,.AP.S.,0,0,35,3928,background\n"

Test(trace_bad, csv_empty) {
    expect_error(write_text("empty.csv", "\n\n"), false, VF_ERR_FORMAT, "empty file");
}

Test(trace_bad, csv_header_only_is_empty_trace) {
    const char *p = write_text("hdr.csv", UGR_HEADER);
    vf_trace t;
    cr_assert_eq(vf_trace_read(p, NULL, &t), VF_OK, "%s", vf_last_error());
    cr_assert_eq(t.n, 0);
    vf_trace_free(&t);
    unlink(p);
}

Test(trace_bad, csv_unknown_header) {
    expect_error(write_text("hdr.csv", "a,b,c\n1,2,3\n"), false, VF_ERR_FORMAT, "hdr.csv:1: header: no column for 'srcip'");
}

Test(trace_bad, csv_wrong_column_count) {
    const char *text = UGR_HEADER UGR_ROW "2016-04-11 00:01:47,0.044,42.219.154.189,133.27.5.130,25,64162,TCP\n" UGR_ROW;
    expect_skip(write_text("cols.csv", text), VF_SKIP_CSV_COLUMNS, 1, 2, "cols.csv:3: 7 columns, the header has 13");
    expect_error(write_text("cols.csv", text), true, VF_ERR_FORMAT, "cols.csv:3: 7 columns, the header has 13");
}

Test(trace_bad, csv_non_numeric_field) {
    const char *text = UGR_HEADER UGR_ROW
        "2016-04-11 00:01:47,0.044,42.219.154.189,133.27.5.130,abc,64162,TCP,.AP.S.,0,0,2,138,background\n";
    expect_skip(write_text("num.csv", text), VF_SKIP_CSV_FIELD, 1, 1,
                "num.csv:3: field 'sp': 'abc' is not a port number 0..65535");
    expect_error(write_text("num.csv", text), true, VF_ERR_FORMAT, "num.csv:3: field 'sp': 'abc'");
}

Test(trace_bad, csv_out_of_range_port) {
    const char *text = UGR_HEADER
        "2016-04-11 00:01:47,0.044,42.219.154.189,133.27.5.130,25,70000,TCP,.AP.S.,0,0,2,138,background\n";
    expect_error(write_text("port.csv", text), true, VF_ERR_FORMAT, "port.csv:2: field 'dp': '70000' is not a port");
}

Test(trace_bad, csv_out_of_range_address) {
    const char *text = UGR_HEADER
        "2016-04-11 00:01:47,0.044,42.219.154.256,133.27.5.130,25,80,TCP,.AP.S.,0,0,2,138,background\n";
    expect_error(write_text("addr.csv", text), true, VF_ERR_FORMAT,
                 "addr.csv:2: field 'sa': '42.219.154.256' is not an IPv4/IPv6 address");
    /* integer form out of range (NetShare layout) */
    const char *ns = "srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt,type\n"
                     "4294967296,1,1,2,TCP,1460332876948000,0.5,1,40,x\n";
    expect_error(write_text("addr2.csv", ns), true, VF_ERR_FORMAT, "addr2.csv:2: field 'srcip': '4294967296'");
}

Test(trace_bad, csv_bad_time_and_proto) {
    const char *text = UGR_HEADER
        "2016-13-11 00:01:47,0.044,42.219.154.1,133.27.5.130,25,80,TCP,.AP.S.,0,0,2,138,background\n"
        "2016-04-11 00:01:47,0.044,42.219.154.1,133.27.5.130,25,80,XYZ,.AP.S.,0,0,2,138,background\n"
        "2016-04-11 00:01:47,-1,42.219.154.1,133.27.5.130,25,80,TCP,.AP.S.,0,0,2,138,background\n"
        "2016-04-11 00:01:47,0.5,42.219.154.1,133.27.5.130,25,80,TCP,.AX.S.,0,0,2,138,background\n";
    const char *p = write_text("time.csv", text);
    vf_trace t;
    cr_assert_eq(vf_trace_read(p, NULL, &t), VF_OK);
    cr_assert_eq(t.n, 0);
    cr_assert_eq(t.skipped[VF_SKIP_CSV_FIELD], 4);
    cr_assert(strstr(t.first_skip, "time.csv:2: field 'te': '2016-13-11 00:01:47' is not a date-time"), "%s", t.first_skip);
    vf_trace_free(&t);
    expect_error(write_text("time.csv", UGR_HEADER "2016-04-11 00:01:47,0.044,42.219.154.1,133.27.5.130,25,80,XYZ,.AP.S.,0,0,2,138,b\n"),
                 true, VF_ERR_FORMAT, "field 'pr': 'XYZ' is not a protocol");
    expect_error(write_text("time.csv", UGR_HEADER "2016-04-11 00:01:47,-1,42.219.154.1,133.27.5.130,25,80,TCP,.AP.S.,0,0,2,138,b\n"),
                 true, VF_ERR_FORMAT, "field 'td': '-1' is not a non-negative duration");
    expect_error(write_text("time.csv", UGR_HEADER "2016-04-11 00:01:47,1,42.219.154.1,133.27.5.130,25,80,TCP,.AX.S.,0,0,2,138,b\n"),
                 true, VF_ERR_FORMAT, "field 'flg': '.AX.S.' is not TCP flags");
}

Test(trace_bad, csv_binary_garbage) {
    const uint8_t junk[] = {'t', 'e', ',', 0, 1, 2, '\n'};
    expect_error(write_file("nul.csv", junk, sizeof junk), false, VF_ERR_FORMAT, "unknown file format");
    const char txt[] = "te,td\nab\0cd\n";
    expect_error(write_file("nul2.csv", txt, sizeof txt - 1), false, VF_ERR_FORMAT, "nul2.csv:2: NUL byte");
}

Test(trace_bad, csv_quotes_and_crlf) {
    const char *text = "srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt,label\r\n"
                       "\"10.0.0.1\",10.0.0.2,1,2,TCP,1460332876948000,0.5,3,40,\"evil, \"\"quoted\"\"\"\r\n";
    const char *p = write_text("q.csv", text);
    vf_trace t;
    cr_assert_eq(vf_trace_read(p, NULL, &t), VF_OK, "%s", vf_last_error());
    cr_assert_eq(t.n, 1, "%s", t.first_skip);
    cr_assert_str_eq(t.labels[t.recs[0].label], "evil, \"quoted\"");
    cr_assert_eq(t.recs[0].pkts, 3);
    vf_trace_free(&t);
    unlink(p);
}

Test(trace_bad, csv_mapping_missing_column) {
    vf_csv_layout L;
    memset(&L, 0, sizeof L);
    L.n_cols = 2;
    strcpy(L.col_name[0], "sa");
    L.role[0] = VF_COL_SRCIP;
    strcpy(L.col_name[1], "nonexistent");
    L.role[1] = VF_COL_DSTIP;
    vf_read_options o = {0};
    o.layout = &L;
    const char *p = write_text("map.csv", UGR_HEADER UGR_ROW);
    vf_trace t;
    cr_assert_eq(vf_trace_read(p, &o, &t), VF_ERR_FORMAT);
    cr_assert(strstr(vf_last_error(), "map.csv:1: column 'nonexistent' (mapped to dstip) is not in the header"), "%s",
              vf_last_error());
    unlink(p);
}

Test(trace_bad, csv_auto_layouts) {
    /* an Argus export with other columns, found by column aliases, epoch ms guessed */
    const char *text = "StartTime,Dur,Proto,SrcAddr,Sport,DstAddr,Dport,TotPkts,TotBytes,Label\n"
                       "1460332876948,1.5,udp,2001:db8::1,53,2001:db8::2,5353,4,400,flow=bg\n";
    const char *p = write_text("argus.csv", text);
    vf_trace t;
    cr_assert_eq(vf_trace_read(p, NULL, &t), VF_OK, "%s", vf_last_error());
    cr_assert_str_eq(t.layout.name, "argus");
    cr_assert_eq(t.layout.time_unit, VF_TIME_MS);
    cr_assert_eq(t.n, 1);
    cr_assert_eq(t.recs[0].ts_ns, 1460332876948000000ll);
    cr_assert_eq(t.recs[0].dur_ns, 1500000000ll);
    cr_assert_eq(t.recs[0].proto, 17);
    cr_assert_eq(t.recs[0].ip_version, 6);
    cr_assert_eq(t.recs[0].pkts, 4);
    vf_trace_free(&t);
    unlink(p);
}

/* ------------------------------------------------- found by the fuzzers */

Test(trace_bad, fuzz_datetime_fraction_written_back) {
    /* the writer once printed "00:06:480.53" for a fractional date-time */
    const char *p = write_text("frac.csv", UGR_HEADER
        "2016-04-11 00:06:48.53,0.044,1.2.3.4,5.6.7.8,1,2,TCP,.AP.S.,0,0,2,138,bg\n");
    vf_trace t, u;
    cr_assert_eq(vf_trace_read(p, NULL, &t), VF_OK, "%s", vf_last_error());
    cr_assert_eq(t.n, 1);
    cr_assert_eq(vf_trace_write(p, &t), VF_OK);
    cr_assert_eq(vf_trace_read(p, NULL, &u), VF_OK, "%s", vf_last_error());
    cr_assert_eq(u.n, 1, "%s", u.first_skip);
    cr_assert_eq(u.recs[0].ts_ns, t.recs[0].ts_ns);
    FILE *f = fopen(p, "r");
    char line[256];
    cr_assert(fgets(line, sizeof line, f) && fgets(line, sizeof line, f));
    fclose(f);
    cr_assert(!strncmp(line, "2016-04-11 00:06:48.53,", 23), "%s", line);
    vf_trace_free(&t);
    vf_trace_free(&u);
    unlink(p);
}

Test(trace_bad, fuzz_control_character_in_the_header) {
    /* fuzz_csv: "ts,\x06uid,..." read from memory, written back, and then
     * refused by vf_trace_read's first-bytes check: refused when read now */
    const char *text = "ts,\x06uid,id.orig_h,id.orig_p,id.resp_h,id.resp_p,proto\n"
                       "1545403816.962094,C1,192.168.1.195,41040,185.244.25.235,80,tcp\n";
    vf_trace t;
    vf_read_options o = {0};
    cr_assert_eq(vf_csv_read_mem("ctl.csv", text, strlen(text), &o, &t), VF_ERR_FORMAT);
    cr_assert(strstr(vf_last_error(), "ctl.csv:1: the header has a control character (0x06) at byte 4"), "%s",
              vf_last_error());
    /* from a file: the first bytes pass the format check, the header does not */
    expect_error(write_text("ctl.csv", "ts,uid,\x1bid.orig_h,id.orig_p,id.resp_h,id.resp_p,proto\n"
                                       "1545403816.962094,C1,192.168.1.195,41040,185.244.25.235,80,tcp\n"),
                 false, VF_ERR_FORMAT, "ctl.csv:1: the header has a control character (0x1b) at byte 8");
    /* a tab in a name is text */
    const char *tab = "ts,\tuid,id.orig_h,id.orig_p,id.resp_h,id.resp_p,proto\n"
                      "1545403816.962094,C1,192.168.1.195,41040,185.244.25.235,80,tcp\n";
    cr_assert_eq(vf_csv_read_mem("tab.csv", tab, strlen(tab), &o, &t), VF_OK, "%s", vf_last_error());
    vf_trace_free(&t);
}

Test(trace_bad, fuzz_ipv6_too_many_extension_headers) {
    /* fuzz_pcap: after 16 extension headers the walk stopped with an
     * extension header as the "protocol"; the writer then wrote a packet the
     * reader refuses ("extension header cut"). Now such a packet is skipped. */
    uint8_t b[512], ip[40 + 17 * 8];
    memset(ip, 0, sizeof ip);
    ip[0] = 0x60;
    ip[5] = 17 * 8;        /* payload length */
    ip[6] = 0;             /* next header: hop-by-hop, 17 of them, each pointing to the next */
    ip[7] = 64;
    ip[23] = 1;
    ip[39] = 2;
    size_t n = pcap_header(b, 101, 65535);   /* LINKTYPE_RAW */
    n += pcap_packet(b + n, ip, sizeof ip, sizeof ip);
    expect_skip(write_file("ext.pcap", b, n), VF_SKIP_BAD_IP, 1, 0, "more than 16 IPv6 extension headers");
    /* 15 of them, then UDP: read */
    ip[5] = 15 * 8 + 8;
    ip[40 + 14 * 8] = 17;
    n = pcap_header(b, 101, 65535);
    n += pcap_packet(b + n, ip, 40 + 15 * 8 + 8, 40 + 15 * 8 + 8);
    vf_trace t;
    cr_assert_eq(vf_trace_read(write_file("ext15.pcap", b, n), NULL, &t), VF_OK, "%s", vf_last_error());
    cr_assert_eq(t.n, 1, "%s", t.first_skip);
    cr_assert_eq(t.recs[0].proto, 17);
    vf_trace_free(&t);
}

Test(trace_bad, fuzz_time_overflow) {
    /* year 9999 parses as a date but is past int64 ns: a field error, not UB */
    expect_error(write_text("y.csv", UGR_HEADER "9999-04-11 00:06:48,0.044,1.2.3.4,5.6.7.8,1,2,TCP,.AP.S.,0,0,2,138,bg\n"),
                 true, VF_ERR_FORMAT, "field 'te': '9999-04-11 00:06:48' is not a date-time");
    expect_error(write_text("y2.csv", "srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt,type\n"
                                      "1,2,3,4,TCP,9000000000000000,9000000000,1,1,x\n"),
                 true, VF_ERR_FORMAT, "field 'td'");
    /* a pcap packet with a timestamp past 2262 */
    uint8_t b[256], fr[42];
    size_t n = pcap_header(b, 1, 65535);
    udp_frame(fr);
    n += pcap_packet(b + n, fr, 42, 42);
    le32(b + 24, 0xffffffffu); /* seconds of packet 1: libpcap reads them signed, -1 */
    expect_skip(write_file("ts.pcap", b, n), VF_SKIP_BAD_TIME, 1, 0, "packet 1: timestamp -1 s is outside 1970..2262");
    expect_error(write_file("ts.pcap", b, n), true, VF_ERR_FORMAT, "packet 1: timestamp -1 s");
}

Test(trace_bad, fuzz_pcap_writer_time_range) {
    /* pcapng holds 64-bit times; classic pcap only up to 2038: an error, not a wrap */
    vf_trace t;
    memset(&t, 0, sizeof t);
    t.kind = VF_TRACE_PACKETS;
    vf_record r;
    memset(&r, 0, sizeof r);
    vf_addr_from_v4(&r.src, 1);
    vf_addr_from_v4(&r.dst, 2);
    r.proto = 17;
    r.length = 28;
    r.ts_ns = 4102444800ll * 1000000000; /* 2100-01-01 */
    cr_assert_eq(vf_trace_append(&t, &r), VF_OK);
    snprintf(path_buf, sizeof path_buf, "/tmp/vkflow_bad_%d_late.pcap", (int)getpid());
    cr_assert_eq(vf_trace_write(path_buf, &t), VF_ERR_ARG);
    cr_assert(strstr(vf_last_error(), "record 0: time 4102444800000000000 ns is outside what pcap holds"), "%s",
              vf_last_error());
    cr_assert(access(path_buf, F_OK) != 0, "no partial output left behind");
    vf_trace_free(&t);
}

Test(trace_bad, fuzz_auto_layout_time_unit_stable) {
    /* an auto layout's time unit is guessed from the first row; written back
     * it must read back the same (epoch µs before 1973 look like ms) */
    const char *p = write_text("auto.csv", "StartTime,SrcAddr,DstAddr,Proto,Sport,Dport\n"
                                           "1545403545404564,1.1.1.1,2.2.2.2,tcp,1,2\n"
                                           "15454044405535.675923,1.1.1.1,2.2.2.2,tcp,1,2\n");
    vf_trace t, u;
    cr_assert_eq(vf_trace_read(p, NULL, &t), VF_OK, "%s", vf_last_error());
    cr_assert_eq(t.layout.time_unit, VF_TIME_US);
    cr_assert_eq(t.n, 2);
    cr_assert_eq(vf_trace_write(p, &t), VF_OK);
    cr_assert_eq(vf_trace_read(p, NULL, &u), VF_OK, "%s", vf_last_error());
    cr_assert_eq(u.n, 2, "%s", u.first_skip);
    cr_assert_eq(u.recs[0].ts_ns, t.recs[0].ts_ns);
    cr_assert_eq(u.recs[1].ts_ns, t.recs[1].ts_ns);
    vf_trace_free(&t);
    vf_trace_free(&u);
    unlink(p);
}
