/* Trainer checkpoints (trainer.h): one versioned binary format for every
 * driver, written atomically (temporary file, fsync, rename).
 *
 * Layout, little-endian host order, u64 fields, strings as u64 length + bytes:
 *   magic "VFCKPT\0\0", version (2)
 *   driver name, iteration, RNG run counter
 *   sampler: kind, state, epoch_state, n, pos, ready
 *   driver state: length, bytes (the driver's persist_size)
 *   parameters: count; each name, rows, cols, numel, float data
 *   programs: count; each name, runs, updates; each parameter name,
 *             state count; each numel, float data
 *   EMA: count; each parameter name, numel, float data
 *   checksum: FNV-1a 64 of every byte before it
 * A truncated or damaged file fails the checksum and is refused naming the
 * file before anything is loaded. Parameters, programs and EMAs are matched by name and shape on load, so a
 * file written for another model or other data dimensions is refused with a
 * message saying what differs. Version 1 (the GAN-only format before the
 * training layer) is refused by name. */
#include "train/trainer_internal.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CKPT_MAGIC "VFCKPT\0\0"
#define CKPT_V1_MAGIC "VFGANCK\0"

typedef struct wbuf { char *p; size_t n, cap; bool oom; } wbuf;

static void put(wbuf *w, const void *src, size_t n) {
    if (w->oom) return;
    if (w->n + n > w->cap) {
        size_t cap = (w->cap + n) * 2;
        char *q = realloc(w->p, cap);
        if (!q) { w->oom = true; return; }
        w->p = q;
        w->cap = cap;
    }
    memcpy(w->p + w->n, src, n);
    w->n += n;
}
static void put_u64(wbuf *w, uint64_t v) { put(w, &v, 8); }
static void put_str(wbuf *w, const char *s) {
    uint64_t n = strlen(s);
    put_u64(w, n);
    put(w, s, n);
}

static vf_status put_tensor(wbuf *w, const vf_tensor *t) {
    size_t b = vf_tensor_bytes(t);
    float *h = malloc(b ? b : 1);
    if (!h) return vf_fail(VF_ERR_OOM, "checkpoint: out of memory");
    vf_status st = vf_tensor_read(t, h, b);
    put_u64(w, (uint64_t)t->numel);
    put(w, h, b);
    free(h);
    return st;
}


static const char *node_name(const vf_graph *G, int i) { return G->nodes[i].name ? G->nodes[i].name : ""; }

vf_status vf_trainer_save(const vf_trainer *t, const char *path) {
    if (!t || !path) return vf_fail(VF_ERR_ARG, "trainer_save: trainer and path are required");
    const vf_graph *G = vf_model_graph(t->m);
    wbuf w = {0};
    put(&w, CKPT_MAGIC, 8);
    put_u64(&w, VF_CHECKPOINT_VERSION);
    put_str(&w, t->drv->name);
    put_u64(&w, (uint64_t)t->iter);
    put_u64(&w, (uint64_t)(t->sampling ? t->saved_runs : vf_exec_rng_runs(t->x)));
    const vf_sampler *s = &t->samp;
    uint64_t samp[6] = {(uint64_t)s->kind, s->state, s->epoch_state, (uint64_t)s->n, (uint64_t)s->pos, s->ready};
    for (int k = 0; k < 6; k++) put_u64(&w, samp[k]);
    put_u64(&w, (uint64_t)t->drv->persist_size);
    put(&w, t->state, t->drv->persist_size);
    uint64_t np = 0, ne = 0;
    for (int i = 0; i < G->n; i++) {
        np += G->nodes[i].op == VF_G_PARAM;
        ne += vf_exec_has_ema(t->x, i);
    }
    put_u64(&w, np);
    vf_status st = VF_OK;
    for (int i = 0; i < G->n && !st; i++) {
        const vf_gnode *N = &G->nodes[i];
        if (N->op != VF_G_PARAM) continue;
        put_str(&w, node_name(G, i));
        put_u64(&w, (uint64_t)vf_gnode_rows(N));
        put_u64(&w, (uint64_t)vf_gnode_cols(N));
        vf_tensor tt;
        st = vf_exec_tensor(t->x, -1, i, &tt);
        if (!st) st = put_tensor(&w, &tt);
    }
    int n_prog = vf_exec_n_programs(t->x);
    put_u64(&w, (uint64_t)n_prog);
    for (int p = 0; p < n_prog && !st; p++) {
        put_str(&w, vf_exec_program_name(t->x, p));
        put_u64(&w, (uint64_t)vf_exec_prog_runs(t->x, p));
        int nu = vf_exec_n_updates(t->x, p);
        put_u64(&w, (uint64_t)nu);
        for (int u = 0; u < nu && !st; u++) {
            int par, ns;
            vf_tensor state[2];
            st = vf_exec_opt_state(t->x, p, u, &par, &ns, state);
            put_str(&w, node_name(G, par));
            put_u64(&w, (uint64_t)ns);
            for (int k = 0; k < ns && !st; k++) st = put_tensor(&w, &state[k]);
        }
    }
    put_u64(&w, ne);
    for (int i = 0; i < G->n && !st; i++) {
        if (!vf_exec_has_ema(t->x, i)) continue;
        vf_tensor e;
        put_str(&w, node_name(G, i));
        st = vf_exec_ema(t->x, i, &e);
        if (!st) st = put_tensor(&w, &e);
    }
    if (!st && !w.oom) put_u64(&w, vf_fnv1a64(w.p, w.n));
    if (!st && w.oom) st = vf_fail(VF_ERR_OOM, "checkpoint: out of memory");
    if (!st) st = vf_write_file_atomic(path, w.p, w.n);
    free(w.p);
    return st;
}

/* ------------------------------------------------------------------- load */

typedef struct rbuf { const char *p; size_t n, at; bool bad; } rbuf;

static bool get(rbuf *r, void *dst, size_t n) {
    if (r->bad || n > r->n - r->at) { r->bad = true; return false; }
    memcpy(dst, r->p + r->at, n);
    r->at += n;
    return true;
}
static uint64_t get_u64(rbuf *r) {
    uint64_t v = 0;
    get(r, &v, 8);
    return v;
}
/* A length-prefixed name into buf (truncated to len - 1). */
static void get_str(rbuf *r, char *buf, size_t len) {
    uint64_t n = get_u64(r);
    if (r->bad || n > r->n - r->at || n > 4096) { r->bad = true; buf[0] = 0; return; }
    size_t k = n < len - 1 ? (size_t)n : len - 1;
    memcpy(buf, r->p + r->at, k);
    buf[k] = 0;
    r->at += (size_t)n;
}

/* Reads a (numel, data) record into t, checking the size. */
static vf_status get_tensor(rbuf *r, const vf_tensor *t, const char *path, const char *what) {
    uint64_t n = get_u64(r);
    if (r->bad || n > (r->n - r->at) / 4) return vf_fail(VF_ERR_FORMAT, "%s: truncated at %s", path, what);
    if ((int64_t)n != t->numel)
        return vf_fail(VF_ERR_FORMAT, "%s: %s has %llu values there, %lld in the model", path, what,
                       (unsigned long long)n, (long long)t->numel);
    vf_status st = vf_tensor_write(t, r->p + r->at, (size_t)n * 4);
    r->at += (size_t)n * 4;
    return st;
}

static int param_by_name(const vf_graph *G, const char *name) {
    for (int i = 0; i < G->n; i++)
        if (G->nodes[i].op == VF_G_PARAM && !strcmp(node_name(G, i), name)) return i;
    return -1;
}

static vf_status load_buf(vf_trainer *t, const char *path, rbuf *r) {
    const vf_graph *G = vf_model_graph(t->m);
    const char *mp = vf_model_path(t->m);
    char magic[8];
    if (!get(r, magic, 8)) return vf_fail(VF_ERR_FORMAT, "%s: not a vkflow checkpoint (too short)", path);
    if (!memcmp(magic, CKPT_V1_MAGIC, 8))
        return vf_fail(VF_ERR_FORMAT, "%s: checkpoint format version 1 (the GAN checkpoints written before the "
                       "training layer, vkflow 0.1 up to commit eec0045); this build reads version %u: train again, "
                       "or generate with the build that wrote it", path, VF_CHECKPOINT_VERSION);
    if (memcmp(magic, CKPT_MAGIC, 8)) return vf_fail(VF_ERR_FORMAT, "%s: not a vkflow checkpoint", path);
    uint64_t ver = get_u64(r);
    if (ver != VF_CHECKPOINT_VERSION)
        return vf_fail(VF_ERR_FORMAT, "%s: checkpoint format version %llu, this build reads version %u", path,
                       (unsigned long long)ver, VF_CHECKPOINT_VERSION);
    uint64_t sum;
    if (r->n < 24 || (memcpy(&sum, r->p + r->n - 8, 8), sum != vf_fnv1a64(r->p, r->n - 8)))
        return vf_fail(VF_ERR_FORMAT, "%s: damaged checkpoint (truncated, or its checksum does not match its "
                       "contents); the run directory's other checkpoints are not affected", path);
    r->n -= 8; /* the checksum is not part of the records */
    char drv[64];
    get_str(r, drv, sizeof drv);
    if (!r->bad && strcmp(drv, t->drv->name))
        return vf_fail(VF_ERR_FORMAT, "%s: written by algorithm '%s', the model %s trains with '%s'", path, drv, mp,
                       t->drv->name);
    uint64_t iter = get_u64(r), runs = get_u64(r), samp[6];
    for (int k = 0; k < 6; k++) samp[k] = get_u64(r);
    uint64_t dlen = get_u64(r);
    if (r->bad) return vf_fail(VF_ERR_FORMAT, "%s: truncated header", path);
    if ((int64_t)iter < 0 || (int64_t)runs < 0)
        return vf_fail(VF_ERR_FORMAT, "%s: negative iteration or RNG counter in the header", path);
    /* written with the other kind of batches (a public run's weights as a
     * private run's start): the sampler starts afresh from the seed */
    bool same_sampler = samp[0] == (uint64_t)t->samp.kind;
    if (dlen != t->drv->persist_size)
        return vf_fail(VF_ERR_FORMAT, "%s: %llu bytes of driver state there, driver '%s' keeps %zu", path,
                       (unsigned long long)dlen, drv, t->drv->persist_size);
    char *dstate = malloc(dlen + 1);
    if (!dstate) return vf_fail(VF_ERR_OOM, "%s: out of memory", path);
    get(r, dstate, (size_t)dlen);
    /* parameters, matched by name and shape */
    uint64_t np = get_u64(r), have = 0;
    for (int i = 0; i < G->n; i++) have += G->nodes[i].op == VF_G_PARAM;
    vf_status st = VF_OK;
    if (r->bad) st = vf_fail(VF_ERR_FORMAT, "%s: truncated header", path);
    else if (np != have)
        st = vf_fail(VF_ERR_FORMAT, "%s: %llu parameter tensors there, %llu in the model %s", path, (unsigned long long)np,
                     (unsigned long long)have, mp);
    for (uint64_t k = 0; k < np && !st; k++) {
        char name[256];
        get_str(r, name, sizeof name);
        uint64_t rows = get_u64(r), cols = get_u64(r);
        if (r->bad) { st = vf_fail(VF_ERR_FORMAT, "%s: truncated in parameter %llu", path, (unsigned long long)k); break; }
        int i = param_by_name(G, name);
        if (i < 0) { st = vf_fail(VF_ERR_FORMAT, "%s: parameter '%s' is not in the model %s", path, name, mp); break; }
        const vf_gnode *N = &G->nodes[i];
        if ((int64_t)rows != vf_gnode_rows(N) || (int64_t)cols != vf_gnode_cols(N)) {
            char sh[48];
            st = vf_fail(VF_ERR_FORMAT, "%s: parameter '%s' is [%llu, %llu] there, %s in the model (other data dimensions?)",
                         path, name, (unsigned long long)rows, (unsigned long long)cols, vf_gnode_shape_str(N, sh, sizeof sh));
            break;
        }
        vf_tensor tt;
        st = vf_exec_tensor(t->x, -1, i, &tt);
        if (!st) st = get_tensor(r, &tt, path, name);
    }
    /* programs: run counts and optimizer state */
    int n_prog = vf_exec_n_programs(t->x);
    uint64_t nprog = st ? 0 : get_u64(r);
    if (!st && (r->bad || nprog != (uint64_t)n_prog))
        st = vf_fail(VF_ERR_FORMAT, "%s: %llu programs there, %d in the model %s", path, (unsigned long long)nprog, n_prog, mp);
    int64_t *pruns = calloc((size_t)n_prog + 1, sizeof(int64_t));
    if (!st && !pruns) st = vf_fail(VF_ERR_OOM, "%s: out of memory", path);
    for (int q = 0; q < n_prog && !st; q++) {
        char name[128];
        get_str(r, name, sizeof name);
        int p = vf_exec_program(t->x, name);
        uint64_t pr = get_u64(r), nu = get_u64(r);
        if (r->bad) { st = vf_fail(VF_ERR_FORMAT, "%s: truncated in the programs", path); break; }
        if (p < 0) { st = vf_fail(VF_ERR_FORMAT, "%s: program '%s' is not in the model %s", path, name, mp); break; }
        if ((int64_t)pr < 0) { st = vf_fail(VF_ERR_FORMAT, "%s: program %s has a negative run count", path, name); break; }
        pruns[p] = (int64_t)pr;
        if ((int)nu != vf_exec_n_updates(t->x, p)) {
            st = vf_fail(VF_ERR_FORMAT, "%s: program %s updates %llu parameters there, %d in the model", path, name,
                         (unsigned long long)nu, vf_exec_n_updates(t->x, p));
            break;
        }
        for (int u = 0; u < (int)nu && !st; u++) {
            int par, ns;
            vf_tensor state[2];
            st = vf_exec_opt_state(t->x, p, u, &par, &ns, state);
            char pn[256], what[480];
            get_str(r, pn, sizeof pn);
            uint64_t ns_file = get_u64(r);
            if (st) break;
            if (r->bad || strcmp(pn, node_name(G, par)) || ns_file != (uint64_t)ns) {
                st = vf_fail(VF_ERR_FORMAT, "%s: program %s update %d is '%s' with %llu state tensors there, '%s' with %d "
                             "in the model (another optimizer?)", path, name, u, pn, (unsigned long long)ns_file,
                             node_name(G, par), ns);
                break;
            }
            for (int k = 0; k < ns && !st; k++) {
                snprintf(what, sizeof what, "optimizer state %d of %s in %s", k, pn, name);
                st = get_tensor(r, &state[k], path, what);
            }
        }
    }
    /* EMA copies */
    uint64_t ne = st ? 0 : get_u64(r), have_e = 0;
    for (int i = 0; i < G->n; i++) have_e += vf_exec_has_ema(t->x, i);
    if (!st && (r->bad || ne != have_e))
        st = vf_fail(VF_ERR_FORMAT, "%s: %llu EMA tensors there, %llu in the model %s", path, (unsigned long long)ne,
                     (unsigned long long)have_e, mp);
    for (uint64_t k = 0; k < ne && !st; k++) {
        char name[256];
        get_str(r, name, sizeof name);
        int i = param_by_name(G, name);
        vf_tensor e;
        if (r->bad || i < 0 || vf_exec_ema(t->x, i, &e)) {
            st = vf_fail(VF_ERR_FORMAT, "%s: EMA of '%s' is not in the model %s", path, name, mp);
            break;
        }
        st = get_tensor(r, &e, path, name);
    }
    if (!st && r->at != r->n) st = vf_fail(VF_ERR_FORMAT, "%s: %zu bytes after the end", path, r->n - r->at);
    if (!st && (int64_t)samp[4] > (int64_t)samp[3]) st = vf_fail(VF_ERR_FORMAT, "%s: bad sampler position", path);
    if (!st) {
        for (int p = 0; p < n_prog && !st; p++) st = vf_exec_set_prog_runs(t->x, p, pruns[p]);
        if (t->sampling) t->saved_runs = (int64_t)runs;
        else vf_exec_set_rng_runs(t->x, (int64_t)runs);
        t->iter = (int64_t)iter;
        memcpy(t->state, dstate, (size_t)dlen);
        vf_sampler *s = &t->samp;
        if (same_sampler) {
            s->state = samp[1];
            s->epoch_state = samp[2];
            s->n = (int64_t)samp[3];
            s->pos = (int64_t)samp[4];
            s->ready = samp[5] != 0;
        } else {
            s->state = t->seed ^ 0x5DEECE66Dull;
            s->n = 0;
            s->pos = 0;
            s->ready = false;
        }
        free(s->perm);
        s->perm = NULL;
        if (!st && t->data) st = vf_sampler_bind(t, t->data->n);
    }
    free(pruns);
    free(dstate);
    return st;
}

vf_status vf_trainer_load(vf_trainer *t, const char *path) {
    if (!t || !path) return vf_fail(VF_ERR_ARG, "trainer_load: trainer and path are required");
    size_t n;
    char *buf = vf_read_file(path, &n);
    if (!buf) return vf_fail(VF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    rbuf r = {buf, n, 0, false};
    vf_status st = load_buf(t, path, &r);
    free(buf);
    return st;
}
