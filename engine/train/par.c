/* The processes of one run (par.h): MPI when built with -DVKFLOW_MPI=ON,
 * otherwise one process. */
#include "train/par.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int env_int(const char *const *names, int def) {
    for (int i = 0; names[i]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) {
            char *end;
            long x = strtol(v, &end, 10);
            if (*end == 0 && x >= 0 && x < 1 << 24) return (int)x;
        }
    }
    return def;
}

int vf_par_launch_size(void) {
    static const char *const n[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE", NULL};
    int s = env_int(n, 1);
    return s < 1 ? 1 : s;
}

int vf_par_launch_rank(void) {
    static const char *const n[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", NULL};
    return env_int(n, 0);
}

int vf_par_owner(int c) {
    int k = vf_par_size();
    return c <= 0 || k <= 1 ? 0 : c % k;
}

#ifndef VKFLOW_MPI

/* ------------------------------------------------------------ one process */

bool vf_par_built(void) { return false; }

vf_status vf_par_init(void) {
    int n = vf_par_launch_size();
    if (n > 1)
        return vf_fail(VF_ERR_UNSUPPORTED, "started as one of %d processes (mpirun), but this vkflow was built without "
                       "MPI: every process would run the whole job into the same run directory. Rebuild with cmake "
                       "-DVKFLOW_MPI=ON (docs/RUNNING.md, \"MPI runs\"), or run it without mpirun", n);
    return VF_OK;
}
void vf_par_finalize(void) {}
int vf_par_rank(void) { return 0; }
int vf_par_size(void) { return 1; }
int vf_par_local_rank(void) { return 0; }
vf_status vf_par_agree(vf_status st, bool *stopped, vf_run_log *L) {
    (void)stopped;
    (void)L;
    return st;
}
bool vf_par_any(bool b, vf_run_log *L) {
    (void)L;
    return b;
}
vf_status vf_par_bcast_encoded(vf_encoded *e, int root) {
    (void)e;
    (void)root;
    return VF_OK;
}
vf_status vf_par_send_encoded(const vf_encoded *e, int dest) {
    (void)e;
    return vf_fail(VF_ERR_UNSUPPORTED, "send to rank %d: one process", dest);
}
vf_status vf_par_recv_encoded(vf_encoded *e, int src) {
    (void)e;
    return vf_fail(VF_ERR_UNSUPPORTED, "receive from rank %d: one process", src);
}
void vf_par_forward(const vf_pipeline_event *e, const char *line) {
    (void)e;
    (void)line;
}
void vf_par_pump(vf_run_log *L) { (void)L; }

#else

/* ------------------------------------------------------------------- MPI */

#include <mpi.h>

enum { TAG_EVENT = 4101, TAG_CHUNK = 4102 };

static bool g_on;              /* MPI_Init ran */
static int g_rank, g_size = 1, g_local;
static int g_flushes;          /* rank 0: flush markers received, not yet consumed by an agree */

bool vf_par_built(void) { return true; }

vf_status vf_par_init(void) {
    if (g_on || vf_par_launch_size() <= 1) return VF_OK;
    if (MPI_Init(NULL, NULL) != MPI_SUCCESS) return vf_fail(VF_ERR_IO, "MPI_Init failed");
    g_on = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    MPI_Comm node;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Comm_rank(node, &g_local);
        MPI_Comm_free(&node);
    }
    return VF_OK;
}

void vf_par_finalize(void) {
    if (!g_on) return;
    MPI_Finalize();
    g_on = false;
    g_rank = 0;
    g_size = 1;
}

int vf_par_rank(void) { return g_rank; }
int vf_par_size(void) { return g_size; }
int vf_par_local_rank(void) { return g_local; }

/* What a rank > 0 forwards to rank 0 (under the eager limit of shared
 * memory transports, so a send does not wait for rank 0 to listen). */
typedef struct par_msg {
    int kind;                  /* 0 message, 1 progress tick, 2 flush marker */
    int phase, chunk, n_chunks, has_metrics;
    int64_t iter, total;
    double it_per_s, eta_s;
    vf_metrics metrics;
    char text[1400];           /* message, or the tick's run.log line ("" = none) */
} par_msg;

static void send_msg(const par_msg *m) {
    MPI_Send(m, (int)sizeof *m, MPI_BYTE, 0, TAG_EVENT, MPI_COMM_WORLD);
}

void vf_par_forward(const vf_pipeline_event *e, const char *line) {
    if (!g_on || g_rank == 0) return;
    par_msg m;
    memset(&m, 0, sizeof m);
    m.kind = e->message ? 0 : 1;
    m.phase = (int)e->phase;
    m.chunk = e->chunk;
    m.n_chunks = e->n_chunks;
    m.iter = e->iter;
    m.total = e->total;
    m.it_per_s = e->it_per_s;
    m.eta_s = e->eta_s;
    if (e->metrics) {
        m.metrics = *e->metrics;
        m.has_metrics = 1;
    }
    vf_copy_str(m.text, sizeof m.text, e->message ? e->message : line ? line : "");
    send_msg(&m);
}

void vf_par_pump(vf_run_log *L) {
    if (!g_on || g_rank != 0) return;
    for (;;) {
        int flag = 0;
        MPI_Status s;
        MPI_Iprobe(MPI_ANY_SOURCE, TAG_EVENT, MPI_COMM_WORLD, &flag, &s);
        if (!flag) return;
        par_msg m;
        MPI_Recv(&m, (int)sizeof m, MPI_BYTE, s.MPI_SOURCE, TAG_EVENT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        m.text[sizeof m.text - 1] = 0;
        if (m.kind == 2) { g_flushes++; continue; }
        if (!L) continue;
        vf_pipeline_event e = {0};
        e.phase = (vf_phase)m.phase;
        e.chunk = m.chunk;
        e.n_chunks = m.n_chunks;
        e.iter = m.iter;
        e.total = m.total;
        e.it_per_s = m.it_per_s;
        e.eta_s = m.eta_s;
        e.metrics = m.has_metrics ? &m.metrics : NULL;
        if (m.kind == 0) e.message = m.text;
        if (L->f && (m.kind == 0 || m.text[0])) {
            vf_run_stamp(L->f);
            if (m.kind == 0) fprintf(L->f, "%s: %s\n", vf_phase_name(e.phase), m.text);
            else fprintf(L->f, "%s\n", m.text);
            fflush(L->f);
        }
        if (L->o && L->o->on_event) L->o->on_event(&e, L->o->user);
    }
}

/* Waits for r without spinning a core (MPI's own blocking calls poll): a
 * rank that waits while another trains must leave it the CPU. */
static void wait_req(MPI_Request *r, vf_run_log *L) {
    long ns = 20000;
    for (;;) {
        int done = 0;
        MPI_Test(r, &done, MPI_STATUS_IGNORE);
        if (done) return;
        if (g_rank == 0) vf_par_pump(L);
        struct timespec ts = {0, ns};
        nanosleep(&ts, NULL);
        if (ns < 5000000) ns *= 2;
    }
}

vf_status vf_par_agree(vf_status st, bool *stopped, vf_run_log *L) {
    if (!g_on) return st;
    /* every message a rank sent before this point is written first */
    if (g_rank > 0) {
        par_msg m;
        memset(&m, 0, sizeof m);
        m.kind = 2;
        send_msg(&m);
    } else {
        long ns = 20000;
        for (;;) {
            vf_par_pump(L);
            if (g_flushes >= g_size - 1) break;
            struct timespec ts = {0, ns};
            nanosleep(&ts, NULL);
            if (ns < 5000000) ns *= 2;
        }
        g_flushes -= g_size - 1;
    }
    /* [lowest failing rank (size when none), -stopped], both by MIN */
    int mine[2] = {st ? g_rank : g_size, stopped && *stopped ? -1 : 0}, all[2];
    MPI_Request r;
    MPI_Iallreduce(mine, all, 2, MPI_INT, MPI_MIN, MPI_COMM_WORLD, &r);
    wait_req(&r, L);
    if (stopped) *stopped = all[1] < 0;
    if (all[0] >= g_size) return VF_OK;
    struct { int st; char msg[2000]; } why;
    memset(&why, 0, sizeof why);
    if (g_rank == all[0]) {
        why.st = (int)st;
        vf_copy_str(why.msg, sizeof why.msg, vf_last_error());
    }
    MPI_Ibcast(&why, (int)sizeof why, MPI_BYTE, all[0], MPI_COMM_WORLD, &r);
    wait_req(&r, L);
    why.msg[sizeof why.msg - 1] = 0;
    if (all[0] == 0) return vf_fail((vf_status)why.st, "%s", why.msg);
    return vf_fail((vf_status)why.st, "rank %d: %s", all[0], why.msg);
}

bool vf_par_any(bool b, vf_run_log *L) {
    if (!g_on) return b;
    int mine = b, all = 0;
    MPI_Request r;
    MPI_Iallreduce(&mine, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD, &r);
    wait_req(&r, L);
    return all != 0;
}

/* ---- encoded chunks: a header, then the three arrays in pieces that an int count can hold */

typedef struct enc_head { int64_t chunk, n_flows, max_len, attr_dim, feat_dim, n_truncated; } enc_head;

static void head_of(const vf_encoded *e, enc_head *h) {
    *h = (enc_head){e->chunk, e->n_flows, e->max_len, e->attr_dim, e->feat_dim, e->n_truncated};
}

/* Sets e from h and allocates its arrays (all three when n_flows > 0). */
static vf_status alloc_from(vf_encoded *e, const enc_head *h) {
    memset(e, 0, sizeof *e);
    e->chunk = (int)h->chunk;
    e->n_flows = (int)h->n_flows;
    e->max_len = (int)h->max_len;
    e->attr_dim = (int)h->attr_dim;
    e->feat_dim = (int)h->feat_dim;
    e->n_truncated = h->n_truncated;
    if (h->n_flows <= 0) return VF_OK;
    size_t n = (size_t)h->n_flows;
    e->attr = malloc(n * (size_t)h->attr_dim * sizeof(float) + 1);
    e->feat = malloc(n * (size_t)h->max_len * (size_t)h->feat_dim * sizeof(float) + 1);
    e->gen_flag = malloc(n * (size_t)h->max_len * sizeof(float) + 1);
    if (!e->attr || !e->feat || !e->gen_flag) {
        free(e->attr);
        free(e->feat);
        free(e->gen_flag);
        memset(e, 0, sizeof *e);
        return vf_fail(VF_ERR_OOM, "chunk %lld from another rank: out of memory", (long long)h->chunk);
    }
    return VF_OK;
}

#define PIECE ((size_t)1 << 28)

/* op: 0 send to peer, 1 receive from peer, 2 broadcast from peer */
static void move_floats(float *p, size_t n, int op, int peer) {
    for (size_t at = 0; at < n; at += PIECE) {
        int k = (int)(n - at < PIECE ? n - at : PIECE);
        if (op == 0) MPI_Send(p + at, k, MPI_FLOAT, peer, TAG_CHUNK, MPI_COMM_WORLD);
        else if (op == 1) MPI_Recv(p + at, k, MPI_FLOAT, peer, TAG_CHUNK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        else MPI_Bcast(p + at, k, MPI_FLOAT, peer, MPI_COMM_WORLD);
    }
}

static void move_arrays(vf_encoded *e, int op, int peer) {
    if (e->n_flows <= 0) return;
    size_t n = (size_t)e->n_flows;
    move_floats(e->attr, n * (size_t)e->attr_dim, op, peer);
    move_floats(e->feat, n * (size_t)e->max_len * (size_t)e->feat_dim, op, peer);
    move_floats(e->gen_flag, n * (size_t)e->max_len, op, peer);
}

vf_status vf_par_send_encoded(const vf_encoded *e, int dest) {
    enc_head h;
    head_of(e, &h);
    MPI_Send(&h, (int)sizeof h, MPI_BYTE, dest, TAG_CHUNK, MPI_COMM_WORLD);
    move_arrays((vf_encoded *)e, 0, dest);
    return VF_OK;
}

vf_status vf_par_recv_encoded(vf_encoded *e, int src) {
    enc_head h;
    MPI_Recv(&h, (int)sizeof h, MPI_BYTE, src, TAG_CHUNK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (alloc_from(e, &h)) {
        /* the sender is already sending: no way to refuse the rest */
        fprintf(stderr, "vkflow rank %d: %s\n", g_rank, vf_last_error());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    move_arrays(e, 1, src);
    return VF_OK;
}

vf_status vf_par_bcast_encoded(vf_encoded *e, int root) {
    if (!g_on) return VF_OK;
    enc_head h;
    if (g_rank == root) head_of(e, &h);
    MPI_Bcast(&h, (int)sizeof h, MPI_BYTE, root, MPI_COMM_WORLD);
    if (g_rank != root && alloc_from(e, &h)) {
        fprintf(stderr, "vkflow rank %d: %s\n", g_rank, vf_last_error());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    move_arrays(e, 2, root);
    return VF_OK;
}

#endif
