/* vkflow privacy: plan a privacy budget with the accountant
 * (engine/train/privacy.h, docs/PRIVACY.md "Planning a budget with vkflow
 * privacy"): epsilon for a noise multiplier, or the noise multiplier for an
 * epsilon. */
#include "commands.h"
#include "train/privacy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: vkflow privacy --q Q --sigma S --steps N --delta D [--mechanisms K]\n"
            "                      [--same-sample] [--orders opacus|tfp|wide|A,B,..] [--classic]\n"
            "       vkflow privacy --q Q --epsilon E --steps N --delta D [--mechanisms K]\n"
            "                      [--same-sample] [--orders opacus|tfp|wide|A,B,..] [--classic]\n"
            "  DP-SGD's privacy budget by the RDP accountant (Opacus's analysis): N steps of\n"
            "  K sampled Gaussian mechanisms each (Poisson sampling at rate Q, noise\n"
            "  multiplier S = noise std / clipping norm), composed.\n"
            "  With --sigma: prints epsilon at delta D (Balle et al. 2020, as Opacus) and the\n"
            "  best order, and the classic conversion's epsilon for information.\n"
            "  With --epsilon: prints the smallest noise multiplier (to 1e-4 relative) that\n"
            "  spends at most E at delta D; exit status 1 when no sigma <= 1e4 does.\n"
            "  --mechanisms K  private updates per step that each read real data (default 1;\n"
            "                  e.g. 2 for a diffusion GAN's D and G), each on its own\n"
            "                  Poisson sample\n"
            "  --same-sample   the K updates of a step read the SAME sample: accounted as\n"
            "                  one mechanism with noise multiplier S / sqrt(K) (costs more)\n"
            "  --orders        RDP orders: opacus (default: 1.1..10.9 by 0.1, 12..63), tfp\n"
            "                  (TF Privacy's: 1.25..4.5, 5..63, 128, 256, 512), wide (opacus\n"
            "                  and 64 * 1.1^k up to 1e5, for q 1 and small epsilon) or a\n"
            "                  list of numbers > 1 (at most %d, each <= 100000)\n"
            "  --classic       the classic conversion (Mironov 2017) is the headline epsilon\n"
            "                  and, with --epsilon, the one calibrated to\n",
            VF_RDP_MAX_ORDERS);
}

/* A finite number, the whole argument. */
static bool number(const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !isfinite(v)) return false;
    *out = v;
    return true;
}

static bool parse_orders(const char *s, vf_rdp *r) {
    if (!strcmp(s, "opacus")) {
        vf_rdp_init_opacus(r);
        return true;
    }
    if (!strcmp(s, "tfp")) {
        vf_rdp_init_tfp(r);
        return true;
    }
    if (!strcmp(s, "wide")) {
        vf_rdp_init_wide(r);
        return true;
    }
    double a[VF_RDP_MAX_ORDERS];
    int n = 0;
    const char *p = s;
    for (;;) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || !(v > 1) || !(v <= 100000)) {
            fprintf(stderr, "vkflow privacy: --orders: '%s' is not opacus, tfp or a comma-separated list of "
                    "orders in (1, 100000] (at '%s')\n", s, p);
            return false;
        }
        if (n == VF_RDP_MAX_ORDERS) {
            fprintf(stderr, "vkflow privacy: --orders: more than %d orders\n", VF_RDP_MAX_ORDERS);
            return false;
        }
        a[n++] = v;
        if (*end == 0) break;
        if (*end != ',') {
            fprintf(stderr, "vkflow privacy: --orders: unexpected '%s' in '%s'\n", end, s);
            return false;
        }
        p = end + 1;
    }
    vf_rdp_init_orders(r, n, a);
    return true;
}

static const char *grid_name(const char *orders) {
    if (!strcmp(orders, "opacus")) return "Opacus's orders";
    if (!strcmp(orders, "tfp")) return "TF Privacy's orders";
    if (!strcmp(orders, "wide")) return "Opacus's orders and 64..1e5";
    return "the given orders";
}

int cmd_privacy(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    /* NAN: not given */
    double q = NAN, sigma = NAN, eps = NAN, steps = NAN, delta = NAN, mech = 1;
    const char *orders = "opacus";
    bool classic = false, same = false;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        double *dst = !strcmp(o, "--q") ? &q : !strcmp(o, "--sigma") ? &sigma : !strcmp(o, "--epsilon") ? &eps
                      : !strcmp(o, "--steps") ? &steps : !strcmp(o, "--delta") ? &delta
                      : !strcmp(o, "--mechanisms") ? &mech : NULL;
        if (dst && i + 1 < argc) {
            if (!number(argv[++i], dst)) {
                fprintf(stderr, "vkflow privacy: %s '%s' is not a number\n", o, argv[i]);
                return 2;
            }
        } else if (!strcmp(o, "--orders") && i + 1 < argc) {
            orders = argv[++i];
        } else if (!strcmp(o, "--classic")) {
            classic = true;
        } else if (!strcmp(o, "--same-sample")) {
            same = true;
        } else if (o[0] == '-') {
            fprintf(stderr, "vkflow privacy: unknown or incomplete option '%s'\n", o);
            return 2;
        } else {
            fprintf(stderr, "vkflow privacy: unexpected argument '%s'\n", o);
            return 2;
        }
    }
    const char *missing = isnan(q) ? "--q" : isnan(steps) ? "--steps" : isnan(delta) ? "--delta" : NULL;
    if (missing) {
        fprintf(stderr, "vkflow privacy: %s is required\n\n", missing);
        usage(stderr);
        return 2;
    }
    if (isnan(sigma) == isnan(eps)) {
        fprintf(stderr, "vkflow privacy: give either --sigma (to get epsilon) or --epsilon (to get sigma), "
                "not %s\n", isnan(sigma) ? "neither" : "both");
        return 2;
    }
    if (!(q >= 0 && q <= 1)) {
        fprintf(stderr, "vkflow privacy: --q is a sampling rate in [0, 1], not %g\n", q);
        return 2;
    }
    if (!(steps >= 0)) {
        fprintf(stderr, "vkflow privacy: --steps must be >= 0, not %g\n", steps);
        return 2;
    }
    if (!(delta > 0 && delta < 1)) {
        fprintf(stderr, "vkflow privacy: --delta must be in (0, 1), not %g\n", delta);
        return 2;
    }
    if (!(mech >= 1 && mech <= 1000 && mech == floor(mech))) {
        fprintf(stderr, "vkflow privacy: --mechanisms is a whole number in 1..1000, not %g\n", mech);
        return 2;
    }
    if (!isnan(sigma) && !(sigma >= 0)) {
        fprintf(stderr, "vkflow privacy: --sigma must be >= 0, not %g\n", sigma);
        return 2;
    }
    if (!isnan(eps) && !(eps > 0)) {
        fprintf(stderr, "vkflow privacy: --epsilon must be > 0, not %g\n", eps);
        return 2;
    }
    vf_rdp r;
    if (!parse_orders(orders, &r)) return 2;
    int k = (int)mech;
    /* K releases on one sample: one SGM with noise multiplier S / sqrt(K),
     * once per step; K on their own samples: K SGMs per step. */
    double scale = same ? sqrt(k) : 1;
    int per_step = same ? 1 : k;
    const char *conv = classic ? "classic conversion (Mironov 2017)" : "Balle et al. 2020 conversion, as Opacus";
    printf("q %g, %g steps x %d mechanism(s) per step%s, delta %g, %d RDP orders (%s)\n", q, steps, k,
           k > 1 ? (same ? " on one sample" : " on their own samples") : "", delta, r.n, grid_name(orders));
    if (!isnan(eps)) {
        double s;
        if (vf_rdp_calibrate_sigma_grid(&r, classic, q, steps, per_step, delta, eps, &s) != VF_OK) {
            fprintf(stderr, "vkflow privacy: %s\n", vf_last_error());
            return 1;
        }
        vf_rdp_add_sgm(&r, q, s, steps * per_step);
        s *= scale;
        double a, spent = classic ? vf_rdp_epsilon_classic(&r, delta, &a) : vf_rdp_epsilon(&r, delta, &a);
        printf("sigma %.6g\n", s);
        printf("  (noise multiplier: noise std / clipping norm; it spends epsilon %.10g <= %g at order %g, "
               "%s)\n", spent, eps, a, conv);
        return 0;
    }
    vf_rdp_add_sgm(&r, q, sigma / scale, steps * per_step);
    double a, ac;
    double e = vf_rdp_epsilon(&r, delta, &a), ec = vf_rdp_epsilon_classic(&r, delta, &ac);
    double head = classic ? ec : e, head_a = classic ? ac : a, other = classic ? e : ec, other_a = classic ? a : ac;
    printf("epsilon %.10g\n", head);
    printf("  (at order %g, %s)\n", head_a, conv);
    printf("  %s %.10g at order %g, for information\n",
           classic ? "the Balle et al. 2020 conversion (Opacus) gives" : "the classic conversion gives", other,
           other_a);
    double lo = r.alpha[0], hi = r.alpha[0];
    for (int i = 1; i < r.n; i++) {
        lo = fmin(lo, r.alpha[i]);
        hi = fmax(hi, r.alpha[i]);
    }
    if (isfinite(head) && r.n > 1 && (head_a == lo || head_a == hi))
        printf("  note: the best order is the %s of the grid; a wider --orders list may give a smaller "
               "epsilon\n", head_a == lo ? "smallest" : "largest");
    return 0;
}
