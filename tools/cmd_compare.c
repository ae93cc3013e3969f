/* vkflow compare CONFIG --models a.cfg,b.cfg --out DIR [--holdout] ...:
 * the same run (data, chunks, settings, seed) with each model in turn, every
 * model in its own run directory DIR/<model name>, scored against one
 * reference trace next to the split floor and the marginals baseline
 * (docs/RUNNING.md "Comparing models", docs/EVALUATION.md). Writes one table
 * to stdout and DIR/compare.md, DIR/compare.json and DIR/compare.html. */
#include "commands.h"
#include "eval/eval.h"
#include "run_ui.h"
#include "train/rundir.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_MODELS 16         /* + marginals: within VF_EVAL_OVERLAY_MAX curves */
#define MAX_REF_LABELS 8
#define SPLIT_SEED 0          /* as tools/quality_gate.sh and docs/RESULTS.md */

static void usage(FILE *f) {
    fprintf(f,
        "usage: vkflow compare CONFIG --models A.cfg,B.cfg[,...] --out DIR [--holdout] [--flows N]\n"
        "                      [--iterations N] [--seed S] [--set KEY=VALUE]... [--reference FILE]\n"
        "  runs CONFIG (a run configuration, examples/*.cfg) once per model file, the model\n"
        "  replaced and everything else the same, each into DIR/<model name> (a run directory;\n"
        "  rerunning the command reuses finished runs and resumes interrupted ones), and\n"
        "  prints one table: a row per metric of vkflow eval, columns floor (eval of the\n"
        "  5-tuple split halves A, B, seed 0), marginals (baseline), then each model's value\n"
        "  and its ratio to the floor. Also DIR/compare.md, compare.json, compare.html.\n"
        "  --holdout: train on half A of the split (DIR/A.*), score against half B (out of\n"
        "             sample; marginals of A scored against B). Without it: train on the\n"
        "             whole trace and score against it (in sample, as NetShare's paper)\n"
        "  --flows N: only the first N 5-tuples of the trace, with all their records\n"
        "             (DIR/first_N_flows.*), before the split\n"
        "  --iterations N, --seed S: run.iterations, run.seed for every model\n"
        "  --set KEY=VALUE: a setting for every model (see vkflow run --help)\n"
        "  --reference FILE: CSV rows metric,label,value printed as extra columns (lines\n"
        "             starting with # are comments; docs/seed_reference.csv)\n"
        "  units: JSD in nats; 'emd' rows raw EMD in the field's unit; 'emd_norm' EMD / the\n"
        "  real side's p1-p99 range. Exit status 1 when any model failed (the others'\n"
        "  results are still written), 130/143 when stopped (rerun to continue).\n");
}

/* The rows (one per metric) are engine/eval's: vf_eval_rows, vf_eval_row_value. */

/* ------------------------------------------------------ the reference CSV */

typedef struct reference {
    int n_labels;
    char label[MAX_REF_LABELS][48];
    double v[VF_EVAL_MAX_ROWS][MAX_REF_LABELS];   /* NAN where the file gives none */
} reference;

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) s[--n] = 0;
    return s;
}

/* metric,label,value rows; '#' comments, blank lines and a header line
 * "metric,label,value" are skipped. Errors name file:line. */
static int load_reference(const char *path, const vf_eval_row *rows, int n_rows, reference *ref) {
    memset(ref, 0, sizeof *ref);
    for (int i = 0; i < VF_EVAL_MAX_ROWS; i++)
        for (int j = 0; j < MAX_REF_LABELS; j++) ref->v[i][j] = NAN;
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "vkflow compare: --reference %s: %s\n", path, strerror(errno));
        return 1;
    }
    char line[1024];
    int ln = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        char *s = trim(line);
        if (!*s || *s == '#') continue;
        char *c1 = strchr(s, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        if (!c1 || !c2 || strchr(c2 + 1, ',')) {
            fprintf(stderr, "vkflow compare: %s:%d: expected metric,label,value\n", path, ln);
            fclose(f);
            return 1;
        }
        *c1 = *c2 = 0;
        char *metric = trim(s), *label = trim(c1 + 1), *val = trim(c2 + 1);
        if (!strcmp(metric, "metric") && !strcmp(label, "label")) continue; /* header */
        int ri = -1;
        for (int i = 0; i < n_rows && ri < 0; i++)
            if (!strcmp(rows[i].key, metric)) ri = i;
        if (ri < 0) {
            fprintf(stderr, "vkflow compare: %s:%d: unknown metric '%s' for this trace; known:", path, ln, metric);
            for (int i = 0; i < n_rows; i++) fprintf(stderr, " %s", rows[i].key);
            fputc('\n', stderr);
            fclose(f);
            return 1;
        }
        int li = -1;
        for (int j = 0; j < ref->n_labels && li < 0; j++)
            if (!strcmp(ref->label[j], label)) li = j;
        if (li < 0) {
            if (ref->n_labels == MAX_REF_LABELS || !*label || strlen(label) >= sizeof ref->label[0]) {
                fprintf(stderr, "vkflow compare: %s:%d: label '%s': empty, longer than %zu characters, or more "
                                "than %d labels\n", path, ln, label, sizeof ref->label[0] - 1, MAX_REF_LABELS);
                fclose(f);
                return 1;
            }
            li = ref->n_labels++;
            snprintf(ref->label[li], sizeof ref->label[li], "%s", label);
        }
        char *end;
        errno = 0;
        double v = strtod(val, &end);
        if (end == val || *end || errno) {
            fprintf(stderr, "vkflow compare: %s:%d: value '%s' is not a number\n", path, ln, val);
            fclose(f);
            return 1;
        }
        ref->v[ri][li] = v;
    }
    fclose(f);
    return 0;
}

/* ------------------------------------------------------------- models */

typedef struct model {
    const char *file;          /* as given */
    char name[128];            /* file name without .cfg: the column and the run directory */
    char dir[4300];
    vf_eval_result *r;         /* NULL until scored */
    char error[2048];          /* why it failed ("" = it did not) */
} model;

/* Messages name long paths: cut to fit rather than fail. */
static void set_error(model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(model *m, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->error, sizeof m->error, fmt, ap);
    va_end(ap);
}

static void model_name(const char *file, char *out, size_t cap) {
    const char *b = strrchr(file, '/');
    b = b ? b + 1 : file;
    size_t n = strlen(b);
    if (n > 4 && !strcmp(b + n - 4, ".cfg")) n -= 4;
    snprintf(out, cap, "%.*s", (int)n, b);
}

static int split_models(char *list, model *m, int *n) {
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!*t) continue;
        if (*n == MAX_MODELS) {
            fprintf(stderr, "vkflow compare: more than %d models\n", MAX_MODELS);
            return 1;
        }
        model *x = &m[(*n)++];
        memset(x, 0, sizeof *x);
        x->file = t;
        model_name(t, x->name, sizeof x->name);
        if (!x->name[0] || !strcmp(x->name, "A") || !strcmp(x->name, "B")) {
            fprintf(stderr, "vkflow compare: model %s: its name '%s' cannot be a run directory here\n", t, x->name);
            return 1;
        }
        for (int i = 0; i < *n - 1; i++)
            if (!strcmp(m[i].name, x->name)) {
                fprintf(stderr, "vkflow compare: models %s and %s would share the run directory '%s' (rename one)\n",
                        m[i].file, t, x->name);
                return 1;
            }
    }
    return 0;
}

static const char *ext_of(vf_trace_kind k) { return k == VF_TRACE_PACKETS ? "pcap" : "csv"; }

/* Reads path with the configuration's data description (its column
 * mapping), as the pipeline reads its training data. */
static vf_status read_as_data(const vf_run_config *rc, const char *path, vf_trace *t) {
    vf_data_desc dd = rc->data;
    vf_copy_str(dd.path, sizeof dd.path, path);
    return vf_data_desc_read_trace(&dd, t);
}

/* The records of the first n distinct 5-tuples (in order of first
 * appearance), in file order. */
static vf_status first_flows(const vf_trace *t, size_t n, vf_trace *out) {
    vf_flow_table ft;
    VF_TRY(vf_flow_table_init(&ft, n * 2 + 16));
    *out = *t;   /* kind, labels, layout ... shared; records copied below */
    out->recs = malloc((t->n ? t->n : 1) * sizeof *out->recs);
    out->n = 0;
    out->cap = t->n ? t->n : 1;
    if (!out->recs) { vf_flow_table_free(&ft); return vf_fail(VF_ERR_OOM, "out of memory"); }
    for (size_t i = 0; i < t->n; i++) {
        vf_flow_key k;
        vf_flow_key_of(&t->recs[i], &k);
        int64_t idx = vf_flow_table_get(&ft, &k);
        if (idx < 0 && ft.n < n) idx = vf_flow_table_put(&ft, &k, NULL);
        if (idx >= 0) out->recs[out->n++] = t->recs[i];
    }
    vf_flow_table_free(&ft);
    return VF_OK;
}

/* Trains (or resumes, or reuses) one model's run and scores its synthetic
 * trace against ref. Returns 0, 1 (failed: m->error) or 2 (stopped). */
static int run_model(const vf_run_config *base, const char *train_data, const vf_trace *ref, const char *ref_name,
                     model *m, run_ui *ui) {
    vf_run_config *rc = malloc(sizeof *rc);
    if (!rc) { set_error(m, "out of memory"); return 1; }
    *rc = *base;
    if (access(m->file, R_OK) != 0) {
        set_error(m, "%s: cannot read the model file: %s", m->file, strerror(errno));
        free(rc);
        return 1;
    }
    vf_abs_path(m->file, rc->model, sizeof rc->model);
    vf_abs_path(train_data, rc->data.path, sizeof rc->data.path);
    char state[4400];
    vf_run_path(state, sizeof state, m->dir, "run.state");
    bool resume = vf_run_exists(state);
    if (resume) {
        /* a run of another model or on other data must not be taken for this one */
        vf_run_state prev;
        if (vf_run_state_load(m->dir, &prev) != VF_OK) {
            set_error(m, "%s", vf_last_error());
            free(rc);
            return 1;
        }
        bool same_model = !strcmp(prev.model, rc->model), same_data = !strcmp(prev.data, rc->data.path);
        if (!same_model || !same_data)
            set_error(m, "%s holds a run of %s on %s, not of %s on %s: remove it or use "
                     "another --out", m->dir, prev.model, prev.data, rc->model, rc->data.path);
        vf_run_state_free(&prev);
        if (m->error[0]) { free(rc); return 1; }
        fprintf(stderr, "vkflow compare: %s: %s holds its run; resuming it (finished chunks are not trained "
                        "again)\n", m->file, m->dir);
    }
    vf_pipeline_opts o = {0};
    o.run_dir = m->dir;
    o.resume = resume;
    o.stop = run_ui_stop_flag();
    o.on_event = run_ui_event;
    o.user = ui;
    bool stopped = false;
    vf_status st = vf_pipeline_run(rc, &o, &stopped, NULL);
    run_ui_newline(ui);
    char out_kind[8] = "";
    if (!st && !stopped) {
        vf_run_state s;
        if (!(st = vf_run_state_load(m->dir, &s))) {
            vf_copy_str(out_kind, sizeof out_kind, s.output);
            vf_run_state_free(&s);
        }
    }
    free(rc);
    if (stopped) return 2;
    if (st) {
        char log[4400];
        vf_run_path(log, sizeof log, m->dir, "run.log");
        if (vf_run_exists(log)) set_error(m, "%s (the log is %s)", vf_last_error(), log);
        else set_error(m, "%s", vf_last_error());
        return 1;
    }
    char syn_path[4400];
    vf_run_path(syn_path, sizeof syn_path, m->dir, !strcmp(out_kind, "pcap") ? "synthetic.pcap" : "synthetic.csv");
    vf_trace syn;
    if (vf_trace_read(syn_path, NULL, &syn) != VF_OK) {
        set_error(m, "%s", vf_last_error());
        return 1;
    }
    m->r = malloc(sizeof *m->r);
    st = m->r ? vf_eval_compare(ref, &syn, m->r) : vf_fail(VF_ERR_OOM, "out of memory");
    vf_trace_free(&syn);
    if (st) {
        set_error(m, "scoring %s against %s: %s", syn_path, ref_name, vf_last_error());
        free(m->r);
        m->r = NULL;
        return 1;
    }
    vf_copy_str(m->r->real_name, sizeof m->r->real_name, ref_name);
    vf_copy_str(m->r->syn_name, sizeof m->r->syn_name, syn_path);
    return 0;
}

/* ------------------------------------------------------------ outputs */

typedef struct report {
    const char *config, *out, *train_data, *ref_name;
    bool holdout;
    long long flows;           /* 0 = all */
    const vf_eval_result *floor, *marg;
    model *m;
    int n_models;
    const vf_eval_row *rows;
    int n_rows;
    const reference *ref;      /* NULL without --reference */
} report;

static void cell(char *buf, size_t cap, double v, bool is_ratio) {
    if (!isfinite(v)) snprintf(buf, cap, "%s", "n/a");
    else snprintf(buf, cap, is_ratio ? "%.3gx" : "%.4g", v);
}

/* One cell of a table: markdown "| text " or aligned text (left-aligned
 * when width < 0). */
static void put(FILE *f, bool md, int width, const char *text) {
    if (md) fprintf(f, "| %s ", text);
    else fprintf(f, "%*s  ", width, text);
}

/* One table; markdown or aligned text. The columns of a failed model say
 * "failed". */
static void write_table(FILE *f, const report *R, bool md) {
    enum { W0 = -28, W1 = -17, WV = 11, WR = 8 };
    put(f, md, W0, "metric");
    put(f, md, W1, "unit");
    put(f, md, WV, "floor");
    put(f, md, WV, "marginals");
    for (int i = 0; i < R->n_models; i++) {
        put(f, md, WV, R->m[i].name);
        put(f, md, WR, "/floor");
    }
    for (int j = 0; R->ref && j < R->ref->n_labels; j++) put(f, md, WV, R->ref->label[j]);
    fputs(md ? "|\n" : "\n", f);
    if (md) {
        fputs("|---|---|---:|---:|", f);
        for (int i = 0; i < R->n_models; i++) fputs("---:|---:|", f);
        for (int j = 0; R->ref && j < R->ref->n_labels; j++) fputs("---:|", f);
        fputc('\n', f);
    }
    for (int k = 0; k < R->n_rows; k++) {
        const vf_eval_row *x = &R->rows[k];
        double fl = vf_eval_row_value(x, R->floor);
        char c[64];
        put(f, md, W0, x->key);
        put(f, md, W1, x->unit);
        cell(c, sizeof c, fl, false);
        put(f, md, WV, c);
        cell(c, sizeof c, vf_eval_row_value(x, R->marg), false);
        put(f, md, WV, c);
        for (int i = 0; i < R->n_models; i++) {
            if (!R->m[i].r) {
                put(f, md, WV, "failed");
                put(f, md, WR, "");
                continue;
            }
            double v = vf_eval_row_value(x, R->m[i].r);
            cell(c, sizeof c, v, false);
            put(f, md, WV, c);
            cell(c, sizeof c, vf_eval_ratio(v, fl), true);
            put(f, md, WR, c);
        }
        for (int j = 0; R->ref && j < R->ref->n_labels; j++) {
            double v = R->ref->v[k][j];
            if (isfinite(v)) snprintf(c, sizeof c, "%.10g", v);
            else c[0] = 0;
            put(f, md, WV, c);
        }
        fputs(md ? "|\n" : "\n", f);
    }
}

static void describe(FILE *f, const report *R, bool md) {
    const char *b = md ? "**" : "", *nl = md ? "\n\n" : "\n";   /* markdown: one paragraph each */
    fprintf(f, "%s%s%s: %s; the models are scored against %s (%s).%s", b,
            R->holdout ? "out of sample" : "in sample", b,
            R->holdout ? "every model trained on split half A" : "every model trained on the whole trace",
            R->ref_name, R->holdout ? "half B" : "the training trace", nl);
    fprintf(f, "floor: eval(A, B) of the 5-tuple split (seed %d) of %s; marginals: fields drawn independently "
               "from %s, scored against %s.%s", SPLIT_SEED, R->flows ? "the first flows" : "the trace",
            R->holdout ? "A's marginals" : "the trace's marginals", R->holdout ? "B" : "the trace", nl);
    fputs("Units: JSD in nats (scipy jensenshannon**2); *.emd raw EMD in the field's unit (td s, ts us, pkt "
          "packets, byt bytes); *.emd_norm EMD / (p99 - p1) of the real side; /floor = value / floor. "
          "Lower is better.", f);
    if (R->ref) fputs(" Reference columns: values from --reference, as given.", f);
    fputs(nl, f);
    for (int i = 0; i < R->n_models; i++)
        if (R->m[i].error[0]) fprintf(f, "%s failed: %s%s", R->m[i].name, R->m[i].error, nl);
}



static vf_status write_json(const char *path, const report *R) {
    vf_atomic_file o;
    VF_TRY(vf_atomic_open(&o, path));
    FILE *f = o.f;
    fputs("{\n  \"format\": \"vkflow-compare-1\",\n  \"config\": ", f);
    vf_json_str(f, R->config);
    fprintf(f, ",\n  \"holdout\": %s,\n  \"flows\": %lld,\n  \"split_seed\": %d,\n  \"training_trace\": ",
            R->holdout ? "true" : "false", R->flows, SPLIT_SEED);
    vf_json_str(f, R->train_data);
    fputs(",\n  \"scored_against\": ", f);
    vf_json_str(f, R->ref_name);
    fputs(",\n  \"units\": {\"jsd\": \"nats (scipy jensenshannon(p, q)**2)\", \"emd\": \"raw, the field's unit\", "
          "\"emd_norm\": \"EMD / (p99 - p1) of the real side\"},\n  \"models\": [", f);
    for (int i = 0; i < R->n_models; i++) {
        const model *m = &R->m[i];
        fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
        vf_json_str(f, m->name);
        fputs(", \"file\": ", f);
        vf_json_str(f, m->file);
        fputs(", \"run_dir\": ", f);
        vf_json_str(f, m->dir);
        fprintf(f, ", \"status\": \"%s\"", m->r ? "ok" : "failed");
        if (m->error[0]) { fputs(", \"error\": ", f); vf_json_str(f, m->error); }
        fputc('}', f);
    }
    fputs("\n  ],\n  \"reference_labels\": [", f);
    for (int j = 0; R->ref && j < R->ref->n_labels; j++) {
        if (j) fputs(", ", f);
        vf_json_str(f, R->ref->label[j]);
    }
    fputs("],\n  \"metrics\": [", f);
    for (int k = 0; k < R->n_rows; k++) {
        const vf_eval_row *x = &R->rows[k];
        double fl = vf_eval_row_value(x, R->floor);
        fprintf(f, "%s\n    {\"key\": ", k ? "," : "");
        vf_json_str(f, x->key);
        fputs(", \"unit\": ", f);
        vf_json_str(f, x->unit);
        fputs(", \"group\": ", f);
        vf_json_str(f, x->group);
        fputs(", \"floor\": ", f);
        vf_json_num(f, fl);
        fputs(", \"marginals\": ", f);
        vf_json_num(f, vf_eval_row_value(x, R->marg));
        fputs(", \"models\": {", f);
        for (int i = 0; i < R->n_models; i++) {
            fprintf(f, "%s", i ? ", " : "");
            vf_json_str(f, R->m[i].name);
            if (!R->m[i].r) { fputs(": null", f); continue; }
            double v = vf_eval_row_value(x, R->m[i].r);
            fputs(": {\"value\": ", f);
            vf_json_num(f, v);
            fputs(", \"ratio_to_floor\": ", f);
            vf_json_num(f, vf_eval_ratio(v, fl));
            fputc('}', f);
        }
        fputs("}, \"reference\": {", f);
        for (int j = 0, first = 1; R->ref && j < R->ref->n_labels; j++) {
            if (!isfinite(R->ref->v[k][j])) continue;
            fprintf(f, "%s", first ? "" : ", ");
            first = 0;
            vf_json_str(f, R->ref->label[j]);
            fputs(": ", f);
            vf_json_num(f, R->ref->v[k][j]);
        }
        fputs("}}", f);
    }
    fputs("\n  ]\n}\n", f);
    return vf_atomic_commit(&o);
}

static void hesc(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

static vf_status write_html(const char *path, const report *R) {
    char *body = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&body, &len);
    if (!f) return vf_fail(VF_ERR_OOM, "%s: out of memory", path);
    fputs("<p class=conv>", f);
    char *d = NULL;
    size_t dl = 0;
    FILE *df = open_memstream(&d, &dl);
    if (df) {
        describe(df, R, false);
        fclose(df);
        for (char *s = d; s && *s; s++) {
            if (*s == '\n') fputs("<br>\n", f);
            else { char c[2] = {*s, 0}; hesc(f, c); }
        }
        free(d);
    }
    fputs("</p>\n<table>\n<tr><th>metric</th><th>unit</th><th>floor</th><th>marginals</th>", f);
    for (int i = 0; i < R->n_models; i++) {
        fputs("<th>", f);
        hesc(f, R->m[i].name);
        fputs("</th><th>/floor</th>", f);
    }
    for (int j = 0; R->ref && j < R->ref->n_labels; j++) {
        fputs("<th>", f);
        hesc(f, R->ref->label[j]);
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    for (int k = 0; k < R->n_rows; k++) {
        const vf_eval_row *x = &R->rows[k];
        double fl = vf_eval_row_value(x, R->floor);
        char c[64];
        fprintf(f, "<tr><td>%s</td><td>", x->key);
        hesc(f, x->unit);
        cell(c, sizeof c, fl, false);
        fprintf(f, "</td><td class=n>%s</td>", c);
        cell(c, sizeof c, vf_eval_row_value(x, R->marg), false);
        fprintf(f, "<td class=n>%s</td>", c);
        for (int i = 0; i < R->n_models; i++) {
            if (!R->m[i].r) { fputs("<td>failed</td><td></td>", f); continue; }
            double v = vf_eval_row_value(x, R->m[i].r);
            cell(c, sizeof c, v, false);
            fprintf(f, "<td class=n>%s</td>", c);
            cell(c, sizeof c, vf_eval_ratio(v, fl), true);
            fprintf(f, "<td class=n>%s</td>", c);
        }
        for (int j = 0; R->ref && j < R->ref->n_labels; j++) {
            if (isfinite(R->ref->v[k][j])) fprintf(f, "<td class=n>%.10g</td>", R->ref->v[k][j]);
            else fputs("<td></td>", f);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
    fclose(f);
    /* curves: the marginals baseline, then every model (a failed one draws none) */
    const vf_eval_result *res[MAX_MODELS + 1];
    const char *names[MAX_MODELS + 1];
    res[0] = R->marg;
    names[0] = "marginals";
    for (int i = 0; i < R->n_models; i++) {
        res[i + 1] = R->m[i].r;
        names[i + 1] = R->m[i].name;
    }
    vf_status st = vf_eval_write_html_overlay(path, "vkflow compare", body, res, names, R->n_models + 1);
    free(body);
    return st;
}

/* ------------------------------------------------------------ command */

typedef struct args {
    const char *config, *out, *reference;
    char *models;
    bool holdout;
    long long flows;
    const char *sets[VF_RUN_MAX_SETTINGS];
    int n_sets;
    char extra[2][64];         /* run.iterations=N, run.seed=S */
} args;

static int parse_count(const char *opt, const char *s, long long *v) {
    char *end;
    errno = 0;
    *v = strtoll(s, &end, 10);
    if (end == s || *end || errno || *v < 1) {
        fprintf(stderr, "vkflow compare: %s wants a positive integer, not '%s'\n", opt, s);
        return 1;
    }
    return 0;
}

static int add_set(args *a, const char *s) {
    if (a->n_sets == VF_RUN_MAX_SETTINGS) { fprintf(stderr, "vkflow compare: too many --set\n"); return 1; }
    a->sets[a->n_sets++] = s;
    return 0;
}

static int parse_args(int argc, char **argv, args *a) {
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        long long v;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return -1; }
        else if (!strcmp(argv[i], "--models") && i + 1 < argc) a->models = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) a->out = argv[++i];
        else if (!strcmp(argv[i], "--reference") && i + 1 < argc) a->reference = argv[++i];
        else if (!strcmp(argv[i], "--holdout")) a->holdout = true;
        else if (!strcmp(argv[i], "--flows") && i + 1 < argc) {
            if (parse_count("--flows", argv[++i], &a->flows)) return 2;
        } else if (!strcmp(argv[i], "--iterations") && i + 1 < argc) {
            if (parse_count("--iterations", argv[++i], &v)) return 2;
            snprintf(a->extra[0], sizeof a->extra[0], "run.iterations=%lld", v);
            if (add_set(a, a->extra[0])) return 2;
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(argv[++i], &end, 0);
            if (end == argv[i] || *end || errno || argv[i][0] == '-') {
                fprintf(stderr, "vkflow compare: --seed '%s' is not a number\n", argv[i]);
                return 2;
            }
            snprintf(a->extra[1], sizeof a->extra[1], "run.seed=%llu", s);
            if (add_set(a, a->extra[1])) return 2;
        } else if (!strcmp(argv[i], "--set") && i + 1 < argc) {
            if (add_set(a, argv[++i])) return 2;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "vkflow compare: unknown or incomplete option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (!a->config) a->config = argv[i];
        else { fprintf(stderr, "vkflow compare: unexpected argument '%s'\n", argv[i]); return 2; }
    }
    if (!a->config || !a->models || !a->out) {
        fprintf(stderr, "vkflow compare: CONFIG, --models and --out are required\n");
        usage(stderr);
        return 2;
    }
    return 0;
}

/* Everything that needs freeing, in one place. */
typedef struct state {
    vf_run_config *rc;
    vf_trace real, a, b, m;   /* the trace, split halves, marginals */
    vf_eval_result *floor, *marg;
    model models[MAX_MODELS];
    int n_models;
    reference ref_cols;
} state;

static void state_free(state *S) {
    free(S->rc);
    vf_trace_free(&S->real);
    vf_trace_free(&S->a);
    vf_trace_free(&S->b);
    vf_trace_free(&S->m);
    free(S->floor);
    free(S->marg);
    for (int i = 0; i < S->n_models; i++) free(S->models[i].r);
}

static int fail(const char *what) {
    fprintf(stderr, "vkflow compare: %s%s%s\n", what ? what : "", what ? ": " : "", vf_last_error());
    return 1;
}

/* Writes t to DIR/name.ext (by t's kind) and returns the path in out. */
static vf_status write_trace(const char *dir, const char *name, const vf_trace *t, char *out, size_t cap) {
    char file[160];
    snprintf(file, sizeof file, "%s.%s", name, ext_of(t->kind));
    vf_run_path(out, cap, dir, file);
    return vf_trace_write(out, t);
}

static int compare_body(const args *A, state *S) {
    S->rc = malloc(sizeof *S->rc);
    S->floor = malloc(sizeof *S->floor);
    S->marg = malloc(sizeof *S->marg);
    if (!S->rc || !S->floor || !S->marg) { fprintf(stderr, "vkflow compare: out of memory\n"); return 1; }
    char *models = strdup(A->models);
    if (!models) { fprintf(stderr, "vkflow compare: out of memory\n"); return 1; }
    int rcode = split_models(models, S->models, &S->n_models);
    if (!rcode && S->n_models == 0) { fprintf(stderr, "vkflow compare: --models names no model file\n"); rcode = 2; }
    if (rcode) { free(models); return 2; }
    /* the names in S->models point into `models`: keep it until the end */
    rcode = 1;
    if (vf_run_config_load_with(A->config, A->sets, A->n_sets, S->rc) != VF_OK) { fail(NULL); goto out; }
    if (vf_run_make_dirs(A->out) != VF_OK) { fail(NULL); goto out; }

    /* the trace, as the run reads it; optionally its first N flows */
    fprintf(stderr, "vkflow compare: reading %s\n", S->rc->data.path);
    if (vf_data_desc_read_trace(&S->rc->data, &S->real) != VF_OK) { fail(A->config); goto out; }
    char whole[4400], train_data[4400], ref_name[4400];
    vf_copy_str(whole, sizeof whole, S->rc->data.path);
    if (A->flows) {
        vf_trace sub;
        char name[64];
        snprintf(name, sizeof name, "first_%lld_flows", A->flows);
        if (first_flows(&S->real, (size_t)A->flows, &sub) != VF_OK) { fail(NULL); goto out; }
        vf_status st = write_trace(A->out, name, &sub, whole, sizeof whole);
        free(sub.recs);  /* the rest of sub is real's */
        if (st) { fail(NULL); goto out; }
        vf_trace_free(&S->real);
        if (read_as_data(S->rc, whole, &S->real) != VF_OK) { fail(NULL); goto out; }
        fprintf(stderr, "vkflow compare: the first %lld flows: %s (%zu records)\n", A->flows, whole, S->real.n);
    }

    /* the floor: the 5-tuple split, through files (as vkflow baseline split
     * then vkflow eval A B) so that it sees what the models train on */
    char pa[4400], pb[4400];
    vf_trace a0, b0;
    if (vf_baseline_split(&S->real, SPLIT_SEED, &a0, &b0) != VF_OK) { fail("split"); goto out; }
    vf_status st = write_trace(A->out, "A", &a0, pa, sizeof pa);
    if (!st) st = write_trace(A->out, "B", &b0, pb, sizeof pb);
    vf_trace_free(&a0);
    vf_trace_free(&b0);
    if (st) { fail("split"); goto out; }
    if (read_as_data(S->rc, pa, &S->a) != VF_OK || read_as_data(S->rc, pb, &S->b) != VF_OK) { fail(NULL); goto out; }
    if (vf_eval_compare(&S->a, &S->b, S->floor) != VF_OK) { fail("floor eval(A, B)"); goto out; }
    vf_copy_str(S->floor->real_name, sizeof S->floor->real_name, pa);
    vf_copy_str(S->floor->syn_name, sizeof S->floor->syn_name, pb);

    /* training data and the trace every model is scored against */
    vf_copy_str(train_data, sizeof train_data, A->holdout ? pa : whole);
    vf_copy_str(ref_name, sizeof ref_name, A->holdout ? pb : whole);
    const vf_trace *ref = A->holdout ? &S->b : &S->real;
    const vf_trace *marg_of = A->holdout ? &S->a : &S->real;
    if (vf_baseline_marginals(marg_of, SPLIT_SEED, &S->m) != VF_OK || vf_eval_compare(ref, &S->m, S->marg) != VF_OK) {
        fail("marginals baseline");
        goto out;
    }
    vf_copy_str(S->marg->real_name, sizeof S->marg->real_name, ref_name);
    vf_copy_str(S->marg->syn_name, sizeof S->marg->syn_name, "marginals (in memory)");
    fprintf(stderr, "vkflow compare: %s; split A %zu, B %zu records; training on %s, scoring against %s\n",
            A->holdout ? "out of sample (--holdout)" : "in sample", S->a.n, S->b.n, train_data, ref_name);

    vf_eval_row rows[VF_EVAL_MAX_ROWS];
    int n_rows = vf_eval_rows(S->real.kind, rows);
    if (A->reference && load_reference(A->reference, rows, n_rows, &S->ref_cols)) goto out;

    run_ui ui;
    run_ui_init(&ui, "vkflow compare");
    bool stopped = false;
    int failed = 0;
    for (int i = 0; i < S->n_models && !stopped; i++) {
        model *m = &S->models[i];
        vf_run_path(m->dir, sizeof m->dir, A->out, m->name);
        fprintf(stderr, "vkflow compare: model %d/%d: %s -> %s\n", i + 1, S->n_models, m->file, m->dir);
        int r = run_model(S->rc, train_data, ref, ref_name, m, &ui);
        if (r == 2) stopped = true;
        else if (r == 1) {
            failed++;
            fprintf(stderr, "vkflow compare: model %s failed: %s\n", m->file, m->error);
        }
    }
    if (stopped) {
        fprintf(stderr, "vkflow compare: stopped by %s; the checkpoints are in %s. Continue with the same command.\n",
                run_ui_signal_name(run_ui_stop_signal()), A->out);
        rcode = run_ui_stop_status();
        goto out;
    }

    report R = {.config = A->config, .out = A->out, .train_data = train_data, .ref_name = ref_name,
                .holdout = A->holdout, .flows = A->flows, .floor = S->floor, .marg = S->marg, .m = S->models,
                .n_models = S->n_models, .rows = rows, .n_rows = n_rows, .ref = A->reference ? &S->ref_cols : NULL};
    describe(stdout, &R, false);
    write_table(stdout, &R, false);
    char p[4400];
    int wrote = 0;
    vf_run_path(p, sizeof p, A->out, "compare.md");
    vf_atomic_file o;
    if (vf_atomic_open(&o, p) == VF_OK) {
        describe(o.f, &R, true);
        write_table(o.f, &R, true);
        if (vf_atomic_commit(&o) == VF_OK) wrote++;
        else fail(NULL);
    } else fail(NULL);
    vf_run_path(p, sizeof p, A->out, "compare.json");
    if (write_json(p, &R) == VF_OK) wrote++;
    else fail(NULL);
    vf_run_path(p, sizeof p, A->out, "compare.html");
    if (write_html(p, &R) == VF_OK) wrote++;
    else fail(NULL);
    printf("written: %s/compare.md, compare.json, compare.html\n", A->out);
    rcode = failed || wrote < 3 ? 1 : 0;
    if (failed) fprintf(stderr, "vkflow compare: %d of %d models failed (see above)\n", failed, S->n_models);
out:
    free(models);
    return rcode;
}

int cmd_compare(int argc, char **argv) {
    args A;
    int r = parse_args(argc, argv, &A);
    if (r) return r < 0 ? 0 : r;
    state S;
    memset(&S, 0, sizeof S);
    r = compare_body(&A, &S);
    state_free(&S);
    return r;
}
