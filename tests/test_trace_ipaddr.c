/* IP address encodings and decoders (docs/TRACES.md, "Addresses"): the
 * prefix-tree decoder (`decode = "tree"`) and the address dictionary
 * (`encoding = "dict"`), and the port dictionary (the same encoding on
 * srcport/dstport: "Ports"). Toy traces built here, so no shared data is needed:
 * round trips, generated bit probabilities near a few hosts decoding to those
 * hosts (not to hundreds), save/load, and description errors. */
#include <criterion/criterion.h>
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace/encode.h"
#include "util.h"

/* Five source hosts with skewed record counts (50, 20, 10, 5, 2), two of
 * them one bit apart in the last octet's low bits (10.0.0.1 / 10.0.0.3), and
 * three destinations; one flow of 1..3 records per (src, sport). */
static const uint32_t toy_src[5] = {0x0A000001, 0x0A000003, 0x0A000107, 0xC0A80304, 0xAC100009};
static const int toy_count[5] = {50, 20, 10, 5, 2};
static const uint32_t toy_dst[3] = {0x08080808, 0x01010101, 0x0A0000FE};

static void toy_trace(vf_trace *t) {
    memset(t, 0, sizeof *t);
    t->kind = VF_TRACE_FLOWS;
    t->linktype = -1;
    int64_t ts = 1000000000LL * 1500000000LL;
    uint16_t sport = 1000;
    for (int h = 0; h < 5; h++)
        for (int k = 0; k < toy_count[h]; k++) {
            vf_record r;
            memset(&r, 0, sizeof r);
            vf_addr_from_v4(&r.src, toy_src[h]);
            vf_addr_from_v4(&r.dst, toy_dst[(h + k) % 3]);
            r.ip_version = 4;
            r.sport = sport++;
            r.dport = 443;
            r.proto = 6;
            r.pkts = 1 + (uint64_t)k % 7;
            r.bytes = 60 * r.pkts;
            r.dur_ns = 1000;
            r.label = -1;
            r.ts_ns = ts;
            ts += 1000000;
            cr_assert_eq(vf_trace_append(t, &r), VF_OK);
        }
}

/* The default flow fields with srcip/dstip encoded `enc` and decoded `dec`. */
static void toy_desc(vf_data_desc *dd, vf_encoding enc, vf_ip_decode dec, int top) {
    vf_data_desc_default(VF_TRACE_FLOWS, dd);
    dd->n_chunks = 1;
    dd->w2v_epochs = 1;
    for (int i = 0; i < dd->n_fields; i++)
        if (dd->fields[i].field == VF_F_SRCIP || dd->fields[i].field == VF_F_DSTIP) {
            dd->fields[i].enc = enc;
            dd->fields[i].decode = dec;
            dd->fields[i].top = top;
        }
}

/* offset of the first attribute segment of field f (and its total width) */
static int attr_offset(const vf_encoder *e, vf_field f, int *width) {
    int off = -1;
    *width = 0;
    for (int s = 0; s < e->n_attr_segs; s++)
        if (e->attr_segs[s].field == (int)f) {
            if (off < 0) off = e->attr_segs[s].offset;
            *width += e->attr_segs[s].width;
        }
    return off;
}

/* Records of d sorted as t's (decode emits flows in order of first
 * appearance; the toy trace has one record per flow, in time order). */
static void assert_same_addresses(const vf_trace *t, const vf_trace *d) {
    cr_assert_eq(d->n, t->n);
    for (size_t i = 0; i < t->n; i++) {
        cr_assert(!memcmp(&t->recs[i].src, &d->recs[i].src, sizeof(vf_addr)), "record %zu: source", i);
        cr_assert(!memcmp(&t->recs[i].dst, &d->recs[i].dst, sizeof(vf_addr)), "record %zu: destination", i);
    }
}

static void round_trip(vf_encoding enc, vf_ip_decode dec, int top) {
    vf_trace t, d;
    toy_trace(&t);
    vf_data_desc dd;
    toy_desc(&dd, enc, dec, top);
    vf_encoder e;
    cr_assert_eq(vf_encoder_fit(&dd, &t, &e), VF_OK, "%s", vf_last_error());
    vf_encoded *ch;
    cr_assert_eq(vf_encode(&e, &t, &ch), VF_OK, "%s", vf_last_error());
    memset(&d, 0, sizeof d);
    cr_assert_eq(vf_decode(&e, ch, 1, &d), VF_OK, "%s", vf_last_error());
    assert_same_addresses(&t, &d);
    vf_trace_free(&d);
    vf_encoded_free(ch, 1);
    vf_encoder_free(&e);
    vf_trace_free(&t);
}

Test(trace_ipaddr, round_trips) {
    round_trip(VF_ENC_BITS, VF_IPDEC_BITS, 64);
    round_trip(VF_ENC_BITS, VF_IPDEC_TREE, 64);
    round_trip(VF_ENC_DICT, VF_IPDEC_BITS, 64);  /* every address has a class */
    round_trip(VF_ENC_DICT, VF_IPDEC_BITS, 2);   /* 3 of 5 sources are "other": their bits */
    round_trip(VF_ENC_DICT, VF_IPDEC_TREE, 2);   /* "other" by the tree over the unclassed */
    round_trip(VF_ENC_BITS, VF_IPDEC_TREE_NEW, 64);
    round_trip(VF_ENC_DICT, VF_IPDEC_TREE_NEW, 2);
}

/* tree_new's share of new addresses is Good-Turing's: records of addresses
 * seen once over records (of the addresses without a dict class). */
Test(trace_ipaddr, tree_new_rate) {
    vf_trace t;
    toy_trace(&t);
    for (int k = 0; k < 13; k++) { /* 13 sources seen once each */
        vf_record r = t.recs[0];
        vf_addr_from_v4(&r.src, 0x64400000u + (uint32_t)k);
        r.sport = (uint16_t)(20000 + k);
        cr_assert_eq(vf_trace_append(&t, &r), VF_OK);
    }
    vf_data_desc dd;
    toy_desc(&dd, VF_ENC_BITS, VF_IPDEC_TREE_NEW, 64);
    vf_encoder e;
    cr_assert_eq(vf_encoder_fit(&dd, &t, &e), VF_OK, "%s", vf_last_error());
    cr_assert_eq(e.ips[0].n, 18);
    cr_assert_float_eq(e.ips[0].p_new, 13.0 / 100.0, 1e-12);
    cr_assert_float_eq(e.ips[1].p_new, 0.0, 1e-12); /* 3 destinations, all recurring */
    vf_encoder_free(&e);
    /* dict: the classed addresses leave the count (top 2: 50 + 20 records) */
    toy_desc(&dd, VF_ENC_DICT, VF_IPDEC_TREE_NEW, 2);
    cr_assert_eq(vf_encoder_fit(&dd, &t, &e), VF_OK, "%s", vf_last_error());
    cr_assert_float_eq(e.ips[0].p_new, 13.0 / 30.0, 1e-12);
    vf_encoder_free(&e);
    vf_trace_free(&t);
}

/* tree_fresh: a dict class whose address was seen in one training flow
 * stands for the hosts a new sample sees once. With a class for each of the
 * toy's 13 one-flow sources, their rows get fresh addresses (in its /16,
 * none a training address, one per row); without (bits, or "other"), they
 * decode as tree_new does, here to themselves; recurring hosts always do.
 * The flow counts are kept by save/load. */
static void fresh_case(vf_encoding enc, int top, bool expect_fresh) {
    vf_trace t, d;
    toy_trace(&t);
    for (int k = 0; k < 13; k++) { /* 13 sources in one flow each */
        vf_record r = t.recs[0];
        vf_addr_from_v4(&r.src, 0x64400000u + (uint32_t)k);
        r.sport = (uint16_t)(20000 + k);
        cr_assert_eq(vf_trace_append(&t, &r), VF_OK);
    }
    vf_data_desc dd;
    toy_desc(&dd, enc, VF_IPDEC_TREE_FRESH, top);
    vf_encoder e;
    TU_OK(vf_encoder_fit(&dd, &t, &e));
    const vf_addr_table *tb = &e.ips[0];
    cr_assert_eq(tb->n, 18);
    int singles = 0;
    for (int i = 0; i < tb->n; i++) {
        cr_assert_eq(tb->flows[i], tb->count[i], "the toy has one record per flow");
        singles += tb->flows[i] == 1;
    }
    cr_assert_eq(singles, 13);
    vf_encoded *ch;
    TU_OK(vf_encode(&e, &t, &ch));
    memset(&d, 0, sizeof d);
    TU_OK(vf_decode(&e, ch, 1, &d));
    cr_assert_eq(d.n, t.n);
    vf_addr fresh[13];
    int n_fresh = 0;
    for (size_t i = 0; i < t.n; i++) {
        bool single = i >= 87; /* the 87 records of the five recurring hosts come first */
        if (!single || !expect_fresh) {
            cr_assert(!memcmp(&t.recs[i].src, &d.recs[i].src, sizeof(vf_addr)), "record %zu: a recurring host", i);
            continue;
        }
        vf_addr a = d.recs[i].src;
        cr_assert(vf_addr_is_v4(&a));
        cr_assert_eq(a.b[12], 0x64);
        cr_assert_eq(a.b[13], 0x40, "record %zu: the singleton's /16", i);
        for (int k = 0; k < tb->n; k++) cr_assert(memcmp(&tb->addr[k], &a, sizeof a), "record %zu: a training address", i);
        for (int k = 0; k < n_fresh; k++) cr_assert(memcmp(&fresh[k], &a, sizeof a), "record %zu: fresh twice", i);
        fresh[n_fresh++] = a;
    }
    cr_assert_eq(n_fresh, expect_fresh ? 13 : 0);
    /* saved and loaded: the same flow counts, the same decode */
    char path[128];
    snprintf(path, sizeof path, "/tmp/vkflow_fresh_enc_%d.txt", (int)getpid());
    TU_OK(vf_encoder_save(&e, path));
    vf_encoder e2;
    TU_OK(vf_encoder_load(path, &e2));
    for (int i = 0; i < tb->n; i++) cr_assert_eq(e2.ips[0].flows[i], tb->flows[i]);
    vf_trace d2;
    memset(&d2, 0, sizeof d2);
    TU_OK(vf_decode(&e2, ch, 1, &d2));
    for (size_t i = 0; i < d.n; i++) cr_assert(!memcmp(&d.recs[i].src, &d2.recs[i].src, sizeof(vf_addr)), "record %zu", i);
    unlink(path);
    vf_trace_free(&d2);
    vf_encoder_free(&e2);
    vf_trace_free(&d);
    vf_encoded_free(ch, 1);
    vf_encoder_free(&e);
    vf_trace_free(&t);
}
Test(trace_ipaddr, tree_fresh_mints_hosts_for_one_flow_classes) {
    fresh_case(VF_ENC_DICT, 64, true);  /* every address has a class: the class of a singleton */
    fresh_case(VF_ENC_BITS, 64, false); /* no classes: tree_new */
    fresh_case(VF_ENC_DICT, 2, false);  /* the singletons are "other": tree_new */
}

/* class_decode = "quota" (vf_quota_classes): the rows that start a flow get
 * the classes in the training flows' shares. The toy's sources have 50, 20,
 * 10, 5 and 2 one-record flows; with 3 classes, "other" holds 7. Outputs
 * whose argmax is class 0 everywhere but that rank each row's own class
 * second give every row its own class back; a row that does not start a flow
 * (the merge drops it) keeps its outputs. */
Test(trace_ipaddr, class_quota_gives_training_flow_shares) {
    vf_trace t;
    toy_trace(&t);
    vf_data_desc dd;
    toy_desc(&dd, VF_ENC_DICT, VF_IPDEC_TREE, 3);
    dd.fields[0].class_decode = VF_CDEC_QUOTA;
    vf_encoder e;
    TU_OK(vf_encoder_fit(&dd, &t, &e));
    vf_encoded *ch;
    TU_OK(vf_encode(&e, &t, &ch));
    cr_assert_eq(ch[0].n_flows, 87);
    int w, off = attr_offset(&e, VF_F_SRCIP, &w), A = e.attr_dim, tags = A - 2 * (e.n_chunks + 1);
    int own[87];
    for (int r = 0; r < 87; r++) {
        float *p = ch[0].attr + (size_t)r * (size_t)A + off;
        own[r] = 0;
        for (int k = 1; k < 4; k++)
            if (p[k] > p[own[r]]) own[r] = k;
        for (int k = 0; k < 4; k++) p[k] = (k == 0 ? 0.55f : 0.1f) + (k == own[r] ? 0.15f : 0.0f);
    }
    /* row 86 (the last source, "other") as a row the merge drops */
    float *dropped = ch[0].attr + 86 * (size_t)A;
    dropped[tags] = 1;
    dropped[tags + 1] = 0;
    float before[4];
    memcpy(before, dropped + off, sizeof before);
    TU_OK(vf_quota_classes(&e, ch, 1));
    /* 86 rows for 87 training flows: 50, 20, 10, 7 shared by largest remainder are 49, 20, 10, 7 */
    int got[4] = {0}, right = 0;
    for (int r = 0; r < 86; r++) {
        const float *p = ch[0].attr + (size_t)r * (size_t)A + off;
        int k1 = -1;
        for (int k = 0; k < 4; k++) {
            cr_assert(p[k] == 0.0f || p[k] == 1.0f, "row %d: a one-hot", r);
            if (p[k] == 1.0f) { cr_assert_eq(k1, -1, "row %d: one class", r); k1 = k; }
        }
        got[k1]++;
        right += k1 == own[r];
    }
    cr_expect_eq(got[0], 49);
    cr_expect_eq(got[1], 20);
    cr_expect_eq(got[2], 10);
    cr_expect_eq(got[3], 7);
    cr_expect_eq(right, 85, "every row its own class, but one of class 0's 50 (%d)", right);
    cr_expect(!memcmp(before, dropped + off, sizeof before), "a row the merge drops keeps its outputs");
    /* argmax would have put all 86 in class 0 */
    vf_encoded_free(ch, 1);
    vf_encoder_free(&e);
    vf_trace_free(&t);
}

/* e saved to a temporary file (its name into path[128]) and loaded into
 * *back, which the caller checks and frees. */
static void save_and_load(const vf_encoder *e, char *path, vf_encoder *back) {
    static int n;
    snprintf(path, 128, "/tmp/vkflow_ipenc_%d_%d.txt", (int)getpid(), n++);
    TU_OK(vf_encoder_save(e, path));
    TU_OK(vf_encoder_load(path, back));
}

/* A privacy run on the public run's encoder file path, with a description
 * that asks for another decode, is refused saying why. */
static void adoption_refused(const char *path, const vf_data_desc *dd, const vf_trace *t, const char *why) {
    vf_encoder e;
    cr_assert_neq(vf_encoder_adopt_public(path, dd, t, &e), VF_OK);
    cr_expect(strstr(vf_last_error(), why), "%s", vf_last_error());
}

/* More classes than the candidates kept per row (the toy plus 13 one-flow
 * sources: 18 classes and "other"), outputs at random, twice as many rows as
 * training flows: every class gets twice its training flows, nothing left
 * unassigned; saved and loaded, the encoder keeps class_decode, and a
 * privacy run must ask for the same. */
Test(trace_ipaddr, class_quota_with_many_classes_and_more_rows) {
    vf_trace t;
    toy_trace(&t);
    for (int k = 0; k < 13; k++) {
        vf_record r = t.recs[0];
        vf_addr_from_v4(&r.src, 0x64400000u + (uint32_t)k);
        r.sport = (uint16_t)(20000 + k);
        TU_OK(vf_trace_append(&t, &r));
    }
    vf_data_desc dd;
    toy_desc(&dd, VF_ENC_DICT, VF_IPDEC_TREE_NEW, 64);
    dd.fields[0].class_decode = VF_CDEC_QUOTA;
    vf_encoder e;
    TU_OK(vf_encoder_fit(&dd, &t, &e));
    const vf_addr_table *tb = &e.ips[0];
    cr_assert_eq(tb->n_dict, 18);
    vf_encoded *ch;
    TU_OK(vf_encode(&e, &t, &ch));
    int n = ch[0].n_flows, A = e.attr_dim, w, off = attr_offset(&e, VF_F_SRCIP, &w);
    float *twice = malloc(2 * (size_t)n * (size_t)A * sizeof *twice);
    cr_assert(twice);
    memcpy(twice, ch[0].attr, (size_t)n * (size_t)A * sizeof *twice);
    memcpy(twice + (size_t)n * (size_t)A, ch[0].attr, (size_t)n * (size_t)A * sizeof *twice);
    free(ch[0].attr);
    ch[0].attr = twice;
    tu_rng rng = tu_rng_make(3);
    for (int r = 0; r < 2 * n; r++)
        for (int k = 0; k <= tb->n_dict; k++) twice[(size_t)r * (size_t)A + (size_t)off + (size_t)k] = tu_uniform(&rng, 0, 1);
    vf_encoded two = ch[0];
    two.n_flows = 2 * n;
    TU_OK(vf_quota_classes(&e, &two, 1));
    int got[19] = {0}, total = 0;
    for (int r = 0; r < 2 * n; r++)
        for (int k = 0; k <= tb->n_dict; k++) got[k] += twice[(size_t)r * (size_t)A + (size_t)off + (size_t)k] == 1.0f;
    for (int k = 0; k < tb->n_dict; k++) cr_expect_eq(got[k], 2 * (int)tb->flows[tb->dict[k]], "class %d", k);
    for (int k = 0; k <= tb->n_dict; k++) total += got[k];
    cr_expect_eq(got[tb->n_dict], 0, "every source has a class: none is other");
    cr_expect_eq(total, 2 * n);
    char path[128];
    vf_encoder e2;
    save_and_load(&e, path, &e2);
    cr_expect_eq(e2.fields[0].class_decode, VF_CDEC_QUOTA);
    cr_expect_eq(e2.fields[1].class_decode, VF_CDEC_ARGMAX);
    vf_encoder_free(&e2);
    /* a privacy run takes the public run's flow counts, and the same class_decode */
    TU_OK(vf_encoder_adopt_public(path, &dd, &t, &e2));
    for (int i = 0; i < tb->n; i++) cr_expect_eq(e2.ips[0].flows[i], tb->flows[i]);
    vf_encoder_free(&e2);
    dd.fields[0].class_decode = VF_CDEC_ARGMAX;
    adoption_refused(path, &dd, &t, "has class_decode quota in the public run and argmax here");
    unlink(path);
    vf_encoded_free(ch, 1);
    vf_encoder_free(&e);
    vf_trace_free(&t);
}

/* A decoded trace for vf_host_popularity: flow k has size[k] records and
 * source src[k] (destination 8.8.8.8), its records interleaved with the
 * other flows' (round robin), rec_id[i] the flow of record i. */
static void popularity_trace(int n_flows, const int *size, const vf_addr *src, vf_trace *t, int64_t *rec_id) {
    memset(t, 0, sizeof *t);
    t->kind = VF_TRACE_FLOWS;
    t->linktype = -1;
    int left[128], more = 1;
    cr_assert(n_flows <= 128);
    memcpy(left, size, (size_t)n_flows * sizeof *left);
    while (more) {
        more = 0;
        for (int k = 0; k < n_flows; k++) {
            if (!left[k]) continue;
            left[k]--;
            more = 1;
            vf_record r;
            memset(&r, 0, sizeof r);
            r.src = src[k];
            vf_addr_from_v4(&r.dst, 0x08080808);
            r.ip_version = vf_addr_is_v4(&src[k]) ? 4 : 6;
            r.sport = (uint16_t)(2000 + k);
            r.dport = 443;
            r.proto = 6;
            r.pkts = 1;
            r.label = -1;
            r.ts_ns = (int64_t)t->n * 1000;
            rec_id[t->n] = k;
            TU_OK(vf_trace_append(t, &r));
        }
    }
}

/* Records per source in t, sorted down (n[0..*hosts)), and whether every
 * record of a flow has the same source. */
static bool popularity_curve(const vf_trace *t, const int64_t *rec_id, int *n, int *hosts) {
    vf_addr seen[128], first[128];
    bool have[128] = {false}, same = true;
    *hosts = 0;
    for (size_t i = 0; i < t->n; i++) {
        int64_t id = rec_id[i];
        if (!have[id]) { have[id] = true; first[id] = t->recs[i].src; }
        same &= !memcmp(&first[id], &t->recs[i].src, sizeof(vf_addr));
        int h = 0;
        while (h < *hosts && memcmp(&seen[h], &t->recs[i].src, sizeof(vf_addr))) h++;
        if (h == *hosts) { seen[h] = t->recs[i].src; n[h] = 0; (*hosts)++; }
        n[h]++;
    }
    for (int a = 0; a < *hosts; a++) /* sort down */
        for (int b = a + 1; b < *hosts; b++)
            if (n[b] > n[a]) { int x = n[a]; n[a] = n[b]; n[b] = x; }
    return same;
}

/* A training trace *lt of like's records whose source host h (address base
 * + h) has per_host[h] records, in one flow (one_flow) or one flow each,
 * and its encoder *le with srcip popularity training. */
static void popularity_training(const vf_record *like, const int *per_host, int n_hosts, uint32_t base, bool one_flow,
                                vf_trace *lt, vf_encoder *le) {
    memset(lt, 0, sizeof *lt);
    lt->kind = VF_TRACE_FLOWS;
    lt->linktype = -1;
    for (int h = 0, k = 0; h < n_hosts; h++)
        for (int j = 0; j < per_host[h]; j++, k++) {
            vf_record r = *like;
            vf_addr_from_v4(&r.src, base + (uint32_t)h);
            r.sport = (uint16_t)(one_flow ? 5000 + h : 6000 + k);
            r.ts_ns = like->ts_ns + k;
            TU_OK(vf_trace_append(lt, &r));
        }
    vf_data_desc ld;
    toy_desc(&ld, VF_ENC_DICT, VF_IPDEC_TREE_NEW, 3);
    ld.fields[0].popularity = VF_POP_TRAINING;
    TU_OK(vf_encoder_fit(&ld, lt, le));
}

/* popularity = "training": the toy's sources (50, 20, 10, 5, 2 records) as
 * the curve; the "model" put 82 records (17 flows of 3, 31 of 1) on one
 * host and 5 one-record flows on a new one. The busy host keeps slot 1 and
 * 17 flows (51 records: the 17th's half still fits), one record over its
 * room, which the other slots give back in proportion to their room (15,
 * 10, 5, 2 become 31/32 of that); the new one keeps slot 2; the 31 flows
 * left go, one by one, to the slot with the most room, and the slots past
 * the model's two hosts take the busiest training addresses neither has. A
 * flow keeps one address; destinations stay. */
Test(trace_ipaddr, popularity_follows_the_training_curve) {
    vf_trace t;
    toy_trace(&t);
    vf_data_desc dd;
    toy_desc(&dd, VF_ENC_DICT, VF_IPDEC_TREE_NEW, 3);
    dd.fields[0].popularity = VF_POP_TRAINING;
    vf_encoder e;
    TU_OK(vf_encoder_fit(&dd, &t, &e));
    int size[53];
    vf_addr src[53], busy, fresh;
    vf_addr_from_v4(&busy, toy_src[0]);
    vf_addr_from_v4(&fresh, 0x09090909);
    for (int k = 0; k < 53; k++) {
        size[k] = k < 17 ? 3 : 1;
        src[k] = k >= 48 ? fresh : busy;
    }
    vf_trace s;
    int64_t rec_id[128];
    popularity_trace(53, size, src, &s, rec_id);
    cr_assert_eq(s.n, 87);
    vf_popularity_stats ps;
    TU_OK(vf_host_popularity(&e, &s, rec_id, 53, NULL, &ps));
    cr_expect_eq(ps.fields, 1);
    cr_expect_eq(ps.hosts_before, 2);
    cr_expect_eq(ps.hosts_after, 5);
    cr_expect_eq(ps.flows_moved, 31);
    int n[128], hosts;
    cr_expect(popularity_curve(&s, rec_id, n, &hosts), "every record of a flow has its flow's source");
    cr_assert_eq(hosts, 5);
    int want[5] = {51, 19, 10, 5, 2};
    for (int h = 0; h < 5; h++) cr_expect_eq(n[h], want[h], "host %d: %d records, %d expected", h, n[h], want[h]);
    /* the slots' addresses: the model's two, then 10.0.0.3, 10.0.1.7, 192.168.3.4 by training rank */
    uint32_t slot_addr[5] = {toy_src[0], 0x09090909, toy_src[1], toy_src[2], toy_src[3]};
    int got[5] = {0};
    for (size_t i = 0; i < s.n; i++) {
        for (int h = 0; h < 5; h++) got[h] += vf_addr_v4(&s.recs[i].src) == slot_addr[h];
        cr_expect_eq(vf_addr_v4(&s.recs[i].dst), 0x08080808u, "destinations stay");
    }
    for (int h = 0; h < 5; h++) cr_expect_eq(got[h], want[h], "slot %d", h);
    vf_trace_free(&s);

    /* the same flows, the new host's 5 outside the chunk's window (the
     * records the pipeline drops): they count for nothing and keep their
     * address; the 82 others follow the curve scaled to 82 (47.1, 18.9,
     * 9.4, 4.7, 1.9): the busy host keeps 48, 0.9 over its room, which the
     * others give back in proportion (18.4, 9.2, 4.6, 1.9), and the pool's
     * flow of 3 then its 31 of 1 make 18, 9, 5, 2 */
    popularity_trace(53, size, src, &s, rec_id);
    for (size_t i = 0; i < s.n; i++) s.recs[i].ts_ns = rec_id[i] >= 48 ? e.chunk_begin[1] : e.chunk_begin[0];
    size_t from[2] = {0, s.n};
    TU_OK(vf_host_popularity(&e, &s, rec_id, 53, from, &ps));
    cr_expect_eq(ps.hosts_before, 1);
    int kept[5] = {0}, want_kept[5] = {48, 18, 9, 5, 2};
    for (size_t i = 0; i < s.n; i++) {
        if (rec_id[i] >= 48) {
            cr_expect_eq(vf_addr_v4(&s.recs[i].src), 0x09090909u, "record %zu: outside the window, kept", i);
            continue;
        }
        for (int h = 0; h < 5; h++) kept[h] += vf_addr_v4(&s.recs[i].src) == toy_src[h]; /* one model host: the rest by training rank */
    }
    for (int h = 0; h < 5; h++) cr_expect_eq(kept[h], want_kept[h], "slot %d", h);
    vf_trace_free(&s);

    /* half the records (43 one-record flows on one host): the curve scaled
     * to 24.7, 9.9, 4.9, 2.5, 1.0; an IPv6 flow (no IPv6 training address)
     * keeps its source */
    vf_addr v6;
    memset(&v6, 0, sizeof v6);
    v6.b[0] = 0x20;
    v6.b[1] = 0x01;
    v6.b[15] = 7;
    for (int k = 0; k < 44; k++) {
        size[k] = 1;
        src[k] = k == 43 ? v6 : busy;
    }
    popularity_trace(44, size, src, &s, rec_id);
    TU_OK(vf_host_popularity(&e, &s, rec_id, 44, NULL, &ps));
    cr_expect_eq(ps.hosts_before, 2, "one IPv4 host, one IPv6 host");
    popularity_curve(&s, rec_id, n, &hosts);
    cr_assert_eq(hosts, 6);
    int half[6] = {25, 10, 5, 2, 1, 1};
    for (int h = 0; h < 6; h++) cr_expect_eq(n[h], half[h], "host %d: %d records, %d expected", h, n[h], half[h]);
    cr_expect(!memcmp(&s.recs[43].src, &v6, sizeof v6), "the IPv6 flow keeps its source");
    /* a flow id out of range is refused */
    rec_id[3] = 44;
    cr_expect_eq(vf_host_popularity(&e, &s, rec_id, 44, NULL, &ps), VF_ERR_ARG);
    cr_expect(strstr(vf_last_error(), "flow id 44 of 44"), "%s", vf_last_error());
    vf_trace_free(&s);

    /* a training trace whose records are mostly one long flow (host 0: a
     * 1000-record flow; hosts 1-5: a one-record flow each), and a model that
     * put all 6 flows (20 records and five of 1) on host 0: scaled to 25
     * records, hosts 1-5 would want 0.025 each and get nothing; every
     * training host keeps room for one record (6 synthetic flows for 6
     * training flows), so each one-record flow gets a host of its own */
    {
        vf_trace lt;
        vf_encoder le;
        static const int long_host[6] = {1000, 1, 1, 1, 1, 1};
        popularity_training(&t.recs[0], long_host, 6, 0x0B000000u, true, &lt, &le);
        int lsize[6] = {20, 1, 1, 1, 1, 1};
        vf_addr lsrc[6];
        for (int k = 0; k < 6; k++) vf_addr_from_v4(&lsrc[k], 0x0B000000u);
        popularity_trace(6, lsize, lsrc, &s, rec_id);
        TU_OK(vf_host_popularity(&le, &s, rec_id, 6, NULL, &ps));
        cr_expect_eq(ps.hosts_before, 1);
        cr_expect_eq(ps.hosts_after, 6);
        cr_expect(popularity_curve(&s, rec_id, n, &hosts));
        cr_expect_eq(hosts, 6);
        cr_expect_eq(n[0], 20, "the long flow keeps the busy host (%d)", n[0]);
        for (size_t i = 0; i < s.n; i++)
            if (rec_id[i] == 0) cr_expect_eq(vf_addr_v4(&s.recs[i].src), 0x0B000000u);
        vf_trace_free(&s);
        vf_encoder_free(&le);
        vf_trace_free(&lt);
    }

    /* a long flow that takes the room of every slot below it: training hosts
     * of 10, 3, 1, 1, 1 one-record flows; the model's host X has a flow of 12
     * records, host Y three of 1. Scaled to 15 records (room for at least
     * 4/16 each): 9.4, 2.8, 0.94, 0.94, 0.94. X keeps its flow (2.6 over its
     * room), Y all three (0.2 over); the slots below give that back and are
     * left with no room and no flow. Each of them wants about a record, so
     * they take Y's smallest flows while Y has two: 4 hosts of 12, 1, 1, 1
     * (without it, 2 of 12 and 3) */
    {
        vf_trace lt;
        vf_encoder le;
        static const int per_host[5] = {10, 3, 1, 1, 1};
        popularity_training(&t.recs[0], per_host, 5, 0x0C000000u, false, &lt, &le);
        int lsize[4] = {12, 1, 1, 1};
        vf_addr lsrc[4];
        vf_addr_from_v4(&lsrc[0], 0x0D000001u);
        for (int k = 1; k < 4; k++) vf_addr_from_v4(&lsrc[k], 0x0D000002u);
        popularity_trace(4, lsize, lsrc, &s, rec_id);
        TU_OK(vf_host_popularity(&le, &s, rec_id, 4, NULL, &ps));
        cr_expect_eq(ps.hosts_before, 2);
        cr_expect_eq(ps.hosts_after, 4);
        cr_expect(popularity_curve(&s, rec_id, n, &hosts));
        cr_assert_eq(hosts, 4);
        const int want_long[4] = {12, 1, 1, 1};
        for (int h = 0; h < 4; h++) cr_expect_eq(n[h], want_long[h], "host %d: %d records", h, n[h]);
        for (size_t i = 0; i < s.n; i++)
            if (rec_id[i] == 0) cr_expect_eq(vf_addr_v4(&s.recs[i].src), 0x0D000001u, "the long flow keeps its host");
        vf_trace_free(&s);
        vf_encoder_free(&le);
        vf_trace_free(&lt);
    }

    /* saved and loaded, the encoder keeps it; a privacy run must ask for the same */
    char path[128];
    vf_encoder e2;
    save_and_load(&e, path, &e2);
    cr_expect_eq(e2.fields[0].popularity, VF_POP_TRAINING);
    cr_expect_eq(e2.fields[1].popularity, VF_POP_MODEL);
    vf_encoder_free(&e2);
    TU_OK(vf_encoder_adopt_public(path, &dd, &t, &e2));
    vf_encoder_free(&e2);
    dd.fields[0].popularity = VF_POP_MODEL;
    adoption_refused(path, &dd, &t, "has popularity training in the public run and model here");
    /* a field without it leaves the trace as it is */
    e.fields[0].popularity = VF_POP_MODEL;
    popularity_trace(44, size, src, &s, rec_id);
    TU_OK(vf_host_popularity(&e, &s, rec_id, 44, NULL, &ps));
    cr_expect_eq(ps.fields, 0);
    for (size_t i = 0; i < s.n; i++) cr_expect(!memcmp(&s.recs[i].src, &src[rec_id[i]], sizeof(vf_addr)));
    vf_trace_free(&s);
    unlink(path);
    vf_encoder_free(&e);
    vf_trace_free(&t);
}

Test(trace_ipaddr, dict_layout_and_classes) {
    vf_trace t;
    toy_trace(&t);
    vf_data_desc dd;
    toy_desc(&dd, VF_ENC_DICT, VF_IPDEC_TREE, 3);
    vf_encoder e;
    cr_assert_eq(vf_encoder_fit(&dd, &t, &e), VF_OK, "%s", vf_last_error());
    /* srcip: 3 classes + other, then 32 bits; dstip: all 3 destinations + other */
    cr_assert_eq(e.ips[0].n, 5);
    cr_assert_eq(e.ips[0].n_dict, 3);
    cr_assert_eq(e.ips[1].n, 3);
    cr_assert_eq(e.ips[1].n_dict, 3);
    int w;
    cr_assert_eq(attr_offset(&e, VF_F_SRCIP, &w), 0);
    cr_assert_eq(w, 4 + 64);
    cr_assert_eq(e.attr_segs[0].width, 4);
    cr_assert_eq(e.attr_segs[0].kind, VF_SEG_SOFTMAX);
    /* class k is the k-th most frequent address */
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(vf_addr_v4(&e.ips[0].addr[e.ips[0].dict[k]]), toy_src[k]);
        cr_assert_eq(e.ips[0].count[e.ips[0].dict[k]], (uint32_t)toy_count[k]);
    }
    /* the last two sources encode as "other" */
    vf_encoded *ch;
    cr_assert_eq(vf_encode(&e, &t, &ch), VF_OK);
    for (int r = 0; r < ch[0].n_flows; r++) {
        const float *A = ch[0].attr + (size_t)r * (size_t)e.attr_dim;
        uint32_t src = vf_addr_v4(&t.recs[r].src);
        int want = src == toy_src[0] ? 0 : src == toy_src[1] ? 1 : src == toy_src[2] ? 2 : 3;
        for (int k = 0; k < 4; k++) cr_assert_eq(A[k], k == want ? 1.0f : 0.0f, "row %d class %d", r, k);
    }
    vf_encoded_free(ch, 1);
    vf_encoder_free(&e);
    vf_trace_free(&t);
}

/* Generated bit probabilities near the real hosts: every bit of each row's
 * source gets p(right) drawn in [0.55, 0.95] and, with probability 0.15, is
 * flipped to p(right) in [0.3, 0.45] (a generator's uncertain low bits).
 * Returns the number of distinct decoded sources and how many rows decoded
 * to the row's own host. */
static void noisy_decode(vf_ip_decode dec, int *distinct, int *exact, int counts[5]) {
    vf_trace t, d;
    toy_trace(&t);
    vf_data_desc dd;
    toy_desc(&dd, VF_ENC_BITS, dec, 64);
    vf_encoder e;
    cr_assert_eq(vf_encoder_fit(&dd, &t, &e), VF_OK, "%s", vf_last_error());
    vf_encoded *ch;
    cr_assert_eq(vf_encode(&e, &t, &ch), VF_OK);
    int w, off = attr_offset(&e, VF_F_SRCIP, &w);
    cr_assert_eq(w, 64);
    tu_rng rng = tu_rng_make(7);
    for (int r = 0; r < ch[0].n_flows; r++) {
        float *A = ch[0].attr + (size_t)r * (size_t)e.attr_dim + off;
        for (int b = 0; b < 32; b++) {
            int bit = A[2 * b + 1] > 0.5f;
            float p = tu_uniform(&rng, 0, 1) < 0.15f ? tu_uniform(&rng, 0.3f, 0.45f) : tu_uniform(&rng, 0.55f, 0.95f);
            A[2 * b + bit] = p;
            A[2 * b + 1 - bit] = 1 - p;
        }
    }
    memset(&d, 0, sizeof d);
    cr_assert_eq(vf_decode(&e, ch, 1, &d), VF_OK, "%s", vf_last_error());
    cr_assert_eq(d.n, t.n);
    *distinct = 0;
    *exact = 0;
    memset(counts, 0, 5 * sizeof *counts);
    for (size_t i = 0; i < d.n; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) seen = !memcmp(&d.recs[j].src, &d.recs[i].src, sizeof(vf_addr));
        *distinct += !seen;
        *exact += !memcmp(&d.recs[i].src, &t.recs[i].src, sizeof(vf_addr));
        for (int h = 0; h < 5; h++) counts[h] += vf_addr_v4(&d.recs[i].src) == toy_src[h];
    }
    vf_trace_free(&d);
    vf_encoded_free(ch, 1);
    vf_encoder_free(&e);
    vf_trace_free(&t);
}

Test(trace_ipaddr, tree_keeps_few_hosts_and_their_popularity) {
    int distinct, exact, counts[5];
    /* bit by bit: one wrong bit in 0.15 of 32 makes nearly every row a new address */
    noisy_decode(VF_IPDEC_BITS, &distinct, &exact, counts);
    cr_assert_gt(distinct, 50, "bits: %d distinct sources", distinct);
    cr_assert_lt(exact, 10, "bits: %d of 87 exact", exact);
    /* the tree: only the 5 training hosts, nearly all rows their own */
    noisy_decode(VF_IPDEC_TREE, &distinct, &exact, counts);
    cr_assert_leq(distinct, 5, "tree: %d distinct sources", distinct);
    cr_assert_geq(exact, 75, "tree: %d of 87 exact", exact);
    int total = 0;
    for (int h = 0; h < 5; h++) total += counts[h];
    cr_assert_eq(total, 87, "every decoded source is a training host");
    /* the skew survives: counts in the real order, each within 8 of the
     * real (10.0.0.1 and 10.0.0.3 are one bit apart, so a flipped bit moves
     * a few of the first host's rows to the second) */
    for (int h = 0; h < 5; h++)
        cr_assert_leq(abs(counts[h] - toy_count[h]), 8, "host %d: %d records (real %d)", h, counts[h], toy_count[h]);
    for (int h = 1; h < 5; h++) cr_assert_geq(counts[h - 1], counts[h]);
}

/* A confident generator near an unseen address: the tree snaps it to the
 * nearest training address, bits keep it. */
Test(trace_ipaddr, unseen_address) {
    vf_trace t, d;
    toy_trace(&t);
    vf_data_desc dd;
    toy_desc(&dd, VF_ENC_BITS, VF_IPDEC_TREE, 64);
    vf_encoder e;
    cr_assert_eq(vf_encoder_fit(&dd, &t, &e), VF_OK, "%s", vf_last_error());
    vf_addr_from_v4(&t.recs[0].src, 0xC0A80305); /* 192.168.3.5: one bit from 192.168.3.4 */
    vf_encoded *ch;
    cr_assert_eq(vf_encode(&e, &t, &ch), VF_OK);
    memset(&d, 0, sizeof d);
    cr_assert_eq(vf_decode(&e, ch, 1, &d), VF_OK);
    cr_assert_eq(vf_addr_v4(&d.recs[0].src), 0xC0A80304);
    vf_trace_free(&d);
    e.fields[0].decode = VF_IPDEC_BITS;
    memset(&d, 0, sizeof d);
    cr_assert_eq(vf_decode(&e, ch, 1, &d), VF_OK);
    cr_assert_eq(vf_addr_v4(&d.recs[0].src), 0xC0A80305);
    vf_trace_free(&d);
    vf_encoded_free(ch, 1);
    vf_encoder_free(&e);
    vf_trace_free(&t);
}

Test(trace_ipaddr, save_load) {
    vf_trace t;
    toy_trace(&t);
    vf_data_desc dd;
    toy_desc(&dd, VF_ENC_DICT, VF_IPDEC_TREE, 2);
    dd.fields[1].enc = VF_ENC_BITS; /* dstip: bits + tree */
    vf_encoder e, e2;
    cr_assert_eq(vf_encoder_fit(&dd, &t, &e), VF_OK, "%s", vf_last_error());
    char path[128];
    snprintf(path, sizeof path, "/tmp/vkflow_ipenc_%d.txt", (int)getpid());
    cr_assert_eq(vf_encoder_save(&e, path), VF_OK, "%s", vf_last_error());
    cr_assert_eq(vf_encoder_load(path, &e2), VF_OK, "%s", vf_last_error());
    cr_assert_eq(e2.attr_dim, e.attr_dim);
    cr_assert_eq(e2.n_attr_segs, e.n_attr_segs);
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(e2.ips[k].n, e.ips[k].n);
        cr_assert_eq(e2.ips[k].n_dict, e.ips[k].n_dict);
        cr_assert(!memcmp(e2.ips[k].addr, e.ips[k].addr, (size_t)e.ips[k].n * sizeof(vf_addr)));
        cr_assert(!memcmp(e2.ips[k].count, e.ips[k].count, (size_t)e.ips[k].n * sizeof(uint32_t)));
        cr_assert(!memcmp(e2.ips[k].dict, e.ips[k].dict, (size_t)e.ips[k].n_dict * sizeof(int)));
    }
    cr_assert_eq(e2.fields[0].enc, VF_ENC_DICT);
    cr_assert_eq(e2.fields[0].decode, VF_IPDEC_TREE);
    cr_assert_eq(e2.fields[0].top, 2);
    cr_assert_eq(e2.fields[1].enc, VF_ENC_BITS);
    cr_assert_eq(e2.fields[1].decode, VF_IPDEC_TREE);
    vf_encoded *ch;
    cr_assert_eq(vf_encode(&e2, &t, &ch), VF_OK);
    vf_trace d;
    memset(&d, 0, sizeof d);
    cr_assert_eq(vf_decode(&e2, ch, 1, &d), VF_OK);
    assert_same_addresses(&t, &d);
    vf_trace_free(&d);
    vf_encoded_free(ch, 1);
    /* an address table out of order is refused naming the file */
    size_t n;
    char *text = tu_read_file(path, &n);
    cr_assert(text);
    char *ips = strstr(text, "\nips 5\n");
    cr_assert(ips, "the source table");
    char *a0 = ips + 7, *a1 = strchr(a0, '\n') + 1;
    char tmp[64];
    memcpy(tmp, a0, 32);
    memcpy(a0, a1, 32);
    memcpy(a1, tmp, 32);
    tu_write_resummed(path, text);
    cr_assert_eq(vf_encoder_load(path, &e2), VF_ERR_FORMAT);
    cr_assert(strstr(vf_last_error(), path) && strstr(vf_last_error(), "addresses not ascending"), "%s",
              vf_last_error());
    free(text);
    unlink(path);
    vf_encoder_free(&e);
    vf_trace_free(&t);
}

static void desc_error(const char *cfg, const char *needle) {
    vf_data_desc dd;
    vf_status st = vf_data_desc_parse_string("bad.cfg", cfg, &dd);
    cr_assert_eq(st, VF_ERR_FORMAT, "accepted: %s", cfg);
    cr_assert(strstr(vf_last_error(), needle), "message '%s' lacks '%s'", vf_last_error(), needle);
}

Test(trace_ipaddr, data_desc) {
    vf_data_desc dd;
    cr_assert_eq(vf_data_desc_parse_string("ok.cfg",
        "data = { path = \"x\"; fields = ( { name = \"srcip\"; encoding = \"dict\"; top = 16; decode = \"tree\"; },\n"
        "  { name = \"dstip\"; encoding = \"bits\"; decode = \"tree\"; } ); };", &dd), VF_OK, "%s", vf_last_error());
    cr_assert_eq(dd.fields[0].enc, VF_ENC_DICT);
    cr_assert_eq(dd.fields[0].top, 16);
    cr_assert_eq(dd.fields[0].decode, VF_IPDEC_TREE);
    cr_assert_eq(dd.fields[1].enc, VF_ENC_BITS);
    cr_assert_eq(dd.fields[1].decode, VF_IPDEC_TREE);
    desc_error("data = { path = \"x\";\n fields = ( { name = \"srcip\"; encoding = \"bits\"; decode = \"nearest\"; } ); };",
               "bad.cfg:2: fields: 'srcip': decode 'nearest': expected bits, tree, tree_new or tree_fresh");
    desc_error("data = { path = \"x\";\n\n fields = ( { name = \"srcport\"; encoding = \"onehot\"; decode = \"tree\"; } ); };",
               "bad.cfg:3: fields: 'srcport': decode applies to srcip/dstip and to encoding quantile only");
    desc_error("data = { path = \"x\";\n fields = ( { name = \"srcip\"; encoding = \"bits\"; top = 8; } ); };",
               "bad.cfg:2: fields: 'srcip': top applies to encoding dict only");
    desc_error("data = { path = \"x\";\n fields = ( { name = \"srcip\"; encoding = \"dict\"; top = 0; } ); };",
               "bad.cfg:2: 'top' = 0 is outside 1..100000");
    desc_error("data = { path = \"x\";\n fields = ( { name = \"pkt\"; encoding = \"dict\"; } ); };",
               "bad.cfg:2: fields: 'pkt': dict is for srcip, dstip, srcport, dstport and proto");
    desc_error("data = { path = \"x\";\n fields = ( { name = \"srcip\"; encoding = \"bits\"; class_decode = \"quota\"; } ); };",
               "bad.cfg:2: fields: 'srcip': class_decode applies to srcip/dstip/srcport/dstport with encoding dict, to proto with word2vec or onehot and to per-record fields with encoding onehot only");
    desc_error("data = { path = \"x\";\n fields = ( { name = \"srcport\"; encoding = \"word2vec\"; class_decode = \"quota\"; } ); };",
               "bad.cfg:2: fields: 'srcport': class_decode applies to srcip/dstip/srcport/dstport with encoding dict, to proto with word2vec or onehot and to per-record fields with encoding onehot only");
    desc_error("data = { path = \"x\";\n fields = ( { name = \"dstip\"; encoding = \"dict\"; class_decode = \"rank\"; } ); };",
               "bad.cfg:2: fields: 'dstip': class_decode 'rank': expected argmax or quota");
    cr_assert_eq(vf_data_desc_parse_string("ok.cfg",
        "data = { path = \"x\"; fields = ( { name = \"dstip\"; encoding = \"dict\"; class_decode = \"quota\"; } ); };",
        &dd), VF_OK, "%s", vf_last_error());
    cr_assert_eq(dd.fields[0].class_decode, VF_CDEC_QUOTA);
    desc_error("data = { path = \"x\";\n fields = ( { name = \"srcport\"; encoding = \"dict\"; popularity = \"training\"; } ); };",
               "bad.cfg:2: fields: 'srcport': popularity applies to srcip/dstip only");
    desc_error("data = { path = \"x\";\n\n fields = ( { name = \"srcip\"; encoding = \"bits\"; popularity = \"rank\"; } ); };",
               "bad.cfg:3: fields: 'srcip': popularity 'rank': expected model or training");
    cr_assert_eq(vf_data_desc_parse_string("ok.cfg",
        "data = { path = \"x\"; fields = ( { name = \"srcip\"; encoding = \"bits\"; popularity = \"training\"; } ); };",
        &dd), VF_OK, "%s", vf_last_error());
    cr_assert_eq(dd.fields[0].popularity, VF_POP_TRAINING);
    cr_assert(vf_field_spec_needs_addr_table(&dd.fields[0]), "bits with popularity training keeps the address table");
}

/* Ports as dict: classes for the `top` most frequent values, the rest
 * through their 16 bits; exact round trip, the same classes from the
 * streaming fit and after save/load. */
Test(trace_ipaddr, port_dict) {
    vf_trace t;
    toy_trace(&t); /* sport 1000..1086 once each, dport 443 always */
    t.recs[3].sport = 1002; /* 1002 twice (another destination than record 2): the most frequent source port */
    vf_data_desc dd;
    toy_desc(&dd, VF_ENC_BITS, VF_IPDEC_BITS, 64);
    for (int i = 0; i < dd.n_fields; i++)
        if (dd.fields[i].field == VF_F_SRCPORT || dd.fields[i].field == VF_F_DSTPORT) {
            dd.fields[i].enc = VF_ENC_DICT;
            dd.fields[i].top = 3;
        }
    vf_encoder e, es, e2;
    cr_assert_eq(vf_encoder_fit(&dd, &t, &e), VF_OK, "%s", vf_last_error());
    /* classes: count down, then value up: 1002 (2 records), then 1000, 1001; kept ascending */
    cr_assert_eq(e.n_vocab[VF_F_SRCPORT], 3);
    cr_assert_eq(e.vocab[VF_F_SRCPORT][0], 1000);
    cr_assert_eq(e.vocab[VF_F_SRCPORT][1], 1001);
    cr_assert_eq(e.vocab[VF_F_SRCPORT][2], 1002);
    cr_assert_eq(e.n_vocab[VF_F_DSTPORT], 1);
    cr_assert_eq(e.vocab[VF_F_DSTPORT][0], 443);
    int w;
    attr_offset(&e, VF_F_SRCPORT, &w);
    cr_assert_eq(w, 3 + 1 + 32);
    attr_offset(&e, VF_F_DSTPORT, &w);
    cr_assert_eq(w, 1 + 1 + 32);
    cr_assert_eq(vf_encoder_fit_stream(&dd, vf_trace_each, &t, &es, NULL), VF_OK, "%s", vf_last_error());
    cr_assert_eq(es.n_vocab[VF_F_SRCPORT], 3);
    cr_assert(!memcmp(es.vocab[VF_F_SRCPORT], e.vocab[VF_F_SRCPORT], 3 * sizeof(uint64_t)));
    char path[128];
    snprintf(path, sizeof path, "/tmp/vkflow_portdict_%d.txt", (int)getpid());
    cr_assert_eq(vf_encoder_save(&e, path), VF_OK, "%s", vf_last_error());
    cr_assert_eq(vf_encoder_load(path, &e2), VF_OK, "%s", vf_last_error());
    unlink(path);
    cr_assert_eq(e2.attr_dim, e.attr_dim);
    cr_assert_eq(e2.n_vocab[VF_F_SRCPORT], 3);
    /* every port comes back: a class or its bits */
    vf_encoded *ch;
    cr_assert_eq(vf_encode(&e2, &t, &ch), VF_OK, "%s", vf_last_error());
    int off = attr_offset(&e2, VF_F_SRCPORT, &w);
    for (int r = 0; r < ch[0].n_flows; r++) {
        const float *A = ch[0].attr + (size_t)r * (size_t)e2.attr_dim + off;
        uint16_t sp = t.recs[r].sport;
        int want = sp == 1000 ? 0 : sp == 1001 ? 1 : sp == 1002 ? 2 : 3;
        for (int k = 0; k < 4; k++) cr_assert_eq(A[k], k == want ? 1.0f : 0.0f, "row %d class %d", r, k);
    }
    vf_trace d;
    memset(&d, 0, sizeof d);
    cr_assert_eq(vf_decode(&e2, ch, 1, &d), VF_OK, "%s", vf_last_error());
    cr_assert_eq(d.n, t.n);
    for (size_t i = 0; i < t.n; i++) {
        cr_assert_eq(d.recs[i].sport, t.recs[i].sport, "record %zu", i);
        cr_assert_eq(d.recs[i].dport, 443);
    }
    vf_trace_free(&d);
    vf_encoded_free(ch, 1);
    vf_encoder_free(&e);
    vf_encoder_free(&es);
    vf_encoder_free(&e2);
    vf_trace_free(&t);
}
