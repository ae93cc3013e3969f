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
#include <netdb.h>
#include <arpa/inet.h>

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

static const char *const unit_names[] = {"s", "ms", "us", "ns", "datetime", "dmy"};
const char *vf_time_unit_name(vf_time_unit u) {
    return (unsigned)u <= VF_TIME_DMY ? unit_names[u] : "?";
}

static const int64_t unit_ns[] = {1000000000, 1000000, 1000, 1, 1000000000, 1000000000};

/* ------------------------------------------------------------- layouts */

#define UNIT_GUESS ((vf_time_unit)-1) /* built-in whose time unit depends on the tool's options */

static const struct {
    const char *name, *header;
    vf_time_unit unit;
    vf_addr_style addr;
    bool lower;
    vf_icmp_ports icmp;
} builtins[] = {
    {"ugr16", "te,td,sa,da,sp,dp,pr,flg,fwd,stos,pkt,byt,type", VF_TIME_DATETIME, VF_ADDR_TEXT, false,
     VF_ICMP_NFDUMP},
    {"zeek",
     "ts,uid,id.orig_h,id.orig_p,id.resp_h,id.resp_p,proto,service,duration,orig_bytes,"
     "resp_bytes,conn_state,local_orig,local_resp,missed_bytes,history,orig_pkts,"
     "orig_ip_bytes,resp_pkts,resp_ip_bytes,tunnel_parents,label,detailed-label",
     VF_TIME_S, VF_ADDR_TEXT, true, VF_ICMP_ZEEK},
    {"netshare", "srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt,type", VF_TIME_US, VF_ADDR_INT, false,
     VF_ICMP_NFDUMP},
    {"netshare_label", "srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt,label", VF_TIME_US, VF_ADDR_INT, false,
     VF_ICMP_NFDUMP},
    {"netshare_pcap",
     "srcip,dstip,srcport,dstport,proto,time,pkt_len,version,ihl,tos,id,flag,off,ttl,chksum",
     VF_TIME_US, VF_ADDR_INT, false, VF_ICMP_NFDUMP},
    /* nfdump -o csv (1.6, 1.7) */
    {"nfdump",
     "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,nh,nhb,"
     "svln,dvln,ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,mpls8,mpls9,mpls10,cl,sl,al,"
     "ra,eng,exid,tr",
     VF_TIME_DATETIME, VF_ADDR_TEXT, false, VF_ICMP_NFDUMP},
    /* Argus `ra -c ,` default columns (StartTime: -u epoch seconds, or RA_TIME_FORMAT) */
    {"argus", "StartTime,Flgs,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,TotPkts,TotBytes,State", UNIT_GUESS,
     VF_ADDR_TEXT, true, VF_ICMP_ARGUS},
    /* CTU-13 .binetflow (Argus, RA_TIME_FORMAT "%Y/%m/%d %T.%f", a Label column added) */
    {"binetflow", "StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,TotBytes,SrcBytes,Label",
     UNIT_GUESS, VF_ADDR_TEXT, true, VF_ICMP_ARGUS},
    /* Zeek conn.log fields (ASCII TSV with #fields, or JSON lines) */
    {"zeek_conn",
     "ts,uid,id.orig_h,id.orig_p,id.resp_h,id.resp_p,proto,service,duration,orig_bytes,resp_bytes,"
     "conn_state,local_orig,local_resp,missed_bytes,history,orig_pkts,orig_ip_bytes,resp_pkts,"
     "resp_ip_bytes,tunnel_parents",
     VF_TIME_S, VF_ADDR_TEXT, true, VF_ICMP_ZEEK},
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
    {"td", VF_COL_TD}, {"duration", VF_COL_TD}, {"dur", VF_COL_TD}, {"flow duration", VF_COL_TD},
    {"pkt", VF_COL_PKT}, {"pkts", VF_COL_PKT}, {"packets", VF_COL_PKT},
    {"totpkts", VF_COL_PKT}, {"orig_pkts", VF_COL_PKT}, {"ipkt", VF_COL_PKT},
    {"tot fwd pkts", VF_COL_PKT}, {"total fwd packets", VF_COL_PKT},
    {"byt", VF_COL_BYT}, {"bytes", VF_COL_BYT}, {"totbytes", VF_COL_BYT},
    {"orig_ip_bytes", VF_COL_BYT}, {"ibyt", VF_COL_BYT},
    {"totlen fwd pkts", VF_COL_BYT}, {"total length of fwd packets", VF_COL_BYT},
    {"resp_pkts", VF_COL_PKT_ADD}, {"resp_ip_bytes", VF_COL_BYT_ADD},
    {"opkt", VF_COL_PKT_ADD}, {"obyt", VF_COL_BYT_ADD},
    {"tot bwd pkts", VF_COL_PKT_ADD}, {"total backward packets", VF_COL_PKT_ADD},
    {"totlen bwd pkts", VF_COL_BYT_ADD}, {"total length of bwd packets", VF_COL_BYT_ADD},
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

static int col_named(const vf_csv_layout *l, const char *name) {
    for (int i = 0; i < l->n_cols; i++)
        if (!strcasecmp(l->col_name[i], name)) return i;
    return -1;
}

vf_status vf_csv_layout_builtin(const char *name, vf_csv_layout *out) {
    for (int b = 0; b < N_BUILTINS; b++) {
        if (strcmp(name, builtins[b].name)) continue;
        memset(out, 0, sizeof *out);
        snprintf(out->name, sizeof out->name, "%s", name);
        out->n_cols = split_header(builtins[b].header, out->col_name, VF_CSV_MAX_COLS);
        out->time_unit = builtins[b].unit == UNIT_GUESS ? VF_TIME_S : builtins[b].unit;
        if (!strcmp(name, "binetflow")) out->time_unit = VF_TIME_DATETIME;
        out->addr_style = builtins[b].addr;
        out->proto_lower = builtins[b].lower;
        out->icmp_ports = (uint8_t)builtins[b].icmp;
        assign_alias_roles(out);
        layout_set_builtin_defaults(out);
        return VF_OK;
    }
    return vf_fail(VF_ERR_ARG, "no built-in CSV layout '%s' (ugr16, zeek, netshare, "
                               "netshare_label, netshare_pcap, nfdump, argus, binetflow, zeek_conn)", name);
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

/* the unit of the time column tc in first_row (CSV text), seconds if none */
static vf_time_unit guess_row_unit(const char *first_row, int tc) {
    if (!first_row || tc < 0) return VF_TIME_S;
    const char *p = first_row;
    for (int i = 0; i < tc && p; i++) {
        p = strchr(p, ',');
        if (p) p++;
    }
    if (!p) return VF_TIME_S;
    const char *e = p;
    while (*e && *e != ',' && *e != '\n' && *e != '\r') e++;
    return guess_unit(p, (size_t)(e - p));
}

/* Tools recognised by their column names when the header is not exactly a
 * built-in one (other field choices, other versions): sets the name and the
 * port conventions. */
static void detect_family(vf_csv_layout *l) {
    if (col_named(l, "id.orig_h") >= 0) {
        snprintf(l->name, sizeof l->name, "zeek_conn");
        l->icmp_ports = VF_ICMP_ZEEK;
        l->proto_lower = true;
        /* Zeek's ip_proto column (newer versions) names every protocol;
         * "proto" says only tcp/udp/icmp/unknown_transport */
        int ipp = col_named(l, "ip_proto");
        if (ipp >= 0) {
            for (int i = 0; i < l->n_cols; i++)
                if (l->role[i] == VF_COL_PROTO) l->role[i] = VF_COL_IGNORE;
            l->role[ipp] = VF_COL_PROTO;
            l->proto_numeric = true;
        }
    } else if (col_named(l, "Flow Duration") >= 0 || col_named(l, "Flow ID") >= 0) {
        snprintf(l->name, sizeof l->name, "cicflowmeter");
        l->icmp_ports = VF_ICMP_NONE;
        l->td_unit_ns = 1000; /* Flow Duration in µs */
        l->proto_numeric = true;
    } else if (col_named(l, "SrcAddr") >= 0 && (col_named(l, "Dir") >= 0 || col_named(l, "Sport") >= 0)) {
        snprintf(l->name, sizeof l->name, "argus");
        l->icmp_ports = VF_ICMP_ARGUS;
        l->proto_lower = true;
    } else if (col_named(l, "ipkt") >= 0 && col_named(l, "ibyt") >= 0) {
        snprintf(l->name, sizeof l->name, "nfdump");
        l->icmp_ports = VF_ICMP_NFDUMP;
    }
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
        if (!same) continue;
        vf_status st = vf_csv_layout_builtin(builtins[b].name, out);
        if (!st && builtins[b].unit == UNIT_GUESS) {
            int tc = col_of_role(out, VF_COL_TS);
            out->time_unit = guess_row_unit(first_row, tc);
            out->unit_guessed = out->time_unit != VF_TIME_DATETIME;
        }
        return st;
    }
    snprintf(out->name, sizeof out->name, "auto");
    assign_alias_roles(out);
    detect_family(out);
    static const vf_col_role need[] = {VF_COL_SRCIP, VF_COL_DSTIP, VF_COL_PROTO};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (!has_role(out, need[i]))
            return vf_fail(VF_ERR_FORMAT,
                           "header: no column for '%s' (known layouts: ugr16, zeek, netshare, nfdump, argus, "
                           "binetflow, zeek_conn, cicflowmeter; otherwise map the columns in the data description)",
                           vf_col_role_name(need[i]));
    int tc = col_of_role(out, VF_COL_TS);
    if (tc < 0) tc = col_of_role(out, VF_COL_TE);
    if (tc < 0)
        return vf_fail(VF_ERR_FORMAT, "header: no time column ('ts' or 'te' or an alias); map "
                                      "the columns in the data description");
    out->time_unit = guess_row_unit(first_row, tc);
    out->unit_guessed = out->time_unit != VF_TIME_DATETIME;
    if (!strcmp(out->name, "cicflowmeter") && out->time_unit == VF_TIME_DATETIME) out->time_unit = VF_TIME_DMY;
    return VF_OK;
}

/* ----------------------------------------------------------- field parsing */

static bool make_time(int Y, int M, int D, int h, int m, int sec, int64_t *t_s) {
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
    *t_s = t;
    return true;
}

/* CICFlowMeter: D/M/YYYY H:MM[:SS][.frac][ AM|PM] (day first, as its
 * "dd/MM/yyyy hh:mm:ss a" and the CIC-IDS data sets write it), UTC */
static bool parse_dmy(const char *s, const char *e, int64_t *ns) {
    char buf[64];
    size_t n = (size_t)(e - s);
    if (n >= sizeof buf || n < 12) return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    int pm = -1;
    if (n > 3 && (!strcasecmp(buf + n - 3, " AM") || !strcasecmp(buf + n - 3, " PM"))) {
        pm = toupper((unsigned char)buf[n - 2]) == 'P';
        n -= 3;
        buf[n] = 0;
    }
    int D, M, Y, h, m, sec = 0, used = 0;
    if (sscanf(buf, "%2d/%2d/%4d %2d:%2d%n", &D, &M, &Y, &h, &m, &used) != 5) return false;
    char *p = buf + used;
    if (*p == ':') {
        int u2 = 0;
        if (sscanf(p, ":%2d%n", &sec, &u2) != 1) return false;
        p += u2;
    }
    int64_t frac = 0;
    if (*p == '.') {
        if (!vf_parse_dec_ns(p, buf + n, 1000000000, &frac)) return false;
    } else if (*p) {
        return false;
    }
    if (pm >= 0) {
        if (h < 1 || h > 12) return false;
        h = h % 12 + (pm ? 12 : 0);
    }
    int64_t t;
    if (!make_time(Y, M, D, h, m, sec, &t)) return false;
    *ns = t * 1000000000 + frac;
    return true;
}

static bool parse_datetime(const char *s, const char *e, int64_t *ns) {
    /* YYYY-MM-DD[ T]HH:MM:SS[.frac][Z] or YYYY/MM/DD ..., UTC */
    char buf[64];
    size_t n = (size_t)(e - s);
    if (n >= 3 && isdigit((unsigned char)s[0]) && (s[1] == '/' || (isdigit((unsigned char)s[1]) && s[2] == '/')))
        return parse_dmy(s, e, ns);
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
    int64_t t;
    if (!make_time(Y, M, D, h, m, sec, &t)) return false;
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
static bool parse_count_(const char *s, const char *e, uint64_t *v) {
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

/* Zeek ASCII: fields separated by sep, no quoting. */
static int split_tsv(char **pp, char *end, char sep, span *f, int max, uint64_t *lines) {
    char *p = *pp;
    int n = 0;
    for (;;) {
        char *s = p;
        while (p < end && *p != sep && *p != '\n') p++;
        char *fe = p;
        if (fe > s && fe[-1] == '\r' && (p >= end || *p == '\n')) fe--;
        if (n < max) { f[n].s = s; f[n].e = fe; }
        n++;
        if (p < end && *p == sep) { p++; continue; }
        if (p < end) { p++; (*lines)++; }
        break;
    }
    *pp = p;
    return n;
}

static char *skip_ws(char *p, char *e) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
    return p;
}

/* a JSON string at p ('"'): *s..*e its raw content (escapes left as they are) */
static char *json_string(char *p, char *e, char **s, char **se) {
    p++;
    *s = p;
    while (p < e && *p != '"') p += *p == '\\' && p + 1 < e ? 2 : 1;
    if (p >= e) return NULL;
    *se = p;
    return p + 1;
}

/* One JSON object on one line (Zeek's JSON logs): the value of each key that
 * names a layout column goes to f[column]; other keys, arrays and objects
 * (tunnel_parents) are passed over, a missing key or null is an empty
 * field. Returns the layout's column count, or -1 when the line is not a
 * flat JSON object. */
static int split_json(char **pp, char *end, const vf_csv_layout *L, span *f, uint64_t *lines) {
    char *p = *pp;
    char *le = memchr(p, '\n', (size_t)(end - p));
    if (!le) le = end;
    *pp = le < end ? le + 1 : end;
    if (le < end) (*lines)++;
    for (int i = 0; i < L->n_cols; i++) f[i].s = f[i].e = le;
    p = skip_ws(p, le);
    if (p >= le || *p != '{') return -1;
    p = skip_ws(p + 1, le);
    if (p < le && *p == '}') return L->n_cols;
    for (;;) {
        if (p >= le || *p != '"') return -1;
        char *ks, *ke, *vs, *ve;
        if (!(p = json_string(p, le, &ks, &ke))) return -1;
        p = skip_ws(p, le);
        if (p >= le || *p != ':') return -1;
        p = skip_ws(p + 1, le);
        if (p >= le) return -1;
        bool skip = false;
        if (*p == '"') {
            if (!(p = json_string(p, le, &vs, &ve))) return -1;
        } else if (*p == '[' || *p == '{') {
            int depth = 0;
            vs = ve = p;
            for (; p < le; p++) {
                if (*p == '"') {
                    char *a, *b;
                    if (!(p = json_string(p, le, &a, &b))) return -1;
                    p--;
                } else if (*p == '[' || *p == '{') depth++;
                else if ((*p == ']' || *p == '}') && --depth == 0) { p++; break; }
            }
            if (depth) return -1;
            skip = true;
        } else {
            vs = p;
            while (p < le && *p != ',' && *p != '}' && *p != ' ' && *p != '\t' && *p != '\r') p++;
            ve = p;
            if (ve - vs == 4 && !memcmp(vs, "null", 4)) skip = true;
        }
        if (!skip) {
            for (int i = 0; i < L->n_cols; i++)
                if ((size_t)(ke - ks) == strlen(L->col_name[i]) && !memcmp(ks, L->col_name[i], (size_t)(ke - ks))) {
                    f[i].s = vs;
                    f[i].e = ve;
                    break;
                }
        }
        p = skip_ws(p, le);
        if (p < le && *p == ',') { p = skip_ws(p + 1, le); continue; }
        if (p < le && *p == '}') return L->n_cols;
        return -1;
    }
}

static bool is_missing(const span *f, bool zeek) {
    if (f->s == f->e || (f->e - f->s == 1 && *f->s == '-')) return true;
    return zeek && f->e - f->s == 7 && !memcmp(f->s, "(empty)", 7);
}

/* Port text: decimal (a ".0" tail accepted), hexadecimal 0x... (Argus
 * prints ICMP type/code so), or a service name as /etc/services has it
 * (ra without -n prints "domain", "http", ...). */
static bool parse_port(const char *s, const char *e, uint8_t proto, uint32_t *v) {
    uint64_t u;
    if (parse_count_(s, e, &u)) {
        if (u > 65535) return false;
        *v = (uint32_t)u;
        return true;
    }
    if (e - s > 2 && e - s <= 6 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        uint32_t x = 0;
        for (const char *c = s + 2; c < e; c++) {
            int d = isdigit((unsigned char)*c) ? *c - '0'
                    : (*c >= 'a' && *c <= 'f') ? *c - 'a' + 10 : (*c >= 'A' && *c <= 'F') ? *c - 'A' + 10 : -1;
            if (d < 0) return false;
            x = x * 16 + (uint32_t)d;
        }
        *v = x;
        return true;
    }
    if (e - s >= 64 || !isalpha((unsigned char)*s)) return false;
    char name[64];
    memcpy(name, s, (size_t)(e - s));
    name[e - s] = 0;
    struct servent se, *res = NULL;
    char sbuf[1024];
    const char *pn = proto == 17 ? "udp" : proto == 132 ? "sctp" : "tcp";
    if (getservbyname_r(name, pn, &se, sbuf, sizeof sbuf, &res) != 0 || !res) {
        if (getservbyname_r(name, NULL, &se, sbuf, sizeof sbuf, &res) != 0 || !res) return false;
    }
    *v = ntohs((uint16_t)res->s_port);
    return true;
}

/* what a flow tool prints in its protocol column for frames that are not IP */
static bool non_ip_name(const char *s) {
    static const char *const names[] = {"arp", "rarp", "llc", "ipx", "stp", "lldp", "lacp", "cdp",
                                        "802.1x", "eapol", "ether", "isis-l2", "ipx/spx", "aarp"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcasecmp(s, names[i])) return true;
    return false;
}

/* a row whose every field is its header's name again (CIC-IDS files repeat it) */
static bool repeats_header(const vf_csv_layout *L, const span *f, int n) {
    if (n != L->n_cols) return false;
    for (int i = 0; i < n; i++) {
        const char *a = f[i].s, *b = f[i].e;
        while (a < b && isspace((unsigned char)*a)) a++;
        while (b > a && isspace((unsigned char)b[-1])) b--;
        if ((size_t)(b - a) != strlen(L->col_name[i]) || memcmp(a, L->col_name[i], (size_t)(b - a))) return false;
    }
    return true;
}

/* Zeek's "\x09" notation in #separator */
static char zeek_sep(const char *s) {
    while (*s == ' ') s++;
    if (s[0] == '\\' && s[1] == 'x' && isxdigit((unsigned char)s[2]) && isxdigit((unsigned char)s[3])) {
        char h[3] = {s[2], s[3], 0};
        return (char)strtol(h, NULL, 16);
    }
    return *s ? *s : '\t';
}

/* Reading state shared by the whole-buffer reader and the block-by-block
 * one (vf_csv_each): the layout the header gave, the line number, and where
 * records go (the sink, or out->recs when it is NULL). */
typedef struct csv_reader {
    const char *name;
    const vf_read_options *opt;
    vf_trace *out;        /* layout, labels, counts (and records without a sink) */
    vf_status (*sink)(void *ctx, const vf_record *r);
    void *ctx;
    vf_csv_layout L;
    vf_csv_syntax syntax;
    char sep;
    uint64_t line;        /* of the next row */
    uint64_t n_rec;       /* records delivered */
    bool stop;            /* nfdump's summary, or max_records */
} csv_reader;

/* The header of buf[..end) (NUL at end): syntax, layout; *pp = first row. */
static vf_status csv_header(csv_reader *c, char *buf, char *end, char **pp) {
    char *p = buf;
    const char *name = c->name;
    const vf_read_options *opt = c->opt;
    vf_trace *out = c->out;
    uint64_t line = 1;
    vf_status st = VF_OK;
    /* skip a UTF-8 BOM and leading blank lines */
    if (end - buf >= 3 && (uint8_t)p[0] == 0xef && (uint8_t)p[1] == 0xbb && (uint8_t)p[2] == 0xbf) p += 3;
    while (p < end && (*p == '\n' || *p == '\r')) { line += *p == '\n'; p++; }
    if (p >= end) return vf_fail(VF_ERR_FORMAT, "%s: empty file (no header)", name);
    /* the syntax: Zeek ASCII (#separator / #fields lines), JSON lines, or CSV */
    vf_csv_syntax syntax = VF_SYNTAX_CSV;
    char sep = ',';
    char *header = NULL;
    char *first_copy = NULL;
    if (*p == '#') {
        syntax = VF_SYNTAX_ZEEK_TSV;
        sep = '\t';
        while (p < end && *p == '#') {
            char *le = memchr(p, '\n', (size_t)(end - p));
            if (!le) le = end;
            char *ls = strndup(p, (size_t)(le - p));
            if (!ls) { free(header); return vf_fail(VF_ERR_OOM, "%s: out of memory", name); }
            size_t ll = strlen(ls);
            if (ll && ls[ll - 1] == '\r') ls[--ll] = 0;
            if (!strncmp(ls, "#separator", 10)) sep = zeek_sep(ls + 10);
            else if (!strncmp(ls, "#fields", 7) && (ls[7] == sep || ls[7] == ' ')) {
                free(header);
                header = strdup(ls + 8);
                for (char *c = header; c && *c; c++)
                    if (*c == sep) *c = ',';
            }
            free(ls);
            p = le < end ? le + 1 : end;
            line += le < end;
        }
        if (!header) {
            return vf_fail(VF_ERR_FORMAT, "%s:%llu: Zeek log without a #fields line", name, (unsigned long long)line);
        }
        if (p < end) {
            char *fe = memchr(p, '\n', (size_t)(end - p));
            first_copy = strndup(p, fe ? (size_t)(fe - p) : (size_t)(end - p));
            for (char *c = first_copy; c && *c; c++)
                if (*c == sep) *c = ',';
        }
    } else if (*p == '{') {
        syntax = VF_SYNTAX_JSONL;
        /* Zeek conn.log fields; other keys of the objects are passed over */
        vf_csv_layout zc;
        vf_csv_layout_builtin("zeek_conn", &zc);
        size_t hl = strlen(",ip_proto");
        for (int i = 0; i < zc.n_cols; i++) hl += strlen(zc.col_name[i]) + 1;
        header = malloc(hl + 1);
        if (header) {
            header[0] = 0;
            for (int i = 0; i < zc.n_cols; i++) {
                if (i) strcat(header, ",");
                strcat(header, zc.col_name[i]);
            }
            strcat(header, ",ip_proto");
        }
        /* the time unit: Zeek writes epoch seconds, or ISO 8601 with
         * LogAscii::json_timestamps */
        char *q = strstr(p, "\"ts\":");
        if (q) {
            q += 5;
            while (*q == ' ') q++;
            if (*q == '"') q++;
            char *qe = q;
            while (*qe && *qe != ',' && *qe != '}' && *qe != '"' && *qe != '\n') qe++;
            first_copy = strndup(q, (size_t)(qe - q));
        }
    } else {
        char *hl_end = memchr(p, '\n', (size_t)(end - p));
        if (!hl_end) hl_end = end;
        header = strndup(p, (size_t)(hl_end - p));
        p = hl_end < end ? hl_end + 1 : end;
        if (p < end) {
            char *fe = memchr(p, '\n', (size_t)(end - p));
            first_copy = strndup(p, fe ? (size_t)(fe - p) : (size_t)(end - p));
        }
    }
    if (!header) { free(first_copy); return vf_fail(VF_ERR_OOM, "%s: out of memory", name); }
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
            free(first_copy);
            return vf_fail(VF_ERR_FORMAT, "%s:%llu: the header has a control character (0x%02x) at byte %zu: not "
                           "CSV text", name, (unsigned long long)line, c, i + 1);
        }
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
        L.icmp_ports = opt->layout->icmp_ports;
        L.td_unit_ns = opt->layout->td_unit_ns;
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
    if (st) return st;
    L.syntax = (uint8_t)syntax;
    out->layout = L;
    out->kind = has_role(&L, VF_COL_LEN) ? VF_TRACE_PACKETS : VF_TRACE_FLOWS;
    if (syntax == VF_SYNTAX_CSV) line++;
    c->L = L;
    c->syntax = syntax;
    c->sep = sep;
    c->line = line;
    *pp = p;
    return VF_OK;
}

/* The rows in [p, end) of buf (whole lines; a NUL may be written at end). */
static vf_status csv_rows(csv_reader *c, char *buf, char *p, char *end) {
    const char *name = c->name;
    const vf_read_options *opt = c->opt;
    vf_trace *out = c->out;
    const vf_csv_layout L = c->L;
    const vf_csv_syntax syntax = c->syntax;
    const char sep = c->sep;
    uint64_t line = c->line;
    vf_status st = VF_OK;
    span f[VF_CSV_MAX_COLS];
    int64_t unit = unit_ns[L.time_unit];
    int64_t td_unit = L.td_unit_ns ? L.td_unit_ns : 1000000000;
    bool zeek = syntax != VF_SYNTAX_CSV;
    bool has_ts_col = has_role(&L, VF_COL_TS), has_td_col = has_role(&L, VF_COL_TD);
    bool nfdump = !strcmp(L.name, "nfdump");
    int proto_col = col_of_role(&L, VF_COL_PROTO);
    int proto_alt = L.icmp_ports == VF_ICMP_ZEEK && proto_col >= 0 && strcmp(L.col_name[proto_col], "proto")
                        ? col_named(&L, "proto") : -1;
    while (p < end && !st && !c->stop) {
        if (opt->max_records && c->n_rec >= opt->max_records) { c->stop = true; break; }
        uint64_t row_line = line;
        if (syntax == VF_SYNTAX_ZEEK_TSV && *p == '#') { /* #close and other comments */
            char *le = memchr(p, '\n', (size_t)(end - p));
            p = le ? le + 1 : end;
            line += le != NULL;
            continue;
        }
        int n = syntax == VF_SYNTAX_CSV    ? split_row(&p, end, f, VF_CSV_MAX_COLS, &line)
                : syntax == VF_SYNTAX_ZEEK_TSV ? split_tsv(&p, end, sep, f, VF_CSV_MAX_COLS, &line)
                                            : split_json(&p, end, &L, f, &line);
        if (n >= 1 && syntax != VF_SYNTAX_JSONL) {
            bool blank = true;
            for (int i = 0; i < n && i < VF_CSV_MAX_COLS && blank; i++)
                for (char *c = f[i].s; c < f[i].e && blank; c++) blank = isspace((unsigned char)*c);
            if (n == 1 && blank) continue; /* blank line */
        }
        if (syntax == VF_SYNTAX_JSONL && n < 0) {
            /* a blank line is not a record */
            bool blank = true;
            for (char *c = f[0].s; blank && c > buf && c[-1] != '\n'; c--) blank = isspace((unsigned char)c[-1]);
            if (blank) continue;
        }
        /* nfdump ends its CSV with a blank line, "Summary" and the totals */
        if (nfdump && n == 1 && f[0].e - f[0].s == 7 && !memcmp(f[0].s, "Summary", 7)) { c->stop = true; break; }
        out->n_input++;
        if (syntax == VF_SYNTAX_JSONL && n < 0) {
            st = vf_trace_skip(out, opt->strict, VF_SKIP_CSV_COLUMNS, "%s:%llu: not a JSON object on one line",
                               name, (unsigned long long)row_line);
            continue;
        }
        if (n != L.n_cols) {
            st = vf_trace_skip(out, opt->strict, VF_SKIP_CSV_COLUMNS,
                               "%s:%llu: %d columns, the header has %d", name,
                               (unsigned long long)row_line, n, L.n_cols);
            continue;
        }
        if (repeats_header(&L, f, n)) {
            st = vf_trace_skip(out, opt->strict, VF_SKIP_TOOL_RECORD, "%s:%llu: the header line again", name,
                               (unsigned long long)row_line);
            continue;
        }
        /* the protocol first: ports mean different things per protocol */
        vf_record r;
        memset(&r, 0, sizeof r);
        r.label = -1;
        const char *bad = NULL;
        int bad_col = -1;
        if (proto_col >= 0) {
            span *x = &f[proto_col];
            if (proto_alt >= 0 && is_missing(x, zeek)) x = &f[proto_alt]; /* no ip_proto in this row */
            *x->e = 0;
            while (x->s < x->e && *x->s == ' ') x->s++;
            if (!strcasecmp(x->s, "man") && L.icmp_ports == VF_ICMP_ARGUS) {
                st = vf_trace_skip(out, opt->strict, VF_SKIP_TOOL_RECORD, "%s:%llu: Argus management record",
                                   name, (unsigned long long)row_line);
                continue;
            }
            if (non_ip_name(x->s)) {
                st = vf_trace_skip(out, opt->strict, VF_SKIP_NOT_IP, "%s:%llu: %s flow (not IP)", name,
                                   (unsigned long long)row_line, x->s);
                continue;
            }
            if (!vf_proto_parse(x->s, &r.proto)) {
                bad = !strcmp(x->s, "unknown_transport")
                          ? "Zeek's word for a protocol other than TCP/UDP/ICMP; its number is in ip_proto, "
                            "which this log does not have"
                          : "not a protocol (name like TCP/UDP/ICMP/GRE/ESP or 0..255)";
                bad_col = (int)(x - f);
            }
        }
        int64_t te = 0;
        bool have_te = false;
        uint64_t pkt_add = 0, byt_add = 0;
        bool have_pkt = false;
        span *port_span[2] = {NULL, NULL};
        int port_col[2] = {-1, -1};
        for (int i = 0; i < n && !bad; i++) {
            span *x = &f[i];
            *x->e = 0; /* fields are NUL-terminated in place from here on */
            if (zeek || L.icmp_ports == VF_ICMP_ARGUS) { /* Argus pads some columns with blanks */
                while (x->s < x->e && *x->s == ' ') x->s++;
            }
            uint64_t v = 0;
            bool miss = is_missing(x, zeek);
            switch (L.role[i]) {
            case VF_COL_IGNORE: case VF_COL_PROTO: break;
            case VF_COL_SRCIP: case VF_COL_DSTIP: {
                vf_addr *a = L.role[i] == VF_COL_SRCIP ? &r.src : &r.dst;
                if (!vf_addr_parse(x->s, a)) bad = "not an IPv4/IPv6 address (or integer 0..2^32-1)";
                break;
            }
            case VF_COL_SRCPORT: case VF_COL_DSTPORT: {
                int k = L.role[i] == VF_COL_DSTPORT;
                if (!miss) { port_span[k] = x; port_col[k] = i; }
                break;
            }
            case VF_COL_TS: case VF_COL_TE: {
                int64_t t;
                bool dt = L.time_unit == VF_TIME_DATETIME || L.time_unit == VF_TIME_DMY;
                bool ok = dt ? parse_datetime(x->s, x->e, &t) : vf_parse_dec_ns(x->s, x->e, unit, &t);
                /* a date-time among epoch numbers (Zeek JSON with ISO 8601 timestamps) */
                if (!ok && !dt && memchr(x->s, '-', (size_t)(x->e - x->s))) ok = parse_datetime(x->s, x->e, &t);
                if (!ok || t < 0) {
                    int hh, mm, ss;
                    char tail;
                    if (dt && sscanf(x->s, "%2d:%2d:%2d%c", &hh, &mm, &ss, &tail) >= 3)
                        bad = "a time of day without a date (Argus: run ra with -u, or RA_TIME_FORMAT=\"%Y/%m/%d %T.%f\")";
                    else
                        bad = dt ? "not a date-time YYYY-MM-DD HH:MM:SS[.frac] (or DD/MM/YYYY HH:MM:SS)"
                                 : "not a non-negative epoch time";
                    break;
                }
                if (L.role[i] == VF_COL_TS) r.ts_ns = t; else { te = t; have_te = true; }
                break;
            }
            case VF_COL_TD:
                if (!miss && (!vf_parse_dec_ns(x->s, x->e, td_unit, &r.dur_ns) || r.dur_ns < 0))
                    bad = L.td_unit_ns == 1000 ? "not a non-negative duration in microseconds"
                                               : "not a non-negative duration in seconds";
                break;
            case VF_COL_PKT: case VF_COL_BYT: case VF_COL_PKT_ADD: case VF_COL_BYT_ADD:
            case VF_COL_LEN:
                if (!miss && !parse_count_(x->s, x->e, &v)) { bad = "not a non-negative integer"; break; }
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
                if (!miss && (!parse_count_(x->s, x->e, &v) || v > (L.role[i] == VF_COL_FRAGFLAG ? 7u : 255u))) {
                    bad = L.role[i] == VF_COL_FRAGFLAG ? "not IP flags 0..7" : "not a byte value 0..255";
                    break;
                }
                if (L.role[i] == VF_COL_TOS) r.tos = (uint8_t)v;
                else if (L.role[i] == VF_COL_TTL) r.ttl = (uint8_t)v;
                else r.frag_flags = (uint8_t)v;
                break;
            case VF_COL_IPID: case VF_COL_FRAGOFF:
                if (!miss && (!parse_count_(x->s, x->e, &v) || v > (L.role[i] == VF_COL_IPID ? 65535u : 8191u))) {
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
        /* ICMP over IPv6 is ICMPv6 (Zeek says "icmp" for both) */
        if (!bad && r.proto == 1 && !vf_addr_is_v4(&r.src)) r.proto = 58;
        /* ports: as read for protocols that have them; ICMP type/code in the
         * tool's notation to nfdump's (dport = type * 256 + code); 0 for the
         * rest (GRE, ESP, ... whatever the column holds: Argus puts ESP's SPI
         * there) */
        uint32_t pv[2] = {0, 0};
        bool icmp = r.proto == 1 || r.proto == 58;
        if (!bad && (vf_proto_has_ports(r.proto) || icmp || out->kind == VF_TRACE_PACKETS)) {
            for (int k = 0; k < 2 && !bad; k++)
                if (port_span[k] && !parse_port(port_span[k]->s, port_span[k]->e, r.proto, &pv[k])) {
                    bad = "not a port number 0..65535 (decimal, 0x hex or a service name)";
                    bad_col = port_col[k];
                }
        }
        if (!bad) {
            if (icmp && L.icmp_ports == VF_ICMP_ARGUS) {
                /* Argus: sport = 0xCCTT; dport is the ICMP id, not kept */
                r.sport = 0;
                r.dport = (uint16_t)((pv[0] & 0xff) << 8 | pv[0] >> 8);
            } else if (icmp && L.icmp_ports == VF_ICMP_ZEEK) {
                if (pv[0] > 255 || pv[1] > 255) {
                    bad = "not an ICMP type/code 0..255 (Zeek: id.orig_p = type, id.resp_p = code)";
                    bad_col = port_col[pv[0] > 255 ? 0 : 1];
                }
                r.sport = 0;
                r.dport = (uint16_t)(pv[0] << 8 | pv[1]);
            } else if (vf_proto_has_ports(r.proto) || icmp || out->kind == VF_TRACE_PACKETS) {
                r.sport = (uint16_t)pv[0];
                r.dport = (uint16_t)pv[1];
            }
        }
        if (!bad && !have_te && r.dur_ns > INT64_MAX - r.ts_ns) {
            bad = "a duration that puts the end past year 2262";
            bad_col = col_of_role(&L, VF_COL_TD);
        }
        if (!bad && have_te) {
            if (has_ts_col && !has_td_col) {
                r.dur_ns = te - r.ts_ns;
                if (r.dur_ns < 0) { bad = "end time before the start time"; bad_col = col_of_role(&L, VF_COL_TE); }
            } else if (!has_ts_col) {
                r.ts_ns = te - r.dur_ns;
                if (r.ts_ns < 0) { bad = "end time before the duration's start"; bad_col = col_of_role(&L, VF_COL_TE); }
            }
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
        st = c->sink ? c->sink(c->ctx, &r) : vf_trace_append(out, &r);
        c->n_rec++;
    }
    c->line = line;
    return st;
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
    if (memchr(buf, 0, len)) {
        /* find the line for the message */
        uint64_t ln = 1;
        for (char *q = buf; q < end && *q; q++) ln += *q == '\n';
        vf_status st = vf_fail(VF_ERR_FORMAT, "%s:%llu: NUL byte: not a text CSV file", name,
                               (unsigned long long)ln);
        free(buf);
        return st;
    }
    csv_reader c = {.name = name, .opt = opt, .out = out};
    char *p = buf;
    vf_status st = csv_header(&c, buf, end, &p);
    if (!st) st = csv_rows(&c, buf, p, end);
    free(buf);
    if (st) vf_trace_free(out);
    return st;
}


vf_status vf_csv_read(const char *path, const vf_read_options *opt, vf_trace *out) {
    FILE *fp;
    vf_zin *zin;
    memset(out, 0, sizeof *out);
    out->linktype = -1;
    VF_TRY(vf_zopen_read(path, &fp, &zin, NULL));
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
    /* a compressed stream that ends early is a truncated file: its last,
     * partial line is dropped and the loss counted (strict: an error); any
     * other decompression failure is damage, an error */
    char zerr[200] = "";
    if (vf_zin_error(zin)) snprintf(zerr, sizeof zerr, "%s", vf_zin_error(zin));
    fclose(fp);
    bool truncated = zerr[0] && strstr(zerr, "ends early");
    if (err && !truncated) {
        free(b);
        return zerr[0] ? vf_fail(VF_ERR_FORMAT, "%s: %s", path, zerr) : vf_fail(VF_ERR_IO, "%s: read error", path);
    }
    if (truncated) {
        while (n > 0 && b[n - 1] != '\n') n--;
        if (opt && opt->strict) {
            free(b);
            return vf_fail(VF_ERR_FORMAT, "%s: %s", path, zerr);
        }
    }
    vf_status st = vf_csv_read_mem(path, b, n, opt, out);
    free(b);
    if (!st && truncated) st = vf_trace_skip(out, false, VF_SKIP_TRUNC_FILE, "%s: %s", path, zerr);
    return st;
}

/* End of the last whole row in b[from, n): just past its '\n', with CSV
 * quotes balanced (a quoted field may hold a newline); from if none. */
static size_t rows_end(const char *b, size_t from, size_t n, bool csv) {
    size_t cut = from;
    bool quoted = false;
    for (size_t i = from; i < n; i++) {
        if (csv && b[i] == '"') quoted = !quoted;
        else if (b[i] == '\n' && !quoted) cut = i + 1;
    }
    return cut;
}

size_t vf_csv_block = 4 << 20;

vf_status vf_csv_each(const char *path, const vf_read_options *opt, vf_trace *stats,
                      vf_status (*sink)(void *ctx, const vf_record *r), void *ctx) {
    static const vf_read_options defaults = {0};
    if (!opt) opt = &defaults;
    memset(stats, 0, sizeof *stats);
    stats->linktype = -1;
    FILE *fp;
    vf_zin *zin;
    VF_TRY(vf_zopen_read(path, &fp, &zin, NULL));
    /* b[0, n): text not parsed yet; whole rows are parsed as they arrive,
     * the partial last one moves to the front; the block grows only for a
     * header or a row longer than it */
    size_t cap = vf_csv_block, n = 0;
    char *b = malloc(cap + 1);
    csv_reader c = {.name = path, .opt = opt, .out = stats, .sink = sink, .ctx = ctx};
    bool have_header = false, eof = false;
    uint64_t line0 = 1; /* line number of b[0] (for a NUL byte's message) */
    vf_status st = b ? VF_OK : vf_fail(VF_ERR_OOM, "%s: out of memory", path);
    char zerr[200] = "";
    while (!st && !eof && !c.stop) {
        if (n == cap) {
            char *nb = realloc(b, cap * 2 + 1);
            if (!nb) { st = vf_fail(VF_ERR_OOM, "%s: out of memory", path); break; }
            b = nb;
            cap *= 2;
        }
        size_t got = fread(b + n, 1, cap - n, fp);
        if (memchr(b + n, 0, got)) {
            uint64_t ln = line0;
            for (char *q = b; *q; q++) ln += *q == '\n';
            st = vf_fail(VF_ERR_FORMAT, "%s:%llu: NUL byte: not a text CSV file", path, (unsigned long long)ln);
            break;
        }
        n += got;
        if (got == 0) {
            eof = true;
            if (ferror(fp)) {
                if (vf_zin_error(zin)) snprintf(zerr, sizeof zerr, "%s", vf_zin_error(zin));
                bool truncated = zerr[0] && strstr(zerr, "ends early");
                if (!truncated || opt->strict) {
                    st = zerr[0] ? vf_fail(VF_ERR_FORMAT, "%s: %s", path, zerr)
                                 : vf_fail(VF_ERR_IO, "%s: read error", path);
                    break;
                }
                while (n > 0 && b[n - 1] != '\n') n--; /* a truncated stream's partial last line */
            }
        }
        /* the header needs its lines and the first row (the time unit guess) */
        size_t cut = eof ? n : rows_end(b, 0, n, false);
        if (!have_header) {
            /* complete lines: Zeek's '#' lines and blank ones, then the
             * first other line (CSV: the header, and one more) */
            int need = -1;
            for (size_t i = 0, ls = 0; i < cut && need != 0; i++) {
                if (b[i] != '\n') continue;
                bool skip = b[ls] == '#' || b[ls] == '\n' || b[ls] == '\r';
                if (need > 0) need--;
                else if (need < 0 && !skip) need = b[ls] == '{' || b[0] == '#' ? 0 : 1;
                ls = i + 1;
            }
            if (!eof && need != 0) continue;
            if (n == 0) { st = vf_fail(VF_ERR_FORMAT, "%s: empty file", path); break; }
            b[n] = 0;
            char *p;
            if ((st = csv_header(&c, b, b + n, &p))) break;
            have_header = true;
            /* the header's lines are done with: drop them */
            size_t used = (size_t)(p - b);
            for (size_t i = 0; i < used; i++) line0 += b[i] == '\n';
            memmove(b, p, n - used);
            n -= used;
        }
        cut = eof ? n : rows_end(b, 0, n, c.syntax == VF_SYNTAX_CSV);
        if (cut == 0) continue;
        char keep = b[cut];
        b[cut] = 0;
        st = csv_rows(&c, b, b, b + cut);
        b[cut] = keep;
        for (size_t i = 0; i < cut; i++) line0 += b[i] == '\n';
        memmove(b, b + cut, n - cut);
        n -= cut;
    }
    fclose(fp);
    free(b);
    if (!st && zerr[0]) st = vf_trace_skip(stats, false, VF_SKIP_TRUNC_FILE, "%s: %s", path, zerr);
    return st;
}

/* ------------------------------------------------------------------ writer */

/* ns value in the given unit, exact, with at least min_frac decimals */
static void put_scaled(char *o, size_t cap, int64_t ns, int64_t unit, int min_frac) {
    size_t k = 0;
    if (ns < 0) { o[k++] = '-'; ns = -ns; }
    int64_t ip = ns / unit, fr = ns % unit;
    k += (size_t)snprintf(o + k, cap - k, "%lld", (long long)ip);
    int digits = 0;
    for (int64_t u = unit; u > 1; u /= 10) digits++;
    if (digits == 0) return;
    /* trailing zeros beyond min_frac are dropped */
    char d[24];
    for (int i = digits - 1; i >= 0; i--, fr /= 10) d[i] = (char)('0' + fr % 10);
    int keep = digits;
    while (keep > min_frac && d[keep - 1] == '0') keep--;
    if (keep > 0) snprintf(o + k, cap - k, ".%.*s", keep, d);
}

static void put_datetime(char *o, size_t cap, int64_t ns, bool dmy) {
    time_t s = (time_t)(ns / 1000000000);
    int64_t fr = ns % 1000000000;
    if (fr < 0) { fr += 1000000000; s--; }
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t k = strftime(o, cap, dmy ? "%d/%m/%Y %H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tm);
    if (fr) {
        /* ".frac" with trailing zeros dropped (not put_scaled: it would print "0.") */
        char d[10];
        for (int i = 8; i >= 0; i--, fr /= 10) d[i] = (char)('0' + fr % 10);
        int keep = 9;
        while (keep > 0 && d[keep - 1] == '0') keep--;
        snprintf(o + k, cap - k, ".%.*s", keep, d);
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

static void put_json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { fputc('\\', f); fputc(c, f); }
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* The text of column i of record r in layout l (empty: not recorded);
 * *quote says whether JSON needs it as a string. */
static void field_text(const vf_trace *t, const vf_csv_layout *l, int i, const vf_record *r, vf_time_unit tu,
                       char *o, size_t cap, bool *quote) {
    o[0] = 0;
    *quote = false;
    bool icmp = r->proto == 1 || r->proto == 58;
    int type = r->dport >> 8, code = r->dport & 0xff;
    switch (l->role[i]) {
    case VF_COL_IGNORE: snprintf(o, cap, "%s", l->col_default[i]); *quote = true; break;
    case VF_COL_SRCIP: case VF_COL_DSTIP: {
        const vf_addr *a = l->role[i] == VF_COL_SRCIP ? &r->src : &r->dst;
        if (l->addr_style == VF_ADDR_INT && vf_addr_is_v4(a)) snprintf(o, cap, "%u", vf_addr_v4(a));
        else { vf_addr_str(a, o, cap); *quote = true; }
        break;
    }
    case VF_COL_SRCPORT: case VF_COL_DSTPORT: {
        bool src = l->role[i] == VF_COL_SRCPORT;
        if (icmp && l->icmp_ports == VF_ICMP_ARGUS) {
            /* Argus: sport 0xCCTT, dport the ICMP id (not kept) */
            snprintf(o, cap, "0x%04x", src ? (unsigned)(code << 8 | type) : 0u);
        } else if (icmp && l->icmp_ports == VF_ICMP_ZEEK) {
            snprintf(o, cap, "%d", src ? type : code);
        } else if (icmp && l->icmp_ports == VF_ICMP_NONE) {
            snprintf(o, cap, "0");
        } else {
            snprintf(o, cap, "%u", src ? r->sport : r->dport);
        }
        break;
    }
    case VF_COL_PROTO: {
        const char *nm = l->proto_numeric ? NULL : vf_proto_name(r->proto);
        if (!nm) { snprintf(o, cap, "%u", r->proto); break; }
        /* Zeek says "icmp" for ICMPv6 too */
        if (r->proto == 58 && l->icmp_ports == VF_ICMP_ZEEK) nm = "ICMP";
        snprintf(o, cap, "%s", nm);
        if (l->proto_lower)
            for (char *c = o; *c; c++) *c = (char)tolower((unsigned char)*c);
        *quote = true;
        break;
    }
    case VF_COL_TS: case VF_COL_TE: {
        int64_t v = r->ts_ns + (l->role[i] == VF_COL_TE ? r->dur_ns : 0);
        if (tu == VF_TIME_DATETIME || tu == VF_TIME_DMY) { put_datetime(o, cap, v, tu == VF_TIME_DMY); *quote = true; }
        else put_scaled(o, cap, v, unit_ns[tu], tu == VF_TIME_S ? 6 : 0);
        break;
    }
    case VF_COL_TD:
        if (l->td_unit_ns) put_scaled(o, cap, r->dur_ns, l->td_unit_ns, 0);
        else put_scaled(o, cap, r->dur_ns, 1000000000, 3);
        break;
    case VF_COL_PKT: snprintf(o, cap, "%llu", (unsigned long long)r->pkts); break;
    case VF_COL_BYT: snprintf(o, cap, "%llu", (unsigned long long)r->bytes); break;
    case VF_COL_PKT_ADD: case VF_COL_BYT_ADD: snprintf(o, cap, "0"); break;
    case VF_COL_LABEL:
        if (r->label >= 0 && r->label < t->n_labels) snprintf(o, cap, "%s", t->labels[r->label]);
        *quote = true;
        break;
    case VF_COL_FLAGS: { char b[12]; snprintf(o, cap, "%s", vf_tcp_flags_str(r->tcp_flags, b)); *quote = true; break; }
    case VF_COL_TOS: snprintf(o, cap, "%u", r->tos); break;
    case VF_COL_LEN: snprintf(o, cap, "%u", r->length); break;
    case VF_COL_TTL: snprintf(o, cap, "%u", r->ttl); break;
    case VF_COL_IPID: snprintf(o, cap, "%u", r->ip_id); break;
    case VF_COL_FRAGFLAG: snprintf(o, cap, "%u", r->frag_flags); break;
    case VF_COL_FRAGOFF: snprintf(o, cap, "%u", r->frag_off); break;
    default: break;
    }
}

struct vf_csv_writer {
    vf_zatomic za;
    vf_csv_layout layout;
    vf_time_unit tu;
    const vf_trace *labels;
};

vf_status vf_csv_writer_open(vf_csv_writer **wp, const char *path, const vf_csv_layout *layout,
                             vf_trace_kind kind, const vf_trace *labels) {
    *wp = NULL;
    vf_csv_writer *w = calloc(1, sizeof *w);
    if (!w) return vf_fail(VF_ERR_OOM, "%s: out of memory", path);
    if (!layout) layout = labels && labels->layout.n_cols ? &labels->layout : NULL;
    if (layout) w->layout = *layout;
    else vf_csv_layout_builtin(kind == VF_TRACE_PACKETS ? "netshare_pcap" : "netshare", &w->layout);
    layout = &w->layout;
    w->labels = labels;
    vf_status st = vf_zatomic_open(&w->za, path);
    if (st) { free(w); return st; }
    FILE *f = w->za.f;
    vf_csv_syntax syn = (vf_csv_syntax)layout->syntax;
    if (syn == VF_SYNTAX_ZEEK_TSV) {
        fputs("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#fields", f);
        for (int i = 0; i < layout->n_cols; i++) fprintf(f, "\t%s", layout->col_name[i]);
        fputc('\n', f);
    } else if (syn == VF_SYNTAX_CSV) {
        for (int i = 0; i < layout->n_cols; i++) {
            if (i) fputc(',', f);
            put_text(f, layout->col_name[i]);
        }
        fputc('\n', f);
    }
    vf_time_unit tu = layout->time_unit;
    /* An "auto" layout's unit was guessed from its first row; a guess on
     * what we write could differ (µs before 1973 look like ms). Epoch
     * seconds are always guessed right (below 1e11 until 2262). */
    if ((!strcmp(layout->name, "auto") || layout->unit_guessed) && tu != VF_TIME_DATETIME && tu != VF_TIME_DMY)
        tu = VF_TIME_S;
    w->tu = tu;
    *wp = w;
    return VF_OK;
}

void vf_csv_writer_put(vf_csv_writer *w, const vf_record *r) {
    static const vf_trace no_labels;
    const vf_csv_layout *layout = &w->layout;
    const vf_trace *t = w->labels ? w->labels : &no_labels;
    FILE *f = w->za.f;
    vf_csv_syntax syn = (vf_csv_syntax)layout->syntax;
    char v[256];
    bool first = true;
    if (syn == VF_SYNTAX_JSONL) fputc('{', f);
    for (int i = 0; i < layout->n_cols; i++) {
        bool quote;
        field_text(t, layout, i, r, w->tu, v, sizeof v, &quote);
        if (syn == VF_SYNTAX_CSV) {
            if (i) fputc(',', f);
            if (layout->role[i] == VF_COL_LABEL || layout->role[i] == VF_COL_IGNORE) put_text(f, v);
            else fputs(v, f);
        } else if (syn == VF_SYNTAX_ZEEK_TSV) {
            if (i) fputc('\t', f);
            fputs(v[0] ? v : "-", f);
        } else {
            if (!v[0] || layout->role[i] == VF_COL_IGNORE) continue; /* unset: no key */
            if (!first) fputc(',', f);
            first = false;
            put_json_string(f, layout->col_name[i]);
            fputc(':', f);
            if (quote) put_json_string(f, v); else fputs(v, f);
        }
    }
    fputs(syn == VF_SYNTAX_JSONL ? "}\n" : "\n", f);
}

vf_status vf_csv_writer_commit(vf_csv_writer *w) {
    vf_status st = vf_zatomic_commit(&w->za);
    free(w);
    return st;
}

void vf_csv_writer_abort(vf_csv_writer *w) {
    if (!w) return;
    vf_zatomic_abort(&w->za);
    free(w);
}

vf_status vf_trace_write_csv(const char *path, const vf_trace *t, const vf_csv_layout *layout) {
    vf_csv_writer *w;
    VF_TRY(vf_csv_writer_open(&w, path, layout, t->kind, t));
    for (size_t k = 0; k < t->n; k++) vf_csv_writer_put(w, &t->recs[k]);
    return vf_csv_writer_commit(w);
}
