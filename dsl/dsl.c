/* vkflow model description language: validation and lowering to the graph IR.
 * The language is described in dsl/README.md. Every problem is reported as
 * "file:line: message" (libconfig's source positions); the loader collects
 * them all, never stops at the first, and never crashes on bad input. */
#include "model.h"
#include "graph/dp.h"
#include "settings.h"
#include "util.h"

#include <ctype.h>
#include <libconfig.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SYMS 512
#define MAX_NETS 32
#define MAX_OVERRIDES 64
#define MAX_DIMS 64

typedef struct sym { char *name; int node; } sym;

typedef struct net {
    const char *name;
    config_setting_t *s, *layers;
    int64_t in_width;
    int applied;            /* times applied: parameters are created on the first */
    int *params;            /* per layer, up to 6 param ids */
} net;

struct vf_model {
    config_t cfg;
    char *path;
    vf_graph *g;
    char *errs;
    size_t errs_len, errs_cap;
    int n_errs;
    sym syms[MAX_SYMS];
    int n_syms;
    net nets[MAX_NETS];
    int n_nets;
    /* inline data of inputs */
    int n_data;
    struct { int node; void *data; size_t bytes; } data[64];
    /* programs (declared in `programs`) and what they share */
    int n_prog, cap_prog;
    vf_prog_desc *prog;
    vf_optimizer_config opt;          /* the model's optimizer; programs may override it */
    float ema_decay[MAX_NETS];        /* per network, 0 = no EMA */
    /* training: the driver's name, iterations and seed defaults, the group
     * its settings are read from, and which of its members were read */
    char algorithm[32];
    int64_t steps;
    uint64_t seed;
    bool steps_set, seed_set;
    config_setting_t *training;
    bool read[64];
    uint32_t next_stream;
    /* symbolic dimensions: the caller's first (they win), then the file's `dims` */
    int n_dims;
    struct { char *name; int64_t value; } dims[MAX_DIMS];
    int n_caller_dims;
    vf_model_env env;
    /* settings changed by the caller (overrides), for messages naming them */
    int n_ovr;
    struct { const config_setting_t *s; char *origin; } ovr[MAX_OVERRIDES];
};

/* ------------------------------------------------------------------ errors */

/* The file a setting came from; @included files are named relative to the
 * include folder by libconfig, so that folder is put in front. */
static const char *file_of(vf_model *m, const config_setting_t *s, char *buf, size_t len) {
    const char *f = s ? config_setting_source_file(s) : NULL;
    if (!f) return m->path;
    const char *dir = config_get_include_dir(&m->cfg);
    if (f[0] != '/' && dir && strcmp(f, m->path)) {
        snprintf(buf, len, "%s/%s", dir, f);
        return buf;
    }
    return f;
}

__attribute__((format(printf, 3, 4))) static void err(vf_model *m, const config_setting_t *s, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char line[1024], fb[512];
    const char *origin = NULL;
    for (int i = 0; i < m->n_ovr && s; i++)
        if (m->ovr[i].s == s) origin = m->ovr[i].origin;
    int n = origin ? snprintf(line, sizeof line, "%s: %s\n", origin, msg)
                   : snprintf(line, sizeof line, "%s:%d: %s\n", file_of(m, s, fb, sizeof fb),
                              s ? (int)config_setting_source_line(s) : 0, msg);
    if (n < 0) return;
    size_t len = strlen(line);
    if (m->errs_len + len + 1 > m->errs_cap) {
        size_t cap = (m->errs_cap + len + 1) * 2;
        char *e = realloc(m->errs, cap);
        if (!e) return;
        m->errs = e;
        m->errs_cap = cap;
    }
    memcpy(m->errs + m->errs_len, line, len + 1);
    m->errs_len += len;
    m->n_errs++;
}

/* Takes the graph builder's message (shape errors) as an error at s. */
static int gerr(vf_model *m, const config_setting_t *s, int id) {
    if (id >= 0 && !m->g->err) return id;
    if (m->g->err) {
        err(m, s, "%s", m->g->errmsg);
        m->g->err = VF_OK; /* keep going to report further problems */
        m->g->errmsg[0] = 0;
    }
    return -1;
}

static int edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    int d[64][64];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int c = d[i - 1][j - 1] + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
            d[i][j] = c;
        }
    return d[la][lb];
}

/* " (did you mean 'x'?)" for the closest of names within distance 2, or "". */
const char *vf_suggest(const char *word, const char *const *names, int n, char *buf, size_t len) {
    int best = 3;
    const char *bn = NULL;
    for (int i = 0; i < n; i++) {
        int dd = edit_distance(word, names[i]);
        if (dd < best) { best = dd; bn = names[i]; }
    }
    if (bn) snprintf(buf, len, " (did you mean '%s'?)", bn);
    else buf[0] = 0;
    return buf;
}

static void join(const char *const *names, int n, char *buf, size_t len) {
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < n && k < len; i++) k += (size_t)snprintf(buf + k, len - k, "%s%s", i ? ", " : "", names[i]);
}

/* ----------------------------------------------------------- key checking */

enum { T_INT = 1, T_NUM, T_STR, T_BOOL, T_ARRAY, T_LIST, T_GROUP, T_STR_OR_ARRAY, T_DIM };

typedef struct key { const char *name; int type; bool required; } key;

static const char *type_word(int t) {
    switch (t) {
    case T_INT: return "an integer";
    case T_NUM: return "a number";
    case T_STR: return "a string";
    case T_BOOL: return "true or false";
    case T_ARRAY: return "an array [ ... ]";
    case T_LIST: return "a list ( ... )";
    case T_GROUP: return "a group { ... }";
    case T_DIM: return "an integer or a dimension expression string such as \"max_len / sample_len\"";
    default: return "a string or an array of strings";
    }
}

static bool type_ok(const config_setting_t *s, int t) {
    int ct = config_setting_type(s);
    switch (t) {
    case T_INT: return ct == CONFIG_TYPE_INT || ct == CONFIG_TYPE_INT64;
    case T_NUM: return ct == CONFIG_TYPE_INT || ct == CONFIG_TYPE_INT64 || ct == CONFIG_TYPE_FLOAT;
    case T_STR: return ct == CONFIG_TYPE_STRING;
    case T_BOOL: return ct == CONFIG_TYPE_BOOL;
    case T_ARRAY: return ct == CONFIG_TYPE_ARRAY;
    case T_LIST: return ct == CONFIG_TYPE_LIST;
    case T_GROUP: return ct == CONFIG_TYPE_GROUP;
    case T_DIM: return ct == CONFIG_TYPE_INT || ct == CONFIG_TYPE_INT64 || ct == CONFIG_TYPE_STRING;
    default: return ct == CONFIG_TYPE_STRING || ct == CONFIG_TYPE_ARRAY;
    }
}

/* Checks the members of group g against keys: unknown keys (with a
 * suggestion), wrong types, missing required ones. Returns false on any. */
static bool check_keys(vf_model *m, config_setting_t *g, const char *what, const key *keys) {
    bool ok = true;
    const char *names[32];
    int nk = 0;
    for (; keys[nk].name; nk++) names[nk] = keys[nk].name;
    for (int i = 0; i < config_setting_length(g); i++) {
        config_setting_t *e = config_setting_get_elem(g, (unsigned)i);
        const char *nm = config_setting_name(e);
        if (!nm) continue;
        int k = 0;
        while (k < nk && strcmp(keys[k].name, nm)) k++;
        if (k == nk) {
            char sug[96], all[512];
            join(names, nk, all, sizeof all);
            err(m, e, "unknown key '%s' in %s%s; expected one of: %s", nm, what, vf_suggest(nm, names, nk, sug, sizeof sug), all);
            ok = false;
        } else if (!type_ok(e, keys[k].type)) {
            err(m, e, "'%s' in %s must be %s", nm, what, type_word(keys[k].type));
            ok = false;
        }
    }
    for (int k = 0; k < nk; k++)
        if (keys[k].required && !config_setting_get_member(g, keys[k].name)) {
            err(m, g, "missing field '%s' in %s (%s)", keys[k].name, what, type_word(keys[k].type));
            ok = false;
        }
    return ok;
}

static const char *get_str(config_setting_t *g, const char *k, const char *def) {
    const char *v;
    return config_setting_lookup_string(g, k, &v) ? v : def;
}
static double get_num(config_setting_t *g, const char *k, double def) {
    config_setting_t *s = config_setting_get_member(g, k);
    if (!s) return def;
    int t = config_setting_type(s);
    if (t == CONFIG_TYPE_FLOAT) return config_setting_get_float(s);
    if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) return (double)config_setting_get_int64(s);
    return def;
}
static int64_t get_int(config_setting_t *g, const char *k, int64_t def) {
    config_setting_t *s = config_setting_get_member(g, k);
    if (!s) return def;
    int t = config_setting_type(s);
    return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64 ? config_setting_get_int64(s) : def;
}

/* ------------------------------------------------------ symbolic dimensions */

/* Integer expressions over the dims table: numbers, names, + - * / % and
 * parentheses; '/' is integer division rounding down ((a + b - 1) / b rounds
 * up), '%' the remainder. */
typedef struct dparser {
    vf_model *m;
    config_setting_t *s;
    const char *src, *p;
    bool failed, quiet;
} dparser;

static void dperr(dparser *P, const char *msg) {
    if (P->failed) return;
    P->failed = true;
    if (!P->quiet) err(P->m, P->s, "dimension \"%s\", at column %d: %s", P->src, (int)(P->p - P->src) + 1, msg);
}

static int64_t dim_lookup(const vf_model *m, const char *name, bool *found) {
    for (int i = 0; i < m->n_dims; i++)
        if (!strcmp(m->dims[i].name, name)) { *found = true; return m->dims[i].value; }
    *found = false;
    return 0;
}

static int64_t dparse_sum(dparser *P);

static int64_t dparse_atom(dparser *P) {
    while (isspace((unsigned char)*P->p)) P->p++;
    if (*P->p == '(') {
        P->p++;
        int64_t v = dparse_sum(P);
        while (isspace((unsigned char)*P->p)) P->p++;
        if (*P->p != ')') { dperr(P, "expected ')'"); return 0; }
        P->p++;
        return v;
    }
    if (*P->p == '-') { P->p++; return -dparse_atom(P); }
    if (isdigit((unsigned char)*P->p)) {
        char *end;
        long long v = strtoll(P->p, &end, 10);
        P->p = end;
        return v;
    }
    if (isalpha((unsigned char)*P->p) || *P->p == '_') {
        char name[64];
        size_t n = 0;
        while ((isalnum((unsigned char)*P->p) || *P->p == '_') && n < sizeof name - 1) name[n++] = *P->p++;
        name[n] = 0;
        bool found;
        int64_t v = dim_lookup(P->m, name, &found);
        if (!found) {
            const char *names[MAX_DIMS];
            for (int i = 0; i < P->m->n_dims; i++) names[i] = P->m->dims[i].name;
            char sug[96], all[512], msg[800];
            join(names, P->m->n_dims, all, sizeof all);
            snprintf(msg, sizeof msg, "unknown dimension '%s'%s; known: %s (the caller's and the file's `dims`)", name,
                     vf_suggest(name, names, P->m->n_dims, sug, sizeof sug), P->m->n_dims ? all : "none");
            dperr(P, msg);
        }
        return v;
    }
    dperr(P, *P->p ? "expected a number, a dimension name or '('" : "unexpected end");
    return 0;
}

static int64_t dparse_prod(dparser *P) {
    int64_t v = dparse_atom(P);
    for (;;) {
        while (isspace((unsigned char)*P->p)) P->p++;
        char c = *P->p;
        if (c != '*' && c != '/' && c != '%') return v;
        P->p++;
        int64_t r = dparse_atom(P);
        if (P->failed) return 0;
        if (c == '*') {
            if (v > ((int64_t)1 << 40) || r > ((int64_t)1 << 40)) { dperr(P, "value too large"); return 0; }
            v *= r;
        } else if (r == 0) {
            dperr(P, "division by zero");
            return 0;
        } else if (c == '%') {
            v %= r;
        } else {
            v /= r;
        }
    }
}

static int64_t dparse_sum(dparser *P) {
    int64_t v = dparse_prod(P);
    for (;;) {
        while (isspace((unsigned char)*P->p)) P->p++;
        char c = *P->p;
        if (c != '+' && c != '-') return v;
        P->p++;
        int64_t r = dparse_prod(P);
        v = c == '+' ? v + r : v - r;
    }
}

/* Value of setting e (an integer or an expression string). quiet: report
 * nothing (the setting was checked before). */
static bool dim_value(vf_model *m, config_setting_t *e, bool quiet, int64_t *out) {
    int t = config_setting_type(e);
    if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) { *out = config_setting_get_int64(e); return true; }
    if (t != CONFIG_TYPE_STRING) {
        if (!quiet) err(m, e, "expected %s", type_word(T_DIM));
        return false;
    }
    const char *src = config_setting_get_string(e);
    dparser P = {m, e, src, src, false, quiet};
    int64_t v = dparse_sum(&P);
    while (isspace((unsigned char)*P.p)) P.p++;
    if (!P.failed && *P.p) dperr(&P, "unexpected text after the expression");
    if (P.failed) return false;
    *out = v;
    return true;
}

static int64_t get_dim(vf_model *m, config_setting_t *g, const char *k, int64_t def) {
    config_setting_t *s = config_setting_get_member(g, k);
    int64_t v;
    return s && dim_value(m, s, true, &v) ? v : def;
}

static void add_dim(vf_model *m, config_setting_t *s, const char *name, int64_t v) {
    if (m->n_dims == MAX_DIMS || !(m->dims[m->n_dims].name = strdup(name))) {
        err(m, s, "too many dimensions (at most %d)", MAX_DIMS);
        return;
    }
    m->dims[m->n_dims++].value = v;
}

/* dims = { batch = 100; steps = "(max_len + sample_len - 1) / sample_len"; };
 * in order, each may use the ones above and the caller's. A name the caller
 * gives keeps the caller's value (the file's is a default). */
static void load_dims(vf_model *m, config_setting_t *d) {
    for (int i = 0; i < config_setting_length(d); i++) {
        config_setting_t *e = config_setting_get_elem(d, (unsigned)i);
        const char *nm = config_setting_name(e);
        bool given = false;
        for (int k = 0; k < m->n_caller_dims; k++) given |= !strcmp(m->dims[k].name, nm);
        if (!type_ok(e, T_DIM)) { err(m, e, "dimension '%s' must be %s", nm, type_word(T_DIM)); continue; }
        int64_t v;
        if (!dim_value(m, e, false, &v)) continue;
        if (given) continue;
        if (v < 1) { err(m, e, "dimension '%s' = %lld; dimensions must be >= 1", nm, (long long)v); continue; }
        add_dim(m, e, nm, v);
    }
}

/* ----------------------------------------------------------------- symbols */

static int lookup(vf_model *m, const char *name) {
    for (int i = 0; i < m->n_syms; i++)
        if (!strcmp(m->syms[i].name, name)) return m->syms[i].node;
    return -1;
}

static const char *suggest_sym(vf_model *m, const char *name, char *buf, size_t len) {
    const char *names[MAX_SYMS];
    for (int i = 0; i < m->n_syms; i++) names[i] = m->syms[i].name;
    return vf_suggest(name, names, m->n_syms, buf, len);
}

static bool define(vf_model *m, config_setting_t *s, const char *name, int node) {
    if (lookup(m, name) >= 0) {
        err(m, s, "'%s' is defined twice", name);
        return false;
    }
    if (m->n_syms == MAX_SYMS || !(m->syms[m->n_syms].name = strdup(name))) {
        err(m, s, "too many names (at most %d)", MAX_SYMS);
        return false;
    }
    m->syms[m->n_syms++].node = node;
    /* the node carries the name (DOT, messages, the trainer's metrics) unless it has one */
    if (!m->g->nodes[node].name) vf_g_label(m->g, node, name);
    return true;
}

/* A tensor named by key k of group s, reported if unknown. */
static int ref(vf_model *m, config_setting_t *s, const char *k) {
    config_setting_t *e = config_setting_get_member(s, k);
    const char *nm = e ? config_setting_get_string(e) : NULL;
    if (!nm) return -1;
    int id = lookup(m, nm);
    if (id < 0) {
        char sug[96];
        err(m, e, "unknown tensor '%s'%s; names must be defined above (inputs, noise, tensors, losses)", nm,
            suggest_sym(m, nm, sug, sizeof sug));
    }
    return id;
}

/* ------------------------------------------------------------------ shapes */

/* shape = [a] or [a, b] or [B, T, F] (stored as [B, T*F]) */
static bool read_shape(vf_model *m, config_setting_t *g, int *ndim, int64_t *shape) {
    config_setting_t *s = config_setting_get_member(g, "shape");
    if (!s) return false;
    if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
        err(m, s, "shape must be an array [ ... ] of integers or dimension names");
        return false;
    }
    if (!s) return false;
    int n = config_setting_length(s);
    if (n < 1 || n > 3) {
        err(m, s, "shape must have 1 to 3 dimensions, got %d", n);
        return false;
    }
    int64_t d[3];
    for (int i = 0; i < n; i++) {
        config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (!dim_value(m, e, false, &d[i])) return false;
        if (d[i] < 1 || d[i] > (1 << 28)) {
            err(m, s, "shape entry %d must be a positive integer", i);
            return false;
        }
    }
    if (n == 3) { d[1] *= d[2]; n = 2; }
    *ndim = n;
    shape[0] = d[0];
    shape[1] = n == 2 ? d[1] : 1;
    if (n == 1) shape[0] = d[0];
    return true;
}

/* ----------------------------------------------------------- expressions */

typedef struct parser {
    vf_model *m;
    config_setting_t *s;
    const char *src, *p;
    bool failed;
} parser;

static void perr(parser *P, const char *fmt, const char *arg) {
    if (P->failed) return;
    P->failed = true;
    char msg[256];
    snprintf(msg, sizeof msg, fmt, arg);
    err(P->m, P->s, "expression \"%s\", at column %d: %s", P->src, (int)(P->p - P->src) + 1, msg);
}

static void skip(parser *P) { while (isspace((unsigned char)*P->p)) P->p++; }
static int parse_expr(parser *P);

static const struct { const char *name; int op; int args; } funcs[] = {
    {"exp", VF_EW_EXP, 1}, {"log", VF_EW_LOG, 1}, {"log1p", VF_EW_LOG1P, 1}, {"tanh", VF_EW_TANH, 1},
    {"sigmoid", VF_EW_SIGMOID, 1}, {"softplus", VF_EW_SOFTPLUS, 1}, {"relu", VF_EW_RELU, 1},
    {"sqrt", VF_EW_SQRT, 1}, {"rsqrt", VF_EW_RSQRT, 1}, {"abs", VF_EW_ABS, 1}, {"square", VF_EW_SQUARE, 1},
    {"sin", VF_EW_SIN, 1}, {"cos", VF_EW_COS, 1}, {"max", VF_EW_MAX, 2}, {"min", VF_EW_MIN, 2},
    {"select", VF_EW_SELECT, 3},
    {"leaky_relu", VF_EW_LEAKY_RELU, 2}, {"sum", -1, 1}, {"mean", -2, 1},
    /* reductions of [R, C] over one axis: colsum/colmean over the rows (a [C] row vector: batch
     * statistics per column), rowsum/rowmean over the columns (a [R] per-row value) */
    {"colsum", -3, 1}, {"colmean", -4, 1}, {"rowsum", -5, 1}, {"rowmean", -6, 1},
};
#define N_FUNCS (int)(sizeof funcs / sizeof funcs[0])

static int parse_primary(parser *P) {
    skip(P);
    vf_graph *g = P->m->g;
    if (*P->p == '(') {
        P->p++;
        int v = parse_expr(P);
        skip(P);
        if (*P->p != ')') { perr(P, "expected ')'%s", ""); return -1; }
        P->p++;
        return v;
    }
    if (isdigit((unsigned char)*P->p) || *P->p == '.') {
        char *end;
        double v = strtod(P->p, &end);
        if (end == P->p) { perr(P, "bad number%s", ""); return -1; }
        P->p = end;
        return vf_g_scalar(g, (float)v);
    }
    if (isalpha((unsigned char)*P->p) || *P->p == '_') {
        char name[64];
        size_t n = 0;
        while ((isalnum((unsigned char)*P->p) || *P->p == '_') && n < sizeof name - 1) name[n++] = *P->p++;
        name[n] = 0;
        skip(P);
        if (*P->p != '(') {
            int id = lookup(P->m, name);
            if (id < 0) {
                char sug[96], msg[200];
                snprintf(msg, sizeof msg, "unknown tensor '%%s'%s", suggest_sym(P->m, name, sug, sizeof sug));
                perr(P, msg, name);
            }
            return id;
        }
        int f = 0;
        while (f < N_FUNCS && strcmp(funcs[f].name, name)) f++;
        if (f == N_FUNCS) {
            const char *names[N_FUNCS];
            for (int i = 0; i < N_FUNCS; i++) names[i] = funcs[i].name;
            char sug[96], msg[200];
            snprintf(msg, sizeof msg, "unknown function '%%s'%s", vf_suggest(name, names, N_FUNCS, sug, sizeof sug));
            perr(P, msg, name);
            return -1;
        }
        P->p++;
        int a[3] = {-1, -1, -1};
        double imm = 0;
        for (int k = 0; k < funcs[f].args; k++) {
            if (k) {
                skip(P);
                if (*P->p != ',') { perr(P, "expected ',' in a call of %s", funcs[f].name); return -1; }
                P->p++;
            }
            if (funcs[f].op == VF_EW_LEAKY_RELU && k == 1) {
                skip(P);
                char *end;
                imm = strtod(P->p, &end);
                if (end == P->p) { perr(P, "leaky_relu's slope must be a number%s", ""); return -1; }
                P->p = end;
            } else {
                a[k] = parse_expr(P);
            }
        }
        skip(P);
        if (*P->p != ')') { perr(P, "expected ')' after the arguments of %s", funcs[f].name); return -1; }
        P->p++;
        if (P->failed) return -1;
        if (funcs[f].op == -1 || funcs[f].op == -2) return vf_g_sum(g, a[0], VF_REDUCE_ALL, funcs[f].op == -2);
        if (funcs[f].op == -3 || funcs[f].op == -4) return vf_g_sum(g, a[0], VF_REDUCE_COLS, funcs[f].op == -4);
        if (funcs[f].op == -5 || funcs[f].op == -6) return vf_g_sum(g, a[0], VF_REDUCE_ROWS, funcs[f].op == -6);
        if (funcs[f].op == VF_EW_LEAKY_RELU) return vf_g_leaky_relu(g, a[0], (float)imm);
        return vf_g_ew(g, (vf_ew_op)funcs[f].op, funcs[f].args, a, 0.0f);
    }
    if (*P->p) {
        char c[2] = {*P->p, 0};
        perr(P, "unexpected '%s'", c);
    } else {
        perr(P, "unexpected end%s", "");
    }
    return -1;
}

static int parse_unary(parser *P) {
    skip(P);
    if (*P->p == '-') {
        P->p++;
        return vf_g_un(P->m->g, VF_EW_NEG, parse_unary(P));
    }
    return parse_primary(P);
}

static int parse_term(parser *P) {
    int v = parse_unary(P);
    for (;;) {
        skip(P);
        char c = *P->p;
        if (c != '*' && c != '/') return v;
        P->p++;
        int r = parse_unary(P);
        v = c == '*' ? vf_g_mul(P->m->g, v, r) : vf_g_div(P->m->g, v, r);
    }
}

static int parse_expr(parser *P) {
    int v = parse_term(P);
    for (;;) {
        skip(P);
        char c = *P->p;
        if (c != '+' && c != '-') return v;
        P->p++;
        int r = parse_term(P);
        v = c == '+' ? vf_g_add(P->m->g, v, r) : vf_g_sub(P->m->g, v, r);
    }
}

static int expression(vf_model *m, config_setting_t *s, const char *src) {
    parser P = {m, s, src, src, false};
    int v = parse_expr(&P);
    skip(&P);
    if (!P.failed && *P.p) perr(&P, "unexpected '%s' after the expression", P.p);
    if (P.failed) {
        m->g->err = VF_OK;
        return -1;
    }
    return gerr(m, s, v);
}

/* ---------------------------------------------------------------- networks */

static const char *const layer_types[] = {"dense", "lstm", "embedding", "relu", "leaky_relu", "tanh", "sigmoid",
                                          "softplus", "batchnorm", "layernorm", "slice", "softmax", "log_softmax",
                                          "heads", "hard_heads"};
#define N_LAYER_TYPES (int)(sizeof layer_types / sizeof layer_types[0])

static const char *const init_names[] = {"zeros", "ones", "const", "normal", "uniform", "xavier", "he"};

static int layer_param(vf_model *m, net *n, int li, int slot, config_setting_t *L, const char *what, int ndim,
                       int64_t r, int64_t c, vf_ginit init, float scale) {
    int *pp = &n->params[li * 6 + slot];
    if (*pp >= 0) {
        const vf_gnode *P = &m->g->nodes[*pp];
        if (vf_gnode_rows(P) != (ndim == 2 ? r : 1) || vf_gnode_cols(P) != c) {
            err(m, L, "shape mismatch: network '%s' layer %d was built for a different input width", n->name, li + 1);
            return -1;
        }
        return *pp;
    }
    char name[160];
    snprintf(name, sizeof name, "%s/%d/%s", n->name, li + 1, what);
    int64_t sh[2] = {ndim == 2 ? r : c, c};
    *pp = gerr(m, L, vf_g_param(m->g, name, ndim, sh, init, scale));
    return *pp;
}


static const vf_head_table *find_heads(vf_model *m, const char *name) {
    for (int k = 0; k < m->env.n_heads; k++)
        if (m->env.heads[k].name && !strcmp(m->env.heads[k].name, name)) return &m->env.heads[k];
    return NULL;
}

const vf_head_table *vf_model_heads(const vf_model *m, const char *name) {
    return find_heads((vf_model *)m, name);
}

/* Output heads from a segment table over the last axis: softmax on each
 * softmax segment, sigmoid on unit segments, tanh on tanh segments. The
 * table covers W columns; an input [B, R*W] is R records of W (per-record
 * features), handled as [B*R, W]. Consecutive segments of one kind are one
 * slice: a run of k softmax segments of width w is reshaped to [rows*k, w]
 * and takes one softmax (IP bits: 32 2-way softmaxes -> one kernel).
 * hard (layer hard_heads): the input is the heads' output, and each softmax
 * segment becomes the one-hot of its argmax, the others stay as they are,
 * and nothing flows back (DoppelGANger feeds the generated attributes to the
 * feature generator this way: discrete ones as one-hot, all without
 * gradient). */
static int apply_heads(vf_model *m, config_setting_t *L, int x, bool hard) {
    vf_graph *g = m->g;
    const char *tn = get_str(L, "segments", "");
    const vf_head_table *T = find_heads(m, tn);
    /* g->nodes moves when nodes are added: keep values, not the pointer */
    const vf_gnode *X = &g->nodes[x];
    int64_t B = vf_gnode_rows(X), C = vf_gnode_cols(X);
    int x_ndim = X->ndim;
    X = NULL;
    vf_head_seg one = {0, (int)C, VF_HEAD_SIGMOID};
    vf_head_table ph = {tn, 1, &one};
    if (!T) T = &ph; /* placeholder (vkflow check without data): one sigmoid head */
    int64_t W = 0;
    for (int k = 0; k < T->n; k++) {
        const vf_head_seg *S = &T->segs[k];
        if (S->offset != W || S->width < 1 || S->kind < 0 || S->kind > 2) {
            err(m, L, "segment table '%s': segment %d (offset %d, width %d, kind %d) does not continue at column %lld", tn,
                k, S->offset, S->width, S->kind, (long long)W);
            return -1;
        }
        W += S->width;
    }
    if (W < 1 || C % W) {
        err(m, L, "shape mismatch: heads '%s' cover %lld columns, the input has %lld (not a multiple)", tn, (long long)W,
            (long long)C);
        return -1;
    }
    int64_t R = C / W, rows = B * R;
    int h = x;
    if (R > 1) h = vf_g_reshape(g, x, 2, (int64_t[]){rows, W});
    int *parts = malloc((size_t)T->n * sizeof(int));
    if (!parts) return -1;
    int np = 0;
    for (int k = 0; k < T->n;) {
        const vf_head_seg *S = &T->segs[k];
        int e = k + 1;
        while (e < T->n && T->segs[e].kind == S->kind && (S->kind != VF_HEAD_SOFTMAX || T->segs[e].width == S->width)) e++;
        int64_t w = (int64_t)T->segs[e - 1].offset + T->segs[e - 1].width - S->offset;
        int p = W == w ? h : vf_g_slice(g, h, S->offset, w);
        if (hard) {
            if (S->kind == VF_HEAD_SOFTMAX)
                p = vf_g_reshape(g, vf_g_onehot_argmax(g, vf_g_reshape(g, p, 2, (int64_t[]){rows * (e - k), S->width})),
                                 2, (int64_t[]){rows, w});
        } else if (S->kind == VF_HEAD_SIGMOID) p = vf_g_un(g, VF_EW_SIGMOID, p);
        else if (S->kind == VF_HEAD_TANH) p = vf_g_un(g, VF_EW_TANH, p);
        else if (e - k == 1) p = vf_g_softmax(g, p, false);
        else {
            p = vf_g_reshape(g, p, 2, (int64_t[]){rows * (e - k), S->width});
            p = vf_g_reshape(g, vf_g_softmax(g, p, false), 2, (int64_t[]){rows, w});
        }
        parts[np++] = p;
        k = e;
    }
    int y = np == 1 ? parts[0] : vf_g_concat(g, np, parts);
    free(parts);
    if (hard) y = vf_g_detach(g, y);
    if (R > 1) y = vf_g_reshape(g, y, 2, (int64_t[]){B, C});
    if (y >= 0 && x_ndim == 1) y = vf_g_reshape(g, y, 1, (int64_t[]){C});
    return gerr(m, L, y);
}

static int apply_layer(vf_model *m, net *n, int li, config_setting_t *L, int x) {
    vf_graph *g = m->g;
    const char *type = get_str(L, "type", "");
    const vf_gnode *X = &g->nodes[x];
    int64_t cols = vf_gnode_cols(X), rows = vf_gnode_rows(X);
    if (!strcmp(type, "dense")) {
        int64_t units = get_dim(m, L, "units", 0);
        const char *in = get_str(L, "init", "xavier");
        int init = VF_INIT_XAVIER;
        for (int k = 0; k < VF_INIT_COUNT; k++)
            if (!strcmp(in, init_names[k])) init = k;
        if (X->ndim != 2) { err(m, L, "shape mismatch: dense needs a [B, F] input, got [%lld]", (long long)cols); return -1; }
        int w = layer_param(m, n, li, 0, L, "w", 2, cols, units, (vf_ginit)init, (float)get_num(L, "scale", 0));
        int b = -1;
        int has_bias = 1;
        config_setting_lookup_bool(L, "bias", &has_bias);
        if (has_bias) b = layer_param(m, n, li, 1, L, "b", 1, 1, units, VF_INIT_ZEROS, 0);
        return gerr(m, L, vf_g_dense(g, x, w, b));
    }
    if (!strcmp(type, "lstm")) {
        int64_t H = get_dim(m, L, "units", 0), T = get_dim(m, L, "steps", 1), S = get_dim(m, L, "emit", 0);
        int64_t Fo = get_dim(m, L, "features", 0);
        const char *out = get_str(L, "output", "last");
        if (X->ndim != 2 || cols % T) {
            err(m, L, "shape mismatch: lstm with steps = %lld needs [B, steps * F] input, got %lld columns", (long long)T,
                (long long)cols);
            return -1;
        }
        if (strcmp(out, "last") && strcmp(out, "sequence")) {
            err(m, config_setting_get_member(L, "output"), "lstm output must be \"last\" or \"sequence\", got \"%s\"", out);
            return -1;
        }
        if (S && Fo < 1) { err(m, L, "lstm with emit = %lld needs 'features' (record width)", (long long)S); return -1; }
        int64_t F = cols / T;
        int wx = layer_param(m, n, li, 0, L, "wx", 2, F, 4 * H, VF_INIT_XAVIER, 0);
        int wh = layer_param(m, n, li, 1, L, "wh", 2, H, 4 * H, VF_INIT_XAVIER, 0);
        int b = layer_param(m, n, li, 2, L, "b", 1, 1, 4 * H, VF_INIT_ZEROS, 0);
        int *hs = malloc((size_t)T * sizeof(int));
        if (!hs) return -1;
        int h = gerr(m, L, vf_g_lstm(g, x, T, wx, wh, b, hs));
        if (h >= 0 && S) {
            /* DoppelGANger: each step emits S records of Fo features via a shared head */
            int hw = layer_param(m, n, li, 3, L, "head_w", 2, H, S * Fo, VF_INIT_XAVIER, 0);
            int hb = layer_param(m, n, li, 4, L, "head_b", 1, 1, S * Fo, VF_INIT_ZEROS, 0);
            for (int64_t t = 0; t < T; t++) hs[t] = vf_g_dense(g, hs[t], hw, hb);
            h = hs[T - 1];
        }
        if (h >= 0 && !strcmp(out, "sequence")) h = T > 1 ? vf_g_concat(g, (int)T, hs) : hs[0];
        free(hs);
        return gerr(m, L, h);
    }
    if (!strcmp(type, "embedding")) {
        int64_t V = get_dim(m, L, "vocab", 0), D = get_dim(m, L, "dim", 0);
        if (X->dtype != VF_I32) { err(m, L, "embedding needs an int32 index input"); return -1; }
        int t = layer_param(m, n, li, 0, L, "table", 2, V, D, VF_INIT_NORMAL, 1.0f);
        return gerr(m, L, vf_g_embedding(g, x, t));
    }
    static const struct { const char *n; int op; } acts[] = {
        {"relu", VF_EW_RELU}, {"tanh", VF_EW_TANH}, {"sigmoid", VF_EW_SIGMOID}, {"softplus", VF_EW_SOFTPLUS}};
    for (int k = 0; k < 4; k++)
        if (!strcmp(type, acts[k].n)) return gerr(m, L, vf_g_un(g, (vf_ew_op)acts[k].op, x));
    if (!strcmp(type, "leaky_relu")) return gerr(m, L, vf_g_leaky_relu(g, x, (float)get_num(L, "slope", 0.2)));
    if (!strcmp(type, "softmax") || !strcmp(type, "log_softmax"))
        return gerr(m, L, vf_g_softmax(g, x, type[0] == 'l'));
    if (!strcmp(type, "batchnorm") || !strcmp(type, "layernorm")) {
        int ga = layer_param(m, n, li, 0, L, "gamma", 1, 1, cols, VF_INIT_ONES, 0);
        int be = layer_param(m, n, li, 1, L, "beta", 1, 1, cols, VF_INIT_ZEROS, 0);
        float eps = (float)get_num(L, "eps", 1e-5);
        return gerr(m, L, type[0] == 'b' ? vf_g_batchnorm(g, x, ga, be, eps) : vf_g_layernorm(g, x, ga, be, eps));
    }
    if (!strcmp(type, "slice")) return gerr(m, L, vf_g_slice(g, x, get_dim(m, L, "start", 0), get_dim(m, L, "width", 0)));
    if (!strcmp(type, "heads")) return apply_heads(m, L, x, false);
    if (!strcmp(type, "hard_heads")) return apply_heads(m, L, x, true);
    (void)rows;
    return -1;
}

static const key layer_keys[] = {{"type", T_STR, true}, {"units", T_DIM, false}, {"init", T_STR, false},
                                 {"scale", T_NUM, false}, {"bias", T_BOOL, false}, {"slope", T_NUM, false},
                                 {"eps", T_NUM, false}, {"steps", T_DIM, false}, {"output", T_STR, false},
                                 {"emit", T_DIM, false}, {"features", T_DIM, false}, {"vocab", T_DIM, false},
                                 {"dim", T_DIM, false}, {"start", T_DIM, false}, {"width", T_DIM, false},
                                 {"segments", T_STR, false}, {NULL, 0, false}};

/* Validates one layer's keys and required fields for its type. */
static bool check_layer(vf_model *m, config_setting_t *L) {
    if (!check_keys(m, L, "a layer", layer_keys)) return false;
    const char *type = get_str(L, "type", "");
    int t = 0;
    while (t < N_LAYER_TYPES && strcmp(type, layer_types[t])) t++;
    if (t == N_LAYER_TYPES) {
        char sug[96], all[512];
        join(layer_types, N_LAYER_TYPES, all, sizeof all);
        err(m, config_setting_get_member(L, "type"), "unknown layer type '%s'%s; expected one of: %s", type,
            vf_suggest(type, layer_types, N_LAYER_TYPES, sug, sizeof sug), all);
        return false;
    }
    static const struct { const char *type, *need[3]; } req[] = {
        {"dense", {"units"}}, {"lstm", {"units"}}, {"embedding", {"vocab", "dim"}}, {"slice", {"start", "width"}}};
    bool ok = true;
    for (int r = 0; r < 4; r++)
        if (!strcmp(type, req[r].type))
            for (int k = 0; k < 3 && req[r].need[k]; k++)
                if (!config_setting_get_member(L, req[r].need[k])) {
                    err(m, L, "missing field '%s' in a %s layer (an integer)", req[r].need[k], type);
                    ok = false;
                }
    static const char *const pos[] = {"units", "steps", "vocab", "dim", "width", "emit", "features", "start"};
    for (int k = 0; k < 8; k++) {
        config_setting_t *e = config_setting_get_member(L, pos[k]);
        int64_t v;
        if (!e) continue;
        if (!dim_value(m, e, false, &v)) { ok = false; continue; }
        if (v < (k == 7 ? 0 : 1)) {
            err(m, e, "'%s' must be >= %d, got %lld", pos[k], k == 7 ? 0 : 1, (long long)v);
            ok = false;
        }
    }
    if (!strcmp(type, "heads") || !strcmp(type, "hard_heads")) {
        const char *tn = get_str(L, "segments", NULL);
        if (!tn) {
            err(m, L, "missing field 'segments' in a %s layer (a string naming the caller's segment table, e.g. "
                "\"attr\")", type);
            ok = false;
        } else if (!find_heads(m, tn) && !m->env.placeholder_heads) {
            const char *names[16];
            int nn = 0;
            for (int k = 0; k < m->env.n_heads && nn < 16; k++) names[nn++] = m->env.heads[k].name;
            char sug[96], all[256];
            join(names, nn, all, sizeof all);
            err(m, config_setting_get_member(L, "segments"), "unknown segment table '%s'%s; the caller gives: %s", tn,
                vf_suggest(tn, names, nn, sug, sizeof sug), nn ? all : "none");
            ok = false;
        }
    }
    const char *in = get_str(L, "init", NULL);
    if (in) {
        int k = 0;
        while (k < VF_INIT_COUNT && strcmp(in, init_names[k])) k++;
        if (k == VF_INIT_COUNT) {
            char sug[96], all[256];
            join(init_names, VF_INIT_COUNT, all, sizeof all);
            err(m, config_setting_get_member(L, "init"), "unknown initialiser '%s'%s; expected one of: %s", in,
                vf_suggest(in, init_names, VF_INIT_COUNT, sug, sizeof sug), all);
            ok = false;
        }
    }
    return ok;
}

int vf_model_apply(vf_model *m, const char *name, int x) {
    net *n = NULL;
    for (int i = 0; i < m->n_nets; i++)
        if (!strcmp(m->nets[i].name, name)) n = &m->nets[i];
    if (!n) {
        vf_fail(VF_ERR_ARG, "no network '%s'", name);
        return -1;
    }
    if (x < 0) return -1;
    const vf_gnode *X = &m->g->nodes[x];
    if (X->dtype == VF_F32 && vf_gnode_cols(X) != n->in_width) {
        char s[48];
        err(m, n->s, "shape mismatch: network '%s' takes input width %lld, got %s", n->name, (long long)n->in_width,
            vf_gnode_shape_str(X, s, sizeof s));
        return -1;
    }
    int h = x;
    for (int li = 0; li < config_setting_length(n->layers) && h >= 0; li++)
        h = apply_layer(m, n, li, config_setting_get_elem(n->layers, (unsigned)li), h);
    n->applied++;
    return h;
}

/* ---------------------------------------------------------------- sections */

static const char *const top_keys[] = {"inputs", "noise", "networks", "tensors", "losses", "programs",
                                       "optimizer", "training", "dims", "ema"};
#define N_LIST_KEYS 6 /* top_keys[0..5] are lists, the rest groups */
#define N_TOP_KEYS 10

static void load_inputs(vf_model *m, config_setting_t *list, bool noise) {
    static const key in_keys[] = {{"name", T_STR, true}, {"shape", T_ARRAY, true}, {"dtype", T_STR, false},
                                  {"data", T_ARRAY, false}, {NULL, 0, false}};
    static const key nz_keys[] = {{"name", T_STR, true}, {"shape", T_ARRAY, true}, {"dist", T_STR, false},
                                  {NULL, 0, false}};
    const char *what = noise ? "a noise entry" : "an input";
    for (int i = 0; i < config_setting_length(list); i++) {
        config_setting_t *s = config_setting_get_elem(list, (unsigned)i);
        if (!config_setting_is_group(s)) { err(m, s, "%s must be a group { name = ...; shape = [...]; }", what); continue; }
        if (!check_keys(m, s, what, noise ? nz_keys : in_keys)) continue;
        int nd;
        int64_t sh[2];
        if (!read_shape(m, s, &nd, sh)) continue;
        const char *name = get_str(s, "name", "");
        int id;
        if (noise) {
            const char *dist = get_str(s, "dist", "normal");
            if (strcmp(dist, "normal") && strcmp(dist, "uniform")) {
                err(m, config_setting_get_member(s, "dist"), "dist must be \"normal\" or \"uniform\", got \"%s\"", dist);
                continue;
            }
            id = gerr(m, s, vf_g_noise(m->g, name, dist[0] == 'u', ++m->next_stream, nd, sh));
        } else {
            const char *dt = get_str(s, "dtype", "float32");
            if (strcmp(dt, "float32") && strcmp(dt, "int32")) {
                err(m, config_setting_get_member(s, "dtype"), "dtype must be \"float32\" or \"int32\", got \"%s\"", dt);
                continue;
            }
            vf_dtype dtype = dt[0] == 'i' ? VF_I32 : VF_F32;
            id = gerr(m, s, vf_g_input(m->g, name, dtype, nd, sh));
            config_setting_t *d = config_setting_get_member(s, "data");
            if (id >= 0 && d) {
                int64_t n = sh[0] * (nd == 2 ? sh[1] : 1);
                if (config_setting_length(d) != n) {
                    err(m, d, "shape mismatch: data has %d values, shape needs %lld", config_setting_length(d), (long long)n);
                    continue;
                }
                if (m->n_data == 64) { err(m, d, "at most 64 inputs with inline data"); continue; }
                void *buf = malloc((size_t)n * 4);
                if (!buf) continue;
                for (int64_t k = 0; k < n; k++) {
                    config_setting_t *e = config_setting_get_elem(d, (unsigned)k);
                    double v = config_setting_type(e) == CONFIG_TYPE_FLOAT ? config_setting_get_float(e)
                                                                            : (double)config_setting_get_int64(e);
                    if (dtype == VF_I32) ((int32_t *)buf)[k] = (int32_t)v;
                    else ((float *)buf)[k] = (float)v;
                }
                m->data[m->n_data].node = id;
                m->data[m->n_data].data = buf;
                m->data[m->n_data++].bytes = (size_t)n * 4;
            }
        }
        if (id >= 0) define(m, s, name, id);
    }
}

static void load_networks(vf_model *m, config_setting_t *list) {
    static const key keys[] = {{"name", T_STR, true}, {"input", T_DIM, true}, {"layers", T_LIST, true}, {NULL, 0, false}};
    for (int i = 0; i < config_setting_length(list); i++) {
        config_setting_t *s = config_setting_get_elem(list, (unsigned)i);
        if (!config_setting_is_group(s)) { err(m, s, "a network must be a group { name; input; layers; }"); continue; }
        if (!check_keys(m, s, "a network", keys)) continue;
        config_setting_t *layers = config_setting_get_member(s, "layers");
        bool ok = true;
        for (int k = 0; k < config_setting_length(layers); k++) {
            config_setting_t *L = config_setting_get_elem(layers, (unsigned)k);
            if (!config_setting_is_group(L)) { err(m, L, "a layer must be a group { type = \"...\"; ... }"); ok = false; continue; }
            ok &= check_layer(m, L);
        }
        if (!ok) continue;
        if (m->n_nets == MAX_NETS) { err(m, s, "at most %d networks", MAX_NETS); continue; }
        net *n = &m->nets[m->n_nets];
        n->name = get_str(s, "name", "");
        n->s = s;
        n->layers = layers;
        if (!dim_value(m, config_setting_get_member(s, "input"), false, &n->in_width)) continue;
        int nl = config_setting_length(layers);
        n->params = malloc((size_t)(nl ? nl : 1) * 6 * sizeof(int));
        if (!n->params) continue;
        for (int k = 0; k < nl * 6; k++) n->params[k] = -1;
        m->n_nets++;
    }
}

static void load_tensors(vf_model *m, config_setting_t *list) {
    static const key keys[] = {{"name", T_STR, true}, {"net", T_STR, false}, {"input", T_STR, false},
                               {"expr", T_STR, false}, {"concat", T_ARRAY, false}, {"slice", T_STR, false},
                               {"start", T_DIM, false}, {"width", T_DIM, false}, {"reshape", T_STR, false},
                               {"shape", T_ARRAY, false}, {"repeat", T_STR, false}, {"times", T_DIM, false},
                               {"detach", T_STR, false}, {"cumsum", T_STR, false}, {"exclusive", T_BOOL, false},
                               {NULL, 0, false}};
    for (int i = 0; i < config_setting_length(list); i++) {
        config_setting_t *s = config_setting_get_elem(list, (unsigned)i);
        if (!config_setting_is_group(s)) { err(m, s, "a tensor must be a group { name = ...; ... }"); continue; }
        if (!check_keys(m, s, "a tensor", keys)) continue;
        const char *name = get_str(s, "name", "");
        int id = -1;
        static const char *const form_keys[] = {"net", "expr", "concat", "slice", "reshape", "repeat", "detach", "cumsum"};
        int forms = 0;
        for (int k = 0; k < 8; k++) forms += !!config_setting_get_member(s, form_keys[k]);
        if (forms != 1) {
            err(m, s, "tensor '%s' needs exactly one of: net (with input), expr, concat, slice, reshape (with shape), "
                      "repeat (with times), detach, cumsum", name);
            continue;
        }
        if (config_setting_get_member(s, "net")) {
            const char *nn = get_str(s, "net", "");
            bool found = false;
            const char *names[MAX_NETS];
            for (int k = 0; k < m->n_nets; k++) {
                names[k] = m->nets[k].name;
                found |= !strcmp(nn, names[k]);
            }
            if (!found) {
                char sug[96];
                err(m, config_setting_get_member(s, "net"), "unknown network '%s'%s", nn,
                    vf_suggest(nn, names, m->n_nets, sug, sizeof sug));
                continue;
            }
            if (!config_setting_get_member(s, "input")) { err(m, s, "missing field 'input' in tensor '%s' (a string)", name); continue; }
            int x = ref(m, s, "input");
            if (x < 0) continue;
            id = vf_model_apply(m, nn, x);
            if (id < 0 && m->g->err) gerr(m, s, -1);
        } else if (config_setting_get_member(s, "expr")) {
            id = expression(m, config_setting_get_member(s, "expr"), get_str(s, "expr", ""));
        } else if (config_setting_get_member(s, "concat")) {
            config_setting_t *c = config_setting_get_member(s, "concat");
            int n = config_setting_length(c), xs[64];
            bool ok = n >= 1 && n <= 64;
            for (int k = 0; k < n && ok; k++) {
                const char *nm = config_setting_get_string_elem(c, (unsigned)k);
                xs[k] = nm ? lookup(m, nm) : -1;
                if (xs[k] < 0) {
                    char sug[96];
                    err(m, c, "unknown tensor '%s' in concat%s", nm ? nm : "?", nm ? suggest_sym(m, nm, sug, sizeof sug) : "");
                    ok = false;
                }
            }
            if (ok) id = gerr(m, s, vf_g_concat(m->g, n, xs));
        } else if (config_setting_get_member(s, "slice")) {
            int64_t st = 0, w = 0;
            config_setting_t *a = config_setting_get_member(s, "start"), *b = config_setting_get_member(s, "width");
            if (!b) { err(m, s, "missing field 'width' in slice tensor '%s'", name); continue; }
            if ((a && !dim_value(m, a, false, &st)) || !dim_value(m, b, false, &w)) continue;
            int x = ref(m, s, "slice");
            if (x >= 0) id = gerr(m, s, vf_g_slice(m->g, x, st, w));
        } else if (config_setting_get_member(s, "reshape")) {
            int nd;
            int64_t sh[2];
            if (!config_setting_get_member(s, "shape")) { err(m, s, "missing field 'shape' in reshape tensor '%s'", name); continue; }
            if (!read_shape(m, s, &nd, sh)) continue;
            int x = ref(m, s, "reshape");
            if (x >= 0) id = gerr(m, s, vf_g_reshape(m->g, x, nd, sh));
        } else if (config_setting_get_member(s, "repeat")) {
            /* tile along the last axis: [B, F] -> [B, times * F] (concat of copies;
             * its gradient sums the copies) */
            int64_t k = 0;
            config_setting_t *t = config_setting_get_member(s, "times");
            if (!t) { err(m, s, "missing field 'times' in repeat tensor '%s'", name); continue; }
            if (!dim_value(m, t, false, &k)) continue;
            if (k < 1 || k > 4096) { err(m, t, "'times' must be 1..4096, got %lld", (long long)k); continue; }
            int x = ref(m, s, "repeat");
            if (x < 0) continue;
            int *xs = malloc((size_t)k * sizeof(int));
            if (!xs) continue;
            for (int64_t q = 0; q < k; q++) xs[q] = x;
            id = gerr(m, s, k == 1 ? vf_g_ew(m->g, VF_EW_LOAD, 1, &x, 0.0f) : vf_g_concat(m->g, (int)k, xs));
            free(xs);
        } else if (config_setting_get_member(s, "detach")) {
            int x = ref(m, s, "detach");
            if (x >= 0) id = gerr(m, s, vf_g_detach(m->g, x));
        } else {
            int x = ref(m, s, "cumsum");
            int ex = 0;
            config_setting_lookup_bool(s, "exclusive", &ex);
            if (x >= 0) id = gerr(m, s, vf_g_cumsum(m->g, x, ex != 0));
        }
        if (id >= 0) define(m, s, name, id);
    }
}

static const char *const loss_types[] = {"mse", "bce_logits", "mean", "softmax_xent", "wgan_gp", "r1"};

static void load_losses(vf_model *m, config_setting_t *list) {
    static const key keys[] = {{"name", T_STR, true}, {"type", T_STR, false}, {"input", T_STR, false},
                               {"target", T_STR, false}, {"net", T_STR, false}, {"weight", T_NUM, false},
                               {"expr", T_STR, false}, {"wrt", T_STR, false}, {NULL, 0, false}};
    for (int i = 0; i < config_setting_length(list); i++) {
        config_setting_t *s = config_setting_get_elem(list, (unsigned)i);
        if (!config_setting_is_group(s)) { err(m, s, "a loss must be a group { name; type; input; }"); continue; }
        if (!check_keys(m, s, "a loss", keys)) continue;
        const char *type = get_str(s, "type", ""), *name = get_str(s, "name", "");
        if (config_setting_get_member(s, "expr")) {
            /* a scalar combination of earlier losses and tensors */
            if (config_setting_get_member(s, "type") || config_setting_get_member(s, "input")) {
                err(m, s, "loss '%s': 'expr' replaces 'type' and 'input'", name);
                continue;
            }
            int id = expression(m, config_setting_get_member(s, "expr"), get_str(s, "expr", ""));
            if (id >= 0 && vf_gnode_numel(&m->g->nodes[id]) != 1) {
                err(m, config_setting_get_member(s, "expr"), "shape mismatch: loss '%s' must be a scalar [1] (use mean())", name);
                continue;
            }
            double w = get_num(s, "weight", 1.0);
            if (id >= 0 && w != 1.0) id = gerr(m, s, vf_g_scale(m->g, id, (float)w));
            if (id >= 0) define(m, s, name, id);
            continue;
        }
        if (!config_setting_get_member(s, "type") || !config_setting_get_member(s, "input")) {
            err(m, s, "missing field '%s' in a loss (a string)", config_setting_get_member(s, "type") ? "input" : "type");
            continue;
        }
        int t = 0;
        while (t < 6 && strcmp(type, loss_types[t])) t++;
        if (t == 6) {
            char sug[96], all[256];
            join(loss_types, 6, all, sizeof all);
            err(m, config_setting_get_member(s, "type"), "unknown loss type '%s'%s; expected one of: %s", type,
                vf_suggest(type, loss_types, 6, sug, sizeof sug), all);
            continue;
        }
        int x = ref(m, s, "input");
        if (x < 0) continue;
        int id = -1;
        if (t <= 1 || t == 3) {
            if (!config_setting_get_member(s, "target")) { err(m, s, "missing field 'target' in a %s loss (a string)", type); continue; }
            int y = ref(m, s, "target");
            if (y < 0) continue;
            const vf_gnode *X = &m->g->nodes[x], *Y = &m->g->nodes[y];
            if (vf_gnode_rows(X) != vf_gnode_rows(Y) || vf_gnode_cols(X) != vf_gnode_cols(Y)) {
                char a[48], b[48];
                err(m, s, "shape mismatch: %s loss input is %s, target is %s", type, vf_gnode_shape_str(X, a, sizeof a),
                    vf_gnode_shape_str(Y, b, sizeof b));
                continue;
            }
            int64_t x_cols = vf_gnode_cols(X); /* X dangles once nodes are added (g->nodes moves) */
            if (t == 0) id = vf_g_mse(m->g, x, y);
            else if (t == 1) id = vf_g_bce_logits(m->g, x, y);
            else /* -mean over rows of sum(target * log_softmax(x)) */
                id = vf_g_scale(m->g, vf_g_sum(m->g, vf_g_mul(m->g, vf_g_softmax(m->g, x, true), y), VF_REDUCE_ALL, true),
                                -(float)x_cols);
        } else if (t == 2) {
            id = vf_g_sum(m->g, x, VF_REDUCE_ALL, true);
        } else {
            if (!config_setting_get_member(s, "net")) { err(m, s, "missing field 'net' in a %s loss (a string)", type); continue; }
            /* wrt: the gradient w.r.t. a part of the input only (DDGAN's R1 is on
             * x_{t-1} of D(x_{t-1}, x_t, t)); the input by default */
            int wrt = x;
            if (config_setting_get_member(s, "wrt") && (wrt = ref(m, s, "wrt")) < 0) continue;
            if (vf_gnode_rows(&m->g->nodes[wrt]) != vf_gnode_rows(&m->g->nodes[x])) {
                err(m, config_setting_get_member(s, "wrt"), "shape mismatch: '%s' must have the input's rows", get_str(s, "wrt", ""));
                continue;
            }
            int d = vf_model_apply(m, get_str(s, "net", ""), x);
            if (d < 0) { if (!m->n_errs) err(m, s, "%s", vf_last_error()); continue; }
            id = t == 4 ? vf_g_wgan_gp(m->g, d, wrt) : vf_g_r1(m->g, d, wrt);
        }
        double w = get_num(s, "weight", 1.0);
        if (w != 1.0) id = vf_g_scale(m->g, id, (float)w);
        id = gerr(m, s, id);
        if (id >= 0) define(m, s, name, id);
    }
}

/* ---------------------------------------------------------------- optimizer */

static const char *const opt_types[] = {"adam", "adamw", "sgd"};
static const char *const schedules[] = {"constant", "linear", "cosine"};

/* The optimizer group o (the model's, or a program's override merged over
 * base): type, lr, beta1, beta2, eps, weight_decay, momentum, schedule,
 * warmup_steps, decay_steps, min_lr. */
static void load_optimizer(vf_model *m, config_setting_t *o, const vf_optimizer_config *base, vf_optimizer_config *out,
                           const char *what) {
    *out = *base;
    if (!o) return;
    static const key keys[] = {{"type", T_STR, false}, {"lr", T_NUM, false}, {"beta1", T_NUM, false},
                               {"beta2", T_NUM, false}, {"eps", T_NUM, false}, {"weight_decay", T_NUM, false},
                               {"momentum", T_NUM, false}, {"schedule", T_STR, false}, {"warmup_steps", T_INT, false},
                               {"decay_steps", T_INT, false}, {"min_lr", T_NUM, false}, {NULL, 0, false}};
    if (!config_setting_is_group(o)) { err(m, o, "%s must be a group { type = \"adam\"; lr = ...; }", what); return; }
    if (!check_keys(m, o, what, keys)) return;
    if (config_setting_get_member(o, "type")) {
        const char *t = get_str(o, "type", "");
        int k = 0;
        while (k < VF_OPT_COUNT && strcmp(t, opt_types[k])) k++;
        if (k == VF_OPT_COUNT) {
            char sug[96];
            err(m, config_setting_get_member(o, "type"), "unknown optimizer '%s'%s; expected one of: adam, adamw, sgd", t,
                vf_suggest(t, opt_types, VF_OPT_COUNT, sug, sizeof sug));
            return;
        }
        if ((vf_opt_kind)k != out->kind) {
            /* a new type starts from that type's defaults (lr and schedule carry over) */
            out->kind = (vf_opt_kind)k;
            out->weight_decay = k == VF_OPT_ADAMW ? 0.01f : 0.0f;
        }
    }
    if (out->kind == VF_OPT_ADAM && config_setting_get_member(o, "weight_decay"))
        err(m, config_setting_get_member(o, "weight_decay"),
            "adam has no weight decay; use type = \"adamw\" (decoupled) or \"sgd\" (L2)");
    if (out->kind == VF_OPT_SGD && (config_setting_get_member(o, "beta1") || config_setting_get_member(o, "beta2")))
        err(m, o, "%s: sgd takes momentum, not beta1/beta2", what);
    if (out->kind != VF_OPT_SGD && config_setting_get_member(o, "momentum"))
        err(m, config_setting_get_member(o, "momentum"), "%s: momentum is sgd's; adam and adamw take beta1, beta2", what);
    out->lr = (float)get_num(o, "lr", out->lr);
    out->beta1 = (float)get_num(o, "beta1", out->beta1);
    out->beta2 = (float)get_num(o, "beta2", out->beta2);
    out->eps = (float)get_num(o, "eps", out->eps);
    out->weight_decay = (float)get_num(o, "weight_decay", out->weight_decay);
    out->momentum = (float)get_num(o, "momentum", out->momentum);
    out->warmup_steps = get_int(o, "warmup_steps", out->warmup_steps);
    out->decay_steps = get_int(o, "decay_steps", out->decay_steps);
    out->min_lr = (float)get_num(o, "min_lr", out->min_lr);
    if (config_setting_get_member(o, "schedule")) {
        const char *t = get_str(o, "schedule", "");
        int k = 0;
        while (k < VF_LR_COUNT && strcmp(t, schedules[k])) k++;
        if (k == VF_LR_COUNT) {
            char sug[96];
            err(m, config_setting_get_member(o, "schedule"), "unknown schedule '%s'%s; expected one of: constant, linear, cosine",
                t, vf_suggest(t, schedules, VF_LR_COUNT, sug, sizeof sug));
            return;
        }
        out->schedule = (vf_lr_schedule)k;
    }
    if (!(out->lr > 0) || !(out->beta1 >= 0 && out->beta1 < 1) || !(out->beta2 >= 0 && out->beta2 < 1) || !(out->eps > 0))
        err(m, o, "%s needs lr > 0, 0 <= beta1, beta2 < 1 and eps > 0", what);
    if (!(out->weight_decay >= 0) || !(out->momentum >= 0 && out->momentum < 1))
        err(m, o, "%s needs weight_decay >= 0 and 0 <= momentum < 1", what);
    if (out->warmup_steps < 0 || out->decay_steps < 0 || !(out->min_lr >= 0 && out->min_lr <= out->lr))
        err(m, o, "%s needs warmup_steps, decay_steps >= 0 and 0 <= min_lr <= lr", what);
    if (out->schedule != VF_LR_CONSTANT && out->decay_steps < 1)
        err(m, o, "%s: schedule '%s' needs decay_steps >= 1 (program runs after the warm-up)", what,
            schedules[out->schedule]);
}

/* ----------------------------------------------------------------- programs */

static int find_net(const vf_model *m, const char *name) {
    for (int i = 0; i < m->n_nets; i++)
        if (!strcmp(m->nets[i].name, name)) return i;
    return -1;
}

static const char *suggest_net(vf_model *m, const char *name, char *buf, size_t len) {
    const char *names[MAX_NETS];
    for (int i = 0; i < m->n_nets; i++) names[i] = m->nets[i].name;
    return vf_suggest(name, names, m->n_nets, buf, len);
}

/* Names in a string-or-array setting e: count, and name j. */
static int n_names(const config_setting_t *e) {
    return !e ? 0 : config_setting_is_array(e) ? config_setting_length(e) : 1;
}
static const char *name_at(const config_setting_t *e, int j) {
    return config_setting_is_array(e) ? config_setting_get_string_elem(e, (unsigned)j) : config_setting_get_string(e);
}

/* ema = { NET = decay; ... }: decay per network, 0 for none. */
static void load_ema(vf_model *m, config_setting_t *root) {
    config_setting_t *e = config_setting_get_member(root, "ema");
    if (!e) return;
    for (int i = 0; i < config_setting_length(e); i++) {
        config_setting_t *s = config_setting_get_elem(e, (unsigned)i);
        const char *nm = config_setting_name(s);
        int n = find_net(m, nm);
        char sug[96];
        if (n < 0) { err(m, s, "ema: unknown network '%s'%s", nm, suggest_net(m, nm, sug, sizeof sug)); continue; }
        if (!type_ok(s, T_NUM)) { err(m, s, "ema: '%s' must be a decay in (0, 1) such as 0.999", nm); continue; }
        double d = get_num(e, nm, 0);
        if (!(d > 0 && d < 1)) { err(m, s, "ema: decay of '%s' = %g must be in (0, 1)", nm, d); continue; }
        m->ema_decay[n] = (float)d;
    }
}

static vf_status grow_programs(vf_model *m) {
    if (m->n_prog < m->cap_prog) return VF_OK;
    int cap = m->cap_prog ? 2 * m->cap_prog : 8;
    vf_prog_desc *p = realloc(m->prog, (size_t)cap * sizeof *p);
    if (!p) return vf_fail(VF_ERR_OOM, "dsl: out of memory");
    m->prog = p;
    m->cap_prog = cap;
    return VF_OK;
}

/* One entry of `programs`: a training program (loss, update, optional
 * outputs, optimizer, transforms) or a forward-only one (outputs). */
static void load_program(vf_model *m, config_setting_t *s) {
    static const key keys[] = {{"name", T_STR, true}, {"loss", T_STR, false}, {"update", T_STR_OR_ARRAY, false},
                               {"outputs", T_STR_OR_ARRAY, false}, {"optimizer", T_GROUP, false},
                               {"transforms", T_LIST, false}, {"weights", T_STR, false},
                               {"share_optimizer", T_STR, false}, {"private", T_BOOL, false}, {NULL, 0, false}};
    if (!config_setting_is_group(s)) { err(m, s, "a program must be a group { name = ...; loss = ...; update = [...]; }"); return; }
    if (!check_keys(m, s, "a program", keys)) return;
    const char *name = get_str(s, "name", "");
    char what[160];
    snprintf(what, sizeof what, "program '%.100s'", name);
    for (int i = 0; i < m->n_prog; i++)
        if (!strcmp(m->prog[i].name, name)) { err(m, s, "%s is declared twice", what); return; }
    config_setting_t *loss_s = config_setting_get_member(s, "loss"), *upd_s = config_setting_get_member(s, "update"),
                     *out_s = config_setting_get_member(s, "outputs"), *tf_s = config_setting_get_member(s, "transforms");
    if (!loss_s) {
        if (upd_s || tf_s || config_setting_get_member(s, "optimizer")) {
            err(m, s, "%s has no loss, so it updates nothing: 'update', 'optimizer' and 'transforms' need a 'loss'", what);
            return;
        }
        if (!out_s || !n_names(out_s)) { err(m, s, "%s: a forward-only program (no loss) needs 'outputs'", what); return; }
    } else if (!upd_s || !n_names(upd_s)) {
        err(m, s, "%s minimises '%s' and needs 'update': the networks whose parameters it trains", what,
            get_str(s, "loss", ""));
        return;
    }
    int loss = loss_s ? ref(m, s, "loss") : -1;
    if (loss_s && loss < 0) return;
    if (loss >= 0 && vf_gnode_numel(&m->g->nodes[loss]) != 1) {
        err(m, loss_s, "shape mismatch: the loss of %s must be a scalar [1]", what);
        return;
    }
    bool ok = true;
    int n_out = (loss >= 0) + n_names(out_s);
    int *outs = malloc((size_t)(n_out + 1) * sizeof(int));
    int np_cap = 1;
    for (int i = 0; i < m->g->n; i++) np_cap += m->g->nodes[i].op == VF_G_PARAM;
    int *par = malloc((size_t)np_cap * sizeof(int)), *gr = malloc((size_t)np_cap * sizeof(int));
    float *ema = calloc((size_t)np_cap, sizeof(float));
    vf_grad_transform *tf = calloc(VF_MAX_GRAD_TRANSFORMS, sizeof *tf);
    if (!outs || !par || !gr || !ema || !tf || grow_programs(m)) {
        free(outs); free(par); free(gr); free(ema); free(tf);
        err(m, s, "out of memory");
        return;
    }
    int k = 0;
    if (loss >= 0) outs[k++] = loss;
    for (int j = 0; j < n_names(out_s); j++) {
        const char *nm = name_at(out_s, j);
        int id = nm ? lookup(m, nm) : -1;
        char sug[96];
        if (id < 0) {
            err(m, out_s, "%s: unknown tensor '%s' in outputs%s", what, nm ? nm : "?", nm ? suggest_sym(m, nm, sug, sizeof sug) : "");
            ok = false;
        } else {
            outs[k++] = id;
        }
    }
    /* the parameters of the `update` networks, each once */
    int np = 0;
    for (int j = 0; j < n_names(upd_s); j++) {
        const char *nm = name_at(upd_s, j);
        int n = nm ? find_net(m, nm) : -1;
        char sug[96];
        if (n < 0) {
            err(m, upd_s, "%s: unknown network '%s' in update%s", what, nm ? nm : "?", nm ? suggest_net(m, nm, sug, sizeof sug) : "");
            ok = false;
            continue;
        }
        net *N = &m->nets[n];
        int before = np;
        for (int q = 0; q < config_setting_length(N->layers) * 6; q++) {
            int pa = N->params[q];
            bool dup = pa < 0;
            for (int r = 0; r < np && !dup; r++) dup = par[r] == pa;
            if (dup) continue;
            ema[np] = m->ema_decay[n];
            par[np++] = pa;
        }
        if (np == before) {
            err(m, upd_s, "%s: network '%s' has no parameters (never applied, or listed twice)", what, nm);
            ok = false;
        }
    }
    int n_tf = 0;
    for (int j = 0; tf_s && j < config_setting_length(tf_s); j++) {
        config_setting_t *t = config_setting_get_elem(tf_s, (unsigned)j);
        static const key tkeys[] = {{"type", T_STR, true}, {"max_norm", T_NUM, false}, {NULL, 0, false}};
        if (!config_setting_is_group(t)) { err(m, t, "a transform must be a group { type = \"clip_global_norm\"; max_norm = 1.0; }"); ok = false; continue; }
        if (!check_keys(m, t, "a gradient transform", tkeys)) { ok = false; continue; }
        const char *ty = get_str(t, "type", "");
        static const char *const tnames[] = {"clip_global_norm"};
        if (strcmp(ty, tnames[0])) {
            char sug[96];
            err(m, config_setting_get_member(t, "type"), "unknown gradient transform '%s'%s; expected one of: clip_global_norm",
                ty, vf_suggest(ty, tnames, 1, sug, sizeof sug));
            ok = false;
            continue;
        }
        if (n_tf == VF_MAX_GRAD_TRANSFORMS) { err(m, t, "at most %d transforms per program", VF_MAX_GRAD_TRANSFORMS); ok = false; continue; }
        double mx = get_num(t, "max_norm", 1.0);
        if (!(mx > 0)) { err(m, t, "clip_global_norm needs max_norm > 0 (got %g)", mx); ok = false; continue; }
        tf[n_tf++] = (vf_grad_transform){VF_GT_CLIP_GLOBAL_NORM, (float)mx};
    }
    const char *w = get_str(s, "weights", "params");
    if (strcmp(w, "params") && strcmp(w, "ema")) {
        err(m, config_setting_get_member(s, "weights"), "%s: weights must be \"params\" or \"ema\", got \"%s\"", what, w);
        ok = false;
    }
    bool any_ema = false;
    for (int i = 0; i < m->n_nets; i++) any_ema |= m->ema_decay[i] > 0;
    if (!strcmp(w, "ema") && !any_ema) {
        err(m, config_setting_get_member(s, "weights"), "%s reads EMA weights, but no network has one (ema = { NET = 0.999; })", what);
        ok = false;
    }
    vf_optimizer_config opt = m->opt;
    char ow[200];
    snprintf(ow, sizeof ow, "the optimizer of %s", what);
    if (loss >= 0) load_optimizer(m, config_setting_get_member(s, "optimizer"), &m->opt, &opt, ow);
    /* share_optimizer = "other": one optimizer (state, schedule, step) for two
     * programs over the same networks, e.g. a lazily regularised D step */
    const char *share = NULL;
    config_setting_t *sh = config_setting_get_member(s, "share_optimizer");
    if (sh) {
        share = config_setting_get_string(sh);
        int o = -1;
        for (int i = 0; i < m->n_prog; i++)
            if (!strcmp(m->prog[i].name, share)) o = i;
        bool same = o >= 0 && m->prog[o].n_upd == np && loss >= 0;
        for (int u = 0; same && u < np; u++) same = m->prog[o].upd_param[u] == par[u];
        if (config_setting_get_member(s, "optimizer")) {
            err(m, sh, "%s shares the optimizer of '%s', so it cannot have an optimizer group of its own", what, share);
            ok = false;
        } else if (o < 0) {
            err(m, sh, "%s: share_optimizer names '%s', which is not a program declared above", what, share);
            ok = false;
        } else if (!same) {
            err(m, sh, "%s: share_optimizer '%s' needs the same `update` networks, in the same order", what, share);
            ok = false;
        } else {
            opt = m->prog[o].opt;
        }
    }
    /* private = true: the program reads the training data (a privacy run
     * gives it DP-SGD's gradients, vf_model_make_private) */
    bool private_data = false;
    config_setting_t *pv = config_setting_get_member(s, "private");
    if (pv) {
        private_data = config_setting_get_bool(pv);
        if (private_data && loss < 0) {
            err(m, pv, "%s: private = true needs a training program (loss and update): only updates are privatised", what);
            ok = false;
        }
    }
    if (ok && loss >= 0) {
        vf_status st = vf_graph_vjp(m->g, loss, -1, np, par, gr);
        if (st) { err(m, loss_s, "%s: %s", what, vf_last_error()); ok = false; }
    }
    if (!ok) { free(outs); free(par); free(gr); free(ema); free(tf); return; }
    m->prog[m->n_prog++] = (vf_prog_desc){.name = name, .n_out = k, .outs = outs, .n_upd = loss >= 0 ? np : 0,
                                          .upd_param = par, .upd_grad = gr, .upd_ema = ema, .opt = opt,
                                          .n_transforms = n_tf, .transforms = tf, .ema_weights = !strcmp(w, "ema"),
                                          .share_optimizer = share, .private_data = private_data};
}

static void load_programs(vf_model *m, config_setting_t *root) {
    m->opt = (vf_optimizer_config){.kind = VF_OPT_ADAM, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                                   .momentum = 0.9f, .schedule = VF_LR_CONSTANT};
    vf_optimizer_config base = m->opt;
    load_optimizer(m, config_setting_get_member(root, "optimizer"), &base, &m->opt, "the optimizer");
    load_ema(m, root);
    config_setting_t *list = config_setting_get_member(root, "programs");
    for (int i = 0; list && i < config_setting_length(list); i++) load_program(m, config_setting_get_elem(list, (unsigned)i));
}

/* ----------------------------------------------------------------- training */

/* training = { algorithm = "..."; steps; seed; driver settings }: the DSL reads
 * algorithm, steps and seed; the driver reads its own keys through
 * vf_model_setting_*, and vf_model_check_read reports any key nobody read. */
static void load_training(vf_model *m, config_setting_t *root) {
    config_setting_t *t = config_setting_get_member(root, "training");
    snprintf(m->algorithm, sizeof m->algorithm, "none");
    m->steps = 100;
    m->seed = 1;
    if (!t) return;
    m->training = t;
    config_setting_t *a = config_setting_get_member(t, "algorithm");
    if (!a) { err(m, t, "missing field 'algorithm' in training (a string: the driver, e.g. \"wgan_gp\")"); return; }
    if (!type_ok(a, T_STR)) { err(m, a, "'algorithm' in training must be a string"); return; }
    snprintf(m->algorithm, sizeof m->algorithm, "%s", config_setting_get_string(a));
    m->read[config_setting_index(a)] = true;
    config_setting_t *st = config_setting_get_member(t, "steps");
    if (st) {
        int64_t v = 0;
        m->read[config_setting_index(st)] = true;
        if (!dim_value(m, st, false, &v)) return;
        if (v < 1) err(m, st, "'steps' must be >= 1");
        m->steps = v;
        m->steps_set = true;
    }
    config_setting_t *sd = config_setting_get_member(t, "seed");
    if (sd) {
        m->read[config_setting_index(sd)] = true;
        if (!type_ok(sd, T_INT) || config_setting_get_int64(sd) < 0) { err(m, sd, "'seed' in training must be an integer >= 0"); return; }
        m->seed = (uint64_t)config_setting_get_int64(sd);
        m->seed_set = true;
    }
}

/* ---------------------------------------------------------------- overrides */

/* Applies one override (engine/model.h vf_setting) to the parsed file. Only the
 * groups of settings can be changed, not the model's structure. */
static void apply_setting(vf_model *m, const vf_setting *st) {
    config_setting_t *root = config_root_setting(&m->cfg);
    const char *key = st->key ? st->key : "";
    const char *origin = st->origin ? st->origin : key;
    char top[64];
    size_t tl = strcspn(key, ".");
    snprintf(top, sizeof top, "%.*s", (int)(tl < 63 ? tl : 63), key);
    int k = 0;
    while (k < N_TOP_KEYS && strcmp(top, top_keys[k])) k++;
    if (k == N_TOP_KEYS || !key[tl] || k < N_LIST_KEYS - 1) {
        char sug[96];
        err(m, NULL, "%s: '%s' is not a model setting: the settings are dims.*, optimizer.*, training.*, ema.* and "
                     "programs.NAME.* (the run's are run.*)%s", origin, key,
            k == N_TOP_KEYS ? vf_suggest(top, top_keys, N_TOP_KEYS, sug, sizeof sug) : "");
        return;
    }
    if (!config_setting_get_member(root, top) &&
        !config_setting_add(root, top, k < N_LIST_KEYS ? CONFIG_TYPE_LIST : CONFIG_TYPE_GROUP)) {
        err(m, NULL, "%s: cannot set '%s'", origin, key);
        return;
    }
    const char *why = "";
    config_setting_t *s = vf_config_set(root, key, st->value, &why);
    if (!s) { err(m, NULL, "%s: cannot set '%s': %s", origin, key, why); return; }
    /* messages about s (and groups an override created) name the override */
    for (config_setting_t *q = s; q && q != root && m->n_ovr < MAX_OVERRIDES; q = config_setting_parent(q)) {
        if (q != s && config_setting_source_line(q) != 0) break;
        m->ovr[m->n_ovr].s = q;
        m->ovr[m->n_ovr++].origin = strdup(origin);
    }
}

vf_status vf_model_load(const char *path, vf_model **out) { return vf_model_load_env(path, NULL, out); }

vf_status vf_model_load_dims(const char *path, const vf_dim *dims, int n, vf_model **out) {
    vf_model_env env = {.dims = dims, .n_dims = n};
    return vf_model_load_env(path, &env, out);
}

vf_status vf_model_load_env(const char *path, const vf_model_env *env, vf_model **out) {
    *out = NULL;
    if (env && ((env->n_dims && !env->dims) || (env->n_heads && !env->heads) || env->n_dims < 0 || env->n_heads < 0 ||
                env->n_dims > MAX_DIMS / 2))
        return vf_fail(VF_ERR_ARG, "dsl: bad environment (%d dims, %d segment tables)", env->n_dims, env->n_heads);
    vf_model *m = calloc(1, sizeof *m);
    if (!m) return vf_fail(VF_ERR_OOM, "dsl: out of memory");
    if (env) m->env = *env;
    for (int i = 0; env && i < env->n_dims; i++) {
        const char *nm = env->dims[i].name;
        bool ok = nm && (isalpha((unsigned char)nm[0]) || nm[0] == '_');
        for (const char *q = nm; ok && *q; q++) ok = isalnum((unsigned char)*q) || *q == '_';
        if (!ok || env->dims[i].value < 1) {
            vf_model_destroy(m);
            return vf_fail(VF_ERR_ARG, "dsl: dimension %d ('%s' = %lld) needs a name [A-Za-z_][A-Za-z0-9_]* and a value >= 1", i,
                           nm ? nm : "(null)", (long long)env->dims[i].value);
        }
        m->dims[m->n_dims].name = strdup(nm);
        m->dims[m->n_dims++].value = env->dims[i].value;
    }
    m->n_caller_dims = m->n_dims;
    m->path = strdup(path ? path : "");
    m->g = vf_graph_create();
    config_init(&m->cfg);
    if (!m->path || !m->g) { vf_model_destroy(m); return vf_fail(VF_ERR_OOM, "dsl: out of memory"); }
    /* @include paths are relative to the including file's folder */
    char *dir = strdup(m->path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash) { *slash = 0; config_set_include_dir(&m->cfg, dir); }
    free(dir);
    FILE *f = fopen(m->path, "r");
    if (!f) {
        vf_status s = vf_fail(VF_ERR_IO, "%s: cannot open", m->path);
        vf_model_destroy(m);
        return s;
    }
    fclose(f);
    if (!config_read_file(&m->cfg, m->path)) {
        vf_status s = vf_fail(VF_ERR_FORMAT, "%s:%d: syntax error: %s",
                              config_error_file(&m->cfg) ? config_error_file(&m->cfg) : m->path,
                              config_error_line(&m->cfg), config_error_text(&m->cfg));
        vf_model_destroy(m);
        return s;
    }
    config_setting_t *root = config_root_setting(&m->cfg);
    for (int i = 0; env && i < env->n_settings; i++) apply_setting(m, &env->settings[i]);
    for (int i = 0; i < config_setting_length(root); i++) {
        config_setting_t *e = config_setting_get_elem(root, (unsigned)i);
        const char *nm = config_setting_name(e);
        int k = 0;
        while (k < N_TOP_KEYS && strcmp(nm, top_keys[k])) k++;
        if (k == N_TOP_KEYS) {
            char sug[96], all[256];
            join(top_keys, N_TOP_KEYS, all, sizeof all);
            err(m, e, "unknown key '%s' at top level%s; expected one of: %s", nm, vf_suggest(nm, top_keys, N_TOP_KEYS, sug, sizeof sug), all);
        } else if (k < N_LIST_KEYS && !config_setting_is_list(e)) {
            err(m, e, "'%s' must be a list ( { ... }, { ... } )", nm);
        } else if (k >= N_LIST_KEYS && !config_setting_is_group(e)) {
            err(m, e, "'%s' must be a group { ... }", nm);
        }
    }
    if (!m->n_errs) {
        config_setting_t *s;
        if ((s = config_setting_get_member(root, "dims"))) load_dims(m, s);
        if ((s = config_setting_get_member(root, "inputs"))) load_inputs(m, s, false);
        if ((s = config_setting_get_member(root, "noise"))) load_inputs(m, s, true);
        if ((s = config_setting_get_member(root, "networks"))) load_networks(m, s);
        if ((s = config_setting_get_member(root, "tensors"))) load_tensors(m, s);
        if ((s = config_setting_get_member(root, "losses"))) load_losses(m, s);
        load_programs(m, root);
        load_training(m, root);
        /* after the other checks, so a broken file reports its real problem */
        if (!m->n_errs && !config_setting_get_member(root, "tensors") && !config_setting_get_member(root, "losses")) {
            vf_status s2 = vf_fail(VF_ERR_FORMAT, "%s:1: declares no tensors and no losses: nothing to compute "
                                   "(dsl/README.md; models/ has complete examples)", m->path);
            vf_model_destroy(m);
            return s2;
        }
    }
    vf_status st = VF_OK;
    if (m->n_errs) {
        if (m->errs_len && m->errs[m->errs_len - 1] == '\n') m->errs[--m->errs_len] = 0;
        st = vf_fail(VF_ERR_FORMAT, "%s", m->errs);
    }
    if (st) {
        vf_model_destroy(m);
        return st;
    }
    *out = m;
    return VF_OK;
}

void vf_model_destroy(vf_model *m) {
    if (!m) return;
    config_destroy(&m->cfg);
    vf_graph_destroy(m->g);
    for (int i = 0; i < m->n_syms; i++) free(m->syms[i].name);
    for (int i = 0; i < m->n_dims; i++) free(m->dims[i].name);
    for (int i = 0; i < m->n_nets; i++) free(m->nets[i].params);
    for (int i = 0; i < m->n_data; i++) free(m->data[i].data);
    for (int i = 0; i < m->n_prog; i++) {
        free((void *)m->prog[i].outs);
        free((void *)m->prog[i].upd_param);
        free((void *)m->prog[i].upd_grad);
        free((void *)m->prog[i].upd_ema);
        free((void *)m->prog[i].transforms);
    }
    free(m->prog);
    for (int i = 0; i < m->n_ovr; i++) free(m->ovr[i].origin);
    free(m->errs);
    free(m->path);
    free(m);
}

vf_graph *vf_model_graph(vf_model *m) { return m->g; }
const vf_prog_desc *vf_model_programs(const vf_model *m, int *n) { *n = m->n_prog; return m->prog; }
int vf_model_program(const vf_model *m, const char *name) {
    for (int i = 0; i < m->n_prog; i++)
        if (!strcmp(m->prog[i].name, name)) return i;
    return -1;
}
int vf_model_node(const vf_model *m, const char *name) { return lookup((vf_model *)m, name); }
const char *vf_model_algorithm(const vf_model *m) { return m->algorithm; }
int64_t vf_model_steps(const vf_model *m, bool *set) { if (set) *set = m->steps_set; return m->steps; }
uint64_t vf_model_seed(const vf_model *m, bool *set) { if (set) *set = m->seed_set; return m->seed; }
const char *vf_model_path(const vf_model *m) { return m->path; }

vf_status vf_model_compile(vf_model *m, vf_backend *be, const vf_exec_opts *opts, vf_exec **out) {
    vf_status s = vf_exec_create(m->g, be, m->n_prog, m->prog, opts, out);
    for (int i = 0; i < m->n_data && !s; i++) s = vf_exec_write(*out, m->data[i].node, m->data[i].data, m->data[i].bytes);
    if (s && *out) { vf_exec_destroy(*out); *out = NULL; }
    return s;
}

vf_status vf_model_make_private(vf_model *m) {
    vf_graph *g = m->g;
    if (vf_graph_find(g, VF_G_INPUT, VF_DP_CLIP_INPUT) >= 0)
        return vf_fail(VF_ERR_ARG, "%s: the model is private already", m->path);
    int mask = vf_graph_find(g, VF_G_INPUT, "batch_mask");
    int64_t B = mask >= 0 ? vf_gnode_numel(&g->nodes[mask]) : vf_model_dim(m, "batch", -1);
    if (B < 1) return vf_fail(VF_ERR_FORMAT, "%s: a privacy run needs dims.batch or an input batch_mask [batch]", m->path);
    if (mask < 0) mask = vf_g_input(g, "batch_mask", VF_F32, 1, (int64_t[]){B});
    int64_t one[1] = {1};
    vf_dp_inputs in = {.mask = mask,
                       .clip = vf_g_input(g, VF_DP_CLIP_INPUT, VF_F32, 1, one),
                       .row_scale = vf_g_input(g, VF_DP_ROW_SCALE_INPUT, VF_F32, 1, one),
                       .noise_std = vf_g_input(g, VF_DP_NOISE_STD_INPUT, VF_F32, 1, one),
                       .loss_scale = (float)B};
    VF_TRY(vf_graph_status(g));
    int n_private = 0;
    for (int i = 0; i < m->n_prog; i++) {
        vf_prog_desc *d = &m->prog[i];
        if (!d->private_data) continue;
        n_private++;
        int *outs = realloc((void *)d->outs, (size_t)(d->n_out + 2) * sizeof(int));
        int *grads = malloc((size_t)d->n_upd * sizeof(int));
        if (!outs || !grads) { free(grads); return vf_fail(VF_ERR_OOM, "out of memory"); }
        d->outs = outs;
        in.stream = m->next_stream + 1;
        m->next_stream += (uint32_t)d->n_upd;
        int norms, clipped;
        vf_status st = vf_graph_dp_sgd(g, d->name, d->n_upd, d->upd_param, d->upd_grad, &in, grads, &norms, &clipped);
        if (st) { free(grads); return vf_fail(st, "%s: %s", m->path, vf_last_error()); }
        char nm[160];
        snprintf(nm, sizeof nm, "%s.dp_norms", d->name);
        vf_g_label(g, norms, nm);
        snprintf(nm, sizeof nm, "%s.dp_clipped", d->name);
        vf_g_label(g, clipped, nm);
        outs[d->n_out++] = clipped;
        outs[d->n_out++] = norms;
        free((void *)d->upd_grad);
        d->upd_grad = grads;
    }
    if (!n_private)
        return vf_fail(VF_ERR_FORMAT, "%s: a privacy run needs the programs that read the data declared private = true "
                       "(none is)", m->path);
    return vf_graph_status(g);
}

int64_t vf_model_dim(const vf_model *m, const char *name, int64_t def) {
    bool found;
    int64_t v = dim_lookup(m, name, &found);
    return found ? v : def;
}

/* ------------------------------------------------------- driver settings */

static const char *where(const vf_model *m, const config_setting_t *s, char *buf, size_t len) {
    char fb[512];
    for (int i = 0; i < m->n_ovr; i++)
        if (m->ovr[i].s == s) { snprintf(buf, len, "%s", m->ovr[i].origin); return buf; }
    snprintf(buf, len, "%s:%d", file_of((vf_model *)m, s, fb, sizeof fb), s ? (int)config_setting_source_line(s) : 0);
    return buf;
}

static config_setting_t *training_member(vf_model *m, const char *key) {
    config_setting_t *s = m->training ? config_setting_get_member(m->training, key) : NULL;
    int i = s ? config_setting_index(s) : -1;
    if (i >= 0 && i < 64) m->read[i] = true;
    return s;
}

const char *vf_model_training_where(const vf_model *m, const char *key, char *buf, size_t len) {
    config_setting_t *s = m->training ? config_setting_get_member(m->training, key) : NULL;
    return where(m, s ? s : m->training, buf, len);
}

vf_status vf_model_setting_int(vf_model *m, const char *key, int64_t lo, int64_t hi, int64_t def, int64_t *out) {
    config_setting_t *s = training_member(m, key);
    *out = def;
    if (!s) return VF_OK;
    char w[600];
    if (!type_ok(s, T_INT)) return vf_fail(VF_ERR_FORMAT, "%s: training.%s must be an integer", where(m, s, w, sizeof w), key);
    int64_t v = config_setting_get_int64(s);
    if (v < lo || v > hi)
        return vf_fail(VF_ERR_FORMAT, "%s: training.%s = %lld is outside %lld..%lld", where(m, s, w, sizeof w), key,
                       (long long)v, (long long)lo, (long long)hi);
    *out = v;
    return VF_OK;
}

vf_status vf_model_setting_num(vf_model *m, const char *key, double lo, double hi, double def, double *out) {
    config_setting_t *s = training_member(m, key);
    *out = def;
    if (!s) return VF_OK;
    char w[600];
    if (!type_ok(s, T_NUM)) return vf_fail(VF_ERR_FORMAT, "%s: training.%s must be a number", where(m, s, w, sizeof w), key);
    double v = get_num(m->training, key, def);
    if (!(v >= lo && v <= hi))
        return vf_fail(VF_ERR_FORMAT, "%s: training.%s = %g is outside %g..%g", where(m, s, w, sizeof w), key, v, lo, hi);
    *out = v;
    return VF_OK;
}

vf_status vf_model_setting_str(vf_model *m, const char *key, const char *def, const char **out) {
    config_setting_t *s = training_member(m, key);
    *out = def;
    if (!s) return VF_OK;
    char w[600];
    if (!type_ok(s, T_STR)) return vf_fail(VF_ERR_FORMAT, "%s: training.%s must be a string", where(m, s, w, sizeof w), key);
    *out = config_setting_get_string(s);
    return VF_OK;
}

vf_status vf_model_check_read(const vf_model *m, const char *driver_keys) {
    if (!m->training) return VF_OK;
    char msg[2048];
    size_t k = 0;
    int bad = 0;
    msg[0] = 0;
    static const char *const old_keys[] = {"d_loss", "g_loss", "loss", "d_nets", "g_nets", "gp", "sample", "sample_cond"};
    for (int i = 0; i < config_setting_length(m->training) && i < 64; i++) {
        if (m->read[i]) continue;
        config_setting_t *s = config_setting_get_elem(m->training, (unsigned)i);
        const char *nm = config_setting_name(s);
        bool old = false;
        for (int q = 0; q < 8; q++) old |= !strcmp(nm, old_keys[q]);
        char w[600];
        k += (size_t)snprintf(msg + k, k < sizeof msg ? sizeof msg - k : 0,
                              "%s%s: training.%s: nothing reads this key (algorithm '%s' reads: algorithm, steps, seed%s%s)%s",
                              bad ? "\n" : "", where(m, s, w, sizeof w), nm, m->algorithm,
                              driver_keys && *driver_keys ? ", " : "", driver_keys ? driver_keys : "",
                              old ? "; programs are declared in `programs` now (dsl/README.md, \"programs\")" : "");
        bad++;
    }
    return bad ? vf_fail(VF_ERR_FORMAT, "%s", msg) : VF_OK;
}

vf_status vf_model_write_settings(const vf_model *m, const char *path) {
    /* libconfig writes the whole tree (includes expanded, overrides applied),
     * to memory first: config_write_file does not report a failed write (a
     * full disk left a cut model.cfg in place), vf_write_file_atomic does */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return vf_fail(VF_ERR_OOM, "%s: out of memory", path);
    config_write(&m->cfg, f);
    bool bad = ferror(f) != 0;
    if (fclose(f) || bad || !text) {
        free(text);
        return vf_fail(VF_ERR_OOM, "%s: out of memory", path);
    }
    vf_status st = vf_write_file_atomic(path, text, len);
    free(text);
    return st;
}
