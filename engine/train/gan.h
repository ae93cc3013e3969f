/* Time-series GAN training and sampling (DoppelGANger, NetShare's model) on
 * encoded trace chunks. The model itself is a DSL file (models/doppelganger*.cfg);
 * this layer binds it to the data's dimensions, runs the `wgan_gp` loop,
 * checkpoints, and samples.
 *
 * One vf_gan is one model instance on one backend for one chunk: nothing is
 * global, so chunks can train on different devices or machines later. */
#ifndef VKFLOW_TRAIN_GAN_H
#define VKFLOW_TRAIN_GAN_H

#include "vkflow.h"
#include "trace/encode.h"

typedef struct vf_gan vf_gan;

/* Dimensions the model file refers to symbolically (see dsl/README.md,
 * "dims"): taken from the encoder. */
typedef struct vf_gan_dims {
    int attr_dim;        /* attribute vector width (encoder attr_dim) */
    int feat_dim;        /* per-record feature width (encoder feat_dim) */
    int max_len;         /* records per series (encoder max_len) */
    int n_attr_segs, n_feat_segs;
    const vf_segment *attr_segs, *feat_segs; /* output heads: softmax / unit / tanh */
} vf_gan_dims;

void vf_gan_dims_from_encoder(const vf_encoder *enc, vf_gan_dims *out);

/* Loads the model description and compiles its programs on be. batch and
 * the sequence length come from the model file and dims. */
vf_status vf_gan_open(const char *model_path, const vf_gan_dims *dims, vf_backend *be,
                      uint64_t seed, vf_gan **out);
void vf_gan_close(vf_gan *g);

/* Progress of training, called every `every` iterations (and at the end). */
typedef struct vf_gan_progress {
    int64_t iter, total;
    float d_loss, g_loss, gp;   /* last iteration's losses */
    double seconds;             /* since the start of this call */
} vf_gan_progress;
typedef void (*vf_gan_progress_fn)(const vf_gan_progress *p, void *user);

typedef struct vf_gan_train_opts {
    int64_t iterations;         /* generator steps (each after d_rounds D steps) */
    const char *checkpoint;     /* path written atomically every checkpoint_every; NULL = none */
    int64_t checkpoint_every;
    bool resume;                /* continue from `checkpoint` if it exists */
    volatile int *stop;         /* nonzero (set by a SIGINT handler): checkpoint, return */
    vf_gan_progress_fn progress;
    void *progress_user;
    int progress_every;
} vf_gan_train_opts;

/* Trains on one encoded chunk. A NaN or Inf loss stops with VF_ERR_FORMAT
 * naming the iteration, keeping the last good checkpoint. *stopped is set
 * when opts->stop interrupted the run (after a checkpoint was written). */
vf_status vf_gan_train(vf_gan *g, const vf_encoded *chunk, const vf_gan_train_opts *opts,
                       bool *stopped);

/* Parameters + optimizer state + step and RNG counters, atomically. Loading
 * into a freshly opened vf_gan gives a run that continues bit-identically;
 * loading a chunk-0 checkpoint into another chunk's vf_gan is the warm start. */
vf_status vf_gan_save(const vf_gan *g, const char *path);
vf_status vf_gan_load(vf_gan *g, const char *path);

/* Samples n flows: attributes, then features conditioned on them. out gets
 * malloc'd attr [n, attr_dim], feat [n, max_len, feat_dim] and gen_flag
 * [n, max_len] (1 while the flow continues, then 0: outputs after the end are
 * zero), in the same layout as vf_encode's chunks, ready for vf_decode. */
vf_status vf_gan_generate(vf_gan *g, int n, uint64_t seed, vf_encoded *out);

/* Generates features for given attributes (NetShare's merge: a flow carried
 * into a later chunk gets that chunk's features for its own attributes).
 * attr is [n, attr_dim], decoded attribute vectors as vf_gan_generate or the
 * encoder produce them. out gets a malloc'd copy of attr, feat and gen_flag
 * laid out as vf_gan_generate's. Needs a model with the program sample_cond
 * (input cond_attr, training.sample_cond = features, flags; see
 * models/doppelganger.cfg); VF_ERR_UNSUPPORTED without it. */
vf_status vf_gan_generate_features(vf_gan *g, const float *attr, int n, uint64_t seed, vf_encoded *out);

#endif
