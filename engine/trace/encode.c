/* Chunking, flow tags and field encodings (NetShare's preprocessing) and
 * their inverse. See encode.h for the shapes. */
#include "trace/encode.h"
#include "trace/trace_internal.h"
#include "trace/encode_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool is_attr_field(vf_field f) { return f <= VF_F_PROTO; }

/* Field value of a record as a double in the field's natural unit
 * (td: seconds; others: integers). */
double vf_enc_fval(const vf_record *r, vf_field f) {
    switch (f) {
    case VF_F_SRCPORT: return r->sport;
    case VF_F_DSTPORT: return r->dport;
    case VF_F_PROTO: return r->proto;
    case VF_F_TD: return (double)r->dur_ns * 1e-9;
    case VF_F_PKT: return (double)r->pkts;
    case VF_F_BYT: return (double)r->bytes;
    case VF_F_LABEL: return r->label;
    case VF_F_FLAGS: return r->tcp_flags;
    case VF_F_TOS: return r->tos;
    case VF_F_LEN: return r->length;
    case VF_F_TTL: return r->ttl;
    case VF_F_IPID: return r->ip_id;
    case VF_F_FRAGFLAG: return r->frag_flags;
    case VF_F_FRAGOFF: return r->frag_off;
    default: return 0;
    }
}

static double clampd(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

static void set_fval(vf_record *r, vf_field f, double x) {
    double v = x < 0 ? 0 : x;
    uint64_t u = (uint64_t)llround(clampd(v, 0, 1.8e19));
    switch (f) {
    case VF_F_SRCPORT: r->sport = (uint16_t)clampd(v, 0, 65535); break;
    case VF_F_DSTPORT: r->dport = (uint16_t)clampd(v, 0, 65535); break;
    case VF_F_PROTO: r->proto = (uint8_t)clampd(v, 0, 255); break;
    case VF_F_TD: r->dur_ns = (int64_t)llround(clampd(v, 0, 9e9) * 1e9); break;
    case VF_F_PKT: r->pkts = u; break;
    case VF_F_BYT: r->bytes = u; break;
    case VF_F_LABEL: r->label = (int32_t)u; break;
    case VF_F_FLAGS: r->tcp_flags = (uint8_t)(u > 255 ? 255 : u); break;
    case VF_F_TOS: r->tos = (uint8_t)(u > 255 ? 255 : u); break;
    case VF_F_LEN: r->length = (uint32_t)(u > 65535 ? 65535 : u); break;
    case VF_F_TTL: r->ttl = (uint8_t)(u > 255 ? 255 : u); break;
    case VF_F_IPID: r->ip_id = (uint16_t)(u > 65535 ? 65535 : u); break;
    case VF_F_FRAGFLAG: r->frag_flags = (uint8_t)(u > 7 ? 7 : u); break;
    case VF_F_FRAGOFF: r->frag_off = (uint16_t)(u > 8191 ? 8191 : u); break;
    default: break;
    }
}

static const vf_w2v_table *w2v_of(const vf_encoder *e, vf_field f) {
    return f == VF_F_PROTO ? &e->proto : &e->port;
}

static const vf_addr_table *ip_table(const vf_encoder *e, vf_field f) { return &e->ips[f == VF_F_DSTIP]; }

/* Bits of a field encoded as bits: an address's 32 or 128, a port's 16, the
 * protocol's 8 (fixed public domains: nothing is fitted). */
static int bits_of(const vf_encoder *e, vf_field f) {
    return vf_enc_addr_field(f) ? e->ip_bits : f == VF_F_PROTO ? 8 : 16;
}

/* dict: classes before "other": an address field's most frequent addresses,
 * a port's or the protocol's most frequent values (its vocabulary). */
static int dict_classes(const vf_encoder *e, vf_field f) {
    return vf_enc_addr_field(f) ? ip_table(e, f)->n_dict : e->n_vocab[f];
}

/* The first index of f's vocabulary (ascending) whose value is >= x. */
static int vocab_lower(const vf_encoder *e, vf_field f, uint64_t x) {
    int lo = 0, hi = e->n_vocab[f];
    while (lo < hi) { int m = (lo + hi) / 2; if (e->vocab[f][m] < x) lo = m + 1; else hi = m; }
    return lo;
}

static int field_width(const vf_encoder *e, const vf_field_spec *s) {
    switch (s->enc) {
    case VF_ENC_BITS: return 2 * bits_of(e, s->field);
    case VF_ENC_DICT: return dict_classes(e, s->field) + 1 + 2 * bits_of(e, s->field);
    case VF_ENC_WORD2VEC: return w2v_of(e, s->field)->dim;
    case VF_ENC_ONEHOT: return e->n_vocab[s->field];
    case VF_ENC_INTERARRIVAL: return 1;
    case VF_ENC_INTERARRIVAL_LOG: return 1;
    case VF_ENC_INTERARRIVAL_QUANTILE: return 1;
    case VF_ENC_INTERARRIVAL_BINS: return s->bins + 1;
    default: return 1;
    }
}

const vf_segment *vf_enc_first_seg(const vf_segment *segs, int n, vf_field f) {
    for (int g = 0; g < n; g++)
        if (segs[g].field == (int)f) return &segs[g];
    return NULL;
}

static void push(vf_segment *segs, int *n, int *dim, int width, vf_seg_kind k, int field) {
    if (width <= 0 || *n >= VF_MAX_SEGS) return;
    segs[*n] = (vf_segment){*dim, width, k, field};
    (*n)++;
    *dim += width;
}

/* Attribute layout: 5-tuple fields (spec order), flow start, start flag
 * (2-way), presence in each chunk (2-way each). Features: inter-arrival
 * (one unit; interarrival_bins: a softmax of `bins`, then one unit), then the
 * other fields in spec order. */
void vf_enc_build_layout(vf_encoder *e) {
    e->attr_dim = e->feat_dim = e->n_attr_segs = e->n_feat_segs = 0;
    bool has_time = false;
    int time_bins = 0;
    for (int i = 0; i < e->n_fields; i++) {
        const vf_field_spec *s = &e->fields[i];
        if (s->field == VF_F_TIME) {
            has_time = true;
            if (s->enc == VF_ENC_INTERARRIVAL_BINS) time_bins = s->bins;
            continue;
        }
        if (!is_attr_field(s->field)) continue;
        /* dict: the class softmax (top + 1: "other" last), then the bits */
        if (s->enc == VF_ENC_DICT)
            push(e->attr_segs, &e->n_attr_segs, &e->attr_dim, dict_classes(e, s->field) + 1, VF_SEG_SOFTMAX, s->field);
        for (int b = 0; (s->enc == VF_ENC_BITS || s->enc == VF_ENC_DICT) && b < bits_of(e, s->field); b++)
            push(e->attr_segs, &e->n_attr_segs, &e->attr_dim, 2, VF_SEG_SOFTMAX, s->field);
        if (s->enc == VF_ENC_WORD2VEC)
            push(e->attr_segs, &e->n_attr_segs, &e->attr_dim, field_width(e, s), VF_SEG_TANH, s->field);
        else if (s->enc == VF_ENC_ONEHOT)
            push(e->attr_segs, &e->n_attr_segs, &e->attr_dim, field_width(e, s), VF_SEG_SOFTMAX, s->field);
        else if (s->enc == VF_ENC_MINMAX || s->enc == VF_ENC_LOG_MINMAX)
            push(e->attr_segs, &e->n_attr_segs, &e->attr_dim, 1, VF_SEG_UNIT, s->field);
    }
    if (has_time) push(e->attr_segs, &e->n_attr_segs, &e->attr_dim, 1, VF_SEG_UNIT, VF_F_TIME);
    push(e->attr_segs, &e->n_attr_segs, &e->attr_dim, 2, VF_SEG_SOFTMAX, -1);
    for (int c = 0; c < e->n_chunks; c++) push(e->attr_segs, &e->n_attr_segs, &e->attr_dim, 2, VF_SEG_SOFTMAX, -1);
    if (time_bins) push(e->feat_segs, &e->n_feat_segs, &e->feat_dim, time_bins, VF_SEG_SOFTMAX, VF_F_TIME);
    if (has_time) push(e->feat_segs, &e->n_feat_segs, &e->feat_dim, 1, VF_SEG_UNIT, VF_F_TIME);
    for (int i = 0; i < e->n_fields; i++) {
        const vf_field_spec *s = &e->fields[i];
        if (s->field == VF_F_TIME || is_attr_field(s->field)) continue;
        vf_seg_kind k = s->enc == VF_ENC_ONEHOT ? VF_SEG_SOFTMAX : s->enc == VF_ENC_WORD2VEC ? VF_SEG_TANH : VF_SEG_UNIT;
        push(e->feat_segs, &e->n_feat_segs, &e->feat_dim, field_width(e, s), k, s->field);
    }
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}
static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* chunk of time ts: last edge <= ts (clamped to 0..n_chunks-1) */
int vf_encoder_chunk_of(const vf_encoder *e, int64_t ts) {
    int lo = 0, hi = e->n_chunks - 1;
    while (lo < hi) {
        int m = (lo + hi + 1) / 2;
        if (e->chunk_begin[m] <= ts) lo = m; else hi = m - 1;
    }
    return lo;
}

/* Flow index with each flow's records sorted by time (stable). */
static const vf_trace *g_sort_t;
static int cmp_rec_time(const void *a, const void *b) {
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int64_t x = g_sort_t->recs[i].ts_ns, y = g_sort_t->recs[j].ts_ns;
    if (x != y) return x < y ? -1 : 1;
    return i < j ? -1 : i > j;
}
static vf_status time_sorted_flows(const vf_trace *t, vf_flow_index *fi) {
    vf_status st = vf_flow_index_build(t, fi);
    if (st) return st;
    g_sort_t = t; /* qsort has no context argument; single-threaded use */
    for (size_t f = 0; f < fi->n_flows; f++)
        qsort(fi->order + fi->start[f], fi->start[f + 1] - fi->start[f], sizeof(size_t), cmp_rec_time);
    return VF_OK;
}

/* ------------------------------------------------- address tables (tree, dict) */

static int cmp_addr(const void *a, const void *b) { return memcmp(a, b, sizeof(vf_addr)); }


/* A port's or the protocol's dict classes: the `top` most frequent values
 * (count down, then value up), kept as its vocabulary in ascending order.
 * count: [65536] records per value. */
static const uint32_t *g_value_count;
static int cmp_value_by_count(const void *a, const void *b) {
    uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    if (g_value_count[i] != g_value_count[j]) return g_value_count[i] > g_value_count[j] ? -1 : 1;
    return i < j ? -1 : i > j;
}
vf_status vf_enc_value_dict(vf_encoder *e, vf_field f, int top, const uint32_t *count) {
    uint32_t *v = malloc(65536 * sizeof *v);
    if (!v) return vf_fail(VF_ERR_OOM, "encoder: out of memory");
    int n = 0;
    for (uint32_t x = 0; x < 65536; x++)
        if (count[x]) v[n++] = x;
    g_value_count = count;
    qsort(v, (size_t)n, sizeof *v, cmp_value_by_count);
    if (n > top) n = top;
    free(e->vocab[f]);
    e->vocab[f] = malloc((size_t)(n ? n : 1) * sizeof *e->vocab[f]);
    if (!e->vocab[f]) { free(v); return vf_fail(VF_ERR_OOM, "encoder: out of memory"); }
    for (int i = 0; i < n; i++) e->vocab[f][i] = v[i];
    qsort(e->vocab[f], (size_t)n, sizeof *e->vocab[f], cmp_u64);
    e->n_vocab[f] = n;
    free(v);
    return VF_OK;
}

/* dict classes: the `top` most frequent addresses, count down then address
 * up (a total order, so fit and load agree). tb->addr/count must be set. */
static const vf_addr_table *g_dict_tb;
static int cmp_by_count(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    uint32_t x = g_dict_tb->count[i], y = g_dict_tb->count[j];
    if (x != y) return x > y ? -1 : 1;
    return i < j ? -1 : i > j;
}
static vf_status build_dict(vf_addr_table *tb, int top) {
    free(tb->dict);
    free(tb->class_of);
    tb->dict = NULL;
    tb->class_of = NULL;
    tb->n_dict = top < tb->n ? top : tb->n;
    int *idx = malloc((size_t)(tb->n ? tb->n : 1) * sizeof *idx);
    tb->class_of = malloc((size_t)(tb->n ? tb->n : 1) * sizeof *tb->class_of);
    if (!idx || !tb->class_of) { free(idx); return vf_fail(VF_ERR_OOM, "encoder: out of memory"); }
    for (int i = 0; i < tb->n; i++) { idx[i] = i; tb->class_of[i] = -1; }
    g_dict_tb = tb; /* qsort has no context argument; single-threaded use */
    qsort(idx, (size_t)tb->n, sizeof *idx, cmp_by_count);
    for (int k = 0; k < tb->n_dict; k++) tb->class_of[idx[k]] = k;
    tb->dict = idx; /* its first n_dict entries are the classes */
    double once = 0, all = 0;
    for (int i = 0; i < tb->n; i++)
        if (tb->class_of[i] < 0) { once += tb->count[i] == 1; all += tb->count[i]; }
    tb->p_new = all > 0 ? once / all : 0;
    return VF_OK;
}

/* index of address x in tb, or -1 */
static int table_find(const vf_addr_table *tb, const vf_addr *x) {
    int lo = 0, hi = tb->n;
    while (lo < hi) {
        int m = lo + (hi - lo) / 2;
        int c = memcmp(&tb->addr[m], x, sizeof *x);
        if (!c) return m;
        if (c < 0) lo = m + 1; else hi = m;
    }
    return -1;
}

/* Distinct addresses of field f in t, sorted, with record counts and flow
 * counts (fi: t's flows). */
static vf_status build_table(const vf_trace *t, const vf_flow_index *fi, vf_field f, vf_addr_table *tb) {
    vf_addr *a = malloc(t->n * sizeof *a);
    if (!a) return vf_fail(VF_ERR_OOM, "encoder: out of memory");
    for (size_t i = 0; i < t->n; i++) a[i] = f == VF_F_SRCIP ? t->recs[i].src : t->recs[i].dst;
    qsort(a, t->n, sizeof *a, cmp_addr);
    uint32_t *cnt = malloc(t->n * sizeof *cnt);
    if (!cnt) { free(a); return vf_fail(VF_ERR_OOM, "encoder: out of memory"); }
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (n && !memcmp(&a[n - 1], &a[i], sizeof *a)) { if (cnt[n - 1] < UINT32_MAX) cnt[n - 1]++; continue; }
        a[n] = a[i];
        cnt[n++] = 1;
    }
    if (n > 100000000) { free(a); free(cnt); return vf_fail(VF_ERR_ARG, "encoder: more than 10^8 distinct addresses"); }
    tb->n = (int)n;
    tb->addr = a;
    tb->count = cnt;
    /* flows: every record of a 5-tuple has its addresses, so its first says */
    tb->flows = calloc(n ? n : 1, sizeof *tb->flows);
    if (!tb->flows) return vf_fail(VF_ERR_OOM, "encoder: out of memory");
    for (size_t k = 0; k < fi->n_flows; k++) {
        const vf_record *r = &t->recs[fi->order[fi->start[k]]];
        tb->flows[table_find(tb, f == VF_F_SRCIP ? &r->src : &r->dst)]++;
    }
    return VF_OK;
}

static int addr_bit(const vf_addr *a, int pos) { return (a->b[pos / 8] >> (7 - pos % 8)) & 1; }

/* Exact maximum-likelihood search over the training addresses: the cost of
 * an address is sum over bits of -log p(bit), p read from the generated
 * 2-way softmax of each bit. The sorted table is the prefix tree (the
 * addresses under a prefix are a contiguous range, split by a binary
 * search at each depth); depth first, cheaper child first, a subtree is cut
 * when its cost so far plus the cheapest possible rest (rest[d]) cannot beat
 * the best leaf. Leaves with a dict class are skipped when skip_dict (the
 * "other" class). */
typedef struct tree_search {
    const vf_addr_table *tb;
    int first;                 /* bit position of address bit 0 (96 for IPv4-mapped) */
    int nbits;
    const double (*cost)[2];   /* [nbits][2] */
    const double *rest;        /* [nbits + 1] */
    bool skip_dict;
    double best;
    int best_i;
} tree_search;

static void tree_dfs(tree_search *S, int lo, int hi, int d, double c) {
    if (c + S->rest[d] >= S->best) return;
    if (d == S->nbits) {       /* one address (the table is distinct) */
        if (S->skip_dict && S->tb->class_of[lo] >= 0) return;
        S->best = c;
        S->best_i = lo;
        return;
    }
    int pos = S->first + d, a = lo, b = hi; /* first index in [lo, hi) with bit d set */
    while (a < b) {
        int m = a + (b - a) / 2;
        if (addr_bit(&S->tb->addr[m], pos)) b = m; else a = m + 1;
    }
    double c0 = c + S->cost[d][0], c1 = c + S->cost[d][1];
    if (c0 <= c1) {
        if (a > lo) tree_dfs(S, lo, a, d + 1, c0);
        if (hi > a) tree_dfs(S, a, hi, d + 1, c1);
    } else {
        if (hi > a) tree_dfs(S, a, hi, d + 1, c1);
        if (a > lo) tree_dfs(S, lo, a, d + 1, c0);
    }
}

/* Bits [2 * ip_bits] (pairs: p(0), p(1)) to the index of the likeliest
 * training address; -1 when there is none to choose (empty table, or all
 * classed). */
static int tree_decode(const vf_encoder *e, const vf_addr_table *tb, const float *src, bool skip_dict) {
    if (tb->n == 0) return -1;
    double cost[128][2], rest[129];
    int nb = e->ip_bits;
    for (int b = 0; b < nb; b++) {
        double p0 = src[2 * b] > 0 ? src[2 * b] : 0, p1 = src[2 * b + 1] > 0 ? src[2 * b + 1] : 0;
        double z = p0 + p1;
        /* a floor of 1e-6 keeps one confident wrong bit from costing infinitely */
        p0 = z > 0 ? p0 / z : 0.5;
        p1 = z > 0 ? p1 / z : 0.5;
        cost[b][0] = -log(p0 > 1e-6 ? p0 : 1e-6);
        cost[b][1] = -log(p1 > 1e-6 ? p1 : 1e-6);
    }
    rest[nb] = 0;
    for (int b = nb - 1; b >= 0; b--) rest[b] = rest[b + 1] + (cost[b][0] < cost[b][1] ? cost[b][0] : cost[b][1]);
    tree_search S = {tb, nb == 32 ? 96 : 0, nb, (const double (*)[2])cost, rest, skip_dict, INFINITY, -1};
    tree_dfs(&S, 0, tb->n, 0, 0);
    return S.best_i;
}

/* tree_fresh: a fresh address for a row whose dict class is the singleton a:
 * a's upper half (the /16 of an IPv4 address, the /64 of an IPv6 one), the
 * lower half from h (a hash of the row's outputs), drawn again while it is
 * a training address. */
static vf_addr fresh_address(const vf_encoder *e, const vf_addr_table *tb, vf_addr a, uint64_t h) {
    int low = 16 - e->ip_bits / 16; /* the lower half's first byte: 14 (IPv4-mapped) or 8 */
    for (int tries = 0; tries < 16; tries++) {
        h = h * 6364136223846793005ull + 1442695040888963407ull;
        for (int k = low; k < 16; k++) a.b[k] = (uint8_t)(h >> (8 * (k % 8)));
        if (table_find(tb, &a) < 0) break;
    }
    return a;
}

void vf_encoder_free(vf_encoder *e) {
    free(e->chunk_begin);
    free(e->start_lo);
    free(e->start_hi);
    free(e->iat_hi);
    free(e->gapq);
    free(e->startq);
    for (int f = 0; f < VF_F_COUNT; f++) {
        free(e->vocab[f]);
        free(e->vocab_count[f]);
        free(e->valq[f]);
        free(e->valq_p[f]);
    }
    vf_enc_free_flen(e);
    free(e->pparts);
    free(e->port_flows[0]);
    free(e->port_flows[1]);
    free(e->fspan);
    free(e->xgapq);
    vf_w2v_free(&e->port);
    vf_w2v_free(&e->proto);
    for (int i = 0; i < e->n_labels; i++) free(e->labels[i]);
    free(e->labels);
    for (int k = 0; k < 2; k++) {
        free(e->ips[k].addr);
        free(e->ips[k].count);
        free(e->ips[k].flows);
        free(e->ips[k].dict);
        free(e->ips[k].class_of);
    }
    memset(e, 0, sizeof *e);
}

vf_status vf_enc_alloc_chunks(vf_encoder *e) {
    e->chunk_begin = calloc((size_t)e->n_chunks + 1, sizeof(int64_t));
    e->start_lo = calloc((size_t)e->n_chunks, sizeof(int64_t));
    e->start_hi = calloc((size_t)e->n_chunks, sizeof(int64_t));
    e->iat_hi = calloc((size_t)e->n_chunks, sizeof(int64_t));
    if (!e->chunk_begin || !e->start_lo || !e->start_hi || !e->iat_hi)
        return vf_fail(VF_ERR_OOM, "encoder: out of memory");
    return VF_OK;
}

vf_status vf_enc_w2v(const vf_data_desc *dd, vf_encoder *e, const vf_trace *t, const vf_w2v_sentence *sent,
                     size_t n_sent) {
    vf_status st = VF_OK;
    bool need_w2v = false;
    for (int i = 0; i < e->n_fields; i++) need_w2v |= e->fields[i].enc == VF_ENC_WORD2VEC;
    if (need_w2v) {
        if (dd->w2v_pretrained[0]) st = vf_w2v_load(dd->w2v_pretrained, &e->port, &e->proto);
        else if (t) st = vf_w2v_train(t, dd->w2v_dim, dd->w2v_window, dd->w2v_negative, dd->w2v_epochs, dd->seed,
                                      &e->port, &e->proto);
        else st = vf_w2v_train_sentences(sent, n_sent, dd->w2v_dim, dd->w2v_window, dd->w2v_negative,
                                         dd->w2v_epochs, dd->seed, &e->port, &e->proto);
        if (st) return st;
        bool need_proto = false, need_port = false;
        for (int i = 0; i < e->n_fields; i++)
            if (e->fields[i].enc == VF_ENC_WORD2VEC) {
                if (e->fields[i].field == VF_F_PROTO) need_proto = true; else need_port = true;
            }
        if ((need_port && e->port.n == 0) || (need_proto && e->proto.n == 0)) {
            st = vf_fail(VF_ERR_FORMAT, "%s: the embedding has no %s vectors", dd->w2v_pretrained,
                         need_port && e->port.n == 0 ? "port" : "protocol");
            return st;
        }
    }
    return st;
}

void vf_enc_finish(const vf_data_desc *dd, vf_encoder *e, int max_len) {
    for (int c = 0; c < e->n_chunks; c++) {
        if (e->start_lo[c] > e->start_hi[c]) e->start_lo[c] = e->start_hi[c] = e->chunk_begin[c];
        if (e->iat_hi[c] <= 0) e->iat_hi[c] = 1;
    }
    e->max_len = dd->max_flow_len > 0 ? dd->max_flow_len : max_len;
    vf_enc_build_layout(e);
}

const vf_data_desc *vf_enc_resolve_desc(const vf_data_desc *dd_in, vf_trace_kind kind, vf_data_desc *def) {
    const vf_data_desc *dd = dd_in;
    if (dd->n_fields == 0) {
        vf_data_desc_default(kind, def);
        def->n_chunks = dd_in->n_chunks;
        def->chunking = dd_in->chunking;
        def->max_flow_len = dd_in->max_flow_len;
        def->flow_lengths = dd_in->flow_lengths;
        def->carried_gaps = dd_in->carried_gaps;
        def->flow_spans = dd_in->flow_spans;
        def->w2v_dim = dd_in->w2v_dim; def->w2v_window = dd_in->w2v_window;
        def->w2v_negative = dd_in->w2v_negative; def->w2v_epochs = dd_in->w2v_epochs;
        def->seed = dd_in->seed;
        memcpy(def->w2v_pretrained, dd_in->w2v_pretrained, sizeof def->w2v_pretrained);
        for (int i = 0; i < def->n_fields; i++) def->fields[i].dim = def->w2v_dim;
        dd = def;
    }
    return dd;
}

const vf_data_desc *vf_enc_setup(const vf_data_desc *dd_in, vf_trace_kind kind, vf_data_desc *def,
                                 vf_encoder *e) {
    const vf_data_desc *dd = vf_enc_resolve_desc(dd_in, kind, def);
    e->kind = kind;
    e->n_fields = dd->n_fields;
    memcpy(e->fields, dd->fields, sizeof e->fields);
    for (int i = 0; i < e->n_fields; i++) /* specs built by hand (not parsed) may leave bins 0 */
        if (e->fields[i].bins <= 0 && (vf_enc_time_quantile(e->fields[i].enc) || e->fields[i].enc == VF_ENC_QUANTILE))
            e->fields[i].bins = e->fields[i].enc == VF_ENC_INTERARRIVAL_BINS ? 16 : VF_QUANTILE_BINS_DEFAULT;
    e->n_chunks = dd->n_chunks > 0 ? dd->n_chunks : 1;
    e->chunking = dd->chunking;
    e->ip_bits = 32;
    return dd;
}

vf_status vf_encoder_fit(const vf_data_desc *dd_in, const vf_trace *t, vf_encoder *e) {
    memset(e, 0, sizeof *e);
    if (t->n == 0) return vf_fail(VF_ERR_ARG, "encoder: the trace has no records");
    vf_data_desc def;
    const vf_data_desc *dd = vf_enc_setup(dd_in, t->kind, &def, e);
    for (size_t i = 0; i < t->n; i++)
        if (!vf_addr_is_v4(&t->recs[i].src) || !vf_addr_is_v4(&t->recs[i].dst)) { e->ip_bits = 128; break; }
    vf_status st = vf_enc_alloc_chunks(e);
    if (st) goto fail;
    /* chunk windows */
    int64_t t0 = INT64_MAX, t1 = INT64_MIN;
    for (size_t i = 0; i < t->n; i++) {
        if (t->recs[i].ts_ns < t0) t0 = t->recs[i].ts_ns;
        if (t->recs[i].ts_ns > t1) t1 = t->recs[i].ts_ns;
    }
    if (e->chunking == VF_CHUNK_FIXED_TIME) {
        __int128 span = (__int128)t1 - t0 + 1;
        for (int c = 0; c <= e->n_chunks; c++) e->chunk_begin[c] = t0 + (int64_t)(span * c / e->n_chunks);
    } else {
        int64_t *ts = malloc(t->n * sizeof *ts);
        if (!ts) { st = vf_fail(VF_ERR_OOM, "encoder: out of memory"); goto fail; }
        for (size_t i = 0; i < t->n; i++) ts[i] = t->recs[i].ts_ns;
        qsort(ts, t->n, sizeof *ts, cmp_i64);
        for (int c = 0; c < e->n_chunks; c++) e->chunk_begin[c] = ts[t->n * (size_t)c / (size_t)e->n_chunks];
        e->chunk_begin[0] = t0;
        e->chunk_begin[e->n_chunks] = t1 + 1;
        free(ts);
    }
    /* ranges and vocabularies */
    for (int i = 0; i < e->n_fields; i++) {
        const vf_field_spec *s = &e->fields[i];
        vf_field f = s->field;
        if (s->enc == VF_ENC_MINMAX || s->enc == VF_ENC_LOG_MINMAX) {
            double lo = INFINITY, hi = -INFINITY;
            if (s->fixed_range) { lo = s->lo; hi = s->hi; }
            else {
                for (size_t k = 0; k < t->n; k++) {
                    double x = vf_enc_fval(&t->recs[k], f);
                    if (x < lo) lo = x;
                    if (x > hi) hi = x;
                }
            }
            if (s->enc == VF_ENC_LOG_MINMAX) { lo = log1p(lo); hi = log1p(hi); }
            if (!(hi > lo)) hi = lo + 1; /* constant field */
            e->lo[f] = lo;
            e->hi[f] = hi;
        } else if (s->enc == VF_ENC_QUANTILE) {
            double *v = malloc(t->n * sizeof *v);
            if (!v) { st = vf_fail(VF_ERR_OOM, "encoder: out of memory"); goto fail; }
            for (size_t k = 0; k < t->n; k++) v[k] = vf_enc_fval(&t->recs[k], f);
            st = vf_enc_fit_valq(e, f, s->bins, v, t->n);
            free(v);
            if (st) goto fail;
        } else if (s->enc == VF_ENC_DICT && !vf_enc_addr_field(f)) {
            uint32_t *count = calloc(65536, sizeof *count);
            if (!count) { st = vf_fail(VF_ERR_OOM, "encoder: out of memory"); goto fail; }
            for (size_t k = 0; k < t->n; k++) count[(uint16_t)vf_enc_fval(&t->recs[k], f)]++;
            st = vf_enc_value_dict(e, f, s->top, count);
            free(count);
            if (st) goto fail;
        } else if (s->enc == VF_ENC_ONEHOT) {
            uint64_t *v = malloc(t->n * sizeof *v);
            if (!v) { st = vf_fail(VF_ERR_OOM, "encoder: out of memory"); goto fail; }
            for (size_t k = 0; k < t->n; k++) v[k] = (uint64_t)(int64_t)vf_enc_fval(&t->recs[k], f);
            qsort(v, t->n, sizeof *v, cmp_u64);
            /* class_decode quota: the records of each value (runs of the sorted values) */
            uint64_t *cnt = NULL;
            if (vf_record_quota(s) && !(cnt = calloc(t->n ? t->n : 1, sizeof *cnt))) {
                free(v);
                st = vf_fail(VF_ERR_OOM, "encoder: out of memory");
                goto fail;
            }
            int n = 0;
            for (size_t k = 0; k < t->n; k++) {
                if (k == 0 || v[k] != v[k - 1]) v[n++] = v[k];
                if (cnt) cnt[n - 1]++;
            }
            e->vocab[f] = v;
            e->vocab_count[f] = cnt;
            e->n_vocab[f] = n;
        }
    }
    e->n_labels = t->n_labels;
    if (t->n_labels) {
        e->labels = calloc((size_t)t->n_labels, sizeof *e->labels);
        if (!e->labels) { st = vf_fail(VF_ERR_OOM, "encoder: out of memory"); goto fail; }
        for (int i = 0; i < t->n_labels; i++)
            if (!(e->labels[i] = strdup(t->labels[i]))) { st = vf_fail(VF_ERR_OOM, "encoder: out of memory"); goto fail; }
    }
    if ((st = vf_enc_w2v(dd, e, t, NULL, 0))) goto fail;
    /* per-chunk time ranges and the flow length cap */
    for (int c = 0; c < e->n_chunks; c++) { e->start_lo[c] = INT64_MAX; e->start_hi[c] = INT64_MIN; }
    vf_flow_index fi;
    if ((st = time_sorted_flows(t, &fi))) goto fail;
    int max_len = 0;
    const bool quant = vf_enc_time_quantile(vf_enc_time_enc(e));
    int64_t *gaps = quant ? malloc((t->n ? t->n : 1) * sizeof *gaps) : NULL; /* < one per record */
    size_t n_gaps = 0, n_starts = 0;
    vf_row_start *starts = vf_enc_start_rank(e) ? malloc((t->n ? t->n : 1) * sizeof *starts) : NULL; /* <= one per record */
    const bool count_lengths = dd->flow_lengths == VF_FLEN_TRAINING, carried_gaps = dd->carried_gaps == VF_CGAP_TRAINING;
    size_t n_segs = 0, n_xgaps = 0;
    vf_chunk_len *segs = count_lengths ? malloc((t->n ? t->n : 1) * sizeof *segs) : NULL; /* <= one per record */
    int64_t *xgaps = carried_gaps ? malloc((t->n ? t->n : 1) * sizeof *xgaps) : NULL; /* < one per record */
    bool count_protocols = false;
    for (int i = 0; i < e->n_fields; i++) count_protocols |= vf_proto_quota(&e->fields[i]);
    if (count_protocols && !(e->pparts = calloc((size_t)e->n_chunks * 256, sizeof *e->pparts))) {
        st = vf_fail(VF_ERR_OOM, "encoder: out of memory");
        vf_flow_index_free(&fi);
        free(gaps), free(starts), free(segs), free(xgaps);
        goto fail;
    }
    if (dd->flow_spans == VF_FSPAN_TRAINING && !(e->fspan = calloc((size_t)e->n_chunks * (size_t)e->n_chunks, sizeof *e->fspan)))
        st = vf_fail(VF_ERR_OOM, "encoder: out of memory");
    for (int i = 0; i < e->n_fields && !st; i++) /* the port quota's table: flows per protocol and class */
        if (vf_port_quota(&e->fields[i])) {
            vf_field pf = e->fields[i].field;
            int64_t **tab = &e->port_flows[pf == VF_F_DSTPORT];
            if (!(*tab = calloc(256 * ((size_t)e->n_vocab[pf] + 1), sizeof **tab)))
                st = vf_fail(VF_ERR_OOM, "encoder: out of memory");
        }
    if (st || (quant && !gaps) || (vf_enc_start_rank(e) && !starts) || (count_lengths && !segs) || (carried_gaps && !xgaps)) {
        free(gaps);
        free(starts);
        free(segs);
        free(xgaps);
        vf_flow_index_free(&fi);
        if (!st) st = vf_fail(VF_ERR_OOM, "encoder: out of memory");
        goto fail;
    }
    for (size_t f = 0; f < fi.n_flows; f++) {
        int prev_c = -1, len = 0, parts = 0;
        int64_t prev_t = 0;
        const vf_record *r0 = &t->recs[fi.order[fi.start[f]]]; /* the flow's first record */
        const uint8_t proto = r0->proto;                        /* a flow's records share it */
        for (size_t j = fi.start[f]; j < fi.start[f + 1]; j++) {
            int64_t ts = t->recs[fi.order[j]].ts_ns;
            int c = vf_encoder_chunk_of(e, ts);
            if (c != prev_c) {
                /* the part before goes on here; it was carried unless it was the first */
                if (segs && len) segs[n_segs++] = (vf_chunk_len){prev_c, vf_flen_kind(parts > 0, true, proto), len};
                if (xgaps && prev_c >= 0) xgaps[n_xgaps++] = ts - prev_t; /* from its part before */
                parts += len > 0;
                if (ts < e->start_lo[c]) e->start_lo[c] = ts;
                if (ts > e->start_hi[c]) e->start_hi[c] = ts;
                if (starts) starts[n_starts++] = (vf_row_start){c, ts};
                len = 0;
            } else {
                if (ts - prev_t > e->iat_hi[c]) e->iat_hi[c] = ts - prev_t;
                if (gaps) gaps[n_gaps++] = ts - prev_t;
            }
            if (++len > max_len) max_len = len;
            prev_c = c;
            prev_t = ts;
        }
        if (segs && len) segs[n_segs++] = (vf_chunk_len){prev_c, vf_flen_kind(parts > 0, false, proto), len};
        const int first_c = vf_encoder_chunk_of(e, r0->ts_ns);
        if (e->pparts) e->pparts[(size_t)first_c * 256 + proto] += parts + 1; /* the chunks the flow is in */
        if (e->fspan) e->fspan[(size_t)first_c * (size_t)e->n_chunks + (size_t)parts]++;
        for (int k = 0; k < 2; k++) { /* the flow's port class, "other" (n) when its port has none */
            vf_field pf = k ? VF_F_DSTPORT : VF_F_SRCPORT;
            if (!e->port_flows[k]) continue;
            uint64_t port = (uint64_t)vf_enc_fval(r0, pf);
            int n = e->n_vocab[pf], i = vocab_lower(e, pf, port);
            e->port_flows[k][(size_t)proto * ((size_t)n + 1) + (size_t)(i < n && e->vocab[pf][i] == port ? i : n)]++;
        }
    }
    if (quant) st = vf_enc_fit_gapq(e, gaps, n_gaps);
    if (starts && !st) st = vf_enc_fit_startq(e, starts, n_starts);
    if (segs && !st) st = vf_enc_fit_flen(e, segs, n_segs);
    if (xgaps && !st) st = vf_enc_fit_xgapq(e, xgaps, n_xgaps);
    free(gaps);
    free(starts);
    free(segs);
    free(xgaps);
    for (int i = 0; i < e->n_fields && !st; i++) {
        const vf_field_spec *s = &e->fields[i];
        vf_addr_table *tb = &e->ips[s->field == VF_F_DSTIP];
        if (!vf_field_spec_needs_addr_table(s)) continue;
        if (!(st = build_table(t, &fi, s->field, tb))) st = build_dict(tb, s->enc == VF_ENC_DICT ? s->top : 0);
    }
    vf_flow_index_free(&fi);
    if (st) goto fail;
    vf_enc_finish(dd, e, max_len);
    return VF_OK;
fail:
    vf_encoder_free(e);
    return st;
}

static float unit(double x, double lo, double hi) {
    return hi > lo ? (float)clampd((x - lo) / (hi - lo), 0, 1) : 0.0f;
}

vf_encoding vf_enc_time_enc(const vf_encoder *e) {
    for (int i = 0; i < e->n_fields; i++)
        if (e->fields[i].field == VF_F_TIME) return e->fields[i].enc;
    return VF_ENC_INTERARRIVAL;
}

bool vf_enc_time_quantile(vf_encoding te) {
    return te == VF_ENC_INTERARRIVAL_QUANTILE || te == VF_ENC_INTERARRIVAL_BINS;
}

static int time_bins(const vf_encoder *e) {
    for (int i = 0; i < e->n_fields; i++)
        if (e->fields[i].field == VF_F_TIME) return e->fields[i].bins;
    return 0;
}

static int cmp_i64_(const void *a, const void *b) { return cmp_i64(a, b); }
static int cmp_size_(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}
static int cmp_f64(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Knot k of K over n sorted values: index round(k (n - 1) / K), in integers
 * so that fit and streaming fit agree to the bit. */
static size_t knot_index(size_t n, int K, int k) {
    return (size_t)(((unsigned __int128)k * (n - 1) + (unsigned)K / 2) / (unsigned)K);
}

void vf_enc_knots_i64(int64_t *v, size_t n, int K, double *knot) {
    qsort(v, n, sizeof *v, cmp_i64_);
    for (int k = 0; k <= K; k++) knot[k] = n ? (double)v[knot_index(n, K, k)] : 0;
}

vf_status vf_enc_fit_gapq(vf_encoder *e, int64_t *gaps, size_t n) {
    int K = time_bins(e);
    if (K < 1) return vf_fail(VF_ERR_ARG, "encoder: the time field's quantile table needs bins >= 1 (%d)", K);
    free(e->gapq);
    e->gapq = malloc((size_t)(K + 1) * sizeof *e->gapq);
    if (!e->gapq) return vf_fail(VF_ERR_OOM, "encoder: out of memory");
    e->n_gapq = K + 1;
    vf_enc_knots_i64(gaps, n, K, e->gapq); /* no gaps (every series one record long): all 0 */
    return VF_OK;
}

/* The knots of a value table: the sample indices (ascending, distinct) of
 * bins + 1 evenly spaced values among n sorted ones (knot_index), plus, in
 * the first and the last of those intervals, knots that halve the distance
 * to the end until they reach the extreme values one by one. A heavy tail
 * has few values far apart there (UGR'16's byte counts: 12 between the last
 * two even knots, 5.9 to 48.9 million), which no interpolation between two
 * knots can guess. idx: room for bins + 1 + 2 * 64. Returns the count. */
static int value_knots(size_t n, int bins, size_t *idx) {
    int m = 0;
    for (int k = 0; k <= bins; k++) idx[m++] = knot_index(n, bins, k);
    for (double d = (double)(n - 1) / bins / 2; d >= 0.5; d /= 2) {
        size_t back = (size_t)llround(d);
        idx[m++] = back;
        idx[m++] = n - 1 - back;
    }
    qsort(idx, (size_t)m, sizeof *idx, cmp_size_);
    int u = 0;
    for (int i = 0; i < m; i++)
        if (!u || idx[i] != idx[u - 1]) idx[u++] = idx[i];
    return u;
}

vf_status vf_enc_fit_valq(vf_encoder *e, vf_field f, int bins, double *v, size_t n) {
    if (bins < 1) return vf_fail(VF_ERR_ARG, "encoder: %s's quantile table needs bins >= 1 (%d)", vf_field_name(f), bins);
    qsort(v, n, sizeof *v, cmp_f64);
    if (n && v[0] < 0)
        return vf_fail(VF_ERR_FORMAT, "encoder: %s has a negative value (%g); encoding quantile takes numbers >= 0",
                       vf_field_name(f), v[0]);
    size_t room = (size_t)(bins + 1 + 2 * VF_VALQ_TAIL_MAX); /* value_knots' most */
    size_t *idx = malloc(room * sizeof *idx);
    free(e->valq[f]);
    free(e->valq_p[f]);
    e->valq[f] = malloc(room * sizeof *e->valq[f]);
    e->valq_p[f] = malloc(room * sizeof *e->valq_p[f]);
    if (!idx || !e->valq[f] || !e->valq_p[f]) { free(idx); return vf_fail(VF_ERR_OOM, "encoder: out of memory"); }
    if (!n) { /* no values: one knot at 0 */
        e->n_valq[f] = 1;
        e->valq[f][0] = 0;
        e->valq_p[f][0] = 0.5;
    } else {
        e->n_valq[f] = value_knots(n, bins, idx);
        for (int k = 0; k < e->n_valq[f]; k++) {
            e->valq[f][k] = v[idx[k]];
            e->valq_p[f][k] = ((double)idx[k] + 0.5) / (double)n; /* rank fraction of the sample (Hyndman-Fan 5) */
        }
    }
    free(idx);
    return VF_OK;
}

bool vf_enc_start_rank(const vf_encoder *e) {
    for (int i = 0; i < e->n_fields; i++)
        if (e->fields[i].field == VF_F_TIME) return e->fields[i].start_decode == VF_QDEC_RANK;
    return false;
}

static int cmp_row_start(const void *a, const void *b) {
    const vf_row_start *x = a, *y = b;
    if (x->c != y->c) return x->c < y->c ? -1 : 1;
    return x->ts < y->ts ? -1 : x->ts > y->ts;
}

vf_status vf_enc_fit_startq(vf_encoder *e, vf_row_start *v, size_t n) {
    const int K = VF_START_BINS;
    free(e->startq);
    e->startq = calloc((size_t)e->n_chunks * (K + 1), sizeof *e->startq);
    if (!e->startq) return vf_fail(VF_ERR_OOM, "encoder: out of memory");
    e->n_startq = K + 1;
    qsort(v, n, sizeof *v, cmp_row_start);
    for (size_t a = 0, b; a < n; a = b) { /* chunk v[a].c's rows are v[a..b) */
        for (b = a; b < n && v[b].c == v[a].c; b++) {}
        int c = v[a].c;
        double span = (double)(e->start_hi[c] - e->start_lo[c]);
        for (int k = 0; k <= K; k++) {
            double x = (double)(v[a + knot_index(b - a, K, k)].ts - e->start_lo[c]);
            e->startq[(size_t)c * (K + 1) + (size_t)k] = span > 0 ? clampd(x / span, 0, 1) : 0;
        }
    }
    return VF_OK;
}

/* A quantile table: knots v[0..N), non-decreasing and >= 0, at positions
 * pos(k) in [0, K], linear between knots in log1p(x * to_unit) (gaps: ns to
 * us; values: their own unit). p == NULL: N = K + 1 knots at 0, 1, ..., K
 * (the gap and start tables, and value tables of encoder files before
 * version 11); otherwise K = 1 and knot k is at p[k], the rank fraction of
 * the training value it is (value tables, value_knots). s / K is a
 * value's place among the training values either way. */
typedef struct qtable { const double *v, *p; int N; double K, to_unit, from_unit; } qtable;
static qtable gap_table(const vf_encoder *e) { return (qtable){e->gapq, NULL, e->n_gapq, e->n_gapq - 1, 1e-3, 1e3}; }
static qtable val_table(const vf_encoder *e, vf_field f) {
    if (!e->valq_p[f]) return (qtable){e->valq[f], NULL, e->n_valq[f], e->n_valq[f] - 1, 1, 1};
    return (qtable){e->valq[f], e->valq_p[f], e->n_valq[f], 1, 1, 1};
}
static qtable start_table(const vf_encoder *e, int c) {
    return (qtable){e->startq + (size_t)c * (size_t)e->n_startq, NULL, e->n_startq, e->n_startq - 1, 1, 1};
}
static double q_log(qtable q, double x) { return log1p(x * q.to_unit); }
static double q_knot(qtable q, int k) { return q.p ? q.p[k] : k; }

/* The table's position s in [pos(0), pos(N - 1)] of x: pos(k) at knot k,
 * the middle of the knots' positions when several knots hold the same
 * value (a point mass, e.g. a 0 gap or a 40-byte packet), and between
 * knots linear in q_log, so that s / K is x's rank among the training
 * values up to the interpolation. Monotone; clamped to the table. */
static double q_pos(qtable q, double x) {
    const double *v = q.v;
    int last = q.N - 1, lo = 0, hi = q.N;
    while (lo < hi) { int m = (lo + hi) / 2; if (v[m] < x) lo = m + 1; else hi = m; }
    int a = lo; /* first knot >= x */
    if (a > last) return q_knot(q, last);
    if (v[a] == x) {
        int b = a, h = q.N; /* last knot == x */
        while (b + 1 < h) { int m = (b + h) / 2; if (v[m] == x) b = m; else h = m; }
        return 0.5 * (q_knot(q, a) + q_knot(q, b));
    }
    if (a == 0) return q_knot(q, 0);
    double f = (q_log(q, x) - q_log(q, v[a - 1])) / (q_log(q, v[a]) - q_log(q, v[a - 1]));
    return q_knot(q, a - 1) + f * (q_knot(q, a) - q_knot(q, a - 1));
}

/* Inverse of q_pos: a position within float resolution (K 2^-22) of a
 * knot is the knot (exact on the knots), between knots log-linear, inside
 * a point mass its value. */
static double q_value(qtable q, double s) {
    const double *v = q.v;
    int last = q.N - 1;
    if (last < 1) return v[0];
    s = clampd(s, q_knot(q, 0), q_knot(q, last));
    int j; /* the last knot at or below s, < last */
    if (!q.p) {
        j = (int)floor(s);
    } else {
        int lo = 0, hi = q.N; /* first knot above s */
        while (lo < hi) { int m = (lo + hi) / 2; if (q.p[m] <= s) lo = m + 1; else hi = m; }
        j = lo - 1;
    }
    if (j < 0) j = 0;
    if (j >= last) j = last - 1;
    double a = q_knot(q, j), b = q_knot(q, j + 1), tol = q.K * 0x1p-22;
    if (s - a <= tol && s - a <= b - s) return v[j];
    if (b - s <= tol) return v[j + 1];
    if (v[j] == v[j + 1]) return v[j];
    double L = q_log(q, v[j]) + (s - a) / (b - a) * (q_log(q, v[j + 1]) - q_log(q, v[j]));
    return clampd(expm1(L) * q.from_unit, v[j], v[j + 1]);
}

static double gapq_pos(const vf_encoder *e, int64_t x) { return q_pos(gap_table(e), (double)x); }
static int64_t gapq_gap(const vf_encoder *e, double s) { return (int64_t)llround(q_value(gap_table(e), s)); }

/* Within-flow gap (ns) of chunk c at dst: gap / iat_hi (interarrival),
 * log1p(gap_us) / log1p(iat_hi_us) (interarrival_log; log1p(0) = 0 is the
 * minimum, so this is min-max of log1p(gap_us) over [0, chunk's largest]),
 * its quantile position / bins (interarrival_quantile), or the one-hot of
 * its bin floor(position) and the position's fraction (interarrival_bins;
 * the largest gap is the top of the last bin). */
void vf_enc_gap(const vf_encoder *e, vf_encoding te, int c, int64_t gap_ns, float *dst) {
    if (te == VF_ENC_INTERARRIVAL_QUANTILE) {
        dst[0] = (float)(gapq_pos(e, gap_ns) / (e->n_gapq - 1));
    } else if (te == VF_ENC_INTERARRIVAL_BINS) {
        int K = e->n_gapq - 1;
        double s = gapq_pos(e, gap_ns);
        int j = (int)floor(s);
        if (j >= K) j = K - 1;
        memset(dst, 0, (size_t)K * sizeof *dst);
        dst[j] = 1;
        dst[K] = (float)(s - j);
    } else if (te == VF_ENC_INTERARRIVAL_LOG) {
        dst[0] = unit(log1p((double)gap_ns * 1e-3), 0, log1p((double)e->iat_hi[c] * 1e-3));
    } else {
        dst[0] = unit((double)gap_ns, 0, (double)e->iat_hi[c]);
    }
}

/* Inverse of vf_enc_gap (expm1 for interarrival_log, the quantile table's
 * for _quantile and _bins: the bin by argmax), rounded to ns. */
/* The quantile table position [0, K] that generated outputs at src stand for. */
static double gen_pos(const vf_encoder *e, vf_encoding te, const float *src) {
    int K = e->n_gapq - 1, best = 0;
    if (te == VF_ENC_INTERARRIVAL_QUANTILE) return clampd(src[0], 0, 1) * K;
    for (int k = 1; k < K; k++)
        if (src[k] > src[best]) best = k;
    return best + clampd(src[K], 0, 1);
}

int64_t vf_enc_ungap(const vf_encoder *e, vf_encoding te, int c, const float *src) {
    if (vf_enc_time_quantile(te)) return gapq_gap(e, gen_pos(e, te, src));
    double x = clampd(src[0], 0, 1);
    if (te != VF_ENC_INTERARRIVAL_LOG) return (int64_t)llround(x * (double)e->iat_hi[c]);
    double g = expm1(x * log1p((double)e->iat_hi[c] * 1e-3)) * 1e3;
    return (int64_t)llround(clampd(g, 0, (double)e->iat_hi[c]));
}

/* The table position [0, K] that a field's generated outputs at src stand
 * for: the time field's gap (interarrival_quantile or _bins), or a
 * quantile-encoded value. */
static double field_gen_pos(const vf_encoder *e, const vf_field_spec *s, const float *src) {
    if (s->field == VF_F_TIME) return gen_pos(e, s->enc, src);
    return clampd(src[0], 0, 1) * val_table(e, s->field).K;
}

/* decode = "rank": field s's numbers in chunk E's generated steps (every
 * row's steps up to its first flag < 0.5: the ones vf_decode reads; for the
 * time field's gaps, the steps after each row's first) by rank. Their
 * positions are sorted (ties by step order) and the r-th of n is decoded at
 * rank fraction (r + vf_enc_chunk_phase) / n of the table, so the n numbers are
 * the training values' quantiles whatever the spread of the model's
 * outputs (a sigmoid that never nears 0 or 1 loses both tails otherwise),
 * and their order is the model's. *out: [n_flows * max_len] numbers (gaps
 * in ns). */
typedef struct gen_pos_at { double s; size_t i; } gen_pos_at;
static int cmp_gen_pos(const void *a, const void *b) {
    const gen_pos_at *x = a, *y = b;
    if (x->s != y->s) return x->s < y->s ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}
/* Sorts the n positions v and writes the r-th's value, the table q at
 * rank fraction (r + phase) / n, to x[its index]. */
static void values_by_rank(gen_pos_at *v, size_t n, qtable q, double phase, double *x) {
    qsort(v, n, sizeof *v, cmp_gen_pos);
    for (size_t r = 0; r < n; r++) x[v[r].i] = q_value(q, ((double)r + phase) / (double)n * q.K);
}
/* The phase of chunk c's ranks in a table of every chunk's values (the gap
 * and value tables): (c + 1/2) / n_chunks, so that the chunks' ranks
 * interleave and together take the table at as many distinct rank
 * fractions as they have numbers. With 1/2 for every chunk, each of
 * UGR'16's ten chunks (3,500-6,700 records) took a value near the 5th to
 * 8th largest for its largest number and none took the four largest: its
 * byte counts scored 1.19x the floor, 1.01x interleaved. */
double vf_enc_chunk_phase(const vf_encoder *e, int c) { return (c + 0.5) / (e->n_chunks > 0 ? e->n_chunks : 1); }
static vf_status rank_decode(const vf_encoder *e, const vf_field_spec *s, const vf_segment *g, const vf_encoded *E,
                             double **out) {
    size_t cells = (size_t)E->n_flows * (size_t)E->max_len, n = 0;
    size_t first = s->field == VF_F_TIME; /* a row's first record has no gap */
    qtable q = s->field == VF_F_TIME ? gap_table(e) : val_table(e, s->field);
    gen_pos_at *v = malloc((cells ? cells : 1) * sizeof *v);
    double *x = calloc(cells ? cells : 1, sizeof *x);
    if (!v || !x) { free(v); free(x); return vf_fail(VF_ERR_OOM, "decode: out of memory"); }
    for (size_t row = 0; row < (size_t)E->n_flows; row++)
        for (size_t step = first, steps = (size_t)vf_encoded_steps(E, (int)row); step < steps; step++) {
            size_t i = row * (size_t)E->max_len + step;
            v[n++] = (gen_pos_at){field_gen_pos(e, s, E->feat + i * (size_t)E->feat_dim + (size_t)g->offset), i};
        }
    values_by_rank(v, n, q, vf_enc_chunk_phase(e, E->chunk), x);
    free(v);
    *out = x;
    return VF_OK;
}

/* start_decode = "rank": chunk E's rows' flow starts (attribute column
 * col) by rank, as rank_decode's numbers, onto the chunk's training start
 * quantiles. *out: [n_flows] fractions of [start_lo, start_hi]. */
static vf_status rank_starts(const vf_encoder *e, const vf_encoded *E, int col, double **out) {
    size_t n = (size_t)E->n_flows;
    gen_pos_at *v = malloc((n ? n : 1) * sizeof *v);
    double *x = malloc((n ? n : 1) * sizeof *x);
    if (!v || !x) { free(v); free(x); return vf_fail(VF_ERR_OOM, "decode: out of memory"); }
    for (size_t row = 0; row < n; row++)
        v[row] = (gen_pos_at){clampd(E->attr[row * (size_t)E->attr_dim + (size_t)col], 0, 1), row};
    values_by_rank(v, n, start_table(e, E->chunk), 0.5, x); /* the chunk's own table */
    free(v);
    *out = x;
    return VF_OK;
}

/* writes one field's encoding of value/record at dst */
void vf_enc_field(const vf_encoder *e, const vf_field_spec *s, const vf_record *r, float *dst) {
    vf_field f = s->field;
    switch (s->enc) {
    case VF_ENC_DICT: {
        /* class of the value (or "other": unseen, or not among the top), then its bits */
        int n = dict_classes(e, f), k = n;
        if (vf_enc_addr_field(f)) {
            const vf_addr_table *tb = ip_table(e, f);
            int i = table_find(tb, f == VF_F_SRCIP ? &r->src : &r->dst);
            if (i >= 0 && tb->class_of[i] >= 0) k = tb->class_of[i];
        } else {
            uint64_t x = (uint64_t)vf_enc_fval(r, f);
            int i = vocab_lower(e, f, x);
            if (i < n && e->vocab[f][i] == x) k = i;
        }
        memset(dst, 0, (size_t)(n + 1) * sizeof(float));
        dst[k] = 1;
        dst += n + 1;
    }
    /* fall through */
    case VF_ENC_BITS: {
        if (!vf_enc_addr_field(f)) { /* a port or the protocol, most significant bit first */
            int nb = bits_of(e, f);
            uint32_t v = (uint32_t)vf_enc_fval(r, f);
            for (int b = 0; b < nb; b++) {
                int bit = (int)((v >> (nb - 1 - b)) & 1u);
                dst[2 * b] = (float)(1 - bit);
                dst[2 * b + 1] = (float)bit;
            }
            break;
        }
        const vf_addr *a = f == VF_F_SRCIP ? &r->src : &r->dst;
        int first = e->ip_bits == 32 ? 96 : 0;
        for (int b = 0; b < e->ip_bits; b++) {
            int bit = (a->b[(first + b) / 8] >> (7 - (first + b) % 8)) & 1;
            dst[2 * b] = (float)(1 - bit);
            dst[2 * b + 1] = (float)bit;
        }
        break;
    }
    case VF_ENC_WORD2VEC: {
        const vf_w2v_table *tb = w2v_of(e, f);
        const float *v = vf_w2v_vector(tb, (uint32_t)vf_enc_fval(r, f));
        memcpy(dst, v, (size_t)tb->dim * sizeof(float));
        break;
    }
    case VF_ENC_ONEHOT: {
        int n = e->n_vocab[f];
        uint64_t x = (uint64_t)(int64_t)vf_enc_fval(r, f);
        memset(dst, 0, (size_t)n * sizeof(float));
        int i = vocab_lower(e, f, x); /* an unseen value: the next larger one (the largest past the end) */
        if (n) dst[i < n ? i : n - 1] = 1;
        break;
    }
    case VF_ENC_LOG_MINMAX: dst[0] = unit(log1p(vf_enc_fval(r, f)), e->lo[f], e->hi[f]); break;
    case VF_ENC_MINMAX: dst[0] = unit(vf_enc_fval(r, f), e->lo[f], e->hi[f]); break;
    case VF_ENC_QUANTILE: {
        qtable q = val_table(e, f);
        dst[0] = (float)(q_pos(q, vf_enc_fval(r, f)) / q.K);
        break;
    }
    default: break;
    }
}

static void dec_field(const vf_encoder *e, const vf_field_spec *s, const float *src, vf_record *r) {
    vf_field f = s->field;
    switch (s->enc) {
    case VF_ENC_DICT:
    case VF_ENC_BITS: {
        if (!vf_enc_addr_field(f) && s->enc == VF_ENC_DICT) { /* a port or the protocol: its class, else its bits */
            int n = dict_classes(e, f), best = 0;
            for (int k = 1; k <= n; k++)
                if (src[k] > src[best]) best = k;
            if (best < n) { set_fval(r, f, (double)e->vocab[f][best]); break; }
            src += n + 1;
        }
        if (!vf_enc_addr_field(f)) { /* a port or the protocol */
            int nb = bits_of(e, f);
            uint32_t v = 0, mask = (uint32_t)((1ull << nb) - 1);
            for (int b = 0; b < nb; b++) v = v << 1 | (src[2 * b + 1] > src[2 * b]);
            /* the port quota's "other" is a port without a class: bits that spell one move up to the next */
            for (uint32_t k = 0; s->enc == VF_ENC_DICT && s->class_decode == VF_CDEC_QUOTA && k <= mask; k++) {
                int i = vocab_lower(e, f, v);
                if (i >= e->n_vocab[f] || e->vocab[f][i] != v) break;
                v = (v + 1) & mask;
            }
            set_fval(r, f, (double)v);
            break;
        }
        const vf_addr_table *tb = ip_table(e, f);
        vf_addr a;
        bool dict = s->enc == VF_ENC_DICT;
        const float *seg = src; /* the field's outputs: tree_fresh hashes them */
        int i = -1;
        if (dict) {
            int best = 0;
            for (int k = 1; k <= tb->n_dict; k++)
                if (src[k] > src[best]) best = k;
            src += tb->n_dict + 1;
            if (best < tb->n_dict) {
                i = tb->dict[best];
                a = tb->addr[i];
                /* tree_fresh: a class whose address was in one training flow stands for new hosts */
                if (s->decode == VF_IPDEC_TREE_FRESH && tb->flows && tb->flows[i] == 1)
                    a = fresh_address(e, tb, a, vf_fnv1a64(seg, (size_t)field_width(e, s) * sizeof *seg));
                if (f == VF_F_SRCIP) r->src = a; else r->dst = a;
                break;
            }
        }
        /* the tree finds the likeliest training address ("other": one without
         * a class); bit by bit when there is none, for decode = bits, and for
         * tree_new's and tree_fresh's share p_new of new addresses (the row's
         * own draw: a hash of its bit probabilities, so decoding stays a
         * function of them) */
        bool tree = s->decode == VF_IPDEC_TREE;
        if (s->decode == VF_IPDEC_TREE_NEW || s->decode == VF_IPDEC_TREE_FRESH) {
            uint64_t h = vf_fnv1a64(src, (size_t)(2 * e->ip_bits) * sizeof *src);
            tree = (double)(h >> 11) * 0x1p-53 >= tb->p_new;
        }
        if (tree) i = tree_decode(e, tb, src, dict);
        if (i >= 0) {
            a = tb->addr[i];
        } else {
            memset(&a, 0, sizeof a);
            int first = e->ip_bits == 32 ? 96 : 0;
            if (first) a.b[10] = a.b[11] = 0xff;
            for (int b = 0; b < e->ip_bits; b++)
                if (src[2 * b + 1] > src[2 * b]) a.b[(first + b) / 8] |= (uint8_t)(1 << (7 - (first + b) % 8));
        }
        if (f == VF_F_SRCIP) r->src = a; else r->dst = a;
        break;
    }
    case VF_ENC_WORD2VEC: set_fval(r, f, vf_w2v_nearest(w2v_of(e, f), src)); break;
    case VF_ENC_ONEHOT: {
        int n = e->n_vocab[f], best = 0;
        for (int i = 1; i < n; i++)
            if (src[i] > src[best]) best = i;
        if (n) set_fval(r, f, (double)e->vocab[f][best]);
        break;
    }
    case VF_ENC_LOG_MINMAX: set_fval(r, f, expm1(e->lo[f] + clampd(src[0], 0, 1) * (e->hi[f] - e->lo[f]))); break;
    case VF_ENC_MINMAX: set_fval(r, f, e->lo[f] + clampd(src[0], 0, 1) * (e->hi[f] - e->lo[f])); break;
    case VF_ENC_QUANTILE: set_fval(r, f, q_value(val_table(e, f), field_gen_pos(e, s, src))); break;
    default: break;
    }
}

/* A decoded record's label: the encoder's label v as an index into the
 * output trace's own label names (added there if new); -1 for a value past
 * the encoder's labels (and when adding fails: out of memory). */
static int output_label(const vf_encoder *e, vf_trace *out, uint64_t v) {
    return v < (uint64_t)e->n_labels ? vf_trace_label(out, e->labels[v]) : -1;
}

/* ------------------------------------------------------- class quotas */

/* A candidate (row, class) of vf_quota_classes: the model's probability of it. */
typedef struct class_pick { float p; int row, k; } class_pick;

static int pick_cmp(const void *a, const void *b) {
    const class_pick *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1; /* likeliest first */
    if (x->row != y->row) return x->row < y->row ? -1 : 1;
    return (x->k > y->k) - (x->k < y->k);
}

/* Candidates kept per row: its likeliest classes (the rest are searched only
 * for the rows these leave without a class). */
#define QUOTA_CANDIDATES 8

/* A remainder of share_quotas: its class and fraction. */
typedef struct class_rem { double rem; int k; } class_rem;

static int rem_cmp(const void *a, const void *b) {
    const class_rem *x = a, *y = b;
    if (x->rem != y->rem) return x->rem > y->rem ? -1 : 1; /* largest first */
    return (x->k > y->k) - (x->k < y->k);
}

/* quota[k] for k < K: M rows shared in proportion to w[k] (sum W > 0), by
 * largest remainder (ties to the lower k), so they sum to M. */
static vf_status share_quotas(const double *w, int K, double W, int64_t M, int64_t *quota) {
    class_rem *r = malloc((size_t)K * sizeof *r);
    if (!r) return vf_fail(VF_ERR_OOM, "decode: out of memory");
    int64_t given = 0;
    for (int k = 0; k < K; k++) {
        double x = (double)M * w[k] / W;
        quota[k] = (int64_t)floor(x);
        given += quota[k];
        r[k] = (class_rem){x - (double)quota[k], k};
    }
    qsort(r, (size_t)K, sizeof *r, rem_cmp);
    for (int i = 0; given < M; i = (i + 1) % K, given++) quota[r[i].k]++; /* M - given < K */
    free(r);
    return VF_OK;
}

bool vf_row_starts_flow(const float *a, int tags, int c) {
    return a[tags + 1] > a[tags] && a[tags + 3 + 2 * c] > a[tags + 2 + 2 * c];
}

/* The quota assignment: M rows, each with K class outputs at row[r][0..K)
 * and a weight (size[r], or 1 each when size is NULL), get classes whose
 * rows weigh in proportion to w[k] (sum W; all to the last class when W is
 * 0): the likeliest (row, class) offers first (each row offers its
 * QUOTA_CANDIDATES likeliest) while the class has room for at least half
 * the row, then the rows left to their likeliest class with such room, or
 * the one with the most room: class_of[M]. Unit weights get whole quotas
 * (largest remainder), so a class has room for a row or none. */
static vf_status assign_quotas(const float *const *row, const double *size, int64_t M, int K, const double *w, double W,
                               int *class_of) {
    int C = K < QUOTA_CANDIDATES ? K : QUOTA_CANDIDATES;
    int64_t *quota = malloc((size_t)K * sizeof *quota);
    double *room = malloc((size_t)K * sizeof *room);
    class_pick *pick = malloc((size_t)(M ? M : 1) * (size_t)C * sizeof *pick);
    if (!quota || !room || !pick) {
        free(quota), free(room), free(pick);
        return vf_fail(VF_ERR_OOM, "decode: out of memory (%lld rows)", (long long)M);
    }
    int64_t n_pick = 0;
    double S = 0; /* the rows' weight */
    for (int64_t m = 0; m < M; m++) {
        const float *p = row[m];
        /* the row's C likeliest classes, by insertion into a short sorted list */
        class_pick top[QUOTA_CANDIDATES];
        int n_top = 0;
        for (int k = 0; k < K; k++) {
            class_pick x = {p[k] == p[k] ? p[k] : -INFINITY, (int)m, k}; /* NaN: least likely */
            if (n_top == C && pick_cmp(&x, &top[C - 1]) >= 0) continue;
            int j = n_top < C ? n_top++ : C - 1;
            while (j > 0 && pick_cmp(&x, &top[j - 1]) < 0) { top[j] = top[j - 1]; j--; }
            top[j] = x;
        }
        memcpy(pick + n_pick, top, (size_t)n_top * sizeof *top);
        n_pick += n_top;
        class_of[m] = -1;
        S += size ? size[m] : 1;
    }
    vf_status st = VF_OK;
    if (W > 0 && !size) st = share_quotas(w, K, W, M, quota);
    for (int k = 0; k < K; k++)
        room[k] = W <= 0 ? (k == K - 1 ? S : 0) : size ? S * w[k] / W : (double)quota[k];
    if (st) n_pick = M = 0;
    qsort(pick, (size_t)n_pick, sizeof *pick, pick_cmp);
    for (int64_t i = 0; i < n_pick; i++) {
        int r = pick[i].row, k = pick[i].k;
        double need = size ? size[r] : 1;
        if (class_of[r] < 0 && room[k] >= need / 2) {
            class_of[r] = k;
            room[k] -= need;
        }
    }
    for (int64_t i = 0; i < n_pick; i++) { /* the rows left, in the order of their likeliest offers */
        int r = pick[i].row;
        if (class_of[r] >= 0) continue;
        double need = size ? size[r] : 1;
        int best = -1, most = 0;
        for (int k = 0; k < K; k++) {
            if (room[k] >= need / 2 && (best < 0 || row[r][k] > row[r][best])) best = k;
            if (room[k] > room[most]) most = k;
        }
        class_of[r] = best >= 0 ? best : most;
        room[class_of[r]] -= need;
    }
    free(quota), free(room), free(pick);
    return st;
}

/* One field of vf_quota_classes: seg is its attribute segment. */
static vf_status quota_field(const vf_encoder *e, const vf_field_spec *s, const vf_segment *seg, vf_encoded *gen,
                             int N, int tags) {
    const vf_addr_table *tb = ip_table(e, s->field);
    if (!tb->flows)
        return vf_fail(VF_ERR_FORMAT, "decode: %s: class_decode quota needs the training flows per address "
                       "(encoder files before version 5 have none)", vf_field_name(s->field));
    int K = tb->n_dict + 1, A = e->attr_dim;
    /* the training flows of each class; the last, "other", holds the unclassed addresses' */
    double *w = calloc((size_t)K, sizeof *w), W = 0;
    if (!w) return vf_fail(VF_ERR_OOM, "decode: out of memory");
    for (int i = 0; i < tb->n; i++) {
        w[tb->class_of[i] >= 0 ? tb->class_of[i] : K - 1] += tb->flows[i];
        W += tb->flows[i];
    }
    int64_t M = 0;
    for (int c = 0; c < N; c++)
        for (int r = 0; r < gen[c].n_flows; r++) M += vf_row_starts_flow(gen[c].attr + (size_t)r * (size_t)A, tags, c);
    float **row = malloc((size_t)(M ? M : 1) * sizeof *row); /* each kept row's class outputs */
    int *class_of = malloc((size_t)(M ? M : 1) * sizeof *class_of);
    if (!row || !class_of) {
        free(w); free(row); free(class_of);
        return vf_fail(VF_ERR_OOM, "decode: out of memory (%lld flows)", (long long)M);
    }
    int64_t m = 0;
    for (int c = 0; c < N; c++)
        for (int r = 0; r < gen[c].n_flows; r++) {
            float *a = gen[c].attr + (size_t)r * (size_t)A;
            if (vf_row_starts_flow(a, tags, c)) row[m++] = a + seg->offset;
        }
    vf_status st = assign_quotas((const float *const *)row, NULL, M, K, w, W, class_of);
    for (int64_t r = 0; !st && r < M; r++) /* the outputs become the class's one-hot */
        for (int k = 0; k < K; k++) row[r][k] = k == class_of[r] ? 1.0f : 0.0f;
    free(w);
    free(row);
    free(class_of);
    return st;
}

/* The protocol quota (proto with class_decode quota; seg is its attribute
 * segment): in each chunk c, the rows that start a flow there get
 * protocols so that each protocol's share of their parts (the chunks a row
 * is in: c and the later ones its presence tags name, where the merge
 * copies it) is its share of the parts of the training flows that begin in
 * c (pparts). Parts, not flows: a long-lived flow is a part in every chunk
 * it spans, and flow_lengths gives each part its records. A onehot row
 * offers its class outputs; a word2vec row the cosine of its vector with
 * each protocol's (unit) vector. The chosen protocol's one-hot or vector
 * replaces the outputs, so the decode, the merge's copies and
 * flow_lengths' protocol affinity all see it. */
static vf_status quota_protocols(const vf_encoder *e, const vf_field_spec *s, const vf_segment *seg, vf_encoded *gen,
                                 int N, int tags) {
    if (!e->pparts)
        return vf_fail(VF_ERR_FORMAT, "decode: proto: class_decode quota needs the protocols of each chunk's "
                       "training flows (the encoder file has none)");
    const bool w2v = s->enc == VF_ENC_WORD2VEC;
    const int K = w2v ? e->proto.n : e->n_vocab[VF_F_PROTO], dim = w2v ? e->proto.dim : K, A = e->attr_dim;
    if (K < 1 || seg->width != dim) return VF_OK; /* nothing to choose from */
    int64_t most = 1;
    for (int c = 0; c < N; c++) most = gen[c].n_flows > most ? gen[c].n_flows : most;
    double *w = malloc((size_t)K * sizeof *w);
    float **row = malloc((size_t)most * sizeof *row), **out = malloc((size_t)most * sizeof *out);
    float *cos = w2v ? malloc((size_t)most * (size_t)K * sizeof *cos) : NULL;
    int *class_of = malloc((size_t)most * sizeof *class_of);
    double *parts = malloc((size_t)most * sizeof *parts);
    vf_status st = VF_OK;
    if (!w || !row || !out || (w2v && !cos) || !class_of || !parts) st = vf_fail(VF_ERR_OOM, "decode: out of memory");
    for (int c = 0; c < N && !st; c++) {
        double W = 0;
        for (int k = 0; k < K; k++) {
            uint64_t v = w2v ? e->proto.value[k] : e->vocab[VF_F_PROTO][k];
            W += w[k] = v < 256 ? (double)e->pparts[(size_t)c * 256 + v] : 0;
        }
        if (W == 0) continue; /* no training flow begins in this chunk: the model's protocols stay */
        int64_t M = 0;
        for (int r = 0; r < gen[c].n_flows; r++) {
            float *a = gen[c].attr + (size_t)r * (size_t)A;
            if (!vf_row_starts_flow(a, tags, c)) continue;
            parts[M] = 1;
            for (int j = c + 1; j < N; j++) parts[M] += a[tags + 3 + 2 * j] > a[tags + 2 + 2 * j];
            out[M] = a + seg->offset;
            row[M] = out[M];
            if (w2v) { /* the cosine with each protocol's unit vector */
                float *q = cos + (size_t)M * (size_t)K;
                double norm = 0;
                for (int d = 0; d < dim; d++) norm += (double)out[M][d] * out[M][d];
                norm = norm > 0 ? sqrt(norm) : 1;
                for (int k = 0; k < K; k++) {
                    double dot = 0;
                    for (int d = 0; d < dim; d++) dot += (double)out[M][d] * e->proto.vec[(size_t)k * (size_t)dim + d];
                    q[k] = (float)(dot / norm);
                }
                row[M] = q;
            }
            M++;
        }
        st = assign_quotas((const float *const *)row, parts, M, K, w, W, class_of);
        for (int64_t m = 0; !st && m < M; m++)
            for (int d = 0; d < dim; d++)
                out[m][d] = w2v ? e->proto.vec[(size_t)class_of[m] * (size_t)dim + d] : d == class_of[m] ? 1.0f : 0.0f;
    }
    free(w), free(row), free(out), free(cos), free(class_of), free(parts);
    return st;
}

/* The port quota (a dict port with class_decode quota; seg is its class
 * segment, n_vocab + 1 wide: "other" last): the rows that start a flow,
 * grouped by their decoded protocol (after the protocol quota, so its
 * choice), get the port classes of that protocol's training flows in their
 * shares (port_flows), the model's likeliest offers first. So a port goes
 * only with a protocol it was seen with, and a port of one training flow
 * is kept. A protocol without training flows keeps the model's classes;
 * without a proto field all rows share the totals. The rows' class
 * outputs become the chosen class's one-hot ("other": the bits decode). */
static vf_status quota_ports(const vf_encoder *e, const vf_field_spec *s, const vf_segment *seg, vf_encoded *gen,
                             int N, int tags) {
    const int64_t *flows = e->port_flows[s->field == VF_F_DSTPORT];
    if (!flows)
        return vf_fail(VF_ERR_FORMAT, "decode: %s: class_decode quota needs the training flows per protocol and "
                       "port class (the encoder file has none)", vf_field_name(s->field));
    const int K = e->n_vocab[s->field] + 1, A = e->attr_dim;
    if (seg->width != K) return VF_OK;
    const vf_field_spec *ps = NULL; /* the protocol's field and its first attribute segment */
    for (int i = 0; i < e->n_fields && !ps; i++)
        if (e->fields[i].field == VF_F_PROTO) ps = &e->fields[i];
    const vf_segment *pseg = ps ? vf_enc_first_seg(e->attr_segs, e->n_attr_segs, VF_F_PROTO) : NULL;
    int64_t M = 0;
    for (int c = 0; c < N; c++)
        for (int r = 0; r < gen[c].n_flows; r++) M += vf_row_starts_flow(gen[c].attr + (size_t)r * (size_t)A, tags, c);
    float **row = malloc((size_t)(M ? M : 1) * sizeof *row); /* by protocol, then chunk and row */
    int *proto = malloc((size_t)(M ? M : 1) * sizeof *proto), *class_of = malloc((size_t)(M ? M : 1) * sizeof *class_of);
    int64_t *first = calloc(258, sizeof *first); /* rows of protocol p: row[first[p] .. first[p + 1]) */
    double *w = malloc((size_t)K * sizeof *w);
    if (!row || !proto || !class_of || !first || !w) {
        free(row), free(proto), free(class_of), free(first), free(w);
        return vf_fail(VF_ERR_OOM, "decode: out of memory (%lld flows)", (long long)M);
    }
    int64_t m = 0;
    for (int c = 0; c < N; c++)
        for (int r = 0; r < gen[c].n_flows; r++) {
            const float *a = gen[c].attr + (size_t)r * (size_t)A;
            if (!vf_row_starts_flow(a, tags, c)) continue;
            vf_record rec = {0};
            if (pseg) dec_field(e, ps, a + pseg->offset, &rec);
            proto[m++] = rec.proto;
            first[rec.proto + 2]++;
        }
    for (int p = 0; p < 256; p++) first[p + 2] += first[p + 1]; /* a counting sort by protocol */
    m = 0;
    for (int c = 0; c < N; c++)
        for (int r = 0; r < gen[c].n_flows; r++) {
            float *a = gen[c].attr + (size_t)r * (size_t)A;
            if (vf_row_starts_flow(a, tags, c)) row[first[proto[m++] + 1]++] = a + seg->offset;
        }
    vf_status st = VF_OK;
    for (int p = 0; p < 256 && !st; p++) {
        int64_t n = first[p + 1] - first[p];
        if (!n) continue;
        double W = 0; /* the protocol's training flows per class; without a proto field, every protocol's */
        for (int k = 0; k < K; k++) {
            w[k] = 0;
            for (int q = pseg ? p : 0; q < (pseg ? p + 1 : 256); q++) w[k] += (double)flows[(size_t)q * (size_t)K + (size_t)k];
            W += w[k];
        }
        if (W == 0) continue;
        st = assign_quotas((const float *const *)row + first[p], NULL, n, K, w, W, class_of);
        for (int64_t i = 0; !st && i < n; i++)
            for (int k = 0; k < K; k++) row[first[p] + i][k] = k == class_of[i] ? 1.0f : 0.0f;
    }
    free(row), free(proto), free(class_of), free(first), free(w);
    return st;
}

/* The records vf_truncate_windows keeps (in their chunk's window), *M of
 * them: rec[M] each record, step[M] the feature row of the decoded step it
 * is (vf_decode's order) or, with src, copies (step src[k]). */
static vf_status kept_record_steps(const vf_encoder *e, const vf_encoded *merged, int N, vf_trace *t,
                                   const size_t *from, const int64_t *src, vf_record ***rec, const float ***step,
                                   int64_t *M, int64_t *end) {
    *rec = NULL, *step = NULL, *M = 0;
    size_t n_steps = 0;
    for (int c = 0; c < N; c++) {
        const vf_encoded *E = &merged[c];
        size_t n = 0;
        for (int r = 0; r < E->n_flows; r++) n += (size_t)vf_encoded_steps(E, r);
        if ((!src && n != from[c + 1] - from[c]) || (E->n_flows && E->feat_dim != e->feat_dim))
            return vf_fail(VF_ERR_ARG, "decode: chunk %d: %zu records for %zu steps (feat %d, the encoder %d)", c,
                           from[c + 1] - from[c], n, E->feat_dim, e->feat_dim);
        n_steps += n;
    }
    int64_t kept = 0;
    for (int c = 0; c < N; c++)
        for (size_t k = from[c]; k < from[c + 1]; k++) {
            if (src && (src[k] < 0 || (size_t)src[k] >= n_steps))
                return vf_fail(VF_ERR_ARG, "decode: record %zu copies record %lld of %zu", k, (long long)src[k], n_steps);
            kept += vf_in_window(e->chunk_begin, c, t->recs[k].ts_ns);
        }
    const float **cell = malloc((n_steps ? n_steps : 1) * sizeof *cell); /* every decoded step's feature row */
    *rec = malloc((size_t)(kept ? kept : 1) * sizeof **rec);
    *step = malloc((size_t)(kept ? kept : 1) * sizeof **step);
    if (!cell || !*rec || !*step) {
        free(cell), free(*rec), free(*step);
        *rec = NULL, *step = NULL;
        return vf_fail(VF_ERR_OOM, "decode: out of memory (%zu records)", n_steps);
    }
    size_t i = 0;
    for (int c = 0; c < N; c++) {
        const vf_encoded *E = &merged[c];
        for (int r = 0; r < E->n_flows; r++)
            for (int s = 0, T = vf_encoded_steps(E, r); s < T; s++)
                cell[i++] = E->feat + ((size_t)r * (size_t)E->max_len + (size_t)s) * (size_t)E->feat_dim;
    }
    for (int c = 0; c < N; c++) {
        for (size_t k = from[c]; k < from[c + 1]; k++) {
            if (!vf_in_window(e->chunk_begin, c, t->recs[k].ts_ns)) continue;
            (*rec)[*M] = &t->recs[k];
            (*step)[(*M)++] = cell[src ? (size_t)src[k] : k];
        }
        if (end) end[c] = *M;
    }
    free(cell);
    return VF_OK;
}

vf_status vf_quota_record_classes(const vf_encoder *e, const vf_encoded *merged, int N, vf_trace *t,
                                  const size_t *from, const int64_t *src) {
    if (N != e->n_chunks) return vf_fail(VF_ERR_ARG, "decode: %d chunks, the encoder has %d", N, e->n_chunks);
    bool any = false;
    for (int i = 0; i < e->n_fields; i++) any |= vf_record_quota(&e->fields[i]);
    if (!any) return VF_OK;
    vf_record **rec;
    const float **step;
    int64_t M;
    VF_TRY(kept_record_steps(e, merged, N, t, from, src, &rec, &step, &M, NULL));
    vf_status st = VF_OK;
    for (int i = 0; i < e->n_fields && !st; i++) {
        const vf_field_spec *s = &e->fields[i];
        if (!vf_record_quota(s)) continue;
        vf_field f = s->field;
        int K = e->n_vocab[f];
        if (!e->vocab_count[f]) {
            st = vf_fail(VF_ERR_FORMAT, "decode: %s: class_decode quota needs the training records per value "
                         "(the encoder file has none)", vf_field_name(f));
            break;
        }
        const vf_segment *seg = vf_enc_first_seg(e->feat_segs, e->n_feat_segs, f);
        if (!seg || K < 1) continue;
        double *w = malloc((size_t)K * sizeof *w), W = 0;
        const float **row = malloc((size_t)(M ? M : 1) * sizeof *row); /* each kept record's class outputs */
        int *class_of = malloc((size_t)(M ? M : 1) * sizeof *class_of);
        if (!w || !row || !class_of) st = vf_fail(VF_ERR_OOM, "decode: out of memory (%lld records)", (long long)M);
        for (int k = 0; !st && k < K; k++) W += w[k] = (double)e->vocab_count[f][k];
        for (int64_t m = 0; !st && m < M; m++) row[m] = step[m] + seg->offset;
        if (!st) st = assign_quotas(row, NULL, M, K, w, W, class_of);
        for (int64_t r = 0; !st && r < M; r++) {
            uint64_t v = e->vocab[f][class_of[r]];
            if (f != VF_F_LABEL) {
                set_fval(rec[r], f, (double)v);
            } else { /* as vf_decode writes labels */
                rec[r]->label = output_label(e, t, v);
                if (v < (uint64_t)e->n_labels && rec[r]->label < 0) st = vf_fail(VF_ERR_OOM, "decode: out of memory");
            }
        }
        free(w); free(row); free(class_of);
    }
    free(rec);
    free(step);
    return st;
}

vf_status vf_rank_record_values(const vf_encoder *e, const vf_encoded *merged, int N, vf_trace *t, const size_t *from,
                                const int64_t *src, int64_t *ranked, int *fields) {
    if (ranked) *ranked = 0;
    if (fields) *fields = 0;
    if (!src) return VF_OK;
    if (N != e->n_chunks) return vf_fail(VF_ERR_ARG, "decode: %d chunks, the encoder has %d", N, e->n_chunks);
    bool any = false;
    for (int i = 0; i < e->n_fields; i++)
        any |= e->fields[i].enc == VF_ENC_QUANTILE && e->fields[i].qdecode == VF_QDEC_RANK;
    if (!any) return VF_OK;
    vf_record **rec;
    const float **step;
    int64_t M;
    int64_t *end = malloc((size_t)N * sizeof *end); /* chunk c's kept records: [end[c - 1], end[c]) */
    if (!end) return vf_fail(VF_ERR_OOM, "decode: out of memory");
    vf_status st = kept_record_steps(e, merged, N, t, from, src, &rec, &step, &M, end);
    if (st) { free(end); return st; }
    gen_pos_at *v = malloc((size_t)(M ? M : 1) * sizeof *v);
    double *x = malloc((size_t)(M ? M : 1) * sizeof *x);
    if (!v || !x) st = vf_fail(VF_ERR_OOM, "decode: out of memory (%lld records)", (long long)M);
    for (int i = 0; !st && i < e->n_fields; i++) {
        const vf_field_spec *s = &e->fields[i];
        if (s->enc != VF_ENC_QUANTILE || s->qdecode != VF_QDEC_RANK) continue;
        const vf_segment *g = vf_enc_first_seg(e->feat_segs, e->n_feat_segs, s->field);
        if (!g) continue;
        for (int c = 0; c < N; c++) {
            int64_t lo = c ? end[c - 1] : 0, n = end[c] - lo;
            for (int64_t m = 0; m < n; m++) v[m] = (gen_pos_at){field_gen_pos(e, s, step[lo + m] + g->offset), (size_t)m};
            values_by_rank(v, (size_t)n, val_table(e, s->field), vf_enc_chunk_phase(e, c), x);
            for (int64_t m = 0; m < n; m++) set_fval(rec[lo + m], s->field, x[m]);
        }
        if (ranked) *ranked = M;
        if (fields) (*fields)++;
    }
    free(end), free(v), free(x), free(rec), free(step);
    return st;
}

vf_status vf_quota_classes(const vf_encoder *e, vf_encoded *gen, int N) {
    if (N != e->n_chunks) return vf_fail(VF_ERR_ARG, "decode: %d chunks, the encoder has %d", N, e->n_chunks);
    int tags = e->attr_dim - 2 * (N + 1); /* start flag, then presence per chunk (vf_encode) */
    if (tags < 0) return vf_fail(VF_ERR_ARG, "decode: attribute width %d has no room for %d chunks' flow tags",
                                 e->attr_dim, N);
    for (int c = 0; c < N; c++)
        if (gen[c].n_flows && (gen[c].attr_dim != e->attr_dim || !gen[c].attr))
            return vf_fail(VF_ERR_ARG, "decode: generated chunk %d has attr %d, the encoder %d", c, gen[c].attr_dim,
                           e->attr_dim);
    for (int pass = 0; pass < 2; pass++) /* the ports' after the protocol's: they go by the chosen protocol */
        for (int i = 0; i < e->n_fields; i++) {
            const vf_field_spec *s = &e->fields[i];
            bool addr = s->class_decode == VF_CDEC_QUOTA && s->enc == VF_ENC_DICT && vf_enc_addr_field(s->field);
            if (pass == 0 ? !addr && !vf_proto_quota(s) : !vf_port_quota(s)) continue;
            for (int g = 0; g < e->n_attr_segs; g++)
                if (e->attr_segs[g].field == (int)s->field) { /* the first: dict's classes (the bits follow) */
                    VF_TRY(pass ? quota_ports(e, s, &e->attr_segs[g], gen, N, tags)
                           : addr ? quota_field(e, s, &e->attr_segs[g], gen, N, tags)
                                  : quota_protocols(e, s, &e->attr_segs[g], gen, N, tags));
                    break;
                }
        }
    return VF_OK;
}

int vf_encoded_steps(const vf_encoded *E, int r) {
    int s = 0;
    while (s < E->max_len && E->gen_flag[(size_t)r * (size_t)E->max_len + (size_t)s] >= 0.5f) s++;
    return s;
}

void vf_encoded_free(vf_encoded *ch, int n) {
    if (!ch) return;
    for (int i = 0; i < n; i++) { free(ch[i].attr); free(ch[i].feat); free(ch[i].gen_flag); }
    free(ch);
}

vf_status vf_encode(const vf_encoder *e, const vf_trace *t, vf_encoded **out) {
    *out = NULL;
    const vf_encoding te = vf_enc_time_enc(e);
    vf_flow_index fi;
    vf_status st = time_sorted_flows(t, &fi);
    if (st) return st;
    int N = e->n_chunks;
    vf_encoded *ch = calloc((size_t)N, sizeof *ch);
    /* per flow: bitmask of chunks present (as a byte array [n_flows, N]) and first chunk */
    uint8_t *present = calloc(fi.n_flows * (size_t)N + 1, 1);
    if (!ch || !present) { free(ch); free(present); vf_flow_index_free(&fi); return vf_fail(VF_ERR_OOM, "encode: out of memory"); }
    for (size_t f = 0; f < fi.n_flows; f++)
        for (size_t j = fi.start[f]; j < fi.start[f + 1]; j++) {
            int c = vf_encoder_chunk_of(e, t->recs[fi.order[j]].ts_ns);
            if (!present[f * (size_t)N + (size_t)c]) { present[f * (size_t)N + (size_t)c] = 1; ch[c].n_flows++; }
        }
    for (int c = 0; c < N; c++) {
        vf_encoded *E = &ch[c];
        E->chunk = c;
        E->max_len = e->max_len;
        E->attr_dim = e->attr_dim;
        E->feat_dim = e->feat_dim;
        size_t nf = (size_t)E->n_flows ? (size_t)E->n_flows : 1;
        E->attr = calloc(nf * (size_t)e->attr_dim, sizeof(float));
        E->feat = calloc(nf * (size_t)e->max_len * (size_t)(e->feat_dim ? e->feat_dim : 1), sizeof(float));
        E->gen_flag = calloc(nf * (size_t)e->max_len, sizeof(float));
        if (!E->attr || !E->feat || !E->gen_flag) { st = vf_fail(VF_ERR_OOM, "encode: out of memory"); goto done; }
        E->n_flows = 0; /* refilled below as the row counter */
    }
    for (size_t f = 0; f < fi.n_flows; f++) {
        size_t j = fi.start[f];
        int first_chunk = vf_encoder_chunk_of(e, t->recs[fi.order[j]].ts_ns);
        while (j < fi.start[f + 1]) {
            int c = vf_encoder_chunk_of(e, t->recs[fi.order[j]].ts_ns);
            vf_encoded *E = &ch[c];
            size_t row = (size_t)E->n_flows++;
            float *A = E->attr + row * (size_t)e->attr_dim;
            const vf_record *r0 = &t->recs[fi.order[j]];
            int seg = 0;
            /* attributes */
            for (int i = 0; i < e->n_fields; i++) {
                const vf_field_spec *s = &e->fields[i];
                if (!is_attr_field(s->field)) continue;
                while (seg < e->n_attr_segs && e->attr_segs[seg].field != (int)s->field) seg++;
                if (seg < e->n_attr_segs) vf_enc_field(e, s, r0, A + e->attr_segs[seg].offset);
            }
            int tags = e->attr_dim - 2 * (N + 1); /* flow tags are the last 2(N+1) columns */
            bool has_time = false;
            for (int i = 0; i < e->n_fields; i++) has_time |= e->fields[i].field == VF_F_TIME;
            /* differences first: epoch ns do not fit a double's 53 bits */
            if (has_time)
                A[tags - 1] = unit((double)(r0->ts_ns - e->start_lo[c]), 0, (double)(e->start_hi[c] - e->start_lo[c]));
            A[tags + (first_chunk == c ? 1 : 0)] = 1;
            for (int k = 0; k < N; k++) A[tags + 2 + 2 * k + present[f * (size_t)N + (size_t)k]] = 1;
            /* features, one step per record of this flow in this chunk */
            int step = 0, tseg = -1; /* the time feature: its first segment holds it all */
            for (int s = 0; s < e->n_feat_segs && tseg < 0; s++)
                if (e->feat_segs[s].field == VF_F_TIME) tseg = s;
            int64_t prev = r0->ts_ns;
            for (; j < fi.start[f + 1] && vf_encoder_chunk_of(e, t->recs[fi.order[j]].ts_ns) == c; j++, step++) {
                if (step >= e->max_len) continue; /* cut: counted below */
                const vf_record *r = &t->recs[fi.order[j]];
                float *F = E->feat + (row * (size_t)e->max_len + (size_t)step) * (size_t)e->feat_dim;
                E->gen_flag[row * (size_t)e->max_len + (size_t)step] = 1;
                for (int s = 0; s < e->n_feat_segs; s++) {
                    const vf_segment *g = &e->feat_segs[s];
                    if (g->field == VF_F_TIME) {
                        if (s == tseg) vf_enc_gap(e, te, c, r->ts_ns - prev, F + g->offset);
                        continue;
                    }
                    for (int i = 0; i < e->n_fields; i++)
                        if ((int)e->fields[i].field == g->field) vf_enc_field(e, &e->fields[i], r, F + g->offset);
                }
                prev = r->ts_ns;
            }
            if (step > e->max_len) E->n_truncated++;
        }
    }
done:
    free(present);
    vf_flow_index_free(&fi);
    if (st) { vf_encoded_free(ch, N); return st; }
    *out = ch;
    return VF_OK;
}

vf_status vf_decode(const vf_encoder *e, const vf_encoded *chunks, int n_chunks, vf_trace *out) {
    int N = e->n_chunks;
    const vf_encoding te = vf_enc_time_enc(e);
    int tseg = -1; /* the time feature: its first segment holds it all */
    for (int s = 0; s < e->n_feat_segs && tseg < 0; s++)
        if (e->feat_segs[s].field == VF_F_TIME) tseg = s;
    out->kind = e->kind;
    if (out->n == 0 && out->linktype == 0 && !out->layout.n_cols) out->linktype = -1;
    bool has_time = false;
    for (int i = 0; i < e->n_fields; i++) has_time |= e->fields[i].field == VF_F_TIME;
    int tags = e->attr_dim - 2 * (N + 1);
    for (int ci = 0; ci < n_chunks; ci++) {
        const vf_encoded *E = &chunks[ci];
        int c = E->chunk;
        if (c < 0 || c >= N || E->attr_dim != e->attr_dim || E->feat_dim != e->feat_dim)
            return vf_fail(VF_ERR_ARG, "decode: chunk %d does not match the encoder (attr %d/%d, feat %d/%d)",
                           ci, E->attr_dim, e->attr_dim, E->feat_dim, e->feat_dim);
        /* decode = "rank": [n_fields] this chunk's numbers of each field so decoded, or NULL */
        double *ranked[VF_MAX_FIELDS] = {0};
        vf_status st = VF_OK;
        for (int i = 0; i < e->n_fields && !st; i++) {
            const vf_field_spec *s = &e->fields[i];
            if (s->qdecode != VF_QDEC_RANK || (s->enc != VF_ENC_INTERARRIVAL_QUANTILE && s->enc != VF_ENC_QUANTILE))
                continue;
            for (int g = 0; g < e->n_feat_segs; g++)
                if (e->feat_segs[g].field == (int)s->field) { /* its first segment holds it all */
                    st = rank_decode(e, s, &e->feat_segs[g], E, &ranked[i]);
                    break;
                }
        }
        double *start_frac = NULL; /* [n_flows]: start_decode = "rank" */
        if (!st && has_time && vf_enc_start_rank(e)) st = rank_starts(e, E, tags - 1, &start_frac);
        for (int row = 0; row < E->n_flows && !st; row++) {
            const float *A = E->attr + (size_t)row * (size_t)e->attr_dim;
            vf_record base;
            memset(&base, 0, sizeof base);
            base.label = -1;
            int seg = 0;
            for (int i = 0; i < e->n_fields; i++) {
                const vf_field_spec *s = &e->fields[i];
                if (!is_attr_field(s->field)) continue;
                while (seg < e->n_attr_segs && e->attr_segs[seg].field != (int)s->field) seg++;
                if (seg < e->n_attr_segs) dec_field(e, s, A + e->attr_segs[seg].offset, &base);
            }
            int64_t ts = e->start_lo[c];
            double u = start_frac ? start_frac[row] : clampd(A[tags - 1], 0, 1);
            if (has_time) ts += (int64_t)llround(u * (double)(e->start_hi[c] - e->start_lo[c]));
            base.ip_version = vf_addr_is_v4(&base.src) && vf_addr_is_v4(&base.dst) ? 4 : 6;
            for (int step = 0, steps = vf_encoded_steps(E, row); step < steps && !st; step++) {
                const float *F = E->feat + ((size_t)row * (size_t)E->max_len + (size_t)step) * (size_t)e->feat_dim;
                vf_record r = base;
                size_t cell = (size_t)row * (size_t)E->max_len + (size_t)step;
                for (int s = 0; s < e->n_feat_segs; s++) {
                    const vf_segment *g = &e->feat_segs[s];
                    for (int i = 0; i < e->n_fields; i++) {
                        if ((int)e->fields[i].field != g->field) continue;
                        if (g->field == VF_F_TIME) {
                            if (step > 0 && s == tseg)
                                ts += ranked[i] ? (int64_t)llround(ranked[i][cell]) : vf_enc_ungap(e, te, c, F + g->offset);
                        } else if (ranked[i]) { /* a quantile field: one segment */
                            set_fval(&r, g->field, ranked[i][cell]);
                        } else {
                            dec_field(e, &e->fields[i], F + g->offset, &r);
                        }
                    }
                }
                r.ts_ns = ts;
                if (r.label >= 0) r.label = output_label(e, out, (uint64_t)r.label);
                if (e->kind == VF_TRACE_PACKETS) {
                    r.pkts = 1;
                    r.bytes = r.length;
                } else {
                    r.length = 0;
                }
                st = vf_trace_append(out, &r);
            }
        }
        for (int i = 0; i < e->n_fields; i++) free(ranked[i]);
        free(start_frac);
        if (st) return st;
    }
    return VF_OK;
}

/* ------------------------------------------------------------- save/load */

/* encoder.txt, version 11: the text below, then a line "checksum <hex>" (the
 * FNV-1a 64 of every byte before it, util.h), so a truncated or damaged file
 * is refused naming it. Version 3 added each field's decode and top to its
 * field line and the address tables (`ips N`, then N lines `HEX32 COUNT`,
 * for srcip then dstip; N = 0 when the field needs none) before `end`.
 * Version 4 added each field's bins and gap decode to its field line and the gap quantile
 * table (`gapq N v0 ... v(N-1)`, N = 0 unless the time field is
 * interarrival_quantile or _bins) after the chunk lines. Version 5 added
 * encoding quantile and the value quantile tables (`valq N v0 ... v(N-1)`,
 * a line per field in vf_field order, N = 0 unless the field is encoded
 * quantile) after the gapq line, each field's start decode to its field
 * line, and the flow start tables after the valq lines (`startq N`, then a
 * line of N values per chunk; N = 0 unless the time field has start_decode
 * rank), and each address line its flow count (`HEX32 COUNT FLOWS`; decode
 * tree_fresh). Version 6 added each field's class decode to its field line
 * (argmax 0, quota 1). Version 7 added each field's popularity to its field
 * line (model 0, training 1) and a `vcount N c0 ... c(N-1)` line after each
 * vocab line (N = 0 unless the field is onehot with class decode quota).
 * Version 8 added the flow length histograms before `end` (`flen M`, M = 0
 * or 12 n_chunks, then per chunk and kind of part (vf_flen_kind) a line `K
 * l0 n0 ... l(K-1) n(K-1)`: lengths ascending and their flows;
 * flow_lengths training). Version 9 added the parts of the flows that begin
 * in each chunk by protocol after them (`pparts M`, M = 0 or n_chunks, then
 * per chunk a line `K p0 n0 ... p(K-1) n(K-1)`: protocol numbers ascending
 * and the chunks their flows are in; proto with class_decode quota), and
 * the carried gaps' quantile table after that (`xgapq N v0 ... v(N-1)`, N =
 * 0 or VF_XGAP_BINS + 1, ns; carried_gaps training). Version 10 added the
 * port quota's tables after that, a line for srcport, then one for dstport
 * (`pflows N p0 k0 n0 ... p(N-1) k(N-1) n(N-1)`: N = 0 unless the port is
 * dict with class decode quota; protocol, dict class (n_vocab: "other") and
 * training flows, ascending by protocol, then class), and the flow spans
 * after them (`fspan M`, M = 0 or n_chunks, then per chunk c a line `K s0
 * n0 ... s(K-1) n(K-1)`: chunk counts ascending, 1 to n_chunks - c, and the
 * training flows beginning in c that are in that many; flow_spans training).
 * Version 11 gave each value table's knot its rank fraction (`valq N p0 v0
 * ... p(N-1) v(N-1)`, N = bins + 1 plus the tail knots, value_knots); the
 * value tables of versions 5-10 are bins + 1 knots at ranks k / bins and
 * their tables decode as they did (the chunks' rank decodes interleave
 * whatever the version: vf_enc_chunk_phase). Versions 10, 9, 8, 7, 6, 5, 4 and 3 (3: no gap table, its time encodings need none)
 * still load; versions 2 and 1 (1: no checksum line, written before it was added; its
 * "end" line catches a cut, nothing catches a changed digit) still load:
 * their IP fields decode bit by bit, as they did. */
/* A line of the nonzero counts n[0..len): `K i0 n0 ... i(K-1) n(K-1)`,
 * indices ascending, each written plus base (pparts, fspan). */
static void save_counts(FILE *f, const int64_t *n, int len, int base) {
    int k = 0;
    for (int i = 0; i < len; i++) k += n[i] > 0;
    fprintf(f, "%d", k);
    for (int i = 0; i < len; i++)
        if (n[i]) fprintf(f, " %d %lld", i + base, (long long)n[i]);
    fputc('\n', f);
}

/* Reads a save_counts line into n[0..len) (zeroed): 0, or 1 for a bad
 * count of entries, 2 for a bad entry (an index outside base..base+len-1 or
 * not ascending, a count below 1). */
static int load_counts(FILE *f, int64_t *n, int len, int base) {
    int k, last = base - 1;
    if (fscanf(f, " %d", &k) != 1 || k < 0 || k > len) return 1;
    for (int j = 0; j < k; j++) {
        int i;
        long long v;
        if (fscanf(f, " %d %lld", &i, &v) != 2 || i <= last || i >= base + len || v < 1) return 2;
        n[i - base] = v;
        last = i;
    }
    return 0;
}

vf_status vf_encoder_save(const vf_encoder *e, const char *path) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return vf_fail(VF_ERR_OOM, "%s: out of memory", path);
    fprintf(f, "vkflow-encoder 11\n");
    fprintf(f, "kind %d n_chunks %d chunking %d max_len %d ip_bits %d n_fields %d\n", (int)e->kind, e->n_chunks,
            (int)e->chunking, e->max_len, e->ip_bits, e->n_fields);
    for (int i = 0; i < e->n_fields; i++) {
        const vf_field_spec *s = &e->fields[i];
        fprintf(f, "field %d %d %d %d %.17g %.17g %d %d %d %d %d %d %d\n", (int)s->field, (int)s->enc, s->dim,
                (int)s->fixed_range, s->lo, s->hi, (int)s->decode, s->top, s->bins, (int)s->qdecode, (int)s->start_decode,
                (int)s->class_decode, (int)s->popularity);
    }
    for (int k = 0; k < VF_F_COUNT; k++) fprintf(f, "range %.17g %.17g\n", e->lo[k], e->hi[k]);
    for (int c = 0; c <= e->n_chunks; c++) fprintf(f, "%s%lld", c ? " " : "edges ", (long long)e->chunk_begin[c]);
    fputc('\n', f);
    for (int c = 0; c < e->n_chunks; c++)
        fprintf(f, "chunk %lld %lld %lld\n", (long long)e->start_lo[c], (long long)e->start_hi[c], (long long)e->iat_hi[c]);
    fprintf(f, "gapq %d", e->n_gapq);
    for (int k = 0; k < e->n_gapq; k++) fprintf(f, " %lld", (long long)e->gapq[k]);
    fputc('\n', f);
    for (int k = 0; k < VF_F_COUNT; k++) {
        fprintf(f, "valq %d", e->n_valq[k]);
        for (int i = 0; i < e->n_valq[k]; i++) { /* a table loaded from a version 5-10 file: ranks k / bins */
            double p = e->valq_p[k] ? e->valq_p[k][i] : e->n_valq[k] > 1 ? (double)i / (e->n_valq[k] - 1) : 0.5;
            fprintf(f, " %.17g %.17g", p, e->valq[k][i]);
        }
        fputc('\n', f);
    }
    fprintf(f, "startq %d\n", e->n_startq);
    for (int c = 0; e->n_startq && c < e->n_chunks; c++) {
        for (int k = 0; k < e->n_startq; k++)
            fprintf(f, "%s%.17g", k ? " " : "", e->startq[(size_t)c * (size_t)e->n_startq + (size_t)k]);
        fputc('\n', f);
    }
    for (int k = 0; k < VF_F_COUNT; k++) {
        fprintf(f, "vocab %d", e->n_vocab[k]);
        for (int i = 0; i < e->n_vocab[k]; i++) fprintf(f, " %llu", (unsigned long long)e->vocab[k][i]);
        fputc('\n', f);
        int nc = e->vocab_count[k] ? e->n_vocab[k] : 0;
        fprintf(f, "vcount %d", nc);
        for (int i = 0; i < nc; i++) fprintf(f, " %llu", (unsigned long long)e->vocab_count[k][i]);
        fputc('\n', f);
    }
    fprintf(f, "labels %d\n", e->n_labels);
    for (int i = 0; i < e->n_labels; i++) fprintf(f, "%zu %s\n", strlen(e->labels[i]), e->labels[i]);
    const vf_w2v_table *tb[2] = {&e->port, &e->proto};
    for (int k = 0; k < 2; k++) {
        fprintf(f, "w2v %d %d\n", tb[k]->n, tb[k]->dim);
        for (int i = 0; i < tb[k]->n; i++) {
            fprintf(f, "%u", tb[k]->value[i]);
            for (int d = 0; d < tb[k]->dim; d++) fprintf(f, " %a", (double)tb[k]->vec[(size_t)i * (size_t)tb[k]->dim + d]);
            fputc('\n', f);
        }
    }
    for (int k = 0; k < 2; k++) {
        fprintf(f, "ips %d\n", e->ips[k].n);
        for (int i = 0; i < e->ips[k].n; i++) {
            for (int j = 0; j < 16; j++) fprintf(f, "%02x", e->ips[k].addr[i].b[j]);
            fprintf(f, " %u %u\n", e->ips[k].count[i], e->ips[k].flows[i]);
        }
    }
    fprintf(f, "flen %d\n", e->flen ? e->n_chunks * VF_FLEN_KINDS : 0);
    for (int c = 0; e->flen && c < e->n_chunks * VF_FLEN_KINDS; c++) {
        fprintf(f, "%d", e->flen[c].n);
        for (int k = 0; k < e->flen[c].n; k++) fprintf(f, " %lld %lld", (long long)e->flen[c].len[k], (long long)e->flen[c].count[k]);
        fputc('\n', f);
    }
    fprintf(f, "pparts %d\n", e->pparts ? e->n_chunks : 0);
    for (int c = 0; e->pparts && c < e->n_chunks; c++) save_counts(f, e->pparts + (size_t)c * 256, 256, 0);
    fprintf(f, "xgapq %d", e->n_xgapq);
    for (int k = 0; k < e->n_xgapq; k++) fprintf(f, " %lld", (long long)e->xgapq[k]);
    fputc('\n', f);
    for (int k = 0; k < 2; k++) {
        const int64_t *n = e->port_flows[k];
        size_t K = (size_t)e->n_vocab[k ? VF_F_DSTPORT : VF_F_SRCPORT] + 1, N = 0;
        for (size_t i = 0; n && i < 256 * K; i++) N += n[i] > 0;
        fprintf(f, "pflows %zu", N);
        for (size_t i = 0; n && i < 256 * K; i++)
            if (n[i]) fprintf(f, " %zu %zu %lld", i / K, i % K, (long long)n[i]);
        fputc('\n', f);
    }
    fprintf(f, "fspan %d\n", e->fspan ? e->n_chunks : 0);
    for (int c = 0; e->fspan && c < e->n_chunks; c++)
        save_counts(f, e->fspan + (size_t)c * (size_t)e->n_chunks, e->n_chunks, 1);
    fprintf(f, "end\n");
    bool bad = ferror(f) != 0;
    if (fclose(f) || bad || !text) {
        free(text);
        return vf_fail(VF_ERR_OOM, "%s: out of memory", path);
    }
    vf_status st = vf_write_text_summed(path, text, len);
    free(text);
    return st;
}

#define NEED(cond, what) \
    do { if (!(cond)) { st = vf_fail(VF_ERR_FORMAT, "%s: bad encoder file: %s", path, what); goto fail; } } while (0)

vf_status vf_encoder_load(const char *path, vf_encoder *e) {
    memset(e, 0, sizeof *e);
    size_t n = 0, body = 0;
    char *buf = vf_read_file(path, &n);
    if (!buf) return vf_fail(VF_ERR_IO, "%s: %s", path, strerror(errno));
    int ver = 0;
    if (sscanf(buf, "vkflow-encoder %d", &ver) != 1 || ver < 1 || ver > 11) {
        free(buf);
        return vf_fail(VF_ERR_FORMAT, "%s: not a vkflow encoder file (header 'vkflow-encoder 11' expected)", path);
    }
    if (ver >= 2 && !vf_text_sum_ok(buf, n, &body)) {
        free(buf);
        return vf_fail(VF_ERR_FORMAT, "%s: damaged encoder file (truncated, or its checksum does not match its "
                       "contents); it is fitted from the data when a run starts: start the run again in a new "
                       "folder", path);
    }
    if (ver == 1) body = n;
    FILE *f = fmemopen(buf, body, "r"); /* body > 0: it holds the header */
    if (!f) {
        free(buf);
        return vf_fail(VF_ERR_OOM, "%s: out of memory", path);
    }
    vf_status st = VF_OK;
    int kind, chunking;
    NEED(fscanf(f, "vkflow-encoder %d", &ver) == 1, "header");
    NEED(fscanf(f, " kind %d n_chunks %d chunking %d max_len %d ip_bits %d n_fields %d", &kind, &e->n_chunks,
                &chunking, &e->max_len, &e->ip_bits, &e->n_fields) == 6, "settings line");
    NEED((kind == 0 || kind == 1) && e->n_chunks >= 1 && e->n_chunks <= 1000 && (chunking == 0 || chunking == 1) &&
         e->max_len >= 1 && e->max_len <= 10000000 && (e->ip_bits == 32 || e->ip_bits == 128) &&
         e->n_fields >= 0 && e->n_fields <= VF_MAX_FIELDS, "settings out of range");
    e->kind = (vf_trace_kind)kind;
    e->chunking = (vf_chunking)chunking;
    for (int i = 0; i < e->n_fields; i++) {
        int fld, enc, fixed;
        vf_field_spec *s = &e->fields[i];
        NEED(fscanf(f, " field %d %d %d %d %lg %lg", &fld, &enc, &s->dim, &fixed, &s->lo, &s->hi) == 6, "field line");
        int dec = VF_IPDEC_BITS;
        s->top = 64;
        if (ver >= 3) NEED(fscanf(f, " %d %d", &dec, &s->top) == 2, "field line (decode, top)");
        s->bins = 0;
        int gdec = VF_QDEC_VALUE;
        if (ver >= 4) NEED(fscanf(f, " %d %d", &s->bins, &gdec) == 2, "field line (bins, gap decode)");
        int sdec = VF_QDEC_VALUE;
        if (ver >= 5) NEED(fscanf(f, " %d", &sdec) == 1, "field line (start decode)");
        NEED(sdec == VF_QDEC_VALUE || (sdec == VF_QDEC_RANK && fld == VF_F_TIME), "field start decode");
        s->start_decode = (vf_quantile_decode)sdec;
        int cdec = VF_CDEC_ARGMAX;
        if (ver >= 6) NEED(fscanf(f, " %d", &cdec) == 1, "field line (class decode)");
        NEED(cdec == VF_CDEC_ARGMAX || (cdec == VF_CDEC_QUOTA && vf_class_quota_applies((vf_field)fld, (vf_encoding)enc)),
             "field class decode");
        s->class_decode = (vf_class_decode)cdec;
        int pop = VF_POP_MODEL;
        if (ver >= 7) NEED(fscanf(f, " %d", &pop) == 1, "field line (popularity)");
        NEED(pop == VF_POP_MODEL || (pop == VF_POP_TRAINING && vf_enc_addr_field((vf_field)fld)), "field popularity");
        s->popularity = (vf_popularity)pop;
        NEED(gdec == VF_QDEC_VALUE ||
             (gdec == VF_QDEC_RANK && (enc == VF_ENC_INTERARRIVAL_QUANTILE || enc == VF_ENC_QUANTILE)),
             "field quantile decode");
        s->qdecode = (vf_quantile_decode)gdec;
        int last = ver >= 5   ? VF_ENC_LAST
                   : ver == 4 ? VF_ENC_INTERARRIVAL_BINS
                   : ver == 3 ? VF_ENC_DICT
                              : VF_ENC_INTERARRIVAL_LOG;
        NEED(fld >= 0 && fld < VF_F_COUNT && enc >= 0 && enc <= last && s->dim >= 0 && s->dim <= 256 &&
             dec >= VF_IPDEC_BITS && dec <= (ver >= 5 ? VF_IPDEC_TREE_FRESH : VF_IPDEC_TREE_NEW) && s->top >= 1 && s->top <= 100000 && s->bins >= 0 &&
             s->bins <= 4096, "field out of range");
        bool time_enc = enc == VF_ENC_INTERARRIVAL || enc == VF_ENC_INTERARRIVAL_LOG ||
                        vf_enc_time_quantile((vf_encoding)enc);
        NEED(time_enc == (fld == VF_F_TIME), "field encoding (time)");
        NEED(enc != VF_ENC_QUANTILE || vf_enc_quantile_field((vf_field)fld), "field encoding (quantile)");
        bool quant = vf_enc_time_quantile((vf_encoding)enc) || enc == VF_ENC_QUANTILE;
        NEED(!quant || s->bins >= 2, "field quantile bins");
        /* addresses take bits or dict; ports and the protocol may take them too */
        bool port = fld == VF_F_SRCPORT || fld == VF_F_DSTPORT || fld == VF_F_PROTO;
        NEED(vf_enc_addr_field((vf_field)fld) ? enc == VF_ENC_BITS || enc == VF_ENC_DICT
                                        : (enc != VF_ENC_DICT && enc != VF_ENC_BITS) || port, "field encoding");
        s->decode = (vf_ip_decode)dec;
        s->field = (vf_field)fld;
        s->enc = (vf_encoding)enc;
        s->fixed_range = fixed != 0;
    }
    for (int k = 0; k < VF_F_COUNT; k++) NEED(fscanf(f, " range %lg %lg", &e->lo[k], &e->hi[k]) == 2, "range line");
    if ((st = vf_enc_alloc_chunks(e))) goto fail;
    NEED(fscanf(f, " edges") == 0, "edges");
    for (int c = 0; c <= e->n_chunks; c++) {
        long long v;
        NEED(fscanf(f, " %lld", &v) == 1, "edges line");
        e->chunk_begin[c] = v;
    }
    for (int c = 0; c < e->n_chunks; c++) {
        long long a, b, d;
        NEED(fscanf(f, " chunk %lld %lld %lld", &a, &b, &d) == 3, "chunk line");
        e->start_lo[c] = a; e->start_hi[c] = b; e->iat_hi[c] = d;
    }
    if (ver >= 4) {
        NEED(fscanf(f, " gapq %d", &e->n_gapq) == 1 && e->n_gapq >= 0 && e->n_gapq <= 4097, "gapq line");
        e->gapq = malloc((size_t)(e->n_gapq ? e->n_gapq : 1) * sizeof *e->gapq);
        NEED(e->gapq, "out of memory");
        for (int k = 0; k < e->n_gapq; k++) {
            long long v;
            NEED(fscanf(f, " %lld", &v) == 1 && v >= 0 && (k == 0 || v >= e->gapq[k - 1]), "gapq value (>= 0, non-decreasing)");
            e->gapq[k] = (double)v;
        }
    }
    for (int k = 0; ver >= 5 && k < VF_F_COUNT; k++) {
        NEED(fscanf(f, " valq %d", &e->n_valq[k]) == 1 && e->n_valq[k] >= 0 &&
                 e->n_valq[k] <= VF_QUANTILE_BINS_MAX + 1 + (ver >= 11) * 2 * VF_VALQ_TAIL_MAX, "valq line");
        e->valq[k] = malloc((size_t)(e->n_valq[k] ? e->n_valq[k] : 1) * sizeof *e->valq[k]);
        NEED(e->valq[k], "out of memory");
        if (ver >= 11 && e->n_valq[k]) NEED(e->valq_p[k] = malloc((size_t)e->n_valq[k] * sizeof *e->valq_p[k]), "out of memory");
        for (int i = 0; i < e->n_valq[k]; i++) {
            if (ver >= 11)
                NEED(fscanf(f, " %lg", &e->valq_p[k][i]) == 1 && e->valq_p[k][i] >= 0 && e->valq_p[k][i] <= 1 &&
                     (i == 0 || e->valq_p[k][i] > e->valq_p[k][i - 1]), "valq rank (in [0, 1], increasing)");
            NEED(fscanf(f, " %lg", &e->valq[k][i]) == 1 && e->valq[k][i] >= 0 &&
                 (i == 0 || e->valq[k][i] >= e->valq[k][i - 1]), "valq value (>= 0, non-decreasing)");
        }
    }
    for (int i = 0; i < e->n_fields; i++) {
        int n = e->n_valq[e->fields[i].field];
        if (e->fields[i].enc != VF_ENC_QUANTILE) continue;
        if (ver >= 11) NEED(n >= 1 && n <= e->fields[i].bins + 1 + 2 * VF_VALQ_TAIL_MAX, "a quantile field's table size");
        else NEED(n == e->fields[i].bins + 1, "a quantile field's table does not have bins + 1 values");
    }
    if (ver >= 5) {
        NEED(fscanf(f, " startq %d", &e->n_startq) == 1 && (e->n_startq == 0 || e->n_startq == VF_START_BINS + 1),
             "startq line");
        e->startq = malloc((size_t)e->n_chunks * (size_t)(e->n_startq ? e->n_startq : 1) * sizeof *e->startq);
        NEED(e->startq, "out of memory");
        for (size_t i = 0; i < (size_t)e->n_chunks * (size_t)e->n_startq; i++)
            NEED(fscanf(f, " %lg", &e->startq[i]) == 1 && e->startq[i] >= 0 && e->startq[i] <= 1 &&
                 (i % (size_t)e->n_startq == 0 || e->startq[i] >= e->startq[i - 1]),
                 "startq value (in [0, 1], non-decreasing within a chunk)");
    }
    NEED(!vf_enc_start_rank(e) || e->n_startq == VF_START_BINS + 1, "start_decode rank without a start quantile table");
    {
        vf_encoding te = vf_enc_time_enc(e);
        NEED(!vf_enc_time_quantile(te) || e->n_gapq == time_bins(e) + 1,
             "the time field's gap quantile table does not have bins + 1 values");
    }
    for (int k = 0; k < VF_F_COUNT; k++) {
        NEED(fscanf(f, " vocab %d", &e->n_vocab[k]) == 1 && e->n_vocab[k] >= 0 && e->n_vocab[k] <= 100000000, "vocab line");
        e->vocab[k] = malloc((size_t)(e->n_vocab[k] ? e->n_vocab[k] : 1) * sizeof(uint64_t));
        NEED(e->vocab[k], "out of memory");
        for (int i = 0; i < e->n_vocab[k]; i++) {
            unsigned long long v;
            NEED(fscanf(f, " %llu", &v) == 1, "vocab value");
            e->vocab[k][i] = v;
        }
        int nc = 0;
        if (ver >= 7) NEED(fscanf(f, " vcount %d", &nc) == 1 && (nc == 0 || nc == e->n_vocab[k]), "vcount line");
        if (nc) {
            e->vocab_count[k] = malloc((size_t)nc * sizeof(uint64_t));
            NEED(e->vocab_count[k], "out of memory");
            for (int i = 0; i < nc; i++) {
                unsigned long long v;
                NEED(fscanf(f, " %llu", &v) == 1, "vcount value");
                e->vocab_count[k][i] = v;
            }
        }
    }
    for (int i = 0; i < e->n_fields; i++)
        NEED(!vf_record_quota(&e->fields[i]) || e->vocab_count[e->fields[i].field],
             "a onehot field with class_decode quota has no vcount line");
    NEED(fscanf(f, " labels %d", &e->n_labels) == 1 && e->n_labels >= 0 && e->n_labels < 1000000, "labels line");
    if (e->n_labels) {
        e->labels = calloc((size_t)e->n_labels, sizeof *e->labels);
        NEED(e->labels, "out of memory");
    }
    for (int i = 0; i < e->n_labels; i++) {
        size_t len;
        NEED(fscanf(f, " %zu", &len) == 1 && len < 65536 && fgetc(f) == ' ', "label line");
        e->labels[i] = malloc(len + 1);
        NEED(e->labels[i] && fread(e->labels[i], 1, len, f) == len, "label text");
        e->labels[i][len] = 0;
    }
    vf_w2v_table *tb[2] = {&e->port, &e->proto};
    for (int k = 0; k < 2; k++) {
        NEED(fscanf(f, " w2v %d %d", &tb[k]->n, &tb[k]->dim) == 2 && tb[k]->n >= 0 && tb[k]->n <= 65536 &&
             tb[k]->dim >= 0 && tb[k]->dim <= 256, "w2v line");
        tb[k]->value = malloc((size_t)(tb[k]->n ? tb[k]->n : 1) * sizeof(uint32_t));
        tb[k]->vec = malloc((size_t)(tb[k]->n ? tb[k]->n : 1) * (size_t)(tb[k]->dim ? tb[k]->dim : 1) * sizeof(float));
        NEED(tb[k]->value && tb[k]->vec, "out of memory");
        for (int i = 0; i < tb[k]->n; i++) {
            NEED(fscanf(f, " %u", &tb[k]->value[i]) == 1, "w2v value");
            for (int d = 0; d < tb[k]->dim; d++) {
                double x;
                NEED(fscanf(f, " %la", &x) == 1, "w2v vector");
                tb[k]->vec[(size_t)i * (size_t)tb[k]->dim + d] = (float)x;
            }
        }
    }
    for (int k = 0; ver >= 3 && k < 2; k++) {
        vf_addr_table *ip = &e->ips[k];
        NEED(fscanf(f, " ips %d", &ip->n) == 1 && ip->n >= 0 && ip->n <= 100000000, "ips line");
        ip->addr = malloc((size_t)(ip->n ? ip->n : 1) * sizeof *ip->addr);
        ip->count = malloc((size_t)(ip->n ? ip->n : 1) * sizeof *ip->count);
        if (ver >= 5) ip->flows = malloc((size_t)(ip->n ? ip->n : 1) * sizeof *ip->flows);
        NEED(ip->addr && ip->count && (ver < 5 || ip->flows), "out of memory");
        for (int i = 0; i < ip->n; i++) {
            char hex[33];
            NEED(fscanf(f, " %32[0-9a-f] %u", hex, &ip->count[i]) == 2 && strlen(hex) == 32 && ip->count[i] >= 1,
                 "address line");
            if (ver >= 5)
                NEED(fscanf(f, " %u", &ip->flows[i]) == 1 && ip->flows[i] >= 1 && ip->flows[i] <= ip->count[i],
                     "address line (flows: 1 to the record count)");
            for (int j = 0; j < 16; j++) {
                unsigned v;
                sscanf(hex + 2 * j, "%2x", &v);
                ip->addr[i].b[j] = (uint8_t)v;
            }
            /* the tree decoder relies on the order */
            NEED(i == 0 || memcmp(&ip->addr[i - 1], &ip->addr[i], sizeof(vf_addr)) < 0, "addresses not ascending");
        }
    }
    for (int i = 0; i < e->n_fields; i++) {
        const vf_field_spec *s = &e->fields[i];
        if (!vf_enc_addr_field(s->field)) continue;
        vf_addr_table *ip = &e->ips[s->field == VF_F_DSTIP];
        NEED(!vf_field_spec_needs_addr_table(s) || ip->n > 0, "an IP field decoded by the tree or encoded as dict has no addresses");
        if ((st = build_dict(ip, s->enc == VF_ENC_DICT ? s->top : 0))) goto fail;
    }
    if (ver >= 8) {
        int m;
        NEED(fscanf(f, " flen %d", &m) == 1 && (m == 0 || m == e->n_chunks * VF_FLEN_KINDS),
             "flen line (0 or twelve per chunk)");
        if (m) {
            e->flen = calloc((size_t)m, sizeof *e->flen);
            NEED(e->flen, "out of memory");
        }
        for (int c = 0; c < m; c++) {
            vf_len_hist *h = &e->flen[c];
            int k;
            NEED(fscanf(f, " %d", &k) == 1 && k >= 0 && k <= 100000000, "flen chunk line");
            h->len = malloc((size_t)(k ? k : 1) * sizeof *h->len);
            h->count = malloc((size_t)(k ? k : 1) * sizeof *h->count);
            NEED(h->len && h->count, "out of memory");
            for (h->n = 0; h->n < k; h->n++) {
                long long l, n;
                NEED(fscanf(f, " %lld %lld", &l, &n) == 2 && l >= 1 && n >= 1 && (h->n == 0 || l > h->len[h->n - 1]),
                     "flen value (lengths >= 1 ascending, counts >= 1)");
                h->len[h->n] = l;
                h->count[h->n] = n;
            }
        }
    }
    if (ver >= 9) {
        int m;
        NEED(fscanf(f, " pparts %d", &m) == 1 && (m == 0 || m == e->n_chunks), "pparts line (0 or one per chunk)");
        if (m) NEED(e->pparts = calloc((size_t)m * 256, sizeof *e->pparts), "out of memory");
        for (int c = 0; c < m; c++) {
            int bad = load_counts(f, e->pparts + (size_t)c * 256, 256, 0);
            NEED(bad != 1, "pparts chunk line (0 to 256 protocols)");
            NEED(bad != 2, "pparts value (protocols 0-255 ascending, parts >= 1)");
        }
    }
    for (int i = 0; i < e->n_fields; i++)
        NEED(!vf_proto_quota(&e->fields[i]) || e->pparts, "proto with class_decode quota has no pparts table");
    if (ver >= 9) {
        NEED(fscanf(f, " xgapq %d", &e->n_xgapq) == 1 && (e->n_xgapq == 0 || e->n_xgapq == VF_XGAP_BINS + 1),
             "xgapq line (0 or 1025 values)");
        if (e->n_xgapq) NEED(e->xgapq = malloc((size_t)e->n_xgapq * sizeof *e->xgapq), "out of memory");
        for (int k = 0; k < e->n_xgapq; k++) {
            long long v;
            NEED(fscanf(f, " %lld", &v) == 1 && v >= 0 && (k == 0 || v >= e->xgapq[k - 1]),
                 "xgapq value (>= 0, non-decreasing)");
            e->xgapq[k] = (double)v;
        }
    }
    for (int k = 0; ver >= 10 && k < 2; k++) {
        size_t N, K = (size_t)e->n_vocab[k ? VF_F_DSTPORT : VF_F_SRCPORT] + 1;
        long long last = -1;
        NEED(fscanf(f, " pflows %zu", &N) == 1 && N <= 256 * K, "pflows line (at most 256 protocols x port classes)");
        if (N) NEED(e->port_flows[k] = calloc(256 * K, sizeof *e->port_flows[k]), "out of memory");
        for (size_t i = 0; i < N; i++) {
            int p, c;
            long long n;
            NEED(fscanf(f, " %d %d %lld", &p, &c, &n) == 3 && p >= 0 && p < 256 && c >= 0 && (size_t)c < K &&
                     (long long)((size_t)p * K + (size_t)c) > last && n >= 1,
                 "pflows value (protocol 0-255, port class 0-n_vocab, ascending; flows >= 1)");
            last = (long long)((size_t)p * K + (size_t)c);
            e->port_flows[k][last] = n;
        }
    }
    for (int i = 0; i < e->n_fields; i++)
        NEED(!vf_port_quota(&e->fields[i]) || e->port_flows[e->fields[i].field == VF_F_DSTPORT],
             "a port with class_decode quota has no pflows table");
    if (ver >= 10) {
        int m;
        NEED(fscanf(f, " fspan %d", &m) == 1 && (m == 0 || m == e->n_chunks), "fspan line (0 or one per chunk)");
        if (m) NEED(e->fspan = calloc((size_t)m * (size_t)m, sizeof *e->fspan), "out of memory");
        for (int c = 0; c < m; c++) { /* a flow beginning in chunk c is in at most m - c chunks */
            int bad = load_counts(f, e->fspan + (size_t)c * (size_t)m, m - c, 1);
            NEED(bad != 1, "fspan chunk line (0 to n_chunks - c counts)");
            NEED(bad != 2, "fspan value (chunk counts 1 to n_chunks - c ascending, flows >= 1)");
        }
    }
    char endw[8] = "";
    NEED(fscanf(f, " %7s", endw) == 1 && !strcmp(endw, "end"), "missing 'end' (truncated file?)");
    NEED(fscanf(f, " %7s", endw) == EOF, "text after 'end'");
    fclose(f);
    free(buf);
    vf_enc_build_layout(e);
    return VF_OK;
fail:
    fclose(f);
    free(buf);
    vf_encoder_free(e);
    return st;
}
