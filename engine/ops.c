/* Op front end: checks arguments and shapes, then builds a vf_op record and
 * hands it to the tensors' backend. Each op's record layout is documented in
 * backend.h; the kernels are engine/cpu/cpu_ops.c and shaders/<op>.comp. */
#include "backend.h"
#include "util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[VF_OP_COUNT] = {
    [VF_OP_FILL] = "fill",
    [VF_OP_COPY] = "copy",
    [VF_OP_MATMUL] = "matmul",
    [VF_OP_BIAS_ADD] = "bias_add",
    [VF_OP_BINARY] = "binary",
    [VF_OP_SCALE] = "scale",
    [VF_OP_UNARY] = "unary",
    [VF_OP_UNARY_BACKWARD] = "unary_backward",
    [VF_OP_SOFTMAX] = "softmax",
    [VF_OP_SOFTMAX_BACKWARD] = "softmax_backward",
    [VF_OP_COPY_COLS] = "copy_cols",
    [VF_OP_REDUCE] = "reduce",
    [VF_OP_BROADCAST] = "broadcast",
    [VF_OP_SQNORM_BACKWARD] = "sqnorm_backward",
    [VF_OP_MSE] = "mse",
    [VF_OP_MSE_BACKWARD] = "mse_backward",
    [VF_OP_BCE] = "bce_logits",
    [VF_OP_BCE_BACKWARD] = "bce_logits_backward",
    [VF_OP_LSTM_CELL] = "lstm_cell",
    [VF_OP_LSTM_CELL_BACKWARD] = "lstm_cell_backward",
    [VF_OP_BATCHNORM_TRAIN] = "batchnorm_train",
    [VF_OP_BATCHNORM_INFER] = "batchnorm_infer",
    [VF_OP_BATCHNORM_BACKWARD] = "batchnorm_backward",
    [VF_OP_LAYERNORM] = "layernorm",
    [VF_OP_LAYERNORM_BACKWARD] = "layernorm_backward",
    [VF_OP_EMBEDDING] = "embedding",
    [VF_OP_EMBEDDING_BACKWARD] = "embedding_backward",
    [VF_OP_ADAM] = "adam",
    [VF_OP_RNG] = "rng",
    [VF_OP_ELEMENTWISE] = "elementwise",
    [VF_OP_SOFTMAX_SEG] = "softmax_seg",
    [VF_OP_SOFTMAX_SEG_BACKWARD] = "softmax_seg_backward",
    [VF_OP_GATHER] = "gather",
    [VF_OP_GATHER_BACKWARD] = "gather_backward",
    [VF_OP_ARGMAX_SEG] = "argmax_seg",
    [VF_OP_PER_EXAMPLE_SQNORM] = "per_example_sqnorm",
};

const char *vf_op_name(vf_op_kind k) {
    return (unsigned)k < VF_OP_COUNT ? op_names[k] : "?";
}

static const char *const unary_names[VF_UNARY_COUNT] = {"relu", "leaky_relu", "tanh",
                                                        "sigmoid", "softplus", "sin", "cos"};
const char *vf_unary_name(vf_unary_kind k) {
    return (unsigned)k < VF_UNARY_COUNT ? unary_names[k] : "?";
}

/* ------------------------------------------------------------ arg checks */


/* A required float tensor. */
static vf_status need(const char *op, const char *name, const vf_tensor *t) {
    if (!t) return vf_fail(VF_ERR_ARG, "%s: %s is NULL", op, name);
    if (!t->arena) return vf_fail(VF_ERR_ARG, "%s: %s is not allocated", op, name);
    if (t->dtype != VF_F32) return vf_fail(VF_ERR_ARG, "%s: %s must be float32", op, name);
    return VF_OK;
}

static vf_status need_shape(const char *op, const char *name, const vf_tensor *t,
                            const char *ref_name, const vf_tensor *ref) {
    VF_TRY(need(op, name, t));
    if (!vf_tensor_same_shape(t, ref)) {
        char a[64], b[64];
        return vf_fail(VF_ERR_ARG, "%s: %s has shape %s but %s has %s", op, name,
                       vf_shape_str(t, a, sizeof a), ref_name, vf_shape_str(ref, b, sizeof b));
    }
    return VF_OK;
}

static vf_status need_numel(const char *op, const char *name, const vf_tensor *t,
                            int64_t n, const char *what) {
    VF_TRY(need(op, name, t));
    if (t->numel != n) {
        char a[64];
        return vf_fail(VF_ERR_ARG, "%s: %s has shape %s, expected %lld elements (%s)", op,
                       name, vf_shape_str(t, a, sizeof a), (long long)n, what);
    }
    return VF_OK;
}

/* Checks that every argument lives on one backend, then runs the op there. */
static vf_status submit(const char *name, vf_op *op) {
    vf_backend *be = NULL;
    for (int i = 0; i < op->nargs; i++) {
        const vf_tensor *t = op->args[i];
        if (!t) continue;
        if (!be) be = t->arena->be;
        else if (t->arena->be != be)
            return vf_fail(VF_ERR_ARG, "%s: arguments live on different backends", name);
    }
    if (!be) return vf_fail(VF_ERR_ARG, "%s: no tensor arguments", name);
    return be->ops->run_op(be, op);
}

static vf_op make(vf_op_kind k, int nargs, ...) {
    vf_op op;
    memset(&op, 0, sizeof op);
    op.kind = k;
    op.nargs = nargs;
    va_list ap;
    va_start(ap, nargs);
    for (int i = 0; i < nargs; i++) op.args[i] = va_arg(ap, const vf_tensor *);
    va_end(ap);
    return op;
}

static uint32_t u32(int64_t v) { return (uint32_t)v; }

/* -------------------------------------------------------------- basic ops */

vf_status vf_fill(const vf_tensor *t, float value) {
    if (!t || !t->arena) return vf_fail(VF_ERR_ARG, "fill: tensor not allocated");
    vf_op op = make(VF_OP_FILL, 1, t);
    op.u[0] = u32(t->numel);
    if (t->dtype == VF_I32) {
        int32_t iv = (int32_t)value;
        memcpy(&op.f[0], &iv, 4); /* the bits are stored as they are */
        op.u[1] = 1;
    } else {
        op.f[0] = value;
    }
    return submit("fill", &op);
}

vf_status vf_copy(const vf_tensor *x, const vf_tensor *y) {
    if (!x || !x->arena || !y || !y->arena)
        return vf_fail(VF_ERR_ARG, "copy: tensor not allocated");
    if (x->numel != y->numel || x->dtype != y->dtype)
        return vf_fail(VF_ERR_ARG, "copy: %lld elements into %lld (or dtype differs)",
                       (long long)x->numel, (long long)y->numel);
    vf_op op = make(VF_OP_COPY, 2, x, y);
    op.u[0] = u32(x->numel);
    return submit("copy", &op);
}

/* ----------------------------------------------------------------- matmul */

/* Splits a 2-D or 3-D operand into (batch, rows, cols). */
static vf_status mm_dims(const char *name, const vf_tensor *t, int64_t *batch,
                         int64_t *r, int64_t *c) {
    VF_TRY(need("matmul", name, t));
    if (t->ndim == 2) {
        *batch = 1;
        *r = t->shape[0];
        *c = t->shape[1];
    } else if (t->ndim == 3) {
        *batch = t->shape[0];
        *r = t->shape[1];
        *c = t->shape[2];
    } else {
        return vf_fail(VF_ERR_ARG, "matmul: %s must be 2-D or 3-D, has %d dimensions", name,
                       t->ndim);
    }
    return VF_OK;
}

vf_status vf_matmul(const vf_tensor *a, bool trans_a, const vf_tensor *b, bool trans_b,
                    const vf_tensor *c, float alpha, float beta) {
    int64_t ba = 0, ar = 0, ac = 0, bb = 0, br = 0, bc = 0, bcc = 0, cr = 0, cc = 0;
    VF_TRY(mm_dims("A", a, &ba, &ar, &ac));
    VF_TRY(mm_dims("B", b, &bb, &br, &bc));
    VF_TRY(mm_dims("C", c, &bcc, &cr, &cc));
    int64_t m = trans_a ? ac : ar, k = trans_a ? ar : ac;
    int64_t kb = trans_b ? bc : br, n = trans_b ? br : bc;
    char sa[64], sb[64], sc[64];
    if (k != kb || cr != m || cc != n)
        return vf_fail(VF_ERR_ARG,
                       "matmul: shapes do not agree: op(A) is [%lld, %lld] (A %s%s), op(B) is "
                       "[%lld, %lld] (B %s%s), C is %s",
                       (long long)m, (long long)k, vf_shape_str(a, sa, 64),
                       trans_a ? " transposed" : "", (long long)kb, (long long)n,
                       vf_shape_str(b, sb, 64), trans_b ? " transposed" : "",
                       vf_shape_str(c, sc, 64));
    int64_t batch = bcc;
    if ((ba != 1 && ba != batch) || (bb != 1 && bb != batch) ||
        (c->ndim == 2 && (a->ndim == 3 || b->ndim == 3)))
        return vf_fail(VF_ERR_ARG, "matmul: batch sizes differ (A %s, B %s, C %s)",
                       vf_shape_str(a, sa, 64), vf_shape_str(b, sb, 64),
                       vf_shape_str(c, sc, 64));
    if (c == a || c == b || (c->arena == a->arena && c->offset == a->offset) ||
        (c->arena == b->arena && c->offset == b->offset))
        return vf_fail(VF_ERR_ARG, "matmul: C must not alias A or B");
    vf_op op = make(VF_OP_MATMUL, 3, a, b, c);
    op.u[0] = u32(m);
    op.u[1] = u32(n);
    op.u[2] = u32(k);
    op.u[3] = u32(batch);
    op.u[4] = trans_a;
    op.u[5] = trans_b;
    op.u[6] = a->ndim == 3 ? u32(ar * ac) : 0; /* batch strides in elements */
    op.u[7] = b->ndim == 3 ? u32(br * bc) : 0;
    op.u[8] = u32(m * n);
    op.f[0] = alpha;
    op.f[1] = beta;
    return submit("matmul", &op);
}

/* C = op(A) op(B):
 *   dop(A) = dC op(B)^T  -> dA = dC op(B)^T       (A plain) or op(B) dC^T ... (A transposed)
 *   dop(B) = op(A)^T dC  -> dB = op(A)^T dC       (B plain) or dC^T op(A) (B transposed)
 * Written out per case so every product is one vf_matmul call. A 2-D operand
 * shared across a batch gets the sum over the batch. For a shared B with a
 * plain 3-D A that sum is one product of the stacked rows: A viewed as
 * [batch*M, K] and dC as [batch*M, N] (the same storage, so no offsets that
 * a device might not be able to bind). The other shared cases would need
 * per-batch views and are not supported yet. */
vf_status vf_matmul_backward(const vf_tensor *a, bool trans_a, const vf_tensor *b,
                             bool trans_b, const vf_tensor *dc, const vf_tensor *da,
                             const vf_tensor *db, bool accumulate) {
    const char *nm = "matmul_backward";
    VF_TRY(need(nm, "A", a));
    VF_TRY(need(nm, "B", b));
    VF_TRY(need(nm, "dC", dc));
    if (a->ndim < 2 || a->ndim > 3 || b->ndim < 2 || b->ndim > 3 || dc->ndim < 2 || dc->ndim > 3)
        return vf_fail(VF_ERR_ARG, "%s: A, B and dC must be 2-D or 3-D", nm);
    /* dC must be op(A) op(B)'s shape: checked here so the message names dC
     * rather than an inner product of the backward pass */
    int64_t m = a->shape[a->ndim - (trans_a ? 1 : 2)], n = b->shape[b->ndim - (trans_b ? 2 : 1)];
    if (dc->shape[dc->ndim - 2] != m || dc->shape[dc->ndim - 1] != n) {
        char s[64];
        return vf_fail(VF_ERR_ARG, "%s: dC has shape %s but op(A) op(B) is [%lld, %lld]", nm,
                       vf_shape_str(dc, s, sizeof s), (long long)m, (long long)n);
    }
    float beta = accumulate ? 1.0f : 0.0f;
    if (da) {
        VF_TRY(need_shape("matmul_backward", "dA", da, "A", a));
        if (a->ndim == 2 && dc->ndim == 3)
            return vf_fail(VF_ERR_UNSUPPORTED,
                           "matmul_backward: gradient of a 2-D A shared across a batch");
        if (!trans_a) /* dA [M,K] = dC [M,N] @ op(B)^T */
            VF_TRY(vf_matmul(dc, false, b, !trans_b, da, 1.0f, beta));
        else /* A is [K,M]: dA = op(B) @ dC^T */
            VF_TRY(vf_matmul(b, trans_b, dc, true, da, 1.0f, beta));
    }
    if (db) {
        VF_TRY(need_shape("matmul_backward", "dB", db, "B", b));
        if (b->ndim == 2 && dc->ndim == 3) {
            if (a->ndim != 3 || trans_a)
                return vf_fail(VF_ERR_UNSUPPORTED,
                               "matmul_backward: gradient of a 2-D B shared across a batch "
                               "needs a 3-D, non-transposed A");
            vf_tensor a2 = *a, dc2 = *dc;
            a2.ndim = dc2.ndim = 2;
            a2.shape[0] = a->shape[0] * a->shape[1];
            a2.shape[1] = a->shape[2];
            dc2.shape[0] = dc->shape[0] * dc->shape[1];
            dc2.shape[1] = dc->shape[2];
            a2.shape[2] = dc2.shape[2] = 0;
            if (!trans_b) /* dB [K,N] = A2^T @ dC2 */
                return vf_matmul(&a2, true, &dc2, false, db, 1.0f, beta);
            return vf_matmul(&dc2, true, &a2, false, db, 1.0f, beta); /* dB [N,K] = dC2^T A2 */
        }
        if (!trans_b) /* dB [K,N] = op(A)^T @ dC */
            VF_TRY(vf_matmul(a, !trans_a, dc, false, db, 1.0f, beta));
        else /* B is [N,K]: dB = dC^T @ op(A) */
            VF_TRY(vf_matmul(dc, true, a, trans_a, db, 1.0f, beta));
    }
    return VF_OK;
}

/* ------------------------------------------------------------ elementwise */

vf_status vf_bias_add_forward(const vf_tensor *x, const vf_tensor *bias, const vf_tensor *y) {
    VF_TRY(need("bias_add", "x", x));
    VF_TRY(need_shape("bias_add", "y", y, "x", x));
    VF_TRY(need_numel("bias_add", "bias", bias, vf_tensor_cols(x), "one per column of x"));
    vf_op op = make(VF_OP_BIAS_ADD, 3, x, bias, y);
    op.u[0] = u32(vf_tensor_rows(x));
    op.u[1] = u32(vf_tensor_cols(x));
    return submit("bias_add", &op);
}

vf_status vf_bias_add_backward(const vf_tensor *dy, const vf_tensor *dbias) {
    VF_TRY(need("bias_add_backward", "dy", dy));
    VF_TRY(need_numel("bias_add_backward", "dbias", dbias, vf_tensor_cols(dy), "one per column of dy"));
    return vf_sum_forward(VF_REDUCE_COLS, false, dy, dbias);
}

vf_status vf_binary_forward(vf_binary_kind k, const vf_tensor *a, const vf_tensor *b,
                            const vf_tensor *y) {
    if ((unsigned)k > VF_MUL) return vf_fail(VF_ERR_ARG, "binary: unknown kind %d", (int)k);
    VF_TRY(need("binary", "a", a));
    VF_TRY(need_shape("binary", "b", b, "a", a));
    VF_TRY(need_shape("binary", "y", y, "a", a));
    vf_op op = make(VF_OP_BINARY, 3, a, b, y);
    op.u[0] = u32(a->numel);
    op.u[1] = (uint32_t)k;
    return submit("binary", &op);
}

vf_status vf_binary_backward(vf_binary_kind k, const vf_tensor *a, const vf_tensor *b,
                             const vf_tensor *dy, const vf_tensor *da, const vf_tensor *db) {
    if ((unsigned)k > VF_MUL) return vf_fail(VF_ERR_ARG, "binary_backward: unknown kind %d", (int)k);
    VF_TRY(need("binary_backward", "dy", dy));
    if (da) VF_TRY(need_shape("binary_backward", "da", da, "dy", dy));
    if (db) VF_TRY(need_shape("binary_backward", "db", db, "dy", dy));
    if (k == VF_MUL) {
        /* da = dy * b, db = dy * a */
        if (da) {
            VF_TRY(need_shape("binary_backward", "b", b, "dy", dy));
            vf_op op = make(VF_OP_BINARY, 3, b, dy, da);
            op.u[0] = u32(dy->numel);
            op.u[1] = VF_MUL;
            VF_TRY(submit("binary_backward", &op));
        }
        if (db) {
            VF_TRY(need_shape("binary_backward", "a", a, "dy", dy));
            vf_op op = make(VF_OP_BINARY, 3, a, dy, db);
            op.u[0] = u32(dy->numel);
            op.u[1] = VF_MUL;
            VF_TRY(submit("binary_backward", &op));
        }
        return VF_OK;
    }
    if (da) VF_TRY(vf_scale(dy, da, 1.0f, 0.0f));
    if (db) VF_TRY(vf_scale(dy, db, k == VF_SUB ? -1.0f : 1.0f, 0.0f));
    return VF_OK;
}

vf_status vf_scale(const vf_tensor *x, const vf_tensor *y, float alpha, float beta) {
    VF_TRY(need("scale", "x", x));
    VF_TRY(need_numel("scale", "y", y, x->numel, "same as x"));
    vf_op op = make(VF_OP_SCALE, 2, x, y);
    op.u[0] = u32(x->numel);
    op.f[0] = alpha;
    op.f[1] = beta;
    return submit("scale", &op);
}

vf_status vf_unary_forward(vf_unary_kind k, float alpha, const vf_tensor *x, const vf_tensor *y) {
    if ((unsigned)k >= VF_UNARY_COUNT) return vf_fail(VF_ERR_ARG, "unary: unknown kind %d", (int)k);
    VF_TRY(need(vf_unary_name(k), "x", x));
    VF_TRY(need_shape(vf_unary_name(k), "y", y, "x", x));
    vf_op op = make(VF_OP_UNARY, 2, x, y);
    op.u[0] = u32(x->numel);
    op.u[1] = (uint32_t)k;
    op.f[0] = alpha;
    return submit(vf_unary_name(k), &op);
}

vf_status vf_unary_backward(vf_unary_kind k, float alpha, const vf_tensor *x,
                            const vf_tensor *y, const vf_tensor *dy, const vf_tensor *dx) {
    if ((unsigned)k >= VF_UNARY_COUNT)
        return vf_fail(VF_ERR_ARG, "unary_backward: unknown kind %d", (int)k);
    const char *nm = vf_unary_name(k);
    VF_TRY(need(nm, "x", x));
    VF_TRY(need_shape(nm, "y", y, "x", x));
    VF_TRY(need_shape(nm, "dy", dy, "x", x));
    VF_TRY(need_shape(nm, "dx", dx, "x", x));
    vf_op op = make(VF_OP_UNARY_BACKWARD, 4, x, y, dy, dx);
    op.u[0] = u32(x->numel);
    op.u[1] = (uint32_t)k;
    op.f[0] = alpha;
    return submit(nm, &op);
}

/* ---------------------------------------------------------------- softmax */

static vf_status softmax_fwd(const char *nm, bool log, const vf_tensor *x, const vf_tensor *y) {
    VF_TRY(need(nm, "x", x));
    VF_TRY(need_shape(nm, "y", y, "x", x));
    vf_op op = make(VF_OP_SOFTMAX, 2, x, y);
    op.u[0] = u32(vf_tensor_rows(x));
    op.u[1] = u32(vf_tensor_cols(x));
    op.u[2] = log;
    return submit(nm, &op);
}

static vf_status softmax_bwd(const char *nm, bool log, const vf_tensor *y,
                             const vf_tensor *dy, const vf_tensor *dx) {
    VF_TRY(need(nm, "y", y));
    VF_TRY(need_shape(nm, "dy", dy, "y", y));
    VF_TRY(need_shape(nm, "dx", dx, "y", y));
    vf_op op = make(VF_OP_SOFTMAX_BACKWARD, 3, y, dy, dx);
    op.u[0] = u32(vf_tensor_rows(y));
    op.u[1] = u32(vf_tensor_cols(y));
    op.u[2] = log;
    return submit(nm, &op);
}

vf_status vf_softmax_forward(const vf_tensor *x, const vf_tensor *y) {
    return softmax_fwd("softmax", false, x, y);
}
vf_status vf_softmax_backward(const vf_tensor *y, const vf_tensor *dy, const vf_tensor *dx) {
    return softmax_bwd("softmax_backward", false, y, dy, dx);
}
vf_status vf_log_softmax_forward(const vf_tensor *x, const vf_tensor *y) {
    return softmax_fwd("log_softmax", true, x, y);
}
vf_status vf_log_softmax_backward(const vf_tensor *y, const vf_tensor *dy, const vf_tensor *dx) {
    return softmax_bwd("log_softmax_backward", true, y, dy, dx);
}

/* ---------------------------------------------------------- concat, slice */

static vf_status copy_cols(const char *nm, const vf_tensor *x, int64_t x_start,
                           const vf_tensor *y, int64_t y_start, int64_t width) {
    vf_op op = make(VF_OP_COPY_COLS, 2, x, y);
    op.u[0] = u32(vf_tensor_rows(x));
    op.u[1] = u32(vf_tensor_cols(x));
    op.u[2] = u32(x_start);
    op.u[3] = u32(vf_tensor_cols(y));
    op.u[4] = u32(y_start);
    op.u[5] = u32(width);
    return submit(nm, &op);
}

static vf_status same_rows(const char *nm, const char *name, const vf_tensor *t,
                           const vf_tensor *ref) {
    VF_TRY(need(nm, name, t));
    if (vf_tensor_rows(t) != vf_tensor_rows(ref))
        return vf_fail(VF_ERR_ARG, "%s: %s has %lld rows, expected %lld", nm, name,
                       (long long)vf_tensor_rows(t), (long long)vf_tensor_rows(ref));
    return VF_OK;
}

static vf_status concat_check(const char *nm, int n, const vf_tensor *y,
                              const vf_tensor *const *xs, bool allow_null) {
    VF_TRY(need(nm, "y", y));
    if (n < 1) return vf_fail(VF_ERR_ARG, "%s: no inputs", nm);
    if (!xs) return vf_fail(VF_ERR_ARG, "%s: the array of parts is NULL", nm);
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (!xs[i]) {
            if (!allow_null) return vf_fail(VF_ERR_ARG, "%s: input %d is NULL", nm, i);
            return vf_fail(VF_ERR_ARG, "%s: part %d is NULL (widths unknown)", nm, i);
        }
        char name[32];
        snprintf(name, sizeof name, "part %d", i);
        VF_TRY(same_rows(nm, name, xs[i], y));
        total += vf_tensor_cols(xs[i]);
    }
    if (total != vf_tensor_cols(y))
        return vf_fail(VF_ERR_ARG, "%s: parts have %lld columns in all, y has %lld", nm,
                       (long long)total, (long long)vf_tensor_cols(y));
    return VF_OK;
}

vf_status vf_concat_forward(int n, const vf_tensor *const *xs, const vf_tensor *y) {
    VF_TRY(concat_check("concat", n, y, xs, false));
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        VF_TRY(copy_cols("concat", xs[i], 0, y, at, vf_tensor_cols(xs[i])));
        at += vf_tensor_cols(xs[i]);
    }
    return VF_OK;
}

vf_status vf_concat_backward(int n, const vf_tensor *dy, const vf_tensor *const *dxs) {
    VF_TRY(concat_check("concat_backward", n, dy, dxs, true));
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        VF_TRY(copy_cols("concat_backward", dy, at, dxs[i], 0, vf_tensor_cols(dxs[i])));
        at += vf_tensor_cols(dxs[i]);
    }
    return VF_OK;
}

static vf_status slice_check(const char *nm, const vf_tensor *full, int64_t start,
                             const vf_tensor *part) {
    VF_TRY(need(nm, "x", full));
    VF_TRY(same_rows(nm, "y", part, full));
    if (start < 0 || start + vf_tensor_cols(part) > vf_tensor_cols(full))
        return vf_fail(VF_ERR_ARG, "%s: columns [%lld, %lld) outside [0, %lld)", nm,
                       (long long)start, (long long)(start + vf_tensor_cols(part)),
                       (long long)vf_tensor_cols(full));
    return VF_OK;
}

vf_status vf_slice_forward(const vf_tensor *x, int64_t start, const vf_tensor *y) {
    VF_TRY(slice_check("slice", x, start, y));
    return copy_cols("slice", x, start, y, 0, vf_tensor_cols(y));
}

vf_status vf_slice_backward(const vf_tensor *dy, int64_t start, const vf_tensor *dx) {
    VF_TRY(slice_check("slice_backward", dx, start, dy));
    VF_TRY(vf_fill(dx, 0.0f));
    return copy_cols("slice_backward", dy, 0, dx, start, vf_tensor_cols(dy));
}

/* ------------------------------------------------------------- reductions */

static int64_t reduced_len(vf_reduce_axis ax, const vf_tensor *x) {
    return ax == VF_REDUCE_ROWS ? vf_tensor_rows(x)
         : ax == VF_REDUCE_COLS ? vf_tensor_cols(x) : 1;
}
static int64_t reduce_count(vf_reduce_axis ax, const vf_tensor *x) {
    return ax == VF_REDUCE_ROWS ? vf_tensor_cols(x)
         : ax == VF_REDUCE_COLS ? vf_tensor_rows(x) : x->numel;
}
static const char *axis_what(vf_reduce_axis ax) {
    return ax == VF_REDUCE_ROWS ? "one per row" : ax == VF_REDUCE_COLS ? "one per column" : "a scalar";
}

static vf_status reduce(const char *nm, vf_reduce_axis ax, bool square, float scale,
                        const vf_tensor *x, const vf_tensor *y) {
    if ((unsigned)ax > VF_REDUCE_ALL) return vf_fail(VF_ERR_ARG, "%s: unknown axis %d", nm, (int)ax);
    VF_TRY(need(nm, "x", x));
    VF_TRY(need_numel(nm, "y", y, reduced_len(ax, x), axis_what(ax)));
    vf_op op = make(VF_OP_REDUCE, 2, x, y);
    op.u[0] = u32(vf_tensor_rows(x));
    op.u[1] = u32(vf_tensor_cols(x));
    op.u[2] = (uint32_t)ax;
    op.u[3] = square;
    op.f[0] = scale;
    return submit(nm, &op);
}

vf_status vf_sum_forward(vf_reduce_axis ax, bool mean, const vf_tensor *x, const vf_tensor *y) {
    if (!x || !x->arena) return vf_fail(VF_ERR_ARG, "sum: x is not allocated");
    float scale = mean ? 1.0f / (float)reduce_count(ax, x) : 1.0f;
    return reduce(mean ? "mean" : "sum", ax, false, scale, x, y);
}

vf_status vf_sum_backward(vf_reduce_axis ax, bool mean, const vf_tensor *dy, const vf_tensor *dx) {
    const char *nm = mean ? "mean_backward" : "sum_backward";
    if ((unsigned)ax > VF_REDUCE_ALL) return vf_fail(VF_ERR_ARG, "%s: unknown axis %d", nm, (int)ax);
    VF_TRY(need(nm, "dx", dx));
    VF_TRY(need_numel(nm, "dy", dy, reduced_len(ax, dx), axis_what(ax)));
    vf_op op = make(VF_OP_BROADCAST, 2, dy, dx);
    op.u[0] = u32(vf_tensor_rows(dx));
    op.u[1] = u32(vf_tensor_cols(dx));
    op.u[2] = (uint32_t)ax;
    op.f[0] = mean ? 1.0f / (float)reduce_count(ax, dx) : 1.0f;
    return submit(nm, &op);
}

vf_status vf_sqnorm_rows_forward(const vf_tensor *x, const vf_tensor *y) {
    return reduce("sqnorm_rows", VF_REDUCE_ROWS, true, 1.0f, x, y);
}

vf_status vf_sqnorm_rows_backward(const vf_tensor *x, const vf_tensor *dy, const vf_tensor *dx) {
    VF_TRY(need("sqnorm_rows_backward", "x", x));
    VF_TRY(need_shape("sqnorm_rows_backward", "dx", dx, "x", x));
    VF_TRY(need_numel("sqnorm_rows_backward", "dy", dy, vf_tensor_rows(x), "one per row"));
    vf_op op = make(VF_OP_SQNORM_BACKWARD, 3, x, dy, dx);
    op.u[0] = u32(vf_tensor_rows(x));
    op.u[1] = u32(vf_tensor_cols(x));
    return submit("sqnorm_rows_backward", &op);
}

/* ----------------------------------------------------------------- losses */

vf_status vf_mse_forward(const vf_tensor *a, const vf_tensor *b, const vf_tensor *loss) {
    VF_TRY(need("mse", "a", a));
    VF_TRY(need_shape("mse", "b", b, "a", a));
    VF_TRY(need_numel("mse", "loss", loss, 1, "a scalar"));
    vf_op op = make(VF_OP_MSE, 3, a, b, loss);
    op.u[0] = u32(a->numel);
    return submit("mse", &op);
}

vf_status vf_mse_backward(const vf_tensor *a, const vf_tensor *b, const vf_tensor *dloss,
                          const vf_tensor *da, const vf_tensor *db) {
    VF_TRY(need("mse_backward", "a", a));
    VF_TRY(need_shape("mse_backward", "b", b, "a", a));
    VF_TRY(need_numel("mse_backward", "dloss", dloss, 1, "a scalar"));
    for (int i = 0; i < 2; i++) {
        const vf_tensor *d = i ? db : da;
        if (!d) continue;
        VF_TRY(need_shape("mse_backward", i ? "db" : "da", d, "a", a));
        vf_op op = make(VF_OP_MSE_BACKWARD, 4, a, b, dloss, d);
        op.u[0] = u32(a->numel);
        op.f[0] = i ? -1.0f : 1.0f;
        VF_TRY(submit("mse_backward", &op));
    }
    return VF_OK;
}

vf_status vf_bce_logits_forward(const vf_tensor *x, const vf_tensor *t, const vf_tensor *loss) {
    VF_TRY(need("bce_logits", "x", x));
    VF_TRY(need_shape("bce_logits", "t", t, "x", x));
    VF_TRY(need_numel("bce_logits", "loss", loss, 1, "a scalar"));
    vf_op op = make(VF_OP_BCE, 3, x, t, loss);
    op.u[0] = u32(x->numel);
    return submit("bce_logits", &op);
}

vf_status vf_bce_logits_backward(const vf_tensor *x, const vf_tensor *t,
                                 const vf_tensor *dloss, const vf_tensor *dx) {
    VF_TRY(need("bce_logits_backward", "x", x));
    VF_TRY(need_shape("bce_logits_backward", "t", t, "x", x));
    VF_TRY(need_numel("bce_logits_backward", "dloss", dloss, 1, "a scalar"));
    VF_TRY(need_shape("bce_logits_backward", "dx", dx, "x", x));
    vf_op op = make(VF_OP_BCE_BACKWARD, 4, x, t, dloss, dx);
    op.u[0] = u32(x->numel);
    return submit("bce_logits_backward", &op);
}

/* ------------------------------------------------------------------- LSTM */

static vf_status lstm_dims(const char *nm, const vf_tensor *gates, int64_t *B, int64_t *H) {
    VF_TRY(need(nm, "gates", gates));
    *B = vf_tensor_rows(gates);
    int64_t g = vf_tensor_cols(gates);
    if (g % 4) return vf_fail(VF_ERR_ARG, "%s: gates has %lld columns, not a multiple of 4 (i, f, g, o)",
                              nm, (long long)g);
    *H = g / 4;
    return VF_OK;
}

static vf_status need_bh(const char *nm, const char *name, const vf_tensor *t, int64_t B, int64_t H) {
    VF_TRY(need(nm, name, t));
    if (vf_tensor_rows(t) != B || vf_tensor_cols(t) != H) {
        char s[64];
        return vf_fail(VF_ERR_ARG, "%s: %s has shape %s, expected [%lld, %lld]", nm, name,
                       vf_shape_str(t, s, 64), (long long)B, (long long)H);
    }
    return VF_OK;
}

vf_status vf_lstm_cell_forward(const vf_tensor *gates, const vf_tensor *c_prev,
                               const vf_tensor *h, const vf_tensor *c) {
    const char *nm = "lstm_cell";
    int64_t B = 0, H = 0;
    VF_TRY(lstm_dims(nm, gates, &B, &H));
    VF_TRY(need_bh(nm, "c_prev", c_prev, B, H));
    VF_TRY(need_bh(nm, "h", h, B, H));
    VF_TRY(need_bh(nm, "c", c, B, H));
    vf_op op = make(VF_OP_LSTM_CELL, 4, gates, c_prev, h, c);
    op.u[0] = u32(B);
    op.u[1] = u32(H);
    return submit(nm, &op);
}

vf_status vf_lstm_cell_backward(const vf_tensor *gates, const vf_tensor *c_prev,
                                const vf_tensor *c, const vf_tensor *dh, const vf_tensor *dc,
                                const vf_tensor *dgates, const vf_tensor *dc_prev) {
    const char *nm = "lstm_cell_backward";
    int64_t B = 0, H = 0;
    VF_TRY(lstm_dims(nm, gates, &B, &H));
    VF_TRY(need_bh(nm, "c_prev", c_prev, B, H));
    VF_TRY(need_bh(nm, "c", c, B, H));
    VF_TRY(need_bh(nm, "dh", dh, B, H));
    if (dc) VF_TRY(need_bh(nm, "dc", dc, B, H));
    VF_TRY(need_shape(nm, "dgates", dgates, "gates", gates));
    VF_TRY(need_bh(nm, "dc_prev", dc_prev, B, H));
    vf_op op = make(VF_OP_LSTM_CELL_BACKWARD, 7, gates, c_prev, c, dh, dc, dgates, dc_prev);
    op.u[0] = u32(B);
    op.u[1] = u32(H);
    op.u[2] = dc != NULL;
    return submit(nm, &op);
}

/* ------------------------------------------------------------ batch norm */

static vf_status need_cols(const char *nm, const char *name, const vf_tensor *t, int64_t n,
                           const char *what) {
    return need_numel(nm, name, t, n, what);
}

vf_status vf_batchnorm_train_forward(const vf_tensor *x, const vf_tensor *gamma,
                                     const vf_tensor *beta, float eps, float momentum,
                                     const vf_tensor *y, const vf_tensor *mean,
                                     const vf_tensor *rstd, const vf_tensor *running_mean,
                                     const vf_tensor *running_var) {
    const char *nm = "batchnorm_train";
    VF_TRY(need(nm, "x", x));
    int64_t C = vf_tensor_cols(x), R = vf_tensor_rows(x);
    VF_TRY(need_cols(nm, "gamma", gamma, C, "one per column"));
    VF_TRY(need_cols(nm, "beta", beta, C, "one per column"));
    VF_TRY(need_shape(nm, "y", y, "x", x));
    VF_TRY(need_cols(nm, "mean", mean, C, "one per column"));
    VF_TRY(need_cols(nm, "rstd", rstd, C, "one per column"));
    if ((running_mean == NULL) != (running_var == NULL))
        return vf_fail(VF_ERR_ARG, "%s: give both running_mean and running_var or neither", nm);
    if (running_mean) {
        VF_TRY(need_cols(nm, "running_mean", running_mean, C, "one per column"));
        VF_TRY(need_cols(nm, "running_var", running_var, C, "one per column"));
        if (R < 2) return vf_fail(VF_ERR_ARG, "%s: running variance needs at least 2 rows", nm);
    }
    if (!(eps > 0)) return vf_fail(VF_ERR_ARG, "%s: eps must be > 0", nm);
    vf_op op = make(VF_OP_BATCHNORM_TRAIN, 8, x, gamma, beta, y, mean, rstd, running_mean,
                    running_var);
    op.u[0] = u32(R);
    op.u[1] = u32(C);
    op.u[2] = running_mean != NULL;
    op.f[0] = eps;
    op.f[1] = momentum;
    return submit(nm, &op);
}

vf_status vf_batchnorm_infer_forward(const vf_tensor *x, const vf_tensor *gamma,
                                     const vf_tensor *beta, const vf_tensor *running_mean,
                                     const vf_tensor *running_var, float eps,
                                     const vf_tensor *y) {
    const char *nm = "batchnorm_infer";
    VF_TRY(need(nm, "x", x));
    int64_t C = vf_tensor_cols(x);
    VF_TRY(need_cols(nm, "gamma", gamma, C, "one per column"));
    VF_TRY(need_cols(nm, "beta", beta, C, "one per column"));
    VF_TRY(need_cols(nm, "running_mean", running_mean, C, "one per column"));
    VF_TRY(need_cols(nm, "running_var", running_var, C, "one per column"));
    VF_TRY(need_shape(nm, "y", y, "x", x));
    if (!(eps > 0)) return vf_fail(VF_ERR_ARG, "%s: eps must be > 0", nm);
    vf_op op = make(VF_OP_BATCHNORM_INFER, 6, x, gamma, beta, running_mean, running_var, y);
    op.u[0] = u32(vf_tensor_rows(x));
    op.u[1] = u32(C);
    op.f[0] = eps;
    return submit(nm, &op);
}

/* Shared checks of batch/layer norm backward: stats have n_stat entries. */
static vf_status norm_bwd(const char *nm, vf_op_kind k, int64_t n_stat, const char *stat_what,
                          const vf_tensor *x, const vf_tensor *gamma, const vf_tensor *mean,
                          const vf_tensor *rstd, const vf_tensor *dy, const vf_tensor *dx,
                          const vf_tensor *dgamma, const vf_tensor *dbeta) {
    int64_t C = vf_tensor_cols(x);
    VF_TRY(need_cols(nm, "gamma", gamma, C, "one per column"));
    VF_TRY(need_cols(nm, "mean", mean, n_stat, stat_what));
    VF_TRY(need_cols(nm, "rstd", rstd, n_stat, stat_what));
    VF_TRY(need_shape(nm, "dy", dy, "x", x));
    VF_TRY(need_shape(nm, "dx", dx, "x", x));
    VF_TRY(need_cols(nm, "dgamma", dgamma, C, "one per column"));
    VF_TRY(need_cols(nm, "dbeta", dbeta, C, "one per column"));
    vf_op op = make(k, 8, x, gamma, mean, rstd, dy, dx, dgamma, dbeta);
    op.u[0] = u32(vf_tensor_rows(x));
    op.u[1] = u32(C);
    return submit(nm, &op);
}

vf_status vf_batchnorm_backward(const vf_tensor *x, const vf_tensor *gamma,
                                const vf_tensor *mean, const vf_tensor *rstd,
                                const vf_tensor *dy, const vf_tensor *dx,
                                const vf_tensor *dgamma, const vf_tensor *dbeta) {
    VF_TRY(need("batchnorm_backward", "x", x));
    return norm_bwd("batchnorm_backward", VF_OP_BATCHNORM_BACKWARD, vf_tensor_cols(x),
                    "one per column", x, gamma, mean, rstd, dy, dx, dgamma, dbeta);
}

vf_status vf_layernorm_forward(const vf_tensor *x, const vf_tensor *gamma, const vf_tensor *beta,
                               float eps, const vf_tensor *y, const vf_tensor *mean,
                               const vf_tensor *rstd) {
    const char *nm = "layernorm";
    VF_TRY(need(nm, "x", x));
    int64_t C = vf_tensor_cols(x), R = vf_tensor_rows(x);
    VF_TRY(need_cols(nm, "gamma", gamma, C, "one per column"));
    VF_TRY(need_cols(nm, "beta", beta, C, "one per column"));
    VF_TRY(need_shape(nm, "y", y, "x", x));
    VF_TRY(need_cols(nm, "mean", mean, R, "one per row"));
    VF_TRY(need_cols(nm, "rstd", rstd, R, "one per row"));
    if (!(eps > 0)) return vf_fail(VF_ERR_ARG, "%s: eps must be > 0", nm);
    vf_op op = make(VF_OP_LAYERNORM, 6, x, gamma, beta, y, mean, rstd);
    op.u[0] = u32(R);
    op.u[1] = u32(C);
    op.f[0] = eps;
    return submit(nm, &op);
}

vf_status vf_layernorm_backward(const vf_tensor *x, const vf_tensor *gamma,
                                const vf_tensor *mean, const vf_tensor *rstd,
                                const vf_tensor *dy, const vf_tensor *dx,
                                const vf_tensor *dgamma, const vf_tensor *dbeta) {
    VF_TRY(need("layernorm_backward", "x", x));
    return norm_bwd("layernorm_backward", VF_OP_LAYERNORM_BACKWARD, vf_tensor_rows(x),
                    "one per row", x, gamma, mean, rstd, dy, dx, dgamma, dbeta);
}

/* -------------------------------------------------------------- embedding */

static vf_status need_idx(const char *nm, const vf_tensor *idx) {
    if (!idx || !idx->arena) return vf_fail(VF_ERR_ARG, "%s: idx is not allocated", nm);
    if (idx->dtype != VF_I32) return vf_fail(VF_ERR_ARG, "%s: idx must be int32", nm);
    return VF_OK;
}

/* Shared by forward (rows = y, table = table) and backward (rows = dy, table
 * = dtable): rows must be [N, D] for N indices and a [V, D] table. */
static vf_status embedding_op(const char *nm, vf_op_kind k, const vf_tensor *idx,
                              const vf_tensor *table, const vf_tensor *rows, const char *rows_name,
                              const vf_tensor *second, const vf_tensor *third) {
    VF_TRY(need_idx(nm, idx));
    VF_TRY(need(nm, k == VF_OP_EMBEDDING ? "table" : "dtable", table));
    VF_TRY(need(nm, rows_name, rows));
    int64_t N = idx->numel, V = vf_tensor_rows(table), D = vf_tensor_cols(table);
    if (vf_tensor_rows(rows) != N || vf_tensor_cols(rows) != D) {
        char s[64];
        return vf_fail(VF_ERR_ARG, "%s: %s has shape %s, expected [%lld, %lld]", nm, rows_name,
                       vf_shape_str(rows, s, 64), (long long)N, (long long)D);
    }
    vf_op op = make(k, 3, idx, second, third);
    op.u[0] = u32(N);
    op.u[1] = u32(V);
    op.u[2] = u32(D);
    return submit(nm, &op);
}

vf_status vf_embedding_forward(const vf_tensor *idx, const vf_tensor *table, const vf_tensor *y) {
    return embedding_op("embedding", VF_OP_EMBEDDING, idx, table, y, "y", table, y);
}

vf_status vf_embedding_backward(const vf_tensor *idx, const vf_tensor *dy, const vf_tensor *dtable) {
    return embedding_op("embedding_backward", VF_OP_EMBEDDING_BACKWARD, idx, dtable, dy, "dy", dy, dtable);
}

/* ------------------------------------------------------------------- Adam */

vf_status vf_adam_update(const vf_tensor *param, const vf_tensor *grad, const vf_tensor *m,
                         const vf_tensor *v, const vf_tensor *sched, const vf_adam_config *cfg) {
    const char *nm = "adam";
    VF_TRY(need(nm, "param", param));
    VF_TRY(need_shape(nm, "grad", grad, "param", param));
    VF_TRY(need_shape(nm, "m", m, "param", param));
    VF_TRY(need_shape(nm, "v", v, "param", param));
    VF_TRY(need_numel(nm, "sched", sched, 2, "{lr, step}"));
    if (!cfg) return vf_fail(VF_ERR_ARG, "adam: config is NULL");
    if (!(cfg->beta1 >= 0 && cfg->beta1 < 1) || !(cfg->beta2 >= 0 && cfg->beta2 < 1) ||
        !(cfg->eps > 0))
        return vf_fail(VF_ERR_ARG, "adam: need 0 <= beta1, beta2 < 1 and eps > 0 (got %g, %g, %g)",
                       cfg->beta1, cfg->beta2, cfg->eps);
    vf_op op = make(VF_OP_ADAM, 5, param, grad, m, v, sched);
    op.u[0] = u32(param->numel);
    op.f[0] = cfg->beta1;
    op.f[1] = cfg->beta2;
    op.f[2] = cfg->eps;
    op.f[3] = cfg->weight_decay;
    return submit(nm, &op);
}

/* -------------------------------------------------------------------- RNG */

static vf_status rng(const char *nm, bool normal, uint64_t seed, uint32_t stream,
                     const vf_tensor *ctr, const vf_tensor *out) {
    if (!ctr || !ctr->arena || ctr->dtype != VF_I32 || ctr->numel != 2)
        return vf_fail(VF_ERR_ARG, "%s: ctr must be an int32 tensor of 2 elements {lo, hi}", nm);
    VF_TRY(need(nm, "out", out));
    vf_op op = make(VF_OP_RNG, 2, ctr, out);
    op.u[0] = u32(out->numel);
    op.u[1] = (uint32_t)seed;
    op.u[2] = (uint32_t)(seed >> 32);
    op.u[3] = stream;
    op.u[4] = normal;
    return submit(nm, &op);
}

vf_status vf_rng_uniform(uint64_t seed, uint32_t stream, const vf_tensor *ctr, const vf_tensor *out) {
    return rng("rng_uniform", false, seed, stream, ctr, out);
}

vf_status vf_rng_normal(uint64_t seed, uint32_t stream, const vf_tensor *ctr, const vf_tensor *out) {
    return rng("rng_normal", true, seed, stream, ctr, out);
}

/* ------------------------------------------------------ fused elementwise */

static int ew_arity(vf_ew_op op) {
    switch (op) {
    case VF_EW_LOAD: case VF_EW_CONST: return 0;
    case VF_EW_ADD: case VF_EW_SUB: case VF_EW_MUL: case VF_EW_DIV: case VF_EW_MAX: case VF_EW_MIN:
        return 2;
    case VF_EW_SELECT: return 3;
    default: return 1;
    }
}

vf_status vf_ew_validate(const vf_ew_program *p) {
    if (!p) return vf_fail(VF_ERR_ARG, "elementwise: program is NULL");
    if (p->n_code < 1 || p->n_code > VF_EW_MAX_CODE)
        return vf_fail(VF_ERR_ARG, "elementwise: %d instructions (1..%d allowed)", p->n_code, VF_EW_MAX_CODE);
    if (p->n_in < 0 || p->n_in > VF_EW_MAX_IN)
        return vf_fail(VF_ERR_ARG, "elementwise: %d inputs (0..%d allowed)", p->n_in, VF_EW_MAX_IN);
    if (p->n_out < 1 || p->n_out > VF_EW_MAX_OUT)
        return vf_fail(VF_ERR_ARG, "elementwise: %d outputs (1..%d allowed)", p->n_out, VF_EW_MAX_OUT);
    for (int i = 0; i < p->n_in; i++) {
        if (p->in_bcast[i] > VF_BC_SCALAR)
            return vf_fail(VF_ERR_ARG, "elementwise: input %d has unknown broadcast %d", i, p->in_bcast[i]);
        if (p->in_cols[i] && p->in_bcast[i] != VF_BC_FULL)
            return vf_fail(VF_ERR_ARG, "elementwise: input %d has a column window but is not a FULL input", i);
        if (!p->in_cols[i] && p->in_col_off[i])
            return vf_fail(VF_ERR_ARG, "elementwise: input %d has a column offset without a window", i);
    }
    for (int i = 0; i < p->n_code; i++) {
        const vf_ew_instr *c = &p->code[i];
        if (c->op >= VF_EW_OP_COUNT)
            return vf_fail(VF_ERR_ARG, "elementwise: instruction %d has unknown opcode %d", i, c->op);
        if (c->op == VF_EW_LOAD && c->a >= p->n_in)
            return vf_fail(VF_ERR_ARG, "elementwise: instruction %d loads input %d of %d", i, c->a, p->n_in);
        int ar = ew_arity((vf_ew_op)c->op);
        const uint8_t regs[3] = {c->a, c->b, c->c};
        for (int k = 0; k < ar; k++)
            if (regs[k] >= i)
                return vf_fail(VF_ERR_ARG, "elementwise: instruction %d reads register %d, not yet written",
                               i, regs[k]);
    }
    for (int k = 0; k < p->n_out; k++)
        if (p->out_reg[k] >= p->n_code)
            return vf_fail(VF_ERR_ARG, "elementwise: output %d stores register %d of %d", k, p->out_reg[k],
                           p->n_code);
    return VF_OK;
}

static bool tensors_overlap(const vf_tensor *a, const vf_tensor *b) {
    return a->arena == b->arena && a->offset < b->offset + vf_tensor_bytes(b) &&
           b->offset < a->offset + vf_tensor_bytes(a);
}

vf_status vf_elementwise(const vf_ew_program *p, const vf_tensor *const *in,
                         const vf_tensor *const *out) {
    const char *nm = "elementwise";
    VF_TRY(vf_ew_validate(p));
    if (!out) return vf_fail(VF_ERR_ARG, "%s: outputs are NULL", nm);
    VF_TRY(need(nm, "output 0", out[0]));
    const int64_t R = vf_tensor_rows(out[0]), C = vf_tensor_cols(out[0]);
    for (int k = 1; k < p->n_out; k++) {
        char name[32];
        snprintf(name, sizeof name, "output %d", k);
        VF_TRY(need_shape(nm, name, out[k], "output 0", out[0]));
    }
    if (p->n_in && !in) return vf_fail(VF_ERR_ARG, "%s: inputs are NULL", nm);
    for (int i = 0; i < p->n_in; i++) {
        char name[32];
        snprintf(name, sizeof name, "input %d", i);
        static const char *const what[] = {"the outputs' shape", "one per column", "one per row", "a scalar"};
        const int64_t want[] = {R * C, C, R, 1};
        if (p->in_cols[i]) {
            VF_TRY(need_numel(nm, name, in[i], R * (int64_t)p->in_cols[i], "the outputs' rows x its window's columns"));
            if (vf_tensor_cols(in[i]) != (int64_t)p->in_cols[i])
                return vf_fail(VF_ERR_ARG, "%s: %s has %lld columns, its window says %u", nm, name,
                               (long long)vf_tensor_cols(in[i]), p->in_cols[i]);
        } else {
            VF_TRY(need_numel(nm, name, in[i], want[p->in_bcast[i]], what[p->in_bcast[i]]));
        }
        if (p->in_bcast[i] != VF_BC_FULL || p->in_cols[i])
            for (int k = 0; k < p->n_out; k++)
                if (tensors_overlap(in[i], out[k]))
                    return vf_fail(VF_ERR_ARG, "%s: output %d overlaps broadcast or windowed input %d", nm, k, i);
    }
    vf_op op;
    memset(&op, 0, sizeof op);
    op.kind = VF_OP_ELEMENTWISE;
    op.nargs = p->n_in + p->n_out;
    for (int i = 0; i < p->n_in; i++) op.args[i] = in[i];
    for (int k = 0; k < p->n_out; k++) op.args[p->n_in + k] = out[k];
    op.u[0] = u32(R);
    op.u[1] = u32(C);
    op.u[2] = (uint32_t)p->n_in;
    op.u[3] = (uint32_t)p->n_out;
    op.ew = p;
    return submit(nm, &op);
}

/* --------------------------------------------------------------- segments */

vf_status vf_segments_create(vf_arena *a, int64_t n, const int64_t *widths, vf_segments *out) {
    const char *nm = "segments_create";
    if (!out) return vf_fail(VF_ERR_ARG, "%s: out is NULL", nm);
    memset(out, 0, sizeof *out);
    if (!a) return vf_fail(VF_ERR_ARG, "%s: arena is NULL", nm);
    if (n < 1 || !widths) return vf_fail(VF_ERR_ARG, "%s: %lld segments (at least 1, with widths)", nm, (long long)n);
    int32_t *tab = malloc((size_t)n * 2 * sizeof *tab);
    if (!tab) return vf_fail(VF_ERR_OOM, "%s: out of host memory", nm);
    int64_t off = 0;
    for (int64_t s = 0; s < n; s++) {
        if (widths[s] < 1 || widths[s] > INT32_MAX - off) {
            free(tab);
            return vf_fail(VF_ERR_ARG, "%s: segment %lld has width %lld (must be >= 1, total < 2^31)", nm,
                           (long long)s, (long long)widths[s]);
        }
        tab[2 * s] = (int32_t)off;
        tab[2 * s + 1] = (int32_t)widths[s];
        off += widths[s];
    }
    int64_t shape[2] = {n, 2};
    size_t mark = vf_arena_used(a);
    vf_status st = vf_tensor_alloc(a, VF_I32, 2, shape, &out->table);
    if (!st) st = vf_tensor_write(&out->table, tab, (size_t)n * 2 * sizeof *tab);
    free(tab);
    if (st) {
        vf_arena_reset(a, mark);
        memset(out, 0, sizeof *out);
        return st;
    }
    out->n = n;
    out->cols = off;
    return VF_OK;
}

/* Checks a segment table (NULL: the whole row) against x's columns. */
static vf_status need_seg(const char *nm, const vf_segments *seg, const vf_tensor *x) {
    if (!seg) return VF_OK;
    const vf_tensor *t = &seg->table;
    if (!t->arena || t->dtype != VF_I32 || t->numel != 2 * seg->n || seg->n < 1)
        return vf_fail(VF_ERR_ARG, "%s: seg is not a table made by vf_segments_create", nm);
    if (seg->cols != vf_tensor_cols(x)) {
        char s[64];
        return vf_fail(VF_ERR_ARG, "%s: the %lld segments cover %lld columns but x has shape %s", nm,
                       (long long)seg->n, (long long)seg->cols, vf_shape_str(x, s, sizeof s));
    }
    return VF_OK;
}

static vf_status softmax_seg_fwd(const char *nm, bool log, const vf_tensor *x, const vf_segments *seg,
                                 const vf_tensor *y) {
    VF_TRY(need(nm, "x", x));
    VF_TRY(need_seg(nm, seg, x));
    VF_TRY(need_shape(nm, "y", y, "x", x));
    vf_op op = make(VF_OP_SOFTMAX_SEG, 3, x, seg ? &seg->table : NULL, y);
    op.u[0] = u32(vf_tensor_rows(x));
    op.u[1] = u32(vf_tensor_cols(x));
    op.u[2] = seg ? u32(seg->n) : 1;
    op.u[3] = log;
    op.u[4] = seg != NULL;
    return submit(nm, &op);
}

static vf_status softmax_seg_bwd(const char *nm, bool log, const vf_tensor *y, const vf_segments *seg,
                                 const vf_tensor *dy, const vf_tensor *dx) {
    VF_TRY(need(nm, "y", y));
    VF_TRY(need_seg(nm, seg, y));
    VF_TRY(need_shape(nm, "dy", dy, "y", y));
    VF_TRY(need_shape(nm, "dx", dx, "y", y));
    vf_op op = make(VF_OP_SOFTMAX_SEG_BACKWARD, 4, y, dy, seg ? &seg->table : NULL, dx);
    op.u[0] = u32(vf_tensor_rows(y));
    op.u[1] = u32(vf_tensor_cols(y));
    op.u[2] = seg ? u32(seg->n) : 1;
    op.u[3] = log;
    op.u[4] = seg != NULL;
    return submit(nm, &op);
}

vf_status vf_softmax_seg_forward(const vf_tensor *x, const vf_segments *seg, const vf_tensor *y) {
    return softmax_seg_fwd("softmax_seg", false, x, seg, y);
}
vf_status vf_softmax_seg_backward(const vf_tensor *y, const vf_segments *seg, const vf_tensor *dy,
                                  const vf_tensor *dx) {
    return softmax_seg_bwd("softmax_seg_backward", false, y, seg, dy, dx);
}
vf_status vf_log_softmax_seg_forward(const vf_tensor *x, const vf_segments *seg, const vf_tensor *y) {
    return softmax_seg_fwd("log_softmax_seg", true, x, seg, y);
}
vf_status vf_log_softmax_seg_backward(const vf_tensor *y, const vf_segments *seg, const vf_tensor *dy,
                                      const vf_tensor *dx) {
    return softmax_seg_bwd("log_softmax_seg_backward", true, y, seg, dy, dx);
}

/* ----------------------------------------------------------------- gather */

/* Shared by forward (full = x, part = y) and backward (full = dx, part =
 * dy): full [R, C], idx int32 [R, K], part [R, K]. */
static vf_status gather_op(const char *nm, vf_op_kind k, const vf_tensor *full, const char *full_name,
                           const vf_tensor *idx, const vf_tensor *part, const char *part_name) {
    VF_TRY(need(nm, full_name, full));
    VF_TRY(need_idx(nm, idx));
    VF_TRY(need(nm, part_name, part));
    const int64_t R = vf_tensor_rows(full), C = vf_tensor_cols(full), K = vf_tensor_cols(idx);
    char s1[64], s2[64];
    if (vf_tensor_rows(idx) != R)
        return vf_fail(VF_ERR_ARG, "%s: idx has shape %s, expected %lld rows as %s %s", nm,
                       vf_shape_str(idx, s1, 64), (long long)R, full_name, vf_shape_str(full, s2, 64));
    if (vf_tensor_rows(part) != R || vf_tensor_cols(part) != K)
        return vf_fail(VF_ERR_ARG, "%s: %s has shape %s, expected [%lld, %lld] (idx is %s)", nm, part_name,
                       vf_shape_str(part, s1, 64), (long long)R, (long long)K, vf_shape_str(idx, s2, 64));
    vf_op op = k == VF_OP_GATHER ? make(k, 3, full, idx, part) : make(k, 3, idx, part, full);
    op.u[0] = u32(R);
    op.u[1] = u32(C);
    op.u[2] = u32(K);
    return submit(nm, &op);
}

vf_status vf_gather_forward(const vf_tensor *x, const vf_tensor *idx, const vf_tensor *y) {
    return gather_op("gather", VF_OP_GATHER, x, "x", idx, y, "y");
}

vf_status vf_gather_backward(const vf_tensor *idx, const vf_tensor *dy, const vf_tensor *dx) {
    return gather_op("gather_backward", VF_OP_GATHER_BACKWARD, dx, "dx", idx, dy, "dy");
}

/* ------------------------------------------------- argmax, categorical sampling */

/* Shared by argmax and sampling (gumbel: argmax of x - log(-log u)). */
static vf_status argmax_op(const char *nm, const char *x_name, const vf_tensor *x, const vf_segments *seg,
                           bool gumbel, uint64_t seed, uint32_t stream, const vf_tensor *ctr,
                           const vf_tensor *idx, const vf_tensor *onehot) {
    VF_TRY(need(nm, x_name, x));
    VF_TRY(need_seg(nm, seg, x));
    if (gumbel && (!ctr || !ctr->arena || ctr->dtype != VF_I32 || ctr->numel != 2))
        return vf_fail(VF_ERR_ARG, "%s: ctr must be an int32 tensor of 2 elements {lo, hi}", nm);
    const int64_t R = vf_tensor_rows(x), S = seg ? seg->n : 1;
    if (!idx || !idx->arena) return vf_fail(VF_ERR_ARG, "%s: idx is not allocated", nm);
    if (idx->dtype != VF_I32) return vf_fail(VF_ERR_ARG, "%s: idx must be int32", nm);
    if (idx->numel != R * S) {
        char s1[64], s2[64];
        return vf_fail(VF_ERR_ARG, "%s: idx has shape %s, expected [%lld, %lld] (a row of %s %s per segment)",
                       nm, vf_shape_str(idx, s1, 64), (long long)R, (long long)S, x_name,
                       vf_shape_str(x, s2, 64));
    }
    if (onehot) VF_TRY(need_shape(nm, "onehot", onehot, x_name, x));
    vf_op op = make(VF_OP_ARGMAX_SEG, 5, x, seg ? &seg->table : NULL, gumbel ? ctr : NULL, idx, onehot);
    op.u[0] = u32(R);
    op.u[1] = u32(vf_tensor_cols(x));
    op.u[2] = u32(S);
    op.u[3] = (seg ? 1u : 0u) | (gumbel ? 2u : 0u) | (onehot ? 4u : 0u);
    op.u[4] = (uint32_t)seed;
    op.u[5] = (uint32_t)(seed >> 32);
    op.u[6] = stream;
    return submit(nm, &op);
}

vf_status vf_argmax(const vf_tensor *x, const vf_segments *seg, const vf_tensor *idx,
                    const vf_tensor *onehot) {
    return argmax_op("argmax", "x", x, seg, false, 0, 0, NULL, idx, onehot);
}

vf_status vf_sample_categorical(const vf_tensor *logits, const vf_segments *seg, uint64_t seed,
                                uint32_t stream, const vf_tensor *ctr, const vf_tensor *idx,
                                const vf_tensor *onehot) {
    return argmax_op("sample_categorical", "logits", logits, seg, true, seed, stream, ctr, idx, onehot);
}

/* ----------------------------------------------------- per-example norms */

/* x [B, T*I] (NULL: the bias norm), dy [B, T*O], out [B]. */
static vf_status per_example(const char *nm, const vf_tensor *x, const vf_tensor *dy, int64_t T,
                             const vf_tensor *out) {
    if (x) VF_TRY(need(nm, "x", x));
    VF_TRY(need(nm, "dy", dy));
    const int64_t B = vf_tensor_rows(dy);
    char s1[64], s2[64];
    if (T < 1 || vf_tensor_cols(dy) % T || (x && vf_tensor_cols(x) % T))
        return vf_fail(VF_ERR_ARG, "%s: T = %lld does not divide the columns of dy %s%s%s", nm, (long long)T,
                       vf_shape_str(dy, s1, 64), x ? " and x " : "", x ? vf_shape_str(x, s2, 64) : "");
    if (x && vf_tensor_rows(x) != B)
        return vf_fail(VF_ERR_ARG, "%s: x has shape %s but dy has %s: one row per example in both", nm,
                       vf_shape_str(x, s1, 64), vf_shape_str(dy, s2, 64));
    VF_TRY(need_numel(nm, "out", out, B, "one per example (row of dy)"));
    vf_op op = make(VF_OP_PER_EXAMPLE_SQNORM, 3, x, dy, out);
    op.u[0] = u32(B);
    op.u[1] = u32(T);
    op.u[2] = x ? u32(vf_tensor_cols(x) / T) : 0;
    op.u[3] = u32(vf_tensor_cols(dy) / T);
    return submit(nm, &op);
}

vf_status vf_per_example_sqnorm(const vf_tensor *x, const vf_tensor *dy, int64_t T, const vf_tensor *out) {
    if (!x) return vf_fail(VF_ERR_ARG, "per_example_sqnorm: x is NULL");
    return per_example("per_example_sqnorm", x, dy, T, out);
}

vf_status vf_per_example_sqnorm_bias(const vf_tensor *dy, int64_t T, const vf_tensor *out) {
    return per_example("per_example_sqnorm_bias", NULL, dy, T, out);
}
