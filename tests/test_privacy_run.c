/* Privacy runs end to end (engine/train/pipeline_privacy.c): a public run,
 * then a private one that adopts its encoder and weights; the budget is
 * planned before training, recorded, reported in run.log and metrics.json,
 * a stopped and resumed private run ends with the same bytes as an
 * uninterrupted one, and configurations that cannot work are refused. */
#include <criterion/criterion.h>

#include "testutil.h"
#include "train/pipeline.h"
#include "trace/trace.h"
#include "trace/encode.h"
#include "train/pipeline_privacy.h"

#include <math.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ENTERPRISE tu_shared_data("pcap_enterprise_pathspider_real_2012-11-23.pcap")
#define MODEL VKFLOW_SOURCE_DIR "/models/doppelganger_small.cfg"

static char g_tmp[256];

static int rm_one(const char *p, const struct stat *s, int flag, struct FTW *f) {
    (void)s; (void)flag; (void)f;
    return remove(p);
}

static void setup(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/vkflow_test_privacy_XXXXXX");
    cr_assert(mkdtemp(g_tmp));
    vf_trace t;
    vf_read_options o = {0};
    o.max_records = 3000;
    cr_assert_eq(vf_trace_read(ENTERPRISE, &o, &t), VF_OK, "%s", vf_last_error());
    char p[512];
    snprintf(p, sizeof p, "%s/slice.pcap", g_tmp);
    cr_assert_eq(vf_trace_write_pcap(p, &t), VF_OK, "%s", vf_last_error());
    vf_trace_free(&t);
}

static void teardown(void) {
    if (g_tmp[0]) nftw(g_tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* NAME.cfg: the slice in 2 chunks, `extra` appended (a privacy group). */
static void write_cfg(const char *name, int iterations, const char *extra, vf_run_config *rc) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s.cfg", g_tmp, name);
    FILE *f = fopen(p, "w");
    cr_assert(f);
    fprintf(f, "data = { path = \"slice.pcap\"; n_chunks = 2; max_flow_len = 4; };\nmodel = \"%s\";\n"
               "run = { iterations = %d; checkpoint_every = 2; seed = 3; backend = \"cpu\"; };\n%s\n",
            MODEL, iterations, extra);
    fclose(f);
    cr_assert_eq(vf_run_config_load(p, rc), VF_OK, "%s", vf_last_error());
}

typedef struct stopper { volatile int flag; int chunk; int64_t iter; } stopper;

static void on_event(const vf_pipeline_event *e, void *user) {
    stopper *s = user;
    if (s->iter > 0 && !e->message && e->phase == VF_PHASE_TRAIN && e->chunk == s->chunk && e->iter >= s->iter) s->flag = 1;
}

static vf_status run_into(const vf_run_config *rc, const char *dir, bool resume, stopper *s, bool *stopped, bool train_only) {
    vf_pipeline_opts o = {0};
    char d[600];
    snprintf(d, sizeof d, "%s/%s", g_tmp, dir);
    o.run_dir = d;
    o.resume = resume;
    o.stop = &s->flag;
    o.on_event = on_event;
    o.user = s;
    o.progress_every = 1;
    return train_only ? vf_pipeline_train(rc, &o, stopped) : vf_pipeline_run(rc, &o, stopped, NULL);
}

static char *file_in(const char *dir, const char *name) {
    char p[700];
    snprintf(p, sizeof p, "%s/%s/%s", g_tmp, dir, name);
    char *s = tu_read_file(p, NULL);
    cr_assert(s, "cannot read %s", p);
    return s;
}

static void public_run(void) {
    vf_run_config rc;
    write_cfg("pub", 6, "", &rc);
    stopper s = {0};
    bool stopped;
    cr_assert_eq(run_into(&rc, "pub", false, &s, &stopped, true), VF_OK, "%s", vf_last_error());
}

Test(privacy_run, budget_planned_spent_reported_and_resumed_bit_identically, .init = setup, .fini = teardown) {
    public_run();
    vf_run_config rc;
    write_cfg("priv", 8, "privacy = { epsilon = 2.0; delta = 1e-5; clip = 0.5; public = \"pub\"; };", &rc);
    stopper s = {0};
    bool stopped;
    cr_assert_eq(run_into(&rc, "a", false, &s, &stopped, false), VF_OK, "%s", vf_last_error());
    char *js = file_in("a", "metrics.json"), *log = file_in("a", "run.log"), *rec = file_in("a", "privacy.txt");
    const char *e = strstr(js, "\"epsilon_spent\": ");
    cr_assert(e, "metrics.json has no epsilon_spent");
    double eps = atof(e + strlen("\"epsilon_spent\": "));
    cr_expect(eps > 1.9 && eps <= 2.0 + 1e-9, "epsilon spent %g, target 2", eps);
    cr_expect(strstr(log, "privacy: epsilon spent"), "run.log:\n%s", log);
    cr_expect(strstr(log, "encoder of the public run"), "run.log:\n%s", log);
    cr_expect(strstr(log, "starting from the public run's weights"), "run.log:\n%s", log);
    cr_expect(!strncmp(rec, "sigma ", 6), "privacy.txt: %s", rec);
    char *html = file_in("a", "report.html");
    cr_expect(strstr(html, "Differentially private training"), "the report names the budget");
    free(js); free(log); free(rec); free(html);
    /* stopped in chunk 1 and resumed: the same checkpoints, the same sigma */
    stopper st = {.chunk = 0, .iter = 3};
    cr_assert_eq(run_into(&rc, "b", false, &st, &stopped, true), VF_OK, "%s", vf_last_error());
    cr_assert(stopped, "the run should have stopped");
    stopper none = {0};
    cr_assert_eq(run_into(&rc, "b", true, &none, &stopped, true), VF_OK, "%s", vf_last_error());
    for (int c = 0; c < 2; c++) {
        char n[64];
        snprintf(n, sizeof n, "chunk_%02d.ckpt", c);
        char pa[700], pb[700];
        snprintf(pa, sizeof pa, "%s/a/%s", g_tmp, n);
        snprintf(pb, sizeof pb, "%s/b/%s", g_tmp, n);
        size_t na, nb;
        char *x = tu_read_file(pa, &na), *y = tu_read_file(pb, &nb);
        cr_assert(x && y);
        cr_expect(na == nb && !memcmp(x, y, na), "%s differs after a stop and --resume", n);
        free(x); free(y);
    }
}

Test(privacy_run, refuses_what_cannot_work, .init = setup, .fini = teardown) {
    public_run();
    vf_run_config rc;
    stopper s = {0};
    bool stopped;
    /* no room for Poisson batches of 40 in the model's 50 rows */
    write_cfg("p1", 4, "privacy = { sigma = 1.0; expected_batch = 40; public = \"pub\"; };", &rc);
    cr_expect_neq(run_into(&rc, "r1", false, &s, &stopped, true), VF_OK);
    cr_expect(strstr(vf_last_error(), "no room"), "%s", vf_last_error());
    /* an epsilon no noise can meet (the conversion alone costs more at delta 1e-5 on Opacus's orders) */
    write_cfg("p0", 4, "privacy = { epsilon = 0.01; public = \"pub\"; };", &rc);
    cr_expect_neq(run_into(&rc, "r0", false, &s, &stopped, true), VF_OK);
    cr_expect(strstr(vf_last_error(), "cannot be met"), "%s", vf_last_error());
    char r0[600];
    snprintf(r0, sizeof r0, "%s/r0/chunk_00.ckpt", g_tmp);
    cr_expect(access(r0, F_OK) != 0, "refused before training");
    /* the public run must exist */
    write_cfg("p2", 4, "privacy = { epsilon = 4; public = \"nowhere\"; };", &rc);
    cr_expect_neq(run_into(&rc, "r2", false, &s, &stopped, true), VF_OK);
    cr_expect(strstr(vf_last_error(), "privacy.public"), "%s", vf_last_error());
    /* a resumed run may not spend more than its target with the noise it started with */
    write_cfg("p3", 4, "privacy = { epsilon = 3; public = \"pub\"; };", &rc);
    cr_assert_eq(run_into(&rc, "r3", false, &s, &stopped, true), VF_OK, "%s", vf_last_error());
    const char *sets[1] = {"run.iterations=400"};
    char p[600];
    snprintf(p, sizeof p, "%s/p3.cfg", g_tmp);
    cr_assert_eq(vf_run_config_load_with(p, sets, 1, &rc), VF_OK, "%s", vf_last_error());
    vf_status st = run_into(&rc, "r3", true, &s, &stopped, true);
    cr_expect_neq(st, VF_OK);
    /* (refused before the budget check: a resume keeps its settings) */
    cr_expect(strstr(vf_last_error(), "epsilon") || strstr(vf_last_error(), "same --set"), "%s", vf_last_error());
}

Test(privacy_run, configuration_errors_name_the_place) {
    vf_run_config rc;
    static const char *const bad[] = {
        "privacy = { epsilon = 4; sigma = 1; public = \"p\"; };",       /* both */
        "privacy = { public = \"p\"; };",                                /* neither */
        "privacy = { epsilon = 4; };",                                   /* no public run */
        "privacy = { epsilon = 4; unit = \"host\"; public = \"p\"; };",  /* not implemented */
        "privacy = { epsilon = 4; public = \"p\"; colour = 1; };",       /* unknown key */
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        char text[512];
        snprintf(text, sizeof text, "data = { path = \"x.pcap\"; };\nmodel = \"m.cfg\";\nrun = { iterations = 1; };\n%s\n",
                 bad[k]);
        vf_status st = vf_run_config_parse_string("bad.cfg", text, &rc);
        cr_expect_neq(st, VF_OK, "accepted: %s", bad[k]);
        cr_expect(strstr(vf_last_error(), "bad.cfg:4"), "%s -> %s", bad[k], vf_last_error());
    }
}

/* The contribution bound: a flow keeps its records in k chunks from its
 * first one on; the budget adds the k largest chunk curves. */
Test(privacy_run, a_flow_trains_at_most_k_chunk_models) {
    vf_encoder e;
    memset(&e, 0, sizeof e);
    e.n_chunks = 4;
    int64_t edges[5] = {0, 100, 200, 300, 400};
    e.chunk_begin = edges;
    vf_trace t;
    memset(&t, 0, sizeof t);
    t.kind = VF_TRACE_PACKETS;
    /* flow A in chunks 1, 2, 3 (file order not by time); flow B in chunk 3 only */
    int64_t ts_a[] = {350, 150, 250, 160}, ts_b[] = {390};
    for (int i = 0; i < 4; i++) {
        vf_record r = {0};
        r.ts_ns = ts_a[i];
        r.src.b[15] = 1; r.dst.b[15] = 2; r.sport = 10; r.dport = 20; r.proto = 6;
        cr_assert_eq(vf_trace_append(&t, &r), VF_OK);
    }
    vf_record rb = {0};
    rb.ts_ns = ts_b[0];
    rb.src.b[15] = 3; rb.dst.b[15] = 4; rb.sport = 11; rb.dport = 21; rb.proto = 6;
    cr_assert_eq(vf_trace_append(&t, &rb), VF_OK);
    size_t recs, flows;
    cr_assert_eq(vf_trace_bound_chunks(&e, 2, &t, &recs, &flows), VF_OK, "%s", vf_last_error());
    cr_expect_eq(recs, 1u);
    cr_expect_eq(flows, 1u);
    cr_assert_eq(t.n, 4u);
    int64_t want[] = {150, 250, 160, 390};
    for (size_t i = 0; i < t.n; i++) cr_expect_eq(t.recs[i].ts_ns, want[i], "record %zu", i);
    vf_trace_free(&t);

    /* budget: 4 chunks of equal q and steps; k chunks cost like k times one chunk's steps */
    double q[4] = {0.01, 0.01, 0.01, 0.01};
    int64_t steps[4] = {1000, 1000, 1000, 1000};
    vf_dp_budget b = {.delta = 1e-5, .sigma = 1.0, .n_chunks = 4, .q = q, .steps = steps};
    b.plan.runs_per_draw = 1;
    double eps[5];
    for (int k = 1; k <= 4; k++) {
        b.chunks_per_flow = k;
        eps[k] = vf_dp_budget_epsilon(&b, NULL);
    }
    vf_dp_budget one = b;
    int64_t steps_k[4] = {2000, 0, 0, 0};
    one.steps = steps_k;
    one.chunks_per_flow = 1;
    cr_expect(fabs(eps[2] - vf_dp_budget_epsilon(&one, NULL)) < 1e-9, "k = 2: %g vs one chunk of 2000 steps %g", eps[2],
              vf_dp_budget_epsilon(&one, NULL));
    cr_expect(eps[1] < eps[2] && eps[2] < eps[3] && eps[3] < eps[4], "%g %g %g %g", eps[1], eps[2], eps[3], eps[4]);
}
