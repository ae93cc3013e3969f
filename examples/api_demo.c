/* api_demo: train a small model through libvkflow's public API and print what
 * it learned. Built against an installed vkflow (README.md, "Install"):
 *
 *   cc api_demo.c $(pkg-config --cflags --libs vkflow) -o api_demo
 *   ./api_demo /usr/share/vkflow/models/xor.cfg
 *
 * The model file (man 5 vkflow-model) declares everything: inputs with their
 * data, the network, the loss, a training program `train_step` (driven by the
 * `supervised` algorithm) and a forward program `eval` whose outputs are read
 * back here. xor.cfg learns XOR with a 2-8-1 tanh MLP. */
#include "model.h"          /* vf_model_load, vf_model_steps, vf_model_seed */
#include "train/trainer.h"  /* vf_trainer_open, vf_trainer_step, vf_trainer_read */
#include "vkflow.h"         /* backends, errors */

#include <math.h>
#include <stdio.h>

static int fail(const char *what) {
    fprintf(stderr, "api_demo: %s: %s\n", what, vf_last_error());
    return 1;
}

int main(int argc, char **argv) {
    const char *model = argc > 1 ? argv[1] : "/usr/share/vkflow/models/xor.cfg";

    /* training.steps and training.seed from the model file */
    vf_model *m;
    if (vf_model_load(model, &m)) return fail(model);
    int64_t steps = vf_model_steps(m, NULL);
    uint64_t seed = vf_model_seed(m, NULL);
    vf_model_destroy(m);

    vf_backend *be;
    if (vf_cpu_create(&be)) return fail("cpu backend");
    vf_trainer_opts o = {.model = model, .be = be, .seed = seed};
    vf_trainer *t;
    if (vf_trainer_open(&o, &t)) {
        vf_backend_destroy(be);
        return fail(model);
    }
    printf("model %s: algorithm %s, %lld steps on %s\n", model, vf_trainer_algorithm(t), (long long)steps,
           vf_backend_name(be));

    /* the model's inputs carry their data inline: no dataset to bind */
    for (int64_t k = 1; k <= steps; k++) {
        vf_metrics ms;
        if (vf_trainer_step(t, &ms)) return fail("step");
        if (k == 1 || k % 50 == 0 || k == steps) {
            char line[256];
            printf("  step %4lld  %s\n", (long long)k, vf_metrics_format(&ms, line, sizeof line));
        }
    }

    /* run the forward program and read its outputs by tensor name */
    int ev = vf_trainer_program(t, "eval");
    if (ev < 0) {
        fprintf(stderr, "api_demo: %s has no program 'eval'\n", model);
        return 1;
    }
    if (vf_exec_run(vf_trainer_exec(t), ev)) return fail("eval");
    float p[4], loss;
    if (vf_trainer_read(t, ev, "p", p, sizeof p) || vf_trainer_read(t, ev, "loss", &loss, sizeof loss))
        return fail("read");
    static const int x[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
    int correct = 0;
    printf("learned (loss %.4g):\n", (double)loss);
    for (int i = 0; i < 4; i++) {
        int want = x[i][0] ^ x[i][1], got = p[i] > 0.5f;
        correct += want == got;
        printf("  %d xor %d -> p = %.3f (%d)%s\n", x[i][0], x[i][1], (double)p[i], got, want == got ? "" : "  wrong");
    }
    printf("%d/4 correct\n", correct);

    vf_trainer_close(t);
    vf_backend_destroy(be);
    return correct == 4 && isfinite(loss) ? 0 : 1;
}
