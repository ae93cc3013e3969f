/* Progress display and Ctrl-C handling for vkflow run/train/generate. */
#include "run_ui.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void run_ui_init(run_ui *u, const char *cmd) {
    memset(u, 0, sizeof *u);
    u->tty = isatty(2);
    u->last_plain = -1e9;
    u->cmd = cmd;
}

void run_ui_newline(run_ui *u) {
    if (u->line_open) fputs("\r\033[K", stderr);
    u->line_open = false;
}

static void fmt_eta(double s, char *buf, size_t n) {
    if (s < 0) snprintf(buf, n, "?");
    else if (s < 60) snprintf(buf, n, "%.0fs", s);
    else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
}

static volatile int g_stop; /* 0, or the signal that asked to stop */
static void on_stop_signal(int sig);

/* Loading a Vulkan driver can replace the SIGINT handler (lavapipe's LLVM
 * installs its own, which then kills the process), so every event puts ours
 * back while no stop signal has been seen. SIGTERM (kill, a batch system, a
 * container stop) is handled as Ctrl-C is. */
static void rearm(void) {
    static const int sigs[2] = {SIGINT, SIGTERM};
    for (int i = 0; i < 2 && !g_stop; i++) {
        struct sigaction cur;
        if (sigaction(sigs[i], NULL, &cur) || cur.sa_handler == on_stop_signal) continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_stop_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESETHAND; /* the second one kills as usual */
        sigaction(sigs[i], &sa, NULL);
    }
}

void run_ui_event(const vf_pipeline_event *e, void *user) {
    run_ui *u = user;
    rearm();
    if (e->message) {
        run_ui_newline(u);
        fprintf(stderr, "[%s] %s\n", vf_phase_name(e->phase), e->message);
        return;
    }
    char eta[32];
    fmt_eta(e->eta_s, eta, sizeof eta);
    char line[512], ms[256];
    snprintf(line, sizeof line, "[%s] chunk %d/%d  iter %lld/%lld  %s  %.1f it/s  ETA %s", vf_phase_name(e->phase),
             e->chunk + 1, e->n_chunks, (long long)e->iter, (long long)e->total,
             vf_metrics_format(e->metrics, ms, sizeof ms), e->it_per_s, eta);
    if (u->tty) {
        fprintf(stderr, "\r%s\033[K", line);
        u->line_open = true;
    } else {
        /* not a terminal (a log, a pipe): a plain line every 10 s and at a chunk's end */
        double now = mono();
        if (now - u->last_plain >= 10 || e->iter >= e->total) {
            u->last_plain = now;
            fprintf(stderr, "%s\n", line);
        }
    }
    fflush(stderr);
}

static void on_stop_signal(int sig) { g_stop = sig; }

volatile int *run_ui_stop_flag(void) {
    rearm();
    return &g_stop;
}

int run_ui_stop_signal(void) { return g_stop; }

const char *run_ui_signal_name(int sig) {
    return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "Ctrl-C" : "a signal";
}

int run_ui_stop_status(void) { return 128 + (g_stop ? g_stop : SIGINT); }
