/* Fidelity evaluation: how close a synthetic trace is to a real one, with
 * NetShare's metrics (SIGCOMM'22 paper code, eval/dist_metrics.py at tag
 * camera-ready-deprecated, compute_metrics_{netflow,pcap}_v3), computed so
 * that they agree with scipy to rounding (see docs/EVALUATION.md), plus
 * cross-field checks, a privacy check, two baselines and three writers
 * (terminal table, JSON, self-contained HTML).
 *
 * Conventions (also written into every output):
 *   JSD   scipy.spatial.distance.jensenshannon(p, q) ** 2: the Jensen-Shannon
 *         DIVERGENCE (squared distance), natural log, range [0, ln 2]; the
 *         same value in bits (base 2, range [0, 1]) is given next to it.
 *   EMD   scipy.stats.wasserstein_distance(real, syn) on raw values, in the
 *         field's unit. Normalised EMD = EMD / (p99 - p1) of the REAL values
 *         (numpy.percentile, linear); NAN when p99 == p1.
 * Usage:
 *     vf_eval_result *r = malloc(sizeof *r);            (it is ~200 KB)
 *     vf_eval_compare(&real, &syn, r);
 *     vf_eval_print(stdout, r); vf_eval_write_json("x.json", r);
 *     vf_eval_write_html("x.html", r);
 * The result owns no heap memory: free it like any struct. */
#ifndef VKFLOW_EVAL_H
#define VKFLOW_EVAL_H

#include "vkflow.h"
#include "trace/trace.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------- scipy-exact primitives */

/* Sum of a[0..n) in numpy's order (np.sum on a contiguous float64 array:
 * pairwise summation in blocks of 8192), so results match numpy bit for bit
 * where the inputs do. */
double vf_np_sum(const double *a, size_t n);

/* scipy jensenshannon(p, q)**2 / its base-2 form for two count vectors of
 * equal length n (counts are normalised inside, as scipy does). Returns NAN
 * when a side sums to 0. */
typedef struct vf_jsd_value {
    double nats;   /* natural log, [0, ln 2] */
    double bits;   /* base 2, [0, 1] = nats / ln 2 */
} vf_jsd_value;
vf_jsd_value vf_jsd_counts(const double *p, const double *q, size_t n);

/* scipy.stats.wasserstein_distance(u, v) for SORTED ascending u[nu], v[nv]
 * (no weights). NAN when either is empty. O(nu + nv). */
double vf_emd_sorted(const double *u, size_t nu, const double *v, size_t nv);

/* numpy.percentile(a, q) (method 'linear') of SORTED a[n], q in [0, 100]. */
double vf_percentile_sorted(const double *a, size_t n, double q);

/* Sorts a[n] ascending (LSD radix sort on the IEEE bits; NaN not allowed). */
vf_status vf_sort_f64(double *a, size_t n);

/* -------------------------------------------------------------- metrics */

#define VF_EVAL_TOPK 10
#define VF_EVAL_CDF_POINTS 256

/* JSD fields. srcip/dstip compare popularity-RANK distributions (per-address
 * record counts sorted in decreasing order, the shorter zero-padded);
 * ports compare exact values 0..65535, proto values 0..255; type compares
 * flow labels by their text (flows only). */
typedef enum vf_eval_jsd_field {
    VF_JSD_SRCIP = 0, VF_JSD_DSTIP, VF_JSD_SRCPORT, VF_JSD_DSTPORT, VF_JSD_PROTO,
    VF_JSD_TYPE, VF_JSD_COUNT
} vf_eval_jsd_field;

/* EMD fields. Flows: ts (start time relative to the trace's earliest
 * record, us), td (duration, s), pkt, byt, records_per_5tuple. Packets:
 * pkt_len (IP total length, bytes), time (relative to the first packet, us),
 * flow_size (packets per 5-tuple), iat_within_flow (gaps between
 * consecutive packets of one 5-tuple, us). */
typedef enum vf_eval_emd_field {
    VF_EMD_TS = 0, VF_EMD_TD, VF_EMD_PKT, VF_EMD_BYT, VF_EMD_RECORDS_PER_5TUPLE,
    VF_EMD_PKT_LEN, VF_EMD_TIME, VF_EMD_FLOW_SIZE, VF_EMD_IAT_WITHIN_FLOW,
    VF_EMD_COUNT
} vf_eval_emd_field;

const char *vf_eval_jsd_name(vf_eval_jsd_field f);   /* "srcip", ... */
const char *vf_eval_emd_name(vf_eval_emd_field f);   /* "ts", ... */
const char *vf_eval_emd_unit(vf_eval_emd_field f);   /* "us", "s", ... */

typedef struct vf_eval_jsd {
    bool valid;          /* false: not defined for this kind, or no labels */
    vf_jsd_value v;
    size_t support_real, support_syn; /* distinct values (ranks: addresses) */
} vf_eval_jsd;

/* A CDF curve for plots: x[i] ascending, F[i] = fraction of values <= x[i];
 * at most VF_EVAL_CDF_POINTS points picked at evenly spaced ranks. */
typedef struct vf_eval_cdf {
    int n;
    double x[VF_EVAL_CDF_POINTS], F[VF_EVAL_CDF_POINTS];
} vf_eval_cdf;

typedef struct vf_eval_emd {
    bool valid;          /* false: not this kind, or a side has no values */
    double emd;          /* field unit */
    double p1, p99;      /* of the real values */
    double norm;         /* emd / (p99 - p1); NAN when p99 == p1 */
    size_t n_real, n_syn;/* values compared */
    double median_real, median_syn;
    bool heavy_tailed;   /* plots use log x: real positive values have
                            p99 > 20 x median or max > 1000 x median */
    vf_eval_cdf cdf_real, cdf_syn;
} vf_eval_emd;

typedef struct vf_eval_topval {
    uint32_t value;      /* port or protocol number */
    uint64_t count;      /* records */
    double share;        /* of all records of that trace */
} vf_eval_topval;

/* A port's share of records on both sides (for side-by-side charts). */
typedef struct vf_eval_port_cmp {
    uint16_t port;
    double real, syn;
} vf_eval_port_cmp;

typedef struct vf_eval_proto_share {
    uint8_t proto;
    double real, syn;    /* share of records */
} vf_eval_proto_share;

typedef struct vf_eval_side {
    size_t records;
    size_t five_tuples;          /* distinct directional 5-tuples */
    size_t src_addrs, dst_addrs; /* distinct addresses */
    int n_top_sport, n_top_dport;
    vf_eval_topval top_sport[VF_EVAL_TOPK], top_dport[VF_EVAL_TOPK];
    /* Pearson correlation of log1p(packets) and log1p(bytes): per flow record
     * for flow traces, per 5-tuple (packet count, summed IP length) for
     * packet traces. NAN when a side is constant. */
    double corr_log_pkt_byt;
    /* Distinct counts for the report's table (src_addrs, dst_addrs and
     * five_tuples above are the others): distinct source / destination
     * ports, and records per directional 5-tuple (mean, median, max). */
    size_t src_ports, dst_ports;
    double recs_per_5tuple_mean, recs_per_5tuple_median;
    uint64_t recs_per_5tuple_max;
} vf_eval_side;

/* Distance to closest record (DCR, engine/eval/dcr.c, docs/EVALUATION.md):
 * for a seeded sample of synthetic records, the distance to the nearest
 * TRAINING record, against the same distance for a sample of held-out real
 * records (records of 5-tuples the model never saw). The record distance is
 * the mean of per-field terms in [0, 1]: source and destination address
 * (differing bits / 32 for IPv4, / 128 for IPv6, 1 across families),
 * source port, destination port, protocol (0 equal, 1 not), and
 * |x - y| / (training range of x), capped at 1, for the time since the
 * training trace's start and log1p of the size fields (flows: duration,
 * packets, bytes; packets: IP length). The search is exact (buckets by
 * ports and protocol, then a pruned full scan). */
typedef struct vf_eval_dcr {
    bool valid;                  /* computed */
    bool have_holdout;           /* held-out records were given */
    size_t n_train;              /* training records searched (all) */
    size_t n_syn, n_hold;        /* records sampled (at most max_samples each) */
    double syn_median, syn_p5;   /* DCR of the synthetic sample */
    double hold_median, hold_p5; /* DCR of the held-out sample (NAN without) */
    /* Share of the synthetic sample with DCR < hold_p5 (5% expected of
     * records like unseen real ones; NAN without held-out records). */
    double share_below_hold_p5;
    size_t syn_zero;             /* synthetic records at distance 0 (copies) */
    bool closer;                 /* share_below_hold_p5 > VF_DCR_CLOSER_SHARE */
    double seconds;
} vf_eval_dcr;
#define VF_DCR_CLOSER_SHARE 0.10  /* twice the 5% expected */
#define VF_DCR_SAMPLES 1000       /* default sample per side */

/* A differentially private run's budget (docs/PRIVACY.md): epsilon spent
 * at delta per unit, the target (0: sigma was given), how. on false: the
 * run was not private. */
typedef struct vf_eval_dp {
    bool on;
    double epsilon, target, delta, sigma, clip;
    char unit[8];
} vf_eval_dp;

typedef struct vf_eval_privacy {
    /* Distinct synthetic 5-tuples / (src IP, dst IP) pairs, and how many of
     * them occur verbatim in the real trace. */
    size_t syn_5tuples, syn_5tuples_in_real;
    size_t syn_pairs, syn_pairs_in_real;
    /* The same, weighted by synthetic records. */
    size_t syn_records, syn_records_5tuple_in_real, syn_records_pair_in_real;
    vf_eval_dp dp;               /* the pipeline fills it for a private run */
    vf_eval_dcr dcr;             /* valid only after vf_eval_dcr_compute */
} vf_eval_privacy;

/* The metric rows of a report, as vkflow compare and the verdict table list
 * them: key "srcip.jsd", "td.emd", "td.emd_norm", ... (the names of
 * vkflow compare --reference). */
typedef enum vf_eval_measure {
    VF_M_JSD, VF_M_EMD, VF_M_EMD_NORM, VF_M_CORR, VF_M_PRIV_5TUPLE, VF_M_PRIV_PAIR
} vf_eval_measure;
typedef struct vf_eval_row {
    char key[48];       /* "srcip.jsd", ... */
    char unit[32];      /* "JSD nats", "EMD s", "EMD norm", ... */
    const char *group;  /* the seed paper's table, or "extra" */
    vf_eval_measure m;
    int field;          /* vf_eval_jsd_field or vf_eval_emd_field; -1 for the extras */
} vf_eval_row;
#define VF_EVAL_MAX_ROWS (VF_JSD_COUNT + 2 * VF_EMD_COUNT + 3)

/* Verdict of one metric row against its scale. */
typedef enum vf_verdict {
    VF_VERDICT_NA = 0,                /* no value, or no scale to judge it by */
    VF_VERDICT_NEAR_FLOOR,            /* value <= 2 x floor */
    VF_VERDICT_BETTER_THAN_MARGINALS, /* above that, value < marginals */
    VF_VERDICT_WORSE_THAN_MARGINALS   /* above that, value >= marginals */
} vf_verdict;

/* The scale of every metric (vf_eval_add_scale): the real-vs-real floor
 * and the marginals baseline, per row. */
typedef struct vf_eval_scale {
    bool valid;                  /* computed */
    uint64_t seed;               /* of the split and the marginals */
    size_t split_a, split_b;     /* records of the floor's halves */
    int n_rows;
    vf_eval_row rows[VF_EVAL_MAX_ROWS];
    double floor[VF_EVAL_MAX_ROWS], marginals[VF_EVAL_MAX_ROWS];
    double seconds;
} vf_eval_scale;

/* How the synthetic trace was scored (the writers say it plainly). */
typedef enum vf_eval_scoring {
    VF_SCORED_UNKNOWN = 0,  /* vkflow eval: the evaluator does not know what the model trained on */
    VF_SCORED_IN_SAMPLE,    /* against the trace the model trained on */
    VF_SCORED_HELD_OUT      /* against held-out 5-tuples the model never saw */
} vf_eval_scoring;

typedef struct vf_eval_result {
    vf_trace_kind kind;
    /* Names shown by the writers; vf_eval_compare leaves them "" and the
     * caller may fill them (e.g. the file paths). */
    char real_name[256], syn_name[256];
    vf_eval_side real, syn;
    vf_eval_jsd jsd[VF_JSD_COUNT];
    vf_eval_emd emd[VF_EMD_COUNT];
    /* Union of the real top-10 and the synthetic top-10 ports, real's first
     * (in real order), then synthetic's others. [0] source, [1] destination. */
    int n_port_cmp[2];
    vf_eval_port_cmp port_cmp[2][2 * VF_EVAL_TOPK];
    int n_proto;                  /* protocols present on either side */
    vf_eval_proto_share proto[256];/* descending by real share, then syn */
    vf_eval_privacy privacy;
    double seconds;               /* wall time of vf_eval_compare */
    /* Filled by the caller after vf_eval_compare (which zeroes them). */
    vf_eval_scoring scoring;
    double holdout;               /* VF_SCORED_HELD_OUT: the fraction of 5-tuples held out */
    vf_eval_scale scale;          /* vf_eval_add_scale */
} vf_eval_result;

/* Compares syn against real (same kind). Both traces are read-only. Errors:
 * VF_ERR_ARG for different kinds or an empty trace, VF_ERR_OOM. */
vf_status vf_eval_compare(const vf_trace *real, const vf_trace *syn, vf_eval_result *out);

/* The seed paper's two tables: "single attribute distributional similarity"
 * (JSD: srcip dstip srcport dstport proto) and "single feature distributional
 * similarity" (flows: td pkt byt type ts; packets: pkt_len time flow_size
 * iat_within_flow), then the extras (records per 5-tuple, top ports,
 * protocol mix, pkt/byt correlation, privacy). */
vf_status vf_eval_print(FILE *f, const vf_eval_result *r);
/* Same numbers as JSON (%.17g; NAN and invalid metrics as null). Atomic. */
vf_status vf_eval_write_json(const char *path, const vf_eval_result *r);
/* Self-contained HTML report: tables plus CDF plots and bar charts drawn by
 * gnuplot (SVG, embedded as data: URIs). gnuplot is found as $VKFLOW_GNUPLOT
 * or "gnuplot" on PATH; when it is missing or fails, the report is written
 * with the tables and a visible note instead of the plots. Atomic. */
vf_status vf_eval_write_html(const char *path, const vf_eval_result *r);

/* One page comparing several synthetic traces with the same real trace
 * (vkflow compare): title, body_html (the caller's tables, written as
 * given: escape it yourself) and, for every EMD field of the kind, one CDF
 * figure overlaying the real values (those of the first non-NULL result)
 * with each result's synthetic values, labelled names[i]. A NULL result (a
 * model that failed) draws no curve. At most VF_EVAL_OVERLAY_MAX results.
 * Plots and their fallback as vf_eval_write_html. Atomic. */
#define VF_EVAL_OVERLAY_MAX 32
vf_status vf_eval_write_html_overlay(const char *path, const char *title, const char *body_html,
                                     const vf_eval_result *const *results, const char *const *names, int n);

/* ------------------------------------------------- rows, scale, verdicts */

/* Every metric row vkflow eval reports for this kind, in its tables'
 * order, into rows[VF_EVAL_MAX_ROWS]; returns how many. */
int vf_eval_rows(vf_trace_kind kind, vf_eval_row *rows);
/* The row's value in r (NAN when r is NULL or the metric does not apply). */
double vf_eval_row_value(const vf_eval_row *x, const vf_eval_result *r);
/* Whether the row gets a verdict (the privacy shares do not: for them
 * lower is not "more realistic"). */
bool vf_eval_row_judged(const vf_eval_row *x);
/* value / floor, NAN when either is not finite or floor <= 0. */
double vf_eval_ratio(double value, double floor);

/* The verdict rule (lower is better for every judged metric): value <= 2 x
 * floor is "near the floor"; otherwise "better than marginals" when value
 * < marginals, "worse than marginals" when value >= marginals; NA when the
 * value is not finite, or it is not near the floor and marginals is not
 * finite. */
vf_verdict vf_eval_verdict(double value, double floor, double marginals);
const char *vf_verdict_text(vf_verdict v);  /* "near the floor", ..., "n/a" */
/* The verdict of row k of r->scale (r's value against that row's floor and marginals). */
vf_verdict vf_eval_row_verdict(const vf_eval_result *r, int k);
/* counts[v] = judged rows of r->scale with verdict v (4 entries); returns the judged rows. */
int vf_eval_count_verdicts(const vf_eval_result *r, int counts[4]);

/* Fills r->scale for a result r scored against `held` (when not NULL) or
 * else against `train`: the floor is eval(A, B) of the 5-tuple split (seed)
 * of the whole real trace, train plus held (each part split on its own,
 * which gives the same halves as splitting their union: a 5-tuple's side
 * depends only on its hash); the marginals baseline is drawn from train's
 * marginals (seed) and scored against the same trace as r. */
vf_status vf_eval_add_scale(const vf_trace *train, const vf_trace *held, uint64_t seed, vf_eval_result *r);

/* The distance to closest record (see vf_eval_dcr): max_samples records of
 * syn (and of held, when not NULL) chosen by Philox keyed by seed, each
 * searched against every record of train. Errors: VF_ERR_ARG for an empty
 * train or syn or a kind mismatch, VF_ERR_OOM. */
vf_status vf_eval_dcr_compute(const vf_trace *train, const vf_trace *syn, const vf_trace *held,
                              size_t max_samples, uint64_t seed, vf_eval_dcr *out);
/* The distance between two records of the same kind (the definition
 * above), with the ranges of train (for tests; the search precomputes it). */
double vf_eval_record_distance(const vf_trace *train, const vf_record *a, const vf_record *b);

/* ------------------------------------------------------------- baselines */

/* Split by flows: each distinct 5-tuple goes, with all its records, to a or
 * b with probability 1/2, decided by Philox4x32-10 keyed by seed on a hash
 * of the 5-tuple (so the choice does not depend on record order). Records
 * keep file order. a and b get real's kind, labels, linktype and layout.
 * eval(a, b) is the noise floor. */
vf_status vf_baseline_split(const vf_trace *real, uint64_t seed, vf_trace *a, vf_trace *b);
/* The same coin with P(b) = fraction_b in [0, 1] (a 5-tuple goes to b when
 * the coin's 32-bit word >= (1 - fraction_b) x 2^32); fraction 0.5 is
 * vf_baseline_split. vkflow run --holdout F: a = training part, b = held out. */
vf_status vf_baseline_split_fraction(const vf_trace *real, uint64_t seed, double fraction_b, vf_trace *a,
                                     vf_trace *b);

/* Independent marginals: real->n records, every field drawn with replacement
 * from its own real marginal (draw i, field f uses Philox block i, stream f),
 * then sorted by time. Kept together: frag flags+offset; packets keep
 * pkts = 1, bytes = length; the destination is drawn among addresses of the
 * source's family. Keeps single-field distributions, destroys every
 * correlation between fields. */
vf_status vf_baseline_marginals(const vf_trace *real, uint64_t seed, vf_trace *out);

/* Differentially private marginals (docs/PRIVACY.md, "The DP marginals
 * baseline"): each field's histogram over a FIXED PUBLIC domain (nothing
 * fitted on the data), every count released with Gaussian noise, then every
 * field sampled independently from its noisy histogram (uniform within a
 * bin), as many records as the noisy record count, sorted by time.
 * Domains (the same for every input; vf_baseline_marginals_dp_domain):
 *   count     the number of records: 1 count
 *   ts        256 equal bins over the public time window
 *   src, dst  IPv4 top-down by octets: /8 (256 bins + 1 bin for all IPv6),
 *             then /16 inside each /8 whose noisy count survived, /24, /32
 *             (4 releases each); IPv6 addresses are drawn in 2001:db8::/32
 *   sport, dport  high byte (256 bins), then low byte inside each surviving
 *             high byte (2 releases each)
 *   proto     256 bins
 *   dur (flows, ns), pkts, bytes (flows), length (packets): log-linear bins,
 *             exact below 32, then 16 bins per power of two up to 2^49
 *             (larger values fall in the last bin)
 *   label     (flows, when a public vocabulary is given) one bin per name
 *             plus one for records without a listed label
 * Not released, set to constants: ttl 64, tos, TCP flags, fragment fields and
 * IP id 0; packets keep pkts 1, bytes = length.
 * Privacy: a unit (a record, or a flow = every record of one 5-tuple, of
 * which only the first max_records_per_unit in file order are used) adds at
 * most M = max_records_per_unit (1 for records) to each released histogram,
 * so each has L2 sensitivity M and gets noise N(0, (M sigma)^2) per count:
 * `releases` Gaussian mechanisms of noise multiplier sigma, composed; the
 * caller calibrates sigma with the accountant
 * (vf_rdp_calibrate_gaussian(releases, delta, epsilon), train/privacy.h).
 * Noisy counts below threshold * M * sigma are set to 0 (which also clips
 * negatives; 0 means clip at 0 only); a finer level is released only inside
 * coarser bins that survived, which is post-processing of released counts. */
typedef struct vf_dp_marginals_opts {
    double sigma;                /* noise multiplier per release (> 0) */
    int max_records_per_unit;    /* 0: the unit is a record; M >= 1: a flow, its first M records */
    double threshold;            /* in noise stds; 3 recommended */
    int64_t t_start_ns, t_end_ns;/* public time window; t_end_ns <= t_start_ns: the trace's own
                                    first and last timestamps, assumed public (documented) */
    const char *const *labels;   /* public label vocabulary (flows); NULL or n_labels 0: no label */
    int n_labels;
} vf_dp_marginals_opts;

typedef struct vf_dp_marginals_info {
    int releases;                /* Gaussian mechanisms composed (for the accountant) */
    double noise_std;            /* per count: M * sigma */
    size_t records_used;         /* after the per-unit bound */
    double noisy_count;          /* released record count (before rounding, clipping) */
    int64_t t_start_ns, t_end_ns;/* the time window used */
} vf_dp_marginals_info;

/* Releases composed for a trace of this kind (flows: 18, or 19 with a
 * label vocabulary; packets: 16). */
int vf_baseline_marginals_dp_releases(vf_trace_kind kind, int n_labels);
/* The bin of a value in the log-linear domain of dur/pkts/bytes/length, and
 * the value range [lo, hi] of a bin (for tests and docs). */
int vf_dp_loglin_bin(uint64_t v);
void vf_dp_loglin_range(int bin, uint64_t *lo, uint64_t *hi);
#define VF_DP_LOGLIN_BINS (32 + 44 * 16)
vf_status vf_baseline_marginals_dp(const vf_trace *real, const vf_dp_marginals_opts *opt, uint64_t seed,
                                   vf_trace *out, vf_dp_marginals_info *info);

#ifdef __cplusplus
}
#endif
#endif /* VKFLOW_EVAL_H */
