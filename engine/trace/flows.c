/* 5-tuple flows: an open-addressing hash table (linear probing, power-of-two
 * capacity, load <= 1/2) from key to dense flow index, packet -> flow record
 * aggregation, and grouping of any trace's records by flow. */
#include "trace/trace_internal.h"

#include <stdlib.h>
#include <string.h>

bool vf_proto_has_ports(uint8_t proto) {
    return proto == 6 || proto == 17 || proto == 132 || proto == 33 || proto == 136;
}

void vf_flow_key_of(const vf_record *r, vf_flow_key *k) {
    memset(k, 0, sizeof *k); /* padding too: keys are compared with memcmp */
    k->src = r->src;
    k->dst = r->dst;
    k->sport = r->sport;
    k->dport = r->dport;
    k->proto = r->proto;
}

/* 64-bit mix over the 37 key bytes (wyhash-style multiply-xorshift). */
uint64_t vf_flow_key_hash(const vf_flow_key *k) {
    uint64_t w[5];
    memcpy(w, k->src.b, 16);
    memcpy(w + 2, k->dst.b, 16);
    w[4] = (uint64_t)k->sport | (uint64_t)k->dport << 16 | (uint64_t)k->proto << 32;
    uint64_t h = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 5; i++) {
        h ^= w[i];
        h *= 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
    }
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 29);
}

bool vf_flow_key_eq(const vf_flow_key *a, const vf_flow_key *b) {
    return !memcmp(a->src.b, b->src.b, 16) && !memcmp(a->dst.b, b->dst.b, 16) &&
           a->sport == b->sport && a->dport == b->dport && a->proto == b->proto;
}

void vf_flow_record_start(const vf_record *r, vf_record *out) {
    *out = *r;
    out->dur_ns = 0;
    out->pkts = r->pkts ? r->pkts : 1;
    out->bytes = r->bytes ? r->bytes : r->length;
    out->length = 0;
    out->ttl = 0;
    out->ip_id = 0;
    out->frag_flags = 0;
    out->frag_off = 0;
}

vf_status vf_flow_table_init(vf_flow_table *ft, size_t expect) {
    memset(ft, 0, sizeof *ft);
    size_t cap = 1024;
    while (cap < expect * 2) cap *= 2;
    ft->slots = calloc(cap, sizeof *ft->slots);
    ft->n_alloc = expect > 256 ? expect : 256;
    ft->keys = malloc(ft->n_alloc * sizeof *ft->keys);
    if (!ft->slots || !ft->keys) {
        vf_flow_table_free(ft);
        return vf_fail(VF_ERR_OOM, "flow table: out of memory");
    }
    ft->cap = cap;
    return VF_OK;
}

void vf_flow_table_free(vf_flow_table *ft) {
    free(ft->slots);
    free(ft->keys);
    memset(ft, 0, sizeof *ft);
}

static bool grow(vf_flow_table *ft) {
    size_t nc = ft->cap * 2;
    uint32_t *ns = calloc(nc, sizeof *ns);
    if (!ns) return false;
    for (size_t i = 0; i < ft->n; i++) {
        size_t j = vf_flow_key_hash(&ft->keys[i]) & (nc - 1);
        while (ns[j]) j = (j + 1) & (nc - 1);
        ns[j] = (uint32_t)(i + 1);
    }
    free(ft->slots);
    ft->slots = ns;
    ft->cap = nc;
    return true;
}

int64_t vf_flow_table_get(const vf_flow_table *ft, const vf_flow_key *k) {
    size_t j = vf_flow_key_hash(k) & (ft->cap - 1);
    while (ft->slots[j]) {
        uint32_t i = ft->slots[j] - 1;
        if (vf_flow_key_eq(&ft->keys[i], k)) return i;
        j = (j + 1) & (ft->cap - 1);
    }
    return -1;
}

int64_t vf_flow_table_put(vf_flow_table *ft, const vf_flow_key *k, bool *is_new) {
    size_t j = vf_flow_key_hash(k) & (ft->cap - 1);
    while (ft->slots[j]) {
        uint32_t i = ft->slots[j] - 1;
        if (vf_flow_key_eq(&ft->keys[i], k)) {
            if (is_new) *is_new = false;
            return i;
        }
        j = (j + 1) & (ft->cap - 1);
    }
    if (ft->n >= UINT32_MAX - 1) return -1;
    if (ft->n == ft->n_alloc) {
        size_t na = ft->n_alloc * 2;
        vf_flow_key *nk = realloc(ft->keys, na * sizeof *nk);
        if (!nk) return -1;
        ft->keys = nk;
        ft->n_alloc = na;
    }
    ft->keys[ft->n] = *k;
    ft->slots[j] = (uint32_t)(ft->n + 1);
    int64_t idx = (int64_t)ft->n++;
    if (is_new) *is_new = true;
    if (ft->n * 2 > ft->cap && !grow(ft)) return -1;
    return idx;
}

vf_status vf_trace_aggregate(const vf_trace *pk, int64_t idle_ns, vf_trace *out) {
    memset(out, 0, sizeof *out);
    out->kind = VF_TRACE_FLOWS;
    out->linktype = -1;
    out->n_input = pk->n_input;
    memcpy(out->skipped, pk->skipped, sizeof out->skipped);
    memcpy(out->first_skip, pk->first_skip, sizeof out->first_skip);
    for (int i = 0; i < pk->n_labels; i++)
        if (vf_trace_label(out, pk->labels[i]) < 0) goto oom;
    vf_flow_table ft;
    vf_status st = vf_flow_table_init(&ft, pk->n / 4 + 16);
    if (st) return st;
    /* cur[f]: index in out->recs of key f's open flow record */
    size_t cur_cap = ft.n_alloc;
    size_t *cur = malloc(cur_cap * sizeof *cur);
    if (!cur) { vf_flow_table_free(&ft); goto oom; }
    for (size_t i = 0; i < pk->n; i++) {
        const vf_record *r = &pk->recs[i];
        vf_flow_key k;
        vf_flow_key_of(r, &k);
        bool is_new;
        int64_t f = vf_flow_table_put(&ft, &k, &is_new);
        if (f < 0) { free(cur); vf_flow_table_free(&ft); goto oom; }
        if ((size_t)f >= cur_cap) {
            size_t nc = cur_cap * 2;
            size_t *p = realloc(cur, nc * sizeof *p);
            if (!p) { free(cur); vf_flow_table_free(&ft); goto oom; }
            cur = p;
            cur_cap = nc;
        }
        vf_record *fr = is_new ? NULL : &out->recs[cur[f]];
        if (fr && idle_ns > 0 && r->ts_ns - (fr->ts_ns + fr->dur_ns) > idle_ns) fr = NULL;
        if (!fr) {
            vf_record n;
            vf_flow_record_start(r, &n);
            cur[f] = out->n;
            if (vf_trace_append(out, &n)) { free(cur); vf_flow_table_free(&ft); goto oom; }
            continue;
        }
        int64_t end = fr->ts_ns + fr->dur_ns;
        int64_t rend = r->ts_ns + r->dur_ns;
        if (r->ts_ns < fr->ts_ns) { fr->ts_ns = r->ts_ns; } /* out-of-order capture */
        if (rend > end) end = rend;
        fr->dur_ns = end - fr->ts_ns;
        fr->pkts += r->pkts ? r->pkts : 1;
        fr->bytes += r->bytes ? r->bytes : r->length;
        fr->tcp_flags |= r->tcp_flags;
    }
    free(cur);
    vf_flow_table_free(&ft);
    return VF_OK;
oom:
    vf_trace_free(out);
    return vf_fail(VF_ERR_OOM, "aggregate: out of memory");
}

vf_status vf_flow_index_build(const vf_trace *t, vf_flow_index *fi) {
    memset(fi, 0, sizeof *fi);
    vf_flow_table ft;
    vf_status st = vf_flow_table_init(&ft, t->n / 4 + 16);
    if (st) return st;
    uint32_t *fid = malloc((t->n ? t->n : 1) * sizeof *fid);
    if (!fid) { vf_flow_table_free(&ft); return vf_fail(VF_ERR_OOM, "flow index: out of memory"); }
    for (size_t i = 0; i < t->n; i++) {
        vf_flow_key k;
        vf_flow_key_of(&t->recs[i], &k);
        int64_t f = vf_flow_table_put(&ft, &k, NULL);
        if (f < 0) { free(fid); vf_flow_table_free(&ft); return vf_fail(VF_ERR_OOM, "flow index: out of memory"); }
        fid[i] = (uint32_t)f;
    }
    fi->n_flows = ft.n;
    fi->start = calloc(ft.n + 1, sizeof *fi->start);
    fi->order = malloc((t->n ? t->n : 1) * sizeof *fi->order);
    fi->keys = malloc((ft.n ? ft.n : 1) * sizeof *fi->keys);
    if (!fi->start || !fi->order || !fi->keys) {
        free(fid);
        vf_flow_table_free(&ft);
        vf_flow_index_free(fi);
        return vf_fail(VF_ERR_OOM, "flow index: out of memory");
    }
    memcpy(fi->keys, ft.keys, ft.n * sizeof *fi->keys);
    /* counting sort by flow id keeps file order inside each flow */
    for (size_t i = 0; i < t->n; i++) fi->start[fid[i] + 1]++;
    for (size_t f = 0; f < ft.n; f++) fi->start[f + 1] += fi->start[f];
    size_t *pos = malloc((ft.n ? ft.n : 1) * sizeof *pos);
    if (!pos) {
        free(fid);
        vf_flow_table_free(&ft);
        vf_flow_index_free(fi);
        return vf_fail(VF_ERR_OOM, "flow index: out of memory");
    }
    memcpy(pos, fi->start, ft.n * sizeof *pos);
    for (size_t i = 0; i < t->n; i++) fi->order[pos[fid[i]]++] = i;
    free(pos);
    free(fid);
    vf_flow_table_free(&ft);
    return VF_OK;
}

void vf_flow_index_free(vf_flow_index *fi) {
    free(fi->start);
    free(fi->order);
    free(fi->keys);
    memset(fi, 0, sizeof *fi);
}
