/* encode.c's pieces that the streaming encoder (encode_stream.c) shares, so
 * that both compute the same numbers the same way (not installed API). */
#ifndef VKFLOW_ENCODE_INTERNAL_H
#define VKFLOW_ENCODE_INTERNAL_H

#include "trace/encode.h"

/* A record's value of field f (td in seconds, the rest integers). */
double vf_enc_fval(const vf_record *r, vf_field f);
/* One field's encoding of r at dst (the field's segment). */
void vf_enc_field(const vf_encoder *e, const vf_field_spec *s, const vf_record *r, float *dst);
/* The time field's encoding (VF_ENC_INTERARRIVAL when there is none). */
vf_encoding vf_enc_time_enc(const vf_encoder *e);
/* A within-flow gap of chunk c written at dst (the time feature segments:
 * one value in [0, 1], or for interarrival_bins a one-hot of `bins` then
 * the place in the bin); te = vf_enc_time_enc(e). */
void vf_enc_gap(const vf_encoder *e, vf_encoding te, int c, int64_t gap_ns, float *dst);
/* Its inverse: the gap (ns) that the time feature segments at src decode to. */
int64_t vf_enc_ungap(const vf_encoder *e, vf_encoding te, int c, const float *src);
/* Whether te needs the gap quantile table. */
bool vf_enc_time_quantile(vf_encoding te);
/* The quantile table from every within-flow, within-chunk gap of the
 * training trace (gaps[n], sorted here in place). */
vf_status vf_enc_fit_gapq(vf_encoder *e, int64_t *gaps, size_t n);
/* The quantile table of field f from its value in every training record
 * (v[n], sorted here in place): bins + 1 knots. */
vf_status vf_enc_fit_valq(vf_encoder *e, vf_field f, int bins, double *v, size_t n);
/* A row's chunk and first time: the training flow starts (start_decode = "rank"). */
typedef struct vf_row_start { int32_t c; int64_t ts; } vf_row_start;
/* Each chunk's flow-start quantile table from every row's start (v[n],
 * sorted here in place); start_lo and start_hi must be set. */
vf_status vf_enc_fit_startq(vf_encoder *e, vf_row_start *v, size_t n);
/* A flow's records in one chunk, uncut, and the kind of that part
 * (vf_flen_kind; flow_lengths = "training"). */
typedef struct vf_chunk_len { int32_t c, kind; int64_t len; } vf_chunk_len;
/* Each chunk's flow length histogram (e->flen) from every training flow's
 * records in it (v[n], sorted here in place). */
vf_status vf_enc_fit_flen(vf_encoder *e, vf_chunk_len *v, size_t n);
/* Knots k = 0..K of the n values v (sorted here): knot[k] is the value of
 * rank round(k (n - 1) / K), all 0 when n is 0 (the quantile tables). */
void vf_enc_knots_i64(int64_t *v, size_t n, int K, double *knot);
/* The carried gaps' quantile table (e->xgapq) from every training gap
 * between a flow's parts in successive chunks it is in (gaps[n], sorted
 * here; carried_gaps = "training"). */
vf_status vf_enc_fit_xgapq(vf_encoder *e, int64_t *gaps, size_t n);
void vf_enc_free_flen(vf_encoder *e);
/* Whether the time field asks for start_decode = "rank". */
bool vf_enc_start_rank(const vf_encoder *e);
/* The per-record numbers that encoding quantile takes (td pkt byt len tos
 * ttl ipid fragoff; not the 5-tuple attributes, not the categories). */
static inline bool vf_enc_quantile_field(vf_field f) {
    return f == VF_F_TD || f == VF_F_PKT || f == VF_F_BYT || f == VF_F_LEN || f == VF_F_TOS || f == VF_F_TTL ||
           f == VF_F_IPID || f == VF_F_FRAGOFF;
}
/* srcip or dstip (encoded by address); every other field is a value. */
static inline bool vf_enc_addr_field(vf_field f) { return f == VF_F_SRCIP || f == VF_F_DSTIP; }
/* A port's or the protocol's dict classes (encoding dict): its `top` most
 * frequent values as its vocabulary, ascending. count: [65536] records per value. */
vf_status vf_enc_value_dict(vf_encoder *e, vf_field f, int top, const uint32_t *count);
void vf_enc_build_layout(vf_encoder *e);
vf_status vf_enc_alloc_chunks(vf_encoder *e);
/* The description an encoder is fitted with: dd_in, or (no fields given)
 * the kind's default fields with dd_in's other settings, written into def. */
const vf_data_desc *vf_enc_resolve_desc(const vf_data_desc *dd_in, vf_trace_kind kind, vf_data_desc *def);
/* The description in force (the kind's defaults when dd_in has no fields,
 * written to *def) and e's settings from it; e must be zeroed. */
const vf_data_desc *vf_enc_setup(const vf_data_desc *dd_in, vf_trace_kind kind, vf_data_desc *def,
                                 vf_encoder *e);
/* The word2vec tables: pre-trained, or trained on t (or on n_sent
 * sentences when t is NULL). */
vf_status vf_enc_w2v(const vf_data_desc *dd, vf_encoder *e, const vf_trace *t, const vf_w2v_sentence *sent,
                     size_t n_sent);
/* Empty chunks' ranges, max_len, the layout. */
void vf_enc_finish(const vf_data_desc *dd, vf_encoder *e, int max_len);
/* A field's first segment among segs[0..n) (dict: its classes; quantile:
 * all of it), or NULL. */
const vf_segment *vf_enc_first_seg(const vf_segment *segs, int n, vf_field f);
/* decode = "rank": chunk c's r-th of n numbers takes the gap or value table
 * at rank fraction (r + vf_enc_chunk_phase(e, c)) / n (encode.c). */
double vf_enc_chunk_phase(const vf_encoder *e, int c);

#endif
