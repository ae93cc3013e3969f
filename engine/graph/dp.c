/* DP-SGD as a graph rewrite: per-example norms and clipping from the
 * structure of the gradients (dp.h). */
#include "dp.h"

#include <stdlib.h>
#include <string.h>

enum { T_MM, T_ROWS, T_ALL };

/* One term of a parameter's gradient: s * matmul(a, ta, b) (T_MM), s * the
 * column sums of a (T_ROWS: a bias), or s * the sum of a (T_ALL: a scalar). */
typedef struct term { int kind, a, b; float s; } term;

#define MAX_TERMS 256

typedef struct walk {
    vf_graph *g;
    const char *what, *param;
    int64_t B;
    term t[MAX_TERMS];
    int n;
} walk;

static const char *name_of(const vf_graph *g, int id) {
    const char *s = g->nodes[id].name;
    return s ? s : "?";
}

static vf_status unsupported(walk *w, int node, const char *why) {
    const vf_gnode *N = &w->g->nodes[node];
    const char *op = N->op == VF_G_EW ? vf_ew_op_name(N->ew) : vf_gop_name(N->op);
    return vf_fail(VF_ERR_UNSUPPORTED,
                   "privacy: program '%s': the gradient of parameter '%s' has a %s node (%s); per-example clipping "
                   "needs every use of a private network's parameter to be a dense layer (x @ W) or a broadcast bias "
                   "(batchnorm, layernorm and embedding tables are not supported)",
                   w->what, w->param, op, why);
}

static bool scalar_const(const vf_graph *g, int id, float *v) {
    const vf_gnode *N = &g->nodes[id];
    if (N->op != VF_G_CONST || vf_gnode_numel(N) != 1) return false;
    *v = N->imm;
    return true;
}

static bool rows_are_batch(const walk *w, int id) {
    const vf_gnode *N = &w->g->nodes[id];
    return N->ndim == 2 && N->shape[0] == w->B;
}

/* Splits the gradient expression at node into terms (scale s so far). */
static vf_status collect(walk *w, int node, float s) {
    vf_graph *g = w->g;
    const vf_gnode N = g->nodes[node];
    float c;
    switch (N.op) {
    case VF_G_CONST:
        if (N.imm == 0.0f) return VF_OK; /* the parameter does not reach the loss this way */
        return unsupported(w, node, "a non-zero constant");
    case VF_G_EW:
        if (N.stop) return unsupported(w, node, "a detached value");
        if (N.ew == VF_EW_LOAD && N.n_in == 1 && N.bc[0] == VF_BC_FULL) return collect(w, N.in[0], s);
        if (N.ew == VF_EW_ADD && N.n_in == 2 && N.bc[0] == VF_BC_FULL && N.bc[1] == VF_BC_FULL) {
            VF_TRY(collect(w, N.in[0], s));
            return collect(w, N.in[1], s);
        }
        if (N.ew == VF_EW_MUL && N.n_in == 2) {
            for (int k = 0; k < 2; k++)
                if (N.bc[1 - k] == VF_BC_FULL && scalar_const(g, N.in[k], &c)) return collect(w, N.in[1 - k], s * c);
        }
        return unsupported(w, node, "an elementwise operation other than a sum or a constant scale");
    case VF_G_MATMUL:
        if (!N.ta || N.tb) return unsupported(w, node, "a product that does not sum over the batch's rows");
        if (!rows_are_batch(w, N.in[0]) || !rows_are_batch(w, N.in[1]))
            return unsupported(w, node, "a product whose rows are not the batch's examples");
        break;
    case VF_G_SUM:
        if (N.axis == VF_REDUCE_ROWS) return unsupported(w, node, "a sum along rows");
        if (!rows_are_batch(w, N.in[0])) return unsupported(w, node, "a sum whose rows are not the batch's examples");
        if (N.mean) s /= (float)(N.axis == VF_REDUCE_COLS ? w->B : vf_gnode_numel(&g->nodes[N.in[0]]));
        break;
    default: return unsupported(w, node, "not a dense layer's or a bias's gradient");
    }
    if (w->n == MAX_TERMS) return vf_fail(VF_ERR_UNSUPPORTED, "privacy: program '%s': parameter '%s' is used more than "
                                          "%d times", w->what, w->param, MAX_TERMS);
    int kind = N.op == VF_G_MATMUL ? T_MM : N.axis == VF_REDUCE_COLS ? T_ROWS : T_ALL;
    w->t[w->n++] = (term){kind, N.in[0], N.op == VF_G_MATMUL ? N.in[1] : -1, s};
    return VF_OK;
}

/* Node caches of the rewrite: a pair (x, y) -> node (y = -1 for one-node keys). */
typedef struct node_memo { int x, y, node; } node_memo;
typedef struct memo { node_memo *m; int n, cap; } memo;

static int memo_get(const memo *c, int x, int y) {
    for (int i = 0; i < c->n; i++)
        if (c->m[i].x == x && c->m[i].y == y) return c->m[i].node;
    return -1;
}

/* Remembers node for (x, y); returns node, or -1 out of memory. */
static int memo_put(memo *c, int x, int y, int node) {
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 64;
        node_memo *m = realloc(c->m, (size_t)cap * sizeof *m);
        if (!m) return -1;
        c->m = m;
        c->cap = cap;
    }
    c->m[c->n++] = (node_memo){x, y, node};
    return node;
}

typedef struct rewrite {
    vf_graph *g;
    memo dots;                    /* row-wise dot products x[r] . y[r] -> [B] */
    memo scaled;                  /* Q -> Q (.) w per row */
    int w;                        /* [B] per-row factor */
} rewrite;

static int rowdot(rewrite *r, int x, int y) {
    if (x > y) { int t = x; x = y; y = t; }
    int d = memo_get(&r->dots, x, y);
    if (d >= 0) return d;
    int prod = x == y ? vf_g_un(r->g, VF_EW_SQUARE, x) : vf_g_mul(r->g, x, y);
    return memo_put(&r->dots, x, y, vf_g_sum(r->g, prod, VF_REDUCE_ROWS, false));
}

/* x with row r multiplied by w[r]. */
static int scaled(rewrite *r, int x) {
    int y = memo_get(&r->scaled, x, -1);
    if (y >= 0) return y;
    const vf_gnode *X = &r->g->nodes[x];
    int64_t sh[2] = {X->shape[0], X->shape[1]};
    y = vf_g_ew_bc(r->g, VF_EW_MUL, 2, (int[]){x, r->w}, (uint8_t[]){VF_BC_FULL, VF_BC_COL}, X->ndim, sh, 0.0f);
    return memo_put(&r->scaled, x, -1, y);
}

/* The gradient expression at node again, with every per-row operand scaled
 * by w: the same operations in the same order, so w = 1 reproduces the
 * original values bit for bit. */
static int rebuild(rewrite *r, int node) {
    vf_graph *g = r->g;
    const vf_gnode N = g->nodes[node];
    if (g->err) return -1;
    switch (N.op) {
    case VF_G_CONST: return node;
    case VF_G_EW:
        if (N.ew == VF_EW_LOAD) return rebuild(r, N.in[0]);
        if (N.ew == VF_EW_ADD) {
            int a = rebuild(r, N.in[0]);
            return vf_g_add(g, a, rebuild(r, N.in[1]));
        }
        /* MUL by a scalar constant (collect checked it) */
        {
            int in[2] = {N.in[0], N.in[1]};
            for (int k = 0; k < 2; k++)
                if (N.bc[k] == VF_BC_FULL) in[k] = rebuild(r, in[k]);
            int64_t sh[2] = {N.shape[0], N.shape[1]};
            return vf_g_ew_bc(g, VF_EW_MUL, 2, in, N.bc, N.ndim, sh, 0.0f);
        }
    case VF_G_MATMUL: return vf_g_matmul(g, N.in[0], true, scaled(r, N.in[1]), false);
    case VF_G_SUM: return vf_g_sum(g, scaled(r, N.in[0]), (vf_reduce_axis)N.axis, N.mean);
    default: return -1;
    }
}

/* Squared per-example norm of one parameter's gradient / loss_scale^2: [B]. */
static int param_sqnorm(rewrite *r, const walk *w) {
    vf_graph *g = r->g;
    int kind = w->t[0].kind, acc = -1;
    for (int k = 1; k < w->n; k++)
        if (w->t[k].kind != kind) {
            vf_fail(VF_ERR_UNSUPPORTED, "privacy: program '%s': parameter '%s' is used both as a weight and as a bias",
                    w->what, w->param);
            return -2;
        }
    if (kind == T_MM) {
        for (int k = 0; k < w->n; k++)
            for (int l = k; l < w->n; l++) {
                const term *a = &w->t[k], *b = &w->t[l];
                int x = vf_g_mul(g, rowdot(r, a->a, b->a), rowdot(r, a->b, b->b));
                x = vf_g_scale(g, x, a->s * b->s * (k == l ? 1.0f : 2.0f));
                acc = acc < 0 ? x : vf_g_add(g, acc, x);
            }
        return acc;
    }
    /* T_ROWS: v_i = sum_k s_k V_k[i] ([C] per example); T_ALL: the row sums */
    for (int k = 0; k < w->n; k++) {
        int x = vf_g_scale(g, w->t[k].a, w->t[k].s);
        acc = acc < 0 ? x : vf_g_add(g, acc, x);
    }
    if (kind == T_ROWS) return vf_g_sum(g, vf_g_un(g, VF_EW_SQUARE, acc), VF_REDUCE_ROWS, false);
    int v = vf_g_sum(g, acc, VF_REDUCE_ROWS, false);
    return vf_g_un(g, VF_EW_SQUARE, v);
}

/* Batch statistics between the parameters and their gradients mix
 * examples: refuse. */
static vf_status check_row_independent(vf_graph *g, const char *what, int n, const int *params, const int *grads) {
    int N = g->n;
    bool *down = calloc((size_t)N, 1), *up = calloc((size_t)N, 1);
    if (!down || !up) {
        free(down); free(up);
        return vf_fail(VF_ERR_OOM, "privacy: out of memory");
    }
    for (int k = 0; k < n; k++) down[params[k]] = up[grads[k]] = true;
    for (int i = 0; i < N; i++)
        for (int k = 0; k < g->nodes[i].n_in && !down[i]; k++) down[i] = down[g->nodes[i].in[k]];
    for (int i = N - 1; i >= 0; i--)
        if (up[i])
            for (int k = 0; k < g->nodes[i].n_in; k++) up[g->nodes[i].in[k]] = true;
    vf_status st = VF_OK;
    for (int i = 0; i < N && !st; i++)
        if (down[i] && up[i] && g->nodes[i].op == VF_G_BATCHNORM)
            st = vf_fail(VF_ERR_UNSUPPORTED, "privacy: program '%s': a batchnorm (node '%s') lies between the private "
                         "parameters and the loss; its batch statistics mix examples, so per-example gradients are "
                         "not defined (use layer-free or per-row normalisation in networks that read private data)",
                         what, name_of(g, i));
    free(down);
    free(up);
    return st;
}

vf_status vf_graph_dp_sgd(vf_graph *g, const char *what, int n, const int *params, const int *grads,
                          const vf_dp_inputs *in, int *out_grads, int *norms, int *clipped) {
    VF_TRY(vf_graph_status(g));
    if (n < 1) return vf_fail(VF_ERR_ARG, "privacy: program '%s' updates no parameters", what);
    const vf_gnode *M = &g->nodes[in->mask];
    int64_t B = vf_gnode_numel(M);
    VF_TRY(check_row_independent(g, what, n, params, grads));
    walk *w = calloc((size_t)n, sizeof *w);
    rewrite r = {.g = g};
    if (!w) return vf_fail(VF_ERR_OOM, "privacy: out of memory");
    vf_status st = VF_OK;
    for (int k = 0; k < n && !st; k++) {
        w[k] = (walk){.g = g, .what = what, .param = name_of(g, params[k]), .B = B};
        st = collect(&w[k], grads[k], 1.0f);
    }
    /* sum over parameters of the squared norms, then the clip factors */
    int sq = -1;
    for (int k = 0; k < n && !st; k++) {
        if (!w[k].n) continue; /* does not reach the loss */
        int p = param_sqnorm(&r, &w[k]);
        if (p == -2) st = VF_ERR_UNSUPPORTED;
        else sq = sq < 0 ? p : vf_g_add(g, sq, p);
    }
    if (!st && sq < 0) st = vf_fail(VF_ERR_ARG, "privacy: program '%s': no parameter reaches the loss", what);
    int norm = -1;
    if (!st) {
        int64_t shB[1] = {B};
        /* ||g_i|| = loss_scale sqrt(sq_i); factor_i = mask_i min(1, C / ||g_i||) (loss_scale / L) */
        norm = vf_g_scale(g, vf_g_un(g, VF_EW_SQRT, sq), in->loss_scale);
        int ratio = vf_g_ew_bc(g, VF_EW_DIV, 2, (int[]){in->clip, norm}, (uint8_t[]){VF_BC_SCALAR, VF_BC_FULL}, 1, shB, 0);
        int one = vf_g_scalar(g, 1.0f);
        int keep = vf_g_ew_bc(g, VF_EW_MIN, 2, (int[]){ratio, one}, (uint8_t[]){VF_BC_FULL, VF_BC_SCALAR}, 1, shB, 0);
        int f = vf_g_mul(g, keep, in->mask);
        r.w = vf_g_ew_bc(g, VF_EW_MUL, 2, (int[]){f, in->row_scale}, (uint8_t[]){VF_BC_FULL, VF_BC_SCALAR}, 1, shB, 0);
        for (int k = 0; k < n && !g->err; k++) {
            const vf_gnode *P = &g->nodes[params[k]];
            int64_t sh[2] = {P->shape[0], P->shape[1]};
            int clipped_sum = w[k].n ? rebuild(&r, grads[k]) : grads[k];
            if (clipped_sum < 0 && !g->err) { st = vf_fail(VF_ERR_OOM, "privacy: out of memory"); break; }
            char nm[160];
            snprintf(nm, sizeof nm, "%s.dp_noise.%s", what, name_of(g, params[k]));
            int xi = vf_g_noise(g, nm, false, in->stream + (uint32_t)k, P->ndim, sh);
            int noise = vf_g_ew_bc(g, VF_EW_MUL, 2, (int[]){xi, in->noise_std}, (uint8_t[]){VF_BC_FULL, VF_BC_SCALAR},
                                   P->ndim, sh, 0.0f);
            const vf_gnode *G = &g->nodes[clipped_sum];
            if (G->ndim != P->ndim) /* a bias gradient [C] for a [1, C] parameter and the like */
                clipped_sum = vf_g_reshape(g, clipped_sum, P->ndim, sh);
            out_grads[k] = vf_g_add(g, clipped_sum, noise);
        }
        if (clipped) {
            int over = vf_g_un(g, VF_EW_STEP, vf_g_ew_bc(g, VF_EW_SUB, 2, (int[]){norm, in->clip},
                                                         (uint8_t[]){VF_BC_FULL, VF_BC_SCALAR}, 1, shB, 0));
            int num = vf_g_sum(g, vf_g_mul(g, over, in->mask), VF_REDUCE_ALL, false);
            int den = vf_g_ew(g, VF_EW_MAX, 2, (int[]){vf_g_sum(g, in->mask, VF_REDUCE_ALL, false), one}, 0.0f);
            *clipped = vf_g_div(g, num, den);
        }
        if (norms) *norms = norm;
    }
    free(w);
    free(r.dots.m);
    free(r.scaled.m);
    if (!st) st = vf_graph_status(g);
    return st;
}
