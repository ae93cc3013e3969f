/* Compressed traces: pcap, pcapng and CSV read from gzip, xz, zstd and bzip2
 * (by magic bytes, whatever the name), pcap and CSV written compressed when
 * the name ends in .gz/.xz/.zst/.bz2; the command-line tools decompress what
 * vkflow wrote (and tcpdump reads the pcaps), and a damaged or truncated
 * compressed file is an error or a counted loss that names the file. */
#include <criterion/criterion.h>
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace/trace.h"

#define CAIDA tu_shared_data("pcap_caida_equinix-nyc_2018-03-15_10k.pcapng")
#define UGR tu_shared_data("flows_ugr16_netflow_2016-04-11_13hosts.csv")

static const struct { const char *ext, *tool, *package; uint8_t magic[4]; size_t nmagic; } Z[] = {
    {"gz", "gzip", "gzip", {0x1f, 0x8b}, 2},
    {"xz", "xz", "xz-utils", {0xfd, '7', 'z', 'X'}, 4},
    {"zst", "zstd", "zstd", {0x28, 0xb5, 0x2f, 0xfd}, 4},
    {"bz2", "bzip2", "bzip2", {'B', 'Z', 'h'}, 3},
};
#define NZ 4

static void tmpname(char *buf, size_t len, const char *name) {
    snprintf(buf, len, "/tmp/vkflow_z_%d_%s", (int)getpid(), name);
}

static void read_ok(const char *path, const vf_read_options *o, vf_trace *t) {
    cr_assert_eq(vf_trace_read(path, o, t), VF_OK, "%s", vf_last_error());
}

static void assert_magic(const char *path, int z) {
    FILE *f = fopen(path, "rb");
    cr_assert(f, "%s", path);
    uint8_t m[4] = {0};
    cr_assert_eq(fread(m, 1, 4, f), 4);
    fclose(f);
    cr_assert(!memcmp(m, Z[z].magic, Z[z].nmagic), "%s is not %s", path, Z[z].tool);
}

static void assert_same_records(const vf_trace *a, const vf_trace *b) {
    cr_assert_eq(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const vf_record *x = &a->recs[i], *y = &b->recs[i];
        cr_assert(x->ts_ns == y->ts_ns && x->dur_ns == y->dur_ns && !memcmp(&x->src, &y->src, 16) &&
                      !memcmp(&x->dst, &y->dst, 16) && x->sport == y->sport && x->dport == y->dport &&
                      x->proto == y->proto && x->pkts == y->pkts && x->bytes == y->bytes &&
                      x->length == y->length && x->ttl == y->ttl && x->ip_id == y->ip_id &&
                      x->tcp_flags == y->tcp_flags,
                  "record %zu differs", i);
    }
}

static long run_count(const char *cmd) {
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    long n = -1;
    if (fscanf(p, "%ld", &n) != 1) n = -1;
    int rc = pclose(p);
    cr_assert_eq(rc, 0, "failed: %s", cmd);
    return n;
}

/* the CAIDA pcapng, compressed by the command-line tools under a name that
 * says nothing (x.bin): read by magic */
Test(compress, pcapng_read_from_each_compression, .timeout = 120) {
    const char *src = CAIDA;
    vf_trace plain;
    read_ok(src, NULL, &plain);
    for (int z = 0; z < NZ; z++) {
        tu_need_tool(Z[z].tool, Z[z].package);
        char path[256], cmd[700];
        tmpname(path, sizeof path, "caida.bin");
        snprintf(cmd, sizeof cmd, "%s -c '%s' > %s", Z[z].tool, src, path);
        cr_assert_eq(system(cmd), 0, "%s", cmd);
        vf_trace t;
        read_ok(path, NULL, &t);
        cr_assert_eq(t.n, 10000, "%s", Z[z].tool);
        cr_assert_eq(vf_trace_skipped_total(&t), 0, "%s", t.first_skip);
        assert_same_records(&plain, &t);
        vf_trace_free(&t);
        unlink(path);
    }
    vf_trace_free(&plain);
}

/* packets -> x.pcap.EXT -> packets; the tool decompresses it and tcpdump
 * reads as many packets */
Test(compress, pcap_round_trip_each_compression, .timeout = 300) {
    vf_trace t;
    read_ok(CAIDA, NULL, &t);
    char plain[256];
    tmpname(plain, sizeof plain, "caida.pcap");
    cr_assert_eq(vf_trace_write(plain, &t), VF_OK, "%s", vf_last_error());
    vf_trace p0;
    read_ok(plain, NULL, &p0);
    for (int z = 0; z < NZ; z++) {
        char path[300], cmd[800];
        snprintf(path, sizeof path, "%s.%s", plain, Z[z].ext);
        cr_assert_eq(vf_trace_write(path, &t), VF_OK, "%s", vf_last_error());
        assert_magic(path, z);
        vf_trace u;
        read_ok(path, NULL, &u);
        cr_assert_eq(vf_trace_skipped_total(&u), 0, "%s", u.first_skip);
        assert_same_records(&p0, &u);
        vf_trace_free(&u);
        tu_need_tool(Z[z].tool, Z[z].package);
        /* byte-identical to the plain file once decompressed */
        snprintf(cmd, sizeof cmd, "%s -dc %s | cmp -s - %s", Z[z].tool, path, plain);
        cr_assert_eq(system(cmd), 0, "%s", cmd);
        tu_need_tool("tcpdump", "tcpdump");
        snprintf(cmd, sizeof cmd, "%s -dc %s | tcpdump -nn -r - 2>/dev/null | wc -l", Z[z].tool, path);
        cr_assert_eq(run_count(cmd), (long)t.n, "%s", cmd);
        unlink(path);
    }
    vf_trace_free(&p0);
    vf_trace_free(&t);
    unlink(plain);
}

/* flows -> x.csv.EXT -> flows (UGR'16, first 20k flows) */
Test(compress, csv_round_trip_each_compression, .timeout = 300) {
    vf_read_options o = {0};
    o.max_records = 20000;
    vf_trace t;
    read_ok(UGR, &o, &t);
    char plain[256];
    tmpname(plain, sizeof plain, "ugr.csv");
    cr_assert_eq(vf_trace_write(plain, &t), VF_OK, "%s", vf_last_error());
    for (int z = 0; z < NZ; z++) {
        char path[300], cmd[800];
        snprintf(path, sizeof path, "%s.%s", plain, Z[z].ext);
        cr_assert_eq(vf_trace_write(path, &t), VF_OK, "%s", vf_last_error());
        assert_magic(path, z);
        vf_trace u;
        read_ok(path, NULL, &u);
        cr_assert_str_eq(u.layout.name, "ugr16");
        cr_assert_eq(vf_trace_skipped_total(&u), 0, "%s", u.first_skip);
        assert_same_records(&t, &u);
        vf_trace_free(&u);
        tu_need_tool(Z[z].tool, Z[z].package);
        snprintf(cmd, sizeof cmd, "%s -dc %s | cmp -s - %s", Z[z].tool, path, plain);
        cr_assert_eq(system(cmd), 0, "%s", cmd);
        unlink(path);
    }
    vf_trace_free(&t);
    unlink(plain);
}

/* a compressed file cut in half: the packets before the cut are kept and the
 * loss is counted as a truncated file naming the file (strict: an error);
 * bytes changed in the middle: an error naming the file */
Test(compress, damaged_and_truncated, .timeout = 300) {
    vf_trace t;
    read_ok(CAIDA, NULL, &t);
    for (int z = 0; z < NZ; z++) {
        char path[256], cut[300];
        snprintf(path, sizeof path, "/tmp/vkflow_z_%d_d.pcap.%s", (int)getpid(), Z[z].ext);
        cr_assert_eq(vf_trace_write(path, &t), VF_OK, "%s", vf_last_error());
        size_t len;
        char *bytes = tu_read_file(path, &len);
        cr_assert(bytes && len > 1000);
        /* truncated */
        snprintf(cut, sizeof cut, "%s.cut.%s", path, Z[z].ext);
        FILE *f = fopen(cut, "wb");
        fwrite(bytes, 1, len / 2, f);
        fclose(f);
        vf_trace u;
        if (vf_trace_read(cut, NULL, &u) == VF_OK) {
            cr_assert(u.n > 0 && u.n < t.n, "%s: %zu packets", Z[z].tool, u.n);
            cr_assert_eq(u.skipped[VF_SKIP_TRUNC_FILE], 1, "%s", Z[z].tool);
            cr_assert(strstr(u.first_by_reason[VF_SKIP_TRUNC_FILE], cut) &&
                          strstr(u.first_by_reason[VF_SKIP_TRUNC_FILE], "truncated"),
                      "%s", u.first_by_reason[VF_SKIP_TRUNC_FILE]);
            vf_trace_free(&u);
        } else {
            /* bzip2: the cut is inside the first block, not a byte comes out */
            cr_assert(strstr(vf_last_error(), cut) && strstr(vf_last_error(), "truncated"), "%s", vf_last_error());
        }
        vf_read_options strict = {0};
        strict.strict = true;
        cr_assert_eq(vf_trace_read(cut, &strict, &u), VF_ERR_FORMAT, "%s", Z[z].tool);
        cr_assert(strstr(vf_last_error(), cut) && strstr(vf_last_error(), Z[z].tool), "%s", vf_last_error());
        /* damaged: 64 bytes inverted a third of the way in */
        for (size_t i = len / 3; i < len / 3 + 64; i++) bytes[i] = (char)~bytes[i];
        f = fopen(cut, "wb");
        fwrite(bytes, 1, len, f);
        fclose(f);
        vf_status st = vf_trace_read(cut, NULL, &u);
        cr_assert_eq(st, VF_ERR_FORMAT, "%s: damaged data read as %zu packets", Z[z].tool, st ? 0 : u.n);
        cr_assert(strstr(vf_last_error(), cut) && strstr(vf_last_error(), "damaged"), "%s", vf_last_error());
        free(bytes);
        unlink(cut);
        unlink(path);
    }
    vf_trace_free(&t);
}

Test(compress, csv_truncated_and_damaged) {
    vf_read_options o = {0};
    o.max_records = 5000;
    vf_trace t;
    read_ok(UGR, &o, &t);
    for (int z = 0; z < NZ; z++) {
        char path[256];
        snprintf(path, sizeof path, "/tmp/vkflow_z_%d_d.csv.%s", (int)getpid(), Z[z].ext);
        cr_assert_eq(vf_trace_write(path, &t), VF_OK, "%s", vf_last_error());
        size_t len;
        char *bytes = tu_read_file(path, &len);
        FILE *f = fopen(path, "wb");
        fwrite(bytes, 1, len * 2 / 3, f);
        fclose(f);
        vf_trace u;
        if (vf_trace_read(path, NULL, &u) == VF_OK) {
            cr_assert(u.n > 0 && u.n < t.n, "%s: %zu flows", Z[z].tool, u.n);
            cr_assert_eq(vf_trace_skipped_total(&u), 1, "%s: only the cut is counted: %s", Z[z].tool, u.first_skip);
            cr_assert(strstr(u.first_by_reason[VF_SKIP_TRUNC_FILE], path), "%s", u.first_skip);
            vf_trace_free(&u);
        } else {
            /* bzip2's first 900 kB block cut: not a byte comes out */
            cr_assert(strstr(vf_last_error(), path) && strstr(vf_last_error(), "truncated"), "%s", vf_last_error());
        }
        for (size_t i = len / 3; i < len / 3 + 64; i++) bytes[i] = (char)~bytes[i];
        f = fopen(path, "wb");
        fwrite(bytes, 1, len, f);
        fclose(f);
        cr_assert_eq(vf_trace_read(path, NULL, &u), VF_ERR_FORMAT, "%s", Z[z].tool);
        cr_assert(strstr(vf_last_error(), path) && strstr(vf_last_error(), "damaged"), "%s", vf_last_error());
        free(bytes);
        unlink(path);
    }
    vf_trace_free(&t);
}

/* a compressed name that is not a trace format, and compressed garbage */
Test(compress, names_and_garbage) {
    vf_trace t;
    memset(&t, 0, sizeof t);
    char path[256];
    tmpname(path, sizeof path, "x.txt.gz");
    cr_assert_eq(vf_trace_write(path, &t), VF_ERR_ARG);
    cr_assert(strstr(vf_last_error(), ".gz, .xz, .zst or .bz2"), "%s", vf_last_error());
    /* gzip of bytes that are neither pcap nor text */
    tmpname(path, sizeof path, "junk.gz");
    char cmd[400];
    tu_need_tool("gzip", "gzip");
    snprintf(cmd, sizeof cmd, "printf '\\001\\002\\003\\004\\005' | gzip -c > %s", path);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(vf_trace_read(path, NULL, &t), VF_ERR_FORMAT);
    cr_assert(strstr(vf_last_error(), "unknown file format") && strstr(vf_last_error(), "after gzip"), "%s",
              vf_last_error());
    unlink(path);
}
