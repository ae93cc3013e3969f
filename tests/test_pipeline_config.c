/* Run configuration (engine/train/run_config.c): a good file parses with its
 * defaults and relative paths resolved; every broken file is an error that
 * names file:line and the key. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "train/pipeline.h"

#define GOOD_DATA "data = { path = \"trace.pcap\"; n_chunks = 3; };\n"

Test(pipeline_config, good_file_defaults_and_paths) {
    vf_run_config rc;
    const char *text = GOOD_DATA "model = \"../models/m.cfg\";\nrun = { iterations = 40; };\n";
    cr_assert_eq(vf_run_config_parse_string("/x/examples/a.cfg", text, &rc), VF_OK, "%s", vf_last_error());
    cr_assert_str_eq(rc.model, "/x/examples/../models/m.cfg");
    cr_assert_str_eq(rc.data.path, "/x/examples/trace.pcap");
    cr_assert_eq(rc.data.n_chunks, 3);
    cr_assert_eq(rc.iterations, 40);
    cr_assert_float_eq(rc.warm_fraction, 0.25, 1e-12); /* NetShare: a quarter */
    cr_assert_eq(rc.checkpoint_every, 40);             /* capped at the iterations */
    cr_assert_str_eq(rc.backend, "auto");
    cr_assert_str_eq(rc.output, "auto");
    cr_assert(rc.evaluate);
    cr_assert_eq(vf_run_chunk_iterations(&rc, 0), 40);
    cr_assert_eq(vf_run_chunk_iterations(&rc, 1), 10);
    cr_assert_eq(vf_run_chunk_iterations(&rc, 9), 10);
}

Test(pipeline_config, all_settings) {
    vf_run_config rc;
    const char *text = GOOD_DATA "model = \"/abs/m.cfg\";\n"
                       "run = { iterations = 7; warm_start_fraction = 0.5; checkpoint_every = 2; seed = 99;\n"
                       "  backend = \"cpu\"; count = 1000; output = \"csv\"; as_flows = true; flow_timeout_s = 1.5;\n"
                       "  evaluate = false; };\n";
    cr_assert_eq(vf_run_config_parse_string("rel.cfg", text, &rc), VF_OK, "%s", vf_last_error());
    cr_assert_str_eq(rc.model, "/abs/m.cfg");
    cr_assert_str_eq(rc.data.path, "trace.pcap"); /* no folder in the name: as written */
    cr_assert_eq(vf_run_chunk_iterations(&rc, 1), 4); /* ceil(7 * 0.5) */
    cr_assert_eq(rc.checkpoint_every, 2);
    cr_assert_eq(rc.seed, 99);
    cr_assert_str_eq(rc.backend, "cpu");
    cr_assert_eq(rc.count, 1000);
    cr_assert_str_eq(rc.output, "csv");
    cr_assert(rc.as_flows);
    cr_assert_eq(rc.flow_timeout_ns, 1500000000LL);
    cr_assert(!rc.evaluate);
}

typedef struct bad_case {
    const char *text;
    const char *want; /* substring of the message, after "f.cfg:LINE: " */
    int line;
} bad_case;

static void expect_bad(const bad_case *b) {
    vf_run_config rc;
    vf_status st = vf_run_config_parse_string("f.cfg", b->text, &rc);
    cr_assert_neq(st, VF_OK, "accepted: %s", b->text);
    const char *msg = vf_last_error();
    char where[32];
    snprintf(where, sizeof where, "f.cfg:%d: ", b->line);
    if (b->line > 0) cr_assert(strstr(msg, where) == msg, "'%s' does not start with '%s'", msg, where);
    cr_assert(strstr(msg, b->want), "'%s' does not say '%s'", msg, b->want);
}

Test(pipeline_config, errors_name_file_and_line) {
    static const bad_case cases[] = {
        {GOOD_DATA "model = \"m.cfg\";\nrun = { iterations = 0; };\n", "'iterations' = 0 is outside", 3},
        {GOOD_DATA "model = \"m.cfg\";\nrun = {\n  iterations = 5;\n  itterations = 5; };\n",
         "unknown key 'itterations' in run", 5},
        {GOOD_DATA "model = \"m.cfg\";\nrun = { iterations = 5;\n backend = \"gpu\"; };\n",
         "backend 'gpu': expected one of auto, cpu, vk", 4},
        {GOOD_DATA "model = \"m.cfg\";\nrun = { iterations = 5;\n warm_start_fraction = 1.5; };\n",
         "'warm_start_fraction' = 1.5 must be in (0, 1]", 4},
        {GOOD_DATA "model = \"m.cfg\";\nrun = { iterations = 5;\n warm_start_fraction = \"quarter\"; };\n",
         "'warm_start_fraction' must be a number", 4},
        {GOOD_DATA "model = 5;\nrun = { iterations = 5; };\n", "'model' must be a string", 2},
        {GOOD_DATA "model = \"m.cfg\";\nrun = { iterations = 5; };\nmodle = 3;\n", "unknown top-level key 'modle'", 4},
        {GOOD_DATA "model = \"m.cfg\";\nrun = { iterations = 5;\n output = \"pcap\"; as_flows = true; };\n",
         "output 'pcap' cannot hold flows", 4},
        {GOOD_DATA "model = \"m.cfg\";\nrun = { iterations = 5;\n flow_timeout_s = 3; };\n",
         "'flow_timeout_s' applies only with as_flows = true", 4},
        {GOOD_DATA "model = \"m.cfg\";\nrun = { iterations = 5; count = -1; };\n", "'count' = -1 is outside", 3},
        {GOOD_DATA "model = \"m.cfg\";\nrun = 5;\n", "'run' must be a group", 3},
        /* syntax errors: libconfig's own message with the line */
        {GOOD_DATA "model = \"m.cfg\";\nrun = { iterations = = 5; };\n", "syntax error", 3},
        /* the data group is engine/trace's, with its own file:line messages */
        {"data = {\n path = \"t.pcap\";\n n_chunks = 0; };\nmodel = \"m.cfg\";\nrun = { iterations = 5; };\n",
         "'n_chunks' = 0 is outside", 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) expect_bad(&cases[i]);
}

Test(pipeline_config, missing_parts_and_files) {
    vf_run_config rc;
    cr_assert_neq(vf_run_config_parse_string("f.cfg", GOOD_DATA "run = { iterations = 5; };\n", &rc), VF_OK);
    cr_assert(strstr(vf_last_error(), "f.cfg: no 'model'"), "%s", vf_last_error());
    cr_assert_neq(vf_run_config_parse_string("f.cfg", GOOD_DATA "model = \"m.cfg\";\n", &rc), VF_OK);
    cr_assert(strstr(vf_last_error(), "f.cfg: no 'run' group"), "%s", vf_last_error());
    cr_assert_neq(vf_run_config_parse_string("f.cfg", "model = \"m.cfg\";\nrun = { iterations = 5; };\n", &rc),
                  VF_OK);
    cr_assert(strstr(vf_last_error(), "no 'data' group"), "%s", vf_last_error());
    cr_assert_eq(vf_run_config_load("/nonexistent/x.cfg", &rc), VF_ERR_IO);
    cr_assert(strstr(vf_last_error(), "/nonexistent/x.cfg: cannot open"), "%s", vf_last_error());
}
