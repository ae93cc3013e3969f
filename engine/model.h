/* Models: what the training layer needs from a model description. Declared
 * here, in the engine, and implemented by the model description language
 * (dsl/dsl.c: libconfig files -> graph IR + programs), so dependencies point
 * one way: dsl/ builds on engine/, engine/ never includes dsl/.
 *
 * vf_model_load parses and validates a description (every error with
 * file:line and what was expected), builds the graph (networks, named
 * tensors, losses, gradients) and the programs the file declares
 * (`programs`: each a loss to minimise and the networks it updates, with an
 * optimizer, gradient transforms and EMA, or a forward-only sampler). The
 * DSL runs nothing: the training drivers (engine/train/trainer.h) sequence
 * the programs. See dsl/README.md for the language. */
#ifndef VKFLOW_MODEL_H
#define VKFLOW_MODEL_H

#include "graph/exec.h"

typedef struct vf_model vf_model;

/* Loads FILE. On failure returns VF_ERR_FORMAT (or VF_ERR_IO) with every
 * problem found, one "file:line: message" per line, in vf_last_error(). */
vf_status vf_model_load(const char *path, vf_model **out);

/* Symbolic dimensions: names a model uses wherever an integer shape or width
 * is expected (dsl/README.md, "dims"). */
typedef struct vf_dim { const char *name; int64_t value; } vf_dim;
/* Output head kinds (the same values as vf_seg_kind in trace/encode.h). */
typedef enum vf_head_kind { VF_HEAD_SOFTMAX = 0, VF_HEAD_SIGMOID = 1, VF_HEAD_TANH = 2 } vf_head_kind;
typedef struct vf_head_seg { int offset, width, kind; } vf_head_seg;
/* A named segment table for `heads` layers; segments tile [0, W) in order. */
typedef struct vf_head_table { const char *name; int n; const vf_head_seg *segs; } vf_head_table;
/* A setting override "key=value" (`vkflow run --set optimizer.lr=2e-4`, or a
 * run configuration's model groups). key is a dotted path: dims.NAME,
 * optimizer.KEY, training.KEY, ema.NET, programs.NAME.KEY (list entries by
 * their name); value an integer, a number, true/false or a string. origin
 * names it in messages instead of file:line ("--set optimizer.lr=2e-4",
 * "run.cfg:12"). Applied in order (the last wins), before validation: a key
 * nothing reads is an error naming the origin. */
typedef struct vf_setting { const char *key, *value, *origin; } vf_setting;
typedef struct vf_model_env {
    const vf_dim *dims; int n_dims;          /* override the file's `dims` of the same name */
    const vf_head_table *heads; int n_heads;
    bool placeholder_heads;  /* unknown tables become one sigmoid head (vkflow check without data) */
    const vf_setting *settings; int n_settings;
} vf_model_env;
vf_status vf_model_load_dims(const char *path, const vf_dim *dims, int n, vf_model **out);
vf_status vf_model_load_env(const char *path, const vf_model_env *env, vf_model **out);
/* The caller's segment table `name` (NULL when it gave none: `vkflow check`
 * without data). The table is the caller's: valid while its env is, i.e.
 * during vf_trainer_open, where drivers configure themselves. */
const vf_head_table *vf_model_heads(const vf_model *m, const char *name);
/* Resolved dimension (the caller's or the file's), def when unknown. */
int64_t vf_model_dim(const vf_model *m, const char *name, int64_t def);
void vf_model_destroy(vf_model *m);

vf_graph *vf_model_graph(vf_model *m);
/* The declared programs, in file order, as exec descriptions. A training
 * program's outs[0] is its loss; forward-only programs have no updates. */
const vf_prog_desc *vf_model_programs(const vf_model *m, int *n);
int vf_model_program(const vf_model *m, const char *name);   /* index or -1 */
/* Node of a named input, noise, tensor or loss; -1 if none. */
int vf_model_node(const vf_model *m, const char *name);
/* Applies network `net` to node x (shares the network's parameters). */
int vf_model_apply(vf_model *m, const char *net, int x);
const char *vf_model_path(const vf_model *m);

/* training.algorithm ("none" without a training group), and training.steps /
 * training.seed (defaults 100 and 1; *set says whether the file gave them:
 * a run configuration's run.iterations / run.seed win over them). */
const char *vf_model_algorithm(const vf_model *m);
int64_t vf_model_steps(const vf_model *m, bool *set);
uint64_t vf_model_seed(const vf_model *m, bool *set);
/* A driver's own settings, training.KEY (default def when absent), checked
 * for type and range with file:line errors; each call marks KEY as read. */
vf_status vf_model_setting_int(vf_model *m, const char *key, int64_t lo, int64_t hi, int64_t def, int64_t *out);
vf_status vf_model_setting_num(vf_model *m, const char *key, double lo, double hi, double def, double *out);
vf_status vf_model_setting_str(vf_model *m, const char *key, const char *def, const char **out);
/* "file:line" (or the override's origin) of training.KEY, for messages. */
const char *vf_model_training_where(const vf_model *m, const char *key, char *buf, size_t len);
/* " (did you mean 'x'?)" for the closest of names within 2 edits, or "". */
const char *vf_suggest(const char *word, const char *const *names, int n, char *buf, size_t len);
/* VF_ERR_FORMAT naming (file:line or override) every training key no one
 * read; driver_keys lists the driver's keys for the message. */
vf_status vf_model_check_read(const vf_model *m, const char *driver_keys);
/* The effective description (overrides applied, includes expanded), as
 * libconfig text: the run directory's record of the settings used. */
vf_status vf_model_write_settings(const vf_model *m, const char *path);

/* Privacy runs (engine/graph/dp.h, docs/PRIVACY.md): gives every program
 * declared `private = true` DP-SGD's gradients (per-example clipping and
 * Gaussian noise), before vf_model_compile. Adds the inputs the trainer
 * writes: batch_mask [batch] (when the model has none), and the [1] inputs
 * named below (C; loss_scale / L; sigma C / L, with L the expected batch);
 * appends to each private program the outputs "<prog>.dp_clipped" (the
 * fraction of sampled examples clipped, a metric) and "<prog>.dp_norms"
 * ([batch] per-example gradient norms before clipping). VF_ERR_FORMAT when no
 * program is private; VF_ERR_UNSUPPORTED naming the parameter when a private
 * network's gradient is not per-example separable (dp.h). Once per model. */
#define VF_DP_CLIP_INPUT "dp_clip"
#define VF_DP_ROW_SCALE_INPUT "dp_row_scale"
#define VF_DP_NOISE_STD_INPUT "dp_noise_std"
vf_status vf_model_make_private(vf_model *m);

/* Compiles the model's programs on a backend and writes the inline data of
 * its inputs. */
vf_status vf_model_compile(vf_model *m, vf_backend *be, const vf_exec_opts *opts, vf_exec **out);

#endif
