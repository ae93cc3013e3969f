/* The vkflow command line: one function per subcommand, each in its own
 * tools/cmd_<name>.c. main() in vkflow.c dispatches on argv[1]. */
#ifndef VKFLOW_COMMANDS_H
#define VKFLOW_COMMANDS_H

/* argv[0] is the subcommand's name; returns the process exit status. */
typedef int (*vf_command_fn)(int argc, char **argv);

typedef struct vf_command {
    const char *name;
    const char *args;     /* synopsis of the arguments */
    const char *summary;  /* one line */
    vf_command_fn fn;
} vf_command;

int cmd_devices(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_bench_ingest(int argc, char **argv); /* "vkflow bench ingest" (tools/bench_ingest.c) */

int cmd_eval(int argc, char **argv);
int cmd_baseline(int argc, char **argv);
int cmd_bench_eval(int argc, char **argv); /* "vkflow bench eval" (tools/bench_eval.c) */
int cmd_check(int argc, char **argv);  /* tools/cmd_check.c */
int cmd_graph(int argc, char **argv);  /* tools/cmd_graph.c */
int cmd_bench_graph(int argc, char **argv); /* "vkflow bench graph" (tools/bench_graph.c) */
int cmd_bench_gan(int argc, char **argv);   /* "vkflow bench gan" (tools/bench_gan.c) */
int cmd_run(int argc, char **argv);      /* tools/cmd_run.c */
int cmd_train(int argc, char **argv);    /* tools/cmd_train.c */
int cmd_generate(int argc, char **argv); /* tools/cmd_generate.c */
int cmd_compare(int argc, char **argv);  /* tools/cmd_compare.c */
int cmd_privacy(int argc, char **argv);  /* tools/cmd_privacy.c */

#endif
