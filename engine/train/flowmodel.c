/* Encoded trace chunks <-> a model's inputs and sampling programs (the data
 * contract in flowmodel.h). Training itself is the trainer's. */
#include "train/flowmodel.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vf_flowmodel {
    vf_trainer *t;
    vf_model *m;
    char *path;
    int ps, pc;                        /* programs sample, sample_cond (-1 when absent) */
    const char *out_attr, *out_feat, *out_flag;   /* sample's outputs */
    const char *out_cfeat, *out_cflag;            /* sample_cond's outputs */
    int64_t batch, seq_len;
    int attr_dim, feat_dim, max_len;
    const vf_encoded *chunk;           /* bound training data */
    vf_data_field fields[3];
    vf_dataset data;
    float *h_attr, *h_feat, *h_flag;   /* one host batch */
};

void vf_flow_dims_from_encoder(const vf_encoder *enc, vf_flow_dims *out) {
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

static const vf_gnode *node(vf_flowmodel *f, const char *name) {
    int id = vf_model_node(f->m, name);
    return id < 0 ? NULL : &vf_model_graph(f->m)->nodes[id];
}

static vf_status check_shape(vf_flowmodel *f, const char *name, int64_t r, int64_t c, const char *what) {
    const vf_gnode *N = node(f, name);
    if (!N)
        return vf_fail(VF_ERR_FORMAT, "%s: the model has no '%s' (%s; see models/doppelganger.cfg for the names a flow "
                       "model declares)", f->path, name, what);
    if (vf_gnode_rows(N) != r || vf_gnode_cols(N) != c) {
        char s[48];
        return vf_fail(VF_ERR_FORMAT, "%s: '%s' is %s, the data needs [%lld, %lld] (%s)", f->path, name,
                       vf_gnode_shape_str(N, s, sizeof s), (long long)r, (long long)c, what);
    }
    return VF_OK;
}

/* The names of program p's outputs: want of them, in order. */
static vf_status outputs_of(vf_flowmodel *f, const char *prog, int want, const char **names) {
    int p = vf_model_program(f->m, prog), n;
    const vf_prog_desc *d = vf_model_programs(f->m, &n);
    if (p < 0) return vf_fail(VF_ERR_FORMAT, "%s: no program '%s'", f->path, prog);
    if (d[p].n_out != want || d[p].n_upd)
        return vf_fail(VF_ERR_FORMAT, "%s: program '%s' must be forward-only with %d outputs (%s), it has %d%s", f->path, prog,
                       want, want == 3 ? "attributes, features, flags" : "features, flags", d[p].n_out,
                       d[p].n_upd ? " and a loss" : "");
    for (int k = 0; k < want; k++) names[k] = vf_model_graph(f->m)->nodes[d[p].outs[k]].name;
    return VF_OK;
}

vf_status vf_flowmodel_open(const char *model_path, const vf_flow_dims *dims, const vf_setting *settings,
                            int n_settings, vf_backend *be, uint64_t seed, vf_flowmodel **out) {
    return vf_flowmodel_open_private(model_path, dims, settings, n_settings, be, seed, NULL, out);
}

vf_status vf_flowmodel_open_private(const char *model_path, const vf_flow_dims *dims, const vf_setting *settings,
                                    int n_settings, vf_backend *be, uint64_t seed, const vf_privacy_opts *privacy,
                                    vf_flowmodel **out) {
    if (!out) return vf_fail(VF_ERR_ARG, "flowmodel_open: out is NULL");
    *out = NULL;
    if (!model_path || !dims || !be) return vf_fail(VF_ERR_ARG, "flowmodel_open: model path, dims and backend are required");
    if (dims->attr_dim < 1 || dims->feat_dim < 1 || dims->max_len < 1 || dims->n_attr_segs < 1 ||
        dims->n_feat_segs < 1 || !dims->attr_segs || !dims->feat_segs)
        return vf_fail(VF_ERR_ARG, "flowmodel_open: dims need attr_dim, feat_dim, max_len >= 1 and segments (got %d, %d, %d; "
                       "%d and %d segments)", dims->attr_dim, dims->feat_dim, dims->max_len, dims->n_attr_segs,
                       dims->n_feat_segs);
    vf_flowmodel *f = calloc(1, sizeof *f);
    if (!f) return vf_fail(VF_ERR_OOM, "flowmodel_open: out of memory");
    f->path = strdup(model_path);
    f->attr_dim = dims->attr_dim;
    f->feat_dim = dims->feat_dim;
    f->max_len = dims->max_len;
    vf_head_seg *ha = to_heads(dims->attr_segs, dims->n_attr_segs), *hf = to_heads(dims->feat_segs, dims->n_feat_segs);
    vf_status st = VF_OK;
    if (!f->path || !ha || !hf) st = vf_fail(VF_ERR_OOM, "flowmodel_open: out of memory");
    if (!st) {
        vf_dim d[3] = {{"attr_dim", dims->attr_dim}, {"feat_dim", dims->feat_dim}, {"max_len", dims->max_len}};
        vf_head_table tb[2] = {{"attr", dims->n_attr_segs, ha}, {"feat", dims->n_feat_segs, hf}};
        vf_trainer_opts o = {.model = model_path, .be = be, .seed = seed};
        if (privacy) o.privacy = *privacy;
        o.env = (vf_model_env){.dims = d, .n_dims = 3, .heads = tb, .n_heads = 2, .settings = settings,
                               .n_settings = n_settings};
        st = vf_trainer_open(&o, &f->t);
    }
    free(ha);
    free(hf);
    if (!st) {
        f->m = vf_trainer_model(f->t);
        const vf_gnode *A = node(f, "real_attr"), *F = node(f, "real_feat");
        if (!A || !F) st = check_shape(f, A ? "real_feat" : "real_attr", 0, 0, "real data input");
        if (!st) {
            f->batch = vf_gnode_rows(A);
            f->seq_len = vf_gnode_cols(F) / f->feat_dim;
            if (f->seq_len < f->max_len)
                st = vf_fail(VF_ERR_FORMAT, "%s: real_feat holds %lld records, the data has max_len %d", model_path,
                             (long long)f->seq_len, f->max_len);
        }
    }
    int64_t B = f->batch, A = f->attr_dim, T = f->seq_len, F = f->feat_dim;
    if (!st) st = check_shape(f, "real_attr", B, A, "batch, attr_dim");
    if (!st) st = check_shape(f, "real_feat", B, T * F, "batch, seq_len * feat_dim");
    if (!st) st = check_shape(f, "real_flag", B, T * 2, "batch, seq_len * 2");
    const char *o3[3] = {0}, *o2[2] = {0};
    if (!st) st = outputs_of(f, "sample", 3, o3);
    if (!st) {
        f->out_attr = o3[0];
        f->out_feat = o3[1];
        f->out_flag = o3[2];
        st = check_shape(f, f->out_attr, B, A, "sample output 1: attributes");
    }
    if (!st) st = check_shape(f, f->out_feat, B, T * F, "sample output 2: features");
    if (!st) st = check_shape(f, f->out_flag, B, T * 2, "sample output 3: flags");
    f->pc = -1;
    if (!st && vf_model_program(f->m, "sample_cond") >= 0) {
        st = outputs_of(f, "sample_cond", 2, o2);
        if (!st) st = check_shape(f, "cond_attr", B, A, "the attributes sample_cond generates features for");
        if (!st) {
            f->out_cfeat = o2[0];
            f->out_cflag = o2[1];
            st = check_shape(f, f->out_cfeat, B, T * F, "sample_cond output 1: features");
        }
        if (!st) st = check_shape(f, f->out_cflag, B, T * 2, "sample_cond output 2: flags");
        if (!st) f->pc = vf_trainer_program(f->t, "sample_cond");
    }
    if (!st) {
        f->ps = vf_trainer_program(f->t, "sample");
        f->h_attr = malloc((size_t)(B * A) * sizeof(float));
        f->h_feat = malloc((size_t)(B * T * F) * sizeof(float));
        f->h_flag = malloc((size_t)(B * T * 2) * sizeof(float));
        if (!f->h_attr || !f->h_feat || !f->h_flag) st = vf_fail(VF_ERR_OOM, "flowmodel_open: out of memory");
    }
    if (st) {
        vf_flowmodel_close(f);
        return st;
    }
    *out = f;
    return VF_OK;
}

void vf_flowmodel_close(vf_flowmodel *f) {
    if (!f) return;
    vf_trainer_close(f->t);
    free(f->h_attr);
    free(f->h_feat);
    free(f->h_flag);
    free(f->path);
    free(f);
}

vf_trainer *vf_flowmodel_trainer(const vf_flowmodel *f) { return f->t; }

/* ------------------------------------------------------------------ data */

/* Row `example` of field k: attributes as encoded; features up to the flow's
 * end and zero after (records max_len..seq_len too); flags in DoppelGANger's
 * encoding [gen_flag[t+1], gen_flag[t] - gen_flag[t+1]]. */
static void fill_row(void *user, int64_t i, int k, float *dst) {
    const vf_flowmodel *f = user;
    const vf_encoded *c = f->chunk;
    int64_t A = f->attr_dim, F = f->feat_dim, T = f->seq_len, L = f->max_len;
    if (k == 0) {
        memcpy(dst, c->attr + i * A, (size_t)A * sizeof(float));
        return;
    }
    memset(dst, 0, (size_t)(T * (k == 1 ? F : 2)) * sizeof(float));
    const float *gf = c->gen_flag + i * L, *fe = c->feat + i * L * F;
    for (int64_t t = 0; t < L; t++) {
        float cur = gf[t], next = t + 1 < L ? gf[t + 1] : 0.0f;
        if (cur <= 0) break;
        if (k == 1) {
            memcpy(dst + t * F, fe + t * F, (size_t)F * sizeof(float));
        } else {
            dst[t * 2] = next;
            dst[t * 2 + 1] = cur - next;
        }
    }
}

vf_status vf_flowmodel_bind(vf_flowmodel *f, const vf_encoded *c) {
    if (!f) return vf_fail(VF_ERR_ARG, "flowmodel_bind: model is NULL");
    if (!c || !c->attr || !c->feat || !c->gen_flag || c->n_flows < 1)
        return vf_fail(VF_ERR_ARG, "flowmodel_bind: the chunk has no flows");
    if (c->attr_dim != f->attr_dim || c->feat_dim != f->feat_dim || c->max_len != f->max_len)
        return vf_fail(VF_ERR_ARG, "flowmodel_bind: chunk is attr %d, feat %d, max_len %d; the model was opened for %d, %d, %d",
                       c->attr_dim, c->feat_dim, c->max_len, f->attr_dim, f->feat_dim, f->max_len);
    f->chunk = c;
    f->fields[0] = (vf_data_field){"real_attr", f->attr_dim};
    f->fields[1] = (vf_data_field){"real_feat", f->seq_len * f->feat_dim};
    f->fields[2] = (vf_data_field){"real_flag", f->seq_len * 2};
    f->data = (vf_dataset){.n = c->n_flows, .n_fields = 3, .fields = f->fields, .fill = fill_row, .user = f};
    return vf_trainer_bind(f->t, &f->data);
}

/* ------------------------------------------------------------------ sampling */

static void free_encoded(vf_encoded *out) {
    free(out->attr);
    free(out->feat);
    free(out->gen_flag);
    memset(out, 0, sizeof *out);
}

static vf_status alloc_out(vf_flowmodel *f, int n, vf_encoded *out, const char *what) {
    int64_t A = f->attr_dim, F = f->feat_dim, L = f->max_len;
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

/* Batch rows [0, nb) of the host features / flags (seq_len records) into
 * out's rows b0.. (max_len records): the mask is in the flags, [continue,
 * end] sum to 1 while the flow goes on. */
static void put_rows(vf_flowmodel *f, vf_encoded *out, int64_t b0, int64_t nb) {
    int64_t F = f->feat_dim, T = f->seq_len, L = f->max_len;
    for (int64_t b = 0; b < nb; b++) {
        int64_t i = b0 + b;
        for (int64_t t = 0; t < L; t++) {
            float on = f->h_flag[(b * T + t) * 2] + f->h_flag[(b * T + t) * 2 + 1] > 0.5f ? 1.0f : 0.0f;
            out->gen_flag[i * L + t] = on;
            for (int64_t k = 0; k < F; k++) out->feat[(i * L + t) * F + k] = on * f->h_feat[(b * T + t) * F + k];
        }
    }
}

vf_status vf_flowmodel_generate(vf_flowmodel *f, int n, uint64_t seed, vf_encoded *out) {
    if (!f || !out) return vf_fail(VF_ERR_ARG, "flowmodel_generate: model and out are required");
    memset(out, 0, sizeof *out);
    if (n < 0) return vf_fail(VF_ERR_ARG, "flowmodel_generate: n = %d < 0", n);
    int64_t A = f->attr_dim, F = f->feat_dim, T = f->seq_len, B = f->batch;
    VF_TRY(alloc_out(f, n, out, "flowmodel_generate"));
    vf_status st = vf_trainer_sample_begin(f->t, seed);
    for (int64_t b0 = 0; b0 < n && !st; b0 += B) {
        st = vf_trainer_sample(f->t, f->ps);
        if (!st) st = vf_trainer_read(f->t, f->ps, f->out_attr, f->h_attr, (size_t)(B * A) * sizeof(float));
        if (!st) st = vf_trainer_read(f->t, f->ps, f->out_feat, f->h_feat, (size_t)(B * T * F) * sizeof(float));
        if (!st) st = vf_trainer_read(f->t, f->ps, f->out_flag, f->h_flag, (size_t)(B * T * 2) * sizeof(float));
        if (st) break;
        int64_t nb = n - b0 < B ? n - b0 : B;
        memcpy(out->attr + b0 * A, f->h_attr, (size_t)(nb * A) * sizeof(float));
        put_rows(f, out, b0, nb);
    }
    vf_trainer_sample_end(f->t);
    if (st) free_encoded(out);
    return st;
}

vf_status vf_flowmodel_generate_features(vf_flowmodel *f, const float *attr, int n, uint64_t seed, vf_encoded *out) {
    if (!f || !out || (!attr && n > 0))
        return vf_fail(VF_ERR_ARG, "flowmodel_generate_features: model, attr and out are required");
    memset(out, 0, sizeof *out);
    if (n < 0) return vf_fail(VF_ERR_ARG, "flowmodel_generate_features: n = %d < 0", n);
    if (f->pc < 0)
        return vf_fail(VF_ERR_UNSUPPORTED, "%s: the model cannot generate features for given attributes (it has no "
                       "program sample_cond computed from an input cond_attr; see models/doppelganger.cfg)", f->path);
    int64_t A = f->attr_dim, F = f->feat_dim, T = f->seq_len, B = f->batch;
    VF_TRY(alloc_out(f, n, out, "flowmodel_generate_features"));
    if (n > 0) memcpy(out->attr, attr, (size_t)((int64_t)n * A) * sizeof(float));
    vf_status st = vf_trainer_sample_begin(f->t, seed ^ 0xC0DEC0DEC0DEC0DEull);
    for (int64_t b0 = 0; b0 < n && !st; b0 += B) {
        int64_t nb = n - b0 < B ? n - b0 : B;
        /* a short last batch is padded with its first row: rows are independent */
        for (int64_t b = 0; b < B; b++)
            memcpy(f->h_attr + b * A, attr + (b0 + (b < nb ? b : 0)) * A, (size_t)A * sizeof(float));
        st = vf_trainer_write(f->t, "cond_attr", f->h_attr, (size_t)(B * A) * sizeof(float));
        if (!st) st = vf_trainer_sample(f->t, f->pc);
        if (!st) st = vf_trainer_read(f->t, f->pc, f->out_cfeat, f->h_feat, (size_t)(B * T * F) * sizeof(float));
        if (!st) st = vf_trainer_read(f->t, f->pc, f->out_cflag, f->h_flag, (size_t)(B * T * 2) * sizeof(float));
        if (!st) put_rows(f, out, b0, nb);
    }
    vf_trainer_sample_end(f->t);
    if (st) free_encoded(out);
    return st;
}
