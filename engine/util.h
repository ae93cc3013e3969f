/* Small host utilities every layer uses (internal, not the public API): a
 * monotonic clock, the splitmix64 generator, atomic file writes and
 * whole-file reads. One copy of each, here. */
#ifndef VKFLOW_UTIL_H
#define VKFLOW_UTIL_H

#include "vkflow.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* VF_TRY is in vkflow.h (public: drivers outside the library use it too). */

/* Seconds on CLOCK_MONOTONIC. */
double vf_now_s(void);

/* splitmix64 (Steele et al.): advances *state and returns the next output.
 * Host-side streams (parameter initialisation, batch shuffles, seeds) use it
 * so they are identical on every backend and platform. */
uint64_t vf_splitmix64(uint64_t *state);
/* The same mixing of one value (stateless): vf_mix64(x) == vf_splitmix64(&x) with x copied. */
uint64_t vf_mix64(uint64_t x);

/* Atomic output: writes go to a temporary file next to path (mkstemp), which
 * vf_atomic_commit flushes, fsyncs and renames over path, or vf_atomic_abort
 * removes. A reader never sees a half-written file. The af must stay where
 * it is between open and commit/abort (its stream writes through it). */
typedef struct vf_atomic_file {
    FILE *f;            /* writes through to fd; the first failed write's errno is kept in err */
    int fd, err;        /* (stdio keeps only an error flag: a full disk read "Input/output error") */
    char tmp[4096];
    char path[4096];
} vf_atomic_file;
vf_status vf_atomic_open(vf_atomic_file *af, const char *path);
vf_status vf_atomic_commit(vf_atomic_file *af);
void vf_atomic_abort(vf_atomic_file *af);
/* Writes n bytes to path atomically (the three calls above). */
vf_status vf_write_file_atomic(const char *path, const void *data, size_t n);

/* FNV-1a 64 of n bytes: the checksum of checkpoints, encoder.txt and run.state. */
uint64_t vf_fnv1a64(const void *p, size_t n);
/* JSON values: a string with quotes and escapes; a number at full
 * precision (%.17g), or null for NaN and infinities (a metric that does not
 * apply). */
void vf_json_str(FILE *f, const char *s);
void vf_json_num(FILE *f, double v);

/* Text files with a checksum (encoder.txt, run.state): the last line is
 * "checksum <16 hex digits>\n", the FNV-1a 64 of every byte before it.
 * vf_write_text_summed writes text + that line atomically.
 * vf_text_sum_ok says whether buf[0..n) ends with a correct checksum line
 * and sets *body to the length of the text before it. */
vf_status vf_write_text_summed(const char *path, const char *text, size_t n);
bool vf_text_sum_ok(const char *buf, size_t n, size_t *body);

/* The whole file, NUL-terminated (malloc'd; *len, if not NULL, gets the
 * length without the NUL), or NULL with errno set when it cannot be read. */
char *vf_read_file(const char *path, size_t *len);

#endif
