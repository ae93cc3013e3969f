/* vf_trace basics: growth, labels, skip accounting, address/protocol helpers,
 * read/write dispatch. */
#include "trace/trace_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const skip_names[VF_SKIP_COUNT] = {
    "not IP", "truncated link header", "truncated IP header", "truncated L4 header",
    "bad IP header", "CSV wrong column count", "CSV bad field", "truncated file", "bad timestamp",
    "tool record, not a flow",
};

const char *vf_skip_reason_name(vf_skip_reason r) {
    return (unsigned)r < VF_SKIP_COUNT ? skip_names[r] : "?";
}

vf_status vf_trace_append(vf_trace *t, const vf_record *r) {
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 1024;
        vf_record *p = realloc(t->recs, nc * sizeof *p);
        if (!p) return vf_fail(VF_ERR_OOM, "trace: out of memory at %zu records", t->n);
        t->recs = p;
        t->cap = nc;
    }
    t->recs[t->n++] = *r;
    return VF_OK;
}

int vf_trace_label(vf_trace *t, const char *s) {
    for (int i = 0; i < t->n_labels; i++)
        if (!strcmp(t->labels[i], s)) return i;
    char **p = realloc(t->labels, (size_t)(t->n_labels + 1) * sizeof *p);
    if (!p) return -1;
    t->labels = p;
    if (!(p[t->n_labels] = strdup(s))) return -1;
    return t->n_labels++;
}

void vf_trace_free(vf_trace *t) {
    if (!t) return;
    free(t->recs);
    for (int i = 0; i < t->n_labels; i++) free(t->labels[i]);
    free(t->labels);
    memset(t, 0, sizeof *t);
}

uint64_t vf_trace_skipped_total(const vf_trace *t) {
    uint64_t s = 0;
    for (int i = 0; i < VF_SKIP_COUNT; i++) s += t->skipped[i];
    return s;
}

vf_status vf_trace_skip(vf_trace *t, bool strict, vf_skip_reason why, const char *fmt, ...) {
    char msg[sizeof t->first_skip];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* frames that are valid but not IP are not errors, even in strict mode */
    if (strict && why != VF_SKIP_NOT_IP && why != VF_SKIP_TOOL_RECORD) return vf_fail(VF_ERR_FORMAT, "%s", msg);
    if (vf_trace_skipped_total(t) == 0) snprintf(t->first_skip, sizeof t->first_skip, "%s", msg);
    if (t->skipped[why] == 0) {
        size_t k = strlen(msg);
        if (k >= sizeof t->first_by_reason[why]) k = sizeof t->first_by_reason[why] - 1;
        memcpy(t->first_by_reason[why], msg, k);
        t->first_by_reason[why][k] = 0;
    }
    t->skipped[why]++;
    return VF_OK;
}

/* ------------------------------------------------------------- addresses */

void vf_addr_from_v4(vf_addr *a, uint32_t v) {
    memset(a->b, 0, 10);
    a->b[10] = a->b[11] = 0xff;
    a->b[12] = (uint8_t)(v >> 24);
    a->b[13] = (uint8_t)(v >> 16);
    a->b[14] = (uint8_t)(v >> 8);
    a->b[15] = (uint8_t)v;
}

bool vf_addr_is_v4(const vf_addr *a) {
    static const uint8_t pfx[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return !memcmp(a->b, pfx, 12);
}

uint32_t vf_addr_v4(const vf_addr *a) {
    return (uint32_t)a->b[12] << 24 | (uint32_t)a->b[13] << 16 | (uint32_t)a->b[14] << 8 |
           a->b[15];
}

const char *vf_addr_str(const vf_addr *a, char *buf, size_t len) {
    if (vf_addr_is_v4(a)) {
        if (!inet_ntop(AF_INET, a->b + 12, buf, (socklen_t)len)) snprintf(buf, len, "?");
    } else if (!inet_ntop(AF_INET6, a->b, buf, (socklen_t)len)) {
        snprintf(buf, len, "?");
    }
    return buf;
}

bool vf_addr_parse(const char *s, vf_addr *out) {
    if (!*s) return false;
    if (strchr(s, ':')) return inet_pton(AF_INET6, s, out->b) == 1;
    if (strchr(s, '.')) {
        uint8_t b[4];
        if (inet_pton(AF_INET, s, b) != 1) return false;
        vf_addr_from_v4(out, (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
                                 (uint32_t)b[2] << 8 | b[3]);
        return true;
    }
    uint64_t v;
    if (!vf_parse_u64(s, s + strlen(s), &v) || v > 0xffffffffu) return false;
    vf_addr_from_v4(out, (uint32_t)v);
    return true;
}

/* ------------------------------------------------------------- protocols */

static const struct { const char *name; uint8_t num; } protos[] = {
    {"ICMP", 1}, {"IGMP", 2}, {"IPIP", 4}, {"TCP", 6}, {"UDP", 17}, {"IPv6", 41},
    {"GRE", 47}, {"ESP", 50}, {"AH", 51}, {"ICMP6", 58}, {"SCTP", 132},
};

const char *vf_proto_name(uint8_t p) {
    for (size_t i = 0; i < sizeof protos / sizeof protos[0]; i++)
        if (protos[i].num == p) return protos[i].name;
    return NULL;
}

/* more names flow tools print (IANA keywords as in /etc/protocols, Argus,
 * nfdump, Zeek); read only, written as numbers */
static const struct { const char *name; uint8_t num; } proto_aliases[] = {
    {"IPV6-ICMP", 58}, {"ICMPv6", 58}, {"ICMP6", 58}, {"HOPOPT", 0}, {"GGP", 3}, {"IPv4", 4},
    {"IP-in-IP", 4}, {"ST", 5}, {"EGP", 8}, {"IGP", 9}, {"PUP", 12}, {"XNS-IDP", 22}, {"RDP", 27},
    {"DCCP", 33}, {"XTP", 36}, {"IPv6-Route", 43}, {"IPv6-Frag", 44}, {"IDRP", 45}, {"RSVP", 46},
    {"IPv6-NoNxt", 59}, {"IPv6-Opts", 60}, {"EIGRP", 88}, {"OSPF", 89}, {"OSPFIGP", 89},
    {"AX.25", 93}, {"ETHERIP", 97}, {"ENCAP", 98}, {"PIM", 103}, {"IPCOMP", 108}, {"VRRP", 112},
    {"L2TP", 115}, {"ISIS", 124}, {"FC", 133}, {"MOBILITY-HEADER", 135}, {"UDPLITE", 136},
    {"MPLS-IN-IP", 137}, {"MANET", 138}, {"HIP", 139}, {"SHIM6", 140}, {"WESP", 141}, {"ROHC", 142},
    {"ETHERNET", 143}, {"IPV6-IN-IPV4", 41}, {"IP6", 41}, {"IPENCAP", 4},
};

bool vf_proto_parse(const char *s, uint8_t *out) {
    for (size_t i = 0; i < sizeof protos / sizeof protos[0]; i++)
        if (!strcasecmp(s, protos[i].name)) { *out = protos[i].num; return true; }
    for (size_t i = 0; i < sizeof proto_aliases / sizeof proto_aliases[0]; i++)
        if (!strcasecmp(s, proto_aliases[i].name)) { *out = proto_aliases[i].num; return true; }
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && s[2]) { /* Argus prints unknown ones in hex */
        char *e;
        unsigned long v = strtoul(s + 2, &e, 16);
        if (*e || v > 255) return false;
        *out = (uint8_t)v;
        return true;
    }
    uint64_t v;
    if (!vf_parse_u64(s, s + strlen(s), &v) || v > 255) return false;
    *out = (uint8_t)v;
    return true;
}

const char *vf_tcp_flags_str(uint8_t f, char *buf) {
    /* nfdump order: U A P R S F (bits 5..0); CWR/ECE shown in front only if set */
    int k = 0;
    if (f & 0x80) buf[k++] = 'C';
    if (f & 0x40) buf[k++] = 'E';
    static const char l[6] = {'U', 'A', 'P', 'R', 'S', 'F'};
    for (int i = 0; i < 6; i++) buf[k++] = (f >> (5 - i)) & 1 ? l[i] : '.';
    buf[k] = 0;
    return buf;
}

/* --------------------------------------------------------------- numbers */

bool vf_parse_u64(const char *s, const char *end, uint64_t *out) {
    if (s >= end) return false;
    uint64_t v = 0;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9') return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Decimal "123.456" (optional sign, optional fraction, optional exponent-free)
 * times scale_ns ns per unit, rounded to the nearest ns, exact (no doubles) up
 * to 9 fraction digits. */
bool vf_parse_dec_ns(const char *s, const char *end, int64_t scale, int64_t *out) {
    bool neg = false;
    if (s < end && (*s == '-' || *s == '+')) neg = *s++ == '-';
    const char *dot = memchr(s, '.', (size_t)(end - s));
    const char *ie = dot ? dot : end;
    uint64_t ip = 0;
    if (ie == s) {
        if (!dot || dot + 1 >= end) return false;   /* "" or "." */
    } else if (!vf_parse_u64(s, ie, &ip)) {
        return false;
    }
    /* fraction as ns-scaled value: take up to 18 digits */
    __int128 frac_num = 0, frac_den = 1;
    if (dot) {
        const char *f = dot + 1;
        if (f == end && ie == s) return false;
        for (int k = 0; f < end; f++, k++) {
            if (*f < '0' || *f > '9') return false;
            if (k < 18) { frac_num = frac_num * 10 + (*f - '0'); frac_den *= 10; }
        }
    }
    __int128 v = (__int128)ip * scale;
    v += (frac_num * scale * 2 + frac_den) / (frac_den * 2);
    if (v > INT64_MAX) return false;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

/* ------------------------------------------------------------- dispatch */

/* The first 4 bytes of path after decompression (*got of them) and its
 * compression; fails on a folder, an empty file or a damaged stream. */
static vf_status sniff(const char *path, uint8_t m[4], size_t *got, vf_comp *comp) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return vf_fail(VF_ERR_IO, "%s: is a folder; give one .pcap, .pcapng or .csv file", path);
    /* the first bytes after decompression decide (compressed files by their
     * own magic: gzip, xz, zstd, bzip2) */
    FILE *f;
    vf_zin *zin;
    VF_TRY(vf_zopen_read(path, &f, &zin, comp));
    if (*comp) setvbuf(f, NULL, _IONBF, 0); /* decode no more than these first bytes */
    memset(m, 0, 4);
    *got = fread(m, 1, 4, f);
    char zerr[200] = "";
    if (vf_zin_error(zin)) snprintf(zerr, sizeof zerr, "%s", vf_zin_error(zin));
    fclose(f);
    if (*got < 4 && zerr[0]) return vf_fail(VF_ERR_FORMAT, "%s: %s", path, zerr);
    if (*got == 0) return vf_fail(VF_ERR_FORMAT, "%s: empty file%s", path, *comp ? " (after decompression)" : "");
    return VF_OK;
}

static bool pcap_magic(const uint8_t m[4]) {
    uint32_t le = (uint32_t)m[0] | (uint32_t)m[1] << 8 | (uint32_t)m[2] << 16 |
                  (uint32_t)m[3] << 24;
    uint32_t be = __builtin_bswap32(le);
    return le == 0xa1b2c3d4 || be == 0xa1b2c3d4 || le == 0xa1b23c4d ||
           be == 0xa1b23c4d || le == 0x0a0d0d0a;
}

vf_status vf_trace_is_capture(const char *path, bool *is_pcap) {
    uint8_t m[4];
    size_t got;
    vf_comp comp;
    *is_pcap = false;
    VF_TRY(sniff(path, m, &got, &comp));
    *is_pcap = pcap_magic(m);
    return VF_OK;
}

vf_status vf_trace_read(const char *path, const vf_read_options *opt, vf_trace *out) {
    static const vf_read_options defaults = {0};
    if (!opt) opt = &defaults;
    memset(out, 0, sizeof *out);
    out->linktype = -1;
    uint8_t m[4];
    size_t got;
    vf_comp comp;
    VF_TRY(sniff(path, m, &got, &comp));
    if (pcap_magic(m)) return vf_pcap_read(path, opt, out);
    /* Text: a CSV header starts with a printable character. */
    for (size_t i = 0; i < got; i++)
        if (m[i] < 0x20 && m[i] != '\n' && m[i] != '\r' && m[i] != '\t')
            return vf_fail(VF_ERR_FORMAT,
                           "%s: unknown file format (magic %02x %02x %02x %02x%s%s): not pcap, "
                           "pcapng or CSV text",
                           path, m[0], m[1], m[2], m[3], comp ? " after " : "",
                           comp ? vf_comp_name(comp) : "");
    return vf_csv_read(path, opt, out);
}

static bool ends_with(const char *s, size_t a, const char *suf) {
    size_t b = strlen(suf);
    return a >= b && !strncasecmp(s + a - b, suf, b);
}

vf_status vf_trace_write(const char *path, const vf_trace *t) {
    /* x.pcap.gz, x.csv.zst, ...: the format before the compression suffix */
    size_t suf;
    vf_comp_from_name(path, &suf);
    size_t n = strlen(path) - suf;
    if (ends_with(path, n, ".pcap")) return vf_trace_write_pcap(path, t);
    if (ends_with(path, n, ".csv")) return vf_trace_write_csv(path, t, NULL);
    return vf_fail(VF_ERR_ARG, "%s: output format from extension: expected .pcap or .csv "
                               "(optionally followed by .gz, .xz, .zst or .bz2)", path);
}
