/* Run configuration: the `data` group (parsed by engine/trace), the model
 * file and the `run` group. See docs/RUNNING.md. */
#include "train/pipeline.h"
#include "settings.h"
#include "util.h"

#include <libconfig.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(s, ...) fail_at(name, s, __VA_ARGS__)

/* Settings a --set changed, so that messages about them name the --set
 * rather than a line of the file (parsing is single-threaded per call). */
static _Thread_local struct { const config_setting_t *s; const char *origin; } set_origin[VF_RUN_MAX_SETTINGS];
static _Thread_local int n_set_origin;

static vf_status __attribute__((format(printf, 3, 4)))
fail_at(const char *name, config_setting_t *s, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (int i = 0; i < n_set_origin; i++)
        if (set_origin[i].s == s) return vf_fail(VF_ERR_FORMAT, "%s: %s", set_origin[i].origin, msg);
    return vf_fail(VF_ERR_FORMAT, "%s:%d: %s", name, s ? config_setting_source_line(s) : 0, msg);
}

static const char *const model_groups[] = {"dims", "optimizer", "training", "ema", "programs", NULL};

static bool is_model_group(const char *k) {
    for (const char *const *g = model_groups; *g; g++)
        if (!strcmp(k, *g)) return true;
    return false;
}

static vf_status add_setting(vf_run_config *rc, const char *key, const char *value, const char *origin) {
    if (rc->n_settings == VF_RUN_MAX_SETTINGS)
        return vf_fail(VF_ERR_ARG, "%s: more than %d setting overrides", origin, VF_RUN_MAX_SETTINGS);
    char (*t)[256] = rc->setting_text[rc->n_settings];
    if (strlen(key) >= 256 || strlen(value) >= 256 || strlen(origin) >= 256)
        return vf_fail(VF_ERR_ARG, "%s: setting too long (255 characters at most)", origin);
    snprintf(t[0], 256, "%s", key);
    snprintf(t[1], 256, "%s", value);
    snprintf(t[2], 256, "%s", origin);
    rc->settings[rc->n_settings++] = (vf_setting){t[0], t[1], t[2]};
    return VF_OK;
}

/* A run configuration's model group, flattened to key=value settings with
 * file:line origins (list entries of `programs` by their name). */
static vf_status flatten(const char *name, config_setting_t *s, const char *prefix, vf_run_config *rc) {
    if (config_setting_is_group(s) || config_setting_is_list(s)) {
        for (int i = 0; i < config_setting_length(s); i++) {
            config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
            char key[600];
            const char *nm = config_setting_name(e);
            if (!nm) {
                const char *en;
                if (!config_setting_is_group(e) || !config_setting_lookup_string(e, "name", &en))
                    return FAIL(e, "an entry of %s needs a name (the entry it changes)", prefix);
                nm = en;
            }
            if ((size_t)snprintf(key, sizeof key, "%s.%s", prefix, nm) >= 256) return FAIL(e, "setting name too long");
            if (config_setting_is_group(e) && !config_setting_name(e)) {
                /* a programs entry: its members */
                for (int k = 0; k < config_setting_length(e); k++) {
                    config_setting_t *m = config_setting_get_elem(e, (unsigned)k);
                    if (!strcmp(config_setting_name(m), "name")) continue;
                    char sub[600];
                    if ((size_t)snprintf(sub, sizeof sub, "%s.%s", key, config_setting_name(m)) >= 256)
                        return FAIL(m, "setting name too long");
                    VF_TRY(flatten(name, m, sub, rc));
                }
                continue;
            }
            VF_TRY(flatten(name, e, key, rc));
        }
        return VF_OK;
    }
    if (config_setting_is_array(s)) return FAIL(s, "%s: arrays cannot override a model setting", prefix);
    char val[256], origin[256];
    vf_config_value_text(s, val, sizeof val);
    snprintf(origin, sizeof origin, "%s:%d", name, config_setting_source_line(s));
    return add_setting(rc, prefix, val, origin);
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

/* run.holdout (the fraction of 5-tuples held out of training and scored
 * against) and run.baselines (floor, marginals, verdicts, DCR in the report). */
static vf_status parse_scoring(const char *name, config_setting_t *g, vf_run_config *rc) {
    config_setting_t *h = config_setting_get_member(g, "holdout");
    if (h) {
        if (!is_int(h) && config_setting_type(h) != CONFIG_TYPE_FLOAT)
            return FAIL(h, "'holdout' must be a number (the fraction of flows held out, e.g. 0.5)");
        double v = config_setting_type(h) == CONFIG_TYPE_FLOAT ? config_setting_get_float(h)
                                                               : (double)config_setting_get_int64(h);
        if (!(v >= 0 && v <= 0.9))
            return FAIL(h, "'holdout' = %g must be in [0, 0.9] (0: train on everything)", v);
        rc->holdout = v;
    }
    return get_bool(name, g, "baselines", &rc->baselines);
}

/* Every member of group g (named `group` in messages) is one of keys. */
static vf_status check_keys(const char *name, config_setting_t *g, const char *group, const char *const *keys) {
    for (int i = 0; i < config_setting_length(g); i++) {
        config_setting_t *c = config_setting_get_elem(g, (unsigned)i);
        const char *k = config_setting_name(c);
        bool ok = false;
        for (const char *const *a = keys; *a; a++) ok |= !strcmp(k, *a);
        if (ok) continue;
        char list[512] = "";
        for (const char *const *a = keys; *a; a++) {
            strncat(list, *a, sizeof list - strlen(list) - 2);
            if (a[1]) strncat(list, " ", sizeof list - strlen(list) - 1);
        }
        return FAIL(c, "unknown key '%s' in %s (%s)", k, group, list);
    }
    return VF_OK;
}

/* path relative to the configuration's folder (as the data path is). */
static void relative_to_config(const char *name, const char *path, char *out, size_t cap) {
    const char *slash = strrchr(name, '/');
    if (path[0] != '/' && slash) snprintf(out, cap, "%.*s/%s", (int)(slash - name), name, path);
    else snprintf(out, cap, "%s", path);
}

static vf_status parse_run(const char *name, config_t *cfg, vf_run_config *rc) {
    config_setting_t *root = config_root_setting(cfg);
    for (int i = 0; i < config_setting_length(root); i++) {
        config_setting_t *c = config_setting_get_elem(root, (unsigned)i);
        const char *k = config_setting_name(c);
        if (k && strcmp(k, "data") && strcmp(k, "model") && strcmp(k, "run") && strcmp(k, "privacy") &&
            !is_model_group(k))
            return FAIL(c, "unknown top-level key '%s' (a run configuration has data, model, run, privacy and the "
                           "model setting groups dims, optimizer, training, ema, programs)", k);
    }
    config_setting_t *m = config_setting_get_member(root, "model");
    if (!m) return vf_fail(VF_ERR_FORMAT, "%s: no 'model' (the model file, e.g. model = \"../models/doppelganger.cfg\";)",
                           name);
    if (config_setting_type(m) != CONFIG_TYPE_STRING) return FAIL(m, "'model' must be a string (a file path)");
    const char *mp = config_setting_get_string(m);
    if (!mp[0]) return FAIL(m, "'model' is empty");
    relative_to_config(name, mp, rc->model, sizeof rc->model);

    config_setting_t *g = config_setting_get_member(root, "run");
    if (!g) return vf_fail(VF_ERR_FORMAT, "%s: no 'run' group (run = { iterations = ...; };)", name);
    if (!config_setting_is_group(g)) return FAIL(g, "'run' must be a group { ... }");
    static const char *const keys[] = {"iterations", "warm_start_fraction", "checkpoint_every", "seed", "backend",
                                       "count", "output", "as_flows", "flow_timeout_s", "evaluate", "holdout",
                                       "baselines", "fresh_5tuples", NULL};
    vf_status st = check_keys(name, g, "run", keys);
    if (st) return st;
    rc->iterations_set = config_setting_get_member(g, "iterations") != NULL;
    rc->seed_set = config_setting_get_member(g, "seed") != NULL;
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
    if ((st = get_bool(name, g, "fresh_5tuples", &rc->fresh_5tuples))) return st;
    if ((st = parse_scoring(name, g, rc))) return st;
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
    if (rc->iterations_set && rc->checkpoint_every > rc->iterations) rc->checkpoint_every = rc->iterations;
    return VF_OK;
}

static vf_status get_num(const char *name, config_setting_t *g, const char *key, double lo, double hi, double *out) {
    config_setting_t *s = config_setting_get_member(g, key);
    if (!s) return VF_OK;
    if (!is_int(s) && config_setting_type(s) != CONFIG_TYPE_FLOAT) return FAIL(s, "'%s' must be a number", key);
    double v = config_setting_type(s) == CONFIG_TYPE_FLOAT ? config_setting_get_float(s)
                                                           : (double)config_setting_get_int64(s);
    if (!(v >= lo && v <= hi)) return FAIL(s, "privacy.%s = %g is outside [%g, %g]", key, v, lo, hi);
    *out = v;
    return VF_OK;
}

/* privacy = { epsilon = 4; delta = 1e-5; clip = 1; unit = "flow"; public = "runs/pub"; ... } */
static vf_status parse_privacy(const char *name, config_t *cfg, vf_run_config *rc) {
    config_setting_t *g = config_setting_get_member(config_root_setting(cfg), "privacy");
    vf_run_privacy *P = &rc->privacy;
    memset(P, 0, sizeof *P);
    if (!g) return VF_OK;
    if (!config_setting_is_group(g)) return FAIL(g, "'privacy' must be a group { epsilon = 4.0; delta = 1e-5; ... }");
    static const char *const keys[] = {"epsilon", "delta", "sigma", "clip", "expected_batch", "unit", "public",
                                       "pretrained", "chunks_per_flow", NULL};
    VF_TRY(check_keys(name, g, "privacy", keys));
    P->enabled = true;
    P->delta = 1e-5;
    P->clip = 1.0;
    P->pretrained = true;
    P->chunks_per_flow = 2;
    snprintf(P->unit, sizeof P->unit, "flow");
    vf_status st;
    if ((st = get_num(name, g, "epsilon", 1e-3, 1e6, &P->epsilon))) return st;
    if ((st = get_num(name, g, "delta", 1e-300, 0.1, &P->delta))) return st;
    if ((st = get_num(name, g, "sigma", 1e-3, 1e6, &P->sigma))) return st;
    if ((st = get_num(name, g, "clip", 1e-9, 1e9, &P->clip))) return st;
    if ((st = get_num(name, g, "expected_batch", 1, 1e9, &P->expected_batch))) return st;
    int64_t k = P->chunks_per_flow;
    if ((st = get_i64(name, g, "chunks_per_flow", 1, 8, &k))) return st;
    P->chunks_per_flow = (int)k;
    if ((P->epsilon > 0) == (P->sigma > 0))
        return FAIL(g, "privacy needs exactly one of epsilon (a target: vkflow calibrates the noise) and sigma (a "
                       "noise multiplier: vkflow reports the epsilon it spends)");
    static const char *const units[] = {"flow", "host", NULL};
    if ((st = get_choice(name, g, "unit", units, P->unit, sizeof P->unit))) return st;
    if (!strcmp(P->unit, "host"))
        return FAIL(config_setting_get_member(g, "unit"), "privacy.unit = \"host\" is not implemented: a host's "
                    "flows are many examples, which needs group privacy or a per-host contribution bound "
                    "(docs/PRIVACY.md); use \"flow\"");
    if ((st = get_bool(name, g, "pretrained", &P->pretrained))) return st;
    config_setting_t *pub = config_setting_get_member(g, "public");
    if (!pub)
        return FAIL(g, "privacy needs public = \"RUN_DIR\": a run on a public trace whose encoder (value ranges, "
                       "vocabularies, word2vec) the private run uses, so that nothing about the encoding is fitted on "
                       "private data (docs/PRIVACY.md)");
    if (config_setting_type(pub) != CONFIG_TYPE_STRING || !config_setting_get_string(pub)[0])
        return FAIL(pub, "privacy.public must be a run directory");
    relative_to_config(name, config_setting_get_string(pub), P->public_run, sizeof P->public_run);
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
    rc->baselines = true;
    rc->fresh_5tuples = true;
}

/* Applies --set overrides: run.KEY to the tree (parsed next), the rest
 * collected as model settings after the file's own model groups. */
static vf_status apply_sets(const char *name, config_t *cfg, const char *const *sets, int n_sets, vf_run_config *rc) {
    config_setting_t *root = config_root_setting(cfg);
    for (int i = 0; i < n_sets; i++) {
        char key[256], val[256], origin[300];
        snprintf(origin, sizeof origin, "--set %.280s", sets[i] ? sets[i] : "");
        if (!sets[i] || !vf_setting_split(sets[i], key, sizeof key, val, sizeof val))
            return vf_fail(VF_ERR_ARG, "%s: expected KEY=VALUE, e.g. --set optimizer.lr=2e-4", origin);
        if (rc->n_sets == VF_RUN_MAX_SETTINGS || strlen(key) + strlen(val) + 2 > sizeof rc->sets[0])
            return vf_fail(VF_ERR_ARG, "%s: too many or too long --set settings", origin);
        char *dst = rc->sets[rc->n_sets++];   /* key=value, fits: checked above */
        size_t kl = strlen(key), vl = strlen(val);
        memcpy(dst, key, kl);
        dst[kl] = '=';
        memcpy(dst + kl + 1, val, vl + 1);
        if (!strncmp(key, "data.", 5) || !strcmp(key, "model") || !strcmp(key, "data"))
            return vf_fail(VF_ERR_ARG, "%s: the data and the model file are the run configuration's own (edit %s); "
                           "--set changes run.* and model settings", origin, name);
        if (!strncmp(key, "run.", 4) || !strncmp(key, "privacy.", 8)) {
            const char *why = "", *grp = key[0] == 'r' ? "run" : "privacy";
            config_setting_t *g = config_setting_get_member(root, grp);
            if (!g && !(g = config_setting_add(root, grp, CONFIG_TYPE_GROUP)))
                return vf_fail(VF_ERR_ARG, "%s: cannot add a run group", origin);
            config_setting_t *s = vf_config_set(root, key, val, &why);
            if (!s) return vf_fail(VF_ERR_ARG, "%s: cannot set %s: %s", origin, key, why);
            if (n_set_origin < VF_RUN_MAX_SETTINGS) {
                static _Thread_local char keep[VF_RUN_MAX_SETTINGS][300];
                snprintf(keep[n_set_origin], sizeof keep[0], "%s", origin);
                set_origin[n_set_origin].s = s;
                set_origin[n_set_origin].origin = keep[n_set_origin];
                n_set_origin++;
            }
            continue;
        }
        VF_TRY(add_setting(rc, key, val, origin));
        rc->n_cli++;
    }
    return VF_OK;
}

static vf_status parse_config(const char *name, const char *text, const char *const *sets, int n_sets,
                              vf_run_config *rc) {
    defaults(rc, name);
    config_t cfg;
    config_init(&cfg);
    n_set_origin = 0;
    vf_status st = VF_OK;
    if (config_read_string(&cfg, text) != CONFIG_TRUE) {
        const char *f = config_error_file(&cfg);
        st = vf_fail(VF_ERR_FORMAT, "%s:%d: %s", f ? f : name, config_error_line(&cfg), config_error_text(&cfg));
    }
    /* the file's model groups first, then --set (the later wins) */
    config_setting_t *root = config_root_setting(&cfg);
    for (const char *const *g = model_groups; !st && *g; g++) {
        config_setting_t *s = config_setting_get_member(root, *g);
        if (!s) continue;
        if (strcmp(*g, "programs") ? !config_setting_is_group(s) : !config_setting_is_list(s))
            st = FAIL(s, "'%s' must be a %s", *g, strcmp(*g, "programs") ? "group { ... }" : "list ( { name = ...; ... } )");
        else
            st = flatten(name, s, *g, rc);
    }
    if (!st) st = apply_sets(name, &cfg, sets, n_sets, rc);
    if (!st) st = parse_run(name, &cfg, rc);
    if (!st) st = parse_privacy(name, &cfg, rc);
    n_set_origin = 0;
    config_destroy(&cfg);
    if (st) return st;
    /* the data group: engine/trace parses it itself (it ignores the rest) */
    return vf_data_desc_parse_string(name, text, &rc->data);
}

vf_status vf_run_config_parse_with(const char *name, const char *text, const char *const *sets, int n_sets,
                                   vf_run_config *rc) {
    return parse_config(name, text, sets, n_sets, rc);
}

vf_status vf_run_config_parse_string(const char *name, const char *text, vf_run_config *rc) {
    return parse_config(name, text, NULL, 0, rc);
}

vf_status vf_run_config_load_with(const char *path, const char *const *sets, int n_sets, vf_run_config *rc) {
    size_t n;
    char *text = vf_read_file(path, &n);
    if (!text) return vf_fail(VF_ERR_IO, "%s: cannot open", path);
    if (strlen(text) != n) { free(text); return vf_fail(VF_ERR_FORMAT, "%s: not a text file (NUL byte)", path); }
    vf_status st = parse_config(path, text, sets, n_sets, rc);
    free(text);
    return st;
}

vf_status vf_run_config_load(const char *path, vf_run_config *rc) { return vf_run_config_load_with(path, NULL, 0, rc); }

static vf_status load_model(const vf_run_config *rc, vf_model **m) {
    /* small stand-ins for the encoder's dimensions (they win over the file's
     * defaults): enough to build and check the graph quickly */
    static const vf_dim dims[3] = {{"attr_dim", 8}, {"feat_dim", 4}, {"max_len", 4}};
    vf_model_env env = {.dims = dims, .n_dims = 3, .placeholder_heads = true, .settings = rc->settings,
                        .n_settings = rc->n_settings};
    return vf_model_load_env(rc->model, &env, m);
}

vf_status vf_run_config_resolve(vf_run_config *rc) {
    vf_model *m = NULL;
    vf_status st = load_model(rc, &m);
    if (!st) st = vf_driver_check(m);
    if (!st && !rc->iterations_set) {
        bool set;
        rc->iterations = vf_model_steps(m, &set);
        if (!set)
            st = vf_fail(VF_ERR_FORMAT, "%s: how many iterations? set run.iterations (or training.steps in %s)",
                         rc->path, rc->model);
        rc->iterations_set = set;
    }
    if (!st && !rc->seed_set) {
        bool set;
        uint64_t seed = vf_model_seed(m, &set);
        if (set) rc->seed = seed;
    }
    if (!st && rc->checkpoint_every > rc->iterations) rc->checkpoint_every = rc->iterations;
    vf_model_destroy(m);
    return st;
}

vf_status vf_run_config_write_model(const vf_run_config *rc, const char *path) {
    vf_model *m = NULL;
    VF_TRY(load_model(rc, &m));
    vf_status st = vf_model_write_settings(m, path);
    vf_model_destroy(m);
    return st;
}

int64_t vf_run_chunk_iterations(const vf_run_config *rc, int chunk) {
    if (chunk == 0) return rc->iterations;
    int64_t n = (int64_t)ceil((double)rc->iterations * rc->warm_fraction);
    return n < 1 ? 1 : n;
}
