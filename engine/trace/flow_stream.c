/* Streaming packet -> flow aggregation, as flow exporters (NetFlow, nfpcapd,
 * Argus) do it: a table of live flows keyed by 5-tuple; a flow is emitted
 * when it has been idle longer than the idle timeout, when it has lasted
 * longer than the active timeout (the next packet starts a new record), or
 * at the end of input. Memory is the live-flow table, not the packets.
 *
 * Table: open addressing (linear probing, power-of-two capacity, load <=
 * 1/2, backward-shift deletion) over a pool of entries with a free list.
 * The live flows also sit on a list in order of their last packet (a
 * packet moves its flow to the tail), so idle expiry pops from the head. */
#include "trace/trace_internal.h"

#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX

typedef struct entry {
    vf_flow_key key;
    vf_record flow;   /* ts_ns = first packet; dur_ns = last - first */
    int64_t last_ns;  /* time of the last packet */
    uint32_t prev, next;
} entry;

struct vf_flow_stream {
    vf_flow_timeouts to;
    vf_flow_sink sink;
    void *ctx;
    entry *e;          /* pool [e_cap] */
    uint32_t e_cap, free_head;
    uint32_t *slots;   /* [cap] entry + 1, 0 = empty */
    size_t cap, live;
    uint32_t head, tail; /* by last packet, oldest first */
    vf_flow_stream_stats st;
};



void vf_flow_timeouts_default(vf_flow_timeouts *to) {
    memset(to, 0, sizeof *to);
    to->idle_ns = VF_FLOW_IDLE_DEFAULT_NS;
    to->active_ns = VF_FLOW_ACTIVE_DEFAULT_NS;
}

vf_status vf_flow_stream_new(const vf_flow_timeouts *to, vf_flow_sink sink, void *ctx,
                             vf_flow_stream **out) {
    *out = NULL;
    vf_flow_stream *s = calloc(1, sizeof *s);
    if (!s) return vf_fail(VF_ERR_OOM, "flow stream: out of memory");
    if (to) s->to = *to;
    else vf_flow_timeouts_default(&s->to);
    s->sink = sink;
    s->ctx = ctx;
    s->cap = 1024;
    s->slots = calloc(s->cap, sizeof *s->slots);
    s->e_cap = 512;
    s->e = malloc(s->e_cap * sizeof *s->e);
    if (!s->slots || !s->e) {
        vf_flow_stream_free(s);
        return vf_fail(VF_ERR_OOM, "flow stream: out of memory");
    }
    for (uint32_t i = 0; i < s->e_cap; i++) s->e[i].next = i + 1 < s->e_cap ? i + 1 : NIL;
    s->free_head = 0;
    s->head = s->tail = NIL;
    *out = s;
    return VF_OK;
}

void vf_flow_stream_free(vf_flow_stream *s) {
    if (!s) return;
    free(s->slots);
    free(s->e);
    free(s);
}

const vf_flow_stream_stats *vf_flow_stream_stats_of(const vf_flow_stream *s) { return &s->st; }

static size_t find_slot(const vf_flow_stream *s, const vf_flow_key *k, uint64_t h) {
    size_t j = h & (s->cap - 1);
    while (s->slots[j] && !vf_flow_key_eq(&s->e[s->slots[j] - 1].key, k)) j = (j + 1) & (s->cap - 1);
    return j;
}

static bool grow_slots(vf_flow_stream *s) {
    size_t nc = s->cap * 2;
    uint32_t *ns = calloc(nc, sizeof *ns);
    if (!ns) return false;
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->slots[i]) continue;
        size_t j = vf_flow_key_hash(&s->e[s->slots[i] - 1].key) & (nc - 1);
        while (ns[j]) j = (j + 1) & (nc - 1);
        ns[j] = s->slots[i];
    }
    free(s->slots);
    s->slots = ns;
    s->cap = nc;
    return true;
}

static bool grow_pool(vf_flow_stream *s) {
    if (s->e_cap >= NIL / 2) return false;
    uint32_t nc = s->e_cap * 2;
    entry *ne = realloc(s->e, (size_t)nc * sizeof *ne);
    if (!ne) return false;
    s->e = ne;
    for (uint32_t i = s->e_cap; i < nc; i++) s->e[i].next = i + 1 < nc ? i + 1 : NIL;
    s->free_head = s->e_cap;
    s->e_cap = nc;
    return true;
}

static void unlink_lru(vf_flow_stream *s, uint32_t i) {
    entry *x = &s->e[i];
    if (x->prev != NIL) s->e[x->prev].next = x->next; else s->head = x->next;
    if (x->next != NIL) s->e[x->next].prev = x->prev; else s->tail = x->prev;
}

static void push_tail(vf_flow_stream *s, uint32_t i) {
    entry *x = &s->e[i];
    x->prev = s->tail;
    x->next = NIL;
    if (s->tail != NIL) s->e[s->tail].next = i; else s->head = i;
    s->tail = i;
}

/* Removes entry i from the hash (backward-shift deletion), the list and the
 * pool. */
static void remove_entry(vf_flow_stream *s, uint32_t i) {
    size_t mask = s->cap - 1;
    size_t j = find_slot(s, &s->e[i].key, vf_flow_key_hash(&s->e[i].key));
    s->slots[j] = 0;
    for (size_t k = (j + 1) & mask; s->slots[k]; k = (k + 1) & mask) {
        size_t home = vf_flow_key_hash(&s->e[s->slots[k] - 1].key) & mask;
        /* move k back into the hole j unless its home lies in (j, k] */
        bool stays = j <= k ? (home > j && home <= k) : (home > j || home <= k);
        if (stays) continue;
        s->slots[j] = s->slots[k];
        s->slots[k] = 0;
        j = k;
    }
    unlink_lru(s, i);
    s->e[i].next = s->free_head;
    s->free_head = i;
    s->live--;
}

static vf_status emit(vf_flow_stream *s, uint32_t i, uint64_t *counter) {
    (*counter)++;
    s->st.flows++;
    return s->sink ? s->sink(s->ctx, &s->e[i].flow) : VF_OK;
}

static void start_flow(entry *x, const vf_record *r) {
    vf_flow_record_start(r, &x->flow);
    x->last_ns = r->ts_ns;
}

vf_status vf_flow_stream_expire(vf_flow_stream *s, int64_t now_ns) {
    if (s->to.idle_ns <= 0) return VF_OK;
    while (s->head != NIL && now_ns - s->e[s->head].last_ns > s->to.idle_ns) {
        uint32_t i = s->head;
        vf_status st = emit(s, i, &s->st.by_idle);
        remove_entry(s, i);
        if (st) return st;
    }
    return VF_OK;
}

vf_status vf_flow_stream_add(vf_flow_stream *s, const vf_record *r) {
    s->st.packets++;
    VF_TRY(vf_flow_stream_expire(s, r->ts_ns));
    vf_flow_key k;
    vf_flow_key_of(r, &k);
    uint64_t h = vf_flow_key_hash(&k);
    size_t j = find_slot(s, &k, h);
    bool reverse = false;
    if (!s->slots[j] && s->to.biflow) {
        vf_flow_key rk = k;
        rk.src = k.dst;
        rk.dst = k.src;
        rk.sport = k.dport;
        rk.dport = k.sport;
        size_t rj = find_slot(s, &rk, vf_flow_key_hash(&rk));
        if (s->slots[rj]) { j = rj; reverse = true; }
    }
    if (s->slots[j]) {
        uint32_t i = s->slots[j] - 1;
        entry *x = &s->e[i];
        if (s->to.active_ns > 0 && r->ts_ns - x->flow.ts_ns >= s->to.active_ns) {
            /* active timeout: emit what the flow has so far, start it anew */
            VF_TRY(emit(s, i, &s->st.by_active));
            start_flow(x, r);
            if (reverse) { /* the record keeps the flow's direction (its key) */
                x->flow.src = x->key.src;
                x->flow.dst = x->key.dst;
                x->flow.sport = x->key.sport;
                x->flow.dport = x->key.dport;
            }
        } else {
            if (r->ts_ns < x->flow.ts_ns) { /* out-of-order capture */
                x->flow.dur_ns += x->flow.ts_ns - r->ts_ns;
                x->flow.ts_ns = r->ts_ns;
            }
            if (r->ts_ns > x->last_ns) x->last_ns = r->ts_ns;
            x->flow.dur_ns = x->last_ns - x->flow.ts_ns;
            x->flow.pkts += r->pkts ? r->pkts : 1;
            x->flow.bytes += r->bytes ? r->bytes : r->length;
            x->flow.tcp_flags |= r->tcp_flags;
        }
        if (s->tail != i) { /* a burst of one flow leaves the list alone */
            unlink_lru(s, i);
            push_tail(s, i);
        }
        return VF_OK;
    }
    if (s->free_head == NIL && !grow_pool(s)) return vf_fail(VF_ERR_OOM, "flow stream: out of memory at %zu live flows", s->live);
    if ((s->live + 1) * 2 > s->cap) {
        if (!grow_slots(s)) return vf_fail(VF_ERR_OOM, "flow stream: out of memory at %zu live flows", s->live);
        j = find_slot(s, &k, h);
    }
    uint32_t i = s->free_head;
    s->free_head = s->e[i].next;
    entry *x = &s->e[i];
    x->key = k;
    start_flow(x, r);
    s->slots[j] = i + 1;
    push_tail(s, i);
    s->live++;
    if (s->live > s->st.peak_live) s->st.peak_live = s->live;
    return VF_OK;
}

vf_status vf_flow_stream_finish(vf_flow_stream *s) {
    /* oldest last packet first, as idle expiry would have emitted them */
    while (s->head != NIL) {
        uint32_t i = s->head;
        vf_status st = emit(s, i, &s->st.at_end);
        remove_entry(s, i);
        if (st) return st;
    }
    return VF_OK;
}

size_t vf_flow_stream_live(const vf_flow_stream *s) { return s->live; }

static vf_status add_sink(void *ctx, const vf_record *r) { return vf_flow_stream_add(ctx, r); }

vf_status vf_pcap_stream_flows(const char *path, const vf_read_options *opt, vf_flow_stream *s,
                               vf_trace *stats) {
    VF_TRY(vf_pcap_each(path, opt, stats, add_sink, s));
    return vf_flow_stream_finish(s);
}
