/* The trainer's state, shared by engine/train/trainer.c (open, sampler,
 * loop) and engine/train/checkpoint.c (save, load). Not an API. */
#ifndef VKFLOW_TRAIN_TRAINER_INTERNAL_H
#define VKFLOW_TRAIN_TRAINER_INTERNAL_H

#include "train/trainer.h"
#include "graph/exec.h"

/* The batch sampler. shuffle: a Fisher-Yates permutation per epoch drawn from
 * a splitmix64 stream; epoch_state regenerates the current permutation on
 * resume. poisson: state is the stream. */
typedef struct vf_sampler {
    vf_batching kind;
    double rate;
    uint64_t state, epoch_state;
    int64_t n, pos;
    bool ready;
    int64_t *perm;
} vf_sampler;

struct vf_trainer {
    vf_model *m;
    vf_exec *x;
    vf_backend *be;
    const vf_driver *drv;
    void *state;                   /* the driver's, drv->state_size bytes */
    uint64_t seed;
    int64_t iter;                  /* driver iterations of the current training */
    vf_sampler samp;
    const vf_dataset *data;
    int64_t batch;                 /* rows of a batch (the first field's input) */
    int *field_node;               /* per dataset field: its input node */
    float **field_buf;             /* per field: one host batch [batch, width] */
    int mask_node;                 /* input batch_mask, -1 when the model has none */
    float *mask_buf;               /* [batch] */
    int64_t *batch_idx;            /* [batch]: the examples of a Poisson batch */
    int64_t last_batch_rows;       /* rows of the last batch (Poisson: B_t) */
    int64_t saved_runs;            /* training's RNG counter while sampling */
    bool sampling;
    /* outputs a driver's sampler computed on the host (vf_trainer_publish) */
    int n_published;
    struct { int prog, node; float *data; int64_t n; } published[8];
    /* privacy runs */
    vf_privacy_opts priv;
    vf_privacy_plan plan;
    double expected_batch;         /* L */
    int64_t dp_rows;               /* the model's batch rows: room for a Poisson draw */
    bool *prog_private;            /* per program: privatised */
    int draws_this_iter, runs_this_draw;
};

/* (Re)binds the sampler to n examples (trainer.c): after a load, the
 * restored order when n matches, a fresh one from the seed otherwise. */
vf_status vf_sampler_bind(vf_trainer *t, int64_t n);

#endif
