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

/* One program: outputs readable after a run, and Adam updates param -= f(grad). */
typedef struct vf_prog_desc {
    const char *name;
    int n_out;
    const int *outs;
    int n_upd;
    const int *upd_param, *upd_grad;
    vf_adam_config adam;
    float lr;
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
/* Sets a program's Adam learning rate (picked up by the next run). */
vf_status vf_exec_set_lr(vf_exec *x, int p, float lr);
/* Training state beyond the parameters, for checkpoints that resume
 * bit-identically: the run counter that keys the Philox noise (every run of
 * any program bumps it), each program's Adam step (its run count), and each
 * update's Adam moments m, v (same shape as the parameter). */
int64_t vf_exec_rng_runs(const vf_exec *x);
void vf_exec_set_rng_runs(vf_exec *x, int64_t runs);
int64_t vf_exec_prog_runs(const vf_exec *x, int p);
vf_status vf_exec_set_prog_runs(vf_exec *x, int p, int64_t runs);
int vf_exec_n_updates(const vf_exec *x, int p);
vf_status vf_exec_adam_state(const vf_exec *x, int p, int u, int *param, vf_tensor *m, vf_tensor *v);
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
