/* Trace records: the one in-memory form of packets and flows that readers
 * produce, encoders consume, writers emit and the evaluator compares.
 *
 * A packet capture gives one record per IP packet (kind VF_TRACE_PACKETS);
 * a flow log gives one record per flow (kind VF_TRACE_FLOWS). Fields that a
 * kind does not have are 0. */
#ifndef VKFLOW_TRACE_RECORD_H
#define VKFLOW_TRACE_RECORD_H

#include <stddef.h>
#include <stdint.h>

typedef enum vf_trace_kind { VF_TRACE_PACKETS = 0, VF_TRACE_FLOWS = 1 } vf_trace_kind;

/* An IPv4 or IPv6 address. IPv4 is stored as the IPv4-mapped IPv6 address
 * ::ffff:a.b.c.d so both families compare and hash alike. */
typedef struct vf_addr {
    uint8_t b[16];
} vf_addr;

typedef struct vf_record {
    int64_t ts_ns;        /* packet time, or flow start: ns since the epoch */
    int64_t dur_ns;       /* flows: duration (ns); packets: 0 */
    vf_addr src, dst;
    uint16_t sport, dport;/* 0 for protocols without ports */
    uint8_t proto;        /* IP protocol number (6 TCP, 17 UDP, 1 ICMP, ...) */
    uint8_t ip_version;   /* 4 or 6 */
    uint8_t ttl;          /* TTL / hop limit (packets) */
    uint8_t tos;          /* TOS / traffic class (packets; flows: stos if given) */
    uint8_t tcp_flags;    /* packets: this packet's flags; flows: OR of all */
    uint8_t frag_flags;   /* IPv4 flags (DF = 2, MF = 1) */
    uint16_t frag_off;    /* IPv4 fragment offset in 8-byte units */
    uint16_t ip_id;       /* IPv4 identification */
    uint32_t length;      /* packets: IP total length in bytes; flows: 0 */
    uint64_t pkts;        /* flows: packet count; packets: 1 */
    uint64_t bytes;       /* flows: byte count; packets: = length */
    int32_t label;        /* flows: index into vf_trace.labels (the `type` /
                             `label` column), -1 if none */
} vf_record;

#endif
