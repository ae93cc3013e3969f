/* vkflow model description language: libconfig files -> graph IR + programs.
 *
 * vf_model_load parses and validates a description (every error with
 * file:line and what was expected), builds the graph (networks, named
 * tensors, losses, gradients) and the program descriptions the training
 * algorithm needs. See dsl/README.md for the language. */
#ifndef VKFLOW_DSL_H
#define VKFLOW_DSL_H

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
typedef struct vf_model_env {
    const vf_dim *dims; int n_dims;          /* override the file's `dims` of the same name */
    const vf_head_table *heads; int n_heads;
    bool placeholder_heads;  /* unknown tables become one sigmoid head (vkflow check without data) */
} vf_model_env;
vf_status vf_model_load_dims(const char *path, const vf_dim *dims, int n, vf_model **out);
vf_status vf_model_load_env(const char *path, const vf_model_env *env, vf_model **out);
/* Resolved dimension (the caller's or the file's), def when unknown. */
int64_t vf_model_dim(const vf_model *m, const char *name, int64_t def);
void vf_model_destroy(vf_model *m);

vf_graph *vf_model_graph(vf_model *m);
/* The programs ("train_step", "eval", ...) as exec descriptions. */
const vf_prog_desc *vf_model_programs(const vf_model *m, int *n);
/* Node of a named input, noise, tensor or loss; -1 if none. */
int vf_model_node(const vf_model *m, const char *name);
/* Applies network `net` to node x (shares the network's parameters). */
int vf_model_apply(vf_model *m, const char *net, int x);
const char *vf_model_algorithm(const vf_model *m);
int vf_model_steps(const vf_model *m);
uint64_t vf_model_seed(const vf_model *m);
/* wgan_gp: D / G runs per iteration, and the node of "d_loss", "g_loss" or
 * "loss" (-1 when the model has none). */
int vf_model_d_steps(const vf_model *m);
int vf_model_g_steps(const vf_model *m);
int vf_model_loss(const vf_model *m, const char *which);

/* Compiles the model's programs on a backend and writes the inline data of
 * its inputs. */
vf_status vf_model_compile(vf_model *m, vf_backend *be, const vf_exec_opts *opts, vf_exec **out);
/* Runs the model's training algorithm on the inputs as written: supervised
 * (below) or wgan_gp (`steps` iterations of d_steps d_step runs + g_steps
 * g_step runs; losses[k] = g_loss). A non-finite loss stops with a message
 * naming the iteration. */
vf_status vf_model_train(vf_model *m, vf_exec *x, float *losses);
/* The `supervised` algorithm: `steps` runs of train_step; losses[k] (may be
 * NULL) gets the loss of step k. Other algorithms report "not implemented". */
vf_status vf_train_supervised(vf_model *m, vf_exec *x, float *losses);

#endif
