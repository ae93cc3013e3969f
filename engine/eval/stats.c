/* scipy/numpy-exact statistical primitives: numpy's summation order, scipy's
 * jensenshannon and wasserstein_distance, numpy's linear percentile, and a
 * radix sort for float64.
 *
 * Why emulate numpy's order instead of summing more accurately: a small JSD
 * (1e-8 nats) is a sum of O(1e-4) terms that cancel, so scipy's own answer
 * carries ~1e-16 absolute rounding noise. Summing in the same order as numpy
 * reproduces that noise too, and the goldens match to ~1e-15 relative
 * instead of drifting near 1e-9 on tiny values. */
#include "eval/eval.h"
#include "eval/eval_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ numpy sum */

/* numpy's pairwise_sum (numpy/core/src/umath/loops_utils.h.src, 1.24):
 * 8 accumulators for blocks of <= 128, recursive halving above. */
static double pairwise(const double *a, size_t n) {
    if (n < 8) {
        double res = 0.;
        for (size_t i = 0; i < n; i++) res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; j++) r[j] = a[j];
        size_t i;
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise(a, n2) + pairwise(a + n2, n - n2);
}

/* np.add.reduce feeds the inner loop in buffers of 8192 elements and adds
 * each block's pairwise sum to the running result (checked bit for bit
 * against numpy 1.24 on sizes 1..300001). */
void vf_npacc_add(vf_npacc *acc, double x) {
    acc->buf[acc->k++] = x;
    if (acc->k == VF_NP_BUFSIZE) {
        acc->res += pairwise(acc->buf, acc->k);
        acc->k = 0;
    }
}

double vf_npacc_result(vf_npacc *acc) {
    if (acc->k) {
        acc->res += pairwise(acc->buf, acc->k);
        acc->k = 0;
    }
    return acc->res;
}

double vf_np_sum(const double *a, size_t n) {
    double res = 0.0;
    for (size_t s = 0; s < n; s += VF_NP_BUFSIZE) {
        size_t k = n - s < VF_NP_BUFSIZE ? n - s : VF_NP_BUFSIZE;
        res += pairwise(a + s, k);
    }
    return res;
}

/* ------------------------------------------------------------------ JSD */

/* scipy.special.rel_entr */
static double rel_entr(double x, double y) {
    if (x > 0 && y > 0) return x * log(x / y);
    if (x == 0 && y >= 0) return 0;
    return INFINITY;
}

/* scipy/spatial/distance.py jensenshannon (1.10):
 *   p = p/sum(p); q = q/sum(q); m = (p+q)/2
 *   js = sum(rel_entr(p,m)) + sum(rel_entr(q,m)); [js /= log(base)]
 *   return sqrt(js/2)
 * We return js/2 (= distance**2, the divergence NetShare reports) without
 * the sqrt/square round trip, which changes at most the last bit. */
vf_jsd_value vf_jsd_counts(const double *p, const double *q, size_t n) {
    vf_jsd_value v = {NAN, NAN};
    double sp = vf_np_sum(p, n), sq = vf_np_sum(q, n);
    if (!(sp > 0) || !(sq > 0)) return v;
    vf_npacc *l = malloc(sizeof *l), *r = malloc(sizeof *r);
    if (!l || !r) {
        free(l);
        free(r);
        return v;
    }
    l->k = r->k = 0;
    l->res = r->res = 0.0;
    for (size_t i = 0; i < n; i++) {
        double pi = p[i] / sp, qi = q[i] / sq;
        double m = (pi + qi) / 2.0;
        vf_npacc_add(l, rel_entr(pi, m));
        vf_npacc_add(r, rel_entr(qi, m));
    }
    double js = vf_npacc_result(l) + vf_npacc_result(r);
    free(l);
    free(r);
    v.nats = js / 2.0;
    v.bits = (js / log(2.0)) / 2.0;
    return v;
}

/* ------------------------------------------------------------------ EMD */

/* scipy/stats/_stats_py.py _cdf_distance(p=1) (1.10), for sorted inputs:
 *   all = sort(concat(u, v)); deltas = diff(all)
 *   u_cdf = searchsorted(u, all[:-1], 'right') / len(u)   (same for v)
 *   return sum(|u_cdf - v_cdf| * deltas)
 * Walked as a merge: iu/iv count the u/v values <= all[k]. */
double vf_emd_sorted(const double *u, size_t nu, const double *v, size_t nv) {
    if (nu == 0 || nv == 0) return NAN;
    vf_npacc *acc = malloc(sizeof *acc);
    if (!acc) return NAN;
    acc->k = 0;
    acc->res = 0.0;
    size_t N = nu + nv, a = 0, b = 0; /* merge positions into u and v */
    size_t iu = 0, iv = 0;
    double dnu = (double)nu, dnv = (double)nv;
    /* cur = all[k]; next = all[k+1] */
    double cur = 0;
    for (size_t k = 0; k < N; k++) {
        double x;
        if (b >= nv || (a < nu && u[a] <= v[b])) x = u[a++];
        else x = v[b++];
        if (k > 0) {
            /* term k-1: uses all[k-1] = cur and delta = x - cur */
            while (iu < nu && u[iu] <= cur) iu++;
            while (iv < nv && v[iv] <= cur) iv++;
            double du = (double)iu / dnu, dv = (double)iv / dnv;
            vf_npacc_add(acc, fabs(du - dv) * (x - cur));
        }
        cur = x;
    }
    double s = vf_npacc_result(acc);
    free(acc);
    return s;
}

/* ----------------------------------------------------------- percentile */

/* numpy.percentile(a, q, method='linear') (numpy 1.24 _quantile/_lerp). */
double vf_percentile_sorted(const double *a, size_t n, double q) {
    if (n == 0) return NAN;
    double qq = q / 100.0;
    double vi = (double)(n - 1) * qq;
    size_t prev, next;
    if (vi >= (double)(n - 1)) {
        prev = next = n - 1;
    } else if (vi < 0) {
        prev = next = 0;
    } else {
        prev = (size_t)floor(vi);
        next = prev + 1;
    }
    /* Out-of-range indexes take the end value (numpy's lerp of a value with
     * itself). */
    if (prev == next) return a[prev];
    double t = vi - (double)prev;
    double lo = a[prev], hi = a[next];
    double d = hi - lo;
    if (t >= 0.5) return hi - d * (1 - t);
    return lo + d * t;
}

/* ----------------------------------------------------------- radix sort */

/* Order-preserving map of a double to uint64 (NaN excluded). */
static inline uint64_t f2key(double x) {
    uint64_t u;
    memcpy(&u, &x, 8);
    return (u >> 63) ? ~u : (u | 0x8000000000000000ull);
}
static inline double key2f(uint64_t k) {
    uint64_t u = (k >> 63) ? (k & 0x7FFFFFFFFFFFFFFFull) : ~k;
    double x;
    memcpy(&x, &u, 8);
    return x;
}

vf_status vf_radix_sort_u64(uint64_t *a, size_t n) {
    if (n < 2) return VF_OK;
    if (n < 64) { /* insertion sort: cheaper than 8 histogram passes */
        for (size_t i = 1; i < n; i++) {
            uint64_t x = a[i];
            size_t j = i;
            while (j > 0 && a[j - 1] > x) { a[j] = a[j - 1]; j--; }
            a[j] = x;
        }
        return VF_OK;
    }
    uint64_t *tmp = malloc(n * sizeof *tmp);
    size_t (*cnt)[256] = calloc(8, sizeof *cnt);
    if (!tmp || !cnt) {
        free(tmp);
        free(cnt);
        return vf_fail(VF_ERR_OOM, "eval: radix sort of %zu values: out of memory", n);
    }
    /* One pass over the data builds all 8 byte histograms. */
    for (size_t i = 0; i < n; i++) {
        uint64_t k = a[i];
        for (int d = 0; d < 8; d++) cnt[d][(k >> (8 * d)) & 255]++;
    }
    uint64_t *src = a, *dst = tmp;
    for (int d = 0; d < 8; d++) {
        /* A digit that is the same in every key leaves the order as is. */
        if (cnt[d][(src[0] >> (8 * d)) & 255] == n) continue;
        size_t off = 0;
        for (int b = 0; b < 256; b++) {
            size_t c = cnt[d][b];
            cnt[d][b] = off;
            off += c;
        }
        for (size_t i = 0; i < n; i++) dst[cnt[d][(src[i] >> (8 * d)) & 255]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) memcpy(a, src, n * sizeof *a);
    free(tmp);
    free(cnt);
    return VF_OK;
}

vf_status vf_sort_f64(double *a, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (isnan(a[i])) return vf_fail(VF_ERR_ARG, "eval: value %zu of %zu is NaN", i, n);
    if (n < 2) return VF_OK;
    uint64_t *k = malloc(n * sizeof *k);
    if (!k) return vf_fail(VF_ERR_OOM, "eval: sorting %zu values: out of memory", n);
    for (size_t i = 0; i < n; i++) k[i] = f2key(a[i]);
    vf_status s = vf_radix_sort_u64(k, n);
    if (s == VF_OK)
        for (size_t i = 0; i < n; i++) a[i] = key2f(k[i]);
    free(k);
    return s;
}
