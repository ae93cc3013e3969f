/* Host utilities (util.h). */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

double vf_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t vf_splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t vf_mix64(uint64_t x) { return vf_splitmix64(&x); }

/* The atomic file's stream: stdio buffering over write(2), keeping the
 * first write error's errno (ENOSPC, EROFS, EDQUOT, EIO) for the message. */
static ssize_t af_write(void *cookie, const char *buf, size_t n) {
    vf_atomic_file *af = cookie;
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(af->fd, buf + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (!af->err) af->err = w < 0 ? errno : EIO;
            return done ? (ssize_t)done : -1;
        }
        done += (size_t)w;
    }
    return (ssize_t)done;
}
static int af_close(void *cookie) {
    vf_atomic_file *af = cookie;
    int r = close(af->fd);
    if (r && !af->err) af->err = errno;
    af->fd = -1;
    return r;
}

vf_status vf_atomic_open(vf_atomic_file *af, const char *path) {
    memset(af, 0, sizeof *af);
    af->fd = -1;
    if (strlen(path) + 16 > sizeof af->tmp) return vf_fail(VF_ERR_ARG, "%s: path too long", path);
    snprintf(af->path, sizeof af->path, "%s", path);
    snprintf(af->tmp, sizeof af->tmp, "%s.tmpXXXXXX", path);
    int fd = mkstemp(af->tmp);
    if (fd < 0) {
        af->tmp[0] = 0;
        return vf_fail(VF_ERR_IO, "%s: cannot create temp file: %s", path, strerror(errno));
    }
    /* mkstemp makes 0600; outputs are ordinary files */
    if (fchmod(fd, 0644) != 0) { /* not fatal: the file stays private */ }
    af->fd = fd;
    cookie_io_functions_t io = {.write = af_write, .close = af_close};
    af->f = fopencookie(af, "wb", io);
    if (!af->f) {
        int e = errno;
        close(fd);
        unlink(af->tmp);
        af->tmp[0] = 0;
        return vf_fail(VF_ERR_IO, "%s: %s", path, strerror(e));
    }
    return VF_OK;
}

vf_status vf_atomic_commit(vf_atomic_file *af) {
    int e = 0;
    if (fflush(af->f) != 0 || ferror(af->f)) e = af->err ? af->err : EIO;
    if (!e && fsync(af->fd) != 0 && errno != EINVAL) e = errno;
    if (fclose(af->f) != 0 && !e) e = af->err ? af->err : EIO;
    af->f = NULL;
    if (e) {
        unlink(af->tmp);
        return vf_fail(VF_ERR_IO, "%s: write failed: %s", af->path, strerror(e));
    }
    if (rename(af->tmp, af->path) != 0) {
        e = errno;
        unlink(af->tmp);
        return vf_fail(VF_ERR_IO, "%s: rename failed: %s", af->path, strerror(e));
    }
    /* the rename itself reaches the disk with the folder's fsync (after a
     * power cut the old file or the new one is there, never none); a folder
     * that cannot be opened or synced changes nothing for the running job */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", af->path);
    char *slash = strrchr(dir, '/');
    if (slash) *(slash == dir ? slash + 1 : slash) = 0;
    int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return VF_OK;
}

void vf_atomic_abort(vf_atomic_file *af) {
    if (af->f) fclose(af->f);
    af->f = NULL;
    if (af->tmp[0]) unlink(af->tmp);
}

vf_status vf_write_file_atomic(const char *path, const void *data, size_t n) {
    vf_atomic_file af;
    VF_TRY(vf_atomic_open(&af, path));
    if (n && fwrite(data, 1, n, af.f) != n) {
        int e = af.err ? af.err : EIO;
        vf_atomic_abort(&af);
        return vf_fail(VF_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    return vf_atomic_commit(&af);
}

uint64_t vf_fnv1a64(const void *p, size_t n) {
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

#define SUM_LINE_LEN 26 /* "checksum " + 16 hex + "\n" */

vf_status vf_write_text_summed(const char *path, const char *text, size_t n) {
    vf_atomic_file af;
    VF_TRY(vf_atomic_open(&af, path));
    if (n) fwrite(text, 1, n, af.f);
    fprintf(af.f, "checksum %016llx\n", (unsigned long long)vf_fnv1a64(text, n));
    return vf_atomic_commit(&af); /* reports any write error (ferror, fflush, fsync, fclose) */
}

bool vf_text_sum_ok(const char *buf, size_t n, size_t *body) {
    *body = 0;
    if (n < SUM_LINE_LEN) return false;
    const char *line = buf + n - SUM_LINE_LEN;
    if (memcmp(line, "checksum ", 9) || line[SUM_LINE_LEN - 1] != '\n' || (line != buf && line[-1] != '\n'))
        return false;
    uint64_t v = 0;
    for (int i = 9; i < 25; i++) {
        char c = line[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return false;
        v = v << 4 | (uint64_t)d;
    }
    if (v != vf_fnv1a64(buf, n - SUM_LINE_LEN)) return false;
    *body = n - SUM_LINE_LEN;
    return true;
}

char *vf_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    while (b) {
        size_t r = fread(b + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0 || n + 1 < cap) {
            if (ferror(f)) { free(b); b = NULL; errno = EIO; }
            break;
        }
        char *nb = realloc(b, cap * 2);
        if (!nb) { free(b); b = NULL; errno = ENOMEM; break; }
        b = nb;
        cap *= 2;
    }
    fclose(f);
    if (b) b[n] = 0;
    if (len) *len = b ? n : 0;
    return b;
}

void vf_json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

void vf_json_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.17g", v);
    else fputs("null", f);
}
