/* Driver `wgan_gp`: one iteration = d_steps runs of the program d_step, each
 * on a fresh real batch, then g_steps runs of g_step (DoppelGANger's and
 * NetShare's loop; the penalties live in the model's losses). Without bound
 * data the inputs are whatever the caller wrote; without g_step only the
 * discriminators train. Metrics: the
 * scalar outputs of the last d_step and g_step (d_loss, gp, ..., g_loss). */
#include "train/trainer.h"

#include <stdio.h>

typedef struct wgan_state {
    int d_step, g_step;        /* program indices */
    int64_t d_steps, g_steps;
} wgan_state;

static vf_status wgan_configure(vf_model *m, void *state) {
    wgan_state *s = state;
    VF_TRY(vf_model_setting_int(m, "d_steps", 1, 1000, 1, &s->d_steps));
    VF_TRY(vf_model_setting_int(m, "g_steps", 1, 1000, 1, &s->g_steps));
    VF_TRY(vf_driver_need_program(m, "wgan_gp", "d_step", true, &s->d_step));
    /* g_step is optional: a discriminator alone can be trained (or pre-trained) */
    s->g_step = vf_model_program(m, "g_step");
    return s->g_step < 0 ? VF_OK : vf_driver_need_program(m, "wgan_gp", "g_step", true, &s->g_step);
}

static vf_status wgan_step(vf_trainer *t, void *state, vf_metrics *out) {
    wgan_state *s = state;
    for (int64_t r = 0; r < s->d_steps; r++) {
        if (vf_trainer_has_data(t)) VF_TRY(vf_trainer_next_batch(t));
        VF_TRY(vf_trainer_run(t, s->d_step, out));
    }
    for (int64_t r = 0; s->g_step >= 0 && r < s->g_steps; r++) VF_TRY(vf_trainer_run(t, s->g_step, out));
    return VF_OK;
}

/* DP: the discriminators read the data (one private d_step per Poisson
 * batch); the generator only sees their output, so g_step is
 * post-processing (REFERENCE 4.1). */
static void wgan_privacy_plan(const void *state, vf_privacy_plan *out) {
    const wgan_state *s = state;
    *out = (vf_privacy_plan){.draws_per_iter = (int)s->d_steps, .runs_per_draw = 1, .n_reads = 1,
                             .why = "in WGAN-GP the discriminators read real records; the generator only sees their "
                                    "output (post-processing), so d_step is private and g_step is not"};
    snprintf(out->reads_data[0], sizeof out->reads_data[0], "d_step");
}

const vf_driver vf_driver_wgan_gp = {
    .name = "wgan_gp",
    .keys = "d_steps, g_steps",
    .state_size = sizeof(wgan_state),
    .persist_size = 0,
    .configure = wgan_configure,
    .step = wgan_step,
    .privacy_plan = wgan_privacy_plan,
};
