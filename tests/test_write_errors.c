/* Write errors name the file and their cause, and leave the old file and no
 * temporary file behind. A full disk is simulated with RLIMIT_FSIZE (write
 * fails with EFBIG, as it fails with ENOSPC on a full disk: the same path
 * through vf_atomic_*); tools/abuse/disk_full.sh does it on a real full tmpfs.
 * Regression: stdio kept only an error flag, so a full disk was reported as
 * "write failed: Input/output error" for encoder.txt and report.html. */
#include <criterion/criterion.h>
#include "testutil.h"
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "util.h"
#include "model.h"
#include "train/rundir.h"

static char g_dir[128];

static void setup(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/vkflow_write_errors_XXXXXX");
    cr_assert(mkdtemp(g_dir));
}

static int count_temps(void) {
    DIR *d = opendir(g_dir);
    cr_assert(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += strstr(e->d_name, ".tmp") != NULL;
    closedir(d);
    return n;
}

static void limit_file_size(rlim_t bytes) {
    signal(SIGXFSZ, SIG_IGN); /* write then fails with EFBIG instead of killing */
    struct rlimit r = {bytes, bytes};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &r), 0);
}

static void expect_cause(const char *path) {
    const char *m = vf_last_error();
    cr_expect(strstr(m, path), "the message names the file: %s", m);
    cr_expect(strstr(m, strerror(EFBIG)), "the message gives the cause (%s): %s", strerror(EFBIG), m);
    cr_expect(!strstr(m, strerror(EIO)), "not a made-up I/O error: %s", m);
}

Test(write_errors, a_failed_write_names_the_file_and_the_cause_and_keeps_the_old_file, .init = setup) {
    char path[200];
    snprintf(path, sizeof path, "%s/encoder.txt", g_dir);
    cr_assert_eq(vf_write_file_atomic(path, "old\n", 4), VF_OK, "%s", vf_last_error());
    limit_file_size(4096);
    size_t n = 100000;
    char *big = malloc(n);
    cr_assert(big);
    memset(big, 'x', n);
    /* one fwrite of the whole buffer */
    cr_assert_eq(vf_write_file_atomic(path, big, n), VF_ERR_IO);
    expect_cause(path);
    /* many small writes through the stream, the error found at commit */
    vf_atomic_file af;
    cr_assert_eq(vf_atomic_open(&af, path), VF_OK, "%s", vf_last_error());
    for (int i = 0; i < 2000; i++) fprintf(af.f, "line %d of a long text file\n", i);
    cr_assert_eq(vf_atomic_commit(&af), VF_ERR_IO);
    expect_cause(path);
    /* the summed text writer (encoder.txt, run.state) */
    cr_assert_eq(vf_write_text_summed(path, big, n), VF_ERR_IO);
    expect_cause(path);
    /* vf_run_write_text (chunk_NN.done, config.cfg, overrides.txt) */
    cr_assert_eq(vf_run_write_text(path, big, n), VF_ERR_IO);
    expect_cause(path);
    free(big);
    size_t m;
    char *old = tu_read_file(path, &m);
    cr_assert(old && m == 4 && !memcmp(old, "old\n", 4), "the old file is intact");
    free(old);
    cr_expect_eq(count_temps(), 0, "no temporary file is left");
    unlink(path);
    rmdir(g_dir);
}

/* Regression: model.cfg was written with libconfig's config_write_file,
 * which returns success after a failed write (libconfig 1.5): a full disk
 * left a cut model.cfg in place of the good one, silently. */
Test(write_errors, model_cfg_write_failure_is_reported_and_the_old_file_kept, .init = setup) {
    vf_model_env env = {.placeholder_heads = true};
    vf_model *m = NULL;
    cr_assert_eq(vf_model_load_env(VKFLOW_SOURCE_DIR "/tests/models/dg_tiny.cfg", &env, &m), VF_OK, "%s",
                 vf_last_error());
    char path[200];
    snprintf(path, sizeof path, "%s/model.cfg", g_dir);
    cr_assert_eq(vf_write_file_atomic(path, "old\n", 4), VF_OK, "%s", vf_last_error());
    limit_file_size(4096); /* the effective dg_tiny is about 7.5 KB */
    cr_assert_eq(vf_model_write_settings(m, path), VF_ERR_IO, "a cut model.cfg was reported as written");
    expect_cause(path);
    size_t n;
    char *old = tu_read_file(path, &n);
    cr_assert(old && n == 4 && !memcmp(old, "old\n", 4), "the old file is intact");
    free(old);
    cr_expect_eq(count_temps(), 0, "no temporary file is left");
    vf_model_destroy(m);
    unlink(path);
    rmdir(g_dir);
}
