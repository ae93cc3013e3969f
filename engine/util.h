/* Small host utilities every layer uses (internal, not the public API): a
 * monotonic clock, the splitmix64 generator, atomic file writes and
 * whole-file reads. One copy of each, here. */
#ifndef VKFLOW_UTIL_H
#define VKFLOW_UTIL_H

#include "vkflow.h"

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
 * removes. A reader never sees a half-written file. */
typedef struct vf_atomic_file {
    FILE *f;
    char tmp[4096];
    char path[4096];
} vf_atomic_file;
vf_status vf_atomic_open(vf_atomic_file *af, const char *path);
vf_status vf_atomic_commit(vf_atomic_file *af);
void vf_atomic_abort(vf_atomic_file *af);
/* Writes n bytes to path atomically (the three calls above). */
vf_status vf_write_file_atomic(const char *path, const void *data, size_t n);

/* The whole file, NUL-terminated (malloc'd; *len, if not NULL, gets the
 * length without the NUL), or NULL with errno set when it cannot be read. */
char *vf_read_file(const char *path, size_t *len);

#endif
