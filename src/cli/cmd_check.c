/* TEMPORARY during the first build-up: replaced by the real command. */
#include <stdio.h>
#include "cli/cli.h"
int
cmd_check(struct cli_ctx *ctx, int argc, char **argv)
{
	(void)ctx; (void)argc; (void)argv;
	fprintf(stderr, "outpost: check is not built yet\n");
	return 70;
}
