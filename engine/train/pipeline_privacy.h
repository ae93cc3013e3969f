/* The pipeline's privacy budget (engine/train/pipeline_privacy.c,
 * docs/PRIVACY.md). Not an API: shared by pipeline.c and its tests. */
#ifndef VKFLOW_TRAIN_PIPELINE_PRIVACY_H
#define VKFLOW_TRAIN_PIPELINE_PRIVACY_H

#include "train/pipeline.h"
#include "train/rundir.h"

typedef struct vf_dp_budget {
    double delta, clip, target;   /* target: the configured epsilon (0: sigma was given) */
    double sigma;                 /* noise multiplier every private update uses */
    double expected_batch;        /* L */
    int64_t batch_rows;
    vf_privacy_plan plan;
    int n_chunks;
    int chunks_per_flow;          /* k: a flow is an example of at most k chunk models */
    double *q;                    /* per chunk: L / flows (0: an empty chunk) */
    int64_t *steps;               /* per chunk: Poisson batches over its training */
    double planned;               /* epsilon when every chunk has trained */
} vf_dp_budget;

/* Plans a privacy run: opens the model privately once (its driver's plan,
 * its batch; fails early on a model that cannot be privatised), then sigma:
 * the one privacy.txt in run_dir recorded (a resumed run keeps its noise),
 * else the given one, else the smallest meeting the target epsilon over
 * every chunk's iterations (refused with the numbers when none <= 1e4 does,
 * or when a resumed run would now spend more than the target). Writes
 * privacy.txt and one line to the run log. */
vf_status vf_dp_budget_plan(const vf_run_config *rc, const vf_encoder *enc, const int64_t *real_flows, vf_backend *be,
                            const char *run_dir, vf_run_log *L, vf_dp_budget *b);
/* Epsilon spent when chunk c has run done_frac[c] of its batches (NULL: all). */
double vf_dp_budget_epsilon(const vf_dp_budget *b, const double *done_frac);
void vf_dp_budget_free(vf_dp_budget *b);

#endif
