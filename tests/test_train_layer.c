/* The training layer (engine/train/trainer.h, engine/graph/exec.h):
 * gradient transforms, optimizers, learning-rate schedules and EMA inside
 * compiled programs against host references (cpu and vk); a model with five
 * programs (a forward-only one reading EMA weights) checkpoints and resumes
 * bit-identically; old checkpoints are refused by version; setting
 * overrides; the batch samplers. */
#include "model.h"
#include "graph/exec.h"
#include "testutil.h"
#include "util.h"
#include "train/pipeline.h"
#include "train/trainer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define FIVE VKFLOW_SOURCE_DIR "/tests/train/five.cfg"

/* ------------------------------------------------------------ exec level */

/* w [2, 3] (uniform init), loss = sum(w * c) + 0.5 sum(w * w): grad = c + w. */
typedef struct toy { vf_graph *g; int w, loss, grad; } toy;

static toy toy_make(void) {
    toy t;
    t.g = vf_graph_create();
    int64_t s[2] = {2, 3};
    t.w = vf_g_param(t.g, "w", 2, s, VF_INIT_UNIFORM, 1.0f);
    int c = vf_g_const(t.g, 0.75f, 2, s);
    int a = vf_g_sum(t.g, vf_g_mul(t.g, t.w, c), VF_REDUCE_ALL, false);
    int b = vf_g_scale(t.g, vf_g_sum(t.g, vf_g_mul(t.g, t.w, t.w), VF_REDUCE_ALL, false), 0.5f);
    t.loss = vf_g_add(t.g, a, b);
    TU_OK(vf_graph_vjp(t.g, t.loss, -1, 1, &t.w, &t.grad));
    return t;
}

/* Runs `steps` updates of w under opt (and transforms) and checks every
 * value against ref(w, t, state) on the host. */
typedef void (*ref_fn)(double *w, double *state, int64_t t, const vf_optimizer_config *o, int n_tf,
                       const vf_grad_transform *tf);

static void run_against(vf_backend *be, const vf_optimizer_config *o, int n_tf, const vf_grad_transform *tf,
                        float ema, ref_fn ref, int steps) {
    toy t = toy_make();
    vf_prog_desc d = {.name = "step", .n_out = 1, .outs = &t.loss, .n_upd = 1, .upd_param = &t.w,
                      .upd_grad = &t.grad, .upd_ema = &ema, .opt = *o, .n_transforms = n_tf, .transforms = tf};
    vf_exec_opts eo = {.fuse = true, .plan = true, .capture = true, .seed = 7};
    vf_exec *x;
    TU_OK(vf_exec_create(t.g, be, 1, &d, &eo, &x));
    float w0[6];
    TU_OK(vf_exec_read(x, -1, t.w, w0, sizeof w0));
    double w[6], state[12] = {0}, e[6];
    for (int i = 0; i < 6; i++) w[i] = e[i] = w0[i];
    for (int s = 1; s <= steps; s++) {
        TU_OK(vf_exec_run(x, 0));
        ref(w, state, s, o, n_tf, tf);
        for (int i = 0; i < 6; i++) e[i] = ema * e[i] + (1 - ema) * w[i];
        float got[6];
        TU_OK(vf_exec_read(x, -1, t.w, got, sizeof got));
        for (int i = 0; i < 6; i++)
            cr_expect(fabs(got[i] - w[i]) <= 1e-5 + 1e-4 * fabs(w[i]), "%s step %d w[%d] = %.7g, reference %.7g",
                      vf_opt_kind_name(o->kind), s, i, (double)got[i], w[i]);
        if (ema > 0) {
            vf_tensor et;
            TU_OK(vf_exec_ema(x, t.w, &et));
            TU_OK(vf_tensor_read(&et, got, sizeof got));
            for (int i = 0; i < 6; i++)
                cr_expect(fabs(got[i] - e[i]) <= 1e-5 + 1e-4 * fabs(e[i]), "step %d ema[%d] = %.7g, reference %.7g", s, i,
                          (double)got[i], e[i]);
        }
    }
    if (n_tf) {
        float gn;
        TU_OK(vf_exec_grad_norm(x, 0, &gn));
        cr_expect(gn > 0 && isfinite(gn), "the pre-clip gradient norm is reported (%g)", (double)gn);
    } else {
        float gn;
        cr_expect_eq(vf_exec_grad_norm(x, 0, &gn), VF_ERR_ARG, "no clip, no norm");
    }
    vf_exec_destroy(x);
    vf_graph_destroy(t.g);
}

/* The gradient of the toy after the transforms. */
static void toy_grad(const double *w, double *g, int n_tf, const vf_grad_transform *tf) {
    double sq = 0;
    for (int i = 0; i < 6; i++) {
        g[i] = 0.75 + w[i];
        sq += g[i] * g[i];
    }
    for (int k = 0; k < n_tf; k++) {
        double norm = sqrt(sq), scale = fmin(1.0, tf[k].max_norm / (norm + 1e-6));
        sq = 0;
        for (int i = 0; i < 6; i++) {
            g[i] *= scale;
            sq += g[i] * g[i];
        }
    }
}

static void ref_sgd(double *w, double *buf, int64_t t, const vf_optimizer_config *o, int n_tf,
                    const vf_grad_transform *tf) {
    double g[6], lr = vf_optimizer_lr(o, t);
    toy_grad(w, g, n_tf, tf);
    for (int i = 0; i < 6; i++) {
        buf[i] = o->momentum * buf[i] + g[i] + o->weight_decay * w[i];
        w[i] -= lr * buf[i];
    }
}

static void ref_adam(double *w, double *mv, int64_t t, const vf_optimizer_config *o, int n_tf,
                     const vf_grad_transform *tf) {
    double g[6], lr = vf_optimizer_lr(o, t);
    toy_grad(w, g, n_tf, tf);
    double wd = o->kind == VF_OPT_ADAMW ? o->weight_decay : 0;
    for (int i = 0; i < 6; i++) {
        double *m = &mv[i], *v = &mv[6 + i];
        *m = o->beta1 * *m + (1 - o->beta1) * g[i];
        *v = o->beta2 * *v + (1 - o->beta2) * g[i] * g[i];
        double mh = *m / (1 - pow(o->beta1, (double)t)), vh = *v / (1 - pow(o->beta2, (double)t));
        w[i] -= lr * (mh / (sqrt(vh) + o->eps) + wd * w[i]);
    }
}

static const vf_optimizer_config SGD = {.kind = VF_OPT_SGD, .lr = 0.1f, .momentum = 0.9f};
static const vf_optimizer_config SGD_WD = {.kind = VF_OPT_SGD, .lr = 0.05f, .momentum = 0.5f, .weight_decay = 0.1f};
static const vf_optimizer_config ADAM = {.kind = VF_OPT_ADAM, .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
static const vf_optimizer_config ADAMW_COS = {.kind = VF_OPT_ADAMW, .lr = 0.02f, .beta1 = 0.5f, .beta2 = 0.9f,
                                              .eps = 1e-8f, .weight_decay = 0.1f, .schedule = VF_LR_COSINE,
                                              .warmup_steps = 2, .decay_steps = 5, .min_lr = 0.001f};
static const vf_grad_transform CLIP[2] = {{VF_GT_CLIP_GLOBAL_NORM, 0.3f}, {VF_GT_CLIP_GLOBAL_NORM, 0.1f}};

static void optimizers_on(vf_backend *be) {
    run_against(be, &SGD, 0, NULL, 0, ref_sgd, 6);
    run_against(be, &SGD_WD, 1, CLIP, 0, ref_sgd, 6);
    run_against(be, &ADAM, 0, NULL, 0.8f, ref_adam, 6);
    run_against(be, &ADAMW_COS, 2, CLIP, 0.5f, ref_adam, 9);
}

Test(train_layer, optimizers_transforms_schedules_and_ema_match_the_host_reference_cpu) { optimizers_on(tu_cpu()); }
Test(train_layer, optimizers_transforms_schedules_and_ema_match_the_host_reference_vk) {
    vf_backend *be = tu_vk();
    if (!be) cr_skip_test("no Vulkan device");
    optimizers_on(be);
    tu_check_validation();
}

/* share_optimizer: A, B (sharing A's Adam), A run as three runs of one
 * program. The programs compute the same gradient, so the parameters must
 * match bit for bit, and the step count is the runs of both. */
Test(train_layer, a_shared_optimizer_counts_every_run_of_its_programs) {
    float w3[2][6];
    for (int k = 0; k < 2; k++) {
        toy t = toy_make();
        vf_prog_desc d[2] = {
            {.name = "a", .n_out = 1, .outs = &t.loss, .n_upd = 1, .upd_param = &t.w, .upd_grad = &t.grad, .opt = ADAM},
            {.name = "b", .n_out = 1, .outs = &t.loss, .n_upd = 1, .upd_param = &t.w, .upd_grad = &t.grad, .opt = SGD,
             .share_optimizer = "a"}};
        vf_exec_opts eo = {.fuse = true, .plan = true, .capture = true, .seed = 7};
        vf_exec *x;
        TU_OK(vf_exec_create(t.g, tu_cpu(), k ? 2 : 1, d, &eo, &x));
        int order[3] = {0, k, 0};
        for (int r = 0; r < 3; r++) TU_OK(vf_exec_run(x, order[r]));
        TU_OK(vf_exec_read(x, -1, t.w, w3[k], sizeof w3[k]));
        vf_exec_destroy(x);
        vf_graph_destroy(t.g);
    }
    cr_expect(memcmp(w3[0], w3[1], sizeof w3[0]) == 0, "three runs of one Adam differ from A, B (shared), A");
    /* a program cannot share with a later one or over other parameters */
    toy t = toy_make();
    vf_prog_desc bad[2] = {
        {.name = "a", .n_out = 1, .outs = &t.loss, .n_upd = 1, .upd_param = &t.w, .upd_grad = &t.grad, .opt = ADAM,
         .share_optimizer = "b"},
        {.name = "b", .n_out = 1, .outs = &t.loss, .n_upd = 1, .upd_param = &t.w, .upd_grad = &t.grad, .opt = ADAM}};
    vf_exec_opts eo = {.fuse = true, .plan = true, .capture = true, .seed = 7};
    vf_exec *x = NULL;
    cr_expect_eq(vf_exec_create(t.g, tu_cpu(), 2, bad, &eo, &x), VF_ERR_ARG);
    cr_expect(strstr(vf_last_error(), "not an earlier program"), "%s", vf_last_error());
    vf_graph_destroy(t.g);
}

Test(train_layer, learning_rate_schedules) {
    vf_optimizer_config o = {.lr = 1.0f, .warmup_steps = 4, .decay_steps = 10, .min_lr = 0.1f};
    cr_expect_float_eq(vf_optimizer_lr(&o, 1), 0.25f, 1e-7, "warm-up is linear from lr/warmup");
    cr_expect_float_eq(vf_optimizer_lr(&o, 4), 1.0f, 1e-7);
    cr_expect_float_eq(vf_optimizer_lr(&o, 100), 1.0f, 1e-7, "constant after the warm-up");
    o.schedule = VF_LR_LINEAR;
    cr_expect_float_eq(vf_optimizer_lr(&o, 9), 0.55f, 1e-6, "halfway from 1 to 0.1");
    cr_expect_float_eq(vf_optimizer_lr(&o, 14), 0.1f, 1e-6);
    cr_expect_float_eq(vf_optimizer_lr(&o, 1000), 0.1f, 1e-6, "min_lr after the decay");
    o.schedule = VF_LR_COSINE;
    cr_expect_float_eq(vf_optimizer_lr(&o, 9), 0.55f, 1e-6, "a cosine is halfway at half the decay");
    cr_expect_float_eq(vf_optimizer_lr(&o, 14), 0.1f, 1e-6);
    cr_expect_float_eq(vf_optimizer_lr(&o, 6), 0.1f + 0.9f * 0.5f * (1 + cosf((float)M_PI * 0.2f)), 1e-6);
}

/* A gradient node the program does not own (here: an output the caller
 * reads) is copied before the transforms scale it: the output keeps the
 * raw gradient. */
Test(train_layer, transforms_do_not_change_a_gradient_the_caller_reads) {
    toy t = toy_make();
    int outs[2] = {t.loss, t.grad};
    vf_prog_desc d = {.name = "step", .n_out = 2, .outs = outs, .n_upd = 1, .upd_param = &t.w, .upd_grad = &t.grad,
                      .opt = SGD, .n_transforms = 1, .transforms = CLIP};
    vf_exec_opts eo = {.fuse = true, .plan = true, .capture = true, .seed = 7};
    vf_exec *x;
    TU_OK(vf_exec_create(t.g, tu_cpu(), 1, &d, &eo, &x));
    float w[6], g[6];
    TU_OK(vf_exec_read(x, -1, t.w, w, sizeof w));
    TU_OK(vf_exec_run(x, 0));
    TU_OK(vf_exec_read(x, 0, t.grad, g, sizeof g));
    for (int i = 0; i < 6; i++) cr_expect_float_eq(g[i], 0.75f + w[i], 1e-6, "raw gradient [%d]", i);
    vf_exec_destroy(x);
    vf_graph_destroy(t.g);
}

Test(train_layer, bad_program_descriptions_are_errors) {
    toy t = toy_make();
    vf_exec_opts eo = {.fuse = true, .plan = true, .capture = true, .seed = 7};
    vf_exec *x = NULL;
    vf_grad_transform bad = {VF_GT_CLIP_GLOBAL_NORM, 0};
    vf_prog_desc d = {.name = "p", .n_out = 1, .outs = &t.loss, .n_upd = 1, .upd_param = &t.w, .upd_grad = &t.grad,
                      .opt = SGD, .n_transforms = 1, .transforms = &bad};
    cr_expect_eq(vf_exec_create(t.g, tu_cpu(), 1, &d, &eo, &x), VF_ERR_ARG);
    cr_expect(strstr(vf_last_error(), "max_norm > 0"), "%s", vf_last_error());
    float e = 1.5f;
    d.n_transforms = 0;
    d.upd_ema = &e;
    cr_expect_eq(vf_exec_create(t.g, tu_cpu(), 1, &d, &eo, &x), VF_ERR_ARG);
    cr_expect(strstr(vf_last_error(), "EMA decay"), "%s", vf_last_error());
    d.upd_ema = NULL;
    d.opt.lr = 0;
    cr_expect_eq(vf_exec_create(t.g, tu_cpu(), 1, &d, &eo, &x), VF_ERR_ARG);
    vf_prog_desc f = {.name = "fwd", .n_out = 1, .outs = &t.loss, .n_transforms = 1, .transforms = CLIP};
    cr_expect_eq(vf_exec_create(t.g, tu_cpu(), 1, &f, &eo, &x), VF_ERR_ARG);
    cr_expect(strstr(vf_last_error(), "need a program that updates"), "%s", vf_last_error());
    cr_expect_null(x);
    vf_graph_destroy(t.g);
}

/* ------------------------------------------------------------ trainer level */

/* 2-D points: two clusters. */
typedef struct points { int64_t n; float *xy; } points;
static void fill_point(void *user, int64_t i, int k, float *dst) {
    (void)k;
    const points *p = user;
    dst[0] = p->xy[2 * i];
    dst[1] = p->xy[2 * i + 1];
}
static const vf_data_field POINT_FIELD[1] = {{"real", 2}};

static points make_points(int64_t n) {
    points p = {n, malloc((size_t)n * 2 * sizeof(float))};
    cr_assert(p.xy);
    tu_rng r = tu_rng_make(11);
    for (int64_t i = 0; i < n; i++) {
        float c = (i % 2) ? 1.0f : -1.0f;
        p.xy[2 * i] = c + tu_uniform(&r, -0.05f, 0.05f);
        p.xy[2 * i + 1] = -c + tu_uniform(&r, -0.05f, 0.05f);
    }
    return p;
}

static vf_trainer *open_five(vf_backend *be, const vf_dataset *ds) {
    vf_trainer_opts o = {.model = FIVE, .be = be, .seed = 5};
    vf_trainer *t = NULL;
    TU_OK(vf_trainer_open(&o, &t));
    TU_OK(vf_trainer_bind(t, ds));
    return t;
}

static char *slurp(const char *path, size_t *n) {
    char *s = tu_read_file(path, n);
    cr_assert(s, "cannot open %s", path);
    return s;
}

Test(train_layer, five_programs_with_ema_checkpoint_and_resume_bit_identically) {
    points pts = make_points(37); /* batches of 8 cross epoch ends */
    vf_dataset ds = {.n = pts.n, .n_fields = 1, .fields = POINT_FIELD, .fill = fill_point, .user = &pts};
    char pa[256], pb[256];
    snprintf(pa, sizeof pa, "/tmp/vkflow_test_train_%ld_a.ckpt", (long)getpid());
    snprintf(pb, sizeof pb, "/tmp/vkflow_test_train_%ld_b.ckpt", (long)getpid());
    vf_trainer *t = open_five(tu_cpu(), &ds);
    cr_assert_eq(vf_exec_n_programs(vf_trainer_exec(t)), 5);
    vf_train_opts o = {.iterations = 12};
    TU_OK(vf_trainer_train(t, &o, NULL));
    TU_OK(vf_trainer_save(t, pa));
    /* sampling from params and from EMA weights give different points; the
     * EMA sample does not move training's RNG counter */
    int64_t runs = vf_exec_rng_runs(vf_trainer_exec(t));
    float a[16], b[16];
    int ps = vf_trainer_program(t, "sample"), pe = vf_trainer_program(t, "sample_ema");
    TU_OK(vf_trainer_sample_begin(t, 3));
    TU_OK(vf_trainer_sample(t, ps));
    TU_OK(vf_trainer_read(t, ps, "fake", a, sizeof a));
    vf_trainer_sample_end(t);
    TU_OK(vf_trainer_sample_begin(t, 3)); /* the same noise */
    TU_OK(vf_trainer_sample(t, pe));
    TU_OK(vf_trainer_read(t, pe, "fake", b, sizeof b));
    vf_trainer_sample_end(t);
    cr_expect(memcmp(a, b, sizeof a) != 0, "EMA weights give other samples than the parameters");
    cr_expect_eq(vf_exec_rng_runs(vf_trainer_exec(t)), runs);
    vf_trainer_close(t);

    t = open_five(tu_cpu(), &ds);
    o.iterations = 5;
    TU_OK(vf_trainer_train(t, &o, NULL));
    TU_OK(vf_trainer_save(t, pb));
    vf_trainer_close(t);
    t = open_five(tu_cpu(), &ds);
    o.iterations = 12;
    o.resume = true;
    o.checkpoint = pb;
    TU_OK(vf_trainer_train(t, &o, NULL));
    cr_expect_eq(vf_trainer_iteration(t), 12);
    TU_OK(vf_trainer_save(t, pb));
    vf_trainer_close(t);
    tu_expect_same_checkpoint(pa, pb);
    remove(pa);
    remove(pb);
    free(pts.xy);
}

Test(train_layer, metrics_name_every_scalar_output_and_the_clip_norm) {
    points pts = make_points(16);
    vf_dataset ds = {.n = pts.n, .n_fields = 1, .fields = POINT_FIELD, .fill = fill_point, .user = &pts};
    vf_trainer *t = open_five(tu_cpu(), &ds);
    vf_metrics ms;
    TU_OK(vf_trainer_step(t, &ms));
    cr_expect(isfinite(vf_metrics_get(&ms, "d_loss", NAN)), "d_loss");
    cr_expect(isfinite(vf_metrics_get(&ms, "g_loss", NAN)), "g_loss");
    cr_expect(vf_metrics_get(&ms, "d_step.grad_norm", -1) > 0, "d_step clips, so its norm is a metric");
    char buf[256];
    cr_expect(strstr(vf_metrics_format(&ms, buf, sizeof buf), "d_loss "), "%s", buf);
    vf_trainer_close(t);
    free(pts.xy);
}

Test(train_layer, an_old_checkpoint_is_refused_naming_its_version) {
    char p[256];
    snprintf(p, sizeof p, "/tmp/vkflow_test_train_%ld_v1.ckpt", (long)getpid());
    FILE *f = fopen(p, "wb");
    cr_assert(f);
    uint64_t v = 1;
    fwrite("VFGANCK\0", 1, 8, f);
    fwrite(&v, 8, 1, f);
    fclose(f);
    points pts = make_points(16);
    vf_dataset ds = {.n = pts.n, .n_fields = 1, .fields = POINT_FIELD, .fill = fill_point, .user = &pts};
    vf_trainer *t = open_five(tu_cpu(), &ds);
    cr_expect_eq(vf_trainer_load(t, p), VF_ERR_FORMAT);
    cr_expect(strstr(vf_last_error(), "checkpoint format version 1") && strstr(vf_last_error(), "reads version 2"), "%s",
              vf_last_error());
    f = fopen(p, "wb");
    fwrite("VFCKPT\0\0", 1, 8, f);
    v = 7;
    fwrite(&v, 8, 1, f);
    fclose(f);
    cr_expect_eq(vf_trainer_load(t, p), VF_ERR_FORMAT);
    cr_expect(strstr(vf_last_error(), "version 7"), "%s", vf_last_error());
    vf_trainer_close(t);
    remove(p);
    free(pts.xy);
}

/* fuzz_ckpt: a checkpoint with a valid checksum and a negative program run
 * count got past every check and failed in the executor with a message that
 * did not name the file ("exec: no program 3 (or runs < 0)"). */
Test(train_layer, fuzz_negative_run_count_is_refused_naming_the_file) {
    points pts = make_points(16);
    vf_dataset ds = {.n = pts.n, .n_fields = 1, .fields = POINT_FIELD, .fill = fill_point, .user = &pts};
    vf_trainer *t = open_five(tu_cpu(), &ds);
    char p[256];
    snprintf(p, sizeof p, "/tmp/vkflow_test_train_%ld_runs.ckpt", (long)getpid());
    TU_OK(vf_trainer_save(t, p));
    size_t n;
    char *b = slurp(p, &n);
    /* the programs section: u64 name length, the name, u64 runs */
    const char *name = vf_exec_program_name(vf_trainer_exec(t), 0);
    uint64_t len = strlen(name);
    size_t at = 0;
    for (size_t i = 0; i + 8 + len + 8 <= n - 8; i++)
        if (!memcmp(b + i, &len, 8) && !memcmp(b + i + 8, name, len)) at = i + 8 + len;
    cr_assert(at, "program %s not found in the checkpoint", name);
    uint64_t minus_one = UINT64_MAX, sum;
    memcpy(b + at, &minus_one, 8);
    sum = vf_fnv1a64(b, n - 8);
    memcpy(b + n - 8, &sum, 8);
    FILE *f = fopen(p, "wb");
    cr_assert(f && fwrite(b, 1, n, f) == n);
    fclose(f);
    cr_expect_eq(vf_trainer_load(t, p), VF_ERR_FORMAT);
    cr_expect(strstr(vf_last_error(), p) && strstr(vf_last_error(), "negative run count"), "%s", vf_last_error());
    free(b);
    vf_trainer_close(t);
    remove(p);
    free(pts.xy);
}

Test(train_layer, a_damaged_checkpoint_is_refused_naming_the_file) {
    points pts = make_points(16);
    vf_dataset ds = {.n = pts.n, .n_fields = 1, .fields = POINT_FIELD, .fill = fill_point, .user = &pts};
    vf_trainer *t = open_five(tu_cpu(), &ds);
    char p[256];
    snprintf(p, sizeof p, "/tmp/vkflow_test_train_%ld_flip.ckpt", (long)getpid());
    TU_OK(vf_trainer_save(t, p));
    size_t n;
    char *b = slurp(p, &n);
    for (size_t at = 40; at < n; at += n / 7) { /* a flipped bit anywhere after the version */
        b[at] ^= 4;
        FILE *f = fopen(p, "wb");
        cr_assert(f && fwrite(b, 1, n, f) == n);
        fclose(f);
        cr_expect_eq(vf_trainer_load(t, p), VF_ERR_FORMAT, "bit flipped at byte %zu", at);
        cr_expect(strstr(vf_last_error(), p) && strstr(vf_last_error(), "damaged checkpoint"), "%s", vf_last_error());
        b[at] ^= 4;
    }
    FILE *f = fopen(p, "wb");
    cr_assert(f && fwrite(b, 1, n - 100, f) == n - 100);
    fclose(f);
    cr_expect_eq(vf_trainer_load(t, p), VF_ERR_FORMAT, "truncated");
    free(b);
    vf_trainer_close(t);
    remove(p);
    free(pts.xy);
}

/* ------------------------------------------------------------------ settings */

static vf_model *load_with(const char *path, const vf_setting *s, int n) {
    vf_model_env env = {.settings = s, .n_settings = n};
    vf_model *m = NULL;
    vf_status st = vf_model_load_env(path, &env, &m);
    return st ? NULL : m;
}

Test(train_layer, overrides_change_settings_in_precedence_order) {
    const vf_setting s[] = {{"optimizer.lr", "2e-4", "--set optimizer.lr=2e-4"},
                            {"programs.g_step.optimizer.momentum", "0.5", "--set a"},
                            {"dims.batch", "16", "--set dims.batch=16"},
                            {"ema.G", "0.99", "--set ema.G=0.99"},
                            {"training.d_steps", "3", "--set training.d_steps=3"},
                            {"optimizer.lr", "3e-4", "--set optimizer.lr=3e-4"}};
    vf_model *m = load_with(FIVE, s, 6);
    cr_assert(m, "%s", vf_last_error());
    int n;
    const vf_prog_desc *p = vf_model_programs(m, &n);
    cr_expect_float_eq(p[0].opt.lr, 3e-4f, 1e-10, "the last --set wins");
    cr_expect_float_eq(p[1].opt.momentum, 0.5f, 1e-7);
    cr_expect_float_eq(p[1].opt.lr, 0.01f, 1e-7, "a program's own optimizer keys win over the model's");
    cr_expect_eq(vf_gnode_rows(&vf_model_graph(m)->nodes[vf_model_node(m, "real")]), 16);
    for (int u = 0; u < p[1].n_upd; u++) cr_expect_float_eq(p[1].upd_ema[u], 0.99f, 1e-7);
    TU_OK(vf_driver_check(m));
    vf_model_destroy(m);
}

Test(train_layer, an_unknown_or_unread_key_is_an_error_naming_where_it_came_from) {
    const vf_setting bad1[] = {{"optimiser.lr", "1", "--set optimiser.lr=1"}};
    cr_expect_null(load_with(FIVE, bad1, 1));
    cr_expect(strstr(vf_last_error(), "--set optimiser.lr=1: 'optimiser.lr' is not a model setting") &&
              strstr(vf_last_error(), "did you mean 'optimizer'"), "%s", vf_last_error());
    const vf_setting bad2[] = {{"optimizer.lrr", "1", "--set optimizer.lrr=1"}};
    cr_expect_null(load_with(FIVE, bad2, 1));
    cr_expect(strstr(vf_last_error(), "--set optimizer.lrr=1: unknown key 'lrr' in the optimizer (did you mean 'lr'?)"),
              "%s", vf_last_error());
    const vf_setting bad3[] = {{"programs.x_step.optimizer.lr", "1", "--set p"}};
    cr_expect_null(load_with(FIVE, bad3, 1));
    cr_expect(strstr(vf_last_error(), "--set p: cannot set 'programs.x_step.optimizer.lr': no list entry"), "%s",
              vf_last_error());
    const vf_setting bad4[] = {{"networks.G.input", "3", "--set n"}};
    cr_expect_null(load_with(FIVE, bad4, 1));
    /* a training key the driver does not read: vkflow check fails naming it */
    const vf_setting unread[] = {{"training.lambda", "10", "--set training.lambda=10"}};
    vf_model *m = load_with(FIVE, unread, 1);
    cr_assert(m, "%s", vf_last_error());
    cr_expect_eq(vf_driver_check(m), VF_ERR_FORMAT);
    cr_expect(strstr(vf_last_error(), "--set training.lambda=10: training.lambda: nothing reads this key") &&
              strstr(vf_last_error(), "d_steps, g_steps"), "%s", vf_last_error());
    vf_model_destroy(m);
}

Test(train_layer, an_unread_key_in_a_model_file_names_its_line) {
    char p[256];
    snprintf(p, sizeof p, "/tmp/vkflow_test_train_%ld.cfg", (long)getpid());
    FILE *f = fopen(p, "w");
    cr_assert(f);
    fprintf(f, "@include \"%s\"\n", FIVE);
    fclose(f);
    /* libconfig has no way to add to an included group: write a variant */
    size_t n;
    char *text = slurp(FIVE, &n);
    char *tr = strstr(text, "training = {");
    cr_assert(tr);
    f = fopen(p, "w");
    fwrite(text, 1, (size_t)(tr - text), f);
    fprintf(f, "training = { algorithm = \"wgan_gp\";\n  d_stepz = 2; };\n");
    fclose(f);
    free(text);
    vf_model *m = load_with(p, NULL, 0);
    cr_assert(m, "%s", vf_last_error());
    cr_expect_eq(vf_driver_check(m), VF_ERR_FORMAT);
    char want[400];
    int line = 1;
    text = slurp(p, &n);
    for (char *q = text; *q && strncmp(q, "  d_stepz", 9); q++) line += *q == '\n';
    free(text);
    snprintf(want, sizeof want, "%s:%d: training.d_stepz: nothing reads this key", p, line);
    cr_expect(strstr(vf_last_error(), want), "want '%s' in: %s", want, vf_last_error());
    vf_model_destroy(m);
    remove(p);
}

Test(train_layer, run_configuration_groups_and_set_arguments_become_settings) {
    char p[256];
    snprintf(p, sizeof p, "/tmp/vkflow_test_train_%ld_run.cfg", (long)getpid());
    FILE *f = fopen(p, "w");
    cr_assert(f);
    fprintf(f, "data = { path = \"x.pcap\"; n_chunks = 1; };\nmodel = \"%s\";\nrun = { seed = 3; };\n"
               "optimizer = { lr = 5e-4; };\nprograms = ( { name = \"g_step\"; optimizer = { lr = 0.02; }; } );\n",
            FIVE);
    fclose(f);
    const char *sets[] = {"run.iterations=40", "dims.batch = 4", "optimizer.lr=6e-4"};
    vf_run_config *rc = malloc(sizeof *rc);
    TU_OK(vf_run_config_load_with(p, sets, 3, rc));
    cr_expect_eq(rc->iterations, 40);
    cr_expect(rc->iterations_set);
    cr_expect_eq(rc->n_settings, 4);
    cr_expect_eq(rc->n_cli, 2);
    cr_expect_str_eq(rc->settings[0].key, "optimizer.lr");
    cr_expect(strstr(rc->settings[0].origin, ":4"), "origin %s names the line", rc->settings[0].origin);
    cr_expect_str_eq(rc->settings[1].key, "programs.g_step.optimizer.lr");
    cr_expect_str_eq(rc->settings[3].origin, "--set optimizer.lr=6e-4");
    TU_OK(vf_run_config_resolve(rc));
    cr_expect_eq(rc->seed, 3, "the run's seed wins over training.seed");
    vf_model_env env = {.settings = rc->settings, .n_settings = rc->n_settings};
    vf_model *m = NULL;
    TU_OK(vf_model_load_env(FIVE, &env, &m));
    int n;
    const vf_prog_desc *pr = vf_model_programs(m, &n);
    cr_expect_float_eq(pr[0].opt.lr, 6e-4f, 1e-10);
    cr_expect_float_eq(pr[1].opt.lr, 0.02f, 1e-9);
    vf_model_destroy(m);
    /* without run.iterations the model's training.steps is used; run.* keys are checked */
    const char *sets2[] = {"run.iteratons=3"};
    cr_expect_neq(vf_run_config_load_with(p, sets2, 1, rc), VF_OK);
    cr_expect(strstr(vf_last_error(), "--set run.iteratons=3: unknown key 'iteratons' in run"), "%s", vf_last_error());
    TU_OK(vf_run_config_load_with(p, NULL, 0, rc));
    cr_expect(!rc->iterations_set);
    TU_OK(vf_run_config_resolve(rc));
    cr_expect_eq(rc->iterations, 12, "training.steps of the model");
    const char *sets3[] = {"training.bogus=1"};
    TU_OK(vf_run_config_load_with(p, sets3, 1, rc));
    cr_expect_eq(vf_run_config_resolve(rc), VF_ERR_FORMAT, "checked before any data is read");
    cr_expect(strstr(vf_last_error(), "--set training.bogus=1: training.bogus: nothing reads this key"), "%s",
              vf_last_error());
    const char *sets4[] = {"data.path=y.pcap"};
    cr_expect_eq(vf_run_config_load_with(p, sets4, 1, rc), VF_ERR_ARG);
    free(rc);
    remove(p);
}

/* ------------------------------------------------------------------ samplers */

static void count_fill(void *user, int64_t i, int k, float *dst) {
    (void)k;
    int *seen = user;
    seen[i]++;
    dst[0] = (float)i;
    dst[1] = 0;
}

Test(train_layer, shuffled_epochs_visit_every_example_once) {
    enum { N = 24 }; /* 3 batches of 8 per epoch */
    int seen[N] = {0};
    vf_dataset ds = {.n = N, .n_fields = 1, .fields = POINT_FIELD, .fill = count_fill, .user = seen};
    vf_trainer *t = open_five(tu_cpu(), &ds);
    for (int b = 0; b < 6; b++) TU_OK(vf_trainer_next_batch(t));
    for (int i = 0; i < N; i++) cr_expect_eq(seen[i], 2, "example %d seen %d times in 2 epochs", i, seen[i]);
    vf_trainer_close(t);
}

/* Poisson batches: each of n examples joins with probability q; the batch
 * size is Binomial(n, q), the mask marks the real rows. */
Test(train_layer, poisson_batches_have_the_binomial_size_and_a_mask) {
    char p[256];
    snprintf(p, sizeof p, "/tmp/vkflow_test_train_%ld_mask.cfg", (long)getpid());
    size_t n;
    char *text = slurp(FIVE, &n);
    FILE *f = fopen(p, "w");
    cr_assert(f);
    char *in = strstr(text, "inputs = (");
    fwrite(text, 1, (size_t)(in - text), f);
    fprintf(f, "inputs = ( { name = \"real\"; shape = [\"batch\", \"2\"]; }, { name = \"batch_mask\"; shape = [\"batch\"]; } );\n");
    fputs(strchr(in, '\n') + 1, f);
    fclose(f);
    free(text);
    enum { N = 400 };
    static int seen[N];
    memset(seen, 0, sizeof seen);
    vf_dataset ds = {.n = N, .n_fields = 1, .fields = POINT_FIELD, .fill = count_fill, .user = seen};
    const vf_setting big[] = {{"dims.batch", "24", "test"}};
    vf_trainer_opts o = {.model = p, .be = tu_cpu(), .seed = 9, .batching = VF_BATCH_POISSON, .poisson_rate = 0.02};
    o.env.settings = big;
    o.env.n_settings = 1;
    vf_trainer *t = NULL;
    TU_OK(vf_trainer_open(&o, &t));
    TU_OK(vf_trainer_bind(t, &ds));
    double sum = 0, sum2 = 0;
    enum { STEPS = 2000 };
    for (int s = 0; s < STEPS; s++) {
        TU_OK(vf_trainer_next_batch(t));
        float mask[24], real[48];
        TU_OK(vf_trainer_read(t, -1, "batch_mask", mask, sizeof mask));
        TU_OK(vf_trainer_read(t, -1, "real", real, sizeof real));
        int k = 0;
        while (k < 24 && mask[k] == 1.0f) k++;
        for (int r = k; r < 24; r++) cr_assert(mask[r] == 0.0f && real[2 * r] == 0.0f, "rows after B_t are padding");
        for (int r = 1; r < k; r++) cr_assert_gt(real[2 * r], real[2 * r - 1 - 1], "indices ascend within a batch");
        sum += k;
        sum2 += (double)k * k;
    }
    double mean = sum / STEPS, var = sum2 / STEPS - mean * mean;
    /* Binomial(400, 0.02): mean 8, variance 7.84; 2000 draws: se(mean) 0.063 */
    cr_expect(fabs(mean - 8.0) < 0.3, "mean batch %g, want 8", mean);
    cr_expect(fabs(var - 7.84) < 1.0, "batch variance %g, want 7.84", var);
    int never = 0;
    for (int i = 0; i < N; i++) never += seen[i] == 0;
    cr_expect_eq(never, 0, "every example joins some batch (each has 40 expected visits)");
    vf_trainer_close(t);
    /* a rate whose batches overflow the model's batch is an error with advice */
    o.poisson_rate = 0.5;
    TU_OK(vf_trainer_open(&o, &t));
    TU_OK(vf_trainer_bind(t, &ds));
    cr_expect_eq(vf_trainer_next_batch(t), VF_ERR_ARG);
    cr_expect(strstr(vf_last_error(), "raise dims.batch"), "%s", vf_last_error());
    vf_trainer_close(t);
    /* Poisson needs the mask input */
    vf_trainer_opts o2 = {.model = FIVE, .be = tu_cpu(), .seed = 9, .batching = VF_BATCH_POISSON, .poisson_rate = 0.1};
    cr_expect_eq(vf_trainer_open(&o2, &t), VF_ERR_FORMAT);
    cr_expect(strstr(vf_last_error(), "batch_mask"), "%s", vf_last_error());
    remove(p);
}
