/* The end-to-end job on a tiny slice of a shared capture with a tiny model
 * on the cpu backend: vkflow run writes a readable synthetic trace and
 * metrics.json; a run interrupted (the stop flag, as Ctrl-C sets it) in chunk
 * 0 and again in a warm-started chunk, then resumed, writes the same bytes as
 * an uninterrupted one; vkflow generate reproduces run's output; a second run
 * into the same folder without --resume is refused. */
#include <criterion/criterion.h>

#include "testutil.h"
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/pipeline.h"

/* the enterprise capture: also the default dataset, so these tests run in a fresh clone */
#define ENTERPRISE tu_shared_data("pcap_enterprise_pathspider_real_2012-11-23.pcap")
#define TINY_MODEL VKFLOW_SOURCE_DIR "/tests/models/dg_tiny.cfg"

static char g_tmp[256];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

/* The data group's fields (NetShare's defaults when empty). */
static const char *g_fields = "";

/* run.cfg in the temp folder: the slice, 2 chunks, 8 iterations of model. */
static void write_run_cfg(const char *model) {
    char p[512];
    snprintf(p, sizeof p, "%s/run.cfg", g_tmp);
    FILE *f = fopen(p, "w");
    cr_assert(f);
    fprintf(f, "data = { path = \"slice.pcap\"; n_chunks = 2; max_flow_len = 4; %s };\n"
               "model = \"%s\";\n"
               "run = { iterations = 8; checkpoint_every = 3; seed = 7; backend = \"cpu\"; };\n", g_fields, model);
    fclose(f);
}

static void setup(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/vkflow_test_pipeline_XXXXXX");
    cr_assert(mkdtemp(g_tmp));
    /* the slice: the first 300 packets of the enterprise capture */
    vf_trace t;
    vf_read_options o = {0};
    o.max_records = 300;
    cr_assert_eq(vf_trace_read(ENTERPRISE, &o, &t), VF_OK, "%s", vf_last_error());
    char p[512];
    snprintf(p, sizeof p, "%s/slice.pcap", g_tmp);
    cr_assert_eq(vf_trace_write_pcap(p, &t), VF_OK, "%s", vf_last_error());
    vf_trace_free(&t);
    write_run_cfg(TINY_MODEL);
}

static void teardown(void) {
    if (g_tmp[0]) nftw(g_tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void load_cfg(vf_run_config *rc) {
    char p[512];
    snprintf(p, sizeof p, "%s/run.cfg", g_tmp);
    cr_assert_eq(vf_run_config_load(p, rc), VF_OK, "%s", vf_last_error());
}

static char *slurp(const char *path, size_t *n) {
    char *s = tu_read_file(path, n);
    cr_assert(s, "cannot open %s", path);
    return s;
}

static void same_bytes(const char *a, const char *b) {
    size_t na, nb;
    char *x = slurp(a, &na), *y = slurp(b, &nb);
    cr_assert(na == nb && !memcmp(x, y, na), "%s (%zu bytes) and %s (%zu bytes) differ", a, na, b, nb);
    free(x);
    free(y);
}

/* Sets the stop flag at a given (chunk, iteration), as a SIGINT handler would. */
typedef struct stopper {
    volatile int flag;
    int chunk;
    int64_t iter;
    int events;
} stopper;

static void on_event(const vf_pipeline_event *e, void *user) {
    stopper *s = user;
    s->events++;
    if (!e->message && e->phase == VF_PHASE_TRAIN && e->chunk == s->chunk && e->iter >= s->iter) s->flag = 1;
}

static vf_status run_into(const vf_run_config *rc, const char *dir, bool resume, stopper *s, bool *stopped) {
    vf_pipeline_opts o = {0};
    o.run_dir = dir;
    o.resume = resume;
    o.stop = &s->flag;
    o.on_event = on_event;
    o.user = s;
    o.progress_every = 1;
    return vf_pipeline_run(rc, &o, stopped, NULL);
}

static void end_to_end(const char *model) {
    write_run_cfg(model);
    vf_run_config rc;
    load_cfg(&rc);
    char a[512], b[512], p[600], q[600];
    snprintf(a, sizeof a, "%s/a", g_tmp);
    snprintf(b, sizeof b, "%s/b", g_tmp);
    bool stopped = true;
    stopper never = {.chunk = -1};
    cr_assert_eq(run_into(&rc, a, false, &never, &stopped), VF_OK, "%s", vf_last_error());
    cr_assert(!stopped);
    cr_assert_gt(never.events, 0);

    /* a readable packet trace inside the real trace's time span */
    snprintf(p, sizeof p, "%s/synthetic.pcap", a);
    vf_trace syn;
    cr_assert_eq(vf_trace_read(p, NULL, &syn), VF_OK, "%s", vf_last_error());
    cr_assert_gt(syn.n, 0);
    cr_assert_eq(syn.kind, VF_TRACE_PACKETS);
    for (size_t i = 1; i < syn.n; i++) cr_assert_geq(syn.recs[i].ts_ns, syn.recs[i - 1].ts_ns, "sorted by time");
    vf_trace_free(&syn);
    size_t n;
    snprintf(q, sizeof q, "%s/metrics.json", a);
    char *js = slurp(q, &n);
    cr_assert(strstr(js, "pkt_len") && strstr(js, "srcip"), "metrics.json lacks the metrics");
    /* the default: trained on everything, scored in sample, with the scale */
    cr_assert(strstr(js, "\"scored\": \"in_sample\""), "metrics.json does not say how it was scored");
    cr_assert(strstr(js, "\"verdicts\": {") && strstr(js, "\"verdict\": \""), "metrics.json has no verdicts");
    cr_assert(strstr(js, "\"dcr\": {"), "metrics.json has no distance to closest record");
    free(js);
    snprintf(q, sizeof q, "%s/report.html", a);
    free(slurp(q, &n));
    cr_assert_gt(n, 1000);
    snprintf(q, sizeof q, "%s/run.log", a);
    char *log = slurp(q, &n);
    cr_assert(strstr(log, "iteration 8/8"), "run.log has no progress lines");
    /* NetShare's merge: chunk 1's model generated the features of the flows
     * chunk 0 carries into it, for their attributes (dg_tiny has sample_cond);
     * with flow_spans training none is carried: no flow of the slice's chunk
     * 0 goes on in chunk 1 */
    if (strstr(g_fields, "flow_spans"))
        cr_assert(strstr(log, "chunk 1/2: flow spans: ") && !strstr(log, "flows carried in"), "%s", log);
    else
        cr_assert(strstr(log, "chunk 2/2: ") && strstr(log, "flows carried in"), "no features for carried flows:\n%s", log);
    cr_assert(!strstr(log, "take their features from flows"), "the merge fell back:\n%s", log);
    /* generation gives every generated flow a 5-tuple of its own (run.fresh_5tuples) */
    cr_assert(strstr(log, "fresh 5-tuples: ") && strstr(log, "got the next free client port"), "%s", log);
    cr_assert(!strstr(g_fields, "popularity") || strstr(log, "host popularity: "), "no host popularity line:\n%s", log);
    cr_assert(!strstr(g_fields, "flow_lengths") || strstr(log, "flow lengths: "), "no flow lengths line:\n%s", log);
    cr_assert(!strstr(g_fields, "carried_gaps") || strstr(log, "carried gaps: "), "no carried gaps line:\n%s", log);
    cr_assert(!strstr(g_fields, "flow_spans") || strstr(log, "chunk 1/2: flow spans: "), "no flow spans line:\n%s", log);
    cr_assert(!strstr(g_fields, "flow_lengths") || !strstr(g_fields, "\"quantile\"") ||
              strstr(log, "rank decode: 1 field of "), "no rank decode line:\n%s", log);
    free(log);

    /* interrupted in chunk 0, resumed, interrupted in the warm-started chunk
     * 1, resumed: the same bytes as the uninterrupted run */
    stopper s1 = {.chunk = 0, .iter = 4};
    cr_assert_eq(run_into(&rc, b, false, &s1, &stopped), VF_OK, "%s", vf_last_error());
    cr_assert(stopped, "the stop flag did not stop the run");
    snprintf(q, sizeof q, "%s/synthetic.pcap", b);
    cr_assert(access(q, F_OK) != 0, "a stopped run wrote a synthetic trace");
    stopper again = {.chunk = -1};
    cr_assert_neq(run_into(&rc, b, false, &again, &stopped), VF_OK, "a second run without --resume was accepted");
    cr_assert(strstr(vf_last_error(), "--resume"), "%s", vf_last_error());
    stopper s2 = {.chunk = 1, .iter = 1};
    cr_assert_eq(run_into(&rc, b, true, &s2, &stopped), VF_OK, "%s", vf_last_error());
    cr_assert(stopped);
    stopper s3 = {.chunk = -1};
    cr_assert_eq(run_into(&rc, b, true, &s3, &stopped), VF_OK, "%s", vf_last_error());
    cr_assert(!stopped);
    same_bytes(p, q);

    /* vkflow generate on the finished run: the same trace again */
    snprintf(q, sizeof q, "%s/again.pcap", g_tmp);
    vf_pipeline_opts o = {0};
    o.run_dir = a;
    cr_assert_eq(vf_pipeline_generate(a, 0, q, &o, &stopped), VF_OK, "%s", vf_last_error());
    same_bytes(p, q);
    /* a name that says the other format is refused, nothing written */
    char wrong[600];
    snprintf(wrong, sizeof wrong, "%s/again.csv", g_tmp);
    cr_assert_eq(vf_pipeline_generate(a, 0, wrong, &o, &stopped), VF_ERR_ARG);
    cr_assert(strstr(vf_last_error(), "this run writes a pcap"), "%s", vf_last_error());
    cr_assert(access(wrong, F_OK) != 0);
    /* --count: a different number of flows, still a valid trace */
    cr_assert_eq(vf_pipeline_generate(a, 50, q, &o, &stopped), VF_OK, "%s", vf_last_error());
    cr_assert_eq(vf_trace_read(q, NULL, &syn), VF_OK, "%s", vf_last_error());
    cr_assert_gt(syn.n, 0);
    vf_trace_free(&syn);
}

Test(pipeline_run, end_to_end_resume_and_generate, .init = setup, .fini = teardown, .timeout = 300) {
    end_to_end(TINY_MODEL);
}

/* The ports, protocol and time of the examples' data descriptions, after
 * the two address fields (ADDRS) and before any more (REST). */
#define EXAMPLES_FIELDS(ADDRS, REST)                                                                          \
    "fields = ( " ADDRS                                                                                   \
    "  { name = \"srcport\"; encoding = \"dict\"; class_decode = \"quota\"; },\n"                          \
    "  { name = \"dstport\"; encoding = \"dict\"; class_decode = \"quota\"; },\n"                          \
    "  { name = \"proto\"; encoding = \"word2vec\"; class_decode = \"quota\"; },\n"                            \
    "  { name = \"time\"; encoding = \"interarrival_quantile\"; decode = \"rank\"; start_decode = \"rank\"; }" \
    REST " );"

/* end_to_end with the data description's fields */
static void end_to_end_with_fields(const char *fields) {
    g_fields = fields;
    end_to_end(TINY_MODEL);
    g_fields = "";
}

/* The example configurations' encodings (address and port dictionaries,
 * gaps, lengths and flow starts decoded by rank) through the whole
 * pipeline: the merge, resume and vkflow generate give the same bytes. */
Test(pipeline_run, end_to_end_with_the_examples_encodings, .init = setup, .fini = teardown, .timeout = 300) {
    end_to_end_with_fields(EXAMPLES_FIELDS(
        "{ name = \"srcip\"; encoding = \"dict\"; decode = \"tree_new\"; },\n"
        "  { name = \"dstip\"; encoding = \"dict\"; decode = \"tree_new\"; },\n",
        ",\n  { name = \"len\"; encoding = \"quantile\"; decode = \"rank\"; },\n"
        "  { name = \"ttl\"; encoding = \"quantile\"; bins = 16; }"));
}

/* Address, protocol and port classes by quota (vf_quota_classes before
 * the merge), one field with tree_fresh, the chunks each flow is in
 * (vf_flow_spans, as each chunk is generated), the sources' records per
 * host by the training curve (vf_host_popularity after the decode), the
 * training flow lengths (vf_flow_lengths; max_flow_len 4 cuts the slice's
 * longer flows), the gaps between a flow's chunks (vf_carried_gaps) and the
 * packet lengths ranked with the copies (vf_rank_record_values): the merge,
 * resume and vkflow generate give the same bytes. */
Test(pipeline_run, end_to_end_with_class_quotas_host_popularity_and_flow_lengths, .init = setup, .fini = teardown,
     .timeout = 300) {
    end_to_end_with_fields("flow_lengths = \"training\"; carried_gaps = \"training\"; flow_spans = \"training\";\n"
                           EXAMPLES_FIELDS(
        "{ name = \"srcip\"; encoding = \"dict\"; decode = \"tree_new\"; class_decode = \"quota\"; "
        "popularity = \"training\"; },\n"
        "  { name = \"dstip\"; encoding = \"dict\"; decode = \"tree_fresh\"; class_decode = \"quota\"; },\n",
        ",\n  { name = \"len\"; encoding = \"quantile\"; decode = \"rank\"; }"));
}

/* The diffusion models through the same pipeline: the driver's reverse
 * chain makes the samples and the merge's features (sample_cond); Ctrl-C and
 * --resume give the same bytes. */
Test(pipeline_run, end_to_end_with_the_diffusion_gan, .init = setup, .fini = teardown, .timeout = 300) {
    end_to_end(VKFLOW_SOURCE_DIR "/models/ddgan_small.cfg");
}

Test(pipeline_run, end_to_end_with_ddpm, .init = setup, .fini = teardown, .timeout = 300) {
    end_to_end(VKFLOW_SOURCE_DIR "/models/ddpm_small.cfg");
}

/* tests/models/dg_tiny.cfg copied into the temp folder with learning rate
 * lr (its @include made to reach models/ from there), without its
 * program sample_cond when cond is false. */
static void write_model_cond(const char *path, const char *lr, bool cond) {
    size_t n;
    char *t = slurp(TINY_MODEL, &n);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "@include", 8))
            fprintf(f, "@include \"../..%s/models/doppelganger_body.inc\"\n", VKFLOW_SOURCE_DIR);
        else if (!strncmp(line, "optimizer", 9))
            fprintf(f, "optimizer = { type = \"adam\"; lr = %s; beta1 = 0.5; beta2 = 0.999; eps = 1e-8; };\n", lr);
        else if (!cond && strstr(line, "\"sample_cond\""))
            continue;
        else if (!cond && strstr(line, "name = \"sample\";"))
            fprintf(f, "%.*s\n", (int)(strrchr(line, ',') - line), line); /* the list ends here now */
        else
            fprintf(f, "%s\n", line);
    }
    fclose(f);
    free(t);
}

static void write_model(const char *path, const char *lr) { write_model_cond(path, lr, true); }

/* A loss that turns NaN/Inf stops the run with a message naming the chunk and
 * the iteration, and the last good checkpoint stays as it was: the run is
 * stopped at iteration 3 with a sane model, the model file is then given a
 * learning rate of 1e30, and the resumed run diverges at iteration 4. */
Test(pipeline_run, diverging_loss_stops_and_keeps_the_checkpoint, .init = setup, .fini = teardown, .timeout = 120) {
    cr_assert(!strncmp(g_tmp, "/tmp/", 5) && !strchr(g_tmp + 5, '/'), "the include path assumes /tmp/<dir>");
    char p[512], model[512];
    snprintf(model, sizeof model, "%s/model.cfg", g_tmp);
    write_model(model, "1e-3");
    snprintf(p, sizeof p, "%s/diverge.cfg", g_tmp);
    FILE *f = fopen(p, "w");
    cr_assert(f);
    fprintf(f, "data = { path = \"slice.pcap\"; n_chunks = 1; max_flow_len = 4; };\n"
               "model = \"model.cfg\";\n"
               "run = { iterations = 8; checkpoint_every = 100; backend = \"cpu\"; };\n");
    fclose(f);
    vf_run_config rc;
    cr_assert_eq(vf_run_config_load(p, &rc), VF_OK, "%s", vf_last_error());
    char dir[512], ck[600], saved[600];
    snprintf(dir, sizeof dir, "%s/d", g_tmp);
    snprintf(ck, sizeof ck, "%s/chunk_00.ckpt", dir);
    bool stopped = false;
    stopper s1 = {.chunk = 0, .iter = 3};
    cr_assert_eq(run_into(&rc, dir, false, &s1, &stopped), VF_OK, "%s", vf_last_error());
    cr_assert(stopped);
    size_t n;
    char *before = slurp(ck, &n);
    snprintf(saved, sizeof saved, "%s/before.ckpt", g_tmp);
    f = fopen(saved, "wb");
    cr_assert(f && fwrite(before, 1, n, f) == n);
    fclose(f);
    free(before);
    write_model(model, "1e30");
    stopper never = {.chunk = -1};
    cr_assert_eq(run_into(&rc, dir, true, &never, &stopped), VF_ERR_FORMAT, "%s", vf_last_error());
    char msg[2048];
    snprintf(msg, sizeof msg, "%s", vf_last_error());
    cr_assert(strstr(msg, "chunk 0: ") && strstr(msg, "diverged at iteration 4"), "%s", msg);
    cr_assert(strstr(msg, "the last good checkpoint is kept: ") && strstr(msg, ck), "%s", msg);
    same_bytes(ck, saved);
    snprintf(ck, sizeof ck, "%s/chunk_00.done", dir);
    cr_assert(access(ck, F_OK) != 0, "a diverged chunk was marked done");
    snprintf(ck, sizeof ck, "%s/synthetic.pcap", dir);
    cr_assert(access(ck, F_OK) != 0, "a diverged run wrote a synthetic trace");
}

Test(pipeline_run, generate_needs_a_run_directory, .init = setup, .fini = teardown) {
    vf_pipeline_opts o = {0};
    bool stopped;
    char out[600];
    snprintf(out, sizeof out, "%s/x.pcap", g_tmp);
    cr_assert_neq(vf_pipeline_generate(g_tmp, 0, out, &o, &stopped), VF_OK);
    cr_assert(strstr(vf_last_error(), "not a run directory"), "%s", vf_last_error());
    cr_assert(access(out, F_OK) != 0);
}

/* A model that cannot generate features for given attributes (no program
 * sample_cond): the run says so and merges as before, carried
 * flows taking the features of flows the later chunk generated. */
Test(pipeline_run, merge_without_sample_cond_falls_back, .init = setup, .fini = teardown, .timeout = 120) {
    cr_assert(!strncmp(g_tmp, "/tmp/", 5) && !strchr(g_tmp + 5, '/'), "the include path assumes /tmp/<dir>");
    char p[512], model[512];
    snprintf(model, sizeof model, "%s/model.cfg", g_tmp);
    write_model_cond(model, "1e-3", false);
    snprintf(p, sizeof p, "%s/nocond.cfg", g_tmp);
    FILE *f = fopen(p, "w");
    cr_assert(f);
    fprintf(f, "data = { path = \"slice.pcap\"; n_chunks = 2; max_flow_len = 4; };\n"
               "model = \"model.cfg\";\n"
               "run = { iterations = 2; checkpoint_every = 100; seed = 7; backend = \"cpu\"; evaluate = false; };\n");
    fclose(f);
    vf_run_config rc;
    cr_assert_eq(vf_run_config_load(p, &rc), VF_OK, "%s", vf_last_error());
    char dir[512], q[600];
    snprintf(dir, sizeof dir, "%s/d", g_tmp);
    bool stopped = true;
    stopper never = {.chunk = -1};
    cr_assert_eq(run_into(&rc, dir, false, &never, &stopped), VF_OK, "%s", vf_last_error());
    cr_assert(!stopped);
    snprintf(q, sizeof q, "%s/run.log", dir);
    size_t n;
    char *log = slurp(q, &n);
    cr_assert(strstr(log, "cannot generate features for given attributes") &&
              strstr(log, "take their features from flows the later chunk generated"), "%s", log);
    free(log);
    snprintf(q, sizeof q, "%s/synthetic.pcap", dir);
    vf_trace syn;
    cr_assert_eq(vf_trace_read(q, NULL, &syn), VF_OK, "%s", vf_last_error());
    cr_assert_gt(syn.n, 0);
    vf_trace_free(&syn);
}

/* --set settings are part of a run: recorded in overrides.txt (and the
 * effective model in model.cfg), required again on --resume, applied again
 * by vkflow generate. */
Test(pipeline_run, set_overrides_are_recorded_and_required_on_resume, .init = setup, .fini = teardown, .timeout = 120) {
    char p[512], dir[512], q[600];
    snprintf(p, sizeof p, "%s/run.cfg", g_tmp);
    snprintf(dir, sizeof dir, "%s/s", g_tmp);
    const char *sets[] = {"run.iterations=4", "training.d_steps=1", "optimizer.lr=3e-3"};
    vf_run_config *rc = malloc(sizeof *rc);
    cr_assert(rc);
    cr_assert_eq(vf_run_config_load_with(p, sets, 3, rc), VF_OK, "%s", vf_last_error());
    bool stopped = false;
    stopper s1 = {.chunk = 0, .iter = 2};
    cr_assert_eq(run_into(rc, dir, false, &s1, &stopped), VF_OK, "%s", vf_last_error());
    cr_assert(stopped);
    snprintf(q, sizeof q, "%s/overrides.txt", dir);
    size_t n;
    char *ov = slurp(q, &n);
    cr_expect_str_eq(ov, "run.iterations=4\ntraining.d_steps=1\noptimizer.lr=3e-3\n");
    free(ov);
    snprintf(q, sizeof q, "%s/model.cfg", dir);
    char *model = slurp(q, &n);
    cr_expect(strstr(model, "d_steps = 1;") && strstr(model, "lr = 0.003;"), "effective model:\n%s", model);
    free(model);
    /* resuming without them is refused, naming both lists */
    cr_assert_eq(vf_run_config_load_with(p, NULL, 0, rc), VF_OK);
    stopper never = {.chunk = -1};
    cr_assert_eq(run_into(rc, dir, true, &never, &stopped), VF_ERR_ARG);
    cr_expect(strstr(vf_last_error(), "must use the same --set settings") &&
              strstr(vf_last_error(), "training.d_steps=1") && strstr(vf_last_error(), "given: none"), "%s",
              vf_last_error());
    cr_assert_eq(vf_run_config_load_with(p, sets, 3, rc), VF_OK);
    cr_assert_eq(run_into(rc, dir, true, &never, &stopped), VF_OK, "%s", vf_last_error());
    cr_assert(!stopped);
    /* generate applies the recorded settings: the same bytes as the run's output */
    vf_pipeline_opts o = {0};
    snprintf(q, sizeof q, "%s/again.pcap", dir);
    cr_assert_eq(vf_pipeline_generate(dir, 0, q, &o, &stopped), VF_OK, "%s", vf_last_error());
    char syn[600];
    snprintf(syn, sizeof syn, "%s/synthetic.pcap", dir);
    same_bytes(syn, q);
    free(rc);
}

static void put_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* A process killed inside an atomic write leaves NAME.tmpXXXXXX next to NAME
 * (tools/abuse/kill_resume.sh): a resume removes those of the run's own
 * files and nothing else. A damaged run.state stops a resume naming it
 * instead of being rewritten; without it the run resumes and finishes. */
Test(pipeline_run, resume_removes_stale_temps_and_refuses_a_damaged_run_state, .init = setup, .fini = teardown,
     .timeout = 300) {
    vf_run_config rc;
    load_cfg(&rc);
    char a[512], p[600], q[600];
    snprintf(a, sizeof a, "%s/a", g_tmp);
    bool stopped = false;
    stopper s1 = {.chunk = 1, .iter = 1};
    cr_assert_eq(run_into(&rc, a, false, &s1, &stopped), VF_OK, "%s", vf_last_error());
    cr_assert(stopped);
    const char *ours[] = {"chunk_01.ckpt.tmpAb12Cd", "report.html.tmpXYZ789", "encoder.txt.tmp000000"};
    const char *theirs[] = {"notes.txt.tmpAb12Cd", "chunk_01.ckpt.tmp12", "mine.tmp"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", a, ours[i]);
        put_file(p, "half");
        snprintf(p, sizeof p, "%s/%s", a, theirs[i]);
        put_file(p, "keep");
    }
    /* run.state with one digit changed: refused naming it */
    snprintf(p, sizeof p, "%s/run.state", a);
    size_t n;
    char *state = slurp(p, &n);
    char *digit = strstr(state, "real_flows 0 ");
    cr_assert(digit);
    digit[13] = digit[13] == '9' ? '8' : (char)(digit[13] + 1);
    put_file(p, state);
    stopper s2 = {.chunk = -1};
    cr_assert_neq(run_into(&rc, a, true, &s2, &stopped), VF_OK, "a damaged run.state was accepted");
    cr_assert(strstr(vf_last_error(), p) && strstr(vf_last_error(), "damaged run.state"), "%s", vf_last_error());
    free(state);
    /* removed: the resume writes it again and finishes */
    cr_assert_eq(unlink(p), 0);
    cr_assert_eq(run_into(&rc, a, true, &s2, &stopped), VF_OK, "%s", vf_last_error());
    cr_assert(!stopped);
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", a, ours[i]);
        cr_expect(access(p, F_OK) != 0, "%s was left", ours[i]);
        snprintf(p, sizeof p, "%s/%s", a, theirs[i]);
        cr_expect(access(p, F_OK) == 0, "%s was removed", theirs[i]);
    }
    snprintf(q, sizeof q, "%s/run.log", a);
    char *log = slurp(q, &n);
    cr_expect(strstr(log, "removed 3 temporary files"), "%s", log);
    free(log);
    snprintf(q, sizeof q, "%s/synthetic.pcap", a);
    cr_assert(access(q, F_OK) == 0);
}

/* run.holdout = 0.5 (vkflow run --holdout 0.5): the run trains on a 5-tuple
 * split and scores against the held-out part; an interrupted and resumed run
 * keeps the same split (holdout.txt) and writes the same bytes; a resumed
 * run whose split would differ is refused. */
static size_t holdout_field(const char *text, const char *key) {
    const char *p = strstr(text, key);
    cr_assert(p, "holdout.txt lacks %s:\n%s", key, text);
    return (size_t)strtoull(p + strlen(key), NULL, 10);
}

Test(pipeline_run, holdout_splits_resumes_and_scores_held_out, .init = setup, .fini = teardown, .timeout = 300) {
    char p[512];
    snprintf(p, sizeof p, "%s/run.cfg", g_tmp);
    const char *sets[] = {"run.holdout=0.5"};
    vf_run_config rc;
    cr_assert_eq(vf_run_config_load_with(p, sets, 1, &rc), VF_OK, "%s", vf_last_error());
    cr_assert_float_eq(rc.holdout, 0.5, 1e-15);
    char a[512], b[512], q[600], r[600];
    snprintf(a, sizeof a, "%s/a", g_tmp);
    snprintf(b, sizeof b, "%s/b", g_tmp);
    bool stopped = true;
    stopper never = {.chunk = -1};
    cr_assert_eq(run_into(&rc, a, false, &never, &stopped), VF_OK, "%s", vf_last_error());
    cr_assert(!stopped);

    /* the split: every record of the 300-packet slice on one side, both sides used */
    size_t n;
    snprintf(q, sizeof q, "%s/holdout.txt", a);
    char *ho = slurp(q, &n);
    size_t n_train = holdout_field(ho, "training_records "), n_held = holdout_field(ho, "held_out_records ");
    cr_assert_eq(n_train + n_held, 300, "%zu + %zu", n_train, n_held);
    cr_assert(n_train > 50 && n_held > 50, "%zu / %zu", n_train, n_held);
    snprintf(q, sizeof q, "%s/run.log", a);
    char *log = slurp(q, &n);
    cr_assert(strstr(log, "holdout 0.5: training on"), "run.log does not name the split:\n%s", log);
    cr_assert(strstr(log, "held out: ") && strstr(log, "metrics near the floor"), "no verdict line:\n%s", log);
    cr_assert(strstr(log, "distance to closest training record"), "no DCR line:\n%s", log);
    free(log);

    /* scored against the held-out part: its records are metrics.json's real side */
    snprintf(q, sizeof q, "%s/metrics.json", a);
    char *js = slurp(q, &n);
    cr_assert(strstr(js, "\"scored\": \"held_out\""), "not scored out of sample");
    const char *real = strstr(js, "\"real\": {");
    cr_assert(real);
    char want[64];
    snprintf(want, sizeof want, "\"records\": %zu,", n_held);
    const char *rec = strstr(real, "\"records\": ");
    cr_assert(rec && !strncmp(rec, want, strlen(want)), "scored against %.30s, not the %zu held-out records", rec,
              n_held);
    cr_assert(strstr(js, "\"held_out\": true"), "DCR without the held-out side");
    free(js);
    snprintf(q, sizeof q, "%s/report.html", a);
    char *html = slurp(q, &n);
    cr_assert(strstr(html, "Scored out of sample."), "the report does not say it was scored out of sample");
    cr_assert(strstr(html, "to the training data than unseen real records are"), "no DCR sentence");
    free(html);

    /* interrupted in chunk 0, resumed: the same split, the same bytes */
    stopper s1 = {.chunk = 0, .iter = 4};
    cr_assert_eq(run_into(&rc, b, false, &s1, &stopped), VF_OK, "%s", vf_last_error());
    cr_assert(stopped);
    stopper s2 = {.chunk = -1};
    cr_assert_eq(run_into(&rc, b, true, &s2, &stopped), VF_OK, "%s", vf_last_error());
    cr_assert(!stopped);
    snprintf(r, sizeof r, "%s/holdout.txt", b);
    char qa[600];
    snprintf(qa, sizeof qa, "%s/holdout.txt", a);
    same_bytes(qa, r);
    snprintf(qa, sizeof qa, "%s/synthetic.pcap", a);
    snprintf(q, sizeof q, "%s/synthetic.pcap", b);
    same_bytes(qa, q);

    /* a resumed run whose split differs is refused, naming holdout.txt */
    FILE *f = fopen(r, "w");
    cr_assert(f);
    fputs("fraction 0.25\nseed 7\ntraining_records 1\nheld_out_records 1\n", f);
    fclose(f);
    stopper s3 = {.chunk = -1};
    cr_assert_neq(run_into(&rc, b, true, &s3, &stopped), VF_OK, "a different split was accepted");
    cr_assert(strstr(vf_last_error(), "holdout.txt") && strstr(vf_last_error(), "differs"), "%s", vf_last_error());
    free(ho);
}

Test(pipeline_run, holdout_out_of_range_is_refused, .init = setup, .fini = teardown) {
    char p[512];
    snprintf(p, sizeof p, "%s/run.cfg", g_tmp);
    const char *sets[] = {"run.holdout=0.95"};
    vf_run_config rc;
    cr_assert_neq(vf_run_config_load_with(p, sets, 1, &rc), VF_OK);
    cr_assert(strstr(vf_last_error(), "holdout") && strstr(vf_last_error(), "0.9"), "%s", vf_last_error());
}

/* data.streaming: the streamed training (the default) and the in-memory one
 * write the same encoder, checkpoints, synthetic trace and metrics; `on`
 * refuses a pipe, saying why. */
Test(pipeline_run, streaming_and_in_memory_runs_are_the_same, .init = setup, .fini = teardown, .timeout = 300) {
    vf_run_config rc;
    load_cfg(&rc);
    char a[512], b[512], p[600], q[600];
    snprintf(a, sizeof a, "%s/streamed", g_tmp);
    snprintf(b, sizeof b, "%s/in_memory", g_tmp);
    stopper s = {.chunk = -1};
    bool stopped;
    rc.data.streaming = VF_STREAM_ON;
    cr_assert_eq(run_into(&rc, a, false, &s, &stopped), VF_OK, "%s", vf_last_error());
    rc.data.streaming = VF_STREAM_OFF;
    cr_assert_eq(run_into(&rc, b, false, &s, &stopped), VF_OK, "%s", vf_last_error());
    const char *files[] = {"encoder.txt", "chunk_00.ckpt", "chunk_01.ckpt", "synthetic.pcap"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", a, files[i]);
        snprintf(q, sizeof q, "%s/%s", b, files[i]);
        same_bytes(p, q);
    }
    snprintf(p, sizeof p, "%s/run.log", a);
    size_t n;
    char *log = slurp(p, &n);
    cr_assert(strstr(log, "streaming: 2 reads of the trace"), "run.log says it streamed");
    free(log);
    /* the encoded chunks it kept on disk while training are gone */
    snprintf(p, sizeof p, "%s/chunk_00.enc", a);
    cr_assert(access(p, F_OK) != 0, "%s left behind", p);
    /* a pipe cannot be read four times */
    snprintf(p, sizeof p, "%s/fifo", g_tmp);
    cr_assert_eq(mkfifo(p, 0600), 0);
    snprintf(rc.data.path, sizeof rc.data.path, "%s", p);
    rc.data.streaming = VF_STREAM_ON;
    snprintf(q, sizeof q, "%s/piped", g_tmp);
    cr_assert_neq(run_into(&rc, q, false, &s, &stopped), VF_OK);
    cr_assert(strstr(vf_last_error(), "not a regular file"), "%s", vf_last_error());
}
