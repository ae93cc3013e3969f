/* The trainer (trainer.h): driver registry, metrics, opening a model on a
 * backend, binding data, the batch sampler, the training loop and sampling.
 * Checkpoints are in checkpoint.c, the algorithms in driver_*.c. */
#include "train/trainer_internal.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ metrics */

void vf_metrics_set(vf_metrics *ms, const char *name, double value) {
    for (int i = 0; i < ms->n; i++)
        if (!strcmp(ms->m[i].name, name)) { ms->m[i].value = value; return; }
    if (ms->n == VF_MAX_METRICS) return;
    size_t n = strlen(name), cap = sizeof ms->m[0].name;
    if (n >= cap) n = cap - 1; /* names are cut, not refused: metrics are for people */
    memcpy(ms->m[ms->n].name, name, n);
    ms->m[ms->n].name[n] = 0;
    ms->m[ms->n++].value = value;
}

double vf_metrics_get(const vf_metrics *ms, const char *name, double def) {
    for (int i = 0; ms && i < ms->n; i++)
        if (!strcmp(ms->m[i].name, name)) return ms->m[i].value;
    return def;
}

const char *vf_metrics_format(const vf_metrics *ms, char *buf, size_t len) {
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; ms && i < ms->n && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s%s %.4g", i ? " " : "", ms->m[i].name, ms->m[i].value);
    return buf;
}

/* ------------------------------------------------------------------ drivers */

extern const vf_driver vf_driver_wgan_gp, vf_driver_supervised, vf_driver_ddgan, vf_driver_ddpm, vf_driver_timegan;

#define MAX_DRIVERS 32
static const vf_driver *drivers[MAX_DRIVERS];
static int n_drivers;

static void builtin_drivers(void) {
    if (n_drivers) return;
    drivers[n_drivers++] = &vf_driver_supervised;
    drivers[n_drivers++] = &vf_driver_wgan_gp;
    drivers[n_drivers++] = &vf_driver_ddgan;
    drivers[n_drivers++] = &vf_driver_ddpm;
    drivers[n_drivers++] = &vf_driver_timegan;
}

vf_status vf_driver_register(const vf_driver *d) {
    builtin_drivers();
    if (!d || !d->name || !d->configure || !d->step || d->persist_size > d->state_size)
        return vf_fail(VF_ERR_ARG, "driver_register: a driver needs a name, configure, step and persist_size <= state_size");
    if (vf_driver_find(d->name)) return vf_fail(VF_ERR_ARG, "driver_register: '%s' is registered already", d->name);
    if (n_drivers == MAX_DRIVERS) return vf_fail(VF_ERR_ARG, "driver_register: at most %d drivers", MAX_DRIVERS);
    drivers[n_drivers++] = d;
    return VF_OK;
}

const vf_driver *vf_driver_find(const char *name) {
    builtin_drivers();
    for (int i = 0; name && i < n_drivers; i++)
        if (!strcmp(drivers[i]->name, name)) return drivers[i];
    return NULL;
}

static vf_status find_driver(const vf_model *m, const vf_driver **out) {
    const char *a = vf_model_algorithm(m);
    *out = vf_driver_find(a);
    if (*out) return VF_OK;
    char all[512], sug[96], w[600];
    const char *names[MAX_DRIVERS];
    size_t k = 0;
    all[0] = 0;
    for (int i = 0; i < n_drivers && k < sizeof all; i++) {
        names[i] = drivers[i]->name;
        k += (size_t)snprintf(all + k, sizeof all - k, "%s%s", i ? ", " : "", drivers[i]->name);
    }
    if (!strcmp(a, "none"))
        return vf_fail(VF_ERR_FORMAT, "%s: no training group: training = { algorithm = \"...\"; } names the driver "
                       "(one of: %s)", vf_model_path(m), all);
    return vf_fail(VF_ERR_FORMAT, "%s: unknown training algorithm '%s'%s; expected one of: %s",
                   vf_model_training_where(m, "algorithm", w, sizeof w), a, vf_suggest(a, names, n_drivers, sug, sizeof sug),
                   all);
}

static vf_status configure(vf_model *m, const vf_driver *d, void *state) {
    VF_TRY(d->configure(m, state));
    return vf_model_check_read(m, d->keys);
}

vf_status vf_driver_check(vf_model *m) {
    const vf_driver *d;
    VF_TRY(find_driver(m, &d));
    void *state = calloc(1, d->state_size + 1);
    if (!state) return vf_fail(VF_ERR_OOM, "out of memory");
    vf_status st = configure(m, d, state);
    if (d->close) d->close(state);
    free(state);
    return st;
}

vf_status vf_driver_need_program(const vf_model *m, const char *driver, const char *name, bool want_loss, int *out) {
    int p = vf_model_program(m, name);
    *out = p;
    if (p < 0)
        return vf_fail(VF_ERR_FORMAT, "%s: algorithm '%s' needs a program named '%s' (%s)", vf_model_path(m), driver, name,
                       want_loss ? "loss = ...; update = [...]" : "outputs = [...]");
    int n;
    const vf_prog_desc *d = vf_model_programs(m, &n);
    if (want_loss && d[p].n_upd == 0)
        return vf_fail(VF_ERR_FORMAT, "%s: program '%s' must minimise a loss and update networks for algorithm '%s'",
                       vf_model_path(m), name, driver);
    return VF_OK;
}

/* ---------------------------------------------------------------- privacy */

double vf_privacy_expected_batch(int64_t rows, double want) {
    if (want > 0) return want + 7 * sqrt(want) + 1 <= (double)rows ? want : 0;
    double L = 0;
    for (int64_t l = 1; l <= rows; l++)
        if ((double)l + 7 * sqrt((double)l) + 1 <= (double)rows) L = (double)l;
    return L;
}

static vf_status need_privacy_plan(const vf_model *m, const vf_driver *d) {
    if (d->privacy_plan) return VF_OK;
    return vf_fail(VF_ERR_UNSUPPORTED, "%s: algorithm '%s' cannot train privately (no DP-SGD plan; privacy runs "
                   "support wgan_gp, ddgan, ddpm and supervised)", vf_model_path(m), d->name);
}

vf_status vf_driver_privacy_plan(vf_model *m, vf_privacy_plan *out) {
    const vf_driver *d;
    VF_TRY(find_driver(m, &d));
    VF_TRY(need_privacy_plan(m, d));
    void *state = calloc(1, d->state_size + 1);
    if (!state) return vf_fail(VF_ERR_OOM, "out of memory");
    vf_status st = configure(m, d, state);
    memset(out, 0, sizeof *out);
    if (!st) d->privacy_plan(state, out);
    if (d->close) d->close(state);
    free(state);
    return st;
}

/* Privacy: the driver's plan, every program that reads the data declared
 * private in the model, the rewrite, the expected batch. */
static vf_status privatise(vf_trainer *t) {
    VF_TRY(need_privacy_plan(t->m, t->drv));
    t->drv->privacy_plan(t->state, &t->plan);
    int n;
    const vf_prog_desc *d = vf_model_programs(t->m, &n);
    for (int k = 0; k < t->plan.n_reads; k++) {
        int p = vf_model_program(t->m, t->plan.reads_data[k]);
        if (p >= 0 && !d[p].private_data)
            return vf_fail(VF_ERR_FORMAT, "%s: privacy: program '%s' reads the training data (%s) but the model does not "
                           "declare it private = true", vf_model_path(t->m), d[p].name, t->plan.why);
    }
    for (int p = 0; p < n; p++) {
        bool listed = false;
        for (int k = 0; k < t->plan.n_reads; k++) listed |= !strcmp(d[p].name, t->plan.reads_data[k]);
        if (d[p].private_data && !listed)
            return vf_fail(VF_ERR_FORMAT, "%s: privacy: program '%s' is declared private but algorithm '%s' does not run "
                           "it on the data (%s)", vf_model_path(t->m), d[p].name, t->drv->name, t->plan.why);
    }
    VF_TRY(vf_model_make_private(t->m));
    const vf_graph *G = vf_model_graph(t->m);
    int64_t rows = t->dp_rows = vf_gnode_numel(&G->nodes[vf_graph_find(G, VF_G_INPUT, "batch_mask")]);
    t->expected_batch = vf_privacy_expected_batch(rows, t->priv.expected_batch);
    if (!(t->expected_batch > 0))
        return vf_fail(VF_ERR_ARG, "%s: privacy: a batch of %lld rows has no room for Poisson batches of expected size "
                       "%g (needs L + 7 sqrt(L) + 1 <= rows); raise dims.batch or lower privacy.expected_batch",
                       vf_model_path(t->m), (long long)rows, t->priv.expected_batch);
    d = vf_model_programs(t->m, &n);
    t->prog_private = calloc((size_t)n + 1, sizeof(bool));
    if (!t->prog_private) return vf_fail(VF_ERR_OOM, "out of memory");
    for (int p = 0; p < n; p++) t->prog_private[p] = d[p].private_data;
    return VF_OK;
}

static vf_status write_input(vf_trainer *t, const char *name, float v) {
    return vf_exec_write(t->x, vf_graph_find(vf_model_graph(t->m), VF_G_INPUT, name), &v, sizeof v);
}

/* C, loss_scale / L and sigma C / L (the rewrite's run-time inputs). */
static vf_status write_privacy_inputs(vf_trainer *t) {
    double B = (double)t->dp_rows, L = t->expected_batch;
    VF_TRY(write_input(t, VF_DP_CLIP_INPUT, (float)t->priv.clip));
    VF_TRY(write_input(t, VF_DP_ROW_SCALE_INPUT, (float)(B / L)));
    return write_input(t, VF_DP_NOISE_STD_INPUT, t->priv.sigma > 0 ? (float)(t->priv.sigma * t->priv.clip / L) : 0.0f);
}

vf_status vf_trainer_privacy(const vf_trainer *t, vf_privacy_spent *out) {
    memset(out, 0, sizeof *out);
    if (!t->priv.enabled) return vf_fail(VF_ERR_ARG, "trainer: not a privacy run");
    out->q = t->data ? t->samp.rate : 0;   /* q = L / n needs the data */
    out->sigma = t->priv.sigma;
    out->sigma_eff = t->priv.sigma / sqrt((double)t->plan.runs_per_draw);
    out->expected_batch = t->expected_batch;
    out->batch_rows = t->dp_rows;
    out->steps = t->iter * t->plan.draws_per_iter;
    out->plan = t->plan;
    return VF_OK;
}

/* ------------------------------------------------------------------- open */

vf_status vf_trainer_open(const vf_trainer_opts *o, vf_trainer **out) {
    if (!out) return vf_fail(VF_ERR_ARG, "trainer_open: out is NULL");
    *out = NULL;
    if (!o || !o->model || !o->be) return vf_fail(VF_ERR_ARG, "trainer_open: a model file and a backend are required");
    if (o->batching == VF_BATCH_POISSON && !(o->poisson_rate > 0 && o->poisson_rate <= 1))
        return vf_fail(VF_ERR_ARG, "trainer_open: Poisson sampling needs a rate in (0, 1] (got %g)", o->poisson_rate);
    if (o->privacy.enabled && !(o->privacy.clip > 0 && o->privacy.sigma >= 0 && isfinite(o->privacy.sigma) &&
                                o->privacy.expected_batch >= 0))
        return vf_fail(VF_ERR_ARG, "trainer_open: privacy needs clip > 0, a finite sigma >= 0 and expected_batch >= 0 "
                       "(got %g, %g, %g)", o->privacy.clip, o->privacy.sigma, o->privacy.expected_batch);
    vf_trainer *t = calloc(1, sizeof *t);
    if (!t) return vf_fail(VF_ERR_OOM, "trainer_open: out of memory");
    t->be = o->be;
    t->seed = o->seed;
    t->priv = o->privacy;
    t->samp.kind = o->privacy.enabled ? VF_BATCH_POISSON : o->batching;
    t->samp.rate = o->privacy.enabled ? 1.0 : o->poisson_rate;
    t->samp.state = o->seed ^ 0x5DEECE66Dull;
    vf_status st = vf_model_load_env(o->model, &o->env, &t->m);
    if (!st) st = find_driver(t->m, &t->drv);
    if (!st && !(t->state = calloc(1, t->drv->state_size + 1))) st = vf_fail(VF_ERR_OOM, "trainer_open: out of memory");
    if (!st) st = configure(t->m, t->drv, t->state);
    if (!st && t->priv.enabled) st = privatise(t);
    if (!st) {
        vf_exec_opts eo = {.fuse = true, .plan = true, .capture = true, .seed = o->seed};
        st = vf_model_compile(t->m, o->be, &eo, &t->x);
    }
    if (!st && t->priv.enabled) st = write_privacy_inputs(t);
    t->mask_node = -1;
    if (!st) {
        const vf_graph *G = vf_model_graph(t->m);
        t->mask_node = vf_graph_find(G, VF_G_INPUT, "batch_mask");
        if (t->samp.kind == VF_BATCH_POISSON && t->mask_node < 0)
            st = vf_fail(VF_ERR_FORMAT, "%s: Poisson batches have a variable size: the model needs an input batch_mask "
                         "[batch] (1 for real rows, 0 for padding) to weight its losses", o->model);
    }
    if (st) {
        vf_trainer_close(t);
        return st;
    }
    *out = t;
    return VF_OK;
}

static void free_fields(vf_trainer *t) {
    for (int k = 0; t->data && k < t->data->n_fields; k++) free(t->field_buf ? t->field_buf[k] : NULL);
    free(t->field_buf);
    free(t->field_node);
    free(t->mask_buf);
    free(t->batch_idx);
    t->field_buf = NULL;
    t->field_node = NULL;
    t->mask_buf = NULL;
    t->batch_idx = NULL;
    t->data = NULL;
}

static void drop_published(vf_trainer *t) {
    for (int k = 0; k < t->n_published; k++) free(t->published[k].data);
    t->n_published = 0;
}

void vf_trainer_close(vf_trainer *t) {
    if (!t) return;
    drop_published(t);
    if (t->drv && t->drv->close && t->state) t->drv->close(t->state);
    free_fields(t);
    vf_exec_destroy(t->x);
    vf_model_destroy(t->m);
    free(t->samp.perm);
    free(t->state);
    free(t->prog_private);
    free(t);
}

vf_model *vf_trainer_model(const vf_trainer *t) { return t->m; }
vf_exec *vf_trainer_exec(const vf_trainer *t) { return t->x; }
const char *vf_trainer_algorithm(const vf_trainer *t) { return t->drv->name; }
int64_t vf_trainer_iteration(const vf_trainer *t) { return t->iter; }
int vf_trainer_program(const vf_trainer *t, const char *name) { return vf_exec_program(t->x, name); }

/* ------------------------------------------------------------------ sampler */

static void sampler_epoch(vf_sampler *s) {
    s->epoch_state = s->state;
    for (int64_t i = 0; i < s->n; i++) s->perm[i] = i;
    for (int64_t i = s->n - 1; i > 0; i--) {
        int64_t j = (int64_t)(vf_splitmix64(&s->state) % (uint64_t)(i + 1));
        int64_t tmp = s->perm[i];
        s->perm[i] = s->perm[j];
        s->perm[j] = tmp;
    }
    s->pos = 0;
}

/* Ready for a dataset of n examples: keeps a restored state for the same n
 * (resume), starts from the seed otherwise. */
vf_status vf_sampler_bind(vf_trainer *t, int64_t n) {
    vf_sampler *s = &t->samp;
    if (t->priv.enabled) {
        if (t->expected_batch > (double)n)
            return vf_fail(VF_ERR_ARG, "trainer: privacy: %lld examples, fewer than the expected batch %g", (long long)n,
                           t->expected_batch);
        s->rate = t->expected_batch / (double)n;
    }
    if (s->kind == VF_BATCH_POISSON) {
        if (s->n != n) {
            s->n = n;
            s->state = t->seed ^ 0x5DEECE66Dull;
        }
        return VF_OK;
    }
    if (s->n != n || !s->perm) {
        int64_t *p = realloc(s->perm, (size_t)n * sizeof(int64_t));
        if (!p) return vf_fail(VF_ERR_OOM, "trainer: out of memory (sampler of %lld examples)", (long long)n);
        s->perm = p;
        if (s->n != n) {
            s->n = n;
            s->state = t->seed ^ 0x5DEECE66Dull;
            s->ready = false;
        }
    }
    if (!s->ready) {
        sampler_epoch(s);
        s->ready = true;
    } else {
        /* regenerate the current permutation from its start state */
        int64_t pos = s->pos;
        s->state = s->epoch_state;
        sampler_epoch(s);
        s->pos = pos;
    }
    return VF_OK;
}

/* The next example of a shuffled epoch. */
static int64_t sampler_next(vf_sampler *s) {
    if (s->pos == s->n) sampler_epoch(s);
    return s->perm[s->pos++];
}

/* Poisson batch: each example joins with probability q, drawn by geometric
 * skips (O(batch) per step). Writes up to cap indices; returns the count, or
 * -1 when more than cap joined. */
static int64_t sampler_poisson(vf_sampler *s, int64_t *idx, int64_t cap) {
    int64_t k = 0;
    double q = s->rate, lq = q < 1 ? log1p(-q) : 0;
    for (int64_t i = -1;;) {
        int64_t skip = 0;
        if (q < 1) {
            double u = ((double)(vf_splitmix64(&s->state) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
            double g = floor(log(u) / lq);
            skip = g > (double)s->n ? s->n : (int64_t)g;
        }
        i += skip + 1;
        if (i >= s->n) break;
        if (k == cap) return -1;
        idx[k++] = i;
    }
    return k;
}

vf_status vf_trainer_bind(vf_trainer *t, const vf_dataset *d) {
    if (!t || !d || d->n < 1 || d->n_fields < 1 || !d->fields || !d->fill)
        return vf_fail(VF_ERR_ARG, "trainer_bind: a dataset needs n >= 1 examples, fields and a fill function");
    free_fields(t);
    t->field_node = calloc((size_t)d->n_fields, sizeof(int));
    t->field_buf = calloc((size_t)d->n_fields, sizeof(float *));
    if (!t->field_node || !t->field_buf) return vf_fail(VF_ERR_OOM, "trainer_bind: out of memory");
    t->data = d;
    const vf_graph *G = vf_model_graph(t->m);
    for (int k = 0; k < d->n_fields; k++) {
        const vf_data_field *f = &d->fields[k];
        int id = f->input ? vf_model_node(t->m, f->input) : -1;
        if (id < 0 || G->nodes[id].op != VF_G_INPUT)
            return vf_fail(VF_ERR_FORMAT, "%s: the data has a field '%s' but the model has no input of that name",
                           vf_model_path(t->m), f->input ? f->input : "?");
        const vf_gnode *N = &G->nodes[id];
        int64_t rows = vf_gnode_rows(N), cols = vf_gnode_numel(N) / rows;
        if (k == 0) t->batch = rows;
        if (rows != t->batch || cols != f->width || N->dtype != VF_F32) {
            char sh[48];
            return vf_fail(VF_ERR_FORMAT, "%s: input '%s' is %s, the data's field is [%lld, %lld] float32",
                           vf_model_path(t->m), f->input, vf_gnode_shape_str(N, sh, sizeof sh), (long long)t->batch,
                           (long long)f->width);
        }
        t->field_node[k] = id;
        if (!(t->field_buf[k] = malloc((size_t)(rows * cols) * sizeof(float))))
            return vf_fail(VF_ERR_OOM, "trainer_bind: out of memory");
    }
    if (t->mask_node >= 0) {
        const vf_gnode *N = &G->nodes[t->mask_node];
        if (vf_gnode_numel(N) != t->batch)
            return vf_fail(VF_ERR_FORMAT, "%s: batch_mask has %lld elements, a batch has %lld rows", vf_model_path(t->m),
                           (long long)vf_gnode_numel(N), (long long)t->batch);
        t->mask_buf = malloc((size_t)t->batch * sizeof(float));
        t->batch_idx = malloc((size_t)t->batch * sizeof(int64_t));
        if (!t->mask_buf || !t->batch_idx) return vf_fail(VF_ERR_OOM, "trainer_bind: out of memory");
    }
    return vf_sampler_bind(t, d->n);
}

bool vf_trainer_has_data(const vf_trainer *t) { return t->data != NULL; }

const float *vf_trainer_batch(const vf_trainer *t, const char *input) {
    for (int k = 0; t->data && input && k < t->data->n_fields; k++)
        if (t->data->fields[k].input && !strcmp(t->data->fields[k].input, input)) return t->field_buf[k];
    return NULL;
}

uint64_t vf_trainer_seed(const vf_trainer *t) { return t->seed; }

/* Privacy: the draw that just ended was read by exactly the plan's number
 * of private runs (else the accountant would under-count). */
static vf_status check_draw(const vf_trainer *t) {
    if (t->draws_this_iter > 0 && t->runs_this_draw != t->plan.runs_per_draw)
        return vf_fail(VF_ERR_ARG, "trainer: privacy: a Poisson batch was read by %d private runs, algorithm '%s' "
                       "plans %d", t->runs_this_draw, t->drv->name, t->plan.runs_per_draw);
    return VF_OK;
}

vf_status vf_trainer_next_batch(vf_trainer *t) {
    const vf_dataset *d = t->data;
    if (!d) return vf_fail(VF_ERR_ARG, "trainer: no data bound (vf_trainer_bind)");
    int64_t B = t->batch, rows = B;
    int64_t *idx = t->batch_idx;
    if (t->priv.enabled) {
        VF_TRY(check_draw(t));
        t->draws_this_iter++;
        t->runs_this_draw = 0;
    }
    if (t->samp.kind == VF_BATCH_POISSON) {
        rows = sampler_poisson(&t->samp, idx, B);
        if (rows < 0)
            return vf_fail(VF_ERR_ARG, "trainer: a Poisson batch (rate %g of %lld examples) drew more than the model's "
                           "batch of %lld rows; raise dims.batch to about rate * n + 6 sqrt(rate * n)", t->samp.rate,
                           (long long)d->n, (long long)B);
    }
    for (int64_t b = 0; b < B; b++) {
        bool real = b < rows;
        int64_t i = !real ? -1 : t->samp.kind == VF_BATCH_POISSON ? idx[b] : sampler_next(&t->samp);
        for (int k = 0; k < d->n_fields; k++) {
            float *dst = t->field_buf[k] + b * d->fields[k].width;
            if (real) d->fill(d->user, i, k, dst);
            else memset(dst, 0, (size_t)d->fields[k].width * sizeof(float));
        }
        if (t->mask_buf) t->mask_buf[b] = real ? 1.0f : 0.0f;
    }
    t->last_batch_rows = rows;
    for (int k = 0; k < d->n_fields; k++)
        VF_TRY(vf_exec_write(t->x, t->field_node[k], t->field_buf[k], (size_t)(B * d->fields[k].width) * sizeof(float)));
    if (t->mask_buf) VF_TRY(vf_exec_write(t->x, t->mask_node, t->mask_buf, (size_t)B * sizeof(float)));
    return VF_OK;
}

/* ------------------------------------------------------------------ running */

vf_status vf_trainer_run(vf_trainer *t, int prog, vf_metrics *out) {
    if (t->priv.enabled && !t->sampling && t->prog_private[prog]) {
        if (t->draws_this_iter == 0)
            return vf_fail(VF_ERR_ARG, "trainer: privacy: private program %s ran before a Poisson batch was drawn",
                           vf_exec_program_name(t->x, prog));
        t->runs_this_draw++;
    }
    VF_TRY(vf_exec_run(t->x, prog));
    const vf_prog_desc *d = vf_exec_desc(t->x, prog);
    if (!out || !d) return VF_OK;
    const vf_graph *G = vf_model_graph(t->m);
    for (int k = 0; k < d->n_out; k++) {
        const vf_gnode *N = &G->nodes[d->outs[k]];
        if (vf_gnode_numel(N) != 1 || !N->name) continue;
        float v;
        VF_TRY(vf_exec_read(t->x, prog, d->outs[k], &v, sizeof v));
        if (!isfinite(v))
            return vf_fail(VF_ERR_FORMAT, "training diverged at iteration %lld: %s (program %s) is %g",
                           (long long)t->iter + 1, N->name, d->name, (double)v);
        vf_metrics_set(out, N->name, v);
    }
    float gn;
    bool clips = false;
    for (int k = 0; k < d->n_transforms; k++) clips |= d->transforms[k].kind == VF_GT_CLIP_GLOBAL_NORM;
    if (clips && vf_exec_grad_norm(t->x, prog, &gn) == VF_OK) {
        char nm[64];
        snprintf(nm, sizeof nm, "%s.grad_norm", d->name);
        vf_metrics_set(out, nm, gn);
    }
    return VF_OK;
}

vf_status vf_trainer_step(vf_trainer *t, vf_metrics *out) {
    vf_metrics local;
    if (!out) out = &local;
    out->n = 0;
    if (t->sampling) return vf_fail(VF_ERR_ARG, "trainer_step: inside a sampling session (vf_trainer_sample_end first)");
    t->draws_this_iter = 0;
    t->runs_this_draw = 0;
    VF_TRY(t->drv->step(t, t->state, out));
    if (t->priv.enabled) {
        VF_TRY(check_draw(t));
        if (t->draws_this_iter != t->plan.draws_per_iter)
            return vf_fail(VF_ERR_ARG, "trainer: privacy: an iteration drew %d Poisson batches, algorithm '%s' plans %d",
                           t->draws_this_iter, t->drv->name, t->plan.draws_per_iter);
    }
    t->iter++;
    return VF_OK;
}

vf_status vf_trainer_train(vf_trainer *t, const vf_train_opts *o, bool *stopped) {
    if (!t || !o) return vf_fail(VF_ERR_ARG, "trainer_train: trainer and options are required");
    if (stopped) *stopped = false;
    if (o->iterations < 0) return vf_fail(VF_ERR_ARG, "trainer_train: iterations %lld < 0", (long long)o->iterations);
    t->iter = 0;
    if (o->resume && o->checkpoint && access(o->checkpoint, F_OK) == 0) VF_TRY(vf_trainer_load(t, o->checkpoint));
    double t0 = vf_now_s();
    vf_metrics ms = {0};
    vf_train_progress pr = {.total = o->iterations, .metrics = &ms};
    int every = o->progress_every > 0 ? o->progress_every : 1;
    while (t->iter < o->iterations) {
        if (o->stop && *o->stop) {
            if (o->checkpoint) VF_TRY(vf_trainer_save(t, o->checkpoint));
            if (stopped) *stopped = true;
            return VF_OK;
        }
        VF_TRY(vf_trainer_step(t, &ms));
        if (o->checkpoint && o->checkpoint_every > 0 && t->iter % o->checkpoint_every == 0)
            VF_TRY(vf_trainer_save(t, o->checkpoint));
        if (o->progress && (t->iter % every == 0 || t->iter == o->iterations)) {
            pr.iter = t->iter;
            pr.seconds = vf_now_s() - t0;
            o->progress(&pr, o->progress_user);
        }
    }
    return VF_OK;
}

/* ----------------------------------------------------------------- sampling */

vf_status vf_trainer_sample_begin(vf_trainer *t, uint64_t seed) {
    if (t->sampling) return vf_fail(VF_ERR_ARG, "trainer: a sampling session is open already");
    t->saved_runs = vf_exec_rng_runs(t->x);
    t->sampling = true;
    /* training uses counters < 2^30; each seed gets a range above */
    vf_exec_set_rng_runs(t->x, ((int64_t)1 << 30) + (int64_t)(vf_mix64(seed) & (((uint64_t)1 << 29) - 1)));
    return VF_OK;
}

vf_status vf_trainer_sample(vf_trainer *t, int prog) {
    if (!t->sampling) return vf_fail(VF_ERR_ARG, "trainer_sample: call vf_trainer_sample_begin first");
    if (prog < 0 || prog >= vf_exec_n_programs(t->x)) return vf_fail(VF_ERR_ARG, "trainer_sample: no program %d", prog);
    drop_published(t);
    if (t->drv->sample) return t->drv->sample(t, t->state, prog);
    return vf_exec_run(t->x, prog);
}

vf_status vf_trainer_publish(vf_trainer *t, int prog, const char *tensor, const float *src, int64_t n) {
    int id = vf_model_node(t->m, tensor);
    if (id < 0) return vf_fail(VF_ERR_ARG, "%s: no tensor '%s'", vf_model_path(t->m), tensor);
    const vf_gnode *N = &vf_model_graph(t->m)->nodes[id];
    if (vf_gnode_numel(N) != n)
        return vf_fail(VF_ERR_ARG, "trainer_publish: '%s' has %lld elements, got %lld", tensor,
                       (long long)vf_gnode_numel(N), (long long)n);
    if (t->n_published == (int)(sizeof t->published / sizeof t->published[0]))
        return vf_fail(VF_ERR_ARG, "trainer_publish: at most %d tensors", t->n_published);
    float *d = malloc((size_t)n * sizeof(float));
    if (!d) return vf_fail(VF_ERR_OOM, "trainer_publish: out of memory");
    memcpy(d, src, (size_t)n * sizeof(float));
    t->published[t->n_published].prog = prog;
    t->published[t->n_published].node = id;
    t->published[t->n_published].data = d;
    t->published[t->n_published++].n = n;
    return VF_OK;
}

void vf_trainer_sample_end(vf_trainer *t) {
    if (!t->sampling) return;
    drop_published(t);
    vf_exec_set_rng_runs(t->x, t->saved_runs);
    t->sampling = false;
}

vf_status vf_trainer_write(vf_trainer *t, const char *input, const void *src, size_t bytes) {
    int id = vf_model_node(t->m, input);
    if (id < 0) return vf_fail(VF_ERR_ARG, "%s: no input '%s'", vf_model_path(t->m), input);
    return vf_exec_write(t->x, id, src, bytes);
}

vf_status vf_trainer_read(vf_trainer *t, int prog, const char *tensor, void *dst, size_t bytes) {
    int id = vf_model_node(t->m, tensor);
    if (id < 0) return vf_fail(VF_ERR_ARG, "%s: no tensor '%s'", vf_model_path(t->m), tensor);
    for (int k = 0; k < t->n_published; k++)
        if (t->published[k].prog == prog && t->published[k].node == id) {
            if (bytes != (size_t)t->published[k].n * sizeof(float))
                return vf_fail(VF_ERR_ARG, "trainer_read: '%s' is %lld floats, asked for %zu bytes", tensor,
                               (long long)t->published[k].n, bytes);
            memcpy(dst, t->published[k].data, bytes);
            return VF_OK;
        }
    return vf_exec_read(t->x, prog, id, dst, bytes);
}
