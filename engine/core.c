/* Errors, backends, arenas, tensors and programs: the parts every backend
 * shares. */
#include "backend.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------- errors */

static _Thread_local char g_error[1024];

const char *vf_last_error(void) { return g_error; }

vf_status vf_fail(vf_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_error, sizeof g_error, fmt, ap);
    va_end(ap);
    return s;
}

const char *vf_status_name(vf_status s) {
    switch (s) {
    case VF_OK: return "ok";
    case VF_ERR_ARG: return "bad argument";
    case VF_ERR_OOM: return "out of memory";
    case VF_ERR_DEVICE: return "device error";
    case VF_ERR_UNSUPPORTED: return "unsupported";
    case VF_ERR_IO: return "i/o error";
    case VF_ERR_FORMAT: return "bad format";
    }
    return "unknown status";
}

/* --------------------------------------------------------------- backends */

void vf_backend_destroy(vf_backend *be) {
    if (!be) return;
    /* arenas still alive (a caller bailed out early) go first: the device's
     * memory must be freed before the device, or the driver leaks it */
    while (be->arenas) vf_arena_destroy(be->arenas);
    be->ops->destroy(be);
}

vf_backend_kind vf_backend_kind_of(const vf_backend *be) { return be->kind; }
const char *vf_backend_name(const vf_backend *be) { return be->name; }
vf_status vf_backend_sync(vf_backend *be) { return be->ops->sync(be); }
int vf_backend_validation_errors(const vf_backend *be) { return be->validation_errors; }
int64_t vf_backend_bad_indices(const vf_backend *be) { return be->bad_indices; }

vf_status vf_profile_enable(vf_backend *be, bool on) { return be->ops->profile(be, on); }

vf_status vf_capture_begin(vf_backend *be) {
    if (be->capturing) return vf_fail(VF_ERR_ARG, "capture_begin: already capturing");
    vf_status s = be->ops->capture_begin(be);
    if (s == VF_OK) be->capturing = true;
    return s;
}

vf_status vf_capture_end(vf_backend *be, vf_program **out) {
    if (!be->capturing) return vf_fail(VF_ERR_ARG, "capture_end: not capturing");
    be->capturing = false;
    return be->ops->capture_end(be, out);
}

vf_status vf_program_run(vf_program *p) { return p->run(p); }
void vf_program_destroy(vf_program *p) {
    if (p) p->destroy(p);
}
int vf_program_op_count(const vf_program *p) { return p->op_count; }
double vf_program_last_gpu_seconds(const vf_program *p) { return p->last_gpu_seconds; }

/* ----------------------------------------------------------------- arenas */

vf_status vf_arena_create(vf_backend *be, size_t bytes, vf_arena **out) {
    *out = NULL;
    if (bytes == 0) return vf_fail(VF_ERR_ARG, "arena_create: size 0");
    if (bytes > be->max_arena_bytes)
        return vf_fail(VF_ERR_OOM,
                       "arena_create: %zu bytes exceeds the largest buffer this "
                       "device can bind (%zu bytes); split the data into several arenas",
                       bytes, be->max_arena_bytes);
    vf_arena *a = calloc(1, sizeof *a);
    if (!a) return vf_fail(VF_ERR_OOM, "arena_create: host out of memory");
    vf_status s = be->ops->arena_alloc(be, bytes, &a->handle);
    if (s != VF_OK) {
        free(a);
        return s;
    }
    a->be = be;
    a->capacity = bytes;
    a->next = be->arenas;
    if (be->arenas) be->arenas->prev = a;
    be->arenas = a;
    *out = a;
    return VF_OK;
}

void vf_arena_destroy(vf_arena *a) {
    if (!a) return;
    if (a->prev) a->prev->next = a->next;
    else a->be->arenas = a->next;
    if (a->next) a->next->prev = a->prev;
    a->be->ops->arena_free(a->be, a->handle);
    free(a);
}

vf_backend *vf_arena_backend(const vf_arena *a) { return a->be; }
size_t vf_arena_used(const vf_arena *a) { return a->used; }
size_t vf_arena_capacity(const vf_arena *a) { return a->capacity; }
void vf_arena_reset(vf_arena *a, size_t mark) {
    if (mark < a->used) a->used = mark;
}

/* ---------------------------------------------------------------- tensors */

static size_t dtype_size(vf_dtype dt) { (void)dt; return 4; }

vf_status vf_tensor_alloc(vf_arena *a, vf_dtype dt, int ndim, const int64_t *shape,
                          vf_tensor *out) {
    memset(out, 0, sizeof *out);
    if (!a) return vf_fail(VF_ERR_ARG, "tensor_alloc: NULL arena");
    if (ndim < 1 || ndim > VF_MAX_DIMS)
        return vf_fail(VF_ERR_ARG, "tensor_alloc: %d dimensions (1..%d allowed)", ndim,
                       VF_MAX_DIMS);
    if (dt != VF_F32 && dt != VF_I32)
        return vf_fail(VF_ERR_ARG, "tensor_alloc: unknown dtype %d", (int)dt);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1)
            return vf_fail(VF_ERR_ARG, "tensor_alloc: dimension %d is %lld (must be >= 1)",
                           i, (long long)shape[i]);
        if (n > INT64_MAX / shape[i] || n * shape[i] > (int64_t)UINT32_MAX)
            return vf_fail(VF_ERR_ARG, "tensor_alloc: more than 2^32 elements");
        n *= shape[i];
    }
    size_t bytes = (size_t)n * dtype_size(dt);
    size_t align = a->be->alloc_align;
    size_t off = (a->used + align - 1) / align * align;
    if (off > a->capacity || bytes > a->capacity - off)
        return vf_fail(VF_ERR_OOM,
                       "tensor_alloc: arena full (%zu of %zu bytes used, %zu more needed)",
                       a->used, a->capacity, bytes);
    out->arena = a;
    out->dtype = dt;
    out->ndim = ndim;
    for (int i = 0; i < ndim; i++) out->shape[i] = shape[i];
    out->numel = n;
    out->offset = off;
    a->used = off + bytes;
    return VF_OK;
}

vf_status vf_tensor_view(vf_arena *a, size_t offset, vf_dtype dt, int ndim,
                         const int64_t *shape, vf_tensor *out) {
    memset(out, 0, sizeof *out);
    if (!a) return vf_fail(VF_ERR_ARG, "tensor_view: NULL arena");
    if (offset % a->be->alloc_align)
        return vf_fail(VF_ERR_ARG, "tensor_view: offset %zu is not a multiple of %zu", offset,
                       a->be->alloc_align);
    /* shape checks as for an allocation, then the bounds */
    vf_arena probe = *a;
    probe.used = offset;
    vf_status s = vf_tensor_alloc(&probe, dt, ndim, shape, out);
    if (s == VF_OK) out->arena = a;
    return s;
}

size_t vf_backend_alignment(const vf_backend *be) { return be->alloc_align; }

vf_status vf_tensor_alloc1(vf_arena *a, int64_t n, vf_tensor *out) {
    return vf_tensor_alloc(a, VF_F32, 1, &n, out);
}

vf_status vf_tensor_alloc2(vf_arena *a, int64_t rows, int64_t cols, vf_tensor *out) {
    int64_t s[2] = {rows, cols};
    return vf_tensor_alloc(a, VF_F32, 2, s, out);
}

size_t vf_tensor_bytes(const vf_tensor *t) { return (size_t)t->numel * dtype_size(t->dtype); }
int64_t vf_tensor_cols(const vf_tensor *t) { return t->shape[t->ndim - 1]; }
int64_t vf_tensor_rows(const vf_tensor *t) { return t->numel / t->shape[t->ndim - 1]; }

bool vf_tensor_same_shape(const vf_tensor *a, const vf_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

const char *vf_shape_str(const vf_tensor *t, char *buf, size_t len) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, len - k, "[");
    for (int i = 0; i < t->ndim && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (k < len) snprintf(buf + k, len - k, "]");
    return buf;
}

static vf_status check_io(const vf_tensor *t, size_t bytes, const char *what) {
    if (!t || !t->arena) return vf_fail(VF_ERR_ARG, "%s: tensor not allocated", what);
    if (bytes != vf_tensor_bytes(t))
        return vf_fail(VF_ERR_ARG, "%s: %zu bytes given, tensor holds %zu", what, bytes,
                       vf_tensor_bytes(t));
    if (t->arena->be->capturing)
        return vf_fail(VF_ERR_ARG, "%s: not allowed while capturing a program", what);
    return VF_OK;
}

vf_status vf_tensor_write(const vf_tensor *t, const void *src, size_t bytes) {
    vf_status s = check_io(t, bytes, "tensor_write");
    if (s) return s;
    if (!src) return vf_fail(VF_ERR_ARG, "tensor_write: source pointer is NULL");
    return t->arena->be->ops->write(t->arena->be, t->arena->handle, t->offset, src, bytes);
}

vf_status vf_tensor_read(const vf_tensor *t, void *dst, size_t bytes) {
    vf_status s = check_io(t, bytes, "tensor_read");
    if (s) return s;
    if (!dst) return vf_fail(VF_ERR_ARG, "tensor_read: destination pointer is NULL");
    return t->arena->be->ops->read(t->arena->be, t->arena->handle, t->offset, dst, bytes);
}
