/* The end-to-end job: ingest -> encode -> chunked warm-started training ->
 * generation -> merge by flow tags -> decode -> truncate -> sort -> write ->
 * evaluate. See pipeline.h for the run directory and docs/RUNNING.md. */
#include "train/pipeline.h"
#include "util.h"
#include "train/flowmodel.h"
#include "train/rundir.h"
#include "train/par.h"
#include "train/pipeline_privacy.h"
#include "eval/eval.h"
#include "trace/trace_internal.h"
#include "trace/encode.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *vf_phase_name(vf_phase p) {
    static const char *const n[] = {"ingest", "encode", "train", "generate", "write", "eval", "done"};
    return (unsigned)p <= VF_PHASE_DONE ? n[p] : "?";
}

/* ------------------------------------------------------------------ backend */

/* Several ranks on one machine with several Vulkan devices: rank r uses the
 * (local rank mod count)-th GPU (VKFLOW_DEVICE, when set, wins). */
static void pick_device(vf_run_log *L) {
    if (vf_par_size() <= 1 || getenv("VKFLOW_DEVICE")) return;
    vf_vk_device_info *dev = NULL;
    int n = 0;
    if (vf_vk_list_devices(&dev, &n) != VF_OK) return;
    int gpus = 0, usable = 0;
    for (int i = 0; i < n; i++) {
        usable += dev[i].usable;
        gpus += dev[i].usable && strcmp(dev[i].type, "cpu");
    }
    int count = gpus ? gpus : usable;
    if (count > 1) {
        int want = vf_par_local_rank() % count, k = 0;
        for (int i = 0; i < n; i++) {
            if (!dev[i].usable || (gpus && !strcmp(dev[i].type, "cpu"))) continue;
            if (k++ != want) continue;
            char idx[32];
            snprintf(idx, sizeof idx, "%d", dev[i].index);
            setenv("VKFLOW_DEVICE", idx, 1);
            vf_run_say(L, VF_PHASE_TRAIN, -1, "local rank %d: Vulkan device [%d] %s (%d of %d)", vf_par_local_rank(),
                       dev[i].index, dev[i].name, want + 1, count);
            break;
        }
    }
    free(dev);
}

static vf_status open_backend(const char *which, vf_run_log *L, vf_backend **be) {
    *be = NULL;
    if (strcmp(which, "cpu")) pick_device(L);
    if (!strcmp(which, "cpu")) return vf_cpu_create(be);
    if (!strcmp(which, "vk")) return vf_vk_create(be);
    /* auto: a real GPU when there is one; a software Vulkan device (lavapipe)
     * is slower than the cpu backend, so it does not count */
    vf_vk_device_info *dev = NULL;
    int n = 0;
    bool gpu = false;
    if (vf_vk_list_devices(&dev, &n) == VF_OK) {
        for (int i = 0; i < n; i++)
            if (dev[i].chosen && dev[i].usable && strcmp(dev[i].type, "cpu")) gpu = true;
        free(dev);
    }
    if (gpu) {
        if (vf_vk_create(be) == VF_OK) return VF_OK;
        vf_run_say(L, VF_PHASE_TRAIN, -1, "backend auto: the Vulkan device failed (%s); using the cpu backend",
            vf_last_error());
    }
    return vf_cpu_create(be);
}

/* ---------------------------------------------------------------- ingest */

static vf_status ingest(const vf_run_config *rc, vf_run_log *L, vf_trace *t) {
    memset(t, 0, sizeof *t);
    double t0 = vf_now_s();
    vf_run_say(L, VF_PHASE_INGEST, -1, "reading %s", rc->data.path);
    vf_status st = vf_data_desc_read_trace(&rc->data, t);
    if (st) return st;
    uint64_t sk = vf_trace_skipped_total(t);
    if (sk)
        vf_run_say(L, VF_PHASE_INGEST, -1, "skipped %llu of %llu input records (first: %s)", (unsigned long long)sk,
            (unsigned long long)t->n_input, t->first_skip);
    if (rc->as_flows && t->kind == VF_TRACE_PACKETS) {
        vf_trace fl;
        memset(&fl, 0, sizeof fl);
        st = vf_trace_aggregate(t, rc->flow_timeout_ns, &fl);
        vf_trace_free(t);
        if (st) return st;
        *t = fl;
    }
    if (t->n == 0) {
        vf_trace_free(t);
        return vf_fail(VF_ERR_FORMAT, "%s: no usable records", rc->data.path);
    }
    vf_run_say(L, VF_PHASE_INGEST, -1, "%zu %s in %.1f s", t->n, t->kind == VF_TRACE_PACKETS ? "packets" : "flows",
        vf_now_s() - t0);
    return VF_OK;
}

/* Whether training reads the trace as a stream (data.streaming, docs/TRACES.md):
 * auto streams a regular file with fixed_time chunks and records as read
 * (not as_flows); on insists (an error says why it cannot); off reads the
 * trace into memory. */
static vf_status use_streaming(const vf_run_config *rc, bool *out) {
    const vf_data_desc *dd = &rc->data;
    *out = false;
    if (dd->streaming == VF_STREAM_OFF) return VF_OK;
    struct stat sb;
    const char *why = NULL;
    if (stat(dd->path, &sb) == 0 && !S_ISREG(sb.st_mode))
        why = "it is not a regular file (a pipe?), and streaming reads the trace 4 times: save it to a file first";
    else if (dd->chunking != VF_CHUNK_FIXED_TIME)
        why = "chunking = fixed_size needs every timestamp sorted";
    else if (rc->as_flows)
        why = "as_flows aggregates packets into flows in memory";
    else if (rc->privacy.enabled)
        why = "a privacy run's encoder takes the chunk windows from the trace in memory";
    else if (rc->holdout > 0)
        why = "run.holdout splits the trace's 5-tuples in memory";
    else if (vf_data_desc_needs_addr_tables(dd))
        why = "the address tables of encoding dict and decode tree are built from every address in memory";
    else (void)vf_data_desc_needs_memory_fit(dd, &why);
    if (why && dd->streaming == VF_STREAM_ON)
        return vf_fail(VF_ERR_ARG, "%s: data.streaming = on, but %s (data.streaming = auto or off reads it into "
                       "memory)", dd->path, why);
    *out = !why;
    return VF_OK;
}

/* ------------------------------------------------------------------- train */

typedef struct tick_ctx {
    vf_run_log *L;
    int chunk, n_chunks;
    int64_t later;           /* iterations of the chunks after this one */
    int64_t first_iter;
    double first_s;
    bool have_first;
} tick_ctx;

/* The training-progress event of chunk k (the pipeline's callback, or a
 * rank's line forwarded to rank 0). */
static vf_pipeline_event train_event(const tick_ctx *k, const vf_train_progress *p, double rate, double eta) {
    vf_pipeline_event e = {0};
    e.phase = VF_PHASE_TRAIN;
    e.chunk = k->chunk;
    e.n_chunks = k->n_chunks;
    e.iter = p->iter;
    e.total = p->total;
    e.metrics = p->metrics;
    e.it_per_s = rate;
    e.eta_s = eta;
    return e;
}

static void on_tick(const vf_train_progress *p, void *user) {
    tick_ctx *k = user;
    if (!k->have_first) {
        k->have_first = true;
        k->first_iter = p->iter;
        k->first_s = p->seconds;
    }
    double dt = p->seconds - k->first_s;
    double rate = dt > 0 && p->iter > k->first_iter ? (double)(p->iter - k->first_iter) / dt : 0;
    double eta = rate > 0 ? (double)(p->total - p->iter + k->later) / rate : -1;
    vf_run_log *L = k->L;
    double now = vf_now_s();
    double every = L->o && L->o->log_every_s > 0 ? L->o->log_every_s : 10;
    if (vf_par_rank() > 0) {
        /* rank 0 writes the line and reports the tick (par.h); twice a
         * second at most, and every run.log line */
        bool line = now - L->last_line >= every || p->iter >= p->total;
        if (!line && now - L->last_forward < 0.5) return;
        L->last_forward = now;
        char text[1024] = "", ms[512];
        if (line) {
            L->last_line = now;
            snprintf(text, sizeof text, "train: rank %d: chunk %d/%d iteration %lld/%lld %s %.2f it/s eta %.0f s",
                     vf_par_rank(), k->chunk + 1, k->n_chunks, (long long)p->iter, (long long)p->total,
                     vf_metrics_format(p->metrics, ms, sizeof ms), rate, eta);
        }
        vf_pipeline_event e = train_event(k, p, rate, eta);
        vf_par_forward(&e, text);
        return;
    }
    vf_par_pump(L);
    if (L->f && (now - L->last_line >= every || p->iter >= p->total)) {
        L->last_line = now;
        vf_run_stamp(L->f);
        char ms[512];
        fprintf(L->f, "train: chunk %d/%d iteration %lld/%lld %s %.2f it/s eta %.0f s\n", k->chunk + 1, k->n_chunks,
                (long long)p->iter, (long long)p->total, vf_metrics_format(p->metrics, ms, sizeof ms), rate, eta);
        fflush(L->f);
    }
    if (L->o && L->o->on_event) {
        vf_pipeline_event e = train_event(k, p, rate, eta);
        L->o->on_event(&e, L->o->user);
    }
}

/* Per-chunk seeds: distinct streams for training and generation of each chunk. */
static uint64_t train_seed(const vf_run_config *rc, int c) { return vf_mix64(rc->seed * 2 + 0) ^ (uint64_t)c; }
static uint64_t gen_seed(const vf_run_config *rc, int c) { return vf_mix64(rc->seed * 2 + 1) ^ (uint64_t)c; }

/* The data the steps share while one command runs. */
typedef struct job {
    const vf_run_config *rc;
    const char *dir;
    vf_run_log L;
    vf_trace real;           /* the training data (all of the trace unless run.holdout) */
    vf_trace held;           /* run.holdout: the 5-tuples held out of training */
    vf_encoder enc;
    bool have_enc;
    vf_run_state state;
    vf_backend *be;
    vf_dp_budget dp;          /* privacy runs */
    bool have_dp;
    double dp_spent;
} job;

static void job_free(job *J) {
    vf_trace_free(&J->real);
    vf_trace_free(&J->held);
    if (J->have_enc) vf_encoder_free(&J->enc);
    vf_run_state_free(&J->state);
    if (J->have_dp) vf_dp_budget_free(&J->dp);
    if (J->be) vf_backend_destroy(J->be);
    vf_run_log_close(&J->L);
}

/* One chunk: the per-chunk entry point (pipeline.h). A chunk reads only the
 * run directory (its own checkpoint, chunk 0's for the warm start) and
 * writes only its own files, so chunks 1..N-1 may run in other processes. */
static vf_status train_chunk(const vf_chunk_task *T, vf_run_log *L, bool *stopped) {
    const vf_run_config *rc = T->rc;
    const vf_pipeline_opts *o = T->o;
    const vf_encoded *ch = T->chunk;
    int c = T->index, N = T->enc->n_chunks;
    int64_t later = T->later_iterations;
    char ckpt[4200], done[4200], ckpt0[4200];
    vf_run_chunk_path(ckpt, sizeof ckpt, T->run_dir, c, "ckpt");
    vf_run_chunk_path(done, sizeof done, T->run_dir, c, "done");
    vf_run_chunk_path(ckpt0, sizeof ckpt0, T->run_dir, 0, "ckpt");
    int64_t iters = vf_run_chunk_iterations(rc, c);
    if (vf_run_exists(done)) {
        vf_run_say(L, VF_PHASE_TRAIN, c, "chunk %d/%d: already trained", c + 1, N);
        return VF_OK;
    }
    if (ch->n_flows == 0) {
        vf_run_say(L, VF_PHASE_TRAIN, c, "chunk %d/%d: no flows, nothing to train", c + 1, N);
        return vf_run_write_text(done, "empty\n", 6);
    }
    bool have = vf_run_exists(ckpt);
    if (have && !o->resume)
        return vf_fail(VF_ERR_ARG, "%s exists: pass --resume to continue that run, or choose another folder", ckpt);
    vf_flow_dims dims;
    vf_flow_dims_from_encoder(T->enc, &dims);
    vf_flowmodel *f = NULL;
    vf_privacy_opts po = {0};
    if (T->dp) po = (vf_privacy_opts){.enabled = true, .clip = T->dp->clip, .sigma = T->dp->sigma,
                                      .expected_batch = T->dp->expected_batch};
    vf_status st = vf_flowmodel_open_private(rc->model, &dims, rc->settings, rc->n_settings, T->be, train_seed(rc, c),
                                             T->dp ? &po : NULL, &f);
    if (st) return st;
    vf_trainer *t = vf_flowmodel_trainer(f);
    char pub0[4200];
    bool from_public = T->dp && c == 0 && rc->privacy.pretrained;
    if (from_public) vf_run_chunk_path(pub0, sizeof pub0, rc->privacy.public_run, 0, "ckpt");
    if (have) {
        vf_run_say(L, VF_PHASE_TRAIN, c, "chunk %d/%d: resuming from %s", c + 1, N, ckpt);
    } else if (from_public) {
        /* NetShare's public pre-training: the private fine-tuning starts at the public run's chunk 1 */
        if ((st = vf_trainer_load(t, pub0))) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", vf_last_error());
            vf_flowmodel_close(f);
            return vf_fail(st, "privacy.public: %s", msg);
        }
        vf_run_say(L, VF_PHASE_TRAIN, c, "chunk %d/%d: %d flows, %lld private iterations starting from the public run's "
                   "weights (%s)", c + 1, N, ch->n_flows, (long long)iters, pub0);
    } else if (c > 0) {
        /* NetShare's warm start: every later chunk begins at chunk 0's final weights */
        if ((st = vf_trainer_load(t, ckpt0))) { vf_flowmodel_close(f); return st; }
        vf_run_say(L, VF_PHASE_TRAIN, c, "chunk %d/%d: %d flows, warm start from chunk 1, %lld iterations", c + 1, N,
            ch->n_flows, (long long)iters);
    } else {
        vf_run_say(L, VF_PHASE_TRAIN, c, "chunk %d/%d: %d flows, %lld iterations from scratch (%s)", c + 1, N, ch->n_flows,
            (long long)iters, vf_trainer_algorithm(t));
    }
    if ((st = vf_flowmodel_bind(f, ch))) { vf_flowmodel_close(f); return st; }
    tick_ctx k = {.L = L, .chunk = c, .n_chunks = N, .later = later};
    vf_train_opts to = {0};
    to.iterations = iters;
    to.checkpoint = ckpt;
    to.checkpoint_every = rc->checkpoint_every;
    to.resume = have;
    to.stop = o->stop;
    to.progress = on_tick;
    to.progress_user = &k;
    to.progress_every = o->progress_every > 0 ? o->progress_every : 10;
    double t0 = vf_now_s();
    st = vf_trainer_train(t, &to, stopped);
    if (st) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", vf_last_error());
        vf_flowmodel_close(f);
        return vf_fail(st, "chunk %d: %s%s%s", c, msg, vf_run_exists(ckpt) ? "; the last good checkpoint is kept: " : "",
                       vf_run_exists(ckpt) ? ckpt : "");
    }
    if (*stopped) {
        vf_flowmodel_close(f);
        vf_run_say(L, VF_PHASE_TRAIN, c, "chunk %d/%d: stopped; checkpoint %s", c + 1, N, ckpt);
        return VF_OK;
    }
    st = vf_trainer_save(t, ckpt);
    vf_flowmodel_close(f);
    if (st) return st;
    char txt[64];
    int n = snprintf(txt, sizeof txt, "%lld\n", (long long)iters);
    if ((st = vf_run_write_text(done, txt, (size_t)n))) return st;
    vf_run_say(L, VF_PHASE_TRAIN, c, "chunk %d/%d: %lld iterations in %.1f s", c + 1, N, (long long)iters,
        vf_now_s() - t0);
    return VF_OK;
}

vf_status vf_pipeline_train_chunk(const vf_chunk_task *t, bool *stopped) {
    if (!t || !t->rc || !t->run_dir || !t->enc || !t->chunk || !t->be || !t->o || !stopped)
        return vf_fail(VF_ERR_ARG, "train_chunk: every field of the task is required");
    if (t->index < 0 || t->index >= t->enc->n_chunks)
        return vf_fail(VF_ERR_ARG, "train_chunk: chunk %d of %d", t->index, t->enc->n_chunks);
    *stopped = false;
    vf_run_log L;
    vf_run_log_open(&L, t->o, t->run_dir);
    vf_status st = train_chunk(t, &L, stopped);
    vf_run_log_close(&L);
    return st;
}

/* Every --set of rc, one "key=value" per line (overrides.txt). */
static char *cli_overrides(const vf_run_config *rc) {
    size_t cap = 1, k = 0;
    for (int i = 0; i < rc->n_sets; i++) cap += strlen(rc->sets[i]) + 1;
    char *t = malloc(cap);
    if (!t) return NULL;
    t[0] = 0;
    for (int i = 0; i < rc->n_sets; i++) k += (size_t)snprintf(t + k, cap - k, "%s\n", rc->sets[i]);
    return t;
}

/* "a=1, b=2" from the lines of t (in place), or "none". */
static const char *one_line(char *t) {
    if (!t || !*t) return "none";
    size_t n = strlen(t);
    if (t[n - 1] == '\n') t[--n] = 0;
    for (char *q = t; *q; q++)
        if (*q == '\n') *q = ' ';
    return t;
}

static vf_status check_config_copy(const vf_run_config *rc, const char *dir, bool resume, char **text_out) {
    size_t n;
    char *text = vf_read_file(rc->path, &n);
    if (!text) return vf_fail(VF_ERR_IO, "%s: cannot open", rc->path);
    char copy[4200];
    vf_run_path(copy, sizeof copy, dir, "config.cfg");
    char state[4200];
    vf_run_path(state, sizeof state, dir, "run.state");
    if (vf_run_exists(state)) {
        if (!resume) {
            free(text);
            return vf_fail(VF_ERR_ARG, "%s already holds a run: pass --resume to continue it, or choose another "
                                       "--out folder", dir);
        }
        size_t m;
        char *old = vf_read_file(copy, &m);
        bool same = old && m == n && !memcmp(old, text, n);
        free(old);
        if (!same) {
            free(text);
            return vf_fail(VF_ERR_ARG, "%s: the configuration differs from the one this run started with (%s); "
                                       "a resumed run must use the same settings", rc->path, copy);
        }
        char ov[4200], *now = cli_overrides(rc);
        vf_run_path(ov, sizeof ov, dir, "overrides.txt");
        old = vf_read_file(ov, &m);
        same = now && strcmp(old ? old : "", now) == 0;
        if (!same) {
            vf_status e = vf_fail(VF_ERR_ARG, "%s: a resumed run must use the same --set settings as it started with "
                                  "(%s: %s; given: %s)", dir, ov, one_line(old), one_line(now));
            free(old);
            free(now);
            free(text);
            return e;
        }
        free(old);
        free(now);
        /* a damaged run.state is refused naming it, not silently rewritten */
        vf_run_state prev;
        vf_status e = vf_run_state_load(dir, &prev);
        if (e) {
            char why[2048];
            vf_copy_str(why, sizeof why, vf_last_error());
            free(text);
            return vf_fail(e, "%s; remove it to have it written again from the configuration and the data, then "
                           "resume", why);
        }
        vf_run_state_free(&prev);
    }
    *text_out = text;
    return VF_OK;
}

/* --------------------------------------------------- chunks kept on disk */

/* A streamed run keeps each encoded chunk in the run directory
 * (chunk_NN.enc) from the encode until it is trained, so that training holds
 * one chunk's arrays, not all of them. Format: "vkflow-encoded 1\n", then
 * int32 chunk, n_flows, max_len, attr_dim, feat_dim, int64 n_truncated, the
 * three float arrays (host order: the file never leaves the machine), and the
 * FNV-1a 64 of everything before it. */
typedef struct spill_ctx {
    const char *dir;
    vf_encoded *ch;          /* [n_chunks]: sizes only, arrays NULL */
} spill_ctx;

static size_t enc_sizes(const vf_encoded *E, size_t *nf, size_t *nx) {
    *nf = (size_t)E->n_flows * (size_t)E->max_len * (size_t)E->feat_dim;
    *nx = (size_t)E->n_flows * (size_t)E->max_len;
    return (size_t)E->n_flows * (size_t)E->attr_dim;
}

static vf_status spill_chunk(void *ctx, vf_encoded *E) {
    spill_ctx *k = ctx;
    char p[4200];
    vf_run_chunk_path(p, sizeof p, k->dir, E->chunk, "enc");
    vf_atomic_file af;
    vf_status st = vf_atomic_open(&af, p);
    size_t nf, nx, na = enc_sizes(E, &nf, &nx);
    if (!st) {
        int32_t h[5] = {E->chunk, E->n_flows, E->max_len, E->attr_dim, E->feat_dim};
        int64_t tr = E->n_truncated;
        fputs("vkflow-encoded 1\n", af.f);
        /* the sum chains the pieces: FNV-1a over their bytes in order */
        const void *part[5] = {h, &tr, E->attr, E->feat, E->gen_flag};
        size_t len[5] = {sizeof h, sizeof tr, na * sizeof(float), nf * sizeof(float), nx * sizeof(float)};
        uint64_t sum = vf_fnv1a64("vkflow-encoded 1\n", 17);
        for (int i = 0; i < 5; i++) {
            fwrite(part[i], 1, len[i], af.f);
            sum ^= vf_fnv1a64(part[i], len[i]) + 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
        }
        fwrite(&sum, sizeof sum, 1, af.f);
        st = vf_atomic_commit(&af);
    }
    k->ch[E->chunk] = *E;
    k->ch[E->chunk].attr = k->ch[E->chunk].feat = k->ch[E->chunk].gen_flag = NULL;
    free(E->attr);
    free(E->feat);
    free(E->gen_flag);
    return st;
}

/* Chunk c's arrays from its file into E (its sizes already there). */
static vf_status load_chunk(const char *dir, vf_encoded *E) {
    char p[4200];
    vf_run_chunk_path(p, sizeof p, dir, E->chunk, "enc");
    FILE *f = fopen(p, "rb");
    if (!f) return vf_fail(VF_ERR_IO, "%s: %s (the encoded chunk; it is written again when the run resumes)", p,
                           strerror(errno));
    size_t nf, nx, na = enc_sizes(E, &nf, &nx);
    E->attr = malloc((na ? na : 1) * sizeof(float));
    E->feat = malloc((nf ? nf : 1) * sizeof(float));
    E->gen_flag = malloc((nx ? nx : 1) * sizeof(float));
    char magic[17];
    int32_t h[5];
    int64_t tr;
    uint64_t sum, want;
    bool ok = E->attr && E->feat && E->gen_flag && fread(magic, 1, 17, f) == 17 && !memcmp(magic, "vkflow-encoded 1\n", 17) &&
              fread(h, sizeof h, 1, f) == 1 && h[0] == E->chunk && h[1] == E->n_flows && h[2] == E->max_len &&
              h[3] == E->attr_dim && h[4] == E->feat_dim && fread(&tr, sizeof tr, 1, f) == 1 &&
              fread(E->attr, sizeof(float), na, f) == na && fread(E->feat, sizeof(float), nf, f) == nf &&
              fread(E->gen_flag, sizeof(float), nx, f) == nx && fread(&sum, sizeof sum, 1, f) == 1 && fgetc(f) == EOF;
    fclose(f);
    if (ok) {
        const void *part[5] = {h, &tr, E->attr, E->feat, E->gen_flag};
        size_t len[5] = {sizeof h, sizeof tr, na * sizeof(float), nf * sizeof(float), nx * sizeof(float)};
        want = vf_fnv1a64("vkflow-encoded 1\n", 17);
        for (int i = 0; i < 5; i++) want ^= vf_fnv1a64(part[i], len[i]) + 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
        ok = want == sum;
    }
    if (!ok) {
        free(E->attr);
        free(E->feat);
        free(E->gen_flag);
        E->attr = E->feat = E->gen_flag = NULL;
        return vf_fail(VF_ERR_FORMAT, "%s: damaged encoded chunk (truncated, or not this run's); resume the run to "
                       "encode it again", p);
    }
    E->n_truncated = tr;
    return VF_OK;
}

static void unload_chunk(vf_encoded *E) {
    free(E->attr);
    free(E->feat);
    free(E->gen_flag);
    E->attr = E->feat = E->gen_flag = NULL;
}

/* Whether chunk c of ch is on disk rather than in memory. */
static bool spilled(const vf_encoded *E) { return E->n_flows > 0 && !E->attr; }

/* Rank 0's part before training: the run directory's files, ingest, the
 * encoder, the encoded chunks (*chunks, enc.n_chunks of them) and run.state;
 * keeps the real trace and encoder in J. */
static vf_status prepare_job(job *J, const vf_pipeline_opts *o, bool *stopped, vf_encoded **chunks) {
    const vf_run_config *rc = J->rc;
    char *text = NULL;
    vf_status st = vf_run_make_dirs(J->dir);
    if (st) return st;
    if ((st = check_config_copy(rc, J->dir, o->resume, &text))) return st;
    vf_run_log_open(&J->L, o, J->dir);
    vf_run_say(&J->L, VF_PHASE_INGEST, -1, "%s run of %s into %s", o->resume ? "resumed" : "new", rc->path, J->dir);
    int temps = o->resume ? vf_run_remove_temps(J->dir) : 0;
    if (temps)
        vf_run_say(&J->L, VF_PHASE_INGEST, -1, "removed %d temporary file%s an interrupted write left in %s", temps,
                   temps == 1 ? "" : "s", J->dir);
    char p[4200];
    vf_run_path(p, sizeof p, J->dir, "config.cfg");
    st = vf_run_write_text(p, text, strlen(text));
    free(text);
    if (st) return st;
    /* the settings this run uses: the --set list (resume and generate apply
     * it again) and the effective model description */
    char *ov = cli_overrides(rc);
    vf_run_path(p, sizeof p, J->dir, "overrides.txt");
    st = ov ? vf_run_write_text(p, ov, strlen(ov)) : vf_fail(VF_ERR_OOM, "out of memory");
    free(ov);
    if (st) return st;
    vf_run_path(p, sizeof p, J->dir, "model.cfg");
    if ((st = vf_run_config_write_model(rc, p))) return st;
    vf_run_say(&J->L, VF_PHASE_INGEST, -1, "%lld iterations for chunk 1 (%s), seed %llu, %d setting overrides; effective "
               "model settings in %s", (long long)rc->iterations, rc->iterations_set ? "run.iterations" : "training.steps",
               (unsigned long long)rc->seed, rc->n_settings, p);
    bool streaming;
    if ((st = use_streaming(rc, &streaming))) return st;
    if (!streaming && (st = ingest(rc, &J->L, &J->real))) return st;
    /* streaming: run.holdout is 0, this checks only that a resumed run had none */
    if ((st = vf_run_holdout(rc, J->dir, o->resume, &J->L, &J->real, &J->held))) return st;
    if (o->stop && *o->stop) { *stopped = true; return VF_OK; }
    /* the encoder is fitted once per run and always used as saved, so a
     * resumed run and an uninterrupted one decode with the same numbers */
    char encp[4200];
    vf_run_path(encp, sizeof encp, J->dir, "encoder.txt");
    double t0 = vf_now_s();
    vf_data_desc *dd = (vf_data_desc *)&rc->data; /* the readers' source: read only */
    vf_stream_stats ss;
    if (!(o->resume && vf_run_exists(encp))) {
        if (!rc->privacy.enabled)
            vf_run_say(&J->L, VF_PHASE_ENCODE, -1, "fitting the encoder (%d chunks%s)", rc->data.n_chunks,
                       streaming ? ", streaming: 2 reads of the trace" : "");
        vf_encoder fit;
        if (rc->privacy.enabled) {
            /* nothing about the encoding is fitted on private data (docs/PRIVACY.md) */
            char pub[4200];
            vf_run_path(pub, sizeof pub, rc->privacy.public_run, "encoder.txt");
            if ((st = vf_encoder_adopt_public(pub, &rc->data, &J->real, &fit))) {
                char msg[1024];
                snprintf(msg, sizeof msg, "%s", vf_last_error());
                return vf_fail(st, "privacy.public: %s", msg);
            }
            vf_run_say(&J->L, VF_PHASE_ENCODE, -1, "privacy: the encoder of the public run %s (only the chunk windows "
                       "come from this trace's time span)", rc->privacy.public_run);
        } else if (streaming) {
            if ((st = vf_encoder_fit_stream(&rc->data, vf_data_desc_each, dd, &fit, &ss))) return st;
            vf_run_say(&J->L, VF_PHASE_ENCODE, -1, "%llu %s, %zu 5-tuples, %s; word2vec on %llu of them (%.1f s)",
                       (unsigned long long)ss.records, fit.kind == VF_TRACE_PACKETS ? "packets" : "flows", ss.flows,
                       ss.sorted ? "in time order" : ss.reordered ? "in time order within 65536 records"
                                                                  : "out of time order: a read kept every timestamp",
                       (unsigned long long)ss.w2v_records,
                       vf_now_s() - t0);
        } else if ((st = vf_encoder_fit(&rc->data, &J->real, &fit))) {
            return st;
        }
        st = vf_encoder_save(&fit, encp);
        vf_encoder_free(&fit);
        if (st) return st;
    }
    if ((st = vf_encoder_load(encp, &J->enc))) return st;
    J->have_enc = true;
    if (rc->privacy.enabled) {
        /* the contribution bound the accountant relies on (pipeline_privacy.c) */
        size_t cut_records, cut_flows;
        if ((st = vf_trace_bound_chunks(&J->enc, rc->privacy.chunks_per_flow, &J->real, &cut_records, &cut_flows)))
            return st;
        vf_run_say(&J->L, VF_PHASE_ENCODE, -1, "privacy: every flow trains at most %d chunk model%s: %zu records of "
                   "%zu flows beyond that were left out", rc->privacy.chunks_per_flow,
                   rc->privacy.chunks_per_flow == 1 ? "" : "s", cut_records, cut_flows);
    }
    vf_encoded *ch = NULL;
    if (streaming) {
        /* each chunk to its file as soon as it is complete: training loads
         * one chunk at a time (train_owned) */
        spill_ctx k = {.dir = J->dir, .ch = calloc((size_t)J->enc.n_chunks, sizeof *ch)};
        if (!k.ch) return vf_fail(VF_ERR_OOM, "out of memory");
        if ((st = vf_encode_stream_each(&J->enc, vf_data_desc_each, dd, spill_chunk, &k, &ss))) {
            vf_encoded_free(k.ch, J->enc.n_chunks);
            return st;
        }
        ch = k.ch;
        vf_run_say(&J->L, VF_PHASE_ENCODE, -1, "encoded %llu records of %zu 5-tuples in 2 reads, at most %zu flow "
                   "series open and %d chunks in memory at once; chunks in %s/chunk_NN.enc until trained",
                   (unsigned long long)ss.records, ss.flows, ss.peak_live, ss.peak_chunks, J->dir);
    } else if ((st = vf_encode(&J->enc, &J->real, &ch))) {
        return st;
    }
    int N = J->enc.n_chunks;
    int64_t trunc = 0;
    for (int c = 0; c < N; c++) trunc += ch[c].n_truncated;
    vf_run_say(&J->L, VF_PHASE_ENCODE, -1, "%d chunks, attributes %d, features %d x %d steps, %lld flows cut at max_len "
        "(%.1f s)", N, J->enc.attr_dim, J->enc.feat_dim, J->enc.max_len, (long long)trunc, vf_now_s() - t0);
    vf_run_state *S = &J->state;
    memset(S, 0, sizeof *S);
    vf_abs_path(rc->path, S->config, sizeof S->config);
    vf_abs_path(rc->data.path, S->data, sizeof S->data);
    vf_abs_path(rc->model, S->model, sizeof S->model);
    snprintf(S->output, sizeof S->output, "%s",
             !strcmp(rc->output, "auto") ? (J->enc.kind == VF_TRACE_PACKETS ? "pcap" : "csv") : rc->output);
    if (!strcmp(S->output, "pcap") && J->enc.kind != VF_TRACE_PACKETS) {
        vf_encoded_free(ch, N);
        return vf_fail(VF_ERR_ARG, "%s: output 'pcap' but the trace holds flows", rc->path);
    }
    S->n_chunks = N;
    S->real_flows = calloc((size_t)N, sizeof *S->real_flows);
    if (!S->real_flows) { vf_encoded_free(ch, N); return vf_fail(VF_ERR_OOM, "out of memory"); }
    for (int c = 0; c < N; c++) S->real_flows[c] = ch[c].n_flows;
    if ((st = vf_run_state_save(J->dir, S))) { vf_encoded_free(ch, N); return st; }
    *chunks = ch;
    return VF_OK;
}

/* A rank > 0 of an MPI run: the encoder and run.state rank 0 wrote, and
 * room for the chunks it will receive. */
static vf_status join_job(job *J, vf_encoded **chunks) {
    char encp[4200];
    vf_run_path(encp, sizeof encp, J->dir, "encoder.txt");
    vf_status st = vf_encoder_load(encp, &J->enc);
    if (st) return st;
    J->have_enc = true;
    if ((st = vf_run_state_load(J->dir, &J->state))) return st;
    *chunks = calloc((size_t)J->enc.n_chunks, sizeof **chunks);
    return *chunks ? VF_OK : vf_fail(VF_ERR_OOM, "out of memory");
}

/* Trains the chunks c in [from, to) that this rank owns (par.h), in order. */
static vf_status train_owned(job *J, const vf_pipeline_opts *o, vf_encoded *ch, int from, int to, bool *stopped) {
    const vf_run_config *rc = J->rc;
    int N = J->enc.n_chunks;
    vf_status st = VF_OK;
    for (int c = from; c < to && !st; c++) {
        if (vf_par_owner(c) != vf_par_rank()) continue;
        int64_t later = 0;
        for (int k = c + 1; k < N; k++)
            if (ch[k].n_flows && vf_par_owner(k) == vf_par_rank()) later += vf_run_chunk_iterations(rc, k);
        /* a streamed run's chunk comes from its file, for its training only */
        char done[4200];
        vf_run_chunk_path(done, sizeof done, J->dir, c, "done");
        bool load = spilled(&ch[c]) && !vf_run_exists(done);
        if (load && (st = load_chunk(J->dir, &ch[c]))) break;
        vf_chunk_task task = {.rc = rc, .run_dir = J->dir, .enc = &J->enc, .chunk = &ch[c], .index = c,
                              .later_iterations = later, .be = J->be, .o = o, .dp = J->have_dp ? &J->dp : NULL};
        st = train_chunk(&task, &J->L, stopped);
        if (!st && !*stopped && o->stop && *o->stop) *stopped = true;
        if (load) unload_chunk(&ch[c]);
        if (*stopped) break;
    }
    return st;
}

/* What a privacy run has spent: finished chunks in full, a started one in
 * full too (its checkpoint does not say how far it got: an upper bound). */
static void privacy_report(job *J) {
    int N = J->enc.n_chunks, done = 0;
    double *frac = calloc((size_t)N, sizeof *frac);
    if (!frac) return;
    for (int c = 0; c < N; c++) {
        char p[4200];
        vf_run_chunk_path(p, sizeof p, J->dir, c, "done");
        bool fin = vf_run_exists(p);
        done += fin;
        vf_run_chunk_path(p, sizeof p, J->dir, c, "ckpt");
        frac[c] = fin || vf_run_exists(p) ? 1.0 : 0.0;
    }
    J->dp_spent = vf_dp_budget_epsilon(&J->dp, frac);
    free(frac);
    vf_run_say(&J->L, VF_PHASE_TRAIN, -1, "privacy: epsilon spent %.4g at delta %g (%d of %d chunks finished; planned "
               "%.4g%s%.4g)", J->dp_spent, J->dp.delta, done, N, J->dp.planned, J->dp.target > 0 ? ", target " : "",
               J->dp.target > 0 ? J->dp.target : 0.0);
}

/* Everything up to trained checkpoints. One process: prepare, then every
 * chunk in order. Several (par.h): rank 0 prepares and sends each rank its
 * chunks; rank 0 trains chunk 0 while the others wait; then each rank its
 * share of chunks 1..N-1, warm-started from chunk_00.ckpt in the run
 * directory. Each step ends in vf_par_agree (a no-op for one process). */
static vf_status train_job(job *J, const vf_pipeline_opts *o, bool *stopped) {
    const vf_run_config *rc = J->rc;
    *stopped = false;
    int rank = vf_par_rank(), size = vf_par_size();
    vf_encoded *ch = NULL;
    vf_status st = VF_OK;
    if (rank == 0) {
        st = prepare_job(J, o, stopped, &ch);
    } else {
        vf_run_log_open(&J->L, o, J->dir);
    }
    if ((st = vf_par_agree(st, stopped, &J->L)) || *stopped) goto done;
    if (size > 1) {
        if (rank > 0) st = join_job(J, &ch);
        if ((st = vf_par_agree(st, NULL, &J->L))) goto done;
        int N = J->enc.n_chunks;
        for (int c = 1; c < N && !st; c++) {
            int to = vf_par_owner(c);
            if (to == 0) continue;
            if (rank == 0) {
                /* sent: rank 0 keeps only its own chunks' data */
                if (spilled(&ch[c]) && (st = load_chunk(J->dir, &ch[c]))) break;
                st = vf_par_send_encoded(&ch[c], to);
                free(ch[c].attr);
                free(ch[c].feat);
                free(ch[c].gen_flag);
                ch[c].attr = ch[c].feat = ch[c].gen_flag = NULL;
            } else if (rank == to) {
                st = vf_par_recv_encoded(&ch[c], 0);
            }
        }
        if (rank == 0)
            vf_run_say(&J->L, VF_PHASE_TRAIN, -1, "%d processes: chunk 1 on rank 0, chunks 2..%d round robin (chunk c+1 "
                   "on rank c mod %d)", size, N, size);
    }
    if (!st) st = open_backend(rc->backend, &J->L, &J->be);
    if (!st) vf_run_say(&J->L, VF_PHASE_TRAIN, -1, "backend %s, model %s", vf_backend_name(J->be), rc->model);
    if (!st && rc->privacy.enabled) {
        st = vf_dp_budget_plan(rc, &J->enc, J->state.real_flows, J->be, J->dir, &J->L, &J->dp);
        J->have_dp = !st;
    }
    if ((st = vf_par_agree(st, NULL, &J->L))) goto done;
    /* chunk 0 first: the others start from its checkpoint */
    st = train_owned(J, o, ch, 0, 1, stopped);
    if ((st = vf_par_agree(st, stopped, &J->L)) || *stopped) goto done;
    st = train_owned(J, o, ch, 1, J->enc.n_chunks, stopped);
    st = vf_par_agree(st, stopped, &J->L);
    if (!st && J->have_dp && rank == 0) privacy_report(J);
done:
    if (ch) {
        /* a streamed run's chunk files: the training data, written again on resume */
        for (int c = 0; rank == 0 && !st && !*stopped && c < J->enc.n_chunks; c++) {
            char p[4200];
            vf_run_chunk_path(p, sizeof p, J->dir, c, "enc");
            unlink(p);
        }
        vf_encoded_free(ch, J->have_enc ? J->enc.n_chunks : 0);
    }
    return st;
}

/* --------------------------------------------------------------- generate */

/* Per-chunk flow counts: the real ones, or `count` split in proportion to
 * them (largest remainder, ties to the earlier chunk). */
static void split_count(const vf_run_state *S, int64_t count, int64_t *n) {
    int N = S->n_chunks;
    int64_t total = 0;
    for (int c = 0; c < N; c++) total += S->real_flows[c];
    if (count <= 0 || total == 0) {
        for (int c = 0; c < N; c++) n[c] = count <= 0 ? S->real_flows[c] : 0;
        return;
    }
    int64_t given = 0;
    for (int c = 0; c < N; c++) {
        n[c] = (int64_t)((__int128)count * S->real_flows[c] / total);
        given += n[c];
    }
    while (given < count) {
        int best = -1;
        __int128 best_rem = -1;
        for (int c = 0; c < N; c++) {
            if (!S->real_flows[c]) continue;
            __int128 rem = ((__int128)count * S->real_flows[c]) % total;
            /* one extra per chunk at most: compare remainders of chunks not yet topped up */
            if (n[c] > (int64_t)((__int128)count * S->real_flows[c] / total)) continue;
            if (rem > best_rem) { best_rem = rem; best = c; }
        }
        if (best < 0) break;
        n[best]++;
        given++;
    }
}

/* Chunk c's part of generation with one model: its flows into gen[c]
 * (what & 1) and features for the flows earlier chunks carry into it into
 * cond[c] (what & 2; needs gen[0..c]). *use_cond becomes false when the
 * model cannot condition on given attributes. */
static vf_status gen_chunk(job *J, int c, int64_t n, vf_encoded *gen, vf_encoded *cond, int what, bool *use_cond) {
    const vf_run_config *rc = J->rc;
    const vf_run_state *S = &J->state;
    int N = J->enc.n_chunks;
    if (n > INT_MAX) return vf_fail(VF_ERR_ARG, "generate: %lld flows for one chunk", (long long)n);
    char ckpt[4200], donep[4200];
    vf_run_chunk_path(ckpt, sizeof ckpt, J->dir, c, "ckpt");
    vf_run_chunk_path(donep, sizeof donep, J->dir, c, "done");
    if (!vf_run_exists(donep))
        return vf_fail(VF_ERR_ARG, "%s: chunk %d is not trained yet (run vkflow train --resume first)", J->dir, c);
    if (!vf_run_exists(ckpt)) return VF_OK; /* an empty chunk: no model */
    vf_flow_dims dims;
    vf_flow_dims_from_encoder(&J->enc, &dims);
    float *carried = NULL;
    int n_car = 0;
    vf_status st = VF_OK;
    /* features only: no model to open when nothing is carried in */
    int asked = what;
    if (!(what & 1)) {
        if (*use_cond && (st = vf_merge_carried(&J->enc, gen, c, &carried, &n_car))) return st;
        if (n_car == 0) what = 0;
    }
    vf_flowmodel *g = NULL;
    if (what) {
        if ((st = vf_flowmodel_open(S->model, &dims, rc->settings, rc->n_settings, J->be, train_seed(rc, c), &g))) {
            free(carried);
            return st;
        }
        st = vf_trainer_load(vf_flowmodel_trainer(g), ckpt);
    }
    if (!st && (what & 1)) {
        st = vf_flowmodel_generate(g, (int)n, gen_seed(rc, c), &gen[c]);
        gen[c].chunk = c;
        /* before any later chunk's merge reads its flow tags */
        int64_t changed, starts;
        if (!st && !(st = vf_flow_spans(&J->enc, &gen[c], c, &changed, &starts)) && J->enc.fspan)
            vf_run_say(&J->L, VF_PHASE_GENERATE, c, "chunk %d/%d: flow spans: %lld of %lld new flows took another "
                "number of chunks, the training's", c + 1, N, (long long)changed, (long long)starts);
        /* the flows earlier chunks carry into this one get this model's
         * features for their attributes (start flag cleared) */
        if (!st && (what & 2) && *use_cond) st = vf_merge_carried(&J->enc, gen, c, &carried, &n_car);
    }
    if (!st && (what & 2) && *use_cond && n_car > 0) {
        st = vf_flowmodel_generate_features(g, carried, n_car, gen_seed(rc, c) ^ 0x6D657267ull, &cond[c]);
        if (st == VF_ERR_UNSUPPORTED) {
            vf_run_say(&J->L, VF_PHASE_GENERATE, c, "%s; flows carried across chunks take their features from flows "
                "the later chunk generated instead", vf_last_error());
            *use_cond = false;
            st = VF_OK;
        }
    }
    free(carried);
    if (g) vf_flowmodel_close(g);
    if (st) return st;
    cond[c].chunk = c;
    if (asked == 1) return VF_OK;
    if (n_car > 0 && *use_cond)
        vf_run_say(&J->L, VF_PHASE_GENERATE, c, "chunk %d/%d: %d flows, features for %d flows carried in", c + 1, N,
            gen[c].n_flows, n_car);
    else
        vf_run_say(&J->L, VF_PHASE_GENERATE, c, "chunk %d/%d: %d flows", c + 1, N, gen[c].n_flows);
    return VF_OK;
}

/* Generation. One process: chunk by chunk, each model sampled once for its
 * flows and the carried-in flows' features. Several (par.h): each rank
 * samples its chunks' flows, all flows go to every rank, each rank samples
 * its chunks' carried-in features, those go to rank 0, which merges,
 * decodes and writes (the other ranks return with *syn empty). */
static vf_status generate_job(job *J, const vf_pipeline_opts *o, int64_t count, const char *out_path,
                              vf_trace *syn, bool *stopped) {
    const vf_run_config *rc = J->rc;
    const vf_run_state *S = &J->state;
    int N = J->enc.n_chunks;
    int rank = vf_par_rank(), size = vf_par_size();
    *stopped = false;
    if (S->n_chunks != N) return vf_fail(VF_ERR_FORMAT, "%s: run.state has %d chunks, the encoder %d", J->dir,
                                         S->n_chunks, N);
    memset(syn, 0, sizeof *syn);
    int64_t *n = calloc((size_t)N, sizeof *n);
    vf_encoded *gen = calloc((size_t)N, sizeof *gen), *merged = NULL;
    /* cond[c]: features chunk c's model generated for the flows carried into
     * it (NetShare's merge); NULL after a model that cannot do that */
    vf_encoded *cond = calloc((size_t)N, sizeof *cond);
    bool use_cond = true;
    int64_t *flow_id = NULL, *rec_id = NULL; /* merged row -> flow, record -> flow */
    int64_t *src_rec = NULL;                 /* flow lengths: record -> the decoded record it is or copies */
    size_t *from = NULL;                     /* [N + 1]: chunk c's records are from[c]..from[c + 1] */
    vf_status st = VF_OK;
    if (!n || !gen || !cond) st = vf_fail(VF_ERR_OOM, "generate: out of memory");
    if (size > 1 && (st = vf_par_agree(st, NULL, &J->L))) goto done;
    if (st) goto done;
    split_count(S, count, n);
    double t0 = vf_now_s();
    for (int c = 0; c < N; c++) {
        gen[c].chunk = c;
        gen[c].attr_dim = J->enc.attr_dim;
        gen[c].feat_dim = J->enc.feat_dim;
        gen[c].max_len = J->enc.max_len;
    }
    if (size == 1) {
        for (int c = 0; c < N; c++) {
            if (n[c] == 0) continue;
            if ((st = gen_chunk(J, c, n[c], gen, cond, 3, &use_cond))) goto done;
            if (o->stop && *o->stop) { *stopped = true; goto done; }
        }
    } else {
        /* phase 1: every chunk's flows, on its owner, then to every rank */
        for (int c = 0; c < N && !st; c++)
            if (n[c] && vf_par_owner(c) == rank) st = gen_chunk(J, c, n[c], gen, cond, 1, &use_cond);
        *stopped = o->stop && *o->stop;
        if ((st = vf_par_agree(st, stopped, &J->L)) || *stopped) goto done;
        for (int c = 0; c < N && !st; c++) st = vf_par_bcast_encoded(&gen[c], vf_par_owner(c));
        /* phase 2: the features of the flows carried into each chunk, to rank 0 */
        for (int c = 0; c < N && !st; c++)
            if (n[c] && vf_par_owner(c) == rank) st = gen_chunk(J, c, n[c], gen, cond, 2, &use_cond);
        *stopped = o->stop && *o->stop;
        if ((st = vf_par_agree(st, stopped, &J->L)) || *stopped) goto done;
        use_cond = !vf_par_any(!use_cond, &J->L);
        for (int c = 1; c < N && !st; c++) {
            int from = vf_par_owner(c);
            if (from == 0) continue;
            if (rank == from) st = vf_par_send_encoded(&cond[c], 0);
            else if (rank == 0) st = vf_par_recv_encoded(&cond[c], from);
        }
        if (rank > 0) goto done;
    }
    if ((st = vf_quota_classes(&J->enc, gen, N))) goto done;
    if ((st = vf_merge_flow_tags(&J->enc, gen, use_cond ? cond : NULL, N, &merged, &flow_id))) goto done;
    if (!(from = malloc(((size_t)N + 1) * sizeof *from))) { st = vf_fail(VF_ERR_OOM, "generate: out of memory"); goto done; }
    int64_t flows = 0, n_ids = 0;
    for (int c = 0; c < N; c++) {
        from[c] = syn->n;
        if ((st = vf_decode(&J->enc, &merged[c], 1, syn))) goto done;
        size_t n_rec = syn->n - from[c];
        int64_t *grown = realloc(rec_id, (syn->n + 1) * sizeof *rec_id);
        if (!grown) { st = vf_fail(VF_ERR_OOM, "generate: out of memory"); goto done; }
        rec_id = grown;
        if ((st = vf_record_flow_ids(&merged[c], flow_id + flows, n_rec, rec_id + from[c]))) goto done;
        flows += merged[c].n_flows;
        n_ids += gen[c].n_flows;
    }
    from[N] = syn->n;
    /* before the label quota, so that the records the lengths add get their share */
    vf_flow_lengths_stats ls;
    if ((st = vf_flow_lengths(&J->enc, merged, N, syn, from, &rec_id, &src_rec, &ls))) goto done;
    if (ls.applied)
        vf_run_say(&J->L, VF_PHASE_GENERATE, -1, "flow lengths: %lld of %lld flows got fewer records and %lld more, "
            "with the training lengths; %lld records became %lld", (long long)ls.shortened, (long long)ls.rows,
            (long long)ls.lengthened, (long long)ls.records_before, (long long)ls.records_after);
    /* after the lengths (a part's last record), before what counts the records inside their windows */
    vf_carried_gaps_stats gs;
    if ((st = vf_carried_gaps(&J->enc, syn, from, rec_id, &gs))) goto done;
    if (gs.applied)
        vf_run_say(&J->L, VF_PHASE_GENERATE, -1, "carried gaps: %lld flow parts after a part in an earlier chunk "
            "got the training's gaps by rank; %lld moved, %lld of them held inside their chunk's window",
            (long long)gs.parts, (long long)gs.moved, (long long)gs.clamped);
    if ((st = vf_quota_record_classes(&J->enc, merged, N, syn, from, src_rec))) goto done;
    /* the same records as the label quota: those inside their windows, after the carried gaps */
    int64_t n_ranked;
    int n_rank_fields;
    if ((st = vf_rank_record_values(&J->enc, merged, N, syn, from, src_rec, &n_ranked, &n_rank_fields))) goto done;
    if (n_rank_fields)
        vf_run_say(&J->L, VF_PHASE_GENERATE, -1, "rank decode: %d field%s of %lld records ranked again with the "
            "records flow lengths copied", n_rank_fields, n_rank_fields > 1 ? "s" : "", (long long)n_ranked);
    /* before fresh 5-tuples: a flow given another host may now share a 5-tuple */
    vf_popularity_stats ps;
    if ((st = vf_host_popularity(&J->enc, syn, rec_id, n_ids, from, &ps))) goto done;
    if (ps.fields)
        vf_run_say(&J->L, VF_PHASE_GENERATE, -1, "host popularity: %lld addresses in %d field%s became %lld with the "
            "training curve; %lld flows moved host", (long long)ps.hosts_before, ps.fields, ps.fields > 1 ? "s" : "",
            (long long)ps.hosts_after, (long long)ps.flows_moved);
    if (rc->fresh_5tuples) {
        vf_fresh_stats fs;
        if ((st = vf_fresh_5tuples(syn, rec_id, n_ids, &fs))) goto done;
        vf_run_say(&J->L, VF_PHASE_GENERATE, -1, "fresh 5-tuples: %lld of %lld flows decoded to the 5-tuple of an "
            "earlier flow; %lld got the next free client port, %lld have no port to move and share it",
            (long long)(fs.moved + fs.shared), (long long)fs.flows, (long long)fs.moved, (long long)fs.shared);
    }
    /* NetShare's per_chunk truncation: a chunk's model speaks only for its window */
    size_t cut = vf_truncate_windows(syn, from, J->enc.chunk_begin, N);
    if ((st = vf_trace_sort_time(syn))) goto done;
    vf_run_say(&J->L, VF_PHASE_GENERATE, -1, "%lld flows after the merge, %zu records (%zu outside their chunk's window "
        "dropped) in %.1f s", (long long)flows, syn->n, cut, vf_now_s() - t0);
    if (syn->n == 0) { st = vf_fail(VF_ERR_FORMAT, "generate: the model produced no records"); goto done; }
    if (out_path) {
        if (!strcmp(S->output, "pcap")) {
            st = vf_trace_write_pcap(out_path, syn);
        } else {
            /* the input's CSV layout when it was a CSV; NetShare's otherwise */
            vf_csv_layout lay;
            bool have_lay = false;
            if (!rc->as_flows) {
                vf_trace head;
                memset(&head, 0, sizeof head);
                vf_read_options ro = {0};
                ro.max_records = 1;
                if (rc->data.has_columns) ro.layout = &rc->data.layout;
                if (vf_trace_read(S->data, &ro, &head) == VF_OK && head.layout.n_cols) {
                    lay = head.layout;
                    have_lay = true;
                }
                vf_trace_free(&head);
            }
            st = vf_trace_write_csv(out_path, syn, have_lay ? &lay : NULL);
        }
        if (st) goto done;
        vf_run_say(&J->L, VF_PHASE_WRITE, -1, "wrote %s (%zu records)", out_path, syn->n);
    }
done:
    free(flow_id);
    free(rec_id);
    free(src_rec);
    free(from);
    if (merged) vf_encoded_free(merged, N);
    if (gen) {
        for (int c = 0; c < N; c++) { free(gen[c].attr); free(gen[c].feat); free(gen[c].gen_flag); }
        free(gen);
    }
    if (cond) {
        for (int c = 0; c < N; c++) { free(cond[c].attr); free(cond[c].feat); free(cond[c].gen_flag); }
        free(cond);
    }
    free(n);
    if (st) vf_trace_free(syn);
    return st;
}

/* ------------------------------------------------------------- entry points */

vf_status vf_pipeline_train(const vf_run_config *rc_in, const vf_pipeline_opts *o, bool *stopped) {
    *stopped = false;
    vf_run_config *rc = malloc(sizeof *rc);
    if (!rc) return vf_fail(VF_ERR_OOM, "out of memory");
    *rc = *rc_in;
    vf_status rs = vf_run_config_resolve(rc);
    if (rs) { free(rc); return rs; }
    job J;
    memset(&J, 0, sizeof J);
    J.rc = rc;
    J.dir = o->run_dir;
    vf_status st = train_job(&J, o, stopped);
    if (vf_par_rank() > 0) {
        /* rank 0 reports (the agreed status is the same on every rank) */
    } else if (st) vf_run_say(&J.L, VF_PHASE_TRAIN, -1, "error: %s", vf_last_error());
    else if (!*stopped) vf_run_say(&J.L, VF_PHASE_DONE, -1, "trained: %s", J.dir);
    char keep[2048];
    snprintf(keep, sizeof keep, "%s", vf_last_error());
    job_free(&J);
    free(rc);
    if (st) vf_fail(st, "%s", keep);
    return st;
}

vf_status vf_pipeline_generate(const char *run_dir, int64_t count, const char *out_path,
                               const vf_pipeline_opts *o, bool *stopped) {
    job J;
    memset(&J, 0, sizeof J);
    J.dir = run_dir;
    *stopped = false;
    vf_run_config *rcp = malloc(sizeof *rcp);
    if (!rcp) return vf_fail(VF_ERR_OOM, "out of memory");
    vf_status st = vf_run_state_load(run_dir, &J.state);
    if (st) { free(rcp); return st; }
    /* the writer picks the format from the run, not from the name: refuse a
     * name that says otherwise rather than write pcap bytes into x.csv */
    const char *dot = out_path ? strrchr(out_path, '.') : NULL;
    if (dot && !strchr(dot, '/')) {
        bool says_csv = !strcasecmp(dot, ".csv");
        bool says_pcap = !strcasecmp(dot, ".pcap") || !strcasecmp(dot, ".pcapng");
        bool is_pcap = !strcmp(J.state.output, "pcap");
        if ((says_csv && is_pcap) || (says_pcap && !is_pcap)) {
            vf_run_state_free(&J.state);
            free(rcp);
            return vf_fail(VF_ERR_ARG, "%s: this run writes %s (name it .%s)", out_path,
                           is_pcap ? "a pcap" : "a flow CSV", is_pcap ? "pcap" : "csv");
        }
    }
    char p[4200];
    vf_run_path(p, sizeof p, run_dir, "config.cfg");
    size_t n;
    char *text = vf_read_file(p, &n);
    if (!text) { vf_run_state_free(&J.state); free(rcp); return vf_fail(VF_ERR_IO, "%s: cannot open", p); }
    /* parsed under the original name so that relative paths mean what they
     * meant, with the --set settings the run was trained with */
    char *sets[VF_RUN_MAX_SETTINGS], *ov = NULL;
    int n_sets = 0;
    vf_run_path(p, sizeof p, run_dir, "overrides.txt");
    if ((ov = vf_read_file(p, &n)))
        for (char *save = NULL, *line = strtok_r(ov, "\n", &save); line && n_sets < VF_RUN_MAX_SETTINGS;
             line = strtok_r(NULL, "\n", &save))
            sets[n_sets++] = line;
    st = vf_run_config_parse_with(J.state.config, text, (const char *const *)sets, n_sets, rcp);
    free(ov);
    free(text);
    if (!st) st = vf_run_config_resolve(rcp);
    if (st) { vf_run_state_free(&J.state); free(rcp); return st; }
    J.rc = rcp;
    vf_run_log_open(&J.L, o, run_dir);
    vf_run_path(p, sizeof p, run_dir, "encoder.txt");
    vf_trace syn;
    memset(&syn, 0, sizeof syn);
    if (!(st = vf_encoder_load(p, &J.enc))) {
        J.have_enc = true;
        if (!(st = open_backend(rcp->backend, &J.L, &J.be)))
            st = generate_job(&J, o, count, out_path, &syn, stopped);
    }
    vf_trace_free(&syn);
    char keep[2048];
    snprintf(keep, sizeof keep, "%s", vf_last_error());
    if (st) vf_run_say(&J.L, VF_PHASE_GENERATE, -1, "error: %s", keep);
    job_free(&J);
    free(rcp);
    if (st) vf_fail(st, "%s", keep);
    return st;
}

vf_status vf_pipeline_run(const vf_run_config *rc_in, const vf_pipeline_opts *o, bool *stopped, char *report_path) {
    *stopped = false;
    vf_run_config *rc = malloc(sizeof *rc);
    if (!rc) return vf_fail(VF_ERR_OOM, "out of memory");
    *rc = *rc_in;
    vf_status rs = vf_run_config_resolve(rc);
    if (rs) { free(rc); return rs; }
    job J;
    memset(&J, 0, sizeof J);
    J.rc = rc;
    J.dir = o->run_dir;
    vf_trace syn;
    memset(&syn, 0, sizeof syn);
    vf_status st = train_job(&J, o, stopped);
    if (st || *stopped) goto done;
    char out[4200];
    vf_run_path(out, sizeof out, J.dir, !strcmp(J.state.output, "pcap") ? "synthetic.pcap" : "synthetic.csv");
    if ((st = generate_job(&J, o, rc->count, out, &syn, stopped)) || *stopped) goto done;
    if (rc->evaluate && vf_par_rank() == 0) {
        /* a streamed training did not keep the trace: the metrics need it */
        if (J.real.n == 0 && (st = ingest(rc, &J.L, &J.real))) goto done;
        vf_eval_dp dp = {0};
        if (J.have_dp) {
            dp = (vf_eval_dp){.on = true, .epsilon = J.dp_spent, .target = J.dp.target, .delta = J.dp.delta,
                              .sigma = J.dp.sigma, .clip = J.dp.clip};
            vf_copy_str(dp.unit, sizeof dp.unit, rc->privacy.unit);
        }
        st = vf_run_evaluate(rc, &J.L, J.dir, &J.real, J.held.n ? &J.held : NULL, &syn, J.state.data, out, &dp,
                             report_path);
    }
done:
    /* every rank returns rank 0's result (and rank 0's error when one failed) */
    st = vf_par_agree(st, stopped, &J.L);
    if (!st && !*stopped && vf_par_rank() == 0) vf_run_say(&J.L, VF_PHASE_DONE, -1, "finished: %s", J.dir);
    char keep[2048];
    snprintf(keep, sizeof keep, "%s", vf_last_error());
    if (st && vf_par_rank() == 0) vf_run_say(&J.L, VF_PHASE_DONE, -1, "error: %s", keep);
    vf_trace_free(&syn);
    job_free(&J);
    free(rc);
    if (st) vf_fail(st, "%s", keep);
    return st;
}
