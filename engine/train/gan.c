/* DoppelGANger training and sampling on one encoded chunk: binds a DSL model
 * (models/doppelganger*.cfg) to the encoder's dimensions and segments, runs
 * the `wgan_gp` loop with real batches from a seeded shuffle of the chunk's
 * flows, checkpoints everything a bit-identical resume needs, and samples.
 *
 * The model file is the whole model; this file only knows the data contract
 * (inputs real_attr [B, A], real_feat [B, T*F], real_flag [B, T*2] with
 * T = seq_len >= max_len, programs d_step / g_step / sample, training.sample
 * = attributes, features, flags) described in models/doppelganger.cfg. */
#include "train/gan.h"

#include "dsl.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TRY(x) do { vf_status s_ = (x); if (s_) return s_; } while (0)
#define CKPT_MAGIC "VFGANCK\0"
#define CKPT_VERSION 1u

struct vf_gan {
    vf_model *m;
    vf_exec *x;
    vf_backend *be;
    char *path;
    int pd, pg, ps;                 /* programs d_step, g_step, sample */
    int pc;                         /* program sample_cond, -1 when the model has none */
    int in_attr, in_feat, in_flag;  /* input nodes */
    int in_cond;                    /* input cond_attr (sample_cond) */
    int out_cfeat, out_cflag;       /* sample_cond's features and flags */
    int d_loss, g_loss;
    int n_gp, gp[8];
    int out_attr, out_feat, out_flag;
    int64_t batch, seq_len;
    int attr_dim, feat_dim, max_len;
    int d_steps, g_steps;
    uint64_t seed;
    /* iterations (G steps) of the current training; reset by a fresh train */
    int64_t iter;
    /* real-batch sampler: a Fisher-Yates permutation per epoch drawn from a
     * splitmix64 stream; epoch_state regenerates the current permutation */
    uint64_t samp_state, epoch_state;
    int64_t samp_n, samp_pos;
    int64_t *perm;
    bool samp_ready;
    float *h_attr, *h_feat, *h_flag;  /* one host batch */
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t mix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void vf_gan_dims_from_encoder(const vf_encoder *enc, vf_gan_dims *out) {
    memset(out, 0, sizeof *out);
    out->attr_dim = enc->attr_dim;
    out->feat_dim = enc->feat_dim;
    out->max_len = enc->max_len;
    out->n_attr_segs = enc->n_attr_segs;
    out->n_feat_segs = enc->n_feat_segs;
    out->attr_segs = enc->attr_segs;
    out->feat_segs = enc->feat_segs;
}

/* encoder segments -> DSL head tables (the kinds share their values) */
static vf_head_seg *to_heads(const vf_segment *s, int n) {
    vf_head_seg *h = malloc((size_t)(n ? n : 1) * sizeof *h);
    if (!h) return NULL;
    for (int i = 0; i < n; i++) h[i] = (vf_head_seg){s[i].offset, s[i].width, (int)s[i].kind};
    return h;
}

static int node_of(vf_gan *g, const char *name, vf_status *st) {
    int id = vf_model_node(g->m, name);
    if (id < 0 && !*st) *st = vf_fail(VF_ERR_FORMAT, "%s: the model has no '%s' (see models/doppelganger.cfg for the names a GAN model declares)", g->path, name);
    return id;
}

static vf_status check_shape(vf_gan *g, int id, int64_t r, int64_t c, const char *what) {
    const vf_gnode *N = &vf_model_graph(g->m)->nodes[id];
    if (vf_gnode_rows(N) != r || vf_gnode_cols(N) != c) {
        char s[48];
        return vf_fail(VF_ERR_FORMAT, "%s: '%s' is %s, the data needs [%lld, %lld] (%s)", g->path,
                       N->name ? N->name : "?", vf_gnode_shape_str(N, s, sizeof s), (long long)r, (long long)c, what);
    }
    return VF_OK;
}

vf_status vf_gan_open(const char *model_path, const vf_gan_dims *dims, vf_backend *be, uint64_t seed, vf_gan **out) {
    if (!out) return vf_fail(VF_ERR_ARG, "gan_open: out is NULL");
    *out = NULL;
    if (!model_path || !dims || !be) return vf_fail(VF_ERR_ARG, "gan_open: model path, dims and backend are required");
    if (dims->attr_dim < 1 || dims->feat_dim < 1 || dims->max_len < 1 || dims->n_attr_segs < 1 ||
        dims->n_feat_segs < 1 || !dims->attr_segs || !dims->feat_segs)
        return vf_fail(VF_ERR_ARG, "gan_open: dims need attr_dim, feat_dim, max_len >= 1 and segments (got %d, %d, %d; %d and %d segments)",
                       dims->attr_dim, dims->feat_dim, dims->max_len, dims->n_attr_segs, dims->n_feat_segs);
    vf_gan *g = calloc(1, sizeof *g);
    if (!g) return vf_fail(VF_ERR_OOM, "gan_open: out of memory");
    g->be = be;
    g->seed = seed;
    g->path = strdup(model_path);
    g->attr_dim = dims->attr_dim;
    g->feat_dim = dims->feat_dim;
    g->max_len = dims->max_len;
    vf_head_seg *ha = to_heads(dims->attr_segs, dims->n_attr_segs), *hf = to_heads(dims->feat_segs, dims->n_feat_segs);
    vf_status st = VF_OK;
    if (!g->path || !ha || !hf) st = vf_fail(VF_ERR_OOM, "gan_open: out of memory");
    if (!st) {
        vf_dim d[3] = {{"attr_dim", dims->attr_dim}, {"feat_dim", dims->feat_dim}, {"max_len", dims->max_len}};
        vf_head_table t[2] = {{"attr", dims->n_attr_segs, ha}, {"feat", dims->n_feat_segs, hf}};
        vf_model_env env = {.dims = d, .n_dims = 3, .heads = t, .n_heads = 2};
        st = vf_model_load_env(model_path, &env, &g->m);
    }
    free(ha);
    free(hf);
    if (!st && strcmp(vf_model_algorithm(g->m), "wgan_gp"))
        st = vf_fail(VF_ERR_FORMAT, "%s: training.algorithm is '%s'; a GAN model needs 'wgan_gp'", model_path,
                     vf_model_algorithm(g->m));
    if (!st) {
        g->in_attr = node_of(g, "real_attr", &st);
        g->in_feat = node_of(g, "real_feat", &st);
        g->in_flag = node_of(g, "real_flag", &st);
        g->d_loss = vf_model_loss(g->m, "d_loss");
        g->g_loss = vf_model_loss(g->m, "g_loss");
        if (!st && (g->d_loss < 0 || g->g_loss < 0))
            st = vf_fail(VF_ERR_FORMAT, "%s: training needs d_loss and g_loss", model_path);
    }
    if (!st) {
        const vf_graph *G = vf_model_graph(g->m);
        g->batch = vf_gnode_rows(&G->nodes[g->in_attr]);
        g->seq_len = vf_gnode_cols(&G->nodes[g->in_feat]) / g->feat_dim;
        if (g->seq_len < g->max_len)
            st = vf_fail(VF_ERR_FORMAT, "%s: real_feat holds %lld records, the data has max_len %d", model_path,
                         (long long)g->seq_len, g->max_len);
    }
    if (!st) st = check_shape(g, g->in_attr, g->batch, g->attr_dim, "batch, attr_dim");
    if (!st) st = check_shape(g, g->in_feat, g->batch, g->seq_len * g->feat_dim, "batch, seq_len * feat_dim");
    if (!st) st = check_shape(g, g->in_flag, g->batch, g->seq_len * 2, "batch, seq_len * 2");
    if (!st) {
        int np;
        const vf_prog_desc *pr = vf_model_programs(g->m, &np);
        for (int i = 0; i < np; i++) {
            if (!strcmp(pr[i].name, "d_step")) g->n_gp = pr[i].n_out - 1 < 8 ? pr[i].n_out - 1 : 8;
            if (!strcmp(pr[i].name, "d_step"))
                for (int k = 0; k < g->n_gp; k++) g->gp[k] = pr[i].outs[1 + k];
            if (!strcmp(pr[i].name, "sample")) {
                if (pr[i].n_out != 3) {
                    st = vf_fail(VF_ERR_FORMAT, "%s: training.sample must name 3 tensors (attributes, features, flags), got %d",
                                 model_path, pr[i].n_out);
                    break;
                }
                g->out_attr = pr[i].outs[0];
                g->out_feat = pr[i].outs[1];
                g->out_flag = pr[i].outs[2];
            }
        }
        for (int i = 0; i < np && !st; i++) {
            if (strcmp(pr[i].name, "sample_cond")) continue;
            g->in_cond = vf_model_node(g->m, "cond_attr");
            if (pr[i].n_out != 2 || g->in_cond < 0) {
                st = vf_fail(VF_ERR_FORMAT, "%s: training.sample_cond must name 2 tensors (features, flags) computed "
                             "from the input cond_attr (got %d tensors%s)", model_path, pr[i].n_out,
                             g->in_cond < 0 ? ", no cond_attr" : "");
                break;
            }
            g->out_cfeat = pr[i].outs[0];
            g->out_cflag = pr[i].outs[1];
        }
        if (!st && !g->out_attr && !g->out_feat)
            st = vf_fail(VF_ERR_FORMAT, "%s: training.sample is missing (attributes, features, flags)", model_path);
    }
    if (!st) st = check_shape(g, g->out_attr, g->batch, g->attr_dim, "sample[0]: attributes");
    if (!st) st = check_shape(g, g->out_feat, g->batch, g->seq_len * g->feat_dim, "sample[1]: features");
    if (!st) st = check_shape(g, g->out_flag, g->batch, g->seq_len * 2, "sample[2]: flags");
    if (!st && g->out_cfeat) {
        st = check_shape(g, g->in_cond, g->batch, g->attr_dim, "cond_attr: batch, attr_dim");
        if (!st) st = check_shape(g, g->out_cfeat, g->batch, g->seq_len * g->feat_dim, "sample_cond[0]: features");
        if (!st) st = check_shape(g, g->out_cflag, g->batch, g->seq_len * 2, "sample_cond[1]: flags");
    }
    if (!st) {
        g->d_steps = vf_model_d_steps(g->m);
        g->g_steps = vf_model_g_steps(g->m);
        vf_exec_opts o = {.fuse = true, .plan = true, .capture = true, .seed = seed};
        st = vf_model_compile(g->m, be, &o, &g->x);
    }
    if (!st) {
        g->pd = vf_exec_program(g->x, "d_step");
        g->pg = vf_exec_program(g->x, "g_step");
        g->ps = vf_exec_program(g->x, "sample");
        g->pc = g->out_cfeat ? vf_exec_program(g->x, "sample_cond") : -1;
        g->h_attr = malloc((size_t)(g->batch * g->attr_dim) * sizeof(float));
        g->h_feat = malloc((size_t)(g->batch * g->seq_len * g->feat_dim) * sizeof(float));
        g->h_flag = malloc((size_t)(g->batch * g->seq_len * 2) * sizeof(float));
        if (!g->h_attr || !g->h_feat || !g->h_flag) st = vf_fail(VF_ERR_OOM, "gan_open: out of memory");
        g->samp_state = g->seed ^ 0x5DEECE66Dull;
    }
    if (st) {
        vf_gan_close(g);
        return st;
    }
    *out = g;
    return VF_OK;
}

void vf_gan_close(vf_gan *g) {
    if (!g) return;
    vf_exec_destroy(g->x);
    vf_model_destroy(g->m);
    free(g->perm);
    free(g->h_attr);
    free(g->h_feat);
    free(g->h_flag);
    free(g->path);
    free(g);
}

/* ------------------------------------------------------------------ sampler */

static vf_status sampler_epoch(vf_gan *g) {
    g->epoch_state = g->samp_state;
    for (int64_t i = 0; i < g->samp_n; i++) g->perm[i] = i;
    for (int64_t i = g->samp_n - 1; i > 0; i--) {
        int64_t j = (int64_t)(mix64(&g->samp_state) % (uint64_t)(i + 1));
        int64_t t = g->perm[i];
        g->perm[i] = g->perm[j];
        g->perm[j] = t;
    }
    g->samp_pos = 0;
    return VF_OK;
}

/* Makes the sampler ready for a chunk of n flows: keeps a restored state when
 * it is for the same n (resume), starts from the seed otherwise. */
static vf_status sampler_bind(vf_gan *g, int64_t n) {
    if (g->samp_n != n || !g->perm) {
        int64_t *p = realloc(g->perm, (size_t)n * sizeof(int64_t));
        if (!p) return vf_fail(VF_ERR_OOM, "gan: out of memory (sampler of %lld flows)", (long long)n);
        g->perm = p;
        if (g->samp_n != n) {
            g->samp_n = n;
            g->samp_state = g->seed ^ 0x5DEECE66Dull;
            g->samp_ready = false;
        }
    }
    if (!g->samp_ready) {
        sampler_epoch(g);
        g->samp_ready = true;
    } else {
        /* regenerate the current permutation from its start state */
        int64_t pos = g->samp_pos;
        g->samp_state = g->epoch_state;
        sampler_epoch(g);
        g->samp_pos = pos;
    }
    return VF_OK;
}

/* Next real batch into the model's inputs. Features past the flow's end and
 * records max_len..seq_len are zero; flags follow DoppelGANger's encoding
 * [gen_flag[t+1], gen_flag[t] - gen_flag[t+1]]. */
static vf_status write_batch(vf_gan *g, const vf_encoded *c) {
    int64_t A = g->attr_dim, F = g->feat_dim, T = g->seq_len, L = g->max_len;
    memset(g->h_feat, 0, (size_t)(g->batch * T * F) * sizeof(float));
    memset(g->h_flag, 0, (size_t)(g->batch * T * 2) * sizeof(float));
    for (int64_t b = 0; b < g->batch; b++) {
        if (g->samp_pos == g->samp_n) sampler_epoch(g);
        int64_t i = g->perm[g->samp_pos++];
        memcpy(g->h_attr + b * A, c->attr + i * A, (size_t)A * sizeof(float));
        const float *gf = c->gen_flag + i * L, *fe = c->feat + i * L * F;
        for (int64_t t = 0; t < L; t++) {
            float cur = gf[t], next = t + 1 < L ? gf[t + 1] : 0.0f;
            if (cur <= 0) break;
            for (int64_t k = 0; k < F; k++) g->h_feat[(b * T + t) * F + k] = fe[t * F + k];
            g->h_flag[(b * T + t) * 2] = next;
            g->h_flag[(b * T + t) * 2 + 1] = cur - next;
        }
    }
    TRY(vf_exec_write(g->x, g->in_attr, g->h_attr, (size_t)(g->batch * A) * sizeof(float)));
    TRY(vf_exec_write(g->x, g->in_feat, g->h_feat, (size_t)(g->batch * T * F) * sizeof(float)));
    return vf_exec_write(g->x, g->in_flag, g->h_flag, (size_t)(g->batch * T * 2) * sizeof(float));
}

/* ------------------------------------------------------------------ training */

static vf_status check_chunk(const vf_gan *g, const vf_encoded *c) {
    if (!c || !c->attr || !c->feat || !c->gen_flag || c->n_flows < 1)
        return vf_fail(VF_ERR_ARG, "gan_train: the chunk has no flows");
    if (c->attr_dim != g->attr_dim || c->feat_dim != g->feat_dim || c->max_len != g->max_len)
        return vf_fail(VF_ERR_ARG, "gan_train: chunk is attr %d, feat %d, max_len %d; the model was opened for %d, %d, %d",
                       c->attr_dim, c->feat_dim, c->max_len, g->attr_dim, g->feat_dim, g->max_len);
    return VF_OK;
}

vf_status vf_gan_train(vf_gan *g, const vf_encoded *chunk, const vf_gan_train_opts *opts, bool *stopped) {
    if (!g || !opts) return vf_fail(VF_ERR_ARG, "gan_train: gan and opts are required");
    if (stopped) *stopped = false;
    TRY(check_chunk(g, chunk));
    if (opts->iterations < 0) return vf_fail(VF_ERR_ARG, "gan_train: iterations %lld < 0", (long long)opts->iterations);
    g->iter = 0;
    if (opts->resume && opts->checkpoint && access(opts->checkpoint, F_OK) == 0) TRY(vf_gan_load(g, opts->checkpoint));
    TRY(sampler_bind(g, chunk->n_flows));
    double t0 = now_s();
    vf_gan_progress pr = {.total = opts->iterations};
    int every = opts->progress_every > 0 ? opts->progress_every : 1;
    while (g->iter < opts->iterations) {
        if (opts->stop && *opts->stop) {
            if (opts->checkpoint) TRY(vf_gan_save(g, opts->checkpoint));
            if (stopped) *stopped = true;
            return VF_OK;
        }
        int64_t it = g->iter + 1;
        float gp = 0;
        for (int r = 0; r < g->d_steps; r++) {
            TRY(write_batch(g, chunk));
            TRY(vf_exec_run(g->x, g->pd));
            TRY(vf_exec_read(g->x, g->pd, g->d_loss, &pr.d_loss, sizeof(float)));
            if (!isfinite(pr.d_loss))
                return vf_fail(VF_ERR_FORMAT, "training diverged at iteration %lld (D step %d): d_loss is %g",
                               (long long)it, r + 1, (double)pr.d_loss);
            gp = 0;
            for (int k = 0; k < g->n_gp; k++) {
                float v;
                TRY(vf_exec_read(g->x, g->pd, g->gp[k], &v, sizeof v));
                gp += v;
            }
        }
        for (int r = 0; r < g->g_steps; r++) {
            TRY(vf_exec_run(g->x, g->pg));
            TRY(vf_exec_read(g->x, g->pg, g->g_loss, &pr.g_loss, sizeof(float)));
            if (!isfinite(pr.g_loss))
                return vf_fail(VF_ERR_FORMAT, "training diverged at iteration %lld: g_loss is %g", (long long)it,
                               (double)pr.g_loss);
        }
        pr.gp = gp;
        g->iter = it;
        if (opts->checkpoint && opts->checkpoint_every > 0 && g->iter % opts->checkpoint_every == 0)
            TRY(vf_gan_save(g, opts->checkpoint));
        if (opts->progress && (g->iter % every == 0 || g->iter == opts->iterations)) {
            pr.iter = g->iter;
            pr.seconds = now_s() - t0;
            opts->progress(&pr, opts->progress_user);
        }
    }
    return VF_OK;
}

/* --------------------------------------------------------------- checkpoints */

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

/* Layout (little-endian host order, u64 fields):
 *   magic[8] version
 *   iter rng_runs samp_state epoch_state samp_n samp_pos samp_ready
 *   n_params, each: name, rows, cols, numel, float data
 *   n_programs, each: name, runs, n_updates, each: param name, m (numel, data), v (numel, data) */
vf_status vf_gan_save(const vf_gan *g, const char *path) {
    if (!g || !path) return vf_fail(VF_ERR_ARG, "gan_save: gan and path are required");
    const vf_graph *G = vf_model_graph(g->m);
    wbuf w = {0};
    put(&w, CKPT_MAGIC, 8);
    put_u64(&w, CKPT_VERSION);
    put_u64(&w, (uint64_t)g->iter);
    put_u64(&w, (uint64_t)vf_exec_rng_runs(g->x));
    put_u64(&w, g->samp_state);
    put_u64(&w, g->epoch_state);
    put_u64(&w, (uint64_t)g->samp_n);
    put_u64(&w, (uint64_t)g->samp_pos);
    put_u64(&w, g->samp_ready);
    uint64_t np = 0;
    for (int i = 0; i < G->n; i++) np += G->nodes[i].op == VF_G_PARAM;
    put_u64(&w, np);
    vf_status st = VF_OK;
    for (int i = 0; i < G->n && !st; i++) {
        const vf_gnode *N = &G->nodes[i];
        if (N->op != VF_G_PARAM) continue;
        put_str(&w, N->name ? N->name : "");
        put_u64(&w, (uint64_t)vf_gnode_rows(N));
        put_u64(&w, (uint64_t)vf_gnode_cols(N));
        vf_tensor t;
        st = vf_exec_tensor(g->x, -1, i, &t);
        if (!st) st = put_tensor(&w, &t);
    }
    int progs[2] = {g->pd, g->pg};
    put_u64(&w, 2);
    for (int k = 0; k < 2 && !st; k++) {
        put_str(&w, k ? "g_step" : "d_step");
        put_u64(&w, (uint64_t)vf_exec_prog_runs(g->x, progs[k]));
        int nu = vf_exec_n_updates(g->x, progs[k]);
        put_u64(&w, (uint64_t)nu);
        for (int u = 0; u < nu && !st; u++) {
            int par;
            vf_tensor m, v;
            st = vf_exec_adam_state(g->x, progs[k], u, &par, &m, &v);
            if (st) break;
            put_str(&w, G->nodes[par].name ? G->nodes[par].name : "");
            st = put_tensor(&w, &m);
            if (!st) st = put_tensor(&w, &v);
        }
    }
    if (!st && w.oom) st = vf_fail(VF_ERR_OOM, "checkpoint: out of memory");
    if (st) { free(w.p); return st; }
    /* atomic: a temporary file in the same folder, flushed, then renamed */
    size_t len = strlen(path) + 32;
    char *tmp = malloc(len);
    if (!tmp) { free(w.p); return vf_fail(VF_ERR_OOM, "checkpoint: out of memory"); }
    snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) st = vf_fail(VF_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
    if (!st && fwrite(w.p, 1, w.n, f) != w.n) st = vf_fail(VF_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    if (f && fflush(f) != 0 && !st) st = vf_fail(VF_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    if (f && !st && fsync(fileno(f)) != 0) st = vf_fail(VF_ERR_IO, "%s: fsync failed: %s", tmp, strerror(errno));
    if (f && fclose(f) != 0 && !st) st = vf_fail(VF_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
    if (!st && rename(tmp, path) != 0) st = vf_fail(VF_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    if (st) remove(tmp);
    free(tmp);
    free(w.p);
    return st;
}

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

static vf_status load_buf(vf_gan *g, const char *path, rbuf *r) {
    const vf_graph *G = vf_model_graph(g->m);
    char magic[8];
    if (!get(r, magic, 8) || memcmp(magic, CKPT_MAGIC, 8))
        return vf_fail(VF_ERR_FORMAT, "%s: not a vkflow GAN checkpoint", path);
    uint64_t ver = get_u64(r);
    if (ver != CKPT_VERSION)
        return vf_fail(VF_ERR_FORMAT, "%s: checkpoint version %llu, this build reads %u", path, (unsigned long long)ver,
                       CKPT_VERSION);
    uint64_t iter = get_u64(r), runs = get_u64(r), ss = get_u64(r), es = get_u64(r), sn = get_u64(r),
             sp = get_u64(r), sr = get_u64(r);
    uint64_t np = get_u64(r), have = 0;
    if (r->bad) return vf_fail(VF_ERR_FORMAT, "%s: truncated header", path);
    for (int i = 0; i < G->n; i++) have += G->nodes[i].op == VF_G_PARAM;
    if (np != have)
        return vf_fail(VF_ERR_FORMAT, "%s: %llu parameter tensors there, %llu in the model %s", path,
                       (unsigned long long)np, (unsigned long long)have, g->path);
    /* parameters in graph order, checked by name and shape */
    int i = 0;
    for (uint64_t k = 0; k < np; k++) {
        char name[256];
        get_str(r, name, sizeof name);
        uint64_t rows = get_u64(r), cols = get_u64(r);
        if (r->bad) return vf_fail(VF_ERR_FORMAT, "%s: truncated in parameter %llu", path, (unsigned long long)k);
        while (i < G->n && G->nodes[i].op != VF_G_PARAM) i++;
        const vf_gnode *N = &G->nodes[i];
        if (strcmp(name, N->name ? N->name : ""))
            return vf_fail(VF_ERR_FORMAT, "%s: parameter %llu is '%s' there, '%s' in the model %s", path,
                           (unsigned long long)k, name, N->name ? N->name : "", g->path);
        if ((int64_t)rows != vf_gnode_rows(N) || (int64_t)cols != vf_gnode_cols(N)) {
            char s[48];
            return vf_fail(VF_ERR_FORMAT, "%s: parameter '%s' is [%llu, %llu] there, %s in the model (other data dimensions?)",
                           path, name, (unsigned long long)rows, (unsigned long long)cols,
                           vf_gnode_shape_str(N, s, sizeof s));
        }
        vf_tensor t;
        TRY(vf_exec_tensor(g->x, -1, i, &t));
        TRY(get_tensor(r, &t, path, name));
        i++;
    }
    uint64_t nprog = get_u64(r);
    if (r->bad || nprog != 2) return vf_fail(VF_ERR_FORMAT, "%s: expected 2 optimizer programs", path);
    int progs[2] = {g->pd, g->pg};
    int64_t pruns[2];
    for (int k = 0; k < 2; k++) {
        char name[64];
        get_str(r, name, sizeof name);
        pruns[k] = (int64_t)get_u64(r);
        uint64_t nu = get_u64(r);
        if (r->bad) return vf_fail(VF_ERR_FORMAT, "%s: truncated in the optimizer state", path);
        if ((int)nu != vf_exec_n_updates(g->x, progs[k]))
            return vf_fail(VF_ERR_FORMAT, "%s: %s updates %llu parameters there, %d in the model", path, name,
                           (unsigned long long)nu, vf_exec_n_updates(g->x, progs[k]));
        for (int u = 0; u < (int)nu; u++) {
            int par;
            vf_tensor m, v;
            TRY(vf_exec_adam_state(g->x, progs[k], u, &par, &m, &v));
            char pn[256], what[300];
            get_str(r, pn, sizeof pn);
            if (strcmp(pn, G->nodes[par].name ? G->nodes[par].name : ""))
                return vf_fail(VF_ERR_FORMAT, "%s: %s update %d is '%s' there, '%s' in the model", path, name, u, pn,
                               G->nodes[par].name ? G->nodes[par].name : "");
            snprintf(what, sizeof what, "Adam m of %s", pn);
            TRY(get_tensor(r, &m, path, what));
            snprintf(what, sizeof what, "Adam v of %s", pn);
            TRY(get_tensor(r, &v, path, what));
        }
    }
    if (r->at != r->n) return vf_fail(VF_ERR_FORMAT, "%s: %zu bytes after the end", path, r->n - r->at);
    for (int k = 0; k < 2; k++) TRY(vf_exec_set_prog_runs(g->x, progs[k], pruns[k]));
    vf_exec_set_rng_runs(g->x, (int64_t)runs);
    g->iter = (int64_t)iter;
    g->samp_state = ss;
    g->epoch_state = es;
    g->samp_n = (int64_t)sn;
    g->samp_pos = (int64_t)sp;
    g->samp_ready = sr != 0;
    free(g->perm);
    g->perm = NULL;
    if (g->samp_pos < 0 || g->samp_pos > g->samp_n) return vf_fail(VF_ERR_FORMAT, "%s: bad sampler position", path);
    return VF_OK;
}

vf_status vf_gan_load(vf_gan *g, const char *path) {
    if (!g || !path) return vf_fail(VF_ERR_ARG, "gan_load: gan and path are required");
    FILE *f = fopen(path, "rb");
    if (!f) return vf_fail(VF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 20;
            char *q = realloc(buf, cap);
            if (!q) { free(buf); fclose(f); return vf_fail(VF_ERR_OOM, "%s: out of memory", path); }
            buf = q;
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (k == 0) break;
    }
    bool rerr = ferror(f);
    fclose(f);
    if (rerr) { free(buf); return vf_fail(VF_ERR_IO, "%s: read failed", path); }
    rbuf r = {buf, n, 0, false};
    vf_status st = load_buf(g, path, &r);
    free(buf);
    return st;
}

/* ------------------------------------------------------------------ sampling */

static void free_encoded(vf_encoded *out) {
    free(out->attr);
    free(out->feat);
    free(out->gen_flag);
    memset(out, 0, sizeof *out);
}

static vf_status alloc_out(vf_gan *g, int n, vf_encoded *out, const char *what) {
    int64_t A = g->attr_dim, F = g->feat_dim, L = g->max_len;
    out->n_flows = n;
    out->max_len = (int)L;
    out->attr_dim = (int)A;
    out->feat_dim = (int)F;
    out->attr = malloc((size_t)((int64_t)n * A + 1) * sizeof(float));
    out->feat = malloc((size_t)((int64_t)n * L * F + 1) * sizeof(float));
    out->gen_flag = malloc((size_t)((int64_t)n * L + 1) * sizeof(float));
    if (!out->attr || !out->feat || !out->gen_flag) {
        free_encoded(out);
        return vf_fail(VF_ERR_OOM, "%s: out of memory (%d flows)", what, n);
    }
    return VF_OK;
}

/* Noise for generation comes from a counter range of its own, keyed by seed
 * (training uses runs < 2^30); the caller restores training's counter. */
static void gen_rng(vf_gan *g, uint64_t seed) {
    uint64_t s = seed;
    vf_exec_set_rng_runs(g->x, ((int64_t)1 << 30) + (int64_t)(mix64(&s) & (((uint64_t)1 << 29) - 1)));
}

/* Batch rows [0, nb) of the host features / flags (seq_len records) into
 * out's rows b0.. (max_len records): the mask is in the flags, [continue,
 * end] sum to 1 while the flow goes on. */
static void put_rows(vf_gan *g, vf_encoded *out, int64_t b0, int64_t nb) {
    int64_t F = g->feat_dim, T = g->seq_len, L = g->max_len;
    for (int64_t b = 0; b < nb; b++) {
        int64_t i = b0 + b;
        for (int64_t t = 0; t < L; t++) {
            float on = g->h_flag[(b * T + t) * 2] + g->h_flag[(b * T + t) * 2 + 1] > 0.5f ? 1.0f : 0.0f;
            out->gen_flag[i * L + t] = on;
            for (int64_t k = 0; k < F; k++) out->feat[(i * L + t) * F + k] = on * g->h_feat[(b * T + t) * F + k];
        }
    }
}

vf_status vf_gan_generate(vf_gan *g, int n, uint64_t seed, vf_encoded *out) {
    if (!g || !out) return vf_fail(VF_ERR_ARG, "gan_generate: gan and out are required");
    memset(out, 0, sizeof *out);
    if (n < 0) return vf_fail(VF_ERR_ARG, "gan_generate: n = %d < 0", n);
    int64_t A = g->attr_dim, F = g->feat_dim, T = g->seq_len, B = g->batch;
    TRY(alloc_out(g, n, out, "gan_generate"));
    int64_t saved = vf_exec_rng_runs(g->x);
    gen_rng(g, seed);
    vf_status st = VF_OK;
    for (int64_t b0 = 0; b0 < n && !st; b0 += B) {
        st = vf_exec_run(g->x, g->ps);
        if (!st) st = vf_exec_read(g->x, g->ps, g->out_attr, g->h_attr, (size_t)(B * A) * sizeof(float));
        if (!st) st = vf_exec_read(g->x, g->ps, g->out_feat, g->h_feat, (size_t)(B * T * F) * sizeof(float));
        if (!st) st = vf_exec_read(g->x, g->ps, g->out_flag, g->h_flag, (size_t)(B * T * 2) * sizeof(float));
        if (st) break;
        int64_t nb = n - b0 < B ? n - b0 : B;
        memcpy(out->attr + b0 * A, g->h_attr, (size_t)(nb * A) * sizeof(float));
        put_rows(g, out, b0, nb);
    }
    vf_exec_set_rng_runs(g->x, saved);
    if (st) free_encoded(out);
    return st;
}

vf_status vf_gan_generate_features(vf_gan *g, const float *attr, int n, uint64_t seed, vf_encoded *out) {
    if (!g || !out || (!attr && n > 0)) return vf_fail(VF_ERR_ARG, "gan_generate_features: gan, attr and out are required");
    memset(out, 0, sizeof *out);
    if (n < 0) return vf_fail(VF_ERR_ARG, "gan_generate_features: n = %d < 0", n);
    if (g->pc < 0)
        return vf_fail(VF_ERR_UNSUPPORTED, "%s: the model cannot generate features for given attributes (it names no "
                       "training.sample_cond computed from an input cond_attr; see models/doppelganger.cfg)", g->path);
    int64_t A = g->attr_dim, F = g->feat_dim, T = g->seq_len, B = g->batch;
    TRY(alloc_out(g, n, out, "gan_generate_features"));
    if (n > 0) memcpy(out->attr, attr, (size_t)((int64_t)n * A) * sizeof(float));
    int64_t saved = vf_exec_rng_runs(g->x);
    gen_rng(g, seed ^ 0xC0DEC0DEC0DEC0DEull);
    vf_status st = VF_OK;
    for (int64_t b0 = 0; b0 < n && !st; b0 += B) {
        int64_t nb = n - b0 < B ? n - b0 : B;
        /* a short last batch is padded with its first row: rows are independent */
        for (int64_t b = 0; b < B; b++)
            memcpy(g->h_attr + b * A, attr + (b0 + (b < nb ? b : 0)) * A, (size_t)A * sizeof(float));
        st = vf_exec_write(g->x, g->in_cond, g->h_attr, (size_t)(B * A) * sizeof(float));
        if (!st) st = vf_exec_run(g->x, g->pc);
        if (!st) st = vf_exec_read(g->x, g->pc, g->out_cfeat, g->h_feat, (size_t)(B * T * F) * sizeof(float));
        if (!st) st = vf_exec_read(g->x, g->pc, g->out_cflag, g->h_flag, (size_t)(B * T * 2) * sizeof(float));
        if (!st) put_rows(g, out, b0, nb);
    }
    vf_exec_set_rng_runs(g->x, saved);
    if (st) free_encoded(out);
    return st;
}
