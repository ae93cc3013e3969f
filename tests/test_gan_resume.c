/* Checkpoints of the wgan_gp loop: N iterations straight give the same
 * parameters, optimizer state and RNG counters bit for bit as K iterations,
 * save, a fresh trainer, load, N - K iterations (cpu); the stop flag writes a
 * checkpoint that --resume continues; a diverging run stops naming the
 * iteration; load names what differs. */
#include "test_gan_common.h"

#include <stdio.h>
#include <unistd.h>

#define N_IT 12
#define K_IT 5

static char *slurp(const char *path, size_t *n) {
    char *s = tu_read_file(path, n);
    cr_assert(s, "cannot open %s", path);
    return s;
}

static void tmpname(char *buf, size_t len, const char *tag) {
    snprintf(buf, len, "/tmp/vkflow_test_gan_%ld_%s.ckpt", (long)getpid(), tag);
}

Test(gan_resume, k_save_load_rest_equals_straight_cpu) {
    vf_flow_dims d = tg_dims(4);
    vf_encoded data = tg_data(150, 4, 5); /* 150 flows: batches cross epoch ends */
    char pa[256], pb[256];
    tmpname(pa, sizeof pa, "straight");
    tmpname(pb, sizeof pb, "split");
    vf_flowmodel *g;
    TU_OK(vf_flowmodel_open(GAN_TINY, &d, NULL, 0, tu_cpu(), 9, &g));
    vf_train_opts o = {.iterations = N_IT};
    TU_OK(tg_train(g, &data, &o, NULL));
    TU_OK(vf_trainer_save(vf_flowmodel_trainer(g), pa));
    vf_flowmodel_close(g);

    TU_OK(vf_flowmodel_open(GAN_TINY, &d, NULL, 0, tu_cpu(), 9, &g));
    o.iterations = K_IT;
    TU_OK(tg_train(g, &data, &o, NULL));
    TU_OK(vf_trainer_save(vf_flowmodel_trainer(g), pb));
    vf_flowmodel_close(g);
    TU_OK(vf_flowmodel_open(GAN_TINY, &d, NULL, 0, tu_cpu(), 9, &g));
    TU_OK(vf_trainer_load(vf_flowmodel_trainer(g), pb));
    o.iterations = N_IT - K_IT;
    TU_OK(tg_train(g, &data, &o, NULL));
    TU_OK(vf_trainer_save(vf_flowmodel_trainer(g), pb));
    vf_flowmodel_close(g);
    tu_expect_same_checkpoint(pa, pb); /* all but the iteration of the current call */
    remove(pa);
    remove(pb);
    tg_free(&data);
}

static volatile int stop_flag;
static void stop_at_k(const vf_train_progress *p, void *user) {
    (void)user;
    if (p->iter == K_IT) stop_flag = 1;
}

Test(gan_resume, stop_flag_checkpoints_and_resume_continues_cpu) {
    vf_flow_dims d = tg_dims(4);
    vf_encoded data = tg_data(150, 4, 5);
    char pa[256], pb[256];
    tmpname(pa, sizeof pa, "straight2");
    tmpname(pb, sizeof pb, "stopped");
    vf_flowmodel *g;
    TU_OK(vf_flowmodel_open(GAN_TINY, &d, NULL, 0, tu_cpu(), 4, &g));
    vf_train_opts o = {.iterations = N_IT};
    TU_OK(tg_train(g, &data, &o, NULL));
    TU_OK(vf_trainer_save(vf_flowmodel_trainer(g), pa));
    vf_flowmodel_close(g);

    stop_flag = 0;
    TU_OK(vf_flowmodel_open(GAN_TINY, &d, NULL, 0, tu_cpu(), 4, &g));
    vf_train_opts s = {.iterations = N_IT, .checkpoint = pb, .checkpoint_every = 3, .stop = &stop_flag,
                           .progress = stop_at_k, .progress_every = 1};
    bool stopped = false;
    TU_OK(tg_train(g, &data, &s, &stopped));
    cr_expect(stopped, "the stop flag interrupted training");
    vf_flowmodel_close(g);
    TU_OK(vf_flowmodel_open(GAN_TINY, &d, NULL, 0, tu_cpu(), 4, &g));
    s.stop = NULL;
    s.resume = true;
    TU_OK(tg_train(g, &data, &s, &stopped));
    cr_expect(!stopped);
    TU_OK(vf_trainer_save(vf_flowmodel_trainer(g), pb));
    vf_flowmodel_close(g);
    tu_expect_same_checkpoint(pa, pb); /* all but the iteration of the current call */
    remove(pa);
    remove(pb);
    tg_free(&data);
}

Test(gan_resume, nan_stops_with_the_iteration_and_keeps_the_checkpoint) {
    vf_flow_dims d = tg_dims(4);
    vf_encoded data = tg_data(100, 4, 5);
    char p[256];
    tmpname(p, sizeof p, "nan");
    vf_flowmodel *g;
    TU_OK(vf_flowmodel_open(VKFLOW_SOURCE_DIR "/tests/gan/diverge.cfg", &d, NULL, 0, tu_cpu(), 1, &g));
    vf_train_opts o = {.iterations = 200, .checkpoint = p, .checkpoint_every = 1};
    vf_status s = tg_train(g, &data, &o, NULL);
    cr_assert_eq(s, VF_ERR_FORMAT, "lr 1e30 must diverge: %s", vf_last_error());
    const char *msg = vf_last_error();
    cr_expect(strstr(msg, "training diverged at iteration "), "%s", msg);
    cr_expect(strstr(msg, "nan") || strstr(msg, "inf"), "%s", msg);
    /* the last good checkpoint is there and loads */
    cr_expect(access(p, F_OK) == 0 || strstr(msg, "iteration 1:") || strstr(msg, "iteration 1 "), "%s", msg);
    if (access(p, F_OK) == 0) TU_OK(vf_trainer_load(vf_flowmodel_trainer(g), p));
    vf_flowmodel_close(g);
    remove(p);
    tg_free(&data);
}

Test(gan_resume, load_names_what_differs) {
    vf_flow_dims d = tg_dims(4);
    char p[256];
    tmpname(p, sizeof p, "dims");
    vf_flowmodel *g, *h;
    TU_OK(vf_flowmodel_open(GAN_TINY, &d, NULL, 0, tu_cpu(), 1, &g));
    TU_OK(vf_trainer_save(vf_flowmodel_trainer(g), p));
    vf_flow_dims d6 = tg_dims(6); /* max_len 6: D's input is wider */
    TU_OK(vf_flowmodel_open(GAN_TINY, &d6, NULL, 0, tu_cpu(), 1, &h));
    vf_status s = vf_trainer_load(vf_flowmodel_trainer(h), p);
    cr_expect_eq(s, VF_ERR_FORMAT);
    cr_expect(strstr(vf_last_error(), "parameter 'D/1/w' is [") && strstr(vf_last_error(), "in the model"), "%s",
              vf_last_error());
    /* a truncated file */
    size_t n;
    char *b = slurp(p, &n);
    FILE *f = fopen(p, "wb");
    fwrite(b, 1, n / 2, f);
    fclose(f);
    free(b);
    s = vf_trainer_load(vf_flowmodel_trainer(g), p);
    cr_expect_eq(s, VF_ERR_FORMAT);
    cr_expect(strstr(vf_last_error(), "truncated"), "%s", vf_last_error());
    cr_expect_eq(vf_trainer_load(vf_flowmodel_trainer(g), "/nonexistent/x.ckpt"), VF_ERR_IO);
    vf_flowmodel_close(g);
    vf_flowmodel_close(h);
    remove(p);
}

Test(gan_resume, bad_inputs_are_errors) {
    vf_flow_dims d = tg_dims(4);
    vf_flowmodel *g = NULL;
    cr_expect_neq(vf_flowmodel_open("/nonexistent.cfg", &d, NULL, 0, tu_cpu(), 1, &g), VF_OK);
    cr_expect_null(g);
    vf_flow_dims bad = d;
    bad.attr_dim = 3; /* segments cover 2 columns */
    cr_expect_eq(vf_flowmodel_open(GAN_TINY, &bad, NULL, 0, tu_cpu(), 1, &g), VF_ERR_FORMAT);
    cr_expect(strstr(vf_last_error(), "heads 'attr' cover 2 columns, the input has 3"), "%s", vf_last_error());
    TU_OK(vf_flowmodel_open(GAN_TINY, &d, NULL, 0, tu_cpu(), 1, &g));
    vf_encoded other = tg_data(10, 5, 1); /* max_len 5 */
    vf_train_opts o = {.iterations = 1};
    cr_expect_eq(tg_train(g, &other, &o, NULL), VF_ERR_ARG);
    cr_expect(strstr(vf_last_error(), "max_len 5"), "%s", vf_last_error());
    vf_encoded empty = {0};
    cr_expect_eq(tg_train(g, &empty, &o, NULL), VF_ERR_ARG);
    vf_encoded out;
    cr_expect_eq(vf_flowmodel_generate(g, -1, 1, &out), VF_ERR_ARG);
    TU_OK(vf_flowmodel_generate(g, 0, 1, &out));
    cr_expect_eq(out.n_flows, 0);
    free(out.attr); free(out.feat); free(out.gen_flag);
    vf_flowmodel_close(g);
    tg_free(&other);
}
