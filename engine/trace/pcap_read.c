/* Packet captures through libpcap: pcap and pcapng, any timestamp precision
 * (read at ns). Link layers: Ethernet with any stack of 802.1Q/802.1ad/QinQ
 * tags, raw IP (DLT_RAW, LINKTYPE_RAW, IPV4, IPV6), Linux cooked SLL and
 * SLL2, BSD null/loopback. One vf_record per IPv4/IPv6 packet; everything
 * else is skipped and counted by reason. */
#include "trace/trace_internal.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

/* DLT values as libpcap's pcap_datalink() reports them on Linux. */
enum {
    LT_NULL = 0, LT_EN10MB = 1, LT_RAW = 12, LT_RAW_BSD = 14, LT_RAW101 = 101,
    LT_LOOP = 108, LT_SLL = 113, LT_IPV4 = 228, LT_IPV6 = 229, LT_SLL2 = 276,
};

bool vf_linktype_supported(int lt) {
    switch (lt) {
    case LT_NULL: case LT_EN10MB: case LT_RAW: case LT_RAW_BSD: case LT_RAW101:
    case LT_LOOP: case LT_SLL: case LT_IPV4: case LT_IPV6: case LT_SLL2:
        return true;
    default:
        return false;
    }
}

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* L4 header at p with n captured bytes: ports / ICMP type+code, TCP flags. */
static int parse_l4(const uint8_t *p, uint32_t n, vf_record *r, const char **why) {
    switch (r->proto) {
    case 6:
        if (n < 14) { *why = "TCP header needs 14 bytes for ports and flags"; return VF_SKIP_TRUNC_L4; }
        r->sport = rd16(p);
        r->dport = rd16(p + 2);
        r->tcp_flags = p[13];
        return -1;
    case 17: case 132: /* UDP, SCTP: ports first */
        if (n < 4) { *why = "UDP/SCTP header needs 4 bytes for ports"; return VF_SKIP_TRUNC_L4; }
        r->sport = rd16(p);
        r->dport = rd16(p + 2);
        return -1;
    case 1: case 58: /* ICMP, ICMPv6: nfdump's dport = type*256 + code */
        if (n < 2) { *why = "ICMP header needs 2 bytes for type and code"; return VF_SKIP_TRUNC_L4; }
        r->dport = (uint16_t)(p[0] << 8 | p[1]);
        return -1;
    default:
        return -1;
    }
}

static int parse_ipv4(const uint8_t *p, uint32_t n, vf_record *r, const char **why) {
    if (n < 20) { *why = "IPv4 header needs 20 bytes"; return VF_SKIP_TRUNC_IP; }
    if (p[0] >> 4 != 4) { *why = "IP version is not 4"; return VF_SKIP_BAD_IP; }
    uint32_t ihl = (uint32_t)(p[0] & 15) * 4;
    if (ihl < 20) { *why = "IPv4 IHL below 5"; return VF_SKIP_BAD_IP; }
    if (n < ihl) { *why = "IPv4 options cut by the snap length"; return VF_SKIP_TRUNC_IP; }
    uint16_t tot = rd16(p + 2);
    if (tot < ihl) { *why = "IPv4 total length below header length"; return VF_SKIP_BAD_IP; }
    r->ip_version = 4;
    r->tos = p[1];
    r->length = tot;
    r->ip_id = rd16(p + 4);
    r->frag_flags = (uint8_t)(p[6] >> 5);
    r->frag_off = rd16(p + 6) & 0x1fff;
    r->ttl = p[8];
    r->proto = p[9];
    vf_addr_from_v4(&r->src, (uint32_t)p[12] << 24 | (uint32_t)p[13] << 16 | (uint32_t)p[14] << 8 | p[15]);
    vf_addr_from_v4(&r->dst, (uint32_t)p[16] << 24 | (uint32_t)p[17] << 16 | (uint32_t)p[18] << 8 | p[19]);
    if (r->frag_off != 0) return -1; /* later fragments carry no L4 header */
    return parse_l4(p + ihl, n - ihl, r, why);
}

static int parse_ipv6(const uint8_t *p, uint32_t n, vf_record *r, const char **why) {
    if (n < 40) { *why = "IPv6 header needs 40 bytes"; return VF_SKIP_TRUNC_IP; }
    if (p[0] >> 4 != 6) { *why = "IP version is not 6"; return VF_SKIP_BAD_IP; }
    r->ip_version = 6;
    r->tos = (uint8_t)((p[0] & 15) << 4 | p[1] >> 4);
    r->length = 40u + rd16(p + 4);
    r->ttl = p[7];
    memcpy(r->src.b, p + 8, 16);
    memcpy(r->dst.b, p + 24, 16);
    uint8_t nh = p[6];
    uint32_t off = 40;
    /* Walk extension headers (hop-by-hop, routing, fragment, dest opts, AH). */
    for (int guard = 0; guard < 16; guard++) {
        if (nh == 0 || nh == 43 || nh == 60 || nh == 51 || nh == 44) {
            if (n < off + 8) { *why = "IPv6 extension header cut by the snap length"; return VF_SKIP_TRUNC_IP; }
            const uint8_t *h = p + off;
            uint32_t len;
            if (nh == 44) {
                len = 8;
                r->frag_off = rd16(h + 2) >> 3;
                r->frag_flags = h[3] & 1;
                r->ip_id = rd16(h + 6);
            } else if (nh == 51) {
                len = ((uint32_t)h[1] + 2) * 4;
            } else {
                len = ((uint32_t)h[1] + 1) * 8;
            }
            nh = h[0];
            off += len;
            if (r->frag_off != 0) { r->proto = nh; return -1; }
            continue;
        }
        break;
    }
    /* still an extension header after 16: not a transport protocol (written
     * back it would be an extension header of no bytes; found by fuzz_pcap) */
    if (nh == 0 || nh == 43 || nh == 60 || nh == 51 || nh == 44) {
        *why = "more than 16 IPv6 extension headers";
        return VF_SKIP_BAD_IP;
    }
    r->proto = nh;
    if (off > n) { *why = "IPv6 extension header cut by the snap length"; return VF_SKIP_TRUNC_IP; }
    return parse_l4(p + off, n - off, r, why);
}

static int parse_ip(const uint8_t *p, uint32_t n, vf_record *r, const char **why) {
    if (n < 1) { *why = "no IP header bytes captured"; return VF_SKIP_TRUNC_IP; }
    switch (p[0] >> 4) {
    case 4: return parse_ipv4(p, n, r, why);
    case 6: return parse_ipv6(p, n, r, why);
    default: *why = "IP version is neither 4 nor 6"; return VF_SKIP_BAD_IP;
    }
}

static int by_ethertype(uint16_t et, const uint8_t *p, uint32_t n, vf_record *r, const char **why) {
    if (et == 0x0800) return parse_ipv4(p, n, r, why);
    if (et == 0x86dd) return parse_ipv6(p, n, r, why);
    *why = "ethertype is not IPv4/IPv6";
    return VF_SKIP_NOT_IP;
}

int vf_parse_frame(int lt, const uint8_t *d, uint32_t n, vf_record *r, const char **why) {
    switch (lt) {
    case LT_EN10MB: {
        if (n < 14) { *why = "Ethernet header needs 14 bytes"; return VF_SKIP_TRUNC_L2; }
        uint32_t off = 12;
        uint16_t et = rd16(d + off);
        /* 802.1Q, 802.1ad and the old QinQ 0x9100, any depth */
        while (et == 0x8100 || et == 0x88a8 || et == 0x9100) {
            off += 4;
            if (n < off + 2) { *why = "VLAN tag cut by the snap length"; return VF_SKIP_TRUNC_L2; }
            et = rd16(d + off);
        }
        off += 2;
        return by_ethertype(et, d + off, n - off, r, why);
    }
    case LT_RAW: case LT_RAW_BSD: case LT_RAW101: case LT_IPV4: case LT_IPV6:
        return parse_ip(d, n, r, why);
    case LT_SLL:
        if (n < 16) { *why = "Linux SLL header needs 16 bytes"; return VF_SKIP_TRUNC_L2; }
        return by_ethertype(rd16(d + 14), d + 16, n - 16, r, why);
    case LT_SLL2:
        if (n < 20) { *why = "Linux SLL2 header needs 20 bytes"; return VF_SKIP_TRUNC_L2; }
        return by_ethertype(rd16(d), d + 20, n - 20, r, why);
    case LT_NULL: case LT_LOOP: {
        if (n < 4) { *why = "loopback header needs 4 bytes"; return VF_SKIP_TRUNC_L2; }
        /* address family in host order (NULL) or network order (LOOP): accept both */
        uint32_t le = (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
        uint32_t fam = le > 0xffff ? __builtin_bswap32(le) : le;
        if (fam == 2) return parse_ipv4(d + 4, n - 4, r, why);
        if (fam == 10 || fam == 24 || fam == 28 || fam == 30) return parse_ipv6(d + 4, n - 4, r, why);
        *why = "loopback address family is not IPv4/IPv6";
        return VF_SKIP_NOT_IP;
    }
    default:
        *why = "unsupported link type";
        return VF_SKIP_NOT_IP;
    }
}

typedef vf_status (*rec_sink)(void *ctx, const vf_record *r);
static vf_status pcap_read_z(FILE *fp, vf_zin *zin, const char *path, const vf_read_options *opt,
                             vf_trace *out, rec_sink sink, void *ctx);

vf_status vf_pcap_read(const char *path, const vf_read_options *opt, vf_trace *out) {
    FILE *f;
    vf_zin *zin;
    memset(out, 0, sizeof *out);
    out->linktype = -1;
    VF_TRY(vf_zopen_read(path, &f, &zin, NULL));
    return pcap_read_z(f, zin, path, opt, out, NULL, NULL); /* closes f */
}

vf_status vf_pcap_each(const char *path, const vf_read_options *opt, vf_trace *stats,
                       vf_status (*sink)(void *ctx, const vf_record *r), void *ctx) {
    FILE *f;
    vf_zin *zin;
    memset(stats, 0, sizeof *stats);
    stats->linktype = -1;
    VF_TRY(vf_zopen_read(path, &f, &zin, NULL));
    return pcap_read_z(f, zin, path, opt, stats, sink, ctx); /* closes f */
}

vf_status vf_pcap_read_fp(FILE *fp, const char *path, const vf_read_options *opt, vf_trace *out) {
    return pcap_read_z(fp, NULL, path, opt, out, NULL, NULL);
}

/* fp's decompressor, if any, has failed: "ends early" is a truncated file
 * (counted like a plain one cut short), anything else is damage (an error) */
static bool z_truncated(const vf_zin *zin) {
    const char *e = vf_zin_error(zin);
    return e && strstr(e, "ends early");
}

static vf_status pcap_read_z(FILE *fp, vf_zin *zin, const char *path, const vf_read_options *opt,
                             vf_trace *out, rec_sink sink, void *ctx) {
    static const vf_read_options defaults = {0};
    if (!opt) opt = &defaults;
    memset(out, 0, sizeof *out);
    out->linktype = -1;
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *pc = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (!pc) {
        vf_status st = vf_zin_error(zin) ? vf_fail(VF_ERR_FORMAT, "%s: %s", path, vf_zin_error(zin))
                                         : vf_fail(VF_ERR_FORMAT, "%s: %s", path, errbuf);
        fclose(fp);
        return st;
    }
    int lt = pcap_datalink(pc);
    if (!vf_linktype_supported(lt)) {
        const char *nm = pcap_datalink_val_to_name(lt);
        pcap_close(pc);
        return vf_fail(VF_ERR_UNSUPPORTED,
                       "%s: link type %d (%s) not supported (Ethernet, raw IP, Linux SLL/SLL2, "
                       "BSD null/loopback are)", path, lt, nm ? nm : "unknown");
    }
    out->kind = VF_TRACE_PACKETS;
    out->linktype = lt;
    /* reserve for the likely packet count (file bytes / 64) so the record
     * array is not copied at every doubling */
    struct stat sb;
    int fd = zin || sink ? -1 : fileno(pcap_file(pc));
    if (fd >= 0 && fstat(fd, &sb) == 0 && sb.st_size > 0) {
        size_t want = (size_t)sb.st_size / 64 + 16;
        if (opt->max_records && want > opt->max_records) want = opt->max_records;
        if (want > ((size_t)1 << 28)) want = (size_t)1 << 28;
        vf_record *p = malloc(want * sizeof *p);
        if (p) { out->recs = p; out->cap = want; }
    }
    vf_status st = VF_OK;
    struct pcap_pkthdr *h;
    const u_char *data;
    size_t n_rec = 0;
    for (;;) {
        if (opt->max_records && n_rec >= opt->max_records) break;
        int rc = pcap_next_ex(pc, &h, &data);
        if (rc == -2) break;
        uint64_t no = out->n_input + 1; /* 1-based frame number, as tshark counts */
        if (rc != 1 && zin && !vf_zin_error(zin)) {
            /* libpcap stopped at bytes that make no sense: if the compressed
             * stream is damaged, its decoder says so by the end (a checksum) */
            char scratch[4096];
            while (fread(scratch, 1, sizeof scratch, pcap_file(pc)) == sizeof scratch) {}
        }
        if (rc != 1 && vf_zin_error(zin) && !z_truncated(zin)) {
            st = vf_fail(VF_ERR_FORMAT, "%s: packet %llu: %s", path, (unsigned long long)no, vf_zin_error(zin));
            break;
        }
        if (rc != 1 && vf_zin_error(zin)) {
            st = vf_trace_skip(out, opt->strict, VF_SKIP_TRUNC_FILE, "%s: packet %llu: %s", path,
                               (unsigned long long)no, vf_zin_error(zin));
            break;
        }
        if (rc != 1) {
            /* libpcap stops here: "truncated dump file; ..." or a bad block */
            st = vf_trace_skip(out, opt->strict, VF_SKIP_TRUNC_FILE, "%s: packet %llu: %s", path,
                               (unsigned long long)no, pcap_geterr(pc));
            break;
        }
        out->n_input++;
        if (pcap_datalink(pc) != lt) { /* pcapng with several interfaces */
            st = vf_fail(VF_ERR_UNSUPPORTED, "%s: packet %llu: link type changes within the file",
                         path, (unsigned long long)no);
            break;
        }
        vf_record r;
        memset(&r, 0, sizeof r);
        const char *why = "";
        int skip = vf_parse_frame(lt, data, h->caplen, &r, &why);
        if (skip >= 0) {
            st = vf_trace_skip(out, opt->strict, (vf_skip_reason)skip,
                               "%s: packet %llu: %s (%u of %u bytes captured)", path,
                               (unsigned long long)no, why, h->caplen, h->len);
            if (st) break;
            continue;
        }
        if (h->ts.tv_sec < 0 || h->ts.tv_sec >= INT64_MAX / 1000000000 - 1) {
            st = vf_trace_skip(out, opt->strict, VF_SKIP_BAD_TIME,
                               "%s: packet %llu: timestamp %lld s is outside 1970..2262", path,
                               (unsigned long long)no, (long long)h->ts.tv_sec);
            if (st) break;
            continue;
        }
        r.ts_ns = (int64_t)h->ts.tv_sec * 1000000000 + (int64_t)h->ts.tv_usec; /* tv_usec holds ns */
        r.pkts = 1;
        r.bytes = r.length;
        r.label = -1;
        n_rec++;
        if ((st = sink ? sink(ctx, &r) : vf_trace_append(out, &r))) break;
    }
    pcap_close(pc);
    if (st) vf_trace_free(out);
    return st;
}
