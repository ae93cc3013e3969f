/* The wgan_gp loop on a tiny DoppelGANger (tests/gan/tiny.cfg) and synthetic
 * data (test_gan_common.h): it learns the class frequency and the per-class
 * feature mean; a diverging run stops with a message naming the iteration;
 * bad inputs are errors. */
#include "test_gan_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t g_iters;
static void count(const vf_train_progress *p, void *user) {
    (void)user;
    g_iters = p->iter;
}

Test(gan_train, learns_class_frequency_and_feature_mean_cpu) {
    vf_flow_dims d = tg_dims(4);
    vf_encoded data = tg_data(2000, 4, 7);
    vf_flowmodel *g = NULL;
    TU_OK(vf_flowmodel_open(GAN_TINY, &d, NULL, 0, tu_cpu(), 3, &g));
    vf_train_opts o = {.iterations = 1500, .progress = count, .progress_every = 100};
    bool stopped = true;
    TU_OK(tg_train(g, &data, &o, &stopped));
    cr_expect(!stopped);
    cr_expect_eq(g_iters, 1500);
    vf_encoded gen;
    TU_OK(vf_flowmodel_generate(g, 4000, 11, &gen));
    cr_assert_eq(gen.n_flows, 4000);
    cr_assert_eq(gen.max_len, 4);
    int n1 = 0;
    double sum[2] = {0, 0};
    int cnt[2] = {0, 0};
    for (int i = 0; i < gen.n_flows; i++) {
        int c = gen.attr[i * 2 + 1] > gen.attr[i * 2];
        n1 += c;
        cr_expect(gen.gen_flag[i * 4] == 1.0f, "the first record is always kept");
        for (int t = 0; t < 4; t++) {
            float f = gen.gen_flag[i * 4 + t];
            cr_expect(f == 0.0f || f == 1.0f);
            if (t) cr_expect(f <= gen.gen_flag[i * 4 + t - 1], "flags only go from 1 to 0");
            if (f == 0.0f) cr_expect_eq(gen.feat[i * 4 + t], 0.0f, "features after the end are zero");
            else { sum[c] += gen.feat[i * 4 + t]; cnt[c]++; }
        }
    }
    double p1 = (double)n1 / gen.n_flows;
    printf("gan_train: class-1 frequency %.3f (want 0.2), feature means %.3f / %.3f (want 0.25 / 0.75)\n", p1,
           sum[0] / (cnt[0] ? cnt[0] : 1), sum[1] / (cnt[1] ? cnt[1] : 1));
    cr_expect(fabs(p1 - 0.2) < 0.05, "class-1 frequency %.3f, want 0.2", p1);
    cr_expect(cnt[0] > 0 && fabs(sum[0] / cnt[0] - 0.25) < 0.08, "class-0 feature mean %.3f", sum[0] / (cnt[0] ? cnt[0] : 1));
    cr_expect(cnt[1] > 0 && fabs(sum[1] / cnt[1] - 0.75) < 0.08, "class-1 feature mean %.3f", sum[1] / (cnt[1] ? cnt[1] : 1));
    free(gen.attr); free(gen.feat); free(gen.gen_flag);
    /* features for given attributes: all class 0, then all class 1 (n not a
     * multiple of the batch of 64); the means follow the class given */
    enum { NC = 1000 };
    float *attr = calloc(NC * 2, sizeof(float));
    cr_assert(attr);
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < NC; i++) { attr[i * 2 + k] = 1.0f; attr[i * 2 + 1 - k] = 0.0f; }
        TU_OK(vf_flowmodel_generate_features(g, attr, NC, 13 + (uint64_t)k, &gen));
        cr_assert(gen.n_flows == NC && gen.max_len == 4 && gen.attr_dim == 2 && gen.feat_dim == 1);
        cr_expect(!memcmp(gen.attr, attr, NC * 2 * sizeof(float)), "out->attr is a copy of attr");
        double fs = 0;
        int fn = 0;
        for (int i = 0; i < NC; i++) {
            cr_expect(gen.gen_flag[i * 4] == 1.0f, "the first record is always kept");
            for (int t = 0; t < 4; t++) {
                float f = gen.gen_flag[i * 4 + t];
                cr_expect(f == 0.0f || f == 1.0f);
                if (t) cr_expect(f <= gen.gen_flag[i * 4 + t - 1], "flags only go from 1 to 0");
                if (f == 0.0f) cr_expect_eq(gen.feat[i * 4 + t], 0.0f, "features after the end are zero");
                else { fs += gen.feat[i * 4 + t]; fn++; }
            }
        }
        double want = k ? 0.75 : 0.25;
        printf("gan_train: features for given class-%d attributes: mean %.3f (want %.2f)\n", k, fs / (fn ? fn : 1), want);
        cr_expect(fn > 0 && fabs(fs / fn - want) < 0.08, "class-%d given: feature mean %.3f, want %.2f", k,
                  fs / (fn ? fn : 1), want);
        free(gen.attr); free(gen.feat); free(gen.gen_flag);
    }
    /* the same seed gives the same features; generation leaves training's noise counter alone */
    vf_encoded a1, a2;
    TU_OK(vf_flowmodel_generate_features(g, attr, 70, 5, &a1));
    TU_OK(vf_flowmodel_generate_features(g, attr, 70, 5, &a2));
    cr_expect(!memcmp(a1.feat, a2.feat, 70 * 4 * sizeof(float)) && !memcmp(a1.gen_flag, a2.gen_flag, 70 * 4 * sizeof(float)));
    free(a1.attr); free(a1.feat); free(a1.gen_flag);
    free(a2.attr); free(a2.feat); free(a2.gen_flag);
    TU_OK(vf_flowmodel_generate_features(g, attr, 0, 5, &a1));
    cr_expect_eq(a1.n_flows, 0);
    free(a1.attr); free(a1.feat); free(a1.gen_flag);
    cr_expect_eq(vf_flowmodel_generate_features(g, attr, -1, 5, &a1), VF_ERR_ARG);
    cr_expect_eq(vf_flowmodel_generate_features(g, NULL, 3, 5, &a1), VF_ERR_ARG);
    free(attr);
    vf_flowmodel_close(g);
    tg_free(&data);
}

/* A model without sample_cond (tests/gan/diverge.cfg) cannot generate
 * features for given attributes: VF_ERR_UNSUPPORTED with a message saying
 * what the model lacks. */
Test(gan_train, generate_features_needs_sample_cond) {
    vf_flow_dims d = tg_dims(4);
    vf_flowmodel *g = NULL;
    TU_OK(vf_flowmodel_open(VKFLOW_SOURCE_DIR "/tests/gan/diverge.cfg", &d, NULL, 0, tu_cpu(), 1, &g));
    float attr[4] = {1, 0, 0, 1};
    vf_encoded out;
    cr_assert_eq(vf_flowmodel_generate_features(g, attr, 2, 1, &out), VF_ERR_UNSUPPORTED);
    cr_expect(strstr(vf_last_error(), "sample_cond"), "%s", vf_last_error());
    cr_expect(out.attr == NULL && out.n_flows == 0);
    vf_flowmodel_close(g);
}
