/* The `data` group of a libconfig description: which trace, how its CSV
 * columns map, chunking and per-field encodings. See docs/TRACES.md. */
#include "trace/encode.h"
#include "trace/encode_internal.h"
#include "trace/trace_internal.h"

#include <libconfig.h>
#include <stdlib.h>
#include <string.h>

static const char *const field_names[VF_F_COUNT] = {
    "srcip", "dstip", "srcport", "dstport", "proto", "time", "td", "pkt", "byt", "label",
    "flags", "tos", "len", "ttl", "ipid", "fragflag", "fragoff",
};
const char *vf_field_name(vf_field f) { return (unsigned)f < VF_F_COUNT ? field_names[f] : "?"; }

static const char *const enc_names[] = {"bits", "word2vec", "onehot", "log_minmax", "minmax", "interarrival",
                                          "interarrival_log", "dict", "interarrival_quantile", "interarrival_bins",
                                          "quantile"};
const char *vf_encoding_name(vf_encoding e) {
    return (unsigned)e <= VF_ENC_LAST ? enc_names[e] : "?";
}

static const char *const ipdec_names[] = {"bits", "tree", "tree_new", "tree_fresh"};
const char *vf_ip_decode_name(vf_ip_decode d) {
    return (unsigned)d <= VF_IPDEC_TREE_FRESH ? ipdec_names[d] : "?";
}

static void add(vf_data_desc *dd, vf_field f, vf_encoding e, bool fixed, double lo, double hi) {
    vf_field_spec *s = &dd->fields[dd->n_fields++];
    memset(s, 0, sizeof *s);
    s->field = f;
    s->enc = e;
    s->dim = dd->w2v_dim;
    s->fixed_range = fixed;
    s->lo = lo;
    s->hi = hi;
    s->decode = VF_IPDEC_BITS;
    s->top = 64;
    /* the quantile table's intervals: as many as allowed for the one-unit
     * encodings (rank decoding spreads values log-uniformly inside an
     * interval, so the last one, up to the largest value, must be narrow);
     * few for the softmax (each is an output of the feature generator) */
    s->bins = e == VF_ENC_INTERARRIVAL_QUANTILE || e == VF_ENC_QUANTILE ? VF_QUANTILE_BINS_DEFAULT
              : e == VF_ENC_INTERARRIVAL_BINS                          ? 16
                                                                       : 0;
}

static void base_defaults(vf_data_desc *dd) {
    memset(dd, 0, sizeof *dd);
    dd->n_chunks = 10;
    dd->chunking = VF_CHUNK_FIXED_TIME;
    dd->w2v_dim = 10;
    dd->w2v_window = 5;
    dd->w2v_negative = 5;
    dd->w2v_epochs = 5;
    dd->w2v_sample = VF_W2V_SAMPLE_DEFAULT;
    dd->seed = 1;
}

void vf_data_desc_default(vf_trace_kind kind, vf_data_desc *dd) {
    base_defaults(dd);
    dd->n_fields = 0;
    add(dd, VF_F_SRCIP, VF_ENC_BITS, false, 0, 0);
    add(dd, VF_F_DSTIP, VF_ENC_BITS, false, 0, 0);
    add(dd, VF_F_SRCPORT, VF_ENC_WORD2VEC, false, 0, 0);
    add(dd, VF_F_DSTPORT, VF_ENC_WORD2VEC, false, 0, 0);
    add(dd, VF_F_PROTO, VF_ENC_WORD2VEC, false, 0, 0);
    add(dd, VF_F_TIME, VF_ENC_INTERARRIVAL, false, 0, 0);
    if (kind == VF_TRACE_FLOWS) {
        add(dd, VF_F_TD, VF_ENC_LOG_MINMAX, false, 0, 0);
        add(dd, VF_F_PKT, VF_ENC_LOG_MINMAX, false, 0, 0);
        add(dd, VF_F_BYT, VF_ENC_LOG_MINMAX, false, 0, 0);
        add(dd, VF_F_LABEL, VF_ENC_ONEHOT, false, 0, 0);
    } else {
        /* NetShare's PCAP fields: pkt_len min-max; tos/id/off/ttl fixed ranges; flag categorical */
        add(dd, VF_F_LEN, VF_ENC_MINMAX, false, 0, 0);
        add(dd, VF_F_TOS, VF_ENC_MINMAX, true, 0, 255);
        add(dd, VF_F_IPID, VF_ENC_MINMAX, true, 0, 65535);
        add(dd, VF_F_FRAGFLAG, VF_ENC_ONEHOT, false, 0, 0);
        add(dd, VF_F_FRAGOFF, VF_ENC_MINMAX, true, 0, 8191);
        add(dd, VF_F_TTL, VF_ENC_MINMAX, true, 0, 255);
        add(dd, VF_F_FLAGS, VF_ENC_ONEHOT, false, 0, 0);
    }
}

#define FAIL(s, ...) \
    vf_fail(VF_ERR_FORMAT, "%s:%d: " FIRST(__VA_ARGS__), name, config_setting_source_line(s) REST(__VA_ARGS__))
#define FIRST(a, ...) a
#define REST(a, ...) , ##__VA_ARGS__

static bool one_of(const char *k, const char *const *list) {
    for (; *list; list++)
        if (!strcmp(k, *list)) return true;
    return false;
}

static vf_status check_keys(const char *name, config_setting_t *g, const char *const *allowed, const char *what) {
    int n = config_setting_length(g);
    for (int i = 0; i < n; i++) {
        config_setting_t *c = config_setting_get_elem(g, (unsigned)i);
        const char *k = config_setting_name(c);
        if (k && !one_of(k, allowed)) return FAIL(c, "unknown key '%s' in %s", k, what);
    }
    return VF_OK;
}

static vf_status get_str(const char *name, config_setting_t *g, const char *key, const char **out) {
    config_setting_t *s = config_setting_get_member(g, key);
    *out = NULL;
    if (!s) return VF_OK;
    if (config_setting_type(s) != CONFIG_TYPE_STRING) return FAIL(s, "'%s' must be a string", key);
    *out = config_setting_get_string(s);
    return VF_OK;
}

/* A data-group key that is "model" or "training" (absent: *training stays). */
static vf_status get_model_or_training(const char *name, config_setting_t *g, const char *key, bool *training) {
    const char *s;
    vf_status st = get_str(name, g, key, &s);
    if (st || !s) return st;
    if (!strcmp(s, "model")) *training = false;
    else if (!strcmp(s, "training")) *training = true;
    else return FAIL(config_setting_get_member(g, key), "%s '%s': expected model or training", key, s);
    return VF_OK;
}

static vf_status get_int(const char *name, config_setting_t *g, const char *key, int lo, int hi, int *out) {
    config_setting_t *s = config_setting_get_member(g, key);
    if (!s) return VF_OK;
    if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64)
        return FAIL(s, "'%s' must be an integer", key);
    long long v = config_setting_get_int64(s);
    if (v < lo || v > hi) return FAIL(s, "'%s' = %lld is outside %d..%d", key, v, lo, hi);
    *out = (int)v;
    return VF_OK;
}

static double num(config_setting_t *s) {
    return config_setting_type(s) == CONFIG_TYPE_FLOAT ? config_setting_get_float(s)
                                                       : (double)config_setting_get_int64(s);
}

static bool is_num(config_setting_t *s) {
    int t = config_setting_type(s);
    return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64 || t == CONFIG_TYPE_FLOAT;
}

static vf_status parse_data(const char *name, config_t *cfg, vf_data_desc *dd) {
    base_defaults(dd);
    config_setting_t *g = config_lookup(cfg, "data");
    if (!g) return vf_fail(VF_ERR_FORMAT, "%s: no 'data' group", name);
    if (!config_setting_is_group(g)) return FAIL(g, "'data' must be a group { ... }");
    static const char *const keys[] = {"path", "format", "columns", "time_unit", "addr_style", "strict",
                                       "n_chunks", "chunking", "max_flow_len", "flow_lengths", "carried_gaps", "flow_spans", "seed",
                                       "word2vec", "streaming", "w2v_sample", "fields", NULL};
    vf_status st = check_keys(name, g, keys, "data");
    if (st) return st;
    const char *s;
    if ((st = get_str(name, g, "path", &s))) return st;
    if (!s) return FAIL(g, "data: 'path' (the trace file) is required");
    /* relative to the description's folder */
    const char *slash = strrchr(name, '/');
    if (s[0] != '/' && slash)
        snprintf(dd->path, sizeof dd->path, "%.*s/%s", (int)(slash - name), name, s);
    else
        snprintf(dd->path, sizeof dd->path, "%s", s);
    if ((st = get_str(name, g, "format", &s))) return st;
    if (s) {
        if (strcmp(s, "pcap") && strcmp(s, "csv"))
            return FAIL(config_setting_get_member(g, "format"), "format '%s': expected \"pcap\" or \"csv\"", s);
        snprintf(dd->format, sizeof dd->format, "%s", s);
    }
    config_setting_t *c = config_setting_get_member(g, "columns");
    if (c) {
        if (!config_setting_is_group(c)) return FAIL(c, "'columns' must be a group { role = \"column\"; ... }");
        dd->has_columns = true;
        snprintf(dd->layout.name, sizeof dd->layout.name, "custom");
        int n = config_setting_length(c);
        if (n > VF_CSV_MAX_COLS) return FAIL(c, "too many columns (max %d)", VF_CSV_MAX_COLS);
        for (int i = 0; i < n; i++) {
            config_setting_t *e = config_setting_get_elem(c, (unsigned)i);
            const char *role = config_setting_name(e);
            int r = (int)vf_col_role_from_name(role);
            if (r <= 0)
                return FAIL(e, "columns: unknown role '%s' (srcip dstip srcport dstport proto ts te td pkt "
                               "byt pkt_add byt_add label flags tos len ttl ipid fragflag fragoff)", role);
            if (config_setting_type(e) != CONFIG_TYPE_STRING)
                return FAIL(e, "columns: %s must name a column (a string)", role);
            snprintf(dd->layout.col_name[dd->layout.n_cols], sizeof dd->layout.col_name[0], "%s",
                     config_setting_get_string(e));
            dd->layout.role[dd->layout.n_cols++] = (vf_col_role)r;
        }
    }
    if ((st = get_str(name, g, "time_unit", &s))) return st;
    if (s) {
        int u = -1;
        for (int i = 0; i <= VF_TIME_DATETIME; i++)
            if (!strcmp(s, vf_time_unit_name((vf_time_unit)i))) u = i;
        if (u < 0)
            return FAIL(config_setting_get_member(g, "time_unit"),
                        "time_unit '%s': expected s, ms, us, ns or datetime", s);
        dd->layout.time_unit = (vf_time_unit)u;
    }
    if ((st = get_str(name, g, "addr_style", &s))) return st;
    if (s) {
        if (!strcmp(s, "int")) dd->layout.addr_style = VF_ADDR_INT;
        else if (strcmp(s, "text"))
            return FAIL(config_setting_get_member(g, "addr_style"), "addr_style '%s': expected text or int", s);
    }
    config_setting_t *b = config_setting_get_member(g, "strict");
    if (b) {
        if (config_setting_type(b) != CONFIG_TYPE_BOOL) return FAIL(b, "'strict' must be true or false");
        dd->strict = config_setting_get_bool(b);
    }
    if ((st = get_int(name, g, "n_chunks", 1, 1000, &dd->n_chunks))) return st;
    if ((st = get_int(name, g, "max_flow_len", 0, 1000000, &dd->max_flow_len))) return st;
    bool training = dd->flow_lengths == VF_FLEN_TRAINING;
    if ((st = get_model_or_training(name, g, "flow_lengths", &training))) return st;
    dd->flow_lengths = training ? VF_FLEN_TRAINING : VF_FLEN_MODEL;
    training = dd->carried_gaps == VF_CGAP_TRAINING;
    if ((st = get_model_or_training(name, g, "carried_gaps", &training))) return st;
    dd->carried_gaps = training ? VF_CGAP_TRAINING : VF_CGAP_MODEL;
    training = dd->flow_spans == VF_FSPAN_TRAINING;
    if ((st = get_model_or_training(name, g, "flow_spans", &training))) return st;
    dd->flow_spans = training ? VF_FSPAN_TRAINING : VF_FSPAN_MODEL;
    int seed = 1;
    if ((st = get_int(name, g, "seed", 0, 2147483647, &seed))) return st;
    dd->seed = (uint64_t)seed;
    if ((st = get_str(name, g, "streaming", &s))) return st;
    if (s) {
        if (!strcmp(s, "auto")) dd->streaming = VF_STREAM_AUTO;
        else if (!strcmp(s, "on")) dd->streaming = VF_STREAM_ON;
        else if (!strcmp(s, "off")) dd->streaming = VF_STREAM_OFF;
        else return FAIL(config_setting_get_member(g, "streaming"), "streaming '%s': expected auto, on or off", s);
    }
    if ((st = get_int(name, g, "w2v_sample", 1, 1000000000, &dd->w2v_sample))) return st;
    if ((st = get_str(name, g, "chunking", &s))) return st;
    if (s) {
        if (!strcmp(s, "fixed_time")) dd->chunking = VF_CHUNK_FIXED_TIME;
        else if (!strcmp(s, "fixed_size")) dd->chunking = VF_CHUNK_FIXED_SIZE;
        else return FAIL(config_setting_get_member(g, "chunking"), "chunking '%s': expected fixed_time or fixed_size", s);
    }
    config_setting_t *w = config_setting_get_member(g, "word2vec");
    if (w) {
        if (!config_setting_is_group(w)) return FAIL(w, "'word2vec' must be a group");
        static const char *const wk[] = {"dim", "window", "negative", "epochs", "pretrained", NULL};
        if ((st = check_keys(name, w, wk, "word2vec"))) return st;
        if ((st = get_int(name, w, "dim", 1, 256, &dd->w2v_dim))) return st;
        if ((st = get_int(name, w, "window", 1, 16, &dd->w2v_window))) return st;
        if ((st = get_int(name, w, "negative", 1, 64, &dd->w2v_negative))) return st;
        if ((st = get_int(name, w, "epochs", 1, 1000, &dd->w2v_epochs))) return st;
        if ((st = get_str(name, w, "pretrained", &s))) return st;
        if (s) {
            if (s[0] != '/' && slash)
                snprintf(dd->w2v_pretrained, sizeof dd->w2v_pretrained, "%.*s/%s", (int)(slash - name), name, s);
            else
                snprintf(dd->w2v_pretrained, sizeof dd->w2v_pretrained, "%s", s);
        }
    }
    config_setting_t *fl = config_setting_get_member(g, "fields");
    if (fl) {
        if (!config_setting_is_list(fl) && !config_setting_is_array(fl))
            return FAIL(fl, "'fields' must be a list ( { name = ...; encoding = ...; }, ... )");
        int n = config_setting_length(fl);
        if (n > VF_MAX_FIELDS) return FAIL(fl, "too many fields (max %d)", VF_MAX_FIELDS);
        for (int i = 0; i < n; i++) {
            config_setting_t *e = config_setting_get_elem(fl, (unsigned)i);
            if (!config_setting_is_group(e)) return FAIL(e, "fields: each entry is a group { name = ...; }");
            static const char *const fk[] = {"name", "encoding", "dim", "range", "decode", "top", "bins",
                                               "start_decode", "class_decode", "popularity", NULL};
            if ((st = check_keys(name, e, fk, "a field"))) return st;
            const char *fn, *en;
            if ((st = get_str(name, e, "name", &fn))) return st;
            if ((st = get_str(name, e, "encoding", &en))) return st;
            if (!fn) return FAIL(e, "fields: entry %d has no 'name'", i + 1);
            if (!en) return FAIL(e, "fields: '%s' has no 'encoding'", fn);
            int f = -1, enc = -1;
            for (int k = 0; k < VF_F_COUNT; k++)
                if (!strcmp(fn, field_names[k])) f = k;
            for (int k = 0; k <= VF_ENC_LAST; k++)
                if (!strcmp(en, enc_names[k])) enc = k;
            if (f < 0) return FAIL(e, "fields: unknown field '%s' (srcip dstip srcport dstport proto time td pkt byt "
                                      "label flags tos len ttl ipid fragflag fragoff)", fn);
            if (enc < 0) return FAIL(e, "fields: '%s': unknown encoding '%s' (bits word2vec onehot log_minmax minmax "
                                        "interarrival interarrival_log interarrival_quantile interarrival_bins dict "
                                        "quantile)", fn, en);
            for (int k = 0; k < dd->n_fields; k++)
                if ((int)dd->fields[k].field == f) return FAIL(e, "fields: '%s' appears twice", fn);
            bool ip = f == VF_F_SRCIP || f == VF_F_DSTIP;
            bool w2v_ok = f == VF_F_SRCPORT || f == VF_F_DSTPORT || f == VF_F_PROTO;
            if (ip && enc != VF_ENC_BITS && enc != VF_ENC_DICT)
                return FAIL(e, "fields: '%s': encoding '%s' does not apply (srcip/dstip take bits or dict)", fn, en);
            if (enc == VF_ENC_DICT && !ip && !w2v_ok)
                return FAIL(e, "fields: '%s': dict is for srcip, dstip, srcport, dstport and proto", fn);
            if (enc == VF_ENC_BITS && !ip && !w2v_ok)
                return FAIL(e, "fields: '%s': bits is for srcip, dstip, srcport, dstport and proto", fn);
            if (enc == VF_ENC_WORD2VEC && !w2v_ok)
                return FAIL(e, "fields: '%s': word2vec is for srcport, dstport and proto", fn);
            bool time_enc = enc == VF_ENC_INTERARRIVAL || enc == VF_ENC_INTERARRIVAL_LOG ||
                            enc == VF_ENC_INTERARRIVAL_QUANTILE || enc == VF_ENC_INTERARRIVAL_BINS;
            if (time_enc != (f == VF_F_TIME))
                return FAIL(e, "fields: 'time' takes encoding interarrival, interarrival_log, interarrival_quantile or "
                               "interarrival_bins (and only it)");
            if (enc == VF_ENC_QUANTILE && !vf_enc_quantile_field((vf_field)f))
                return FAIL(e, "fields: '%s': quantile is for td, pkt, byt, len, tos, ttl, ipid and fragoff", fn);
            add(dd, (vf_field)f, (vf_encoding)enc, false, 0, 0);
            vf_field_spec *sp = &dd->fields[dd->n_fields - 1];
            if ((st = get_int(name, e, "dim", 1, 256, &sp->dim))) return st;
            const char *dn;
            if ((st = get_str(name, e, "decode", &dn))) return st;
            /* not for _bins: its 16 knots are too coarse to place a rank (the place in
             * the bin is what keeps its gaps exact) */
            if (dn && (enc == VF_ENC_INTERARRIVAL_QUANTILE || enc == VF_ENC_QUANTILE)) {
                config_setting_t *ds = config_setting_get_member(e, "decode");
                if (!strcmp(dn, "value")) sp->qdecode = VF_QDEC_VALUE;
                else if (!strcmp(dn, "rank")) sp->qdecode = VF_QDEC_RANK;
                else return FAIL(ds, "fields: '%s': decode '%s': expected value or rank", fn, dn);
            } else if (dn) {
                config_setting_t *ds = config_setting_get_member(e, "decode");
                if (f == VF_F_TIME)
                    return FAIL(ds, "fields: 'time': decode applies to encoding interarrival_quantile only");
                if (!ip)
                    return FAIL(ds, "fields: '%s': decode applies to srcip/dstip and to encoding quantile only", fn);
                if (!strcmp(dn, "bits")) sp->decode = VF_IPDEC_BITS;
                else if (!strcmp(dn, "tree")) sp->decode = VF_IPDEC_TREE;
                else if (!strcmp(dn, "tree_new")) sp->decode = VF_IPDEC_TREE_NEW;
                else if (!strcmp(dn, "tree_fresh")) sp->decode = VF_IPDEC_TREE_FRESH;
                else return FAIL(ds, "fields: '%s': decode '%s': expected bits, tree, tree_new or tree_fresh", fn, dn);
            }
            const char *sd;
            if ((st = get_str(name, e, "start_decode", &sd))) return st;
            if (sd) {
                config_setting_t *ss = config_setting_get_member(e, "start_decode");
                if (f != VF_F_TIME) return FAIL(ss, "fields: '%s': start_decode applies to 'time' only", fn);
                if (!strcmp(sd, "value")) sp->start_decode = VF_QDEC_VALUE;
                else if (!strcmp(sd, "rank")) sp->start_decode = VF_QDEC_RANK;
                else return FAIL(ss, "fields: 'time': start_decode '%s': expected value or rank", sd);
            }
            const char *cd;
            if ((st = get_str(name, e, "class_decode", &cd))) return st;
            if (cd) {
                config_setting_t *cs = config_setting_get_member(e, "class_decode");
                if (!vf_class_quota_applies((vf_field)f, (vf_encoding)enc))
                    return FAIL(cs, "fields: '%s': class_decode applies to srcip/dstip/srcport/dstport with encoding "
                                "dict, to proto with word2vec or onehot and to per-record fields with encoding onehot "
                                "only", fn);
                if (!strcmp(cd, "argmax")) sp->class_decode = VF_CDEC_ARGMAX;
                else if (!strcmp(cd, "quota")) sp->class_decode = VF_CDEC_QUOTA;
                else return FAIL(cs, "fields: '%s': class_decode '%s': expected argmax or quota", fn, cd);
            }
            const char *pop;
            if ((st = get_str(name, e, "popularity", &pop))) return st;
            if (pop) {
                config_setting_t *ps = config_setting_get_member(e, "popularity");
                if (!ip) return FAIL(ps, "fields: '%s': popularity applies to srcip/dstip only", fn);
                if (!strcmp(pop, "model")) sp->popularity = VF_POP_MODEL;
                else if (!strcmp(pop, "training")) sp->popularity = VF_POP_TRAINING;
                else return FAIL(ps, "fields: '%s': popularity '%s': expected model or training", fn, pop);
            }
            if (config_setting_get_member(e, "bins")) {
                if (enc != VF_ENC_INTERARRIVAL_QUANTILE && enc != VF_ENC_INTERARRIVAL_BINS && enc != VF_ENC_QUANTILE)
                    return FAIL(config_setting_get_member(e, "bins"), "fields: '%s': bins applies to encodings "
                                "interarrival_quantile, interarrival_bins and quantile only", fn);
                if ((st = get_int(name, e, "bins", 2, VF_QUANTILE_BINS_MAX, &sp->bins))) return st;
            }
            if (config_setting_get_member(e, "top")) {
                if (enc != VF_ENC_DICT)
                    return FAIL(config_setting_get_member(e, "top"), "fields: '%s': top applies to encoding dict only", fn);
                if ((st = get_int(name, e, "top", 1, 100000, &sp->top))) return st;
            }
            config_setting_t *rg = config_setting_get_member(e, "range");
            if (rg) {
                if (config_setting_length(rg) != 2 || !is_num(config_setting_get_elem(rg, 0)) ||
                    !is_num(config_setting_get_elem(rg, 1)))
                    return FAIL(rg, "fields: '%s': range must be [lo, hi]", fn);
                sp->lo = num(config_setting_get_elem(rg, 0));
                sp->hi = num(config_setting_get_elem(rg, 1));
                if (!(sp->hi > sp->lo)) return FAIL(rg, "fields: '%s': range needs lo < hi", fn);
                if (enc != VF_ENC_MINMAX && enc != VF_ENC_LOG_MINMAX)
                    return FAIL(rg, "fields: '%s': range applies to minmax/log_minmax only", fn);
                if (enc == VF_ENC_LOG_MINMAX && sp->lo < 0)
                    return FAIL(rg, "fields: '%s': log_minmax range must be >= 0", fn);
                sp->fixed_range = true;
            }
        }
    }
    return VF_OK;
}

static vf_status finish(const char *name, config_t *cfg, int ok, vf_data_desc *dd) {
    vf_status st;
    if (ok != CONFIG_TRUE) {
        const char *f = config_error_file(cfg);
        st = vf_fail(VF_ERR_FORMAT, "%s:%d: %s", f ? f : name, config_error_line(cfg), config_error_text(cfg));
    } else {
        st = parse_data(name, cfg, dd);
    }
    config_destroy(cfg);
    return st;
}

vf_status vf_data_desc_load(const char *path, vf_data_desc *dd) {
    config_t cfg;
    config_init(&cfg);
    FILE *f = fopen(path, "r");
    if (!f) { config_destroy(&cfg); return vf_fail(VF_ERR_IO, "%s: cannot open", path); }
    int ok = config_read(&cfg, f);
    fclose(f);
    return finish(path, &cfg, ok, dd);
}

vf_status vf_data_desc_parse_string(const char *name, const char *text, vf_data_desc *dd) {
    config_t cfg;
    config_init(&cfg);
    int ok = config_read_string(&cfg, text);
    return finish(name, &cfg, ok, dd);
}

vf_status vf_data_desc_read_trace(const vf_data_desc *dd, vf_trace *out) {
    vf_read_options o = {0};
    o.strict = dd->strict;
    if (dd->has_columns) o.layout = &dd->layout;
    vf_status st = vf_trace_read(dd->path, &o, out);
    if (st) return st;
    bool pcap = out->linktype >= 0;
    if (dd->format[0] && pcap != !strcmp(dd->format, "pcap")) {
        vf_trace_free(out);
        return vf_fail(VF_ERR_FORMAT, "%s: data description says format \"%s\" but the file is %s", dd->path,
                       dd->format, pcap ? "a packet capture" : "CSV");
    }
    return VF_OK;
}

bool vf_field_spec_needs_addr_table(const vf_field_spec *s) {
    return vf_enc_addr_field(s->field) &&
           (s->enc == VF_ENC_DICT || s->decode != VF_IPDEC_BITS || s->popularity != VF_POP_MODEL);
}

bool vf_data_desc_needs_class_counts(const vf_data_desc *dd) {
    for (int i = 0; i < dd->n_fields; i++)
        if (vf_record_quota(&dd->fields[i])) return true;
    return false;
}

bool vf_data_desc_needs_memory_fit(const vf_data_desc *dd, const char **why) {
    const char *w = NULL;
    bool proto_quota = false, port_quota = false;
    for (int i = 0; i < dd->n_fields; i++) {
        proto_quota |= vf_proto_quota(&dd->fields[i]);
        port_quota |= vf_port_quota(&dd->fields[i]);
    }
    if (vf_data_desc_needs_class_counts(dd)) w = "class_decode quota on a onehot field counts its values' records in memory";
    else if (proto_quota) w = "class_decode quota on proto counts each chunk's new flows per protocol in memory";
    else if (port_quota) w = "class_decode quota on a port counts the flows per protocol and port in memory";
    else if (dd->flow_lengths == VF_FLEN_TRAINING) w = "flow_lengths training counts each chunk's flow lengths in memory";
    else if (dd->carried_gaps == VF_CGAP_TRAINING) w = "carried_gaps training collects the gaps between a flow's chunks in memory";
    else if (dd->flow_spans == VF_FSPAN_TRAINING) w = "flow_spans training counts the chunks each flow is in in memory";
    if (why) *why = w;
    return w != NULL;
}

bool vf_data_desc_needs_addr_tables(const vf_data_desc *dd) {
    for (int i = 0; i < dd->n_fields; i++)
        if (vf_field_spec_needs_addr_table(&dd->fields[i])) return true;
    return false;
}
