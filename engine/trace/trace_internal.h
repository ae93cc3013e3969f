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
/* Reads a capture record by record: each IP packet's record goes to sink
 * (no record array); stats gets the counts (n_input, skipped, linktype) and
 * no records. A sink error stops the read and is returned. */
vf_status vf_pcap_each(const char *path, const vf_read_options *opt, vf_trace *stats,
                       vf_status (*sink)(void *ctx, const vf_record *r), void *ctx);
/* Same from an open stream (closed on return; the fuzzer passes fmemopen). */
vf_status vf_pcap_read_fp(FILE *fp, const char *name, const vf_read_options *opt, vf_trace *out);
/* Reads a flow CSV (or Zeek TSV / JSON lines) block by block: each record
 * goes to sink, in file order, exactly as vf_csv_read reads it (no record
 * array, no copy of the file: memory is one block of text). stats gets the
 * layout, kind, labels and counts, no records. */
vf_status vf_csv_each(const char *path, const vf_read_options *opt, vf_trace *stats,
                      vf_status (*sink)(void *ctx, const vf_record *r), void *ctx);
/* vf_csv_each's first block of text in bytes (4 MiB; tests make it tiny to
 * put rows across block ends). */
extern size_t vf_csv_block;
/* Reads CSV from a memory buffer (the fuzzer's entry point); name is used in
 * messages. */
vf_status vf_csv_read_mem(const char *name, const char *buf, size_t len,
                          const vf_read_options *opt, vf_trace *out);

/* Ends of string-to-number parsing shared by CSV and the data description. */
bool vf_parse_u64(const char *s, const char *end, uint64_t *out);
bool vf_parse_dec_ns(const char *s, const char *end, int64_t scale_ns, int64_t *out);

/* ------------------------------------------------ compression (compress.c) */

typedef enum vf_comp { VF_COMP_NONE = 0, VF_COMP_GZ, VF_COMP_XZ, VF_COMP_ZST, VF_COMP_BZ2 } vf_comp;
const char *vf_comp_name(vf_comp c);                  /* "plain", "gzip", "xz", "zstd", "bzip2" */
vf_comp vf_comp_from_magic(const uint8_t *m, size_t n); /* first bytes of a file */
/* By the name's suffix (.gz .xz .zst .bz2, any case); *suffix_len its length. */
vf_comp vf_comp_from_name(const char *path, size_t *suffix_len);

/* Opens path for reading, decompressing when its first bytes say it is
 * compressed (*comp, if given, says which). A damaged or truncated stream
 * makes reads fail with errno EIO; vf_zin_error(*zin) then says why (NULL
 * while nothing failed; *zin is NULL for a plain file and valid until the
 * FILE is closed). */
typedef struct vf_zin vf_zin;
vf_status vf_zopen_read(const char *path, FILE **fp, vf_zin **zin, vf_comp *comp);
const char *vf_zin_error(const vf_zin *z);
/* A FILE that compresses into dst (closing it ends the stream; dst stays
 * open); NULL on failure. */
FILE *vf_zopen_write(FILE *dst, vf_comp c);

/* Atomic output (util.h) compressed as the name's suffix asks. Write to f. */
typedef struct vf_zatomic {
    vf_atomic_file af;
    FILE *f;
    vf_comp comp;
} vf_zatomic;
vf_status vf_zatomic_open(vf_zatomic *za, const char *path);
vf_status vf_zatomic_commit(vf_zatomic *za);
void vf_zatomic_abort(vf_zatomic *za);

/* The 5-tuple hash and equality both flow tables use (flows.c). */
uint64_t vf_flow_key_hash(const vf_flow_key *k);
bool vf_flow_key_eq(const vf_flow_key *a, const vf_flow_key *b);
/* A flow record opened by its first packet r: r's 5-tuple and time, one
 * packet (or r's count), its bytes, per-packet fields cleared. */
void vf_flow_record_start(const vf_record *r, vf_record *out);

#endif
