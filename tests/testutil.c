#include "testutil.h"
#include "util.h"
#include "trace/encode.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static vf_backend *g_cpu, *g_vk;
static int g_vk_tried;

static void destroy_backends(void) {
    vf_backend_destroy(g_vk);
    vf_backend_destroy(g_cpu);
    g_vk = g_cpu = NULL;
}

vf_backend *tu_cpu(void) {
    if (!g_cpu) {
        TU_OK(vf_cpu_create(&g_cpu));
        if (!g_vk) atexit(destroy_backends);
    }
    return g_cpu;
}

vf_backend *tu_vk(void) {
    if (!g_vk_tried) {
        g_vk_tried = 1;
        if (vf_vk_create(&g_vk) != VF_OK) {
            cr_log_warn("no Vulkan device: %s", vf_last_error());
            g_vk = NULL;
        } else if (!g_cpu) {
            atexit(destroy_backends);
        }
    }
    return g_vk;
}

void tu_check_validation(void) {
    if (g_vk) {
        vf_backend_sync(g_vk);
        cr_assert_eq(vf_backend_validation_errors(g_vk), 0,
                     "the Vulkan validation layer reported %d message(s) (see stderr)",
                     vf_backend_validation_errors(g_vk));
    }
}

tu_rng tu_rng_make(uint64_t seed) {
    tu_rng r = {seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull};
    return r;
}

float tu_uniform(tu_rng *r, float lo, float hi) {
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return lo + (hi - lo) * (float)((r->s >> 40) * (1.0 / 16777216.0));
}

void tu_fill_uniform(tu_rng *r, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = tu_uniform(r, lo, hi);
}

vf_arena *tu_arena(vf_backend *be, size_t bytes) {
    vf_arena *a = NULL;
    TU_OK(vf_arena_create(be, bytes, &a));
    return a;
}

vf_tensor tu_tensor(vf_arena *a, int ndim, const int64_t *shape, const float *data) {
    vf_tensor t;
    TU_OK(vf_tensor_alloc(a, VF_F32, ndim, shape, &t));
    if (data) TU_OK(vf_tensor_write(&t, data, vf_tensor_bytes(&t)));
    return t;
}

vf_tensor tu_tensor2(vf_arena *a, int64_t r, int64_t c, const float *data) {
    int64_t s[2] = {r, c};
    return tu_tensor(a, 2, s, data);
}

vf_tensor tu_tensor1(vf_arena *a, int64_t n, const float *data) {
    return tu_tensor(a, 1, &n, data);
}

float *tu_read(const vf_tensor *t) {
    float *x = malloc(vf_tensor_bytes(t));
    cr_assert_not_null(x);
    TU_OK(vf_tensor_read(t, x, vf_tensor_bytes(t)));
    return x;
}

double tu_nmse(const float *a, const float *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    if (isnan(num)) return INFINITY;
    if (den == 0) return num == 0 ? 0 : INFINITY;
    return num / den;
}

double tu_max_rel(const float *a, const float *ref, size_t n, double atol, double rtol) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - ref[i]) / (atol + rtol * fabs(ref[i]));
        if (isnan(e)) return INFINITY;
        if (e > worst) worst = e;
    }
    return worst;
}

char *tu_read_file(const char *path, size_t *len) { return vf_read_file(path, len); }

char *tu_encoder_reload(const vf_encoder *e, const char *path, vf_encoder *loaded) {
    cr_assert_eq(vf_encoder_save(e, path), VF_OK, "%s", vf_last_error());
    cr_assert_eq(vf_encoder_load(path, loaded), VF_OK, "%s", vf_last_error());
    char *text = tu_read_file(path, NULL);
    cr_assert(text, "%s: cannot read it back", path);
    return text;
}

void tu_write_resummed(const char *path, const char *text) {
    const char *sum = strstr(text, "\nend\nchecksum ");
    cr_assert(sum, "%s: no 'end' line before the checksum", path);
    size_t body = (size_t)(sum - text) + 5;
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot write %s", path);
    fwrite(text, 1, body, f);
    fprintf(f, "checksum %016llx\n", (unsigned long long)vf_fnv1a64(text, body));
    cr_assert_eq(fclose(f), 0, "cannot write %s", path);
}

const char *tu_shared_data(const char *file) {
    static char ring[8][1024]; /* a few live at once: tu_shared_data(a), tu_shared_data(b) */
    static int next;
    char *path = ring[next++ % 8];
    snprintf(path, sizeof ring[0], "%s/%s", VKFLOW_SHARED_DATA, file);
    FILE *f = fopen(path, "rb");
    if (!f && !strcmp(file, "pcap_enterprise_pathspider_real_2012-11-23.pcap")) {
        /* the same bytes as the default dataset tools/setup-debian.sh fetches */
        snprintf(path, sizeof ring[0], "%s/data/default/real.pcap", VKFLOW_SOURCE_DIR);
        f = fopen(path, "rb");
    }
    if (f) {
        fclose(f);
        return path;
    }
    snprintf(path, sizeof ring[0], "%s/%s", VKFLOW_SHARED_DATA, file);
    const char *req = getenv("VKFLOW_REQUIRE_SHARED_DATA");
    if (req && *req && strcmp(req, "0"))
        cr_assert_fail("shared development trace missing: %s (VKFLOW_REQUIRE_SHARED_DATA is set: this test must run)",
                       path);
    const char *log = getenv("VKFLOW_SKIP_LOG");
    const struct criterion_test *t = criterion_current_test;
    FILE *lf = log && *log ? fopen(log, "a") : NULL;
    if (lf) {
        fprintf(lf, "%s::%s: needs %s (a shared development trace, not in the repository)\n",
                t && t->category ? t->category : "?", t && t->name ? t->name : "?", file);
        fclose(lf);
    }
    cr_skip_test("needs the shared development trace %s (not in the repository)", file);
    return path;
}

void tu_need_tool(const char *tool, const char *package) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
    if (system(cmd) == 0) return;
    const char *req = getenv("VKFLOW_REQUIRE_SHARED_DATA");
    if (req && *req && strcmp(req, "0"))
        cr_assert_fail("tool missing: %s (Debian package %s; tools/setup-debian.sh installs it; "
                       "VKFLOW_REQUIRE_SHARED_DATA is set: this test must run)", tool, package);
    const char *log = getenv("VKFLOW_SKIP_LOG");
    const struct criterion_test *t = criterion_current_test;
    FILE *lf = log && *log ? fopen(log, "a") : NULL;
    if (lf) {
        fprintf(lf, "%s::%s: needs the tool %s (Debian package %s; tools/setup-debian.sh)\n",
                t && t->category ? t->category : "?", t && t->name ? t->name : "?", tool, package);
        fclose(lf);
    }
    cr_skip_test("needs the tool %s (Debian package %s; tools/setup-debian.sh installs it)", tool, package);
}

size_t tu_checkpoint_iter_offset(const char *bytes) {
    uint64_t name_len;
    memcpy(&name_len, bytes + 16, 8);
    return 24 + (size_t)name_len;
}

void tu_expect_same_checkpoint(const char *a, const char *b) {
    size_t na, nb;
    char *x = tu_read_file(a, &na), *y = tu_read_file(b, &nb);
    cr_assert(x && y, "cannot open %s or %s", a, b);
    cr_assert_eq(na, nb, "checkpoint sizes %zu and %zu", na, nb);
    size_t it = tu_checkpoint_iter_offset(x);
    cr_assert_lt(it + 8, na);
    cr_expect(memcmp(x, y, it) == 0, "headers differ");
    size_t diff = 0;
    for (size_t i = it + 8; i + 8 < na; i++) diff += x[i] != y[i];
    cr_expect_eq(diff, 0, "%zu bytes of parameters / optimizer state / counters differ", diff);
    free(x);
    free(y);
}

vf_record tu_record(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t proto, int64_t ts_ns) {
    vf_record r;
    memset(&r, 0, sizeof r);
    vf_addr_from_v4(&r.src, src);
    vf_addr_from_v4(&r.dst, dst);
    r.sport = sport;
    r.dport = dport;
    r.proto = proto;
    r.ip_version = 4;
    r.ts_ns = ts_ns;
    r.pkts = 1;
    r.length = 100;
    r.bytes = 100;
    r.label = -1;
    return r;
}
