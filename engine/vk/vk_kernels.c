/* How each op becomes Vulkan dispatches: shader name, specialization
 * constants, workgroup counts and passes (see vk_kernels.h). Binding i of
 * every shader is op->args[i]; the shaders document which u[]/f[] they read.
 * Workgroup sizes come from the per-device tuning (vk_tuning.c). */
#include "vk_kernels.h"

#include <string.h>

static uint32_t ceil_div(uint64_t a, uint64_t b) { return (uint32_t)((a + b - 1) / b); }

static vf_vk_dispatch *add(vf_vk_dispatch *out, int *n, const char *shader, uint32_t wg) {
    vf_vk_dispatch *d = &out[(*n)++];
    memset(d, 0, sizeof *d);
    d->shader = shader;
    d->spec[0] = wg;
    d->nspec = 1;
    d->groups[0] = d->groups[1] = d->groups[2] = 1;
    d->pass = (uint32_t)(*n - 1);
    return d;
}

/* One invocation per element of a 1-D range of `count` elements. A zero count
 * cannot happen (shapes are >= 1) but still dispatches one guarded group. */
static void linear(vf_vk_dispatch *d, uint64_t count) {
    uint32_t g = ceil_div(count, d->spec[0]);
    d->groups[0] = g ? g : 1;
    d->linear = true;
}

/* One workgroup per row (row reductions): `rows` groups, folded into y by the
 * runtime if there are too many. */
static void per_group(vf_vk_dispatch *d, uint64_t rows) {
    d->groups[0] = rows ? (uint32_t)rows : 1;
    d->linear = true;
}

/* Rows this short are summed by one invocation each instead of a whole
 * workgroup per row: a 256-wide tree over 8 numbers wastes the workgroup. */
#define REDUCE_PER_THREAD_MAX_COLS 32

static int plan_matmul(const vf_vk_tuning *t, const vf_op *op, vf_vk_dispatch *out) {
    int n = 0;
    const uint32_t bm = t->mm_bm, bn = t->mm_bn, tm = t->mm_tm, tn = t->mm_tn;
    vf_vk_dispatch *d = add(out, &n, "matmul", (bm / tm) * (bn / tn));
    d->spec[1] = bm;
    d->spec[2] = bn;
    d->spec[3] = t->mm_bk;
    d->spec[4] = tm;
    d->spec[5] = tn;
    d->spec[6] = t->mm_shared ? 1u : 0u;
    d->spec[7] = (op->u[4] ? 1u : 0u) | (op->u[5] ? 2u : 0u);
    d->nspec = 8;
    d->groups[0] = ceil_div(op->u[1], bn);
    d->groups[1] = ceil_div(op->u[0], bm);
    d->groups[2] = op->u[3];
    d->linear = false;
    return n;
}

int vf_vk_plan(const vf_vk_tuning *t, const vf_op *op, vf_vk_dispatch out[VF_VK_MAX_PASSES]) {
    const uint32_t wg = t->wg_size, rwg = t->reduce_wg;
    const uint32_t *u = op->u;
    const uint64_t rc = (uint64_t)u[0] * u[1]; /* R * C for the [R, C] ops */
    int n = 0;
    vf_vk_dispatch *d;
    switch (op->kind) {
    case VF_OP_FILL: linear(add(out, &n, "fill", wg), u[0]); break;
    case VF_OP_COPY: linear(add(out, &n, "copy", wg), u[0]); break;
    case VF_OP_MATMUL: return plan_matmul(t, op, out);
    case VF_OP_BIAS_ADD: linear(add(out, &n, "bias_add", wg), rc); break;
    case VF_OP_BINARY: linear(add(out, &n, "binary", wg), u[0]); break;
    case VF_OP_SCALE: linear(add(out, &n, "scale", wg), u[0]); break;
    case VF_OP_UNARY: linear(add(out, &n, "unary", wg), u[0]); break;
    case VF_OP_UNARY_BACKWARD: linear(add(out, &n, "unary_backward", wg), u[0]); break;
    case VF_OP_SOFTMAX: per_group(add(out, &n, "softmax", rwg), u[0]); break;
    case VF_OP_SOFTMAX_BACKWARD: per_group(add(out, &n, "softmax_backward", rwg), u[0]); break;
    case VF_OP_COPY_COLS: linear(add(out, &n, "copy_cols", wg), (uint64_t)u[0] * u[5]); break;
    case VF_OP_REDUCE: {
        const uint32_t axis = u[2];
        bool per_thread = axis == VF_REDUCE_COLS ||
                          (axis == VF_REDUCE_ROWS && u[1] <= REDUCE_PER_THREAD_MAX_COLS);
        d = add(out, &n, "reduce", per_thread ? wg : rwg);
        d->spec[1] = per_thread ? 1u : 0u;
        d->nspec = 2;
        if (per_thread) linear(d, axis == VF_REDUCE_COLS ? u[1] : u[0]);
        else per_group(d, axis == VF_REDUCE_ALL ? 1 : u[0]);
        break;
    }
    case VF_OP_BROADCAST: linear(add(out, &n, "broadcast", wg), rc); break;
    case VF_OP_SQNORM_BACKWARD: linear(add(out, &n, "sqnorm_backward", wg), rc); break;
    case VF_OP_MSE: per_group(add(out, &n, "mse", rwg), 1); break;
    case VF_OP_MSE_BACKWARD: linear(add(out, &n, "mse_backward", wg), u[0]); break;
    case VF_OP_BCE: per_group(add(out, &n, "bce", rwg), 1); break;
    case VF_OP_BCE_BACKWARD: linear(add(out, &n, "bce_backward", wg), u[0]); break;
    case VF_OP_LSTM_CELL: linear(add(out, &n, "lstm_cell", wg), rc); break;
    case VF_OP_LSTM_CELL_BACKWARD: linear(add(out, &n, "lstm_cell_backward", wg), rc); break;
    case VF_OP_BATCHNORM_TRAIN: linear(add(out, &n, "batchnorm_train", wg), u[1]); break;
    case VF_OP_BATCHNORM_INFER: linear(add(out, &n, "batchnorm_infer", wg), rc); break;
    case VF_OP_BATCHNORM_BACKWARD: linear(add(out, &n, "batchnorm_backward", wg), u[1]); break;
    case VF_OP_LAYERNORM: per_group(add(out, &n, "layernorm", rwg), u[0]); break;
    case VF_OP_LAYERNORM_BACKWARD:
        /* pass 0: dx, a workgroup per row; pass 1: dgamma/dbeta, a thread per
         * column. Same workgroup size so both passes share one pipeline. */
        per_group(add(out, &n, "layernorm_backward", rwg), u[0]);
        linear(add(out, &n, "layernorm_backward", rwg), u[1]);
        break;
    case VF_OP_EMBEDDING: linear(add(out, &n, "embedding", wg), (uint64_t)u[0] * u[2]); break;
    case VF_OP_EMBEDDING_BACKWARD:
        /* pass 0 zeroes dtable [V, D]; pass 1: a thread per column d */
        linear(add(out, &n, "embedding_backward", wg), (uint64_t)u[1] * u[2]);
        linear(add(out, &n, "embedding_backward", wg), u[2]);
        break;
    case VF_OP_ADAM: linear(add(out, &n, "adam", wg), u[0]); break;
    case VF_OP_RNG: linear(add(out, &n, "rng", wg), ((uint64_t)u[0] + 3) / 4); break;
    case VF_OP_SOFTMAX_SEG: per_group(add(out, &n, "softmax_seg", rwg), (uint64_t)u[0] * u[2]); break;
    case VF_OP_SOFTMAX_SEG_BACKWARD:
        per_group(add(out, &n, "softmax_seg_backward", rwg), (uint64_t)u[0] * u[2]);
        break;
    case VF_OP_GATHER: linear(add(out, &n, "gather", wg), (uint64_t)u[0] * u[2]); break;
    case VF_OP_GATHER_BACKWARD:
        /* pass 0 zeroes dx [R, C]; pass 1: a thread per row */
        linear(add(out, &n, "gather_backward", wg), (uint64_t)u[0] * u[1]);
        linear(add(out, &n, "gather_backward", wg), u[0]);
        break;
    case VF_OP_ARGMAX_SEG: per_group(add(out, &n, "argmax_seg", rwg), (uint64_t)u[0] * u[2]); break;
    case VF_OP_PER_EXAMPLE_SQNORM: per_group(add(out, &n, "per_example_sqnorm", rwg), u[0]); break;
    default:
        vf_fail(VF_ERR_UNSUPPORTED, "vk: op %s (kind %d) has no kernel",
                vf_op_name(op->kind), (int)op->kind);
        return -1;
    }
    return n;
}

uint32_t vf_vk_write_mask(const vf_op *op) {
#define BIT(i) (1u << (i))
    switch (op->kind) {
    case VF_OP_FILL: return BIT(0);
    case VF_OP_ADAM: return BIT(0) | BIT(2) | BIT(3); /* param, m, v; grad, sched read */
    case VF_OP_LSTM_CELL: return BIT(2) | BIT(3);                     /* h, c */
    case VF_OP_LSTM_CELL_BACKWARD: return BIT(5) | BIT(6);            /* dgates, dc_prev */
    case VF_OP_BATCHNORM_TRAIN:                                       /* y, mean, rstd, run_* */
        return BIT(3) | BIT(4) | BIT(5) | (op->u[2] ? BIT(6) | BIT(7) : 0u);
    case VF_OP_BATCHNORM_BACKWARD:                                    /* dx, dgamma, dbeta */
    case VF_OP_LAYERNORM_BACKWARD: return BIT(5) | BIT(6) | BIT(7);
    case VF_OP_LAYERNORM: return BIT(3) | BIT(4) | BIT(5);            /* y, mean, rstd */
    case VF_OP_ARGMAX_SEG: return BIT(3) | BIT(4);                    /* idx, onehot */
    case VF_OP_COUNT: return 0;
    default:
        /* every other op writes only its last argument */
        return op->nargs > 0 ? BIT(op->nargs - 1) : 0u;
    }
#undef BIT
}
