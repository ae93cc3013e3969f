/* NetShare's data contract over any trainer: binds encoded trace chunks
 * (engine/trace/encode.h) to a model's inputs and reads generated flows back
 * from its sampling programs. The algorithm (wgan_gp for DoppelGANger, or
 * any registered driver) is the model file's business; this layer only knows
 * the names below (models/doppelganger.cfg describes them):
 *
 *   inputs    real_attr [B, A], real_feat [B, T*F], real_flag [B, T*2]
 *             (T = seq_len >= max_len; flags [continue, end] per record:
 *             [1, 0] while the flow goes on, [0, 1] on its last record,
 *             [0, 0] after), and cond_attr [B, A] for sample_cond
 *   programs  sample: outputs attributes [B, A], features [B, T*F], flags
 *             [B, T*2]; sample_cond (optional): features and flags for the
 *             attributes written into cond_attr
 *
 * One vf_flowmodel is one model instance on one backend for one chunk:
 * nothing is global, so chunks can train on different devices later. */
#ifndef VKFLOW_TRAIN_FLOWMODEL_H
#define VKFLOW_TRAIN_FLOWMODEL_H

#include "train/trainer.h"
#include "trace/encode.h"

typedef struct vf_flowmodel vf_flowmodel;

/* Dimensions the model file refers to symbolically (attr_dim, feat_dim,
 * max_len) and the output head tables "attr" and "feat": the encoder's. */
typedef struct vf_flow_dims {
    int attr_dim, feat_dim, max_len;
    int n_attr_segs, n_feat_segs;
    const vf_segment *attr_segs, *feat_segs;
} vf_flow_dims;
void vf_flow_dims_from_encoder(const vf_encoder *enc, vf_flow_dims *out);

/* Opens the model on be with the encoder's dimensions and the setting
 * overrides (model.h vf_setting; may be NULL) and checks the contract above. */
vf_status vf_flowmodel_open(const char *model_path, const vf_flow_dims *dims, const vf_setting *settings,
                            int n_settings, vf_backend *be, uint64_t seed, vf_flowmodel **out);
/* Same, for a privacy run (trainer.h vf_privacy_opts; NULL: not private). */
vf_status vf_flowmodel_open_private(const char *model_path, const vf_flow_dims *dims, const vf_setting *settings,
                                    int n_settings, vf_backend *be, uint64_t seed, const vf_privacy_opts *privacy,
                                    vf_flowmodel **out);
void vf_flowmodel_close(vf_flowmodel *f);
/* The trainer (train, save, load, metrics). */
vf_trainer *vf_flowmodel_trainer(const vf_flowmodel *f);

/* Training data: the chunk's flows (not copied; it must outlive training). */
vf_status vf_flowmodel_bind(vf_flowmodel *f, const vf_encoded *chunk);

/* Samples n flows: attributes, then features conditioned on them. out gets
 * malloc'd attr [n, attr_dim], feat [n, max_len, feat_dim] and gen_flag
 * [n, max_len] (1 while the flow continues, then 0: outputs after the end are
 * zero), in the layout of vf_encode's chunks, ready for vf_decode. */
vf_status vf_flowmodel_generate(vf_flowmodel *f, int n, uint64_t seed, vf_encoded *out);

/* Features for given attributes (NetShare's merge: a flow carried into a
 * later chunk gets that chunk's features for its own attributes). attr is
 * [n, attr_dim]; out gets a copy of attr, feat and gen_flag laid out as
 * vf_flowmodel_generate's. VF_ERR_UNSUPPORTED for a model without the
 * program sample_cond. */
vf_status vf_flowmodel_generate_features(vf_flowmodel *f, const float *attr, int n, uint64_t seed, vf_encoded *out);

#endif
