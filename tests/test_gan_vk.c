/* vk against cpu for the GAN programs: from the same seed (the same initial
 * parameters, the same Philox noise), one iteration (d_steps D steps + one G
 * step) gives the same losses and the same samples to float tolerance. */
#include "test_gan_common.h"

#include <math.h>

static vf_gan_progress last;
static void keep(const vf_gan_progress *p, void *user) {
    (void)user;
    last = *p;
}

static void one_iteration(vf_backend *be, vf_gan_progress *pr, vf_encoded *gen) {
    vf_gan_dims d = tg_dims(4);
    vf_encoded data = tg_data(200, 4, 3);
    vf_gan *g;
    TU_OK(vf_gan_open(GAN_TINY, &d, be, 21, &g));
    vf_gan_train_opts o = {.iterations = 1, .progress = keep, .progress_every = 1};
    TU_OK(vf_gan_train(g, &data, &o, NULL));
    *pr = last;
    TU_OK(vf_gan_generate(g, 64, 5, gen));
    vf_gan_close(g);
    tg_free(&data);
}

Test(gan_vk, one_d_and_g_step_vk_vs_cpu) {
    vf_backend *vk = tu_vk();
    if (!vk) cr_skip_test("no Vulkan device");
    vf_gan_progress pc, pv;
    vf_encoded gc, gv;
    one_iteration(tu_cpu(), &pc, &gc);
    one_iteration(vk, &pv, &gv);
    tu_check_validation();
    cr_expect(fabsf(pc.d_loss - pv.d_loss) <= 1e-3f + 1e-3f * fabsf(pc.d_loss), "d_loss cpu %g vk %g", (double)pc.d_loss,
              (double)pv.d_loss);
    cr_expect(fabsf(pc.g_loss - pv.g_loss) <= 1e-3f + 1e-3f * fabsf(pc.g_loss), "g_loss cpu %g vk %g", (double)pc.g_loss,
              (double)pv.g_loss);
    cr_expect(fabsf(pc.gp - pv.gp) <= 1e-3f + 1e-3f * fabsf(pc.gp), "gp cpu %g vk %g", (double)pc.gp, (double)pv.gp);
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
