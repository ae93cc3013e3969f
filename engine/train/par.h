/* The processes of one run (docs/RUNNING.md, "MPI runs"): `mpirun -n K
 * vkflow run CONFIG` in a build with -DVKFLOW_MPI=ON gives K ranks; any
 * other launch is one process of rank 0 (every function below is then a
 * no-op or trivial, and the pipeline does exactly what it did before).
 *
 * The design, chosen for being the simplest that is correct:
 *   - rank 0 ingests, fits and saves the encoder, encodes, writes run.state
 *     and sends each rank the encoded chunks it trains (point to point);
 *   - rank 0 trains chunk 0 while the others wait (sleeping, not spinning);
 *     its checkpoint reaches them through the run directory (rank 0 writes
 *     chunk_00.ckpt atomically, a collective follows, the others read it),
 *     so the run directory must be one folder that every rank sees at the
 *     same path (a shared file system across machines);
 *   - chunks 1..N-1 go to ranks statically, round robin: chunk c to rank
 *     c mod K;
 *   - generation in two phases: each chunk's owner samples its flows, every
 *     rank receives all of them (broadcast), then each owner samples the
 *     features of the flows earlier chunks carry into its chunk (NetShare's
 *     merge needs chunks 0..c for chunk c) and sends them to rank 0, which
 *     merges, decodes, writes and evaluates;
 *   - rank 0 alone writes run.log and reports progress: the other ranks
 *     send it their messages and progress ticks;
 *   - every step ends in a collective (vf_par_agree) that returns the first
 *     failing rank's error on every rank, so no rank waits for a dead one.
 * Each rank writes only its own chunks' files, so --resume after a killed
 * rank uses the per-chunk checkpoints and done markers as a single process
 * does. Chunk seeds depend on the chunk, not on the rank: the output is the
 * same as a single process's. */
#ifndef VKFLOW_TRAIN_PAR_H
#define VKFLOW_TRAIN_PAR_H

#include "train/rundir.h"

/* True in a build with -DVKFLOW_MPI=ON. */
bool vf_par_built(void);
/* The number of processes the launcher started (mpirun's
 * OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_SIZE), 1 when none; and this
 * process's rank in it (0 when none). Read from the environment: works in
 * builds without MPI too, to refuse a launch they cannot serve. */
int vf_par_launch_size(void);
int vf_par_launch_rank(void);
/* Joins the launch (MPI_Init) when the launcher started several processes;
 * fails, saying so, in a build without MPI. Call once, before the pipeline. */
vf_status vf_par_init(void);
void vf_par_finalize(void);
int vf_par_rank(void);
int vf_par_size(void);
/* This rank's place among the ranks on its machine (for the device choice). */
int vf_par_local_rank(void);
/* The rank that trains and samples chunk c. */
int vf_par_owner(int c);

/* Collective, every rank calls it: waits (sleeping; rank 0 writes the other
 * ranks' forwarded messages to L meanwhile, after all of them) and returns
 * the status of the lowest rank whose st failed, its message in
 * vf_last_error ("rank K: ..."); *stopped (may be NULL) becomes true on
 * every rank when it was on one. */
vf_status vf_par_agree(vf_status st, bool *stopped, vf_run_log *L);
/* Collective: true when b is true on some rank. */
bool vf_par_any(bool b, vf_run_log *L);
/* Collective: every rank gets root's e (allocated here on the others). */
vf_status vf_par_bcast_encoded(vf_encoded *e, int root);
/* Point to point: e from this rank to dest / into e (allocated) from src. */
vf_status vf_par_send_encoded(const vf_encoded *e, int dest);
vf_status vf_par_recv_encoded(vf_encoded *e, int src);

/* Rank > 0: sends an event to rank 0; line (may be NULL) is its run.log line
 * without the time stamp. */
void vf_par_forward(const vf_pipeline_event *e, const char *line);
/* Rank 0: writes and reports (L's file and callback) what the other ranks
 * forwarded so far. */
void vf_par_pump(vf_run_log *L);

#endif
