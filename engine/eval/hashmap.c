/* The evaluator's hash map (addresses, address pairs, 5-tuples) and the
 * atomic output helper. */
#include "eval/eval_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint64_t vf_eval_hash(const void *key, size_t size) {
    const uint8_t *k = key;
    uint64_t h = 0x243F6A8885A308D3ull ^ size;
    for (size_t i = 0; i < size; i += 8) {
        uint64_t w;
        memcpy(&w, k + i, 8);
        h = (h ^ w) * 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
    }
    /* splitmix64 finaliser: every input bit reaches the low bits (slot) and
     * the high bits (tag). */
    h ^= h >> 30;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 27;
    h *= 0x94D049BB133111EBull;
    h ^= h >> 31;
    return h;
}

vf_status vf_hmap_init(vf_hmap *m, size_t key_size, size_t expect) {
    memset(m, 0, sizeof *m);
    if (key_size == 0 || key_size % 8 || key_size > 64)
        return vf_fail(VF_ERR_ARG, "eval: hash key size %zu not a multiple of 8 in 8..64", key_size);
    m->key_size = key_size;
    size_t cap = 64;
    while (cap < 2 * expect) cap *= 2;
    m->cap = cap;
    m->n_alloc = cap / 2;
    m->slots = calloc(cap, sizeof *m->slots);
    m->keys = malloc(m->n_alloc * key_size);
    m->count = malloc(m->n_alloc * sizeof *m->count);
    if (!m->slots || !m->keys || !m->count) {
        vf_hmap_free(m);
        return vf_fail(VF_ERR_OOM, "eval: hash map for %zu keys: out of memory", expect);
    }
    return VF_OK;
}

void vf_hmap_free(vf_hmap *m) {
    free(m->slots);
    free(m->keys);
    free(m->count);
    memset(m, 0, sizeof *m);
}

static vf_status grow(vf_hmap *m) {
    size_t cap = m->cap * 2;
    uint64_t *slots = calloc(cap, sizeof *slots);
    uint8_t *keys = realloc(m->keys, (cap / 2) * m->key_size);
    if (keys) m->keys = keys;
    uint64_t *count = realloc(m->count, (cap / 2) * sizeof *count);
    if (count) m->count = count;
    if (!slots || !keys || !count) {
        free(slots);
        return vf_fail(VF_ERR_OOM, "eval: growing a hash map past %zu keys: out of memory", m->n);
    }
    for (size_t i = 0; i < m->n; i++) {
        uint64_t h = vf_eval_hash(m->keys + i * m->key_size, m->key_size);
        size_t s = h & (cap - 1);
        while (slots[s]) s = (s + 1) & (cap - 1);
        slots[s] = (h & 0xFFFFFFFF00000000ull) | (uint64_t)(i + 1);
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    m->n_alloc = cap / 2;
    return VF_OK;
}

int64_t vf_hmap_put(vf_hmap *m, const void *key) {
    if (m->n + 1 > m->cap / 2 && grow(m) != VF_OK) return -1;
    uint64_t h = vf_eval_hash(key, m->key_size);
    uint64_t tag = h & 0xFFFFFFFF00000000ull;
    size_t s = h & (m->cap - 1);
    for (;;) {
        uint64_t e = m->slots[s];
        if (!e) break;
        if ((e & 0xFFFFFFFF00000000ull) == tag) {
            size_t i = (size_t)(e & 0xFFFFFFFFu) - 1;
            if (!memcmp(m->keys + i * m->key_size, key, m->key_size)) {
                m->count[i]++;
                return (int64_t)i;
            }
        }
        s = (s + 1) & (m->cap - 1);
    }
    size_t i = m->n++;
    memcpy(m->keys + i * m->key_size, key, m->key_size);
    m->count[i] = 1;
    m->slots[s] = tag | (uint64_t)(i + 1);
    return (int64_t)i;
}

int64_t vf_hmap_get(const vf_hmap *m, const void *key) {
    uint64_t h = vf_eval_hash(key, m->key_size);
    uint64_t tag = h & 0xFFFFFFFF00000000ull;
    size_t s = h & (m->cap - 1);
    for (;;) {
        uint64_t e = m->slots[s];
        if (!e) return -1;
        if ((e & 0xFFFFFFFF00000000ull) == tag) {
            size_t i = (size_t)(e & 0xFFFFFFFFu) - 1;
            if (!memcmp(m->keys + i * m->key_size, key, m->key_size)) return (int64_t)i;
        }
        s = (s + 1) & (m->cap - 1);
    }
}

void vf_key_tuple(const vf_record *r, uint8_t key[VF_KEY_TUPLE]) {
    memset(key, 0, VF_KEY_TUPLE);
    memcpy(key, r->src.b, 16);
    memcpy(key + 16, r->dst.b, 16);
    memcpy(key + 32, &r->sport, 2);
    memcpy(key + 34, &r->dport, 2);
    key[36] = r->proto;
}

void vf_key_pair(const vf_record *r, uint8_t key[VF_KEY_PAIR]) {
    memcpy(key, r->src.b, 16);
    memcpy(key + 16, r->dst.b, 16);
}
