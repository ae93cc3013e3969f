/* Trace I/O: read packet captures (pcap/pcapng through libpcap) and flow
 * logs (CSV, any column layout), aggregate packets into flows, write pcap and
 * flow CSV back.
 *
 * Everything is in-memory: a vf_trace holds one vf_record per packet or per
 * flow, in file order. Errors follow the engine's convention: functions return
 * a vf_status and vf_last_error() names the place ("x.csv:12: field 'sp': ...",
 * "x.pcap: packet 41: ..."). Readers are lenient by default: a bad record is
 * skipped and counted by reason (vf_trace.skipped[]), and the first such
 * message is kept in vf_trace.first_skip; with strict = true the first bad
 * record is an error (frames that are simply not IP, like ARP, are counted
 * in both modes). */
#ifndef VKFLOW_TRACE_H
#define VKFLOW_TRACE_H

#include "vkflow.h"
#include "trace/record.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ skip reasons */

typedef enum vf_skip_reason {
    VF_SKIP_NOT_IP = 0,      /* frame carries ARP, LLDP, ... (not IPv4/IPv6) */
    VF_SKIP_TRUNC_L2,        /* captured bytes end inside the link header */
    VF_SKIP_TRUNC_IP,        /* ... inside the IP header (or its options) */
    VF_SKIP_TRUNC_L4,        /* ... inside the TCP/UDP/ICMP header */
    VF_SKIP_BAD_IP,          /* IP version/IHL/length fields make no sense */
    VF_SKIP_CSV_COLUMNS,     /* CSV row with the wrong number of columns */
    VF_SKIP_CSV_FIELD,       /* CSV field not parsable or out of range */
    VF_SKIP_TRUNC_FILE,      /* file ends inside a record (the rest is lost) */
    VF_SKIP_BAD_TIME,        /* timestamp beyond what int64 ns since 1970 holds */
    VF_SKIP_TOOL_RECORD,     /* a flow tool's own status row, not a flow (Argus "man"
                                management records); like NOT_IP, not an error */
    VF_SKIP_COUNT
} vf_skip_reason;

/* "not IP", "truncated link header", ... */
const char *vf_skip_reason_name(vf_skip_reason r);

/* -------------------------------------------------------------- CSV layout */

/* What a CSV column means. A layout is an ordered list of columns; columns
 * the model does not use are VF_COL_IGNORE (read past, written empty). */
typedef enum vf_col_role {
    VF_COL_IGNORE = 0,
    VF_COL_SRCIP, VF_COL_DSTIP, VF_COL_SRCPORT, VF_COL_DSTPORT, VF_COL_PROTO,
    VF_COL_TS,       /* flow start time (time_unit) */
    VF_COL_TE,       /* flow end time (time_unit); start = te - td */
    VF_COL_TD,       /* duration, seconds (decimal) */
    VF_COL_PKT, VF_COL_BYT,
    VF_COL_PKT_ADD,  /* added to pkt (Zeek resp_pkts); written as 0 */
    VF_COL_BYT_ADD,  /* added to byt (Zeek resp_ip_bytes); written as 0 */
    VF_COL_LABEL,    /* class label: index into vf_trace.labels */
    VF_COL_FLAGS,    /* TCP flags: nfdump string ".AP.S." or a number */
    VF_COL_TOS,
    /* per-packet CSVs (NetShare's pcap export): a layout with LEN is read as
     * packets, not flows */
    VF_COL_LEN,      /* IP total length */
    VF_COL_TTL, VF_COL_IPID,
    VF_COL_FRAGFLAG, /* IPv4 flags (DF 2, MF 1) */
    VF_COL_FRAGOFF,
    VF_COL_ROLE_COUNT
} vf_col_role;

/* Role names as the data description spells them: "srcip", "dstip",
 * "srcport", "dstport", "proto", "ts", "te", "td", "pkt", "byt", "pkt_add",
 * "byt_add", "label", "flags", "tos", "len", "ttl", "ipid", "fragflag",
 * "fragoff" (and "ignore"). */
const char *vf_col_role_name(vf_col_role r);
vf_col_role vf_col_role_from_name(const char *name); /* -1 if unknown */

typedef enum vf_time_unit {
    VF_TIME_S = 0, VF_TIME_MS, VF_TIME_US, VF_TIME_NS,
    VF_TIME_DATETIME,  /* "YYYY-MM-DD HH:MM:SS[.frac]" (or 'T', or '/'), UTC; reading also
                          takes CICFlowMeter's "DD/MM/YYYY HH:MM[:SS][ AM|PM]" */
    VF_TIME_DMY,       /* written as "DD/MM/YYYY HH:MM:SS" (CICFlowMeter); read as DATETIME */
} vf_time_unit;
const char *vf_time_unit_name(vf_time_unit u);

/* How addresses are written back (reading accepts every form). */
typedef enum vf_addr_style { VF_ADDR_TEXT = 0, VF_ADDR_INT = 1 } vf_addr_style;

/* How a layout's port columns hold ICMP/ICMPv6 type and code. vf_record
 * always keeps nfdump's convention (sport 0, dport = type * 256 + code). */
typedef enum vf_icmp_ports {
    VF_ICMP_NFDUMP = 0,  /* dport = type * 256 + code, sport 0 (nfdump, UGR'16, NetShare) */
    VF_ICMP_ARGUS,       /* sport = 0xCCTT (code * 256 + type, Argus prints hex),
                            dport = ICMP id / quoted port (not kept; written 0x0000) */
    VF_ICMP_ZEEK,        /* sport = type, dport = code (Zeek's id.orig_p / id.resp_p) */
    VF_ICMP_NONE,        /* the tool writes 0/0 (CICFlowMeter): type and code unknown */
} vf_icmp_ports;

/* The text syntax of a flow log. */
typedef enum vf_csv_syntax {
    VF_SYNTAX_CSV = 0,   /* comma separated, quoted fields, header line */
    VF_SYNTAX_ZEEK_TSV,  /* Zeek ASCII log: #separator, #fields, tab separated, "-" unset */
    VF_SYNTAX_JSONL,     /* one JSON object per line (Zeek's LogAscii::use_json) */
} vf_csv_syntax;

#define VF_CSV_MAX_COLS 128
typedef struct vf_csv_layout {
    char name[32];                 /* "ugr16", "zeek", "netshare", "custom" */
    int n_cols;                    /* 0 = none (trace not read from CSV) */
    char col_name[VF_CSV_MAX_COLS][48];
    vf_col_role role[VF_CSV_MAX_COLS];
    char col_default[VF_CSV_MAX_COLS][16]; /* written in VF_COL_IGNORE columns */
    vf_time_unit time_unit;        /* of TS / TE columns; TD is always seconds */
    vf_addr_style addr_style;
    bool proto_numeric;            /* write proto as a number (else TCP/UDP/..) */
    bool proto_lower;              /* write "tcp" rather than "TCP" (Zeek) */
    uint8_t icmp_ports;            /* vf_icmp_ports */
    uint8_t syntax;                /* vf_csv_syntax */
    int64_t td_unit_ns;            /* unit of TD columns in ns (0 = seconds; CICFlowMeter: µs) */
    bool unit_guessed;             /* time_unit was guessed from the first row (then written in s) */
} vf_csv_layout;

/* Built-in layouts: "ugr16" (te,td,sa,da,sp,dp,pr,flg,fwd,stos,pkt,byt,type),
 * "zeek" (Zeek conn.log as CSV, IoT-23), "netshare"
 * (srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt,type; int IPs, ts in us). */
vf_status vf_csv_layout_builtin(const char *name, vf_csv_layout *out);
/* Layout of a header line (no newline): column names are matched against
 * the built-in layouts, then against common aliases (sa/src_ip/id.orig_h/
 * SrcAddr... for srcip, and so on). The time unit of an auto layout is
 * guessed from first_row (datetime text, or the magnitude of an epoch
 * number); first_row may be NULL (then seconds). */
vf_status vf_csv_layout_detect(const char *header, const char *first_row, vf_csv_layout *out);

/* ------------------------------------------------------------------ traces */

typedef struct vf_trace {
    vf_trace_kind kind;          /* packets or flows */
    vf_record *recs; size_t n;   /* records in file order */
    size_t cap;                  /* allocated entries of recs */
    char **labels; int n_labels; /* distinct values of a flow 'type'/'label' column */
    int linktype;                /* pcap link type of the source (-1: CSV) */
    vf_csv_layout layout;        /* CSV source layout (n_cols 0 if none) */
    uint64_t n_input;            /* frames / data rows seen in the file */
    uint64_t skipped[VF_SKIP_COUNT];
    char first_skip[256];        /* message of the first skipped record */
    char first_by_reason[VF_SKIP_COUNT][200]; /* the first message of each reason ("file:line: ...") */
} vf_trace;

typedef struct vf_read_options {
    bool strict;                 /* first bad record is an error */
    /* CSV: a column mapping overrides header detection (NULL = detect). */
    const vf_csv_layout *layout;
    size_t max_records;          /* stop after this many records (0 = all) */
} vf_read_options;

/* Reads a .pcap/.pcapng (by magic, not extension) or a flow .csv (header decides the layout). */
vf_status vf_trace_read(const char *path, const vf_read_options *opt, vf_trace *out);
/* Writes by extension: .pcap (packets) or .csv (flows, in the layout the trace was read from,
   or NetShare's srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt,type layout when none). Atomic. */
vf_status vf_trace_write(const char *path, const vf_trace *t);
/* Same, with an explicit CSV layout (NULL = as vf_trace_write). */
vf_status vf_trace_write_csv(const char *path, const vf_trace *t, const vf_csv_layout *layout);
vf_status vf_trace_write_pcap(const char *path, const vf_trace *t);
/* A CSV written record by record (what vf_trace_write_csv does in one go):
 * layout NULL = labels' source layout, else NetShare's for kind; labels (may
 * be NULL) names the label column's values and must outlive the writer.
 * Atomic: nothing appears at path before commit; commit and abort free w. */
typedef struct vf_csv_writer vf_csv_writer;
vf_status vf_csv_writer_open(vf_csv_writer **w, const char *path, const vf_csv_layout *layout,
                             vf_trace_kind kind, const vf_trace *labels);
void vf_csv_writer_put(vf_csv_writer *w, const vf_record *r);
vf_status vf_csv_writer_commit(vf_csv_writer *w);
void vf_csv_writer_abort(vf_csv_writer *w);
vf_status vf_trace_append(vf_trace *t, const vf_record *r); /* grows recs */
/* Index of label s in t->labels, adding it if new; -1 on OOM. */
int vf_trace_label(vf_trace *t, const char *s);
void vf_trace_free(vf_trace *t);
/* Total of skipped[]. */
uint64_t vf_trace_skipped_total(const vf_trace *t);

/* ---------------------------------------------------------- record helpers */

void vf_addr_from_v4(vf_addr *a, uint32_t host_order);
bool vf_addr_is_v4(const vf_addr *a);
uint32_t vf_addr_v4(const vf_addr *a);  /* host order; valid if is_v4 */
/* Text form: dotted quad or RFC 5952 IPv6. buf >= 46 bytes. */
const char *vf_addr_str(const vf_addr *a, char *buf, size_t len);
/* Parses dotted quad, IPv6, or a decimal integer 0..2^32-1 (IPv4). */
bool vf_addr_parse(const char *s, vf_addr *out);
const char *vf_proto_name(uint8_t proto);     /* "TCP", "UDP", ... or NULL */
bool vf_proto_parse(const char *s, uint8_t *out); /* name or number */
/* nfdump flags string "UAPRSF" with '.' for unset (6 chars), into buf[9]. */
const char *vf_tcp_flags_str(uint8_t flags, char *buf);

/* ------------------------------------------------------------------- flows */

/* The directional 5-tuple. ICMP keeps nfdump's convention: sport 0, dport =
 * type*256 + code (both for packets and flows). */
typedef struct vf_flow_key {
    vf_addr src, dst;
    uint16_t sport, dport;
    uint8_t proto;
} vf_flow_key;

void vf_flow_key_of(const vf_record *r, vf_flow_key *k);
/* Whether flows of IP protocol proto have ports (TCP, UDP, DCCP, SCTP, UDP-Lite). */
bool vf_proto_has_ports(uint8_t proto);

/* Open-addressing hash table from 5-tuple to a dense flow index 0..n-1 (in
 * order of first appearance). Grows by doubling at 1/2 load. */
typedef struct vf_flow_table {
    vf_flow_key *keys;   /* [n] in first-appearance order */
    uint32_t *slots;     /* [cap] index+1, 0 = empty */
    size_t n, n_alloc, cap;
} vf_flow_table;

vf_status vf_flow_table_init(vf_flow_table *ft, size_t expect);
/* Flow index of k, inserting it if new (*is_new set when given). -1 on OOM. */
int64_t vf_flow_table_put(vf_flow_table *ft, const vf_flow_key *k, bool *is_new);
int64_t vf_flow_table_get(const vf_flow_table *ft, const vf_flow_key *k);
void vf_flow_table_free(vf_flow_table *ft);

/* Packet -> NetFlow-style aggregation: one flow record per 5-tuple (start =
 * first packet, duration = last - first, pkts, bytes = sum of IP lengths,
 * tcp_flags = OR, tos = first packet's), in order of first packet. An
 * inactive timeout (ns, 0 = none) starts a new flow record for the same key
 * after a gap longer than it, as NetFlow exporters do. out is a flows trace. */
vf_status vf_trace_aggregate(const vf_trace *pkts, int64_t idle_timeout_ns, vf_trace *out);

/* Streaming aggregation (flow_stream.c): flows built while packets are read,
 * as flow exporters build them, with memory bounded by the live flows.
 * A flow (same 5-tuple) is closed and handed to the sink
 *   - idle:   when no packet came for longer than idle_ns (checked at every
 *             packet against its timestamp; 0 = never),
 *   - active: when a packet comes active_ns or more after the flow's first
 *             packet (that packet starts the next record; 0 = never),
 *   - at the end of input (vf_flow_stream_finish).
 * Defaults are nfpcapd's/NetFlow's: idle 60 s, active 300 s (nfpcapd -e
 * 300,60). biflow joins the reverse direction into the flow its first packet
 * opened (Argus's bidirectional flows; records keep the first direction).
 * Flow records are as vf_trace_aggregate makes them; they come out in the
 * order they are closed, not by start time. Idle expiry walks flows in
 * order of their last packet's arrival, so a capture whose timestamps go
 * backwards may close a flow a little late (never early). */
#define VF_FLOW_IDLE_DEFAULT_NS (60ll * 1000000000)
#define VF_FLOW_ACTIVE_DEFAULT_NS (300ll * 1000000000)
typedef struct vf_flow_timeouts {
    int64_t idle_ns, active_ns;
    bool biflow;
} vf_flow_timeouts;
void vf_flow_timeouts_default(vf_flow_timeouts *to);

typedef struct vf_flow_stream_stats {
    uint64_t packets;    /* records added */
    uint64_t flows;      /* flow records emitted */
    uint64_t by_idle, by_active, at_end; /* ... and why */
    size_t peak_live;    /* most flows live at once */
} vf_flow_stream_stats;

typedef vf_status (*vf_flow_sink)(void *ctx, const vf_record *flow);
typedef struct vf_flow_stream vf_flow_stream;
/* to NULL = defaults; sink may be NULL (count only). A sink error stops the
 * stream and is returned by add/finish. */
vf_status vf_flow_stream_new(const vf_flow_timeouts *to, vf_flow_sink sink, void *ctx,
                             vf_flow_stream **out);
vf_status vf_flow_stream_add(vf_flow_stream *s, const vf_record *pkt);
/* Closes flows idle at now_ns (add does this itself). */
vf_status vf_flow_stream_expire(vf_flow_stream *s, int64_t now_ns);
vf_status vf_flow_stream_finish(vf_flow_stream *s); /* closes every live flow */
size_t vf_flow_stream_live(const vf_flow_stream *s);
const vf_flow_stream_stats *vf_flow_stream_stats_of(const vf_flow_stream *s);
void vf_flow_stream_free(vf_flow_stream *s);
/* A .pcap/.pcapng (plain or compressed) through s, packet by packet, then
 * finished; stats gets the read counts (n_input, skipped) and no records. */
vf_status vf_pcap_stream_flows(const char *path, const vf_read_options *opt, vf_flow_stream *s,
                               vf_trace *stats);
/* Whether path is a capture (pcap/pcapng magic, after decompression). */
vf_status vf_trace_is_capture(const char *path, bool *is_pcap);

/* Groups records of any trace by 5-tuple. order[] lists record indices flow
 * by flow (file order inside a flow); flow f owns order[start[f] ..
 * start[f+1]). */
typedef struct vf_flow_index {
    size_t n_flows;
    size_t *start;       /* [n_flows + 1] */
    size_t *order;       /* [n records] */
    vf_flow_key *keys;   /* [n_flows] */
} vf_flow_index;
vf_status vf_flow_index_build(const vf_trace *t, vf_flow_index *out);
void vf_flow_index_free(vf_flow_index *fi);

/* ------------------------------------------------------------------ summary */

/* Prints `vkflow inspect`'s summary of t (records, span, flows, protocol mix,
 * top ports, flow-size percentiles, skipped records by reason). */
vf_status vf_trace_summary(const vf_trace *t, const char *path, FILE *f);

#ifdef __cplusplus
}
#endif
#endif /* VKFLOW_TRACE_H */
