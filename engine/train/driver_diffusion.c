/* Drivers `ddgan` (conditional denoising-diffusion GAN, Xiao et al. 2022, as
 * the seed report applies it to flows) and `ddpm` (Ho et al. 2020, with
 * DDIM-strided sampling), with categorical columns diffused by a discrete
 * process (multinomial or masked) or, as the seed did, by Gaussian noise.
 * The arithmetic is engine/train/diffusion.c; the networks, losses and the
 * differentiable posterior are the model file's (models/ddgan_body.inc,
 * models/ddpm_body.inc; dsl/README.md "Diffusion models" lists the inputs
 * these drivers write).
 *
 * A model diffuses x_0 = the concatenation of data fields, in one or two
 * stages (training.mode):
 *   joint        one stage, no prefix: x_0 = [real_attr | real_feat | real_flag]
 *                (the fields the model declares), nothing given
 *   conditional  stage "attr_": x_0 = real_attr; stage "feat_": x_0 =
 *                [real_feat | real_flag] given the attributes in the input
 *                cond_attr (the driver copies the real attributes there while
 *                training; sample_cond generates features for given ones)
 * Columns take their kind from the caller's segment tables (real_attr:
 * "attr", real_feat: "feat" per record; flags are continuous in [0, 1]):
 * softmax segments are categorical, the rest continuous. Continuous columns
 * diffuse in [-1, 1] (unit columns mapped by 2x - 1, as DDGAN's data); the
 * ddgan generator's x_0 estimate is its raw output there, and the softmax of
 * each softmax segment (scale/shift/lin inputs select per column). Records
 * after a flow's end get in-range values (gather_x0).
 *
 * ddgan samples read G's categorical columns as the one-hot of their
 * largest probability (G's randomness is z; drawing each segment from its
 * own softmax would make them independent). The G step's pairs are computed
 * on a worker thread while the D step runs.
 *
 * Host random numbers (time steps, forward noise, categorical draws) come
 * from Philox keyed by the seed and the program-run counter, so a resume
 * draws what an uninterrupted run would. Nothing else needs saving: the
 * driver has no persistent state. */
#include "train/diffusion.h"
#include "train/trainer.h"
#include "philox.h"
#include "util.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { CAT_GAUSSIAN, CAT_MULTINOMIAL, CAT_MASKED } cat_mode;
static const char *const cat_names[] = {"gaussian", "multinomial", "masked"};

typedef struct seg {
    int off, width;
    bool cat;        /* diffused by the discrete process */
    bool tanh;       /* continuous in [-1, 1] already */
    bool softmax;    /* a softmax head (categorical, or one-hot diffused as Gaussian) */
    int rec;         /* the record of real_feat it belongs to, -1 for other fields */
} seg;

typedef struct stage {
    char prefix[8];
    int n_fields;
    const char *fields[3];
    int64_t field_w[3];
    bool cond;                     /* reads cond_attr */
    bool mult_inputs;              /* the model declares the multinomial inputs (written even when unused:
                                    * device memory is not zeroed) */
    int64_t W, E;                  /* columns of x_0; time-embedding width */
    int n_segs, n_cat;             /* segments; categorical ones */
    seg *segs;
    float *scale, *shift;          /* [W]: data -> diffusion space, x * scale + shift (host) */
    float *hscale, *hshift, *lin;  /* [W]: ddgan's x0hat = heads(h) * hscale + hshift + h * lin */
    float *mult;                   /* [W]: 1 on multinomial columns */
    /* programs */
    int d_step, d_step_r1, g_step, train_step, denoise;
    /* host buffers [B * W] unless noted */
    float *x0, *xt, *xtp1, *c1, *c2, *sd, *lik, *ab, *prior, *temb /* [B * E] */, *out, *noise, *unif;
    float *w_eps /* [W] */, *w_cat;
} stage;

typedef struct diff_state {
    bool ddpm;
    cat_mode cat;
    int T, sample_steps;
    double eta;
    int64_t lazy_reg;
    vf_diffusion_schedule s;
    double *mask_w;                /* ddpm masked: ELBO weight per step, mean 1 */
    int64_t B;
    int n_stages;
    stage st[2];
    int sample, sample_cond;
    int cond_attr;                 /* node of cond_attr, -1 when none */
} diff_state;

/* ------------------------------------------------------------------ setup */

static const vf_gnode *input_node(vf_model *m, const char *name) {
    int id = vf_model_node(m, name);
    const vf_graph *G = vf_model_graph(m);
    return id >= 0 && G->nodes[id].op == VF_G_INPUT ? &G->nodes[id] : NULL;
}

/* The input P+name must exist with `numel` elements (shape described by what). */
static vf_status need_input(vf_model *m, const diff_state *d, const stage *S, const char *name, int64_t numel,
                            const char *what) {
    char nm[64];
    snprintf(nm, sizeof nm, "%s%s", S->prefix, name);
    const vf_gnode *N = input_node(m, nm);
    if (!N)
        return vf_fail(VF_ERR_FORMAT, "%s: algorithm '%s' writes an input '%s' %s; declare it (dsl/README.md, "
                       "\"Diffusion models\")", vf_model_path(m), d->ddpm ? "ddpm" : "ddgan", nm, what);
    if (vf_gnode_numel(N) != numel) {
        char sh[48];
        return vf_fail(VF_ERR_FORMAT, "%s: input '%s' is %s, algorithm '%s' writes %s (%lld elements)", vf_model_path(m), nm,
                       vf_gnode_shape_str(N, sh, sizeof sh), d->ddpm ? "ddpm" : "ddgan", what, (long long)numel);
    }
    return VF_OK;
}

static vf_status need_prog(vf_model *m, const diff_state *d, const stage *S, const char *name, bool loss, int *out) {
    char nm[64];
    snprintf(nm, sizeof nm, "%s%s", S->prefix, name);
    return vf_driver_need_program(m, d->ddpm ? "ddpm" : "ddgan", nm, loss, out);
}

/* Appends the segments of field f (width w, table tbl or none) at offset off. */
static vf_status add_segments(vf_model *m, stage *S, const char *field, const char *tbl, int64_t off, int64_t w,
                              cat_mode cat) {
    const vf_head_table *T = tbl ? vf_model_heads(m, tbl) : NULL;
    int64_t tw = 0;
    for (int k = 0; T && k < T->n; k++) tw += T->segs[k].width;
    if (T && (tw < 1 || w % tw))
        return vf_fail(VF_ERR_FORMAT, "%s: segment table '%s' covers %lld columns, input '%s' has %lld (not a multiple)",
                       vf_model_path(m), tbl, (long long)tw, field, (long long)w);
    int reps = T ? (int)(w / tw) : 1, n = T ? T->n * reps : 1;
    seg *ns = realloc(S->segs, (size_t)(S->n_segs + n) * sizeof *ns);
    if (!ns) return vf_fail(VF_ERR_OOM, "diffusion: out of memory");
    S->segs = ns;
    if (!T) {   /* continuous in [0, 1] (flags, or no table: `vkflow check`) */
        S->segs[S->n_segs++] = (seg){(int)off, (int)w, false, false, false, -1};
        return VF_OK;
    }
    for (int r = 0; r < reps; r++)
        for (int k = 0; k < T->n; k++) {
            const vf_head_seg *h = &T->segs[k];
            S->segs[S->n_segs++] = (seg){(int)(off + r * tw + h->offset), h->width,
                                         h->kind == VF_HEAD_SOFTMAX && cat != CAT_GAUSSIAN, h->kind == VF_HEAD_TANH,
                                         h->kind == VF_HEAD_SOFTMAX, !strcmp(field, "real_feat") ? r : -1};
        }
    return VF_OK;
}

static float *falloc(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

static vf_status setup_stage(vf_model *m, diff_state *d, stage *S) {
    int64_t B = d->B, W = 0;
    for (int k = 0; k < S->n_fields; k++) {
        const vf_gnode *N = input_node(m, S->fields[k]);
        if (!N)
            return vf_fail(VF_ERR_FORMAT, "%s: mode '%s' diffuses the data input '%s'; the model has none",
                           vf_model_path(m), d->n_stages == 2 ? "conditional" : "joint", S->fields[k]);
        if (vf_gnode_rows(N) != B)
            return vf_fail(VF_ERR_FORMAT, "%s: '%s' has %lld rows, the batch is %lld", vf_model_path(m), S->fields[k],
                           (long long)vf_gnode_rows(N), (long long)B);
        S->field_w[k] = vf_gnode_cols(N);
        const char *tbl = !strcmp(S->fields[k], "real_attr") ? "attr" : !strcmp(S->fields[k], "real_feat") ? "feat" : NULL;
        VF_TRY(add_segments(m, S, S->fields[k], tbl, W, S->field_w[k], d->cat));
        W += S->field_w[k];
    }
    S->W = W;
    char nm[64];
    snprintf(nm, sizeof nm, "%stemb", S->prefix);
    const vf_gnode *E = input_node(m, nm);
    if (!E || vf_gnode_rows(E) != B || vf_gnode_cols(E) < 2)
        return vf_fail(VF_ERR_FORMAT, "%s: algorithm '%s' writes the time embedding into an input '%s' [batch, E] "
                       "(E >= 2 sinusoidal columns)", vf_model_path(m), d->ddpm ? "ddpm" : "ddgan", nm);
    S->E = vf_gnode_cols(E);
    const char *bw = "[batch, W] (W = the diffused columns)", *w1 = "[W] (one value per diffused column)";
    VF_TRY(need_input(m, d, S, "x_t", B * W, bw));
    if (!d->ddpm) {
        VF_TRY(need_input(m, d, S, "scale", W, w1));
        VF_TRY(need_input(m, d, S, "shift", W, w1));
        VF_TRY(need_input(m, d, S, "lin", W, w1));
        const char *names[] = {"x_tp1", "c1", "c2", "sd", "lik", "ab", "prior"};
        /* the multinomial posterior's inputs only where it is used: a model
         * without them cannot run categorical = "multinomial" (models/ddgan_body.inc
         * vs ddgan_body_multinomial.inc) */
        int n_names = d->cat == CAT_MULTINOMIAL ? 7 : 4;
        snprintf(nm, sizeof nm, "%slik", S->prefix);
        if (d->cat == CAT_MULTINOMIAL && !input_node(m, nm))
            return vf_fail(VF_ERR_FORMAT, "%s: categorical = \"multinomial\" needs the multinomial posterior in the model "
                           "(inputs %slik, %sab, %sprior, %smult and the term that uses them: "
                           "models/ddgan_body_multinomial.inc, e.g. models/ddgan_multinomial_small.cfg)",
                           vf_model_path(m), S->prefix, S->prefix, S->prefix, S->prefix);
        for (int k = 0; k < n_names; k++) VF_TRY(need_input(m, d, S, names[k], B * W, bw));
        if (d->cat == CAT_MULTINOMIAL) VF_TRY(need_input(m, d, S, "mult", W, w1));
        snprintf(nm, sizeof nm, "%slik", S->prefix);
        S->mult_inputs = input_node(m, nm) != NULL;
        if (S->mult_inputs) {
            for (int k = 4; k < 7; k++) VF_TRY(need_input(m, d, S, names[k], B * W, bw));
            VF_TRY(need_input(m, d, S, "mult", W, w1));
        }
        VF_TRY(need_prog(m, d, S, "d_step", true, &S->d_step));
        VF_TRY(need_prog(m, d, S, "g_step", true, &S->g_step));
        snprintf(nm, sizeof nm, "%sd_step_r1", S->prefix);
        S->d_step_r1 = vf_model_program(m, nm);
        if (S->d_step_r1 >= 0) VF_TRY(need_prog(m, d, S, "d_step_r1", true, &S->d_step_r1));
    } else {
        VF_TRY(need_input(m, d, S, "eps", B * W, bw));
        VF_TRY(need_input(m, d, S, "x0", B * W, bw));
        VF_TRY(need_input(m, d, S, "w_cat", B * W, bw));
        VF_TRY(need_input(m, d, S, "w_eps", W, w1));
        VF_TRY(need_prog(m, d, S, "train_step", true, &S->train_step));
    }
    VF_TRY(need_prog(m, d, S, "denoise", false, &S->denoise));
    int n;
    const vf_prog_desc *pd = vf_model_programs(m, &n);
    const vf_graph *G = vf_model_graph(m);
    if (pd[S->denoise].n_out < 1 || vf_gnode_numel(&G->nodes[pd[S->denoise].outs[0]]) != B * W)
        return vf_fail(VF_ERR_FORMAT, "%s: program '%sdenoise' must output the network's %s [batch, %lld] first",
                       vf_model_path(m), S->prefix, d->ddpm ? "noise / logits estimate" : "x_0 estimate", (long long)W);
    int64_t BW = B * W;
    S->scale = falloc(W); S->shift = falloc(W); S->mult = falloc(W); S->w_eps = falloc(W);
    S->hscale = falloc(W); S->hshift = falloc(W); S->lin = falloc(W);
    S->x0 = falloc(BW); S->xt = falloc(BW); S->xtp1 = falloc(BW); S->c1 = falloc(BW); S->c2 = falloc(BW);
    S->sd = falloc(BW); S->lik = falloc(BW); S->ab = falloc(BW); S->prior = falloc(BW); S->out = falloc(BW);
    S->noise = falloc(BW); S->unif = falloc(2 * BW + B); S->w_cat = falloc(BW);
    S->temb = falloc(B * S->E);
    if (!S->scale || !S->shift || !S->hscale || !S->hshift || !S->lin || !S->mult || !S->w_eps || !S->x0 || !S->xt ||
        !S->xtp1 || !S->c1 || !S->c2 || !S->sd || !S->lik || !S->ab || !S->prior || !S->out || !S->noise || !S->unif ||
        !S->w_cat || !S->temb)
        return vf_fail(VF_ERR_OOM, "diffusion: out of memory");
    int n_cont = 0;
    for (int k = 0; k < S->n_segs; k++) {
        const seg *g = &S->segs[k];
        for (int c = g->off; c < g->off + g->width; c++) {
            S->scale[c] = g->cat || g->tanh ? 1.0f : 2.0f;
            S->shift[c] = g->cat || g->tanh ? 0.0f : -1.0f;
            /* continuous columns: G's output itself (a sigmoid or tanh head would have
             * to saturate to reach the many values at the range's ends); softmax
             * columns: the probabilities, mapped like the data */
            S->lin[c] = g->softmax ? 0.0f : 1.0f;
            S->hscale[c] = g->softmax ? S->scale[c] : 0.0f;
            S->hshift[c] = g->softmax ? S->shift[c] : 0.0f;
            S->mult[c] = g->cat && d->cat == CAT_MULTINOMIAL ? 1.0f : 0.0f;
            n_cont += !g->cat;
        }
    }
    /* ddpm's loss is mean(w_eps (h - eps)^2) + mean(w_cat x0 (-log p)) over
     * [B, W]: W / n_cont makes the first the MSE per continuous column, and
     * W / n_cat the second the cross-entropy per categorical segment */
    S->n_cat = 0;
    for (int k = 0; k < S->n_segs; k++) S->n_cat += S->segs[k].cat;
    for (int k = 0; k < S->n_segs; k++)
        for (int c = S->segs[k].off; c < S->segs[k].off + S->segs[k].width; c++)
            S->w_eps[c] = S->segs[k].cat ? 0.0f : (float)W / (float)(n_cont ? n_cont : 1);
    return VF_OK;
}

static void free_stage(stage *S) {
    float *bufs[] = {S->scale, S->shift, S->hscale, S->hshift, S->lin, S->mult, S->w_eps, S->x0, S->xt, S->xtp1, S->c1,
                     S->c2, S->sd, S->lik, S->ab, S->prior, S->out, S->noise, S->unif, S->w_cat, S->temb};
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++) free(bufs[k]);
    free(S->segs);
    memset(S, 0, sizeof *S);
}

static void diff_close(void *state) {
    diff_state *d = state;
    for (int k = 0; k < d->n_stages; k++) free_stage(&d->st[k]);
    vf_diffusion_schedule_free(&d->s);
    free(d->mask_w);
    d->mask_w = NULL;
    d->n_stages = 0;
}

static vf_status configure(vf_model *m, diff_state *d, bool ddpm) {
    d->ddpm = ddpm;
    const char *alg = ddpm ? "ddpm" : "ddgan", *mode, *cat;
    char w[600];
    int64_t T, steps;
    VF_TRY(vf_model_setting_int(m, "T", ddpm ? 2 : 1, ddpm ? 100000 : 64, ddpm ? 1000 : 4, &T));
    d->T = (int)T;
    VF_TRY(vf_model_setting_str(m, "mode", "conditional", &mode));
    VF_TRY(vf_model_setting_str(m, "categorical", "masked", &cat));
    int c = 0;
    while (c < 3 && strcmp(cat, cat_names[c])) c++;
    if (c == 3)
        return vf_fail(VF_ERR_FORMAT, "%s: training.categorical is '%s'; expected gaussian, multinomial or masked",
                       vf_model_training_where(m, "categorical", w, sizeof w), cat);
    d->cat = (cat_mode)c;
    if (ddpm && d->cat == CAT_MULTINOMIAL)
        return vf_fail(VF_ERR_FORMAT, "%s: ddpm diffuses categorical columns as 'masked' or 'gaussian'; the multinomial "
                       "posterior is built for ddgan", vf_model_training_where(m, "categorical", w, sizeof w));
    if (ddpm) {
        double b0, b1;
        VF_TRY(vf_model_setting_num(m, "beta_start", 1e-6, 0.5, 1e-4, &b0));
        VF_TRY(vf_model_setting_num(m, "beta_end", 1e-6, 0.999, 0.02, &b1));
        VF_TRY(vf_model_setting_int(m, "sample_steps", 1, T, T, &steps));
        VF_TRY(vf_model_setting_num(m, "eta", 0, 1, 1.0, &d->eta));
        d->sample_steps = (int)steps;
        VF_TRY(vf_ddpm_schedule(d->T, b0, b1, &d->s));
        /* ELBO weights of the masked loss, (keep_{t-1} - keep_t) / (1 - keep_t),
         * scaled to mean 1 over t so they sit beside the noise MSE */
        if (!(d->mask_w = calloc((size_t)d->T + 1, sizeof(double)))) return vf_fail(VF_ERR_OOM, "ddpm: out of memory");
        double sum = 0;
        for (int t = 1; t <= d->T; t++) sum += d->mask_w[t] = vf_masked_reveal(d->s.keep[t - 1], d->s.keep[t]);
        for (int t = 1; t <= d->T; t++) d->mask_w[t] *= d->T / sum;
    } else {
        double bmin, bmax;
        VF_TRY(vf_model_setting_num(m, "beta_min", 1e-6, 100, 0.1, &bmin));
        VF_TRY(vf_model_setting_num(m, "beta_max", 1e-6, 1000, 20, &bmax));
        VF_TRY(vf_model_setting_int(m, "lazy_reg", 1, 1000000, 10, &d->lazy_reg));
        VF_TRY(vf_ddgan_schedule(d->T, bmin, bmax, &d->s));
    }
    const vf_gnode *A = input_node(m, "real_attr");
    if (!A) return vf_fail(VF_ERR_FORMAT, "%s: algorithm '%s' needs the data input real_attr [batch, attr_dim]",
                           vf_model_path(m), alg);
    d->B = vf_gnode_rows(A);
    if (!strcmp(mode, "joint")) {
        d->n_stages = 1;
        stage *S = &d->st[0];
        const char *f[3] = {"real_attr", "real_feat", "real_flag"};
        for (int k = 0; k < 3; k++)
            if (input_node(m, f[k])) S->fields[S->n_fields++] = f[k];
    } else if (!strcmp(mode, "conditional")) {
        d->n_stages = 2;
        snprintf(d->st[0].prefix, sizeof d->st[0].prefix, "attr_");
        d->st[0].fields[d->st[0].n_fields++] = "real_attr";
        stage *S = &d->st[1];
        snprintf(S->prefix, sizeof S->prefix, "feat_");
        S->fields[S->n_fields++] = "real_feat";
        S->fields[S->n_fields++] = "real_flag";
        S->cond = true;
    } else {
        return vf_fail(VF_ERR_FORMAT, "%s: training.mode is '%s'; expected 'conditional' (attributes, then features "
                       "given them) or 'joint' (all fields in one diffusion)",
                       vf_model_training_where(m, "mode", w, sizeof w), mode);
    }
    for (int k = 0; k < d->n_stages; k++) VF_TRY(setup_stage(m, d, &d->st[k]));
    d->cond_attr = vf_model_node(m, "cond_attr");
    if (d->n_stages == 2 && (!input_node(m, "cond_attr") || vf_gnode_numel(input_node(m, "cond_attr")) != vf_gnode_numel(A)))
        return vf_fail(VF_ERR_FORMAT, "%s: mode 'conditional' gives the features stage its attributes in an input "
                       "cond_attr shaped like real_attr", vf_model_path(m));
    d->sample = vf_model_program(m, "sample");
    d->sample_cond = vf_model_program(m, "sample_cond");
    return VF_OK;
}

static vf_status ddgan_configure(vf_model *m, void *state) { return configure(m, state, false); }
static vf_status ddpm_configure(vf_model *m, void *state) { return configure(m, state, true); }

/* ------------------------------------------------------------- host noise */

/* n numbers of stream `stream` for the current program-run counter: normals
 * or uniforms in (0, 1). */
static void host_random(vf_trainer *t, uint32_t stream, bool normal, float *dst, int64_t n) {
    uint64_t key = vf_mix64(vf_trainer_seed(t) ^ 0xD1FFD1FFD1FFull);
    uint64_t base = (uint64_t)vf_exec_rng_runs(vf_trainer_exec(t)) << 26;
    for (int64_t i = 0; i < n; i += 4) {
        float o[4];
        vf_philox_block(key, stream, base + (uint64_t)(i / 4), normal, o);
        for (int k = 0; k < 4 && i + k < n; k++) dst[i + k] = o[k];
    }
}

/* index drawn from probabilities p[0..K) with uniform u */
static int draw(const float *p, int K, float u) {
    double s = 0, tot = 0;
    for (int k = 0; k < K; k++) tot += p[k];
    for (int k = 0; k < K; k++) {
        s += p[k];
        if (u * tot < s) return k;
    }
    return K - 1;
}

static void one_hot(float *x, int K, int k) {
    for (int j = 0; j < K; j++) x[j] = j == k ? 1.0f : 0.0f;
}

/* x_0 of the stage from the last batch, in diffusion space. Records after
 * a flow's end (flags [0, 0]) are zero in the data; decoding ignores them
 * (the flags say where a flow ends), so here they get values inside the
 * range instead, which a generator reaches without saturating: the middle
 * of a continuous column, class 0 of a categorical one. */
static vf_status gather_x0(vf_trainer *t, stage *S, int64_t B) {
    int64_t off = 0;
    const float *flags = NULL;
    for (int k = 0; k < S->n_fields; k++) {
        const float *src = vf_trainer_batch(t, S->fields[k]);
        if (!src) return vf_fail(VF_ERR_ARG, "diffusion: no data bound to '%s'", S->fields[k]);
        if (!strcmp(S->fields[k], "real_flag")) flags = src;
        for (int64_t b = 0; b < B; b++)
            memcpy(S->x0 + b * S->W + off, src + b * S->field_w[k], (size_t)S->field_w[k] * sizeof(float));
        off += S->field_w[k];
    }
    int64_t fw = 0;
    for (int k = 0; k < S->n_fields; k++)
        if (!strcmp(S->fields[k], "real_flag")) fw = S->field_w[k];
    for (int64_t b = 0; flags && b < B; b++)
        for (int g = 0; g < S->n_segs; g++) {
            const seg *sg = &S->segs[g];
            if (sg->rec < 0 || 2 * sg->rec + 1 >= fw) continue;
            const float *fl = flags + b * fw + 2 * sg->rec;
            if (fl[0] + fl[1] > 0.5f) continue;   /* the record is part of the flow */
            float *x = S->x0 + b * S->W + sg->off;
            for (int j = 0; j < sg->width; j++) x[j] = sg->softmax ? (j == 0 ? 1.0f : 0.0f) : sg->tanh ? 0.0f : 0.5f;
        }
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < S->W; c++) S->x0[b * S->W + c] = S->x0[b * S->W + c] * S->scale[c] + S->shift[c];
    return VF_OK;
}

static vf_status write_in(vf_trainer *t, const stage *S, const char *name, const float *src, int64_t n) {
    char nm[64];
    snprintf(nm, sizeof nm, "%s%s", S->prefix, name);
    return vf_trainer_write(t, nm, src, (size_t)n * sizeof(float));
}

static vf_status write_constants(vf_trainer *t, const diff_state *d, const stage *S) {
    if (d->ddpm) return write_in(t, S, "w_eps", S->w_eps, S->W);
    VF_TRY(write_in(t, S, "scale", S->hscale, S->W));
    VF_TRY(write_in(t, S, "shift", S->hshift, S->W));
    VF_TRY(write_in(t, S, "lin", S->lin, S->W));
    return S->mult_inputs ? write_in(t, S, "mult", S->mult, S->W) : VF_OK;
}

/* ------------------------------------------------------------------ ddgan */

/* Random numbers of a pair draw, keyed by (seed, program-run counter,
 * stream) and the element, so that each element costs what it uses: one
 * Philox block per continuous element (two normals, one Box-Muller pair),
 * one per categorical segment, one per row for t. */
typedef struct pair_key { uint64_t key, ctr; uint32_t stream; } pair_key;

static pair_key key_now(vf_trainer *t, uint32_t stream) {
    return (pair_key){vf_mix64(vf_trainer_seed(t) ^ 0xD1FFD1FFD1FFull),
                      (uint64_t)vf_exec_rng_runs(vf_trainer_exec(t)) << 26, stream};
}

static void block_at(const pair_key *k, uint32_t sub, uint64_t i, float out[4], bool normal) {
    vf_philox_block(k->key, k->stream * 4 + sub, k->ctr + i, normal ? 1 : 0, out);
}

/* A training pair for every row (DDGAN's q_sample_pairs) into the stage's
 * host buffers: t ~ U{0..T-1}, x_t, x_{t+1}, and the posterior's
 * coefficients for the fake x_t. Categorical columns: x_{t+1} is a draw,
 * the "real x_t" D sees is the true posterior's probability vector
 * q(x_t | x_{t+1}, x_0) (the fake one is the same posterior at G's x_0
 * estimate), so D compares like with like. Touches nothing but S's buffers
 * (it runs on a worker thread while the D step runs). */
static void ddgan_pairs_compute(const diff_state *d, stage *S, const pair_key *k) {
    int64_t B = d->B, W = S->W;
    const double *beta = d->s.beta, *keep = d->s.keep;
    for (int64_t b = 0; b < B; b++) {
        float r4[4];
        block_at(k, 0, (uint64_t)b, r4, false);
        int ti = (int)(r4[0] * d->T);
        if (ti >= d->T) ti = d->T - 1;
        vf_time_embedding(ti, (int)S->E, S->temb + b * S->E);
        double kt = keep[ti], kn = keep[ti + 1], a = 1.0 - beta[ti + 1], c1, c2, var;
        vf_ddgan_posterior(&d->s, ti, &c1, &c2, &var);
        double skt = sqrt(kt), snkt = sqrt(1 - kt), sa = sqrt(a), sna = sqrt(1 - a), sd = sqrt(var);
        for (int g = 0; g < S->n_segs; g++) {
            const seg *sg = &S->segs[g];
            int64_t o = b * W + sg->off;
            float *x0 = S->x0 + o, *xt = S->xt + o, *xn = S->xtp1 + o;
            int K = sg->width;
            for (int j = 0; j < K; j++) S->c1[o + j] = S->c2[o + j] = S->sd[o + j] = S->lik[o + j] = S->ab[o + j] =
                S->prior[o + j] = 0;
            if (!sg->cat) {
                for (int j = 0; j < K; j++) {
                    float n[4];
                    block_at(k, 1, (uint64_t)(o + j), n, true);
                    xt[j] = (float)(skt * x0[j] + snkt * n[0]);
                    xn[j] = (float)(sa * xt[j] + sna * n[1]);
                    S->c1[o + j] = (float)c1;
                    S->c2[o + j] = (float)c2;
                    S->sd[o + j] = (float)sd;
                }
                continue;
            }
            float u[4];
            block_at(k, 2, (uint64_t)o, u, false);
            if (d->cat == CAT_MULTINOMIAL) {
                /* x_{t+1} ~ Cat(keep_{t+1} x_0 + (1 - keep_{t+1}) / K): the first class
                 * whose cumulative probability passes u */
                double acc = 0;
                int pick = K - 1;
                for (int j = 0; j < K; j++) {
                    acc += kn * x0[j] + (1 - kn) / K;
                    if (u[0] < acc) { pick = j; break; }
                }
                one_hot(xn, K, pick);
                vf_multinomial_posterior(K, xn, a, x0, kt, xt);
                for (int j = 0; j < K; j++) {
                    S->lik[o + j] = (float)(a * xn[j] + (1 - a) / K);
                    S->ab[o + j] = (float)kt;
                    S->prior[o + j] = (float)((1 - kt) / K);
                }
            } else {   /* masked: kept with probability keep_{t+1}, else all zero */
                bool kept = u[0] < kn;
                double r = vf_masked_reveal(kt, kn);
                for (int j = 0; j < K; j++) {
                    xn[j] = kept ? x0[j] : 0.0f;
                    xt[j] = kept ? x0[j] : (float)(r * x0[j]);
                    S->c1[o + j] = kept ? 0.0f : (float)r;
                    S->c2[o + j] = kept ? 1.0f : 0.0f;
                }
            }
        }
    }
}

static vf_status ddgan_pairs_write(vf_trainer *t, const diff_state *d, const stage *S) {
    int64_t BW = d->B * S->W;
    const char *names[] = {"x_t", "x_tp1", "c1", "c2", "sd", "lik", "ab", "prior"};
    float *bufs[] = {S->xt, S->xtp1, S->c1, S->c2, S->sd, S->lik, S->ab, S->prior};
    for (int k = 0; k < (S->mult_inputs ? 8 : 5); k++) VF_TRY(write_in(t, S, names[k], bufs[k], BW));
    return write_in(t, S, "temb", S->temb, d->B * S->E);
}

typedef struct pair_job { const diff_state *d; stage *S; pair_key k; } pair_job;
static void *pair_worker(void *arg) {
    pair_job *j = arg;
    ddgan_pairs_compute(j->d, j->S, &j->k);
    return NULL;
}

static vf_status cond_from_batch(vf_trainer *t, const diff_state *d, const stage *S) {
    if (!S->cond) return VF_OK;
    const float *a = vf_trainer_batch(t, "real_attr");
    if (!a) return vf_fail(VF_ERR_ARG, "diffusion: no data bound to real_attr");
    const vf_gnode *N = &vf_model_graph(vf_trainer_model(t))->nodes[d->cond_attr];
    return vf_trainer_write(t, "cond_attr", a, (size_t)vf_gnode_numel(N) * sizeof(float));
}

static vf_status ddgan_step(vf_trainer *t, void *state, vf_metrics *out) {
    diff_state *d = state;
    if (vf_trainer_has_data(t)) VF_TRY(vf_trainer_next_batch(t));
    else return vf_fail(VF_ERR_ARG, "ddgan: no data bound (vf_trainer_bind)");
    int64_t it = vf_trainer_iteration(t);
    for (int k = 0; k < d->n_stages; k++) {
        stage *S = &d->st[k];
        VF_TRY(write_constants(t, d, S));
        VF_TRY(gather_x0(t, S, d->B));
        VF_TRY(cond_from_batch(t, d, S));
        pair_key kd = key_now(t, (uint32_t)(4 * k)), kg = kd;
        kg.stream += 1;   /* the G step redraws t and the pair (same counter, its own stream) */
        ddgan_pairs_compute(d, S, &kd);
        VF_TRY(ddgan_pairs_write(t, d, S));
        /* the G step's pairs are computed on another core while the D step runs
         * (the inputs are written, so the host buffers are free) */
        pair_job job = {d, S, kg};
        pthread_t th;
        bool threaded = pthread_create(&th, NULL, pair_worker, &job) == 0;
        bool r1 = S->d_step_r1 >= 0 && it % d->lazy_reg == 0;
        vf_status st = vf_trainer_run(t, r1 ? S->d_step_r1 : S->d_step, out);
        if (threaded) pthread_join(th, NULL);
        else ddgan_pairs_compute(d, S, &kg);
        VF_TRY(st);
        VF_TRY(ddgan_pairs_write(t, d, S));
        VF_TRY(vf_trainer_run(t, S->g_step, out));
    }
    return VF_OK;
}

/* ------------------------------------------------------------------ ddpm */

static vf_status ddpm_batch(vf_trainer *t, diff_state *d, stage *S, int stream) {
    int64_t B = d->B, W = S->W, BW = B * W;
    host_random(t, (uint32_t)stream, true, S->noise, BW);
    host_random(t, (uint32_t)stream + 1, false, S->unif, BW + B);
    const float *u = S->unif + B;
    for (int64_t b = 0; b < B; b++) {
        int ti = 1 + (int)(S->unif[b] * d->T);
        if (ti > d->T) ti = d->T;
        vf_time_embedding(ti, (int)S->E, S->temb + b * S->E);
        double k = d->s.keep[ti];
        for (int g = 0; g < S->n_segs; g++) {
            const seg *sg = &S->segs[g];
            int64_t o = b * W + sg->off;
            bool kept = u[o] < k;
            for (int j = 0; j < sg->width; j++) {
                float x0 = S->x0[o + j], e = S->noise[o + j];
                if (!sg->cat) {
                    S->xt[o + j] = (float)(sqrt(k) * x0 + sqrt(1 - k) * e);
                    S->xtp1[o + j] = e;                 /* the noise target */
                    S->w_cat[o + j] = 0;
                } else {
                    S->xt[o + j] = kept ? x0 : 0.0f;
                    S->xtp1[o + j] = 0;
                    /* cross-entropy on masked positions, ELBO-weighted */
                    S->w_cat[o + j] = kept ? 0.0f : (float)(d->mask_w[ti] * (double)W / S->n_cat);
                }
            }
        }
    }
    VF_TRY(write_in(t, S, "x_t", S->xt, BW));
    VF_TRY(write_in(t, S, "eps", S->xtp1, BW));
    VF_TRY(write_in(t, S, "x0", S->x0, BW));
    VF_TRY(write_in(t, S, "w_cat", S->w_cat, BW));
    return write_in(t, S, "temb", S->temb, B * S->E);
}

static vf_status ddpm_step(vf_trainer *t, void *state, vf_metrics *out) {
    diff_state *d = state;
    if (vf_trainer_has_data(t)) VF_TRY(vf_trainer_next_batch(t));
    else return vf_fail(VF_ERR_ARG, "ddpm: no data bound (vf_trainer_bind)");
    for (int k = 0; k < d->n_stages; k++) {
        stage *S = &d->st[k];
        VF_TRY(write_constants(t, d, S));
        VF_TRY(gather_x0(t, S, d->B));
        VF_TRY(cond_from_batch(t, d, S));
        VF_TRY(ddpm_batch(t, d, S, 16 * k));
        VF_TRY(vf_trainer_run(t, S->train_step, out));
    }
    return VF_OK;
}

/* --------------------------------------------------------------- sampling */

/* The prior x_T: Gaussian columns N(0, 1), multinomial uniform draws, masked
 * all masked (zero). */
static void prior_sample(vf_trainer *t, const diff_state *d, stage *S, int stream) {
    int64_t B = d->B, W = S->W, BW = B * W;
    host_random(t, (uint32_t)stream, true, S->noise, BW);
    host_random(t, (uint32_t)stream + 1, false, S->unif, BW);
    for (int64_t b = 0; b < B; b++)
        for (int g = 0; g < S->n_segs; g++) {
            const seg *sg = &S->segs[g];
            int64_t o = b * W + sg->off;
            if (!sg->cat) memcpy(S->xt + o, S->noise + o, (size_t)sg->width * sizeof(float));
            else if (d->cat == CAT_MULTINOMIAL) one_hot(S->xt + o, sg->width, (int)(S->unif[o] * sg->width) % sg->width);
            else memset(S->xt + o, 0, (size_t)sg->width * sizeof(float));
        }
}

/* Softmax over each categorical segment of h (ddpm logits), in place. */
static void softmax_cats(const stage *S, int64_t B, float *h) {
    for (int64_t b = 0; b < B; b++)
        for (int g = 0; g < S->n_segs; g++) {
            const seg *sg = &S->segs[g];
            if (!sg->cat) continue;
            float *x = h + b * S->W + sg->off, mx = x[0];
            double s = 0;
            for (int j = 1; j < sg->width; j++) mx = x[j] > mx ? x[j] : mx;
            for (int j = 0; j < sg->width; j++) s += x[j] = expf(x[j] - mx);
            for (int j = 0; j < sg->width; j++) x[j] = (float)(x[j] / s);
        }
}

/* Categorical step from t to s given probabilities p (x_0 estimate) and the
 * reveal / posterior parameters; xt is updated in place. */
static void cat_step(const diff_state *d, const seg *sg, float *xt, const float *p, double a, double kprev, double reveal,
                     float u1, float u2) {
    int K = sg->width;
    if (d->cat == CAT_MULTINOMIAL) {
        float q[512], *qq = K <= 512 ? q : malloc((size_t)K * sizeof(float));
        if (!qq) return;
        vf_multinomial_posterior(K, xt, a, p, kprev, qq);
        one_hot(xt, K, draw(qq, K, u1));
        if (qq != q) free(qq);
        return;
    }
    float on = 0;
    for (int j = 0; j < K; j++) on += xt[j];
    if (on > 0.5f) return;           /* revealed values never change */
    if (u1 < reveal) one_hot(xt, K, draw(p, K, u2));
}

/* Runs stage S's reverse chain; the stage's x_0 (diffusion space) ends in S->xt. */
static vf_status chain(vf_trainer *t, diff_state *d, stage *S, int stream) {
    int64_t B = d->B, W = S->W, BW = B * W;
    VF_TRY(write_constants(t, d, S));
    prior_sample(t, d, S, stream);
    int n_steps = d->ddpm ? d->sample_steps : d->T;
    for (int i = 0; i < n_steps; i++) {
        /* ddgan: index ti = T-1..0 (G sees x_{ti+1}); ddpm: t -> s strided */
        int ti = d->ddpm ? (int)llround(d->T - (double)i * d->T / n_steps) : d->T - 1 - i;
        int to = d->ddpm ? (int)llround(d->T - (double)(i + 1) * d->T / n_steps) : ti - 1;
        for (int64_t b = 0; b < B; b++) vf_time_embedding(ti, (int)S->E, S->temb + b * S->E);
        VF_TRY(write_in(t, S, "temb", S->temb, B * S->E));
        VF_TRY(write_in(t, S, d->ddpm ? "x_t" : "x_tp1", S->xt, BW));
        VF_TRY(vf_exec_run(vf_trainer_exec(t), S->denoise));
        const vf_prog_desc *pd = vf_exec_desc(vf_trainer_exec(t), S->denoise);
        VF_TRY(vf_exec_read(vf_trainer_exec(t), S->denoise, pd->outs[0], S->out, (size_t)BW * sizeof(float)));
        host_random(t, (uint32_t)stream + 2, true, S->noise, BW);
        host_random(t, (uint32_t)stream + 3, false, S->unif, 2 * BW);
        double c1 = 0, c2 = 0, var = 0, cx = 0, ce = 0, sdv = 0, a = 1, kprev = 1, reveal = 1;
        if (d->ddpm) {
            vf_ddim_coefs(&d->s, ti, to, d->eta, &cx, &ce, &sdv);
            reveal = to <= 0 ? 1.0 : vf_masked_reveal(d->s.keep[to], d->s.keep[ti]);
            softmax_cats(S, B, S->out);
        } else {
            /* G's x_0 is a sample (its randomness is z): its categorical columns
             * are read as the one-hot of their largest probability, which keeps
             * the columns G made together together (drawing each from its own
             * softmax would make them independent) */
            for (int64_t b = 0; b < B; b++)
                for (int g = 0; g < S->n_segs; g++)
                    if (S->segs[g].cat) {
                        float *p = S->out + b * W + S->segs[g].off;
                        int best = 0;
                        for (int j = 1; j < S->segs[g].width; j++) best = p[j] > p[best] ? j : best;
                        one_hot(p, S->segs[g].width, best);
                    }
            vf_ddgan_posterior(&d->s, ti, &c1, &c2, &var);
            a = 1.0 - d->s.beta[ti + 1];
            kprev = d->s.keep[ti];
            reveal = ti == 0 ? 1.0 : vf_masked_reveal(d->s.keep[ti], d->s.keep[ti + 1]);
        }
        double kt = d->ddpm ? d->s.keep[ti] : 0;
        for (int64_t b = 0; b < B; b++)
            for (int g = 0; g < S->n_segs; g++) {
                const seg *sg = &S->segs[g];
                int64_t o = b * W + sg->off;
                if (sg->cat) {
                    cat_step(d, sg, S->xt + o, S->out + o, a, kprev, reveal, S->unif[o], S->unif[BW + o]);
                    continue;
                }
                for (int j = 0; j < sg->width; j++) {
                    float *x = S->xt + o + j, z = S->noise[o + j];
                    if (!d->ddpm) {
                        *x = (float)(c1 * S->out[o + j] + c2 * *x + sqrt(var) * z);
                    } else {
                        /* x_0 from the noise estimate, clipped to the data range, then DDIM */
                        double x0 = (*x - sqrt(1 - kt) * S->out[o + j]) / sqrt(kt);
                        x0 = x0 < -1 ? -1 : x0 > 1 ? 1 : x0;
                        double e = (*x - sqrt(kt) * x0) / sqrt(1 - kt);
                        *x = (float)(cx * x0 + ce * e + sdv * z);
                    }
                }
            }
    }
    return VF_OK;
}

/* Diffusion space -> the encoder's values: continuous columns clamped to
 * their range. */
static void to_data(const stage *S, int64_t B, float *x) {
    for (int64_t b = 0; b < B; b++)
        for (int g = 0; g < S->n_segs; g++) {
            const seg *sg = &S->segs[g];
            for (int j = 0; j < sg->width; j++) {
                int64_t c = sg->off + j;
                float v = (x[b * S->W + c] - S->shift[c]) / S->scale[c];
                if (!sg->cat) v = v < (sg->tanh ? -1.0f : 0.0f) ? (sg->tanh ? -1.0f : 0.0f) : v > 1.0f ? 1.0f : v;
                x[b * S->W + c] = v;
            }
        }
}

/* Publishes the stages' x_0 (stages first..n_stages-1, concatenated) as
 * program prog's outputs, split by their widths. */
static vf_status publish(vf_trainer *t, diff_state *d, int prog, int first) {
    const vf_prog_desc *pd = vf_exec_desc(vf_trainer_exec(t), prog);
    const vf_graph *G = vf_model_graph(vf_trainer_model(t));
    int64_t B = d->B, total = 0;
    for (int k = first; k < d->n_stages; k++) total += d->st[k].W;
    int64_t sum = 0;
    for (int k = 0; k < pd->n_out; k++) sum += vf_gnode_cols(&G->nodes[pd->outs[k]]);
    if (sum != total)
        return vf_fail(VF_ERR_FORMAT, "%s: program '%s' outputs %lld columns; the diffusion makes %lld",
                       vf_model_path(vf_trainer_model(t)), pd->name, (long long)sum, (long long)total);
    float *buf = falloc(B * total);
    if (!buf) return vf_fail(VF_ERR_OOM, "diffusion: out of memory");
    vf_status st = VF_OK;
    int k = first;
    int64_t col = 0;   /* column within stage k */
    for (int o = 0; o < pd->n_out && !st; o++) {
        const vf_gnode *N = &G->nodes[pd->outs[o]];
        int64_t w = vf_gnode_cols(N);
        for (int64_t c = 0; c < w; c++) {
            while (col >= d->st[k].W) { k++; col = 0; }
            for (int64_t b = 0; b < B; b++) buf[b * w + c] = d->st[k].xt[b * d->st[k].W + col];
            col++;
        }
        st = vf_trainer_publish(t, prog, N->name, buf, B * w);
    }
    free(buf);
    return st;
}

static vf_status diff_sample(vf_trainer *t, void *state, int prog) {
    diff_state *d = state;
    int first;
    if (prog == d->sample) first = 0;
    else if (prog == d->sample_cond && d->n_stages == 2) first = 1;
    else return vf_exec_run(vf_trainer_exec(t), prog);
    for (int k = first; k < d->n_stages; k++) {
        stage *S = &d->st[k];
        VF_TRY(chain(t, d, S, 64 + 16 * k));
        to_data(S, d->B, S->xt);
        if (k == 0 && d->n_stages == 2) {
            const vf_gnode *N = &vf_model_graph(vf_trainer_model(t))->nodes[d->cond_attr];
            VF_TRY(vf_trainer_write(t, "cond_attr", S->xt, (size_t)vf_gnode_numel(N) * sizeof(float)));
        }
    }
    return publish(t, d, prog, first);
}

/* DP (REFERENCE 3.7): every stage's D step (or its lazy-R1 twin) and G step
 * read one Poisson batch: G sees noised real samples, so both are private,
 * and the 2 x stages runs compose on the same sample. */
static void add_read(vf_privacy_plan *p, const stage *S, const char *prog, int id) {
    if (id < 0 || p->n_reads == 8) return;
    snprintf(p->reads_data[p->n_reads++], sizeof p->reads_data[0], "%s%s", S->prefix, prog);
}

static void ddgan_privacy_plan(const void *state, vf_privacy_plan *out) {
    const diff_state *d = state;
    *out = (vf_privacy_plan){.draws_per_iter = 1, .runs_per_draw = 2 * d->n_stages,
                             .why = "in a diffusion GAN the generator reads noised real samples (x_{t+1}), so the D "
                                    "and G steps of every stage are private and count (REFERENCE 3.7)"};
    for (int k = 0; k < d->n_stages; k++) {
        add_read(out, &d->st[k], "d_step", d->st[k].d_step);
        add_read(out, &d->st[k], "d_step_r1", d->st[k].d_step_r1);
        add_read(out, &d->st[k], "g_step", d->st[k].g_step);
    }
}

static void ddpm_privacy_plan(const void *state, vf_privacy_plan *out) {
    const diff_state *d = state;
    *out = (vf_privacy_plan){.draws_per_iter = 1, .runs_per_draw = d->n_stages,
                             .why = "the denoiser of every stage reads noised real samples"};
    for (int k = 0; k < d->n_stages; k++) add_read(out, &d->st[k], "train_step", d->st[k].train_step);
}

const vf_driver vf_driver_ddgan = {
    .name = "ddgan",
    .keys = "T, mode, categorical, beta_min, beta_max, lazy_reg",
    .state_size = sizeof(diff_state),
    .persist_size = 0,
    .configure = ddgan_configure,
    .step = ddgan_step,
    .sample = diff_sample,
    .close = diff_close,
    .privacy_plan = ddgan_privacy_plan,
};

const vf_driver vf_driver_ddpm = {
    .name = "ddpm",
    .keys = "T, mode, categorical, beta_start, beta_end, sample_steps, eta",
    .state_size = sizeof(diff_state),
    .persist_size = 0,
    .configure = ddpm_configure,
    .step = ddpm_step,
    .sample = diff_sample,
    .close = diff_close,
    .privacy_plan = ddpm_privacy_plan,
};
