/* What vkflow run/train/generate share: the progress display on stderr and
 * the SIGINT stop flag. */
#ifndef VKFLOW_RUN_UI_H
#define VKFLOW_RUN_UI_H

#include "train/pipeline.h"

#include <stdbool.h>

typedef struct run_ui {
    bool tty;            /* stderr is a terminal: one \r-updated line */
    bool line_open;      /* a progress line is on screen without its newline */
    double last_plain;   /* when the last plain progress line was printed */
    const char *cmd;     /* "vkflow run", for messages */
} run_ui;

void run_ui_init(run_ui *u, const char *cmd);
/* vf_pipeline_event_fn; user is the run_ui. */
void run_ui_event(const vf_pipeline_event *e, void *user);
/* Ends an open progress line (before printing anything else). */
void run_ui_newline(run_ui *u);

/* Installs the SIGINT and SIGTERM handlers (a second signal of the same
 * kind kills as usual) and returns the flag they set (the signal number). */
volatile int *run_ui_stop_flag(void);
/* The signal that stopped the command (0 if none), its name for messages
 * ("Ctrl-C", "SIGTERM"), and the exit status to return: 128 + the signal
 * (130 for Ctrl-C, 143 for SIGTERM). */
int run_ui_stop_signal(void);
const char *run_ui_signal_name(int sig);
int run_ui_stop_status(void);

/* runs/<basename of CONFIG without .cfg> (tools/cmd_run.c) */
void run_default_dir(const char *config, char *out, size_t cap);
/* vkflow run (train_only false) or vkflow train (true): argv[0] is the
 * command's name; returns the exit status (tools/cmd_run.c). */
int run_or_train(int argc, char **argv, bool train_only);

#endif
