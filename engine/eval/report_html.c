/* vf_eval_write_html: one self-contained HTML file (no scripts, no network):
 * the metric tables, then plots drawn by gnuplot as SVG and embedded as
 * data: URIs (base64), one gnuplot process per plot so that one failing plot
 * cannot take the others down. Why gnuplot: see docs/EVALUATION.md. */
#include "eval/eval.h"
#include "eval/eval_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ------------------------------------------------------------- helpers */

static void esc(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static void fnum(FILE *f, double v) {
    if (isnan(v)) fputs("n/a", f);
    else fprintf(f, "%.4g", v);
}

static void base64(FILE *f, const unsigned char *d, size_t n) {
    static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (unsigned)d[i + 1] << 8 | d[i + 2];
        fputc(T[v >> 18], f); fputc(T[(v >> 12) & 63], f);
        fputc(T[(v >> 6) & 63], f); fputc(T[v & 63], f);
    }
    if (n - i == 1) {
        unsigned v = (unsigned)d[i] << 16;
        fputc(T[v >> 18], f); fputc(T[(v >> 12) & 63], f); fputs("==", f);
    } else if (n - i == 2) {
        unsigned v = (unsigned)d[i] << 16 | (unsigned)d[i + 1] << 8;
        fputc(T[v >> 18], f); fputc(T[(v >> 12) & 63], f); fputc(T[(v >> 6) & 63], f);
        fputc('=', f);
    }
}

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            unsigned char *p = realloc(buf, cap);
            if (!p) { free(buf); fclose(f); return NULL; }
            buf = p;
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (k == 0) break;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* --------------------------------------------------------------- plots */

typedef struct plotter {
    const char *gnuplot;   /* program */
    char dir[4096];        /* temp dir for scripts, SVGs, logs */
    int n;                 /* plots attempted */
    bool missing;          /* gnuplot could not be started */
    char first_err[512];   /* first failure, for the note */
} plotter;

/* Runs gnuplot on script and returns the SVG bytes (caller frees) or NULL. */
static unsigned char *run_plot(plotter *p, const char *script, const char *svg, size_t *len) {
    if (p->missing) return NULL;
    char log[4200];
    snprintf(log, sizeof log, "%s/gnuplot.log", p->dir);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    char *argv[] = {(char *)p->gnuplot, (char *)script, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, p->gnuplot, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        p->missing = true;
        snprintf(p->first_err, sizeof p->first_err, "cannot run '%s': %s", p->gnuplot, strerror(rc));
        return NULL;
    }
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        if (WIFEXITED(ws) && WEXITSTATUS(ws) == 127) { /* exec failed in the child */
            p->missing = true;
            snprintf(p->first_err, sizeof p->first_err, "cannot run '%s' (not installed?)",
                     p->gnuplot);
            return NULL;
        }
        if (!p->first_err[0]) {
            size_t ll = 0;
            unsigned char *msg = slurp(log, &ll);
            char line[300] = "";
            if (msg) {
                /* the last non-empty line usually names the error */
                size_t e = ll;
                while (e > 0 && (msg[e - 1] == '\n' || msg[e - 1] == ' ')) e--;
                size_t b = e;
                while (b > 0 && msg[b - 1] != '\n') b--;
                snprintf(line, sizeof line, "%.*s", (int)(e - b), (const char *)msg + b);
                free(msg);
            }
            snprintf(p->first_err, sizeof p->first_err, "gnuplot failed on %s: %s", script, line);
        }
        return NULL;
    }
    unsigned char *d = slurp(svg, len);
    if (!d || *len < 100) {
        free(d);
        if (!p->first_err[0])
            snprintf(p->first_err, sizeof p->first_err, "gnuplot wrote no SVG for %s", script);
        return NULL;
    }
    return d;
}

/* Common preamble: SVG terminal, white background, DejaVu Sans. */
static void preamble(FILE *g, const char *svg, const char *title) {
    fprintf(g, "set terminal svg size 560,360 font 'DejaVu Sans,11' background rgb 'white'\n");
    fprintf(g, "set output '%s'\n", svg);
    fprintf(g, "set title \"%s\" noenhanced\n", title);
    fprintf(g, "set grid lc rgb '#dddddd'\nset border lc rgb '#555555'\n");
}

static void datablock(FILE *g, const char *name, const vf_eval_cdf *c, bool logx) {
    fprintf(g, "$%s << EOD\n", name);
    for (int i = 0; i < c->n; i++)
        if (!logx || c->x[i] > 0) fprintf(g, "%.17g %.17g\n", c->x[i], c->F[i]);
    fprintf(g, "EOD\n");
}

static int positive_points(const vf_eval_cdf *c) {
    int k = 0;
    for (int i = 0; i < c->n; i++) k += c->x[i] > 0;
    return k;
}

/* Writes one figure to the report: <figure><img ...><figcaption>. */
static void emit_figure(FILE *out, plotter *p, const char *script, const char *svg,
                        const char *alt, const char *caption) {
    size_t len = 0;
    unsigned char *d = run_plot(p, script, svg, &len);
    if (!d) return;
    fprintf(out, "<figure><img width=\"560\" height=\"360\" alt=\"");
    esc(out, alt);
    fprintf(out, "\" src=\"data:image/svg+xml;base64,");
    base64(out, d, len);
    fprintf(out, "\"><figcaption>");
    esc(out, caption);
    fprintf(out, "</figcaption></figure>\n");
    free(d);
}

/* Colours of the curves: the real trace first (solid), then one per
 * synthetic trace (dashed), cycling when there are more. */
static const char *const CURVE_COLOURS[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                            "#9467bd", "#8c564b", "#e377c2", "#17becf"};
#define N_CURVE_COLOURS (int)(sizeof CURVE_COLOURS / sizeof CURVE_COLOURS[0])

/* Log x when the real values are heavy-tailed and every curve has positive
 * values to draw (an empty curve has none: then linear). NULL curves do not count. */
static bool curves_logx(bool heavy_tailed, const vf_eval_cdf *const *cdf, int n) {
    bool logx = heavy_tailed;
    for (int i = 0; i < n; i++)
        if (cdf[i] && positive_points(cdf[i]) == 0) logx = false;
    return logx;
}

static void cdf_plot_curves(FILE *out, plotter *p, int f, bool heavy_tailed, const vf_eval_cdf *const *cdf,
                            const char *const *label, int n, const char *caption) {
    bool logx = curves_logx(heavy_tailed, cdf, n), any = false;
    for (int i = 0; i < n; i++) any |= cdf[i] && cdf[i]->n > 0;
    if (!any) return;
    char script[4300], svg[4300], title[128];
    int k = p->n++;
    snprintf(script, sizeof script, "%s/plot%d.gp", p->dir, k);
    snprintf(svg, sizeof svg, "%s/plot%d.svg", p->dir, k);
    FILE *g = fopen(script, "w");
    if (!g) return;
    snprintf(title, sizeof title, "CDF of %s (%s)", vf_eval_emd_name(f), vf_eval_emd_unit(f));
    preamble(g, svg, title);
    fprintf(g, "set xlabel \"%s (%s)%s\" noenhanced\nset ylabel 'fraction of values <= x'\n",
            vf_eval_emd_name(f), vf_eval_emd_unit(f), logx ? ", log scale" : "");
    fprintf(g, "set yrange [0:1.02]\nset key bottom right noenhanced\n");
    if (logx) fprintf(g, "set logscale x\nset format x '10^{%%L}'\n");
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "C%d", i);
        if (cdf[i] && cdf[i]->n) datablock(g, name, cdf[i], logx);
    }
    fprintf(g, "plot ");
    bool first = true;
    for (int i = 0; i < n; i++) {
        if (!cdf[i] || cdf[i]->n == 0) continue;
        fprintf(g, "%s$C%d using 1:2 with steps lw 2%s lc rgb '%s' title \"", first ? "" : ", ", i,
                i ? " dt 2" : "", CURVE_COLOURS[i % N_CURVE_COLOURS]);
        for (const char *c = label[i]; *c; c++)   /* a gnuplot string: no quotes or backslashes */
            if (*c != '"' && *c != '\\') fputc(*c, g);
        fputc('"', g);
        first = false;
    }
    fprintf(g, "\n");
    fclose(g);
    emit_figure(out, p, script, svg, title, caption);
}

static void cdf_plot(FILE *out, plotter *p, const vf_eval_result *r, int f) {
    const vf_eval_emd *e = &r->emd[f];
    const vf_eval_cdf *cdf[2] = {&e->cdf_real, &e->cdf_syn};
    const char *label[2] = {"real", "synthetic"};
    bool logx = curves_logx(e->heavy_tailed, cdf, 2);
    char caption[512];
    snprintf(caption, sizeof caption, "%s: %s. EMD %.4g %s, normalised %.4g.%s",
             vf_eval_emd_name(f), vf_eval_emd_basis[f], e->valid ? e->emd : NAN,
             vf_eval_emd_unit(f), e->valid ? e->norm : NAN,
             logx ? " Log x: values <= 0 are not drawn; a curve starts at their share." : "");
    cdf_plot_curves(out, p, f, e->heavy_tailed, cdf, label, 2, caption);
}

static void port_plot(FILE *out, plotter *p, const vf_eval_result *r, int d) {
    if (r->n_port_cmp[d] == 0) return;
    char script[4300], svg[4300], title[128];
    int k = p->n++;
    snprintf(script, sizeof script, "%s/plot%d.gp", p->dir, k);
    snprintf(svg, sizeof svg, "%s/plot%d.svg", p->dir, k);
    FILE *g = fopen(script, "w");
    if (!g) return;
    snprintf(title, sizeof title, "Top %s ports: share of records", d ? "destination" : "source");
    preamble(g, svg, title);
    fprintf(g, "set style data histograms\nset style histogram clustered gap 1\n"
               "set style fill solid 0.85 border -1\nset boxwidth 0.9\nset yrange [0:*]\n"
               "set xtics rotate by -45 scale 0 font ',9'\nset key top right\n"
               "set ylabel 'share of records'\nset grid noxtics\n");
    fprintf(g, "$D << EOD\n");
    for (int i = 0; i < r->n_port_cmp[d]; i++)
        fprintf(g, "\"%u\" %.17g %.17g\n", (unsigned)r->port_cmp[d][i].port,
                r->port_cmp[d][i].real, r->port_cmp[d][i].syn);
    fprintf(g, "EOD\nplot $D using 2:xtic(1) lc rgb '#1f77b4' title 'real', "
               "$D using 3 lc rgb '#d62728' title 'synthetic'\n");
    fclose(g);
    emit_figure(out, p, script, svg, title,
                "Union of the real and synthetic top-10 ports (real's first), share of each "
                "trace's records.");
}

static void proto_plot(FILE *out, plotter *p, const vf_eval_result *r) {
    if (r->n_proto == 0) return;
    char script[4300], svg[4300];
    int k = p->n++;
    snprintf(script, sizeof script, "%s/plot%d.gp", p->dir, k);
    snprintf(svg, sizeof svg, "%s/plot%d.svg", p->dir, k);
    FILE *g = fopen(script, "w");
    if (!g) return;
    preamble(g, svg, "Protocol mix: share of records");
    fprintf(g, "set style data histograms\nset style histogram clustered gap 1\n"
               "set style fill solid 0.85 border -1\nset boxwidth 0.9\nset yrange [0:*]\n"
               "set xtics scale 0\nset key top right\nset ylabel 'share of records'\n"
               "set grid noxtics\n");
    fprintf(g, "$D << EOD\n");
    int shown = r->n_proto < 12 ? r->n_proto : 12;
    for (int i = 0; i < shown; i++) {
        const char *nm = vf_proto_name(r->proto[i].proto);
        if (nm) fprintf(g, "\"%s\" %.17g %.17g\n", nm, r->proto[i].real, r->proto[i].syn);
        else fprintf(g, "\"%u\" %.17g %.17g\n", (unsigned)r->proto[i].proto, r->proto[i].real,
                     r->proto[i].syn);
    }
    fprintf(g, "EOD\nplot $D using 2:xtic(1) lc rgb '#1f77b4' title 'real', "
               "$D using 3 lc rgb '#d62728' title 'synthetic'\n");
    fclose(g);
    emit_figure(out, p, script, svg, "Protocol mix",
                shown < r->n_proto ? "The 12 most common protocols of the real trace."
                                   : "Every protocol present in either trace.");
}

/* Removes the temp dir's files (we know their names). */
static void cleanup(plotter *p) {
    char path[4300];
    for (int k = 0; k < p->n; k++) {
        snprintf(path, sizeof path, "%s/plot%d.gp", p->dir, k);
        unlink(path);
        snprintf(path, sizeof path, "%s/plot%d.svg", p->dir, k);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/gnuplot.log", p->dir);
    unlink(path);
    rmdir(p->dir);
}

/* ------------------------------------------------------- page framing */

/* <!DOCTYPE html> ... <h1>title</h1>: the style every report shares. */
static void page_head(FILE *f, const char *title) {
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<title>", f);
    esc(f, title);
    fputs("</title>\n<style>\n"
          "body{font-family:'DejaVu Sans',Arial,sans-serif;margin:24px;color:#222;max-width:1200px}\n"
          "h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ccc}h3{font-size:15px}\n"
          "table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;"
          "padding:3px 8px;font-size:13px}th{background:#f2f2f2}td.n{text-align:right;"
          "font-variant-numeric:tabular-nums}caption{font-weight:bold;text-align:left}\n"
          "table.small{display:inline-table;margin-right:24px;vertical-align:top}\n"
          ".conv{font-size:12px;color:#444}.note{background:#fff3cd;border:1px solid #e0c060;"
          "padding:8px}\nfigure{display:inline-block;margin:6px;vertical-align:top}"
          "figcaption{font-size:12px;max-width:560px;color:#444}\n"
          ".v-near{background:#d9f2d9}.v-better{background:#fff3cd}.v-worse{background:#f8d7da}\n"
          ".scored{border-left:4px solid #1f77b4;padding:4px 10px;background:#f4f8fc}\n"
          "</style></head><body>\n<h1>", f);
    esc(f, title);
    fputs("</h1>\n", f);
}

/* The plots of a page are drawn into a memory buffer first, so that a note
 * saying which could not be drawn can precede them. */
typedef struct plots {
    plotter p;
    bool have_dir;   /* the temp dir for gnuplot's files exists */
    FILE *f;         /* write figures here (the buffer) */
    char *buf;
    size_t len;
} plots;

/* Non-zero when out of memory. */
static int plots_begin(plots *pl) {
    memset(pl, 0, sizeof *pl);
    const char *gp = getenv("VKFLOW_GNUPLOT");
    pl->p.gnuplot = gp && *gp ? gp : "gnuplot";
    const char *tmp = getenv("TMPDIR");
    snprintf(pl->p.dir, sizeof pl->p.dir, "%s/vkflow-report-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    pl->have_dir = mkdtemp(pl->p.dir) != NULL;
    if (!pl->have_dir) {
        snprintf(pl->p.first_err, sizeof pl->p.first_err, "cannot create a temp dir: %s", strerror(errno));
        pl->p.missing = true;
    }
    pl->f = open_memstream(&pl->buf, &pl->len);
    if (!pl->f) {
        if (pl->have_dir) rmdir(pl->p.dir);
        return 1;
    }
    return 0;
}

/* Removes gnuplot's files, writes the note (when a plot is missing) and the
 * figures to out, frees the buffer. */
static void plots_end(plots *pl, FILE *out) {
    if (pl->have_dir) cleanup(&pl->p);
    fclose(pl->f);
    int drawn = 0;
    for (const char *s = pl->buf; s && (s = strstr(s, "<img ")); s++) drawn++;
    const plotter *p = &pl->p;
    if (p->first_err[0] || drawn < p->n || !pl->have_dir) {
        fputs("<p class=note><b>Note:</b> ", out);
        if (p->missing)
            fputs("plots were not drawn: ", out);
        else
            fprintf(out, "%d of %d plots were not drawn: ", p->n - drawn, p->n);
        esc(out, p->first_err);
        fputs(". Install gnuplot (Debian: gnuplot-nox) or point VKFLOW_GNUPLOT at it; "
              "the tables above are complete.</p>\n", out);
    }
    fwrite(pl->buf, 1, pl->len, out);
    free(pl->buf);
    pl->buf = NULL;
}

/* -------------------------------------------------------------- tables */

static void jsd_tr(FILE *f, const vf_eval_result *r, int j) {
    const vf_eval_jsd *e = &r->jsd[j];
    fprintf(f, "<tr><td>%s</td><td class=n>", vf_eval_jsd_name(j));
    fnum(f, e->valid ? e->v.nats : NAN);
    fputs("</td><td class=n>", f);
    fnum(f, e->valid ? e->v.bits : NAN);
    fprintf(f, "</td><td class=n>%zu / %zu</td><td>", e->support_real, e->support_syn);
    esc(f, vf_eval_jsd_basis[j]);
    fputs("</td></tr>\n", f);
}

static void emd_tr(FILE *f, const vf_eval_result *r, int j) {
    const vf_eval_emd *e = &r->emd[j];
    fprintf(f, "<tr><td>%s</td><td>%s</td><td class=n>", vf_eval_emd_name(j), vf_eval_emd_unit(j));
    fnum(f, e->valid ? e->emd : NAN);
    fputs("</td><td class=n>", f);
    fnum(f, e->valid ? e->norm : NAN);
    fputs("</td><td class=n>", f);
    fnum(f, e->median_real);
    fputs("</td><td class=n>", f);
    fnum(f, e->median_syn);
    fputs("</td><td>", f);
    esc(f, vf_eval_emd_basis[j]);
    fputs("</td></tr>\n", f);
}

static const char *EMD_HEAD =
    "<tr><th>field</th><th>unit</th><th>EMD</th><th>norm EMD</th><th>median real</th>"
    "<th>median synthetic</th><th>values</th></tr>\n";

static void top_table(FILE *f, const vf_eval_result *r, int d) {
    const vf_eval_topval *tr = d ? r->real.top_dport : r->real.top_sport;
    const vf_eval_topval *ts = d ? r->syn.top_dport : r->syn.top_sport;
    int nr = d ? r->real.n_top_dport : r->real.n_top_sport;
    int ns = d ? r->syn.n_top_dport : r->syn.n_top_sport;
    fprintf(f, "<table class=small><caption>Top %d %s ports</caption>\n"
               "<tr><th>#</th><th>real</th><th>share</th><th>synthetic</th><th>share</th></tr>\n",
            VF_EVAL_TOPK, d ? "destination" : "source");
    for (int i = 0; i < VF_EVAL_TOPK && (i < nr || i < ns); i++) {
        fprintf(f, "<tr><td class=n>%d</td>", i + 1);
        if (i < nr) fprintf(f, "<td class=n>%u</td><td class=n>%.2f%%</td>", tr[i].value, 100 * tr[i].share);
        else fputs("<td></td><td></td>", f);
        if (i < ns) fprintf(f, "<td class=n>%u</td><td class=n>%.2f%%</td>", ts[i].value, 100 * ts[i].share);
        else fputs("<td></td><td></td>", f);
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void share_cell(FILE *f, size_t k, size_t n) {
    fprintf(f, "<td class=n>%zu / %zu</td><td class=n>%.2f%%</td>", k, n,
            n ? 100.0 * (double)k / (double)n : 0.0);
}

/* --------------------------------------- scoring, verdicts, distinct, DCR */

/* Which way the synthetic trace was scored, in plain words. */
static void scoring_note(FILE *f, const vf_eval_result *r) {
    fputs("<p class=scored>", f);
    switch (r->scoring) {
    case VF_SCORED_HELD_OUT:
        fprintf(f, "<b>Scored out of sample.</b> The model trained on %.0f%% of the real 5-tuples and is scored "
                   "against the other %.0f%% (held out: flows it never saw). These are the honest numbers.",
                100 * (1 - r->holdout), 100 * r->holdout);
        break;
    case VF_SCORED_IN_SAMPLE:
        fputs("<b>Scored in sample.</b> The model trained on this real trace and is scored against the same trace. "
              "In-sample scores reward copying: a model that memorised its training data would look perfect. "
              "For the honest number, hold flows out: <code>vkflow run --holdout 0.5</code>.", f);
        break;
    default:
        fputs("<b>Scoring: unknown.</b> vkflow eval does not know what the synthetic trace was trained on. If its "
              "model trained on this real trace, these are in-sample scores, and in-sample scores reward copying; "
              "score against flows the model never saw for the honest number (<code>vkflow run --holdout 0.5</code>).",
              f);
        break;
    }
    fputs("</p>\n", f);
}

static const char *verdict_class(vf_verdict v) {
    switch (v) {
    case VF_VERDICT_NEAR_FLOOR: return "v-near";
    case VF_VERDICT_BETTER_THAN_MARGINALS: return "v-better";
    case VF_VERDICT_WORSE_THAN_MARGINALS: return "v-worse";
    case VF_VERDICT_NA: break;
    }
    return "v-na";
}

/* The verdict table: every judged row with the synthetic value, the floor,
 * the marginals baseline, the ratio to the floor and the verdict. */
static void verdict_section(FILE *f, const vf_eval_result *r) {
    const vf_eval_scale *sc = &r->scale;
    fputs("<h2 id=verdicts>How good is it: floor, marginals, verdict</h2>\n", f);
    if (!sc->valid) {
        fputs("<p>The floor and the marginals baseline were not computed (<code>vkflow eval --baselines</code>; "
              "<code>vkflow run</code> computes them unless <code>run.baselines = false</code>).</p>\n", f);
        return;
    }
    int n[4], judged = vf_eval_count_verdicts(r, n);
    fprintf(f, "<p><b>%d of %d metrics near the floor, %d better than marginals, %d worse than marginals</b>%s.</p>\n",
            n[VF_VERDICT_NEAR_FLOOR], judged, n[VF_VERDICT_BETTER_THAN_MARGINALS], n[VF_VERDICT_WORSE_THAN_MARGINALS],
            n[VF_VERDICT_NA] ? " (the others: n/a)" : "");
    fprintf(f, "<p class=conv>floor: the same metric between two halves of the real trace split by 5-tuple (seed "
               "%llu; %zu and %zu records): what two samples of the same network that share no flow score. "
               "marginals: every field drawn independently from the %s's own distribution, scored as the "
               "synthetic trace is: it keeps every single-field distribution and no correlation between fields. "
               "Verdict: <b>near the floor</b> when the synthetic value is at most 2x the floor, else <b>better "
               "than marginals</b> when it is below the marginals baseline, else <b>worse than marginals</b>. "
               "Lower is better. Computed in %.2f s.</p>\n",
            (unsigned long long)sc->seed, sc->split_a, sc->split_b,
            r->scoring == VF_SCORED_HELD_OUT ? "training part" : "real trace", sc->seconds);
    fputs("<table class=verdicts>\n<tr><th>metric</th><th>unit</th><th>synthetic</th><th>floor</th>"
          "<th>marginals</th><th>/floor</th><th>verdict</th></tr>\n", f);
    for (int k = 0; k < sc->n_rows; k++) {
        const vf_eval_row *x = &sc->rows[k];
        if (!vf_eval_row_judged(x)) continue;
        double v = vf_eval_row_value(x, r);
        vf_verdict vd = vf_eval_row_verdict(r, k);
        fprintf(f, "<tr><td>%s</td><td>", x->key);
        esc(f, x->unit);
        fputs("</td><td class=n>", f);
        fnum(f, v);
        fputs("</td><td class=n>", f);
        fnum(f, sc->floor[k]);
        fputs("</td><td class=n>", f);
        fnum(f, sc->marginals[k]);
        double q = vf_eval_ratio(v, sc->floor[k]);
        if (isfinite(q)) fprintf(f, "</td><td class=n>%.3gx", q);
        else fputs("</td><td class=n>n/a", f);
        fprintf(f, "</td><td class=%s>%s</td></tr>\n", verdict_class(vd), vf_verdict_text(vd));
    }
    fputs("</table>\n", f);
}

static void count_row(FILE *f, const char *what, double real, double syn) {
    fprintf(f, "<tr><td>%s</td><td class=n>", what);
    fnum(f, real);
    fputs("</td><td class=n>", f);
    fnum(f, syn);
    fputs("</td><td class=n>", f);
    fnum(f, real > 0 ? syn / real : NAN);
    fputs("</td></tr>\n", f);
}

static void distinct_table(FILE *f, const vf_eval_result *r) {
    const vf_eval_side *a = &r->real, *b = &r->syn;
    fputs("<table class=distinct><caption>Distinct counts</caption>\n<tr><th>count</th><th>real</th>"
          "<th>synthetic</th><th>synthetic / real</th></tr>\n", f);
    count_row(f, "records", (double)a->records, (double)b->records);
    count_row(f, "source hosts", (double)a->src_addrs, (double)b->src_addrs);
    count_row(f, "destination hosts", (double)a->dst_addrs, (double)b->dst_addrs);
    count_row(f, "source ports", (double)a->src_ports, (double)b->src_ports);
    count_row(f, "destination ports", (double)a->dst_ports, (double)b->dst_ports);
    count_row(f, "5-tuples", (double)a->five_tuples, (double)b->five_tuples);
    count_row(f, "records per 5-tuple: mean", a->recs_per_5tuple_mean, b->recs_per_5tuple_mean);
    count_row(f, "records per 5-tuple: median", a->recs_per_5tuple_median, b->recs_per_5tuple_median);
    count_row(f, "records per 5-tuple: max", (double)a->recs_per_5tuple_max, (double)b->recs_per_5tuple_max);
    fputs("</table>\n<p class=conv>Hosts are distinct addresses, ports distinct values, 5-tuples distinct "
          "directional (src, dst, sport, dport, proto). Counts grow with the number of records: compare them "
          "when the two traces have about as many records (first row).</p>\n", f);
}

static void dcr_section(FILE *f, const vf_eval_result *r) {
    const vf_eval_dcr *d = &r->privacy.dcr;
    fputs("<h3>Distance to closest record</h3>\n", f);
    if (!d->valid) {
        fputs("<p>Not computed (<code>vkflow eval --baselines</code>; <code>vkflow run</code> computes it).</p>\n", f);
        return;
    }
    fprintf(f, "<table class=dcr><tr><th>records</th><th>sampled</th><th>median DCR</th><th>5th percentile</th>"
               "<th>at distance 0</th></tr>\n<tr><td>synthetic</td><td class=n>%zu</td><td class=n>", d->n_syn);
    fnum(f, d->syn_median);
    fputs("</td><td class=n>", f);
    fnum(f, d->syn_p5);
    fprintf(f, "</td><td class=n>%zu</td></tr>\n", d->syn_zero);
    if (d->have_holdout) {
        fprintf(f, "<tr><td>held-out real</td><td class=n>%zu</td><td class=n>", d->n_hold);
        fnum(f, d->hold_median);
        fputs("</td><td class=n>", f);
        fnum(f, d->hold_p5);
        fputs("</td><td></td></tr>\n", f);
    }
    fputs("</table>\n", f);
    if (!d->have_holdout) {
        fputs("<p class=dcr-verdict>The comparison with unseen real records needs held-out records: run with "
              "<code>vkflow run --holdout 0.5</code>. Without it the distances above have nothing to be measured "
              "against.</p>\n", f);
    } else {
        fprintf(f, "<p class=dcr-verdict><b>Synthetic records are %s to the training data than unseen real records "
                   "are</b>: %.1f%% of the synthetic sample is closer than the 5th percentile of the held-out "
                   "sample (5%% expected of records like unseen ones; above %.0f%% counts as closer).%s</p>\n",
                d->closer ? "closer" : "no closer", 100 * d->share_below_hold_p5, 100 * VF_DCR_CLOSER_SHARE,
                d->closer ? " The model may be copying training records." : "");
    }
    fprintf(f, "<p class=conv>DCR: the distance from a record to the nearest of the %zu training records: the mean of "
               "%d per-field terms in [0, 1]: source and destination address (differing bits / 32), source port, "
               "destination port, protocol (0 equal, 1 not), and, scaled by the training range and capped at 1, "
               "the time since the trace's start and log1p of %s. Exact nearest neighbour; samples seeded; "
               "%.2f s.</p>\n",
            d->n_train, r->kind == VF_TRACE_FLOWS ? 9 : 7,
            r->kind == VF_TRACE_FLOWS ? "duration, packets and bytes" : "the IP length", d->seconds);
}

vf_status vf_eval_write_html(const char *path, const vf_eval_result *r) {
    vf_atomic_file o;
    vf_status st = vf_atomic_open(&o, path);
    if (st != VF_OK) return st;
    FILE *f = o.f;
    bool flows = r->kind == VF_TRACE_FLOWS;

    page_head(f, "vkflow fidelity report");
    fprintf(f, "<p>Kind: <b>%s</b>. Real: <b>", flows ? "flows" : "packets");
    esc(f, r->real_name[0] ? r->real_name : "(unnamed)");
    fprintf(f, "</b> (%zu records, %zu 5-tuples). Synthetic: <b>", r->real.records,
            r->real.five_tuples);
    esc(f, r->syn_name[0] ? r->syn_name : "(unnamed)");
    fprintf(f, "</b> (%zu records, %zu 5-tuples).</p>\n", r->syn.records, r->syn.five_tuples);
    fputs("<p class=conv>", f);
    esc(f, VF_EVAL_JSD_CONVENTION);
    fputs(".<br>", f);
    esc(f, VF_EVAL_EMD_CONVENTION);
    fputs(". Times ts/time/iat_within_flow are in microseconds, td in seconds. "
          "Lower is better everywhere.</p>\n", f);
    scoring_note(f, r);
    verdict_section(f, r);
    distinct_table(f, r);

    fputs("<h2>Single attribute distributional similarity</h2>\n<table>\n"
          "<tr><th>field</th><th>JSD (nats)</th><th>JSD (bits)</th><th>support real / synthetic"
          "</th><th>distribution compared</th></tr>\n", f);
    for (int j = VF_JSD_SRCIP; j <= VF_JSD_PROTO; j++) jsd_tr(f, r, j);
    fputs("</table>\n<h2>Single feature distributional similarity</h2>\n<table>\n", f);
    fputs(EMD_HEAD, f);
    if (flows) {
        emd_tr(f, r, VF_EMD_TD);
        emd_tr(f, r, VF_EMD_PKT);
        emd_tr(f, r, VF_EMD_BYT);
        emd_tr(f, r, VF_EMD_TS);
    } else {
        emd_tr(f, r, VF_EMD_PKT_LEN);
        emd_tr(f, r, VF_EMD_TIME);
        emd_tr(f, r, VF_EMD_FLOW_SIZE);
    }
    fputs("</table>\n", f);
    if (flows) {
        fputs("<table><tr><th>field</th><th>JSD (nats)</th><th>JSD (bits)</th>"
              "<th>labels real / synthetic</th><th>distribution compared</th></tr>\n", f);
        jsd_tr(f, r, VF_JSD_TYPE);
        fputs("</table>\n", f);
    }

    fputs("<h2>Beyond single fields</h2>\n<table>\n", f);
    fputs(EMD_HEAD, f);
    emd_tr(f, r, flows ? VF_EMD_RECORDS_PER_5TUPLE : VF_EMD_IAT_WITHIN_FLOW);
    fputs("</table>\n<table><tr><th>cross-field check</th><th>real</th><th>synthetic</th></tr>\n", f);
    fprintf(f, "<tr><td>Pearson correlation of log1p(packets), log1p(bytes) per %s</td><td class=n>",
            flows ? "flow record" : "5-tuple");
    fnum(f, r->real.corr_log_pkt_byt);
    fputs("</td><td class=n>", f);
    fnum(f, r->syn.corr_log_pkt_byt);
    fputs("</td></tr></table>\n", f);
    const vf_eval_privacy *pv = &r->privacy;
    fputs("<h2 id=privacy>Privacy</h2>\n", f);
    if (pv->dp.on)
        fprintf(f, "<p class=dp>Differentially private training (DP-SGD): epsilon = %.3g at delta = %.3g per %s "
                   "(noise multiplier %.4g, clip %.3g%s). See docs/PRIVACY.md for what this protects.</p>\n",
                pv->dp.epsilon, pv->dp.delta, pv->dp.unit, pv->dp.sigma, pv->dp.clip,
                pv->dp.target > 0 ? ", within the configured target" : "");
    else
        fputs("<p class=dp>Not differentially private: the model was trained on the real trace without DP-SGD "
              "(a run configuration's privacy group trains with it).</p>\n", f);
    fputs("<table><caption>Synthetic keys found verbatim in the real trace</caption>\n"
          "<tr><th>key</th><th>distinct</th><th>share</th><th>records</th><th>share</th></tr>\n"
          "<tr><td>5-tuple</td>", f);
    share_cell(f, pv->syn_5tuples_in_real, pv->syn_5tuples);
    share_cell(f, pv->syn_records_5tuple_in_real, pv->syn_records);
    fputs("</tr>\n<tr><td>(src IP, dst IP)</td>", f);
    share_cell(f, pv->syn_pairs_in_real, pv->syn_pairs);
    share_cell(f, pv->syn_records_pair_in_real, pv->syn_records);
    fputs("</tr></table>\n", f);
    dcr_section(f, r);

    fputs("<h2>Ports and protocols</h2>\n", f);
    top_table(f, r, 0);
    top_table(f, r, 1);
    fputs("<table class=small><caption>Protocol mix</caption>\n"
          "<tr><th>proto</th><th>real</th><th>synthetic</th></tr>\n", f);
    for (int i = 0; i < r->n_proto; i++) {
        const char *nm = vf_proto_name(r->proto[i].proto);
        if (nm) fprintf(f, "<tr><td>%s</td>", nm);
        else fprintf(f, "<tr><td>%u</td>", (unsigned)r->proto[i].proto);
        fprintf(f, "<td class=n>%.3f%%</td><td class=n>%.3f%%</td></tr>\n", 100 * r->proto[i].real,
                100 * r->proto[i].syn);
    }
    fputs("</table>\n", f);

    /* Plots. */
    plots pl;
    if (plots_begin(&pl)) {
        vf_atomic_abort(&o);
        return vf_fail(VF_ERR_OOM, "%s: out of memory", path);
    }
    fputs("<h2>Distributions</h2>\n", pl.f);
    if (pl.have_dir) {
        for (int j = 0; j < VF_EMD_COUNT; j++) {
            bool mine = flows ? j <= VF_EMD_RECORDS_PER_5TUPLE : j >= VF_EMD_PKT_LEN;
            if (mine) cdf_plot(pl.f, &pl.p, r, j);
        }
        fputs("<h2>Port and protocol charts</h2>\n", pl.f);
        port_plot(pl.f, &pl.p, r, 0);
        port_plot(pl.f, &pl.p, r, 1);
        proto_plot(pl.f, &pl.p, r);
    }
    plots_end(&pl, f);
    fputs("<p class=conv>Written by vkflow eval. Plots: gnuplot SVG.</p>\n</body></html>\n", f);
    return vf_atomic_commit(&o);
}

vf_status vf_eval_write_html_overlay(const char *path, const char *title, const char *body_html,
                                     const vf_eval_result *const *results, const char *const *names, int n) {
    if (n < 0 || n > VF_EVAL_OVERLAY_MAX)
        return vf_fail(VF_ERR_ARG, "%s: %d curves per plot (at most %d)", path, n, VF_EVAL_OVERLAY_MAX);
    const vf_eval_result *first = NULL;
    for (int i = 0; i < n && !first; i++) first = results[i];
    vf_atomic_file o;
    vf_status st = vf_atomic_open(&o, path);
    if (st != VF_OK) return st;
    FILE *f = o.f;
    page_head(f, title);
    fputs(body_html, f);
    plots pl;
    if (plots_begin(&pl)) {
        vf_atomic_abort(&o);
        return vf_fail(VF_ERR_OOM, "%s: out of memory", path);
    }
    fputs("<h2>Distributions: the real trace and every synthetic one</h2>\n", pl.f);
    if (pl.have_dir && first) {
        bool flows = first->kind == VF_TRACE_FLOWS;
        for (int j = 0; j < VF_EMD_COUNT; j++) {
            bool mine = flows ? j <= VF_EMD_RECORDS_PER_5TUPLE : j >= VF_EMD_PKT_LEN;
            if (!mine) continue;
            /* curve 0: the real values; then one per result */
            const vf_eval_cdf *cdf[VF_EVAL_OVERLAY_MAX + 1];
            const char *label[VF_EVAL_OVERLAY_MAX + 1];
            cdf[0] = &first->emd[j].cdf_real;
            label[0] = "real";
            char caption[4096];
            int used = snprintf(caption, sizeof caption, "%s: %s. EMD (%s):", vf_eval_emd_name(j),
                                vf_eval_emd_basis[j], vf_eval_emd_unit(j));
            for (int i = 0; i < n; i++) {
                cdf[i + 1] = results[i] ? &results[i]->emd[j].cdf_syn : NULL;
                label[i + 1] = names[i];
                if (results[i] && used > 0 && (size_t)used < sizeof caption) {
                    const vf_eval_emd *e = &results[i]->emd[j];
                    used += snprintf(caption + used, sizeof caption - (size_t)used, " %s %.4g%s", names[i],
                                     e->valid ? e->emd : NAN, i + 1 < n ? ";" : ".");
                }
            }
            if (curves_logx(first->emd[j].heavy_tailed, cdf, n + 1) && used > 0 && (size_t)used < sizeof caption)
                snprintf(caption + used, sizeof caption - (size_t)used,
                         " Log x: values <= 0 are not drawn; a curve starts at their share.");
            cdf_plot_curves(pl.f, &pl.p, j, first->emd[j].heavy_tailed, cdf, label, n + 1, caption);
        }
    }
    plots_end(&pl, f);
    fputs("<p class=conv>Written by vkflow compare. Plots: gnuplot SVG.</p>\n</body></html>\n", f);
    return vf_atomic_commit(&o);
}
