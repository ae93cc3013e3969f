/* The evaluator against scipy: goldens made offline by
 * tests/golden/make_goldens.py (scipy 1.10.1, numpy 1.24.2), matched to 1e-9
 * relative: JSD, EMD, percentile and numpy-order sum on small fixed inputs
 * (rebuilt here from the same integer formulas), and every flow metric
 * between the even and odd data rows of the shared UGR16 and IoT-23 CSVs. */
#include <criterion/criterion.h>
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"

#ifndef RTOL
#define RTOL 1e-9
#endif

#define OK(expr)                                                                      \
    do {                                                                              \
        vf_status s_ = (expr);                                                        \
        cr_assert_eq(s_, VF_OK, "%s failed: %s", #expr, vf_last_error());             \
    } while (0)

/* |got - want| <= RTOL |want|; an expected 0 must come out as exactly 0. */
static void near(double got, double want, const char *what) {
    if (want == 0) cr_assert(got == 0, "%s: got %.17g, want exactly 0", what, got);
    else cr_assert(fabs(got - want) <= RTOL * fabs(want), "%s: got %.17g, want %.17g (rel %.3g)",
                   what, got, want, fabs(got - want) / fabs(want));
}

/* ------------------------------------------------- inputs (as the script) */

/* The JSD case `name` into fresh arrays p, q of length *n. */
static void jsd_case(const char *name, double **p, double **q, size_t *n) {
    size_t k = 0;
    if (!strcmp(name, "doc_1")) k = 2;
    else if (!strcmp(name, "doc_2") || !strcmp(name, "probs3")) k = 3;
    else if (!strcmp(name, "identical")) k = 8;
    else if (!strncmp(name, "mod_", 4)) k = (size_t)atol(name + 4);
    else if (!strcmp(name, "near_20000")) k = 20000;
    else if (!strcmp(name, "disjoint_1000")) k = 1000;
    else if (!strcmp(name, "zipf_5000")) k = 5000;
    cr_assert(k > 0, "unknown JSD case %s", name);
    double *a = calloc(k, sizeof *a), *b = calloc(k, sizeof *b);
    cr_assert(a && b);
    if (!strcmp(name, "doc_1")) { a[0] = 1; b[0] = 0.5; b[1] = 0.5; }
    else if (!strcmp(name, "doc_2")) { a[0] = 1; b[1] = 1; }
    else if (!strcmp(name, "probs3")) {
        a[0] = 0.1; a[1] = 0.2; a[2] = 0.7; b[0] = 0.3; b[1] = 0.3; b[2] = 0.4;
    } else if (!strcmp(name, "identical")) {
        const double v[8] = {3, 1, 4, 1, 5, 9, 2, 6};
        memcpy(a, v, sizeof v);
        memcpy(b, v, sizeof v);
    } else if (!strncmp(name, "mod_", 4)) {
        for (size_t i = 0; i < k; i++) {
            a[i] = (double)((i * 7919) % 101);
            b[i] = (double)((i * 104729 + 13) % 97);
        }
    } else if (!strcmp(name, "near_20000")) {
        for (size_t i = 0; i < k; i++) { a[i] = 1000.0 + (double)(i % 7); b[i] = 1000.0 + (double)(i % 5); }
    } else if (!strcmp(name, "disjoint_1000")) {
        for (size_t i = 0; i < k; i++) {
            a[i] = i < 500 ? (double)(i % 13 + 1) : 0;
            b[i] = i >= 500 ? (double)(i % 11 + 1) : 0;
        }
    } else if (!strcmp(name, "zipf_5000")) {
        for (size_t i = 0; i < k; i++) {
            a[i] = (double)(100000 / (i + 1));
            b[i] = (double)(80000 / ((i + 1) * (i + 1)) + 1);
        }
    }
    *p = a;
    *q = b;
    *n = k;
}

static double cube(size_t i, size_t mul, size_t mod, double div) {
    uint64_t c = (uint64_t)((i * mul) % mod);
    return (double)(c * c * c) / div;
}

static void emd_case(const char *name, double **u, size_t *nu, double **v, size_t *nv) {
    size_t a = 0, b = 0;
    if (!strcmp(name, "doc")) a = b = 3;
    else if (!strcmp(name, "ties")) { a = 5; b = 4; }
    else if (!strcmp(name, "cube")) { a = 10000; b = 7001; }
    else if (!strcmp(name, "neg")) { a = 3000; b = 2000; }
    else if (!strcmp(name, "identical")) a = b = 10000;
    cr_assert(a > 0, "unknown EMD case %s", name);
    double *x = malloc(a * sizeof *x), *y = malloc(b * sizeof *y);
    cr_assert(x && y);
    if (!strcmp(name, "doc")) {
        x[0] = 0; x[1] = 1; x[2] = 3; y[0] = 5; y[1] = 6; y[2] = 8;
    } else if (!strcmp(name, "ties")) {
        const double s[5] = {0, 0, 1, 1, 2}, t[4] = {1, 1, 1, 3};
        memcpy(x, s, sizeof s);
        memcpy(y, t, sizeof t);
    } else if (!strcmp(name, "cube")) {
        for (size_t i = 0; i < a; i++) x[i] = cube(i, 7919, 1000, 13.0);
        for (size_t i = 0; i < b; i++) y[i] = cube(i, 104729, 997, 11.0);
    } else if (!strcmp(name, "neg")) {
        for (size_t i = 0; i < a; i++) x[i] = (double)(i % 37) - 18.5;
        for (size_t i = 0; i < b; i++) y[i] = (double)(i % 41) * 0.5 - 10.0;
    } else {
        for (size_t i = 0; i < a; i++) x[i] = y[i] = cube(i, 7919, 1000, 13.0);
    }
    *u = x; *nu = a; *v = y; *nv = b;
}

/* ------------------------------------------------------------ CSV reader */

typedef struct row { char kind[8], name[64]; double a, b, c; } row;

/* Rows of a golden CSV (comment and header lines skipped); fails the test
 * naming file:line on a malformed row. */
static row *read_golden(const char *file, int *n_out) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/%s", VKFLOW_SOURCE_DIR, file);
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot open %s", path);
    row *rows = calloc(256, sizeof *rows);
    int n = 0, line = 0;
    char buf[512];
    while (fgets(buf, sizeof buf, f)) {
        line++;
        if (buf[0] == '#' || !strncmp(buf, "kind,", 5)) continue;
        cr_assert(n < 256);
        row *r = &rows[n];
        char *tok[5] = {0};
        int k = 0;
        /* strtok would merge empty fields; split on ',' by hand */
        char *s = buf;
        while (k < 5) {
            tok[k++] = s;
            char *c = strchr(s, ',');
            if (!c) break;
            *c = 0;
            s = c + 1;
        }
        cr_assert(k >= 3, "%s:%d: expected kind,name,value", path, line);
        cr_assert(strlen(tok[0]) < sizeof r->kind && strlen(tok[1]) < sizeof r->name,
                  "%s:%d: kind or name too long", path, line);
        memcpy(r->kind, tok[0], strlen(tok[0]) + 1);
        memcpy(r->name, tok[1], strlen(tok[1]) + 1);
        r->a = strtod(tok[2], NULL);
        r->b = k > 3 && *tok[3] && *tok[3] != '\n' ? strtod(tok[3], NULL) : NAN;
        r->c = k > 4 && *tok[4] && *tok[4] != '\n' ? strtod(tok[4], NULL) : NAN;
        n++;
    }
    fclose(f);
    cr_assert(n > 0, "%s: no rows", path);
    *n_out = n;
    return rows;
}

Test(eval_golden, small_inputs_match_scipy) {
    int n;
    row *rows = read_golden("eval_small.csv", &n);
    int seen[4] = {0};
    for (int i = 0; i < n; i++) {
        row *r = &rows[i];
        char what[128];
        if (!strcmp(r->kind, "jsd")) {
            double *p, *q;
            size_t k;
            jsd_case(r->name, &p, &q, &k);
            vf_jsd_value v = vf_jsd_counts(p, q, k);
            snprintf(what, sizeof what, "jsd %s nats", r->name);
            near(v.nats, r->a, what);
            snprintf(what, sizeof what, "jsd %s bits", r->name);
            /* scipy's bits went through sqrt and back: compare at 1e-9 too */
            near(v.bits, r->b, what);
            free(p);
            free(q);
            seen[0]++;
        } else if (!strcmp(r->kind, "emd")) {
            double *u, *v;
            size_t nu, nv;
            emd_case(r->name, &u, &nu, &v, &nv);
            OK(vf_sort_f64(u, nu));
            OK(vf_sort_f64(v, nv));
            snprintf(what, sizeof what, "emd %s", r->name);
            near(vf_emd_sorted(u, nu, v, nv), r->a, what);
            free(u);
            free(v);
            seen[1]++;
        } else if (!strcmp(r->kind, "pct")) {
            double *u, *v;
            size_t nu, nv;
            emd_case(r->name, &u, &nu, &v, &nv);
            OK(vf_sort_f64(u, nu));
            snprintf(what, sizeof what, "percentile %s q=%g", r->name, r->a);
            near(vf_percentile_sorted(u, nu, r->a), r->b, what);
            free(u);
            free(v);
            seen[2]++;
        } else if (!strcmp(r->kind, "sum")) {
            size_t k = 100003;
            double *a = malloc(k * sizeof *a);
            cr_assert(a);
            for (size_t j = 0; j < k; j++) a[j] = cube(j, 7919, 1000, 13.0) * (j % 2 ? -1.0 : 1.0);
            /* numpy's summation order reproduced: bit-identical */
            double s = vf_np_sum(a, k);
            cr_assert(s == r->a, "np.sum order: got %.17g, want %.17g", s, r->a);
            free(a);
            seen[3]++;
        } else {
            cr_assert_fail("unknown golden kind '%s'", r->kind);
        }
    }
    cr_assert(seen[0] >= 10 && seen[1] >= 5 && seen[2] >= 12 && seen[3] == 1,
              "golden file incomplete: %d jsd, %d emd, %d pct, %d sum", seen[0], seen[1], seen[2],
              seen[3]);
    free(rows);
}

/* Reference vectors from scipy's documentation (REFERENCE.md 5.2/5.3),
 * independent of the golden file. */
Test(eval_golden, scipy_doc_vectors) {
    double p[2] = {1, 0}, q[2] = {0.5, 0.5};
    vf_jsd_value v = vf_jsd_counts(p, q, 2);
    near(sqrt(v.nats), 0.46450140402245893, "jensenshannon([1,0],[.5,.5])");
    near(v.bits, 0.3112781245, "bits"); /* given to 10 digits */
    double u[3] = {0, 1, 3}, w[3] = {5, 6, 8};
    near(vf_emd_sorted(u, 3, w, 3), 5.0, "W1([0,1,3],[5,6,8])");
}

/* ------------------------------------------------------ shared CSV files */

/* Even data rows (A, as REAL) and odd rows (B, as SYNTHETIC) of t; A and B
 * borrow t's labels. */
static void parity_split(const vf_trace *t, vf_trace *a, vf_trace *b) {
    memset(a, 0, sizeof *a);
    memset(b, 0, sizeof *b);
    a->kind = b->kind = t->kind;
    a->labels = b->labels = t->labels;
    a->n_labels = b->n_labels = t->n_labels;
    a->recs = malloc((t->n / 2 + 1) * sizeof *a->recs);
    b->recs = malloc((t->n / 2 + 1) * sizeof *b->recs);
    cr_assert(a->recs && b->recs);
    for (size_t i = 0; i < t->n; i++) {
        if (i % 2) b->recs[b->n++] = t->recs[i];
        else a->recs[a->n++] = t->recs[i];
    }
}

static void check_parity(const char *data_file, const char *golden) {
    const char *path = tu_shared_data(data_file);
    vf_trace t;
    vf_read_options opt = {.strict = true};
    OK(vf_trace_read(path, &opt, &t));
    vf_trace a, b;
    parity_split(&t, &a, &b);
    vf_eval_result *r = malloc(sizeof *r);
    cr_assert(r);
    OK(vf_eval_compare(&a, &b, r));
    int n;
    row *rows = read_golden(golden, &n);
    int checked = 0;
    for (int i = 0; i < n; i++) {
        char what[128];
        snprintf(what, sizeof what, "%s: %s %s", data_file, rows[i].kind, rows[i].name);
        if (!strcmp(rows[i].kind, "jsd")) {
            int f = -1;
            for (int j = 0; j < VF_JSD_COUNT; j++)
                if (!strcmp(vf_eval_jsd_name(j), rows[i].name)) f = j;
            cr_assert(f >= 0 && r->jsd[f].valid, "%s: no such JSD", what);
            near(r->jsd[f].v.nats, rows[i].a, what);
            near(r->jsd[f].v.bits, rows[i].b, what);
        } else {
            int f = -1;
            for (int j = 0; j < VF_EMD_COUNT; j++)
                if (!strcmp(vf_eval_emd_name(j), rows[i].name)) f = j;
            cr_assert(f >= 0 && r->emd[f].valid, "%s: no such EMD", what);
            near(r->emd[f].emd, rows[i].a, what);
            near(r->emd[f].p1, rows[i].b, what);
            near(r->emd[f].p99, rows[i].c, what);
        }
        checked++;
    }
    cr_assert_eq(checked, 11, "%s: expected 6 JSD + 5 EMD rows, got %d", golden, checked);
    free(rows);
    free(r);
    free(a.recs);
    free(b.recs);
    vf_trace_free(&t);
}

Test(eval_golden, ugr16_parity_halves_match_scipy) {
    check_parity("flows_ugr16_netflow_2016-04-11_13hosts.csv", "eval_ugr16_parity.csv");
}

Test(eval_golden, iot23_parity_halves_match_scipy) {
    check_parity("flows_iot23_zeekconn_ctu-malware-capture-34-1.csv", "eval_iot23_parity.csv");
}
