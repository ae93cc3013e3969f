/* vkflow eval REAL SYNTHETIC [--json FILE] [--html FILE]: fidelity of a
 * synthetic trace against a real one (engine/eval/eval.h). */
#include "commands.h"
#include "eval/eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f, "usage: vkflow eval [--strict] [--baselines] REAL SYNTHETIC [--json FILE] [--html FILE]\n"
               "  REAL, SYNTHETIC: two traces of the same kind (.pcap/.pcapng or flow .csv)\n"
               "  prints NetShare's two tables (JSD of srcip/dstip ranks, ports, proto; EMD of\n"
               "  the continuous fields) plus cross-field and privacy checks\n"
               "  --json FILE: the same numbers as JSON   --html FILE: self-contained report\n"
               "  --baselines: also the real-vs-real floor (REAL split by 5-tuple into halves,\n"
               "             seed 0) and the marginals baseline of every metric, a verdict per\n"
               "             metric (near the floor: <= 2x floor / better than marginals / worse\n"
               "             than marginals), and the distance from synthetic records to the\n"
               "             closest REAL record (REAL taken as the training data)\n"
               "  --strict: stop at the first bad record instead of skipping it\n");
}

static int read_trace(const char *path, const vf_read_options *opt, vf_trace *t) {
    if (isatty(2)) fprintf(stderr, "reading %s ...\n", path);
    if (vf_trace_read(path, opt, t) != VF_OK) {
        fprintf(stderr, "vkflow eval: %s\n", vf_last_error());
        return 1;
    }
    uint64_t sk = vf_trace_skipped_total(t);
    if (sk)
        fprintf(stderr, "vkflow eval: %s: skipped %llu of %llu input records (first: %s)\n", path,
                (unsigned long long)sk, (unsigned long long)t->n_input, t->first_skip);
    return 0;
}

int cmd_eval(int argc, char **argv) {
    const char *paths[2] = {NULL, NULL}, *json = NULL, *html = NULL;
    int np = 0;
    vf_read_options opt = {0};
    bool baselines = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else if (!strcmp(argv[i], "--html") && i + 1 < argc) html = argv[++i];
        else if (!strcmp(argv[i], "--strict")) opt.strict = true;
        else if (!strcmp(argv[i], "--baselines")) baselines = true;
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "vkflow eval: unknown or incomplete option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (np < 2) paths[np++] = argv[i];
        else { fprintf(stderr, "vkflow eval: unexpected argument '%s'\n", argv[i]); return 2; }
    }
    if (np != 2) { usage(stderr); return 2; }
    vf_trace real, syn;
    if (read_trace(paths[0], &opt, &real)) return 1;
    if (read_trace(paths[1], &opt, &syn)) { vf_trace_free(&real); return 1; }
    vf_eval_result *r = malloc(sizeof *r);
    int rc = 0;
    if (!r) { fprintf(stderr, "vkflow eval: out of memory\n"); rc = 1; goto done; }
    if (vf_eval_compare(&real, &syn, r) != VF_OK) {
        fprintf(stderr, "vkflow eval: %s vs %s: %s\n", paths[0], paths[1], vf_last_error());
        rc = 1;
        goto done;
    }
    snprintf(r->real_name, sizeof r->real_name, "%s", paths[0]);
    snprintf(r->syn_name, sizeof r->syn_name, "%s", paths[1]);
    if (baselines) {
        /* REAL is all the evaluator knows of the training data: the floor
         * splits it, the marginals are its own, DCR searches it */
        if (vf_eval_add_scale(&real, NULL, 0, r) != VF_OK ||
            vf_eval_dcr_compute(&real, &syn, NULL, VF_DCR_SAMPLES, 0, &r->privacy.dcr) != VF_OK) {
            fprintf(stderr, "vkflow eval: --baselines: %s\n", vf_last_error());
            rc = 1;
            goto done;
        }
        fprintf(stderr, "vkflow eval: floor and marginals in %.2f s, distance to closest record in %.2f s\n",
                r->scale.seconds, r->privacy.dcr.seconds);
    }
    if (vf_eval_print(stdout, r) != VF_OK) { fprintf(stderr, "vkflow eval: %s\n", vf_last_error()); rc = 1; }
    if (json && vf_eval_write_json(json, r) != VF_OK) {
        fprintf(stderr, "vkflow eval: %s\n", vf_last_error());
        rc = 1;
    }
    if (html && vf_eval_write_html(html, r) != VF_OK) {
        fprintf(stderr, "vkflow eval: %s\n", vf_last_error());
        rc = 1;
    }
    if (isatty(2)) fprintf(stderr, "compared in %.2f s\n", r->seconds);
done:
    free(r);
    vf_trace_free(&real);
    vf_trace_free(&syn);
    return rc;
}
