/* The two baselines on the shared real files behave as measured
 * independently (../shared/data/FLOORS.md, docs/EVALUATION.md), seed 0:
 *  - split floor: small on IP-rank, protocol and single-field EMDs, large on
 *    port JSDs (ephemeral ports belong to one flow, so the halves share few);
 *  - marginals, scored in-sample against its own source: below the floor on
 *    ports, protocol and every single-field EMD, but well above it on flow
 *    size / records per 5-tuple and within-flow inter-arrival times.
 * IoT-23 is one 5-tuple for 61% of its records, so its split is not a floor
 * (FLOORS.md); only the marginals-below-split checks run there. */
#include <criterion/criterion.h>
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "eval/eval.h"

#define OK(expr)                                                                      \
    do {                                                                              \
        vf_status s_ = (expr);                                                        \
        cr_assert_eq(s_, VF_OK, "%s failed: %s", #expr, vf_last_error());             \
    } while (0)

static void check_file(const char *file, bool split_meaningful) {
    const char *path = tu_shared_data(file);
    vf_trace t, a, b, m;
    vf_read_options opt = {0};
    OK(vf_trace_read(path, &opt, &t));
    OK(vf_baseline_split(&t, 0, &a, &b));
    OK(vf_baseline_marginals(&t, 0, &m));
    vf_eval_result *fl = malloc(sizeof *fl), *mg = malloc(sizeof *mg);
    cr_assert(fl && mg);
    OK(vf_eval_compare(&a, &b, fl));
    OK(vf_eval_compare(&t, &m, mg));
    bool flows = t.kind == VF_TRACE_FLOWS;

    /* Ports: the floor is large (0.17 - 0.64 nats in FLOORS.md), the
     * in-sample marginals far below it. */
    for (int j = VF_JSD_SRCPORT; j <= VF_JSD_DSTPORT; j++) {
        double f = fl->jsd[j].v.nats, g = mg->jsd[j].v.nats;
        cr_assert(f > 0.1 && f <= log(2.0), "%s split %s = %g nats", file, vf_eval_jsd_name(j), f);
        cr_assert(g < f / 4, "%s marginals %s = %g, split %g", file, vf_eval_jsd_name(j), g, f);
    }
    cr_assert(mg->jsd[VF_JSD_PROTO].v.nats < fl->jsd[VF_JSD_PROTO].v.nats, "%s proto", file);

    const int single[2][4] = {{VF_EMD_PKT_LEN, VF_EMD_TIME, -1, -1},
                              {VF_EMD_TS, VF_EMD_TD, VF_EMD_PKT, VF_EMD_BYT}};
    for (int i = 0; i < 4; i++) {
        int f = single[flows][i];
        if (f < 0) continue;
        cr_assert(fl->emd[f].valid && mg->emd[f].valid);
        cr_assert(mg->emd[f].norm < fl->emd[f].norm, "%s %s: marginals %g >= split %g", file,
                  vf_eval_emd_name(f), mg->emd[f].norm, fl->emd[f].norm);
        if (split_meaningful)
            cr_assert(fl->emd[f].norm < 0.15, "%s split %s norm EMD %g", file,
                      vf_eval_emd_name(f), fl->emd[f].norm);
    }
    if (split_meaningful) {
        for (int j = VF_JSD_SRCIP; j <= VF_JSD_DSTIP; j++)
            cr_assert(fl->jsd[j].v.nats < 0.05, "%s split %s = %g", file, vf_eval_jsd_name(j),
                      fl->jsd[j].v.nats);
        cr_assert(fl->jsd[VF_JSD_PROTO].v.nats < 0.01, "%s split proto = %g", file,
                  fl->jsd[VF_JSD_PROTO].v.nats);
        /* Cross-field: marginals destroy flow structure. FLOORS.md measured
         * 3.4x - 298x at its seed 0; its own seed ranges allow ~2.3x at the
         * low end (CAIDA flow size), so 2x is the bound. */
        int cf = flows ? VF_EMD_RECORDS_PER_5TUPLE : VF_EMD_FLOW_SIZE;
        cr_assert(mg->emd[cf].norm > 2 * fl->emd[cf].norm, "%s %s: marginals %g, split %g", file,
                  vf_eval_emd_name(cf), mg->emd[cf].norm, fl->emd[cf].norm);
        if (!flows) {
            const vf_eval_emd *x = &mg->emd[VF_EMD_IAT_WITHIN_FLOW], *y = &fl->emd[VF_EMD_IAT_WITHIN_FLOW];
            cr_assert(x->norm > 3 * y->norm, "%s iat_within_flow: marginals %g, split %g", file,
                      x->norm, y->norm);
        }
    }
    free(fl);
    free(mg);
    vf_trace_free(&t);
    vf_trace_free(&a);
    vf_trace_free(&b);
    vf_trace_free(&m);
}

Test(eval_baselines, ugr16) { check_file("flows_ugr16_netflow_2016-04-11_13hosts.csv", true); }
Test(eval_baselines, iot23) { check_file("flows_iot23_zeekconn_ctu-malware-capture-34-1.csv", false); }
Test(eval_baselines, caida) { check_file("pcap_caida_equinix-nyc_2018-03-15_10k.pcapng", true); }
Test(eval_baselines, pathspider) {
    check_file("pcap_enterprise_pathspider_real_2012-11-23.pcap", true);
}
