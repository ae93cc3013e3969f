/* Internals shared by the engine/eval sources (not installed API). */
#ifndef VKFLOW_EVAL_INTERNAL_H
#define VKFLOW_EVAL_INTERNAL_H

#include "eval/eval.h"
#include "util.h"

/* numpy's reduction buffer: np.add.reduce sums blocks of this many elements
 * pairwise and adds the block sums left to right. */
#define VF_NP_BUFSIZE 8192

/* Streaming form of vf_np_sum: add values one by one, same result as
 * np.sum over the whole sequence. 64 KB: allocate it, do not put it on a
 * thread's stack. */
typedef struct vf_npacc {
    double buf[VF_NP_BUFSIZE];
    size_t k;
    double res;
} vf_npacc;
void vf_npacc_add(vf_npacc *acc, double x);
double vf_npacc_result(vf_npacc *acc);

/* LSD radix sort, ascending, skipping bytes that are equal in all keys. */
vf_status vf_radix_sort_u64(uint64_t *a, size_t n);

/* Open-addressing hash map from fixed-size byte keys (key_size a multiple
 * of 8, at most 64) to a dense index 0..n-1 in order of first insertion,
 * with a count per key (incremented by every put). Slots hold the index+1
 * and the upper 32 bits of the key's hash (cheap rejection before memcmp);
 * the table doubles at 1/2 load. */
typedef struct vf_hmap {
    size_t key_size;
    uint8_t *keys;       /* [n_alloc * key_size] */
    uint64_t *count;     /* [n_alloc] */
    uint64_t *slots;     /* [cap]: hash_hi << 32 | (index + 1); 0 = empty */
    size_t n, n_alloc, cap;
} vf_hmap;

vf_status vf_hmap_init(vf_hmap *m, size_t key_size, size_t expect);
/* Index of key (inserting it with count 0 if new), count += 1. -1 on OOM
 * (the error is set). */
int64_t vf_hmap_put(vf_hmap *m, const void *key);
int64_t vf_hmap_get(const vf_hmap *m, const void *key); /* -1 if absent */
void vf_hmap_free(vf_hmap *m);

/* 64-bit hash of size bytes (size a multiple of 8). */
uint64_t vf_eval_hash(const void *key, size_t size);

/* Keys as the evaluator hashes them (padding zeroed). */
#define VF_KEY_ADDR 16
#define VF_KEY_PAIR 32
#define VF_KEY_TUPLE 40
void vf_key_tuple(const vf_record *r, uint8_t key[VF_KEY_TUPLE]);
void vf_key_pair(const vf_record *r, uint8_t key[VF_KEY_PAIR]);


/* Descriptions written next to the numbers. */
extern const char *const vf_eval_jsd_basis[VF_JSD_COUNT];
extern const char *const vf_eval_emd_basis[VF_EMD_COUNT];
#define VF_EVAL_JSD_CONVENTION \
    "JSD = scipy.spatial.distance.jensenshannon(p, q)**2: the Jensen-Shannon divergence " \
    "(squared JS distance); 'nats' uses the natural log, range [0, ln 2 = 0.6931] " \
    "(NetShare's reported number); 'bits' uses base 2, range [0, 1]"
#define VF_EVAL_EMD_CONVENTION \
    "EMD = scipy.stats.wasserstein_distance(real, synthetic) on raw values, in the field's " \
    "unit; norm = EMD / (p99 - p1) of the REAL values (numpy.percentile, linear), null " \
    "when p99 == p1"

#endif
