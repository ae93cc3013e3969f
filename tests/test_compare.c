/* vkflow compare, run as the command (the binary the build made): on a
 * 300-packet slice of the enterprise capture with two tiny DoppelGANger
 * variants and one broken model file, a few iterations each. The table has a
 * row for every metric vkflow eval reports and a column per model; the JSON
 * holds the numbers the table prints; the broken file is named in the error
 * while the two good models' results are written; a rerun reuses the
 * finished runs (their checkpoints are not written again); --holdout trains
 * on half A and scores against B; --reference adds its columns and names the
 * line of a metric it does not know. */
#include <criterion/criterion.h>

#include "testutil.h"
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "trace/trace.h"

#define ENTERPRISE tu_shared_data("pcap_enterprise_pathspider_real_2012-11-23.pcap")
#define TINY_MODEL VKFLOW_SOURCE_DIR "/tests/models/dg_tiny.cfg"

static char g_tmp[256];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* Replaces the first occurrence of from in s (malloc'd) by to; returns a new string. */
static char *replace(const char *s, const char *from, const char *to) {
    const char *at = strstr(s, from);
    cr_assert(at, "'%s' not found", from);
    size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    cr_assert(out);
    snprintf(out, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    return out;
}

static void setup(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/vkflow_test_compare_XXXXXX");
    cr_assert(mkdtemp(g_tmp));
    vf_trace t;
    vf_read_options o = {0};
    o.max_records = 300;
    cr_assert_eq(vf_trace_read(ENTERPRISE, &o, &t), VF_OK, "%s", vf_last_error());
    char p[512];
    snprintf(p, sizeof p, "%s/slice.pcap", g_tmp);
    cr_assert_eq(vf_trace_write_pcap(p, &t), VF_OK, "%s", vf_last_error());
    vf_trace_free(&t);
    snprintf(p, sizeof p, "%s/run.cfg", g_tmp);
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "data = { path = \"slice.pcap\"; n_chunks = 2; max_flow_len = 4; };\n"
             "model = \"%s\";\n"
             "run = { iterations = 8; checkpoint_every = 3; seed = 7; backend = \"cpu\"; };\n", TINY_MODEL);
    write_text(p, cfg);
    /* a second variant: dg_tiny with narrower networks, in sub/dir/ beside
     * a copy of models/doppelganger_body.inc where its include looks */
    char *tiny = tu_read_file(TINY_MODEL, NULL), *body = tu_read_file(VKFLOW_SOURCE_DIR "/models/doppelganger_body.inc", NULL);
    cr_assert(tiny && body);
    char *b = replace(tiny, "units = 8;", "units = 6;");
    const char *dirs[] = {"sub", "sub/dir", "models"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", g_tmp, dirs[i]);
        cr_assert_eq(mkdir(p, 0755), 0, "%s", p);
    }
    snprintf(p, sizeof p, "%s/sub/dir/tiny_b.cfg", g_tmp);
    write_text(p, b);
    snprintf(p, sizeof p, "%s/models/doppelganger_body.inc", g_tmp);
    write_text(p, body);
    free(tiny);
    free(body);
    free(b);
    snprintf(p, sizeof p, "%s/broken.cfg", g_tmp);
    write_text(p, "dims = { batch = ; };\n");
}

static void teardown(void) {
    if (g_tmp[0]) nftw(g_tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Runs vkflow compare in g_tmp with args; stdout and stderr into
 * g_tmp/<tag>.out and .err. Returns the exit status. */
static int compare(const char *tag, const char *args) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' compare run.cfg %s > %s.out 2> %s.err", g_tmp, VKFLOW_CLI, args,
             tag, tag);
    int ws = system(cmd);
    cr_assert(WIFEXITED(ws), "%s did not exit", cmd);
    return WEXITSTATUS(ws);
}

static char *slurp(const char *name) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_tmp, name);
    char *s = tu_read_file(p, NULL);
    cr_assert(s, "cannot open %s", p);
    return s;
}

/* The line of the text table that starts with key followed by spaces. */
static const char *table_line(const char *out, const char *key) {
    size_t n = strlen(key);
    for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (!strncmp(l, key, n) && l[n] == ' ') return l;
    return NULL;
}

static const char *const PACKET_METRICS[] = {
    "srcip.jsd", "dstip.jsd", "srcport.jsd", "dstport.jsd", "proto.jsd",
    "pkt_len.emd", "pkt_len.emd_norm", "time.emd", "time.emd_norm", "flow_size.emd", "flow_size.emd_norm",
    "iat_within_flow.emd", "iat_within_flow.emd_norm", "corr_log_pkt_byt.abs_diff", "privacy.5tuples_in_real",
    "privacy.pairs_in_real"};

static struct timespec mtime_of(const char *rel) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_tmp, rel);
    struct stat st;
    cr_assert_eq(stat(p, &st), 0, "%s missing", p);
    return st.st_mtim;
}

Test(compare, table_json_failure_and_reuse, .init = setup, .fini = teardown, .timeout = 300) {
    const char *args = "--models " TINY_MODEL ",sub/dir/tiny_b.cfg,broken.cfg --out out --iterations 4";
    int rc = compare("first", args);
    char *out = slurp("first.out"), *err = slurp("first.err");
    cr_expect_eq(rc, 1, "a failed model makes the status 1 (got %d); stderr:\n%s", rc, err);
    cr_expect(strstr(err, "broken.cfg"), "the error names the broken model file:\n%s", err);

    /* a column per model, a row per metric */
    const char *head = table_line(out, "metric");
    cr_assert(head, "no table header in:\n%s", out);
    for (const char *const *c = (const char *const[]){"floor", "marginals", "dg_tiny", "tiny_b", "broken", NULL}; *c;
         c++)
        cr_expect(strstr(head, *c) && strstr(head, *c) < strchr(head, '\n'), "no column %s in the header", *c);
    for (size_t i = 0; i < sizeof PACKET_METRICS / sizeof *PACKET_METRICS; i++)
        cr_expect(table_line(out, PACKET_METRICS[i]), "no row %s in:\n%s", PACKET_METRICS[i], out);
    const char *l = table_line(out, "pkt_len.emd");
    cr_assert(l);
    char line[512];
    snprintf(line, sizeof line, "%.*s", (int)(strchr(l, '\n') - l), l);
    cr_expect(strstr(line, "failed"), "the broken model's cells say failed: %s", line);

    /* the JSON: both good models ok with values, the broken one failed and named; the numbers are the table's */
    char *js = slurp("out/compare.json");
    cr_expect(strstr(js, "\"format\": \"vkflow-compare-1\""));
    const char *bm = strstr(js, "\"name\": \"broken\"");
    cr_assert(bm, "no broken model in the JSON");
    cr_expect(strstr(bm, "\"status\": \"failed\"") && strstr(bm, "broken.cfg"));
    int ok = 0;
    for (const char *s = js; (s = strstr(s, "\"status\": \"ok\"")); s++) ok++;
    cr_expect_eq(ok, 2, "two models ok, got %d", ok);
    const char *m = strstr(js, "{\"key\": \"pkt_len.emd\"");
    cr_assert(m, "no pkt_len.emd in the JSON");
    const char *v = strstr(m, "\"tiny_b\": {\"value\": ");
    cr_assert(v, "no value of tiny_b");
    double json_val = strtod(v + strlen("\"tiny_b\": {\"value\": "), NULL);
    cr_expect(isfinite(json_val) && json_val >= 0);
    /* the table's tiny_b column: metric, unit, floor, marginals, dg_tiny, /floor, tiny_b */
    char key[64], unit1[32], unit2[32], fl[32], mg[32], d0[32], r0[32], t1[32];
    cr_assert_eq(sscanf(line, "%63s %31s %31s %31s %31s %31s %31s %31s", key, unit1, unit2, fl, mg, d0, r0, t1), 8,
                 "cannot read %s", line);
    char printed[32];
    snprintf(printed, sizeof printed, "%.4g", json_val);
    cr_expect_str_eq(t1, printed, "table %s vs JSON %s", t1, printed);
    cr_expect(strstr(slurp("out/compare.md"), "| pkt_len.emd | EMD bytes |"));
    cr_expect(strstr(slurp("out/compare.html"), "<table>"));

    /* rerun: the finished runs are reused, not trained again */
    struct timespec c0 = mtime_of("out/dg_tiny/chunk_00.ckpt"), c1 = mtime_of("out/tiny_b/chunk_01.ckpt");
    rc = compare("second", args);
    char *err2 = slurp("second.err");
    cr_expect_eq(rc, 1);
    cr_expect(strstr(err2, "out/dg_tiny holds its run") && strstr(err2, "out/tiny_b holds its run"), "%s", err2);
    struct timespec d0t = mtime_of("out/dg_tiny/chunk_00.ckpt"), d1t = mtime_of("out/tiny_b/chunk_01.ckpt");
    cr_expect(c0.tv_sec == d0t.tv_sec && c0.tv_nsec == d0t.tv_nsec, "dg_tiny's checkpoint was written again");
    cr_expect(c1.tv_sec == d1t.tv_sec && c1.tv_nsec == d1t.tv_nsec, "tiny_b's checkpoint was written again");
    cr_expect_str_eq(slurp("second.out"), out, "the rerun prints the same table");
}

Test(compare, holdout_and_reference, .init = setup, .fini = teardown, .timeout = 300) {
    char p[512];
    snprintf(p, sizeof p, "%s/ref.csv", g_tmp);
    write_text(p, "# a comment\nmetric,label,value\npkt_len.emd,paper,12.5\n");
    snprintf(p, sizeof p, "%s/bad_ref.csv", g_tmp);
    write_text(p, "pkt_len.emd,paper,12.5\nbyt.emd,paper,3\n");
    int rc = compare("r", "--models sub/dir/tiny_b.cfg --out hold --iterations 3 --holdout --reference bad_ref.csv");
    cr_expect_eq(rc, 1);
    cr_expect(strstr(slurp("r.err"), "bad_ref.csv:2: unknown metric 'byt.emd'"), "%s", slurp("r.err"));
    rc = compare("h", "--models sub/dir/tiny_b.cfg --out hold --iterations 3 --holdout --reference ref.csv");
    char *err = slurp("h.err");
    cr_assert_eq(rc, 0, "%s", err);
    char *js = slurp("hold/compare.json");
    cr_expect(strstr(js, "\"holdout\": true"));
    cr_expect(strstr(js, "hold/B.pcap\""), "scored against B");
    char *state = slurp("hold/tiny_b/run.state");
    cr_expect(strstr(state, "hold/A.pcap"), "trained on A:\n%s", state);
    char *out = slurp("h.out");
    cr_expect(strstr(out, "out of sample"));
    const char *l = table_line(out, "pkt_len.emd");
    cr_expect(l && strstr(l, "12.5") && strstr(l, "12.5") < strchr(l, '\n'), "the reference column:\n%s", out);
    cr_expect(table_line(out, "metric") && strstr(table_line(out, "metric"), "paper"));
}

Test(compare, missing_models_is_a_usage_error) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' compare x.cfg --out /tmp/x > /dev/null 2>&1", VKFLOW_CLI);
    int ws = system(cmd);
    cr_expect(WIFEXITED(ws) && WEXITSTATUS(ws) == 2, "--models is required");
}
