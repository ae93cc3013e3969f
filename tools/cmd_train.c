/* vkflow train CONFIG [--out DIR] [--resume]: ingest, encode and train every
 * chunk into a run directory, without generating (vkflow generate does that).
 * The argument handling is vkflow run's (tools/cmd_run.c). */
#include "commands.h"
#include "run_ui.h"

int cmd_train(int argc, char **argv) { return run_or_train(argc, argv, true); }
