/* Damaged run-directory files are refused naming the file: encoder.txt and
 * run.state carry an FNV-1a checksum line (util.h vf_write_text_summed), so
 * every truncation and every single bit flip is caught before the values are
 * used; files written before the checksum (version 1) still load. The
 * checkpoint's own checksum is tested in test_train_layer.c. */
#include <criterion/criterion.h>
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace/encode.h"
#include "util.h"
#include "train/rundir.h"

#define PATHSPIDER tu_shared_data("pcap_enterprise_pathspider_real_2012-11-23.pcap")

static void write_bytes(const char *path, const char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot write %s", path);
    cr_assert_eq(fwrite(b, 1, n, f), n);
    fclose(f);
}

/* Every cut of a summed file at a few lengths and every bit of a spread of
 * bytes flipped: load(path) must fail naming path. */
typedef vf_status (*load_fn)(const char *path, void *user);
static void every_damage_refused(const char *path, load_fn load, void *user) {
    size_t n;
    char *good = tu_read_file(path, &n);
    cr_assert(good && n > 40);
    char *b = malloc(n);
    cr_assert(b);
    size_t cuts[] = {0, 1, 10, n / 3, n / 2, n - 27, n - 26, n - 25, n - 2, n - 1};
    int refused = 0, tried = 0;
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        write_bytes(path, good, cuts[k]);
        tried++;
        vf_status st = load(path, user);
        cr_expect_neq(st, VF_OK, "cut at %zu of %zu bytes was accepted", cuts[k], n);
        cr_expect(strstr(vf_last_error(), path), "cut at %zu: the message must name the file: %s", cuts[k],
                  vf_last_error());
        refused += st != VF_OK;
    }
    size_t step = n / 97 ? n / 97 : 1;
    for (size_t i = 0; i < n; i += step) {
        memcpy(b, good, n);
        b[i] ^= (char)(1u << (i % 8));
        write_bytes(path, b, n);
        tried++;
        vf_status st = load(path, user);
        cr_expect_neq(st, VF_OK, "bit %zu of byte %zu flipped was accepted", i % 8, i);
        cr_expect(strstr(vf_last_error(), path), "flip at %zu: the message must name the file: %s", i, vf_last_error());
        refused += st != VF_OK;
    }
    cr_expect_eq(refused, tried);
    write_bytes(path, good, n);
    cr_expect_eq(load(path, user), VF_OK, "the intact file loads again: %s", vf_last_error());
    free(b);
    free(good);
}

/* ------------------------------------------------------------------ encoder */

static vf_status load_encoder(const char *path, void *user) {
    (void)user;
    vf_encoder e;
    vf_status st = vf_encoder_load(path, &e);
    if (!st) vf_encoder_free(&e);
    return st;
}

static void fit_encoder(vf_encoder *e) {
    vf_trace t;
    vf_read_options o = {0};
    o.max_records = 500;
    cr_assert_eq(vf_trace_read(PATHSPIDER, &o, &t), VF_OK, "%s", vf_last_error());
    vf_data_desc dd;
    vf_data_desc_default(t.kind, &dd);
    dd.n_chunks = 2;
    dd.w2v_epochs = 1;
    cr_assert_eq(vf_encoder_fit(&dd, &t, e), VF_OK, "%s", vf_last_error());
    vf_trace_free(&t);
}

Test(damaged_files, encoder_txt_truncated_or_flipped_is_refused_naming_it) {
    vf_encoder e;
    fit_encoder(&e);
    char path[128];
    snprintf(path, sizeof path, "/tmp/vkflow_damaged_enc_%d.txt", (int)getpid());
    cr_assert_eq(vf_encoder_save(&e, path), VF_OK, "%s", vf_last_error());
    size_t n;
    char *text = tu_read_file(path, &n);
    cr_assert(text && !strncmp(text, "vkflow-encoder 11\n", 18), "version 11 header");
    cr_assert(strstr(text, "\nend\nchecksum "), "a checksum line after 'end'");
    free(text);
    every_damage_refused(path, load_encoder, NULL);
    /* the message says what is wrong */
    write_bytes(path, "vkflow-encoder 11\nkind 0\n", 25);
    cr_expect_neq(vf_encoder_load(path, &(vf_encoder){0}), VF_OK);
    cr_expect(strstr(vf_last_error(), "damaged encoder file"), "%s", vf_last_error());
    unlink(path);
    vf_encoder_free(&e);
}

/* The text of an older encoder file from a version 11 one of the default
 * fields (IPs as bits, decoded bit by bit, time interarrival): header `ver`
 * (version 10 differs in value tables only, and these fields have none),
 * no "pflows 0" and "fspan 0" lines (version 9), no "pparts 0" and "xgapq 0" lines (version 8), no "flen 0" line (version 7), field lines without the popularity and no "vcount 0" lines (version 6), nor the class decode (version 5), no value quantile tables ("valq 0" lines) nor flow start tables ("startq
 * 0") and field lines without the start decode (version 4), nor bins and gap
 * decode (version 3), nor decode and top (versions 2, 1), no gap
 * quantile table ("gapq 0"), no address tables ("ips 0" twice, 2 and 1), and
 * for version 1 no checksum line. Returns the length (the text is rewritten
 * in place). */
static size_t older_encoder_text(char *text, int ver) {
    char *line = strchr(text, '\n') + 1; /* after "vkflow-encoder 11" */
    char head[32];
    int n_head = snprintf(head, sizeof head, "vkflow-encoder %d\n", ver); /* no longer than the old one */
    memcpy(text, head, (size_t)n_head); /* no terminating 0 over the next line */
    char *w = text + n_head;
    while (*line) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);
        if (!strncmp(line, "checksum ", 9)) break;
        if ((ver < 3 && !strncmp(line, "ips 0\n", 6)) || (ver < 4 && !strncmp(line, "gapq 0\n", 7)) ||
            (ver < 5 && (!strncmp(line, "valq 0\n", 7) || !strncmp(line, "startq 0\n", 9))) ||
            (ver < 7 && !strncmp(line, "vcount 0\n", 9)) || (ver < 8 && !strncmp(line, "flen 0\n", 7)) ||
            (ver < 9 && (!strncmp(line, "pparts 0\n", 9) || !strncmp(line, "xgapq 0\n", 8))) ||
            (ver < 10 && (!strncmp(line, "pflows 0\n", 9) || !strncmp(line, "fspan 0\n", 8)))) {
            line += len;
            continue;
        }
        if (!strncmp(line, "field ", 6)) {
            /* version 7 keeps it; 6 drops the last number (popularity), 5 the one before (class decode), 4 the one
             * before that (start decode), for 3 the two before (bins, gap decode), and for 2 and 1
             * the two before those (decode, top) */
            if (ver >= 7) {
                memmove(w, line, len);
                w += len;
                line += len;
                continue;
            }
            char *end = line + len - 1, *sp = end;
            for (int k = 0; k < (ver < 3 ? 7 : ver < 4 ? 5 : ver < 5 ? 3 : ver < 6 ? 2 : 1); k++) do sp--; while (*sp != ' ');
            size_t keep = (size_t)(sp - line);
            memmove(w, line, keep);
            w += keep;
            *w++ = '\n';
            line += len;
            continue;
        }
        memmove(w, line, len);
        w += len;
        line += len;
    }
    size_t n = (size_t)(w - text);
    *w = 0;
    if (ver >= 2) n += (size_t)sprintf(w, "checksum %016llx\n", (unsigned long long)vf_fnv1a64(text, n));
    return n;
}

Test(damaged_files, encoder_txt_versions_1_to_10_still_load) {
    vf_encoder e, e1;
    fit_encoder(&e);
    char path[128];
    snprintf(path, sizeof path, "/tmp/vkflow_damaged_enc1_%d.txt", (int)getpid());
    for (int ver = 1; ver <= 10; ver++) {
        cr_assert_eq(vf_encoder_save(&e, path), VF_OK, "%s", vf_last_error());
        size_t n;
        char *text = tu_read_file(path, &n);
        cr_assert(text);
        n = older_encoder_text(text, ver);
        cr_assert(strstr(text, "\nend\n"));
        cr_assert(ver >= 3 || !strstr(text, "\nips "));
        cr_assert(ver >= 4 || !strstr(text, "\ngapq "));
        cr_assert(ver >= 5 || !strstr(text, "\nvalq "));
        cr_assert(ver >= 8 || !strstr(text, "\nflen "));
        cr_assert(ver >= 9 || (!strstr(text, "\npparts ") && !strstr(text, "\nxgapq ")));
        cr_assert(ver >= 10 || (!strstr(text, "\npflows ") && !strstr(text, "\nfspan ")));
        write_bytes(path, text, n);
        cr_assert_eq(vf_encoder_load(path, &e1), VF_OK, "version %d: %s", ver, vf_last_error());
        cr_expect_eq(e1.attr_dim, e.attr_dim);
        cr_expect_eq(e1.feat_dim, e.feat_dim);
        cr_expect_eq(e1.n_chunks, e.n_chunks);
        cr_expect_eq(e1.fields[0].decode, VF_IPDEC_BITS);
        vf_encoder_free(&e1);
        if (ver == 1) {
            /* a version 1 file cut before its end is still refused */
            write_bytes(path, text, strstr(text, "\nend\n") - text);
            cr_expect_neq(vf_encoder_load(path, &e1), VF_OK);
            cr_expect(strstr(vf_last_error(), path), "%s", vf_last_error());
        }
        free(text);
    }
    unlink(path);
    vf_encoder_free(&e);
}

/* ---------------------------------------------------------------- run.state */

static vf_status load_state(const char *path, void *user) {
    (void)path;
    vf_run_state s;
    vf_status st = vf_run_state_load(user, &s);
    if (!st) vf_run_state_free(&s);
    return st;
}

Test(damaged_files, run_state_truncated_or_flipped_is_refused_naming_it) {
    char dir[128], path[160];
    snprintf(dir, sizeof dir, "/tmp/vkflow_damaged_state_XXXXXX");
    cr_assert(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/run.state", dir);
    int64_t flows[3] = {12, 0, 345};
    vf_run_state s = {.n_chunks = 3, .real_flows = flows};
    snprintf(s.config, sizeof s.config, "/data/run.cfg");
    snprintf(s.data, sizeof s.data, "/data/real.pcap");
    snprintf(s.model, sizeof s.model, "/data/model.cfg");
    snprintf(s.output, sizeof s.output, "pcap");
    cr_assert_eq(vf_run_state_save(dir, &s), VF_OK, "%s", vf_last_error());
    vf_run_state r;
    cr_assert_eq(vf_run_state_load(dir, &r), VF_OK, "%s", vf_last_error());
    cr_expect_str_eq(r.data, s.data);
    cr_expect_eq(r.n_chunks, 3);
    cr_expect_eq(r.real_flows[2], 345);
    vf_run_state_free(&r);
    every_damage_refused(path, load_state, dir);
    /* version 1 (no checksum line) still loads */
    size_t n;
    char *text = tu_read_file(path, &n);
    cr_assert(text);
    text[11] = '1';
    char *sum = strstr(text, "\nend\nchecksum ");
    cr_assert(sum);
    write_bytes(path, text, (size_t)(sum - text) + 5);
    cr_expect_eq(vf_run_state_load(dir, &r), VF_OK, "%s", vf_last_error());
    cr_expect_eq(r.real_flows[0], 12);
    vf_run_state_free(&r);
    free(text);
    unlink(path);
    rmdir(dir);
}
