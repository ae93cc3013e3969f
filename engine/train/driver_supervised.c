/* Driver `supervised`: one iteration = one run of the program train_step on
 * a batch (from the bound data, or the model's inline inputs when no data is
 * bound). Metrics: its scalar outputs (the loss first). */
#include "train/trainer.h"

#include <stdio.h>

typedef struct sup_state { int train_step; } sup_state;

static vf_status sup_configure(vf_model *m, void *state) {
    sup_state *s = state;
    return vf_driver_need_program(m, "supervised", "train_step", true, &s->train_step);
}

static vf_status sup_step(vf_trainer *t, void *state, vf_metrics *out) {
    sup_state *s = state;
    if (vf_trainer_has_data(t)) VF_TRY(vf_trainer_next_batch(t));
    return vf_trainer_run(t, s->train_step, out);
}

/* DP: train_step reads one Poisson batch per iteration. */
static void sup_privacy_plan(const void *state, vf_privacy_plan *out) {
    (void)state;
    *out = (vf_privacy_plan){.draws_per_iter = 1, .runs_per_draw = 1, .n_reads = 1,
                             .why = "train_step reads the data"};
    snprintf(out->reads_data[0], sizeof out->reads_data[0], "train_step");
}

const vf_driver vf_driver_supervised = {
    .name = "supervised",
    .keys = "",
    .state_size = sizeof(sup_state),
    .persist_size = 0,
    .configure = sup_configure,
    .step = sup_step,
    .privacy_plan = sup_privacy_plan,
};
