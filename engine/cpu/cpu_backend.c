/* The cpu backend: arenas are aligned host blocks, ops run at once through
 * vf_cpu_run_op, and a captured program is the list of op records (with
 * copies of their tensor descriptors) replayed in order. */
#include "../backend.h"
#include "../util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CPU_ALIGN 64

/* A captured op owns copies of its tensor descriptors: the caller's structs
 * may be gone by the time the program runs. */
typedef struct cpu_rec {
    vf_op op;
    vf_tensor t[VF_OP_MAX_ARGS];
    vf_ew_program ew; /* copy of op.ew for elementwise ops */
} cpu_rec;

typedef struct cpu_program {
    vf_program base;
    cpu_rec *recs;
    int n, cap;
} cpu_program;

typedef struct cpu_backend {
    vf_backend base;
    cpu_program *capture; /* while capturing */
    bool profile;         /* time every op by kind (vf_profile_op_times) */
    double op_seconds[VF_OP_COUNT];
    int64_t op_calls[VF_OP_COUNT];
} cpu_backend;

/* Runs one op, timed by kind when profiling. */
static vf_status run_timed(cpu_backend *c, const vf_op *op) {
    if (!c->profile) return vf_cpu_run_op(op);
    double t0 = vf_now_s();
    vf_status s = vf_cpu_run_op(op);
    c->op_seconds[op->kind] += vf_now_s() - t0;
    c->op_calls[op->kind]++;
    return s;
}

static void cpu_destroy(vf_backend *be) {
    cpu_backend *c = (cpu_backend *)be;
    if (c->capture) {
        free(c->capture->recs);
        free(c->capture);
    }
    free(c);
}

static vf_status cpu_sync(vf_backend *be) { (void)be; return VF_OK; }

static vf_status cpu_arena_alloc(vf_backend *be, size_t bytes, void **handle) {
    (void)be;
    size_t rounded = (bytes + CPU_ALIGN - 1) / CPU_ALIGN * CPU_ALIGN;
    void *p = aligned_alloc(CPU_ALIGN, rounded);
    if (!p) return vf_fail(VF_ERR_OOM, "cpu: cannot allocate %zu bytes of host memory", bytes);
    *handle = p;
    return VF_OK;
}

static void cpu_arena_free(vf_backend *be, void *handle) { (void)be; free(handle); }

static vf_status cpu_write(vf_backend *be, void *h, size_t off, const void *src, size_t n) {
    (void)be;
    memcpy((char *)h + off, src, n);
    return VF_OK;
}

static vf_status cpu_read(vf_backend *be, void *h, size_t off, void *dst, size_t n) {
    (void)be;
    memcpy(dst, (char *)h + off, n);
    return VF_OK;
}

static vf_status cpu_run_op(vf_backend *be, const vf_op *op) {
    cpu_backend *c = (cpu_backend *)be;
    if (!c->capture) return run_timed(c, op);
    cpu_program *p = c->capture;
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 64;
        cpu_rec *r = realloc(p->recs, (size_t)cap * sizeof *r);
        if (!r) return vf_fail(VF_ERR_OOM, "cpu: out of host memory while capturing");
        p->recs = r;
        p->cap = cap;
    }
    cpu_rec *r = &p->recs[p->n++];
    r->op = *op;
    for (int i = 0; i < op->nargs; i++) {
        memset(&r->t[i], 0, sizeof r->t[i]); /* arena == NULL marks a NULL argument */
        if (!op->args[i]) continue;
        r->t[i] = *op->args[i];
        r->op.args[i] = NULL; /* fixed up at run time (recs may move while capturing) */
    }
    if (op->ew) r->ew = *op->ew;
    return VF_OK;
}

static vf_status cpu_program_run(vf_program *base) {
    cpu_program *p = (cpu_program *)base;
    for (int i = 0; i < p->n; i++) {
        vf_op op = p->recs[i].op;
        for (int a = 0; a < op.nargs; a++)
            op.args[a] = p->recs[i].t[a].arena ? &p->recs[i].t[a] : NULL;
        if (op.ew) op.ew = &p->recs[i].ew;
        vf_status s = run_timed((cpu_backend *)p->base.be, &op);
        if (s != VF_OK) return s;
    }
    return VF_OK;
}

static void cpu_program_destroy(vf_program *base) {
    cpu_program *p = (cpu_program *)base;
    free(p->recs);
    free(p);
}

static vf_status cpu_capture_begin(vf_backend *be) {
    cpu_backend *c = (cpu_backend *)be;
    c->capture = calloc(1, sizeof *c->capture);
    if (!c->capture) return vf_fail(VF_ERR_OOM, "cpu: out of host memory");
    return VF_OK;
}

static vf_status cpu_capture_end(vf_backend *be, vf_program **out) {
    cpu_backend *c = (cpu_backend *)be;
    cpu_program *p = c->capture;
    c->capture = NULL;
    p->base.be = be;
    p->base.op_count = p->n;
    p->base.run = cpu_program_run;
    p->base.destroy = cpu_program_destroy;
    *out = &p->base;
    return VF_OK;
}

static vf_status cpu_profile(vf_backend *be, bool on) {
    ((cpu_backend *)be)->profile = on;
    return VF_OK;
}

int vf_profile_op_times(vf_backend *be, vf_op_time *out, int cap) {
    if (!be || be->kind != VF_BACKEND_CPU) return 0;
    cpu_backend *c = (cpu_backend *)be;
    int n = 0;
    for (int k = 0; k < VF_OP_COUNT && n < cap; k++)
        if (c->op_calls[k]) out[n++] = (vf_op_time){vf_op_name((vf_op_kind)k), c->op_seconds[k], c->op_calls[k]};
    return n;
}

void vf_profile_reset(vf_backend *be) {
    if (!be || be->kind != VF_BACKEND_CPU) return;
    cpu_backend *c = (cpu_backend *)be;
    memset(c->op_seconds, 0, sizeof c->op_seconds);
    memset(c->op_calls, 0, sizeof c->op_calls);
}

static const vf_backend_ops cpu_ops = {
    .destroy = cpu_destroy,
    .sync = cpu_sync,
    .arena_alloc = cpu_arena_alloc,
    .arena_free = cpu_arena_free,
    .write = cpu_write,
    .read = cpu_read,
    .run_op = cpu_run_op,
    .capture_begin = cpu_capture_begin,
    .capture_end = cpu_capture_end,
    .profile = cpu_profile,
};

vf_status vf_cpu_create(vf_backend **out) {
    cpu_backend *c = calloc(1, sizeof *c);
    if (!c) return vf_fail(VF_ERR_OOM, "cpu: out of host memory");
    c->base.ops = &cpu_ops;
    c->base.kind = VF_BACKEND_CPU;
    snprintf(c->base.name, sizeof c->base.name, "cpu");
    c->base.alloc_align = CPU_ALIGN;
    c->base.max_arena_bytes = (size_t)1 << 40;
    *out = &c->base;
    return VF_OK;
}
