/* Synthetic encoded data for the GAN tests: attribute = one of 2 classes
 * (one 2-way softmax segment) with probabilities 0.8 / 0.2; one sigmoid
 * feature per record, 0.25 + noise for class 0 and 0.75 + noise for class 1;
 * flows of 1..max_len records. */
#ifndef TEST_GAN_COMMON_H
#define TEST_GAN_COMMON_H

#include "train/flowmodel.h"
#include "util.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#define GAN_TINY VKFLOW_SOURCE_DIR "/tests/gan/tiny.cfg"

static const vf_segment tg_attr_segs[1] = {{0, 2, VF_SEG_SOFTMAX, VF_F_PROTO}};
static const vf_segment tg_feat_segs[1] = {{0, 1, VF_SEG_UNIT, VF_F_LEN}};

static inline vf_flow_dims tg_dims(int max_len) {
    vf_flow_dims d = {.attr_dim = 2, .feat_dim = 1, .max_len = max_len, .n_attr_segs = 1, .n_feat_segs = 1,
                     .attr_segs = tg_attr_segs, .feat_segs = tg_feat_segs};
    return d;
}

static inline float tg_unif(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*s >> 40) + 0.5) / 16777216.0f;
}

static inline vf_encoded tg_data(int n, int max_len, uint64_t seed) {
    vf_encoded e = {.chunk = 0, .n_flows = n, .max_len = max_len, .attr_dim = 2, .feat_dim = 1};
    e.attr = calloc((size_t)n * 2, sizeof(float));
    e.feat = calloc((size_t)n * (size_t)max_len, sizeof(float));
    e.gen_flag = calloc((size_t)n * (size_t)max_len, sizeof(float));
    uint64_t s = seed;
    for (int i = 0; i < n; i++) {
        int c = tg_unif(&s) < 0.2f;
        e.attr[i * 2 + c] = 1.0f;
        int len = 1 + (int)(tg_unif(&s) * (float)max_len);
        if (len > max_len) len = max_len;
        for (int t = 0; t < len; t++) {
            e.gen_flag[i * max_len + t] = 1.0f;
            e.feat[i * max_len + t] = (c ? 0.75f : 0.25f) + 0.1f * (tg_unif(&s) - 0.5f);
        }
    }
    return e;
}

/* Binds the chunk and trains (what the pipeline does per chunk). */
static inline vf_status tg_train(vf_flowmodel *f, const vf_encoded *chunk, const vf_train_opts *o, bool *stopped) {
    VF_TRY(vf_flowmodel_bind(f, chunk));
    return vf_trainer_train(vf_flowmodel_trainer(f), o, stopped);
}

static inline void tg_free(vf_encoded *e) {
    free(e->attr);
    free(e->feat);
    free(e->gen_flag);
    memset(e, 0, sizeof *e);
}

#endif
