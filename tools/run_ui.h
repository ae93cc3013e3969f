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

/* Installs the SIGINT handler (a second Ctrl-C kills as usual) and returns
 * the flag it sets. */
volatile int *run_ui_stop_flag(void);

/* runs/<basename of CONFIG without .cfg> (tools/cmd_run.c) */
void run_default_dir(const char *config, char *out, size_t cap);
/* vkflow run (train_only false) or vkflow train (true): argv[0] is the
 * command's name; returns the exit status (tools/cmd_run.c). */
int run_or_train(int argc, char **argv, bool train_only);

#endif
