/* vkflow engine: public API.
 *
 * Tensors live in arenas owned by a backend ("cpu" or "vk"). Ops are plain
 * functions (vf_<op>_forward / vf_<op>_backward) that check shapes, then hand a
 * vf_op record to the tensors' backend. Every function that can fail returns a
 * vf_status; vf_last_error() says what went wrong and where.
 *
 * Layout: tensors are dense, row-major float32 (or int32 for indices). Ops that
 * speak of rows and columns see a tensor of shape [d0, ..., dk] as
 * [d0*...*d(k-1), dk]. */
#ifndef VKFLOW_H
#define VKFLOW_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors */

typedef enum vf_status {
    VF_OK = 0,
    VF_ERR_ARG,          /* bad argument: shape mismatch, wrong dtype, NULL */
    VF_ERR_OOM,          /* host or device memory exhausted, arena full */
    VF_ERR_DEVICE,       /* no suitable device, Vulkan call failed, device lost */
    VF_ERR_UNSUPPORTED,  /* op or feature not available on this backend */
    VF_ERR_IO,           /* file or stream error */
    VF_ERR_FORMAT,       /* malformed input data */
} vf_status;

/* Message of the last error on this thread ("" if none). */
const char *vf_last_error(void);
const char *vf_status_name(vf_status s);
/* Sets the thread's error message and returns s (for `return vf_fail(...)`). */
vf_status vf_fail(vf_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Returns from the calling function when x is not VF_OK (drivers and other
 * code built on the library use it as the library does). */
#define VF_TRY(x) do { vf_status vf_try_ = (x); if (vf_try_ != VF_OK) return vf_try_; } while (0)

/* --------------------------------------------------------------- backends */

typedef struct vf_backend vf_backend;

typedef enum vf_backend_kind { VF_BACKEND_CPU, VF_BACKEND_VK } vf_backend_kind;

/* Creates the CPU backend (OpenBLAS GEMM, plain C for the rest). */
vf_status vf_cpu_create(vf_backend **out);
/* Creates the Vulkan backend on the device chosen by vf_vk_choose_device()
 * (VKFLOW_DEVICE=<index|name substring> overrides; VKFLOW_VALIDATE=1 turns on
 * the Khronos validation layer). */
vf_status vf_vk_create(vf_backend **out);
/* Destroys the backend and every arena still allocated on it. */
void vf_backend_destroy(vf_backend *be);

/* What `vkflow devices` prints: one entry per Vulkan physical device. */
typedef struct vf_vk_device_info {
    int index;
    char name[256];
    char type[16];            /* "discrete", "integrated", "virtual", "cpu", "other" */
    char driver[256];         /* driver name and info */
    uint32_t api_version, vendor_id, device_id;
    uint64_t device_local_bytes;
    uint32_t subgroup_size;
    bool fp16;                /* shaderFloat16 */
    bool coopmat;             /* VK_KHR_cooperative_matrix or VK_NV_cooperative_matrix */
    bool usable;              /* has everything vkflow needs */
    char unusable_reason[128];
    bool chosen;              /* the one vf_vk_create would pick */
} vf_vk_device_info;
/* Enumerates devices into a malloc'd array (caller frees). */
vf_status vf_vk_list_devices(vf_vk_device_info **out, int *count);
vf_backend_kind vf_backend_kind_of(const vf_backend *be);
const char *vf_backend_name(const vf_backend *be); /* "cpu" or device name */
/* Waits for all submitted work. */
vf_status vf_backend_sync(vf_backend *be);
/* Number of validation-layer messages of severity warning or error seen so
 * far (always 0 on cpu or when validation is off). Tests fail on any. */
int vf_backend_validation_errors(const vf_backend *be);
/* Out-of-range indices the cpu kernels of embedding and gather (forward and
 * backward) have met so far; each gave a zero (always 0 on vk, whose kernels
 * zero them too but cannot count them cheaply). */
int64_t vf_backend_bad_indices(const vf_backend *be);

/* ----------------------------------------------------------------- tensors */

typedef enum vf_dtype { VF_F32 = 0, VF_I32 = 1 } vf_dtype;

#define VF_MAX_DIMS 4

typedef struct vf_arena vf_arena;

typedef struct vf_tensor {
    vf_arena *arena;          /* owner of the storage */
    vf_dtype dtype;
    int ndim;                 /* 1..VF_MAX_DIMS */
    int64_t shape[VF_MAX_DIMS];
    int64_t numel;
    size_t offset;            /* bytes from the start of the arena's buffer */
} vf_tensor;

/* An arena is one allocation (one VkDeviceMemory, or one host block) that
 * tensors are sub-allocated from, in order, until it is full. */
vf_status vf_arena_create(vf_backend *be, size_t bytes, vf_arena **out);
void vf_arena_destroy(vf_arena *a);
vf_backend *vf_arena_backend(const vf_arena *a);
size_t vf_arena_used(const vf_arena *a);
size_t vf_arena_capacity(const vf_arena *a);
/* Drops every tensor allocated after `mark` (a value of vf_arena_used). */
void vf_arena_reset(vf_arena *a, size_t mark);

/* Allocates a tensor in the arena. shape has ndim entries, each >= 1. */
vf_status vf_tensor_alloc(vf_arena *a, vf_dtype dt, int ndim,
                          const int64_t *shape, vf_tensor *out);
/* Convenience for 1-D and 2-D float tensors. */
vf_status vf_tensor_alloc1(vf_arena *a, int64_t n, vf_tensor *out);
vf_status vf_tensor_alloc2(vf_arena *a, int64_t rows, int64_t cols, vf_tensor *out);

size_t vf_tensor_bytes(const vf_tensor *t);
int64_t vf_tensor_cols(const vf_tensor *t);   /* last dimension */
int64_t vf_tensor_rows(const vf_tensor *t);   /* product of the others */
bool vf_tensor_same_shape(const vf_tensor *a, const vf_tensor *b);
/* "[3, 5]" into buf; returns buf. */
const char *vf_shape_str(const vf_tensor *t, char *buf, size_t len);

/* A tensor at a chosen byte offset of an arena (for memory planners that
 * place tensors themselves). Checks bounds and alignment; does not change the
 * arena's bump pointer. */
vf_status vf_tensor_view(vf_arena *a, size_t offset, vf_dtype dt, int ndim,
                         const int64_t *shape, vf_tensor *out);
/* The alignment offsets passed to vf_tensor_view must have on this backend. */
size_t vf_backend_alignment(const vf_backend *be);

/* Host <-> tensor copies of the whole tensor (bytes == vf_tensor_bytes). */
vf_status vf_tensor_write(const vf_tensor *t, const void *src, size_t bytes);
vf_status vf_tensor_read(const vf_tensor *t, void *dst, size_t bytes);

/* ------------------------------------------------------------- recording */

/* A program is a captured sequence of ops (with their barriers) that can be
 * replayed. Between vf_capture_begin and vf_capture_end ops are recorded, not
 * run. Ops that need per-step scalars (Adam's step and learning rate, the
 * RNG counter) read them from small tensors, so a replay sees new values
 * written with vf_tensor_write. */
typedef struct vf_program vf_program;
vf_status vf_capture_begin(vf_backend *be);
vf_status vf_capture_end(vf_backend *be, vf_program **out);
/* Runs the program once and waits for it. */
vf_status vf_program_run(vf_program *p);
void vf_program_destroy(vf_program *p);
int vf_program_op_count(const vf_program *p);

/* Profiling: when on, vk records a timestamp around each dispatch. */
vf_status vf_profile_enable(vf_backend *be, bool on);
/* Device time in seconds of the last run of a program (0 on cpu). */
double vf_program_last_gpu_seconds(const vf_program *p);
/* cpu: with profiling on, the host time spent in each op kind (GEMM,
 * elementwise, reductions, ...) since the last reset: up to cap entries,
 * returns how many (0 on other backends). */
typedef struct vf_op_time { const char *op; double seconds; int64_t calls; } vf_op_time;
int vf_profile_op_times(vf_backend *be, vf_op_time *out, int cap);
void vf_profile_reset(vf_backend *be);

/* -------------------------------------------------------------------- ops */
/* Shapes use [rows, cols] for the row/column view described above. Unless
 * stated otherwise outputs must not alias inputs. */

/* t[:] = value. For an int32 tensor the value is converted to int32, so it
 * is exact only for |value| <= 2^24. */
vf_status vf_fill(const vf_tensor *t, float value);
/* y = x (same numel, same dtype) */
vf_status vf_copy(const vf_tensor *x, const vf_tensor *y);

/* C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b]
 * op(A) is [M, K] (A stored [M, K], or [K, M] if trans_a), op(B) is [K, N]
 * (B stored [K, N], or [N, K] if trans_b), C is [M, N]. A 3-D tensor
 * [batch, r, c] is a batch; a 2-D operand is shared by every batch entry.
 * So the batched GEMM is this function with A [G, M, K], B [G, K, N] and
 * C [G, M, N] (one dispatch; vf_matmul_backward handles it too). */
vf_status vf_matmul(const vf_tensor *a, bool trans_a, const vf_tensor *b,
                    bool trans_b, const vf_tensor *c, float alpha, float beta);
/* Gradients of C = op(A) @ op(B) given dC; da/db may be NULL (not wanted).
 * Accumulates into da/db when accumulate is true, else overwrites. */
vf_status vf_matmul_backward(const vf_tensor *a, bool trans_a,
                             const vf_tensor *b, bool trans_b,
                             const vf_tensor *dc, const vf_tensor *da,
                             const vf_tensor *db, bool accumulate);

/* y[r, c] = x[r, c] + bias[c]; backward: dx = dy (caller's choice to alias),
 * dbias[c] = sum_r dy[r, c]. */
vf_status vf_bias_add_forward(const vf_tensor *x, const vf_tensor *bias,
                              const vf_tensor *y);
vf_status vf_bias_add_backward(const vf_tensor *dy, const vf_tensor *dbias);

typedef enum vf_binary_kind { VF_ADD = 0, VF_SUB = 1, VF_MUL = 2 } vf_binary_kind;
/* y = a (+|-|*) b, all the same shape. y may alias a or b. */
vf_status vf_binary_forward(vf_binary_kind k, const vf_tensor *a,
                            const vf_tensor *b, const vf_tensor *y);
/* da, db (either may be NULL) from dy; for MUL needs a and b. */
vf_status vf_binary_backward(vf_binary_kind k, const vf_tensor *a,
                             const vf_tensor *b, const vf_tensor *dy,
                             const vf_tensor *da, const vf_tensor *db);
/* y = alpha * x + beta * y  (beta = 0: y = alpha * x; y may alias x) */
vf_status vf_scale(const vf_tensor *x, const vf_tensor *y, float alpha, float beta);

typedef enum vf_unary_kind {
    VF_RELU = 0, VF_LEAKY_RELU = 1, VF_TANH = 2, VF_SIGMOID = 3, VF_SOFTPLUS = 4,
    VF_SIN = 5, VF_COS = 6,
    VF_UNARY_COUNT
} vf_unary_kind;
const char *vf_unary_name(vf_unary_kind k);
/* y = f(x); alpha is leaky_relu's negative slope (ignored otherwise). */
vf_status vf_unary_forward(vf_unary_kind k, float alpha, const vf_tensor *x,
                           const vf_tensor *y);
/* dx = dy * f'(x); needs x and the forward output y. dx may alias dy. */
vf_status vf_unary_backward(vf_unary_kind k, float alpha, const vf_tensor *x,
                            const vf_tensor *y, const vf_tensor *dy,
                            const vf_tensor *dx);

/* Row-wise softmax / log_softmax of x [R, C]. */
vf_status vf_softmax_forward(const vf_tensor *x, const vf_tensor *y);
vf_status vf_softmax_backward(const vf_tensor *y, const vf_tensor *dy,
                              const vf_tensor *dx);
vf_status vf_log_softmax_forward(const vf_tensor *x, const vf_tensor *y);
vf_status vf_log_softmax_backward(const vf_tensor *y, const vf_tensor *dy,
                                  const vf_tensor *dx);

/* Concatenation of n tensors [R, C_i] along the last axis into y [R, sum C_i];
 * backward splits dy into the dxs (every part is needed: its width places the
 * next one). */
vf_status vf_concat_forward(int n, const vf_tensor *const *xs, const vf_tensor *y);
vf_status vf_concat_backward(int n, const vf_tensor *dy, const vf_tensor *const *dxs);
/* y [R, w] = x[:, start:start+w]; backward writes dy into dx's columns and
 * zero elsewhere. */
vf_status vf_slice_forward(const vf_tensor *x, int64_t start, const vf_tensor *y);
vf_status vf_slice_backward(const vf_tensor *dy, int64_t start, const vf_tensor *dx);

typedef enum vf_reduce_axis {
    VF_REDUCE_ROWS = 0,  /* x [R, C] -> y [R]: over each row */
    VF_REDUCE_COLS = 1,  /* x [R, C] -> y [C]: over each column */
    VF_REDUCE_ALL = 2,   /* x -> y [1] */
} vf_reduce_axis;
/* y = sum (mean: divided by the count) along axis. */
vf_status vf_sum_forward(vf_reduce_axis ax, bool mean, const vf_tensor *x,
                         const vf_tensor *y);
/* dx = broadcast of dy (divided by the count for mean). */
vf_status vf_sum_backward(vf_reduce_axis ax, bool mean, const vf_tensor *dy,
                          const vf_tensor *dx);

/* y[r] = sum_c x[r, c]^2 ; dx = 2 x dy[r] */
vf_status vf_sqnorm_rows_forward(const vf_tensor *x, const vf_tensor *y);
vf_status vf_sqnorm_rows_backward(const vf_tensor *x, const vf_tensor *dy,
                                  const vf_tensor *dx);

/* loss[1] = mean((a - b)^2); da = 2 (a - b) / n * dloss, db = -da. */
vf_status vf_mse_forward(const vf_tensor *a, const vf_tensor *b, const vf_tensor *loss);
vf_status vf_mse_backward(const vf_tensor *a, const vf_tensor *b,
                          const vf_tensor *dloss, const vf_tensor *da,
                          const vf_tensor *db);
/* loss[1] = mean(max(x,0) - x t + log(1 + exp(-|x|))) with logits x, targets t;
 * dx = (sigmoid(x) - t) / n * dloss. */
vf_status vf_bce_logits_forward(const vf_tensor *x, const vf_tensor *t,
                                const vf_tensor *loss);
vf_status vf_bce_logits_backward(const vf_tensor *x, const vf_tensor *t,
                                 const vf_tensor *dloss, const vf_tensor *dx);

/* LSTM cell with fused gates. gates [B, 4H] are the pre-activations
 * x W_x + h W_h + b in the order (i, f, g, o); c_prev [B, H].
 *   c = sigmoid(f) c_prev + sigmoid(i) tanh(g),  h = sigmoid(o) tanh(c)
 * Backward takes dh and dc (the gradient flowing into c from the next step,
 * or NULL for none) and writes dgates [B, 4H] and dc_prev [B, H]. */
vf_status vf_lstm_cell_forward(const vf_tensor *gates, const vf_tensor *c_prev,
                               const vf_tensor *h, const vf_tensor *c);
vf_status vf_lstm_cell_backward(const vf_tensor *gates, const vf_tensor *c_prev,
                                const vf_tensor *c, const vf_tensor *dh,
                                const vf_tensor *dc, const vf_tensor *dgates,
                                const vf_tensor *dc_prev);

/* Batch norm over the rows of x [R, C] (per column). Training mode writes
 * y, the batch mean [C] and rstd = 1/sqrt(var + eps) [C] (biased variance),
 * and updates running_mean/var [C] (unbiased variance, PyTorch's convention)
 * with momentum: run = (1 - momentum) run + momentum batch. running_* may be
 * NULL. Inference mode uses the running statistics. */
vf_status vf_batchnorm_train_forward(const vf_tensor *x, const vf_tensor *gamma,
                                     const vf_tensor *beta, float eps, float momentum,
                                     const vf_tensor *y, const vf_tensor *mean,
                                     const vf_tensor *rstd,
                                     const vf_tensor *running_mean,
                                     const vf_tensor *running_var);
vf_status vf_batchnorm_infer_forward(const vf_tensor *x, const vf_tensor *gamma,
                                     const vf_tensor *beta,
                                     const vf_tensor *running_mean,
                                     const vf_tensor *running_var, float eps,
                                     const vf_tensor *y);
vf_status vf_batchnorm_backward(const vf_tensor *x, const vf_tensor *gamma,
                                const vf_tensor *mean, const vf_tensor *rstd,
                                const vf_tensor *dy, const vf_tensor *dx,
                                const vf_tensor *dgamma, const vf_tensor *dbeta);

/* Layer norm over the columns of each row of x [R, C]; mean, rstd are [R]. */
vf_status vf_layernorm_forward(const vf_tensor *x, const vf_tensor *gamma,
                               const vf_tensor *beta, float eps,
                               const vf_tensor *y, const vf_tensor *mean,
                               const vf_tensor *rstd);
vf_status vf_layernorm_backward(const vf_tensor *x, const vf_tensor *gamma,
                                const vf_tensor *mean, const vf_tensor *rstd,
                                const vf_tensor *dy, const vf_tensor *dx,
                                const vf_tensor *dgamma, const vf_tensor *dbeta);

/* y [N, D] = table[idx[n]] for int32 idx [N] and table [V, D]. Indices out of
 * [0, V) give a zero row (and are counted on cpu: vf_backend_bad_indices). Backward: dtable is
 * overwritten with the scatter-add of dy rows (deterministic order). */
vf_status vf_embedding_forward(const vf_tensor *idx, const vf_tensor *table,
                               const vf_tensor *y);
vf_status vf_embedding_backward(const vf_tensor *idx, const vf_tensor *dy,
                                const vf_tensor *dtable);

/* Fused Adam with bias correction, in place on param, m, v:
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 *   param -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 *            + lr * weight_decay * param                     (decoupled, AdamW)
 * sched is a float tensor [2] = {lr, t} (t >= 1) so a replayed program picks
 * up a new step and learning rate. */
typedef struct vf_adam_config {
    float beta1, beta2, eps, weight_decay;
} vf_adam_config;
vf_status vf_adam_update(const vf_tensor *param, const vf_tensor *grad,
                         const vf_tensor *m, const vf_tensor *v,
                         const vf_tensor *sched, const vf_adam_config *cfg);

/* ------------------------------------------------------ fused elementwise */
/* A small register program evaluated independently at every element of the
 * outputs (all of one shape [R, C]): the target of the model compiler's
 * fusion pass. Instruction i writes register i; operands a, b, c name earlier
 * registers (or, for LOAD, an input). The cpu backend interprets the program
 * in blocks of elements; the vk backend turns it into GLSL at run time,
 * compiles it with libshaderc and caches the SPIR-V on disk by content hash
 * ($XDG_CACHE_HOME/vkflow or ~/.cache/vkflow). */
typedef enum vf_ew_op {
    VF_EW_LOAD = 0,   /* r = input[a] at this element (per the input's broadcast) */
    VF_EW_CONST,      /* r = imm */
    VF_EW_ADD, VF_EW_SUB, VF_EW_MUL, VF_EW_DIV, VF_EW_MAX, VF_EW_MIN, /* r = ra . rb */
    VF_EW_NEG, VF_EW_ABS, VF_EW_SQUARE, VF_EW_SQRT, VF_EW_RSQRT,        /* r = f(ra) */
    VF_EW_EXP, VF_EW_LOG, VF_EW_LOG1P, VF_EW_TANH, VF_EW_SIGMOID, VF_EW_SOFTPLUS,
    VF_EW_RELU,
    VF_EW_LEAKY_RELU, /* r = ra > 0 ? ra : imm * ra */
    VF_EW_STEP,       /* r = ra > 0 ? 1 : 0 */
    VF_EW_SELECT,     /* r = ra > 0 ? rb : rc */
    VF_EW_SIN, VF_EW_COS,                                                /* r = f(ra) */
    VF_EW_OP_COUNT
} vf_ew_op;

typedef enum vf_ew_bcast {
    VF_BC_FULL = 0,   /* input has the outputs' shape [R, C] */
    VF_BC_ROW = 1,    /* input [C]: the same row for every row (a bias) */
    VF_BC_COL = 2,    /* input [R]: one value per row */
    VF_BC_SCALAR = 3, /* input [1] */
} vf_ew_bcast;

#define VF_EW_MAX_CODE 64
#define VF_EW_MAX_IN 8
#define VF_EW_MAX_OUT 4

typedef struct vf_ew_instr {
    uint8_t op, a, b, c;
    float imm;
} vf_ew_instr;

typedef struct vf_ew_program {
    int n_code;
    vf_ew_instr code[VF_EW_MAX_CODE];
    int n_in;
    uint8_t in_bcast[VF_EW_MAX_IN];   /* vf_ew_bcast per input */
    /* Column window of a FULL input (0 = none): the input is [R, in_cols] and
     * element (r, c) reads its column c + in_col_off, or 0 outside
     * [0, in_cols). A slice of a wider tensor (offset +start) or a zero-padded
     * narrower one (offset -start) is read in place, without a copy kernel. */
    uint32_t in_cols[VF_EW_MAX_IN];
    int32_t in_col_off[VF_EW_MAX_IN];
    int n_out;
    uint8_t out_reg[VF_EW_MAX_OUT];   /* register stored to each output */
} vf_ew_program;

/* Runs p: out[k][i] = register out_reg[k] at element i. An output may alias
 * a FULL input (read before written at the same element), never a broadcast
 * input. */
vf_status vf_elementwise(const vf_ew_program *p, const vf_tensor *const *in,
                         const vf_tensor *const *out);
/* Checks a program (operands refer to earlier registers, opcodes known). */
vf_status vf_ew_validate(const vf_ew_program *p);

/* ------------------------------------------------------------------ random */
/* Philox4x32-10 keyed by a 64-bit seed; counter = (block, stream): element i of
 * a fill at counter base `ctr` uses block ctr + i/4, word i%4. ctr is an int32
 * tensor [2] = {lo, hi} of the 64-bit block base, read at run time (replay).
 * Uniform values are in (0, 1): ((u >> 8) + 0.5) * 2^-24, the same bits on
 * every backend. Normal values use Box-Muller on word pairs. */
vf_status vf_rng_uniform(uint64_t seed, uint32_t stream, const vf_tensor *ctr,
                         const vf_tensor *out);
vf_status vf_rng_normal(uint64_t seed, uint32_t stream, const vf_tensor *ctr,
                        const vf_tensor *out);

/* --------------------------------------------------------------- segments */
/* A segment table: S consecutive column ranges [offset, offset + width) that
 * tile the C columns of an [R, C] tensor, e.g. the one-hot fields of an
 * encoded record. vf_segments_create checks the widths (each >= 1) and writes
 * the table into the arena as an int32 tensor [S, 2] = {offset, width} that
 * the kernels read; the struct is a small value that may be copied. Ops that
 * take a table accept NULL for one segment covering the whole row. */
typedef struct vf_segments {
    vf_tensor table;   /* int32 [S, 2]: offset, width of each segment */
    int64_t n;         /* S */
    int64_t cols;      /* C: the sum of the widths */
} vf_segments;
vf_status vf_segments_create(vf_arena *a, int64_t n, const int64_t *widths,
                             vf_segments *out);

/* softmax / log_softmax of x [R, C] computed independently within each
 * segment of seg (NULL: the whole row, the same as vf_softmax_forward /
 * vf_log_softmax_forward). Backward from the forward output y [R, C]:
 *   softmax:     dx = y (dy - sum_seg dy y)
 *   log_softmax: dx = dy - exp(y) sum_seg dy */
vf_status vf_softmax_seg_forward(const vf_tensor *x, const vf_segments *seg,
                                 const vf_tensor *y);
vf_status vf_softmax_seg_backward(const vf_tensor *y, const vf_segments *seg,
                                  const vf_tensor *dy, const vf_tensor *dx);
vf_status vf_log_softmax_seg_forward(const vf_tensor *x, const vf_segments *seg,
                                     const vf_tensor *y);
vf_status vf_log_softmax_seg_backward(const vf_tensor *y, const vf_segments *seg,
                                      const vf_tensor *dy, const vf_tensor *dx);

/* ----------------------------------------------------------------- gather */
/* Gather along the last axis (take_along_dim): y [R, K] = x[r, idx[r, k]] for
 * x [R, C] and int32 idx [R, K]. An index outside [0, C) gives 0 (and is
 * counted on cpu: vf_backend_bad_indices). Backward: dx [R, C] is overwritten
 * with the scatter-add of dy [R, K] into the indexed columns, in order of k
 * on both backends (deterministic, no atomics); out-of-range indices add
 * nothing. */
vf_status vf_gather_forward(const vf_tensor *x, const vf_tensor *idx, const vf_tensor *y);
vf_status vf_gather_backward(const vf_tensor *idx, const vf_tensor *dy, const vf_tensor *dx);

/* ---------------------------------------------- argmax, categorical sampling */
/* idx [R, S] (int32) = the index within each segment of seg (NULL: one
 * segment, the whole row) of the largest entry of x [R, C]; ties go to the
 * lowest index, NaN entries are never chosen (a segment of only NaN / -inf
 * gives 0). onehot [R, C] (may be NULL) gets 1 at each chosen column and 0
 * elsewhere. Not differentiable: there is no backward. */
vf_status vf_argmax(const vf_tensor *x, const vf_segments *seg, const vf_tensor *idx,
                    const vf_tensor *onehot);
/* Categorical sampling by the Gumbel-max trick: within each segment of
 * logits [R, C], idx = argmax_c (logits[r, c] - log(-log u[r, c])), which
 * picks category c with probability softmax(logits) over the segment. u [R, C]
 * are the uniforms vf_rng_uniform(seed, stream, ctr, u) would write (element
 * (r, c) is flat index r*C + c: block ctr + i/4, word i%4), the same bits on
 * every backend; advance ctr by ceil(R*C / 4) blocks between draws (it is
 * read at run time, so a replayed program picks up a new counter). idx and
 * onehot as for vf_argmax. cpu and vk agree except where two perturbed logits
 * tie to within the last bit of the device's log (rare). Not differentiable:
 * there is no backward. */
vf_status vf_sample_categorical(const vf_tensor *logits, const vf_segments *seg, uint64_t seed,
                                uint32_t stream, const vf_tensor *ctr, const vf_tensor *idx,
                                const vf_tensor *onehot);

/* ---------------------------------------------------- per-example norms */
/* Per-example squared gradient norms (DP-SGD clipping) without materialising
 * the per-example gradients. A weight W [I, O] used at T steps,
 * y_t = x_t W (+ b), with the inputs x [B, T*I] (step t is columns t*I..)
 * and the gradients of the step outputs dy [B, T*O], has per-example
 * gradient G_b = sum_t x_bt^T dy_bt, and
 *   out[b] = ||G_b||_F^2 = sum_{t,s} (x_bt . x_bs) (dy_bt . dy_bs)
 * (the Gram form; T = 1 is a dense layer: ||x_b||^2 ||dy_b||^2, the ghost
 * norm). For an unrolled LSTM, wx takes the step inputs and wh the previous
 * h's (zero at t = 0) as x, both with the gate gradients [B, T*4H] as dy.
 * Cost O(B T^2 (I + O)). The bias b has gradient sum_t dy_bt:
 *   out[b] = ||sum_t dy_bt||^2.
 * out is [B]. Not differentiable: there is no backward. */
vf_status vf_per_example_sqnorm(const vf_tensor *x, const vf_tensor *dy, int64_t T,
                                const vf_tensor *out);
vf_status vf_per_example_sqnorm_bias(const vf_tensor *dy, int64_t T, const vf_tensor *out);

#ifdef __cplusplus
}
#endif
#endif /* VKFLOW_H */
