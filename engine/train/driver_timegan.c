/* Driver `timegan`: TimeGAN's three training phases (Yoon, Jarrett and van
 * der Schaar, NeurIPS 2019; the reference implementation's train loop), each
 * phase a set of the model's programs (models/timegan.cfg declares them and
 * their losses):
 *
 *   iterations [0, embed_steps)                  embedding: embed_step
 *                                                (E, R minimise 10 sqrt(L_R))
 *   [embed_steps, embed_steps + supervised_steps) supervised: supervise_step
 *                                                (S minimises L_S)
 *   then                                         joint: g_steps x (g_step, then
 *                                                embed_joint_step on the same
 *                                                batch), then d_check on a fresh
 *                                                batch and d_step when the value
 *                                                d_check reports exceeds
 *                                                d_threshold
 *
 * Every phase iteration draws a fresh real batch first (when data is bound).
 * The discriminator trick ("update D only when its loss > 0.15"): d_check is
 * a forward-only program whose first output is the discriminator loss;
 * d_step then runs with the RNG run counter put back to where d_check found
 * it, so it sees the same batch and the same noise the check saw, as the
 * reference's check_d_loss and D_solver do with one feed_dict. A model
 * without d_check updates D every joint iteration.
 *
 * Settings: training.embed_steps (default 1000), training.supervised_steps
 * (1000), training.g_steps (2, the reference's inner loop), training.
 * d_threshold (0.15; 0 updates D whenever its loss is positive).
 * Metrics: the scalar outputs of the iteration's runs by tensor name, plus
 * `phase` (0 embedding, 1 supervised, 2 joint) and, in joint iterations,
 * `d_updated` (1 when d_step ran).
 *
 * State: the driver's own iteration count is persisted in checkpoints, so the
 * phase comes back on a resume and a warm start (NetShare's later chunks
 * begin at chunk 0's weights: they continue in the joint phase rather than
 * pretraining again), whatever iteration vf_trainer_train counts from. */
#include "train/trainer.h"

#include <stddef.h>

typedef struct timegan_state {
    int64_t iter;              /* persisted: iterations of this driver so far (the phase) */
    int embed, supervise, g, embed_joint, d_check, d;   /* program indices (d_check -1 when absent) */
    int64_t embed_steps, supervised_steps, g_steps;
    double d_threshold;
} timegan_state;

static vf_status timegan_configure(vf_model *m, void *state) {
    timegan_state *s = state;
    VF_TRY(vf_model_setting_int(m, "embed_steps", 0, 100000000, 1000, &s->embed_steps));
    VF_TRY(vf_model_setting_int(m, "supervised_steps", 0, 100000000, 1000, &s->supervised_steps));
    VF_TRY(vf_model_setting_int(m, "g_steps", 1, 1000, 2, &s->g_steps));
    VF_TRY(vf_model_setting_num(m, "d_threshold", 0, 1e30, 0.15, &s->d_threshold));
    VF_TRY(vf_driver_need_program(m, "timegan", "embed_step", true, &s->embed));
    VF_TRY(vf_driver_need_program(m, "timegan", "supervise_step", true, &s->supervise));
    VF_TRY(vf_driver_need_program(m, "timegan", "g_step", true, &s->g));
    VF_TRY(vf_driver_need_program(m, "timegan", "embed_joint_step", true, &s->embed_joint));
    VF_TRY(vf_driver_need_program(m, "timegan", "d_step", true, &s->d));
    s->d_check = vf_model_program(m, "d_check");   /* optional: without it D always updates */
    return s->d_check < 0 ? VF_OK : vf_driver_need_program(m, "timegan", "d_check", false, &s->d_check);
}

static vf_status next_batch(vf_trainer *t) { return vf_trainer_has_data(t) ? vf_trainer_next_batch(t) : VF_OK; }

/* The first output of forward program p after its last run. */
static vf_status first_output(vf_trainer *t, int p, double *v) {
    const vf_prog_desc *d = vf_exec_desc(vf_trainer_exec(t), p);
    float x;
    VF_TRY(vf_exec_read(vf_trainer_exec(t), p, d->outs[0], &x, sizeof x));
    *v = x;
    return VF_OK;
}

static vf_status timegan_step(vf_trainer *t, void *state, vf_metrics *out) {
    timegan_state *s = state;
    int64_t i = s->iter;
    if (i < s->embed_steps) {
        vf_metrics_set(out, "phase", 0);
        VF_TRY(next_batch(t));
        VF_TRY(vf_trainer_run(t, s->embed, out));
    } else if (i < s->embed_steps + s->supervised_steps) {
        vf_metrics_set(out, "phase", 1);
        VF_TRY(next_batch(t));
        VF_TRY(vf_trainer_run(t, s->supervise, out));
    } else {
        vf_metrics_set(out, "phase", 2);
        for (int64_t k = 0; k < s->g_steps; k++) {
            VF_TRY(next_batch(t));
            VF_TRY(vf_trainer_run(t, s->g, out));
            VF_TRY(vf_trainer_run(t, s->embed_joint, out));
        }
        VF_TRY(next_batch(t));
        bool update = true;
        if (s->d_check >= 0) {
            vf_exec *x = vf_trainer_exec(t);
            int64_t runs = vf_exec_rng_runs(x);
            VF_TRY(vf_trainer_run(t, s->d_check, out));
            double loss;
            VF_TRY(first_output(t, s->d_check, &loss));
            update = loss > s->d_threshold;
            if (update) vf_exec_set_rng_runs(x, runs);   /* d_step draws d_check's noise */
        }
        if (update) VF_TRY(vf_trainer_run(t, s->d, out));
        vf_metrics_set(out, "d_updated", update);
    }
    s->iter++;
    return VF_OK;
}

const vf_driver vf_driver_timegan = {
    .name = "timegan",
    .keys = "embed_steps, supervised_steps, g_steps, d_threshold",
    .state_size = sizeof(timegan_state),
    .persist_size = offsetof(timegan_state, embed), /* iter only */
    .configure = timegan_configure,
    .step = timegan_step,
};
