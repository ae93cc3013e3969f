/* TimeGAN (models/timegan_small.cfg, the driver `timegan`): a multi-phase,
 * multi-loss algorithm on the unchanged training layer.
 *   - the phases run the model's programs in order (embed_step, then
 *     supervise_step, then g_steps x (g_step, embed_joint_step), d_check,
 *     d_step), counted per program;
 *   - d_step runs only when d_check's loss exceeds training.d_threshold, and
 *     then on d_check's batch and noise (its loss equals the check's);
 *   - a training split in the supervised phase (and another in the joint
 *     phase), saved, loaded into a fresh trainer and finished ends in the same
 *     checkpoint bytes as a straight one on cpu;
 *   - end to end through vf_pipeline on a slice of the default capture: the
 *     embedding phase cuts the reconstruction loss by a clear factor, the
 *     supervised phase the supervised loss, and the run writes a readable
 *     synthetic trace, with chunk 1 (warm-started) in the joint phase;
 *   - sample and sample_cond give the flow contract's outputs (a one-hot
 *     attribute row, [continue, end] flags that end once, zero after). */
#include <criterion/criterion.h>

#include "testutil.h"
#include "train/pipeline.h"
#include "train/trainer.h"
#include "util.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SMALL VKFLOW_SOURCE_DIR "/models/timegan_small.cfg"
#define ENTERPRISE tu_shared_data("pcap_enterprise_pathspider_real_2012-11-23.pcap")

/* ------------------------------------------------------- synthetic flows */

/* A toy flow set in the contract's layout (engine/train/flowmodel.h): A = 4
 * one-hot attributes, F = 2 features in [0, 1], up to T = 5 records; flow i
 * has 1 + i % 5 records, feature values that rise along the flow. */
#define A 4
#define F 2
#define T 5
#define N_FLOWS 200

static void toy_fill(void *user, int64_t i, int field, float *dst) {
    (void)user;
    int len = 1 + (int)(i % T);
    if (field == 0) {
        for (int k = 0; k < A; k++) dst[k] = k == (int)(i % A) ? 1.0f : 0.0f;
        return;
    }
    memset(dst, 0, (size_t)(field == 1 ? T * F : T * 2) * sizeof(float));
    for (int t = 0; t < len; t++) {
        if (field == 1) {
            dst[t * F] = (float)(t + 1) / T;
            dst[t * F + 1] = 0.5f + 0.1f * (float)(i % 3);
        } else {
            dst[t * 2] = t + 1 < len ? 1.0f : 0.0f;     /* continue */
            dst[t * 2 + 1] = t + 1 < len ? 0.0f : 1.0f; /* end */
        }
    }
}

static const vf_data_field toy_fields[3] = {{"real_attr", A}, {"real_feat", T * F}, {"real_flag", T * 2}};

/* timegan_small at toy sizes (batch 16, hidden 8), with the given phase
 * lengths and settings after them, bound to the toy flows. */
static vf_trainer *open_toy(const vf_setting *more, int n_more, uint64_t seed) {
    static const vf_head_seg attr_segs[1] = {{0, A, 0}}, feat_segs[1] = {{0, F, 1}};
    static const vf_head_table tables[2] = {{"attr", 1, attr_segs}, {"feat", 1, feat_segs}};
    static const vf_dim dims[3] = {{"attr_dim", A}, {"feat_dim", F}, {"max_len", T}};
    vf_setting set[16] = {
        {"dims.batch", "16", "test"}, {"dims.hidden", "8", "test"}, {"dims.attr_units", "16", "test"},
        {"training.embed_steps", "3", "test"}, {"training.supervised_steps", "3", "test"},
    };
    int n = 5;
    for (int k = 0; k < n_more; k++) set[n++] = more[k];
    vf_trainer_opts o = {.model = SMALL, .be = tu_cpu(), .seed = seed};
    o.env = (vf_model_env){.dims = dims, .n_dims = 3, .heads = tables, .n_heads = 2, .settings = set, .n_settings = n};
    vf_trainer *t = NULL;
    TU_OK(vf_trainer_open(&o, &t));
    cr_assert_str_eq(vf_trainer_algorithm(t), "timegan");
    static const vf_dataset ds = {N_FLOWS, 3, toy_fields, toy_fill, NULL};
    TU_OK(vf_trainer_bind(t, &ds));
    return t;
}

static int64_t runs(vf_trainer *t, const char *prog) {
    int p = vf_trainer_program(t, prog);
    cr_assert_geq(p, 0, "no program %s", prog);
    return vf_exec_prog_runs(vf_trainer_exec(t), p);
}

/* --------------------------------------------------------------- phases */

enum { EMB, SUP, G, EJ, DC, D, N_PROG };
static const char *const prog_names[N_PROG] = {"embed_step", "supervise_step", "g_step", "embed_joint_step",
                                               "d_check", "d_step"};

/* Iterations 0-2 embedding, 3-5 supervised, 6-9 joint with g_steps = 2 and
 * d_threshold 0 (D updates whenever its loss is positive: always). Each
 * iteration's runs per program against the schedule; the phase metric. */
Test(timegan, phases_run_their_programs_in_order) {
    const vf_setting set[] = {{"training.d_threshold", "0", "test"}};
    vf_trainer *t = open_toy(set, 1, 1);
    int64_t before[N_PROG] = {0};
    for (int it = 0; it < 10; it++) {
        vf_metrics ms;
        TU_OK(vf_trainer_step(t, &ms));
        int phase = it < 3 ? 0 : it < 6 ? 1 : 2;
        int64_t want[N_PROG] = {phase == 0, phase == 1, 2 * (phase == 2), 2 * (phase == 2), phase == 2, phase == 2};
        for (int p = 0; p < N_PROG; p++) {
            int64_t now = runs(t, prog_names[p]);
            cr_expect_eq(now - before[p], want[p], "iteration %d (phase %d): %s ran %lld times, want %lld", it, phase,
                         prog_names[p], (long long)(now - before[p]), (long long)want[p]);
            before[p] = now;
        }
        cr_expect_eq(vf_metrics_get(&ms, "phase", -1), phase, "iteration %d", it);
        const char *loss = phase == 0 ? "e_loss0" : phase == 1 ? "g_loss_s" : "g_loss";
        cr_expect(isfinite(vf_metrics_get(&ms, loss, NAN)), "iteration %d reports %s", it, loss);
        if (phase == 2) {
            cr_expect_eq(vf_metrics_get(&ms, "d_updated", -1), 1);
            cr_expect(isfinite(vf_metrics_get(&ms, "e_loss", NAN)) && isfinite(vf_metrics_get(&ms, "d_loss", NAN)));
        }
    }
    cr_expect_eq(runs(t, "sample"), 0);
    cr_expect_eq(runs(t, "sample_cond"), 0);
    vf_trainer_close(t);
}

/* The program order inside a joint iteration, from the Adam step counts:
 * with embed 0 and supervised 0 every iteration is joint; one iteration
 * with g_steps = 3 runs g_step and embed_joint_step 3 times each, d_check
 * and d_step once. A d_threshold above any BCE loss skips every D update,
 * d_check still runs. */
Test(timegan, d_step_runs_only_above_the_threshold) {
    const vf_setting skip[] = {{"training.embed_steps", "0", "test"}, {"training.supervised_steps", "0", "test"},
                               {"training.g_steps", "3", "test"}, {"training.d_threshold", "1e9", "test"}};
    vf_trainer *t = open_toy(skip, 4, 2);
    for (int it = 0; it < 3; it++) {
        vf_metrics ms;
        TU_OK(vf_trainer_step(t, &ms));
        cr_expect_eq(vf_metrics_get(&ms, "phase", -1), 2);
        cr_expect_eq(vf_metrics_get(&ms, "d_updated", -1), 0);
        cr_expect(isfinite(vf_metrics_get(&ms, "d_loss_t", NAN)), "d_check reports its loss");
    }
    cr_expect_eq(runs(t, "g_step"), 9);
    cr_expect_eq(runs(t, "embed_joint_step"), 9);
    cr_expect_eq(runs(t, "d_check"), 3);
    cr_expect_eq(runs(t, "d_step"), 0);
    cr_expect_eq(runs(t, "embed_step") + runs(t, "supervise_step"), 0);
    vf_trainer_close(t);
}

/* d_step runs on the batch and the noise d_check saw: its temporal loss
 * (d_loss - d_loss_a, before its update) equals the check's d_loss_t. A
 * fresh draw of z would change it (G's output moves with z). */
Test(timegan, d_step_sees_the_checks_batch_and_noise) {
    const vf_setting set[] = {{"training.embed_steps", "0", "test"}, {"training.supervised_steps", "0", "test"},
                              {"training.d_threshold", "0", "test"}};
    vf_trainer *t = open_toy(set, 3, 3);
    for (int it = 0; it < 4; it++) {
        vf_metrics ms;
        TU_OK(vf_trainer_step(t, &ms));
        double check = vf_metrics_get(&ms, "d_loss_t", NAN);
        double step = vf_metrics_get(&ms, "d_loss", NAN) - vf_metrics_get(&ms, "d_loss_a", NAN);
        cr_expect_eq(vf_metrics_get(&ms, "d_updated", -1), 1);
        cr_expect_leq(fabs(check - step), 1e-5 * fabs(check), "iteration %d: d_check %.8g, d_step %.8g", it, check,
                      step);
    }
    vf_trainer_close(t);
}

/* ------------------------------------------------------------ checkpoints */

/* N iterations straight against K, save, a fresh trainer, load, N - K more
 * (vf_trainer_train counts from 0 again: the phase must come from the
 * driver's persisted iteration count). K = 4 splits the supervised phase
 * (iterations 3-5), K = 8 the joint one; the D threshold is the model's
 * 0.15, so the skip decisions have to come out the same too. */
#define N_IT 11
static void split_at(int k) {
    char pa[256], pb[256], pk[256];
    snprintf(pa, sizeof pa, "/tmp/vkflow_test_timegan_%ld_straight.ckpt", (long)getpid());
    snprintf(pb, sizeof pb, "/tmp/vkflow_test_timegan_%ld_split.ckpt", (long)getpid());
    snprintf(pk, sizeof pk, "/tmp/vkflow_test_timegan_%ld_k.ckpt", (long)getpid());
    vf_trainer *t = open_toy(NULL, 0, 7);
    vf_train_opts o = {.iterations = N_IT};
    TU_OK(vf_trainer_train(t, &o, NULL));
    TU_OK(vf_trainer_save(t, pa));
    int64_t straight[N_PROG];
    for (int p = 0; p < N_PROG; p++) straight[p] = runs(t, prog_names[p]);
    vf_trainer_close(t);

    t = open_toy(NULL, 0, 7);
    o.iterations = k;
    TU_OK(vf_trainer_train(t, &o, NULL));
    TU_OK(vf_trainer_save(t, pk));
    vf_trainer_close(t);
    t = open_toy(NULL, 0, 7);
    TU_OK(vf_trainer_load(t, pk));
    o.iterations = N_IT - k;
    TU_OK(vf_trainer_train(t, &o, NULL));
    TU_OK(vf_trainer_save(t, pb));
    for (int p = 0; p < N_PROG; p++)
        cr_expect_eq(runs(t, prog_names[p]), straight[p], "split at %d: %s ran %lld times, straight %lld", k,
                     prog_names[p], (long long)runs(t, prog_names[p]), (long long)straight[p]);
    vf_trainer_close(t);
    cr_expect_eq(straight[EMB], 3);
    cr_expect_eq(straight[SUP], 3);
    cr_expect_eq(straight[G], 2 * (N_IT - 6));
    tu_expect_same_checkpoint(pa, pb);
    remove(pa);
    remove(pb);
    remove(pk);
}

Test(timegan, resumes_in_the_supervised_phase_bit_identically_on_cpu) { split_at(4); }
Test(timegan, resumes_in_the_joint_phase_bit_identically_on_cpu) { split_at(8); }

Test(timegan, is_built_in_and_names_its_settings) {
    cr_expect_not_null(vf_driver_find("timegan"));
    vf_model *m = NULL;
    vf_model_env env = {.placeholder_heads = true};   /* as vkflow check loads it */
    TU_OK(vf_model_load_env(SMALL, &env, &m));
    TU_OK(vf_driver_check(m));
    vf_model_destroy(m);
    const vf_setting bad[] = {{"training.embed_stpes", "3", "--set training.embed_stpes=3"}};
    vf_trainer_opts o = {.model = SMALL, .be = tu_cpu(), .seed = 1, .env = {.settings = bad, .n_settings = 1}};
    o.env.placeholder_heads = true;
    vf_trainer *t = NULL;
    cr_expect_neq(vf_trainer_open(&o, &t), VF_OK);
    cr_expect(strstr(vf_last_error(), "embed_stpes") && strstr(vf_last_error(), "embed_steps, supervised_steps"), "%s",
              vf_last_error());
}

/* ------------------------------------------------------------ end to end */

static char g_tmp[256];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static void teardown(void) {
    if (g_tmp[0]) nftw(g_tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Metrics of chunk 0's iterations and the phases seen per chunk. */
#define E2E_IT 1000
#define E2E_EMBED 600
#define E2E_SUP 300
typedef struct e2e_log {
    double e_loss[E2E_IT + 1], g_loss_s[E2E_IT + 1];
    int phase_min[2], phase_max[2];
} e2e_log;

static void on_event(const vf_pipeline_event *e, void *user) {
    e2e_log *l = user;
    if (e->message || e->phase != VF_PHASE_TRAIN || !e->metrics || e->chunk > 1 || e->iter < 1) return;
    int ph = (int)vf_metrics_get(e->metrics, "phase", -1);
    if (ph < l->phase_min[e->chunk]) l->phase_min[e->chunk] = ph;
    if (ph > l->phase_max[e->chunk]) l->phase_max[e->chunk] = ph;
    if (e->chunk == 0 && e->iter <= E2E_IT) {
        l->e_loss[e->iter] = vf_metrics_get(e->metrics, "e_loss_t0", NAN);
        l->g_loss_s[e->iter] = vf_metrics_get(e->metrics, "g_loss_s", NAN);
    }
}

static double mean_of(const double *v, int from, int to) {
    double s = 0;
    for (int i = from; i <= to; i++) s += v[i];
    return s / (to - from + 1);
}

/* The first 3000 packets of the default (enterprise) capture, 2 chunks,
 * flows of up to 5 packets, timegan_small at batch 32: 600 embedding, 300
 * supervised and 100 joint iterations in chunk 0, chunk 1 warm-started for
 * half of that (all joint: the phase comes from the persisted count).
 *
 * Measured on cpu over run seeds 1-6: e_loss_t0 0.15-0.16 at iteration 1,
 * 6.7-8.2x lower averaged over iterations 591-600; g_loss_s 4.7-14.5x lower
 * at the supervised phase's end than at its start. Bounds: 4x and 2.5x.
 * About 8 s on 2 cores. */
Test(timegan, trains_and_generates_flows_end_to_end, .fini = teardown, .timeout = 300) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/vkflow_test_timegan_XXXXXX");
    cr_assert(mkdtemp(g_tmp));
    vf_trace tr;
    vf_read_options ro = {0};
    ro.max_records = 3000;
    cr_assert_eq(vf_trace_read(ENTERPRISE, &ro, &tr), VF_OK, "%s", vf_last_error());
    char p[700], dir[512];
    snprintf(p, sizeof p, "%s/slice.pcap", g_tmp);
    cr_assert_eq(vf_trace_write_pcap(p, &tr), VF_OK, "%s", vf_last_error());
    vf_trace_free(&tr);
    snprintf(p, sizeof p, "%s/run.cfg", g_tmp);
    FILE *f = fopen(p, "w");
    cr_assert(f);
    fprintf(f,
            "data = { path = \"slice.pcap\"; n_chunks = 2; max_flow_len = 5; };\n"
            "model = \"%s\";\n"
            "dims = { batch = 32; };\n"
            "training = { embed_steps = %d; supervised_steps = %d; };\n"
            "run = { iterations = %d; warm_start_fraction = 0.5; checkpoint_every = 100; seed = 3; backend = \"cpu\"; };\n",
            SMALL, E2E_EMBED, E2E_SUP, E2E_IT);
    fclose(f);
    vf_run_config rc;
    cr_assert_eq(vf_run_config_load(p, &rc), VF_OK, "%s", vf_last_error());
    snprintf(dir, sizeof dir, "%s/run", g_tmp);
    e2e_log *l = calloc(1, sizeof *l);
    for (int c = 0; c < 2; c++) l->phase_min[c] = 9, l->phase_max[c] = -1;
    vf_pipeline_opts o = {.run_dir = dir, .on_event = on_event, .user = l, .progress_every = 1};
    bool stopped = true;
    double t0 = vf_now_s();
    cr_assert_eq(vf_pipeline_run(&rc, &o, &stopped, NULL), VF_OK, "%s", vf_last_error());
    cr_assert(!stopped);
    double secs = vf_now_s() - t0;

    double e0 = l->e_loss[1], e1 = mean_of(l->e_loss, E2E_EMBED - 9, E2E_EMBED);
    double s0 = l->g_loss_s[E2E_EMBED + 1], s1 = mean_of(l->g_loss_s, E2E_EMBED + E2E_SUP - 9, E2E_EMBED + E2E_SUP);
    cr_log_info("end to end in %.1f s: reconstruction %.4g -> %.4g (%.1fx), supervised %.4g -> %.4g (%.1fx)", secs, e0,
                e1, e0 / e1, s0, s1, s0 / s1);
    cr_expect(isfinite(e0) && e1 < e0 / 4, "reconstruction loss %.4g at iteration 1, %.4g after the embedding phase",
              e0, e1);
    cr_expect(isfinite(s0) && s1 < s0 / 2.5, "supervised loss %.4g at its first iteration, %.4g at the phase's end", s0,
              s1);
    cr_expect(l->phase_min[0] == 0 && l->phase_max[0] == 2, "chunk 0 went through phases %d..%d", l->phase_min[0],
              l->phase_max[0]);
    cr_expect(l->phase_min[1] == 2 && l->phase_max[1] == 2,
              "the warm-started chunk continues in the joint phase (saw %d..%d)", l->phase_min[1], l->phase_max[1]);
    free(l);

    snprintf(p, sizeof p, "%s/synthetic.pcap", dir);
    vf_trace syn;
    cr_assert_eq(vf_trace_read(p, NULL, &syn), VF_OK, "%s", vf_last_error());
    cr_expect_gt(syn.n, 100, "%zu synthetic packets", syn.n);
    cr_assert_eq(syn.kind, VF_TRACE_PACKETS);
    vf_trace_free(&syn);
    size_t n;
    snprintf(p, sizeof p, "%s/metrics.json", dir);
    char *js = tu_read_file(p, &n);
    cr_assert(js && strstr(js, "pkt_len"), "metrics.json");
    free(js);
}

/* ------------------------------------------------------- flow contract */

/* Flags [continue, end] per record: a prefix of records with c + e = 1 and
 * no "end" before the last of them (the mask zeroes what follows the first
 * "end"), zeros after, features zero where the flags are; *len the flow's
 * records. */
static void expect_flow(const float *feat, const float *flag, int row, int *len) {
    int n = 0;
    bool over = false;
    for (int t = 0; t < T; t++) {
        float c = flag[(row * T + t) * 2], e = flag[(row * T + t) * 2 + 1];
        if (over) {
            cr_expect(c == 0 && e == 0 && feat[(row * T + t) * F] == 0 && feat[(row * T + t) * F + 1] == 0,
                      "row %d record %d after the end: flags %g %g", row, t, c, e);
            continue;
        }
        cr_expect_float_eq(c + e, 1.0f, 1e-5, "row %d record %d: flags %g + %g", row, t, c, e);
        n++;
        if (e > 0.5f) over = true;
    }
    *len = n;
}

Test(timegan, sample_and_sample_cond_follow_the_flow_contract) {
    vf_trainer *t = open_toy(NULL, 0, 4);
    for (int it = 0; it < 12; it++) TU_OK(vf_trainer_step(t, NULL));
    enum { B = 16 };
    float attr[B * A], feat[B * T * F], flag[B * T * 2], cond[B * A];
    int ps = vf_trainer_program(t, "sample"), pc = vf_trainer_program(t, "sample_cond");
    TU_OK(vf_trainer_sample_begin(t, 5));
    TU_OK(vf_trainer_sample(t, ps));
    TU_OK(vf_trainer_read(t, ps, "g_attr", attr, sizeof attr));
    TU_OK(vf_trainer_read(t, ps, "fake_feat", feat, sizeof feat));
    TU_OK(vf_trainer_read(t, ps, "fake_flag", flag, sizeof flag));
    int lens = 0, len;
    for (int b = 0; b < B; b++) {
        float sum = 0;
        for (int k = 0; k < A; k++) sum += attr[b * A + k];
        cr_expect_float_eq(sum, 1.0f, 1e-5, "row %d: the attribute softmax sums to %g", b, sum);
        expect_flow(feat, flag, b, &len);
        lens += len;
    }
    cr_expect_gt(lens, 0);
    for (int b = 0; b < B; b++)
        for (int k = 0; k < A; k++) cond[b * A + k] = k == b % A ? 1.0f : 0.0f;
    TU_OK(vf_trainer_write(t, "cond_attr", cond, sizeof cond));
    TU_OK(vf_trainer_sample(t, pc));
    TU_OK(vf_trainer_read(t, pc, "cond_feat", feat, sizeof feat));
    TU_OK(vf_trainer_read(t, pc, "cond_flag", flag, sizeof flag));
    vf_trainer_sample_end(t);
    for (int b = 0; b < B; b++) expect_flow(feat, flag, b, &len);
    vf_trainer_close(t);
}
