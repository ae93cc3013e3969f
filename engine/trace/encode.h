/* Data description, chunking, flow tags and NetShare field encodings.
 *
 * Pipeline: vf_trace -> flows (5-tuple) -> N time chunks -> per chunk, one
 * time series per flow: attributes [attr_dim] (5-tuple fields, flow start,
 * flow tags) and per-step features [max_len, feat_dim] with a generation flag
 * per step. vf_encoder holds everything needed to invert it (min/max ranges,
 * vocabularies, word2vec tables, chunk windows) and is saved to / loaded from
 * a text file. */
#ifndef VKFLOW_TRACE_ENCODE_H
#define VKFLOW_TRACE_ENCODE_H

#include "trace/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The modelled fields of a record. */
typedef enum vf_field {
    VF_F_SRCIP = 0, VF_F_DSTIP, VF_F_SRCPORT, VF_F_DSTPORT, VF_F_PROTO,
    VF_F_TIME,      /* flow start (attribute) + within-flow inter-arrival (feature 0) */
    VF_F_TD, VF_F_PKT, VF_F_BYT, VF_F_LABEL, VF_F_FLAGS, VF_F_TOS,
    VF_F_LEN, VF_F_TTL, VF_F_IPID, VF_F_FRAGFLAG, VF_F_FRAGOFF,
    VF_F_COUNT
} vf_field;
const char *vf_field_name(vf_field f);   /* "srcip", ..., "time", "td", ... */

typedef enum vf_encoding {
    VF_ENC_BITS = 0,     /* IP: 32 (IPv4) or 128 bits, each a 2-way one-hot (softmax) */
    VF_ENC_WORD2VEC,     /* port/proto: skip-gram embedding, L2-normalised (tanh head) */
    VF_ENC_ONEHOT,       /* categorical over the observed values (softmax) */
    VF_ENC_LOG_MINMAX,   /* (log1p(x) - lo) / (hi - lo) in [0, 1] */
    VF_ENC_MINMAX,       /* (x - lo) / (hi - lo) in [0, 1] */
    VF_ENC_INTERARRIVAL, /* time only: start (attr) + inter-arrival (feat), per-chunk min-max */
    VF_ENC_INTERARRIVAL_LOG, /* time only: start per-chunk min-max (attr) + inter-arrival as
                              * log1p(gap in us) / log1p(chunk's largest gap in us) (feat) */
    VF_ENC_DICT,         /* IP: one-hot over the `top` most frequent training addresses + an
                          * "other" class (softmax, top + 1), then the bits as VF_ENC_BITS */
    VF_ENC_INTERARRIVAL_QUANTILE, /* time only: start per-chunk min-max (attr) + inter-arrival as its
                                   * place in the training gaps' quantile table (feat, [0, 1]) */
    VF_ENC_INTERARRIVAL_BINS, /* time only: start as above (attr) + inter-arrival as the quantile bin
                               * it falls in (softmax, `bins` wide) and its place in the bin (unit) */
    VF_ENC_QUANTILE,     /* a per-record number (td pkt byt len tos ttl ipid fragoff): its place in
                          * the training values' quantile table, [0, 1] (unit) */
} vf_encoding;
#define VF_ENC_LAST VF_ENC_QUANTILE
const char *vf_encoding_name(vf_encoding e);

/* How IP bits are turned back into an address (bits and dict's "other"). */
typedef enum vf_ip_decode {
    VF_IPDEC_BITS = 0,   /* each bit on its own (argmax): NetShare's */
    VF_IPDEC_TREE,       /* the training address with the highest likelihood under the bit
                          * probabilities (exact search of the prefix tree of training addresses) */
    VF_IPDEC_TREE_NEW,   /* tree, except for a Good-Turing share of the rows (the training
                          * trace's share of records whose address occurs once), which keep
                          * their bits: new addresses at the rate new hosts appear */
    VF_IPDEC_TREE_FRESH, /* tree_new, except that a dict class whose address was seen in one
                          * training flow (a Good-Turing singleton, counted by 5-tuple) stands for
                          * the hosts a new sample would see once: each row in it gets a fresh
                          * address (its upper half, the rest from a hash of the row's outputs;
                          * never a training address) */
} vf_ip_decode;
const char *vf_ip_decode_name(vf_ip_decode d);

/* How quantile outputs (interarrival_quantile's gaps, quantile's values)
 * are turned back into numbers. */
typedef enum vf_quantile_decode {
    VF_QDEC_VALUE = 0, /* each output on its own through the quantile table */
    VF_QDEC_RANK,      /* a chunk's outputs by their rank among that chunk's generated outputs of
                        * the field: the decoded numbers have the training values' distribution,
                        * the model gives which one is larger */
} vf_quantile_decode;

/* How a dict address field's or a per-record onehot field's class outputs
 * are turned into classes. */
typedef enum vf_class_decode {
    VF_CDEC_ARGMAX = 0, /* each row its likeliest class */
    VF_CDEC_QUOTA,      /* dict addresses: the generated flows get the classes in the training flows'
                         * shares (vf_quota_classes); onehot per-record fields: the generated records
                         * in the training records' shares (vf_quota_record_classes); the model gives
                         * which flow or record gets which; proto (word2vec or onehot): each chunk's
                         * new flows get the protocols of the training flows that begin in that chunk,
                         * in their shares of the chunks those flows are in (vf_quota_classes); dict
                         * ports: each protocol's new flows get the port classes of that protocol's
                         * training flows, in their shares ("other" among them: its rows keep their
                         * bits; vf_quota_classes, after the protocol quota) */
} vf_class_decode;
/* Whether class_decode = "quota" applies to field f encoded enc. */
static inline bool vf_class_quota_applies(vf_field f, vf_encoding enc) {
    return ((f == VF_F_SRCIP || f == VF_F_DSTIP) && enc == VF_ENC_DICT) || (enc == VF_ENC_ONEHOT && f > VF_F_TIME) ||
           (f == VF_F_PROTO && (enc == VF_ENC_WORD2VEC || enc == VF_ENC_ONEHOT)) ||
           ((f == VF_F_SRCPORT || f == VF_F_DSTPORT) && enc == VF_ENC_DICT);
}

/* How a decoded address field's records are spread over hosts. */
typedef enum vf_popularity {
    VF_POP_MODEL = 0,   /* as the model's decoded addresses say */
    VF_POP_TRAINING,    /* records per host follow the training trace's curve, given to the model's
                         * hosts by rank: vf_host_popularity */
} vf_popularity;

typedef struct vf_field_spec {
    vf_field field;
    vf_encoding enc;
    int dim;             /* word2vec dimension (default 10) */
    bool fixed_range;    /* lo/hi given in the description (public bounds) */
    double lo, hi;       /* minmax / log_minmax range (of x, not log1p(x)) */
    vf_ip_decode decode; /* bits and dict: how bits become an address */
    int top;             /* dict: addresses with a class of their own (default 64) */
    int bins;            /* interarrival_quantile / _bins / quantile: intervals of the quantile
                          * table (default 4096 / 16 / 4096) */
    vf_quantile_decode qdecode; /* interarrival_quantile and quantile: `decode = "rank"` */
    vf_quantile_decode start_decode; /* time: `start_decode = "rank"`: a chunk's generated flow starts by
                                      * rank, onto the training starts' quantiles in that chunk */
    vf_class_decode class_decode; /* dict addresses, per-record onehot: `class_decode = "quota"` */
    vf_popularity popularity;     /* addresses: `popularity = "training"` */
} vf_field_spec;
/* Whether s asks for class_decode = "quota" on a per-record onehot field
 * (the label quota: vf_quota_record_classes, counted by vocab_count). */
static inline bool vf_record_quota(const vf_field_spec *s) {
    return s->class_decode == VF_CDEC_QUOTA && s->enc == VF_ENC_ONEHOT && s->field > VF_F_TIME;
}
/* Whether s asks for class_decode = "quota" on the protocol (the protocol
 * quota: vf_quota_classes, counted by the encoder's pparts table). */
static inline bool vf_proto_quota(const vf_field_spec *s) {
    return s->class_decode == VF_CDEC_QUOTA && s->field == VF_F_PROTO;
}
/* Whether s asks for class_decode = "quota" on a port (the port quota:
 * vf_quota_classes, counted by the encoder's port_flows table). */
static inline bool vf_port_quota(const vf_field_spec *s) {
    return s->class_decode == VF_CDEC_QUOTA && (s->field == VF_F_SRCPORT || s->field == VF_F_DSTPORT);
}

/* Intervals of a quantile table (interarrival_quantile, quantile) unless
 * `bins` says otherwise, and the most the parser takes. */
#define VF_QUANTILE_BINS_DEFAULT 4096
#define VF_QUANTILE_BINS_MAX 4096
#define VF_VALQ_TAIL_MAX 64 /* tail knots of a value table, each end (encode.c value_knots) */
/* Knots - 1 of each chunk's flow-start quantile table (start_decode = "rank"). */
#define VF_START_BINS 256

typedef enum vf_chunking { VF_CHUNK_FIXED_TIME = 0, VF_CHUNK_FIXED_SIZE = 1 } vf_chunking;

/* Training ingest: auto streams when it can (a regular file, fixed_time
 * chunks, records as read), else reads the trace into memory; on: stream or
 * fail saying why; off: in memory. */
typedef enum vf_streaming { VF_STREAM_AUTO = 0, VF_STREAM_ON, VF_STREAM_OFF } vf_streaming;
/* How many records each generated flow has in a chunk: model, the steps the
 * model generated (up to max_flow_len); training, the training flows'
 * counts in that chunk, uncut, given by rank of the model's own lengths
 * (vf_flow_lengths). */
typedef enum vf_flow_lengths_mode { VF_FLEN_MODEL = 0, VF_FLEN_TRAINING } vf_flow_lengths_mode;
/* The gap between a flow's part in one chunk and its next part in a later
 * one: model, where the later chunk's model put the flow's start; training,
 * the training's such gaps given by rank of the model's (vf_carried_gaps). */
typedef enum vf_carried_gaps_mode { VF_CGAP_MODEL = 0, VF_CGAP_TRAINING } vf_carried_gaps_mode;
/* How many chunks a flow is in: model, the presence tags the model gave the
 * row that starts it; training, the training flows' counts for flows that
 * begin in that chunk, given by rank of the model's tags (vf_flow_spans). */
typedef enum vf_flow_spans_mode { VF_FSPAN_MODEL = 0, VF_FSPAN_TRAINING } vf_flow_spans_mode;
/* Intervals of the carried gaps' quantile table. */
#define VF_XGAP_BINS 1024
/* Records the streaming fit trains word2vec on (a uniform reservoir sample,
 * in file order): 16 bytes each. */
#define VF_W2V_SAMPLE_DEFAULT 1000000

#define VF_MAX_FIELDS 24
typedef struct vf_data_desc {
    char path[4096];
    char format[8];              /* "pcap", "csv" or "" (by magic) */
    bool has_columns;            /* columns = {...} given */
    vf_csv_layout layout;        /* the mapping (roles by column name) */
    bool strict;
    int n_chunks;                /* default 10 */
    vf_chunking chunking;
    int max_flow_len;            /* 0 = auto (largest per-chunk flow length) */
    vf_flow_lengths_mode flow_lengths;
    vf_carried_gaps_mode carried_gaps;
    vf_flow_spans_mode flow_spans;
    int n_fields;
    vf_field_spec fields[VF_MAX_FIELDS];
    int w2v_dim, w2v_window, w2v_negative, w2v_epochs; /* 10, 5, 5, 5 */
    uint64_t seed;
    char w2v_pretrained[4096];   /* "" = train on the trace */
    vf_streaming streaming;      /* how `vkflow train` ingests (docs/TRACES.md) */
    int w2v_sample;              /* streaming: word2vec trains on at most this many records */
} vf_data_desc;

/* NetShare's defaults for a trace kind: 5-tuple (bits, word2vec), time
 * (interarrival), and td/pkt/byt log_minmax + label onehot for flows, or
 * len minmax, tos/ttl/ipid/fragoff fixed-range minmax, fragflag onehot for
 * packets. */
void vf_data_desc_default(vf_trace_kind kind, vf_data_desc *dd);
/* Parses the `data` group of a libconfig file (errors as file:line). Paths
 * in it are relative to the file's folder. */
vf_status vf_data_desc_load(const char *cfg_path, vf_data_desc *dd);
/* Same, from text in memory (name is used in messages and as the base for
 * relative paths). */
vf_status vf_data_desc_parse_string(const char *name, const char *text, vf_data_desc *dd);
/* Whether a field spec is an address field that needs the training
 * addresses' table (encoding dict, decode tree/tree_new/tree_fresh,
 * popularity training), which only the
 * in-memory fit builds; and whether any field of dd does. */
bool vf_field_spec_needs_addr_table(const vf_field_spec *s);
bool vf_data_desc_needs_addr_tables(const vf_data_desc *dd);
/* Whether a field of dd asks for class_decode = "quota" on a onehot field,
 * whose records per value only the in-memory fit counts. */
bool vf_data_desc_needs_class_counts(const vf_data_desc *dd);
/* Whether the encoder needs what only an in-memory fit can count: the
 * values' record counts (class_decode quota on a onehot field), the
 * protocols of the flows that begin in each chunk (quota on proto), each
 * chunk's flow lengths (flow_lengths training), the gaps between a
 * flow's chunks (carried_gaps training) or the chunks each flow is in
 * (flow_spans training). NULL, or *why: the reason. */
bool vf_data_desc_needs_memory_fit(const vf_data_desc *dd, const char **why);
/* Reads the trace the description names, with its column mapping. */
vf_status vf_data_desc_read_trace(const vf_data_desc *dd, vf_trace *out);

/* One contiguous piece of an encoded vector and the head that produces it. */
typedef enum vf_seg_kind {
    VF_SEG_SOFTMAX = 0,  /* one-hot group (width = number of classes) */
    VF_SEG_UNIT,         /* continuous in [0, 1] (sigmoid head) */
    VF_SEG_TANH,         /* continuous in [-1, 1] (tanh head) */
} vf_seg_kind;
typedef struct vf_segment {
    int offset, width;
    vf_seg_kind kind;
    int field;           /* vf_field, or -1 for flow tags */
} vf_segment;

/* Word2vec table of one token kind: vocabulary values and unit vectors. */
typedef struct vf_w2v_table {
    int n, dim;
    uint32_t *value;     /* [n] sorted ascending */
    float *vec;          /* [n, dim], each row L2-normalised */
} vf_w2v_table;

/* The distinct addresses of one IP field in the training trace, sorted by
 * address (so every prefix is a contiguous range: the prefix tree the tree
 * decoder searches), with their record counts. dict: the first `top` classes
 * are the most frequent addresses (count down, then address up). */
typedef struct vf_addr_table {
    int n;
    vf_addr *addr;       /* [n] ascending (memcmp order = bit order) */
    uint32_t *count;     /* [n] records with this address */
    uint32_t *flows;     /* [n] flows (5-tuples) with this address; NULL in encoder files before version 5 */
    int n_dict;          /* dict: classes, min(top, n); 0 otherwise */
    int *dict;           /* [n_dict] index into addr of class k */
    int *class_of;       /* [n] dict class of addr[i], or -1 (the tree decoder of "other" skips classed ones) */
    double p_new;        /* tree_new: records of unclassed addresses seen once / records of unclassed
                          * addresses (Good-Turing's chance that the next one is new) */
} vf_addr_table;

/* A flow's part in a chunk is of one of twelve kinds: whether the flow began
 * in an earlier chunk (carried), whether it goes on in a later one, and its
 * protocol (TCP, UDP or another): a UDP flow's length is not a TCP flow's. */
#define VF_FLEN_KINDS 12
static inline int vf_flen_kind(bool carried, bool goes_on, uint8_t proto) {
    return 3 * (2 * (int)carried + (int)goes_on) + (proto == 6 ? 0 : proto == 17 ? 1 : 2);
}
/* A histogram of flow lengths: n distinct lengths (records), ascending, and
 * how many flows had each. */
typedef struct vf_len_hist {
    int n;
    int64_t *len, *count;
} vf_len_hist;

#define VF_MAX_SEGS 512
typedef struct vf_encoder {
    vf_trace_kind kind;
    int n_fields;
    vf_field_spec fields[VF_MAX_FIELDS];
    int n_chunks;
    vf_chunking chunking;
    int max_len;                 /* steps per flow series */
    int ip_bits;                 /* 32 or 128 */
    int64_t *chunk_begin;        /* [n_chunks + 1] window edges, ns (fixed_time) */
    /* per chunk: flow start range and max inter-arrival (ns) */
    int64_t *start_lo, *start_hi, *iat_hi;
    /* interarrival_quantile / _bins: the within-flow gaps' quantiles (ns), [n_gapq] =
     * bins + 1, non-decreasing: gapq[k] is the gap of rank k / bins among all
     * training gaps (every chunk; gapq[0] the smallest, gapq[bins] the largest) */
    int n_gapq;
    double *gapq;        /* whole ns */
    /* quantile: each such field's training values' quantiles (every record of every
     * chunk; 0 entries otherwise), [n_valq[f]] non-decreasing: bins + 1 evenly spaced
     * ones and up to VF_VALQ_TAIL_MAX more in each tail (encode.c value_knots).
     * valq_p[f][k] (increasing in [0, 1]) is knot k's rank fraction, (i + 1/2) / n
     * for the i-th of n sorted values; NULL in encoder files before version 11, whose
     * tables are bins + 1 knots at ranks k / bins, as gapq (saved so). */
    int n_valq[VF_F_COUNT];
    double *valq[VF_F_COUNT];
    double *valq_p[VF_F_COUNT];
    /* start_decode = "rank": per chunk, the quantiles of its training rows' first times as
     * fractions of [start_lo, start_hi], [n_chunks * n_startq] (n_startq = VF_START_BINS + 1,
     * or 0), non-decreasing within a chunk */
    int n_startq;
    double *startq;
    /* fitted ranges per field (log1p applied for log_minmax) */
    double lo[VF_F_COUNT], hi[VF_F_COUNT];
    /* onehot vocabularies per field */
    int n_vocab[VF_F_COUNT];
    uint64_t *vocab[VF_F_COUNT];
    uint64_t *vocab_count[VF_F_COUNT]; /* onehot with class_decode quota: training records per vocabulary
                                        * value [n_vocab[f]] (in-memory fit only); NULL otherwise */
    /* flow_lengths = "training": [n_chunks * VF_FLEN_KINDS] per chunk and kind of part
     * (vf_flen_kind), the training flows' records in that chunk, uncut by max_len: n distinct
     * counts, ascending, and how many flows had each (in-memory fit only); NULL otherwise */
    vf_len_hist *flen;
    /* proto with class_decode = "quota": [n_chunks * 256] the parts (chunks they are in) of the
     * training flows that begin in chunk c with protocol p at pparts[c * 256 + p] (in-memory fit
     * only); NULL otherwise */
    int64_t *pparts;
    /* dict ports with class_decode = "quota": port_flows[0] srcport's, [1] dstport's, [256 * (n_vocab[f]
     * + 1)]: the training flows with protocol p whose port is dict class k (k = n_vocab[f]: "other") at
     * [p * (n_vocab[f] + 1) + k] (in-memory fit only); NULL otherwise */
    int64_t *port_flows[2];
    /* carried_gaps = "training": the quantiles (ns) of the training gaps from a flow's last record in
     * one chunk to its first in the next chunk it is in, [n_xgapq] = VF_XGAP_BINS + 1,
     * non-decreasing (in-memory fit only); 0 and NULL otherwise */
    int n_xgapq;
    double *xgapq;
    /* flow_spans = "training": [n_chunks * n_chunks] the training flows that begin in chunk c and
     * are in s chunks (c's and s - 1 later ones) at fspan[c * n_chunks + s - 1] (in-memory fit
     * only); NULL otherwise */
    int64_t *fspan;
    vf_w2v_table port, proto;    /* word2vec (shared by srcport and dstport) */
    vf_addr_table ips[2];        /* srcip, dstip: filled when decode = tree or encoding = dict */
    char **labels; int n_labels; /* label strings (index = onehot value) */
    int attr_dim, feat_dim;
    int n_attr_segs, n_feat_segs;
    vf_segment attr_segs[VF_MAX_SEGS], feat_segs[VF_MAX_SEGS];
} vf_encoder;

/* Encoded chunk: host float arrays, row-major. */
typedef struct vf_encoded {
    int chunk;
    int n_flows, max_len, attr_dim, feat_dim;
    float *attr;         /* [n_flows, attr_dim] */
    float *feat;         /* [n_flows, max_len, feat_dim] */
    float *gen_flag;     /* [n_flows, max_len]: 1 for real steps, then 0 */
    int64_t n_truncated; /* flows in this chunk longer than max_len (cut) */
} vf_encoded;

/* Fits the encoder to t (ranges, vocabularies, word2vec, chunk windows). */
vf_status vf_encoder_fit(const vf_data_desc *dd, const vf_trace *t, vf_encoder *enc);
/* Encodes t into enc->n_chunks chunks (*out: array of n_chunks). */
vf_status vf_encode(const vf_encoder *enc, const vf_trace *t, vf_encoded **out);
/* Decodes chunks back into records (appended to out, which must be
 * initialised: memset 0 or read). Flows present in several chunks appear
 * once per chunk, with the steps of that chunk. */
vf_status vf_decode(const vf_encoder *enc, const vf_encoded *chunks, int n_chunks, vf_trace *out);
void vf_encoded_free(vf_encoded *chunks, int n_chunks);
/* Whether attribute row a of a generated chunk c starts a flow there: its start
 * flag and its presence flag for c are hot (the flow tags begin at column
 * tags = attr_dim - 2 (n_chunks + 1): [continued, starts], then [absent,
 * present] per chunk). The merge keeps exactly these rows; the others come from
 * earlier chunks. */
bool vf_row_starts_flow(const float *a, int tags, int c);
/* class_decode = "quota", before the merge of generated chunks gen[0..n_chunks)
 * (all of the encoder's): the rows that start a flow get each such field's
 * classes in the training flows' shares, and their class outputs become that
 * class's one-hot. dict addresses: the shares of the whole trace's flows.
 * proto: in each chunk, weighted by the chunks each row is in, the shares
 * of the parts of the training flows that begin there (pparts; a chunk where
 * none begins keeps the model's protocols); a word2vec row offers each
 * protocol its cosine with the protocol's vector and gets that vector.
 * dict ports, after the protocol: the rows of each decoded protocol, the
 * shares of that protocol's training flows (port_flows; a protocol with
 * none keeps the model's classes). Does nothing when no field asks for it. */
vf_status vf_quota_classes(const vf_encoder *enc, vf_encoded *gen, int n_chunks);
/* class_decode = "quota" on per-record onehot fields, on the decoded
 * records: t's records from[c]..from[c + 1) are merged[c]'s, in vf_decode's
 * order (row by row, step by step), or, with src (not NULL), record k is
 * (or copies) the one at index src[k] in that order over all chunks
 * (vf_flow_lengths). Those in their chunk's window (the ones
 * vf_truncate_windows keeps) get the field's values in the training
 * records' shares (vocab_count), the model's likeliest offers first. */
vf_status vf_quota_record_classes(const vf_encoder *enc, const vf_encoded *merged, int n_chunks, vf_trace *t,
                                  const size_t *from, const int64_t *src);
/* decode = "rank" on quantile fields (volumes), after vf_flow_lengths (src:
 * its map from each record to the decoded record it is or copies; nothing
 * happens when src is NULL): in each chunk, the records vf_truncate_windows
 * keeps, copies included, take the training values' quantiles by the rank of
 * the model's outputs for the step each is or copies (ties by record order,
 * so a step's copies take neighbouring quantiles). vf_decode ranked the
 * generated steps alone, and the copies repeated their values, so a chunk's
 * volumes were the training quantiles plus duplicates. Same arguments as
 * vf_quota_record_classes; *ranked (may be NULL) gets the records ranked,
 * *fields (may be NULL) the fields. */
vf_status vf_rank_record_values(const vf_encoder *enc, const vf_encoded *merged, int n_chunks, vf_trace *t,
                                const size_t *from, const int64_t *src, int64_t *ranked, int *fields);
/* popularity = "training", on decoded records t (after the merge; rec_id:
 * [t->n] each record's flow id < n_ids, a flow's records sharing its first
 * record's address; from: NULL, or [n_chunks + 1] chunk c's records are
 * from[c]..from[c + 1], and only those in their chunk's window, the ones
 * vf_truncate_windows keeps, are counted): per such field and address
 * family, the training records per address sorted (the address table's
 * counts), scaled to t's counted records with room for at least one
 * record each (or the synthetic flows' share of the training flows, when
 * smaller; the plain scaled curve when the records are too few), are slots; the model's hosts, busiest first, keep slot by slot
 * their address and, largest first, the flows whose half fits the slot's
 * room (what kept flows overfill, the other slots give back in proportion
 * to their room); the other flows, largest first, go to the slot with the
 * most room left; a slot that wants half a record or more and got no flow
 * takes the smallest flow of a slot with two or more; slots past the
 * model's hosts take the busiest training addresses no synthetic host has.
 * Every record of a flow gets its slot's address. */
typedef struct vf_popularity_stats {
    int fields;              /* fields remapped */
    int64_t hosts_before;    /* the model's distinct addresses (summed over fields) */
    int64_t hosts_after;     /* slots with flows */
    int64_t flows_moved;     /* flows whose address changed */
} vf_popularity_stats;
vf_status vf_host_popularity(const vf_encoder *enc, vf_trace *t, const int64_t *rec_id, int64_t n_ids,
                             const size_t *from, vf_popularity_stats *stats);
/* flow_lengths = "training" (enc->flen set), on decoded records t (after
 * the merge; before the label quota, host popularity, fresh 5-tuples and
 * the window truncation): chunk c's records are from[c]..from[c + 1], in
 * vf_decode's order of merged[c]'s rows (row by row, step by step), and
 * rec_id[i] is record i's flow id. In each chunk, the rows with records
 * are grouped by part (carried in or not, going on or not: their flow tags)
 * and ranked by their steps (ties: by the generation flag after the last
 * step, or of the last step at max_len; a carried row first by the length
 * its flow got in its last chunk before). A part's rows take the training
 * flows of that part and chunk, all protocols together, at evenly spaced
 * quantiles of length, moved to add up to the training's records (at
 * least one each); from the longest down, each length goes to the
 * best-ranked row left of its flow's protocol (vf_flen_kind), else to the
 * best-ranked row left (a part the training chunk lacks keeps the model's
 * lengths). A row keeps its first records up to its length; past its steps
 * it repeats its steps 1.. (each after its own gap from the step before),
 * or, with one step, that step after the chunk's generated gaps in turn (or
 * its share of the rest of the window when the chunk has none); a row that
 * would run past the chunk's window moves earlier, whole, to end inside it,
 * or, when it is longer than the window, has all its gaps shrunk in
 * proportion to end inside it. t, *rec_id (reallocated) and from are
 * rewritten; src (may be NULL) gets a malloc'd array [t->n]: the index
 * of the decoded record each record is or copies (vf_quota_record_classes
 * reads the model's offers through it). Does nothing (and *src = NULL)
 * when enc->flen is NULL. */
typedef struct vf_flow_lengths_stats {
    bool applied;
    int64_t rows, shortened, lengthened; /* rows with records; rows given fewer / more */
    int64_t records_before, records_after;
} vf_flow_lengths_stats;
vf_status vf_flow_lengths(const vf_encoder *enc, const vf_encoded *merged, int n_chunks, vf_trace *t, size_t *from,
                          int64_t **rec_id, int64_t **src, vf_flow_lengths_stats *stats);
/* flow_spans = "training" (enc->fspan set), on generated chunk c right
 * after its model made it (before any later chunk's merge reads its flow
 * tags): its rows that start a flow get presence tags so that the number
 * of chunks each is in follows the training flows that begin in c. The
 * rows are ranked by the model's own count of chunks (then by the sum of
 * their later presence margins, then row); the training counts, sorted,
 * are taken at evenly spaced quantiles, the largest to the best-ranked
 * row. A row given s chunks is present in c and in the s - 1 later chunks
 * whose presence margins the model made largest (ties: the earlier),
 * absent elsewhere; its tags become exact 0/1. A chunk where no training
 * flow begins keeps the model's tags. *changed (may be NULL) gets the rows
 * whose count changed, *rows those that start a flow. Does nothing when
 * enc->fspan is NULL. */
vf_status vf_flow_spans(const vf_encoder *enc, vf_encoded *gen_c, int c, int64_t *changed, int64_t *rows);
/* carried_gaps = "training" (enc->xgapq set), on decoded records t after
 * vf_flow_lengths (chunk c's records from[c]..from[c + 1], a row's records
 * together; rec_id[i] record i's flow id): a flow's part in a chunk that
 * follows its part in an earlier chunk is carried. The gaps from each
 * carried part's first record back to its flow's last record before, as
 * the models made them, are ranked (ties: flow id, chunk), and the one of
 * rank r of m becomes the training quantile (r + 1/2) / m. Chunk by chunk,
 * each carried part then moves whole to begin that gap after its flow's
 * (moved) last record before, as far as its chunk's window allows (a part
 * wider than its window begins with it). Does nothing when enc->xgapq is
 * NULL. */
typedef struct vf_carried_gaps_stats {
    bool applied;
    int64_t parts, moved, clamped; /* carried parts; moved; held back by their window */
} vf_carried_gaps_stats;
vf_status vf_carried_gaps(const vf_encoder *enc, vf_trace *t, const size_t *from, const int64_t *rec_id,
                          vf_carried_gaps_stats *stats);
/* The records vf_decode writes for row r of E: one per step up to the
 * first generation flag below 1/2. */
int vf_encoded_steps(const vf_encoded *E, int r);
void vf_encoder_free(vf_encoder *enc);
vf_status vf_encoder_save(const vf_encoder *enc, const char *path);   /* atomic, text */
/* The encoder of a privacy run (docs/PRIVACY.md): everything the public
 * run's encoder file fitted (value ranges, vocabularies, word2vec tables,
 * max_len, each chunk's largest gap) as it is, and only the chunk windows
 * from the private trace t: its first and last timestamps, treated as public
 * as NetShare does. The data description must encode the same fields the
 * same way, in fixed_time chunks of the same count. */
/* The chunk of timestamp ts (ns): the last window edge <= ts, clamped to
 * 0..n_chunks-1. */
int vf_encoder_chunk_of(const vf_encoder *e, int64_t ts);
/* Whether a record of chunk c at ts (ns) is inside that chunk's window
 * [edge[c], edge[c + 1]): the generated records the pipeline keeps
 * (vf_truncate_windows), the only ones the label quota and host popularity
 * count. */
static inline bool vf_in_window(const int64_t *edge, int c, int64_t ts) { return ts >= edge[c] && ts < edge[c + 1]; }
/* A privacy run's contribution bound: every flow (5-tuple) keeps its records
 * in the k chunks from the one of its earliest record on, and loses the
 * rest (removed from t in place, file order kept), so that it is an example
 * of at most k chunk models. *records and *flows (may be NULL) get how many
 * records were removed and from how many flows. */
vf_status vf_trace_bound_chunks(const vf_encoder *e, int k, vf_trace *t, size_t *records, size_t *flows);
vf_status vf_encoder_adopt_public(const char *public_encoder, const vf_data_desc *dd, const vf_trace *t,
                                  vf_encoder *out);
vf_status vf_encoder_load(const char *path, vf_encoder *enc);

/* Word2vec skip-gram with negative sampling over sentences [srcport,
 * dstport, proto] of t's records; deterministic for a seed. Fills port and
 * proto tables. */
vf_status vf_w2v_train(const vf_trace *t, int dim, int window, int negative, int epochs,
                       uint64_t seed, vf_w2v_table *port, vf_w2v_table *proto);
/* The same from the sentences themselves (what vf_w2v_train reads of t). */
typedef struct vf_w2v_sentence {
    uint16_t sport, dport;
    uint8_t proto;
} vf_w2v_sentence;
vf_status vf_w2v_train_sentences(const vf_w2v_sentence *s, size_t n, int dim, int window, int negative,
                                 int epochs, uint64_t seed, vf_w2v_table *port, vf_w2v_table *proto);

/* ------------------------------------------------ streaming (encode_stream.c) */

/* A trace read record by record, as many times as the caller needs: each
 * call delivers every record to sink in file order and fills stats (kind,
 * labels, layout, counts; no records). */
typedef vf_status (*vf_record_sink)(void *ctx, const vf_record *r);
typedef vf_status (*vf_record_reader)(void *src, vf_trace *stats, vf_record_sink sink, void *ctx);
/* Readers: src a vf_data_desc (its file, pcap or CSV, plain or compressed),
 * or a vf_trace in memory. */
vf_status vf_data_desc_each(void *dd, vf_trace *stats, vf_record_sink sink, void *ctx);
vf_status vf_trace_each(void *t, vf_trace *stats, vf_record_sink sink, void *ctx);

typedef struct vf_stream_stats {
    int passes;              /* reads of the input */
    uint64_t records;        /* per read */
    size_t flows;            /* distinct 5-tuples */
    size_t peak_live;        /* most (flow, chunk) series open at once while encoding */
    int peak_chunks;         /* most chunks holding arrays at once while encoding */
    bool sorted;             /* records came in time order */
    bool reordered;          /* ... not quite: put back in order in a window of 65,536 records */
    bool sorted_per_flow;    /* ... far from it: every timestamp kept (8 bytes a record) for a third read */
    uint64_t w2v_records;    /* word2vec trained on this many (all when <= w2v_sample) */
} vf_stream_stats;

/* vf_encoder_fit without a record array: reads the input twice (plus the
 * first read's word2vec reservoir). Same encoder as vf_encoder_fit on the
 * same records, except word2vec when there are more records than
 * dd->w2v_sample (then trained on a uniform sample of them, in file order).
 * fixed_time chunking only. */
vf_status vf_encoder_fit_stream(const vf_data_desc *dd, vf_record_reader rd, void *src, vf_encoder *enc,
                                vf_stream_stats *stats);
/* vf_encode without a record array: reads the input twice (the flow
 * directory, then the records into the chunk arrays). Byte-identical to
 * vf_encode on the same records. stats may be NULL. */
vf_status vf_encode_stream(const vf_encoder *enc, vf_record_reader rd, void *src, vf_encoded **out,
                           vf_stream_stats *stats);
/* Same, each chunk handed to sink as soon as the read is past its last
 * record (every chunk once, empty ones at the end): only the chunks whose
 * time window the read is in hold arrays. The sink owns chunk's arrays
 * (free them with free(), or keep them), also when it fails. */
typedef vf_status (*vf_chunk_sink)(void *ctx, vf_encoded *chunk);
vf_status vf_encode_stream_each(const vf_encoder *enc, vf_record_reader rd, void *src, vf_chunk_sink sink,
                                void *ctx, vf_stream_stats *stats);

/* Text format, one token a line: `VALUE v1 ... vd` for ports and
 * `proto:VALUE v1 ... vd` for protocols (VALUE a number or a name). */
vf_status vf_w2v_load(const char *path, vf_w2v_table *port, vf_w2v_table *proto);
vf_status vf_w2v_save(const char *path, const vf_w2v_table *port, const vf_w2v_table *proto);
/* Nearest vocabulary value by cosine (exact, brute force over the table). */
uint32_t vf_w2v_nearest(const vf_w2v_table *tb, const float *v);
/* Unit vector of value x (the numerically nearest vocabulary value if unseen). */
const float *vf_w2v_vector(const vf_w2v_table *tb, uint32_t x);
void vf_w2v_free(vf_w2v_table *tb);

#ifdef __cplusplus
}
#endif
#endif
