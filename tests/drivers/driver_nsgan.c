/* Driver `nsgan_r1`: a non-saturating GAN with a lazy R1 penalty (the
 * objective is the model's: tests/nsgan/nsgan_r1.cfg). Registered at run time
 * by tests/test_train_new_driver.c with vf_driver_register: an algorithm
 * added without touching the engine.
 *
 * One iteration = d_steps D runs, each on a fresh real batch, then one run of
 * g_step. D run number k (counted over the whole training, k = 0, 1, ...) is
 * d_step_r1 (adversarial loss + R1) when k % r1_every == 0, else d_step
 * (adversarial loss only): lazy regularisation as in StyleGAN2 and DDGAN
 * (lazy_reg), which computes the double-backward R1 term only every
 * r1_every-th D step. With r1_every = 1 every D run is d_step_r1 and the
 * model needs no d_step. The two are separate programs; the model makes
 * d_step_r1 share d_step's optimizer (share_optimizer: one set of Adam
 * moments and one step count for D, as DDGAN and StyleGAN2 have).
 *
 * Settings: training.d_steps (default 1), training.r1_every (default 1).
 * Metrics: the scalar outputs of the iteration's runs by tensor name (the
 * last value of each): d_loss and g_loss every iteration, r1 and d_loss_r1
 * in iterations with an R1 step.
 *
 * State: the D run counter is persisted in checkpoints, so a resumed training
 * keeps the R1 phase even though vf_trainer_train counts its iterations from
 * 0 in every call. */
#include "train/trainer.h"

#include <stddef.h>

extern const vf_driver vf_test_driver_nsgan;

typedef struct nsgan_state {
    int64_t d_runs;                 /* persisted: D runs so far (the lazy-R1 phase) */
    int d_step, d_step_r1, g_step;  /* program indices (d_step -1 when r1_every = 1) */
    int64_t d_steps, r1_every;      /* settings, read again at every open */
} nsgan_state;

static vf_status nsgan_configure(vf_model *m, void *state) {
    nsgan_state *s = state;
    VF_TRY(vf_model_setting_int(m, "d_steps", 1, 1000, 1, &s->d_steps));
    VF_TRY(vf_model_setting_int(m, "r1_every", 1, 1000000, 1, &s->r1_every));
    VF_TRY(vf_driver_need_program(m, "nsgan_r1", "d_step_r1", true, &s->d_step_r1));
    s->d_step = -1;
    if (s->r1_every > 1) VF_TRY(vf_driver_need_program(m, "nsgan_r1", "d_step", true, &s->d_step));
    return vf_driver_need_program(m, "nsgan_r1", "g_step", true, &s->g_step);
}

static vf_status nsgan_step(vf_trainer *t, void *state, vf_metrics *out) {
    nsgan_state *s = state;
    for (int64_t r = 0; r < s->d_steps; r++) {
        if (vf_trainer_has_data(t)) VF_TRY(vf_trainer_next_batch(t));
        bool reg = s->d_runs % s->r1_every == 0;
        VF_TRY(vf_trainer_run(t, reg ? s->d_step_r1 : s->d_step, out));
        s->d_runs++;
    }
    return vf_trainer_run(t, s->g_step, out);
}

const vf_driver vf_test_driver_nsgan = {
    .name = "nsgan_r1",
    .keys = "d_steps, r1_every",
    .state_size = sizeof(nsgan_state),
    .persist_size = offsetof(nsgan_state, d_step), /* d_runs only */
    .configure = nsgan_configure,
    .step = nsgan_step,
};
