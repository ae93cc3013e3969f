/* Broken model descriptions (tests/dsl_bad/) fail with the expected message
 * at the expected file:line. The line is the one marked "#!" in the file. */
#include "model.h"
#include "testutil.h"
#include "train/trainer.h"

#include <stdio.h>
#include <string.h>

#define BAD VKFLOW_SOURCE_DIR "/tests/dsl_bad/"

/* line of the first "#!" marker in path */
static int marked_line(const char *path) {
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot open %s", path);
    char buf[512];
    int line = 0, found = 0;
    while (fgets(buf, sizeof buf, f)) {
        line++;
        if (strstr(buf, "#!")) { found = line; break; }
    }
    fclose(f);
    cr_assert(found, "%s has no #! marker", path);
    return found;
}

/* Loading `file` fails; the message has "<where>:<marked line>: " and wording. */
static void expect_error(const char *file, const char *where, const char *wording) {
    char path[512], mark[512], want[600];
    snprintf(path, sizeof path, BAD "%s", file);
    snprintf(mark, sizeof mark, BAD "%s", where ? where : file);
    snprintf(want, sizeof want, "%s:%d: ", mark, marked_line(mark));
    vf_model *m = NULL;
    /* what a GAN caller gives: a dimension and two segment tables */
    static const vf_dim dims[1] = {{"attr_dim", 3}};
    static const vf_head_seg seg[1] = {{0, 2, VF_HEAD_SOFTMAX}};
    static const vf_head_table heads[2] = {{"attr", 1, seg}, {"feat", 1, seg}};
    vf_model_env env = {.dims = dims, .n_dims = 1, .heads = heads, .n_heads = 2};
    vf_status s = vf_model_load_env(path, &env, &m);
    if (s == VF_OK) {
        /* the training driver's checks (vkflow check runs them too) */
        s = vf_driver_check(m);
        vf_model_destroy(m);
        m = NULL;
    }
    cr_assert_neq(s, VF_OK, "%s loaded", file);
    cr_assert_null(m);
    const char *msg = vf_last_error();
    cr_expect(strstr(msg, want), "%s: expected position '%s' in:\n%s", file, want, msg);
    cr_expect(strstr(msg, wording), "%s: expected '%s' in:\n%s", file, wording, msg);
}

Test(dsl_errors, unknown_key) {
    expect_error("unknown_key.cfg", NULL, "unknown key 'unit' in a layer (did you mean 'units'?)");
}
Test(dsl_errors, wrong_type) { expect_error("wrong_type.cfg", NULL, "'units' in a layer must be an integer or a dimension expression"); }
Test(dsl_errors, unknown_dimension) {
    expect_error("unknown_dim.cfg", NULL, "unknown dimension 'atr_dim' (did you mean 'attr_dim'?); known: attr_dim, batch");
}
Test(dsl_errors, unknown_segment_table) {
    expect_error("unknown_heads.cfg", NULL, "unknown segment table 'atr' (did you mean 'attr'?); the caller gives: attr, feat");
}
Test(dsl_errors, unknown_network_in_update) {
    expect_error("unknown_net_param.cfg", NULL, "program 'd_step': unknown network 'Dx' in update (did you mean 'D'?)");
}
Test(dsl_errors, missing_field) {
    expect_error("missing_field.cfg", NULL, "missing field 'layers' in a network (a list ( ... ))");
}
Test(dsl_errors, shape_mismatch) {
    expect_error("shape_mismatch.cfg", NULL, "shape mismatch: network 'mlp' takes input width 3, got [4, 2]");
}
Test(dsl_errors, unknown_layer) {
    expect_error("unknown_layer.cfg", NULL, "unknown layer type 'tahn' (did you mean 'tanh'?); expected one of: dense, lstm");
}
Test(dsl_errors, syntax_error) { expect_error("syntax_error.cfg", NULL, "syntax error"); }
Test(dsl_errors, bad_expr) {
    expect_error("bad_expr.cfg", NULL, "unknown tensor 'gaet' (did you mean 'gate'?)");
}
Test(dsl_errors, loss_shape) {
    expect_error("loss_shape.cfg", NULL, "shape mismatch: mse loss input is [4, 2], target is [4, 1]");
}
Test(dsl_errors, unknown_algorithm) {
    expect_error("unknown_algorithm.cfg", NULL,
                 "unknown training algorithm 'supervized' (did you mean 'supervised'?); expected one of: supervised, "
                 "wgan_gp");
}
Test(dsl_errors, error_in_included_file) {
    expect_error("include_main.cfg", "include_part.inc", "unknown key 'netwroks' at top level (did you mean 'networks'?)");
}
Test(dsl_errors, missing_file) {
    vf_model *m = NULL;
    cr_assert_eq(vf_model_load(BAD "no_such_file.cfg", &m), VF_ERR_IO);
    cr_expect(strstr(vf_last_error(), "no_such_file.cfg: cannot open"), "%s", vf_last_error());
}

Test(dsl_errors, nothing_to_compute) {
    expect_error("nothing.cfg", NULL, "declares no tensors and no losses: nothing to compute");
}

/* fuzz_model: apply_heads kept a pointer into the graph's node array across
 * node additions (the array is realloc'd as it grows) and read the input's
 * rank through it afterwards: a use after free that AddressSanitizer reports
 * (cmake -DVKFLOW_SANITIZE=ON runs this test under it); the cross-entropy
 * loss had the same pattern. The input is the fuzzer's, kept in the corpus. */
Test(dsl_errors, fuzz_heads_after_the_graph_grows) {
    vf_model_env env = {.placeholder_heads = true};
    vf_model *m = NULL;
    vf_status st = vf_model_load_env(VKFLOW_SOURCE_DIR "/tests/fuzz/corpus/model/regress_heads_after_graph_growth.cfg",
                                     &env, &m);
    if (st == VF_OK) vf_model_destroy(m);
    else cr_expect(vf_last_error()[0], "a failure carries a message");
}
