/* Generation's bookkeeping after sampling: NetShare's merge by flow tags,
 * per-chunk time-window truncation and the final sort by time. Free of any
 * model code so it can be tested on hand-built chunks. */
#include "train/pipeline.h"
#include "util.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ merge, window */


static bool hot(const float *pair) { return pair[1] > pair[0]; }

static bool has_time_field(const vf_encoder *enc) {
    for (int i = 0; i < enc->n_fields; i++)
        if (enc->fields[i].field == VF_F_TIME) return true;
    return false;
}

/* The merge's common checks (on gen[0..n_gen)); *tags and *time_col: where the flow tags and
 * the flow start column are (-1: none). */
static vf_status merge_check(const vf_encoder *enc, const vf_encoded *gen, int n_gen, int N, int *tags,
                             int *time_col) {
    if (N < 1 || N != enc->n_chunks)
        return vf_fail(VF_ERR_ARG, "merge: %d chunks, the encoder has %d", N, enc->n_chunks);
    if (enc->attr_dim < 1 || enc->max_len < 1 || enc->feat_dim < 0)
        return vf_fail(VF_ERR_ARG, "merge: encoder shapes attr %d, len %d, feat %d", enc->attr_dim, enc->max_len,
                       enc->feat_dim);
    int A = enc->attr_dim, T = enc->max_len, F = enc->feat_dim;
    *tags = A - 2 * (N + 1); /* start flag, then presence per chunk (engine/trace/encode.c) */
    if (*tags < 0) return vf_fail(VF_ERR_ARG, "merge: attribute width %d has no room for %d chunks' flow tags", A, N);
    *time_col = has_time_field(enc) ? *tags - 1 : -1;
    for (int c = 0; c < n_gen; c++)
        if (gen[c].n_flows < 0 || (gen[c].n_flows && (gen[c].attr_dim != A || gen[c].max_len != T ||
                                                      gen[c].feat_dim != F || !gen[c].attr || !gen[c].feat ||
                                                      !gen[c].gen_flag)))
            return vf_fail(VF_ERR_ARG, "merge: generated chunk %d does not match the encoder (attr %d/%d, len %d/%d, "
                           "feat %d/%d)", c, gen[c].attr_dim, A, gen[c].max_len, T, gen[c].feat_dim, F);
    return VF_OK;
}

/* The rows carried into chunk j, in merge order: their count; with dst, their
 * attributes (start flag cleared, flow start from a continuation chunk j
 * generated, see pipeline.h) and, with donor, the row of gen[j] each one
 * takes its flow start (and, without conditioned features, its features)
 * from. */
static int64_t carry_into(const vf_encoded *gen, int j, int A, int tags, int time_col, float *dst, int *donor,
                          int64_t *src_id) {
    if (gen[j].n_flows == 0) return 0;
    int64_t n = 0, row0 = 0; /* row0: generated rows before chunk i */
    int next_donor = 0, cyclic = 0;
    for (int i = 0; i < j; row0 += gen[i++].n_flows)
        for (int r = 0; r < gen[i].n_flows; r++) {
            const float *a = gen[i].attr + (size_t)r * (size_t)A;
            if (!vf_row_starts_flow(a, tags, i) || !hot(a + tags + 2 + 2 * j)) continue;
            if (dst || donor) {
                int d = -1;
                while (next_donor < gen[j].n_flows) {
                    int k = next_donor++;
                    if (!hot(gen[j].attr + (size_t)k * (size_t)A + tags)) { d = k; break; }
                }
                if (d < 0) d = cyclic++ % gen[j].n_flows;
                if (donor) donor[n] = d;
                if (dst) {
                    float *o = dst + (size_t)n * (size_t)A;
                    memcpy(o, a, (size_t)A * sizeof(float));
                    o[tags] = 1; /* start flag cleared: the flow began earlier */
                    o[tags + 1] = 0;
                    if (time_col >= 0) o[time_col] = gen[j].attr[(size_t)d * (size_t)A + (size_t)time_col];
                }
            }
            if (src_id) src_id[n] = row0 + r;
            n++;
        }
    return n;
}

vf_status vf_merge_carried(const vf_encoder *enc, const vf_encoded *gen, int j, float **attr, int *n) {
    if (!attr || !n) return vf_fail(VF_ERR_ARG, "merge_carried: attr and n are required");
    *attr = NULL;
    *n = 0;
    int tags, time_col, N = enc->n_chunks;
    if (j < 0 || j >= N) return vf_fail(VF_ERR_ARG, "merge_carried: chunk %d of %d", j, N);
    /* the chunks after j need not be generated yet */
    VF_TRY(merge_check(enc, gen, j + 1, N, &tags, &time_col));
    int64_t k = carry_into(gen, j, enc->attr_dim, tags, time_col, NULL, NULL, NULL);
    if (k > INT_MAX) return vf_fail(VF_ERR_ARG, "merge: chunk %d gets too many flows", j);
    float *a = malloc(((size_t)k + 1) * (size_t)enc->attr_dim * sizeof(float));
    if (!a) return vf_fail(VF_ERR_OOM, "merge: out of memory");
    carry_into(gen, j, enc->attr_dim, tags, time_col, a, NULL, NULL);
    *attr = a;
    *n = (int)k;
    return VF_OK;
}

vf_status vf_merge_flow_tags(const vf_encoder *enc, const vf_encoded *gen, const vf_encoded *cond, int N,
                             vf_encoded **out, int64_t **flow_id) {
    *out = NULL;
    if (flow_id) *flow_id = NULL;
    int64_t *ids = NULL;
    int tags, time_col;
    VF_TRY(merge_check(enc, gen, N, N, &tags, &time_col));
    int A = enc->attr_dim, T = enc->max_len, F = enc->feat_dim;
    vf_encoded *m = calloc((size_t)N, sizeof *m);
    int64_t *count = calloc((size_t)N, sizeof *count), *carried = calloc((size_t)N, sizeof *carried);
    int *donor = NULL;
    vf_status st = VF_OK;
    if (!m || !count || !carried) { st = vf_fail(VF_ERR_OOM, "merge: out of memory"); goto fail; }
    /* sizes: kept rows, plus rows carried in from earlier chunks */
    for (int i = 0; i < N; i++)
        for (int r = 0; r < gen[i].n_flows; r++) {
            const float *a = gen[i].attr + (size_t)r * (size_t)A;
            if (vf_row_starts_flow(a, tags, i)) count[i]++;
        }
    for (int j = 0; j < N; j++) {
        carried[j] = carry_into(gen, j, A, tags, time_col, NULL, NULL, NULL);
        count[j] += carried[j];
        if (cond && cond[j].n_flows && cond[j].n_flows != carried[j]) {
            st = vf_fail(VF_ERR_ARG, "merge: %d conditioned flows for chunk %d, %lld carried into it", cond[j].n_flows,
                         j, (long long)carried[j]);
            goto fail;
        }
        if (cond && cond[j].n_flows && (cond[j].max_len != T || cond[j].feat_dim != F || !cond[j].feat ||
                                        !cond[j].gen_flag)) {
            st = vf_fail(VF_ERR_ARG, "merge: conditioned flows of chunk %d do not match the encoder (len %d/%d, "
                         "feat %d/%d)", j, cond[j].max_len, T, cond[j].feat_dim, F);
            goto fail;
        }
    }
    for (int j = 0; j < N; j++) {
        m[j].chunk = j;
        m[j].attr_dim = A;
        m[j].max_len = T;
        m[j].feat_dim = F;
        if (count[j] < 0 || count[j] > INT_MAX) { st = vf_fail(VF_ERR_ARG, "merge: chunk %d gets too many flows", j); goto fail; }
        size_t n = count[j] ? (size_t)count[j] : 1;
        m[j].attr = calloc(n * (size_t)A, sizeof(float));
        m[j].feat = calloc(n * (size_t)T * (size_t)(F ? F : 1), sizeof(float));
        m[j].gen_flag = calloc(n * (size_t)T, sizeof(float));
        if (!m[j].attr || !m[j].feat || !m[j].gen_flag) { st = vf_fail(VF_ERR_OOM, "merge: out of memory"); goto fail; }
    }
    if (flow_id) {
        int64_t total = 0;
        for (int j = 0; j < N; j++) total += count[j];
        if (!(ids = malloc(((size_t)total + 1) * sizeof *ids))) { st = vf_fail(VF_ERR_OOM, "merge: out of memory"); goto fail; }
    }
    /* kept rows, verbatim. ids[first + w]: the generated row that merged row w of chunk i comes
     * from (first: chunk i's first merged row among all chunks'; row0: its first generated row) */
    int64_t first = 0, row0 = 0;
    for (int i = 0; i < N; first += count[i], row0 += gen[i++].n_flows) {
        for (int r = 0; r < gen[i].n_flows; r++) {
            const float *a = gen[i].attr + (size_t)r * (size_t)A;
            if (!vf_row_starts_flow(a, tags, i)) continue;
            if (ids) ids[first + m[i].n_flows] = row0 + r;
            size_t w = (size_t)m[i].n_flows++;
            memcpy(m[i].attr + w * (size_t)A, a, (size_t)A * sizeof(float));
            memcpy(m[i].feat + w * (size_t)T * (size_t)F, gen[i].feat + (size_t)r * (size_t)T * (size_t)F,
                   (size_t)T * (size_t)F * sizeof(float));
            memcpy(m[i].gen_flag + w * (size_t)T, gen[i].gen_flag + (size_t)r * (size_t)T, (size_t)T * sizeof(float));
        }
    }
    /* carried rows: the earlier chunk's attributes and tags (start flag
     * cleared); features generated for them (cond) or a continuation's */
    first = 0;
    for (int j = 0; j < N; first += count[j++]) {
        if (!carried[j]) continue; /* chunk 0 has none */
        free(donor);
        donor = malloc((size_t)carried[j] * sizeof *donor);
        if (!donor) { st = vf_fail(VF_ERR_OOM, "merge: out of memory"); goto fail; }
        size_t w0 = (size_t)m[j].n_flows;
        carry_into(gen, j, A, tags, time_col, m[j].attr + w0 * (size_t)A, donor, ids ? ids + first + w0 : NULL);
        bool given = cond && cond[j].n_flows;
        for (int64_t k = 0; k < carried[j]; k++) {
            size_t w = w0 + (size_t)k;
            const vf_encoded *src = given ? &cond[j] : &gen[j];
            size_t r = given ? (size_t)k : (size_t)donor[k];
            memcpy(m[j].feat + w * (size_t)T * (size_t)F, src->feat + r * (size_t)T * (size_t)F,
                   (size_t)T * (size_t)F * sizeof(float));
            memcpy(m[j].gen_flag + w * (size_t)T, src->gen_flag + r * (size_t)T, (size_t)T * sizeof(float));
        }
        m[j].n_flows += (int)carried[j];
    }
    free(donor);
    free(count);
    free(carried);
    *out = m;
    if (flow_id) *flow_id = ids;
    return VF_OK;
fail:
    free(ids);
    free(donor);
    free(count);
    free(carried);
    vf_encoded_free(m, m ? N : 0);
    return st;
}

typedef struct ts_idx { int64_t ts; size_t i; } ts_idx;
static int cmp_ts_idx(const void *a, const void *b) {
    const ts_idx *x = a, *y = b;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

vf_status vf_trace_sort_time(vf_trace *t) {
    if (t->n < 2) return VF_OK;
    ts_idx *k = malloc(t->n * sizeof *k);
    vf_record *r = malloc(t->n * sizeof *r);
    if (!k || !r) { free(k); free(r); return vf_fail(VF_ERR_OOM, "sort: out of memory (%zu records)", t->n); }
    for (size_t i = 0; i < t->n; i++) k[i] = (ts_idx){t->recs[i].ts_ns, i};
    qsort(k, t->n, sizeof *k, cmp_ts_idx); /* ties broken by index: stable */
    for (size_t i = 0; i < t->n; i++) r[i] = t->recs[k[i].i];
    memcpy(t->recs, r, t->n * sizeof *r);
    free(k);
    free(r);
    return VF_OK;
}

/* ------------------------------------------------------- fresh 5-tuples */

vf_status vf_record_flow_ids(const vf_encoded *E, const int64_t *ids, size_t n_records, int64_t *rec_id) {
    size_t k = 0;
    for (int r = 0; r < E->n_flows; r++) k += (size_t)vf_encoded_steps(E, r);
    if (k != n_records)
        return vf_fail(VF_ERR_ARG, "generate: chunk %d decoded to %zu records, its generation flags say %zu",
                       E->chunk, n_records, k);
    k = 0;
    for (int r = 0; r < E->n_flows; r++)
        for (int s = vf_encoded_steps(E, r); s > 0; s--) rec_id[k++] = ids[r];
    return VF_OK;
}

vf_status vf_fresh_5tuples(vf_trace *t, const int64_t *rec_id, int64_t n_ids, vf_fresh_stats *stats) {
    memset(stats, 0, sizeof *stats);
    vf_flow_key *key = malloc(((size_t)n_ids + 1) * sizeof *key);
    uint8_t *seen = calloc((size_t)n_ids + 1, 1);
    uint32_t *port_flows = calloc(65536, sizeof *port_flows);
    /* used: the 5-tuples given out; after: for each decoded 5-tuple that collided, the last port
     * given to a flow that decoded to it (the next such flow searches on from there, so n flows
     * that decode to one 5-tuple cost O(n), not O(n^2)) */
    vf_flow_table used, after;
    uint16_t *last = NULL;
    size_t last_cap = 0;
    bool table = false;
    vf_status st = VF_OK;
    if (!key || !seen || !port_flows) { st = vf_fail(VF_ERR_OOM, "generate: out of memory"); goto done; }
    /* how many flows use each port, on either side: the commoner port of a flow is its service */
    for (size_t i = 0; i < t->n; i++) {
        int64_t id = rec_id[i];
        if (id < 0 || id >= n_ids) { st = vf_fail(VF_ERR_ARG, "generate: flow id %lld of %lld", (long long)id, (long long)n_ids); goto done; }
        if (seen[id]) continue;
        seen[id] = 1;
        const vf_record *r = &t->recs[i];
        if (!vf_proto_has_ports(r->proto)) continue;
        port_flows[r->sport]++;
        if (r->dport != r->sport) port_flows[r->dport]++;
    }
    memset(seen, 0, (size_t)n_ids + 1);
    if ((st = vf_flow_table_init(&used, (size_t)n_ids))) goto done;
    if ((st = vf_flow_table_init(&after, 256))) { vf_flow_table_free(&used); goto done; }
    table = true;
    for (size_t i = 0; i < t->n; i++) {
        vf_record *r = &t->recs[i];
        int64_t id = rec_id[i];
        if (seen[id]) { /* a later record of the flow: its (maybe new) 5-tuple */
            r->sport = key[id].sport;
            r->dport = key[id].dport;
            continue;
        }
        seen[id] = 1;
        stats->flows++;
        vf_flow_key_of(r, &key[id]);
        if (vf_flow_table_get(&used, &key[id]) >= 0) {
            /* another flow has it: the client port (the rarer; the larger on a tie) moves up to the next free one */
            bool client_src = port_flows[r->sport] != port_flows[r->dport] ? port_flows[r->sport] < port_flows[r->dport]
                                                                           : r->sport >= r->dport;
            uint16_t *p = client_src ? &key[id].sport : &key[id].dport;
            bool moved = false;
            if (vf_proto_has_ports(r->proto) && *p >= 1024) {
                bool is_new;
                int64_t a = vf_flow_table_put(&after, &key[id], &is_new);
                if (a < 0) { st = vf_fail(VF_ERR_OOM, "generate: out of memory"); goto done; }
                if ((size_t)a >= last_cap) {
                    size_t nc = last_cap ? 2 * last_cap : 256;
                    uint16_t *g = realloc(last, nc * sizeof *g);
                    if (!g) { st = vf_fail(VF_ERR_OOM, "generate: out of memory"); goto done; }
                    last = g;
                    last_cap = nc;
                }
                uint16_t p0 = *p, from = is_new ? p0 : last[a];
                for (int k = 1; k < 65536 - 1024 && !moved; k++) {
                    *p = (uint16_t)(1024 + (from - 1024 + k) % (65536 - 1024));
                    moved = vf_flow_table_get(&used, &key[id]) < 0;
                }
                last[a] = *p;
                if (!moved) *p = p0;
            }
            if (moved) stats->moved++;
            else stats->shared++;
            r->sport = key[id].sport;
            r->dport = key[id].dport;
        }
        if (vf_flow_table_put(&used, &key[id], NULL) < 0) { st = vf_fail(VF_ERR_OOM, "generate: out of memory"); goto done; }
    }
done:
    if (table) { vf_flow_table_free(&used); vf_flow_table_free(&after); }
    free(last);
    free(key);
    free(seen);
    free(port_flows);
    return st;
}

size_t vf_truncate_windows(vf_trace *t, const size_t *from, const int64_t *edge, int n_chunks) {
    size_t w = from[0];
    for (int c = 0; c < n_chunks; c++)
        for (size_t i = from[c]; i < from[c + 1]; i++)
            if (vf_in_window(edge, c, t->recs[i].ts_ns)) t->recs[w++] = t->recs[i];
    size_t removed = from[n_chunks] - w;
    for (size_t i = from[n_chunks]; i < t->n; i++) t->recs[w++] = t->recs[i];
    t->n = w;
    return removed;
}
