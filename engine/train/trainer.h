/* The training layer: one trainer interface over the programs a model
 * declares (dsl/README.md, "programs"), driven by a named algorithm.
 *
 *   vf_trainer  = model (DSL) + compiled programs (exec) + bound data + batch
 *                 sampler + iteration/RNG counters + a driver
 *   vf_driver   = the algorithm: which programs run in one iteration and in
 *                 what order (wgan_gp: d_steps x d_step then g_step;
 *                 supervised: train_step), its training.* settings, and how
 *                 to sample (one run of a forward program by default)
 *
 * Everything else is written once, here: binding a model to data (named
 * fields written into the inputs of the same name), the batch sampler
 * (shuffled epochs, or Poisson sampling with a variable batch and a
 * batch_mask input), metrics (every scalar output of a program, by tensor
 * name), the non-finite check, progress, stop and checkpoints (one versioned
 * format with every program's parameters, optimizer and EMA state, RNG
 * counters, sampler and driver state, written atomically).
 *
 * A trainer is one model instance on one backend: nothing is global, so
 * chunks can be trained by several processes or devices (vf_trainer_train is
 * the per-chunk entry point). Gradient transforms and optimizers run inside
 * the programs (engine/graph/exec.h); a driver never touches gradients. */
#ifndef VKFLOW_TRAIN_TRAINER_H
#define VKFLOW_TRAIN_TRAINER_H

#include "vkflow.h"
#include "model.h"

typedef struct vf_trainer vf_trainer;

/* ------------------------------------------------------------------ metrics */

#define VF_MAX_METRICS 16
typedef struct vf_metric { char name[48]; double value; } vf_metric;
/* Named scalars a step reports (the driver's choice: losses, penalties,
 * gradient norms). Setting a name twice keeps the last value. */
typedef struct vf_metrics { int n; vf_metric m[VF_MAX_METRICS]; } vf_metrics;
void vf_metrics_set(vf_metrics *ms, const char *name, double value);
/* The value of name, or def when it is not there. */
double vf_metrics_get(const vf_metrics *ms, const char *name, double def);
/* "d_loss 0.12 gp 0.03 ..." into buf. */
const char *vf_metrics_format(const vf_metrics *ms, char *buf, size_t len);

/* --------------------------------------------------------------------- data */

/* A dataset of n examples. Each field is written, one row [width] per
 * example of a batch, into the model input of the same name ([batch, width]);
 * fill writes example i's row of field k into dst. */
typedef struct vf_data_field { const char *input; int64_t width; } vf_data_field;
typedef struct vf_dataset {
    int64_t n;
    int n_fields;
    const vf_data_field *fields;
    void (*fill)(void *user, int64_t example, int field, float *dst);
    void *user;
} vf_dataset;

typedef enum vf_batching {
    VF_BATCH_SHUFFLE,   /* epochs of a seeded Fisher-Yates permutation, full batches */
    VF_BATCH_POISSON    /* every example joins each batch with probability rate (DP-SGD's
                         * assumption): a variable batch of B_t <= batch rows, the rest zero,
                         * and the input batch_mask [batch] = 1 for real rows, 0 after */
} vf_batching;

/* ------------------------------------------------------------------ trainer */

/* Privacy (DP-SGD, docs/PRIVACY.md): the model's private programs get
 * per-example clipped, noised gradients (vf_model_make_private), batches are
 * Poisson samples of expected size L (rate q = L / n, set when data is
 * bound) with the model's dims.batch rows as room, and the driver's plan
 * says how one iteration reads the data, which the trainer checks every
 * iteration so that the accountant's count is the truth. */
typedef struct vf_privacy_opts {
    bool enabled;
    double clip;                /* C > 0 (INFINITY: no clipping, for tests) */
    double sigma;               /* noise multiplier >= 0 */
    double expected_batch;      /* L; 0: the largest L with L + 7 sqrt(L) + 1 <= dims.batch */
} vf_privacy_opts;

/* How one iteration of a driver reads the data (vf_driver.privacy_plan):
 * draws Poisson batches, and each batch is read by runs_per_draw runs of
 * private programs (k updates on one sample compose as one sampled Gaussian
 * mechanism with noise multiplier sigma / sqrt(k), REFERENCE 4.1). The
 * programs in reads_data read the data (directly or through inputs the
 * driver derives from it): each must be declared private in the model. */
typedef struct vf_privacy_plan {
    int draws_per_iter;
    int runs_per_draw;
    int n_reads;
    char reads_data[8][48];
    const char *why;            /* one sentence for docs and messages */
} vf_privacy_plan;

/* What a privacy run has spent so far, for the accountant
 * (engine/train/privacy.h): mechanisms SGM(q, sigma_eff) composed `steps`
 * times, with sigma_eff = sigma / sqrt(runs_per_draw). */
typedef struct vf_privacy_spent {
    double q, sigma, sigma_eff, expected_batch;
    int64_t batch_rows;         /* the model's batch: room for a Poisson draw */
    int64_t steps;              /* draws so far (iterations * draws_per_iter) */
    vf_privacy_plan plan;
} vf_privacy_spent;

typedef struct vf_trainer_opts {
    const char *model;          /* model file */
    vf_model_env env;           /* dimensions, output head tables, setting overrides */
    vf_backend *be;
    uint64_t seed;              /* parameter initialisation, noise, batch order */
    vf_batching batching;
    double poisson_rate;        /* VF_BATCH_POISSON: in (0, 1] */
    vf_privacy_opts privacy;    /* enabled: batching and poisson_rate are set by it */
} vf_trainer_opts;

/* Loads the model, finds its driver (training.algorithm), lets the driver
 * read its settings and check the programs it needs, reports any training.*
 * key nobody read, and compiles the programs on o->be. */
vf_status vf_trainer_open(const vf_trainer_opts *o, vf_trainer **out);
void vf_trainer_close(vf_trainer *t);

vf_model *vf_trainer_model(const vf_trainer *t);
vf_exec *vf_trainer_exec(const vf_trainer *t);
const char *vf_trainer_algorithm(const vf_trainer *t);

/* Data for the next steps (not copied: it must outlive the steps). Keeps a
 * restored sampler position when the dataset has the size it was saved
 * with (resume), starts a fresh order from the seed otherwise. */
vf_status vf_trainer_bind(vf_trainer *t, const vf_dataset *d);

/* One iteration of the driver; *out gets its metrics. A non-finite metric
 * is VF_ERR_FORMAT naming it and the iteration. */
vf_status vf_trainer_step(vf_trainer *t, vf_metrics *out);
int64_t vf_trainer_iteration(const vf_trainer *t);

typedef struct vf_train_progress {
    int64_t iter, total;
    const vf_metrics *metrics;  /* the last iteration's */
    double seconds;             /* since the start of this call */
} vf_train_progress;
typedef void (*vf_train_progress_fn)(const vf_train_progress *p, void *user);

typedef struct vf_train_opts {
    int64_t iterations;         /* driver iterations */
    const char *checkpoint;     /* written atomically every checkpoint_every and at a stop; NULL = none */
    int64_t checkpoint_every;
    bool resume;                /* continue from `checkpoint` if it exists; else start at iteration 0 */
    volatile int *stop;         /* nonzero (a SIGINT handler): checkpoint, return with *stopped */
    vf_train_progress_fn progress;
    void *progress_user;
    int progress_every;         /* iterations between progress calls (and at the end) */
} vf_train_opts;

/* Trains on the bound data until o->iterations. A non-finite metric stops
 * with VF_ERR_FORMAT, keeping the last good checkpoint. */
vf_status vf_trainer_train(vf_trainer *t, const vf_train_opts *o, bool *stopped);

/* A privacy run's sampling and spending (VF_ERR_ARG when privacy is off;
 * q is 0 until data is bound: q = L / n). steps counts the current
 * training's iterations. */
vf_status vf_trainer_privacy(const vf_trainer *t, vf_privacy_spent *out);
/* The plan of the model's driver without a trainer (planning a budget
 * before training: vkflow check, the pipeline's calibration). */
vf_status vf_driver_privacy_plan(vf_model *m, vf_privacy_plan *out);
/* Expected batch L for a model batch of `rows` rows: the largest L with
 * L + 7 sqrt(L) + 1 <= rows (a Poisson draw overflows with probability
 * below 1e-11), or `want` when given and it fits (else 0). */
double vf_privacy_expected_batch(int64_t rows, double want);

/* Checkpoints: everything a bit-identical resume needs. Loading a
 * checkpoint of the same model into another trainer is a warm start (the
 * caller then trains with resume = false, from iteration 0). Files of an
 * older format are refused with a message naming their version. */
vf_status vf_trainer_save(const vf_trainer *t, const char *path);
vf_status vf_trainer_load(vf_trainer *t, const char *path);
#define VF_CHECKPOINT_VERSION 2u

/* Sampling: noise comes from a counter range of its own keyed by seed
 * (training's counter is put back by vf_trainer_sample_end), so generation
 * never changes training and is reproducible. vf_trainer_sample makes one
 * batch of program `prog`'s outputs (the driver's sampler: one run, or a
 * chain of runs for a diffusion model); read them with vf_trainer_read. */
vf_status vf_trainer_sample_begin(vf_trainer *t, uint64_t seed);
vf_status vf_trainer_sample(vf_trainer *t, int prog);
void vf_trainer_sample_end(vf_trainer *t);

int vf_trainer_program(const vf_trainer *t, const char *name);   /* index or -1 */
vf_status vf_trainer_write(vf_trainer *t, const char *input, const void *src, size_t bytes);
vf_status vf_trainer_read(vf_trainer *t, int prog, const char *tensor, void *dst, size_t bytes);

/* ------------------------------------------------------------------ drivers */

/* An algorithm. configure reads the driver's training.* settings (through
 * vf_model_setting_*) and checks the programs it needs, without a backend
 * (`vkflow check` calls it too); state is state_size zeroed bytes the driver
 * owns, of which the first persist_size are saved in checkpoints. step runs
 * one iteration with the helpers below. sample (optional) makes one batch of
 * a forward program's outputs; NULL runs the program once. close
 * (optional) frees what configure allocated in state; it runs whenever
 * configure ran, also without a trainer (vf_driver_check) and after a
 * configure that failed. */
typedef struct vf_driver {
    const char *name;
    const char *keys;           /* its training.* keys, for messages ("d_steps, g_steps") */
    size_t state_size, persist_size;
    vf_status (*configure)(vf_model *m, void *state);
    vf_status (*step)(vf_trainer *t, void *state, vf_metrics *out);
    vf_status (*sample)(vf_trainer *t, void *state, int prog);
    void (*close)(void *state);   /* optional: frees what configure allocated */
    /* optional: how an iteration reads the data (privacy runs); NULL: the
     * driver cannot train privately */
    void (*privacy_plan)(const void *state, vf_privacy_plan *out);
} vf_driver;

/* Registers a driver (the built-in ones are supervised, wgan_gp, ddgan, ddpm
 * and timegan). A name already registered is VF_ERR_ARG. Not thread-safe:
 * register at start-up. */
vf_status vf_driver_register(const vf_driver *d);
const vf_driver *vf_driver_find(const char *name);
/* Loads nothing: runs the driver's configure on a loaded model and checks
 * that every training.* key was read (vkflow check). */
vf_status vf_driver_check(vf_model *m);

/* Helpers for drivers. next_batch writes the next batch of the bound data
 * into the model's inputs; run runs program prog and adds its scalar
 * outputs to *out under their tensor names (and "<prog>.grad_norm" when the
 * program clips gradients), failing on a non-finite value. */
vf_status vf_trainer_next_batch(vf_trainer *t);
bool vf_trainer_has_data(const vf_trainer *t);
/* The host copy of the last batch's rows of the data field written into
 * input `input` ([batch, width], zero rows after a Poisson batch's end), or
 * NULL when no bound field has that name: a driver that derives inputs from
 * the data on the host (a diffusion model's noised pairs) reads it here. */
const float *vf_trainer_batch(const vf_trainer *t, const char *input);
/* The trainer's seed (drivers key their host random numbers with it and
 * with vf_exec_rng_runs, so that a resume draws the same numbers). */
uint64_t vf_trainer_seed(const vf_trainer *t);
/* A driver's sampler that computes a program's outputs on the host (a
 * diffusion chain) publishes them here: vf_trainer_read of (prog, tensor)
 * returns these values until the sampling session ends. n floats, exactly
 * the tensor's element count. */
vf_status vf_trainer_publish(vf_trainer *t, int prog, const char *tensor, const float *src, int64_t n);
vf_status vf_trainer_run(vf_trainer *t, int prog, vf_metrics *out);
/* The program named `name` that a driver needs, with the shape it needs:
 * VF_ERR_FORMAT naming the model file and what is missing. want_loss: a
 * training program (loss + update) or a forward-only one. */
vf_status vf_driver_need_program(const vf_model *m, const char *driver, const char *name, bool want_loss, int *out);

#endif
