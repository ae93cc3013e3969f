/* vkflow model description language: validation and lowering to the graph IR.
 * The language is described in dsl/README.md. Every problem is reported as
 * "file:line: message" (libconfig's source positions); the loader collects
 * them all, never stops at the first, and never crashes on bad input. */
#include "dsl.h"
#include "util.h"

#include <ctype.h>
#include <libconfig.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SYMS 512
#define MAX_NETS 32
#define MAX_PROGS 6
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
    /* programs */
    int n_prog;
    vf_prog_desc prog[MAX_PROGS];
    int *prog_arrays[MAX_PROGS][3];
    char algorithm[32];
    int steps;
    uint64_t seed;
    int loss;
    vf_adam_config adam;
    float lr;
    uint32_t next_stream;
    /* symbolic dimensions: the caller's first (they win), then the file's `dims` */
    int n_dims;
    struct { char *name; int64_t value; } dims[MAX_DIMS];
    int n_caller_dims;
    vf_model_env env;
    /* wgan_gp: programs d_step / g_step / sample */
    int d_loss, g_loss, d_steps, g_steps;
    config_setting_t *training;
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
    int n = snprintf(line, sizeof line, "%s:%d: %s\n", file_of(m, s, fb, sizeof fb), s ? (int)config_setting_source_line(s) : 0, msg);
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
static const char *suggest(const char *word, const char *const *names, int n, char *buf, size_t len) {
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
            err(m, e, "unknown key '%s' in %s%s; expected one of: %s", nm, what, suggest(nm, names, nk, sug, sizeof sug), all);
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
                     suggest(name, names, P->m->n_dims, sug, sizeof sug), P->m->n_dims ? all : "none");
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
    return suggest(name, names, m->n_syms, buf, len);
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
    {"max", VF_EW_MAX, 2}, {"min", VF_EW_MIN, 2}, {"select", VF_EW_SELECT, 3},
    {"leaky_relu", VF_EW_LEAKY_RELU, 2}, {"sum", -1, 1}, {"mean", -2, 1},
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
            snprintf(msg, sizeof msg, "unknown function '%%s'%s", suggest(name, names, N_FUNCS, sug, sizeof sug));
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
                                          "heads"};
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

/* Output heads from a segment table over the last axis: softmax on each
 * softmax segment, sigmoid on unit segments, tanh on tanh segments. The
 * table covers W columns; an input [B, R*W] is R records of W (per-record
 * features), handled as [B*R, W]. Consecutive segments of one kind are one
 * slice: a run of k softmax segments of width w is reshaped to [rows*k, w]
 * and takes one softmax (IP bits: 32 2-way softmaxes -> one kernel). */
static int apply_heads(vf_model *m, config_setting_t *L, int x) {
    vf_graph *g = m->g;
    const char *tn = get_str(L, "segments", "");
    const vf_head_table *T = find_heads(m, tn);
    const vf_gnode *X = &g->nodes[x];
    int64_t B = vf_gnode_rows(X), C = vf_gnode_cols(X);
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
        if (S->kind == VF_HEAD_SIGMOID) p = vf_g_un(g, VF_EW_SIGMOID, p);
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
    if (R > 1) y = vf_g_reshape(g, y, 2, (int64_t[]){B, C});
    if (y >= 0 && X->ndim == 1) y = vf_g_reshape(g, y, 1, (int64_t[]){C});
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
    if (!strcmp(type, "heads")) return apply_heads(m, L, x);
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
            suggest(type, layer_types, N_LAYER_TYPES, sug, sizeof sug), all);
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
    if (!strcmp(type, "heads")) {
        const char *tn = get_str(L, "segments", NULL);
        if (!tn) {
            err(m, L, "missing field 'segments' in a heads layer (a string naming the caller's segment table, e.g. \"attr\")");
            ok = false;
        } else if (!find_heads(m, tn) && !m->env.placeholder_heads) {
            const char *names[16];
            int nn = 0;
            for (int k = 0; k < m->env.n_heads && nn < 16; k++) names[nn++] = m->env.heads[k].name;
            char sug[96], all[256];
            join(names, nn, all, sizeof all);
            err(m, config_setting_get_member(L, "segments"), "unknown segment table '%s'%s; the caller gives: %s", tn,
                suggest(tn, names, nn, sug, sizeof sug), nn ? all : "none");
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
                suggest(in, init_names, VF_INIT_COUNT, sug, sizeof sug), all);
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

static const char *const top_keys[] = {"inputs", "noise", "networks", "tensors", "losses", "optimizer", "training", "dims"};

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
                    suggest(nn, names, m->n_nets, sug, sizeof sug));
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
                               {"expr", T_STR, false}, {NULL, 0, false}};
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
                suggest(type, loss_types, 6, sug, sizeof sug), all);
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
            if (t == 0) id = vf_g_mse(m->g, x, y);
            else if (t == 1) id = vf_g_bce_logits(m->g, x, y);
            else /* -mean over rows of sum(target * log_softmax(x)) */
                id = vf_g_scale(m->g, vf_g_sum(m->g, vf_g_mul(m->g, vf_g_softmax(m->g, x, true), y), VF_REDUCE_ALL, true),
                                -(float)vf_gnode_cols(X));
        } else if (t == 2) {
            id = vf_g_sum(m->g, x, VF_REDUCE_ALL, true);
        } else {
            if (!config_setting_get_member(s, "net")) { err(m, s, "missing field 'net' in a %s loss (a string)", type); continue; }
            int d = vf_model_apply(m, get_str(s, "net", ""), x);
            if (d < 0) { if (!m->n_errs) err(m, s, "%s", vf_last_error()); continue; }
            id = t == 4 ? vf_g_wgan_gp(m->g, d, x) : vf_g_r1(m->g, d, x);
        }
        double w = get_num(s, "weight", 1.0);
        if (w != 1.0) id = vf_g_scale(m->g, id, (float)w);
        id = gerr(m, s, id);
        if (id >= 0) define(m, s, name, id);
    }
}

static const char *const algorithms[] = {"supervised", "wgan_gp", "ddgan", "ddpm"};

static void load_training(vf_model *m, config_setting_t *root) {
    config_setting_t *o = config_setting_get_member(root, "optimizer");
    m->adam = (vf_adam_config){0.9f, 0.999f, 1e-8f, 0.0f};
    m->lr = 1e-3f;
    if (o) {
        static const key keys[] = {{"type", T_STR, true}, {"lr", T_NUM, false}, {"beta1", T_NUM, false},
                                   {"beta2", T_NUM, false}, {"eps", T_NUM, false}, {"weight_decay", T_NUM, false},
                                   {NULL, 0, false}};
        if (check_keys(m, o, "the optimizer", keys)) {
            const char *t = get_str(o, "type", "");
            if (strcmp(t, "adam")) {
                const char *names[] = {"adam"};
                char sug[96];
                err(m, config_setting_get_member(o, "type"), "unknown optimizer '%s'%s; expected: adam", t,
                    suggest(t, names, 1, sug, sizeof sug));
            }
            m->lr = (float)get_num(o, "lr", 1e-3);
            m->adam.beta1 = (float)get_num(o, "beta1", 0.9);
            m->adam.beta2 = (float)get_num(o, "beta2", 0.999);
            m->adam.eps = (float)get_num(o, "eps", 1e-8);
            m->adam.weight_decay = (float)get_num(o, "weight_decay", 0);
            if (!(m->lr > 0) || !(m->adam.beta1 >= 0 && m->adam.beta1 < 1) || !(m->adam.beta2 >= 0 && m->adam.beta2 < 1))
                err(m, o, "optimizer needs lr > 0 and 0 <= beta1, beta2 < 1");
        }
    }
    config_setting_t *t = config_setting_get_member(root, "training");
    m->loss = -1;
    snprintf(m->algorithm, sizeof m->algorithm, "none");
    if (!t) return;
    static const key keys[] = {{"algorithm", T_STR, true}, {"loss", T_STR, false}, {"steps", T_DIM, false},
                               {"seed", T_INT, false}, {"d_loss", T_STR, false}, {"g_loss", T_STR, false},
                               {"d_steps", T_INT, false}, {"g_steps", T_INT, false}, {"lambda", T_NUM, false},
                               {"timesteps", T_INT, false}, {"d_nets", T_STR_OR_ARRAY, false},
                               {"g_nets", T_STR_OR_ARRAY, false}, {"gp", T_STR_OR_ARRAY, false},
                               {"sample", T_ARRAY, false}, {"sample_cond", T_ARRAY, false}, {NULL, 0, false}};
    if (!check_keys(m, t, "training", keys)) return;
    const char *a = get_str(t, "algorithm", "");
    int k = 0;
    while (k < 4 && strcmp(a, algorithms[k])) k++;
    if (k == 4) {
        char sug[96], all[128];
        join(algorithms, 4, all, sizeof all);
        err(m, config_setting_get_member(t, "algorithm"), "unknown training algorithm '%s'%s; expected one of: %s", a,
            suggest(a, algorithms, 4, sug, sizeof sug), all);
        return;
    }
    snprintf(m->algorithm, sizeof m->algorithm, "%s", a);
    m->steps = (int)get_int(t, "steps", 100);
    m->seed = (uint64_t)get_int(t, "seed", 1);
    if (m->steps < 1) err(m, config_setting_get_member(t, "steps"), "'steps' must be >= 1");
    m->training = t;
    m->d_steps = (int)get_int(t, "d_steps", 1);
    m->g_steps = (int)get_int(t, "g_steps", 1);
    if (m->d_steps < 1 || m->g_steps < 1) err(m, t, "'d_steps' and 'g_steps' must be >= 1");
    if (k == 1) {
        /* d_step / g_step exist when their loss is named; each must be a scalar */
        static const char *const lk[2] = {"d_loss", "g_loss"};
        int *dst[2] = {&m->d_loss, &m->g_loss};
        for (int q = 0; q < 2; q++) {
            *dst[q] = -1;
            if (!config_setting_get_member(t, lk[q])) continue;
            *dst[q] = ref(m, t, lk[q]);
            if (*dst[q] >= 0 && vf_gnode_numel(&m->g->nodes[*dst[q]]) != 1)
                err(m, config_setting_get_member(t, lk[q]), "shape mismatch: '%s' must be a scalar [1]", lk[q]);
        }
        static const char *const nk[2] = {"d_nets", "g_nets"};
        for (int q = 0; q < 2; q++) {
            config_setting_t *e = config_setting_get_member(t, nk[q]);
            int n = !e ? 0 : config_setting_is_array(e) ? config_setting_length(e) : 1;
            for (int j = 0; j < n; j++) {
                const char *nm = config_setting_is_array(e) ? config_setting_get_string_elem(e, (unsigned)j)
                                                            : config_setting_get_string(e);
                bool found = false;
                const char *names[MAX_NETS];
                for (int i = 0; i < m->n_nets; i++) {
                    names[i] = m->nets[i].name;
                    found |= nm && !strcmp(nm, names[i]);
                }
                char sug[96];
                if (!found) err(m, e, "unknown network '%s' in %s%s", nm ? nm : "?", nk[q], nm ? suggest(nm, names, m->n_nets, sug, sizeof sug) : "");
            }
        }
        static const char *const tk[3] = {"gp", "sample", "sample_cond"};
        for (int q = 0; q < 3; q++) {
            config_setting_t *e = config_setting_get_member(t, tk[q]);
            int n = !e ? 0 : config_setting_is_array(e) ? config_setting_length(e) : 1;
            for (int j = 0; j < n; j++) {
                const char *nm = config_setting_is_array(e) ? config_setting_get_string_elem(e, (unsigned)j)
                                                            : config_setting_get_string(e);
                char sug[96];
                if (!nm || lookup(m, nm) < 0)
                    err(m, e, "unknown tensor '%s' in %s%s", nm ? nm : "?", tk[q], nm ? suggest_sym(m, nm, sug, sizeof sug) : "");
            }
        }
    }
    if (k == 0) {
        if (!config_setting_get_member(t, "loss")) { err(m, t, "missing field 'loss' in training (a string)"); return; }
        m->loss = ref(m, t, "loss");
        if (m->loss >= 0 && vf_gnode_numel(&m->g->nodes[m->loss]) != 1)
            err(m, config_setting_get_member(t, "loss"), "shape mismatch: the training loss must be a scalar [1]");
    }
}

/* Parameters of the networks named by training key k (a string or an array),
 * or every parameter when the key is absent. Returns the count, -1 on error. */
static int net_params(vf_model *m, const char *k, int **out) {
    config_setting_t *e = m->training ? config_setting_get_member(m->training, k) : NULL;
    int cap = 0;
    for (int i = 0; i < m->g->n; i++) cap += m->g->nodes[i].op == VF_G_PARAM;
    int *p = malloc((size_t)(cap + 1) * sizeof(int));
    if (!p) return -1;
    int n = 0;
    if (!e) {
        for (int i = 0; i < m->g->n; i++)
            if (m->g->nodes[i].op == VF_G_PARAM) p[n++] = i;
    } else {
        int ne = config_setting_is_array(e) ? config_setting_length(e) : 1;
        for (int j = 0; j < ne; j++) {
            const char *nm = config_setting_is_array(e) ? config_setting_get_string_elem(e, (unsigned)j)
                                                        : config_setting_get_string(e);
            for (int i = 0; i < m->n_nets && nm; i++) {
                net *N = &m->nets[i];
                if (strcmp(N->name, nm)) continue;
                int before = n;
                for (int q = 0; q < config_setting_length(N->layers) * 6; q++)
                    if (N->params[q] >= 0) p[n++] = N->params[q];
                if (n == before) {
                    free(p);
                    return vf_fail(VF_ERR_FORMAT, "%s: network '%s' in training.%s has no parameters (never applied?)",
                                   m->path, nm, k), -1;
                }
            }
        }
    }
    *out = p;
    return n;
}

/* One optimizer program: loss, its gradient w.r.t. params, Adam; outputs the
 * loss and `extra`. */
static vf_status opt_program(vf_model *m, const char *name, int loss, int np, int *par, int n_extra, const int *extra) {
    int *gr = malloc((size_t)(np + 1) * sizeof(int)), *lo = malloc((size_t)(n_extra + 1) * sizeof(int));
    if (!gr || !lo) { free(gr); free(lo); free(par); return vf_fail(VF_ERR_OOM, "dsl: out of memory"); }
    vf_status s = vf_graph_vjp(m->g, loss, -1, np, par, gr);
    if (s) { free(gr); free(lo); free(par); return s; }
    lo[0] = loss;
    for (int i = 0; i < n_extra; i++) lo[1 + i] = extra[i];
    m->prog[m->n_prog] = (vf_prog_desc){.name = name, .n_out = 1 + n_extra, .outs = lo, .n_upd = np,
                                        .upd_param = par, .upd_grad = gr, .adam = m->adam, .lr = m->lr};
    m->prog_arrays[m->n_prog][0] = lo;
    m->prog_arrays[m->n_prog][1] = par;
    m->prog_arrays[m->n_prog++][2] = gr;
    return VF_OK;
}

/* Names in training key k (string or array) -> nodes. */
static int named_nodes(vf_model *m, const char *k, int *out, int max) {
    config_setting_t *e = m->training ? config_setting_get_member(m->training, k) : NULL;
    if (!e) return 0;
    int ne = config_setting_is_array(e) ? config_setting_length(e) : 1, n = 0;
    for (int j = 0; j < ne && n < max; j++) {
        const char *nm = config_setting_is_array(e) ? config_setting_get_string_elem(e, (unsigned)j)
                                                    : config_setting_get_string(e);
        int id = nm ? lookup(m, nm) : -1;
        if (id >= 0) out[n++] = id;
    }
    return n;
}

/* wgan_gp: d_step (d_loss w.r.t. d_nets' parameters, Adam; outputs d_loss and
 * the `gp` terms), g_step (g_loss w.r.t. g_nets' parameters), sample (the
 * `sample` tensors, forward only). Each program updates only its own
 * networks, so the generator's backward pass is not built into d_step. */
static vf_status gan_programs(vf_model *m) {
    int gp[8];
    int n_gp = named_nodes(m, "gp", gp, 8);
    if (m->d_loss >= 0) {
        int *par = NULL;
        int np = net_params(m, "d_nets", &par);
        if (np < 0) return VF_ERR_FORMAT;
        VF_TRY(opt_program(m, "d_step", m->d_loss, np, par, n_gp, gp));
    }
    if (m->g_loss >= 0) {
        int *par = NULL;
        int np = net_params(m, "g_nets", &par);
        if (np < 0) return VF_ERR_FORMAT;
        VF_TRY(opt_program(m, "g_step", m->g_loss, np, par, 0, NULL));
    }
    /* sample: the generator from noise; sample_cond (optional): the tensors
     * the model computes from an input it is given (DoppelGANger: features
     * for given attributes), forward only as well */
    static const char *const fwd[2] = {"sample", "sample_cond"};
    for (int q = 0; q < 2; q++) {
        int smp[16];
        int ns = named_nodes(m, fwd[q], smp, 16);
        if (!ns) continue;
        int *o = malloc((size_t)ns * sizeof(int));
        if (!o) return vf_fail(VF_ERR_OOM, "dsl: out of memory");
        memcpy(o, smp, (size_t)ns * sizeof(int));
        m->prog[m->n_prog] = (vf_prog_desc){.name = fwd[q], .n_out = ns, .outs = o};
        m->prog_arrays[m->n_prog++][0] = o;
    }
    return VF_OK;
}

/* train_step (supervised) and eval: every named tensor and loss. */
static vf_status make_programs(vf_model *m) {
    int *outs = malloc((size_t)(m->n_syms + 1) * sizeof(int));
    if (!outs) return vf_fail(VF_ERR_OOM, "dsl: out of memory");
    int n = 0;
    for (int i = 0; i < m->n_syms; i++) {
        const vf_gnode *N = &m->g->nodes[m->syms[i].node];
        if (N->op != VF_G_INPUT) outs[n++] = m->syms[i].node;
    }
    if (m->loss >= 0) {
        int np = 0;
        for (int i = 0; i < m->g->n; i++) np += m->g->nodes[i].op == VF_G_PARAM;
        int *par = malloc((size_t)(np + 1) * sizeof(int)), *gr = malloc((size_t)(np + 1) * sizeof(int));
        int *lo = malloc(sizeof(int));
        if (!par || !gr || !lo) { free(par); free(gr); free(lo); free(outs); return vf_fail(VF_ERR_OOM, "dsl: out of memory"); }
        np = 0;
        for (int i = 0; i < m->g->n; i++)
            if (m->g->nodes[i].op == VF_G_PARAM) par[np++] = i;
        vf_status s = vf_graph_vjp(m->g, m->loss, -1, np, par, gr);
        if (s) { free(par); free(gr); free(lo); free(outs); return s; }
        *lo = m->loss;
        m->prog[m->n_prog] = (vf_prog_desc){.name = "train_step", .n_out = 1, .outs = lo, .n_upd = np,
                                            .upd_param = par, .upd_grad = gr, .adam = m->adam, .lr = m->lr};
        m->prog_arrays[m->n_prog][0] = lo;
        m->prog_arrays[m->n_prog][1] = par;
        m->prog_arrays[m->n_prog++][2] = gr;
    }
    if (!strcmp(m->algorithm, "wgan_gp")) {
        vf_status s = gan_programs(m);
        if (s) { free(outs); return s; }
    }
    /* wgan_gp models have their own programs; an `eval` of every named tensor
     * would hold the whole GAN (penalties included) in one program */
    if (n == 0 || !strcmp(m->algorithm, "wgan_gp")) { free(outs); return VF_OK; }
    m->prog[m->n_prog] = (vf_prog_desc){.name = "eval", .n_out = n, .outs = outs};
    m->prog_arrays[m->n_prog++][0] = outs;
    return VF_OK;
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
    m->d_loss = m->g_loss = -1;
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
    for (int i = 0; i < config_setting_length(root); i++) {
        config_setting_t *e = config_setting_get_elem(root, (unsigned)i);
        const char *nm = config_setting_name(e);
        int k = 0;
        while (k < 8 && strcmp(nm, top_keys[k])) k++;
        if (k == 8) {
            char sug[96], all[256];
            join(top_keys, 8, all, sizeof all);
            err(m, e, "unknown key '%s' at top level%s; expected one of: %s", nm, suggest(nm, top_keys, 8, sug, sizeof sug), all);
        } else if (k < 5 && !config_setting_is_list(e)) {
            err(m, e, "'%s' must be a list ( { ... }, { ... } )", nm);
        } else if (k >= 5 && !config_setting_is_group(e)) {
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
    } else {
        st = make_programs(m);
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
    for (int i = 0; i < m->n_prog; i++)
        for (int k = 0; k < 3; k++) free(m->prog_arrays[i][k]);
    free(m->errs);
    free(m->path);
    free(m);
}

vf_graph *vf_model_graph(vf_model *m) { return m->g; }
const vf_prog_desc *vf_model_programs(const vf_model *m, int *n) { *n = m->n_prog; return m->prog; }
int vf_model_node(const vf_model *m, const char *name) { return lookup((vf_model *)m, name); }
const char *vf_model_algorithm(const vf_model *m) { return m->algorithm; }
int vf_model_steps(const vf_model *m) { return m->steps; }
uint64_t vf_model_seed(const vf_model *m) { return m->seed; }

vf_status vf_model_compile(vf_model *m, vf_backend *be, const vf_exec_opts *opts, vf_exec **out) {
    vf_status s = vf_exec_create(m->g, be, m->n_prog, m->prog, opts, out);
    for (int i = 0; i < m->n_data && !s; i++) s = vf_exec_write(*out, m->data[i].node, m->data[i].data, m->data[i].bytes);
    if (s && *out) { vf_exec_destroy(*out); *out = NULL; }
    return s;
}

int64_t vf_model_dim(const vf_model *m, const char *name, int64_t def) {
    bool found;
    int64_t v = dim_lookup(m, name, &found);
    return found ? v : def;
}

int vf_model_d_steps(const vf_model *m) { return m->d_steps > 0 ? m->d_steps : 1; }
int vf_model_g_steps(const vf_model *m) { return m->g_steps > 0 ? m->g_steps : 1; }
int vf_model_loss(const vf_model *m, const char *which) {
    if (!strcmp(which, "d_loss")) return m->d_loss;
    if (!strcmp(which, "g_loss")) return m->g_loss;
    if (!strcmp(which, "loss")) return m->loss;
    return -1;
}

/* wgan_gp on the inputs as written (inline data or the caller's): steps
 * iterations of d_steps d_step runs and g_steps g_step runs. vf_gan
 * (engine/train/gan.h) runs the same loop with real batches from a dataset. */
static vf_status train_wgan_gp(vf_model *m, vf_exec *x, float *losses) {
    int pd = vf_exec_program(x, "d_step"), pg = vf_exec_program(x, "g_step");
    if (pd < 0 && pg < 0) return vf_fail(VF_ERR_ARG, "wgan_gp: the model names neither d_loss nor g_loss");
    for (int k = 0; k < m->steps; k++) {
        float dl = 0, gl = 0;
        for (int r = 0; pd >= 0 && r < vf_model_d_steps(m); r++) {
            VF_TRY(vf_exec_run(x, pd));
            VF_TRY(vf_exec_read(x, pd, m->d_loss, &dl, sizeof dl));
            if (!isfinite(dl)) return vf_fail(VF_ERR_ARG, "training diverged: d_loss is %g at iteration %d", (double)dl, k);
        }
        for (int r = 0; pg >= 0 && r < vf_model_g_steps(m); r++) {
            VF_TRY(vf_exec_run(x, pg));
            VF_TRY(vf_exec_read(x, pg, m->g_loss, &gl, sizeof gl));
            if (!isfinite(gl)) return vf_fail(VF_ERR_ARG, "training diverged: g_loss is %g at iteration %d", (double)gl, k);
        }
        if (losses) losses[k] = pg >= 0 ? gl : dl;
    }
    return VF_OK;
}

vf_status vf_model_train(vf_model *m, vf_exec *x, float *losses) {
    if (!strcmp(m->algorithm, "supervised")) return vf_train_supervised(m, x, losses);
    if (!strcmp(m->algorithm, "wgan_gp")) return train_wgan_gp(m, x, losses);
    return vf_fail(VF_ERR_UNSUPPORTED, "training algorithm '%s' is not implemented yet (supervised and wgan_gp are)",
                   m->algorithm);
}

vf_status vf_train_supervised(vf_model *m, vf_exec *x, float *losses) {
    if (strcmp(m->algorithm, "supervised"))
        return vf_fail(VF_ERR_UNSUPPORTED, "training algorithm '%s' is not supervised (use vf_model_train)",
                       m->algorithm);
    int p = vf_exec_program(x, "train_step");
    if (p < 0) return vf_fail(VF_ERR_ARG, "model has no train_step program (no training loss?)");
    for (int k = 0; k < m->steps; k++) {
        vf_status s = vf_exec_run(x, p);
        if (s) return s;
        if (losses) {
            s = vf_exec_read(x, p, m->loss, &losses[k], sizeof(float));
            if (s) return s;
            if (!isfinite(losses[k])) return vf_fail(VF_ERR_ARG, "training diverged: loss is %g at step %d", (double)losses[k], k);
        }
    }
    return VF_OK;
}
