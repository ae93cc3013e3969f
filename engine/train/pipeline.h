/* The end-to-end job (NetShare's pipeline): a run configuration binds a data
 * description, a model file and run settings; the pipeline ingests the trace,
 * fits and saves the encoder, encodes time chunks, trains chunk 0 from
 * scratch and chunks 1..N-1 warm-started from chunk 0's final checkpoint,
 * generates per chunk, merges flows across chunks by their flow tags,
 * decodes, truncates each chunk's records to its time window, sorts by time,
 * writes the input's format and evaluates against the real trace.
 *
 * Everything lives in a run directory (docs/RUNNING.md):
 *   config.cfg      copy of the run configuration
 *   run.state       absolute paths of config, data and model; real flows per chunk
 *   encoder.txt     the fitted encoder (vf_encoder_save)
 *   chunk_NN.ckpt   per-chunk checkpoints (vf_trainer_save), chunk_NN.done when finished
 *   synthetic.pcap | synthetic.csv, report.html, metrics.json, run.log
 * No global state: the chunk loop only shares the run directory, so chunks
 * could be handed to several devices later. */
#ifndef VKFLOW_TRAIN_PIPELINE_H
#define VKFLOW_TRAIN_PIPELINE_H

#include "vkflow.h"
#include "trace/encode.h"
#include "train/trainer.h"

#define VF_RUN_MAX_SETTINGS 64

/* A run configuration's `privacy` group (docs/PRIVACY.md): DP-SGD on the
 * model's private programs, with the noise calibrated to epsilon (or given
 * as sigma), the encoder of a run on a public trace, and optionally its
 * weights as the starting point (NetShare's public pre-training). */
typedef struct vf_run_privacy {
    bool enabled;
    double epsilon;             /* target; 0 when sigma is given instead */
    double delta;               /* default 1e-5 */
    double sigma;               /* noise multiplier; 0 = calibrate to epsilon */
    double clip;                /* per-example gradient norm bound C, default 1 */
    double expected_batch;      /* L; 0 = from dims.batch (trainer.h) */
    char unit[8];               /* "flow" */
    char public_run[4096];      /* run directory trained on a public trace (resolved) */
    bool pretrained;            /* start from its weights (default true) */
    int chunks_per_flow;        /* a flow's records in at most this many chunks (default 2) */
} vf_run_privacy;

typedef struct vf_run_config {
    char path[4096];            /* the configuration file (as named) */
    vf_data_desc data;          /* its `data` group (engine/trace) */
    char model[4096];           /* model file, resolved against the config's folder */
    int64_t iterations;         /* generator steps for chunk 0 */
    double warm_fraction;       /* chunks 1..N-1 train ceil(iterations * warm_fraction) */
    int64_t checkpoint_every;   /* iterations between checkpoints */
    uint64_t seed;
    char backend[8];            /* "auto", "cpu" or "vk" */
    int64_t count;              /* flows to generate in all; 0 = as many as the real chunks */
    char output[8];             /* "auto" (the input's format), "pcap" or "csv" */
    bool as_flows;              /* aggregate a packet capture into flow records first */
    int64_t flow_timeout_ns;    /* inactive timeout of that aggregation (0 = none) */
    bool evaluate;              /* vkflow run: compare against the real trace */
    double holdout;             /* fraction of 5-tuples held out of training and scored against (0: none) */
    bool baselines;             /* the report's floor, marginals, verdicts and distance to closest record */
    bool fresh_5tuples;         /* generation: flows that decode to an earlier flow's 5-tuple get a free
                                 * client port (vf_fresh_5tuples; default on) */
    bool iterations_set, seed_set; /* given by the run (else the model's training.steps / seed) */
    vf_run_privacy privacy;     /* the `privacy` group; enabled when present */
    /* Model setting overrides, in precedence order (later wins): the run
     * configuration's model groups (dims, optimizer, training, ema,
     * programs), then --set arguments. */
    int n_settings;
    vf_setting settings[VF_RUN_MAX_SETTINGS];
    char setting_text[VF_RUN_MAX_SETTINGS][3][256];   /* storage: key, value, origin */
    int n_cli;                   /* how many of them came from --set (the last ones) */
    int n_sets;                  /* every --set as given (run.* too), for the run directory */
    char sets[VF_RUN_MAX_SETTINGS][256];
} vf_run_config;

/* Parses a run configuration (libconfig): `data = {...}` (docs/TRACES.md),
 * `model = "file"`, `run = {...}` and optional model setting groups (dims,
 * optimizer, training, ema, programs) that override the model file's;
 * errors as file:line. sets: "key=value" overrides from the command line
 * (--set), applied last: run.KEY changes the run group, any other key is a
 * model setting (engine/model.h vf_setting); an unknown key fails naming the --set. */
vf_status vf_run_config_load(const char *path, vf_run_config *rc);
vf_status vf_run_config_load_with(const char *path, const char *const *sets, int n_sets, vf_run_config *rc);
/* Same from text; name is used in messages and as the base of relative paths. */
vf_status vf_run_config_parse_string(const char *name, const char *text, vf_run_config *rc);
vf_status vf_run_config_parse_with(const char *name, const char *text, const char *const *sets, int n_sets,
                                   vf_run_config *rc);
/* Loads the model with the run's settings (small placeholder dimensions: no
 * data is read) to check them and its driver's settings before any work,
 * and fills what the run leaves to the model: iterations from
 * training.steps and the seed from training.seed when the run gives none.
 * The precedence, lowest first: model file, run configuration, --set. */
vf_status vf_run_config_resolve(vf_run_config *rc);
/* The effective model description (overrides applied) into path. */
vf_status vf_run_config_write_model(const vf_run_config *rc, const char *path);
/* Iterations chunk c trains (chunk 0: iterations; others the warm-start share, at least 1). */
int64_t vf_run_chunk_iterations(const vf_run_config *rc, int chunk);

typedef enum vf_phase {
    VF_PHASE_INGEST = 0, VF_PHASE_ENCODE, VF_PHASE_TRAIN, VF_PHASE_GENERATE, VF_PHASE_WRITE, VF_PHASE_EVAL,
    VF_PHASE_DONE
} vf_phase;
const char *vf_phase_name(vf_phase p);

/* What the pipeline reports: a message (message != NULL) or a training
 * progress tick. */
typedef struct vf_pipeline_event {
    vf_phase phase;
    int chunk, n_chunks;
    int64_t iter, total;
    const vf_metrics *metrics;  /* the driver's last metrics (d_loss, g_loss, gp, ... for wgan_gp) */
    double it_per_s, eta_s;
    const char *message;
} vf_pipeline_event;
typedef void (*vf_pipeline_event_fn)(const vf_pipeline_event *e, void *user);

typedef struct vf_pipeline_opts {
    const char *run_dir;
    bool resume;                /* continue from the run directory's checkpoints */
    volatile int *stop;         /* set by a SIGINT handler: checkpoint and return */
    vf_pipeline_event_fn on_event;
    void *user;
    int progress_every;         /* iterations between progress events (default 10) */
    double log_every_s;         /* seconds between progress lines in run.log (default 10) */
} vf_pipeline_opts;

/* Ingest, encode and train every chunk into o->run_dir. *stopped is set when
 * o->stop interrupted it (checkpoints written; rerun with resume). */
vf_status vf_pipeline_train(const vf_run_config *rc, const vf_pipeline_opts *o, bool *stopped);
/* One chunk's training, the per-chunk entry point (what vf_pipeline_train
 * runs for each chunk, and what a multi-process driver can run for chunks
 * 1..N-1 once chunk 0 is done): chunk 0 from scratch, a later chunk warm-
 * started from chunk 0's checkpoint in run_dir, or resumed from its own;
 * writes chunk_NN.ckpt and chunk_NN.done, appends to run.log. rc must be
 * resolved (vf_run_config_resolve); enc is the run's encoder, chunk its
 * encoded chunk `index`. */
typedef struct vf_chunk_task {
    const vf_run_config *rc;
    const char *run_dir;
    const vf_encoder *enc;
    const vf_encoded *chunk;
    int index;
    int64_t later_iterations;   /* iterations of the chunks after this one (for the ETA only) */
    vf_backend *be;
    const vf_pipeline_opts *o;
    const struct vf_dp_budget *dp;  /* privacy runs (pipeline_privacy.h); NULL otherwise */
} vf_chunk_task;
vf_status vf_pipeline_train_chunk(const vf_chunk_task *t, bool *stopped);
/* Generates from a trained run directory: count flows (0 = as the real
 * chunks), merged, decoded, truncated, sorted, written to out_path
 * (atomically; the format is the run's output setting). */
vf_status vf_pipeline_generate(const char *run_dir, int64_t count, const char *out_path,
                               const vf_pipeline_opts *o, bool *stopped);
/* train + generate into run_dir/synthetic.* + (rc->evaluate) report.html and
 * metrics.json. report_path (>= 4096 bytes, may be NULL) gets the report's path. */
vf_status vf_pipeline_run(const vf_run_config *rc, const vf_pipeline_opts *o, bool *stopped,
                          char *report_path);

/* ---- steps, public for tests ---- */

/* NetShare's attribute merge by flow tags. gen[c] are the generated chunks
 * (gen[c].chunk == c). Chunk c keeps its rows whose start flag and presence
 * bit c are set; each kept row is copied, start flag cleared, into every later
 * chunk j whose presence bit it has set, after j's kept rows. A copied row
 * keeps the attributes and flow tags of the flow it continues except the flow
 * start (a time within chunk j's window, not the earlier chunk's), which comes
 * from a row chunk j's model generated as a continuing flow (start flag
 * clear), or, when it generated too few, from its rows in order, cyclically.
 * Its features and generation flags are cond[j]'s, features chunk j's model
 * generated for exactly those attributes (vf_merge_carried, then
 * vf_flowmodel_generate_features), as NetShare does; where cond is NULL or cond[j]
 * is empty (a model that cannot condition on given attributes), they are
 * that same row's. Flows carried into a chunk that generated nothing are
 * dropped. *out: n_chunks new chunks. flow_id (may be NULL) gets one
 * malloc'd id per merged row, chunk 0's rows first: the index, over every
 * generated row (gen[0]'s first), of the row the flow started in, so a flow
 * and its copies in later chunks have the same id. */
vf_status vf_merge_flow_tags(const vf_encoder *enc, const vf_encoded *gen, const vf_encoded *cond, int n_chunks,
                             vf_encoded **out, int64_t **flow_id);
/* The attribute rows vf_merge_flow_tags carries into chunk j, in its order
 * (malloc'd [*n, attr_dim]): needs gen[0..j] only, so a chunk's model can
 * generate their features right after its own flows. */
vf_status vf_merge_carried(const vf_encoder *enc, const vf_encoded *gen, int j, float **attr, int *n);
/* NetShare's per-chunk truncation: t->recs[from[c]..from[c + 1]) are chunk
 * c's records, and those outside its window [edge[c], edge[c + 1]) go
 * (records from from[n_chunks] on are kept); the order of the rest is kept.
 * Returns how many were removed. */
size_t vf_truncate_windows(vf_trace *t, const size_t *from, const int64_t *edge, int n_chunks);
/* rec_id[0..n_records) gets the flow id (ids: vf_merge_flow_tags's of E's
 * rows) of each record vf_decode made of merged chunk E, in its order: one
 * record per step up to a row's first clear generation flag. Fails when
 * n_records is not that count. */
vf_status vf_record_flow_ids(const vf_encoded *E, const int64_t *ids, size_t n_records, int64_t *rec_id);
/* Fresh 5-tuples (docs/TRACES.md, "5-tuples"). Each flow a chunk's model
 * started is, in the training data, a 5-tuple no earlier row had: one row per
 * 5-tuple and chunk, the start flag only in its first. Two generated flows
 * that decode to the same 5-tuple are therefore an artefact of decoding
 * (ports snapped to a vocabulary, addresses to a dictionary), and left alone
 * they become one flow with both flows' records. Here, in record order (a
 * flow's first record decides), a flow whose 5-tuple an earlier flow has
 * takes its client port, the one fewer generated flows use (the larger on a
 * tie), up to the next value >= 1024 that makes its 5-tuple unused, as a
 * sequential ephemeral-port allocator would; its later records (the same
 * rec_id: copies carried into later chunks) follow. Flows without ports
 * (ICMP, ...) or whose client port is below 1024 keep their 5-tuple.
 * rec_id: [t->n] flow ids < n_ids. */
typedef struct vf_fresh_stats {
    int64_t flows;       /* distinct flows (ids) */
    int64_t moved;       /* given a new client port */
    int64_t shared;      /* sharing a 5-tuple with an earlier flow, no port to move */
} vf_fresh_stats;
vf_status vf_fresh_5tuples(vf_trace *t, const int64_t *rec_id, int64_t n_ids, vf_fresh_stats *stats);
/* Stable sort of t's records by time. */
vf_status vf_trace_sort_time(vf_trace *t);

#endif
