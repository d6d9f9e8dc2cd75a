/* TEMPORARY during the first build-up: replaced by the real command. */
#include <stdio.h>
#include "cli/cli.h"
int
cmd_serve(struct cli_ctx *ctx, int argc, char **argv)
{
	(void)ctx; (void)argc; (void)argv;
	fprintf(stderr, "outpost: serve is not built yet\n");
	return 70;
}
