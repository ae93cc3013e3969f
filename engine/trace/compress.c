/* Compressed traces: gzip, xz, zstd and bzip2 streams behind a stdio FILE
 * (fopencookie), so libpcap (pcap_fopen_offline) and the CSV reader read them
 * as if they were plain, and the writers write through one.
 *
 * Reading goes by the first bytes (magic), never by the name; concatenated
 * streams (pigz, pbzip2, `cat a.gz b.gz`) are read to the end. A damaged or
 * truncated stream makes the read fail (-1, errno EIO); zin_error() then says
 * what the decompressor found, and the readers put that in their message
 * with the file's name. Writing goes by the output name's suffix. */
#include "trace/trace_internal.h"

#include <bzlib.h>
#include <errno.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include <zstd.h>

#define ZBUF (1u << 18)

static const char *const comp_names[] = {"plain", "gzip", "xz", "zstd", "bzip2"};
const char *vf_comp_name(vf_comp c) { return (unsigned)c <= VF_COMP_BZ2 ? comp_names[c] : "?"; }

vf_comp vf_comp_from_magic(const uint8_t *m, size_t n) {
    if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b) return VF_COMP_GZ;
    if (n >= 6 && !memcmp(m, "\xfd" "7zXZ\0", 6)) return VF_COMP_XZ;
    if (n >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) return VF_COMP_ZST;
    if (n >= 4 && m[0] == 'B' && m[1] == 'Z' && m[2] == 'h' && m[3] >= '1' && m[3] <= '9') return VF_COMP_BZ2;
    return VF_COMP_NONE;
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcasecmp(s + a - b, suf);
}

vf_comp vf_comp_from_name(const char *path, size_t *suffix_len) {
    static const struct { const char *suf; vf_comp c; } sufs[] = {
        {".gz", VF_COMP_GZ}, {".xz", VF_COMP_XZ}, {".zst", VF_COMP_ZST}, {".bz2", VF_COMP_BZ2},
    };
    for (size_t i = 0; i < sizeof sufs / sizeof sufs[0]; i++)
        if (ends_with(path, sufs[i].suf)) {
            if (suffix_len) *suffix_len = strlen(sufs[i].suf);
            return sufs[i].c;
        }
    if (suffix_len) *suffix_len = 0;
    return VF_COMP_NONE;
}

/* ---------------------------------------------------------------- reading */

struct vf_zin {
    FILE *src;                  /* the compressed file */
    vf_comp comp;
    uint8_t *in;                /* compressed bytes read ahead */
    size_t in_len, in_pos;
    bool src_eof, stream_end, failed;
    uint64_t out_total;         /* decompressed bytes handed out */
    char err[160];
    z_stream gz;
    lzma_stream xz;
    ZSTD_DCtx *zs;
    bz_stream bz;
    bool live;                  /* decoder initialised */
};

static int zin_fail(vf_zin *z, const char *fmt, const char *detail) {
    if (!z->failed) {
        char what[120];
        snprintf(what, sizeof what, fmt, detail);
        snprintf(z->err, sizeof z->err, "%s data %s (after %llu bytes decompressed)", vf_comp_name(z->comp),
                 what, (unsigned long long)z->out_total);
    }
    z->failed = true;
    errno = EIO;
    return -1;
}

static void dec_end(vf_zin *z) {
    if (!z->live) return;
    switch (z->comp) {
    case VF_COMP_GZ: inflateEnd(&z->gz); break;
    case VF_COMP_XZ: lzma_end(&z->xz); break;
    case VF_COMP_ZST: ZSTD_freeDCtx(z->zs); z->zs = NULL; break;
    case VF_COMP_BZ2: BZ2_bzDecompressEnd(&z->bz); break;
    default: break;
    }
    z->live = false;
}

static bool dec_init(vf_zin *z) {
    switch (z->comp) {
    case VF_COMP_GZ:
        memset(&z->gz, 0, sizeof z->gz);
        if (inflateInit2(&z->gz, 15 + 16) != Z_OK) return false;
        break;
    case VF_COMP_XZ: {
        lzma_stream s = LZMA_STREAM_INIT;
        z->xz = s;
        if (lzma_stream_decoder(&z->xz, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK) return false;
        break;
    }
    case VF_COMP_ZST:
        if (!(z->zs = ZSTD_createDCtx())) return false;
        break;
    case VF_COMP_BZ2:
        memset(&z->bz, 0, sizeof z->bz);
        if (BZ2_bzDecompressInit(&z->bz, 0, 0) != BZ_OK) return false;
        break;
    default: return false;
    }
    z->live = true;
    return true;
}

/* refills z->in when it is used up; false at the end of the file */
static bool refill(vf_zin *z) {
    if (z->in_pos < z->in_len) return true;
    if (z->src_eof) return false;
    z->in_len = fread(z->in, 1, ZBUF, z->src);
    z->in_pos = 0;
    if (z->in_len < ZBUF) z->src_eof = true;
    return z->in_len > 0;
}

static ssize_t zin_read(void *cookie, char *buf, size_t size) {
    vf_zin *z = cookie;
    if (z->failed) { errno = EIO; return -1; }
    size_t done = 0;
    while (done < size) {
        if (z->stream_end) {
            /* another stream may follow (concatenated members) */
            if (!refill(z)) break;
            if (z->comp == VF_COMP_XZ) break; /* LZMA_CONCATENATED reads them all */
            dec_end(z);
            if (!dec_init(z)) return zin_fail(z, "%s", "decoder could not start (out of memory)");
            z->stream_end = false;
        }
        bool have_in = refill(z);
        if (ferror(z->src)) return zin_fail(z, "read error: %s", strerror(errno));
        uint8_t *ip = z->in + z->in_pos;
        size_t avail = z->in_len - z->in_pos;
        size_t produced = 0, consumed = 0;
        switch (z->comp) {
        case VF_COMP_GZ: {
            z->gz.next_in = ip; z->gz.avail_in = (uInt)avail;
            z->gz.next_out = (Bytef *)buf + done; z->gz.avail_out = (uInt)(size - done);
            int rc = inflate(&z->gz, Z_NO_FLUSH);
            consumed = avail - z->gz.avail_in;
            produced = (size - done) - z->gz.avail_out;
            if (rc == Z_STREAM_END) z->stream_end = true;
            else if (rc == Z_BUF_ERROR && !have_in) {
                if (!produced) return zin_fail(z, "%s", "ends early: the file is truncated");
            } else if (rc != Z_OK && rc != Z_BUF_ERROR)
                return zin_fail(z, "damaged: %s", z->gz.msg ? z->gz.msg : zError(rc));
            break;
        }
        case VF_COMP_XZ: {
            z->xz.next_in = ip; z->xz.avail_in = avail;
            z->xz.next_out = (uint8_t *)buf + done; z->xz.avail_out = size - done;
            lzma_ret rc = lzma_code(&z->xz, have_in ? LZMA_RUN : LZMA_FINISH);
            consumed = avail - z->xz.avail_in;
            produced = (size - done) - z->xz.avail_out;
            if (rc == LZMA_STREAM_END) z->stream_end = true;
            else if (rc == LZMA_BUF_ERROR) {
                if (!produced) return zin_fail(z, "%s", "ends early: the file is truncated");
            } else if (rc != LZMA_OK)
                return zin_fail(z, "damaged (liblzma error %s)",
                                rc == LZMA_DATA_ERROR ? "data error" : rc == LZMA_FORMAT_ERROR ? "format error"
                                : rc == LZMA_MEM_ERROR ? "out of memory" : "other");
            break;
        }
        case VF_COMP_ZST: {
            ZSTD_inBuffer in = {ip, avail, 0};
            ZSTD_outBuffer out = {buf + done, size - done, 0};
            size_t rc = ZSTD_decompressStream(z->zs, &out, &in);
            consumed = in.pos;
            produced = out.pos;
            if (ZSTD_isError(rc)) return zin_fail(z, "damaged: %s", ZSTD_getErrorName(rc));
            if (rc == 0) z->stream_end = true;
            else if (!have_in && !produced) return zin_fail(z, "%s", "ends early: the file is truncated");
            break;
        }
        case VF_COMP_BZ2: {
            z->bz.next_in = (char *)ip; z->bz.avail_in = (unsigned)avail;
            z->bz.next_out = buf + done; z->bz.avail_out = (unsigned)(size - done);
            int rc = BZ2_bzDecompress(&z->bz);
            consumed = avail - z->bz.avail_in;
            produced = (size - done) - z->bz.avail_out;
            if (rc == BZ_STREAM_END) z->stream_end = true;
            else if (rc != BZ_OK) {
                char d[32];
                snprintf(d, sizeof d, "%d", rc);
                return zin_fail(z, "damaged (libbz2 error %s)", d);
            } else if (!have_in && !produced) return zin_fail(z, "%s", "ends early: the file is truncated");
            break;
        }
        default: return zin_fail(z, "%s", "unknown compression");
        }
        z->in_pos += consumed;
        done += produced;
        z->out_total += produced;
        if (!have_in && !produced && !z->stream_end)
            return zin_fail(z, "%s", "ends early: the file is truncated");
        if (!have_in && z->stream_end) break;
    }
    return (ssize_t)done;
}

static int zin_close(void *cookie) {
    vf_zin *z = cookie;
    dec_end(z);
    int r = fclose(z->src);
    free(z->in);
    free(z);
    return r;
}

const char *vf_zin_error(const vf_zin *z) { return z && z->failed ? z->err : NULL; }

vf_status vf_zopen_read(const char *path, FILE **fp, vf_zin **zin, vf_comp *comp) {
    *fp = NULL;
    if (zin) *zin = NULL;
    FILE *src = fopen(path, "rb");
    if (!src) return vf_fail(VF_ERR_IO, "%s: %s", path, strerror(errno));
    uint8_t m[6] = {0};
    size_t got = fread(m, 1, sizeof m, src);
    vf_comp c = vf_comp_from_magic(m, got);
    if (comp) *comp = c;
    if (fseek(src, 0, SEEK_SET) != 0) {
        int e = errno;
        fclose(src);
        return vf_fail(VF_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (c == VF_COMP_NONE) { *fp = src; return VF_OK; }
    vf_zin *z = calloc(1, sizeof *z);
    uint8_t *in = malloc(ZBUF);
    if (!z || !in) { free(z); free(in); fclose(src); return vf_fail(VF_ERR_OOM, "%s: out of memory", path); }
    z->src = src;
    z->comp = c;
    z->in = in;
    if (!dec_init(z)) {
        free(in); free(z); fclose(src);
        return vf_fail(VF_ERR_OOM, "%s: %s decoder could not start", path, vf_comp_name(c));
    }
    cookie_io_functions_t io = {.read = zin_read, .close = zin_close};
    FILE *f = fopencookie(z, "rb", io);
    if (!f) { int e = errno; zin_close(z); return vf_fail(VF_ERR_IO, "%s: %s", path, strerror(e)); }
    setvbuf(f, NULL, _IOFBF, ZBUF);
    *fp = f;
    if (zin) *zin = z;
    return VF_OK;
}

/* ---------------------------------------------------------------- writing */

typedef struct vf_zout {
    FILE *dst;
    vf_comp comp;
    uint8_t *out;
    bool failed;
    z_stream gz;
    lzma_stream xz;
    ZSTD_CStream *zs;
    bz_stream bz;
} vf_zout;

static bool put(vf_zout *z, size_t n) {
    if (n && fwrite(z->out, 1, n, z->dst) != n) z->failed = true;
    return !z->failed;
}

/* compresses buf (or, with finish, ends the stream) into dst */
static bool zout_code(vf_zout *z, const char *buf, size_t size, bool finish) {
    switch (z->comp) {
    case VF_COMP_GZ:
        z->gz.next_in = (Bytef *)buf; z->gz.avail_in = (uInt)size;
        for (;;) {
            z->gz.next_out = z->out; z->gz.avail_out = ZBUF;
            int rc = deflate(&z->gz, finish ? Z_FINISH : Z_NO_FLUSH);
            if (rc == Z_STREAM_ERROR) return false;
            if (!put(z, ZBUF - z->gz.avail_out)) return false;
            if (finish ? rc == Z_STREAM_END : z->gz.avail_in == 0 && z->gz.avail_out) return true;
        }
    case VF_COMP_XZ:
        z->xz.next_in = (const uint8_t *)buf; z->xz.avail_in = size;
        for (;;) {
            z->xz.next_out = z->out; z->xz.avail_out = ZBUF;
            lzma_ret rc = lzma_code(&z->xz, finish ? LZMA_FINISH : LZMA_RUN);
            if (rc != LZMA_OK && rc != LZMA_STREAM_END) return false;
            if (!put(z, ZBUF - z->xz.avail_out)) return false;
            if (finish ? rc == LZMA_STREAM_END : z->xz.avail_in == 0 && z->xz.avail_out) return true;
        }
    case VF_COMP_ZST: {
        ZSTD_inBuffer in = {buf, size, 0};
        for (;;) {
            ZSTD_outBuffer out = {z->out, ZBUF, 0};
            size_t rc = ZSTD_compressStream2(z->zs, &out, &in, finish ? ZSTD_e_end : ZSTD_e_continue);
            if (ZSTD_isError(rc)) return false;
            if (!put(z, out.pos)) return false;
            if (finish ? rc == 0 : in.pos == in.size && out.pos < ZBUF) return true;
        }
    }
    case VF_COMP_BZ2:
        z->bz.next_in = (char *)buf; z->bz.avail_in = (unsigned)size;
        for (;;) {
            z->bz.next_out = (char *)z->out; z->bz.avail_out = ZBUF;
            int rc = BZ2_bzCompress(&z->bz, finish ? BZ_FINISH : BZ_RUN);
            if (rc < 0) return false;
            if (!put(z, ZBUF - z->bz.avail_out)) return false;
            if (finish ? rc == BZ_STREAM_END : z->bz.avail_in == 0) return true;
        }
    default: return false;
    }
}

static ssize_t zout_write(void *cookie, const char *buf, size_t size) {
    vf_zout *z = cookie;
    if (z->failed || !zout_code(z, buf, size, false)) { z->failed = true; errno = EIO; return -1; }
    return (ssize_t)size;
}

static int zout_close(void *cookie) {
    vf_zout *z = cookie;
    bool ok = !z->failed && zout_code(z, NULL, 0, true);
    switch (z->comp) {
    case VF_COMP_GZ: deflateEnd(&z->gz); break;
    case VF_COMP_XZ: lzma_end(&z->xz); break;
    case VF_COMP_ZST: ZSTD_freeCStream(z->zs); break;
    case VF_COMP_BZ2: BZ2_bzCompressEnd(&z->bz); break;
    default: break;
    }
    free(z->out);
    free(z);
    if (!ok) { errno = EIO; return -1; }
    return 0;
}

FILE *vf_zopen_write(FILE *dst, vf_comp c) {
    vf_zout *z = calloc(1, sizeof *z);
    if (!z || !(z->out = malloc(ZBUF))) { free(z); return NULL; }
    z->dst = dst;
    z->comp = c;
    bool ok = false;
    switch (c) {
    case VF_COMP_GZ: /* gzip -6 */
        ok = deflateInit2(&z->gz, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
        break;
    case VF_COMP_XZ: { /* xz -6 */
        lzma_stream s = LZMA_STREAM_INIT;
        z->xz = s;
        ok = lzma_easy_encoder(&z->xz, 6, LZMA_CHECK_CRC64) == LZMA_OK;
        break;
    }
    case VF_COMP_ZST: /* zstd -3 */
        ok = (z->zs = ZSTD_createCStream()) != NULL &&
             !ZSTD_isError(ZSTD_CCtx_setParameter(z->zs, ZSTD_c_compressionLevel, 3)) &&
             !ZSTD_isError(ZSTD_CCtx_setParameter(z->zs, ZSTD_c_checksumFlag, 1));
        break;
    case VF_COMP_BZ2: /* bzip2 -9 */
        ok = BZ2_bzCompressInit(&z->bz, 9, 0, 0) == BZ_OK;
        break;
    default: break;
    }
    if (!ok) {
        if (c == VF_COMP_ZST && z->zs) ZSTD_freeCStream(z->zs);
        free(z->out);
        free(z);
        return NULL;
    }
    cookie_io_functions_t io = {.write = zout_write, .close = zout_close};
    FILE *f = fopencookie(z, "wb", io);
    if (!f) { z->failed = true; zout_close(z); return NULL; }
    setvbuf(f, NULL, _IOFBF, ZBUF);
    return f;
}

/* ------------------------------------------------- atomic compressed output */

vf_status vf_zatomic_open(vf_zatomic *za, const char *path) {
    za->comp = vf_comp_from_name(path, NULL);
    VF_TRY(vf_atomic_open(&za->af, path));
    za->f = za->af.f;
    if (za->comp != VF_COMP_NONE) {
        za->f = vf_zopen_write(za->af.f, za->comp);
        if (!za->f) {
            vf_atomic_abort(&za->af);
            return vf_fail(VF_ERR_OOM, "%s: %s compressor could not start", path, vf_comp_name(za->comp));
        }
    }
    return VF_OK;
}

vf_status vf_zatomic_commit(vf_zatomic *za) {
    if (za->f != za->af.f) {
        bool bad = ferror(za->f) != 0;
        if (fclose(za->f) != 0) bad = true;
        za->f = NULL;
        if (bad) {
            int e = za->af.err;
            vf_atomic_abort(&za->af);
            return vf_fail(VF_ERR_IO, "%s: write failed: %s", za->af.path,
                           e ? strerror(e) : "compression failed");
        }
    }
    return vf_atomic_commit(&za->af);
}

void vf_zatomic_abort(vf_zatomic *za) {
    if (za->f && za->f != za->af.f) fclose(za->f);
    za->f = NULL;
    vf_atomic_abort(&za->af);
}
