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

/* Compiles the model's programs on a backend and writes the inline data of
 * its inputs. */
vf_status vf_model_compile(vf_model *m, vf_backend *be, const vf_exec_opts *opts, vf_exec **out);
/* The `supervised` algorithm: `steps` runs of train_step; losses[k] (may be
 * NULL) gets the loss of step k. Other algorithms report "not implemented". */
vf_status vf_train_supervised(vf_model *m, vf_exec *x, float *losses);

#endif
