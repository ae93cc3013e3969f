/* The HTML report: written with plots when gnuplot is there, with tables and
 * a visible note when it is not, and it opens in headless Chromium (Debian
 * `chromium`) without console errors, every plot image decoded and inked
 * (drawn to a canvas by a probe script appended to a copy of the report),
 * and a screenshot that is far from blank. Chromium tests skip when
 * chromium is not installed. */
#include <criterion/criterion.h>

#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eval/eval.h"

#define OK(expr)                                                                      \
    do {                                                                              \
        vf_status s_ = (expr);                                                        \
        cr_assert_eq(s_, VF_OK, "%s failed: %s", #expr, vf_last_error());             \
    } while (0)

/* Flows with heavy-tailed packets/bytes (log-x plots) and a few ports. */
static void make(vf_trace *t, size_t n, int variant) {
    memset(t, 0, sizeof *t);
    t->kind = VF_TRACE_FLOWS;
    t->linktype = -1;
    vf_trace_label(t, "background");
    vf_trace_label(t, "blacklist");
    static const uint16_t wk[] = {80, 443, 53, 22, 25, 123, 8080};
    for (size_t i = 0; i < n; i++) {
        vf_record r;
        memset(&r, 0, sizeof r);
        uint32_t h = (uint32_t)(i * 2654435761u + (uint32_t)variant * 40503u);
        vf_addr_from_v4(&r.src, 0x0A000000u + (h >> 20) % (50 + (uint32_t)variant * 10));
        vf_addr_from_v4(&r.dst, 0xC0A80000u + (h >> 8) % 40);
        r.ip_version = 4;
        r.proto = h % 10 < 8 ? 6 : h % 10 < 9 ? 17 : 1;
        r.sport = (uint16_t)(h % 3 ? 30000 + (h >> 4) % 20000 : wk[(h >> 3) % 7]);
        r.dport = wk[(h >> 5) % (5 + (uint32_t)variant)];
        r.ts_ns = (int64_t)i * 1000000000;
        r.dur_ns = (int64_t)((h >> 7) % 5000) * 1000000;
        r.pkts = 1 + (uint64_t)pow(2.0, (double)((h >> 9) % (14 + variant)));
        r.bytes = r.pkts * (60 + (h >> 11) % 1400);
        r.label = (int32_t)(h % 50 == 0);
        cr_assert_eq(vf_trace_append(t, &r), VF_OK);
    }
}

static char *slurp(const char *path, size_t *len) { return tu_read_file(path, len); }

static int count(const char *s, const char *needle) {
    int k = 0;
    for (const char *p = s; (p = strstr(p, needle)); p++) k++;
    return k;
}

/* Whether prog is an executable on PATH. */
static bool on_path(const char *prog) {
    const char *path = getenv("PATH");
    if (!path) return false;
    char buf[4096];
    for (const char *p = path; *p;) {
        const char *e = strchr(p, ':');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        snprintf(buf, sizeof buf, "%.*s/%s", (int)l, p, prog);
        if (access(buf, X_OK) == 0) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

static char dir[] = "/tmp/vkflow-report-test-XXXXXX";

/* Writes the report of two fixed traces to dir/name; returns its text. */
static char *write_report(const char *name) {
    cr_assert(mkdtemp(dir), "mkdtemp %s", dir);
    vf_trace a, b;
    make(&a, 3000, 0);
    make(&b, 2500, 1);
    vf_eval_result *r = malloc(sizeof *r);
    cr_assert(r);
    OK(vf_eval_compare(&a, &b, r));
    /* the scale, verdicts and privacy section as vkflow run writes them
     * (scored against a: in sample) */
    OK(vf_eval_add_scale(&a, NULL, 0, r));
    OK(vf_eval_dcr_compute(&a, &b, NULL, 500, 0, &r->privacy.dcr));
    r->scoring = VF_SCORED_IN_SAMPLE;
    snprintf(r->real_name, sizeof r->real_name, "real <test> & co");
    snprintf(r->syn_name, sizeof r->syn_name, "synthetic");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    OK(vf_eval_write_html(path, r));
    free(r);
    vf_trace_free(&a);
    vf_trace_free(&b);
    char *s = slurp(path, NULL);
    cr_assert(s, "report %s not written", path);
    return s;
}

static void rm_dir(void) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(eval_report, without_gnuplot_tables_and_a_note) {
    setenv("VKFLOW_GNUPLOT", "/nonexistent/gnuplot", 1);
    char *s = write_report("r.html");
    cr_assert(strstr(s, "Single attribute distributional similarity"));
    cr_assert(strstr(s, "Single feature distributional similarity"));
    cr_assert(strstr(s, "real &lt;test&gt; &amp; co"), "names must be HTML-escaped");
    cr_assert(strstr(s, "class=note"), "no note about the missing plots");
    cr_assert(strstr(s, "/nonexistent/gnuplot"), "the note should name the program");
    cr_assert_eq(count(s, "<img "), 0);
    free(s);
    rm_dir();
}

/* The verdict table (floor, marginals, /floor, verdict per metric), the
 * distinct counts and the privacy section with the distance to closest record. */
Test(eval_report, verdicts_distinct_counts_and_privacy) {
    setenv("VKFLOW_GNUPLOT", "/nonexistent/gnuplot", 1);
    char *s = write_report("v.html");
    cr_assert(strstr(s, "How good is it: floor, marginals, verdict"));
    cr_assert(strstr(s, "<th>synthetic</th><th>floor</th><th>marginals</th><th>/floor</th><th>verdict</th>"));
    /* one verdict row per judged metric of a flow trace: 5 JSD + 5 x 2 EMD + type + corr */
    cr_assert_eq(count(s, "<td class=v-"), 17, "verdict cells: %d", count(s, "<td class=v-"));
    cr_assert(strstr(s, "near the floor") || strstr(s, "better than marginals") || strstr(s, "worse than marginals"));
    cr_assert(strstr(s, "metrics near the floor"), "no summary line");
    cr_assert(strstr(s, "Scored in sample.") && strstr(s, "reward copying"), "the report must say how it was scored");
    cr_assert(strstr(s, "<caption>Distinct counts</caption>"));
    const char *const rows[] = {"source hosts", "destination hosts", "source ports", "destination ports", "5-tuples",
                                "records per 5-tuple: mean", "records per 5-tuple: median", "records per 5-tuple: max"};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) cr_assert(strstr(s, rows[i]), "no row %s", rows[i]);
    cr_assert(strstr(s, "<h2 id=privacy>Privacy</h2>"));
    cr_assert(strstr(s, "Distance to closest record"));
    cr_assert(strstr(s, "needs held-out records"), "without held-out records the report must say so");
    free(s);
    rm_dir();
}

Test(eval_report, plots_drawn_and_chromium_renders_them, .timeout = 120) {
    unsetenv("VKFLOW_GNUPLOT");
    if (!on_path("gnuplot")) cr_skip_test("gnuplot not installed (Debian gnuplot-nox)");
    char *s = write_report("report.html");
    /* 5 CDFs (ts td pkt byt records_per_5tuple) + 2 port charts + protocols */
    cr_assert_eq(count(s, "<img "), 8, "plots embedded: %d", count(s, "<img "));
    cr_assert(!strstr(s, "class=note"), "a plot failed: the report carries a note");
    cr_assert_eq(count(s, "src=\"http"), 0, "report must not load anything from the network");
    cr_assert_eq(count(s, "<script"), 0, "report has no scripts");
    cr_assert(strstr(s, "Log x:"), "heavy-tailed fields should be drawn with log x");
    if (!on_path("chromium")) {
        free(s);
        rm_dir();
        cr_skip_test("chromium not installed");
    }
    /* The probe: a copy of the report plus a script that decodes every
     * image, draws it on a canvas and counts the ones with > 500 non-white
     * pixels; the result goes to the title (read back with --dump-dom). */
    char probe[512], png[512], blank[512], dom[512], log[512], cmd[4096];
    snprintf(probe, sizeof probe, "%s/probe.html", dir);
    snprintf(png, sizeof png, "%s/shot.png", dir);
    snprintf(blank, sizeof blank, "%s/blank.html", dir);
    snprintf(dom, sizeof dom, "%s/dom.txt", dir);
    snprintf(log, sizeof log, "%s/chromium.log", dir);
    FILE *f = fopen(probe, "w");
    cr_assert(f);
    fputs(s, f);
    fputs("<script>\nwindow.addEventListener('load', function () {\n"
          "  var im = document.images, ok = 0, inked = 0;\n"
          "  for (var i = 0; i < im.length; i++) {\n"
          "    if (!im[i].complete || im[i].naturalWidth === 0) continue;\n"
          "    ok++;\n"
          "    var c = document.createElement('canvas');\n"
          "    c.width = im[i].naturalWidth; c.height = im[i].naturalHeight;\n"
          "    var g = c.getContext('2d'); g.drawImage(im[i], 0, 0);\n"
          "    var d = g.getImageData(0, 0, c.width, c.height).data, dark = 0;\n"
          "    for (var k = 0; k < d.length; k += 4)\n"
          "      if (d[k] < 200 || d[k + 1] < 200 || d[k + 2] < 200) dark++;\n"
          "    if (dark > 500) inked++;\n"
          "  }\n"
          "  var vt = document.querySelectorAll('table.verdicts tr').length;\n"
          "  var dt = document.querySelectorAll('table.distinct tr').length;\n"
          "  var pv = document.querySelectorAll('table.dcr tr').length + document.querySelectorAll('.dcr-verdict').length;\n"
          "  document.title = 'PROBE imgs=' + im.length + ' decoded=' + ok + ' inked=' + inked +\n"
          "    ' verdict_rows=' + vt + ' distinct_rows=' + dt + ' dcr=' + pv;\n"
          "});\n</script>\n", f);
    fclose(f);
    f = fopen(blank, "w");
    cr_assert(f);
    fputs("<!DOCTYPE html><html><head><title>blank</title></head><body></body></html>\n", f);
    fclose(f);
    const char *flags =
        "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
        "--disable-background-networking --disable-component-update --disable-sync "
        "--enable-logging=stderr --v=0 --window-size=1280,2400 --virtual-time-budget=5000";
    snprintf(cmd, sizeof cmd,
             "timeout 60 chromium %s --user-data-dir='%s/profile' --dump-dom --screenshot='%s' "
             "'file://%s' > '%s' 2> '%s'",
             flags, dir, png, probe, dom, log);
    int rc = system(cmd);
    char *logtxt = slurp(log, NULL);
    cr_assert_eq(rc, 0, "chromium failed (%d); log:\n%s", rc, logtxt ? logtxt : "");
    cr_assert(logtxt);
    cr_assert(!strstr(logtxt, "Uncaught"), "console error:\n%s", logtxt);
    cr_assert(!strstr(logtxt, "ERROR:CONSOLE"), "console error:\n%s", logtxt);
    cr_assert(!strstr(logtxt, "Failed to load resource"), "a resource failed:\n%s", logtxt);
    char *domtxt = slurp(dom, NULL);
    cr_assert(domtxt);
    /* 8 plots; the verdict table: header + 17 rows; distinct counts: header + 9; DCR: 2 rows + the sentence */
    cr_assert(strstr(domtxt, "PROBE imgs=8 decoded=8 inked=8 verdict_rows=18 distinct_rows=10 dcr=3"),
              "probe says: %.200s",
              strstr(domtxt, "<title>") ? strstr(domtxt, "<title>") : "(no title)");
    size_t shot = 0, bshot = 0;
    char *p = slurp(png, &shot);
    cr_assert(p && shot > 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8), "no PNG screenshot");
    free(p);
    /* A blank page at the same size, for scale. */
    snprintf(cmd, sizeof cmd,
             "timeout 60 chromium %s --user-data-dir='%s/profile2' --screenshot='%s.blank.png' "
             "'file://%s' > /dev/null 2>&1",
             flags, dir, png, blank);
    cr_assert_eq(system(cmd), 0, "chromium failed on a blank page");
    char bpath[600];
    snprintf(bpath, sizeof bpath, "%s.blank.png", png);
    p = slurp(bpath, &bshot);
    cr_assert(p);
    free(p);
    /* measured: blank 1280x2000 ~ 12 KB, the report ~ 270 KB */
    cr_assert(shot > 5 * bshot, "screenshot %zu bytes vs blank %zu: nothing drawn?", shot, bshot);
    if (getenv("VKFLOW_KEEP_REPORT")) { /* to look at it: keep the files */
        fprintf(stderr, "report kept in %s\n", dir);
    } else {
        rm_dir();
    }
    free(domtxt);
    free(logtxt);
    free(s);
}
