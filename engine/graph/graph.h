/* vkflow graph IR: the model compiler's middle layer.
 *
 * A graph is a list of nodes in topological order (a node only reads nodes
 * created before it). Every node has a static shape of 1 or 2 dimensions:
 * [R, C] matrices, [n] vectors ([C] row vectors such as biases, [R] per-row
 * values, [1] scalars). Sequence tensors [B, T, F] are stored as [B, T*F]: one
 * time step is a slice of the last axis.
 *
 * Builders return the new node's id (>= 0) or -1 after setting the message
 * with vf_fail(). Every builder accepts -1 inputs and then returns -1 itself,
 * so a chain of builder calls needs one check at the end (vf_graph_status).
 *
 * Autodiff (vf_graph_vjp) emits ordinary nodes, so the gradient of a gradient
 * is built the same way. Programs (named entry points) and their execution
 * live in exec.h. */
#ifndef VKFLOW_GRAPH_H
#define VKFLOW_GRAPH_H

#include "vkflow.h"

#include <stdio.h>

typedef enum vf_gop {
    VF_G_INPUT,      /* named external tensor, written by the caller before a run */
    VF_G_PARAM,      /* trainable tensor with an initialiser */
    VF_G_NOISE,      /* Philox normal/uniform, fresh each run: stream */
    VF_G_CONST,      /* every element = value */
    VF_G_MATMUL,     /* op(a) @ op(b): ta, tb */
    VF_G_EW,         /* elementwise primitive vf_ew_op with broadcasting inputs */
    VF_G_SUM,        /* sum (mean) over axis: [R,C] -> [R] (ROWS) | [C] (COLS) | [1] (ALL) */
    VF_G_CONCAT,     /* along the last axis */
    VF_G_SLICE,      /* x[:, start:start+width] */
    VF_G_PAD,        /* slice's adjoint: x placed at columns start.. of a zero [R, width] */
    VF_G_SOFTMAX,    /* row-wise */
    VF_G_LOG_SOFTMAX,
    VF_G_SOFTMAX_BWD,     /* (y, dy) -> dx; first order only */
    VF_G_LOG_SOFTMAX_BWD,
    VF_G_BATCHNORM,  /* (x, gamma, beta) -> y; aux: mean [C], rstd [C] (batch statistics) */
    VF_G_LAYERNORM,  /* (x, gamma, beta) -> y; aux: mean [R], rstd [R] */
    VF_G_NORM_BWD,   /* (x, gamma, fwd, dy) -> dx; aux: dgamma, dbeta [C] */
    VF_G_AUX,        /* aux output `index` of node in[0] */
    VF_G_EMBEDDING,  /* (idx int32 [N], table [V, D]) -> [N, D] */
    VF_G_EMBEDDING_BWD, /* (idx, dy) -> dtable [V, D] */
    VF_G_RESHAPE,    /* same elements, another shape ([B, T*F] <-> [B*T, F] <-> [B*T*F]): a copy */
    VF_G_TRI,        /* leaf: [n, n] upper-triangular ones, U[s][t] = s < t (imm != 0: strict) or s <= t */
    VF_G_ONEHOT_ARGMAX, /* [R, C] -> [R, C]: 1 at each row's largest entry (ties: the lowest index), 0
                         * elsewhere; no gradient (DoppelGANger's discrete attributes fed to the
                         * feature generator); aux: the chosen index [R] int32 */
    VF_G_OP_COUNT
} vf_gop;

typedef enum vf_ginit {
    VF_INIT_ZEROS, VF_INIT_ONES, VF_INIT_CONST, VF_INIT_NORMAL, VF_INIT_UNIFORM,
    VF_INIT_XAVIER, VF_INIT_HE, VF_INIT_COUNT
} vf_ginit;

typedef struct vf_gnode {
    vf_gop op;
    int ndim;
    int64_t shape[2];
    vf_dtype dtype;
    int n_in;
    int *in;                /* node ids, n_in of them */
    uint8_t bc[3];          /* VF_G_EW: vf_ew_bcast of each input */
    int ew;                 /* VF_G_EW: vf_ew_op (LOAD = identity/broadcast) */
    float imm;              /* EW imm (leaky slope); CONST value; init scale; norm eps */
    bool ta, tb;            /* MATMUL */
    int axis;               /* SUM: vf_reduce_axis; AUX: index; NORM_BWD: forward op */
    bool mean;              /* SUM: divide by the count */
    int64_t start, width;   /* SLICE / PAD */
    int init;               /* PARAM: vf_ginit */
    bool uniform;           /* NOISE: uniform (0,1) instead of normal */
    uint32_t stream;        /* NOISE */
    bool stop;              /* EW LOAD: stop-gradient (detach): autodiff passes nothing back */
    char *name;             /* INPUT/PARAM/NOISE name; optional label otherwise */
} vf_gnode;

typedef struct vf_graph {
    int n, cap;
    vf_gnode *nodes;
    vf_status err;          /* first error seen by a builder (sticky) */
    char errmsg[512];
} vf_graph;

vf_graph *vf_graph_create(void);
void vf_graph_destroy(vf_graph *g);
/* VF_OK, or the first builder error (message restored into vf_last_error). */
vf_status vf_graph_status(vf_graph *g);
const char *vf_gop_name(vf_gop op);
const char *vf_ew_op_name(int ew);
int64_t vf_gnode_rows(const vf_gnode *n);  /* product of leading dims (1 for 1-D) */
int64_t vf_gnode_cols(const vf_gnode *n);  /* last dimension */
int64_t vf_gnode_numel(const vf_gnode *n);
/* Node id of the INPUT/PARAM/NOISE named `name`, or -1. */
int vf_graph_find(const vf_graph *g, vf_gop op, const char *name);
/* "[3, 5]" */
const char *vf_gnode_shape_str(const vf_gnode *n, char *buf, size_t len);

/* ---- leaves. shape: ndim 1 or 2 entries. */
int vf_g_input(vf_graph *g, const char *name, vf_dtype dt, int ndim, const int64_t *shape);
int vf_g_param(vf_graph *g, const char *name, int ndim, const int64_t *shape, vf_ginit init,
               float scale);
int vf_g_noise(vf_graph *g, const char *name, bool uniform, uint32_t stream, int ndim,
               const int64_t *shape);
int vf_g_const(vf_graph *g, float value, int ndim, const int64_t *shape);
int vf_g_scalar(vf_graph *g, float value);           /* const [1] */
/* Sets the label DOT and error messages show (copied). Returns id. */
int vf_g_label(vf_graph *g, int id, const char *label);

/* ---- primitives */
int vf_g_matmul(vf_graph *g, int a, bool ta, int b, bool tb);
/* Elementwise with broadcasting inferred from shapes: the output takes the
 * shape of the input with the most elements; other inputs must have that
 * shape, or be [C] (row broadcast), [R] (column broadcast) or [1]. When R == C
 * a 1-D input is taken as a row vector; use vf_g_ew_bc to say otherwise. */
int vf_g_ew(vf_graph *g, vf_ew_op op, int n_in, const int *in, float imm);
int vf_g_ew_bc(vf_graph *g, vf_ew_op op, int n_in, const int *in, const uint8_t *bc,
               int ndim, const int64_t *shape, float imm);
int vf_g_un(vf_graph *g, vf_ew_op op, int a);         /* unary: tanh, exp, ... */
int vf_g_add(vf_graph *g, int a, int b);
int vf_g_sub(vf_graph *g, int a, int b);
int vf_g_mul(vf_graph *g, int a, int b);
int vf_g_div(vf_graph *g, int a, int b);
int vf_g_scale(vf_graph *g, int a, float s);          /* s * a */
int vf_g_addc(vf_graph *g, int a, float s);           /* a + s */
int vf_g_leaky_relu(vf_graph *g, int a, float slope);
int vf_g_select(vf_graph *g, int cond, int t, int f); /* cond > 0 ? t : f */
/* Broadcast x ([C], [R] or [1] per bc) to [R, C] (an EW LOAD node). */
int vf_g_broadcast(vf_graph *g, int x, vf_ew_bcast bc, int64_t rows, int64_t cols);
int vf_g_sum(vf_graph *g, int x, vf_reduce_axis axis, bool mean);
int vf_g_concat(vf_graph *g, int n, const int *xs);
int vf_g_slice(vf_graph *g, int x, int64_t start, int64_t width);
int vf_g_pad(vf_graph *g, int x, int64_t start, int64_t width);
int vf_g_softmax(vf_graph *g, int x, bool log);
int vf_g_batchnorm(vf_graph *g, int x, int gamma, int beta, float eps);
int vf_g_layernorm(vf_graph *g, int x, int gamma, int beta, float eps);
int vf_g_embedding(vf_graph *g, int idx, int table);
/* Same elements in row-major order with another shape (numel must match):
 * [B, T*F] -> [B*T, F] turns per-record work into per-row work; [B, T] ->
 * [B*T] makes a per-row (COL-broadcast) value. Lowered to one copy. */
int vf_g_reshape(vf_graph *g, int x, int ndim, const int64_t *shape);
/* Identity whose gradient is zero (stop-gradient). An EW LOAD, so it fuses. */
int vf_g_detach(vf_graph *g, int x);
/* The one-hot of each row's argmax of x [R, C] (float32); autodiff passes
 * nothing back through it. */
int vf_g_onehot_argmax(vf_graph *g, int x);
/* [n, n] constant upper-triangular ones; strict: zero diagonal. */
int vf_g_tri(vf_graph *g, int64_t n, bool strict);
/* Running sum along the last axis: x [R, T] -> [R, T], y_t = sum_{s<=t} x_s
 * (exclusive: s < t). A matmul with a VF_G_TRI constant, so it is
 * differentiable (twice) and runs as one GEMM. */
int vf_g_cumsum(vf_graph *g, int x, bool exclusive);

/* ---- composites built from the primitives */
int vf_g_dense(vf_graph *g, int x, int w, int b);     /* x [B, I] @ w [I, O] + b [O] */
/* One LSTM layer unrolled over T steps, built from primitives so that it is
 * twice differentiable: x [B, T*F] (step t = columns t*F..), wx [F, 4H],
 * wh [H, 4H], b [4H], gates in the order (i, f, g, o), zero initial state.
 *   c = sigmoid(f) c + sigmoid(i) tanh(g),  h = sigmoid(o) tanh(c)
 * Returns the last h [B, H]; h_steps (T entries, may be NULL) gets every h. */
int vf_g_lstm(vf_graph *g, int x, int64_t T, int wx, int wh, int b, int *h_steps);
/* Reductions the losses need: mean((a - b)^2) and the mean binary
 * cross-entropy with logits, both -> [1]. */
int vf_g_mse(vf_graph *g, int a, int b);
int vf_g_bce_logits(vf_graph *g, int logits, int target);

/* ---- autodiff
 * Reverse mode from node y with incoming gradient dy (y's shape; -1 means
 * ones, for a scalar y). Writes into grads[i] the node holding d<y,dy>/d wrt[i]
 * (a zero CONST when wrt[i] does not influence y). The emitted nodes are
 * ordinary graph nodes, differentiable again, except the backward nodes of
 * softmax, batchnorm, layernorm and embedding: differentiating through them
 * fails with "second-order gradient of <op> not supported". */
vf_status vf_graph_vjp(vf_graph *g, int y, int dy, int n_wrt, const int *wrt, int *grads);

/* ---- penalties (x_hat inputs built by the caller)
 * d_out: D's output [B, 1] computed from x [B, F]. Returns [1]:
 *   wgan_gp: mean_b (||grad_x sum(d_out)||_2 - 1)^2   (b-th row of the gradient)
 *   r1:      mean_b  ||grad_x sum(d_out)||^2
 * (mean over the batch; the caller scales by lambda or gamma/2). */
int vf_g_wgan_gp(vf_graph *g, int d_out, int x);
int vf_g_r1(vf_graph *g, int d_out, int x);

/* Graphviz DOT of the nodes with keep[i] set (all if keep is NULL). */
void vf_graph_dot(const vf_graph *g, const bool *keep, const char *title, FILE *f);

#endif
