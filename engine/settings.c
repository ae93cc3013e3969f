/* Setting overrides (settings.h). */
#include "settings.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static config_setting_t *member(config_setting_t *cur, const char *seg, const char **why) {
    if (config_setting_is_group(cur)) return config_setting_get_member(cur, seg);
    if (!config_setting_is_list(cur)) {
        *why = "a value has no members";
        return NULL;
    }
    for (int i = 0; i < config_setting_length(cur); i++) {
        config_setting_t *e = config_setting_get_elem(cur, (unsigned)i);
        const char *nm;
        if (config_setting_is_group(e) && config_setting_lookup_string(e, "name", &nm) && !strcmp(nm, seg)) return e;
    }
    *why = "no list entry of that name";
    return NULL;
}

config_setting_t *vf_config_set(config_setting_t *root, const char *key, const char *value, const char **why) {
    char buf[256], sv[1024];
    if (strlen(key) >= sizeof buf) { *why = "key too long"; return NULL; }
    snprintf(buf, sizeof buf, "%s", key);
    /* the value's type */
    const char *v = value ? value : "";
    char *end;
    int type;
    long long iv = strtoll(v, &end, 10);
    double fv = 0;
    if (*v && !*end) {
        type = CONFIG_TYPE_INT64;
        fv = (double)iv;
    } else if (*v && (fv = strtod(v, &end), !*end)) {
        type = CONFIG_TYPE_FLOAT;
    } else if (!strcmp(v, "true") || !strcmp(v, "false")) {
        type = CONFIG_TYPE_BOOL;
    } else {
        size_t n = strlen(v);
        if (n >= 2 && v[0] == '"' && v[n - 1] == '"') snprintf(sv, sizeof sv, "%.*s", (int)(n - 2), v + 1);
        else snprintf(sv, sizeof sv, "%s", v);
        type = CONFIG_TYPE_STRING;
    }
    /* walk to the parent of the last segment */
    config_setting_t *cur = root;
    char *last = strrchr(buf, '.');
    const char *leaf = last ? last + 1 : buf;
    if (last) {
        *last = 0;
        char *save = NULL;
        for (char *seg = strtok_r(buf, ".", &save); seg; seg = strtok_r(NULL, ".", &save)) {
            config_setting_t *next = member(cur, seg, why);
            if (!next) {
                if (!config_setting_is_group(cur)) return NULL;
                next = config_setting_add(cur, seg, CONFIG_TYPE_GROUP); /* a group the file did not have */
                if (!next) { *why = "cannot add a group there"; return NULL; }
            }
            cur = next;
        }
    }
    if (!*leaf) { *why = "empty name"; return NULL; }
    if (!config_setting_is_group(cur)) { *why = "only a group's members can be set"; return NULL; }
    config_setting_t *s = config_setting_get_member(cur, leaf);
    if (s && config_setting_is_aggregate(s)) { *why = "it is a group or list, not a value"; return NULL; }
    if (s && config_setting_type(s) == CONFIG_TYPE_FLOAT && type == CONFIG_TYPE_INT64) type = CONFIG_TYPE_FLOAT;
    if (s && config_setting_type(s) != type && !(type == CONFIG_TYPE_INT64 && config_setting_type(s) == CONFIG_TYPE_INT)) {
        char name[256];
        snprintf(name, sizeof name, "%s", leaf);   /* leaf points into buf[256] */
        config_setting_remove(cur, name);
        s = NULL;
    }
    if (!s) s = config_setting_add(cur, leaf, type);
    if (!s) { *why = "cannot add it there"; return NULL; }
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT: case CONFIG_TYPE_INT64: config_setting_set_int64(s, iv); break;
    case CONFIG_TYPE_FLOAT: config_setting_set_float(s, fv); break;
    case CONFIG_TYPE_BOOL: config_setting_set_bool(s, !strcmp(v, "true")); break;
    default: config_setting_set_string(s, sv); break;
    }
    return s;
}

bool vf_setting_split(const char *a, char *key, size_t key_len, char *value, size_t value_len) {
    const char *eq = strchr(a, '=');
    if (!eq) return false;
    const char *k0 = a, *k1 = eq;
    while (k0 < k1 && isspace((unsigned char)*k0)) k0++;
    while (k1 > k0 && isspace((unsigned char)k1[-1])) k1--;
    const char *v0 = eq + 1;
    while (isspace((unsigned char)*v0)) v0++;
    size_t vn = strlen(v0);
    while (vn && isspace((unsigned char)v0[vn - 1])) vn--;
    if (k1 == k0 || (size_t)(k1 - k0) >= key_len || vn >= value_len) return false;
    snprintf(key, key_len, "%.*s", (int)(k1 - k0), k0);
    snprintf(value, value_len, "%.*s", (int)vn, v0);
    return true;
}

void vf_config_value_text(const config_setting_t *s, char *buf, size_t len) {
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT: case CONFIG_TYPE_INT64: snprintf(buf, len, "%lld", config_setting_get_int64(s)); break;
    case CONFIG_TYPE_FLOAT: snprintf(buf, len, "%.17g", config_setting_get_float(s)); break;
    case CONFIG_TYPE_BOOL: snprintf(buf, len, "%s", config_setting_get_bool(s) ? "true" : "false"); break;
    case CONFIG_TYPE_STRING: snprintf(buf, len, "\"%s\"", config_setting_get_string(s)); break;
    default: snprintf(buf, len, "?"); break;
    }
}
