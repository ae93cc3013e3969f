/* Generation bookkeeping (engine/train/pipeline_merge.c) on hand-built
 * chunks: NetShare's merge by flow tags, per-chunk window truncation and the
 * stable sort by time. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "train/pipeline.h"

/* 3 chunks; attributes: 2 payload columns (stand-ins for the 5-tuple), the
 * flow start (time), then the flow tags as engine/trace lays them out: start
 * flag [not, yes], presence of chunk k [absent, present]. Features: 1 column,
 * 2 steps. */
enum { N = 3, A = 3 + 2 * (N + 1), T = 2, F = 1, TAGS = 3 };

static void make_encoder(vf_encoder *e) {
    memset(e, 0, sizeof *e);
    e->n_chunks = N;
    e->attr_dim = A;
    e->feat_dim = F;
    e->max_len = T;
    e->n_fields = 1;
    e->fields[0].field = VF_F_TIME;
    e->fields[0].enc = VF_ENC_INTERARRIVAL;
}

/* One generated row: payload p, flow start t, start flag, presence bits,
 * feature value f for both steps (gen flags 1, 0). */
static void row(vf_encoded *E, int r, float p, float t, int start, const int pres[N], float f) {
    float *a = E->attr + (size_t)r * A;
    memset(a, 0, A * sizeof *a);
    a[0] = p;
    a[2] = t;
    a[TAGS + (start ? 1 : 0)] = 1;
    for (int k = 0; k < N; k++) a[TAGS + 2 + 2 * k + (pres[k] ? 1 : 0)] = 1;
    E->feat[(size_t)r * T * F] = f;
    E->feat[(size_t)r * T * F + 1] = f;
    E->gen_flag[(size_t)r * T] = 1;
    E->gen_flag[(size_t)r * T + 1] = 0;
}

static void alloc_chunk(vf_encoded *E, int c, int n) {
    memset(E, 0, sizeof *E);
    E->chunk = c;
    E->n_flows = n;
    E->attr_dim = A;
    E->feat_dim = F;
    E->max_len = T;
    E->attr = calloc((size_t)(n ? n : 1) * A, sizeof(float));
    E->feat = calloc((size_t)(n ? n : 1) * T * F, sizeof(float));
    E->gen_flag = calloc((size_t)(n ? n : 1) * T, sizeof(float));
}

static void expect_row(const vf_encoded *E, int r, float p, float t, int start, float f) {
    const float *a = E->attr + (size_t)r * A;
    cr_assert_eq(a[0], p, "chunk %d row %d: payload %g, want %g", E->chunk, r, a[0], p);
    cr_assert_eq(a[2], t, "chunk %d row %d: flow start %g, want %g", E->chunk, r, a[2], t);
    cr_assert_eq(a[TAGS + 1] > a[TAGS], start != 0, "chunk %d row %d: start flag", E->chunk, r);
    cr_assert_eq(a[TAGS] + a[TAGS + 1], 1.0f, "chunk %d row %d: start flag is one-hot", E->chunk, r);
    cr_assert_eq(E->feat[(size_t)r * T * F], f, "chunk %d row %d: features from %g, want %g", E->chunk, r,
                 E->feat[(size_t)r * T * F], f);
    cr_assert_eq(E->gen_flag[(size_t)r * T], 1.0f);
    cr_assert_eq(E->gen_flag[(size_t)r * T + 1], 0.0f);
}

Test(pipeline_merge, flow_tags_keep_and_carry) {
    vf_encoder e;
    make_encoder(&e);
    vf_encoded gen[N];
    alloc_chunk(&gen[0], 0, 4);
    row(&gen[0], 0, 10, .1f, 1, (int[N]){1, 1, 0}, 100); /* kept, carried into chunk 1 */
    row(&gen[0], 1, 11, .2f, 1, (int[N]){1, 0, 1}, 101); /* kept, carried into chunk 2 only */
    row(&gen[0], 2, 12, .3f, 0, (int[N]){1, 1, 0}, 102); /* not started here: dropped */
    row(&gen[0], 3, 13, .4f, 1, (int[N]){0, 1, 0}, 103); /* not present here: dropped */
    alloc_chunk(&gen[1], 1, 2);
    row(&gen[1], 0, 20, .5f, 0, (int[N]){1, 1, 0}, 200); /* a continuation: the donor for 10 */
    row(&gen[1], 1, 21, .6f, 1, (int[N]){0, 1, 1}, 201); /* kept, carried into chunk 2 */
    alloc_chunk(&gen[2], 2, 1);
    row(&gen[2], 0, 30, .7f, 1, (int[N]){0, 0, 1}, 300); /* kept; no continuations: donors cycle */
    vf_encoded *m = NULL;
    cr_assert_eq(vf_merge_flow_tags(&e, gen, NULL, N, &m, NULL), VF_OK, "%s", vf_last_error());
    cr_assert_eq(m[0].n_flows, 2);
    expect_row(&m[0], 0, 10, .1f, 1, 100);
    expect_row(&m[0], 1, 11, .2f, 1, 101);
    cr_assert_eq(m[1].n_flows, 2);
    expect_row(&m[1], 0, 21, .6f, 1, 201);
    expect_row(&m[1], 1, 10, .5f, 0, 200); /* 5-tuple of 10, start and features of the continuation */
    cr_assert_eq(m[2].n_flows, 3);
    expect_row(&m[2], 0, 30, .7f, 1, 300);
    expect_row(&m[2], 1, 11, .7f, 0, 300);
    expect_row(&m[2], 2, 21, .7f, 0, 300);
    /* carried rows keep the flow's presence bits */
    for (int k = 0; k < N; k++) {
        const float *a = m[2].attr + 1 * A + TAGS + 2 + 2 * k;
        cr_assert_eq(a[1] > a[0], k != 1, "flow 11 presence in chunk %d", k);
    }
    for (int c = 0; c < N; c++) cr_assert_eq(m[c].chunk, c);
    vf_encoded_free(m, N);
    /* flow ids: a flow and its carried copies have the id of the generated row it started in */
    int64_t *ids = NULL;
    cr_assert_eq(vf_merge_flow_tags(&e, gen, NULL, N, &m, &ids), VF_OK, "%s", vf_last_error());
    int64_t want[] = {0, 1, /* chunk 1 */ 5, 0, /* chunk 2 */ 6, 1, 5};
    for (int i = 0; i < 7; i++) cr_assert_eq(ids[i], want[i], "merged row %d: id %lld, want %lld", i, (long long)ids[i],
                                             (long long)want[i]);
    free(ids);
    vf_encoded_free(m, N);
    for (int c = 0; c < N; c++) { free(gen[c].attr); free(gen[c].feat); free(gen[c].gen_flag); }
}

/* NetShare's merge: the flows carried into a later chunk are given to that
 * chunk's model as attributes (vf_merge_carried: start flag cleared, flow
 * start from a continuation of that chunk) and take the features it
 * generated for them (cond), not another flow's. */
Test(pipeline_merge, carried_flows_take_features_generated_for_their_attributes) {
    vf_encoder e;
    make_encoder(&e);
    vf_encoded gen[N], cond[N];
    alloc_chunk(&gen[0], 0, 2);
    row(&gen[0], 0, 10, .1f, 1, (int[N]){1, 1, 1}, 100); /* carried into chunks 1 and 2 */
    row(&gen[0], 1, 11, .2f, 1, (int[N]){1, 0, 1}, 101); /* carried into chunk 2 */
    alloc_chunk(&gen[1], 1, 2);
    row(&gen[1], 0, 20, .5f, 1, (int[N]){0, 1, 0}, 200); /* kept */
    row(&gen[1], 1, 21, .6f, 0, (int[N]){1, 1, 0}, 201); /* a continuation: flow start for 10 */
    alloc_chunk(&gen[2], 2, 1);
    row(&gen[2], 0, 30, .7f, 0, (int[N]){0, 1, 1}, 300);
    float *ca = NULL;
    int nc = -1;
    cr_assert_eq(vf_merge_carried(&e, gen, 0, &ca, &nc), VF_OK, "%s", vf_last_error());
    cr_assert_eq(nc, 0);
    free(ca);
    /* chunk 1 needs gen[0..1] only: chunk 2 is not generated yet */
    vf_encoded later = gen[2];
    gen[2].n_flows = -1;
    cr_assert_eq(vf_merge_carried(&e, gen, 1, &ca, &nc), VF_OK, "%s", vf_last_error());
    gen[2] = later;
    cr_assert_eq(nc, 1);
    cr_assert_eq(ca[0], 10);
    cr_assert_eq(ca[2], .6f, "flow start from chunk 1's continuation");
    cr_assert(ca[TAGS] == 1 && ca[TAGS + 1] == 0, "start flag cleared");
    for (int k = 0; k < N; k++) cr_assert_eq(ca[TAGS + 2 + 2 * k + 1], 1.0f, "presence bits kept");
    /* cond[1]: what chunk 1's model generated for them (a 2-record flow) */
    alloc_chunk(&cond[1], 1, nc);
    memcpy(cond[1].attr, ca, A * sizeof(float));
    cond[1].feat[0] = 900;
    cond[1].feat[1] = 901;
    cond[1].gen_flag[0] = cond[1].gen_flag[1] = 1;
    free(ca);
    cr_assert_eq(vf_merge_carried(&e, gen, 2, &ca, &nc), VF_OK, "%s", vf_last_error());
    cr_assert_eq(nc, 2);
    cr_assert(ca[0] == 10 && ca[A] == 11, "carried in merge order");
    cr_assert(ca[2] == .7f && ca[A + 2] == .7f);
    alloc_chunk(&cond[2], 2, nc);
    memcpy(cond[2].attr, ca, (size_t)nc * A * sizeof(float));
    for (int r = 0; r < nc; r++) {
        cond[2].feat[r * T] = 950.0f + (float)r;
        cond[2].gen_flag[r * T] = 1;
    }
    free(ca);
    alloc_chunk(&cond[0], 0, 0);
    vf_encoded *m = NULL;
    cr_assert_eq(vf_merge_flow_tags(&e, gen, cond, N, &m, NULL), VF_OK, "%s", vf_last_error());
    cr_assert_eq(m[0].n_flows, 2);
    expect_row(&m[0], 0, 10, .1f, 1, 100);
    cr_assert_eq(m[1].n_flows, 2);
    expect_row(&m[1], 0, 20, .5f, 1, 200);
    const float *a = m[1].attr + A;
    cr_assert(a[0] == 10 && a[2] == .6f && a[TAGS] == 1 && a[TAGS + 1] == 0);
    cr_assert(m[1].feat[T] == 900 && m[1].feat[T + 1] == 901, "the features generated for flow 10");
    cr_assert(m[1].gen_flag[T] == 1 && m[1].gen_flag[T + 1] == 1, "and their length");
    cr_assert_eq(m[2].n_flows, 2, "30 did not start in chunk 2: only the carried 10 and 11");
    for (int r = 0; r < 2; r++) {
        cr_assert_eq(m[2].attr[r * A], 10.0f + (float)r);
        cr_assert_eq(m[2].feat[r * T], 950.0f + (float)r);
        cr_assert_eq(m[2].gen_flag[r * T + 1], 0.0f);
    }
    vf_encoded_free(m, N);
    /* conditioned flows that do not match the carried ones are an error */
    cond[2].n_flows = 1;
    cr_assert_eq(vf_merge_flow_tags(&e, gen, cond, N, &m, NULL), VF_ERR_ARG);
    cr_assert(strstr(vf_last_error(), "1 conditioned flows for chunk 2, 2 carried"), "%s", vf_last_error());
    cr_assert_eq(m, NULL);
    for (int c = 0; c < N; c++) {
        free(gen[c].attr); free(gen[c].feat); free(gen[c].gen_flag);
        free(cond[c].attr); free(cond[c].feat); free(cond[c].gen_flag);
    }
}

Test(pipeline_merge, nothing_generated_in_a_chunk_drops_carried_flows) {
    vf_encoder e;
    make_encoder(&e);
    vf_encoded gen[N];
    alloc_chunk(&gen[0], 0, 1);
    row(&gen[0], 0, 10, .1f, 1, (int[N]){1, 1, 1}, 100);
    alloc_chunk(&gen[1], 1, 0);
    alloc_chunk(&gen[2], 2, 1);
    row(&gen[2], 0, 30, .7f, 0, (int[N]){1, 1, 1}, 300);
    vf_encoded *m = NULL;
    cr_assert_eq(vf_merge_flow_tags(&e, gen, NULL, N, &m, NULL), VF_OK, "%s", vf_last_error());
    cr_assert_eq(m[0].n_flows, 1);
    cr_assert_eq(m[1].n_flows, 0);
    cr_assert_eq(m[2].n_flows, 1); /* 30 itself did not start in chunk 2: only the carried 10 */
    expect_row(&m[2], 0, 10, .7f, 0, 300);
    vf_encoded_free(m, N);
    for (int c = 0; c < N; c++) { free(gen[c].attr); free(gen[c].feat); free(gen[c].gen_flag); }
}

Test(pipeline_merge, shape_mismatch_is_an_error) {
    vf_encoder e;
    make_encoder(&e);
    vf_encoded gen[N];
    for (int c = 0; c < N; c++) alloc_chunk(&gen[c], c, 1);
    gen[1].feat_dim = 2;
    vf_encoded *m = NULL;
    cr_assert_eq(vf_merge_flow_tags(&e, gen, NULL, N, &m, NULL), VF_ERR_ARG);
    cr_assert(strstr(vf_last_error(), "chunk 1 does not match"), "%s", vf_last_error());
    cr_assert_eq(m, NULL);
    cr_assert_eq(vf_merge_flow_tags(&e, gen, NULL, 2, &m, NULL), VF_ERR_ARG);
    for (int c = 0; c < N; c++) { free(gen[c].attr); free(gen[c].feat); free(gen[c].gen_flag); }
}

static void trace_of(vf_trace *t, const int64_t *ts, size_t n) {
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < n; i++) {
        vf_record r;
        memset(&r, 0, sizeof r);
        r.ts_ns = ts[i];
        r.sport = (uint16_t)i; /* identity, to check order */
        cr_assert_eq(vf_trace_append(t, &r), VF_OK);
    }
}

Test(pipeline_merge, truncate_to_the_chunk_windows) {
    vf_trace t;
    trace_of(&t, (int64_t[]){5, 10, 25, 15, 19, 20, 9, 40, 31, 100}, 10);
    /* records before from[0] and from from[N] on stay as they are */
    size_t from[] = {1, 7, 9};
    int64_t edge[] = {10, 20, 35};
    size_t removed = vf_truncate_windows(&t, from, edge, 2);
    cr_assert_eq(removed, 4); /* chunk 0: 25, 20 (the end is exclusive) and 9; chunk 1: 40 */
    cr_assert_eq(t.n, 6);
    int64_t want_ts[] = {5, 10, 15, 19, 31, 100};
    uint16_t want_id[] = {0, 1, 3, 4, 8, 9};
    for (size_t i = 0; i < t.n; i++) {
        cr_assert_eq(t.recs[i].ts_ns, want_ts[i]);
        cr_assert_eq(t.recs[i].sport, want_id[i]);
    }
    size_t none[] = {6, 6};
    cr_assert_eq(vf_truncate_windows(&t, none, edge, 1), 0); /* an empty chunk */
    cr_assert_eq(t.n, 6);
    vf_trace_free(&t);
}

/* Records of a decoded chunk get the ids of their rows; a count that does
 * not match the generation flags is refused. */
Test(pipeline_merge, record_flow_ids_follow_the_generation_flags) {
    vf_encoded E;
    alloc_chunk(&E, 1, 3);
    float flags[3][T] = {{1, 0}, {1, 1}, {0, 1}}; /* 1, 2 and 0 records (the first clear flag ends a row) */
    memcpy(E.gen_flag, flags, sizeof flags);
    int64_t ids[] = {7, 3, 9}, rec[4] = {-1, -1, -1, -1};
    cr_assert_eq(vf_record_flow_ids(&E, ids, 3, rec), VF_OK, "%s", vf_last_error());
    cr_assert_eq(rec[0], 7);
    cr_assert_eq(rec[1], 3);
    cr_assert_eq(rec[2], 3);
    cr_assert_eq(rec[3], -1);
    cr_assert_eq(vf_record_flow_ids(&E, ids, 4, rec), VF_ERR_ARG);
    free(E.attr); free(E.feat); free(E.gen_flag);
}


/* Flows that decode to an earlier flow's 5-tuple get the next free client
 * port; the flow's copies follow it; port-less and service-to-service flows
 * keep theirs. */
Test(pipeline_merge, fresh_5tuples_move_the_client_port) {
    vf_trace t;
    memset(&t, 0, sizeof t);
    const uint32_t a = 0x0a000001, b = 0x0a000002;
    vf_record in[] = {
        tu_record(a, b, 50000, 80, 6, 0),  /* flow 0 */
        tu_record(a, b, 50000, 80, 6, 1),  /* flow 0, a later record */
        tu_record(a, b, 50000, 80, 6, 2),  /* flow 1: same 5-tuple -> 50001 */
        tu_record(a, b, 50001, 80, 6, 3),  /* flow 2: had 50001, now taken -> 50002 */
        tu_record(b, a, 80, 50000, 6, 4),  /* flow 3: the other direction, a 5-tuple of its own */
        tu_record(a, b, 0, 2048, 1, 5),    /* flow 4: ICMP */
        tu_record(a, b, 0, 2048, 1, 6),    /* flow 5: ICMP again: no port to move, shares */
        tu_record(a, b, 137, 137, 17, 7),  /* flow 6 */
        tu_record(a, b, 137, 137, 17, 8),  /* flow 7: client port below 1024, shares */
        tu_record(a, b, 50000, 80, 6, 9),  /* flow 1 again (a carried copy): follows its new port */
        tu_record(b, a, 80, 65535, 6, 10), /* flow 8 */
        tu_record(b, a, 80, 65535, 6, 11), /* flow 9: wraps to 1024 */
    };
    int64_t id[] = {0, 0, 1, 2, 3, 4, 5, 6, 7, 1, 8, 9};
    for (size_t i = 0; i < sizeof in / sizeof *in; i++) cr_assert_eq(vf_trace_append(&t, &in[i]), VF_OK);
    vf_fresh_stats fs;
    cr_assert_eq(vf_fresh_5tuples(&t, id, 10, &fs), VF_OK, "%s", vf_last_error());
    cr_assert_eq(fs.flows, 10);
    cr_assert_eq(fs.moved, 3);
    cr_assert_eq(fs.shared, 2);
    uint16_t want_sport[] = {50000, 50000, 50001, 50002, 80, 0, 0, 137, 137, 50001, 80, 80};
    uint16_t want_dport[] = {80, 80, 80, 80, 50000, 2048, 2048, 137, 137, 80, 65535, 1024};
    for (size_t i = 0; i < t.n; i++) {
        cr_assert_eq(t.recs[i].sport, want_sport[i], "record %zu: sport %u, want %u", i, t.recs[i].sport, want_sport[i]);
        cr_assert_eq(t.recs[i].dport, want_dport[i], "record %zu: dport %u, want %u", i, t.recs[i].dport, want_dport[i]);
        cr_assert_eq(t.recs[i].ts_ns, (int64_t)i);
    }
    vf_trace_free(&t);
}

Test(pipeline_merge, sort_by_time_is_stable) {
    vf_trace t;
    trace_of(&t, (int64_t[]){30, 10, 20, 10, 30, -5}, 6);
    cr_assert_eq(vf_trace_sort_time(&t), VF_OK);
    int64_t want_ts[] = {-5, 10, 10, 20, 30, 30};
    uint16_t want_id[] = {5, 1, 3, 2, 0, 4};
    for (size_t i = 0; i < t.n; i++) {
        cr_assert_eq(t.recs[i].ts_ns, want_ts[i]);
        cr_assert_eq(t.recs[i].sport, want_id[i], "record %zu", i);
    }
    vf_trace_free(&t);
}
