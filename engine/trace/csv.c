/* Flow (and per-packet) records from CSV, in any column layout, and back.
 *
 * A layout says what each column means (vf_col_role). Built-in layouts cover
 * UGR'16/nfdump, Zeek conn.log and NetShare; other exports are matched by
 * column-name aliases or mapped explicitly in the data description. The file
 * is read whole into memory (flow logs are tens of MB at most here). */
#include "trace/trace_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const role_names[VF_COL_ROLE_COUNT] = {
    "ignore", "srcip", "dstip", "srcport", "dstport", "proto", "ts", "te", "td",
    "pkt", "byt", "pkt_add", "byt_add", "label", "flags", "tos",
    "len", "ttl", "ipid", "fragflag", "fragoff",
};

const char *vf_col_role_name(vf_col_role r) {
    return (unsigned)r < VF_COL_ROLE_COUNT ? role_names[r] : "?";
}

vf_col_role vf_col_role_from_name(const char *n) {
    for (int i = 0; i < VF_COL_ROLE_COUNT; i++)
        if (!strcmp(n, role_names[i])) return (vf_col_role)i;
    return (vf_col_role)-1;
}

static const char *const unit_names[] = {"s", "ms", "us", "ns", "datetime"};
const char *vf_time_unit_name(vf_time_unit u) {
    return (unsigned)u <= VF_TIME_DATETIME ? unit_names[u] : "?";
}

static const int64_t unit_ns[] = {1000000000, 1000000, 1000, 1, 1000000000};

/* ------------------------------------------------------------- layouts */

static const struct {
    const char *name, *header;
    vf_time_unit unit;
    vf_addr_style addr;
    bool lower;
} builtins[] = {
    {"ugr16", "te,td,sa,da,sp,dp,pr,flg,fwd,stos,pkt,byt,type", VF_TIME_DATETIME, VF_ADDR_TEXT, false},
    {"zeek",
     "ts,uid,id.orig_h,id.orig_p,id.resp_h,id.resp_p,proto,service,duration,orig_bytes,"
     "resp_bytes,conn_state,local_orig,local_resp,missed_bytes,history,orig_pkts,"
     "orig_ip_bytes,resp_pkts,resp_ip_bytes,tunnel_parents,label,detailed-label",
     VF_TIME_S, VF_ADDR_TEXT, true},
    {"netshare", "srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt,type", VF_TIME_US, VF_ADDR_INT, false},
    {"netshare_label", "srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt,label", VF_TIME_US, VF_ADDR_INT, false},
    {"netshare_pcap",
     "srcip,dstip,srcport,dstport,proto,time,pkt_len,version,ihl,tos,id,flag,off,ttl,chksum",
     VF_TIME_US, VF_ADDR_INT, false},
};
#define N_BUILTINS (int)(sizeof builtins / sizeof builtins[0])

/* Column-name aliases (compared case-insensitively). */
static const struct { const char *alias; vf_col_role role; } aliases[] = {
    {"srcip", VF_COL_SRCIP}, {"sa", VF_COL_SRCIP}, {"src_ip", VF_COL_SRCIP},
    {"id.orig_h", VF_COL_SRCIP}, {"srcaddr", VF_COL_SRCIP}, {"src ip", VF_COL_SRCIP},
    {"source ip", VF_COL_SRCIP}, {"saddr", VF_COL_SRCIP},
    {"dstip", VF_COL_DSTIP}, {"da", VF_COL_DSTIP}, {"dst_ip", VF_COL_DSTIP},
    {"id.resp_h", VF_COL_DSTIP}, {"dstaddr", VF_COL_DSTIP}, {"dst ip", VF_COL_DSTIP},
    {"destination ip", VF_COL_DSTIP}, {"daddr", VF_COL_DSTIP},
    {"srcport", VF_COL_SRCPORT}, {"sp", VF_COL_SRCPORT}, {"src_port", VF_COL_SRCPORT},
    {"id.orig_p", VF_COL_SRCPORT}, {"sport", VF_COL_SRCPORT}, {"src port", VF_COL_SRCPORT},
    {"source port", VF_COL_SRCPORT},
    {"dstport", VF_COL_DSTPORT}, {"dp", VF_COL_DSTPORT}, {"dst_port", VF_COL_DSTPORT},
    {"id.resp_p", VF_COL_DSTPORT}, {"dport", VF_COL_DSTPORT}, {"dst port", VF_COL_DSTPORT},
    {"destination port", VF_COL_DSTPORT},
    {"proto", VF_COL_PROTO}, {"pr", VF_COL_PROTO}, {"protocol", VF_COL_PROTO},
    {"ts", VF_COL_TS}, {"time", VF_COL_TS}, {"starttime", VF_COL_TS}, {"stime", VF_COL_TS},
    {"timestamp", VF_COL_TS}, {"first", VF_COL_TS}, {"start", VF_COL_TS},
    {"te", VF_COL_TE}, {"endtime", VF_COL_TE}, {"ltime", VF_COL_TE}, {"last", VF_COL_TE},
    {"td", VF_COL_TD}, {"duration", VF_COL_TD}, {"dur", VF_COL_TD},
    {"pkt", VF_COL_PKT}, {"pkts", VF_COL_PKT}, {"packets", VF_COL_PKT},
    {"totpkts", VF_COL_PKT}, {"orig_pkts", VF_COL_PKT},
    {"byt", VF_COL_BYT}, {"bytes", VF_COL_BYT}, {"totbytes", VF_COL_BYT},
    {"orig_ip_bytes", VF_COL_BYT},
    {"resp_pkts", VF_COL_PKT_ADD}, {"resp_ip_bytes", VF_COL_BYT_ADD},
    {"type", VF_COL_LABEL}, {"label", VF_COL_LABEL},
    {"flg", VF_COL_FLAGS}, {"flags", VF_COL_FLAGS}, {"tcp_flags", VF_COL_FLAGS},
    {"stos", VF_COL_TOS}, {"tos", VF_COL_TOS},
    {"pkt_len", VF_COL_LEN}, {"len", VF_COL_LEN}, {"length", VF_COL_LEN},
    {"ttl", VF_COL_TTL}, {"id", VF_COL_IPID}, {"ip_id", VF_COL_IPID},
    {"flag", VF_COL_FRAGFLAG}, {"off", VF_COL_FRAGOFF}, {"frag_off", VF_COL_FRAGOFF},
};

/* Splits a header into names (trimmed, quotes removed). Returns count or -1. */
static int split_header(const char *h, char names[][48], int max) {
    int n = 0;
    const char *p = h;
    for (;;) {
        const char *e = p;
        bool q = false;
        while (*e && (q || *e != ',')) { if (*e == '"') q = !q; e++; }
        if (n == max) return -1;
        const char *a = p, *b = e;
        while (a < b && isspace((unsigned char)*a)) a++;
        while (b > a && isspace((unsigned char)b[-1])) b--;
        if (b - a >= 2 && *a == '"' && b[-1] == '"') { a++; b--; }
        size_t len = (size_t)(b - a);
        if (len >= 48) len = 47;
        memcpy(names[n], a, len);
        names[n][len] = 0;
        n++;
        if (!*e) break;
        p = e + 1;
    }
    return n;
}

static void layout_set_builtin_defaults(vf_csv_layout *l) {
    if (!strcmp(l->name, "ugr16"))
        for (int i = 0; i < l->n_cols; i++)
            if (!strcmp(l->col_name[i], "fwd")) strcpy(l->col_default[i], "0");
    if (!strcmp(l->name, "netshare_pcap"))
        for (int i = 0; i < l->n_cols; i++) {
            if (!strcmp(l->col_name[i], "version")) strcpy(l->col_default[i], "4");
            if (!strcmp(l->col_name[i], "ihl")) strcpy(l->col_default[i], "5");
            if (!strcmp(l->col_name[i], "chksum")) strcpy(l->col_default[i], "0");
        }
}

static vf_col_role alias_role(const char *name) {
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (!strcasecmp(name, aliases[i].alias)) return aliases[i].role;
    return VF_COL_IGNORE;
}

/* Roles from names; each role taken by its first column only. */
static void assign_alias_roles(vf_csv_layout *l) {
    bool used[VF_COL_ROLE_COUNT] = {0};
    for (int i = 0; i < l->n_cols; i++) {
        vf_col_role r = alias_role(l->col_name[i]);
        if (r != VF_COL_IGNORE && used[r]) r = VF_COL_IGNORE;
        used[r] = true;
        l->role[i] = r;
    }
}

vf_status vf_csv_layout_builtin(const char *name, vf_csv_layout *out) {
    for (int b = 0; b < N_BUILTINS; b++) {
        if (strcmp(name, builtins[b].name)) continue;
        memset(out, 0, sizeof *out);
        snprintf(out->name, sizeof out->name, "%s", name);
        out->n_cols = split_header(builtins[b].header, out->col_name, VF_CSV_MAX_COLS);
        out->time_unit = builtins[b].unit;
        out->addr_style = builtins[b].addr;
        out->proto_lower = builtins[b].lower;
        assign_alias_roles(out);
        layout_set_builtin_defaults(out);
        return VF_OK;
    }
    return vf_fail(VF_ERR_ARG, "no built-in CSV layout '%s' (ugr16, zeek, netshare, "
                               "netshare_label, netshare_pcap)", name);
}

static bool has_role(const vf_csv_layout *l, vf_col_role r) {
    for (int i = 0; i < l->n_cols; i++)
        if (l->role[i] == r) return true;
    return false;
}

static int col_of_role(const vf_csv_layout *l, vf_col_role r) {
    for (int i = 0; i < l->n_cols; i++)
        if (l->role[i] == r) return i;
    return -1;
}

/* Unit of an epoch time value (text of one field). */
static vf_time_unit guess_unit(const char *s, size_t len) {
    uint64_t ip = 0;
    size_t i = 0;
    for (; i < len && (s[i] == ' ' || s[i] == '"'); i++) {}
    size_t st = i;
    for (; i < len && isdigit((unsigned char)s[i]); i++) ip = ip * 10 + (uint64_t)(s[i] - '0');
    if (i < len && (s[i] == '-' || s[i] == ':' || s[i] == '/') && i > st) return VF_TIME_DATETIME;
    if (ip >= 100000000000000000ull) return VF_TIME_NS;
    if (ip >= 100000000000000ull) return VF_TIME_US;
    if (ip >= 100000000000ull) return VF_TIME_MS;
    return VF_TIME_S;
}

vf_status vf_csv_layout_detect(const char *header, const char *first_row, vf_csv_layout *out) {
    memset(out, 0, sizeof *out);
    out->n_cols = split_header(header, out->col_name, VF_CSV_MAX_COLS);
    if (out->n_cols < 0)
        return vf_fail(VF_ERR_FORMAT, "header has more than %d columns", VF_CSV_MAX_COLS);
    for (int b = 0; b < N_BUILTINS; b++) {
        char names[VF_CSV_MAX_COLS][48];
        int n = split_header(builtins[b].header, names, VF_CSV_MAX_COLS);
        if (n != out->n_cols) continue;
        bool same = true;
        for (int i = 0; i < n && same; i++) same = !strcmp(names[i], out->col_name[i]);
        if (same) return vf_csv_layout_builtin(builtins[b].name, out);
    }
    snprintf(out->name, sizeof out->name, "auto");
    assign_alias_roles(out);
    static const vf_col_role need[] = {VF_COL_SRCIP, VF_COL_DSTIP, VF_COL_PROTO};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (!has_role(out, need[i]))
            return vf_fail(VF_ERR_FORMAT,
                           "header: no column for '%s' (known layouts: ugr16, zeek, netshare; "
                           "otherwise map the columns in the data description)",
                           vf_col_role_name(need[i]));
    int tc = col_of_role(out, VF_COL_TS);
    if (tc < 0) tc = col_of_role(out, VF_COL_TE);
    if (tc < 0)
        return vf_fail(VF_ERR_FORMAT, "header: no time column ('ts' or 'te' or an alias); map "
                                      "the columns in the data description");
    out->time_unit = VF_TIME_S;
    if (first_row) {
        /* tc-th field of the first row */
        const char *p = first_row;
        for (int i = 0; i < tc && p; i++) {
            p = strchr(p, ',');
            if (p) p++;
        }
        if (p) {
            const char *e = p;
            while (*e && *e != ',' && *e != '\n' && *e != '\r') e++;
            out->time_unit = guess_unit(p, (size_t)(e - p));
        }
    }
    return VF_OK;
}

/* ----------------------------------------------------------- field parsing */

static bool parse_datetime(const char *s, const char *e, int64_t *ns) {
    /* YYYY-MM-DD[ T]HH:MM:SS[.frac][Z] or YYYY/MM/DD ..., UTC */
    char buf[64];
    size_t n = (size_t)(e - s);
    if (n >= sizeof buf || n < 19) return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    if (buf[n - 1] == 'Z') buf[--n] = 0;
    int Y, M, D, h, m, sec;
    char s1, s2, sep;
    int used = 0;
    if (sscanf(buf, "%4d%c%2d%c%2d%c%2d:%2d:%2d%n", &Y, &s1, &M, &s2, &D, &sep, &h, &m, &sec, &used) != 9)
        return false;
    if (used != 19 || s1 != s2 || (s1 != '-' && s1 != '/') || (sep != ' ' && sep != 'T')) return false;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60 || Y < 1970 || Y > 9999 ||
        h < 0 || m < 0 || sec < 0)
        return false;
    struct tm tm = {0};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    int64_t t = (int64_t)timegm(&tm);
    if (t < 0 || t >= INT64_MAX / 1000000000 - 1) return false; /* ns since 1970 end in 2262 */
    int64_t frac = 0;
    if (buf[19]) {
        if (buf[19] != '.') return false;
        const char *f = buf + 19;
        if (!vf_parse_dec_ns(f, buf + n, 1000000000, &frac)) return false;
    }
    *ns = t * 1000000000 + frac;
    return true;
}

/* integer, allowing a ".000" tail (pandas writes floats for columns with gaps) */
static bool parse_count(const char *s, const char *e, uint64_t *v) {
    const char *dot = memchr(s, '.', (size_t)(e - s));
    if (!dot) return vf_parse_u64(s, e, v);
    for (const char *f = dot + 1; f < e; f++)
        if (*f != '0') return false;
    return vf_parse_u64(s, dot, v);
}

static bool parse_flags(const char *s, const char *e, uint8_t *out) {
    uint64_t v;
    if (vf_parse_u64(s, e, &v)) {
        if (v > 255) return false;
        *out = (uint8_t)v;
        return true;
    }
    if (e - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        char buf[8];
        if (e - s > 6) return false;
        memcpy(buf, s, (size_t)(e - s));
        buf[e - s] = 0;
        char *end;
        unsigned long x = strtoul(buf, &end, 16);
        if (*end || x > 255) return false;
        *out = (uint8_t)x;
        return true;
    }
    uint8_t f = 0;
    for (; s < e; s++) {
        switch (*s) {
        case 'C': f |= 0x80; break;
        case 'E': f |= 0x40; break;
        case 'U': f |= 0x20; break;
        case 'A': f |= 0x10; break;
        case 'P': f |= 0x08; break;
        case 'R': f |= 0x04; break;
        case 'S': f |= 0x02; break;
        case 'F': f |= 0x01; break;
        case '.': break;
        default: return false;
        }
    }
    *out = f;
    return true;
}

/* ------------------------------------------------------------------ reader */

typedef struct { char *s, *e; } span;

/* Splits one record starting at *pp (quotes: "" escapes, commas and newlines
 * inside quotes). Unquotes in place. Sets *pp past the line end, counts
 * newlines into *lines. Returns the field count (may exceed max: extra
 * fields are counted, not stored). */
static int split_row(char **pp, char *end, span *f, int max, uint64_t *lines) {
    char *p = *pp;
    int n = 0;
    for (;;) {
        char *s = p, *w = p;
        if (p < end && *p == '"') {
            p++;
            for (;;) {
                if (p >= end) break;
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') { *w++ = '"'; p += 2; continue; }
                    p++;
                    break;
                }
                if (*p == '\n') (*lines)++;
                *w++ = *p++;
            }
            /* tolerate junk after the closing quote up to the separator */
            while (p < end && *p != ',' && *p != '\n') p++;
        } else {
            while (p < end && *p != ',' && *p != '\n') p++;
            w = p;
        }
        char *fe = w;
        if (fe > s && fe[-1] == '\r' && (p >= end || *p == '\n')) fe--;
        if (n < max) { f[n].s = s; f[n].e = fe; }
        n++;
        if (p < end && *p == ',') { p++; continue; }
        if (p < end) { p++; (*lines)++; } /* the '\n' */
        break;
    }
    *pp = p;
    return n;
}

static bool is_missing(const span *f) {
    return f->s == f->e || (f->e - f->s == 1 && *f->s == '-');
}

vf_status vf_csv_read_mem(const char *name, const char *src, size_t len,
                          const vf_read_options *opt, vf_trace *out) {
    static const vf_read_options defaults = {0};
    if (!opt) opt = &defaults;
    memset(out, 0, sizeof *out);
    out->linktype = -1;
    if (len == 0) return vf_fail(VF_ERR_FORMAT, "%s: empty file", name);
    char *buf = malloc(len + 1);
    if (!buf) return vf_fail(VF_ERR_OOM, "%s: out of memory", name);
    memcpy(buf, src, len);
    buf[len] = 0;
    char *end = buf + len;
    vf_status st = VF_OK;
    if (memchr(buf, 0, len)) {
        /* find the line for the message */
        uint64_t ln = 1;
        for (char *q = buf; q < end && *q; q++) ln += *q == '\n';
        (void)st;
        st = vf_fail(VF_ERR_FORMAT, "%s:%llu: NUL byte: not a text CSV file", name,
                     (unsigned long long)ln);
        free(buf);
        return st;
    }
    char *p = buf;
    /* skip a UTF-8 BOM and leading blank lines */
    if (len >= 3 && (uint8_t)p[0] == 0xef && (uint8_t)p[1] == 0xbb && (uint8_t)p[2] == 0xbf) p += 3;
    uint64_t line = 1;
    while (p < end && (*p == '\n' || *p == '\r')) { line += *p == '\n'; p++; }
    if (p >= end) { free(buf); return vf_fail(VF_ERR_FORMAT, "%s: empty file (no header)", name); }
    char *hl_end = memchr(p, '\n', (size_t)(end - p));
    if (!hl_end) hl_end = end;
    char *header = strndup(p, (size_t)(hl_end - p));
    if (!header) { free(buf); return vf_fail(VF_ERR_OOM, "%s: out of memory", name); }
    size_t hlen = strlen(header);
    if (hlen && header[hlen - 1] == '\r') header[--hlen] = 0;
    /* a header is text: a control character means binary data (vf_trace_read
     * refuses such a file by its first bytes; from memory, or further into
     * the line, the writer would otherwise write back a header that the file
     * reader refuses: found by tests/fuzz/fuzz_csv.c) */
    for (size_t i = 0; i < hlen; i++) {
        unsigned char c = (unsigned char)header[i];
        if (c < 0x20 && c != '\t') {
            free(header);
            free(buf);
            return vf_fail(VF_ERR_FORMAT, "%s:%llu: the header has a control character (0x%02x) at byte %zu: not "
                           "CSV text", name, (unsigned long long)line, c, i + 1);
        }
    }
    char *first_row = hl_end < end ? hl_end + 1 : NULL;
    char *first_copy = NULL;
    if (first_row) {
        char *fe = memchr(first_row, '\n', (size_t)(end - first_row));
        first_copy = strndup(first_row, fe ? (size_t)(fe - first_row) : (size_t)(end - first_row));
    }
    vf_csv_layout L;
    if (opt->layout) {
        /* the mapping names columns; resolve them against this header */
        memset(&L, 0, sizeof L);
        snprintf(L.name, sizeof L.name, "%s", opt->layout->name[0] ? opt->layout->name : "custom");
        L.n_cols = split_header(header, L.col_name, VF_CSV_MAX_COLS);
        L.time_unit = opt->layout->time_unit;
        L.addr_style = opt->layout->addr_style;
        L.proto_numeric = opt->layout->proto_numeric;
        L.proto_lower = opt->layout->proto_lower;
        if (L.n_cols < 0) {
            st = vf_fail(VF_ERR_FORMAT, "%s:%llu: header has more than %d columns", name,
                         (unsigned long long)line, VF_CSV_MAX_COLS);
        }
        for (int m = 0; !st && m < opt->layout->n_cols; m++) {
            if (opt->layout->role[m] == VF_COL_IGNORE) continue;
            int found = -1;
            for (int i = 0; i < L.n_cols; i++)
                if (!strcmp(L.col_name[i], opt->layout->col_name[m])) { found = i; break; }
            if (found < 0)
                st = vf_fail(VF_ERR_FORMAT, "%s:%llu: column '%s' (mapped to %s) is not in the header",
                             name, (unsigned long long)line, opt->layout->col_name[m],
                             vf_col_role_name(opt->layout->role[m]));
            else
                L.role[found] = opt->layout->role[m];
        }
    } else {
        st = vf_csv_layout_detect(header, first_copy, &L);
        if (st) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", vf_last_error());
            st = vf_fail(st, "%s:%llu: %s", name, (unsigned long long)line, msg);
        }
    }
    free(header);
    free(first_copy);
    if (!st && !has_role(&L, VF_COL_TS) && !has_role(&L, VF_COL_TE))
        st = vf_fail(VF_ERR_FORMAT, "%s: layout has no time column (ts or te)", name);
    if (st) { free(buf); return st; }
    out->layout = L;
    out->kind = has_role(&L, VF_COL_LEN) ? VF_TRACE_PACKETS : VF_TRACE_FLOWS;
    p = first_row ? first_row : end;
    line++;
    span f[VF_CSV_MAX_COLS];
    int64_t unit = unit_ns[L.time_unit];
    while (p < end && !st) {
        if (opt->max_records && out->n >= opt->max_records) break;
        uint64_t row_line = line;
        char *row_start = p;
        int n = split_row(&p, end, f, VF_CSV_MAX_COLS, &line);
        if (n == 1 && (f[0].e == f[0].s)) { (void)row_start; continue; } /* blank line */
        out->n_input++;
        if (n != L.n_cols) {
            st = vf_trace_skip(out, opt->strict, VF_SKIP_CSV_COLUMNS,
                               "%s:%llu: %d columns, the header has %d", name,
                               (unsigned long long)row_line, n, L.n_cols);
            continue;
        }
        vf_record r;
        memset(&r, 0, sizeof r);
        r.label = -1;
        int64_t te = 0;
        bool have_te = false;
        uint64_t pkt_add = 0, byt_add = 0;
        bool have_pkt = false;
        const char *bad = NULL;
        int bad_col = -1;
        for (int i = 0; i < n && !bad; i++) {
            span *x = &f[i];
            *x->e = 0; /* fields are NUL-terminated in place from here on */
            uint64_t v = 0;
            bool miss = is_missing(x);
            switch (L.role[i]) {
            case VF_COL_IGNORE: break;
            case VF_COL_SRCIP: case VF_COL_DSTIP: {
                vf_addr *a = L.role[i] == VF_COL_SRCIP ? &r.src : &r.dst;
                if (!vf_addr_parse(x->s, a)) bad = "not an IPv4/IPv6 address (or integer 0..2^32-1)";
                break;
            }
            case VF_COL_SRCPORT: case VF_COL_DSTPORT:
                if (!miss && (!parse_count(x->s, x->e, &v) || v > 65535)) { bad = "not a port number 0..65535"; break; }
                if (L.role[i] == VF_COL_SRCPORT) r.sport = (uint16_t)v; else r.dport = (uint16_t)v;
                break;
            case VF_COL_PROTO:
                if (!vf_proto_parse(x->s, &r.proto)) bad = "not a protocol (name like TCP/UDP/ICMP or 0..255)";
                break;
            case VF_COL_TS: case VF_COL_TE: {
                int64_t t;
                bool ok = L.time_unit == VF_TIME_DATETIME ? parse_datetime(x->s, x->e, &t)
                                                          : vf_parse_dec_ns(x->s, x->e, unit, &t);
                if (!ok || t < 0) {
                    bad = L.time_unit == VF_TIME_DATETIME ? "not a date-time YYYY-MM-DD HH:MM:SS[.frac]"
                                                          : "not a non-negative epoch time";
                    break;
                }
                if (L.role[i] == VF_COL_TS) r.ts_ns = t; else { te = t; have_te = true; }
                break;
            }
            case VF_COL_TD:
                if (!miss && (!vf_parse_dec_ns(x->s, x->e, 1000000000, &r.dur_ns) || r.dur_ns < 0))
                    bad = "not a non-negative duration in seconds";
                break;
            case VF_COL_PKT: case VF_COL_BYT: case VF_COL_PKT_ADD: case VF_COL_BYT_ADD:
            case VF_COL_LEN:
                if (!miss && !parse_count(x->s, x->e, &v)) { bad = "not a non-negative integer"; break; }
                if (L.role[i] == VF_COL_PKT) { r.pkts = v; have_pkt = true; }
                else if (L.role[i] == VF_COL_BYT) r.bytes = v;
                else if (L.role[i] == VF_COL_PKT_ADD) pkt_add = v;
                else if (L.role[i] == VF_COL_BYT_ADD) byt_add = v;
                else if (v > 65535) bad = "IP length above 65535";
                else r.length = (uint32_t)v;
                break;
            case VF_COL_LABEL: {
                int li = vf_trace_label(out, x->s);
                if (li < 0) { st = vf_fail(VF_ERR_OOM, "%s: out of memory", name); bad = "oom"; }
                r.label = li;
                break;
            }
            case VF_COL_FLAGS:
                if (!miss && !parse_flags(x->s, x->e, &r.tcp_flags)) bad = "not TCP flags (nfdump '.AP.S.' or 0..255)";
                break;
            case VF_COL_TOS: case VF_COL_TTL: case VF_COL_FRAGFLAG:
                if (!miss && (!parse_count(x->s, x->e, &v) || v > (L.role[i] == VF_COL_FRAGFLAG ? 7u : 255u))) {
                    bad = L.role[i] == VF_COL_FRAGFLAG ? "not IP flags 0..7" : "not a byte value 0..255";
                    break;
                }
                if (L.role[i] == VF_COL_TOS) r.tos = (uint8_t)v;
                else if (L.role[i] == VF_COL_TTL) r.ttl = (uint8_t)v;
                else r.frag_flags = (uint8_t)v;
                break;
            case VF_COL_IPID: case VF_COL_FRAGOFF:
                if (!miss && (!parse_count(x->s, x->e, &v) || v > (L.role[i] == VF_COL_IPID ? 65535u : 8191u))) {
                    bad = L.role[i] == VF_COL_IPID ? "not an IP id 0..65535" : "not a fragment offset 0..8191";
                    break;
                }
                if (L.role[i] == VF_COL_IPID) r.ip_id = (uint16_t)v; else r.frag_off = (uint16_t)v;
                break;
            default: break;
            }
            if (bad) bad_col = i;
        }
        if (st) break;
        if (!bad && !have_te && r.dur_ns > INT64_MAX - r.ts_ns) {
            bad = "a duration that puts the end past year 2262";
            bad_col = col_of_role(&L, VF_COL_TD);
        }
        if (!bad && have_te) {
            r.ts_ns = te - r.dur_ns;
            if (r.ts_ns < 0) { bad = "end time before the duration's start"; bad_col = col_of_role(&L, VF_COL_TE); }
        }
        if (bad) {
            char val[64];
            snprintf(val, sizeof val, "%.*s", (int)(f[bad_col].e - f[bad_col].s > 60 ? 60 : f[bad_col].e - f[bad_col].s),
                     f[bad_col].s);
            st = vf_trace_skip(out, opt->strict, VF_SKIP_CSV_FIELD, "%s:%llu: field '%s': '%s' is %s", name,
                               (unsigned long long)row_line, L.col_name[bad_col], val, bad);
            continue;
        }
        r.ip_version = vf_addr_is_v4(&r.src) ? 4 : 6;
        if (out->kind == VF_TRACE_PACKETS) {
            r.pkts = 1;
            r.bytes = r.length;
            r.dur_ns = 0;
        } else {
            if (!have_pkt && !pkt_add) r.pkts = 1;
            r.pkts += pkt_add;
            r.bytes += byt_add;
        }
        st = vf_trace_append(out, &r);
    }
    free(buf);
    if (st) vf_trace_free(out);
    return st;
}

vf_status vf_csv_read(const char *path, const vf_read_options *opt, vf_trace *out) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return vf_fail(VF_ERR_IO, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 20, n = 0;
    char *b = malloc(cap);
    if (!b) { fclose(fp); return vf_fail(VF_ERR_OOM, "%s: out of memory", path); }
    for (;;) {
        if (n == cap) {
            char *nb = realloc(b, cap * 2);
            if (!nb) { free(b); fclose(fp); return vf_fail(VF_ERR_OOM, "%s: out of memory", path); }
            b = nb;
            cap *= 2;
        }
        size_t got = fread(b + n, 1, cap - n, fp);
        n += got;
        if (got == 0) break;
    }
    bool err = ferror(fp);
    fclose(fp);
    if (err) { free(b); return vf_fail(VF_ERR_IO, "%s: read error", path); }
    vf_status st = vf_csv_read_mem(path, b, n, opt, out);
    free(b);
    return st;
}

/* ------------------------------------------------------------------ writer */

/* ns value in the given unit, exact, with at least min_frac decimals */
static void put_scaled(FILE *f, int64_t ns, int64_t unit, int min_frac) {
    if (ns < 0) { fputc('-', f); ns = -ns; }
    int64_t ip = ns / unit, fr = ns % unit;
    fprintf(f, "%lld", (long long)ip);
    int digits = 0;
    for (int64_t u = unit; u > 1; u /= 10) digits++;
    if (digits == 0) return;
    /* trailing zeros beyond min_frac are dropped */
    char d[24];
    for (int i = digits - 1; i >= 0; i--, fr /= 10) d[i] = (char)('0' + fr % 10);
    int keep = digits;
    while (keep > min_frac && d[keep - 1] == '0') keep--;
    if (keep > 0) fprintf(f, ".%.*s", keep, d);
}

static void put_datetime(FILE *f, int64_t ns) {
    time_t s = (time_t)(ns / 1000000000);
    int64_t fr = ns % 1000000000;
    if (fr < 0) { fr += 1000000000; s--; }
    struct tm tm;
    gmtime_r(&s, &tm);
    char b[32];
    strftime(b, sizeof b, "%Y-%m-%d %H:%M:%S", &tm);
    fputs(b, f);
    if (fr) {
        /* ".frac" with trailing zeros dropped (not put_scaled: it would print "0.") */
        char d[10];
        for (int i = 8; i >= 0; i--, fr /= 10) d[i] = (char)('0' + fr % 10);
        int keep = 9;
        while (keep > 0 && d[keep - 1] == '0') keep--;
        fprintf(f, ".%.*s", keep, d);
    }
}

static void put_text(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\n\r")) { fputs(s, f); return; }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

vf_status vf_trace_write_csv(const char *path, const vf_trace *t, const vf_csv_layout *layout) {
    vf_csv_layout ns;
    if (!layout) layout = t->layout.n_cols ? &t->layout : NULL;
    if (!layout) {
        vf_csv_layout_builtin(t->kind == VF_TRACE_PACKETS ? "netshare_pcap" : "netshare", &ns);
        layout = &ns;
    }
    vf_atomic_file af;
    vf_status st = vf_atomic_open(&af, path);
    if (st) return st;
    FILE *f = af.f;
    for (int i = 0; i < layout->n_cols; i++) {
        if (i) fputc(',', f);
        put_text(f, layout->col_name[i]);
    }
    fputc('\n', f);
    vf_time_unit tu = layout->time_unit;
    /* An "auto" layout's unit was guessed from its first row; a guess on
     * what we write could differ (µs before 1973 look like ms). Epoch
     * seconds are always guessed right (below 1e11 until 2262). */
    if (!strcmp(layout->name, "auto") && tu != VF_TIME_DATETIME) tu = VF_TIME_S;
    int64_t unit = unit_ns[tu];
    for (size_t k = 0; k < t->n; k++) {
        const vf_record *r = &t->recs[k];
        for (int i = 0; i < layout->n_cols; i++) {
            if (i) fputc(',', f);
            char b[64];
            switch (layout->role[i]) {
            case VF_COL_IGNORE: fputs(layout->col_default[i], f); break;
            case VF_COL_SRCIP: case VF_COL_DSTIP: {
                const vf_addr *a = layout->role[i] == VF_COL_SRCIP ? &r->src : &r->dst;
                if (layout->addr_style == VF_ADDR_INT && vf_addr_is_v4(a))
                    fprintf(f, "%u", vf_addr_v4(a));
                else
                    fputs(vf_addr_str(a, b, sizeof b), f);
                break;
            }
            case VF_COL_SRCPORT: fprintf(f, "%u", r->sport); break;
            case VF_COL_DSTPORT: fprintf(f, "%u", r->dport); break;
            case VF_COL_PROTO: {
                const char *nm = layout->proto_numeric ? NULL : vf_proto_name(r->proto);
                if (!nm) { fprintf(f, "%u", r->proto); break; }
                if (layout->proto_lower) {
                    for (const char *c = nm; *c; c++) fputc(tolower((unsigned char)*c), f);
                } else {
                    fputs(nm, f);
                }
                break;
            }
            case VF_COL_TS: case VF_COL_TE: {
                int64_t v = r->ts_ns + (layout->role[i] == VF_COL_TE ? r->dur_ns : 0);
                if (tu == VF_TIME_DATETIME) put_datetime(f, v);
                else put_scaled(f, v, unit, tu == VF_TIME_S ? 6 : 0);
                break;
            }
            case VF_COL_TD: put_scaled(f, r->dur_ns, 1000000000, 3); break;
            case VF_COL_PKT: fprintf(f, "%llu", (unsigned long long)r->pkts); break;
            case VF_COL_BYT: fprintf(f, "%llu", (unsigned long long)r->bytes); break;
            case VF_COL_PKT_ADD: case VF_COL_BYT_ADD: fputc('0', f); break;
            case VF_COL_LABEL:
                if (r->label >= 0 && r->label < t->n_labels) put_text(f, t->labels[r->label]);
                break;
            case VF_COL_FLAGS: fputs(vf_tcp_flags_str(r->tcp_flags, b), f); break;
            case VF_COL_TOS: fprintf(f, "%u", r->tos); break;
            case VF_COL_LEN: fprintf(f, "%u", r->length); break;
            case VF_COL_TTL: fprintf(f, "%u", r->ttl); break;
            case VF_COL_IPID: fprintf(f, "%u", r->ip_id); break;
            case VF_COL_FRAGFLAG: fprintf(f, "%u", r->frag_flags); break;
            case VF_COL_FRAGOFF: fprintf(f, "%u", r->frag_off); break;
            default: break;
            }
        }
        fputc('\n', f);
    }
    return vf_atomic_commit(&af);
}
