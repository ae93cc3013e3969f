/* vkflow graph IR: builders, reverse-mode autodiff (emitting ordinary,
 * differentiable nodes), the gradient penalties, and DOT output. */
#include "graph.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ basics */

static const char *const gop_names[VF_G_OP_COUNT] = {
    "input", "param", "noise", "const", "matmul", "ew", "sum", "concat", "slice", "pad",
    "softmax", "log_softmax", "softmax_backward", "log_softmax_backward", "batchnorm",
    "layernorm", "norm_backward", "aux", "embedding", "embedding_backward", "reshape", "tri",
    "onehot_argmax",
};

static const char *const ew_names[VF_EW_OP_COUNT] = {
    "load", "const", "add", "sub", "mul", "div", "max", "min", "neg", "abs", "square", "sqrt",
    "rsqrt", "exp", "log", "log1p", "tanh", "sigmoid", "softplus", "relu", "leaky_relu", "step",
    "select", "sin", "cos",
};

const char *vf_gop_name(vf_gop op) { return op < VF_G_OP_COUNT ? gop_names[op] : "?"; }
const char *vf_ew_op_name(int ew) { return ew >= 0 && ew < VF_EW_OP_COUNT ? ew_names[ew] : "?"; }

static int ew_arity(int op) {
    switch (op) {
    case VF_EW_CONST: return 0;
    case VF_EW_ADD: case VF_EW_SUB: case VF_EW_MUL: case VF_EW_DIV: case VF_EW_MAX: case VF_EW_MIN:
        return 2;
    case VF_EW_SELECT: return 3;
    default: return 1;
    }
}

vf_graph *vf_graph_create(void) { return calloc(1, sizeof(vf_graph)); }

void vf_graph_destroy(vf_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->n; i++) {
        free(g->nodes[i].in);
        free(g->nodes[i].name);
    }
    free(g->nodes);
    free(g);
}

vf_status vf_graph_status(vf_graph *g) {
    if (g->err) return vf_fail(g->err, "%s", g->errmsg);
    return VF_OK;
}

int64_t vf_gnode_rows(const vf_gnode *n) { return n->ndim == 2 ? n->shape[0] : 1; }
int64_t vf_gnode_cols(const vf_gnode *n) { return n->shape[n->ndim - 1]; }
int64_t vf_gnode_numel(const vf_gnode *n) { return vf_gnode_rows(n) * vf_gnode_cols(n); }

const char *vf_gnode_shape_str(const vf_gnode *n, char *buf, size_t len) {
    if (n->ndim == 2)
        snprintf(buf, len, "[%lld, %lld]", (long long)n->shape[0], (long long)n->shape[1]);
    else
        snprintf(buf, len, "[%lld]", (long long)n->shape[0]);
    return buf;
}

int vf_graph_find(const vf_graph *g, vf_gop op, const char *name) {
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == op && g->nodes[i].name && !strcmp(g->nodes[i].name, name)) return i;
    return -1;
}

/* Records the first error (the message stays available through
 * vf_graph_status even after later vf_fail calls elsewhere). */
__attribute__((format(printf, 2, 3))) static int gfail(vf_graph *g, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!g->err) {
        g->err = VF_ERR_ARG;
        snprintf(g->errmsg, sizeof g->errmsg, "%s", msg);
    }
    vf_fail(VF_ERR_ARG, "%s", msg);
    return -1;
}

static bool valid(vf_graph *g, int id) { return id >= 0 && id < g->n; }

/* Appends a node with the given inputs (copied); returns its id. */
static int add_node(vf_graph *g, vf_gop op, int n_in, const int *in, int ndim, int64_t r, int64_t c) {
    if (g->err) return -1;
    for (int i = 0; i < n_in; i++)
        if (!valid(g, in[i])) return gfail(g, "%s: input %d is not a node (an earlier error?)", vf_gop_name(op), i);
    if (ndim < 1 || ndim > 2) return gfail(g, "%s: %d dimensions (1 or 2 allowed)", vf_gop_name(op), ndim);
    if (r < 1 || c < 1) return gfail(g, "%s: empty shape", vf_gop_name(op));
    if (g->n == g->cap) {
        int cap = g->cap ? 2 * g->cap : 64;
        vf_gnode *nn = realloc(g->nodes, (size_t)cap * sizeof *nn);
        if (!nn) {
            g->err = VF_ERR_OOM;
            snprintf(g->errmsg, sizeof g->errmsg, "graph: out of memory");
            return -1;
        }
        g->nodes = nn;
        g->cap = cap;
    }
    vf_gnode *n = &g->nodes[g->n];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->ndim = ndim;
    if (ndim == 2) {
        n->shape[0] = r;
        n->shape[1] = c;
    } else {
        n->shape[0] = c;
    }
    n->dtype = VF_F32;
    n->n_in = n_in;
    if (n_in) {
        n->in = malloc((size_t)n_in * sizeof(int));
        if (!n->in) {
            g->err = VF_ERR_OOM;
            snprintf(g->errmsg, sizeof g->errmsg, "graph: out of memory");
            return -1;
        }
        memcpy(n->in, in, (size_t)n_in * sizeof(int));
    }
    return g->n++;
}

static int add_shaped(vf_graph *g, vf_gop op, int n_in, const int *in, int ndim, const int64_t *shape) {
    if (ndim < 1 || ndim > 2 || !shape) return gfail(g, "%s: shape must have 1 or 2 dimensions", vf_gop_name(op));
    return add_node(g, op, n_in, in, ndim, ndim == 2 ? shape[0] : 1, shape[ndim - 1]);
}

static int add_like(vf_graph *g, vf_gop op, int n_in, const int *in, int like) {
    const vf_gnode *l = &g->nodes[like];
    return add_shaped(g, op, n_in, in, l->ndim, l->shape);
}

static int set_name(vf_graph *g, int id, const char *name) {
    if (id < 0) return -1;
    free(g->nodes[id].name);
    g->nodes[id].name = name ? strdup(name) : NULL;
    if (name && !g->nodes[id].name) return gfail(g, "graph: out of memory");
    return id;
}

int vf_g_label(vf_graph *g, int id, const char *label) { return valid(g, id) ? set_name(g, id, label) : id; }

/* ------------------------------------------------------------------ leaves */

int vf_g_input(vf_graph *g, const char *name, vf_dtype dt, int ndim, const int64_t *shape) {
    if (name && vf_graph_find(g, VF_G_INPUT, name) >= 0) return gfail(g, "input '%s' declared twice", name);
    int id = add_shaped(g, VF_G_INPUT, 0, NULL, ndim, shape);
    if (id >= 0) g->nodes[id].dtype = dt;
    return set_name(g, id, name);
}

int vf_g_param(vf_graph *g, const char *name, int ndim, const int64_t *shape, vf_ginit init, float scale) {
    if (name && vf_graph_find(g, VF_G_PARAM, name) >= 0) return gfail(g, "parameter '%s' declared twice", name);
    if ((unsigned)init >= VF_INIT_COUNT) return gfail(g, "param '%s': unknown initialiser %d", name ? name : "?", init);
    int id = add_shaped(g, VF_G_PARAM, 0, NULL, ndim, shape);
    if (id < 0) return -1;
    g->nodes[id].init = init;
    g->nodes[id].imm = scale;
    return set_name(g, id, name);
}

int vf_g_noise(vf_graph *g, const char *name, bool uniform, uint32_t stream, int ndim, const int64_t *shape) {
    int id = add_shaped(g, VF_G_NOISE, 0, NULL, ndim, shape);
    if (id < 0) return -1;
    g->nodes[id].uniform = uniform;
    g->nodes[id].stream = stream;
    return set_name(g, id, name);
}

int vf_g_const(vf_graph *g, float value, int ndim, const int64_t *shape) {
    int id = add_shaped(g, VF_G_CONST, 0, NULL, ndim, shape);
    if (id >= 0) g->nodes[id].imm = value;
    return id;
}

int vf_g_scalar(vf_graph *g, float value) {
    int64_t one = 1;
    return vf_g_const(g, value, 1, &one);
}

/* -------------------------------------------------------------- primitives */

int vf_g_matmul(vf_graph *g, int a, bool ta, int b, bool tb) {
    if (g->err || !valid(g, a) || !valid(g, b)) return g->err ? -1 : gfail(g, "matmul: bad input");
    const vf_gnode *A = &g->nodes[a], *B = &g->nodes[b];
    if (A->ndim != 2 || B->ndim != 2) {
        char s1[48], s2[48];
        return gfail(g, "matmul: operands must be 2-D, got %s and %s", vf_gnode_shape_str(A, s1, sizeof s1),
                     vf_gnode_shape_str(B, s2, sizeof s2));
    }
    int64_t m = A->shape[ta ? 1 : 0], k = A->shape[ta ? 0 : 1];
    int64_t k2 = B->shape[tb ? 1 : 0], n = B->shape[tb ? 0 : 1];
    if (k != k2) {
        char s1[48], s2[48];
        return gfail(g, "matmul: inner dimensions differ: op(A) is [%lld, %lld] (A %s), op(B) is [%lld, %lld] (B %s)",
                     (long long)m, (long long)k, vf_gnode_shape_str(A, s1, sizeof s1), (long long)k2,
                     (long long)n, vf_gnode_shape_str(B, s2, sizeof s2));
    }
    int in[2] = {a, b};
    int id = add_node(g, VF_G_MATMUL, 2, in, 2, m, n);
    if (id >= 0) {
        g->nodes[id].ta = ta;
        g->nodes[id].tb = tb;
    }
    return id;
}

int vf_g_ew_bc(vf_graph *g, vf_ew_op op, int n_in, const int *in, const uint8_t *bc, int ndim,
               const int64_t *shape, float imm) {
    if (g->err) return -1;
    if (op == VF_EW_CONST || op >= VF_EW_OP_COUNT) return gfail(g, "ew: opcode %d is not a node op", op);
    int want = op == VF_EW_LOAD ? 1 : ew_arity(op);
    if (n_in != want) return gfail(g, "ew %s: %d inputs, %d expected", vf_ew_op_name(op), n_in, want);
    int id = add_shaped(g, VF_G_EW, n_in, in, ndim, shape);
    if (id < 0) return -1;
    vf_gnode *n = &g->nodes[id];
    int64_t R = vf_gnode_rows(n), C = vf_gnode_cols(n);
    for (int i = 0; i < n_in; i++) {
        const vf_gnode *x = &g->nodes[in[i]];
        int64_t want_n[4] = {R * C, C, R, 1};
        if (bc[i] > VF_BC_SCALAR || vf_gnode_numel(x) != want_n[bc[i]] || x->dtype != VF_F32) {
            char s1[48], s2[48];
            g->n--;
            free(n->in);
            return gfail(g, "ew %s: input %d %s does not broadcast to %s", vf_ew_op_name(op), i,
                         vf_gnode_shape_str(x, s1, sizeof s1), vf_gnode_shape_str(n, s2, sizeof s2));
        }
        n->bc[i] = bc[i];
    }
    n->ew = op;
    n->imm = imm;
    return id;
}

static bool same_shape(const vf_gnode *a, const vf_gnode *b) {
    return a->ndim == b->ndim && a->shape[0] == b->shape[0] && (a->ndim == 1 || a->shape[1] == b->shape[1]);
}

int vf_g_ew(vf_graph *g, vf_ew_op op, int n_in, const int *in, float imm) {
    if (g->err) return -1;
    if (n_in < 1 || n_in > 3) return gfail(g, "ew: %d inputs", n_in);
    for (int i = 0; i < n_in; i++)
        if (!valid(g, in[i])) return gfail(g, "ew %s: input %d is not a node", vf_ew_op_name(op), i);
    /* the output shape: the input with the most elements, 2-D preferred */
    int big = in[0];
    for (int i = 1; i < n_in; i++) {
        const vf_gnode *x = &g->nodes[in[i]], *b = &g->nodes[big];
        if (vf_gnode_numel(x) > vf_gnode_numel(b) || (vf_gnode_numel(x) == vf_gnode_numel(b) && x->ndim > b->ndim))
            big = in[i];
    }
    const vf_gnode *o = &g->nodes[big];
    int64_t R = vf_gnode_rows(o), C = vf_gnode_cols(o);
    uint8_t bc[3] = {0, 0, 0};
    for (int i = 0; i < n_in; i++) {
        const vf_gnode *x = &g->nodes[in[i]];
        int64_t k = vf_gnode_numel(x);
        if (same_shape(x, o)) bc[i] = VF_BC_FULL;
        else if (x->ndim == 1 && k == C) bc[i] = VF_BC_ROW;
        else if (x->ndim == 1 && k == R) bc[i] = VF_BC_COL;
        else if (k == 1) bc[i] = VF_BC_SCALAR;
        else if (k == R * C && x->ndim == 2 && x->shape[1] == 1) bc[i] = VF_BC_COL; /* [R,1] with [R] */
        else {
            char s1[48], s2[48];
            return gfail(g, "%s: shapes %s and %s do not broadcast (expected %s, [%lld], [%lld] or [1])",
                         vf_ew_op_name(op), vf_gnode_shape_str(x, s1, sizeof s1), vf_gnode_shape_str(o, s2, sizeof s2),
                         s2, (long long)C, (long long)R);
        }
    }
    int64_t shape[2] = {o->shape[0], o->shape[1]};
    return vf_g_ew_bc(g, op, n_in, in, bc, o->ndim, shape, imm);
}

int vf_g_un(vf_graph *g, vf_ew_op op, int a) { return vf_g_ew(g, op, 1, &a, 0.0f); }
static int bin(vf_graph *g, vf_ew_op op, int a, int b) {
    int in[2] = {a, b};
    return vf_g_ew(g, op, 2, in, 0.0f);
}
int vf_g_add(vf_graph *g, int a, int b) { return bin(g, VF_EW_ADD, a, b); }
int vf_g_sub(vf_graph *g, int a, int b) { return bin(g, VF_EW_SUB, a, b); }
int vf_g_mul(vf_graph *g, int a, int b) { return bin(g, VF_EW_MUL, a, b); }
int vf_g_div(vf_graph *g, int a, int b) { return bin(g, VF_EW_DIV, a, b); }
int vf_g_scale(vf_graph *g, int a, float s) { return vf_g_mul(g, a, vf_g_scalar(g, s)); }
int vf_g_addc(vf_graph *g, int a, float s) { return vf_g_add(g, a, vf_g_scalar(g, s)); }
int vf_g_leaky_relu(vf_graph *g, int a, float slope) { return vf_g_ew(g, VF_EW_LEAKY_RELU, 1, &a, slope); }
int vf_g_select(vf_graph *g, int cond, int t, int f) {
    int in[3] = {cond, t, f};
    return vf_g_ew(g, VF_EW_SELECT, 3, in, 0.0f);
}

int vf_g_broadcast(vf_graph *g, int x, vf_ew_bcast bc, int64_t rows, int64_t cols) {
    uint8_t b = (uint8_t)bc;
    int64_t shape[2] = {rows, cols};
    return vf_g_ew_bc(g, VF_EW_LOAD, 1, &x, &b, 2, shape, 0.0f);
}

int vf_g_sum(vf_graph *g, int x, vf_reduce_axis axis, bool mean) {
    if (g->err) return -1;
    if (!valid(g, x)) return gfail(g, "sum: bad input");
    const vf_gnode *X = &g->nodes[x];
    int64_t n = axis == VF_REDUCE_ROWS ? vf_gnode_rows(X) : axis == VF_REDUCE_COLS ? vf_gnode_cols(X) : 1;
    if ((unsigned)axis > VF_REDUCE_ALL) return gfail(g, "sum: unknown axis %d", axis);
    int id = add_node(g, VF_G_SUM, 1, &x, 1, 1, n);
    if (id >= 0) {
        g->nodes[id].axis = axis;
        g->nodes[id].mean = mean;
    }
    return id;
}

int vf_g_concat(vf_graph *g, int n, const int *xs) {
    if (g->err) return -1;
    if (n < 1) return gfail(g, "concat: no inputs");
    int64_t R = -1, C = 0;
    for (int i = 0; i < n; i++) {
        if (!valid(g, xs[i])) return gfail(g, "concat: input %d is not a node", i);
        const vf_gnode *x = &g->nodes[xs[i]];
        if (x->ndim != 2) return gfail(g, "concat: input %d must be 2-D", i);
        if (R >= 0 && x->shape[0] != R)
            return gfail(g, "concat: input %d has %lld rows, input 0 has %lld", i, (long long)x->shape[0], (long long)R);
        R = x->shape[0];
        C += x->shape[1];
    }
    return add_node(g, VF_G_CONCAT, n, xs, 2, R, C);
}

int vf_g_slice(vf_graph *g, int x, int64_t start, int64_t width) {
    if (g->err) return -1;
    if (!valid(g, x)) return gfail(g, "slice: bad input");
    const vf_gnode *X = &g->nodes[x];
    if (X->ndim != 2) return gfail(g, "slice: input must be 2-D");
    if (start < 0 || width < 1 || start + width > X->shape[1])
        return gfail(g, "slice: columns [%lld, %lld) outside [0, %lld)", (long long)start,
                     (long long)(start + width), (long long)X->shape[1]);
    int id = add_node(g, VF_G_SLICE, 1, &x, 2, X->shape[0], width);
    if (id >= 0) {
        g->nodes[id].start = start;
        g->nodes[id].width = width;
    }
    return id;
}

int vf_g_pad(vf_graph *g, int x, int64_t start, int64_t width) {
    if (g->err) return -1;
    if (!valid(g, x)) return gfail(g, "pad: bad input");
    const vf_gnode *X = &g->nodes[x];
    if (X->ndim != 2) return gfail(g, "pad: input must be 2-D");
    if (start < 0 || start + X->shape[1] > width) return gfail(g, "pad: input does not fit");
    int id = add_node(g, VF_G_PAD, 1, &x, 2, X->shape[0], width);
    if (id >= 0) {
        g->nodes[id].start = start;
        g->nodes[id].width = width;
    }
    return id;
}

int vf_g_softmax(vf_graph *g, int x, bool log) {
    if (g->err) return -1;
    if (!valid(g, x)) return gfail(g, "softmax: bad input");
    return add_like(g, log ? VF_G_LOG_SOFTMAX : VF_G_SOFTMAX, 1, &x, x);
}

static int norm(vf_graph *g, vf_gop op, int x, int gamma, int beta, float eps) {
    if (g->err) return -1;
    int in[3] = {x, gamma, beta};
    for (int i = 0; i < 3; i++)
        if (!valid(g, in[i])) return gfail(g, "%s: bad input", vf_gop_name(op));
    const vf_gnode *X = &g->nodes[x];
    int64_t C = vf_gnode_cols(X);
    if (X->ndim != 2) return gfail(g, "%s: x must be 2-D", vf_gop_name(op));
    for (int i = 1; i < 3; i++)
        if (g->nodes[in[i]].ndim != 1 || g->nodes[in[i]].shape[0] != C)
            return gfail(g, "%s: %s must be [%lld]", vf_gop_name(op), i == 1 ? "gamma" : "beta", (long long)C);
    if (!(eps > 0)) return gfail(g, "%s: eps must be > 0", vf_gop_name(op));
    int id = add_like(g, op, 3, in, x);
    if (id >= 0) g->nodes[id].imm = eps;
    return id;
}

int vf_g_batchnorm(vf_graph *g, int x, int gamma, int beta, float eps) {
    return norm(g, VF_G_BATCHNORM, x, gamma, beta, eps);
}
int vf_g_layernorm(vf_graph *g, int x, int gamma, int beta, float eps) {
    return norm(g, VF_G_LAYERNORM, x, gamma, beta, eps);
}

int vf_g_embedding(vf_graph *g, int idx, int table) {
    if (g->err) return -1;
    if (!valid(g, idx) || !valid(g, table)) return gfail(g, "embedding: bad input");
    const vf_gnode *I = &g->nodes[idx], *T = &g->nodes[table];
    if (I->dtype != VF_I32 || I->ndim != 1) return gfail(g, "embedding: indices must be an int32 [N] input");
    if (T->ndim != 2) return gfail(g, "embedding: table must be [V, D]");
    int in[2] = {idx, table};
    return add_node(g, VF_G_EMBEDDING, 2, in, 2, I->shape[0], T->shape[1]);
}

int vf_g_reshape(vf_graph *g, int x, int ndim, const int64_t *shape) {
    if (g->err) return -1;
    if (!valid(g, x)) return gfail(g, "reshape: input is not a node (an earlier error?)");
    if (ndim < 1 || ndim > 2 || !shape) return gfail(g, "reshape: shape must have 1 or 2 dimensions");
    const vf_gnode *X = &g->nodes[x];
    int64_t n = ndim == 2 ? shape[0] * shape[1] : shape[0];
    if (X->dtype != VF_F32) return gfail(g, "reshape: float32 input needed");
    if (n != vf_gnode_numel(X)) {
        char a[48];
        return gfail(g, "reshape: %s has %lld elements, the new shape %lld", vf_gnode_shape_str(X, a, sizeof a),
                     (long long)vf_gnode_numel(X), (long long)n);
    }
    return add_shaped(g, VF_G_RESHAPE, 1, &x, ndim, shape);
}

int vf_g_detach(vf_graph *g, int x) {
    if (g->err) return -1;
    if (!valid(g, x)) return gfail(g, "detach: input is not a node (an earlier error?)");
    int id = vf_g_ew(g, VF_EW_LOAD, 1, &x, 0.0f);
    if (id >= 0) g->nodes[id].stop = true;
    return id;
}

int vf_g_onehot_argmax(vf_graph *g, int x) {
    if (g->err) return -1;
    if (!valid(g, x)) return gfail(g, "onehot_argmax: input is not a node (an earlier error?)");
    if (g->nodes[x].ndim != 2 || g->nodes[x].dtype != VF_F32) return gfail(g, "onehot_argmax: x must be 2-D float32");
    return add_like(g, VF_G_ONEHOT_ARGMAX, 1, &x, x);
}

int vf_g_tri(vf_graph *g, int64_t n, bool strict) {
    int id = add_node(g, VF_G_TRI, 0, NULL, 2, n, n);
    if (id >= 0) g->nodes[id].imm = strict ? 1.0f : 0.0f;
    return id;
}

int vf_g_cumsum(vf_graph *g, int x, bool exclusive) {
    if (g->err) return -1;
    if (!valid(g, x)) return gfail(g, "cumsum: input is not a node (an earlier error?)");
    if (g->nodes[x].ndim != 2) return gfail(g, "cumsum: x must be [R, T]");
    return vf_g_matmul(g, x, false, vf_g_tri(g, g->nodes[x].shape[1], exclusive), false);
}

/* -------------------------------------------------------------- composites */

int vf_g_dense(vf_graph *g, int x, int w, int b) {
    int y = vf_g_matmul(g, x, false, w, false);
    return b >= 0 ? vf_g_add(g, y, b) : y;
}

int vf_g_lstm(vf_graph *g, int x, int64_t T, int wx, int wh, int b, int *h_steps) {
    if (g->err) return -1;
    if (!valid(g, x) || !valid(g, wx) || !valid(g, wh) || !valid(g, b)) return gfail(g, "lstm: bad input");
    const vf_gnode *X = &g->nodes[x], *WX = &g->nodes[wx], *WH = &g->nodes[wh];
    if (X->ndim != 2 || WX->ndim != 2 || WH->ndim != 2 || T < 1 || X->shape[1] % T)
        return gfail(g, "lstm: x must be [B, T*F] with T = %lld", (long long)T);
    int64_t B = X->shape[0], F = X->shape[1] / T, H = WH->shape[0];
    if (WX->shape[0] != F || WX->shape[1] != 4 * H || WH->shape[1] != 4 * H)
        return gfail(g, "lstm: weights must be wx [%lld, %lld] and wh [%lld, %lld]", (long long)F,
                     (long long)(4 * H), (long long)H, (long long)(4 * H));
    int h = -1, c = -1;
    for (int64_t t = 0; t < T; t++) {
        int xt = T == 1 ? x : vf_g_slice(g, x, t * F, F);
        int z = vf_g_matmul(g, xt, false, wx, false);
        if (h >= 0) z = vf_g_add(g, z, vf_g_matmul(g, h, false, wh, false));
        z = vf_g_add(g, z, b);
        int gi = vf_g_un(g, VF_EW_SIGMOID, vf_g_slice(g, z, 0, H));
        int gf = vf_g_un(g, VF_EW_SIGMOID, vf_g_slice(g, z, H, H));
        int gg = vf_g_un(g, VF_EW_TANH, vf_g_slice(g, z, 2 * H, H));
        int go = vf_g_un(g, VF_EW_SIGMOID, vf_g_slice(g, z, 3 * H, H));
        int ig = vf_g_mul(g, gi, gg);
        c = c >= 0 ? vf_g_add(g, vf_g_mul(g, gf, c), ig) : ig;
        h = vf_g_mul(g, go, vf_g_un(g, VF_EW_TANH, c));
        if (h_steps) h_steps[t] = h;
    }
    (void)B;
    return h;
}

int vf_g_mse(vf_graph *g, int a, int b) {
    return vf_g_sum(g, vf_g_un(g, VF_EW_SQUARE, vf_g_sub(g, a, b)), VF_REDUCE_ALL, true);
}

/* mean(softplus(x) - x t): the stable form of -t log s(x) - (1-t) log(1-s(x)) */
int vf_g_bce_logits(vf_graph *g, int logits, int target) {
    int l = vf_g_sub(g, vf_g_un(g, VF_EW_SOFTPLUS, logits), vf_g_mul(g, logits, target));
    return vf_g_sum(g, l, VF_REDUCE_ALL, true);
}

/* ---------------------------------------------------------------- autodiff */

/* Adds contribution c to grads[x] (summing when one is there). */
static void acc(vf_graph *g, int *grad, int x, int c) {
    if (c < 0) return;
    grad[x] = grad[x] < 0 ? c : vf_g_add(g, grad[x], c);
}

/* Reduces a full-shape contribution to the broadcast input's shape. */
static int unbroadcast(vf_graph *g, int c, int bc) {
    switch (bc) {
    case VF_BC_ROW: return vf_g_sum(g, c, VF_REDUCE_COLS, false);
    case VF_BC_COL: return vf_g_sum(g, c, VF_REDUCE_ROWS, false);
    case VF_BC_SCALAR: return vf_g_sum(g, c, VF_REDUCE_ALL, false);
    default: return c;
    }
}

/* An EW node of y's shape computing op over (x_i with broadcast bc_i). */
static int ew_as(vf_graph *g, int like, vf_ew_op op, int n, const int *in, const uint8_t *bc, float imm) {
    vf_gnode L = g->nodes[like];
    return vf_g_ew_bc(g, op, n, in, bc, L.ndim, L.shape, imm);
}

/* The local gradient rules of the elementwise primitives: contributions to
 * each input (full output shape), written with elementwise primitives only,
 * so they are differentiable again. */
static vf_status ew_vjp(vf_graph *g, int y, int dy, int *grad) {
    vf_gnode N = g->nodes[y];
    const int *in = N.in;
    const uint8_t F = VF_BC_FULL;
    int c[3] = {-1, -1, -1};
    int a = in[0], b = N.n_in > 1 ? in[1] : -1;
    /* a and b with their broadcasts, as operands of EW nodes shaped like y */
    uint8_t ba = N.bc[0], bb = N.bc[1];
#define E2(op, x, bx, z, bz) ew_as(g, y, op, 2, (int[]){x, z}, (uint8_t[]){bx, bz}, 0.0f)
#define E1(op, x, bx) ew_as(g, y, op, 1, (int[]){x}, (uint8_t[]){bx}, 0.0f)
    int one = vf_g_scalar(g, 1.0f), zero = vf_g_scalar(g, 0.0f);
    const uint8_t S = VF_BC_SCALAR;
    if (N.stop) return VF_OK; /* detach: no gradient flows back */
    switch (N.ew) {
    case VF_EW_LOAD: c[0] = dy; break;
    case VF_EW_ADD: c[0] = dy; c[1] = dy; break;
    case VF_EW_SUB: c[0] = dy; c[1] = E1(VF_EW_NEG, dy, F); break;
    case VF_EW_MUL: c[0] = E2(VF_EW_MUL, dy, F, b, bb); c[1] = E2(VF_EW_MUL, dy, F, a, ba); break;
    case VF_EW_DIV: /* y = a / b: da = dy / b, db = -dy y / b */
        c[0] = E2(VF_EW_DIV, dy, F, b, bb);
        c[1] = E1(VF_EW_NEG, E2(VF_EW_DIV, E2(VF_EW_MUL, dy, F, y, F), F, b, bb), F);
        break;
    case VF_EW_MAX: case VF_EW_MIN: { /* the chosen operand gets dy */
        int d = N.ew == VF_EW_MAX ? E2(VF_EW_SUB, a, ba, b, bb) : E2(VF_EW_SUB, b, bb, a, ba);
        c[0] = ew_as(g, y, VF_EW_SELECT, 3, (int[]){d, dy, zero}, (uint8_t[]){F, F, S}, 0);
        c[1] = ew_as(g, y, VF_EW_SELECT, 3, (int[]){d, zero, dy}, (uint8_t[]){F, S, F}, 0);
        break;
    }
    case VF_EW_NEG: c[0] = E1(VF_EW_NEG, dy, F); break;
    case VF_EW_ABS:
        c[0] = ew_as(g, y, VF_EW_SELECT, 3, (int[]){a, dy, E1(VF_EW_NEG, dy, F)}, (uint8_t[]){ba, F, F}, 0);
        break;
    case VF_EW_SQUARE: /* 2 a dy */
        c[0] = E2(VF_EW_MUL, E2(VF_EW_MUL, a, ba, dy, F), F, vf_g_scalar(g, 2.0f), S);
        break;
    case VF_EW_SQRT: /* dy / (2 y) */
        c[0] = E2(VF_EW_DIV, E2(VF_EW_MUL, dy, F, vf_g_scalar(g, 0.5f), S), F, y, F);
        break;
    case VF_EW_RSQRT: { /* y = a^-1/2: dy * (-0.5) y^3 */
        int y3 = E2(VF_EW_MUL, E1(VF_EW_SQUARE, y, F), F, y, F);
        c[0] = E2(VF_EW_MUL, E2(VF_EW_MUL, dy, F, y3, F), F, vf_g_scalar(g, -0.5f), S);
        break;
    }
    case VF_EW_EXP: c[0] = E2(VF_EW_MUL, dy, F, y, F); break;
    case VF_EW_LOG: c[0] = E2(VF_EW_DIV, dy, F, a, ba); break;
    case VF_EW_LOG1P: c[0] = E2(VF_EW_DIV, dy, F, E2(VF_EW_ADD, a, ba, one, S), F); break;
    case VF_EW_TANH: /* dy (1 - y^2) */
        c[0] = E2(VF_EW_MUL, dy, F, E2(VF_EW_SUB, one, S, E1(VF_EW_SQUARE, y, F), F), F);
        break;
    case VF_EW_SIGMOID: /* dy y (1 - y) */
        c[0] = E2(VF_EW_MUL, E2(VF_EW_MUL, dy, F, y, F), F, E2(VF_EW_SUB, one, S, y, F), F);
        break;
    case VF_EW_SOFTPLUS: c[0] = E2(VF_EW_MUL, dy, F, E1(VF_EW_SIGMOID, a, ba), F); break;
    case VF_EW_RELU: c[0] = E2(VF_EW_MUL, dy, F, E1(VF_EW_STEP, a, ba), F); break;
    case VF_EW_LEAKY_RELU: { /* a > 0 ? dy : slope dy */
        int sdy = E2(VF_EW_MUL, dy, F, vf_g_scalar(g, N.imm), S);
        c[0] = ew_as(g, y, VF_EW_SELECT, 3, (int[]){a, dy, sdy}, (uint8_t[]){ba, F, F}, 0);
        break;
    }
    case VF_EW_STEP: break; /* zero almost everywhere */
    case VF_EW_SELECT: /* no gradient to the condition */
        c[1] = ew_as(g, y, VF_EW_SELECT, 3, (int[]){a, dy, zero}, (uint8_t[]){ba, F, S}, 0);
        c[2] = ew_as(g, y, VF_EW_SELECT, 3, (int[]){a, zero, dy}, (uint8_t[]){ba, S, F}, 0);
        break;
    case VF_EW_SIN: c[0] = E2(VF_EW_MUL, dy, F, E1(VF_EW_COS, a, ba), F); break;   /* dy cos(a) */
    case VF_EW_COS: c[0] = E1(VF_EW_NEG, E2(VF_EW_MUL, dy, F, E1(VF_EW_SIN, a, ba), F), F); break; /* -dy sin(a) */
    default: return vf_fail(VF_ERR_UNSUPPORTED, "autodiff: no rule for elementwise %s", vf_ew_op_name(N.ew));
    }
#undef E1
#undef E2
    for (int i = 0; i < N.n_in; i++)
        if (c[i] >= 0) acc(g, grad, in[i], unbroadcast(g, c[i], N.bc[i]));
    return VF_OK;
}

vf_status vf_graph_vjp(vf_graph *g, int y, int dy, int n_wrt, const int *wrt, int *grads) {

    if (g->err) return vf_graph_status(g);
    if (!valid(g, y)) return vf_fail(VF_ERR_ARG, "vjp: y is not a node");
    for (int i = 0; i < n_wrt; i++)
        if (!valid(g, wrt[i])) return vf_fail(VF_ERR_ARG, "vjp: wrt[%d] is not a node", i);
    if (dy < 0) {
        const vf_gnode *Y = &g->nodes[y];
        dy = vf_g_const(g, 1.0f, Y->ndim, Y->shape);
    } else if (!valid(g, dy) || !same_shape(&g->nodes[dy], &g->nodes[y])) {
        return vf_fail(VF_ERR_ARG, "vjp: dy must have y's shape");
    }
    int n0 = g->n;
    /* only nodes on a path from some wrt to y matter */
    bool *from = calloc((size_t)n0, 1), *to = calloc((size_t)n0, 1);
    int *grad = malloc((size_t)n0 * sizeof(int));
    if (!from || !to || !grad) {
        free(from); free(to); free(grad);
        return vf_fail(VF_ERR_OOM, "vjp: out of memory");
    }
    for (int i = 0; i < n0; i++) grad[i] = -1;
    for (int i = 0; i < n_wrt; i++) from[wrt[i]] = true;
    for (int i = 0; i < n0; i++)
        for (int k = 0; k < g->nodes[i].n_in && !from[i]; k++)
            if (from[g->nodes[i].in[k]]) from[i] = true;
    to[y] = true;
    for (int i = y; i >= 0; i--)
        if (to[i])
            for (int k = 0; k < g->nodes[i].n_in; k++) to[g->nodes[i].in[k]] = true;
    grad[y] = dy;
    vf_status st = VF_OK;
    for (int i = y; i >= 0 && !st && !g->err; i--) {
        if (!from[i] || !to[i] || grad[i] < 0) continue;
        vf_gnode N = g->nodes[i]; /* by value: builders may move the array */
        int d = grad[i];
        switch (N.op) {
        case VF_G_INPUT: case VF_G_PARAM: case VF_G_NOISE: case VF_G_CONST: case VF_G_TRI: break;
        case VF_G_ONEHOT_ARGMAX: break; /* piecewise constant: no gradient flows back */
        case VF_G_RESHAPE: {
            const vf_gnode *X = &g->nodes[N.in[0]];
            int64_t sh[2] = {X->shape[0], X->shape[1]};
            acc(g, grad, N.in[0], vf_g_reshape(g, d, X->ndim, sh));
            break;
        }
        case VF_G_MATMUL: {
            int A = N.in[0], B = N.in[1];
            int da, db;
            if (!N.ta && !N.tb) { da = vf_g_matmul(g, d, false, B, true); db = vf_g_matmul(g, A, true, d, false); }
            else if (!N.ta && N.tb) { da = vf_g_matmul(g, d, false, B, false); db = vf_g_matmul(g, d, true, A, false); }
            else if (N.ta && !N.tb) { da = vf_g_matmul(g, B, false, d, true); db = vf_g_matmul(g, A, false, d, false); }
            else { da = vf_g_matmul(g, B, true, d, true); db = vf_g_matmul(g, d, true, A, true); }
            if (from[A]) acc(g, grad, A, da);
            if (from[B]) acc(g, grad, B, db);
            break;
        }
        case VF_G_EW: st = ew_vjp(g, i, d, grad); break;
        case VF_G_SUM: {
            const vf_gnode *X = &g->nodes[N.in[0]];
            int64_t R = vf_gnode_rows(X), C = vf_gnode_cols(X);
            uint8_t bc = N.axis == VF_REDUCE_ROWS ? VF_BC_COL : N.axis == VF_REDUCE_COLS ? VF_BC_ROW : VF_BC_SCALAR;
            int64_t cnt = N.axis == VF_REDUCE_ROWS ? C : N.axis == VF_REDUCE_COLS ? R : R * C;
            int64_t shape[2] = {X->shape[0], X->shape[1]};
            int b = vf_g_ew_bc(g, VF_EW_LOAD, 1, &d, &bc, X->ndim, shape, 0.0f);
            if (N.mean) b = vf_g_scale(g, b, 1.0f / (float)cnt);
            acc(g, grad, N.in[0], b);
            break;
        }
        case VF_G_CONCAT: {
            int64_t off = 0;
            for (int k = 0; k < N.n_in; k++) {
                int64_t w = g->nodes[N.in[k]].shape[1];
                if (from[N.in[k]]) acc(g, grad, N.in[k], vf_g_slice(g, d, off, w));
                off += w;
            }
            break;
        }
        case VF_G_SLICE:
            acc(g, grad, N.in[0], vf_g_pad(g, d, N.start, g->nodes[N.in[0]].shape[1]));
            break;
        case VF_G_PAD: acc(g, grad, N.in[0], vf_g_slice(g, d, N.start, g->nodes[N.in[0]].shape[1])); break;
        case VF_G_SOFTMAX: case VF_G_LOG_SOFTMAX: {
            int in[2] = {i, d};
            int dx = add_like(g, N.op == VF_G_SOFTMAX ? VF_G_SOFTMAX_BWD : VF_G_LOG_SOFTMAX_BWD, 2, in, i);
            acc(g, grad, N.in[0], dx);
            break;
        }
        case VF_G_BATCHNORM: case VF_G_LAYERNORM: {
            int in[4] = {N.in[0], N.in[1], i, d};
            int dx = add_like(g, VF_G_NORM_BWD, 4, in, N.in[0]);
            if (dx >= 0) g->nodes[dx].axis = N.op;
            if (from[N.in[0]]) acc(g, grad, N.in[0], dx);
            for (int k = 0; k < 2; k++) {
                if (!from[N.in[1 + k]]) continue;
                int ax = add_like(g, VF_G_AUX, 1, &dx, N.in[1 + k]);
                if (ax >= 0) g->nodes[ax].axis = k;
                acc(g, grad, N.in[1 + k], ax);
            }
            break;
        }
        case VF_G_EMBEDDING: {
            int in[2] = {N.in[0], d};
            acc(g, grad, N.in[1], add_like(g, VF_G_EMBEDDING_BWD, 2, in, N.in[1]));
            break;
        }
        case VF_G_SOFTMAX_BWD: case VF_G_LOG_SOFTMAX_BWD: case VF_G_NORM_BWD: case VF_G_AUX:
        case VF_G_EMBEDDING_BWD: {
            const char *what = vf_gop_name(N.op);
            if (N.op == VF_G_NORM_BWD || N.op == VF_G_AUX) {
                int f = N.op == VF_G_AUX ? N.in[0] : i;
                int fwd = g->nodes[f].op == VF_G_NORM_BWD ? g->nodes[f].axis : (int)g->nodes[f].op;
                what = fwd == VF_G_BATCHNORM ? "batchnorm" : "layernorm";
            } else if (N.op == VF_G_EMBEDDING_BWD) {
                what = "embedding";
            } else {
                what = N.op == VF_G_SOFTMAX_BWD ? "softmax" : "log_softmax";
            }
            st = vf_fail(VF_ERR_UNSUPPORTED, "second-order gradient of %s not supported", what);
            break;
        }
        default: st = vf_fail(VF_ERR_UNSUPPORTED, "autodiff: no rule for %s", vf_gop_name(N.op));
        }
    }
    if (!st && g->err) st = vf_graph_status(g);
    for (int k = 0; k < n_wrt && !st; k++) {
        int w = wrt[k];
        grads[k] = grad[w];
        if (grads[k] < 0) grads[k] = vf_g_const(g, 0.0f, g->nodes[w].ndim, g->nodes[w].shape);
    }
    free(from);
    free(to);
    free(grad);
    if (!st && g->err) st = vf_graph_status(g);
    return st;
}

/* ----------------------------------------------------------------- penalties */

/* Per-example squared norms of grad_x sum(d_out): [B]. D treats examples
 * independently (no batch statistics), so row b of the gradient is
 * grad_{x_b} D(x_b). */
static int grad_sqnorm(vf_graph *g, int d_out, int x) {
    if (g->err) return -1;
    int gx;
    if (vf_graph_vjp(g, d_out, -1, 1, &x, &gx)) {
        if (!g->err) {
            g->err = VF_ERR_ARG;
            snprintf(g->errmsg, sizeof g->errmsg, "%s", vf_last_error());
        }
        return -1;
    }
    if (g->nodes[gx].ndim != 2) return gfail(g, "gradient penalty: x must be [B, F]");
    return vf_g_sum(g, vf_g_un(g, VF_EW_SQUARE, gx), VF_REDUCE_ROWS, false);
}

int vf_g_wgan_gp(vf_graph *g, int d_out, int x) {
    int n2 = grad_sqnorm(g, d_out, x);
    /* 1e-12 keeps d sqrt / d n2 finite where a gradient vanishes exactly */
    int norm = vf_g_un(g, VF_EW_SQRT, vf_g_addc(g, n2, 1e-12f));
    int dev = vf_g_un(g, VF_EW_SQUARE, vf_g_addc(g, norm, -1.0f));
    return vf_g_sum(g, dev, VF_REDUCE_ALL, true);
}

int vf_g_r1(vf_graph *g, int d_out, int x) {
    return vf_g_sum(g, grad_sqnorm(g, d_out, x), VF_REDUCE_ALL, true);
}

/* --------------------------------------------------------------------- DOT */

void vf_graph_dot(const vf_graph *g, const bool *keep, const char *title, FILE *f) {
    fprintf(f, "digraph \"%s\" {\n  rankdir=TB;\n  node [fontname=\"monospace\", fontsize=10];\n",
            title ? title : "graph");
    for (int i = 0; i < g->n; i++) {
        if (keep && !keep[i]) continue;
        const vf_gnode *n = &g->nodes[i];
        char sh[48];
        vf_gnode_shape_str(n, sh, sizeof sh);
        const char *style = "";
        switch (n->op) {
        case VF_G_INPUT: case VF_G_NOISE: style = ", shape=box, style=filled, fillcolor=\"#d8e8ff\""; break;
        case VF_G_PARAM: style = ", shape=box, style=filled, fillcolor=\"#ffe8c0\""; break;
        case VF_G_CONST: style = ", shape=plaintext"; break;
        case VF_G_MATMUL: style = ", style=filled, fillcolor=\"#f0d0d0\""; break;
        default: break;
        }
        char what[64];
        if (n->op == VF_G_EW) snprintf(what, sizeof what, "%s", vf_ew_op_name(n->ew));
        else if (n->op == VF_G_CONST) snprintf(what, sizeof what, "%g", (double)n->imm);
        else if (n->op == VF_G_MATMUL) snprintf(what, sizeof what, "matmul%s%s", n->ta ? " tA" : "", n->tb ? " tB" : "");
        else snprintf(what, sizeof what, "%s", vf_gop_name(n->op));
        fprintf(f, "  n%d [label=\"%d: %s%s%s\\n%s\"%s];\n", i, i, what, n->name ? " " : "",
                n->name ? n->name : "", sh, style);
        for (int k = 0; k < n->n_in; k++)
            if (!keep || keep[n->in[k]]) fprintf(f, "  n%d -> n%d;\n", n->in[k], i);
    }
    fprintf(f, "}\n");
}
