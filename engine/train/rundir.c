/* The run directory (rundir.h). */
#include "train/rundir.h"
#include "train/par.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

/* ------------------------------------------------------------------ paths */


/* Copies src into dst[cap], cut to fit (paths here are bounded by PATH_MAX
 * in practice; the cut keeps GCC's truncation checks quiet without %s). */
void vf_copy_str(char *dst, size_t cap, const char *src) {
    size_t n = strlen(src);
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

bool vf_run_exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

void vf_run_path(char *out, size_t cap, const char *dir, const char *name) {
    snprintf(out, cap, "%s/%s", dir, name);
}

void vf_run_chunk_path(char *out, size_t cap, const char *dir, int c, const char *ext) {
    char name[64];
    snprintf(name, sizeof name, "chunk_%02d.%s", c, ext);
    vf_run_path(out, cap, dir, name);
}

/* mkdir -p */
vf_status vf_run_make_dirs(const char *path) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0777) && errno != EEXIST) return vf_fail(VF_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0777) && errno != EEXIST) return vf_fail(VF_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    struct stat sb;
    if (stat(tmp, &sb) || !S_ISDIR(sb.st_mode)) return vf_fail(VF_ERR_IO, "%s: exists and is not a folder", tmp);
    return VF_OK;
}

vf_status vf_run_write_text(const char *path, const char *text, size_t n) {
    vf_atomic_file af;
    vf_status st = vf_atomic_open(&af, path);
    if (st) return st;
    if (n && fwrite(text, 1, n, af.f) != n) {
        int e = af.err ? af.err : EIO;
        vf_atomic_abort(&af);
        return vf_fail(VF_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    return vf_atomic_commit(&af);
}

void vf_abs_path(const char *p, char *out, size_t cap) {
    char buf[PATH_MAX];
    if (realpath(p, buf)) snprintf(out, cap, "%s", buf);
    else snprintf(out, cap, "%s", p);
}

/* A temporary file of an atomic write (vf_atomic_open: NAME.tmpXXXXXX) of
 * one of the run directory's own files. */
static bool is_run_temp(const char *n) {
    static const char *const own[] = {"config.cfg", "overrides.txt", "model.cfg", "run.state", "encoder.txt",
                                      "synthetic.pcap", "synthetic.csv", "report.html", "metrics.json", "holdout.txt"};
    size_t len = strlen(n);
    if (len < 11 || memcmp(n + len - 10, ".tmp", 4)) return false;
    for (size_t i = len - 6; i < len; i++)
        if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= 'A' && n[i] <= 'Z') || (n[i] >= '0' && n[i] <= '9'))) return false;
    size_t base = len - 10;
    for (size_t k = 0; k < sizeof own / sizeof own[0]; k++)
        if (strlen(own[k]) == base && !memcmp(n, own[k], base)) return true;
    /* chunk_NN.ckpt, chunk_NN.done (NN: two or more digits) */
    if (base < 13 || memcmp(n, "chunk_", 6)) return false;
    size_t d = 6;
    while (d < base && n[d] >= '0' && n[d] <= '9') d++;
    return d >= 8 && base - d == 5 && (!memcmp(n + d, ".ckpt", 5) || !memcmp(n + d, ".done", 5));
}

int vf_run_remove_temps(const char *dir) {
    DIR *D = opendir(dir);
    if (!D) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(D))) {
        if (!is_run_temp(e->d_name)) continue;
        char p[4200];
        vf_run_path(p, sizeof p, dir, e->d_name);
        n += unlink(p) == 0;
    }
    closedir(D);
    return n;
}

/* ------------------------------------------------------------------ logging */


void vf_run_log_open(vf_run_log *L, const vf_pipeline_opts *o, const char *dir) {
    memset(L, 0, sizeof *L);
    L->o = o;
    L->t0 = vf_now_s();
    L->last_line = -1e9;
    L->last_forward = -1e9;
    /* rank 0 alone writes run.log; the others forward to it (par.h) */
    if (dir && vf_par_rank() == 0) {
        char p[4200];
        vf_run_path(p, sizeof p, dir, "run.log");
        L->f = fopen(p, "a");
    }
}

void vf_run_log_close(vf_run_log *L) {
    if (L->f) fclose(L->f);
    L->f = NULL;
}

void vf_run_stamp(FILE *f) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    fprintf(f, "%04d-%02d-%02dT%02d:%02d:%02dZ ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
            tm.tm_sec);
}

void vf_run_say(vf_run_log *L, vf_phase ph, int chunk, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (vf_par_rank() > 0) {
        char tagged[2100];
        snprintf(tagged, sizeof tagged, "rank %d: %s", vf_par_rank(), msg);
        vf_pipeline_event e = {0};
        e.phase = ph;
        e.chunk = chunk;
        e.message = tagged;
        vf_par_forward(&e, NULL);
        return;
    }
    if (L->f) {
        vf_run_stamp(L->f);
        fprintf(L->f, "%s: %s\n", vf_phase_name(ph), msg);
        fflush(L->f);
    }
    if (L->o && L->o->on_event) {
        vf_pipeline_event e = {0};
        e.phase = ph;
        e.chunk = chunk;
        e.message = msg;
        L->o->on_event(&e, L->o->user);
    }
}

/* ---------------------------------------------------------------- run state */


void vf_run_state_free(vf_run_state *s) {
    free(s->real_flows);
    memset(s, 0, sizeof *s);
}

/* run.state, version 2: the lines below, then "checksum <hex>" (FNV-1a 64 of
 * every byte before it, util.h): a truncated or damaged file is refused
 * naming it. Version 1 (no checksum line) still loads. */
vf_status vf_run_state_save(const char *dir, const vf_run_state *s) {
    char p[4200];
    vf_run_path(p, sizeof p, dir, "run.state");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return vf_fail(VF_ERR_OOM, "%s: out of memory", p);
    fprintf(f, "vkflow-run 2\nconfig %s\ndata %s\nmodel %s\noutput %s\nchunks %d\n", s->config, s->data, s->model,
            s->output, s->n_chunks);
    for (int c = 0; c < s->n_chunks; c++) fprintf(f, "real_flows %d %lld\n", c, (long long)s->real_flows[c]);
    fprintf(f, "end\n");
    bool bad = ferror(f) != 0;
    if (fclose(f) || bad || !text) {
        free(text);
        return vf_fail(VF_ERR_OOM, "%s: out of memory", p);
    }
    vf_status st = vf_write_text_summed(p, text, len);
    free(text);
    return st;
}

static bool read_line_value(FILE *f, const char *key, char *out, size_t cap) {
    char line[4400];
    if (!fgets(line, sizeof line, f)) return false;
    size_t k = strlen(key);
    if (strncmp(line, key, k) || line[k] != ' ') return false;
    line[strcspn(line, "\n")] = 0;
    vf_copy_str(out, cap, line + k + 1);
    return true;
}

vf_status vf_run_state_load(const char *dir, vf_run_state *s) {
    memset(s, 0, sizeof *s);
    char p[4200];
    vf_run_path(p, sizeof p, dir, "run.state");
    size_t n = 0, body = 0;
    char *buf = vf_read_file(p, &n);
    if (!buf) return vf_fail(VF_ERR_IO, "%s: not a run directory (no run.state: %s)", dir, strerror(errno));
    bool v2 = !strncmp(buf, "vkflow-run 2\n", 13);
    if (!n || (v2 && !vf_text_sum_ok(buf, n, &body))) {
        free(buf);
        return vf_fail(VF_ERR_FORMAT, "%s: damaged run.state (truncated, or its checksum does not match its "
                       "contents)", p);
    }
    FILE *f = fmemopen(buf, v2 ? body : n, "r");
    if (!f) { free(buf); return vf_fail(VF_ERR_OOM, "%s: out of memory", p); }
    char v[4096], chunks[32];
    bool ok = read_line_value(f, "vkflow-run", v, sizeof v) && (!strcmp(v, "1") || !strcmp(v, "2")) &&
              read_line_value(f, "config", s->config, sizeof s->config) &&
              read_line_value(f, "data", s->data, sizeof s->data) &&
              read_line_value(f, "model", s->model, sizeof s->model) &&
              read_line_value(f, "output", s->output, sizeof s->output) &&
              (!strcmp(s->output, "pcap") || !strcmp(s->output, "csv")) &&
              read_line_value(f, "chunks", chunks, sizeof chunks);
    s->n_chunks = ok ? atoi(chunks) : 0;
    ok = ok && s->n_chunks >= 1 && s->n_chunks <= 1000;
    if (ok) {
        s->real_flows = calloc((size_t)s->n_chunks, sizeof *s->real_flows);
        ok = s->real_flows != NULL;
    }
    for (int c = 0; ok && c < s->n_chunks; c++) {
        int cc;
        long long nf;
        ok = fscanf(f, " real_flows %d %lld", &cc, &nf) == 2 && cc == c && nf >= 0;
        if (ok) s->real_flows[c] = nf;
    }
    char end[8] = "";
    ok = ok && fscanf(f, " %7s", end) == 1 && !strcmp(end, "end") && fscanf(f, " %7s", end) == EOF;
    fclose(f);
    free(buf);
    if (!ok) {
        vf_run_state_free(s);
        return vf_fail(VF_ERR_FORMAT, "%s: damaged run.state", p);
    }
    return VF_OK;
}
