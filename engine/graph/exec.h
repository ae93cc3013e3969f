/* vkflow graph executor: compiles programs (named entry points of a graph)
 * into engine calls and runs them.
 *
 * Compilation per program: dead-code elimination (only the ancestors of the
 * program's outputs and updates), elementwise fusion (maximal groups of VF_G_EW
 * nodes of one shape whose intermediates nobody else reads -> one
 * vf_ew_program each, within 64 instructions / 8 inputs / 4 outputs), memory
 * planning by liveness into one activation arena (vf_tensor_view offsets),
 * lowering to a list of steps, and capture into a vf_program replayed each
 * run (or op-by-op submission when capture is off).
 *
 * Storage: inputs, params, consts and optimizer state live in a persistent
 * arena shared by every program; activations live in one activation arena
 * sized for the largest program, so a program's outputs stay valid until the
 * next run of any program. */
#ifndef VKFLOW_EXEC_H
#define VKFLOW_EXEC_H

#include "graph.h"

/* Optimizers (the update rule a training program ends with). */
typedef enum vf_opt_kind {
    VF_OPT_ADAM,     /* Adam with bias correction (no weight decay) */
    VF_OPT_ADAMW,    /* Adam with decoupled weight decay: p -= lr * wd * p */
    VF_OPT_SGD,      /* SGD with momentum: buf = mu buf + g (+ wd p); p -= lr buf */
    VF_OPT_COUNT
} vf_opt_kind;

/* Learning rate over the program's runs t = 1, 2, ...: a linear warm-up
 * lr * t / warmup for t <= warmup, then constant, linear decay or a cosine
 * from lr to min_lr over the next decay_steps runs (min_lr after that). */
typedef enum vf_lr_schedule { VF_LR_CONSTANT, VF_LR_LINEAR, VF_LR_COSINE, VF_LR_COUNT } vf_lr_schedule;

typedef struct vf_optimizer_config {
    vf_opt_kind kind;
    float lr;
    float beta1, beta2, eps;   /* adam, adamw */
    float weight_decay;        /* adamw (decoupled), sgd (L2 added to the gradient) */
    float momentum;            /* sgd */
    vf_lr_schedule schedule;
    int64_t warmup_steps, decay_steps;
    float min_lr;
} vf_optimizer_config;
/* The learning rate at run t >= 1. */
float vf_optimizer_lr(const vf_optimizer_config *o, int64_t t);
const char *vf_opt_kind_name(vf_opt_kind k);
const char *vf_lr_schedule_name(vf_lr_schedule s);

/* Gradient transforms: run in the declared order on a program's gradients,
 * after they are computed and before the optimizer applies them, inside the
 * replayed program (the seam for clipping, DP noise, all-reduce). */
typedef enum vf_grad_transform_kind {
    VF_GT_CLIP_GLOBAL_NORM,   /* g *= min(1, max_norm / (||all gradients||_2 + 1e-6)) */
    VF_GT_COUNT
} vf_grad_transform_kind;
typedef struct vf_grad_transform {
    vf_grad_transform_kind kind;
    float max_norm;
} vf_grad_transform;
#define VF_MAX_GRAD_TRANSFORMS 8
const char *vf_grad_transform_name(vf_grad_transform_kind k);

/* One program: outputs readable after a run; for a training program, the
 * updates param -= optimizer(transforms(grad)), and for each updated
 * parameter an optional exponential moving average
 *   ema = decay * ema + (1 - decay) * param   (after the update).
 * A program with ema_weights reads every parameter that has an EMA through
 * its EMA instead (sampling from EMA weights). */
typedef struct vf_prog_desc {
    const char *name;
    int n_out;
    const int *outs;
    int n_upd;
    const int *upd_param, *upd_grad;
    const float *upd_ema;      /* per update: EMA decay in (0, 1), 0 = none; NULL = none */
    vf_optimizer_config opt;
    int n_transforms;
    const vf_grad_transform *transforms;
    bool ema_weights;
    /* Name of an earlier training program whose optimizer this one shares:
     * the same parameters in the same order; its optimizer settings (opt here
     * is ignored), state, learning rate schedule and step count (Adam's t
     * counts the runs of both), as a lazily regularised step shares the plain
     * step's optimizer. NULL: its own. */
    const char *share_optimizer;
    /* The program reads the training data (the model's `private = true`):
     * in a privacy run its gradients are DP-SGD's (model.h,
     * vf_model_make_private); the executor itself does not look at it. */
    bool private_data;
} vf_prog_desc;

typedef struct vf_exec_opts {
    bool fuse;       /* elementwise fusion (else one vf_elementwise per EW node) */
    bool plan;       /* liveness memory plan (else every value gets its own bytes) */
    bool capture;    /* record once and replay (else op-by-op submission) */
    uint64_t seed;   /* parameter initialisation and Philox noise */
} vf_exec_opts;

/* What `vkflow check` prints per program. */
typedef struct vf_prog_stats {
    int nodes;            /* live nodes after DCE */
    int ew_nodes;         /* elementwise nodes among them */
    int kernels;          /* engine calls per run (steps) */
    int fused_groups;     /* vf_elementwise calls that replaced >1 node */
    int ew_kernels;       /* vf_elementwise calls */
    size_t planned_bytes, unplanned_bytes;
} vf_prog_stats;

typedef struct vf_exec vf_exec;

vf_status vf_exec_create(vf_graph *g, vf_backend *be, int n_prog, const vf_prog_desc *progs,
                         const vf_exec_opts *opts, vf_exec **out);
void vf_exec_destroy(vf_exec *x);
int vf_exec_program(const vf_exec *x, const char *name);   /* index or -1 */
/* One run of program p: bumps the RNG counter and the Adam step, then replays
 * (or submits op by op) and waits. */
vf_status vf_exec_run(vf_exec *x, int p);
/* The tensor of a node in program p (inputs, params and consts are the same
 * in every program; p may be -1 for them). Fails for values that have no
 * storage (fused intermediates, nodes outside p). */
vf_status vf_exec_tensor(const vf_exec *x, int p, int node, vf_tensor *out);
vf_status vf_exec_write(vf_exec *x, int node, const void *src, size_t bytes);
vf_status vf_exec_read(vf_exec *x, int p, int node, void *dst, size_t bytes);
/* Training state beyond the parameters, for checkpoints that resume
 * bit-identically: the run counter that keys the Philox noise (every run of
 * any program bumps it), each program's run count (Adam's step t and the
 * schedule's position), each update's optimizer state (Adam m, v; SGD
 * momentum: n_state tensors shaped like the parameter) and each parameter's
 * EMA. */
int64_t vf_exec_rng_runs(const vf_exec *x);
void vf_exec_set_rng_runs(vf_exec *x, int64_t runs);
int64_t vf_exec_prog_runs(const vf_exec *x, int p);
vf_status vf_exec_set_prog_runs(vf_exec *x, int p, int64_t runs);
int vf_exec_n_updates(const vf_exec *x, int p);
/* Update u of program p: its parameter node and optimizer state (state gets
 * up to 2 tensors; *n_state how many). */
vf_status vf_exec_opt_state(const vf_exec *x, int p, int u, int *param, int *n_state, vf_tensor state[2]);
/* The EMA copy of parameter node `param`; VF_ERR_ARG when it has none. */
vf_status vf_exec_ema(const vf_exec *x, int param, vf_tensor *out);
bool vf_exec_has_ema(const vf_exec *x, int param);
/* The global gradient norm before clipping of program p's last run (its
 * first clip_global_norm transform); VF_ERR_ARG when p clips nothing. */
vf_status vf_exec_grad_norm(const vf_exec *x, int p, float *out);
const vf_prog_desc *vf_exec_desc(const vf_exec *x, int p);
int vf_exec_n_programs(const vf_exec *x);
const char *vf_exec_program_name(const vf_exec *x, int p);
const vf_prog_stats *vf_exec_stats(const vf_exec *x, int p);
int64_t vf_exec_param_count(const vf_exec *x);
size_t vf_exec_activation_bytes(const vf_exec *x);
/* Live mask of program p over the graph's nodes (for DOT). */
const bool *vf_exec_live(const vf_exec *x, int p);
vf_program *vf_exec_captured(const vf_exec *x, int p);     /* NULL when not capturing */
/* Host wall time of the last run's parts (seconds): writing the per-step
 * scalars, and the whole run. */
void vf_exec_last_times(const vf_exec *x, int p, double *scalars_s, double *total_s);

/* Compiles without a backend: statistics only (vkflow check). alignment is
 * the activation alignment to plan with. */
vf_status vf_exec_analyze(vf_graph *g, int n_prog, const vf_prog_desc *progs, bool fuse,
                          size_t alignment, vf_prog_stats *stats);

#endif
