/* Bad use returns an error, never a crash, and the message says what went
 * wrong: the op's name and the offending shapes. Every family of ops gets a
 * mismatched shape, wrong dtypes, NULL and unallocated tensors; then
 * allocation limits, tensor_write sizes, tensors from different backends,
 * capture misuse and a missing device. The same checks run on cpu and (when
 * a Vulkan device exists) on vk, since both share the front end but vk adds
 * its own limits. After the misuse a valid op must still work. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

/* Runs expr after planting a stale message, then checks the status and that
 * the fresh message contains every given substring. */
#define ERR(want, expr, ...)                                                          \
    do {                                                                              \
        vf_fail(VF_OK, "(stale message)");                                            \
        vf_status got_ = (expr);                                                      \
        check_err(got_, want, #expr, (const char *const[]){__VA_ARGS__, NULL});       \
    } while (0)

static void check_err(vf_status got, vf_status want, const char *expr,
                      const char *const *subs) {
    const char *msg = vf_last_error();
    cr_expect_eq(got, want, "%s returned \"%s\" (%s), expected \"%s\"", expr,
                 vf_status_name(got), msg, vf_status_name(want));
    for (int i = 0; subs[i]; i++)
        cr_expect(strstr(msg, subs[i]) != NULL, "%s: message \"%s\" does not mention \"%s\"",
                  expr, msg, subs[i]);
}

typedef struct fx {
    vf_backend *be;
    vf_arena *a;
    vf_tensor x35, y35, x53, x3, x5, s1, i35, i7, t7x4, idx7, ctr, ctrf;
} fx;

static void fx_init(fx *f, vf_backend *be) {
    memset(f, 0, sizeof *f);
    f->be = be;
    f->a = tu_arena(be, 1 << 16);
    tu_rng r = tu_rng_make(7);
    float buf[64];
    tu_fill_uniform(&r, buf, 64, 0.5f, 1.5f);
    f->x35 = tu_tensor2(f->a, 3, 5, buf);
    f->y35 = tu_tensor2(f->a, 3, 5, buf);
    f->x53 = tu_tensor2(f->a, 5, 3, buf);
    f->x3 = tu_tensor1(f->a, 3, buf);
    f->x5 = tu_tensor1(f->a, 5, buf);
    f->s1 = tu_tensor1(f->a, 1, buf);
    f->t7x4 = tu_tensor2(f->a, 7, 4, buf);
    int64_t s35[2] = {3, 5}, n7 = 7, n2 = 2;
    TU_OK(vf_tensor_alloc(f->a, VF_I32, 2, s35, &f->i35));
    TU_OK(vf_tensor_alloc(f->a, VF_I32, 1, &n7, &f->idx7));
    TU_OK(vf_tensor_write(&f->idx7, (int32_t[]){0, 1, 2, 3, 4, 5, 6}, 28));
    TU_OK(vf_tensor_alloc(f->a, VF_I32, 1, &n2, &f->ctr));
    TU_OK(vf_tensor_write(&f->ctr, (int32_t[]){0, 0}, 8));
    f->ctrf = tu_tensor1(f->a, 2, buf);
    f->i7 = f->idx7;
}

/* After all the misuse the backend still computes: y = 2 x on [3, 5]. */
static void fx_still_works(fx *f) {
    TU_OK(vf_scale(&f->x35, &f->y35, 2.0f, 0.0f));
    float *x = tu_read(&f->x35), *y = tu_read(&f->y35);
    for (int i = 0; i < 15; i++) cr_expect_eq(y[i], 2.0f * x[i]);
    free(x);
    free(y);
    vf_arena_destroy(f->a);
    tu_check_validation();
}

/* ------------------------------------------------------------- op families */

static void shapes_matmul(fx *f) {
    vf_tensor c33 = tu_tensor2(f->a, 3, 3, NULL), c35 = tu_tensor2(f->a, 3, 5, NULL);
    /* [3,5] @ [3,5]: inner dimensions 5 and 3 */
    ERR(VF_ERR_ARG, vf_matmul(&f->x35, false, &f->x35, false, &c33, 1, 0), "matmul", "[3, 5]",
        "[3, 3]");
    /* [3,5] @ [5,3] is [3,3], not [3,5] */
    ERR(VF_ERR_ARG, vf_matmul(&f->x35, false, &f->x53, false, &c35, 1, 0), "matmul", "[3, 5]");
    ERR(VF_ERR_ARG, vf_matmul(&f->x35, true, &f->x53, true, &c33, 1, 0), "matmul", "transposed");
    ERR(VF_ERR_ARG, vf_matmul(&f->x35, false, &f->x53, false, &f->x35, 1, 0), "matmul", "C");
    int64_t s4[4] = {1, 1, 3, 5}, b2[3] = {2, 3, 5}, b3[3] = {3, 5, 3}, b3c[3] = {3, 3, 3};
    vf_tensor t4 = tu_tensor(f->a, 4, s4, NULL), a235 = tu_tensor(f->a, 3, b2, NULL),
              b353 = tu_tensor(f->a, 3, b3, NULL), c333 = tu_tensor(f->a, 3, b3c, NULL);
    ERR(VF_ERR_ARG, vf_matmul(&t4, false, &f->x53, false, &c33, 1, 0), "matmul", "4 dimensions");
    ERR(VF_ERR_ARG, vf_matmul(&a235, false, &b353, false, &c333, 1, 0), "matmul", "batch",
        "[2, 3, 5]", "[3, 5, 3]");
    /* C aliasing A */
    vf_tensor sq = tu_tensor2(f->a, 3, 3, NULL);
    ERR(VF_ERR_ARG, vf_matmul(&sq, false, &c33, false, &sq, 1, 0), "matmul", "alias");
    ERR(VF_ERR_ARG,
        vf_matmul_backward(&f->x35, false, &f->x53, false, &c33, &f->x53, NULL, false),
        "matmul_backward", "dA", "[5, 3]", "[3, 5]");
    ERR(VF_ERR_ARG,
        vf_matmul_backward(&f->x35, false, &f->x53, false, &c33, NULL, &f->x35, false),
        "matmul_backward", "dB");
    /* dC of the wrong shape */
    ERR(VF_ERR_ARG,
        vf_matmul_backward(&f->x35, false, &f->x53, false, &c35, &f->y35, NULL, false),
        "matmul", "[3, 5]");
}

static void shapes_elementwise(fx *f) {
    ERR(VF_ERR_ARG, vf_bias_add_forward(&f->x35, &f->x3, &f->y35), "bias_add", "bias", "[3]");
    ERR(VF_ERR_ARG, vf_bias_add_forward(&f->x35, &f->x5, &f->x53), "bias_add", "[5, 3]", "[3, 5]");
    ERR(VF_ERR_ARG, vf_bias_add_backward(&f->x35, &f->x3), "[3]");
    ERR(VF_ERR_ARG, vf_binary_forward(VF_ADD, &f->x35, &f->x53, &f->y35), "binary", "[5, 3]",
        "[3, 5]");
    ERR(VF_ERR_ARG, vf_binary_forward((vf_binary_kind)7, &f->x35, &f->x35, &f->y35), "binary",
        "kind");
    ERR(VF_ERR_ARG, vf_binary_backward(VF_MUL, &f->x35, &f->x53, &f->x35, &f->y35, NULL),
        "binary_backward", "[5, 3]");
    ERR(VF_ERR_ARG, vf_scale(&f->x35, &f->x3, 1, 0), "scale", "[3]");
    ERR(VF_ERR_ARG, vf_unary_forward(VF_TANH, 0, &f->x35, &f->x53), "tanh", "[5, 3]", "[3, 5]");
    ERR(VF_ERR_ARG, vf_unary_forward((vf_unary_kind)42, 0, &f->x35, &f->y35), "unary", "42");
    ERR(VF_ERR_ARG, vf_unary_backward(VF_SIGMOID, 0, &f->x35, &f->y35, &f->x53, &f->y35),
        "sigmoid", "dy", "[5, 3]");
    ERR(VF_ERR_ARG, vf_copy(&f->x35, &f->x3), "copy", "15", "3");
}

static void shapes_softmax_concat_slice(fx *f) {
    ERR(VF_ERR_ARG, vf_softmax_forward(&f->x35, &f->x53), "softmax", "[5, 3]", "[3, 5]");
    ERR(VF_ERR_ARG, vf_log_softmax_backward(&f->x35, &f->x53, &f->y35), "log_softmax_backward",
        "dy");
    vf_tensor y37 = tu_tensor2(f->a, 3, 7, NULL), y38 = tu_tensor2(f->a, 3, 8, NULL),
              x23 = tu_tensor2(f->a, 2, 3, NULL);
    const vf_tensor *parts[2] = {&f->x35, &f->x53};
    ERR(VF_ERR_ARG, vf_concat_forward(2, parts, &y38), "concat", "part 1", "rows");
    const vf_tensor *parts2[2] = {&f->x35, &f->y35};
    ERR(VF_ERR_ARG, vf_concat_forward(2, parts2, &y37), "concat", "10", "7");
    ERR(VF_ERR_ARG, vf_concat_forward(0, parts2, &y37), "concat");
    const vf_tensor *withnull[2] = {&f->x35, NULL};
    ERR(VF_ERR_ARG, vf_concat_forward(2, withnull, &y37), "concat", "1");
    ERR(VF_ERR_ARG, vf_concat_forward(2, NULL, &y37), "concat");
    ERR(VF_ERR_ARG, vf_concat_backward(2, &y37, parts2), "concat_backward");
    ERR(VF_ERR_ARG, vf_slice_forward(&f->x35, 3, &x23), "slice", "rows");
    vf_tensor w3 = tu_tensor2(f->a, 3, 3, NULL);
    ERR(VF_ERR_ARG, vf_slice_forward(&f->x35, 3, &w3), "slice", "[3, 6)", "[0, 5)");
    ERR(VF_ERR_ARG, vf_slice_forward(&f->x35, -1, &w3), "slice", "-1");
    ERR(VF_ERR_ARG, vf_slice_backward(&w3, 4, &f->x35), "slice_backward", "[4, 7)");
}

static void shapes_reductions_losses(fx *f) {
    ERR(VF_ERR_ARG, vf_sum_forward(VF_REDUCE_ROWS, false, &f->x35, &f->x5), "sum", "[5]",
        "3 elements");
    ERR(VF_ERR_ARG, vf_sum_forward(VF_REDUCE_COLS, true, &f->x35, &f->x3), "mean", "[3]",
        "5 elements");
    ERR(VF_ERR_ARG, vf_sum_forward(VF_REDUCE_ALL, false, &f->x35, &f->x3), "sum", "1 elements");
    ERR(VF_ERR_ARG, vf_sum_forward((vf_reduce_axis)9, false, &f->x35, &f->s1), "axis");
    ERR(VF_ERR_ARG, vf_sum_backward(VF_REDUCE_ROWS, false, &f->x5, &f->x35), "sum_backward", "dy");
    ERR(VF_ERR_ARG, vf_sqnorm_rows_forward(&f->x35, &f->x5), "sqnorm_rows", "[5]");
    ERR(VF_ERR_ARG, vf_sqnorm_rows_backward(&f->x35, &f->x5, &f->y35), "sqnorm_rows_backward",
        "dy");
    ERR(VF_ERR_ARG, vf_mse_forward(&f->x35, &f->x53, &f->s1), "mse", "[5, 3]", "[3, 5]");
    ERR(VF_ERR_ARG, vf_mse_forward(&f->x35, &f->y35, &f->x3), "mse", "loss", "[3]");
    ERR(VF_ERR_ARG, vf_mse_backward(&f->x35, &f->y35, &f->s1, &f->x53, NULL), "mse_backward",
        "da");
    ERR(VF_ERR_ARG, vf_bce_logits_forward(&f->x35, &f->x53, &f->s1), "bce_logits", "t");
    ERR(VF_ERR_ARG, vf_bce_logits_backward(&f->x35, &f->y35, &f->x3, &f->y35),
        "bce_logits_backward", "dloss");
}

static void shapes_lstm_norms_embedding_adam(fx *f) {
    /* gates [3, 5]: 5 is not 4H */
    ERR(VF_ERR_ARG, vf_lstm_cell_forward(&f->x35, &f->x35, &f->y35, &f->y35), "lstm_cell",
        "multiple of 4");
    vf_tensor g38 = tu_tensor2(f->a, 3, 8, NULL), h32 = tu_tensor2(f->a, 3, 2, NULL),
              h33 = tu_tensor2(f->a, 3, 3, NULL);
    ERR(VF_ERR_ARG, vf_lstm_cell_forward(&g38, &h33, &h32, &h32), "lstm_cell", "c_prev", "[3, 3]",
        "[3, 2]");
    ERR(VF_ERR_ARG, vf_lstm_cell_backward(&g38, &h32, &h32, &h32, &h33, &g38, &h32),
        "lstm_cell_backward", "dc");
    vf_tensor m5 = tu_tensor1(f->a, 5, NULL), r5 = tu_tensor1(f->a, 5, NULL);
    ERR(VF_ERR_ARG,
        vf_batchnorm_train_forward(&f->x35, &f->x3, &f->x5, 1e-5f, 0.1f, &f->y35, &m5, &r5,
                                   NULL, NULL),
        "batchnorm_train", "gamma", "[3]");
    ERR(VF_ERR_ARG,
        vf_batchnorm_train_forward(&f->x35, &f->x5, &f->x5, 0.0f, 0.1f, &f->y35, &m5, &r5, NULL,
                                   NULL),
        "batchnorm_train", "eps");
    ERR(VF_ERR_ARG,
        vf_batchnorm_train_forward(&f->x35, &f->x5, &f->x5, 1e-5f, 0.1f, &f->y35, &m5, &r5, &m5,
                                   NULL),
        "batchnorm_train", "running");
    ERR(VF_ERR_ARG,
        vf_batchnorm_infer_forward(&f->x35, &f->x5, &f->x5, &f->x3, &r5, 1e-5f, &f->y35),
        "batchnorm_infer", "running_mean", "[3]");
    ERR(VF_ERR_ARG,
        vf_batchnorm_backward(&f->x35, &f->x5, &m5, &r5, &f->x53, &f->y35, &m5, &r5),
        "batchnorm_backward", "dy", "[5, 3]");
    vf_tensor m3 = tu_tensor1(f->a, 3, NULL), r3 = tu_tensor1(f->a, 3, NULL);
    ERR(VF_ERR_ARG, vf_layernorm_forward(&f->x35, &f->x5, &f->x5, 1e-5f, &f->y35, &m5, &r3),
        "layernorm", "mean", "[5]", "one per row");
    ERR(VF_ERR_ARG,
        vf_layernorm_backward(&f->x35, &f->x3, &m3, &r3, &f->y35, &f->y35, &m5, &r5),
        "layernorm_backward", "gamma");
    vf_tensor y74 = tu_tensor2(f->a, 7, 4, NULL), y73 = tu_tensor2(f->a, 7, 3, NULL);
    ERR(VF_ERR_ARG, vf_embedding_forward(&f->idx7, &f->t7x4, &y73), "embedding", "[7, 3]",
        "[7, 4]");
    ERR(VF_ERR_ARG, vf_embedding_forward(&f->x5, &f->t7x4, &y74), "embedding", "idx", "int32");
    ERR(VF_ERR_ARG, vf_embedding_backward(&f->idx7, &y73, &f->t7x4), "embedding_backward", "dy");
    vf_adam_config cfg = {0.9f, 0.999f, 1e-8f, 0.0f};
    ERR(VF_ERR_ARG, vf_adam_update(&f->x35, &f->y35, &f->x35, &f->x53, &f->ctrf, &cfg), "adam",
        "v", "[5, 3]");
    ERR(VF_ERR_ARG, vf_adam_update(&f->x35, &f->y35, &f->x35, &f->y35, &f->x3, &cfg), "adam",
        "sched");
    ERR(VF_ERR_ARG, vf_adam_update(&f->x35, &f->y35, &f->x35, &f->y35, &f->ctrf, NULL), "adam",
        "config");
    vf_adam_config bad = {1.0f, 0.999f, 1e-8f, 0.0f};
    ERR(VF_ERR_ARG, vf_adam_update(&f->x35, &f->y35, &f->x35, &f->y35, &f->ctrf, &bad), "adam",
        "beta1");
    ERR(VF_ERR_ARG, vf_rng_uniform(1, 0, &f->ctrf, &f->x35), "rng_uniform", "int32");
    ERR(VF_ERR_ARG, vf_rng_normal(1, 0, &f->idx7, &f->x35), "rng_normal", "2 elements");
}

static void wrong_dtype_and_null(fx *f) {
    vf_tensor c33 = tu_tensor2(f->a, 3, 3, NULL);
    ERR(VF_ERR_ARG, vf_matmul(&f->i35, false, &f->x53, false, &c33, 1, 0), "matmul", "A",
        "float32");
    ERR(VF_ERR_ARG, vf_binary_forward(VF_MUL, &f->x35, &f->i35, &f->y35), "binary", "b", "float32");
    ERR(VF_ERR_ARG, vf_unary_forward(VF_RELU, 0, &f->i35, &f->y35), "relu", "float32");
    ERR(VF_ERR_ARG, vf_softmax_forward(&f->x35, &f->i35), "softmax", "float32");
    ERR(VF_ERR_ARG, vf_embedding_forward(&f->idx7, &f->i35, &f->y35), "embedding", "table",
        "float32");
    ERR(VF_ERR_ARG, vf_rng_uniform(1, 0, &f->ctr, &f->i35), "rng_uniform", "float32");
    ERR(VF_ERR_ARG, vf_copy(&f->x35, &f->i35), "copy");

    vf_tensor unalloc;
    memset(&unalloc, 0, sizeof unalloc);
    ERR(VF_ERR_ARG, vf_matmul(NULL, false, &f->x53, false, &c33, 1, 0), "matmul", "A", "NULL");
    ERR(VF_ERR_ARG, vf_matmul(&f->x35, false, &f->x53, false, &unalloc, 1, 0), "matmul", "C",
        "not allocated");
    ERR(VF_ERR_ARG, vf_matmul_backward(&f->x35, false, &f->x53, false, NULL, &f->y35, NULL, false),
        "matmul_backward", "dC");
    ERR(VF_ERR_ARG, vf_matmul_backward(NULL, false, &f->x53, false, &c33, &f->y35, NULL, false),
        "matmul_backward", "A");
    ERR(VF_ERR_ARG, vf_matmul_backward(&f->x35, false, NULL, false, &c33, NULL, &f->x53, false),
        "matmul_backward", "B");
    ERR(VF_ERR_ARG, vf_bias_add_forward(&f->x35, NULL, &f->y35), "bias_add", "bias", "NULL");
    ERR(VF_ERR_ARG, vf_bias_add_backward(&f->x35, NULL), "bias_add_backward", "dbias");
    ERR(VF_ERR_ARG, vf_binary_forward(VF_ADD, &f->x35, &f->y35, NULL), "binary", "y");
    ERR(VF_ERR_ARG, vf_binary_backward(VF_MUL, &f->x35, NULL, &f->y35, &f->y35, NULL),
        "binary_backward", "b");
    ERR(VF_ERR_ARG, vf_unary_backward(VF_TANH, 0, &f->x35, NULL, &f->y35, &f->y35), "tanh", "y");
    ERR(VF_ERR_ARG, vf_softmax_backward(NULL, &f->x35, &f->y35), "softmax_backward", "y");
    ERR(VF_ERR_ARG, vf_sum_forward(VF_REDUCE_ALL, false, NULL, &f->s1), "sum", "x");
    ERR(VF_ERR_ARG, vf_sum_backward(VF_REDUCE_ALL, false, NULL, &f->x35), "sum_backward", "dy");
    ERR(VF_ERR_ARG, vf_mse_forward(&f->x35, &f->y35, NULL), "mse", "loss");
    ERR(VF_ERR_ARG, vf_lstm_cell_forward(NULL, &f->x35, &f->y35, &f->y35), "lstm_cell", "gates");
    ERR(VF_ERR_ARG,
        vf_layernorm_backward(&f->x35, &f->x5, NULL, &f->x3, &f->y35, &f->y35, &f->x5, &f->x5),
        "layernorm_backward", "mean");
    ERR(VF_ERR_ARG, vf_embedding_backward(NULL, &f->x35, &f->t7x4), "embedding_backward", "idx");
    ERR(VF_ERR_ARG, vf_rng_normal(1, 0, NULL, &f->x35), "rng_normal", "ctr");
    ERR(VF_ERR_ARG, vf_fill(NULL, 1.0f), "fill");
    ERR(VF_ERR_ARG, vf_fill(&unalloc, 1.0f), "fill", "not allocated");
    ERR(VF_ERR_ARG, vf_copy(NULL, &f->y35), "copy");
    ERR(VF_ERR_ARG, vf_tensor_write(NULL, "abcd", 4), "tensor_write");
    ERR(VF_ERR_ARG, vf_tensor_read(&unalloc, (float[1]){0}, 4), "tensor_read", "not allocated");
    ERR(VF_ERR_ARG, vf_tensor_write(&f->x3, NULL, 12), "tensor_write", "NULL");
    ERR(VF_ERR_ARG, vf_tensor_read(&f->x3, NULL, 12), "tensor_read", "NULL");
}

/* The ops added after the first release: sin/cos, segment ops, gather,
 * argmax, categorical sampling, per-example norms. */
static void shapes_added_ops(fx *f) {
    ERR(VF_ERR_ARG, vf_unary_forward(VF_SIN, 0, &f->x35, &f->x53), "sin", "[5, 3]", "[3, 5]");
    ERR(VF_ERR_ARG, vf_unary_backward(VF_COS, 0, &f->x35, &f->y35, &f->x53, &f->y35), "cos", "dy",
        "[5, 3]");
    ERR(VF_ERR_ARG, vf_unary_forward(VF_COS, 0, &f->i35, &f->y35), "cos", "float32");

    vf_segments sg, bad;
    ERR(VF_ERR_ARG, vf_segments_create(f->a, 2, (int64_t[]){3, 0}, &sg), "segments_create",
        "segment 1", "width 0");
    ERR(VF_ERR_ARG, vf_segments_create(f->a, 0, (int64_t[]){3}, &sg), "segments_create", "0 segments");
    ERR(VF_ERR_ARG, vf_segments_create(NULL, 1, (int64_t[]){3}, &sg), "segments_create", "arena");
    TU_OK(vf_segments_create(f->a, 2, (int64_t[]){1, 3}, &sg)); /* covers 4 columns */
    ERR(VF_ERR_ARG, vf_log_softmax_seg_forward(&f->x35, &sg, &f->y35), "log_softmax_seg",
        "cover 4 columns", "[3, 5]");
    TU_OK(vf_segments_create(f->a, 2, (int64_t[]){2, 3}, &sg));
    ERR(VF_ERR_ARG, vf_softmax_seg_forward(&f->x35, &sg, &f->x53), "softmax_seg", "y", "[5, 3]");
    ERR(VF_ERR_ARG, vf_softmax_seg_forward(&f->i35, &sg, &f->y35), "softmax_seg", "x", "float32");
    ERR(VF_ERR_ARG, vf_log_softmax_seg_backward(&f->x35, &sg, &f->x53, &f->y35),
        "log_softmax_seg_backward", "dy", "[5, 3]");
    ERR(VF_ERR_ARG, vf_softmax_seg_backward(&f->x35, &sg, &f->y35, NULL), "softmax_seg_backward",
        "dx", "NULL");
    memset(&bad, 0, sizeof bad);
    bad.n = 2;
    bad.cols = 5;
    ERR(VF_ERR_ARG, vf_softmax_seg_forward(&f->x35, &bad, &f->y35), "softmax_seg", "vf_segments_create");

    /* gather: x [3, 5], idx int32 [3, 5] */
    vf_tensor y37 = tu_tensor2(f->a, 3, 7, NULL);
    ERR(VF_ERR_ARG, vf_gather_forward(&f->x35, &f->i35, &y37), "gather", "y", "[3, 7]", "[3, 5]");
    ERR(VF_ERR_ARG, vf_gather_forward(&f->x35, &f->x35, &f->y35), "gather", "idx", "int32");
    ERR(VF_ERR_ARG, vf_gather_forward(&f->x35, &f->idx7, &f->y35), "gather", "idx", "[7]", "3 rows");
    ERR(VF_ERR_ARG, vf_gather_forward(&f->i35, &f->i35, &f->y35), "gather", "x", "float32");
    ERR(VF_ERR_ARG, vf_gather_backward(&f->i35, &f->x53, &f->y35), "gather_backward", "dy", "[5, 3]");
    ERR(VF_ERR_ARG, vf_gather_backward(&f->i35, &f->y35, NULL), "gather_backward", "dx", "NULL");

    /* argmax / sample_categorical over 2 segments of x [3, 5]: idx int32 [3, 2] */
    vf_tensor i32;
    TU_OK(vf_tensor_alloc(f->a, VF_I32, 2, (int64_t[]){3, 2}, &i32));
    ERR(VF_ERR_ARG, vf_argmax(&f->x35, &sg, &f->i35, NULL), "argmax", "idx", "[3, 5]", "[3, 2]");
    ERR(VF_ERR_ARG, vf_argmax(&f->x35, NULL, &f->x3, NULL), "argmax", "idx", "int32");
    ERR(VF_ERR_ARG, vf_argmax(&f->x35, &sg, &i32, &f->x53), "argmax", "onehot", "[5, 3]");
    ERR(VF_ERR_ARG, vf_argmax(&f->x53, &sg, &i32, NULL), "argmax", "cover 5 columns", "[5, 3]");
    ERR(VF_ERR_ARG, vf_argmax(&f->i35, &sg, &i32, NULL), "argmax", "x", "float32");
    ERR(VF_ERR_ARG, vf_argmax(&f->x35, &sg, NULL, &f->y35), "argmax", "idx", "not allocated");
    ERR(VF_ERR_ARG, vf_sample_categorical(&f->x35, &sg, 1, 0, &f->ctrf, &i32, NULL),
        "sample_categorical", "ctr", "int32");
    ERR(VF_ERR_ARG, vf_sample_categorical(&f->x35, &sg, 1, 0, NULL, &i32, NULL), "sample_categorical",
        "ctr");
    ERR(VF_ERR_ARG, vf_sample_categorical(&f->x53, NULL, 1, 0, &f->ctr, &i32, NULL),
        "sample_categorical", "idx", "[5, 1]");
    ERR(VF_ERR_ARG, vf_sample_categorical(&f->x35, &sg, 1, 0, &f->ctr, &i32, &f->x53),
        "sample_categorical", "onehot", "logits");

    /* per-example norms: x [3, 5], dy [3, 5] with T = 5 (I = O = 1) */
    ERR(VF_ERR_ARG, vf_per_example_sqnorm(&f->x35, &f->y35, 2, &f->x3), "per_example_sqnorm", "T = 2",
        "[3, 5]");
    ERR(VF_ERR_ARG, vf_per_example_sqnorm(&f->x35, &f->y35, 0, &f->x3), "per_example_sqnorm", "T = 0");
    ERR(VF_ERR_ARG, vf_per_example_sqnorm(&f->x53, &f->y35, 1, &f->x3), "per_example_sqnorm", "x", "[5, 3]",
        "[3, 5]");
    ERR(VF_ERR_ARG, vf_per_example_sqnorm(&f->x35, &f->y35, 5, &f->x5), "per_example_sqnorm", "out", "[5]",
        "3 elements");
    ERR(VF_ERR_ARG, vf_per_example_sqnorm(NULL, &f->y35, 5, &f->x3), "per_example_sqnorm", "x", "NULL");
    ERR(VF_ERR_ARG, vf_per_example_sqnorm(&f->x35, &f->i35, 5, &f->x3), "per_example_sqnorm", "dy", "float32");
    ERR(VF_ERR_ARG, vf_per_example_sqnorm_bias(&f->y35, 3, &f->x3), "per_example_sqnorm_bias", "T = 3");
    ERR(VF_ERR_ARG, vf_per_example_sqnorm_bias(&f->y35, 5, &f->s1), "per_example_sqnorm_bias", "out");
}

/* ----------------------------------------------------- tensors and arenas */

static void allocation_limits(fx *f) {
    vf_arena *a = NULL;
    ERR(VF_ERR_ARG, vf_arena_create(f->be, 0, &a), "arena_create", "0");
    cr_expect_null(a);
    /* far beyond any buffer a device can bind, and beyond host memory: must
     * be refused before anything is allocated */
    ERR(VF_ERR_OOM, vf_arena_create(f->be, (size_t)1 << 50, &a), "arena_create",
        "1125899906842624");
    ERR(VF_ERR_OOM, vf_arena_create(f->be, SIZE_MAX, &a), "arena_create");
    cr_expect_null(a);

    vf_arena *small = tu_arena(f->be, 1024);
    vf_tensor t;
    size_t used = vf_arena_used(small);
    ERR(VF_ERR_OOM, vf_tensor_alloc2(small, 16, 17, &t), "tensor_alloc", "1088", "1024");
    cr_expect_null(t.arena, "a failed allocation must not look allocated");
    cr_expect_eq(vf_arena_used(small), used, "a failed allocation changed the arena");
    /* fits exactly */
    TU_OK(vf_tensor_alloc2(small, 16, 16, &t));
    ERR(VF_ERR_OOM, vf_tensor_alloc1(small, 1, &t), "arena full");
    int64_t huge[3] = {1 << 20, 1 << 20, 1 << 20};
    ERR(VF_ERR_ARG, vf_tensor_alloc(small, VF_F32, 3, huge, &t), "tensor_alloc", "2^32");
    int64_t overflow[4] = {INT64_MAX / 2, 4, 4, 4};
    ERR(VF_ERR_ARG, vf_tensor_alloc(small, VF_F32, 4, overflow, &t), "tensor_alloc");
    vf_arena_reset(small, 0);

    int64_t zero[2] = {3, 0}, neg[2] = {-2, 4}, ok[2] = {2, 2};
    ERR(VF_ERR_ARG, vf_tensor_alloc(small, VF_F32, 2, zero, &t), "tensor_alloc", "dimension 1",
        "0");
    ERR(VF_ERR_ARG, vf_tensor_alloc(small, VF_F32, 2, neg, &t), "tensor_alloc", "dimension 0",
        "-2");
    ERR(VF_ERR_ARG, vf_tensor_alloc(small, VF_F32, 0, ok, &t), "tensor_alloc", "0 dimensions");
    int64_t five[5] = {1, 1, 1, 1, 1};
    ERR(VF_ERR_ARG, vf_tensor_alloc(small, VF_F32, 5, five, &t), "tensor_alloc", "5 dimensions");
    ERR(VF_ERR_ARG, vf_tensor_alloc(small, (vf_dtype)9, 2, ok, &t), "tensor_alloc", "dtype");
    ERR(VF_ERR_ARG, vf_tensor_alloc(NULL, VF_F32, 2, ok, &t), "tensor_alloc", "arena");
    ERR(VF_ERR_ARG, vf_tensor_alloc1(small, -5, &t), "tensor_alloc", "-5");
    vf_arena_destroy(small);
}

static void tensor_io_sizes(fx *f) {
    float buf[16] = {0};
    ERR(VF_ERR_ARG, vf_tensor_write(&f->x35, buf, 14 * sizeof(float)), "tensor_write", "56",
        "60");
    ERR(VF_ERR_ARG, vf_tensor_write(&f->x35, buf, 0), "tensor_write", "0");
    ERR(VF_ERR_ARG, vf_tensor_read(&f->x3, buf, 16), "tensor_read", "16", "12");
}

static void other_backend_tensors(fx *f, vf_backend *other) {
    vf_arena *a2 = tu_arena(other, 4096);
    vf_tensor o35 = tu_tensor2(a2, 3, 5, NULL), o53 = tu_tensor2(a2, 5, 3, NULL),
              o33 = tu_tensor2(a2, 3, 3, NULL), o5 = tu_tensor1(a2, 5, NULL);
    ERR(VF_ERR_ARG, vf_binary_forward(VF_ADD, &f->x35, &o35, &f->y35), "binary", "backends");
    ERR(VF_ERR_ARG, vf_matmul(&f->x35, false, &o53, false, &o33, 1, 0), "matmul", "backends");
    ERR(VF_ERR_ARG, vf_copy(&f->x35, &o35), "copy", "backends");
    ERR(VF_ERR_ARG, vf_bias_add_forward(&o35, &f->x5, &o35), "bias_add", "backends");
    ERR(VF_ERR_ARG, vf_sum_forward(VF_REDUCE_COLS, false, &f->x35, &o5), "sum", "backends");
    vf_arena_destroy(a2);
}

/* ------------------------------------------------------------------ capture */

static void capture_misuse(fx *f) {
    vf_program *p = NULL;
    ERR(VF_ERR_ARG, vf_capture_end(f->be, &p), "capture_end", "not capturing");
    cr_expect_null(p);
    TU_OK(vf_capture_begin(f->be));
    ERR(VF_ERR_ARG, vf_capture_begin(f->be), "capture_begin", "already capturing");
    float buf[15];
    ERR(VF_ERR_ARG, vf_tensor_read(&f->x35, buf, sizeof buf), "tensor_read", "capturing");
    ERR(VF_ERR_ARG, vf_tensor_write(&f->x35, buf, sizeof buf), "tensor_write", "capturing");
    /* a bad op while capturing is refused and not recorded */
    ERR(VF_ERR_ARG, vf_binary_forward(VF_ADD, &f->x35, &f->x53, &f->y35), "binary");
    TU_OK(vf_scale(&f->x35, &f->y35, 3.0f, 0.0f));
    TU_OK(vf_capture_end(f->be, &p));
    cr_assert_not_null(p);
    cr_expect_eq(vf_program_op_count(p), 1, "captured %d ops, expected 1",
                 vf_program_op_count(p));
    TU_OK(vf_program_run(p));
    vf_program_destroy(p);
    ERR(VF_ERR_ARG, vf_capture_end(f->be, &p), "capture_end", "not capturing");
}

/* --------------------------------------------------------------- runners */

static void run_all(vf_backend *be, vf_backend *other) {
    fx f;
    fx_init(&f, be);
    shapes_matmul(&f);
    shapes_elementwise(&f);
    shapes_softmax_concat_slice(&f);
    shapes_reductions_losses(&f);
    shapes_lstm_norms_embedding_adam(&f);
    wrong_dtype_and_null(&f);
    shapes_added_ops(&f);
    allocation_limits(&f);
    tensor_io_sizes(&f);
    other_backend_tensors(&f, other);
    capture_misuse(&f);
    fx_still_works(&f);
}

Test(errors, cpu) {
    /* a second cpu backend stands in for "another backend" */
    vf_backend *other = NULL;
    TU_OK(vf_cpu_create(&other));
    run_all(tu_cpu(), other);
    vf_backend_destroy(other);
}

Test(errors, vk) {
    vf_backend *vk = tu_vk();
    if (!vk) cr_skip_test("no Vulkan device");
    run_all(vk, tu_cpu());
}

/* vf_vk_create with VKFLOW_DEVICE naming no device fails and says what was
 * asked for, instead of silently picking another device. */
Test(errors, missing_device) {
    vf_backend *be = NULL;
    unsetenv("VKFLOW_DEVICE");
    if (vf_vk_create(&be) != VF_OK) cr_skip_test("no Vulkan device: %s", vf_last_error());
    cr_expect_eq(vf_backend_validation_errors(be), 0, "validation messages creating the device");
    vf_backend_destroy(be);
    be = NULL;
    const char *reqs[] = {"no-such-device-xyz", "97"};
    for (int i = 0; i < 2; i++) {
        setenv("VKFLOW_DEVICE", reqs[i], 1);
        ERR(VF_ERR_DEVICE, vf_vk_create(&be), reqs[i]);
        cr_expect_null(be);
        if (be) vf_backend_destroy(be);
        be = NULL;
    }
    unsetenv("VKFLOW_DEVICE");
}

/* Destroying an arena while ops on it are recorded but not yet submitted, and
 * destroying a backend with arenas still alive: both must free in the right
 * order (the validation layer reports a use after free or a leaked
 * VkDeviceMemory otherwise). */
Test(errors, vk_arena_lifetimes) {
    vf_backend *be = NULL;
    if (vf_vk_create(&be) != VF_OK) cr_skip_test("no Vulkan device: %s", vf_last_error());
    vf_arena *a = tu_arena(be, 1 << 16), *b = tu_arena(be, 1 << 16);
    vf_tensor x = tu_tensor1(a, 1000, NULL), y = tu_tensor1(b, 1000, NULL);
    TU_OK(vf_fill(&x, 2.0f)); /* recorded, not submitted */
    vf_arena_destroy(a);
    TU_OK(vf_fill(&y, 3.0f));
    float *got = tu_read(&y);
    cr_expect_eq(got[999], 3.0f);
    free(got);
    TU_OK(vf_backend_sync(be));
    cr_expect_eq(vf_backend_validation_errors(be), 0, "validation messages (see stderr)");
    vf_backend_destroy(be); /* b is still alive: the backend frees it */
}
