/* Internals shared by the engine/trace sources (not installed API). */
#ifndef VKFLOW_TRACE_INTERNAL_H
#define VKFLOW_TRACE_INTERNAL_H

#include "trace/trace.h"
#include "util.h"

/* Parses one captured frame of link type `linktype` (a DLT_ value as libpcap
 * reports it) into r (ts_ns is left to the caller). Returns -1 when the frame
 * is a packet record, else the vf_skip_reason and a short why in *why. Never
 * reads past data[caplen). */
int vf_parse_frame(int linktype, const uint8_t *data, uint32_t caplen, vf_record *r,
                   const char **why);
/* Whether libpcap link type lt is one vf_parse_frame understands. */
bool vf_linktype_supported(int linktype);


/* Records a skipped record: counts it, keeps the first message, and in
 * strict mode returns the error (VF_ERR_FORMAT with msg). */
vf_status vf_trace_skip(vf_trace *t, bool strict, vf_skip_reason why, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

vf_status vf_csv_read(const char *path, const vf_read_options *opt, vf_trace *out);
vf_status vf_pcap_read(const char *path, const vf_read_options *opt, vf_trace *out);
/* Same from an open stream (closed on return; the fuzzer passes fmemopen). */
vf_status vf_pcap_read_fp(FILE *fp, const char *name, const vf_read_options *opt, vf_trace *out);
/* Reads CSV from a memory buffer (the fuzzer's entry point); name is used in
 * messages. */
vf_status vf_csv_read_mem(const char *name, const char *buf, size_t len,
                          const vf_read_options *opt, vf_trace *out);

/* Ends of string-to-number parsing shared by CSV and the data description. */
bool vf_parse_u64(const char *s, const char *end, uint64_t *out);
bool vf_parse_dec_ns(const char *s, const char *end, int64_t scale_ns, int64_t *out);

#endif
