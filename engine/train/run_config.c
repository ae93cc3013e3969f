/* Run configuration: the `data` group (parsed by engine/trace), the model
 * file and the `run` group. See docs/RUNNING.md. */
#include "train/pipeline.h"
#include "util.h"

#include <libconfig.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(s, ...) fail_at(name, s, __VA_ARGS__)

static vf_status __attribute__((format(printf, 3, 4)))
fail_at(const char *name, config_setting_t *s, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vf_fail(VF_ERR_FORMAT, "%s:%d: %s", name, s ? config_setting_source_line(s) : 0, msg);
}

static bool is_int(config_setting_t *s) {
    return config_setting_type(s) == CONFIG_TYPE_INT || config_setting_type(s) == CONFIG_TYPE_INT64;
}

static vf_status get_i64(const char *name, config_setting_t *g, const char *key, long long lo, long long hi,
                         int64_t *out) {
    config_setting_t *s = config_setting_get_member(g, key);
    if (!s) return VF_OK;
    if (!is_int(s)) return FAIL(s, "'%s' must be an integer", key);
    long long v = config_setting_get_int64(s);
    if (v < lo || v > hi) return FAIL(s, "'%s' = %lld is outside %lld..%lld", key, v, lo, hi);
    *out = v;
    return VF_OK;
}

static vf_status get_choice(const char *name, config_setting_t *g, const char *key, const char *const *allowed,
                            char *out, size_t cap) {
    config_setting_t *s = config_setting_get_member(g, key);
    if (!s) return VF_OK;
    if (config_setting_type(s) != CONFIG_TYPE_STRING) return FAIL(s, "'%s' must be a string", key);
    const char *v = config_setting_get_string(s);
    for (const char *const *a = allowed; *a; a++)
        if (!strcmp(v, *a)) { snprintf(out, cap, "%s", v); return VF_OK; }
    char list[256] = "";
    for (const char *const *a = allowed; *a; a++) {
        strncat(list, *a, sizeof list - strlen(list) - 2);
        if (a[1]) strncat(list, ", ", sizeof list - strlen(list) - 1);
    }
    return FAIL(s, "%s '%s': expected one of %s", key, v, list);
}

static vf_status get_bool(const char *name, config_setting_t *g, const char *key, bool *out) {
    config_setting_t *s = config_setting_get_member(g, key);
    if (!s) return VF_OK;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL) return FAIL(s, "'%s' must be true or false", key);
    *out = config_setting_get_bool(s);
    return VF_OK;
}

static vf_status parse_run(const char *name, config_t *cfg, vf_run_config *rc) {
    config_setting_t *root = config_root_setting(cfg);
    for (int i = 0; i < config_setting_length(root); i++) {
        config_setting_t *c = config_setting_get_elem(root, (unsigned)i);
        const char *k = config_setting_name(c);
        if (k && strcmp(k, "data") && strcmp(k, "model") && strcmp(k, "run"))
            return FAIL(c, "unknown top-level key '%s' (a run configuration has data, model and run)", k);
    }
    config_setting_t *m = config_setting_get_member(root, "model");
    if (!m) return vf_fail(VF_ERR_FORMAT, "%s: no 'model' (the model file, e.g. model = \"../models/doppelganger.cfg\";)",
                           name);
    if (config_setting_type(m) != CONFIG_TYPE_STRING) return FAIL(m, "'model' must be a string (a file path)");
    const char *mp = config_setting_get_string(m);
    if (!mp[0]) return FAIL(m, "'model' is empty");
    /* relative to the configuration's folder, like the data path */
    const char *slash = strrchr(name, '/');
    if (mp[0] != '/' && slash) snprintf(rc->model, sizeof rc->model, "%.*s/%s", (int)(slash - name), name, mp);
    else snprintf(rc->model, sizeof rc->model, "%s", mp);

    config_setting_t *g = config_setting_get_member(root, "run");
    if (!g) return vf_fail(VF_ERR_FORMAT, "%s: no 'run' group (run = { iterations = ...; };)", name);
    if (!config_setting_is_group(g)) return FAIL(g, "'run' must be a group { ... }");
    static const char *const keys[] = {"iterations", "warm_start_fraction", "checkpoint_every", "seed", "backend",
                                       "count", "output", "as_flows", "flow_timeout_s", "evaluate", NULL};
    for (int i = 0; i < config_setting_length(g); i++) {
        config_setting_t *c = config_setting_get_elem(g, (unsigned)i);
        const char *k = config_setting_name(c);
        bool ok = false;
        for (const char *const *a = keys; *a; a++) ok |= !strcmp(k, *a);
        if (!ok)
            return FAIL(c, "unknown key '%s' in run (iterations warm_start_fraction checkpoint_every seed backend "
                           "count output as_flows flow_timeout_s evaluate)", k);
    }
    vf_status st;
    if (!config_setting_get_member(g, "iterations"))
        return FAIL(g, "run: 'iterations' (generator steps of chunk 0) is required");
    if ((st = get_i64(name, g, "iterations", 1, 1000000000LL, &rc->iterations))) return st;
    config_setting_t *w = config_setting_get_member(g, "warm_start_fraction");
    if (w) {
        if (!is_int(w) && config_setting_type(w) != CONFIG_TYPE_FLOAT)
            return FAIL(w, "'warm_start_fraction' must be a number");
        double v = config_setting_type(w) == CONFIG_TYPE_FLOAT ? config_setting_get_float(w)
                                                               : (double)config_setting_get_int64(w);
        if (!(v > 0 && v <= 1)) return FAIL(w, "'warm_start_fraction' = %g must be in (0, 1]", v);
        rc->warm_fraction = v;
    }
    if ((st = get_i64(name, g, "checkpoint_every", 1, 1000000000LL, &rc->checkpoint_every))) return st;
    int64_t seed = (int64_t)rc->seed;
    if ((st = get_i64(name, g, "seed", 0, INT64_MAX, &seed))) return st;
    rc->seed = (uint64_t)seed;
    static const char *const be[] = {"auto", "cpu", "vk", NULL};
    if ((st = get_choice(name, g, "backend", be, rc->backend, sizeof rc->backend))) return st;
    if ((st = get_i64(name, g, "count", 0, 100000000LL, &rc->count))) return st;
    static const char *const fmt[] = {"auto", "pcap", "csv", NULL};
    if ((st = get_choice(name, g, "output", fmt, rc->output, sizeof rc->output))) return st;
    if ((st = get_bool(name, g, "as_flows", &rc->as_flows))) return st;
    if ((st = get_bool(name, g, "evaluate", &rc->evaluate))) return st;
    config_setting_t *to = config_setting_get_member(g, "flow_timeout_s");
    if (to) {
        if (!is_int(to) && config_setting_type(to) != CONFIG_TYPE_FLOAT)
            return FAIL(to, "'flow_timeout_s' must be a number of seconds");
        double v = config_setting_type(to) == CONFIG_TYPE_FLOAT ? config_setting_get_float(to)
                                                                : (double)config_setting_get_int64(to);
        if (!(v >= 0 && v < 1e9)) return FAIL(to, "'flow_timeout_s' = %g must be >= 0", v);
        rc->flow_timeout_ns = (int64_t)llround(v * 1e9);
        if (!rc->as_flows) return FAIL(to, "'flow_timeout_s' applies only with as_flows = true");
    }
    if (rc->as_flows && !strcmp(rc->output, "pcap"))
        return FAIL(config_setting_get_member(g, "output"), "output 'pcap' cannot hold flows (as_flows = true)");
    if (rc->checkpoint_every > rc->iterations) rc->checkpoint_every = rc->iterations;
    return VF_OK;
}

static void defaults(vf_run_config *rc, const char *name) {
    memset(rc, 0, sizeof *rc);
    snprintf(rc->path, sizeof rc->path, "%s", name);
    rc->warm_fraction = 0.25;       /* NetShare: pretrain_non_dp_reduce_time = 4 */
    rc->checkpoint_every = 1000;
    rc->seed = 1;
    snprintf(rc->backend, sizeof rc->backend, "auto");
    snprintf(rc->output, sizeof rc->output, "auto");
    rc->evaluate = true;
}

static vf_status finish(const char *name, config_t *cfg, int ok, const char *text, vf_run_config *rc) {
    vf_status st;
    if (ok != CONFIG_TRUE) {
        const char *f = config_error_file(cfg);
        st = vf_fail(VF_ERR_FORMAT, "%s:%d: %s", f ? f : name, config_error_line(cfg), config_error_text(cfg));
    } else {
        st = parse_run(name, cfg, rc);
    }
    config_destroy(cfg);
    if (st) return st;
    /* the data group: engine/trace parses it itself (it ignores model/run) */
    return vf_data_desc_parse_string(name, text, &rc->data);
}

vf_status vf_run_config_parse_string(const char *name, const char *text, vf_run_config *rc) {
    defaults(rc, name);
    config_t cfg;
    config_init(&cfg);
    int ok = config_read_string(&cfg, text);
    return finish(name, &cfg, ok, text, rc);
}

vf_status vf_run_config_load(const char *path, vf_run_config *rc) {
    size_t n;
    char *text = vf_read_file(path, &n);
    if (!text) return vf_fail(VF_ERR_IO, "%s: cannot open", path);
    if (strlen(text) != n) { free(text); return vf_fail(VF_ERR_FORMAT, "%s: not a text file (NUL byte)", path); }
    vf_status st = vf_run_config_parse_string(path, text, rc);
    free(text);
    return st;
}

int64_t vf_run_chunk_iterations(const vf_run_config *rc, int chunk) {
    if (chunk == 0) return rc->iterations;
    int64_t n = (int64_t)ceil((double)rc->iterations * rc->warm_fraction);
    return n < 1 ? 1 : n;
}
