/* Internal: the op record every front-end function builds, and the table of
 * functions a backend provides. Not part of the public API.
 *
 * An op names its kind, its tensor arguments in a fixed order (inputs first,
 * then outputs; see the table in ops.c), and up to VF_OP_MAX_U unsigned and
 * VF_OP_MAX_F float parameters. The vk backend copies u[] and f[] into one
 * push-constant block; the same layout is declared in shaders/common.glsl. */
#ifndef VKFLOW_BACKEND_H
#define VKFLOW_BACKEND_H

#include "vkflow.h"

typedef enum vf_op_kind {
    VF_OP_FILL,              /* t | f0 = value */
    VF_OP_COPY,              /* x -> y | u0 = n */
    VF_OP_MATMUL,            /* a, b, c | u: M N K batch ta tb sa sb sc, f: alpha beta */
    VF_OP_BIAS_ADD,          /* x, bias -> y | u0 = R, u1 = C */
    VF_OP_BINARY,            /* a, b -> y | u0 = n, u1 = kind */
    VF_OP_SCALE,             /* x, y | u0 = n, f0 alpha, f1 beta: y = a x + b y */
    VF_OP_UNARY,             /* x -> y | u0 = n, u1 = kind, f0 alpha */
    VF_OP_UNARY_BACKWARD,    /* x, y, dy -> dx | u0 = n, u1 = kind, f0 alpha */
    VF_OP_SOFTMAX,           /* x -> y | u0 = R, u1 = C, u2 = log */
    VF_OP_SOFTMAX_BACKWARD,  /* y, dy -> dx | u0 = R, u1 = C, u2 = log */
    VF_OP_COPY_COLS,         /* x -> y | u: R, x_cols, x_start, y_cols, y_start, width */
    VF_OP_REDUCE,            /* x -> y | u0 = R, u1 = C, u2 = axis, u3 = square; f0 scale */
    VF_OP_BROADCAST,         /* dy -> dx | u0 = R, u1 = C, u2 = axis; f0 scale */
    VF_OP_SQNORM_BACKWARD,   /* x, dy -> dx | u0 = R, u1 = C */
    VF_OP_MSE,               /* a, b -> loss | u0 = n */
    VF_OP_MSE_BACKWARD,      /* a, b, dloss -> da | u0 = n, f0 sign (+1 da, -1 db) */
    VF_OP_BCE,               /* x, t -> loss | u0 = n */
    VF_OP_BCE_BACKWARD,      /* x, t, dloss -> dx | u0 = n */
    VF_OP_LSTM_CELL,         /* gates, c_prev -> h, c | u0 = B, u1 = H */
    VF_OP_LSTM_CELL_BACKWARD,/* gates, c_prev, c, dh, dc -> dgates, dc_prev | u0 B, u1 H, u2 has_dc */
    VF_OP_BATCHNORM_TRAIN,   /* x, gamma, beta -> y, mean, rstd, run_mean, run_var
                                | u0 R, u1 C, u2 has_running; f0 eps, f1 momentum */
    VF_OP_BATCHNORM_INFER,   /* x, gamma, beta, run_mean, run_var -> y | u0 R, u1 C; f0 eps */
    VF_OP_BATCHNORM_BACKWARD,/* x, gamma, mean, rstd, dy -> dx, dgamma, dbeta | u0 R, u1 C */
    VF_OP_LAYERNORM,         /* x, gamma, beta -> y, mean, rstd | u0 R, u1 C; f0 eps */
    VF_OP_LAYERNORM_BACKWARD,/* x, gamma, mean, rstd, dy -> dx, dgamma, dbeta | u0 R, u1 C */
    VF_OP_EMBEDDING,         /* idx, table -> y | u0 N, u1 V, u2 D */
    VF_OP_EMBEDDING_BACKWARD,/* idx, dy -> dtable | u0 N, u1 V, u2 D */
    VF_OP_ADAM,              /* param, grad, m, v, sched | u0 n; f0 b1, f1 b2, f2 eps, f3 wd */
    VF_OP_RNG,               /* ctr -> out | u0 n, u1 seed lo, u2 seed hi, u3 stream, u4 normal */
    VF_OP_ELEMENTWISE,       /* in[n_in], out[n_out] | u0 R, u1 C; program in op.ew */
    /* seg: int32 [S, 2] {offset, width} table, or NULL (has_seg 0) for one
     * segment covering the whole row */
    VF_OP_SOFTMAX_SEG,       /* x, seg -> y | u0 R, u1 C, u2 S, u3 log, u4 has_seg */
    VF_OP_SOFTMAX_SEG_BACKWARD, /* y, dy, seg -> dx | u0 R, u1 C, u2 S, u3 log, u4 has_seg */
    VF_OP_GATHER,            /* x, idx -> y | u0 R, u1 C, u2 K */
    VF_OP_GATHER_BACKWARD,   /* idx, dy -> dx | u0 R, u1 C, u2 K */
    VF_OP_ARGMAX_SEG,        /* x, seg, ctr -> idx, onehot | u0 R, u1 C, u2 S, u3 flags (1 has_seg,
                                2 gumbel: sample with Philox uniforms from ctr, 4 has onehot),
                                u4 seed lo, u5 seed hi, u6 stream */
    VF_OP_PER_EXAMPLE_SQNORM,/* x, dy -> out | u0 B, u1 T, u2 I, u3 O; x NULL: the bias norm */
    VF_OP_COUNT
} vf_op_kind;

#define VF_OP_MAX_ARGS 12 /* elementwise: 8 inputs + 4 outputs */
#define VF_OP_MAX_U 10   /* u[9] is reserved for the backend (vk: pass index) */
#define VF_OP_MAX_F 4

typedef struct vf_op {
    vf_op_kind kind;
    int nargs;
    const vf_tensor *args[VF_OP_MAX_ARGS]; /* NULL allowed where the op says */
    uint32_t u[VF_OP_MAX_U];
    float f[VF_OP_MAX_F];
    const vf_ew_program *ew;  /* VF_OP_ELEMENTWISE only */
} vf_op;

const char *vf_op_name(vf_op_kind k);

typedef struct vf_backend_ops {
    void (*destroy)(vf_backend *be);
    vf_status (*sync)(vf_backend *be);
    /* storage: one block per arena */
    vf_status (*arena_alloc)(vf_backend *be, size_t bytes, void **handle);
    void (*arena_free)(vf_backend *be, void *handle);
    vf_status (*write)(vf_backend *be, void *handle, size_t offset,
                       const void *src, size_t bytes);
    vf_status (*read)(vf_backend *be, void *handle, size_t offset, void *dst,
                      size_t bytes);
    /* runs (or records, while capturing) one op */
    vf_status (*run_op)(vf_backend *be, const vf_op *op);
    vf_status (*capture_begin)(vf_backend *be);
    vf_status (*capture_end)(vf_backend *be, vf_program **out);
    vf_status (*profile)(vf_backend *be, bool on);
} vf_backend_ops;

struct vf_backend {
    const vf_backend_ops *ops;
    vf_backend_kind kind;
    char name[256];
    size_t alloc_align;       /* sub-allocation alignment inside an arena */
    size_t max_arena_bytes;   /* largest single arena (maxStorageBufferRange) */
    bool capturing;
    int validation_errors;
    int64_t bad_indices;      /* cpu: out-of-range indices met by embedding/gather */
    vf_arena *arenas;         /* live arenas: destroyed with the backend */
};

struct vf_arena {
    vf_backend *be;
    void *handle;             /* backend storage */
    size_t capacity, used;
    vf_arena *prev, *next;    /* the backend's list of live arenas */
};

/* Programs: the backend fills in run/destroy. */
struct vf_program {
    vf_backend *be;
    int op_count;
    double last_gpu_seconds;
    vf_status (*run)(vf_program *p);
    void (*destroy)(vf_program *p);
};

/* Host address of a tensor on the cpu backend. */
static inline void *vf_cpu_ptr(const vf_tensor *t) {
    return (char *)t->arena->handle + t->offset;
}

vf_status vf_cpu_run_op(const vf_op *op);
vf_status vf_cpu_elementwise(const vf_op *op);

#endif
