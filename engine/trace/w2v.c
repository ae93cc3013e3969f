/* Word2vec skip-gram with negative sampling (Mikolov et al. 2013), as
 * NetShare uses it for ports and protocols ("IP2Vec"): each record is the
 * sentence [srcport, dstport, proto]; ports and protocols are separate
 * token kinds. Small and deterministic: one thread, a splitmix64 stream from
 * the seed, learning rate decaying linearly from 0.025 like gensim's. */
#include "trace/encode.h"
#include "trace/trace_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t sm64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static float unif(uint64_t *s) { return (float)(sm64(s) >> 40) * (1.0f / 16777216.0f); }

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int find(const uint32_t *v, int n, uint32_t x) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int m = (lo + hi) / 2;
        if (v[m] == x) return m;
        if (v[m] < x) lo = m + 1; else hi = m - 1;
    }
    return -1;
}

/* distinct sorted values of vals[n] -> out (malloc'd), returns count */
static int distinct(uint32_t *vals, size_t n, uint32_t **out) {
    qsort(vals, n, sizeof *vals, cmp_u32);
    int k = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || vals[i] != vals[i - 1]) vals[k++] = vals[i];
    *out = malloc((size_t)(k ? k : 1) * sizeof **out);
    if (*out) memcpy(*out, vals, (size_t)k * sizeof **out);
    return k;
}

static void normalise(float *v, int d) {
    double s = 0;
    for (int i = 0; i < d; i++) s += (double)v[i] * v[i];
    float inv = s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
    for (int i = 0; i < d; i++) v[i] *= inv;
}

vf_status vf_w2v_train(const vf_trace *t, int dim, int window, int negative, int epochs, uint64_t seed,
                       vf_w2v_table *port, vf_w2v_table *proto) {
    memset(port, 0, sizeof *port);
    memset(proto, 0, sizeof *proto);
    if (t->n == 0) return vf_fail(VF_ERR_ARG, "word2vec: empty trace");
    vf_w2v_sentence *s = malloc(t->n * sizeof *s);
    if (!s) return vf_fail(VF_ERR_OOM, "word2vec: out of memory");
    for (size_t i = 0; i < t->n; i++) {
        s[i].sport = t->recs[i].sport;
        s[i].dport = t->recs[i].dport;
        s[i].proto = t->recs[i].proto;
    }
    vf_status st = vf_w2v_train_sentences(s, t->n, dim, window, negative, epochs, seed, port, proto);
    free(s);
    return st;
}

vf_status vf_w2v_train_sentences(const vf_w2v_sentence *x, size_t n, int dim, int window, int negative,
                                 int epochs, uint64_t seed, vf_w2v_table *port, vf_w2v_table *proto) {
    memset(port, 0, sizeof *port);
    memset(proto, 0, sizeof *proto);
    if (n == 0) return vf_fail(VF_ERR_ARG, "word2vec: empty trace");
    uint32_t *tmp = malloc(2 * n * sizeof *tmp);
    if (!tmp) return vf_fail(VF_ERR_OOM, "word2vec: out of memory");
    for (size_t i = 0; i < n; i++) { tmp[2 * i] = x[i].sport; tmp[2 * i + 1] = x[i].dport; }
    int np = distinct(tmp, 2 * n, &port->value);
    for (size_t i = 0; i < n; i++) tmp[i] = x[i].proto;
    int nq = distinct(tmp, n, &proto->value);
    free(tmp);
    int V = np + nq;
    float *syn0 = malloc((size_t)V * (size_t)dim * sizeof *syn0);
    float *syn1 = calloc((size_t)V * (size_t)dim, sizeof *syn1);
    double *cum = malloc((size_t)V * sizeof *cum);
    uint64_t *cnt = calloc((size_t)V, sizeof *cnt);
    int32_t *sent = malloc(n * 3 * sizeof *sent);
    float *grad = malloc((size_t)dim * sizeof *grad);
    if (!port->value || !proto->value || !syn0 || !syn1 || !cum || !cnt || !sent || !grad) {
        free(syn0); free(syn1); free(cum); free(cnt); free(sent); free(grad);
        vf_w2v_free(port); vf_w2v_free(proto);
        return vf_fail(VF_ERR_OOM, "word2vec: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        sent[3 * i] = find(port->value, np, x[i].sport);
        sent[3 * i + 1] = find(port->value, np, x[i].dport);
        sent[3 * i + 2] = np + find(proto->value, nq, x[i].proto);
        for (int k = 0; k < 3; k++) cnt[sent[3 * i + k]]++;
    }
    /* negative sampling distribution count^0.75, as word2vec.c's unigram
     * table: token v fills a share of the table proportional to it, so a
     * draw is one lookup (a binary search over the cumulative sums was 80%
     * of the time) */
    double acc = 0;
    for (int v = 0; v < V; v++) { acc += pow((double)cnt[v], 0.75); cum[v] = acc; }
    size_t tsize = 65536; /* power of two (a mask, not a division), >= 16 slots per token */
    while (tsize < (size_t)V * 16) tsize *= 2;
    int32_t *table = malloc(tsize * sizeof *table);
    if (!table) {
        free(syn0); free(syn1); free(cum); free(cnt); free(sent); free(grad);
        vf_w2v_free(port); vf_w2v_free(proto);
        return vf_fail(VF_ERR_OOM, "word2vec: out of memory");
    }
    for (size_t i = 0, v = 0; i < tsize; i++) {
        while ((int)v < V - 1 && (double)(i + 0.5) / (double)tsize * acc > cum[v]) v++;
        table[i] = (int32_t)v;
    }
    uint64_t rng = seed ^ 0x5eedull;
    for (size_t i = 0; i < (size_t)V * (size_t)dim; i++) syn0[i] = (unif(&rng) - 0.5f) / (float)dim;
    const float lr0 = 0.025f, lr_min = 0.0001f;
    uint64_t total = (uint64_t)epochs * n, done = 0;
    for (int ep = 0; ep < epochs; ep++) {
        for (size_t s = 0; s < n; s++, done++) {
            float lr = lr0 - (lr0 - lr_min) * (float)done / (float)total;
            const int32_t *w = sent + 3 * s;
            for (int i = 0; i < 3; i++) {
                for (int j = 0; j < 3; j++) {
                    if (i == j || abs(i - j) > window) continue;
                    float *in = syn0 + (size_t)w[j] * (size_t)dim; /* context word's input vector */
                    memset(grad, 0, (size_t)dim * sizeof *grad);
                    for (int k = 0; k <= negative; k++) {
                        int target;
                        float label;
                        if (k == 0) { target = w[i]; label = 1; }
                        else {
                            target = table[(sm64(&rng) >> 11) & (tsize - 1)];
                            if (target == w[i]) continue;
                            label = 0;
                        }
                        float *out = syn1 + (size_t)target * (size_t)dim;
                        float dot = 0;
                        for (int d = 0; d < dim; d++) dot += in[d] * out[d];
                        float sg = dot > 6 ? 1.0f : dot < -6 ? 0.0f : 1.0f / (1.0f + expf(-dot));
                        float g = (label - sg) * lr;
                        for (int d = 0; d < dim; d++) { grad[d] += g * out[d]; out[d] += g * in[d]; }
                    }
                    for (int d = 0; d < dim; d++) in[d] += grad[d];
                }
            }
        }
    }
    port->n = np; port->dim = dim;
    proto->n = nq; proto->dim = dim;
    port->vec = malloc((size_t)(np ? np : 1) * (size_t)dim * sizeof(float));
    proto->vec = malloc((size_t)(nq ? nq : 1) * (size_t)dim * sizeof(float));
    if (!port->vec || !proto->vec) {
        free(table);
        free(syn0); free(syn1); free(cum); free(cnt); free(sent); free(grad);
        vf_w2v_free(port); vf_w2v_free(proto);
        return vf_fail(VF_ERR_OOM, "word2vec: out of memory");
    }
    free(table);
    memcpy(port->vec, syn0, (size_t)np * (size_t)dim * sizeof(float));
    memcpy(proto->vec, syn0 + (size_t)np * (size_t)dim, (size_t)nq * (size_t)dim * sizeof(float));
    for (int i = 0; i < np; i++) normalise(port->vec + (size_t)i * (size_t)dim, dim);
    for (int i = 0; i < nq; i++) normalise(proto->vec + (size_t)i * (size_t)dim, dim);
    free(syn0); free(syn1); free(cum); free(cnt); free(sent); free(grad);
    return VF_OK;
}

uint32_t vf_w2v_nearest(const vf_w2v_table *tb, const float *v) {
    /* cosine: rows are unit vectors, so the largest dot product wins */
    int best = 0;
    float bd = -INFINITY;
    for (int i = 0; i < tb->n; i++) {
        const float *r = tb->vec + (size_t)i * (size_t)tb->dim;
        float d = 0;
        for (int k = 0; k < tb->dim; k++) d += r[k] * v[k];
        if (d > bd) { bd = d; best = i; }
    }
    return tb->n ? tb->value[best] : 0;
}

const float *vf_w2v_vector(const vf_w2v_table *tb, uint32_t x) {
    if (!tb->n) return NULL;
    int lo = 0, hi = tb->n - 1;
    while (lo < hi) { int m = (lo + hi) / 2; if (tb->value[m] < x) lo = m + 1; else hi = m; }
    /* lo: first value >= x (or the last); pick the numerically nearer neighbour */
    if (lo > 0 && (tb->value[lo] < x || x - tb->value[lo - 1] < tb->value[lo] - x)) lo--;
    return tb->vec + (size_t)lo * (size_t)tb->dim;
}

void vf_w2v_free(vf_w2v_table *tb) {
    free(tb->value);
    free(tb->vec);
    memset(tb, 0, sizeof *tb);
}

static int write_table(FILE *f, const vf_w2v_table *tb, const char *prefix) {
    for (int i = 0; i < tb->n; i++) {
        fprintf(f, "%s%u", prefix, tb->value[i]);
        for (int k = 0; k < tb->dim; k++) fprintf(f, " %.9g", tb->vec[(size_t)i * (size_t)tb->dim + k]);
        fputc('\n', f);
    }
    return 0;
}

vf_status vf_w2v_save(const char *path, const vf_w2v_table *port, const vf_w2v_table *proto) {
    vf_atomic_file af;
    vf_status st = vf_atomic_open(&af, path);
    if (st) return st;
    write_table(af.f, port, "");
    write_table(af.f, proto, "proto:");
    return vf_atomic_commit(&af);
}

typedef struct { uint32_t v; float *x; } entry;
static int cmp_entry(const void *a, const void *b) {
    const entry *x = a, *y = b;
    return x->v < y->v ? -1 : x->v > y->v;
}

static vf_status finish_table(const char *path, entry *e, int n, int dim, vf_w2v_table *tb) {
    qsort(e, (size_t)n, sizeof *e, cmp_entry);
    for (int i = 1; i < n; i++)
        if (e[i].v == e[i - 1].v) return vf_fail(VF_ERR_FORMAT, "%s: value %u appears twice", path, e[i].v);
    tb->n = n;
    tb->dim = dim;
    tb->value = malloc((size_t)(n ? n : 1) * sizeof *tb->value);
    tb->vec = malloc((size_t)(n ? n : 1) * (size_t)dim * sizeof *tb->vec);
    if (!tb->value || !tb->vec) return vf_fail(VF_ERR_OOM, "%s: out of memory", path);
    for (int i = 0; i < n; i++) {
        tb->value[i] = e[i].v;
        memcpy(tb->vec + (size_t)i * (size_t)dim, e[i].x, (size_t)dim * sizeof(float));
        normalise(tb->vec + (size_t)i * (size_t)dim, dim);
    }
    return VF_OK;
}

vf_status vf_w2v_load(const char *path, vf_w2v_table *port, vf_w2v_table *proto) {
    memset(port, 0, sizeof *port);
    memset(proto, 0, sizeof *proto);
    FILE *f = fopen(path, "r");
    if (!f) return vf_fail(VF_ERR_IO, "%s: %s", path, strerror(errno));
    char line[8192];
    int dim = -1, line_no = 0;
    entry *pe = NULL, *qe = NULL;
    int np = 0, nq = 0, cp = 0, cq = 0;
    vf_status st = VF_OK;
    while (fgets(line, sizeof line, f)) {
        line_no++;
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '\n' || *p == 0 || *p == '#') continue;
        char tok[64];
        int used;
        if (sscanf(p, "%63s%n", tok, &used) != 1) continue;
        p += used;
        bool is_proto = !strncmp(tok, "proto:", 6);
        uint32_t v;
        if (is_proto) {
            uint8_t pv;
            if (!vf_proto_parse(tok + 6, &pv)) { st = vf_fail(VF_ERR_FORMAT, "%s:%d: '%s' is not a protocol", path, line_no, tok); break; }
            v = pv;
        } else {
            uint64_t x;
            if (!vf_parse_u64(tok, tok + strlen(tok), &x) || x > 65535) { st = vf_fail(VF_ERR_FORMAT, "%s:%d: '%s' is not a port 0..65535 (or proto:X)", path, line_no, tok); break; }
            v = (uint32_t)x;
        }
        float buf[256];
        int d = 0;
        for (;;) {
            char *e;
            while (*p == ' ' || *p == '\t') p++;
            if (*p == '\n' || *p == 0 || *p == '\r') break;
            if (d == 256) { st = vf_fail(VF_ERR_FORMAT, "%s:%d: more than 256 numbers", path, line_no); break; }
            errno = 0;
            buf[d] = strtof(p, &e);
            if (e == p || !isfinite(buf[d])) { st = vf_fail(VF_ERR_FORMAT, "%s:%d: not a number near '%.20s'", path, line_no, p); break; }
            d++;
            p = e;
        }
        if (st) break;
        if (dim < 0) dim = d;
        if (d != dim || d == 0) { st = vf_fail(VF_ERR_FORMAT, "%s:%d: %d numbers, expected %d", path, line_no, d, dim); break; }
        entry **arr = is_proto ? &qe : &pe;
        int *nn = is_proto ? &nq : &np, *cc = is_proto ? &cq : &cp;
        if (*nn == *cc) {
            int nc = *cc ? *cc * 2 : 64;
            entry *na = realloc(*arr, (size_t)nc * sizeof *na);
            if (!na) { st = vf_fail(VF_ERR_OOM, "%s: out of memory", path); break; }
            *arr = na;
            *cc = nc;
        }
        (*arr)[*nn].v = v;
        (*arr)[*nn].x = malloc((size_t)d * sizeof(float));
        if (!(*arr)[*nn].x) { st = vf_fail(VF_ERR_OOM, "%s: out of memory", path); break; }
        memcpy((*arr)[*nn].x, buf, (size_t)d * sizeof(float));
        (*nn)++;
    }
    fclose(f);
    if (!st && np + nq == 0) st = vf_fail(VF_ERR_FORMAT, "%s: no embedding lines", path);
    if (!st) st = finish_table(path, pe, np, dim, port);
    if (!st) st = finish_table(path, qe, nq, dim, proto);
    for (int i = 0; i < np; i++) free(pe[i].x);
    for (int i = 0; i < nq; i++) free(qe[i].x);
    free(pe);
    free(qe);
    if (st) { vf_w2v_free(port); vf_w2v_free(proto); }
    return st;
}
