/* vkflow graph executor: compiles each program in named passes (prog_init,
 * mark_live = DCE, build_cons, mark_virtual, fuse_groups, lower_steps with
 * the training tail of gradient transforms, optimizer updates and EMA,
 * plan_memory), then lowers the steps to engine calls (emit), captured once
 * and replayed. See exec.h for the model. */
#include "exec.h"
#include "util.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define END INT_MAX /* position of the program's outputs and optimizer updates */


/* Step kinds: a graph node, a fused elementwise group, and the training tail
 * (one step per gradient transform, then per update, then per EMA). */
enum { ST_NODE, ST_EW, ST_TRANSFORM, ST_UPDATE, ST_EMA };

typedef struct step {
    int kind;
    int node;                 /* ST_NODE: the node; ST_EW: last member; ST_TRANSFORM: transform
                               * index; ST_UPDATE, ST_EMA: update index */
    vf_ew_program ew;         /* ST_EW */
    int n_in, in_node[VF_EW_MAX_IN];
    int n_out, out_node[VF_EW_MAX_OUT];
    int members;
} step;

typedef struct prog {
    char *name;
    int n_out, *outs;
    int n_upd, *upd_param, *upd_grad;
    float *upd_ema;           /* per update: EMA decay, 0 = none */
    vf_prog_desc d;           /* the description (arrays above are its copies) */
    vf_grad_transform tf[VF_MAX_GRAD_TRANSFORMS];
    bool *live;
    int *group;               /* per node: group id of a fused EW node, else -1 */
    bool *virt;               /* per node: a SLICE/PAD read in place by its EW consumers (no kernel) */
    step *steps;
    int n_steps;
    int64_t *off;             /* per node: activation offset, -1 none */
    vf_tensor *t;             /* per node */
    vf_tensor *aux;           /* per node, 2 each */
    vf_tensor *state;         /* per update: 2 optimizer state tensors (Adam m, v; SGD momentum) */
    vf_tensor *grad;          /* per update: the gradient the transforms and the optimizer use */
    vf_tensor *own_grad;      /* per update: a private copy when the gradient node is not ours to change */
    bool *copy_grad;          /* per update: own_grad is used */
    vf_tensor gsq, gnorm, gscale; /* clip_global_norm: [n_upd] squared norms, [1] norm, [1] scale */
    vf_tensor sched, lr;      /* {lr, t}; lr is a [1] view of its first element */
    int owner;                /* the program whose optimizer state this one uses (itself when not shared) */
    vf_program *cap;
    vf_prog_stats st;
    int64_t runs;
    double t_scalars, t_total;
} prog;

struct vf_exec {
    vf_graph *g;
    vf_backend *be;
    vf_exec_opts o;
    int n_prog;
    prog *p;
    vf_arena *persist, *act;
    vf_tensor *pt;            /* persistent tensors per node */
    bool *has_pt;
    vf_tensor *ema;           /* per param node: its EMA copy */
    bool *has_ema;
    vf_tensor ctr;
    int64_t runs;
    size_t act_bytes;
};

static size_t align_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

static bool persistent(const vf_gnode *n) {
    return n->op == VF_G_INPUT || n->op == VF_G_PARAM || n->op == VF_G_CONST || n->op == VF_G_TRI;
}

/* Upper-triangular ones of a VF_G_TRI node, written once at creation. */
static vf_status fill_tri(vf_tensor *t, const vf_gnode *N) {
    int64_t n = N->shape[0];
    float *h = calloc((size_t)(n * n), sizeof(float));
    if (!h) return vf_fail(VF_ERR_OOM, "tri: out of memory");
    for (int64_t s = 0; s < n; s++)
        for (int64_t c = N->imm != 0 ? s + 1 : s; c < n; c++) h[s * n + c] = 1.0f;
    vf_status st = vf_tensor_write(t, h, (size_t)(n * n) * sizeof(float));
    free(h);
    return st;
}

static int n_aux(const vf_gnode *n) {
    if (n->op == VF_G_ONEHOT_ARGMAX) return 1;
    return n->op == VF_G_BATCHNORM || n->op == VF_G_LAYERNORM || n->op == VF_G_NORM_BWD ? 2 : 0;
}

/* [len] of aux k */
static int64_t aux_len(const vf_graph *g, const vf_gnode *n) {
    if (n->op == VF_G_LAYERNORM || n->op == VF_G_ONEHOT_ARGMAX) return vf_gnode_rows(n);
    if (n->op == VF_G_NORM_BWD) return vf_gnode_cols(&g->nodes[n->in[0]]);
    return vf_gnode_cols(n);
}

static size_t node_bytes(const vf_graph *g, const vf_gnode *n, size_t al) {
    size_t b = align_up((size_t)vf_gnode_numel(n) * 4, al);
    for (int k = 0; k < n_aux(n); k++) b += align_up((size_t)aux_len(g, n) * 4, al);
    return b;
}

/* ------------------------------------------------------------- consumers */

typedef struct cons {
    int *start, *list;        /* CSR: consumers of node i are list[start[i] .. start[i+1]) */
} cons;

static vf_status build_cons(const vf_graph *g, const bool *live, const prog *p, cons *c) {
    int n = g->n;
    c->start = calloc((size_t)n + 1, sizeof(int));
    int total = 0;
    for (int i = 0; i < n; i++)
        if (live[i]) total += g->nodes[i].n_in;
    total += p->n_out + p->n_upd;
    c->list = malloc((size_t)(total + 1) * sizeof(int));
    int *fill = calloc((size_t)n + 1, sizeof(int));
    if (!c->start || !c->list || !fill) {
        free(fill);
        return vf_fail(VF_ERR_OOM, "compile: out of memory");
    }
    for (int i = 0; i < n; i++)
        if (live[i])
            for (int k = 0; k < g->nodes[i].n_in; k++) c->start[g->nodes[i].in[k] + 1]++;
    for (int k = 0; k < p->n_out; k++) c->start[p->outs[k] + 1]++;
    for (int k = 0; k < p->n_upd; k++) c->start[p->upd_grad[k] + 1]++;
    for (int i = 0; i < n; i++) c->start[i + 1] += c->start[i];
    for (int i = 0; i < n; i++)
        if (live[i])
            for (int k = 0; k < g->nodes[i].n_in; k++) {
                int s = g->nodes[i].in[k];
                c->list[c->start[s] + fill[s]++] = i;
            }
    for (int k = 0; k < p->n_out; k++) c->list[c->start[p->outs[k]] + fill[p->outs[k]]++] = END;
    for (int k = 0; k < p->n_upd; k++) c->list[c->start[p->upd_grad[k]] + fill[p->upd_grad[k]]++] = END;
    free(fill);
    return VF_OK;
}

/* --------------------------------------------------------------- fusion */

typedef struct group {
    int n, cap;
    int *m;                   /* members, ascending */
} group;

static bool is_member(const prog *p, int node, int G) { return node != END && p->group[node] == G; }

/* Builds the vf_ew_program of group G. Returns false if it breaks a limit. */
static bool codegen(const vf_graph *g, const prog *p, const cons *c, const group *G, int gid, step *s) {
    memset(s, 0, sizeof *s);
    s->kind = ST_EW;
    vf_ew_program *e = &s->ew;
    int reg[VF_EW_MAX_CODE * 2];
    uint8_t in_bc[VF_EW_MAX_IN];
    int n_const = 0;
    float cval[VF_EW_MAX_CODE];
    int creg[VF_EW_MAX_CODE];
    for (int mi = 0; mi < G->n; mi++) {
        const vf_gnode *N = &g->nodes[G->m[mi]];
        int r[3] = {0, 0, 0};
        for (int k = 0; k < N->n_in; k++) {
            int src = N->in[k];
            int found = -1;
            if (is_member(p, src, gid)) {
                for (int j = 0; j < mi; j++)
                    if (G->m[j] == src) found = reg[j];
            } else if (g->nodes[src].op == VF_G_CONST) {
                float v = g->nodes[src].imm;
                for (int j = 0; j < n_const; j++)
                    if (memcmp(&cval[j], &v, sizeof v) == 0) found = creg[j];
                if (found < 0) {
                    if (e->n_code >= VF_EW_MAX_CODE || n_const >= VF_EW_MAX_CODE) return false;
                    e->code[e->n_code] = (vf_ew_instr){VF_EW_CONST, 0, 0, 0, v};
                    cval[n_const] = v;
                    creg[n_const++] = found = e->n_code++;
                }
            } else {
                /* a virtual SLICE/PAD is read from its source through a column window */
                uint32_t cols = 0;
                int32_t off = 0;
                if (p->virt[src]) {
                    const vf_gnode *V = &g->nodes[src];
                    off = (int32_t)(V->op == VF_G_SLICE ? V->start : -V->start);
                    src = V->in[0];
                    cols = (uint32_t)vf_gnode_cols(&g->nodes[src]);
                }
                int idx = -1;
                for (int j = 0; j < s->n_in; j++)
                    if (s->in_node[j] == src && in_bc[j] == N->bc[k] && e->in_cols[j] == cols &&
                        e->in_col_off[j] == off)
                        idx = j;
                if (idx < 0) {
                    if (s->n_in >= VF_EW_MAX_IN) return false;
                    idx = s->n_in++;
                    s->in_node[idx] = src;
                    in_bc[idx] = N->bc[k];
                    e->in_bcast[idx] = N->bc[k];
                    e->in_cols[idx] = cols;
                    e->in_col_off[idx] = off;
                }
                /* one LOAD per input, reused */
                for (int j = 0; j < e->n_code && found < 0; j++)
                    if (e->code[j].op == VF_EW_LOAD && e->code[j].a == idx) found = j;
                if (found < 0) {
                    if (e->n_code >= VF_EW_MAX_CODE) return false;
                    e->code[e->n_code] = (vf_ew_instr){VF_EW_LOAD, (uint8_t)idx, 0, 0, 0};
                    found = e->n_code++;
                }
            }
            r[k] = found;
        }
        if (N->ew == VF_EW_LOAD) {
            reg[mi] = r[0];
        } else {
            if (e->n_code >= VF_EW_MAX_CODE) return false;
            e->code[e->n_code] = (vf_ew_instr){(uint8_t)N->ew, (uint8_t)r[0], (uint8_t)r[1], (uint8_t)r[2], N->imm};
            reg[mi] = e->n_code++;
        }
        /* an output if anything outside the group reads it */
        int node = G->m[mi];
        bool ext = false;
        for (int q = c->start[node]; q < c->start[node + 1]; q++)
            if (!is_member(p, c->list[q], gid)) ext = true;
        if (ext) {
            if (s->n_out >= VF_EW_MAX_OUT) return false;
            e->out_reg[s->n_out] = (uint8_t)reg[mi];
            s->out_node[s->n_out++] = node;
        }
    }
    e->n_in = s->n_in;
    e->n_out = s->n_out;
    s->members = G->n;
    s->node = G->m[G->n - 1];
    return s->n_out > 0;
}

static bool same_rc(const vf_gnode *a, const vf_gnode *b) {
    return vf_gnode_rows(a) == vf_gnode_rows(b) && vf_gnode_cols(a) == vf_gnode_cols(b);
}

/* Tries to add node n to group gid: every value of the group read outside
 * it must be read after n (the group runs at its last member's place). */
static bool try_add(const vf_graph *g, prog *p, const cons *c, group *gr, int gid, int n) {
    group *G = &gr[gid];
    if (!same_rc(&g->nodes[G->m[0]], &g->nodes[n])) return false;
    for (int i = 0; i < G->n; i++) {
        int m = G->m[i];
        for (int q = c->start[m]; q < c->start[m + 1]; q++) {
            int x = c->list[q];
            if (x != n && !is_member(p, x, gid) && x < n) return false;
        }
    }
    if (G->n == G->cap) {
        int cap = G->cap * 2;
        int *nm = realloc(G->m, (size_t)cap * sizeof(int));
        if (!nm) return false;
        G->m = nm;
        G->cap = cap;
    }
    G->m[G->n++] = n;
    p->group[n] = gid;
    step s;
    if (codegen(g, p, c, G, gid, &s)) return true;
    G->n--;
    p->group[n] = -1;
    return false;
}

/* ------------------------------------------------------------- planning */

typedef struct buf { int node; size_t size; int def, last; size_t off; } buf;

static int cmp_buf(const void *a, const void *b) {
    const buf *x = a, *y = b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    return x->node - y->node;
}

/* Greedy offset assignment (largest first, lowest free offset among buffers
 * whose lifetimes overlap). Returns the arena size. */
static size_t plan(buf *b, int n, size_t al) {
    qsort(b, (size_t)n, sizeof *b, cmp_buf);
    size_t total = 0;
    int *ov = malloc((size_t)(n + 1) * sizeof(int));
    for (int i = 0; i < n; i++) {
        int k = 0;
        for (int j = 0; j < i; j++)
            if (b[j].def <= b[i].last && b[i].def <= b[j].last) ov[k++] = j;
        /* candidate offsets: 0 and the end of every overlapping buffer */
        size_t best = SIZE_MAX;
        for (int ci = -1; ci < k; ci++) {
            size_t o = ci < 0 ? 0 : align_up(b[ov[ci]].off + b[ov[ci]].size, al);
            if (o >= best) continue;
            bool ok = true;
            for (int j = 0; j < k && ok; j++)
                if (o < b[ov[j]].off + b[ov[j]].size && b[ov[j]].off < o + b[i].size) ok = false;
            if (ok) best = o;
        }
        b[i].off = best;
        if (best + b[i].size > total) total = best + b[i].size;
    }
    free(ov);
    return total;
}

/* --------------------------------------------------------------- compile */

static void prog_free(prog *p) {
    free(p->name); free(p->outs); free(p->upd_param); free(p->upd_grad); free(p->upd_ema);
    free(p->live); free(p->group); free(p->virt); free(p->steps); free(p->off); free(p->t); free(p->aux);
    free(p->state); free(p->grad); free(p->own_grad); free(p->copy_grad);
    if (p->cap) vf_program_destroy(p->cap);
    memset(p, 0, sizeof *p);
}

static int *dup_ints(const int *a, int n) {
    int *r = malloc((size_t)(n ? n : 1) * sizeof(int));
    if (r && n) memcpy(r, a, (size_t)n * sizeof(int));
    return r;
}

const char *vf_opt_kind_name(vf_opt_kind k) {
    static const char *const n[] = {"adam", "adamw", "sgd"};
    return (unsigned)k < VF_OPT_COUNT ? n[k] : "?";
}

const char *vf_lr_schedule_name(vf_lr_schedule s) {
    static const char *const n[] = {"constant", "linear", "cosine"};
    return (unsigned)s < VF_LR_COUNT ? n[s] : "?";
}

const char *vf_grad_transform_name(vf_grad_transform_kind k) {
    static const char *const n[] = {"clip_global_norm"};
    return (unsigned)k < VF_GT_COUNT ? n[k] : "?";
}

float vf_optimizer_lr(const vf_optimizer_config *o, int64_t t) {
    if (o->warmup_steps > 0 && t <= o->warmup_steps) return o->lr * (float)((double)t / (double)o->warmup_steps);
    if (o->schedule == VF_LR_CONSTANT || o->decay_steps <= 0) return o->lr;
    double prog = (double)(t - (o->warmup_steps > 0 ? o->warmup_steps : 0)) / (double)o->decay_steps;
    if (prog > 1) prog = 1;
    double f = o->schedule == VF_LR_LINEAR ? 1 - prog : 0.5 * (1 + cos(3.14159265358979323846 * prog));
    return (float)((double)o->min_lr + ((double)o->lr - (double)o->min_lr) * f);
}

/* Pass 1: copy and check the description. */
static vf_status prog_init(const vf_graph *g, const vf_prog_desc *d, prog *p) {
    memset(p, 0, sizeof *p);
    int n = g->n;
    const char *pname = d->name ? d->name : "program";
    p->name = strdup(pname);
    p->n_out = d->n_out;
    p->n_upd = d->n_upd;
    p->outs = dup_ints(d->outs, d->n_out);
    p->upd_param = dup_ints(d->upd_param, d->n_upd);
    p->upd_grad = dup_ints(d->upd_grad, d->n_upd);
    p->upd_ema = calloc((size_t)d->n_upd + 1, sizeof(float));
    p->live = calloc((size_t)n, 1);
    p->group = malloc((size_t)n * sizeof(int));
    p->virt = calloc((size_t)n, sizeof(bool));
    p->off = malloc((size_t)n * sizeof(int64_t));
    if (!p->name || !p->outs || !p->upd_param || !p->upd_grad || !p->upd_ema || !p->live || !p->group || !p->virt ||
        !p->off)
        return vf_fail(VF_ERR_OOM, "compile: out of memory");
    for (int k = 0; k < d->n_out; k++)
        if (d->outs[k] < 0 || d->outs[k] >= n) return vf_fail(VF_ERR_ARG, "program '%s': output %d is not a node", pname, k);
    for (int k = 0; k < d->n_upd; k++) {
        int pa = d->upd_param[k], gr = d->upd_grad[k];
        if (pa < 0 || pa >= n || g->nodes[pa].op != VF_G_PARAM)
            return vf_fail(VF_ERR_ARG, "program '%s': update %d does not name a parameter", pname, k);
        if (gr < 0 || gr >= n || vf_gnode_numel(&g->nodes[gr]) != vf_gnode_numel(&g->nodes[pa]))
            return vf_fail(VF_ERR_ARG, "program '%s': gradient of update %d has the wrong size", pname, k);
        float e = d->upd_ema ? d->upd_ema[k] : 0.0f;
        if (!(e >= 0 && e < 1)) return vf_fail(VF_ERR_ARG, "program '%s': EMA decay %g of update %d is outside [0, 1)", pname, (double)e, k);
        p->upd_ema[k] = e;
    }
    if (d->n_transforms < 0 || d->n_transforms > VF_MAX_GRAD_TRANSFORMS || (d->n_transforms && !d->transforms))
        return vf_fail(VF_ERR_ARG, "program '%s': %d gradient transforms (0..%d allowed)", pname, d->n_transforms,
                       VF_MAX_GRAD_TRANSFORMS);
    if (d->n_transforms && !d->n_upd)
        return vf_fail(VF_ERR_ARG, "program '%s': gradient transforms need a program that updates parameters", pname);
    for (int k = 0; k < d->n_transforms; k++) {
        const vf_grad_transform *t = &d->transforms[k];
        if ((unsigned)t->kind >= VF_GT_COUNT)
            return vf_fail(VF_ERR_ARG, "program '%s': unknown gradient transform %d", pname, (int)t->kind);
        if (t->kind == VF_GT_CLIP_GLOBAL_NORM && !(t->max_norm > 0))
            return vf_fail(VF_ERR_ARG, "program '%s': clip_global_norm needs max_norm > 0 (got %g)", pname, (double)t->max_norm);
        p->tf[k] = *t;
    }
    if (d->n_upd) {
        const vf_optimizer_config *o = &d->opt;
        if ((unsigned)o->kind >= VF_OPT_COUNT || (unsigned)o->schedule >= VF_LR_COUNT || !(o->lr > 0) ||
            o->warmup_steps < 0 || o->decay_steps < 0 || !(o->min_lr >= 0))
            return vf_fail(VF_ERR_ARG, "program '%s': bad optimizer settings (kind %d, schedule %d, lr %g)", pname,
                           (int)o->kind, (int)o->schedule, (double)o->lr);
    }
    p->d = *d;
    p->d.name = p->name;
    p->d.outs = p->outs;
    p->d.upd_param = p->upd_param;
    p->d.upd_grad = p->upd_grad;
    p->d.upd_ema = p->upd_ema;
    p->d.transforms = p->tf;
    return VF_OK;
}

/* Pass 2 (DCE): live = ancestors of the outputs and updates. */
static void mark_live(const vf_graph *g, prog *p) {
    for (int k = 0; k < p->n_out; k++) p->live[p->outs[k]] = true;
    for (int k = 0; k < p->n_upd; k++) p->live[p->upd_param[k]] = p->live[p->upd_grad[k]] = true;
    for (int i = g->n - 1; i >= 0; i--)
        if (p->live[i])
            for (int k = 0; k < g->nodes[i].n_in; k++) p->live[g->nodes[i].in[k]] = true;
    for (int i = 0; i < g->n; i++) {
        p->group[i] = -1;
        p->off[i] = -1;
    }
}

/* Pass 3: SLICE/PAD nodes whose every reader is an elementwise node taking
 * them whole (FULL) need no kernel: those readers load the source through a
 * column window (vf_ew_program.in_cols). Not for a slice of such a node. */
static void mark_virtual(const vf_graph *g, prog *p, const cons *c) {
    for (int i = 0; i < g->n; i++) {
        const vf_gnode *V = &g->nodes[i];
        if (!p->live[i] || (V->op != VF_G_SLICE && V->op != VF_G_PAD) || V->dtype != VF_F32) continue;
        const vf_gnode *S = &g->nodes[V->in[0]];
        if (p->virt[V->in[0]] || S->dtype != VF_F32 || vf_gnode_rows(S) != vf_gnode_rows(V)) continue;
        bool ok = c->start[i] < c->start[i + 1];
        for (int q = c->start[i]; q < c->start[i + 1] && ok; q++) {
            int x = c->list[q];
            if (x == END || g->nodes[x].op != VF_G_EW) { ok = false; break; }
            for (int k = 0; k < g->nodes[x].n_in; k++)
                if (g->nodes[x].in[k] == i && g->nodes[x].bc[k] != VF_BC_FULL) ok = false;
        }
        p->virt[i] = ok;
    }
}

/* Pass 4: each EW node joins a producer's group when it can (fuse), else
 * starts its own. gr has room for one group per node. */
static vf_status fuse_groups(const vf_graph *g, prog *p, const cons *c, bool fuse, group *gr, int *n_gr) {
    for (int i = 0; i < g->n; i++) {
        const vf_gnode *N = &g->nodes[i];
        if (!p->live[i] || N->op != VF_G_EW) continue;
        bool placed = false;
        for (int k = 0; fuse && k < N->n_in && !placed; k++) {
            int gid = p->group[N->in[k]];
            if (gid >= 0) placed = try_add(g, p, c, gr, gid, i);
        }
        if (placed) continue;
        group *G = &gr[*n_gr];
        G->cap = 8;
        G->m = malloc(8 * sizeof(int));
        if (!G->m) return vf_fail(VF_ERR_OOM, "compile: out of memory");
        G->m[0] = i;
        G->n = 1;
        p->group[i] = (*n_gr)++;
    }
    return VF_OK;
}

/* Pass 5: steps in node order (a group runs at its last member), then the
 * training tail: the gradient transforms, the updates, the EMAs. step_of[i]
 * gets the step that computes node i (-1 for none). */
static vf_status lower_steps(const vf_graph *g, prog *p, const cons *c, group *gr, int *step_of) {
    int n = g->n;
    int cap = n + p->d.n_transforms + 2 * p->n_upd + 1;
    p->steps = calloc((size_t)cap, sizeof(step));
    if (!p->steps) return vf_fail(VF_ERR_OOM, "compile: out of memory");
    for (int i = 0; i < n; i++) {
        step_of[i] = -1;
        const vf_gnode *N = &g->nodes[i];
        if (!p->live[i]) continue;
        p->st.nodes++;
        if (persistent(N) || N->op == VF_G_AUX || p->virt[i]) continue;
        if (N->op == VF_G_EW) {
            p->st.ew_nodes++;
            group *G = &gr[p->group[i]];
            if (G->m[G->n - 1] != i) continue;
            if (!codegen(g, p, c, G, p->group[i], &p->steps[p->n_steps]))
                return vf_fail(VF_ERR_ARG, "compile: elementwise node %d does not fit one kernel", i);
            VF_TRY(vf_ew_validate(&p->steps[p->n_steps].ew));
            for (int k = 0; k < G->n; k++) step_of[G->m[k]] = p->n_steps;
            p->st.ew_kernels++;
            if (G->n > 1) p->st.fused_groups++;
            p->n_steps++;
        } else {
            p->steps[p->n_steps].kind = ST_NODE;
            p->steps[p->n_steps].node = i;
            step_of[i] = p->n_steps++;
        }
    }
    for (int k = 0; k < p->d.n_transforms; k++) p->steps[p->n_steps++] = (step){.kind = ST_TRANSFORM, .node = k};
    for (int u = 0; u < p->n_upd; u++) p->steps[p->n_steps++] = (step){.kind = ST_UPDATE, .node = u};
    for (int u = 0; u < p->n_upd; u++)
        if (p->upd_ema[u] > 0) p->steps[p->n_steps++] = (step){.kind = ST_EMA, .node = u};
    p->st.kernels = p->n_steps;
    return VF_OK;
}

/* Pass 6: liveness of the values that need storage and offsets in one
 * activation arena (greedy plan, or every value its own bytes). */
static vf_status plan_memory(const vf_graph *g, prog *p, const cons *c, const int *step_of, size_t al, bool do_plan) {
    int n = g->n;
    buf *b = malloc((size_t)n * sizeof(buf));
    int nb = 0;
    int *owner_of = malloc((size_t)n * sizeof(int));
    if (!b || !owner_of) {
        free(b);
        free(owner_of);
        return vf_fail(VF_ERR_OOM, "compile: out of memory");
    }
    for (int i = 0; i < n; i++) {
        owner_of[i] = -1;
        const vf_gnode *N = &g->nodes[i];
        if (!p->live[i] || persistent(N) || N->op == VF_G_AUX || step_of[i] < 0) continue;
        if (N->op == VF_G_EW) {
            const step *s = &p->steps[step_of[i]];
            bool out = false;
            for (int k = 0; k < s->n_out; k++) out |= s->out_node[k] == i;
            if (!out) continue;
        }
        owner_of[i] = nb;
        b[nb++] = (buf){i, node_bytes(g, N, al), step_of[i], step_of[i], 0};
    }
    for (int i = 0; i < n; i++) {
        if (!p->live[i]) continue;
        int src_owner = g->nodes[i].op == VF_G_AUX ? g->nodes[i].in[0] : i;
        if (owner_of[src_owner] < 0) continue;
        buf *B = &b[owner_of[src_owner]];
        for (int q = c->start[i]; q < c->start[i + 1]; q++) {
            int x = c->list[q];
            int at = x == END ? p->n_steps : step_of[x];
            if (x != END && (g->nodes[x].op == VF_G_AUX || p->virt[x])) {
                /* readers of an aux view, or of a virtual slice/pad, keep the owner alive */
                for (int r = c->start[x]; r < c->start[x + 1]; r++) {
                    int y = c->list[r];
                    int a2 = y == END ? p->n_steps : step_of[y];
                    if (a2 > B->last) B->last = a2;
                }
                continue;
            }
            if (at > B->last) B->last = at;
        }
    }
    size_t unplanned = 0;
    for (int i = 0; i < nb; i++) unplanned += b[i].size;
    p->st.unplanned_bytes = unplanned;
    if (do_plan) {
        p->st.planned_bytes = plan(b, nb, al);
    } else {
        size_t o = 0;
        for (int i = 0; i < nb; i++) { b[i].off = o; o += b[i].size; }
        p->st.planned_bytes = o;
    }
    for (int i = 0; i < nb; i++) p->off[b[i].node] = (int64_t)b[i].off;
    free(b);
    free(owner_of);
    return VF_OK;
}

static vf_status compile(vf_graph *g, const vf_prog_desc *d, bool fuse, bool do_plan, size_t al, prog *p) {
    VF_TRY(prog_init(g, d, p));
    mark_live(g, p);
    cons c = {0};
    group *gr = calloc((size_t)g->n + 1, sizeof(group));
    int *step_of = malloc((size_t)g->n * sizeof(int) + 1);
    int n_gr = 0;
    vf_status st = gr && step_of ? build_cons(g, p->live, p, &c) : vf_fail(VF_ERR_OOM, "compile: out of memory");
    if (!st && fuse) mark_virtual(g, p, &c);
    if (!st) st = fuse_groups(g, p, &c, fuse, gr, &n_gr);
    if (!st) st = lower_steps(g, p, &c, gr, step_of);
    if (!st) st = plan_memory(g, p, &c, step_of, al, do_plan);
    free(step_of);
    for (int i = 0; gr && i < n_gr; i++) free(gr[i].m);
    free(gr);
    free(c.start);
    free(c.list);
    return st;
}

vf_status vf_exec_analyze(vf_graph *g, int n_prog, const vf_prog_desc *progs, bool fuse, size_t alignment,
                          vf_prog_stats *stats) {
    VF_TRY(vf_graph_status(g));
    for (int i = 0; i < n_prog; i++) {
        prog p;
        vf_status s = compile(g, &progs[i], fuse, true, alignment, &p);
        if (!s) stats[i] = p.st;
        prog_free(&p);
        if (s) return s;
    }
    return VF_OK;
}

/* ------------------------------------------------------------- creation */

/* host-side parameter initialisation (splitmix64), identical on every backend */
static double unif(uint64_t *s) { return ((double)(vf_splitmix64(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

static vf_status init_param(vf_exec *x, int id) {
    const vf_gnode *N = &x->g->nodes[id];
    int64_t n = vf_gnode_numel(N);
    float *h = malloc((size_t)n * sizeof(float));
    if (!h) return vf_fail(VF_ERR_OOM, "param init: out of memory");
    uint64_t s = x->o.seed * 0x2545F4914F6CDD1Dull + 0x1000003ull * (uint64_t)(id + 1);
    const char *nm = N->name ? N->name : "";
    for (const char *q = nm; *q; q++) s = s * 131 + (uint8_t)*q;
    double fan_in = N->ndim == 2 ? (double)N->shape[0] : (double)N->shape[0];
    double fan_out = N->ndim == 2 ? (double)N->shape[1] : (double)N->shape[0];
    double gain = N->imm != 0 ? N->imm : 1.0;
    for (int64_t i = 0; i < n; i++) {
        double v = 0;
        switch (N->init) {
        case VF_INIT_ZEROS: v = 0; break;
        case VF_INIT_ONES: v = 1; break;
        case VF_INIT_CONST: v = N->imm; break;
        case VF_INIT_UNIFORM: v = N->imm * (2 * unif(&s) - 1); break;
        case VF_INIT_XAVIER: v = gain * sqrt(6.0 / (fan_in + fan_out)) * (2 * unif(&s) - 1); break;
        case VF_INIT_NORMAL: case VF_INIT_HE: {
            double u1 = unif(&s), u2 = unif(&s);
            double z = sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
            v = N->init == VF_INIT_NORMAL ? N->imm * z : gain * sqrt(2.0 / fan_in) * z;
            break;
        }
        default: break;
        }
        h[i] = (float)v;
    }
    vf_status st = vf_tensor_write(&x->pt[id], h, (size_t)n * sizeof(float));
    free(h);
    return st;
}

static vf_status view(vf_arena *a, size_t off, vf_dtype dt, const vf_gnode *n, vf_tensor *t) {
    return vf_tensor_view(a, off, dt, n->ndim, n->shape, t);
}

static vf_status emit(vf_exec *x, prog *p);

static int n_opt_state(vf_opt_kind k) { return k == VF_OPT_SGD ? 1 : 2; }

/* A gradient the transforms may change in place: an activation of this
 * program that is neither an output nor another update's gradient. Others
 * (a shared constant, an input, an output the caller reads) get a copy. */
static bool grad_is_private(const vf_graph *g, const prog *p, int u) {
    int gr = p->upd_grad[u];
    if (persistent(&g->nodes[gr]) || p->off[g->nodes[gr].op == VF_G_AUX ? g->nodes[gr].in[0] : gr] < 0) return false;
    for (int k = 0; k < p->n_out; k++)
        if (p->outs[k] == gr) return false;
    for (int v = 0; v < p->n_upd; v++)
        if (v != u && p->upd_grad[v] == gr) return false;
    return true;
}

/* Bytes of the persistent arena: leaves, per-program scalars and optimizer
 * state, gradient copies and clip buffers, EMA copies. Sets has_pt. */
static size_t persistent_bytes(vf_exec *x, size_t al) {
    const vf_graph *g = x->g;
    size_t pbytes = 4 * al;
    for (int i = 0; i < g->n; i++) {
        bool live = false;
        for (int k = 0; k < x->n_prog; k++) live |= x->p[k].live[i];
        /* every param and input has storage (model state; written by the
         * caller), consts only where some program reads them */
        if (g->nodes[i].op != VF_G_CONST) live = true;
        if (live && persistent(&g->nodes[i])) {
            x->has_pt[i] = true;
            pbytes += node_bytes(g, &g->nodes[i], al);
        }
        if (x->has_ema[i]) pbytes += node_bytes(g, &g->nodes[i], al);
    }
    for (int k = 0; k < x->n_prog; k++) {
        prog *p = &x->p[k];
        pbytes += 2 * al;
        if (p->d.n_transforms) pbytes += 3 * al + align_up((size_t)p->n_upd * 4, al);
        for (int u = 0; u < p->n_upd; u++) {
            size_t pb = node_bytes(g, &g->nodes[p->upd_param[u]], al);
            if (p->owner == k) pbytes += (size_t)n_opt_state(p->d.opt.kind) * pb;
            p->copy_grad[u] = p->d.n_transforms && !grad_is_private(g, p, u);
            if (p->copy_grad[u]) pbytes += pb;
        }
        if (p->st.planned_bytes > x->act_bytes) x->act_bytes = p->st.planned_bytes;
    }
    return pbytes;
}

/* Per-program tensors: optimizer state, the gradients the tail uses, clip
 * buffers, and the views of every live node. */
static vf_status bind_program(vf_exec *x, prog *p, size_t al) {
    const vf_graph *g = x->g;
    p->t = calloc((size_t)g->n + 1, sizeof(vf_tensor));
    p->aux = calloc(2 * (size_t)g->n + 2, sizeof(vf_tensor));
    if (!p->t || !p->aux) return vf_fail(VF_ERR_OOM, "exec: out of memory");
    const prog *own = &x->p[p->owner]; /* bound before p: owners come first */
    if (own == p) {
        VF_TRY(vf_tensor_alloc1(x->persist, 2, &p->sched));
    } else {
        p->sched = own->sched;
    }
    p->lr = p->sched;
    p->lr.shape[0] = p->lr.numel = 1;
    if (p->d.n_transforms) {
        VF_TRY(vf_tensor_alloc1(x->persist, p->n_upd, &p->gsq));
        VF_TRY(vf_tensor_alloc1(x->persist, 1, &p->gnorm));
        VF_TRY(vf_tensor_alloc1(x->persist, 1, &p->gscale));
        VF_TRY(vf_fill(&p->gnorm, 0.0f));
    }
    for (int u = 0; u < p->n_upd; u++) {
        const vf_gnode *P = &g->nodes[p->upd_param[u]];
        for (int k = 0; k < n_opt_state(p->d.opt.kind); k++) {
            if (own != p) {
                p->state[2 * u + k] = own->state[2 * u + k];
                continue;
            }
            VF_TRY(vf_tensor_alloc(x->persist, VF_F32, P->ndim, P->shape, &p->state[2 * u + k]));
            VF_TRY(vf_fill(&p->state[2 * u + k], 0.0f));
        }
        if (p->copy_grad[u]) VF_TRY(vf_tensor_alloc(x->persist, VF_F32, P->ndim, P->shape, &p->own_grad[u]));
    }
    for (int i = 0; i < g->n; i++) {
        const vf_gnode *N = &g->nodes[i];
        if (!p->live[i]) continue;
        if (x->has_pt[i]) {
            p->t[i] = p->d.ema_weights && x->has_ema[i] ? x->ema[i] : x->pt[i];
            continue;
        }
        if (p->off[i] < 0) continue;
        size_t o = (size_t)p->off[i];
        VF_TRY(view(x->act, o, N->dtype, N, &p->t[i]));
        o += align_up((size_t)vf_gnode_numel(N) * 4, al);
        for (int a = 0; a < n_aux(N); a++) {
            int64_t len = aux_len(g, N);
            int64_t idx_shape[2] = {len, 1}; /* onehot_argmax: the chosen index per row */
            if (N->op == VF_G_ONEHOT_ARGMAX) VF_TRY(vf_tensor_view(x->act, o, VF_I32, 2, idx_shape, &p->aux[2 * i + a]));
            else VF_TRY(vf_tensor_view(x->act, o, VF_F32, 1, &len, &p->aux[2 * i + a]));
            o += align_up((size_t)len * 4, al);
        }
    }
    for (int i = 0; i < g->n; i++) /* aux views */
        if (p->live[i] && g->nodes[i].op == VF_G_AUX) p->t[i] = p->aux[2 * g->nodes[i].in[0] + g->nodes[i].axis];
    for (int u = 0; u < p->n_upd; u++) p->grad[u] = p->copy_grad[u] ? p->own_grad[u] : p->t[p->upd_grad[u]];
    return VF_OK;
}

/* Programs that share an earlier program's optimizer: the same parameters
 * in the same order; the sharer's own optimizer settings are replaced by the
 * owner's. */
static vf_status resolve_owners(vf_exec *x) {
    for (int k = 0; k < x->n_prog; k++) {
        prog *p = &x->p[k];
        p->owner = k;
        const char *nm = p->d.share_optimizer;
        if (!nm) continue;
        int o = -1;
        for (int j = 0; j < k; j++)
            if (!strcmp(x->p[j].name, nm)) o = j;
        if (o < 0) return vf_fail(VF_ERR_ARG, "program '%s': shares the optimizer of '%s', which is not an earlier program", p->name, nm);
        prog *q = &x->p[o];
        if (q->owner != o) o = q->owner, q = &x->p[o];
        bool same = q->n_upd == p->n_upd && p->n_upd > 0;
        for (int u = 0; same && u < p->n_upd; u++) same = q->upd_param[u] == p->upd_param[u];
        if (!same)
            return vf_fail(VF_ERR_ARG, "program '%s': shares the optimizer of '%s', so it must update the same parameters "
                           "in the same order", p->name, q->name);
        p->owner = o;
        p->d.opt = q->d.opt;
    }
    return VF_OK;
}

/* Which parameters have an EMA (and its decay): one decay per parameter. */
static vf_status collect_ema(vf_exec *x) {
    float *decay = calloc((size_t)x->g->n + 1, sizeof(float));
    if (!decay) return vf_fail(VF_ERR_OOM, "exec: out of memory");
    vf_status st = VF_OK;
    for (int k = 0; k < x->n_prog && !st; k++)
        for (int u = 0; u < x->p[k].n_upd && !st; u++) {
            float e = x->p[k].upd_ema[u];
            int pa = x->p[k].upd_param[u];
            if (e <= 0) continue;
            if (decay[pa] > 0 && decay[pa] != e)
                st = vf_fail(VF_ERR_ARG, "program '%s': parameter %s has EMA decay %g here and %g in another program",
                             x->p[k].name, x->g->nodes[pa].name ? x->g->nodes[pa].name : "?", (double)e, (double)decay[pa]);
            decay[pa] = e;
            x->has_ema[pa] = true;
        }
    free(decay);
    return st;
}

vf_status vf_exec_create(vf_graph *g, vf_backend *be, int n_prog, const vf_prog_desc *progs,
                         const vf_exec_opts *opts, vf_exec **out) {
    *out = NULL;
    VF_TRY(vf_graph_status(g));
    vf_exec *x = calloc(1, sizeof *x);
    if (!x) return vf_fail(VF_ERR_OOM, "exec: out of memory");
    x->g = g;
    x->be = be;
    x->o = *opts;
    x->n_prog = n_prog;
    x->p = calloc((size_t)(n_prog ? n_prog : 1), sizeof(prog));
    x->pt = calloc((size_t)g->n + 1, sizeof(vf_tensor));
    x->has_pt = calloc((size_t)g->n + 1, 1);
    x->ema = calloc((size_t)g->n + 1, sizeof(vf_tensor));
    x->has_ema = calloc((size_t)g->n + 1, 1);
    vf_status st = VF_OK;
    if (!x->p || !x->pt || !x->has_pt || !x->ema || !x->has_ema) st = vf_fail(VF_ERR_OOM, "exec: out of memory");
    size_t al = vf_backend_alignment(be);
    for (int i = 0; i < n_prog && !st; i++) {
        st = compile(g, &progs[i], opts->fuse, opts->plan, al, &x->p[i]);
        prog *p = &x->p[i];
        if (!st) {
            p->state = calloc(2 * (size_t)p->n_upd + 1, sizeof(vf_tensor));
            p->grad = calloc((size_t)p->n_upd + 1, sizeof(vf_tensor));
            p->own_grad = calloc((size_t)p->n_upd + 1, sizeof(vf_tensor));
            p->copy_grad = calloc((size_t)p->n_upd + 1, sizeof(bool));
            if (!p->state || !p->grad || !p->own_grad || !p->copy_grad) st = vf_fail(VF_ERR_OOM, "exec: out of memory");
        }
    }
    if (!st) st = resolve_owners(x);
    if (!st) st = collect_ema(x);
    size_t pbytes = st ? 0 : persistent_bytes(x, al);
    if (!st) st = vf_arena_create(be, pbytes, &x->persist);
    if (!st) st = vf_arena_create(be, x->act_bytes + al, &x->act);
    if (!st) st = vf_tensor_alloc(x->persist, VF_I32, 1, (int64_t[]){2}, &x->ctr);
    for (int i = 0; i < g->n && !st; i++) {
        if (!x->has_pt[i]) continue;
        const vf_gnode *N = &g->nodes[i];
        st = vf_tensor_alloc(x->persist, N->dtype, N->ndim, N->shape, &x->pt[i]);
        if (st) break;
        if (N->op == VF_G_PARAM) st = init_param(x, i);
        else if (N->op == VF_G_CONST) st = vf_fill(&x->pt[i], N->imm);
        else if (N->op == VF_G_TRI) st = fill_tri(&x->pt[i], N);
        else if (N->dtype == VF_F32) st = vf_fill(&x->pt[i], 0.0f);
        else {
            size_t nb = vf_tensor_bytes(&x->pt[i]);
            void *z = calloc(1, nb);
            st = z ? vf_tensor_write(&x->pt[i], z, nb) : vf_fail(VF_ERR_OOM, "exec: out of memory");
            free(z);
        }
        /* the EMA starts at the initial parameters */
        if (!st && x->has_ema[i]) st = vf_tensor_alloc(x->persist, VF_F32, N->ndim, N->shape, &x->ema[i]);
        if (!st && x->has_ema[i]) st = vf_copy(&x->pt[i], &x->ema[i]);
    }
    for (int k = 0; k < n_prog && !st; k++) {
        prog *p = &x->p[k];
        st = bind_program(x, p, al);
        if (!st && opts->capture) {
            st = vf_capture_begin(be);
            if (!st) {
                vf_status es = emit(x, p);
                vf_status cs = vf_capture_end(be, &p->cap);
                st = es ? es : cs;
            }
        }
    }
    if (st) {
        vf_exec_destroy(x);
        return st;
    }
    *out = x;
    return VF_OK;
}

void vf_exec_destroy(vf_exec *x) {
    if (!x) return;
    for (int k = 0; k < x->n_prog; k++) prog_free(&x->p[k]);
    free(x->p);
    free(x->pt);
    free(x->has_pt);
    free(x->ema);
    free(x->has_ema);
    if (x->act) vf_arena_destroy(x->act);
    if (x->persist) vf_arena_destroy(x->persist);
    free(x);
}

/* ---------------------------------------------------------------- lowering */

static vf_status emit_node(vf_exec *x, prog *p, int i) {
    const vf_gnode *N = &x->g->nodes[i];
    const vf_tensor *t = p->t;
    const vf_tensor *y = &t[i];
    const int *in = N->in;
    switch (N->op) {
    case VF_G_MATMUL: return vf_matmul(&t[in[0]], N->ta, &t[in[1]], N->tb, y, 1.0f, 0.0f);
    case VF_G_SUM: return vf_sum_forward((vf_reduce_axis)N->axis, N->mean, &t[in[0]], y);
    case VF_G_CONCAT: {
        const vf_tensor *xs[64];
        const vf_tensor **xp = N->n_in <= 64 ? xs : malloc((size_t)N->n_in * sizeof *xp);
        if (!xp) return vf_fail(VF_ERR_OOM, "concat: out of memory");
        for (int k = 0; k < N->n_in; k++) xp[k] = &t[in[k]];
        vf_status s = vf_concat_forward(N->n_in, xp, y);
        if (xp != xs) free(xp);
        return s;
    }
    case VF_G_SLICE: return vf_slice_forward(&t[in[0]], N->start, y);
    case VF_G_PAD: return vf_slice_backward(&t[in[0]], N->start, y);
    case VF_G_SOFTMAX: return vf_softmax_forward(&t[in[0]], y);
    case VF_G_LOG_SOFTMAX: return vf_log_softmax_forward(&t[in[0]], y);
    case VF_G_SOFTMAX_BWD: return vf_softmax_backward(&t[in[0]], &t[in[1]], y);
    case VF_G_LOG_SOFTMAX_BWD: return vf_log_softmax_backward(&t[in[0]], &t[in[1]], y);
    case VF_G_BATCHNORM:
        return vf_batchnorm_train_forward(&t[in[0]], &t[in[1]], &t[in[2]], N->imm, 0.1f, y, &p->aux[2 * i],
                                          &p->aux[2 * i + 1], NULL, NULL);
    case VF_G_LAYERNORM:
        return vf_layernorm_forward(&t[in[0]], &t[in[1]], &t[in[2]], N->imm, y, &p->aux[2 * i], &p->aux[2 * i + 1]);
    case VF_G_NORM_BWD: {
        int f = in[2];
        vf_status (*fn)(const vf_tensor *, const vf_tensor *, const vf_tensor *, const vf_tensor *,
                        const vf_tensor *, const vf_tensor *, const vf_tensor *, const vf_tensor *) =
            N->axis == VF_G_BATCHNORM ? vf_batchnorm_backward : vf_layernorm_backward;
        return fn(&t[in[0]], &t[in[1]], &p->aux[2 * f], &p->aux[2 * f + 1], &t[in[3]], y, &p->aux[2 * i],
                  &p->aux[2 * i + 1]);
    }
    case VF_G_EMBEDDING: return vf_embedding_forward(&t[in[0]], &t[in[1]], y);
    case VF_G_RESHAPE: { /* the input's bytes seen with the output's shape, copied */
        vf_tensor src = t[in[0]];
        src.ndim = y->ndim;
        memcpy(src.shape, y->shape, sizeof src.shape);
        return vf_copy(&src, y);
    }
    case VF_G_EMBEDDING_BWD: return vf_embedding_backward(&t[in[0]], &t[in[1]], y);
    case VF_G_ONEHOT_ARGMAX: return vf_argmax(&t[in[0]], NULL, &p->aux[2 * i], y);
    case VF_G_NOISE:
        return N->uniform ? vf_rng_uniform(x->o.seed, N->stream, &x->ctr, y)
                          : vf_rng_normal(x->o.seed, N->stream, &x->ctr, y);
    default: return vf_fail(VF_ERR_UNSUPPORTED, "exec: cannot lower %s", vf_gop_name(N->op));
    }
}

/* t viewed as one row [1, numel] (reductions over every element). */
static vf_tensor as_row(const vf_tensor *t) {
    vf_tensor r = *t;
    r.ndim = 2;
    r.shape[0] = 1;
    r.shape[1] = t->numel;
    return r;
}

static vf_ew_instr ins(vf_ew_op op, int a, int b, float imm) {
    return (vf_ew_instr){(uint8_t)op, (uint8_t)a, (uint8_t)b, 0, imm};
}

/* clip_global_norm: gsq[u] = ||g_u||^2; norm = sqrt(sum gsq);
 * scale = min(1, max_norm / (norm + 1e-6)); g_u *= scale. */
static vf_status emit_clip(prog *p, const vf_grad_transform *t) {
    for (int u = 0; u < p->n_upd; u++) {
        vf_tensor row = as_row(&p->grad[u]), dst = p->gsq;
        dst.offset += (size_t)u * 4;
        dst.shape[0] = dst.numel = 1;
        VF_TRY(vf_sqnorm_rows_forward(&row, &dst));
    }
    /* the sum of squares lands in gscale, which the next kernel turns into the scale in place */
    vf_tensor sq_row = as_row(&p->gsq);
    VF_TRY(vf_sum_forward(VF_REDUCE_ALL, false, &sq_row, &p->gscale));
    vf_ew_program e = {0};
    e.n_in = 1;
    e.in_bcast[0] = VF_BC_FULL;
    e.code[0] = ins(VF_EW_LOAD, 0, 0, 0);
    e.code[1] = ins(VF_EW_SQRT, 0, 0, 0);
    e.code[2] = ins(VF_EW_CONST, 0, 0, 1e-6f);
    e.code[3] = ins(VF_EW_ADD, 1, 2, 0);
    e.code[4] = ins(VF_EW_CONST, 0, 0, t->max_norm);
    e.code[5] = ins(VF_EW_DIV, 4, 3, 0);
    e.code[6] = ins(VF_EW_CONST, 0, 0, 1.0f);
    e.code[7] = ins(VF_EW_MIN, 5, 6, 0);
    e.n_code = 8;
    e.n_out = 2;
    e.out_reg[0] = 1;
    e.out_reg[1] = 7;
    const vf_tensor *in1[1] = {&p->gscale}, *out2[2] = {&p->gnorm, &p->gscale};
    VF_TRY(vf_elementwise(&e, in1, out2));
    vf_ew_program m = {0};
    m.n_in = 2;
    m.in_bcast[0] = VF_BC_FULL;
    m.in_bcast[1] = VF_BC_SCALAR;
    m.code[0] = ins(VF_EW_LOAD, 0, 0, 0);
    m.code[1] = ins(VF_EW_LOAD, 1, 0, 0);
    m.code[2] = ins(VF_EW_MUL, 0, 1, 0);
    m.n_code = 3;
    m.n_out = 1;
    m.out_reg[0] = 2;
    for (int u = 0; u < p->n_upd; u++) {
        const vf_tensor *in[2] = {&p->grad[u], &p->gscale}, *o[1] = {&p->grad[u]};
        VF_TRY(vf_elementwise(&m, in, o));
    }
    return VF_OK;
}

static vf_status emit_transform(prog *p, int k) {
    if (k == 0)
        for (int u = 0; u < p->n_upd; u++)
            if (p->copy_grad[u]) VF_TRY(vf_copy(&p->t[p->upd_grad[u]], &p->grad[u]));
    const vf_grad_transform *t = &p->tf[k];
    switch (t->kind) {
    case VF_GT_CLIP_GLOBAL_NORM: return emit_clip(p, t);
    default: return vf_fail(VF_ERR_UNSUPPORTED, "exec: gradient transform %d", (int)t->kind);
    }
}

/* SGD with momentum as one elementwise kernel, in place on param and buf:
 *   g' = g + wd p;  buf = mu buf + g';  p -= lr buf   (lr: [1] SCALAR input) */
static vf_status emit_sgd(prog *p, int u) {
    const vf_optimizer_config *o = &p->d.opt;
    vf_ew_program e = {0};
    e.n_in = 4;
    e.in_bcast[3] = VF_BC_SCALAR;
    int n = 0;
    for (int i = 0; i < 4; i++) e.code[n++] = ins(VF_EW_LOAD, i, 0, 0); /* r0 p, r1 g, r2 buf, r3 lr */
    int g = 1;
    if (o->weight_decay != 0) {
        e.code[n] = ins(VF_EW_CONST, 0, 0, o->weight_decay);       /* r4 wd */
        e.code[n + 1] = ins(VF_EW_MUL, n, 0, 0);                     /* r5 wd p */
        e.code[n + 2] = ins(VF_EW_ADD, 1, n + 1, 0);                 /* r6 g + wd p */
        g = n + 2;
        n += 3;
    }
    e.code[n] = ins(VF_EW_CONST, 0, 0, o->momentum);
    e.code[n + 1] = ins(VF_EW_MUL, n, 2, 0);                         /* mu buf */
    e.code[n + 2] = ins(VF_EW_ADD, n + 1, g, 0);                     /* buf' */
    int buf = n + 2;
    e.code[n + 3] = ins(VF_EW_MUL, 3, buf, 0);                       /* lr buf' */
    e.code[n + 4] = ins(VF_EW_SUB, 0, n + 3, 0);                     /* p' */
    n += 5;
    e.n_code = n;
    e.n_out = 2;
    e.out_reg[0] = (uint8_t)(n - 1);
    e.out_reg[1] = (uint8_t)buf;
    const vf_tensor *par = &p->t[p->upd_param[u]];
    const vf_tensor *in[4] = {par, &p->grad[u], &p->state[2 * u], &p->lr}, *out[2] = {par, &p->state[2 * u]};
    return vf_elementwise(&e, in, out);
}

static vf_status emit_update(prog *p, int u) {
    const vf_optimizer_config *o = &p->d.opt;
    if (o->kind == VF_OPT_SGD) return emit_sgd(p, u);
    vf_adam_config a = {o->beta1, o->beta2, o->eps, o->kind == VF_OPT_ADAMW ? o->weight_decay : 0.0f};
    return vf_adam_update(&p->t[p->upd_param[u]], &p->grad[u], &p->state[2 * u], &p->state[2 * u + 1], &p->sched, &a);
}

/* ema += (1 - decay) (param - ema), in place. */
static vf_status emit_ema(vf_exec *x, prog *p, int u) {
    int pa = p->upd_param[u];
    vf_ew_program e = {0};
    e.n_in = 2;
    e.code[0] = ins(VF_EW_LOAD, 0, 0, 0);
    e.code[1] = ins(VF_EW_LOAD, 1, 0, 0);
    e.code[2] = ins(VF_EW_SUB, 1, 0, 0);
    e.code[3] = ins(VF_EW_CONST, 0, 0, 1.0f - p->upd_ema[u]);
    e.code[4] = ins(VF_EW_MUL, 3, 2, 0);
    e.code[5] = ins(VF_EW_ADD, 0, 4, 0);
    e.n_code = 6;
    e.n_out = 1;
    e.out_reg[0] = 5;
    const vf_tensor *in[2] = {&x->ema[pa], &x->pt[pa]}, *out[1] = {&x->ema[pa]};
    return vf_elementwise(&e, in, out);
}

static vf_status emit(vf_exec *x, prog *p) {
    for (int k = 0; k < p->n_steps; k++) {
        step *s = &p->steps[k];
        vf_status st;
        const char *what = NULL;
        switch (s->kind) {
        case ST_NODE: st = emit_node(x, p, s->node); break;
        case ST_EW: {
            const vf_tensor *in[VF_EW_MAX_IN], *out[VF_EW_MAX_OUT];
            for (int i = 0; i < s->n_in; i++) in[i] = &p->t[s->in_node[i]];
            for (int i = 0; i < s->n_out; i++) out[i] = &p->t[s->out_node[i]];
            st = vf_elementwise(&s->ew, in, out);
            break;
        }
        case ST_TRANSFORM: st = emit_transform(p, s->node); what = vf_grad_transform_name(p->tf[s->node].kind); break;
        case ST_UPDATE: st = emit_update(p, s->node); what = vf_opt_kind_name(p->d.opt.kind); break;
        default: st = emit_ema(x, p, s->node); what = "ema"; break;
        }
        if (st) {
            const vf_gnode *N = &x->g->nodes[what ? p->upd_param[s->kind == ST_TRANSFORM ? 0 : s->node] : s->node];
            return vf_fail(st, "program '%s', step %d (%s%s%s): %s", p->name, k, what ? what : vf_gop_name(N->op),
                           N->name ? " " : "", N->name ? N->name : "", vf_last_error());
        }
    }
    return VF_OK;
}

vf_status vf_exec_run(vf_exec *x, int pi) {
    if (!x || pi < 0 || pi >= x->n_prog) return vf_fail(VF_ERR_ARG, "exec_run: no program %d", pi);
    prog *p = &x->p[pi];
    double t0 = vf_now_s();
    x->runs++;
    p->runs++;
    /* per-step scalars: the Philox block base {lo, hi} (a fresh 2^32-block
     * range per run) and Adam's {lr, t} */
    int32_t ctr[2] = {0, (int32_t)x->runs};
    VF_TRY(vf_tensor_write(&x->ctr, ctr, sizeof ctr));
    if (p->n_upd) {
        /* the optimizer's step: runs of every program that uses this optimizer state */
        int64_t t = 0;
        for (int k = 0; k < x->n_prog; k++)
            if (x->p[k].owner == p->owner) t += x->p[k].runs;
        float sched[2] = {vf_optimizer_lr(&p->d.opt, t), (float)t};
        VF_TRY(vf_tensor_write(&p->sched, sched, sizeof sched));
    }
    double t1 = vf_now_s();
    if (p->cap) {
        VF_TRY(vf_program_run(p->cap));
    } else {
        VF_TRY(emit(x, p));
        VF_TRY(vf_backend_sync(x->be));
    }
    p->t_scalars = t1 - t0;
    p->t_total = vf_now_s() - t0;
    return VF_OK;
}

int vf_exec_program(const vf_exec *x, const char *name) {
    for (int i = 0; i < x->n_prog; i++)
        if (!strcmp(x->p[i].name, name)) return i;
    return -1;
}

vf_status vf_exec_tensor(const vf_exec *x, int pi, int node, vf_tensor *out) {
    if (node < 0 || node >= x->g->n) return vf_fail(VF_ERR_ARG, "exec: node %d does not exist", node);
    if (x->has_pt[node]) { *out = x->pt[node]; return VF_OK; }
    if (pi < 0 || pi >= x->n_prog) return vf_fail(VF_ERR_ARG, "exec: no program %d", pi);
    const prog *p = &x->p[pi];
    if (!p->live[node] || !p->t[node].arena)
        return vf_fail(VF_ERR_ARG, "exec: node %d has no storage in program '%s' (not an output?)", node, p->name);
    *out = p->t[node];
    return VF_OK;
}

vf_status vf_exec_write(vf_exec *x, int node, const void *src, size_t bytes) {
    vf_tensor t;
    VF_TRY(vf_exec_tensor(x, -1, node, &t));
    return vf_tensor_write(&t, src, bytes);
}

vf_status vf_exec_read(vf_exec *x, int pi, int node, void *dst, size_t bytes) {
    vf_tensor t;
    VF_TRY(vf_exec_tensor(x, pi, node, &t));
    return vf_tensor_read(&t, dst, bytes);
}

const vf_prog_stats *vf_exec_stats(const vf_exec *x, int pi) { return &x->p[pi].st; }
const bool *vf_exec_live(const vf_exec *x, int pi) { return x->p[pi].live; }
vf_program *vf_exec_captured(const vf_exec *x, int pi) { return x->p[pi].cap; }
size_t vf_exec_activation_bytes(const vf_exec *x) { return x->act_bytes; }

int64_t vf_exec_param_count(const vf_exec *x) {
    int64_t n = 0;
    for (int i = 0; i < x->g->n; i++)
        if (x->has_pt[i] && x->g->nodes[i].op == VF_G_PARAM) n += vf_gnode_numel(&x->g->nodes[i]);
    return n;
}

void vf_exec_last_times(const vf_exec *x, int pi, double *scalars_s, double *total_s) {
    *scalars_s = x->p[pi].t_scalars;
    *total_s = x->p[pi].t_total;
}

int64_t vf_exec_rng_runs(const vf_exec *x) { return x->runs; }
void vf_exec_set_rng_runs(vf_exec *x, int64_t runs) { x->runs = runs; }
int64_t vf_exec_prog_runs(const vf_exec *x, int pi) { return pi >= 0 && pi < x->n_prog ? x->p[pi].runs : -1; }

vf_status vf_exec_set_prog_runs(vf_exec *x, int pi, int64_t runs) {
    if (pi < 0 || pi >= x->n_prog || runs < 0) return vf_fail(VF_ERR_ARG, "exec: no program %d (or runs < 0)", pi);
    x->p[pi].runs = runs;
    return VF_OK;
}

int vf_exec_n_updates(const vf_exec *x, int pi) { return pi >= 0 && pi < x->n_prog ? x->p[pi].n_upd : 0; }

vf_status vf_exec_opt_state(const vf_exec *x, int pi, int u, int *param, int *n_state, vf_tensor state[2]) {
    if (pi < 0 || pi >= x->n_prog || u < 0 || u >= x->p[pi].n_upd)
        return vf_fail(VF_ERR_ARG, "exec: program %d has no update %d", pi, u);
    const prog *p = &x->p[pi];
    int n = n_opt_state(p->d.opt.kind);
    if (param) *param = p->upd_param[u];
    if (n_state) *n_state = n;
    for (int k = 0; state && k < n; k++) state[k] = p->state[2 * u + k];
    return VF_OK;
}

bool vf_exec_has_ema(const vf_exec *x, int param) { return param >= 0 && param < x->g->n && x->has_ema[param]; }

vf_status vf_exec_ema(const vf_exec *x, int param, vf_tensor *out) {
    if (!vf_exec_has_ema(x, param)) return vf_fail(VF_ERR_ARG, "exec: node %d has no EMA", param);
    *out = x->ema[param];
    return VF_OK;
}

vf_status vf_exec_grad_norm(const vf_exec *x, int pi, float *out) {
    if (pi < 0 || pi >= x->n_prog) return vf_fail(VF_ERR_ARG, "exec: no program %d", pi);
    const prog *p = &x->p[pi];
    for (int k = 0; k < p->d.n_transforms; k++)
        if (p->tf[k].kind == VF_GT_CLIP_GLOBAL_NORM) return vf_tensor_read(&p->gnorm, out, sizeof *out);
    return vf_fail(VF_ERR_ARG, "exec: program '%s' has no clip_global_norm transform", p->name);
}

const vf_prog_desc *vf_exec_desc(const vf_exec *x, int pi) { return pi >= 0 && pi < x->n_prog ? &x->p[pi].d : NULL; }
int vf_exec_n_programs(const vf_exec *x) { return x->n_prog; }
const char *vf_exec_program_name(const vf_exec *x, int pi) { return pi >= 0 && pi < x->n_prog ? x->p[pi].name : NULL; }
