/* The run directory (docs/RUNNING.md): paths, run.state, run.log and the
 * pipeline's messages. One owner of the files a run keeps; the pipeline and
 * a later multi-process driver both go through it.
 *
 *   config.cfg      copy of the run configuration
 *   overrides.txt   the --set settings the run was started with, one per line
 *   model.cfg       the effective model description (overrides applied)
 *   run.state       absolute paths of config, data and model; real flows per chunk
 *   encoder.txt     the fitted encoder (vf_encoder_save)
 *   chunk_NN.ckpt   per-chunk checkpoints (vf_trainer_save), chunk_NN.done when finished
 *   holdout.txt     run.holdout > 0: the fraction, seed and sizes of the held-out split
 *   synthetic.pcap | synthetic.csv, report.html, metrics.json, run.log */
#ifndef VKFLOW_TRAIN_RUNDIR_H
#define VKFLOW_TRAIN_RUNDIR_H

#include "train/pipeline.h"
#include "eval/eval.h"

#include <stdio.h>

/* dir/name and dir/chunk_NN.ext into out[cap]. */
void vf_run_path(char *out, size_t cap, const char *dir, const char *name);
void vf_run_chunk_path(char *out, size_t cap, const char *dir, int c, const char *ext);
bool vf_run_exists(const char *path);
/* mkdir -p; an existing file that is not a folder is an error. */
vf_status vf_run_make_dirs(const char *path);
/* Writes text atomically. */
vf_status vf_run_write_text(const char *path, const char *text, size_t n);
/* realpath, or p itself when it does not resolve. */
void vf_abs_path(const char *p, char *out, size_t cap);
/* Copies src into dst[cap], cut to fit. */
void vf_copy_str(char *dst, size_t cap, const char *src);

/* run.log (appended, one stamped line per message) and the caller's events. */
typedef struct vf_run_log {
    const vf_pipeline_opts *o;
    FILE *f;                 /* run.log, appended */
    double t0, last_line;
    double last_forward;     /* rank > 0: when it last forwarded a progress tick */
} vf_run_log;
void vf_run_log_open(vf_run_log *L, const vf_pipeline_opts *o, const char *dir);
void vf_run_log_close(vf_run_log *L);
/* "2026-12-02T04:14:04Z " */
void vf_run_stamp(FILE *f);
/* A message: a line in run.log and an event for o->on_event. */
void vf_run_say(vf_run_log *L, vf_phase ph, int chunk, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Removes the temporary files an interrupted write left in dir (a process
 * killed between vf_atomic_open and its rename leaves NAME.tmpXXXXXX next to
 * NAME; NAME itself is untouched): only those of the run directory's own
 * files (config.cfg, run.state, encoder.txt, chunk_NN.ckpt, synthetic.*,
 * report.html, ...), never anything else. Returns how many. */
int vf_run_remove_temps(const char *dir);

/* run.state: what `vkflow generate RUN_DIR` needs to find everything. */
typedef struct vf_run_state {
    char config[4096], data[4096], model[4096];
    char output[8];          /* pcap | csv */
    int n_chunks;
    int64_t *real_flows;     /* [n_chunks] */
} vf_run_state;
void vf_run_state_free(vf_run_state *s);
vf_status vf_run_state_save(const char *dir, const vf_run_state *s);
vf_status vf_run_state_load(const char *dir, vf_run_state *s);

/* run.holdout > 0 (engine/train/run_score.c): splits *real by 5-tuple
 * (vf_baseline_split_fraction, seed run.seed) into the training part, left
 * in *real, and the held-out part, into *held; writes dir/holdout.txt, or on
 * resume checks that the split is the one the run started with. With
 * run.holdout = 0 it leaves *real whole and *held empty. */
vf_status vf_run_holdout(const vf_run_config *rc, const char *dir, bool resume, vf_run_log *L, vf_trace *real,
                         vf_trace *held);
/* The evaluation step of vkflow run: syn scored against held (when not
 * NULL) or train, with (run.baselines) the floor, marginals, verdicts and
 * the distance to closest record; writes dir/metrics.json and
 * dir/report.html and says in run.log what it found and how long it took.
 * data_name names the real trace, syn_name the synthetic one;
 * dp (may be NULL) carries a privacy run's budget into the
 * reports; report_path (>= 4096 bytes, may be NULL) gets the report's path. */
vf_status vf_run_evaluate(const vf_run_config *rc, vf_run_log *L, const char *dir, const vf_trace *train,
                          const vf_trace *held, const vf_trace *syn, const char *data_name, const char *syn_name,
                          const vf_eval_dp *dp, char *report_path);

#endif
