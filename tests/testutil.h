/* Shared helpers for the Criterion suites: backends, random data, and
 * comparisons with a normalised error. */
#ifndef VKFLOW_TESTUTIL_H
#define VKFLOW_TESTUTIL_H

#include <criterion/criterion.h>
#include <stdint.h>

#include "vkflow.h"
#include "trace/trace.h"

/* The cpu backend (always available) and the vk backend (lavapipe in CI).
 * tu_vk() returns NULL when no Vulkan device exists; suites that need it call
 * cr_skip_test() then. Both are created once per test process and destroyed at
 * exit; tu_vk() fails the test if the validation layer reported anything. */
vf_backend *tu_cpu(void);
vf_backend *tu_vk(void);
/* Fails the current test if the vk backend has seen validation messages. */
void tu_check_validation(void);

/* Deterministic pseudo-random data (xorshift), uniform in [lo, hi). */
typedef struct tu_rng { uint64_t s; } tu_rng;
tu_rng tu_rng_make(uint64_t seed);
float tu_uniform(tu_rng *r, float lo, float hi);
void tu_fill_uniform(tu_rng *r, float *x, size_t n, float lo, float hi);

/* Allocates a float tensor of the given shape in `a` and uploads data
 * (if data is non-NULL); fails the test on error. */
vf_tensor tu_tensor(vf_arena *a, int ndim, const int64_t *shape, const float *data);
vf_tensor tu_tensor2(vf_arena *a, int64_t r, int64_t c, const float *data);
vf_tensor tu_tensor1(vf_arena *a, int64_t n, const float *data);
/* Downloads a tensor into a malloc'd array (caller frees). */
float *tu_read(const vf_tensor *t);
vf_arena *tu_arena(vf_backend *be, size_t bytes);
/* The whole file, NUL-terminated (malloc'd; *len its length if len is not
 * NULL), or NULL when it cannot be opened. */
char *tu_read_file(const char *path, size_t *len);
/* Writes an edited text file (encoder.txt, ...) whose last lines are "end"
 * and "checksum ...": the text up to its "end" line, then a checksum line
 * that matches it, so that a load reaches the edit instead of refusing the
 * checksum. Fails the test when text has no "end" line before a checksum. */
void tu_write_resummed(const char *path, const char *text);
/* Saves encoder e at path and loads it back into *loaded (the test fails
 * unless both succeed); returns the file's text (malloc'd), for the tests
 * that damage a line and check the refusal. */
struct vf_encoder;
char *tu_encoder_reload(const struct vf_encoder *e, const char *path, struct vf_encoder *loaded);

/* Checkpoints (engine/train/checkpoint.c): the offset of the iteration
 * field in a file's bytes (after magic[8], version and the driver's name,
 * u64 length + bytes), and a check that two checkpoint files are equal but
 * for that field and the checksum over it (the last 8 bytes): the state a
 * split training (K, save, load, N - K) must share with a straight one. */
size_t tu_checkpoint_iter_offset(const char *bytes);
void tu_expect_same_checkpoint(const char *path_a, const char *path_b);

/* The path of a shared development trace (../shared/data/FILE; only this
 * project's machines and CI have it, the repository must not carry it).
 * When it is missing the current test is skipped with a one-line reason,
 * appended to $VKFLOW_SKIP_LOG (ctest prints that list at the end) -- or
 * failed when VKFLOW_REQUIRE_SHARED_DATA=1 (CI: every such test must run).
 * The enterprise capture is also the default dataset: without the shared
 * copy, data/default/real.pcap (tools/setup-debian.sh) stands in for it.
 * Call it from the test body or its .init. Returns one of 8 static buffers. */
const char *tu_shared_data(const char *file);
/* Skips the current test (one line in $VKFLOW_SKIP_LOG) when the program
 * `tool` is not on PATH -- or fails it when VKFLOW_REQUIRE_SHARED_DATA=1
 * (CI installs every such tool with tools/setup-debian.sh). */
void tu_need_tool(const char *tool, const char *package);

/* One IPv4 record of one 100-byte packet (label none), 5-tuple and time as given. */
vf_record tu_record(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t proto, int64_t ts_ns);

/* Normalised mean squared error sum((a-b)^2) / sum(b^2) (ggml's NMSE), with
 * b the reference; 0 when both are all zero. */
double tu_nmse(const float *a, const float *ref, size_t n);
/* Largest |a-b| / (atol + rtol |b|). <= 1 means within tolerance. */
double tu_max_rel(const float *a, const float *ref, size_t n, double atol, double rtol);

#define TU_OK(expr)                                                                   \
    do {                                                                              \
        vf_status s_ = (expr);                                                        \
        cr_assert_eq(s_, VF_OK, "%s failed: %s: %s", #expr, vf_status_name(s_),        \
                     vf_last_error());                                                \
    } while (0)

#endif
