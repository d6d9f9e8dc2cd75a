/*
 * cli.h - the command line: main() dispatches to one cmd_* per command.
 *
 * Commands are the top of the program: they print to the user and return
 * a process exit code (sysexits.h: 0 ok, 64 usage, 65 data, 69 unavailable,
 * 75 temporary, 77 permission, 78 configuration).  argv[0] is the command
 * name; options after it belong to the command.
 */
#ifndef OUTPOST_CLI_CLI_H
#define OUTPOST_CLI_CLI_H

#include "config/conf.h"

struct cli_ctx {
	const char *config_path;   /* -c FILE, or NULL */
	int verbose;               /* -v count */
	const char *progname;      /* "outpost" */
};

int cmd_serve(struct cli_ctx *ctx, int argc, char **argv);
int cmd_check(struct cli_ctx *ctx, int argc, char **argv);
int cmd_test_email(struct cli_ctx *ctx, int argc, char **argv);
int cmd_send(struct cli_ctx *ctx, int argc, char **argv);
int cmd_sendmail(struct cli_ctx *ctx, int argc, char **argv);
int cmd_queue(struct cli_ctx *ctx, int argc, char **argv);
int cmd_suppressions(struct cli_ctx *ctx, int argc, char **argv);
int cmd_config(struct cli_ctx *ctx, int argc, char **argv);
int cmd_oauth(struct cli_ctx *ctx, int argc, char **argv);
int cmd_providers(struct cli_ctx *ctx, int argc, char **argv);
int cmd_detect(struct cli_ctx *ctx, int argc, char **argv);
int cmd_dkim(struct cli_ctx *ctx, int argc, char **argv);

/* Load the settings the way every command does: find the file, load it,
 * print problems and warnings to stderr.  Returns 0 or an exit code (78). */
int cli_load_conf(struct cli_ctx *ctx, struct conf **out);

/* "--opt VALUE" or "--opt=VALUE": 1 if argv[*i] is opt (its value in
 * *val, NULL when missing; *i moves past it), 0 if not. */
int cli_option_value(int argc, char **argv, int *i, const char *opt,
    const char **val);

/* Print "outpost: usage: ..." to stderr and return 64. */
int cli_usage(const char *line);

#endif
