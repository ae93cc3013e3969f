/* Packet records -> pcap (nanosecond magic a1b23c4d, LINKTYPE_RAW = 101).
 *
 * Each record becomes one IPv4/IPv6 packet of its IP total length: a valid
 * header (checksum for IPv4), then for TCP/UDP/ICMP/ICMPv6 (first fragments
 * only) a minimal L4 header with a correct checksum (IGMP: a membership
 * query; ICMP errors: a quoted inner header), then zero payload up to
 * the length. Fields not modelled get fixed values: TCP seq/ack 0, data
 * offset 5, window 65535; ICMP id/seq 0. A length too small for the headers
 * is raised to the header size (so generated records always give a valid
 * packet). */
#include "trace/trace_internal.h"

#include <stdlib.h>
#include <string.h>

static void wr16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s) {
    for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1) s += (uint32_t)p[n - 1] << 8;
    return s;
}

static uint16_t fold(uint32_t s) {
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

/* bytes of L4 header written for this record (0 when none) */
static uint32_t l4_len(const vf_record *r) {
    if (r->frag_off != 0) return 0;
    switch (r->proto) {
    case 6: return 20;
    case 17: return 8;
    case 1: case 58: return 8;
    case 2: return 8;
    default: return 0;
    }
}

/* Builds the packet into buf (zeroed, >= 65535 + 48 bytes); returns its length. */
static uint32_t build(const vf_record *r, uint8_t *buf) {
    bool v6 = !(vf_addr_is_v4(&r->src) && vf_addr_is_v4(&r->dst)) || r->ip_version == 6;
    bool frag6 = v6 && (r->frag_off || (r->frag_flags & 1));
    uint32_t ih = v6 ? 40u + (frag6 ? 8u : 0u) : 20u;
    uint32_t l4 = l4_len(r);
    uint32_t len = r->length;
    if (len < ih + l4) len = ih + l4;
    if (len > 65535 + (v6 ? 40u : 0u)) len = 65535 + (v6 ? 40u : 0u);
    uint8_t *ip = buf, *p4 = buf + ih;
    uint32_t pseudo = 0;
    uint32_t l4total = len - ih;
    if (!v6) {
        ip[0] = 0x45;
        ip[1] = r->tos;
        wr16(ip + 2, len);
        wr16(ip + 4, r->ip_id);
        wr16(ip + 6, (uint32_t)(r->frag_flags & 7) << 13 | (r->frag_off & 0x1fff));
        ip[8] = r->ttl;
        ip[9] = r->proto;
        memcpy(ip + 12, r->src.b + 12, 4);
        memcpy(ip + 16, r->dst.b + 12, 4);
        wr16(ip + 10, fold(sum16(ip, 20, 0)));
        pseudo = sum16(ip + 12, 8, 0) + r->proto + l4total;
    } else {
        ip[0] = (uint8_t)(0x60 | r->tos >> 4);
        ip[1] = (uint8_t)(r->tos << 4);
        wr16(ip + 4, len - 40);
        ip[6] = frag6 ? 44 : r->proto;
        ip[7] = r->ttl;
        memcpy(ip + 8, r->src.b, 16);
        memcpy(ip + 24, r->dst.b, 16);
        if (frag6) {
            uint8_t *fh = ip + 40;
            fh[0] = r->proto;
            wr16(fh + 2, (uint32_t)(r->frag_off & 0x1fff) << 3 | (r->frag_flags & 1));
            wr16(fh + 6, r->ip_id);
        }
        pseudo = sum16(ip + 8, 32, 0) + r->proto + (l4total >> 16) + (l4total & 0xffff);
    }
    if (l4) {
        switch (r->proto) {
        case 6:
            wr16(p4, r->sport);
            wr16(p4 + 2, r->dport);
            p4[12] = 5 << 4;
            p4[13] = r->tcp_flags;
            wr16(p4 + 14, 65535);
            wr16(p4 + 16, fold(sum16(p4, l4total, pseudo)));
            break;
        case 17: {
            wr16(p4, r->sport);
            wr16(p4 + 2, r->dport);
            wr16(p4 + 4, l4total);
            uint16_t c = fold(sum16(p4, l4total, pseudo));
            wr16(p4 + 6, c ? c : 0xffff);
            break;
        }
        case 1: case 58: {
            uint8_t type = (uint8_t)(r->dport >> 8);
            p4[0] = type;
            p4[1] = (uint8_t)r->dport;
            /* error messages (v4: unreachable, source quench, redirect, time
             * exceeded, parameter problem; v6: types 1-4) quote the
             * offending datagram: give them an inner header going the other
             * way, so dissectors do not read zeros as a bogus IP header */
            bool err4 = r->proto == 1 && (type == 3 || type == 4 || type == 5 || type == 11 || type == 12);
            bool err6 = r->proto == 58 && type >= 1 && type <= 4;
            uint8_t *in = p4 + 8;
            if (err4 && vf_addr_is_v4(&r->src) && l4total >= 8 + 28) {
                in[0] = 0x45;
                wr16(in + 2, 28);
                in[8] = 64;
                in[9] = 17;
                memcpy(in + 12, ip + 16, 4);
                memcpy(in + 16, ip + 12, 4);
                wr16(in + 10, fold(sum16(in, 20, 0)));
                wr16(in + 24, 8); /* UDP length; checksum 0 = none (IPv4) */
            } else if (err6 && v6 && l4total >= 8 + 40) {
                in[0] = 0x60;
                in[6] = 59; /* no next header */
                in[7] = 64;
                memcpy(in + 8, ip + 24, 16);
                memcpy(in + 24, ip + 8, 16);
            }
            /* ICMPv4's checksum has no pseudo-header; ICMPv6's has */
            wr16(p4 + 2, fold(sum16(p4, l4total, r->proto == 58 ? pseudo : 0)));
            break;
        }
        case 2:
            /* IGMP: a general membership query (v2 if 8 bytes, v3 with no
             * sources if longer); type is not modelled */
            p4[0] = 0x11;
            wr16(p4 + 2, fold(sum16(p4, l4total, 0)));
            break;
        default: break;
        }
    }
    return len;
}

static void le32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

vf_status vf_trace_write_pcap(const char *path, const vf_trace *t) {
    if (t->kind != VF_TRACE_PACKETS)
        return vf_fail(VF_ERR_ARG, "%s: a pcap holds packets; this trace holds flows", path);
    uint8_t *buf = malloc(65535 + 128);
    if (!buf) return vf_fail(VF_ERR_OOM, "%s: out of memory", path);
    vf_zatomic za;
    vf_status st = vf_zatomic_open(&za, path);
    if (st) { free(buf); return st; }
    uint8_t gh[24] = {0};
    le32(gh, 0xa1b23c4d);            /* nanosecond pcap */
    gh[4] = 2; gh[6] = 4;            /* version 2.4 */
    le32(gh + 16, 65535 + 48);       /* snaplen */
    le32(gh + 20, 101);              /* LINKTYPE_RAW */
    fwrite(gh, 1, sizeof gh, za.f);
    for (size_t i = 0; i < t->n; i++) {
        const vf_record *r = &t->recs[i];
        size_t clear = (size_t)r->length + 68;   /* headers + payload of this packet */
        memset(buf, 0, clear > 65535 + 128 ? 65535 + 128 : clear);
        uint32_t len = build(r, buf);
        int64_t ts = r->ts_ns;
        if (ts < 0 || ts / 1000000000 > INT32_MAX) {
            /* pcap's seconds field is read as signed 32 bits by libpcap */
            free(buf);
            vf_zatomic_abort(&za);
            return vf_fail(VF_ERR_ARG, "%s: record %zu: time %lld ns is outside what pcap holds (1970 to 2038-01-19)",
                           path, i, (long long)ts);
        }
        uint8_t ph[16];
        le32(ph, (uint32_t)(ts / 1000000000));
        le32(ph + 4, (uint32_t)(ts % 1000000000));
        le32(ph + 8, len);
        le32(ph + 12, len);
        fwrite(ph, 1, 16, za.f);
        if (fwrite(buf, 1, len, za.f) != len) break;
    }
    free(buf);
    return vf_zatomic_commit(&za);
}
