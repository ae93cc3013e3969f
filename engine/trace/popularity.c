/* Host popularity (`popularity = "training"` on srcip / dstip; docs/TRACES.md,
 * "Host popularity"): after decoding, the synthetic trace's records per host
 * follow the training trace's popularity curve.
 *
 * Why a step of its own: the generator makes each flow on its own, so how
 * many flows share a host (a property of the whole trace, not of a flow) is
 * only what the address marginal implies. The curve itself, records per host
 * sorted, is in the encoder's address table; here it is given to the model's
 * own hosts by rank, as decoding by rank gives a field's values to the model's
 * outputs: the model's busiest host gets the training trace's largest count,
 * and its flows stay together as far as that count allows. */
#include "encode.h"
#include "encode_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A synthetic flow of one family: its id, records and (decoded) address. */
typedef struct pop_flow {
    int64_t id, n;
    vf_addr addr;
} pop_flow;

static int flow_by_addr(const void *a, const void *b) {
    const pop_flow *x = a, *y = b;
    int c = memcmp(x->addr.b, y->addr.b, sizeof x->addr.b);
    if (c) return c;
    return (x->id > y->id) - (x->id < y->id);
}

static int flow_by_size(const void *a, const void *b) {
    const pop_flow *x = a, *y = b;
    if (x->n != y->n) return x->n > y->n ? -1 : 1; /* largest first */
    return (x->id > y->id) - (x->id < y->id);
}

/* A synthetic host: its flows flows[begin, end) (sorted by address) and records. */
typedef struct pop_host {
    int64_t begin, end, n;
} pop_host;

/* Busiest first; ties by address (the flows' sort order). */
static int host_by_size(const void *a, const void *b) {
    const pop_host *x = a, *y = b;
    if (x->n != y->n) return x->n > y->n ? -1 : 1;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

/* A training address of one family: its index in the table and records. */
typedef struct pop_train {
    int i;
    uint32_t count;
} pop_train;

static int train_by_count(const void *a, const void *b) {
    const pop_train *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i); /* the table is sorted by address */
}

/* Max-heap of slots by room (target - load); ties to the lower slot. */
typedef struct slot_heap {
    int *slot;
    int n;
    const double *room;
} slot_heap;

static bool heap_above(const slot_heap *h, int a, int b) {
    double ra = h->room[a], rb = h->room[b];
    return ra != rb ? ra > rb : a < b;
}

static void heap_down(slot_heap *h, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, top = i;
        if (l < h->n && heap_above(h, h->slot[l], h->slot[top])) top = l;
        if (r < h->n && heap_above(h, h->slot[r], h->slot[top])) top = r;
        if (top == i) return;
        int t = h->slot[i];
        h->slot[i] = h->slot[top];
        h->slot[top] = t;
        i = top;
    }
}

static bool same_family(const vf_addr *a, bool v4) { return vf_addr_is_v4(a) == v4; }

/* One field, one family: the flows fl[0..nf) get their new addresses in
 * fl[k].addr. tb: the field's training addresses. */
static vf_status remap_family(const vf_addr_table *tb, bool v4, pop_flow *fl, int64_t nf, vf_popularity_stats *ps) {
    vf_status st = VF_OK;
    int H = 0;
    for (int i = 0; i < tb->n; i++) H += same_family(&tb->addr[i], v4);
    if (nf == 0) return VF_OK;
    qsort(fl, (size_t)nf, sizeof *fl, flow_by_addr);
    if (H == 0) { /* no curve for this family: its hosts stay */
        for (int64_t k = 0; k < nf; k++) {
            bool new_host = k == 0 || memcmp(fl[k].addr.b, fl[k - 1].addr.b, sizeof fl[k].addr.b);
            ps->hosts_before += new_host;
            ps->hosts_after += new_host;
        }
        return VF_OK;
    }
    pop_train *train = malloc((size_t)H * sizeof *train);
    pop_host *host = malloc((size_t)nf * sizeof *host);
    double *room = malloc((size_t)H * sizeof *room); /* slot i: its target records minus those given */
    double *want = malloc((size_t)H * sizeof *want); /* slot i: its target records */
    int64_t *flows = calloc((size_t)H, sizeof *flows); /* slot i: its flows */
    int64_t *slot_of = malloc((size_t)nf * sizeof *slot_of); /* by position in fl (sorted by address) */
    int *heap = malloc((size_t)H * sizeof *heap);
    vf_addr *slot_addr = malloc((size_t)H * sizeof *slot_addr);
    bool *slot_used = calloc((size_t)H, sizeof *slot_used);
    pop_flow *pool = malloc((size_t)nf * sizeof *pool);
    if (!train || !host || !room || !want || !flows || !slot_of || !heap || !slot_addr || !slot_used || !pool) {
        st = vf_fail(VF_ERR_OOM, "decode: host popularity: out of memory (%lld flows)", (long long)nf);
        goto done;
    }
    /* the curve: training records per address, largest first, scaled to the synthetic records */
    double total_train = 0, total_syn = 0;
    for (int i = 0, k = 0; i < tb->n; i++)
        if (same_family(&tb->addr[i], v4)) {
            train[k++] = (pop_train){i, tb->count[i]};
            total_train += tb->count[i];
        }
    qsort(train, (size_t)H, sizeof *train, train_by_count);
    for (int64_t k = 0; k < nf; k++) total_syn += (double)fl[k].n;
    /* every training host keeps room for `least` records: 1, or the synthetic flows' share of the
     * training flows when that is smaller. A 5-tuple split leaves both halves about as many hosts
     * as flows allow, while the records can shrink much more when the training trace's are in a
     * few long flows that max_flow_len cuts (IoT-23: the scaled curve left 15 of 28 hosts). */
    double train_flows = 0, least = 0;
    for (int i = 0; tb->flows && i < tb->n; i++)
        if (same_family(&tb->addr[i], v4)) train_flows += tb->flows[i];
    if (train_flows > 0) least = (double)nf < train_flows ? (double)nf / train_flows : 1.0;
    if (least * H >= total_syn) least = 0; /* too few records for that: the plain scaled curve */
    /* the scale s with sum max(s count, least) = total_syn, by bisection (the sum grows with s) */
    double lo = 0, hi = total_train > 0 ? total_syn / total_train : 0;
    for (int it = 0; it < 100 && least > 0; it++) {
        double mid = (lo + hi) / 2, sum = 0;
        for (int i = 0; i < H; i++) sum += fmax(mid * train[i].count, least);
        if (sum < total_syn) lo = mid;
        else hi = mid;
    }
    for (int i = 0; i < H; i++) room[i] = want[i] = fmax(hi * train[i].count, least);
    /* the model's hosts (fl is sorted by address), busiest first */
    int64_t m = 0;
    for (int64_t k = 0; k < nf; k++) {
        if (k == 0 || memcmp(fl[k].addr.b, fl[k - 1].addr.b, sizeof fl[k].addr.b)) host[m++] = (pop_host){k, k, 0};
        host[m - 1].end = k + 1;
        host[m - 1].n += fl[k].n;
    }
    ps->hosts_before += m;
    qsort(host, (size_t)m, sizeof *host, host_by_size);
    /* host h keeps slot h and, largest first, the flows whose half still fits
     * its room; the rest (and every flow of a host past the curve) go to the pool */
    int64_t n_pool = 0;
    for (int64_t h = 0; h < m; h++) {
        int64_t b = host[h].begin, e = host[h].end;
        if (h < H) {
            slot_addr[h] = fl[b].addr;
            slot_used[h] = true;
        }
        /* this host's flows, largest first (pool as scratch; id: the position in fl) */
        int64_t nh = e - b;
        for (int64_t k = 0; k < nh; k++) {
            pool[k] = fl[b + k];
            pool[k].id = b + k;
        }
        qsort(pool, (size_t)nh, sizeof *pool, flow_by_size);
        for (int64_t k = 0; k < nh; k++) {
            int64_t pos = pool[k].id;
            if (h < H && (double)pool[k].n / 2 <= room[h]) {
                slot_of[pos] = h;
                room[h] -= (double)pool[k].n;
            } else {
                slot_of[pos] = -1;
            }
        }
    }
    /* a kept flow larger than its slot's room (up to twice it: a long flow)
     * took records the curve gave other slots; they give them back in
     * proportion to their room, so that the room left is the records left and
     * the smallest slots are not the ones left empty */
    double over = 0, free_room = 0;
    for (int i = 0; i < H; i++) {
        if (room[i] < 0) over -= room[i], room[i] = 0;
        else free_room += room[i];
    }
    if (over > 0 && free_room > 0)
        for (int i = 0; i < H; i++) room[i] *= fmax(0, free_room - over) / free_room;
    for (int64_t k = 0; k < nf; k++)
        if (slot_of[k] < 0) {
            pool[n_pool] = fl[k];
            pool[n_pool].id = k; /* position in fl */
            n_pool++;
        }
    /* the pool, largest flow first, each to the slot with the most room left */
    qsort(pool, (size_t)n_pool, sizeof *pool, flow_by_size);
    slot_heap hp = {heap, H, room};
    for (int i = 0; i < H; i++) heap[i] = i;
    for (int i = H / 2 - 1; i >= 0; i--) heap_down(&hp, i);
    for (int64_t k = 0; k < n_pool; k++) {
        int s = heap[0];
        slot_of[pool[k].id] = s;
        room[s] -= (double)pool[k].n;
        heap_down(&hp, 0);
    }
    /* a slot the curve gives half a record or more that got no flow (its room went
     * to the long flows of the slots above it) takes the smallest flow of a
     * slot with two or more: the hosts are as many as the curve's while the
     * flows allow (IoT-23: 17 of 28 destinations with one seed, 28 with another) */
    for (int64_t k = 0; k < nf; k++) flows[slot_of[k]]++;
    for (int64_t k = 0; k < nf; k++) {
        pool[k] = fl[k];
        pool[k].id = k;
    }
    qsort(pool, (size_t)nf, sizeof *pool, flow_by_size); /* largest first: taken from the end */
    int64_t donor = nf - 1;
    for (int s = 0; s < H && donor >= 0; s++) {
        if (flows[s] || want[s] < 0.5) continue;
        while (donor >= 0 && flows[slot_of[pool[donor].id]] < 2) donor--;
        if (donor < 0) break;
        int64_t k = pool[donor--].id;
        flows[slot_of[k]]--;
        slot_of[k] = s;
        flows[s]++;
    }
    /* slots past the model's hosts: the busiest training addresses no synthetic host has */
    int next = 0;
    for (int s = 0; s < H; s++) {
        if (slot_used[s]) continue;
        bool taken = true;
        while (taken && next < H) {
            pop_flow key = {.addr = tb->addr[train[next].i]};
            key.id = -1;
            /* fl is sorted by (address, id): the first flow of the address, if any, follows key */
            int64_t lo = 0, hi = nf;
            while (lo < hi) {
                int64_t mid = lo + (hi - lo) / 2;
                if (flow_by_addr(&fl[mid], &key) < 0) lo = mid + 1;
                else hi = mid;
            }
            taken = lo < nf && !memcmp(fl[lo].addr.b, key.addr.b, sizeof key.addr.b);
            if (!taken) slot_addr[s] = key.addr;
            next++;
        }
        slot_used[s] = !taken; /* false only if every training address is a synthetic host's (then no flow is here) */
    }
    for (int s = 0; s < H; s++) room[s] = 0; /* reused: flows per slot */
    for (int64_t k = 0; k < nf; k++) {
        int64_t s = slot_of[k];
        if (!slot_used[s]) {
            st = vf_fail(VF_ERR_ARG, "decode: host popularity: slot %lld has flows and no address", (long long)s);
            goto done;
        }
        room[s] += 1;
        if (memcmp(fl[k].addr.b, slot_addr[s].b, sizeof slot_addr[s].b)) ps->flows_moved++;
        fl[k].addr = slot_addr[s];
    }
    for (int s = 0; s < H; s++) ps->hosts_after += room[s] > 0;
done:
    free(train); free(host); free(room); free(want); free(flows); free(slot_of); free(heap);
    free(slot_addr); free(slot_used); free(pool);
    return st;
}

static vf_addr *field_addr(vf_record *r, vf_field f) { return f == VF_F_SRCIP ? &r->src : &r->dst; }

vf_status vf_host_popularity(const vf_encoder *e, vf_trace *t, const int64_t *rec_id, int64_t n_ids,
                             const size_t *from, vf_popularity_stats *stats) {
    memset(stats, 0, sizeof *stats);
    for (size_t i = 0; i < t->n; i++)
        if (rec_id[i] < 0 || rec_id[i] >= n_ids)
            return vf_fail(VF_ERR_ARG, "decode: host popularity: flow id %lld of %lld", (long long)rec_id[i],
                           (long long)n_ids);
    for (int fi = 0; fi < e->n_fields; fi++) {
        const vf_field_spec *s = &e->fields[fi];
        if (s->popularity != VF_POP_TRAINING || !vf_enc_addr_field(s->field)) continue;
        const vf_addr_table *tb = &e->ips[s->field == VF_F_DSTIP];
        if (tb->n == 0 || !tb->count)
            return vf_fail(VF_ERR_FORMAT, "decode: %s: popularity training needs the training addresses' table",
                           vf_field_name(s->field));
        stats->fields++;
        /* each flow's address is its first record's; first[id] = that record + 1 */
        size_t *first = calloc((size_t)n_ids + 1, sizeof *first);
        int64_t *count = calloc((size_t)n_ids + 1, sizeof *count);
        pop_flow *fl = malloc(((size_t)n_ids + 1) * sizeof *fl);
        vf_addr *to = malloc(((size_t)n_ids + 1) * sizeof *to); /* each flow's new address */
        bool *mine = malloc(((size_t)n_ids + 1) * sizeof *mine); /* ... set for this family's flows */
        if (!first || !count || !fl || !to || !mine) {
            free(first); free(count); free(fl); free(to); free(mine);
            return vf_fail(VF_ERR_OOM, "decode: host popularity: out of memory (%lld flows)", (long long)n_ids);
        }
        for (size_t i = 0; i < t->n; i++)
            if (!first[rec_id[i]]) first[rec_id[i]] = i + 1;
        /* the records vf_truncate_windows keeps (in their chunk's window) are the ones counted */
        for (int c = 0; c < (from ? e->n_chunks : 1); c++)
            for (size_t i = from ? from[c] : 0, end = from ? from[c + 1] : t->n; i < end; i++)
                count[rec_id[i]] += !from || vf_in_window(e->chunk_begin, c, t->recs[i].ts_ns);
        vf_status st = VF_OK;
        for (int fam = 0; fam < 2 && !st; fam++) {
            bool v4 = fam == 0;
            int64_t nf = 0;
            for (int64_t id = 0; id < n_ids; id++) {
                if (!count[id]) continue; /* no record, or none kept: its address stays */
                const vf_addr *a = field_addr(&t->recs[first[id] - 1], s->field);
                if (same_family(a, v4)) fl[nf++] = (pop_flow){id, count[id], *a};
            }
            if ((st = remap_family(tb, v4, fl, nf, stats))) break;
            /* fl is now sorted by old address; write each flow's new one to all its records */
            memset(mine, 0, ((size_t)n_ids + 1) * sizeof *mine);
            for (int64_t k = 0; k < nf; k++) {
                to[fl[k].id] = fl[k].addr;
                mine[fl[k].id] = true;
            }
            for (size_t i = 0; i < t->n; i++)
                if (mine[rec_id[i]]) *field_addr(&t->recs[i], s->field) = to[rec_id[i]];
        }
        free(first);
        free(count);
        free(fl);
        free(to);
        free(mine);
        VF_TRY(st);
    }
    return VF_OK;
}
