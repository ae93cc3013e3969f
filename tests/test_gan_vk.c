/* vk against cpu for the GAN programs: from the same seed (the same initial
 * parameters, the same Philox noise), one iteration (d_steps D steps + one G
 * step) gives the same losses and the same samples to float tolerance. */
#include "test_gan_common.h"

#include <math.h>

static vf_metrics last;
static void keep(const vf_train_progress *p, void *user) {
    (void)user;
    last = *p->metrics;
}

static void one_iteration(vf_backend *be, vf_metrics *pr, vf_encoded *gen) {
    vf_flow_dims d = tg_dims(4);
    vf_encoded data = tg_data(200, 4, 3);
    vf_flowmodel *g;
    TU_OK(vf_flowmodel_open(GAN_TINY, &d, NULL, 0, be, 21, &g));
    vf_train_opts o = {.iterations = 1, .progress = keep, .progress_every = 1};
    TU_OK(tg_train(g, &data, &o, NULL));
    *pr = last;
    TU_OK(vf_flowmodel_generate(g, 64, 5, gen));
    vf_flowmodel_close(g);
    tg_free(&data);
}

Test(gan_vk, one_d_and_g_step_vk_vs_cpu) {
    vf_backend *vk = tu_vk();
    if (!vk) cr_skip_test("no Vulkan device");
    vf_metrics pc, pv;
    vf_encoded gc, gv;
    one_iteration(tu_cpu(), &pc, &gc);
    one_iteration(vk, &pv, &gv);
    tu_check_validation();
    static const char *const names[] = {"d_loss", "gp", "gp_attr", "g_loss"};
    for (int k = 0; k < 4; k++) {
        double c = vf_metrics_get(&pc, names[k], NAN), v = vf_metrics_get(&pv, names[k], NAN);
        cr_expect(fabs(c - v) <= 1e-3 + 1e-3 * fabs(c), "%s cpu %g vk %g", names[k], c, v);
    }
    double worst = 0;
    for (int i = 0; i < 64 * 2; i++) worst = fmax(worst, fabs(gc.attr[i] - gv.attr[i]));
    for (int i = 0; i < 64 * 4; i++) worst = fmax(worst, fabs(gc.feat[i] - gv.feat[i]));
    cr_expect_lt(worst, 1e-3, "samples differ by %g", worst);
    int flags = 0;
    for (int i = 0; i < 64 * 4; i++) flags += gc.gen_flag[i] != gv.gen_flag[i];
    cr_expect_leq(flags, 2, "%d generation flags differ (a flag at p = 0.5 may flip)", flags);
    free(gc.attr); free(gc.feat); free(gc.gen_flag);
    free(gv.attr); free(gv.feat); free(gv.gen_flag);
}
